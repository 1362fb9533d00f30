//! # hammerfall-engine
//!
//! The pure core of Hammerfall. [`decide`] holds every rule of the
//! specification as a function of a lot, a command and the time;
//! [`apply`] folds the resulting events into the lot. No clock, no
//! randomness, no I/O: the same inputs always give the same events, so
//! property tests and fuzz failures reproduce from a seed, and replaying a
//! lot's log rebuilds it exactly.
//!
//! ```
//! use hammerfall_engine::{apply, create_from, create, decide};
//! use hammerfall_ports::*;
//! use chrono::{TimeZone, Utc};
//!
//! let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
//! let id = |s: &str| ParticipantId::new(s).unwrap();
//! let lot_id = LotId::new("lot-1").unwrap();
//!
//! // A seller lists a lot starting at 10.00 USD for one hour.
//! let listing = CreateLot::english(
//!     lot_id.clone(), Actor::seller(id("sam")), "Lamp", Currency::USD,
//!     Decimal::new(1000, 2), now + chrono::Duration::hours(1),
//! );
//! let events = create(&listing, now).unwrap();
//! let mut lot = create_from(lot_id, &events[0]).unwrap();
//! for e in &events[1..] { apply(&mut lot, e).unwrap(); }
//!
//! // Ann bids a maximum of 50.00: she leads at the starting price.
//! let bid = Command::PlaceBid(PlaceBid {
//!     bidder: Actor::bidder(id("ann")), amount: Decimal::new(5000, 2),
//!     currency: None, bid_id: BidId::new("b1").unwrap(),
//! });
//! for e in &decide(&lot, &bid, now).unwrap() { apply(&mut lot, e).unwrap(); }
//! assert_eq!(lot.english().unwrap().1.current_price.unwrap().to_string(), "10.00");
//! assert_eq!(lot.min_next_bid().unwrap().to_string(), "10.50");
//! ```

mod apply;
mod bidding;
mod create;
pub mod credit;
mod decide;
mod due;
mod emit;
mod lifecycle;
pub mod service;
mod settle;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use apply::{ApplyError, apply, create_from, replay};
pub use bidding::min_bid_for;
pub use create::create;
pub use decide::{Verdict, decide, judge, judge_into};
pub use due::{advance, next_due};
pub use service::{
    CommandStatus, Ports, Response, Service, ServiceConfig, ServiceError, Worker, command_key,
    lot_at,
};
