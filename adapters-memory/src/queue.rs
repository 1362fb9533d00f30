//! `MemoryCommandQueue`: the `CommandQueue` port in process memory, with
//! SQS FIFO semantics so tests exercise what production does: message
//! groups (one per lot) delivered in order and blocked while a message is
//! in flight, deduplication within a window, visibility timeouts with
//! redelivery, and a dead-letter list after [`MAX_RECEIVES`] receives.
//!
//! Visibility and deduplication are measured with an injected [`Clock`]
//! (a [`ManualClock`](crate::ManualClock) in tests); only `receive`'s wait
//! for a first message uses tokio's timer, polling the clock every
//! [`RECEIVE_POLL_INTERVAL_MS`] so time moved by a manual clock is seen.

use crate::clock::SystemClock;
use hammerfall_ports::{
    Clock, CommandEnvelope, CommandId, CommandQueue, Delivery, Duration, LotId, MAX_QUEUE_BATCH,
    MAX_RECEIVES, ParticipantId, QueueError, Receipt, Timestamp,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

/// Visibility timeout when none is configured: 30 s (SQS's default).
pub const DEFAULT_VISIBILITY_TIMEOUT_SECS: i64 = 30;
/// Longest visibility timeout or `set_visibility` delay: 12 h (SQS's
/// limit); longer requests are clamped.
pub const MAX_VISIBILITY_TIMEOUT_SECS: i64 = 12 * 3600;
/// Deduplication window when none is configured: 5 min (SQS FIFO's).
pub const DEFAULT_DEDUP_WINDOW_SECS: i64 = 300;
/// Longest `receive` wait: 20 s (SQS long polling's limit); longer waits
/// are clamped.
pub const MAX_RECEIVE_WAIT_SECS: i64 = 20;
/// How often a waiting `receive` looks at the clock again.
pub const RECEIVE_POLL_INTERVAL_MS: u64 = 20;
/// Largest message, as JSON: 256 KiB (SQS's limit).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Most messages queued (in flight included); sends beyond it fail with
/// [`QueueError::Unavailable`] (back-pressure: retry later).
pub const MAX_QUEUED_MESSAGES: usize = 1_000_000;
/// Most dead letters kept; older ones are dropped first.
pub const MAX_DEAD_LETTERS: usize = 100_000;

/// Queue settings; [`Default`] gives SQS's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a received message stays hidden before it is redelivered.
    pub visibility_timeout: Duration,
    /// How long a deduplication id is remembered after its first send.
    pub dedup_window: Duration,
    /// Receives after which an unacknowledged message is dead-lettered.
    pub max_receives: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::seconds(DEFAULT_VISIBILITY_TIMEOUT_SECS),
            dedup_window: Duration::seconds(DEFAULT_DEDUP_WINDOW_SECS),
            max_receives: MAX_RECEIVES,
        }
    }
}

/// A command that was received [`QueueConfig::max_receives`] times without
/// being acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The command.
    pub envelope: CommandEnvelope,
    /// How many times it was received.
    pub receive_count: u32,
    /// When it was moved to the dead-letter list.
    pub dead_at: Timestamp,
}

/// The deduplication id: lot, submitter and command id (SPEC §5 scopes a
/// command id to its lot and submitter).
type DedupKey = (LotId, Option<ParticipantId>, CommandId);

fn dedup_key(envelope: &CommandEnvelope) -> DedupKey {
    (
        envelope.lot_id.clone(),
        envelope.submitter().cloned(),
        envelope.command_id.clone(),
    )
}

#[derive(Debug)]
struct Message {
    envelope: CommandEnvelope,
    receive_count: u32,
    /// While received and not yet visible again: its receipt and when it
    /// becomes visible.
    hidden: Option<(String, Timestamp)>,
}

impl Message {
    fn in_flight(&self, now: Timestamp) -> bool {
        self.hidden.as_ref().is_some_and(|(_, until)| *until > now)
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Messages by send number (send order across all groups).
    messages: BTreeMap<u64, Message>,
    /// Receipt → send number of the message it was issued for.
    receipts: HashMap<String, u64>,
    /// Deduplication ids and when they were first sent.
    dedup: HashMap<DedupKey, Timestamp>,
    /// The same ids in send order, to forget them when their window ends.
    dedup_order: VecDeque<(Timestamp, DedupKey)>,
    dead: VecDeque<DeadLetter>,
    next_message: u64,
    next_receipt: u64,
}

/// An SQS-FIFO-like command queue in memory.
pub struct MemoryCommandQueue {
    clock: Arc<dyn Clock>,
    config: QueueConfig,
    inner: Mutex<Inner>,
    /// Wakes waiting receivers when something may have become deliverable.
    ready: Notify,
}

impl std::fmt::Debug for MemoryCommandQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCommandQueue")
            .field("config", &self.config)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryCommandQueue {
    /// A queue on the system clock with SQS's default settings.
    fn default() -> Self {
        Self::new(SystemClock::new())
    }
}

fn clamp_visibility(d: Duration) -> Duration {
    d.clamp(
        Duration::zero(),
        Duration::seconds(MAX_VISIBILITY_TIMEOUT_SECS),
    )
}

impl MemoryCommandQueue {
    /// A queue with SQS's default settings, timed by `clock`.
    pub fn new(clock: impl Clock) -> Self {
        Self::with_config(clock, QueueConfig::default())
    }

    /// A queue with `config`, timed by `clock`. The visibility timeout is
    /// clamped to 0…[`MAX_VISIBILITY_TIMEOUT_SECS`] and `max_receives` to at
    /// least 1.
    pub fn with_config(clock: impl Clock, config: QueueConfig) -> Self {
        Self {
            clock: Arc::new(clock),
            config: QueueConfig {
                visibility_timeout: clamp_visibility(config.visibility_timeout),
                dedup_window: config.dedup_window.max(Duration::zero()),
                max_receives: config.max_receives.max(1),
            },
            inner: Mutex::new(Inner::default()),
            ready: Notify::new(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> QueueConfig {
        self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every operation checks before it writes; poisoned data is whole.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Messages that exhausted their receives, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.bury_exhausted(now, self.config.max_receives);
        inner.dead.iter().cloned().collect()
    }

    /// Messages queued, in flight included (dead letters excluded).
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    /// True when no message is queued or in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One non-waiting receive attempt.
    fn take(&self, max: usize) -> Vec<Delivery> {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.bury_exhausted(now, self.config.max_receives);
        inner.take(max, now, now + self.config.visibility_timeout)
    }
}

impl Inner {
    /// Moves visible messages that used up their receives to the dead
    /// letters (SQS does so when such a message would be received again).
    fn bury_exhausted(&mut self, now: Timestamp, max_receives: u32) {
        let exhausted: Vec<u64> = self
            .messages
            .iter()
            .filter(|(_, m)| m.receive_count >= max_receives && !m.in_flight(now))
            .map(|(n, _)| *n)
            .collect();
        for n in exhausted {
            let Some(message) = self.messages.remove(&n) else {
                continue;
            };
            if let Some((receipt, _)) = &message.hidden {
                self.receipts.remove(receipt);
            }
            if self.dead.len() >= MAX_DEAD_LETTERS {
                self.dead.pop_front();
            }
            self.dead.push_back(DeadLetter {
                envelope: message.envelope,
                receive_count: message.receive_count,
                dead_at: now,
            });
        }
    }

    /// Delivers up to `max` messages: per group, from its oldest message on,
    /// unless a message of the group is in flight.
    fn take(&mut self, max: usize, now: Timestamp, hidden_until: Timestamp) -> Vec<Delivery> {
        let mut blocked: HashSet<LotId> = HashSet::new();
        let mut chosen = Vec::new();
        for (n, message) in &self.messages {
            if chosen.len() >= max {
                break;
            }
            let group = &message.envelope.lot_id;
            if blocked.contains(group) {
                continue;
            }
            if message.in_flight(now) {
                blocked.insert(group.clone());
                continue;
            }
            chosen.push(*n);
        }
        let mut out = Vec::with_capacity(chosen.len());
        for n in chosen {
            let receipt = format!("m{n:x}.r{:x}", self.next_receipt);
            self.next_receipt += 1;
            let Some(message) = self.messages.get_mut(&n) else {
                continue;
            };
            if let Some((old, _)) = message.hidden.replace((receipt.clone(), hidden_until)) {
                self.receipts.remove(&old);
            }
            message.receive_count += 1;
            self.receipts.insert(receipt.clone(), n);
            out.push(Delivery {
                receipt: Receipt(receipt),
                receive_count: message.receive_count,
                envelope: message.envelope.clone(),
            });
        }
        out
    }

    /// The message a receipt was issued for, if the receipt is current and
    /// the message still hidden.
    fn live_receipt(&self, receipt: &Receipt, now: Timestamp) -> Option<u64> {
        let n = *self.receipts.get(&receipt.0)?;
        let message = self.messages.get(&n)?;
        let (current, until) = message.hidden.as_ref()?;
        (current == &receipt.0 && *until > now).then_some(n)
    }

    fn forget_expired_dedup(&mut self, now: Timestamp, window: Duration) {
        while let Some((at, _)) = self.dedup_order.front() {
            if *at + window > now {
                break;
            }
            if let Some((at, key)) = self.dedup_order.pop_front()
                && self.dedup.get(&key) == Some(&at)
            {
                self.dedup.remove(&key);
            }
        }
    }
}

impl CommandQueue for MemoryCommandQueue {
    async fn send(&self, batch: &[CommandEnvelope]) -> Result<(), QueueError> {
        if batch.len() > MAX_QUEUE_BATCH {
            return Err(QueueError::TooLarge {
                what: "messages per send",
            });
        }
        for envelope in batch {
            let size = serde_json::to_vec(envelope)
                .map_err(|e| QueueError::Malformed(e.to_string()))?
                .len();
            if size > MAX_MESSAGE_BYTES {
                return Err(QueueError::TooLarge {
                    what: "message size",
                });
            }
        }
        let now = self.clock.now();
        {
            let mut inner = self.lock();
            if inner.messages.len() + batch.len() > MAX_QUEUED_MESSAGES {
                return Err(QueueError::Unavailable("memory queue is full".into()));
            }
            inner.forget_expired_dedup(now, self.config.dedup_window);
            for envelope in batch {
                let key = dedup_key(envelope);
                if inner.dedup.contains_key(&key) {
                    continue;
                }
                inner.dedup.insert(key.clone(), now);
                inner.dedup_order.push_back((now, key));
                let n = inner.next_message;
                inner.next_message += 1;
                inner.messages.insert(
                    n,
                    Message {
                        envelope: envelope.clone(),
                        receive_count: 0,
                        hidden: None,
                    },
                );
            }
        }
        self.ready.notify_waiters();
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        if max > MAX_QUEUE_BATCH {
            return Err(QueueError::TooLarge {
                what: "messages per receive",
            });
        }
        if max == 0 {
            return Ok(Vec::new());
        }
        let wait = wait
            .clamp(Duration::zero(), Duration::seconds(MAX_RECEIVE_WAIT_SECS))
            .to_std()
            .unwrap_or_default();
        let deadline = tokio::time::Instant::now() + wait;
        let poll = std::time::Duration::from_millis(RECEIVE_POLL_INTERVAL_MS);
        loop {
            // Registered before looking, so a send in between is not missed.
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let batch = self.take(max);
            let now = tokio::time::Instant::now();
            if !batch.is_empty() || now >= deadline {
                return Ok(batch);
            }
            let nap = (deadline - now).min(poll);
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    async fn ack(&self, receipts: &[Receipt]) -> Result<(), QueueError> {
        let now = self.clock.now();
        let mut stale = false;
        {
            let mut inner = self.lock();
            for receipt in receipts {
                match inner.live_receipt(receipt, now) {
                    Some(n) => {
                        inner.messages.remove(&n);
                        inner.receipts.remove(&receipt.0);
                    }
                    None => stale = true,
                }
            }
        }
        // An ack unblocks the message's group.
        self.ready.notify_waiters();
        if stale {
            Err(QueueError::StaleReceipt)
        } else {
            Ok(())
        }
    }

    async fn set_visibility(&self, receipt: &Receipt, delay: Duration) -> Result<(), QueueError> {
        let now = self.clock.now();
        {
            let mut inner = self.lock();
            let n = inner
                .live_receipt(receipt, now)
                .ok_or(QueueError::StaleReceipt)?;
            if let Some(message) = inner.messages.get_mut(&n) {
                message.hidden = Some((receipt.0.clone(), now + clamp_visibility(delay)));
            }
        }
        self.ready.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use hammerfall_engine::testkit::fixtures::queued_bid;
    use hammerfall_ports::{Actor, CreateLot, Currency, Decimal};

    const VISIBILITY: i64 = 30;

    fn queue() -> (ManualClock, MemoryCommandQueue) {
        let clock = ManualClock::default();
        let config = QueueConfig {
            visibility_timeout: Duration::seconds(VISIBILITY),
            ..QueueConfig::default()
        };
        (
            clock.clone(),
            MemoryCommandQueue::with_config(clock, config),
        )
    }

    async fn take_one(q: &MemoryCommandQueue) -> Delivery {
        let mut got = q
            .receive(1, Duration::zero())
            .await
            .unwrap_or_else(|e| panic!("receive failed: {e}"));
        assert_eq!(got.len(), 1, "expected one message");
        got.remove(0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_receive_gets_a_message_sent_meanwhile() {
        let (_, q) = queue();
        let q = Arc::new(q);
        let sender = Arc::clone(&q);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let _ = sender.send(&[queued_bid("lot-1", "ann", "c1")]).await;
        });
        let got = q.receive(10, Duration::seconds(5)).await;
        assert!(matches!(got.as_deref(), Ok([d]) if d.envelope.command_id.as_str() == "c1"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_receive_sees_visibility_expire_on_a_manual_clock() {
        let (clock, q) = queue();
        let _ = q.send(&[queued_bid("lot-1", "ann", "c1")]).await;
        let first = take_one(&q).await;
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            clock.advance(Duration::seconds(VISIBILITY + 1));
        });
        let again = q.receive(10, Duration::seconds(5)).await;
        assert!(
            matches!(again.as_deref(), Ok([d]) if d.envelope == first.envelope && d.receive_count == 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_receive_waits_its_time_then_returns_nothing() {
        let (_, q) = queue();
        let start = tokio::time::Instant::now();
        let got = q.receive(10, Duration::seconds(2)).await;
        assert!(matches!(got.as_deref(), Ok([])));
        assert!(start.elapsed() >= std::time::Duration::from_secs(2));
        let start = tokio::time::Instant::now();
        let _ = q.receive(10, Duration::seconds(3600)).await;
        assert!(
            start.elapsed()
                <= std::time::Duration::from_secs(MAX_RECEIVE_WAIT_SECS.unsigned_abs() + 1),
            "waits are clamped to the long-polling limit"
        );
    }

    #[tokio::test]
    async fn receipts_go_stale_when_the_message_becomes_visible_again() {
        let (clock, q) = queue();
        let _ = q.send(&[queued_bid("lot-1", "ann", "c1")]).await;
        let first = take_one(&q).await;
        clock.advance(Duration::seconds(VISIBILITY + 1));
        assert!(matches!(
            q.ack(std::slice::from_ref(&first.receipt)).await,
            Err(QueueError::StaleReceipt)
        ));
        assert!(matches!(
            q.set_visibility(&first.receipt, Duration::zero()).await,
            Err(QueueError::StaleReceipt)
        ));
        let second = take_one(&q).await;
        assert_ne!(
            second.receipt, first.receipt,
            "every receive issues a new receipt"
        );
        assert!(q.ack(std::slice::from_ref(&first.receipt)).await.is_err());
        assert!(q.ack(std::slice::from_ref(&second.receipt)).await.is_ok());
        assert!(matches!(
            q.ack(std::slice::from_ref(&second.receipt)).await,
            Err(QueueError::StaleReceipt)
        ));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn exhausted_messages_are_listed_as_dead_letters() {
        let (clock, q) = queue();
        let poison = queued_bid("lot-1", "ann", "poison");
        let _ = q.send(std::slice::from_ref(&poison)).await;
        for _ in 0..MAX_RECEIVES {
            let _ = take_one(&q).await;
            assert!(
                q.dead_letters().is_empty(),
                "not dead while receives remain"
            );
            clock.advance(Duration::seconds(VISIBILITY + 1));
        }
        let dead = q.dead_letters();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].envelope, poison);
        assert_eq!(dead[0].receive_count, MAX_RECEIVES);
        assert!(q.is_empty(), "a dead letter leaves the queue");
    }

    #[tokio::test]
    async fn receive_sizes_outside_the_batch_limit_are_handled() {
        let (_, q) = queue();
        let _ = q.send(&[queued_bid("lot-1", "ann", "c1")]).await;
        assert!(matches!(
            q.receive(MAX_QUEUE_BATCH + 1, Duration::zero()).await,
            Err(QueueError::TooLarge { .. })
        ));
        assert!(matches!(
            q.receive(0, Duration::zero()).await.as_deref(),
            Ok([])
        ));
        assert_eq!(q.len(), 1, "a refused receive takes nothing");
    }

    #[tokio::test]
    async fn an_oversized_message_is_refused() {
        let (_, q) = queue();
        let huge = CreateLot::fixed_price(
            LotId::new("lot-1").unwrap_or_else(|e| panic!("{e}")),
            Actor::seller(ParticipantId::new("sam").unwrap_or_else(|e| panic!("{e}"))),
            "x".repeat(MAX_MESSAGE_BYTES),
            Currency::USD,
            Decimal::ONE,
        );
        let envelope = CommandEnvelope::new(
            CommandId::new("c1").unwrap_or_else(|e| panic!("{e}")),
            huge.lot_id.clone(),
            hammerfall_ports::Command::CreateLot(Box::new(huge)),
        );
        assert!(matches!(
            q.send(&[envelope]).await,
            Err(QueueError::TooLarge {
                what: "message size"
            })
        ));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_message_in_a_refused_batch_is_not_remembered_for_dedup() {
        let (_, q) = queue();
        let one = queued_bid("lot-1", "ann", "c1");
        let mut batch = vec![one.clone(); MAX_QUEUE_BATCH + 1];
        batch[0] = one.clone();
        assert!(q.send(&batch).await.is_err());
        assert!(q.send(std::slice::from_ref(&one)).await.is_ok());
        assert_eq!(q.len(), 1, "the refused batch did not mark the id as seen");
    }
}
