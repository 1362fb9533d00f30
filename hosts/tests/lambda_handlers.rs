//! The Lambda handlers on JSON events (the fixtures `aws_lambda_events`
//! ships), over the memory adapters: the worker's partial batch failures
//! and FIFO order, retryable vs poison messages, duplicate deliveries, and
//! the sweeper's due transitions.

mod lambda_support;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use hammerfall_adapters_memory::{
    FaultyStore, ManualClock, MemoryCreditLedger, MemoryLotStore, SequentialIds, StoreFault,
    StoreOp,
};
use hammerfall_engine::{Ports, Service, ServiceConfig};
use hammerfall_hosts::lambda::StreamPublisher;
use hammerfall_hosts::lambda::sweeper::handle_schedule;
use hammerfall_hosts::lambda::worker::{BatchSummary, Disposition, handle_batch};
use hammerfall_ports::{Clock, Duration, LotStatus, LotStore};
use lambda_support::*;
use std::sync::Arc;

type MemService<S> = Service<S, MemoryCreditLedger, StreamPublisher>;

fn service<S: LotStore>(store: Arc<S>, clock: &ManualClock) -> MemService<S> {
    let ports = Ports {
        store,
        ledger: Arc::new(MemoryCreditLedger::new()),
        publisher: Arc::new(StreamPublisher),
        clock: Arc::new(clock.clone()),
        ids: Arc::new(SequentialIds::new()),
    };
    let config = ServiceConfig {
        workers: 1,
        ..ServiceConfig::default()
    };
    let (service, workers) = Service::new(ports, config);
    for worker in workers {
        tokio::spawn(worker);
    }
    service
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

async fn lot<S: LotStore>(store: &S, id: &str) -> hammerfall_ports::Lot {
    store
        .load(&lid(id))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no lot {id}"))
}

async fn bids<S: LotStore>(store: &S, id: &str) -> usize {
    store
        .bids(&lid(id), None, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
        .len()
}

#[tokio::test]
async fn the_fixture_message_is_not_a_command_and_is_reported_failed() {
    let clock = ManualClock::default();
    let service = service(Arc::new(MemoryLotStore::new()), &clock);
    let event: SqsEvent = serde_json::from_str(SQS_EVENT).unwrap_or_else(|e| panic!("{e}"));

    let outcome = handle_batch(&service, event).await;

    assert_eq!(failed_ids(&outcome.response), ["MessageID_1"]);
    assert!(matches!(outcome.messages[0].1, Disposition::Poison(_)));
    assert_eq!(outcome.summary.poison, 1);
}

#[tokio::test]
async fn the_answer_has_the_shape_lambda_reads() {
    let expected: SqsBatchResponse =
        serde_json::from_str(BATCH_RESPONSE).unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::default();
    let service = service(Arc::new(MemoryLotStore::new()), &clock);
    let event = fifo_event(&[Message::garbage("id2", "a"), Message::garbage("id4", "b")]);

    let outcome = handle_batch(&service, event).await;

    assert_eq!(outcome.response, expected);
    let json = serde_json::to_value(&outcome.response).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["batchItemFailures"][1]["itemIdentifier"], "id4");
}

#[tokio::test]
async fn after_a_groups_first_failure_its_later_messages_fail_and_other_groups_go_on() {
    let clock = ManualClock::default();
    let store = Arc::new(MemoryLotStore::new());
    let service = service(store.clone(), &clock);
    let ends = clock.now() + Duration::hours(1);
    let (a, b) = (lid("lot-a"), lid("lot-b"));
    let event = fifo_event(&[
        Message::command("a1", &create_english(&a, "sam", ends)),
        Message::command("b1", &create_english(&b, "sam", ends)),
        Message::garbage("a2", "lot-a"),
        Message::command("b2", &bid(&b, "ann", cents(1500), "b-bid-1")),
        Message::command("a3", &bid(&a, "ann", cents(1500), "a-bid-1")),
    ]);

    let outcome = handle_batch(&service, event).await;

    assert_eq!(failed_ids(&outcome.response), ["a2", "a3"]);
    assert_eq!(outcome.messages[4].1, Disposition::Blocked);
    assert_eq!(
        outcome.summary,
        BatchSummary {
            judged: 3,
            poison: 1,
            blocked: 1,
            ..BatchSummary::default()
        }
    );
    // Lot a was created but not bid on (its bid waits behind the poison).
    assert_eq!(bids(&*store, "lot-a").await, 0);
    assert_eq!(bids(&*store, "lot-b").await, 1);
}

#[tokio::test]
async fn a_duplicate_delivery_changes_nothing() {
    let clock = ManualClock::default();
    let store = Arc::new(MemoryLotStore::new());
    let service = service(store.clone(), &clock);
    let a = lid("lot-a");
    let messages = || {
        [
            Message::command(
                "m1",
                &create_english(&a, "sam", clock.now() + Duration::hours(1)),
            ),
            Message::command("m2", &bid(&a, "ann", cents(1500), "k1")),
            Message::command("m3", &bid(&a, "bob", cents(1200), "k2")),
        ]
    };
    let first = handle_batch(&service, fifo_event(&messages())).await;
    let after_first = lot(&*store, "lot-a").await;

    let again = handle_batch(&service, fifo_event(&messages())).await;

    assert_eq!(first.summary.judged, 3);
    assert!(again.response.batch_item_failures.is_empty());
    assert_eq!(again.summary.replayed, 3);
    assert_eq!(lot(&*store, "lot-a").await, after_first);
}

#[tokio::test]
async fn an_unavailable_store_is_retryable_and_blocks_the_rest_of_the_group() {
    let clock = ManualClock::default();
    let store = Arc::new(FaultyStore::new(MemoryLotStore::new()));
    let service = service(store.clone(), &clock);
    let a = lid("lot-a");
    let ends = clock.now() + Duration::hours(1);
    store.fail_calls(StoreOp::Commit, 1, 100, StoreFault::Unavailable);

    let outcome = handle_batch(
        &service,
        fifo_event(&[
            Message::command("m1", &create_english(&a, "sam", ends)),
            Message::command("m2", &bid(&a, "ann", cents(1500), "k1")),
        ]),
    )
    .await;

    assert_eq!(failed_ids(&outcome.response), ["m1", "m2"]);
    assert!(matches!(outcome.messages[0].1, Disposition::Retryable(_)));
    assert_eq!(outcome.messages[1].1, Disposition::Blocked);

    // Redelivered once the store is back: both judged, in order.
    store.heal();
    let retried = handle_batch(
        &service,
        fifo_event(&[
            Message::command("m1", &create_english(&a, "sam", ends)),
            Message::command("m2", &bid(&a, "ann", cents(1500), "k1")),
        ]),
    )
    .await;
    assert!(retried.response.batch_item_failures.is_empty());
    assert_eq!(retried.summary.judged, 2);
}

#[tokio::test]
async fn the_scheduled_sweep_closes_a_lot_whose_end_has_passed() {
    let clock = ManualClock::default();
    let store = Arc::new(MemoryLotStore::new());
    let service = service(store.clone(), &clock);
    let a = lid("lot-a");
    let created = handle_batch(
        &service,
        fifo_event(&[
            Message::command(
                "m1",
                &create_english(&a, "sam", clock.now() + Duration::hours(1)),
            ),
            Message::command("m2", &bid(&a, "ann", cents(1500), "k1")),
        ]),
    )
    .await;
    assert_eq!(created.summary.judged, 2);
    let event: EventBridgeEvent =
        serde_json::from_str(SCHEDULE_EVENT).unwrap_or_else(|e| panic!("{e}"));

    let early = handle_schedule(&service, &event)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    clock.advance(Duration::hours(2));
    let due = handle_schedule(&service, &event)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(early.advanced, 0);
    assert_eq!(due.advanced, 1);
    assert_eq!(lot(&*store, "lot-a").await.status, LotStatus::Closed);
}
