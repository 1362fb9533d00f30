//! The port contract suite against the AWS adapters on moto: the same
//! checks the memory and SQLite adapters pass. Needs HAMMERFALL_AWS_ENDPOINT
//! (start moto with `scripts/moto`; `scripts/test` does it).

mod common;

use common::*;
use hammerfall_adapters_aws::SqsCommandQueue;
use hammerfall_engine::testkit::{QueueHarness, run_all_credit_ledger, run_all_lot_store};
use hammerfall_ports::Duration;

#[tokio::test]
async fn the_dynamodb_store_keeps_the_lot_store_contract() {
    let client = settings().dynamodb().await;
    run_all_lot_store(|| fresh_store(&client)).await;
}

#[tokio::test]
async fn the_dynamodb_ledger_keeps_the_credit_ledger_contract() {
    let client = settings().dynamodb().await;
    run_all_credit_ledger(|| fresh_store(&client)).await;
}

/// Visibility timeout of the queues under test: SQS time is real time, so
/// short.
const VISIBILITY_SECS: u32 = 1;

/// An SQS FIFO queue; time passes by sleeping.
struct Queue(SqsCommandQueue);

impl QueueHarness for Queue {
    type Queue = SqsCommandQueue;

    fn queue(&self) -> &SqsCommandQueue {
        &self.0
    }

    fn visibility_timeout(&self) -> Duration {
        Duration::seconds(i64::from(VISIBILITY_SECS))
    }

    /// SQS's window is a fixed 5 minutes: too long to wait out.
    fn dedup_window(&self) -> Option<Duration> {
        None
    }

    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by.to_std().unwrap_or_default()).await;
    }
}

/// Every check of the queue contract but one: moto forgets a
/// deduplication id once its message is deleted, where SQS keeps it for the
/// whole 5-minute window, so `deduplicates_resends_within_the_window`'s
/// "resend after the ack" clause cannot pass on moto. Its other clauses run
/// in [`duplicates_sent_while_queued_are_dropped`]; correctness never rests
/// on that clause anyway (the store's command records absorb a redelivered
/// duplicate).
#[tokio::test]
async fn the_sqs_queue_keeps_the_command_queue_contract() {
    use hammerfall_engine::testkit::queue::*;
    let client = settings().sqs().await;
    macro_rules! check {
        ($($name:ident),* $(,)?) => {$(
            let harness = Queue(fresh_queue(&client, VISIBILITY_SECS).await.0);
            eprintln!("command_queue::{}", stringify!($name));
            $name(&harness).await;
        )*};
    }
    check!(
        delivers_a_group_in_send_order,
        a_group_waits_while_a_message_is_in_flight,
        other_groups_proceed_while_one_is_in_flight,
        dedup_ids_are_scoped_to_lot_and_submitter,
        redelivers_after_the_visibility_timeout,
        dead_letters_after_max_receives,
        acked_messages_are_gone,
        set_visibility_retries_or_extends,
        refuses_batches_over_the_limit,
        receive_returns_at_most_max,
    );
}

/// The part of the deduplication clause moto honours: resends of a message
/// still queued (in one send or several) are accepted and dropped.
#[tokio::test]
async fn duplicates_sent_while_queued_are_dropped() {
    use hammerfall_engine::testkit::fixtures::queued_bid;
    use hammerfall_ports::{CommandQueue, MAX_QUEUE_BATCH};
    let client = settings().sqs().await;
    let (queue, _) = fresh_queue(&client, VISIBILITY_SECS).await;
    let one = queued_bid("lot-1", "ann", "c1");
    let two = queued_bid("lot-1", "ann", "c2");
    queue
        .send(std::slice::from_ref(&one))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    queue
        .send(&[one.clone(), two.clone(), one.clone()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut got = Vec::new();
    for _ in 0..5 {
        let batch = queue
            .receive(MAX_QUEUE_BATCH, Duration::zero())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let receipts: Vec<_> = batch.iter().map(|d| d.receipt.clone()).collect();
        queue.ack(&receipts).await.unwrap_or_else(|e| panic!("{e}"));
        got.extend(batch.into_iter().map(|d| d.envelope));
    }
    assert_eq!(got, vec![one, two], "duplicates are dropped");
}
