//! # hammerfall-ports
//!
//! The bottom crate of Hammerfall: the vocabulary every other crate speaks
//! (ids, [`Money`], [`Command`]s, [`Event`]s, the [`Lot`] record,
//! [`Rejection`]s) and the port traits adapters implement ([`LotStore`],
//! [`CommandQueue`], [`EventPublisher`], [`Clock`], [`IdGenerator`],
//! [`CreditLedger`]).
//!
//! No runtime, no SDK, no web framework: those live in adapters and hosts,
//! so the rules can be embedded, tested and fuzzed anywhere.

mod clock;
mod command;
mod credit;
mod event;
mod ids;
mod lot;
mod money;
mod publish;
mod queue;
mod rejection;
mod store;
pub mod time;

pub use clock::{Clock, IdGenerator};
pub use command::*;
pub use credit::{CommittedHold, CreditError, CreditLedger, CreditView, LotCredit, LotCreditOp};
pub use event::*;
pub use ids::*;
pub use lot::*;
pub use money::*;
pub use publish::{EventPublisher, PublishError};
pub use queue::*;
pub use rejection::*;
pub use store::*;
pub use time::{Duration, MAX_WINDOW_SECS, MIN_WINDOW_SECS, Timestamp};

/// Re-exported so users name one `Decimal` type.
pub use rust_decimal::Decimal;
