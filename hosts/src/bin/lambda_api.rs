//! The `api` Lambda function: the server's HTTP API on API Gateway events
//! (REST and HTTP APIs), commands queued to SQS FIFO and answered 202,
//! reads from DynamoDB (see `hammerfall_hosts::lambda::api`). Configured by
//! `HAMMERFALL_TABLE`, `HAMMERFALL_QUEUE_URL`, `HAMMERFALL_JWT_SECRET` /
//! `HAMMERFALL_JWT_PUBLIC_KEY` (and `HAMMERFALL_AWS_ENDPOINT` for a local
//! stand-in).

use hammerfall_hosts::lambda::{api, runtime};
use lambda_runtime::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let settings = api::ApiSettings::from_env()?;
    if settings.auth.dev_auth() {
        tracing::warn!(
            "!!! DEVELOPMENT AUTH IS ON: X-Participant/X-Roles headers are trusted. Never deploy this. !!!"
        );
    }
    let host = api::start(&settings).await;
    lambda_http::run(api::handler(host.router())).await
}
