//! The application service on the AWS adapters (moto): commands through
//! SQS FIFO with lost acknowledgements end exactly as an exactly-once run;
//! two engines over one table lose no update. Needs HAMMERFALL_AWS_ENDPOINT
//! (start moto with `scripts/moto`; `scripts/test` does it).

mod common;

use common::*;
use hammerfall_adapters_aws::{DynamoLotStore, SqsCommandQueue};
use hammerfall_adapters_memory::{
    ManualClock, MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore, SequentialIds,
};
use hammerfall_engine::credit::required_hold;
use hammerfall_engine::{Ports, Service, ServiceConfig, Worker};
use hammerfall_ports::{
    Accepted, Clock, CommandEnvelope, CommandOutcome, CommandQueue, CreditLedger, Currency,
    Delivery, Duration, Event, LotId, LotStore, MAX_QUEUE_BATCH, Money, QueueError, Receipt,
    StoreError,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Visibility timeout of the test queue (SQS time is real time).
const VISIBILITY_SECS: u32 = 1;
/// How long a test may take to drain its queue before it is declared stuck.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn spawn_all(workers: Vec<Worker>) -> Vec<tokio::task::JoinHandle<()>> {
    workers.into_iter().map(tokio::spawn).collect()
}

fn ports<S: LotStore, L: CreditLedger>(
    store: Arc<S>,
    ledger: Arc<L>,
    clock: &ManualClock,
) -> Ports<S, L, MemoryEventPublisher> {
    Ports {
        store,
        ledger,
        publisher: Arc::new(MemoryEventPublisher::new()),
        clock: Arc::new(clock.clone()),
        ids: Arc::new(SequentialIds::new()),
    }
}

fn one_worker() -> ServiceConfig {
    ServiceConfig {
        workers: 1,
        ..ServiceConfig::default()
    }
}

// ------------------------------------------------------- redelivery --

/// The SQS queue, with a consumer that "crashes" before acknowledging a
/// message until it has been delivered the number of times planned for it
/// (1 or 2): the ack is lost, SQS delivers it again after the visibility
/// timeout.
struct LosingAcks {
    inner: SqsCommandQueue,
    state: Mutex<AckState>,
}

#[derive(Default)]
struct AckState {
    /// Deliveries each message needs before its ack goes through.
    planned: HashMap<String, u32>,
    receipts: HashMap<Receipt, (String, u32)>,
    delivered: HashMap<String, u32>,
    acked: HashSet<String>,
}

fn message_id(envelope: &CommandEnvelope) -> String {
    format!("{}/{}", envelope.lot_id, envelope.command_id)
}

impl CommandQueue for LosingAcks {
    async fn send(&self, batch: &[CommandEnvelope]) -> Result<(), QueueError> {
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            for envelope in batch {
                // Every third message is delivered twice.
                let planned = if state.planned.len() % 3 == 1 { 2 } else { 1 };
                state.planned.insert(message_id(envelope), planned);
            }
        }
        self.inner.send(batch).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let got = self.inner.receive(max, wait).await?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for d in &got {
            let id = message_id(&d.envelope);
            *state.delivered.entry(id.clone()).or_insert(0) += 1;
            state
                .receipts
                .insert(d.receipt.clone(), (id, d.receive_count));
        }
        Ok(got)
    }

    async fn ack(&self, receipts: &[Receipt]) -> Result<(), QueueError> {
        let through: Vec<Receipt> = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let mut through = Vec::new();
            for r in receipts {
                let Some((id, count)) = state.receipts.remove(r) else {
                    continue;
                };
                if count >= state.planned.get(&id).copied().unwrap_or(1) {
                    state.acked.insert(id);
                    through.push(r.clone());
                }
            }
            through
        };
        self.inner.ack(&through).await
    }

    async fn set_visibility(&self, receipt: &Receipt, delay: Duration) -> Result<(), QueueError> {
        self.inner.set_visibility(receipt, delay).await
    }
}

/// Four lots, each created then bid on (some bids too low, one by the
/// seller), interleaved across lots; each lot's commands in order.
fn workload(ends_at: hammerfall_ports::Timestamp) -> (Vec<LotId>, Vec<CommandEnvelope>) {
    let lots: Vec<LotId> = (0..4).map(|i| lid(&format!("r-{i}"))).collect();
    let mut per_lot: Vec<Vec<CommandEnvelope>> = lots
        .iter()
        .map(|lot| vec![create_english(lot, "sam", ends_at)])
        .collect();
    let bidders = ["ann", "bob", "cat", "sam"];
    for (i, lot) in lots.iter().enumerate() {
        for n in 0..6_i64 {
            let who = bidders[(i + usize::try_from(n).unwrap_or(0)) % 4];
            // 9.00 is below the start: rejected (and recorded).
            let amount = if n == 2 { 900 } else { 1500 + 700 * n };
            per_lot[i].push(bid(lot, who, cents(amount), &format!("m{i}-{n}")));
        }
    }
    let mut order = Vec::new();
    for n in 0..7 {
        for commands in &per_lot {
            order.push(commands[n].clone());
        }
    }
    (lots, order)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_redelivered_through_sqs_fifo_end_as_an_exactly_once_run() {
    let clock = ManualClock::default();
    let (lots, envelopes) = workload(clock.now() + Duration::hours(1));

    // The oracle: each command submitted once, in memory.
    let oracle_store = Arc::new(MemoryLotStore::new());
    let (oracle, workers) = Service::new(
        ports(
            oracle_store.clone(),
            Arc::new(MemoryCreditLedger::new()),
            &clock,
        ),
        one_worker(),
    );
    let handles = spawn_all(workers);
    for e in &envelopes {
        oracle
            .submit(e.clone())
            .await
            .unwrap_or_else(|err| panic!("oracle: {err}"));
    }
    drop(oracle);
    for h in handles {
        h.await.unwrap_or_else(|e| panic!("{e}"));
    }

    let settings = settings();
    let store = Arc::new(fresh_store(&settings.dynamodb().await).await);
    let sqs = settings.sqs().await;
    let (inner, urls) = fresh_queue(&sqs, VISIBILITY_SECS).await;
    let queue = LosingAcks {
        inner,
        state: Mutex::default(),
    };
    for chunk in envelopes.chunks(MAX_QUEUE_BATCH) {
        queue
            .send(chunk)
            .await
            .unwrap_or_else(|e| panic!("send: {e}"));
    }
    let (svc, workers) = Service::new(ports(store.clone(), store.clone(), &clock), one_worker());
    let handles = spawn_all(workers);
    let started = std::time::Instant::now();
    let mut judged = 0;
    loop {
        let acked = queue
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .acked
            .len();
        if acked == envelopes.len() {
            break;
        }
        assert!(
            started.elapsed() < DRAIN_TIMEOUT,
            "the queue did not drain: {acked} acked"
        );
        let report = svc
            .consume(&queue, Duration::zero())
            .await
            .unwrap_or_else(|e| panic!("consume: {e}"));
        judged += report.judged;
        if report.judged + report.retried == 0 {
            // Only hidden messages left: let their visibility run out.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    drop(svc);
    for h in handles {
        h.await.unwrap_or_else(|e| panic!("{e}"));
    }

    let twice = {
        let state = queue.state.lock().unwrap_or_else(|e| e.into_inner());
        state.delivered.values().filter(|n| **n >= 2).count()
    };
    assert!(twice >= envelopes.len() / 4, "redelivered: {twice}");
    assert_eq!(judged, envelopes.len() + twice, "every delivery was judged");
    assert_eq!(
        messages_in(&sqs, &urls.queue_url).await,
        0,
        "the queue is empty"
    );
    assert_eq!(
        messages_in(&sqs, &urls.dead_letter_url).await,
        0,
        "nothing dead-lettered"
    );
    for lot in &lots {
        assert_eq!(
            load(&*store, lot).await,
            load(&*oracle_store, lot).await,
            "lot {lot}"
        );
        assert_eq!(
            all_events(&*store, lot).await,
            all_events(&*oracle_store, lot).await,
            "lot {lot}: events"
        );
        assert_log_is_state(&*store, lot).await;
    }
    for e in &envelopes {
        assert_eq!(
            stored_record(&*store, e).await,
            stored_record(&*oracle_store, e).await,
            "record of {}",
            message_id(e)
        );
    }
}

// ------------------------------------------------------- two engines --

/// A store that counts the compare-and-set conflicts it reports.
struct Counting {
    inner: DynamoLotStore,
    conflicts: AtomicUsize,
}

impl LotStore for Counting {
    async fn load(&self, lot: &LotId) -> Result<Option<hammerfall_ports::Lot>, StoreError> {
        self.inner.load(lot).await
    }

    async fn commit(&self, batch: Vec<hammerfall_ports::LotCommit>) -> Vec<Result<(), StoreError>> {
        let results = self.inner.commit(batch).await;
        let lost = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict { .. })))
            .count();
        self.conflicts.fetch_add(lost, Ordering::Relaxed);
        results
    }

    async fn command(
        &self,
        key: &hammerfall_ports::CommandKey,
    ) -> Result<Option<hammerfall_ports::CommandRecord>, StoreError> {
        self.inner.command(key).await
    }

    async fn events_after(
        &self,
        lot: &LotId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<hammerfall_ports::SequencedEvent>, StoreError> {
        self.inner.events_after(lot, after, limit).await
    }

    async fn bids(
        &self,
        lot: &LotId,
        cursor: Option<&hammerfall_ports::Cursor>,
        limit: usize,
    ) -> Result<hammerfall_ports::Page<hammerfall_ports::BidRecord>, StoreError> {
        self.inner.bids(lot, cursor, limit).await
    }

    async fn lots(
        &self,
        query: &hammerfall_ports::LotQuery,
    ) -> Result<hammerfall_ports::Page<hammerfall_ports::Lot>, StoreError> {
        self.inner.lots(query).await
    }

    async fn due(
        &self,
        now: hammerfall_ports::Timestamp,
        limit: usize,
    ) -> Result<Vec<LotId>, StoreError> {
        self.inner.due(now, limit).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_bidding_on_one_lot_lose_no_update() {
    let settings = settings();
    let table = fresh_store(&settings.dynamodb().await)
        .await
        .table()
        .to_owned();
    // Two processes: their own clients, stores and caches, one table.
    let engine = |clock: &ManualClock| {
        let clock = clock.clone();
        let settings = settings.clone();
        let table = table.clone();
        async move {
            let store = Arc::new(Counting {
                inner: DynamoLotStore::connect(&settings, table).await,
                conflicts: AtomicUsize::new(0),
            });
            let ledger = Arc::new(DynamoLotStore::connect(&settings, table_name(&store)).await);
            let (svc, workers) = Service::new(ports(store.clone(), ledger, &clock), one_worker());
            (svc, spawn_all(workers), store)
        }
    };
    fn table_name(store: &Counting) -> String {
        store.inner.table().to_owned()
    }
    let clock = ManualClock::default();
    let (a, a_workers, a_store) = engine(&clock).await;
    let (b, b_workers, b_store) = engine(&clock).await;

    let lot = lid("contested");
    let mut create = create_english(&lot, "sam", clock.now() + Duration::hours(1));
    if let hammerfall_ports::Command::CreateLot(c) = &mut create.command {
        c.credit_check = Some(true);
    }
    for who in ["ann", "bob", "cat"] {
        a.set_credit_limit(
            &pid(who),
            Money::from_minor(1_000_000, Currency::USD),
            Currency::USD,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|r| panic!("{r:?}"));
    }
    a.submit(create)
        .await
        .unwrap_or_else(|e| panic!("create: {e}"));

    // Each round, both engines bid at once: each caches the lot, so one of
    // them judges on a stale state, loses the compare-and-set, reloads and
    // judges again.
    let mut sent = Vec::new();
    let mut responses = Vec::new();
    for round in 0..8_i64 {
        let on_a = bid(
            &lot,
            ["ann", "cat"][usize::try_from(round % 2).unwrap_or(0)],
            cents(2000 + 300 * round),
            &format!("a{round}"),
        );
        let on_b = bid(&lot, "bob", cents(2100 + 300 * round), &format!("b{round}"));
        let (ra, rb) = tokio::join!(a.submit(on_a.clone()), b.submit(on_b.clone()));
        for (e, r) in [(on_a, ra), (on_b, rb)] {
            let response = r.unwrap_or_else(|err| panic!("{}: {err}", e.command_id));
            sent.push(e);
            responses.push(response);
        }
    }
    let conflicts =
        a_store.conflicts.load(Ordering::Relaxed) + b_store.conflicts.load(Ordering::Relaxed);
    assert!(conflicts > 0, "the engines raced (conflicts: {conflicts})");

    let store = &a_store.inner;
    let stored = assert_log_is_state(store, &lot).await;
    let events = all_events(store, &lot).await;
    let bids = all_bids(store, &lot).await;
    let accepted: Vec<_> = responses
        .iter()
        .filter_map(|r| match &r.record.outcome {
            CommandOutcome::Done {
                result: Accepted::Bid { bid_id, .. },
                ..
            } => Some(bid_id.clone()),
            _ => None,
        })
        .collect();
    assert!(
        accepted.len() >= 8,
        "most bids are accepted: {}",
        accepted.len()
    );
    let logged: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::BidAccepted(b) => Some(b.bid_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        logged.len(),
        accepted.len(),
        "one BidAccepted per accepted bid: logged {logged:?}, answered {accepted:?}"
    );
    for id in &accepted {
        assert!(logged.contains(id), "accepted bid {id} is in the log");
        assert!(
            bids.iter().any(|b| &b.bid_id == id),
            "accepted bid {id} is in the history"
        );
    }
    for (e, r) in sent.iter().zip(&responses) {
        assert_eq!(
            &stored_record(store, e).await,
            &r.record,
            "{}",
            e.command_id
        );
    }
    // Credit: only the leader holds, and exactly what the lot requires.
    let hold = required_hold(&stored).unwrap_or_else(|| panic!("the lot has a leader"));
    for who in ["ann", "bob", "cat"] {
        let view = store
            .credit(&pid(who))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("{who} has credit"));
        let expected = if hold.participant == pid(who) {
            hold.amount
        } else {
            Money::zero(Currency::USD)
        };
        assert_eq!(view.held, expected, "{who}'s hold");
    }

    drop((a, b));
    for h in a_workers.into_iter().chain(b_workers) {
        h.await.unwrap_or_else(|e| panic!("{e}"));
    }
}
