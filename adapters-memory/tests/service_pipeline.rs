//! A shard judges its next batch while the previous one commits (engine
//! `service::committer`). These tests hold a commit at a gate, let the
//! shard judge the next batch of the same lot on the state the held commit
//! is about to write, then make the held commit fail: the batch judged on
//! top of it must not be committed, every command must be judged again in
//! its order on what the store really holds, and nothing half-done may be
//! acknowledged.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use hammerfall_adapters_memory::{
    FaultyStore, MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore, StoreFault, StoreOp,
};
use hammerfall_engine::{ServiceConfig, ServiceError};
use hammerfall_ports::{
    BidRecord, CommandKey, CommandRecord, Cursor, Lot, LotCommit, LotId, LotQuery, LotStore, Page,
    SequencedEvent, StoreError, Timestamp,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// A store whose commits wait at a gate while it is closed; counts the
/// commits that reached it.
struct GatedStore<S> {
    inner: S,
    closed: AtomicBool,
    gate: Semaphore,
    waiting: AtomicU64,
}

impl<S> GatedStore<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            closed: AtomicBool::new(false),
            gate: Semaphore::new(0),
            waiting: AtomicU64::new(0),
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Opens the gate for good: held commits and later ones pass.
    fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    /// Waits until `n` commits wait at the gate.
    async fn until_waiting(&self, n: u64) {
        for _ in 0..10_000 {
            if self.waiting.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("no commit reached the gate");
    }
}

impl<S: LotStore> LotStore for GatedStore<S> {
    async fn load(&self, lot_id: &LotId) -> Result<Option<Lot>, StoreError> {
        self.inner.load(lot_id).await
    }
    async fn commit(&self, batch: Vec<LotCommit>) -> Vec<Result<(), StoreError>> {
        if self.closed.load(Ordering::SeqCst) {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            self.gate.acquire().await.unwrap().forget();
        }
        self.inner.commit(batch).await
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

type Gated = GatedStore<FaultyStore<MemoryLotStore>>;
type GatedWorld = World<Gated, MemoryCreditLedger, MemoryEventPublisher>;

fn gated_world() -> GatedWorld {
    World::with(
        GatedStore::new(FaultyStore::new(MemoryLotStore::new())),
        MemoryCreditLedger::new(),
        MemoryEventPublisher::new(),
    )
}

fn one_worker() -> ServiceConfig {
    ServiceConfig {
        workers: 1,
        ..ServiceConfig::default()
    }
}

/// Holds a bid's commit at the gate, lets two more bids on the same lot be
/// judged on the state it is about to write, then fails the held commit
/// with `fault`. Returns the three outcomes, the store, and the commit
/// calls the faulty store saw from the held commit on.
async fn fail_under_a_judged_batch(
    fault: StoreFault,
) -> (
    Vec<Result<hammerfall_engine::Response, ServiceError>>,
    GatedWorld,
    LotId,
    u64,
) {
    let world = gated_world();
    let running = Running::start_with(world.ports(), one_worker());
    let svc = running.svc.clone();
    let lot = lid("lot-1");
    let created = svc
        .submit(create_english(&lot, "sam", t0() + hours(1), |_| {}))
        .await
        .unwrap();
    assert_eq!(code(&created.record), "done");

    world.store.close();
    let first = tokio::spawn({
        let svc = svc.clone();
        let lot = lot.clone();
        async move { svc.submit(bid(&lot, "ann", cents(5_000), "k1")).await }
    });
    world.store.until_waiting(1).await;
    // Judged while the first bid's commit waits: on the state it writes.
    let later = tokio::spawn({
        let svc = svc.clone();
        let lot = lot.clone();
        async move {
            svc.submit_many(vec![
                bid(&lot, "bob", cents(6_000), "k2"),
                bid(&lot, "cy", cents(7_000), "k3"),
            ])
            .await
        }
    });
    // The shard has taken them once its queue is empty; give it time to
    // judge them and hand them over.
    for _ in 0..10_000 {
        if svc.queue_depth() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let faulty = &world.store.inner;
    let calls = faulty.calls(StoreOp::Commit);
    // The next commit call (the held one) fails.
    faulty.fail_nth(StoreOp::Commit, 1, fault);
    world.store.open();
    let mut outcomes = vec![first.await.unwrap()];
    outcomes.extend(later.await.unwrap());
    let commits = faulty.calls(StoreOp::Commit) - calls;
    drop(svc);
    running.stop().await;
    (outcomes, world, lot, commits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_race_under_a_judged_batch_rejudges_everything_in_order() {
    let (outcomes, world, lot, commits) = fail_under_a_judged_batch(StoreFault::Conflict).await;
    let records: Vec<CommandRecord> = outcomes.into_iter().map(|o| o.unwrap().record).collect();
    for record in &records {
        assert_eq!(code(record), "done", "{record:?}");
    }
    // In submission order, each on the state the one before left.
    let sequences: Vec<u64> = records.iter().map(record_sequence).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    let store = world.store.inner.inner();
    let stored = assert_log_is_state(store, &lot).await;
    let bids = all_bids(store, &lot).await;
    let bidders: Vec<&str> = bids.iter().map(|b| b.bidder_id.as_str()).collect();
    assert_eq!(bidders, ["ann", "bob", "cy"]);
    assert_eq!(stored.sequence, *sequences.last().unwrap());
    // The failed commit, then one for everything judged again (the batch
    // judged on top of the failed one never reached the store).
    assert_eq!(commits, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_under_a_judged_batch_fails_only_its_own_commands() {
    let (outcomes, world, lot, commits) = fail_under_a_judged_batch(StoreFault::Unavailable).await;
    let mut outcomes = outcomes.into_iter();
    let failed = outcomes.next().unwrap();
    assert!(
        matches!(failed, Err(ServiceError::Store(StoreError::Unavailable(_)))),
        "{failed:?}"
    );
    // Judged again on the stored state, which never had the first bid.
    let records: Vec<CommandRecord> = outcomes.map(|o| o.unwrap().record).collect();
    for record in &records {
        assert_eq!(code(record), "done", "{record:?}");
    }
    let store = world.store.inner.inner();
    assert_log_is_state(store, &lot).await;
    let bids = all_bids(store, &lot).await;
    let bidders: Vec<&str> = bids.iter().map(|b| b.bidder_id.as_str()).collect();
    assert_eq!(bidders, ["bob", "cy"]);
    let first = bid(&lot, "ann", cents(5_000), "k1");
    assert!(
        store
            .command(&hammerfall_engine::command_key(&first))
            .await
            .unwrap()
            .is_none(),
        "the failed bid left a record"
    );
    assert_eq!(commits, 2);
    // Its retry is judged now, after them, as a new command.
    let running = Running::start_with(world.ports(), one_worker());
    let retry = running.svc.submit(first).await.unwrap();
    assert_eq!(code(&retry.record), "bid_too_low");
    running.stop().await;
}
