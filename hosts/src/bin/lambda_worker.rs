//! The `worker` Lambda function: SQS FIFO batches → the engine → DynamoDB
//! (see `hammerfall_hosts::lambda::worker`). Configured by
//! `HAMMERFALL_TABLE` (and `HAMMERFALL_AWS_ENDPOINT` for a local stand-in).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use hammerfall_hosts::lambda::{runtime, worker};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let settings = runtime::LambdaSettings::from_env()?;
    let service = runtime::start(&settings).await;
    let service = &service;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let outcome = worker::handle_batch(service, event.payload).await;
        Ok::<SqsBatchResponse, Error>(outcome.response)
    }))
    .await
}
