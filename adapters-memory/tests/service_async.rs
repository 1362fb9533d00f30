//! Asynchronous submission: `submit_async` answers at once with the
//! command's key; `status` says Pending until the command is recorded, then
//! gives the same record a synchronous submission gets.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use hammerfall_adapters_memory::{MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore};
use hammerfall_engine::{CommandStatus, Service, ServiceConfig, ServiceError};
use hammerfall_ports::{CommandEnvelope, CommandKey, LotId};

type Svc = Service<MemoryLotStore, MemoryCreditLedger, MemoryEventPublisher>;

/// The commands both twins receive, in order.
fn script(lot: &LotId) -> Vec<CommandEnvelope> {
    vec![
        create_english(lot, "sam", t0() + hours(1), |c| {
            c.reserve_price = Some(cents(6_000));
        }),
        bid(lot, "ann", cents(5_000), "k1"),
        bid(lot, "bob", cents(3_000), "k2"),
        bid(lot, "bob", cents(100), "k3"),
        bid(lot, "sam", cents(9_000), "k4"),
        bid(lot, "cat", cents(7_000), "k5"),
        buy_now(lot, "dan", "k6"),
        cancel(lot, admin(), "k7"),
        bid(lot, "ann", cents(9_000), "k8"),
    ]
}

#[tokio::test]
async fn an_asynchronous_command_is_pending_then_recorded_as_a_synchronous_one_would_be() {
    let lot = lid("lot-1");
    // The twin: the same commands, submitted synchronously.
    let sync_world = MemWorld::memory();
    let sync = sync_world.start(2);
    let mut expected = Vec::new();
    for e in script(&lot) {
        expected.push(sync.svc.submit(e).await.unwrap().record);
    }
    sync.stop().await;

    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let mut keys: Vec<CommandKey> = Vec::new();
    for e in script(&lot) {
        keys.push(svc.submit_async(e).unwrap());
    }
    // On this single-threaded runtime the workers have not run yet.
    for key in &keys {
        assert_eq!(svc.status(key).await.unwrap(), Some(CommandStatus::Pending));
    }
    for (key, expected) in keys.iter().zip(&expected) {
        let record = await_recorded(svc, key).await;
        assert_eq!(&record, expected);
        assert_eq!(
            svc.status(key).await.unwrap(),
            Some(CommandStatus::Recorded(Box::new(record)))
        );
    }
    let codes: Vec<&str> = expected.iter().map(code).collect();
    assert_eq!(
        codes,
        [
            "done",
            "done",
            "done",
            "bid_too_low",
            "seller_cannot_bid",
            "done",
            "buy_now_unavailable",
            "done",
            "lot_closed"
        ]
    );
    assert_eq!(
        load(&*world.store, &lot).await,
        load(&*sync_world.store, &lot).await
    );
    running.stop().await;
}

#[tokio::test]
async fn an_asynchronous_command_to_an_unknown_lot_ends_unrecorded() {
    let world = MemWorld::memory();
    let running = world.start(1);
    let svc = &running.svc;
    let unknown = CommandKey {
        lot_id: Some(lid("nowhere")),
        submitter: Some(pid("ann")),
        command_id: cid("never-sent"),
    };
    assert_eq!(svc.status(&unknown).await.unwrap(), None);
    let key = svc
        .submit_async(bid(&lid("nowhere"), "ann", cents(5_000), "k1"))
        .unwrap();
    assert_eq!(
        svc.status(&key).await.unwrap(),
        Some(CommandStatus::Pending)
    );
    // A synchronous twin learns why: the lot does not exist.
    let answer = svc
        .submit(bid(&lid("nowhere"), "bob", cents(5_000), "k1"))
        .await
        .unwrap();
    assert_eq!(code(&answer.record), "lot_not_found");
    assert_eq!(
        svc.status(&key).await.unwrap(),
        None,
        "judged, not recorded"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_full_inbox_refuses_asynchronous_commands_with_overloaded() {
    let world = MemWorld::memory();
    let config = ServiceConfig {
        workers: 1,
        inbox_capacity: 2,
        ..ServiceConfig::default()
    };
    // Workers not started yet: the inbox fills up.
    let (svc, workers): (Svc, _) = Service::new(world.ports(), config);
    let lot = lid("lot-1");
    let create = svc
        .submit_async(create_english(&lot, "sam", t0() + hours(1), |_| {}))
        .unwrap();
    let first = svc
        .submit_async(bid(&lot, "ann", cents(5_000), "k1"))
        .unwrap();
    let refused = svc.submit_async(bid(&lot, "bob", cents(6_000), "k2"));
    assert!(
        matches!(refused, Err(ServiceError::Overloaded)),
        "{refused:?}"
    );
    let refused_key = CommandKey {
        lot_id: Some(lot.clone()),
        submitter: Some(pid("bob")),
        command_id: cid("k2"),
    };
    assert_eq!(
        svc.status(&refused_key).await.unwrap(),
        None,
        "not left pending"
    );

    let handles: Vec<_> = workers.into_iter().map(tokio::spawn).collect();
    assert_eq!(code(&await_recorded(&svc, &create).await), "done");
    assert_eq!(code(&await_recorded(&svc, &first).await), "done");
    // Sent again once there is room, it is judged normally.
    let again = svc
        .submit(bid(&lot, "bob", cents(6_000), "k2"))
        .await
        .unwrap();
    assert_eq!(code(&again.record), "done");
    assert!(!again.replayed);
    drop(svc);
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test]
async fn a_service_whose_workers_are_gone_answers_stopped() {
    let world = MemWorld::memory();
    let (svc, workers): (Svc, _) = Service::new(world.ports(), ServiceConfig::default());
    drop(workers);
    let lot = lid("lot-1");
    let envelope = create_english(&lot, "sam", t0() + hours(1), |_| {});
    assert!(matches!(
        svc.submit_async(envelope.clone()),
        Err(ServiceError::Stopped)
    ));
    assert!(matches!(
        svc.submit(envelope.clone()).await,
        Err(ServiceError::Stopped)
    ));
    let answers = svc
        .submit_many(vec![envelope.clone(), bid(&lot, "ann", cents(5_000), "k1")])
        .await;
    assert_eq!(answers.len(), 2);
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Err(ServiceError::Stopped)))
    );
    let key = hammerfall_engine::command_key(&envelope);
    assert_eq!(svc.status(&key).await.unwrap(), None);
}
