//! The `sweeper` Lambda function: a scheduled EventBridge event advances
//! every lot with a transition due (see `hammerfall_hosts::lambda::sweeper`).
//! Configured by `HAMMERFALL_TABLE` (and `HAMMERFALL_AWS_ENDPOINT`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use hammerfall_hosts::lambda::{runtime, sweeper};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let settings = runtime::LambdaSettings::from_env()?;
    let service = runtime::start(&settings).await;
    let service = &service;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent>| async move {
            let report = sweeper::handle_schedule(service, &event.payload).await?;
            Ok::<sweeper::SweepReport, Error>(report)
        },
    ))
    .await
}
