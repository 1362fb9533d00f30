//! `MemoryEventPublisher`: the `EventPublisher` port in process memory. It
//! keeps a bounded log per lot and fans events out to subscribers, each
//! from a sequence of its choosing, in publish order per lot. It
//! deduplicates nothing: what is published twice is delivered twice
//! (at-least-once; subscribers drop copies by `(lotId, sequence)`).

use crate::chunked::ChunkedLog;
use hammerfall_ports::{EventEnvelope, EventPublisher, LotId, PublishError};
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc;

/// Events kept per lot for subscribers that start in the past; older ones
/// are dropped (the store's `events_after` is the full history).
pub const MAX_LOGGED_EVENTS_PER_LOT: usize = 10_000;
/// Live events buffered for one subscriber. A subscriber that falls this
/// far behind is cut off (its subscription ends) rather than silently
/// skipped or allowed to grow memory: it resubscribes from the last
/// sequence it saw.
pub const SUBSCRIBER_BUFFER: usize = 4_096;
/// Most live subscribers of one lot.
pub const MAX_SUBSCRIBERS_PER_LOT: usize = 1_024;

/// Why a subscription could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The lot has [`MAX_SUBSCRIBERS_PER_LOT`] subscribers. Transient: retry
    /// later (hosts answer 503).
    #[error("too many subscribers for this lot")]
    TooManySubscribers,
    /// Events right after the requested sequence are no longer in the log:
    /// read them from the store (`events_after`) and subscribe from there.
    #[error("events after {after} are no longer kept; the oldest kept is {oldest}")]
    TooOld {
        /// The sequence asked for.
        after: u64,
        /// The oldest sequence still kept.
        oldest: u64,
    },
}

#[derive(Debug)]
struct LotLog {
    lot_id: LotId,
    /// Hash of `lot_id` (the shard's table never hashes an id again).
    hash: u64,
    /// In chunks that never move: logging copies nothing already kept.
    events: ChunkedLog<EventEnvelope>,
    subscribers: Vec<(u64, mpsc::Sender<EventEnvelope>)>,
}

/// One shard's logs by the hash of their lot's id: the hash that chose the
/// shard finds the log in it, so a run of events hashes its lot's id once.
#[derive(Debug, Default)]
struct Logs(hashbrown::HashTable<LotLog>);

impl Logs {
    fn get(&self, hash: u64, lot_id: &LotId) -> Option<&LotLog> {
        self.0.find(hash, |l| l.hash == hash && l.lot_id == *lot_id)
    }

    /// The log of `lot_id`, created empty if it has none.
    fn get_or_create(&mut self, hash: u64, lot_id: &LotId) -> &mut LotLog {
        self.0
            .entry(hash, |l| l.hash == hash && l.lot_id == *lot_id, |l| l.hash)
            .or_insert_with(|| LotLog {
                lot_id: lot_id.clone(),
                hash,
                events: ChunkedLog::default(),
                subscribers: Vec::new(),
            })
            .into_mut()
    }
}

/// Shards of the publisher's logs: workers publishing different lots
/// rarely meet on one lock.
const PUBLISHER_SHARDS: usize = 16;

/// Delivers events to in-process subscribers (live feeds, tests).
#[derive(Debug)]
pub struct MemoryEventPublisher {
    shards: Box<[Mutex<Logs>]>,
    hasher: foldhash::fast::FixedState,
}

impl Default for MemoryEventPublisher {
    fn default() -> Self {
        Self {
            shards: (0..PUBLISHER_SHARDS).map(|_| Mutex::default()).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x0070_7562),
        }
    }
}

impl LotLog {
    /// Logs one event and hands it to the subscribers that want it.
    fn push(&mut self, event: EventEnvelope) {
        if self.events.len() >= MAX_LOGGED_EVENTS_PER_LOT {
            self.events.pop_front();
        }
        // A full or closed subscriber is dropped: its receiver sees the
        // end of the stream after the events it has, never a gap.
        if !self.subscribers.is_empty() {
            self.subscribers.retain(|(after, tx)| {
                event.event.sequence <= *after || tx.try_send(event.clone()).is_ok()
            });
        }
        self.events.push(event);
    }
}

/// A subscriber's view of one lot: the kept events after its starting
/// sequence, then live ones as they are published. It ends (`recv` gives
/// `None`) when the publisher is dropped or the subscriber fell more than
/// [`SUBSCRIBER_BUFFER`] events behind.
#[derive(Debug)]
pub struct Subscription {
    backlog: VecDeque<EventEnvelope>,
    live: mpsc::Receiver<EventEnvelope>,
}

impl Subscription {
    /// The next event, waiting for one to be published.
    pub async fn recv(&mut self) -> Option<EventEnvelope> {
        match self.backlog.pop_front() {
            Some(event) => Some(event),
            None => self.live.recv().await,
        }
    }

    /// The next event if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Option<EventEnvelope> {
        self.backlog
            .pop_front()
            .or_else(|| self.live.try_recv().ok())
    }

    /// Every event ready now, without waiting.
    pub fn drain(&mut self) -> Vec<EventEnvelope> {
        std::iter::from_fn(|| self.try_recv()).collect()
    }
}

impl MemoryEventPublisher {
    /// A publisher with no events and no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shard of `lot_id`, locked, and the hash of `lot_id` in it. The
    /// shard is taken from the hash's upper half (the table places logs by
    /// the lower bits and tells them apart by the top seven).
    fn lock(&self, lot_id: &LotId) -> (MutexGuard<'_, Logs>, u64) {
        let hash = self.hasher.hash_one(lot_id);
        // `x % len` < len.
        let i = usize::try_from((hash >> 32) % self.shards.len() as u64).unwrap_or(0);
        let logs = self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (logs, hash)
    }

    /// Logs and fans out events, in order, one lot's run at a time (one
    /// lock and one lookup per run).
    fn publish_all(&self, events: impl IntoIterator<Item = EventEnvelope>) {
        let mut events = events.into_iter().peekable();
        while let Some(first) = events.next() {
            let (mut logs, hash) = self.lock(&first.lot_id);
            let log = logs.get_or_create(hash, &first.lot_id);
            log.push(first);
            while let Some(next) = events.next_if(|e| e.lot_id == log.lot_id) {
                log.push(next);
            }
        }
    }

    /// Subscribes to `lot_id` from sequence `after_sequence + 1` on: the
    /// kept events first, then live ones, with no gap between them (both
    /// are taken under one lock).
    pub fn subscribe(
        &self,
        lot_id: &LotId,
        after_sequence: u64,
    ) -> Result<Subscription, SubscribeError> {
        let (mut logs, hash) = self.lock(lot_id);
        let log = logs.get_or_create(hash, lot_id);
        log.subscribers.retain(|(_, tx)| !tx.is_closed());
        if log.subscribers.len() >= MAX_SUBSCRIBERS_PER_LOT {
            return Err(SubscribeError::TooManySubscribers);
        }
        if log.events.len() >= MAX_LOGGED_EVENTS_PER_LOT
            && let Some(oldest) = log.events.front().map(|e| e.event.sequence)
            && after_sequence + 1 < oldest
        {
            return Err(SubscribeError::TooOld {
                after: after_sequence,
                oldest,
            });
        }
        let backlog = log
            .events
            .iter()
            .filter(|e| e.event.sequence > after_sequence)
            .cloned()
            .collect();
        let (tx, live) = mpsc::channel(SUBSCRIBER_BUFFER);
        log.subscribers.push((after_sequence, tx));
        Ok(Subscription { backlog, live })
    }

    /// The kept log of `lot_id`, in publish order (duplicates included).
    pub fn published(&self, lot_id: &LotId) -> Vec<EventEnvelope> {
        let (logs, hash) = self.lock(lot_id);
        logs.get(hash, lot_id)
            .map(|log| log.events.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl EventPublisher for MemoryEventPublisher {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<(), PublishError> {
        self.publish_all(events.iter().cloned());
        Ok(())
    }

    async fn publish_owned(&self, events: Vec<EventEnvelope>) -> Result<(), PublishError> {
        self.publish_all(events);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hammerfall_ports::{Event, SequencedEvent, Timestamp};

    fn lot(s: &str) -> LotId {
        LotId::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn event(lot_id: &str, sequence: u64) -> EventEnvelope {
        EventEnvelope::new(
            lot(lot_id),
            SequencedEvent {
                sequence,
                occurred_at: Timestamp::UNIX_EPOCH,
                event: Event::LotOpened {},
            },
        )
    }

    fn seqs(events: &[EventEnvelope]) -> Vec<u64> {
        events.iter().map(|e| e.event.sequence).collect()
    }

    #[tokio::test]
    async fn a_subscriber_gets_the_kept_events_then_live_ones_without_a_gap() {
        let p = MemoryEventPublisher::new();
        let _ = p
            .publish(&[event("a", 1), event("a", 2), event("b", 1)])
            .await;
        let mut sub = p.subscribe(&lot("a"), 1).unwrap_or_else(|e| panic!("{e}"));
        let _ = p.publish(&[event("a", 3), event("b", 2)]).await;
        assert_eq!(sub.recv().await.map(|e| e.event.sequence), Some(2));
        assert_eq!(sub.recv().await.map(|e| e.event.sequence), Some(3));
        assert_eq!(sub.try_recv(), None, "nothing else for lot a yet");
        let publisher = std::sync::Arc::new(p);
        let later = std::sync::Arc::clone(&publisher);
        let task = tokio::spawn(async move { later.publish(&[event("a", 4)]).await });
        assert_eq!(sub.recv().await.map(|e| e.event.sequence), Some(4));
        assert!(matches!(task.await, Ok(Ok(()))));
    }

    #[tokio::test]
    async fn nothing_is_deduplicated() {
        let p = MemoryEventPublisher::new();
        let mut sub = p.subscribe(&lot("a"), 0).unwrap_or_else(|e| panic!("{e}"));
        let _ = p.publish(&[event("a", 1), event("a", 2)]).await;
        let _ = p.publish(&[event("a", 2)]).await;
        assert_eq!(seqs(&sub.drain()), [1, 2, 2]);
        assert_eq!(seqs(&p.published(&lot("a"))), [1, 2, 2]);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_too_far_behind_is_cut_off_not_skipped() {
        let p = MemoryEventPublisher::new();
        let mut sub = p.subscribe(&lot("a"), 0).unwrap_or_else(|e| panic!("{e}"));
        let burst: Vec<EventEnvelope> = (1..=SUBSCRIBER_BUFFER as u64 + 1)
            .map(|n| event("a", n))
            .collect();
        let _ = p.publish(&burst).await;
        let got = sub.drain();
        assert_eq!(got.len(), SUBSCRIBER_BUFFER, "the buffer's worth arrives");
        assert_eq!(
            seqs(&got),
            (1..=SUBSCRIBER_BUFFER as u64).collect::<Vec<_>>()
        );
        assert_eq!(
            sub.recv().await,
            None,
            "then the subscription ends, with no gap"
        );
        let mut again = p
            .subscribe(&lot("a"), SUBSCRIBER_BUFFER as u64)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            seqs(&again.drain()),
            [SUBSCRIBER_BUFFER as u64 + 1],
            "resubscribing catches up"
        );
    }

    #[tokio::test]
    async fn starting_before_the_kept_log_is_refused() {
        let p = MemoryEventPublisher::new();
        let all: Vec<EventEnvelope> = (1..=MAX_LOGGED_EVENTS_PER_LOT as u64 + 5)
            .map(|n| event("a", n))
            .collect();
        let _ = p.publish(&all).await;
        assert_eq!(
            p.subscribe(&lot("a"), 0).err(),
            Some(SubscribeError::TooOld {
                after: 0,
                oldest: 6
            })
        );
        let mut sub = p.subscribe(&lot("a"), 5).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sub.drain().len(), MAX_LOGGED_EVENTS_PER_LOT);
    }

    /// Kept counts and starting sequences around the kept log's chunk
    /// edges.
    fn around_chunk_edges(n: u64) -> Vec<u64> {
        crate::chunked::around_chunk_edges(n, &[n + 50])
    }

    #[tokio::test]
    async fn subscribing_from_any_sequence_reads_across_chunk_edges() {
        for total in [3u64, 4, 5, 255, 256, 257, 1_000] {
            let p = MemoryEventPublisher::new();
            let all: Vec<EventEnvelope> = (1..=total).map(|n| event("a", n)).collect();
            let _ = p.publish(&all).await;
            assert_eq!(
                seqs(&p.published(&lot("a"))),
                (1..=total).collect::<Vec<_>>()
            );
            for after in around_chunk_edges(total) {
                let mut sub = p
                    .subscribe(&lot("a"), after)
                    .unwrap_or_else(|e| panic!("{e}"));
                let expected: Vec<u64> = (after + 1..=total).collect();
                assert_eq!(seqs(&sub.drain()), expected, "{total} kept, after {after}");
            }
        }
    }

    #[tokio::test]
    async fn the_kept_log_drops_its_oldest_across_chunk_edges() {
        let max = MAX_LOGGED_EVENTS_PER_LOT as u64;
        let p = MemoryEventPublisher::new();
        let mut published = 0;
        for extra in around_chunk_edges(600) {
            let all: Vec<EventEnvelope> = (published + 1..=max + extra)
                .map(|n| event("a", n))
                .collect();
            let _ = p.publish(&all).await;
            published = published.max(max + extra);
            let oldest = published - max + 1;
            let kept = seqs(&p.published(&lot("a")));
            assert_eq!(kept.len(), MAX_LOGGED_EVENTS_PER_LOT);
            assert_eq!((kept[0], kept[kept.len() - 1]), (oldest, published));
            assert!(
                kept.windows(2).all(|w| w[1] == w[0] + 1),
                "in order, no gap"
            );
            if oldest > 1 {
                assert_eq!(
                    p.subscribe(&lot("a"), oldest - 2).err(),
                    Some(SubscribeError::TooOld {
                        after: oldest - 2,
                        oldest
                    })
                );
            }
            let mut sub = p
                .subscribe(&lot("a"), oldest - 1)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(seqs(&sub.drain()), kept);
        }
    }

    #[tokio::test]
    async fn subscribers_per_lot_are_limited() {
        let p = MemoryEventPublisher::new();
        let subs: Vec<Subscription> = (0..MAX_SUBSCRIBERS_PER_LOT)
            .map(|_| p.subscribe(&lot("a"), 0).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert_eq!(
            p.subscribe(&lot("a"), 0).err(),
            Some(SubscribeError::TooManySubscribers)
        );
        assert!(p.subscribe(&lot("b"), 0).is_ok(), "the limit is per lot");
        drop(subs);
        assert!(
            p.subscribe(&lot("a"), 0).is_ok(),
            "dropped subscriptions free their slots"
        );
    }
}
