//! The live hub: an `EventPublisher` that fans committed events out to the
//! live WebSocket connections of each lot. It keeps no history (the store's
//! `events_after` is the history; a connection replays from it), and it
//! never blocks the sequencer: each subscriber has a bounded buffer, and a
//! subscriber whose buffer is full is dropped, which ends its stream so the
//! connection can close (SPEC §6: no gaps, no duplicates, no slowing bids).

use crate::limits::{LIVE_BUFFER_EVENTS, MAX_LIVE_SUBSCRIBERS_PER_LOT};
use hammerfall_ports::{EventEnvelope, EventPublisher, LotId, PublishError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc;

/// One event as sent on the wire: its sequence and its public JSON text
/// (serialized once, shared by every subscriber).
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// The lot's sequence of the event.
    pub sequence: u64,
    /// `EventEnvelope::to_public_json`, as text.
    pub json: Arc<str>,
}

impl LiveEvent {
    /// The public form of `envelope`.
    pub fn of(envelope: &EventEnvelope) -> Self {
        Self {
            sequence: envelope.event.sequence,
            json: envelope.to_public_json().to_string().into(),
        }
    }
}

/// Why a subscription was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many live subscribers for this lot")]
pub struct TooManySubscribers;

/// Live fan-out of committed events, per lot.
#[derive(Debug, Default)]
pub struct LiveHub {
    lots: Mutex<HashMap<LotId, Vec<mpsc::Sender<LiveEvent>>>>,
}

impl LiveHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<LotId, Vec<mpsc::Sender<LiveEvent>>>> {
        self.lots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every event of `lot_id` published from now on, until the receiver
    /// falls [`LIVE_BUFFER_EVENTS`] behind (then the stream ends).
    pub fn subscribe(
        &self,
        lot_id: &LotId,
    ) -> Result<mpsc::Receiver<LiveEvent>, TooManySubscribers> {
        let mut lots = self.lock();
        let subscribers = lots.entry(lot_id.clone()).or_default();
        subscribers.retain(|tx| !tx.is_closed());
        if subscribers.len() >= MAX_LIVE_SUBSCRIBERS_PER_LOT {
            return Err(TooManySubscribers);
        }
        let (tx, rx) = mpsc::channel(LIVE_BUFFER_EVENTS);
        subscribers.push(tx);
        Ok(rx)
    }

    /// Live subscribers of `lot_id`.
    pub fn subscribers(&self, lot_id: &LotId) -> usize {
        self.lock()
            .get(lot_id)
            .map_or(0, |subs| subs.iter().filter(|tx| !tx.is_closed()).count())
    }
}

impl EventPublisher for LiveHub {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<(), PublishError> {
        let mut lots = self.lock();
        if lots.is_empty() {
            return Ok(());
        }
        for envelope in events {
            let Some(subscribers) = lots.get_mut(&envelope.lot_id) else {
                continue;
            };
            let event = LiveEvent::of(envelope);
            // A full subscriber is dropped (its stream ends after what it
            // has), a closed one forgotten: never a wait, never a gap.
            subscribers.retain(|tx| tx.try_send(event.clone()).is_ok());
            if subscribers.is_empty() {
                lots.remove(&envelope.lot_id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hammerfall_ports::{Event, SequencedEvent, Timestamp};

    fn event(lot: &str, sequence: u64) -> EventEnvelope {
        EventEnvelope::new(
            LotId::new(lot).expect("id"),
            SequencedEvent {
                sequence,
                occurred_at: Timestamp::UNIX_EPOCH,
                event: Event::LotOpened {},
            },
        )
    }

    #[tokio::test]
    async fn subscribers_get_their_lots_events_in_order() {
        let hub = LiveHub::new();
        let lot = LotId::new("a").expect("id");
        let mut rx = hub.subscribe(&lot).expect("subscribe");
        hub.publish(&[event("a", 1), event("b", 1), event("a", 2)])
            .await
            .expect("publish");
        assert_eq!(rx.recv().await.map(|e| e.sequence), Some(1));
        let second = rx.recv().await.expect("second");
        assert_eq!(second.sequence, 2);
        assert!(second.json.contains("\"eventId\":\"a:2\""));
        assert!(rx.try_recv().is_err(), "nothing of lot b");
    }

    #[tokio::test]
    async fn a_full_subscriber_is_cut_off_and_never_blocks_publishing() {
        let hub = LiveHub::new();
        let lot = LotId::new("a").expect("id");
        let mut slow = hub.subscribe(&lot).expect("subscribe");
        let mut fast = hub.subscribe(&lot).expect("subscribe");
        let burst: Vec<EventEnvelope> = (1..=LIVE_BUFFER_EVENTS as u64 + 1)
            .map(|n| event("a", n))
            .collect();
        let mut fast_seen = 0;
        for chunk in burst.chunks(100) {
            hub.publish(chunk).await.expect("publish never waits");
            while fast.try_recv().is_ok() {
                fast_seen += 1;
            }
        }
        assert_eq!(
            fast_seen,
            LIVE_BUFFER_EVENTS + 1,
            "a reader keeping up gets all"
        );
        let mut got = 0;
        while slow.recv().await.is_some() {
            got += 1;
        }
        assert_eq!(
            got, LIVE_BUFFER_EVENTS,
            "the slow one gets its buffer, then the end"
        );
        assert_eq!(hub.subscribers(&lot), 1);
    }

    #[tokio::test]
    async fn subscribers_per_lot_are_limited() {
        let hub = LiveHub::new();
        let lot = LotId::new("a").expect("id");
        let subs: Vec<_> = (0..MAX_LIVE_SUBSCRIBERS_PER_LOT)
            .map(|_| hub.subscribe(&lot).expect("subscribe"))
            .collect();
        assert_eq!(hub.subscribe(&lot).err(), Some(TooManySubscribers));
        drop(subs);
        assert!(hub.subscribe(&lot).is_ok());
    }
}
