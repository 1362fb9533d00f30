//! Test support: a real server on 127.0.0.1:0, a manual clock, signed
//! tokens, and a small JSON client.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use hammerfall_adapters_memory::{ManualClock, MemoryCreditLedger, MemoryLotStore, SequentialIds};
use hammerfall_hosts::{AppState, AuthConfig, Host, HostOptions, RateLimit};
use hammerfall_ports::{CreditLedger, LotStore};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECRET: &[u8] = b"test-secret-of-reasonable-length";
pub const PUBLIC_PEM: &[u8] = include_bytes!("../fixtures/rs256-public.pem");
pub const PRIVATE_PEM: &[u8] = include_bytes!("../fixtures/rs256-private.pem");

/// A running server.
pub struct Server<S: LotStore, L: CreditLedger> {
    pub base: String,
    pub clock: ManualClock,
    pub state: AppState<S, L>,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

pub type MemoryServer = Server<MemoryLotStore, MemoryCreditLedger>;

/// Options for a test server.
pub struct Setup {
    pub auth: AuthConfig,
    pub rate_limit: RateLimit,
    pub timers: bool,
    pub clock: ManualClock,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            auth: AuthConfig::new()
                .with_hs256_secret(SECRET)
                .unwrap()
                .with_rs256_public_key(PUBLIC_PEM, "fixture")
                .unwrap(),
            rate_limit: RateLimit {
                per_second: 10_000,
                burst: 10_000,
            },
            timers: false,
            clock: ManualClock::new(chrono::Utc::now()),
        }
    }
}

/// A server on the memory store with JWT auth and a manual clock.
pub async fn memory_server() -> MemoryServer {
    start(
        Arc::new(MemoryLotStore::new()),
        Arc::new(MemoryCreditLedger::new()),
        Setup::default(),
    )
    .await
}

pub async fn start<S: LotStore, L: CreditLedger>(
    store: Arc<S>,
    ledger: Arc<L>,
    setup: Setup,
) -> Server<S, L> {
    let mut options = HostOptions::new(setup.auth);
    options.rate_limit = setup.rate_limit;
    options.clock = Arc::new(setup.clock.clone());
    options.ids = Arc::new(SequentialIds::with_prefix("t"));
    options.timers = setup.timers;
    options.service.workers = 2;
    let host = Host::start(store, ledger, options);
    let state = host.state().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(host.serve(listener, async {
        let _ = stopped.await;
    }));
    Server {
        base: format!("http://{addr}"),
        clock: setup.clock,
        state,
        http: reqwest::Client::new(),
        stop: Some(stop),
        task: Some(task),
    }
}

impl<S: LotStore, L: CreditLedger> Server<S, L> {
    /// Shuts the server down gracefully and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().unwrap();
        drop(self);
        task.await.unwrap().unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }

    /// Sends a request; `who` is a bearer token (or none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        who: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = who {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::of(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, who: Option<&str>) -> Reply {
        self.call(Method::GET, path, who, None, &[]).await
    }

    pub async fn post(&self, path: &str, who: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(who), Some(body), &[])
            .await
    }

    pub async fn post_keyed(&self, path: &str, who: &str, key: &str, body: Value) -> Reply {
        self.call(
            Method::POST,
            path,
            Some(who),
            Some(body),
            &[("Idempotency-Key", key)],
        )
        .await
    }

    pub async fn post_raw(&self, path: &str, who: &str, body: &'static str) -> Reply {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(who)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        Reply::of(response).await
    }

    /// Creates an english lot (USD, start 10.00, ends in an hour) with
    /// `extra` fields merged in; returns its id.
    pub async fn english(&self, seller: &str, extra: Value) -> String {
        let ends = self.clock_now() + chrono::Duration::hours(1);
        let mut body = json!({
            "title": "Brass lamp", "format": "english", "currency": "USD",
            "startingPrice": "10.00", "endsAt": ends.to_rfc3339(),
        });
        merge(&mut body, extra);
        let reply = self.post("/lots", seller, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["lotId"].as_str().unwrap().to_owned()
    }

    /// Creates a fixed-price lot (EUR) with `extra` fields merged in.
    pub async fn fixed(&self, seller: &str, extra: Value) -> String {
        let mut body = json!({
            "title": "Chair", "format": "fixed_price", "currency": "EUR", "price": "25.00",
        });
        merge(&mut body, extra);
        let reply = self.post("/lots", seller, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["lotId"].as_str().unwrap().to_owned()
    }

    pub async fn bid(&self, lot: &str, who: &str, amount: Value) -> Reply {
        self.post(
            &format!("/lots/{lot}/bids"),
            who,
            json!({ "amount": amount }),
        )
        .await
    }

    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use hammerfall_ports::Clock;
        self.clock.now()
    }

    /// Moves the clock and applies due transitions, as the timer would.
    pub async fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
        self.state.service.tick().await.unwrap();
    }

    /// The lot's sequence as stored (for "nothing changed" checks).
    pub async fn sequence(&self, lot: &str) -> u64 {
        let reply = self.get(&format!("/lots/{lot}"), None).await;
        reply.body["sequence"].as_u64().unwrap()
    }
}

fn merge(body: &mut Value, extra: Value) {
    if let (Value::Object(body), Value::Object(extra)) = (body, extra) {
        body.extend(extra);
    }
}

/// A response: status, headers and JSON body (Null if not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn of(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem answer with `status` and `code`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["status"], status, "{}", self.body);
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "content type {}",
            self.content_type()
        );
    }
}

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// An HS256 token for `sub` with `roles`, valid for an hour.
pub fn token(sub: &str, roles: &[&str]) -> String {
    token_with(sub, roles, unix_now() + 3600, None, SECRET)
}

pub fn token_with(sub: &str, roles: &[&str], exp: i64, nbf: Option<i64>, secret: &[u8]) -> String {
    let mut claims = json!({ "sub": sub, "roles": roles, "exp": exp });
    if let Some(nbf) = nbf {
        claims["nbf"] = json!(nbf);
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

pub fn rs256_token(sub: &str, roles: &[&str]) -> String {
    let claims = json!({ "sub": sub, "roles": roles, "exp": unix_now() + 3600 });
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(PRIVATE_PEM).unwrap(),
    )
    .unwrap()
}

pub fn expired_token(sub: &str, roles: &[&str]) -> String {
    token_with(sub, roles, unix_now() - 3600, None, SECRET)
}

/// The usual cast.
pub struct Cast {
    pub sam: String,
    pub sue: String,
    pub ann: String,
    pub bob: String,
    pub cat: String,
    pub root: String,
}

pub fn cast() -> Cast {
    Cast {
        sam: token("sam", &["seller"]),
        sue: token("sue", &["seller", "bidder"]),
        ann: token("ann", &["bidder"]),
        bob: token("bob", &["bidder"]),
        cat: token("cat", &["bidder"]),
        root: token("root", &["admin"]),
    }
}

pub fn unix_secs() -> i64 {
    unix_now()
}
