//! The auth matrix: no token, bad signature, expired, not yet valid, wrong
//! role, someone else's resource → 401/403 and no state change; RS256;
//! development headers only when switched on; per-participant rate limits;
//! the server refuses to start without a way to authenticate.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use hammerfall_adapters_memory::{MemoryCreditLedger, MemoryLotStore};
use hammerfall_hosts::{AuthConfig, RateLimit};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn bad_credentials_are_401_and_change_nothing() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({})).await;
    let before = s.sequence(&lot).await;
    let forged = token_with(
        "ann",
        &["bidder"],
        unix_secs() + 3600,
        None,
        b"some-other-secret",
    );
    let expired = expired_token("ann", &["bidder"]);
    let early = token_with(
        "ann",
        &["bidder"],
        unix_secs() + 7200,
        Some(unix_secs() + 3600),
        SECRET,
    );
    let no_exp = {
        let claims = json!({"sub": "ann", "roles": ["bidder"]});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    };
    let bids = format!("/lots/{lot}/bids");
    for bad in [
        forged.as_str(),
        expired.as_str(),
        early.as_str(),
        no_exp.as_str(),
        "garbage",
    ] {
        let reply = s
            .call(
                Method::POST,
                &bids,
                Some(bad),
                Some(json!({"amount": "50"})),
                &[],
            )
            .await;
        reply.assert_problem(401, "unauthorized");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        // A bad token is refused on public reads too, rather than ignored.
        s.get(&format!("/lots/{lot}"), Some(bad))
            .await
            .assert_problem(401, "unauthorized");
    }
    s.call(
        Method::POST,
        &bids,
        None,
        Some(json!({"amount": "50"})),
        &[],
    )
    .await
    .assert_problem(401, "unauthorized");
    let basic = s
        .call(
            Method::POST,
            &bids,
            None,
            Some(json!({"amount": "50"})),
            &[("authorization", "Basic YTpi")],
        )
        .await;
    basic.assert_problem(401, "unauthorized");
    assert_eq!(s.sequence(&lot).await, before, "no state change");
}

#[tokio::test]
async fn every_write_route_wants_credentials_and_the_right_role() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({})).await;
    let fixed = s.fixed(&c.sam, json!({})).await;
    let no_roles = token("nobody", &[]);
    let writes: Vec<(Method, String, Option<&str>)> = vec![
        (Method::POST, "/lots".into(), Some("seller")),
        (Method::POST, format!("/lots/{lot}/bids"), Some("bidder")),
        (Method::POST, format!("/lots/{lot}/buy-now"), Some("bidder")),
        (
            Method::POST,
            format!("/lots/{fixed}/reservations"),
            Some("bidder"),
        ),
        (
            Method::PUT,
            "/participants/ann/credit".into(),
            Some("admin"),
        ),
        (Method::POST, format!("/lots/{lot}/cancel"), None),
        (
            Method::POST,
            format!("/lots/{fixed}/reservations/r1/complete"),
            None,
        ),
        (
            Method::POST,
            format!("/lots/{fixed}/reservations/r1/cancel"),
            None,
        ),
        (
            Method::POST,
            format!("/lots/{lot}/settlement/payment"),
            None,
        ),
        (Method::GET, format!("/lots/{lot}/settlement"), None),
        (Method::GET, format!("/lots/{lot}/commands/k"), None),
        (Method::GET, "/participants/ann/credit".into(), None),
    ];
    let body = json!({"title": "t", "format": "english", "currency": "USD", "startingPrice": "1", "amount": "50", "limit": "1", "currency_": 1});
    for (method, path, role) in &writes {
        s.call(method.clone(), path, None, Some(body.clone()), &[])
            .await
            .assert_problem(401, "unauthorized");
        if let Some(role) = role {
            let reply = s
                .call(
                    method.clone(),
                    path,
                    Some(&no_roles),
                    Some(body.clone()),
                    &[],
                )
                .await;
            reply.assert_problem(403, "forbidden");
            assert!(reply.body["detail"].as_str().unwrap().contains(role));
        }
    }
    assert_eq!(s.sequence(&lot).await, 2);
    assert_eq!(s.sequence(&fixed).await, 2);
    let listed = s.get("/lots", None).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        2,
        "no lot was created"
    );
}

#[tokio::test]
async fn someone_elses_resources_are_out_of_reach() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({"buyNowPrice": "90"})).await;
    // Another seller cannot cancel sam's lot.
    s.post(&format!("/lots/{lot}/cancel"), &c.sue, json!({}))
        .await
        .assert_problem(403, "forbidden");
    let async_bid = s
        .call(
            Method::POST,
            &format!("/lots/{lot}/bids"),
            Some(&c.ann),
            Some(json!({"amount": "50"})),
            &[("Idempotency-Key", "ann-1"), ("Prefer", "respond-async")],
        )
        .await;
    assert_eq!(async_bid.status, StatusCode::ACCEPTED);
    // Bob cannot read ann's command, nor her credit.
    s.get(&format!("/lots/{lot}/commands/ann-1"), Some(&c.bob))
        .await
        .assert_problem(404, "not_found");
    s.get("/participants/ann/credit", Some(&c.bob))
        .await
        .assert_problem(403, "forbidden");
    s.advance(chrono::Duration::hours(2)).await;
    s.get(&format!("/lots/{lot}/settlement"), Some(&c.bob))
        .await
        .assert_problem(403, "forbidden");
    s.post(
        &format!("/lots/{lot}/settlement/payment"),
        &c.bob,
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    let st = s
        .get(&format!("/lots/{lot}/settlement"), Some(&c.ann))
        .await;
    assert_eq!(
        st.body["status"], "pending",
        "bob's payment changed nothing"
    );
}

#[tokio::test]
async fn rs256_tokens_are_accepted_with_the_public_key() {
    let s = memory_server().await;
    let seller = rs256_token("rita", &["seller"]);
    let lot = s.english(&seller, json!({})).await;
    let view = s.get(&format!("/lots/{lot}"), None).await;
    assert_eq!(view.body["sellerId"], "rita");
}

#[tokio::test]
async fn development_headers_count_only_when_switched_on() {
    let s = memory_server().await;
    let dev = [("X-Participant", "dave"), ("X-Roles", "seller")];
    s.call(Method::POST, "/lots", None, Some(json!({})), &dev)
        .await
        .assert_problem(401, "unauthorized");

    let setup = Setup {
        auth: AuthConfig::new().with_dev_auth(true),
        ..Setup::default()
    };
    let d = start(
        Arc::new(MemoryLotStore::new()),
        Arc::new(MemoryCreditLedger::new()),
        setup,
    )
    .await;
    let ends = (d.clock_now() + chrono::Duration::hours(1)).to_rfc3339();
    let created = d
        .call(
            Method::POST,
            "/lots",
            None,
            Some(json!({"title": "t", "format": "english", "currency": "USD", "startingPrice": "1", "endsAt": ends})),
            &dev,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["sellerId"], "dave");
    d.call(
        Method::POST,
        "/lots",
        None,
        Some(json!({})),
        &[("X-Participant", "dave")],
    )
    .await
    .assert_problem(403, "forbidden");
    d.call(
        Method::POST,
        "/lots",
        None,
        Some(json!({})),
        &[("X-Participant", "a b")],
    )
    .await
    .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn each_participant_has_a_token_bucket() {
    let setup = Setup {
        rate_limit: RateLimit {
            per_second: 1,
            burst: 3,
        },
        ..Setup::default()
    };
    let s = start(
        Arc::new(MemoryLotStore::new()),
        Arc::new(MemoryCreditLedger::new()),
        setup,
    )
    .await;
    let c = cast();
    for _ in 0..3 {
        assert_eq!(s.get("/lots", Some(&c.ann)).await.status, StatusCode::OK);
    }
    let limited = s.get("/lots", Some(&c.ann)).await;
    limited.assert_problem(429, "rate_limited");
    assert_eq!(limited.headers["retry-after"], "1");
    assert_eq!(
        s.get("/lots", Some(&c.bob)).await.status,
        StatusCode::OK,
        "per participant"
    );
    assert_eq!(
        s.get("/lots", None).await.status,
        StatusCode::OK,
        "anonymous reads are not limited"
    );
}

#[test]
fn the_server_refuses_to_start_without_a_way_to_authenticate() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hammerfall-server"))
        .args(["--store", "memory", "--listen", "127.0.0.1:0"])
        .env_remove("HAMMERFALL_JWT_SECRET")
        .env_remove("HAMMERFALL_JWT_PUBLIC_KEY")
        .env_remove("HAMMERFALL_DEV_AUTH")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to start"), "{stderr}");
    assert!(
        stderr.contains("--jwt-secret") && stderr.contains("--dev-auth"),
        "{stderr}"
    );

    let dynamo = std::process::Command::new(env!("CARGO_BIN_EXE_hammerfall-server"))
        .args([
            "--store",
            "dynamodb:lots",
            "--listen",
            "127.0.0.1:0",
            "--dev-auth",
            "--aws-endpoint",
            "http://127.0.0.1:9",
        ])
        .env_remove("HAMMERFALL_QUEUE_URL")
        .output()
        .unwrap();
    assert!(!dynamo.status.success());
    let stderr = String::from_utf8_lossy(&dynamo.stderr);
    assert!(
        stderr.contains("the DynamoDB table lots does not answer"),
        "an unreachable table stops the start: {stderr}"
    );
    assert!(
        stderr.contains("--dev-auth is on"),
        "dev auth is announced: {stderr}"
    );
}
