//! Shared by the Lambda tests: command builders and events made from the
//! fixtures that ship with `aws_lambda_events` (copied into
//! `tests/fixtures/lambda/`).

// Each test binary uses a part of this module.
#![allow(dead_code)]

use aws_lambda_events::event::sqs::SqsEvent;
use hammerfall_ports::CommandEnvelope;

/// An SQS event (one message, a body that is not a command).
pub const SQS_EVENT: &str = include_str!("../fixtures/lambda/example-sqs-event.json");
/// A scheduled EventBridge event.
pub const SCHEDULE_EVENT: &str =
    include_str!("../fixtures/lambda/example-eventbridge-schedule.json");
/// A `ReportBatchItemFailures` answer.
pub const BATCH_RESPONSE: &str = include_str!("../fixtures/lambda/example-sqs-batch-response.json");

/// Command builders, shared with adapters-aws's tests.
#[allow(unused_imports, reason = "each test binary uses a part")]
pub use hammerfall_adapters_aws::testsupport::{bid, cents, cid, create_english, lid, pid};
/// The moto endpoint (required: tests fail, never skip, without it) and
/// unique names, shared with adapters-aws's tests.
#[allow(unused_imports, reason = "lambda_handlers.rs runs without moto")]
pub use hammerfall_adapters_aws::testsupport::{endpoint, unique};

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

/// An API Gateway REST API (v1) proxy event, stage `test` (from
/// `lambda_http`'s test data).
pub const REST_EVENT: &str = include_str!("../fixtures/lambda/example-apigw-rest-request.json");
/// An API Gateway HTTP API (v2) event, stage `$default` (from
/// `lambda_http`'s test data).
pub const HTTP_V2_EVENT: &str =
    include_str!("../fixtures/lambda/example-apigw-http-v2-request.json");

/// An HTTP request to put into an API Gateway event.
pub struct HttpCall<'a> {
    pub method: &'a str,
    /// Path and optional query (`/lots?status=open`).
    pub path: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<String>,
}

impl<'a> HttpCall<'a> {
    pub fn get(path: &'a str) -> Self {
        Self {
            method: "GET",
            path,
            headers: Vec::new(),
            body: None,
        }
    }

    #[expect(
        clippy::needless_pass_by_value,
        reason = "callers pass `json!(..)` literals"
    )]
    pub fn post(path: &'a str, body: serde_json::Value) -> Self {
        Self {
            method: "POST",
            path,
            headers: vec![("content-type", "application/json".to_owned())],
            body: Some(body.to_string()),
        }
    }

    /// Development auth headers: `who` with `roles` (comma-separated).
    pub fn as_(mut self, who: &str, roles: &str) -> Self {
        self.headers.push(("x-participant", who.to_owned()));
        self.headers.push(("x-roles", roles.to_owned()));
        self
    }

    pub fn header(mut self, name: &'a str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn split(&self) -> (&str, &str) {
        self.path.split_once('?').unwrap_or((self.path, ""))
    }

    /// As a REST API (v1) proxy event of stage `test`.
    pub fn rest_event(&self) -> serde_json::Value {
        let mut event: serde_json::Value =
            serde_json::from_str(REST_EVENT).unwrap_or_else(|e| panic!("{e}"));
        let (path, query) = self.split();
        event["path"] = path.into();
        event["httpMethod"] = self.method.into();
        event["requestContext"]["httpMethod"] = self.method.into();
        event["requestContext"]["resourcePath"] = "/{proxy+}".into();
        event["pathParameters"] = serde_json::json!({ "proxy": path.trim_start_matches('/') });
        let params: serde_json::Map<String, serde_json::Value> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
        event["queryStringParameters"] = if params.is_empty() {
            serde_json::Value::Null
        } else {
            params.into()
        };
        let headers = event["headers"]
            .as_object_mut()
            .unwrap_or_else(|| panic!("fixture without headers"));
        for (name, value) in &self.headers {
            headers.insert((*name).to_owned(), value.clone().into());
        }
        event["body"] = self.body.clone().into();
        event["isBase64Encoded"] = false.into();
        event
    }

    /// As an HTTP API (v2) event of the `$default` stage.
    pub fn http_v2_event(&self) -> serde_json::Value {
        let mut event: serde_json::Value =
            serde_json::from_str(HTTP_V2_EVENT).unwrap_or_else(|e| panic!("{e}"));
        let (path, query) = self.split();
        event["rawPath"] = path.into();
        event["rawQueryString"] = query.into();
        event["requestContext"]["http"]["method"] = self.method.into();
        event["requestContext"]["http"]["path"] = path.into();
        event["cookies"] = serde_json::json!([]);
        event["pathParameters"] = serde_json::json!({});
        let params: serde_json::Map<String, serde_json::Value> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
        event["queryStringParameters"] = params.into();
        let headers = serde_json::Map::from_iter(
            self.headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), serde_json::Value::from(v.clone()))),
        );
        event["headers"] = headers.into();
        event["body"] = self.body.clone().into();
        event["isBase64Encoded"] = false.into();
        event
    }
}
