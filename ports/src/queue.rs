//! The `CommandQueue` port: the asynchronous inbound path (SQS FIFO in AWS).

use crate::command::CommandEnvelope;
use crate::time::Duration;
use std::future::Future;

/// Most messages per send or receive call (SQS's batch limit).
pub const MAX_QUEUE_BATCH: usize = 10;
/// Deliveries after which a message goes to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 3;

/// Handle to ack or retry one received message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Receipt(pub String);

/// A received command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Ack/retry handle.
    pub receipt: Receipt,
    /// How many times it has been received, this time included (1-based).
    pub receive_count: u32,
    /// The command.
    pub envelope: CommandEnvelope,
}

/// A queue failure.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Transient: retry with backoff.
    #[error("queue temporarily unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// More than [`MAX_QUEUE_BATCH`] messages, or a message too large. Not retryable.
    #[error("queue request too large: {what}")]
    TooLarge {
        /// Which limit.
        what: &'static str,
    },
    /// A message body is not a command envelope (goes to the dead-letter queue).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The receipt is unknown or expired (the message became visible again).
    #[error("receipt is no longer valid")]
    StaleReceipt,
}

/// The command queue.
///
/// Contract:
/// - Messages of one group (the lot id) MUST be delivered in send order, and
///   while one is in flight no later message of its group is delivered.
/// - Sends with a deduplication id (derived from lot, submitter and command
///   id) seen within the dedup window MUST be accepted and dropped.
/// - A received message not acked within its visibility timeout MUST be
///   delivered again; after [`MAX_RECEIVES`] receives it MUST move to the
///   dead-letter queue instead.
pub trait CommandQueue: Send + Sync + 'static {
    /// Enqueues up to [`MAX_QUEUE_BATCH`] commands.
    fn send(
        &self,
        batch: &[CommandEnvelope],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Receives up to `max` commands, waiting up to `wait` for the first.
    fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery>, QueueError>> + Send;

    /// Deletes processed messages.
    fn ack(&self, receipts: &[Receipt]) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Makes a message visible again after `delay` (retry with backoff), or
    /// keeps it hidden longer while a long batch is processed.
    fn set_visibility(
        &self,
        receipt: &Receipt,
        delay: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}
