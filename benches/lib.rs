//! Shared fixtures for Hammerfall's benchmarks: lots and bid streams built
//! through the public API, so benches measure what users run.

use chrono::{TimeZone, Utc};
use hammerfall_engine::{apply, create, create_from};
use hammerfall_ports::{
    Actor, BidId, Command, CreateLot, Currency, Decimal, Lot, LotId, ParticipantId, PlaceBid,
    Timestamp,
};

/// The bench's fixed "now": benches must not depend on the wall clock.
pub fn bench_now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// An open English lot in USD starting at 1.00 and ending in 30 days.
pub fn hot_lot(id: &str) -> Lot {
    let now = bench_now();
    let seller = Actor::seller(ParticipantId::new("seller").unwrap_or_else(|e| panic!("{e}")));
    let lot_id = LotId::new(id).unwrap_or_else(|e| panic!("{e}"));
    let cmd = CreateLot::english(
        lot_id.clone(),
        seller,
        "Bench lot",
        Currency::USD,
        Decimal::new(100, 2),
        now + chrono::Duration::days(30),
    );
    let events = create(&cmd, now).unwrap_or_else(|e| panic!("{e}"));
    let mut lot = create_from(lot_id, &events[0]).unwrap_or_else(|e| panic!("{e}"));
    for e in &events[1..] {
        apply(&mut lot, e).unwrap_or_else(|e| panic!("{e}"));
    }
    lot
}

/// Two bidders outbidding each other: the next bid is always valid (the
/// other bidder, one cent above their own last maximum... and the minimum).
pub struct BidStream {
    bidders: [Actor; 2],
    bid_id: BidId,
    turn: usize,
    amount_cents: i64,
}

impl Default for BidStream {
    fn default() -> Self {
        Self::new()
    }
}

impl BidStream {
    /// A stream starting at 1.00.
    pub fn new() -> Self {
        let p = |s: &str| Actor::bidder(ParticipantId::new(s).unwrap_or_else(|e| panic!("{e}")));
        Self {
            bidders: [p("bidder-a"), p("bidder-b")],
            bid_id: BidId::new("bid-000000000001").unwrap_or_else(|e| panic!("{e}")),
            turn: 0,
            amount_cents: 100,
        }
    }

    /// The next bid command: alternating bidders, each maximum one step
    /// (100.00) above the last, so every bid is accepted and outbids.
    pub fn next_bid(&mut self) -> Command {
        self.turn ^= 1;
        self.amount_cents += 10_000;
        Command::PlaceBid(PlaceBid {
            bidder: self.bidders[self.turn].clone(),
            amount: Decimal::new(self.amount_cents, 2),
            currency: None,
            bid_id: self.bid_id.clone(),
        })
    }
}

/// Every bench and profiling example runs on mimalloc, as the server does:
/// glibc's malloc and free were a fifth of the service's instructions per
/// command, and the figures should show the engine, not the allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
