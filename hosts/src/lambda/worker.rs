//! The `worker` function: an SQS FIFO batch → the engine → DynamoDB.
//!
//! Lambda hands the function up to 10 messages of the FIFO queue and
//! deletes the ones it does not report as failed (`ReportBatchItemFailures`).
//! Per message group (= lot), messages are judged one after another in
//! batch order with [`Service::submit`], which records the outcome
//! (accepted or rejected) before it answers: a message is reported done
//! only once its outcome is durable. Different groups are judged
//! concurrently.
//!
//! FIFO order: after a group's first failure, that group's later messages
//! in the batch are reported failed too, without being judged, so none can
//! overtake the failed one when SQS delivers them again.
//!
//! Failures are of two kinds, logged differently and counted apart:
//! - retryable (store or ledger unavailable, contention, overload): the
//!   message comes back after the visibility timeout and usually succeeds;
//! - poison (a body that is not a command envelope of this schema version,
//!   a store error no retry can cure): reported failed all the same, so
//!   the queue's redrive policy moves it to the dead-letter queue after
//!   `MAX_RECEIVES` (3) receives and the group moves on.
//!
//! Duplicate deliveries are harmless: a command id seen before is answered
//! from its record and changes nothing (SPEC §5).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use hammerfall_engine::{Service, ServiceError};
use hammerfall_ports::{
    COMMAND_SCHEMA_VERSION, CommandEnvelope, CreditLedger, EventPublisher, LotStore,
};
use std::collections::HashMap;

/// The SQS attribute that names a FIFO message's group.
pub const GROUP_ATTRIBUTE: &str = "MessageGroupId";
/// Most messages one batch may carry (SQS FIFO event sources allow 10).
pub const MAX_BATCH_MESSAGES: usize = 10;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Judged (accepted or rejected) and recorded; `replayed` when the
    /// command had been judged before (a duplicate delivery).
    Judged {
        /// True for a duplicate delivery answered from its record.
        replayed: bool,
    },
    /// Could not be judged now; SQS delivers it again.
    Retryable(String),
    /// Can never be judged; dead-lettered after its last receive.
    Poison(String),
    /// Not judged: an earlier message of its group failed in this batch.
    Blocked,
}

impl Disposition {
    /// True when the message must be reported as a batch item failure.
    pub fn failed(&self) -> bool {
        !matches!(self, Disposition::Judged { .. })
    }
}

/// Counts of a batch, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BatchSummary {
    /// Judged and recorded for the first time.
    pub judged: usize,
    /// Duplicates answered from their record.
    pub replayed: usize,
    /// Failed, to be retried.
    pub retryable: usize,
    /// Failed for good (dead-lettered after the last receive).
    pub poison: usize,
    /// Failed because an earlier message of their group failed.
    pub blocked: usize,
}

/// The outcome of a batch: the answer for Lambda and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The `ReportBatchItemFailures` answer.
    pub response: SqsBatchResponse,
    /// Per message, in batch order: its id and what became of it.
    pub messages: Vec<(String, Disposition)>,
    /// The counts.
    pub summary: BatchSummary,
}

/// Reads a message body as a command envelope of this schema version.
pub fn parse_body(body: Option<&str>) -> Result<CommandEnvelope, String> {
    let body = body.ok_or_else(|| "a message without a body".to_owned())?;
    let envelope: CommandEnvelope =
        serde_json::from_str(body).map_err(|e| format!("not a command envelope: {e}"))?;
    if envelope.version != COMMAND_SCHEMA_VERSION {
        return Err(format!(
            "command envelope version {} (this worker reads {COMMAND_SCHEMA_VERSION})",
            envelope.version
        ));
    }
    Ok(envelope)
}

/// Whether a service failure may clear up on a later delivery.
pub fn is_retryable(error: &ServiceError) -> bool {
    match error {
        ServiceError::Store(e) => e.is_retryable(),
        ServiceError::Credit(_)
        | ServiceError::Contention(_)
        | ServiceError::Overloaded
        | ServiceError::Stopped => true,
    }
}

/// The group a message belongs to: its FIFO group id, else (a standard
/// queue, a hand-made event) its lot, else its own id.
fn group_of(message: &SqsMessage, parsed: Option<&CommandEnvelope>) -> String {
    if let Some(group) = message.attributes.get(GROUP_ATTRIBUTE) {
        return format!("g:{group}");
    }
    match parsed {
        Some(envelope) => format!("l:{}", envelope.lot_id),
        None => format!("m:{}", message.message_id.as_deref().unwrap_or_default()),
    }
}

/// Judges one message (already parsed, or the reason it is not).
async fn judge<S: LotStore, L: CreditLedger, P: EventPublisher>(
    service: &Service<S, L, P>,
    parsed: Result<CommandEnvelope, String>,
) -> Disposition {
    let envelope = match parsed {
        Ok(envelope) => envelope,
        Err(reason) => return Disposition::Poison(reason),
    };
    match service.submit(envelope).await {
        Ok(response) => Disposition::Judged {
            replayed: response.replayed,
        },
        Err(e) if is_retryable(&e) => Disposition::Retryable(e.to_string()),
        Err(e) => Disposition::Poison(e.to_string()),
    }
}

/// One group's messages (batch positions and parsed bodies), judged in
/// order; after the first failure the rest are blocked.
async fn judge_group<S: LotStore, L: CreditLedger, P: EventPublisher>(
    service: &Service<S, L, P>,
    messages: Vec<(usize, Result<CommandEnvelope, String>)>,
) -> Vec<(usize, Disposition)> {
    let mut out = Vec::with_capacity(messages.len());
    let mut failed = false;
    for (position, parsed) in messages {
        let disposition = if failed {
            Disposition::Blocked
        } else {
            judge(service, parsed).await
        };
        failed |= disposition.failed();
        out.push((position, disposition));
    }
    out
}

/// Handles one SQS batch. Never fails as a whole: every problem is a
/// message's, reported in the answer (a message without an id is reported
/// with an empty identifier, which Lambda treats as the whole batch
/// failing — the safe side).
pub async fn handle_batch<S: LotStore, L: CreditLedger, P: EventPublisher>(
    service: &Service<S, L, P>,
    event: SqsEvent,
) -> BatchOutcome {
    if event.records.len() > MAX_BATCH_MESSAGES {
        tracing::warn!(
            messages = event.records.len(),
            "batch larger than an SQS FIFO event source sends"
        );
    }
    let mut groups: Vec<Vec<(usize, Result<CommandEnvelope, String>)>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (position, message) in event.records.iter().enumerate() {
        let parsed = parse_body(message.body.as_deref());
        let group = group_of(message, parsed.as_ref().ok());
        let slot = *index.entry(group).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[slot].push((position, parsed));
    }
    let judged =
        futures_util::future::join_all(groups.into_iter().map(|g| judge_group(service, g))).await;
    let mut dispositions: Vec<Option<Disposition>> = vec![None; event.records.len()];
    for (position, disposition) in judged.into_iter().flatten() {
        dispositions[position] = Some(disposition);
    }

    let mut outcome = BatchOutcome {
        response: SqsBatchResponse::default(),
        messages: Vec::with_capacity(event.records.len()),
        summary: BatchSummary::default(),
    };
    for (message, disposition) in event.records.iter().zip(dispositions) {
        let disposition = disposition.unwrap_or(Disposition::Blocked);
        let id = message.message_id.clone().unwrap_or_default();
        let receives = message
            .attributes
            .get("ApproximateReceiveCount")
            .map_or("?", String::as_str);
        match &disposition {
            Disposition::Judged { replayed: false } => outcome.summary.judged += 1,
            Disposition::Judged { replayed: true } => outcome.summary.replayed += 1,
            Disposition::Retryable(reason) => {
                outcome.summary.retryable += 1;
                tracing::warn!(message_id = %id, receives, %reason, "command not judged; will be retried");
            }
            Disposition::Poison(reason) => {
                outcome.summary.poison += 1;
                tracing::error!(message_id = %id, receives, %reason, "poison message; dead-lettered after its last receive");
            }
            Disposition::Blocked => outcome.summary.blocked += 1,
        }
        if disposition.failed() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id.clone();
            outcome.response.batch_item_failures.push(failure);
        }
        outcome.messages.push((id, disposition));
    }
    tracing::info!(summary = ?outcome.summary, "batch handled");
    outcome
}
