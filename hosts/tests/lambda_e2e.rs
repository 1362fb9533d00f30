//! End to end: the real `lambda_api`, `lambda_worker` and `lambda_sweeper`
//! binaries under
//! a small Lambda Runtime API stand-in (next / response / error), against
//! DynamoDB and SQS FIFO on moto. The test plays Lambda's SQS event source:
//! it receives up to 10 messages, invokes the worker with them, deletes the
//! ones not reported failed and leaves the rest to come back after the
//! visibility timeout. Needs HAMMERFALL_AWS_ENDPOINT (start moto with
//! `eval "$(scripts/moto)"`; `scripts/test` does it). Never skipped.

mod lambda_support;

use aws_lambda_events::event::sqs::SqsBatchResponse;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hammerfall_adapters_aws::setup::{self, QueueUrls};
use hammerfall_adapters_aws::{AwsSettings, DynamoLotStore, SqsCommandQueue};
use hammerfall_ports::{CommandQueue, Duration, LotId, LotStatus, LotStore, Timestamp};
use lambda_support::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Visibility timeout of the test queues (real time passes).
const VISIBILITY_SECS: u32 = 1;
/// Longest an invocation may take before the test calls the function stuck.
const INVOKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Most receive rounds a test's poller runs before it calls the queue stuck.
const MAX_POLLS: usize = 40;

// ------------------------------------------------- Runtime API stand-in --

type Answer = Result<Value, Value>;

struct Invocation {
    id: String,
    event: Value,
}

struct Emulator {
    invocations: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    answers: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// When the function first asked for work (its init is over).
    first_next: Mutex<Option<Instant>>,
}

async fn next(State(emulator): State<Arc<Emulator>>) -> Response {
    {
        let mut first = emulator
            .first_next
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        first.get_or_insert_with(Instant::now);
    }
    let Some(invocation) = emulator.invocations.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        + INVOKE_TIMEOUT.as_millis();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", invocation.id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:test".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700".to_owned(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, axum::Json(invocation.event)).into_response()
}

fn settle(emulator: &Emulator, id: &str, answer: Answer) -> StatusCode {
    let sender = emulator
        .answers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    match sender {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    settle(&emulator, &id, Ok(value))
}

async fn error(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    settle(&emulator, &id, Err(value))
}

async fn init_error(body: axum::body::Bytes) -> StatusCode {
    panic!(
        "the function failed to start: {}",
        String::from_utf8_lossy(&body)
    );
}

/// A function binary running under the stand-in. Killed on drop.
struct Function {
    emulator: Arc<Emulator>,
    queue: mpsc::Sender<Invocation>,
    child: Child,
    started: Instant,
    next_id: AtomicU64,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Function {
    /// Starts `binary` with the table's settings, under a fresh stand-in.
    async fn start(name: &str, binary: &str, table: &str) -> Self {
        Self::start_with(name, binary, table, &[]).await
    }

    /// The same, with more environment variables.
    async fn start_with(name: &str, binary: &str, table: &str, env: &[(&str, &str)]) -> Self {
        let (queue, rx) = mpsc::channel(16);
        let emulator = Arc::new(Emulator {
            invocations: tokio::sync::Mutex::new(rx),
            answers: Mutex::new(HashMap::new()),
            first_next: Mutex::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(emulator.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let started = Instant::now();
        let child = Command::new(binary)
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("HAMMERFALL_TABLE", table)
            .env("HAMMERFALL_AWS_ENDPOINT", endpoint())
            .env("RUST_LOG", "error")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        Self {
            emulator,
            queue,
            child,
            started,
            next_id: AtomicU64::new(0),
        }
    }

    /// How long the process took from its start to its first `next`.
    async fn init_time(&self) -> std::time::Duration {
        let waited = Instant::now();
        loop {
            let first = *self
                .emulator
                .first_next
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(at) = first {
                return at - self.started;
            }
            assert!(
                waited.elapsed() < INVOKE_TIMEOUT,
                "the function never asked for work"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// Invokes the function with `event` and waits for its answer.
    async fn invoke(&self, event: Value) -> Answer {
        let id = format!("req-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.emulator
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), tx);
        self.queue
            .send(Invocation { id, event })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tokio::time::timeout(INVOKE_TIMEOUT, rx)
            .await
            .unwrap_or_else(|_| panic!("no answer within {INVOKE_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

// --------------------------------------------- Lambda's SQS event source --

struct Aws {
    store: DynamoLotStore,
    queue: SqsCommandQueue,
    urls: QueueUrls,
    table: String,
}

async fn fresh_aws() -> Aws {
    let settings = AwsSettings::local(endpoint());
    let table = unique("hf-lambda");
    let store = DynamoLotStore::connect(&settings, table.clone()).await;
    setup::create_table(store.client(), &table)
        .await
        .unwrap_or_else(|e| panic!("creating table {table}: {e}"));
    let sqs = settings.sqs().await;
    let urls = setup::create_queue(&sqs, &unique("hf-lambda"), VISIBILITY_SECS)
        .await
        .unwrap_or_else(|e| panic!("creating queue: {e}"));
    let queue = SqsCommandQueue::new(sqs, &urls.queue_url);
    Aws {
        store,
        queue,
        urls,
        table,
    }
}

/// One receive → invoke → delete round. Returns the message ids
/// delivered and the ones the worker reported failed (`None`: empty queue).
async fn poll_once(aws: &Aws, worker: &Function) -> Option<(Vec<String>, Vec<String>)> {
    let client = aws.queue.client();
    let received = client
        .receive_message()
        .queue_url(&aws.urls.queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ReceiveMessage: {e:?}"));
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return None;
    }
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: HashMap<String, String> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "md5OfBody": m.md5_of_body(),
                "attributes": attributes,
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:test.fifo",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    let answer = worker
        .invoke(json!({ "Records": records }))
        .await
        .unwrap_or_else(|e| panic!("the worker failed the whole batch: {e}"));
    let response: SqsBatchResponse =
        serde_json::from_value(answer).unwrap_or_else(|e| panic!("not a batch response: {e}"));
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    let mut delivered = Vec::new();
    for m in &messages {
        let id = m.message_id().unwrap_or_default().to_owned();
        if !failed.contains(&id) {
            client
                .delete_message()
                .queue_url(&aws.urls.queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap_or_else(|e| panic!("DeleteMessage: {e:?}"));
        }
        delivered.push(id);
    }
    Some((delivered, failed))
}

/// Polls until the queue has nothing left to deliver (failed messages come
/// back after the visibility timeout, so an empty receive is retried once
/// the timeout has passed). Returns how often each message was delivered.
async fn drain(aws: &Aws, worker: &Function) -> HashMap<String, usize> {
    let mut deliveries: HashMap<String, usize> = HashMap::new();
    let mut quiet = 0;
    for _ in 0..MAX_POLLS {
        match poll_once(aws, worker).await {
            Some((delivered, _)) => {
                quiet = 0;
                for id in delivered {
                    *deliveries.entry(id).or_default() += 1;
                }
            }
            None if quiet >= 2 => return deliveries,
            None => {
                quiet += 1;
                tokio::time::sleep(std::time::Duration::from_secs(VISIBILITY_SECS.into())).await;
            }
        }
    }
    panic!("the queue did not drain in {MAX_POLLS} polls: {deliveries:?}");
}

async fn messages_in(aws: &Aws, url: &str) -> usize {
    let attrs = aws
        .queue
        .client()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes: {e:?}"))
        .attributes
        .unwrap_or_default();
    attrs.values().filter_map(|n| n.parse::<usize>().ok()).sum()
}

async fn load(aws: &Aws, lot: &LotId) -> hammerfall_ports::Lot {
    aws.store
        .load(lot)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("lot {lot} does not exist"))
}

fn now() -> Timestamp {
    chrono::Utc::now()
}

fn worker_binary() -> String {
    std::env::var("HAMMERFALL_LAMBDA_WORKER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_lambda_worker").to_owned())
}

fn api_binary() -> String {
    std::env::var("HAMMERFALL_LAMBDA_API_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_lambda_api").to_owned())
}

fn sweeper_binary() -> String {
    std::env::var("HAMMERFALL_LAMBDA_SWEEPER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_lambda_sweeper").to_owned())
}

// ------------------------------------------------------------- tests --

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bid_enqueued_to_sqs_goes_through_the_worker_binary_into_dynamodb() {
    let aws = fresh_aws().await;
    let worker = Function::start("worker", &worker_binary(), &aws.table).await;
    let lot = lid(&unique("lot"));
    let create = create_english(&lot, "sam", now() + Duration::hours(1));
    let first = bid(&lot, "ann", cents(1500), "bid-1");
    aws.queue
        .send(&[create.clone(), first.clone()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let init = worker.init_time().await;
    let deliveries = drain(&aws, &worker).await;

    eprintln!("lambda_worker init (process start → first next): {init:?}");
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    assert!(deliveries.values().all(|n| *n == 1), "{deliveries:?}");
    let stored = load(&aws, &lot).await;
    assert_eq!(stored.status, LotStatus::Open);
    let bids = aws
        .store
        .bids(&lot, None, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bids.items.len(), 1);
    assert_eq!(bids.items[0].bidder_id, pid("ann"));
    assert_eq!(messages_in(&aws, &aws.urls.queue_url).await, 0);

    // Duplicate deliveries: the same commands enqueued again (moto forgets
    // a deleted message's deduplication id; SQS would drop them within
    // 5 minutes), and one batch delivered twice by hand.
    aws.queue
        .send(&[create.clone(), first.clone()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drain(&aws, &worker).await;
    let batch = json!({ "Records": [
        record("dup-1", &lot, &create),
        record("dup-2", &lot, &first),
    ]});
    for _ in 0..2 {
        let answer = worker
            .invoke(batch.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer["batchItemFailures"], json!([]));
    }
    assert_eq!(load(&aws, &lot).await, stored);
    let after = aws
        .store
        .events_after(&lot, 0, 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.len() as u64, stored.sequence);
}

fn record(id: &str, lot: &LotId, envelope: &hammerfall_ports::CommandEnvelope) -> Value {
    json!({
        "messageId": id,
        "receiptHandle": format!("receipt-{id}"),
        "body": serde_json::to_string(envelope).unwrap_or_default(),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "MessageGroupId": lot.to_string(),
            "MessageDeduplicationId": id,
        },
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:test.fifo",
        "awsRegion": "us-east-1",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_reaches_the_dead_letter_queue_after_three_attempts() {
    let aws = fresh_aws().await;
    let worker = Function::start("worker", &worker_binary(), &aws.table).await;
    let lot = lid(&unique("lot"));
    aws.queue
        .client()
        .send_message()
        .queue_url(&aws.urls.queue_url)
        .message_body("{\"this is\": \"not a command\"}")
        .message_group_id("poison")
        .message_deduplication_id("poison-1")
        .send()
        .await
        .unwrap_or_else(|e| panic!("SendMessage: {e:?}"));
    aws.queue
        .send(&[create_english(&lot, "sam", now() + Duration::hours(1))])
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let deliveries = drain(&aws, &worker).await;

    let poison: Vec<usize> = deliveries.values().copied().filter(|n| *n > 1).collect();
    assert_eq!(poison, [3], "{deliveries:?}");
    assert_eq!(messages_in(&aws, &aws.urls.queue_url).await, 0);
    assert_eq!(messages_in(&aws, &aws.urls.dead_letter_url).await, 1);
    assert_eq!(load(&aws, &lot).await.status, LotStatus::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_binary_closes_a_lot_whose_end_has_passed() {
    let aws = fresh_aws().await;
    let worker = Function::start("worker", &worker_binary(), &aws.table).await;
    let sweeper = Function::start("sweeper", &sweeper_binary(), &aws.table).await;
    let lot = lid(&unique("lot"));
    aws.queue
        .send(&[
            create_english(&lot, "sam", now() + Duration::seconds(2)),
            bid(&lot, "ann", cents(1500), "bid-1"),
        ])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drain(&aws, &worker).await;
    assert_eq!(load(&aws, &lot).await.status, LotStatus::Open);
    let init = sweeper.init_time().await;
    eprintln!("lambda_sweeper init (process start → first next): {init:?}");
    let schedule: Value = serde_json::from_str(SCHEDULE_EVENT).unwrap_or_else(|e| panic!("{e}"));

    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let report = sweeper
        .invoke(schedule)
        .await
        .unwrap_or_else(|e| panic!("the sweep failed: {e}"));

    assert!(report["advanced"].as_u64() >= Some(1), "{report}");
    assert_eq!(load(&aws, &lot).await.status, LotStatus::Closed);
}

/// An HTTP API (v2) event through the `api` binary; its answer as
/// (status, Location, body).
async fn http(api: &Function, call: &HttpCall<'_>) -> (u64, Option<String>, Value) {
    let answer = api
        .invoke(call.http_v2_event())
        .await
        .unwrap_or_else(|e| panic!("the api function failed: {e}"));
    let status = answer["statusCode"].as_u64().unwrap_or(0);
    let location = answer["headers"]["location"].as_str().map(str::to_owned);
    let body = answer["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, location, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bid_posted_to_the_api_binary_is_judged_by_the_worker_binary_and_read_back() {
    let aws = fresh_aws().await;
    let api = Function::start_with(
        "api",
        &api_binary(),
        &aws.table,
        &[
            ("HAMMERFALL_QUEUE_URL", aws.urls.queue_url.as_str()),
            ("HAMMERFALL_DEV_AUTH", "1"),
            ("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true"),
        ],
    )
    .await;
    let worker = Function::start("worker", &worker_binary(), &aws.table).await;
    let init = api.init_time().await;
    eprintln!("lambda_api init (process start → first next): {init:?}");

    let listing = json!({
        "title": "Lamp", "format": "english", "currency": "USD",
        "startingPrice": "10.00", "endsAt": "2030-01-01T00:00:00Z"
    });
    let (status, location, body) =
        http(&api, &HttpCall::post("/lots", listing).as_("sam", "seller")).await;
    assert_eq!(status, 202, "{body}");
    let location = location.unwrap_or_else(|| panic!("no Location: {body}"));
    let lot = location
        .strip_prefix("/lots/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("{location}"))
        .to_owned();
    drain(&aws, &worker).await;

    let bids = format!("/lots/{lot}/bids");
    let (status, location, body) = http(
        &api,
        &HttpCall::post(&bids, json!({"amount": "25.00"}))
            .as_("ann", "bidder")
            .header("idempotency-key", "bid-1"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!({"commandId": "bid-1", "status": "pending"}));
    let command = location.unwrap_or_else(|| panic!("no Location: {body}"));
    assert_eq!(command, format!("/lots/{lot}/commands/bid-1"));
    let (_, _, pending) = http(&api, &HttpCall::get(&command).as_("ann", "bidder")).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    // Bad input is answered at once and queues nothing.
    let (status, _, bad) = http(
        &api,
        &HttpCall::post(&bids, json!({"amount": "lots"})).as_("ann", "bidder"),
    )
    .await;
    assert_eq!(
        (status, bad["code"].as_str()),
        (400, Some("invalid_request"))
    );

    let deliveries = drain(&aws, &worker).await;
    assert_eq!(
        deliveries.len(),
        1,
        "only the bid was queued: {deliveries:?}"
    );

    let (status, _, view) = http(&api, &HttpCall::get(&format!("/lots/{lot}"))).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["bidCount"], 1);
    assert_eq!(view["leaderId"], "ann");
    assert_eq!(view["currentPrice"], "10.00");
    // A REST API (v1) event of stage `test` reads the same lot.
    let rest = api
        .invoke(HttpCall::get(&format!("/lots/{lot}")).rest_event())
        .await
        .unwrap_or_else(|e| panic!("the api function failed: {e}"));
    assert_eq!(rest["statusCode"], 200, "{rest}");
    let rest_view: Value = serde_json::from_str(rest["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rest_view, view);
    let (_, _, done) = http(&api, &HttpCall::get(&command).as_("ann", "bidder")).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["result"]["outcome"], "leading");
    assert_eq!(done["result"]["lot"]["bidCount"], 1);
}
