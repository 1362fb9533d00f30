//! Shared by the Lambda tests: command builders and events made from the
//! fixtures that ship with `aws_lambda_events` (copied into
//! `tests/fixtures/lambda/`).

// Each test binary uses a part of this module.
#![allow(dead_code)]

use aws_lambda_events::event::sqs::SqsEvent;
use hammerfall_ports::{
    Actor, BidId, Command, CommandEnvelope, CommandId, CreateLot, Currency, Decimal, LotId,
    ParticipantId, PlaceBid, Timestamp,
};

/// An SQS event (one message, a body that is not a command).
pub const SQS_EVENT: &str = include_str!("../fixtures/lambda/example-sqs-event.json");
/// A scheduled EventBridge event.
pub const SCHEDULE_EVENT: &str =
    include_str!("../fixtures/lambda/example-eventbridge-schedule.json");
/// A `ReportBatchItemFailures` answer.
pub const BATCH_RESPONSE: &str = include_str!("../fixtures/lambda/example-sqs-batch-response.json");

pub fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

pub fn lid(s: &str) -> LotId {
    LotId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

pub fn cid(s: &str) -> CommandId {
    CommandId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

/// `minor` hundredths as a decimal.
pub fn cents(minor: i64) -> Decimal {
    Decimal::new(minor, 2)
}

/// An English lot by `seller`, starting at 10.00 USD, ending at `ends_at`.
pub fn create_english(lot: &LotId, seller: &str, ends_at: Timestamp) -> CommandEnvelope {
    let request = CreateLot::english(
        lot.clone(),
        Actor::seller(pid(seller)),
        "Lamp",
        Currency::USD,
        cents(1000),
        ends_at,
    );
    CommandEnvelope::new(
        cid(&format!("create-{lot}")),
        lot.clone(),
        Command::CreateLot(Box::new(request)),
    )
}

/// `bidder` bids a maximum of `amount` under command id `key`.
pub fn bid(lot: &LotId, bidder: &str, amount: Decimal, key: &str) -> CommandEnvelope {
    CommandEnvelope::new(
        cid(key),
        lot.clone(),
        Command::PlaceBid(PlaceBid {
            bidder: Actor::bidder(pid(bidder)),
            amount,
            currency: None,
            bid_id: BidId::new(format!("bid.{lot}.{key}")).unwrap_or_else(|e| panic!("{e}")),
        }),
    )
}

/// One FIFO message of a batch: its id, group and body.
pub struct Message {
    pub id: String,
    pub group: String,
    pub body: String,
    pub receives: u32,
}

impl Message {
    /// A message carrying `envelope` in its lot's group.
    pub fn command(id: &str, envelope: &CommandEnvelope) -> Self {
        Self {
            id: id.to_owned(),
            group: envelope.lot_id.to_string(),
            body: serde_json::to_string(envelope).unwrap_or_else(|e| panic!("{e}")),
            receives: 1,
        }
    }

    /// A message whose body is not a command, in `group`.
    pub fn garbage(id: &str, group: &str) -> Self {
        Self {
            id: id.to_owned(),
            group: group.to_owned(),
            body: "{\"not\": \"a command\"}".to_owned(),
            receives: 1,
        }
    }
}

/// An SQS FIFO event: the fixture's record as a template, with each
/// message's id, body and FIFO attributes filled in.
pub fn fifo_event(messages: &[Message]) -> SqsEvent {
    let fixture: serde_json::Value =
        serde_json::from_str(SQS_EVENT).unwrap_or_else(|e| panic!("{e}"));
    let template = fixture["Records"][0].clone();
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let mut record = template.clone();
            record["messageId"] = m.id.clone().into();
            record["receiptHandle"] = format!("receipt-{}", m.id).into();
            record["body"] = m.body.clone().into();
            record["messageAttributes"] = serde_json::json!({});
            record["eventSourceARN"] =
                "arn:aws:sqs:us-east-1:123456789012:hammerfall-commands.fifo".into();
            let attributes = &mut record["attributes"];
            attributes["ApproximateReceiveCount"] = m.receives.to_string().into();
            attributes["MessageGroupId"] = m.group.clone().into();
            attributes["MessageDeduplicationId"] = format!("dedup-{}", m.id).into();
            attributes["SequenceNumber"] = "18849496460467696128".into();
            record
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records }))
        .unwrap_or_else(|e| panic!("not an SQS event: {e}"))
}
