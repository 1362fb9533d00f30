//! The [`EventPublisher`] contract: committed events reach subscribers at
//! least once, in sequence order per lot. A publisher has no read side, so
//! the checks observe it through a [`PublisherHarness`] the adapter's tests
//! provide (an in-process subscriber, a test queue subscribed to a topic).

use super::fixtures::{Step, at, bidding_war, english_lot, envelopes, t0};
use super::named;
use hammerfall_ports::{Duration, EventEnvelope, EventPublisher, LotId};
use std::collections::HashSet;
use std::future::Future;

/// A publisher under test, with a way to see what its subscribers got.
pub trait PublisherHarness: Send + Sync {
    /// The publisher's type.
    type Publisher: EventPublisher;

    /// The publisher under test.
    fn publisher(&self) -> &Self::Publisher;

    /// Everything a subscriber of `lot` has received so far, from the
    /// lot's first event on, in delivery order (copies included).
    fn delivered(&self, lot: &LotId) -> impl Future<Output = Vec<EventEnvelope>> + Send;
}

/// Runs every [`EventPublisher`] check, each on a harness from `fresh`
/// (which must return a publisher that has published nothing).
pub async fn run_all_event_publisher<H, F, Fut>(mut fresh: F)
where
    H: PublisherHarness,
    F: FnMut() -> Fut,
    Fut: Future<Output = H>,
{
    macro_rules! check {
        ($($name:ident),* $(,)?) => {$(
            {
                // Each check borrows the factory in turn.
                let fresh = &mut fresh;
                named(concat!("event_publisher::", stringify!($name)), move || async move {
                    $name(&fresh().await).await
                })
                .await;
            }
        )*};
    }
    check!(
        delivers_a_lots_events_in_order,
        keeps_order_per_lot_across_calls_and_lots,
        republished_events_are_delivered_at_least_once,
        an_empty_publish_succeeds,
    );
}

/// A lot's whole history so far: creation and `bids` bids.
fn history(lot: &str, bids: u32) -> Vec<EventEnvelope> {
    let created = english_lot(lot, "seller-1", t0(), None, t0() + Duration::hours(24));
    let war: Vec<Step> = bidding_war(&created.lot, bids, at(60));
    let mut out = envelopes(&created);
    for s in &war {
        out.extend(envelopes(s));
    }
    out
}

async fn publish<H: PublisherHarness>(h: &H, events: &[EventEnvelope], what: &str) {
    if let Err(e) = h.publisher().publish(events).await {
        panic!("publishing {what} failed: {e:?}");
    }
}

/// Checks that `lot`'s subscriber got `expected` at least once each and,
/// dropping copies by sequence as subscribers do, in order.
async fn assert_delivered<H: PublisherHarness>(h: &H, lot: &LotId, expected: &[EventEnvelope]) {
    let got = h.delivered(lot).await;
    assert!(
        got.iter().all(|e| &e.lot_id == lot),
        "a subscriber of {lot} got another lot's event"
    );
    let mut seen = HashSet::new();
    let distinct: Vec<&EventEnvelope> = got
        .iter()
        .filter(|e| seen.insert(e.event.sequence))
        .collect();
    let want: Vec<&EventEnvelope> = expected.iter().collect();
    assert_eq!(
        distinct, want,
        "{lot}: every published event must arrive, in sequence order (copies aside)"
    );
    for e in &got {
        assert!(
            expected.contains(e),
            "{lot}: a delivered copy must equal the published event"
        );
    }
}

/// A lot's events published in one call arrive in sequence order.
pub async fn delivers_a_lots_events_in_order<H: PublisherHarness>(h: &H) {
    let events = history("lot-1", 4);
    publish(h, &events, "a lot's history").await;
    assert_delivered(h, &events[0].lot_id, &events).await;
}

/// Events of several lots, published over several calls and interleaved,
/// arrive in sequence order per lot.
pub async fn keeps_order_per_lot_across_calls_and_lots<H: PublisherHarness>(h: &H) {
    let a = history("lot-a", 3);
    let b = history("lot-b", 2);
    let mut mixed = Vec::new();
    for i in 0..a.len().max(b.len()) {
        mixed.extend(a.get(i).cloned());
        mixed.extend(b.get(i).cloned());
    }
    let (first, rest) = mixed.split_at(mixed.len() / 2);
    publish(h, first, "the first half").await;
    for e in rest {
        publish(h, std::slice::from_ref(e), "one event").await;
    }
    assert_delivered(h, &a[0].lot_id, &a).await;
    assert_delivered(h, &b[0].lot_id, &b).await;
}

/// Publishing again (an outbox retry) is allowed: subscribers get every
/// event at least once and, dropping copies, still in order.
pub async fn republished_events_are_delivered_at_least_once<H: PublisherHarness>(h: &H) {
    let events = history("lot-1", 3);
    let (head, _) = events.split_at(events.len() - 1);
    publish(h, head, "the first events").await;
    publish(h, &events[1..], "a retry overlapping the first call").await;
    assert_delivered(h, &events[0].lot_id, &events).await;
}

/// Publishing nothing succeeds and delivers nothing.
pub async fn an_empty_publish_succeeds<H: PublisherHarness>(h: &H) {
    publish(h, &[], "nothing").await;
    let lot = history("lot-1", 0)[0].lot_id.clone();
    assert!(h.delivered(&lot).await.is_empty(), "nothing was published");
}
