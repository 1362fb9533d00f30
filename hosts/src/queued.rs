//! Queued writes: the mode of a host whose commands go through a queue
//! instead of its own sequencer (the `api` Lambda function; SPEC §7, "a
//! host whose writes go through a queue … answers every command with
//! 202 + `Location`").
//!
//! Command routes validate authentication, roles and the body exactly as
//! in the synchronous mode (bad input is still a typed 4xx, and nothing is
//! queued), then hand the command envelope to the host's [`CommandSink`]
//! and answer 202 `{commandId, status: "pending"}` with the command's
//! `Location`. A worker elsewhere judges it; its record then answers
//! `GET /lots/{lotId}/commands/{commandId}`.
//!
//! Until then the status route asks the sink whether the caller queued
//! that command ([`CommandSink::is_pending`]): the AWS sink keeps a small
//! marker item per queued command, keyed by lot, submitter and command id,
//! so `pending` is shown to the submitter alone, as a judged command is.

use hammerfall_adapters_aws::{DynamoLotStore, SqsCommandQueue};
use hammerfall_ports::{
    CommandEnvelope, CommandId, CommandQueue, LotId, ParticipantId, QueueError, StoreError,
    Timestamp,
};
use std::future::Future;
use std::pin::Pin;

/// A boxed future of a sink (the sink is a trait object in the host state,
/// so its methods cannot be `async fn`).
pub type SinkFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SinkError>> + Send + 'a>>;

/// Why a command could not be queued, or its pending state not read.
/// Nothing is lost: the caller retries with the same `Idempotency-Key`.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The queue refused or could not be reached (transient failures are
    /// 503 with `Retry-After`, others 500).
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The pending marker could not be written or read (503 if transient,
    /// else 500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SinkError {
    /// True when a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SinkError::Queue(QueueError::Unavailable(_)) => true,
            SinkError::Queue(_) => false,
            SinkError::Store(e) => e.is_retryable(),
        }
    }
}

/// Where a queued host sends its commands.
pub trait CommandSink: Send + Sync + 'static {
    /// Queues `envelope` (submitted at `now`) for a worker to judge. Once
    /// this returns `Ok`, the command is durable in the queue and
    /// [`CommandSink::is_pending`] reports it to its submitter.
    fn enqueue<'a>(&'a self, envelope: &'a CommandEnvelope, now: Timestamp) -> SinkFuture<'a, ()>;

    /// True when `submitter` queued `command` for `lot` (judged or not:
    /// the status route reads the command record first).
    fn is_pending<'a>(
        &'a self,
        lot: &'a LotId,
        submitter: &'a ParticipantId,
        command: &'a CommandId,
    ) -> SinkFuture<'a, bool>;
}

/// The AWS sink: the SQS FIFO command queue (group = lot, deduplication id
/// = hash of lot, submitter and command id) and pending markers in the
/// DynamoDB table.
#[derive(Debug, Clone)]
pub struct SqsSink {
    queue: SqsCommandQueue,
    store: DynamoLotStore,
}

impl SqsSink {
    /// A sink sending to `queue` and marking in `store`'s table.
    pub fn new(queue: SqsCommandQueue, store: DynamoLotStore) -> Self {
        Self { queue, store }
    }
}

impl CommandSink for SqsSink {
    fn enqueue<'a>(&'a self, envelope: &'a CommandEnvelope, now: Timestamp) -> SinkFuture<'a, ()> {
        Box::pin(async move {
            // The marker first: a worker may judge the command before the
            // send even returns, and a marker without a message (a failed
            // send) only says `pending` to a caller who was told 503.
            if let Some(submitter) = envelope.submitter() {
                self.store
                    .mark_pending(&envelope.lot_id, submitter, &envelope.command_id, now)
                    .await?;
            }
            self.queue.send(std::slice::from_ref(envelope)).await?;
            Ok(())
        })
    }

    fn is_pending<'a>(
        &'a self,
        lot: &'a LotId,
        submitter: &'a ParticipantId,
        command: &'a CommandId,
    ) -> SinkFuture<'a, bool> {
        Box::pin(async move { Ok(self.store.is_pending(lot, submitter, command).await?) })
    }
}

impl From<SinkError> for crate::Problem {
    fn from(e: SinkError) -> Self {
        if e.is_retryable() {
            tracing::warn!(error = %e, "command queue unavailable");
            crate::Problem::unavailable("the command queue is temporarily unavailable")
        } else {
            crate::Problem::internal(&e)
        }
    }
}
