//! Timers (SPEC §9): due transitions happen within a tick of their time,
//! through the same sequencer as every other command.

use super::worker::{Reply, Request};
use super::{Service, ServiceError, TIMER_BATCH};
use hammerfall_ports::{Command, CommandEnvelope, CreditLedger, EventPublisher, LotStore};
use std::future::Future;
use std::time::Duration;

/// How often [`Service::run_timers`] looks for due work: "within a second".
pub const TIMER_PERIOD: Duration = Duration::from_millis(500);

impl<S: LotStore, L: CreditLedger, P: EventPublisher> Service<S, L, P> {
    /// Advances every lot with a transition due now (close, reservation
    /// expiry, payment default, opening) and waits until each is committed.
    /// Returns how many lots were advanced. Timer commands carry no
    /// idempotency record: advancing twice is a no-op the second time.
    pub async fn tick(&self) -> Result<usize, ServiceError> {
        let now = self.ports().clock.now();
        let due = self.ports().store.due(now, TIMER_BATCH).await?;
        let mut replies = Vec::with_capacity(due.len());
        for lot_id in due {
            let (tx, rx) = futures_channel::oneshot::channel();
            let envelope =
                CommandEnvelope::new(self.ports().ids.command_id(), lot_id, Command::Advance);
            self.shard_of(&envelope.lot_id)
                .send_one(Request::new(envelope, Reply::One(tx)))
                .await?;
            replies.push(rx);
        }
        let count = replies.len();
        for rx in replies {
            rx.await.map_err(|_| ServiceError::Stopped)??;
        }
        Ok(count)
    }

    /// Runs [`Service::tick`] forever, sleeping [`TIMER_PERIOD`] between
    /// ticks with the host's `sleep` (e.g. `tokio::time::sleep`). Spawn it
    /// beside the workers.
    pub async fn run_timers<F, Fut>(self, sleep: F)
    where
        F: Fn(Duration) -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            if let Err(e) = self.tick().await {
                if matches!(e, ServiceError::Stopped) {
                    return;
                }
                tracing::warn!(error = %e, "timer tick failed; retrying next period");
            }
            sleep(TIMER_PERIOD).await;
        }
    }
}
