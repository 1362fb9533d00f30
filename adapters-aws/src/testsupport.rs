//! Test support (feature `testsupport`): what every test against a local
//! AWS-compatible server (moto, started by `scripts/moto`) needs, in one
//! place for this crate's tests and the hosts' — the endpoint (required:
//! a test without it fails saying how to start moto, it never skips),
//! unique resource names (test binaries share one server and run in
//! parallel), fresh tables and queues, and the command builders both
//! crates' tests write their scenarios with.
//!
//! Every function panics on failure: it is for tests only.

use crate::setup::{self, QueueUrls};
use crate::{AwsSettings, DynamoLotStore, SqsCommandQueue};
use hammerfall_engine::testkit::fixtures::create_english_envelope;
use hammerfall_ports::{CommandEnvelope, LotId, Timestamp};
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable that names the local AWS-compatible server.
pub const ENDPOINT_VAR: &str = "HAMMERFALL_AWS_ENDPOINT";

/// The moto server's URL. Panics, saying how to start one, when it is not
/// set: these tests fail rather than skip silently.
pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{ENDPOINT_VAR} is not set: this test needs a local AWS-compatible \
             server (moto). Start one from the repository root with \
             `eval \"$(scripts/moto)\"` (it prints the export; `scripts/moto stop` \
             stops it), or run `scripts/test`, which starts and stops it around \
             the tests."
        ),
    }
}

/// Settings for the moto server at [`endpoint`].
pub fn settings() -> AwsSettings {
    AwsSettings::local(endpoint())
}

/// A name no other test (of any binary, of any run) uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store on a new, empty table.
pub async fn fresh_store(client: &aws_sdk_dynamodb::Client) -> DynamoLotStore {
    let table = unique("hf");
    setup::create_table(client, &table)
        .await
        .unwrap_or_else(|e| panic!("creating table {table} failed: {e}"));
    DynamoLotStore::new(client.clone(), table)
}

/// A queue (and its dead-letter queue) with the given visibility timeout.
pub async fn fresh_queue(
    client: &aws_sdk_sqs::Client,
    visibility_secs: u32,
) -> (SqsCommandQueue, QueueUrls) {
    let name = unique("hf");
    let urls = setup::create_queue(client, &name, visibility_secs)
        .await
        .unwrap_or_else(|e| panic!("creating queue {name} failed: {e}"));
    (SqsCommandQueue::new(client.clone(), &urls.queue_url), urls)
}

/// Messages in a queue, visible and in flight (SQS's approximate counts;
/// exact on moto).
pub async fn messages_in(client: &aws_sdk_sqs::Client, url: &str) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attrs = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes failed: {e:?}"))
        .attributes
        .unwrap_or_default();
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|a| {
        attrs
            .get(a)
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    })
    .sum()
}

// ----------------------------------------------------------- commands --

pub use hammerfall_engine::testkit::fixtures::{
    bid_envelope as bid, cents, cid, lot_id as lid, pid,
};

/// An English lot by `seller`, starting at 10.00 USD, ending at `ends_at`.
/// Its command id is `create-<lot>`.
pub fn create_english(lot: &LotId, seller: &str, ends_at: Timestamp) -> CommandEnvelope {
    create_english_envelope(lot, seller, ends_at, |_| {})
}
