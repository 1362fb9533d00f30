//! Redelivery (SPEC §5, DESIGN "CommandQueue"): commands arriving through
//! the memory queue, delivered one to several times — lost acks, consumer
//! restarts that lose every cache, failing and half-failing commits — end
//! in exactly the store an exactly-once run of the same commands gives.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use hammerfall_adapters_memory::{
    FaultyStore, ManualClock, MemoryCommandQueue, MemoryCreditLedger, MemoryEventPublisher,
    MemoryLotStore, QueueConfig, StoreFault, StoreOp,
};
use hammerfall_engine::command_key;
use hammerfall_engine::service::ConsumeReport;
use hammerfall_ports::{
    Actor, CommandEnvelope, CommandQueue, Delivery, Duration, LotId, LotQuery, LotStore,
    MAX_QUEUE_BATCH, QueueError, Receipt,
};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a received message stays hidden in these tests.
const VISIBILITY_SECS: i64 = 10;
/// Receives before dead-lettering: above what the faults below can cause,
/// so that nothing is lost and the runs are comparable.
const MAX_RECEIVES: u32 = 12;

/// A queue whose consumer "crashes" after judging a message and before
/// acknowledging it, until the message has been delivered the number of
/// times planned for it (1–3, seeded): the ack is dropped, the message
/// becomes visible again after its visibility timeout and is redelivered.
struct CrashingAcks {
    inner: MemoryCommandQueue,
    state: Mutex<AckState>,
}

struct AckState {
    rng: Rng,
    /// Deliveries each message gets before its ack goes through.
    planned: HashMap<String, u32>,
    /// Live receipts: which message, and its receive count.
    receipts: HashMap<Receipt, (String, u32)>,
    /// Deliveries so far, per message.
    delivered: HashMap<String, u32>,
    dropped_acks: u32,
}

fn message_id(envelope: &CommandEnvelope) -> String {
    format!("{:?}", command_key(envelope))
}

impl CrashingAcks {
    fn new(inner: MemoryCommandQueue, seed: u64) -> Self {
        Self {
            inner,
            state: Mutex::new(AckState {
                rng: Rng::new(seed),
                planned: HashMap::new(),
                receipts: HashMap::new(),
                delivered: HashMap::new(),
                dropped_acks: 0,
            }),
        }
    }

    fn delivered(&self) -> HashMap<String, u32> {
        self.state.lock().unwrap().delivered.clone()
    }
}

impl CommandQueue for CrashingAcks {
    async fn send(&self, batch: &[CommandEnvelope]) -> Result<(), QueueError> {
        {
            let mut state = self.state.lock().unwrap();
            for envelope in batch {
                let planned = u32::try_from(state.rng.range(1, 3)).unwrap();
                state.planned.insert(message_id(envelope), planned);
            }
        }
        self.inner.send(batch).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let got = self.inner.receive(max, wait).await?;
        let mut state = self.state.lock().unwrap();
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
            let mut state = self.state.lock().unwrap();
            let mut through = Vec::new();
            for r in receipts {
                let (id, count) = state.receipts.remove(r).expect("a receipt we handed out");
                if count >= state.planned[&id] {
                    through.push(r.clone());
                } else {
                    state.dropped_acks += 1;
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

/// A seeded workload: `lots` English lots, each created first, then bids
/// (valid and not), buy nows and cancels; interleaved across lots at
/// random, each lot's commands in order.
fn workload(seed: u64, lots: usize, commands: usize) -> (Vec<LotId>, Vec<CommandEnvelope>) {
    let mut rng = Rng::new(seed);
    let ids: Vec<LotId> = (0..lots).map(|i| lid(&format!("q-{i:02}"))).collect();
    let mut per_lot: Vec<Vec<CommandEnvelope>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            vec![create_english(id, "sam", t0() + hours(1), |c| {
                if i % 3 == 0 {
                    c.buy_now_price = Some(cents(30_000));
                }
                if i % 4 == 0 {
                    c.reserve_price = Some(cents(12_000));
                }
            })]
        })
        .collect();
    let bidders = ["ann", "bob", "cat", "dan"];
    for n in 0..commands {
        let i = rng.index(lots);
        let lot = &ids[i];
        let who = *rng.pick(&bidders);
        let key = format!("m{n}");
        let envelope = match rng.below(100) {
            0..=84 => bid(lot, who, cents(rng.range(900, 25_000)), &key),
            85..=89 => bid(lot, who, cents(-rng.range(0, 100)), &key),
            90..=93 => bid(lot, "sam", cents(5_000), &key),
            94..=96 => buy_now(lot, who, &key),
            _ => cancel(lot, Actor::seller(pid("sam")), &key),
        };
        per_lot[i].push(envelope);
    }
    let mut order = Vec::new();
    let mut cursors = vec![0usize; lots];
    while order.len() < lots + commands {
        let i = rng.index(lots);
        if let Some(e) = per_lot[i].get(cursors[i]) {
            order.push(e.clone());
            cursors[i] += 1;
        }
    }
    (ids, order)
}

/// The oracle: the same commands, submitted one at a time, each once.
async fn exactly_once(envelopes: &[CommandEnvelope]) -> MemWorld {
    let world = MemWorld::memory();
    let running = world.start(2);
    for e in envelopes {
        running.svc.submit(e.clone()).await.unwrap();
    }
    running.stop().await;
    world
}

async fn assert_same_store<S: LotStore>(
    faulty: &S,
    oracle: &MemoryLotStore,
    lots: &[LotId],
    envelopes: &[CommandEnvelope],
) {
    for lot in lots {
        assert_eq!(
            load(faulty, lot).await,
            load(oracle, lot).await,
            "lot {lot}: state"
        );
        assert_eq!(
            all_events(faulty, lot).await,
            all_events(oracle, lot).await,
            "lot {lot}: events"
        );
        assert_eq!(
            all_bids(faulty, lot).await,
            all_bids(oracle, lot).await,
            "lot {lot}: bid history"
        );
        assert_log_is_state(faulty, lot).await;
    }
    for e in envelopes {
        assert_eq!(
            stored_record(faulty, e).await,
            stored_record(oracle, e).await,
            "record of {:?}",
            e.command_id
        );
    }
    let all = LotQuery {
        limit: 1000,
        ..LotQuery::default()
    };
    let sorted = |mut lots: Vec<hammerfall_ports::Lot>| {
        lots.sort_by(|a, b| a.lot_id.cmp(&b.lot_id));
        lots
    };
    assert_eq!(
        sorted(faulty.lots(&all).await.unwrap().items),
        sorted(oracle.lots(&all).await.unwrap().items),
        "no other lot exists"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_delivered_one_to_three_times_with_crashes_and_failed_commits_equal_an_exactly_once_run()
 {
    for seed in [0xdeed_0003, 0xdeed_1003, 0xdeed_2003] {
        faulty_run(seed).await;
    }
}

/// One faulty run of a seeded workload, compared with its exactly-once run.
async fn faulty_run(seed: u64) {
    let (lots, envelopes) = workload(seed, 24, 500);
    let oracle = exactly_once(&envelopes).await;

    let world = World::with(
        FaultyStore::new(MemoryLotStore::new()),
        MemoryCreditLedger::new(),
        MemoryEventPublisher::new(),
    );
    // Every 6th commit from the 3rd on fails: refused, half-done (the write
    // went through, its acknowledgement was lost) or lost to a race.
    for (i, nth) in (3..300).step_by(6).take(40).enumerate() {
        let fault = [
            StoreFault::Unavailable,
            StoreFault::LostAck,
            StoreFault::Conflict,
        ][i % 3];
        world.store.fail_nth(StoreOp::Commit, nth, fault);
    }
    for nth in [5, 40, 90] {
        world
            .store
            .fail_nth(StoreOp::Load, nth, StoreFault::Unavailable);
        world
            .store
            .fail_nth(StoreOp::Command, nth * 3, StoreFault::Unavailable);
    }
    // The queue's clock is its own: visibility timeouts pass without
    // moving the service's time, so both runs judge at the same instant.
    let queue_clock = ManualClock::default();
    let queue = CrashingAcks::new(
        MemoryCommandQueue::with_config(
            queue_clock.clone(),
            QueueConfig {
                visibility_timeout: Duration::seconds(VISIBILITY_SECS),
                max_receives: MAX_RECEIVES,
                ..QueueConfig::default()
            },
        ),
        seed ^ 0xacc,
    );
    for chunk in envelopes.chunks(MAX_QUEUE_BATCH) {
        queue.send(chunk).await.unwrap();
    }

    let mut running = world.start(2);
    let mut calls = 0;
    let mut totals = ConsumeReport::default();
    while !queue.inner.is_empty() {
        calls += 1;
        assert!(calls < 20_000, "the queue never drained");
        let report = running.svc.consume(&queue, Duration::zero()).await.unwrap();
        totals.judged += report.judged;
        totals.retried += report.retried;
        if report.judged + report.retried == 0 {
            // Only hidden messages left: let their visibility run out.
            queue_clock.advance(Duration::seconds(70));
        }
        if calls % 5 == 0 {
            // The consumer process dies and comes back: caches are gone.
            running.stop().await;
            running = world.start(2);
        }
    }
    running.stop().await;

    assert!(
        queue.inner.dead_letters().is_empty(),
        "nothing was dead-lettered"
    );
    let delivered = queue.delivered();
    assert_eq!(
        delivered.len(),
        envelopes.len(),
        "every message was delivered"
    );
    let redelivered = delivered.values().filter(|n| **n >= 2).count();
    let thrice = delivered.values().filter(|n| **n >= 3).count();
    assert!(
        redelivered > envelopes.len() / 3 && thrice > 0,
        "the run redelivered: {redelivered} twice or more, {thrice} three times or more"
    );
    assert!(totals.retried > 0, "failed commits handed messages back");
    assert!(
        world.store.calls(StoreOp::Commit) > 60,
        "the faults were reached"
    );
    assert_same_store(&*world.store, &oracle.store, &lots, &envelopes).await;
}

#[tokio::test]
async fn a_message_delivered_twice_is_judged_once() {
    let world = MemWorld::memory();
    let queue_clock = ManualClock::default();
    let queue = MemoryCommandQueue::with_config(
        queue_clock.clone(),
        QueueConfig {
            visibility_timeout: Duration::seconds(VISIBILITY_SECS),
            ..QueueConfig::default()
        },
    );
    let lot = lid("lot-1");
    let envelopes = [
        create_english(&lot, "sam", t0() + hours(1), |_| {}),
        bid(&lot, "ann", cents(5_000), "k1"),
    ];
    queue.send(&envelopes).await.unwrap();
    let running = world.start(1);
    // First delivery: judged, but the consumer dies before its ack.
    let first = queue.receive(1, Duration::zero()).await.unwrap();
    assert_eq!(first.len(), 1);
    let created = running.svc.submit(first[0].envelope.clone()).await.unwrap();
    assert_eq!(code(&created.record), "done");
    running.stop().await;

    queue_clock.advance(Duration::seconds(VISIBILITY_SECS + 1));
    let running = world.start(1);
    // Second delivery of the creation (answered from its record), then the
    // bid behind it, in one batch.
    let report = running.svc.consume(&queue, Duration::zero()).await.unwrap();
    assert_eq!(
        report,
        ConsumeReport {
            judged: 2,
            retried: 0
        }
    );
    assert!(queue.is_empty());
    assert_eq!(
        stored_record(&*world.store, &envelopes[0]).await,
        created.record
    );
    let stored = load(&*world.store, &lot).await;
    assert_eq!(stored.sequence, 3, "created once (2 events), bid once");
    assert_eq!(all_bids(&*world.store, &lot).await.len(), 1);
    running.stop().await;
}

#[tokio::test]
async fn after_a_failure_the_lots_later_messages_are_handed_back_in_order_and_other_lots_go_on() {
    let world = World::with(
        FaultyStore::new(MemoryLotStore::new()),
        MemoryCreditLedger::new(),
        MemoryEventPublisher::new(),
    );
    let (a, b) = (lid("lot-a"), lid("lot-b"));
    let setup = world.start(1);
    for lot in [&a, &b] {
        setup
            .svc
            .submit(create_english(lot, "sam", t0() + hours(1), |_| {}))
            .await
            .unwrap();
    }
    setup.stop().await;

    let queue_clock = ManualClock::default();
    let queue = MemoryCommandQueue::with_config(queue_clock.clone(), QueueConfig::default());
    let (a1, a2, b1) = (
        bid(&a, "ann", cents(5_000), "a1"),
        bid(&a, "bob", cents(4_000), "a2"),
        bid(&b, "cat", cents(3_000), "b1"),
    );
    queue
        .send(&[a1.clone(), a2.clone(), b1.clone()])
        .await
        .unwrap();
    // A fresh service loads lot-a first (its message was sent first): that
    // load fails.
    world
        .store
        .fail_nth(StoreOp::Load, 1, StoreFault::Unavailable);
    let running = world.start(1);
    let report = running.svc.consume(&queue, Duration::zero()).await.unwrap();
    assert_eq!(
        report,
        ConsumeReport {
            judged: 1,
            retried: 2
        }
    );
    let store = world.store.inner();
    assert_eq!(code(&stored_record(store, &b1).await), "done");
    for e in [&a1, &a2] {
        assert_eq!(
            store.command(&command_key(e)).await.unwrap(),
            None,
            "a2 did not overtake a1"
        );
    }
    // Backoff: the first retry waits a second.
    assert_eq!(
        running.svc.consume(&queue, Duration::zero()).await.unwrap(),
        ConsumeReport::default()
    );
    queue_clock.advance(Duration::seconds(1));
    let report = running.svc.consume(&queue, Duration::zero()).await.unwrap();
    assert_eq!(
        report,
        ConsumeReport {
            judged: 2,
            retried: 0
        }
    );
    let r1 = stored_record(store, &a1).await;
    let r2 = stored_record(store, &a2).await;
    assert!(order_key(&r1) < order_key(&r2), "{r1:?} then {r2:?}");
    assert_eq!(
        code(&r2),
        "done",
        "bob's lower maximum is accepted and outbid at once"
    );
    assert!(queue.is_empty());
    running.stop().await;
}

/// Two consumer processes on one queue, as two Lambda invocations would
/// be: a message whose visibility runs out while one consumer still works
/// on it is delivered to the other, so the same command may be judged by
/// both at once. Compare-and-set and idempotency keep the outcome that of
/// an exactly-once run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_consumers_racing_on_one_queue_equal_an_exactly_once_run() {
    let (lots, envelopes) = workload(0xdeed_0005, 16, 400);
    let oracle = exactly_once(&envelopes).await;

    let world = World::with(
        FaultyStore::new(MemoryLotStore::new()),
        MemoryCreditLedger::new(),
        MemoryEventPublisher::new(),
    );
    for (i, nth) in (4..200).step_by(9).take(20).enumerate() {
        let fault = [StoreFault::Unavailable, StoreFault::LostAck][i % 2];
        world.store.fail_nth(StoreOp::Commit, nth, fault);
    }
    let queue_clock = ManualClock::default();
    let queue = std::sync::Arc::new(MemoryCommandQueue::with_config(
        queue_clock.clone(),
        QueueConfig {
            visibility_timeout: Duration::seconds(VISIBILITY_SECS),
            // Takeovers count as receives; a slow machine makes many.
            max_receives: 100,
            ..QueueConfig::default()
        },
    ));
    for chunk in envelopes.chunks(MAX_QUEUE_BATCH) {
        queue.send(chunk).await.unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let consumers: Vec<_> = (0..2)
        .map(|_| world.start(2))
        .map(|running| {
            let queue = queue.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut stale = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match running.svc.consume(&*queue, Duration::zero()).await {
                        Ok(r) if r.judged + r.retried == 0 => {
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        }
                        Ok(_) => {}
                        // The other consumer took the message over.
                        Err(QueueError::StaleReceipt) => stale += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                running.stop().await;
                stale
            })
        })
        .collect();
    // Time passes for the queue: backoffs end, slow consumers lose their
    // messages to the other one.
    let mut rounds = 0;
    while !queue.is_empty() {
        rounds += 1;
        assert!(rounds < 10_000, "the queue never drained");
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        queue_clock.advance(Duration::seconds(6));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // How often a consumer lost a message to the other one varies from run
    // to run (it is timing); the outcome must not.
    let mut _takeovers = 0;
    for c in consumers {
        _takeovers += c.await.unwrap();
    }
    assert!(queue.dead_letters().is_empty(), "nothing was dead-lettered");
    assert_same_store(&*world.store, &oracle.store, &lots, &envelopes).await;
}
