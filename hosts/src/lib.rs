//! # hammerfall-hosts
//!
//! The HTTP face of Hammerfall: one axum [`Router`](axum::Router) with the
//! whole API of SPEC §7 (JSON, RFC 9457 problems, JWT auth, per-participant
//! rate limits, the live WebSocket feed, health, readiness, Prometheus
//! metrics and a generated OpenAPI document), the `hammerfall-server`
//! binary that runs it on the memory, SQLite or DynamoDB store (SPEC §8),
//! optionally consuming an SQS command queue ([`consumer`]), and the AWS
//! Lambda functions ([`lambda`]: `api`, `worker`, `sweeper`).
//!
//! The router is generic over the store and the ledger, so every host (the
//! server, the `api` Lambda function in its queued-writes mode, see
//! [`queued`]) serves the same routes:
//!
//! ```no_run
//! use hammerfall_adapters_memory::{MemoryCreditLedger, MemoryLotStore};
//! use hammerfall_hosts::{AuthConfig, Host, HostOptions};
//! use std::sync::Arc;
//!
//! # async fn run() -> std::io::Result<()> {
//! let auth = AuthConfig::new().with_dev_auth(true);
//! let host = Host::start(
//!     Arc::new(MemoryLotStore::new()),
//!     Arc::new(MemoryCreditLedger::new()),
//!     HostOptions::new(auth),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! host.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

// A `Problem` (about 170 bytes) is what every failing request answers; it
// is built once on the error path and moved into the response. Boxing it
// would buy nothing measurable and cost clarity in every handler.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod body;
pub mod config;
pub mod consumer;
pub mod hub;
pub mod lambda;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod problem;
pub mod queued;
pub mod rate_limit;
mod routes;
pub mod state;
pub mod views;

pub use auth::{AuthConfig, AuthSetupError, Caller};
pub use problem::Problem;
pub use rate_limit::RateLimit;
pub use routes::{IDEMPOTENCY_KEY, PREFER, router};
pub use state::{App, AppState, Host, HostOptions, HostService};
