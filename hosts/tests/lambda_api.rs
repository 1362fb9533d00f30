//! The `api` function's handler on API Gateway events (REST API v1 and
//! HTTP API v2 payloads, from `lambda_http`'s test data), in process:
//! `lambda_http::request::from_str` + `oneshot`, against DynamoDB and SQS
//! FIFO on moto. Commands are validated, queued and answered 202; a
//! worker (the service's queue consumer here) judges them; the status
//! route shows pending, then done, to the submitter alone. Needs
//! HAMMERFALL_AWS_ENDPOINT (start moto with `eval "$(scripts/moto)"`;
//! `scripts/test` does it). Never skipped.
#![allow(clippy::unwrap_used, missing_docs, reason = "test code")]

mod lambda_support;

use axum::body::to_bytes;
use hammerfall_adapters_aws::{AwsSettings, DynamoLotStore, SqsCommandQueue, setup};
use hammerfall_adapters_memory::{SystemClock, UniqueIds};
use hammerfall_engine::{Ports, Service};
use hammerfall_hosts::lambda::StreamPublisher;
use hammerfall_hosts::lambda::api::{self, ApiHandler, ApiSettings};
use hammerfall_hosts::lambda::runtime::{LambdaSettings, service_config};
use hammerfall_hosts::{AuthConfig, RateLimit};
use hammerfall_ports::{Command, CommandQueue, Duration};
use lambda_support::*;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

struct Api {
    handler: ApiHandler,
    store: DynamoLotStore,
    queue: SqsCommandQueue,
}

async fn fresh_api() -> Api {
    let aws = AwsSettings::local(endpoint());
    let table = unique("hf-api");
    let store = DynamoLotStore::connect(&aws, table.clone()).await;
    setup::create_table(store.client(), &table).await.unwrap();
    let sqs = aws.sqs().await;
    let urls = setup::create_queue(&sqs, &unique("hf-api"), 30)
        .await
        .unwrap();
    let settings = ApiSettings {
        lambda: LambdaSettings { table, aws },
        queue_url: urls.queue_url.clone(),
        auth: AuthConfig::new().with_dev_auth(true),
        rate_limit: RateLimit::default(),
    };
    let host = api::start(&settings).await;
    Api {
        handler: api::handler(host.router()),
        store,
        queue: SqsCommandQueue::new(sqs, urls.queue_url),
    }
}

struct Answer {
    status: u16,
    location: Option<String>,
    body: Value,
}

impl Api {
    /// Sends `event` (an API Gateway event as JSON) through the handler.
    async fn call(&self, event: &Value) -> Answer {
        let request = lambda_http::request::from_str(&event.to_string())
            .unwrap_or_else(|e| panic!("not an API Gateway event: {e}"));
        let response = self.handler.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            location,
            body,
        }
    }

    /// Judges what the queue holds, as the `worker` function would.
    async fn judge_queue(&self) -> usize {
        let ports = Ports {
            store: Arc::new(self.store.clone()),
            ledger: Arc::new(self.store.clone()),
            publisher: Arc::new(StreamPublisher),
            clock: Arc::new(SystemClock::new()),
            ids: Arc::new(UniqueIds::new()),
        };
        let (service, workers) = Service::new(ports, service_config());
        for worker in workers {
            tokio::spawn(worker);
        }
        let mut judged = 0;
        loop {
            let report = service
                .consume(&self.queue, Duration::seconds(1))
                .await
                .unwrap();
            if report.judged + report.retried == 0 {
                return judged;
            }
            judged += report.judged;
        }
    }
}

fn lot_of(location: &str) -> String {
    location
        .strip_prefix("/lots/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("not a command location: {location}"))
        .to_owned()
}

fn listing() -> Value {
    json!({
        "title": "Lamp", "format": "english", "currency": "USD",
        "startingPrice": "10.00", "endsAt": "2030-01-01T00:00:00Z"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_api_event_queues_a_lot_and_answers_202_with_its_command_url() {
    let api = fresh_api().await;

    let created = api
        .call(
            &HttpCall::post("/lots", listing())
                .as_("sam", "seller")
                .header("idempotency-key", "create-1")
                .rest_event(),
        )
        .await;

    assert_eq!(created.status, 202, "{}", created.body);
    assert_eq!(
        created.body,
        json!({"commandId": "create-1", "status": "pending"})
    );
    let location = created.location.unwrap();
    let lot = lot_of(&location);
    assert_eq!(location, format!("/lots/{lot}/commands/create-1"));
    let queued = api.queue.receive(10, Duration::seconds(1)).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].envelope.lot_id.as_str(), lot);
    assert!(matches!(queued[0].envelope.command, Command::CreateLot(_)));
    api.queue
        .set_visibility(&queued[0].receipt, Duration::zero())
        .await
        .unwrap();
    // Pending to its submitter only (the lot does not exist yet).
    let mine = api
        .call(&HttpCall::get(&location).as_("sam", "seller").rest_event())
        .await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.body["status"], "pending");
    let theirs = api
        .call(&HttpCall::get(&location).as_("bob", "seller").rest_event())
        .await;
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    assert_eq!(
        api.call(&HttpCall::get(&format!("/lots/{lot}")).rest_event())
            .await
            .status,
        404
    );

    assert_eq!(api.judge_queue().await, 1);

    let done = api
        .call(&HttpCall::get(&location).as_("sam", "seller").rest_event())
        .await;
    assert_eq!(done.body["status"], "done", "{}", done.body);
    assert_eq!(done.body["result"]["lotId"], lot.as_str());
    assert_eq!(done.body["result"]["status"], "open");
    let read = api
        .call(&HttpCall::get(&format!("/lots/{lot}")).rest_event())
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["title"], "Lamp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_events_get_typed_errors_synchronously_and_nothing_is_queued() {
    let api = fresh_api().await;
    let lot = {
        let created = api
            .call(
                &HttpCall::post("/lots", listing())
                    .as_("sam", "seller")
                    .http_v2_event(),
            )
            .await;
        assert_eq!(created.status, 202, "{}", created.body);
        api.judge_queue().await;
        lot_of(&created.location.unwrap())
    };
    let bids = format!("/lots/{lot}/bids");

    let cases = [
        (
            HttpCall::post(&bids, json!({"amount": "20"})),
            401,
            "unauthorized",
        ),
        (
            HttpCall::post(&bids, json!({"amount": "20"})).as_("ann", "seller"),
            403,
            "forbidden",
        ),
        (
            HttpCall {
                body: Some("{not json".to_owned()),
                ..HttpCall::post(&bids, json!({})).as_("ann", "bidder")
            },
            400,
            "invalid_request",
        ),
        (
            HttpCall::post(&bids, json!({"amount": "abc"})).as_("ann", "bidder"),
            400,
            "invalid_request",
        ),
        (
            HttpCall::post(&bids, json!({})).as_("ann", "bidder"),
            422,
            "invalid_request",
        ),
        (
            HttpCall::post(&bids, json!({"amount": "20", "currency": "usd"})).as_("ann", "bidder"),
            422,
            "invalid_request",
        ),
        (
            HttpCall::post("/lots", json!({"title": "", "format": "english"})).as_("sam", "seller"),
            422,
            "invalid_request",
        ),
    ];
    for (call, status, code) in cases {
        let answer = api.call(&call.http_v2_event()).await;
        assert_eq!(
            answer.status, status,
            "{} {}: {}",
            call.method, call.path, answer.body
        );
        assert_eq!(answer.body["code"], code, "{}", answer.body);
    }
    assert!(
        api.queue
            .receive(10, Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );

    let live = api
        .call(&HttpCall::get(&format!("/lots/{lot}/live?after=0")).http_v2_event())
        .await;
    assert_eq!(live.status, 501, "{}", live.body);
    assert_eq!(live.body["code"], "not_implemented");
    let unknown = api
        .call(&HttpCall::get("/lots/no-such-lot").http_v2_event())
        .await;
    assert_eq!(unknown.body["code"], "lot_not_found");
    let listed = api
        .call(&HttpCall::get("/lots?status=open&limit=5").http_v2_event())
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["lotId"], lot.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_bid_is_judged_by_the_worker_and_its_status_becomes_done() {
    let api = fresh_api().await;
    let created = api
        .call(
            &HttpCall::post("/lots", listing())
                .as_("sam", "seller")
                .http_v2_event(),
        )
        .await;
    let lot = lot_of(&created.location.unwrap());
    api.judge_queue().await;

    let bid = api
        .call(
            &HttpCall::post(&format!("/lots/{lot}/bids"), json!({"amount": "25.00"}))
                .as_("ann", "bidder")
                .header("idempotency-key", "bid-1")
                .http_v2_event(),
        )
        .await;
    assert_eq!(bid.status, 202, "{}", bid.body);
    let location = bid.location.unwrap();
    assert_eq!(location, format!("/lots/{lot}/commands/bid-1"));
    let pending = api
        .call(
            &HttpCall::get(&location)
                .as_("ann", "bidder")
                .http_v2_event(),
        )
        .await;
    assert_eq!(pending.body["status"], "pending", "{}", pending.body);
    let unknown = api
        .call(
            &HttpCall::get(&format!("/lots/{lot}/commands/never"))
                .as_("ann", "bidder")
                .http_v2_event(),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    assert_eq!(api.judge_queue().await, 1);

    let done = api
        .call(
            &HttpCall::get(&location)
                .as_("ann", "bidder")
                .http_v2_event(),
        )
        .await;
    assert_eq!(done.body["status"], "done", "{}", done.body);
    assert_eq!(done.body["result"]["outcome"], "leading");
    assert_eq!(done.body["result"]["yourMaximum"], "25.00");
    let theirs = api
        .call(
            &HttpCall::get(&location)
                .as_("bob", "bidder")
                .http_v2_event(),
        )
        .await;
    assert_eq!(theirs.status, 404);
    let read = api
        .call(
            &HttpCall::get(&format!("/lots/{lot}"))
                .as_("ann", "bidder")
                .http_v2_event(),
        )
        .await;
    assert_eq!(read.body["bidCount"], 1);
    assert_eq!(read.body["leaderId"], "ann");
    assert_eq!(read.body["yourMaximum"], "25.00");

    // Credit limits are written directly (not a lot command).
    let credit = api
        .call(
            &HttpCall {
                method: "PUT",
                ..HttpCall::post(
                    "/participants/ann/credit",
                    json!({"limit": "100", "currency": "USD"}),
                )
                .as_("root", "admin")
            }
            .http_v2_event(),
        )
        .await;
    assert_eq!(credit.status, 200, "{}", credit.body);
    assert_eq!(credit.body["available"], "100.00");
}
