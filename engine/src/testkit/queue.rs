//! The [`CommandQueue`] contract (SQS FIFO semantics): per-group order,
//! a group waits while one of its messages is in flight, deduplication,
//! redelivery after the visibility timeout, dead-lettering after
//! [`MAX_RECEIVES`] receives, and the batch limit. Time matters, so the
//! checks drive the queue through a [`QueueHarness`] that can let time pass.

use super::fixtures::{cid, lot_id, queued_bid};
use super::named;
use hammerfall_ports::{
    Command, CommandEnvelope, CommandQueue, Delivery, Duration, MAX_QUEUE_BATCH, MAX_RECEIVES,
    QueueError,
};
use std::future::Future;

/// Receives a check makes while waiting for messages it expects, before it
/// declares them lost.
const MAX_RECEIVE_ATTEMPTS: usize = 20;

/// A queue under test, with control over its time.
pub trait QueueHarness: Send + Sync {
    /// The queue's type.
    type Queue: CommandQueue;

    /// The queue under test (empty, dead-lettering after [`MAX_RECEIVES`]).
    fn queue(&self) -> &Self::Queue;

    /// The queue's visibility timeout.
    fn visibility_timeout(&self) -> Duration;

    /// The deduplication window, if the checks may wait it out (`None`
    /// skips the "after the window" clause, e.g. for SQS's fixed 5 min).
    fn dedup_window(&self) -> Option<Duration>;

    /// Lets `by` pass for the queue (advance a manual clock, or sleep).
    fn advance(&self, by: Duration) -> impl Future<Output = ()> + Send;

    /// How long a receive that expects nothing waits (zero in memory; a
    /// real queue may need a moment to make sure).
    fn receive_wait(&self) -> Duration {
        Duration::zero()
    }
}

/// Runs every [`CommandQueue`] check, each on a harness from `fresh`
/// (which must return an empty queue every time).
pub async fn run_all_command_queue<H, F, Fut>(mut fresh: F)
where
    H: QueueHarness,
    F: FnMut() -> Fut,
    Fut: Future<Output = H>,
{
    macro_rules! check {
        ($($name:ident),* $(,)?) => {$(
            {
                // Each check borrows the factory in turn.
                let fresh = &mut fresh;
                named(concat!("command_queue::", stringify!($name)), move || async move {
                    $name(&fresh().await).await
                })
                .await;
            }
        )*};
    }
    check!(
        delivers_a_group_in_send_order,
        a_group_waits_while_a_message_is_in_flight,
        other_groups_proceed_while_one_is_in_flight,
        deduplicates_resends_within_the_window,
        dedup_ids_are_scoped_to_lot_and_submitter,
        redelivers_after_the_visibility_timeout,
        dead_letters_after_max_receives,
        acked_messages_are_gone,
        set_visibility_retries_or_extends,
        refuses_batches_over_the_limit,
        receive_returns_at_most_max,
    );
}

async fn send<H: QueueHarness>(h: &H, batch: &[CommandEnvelope]) {
    if let Err(e) = h.queue().send(batch).await {
        panic!("sending {} messages failed: {e:?}", batch.len());
    }
}

async fn receive<H: QueueHarness>(h: &H, max: usize) -> Vec<Delivery> {
    h.queue()
        .receive(max, h.receive_wait())
        .await
        .unwrap_or_else(|e| panic!("receive({max}) failed: {e:?}"))
}

async fn ack<H: QueueHarness>(h: &H, deliveries: &[Delivery]) {
    let receipts: Vec<_> = deliveries.iter().map(|d| d.receipt.clone()).collect();
    if let Err(e) = h.queue().ack(&receipts).await {
        panic!("ack failed: {e:?}");
    }
}

/// Receives (and acks) until `count` messages arrived.
async fn receive_and_ack<H: QueueHarness>(h: &H, count: usize) -> Vec<Delivery> {
    let mut out = Vec::new();
    for _ in 0..MAX_RECEIVE_ATTEMPTS {
        if out.len() >= count {
            break;
        }
        let batch = receive(h, MAX_QUEUE_BATCH).await;
        ack(h, &batch).await;
        out.extend(batch);
    }
    assert_eq!(
        out.len(),
        count,
        "expected {count} messages, got {}: {out:?}",
        out.len()
    );
    out
}

async fn expect_nothing<H: QueueHarness>(h: &H, what: &str) {
    let got = receive(h, MAX_QUEUE_BATCH).await;
    assert!(got.is_empty(), "{what}: expected no message, got {got:?}");
}

/// Just past the visibility timeout.
fn past_visibility<H: QueueHarness>(h: &H) -> Duration {
    h.visibility_timeout() + Duration::seconds(1)
}

fn envelopes(deliveries: &[Delivery]) -> Vec<CommandEnvelope> {
    deliveries.iter().map(|d| d.envelope.clone()).collect()
}

/// Messages of one group arrive in send order, unchanged.
pub async fn delivers_a_group_in_send_order<H: QueueHarness>(h: &H) {
    let sent: Vec<CommandEnvelope> = (0..4)
        .map(|i| queued_bid("lot-1", "ann", &format!("c{i}")))
        .collect();
    send(h, &sent[..2]).await;
    send(h, &sent[2..]).await;
    let got = receive_and_ack(h, sent.len()).await;
    assert_eq!(
        envelopes(&got),
        sent,
        "a group's messages arrive in send order, unchanged"
    );
    assert!(
        got.iter().all(|d| d.receive_count == 1),
        "first deliveries have receive_count 1"
    );
}

/// While a message of a group is in flight, no later message of that group
/// is delivered; acking it releases the next.
pub async fn a_group_waits_while_a_message_is_in_flight<H: QueueHarness>(h: &H) {
    let first = queued_bid("lot-1", "ann", "c1");
    let second = queued_bid("lot-1", "bob", "c2");
    send(h, &[first.clone(), second.clone()]).await;
    let got = receive(h, 1).await;
    assert_eq!(
        envelopes(&got),
        vec![first],
        "receive(1) gives the group's first message"
    );
    expect_nothing(h, "the group's next message while the first is in flight").await;
    ack(h, &got).await;
    let next = receive(h, MAX_QUEUE_BATCH).await;
    assert_eq!(
        envelopes(&next),
        vec![second],
        "after the ack the next message follows"
    );
}

/// A group in flight does not hold up other groups.
pub async fn other_groups_proceed_while_one_is_in_flight<H: QueueHarness>(h: &H) {
    let a = [
        queued_bid("lot-a", "ann", "a1"),
        queued_bid("lot-a", "ann", "a2"),
    ];
    let b = [
        queued_bid("lot-b", "ann", "b1"),
        queued_bid("lot-b", "ann", "b2"),
    ];
    send(h, &a).await;
    send(h, &b).await;
    let got = receive(h, 1).await;
    assert_eq!(got.len(), 1, "receive(1) gives one message");
    let (held, other) = if got[0].envelope == a[0] {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert_eq!(
        got[0].envelope, held[0],
        "a group's first message comes first"
    );
    let next = receive(h, MAX_QUEUE_BATCH).await;
    assert!(
        next.iter().all(|d| d.envelope.lot_id != held[0].lot_id),
        "no message of the group in flight may be delivered: {next:?}"
    );
    assert_eq!(
        next.first().map(|d| &d.envelope),
        Some(&other[0]),
        "the other group proceeds"
    );
}

/// A resend with the same deduplication id within the window is accepted
/// and dropped, even after the first was acked; after the window it is a
/// new message.
pub async fn deduplicates_resends_within_the_window<H: QueueHarness>(h: &H) {
    let one = queued_bid("lot-1", "ann", "c1");
    let two = queued_bid("lot-1", "ann", "c2");
    send(h, std::slice::from_ref(&one)).await;
    send(h, &[one.clone(), two.clone(), one.clone()]).await;
    let got = receive_and_ack(h, 2).await;
    assert_eq!(
        envelopes(&got),
        vec![one.clone(), two],
        "duplicates are dropped"
    );
    send(h, std::slice::from_ref(&one)).await;
    expect_nothing(h, "a resend within the dedup window after the ack").await;
    if let Some(window) = h.dedup_window() {
        h.advance(window + Duration::seconds(1)).await;
        send(h, std::slice::from_ref(&one)).await;
        let again = receive_and_ack(h, 1).await;
        assert_eq!(
            envelopes(&again),
            vec![one],
            "after the window a resend is new"
        );
    }
}

/// The deduplication id is the lot, the submitter and the command id: the
/// same command id from another submitter, on another lot, or from a timer
/// is a different message.
pub async fn dedup_ids_are_scoped_to_lot_and_submitter<H: QueueHarness>(h: &H) {
    let timer = CommandEnvelope::new(cid("k"), lot_id("lot-a"), Command::Advance);
    let sent = [
        queued_bid("lot-a", "ann", "k"),
        queued_bid("lot-a", "bob", "k"),
        queued_bid("lot-b", "ann", "k"),
        timer,
    ];
    send(h, &sent).await;
    let mut got = envelopes(&receive_and_ack(h, sent.len()).await);
    let mut want = sent.to_vec();
    let key = |e: &CommandEnvelope| format!("{}/{:?}", e.lot_id, e.submitter());
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want, "four distinct dedup ids, four messages");
}

/// A message not acked within the visibility timeout is delivered again,
/// with its receive count raised.
pub async fn redelivers_after_the_visibility_timeout<H: QueueHarness>(h: &H) {
    let one = queued_bid("lot-1", "ann", "c1");
    send(h, std::slice::from_ref(&one)).await;
    let first = receive(h, 1).await;
    assert_eq!(first.len(), 1, "the message arrives");
    expect_nothing(h, "the message while in flight").await;
    h.advance(past_visibility(h)).await;
    let again = receive(h, MAX_QUEUE_BATCH).await;
    assert_eq!(
        envelopes(&again),
        vec![one],
        "redelivered after the visibility timeout"
    );
    assert_eq!(
        again[0].receive_count, 2,
        "the second delivery has receive_count 2"
    );
    ack(h, &again).await;
    h.advance(past_visibility(h)).await;
    expect_nothing(h, "an acked redelivery").await;
}

/// After [`MAX_RECEIVES`] receives without an ack a message is
/// dead-lettered: it never comes back, and its group moves on.
pub async fn dead_letters_after_max_receives<H: QueueHarness>(h: &H) {
    let poison = queued_bid("lot-1", "ann", "poison");
    let next = queued_bid("lot-1", "ann", "next");
    send(h, &[poison.clone(), next.clone()]).await;
    for attempt in 1..=MAX_RECEIVES {
        let got = receive(h, 1).await;
        assert_eq!(envelopes(&got), vec![poison.clone()], "receive #{attempt}");
        assert_eq!(
            got[0].receive_count, attempt,
            "receive_count of receive #{attempt}"
        );
        h.advance(past_visibility(h)).await;
    }
    let after = receive(h, MAX_QUEUE_BATCH).await;
    assert_eq!(
        envelopes(&after),
        vec![next],
        "after {MAX_RECEIVES} receives the message is dead-lettered and the group moves on"
    );
    assert_eq!(
        after[0].receive_count, 1,
        "the next message's first delivery"
    );
    ack(h, &after).await;
    h.advance(past_visibility(h)).await;
    expect_nothing(h, "a dead-lettered message").await;
}

/// An acked message is gone for good.
pub async fn acked_messages_are_gone<H: QueueHarness>(h: &H) {
    send(
        h,
        &[
            queued_bid("lot-1", "ann", "c1"),
            queued_bid("lot-2", "ann", "c1"),
        ],
    )
    .await;
    receive_and_ack(h, 2).await;
    h.advance(past_visibility(h)).await;
    expect_nothing(h, "acked messages after the visibility timeout").await;
}

/// `set_visibility` makes a message visible again after a delay (0: at
/// once, a retry) or keeps it hidden longer than the timeout.
pub async fn set_visibility_retries_or_extends<H: QueueHarness>(h: &H) {
    let one = queued_bid("lot-1", "ann", "c1");
    send(h, std::slice::from_ref(&one)).await;
    let first = receive(h, 1).await;
    assert_eq!(first.len(), 1, "the message arrives");
    h.queue()
        .set_visibility(&first[0].receipt, Duration::zero())
        .await
        .unwrap_or_else(|e| panic!("set_visibility(0) failed: {e:?}"));
    let retry = receive(h, 1).await;
    assert_eq!(
        envelopes(&retry),
        vec![one.clone()],
        "visible again at once"
    );
    assert_eq!(retry[0].receive_count, 2, "a retry counts as a receive");
    let longer = h.visibility_timeout() * 3;
    h.queue()
        .set_visibility(&retry[0].receipt, longer)
        .await
        .unwrap_or_else(|e| panic!("set_visibility(longer) failed: {e:?}"));
    h.advance(past_visibility(h)).await;
    expect_nothing(h, "a message whose visibility was extended").await;
    h.advance(longer).await;
    let late = receive(h, 1).await;
    assert_eq!(
        envelopes(&late),
        vec![one],
        "visible after the extended delay"
    );
    assert_eq!(late[0].receive_count, 3, "the third receive");
}

/// A send of more than [`MAX_QUEUE_BATCH`] messages is refused whole
/// (`TooLarge`); a full batch is fine.
pub async fn refuses_batches_over_the_limit<H: QueueHarness>(h: &H) {
    let batch: Vec<CommandEnvelope> = (0..=MAX_QUEUE_BATCH)
        .map(|i| queued_bid(&format!("lot-{i}"), "ann", "c1"))
        .collect();
    let result = h.queue().send(&batch).await;
    assert!(
        matches!(result, Err(QueueError::TooLarge { .. })),
        "sending {} messages: expected TooLarge, got {result:?}",
        batch.len()
    );
    expect_nothing(h, "a refused batch").await;
    send(h, &batch[..MAX_QUEUE_BATCH]).await;
    receive_and_ack(h, MAX_QUEUE_BATCH).await;
}

/// `receive(max)` returns at most `max` messages.
pub async fn receive_returns_at_most_max<H: QueueHarness>(h: &H) {
    let batch: Vec<CommandEnvelope> = (0..5)
        .map(|i| queued_bid(&format!("lot-{i}"), "ann", "c1"))
        .collect();
    send(h, &batch).await;
    let got = receive(h, 2).await;
    assert!(
        !got.is_empty() && got.len() <= 2,
        "receive(2) with five groups ready must give one or two, got {}",
        got.len()
    );
}
