//! `SqsCommandQueue`: the `CommandQueue` port on an SQS FIFO queue.
//!
//! - Body: the [`CommandEnvelope`] as JSON (it carries its schema version);
//!   a body that does not parse, or of another version, is not delivered:
//!   it stays hidden, and the queue's redrive policy dead-letters it after
//!   [`MAX_RECEIVES`](hammerfall_ports::MAX_RECEIVES) receives.
//! - `MessageGroupId`: the lot id (per-lot order, one in flight per lot);
//!   a lot id with characters SQS does not take in a group id is hashed.
//! - `MessageDeduplicationId`: SHA-256 (hex) of lot, submitter and command
//!   id, the scope of an idempotency key (SPEC §5).
//! - Batches of at most 10 (SQS's limit) for send, receive and delete;
//!   `set_visibility` is `ChangeMessageVisibility`; the receive count is
//!   SQS's `ApproximateReceiveCount`.

use crate::config::AwsSettings;
use crate::error::AwsError;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName,
    SendMessageBatchRequestEntry,
};
use hammerfall_ports::{
    COMMAND_SCHEMA_VERSION, CommandEnvelope, CommandQueue, Delivery, Duration, LotId,
    MAX_QUEUE_BATCH, QueueError, Receipt,
};
use sha2::{Digest, Sha256};

/// Largest message body (SQS's limit: 256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Longest receive wait (SQS long polling's limit); longer waits are clamped.
pub const MAX_RECEIVE_WAIT_SECS: i64 = 20;
/// Longest visibility delay (SQS's limit: 12 h); longer ones are clamped.
pub const MAX_VISIBILITY_SECS: i64 = 12 * 3600;
/// Longest `MessageGroupId` SQS takes.
const MAX_GROUP_ID_LEN: usize = 128;

/// Receipt errors SQS answers for a handle that is not current any more.
const STALE_CODES: [&str; 3] = [
    "ReceiptHandleIsInvalid",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
];

/// The command queue on an SQS FIFO queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqsCommandQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsCommandQueue {
    /// The queue at `queue_url` (a FIFO queue with a redrive policy, as
    /// [`setup::create_queue`](crate::setup::create_queue) makes).
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// The queue at `queue_url`, with a client built from `settings`.
    pub async fn connect(settings: &AwsSettings, queue_url: impl Into<String>) -> Self {
        Self::new(settings.sqs().await, queue_url)
    }

    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The SDK client (shared).
    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    async fn send_entries(
        &self,
        entries: Vec<SendMessageBatchRequestEntry>,
    ) -> Result<(), QueueError> {
        if entries.is_empty() {
            return Ok(());
        }
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| unavailable("SendMessageBatch", &e))?;
        // Resending the whole batch is safe: the deduplication ids drop
        // the entries that did go through.
        match out.failed().first() {
            None => Ok(()),
            Some(f) => Err(AwsError::new(
                "SendMessageBatch",
                format!("entry {} failed: {} {:?}", f.id(), f.code(), f.message()),
            )
            .into_queue()),
        }
    }
}

/// The message group of a lot: its id when SQS takes it as is (printable
/// ASCII, at most 128 characters), else a hash of it.
pub fn group_id(lot: &LotId) -> String {
    let id = lot.as_str();
    if id.len() <= MAX_GROUP_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic()) {
        id.to_owned()
    } else {
        format!("lot-sha256-{}", hex(&Sha256::digest(id.as_bytes())))
    }
}

/// The deduplication id of an envelope: SHA-256 of its lot, submitter
/// (none for timers) and command id, each length-prefixed.
pub fn dedup_id(envelope: &CommandEnvelope) -> String {
    let mut hash = Sha256::new();
    let submitter = envelope.submitter().map(|p| p.as_str());
    for part in [
        Some(envelope.lot_id.as_str()),
        submitter,
        Some(envelope.command_id.as_str()),
    ] {
        match part {
            Some(text) => {
                hash.update([1]);
                hash.update((text.len() as u64).to_be_bytes());
                hash.update(text.as_bytes());
            }
            None => hash.update([0]),
        }
    }
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whole seconds, rounded up, within `0..=max`.
fn whole_secs(d: Duration, max: i64) -> i32 {
    let ms = d.num_milliseconds().clamp(0, max * 1000);
    i32::try_from((ms + 999) / 1000).unwrap_or(i32::MAX)
}

fn unavailable<E, R>(operation: &'static str, e: &SdkError<E, R>) -> QueueError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    AwsError::from_sdk(operation, e).into_queue()
}

/// A received message as a delivery; `Err` with why its body is not one.
fn delivery(message: &Message) -> Result<Delivery, String> {
    let receipt = message
        .receipt_handle()
        .ok_or_else(|| "a message without a receipt handle".to_owned())?;
    let body = message.body().unwrap_or_default();
    let envelope: CommandEnvelope =
        serde_json::from_str(body).map_err(|e| format!("not a command envelope: {e}"))?;
    if envelope.version != COMMAND_SCHEMA_VERSION {
        return Err(format!("command envelope version {}", envelope.version));
    }
    let receive_count = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    Ok(Delivery {
        receipt: Receipt(receipt.to_owned()),
        receive_count,
        envelope,
    })
}

impl CommandQueue for SqsCommandQueue {
    async fn send(&self, batch: &[CommandEnvelope]) -> Result<(), QueueError> {
        if batch.len() > MAX_QUEUE_BATCH {
            return Err(QueueError::TooLarge {
                what: "messages per send",
            });
        }
        if batch.is_empty() {
            return Ok(());
        }
        // Every message is checked before any is sent: all or none.
        let mut entries = Vec::with_capacity(batch.len());
        for (i, envelope) in batch.iter().enumerate() {
            let body = serde_json::to_string(envelope)
                .map_err(|e| QueueError::Malformed(e.to_string()))?;
            if body.len() > MAX_MESSAGE_BYTES {
                return Err(QueueError::TooLarge {
                    what: "message size",
                });
            }
            let size = body.len();
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .message_group_id(group_id(&envelope.lot_id))
                .message_deduplication_id(dedup_id(envelope))
                .build()
                .map_err(|e| AwsError::new("SendMessageBatch", e.to_string()).into_queue())?;
            entries.push((size, entry));
        }
        // A request carries at most 256 KiB: larger batches go in several
        // requests, in order (a group's order is the order of the sends).
        let mut request = Vec::new();
        let mut size = 0;
        for (bytes, entry) in entries {
            if size + bytes > MAX_MESSAGE_BYTES {
                self.send_entries(std::mem::take(&mut request)).await?;
                size = 0;
            }
            size += bytes;
            request.push(entry);
        }
        self.send_entries(request).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        if max > MAX_QUEUE_BATCH {
            return Err(QueueError::TooLarge {
                what: "messages per receive",
            });
        }
        if max == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(1))
            .wait_time_seconds(whole_secs(wait, MAX_RECEIVE_WAIT_SECS))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| unavailable("ReceiveMessage", &e))?;
        let mut deliveries = Vec::new();
        let mut malformed = Vec::new();
        for message in out.messages() {
            match delivery(message) {
                Ok(d) => deliveries.push(d),
                Err(why) => {
                    tracing::warn!(
                        message_id = message.message_id().unwrap_or_default(),
                        error = %why,
                        "malformed command message left to the dead-letter queue"
                    );
                    malformed.push(why);
                }
            }
        }
        match malformed.into_iter().next() {
            Some(why) if deliveries.is_empty() => Err(QueueError::Malformed(why)),
            _ => Ok(deliveries),
        }
    }

    async fn ack(&self, receipts: &[Receipt]) -> Result<(), QueueError> {
        let mut stale = false;
        for chunk in receipts.chunks(MAX_QUEUE_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&r.0)
                        .build()
                        .map_err(|e| {
                            AwsError::new("DeleteMessageBatch", e.to_string()).into_queue()
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| unavailable("DeleteMessageBatch", &e))?;
            for failed in out.failed() {
                if STALE_CODES.contains(&failed.code()) || failed.sender_fault() {
                    stale = true;
                } else {
                    return Err(AwsError::new(
                        "DeleteMessageBatch",
                        format!("{} {:?}", failed.code(), failed.message()),
                    )
                    .into_queue());
                }
            }
        }
        if stale {
            Err(QueueError::StaleReceipt)
        } else {
            Ok(())
        }
    }

    async fn set_visibility(&self, receipt: &Receipt, delay: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(&receipt.0)
            .visibility_timeout(whole_secs(delay, MAX_VISIBILITY_SECS))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| match e.code() {
                Some(code) if STALE_CODES.contains(&code) => QueueError::StaleReceipt,
                _ => unavailable("ChangeMessageVisibility", &e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hammerfall_ports::{Command, CommandId};

    fn lot(s: &str) -> LotId {
        LotId::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn group_ids_are_lot_ids_or_hashes_sqs_accepts() {
        assert_eq!(group_id(&lot("lot-1:a/b")), "lot-1:a/b");
        let hashed = group_id(&lot("lót"));
        assert!(hashed.starts_with("lot-sha256-") && hashed.len() <= MAX_GROUP_ID_LEN);
    }

    #[test]
    fn dedup_ids_separate_lot_submitter_and_command() {
        let env = |l: &str, c: &str| {
            CommandEnvelope::new(
                CommandId::new(c).unwrap_or_else(|e| panic!("{e}")),
                lot(l),
                Command::Advance,
            )
        };
        assert_ne!(dedup_id(&env("ab", "c")), dedup_id(&env("a", "bc")));
        assert_eq!(dedup_id(&env("a", "b")), dedup_id(&env("a", "b")));
        assert_eq!(dedup_id(&env("a", "b")).len(), 64);
    }

    #[test]
    fn waits_round_up_to_whole_seconds_within_limits() {
        assert_eq!(whole_secs(Duration::zero(), 20), 0);
        assert_eq!(whole_secs(Duration::milliseconds(1), 20), 1);
        assert_eq!(whole_secs(Duration::seconds(2), 20), 2);
        assert_eq!(whole_secs(Duration::seconds(99), 20), 20);
        assert_eq!(whole_secs(Duration::seconds(-5), 20), 0);
    }
}
