//! Where the AWS clients point and how they authenticate. Hosts build the
//! settings from their configuration; tests point them at moto.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use std::time::Duration;

/// The region of a local AWS-compatible server (moto answers any region).
pub const LOCAL_REGION: &str = "us-east-1";
/// How long one attempt of a DynamoDB request may take before it is retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a DynamoDB request may take, retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);
/// A local server's attempt timeout.
const LOCAL_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// SQS's: above its longest long poll (20 s).
const SQS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(25);
const SQS_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// How to reach AWS (or a local stand-in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// The region; `None`: from the environment (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// An endpoint override (`http://127.0.0.1:PORT` for moto); `None`: AWS.
    pub endpoint_url: Option<String>,
    /// Static credentials (access key id, secret); `None`: the default
    /// provider chain (environment, profile, web identity, ECS, IMDS).
    pub static_credentials: Option<(String, String)>,
    /// How long one attempt of a request may take before the SDK retries
    /// it; `None`: 5 s for DynamoDB (SQS always allows a 20 s long poll).
    pub attempt_timeout: Option<Duration>,
}

impl AwsSettings {
    /// A local AWS-compatible server at `endpoint_url` (moto): region
    /// `us-east-1`, static credentials `test`/`test`, and a long attempt
    /// timeout: moto is slow under load and ignores `ClientRequestToken`,
    /// so a retry of a commit that did go through would see a conflict.
    pub fn local(endpoint_url: impl Into<String>) -> Self {
        Self {
            region: Some(LOCAL_REGION.to_owned()),
            endpoint_url: Some(endpoint_url.into()),
            static_credentials: Some(("test".to_owned(), "test".to_owned())),
            attempt_timeout: Some(LOCAL_ATTEMPT_TIMEOUT),
        }
    }

    /// Loads the SDK configuration these settings describe (with
    /// DynamoDB's timeouts; [`AwsSettings::sqs`] lengthens them for long
    /// polls).
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(self.timeouts(Duration::ZERO, OPERATION_TIMEOUT));
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let Some((key, secret)) = &self.static_credentials {
            loader = loader.credentials_provider(Credentials::new(
                key.clone(),
                secret.clone(),
                None,
                None,
                "hammerfall-static",
            ));
        }
        loader.load().await
    }

    /// Timeouts: the attempt timeout asked for (default 5 s), at least
    /// `floor`, and an operation timeout that leaves room for retries.
    fn timeouts(&self, floor: Duration, operation: Duration) -> aws_config::timeout::TimeoutConfig {
        let attempt = self.attempt_timeout.unwrap_or(ATTEMPT_TIMEOUT).max(floor);
        aws_config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(attempt)
            .operation_timeout(operation.max(attempt * 2))
            .build()
    }

    /// A DynamoDB client.
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    /// An SQS client, whose timeouts let a 20 s long poll finish.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(&self.sdk_config().await)
            .timeout_config(self.timeouts(SQS_ATTEMPT_TIMEOUT, SQS_OPERATION_TIMEOUT))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }
}
