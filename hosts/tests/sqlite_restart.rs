//! The server on the SQLite store: a restart on the same file keeps lots,
//! bids, events, settlements, credit and idempotency records.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use hammerfall_adapters_memory::ManualClock;
use hammerfall_adapters_sqlite::SqliteStore;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

async fn on_file(path: &std::path::Path, clock: ManualClock) -> Server<SqliteStore, SqliteStore> {
    let store = Arc::new(SqliteStore::open(path).unwrap());
    let setup = Setup {
        clock,
        ..Setup::default()
    };
    start(store.clone(), store, setup).await
}

#[tokio::test]
async fn a_restart_on_the_same_file_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hammerfall.db");
    let clock = ManualClock::new(chrono::Utc::now());
    let c = cast();

    let s = on_file(&path, clock.clone()).await;
    s.call(
        Method::PUT,
        "/participants/ann/credit",
        Some(&c.root),
        Some(json!({"limit": "500", "currency": "USD"})),
        &[],
    )
    .await;
    let lot = s
        .english(&c.sam, json!({"creditCheck": true, "reservePrice": "15"}))
        .await;
    let first = s
        .post_keyed(
            &format!("/lots/{lot}/bids"),
            &c.ann,
            "k-1",
            json!({"amount": "60"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    s.bid(&lot, &c.bob, json!("30"))
        .await
        .assert_problem(409, "insufficient_credit");
    let sold = s.english(&c.sam, json!({})).await;
    s.bid(&sold, &c.bob, json!("25")).await;
    s.advance(chrono::Duration::hours(2)).await;
    let before_lot = s.get(&format!("/lots/{lot}"), Some(&c.sam)).await.body;
    let before_events = s.get(&format!("/lots/{lot}/events"), None).await.body;
    let before_settlement = s
        .get(&format!("/lots/{sold}/settlement"), Some(&c.bob))
        .await
        .body;
    let before_credit = s.get("/participants/ann/credit", Some(&c.ann)).await.body;
    assert_eq!(before_settlement["status"], "pending");
    s.shutdown().await;

    let s = on_file(&path, clock).await;
    assert_eq!(
        s.get(&format!("/lots/{lot}"), Some(&c.sam)).await.body,
        before_lot
    );
    assert_eq!(
        s.get(&format!("/lots/{lot}/events"), None).await.body,
        before_events
    );
    assert_eq!(
        s.get(&format!("/lots/{sold}/settlement"), Some(&c.bob))
            .await
            .body,
        before_settlement
    );
    assert_eq!(
        s.get("/participants/ann/credit", Some(&c.ann)).await.body,
        before_credit
    );
    let retry = s
        .post_keyed(
            &format!("/lots/{lot}/bids"),
            &c.ann,
            "k-1",
            json!({"amount": "60"}),
        )
        .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.body, first.body, "the idempotency record survived");
    let history = s.get(&format!("/lots/{lot}/bids"), None).await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 1);
    let paid = s
        .post(
            &format!("/lots/{sold}/settlement/payment"),
            &c.bob,
            json!({}),
        )
        .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    assert_eq!(paid.body["status"], "paid");
    assert_eq!(s.get("/readyz", None).await.status, StatusCode::OK);
    s.shutdown().await;
}
