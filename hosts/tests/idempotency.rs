//! Idempotent retries (SPEC §5) and asynchronous commands over HTTP.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_retried_bid_returns_the_original_answer_even_after_the_lot_moved_on() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({})).await;
    let bids = format!("/lots/{lot}/bids");
    let first = s
        .post_keyed(&bids, &c.ann, "k-1", json!({"amount": "50"}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    s.bid(&lot, &c.bob, json!("70")).await;
    let again = s
        .post_keyed(&bids, &c.ann, "k-1", json!({"amount": 50}))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(
        again.body, first.body,
        "same status and body, the lot as recorded"
    );
    let history = s.get(&bids, None).await;
    assert_eq!(
        history.body["items"].as_array().unwrap().len(),
        2,
        "no second bid"
    );

    let low = s
        .post_keyed(&bids, &c.cat, "k-2", json!({"amount": "11"}))
        .await;
    low.assert_problem(409, "bid_too_low");
    let low_again = s
        .post_keyed(&bids, &c.cat, "k-2", json!({"amount": "11"}))
        .await;
    assert_eq!(low_again.body, low.body, "a no stays a no");

    let conflict = s
        .post_keyed(&bids, &c.ann, "k-1", json!({"amount": "99"}))
        .await;
    conflict.assert_problem(422, "idempotency_conflict");
    // The key is scoped to the submitter: bob may use "k-1" too.
    let bobs = s
        .post_keyed(&bids, &c.bob, "k-1", json!({"amount": "90"}))
        .await;
    assert_eq!(bobs.status, StatusCode::CREATED, "{}", bobs.body);
    s.post_keyed(&bids, &c.bob, "bad key", json!({"amount": "95"}))
        .await
        .assert_problem(422, "invalid_request");
}

#[tokio::test]
async fn a_retried_lot_creation_creates_one_lot() {
    let s = memory_server().await;
    let c = cast();
    let ends = (s.clock_now() + chrono::Duration::hours(1)).to_rfc3339();
    let body = json!({"title": "Vase", "format": "english", "currency": "USD", "startingPrice": "5", "endsAt": ends});
    let first = s
        .post_keyed("/lots", &c.sam, "create-1", body.clone())
        .await;
    let again = s.post_keyed("/lots", &c.sam, "create-1", body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["location"], first.headers["location"]);
    let listed = s.get("/lots", None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn respond_async_answers_202_and_the_submitter_polls_the_outcome() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({})).await;
    let bids = format!("/lots/{lot}/bids");
    let queued = s
        .call(
            Method::POST,
            &bids,
            Some(&c.ann),
            Some(json!({"amount": "50"})),
            &[("Prefer", "respond-async"), ("Idempotency-Key", "a-1")],
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED);
    assert_eq!(
        queued.body,
        json!({"commandId": "a-1", "status": "pending"})
    );
    let location = queued.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/lots/{lot}/commands/a-1"));
    let done = poll(&s, &location, &c.ann).await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["commandId"], "a-1");
    let sync = s
        .post_keyed(&bids, &c.ann, "a-1", json!({"amount": "50"}))
        .await;
    assert_eq!(done["result"], sync.body, "result is the synchronous body");

    let rejected = s
        .call(
            Method::POST,
            &bids,
            Some(&c.bob),
            Some(json!({"amount": "1"})),
            &[("Prefer", "respond-async")],
        )
        .await;
    assert_eq!(rejected.status, StatusCode::ACCEPTED);
    let id = rejected.body["commandId"].as_str().unwrap().to_owned();
    let status = poll(&s, &format!("/lots/{lot}/commands/{id}"), &c.bob).await;
    assert_eq!(status["status"], "rejected");
    assert_eq!(status["error"]["code"], "bid_too_low");
    assert_eq!(status["error"]["minBid"], "10.50");

    // Lot creation, asynchronously: the Location names the new lot.
    let ends = (s.clock_now() + chrono::Duration::hours(1)).to_rfc3339();
    let create = s
        .call(
            Method::POST,
            "/lots",
            Some(&c.sam),
            Some(json!({"title": "Vase", "format": "english", "currency": "USD", "startingPrice": "5", "endsAt": ends})),
            &[("Prefer", "respond-async")],
        )
        .await;
    assert_eq!(create.status, StatusCode::ACCEPTED);
    let location = create.headers["location"].to_str().unwrap().to_owned();
    let created = poll(&s, &location, &c.sam).await;
    assert_eq!(created["status"], "done");
    assert_eq!(created["result"]["title"], "Vase");

    s.get(&format!("/lots/{lot}/commands/nope"), Some(&c.ann))
        .await
        .assert_problem(404, "not_found");
    s.get("/lots/ghost/commands/nope", Some(&c.ann))
        .await
        .assert_problem(404, "lot_not_found");
    s.get(&format!("/lots/{lot}/commands/a-1"), None)
        .await
        .assert_problem(401, "unauthorized");
}

async fn poll(s: &MemoryServer, location: &str, who: &str) -> serde_json::Value {
    for _ in 0..100 {
        let reply = s.get(location, Some(who)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        if reply.body["status"] != "pending" {
            return reply.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{location} stayed pending");
}
