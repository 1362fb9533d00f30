//! Operations endpoints: health, readiness, metrics, the OpenAPI document.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let s = memory_server().await;
    let c = cast();
    let health = s.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, json!({"status": "ok"}));
    let ready = s.get("/readyz", None).await;
    assert_eq!(ready.body, json!({"status": "ready"}));

    let lot = s.english(&c.sam, json!({})).await;
    s.bid(&lot, &c.ann, json!("20")).await;
    s.bid(&lot, &c.bob, json!("1")).await;
    s.bid(&lot, &c.bob, json!("1.001")).await;
    let metrics = s.get("/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.content_type().starts_with("text/plain"));
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains("hammerfall_bids_accepted_total 1\n"),
        "{text}"
    );
    assert!(text.contains("hammerfall_bids_rejected_total{code=\"bid_too_low\"} 1\n"));
    assert!(text.contains("hammerfall_bids_rejected_total{code=\"invalid_amount\"} 1\n"));
    assert!(text.contains("hammerfall_submit_latency_seconds_count 4\n"));
    assert!(text.contains("hammerfall_sequencer_queue_depth 0\n"));
    assert!(text.contains("hammerfall_websockets_open 0\n"));

    s.state.begin_shutdown();
    s.get("/readyz", None)
        .await
        .assert_problem(503, "unavailable");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let s = memory_server().await;
    let doc = s.get("/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.content_type().starts_with("application/json"));
    let paths = doc.body["paths"].as_object().unwrap();
    for path in [
        "/lots",
        "/lots/{lotId}",
        "/lots/{lotId}/bids",
        "/lots/{lotId}/buy-now",
        "/lots/{lotId}/cancel",
        "/lots/{lotId}/reservations",
        "/lots/{lotId}/reservations/{reservationId}/complete",
        "/lots/{lotId}/reservations/{reservationId}/cancel",
        "/lots/{lotId}/settlement",
        "/lots/{lotId}/settlement/payment",
        "/lots/{lotId}/commands/{commandId}",
        "/lots/{lotId}/events",
        "/lots/{lotId}/live",
        "/participants/{participantId}/credit",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    let schemas = doc.body["components"]["schemas"].as_object().unwrap();
    let lot_view = &schemas["LotView"]["required"];
    for field in ["lotId", "currentPrice", "minNextBid", "sequence", "endsAt"] {
        assert!(
            lot_view.as_array().unwrap().contains(&json!(field)),
            "{field}"
        );
    }
    assert_eq!(
        doc.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
