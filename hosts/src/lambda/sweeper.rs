//! The `sweeper` function: a scheduled EventBridge event (every minute)
//! advances every lot with a transition due (close, reservation expiry,
//! payment default, opening) through [`Service::tick`], the same path the
//! server's timer task takes.
//!
//! A failed sweep returns an error: the invocation is retried by Lambda
//! (asynchronous invocations are retried twice), and the next schedule
//! catches up anyway, since advancing is idempotent.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use hammerfall_engine::service::TIMER_BATCH;
use hammerfall_engine::{Service, ServiceError};
use hammerfall_ports::{CreditLedger, EventPublisher, LotStore};

/// Ticks one sweep runs at most: each advances up to `TIMER_BATCH` lots,
/// and a full tick means more may be due. The bound keeps an invocation
/// well inside its timeout; the next schedule takes the rest.
pub const MAX_TICKS_PER_SWEEP: usize = 20;

/// What a sweep did (the function's answer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Lots advanced.
    pub advanced: usize,
    /// Ticks run.
    pub ticks: usize,
}

/// Handles one scheduled event: ticks until nothing more is due (or
/// [`MAX_TICKS_PER_SWEEP`]).
pub async fn handle_schedule<S: LotStore, L: CreditLedger, P: EventPublisher>(
    service: &Service<S, L, P>,
    event: &EventBridgeEvent,
) -> Result<SweepReport, ServiceError> {
    let mut report = SweepReport::default();
    while report.ticks < MAX_TICKS_PER_SWEEP {
        let advanced = service.tick().await?;
        report.ticks += 1;
        report.advanced += advanced;
        if advanced < TIMER_BATCH {
            break;
        }
    }
    tracing::info!(
        schedule = ?event.resources,
        advanced = report.advanced,
        ticks = report.ticks,
        "sweep done"
    );
    Ok(report)
}
