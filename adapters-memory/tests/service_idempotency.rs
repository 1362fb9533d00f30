//! Idempotency (SPEC §5): a command id answers with its original outcome,
//! accepted or rejected, and changes nothing — also after a restart and
//! when duplicates race each other; reusing an id for another command is an
//! `idempotency_conflict`.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use hammerfall_adapters_memory::{MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore};
use hammerfall_engine::{Response, command_key};
use hammerfall_ports::{
    BidId, Command, CommandEnvelope, CommandId, Currency, LotId, LotQuery, LotStatus, LotStore,
    Money, SequencedEvent,
};
use std::sync::Arc;
use tokio::sync::Barrier;

/// What a lot looks like in the store: state, log, bid history.
async fn snapshot(world: &MemWorld, lot: &LotId) -> (hammerfall_ports::Lot, Vec<SequencedEvent>) {
    (
        load(&*world.store, lot).await,
        all_events(&*world.store, lot).await,
    )
}

/// The same request with a fresh generated bid id, as a client's retry is
/// (the service generates the ids of each submission anew).
fn with_new_bid_id(envelope: &CommandEnvelope, id: &str) -> CommandEnvelope {
    let mut retry = envelope.clone();
    if let Command::PlaceBid(p) = &mut retry.command {
        p.bid_id = BidId::new(id).unwrap();
    }
    retry
}

fn assert_same_answer(again: &Response, first: &Response) {
    assert!(again.replayed, "a repeated id is answered from its record");
    assert_eq!(again.record, first.record);
    assert_eq!(again.lot, first.lot, "with the lot as it was then");
}

async fn open_lot(
    world: &MemWorld,
    svc: &hammerfall_engine::Service<MemoryLotStore, MemoryCreditLedger, MemoryEventPublisher>,
    name: &str,
) -> LotId {
    let lot = lid(name);
    let created = svc
        .submit(create_english(&lot, "sam", world.now() + hours(1), |_| {}))
        .await
        .unwrap();
    assert_eq!(code(&created.record), "done");
    lot
}

#[tokio::test]
async fn an_accepted_bid_sent_again_gets_the_same_answer_and_changes_nothing() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = open_lot(&world, svc, "lot-1").await;
    let first = svc
        .submit(bid(&lot, "ann", cents(5_000), "k1"))
        .await
        .unwrap();
    assert_eq!(code(&first.record), "done");
    assert_eq!(first.lot.as_ref().unwrap().sequence, 3);
    // The lot moves on.
    let second = svc
        .submit(bid(&lot, "bob", cents(6_000), "k2"))
        .await
        .unwrap();
    assert_eq!(code(&second.record), "done");
    let before = snapshot(&world, &lot).await;

    let retry = with_new_bid_id(&bid(&lot, "ann", cents(5_000), "k1"), "another-bid-id");
    for again in [bid(&lot, "ann", cents(5_000), "k1"), retry] {
        let answer = svc.submit(again).await.unwrap();
        assert_same_answer(&answer, &first);
    }
    assert_eq!(snapshot(&world, &lot).await, before, "nothing changed");
    assert_eq!(all_bids(&*world.store, &lot).await.len(), 2);
    running.stop().await;
}

#[tokio::test]
async fn a_rejected_command_sent_again_stays_rejected_even_when_it_would_now_pass() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = lid("later");
    let created = svc
        .submit(create_english(&lot, "sam", world.now() + hours(3), |c| {
            c.starts_at = Some(t0() + hours(1));
        }))
        .await
        .unwrap();
    assert_eq!(created.lot.as_ref().unwrap().status, LotStatus::Scheduled);
    let early = svc
        .submit(bid(&lot, "ann", cents(5_000), "early"))
        .await
        .unwrap();
    assert_eq!(code(&early.record), "lot_not_open");
    let too_low = svc
        .submit(bid(&lot, "bob", cents(500), "low"))
        .await
        .unwrap();
    assert_eq!(code(&too_low.record), "lot_not_open");

    // The lot opens; the same bid under a new id would now be accepted.
    world.clock.advance(hours(2));
    let before = snapshot(&world, &lot).await;
    let again = svc
        .submit(bid(&lot, "ann", cents(5_000), "early"))
        .await
        .unwrap();
    assert_same_answer(&again, &early);
    assert_eq!(code(&again.record), "lot_not_open");
    assert_eq!(
        snapshot(&world, &lot).await,
        before,
        "a replayed answer applies nothing, not even the due opening"
    );
    let fresh = svc
        .submit(bid(&lot, "ann", cents(5_000), "fresh"))
        .await
        .unwrap();
    assert_eq!(code(&fresh.record), "done");
    running.stop().await;
}

#[tokio::test]
async fn an_insufficient_credit_answer_is_kept_after_the_limit_is_raised() {
    let world = MemWorld::memory();
    let running = world.start(1);
    let svc = &running.svc;
    let lot = lid("credit");
    svc.submit(create_english(&lot, "sam", world.now() + hours(1), |c| {
        c.credit_check = Some(true);
    }))
    .await
    .unwrap();
    let no = svc
        .submit(bid(&lot, "ann", cents(5_000), "k1"))
        .await
        .unwrap();
    assert_eq!(code(&no.record), "insufficient_credit");
    svc.set_credit_limit(&pid("ann"), usd(100_000), Currency::USD)
        .await
        .unwrap()
        .unwrap();
    let again = svc
        .submit(bid(&lot, "ann", cents(5_000), "k1"))
        .await
        .unwrap();
    assert_same_answer(&again, &no);
    assert_eq!(held(&*world.ledger, "ann").await, usd(0));
    let yes = svc
        .submit(bid(&lot, "ann", cents(5_000), "k2"))
        .await
        .unwrap();
    assert_eq!(code(&yes.record), "done");
    assert_eq!(held(&*world.ledger, "ann").await, usd(5_000));
    running.stop().await;
}

#[tokio::test]
async fn answers_survive_a_restart_that_loses_every_cache() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let lot = open_lot(&world, &running.svc, "lot-1").await;
    let creation = stored_record(&*world.store, &create_english(&lot, "sam", t0(), |_| {})).await;
    let accepted = running
        .svc
        .submit(bid(&lot, "ann", cents(5_000), "k1"))
        .await
        .unwrap();
    let rejected = running
        .svc
        .submit(bid(&lot, "bob", cents(100), "k2"))
        .await
        .unwrap();
    assert_eq!(code(&rejected.record), "bid_too_low");
    running
        .svc
        .submit(bid(&lot, "bob", cents(9_000), "k3"))
        .await
        .unwrap();
    let before = snapshot(&world, &lot).await;
    running.stop().await;

    let restarted = world.start(3);
    let svc = &restarted.svc;
    let answer = svc
        .submit(bid(&lot, "ann", cents(5_000), "k1"))
        .await
        .unwrap();
    assert_same_answer(&answer, &accepted);
    let answer = svc
        .submit(bid(&lot, "bob", cents(100), "k2"))
        .await
        .unwrap();
    assert_same_answer(&answer, &rejected);
    let conflict = svc
        .submit(bid(&lot, "bob", cents(101), "k2"))
        .await
        .unwrap();
    assert_eq!(code(&conflict.record), "idempotency_conflict");
    // Creation is scoped to the seller: a retry gets a newly generated lot
    // id, and is still answered with the original lot.
    let retry_lot = lid("lot-2");
    let mut create_again = create_english(&retry_lot, "sam", t0() + hours(1), |_| {});
    create_again.command_id = creation.key.command_id.clone();
    let answer = svc.submit(create_again).await.unwrap();
    assert!(answer.replayed);
    assert_eq!(answer.record, creation);
    assert_eq!(answer.lot.as_ref().map(|l| &l.lot_id), Some(&lot));
    assert_eq!(world.store.load(&retry_lot).await.unwrap(), None);
    assert_eq!(
        world
            .store
            .lots(&LotQuery::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(snapshot(&world, &lot).await, before, "nothing changed");
    restarted.stop().await;
}

#[tokio::test]
async fn the_same_id_with_another_command_is_an_idempotency_conflict_that_changes_nothing() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = open_lot(&world, svc, "lot-1").await;
    let original = svc
        .submit(bid(&lot, "ann", cents(5_000), "k1"))
        .await
        .unwrap();
    let before = snapshot(&world, &lot).await;

    for other in [
        bid(&lot, "ann", cents(5_500), "k1"),
        buy_now(&lot, "ann", "k1"),
        cancel(&lot, hammerfall_ports::Actor::bidder(pid("ann")), "k1"),
    ] {
        let answer = svc.submit(other.clone()).await.unwrap();
        assert_eq!(code(&answer.record), "idempotency_conflict");
        assert_eq!(answer.rejection().map(|r| r.http_status()), Some(422));
        assert!(!answer.replayed);
        assert_eq!(answer.record.command, other.command);
        assert_eq!(answer.lot, None);
    }
    assert_eq!(snapshot(&world, &lot).await, before, "nothing changed");
    assert_eq!(
        stored_record(&*world.store, &bid(&lot, "ann", cents(5_000), "k1")).await,
        original.record,
        "the key keeps its original record"
    );

    // The key is scoped to the lot and the submitter.
    let other_bidder = svc
        .submit(bid(&lot, "bob", cents(7_000), "k1"))
        .await
        .unwrap();
    assert_eq!(code(&other_bidder.record), "done");
    assert!(!other_bidder.replayed);
    let lot2 = open_lot(&world, svc, "lot-2").await;
    let other_lot = svc
        .submit(bid(&lot2, "ann", cents(5_500), "k1"))
        .await
        .unwrap();
    assert_eq!(code(&other_lot.record), "done");
    assert!(!other_lot.replayed);
    running.stop().await;
}

/// Eight copies of one command, from tasks released at the same moment, on
/// two services with separate caches: one judgement, one record, one bid.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_of_one_command_are_judged_exactly_once() {
    let world = MemWorld::memory();
    let a = world.start(2);
    let b = world.start(2);
    for round in 0..20 {
        let lot = open_lot(&world, &a.svc, &format!("lot-{round}")).await;
        if round % 2 == 1 {
            // Odd rounds race on a lot both services have cached.
            b.svc
                .submit(bid(&lot, "zed", cents(1_000), "warm"))
                .await
                .unwrap();
            a.svc
                .submit(bid(&lot, "zed", cents(1_100), "warm2"))
                .await
                .unwrap();
        }
        let envelope = bid(&lot, "ann", cents(5_000), "dup");
        let barrier = Arc::new(Barrier::new(8));
        let mut handles = Vec::new();
        for copy in 0..8 {
            let svc = if copy % 2 == 0 {
                a.svc.clone()
            } else {
                b.svc.clone()
            };
            let envelope = with_new_bid_id(&envelope, &format!("bid-{round}-{copy}"));
            let barrier = barrier.clone();
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                svc.submit(envelope).await.unwrap()
            }));
        }
        let mut answers = Vec::new();
        for h in handles {
            answers.push(h.await.unwrap());
        }
        let judged: Vec<&Response> = answers.iter().filter(|r| !r.replayed).collect();
        assert_eq!(judged.len(), 1, "round {round}: one copy is judged");
        for answer in &answers {
            assert_eq!(answer.record, judged[0].record, "round {round}");
            assert_eq!(answer.lot, judged[0].lot, "round {round}");
        }
        assert_eq!(code(&judged[0].record), "done");
        let bids = all_bids(&*world.store, &lot).await;
        let ann: Vec<_> = bids.iter().filter(|b| b.bidder_id == pid("ann")).collect();
        assert_eq!(ann.len(), 1, "round {round}: exactly one bid recorded");
        assert_eq!(
            stored_record(&*world.store, &envelope).await,
            judged[0].record
        );
        assert_log_is_state(&*world.store, &lot).await;
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_of_a_lot_creation_create_one_lot() {
    let world = MemWorld::memory();
    let a = world.start(2);
    let b = world.start(2);
    let barrier = Arc::new(Barrier::new(6));
    let mut handles = Vec::new();
    for copy in 0..6 {
        let svc = if copy % 2 == 0 {
            a.svc.clone()
        } else {
            b.svc.clone()
        };
        // Each try of the client got a newly generated lot id.
        let mut envelope =
            create_english(&lid(&format!("try-{copy}")), "sam", t0() + hours(1), |_| {});
        envelope.command_id = CommandId::new("create-once").unwrap();
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            svc.submit(envelope).await.unwrap()
        }));
    }
    let mut answers = Vec::new();
    for h in handles {
        answers.push(h.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|r| !r.replayed).count(), 1);
    let lot_id = answers[0].record.lot_id.clone();
    for answer in &answers {
        assert_eq!(answer.record, answers[0].record);
        assert_eq!(answer.lot.as_ref().map(|l| &l.lot_id), Some(&lot_id));
    }
    let page = world.store.lots(&LotQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), 1, "one lot was created");
    assert_eq!(page.items[0].lot_id, lot_id);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asynchronous_duplicates_are_recorded_once() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = open_lot(&world, svc, "lot-1").await;
    let envelope = bid(&lot, "ann", cents(5_000), "k1");
    let keys: Vec<_> = (0..5)
        .map(|i| {
            svc.submit_async(with_new_bid_id(&envelope, &format!("b{i}")))
                .unwrap()
        })
        .collect();
    assert!(keys.iter().all(|k| *k == command_key(&envelope)));
    let record = await_recorded(svc, &keys[0]).await;
    // Let every copy through the worker.
    let last = svc.submit(envelope.clone()).await.unwrap();
    assert!(last.replayed);
    assert_eq!(last.record, record);
    assert_eq!(all_bids(&*world.store, &lot).await.len(), 1);
    let lot_now = load(&*world.store, &lot).await;
    assert_eq!(lot_now.sequence, 3);
    assert_eq!(
        lot_now.english().unwrap().1.current_price,
        Some(Money::from_minor(1_000, Currency::USD))
    );
    running.stop().await;
}
