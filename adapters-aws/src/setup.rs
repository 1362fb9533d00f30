//! Creates the table and the queues the adapters expect: for tests, local
//! use against moto, and as the reference of what infrastructure templates
//! must declare. Both helpers are idempotent (an existing resource is
//! reused as is).

use crate::error::AwsError;
use crate::keys::{DUE_KEY, PK, SELLER_ID, SELLER_INDEX, SK, STATUS, STATUS_INDEX, STATUS_KEY};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;
use hammerfall_ports::MAX_RECEIVES;
use std::time::Duration;

/// How long [`create_table`] waits for the table to become active.
const TABLE_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a dead letter is kept: 14 days (SQS's maximum).
const DEAD_LETTER_RETENTION_SECS: u32 = 14 * 24 * 3600;

fn build_error(e: impl std::fmt::Display) -> AwsError {
    AwsError::new("setup", e.to_string())
}

fn key_element(name: &str, key_type: KeyType) -> Result<KeySchemaElement, AwsError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(build_error)
}

/// A keys-only global secondary index on `hash` and `range`: lot listings
/// read the lots' state from the table, so a bid (which changes the state,
/// not the index keys) writes nothing to the index.
fn keys_only_index(name: &str, hash: &str, range: &str) -> Result<GlobalSecondaryIndex, AwsError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key_element(hash, KeyType::Hash)?)
        .key_schema(key_element(range, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(build_error)
}

/// Creates the single table (`PK`/`SK` string keys, on-demand billing)
/// with its two indexes, `status-due` (`status`, `dueKey`) and
/// `seller-status` (`sellerId`, `statusKey`), and waits until it is active.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), AwsError> {
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(SK, KeyType::Range)?)
        .global_secondary_indexes(keys_only_index(STATUS_INDEX, STATUS, DUE_KEY)?)
        .global_secondary_indexes(keys_only_index(SELLER_INDEX, SELLER_ID, STATUS_KEY)?);
    for name in [PK, SK, STATUS, DUE_KEY, SELLER_ID, STATUS_KEY] {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)?,
        );
    }
    if let Err(e) = request.send().await {
        let exists = e
            .as_service_error()
            .is_some_and(|s| s.is_resource_in_use_exception());
        if !exists {
            return Err(AwsError::from_sdk("CreateTable", &e));
        }
    }
    let deadline = tokio::time::Instant::now() + TABLE_READY_TIMEOUT;
    loop {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeTable", &e))?;
        let status = described.table().and_then(|t| t.table_status());
        if status == Some(&TableStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AwsError::new(
                "DescribeTable",
                format!("table {table} is not active: {status:?}"),
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The URLs of a command queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    /// The FIFO command queue (`<name>.fifo`).
    pub queue_url: String,
    /// Its FIFO dead-letter queue (`<name>-dlq.fifo`).
    pub dead_letter_url: String,
}

/// Creates the FIFO command queue `<name>.fifo` (explicit deduplication
/// ids, the given visibility timeout) and its FIFO dead-letter queue
/// `<name>-dlq.fifo`, with a redrive policy that moves a message there
/// after [`MAX_RECEIVES`] receives.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout_secs: u32,
) -> Result<QueueUrls, AwsError> {
    let dead_letter_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            DEAD_LETTER_RETENTION_SECS.to_string(),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateQueue", &e))?
        .queue_url
        .ok_or_else(|| AwsError::new("CreateQueue", "no queue URL in the answer"))?;
    let arn = client
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetQueueAttributes", &e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| AwsError::new("GetQueueAttributes", "no QueueArn in the answer"))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": arn,
        "maxReceiveCount": MAX_RECEIVES.to_string(),
    });
    let queue_url = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateQueue", &e))?
        .queue_url
        .ok_or_else(|| AwsError::new("CreateQueue", "no queue URL in the answer"))?;
    Ok(QueueUrls {
        queue_url,
        dead_letter_url,
    })
}
