//! The `api` function: the server's axum router, run by `lambda_http` on
//! API Gateway events (REST API v1 and HTTP API v2 payloads), in the
//! queued-writes mode (see [`crate::queued`]):
//!
//! - every command route authenticates and validates as the server does
//!   (bad input is the same typed 4xx, and nothing is queued), then sends
//!   the command envelope to the SQS FIFO queue (group = lot, deduplication
//!   id = hash of lot, submitter and command id; `Idempotency-Key` is the
//!   command id) and answers 202 `{commandId, status: "pending"}` with
//!   `Location: /lots/{lotId}/commands/{commandId}`;
//! - reads come from the DynamoDB table, as the server's do;
//! - `PUT /participants/{id}/credit` (admin) writes the ledger directly:
//!   it is not a lot command and needs no ordering with one;
//! - no timers (the `sweeper` function) and no live feed: `/live` answers
//!   501 `not_implemented` (API Gateway's REST and HTTP APIs carry no
//!   WebSocket; poll `/lots/{lotId}/events?after=N`).
//!
//! A REST API event's path is read without its stage whether or not
//! `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set (the template sets it):
//! [`handler`] removes the stage `lambda_http` put in front of it.

use super::runtime::{LambdaSettings, MissingSetting, service_config};
use crate::auth::{AuthConfig, AuthSetupError};
use crate::queued::SqsSink;
use crate::rate_limit::{BadRateLimit, RateLimit};
use crate::state::{Host, HostOptions};
use hammerfall_adapters_aws::{DynamoLotStore, SqsCommandQueue};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use std::sync::Arc;

/// The FIFO command queue the function sends to (required).
pub const QUEUE_VAR: &str = "HAMMERFALL_QUEUE_URL";
/// HS256 secret (as the server's `--jwt-secret`).
pub const JWT_SECRET_VAR: &str = "HAMMERFALL_JWT_SECRET";
/// RS256 public key, a PEM file in the deployment package (as the
/// server's `--jwt-public-key`).
pub const JWT_PUBLIC_KEY_VAR: &str = "HAMMERFALL_JWT_PUBLIC_KEY";
/// Development headers (`1`/`true`): never on a deployed stack.
pub const DEV_AUTH_VAR: &str = "HAMMERFALL_DEV_AUTH";
/// Per-participant rate limit of one function instance, `RATE/BURST`.
pub const RATE_LIMIT_VAR: &str = "HAMMERFALL_RATE_LIMIT";

/// Why the function cannot start (reported to Lambda as an init error).
#[derive(Debug, thiserror::Error)]
pub enum ApiSetupError {
    /// A required variable is missing.
    #[error(transparent)]
    Missing(#[from] MissingSetting),
    /// No usable authentication method.
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    /// [`RATE_LIMIT_VAR`] is not `RATE` or `RATE/BURST`.
    #[error("{RATE_LIMIT_VAR}: {0}")]
    RateLimit(#[from] BadRateLimit),
}

/// Everything the `api` function reads from its environment.
#[derive(Clone)]
pub struct ApiSettings {
    /// Table and AWS endpoint (`HAMMERFALL_TABLE`, `HAMMERFALL_AWS_ENDPOINT`).
    pub lambda: LambdaSettings,
    /// The command queue ([`QUEUE_VAR`]).
    pub queue_url: String,
    /// How callers are authenticated.
    pub auth: AuthConfig,
    /// Per-participant rate limit (per function instance).
    pub rate_limit: RateLimit,
}

impl ApiSettings {
    /// From the environment; fails naming what is missing or wrong.
    pub fn from_env() -> Result<Self, ApiSetupError> {
        let lambda = LambdaSettings::from_env()?;
        let queue_url = var(QUEUE_VAR).ok_or(MissingSetting(QUEUE_VAR))?;
        let dev = var(DEV_AUTH_VAR).is_some_and(|v| {
            matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
        });
        let mut auth = AuthConfig::new().with_dev_auth(dev);
        if let Some(secret) = var(JWT_SECRET_VAR) {
            auth = auth.with_hs256_secret(secret.as_bytes())?;
        }
        if let Some(path) = var(JWT_PUBLIC_KEY_VAR) {
            let pem = std::fs::read(&path).map_err(|e| AuthSetupError::BadPublicKey {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            auth = auth.with_rs256_public_key(&pem, &path)?;
        }
        let rate_limit = var(RATE_LIMIT_VAR)
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            lambda,
            queue_url,
            auth: auth.check()?,
            rate_limit,
        })
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The host of the function: the table for reads and credit, the queue
/// for commands, no timers. Its sequencer worker is spawned but judges
/// nothing (commands go to the queue); no request is sent before the
/// first invocation.
pub async fn start(settings: &ApiSettings) -> Host<DynamoLotStore, DynamoLotStore> {
    let aws = &settings.lambda.aws;
    let store = DynamoLotStore::connect(aws, settings.lambda.table.clone()).await;
    let queue = SqsCommandQueue::connect(aws, settings.queue_url.clone()).await;
    let mut options = HostOptions::new(settings.auth.clone());
    options.rate_limit = settings.rate_limit;
    options.service = service_config();
    options.timers = false;
    options.sink = Some(Arc::new(SqsSink::new(queue, store.clone())));
    let store = Arc::new(store);
    Host::start(store.clone(), store, options)
}

/// The service `lambda_http` runs: the router, behind [`without_stage`].
pub type ApiHandler = tower::util::MapRequest<axum::Router, fn(Request) -> Request>;

/// The router as a `lambda_http` service (what `lambda_http::run` takes,
/// and what tests call with `oneshot`).
pub fn handler(router: axum::Router) -> ApiHandler {
    tower::ServiceExt::map_request(router, without_stage as fn(Request) -> Request)
}

/// A REST API (v1) event's path without the stage `lambda_http` puts in
/// front of it when `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is not set. It
/// prepends `/{stage}` unless the event's path already starts with it, so
/// the prefix is removed exactly when the raw path lacks it. HTTP API (v2)
/// events are left alone (the `$default` stage is not in their path).
pub fn without_stage(mut request: Request) -> Request {
    let Some(RequestContext::ApiGatewayV1(context)) = request.request_context_ref() else {
        return request;
    };
    let Some(stage) = context.stage.as_deref().filter(|s| *s != "$default") else {
        return request;
    };
    let prefix = format!("/{stage}/");
    if !request.uri().path().starts_with(&prefix) || request.raw_http_path().starts_with(&prefix) {
        return request;
    }
    let cut = prefix.len() - 1;
    let rest = request
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .get(cut..)
        .unwrap_or("/")
        .to_owned();
    let mut parts = request.uri().clone().into_parts();
    match rest.parse() {
        Ok(path_and_query) => {
            parts.path_and_query = Some(path_and_query);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot remove the stage from the path"),
    }
    request
}
