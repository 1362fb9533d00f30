//! The `EventPublisher` port: committed events out to subscribers.

use crate::event::EventEnvelope;
use std::future::Future;

/// A publisher failure.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Transient: the outbox keeps the events; publish again later.
    #[error("publisher temporarily unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Delivers committed events.
///
/// Contract: events MUST be published only after their commit (outbox),
/// at least once, and in sequence order per lot; a subscriber MAY see an
/// event twice and drops it by `(lotId, sequence)`.
pub trait EventPublisher: Send + Sync + 'static {
    /// Publishes events (already committed), in order per lot.
    fn publish(
        &self,
        events: &[EventEnvelope],
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// The same as [`publish`](EventPublisher::publish), handing the events
    /// over: a publisher that keeps them (an in-process log) moves them in
    /// instead of copying. The service publishes through this; the default
    /// calls `publish`.
    fn publish_owned(
        &self,
        events: Vec<EventEnvelope>,
    ) -> impl Future<Output = Result<(), PublishError>> + Send {
        async move { self.publish(&events).await }
    }
}
