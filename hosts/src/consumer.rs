//! The server as a queue worker: with `--queue URL` it consumes an SQS
//! FIFO command queue into its own service, so commands other hosts queued
//! (the `api` Lambda function answers 202 and queues them) are judged by
//! the same sequencer, on the same store, as its HTTP commands.
//!
//! [`Service::consume`] does the work: per lot in queue order, a command
//! acknowledged only once its outcome is recorded, failures handed back
//! with backoff (and dead-lettered by the queue after its last receive).

use hammerfall_engine::Service;
use hammerfall_ports::{CommandQueue, CreditLedger, Duration, EventPublisher, LotStore};
use std::future::Future;

/// How long one receive waits for messages (SQS long polling; at most
/// 20 s). Shutdown does not wait for it: an interrupted round is
/// redelivered, and idempotency absorbs what was already judged.
pub const CONSUME_WAIT_SECS: i64 = 10;
/// Pause after a failed round (queue unreachable) before the next.
pub const CONSUME_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// Consumes `queue` into `service` until `stop` resolves. Holding a
/// service handle, it must end before the sequencer can drain: the host
/// passes its shutdown signal.
pub async fn consume_queue<S, L, P, Q>(
    service: Service<S, L, P>,
    queue: Q,
    stop: impl Future<Output = ()> + Send,
) where
    S: LotStore,
    L: CreditLedger,
    P: EventPublisher,
    Q: CommandQueue,
{
    tokio::pin!(stop);
    loop {
        let round = tokio::select! {
            () = &mut stop => break,
            round = service.consume(&queue, Duration::seconds(CONSUME_WAIT_SECS)) => round,
        };
        match round {
            Ok(report) if report.judged + report.retried > 0 => {
                tracing::debug!(
                    judged = report.judged,
                    retried = report.retried,
                    "queued commands consumed"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "consuming the command queue failed; retrying");
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(CONSUME_BACKOFF) => {}
                }
            }
        }
    }
    tracing::info!("queue consumer stopped");
}
