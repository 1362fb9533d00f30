//! Fault paths: a store that fails (or half-fails) a commit or a read, a
//! compare-and-set race injected at commit, a publisher that is down. The
//! submitter hears of every infrastructure failure, nothing half-done is
//! acknowledged, and a retry with the same command id lands exactly once.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use hammerfall_adapters_memory::{
    FaultyPublisher, FaultyStore, MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore,
    PublishFault, StoreFault, StoreOp,
};
use hammerfall_engine::{CommandStatus, Service, ServiceConfig, ServiceError, command_key};
use hammerfall_ports::{
    CommandEnvelope, CreditLedger, EventPublisher, LotId, LotStore, StoreError,
};

type FaultyWorld = World<FaultyStore<MemoryLotStore>, MemoryCreditLedger, MemoryEventPublisher>;

fn faulty_world() -> FaultyWorld {
    World::with(
        FaultyStore::new(MemoryLotStore::new()),
        MemoryCreditLedger::new(),
        MemoryEventPublisher::new(),
    )
}

async fn open_lot<S: LotStore, L: CreditLedger, P: EventPublisher>(
    svc: &Service<S, L, P>,
    name: &str,
) -> LotId {
    let lot = lid(name);
    let created = svc
        .submit(create_english(&lot, "sam", t0() + hours(1), |_| {}))
        .await
        .unwrap();
    assert_eq!(code(&created.record), "done");
    lot
}

fn is_injected(e: &ServiceError) -> bool {
    matches!(e, ServiceError::Store(StoreError::Unavailable(_)))
}

async fn recorded<S: LotStore>(store: &S, envelope: &CommandEnvelope) -> bool {
    store
        .command(&command_key(envelope))
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn a_failing_nth_commit_answers_a_store_error_commits_nothing_and_a_retry_lands_once() {
    let world = faulty_world();
    let running = world.start(1);
    let svc = &running.svc;
    let lot = open_lot(svc, "lot-1").await;
    // The 3rd commit from now fails.
    world
        .store
        .fail_nth(StoreOp::Commit, 3, StoreFault::Unavailable);
    let bids: Vec<_> = (0..4)
        .map(|i| {
            bid(
                &lot,
                ["ann", "bob"][i % 2],
                cents(2_000 + 1_000 * i64::try_from(i).unwrap()),
                &format!("k{i}"),
            )
        })
        .collect();
    let store = world.store.inner();
    for (i, envelope) in bids.iter().enumerate() {
        let before = (load(store, &lot).await, all_events(store, &lot).await);
        let answer = svc.submit(envelope.clone()).await;
        if i == 2 {
            let e = answer.unwrap_err();
            assert!(is_injected(&e), "{e}");
            assert_eq!(
                (load(store, &lot).await, all_events(store, &lot).await),
                before,
                "nothing was committed"
            );
            assert!(!recorded(store, envelope).await, "nor recorded");
        } else {
            assert_eq!(code(&answer.unwrap().record), "done");
        }
    }
    // The retry, with the same id, is judged afresh (on the lot as it is
    // now) and lands once; a second retry is answered from its record.
    let retry = svc.submit(bids[2].clone()).await.unwrap();
    assert!(!retry.replayed);
    assert_eq!(code(&retry.record), "done");
    let again = svc.submit(bids[2].clone()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.record, retry.record);
    let history = all_bids(store, &lot).await;
    assert_eq!(history.len(), 4);
    assert_eq!(
        history
            .iter()
            .filter(|b| b.bid_id.as_str().ends_with(".k2"))
            .count(),
        1
    );
    assert_log_is_state(store, &lot).await;
    running.stop().await;
}

#[tokio::test]
async fn a_lost_commit_acknowledgement_is_answered_from_the_record_on_retry() {
    let world = faulty_world();
    let running = world.start(1);
    let svc = &running.svc;
    let lot = open_lot(svc, "lot-1").await;
    let envelope = bid(&lot, "ann", cents(5_000), "k1");
    world
        .store
        .fail_nth(StoreOp::Commit, 1, StoreFault::LostAck);
    let e = svc.submit(envelope.clone()).await.unwrap_err();
    assert!(is_injected(&e), "{e}");
    let store = world.store.inner();
    let stored = stored_record(store, &envelope).await;
    assert_eq!(code(&stored), "done", "the write went through");
    let retry = svc.submit(envelope.clone()).await.unwrap();
    assert!(retry.replayed);
    assert_eq!(retry.record, stored);
    assert_eq!(retry.lot.as_ref().map(|l| l.sequence), Some(3));
    assert_eq!(all_bids(store, &lot).await.len(), 1, "exactly once");
    // The lot was not cached from the lost commit: the next command works
    // on the stored state.
    let next = svc
        .submit(bid(&lot, "bob", cents(6_000), "k2"))
        .await
        .unwrap();
    assert_eq!(code(&next.record), "done");
    assert_eq!(record_sequence(&next.record), 5);
    assert_log_is_state(store, &lot).await;
    running.stop().await;
}

#[tokio::test]
async fn an_injected_conflict_is_retried_inside_the_service_until_the_retries_run_out() {
    let world = faulty_world();
    let config = ServiceConfig {
        workers: 1,
        conflict_retries: 3,
        ..ServiceConfig::default()
    };
    let running = Running::start_with(world.ports(), config);
    let svc = &running.svc;
    let lot = open_lot(svc, "lot-1").await;
    let store = world.store.inner();

    // Two lost races: re-decided on a fresh load, then committed.
    world
        .store
        .fail_calls(StoreOp::Commit, 1, 2, StoreFault::Conflict);
    let won = svc
        .submit(bid(&lot, "ann", cents(5_000), "k1"))
        .await
        .unwrap();
    assert_eq!(code(&won.record), "done");
    assert!(!won.replayed);

    // Four lost races with three retries: contention, nothing committed.
    let calls = world.store.calls(StoreOp::Commit);
    world
        .store
        .fail_calls(StoreOp::Commit, 1, 4, StoreFault::Conflict);
    let envelope = bid(&lot, "bob", cents(6_000), "k2");
    let lost = svc.submit(envelope.clone()).await;
    assert!(
        matches!(lost, Err(ServiceError::Contention(ref id)) if *id == lot),
        "{lost:?}"
    );
    assert_eq!(world.store.calls(StoreOp::Commit), calls + 4);
    assert!(!recorded(store, &envelope).await);
    assert_eq!(load(store, &lot).await.sequence, 3);
    let retry = svc.submit(envelope).await.unwrap();
    assert_eq!(code(&retry.record), "done");
    assert_eq!(all_bids(store, &lot).await.len(), 2);
    running.stop().await;
}

#[tokio::test]
async fn failing_reads_fail_the_command_they_served_and_a_retry_succeeds() {
    let world = faulty_world();
    let setup = world.start(1);
    let lot = open_lot(&setup.svc, "lot-1").await;
    setup.stop().await;

    // A fresh service must load the lot: that load fails.
    let running = world.start(1);
    let svc = &running.svc;
    world
        .store
        .fail_nth(StoreOp::Load, 1, StoreFault::Unavailable);
    let envelope = bid(&lot, "ann", cents(5_000), "k1");
    let e = svc.submit(envelope.clone()).await.unwrap_err();
    assert!(is_injected(&e), "{e}");
    let store = world.store.inner();
    assert!(!recorded(store, &envelope).await);
    assert_eq!(load(store, &lot).await.sequence, 2);
    let ok = svc.submit(envelope.clone()).await.unwrap();
    assert_eq!(code(&ok.record), "done");
    assert!(!ok.replayed);
    let after = load(store, &lot).await;
    // A replay is refused by the store's commit (its key is recorded), and
    // its retry looks the key up: that lookup fails.
    world
        .store
        .fail_nth(StoreOp::Command, 1, StoreFault::Unavailable);
    let e = svc.submit(envelope.clone()).await.unwrap_err();
    assert!(is_injected(&e), "{e}");
    assert_eq!(load(store, &lot).await, after);
    let again = svc.submit(envelope).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.record, ok.record);
    assert_eq!(load(store, &lot).await, after);
    running.stop().await;
}

/// New commands are judged without asking the store for earlier records
/// (the commit refuses a recorded key); only a replay costs a lookup, and
/// it is answered from the record, changing nothing.
#[tokio::test]
async fn only_a_replay_costs_an_idempotency_lookup() {
    let world = faulty_world();
    let running = world.start(1);
    let svc = &running.svc;
    let lot = open_lot(svc, "lot-1").await;
    let lookups = world.store.calls(StoreOp::Command);
    let commits = world.store.calls(StoreOp::Commit);
    let first = bid(&lot, "ann", cents(5_000), "k1");
    let second = bid(&lot, "bob", cents(6_000), "k2");
    let ok = svc.submit(first.clone()).await.unwrap();
    assert_eq!(code(&ok.record), "done");
    assert_eq!(code(&svc.submit(second).await.unwrap().record), "done");
    assert_eq!(world.store.calls(StoreOp::Command), lookups);
    assert_eq!(world.store.calls(StoreOp::Commit), commits + 2);
    let store = world.store.inner();
    let after = load(store, &lot).await;
    let again = svc.submit(first.clone()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.record, ok.record);
    assert_eq!(load(store, &lot).await, after);
    // One refused commit, then one lookup that found the record.
    assert_eq!(world.store.calls(StoreOp::Commit), commits + 3);
    assert!(world.store.calls(StoreOp::Command) > lookups);
    running.stop().await;
}

/// One group commit serves every command the worker drained from its inbox;
/// when it fails, all of them fail, and none is committed or recorded.
#[tokio::test]
async fn a_failed_group_commit_fails_every_command_of_the_batch() {
    let world = faulty_world();
    let setup = world.start(1);
    let lots = [
        open_lot(&setup.svc, "a").await,
        open_lot(&setup.svc, "b").await,
    ];
    setup.stop().await;

    let config = ServiceConfig {
        workers: 1,
        ..ServiceConfig::default()
    };
    let (svc, workers) = Service::new(world.ports(), config);
    let envelopes: Vec<_> = (0..6)
        .map(|i| {
            bid(
                &lots[i % 2],
                ["ann", "bob", "cat"][i % 3],
                cents(2_000 + 500 * i64::try_from(i).unwrap()),
                &format!("k{i}"),
            )
        })
        .collect();
    let keys: Vec<_> = envelopes
        .iter()
        .map(|e| svc.submit_async(e.clone()).unwrap())
        .collect();
    let calls = world.store.calls(StoreOp::Commit);
    world
        .store
        .fail_nth(StoreOp::Commit, 1, StoreFault::Unavailable);
    // The worker starts with all six in its inbox: one batch, one commit.
    let handles: Vec<_> = workers.into_iter().map(tokio::spawn).collect();
    for key in &keys {
        for _ in 0..10_000 {
            if svc.status(key).await.unwrap() != Some(CommandStatus::Pending) {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(svc.status(key).await.unwrap(), None, "failed: not recorded");
    }
    assert_eq!(world.store.calls(StoreOp::Commit), calls + 1);
    let store = world.store.inner();
    for lot in &lots {
        assert_eq!(load(store, lot).await.sequence, 2, "nothing committed");
    }
    // Retried with the same ids, each lands once.
    for e in &envelopes {
        let answer = svc.submit(e.clone()).await.unwrap();
        assert!(!answer.replayed);
    }
    for lot in &lots {
        assert_eq!(all_bids(store, lot).await.len(), 3);
        assert_log_is_state(store, lot).await;
    }
    drop(svc);
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test]
async fn a_failing_publisher_does_not_fail_the_command_and_its_events_stay_readable() {
    let world = World::with(
        MemoryLotStore::new(),
        MemoryCreditLedger::new(),
        FaultyPublisher::new(MemoryEventPublisher::new()),
    );
    let running = world.start(1);
    let svc = &running.svc;
    let lot = open_lot(svc, "lot-1").await;
    let published_before = world.publisher.inner().published(&lot).len();
    assert_eq!(published_before, 2, "LotCreated and LotOpened went out");

    world.publisher.fail_nth(1, PublishFault::Unavailable);
    let answer = svc
        .submit(bid(&lot, "ann", cents(5_000), "k1"))
        .await
        .unwrap();
    assert_eq!(code(&answer.record), "done", "acknowledged all the same");
    assert_eq!(
        world.publisher.inner().published(&lot).len(),
        2,
        "not published"
    );
    let events = world.store.events_after(&lot, 2, 100).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.event_type(), "BidAccepted");

    // A lost publish acknowledgement: delivered, and the command stands.
    world.publisher.fail_nth(1, PublishFault::LostAck);
    let answer = svc
        .submit(bid(&lot, "bob", cents(6_000), "k2"))
        .await
        .unwrap();
    assert_eq!(code(&answer.record), "done");
    let published = world.publisher.inner().published(&lot);
    let sequences: Vec<u64> = published.iter().map(|e| e.event.sequence).collect();
    assert_eq!(sequences, [1, 2, 4, 5], "seq 3 only in the store");
    assert_eq!(all_events(&*world.store, &lot).await.len(), 5);
    running.stop().await;
}
