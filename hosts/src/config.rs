//! The server's flags and their environment equivalents (SPEC §8).

use crate::auth::{AuthConfig, AuthSetupError};
use crate::rate_limit::RateLimit;
use clap::Parser;
use hammerfall_adapters_aws::AwsSettings;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the server keeps its lots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// In process memory: nothing survives a restart.
    Memory,
    /// An SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A DynamoDB table (the AWS adapter).
    DynamoDb(String),
}

/// Why a `--store` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown store {0:?}: use sqlite:PATH, memory or dynamodb:TABLE")]
pub struct BadStoreUrl(String);

impl std::str::FromStr for StoreUrl {
    type Err = BadStoreUrl;

    fn from_str(s: &str) -> Result<Self, BadStoreUrl> {
        if s == "memory" {
            return Ok(StoreUrl::Memory);
        }
        if let Some(path) = s.strip_prefix("sqlite:").filter(|p| !p.is_empty()) {
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if let Some(table) = s.strip_prefix("dynamodb:").filter(|t| !t.is_empty()) {
            return Ok(StoreUrl::DynamoDb(table.to_owned()));
        }
        Err(BadStoreUrl(s.to_owned()))
    }
}

/// `hammerfall-server`: the Hammerfall HTTP API.
#[derive(Debug, Clone, Parser)]
#[command(name = "hammerfall-server", version, about)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "HAMMERFALL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Store: `sqlite:PATH`, `memory` or `dynamodb:TABLE`.
    #[arg(
        long,
        env = "HAMMERFALL_STORE",
        default_value = "sqlite:./hammerfall.db"
    )]
    pub store: StoreUrl,
    /// Accept HS256 tokens signed with this secret (prefer the environment
    /// variable: flags show in process listings).
    #[arg(long, env = "HAMMERFALL_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Accept RS256 tokens verified with this PEM public key file.
    #[arg(long, env = "HAMMERFALL_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// Development only: trust `X-Participant` and `X-Roles` headers.
    #[arg(long, env = "HAMMERFALL_DEV_AUTH")]
    pub dev_auth: bool,
    /// Per-participant rate limit, `RATE/BURST` requests per second (an
    /// extension of SPEC §8; 0 disables).
    #[arg(long, env = "HAMMERFALL_RATE_LIMIT", default_value_t = RateLimit::default())]
    pub rate_limit: RateLimit,
    /// An AWS-compatible endpoint for DynamoDB and SQS (a local stand-in
    /// such as moto: region `us-east-1`, credentials `test`/`test`).
    /// Unset: AWS itself, with the SDK's usual credentials.
    #[arg(long, env = "HAMMERFALL_AWS_ENDPOINT")]
    pub aws_endpoint: Option<String>,
    /// The AWS region (default: the SDK's, from `AWS_REGION` or the
    /// profile; `us-east-1` with `--aws-endpoint`).
    #[arg(long, env = "HAMMERFALL_AWS_REGION")]
    pub aws_region: Option<String>,
    /// An SQS FIFO command queue to consume: commands other hosts (the
    /// `api` Lambda function) queued are judged by this server's
    /// sequencer, on the same store.
    #[arg(long = "queue", env = "HAMMERFALL_QUEUE_URL")]
    pub queue_url: Option<String>,
    /// With `dynamodb:TABLE`: create the table (and its indexes) if it does
    /// not exist. For local use; on AWS the template creates it.
    #[arg(long, env = "HAMMERFALL_CREATE_TABLE")]
    pub create_table: bool,
    /// Sequencer shards (workers). Default: one per core, two per core
    /// on SQLite (`hammerfall_adapters_sqlite::service_config`), where a
    /// shard spends most of its time waiting for its group's fsync.
    #[arg(long, env = "HAMMERFALL_WORKERS")]
    pub workers: Option<std::num::NonZeroUsize>,
}

impl Args {
    /// How to reach AWS (DynamoDB, SQS): a local endpoint if given, else
    /// AWS; the region if given.
    pub fn aws(&self) -> AwsSettings {
        let mut settings = self
            .aws_endpoint
            .as_deref()
            .filter(|url| !url.trim().is_empty())
            .map_or_else(AwsSettings::default, AwsSettings::local);
        if let Some(region) = self.aws_region.as_deref().filter(|r| !r.trim().is_empty()) {
            settings.region = Some(region.to_owned());
        }
        settings
    }

    /// The authentication these flags ask for, or why the server must not
    /// start (no method at all, an empty secret, an unusable key).
    pub fn auth(&self) -> Result<AuthConfig, AuthSetupError> {
        let mut auth = AuthConfig::new().with_dev_auth(self.dev_auth);
        if let Some(secret) = &self.jwt_secret {
            auth = auth.with_hs256_secret(secret.as_bytes())?;
        }
        if let Some(path) = &self.jwt_public_key {
            let shown = path.display().to_string();
            let pem = std::fs::read(path).map_err(|e| AuthSetupError::BadPublicKey {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            auth = auth.with_rs256_public_key(&pem, &shown)?;
        }
        auth.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_parse() {
        assert_eq!("memory".parse(), Ok(StoreUrl::Memory));
        assert_eq!(
            "sqlite:./x.db".parse(),
            Ok(StoreUrl::Sqlite(PathBuf::from("./x.db")))
        );
        assert_eq!(
            "dynamodb:lots".parse(),
            Ok(StoreUrl::DynamoDb("lots".into()))
        );
        assert!("postgres://x".parse::<StoreUrl>().is_err());
        assert!("sqlite:".parse::<StoreUrl>().is_err());
    }

    #[test]
    fn aws_flags_pick_a_local_endpoint_and_region() {
        let args = Args::parse_from([
            "hammerfall-server",
            "--store",
            "dynamodb:lots",
            "--aws-endpoint",
            "http://127.0.0.1:5000",
            "--queue",
            "http://127.0.0.1:5000/123/q.fifo",
        ]);
        let aws = args.aws();
        assert_eq!(aws.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(aws.region.as_deref(), Some("us-east-1"));
        assert_eq!(
            args.queue_url.as_deref(),
            Some("http://127.0.0.1:5000/123/q.fifo")
        );
        let aws = Args::parse_from(["hammerfall-server", "--aws-region", "eu-west-1"]).aws();
        assert_eq!(aws.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn workers_are_a_positive_count_or_the_stores_default() {
        let none = Args::parse_from(["hammerfall-server"]);
        assert_eq!(none.workers, None);
        let three = Args::parse_from(["hammerfall-server", "--workers", "3"]);
        assert_eq!(three.workers.map(std::num::NonZeroUsize::get), Some(3));
        for bad in ["0", "-1", "many"] {
            let refused = Args::try_parse_from(["hammerfall-server", "--workers", bad]);
            assert!(refused.is_err(), "--workers {bad}");
        }
    }

    #[test]
    fn without_any_auth_the_server_refuses_to_start() {
        let args = Args::parse_from(["hammerfall-server", "--store", "memory"]);
        assert!(matches!(args.auth(), Err(AuthSetupError::NoMethod)));
        let dev = Args::parse_from(["hammerfall-server", "--dev-auth"]);
        assert!(dev.auth().is_ok_and(|a| a.dev_auth()));
    }
}
