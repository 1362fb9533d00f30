//! Valid lots, commits and envelopes for the contract checks, built with
//! the engine itself (`create`, `judge`, `apply`), so every commit a check
//! writes is one the real service could write.

use crate::{apply, create, create_from, judge};
use hammerfall_ports::{
    Accepted, Actor, BidId, BidRecord, Command, CommandEnvelope, CommandId, CommandKey,
    CommandOutcome, CommandRecord, CreateLot, Currency, Decimal, Duration, EventEnvelope,
    IdGenerator, Lot, LotCommit, LotId, Money, ParticipantId, PlaceBid, SequencedEvent, Timestamp,
};

/// The instant every check starts from: 2030-01-01T00:00:00Z, fixed so that
/// failures reproduce.
pub const T0_SECS: i64 = 1_893_456_000;
/// How long the lots the checks create run.
pub const LOT_DURATION_HOURS: i64 = 24;

/// [`T0_SECS`] as a timestamp.
pub fn t0() -> Timestamp {
    Timestamp::from_timestamp(T0_SECS, 0).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `t0()` plus `secs` seconds.
pub fn at(secs: i64) -> Timestamp {
    t0() + Duration::seconds(secs)
}

/// A lot id.
///
/// # Panics
/// If `s` is not a valid id (a bug in the check).
pub fn lot_id(s: &str) -> LotId {
    LotId::new(s).unwrap_or_else(|e| panic!("bad test lot id {s:?}: {e}"))
}

/// A participant id. Panics as [`lot_id`] does.
pub fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap_or_else(|e| panic!("bad test participant id {s:?}: {e}"))
}

/// A command id. Panics as [`lot_id`] does.
pub fn cid(s: &str) -> CommandId {
    CommandId::new(s).unwrap_or_else(|e| panic!("bad test command id {s:?}: {e}"))
}

/// `minor` minor units of USD (`usd(1250)` is 12.50).
pub fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

/// A lot as committed: the commit that wrote it and the state after it.
#[derive(Debug, Clone)]
pub struct Step {
    /// What to hand to `LotStore::commit`.
    pub commit: LotCommit,
    /// The lot after the commit (the state before, for a pure rejection).
    pub lot: Lot,
}

/// The command id a lot's creation is recorded under in the checks.
pub fn creation_key(seller: &str, lot: &str) -> CommandKey {
    CommandKey {
        lot_id: None,
        submitter: Some(pid(seller)),
        command_id: cid(&format!("create-{lot}")),
    }
}

/// The creation of an English lot by `seller` at `now`, running from
/// `starts_at` (None: now) to `ends_at`.
///
/// # Panics
/// If the engine refuses the lot (a bug in the check).
pub fn english_lot(
    lot: &str,
    seller: &str,
    now: Timestamp,
    starts_at: Option<Timestamp>,
    ends_at: Timestamp,
) -> Step {
    let mut request = CreateLot::english(
        lot_id(lot),
        Actor::seller(pid(seller)),
        format!("Contract lot {lot}"),
        Currency::USD,
        Decimal::new(1000, 2),
        ends_at,
    );
    request.starts_at = starts_at;
    created(request, now)
}

/// The creation of a fixed-price lot by `seller` at `now`. Panics as
/// [`english_lot`] does.
pub fn fixed_price_lot(lot: &str, seller: &str, now: Timestamp) -> Step {
    let request = CreateLot::fixed_price(
        lot_id(lot),
        Actor::seller(pid(seller)),
        format!("Contract listing {lot}"),
        Currency::USD,
        Decimal::new(500, 2),
    );
    created(request, now)
}

fn created(request: CreateLot, now: Timestamp) -> Step {
    let id = request.lot_id.clone();
    let seller = request.seller.participant_id.to_string();
    let events = create(&request, now)
        .unwrap_or_else(|r| panic!("the engine refused a contract lot: {r:?}"));
    let mut state = create_from(id.clone(), &events[0])
        .unwrap_or_else(|e| panic!("LotCreated does not fold: {e}"));
    for event in &events[1..] {
        apply(&mut state, event).unwrap_or_else(|e| panic!("creation does not fold: {e}"));
    }
    let record = CommandRecord {
        key: creation_key(&seller, id.as_str()),
        lot_id: id.clone(),
        command: Command::CreateLot(Box::new(request)),
        outcome: CommandOutcome::Done {
            result: Accepted::Lot,
            sequence: state.sequence,
        },
        recorded_at: now,
    };
    Step {
        commit: LotCommit {
            lot_id: id,
            expected_sequence: 0,
            lot: Some(state.clone()),
            events: events.into_vec(),
            bids: Vec::new(),
            commands: vec![record],
        },
        lot: state,
    }
}

/// A bid command: `bidder` bids a maximum of `amount_minor` cents.
pub fn bid_command(bidder: &str, amount_minor: i64, bid_id: &str) -> Command {
    Command::PlaceBid(PlaceBid {
        bidder: Actor::bidder(pid(bidder)),
        amount: Decimal::new(amount_minor, 2),
        currency: None,
        bid_id: BidId::new(bid_id).unwrap_or_else(|e| panic!("bad test bid id: {e}")),
    })
}

/// Judges `command` on `lot` at `now` and builds the commit the service
/// would write: events, the new state, bid records and the command's
/// idempotency record under `command_id` (accepted or rejected).
///
/// # Panics
/// If the events do not fold (an engine bug).
pub fn step(lot: &Lot, command: Command, command_id: &str, now: Timestamp) -> Step {
    let verdict = judge(lot, &command, now);
    let mut after = lot.clone();
    for event in &verdict.events {
        apply(&mut after, event).unwrap_or_else(|e| panic!("decided events do not fold: {e}"));
    }
    let bids = bid_records(&verdict.events);
    let outcome = match &verdict.outcome {
        Ok(()) => CommandOutcome::Done {
            result: accepted(&command, &after),
            sequence: after.sequence,
        },
        Err(rejection) => CommandOutcome::Rejected {
            rejection: rejection.clone(),
            sequence: after.sequence,
        },
    };
    let record = CommandRecord {
        key: CommandKey {
            lot_id: Some(lot.lot_id.clone()),
            submitter: command.actor().map(|a| a.participant_id.clone()),
            command_id: cid(command_id),
        },
        lot_id: lot.lot_id.clone(),
        command,
        outcome,
        recorded_at: now,
    };
    let changed = !verdict.events.is_empty();
    Step {
        commit: LotCommit {
            lot_id: lot.lot_id.clone(),
            expected_sequence: lot.sequence,
            lot: changed.then(|| after.clone()),
            events: verdict.events.into_vec(),
            bids,
            commands: vec![record],
        },
        lot: after,
    }
}

fn accepted(command: &Command, after: &Lot) -> Accepted {
    crate::service::records::accepted_result(command, after)
}

/// The bid history records of `events`' `BidAccepted` events (as the
/// service writes them).
pub fn bid_records(events: &[SequencedEvent]) -> Vec<BidRecord> {
    let mut out = Vec::new();
    crate::service::records::bid_records(events, &mut out);
    out
}

/// `count` bids on `lot`, by two bidders taking turns, each a dollar above
/// the last, one minute apart from `now`: the steps in order.
pub fn bidding_war(lot: &Lot, count: u32, now: Timestamp) -> Vec<Step> {
    let mut state = lot.clone();
    let mut steps = Vec::new();
    for i in 0..count {
        let bidder = if i % 2 == 0 { "bidder-a" } else { "bidder-b" };
        let amount = 2_000 + 100 * i64::from(i);
        let command = bid_command(bidder, amount, &format!("{}-bid-{i}", lot.lot_id));
        let next = step(
            &state,
            command,
            &format!("{}-cmd-{i}", lot.lot_id),
            now + Duration::minutes(i64::from(i)),
        );
        state = next.lot.clone();
        steps.push(next);
    }
    steps
}

/// The public envelopes of a step's events.
pub fn envelopes(step: &Step) -> Vec<EventEnvelope> {
    step.commit
        .events
        .iter()
        .map(|e| EventEnvelope::new(step.commit.lot_id.clone(), e.clone()))
        .collect()
}

/// A queued command: `submitter` places a bid on `lot` under `command_id`.
pub fn queued_bid(lot: &str, submitter: &str, command_id: &str) -> CommandEnvelope {
    CommandEnvelope::new(
        cid(command_id),
        lot_id(lot),
        bid_command(submitter, 2_000, &format!("{lot}-{command_id}")),
    )
}

/// The creation of a lot for benches and load runs: English, in USD,
/// starting at 1.00, ending 30 days after `now`, sold by `seller`, its lot
/// and command ids from `ids`. Every bench that bids on many lots creates
/// them with this, so their figures are for the same lots.
pub fn bench_lot_creation(
    ids: &dyn IdGenerator,
    seller: &Actor,
    now: Timestamp,
) -> (LotId, CommandEnvelope) {
    let lot_id = ids.lot_id();
    let create = CreateLot::english(
        lot_id.clone(),
        seller.clone(),
        "Bench lot",
        Currency::USD,
        Decimal::new(100, 2),
        now + Duration::days(30),
    );
    let envelope = CommandEnvelope::new(
        ids.command_id(),
        lot_id.clone(),
        Command::CreateLot(Box::new(create)),
    );
    (lot_id, envelope)
}

/// `minor` hundredths as a decimal (`cents(1250)` is 12.50): a command's
/// amount, before the lot's currency gives it its scale.
pub fn cents(minor: i64) -> Decimal {
    Decimal::new(minor, 2)
}

/// The creation of an English lot by `seller`, starting at 10.00 USD and
/// ending at `ends_at`; `tune` sets the optional terms. Its command id is
/// `create-<lot>`. The service tests of every adapter submit this.
pub fn create_english_envelope(
    lot: &LotId,
    seller: &str,
    ends_at: Timestamp,
    tune: impl FnOnce(&mut CreateLot),
) -> CommandEnvelope {
    let mut request = CreateLot::english(
        lot.clone(),
        Actor::seller(pid(seller)),
        "Lamp",
        Currency::USD,
        cents(1000),
        ends_at,
    );
    tune(&mut request);
    CommandEnvelope::new(
        cid(&format!("create-{lot}")),
        lot.clone(),
        Command::CreateLot(Box::new(request)),
    )
}

/// `bidder` bids a maximum of `amount` under command id `key`; the bid id
/// is derived from lot and key, so a twin run gets the same one.
pub fn bid_envelope_as(lot: &LotId, bidder: Actor, amount: Decimal, key: &str) -> CommandEnvelope {
    CommandEnvelope::new(
        cid(key),
        lot.clone(),
        Command::PlaceBid(PlaceBid {
            bidder,
            amount,
            currency: None,
            bid_id: BidId::new(format!("bid.{lot}.{key}"))
                .unwrap_or_else(|e| panic!("bad test bid id: {e}")),
        }),
    )
}

/// [`bid_envelope_as`] by the bidder `bidder`.
pub fn bid_envelope(lot: &LotId, bidder: &str, amount: Decimal, key: &str) -> CommandEnvelope {
    bid_envelope_as(lot, Actor::bidder(pid(bidder)), amount, key)
}
