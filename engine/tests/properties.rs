//! Invariants of the pure rules, checked over random lots and random command
//! sequences (SPEC §1–§6, §9).
//!
//! Each case creates one lot (english or fixed price, random terms), then
//! drives it with commands from a handful of bidders, the seller, an admin
//! and a participant without roles, at non-decreasing times. Commands go
//! through [`judge`] and every verdict's events are committed with [`apply`]
//! whatever the command's own fate, as a real service does: a rejected
//! command still records the due transitions it triggered (SPEC §9).
//!
//! The expected values are computed independently of the engine where the
//! SPEC gives a formula or an order (increment tables, minimum bids, the
//! order of checks, proxy resolution, the hammer price of a timed close,
//! premiums, credit holds, public event fields).
//!
//! Readings taken where the SPEC is not explicit:
//! - a leader's raise leaves the price alone (§2.2 case 2) even when a rival
//!   had tied the leader's old maximum, so the hammer price is set by the
//!   winner's maximum *when the last rival bid was answered*, not by their
//!   final maximum;
//! - an amount both too large and too precise may be refused for either;
//! - an unknown reservation or missing settlement is "not found" before the
//!   caller is checked as a party to it (the parties are not known before);
//! - a total due (hammer plus premium) may exceed the 1,000,000,000,000 limit
//!   on amounts participants send.
//!
//! Failures are not persisted to a regressions file: a case proptest finds
//! should become a named test here.

// Test code: an `unwrap` that fails is a failed property.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use hammerfall_engine::{
    Verdict, advance, apply, create, create_from, credit, judge, next_due, replay,
};
use hammerfall_ports::{
    Actor, AmountProblem, AuctionEnded, BidAccepted, BidId, Command, CreateLot, Currency,
    CurrencyCode, Decimal, Duration, EndedBy, Event, EventEnvelope, IncrementTier, InvalidRequest,
    Lot, LotId, LotStatus, MAX_AMOUNT, Money, ParticipantId, PlaceBid, Rejection, ReservationId,
    ReservationStatus, Roles, SaleKind, SaleResult, SequencedEvent, SettlementStatus,
    SoftCloseInput, TierInput, Timestamp, UnsoldReason, parse_decimal,
};
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestCaseError};

/// Cases per property in a normal `cargo test` run.
const CASES: u32 = 1_000;
/// Longest command sequence generated for one lot.
const MAX_OPS: usize = 40;

/// `CASES` (times `factor`), or more with `PROPTEST_CASES=n` for a deeper
/// search.
fn config(factor: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .map_or(CASES, |n| n.max(CASES))
        * factor;
    ProptestConfig {
        // This file is the only artefact of these tests: found cases become
        // named tests rather than persisted regression files.
        failure_persistence: None,
        // ChaCha dominates the run time of debug builds; XorShift is plenty
        // for test generation and still reproducible from a seed.
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::with_cases(cases)
    }
}

// ---------------------------------------------------------------------------
// Participants, ids, time
// ---------------------------------------------------------------------------

const SELLER: &str = "seller";
const ADMIN: &str = "admin";
const STRANGER: &str = "stranger";

fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap()
}

fn bidder_id(i: usize) -> ParticipantId {
    pid(&format!("bidder-{i}"))
}

fn lot_id() -> LotId {
    LotId::new("lot-1").unwrap()
}

/// When every case's lot is created.
fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

// ---------------------------------------------------------------------------
// Lot terms
// ---------------------------------------------------------------------------

/// Terms both formats share. Amounts are in minor units of the currency.
#[derive(Debug, Clone)]
struct Common {
    currency: Currency,
    /// Buyer's premium rate as (mantissa, scale): 0 ≤ rate < 1, at most
    /// 10 decimals.
    premium: (i64, u32),
    payment_window: i64,
    /// Seconds between creation and start: 0 or below opens at once (a
    /// start in the past means now); 0 sends no `startsAt`.
    starts_in: i64,
    /// How many bidders take part (2–5).
    bidders: usize,
}

#[derive(Debug, Clone)]
struct EnglishSpec {
    starting: i64,
    /// Reserve = starting + this.
    reserve_extra: Option<i64>,
    /// Buy now = max(starting, reserve) + this (≥ 1).
    buy_now_extra: Option<i64>,
    /// (window, extension) seconds.
    soft_close: Option<(i64, i64)>,
    /// Custom tiers as (gap from the previous `from`, step); the first `from` is 0.
    increments: Option<Vec<(i64, i64)>>,
    credit_check: bool,
    duration: i64,
}

#[derive(Debug, Clone)]
struct FixedSpec {
    price: i64,
    hold: i64,
    /// Listing end, seconds after the start.
    listing: Option<i64>,
}

#[derive(Debug, Clone)]
enum Kind {
    English(EnglishSpec),
    Fixed(FixedSpec),
}

#[derive(Debug, Clone)]
struct LotSpec {
    common: Common,
    kind: Kind,
}

impl LotSpec {
    fn rate(&self) -> Decimal {
        Decimal::new(self.common.premium.0, self.common.premium.1)
    }

    fn minor(&self, minor: i64) -> Decimal {
        Decimal::new(minor, self.common.currency.minor_units())
    }

    fn seller() -> Actor {
        // With the bidder role too, so its bids meet `seller_cannot_bid`
        // rather than `forbidden`.
        Actor::new(pid(SELLER), Roles::SELLER.with(Roles::BIDDER))
    }

    fn create_command(&self) -> CreateLot {
        let c = &self.common;
        let given_start = t0() + secs(c.starts_in);
        // Ends count from the effective start.
        let starts_at = given_start.max(t0());
        let mut cmd = match &self.kind {
            Kind::English(e) => {
                let mut cmd = CreateLot::english(
                    lot_id(),
                    Self::seller(),
                    "A lamp",
                    c.currency,
                    self.minor(e.starting),
                    starts_at + secs(e.duration),
                );
                cmd.reserve_price = e.reserve_extra.map(|x| self.minor(e.starting + x));
                let floor = e.starting + e.reserve_extra.unwrap_or(0);
                cmd.buy_now_price = e.buy_now_extra.map(|x| self.minor(floor + x));
                cmd.soft_close = e
                    .soft_close
                    .map(|(window_secs, extension_secs)| SoftCloseInput {
                        window_secs,
                        extension_secs,
                    });
                cmd.increments = e.increments.as_ref().map(|tiers| {
                    let mut from = 0;
                    tiers
                        .iter()
                        .enumerate()
                        .map(|(i, &(gap, step))| {
                            if i > 0 {
                                from += gap;
                            }
                            TierInput {
                                from: self.minor(from),
                                step: self.minor(step),
                            }
                        })
                        .collect()
                });
                cmd.credit_check = Some(e.credit_check);
                cmd
            }
            Kind::Fixed(f) => {
                let mut cmd = CreateLot::fixed_price(
                    lot_id(),
                    Self::seller(),
                    "A chair",
                    c.currency,
                    self.minor(f.price),
                );
                cmd.hold_secs = Some(f.hold);
                cmd.ends_at = f.listing.map(|s| starts_at + secs(s));
                cmd
            }
        };
        cmd.starts_at = (c.starts_in != 0).then_some(given_start);
        cmd.buyer_premium_rate = (c.premium.0 > 0).then(|| self.rate());
        cmd.payment_window_secs = Some(c.payment_window);
        cmd
    }
}

fn currency() -> impl Strategy<Value = Currency> {
    prop_oneof![
        Just(Currency::USD),
        Just(Currency::JPY),
        Just(Currency::BHD)
    ]
}

fn common() -> impl Strategy<Value = Common> {
    (
        currency(),
        prop_oneof![
            1 => Just((0_i64, 0_u32)),
            3 => (0_i64..10_000).prop_map(|n| (n, 4)),
            1 => (0_i64..10_000_000_000).prop_map(|n| (n, 10)),
        ],
        1_i64..=7_200,
        prop_oneof![6 => Just(0_i64), 1 => -600_i64..=-1, 3 => 1_i64..=600],
        2_usize..=5,
    )
        .prop_map(
            |(currency, premium, payment_window, starts_in, bidders)| Common {
                currency,
                premium,
                payment_window,
                starts_in,
                bidders,
            },
        )
}

fn english_spec(credit_check: BoxedStrategy<bool>) -> impl Strategy<Value = EnglishSpec> {
    (
        1_i64..=20_000,
        prop::option::of(0_i64..=20_000),
        prop::option::of(1_i64..=30_000),
        prop::option::of((1_i64..=900, 1_i64..=600)),
        prop::option::of(prop::collection::vec((1_i64..=5_000, 1_i64..=500), 1..=4)),
        credit_check,
        300_i64..=3_600,
    )
        .prop_map(
            |(
                starting,
                reserve_extra,
                buy_now_extra,
                soft_close,
                increments,
                credit_check,
                duration,
            )| {
                EnglishSpec {
                    starting,
                    reserve_extra,
                    buy_now_extra,
                    soft_close,
                    increments,
                    credit_check,
                    duration,
                }
            },
        )
}

fn english_lot() -> impl Strategy<Value = LotSpec> {
    (common(), english_spec(any::<bool>().boxed())).prop_map(|(common, e)| LotSpec {
        common,
        kind: Kind::English(e),
    })
}

fn credit_checked_lot() -> impl Strategy<Value = LotSpec> {
    (common(), english_spec(prop::bool::weighted(0.9).boxed())).prop_map(|(common, e)| LotSpec {
        common,
        kind: Kind::English(e),
    })
}

fn fixed_spec() -> impl Strategy<Value = FixedSpec> {
    (
        prop_oneof![1 => Just(0_i64), 3 => 1_i64..=50_000],
        // Holds short and long against the listing, so reservations often
        // lapse before its end and often outlast it.
        prop_oneof![1_i64..=600, 600_i64..=7_200],
        prop::option::weighted(0.75, 60_i64..=3_600),
    )
        .prop_map(|(price, hold, listing)| FixedSpec {
            price,
            hold,
            listing,
        })
}

fn fixed_lot() -> impl Strategy<Value = LotSpec> {
    (common(), fixed_spec()).prop_map(|(common, f)| LotSpec {
        common,
        kind: Kind::Fixed(f),
    })
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Who {
    /// Bidder i (modulo the lot's number of bidders).
    Bidder(usize),
    Seller,
    Admin,
    /// A participant with no roles.
    Stranger,
    /// Whoever the lot is about: the settlement's buyer, else the latest
    /// reservation's buyer, else the leader, else bidder 0.
    Party,
}

#[derive(Debug, Clone, Copy)]
enum Amount {
    /// The bidder's minimum ± a few minor units.
    Near(i64),
    /// The bidder's minimum + this many minor units.
    Above(i64),
    /// The leader's maximum (a tie, SPEC §2.2 case 4).
    TieLeader,
    /// The minimum plus half a minor unit.
    TooPrecise,
    /// The minimum + this many minor units, written with two extra zero
    /// decimals ("10.500" USD is 10.50).
    Padded(i64),
    /// Exactly the largest amount accepted.
    Max,
    Zero,
    Negative,
    TooLarge,
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Latest,
    Oldest,
    Unknown,
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Bid {
        who: Who,
        amount: Amount,
        wrong_currency: bool,
    },
    BuyNow(Who),
    Cancel(Who),
    Advance,
    Pay(Who),
    Reserve(Who),
    Complete(Who, Which),
    CancelReservation(Who, Which),
}

#[derive(Debug, Clone, Copy)]
enum Wait {
    Secs(i64),
    /// To the lot's current `ends_at` plus this (never back in time).
    ToEnd(i64),
    /// To the lot's next due moment plus this (never back in time).
    ToDue(i64),
    /// To one span before the end, plus this: the soft-close window of an
    /// english lot (bids there extend it, or just miss), the hold of a
    /// fixed-price lot (a reservation then lapses right at the listing end).
    ToWindow(i64),
}

#[derive(Debug, Clone, Copy)]
struct Op {
    wait: Wait,
    act: Act,
}

fn who() -> BoxedStrategy<Who> {
    prop_oneof![
        8 => (0_usize..5).prop_map(Who::Bidder),
        1 => Just(Who::Seller),
        1 => Just(Who::Admin),
        1 => Just(Who::Stranger),
        3 => Just(Who::Party),
    ]
    .boxed()
}

fn amount() -> BoxedStrategy<Amount> {
    prop_oneof![
        6 => (-3_i64..=3).prop_map(Amount::Near),
        6 => (0_i64..=30_000).prop_map(Amount::Above),
        2 => Just(Amount::TieLeader),
        1 => Just(Amount::TooPrecise),
        1 => (0_i64..=3).prop_map(Amount::Padded),
        1 => Just(Amount::Max),
        1 => Just(Amount::Zero),
        1 => Just(Amount::Negative),
        1 => Just(Amount::TooLarge),
    ]
    .boxed()
}

fn which() -> BoxedStrategy<Which> {
    prop_oneof![
        6 => Just(Which::Latest),
        1 => Just(Which::Oldest),
        1 => Just(Which::Unknown),
    ]
    .boxed()
}

/// `boundary` weighs the jumps to a boundary against about 55 for the
/// ordinary waits.
fn wait(boundary: u32) -> BoxedStrategy<Wait> {
    // About a minute per command on average, so most lots see a few dozen
    // commands before they end; now and then a jump to a boundary: the end
    // (or just before it), the next due moment, the soft-close window or a
    // hold's length before the end.
    prop_oneof![
        10 => Just(Wait::Secs(0)),
        40 => (1_i64..=30).prop_map(Wait::Secs),
        4 => (30_i64..=1_200).prop_map(Wait::Secs),
        boundary => prop_oneof![Just(0_i64), -3_i64..=-1].prop_map(Wait::ToEnd),
        boundary => (-1_i64..=1).prop_map(Wait::ToDue),
        boundary => (-1_i64..=1).prop_map(Wait::ToWindow),
    ]
    .boxed()
}

fn bid() -> BoxedStrategy<Act> {
    (who(), amount(), prop::bool::weighted(0.05))
        .prop_map(|(who, amount, wrong_currency)| Act::Bid {
            who,
            amount,
            wrong_currency,
        })
        .boxed()
}

fn english_act() -> BoxedStrategy<Act> {
    prop_oneof![
        14 => bid(),
        2 => who().prop_map(Act::BuyNow),
        1 => who().prop_map(Act::Cancel),
        2 => Just(Act::Advance),
        2 => who().prop_map(Act::Pay),
        1 => who().prop_map(Act::Reserve),
    ]
    .boxed()
}

fn fixed_act() -> BoxedStrategy<Act> {
    prop_oneof![
        5 => who().prop_map(Act::Reserve),
        4 => (who(), which()).prop_map(|(w, r)| Act::Complete(w, r)),
        3 => (who(), which()).prop_map(|(w, r)| Act::CancelReservation(w, r)),
        1 => who().prop_map(Act::Cancel),
        2 => Just(Act::Advance),
        2 => who().prop_map(Act::Pay),
        1 => bid(),
        1 => who().prop_map(Act::BuyNow),
    ]
    .boxed()
}

fn ops(act: impl Strategy<Value = Act>, boundary: u32) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (wait(boundary), act).prop_map(|(wait, act)| Op { wait, act }),
        1..=MAX_OPS,
    )
}

fn english_case() -> impl Strategy<Value = (LotSpec, Vec<Op>)> {
    (english_lot(), ops(english_act(), 1))
}

fn fixed_case() -> impl Strategy<Value = (LotSpec, Vec<Op>)> {
    // Reservations span boundaries more often with more jumps to them.
    (fixed_lot(), ops(fixed_act(), 3))
}

fn any_case() -> impl Strategy<Value = (LotSpec, Vec<Op>)> {
    prop_oneof![3 => english_case(), 1 => fixed_case()]
}

// ---------------------------------------------------------------------------
// Independent references (SPEC formulas, not the engine's code)
// ---------------------------------------------------------------------------

/// `inc(p)`: the step of the tier with the largest `from` ≤ p (the first
/// tier's step below the table, which only the default table allows).
fn inc(tiers: &[IncrementTier], p: Money) -> Money {
    tiers
        .iter()
        .rev()
        .find(|t| t.from <= p)
        .unwrap_or(&tiers[0])
        .step
}

/// The smallest acceptable bid of `bidder` (SPEC §2, §2.1 rule 8).
fn min_bid(lot: &Lot, bidder: &ParticipantId) -> Option<Money> {
    let (terms, state) = lot.english()?;
    Some(match (&state.leader, state.current_price) {
        (Some(l), _) if &l.bidder_id == bidder => {
            l.maximum.plus(Money::smallest_unit(lot.currency()))
        }
        (Some(_), Some(c)) => c.plus(inc(terms.increments.tiers(), c)),
        _ => terms.starting_price,
    })
}

/// `amount × rate`, rounded half-even to the currency's minor units (SPEC §4).
fn premium(spec: &LotSpec, amount: Money) -> Decimal {
    // `round_dp` is banker's rounding (half-even).
    (amount.amount() * spec.rate()).round_dp(spec.common.currency.minor_units())
}

fn price_of(lot: &Lot) -> Option<Money> {
    lot.english().and_then(|(_, s)| s.current_price)
}

fn is_due_transition(event: &Event) -> bool {
    matches!(
        event,
        Event::LotOpened {}
            | Event::AuctionEnded(_)
            | Event::SettlementCreated(_)
            | Event::SettlementDefaulted {}
            | Event::ReservationExpired { .. }
    )
}

// ---------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------

/// One committed command, for observers.
struct Step<'a> {
    before: &'a Lot,
    command: &'a Command,
    now: Timestamp,
    verdict: &'a Verdict,
    after: &'a Lot,
    /// The whole log, this command's events included.
    log: &'a [SequencedEvent],
}

type Check = Result<(), TestCaseError>;

/// A property, told about everything that happens to the lot.
trait Observer {
    /// The lot right after creation, with its log.
    fn created(&mut self, _lot: &Lot, _log: &[SequencedEvent]) -> Check {
        Ok(())
    }
    /// One event folded: the lot before and after it.
    fn event(&mut self, _before: &Lot, _event: &SequencedEvent, _after: &Lot) -> Check {
        Ok(())
    }
    /// One command judged and its verdict's events committed.
    fn step(&mut self, _step: &Step<'_>) -> Check {
        Ok(())
    }
}

fn fail(msg: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(msg.to_string())
}

/// Creates the lot of `spec`, then judges and commits each of `ops` in turn.
fn run(spec: &LotSpec, ops: &[Op], obs: &mut impl Observer) -> Check {
    let mut now = t0();
    let created = create(&spec.create_command(), now)
        .map_err(|r| fail(format!("the generated lot was refused: {r:?}")))?;
    let mut lot = create_from(lot_id(), &created[0]).map_err(fail)?;
    let mut log = vec![created[0].clone()];
    for event in &created[1..] {
        let before = lot.clone();
        apply(&mut lot, event).map_err(fail)?;
        log.push(event.clone());
        obs.event(&before, event, &lot)?;
    }
    obs.created(&lot, &log)?;

    for (i, op) in ops.iter().enumerate() {
        now = wait_until(spec, &lot, now, op.wait);
        let command = command_for(spec, &lot, op.act, i);
        let verdict = judge(&lot, &command, now);
        let before = lot.clone();
        for event in &verdict.events {
            let prev = lot.clone();
            apply(&mut lot, event).map_err(|e| {
                fail(format!(
                    "{e} folding {event:?} after {command:?}: {verdict:?}"
                ))
            })?;
            log.push(event.clone());
            obs.event(&prev, event, &lot)?;
        }
        obs.step(&Step {
            before: &before,
            command: &command,
            now,
            verdict: &verdict,
            after: &lot,
            log: &log,
        })?;
    }
    Ok(())
}

fn wait_until(spec: &LotSpec, lot: &Lot, now: Timestamp, wait: Wait) -> Timestamp {
    let target = match wait {
        Wait::Secs(n) => Some(now + secs(n)),
        Wait::ToEnd(off) => lot.ends_at.map(|t| t + secs(off)),
        Wait::ToDue(off) => next_due(lot).map(|t| t + secs(off)),
        Wait::ToWindow(off) => {
            let span = match &spec.kind {
                Kind::English(e) => e.soft_close.map(|(window, _)| window),
                Kind::Fixed(f) => Some(f.hold),
            };
            lot.ends_at
                .zip(span)
                .map(|(end, span)| end - secs(span) + secs(off))
        }
    };
    target.map_or(now, |t| t.max(now))
}

fn party(lot: &Lot) -> ParticipantId {
    if let Some(s) = &lot.settlement {
        return s.buyer_id.clone();
    }
    if let Some(r) = lot.fixed_price().and_then(|(_, s)| s.latest()) {
        return r.buyer_id.clone();
    }
    if let Some(l) = lot.english().and_then(|(_, s)| s.leader.as_ref()) {
        return l.bidder_id.clone();
    }
    bidder_id(0)
}

fn actor(spec: &LotSpec, lot: &Lot, who: Who) -> Actor {
    match who {
        Who::Bidder(i) => Actor::bidder(bidder_id(i % spec.common.bidders)),
        Who::Seller => LotSpec::seller(),
        Who::Admin => Actor::admin(pid(ADMIN)),
        Who::Stranger => Actor::new(pid(STRANGER), Roles::NONE),
        Who::Party => Actor::bidder(party(lot)),
    }
}

fn amount_for(lot: &Lot, bidder: &ParticipantId, amount: Amount) -> Decimal {
    let units = lot.currency().minor_units();
    let unit = Decimal::new(1, units);
    let min = min_bid(lot, bidder).map_or(Decimal::ONE, Money::amount);
    match amount {
        Amount::Near(k) => min + unit * Decimal::from(k),
        Amount::Above(k) => min + unit * Decimal::from(k),
        Amount::TieLeader => lot
            .english()
            .and_then(|(_, s)| s.leader.as_ref())
            .map_or(min, |l| l.maximum.amount()),
        Amount::TooPrecise => min + Decimal::new(5, units + 1),
        Amount::Padded(k) => {
            let mut padded = min + unit * Decimal::from(k);
            padded.rescale(units + 2);
            padded
        }
        Amount::Max => MAX_AMOUNT,
        Amount::Zero => Decimal::ZERO,
        Amount::Negative => -min,
        Amount::TooLarge => MAX_AMOUNT + unit,
    }
}

fn reservation(lot: &Lot, which: Which) -> ReservationId {
    let state = lot.fixed_price().map(|(_, s)| s);
    let found = match which {
        Which::Latest => state.and_then(|s| s.reservations.last()),
        Which::Oldest => state.and_then(|s| s.reservations.first()),
        Which::Unknown => None,
    };
    found.map_or_else(
        || ReservationId::new("r-unknown").unwrap(),
        |r| r.reservation_id.clone(),
    )
}

fn command_for(spec: &LotSpec, lot: &Lot, act: Act, i: usize) -> Command {
    let who = |w| actor(spec, lot, w);
    match act {
        Act::Bid {
            who: w,
            amount,
            wrong_currency,
        } => {
            let bidder = who(w);
            let amount = amount_for(lot, &bidder.participant_id, amount);
            let code = if wrong_currency {
                "EUR"
            } else {
                spec.common.currency.code()
            };
            Command::PlaceBid(PlaceBid {
                amount,
                currency: (wrong_currency || i.is_multiple_of(2))
                    .then(|| CurrencyCode::new(code).unwrap()),
                bid_id: BidId::new(format!("bid-{i}")).unwrap(),
                bidder,
            })
        }
        Act::BuyNow(w) => Command::BuyNow { buyer: who(w) },
        Act::Cancel(w) => Command::CancelLot { by: who(w) },
        Act::Advance => Command::Advance,
        Act::Pay(w) => Command::RecordPayment { by: who(w) },
        Act::Reserve(w) => Command::Reserve {
            buyer: who(w),
            reservation_id: ReservationId::new(format!("r-{i}")).unwrap(),
        },
        Act::Complete(w, r) => Command::CompleteReservation {
            by: who(w),
            reservation_id: reservation(lot, r),
        },
        Act::CancelReservation(w, r) => Command::CancelReservation {
            by: who(w),
            reservation_id: reservation(lot, r),
        },
    }
}

// ---------------------------------------------------------------------------
// Observers, one per property
// ---------------------------------------------------------------------------

/// Property 1.
struct PriceNeverDecreases;

impl Observer for PriceNeverDecreases {
    fn event(&mut self, before: &Lot, event: &SequencedEvent, after: &Lot) -> Check {
        if before.status.is_final() {
            prop_assert_eq!(
                price_of(before),
                price_of(after),
                "price moved after the end"
            );
            return Ok(());
        }
        match (price_of(before), price_of(after)) {
            (Some(was), Some(now)) => prop_assert!(
                now >= was,
                "price fell from {} to {} with {:?}",
                was,
                now,
                event
            ),
            (Some(was), None) => return Err(fail(format!("price {was} vanished: {event:?}"))),
            _ => {}
        }
        Ok(())
    }
}

/// Property 2.
struct LeaderCoversPrice;

impl Observer for LeaderCoversPrice {
    fn event(&mut self, _: &Lot, event: &SequencedEvent, after: &Lot) -> Check {
        let Some((_, state)) = after.english() else {
            return Ok(());
        };
        match (&state.leader, state.current_price) {
            (Some(leader), Some(price)) => prop_assert!(
                leader.maximum >= price,
                "leader's maximum {} below the price {} after {:?}",
                leader.maximum,
                price,
                event
            ),
            (None, None) => {}
            (leader, price) => {
                return Err(fail(format!(
                    "leader {leader:?} without a price {price:?} (or the reverse) after {event:?}"
                )));
            }
        }
        Ok(())
    }
}

/// Property 3.
struct NoBidAtOrAfterTheEnd;

impl Observer for NoBidAtOrAfterTheEnd {
    fn event(&mut self, before: &Lot, event: &SequencedEvent, _: &Lot) -> Check {
        if let Event::BidAccepted(bid) = &event.event {
            let end = before.ends_at.unwrap();
            prop_assert!(
                event.occurred_at < end,
                "bid {:?} accepted at {} with the lot ending at {}",
                bid.bid_id,
                event.occurred_at,
                end
            );
            prop_assert!(event.occurred_at >= before.terms.starts_at);
            prop_assert_eq!(before.status, LotStatus::Open);
        }
        Ok(())
    }

    fn step(&mut self, step: &Step<'_>) -> Check {
        if step.before.ends_at.is_some_and(|end| step.now >= end) {
            prop_assert!(
                !step
                    .verdict
                    .events
                    .iter()
                    .any(|e| matches!(e.event, Event::BidAccepted(_))),
                "a bid was accepted at {} after the end {:?}",
                step.now,
                step.before.ends_at
            );
        }
        Ok(())
    }
}

/// Property 4: the expected result of a timed close, from the accepted bids
/// alone (SPEC §2.2, §2.4), in `(bidder, maximum)` order of acceptance.
///
/// The winner holds the highest maximum, the earliest bid on ties. Every
/// rival's bid is at least `min_next_bid` > price ≥ every beaten maximum, so
/// the last rival bid is answered at `min(m, second + inc(second))`, where
/// `second` is the highest rival maximum and `m` the winner's maximum when
/// they (re)took the lead over it; the winner's later raises leave the price
/// alone (case 2). No rival: the starting price. Then the reserve jump (case 5)
/// lifts the price to the reserve when the top maximum meets it.
fn expected_close(lot: &Lot, bids: &[(ParticipantId, Money)]) -> SaleResult {
    let (terms, _) = lot.english().unwrap();
    let Some(top) = bids.iter().map(|b| b.1).max() else {
        return SaleResult::Unsold {
            reason: UnsoldReason::NoBids,
        };
    };
    // Ties go to the earlier bid.
    let winner = &bids.iter().find(|b| b.1 == top).unwrap().0;
    if terms.reserve_price.is_some_and(|r| top < r) {
        return SaleResult::Unsold {
            reason: UnsoldReason::ReserveNotMet,
        };
    }
    let rival = |b: &&(ParticipantId, Money)| &b.0 != winner;
    let mut hammer = match bids.iter().filter(rival).map(|b| b.1).max() {
        None => terms.starting_price,
        Some(second) => {
            let last_rival = bids.iter().rposition(|b| &b.0 != winner).unwrap();
            let first_second = bids
                .iter()
                .position(|b| &b.0 != winner && b.1 == second)
                .unwrap();
            // A maximum of the winner's placed at `i` leads the rivals.
            let leads = |i: usize, m: Money| m > second || (m == second && i < first_second);
            let mine =
                |&(i, b): &(usize, &(ParticipantId, Money))| (&b.0 == winner).then_some((i, b.1));
            let held = bids[..last_rival]
                .iter()
                .enumerate()
                .filter_map(|e| mine(&e))
                .next_back()
                .filter(|&(i, m)| leads(i, m));
            let (_, answer) = held
                .or_else(|| {
                    bids.iter()
                        .enumerate()
                        .skip(last_rival + 1)
                        .filter_map(|e| mine(&e))
                        .find(|&(i, m)| leads(i, m))
                })
                .unwrap();
            answer.min(second.plus(inc(terms.increments.tiers(), second)))
        }
    };
    if let Some(reserve) = terms.reserve_price {
        hammer = hammer.max(reserve);
    }
    SaleResult::Sold {
        winner_id: winner.clone(),
        hammer_price: hammer,
    }
}

#[derive(Default)]
struct TimedCloseFollowsTheBids {
    bids: Vec<(ParticipantId, Money)>,
}

impl Observer for TimedCloseFollowsTheBids {
    fn event(&mut self, before: &Lot, event: &SequencedEvent, after: &Lot) -> Check {
        match &event.event {
            Event::BidAccepted(bid) => self.bids.push((bid.bidder_id.clone(), bid.maximum)),
            Event::AuctionEnded(ended) if ended.ended_by == EndedBy::Time => {
                prop_assert_eq!(Some(event.occurred_at), before.ends_at, "closed off time");
                let expected = expected_close(before, &self.bids);
                let outcome = after.outcome.as_ref().unwrap();
                prop_assert_eq!(
                    &outcome.result,
                    &expected,
                    "bids (bidder, maximum): {:?}",
                    self.bids
                );
                prop_assert_eq!(outcome.ended_at, event.occurred_at);
                let total = u32::try_from(self.bids.len()).unwrap();
                prop_assert_eq!(ended.total_bids, total);
                let (winner, hammer, kind) = match &expected {
                    SaleResult::Sold {
                        winner_id,
                        hammer_price,
                    } => (Some(winner_id.clone()), Some(*hammer_price), SaleKind::Sold),
                    SaleResult::Unsold { .. } => (None, None, SaleKind::Unsold),
                };
                prop_assert_eq!(&ended.winner_id, &winner);
                prop_assert_eq!(ended.winning_bid, hammer);
                prop_assert_eq!(ended.outcome, kind);
                // Sold iff there is a leader and the reserve is met.
                let (terms, state) = before.english().unwrap();
                let met = state
                    .leader
                    .as_ref()
                    .is_some_and(|l| terms.reserve_price.is_none_or(|r| l.maximum >= r));
                prop_assert_eq!(kind == SaleKind::Sold, met, "sold iff reserve met");
            }
            _ => {}
        }
        Ok(())
    }
}

/// Property 5, also through storage: the log as stores keep it (JSON)
/// rebuilds the lot exactly too.
#[derive(Default)]
struct ReplayRebuildsTheLot {
    /// The log, each event written to JSON and read back.
    stored: Vec<SequencedEvent>,
}

impl ReplayRebuildsTheLot {
    fn check(&mut self, lot: &Lot, log: &[SequencedEvent]) -> Check {
        for event in &log[self.stored.len()..] {
            let json = serde_json::to_string(event).map_err(fail)?;
            self.stored
                .push(serde_json::from_str(&json).map_err(|e| fail(format!("{e}: {json}")))?);
        }
        prop_assert_eq!(&replay(lot_id(), log).map_err(fail)?, lot);
        prop_assert_eq!(
            &replay(lot_id(), &self.stored).map_err(fail)?,
            lot,
            "from storage"
        );
        Ok(())
    }
}

impl Observer for ReplayRebuildsTheLot {
    fn created(&mut self, lot: &Lot, log: &[SequencedEvent]) -> Check {
        self.check(lot, log)
    }

    fn step(&mut self, step: &Step<'_>) -> Check {
        self.check(step.after, step.log)
    }
}

/// Property 6.
struct SequencesAreGapless;

impl SequencesAreGapless {
    fn numbered(log: &[SequencedEvent], from: usize) -> Check {
        for (i, e) in log.iter().enumerate().skip(from) {
            prop_assert_eq!(e.sequence, u64::try_from(i).unwrap() + 1, "log {:?}", log);
        }
        Ok(())
    }
}

impl Observer for SequencesAreGapless {
    fn created(&mut self, lot: &Lot, log: &[SequencedEvent]) -> Check {
        Self::numbered(log, 0)?;
        prop_assert_eq!(lot.sequence, u64::try_from(log.len()).unwrap());
        Ok(())
    }

    fn step(&mut self, step: &Step<'_>) -> Check {
        for (i, e) in step.verdict.events.iter().enumerate() {
            prop_assert_eq!(
                e.sequence,
                step.before.sequence + 1 + u64::try_from(i).unwrap(),
                "verdict {:?}",
                step.verdict
            );
        }
        let emitted = u64::try_from(step.verdict.events.len()).unwrap();
        prop_assert_eq!(step.after.sequence, step.before.sequence + emitted);
        let first_new = step.log.len() - step.verdict.events.len();
        Self::numbered(step.log, first_new)?;
        prop_assert_eq!(step.after.sequence, u64::try_from(step.log.len()).unwrap());
        Ok(())
    }
}

/// Property 7.
struct RejectionsEmitOnlyDueTransitions;

impl Observer for RejectionsEmitOnlyDueTransitions {
    fn step(&mut self, step: &Step<'_>) -> Check {
        let due = advance(step.before, step.now);
        let events = &step.verdict.events;
        // Due transitions come first, whatever the command (SPEC §9).
        prop_assert!(
            events.len() >= due.len() && events[..due.len()] == due[..],
            "{:?} does not start with the due transitions {:?}",
            events,
            due
        );
        if let Err(rejection) = &step.verdict.outcome {
            prop_assert!(
                events.iter().all(|e| is_due_transition(&e.event)),
                "{:?} rejected with {:?} but emitted {:?}",
                step.command,
                rejection,
                events
            );
            prop_assert_eq!(events, &due);
        }
        if matches!(step.command, Command::Advance) {
            prop_assert!(step.verdict.outcome.is_ok());
            prop_assert_eq!(events, &due);
        }
        Ok(())
    }
}

/// Property 8.
#[derive(Default)]
struct ReservationsStayExclusive {
    sales: usize,
    endings: usize,
    settlements: usize,
    /// The moment the latest reservation stopped being active.
    released_at: Option<Timestamp>,
}

impl Observer for ReservationsStayExclusive {
    fn event(&mut self, before: &Lot, event: &SequencedEvent, after: &Lot) -> Check {
        match &event.event {
            Event::AuctionEnded(AuctionEnded { outcome, .. }) => {
                self.endings += 1;
                if *outcome == SaleKind::Sold {
                    self.sales += 1;
                }
            }
            Event::SettlementCreated(_) => self.settlements += 1,
            Event::ReservationExpired { .. } | Event::ReservationCancelled { .. } => {
                self.released_at = Some(event.occurred_at);
            }
            _ => {}
        }
        // Listing end (SPEC §9): unsold at `ends_at`, or when the reservation
        // that held the lot past it lapsed or was cancelled.
        if let Event::AuctionEnded(AuctionEnded {
            reason: Some(UnsoldReason::NoBuyer),
            ..
        }) = &event.event
        {
            let end = before.ends_at.unwrap();
            let expected = self.released_at.filter(|t| *t > end).unwrap_or(end);
            prop_assert_eq!(event.occurred_at, expected, "listing closed off time");
        }
        prop_assert!(self.sales <= 1, "sold twice");
        prop_assert!(self.endings <= 1, "ended twice");
        prop_assert!(self.settlements <= 1, "settled twice");
        if before.status.is_final() {
            prop_assert_eq!(before.status, after.status, "a final lot changed status");
            prop_assert_eq!(&before.state, &after.state, "a final lot changed state");
        }
        Ok(())
    }

    /// Checked on committed states: within one command, `ReservationCompleted`
    /// precedes the `AuctionEnded` that closes the lot.
    fn step(&mut self, step: &Step<'_>) -> Check {
        let after = step.after;
        let (terms, state) = after.fixed_price().unwrap();
        let active: Vec<_> = state
            .reservations
            .iter()
            .filter(|r| r.status == ReservationStatus::Active)
            .collect();
        prop_assert!(active.len() <= 1, "two active reservations: {:?}", active);
        if after.ends_at.is_some_and(|end| step.now >= end) && active.is_empty() {
            prop_assert!(
                after.status.is_final(),
                "past its listing end without a reservation, yet {:?}",
                after.status
            );
        }
        prop_assert_eq!(
            after.status == LotStatus::Reserved,
            active.len() == 1,
            "status {:?} with reservations {:?} after {:?}",
            after.status,
            state.reservations,
            step.command
        );
        let completed: Vec<_> = state
            .reservations
            .iter()
            .filter(|r| r.status == ReservationStatus::Completed)
            .collect();
        match after.outcome.as_ref().map(|o| &o.result) {
            Some(SaleResult::Sold {
                winner_id,
                hammer_price,
            }) => {
                prop_assert_eq!(completed.len(), 1);
                prop_assert_eq!(&completed[0].buyer_id, winner_id);
                prop_assert_eq!(*hammer_price, terms.price);
            }
            _ => prop_assert!(
                completed.is_empty(),
                "completed but not sold: {:?}",
                completed
            ),
        }
        Ok(())
    }
}

/// A sale creates its settlement in the same step (SPEC §4).
struct SalesAreSettled<'a> {
    spec: &'a LotSpec,
}

impl Observer for SalesAreSettled<'_> {
    fn step(&mut self, step: &Step<'_>) -> Check {
        let events = &step.verdict.events;
        for (i, e) in events.iter().enumerate() {
            let Event::AuctionEnded(ended) = &e.event else {
                continue;
            };
            let Some(winner) = &ended.winner_id else {
                prop_assert!(step.after.settlement.is_none());
                continue;
            };
            let hammer = ended.winning_bid.unwrap();
            match ended.ended_by {
                EndedBy::BuyNow => {
                    let (terms, _) = step.before.english().unwrap();
                    prop_assert_eq!(Some(hammer), terms.buy_now_price);
                    prop_assert_eq!(e.occurred_at, step.now);
                }
                EndedBy::Reservation => {
                    let (terms, _) = step.before.fixed_price().unwrap();
                    prop_assert_eq!(hammer, terms.price);
                    prop_assert_eq!(e.occurred_at, step.now);
                }
                EndedBy::Time => {}
            }
            let Some(Event::SettlementCreated(s)) = events.get(i + 1).map(|n| &n.event) else {
                return Err(fail(format!("a sale without its settlement: {events:?}")));
            };
            prop_assert_eq!(&s.buyer_id, winner);
            prop_assert_eq!(s.hammer_price, hammer);
            prop_assert_eq!(s.buyer_premium.amount(), premium(self.spec, hammer));
            prop_assert_eq!(
                s.total_due.amount(),
                hammer.amount() + premium(self.spec, hammer)
            );
            prop_assert_eq!(
                s.due_by,
                e.occurred_at + secs(self.spec.common.payment_window)
            );
            let settlement = step.after.settlement.as_ref().unwrap();
            if s.total_due.is_zero() {
                // Created paid, with `SettlementCreated` only (SPEC §9).
                prop_assert_eq!(settlement.status, SettlementStatus::Paid, "free item");
                prop_assert!(
                    !events
                        .iter()
                        .any(|e| matches!(e.event, Event::SettlementPaid {})),
                    "a free item's settlement was paid: {:?}",
                    events
                );
            }
        }
        Ok(())
    }
}

/// Credit holds follow lot state (SPEC §3.1), and the ledger actions derived
/// from each change keep a ledger in step with it.
struct HoldsFollowTheLot<'a> {
    spec: &'a LotSpec,
    /// The lot's hold in a simulated ledger.
    ledger: Option<credit::Hold>,
}

impl HoldsFollowTheLot<'_> {
    fn expected(&self, lot: &Lot) -> Option<(ParticipantId, Decimal)> {
        let (terms, state) = lot.english()?;
        if !terms.credit_check {
            return None;
        }
        match lot.status {
            LotStatus::Cancelled => None,
            LotStatus::Closed => {
                let s = lot.settlement.as_ref()?;
                (s.status == SettlementStatus::Pending).then(|| {
                    let total = s.hammer_price.amount() + premium(self.spec, s.hammer_price);
                    (s.buyer_id.clone(), total)
                })
            }
            LotStatus::Scheduled | LotStatus::Open | LotStatus::Reserved => {
                let leader = state.leader.as_ref()?;
                let hold = leader.maximum.amount() + premium(self.spec, leader.maximum);
                Some((leader.bidder_id.clone(), hold))
            }
        }
    }
}

impl HoldsFollowTheLot<'_> {
    /// Carries `action` out on the simulated ledger, as a service does after
    /// committing a change (SPEC §3.1).
    fn perform(&mut self, action: credit::CreditAction, after: &Lot) -> Check {
        match action {
            credit::CreditAction::None => {}
            credit::CreditAction::Hold(hold) => self.ledger = Some(hold),
            credit::CreditAction::Release => self.ledger = None,
            credit::CreditAction::Consume => {
                // Payment consumes exactly the winner's `total_due`.
                let held = self.ledger.take().map(|h| (h.participant, h.amount));
                let s = after.settlement.as_ref().unwrap();
                prop_assert_eq!(held, Some((s.buyer_id.clone(), s.total_due)));
            }
        }
        let required = credit::required_hold(after);
        prop_assert_eq!(&self.ledger, &required, "the ledger disagrees with the lot");
        Ok(())
    }
}

impl Observer for HoldsFollowTheLot<'_> {
    fn created(&mut self, lot: &Lot, _: &[SequencedEvent]) -> Check {
        self.perform(credit::credit_action(None, lot), lot)
    }

    fn event(&mut self, _: &Lot, event: &SequencedEvent, after: &Lot) -> Check {
        let actual = credit::required_hold(after).map(|h| (h.participant, h.amount.amount()));
        prop_assert_eq!(actual, self.expected(after), "after {:?}", event);
        Ok(())
    }

    fn step(&mut self, step: &Step<'_>) -> Check {
        self.perform(
            credit::credit_action(Some(step.before), step.after),
            step.after,
        )
    }
}

/// `before` with the transitions due at `now` applied: the lot a command's
/// own rule is judged against (SPEC §9).
fn after_due(before: &Lot, now: Timestamp) -> Lot {
    let mut lot = before.clone();
    for event in &advance(before, now) {
        apply(&mut lot, event).unwrap();
    }
    lot
}

/// The verdict the SPEC gives `command` on `lot` (due transitions applied):
/// the first failing check, in the SPEC's order (§2.1, §2.4, §3, §4, §9).
///
/// Where the SPEC gives no order between "not found" and "not a party" (a
/// reservation's or settlement's parties are known only once it is found),
/// not found comes first.
fn expected_verdict(lot: &Lot, command: &Command, now: Timestamp) -> Result<(), Rejection> {
    let seller = lot.seller_id();
    let ended = lot.status.is_final() || lot.ends_at.is_some_and(|end| now >= end);
    let not_started = now < lot.terms.starts_at;
    let english = lot.english();
    let active = lot.fixed_price().and_then(|(_, s)| {
        s.reservations
            .iter()
            .find(|r| r.status == ReservationStatus::Active)
    });
    match command {
        Command::PlaceBid(bid) => {
            let bidder = &bid.bidder;
            let units = lot.currency().minor_units();
            let invalid = |reason| Err(Rejection::InvalidAmount { reason });
            if !bidder.roles.contains(Roles::BIDDER) {
                return Err(Rejection::Forbidden);
            }
            if english.is_none() {
                return Err(Rejection::BiddingNotSupported);
            }
            if &bidder.participant_id == seller {
                return Err(Rejection::SellerCannotBid);
            }
            if ended {
                return Err(Rejection::LotClosed);
            }
            if not_started {
                return Err(Rejection::LotNotOpen);
            }
            if bid
                .currency
                .is_some_and(|c| c.as_str() != lot.currency().code())
            {
                return Err(Rejection::CurrencyMismatch);
            }
            if bid.amount <= Decimal::ZERO {
                return invalid(AmountProblem::NotPositive);
            }
            if bid.amount > MAX_AMOUNT {
                return invalid(AmountProblem::TooLarge);
            }
            if bid.amount.round_dp(units) != bid.amount {
                return invalid(AmountProblem::TooPrecise);
            }
            let min = min_bid(lot, &bidder.participant_id).unwrap();
            if bid.amount < min.amount() {
                return Err(Rejection::BidTooLow { min_bid: min });
            }
            Ok(())
        }
        Command::BuyNow { buyer } => {
            if !buyer.roles.contains(Roles::BIDDER) {
                return Err(Rejection::Forbidden);
            }
            let Some((terms, state)) = english else {
                return Err(Rejection::BuyNowUnavailable);
            };
            if &buyer.participant_id == seller {
                return Err(Rejection::SellerCannotBid);
            }
            if ended {
                return Err(Rejection::LotClosed);
            }
            if not_started {
                return Err(Rejection::LotNotOpen);
            }
            let reserve_unmet = terms
                .reserve_price
                .is_some_and(|r| state.leader.as_ref().is_none_or(|l| l.maximum < r));
            if terms.buy_now_price.is_none() || state.bid_count > 0 && !reserve_unmet {
                return Err(Rejection::BuyNowUnavailable);
            }
            Ok(())
        }
        Command::CancelLot { by } => {
            let admin = by.roles.contains(Roles::ADMIN);
            if !admin && &by.participant_id != seller {
                return Err(Rejection::Forbidden);
            }
            let bid = english.is_some_and(|(_, s)| s.bid_count > 0);
            if lot.status.is_final() || !admin && (bid || active.is_some()) {
                return Err(Rejection::CancelNotAllowed);
            }
            Ok(())
        }
        Command::Reserve { buyer, .. } => {
            if !buyer.roles.contains(Roles::BIDDER) {
                return Err(Rejection::Forbidden);
            }
            if english.is_some() {
                return Err(Rejection::ReservationNotSupported);
            }
            if &buyer.participant_id == seller {
                return Err(Rejection::SellerCannotReserve);
            }
            if lot.status.is_final() {
                return Err(Rejection::LotClosed);
            }
            if not_started {
                return Err(Rejection::LotNotOpen);
            }
            if active.is_some() {
                return Err(Rejection::AlreadyReserved);
            }
            Ok(())
        }
        Command::CompleteReservation { by, reservation_id }
        | Command::CancelReservation { by, reservation_id } => {
            let found = lot.fixed_price().and_then(|(_, s)| {
                s.reservations
                    .iter()
                    .find(|r| &r.reservation_id == reservation_id)
            });
            let Some(r) = found else {
                return Err(Rejection::ReservationNotFound);
            };
            let party = by.roles.contains(Roles::ADMIN)
                || &by.participant_id == seller
                || by.participant_id == r.buyer_id;
            if !party {
                return Err(Rejection::Forbidden);
            }
            match (command, r.status) {
                (_, ReservationStatus::Active) => Ok(()),
                (Command::CompleteReservation { .. }, ReservationStatus::Expired) => {
                    Err(Rejection::ReservationExpired)
                }
                _ => Err(Rejection::ReservationNotActive),
            }
        }
        Command::RecordPayment { by } => {
            let Some(s) = &lot.settlement else {
                return Err(Rejection::SettlementNotFound);
            };
            if !by.roles.contains(Roles::ADMIN) && by.participant_id != s.buyer_id {
                return Err(Rejection::Forbidden);
            }
            match s.status {
                SettlementStatus::Pending => Ok(()),
                SettlementStatus::Paid => Err(Rejection::AlreadyPaid),
                SettlementStatus::Defaulted => Err(Rejection::SettlementDefaulted),
            }
        }
        Command::Advance => Ok(()),
        Command::CreateLot(_) => Err(InvalidRequest::LotExists.into()),
    }
}

/// Commands are accepted or refused exactly as the SPEC's checks say.
struct VerdictsFollowTheChecks;

impl Observer for VerdictsFollowTheChecks {
    fn step(&mut self, step: &Step<'_>) -> Check {
        let lot = after_due(step.before, step.now);
        let expected = expected_verdict(&lot, step.command, step.now);
        if let (
            Err(Rejection::InvalidAmount { reason }),
            Err(Rejection::InvalidAmount { .. }),
            Command::PlaceBid(bid),
        ) = (&step.verdict.outcome, &expected, step.command)
        {
            // An amount may be invalid for several reasons at once (too large
            // and too precise); the SPEC names no order, so any that applies.
            let units = lot.currency().minor_units();
            let applies = match reason {
                AmountProblem::NotPositive => bid.amount <= Decimal::ZERO,
                AmountProblem::TooLarge => bid.amount > MAX_AMOUNT,
                AmountProblem::TooPrecise => bid.amount.round_dp(units) != bid.amount,
            };
            prop_assert!(applies, "{:?} for {}", reason, bid.amount);
            return Ok(());
        }
        prop_assert_eq!(
            &step.verdict.outcome,
            &expected,
            "{:?} at {} on {:?}",
            step.command,
            step.now,
            lot
        );
        Ok(())
    }
}

/// An accepted bid resolves as SPEC §2.2 says and extends the lot as §2.3
/// says; its events are `BidAccepted`, `Outbid` for whoever lost (or never
/// got) the lead, and `LotExtended` if the end moved.
struct BidsResolveByProxy<'a> {
    spec: &'a LotSpec,
}

/// eBay's table as SPEC §2 prints it, for currencies with 2 minor units.
const DEFAULT_INCREMENTS: [(&str, &str); 10] = [
    ("0.01", "0.05"),
    ("1.00", "0.25"),
    ("5.00", "0.50"),
    ("25.00", "1.00"),
    ("100.00", "2.50"),
    ("250.00", "5.00"),
    ("500.00", "10.00"),
    ("1000.00", "25.00"),
    ("2500.00", "50.00"),
    ("5000.00", "100.00"),
];

/// The increment table `spec` asks for: its custom tiers, or the default
/// table with every `from` and `step` × 10^(2−d) for d minor units.
fn expected_increments(spec: &LotSpec) -> Vec<(Decimal, Decimal)> {
    let Kind::English(e) = &spec.kind else {
        return Vec::new();
    };
    if let Some(tiers) = &e.increments {
        let mut from = 0;
        return tiers
            .iter()
            .enumerate()
            .map(|(i, &(gap, step))| {
                if i > 0 {
                    from += gap;
                }
                (spec.minor(from), spec.minor(step))
            })
            .collect();
    }
    let scale = match spec.common.currency.minor_units() {
        0 => Decimal::ONE_HUNDRED,
        2 => Decimal::ONE,
        _ => Decimal::new(1, 1),
    };
    DEFAULT_INCREMENTS
        .iter()
        .map(|(from, step)| {
            let d = |t: &str| parse_decimal(t).unwrap() * scale;
            (d(from), d(step))
        })
        .collect()
}

impl Observer for BidsResolveByProxy<'_> {
    /// The table `inc` reads is the SPEC's (so the checks below do not
    /// take the engine's word for it).
    fn created(&mut self, lot: &Lot, _: &[SequencedEvent]) -> Check {
        let (terms, _) = lot.english().unwrap();
        let tiers: Vec<_> = terms
            .increments
            .tiers()
            .iter()
            .map(|t| (t.from.amount(), t.step.amount()))
            .collect();
        prop_assert_eq!(tiers, expected_increments(self.spec));
        Ok(())
    }

    fn step(&mut self, step: &Step<'_>) -> Check {
        let (Command::PlaceBid(bid), Ok(())) = (step.command, &step.verdict.outcome) else {
            return Ok(());
        };
        let lot = after_due(step.before, step.now);
        let (terms, state) = lot.english().unwrap();
        let tiers = terms.increments.tiers();
        let me = &bid.bidder.participant_id;
        let m = Money::new(bid.amount, lot.currency()).unwrap();
        let (leader, leader_max, mut price, outbid) = match &state.leader {
            None => (me.clone(), m, terms.starting_price, None),
            Some(l) if &l.bidder_id == me => (me.clone(), m, state.current_price.unwrap(), None),
            Some(l) if m > l.maximum => (
                me.clone(),
                m,
                m.min(l.maximum.plus(inc(tiers, l.maximum))),
                Some(l.bidder_id.clone()),
            ),
            Some(l) => (
                l.bidder_id.clone(),
                l.maximum,
                l.maximum.min(m.plus(inc(tiers, m))),
                Some(me.clone()),
            ),
        };
        if let Some(reserve) = terms.reserve_price
            && leader_max >= reserve
            && price < reserve
        {
            price = reserve;
        }
        let count = state.bid_count + 1;
        let mut expected = vec![Event::BidAccepted(BidAccepted {
            bid_id: bid.bid_id.clone(),
            bid_number: count,
            bidder_id: me.clone(),
            maximum: m,
            current_price: price,
            leader_id: leader.clone(),
            bid_count: count,
        })];
        if let Some(loser) = outbid {
            expected.push(Event::Outbid {
                bidder_id: loser,
                current_price: price,
            });
        }
        let end = lot.ends_at.unwrap();
        let mut new_end = end;
        if let Some(sc) = terms.soft_close
            && end - step.now < sc.window
        {
            new_end = end.max(step.now + sc.extension);
        }
        if new_end != end {
            expected.push(Event::LotExtended { ends_at: new_end });
        }
        let own = &step.verdict.events[step.verdict.events.len() - expected.len()..];
        let got: Vec<_> = own.iter().map(|e| e.event.clone()).collect();
        prop_assert_eq!(&got, &expected, "on {:?}", lot);
        prop_assert!(own.iter().all(|e| e.occurred_at == step.now));
        let (_, after) = step.after.english().unwrap();
        let after_leader = after.leader.as_ref().unwrap();
        prop_assert_eq!(&after_leader.bidder_id, &leader);
        prop_assert_eq!(after_leader.maximum, leader_max);
        prop_assert_eq!(after.current_price, Some(price));
        prop_assert_eq!(after.bid_count, count);
        prop_assert_eq!(step.after.ends_at, Some(new_end));
        Ok(())
    }
}

/// The payload fields SPEC §6 lists for each event type (optional ones
/// included), besides the envelope's.
fn public_fields(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "LotCreated" => &[
            "sellerId", "format", "title", "currency", "startsAt", "endsAt",
        ],
        "BidAccepted" => &[
            "bidId",
            "bidNumber",
            "bidderId",
            "currentPrice",
            "leaderId",
            "bidCount",
        ],
        "Outbid" => &["bidderId", "currentPrice"],
        "LotExtended" => &["endsAt"],
        "AuctionEnded" => &[
            "winnerId",
            "winningBid",
            "totalBids",
            "outcome",
            "reason",
            "endedBy",
        ],
        "LotCancelled" => &["by"],
        "ReservationCreated" => &["reservationId", "buyerId", "sellerId", "expiresAt"],
        "ReservationCompleted" | "ReservationCancelled" | "ReservationExpired" => {
            &["reservationId"]
        }
        "SettlementCreated" => &[
            "buyerId",
            "hammerPrice",
            "buyerPremium",
            "totalDue",
            "dueBy",
        ],
        _ => &[],
    }
}

const ENVELOPE_FIELDS: [&str; 6] = [
    "eventId",
    "eventType",
    "version",
    "lotId",
    "sequence",
    "occurredAt",
];
const AMOUNT_FIELDS: [&str; 5] = [
    "currentPrice",
    "winningBid",
    "hammerPrice",
    "buyerPremium",
    "totalDue",
];

/// Published events carry the SPEC §6 fields only (never a maximum or the
/// reserve), with amounts as strings at the currency's minor units (§1).
/// A total due may exceed the 1,000,000,000,000 input limit (a top bid plus
/// premium): the limit bounds what participants send, not what rules derive.
struct EventsArePublic;

impl Observer for EventsArePublic {
    fn event(&mut self, before: &Lot, event: &SequencedEvent, _: &Lot) -> Check {
        let json = EventEnvelope::new(lot_id(), event.clone()).to_public_json();
        let serde_json::Value::Object(fields) = &json else {
            return Err(fail(format!("not an object: {json}")));
        };
        let event_type = event.event.event_type();
        prop_assert_eq!(&fields["eventType"], event_type);
        let allowed = public_fields(event_type);
        for key in fields.keys() {
            prop_assert!(
                ENVELOPE_FIELDS.contains(&key.as_str()) || allowed.contains(&key.as_str()),
                "{} is not a public field of {}",
                key,
                json
            );
        }
        for key in ENVELOPE_FIELDS {
            prop_assert!(fields.contains_key(key), "{} missing from {}", key, json);
        }
        let units = usize::try_from(before.currency().minor_units()).unwrap();
        for key in AMOUNT_FIELDS {
            let Some(amount) = fields.get(key) else {
                continue;
            };
            let text = amount.as_str().unwrap_or_default();
            let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
            prop_assert!(
                decimals == units && parse_decimal(text).is_ok_and(|d| d >= Decimal::ZERO),
                "{} is not a {} amount in {}",
                amount,
                before.currency(),
                json
            );
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn the_current_price_never_decreases_while_the_lot_is_open((spec, ops) in english_case()) {
        run(&spec, &ops, &mut PriceNeverDecreases)?;
    }

    #[test]
    fn the_leaders_maximum_is_at_least_the_current_price((spec, ops) in english_case()) {
        run(&spec, &ops, &mut LeaderCoversPrice)?;
    }

    #[test]
    fn no_bid_is_accepted_at_or_after_the_end((spec, ops) in english_case()) {
        run(&spec, &ops, &mut NoBidAtOrAfterTheEnd)?;
    }

    #[test]
    fn a_timed_close_sells_to_the_highest_maximum_at_the_proxy_price((spec, ops) in english_case()) {
        run(&spec, &ops, &mut TimedCloseFollowsTheBids::default())?;
    }

    #[test]
    fn replaying_the_log_rebuilds_the_lot_exactly_at_every_step((spec, ops) in any_case()) {
        run(&spec, &ops, &mut ReplayRebuildsTheLot::default())?;
    }

    #[test]
    fn sequences_are_gapless_and_verdicts_continue_the_lots_sequence((spec, ops) in any_case()) {
        run(&spec, &ops, &mut SequencesAreGapless)?;
    }

    #[test]
    fn a_rejected_command_emits_only_due_transitions((spec, ops) in any_case()) {
        run(&spec, &ops, &mut RejectionsEmitOnlyDueTransitions)?;
    }

    #[test]
    fn every_sale_creates_its_settlement_in_the_same_step((spec, ops) in any_case()) {
        run(&spec, &ops, &mut SalesAreSettled { spec: &spec })?;
    }

    #[test]
    fn published_events_carry_only_public_fields_and_exact_amounts((spec, ops) in any_case()) {
        run(&spec, &ops, &mut EventsArePublic)?;
    }

    #[test]
    fn every_command_gets_the_verdict_of_the_specs_checks((spec, ops) in any_case()) {
        run(&spec, &ops, &mut VerdictsFollowTheChecks)?;
    }

    #[test]
    fn an_accepted_bid_resolves_by_proxy_and_extends_a_soft_close((spec, ops) in english_case()) {
        run(&spec, &ops, &mut BidsResolveByProxy { spec: &spec })?;
    }

    #[test]
    fn the_credit_hold_is_the_leaders_then_the_pending_winners_and_the_ledger_follows((spec, ops) in (credit_checked_lot(), ops(english_act(), 1))) {
        run(&spec, &ops, &mut HoldsFollowTheLot { spec: &spec, ledger: None })?;
    }
}

proptest! {
    // Fixed-price runs are short and cheap; the edges that matter (a
    // reservation cancelled or lapsing right at the listing end) need the
    // extra cases.
    #![proptest_config(config(3))]

    #[test]
    fn a_fixed_price_lot_has_at_most_one_active_reservation_and_sells_once((spec, ops) in fixed_case()) {
        run(&spec, &ops, &mut ReservationsStayExclusive::default())?;
    }
}
