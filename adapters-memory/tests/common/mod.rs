//! Shared harness of the service test suite (`service_*.rs`): a world of
//! memory adapters around a [`Service`], command builders, a seeded random
//! source, and the checks every suite repeats (log == state, a sequential
//! re-judging of the recorded commands, credit holds == lot state).

// Each test binary uses a part of this module.
#![allow(dead_code, clippy::unwrap_used)]

use hammerfall_adapters_memory::{
    MANUAL_CLOCK_START_SECS, ManualClock, MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore,
    SequentialIds,
};
use hammerfall_engine::testkit::fixtures::bid_records;
use hammerfall_engine::{
    CommandStatus, Ports, Service, ServiceConfig, apply, command_key, create, create_from, judge,
    replay,
};
use hammerfall_ports::{
    Accepted, Actor, BidOutcome, BidRecord, Command, CommandEnvelope, CommandKey, CommandOutcome,
    CommandRecord, CreateLot, CreditLedger, Currency, Cursor, Duration, Lot, LotCommit, LotId,
    LotQuery, LotStore, MAX_PAGE_SIZE, Money, Page, ParticipantId, ReservationId, Roles,
    SequencedEvent, StoreError, Timestamp,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::task::JoinHandle;

// ------------------------------------------------------------ values --

/// Where every suite's clock starts: 2030-01-01T00:00:00Z.
pub fn t0() -> Timestamp {
    Timestamp::from_timestamp(MANUAL_CLOCK_START_SECS, 0).unwrap()
}

#[allow(
    unused_imports,
    reason = "each test binary uses a different part of the shared builders"
)]
pub use hammerfall_engine::testkit::fixtures::{
    bid_envelope as bid, bid_envelope_as as bid_as, cents, cid,
    create_english_envelope as create_english, lot_id as lid, pid,
};

/// `minor` cents of USD.
pub fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

pub fn admin() -> Actor {
    Actor::admin(pid("admin"))
}

// ------------------------------------------------------------- random --

/// SplitMix64: a tiny seeded generator, so every random workload
/// reproduces from its seed (printed by the tests that use one).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform index into a slice of length `n`.
    pub fn index(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).unwrap()
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.below((hi - lo + 1).unsigned_abs())).unwrap()
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }
}

// -------------------------------------------------------------- world --

/// A service and the handles of its spawned workers.
pub struct Running<S, L, P> {
    pub svc: Service<S, L, P>,
    workers: Vec<JoinHandle<()>>,
}

impl<S: LotStore, L: CreditLedger, P: hammerfall_ports::EventPublisher> Running<S, L, P> {
    /// Builds a service over `ports` and spawns its workers.
    pub fn start(ports: Ports<S, L, P>, workers: usize) -> Self {
        let config = ServiceConfig {
            workers,
            ..ServiceConfig::default()
        };
        Self::start_with(ports, config)
    }

    pub fn start_with(ports: Ports<S, L, P>, config: ServiceConfig) -> Self {
        let (svc, futures) = Service::new(ports, config);
        let workers = futures.into_iter().map(tokio::spawn).collect();
        Self { svc, workers }
    }

    /// Drops the service (its caches and pending set with it) and waits
    /// for its workers to finish: a process that went away.
    pub async fn stop(self) {
        let Self { svc, workers } = self;
        drop(svc);
        for w in workers {
            tokio::time::timeout(std::time::Duration::from_secs(30), w)
                .await
                .expect("workers run until every clone of their Service is dropped")
                .unwrap();
        }
    }
}

/// The adapters a service runs on; `restart` builds a new service over the
/// same store, ledger and publisher (everything cached is lost).
pub struct World<S, L, P> {
    pub store: Arc<S>,
    pub ledger: Arc<L>,
    pub publisher: Arc<P>,
    pub clock: ManualClock,
    pub ids: Arc<SequentialIds>,
}

pub type MemWorld = World<MemoryLotStore, MemoryCreditLedger, MemoryEventPublisher>;

impl MemWorld {
    pub fn memory() -> Self {
        World::with(
            MemoryLotStore::new(),
            MemoryCreditLedger::new(),
            MemoryEventPublisher::new(),
        )
    }
}

impl<S: LotStore, L: CreditLedger, P: hammerfall_ports::EventPublisher> World<S, L, P> {
    pub fn with(store: S, ledger: L, publisher: P) -> Self {
        Self {
            store: Arc::new(store),
            ledger: Arc::new(ledger),
            publisher: Arc::new(publisher),
            clock: ManualClock::default(),
            ids: Arc::new(SequentialIds::new()),
        }
    }

    pub fn ports(&self) -> Ports<S, L, P> {
        Ports {
            store: self.store.clone(),
            ledger: self.ledger.clone(),
            publisher: self.publisher.clone(),
            clock: Arc::new(self.clock.clone()),
            ids: self.ids.clone(),
        }
    }

    pub fn start(&self, workers: usize) -> Running<S, L, P> {
        Running::start(self.ports(), workers)
    }

    pub fn now(&self) -> Timestamp {
        hammerfall_ports::Clock::now(&self.clock)
    }
}

// ----------------------------------------------------------- commands --

/// A fixed-price listing by `seller` at `price_minor` cents.
pub fn create_fixed(
    lot: &LotId,
    seller: &str,
    price_minor: i64,
    tune: impl FnOnce(&mut CreateLot),
) -> CommandEnvelope {
    let mut request = CreateLot::fixed_price(
        lot.clone(),
        Actor::seller(pid(seller)),
        "Free chair",
        Currency::USD,
        cents(price_minor),
    );
    tune(&mut request);
    CommandEnvelope::new(
        cid(&format!("create-{lot}")),
        lot.clone(),
        Command::CreateLot(Box::new(request)),
    )
}

pub fn buy_now(lot: &LotId, buyer: &str, key: &str) -> CommandEnvelope {
    CommandEnvelope::new(
        cid(key),
        lot.clone(),
        Command::BuyNow {
            buyer: Actor::bidder(pid(buyer)),
        },
    )
}

pub fn cancel(lot: &LotId, by: Actor, key: &str) -> CommandEnvelope {
    CommandEnvelope::new(cid(key), lot.clone(), Command::CancelLot { by })
}

pub fn pay(lot: &LotId, by: Actor, key: &str) -> CommandEnvelope {
    CommandEnvelope::new(cid(key), lot.clone(), Command::RecordPayment { by })
}

pub fn reserve(lot: &LotId, buyer: &str, reservation: &str, key: &str) -> CommandEnvelope {
    CommandEnvelope::new(
        cid(key),
        lot.clone(),
        Command::Reserve {
            buyer: Actor::bidder(pid(buyer)),
            reservation_id: ReservationId::new(reservation).unwrap(),
        },
    )
}

pub fn complete(lot: &LotId, by: Actor, reservation: &str, key: &str) -> CommandEnvelope {
    CommandEnvelope::new(
        cid(key),
        lot.clone(),
        Command::CompleteReservation {
            by,
            reservation_id: ReservationId::new(reservation).unwrap(),
        },
    )
}

/// A bidder without the `bidder` role (gets `forbidden`).
pub fn non_bidder(who: &str) -> Actor {
    Actor::new(pid(who), Roles::SELLER)
}

// ------------------------------------------------------------ records --

/// The lot's sequence a record names (after an accepted command; at the
/// judging of a rejected one).
pub fn record_sequence(record: &CommandRecord) -> u64 {
    match &record.outcome {
        CommandOutcome::Done { sequence, .. } | CommandOutcome::Rejected { sequence, .. } => {
            *sequence
        }
    }
}

pub fn is_done(record: &CommandRecord) -> bool {
    matches!(record.outcome, CommandOutcome::Done { .. })
}

/// Where a record's command stands in its lot's order: by sequence, and an
/// accepted command (which produced that sequence) before the rejected
/// ones judged at it.
pub fn order_key(record: &CommandRecord) -> (u64, u8) {
    (record_sequence(record), u8::from(!is_done(record)))
}

/// The rejection code of a record, or "done".
pub fn code(record: &CommandRecord) -> &'static str {
    match &record.outcome {
        CommandOutcome::Done { .. } => "done",
        CommandOutcome::Rejected { rejection, .. } => rejection.code(),
    }
}

/// The stored record of an envelope.
pub async fn stored_record<S: LotStore>(store: &S, envelope: &CommandEnvelope) -> CommandRecord {
    store
        .command(&command_key(envelope))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no record for {:?}", envelope.command_id))
}

/// Waits until an asynchronously submitted command is recorded.
pub async fn await_recorded<S: LotStore, L: CreditLedger, P: hammerfall_ports::EventPublisher>(
    svc: &Service<S, L, P>,
    key: &CommandKey,
) -> CommandRecord {
    for _ in 0..100_000 {
        match svc.status(key).await.unwrap() {
            Some(CommandStatus::Recorded(record)) => return *record,
            Some(CommandStatus::Pending) => {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            None => panic!("command {key:?} is neither pending nor recorded"),
        }
    }
    panic!("command {key:?} was never recorded")
}

// -------------------------------------------------------------- reads --

pub async fn all_events<S: LotStore>(store: &S, lot: &LotId) -> Vec<SequencedEvent> {
    let mut out: Vec<SequencedEvent> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.sequence);
        let page = store.events_after(lot, after, MAX_PAGE_SIZE).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

pub async fn all_bids<S: LotStore>(store: &S, lot: &LotId) -> Vec<BidRecord> {
    let mut out = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .bids(lot, cursor.as_ref(), MAX_PAGE_SIZE)
            .await
            .unwrap();
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

pub async fn load<S: LotStore>(store: &S, lot: &LotId) -> Lot {
    store
        .load(lot)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("lot {lot} is not stored"))
}

/// Check (a): the log is gapless from 1, replaying it gives the stored
/// state, and the bid history is exactly the log's `BidAccepted` events.
/// Returns the stored lot.
pub async fn assert_log_is_state<S: LotStore>(store: &S, lot_id: &LotId) -> Lot {
    let lot = load(store, lot_id).await;
    let events = all_events(store, lot_id).await;
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    let expected: Vec<u64> = (1..=lot.sequence).collect();
    assert_eq!(sequences, expected, "lot {lot_id}: the log is not gapless");
    let replayed = replay(lot_id.clone(), &events).unwrap();
    assert_eq!(replayed, lot, "lot {lot_id}: replay of the log != state");
    assert_eq!(
        all_bids(store, lot_id).await,
        bid_records(&events),
        "lot {lot_id}: bid history != the log's accepted bids"
    );
    lot
}

/// Check (b): re-judges a lot's recorded commands one after another with
/// the pure engine, in recorded order, from its creation. Every outcome
/// and every event must come out as recorded and stored, and the final lot
/// must equal the stored one: the concurrent run equals a sequential one.
/// (For lots without credit checks: rule 9 is the service's, not judge's.)
pub async fn assert_sequential_rejudge<S: LotStore>(
    store: &S,
    lot_id: &LotId,
    mut records: Vec<CommandRecord>,
) {
    records.sort_by_key(order_key);
    let stored_events = all_events(store, lot_id).await;
    let mut records = records.into_iter();
    let creation = records.next().expect("no creation record");
    let Command::CreateLot(request) = &creation.command else {
        panic!("lot {lot_id}: the first record is not its creation: {creation:?}");
    };
    let events = create(request, creation.recorded_at).unwrap();
    let mut lot = create_from(lot_id.clone(), &events[0]).unwrap();
    for e in &events[1..] {
        apply(&mut lot, e).unwrap();
    }
    let mut log: Vec<SequencedEvent> = events.into_vec();
    assert_eq!(record_sequence(&creation), lot.sequence);
    for record in records {
        let verdict = judge(&lot, &record.command, record.recorded_at);
        for e in &verdict.events {
            apply(&mut lot, e).unwrap();
        }
        log.extend(verdict.events.iter().cloned());
        match (&verdict.outcome, &record.outcome) {
            (Ok(()), CommandOutcome::Done { result, sequence }) => {
                assert_eq!(*sequence, lot.sequence, "lot {lot_id}: {record:?}");
                assert_eq!(*result, expected_result(&record.command, &lot));
            }
            (
                Err(r),
                CommandOutcome::Rejected {
                    rejection,
                    sequence,
                },
            ) => {
                assert_eq!(r, rejection, "lot {lot_id}: {record:?}");
                assert_eq!(*sequence, lot.sequence, "lot {lot_id}: {record:?}");
            }
            (got, _) => panic!(
                "lot {lot_id}: sequential re-judging gives {got:?} for {:?}, recorded {:?}",
                record.key.command_id, record.outcome
            ),
        }
    }
    assert_eq!(log, stored_events, "lot {lot_id}: re-judged events != log");
    assert_eq!(lot, load(store, lot_id).await, "lot {lot_id}: final state");
}

fn expected_result(command: &Command, lot: &Lot) -> Accepted {
    match command {
        Command::PlaceBid(b) => {
            let leads = lot
                .english()
                .and_then(|(_, s)| s.leader.as_ref())
                .is_some_and(|l| l.bidder_id == b.bidder.participant_id);
            Accepted::Bid {
                bid_id: b.bid_id.clone(),
                outcome: if leads {
                    BidOutcome::Leading
                } else {
                    BidOutcome::Outbid
                },
                your_maximum: Money::new(b.amount, lot.currency()).unwrap(),
            }
        }
        Command::Reserve { reservation_id, .. } => Accepted::Reservation {
            reservation_id: reservation_id.clone(),
        },
        _ => Accepted::Lot,
    }
}

// ------------------------------------------------------------- credit --

/// Each participant's credit must be what the lots require: `held` = the
/// sum over `lots` of `required_hold` for them, `available` = limit −
/// held (never negative), and the limit as `limits` expects.
pub async fn assert_credit_matches_lots<S: LotStore, L: CreditLedger>(
    store: &S,
    ledger: &L,
    lots: &[LotId],
    limits: &HashMap<ParticipantId, Money>,
    context: &str,
) {
    let mut required: HashMap<ParticipantId, Money> = HashMap::new();
    for lot_id in lots {
        if let Some(lot) = store.load(lot_id).await.unwrap()
            && let Some(hold) = hammerfall_engine::credit::required_hold(&lot)
        {
            let sum = required
                .entry(hold.participant.clone())
                .or_insert(Money::zero(lot.currency()));
            *sum = sum.plus(hold.amount);
        }
    }
    for (who, limit) in limits {
        let view = ledger.credit(who).await.unwrap().unwrap();
        let held = required
            .get(who)
            .copied()
            .unwrap_or(Money::zero(view.currency));
        assert_eq!(view.held, held, "{context}: {who}'s held");
        assert_eq!(view.limit, *limit, "{context}: {who}'s limit");
        assert_eq!(
            view.available,
            limit.saturating_minus(held),
            "{context}: {who}'s available"
        );
        assert!(
            view.held <= view.limit,
            "{context}: {who} holds more than the limit: {view:?}"
        );
    }
}

/// A participant's `held`.
pub async fn held<L: CreditLedger>(ledger: &L, who: &str) -> Money {
    ledger.credit(&pid(who)).await.unwrap().unwrap().held
}

/// A participant's `(limit, held, available)`.
pub async fn credit_of<L: CreditLedger>(ledger: &L, who: &str) -> (Money, Money, Money) {
    let v = ledger.credit(&pid(who)).await.unwrap().unwrap();
    (v.limit, v.held, v.available)
}

// ------------------------------------------------------ counting store --

/// A store that counts the compare-and-set conflicts its commits met.
pub struct CountingStore<S> {
    pub inner: S,
    pub conflicts: AtomicU64,
    pub commits: AtomicU64,
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            conflicts: AtomicU64::new(0),
            commits: AtomicU64::new(0),
        }
    }

    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }
}

impl<S: LotStore> LotStore for CountingStore<S> {
    async fn load(&self, lot_id: &LotId) -> Result<Option<Lot>, StoreError> {
        self.inner.load(lot_id).await
    }
    async fn commit(&self, batch: Vec<LotCommit>) -> Vec<Result<(), StoreError>> {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let results = self.inner.commit(batch).await;
        let conflicts = results
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(StoreError::Conflict { .. } | StoreError::DuplicateCommand(_))
                )
            })
            .count();
        self.conflicts
            .fetch_add(conflicts as u64, Ordering::Relaxed);
        results
    }
    async fn command(&self, key: &CommandKey) -> Result<Option<CommandRecord>, StoreError> {
        self.inner.command(key).await
    }
    async fn events_after(
        &self,
        lot_id: &LotId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedEvent>, StoreError> {
        self.inner.events_after(lot_id, after, limit).await
    }
    async fn bids(
        &self,
        lot_id: &LotId,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<BidRecord>, StoreError> {
        self.inner.bids(lot_id, cursor, limit).await
    }
    async fn lots(&self, query: &LotQuery) -> Result<Page<Lot>, StoreError> {
        self.inner.lots(query).await
    }
    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<LotId>, StoreError> {
        self.inner.due(now, limit).await
    }
}

/// `hours` hours.
pub fn hours(h: i64) -> Duration {
    Duration::hours(h)
}
