//! Once per cold start: settings from the environment, the AWS clients, and
//! the service with its sequencer worker spawned on the current runtime.

use super::StreamPublisher;
use hammerfall_adapters_aws::{AwsSettings, DynamoLotStore};
use hammerfall_adapters_memory::{SystemClock, UniqueIds};
use hammerfall_engine::{Ports, Service, ServiceConfig};
use std::sync::Arc;

/// The table the functions read and write (required).
pub const TABLE_VAR: &str = "HAMMERFALL_TABLE";
/// An endpoint override for a local AWS stand-in (moto); unset on AWS.
pub const ENDPOINT_VAR: &str = "HAMMERFALL_AWS_ENDPOINT";
/// Commands a function's inbox holds: a batch is at most 10 messages, a
/// sweep at most `TIMER_BATCH` lots.
const INBOX_CAPACITY: usize = 2048;
/// Cached lots per function instance (a Lambda instance is small and
/// short-lived; the cache only saves reloads within a warm instance).
const CACHE_CAPACITY: usize = 10_000;

/// The service a Lambda function runs: DynamoDB for lots and credit,
/// events left to the table's stream.
pub type LambdaService = Service<DynamoLotStore, DynamoLotStore, StreamPublisher>;

/// A setting the function cannot start without.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct MissingSetting(pub &'static str);

/// Where the function's resources are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaSettings {
    /// The DynamoDB table.
    pub table: String,
    /// How to reach AWS.
    pub aws: AwsSettings,
}

impl LambdaSettings {
    /// From the environment: [`TABLE_VAR`], and [`ENDPOINT_VAR`] when a
    /// local stand-in is used (then region `us-east-1`, `test` credentials);
    /// otherwise region and credentials come from the Lambda environment.
    pub fn from_env() -> Result<Self, MissingSetting> {
        let table = non_empty(TABLE_VAR).ok_or(MissingSetting(TABLE_VAR))?;
        let aws = non_empty(ENDPOINT_VAR).map_or_else(AwsSettings::default, AwsSettings::local);
        Ok(Self { table, aws })
    }
}

fn non_empty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The sequencer's shape in a function: one worker (a function instance
/// handles one invocation at a time, on at most a couple of vCPUs).
pub fn service_config() -> ServiceConfig {
    ServiceConfig {
        workers: 1,
        inbox_capacity: INBOX_CAPACITY,
        cache_capacity: CACHE_CAPACITY,
        ..ServiceConfig::default()
    }
}

/// Builds the service on the table and spawns its worker on the current
/// Tokio runtime. No request is sent: the first one goes out with the
/// first invocation, so init stays short.
pub async fn start(settings: &LambdaSettings) -> LambdaService {
    let store = Arc::new(DynamoLotStore::connect(&settings.aws, settings.table.clone()).await);
    let ports = Ports {
        store: store.clone(),
        ledger: store,
        publisher: Arc::new(StreamPublisher),
        clock: Arc::new(SystemClock::new()),
        ids: Arc::new(UniqueIds::new()),
    };
    let (service, workers) = Service::new(ports, service_config());
    for worker in workers {
        tokio::spawn(worker);
    }
    service
}

/// Logs as JSON lines to stderr (CloudWatch keeps them), filtered by
/// `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .try_init();
}
