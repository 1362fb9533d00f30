//! A small given/when/then language for the engine's rule tests.
//!
//! `given(...)` builds a lot from a creation request (or from events),
//! `when(command, at)` judges a command with [`judge`] and folds whatever it
//! records into the lot (accepted events, or the due transitions a refused
//! command still carries, SPEC §9), so steps chain like a real lot's life.
//! `then_events(...)` / `then_rejected(code)` check the last step.
//!
//! Every step also checks the invariants every scenario must keep: events
//! are numbered on from the lot's sequence without gaps, their public JSON
//! never carries a maximum or the reserve, and replaying the whole log
//! rebuilds exactly the folded lot.

// Each test file uses a different part of this module, and the steps take
// their commands and requests by value so scenarios read like sentences.
#![allow(dead_code, clippy::needless_pass_by_value)]

use chrono::{TimeZone, Utc};
use hammerfall_engine::{Verdict, apply, create, judge, replay};
use hammerfall_ports::{
    Actor, AuctionEnded, BidAccepted, BidId, Command, CreateLot, Currency, CurrencyCode, Decimal,
    Duration, EndedBy, Event, EventEnvelope, Lot, LotId, Money, ParticipantId, PlaceBid, Rejection,
    ReservationId, SaleKind, SequencedEvent, SettlementCreated, Timestamp, UnsoldReason,
};

// ---------------------------------------------------------------- time

/// The moment every scenario starts: 2026-11-24 12:00:00 UTC.
pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .expect("valid time")
}

/// `t0` plus `minutes`.
pub fn t(minutes: i64) -> Timestamp {
    t0() + Duration::minutes(minutes)
}

/// `t0` plus `seconds`.
pub fn ts(seconds: i64) -> Timestamp {
    t0() + Duration::seconds(seconds)
}

/// `n` hours.
pub fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

// ---------------------------------------------------------------- values

/// An exact decimal from text.
pub fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).expect("decimal literal")
}

/// Money in `currency`, validated.
pub fn money(text: &str, currency: Currency) -> Money {
    Money::parse(text, currency).expect("money literal")
}

/// US dollars.
pub fn usd(text: &str) -> Money {
    money(text, Currency::USD)
}

/// A participant id.
pub fn pid(name: &str) -> ParticipantId {
    ParticipantId::new(name).expect("participant id")
}

/// The seller of every scenario's lot: `sam`, role seller.
pub fn seller() -> Actor {
    Actor::seller(pid("sam"))
}

/// A bidder (role bidder).
pub fn bidder(name: &str) -> Actor {
    Actor::bidder(pid(name))
}

/// An admin: `ada`, role admin.
pub fn admin() -> Actor {
    Actor::admin(pid("ada"))
}

/// A reservation id.
pub fn rid(text: &str) -> ReservationId {
    ReservationId::new(text).expect("reservation id")
}

/// The id [`bid`] gives a bid: `<bidder>-<amount>`.
pub fn bid_id(name: &str, amount: &str) -> BidId {
    BidId::new(format!("{name}-{amount}")).expect("bid id")
}

// ---------------------------------------------------------------- creations

/// The id of every scenario's lot.
pub fn lot_id() -> LotId {
    LotId::new("lot-1").expect("lot id")
}

/// An English auction by `sam` in USD starting at `start`, open from `t0`
/// until `t(60)`.
pub fn english(start: &str) -> CreateLot {
    english_in(Currency::USD, start)
}

/// An English auction by `sam` in `currency` starting at `start`, open from
/// `t0` until `t(60)`.
pub fn english_in(currency: Currency, start: &str) -> CreateLot {
    CreateLot::english(
        lot_id(),
        seller(),
        "Brass lamp",
        currency,
        dec(start),
        t(60),
    )
}

/// A fixed-price listing by `sam` in USD at `price` (0 = free), open from
/// `t0`, default hold (24 h), no listing end.
pub fn fixed_price(price: &str) -> CreateLot {
    CreateLot::fixed_price(lot_id(), seller(), "Oak table", Currency::USD, dec(price))
}

// ---------------------------------------------------------------- commands

/// `name` bids a maximum of `amount` (bid id `<name>-<amount>`).
pub fn bid(name: &str, amount: &str) -> Command {
    Command::PlaceBid(PlaceBid {
        bidder: bidder(name),
        amount: dec(amount),
        currency: None,
        bid_id: bid_id(name, amount),
    })
}

/// `name` bids `amount` stating the currency `code`.
pub fn bid_in(name: &str, amount: &str, code: &str) -> Command {
    Command::PlaceBid(PlaceBid {
        bidder: bidder(name),
        amount: dec(amount),
        currency: Some(CurrencyCode::new(code).expect("currency code")),
        bid_id: bid_id(name, amount),
    })
}

/// `actor` bids `amount` (for actors that are not plain bidders).
pub fn bid_as(actor: Actor, amount: &str) -> Command {
    let id = bid_id(actor.participant_id.as_str(), amount);
    Command::PlaceBid(PlaceBid {
        bidder: actor,
        amount: dec(amount),
        currency: None,
        bid_id: id,
    })
}

/// `actor` uses buy now.
pub fn buy_now(actor: Actor) -> Command {
    Command::BuyNow { buyer: actor }
}

/// `actor` cancels the lot.
pub fn cancel(actor: Actor) -> Command {
    Command::CancelLot { by: actor }
}

/// `actor` reserves the lot as reservation `id`.
pub fn reserve(actor: Actor, id: &str) -> Command {
    Command::Reserve {
        buyer: actor,
        reservation_id: rid(id),
    }
}

/// `actor` completes reservation `id`.
pub fn complete(actor: Actor, id: &str) -> Command {
    Command::CompleteReservation {
        by: actor,
        reservation_id: rid(id),
    }
}

/// `actor` cancels reservation `id`.
pub fn cancel_reservation(actor: Actor, id: &str) -> Command {
    Command::CancelReservation {
        by: actor,
        reservation_id: rid(id),
    }
}

/// `actor` records the settlement's payment.
pub fn pay(actor: Actor) -> Command {
    Command::RecordPayment { by: actor }
}

/// A timer's command (`Command::Advance`): apply whatever is due.
pub fn timer() -> Command {
    Command::Advance
}

// ---------------------------------------------------------------- events

/// `BidAccepted` for a bid made with [`bid`].
pub fn accepted(
    name: &str,
    amount: &str,
    number: u32,
    price: &str,
    leader: &str,
    currency: Currency,
) -> Event {
    Event::BidAccepted(BidAccepted {
        bid_id: bid_id(name, amount),
        bid_number: number,
        bidder_id: pid(name),
        maximum: money(amount, currency),
        current_price: money(price, currency),
        leader_id: pid(leader),
        bid_count: number,
    })
}

/// `BidAccepted` in USD for a bid made with [`bid`].
pub fn accepted_usd(name: &str, amount: &str, number: u32, price: &str, leader: &str) -> Event {
    accepted(name, amount, number, price, leader, Currency::USD)
}

/// `Outbid` in USD.
pub fn outbid(name: &str, price: &str) -> Event {
    Event::Outbid {
        bidder_id: pid(name),
        current_price: usd(price),
    }
}

/// `LotExtended` to `ends_at`.
pub fn extended(ends_at: Timestamp) -> Event {
    Event::LotExtended { ends_at }
}

/// `AuctionEnded` with a sale in USD.
pub fn sold(winner: &str, hammer: &str, total_bids: u32, ended_by: EndedBy) -> Event {
    Event::AuctionEnded(AuctionEnded {
        winner_id: Some(pid(winner)),
        winning_bid: Some(usd(hammer)),
        total_bids,
        outcome: SaleKind::Sold,
        reason: None,
        ended_by,
    })
}

/// `AuctionEnded` without a sale.
pub fn unsold(reason: UnsoldReason, total_bids: u32, ended_by: EndedBy) -> Event {
    Event::AuctionEnded(AuctionEnded {
        winner_id: None,
        winning_bid: None,
        total_bids,
        outcome: SaleKind::Unsold,
        reason: Some(reason),
        ended_by,
    })
}

/// `SettlementCreated` in USD.
pub fn settlement(
    buyer: &str,
    hammer: &str,
    premium: &str,
    total: &str,
    due_by: Timestamp,
) -> Event {
    Event::SettlementCreated(SettlementCreated {
        buyer_id: pid(buyer),
        hammer_price: usd(hammer),
        buyer_premium: usd(premium),
        total_due: usd(total),
        due_by,
    })
}

// ---------------------------------------------------------------- scenario

/// A lot and its whole log, plus the verdict of the last step.
#[derive(Debug, Clone)]
pub struct Scenario {
    lot: Lot,
    log: Vec<SequencedEvent>,
    last: Option<Verdict>,
}

/// A lot created by `request` at `t0`.
pub fn given(request: CreateLot) -> Scenario {
    given_at(request, t0())
}

/// A lot created by `request` at `now`.
pub fn given_at(request: CreateLot, now: Timestamp) -> Scenario {
    let events = create(&request, now).expect("the creation is valid");
    given_events(events.to_vec())
}

/// A lot rebuilt from its events (the first one `LotCreated`).
pub fn given_events(events: Vec<SequencedEvent>) -> Scenario {
    let lot = replay(lot_id(), &events).expect("the log folds");
    let scenario = Scenario {
        lot,
        log: events,
        last: None,
    };
    scenario.check_invariants();
    scenario
}

impl Scenario {
    /// Judges `command` at `at` and folds what it records into the lot.
    #[must_use]
    pub fn when(mut self, command: Command, at: Timestamp) -> Self {
        let verdict = judge(&self.lot, &command, at);
        for (i, event) in verdict.events.iter().enumerate() {
            let expected = self.lot.sequence + 1;
            assert_eq!(
                event.sequence,
                expected,
                "event {i} of {} is not numbered on from the lot",
                command.name()
            );
            apply(&mut self.lot, event).expect("decided events fold");
            self.log.push(event.clone());
        }
        self.last = Some(verdict);
        self.check_invariants();
        self
    }

    /// The same as several `when`s at one moment.
    #[must_use]
    pub fn when_all(self, commands: impl IntoIterator<Item = Command>, at: Timestamp) -> Self {
        commands
            .into_iter()
            .fold(self, |s, c| s.when(c, at).then_accepted())
    }

    /// The last step was accepted and recorded exactly `expected`.
    pub fn then_events(self, expected: &[Event]) -> Self {
        assert_eq!(
            self.verdict().outcome,
            Ok(()),
            "the command was refused; events {:?}",
            self.payloads()
        );
        assert_eq!(self.payloads(), expected.iter().collect::<Vec<_>>());
        self
    }

    /// The last step was accepted (whatever it recorded).
    pub fn then_accepted(self) -> Self {
        assert_eq!(self.verdict().outcome, Ok(()), "the command was refused");
        self
    }

    /// The last step was refused with `code` and recorded nothing.
    pub fn then_rejected(self, code: &str) -> Self {
        self.then_rejected_after(code, &[])
    }

    /// The last step was refused with `code`, recording only the due
    /// transitions `due` that were applied first (SPEC §9).
    pub fn then_rejected_after(self, code: &str, due: &[Event]) -> Self {
        let codes = self.verdict().outcome.as_ref().map_err(Rejection::code);
        assert_eq!(codes, Err(code), "expected a refusal");
        assert_eq!(self.payloads(), due.iter().collect::<Vec<_>>());
        self
    }

    /// The last step was refused with exactly `rejection` and recorded nothing.
    pub fn then_rejected_with(self, rejection: &Rejection) -> Self {
        assert_eq!(self.verdict().outcome.as_ref(), Err(rejection));
        assert!(self.payloads().is_empty(), "a refusal recorded events");
        self
    }

    /// The last step recorded its events at these moments.
    pub fn then_occurred_at(self, moments: &[Timestamp]) -> Self {
        let at: Vec<Timestamp> = self.last_events().iter().map(|e| e.occurred_at).collect();
        assert_eq!(at, moments);
        self
    }

    /// The lot as folded so far.
    pub fn lot(&self) -> &Lot {
        &self.lot
    }

    /// Every event recorded so far, in order.
    pub fn log(&self) -> &[SequencedEvent] {
        &self.log
    }

    /// The events of the last step, with their numbers and times.
    pub fn last_events(&self) -> &[SequencedEvent] {
        &self.verdict().events
    }

    /// The last step's verdict.
    pub fn verdict(&self) -> &Verdict {
        self.last.as_ref().expect("a `when` step ran")
    }

    /// The last step's refusal.
    pub fn rejection(&self) -> &Rejection {
        self.verdict()
            .outcome
            .as_ref()
            .expect_err("the command was refused")
    }

    fn payloads(&self) -> Vec<&Event> {
        self.verdict().events.iter().map(|e| &e.event).collect()
    }

    fn check_invariants(&self) {
        for (i, event) in self.log.iter().enumerate() {
            assert_eq!(event.sequence, i as u64 + 1, "the log has a gap");
            let json = EventEnvelope::new(lot_id(), event.clone()).to_public_json();
            assert_private_fields_absent(&json);
        }
        assert_eq!(self.lot.sequence, self.log.len() as u64);
        let rebuilt = replay(lot_id(), &self.log).expect("the log replays");
        assert_eq!(rebuilt, self.lot, "replaying the log rebuilds the lot");
    }
}

/// Public event JSON never names a maximum or the reserve (SPEC §6).
pub fn assert_private_fields_absent(json: &serde_json::Value) {
    match json {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let k = key.to_ascii_lowercase();
                assert!(
                    !k.contains("maximum") && !k.contains("reserve"),
                    "public event carries {key}: {json}"
                );
                assert_private_fields_absent(value);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(assert_private_fields_absent),
        _ => {}
    }
}
