//! The HTTP API over a real socket: reservations, settlement, payment,
//! credit, events.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_fixed_price_lot_is_reserved_and_completed() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.fixed(&c.sue, json!({"holdSecs": 3600})).await;
    let view = s.get(&format!("/lots/{lot}"), None).await.body;
    assert_eq!(view["price"], "25.00");
    assert_eq!(view["currentPrice"], json!(null));
    assert_eq!(view["minNextBid"], json!(null));
    assert_eq!(view["reserveMet"], true);
    assert_eq!(view["buyNowAvailable"], false);

    let reserved = s
        .call(
            Method::POST,
            &format!("/lots/{lot}/reservations"),
            Some(&c.ann),
            None,
            &[],
        )
        .await;
    assert_eq!(reserved.status, StatusCode::CREATED, "{}", reserved.body);
    let r = &reserved.body;
    assert_eq!(r["lotId"], json!(lot));
    assert_eq!(r["buyerId"], "ann");
    assert_eq!(r["status"], "active");
    let id = r["reservationId"].as_str().unwrap().to_owned();
    let created = chrono::DateTime::parse_from_rfc3339(r["createdAt"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(r["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, chrono::Duration::hours(1));

    let view = s.get(&format!("/lots/{lot}"), None).await.body;
    assert_eq!(view["status"], "reserved");
    assert_eq!(view["reservation"]["reservationId"], json!(id));
    assert_eq!(view["reservation"]["status"], "active");

    s.post(&format!("/lots/{lot}/reservations"), &c.bob, json!({}))
        .await
        .assert_problem(409, "already_reserved");
    s.post(&format!("/lots/{lot}/reservations"), &c.sue, json!({}))
        .await
        .assert_problem(403, "seller_cannot_reserve");
    s.post(&format!("/lots/{lot}/reservations"), &c.sam, json!({}))
        .await
        .assert_problem(403, "forbidden");
    let english = s.english(&c.sam, json!({})).await;
    s.post(&format!("/lots/{english}/reservations"), &c.ann, json!({}))
        .await
        .assert_problem(409, "reservation_not_supported");

    s.post(
        &format!("/lots/{lot}/reservations/{id}/complete"),
        &c.bob,
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    s.post(
        &format!("/lots/{lot}/reservations/nope/complete"),
        &c.sue,
        json!({}),
    )
    .await
    .assert_problem(404, "reservation_not_found");
    let done = s
        .post(
            &format!("/lots/{lot}/reservations/{id}/complete"),
            &c.sue,
            json!({}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "closed");
    assert_eq!(done.body["outcome"]["endedBy"], "reservation");
    assert_eq!(done.body["outcome"]["winnerId"], "ann");
    assert_eq!(done.body["reservation"]["status"], "completed");
    s.post(
        &format!("/lots/{lot}/reservations/{id}/cancel"),
        &c.ann,
        json!({}),
    )
    .await
    .assert_problem(409, "reservation_not_active");

    let settlement = s
        .get(&format!("/lots/{lot}/settlement"), Some(&c.ann))
        .await;
    assert_eq!(settlement.status, StatusCode::OK);
    assert_eq!(settlement.body["totalDue"], "25.00");
    assert_eq!(settlement.body["currency"], "EUR");
}

#[tokio::test]
async fn reservations_are_cancelled_and_expire() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.fixed(&c.sam, json!({"holdSecs": 60})).await;
    let r = s
        .post(&format!("/lots/{lot}/reservations"), &c.ann, json!({}))
        .await;
    let id = r.body["reservationId"].as_str().unwrap().to_owned();
    let cancelled = s
        .post(
            &format!("/lots/{lot}/reservations/{id}/cancel"),
            &c.ann,
            json!({}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "open");
    assert_eq!(cancelled.body["reservation"]["status"], "cancelled");

    let r = s
        .post(&format!("/lots/{lot}/reservations"), &c.bob, json!({}))
        .await;
    let id = r.body["reservationId"].as_str().unwrap().to_owned();
    s.clock.advance(chrono::Duration::seconds(61));
    s.post(
        &format!("/lots/{lot}/reservations/{id}/complete"),
        &c.bob,
        json!({}),
    )
    .await
    .assert_problem(409, "reservation_expired");
    let view = s.get(&format!("/lots/{lot}"), None).await.body;
    assert_eq!(view["status"], "open");
    assert_eq!(view["reservation"]["status"], "expired");
}

#[tokio::test]
async fn a_sale_settles_and_is_paid_once_by_its_buyer() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({"buyerPremiumRate": "0.1"})).await;
    s.get(&format!("/lots/{lot}/settlement"), Some(&c.sam))
        .await
        .assert_problem(404, "settlement_not_found");
    s.bid(&lot, &c.ann, json!("50")).await;
    s.bid(&lot, &c.bob, json!("40")).await;
    s.advance(chrono::Duration::hours(2)).await;

    let seen = s
        .get(&format!("/lots/{lot}/settlement"), Some(&c.sam))
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    let st = &seen.body;
    assert_eq!(st["lotId"], json!(lot));
    assert_eq!(st["sellerId"], "sam");
    assert_eq!(st["buyerId"], "ann");
    assert_eq!(st["currency"], "USD");
    assert_eq!(st["hammerPrice"], "41.00");
    assert_eq!(st["buyerPremium"], "4.10");
    assert_eq!(st["totalDue"], "45.10");
    assert_eq!(st["status"], "pending");
    assert!(st["dueBy"].is_string());
    for who in [&c.ann, &c.root] {
        assert_eq!(
            s.get(&format!("/lots/{lot}/settlement"), Some(who))
                .await
                .status,
            StatusCode::OK
        );
    }
    s.get(&format!("/lots/{lot}/settlement"), Some(&c.bob))
        .await
        .assert_problem(403, "forbidden");
    s.get(&format!("/lots/{lot}/settlement"), None)
        .await
        .assert_problem(401, "unauthorized");

    s.post(
        &format!("/lots/{lot}/settlement/payment"),
        &c.bob,
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    let paid = s
        .post(
            &format!("/lots/{lot}/settlement/payment"),
            &c.ann,
            json!({}),
        )
        .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    assert_eq!(paid.body["status"], "paid");
    s.post(
        &format!("/lots/{lot}/settlement/payment"),
        &c.root,
        json!({}),
    )
    .await
    .assert_problem(409, "already_paid");

    let other = s.english(&c.sam, json!({})).await;
    s.post(
        &format!("/lots/{other}/settlement/payment"),
        &c.ann,
        json!({}),
    )
    .await
    .assert_problem(404, "settlement_not_found");
    s.bid(&other, &c.ann, json!("50")).await;
    s.advance(chrono::Duration::hours(2)).await;
    s.advance(chrono::Duration::hours(73)).await;
    s.post(
        &format!("/lots/{other}/settlement/payment"),
        &c.ann,
        json!({}),
    )
    .await
    .assert_problem(409, "settlement_defaulted");
    let defaulted = s
        .get(&format!("/lots/{other}/settlement"), Some(&c.ann))
        .await;
    assert_eq!(defaulted.body["status"], "defaulted");
}

#[tokio::test]
async fn admins_set_credit_and_participants_read_their_own() {
    let s = memory_server().await;
    let c = cast();
    s.get("/participants/ann/credit", Some(&c.ann))
        .await
        .assert_problem(404, "credit_not_found");
    let set = s
        .call(
            Method::PUT,
            "/participants/ann/credit",
            Some(&c.root),
            Some(json!({"limit": 100, "currency": "USD"})),
            &[],
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(
        set.body,
        json!({"participantId": "ann", "currency": "USD", "limit": "100.00", "held": "0.00", "available": "100.00"})
    );
    let put = |who: String, body: serde_json::Value| {
        let s = &s;
        async move {
            s.call(
                Method::PUT,
                "/participants/ann/credit",
                Some(&who),
                Some(body),
                &[],
            )
            .await
        }
    };
    put(c.ann.clone(), json!({"limit": "1000", "currency": "USD"}))
        .await
        .assert_problem(403, "forbidden");
    put(
        c.root.clone(),
        json!({"limit": "10.001", "currency": "USD"}),
    )
    .await
    .assert_problem(422, "invalid_request");
    put(c.root.clone(), json!({"limit": "10", "currency": "XXX"}))
        .await
        .assert_problem(422, "invalid_request");
    put(c.root.clone(), json!({"currency": "USD"}))
        .await
        .assert_problem(422, "invalid_request");

    let lot = s.english(&c.sam, json!({"creditCheck": true})).await;
    let bid = s.bid(&lot, &c.ann, json!("60")).await;
    assert_eq!(bid.status, StatusCode::CREATED, "{}", bid.body);
    let mine = s.get("/participants/ann/credit", Some(&c.ann)).await;
    assert_eq!(mine.body["held"], "60.00");
    assert_eq!(mine.body["available"], "40.00");
    s.bid(&lot, &c.ann, json!("120"))
        .await
        .assert_problem(409, "insufficient_credit");
    s.get("/participants/ann/credit", Some(&c.bob))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(
        s.get("/participants/ann/credit", Some(&c.root))
            .await
            .status,
        StatusCode::OK
    );
    put(c.root.clone(), json!({"limit": "500", "currency": "EUR"}))
        .await
        .assert_problem(409, "credit_in_use");
}

#[tokio::test]
async fn the_event_log_pages_by_sequence() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({})).await;
    s.bid(&lot, &c.ann, json!("50")).await;
    s.bid(&lot, &c.bob, json!("20")).await;
    let all = s.get(&format!("/lots/{lot}/events"), None).await;
    assert_eq!(all.status, StatusCode::OK);
    let items = all.body["items"].as_array().unwrap();
    let types: Vec<_> = items
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "LotCreated",
            "LotOpened",
            "BidAccepted",
            "BidAccepted",
            "Outbid"
        ]
    );
    assert_eq!(items[2]["eventId"], format!("{lot}:3"));
    assert_eq!(items[2]["version"], 1);
    assert!(items[2].get("maximum").is_none(), "events are public");
    assert!(all.body.get("nextCursor").is_none());

    let page = s
        .get(&format!("/lots/{lot}/events?after=1&limit=2"), None)
        .await;
    let seqs: Vec<_> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].clone())
        .collect();
    assert_eq!(seqs, [json!(2), json!(3)]);
    let cursor = page.body["nextCursor"].as_str().unwrap().to_owned();
    let next = s
        .get(&format!("/lots/{lot}/events?cursor={cursor}&limit=2"), None)
        .await;
    assert_eq!(next.body["items"][0]["sequence"], 4);
    let last = s
        .get(&format!("/lots/{lot}/events?after=3&limit=2"), None)
        .await;
    assert!(last.body.get("nextCursor").is_none(), "no more after 5");
    s.get(&format!("/lots/{lot}/events?after=1&cursor=2"), None)
        .await
        .assert_problem(422, "invalid_request");
    s.get(&format!("/lots/{lot}/events?after=-3"), None)
        .await
        .assert_problem(422, "invalid_request");
    s.get("/lots/nope/events", None)
        .await
        .assert_problem(404, "lot_not_found");
}
