//! A bare axum JSON handler shaped like the bid route, as the baseline for
//! the load figures in `hosts/README.md`: same framework, same request
//! and a similar answer, no auth, no engine, no store.
//!
//! `cargo run --release -p hammerfall-hosts --example bare_axum -- 127.0.0.1:8090`

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let app = Router::new().route("/lots/{lot}/bids", post(bid));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("bare axum listening on {addr}");
    axum::serve(listener, app).await
}

async fn bid(Path(lot): Path<String>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    (
        StatusCode::CREATED,
        Json(json!({
            "bidId": "b",
            "outcome": "leading",
            "yourMaximum": body.get("amount").cloned().unwrap_or(Value::Null),
            "lot": { "lotId": lot },
        })),
    )
}
