//! The fault-injecting wrappers: transparent until armed, then failing
//! exactly the calls they were told to, in the way they were told to.

use hammerfall_adapters_memory::{
    CreditFault, CreditOp, FaultyLedger, FaultyPublisher, FaultyStore, InjectedFault,
    MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore, PublishFault, StoreFault, StoreOp,
};
use hammerfall_engine::testkit::fixtures::{
    bid_command, english_lot, envelopes, lot_id, pid, step, t0, usd,
};
use hammerfall_engine::testkit::{run_all_credit_ledger, run_all_lot_store};
use hammerfall_ports::{
    CreditError, CreditLedger, Currency, Duration, EventPublisher, LotStore, PublishError,
    StoreError,
};

fn injected(e: &(dyn std::error::Error + 'static)) -> bool {
    e.source().is_some_and(|s| s.is::<InjectedFault>())
}

#[tokio::test]
async fn an_unarmed_faulty_store_keeps_the_contract() {
    run_all_lot_store(|| async { FaultyStore::new(MemoryLotStore::new()) }).await;
}

#[tokio::test]
async fn an_unarmed_faulty_ledger_keeps_the_contract() {
    run_all_credit_ledger(|| async { FaultyLedger::new(MemoryCreditLedger::new()) }).await;
}

#[tokio::test]
async fn the_nth_commit_fails_with_a_conflict_and_writes_nothing() {
    let store = FaultyStore::new(MemoryLotStore::new());
    let created = english_lot("lot-1", "sam", t0(), None, t0() + Duration::hours(1));
    let bid = step(&created.lot, bid_command("ann", 2_000, "b1"), "c1", t0());
    store.fail_nth(StoreOp::Commit, 2, StoreFault::Conflict);

    let first = store.commit(vec![created.commit.clone()]).await;
    assert!(matches!(first.as_slice(), [Ok(())]));
    let second = store.commit(vec![bid.commit.clone()]).await;
    assert!(matches!(
        second.as_slice(),
        [Err(StoreError::Conflict { expected, .. })] if *expected == created.lot.sequence
    ));
    assert_eq!(
        store.inner().load(&lot_id("lot-1")).await.ok().flatten(),
        Some(created.lot.clone()),
        "an injected conflict writes nothing"
    );
    let third = store.commit(vec![bid.commit]).await;
    assert!(
        matches!(third.as_slice(), [Ok(())]),
        "only the 2nd call fails"
    );
    assert_eq!(store.calls(StoreOp::Commit), 3);
}

#[tokio::test]
async fn a_lost_ack_commits_but_reports_unavailable() {
    let store = FaultyStore::new(MemoryLotStore::new());
    let created = english_lot("lot-1", "sam", t0(), None, t0() + Duration::hours(1));
    store.fail_nth(StoreOp::Commit, 1, StoreFault::LostAck);
    let result = store.commit(vec![created.commit.clone()]).await;
    match result.as_slice() {
        [Err(e @ StoreError::Unavailable(_))] => assert!(injected(e), "{e}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(
        store.load(&lot_id("lot-1")).await.ok().flatten(),
        Some(created.lot),
        "the write went through"
    );
    let retry = store.commit(vec![created.commit]).await;
    assert!(
        matches!(retry.as_slice(), [Err(StoreError::Conflict { .. })]),
        "a blind retry meets its own write: {retry:?}"
    );
}

#[tokio::test]
async fn reads_fail_for_the_armed_calls_only() {
    let store = FaultyStore::new(MemoryLotStore::new());
    let id = lot_id("lot-1");
    store.fail_calls(StoreOp::Load, 2, 2, StoreFault::Unavailable);
    let results = [
        store.load(&id).await.is_ok(),
        store.load(&id).await.is_ok(),
        store.load(&id).await.is_ok(),
        store.load(&id).await.is_ok(),
    ];
    assert_eq!(results, [true, false, false, true]);
    assert!(
        store.events_after(&id, 0, 10).await.is_ok(),
        "other operations pass"
    );

    store.fail_nth(StoreOp::Due, 1, StoreFault::Unavailable);
    store.heal();
    assert!(
        store.due(t0(), 10).await.is_ok(),
        "healed rules do not fire"
    );

    store.fail_nth(StoreOp::Lots, 1, StoreFault::Unavailable);
    let err = store.lots(&Default::default()).await.err();
    assert!(
        err.as_ref()
            .is_some_and(|e| injected(e) && e.is_retryable()),
        "{err:?}"
    );
}

#[test]
#[should_panic(expected = "commit only")]
fn a_conflict_cannot_be_injected_into_a_read() {
    FaultyStore::new(MemoryLotStore::new()).fail_nth(StoreOp::Load, 1, StoreFault::Conflict);
}

#[tokio::test]
async fn ledger_faults_fail_the_chosen_calls() {
    let ledger = FaultyLedger::new(MemoryCreditLedger::new());
    let (ann, lot) = (pid("ann"), lot_id("lot-1"));
    ledger.fail_nth(CreditOp::SetLimit, 1, CreditFault::InUse);
    assert!(matches!(
        ledger.set_limit(&ann, usd(10_000), Currency::USD).await,
        Err(CreditError::InUse)
    ));
    assert!(
        ledger
            .set_limit(&ann, usd(10_000), Currency::USD)
            .await
            .is_ok()
    );

    ledger.fail_nth(CreditOp::Hold, 1, CreditFault::Insufficient);
    assert!(matches!(
        ledger.hold(&lot, &ann, usd(100), Currency::USD, 1).await,
        Err(CreditError::Insufficient)
    ));
    let held = |v: Option<hammerfall_ports::CreditView>| v.map(|v| v.held);
    assert_eq!(
        held(ledger.inner().credit(&ann).await.ok().flatten()),
        Some(usd(0))
    );

    assert!(
        ledger
            .hold(&lot, &ann, usd(4_000), Currency::USD, 1)
            .await
            .is_ok()
    );
    ledger.fail_nth(CreditOp::Consume, 1, CreditFault::LostAck);
    match ledger.consume(&lot, 2).await {
        Err(CreditError::Unavailable(source)) => assert!(source.is::<InjectedFault>()),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let view = ledger.credit(&ann).await.ok().flatten();
    assert_eq!(
        view.map(|v| (v.limit, v.held)),
        Some((usd(6_000), usd(0))),
        "the lost-ack consume was applied"
    );
    assert!(
        ledger.consume(&lot, 2).await.is_ok(),
        "and retrying it is harmless"
    );
    assert_eq!(ledger.calls(CreditOp::Consume), 2);

    ledger.fail_nth(CreditOp::Credit, 1, CreditFault::Unavailable);
    assert!(matches!(
        ledger.credit(&ann).await,
        Err(CreditError::Unavailable(_))
    ));
}

#[test]
#[should_panic(expected = "do not apply")]
fn insufficient_cannot_be_injected_into_a_release() {
    FaultyLedger::new(MemoryCreditLedger::new()).fail_nth(
        CreditOp::Release,
        1,
        CreditFault::Insufficient,
    );
}

#[tokio::test]
async fn publisher_faults_drop_or_duplicate() {
    let publisher = FaultyPublisher::new(MemoryEventPublisher::new());
    let created = english_lot("lot-1", "sam", t0(), None, t0() + Duration::hours(1));
    let events = envelopes(&created);
    let id = lot_id("lot-1");

    publisher.fail_nth(1, PublishFault::Unavailable);
    assert!(matches!(
        publisher.publish(&events).await,
        Err(PublishError::Unavailable(_))
    ));
    assert!(
        publisher.inner().published(&id).is_empty(),
        "nothing went out"
    );

    publisher.fail_nth(1, PublishFault::LostAck);
    assert!(publisher.publish(&events).await.is_err());
    assert!(
        publisher.publish(&events).await.is_ok(),
        "the outbox retries"
    );
    assert_eq!(
        publisher.inner().published(&id).len(),
        2 * events.len(),
        "a lost ack means subscribers see the events twice"
    );
    assert_eq!(publisher.calls(), 3);
}
