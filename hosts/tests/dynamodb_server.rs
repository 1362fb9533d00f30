//! The real `hammerfall-server` binary on DynamoDB (moto over HTTP): lots,
//! bids and idempotency records survive a restart on the same table, and
//! with `--queue` the server judges commands other hosts queued on SQS.
//! Needs HAMMERFALL_AWS_ENDPOINT (start moto with `eval "$(scripts/moto)"`;
//! `scripts/test` does it). Never skipped.
#![allow(clippy::unwrap_used, missing_docs, reason = "test code")]

mod lambda_support;

use hammerfall_adapters_aws::{AwsSettings, SqsCommandQueue, setup};
use hammerfall_ports::CommandQueue;
use lambda_support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to answer `/readyz` after its start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts the binary on `table` (with `extra` flags) and waits until
    /// it is ready.
    async fn start(table: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_hammerfall-server"))
            .args(["--store", &format!("dynamodb:{table}")])
            .args(["--aws-endpoint", &endpoint()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--dev-auth")
            .args(extra)
            .env_remove("HAMMERFALL_JWT_SECRET")
            .env_remove("HAMMERFALL_JWT_PUBLIC_KEY")
            .env_remove("HAMMERFALL_QUEUE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited at start: {status}");
            }
            let ready = server
                .http
                .get(format!("{}/readyz", server.base))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return server;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "the server never got ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then waits for the graceful exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the server exited with {status}");
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        who: Option<(&str, &str)>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some((id, roles)) = who {
            request = request.header("x-participant", id).header("x-roles", roles);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, who: Option<(&str, &str)>) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, who, None, None).await
    }

    async fn post(
        &self,
        path: &str,
        who: (&str, &str),
        key: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        self.send(
            reqwest::Method::POST,
            path,
            Some(who),
            Some(key),
            Some(body),
        )
        .await
    }
}

const SAM: (&str, &str) = ("sam", "seller");
const ANN: (&str, &str) = ("ann", "bidder");
const BOB: (&str, &str) = ("bob", "bidder");

fn listing() -> Value {
    json!({
        "title": "Lamp", "format": "english", "currency": "USD",
        "startingPrice": "10.00", "reservePrice": "20.00",
        "endsAt": "2030-01-01T00:00:00Z"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_on_dynamodb_keeps_its_lots_across_a_restart() {
    let table = unique("hf-server");
    let server = Server::start(&table, &["--create-table"]).await;
    let (status, created) = server.post("/lots", SAM, "create-1", listing()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let lot = created["lotId"].as_str().unwrap().to_owned();
    let bids = format!("/lots/{lot}/bids");
    let (status, first) = server
        .post(&bids, ANN, "bid-1", json!({"amount": "25.00"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["outcome"], "leading");
    let (status, low) = server
        .post(&bids, BOB, "bid-2", json!({"amount": "10.00"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{low}");
    assert_eq!(low["code"], "bid_too_low");
    let before = server.get(&format!("/lots/{lot}"), Some(SAM)).await.1;
    assert_eq!(before["currentPrice"], "20.00", "{before}");
    assert_eq!(before["reservePrice"], "20.00");
    let history = server.get(&bids, None).await.1;
    let events = server.get(&format!("/lots/{lot}/events"), None).await.1;
    server.stop();

    let server = Server::start(&table, &[]).await;
    assert_eq!(
        server.get(&format!("/lots/{lot}"), Some(SAM)).await.1,
        before
    );
    assert_eq!(server.get(&bids, None).await.1, history);
    assert_eq!(
        server.get(&format!("/lots/{lot}/events"), None).await.1,
        events
    );
    // Idempotency records survived: the same keys answer the same outcomes.
    let replay = server
        .post(&bids, ANN, "bid-1", json!({"amount": "25.00"}))
        .await;
    assert_eq!(replay, (StatusCode::CREATED, first));
    let replay = server
        .post(&bids, BOB, "bid-2", json!({"amount": "10.00"}))
        .await;
    assert_eq!(replay, (StatusCode::CONFLICT, low));
    // And the lot goes on from where it was.
    let (status, next) = server
        .post(&bids, BOB, "bid-3", json!({"amount": "40.00"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{next}");
    assert_eq!(next["outcome"], "leading");
    assert_eq!(next["lot"]["currentPrice"], "26.00");
    assert_eq!(
        next["lot"]["sequence"].as_u64(),
        before["sequence"].as_u64().map(|s| s + 2),
        "BidAccepted and Outbid follow the old sequence"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_queued_on_sqs_are_judged_by_the_servers_consumer() {
    let aws = AwsSettings::local(endpoint());
    let table = unique("hf-server");
    setup::create_table(&aws.dynamodb().await, &table)
        .await
        .unwrap();
    let sqs = aws.sqs().await;
    let urls = setup::create_queue(&sqs, &unique("hf-server"), 30)
        .await
        .unwrap();
    let queue = SqsCommandQueue::new(sqs, &urls.queue_url);
    let server = Server::start(&table, &["--queue", &urls.queue_url]).await;
    let (status, created) = server.post("/lots", SAM, "create-1", listing()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let lot = lid(created["lotId"].as_str().unwrap());

    // Another host (the api function) queues two bids on the lot and a
    // whole new lot.
    let other = lid(&unique("lot"));
    queue
        .send(&[
            bid(&lot, "ann", cents(3000), "q-1"),
            bid(&lot, "bob", cents(2800), "q-2"),
            create_english(
                &other,
                "sam",
                chrono::Utc::now() + chrono::Duration::hours(1),
            ),
        ])
        .await
        .unwrap();

    let started = Instant::now();
    let view = loop {
        let (_, view) = server.get(&format!("/lots/{lot}"), None).await;
        let (other_status, _) = server.get(&format!("/lots/{other}"), None).await;
        if view["bidCount"] == 2 && other_status == StatusCode::OK {
            break view;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the queued commands were not judged: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(view["leaderId"], "ann");
    assert_eq!(view["currentPrice"], "29.00");
    let (status, done) = server
        .get(&format!("/lots/{lot}/commands/q-1"), Some(ANN))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "done");
    assert_eq!(done["result"]["outcome"], "leading");
    let (status, _) = server
        .get(&format!("/lots/{lot}/commands/q-1"), Some(BOB))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop();
}
