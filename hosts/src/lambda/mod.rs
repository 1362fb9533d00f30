//! The AWS Lambda hosts (DESIGN "AWS mapping"): the same engine as the
//! server, on DynamoDB and SQS FIFO, driven by Lambda's events instead of a
//! listener and a timer task.
//!
//! - [`api`]: the server's router on API Gateway events (`lambda_http`),
//!   commands queued to SQS and answered 202, reads from DynamoDB.
//! - [`worker`]: an SQS FIFO batch → the engine → DynamoDB, answering
//!   `ReportBatchItemFailures` with per-group FIFO order kept.
//! - [`sweeper`]: a scheduled (EventBridge) event → [`Service::tick`] for
//!   due closes, reservation expiries and payment defaults.
//! - [`runtime`]: what every function does once per cold start (settings
//!   from the environment, clients, the service and its worker task).
//!
//! Committed events are not published from here: they reach consumers
//! through the table's DynamoDB stream, so the functions run the service
//! with [`StreamPublisher`], which publishes nothing itself.
//!
//! [`Service::tick`]: hammerfall_engine::Service::tick

pub mod api;
pub mod runtime;
pub mod sweeper;
pub mod worker;

use hammerfall_ports::{EventEnvelope, EventPublisher, PublishError};

/// The publisher of a Lambda host: a no-op, because the commit already
/// made the events durable in the table and its stream carries them.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamPublisher;

impl EventPublisher for StreamPublisher {
    async fn publish(&self, _events: &[EventEnvelope]) -> Result<(), PublishError> {
        Ok(())
    }
}
