//! The HTTP API over a real socket: lots, bids, buy now, cancel, history,
//! listings, and the shapes of SPEC §7.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_seller_creates_an_english_lot_and_sees_its_reserve() {
    let s = memory_server().await;
    let c = cast();
    let ends = (s.clock_now() + chrono::Duration::hours(1)).to_rfc3339();
    let reply = s
        .post(
            "/lots",
            &c.sam,
            json!({"title": "Lamp", "format": "english", "currency": "USD",
                   "startingPrice": 10, "reservePrice": "20", "buyNowPrice": 99.5, "endsAt": ends}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let lot = &reply.body;
    let id = lot["lotId"].as_str().unwrap();
    assert_eq!(
        reply.headers["location"].to_str().unwrap(),
        format!("/lots/{id}")
    );
    assert_eq!(lot["title"], "Lamp");
    assert_eq!(lot["sellerId"], "sam");
    assert_eq!(lot["format"], "english");
    assert_eq!(lot["status"], "open");
    assert_eq!(lot["currency"], "USD");
    assert_eq!(lot["currentPrice"], json!(null));
    assert_eq!(lot["minNextBid"], "10.00");
    assert_eq!(lot["leaderId"], json!(null));
    assert_eq!(lot["bidCount"], 0);
    assert_eq!(lot["reserveMet"], false);
    assert_eq!(lot["buyNowPrice"], "99.50");
    assert_eq!(lot["buyNowAvailable"], true);
    assert_eq!(lot["price"], json!(null));
    assert_eq!(lot["sequence"], 2, "LotCreated then LotOpened");
    assert_eq!(lot["reservePrice"], "20.00", "the seller sees the reserve");
    assert!(lot.get("outcome").is_none());

    let anonymous = s.get(&format!("/lots/{id}"), None).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert!(
        anonymous.body.get("reservePrice").is_none(),
        "hidden from the public"
    );
    let bidder = s.get(&format!("/lots/{id}"), Some(&c.ann)).await;
    assert!(
        bidder.body.get("reservePrice").is_none(),
        "hidden from bidders"
    );
    let admin = s.get(&format!("/lots/{id}"), Some(&c.root)).await;
    assert_eq!(admin.body["reservePrice"], "20.00", "admins see it");
}

#[tokio::test]
async fn invalid_lots_are_refused_with_422_and_malformed_bodies_with_400() {
    let s = memory_server().await;
    let c = cast();
    let cases = [
        (
            json!({"format": "english", "currency": "USD", "startingPrice": "1"}),
            "title",
        ),
        (
            json!({"title": "", "format": "english", "currency": "USD"}),
            "title",
        ),
        (
            json!({"title": "x".repeat(201), "format": "english", "currency": "USD"}),
            "title",
        ),
        (
            json!({"title": "x", "format": "dutch", "currency": "USD"}),
            "format",
        ),
        (
            json!({"title": "x", "format": "english", "currency": "XYZ", "startingPrice": "1"}),
            "currency",
        ),
        (
            json!({"title": "x", "format": "english", "currency": "usd", "startingPrice": "1"}),
            "currency",
        ),
        (
            json!({"title": "x", "format": "english", "currency": "USD", "startingPrice": "abc"}),
            "startingPrice",
        ),
        (
            json!({"title": "x", "format": "english", "currency": "USD", "startingPrice": true}),
            "startingPrice",
        ),
        (
            json!({"title": "x", "format": "english", "currency": "USD", "startingPrice": "1", "endsAt": "tomorrow"}),
            "endsAt",
        ),
        (
            json!({"title": "x", "format": "fixed_price", "currency": "USD", "price": "1", "holdSecs": 1.5}),
            "holdSecs",
        ),
        (
            json!({"title": null, "format": "english", "currency": "USD"}),
            "title",
        ),
    ];
    for (body, field) in cases {
        let reply = s.post("/lots", &c.sam, body.clone()).await;
        reply.assert_problem(422, "invalid_request");
        assert_eq!(reply.body["field"], field, "{body}");
    }
    // Values only the engine can judge: still 422 invalid_request.
    let ends = (s.clock_now() + chrono::Duration::hours(1)).to_rfc3339();
    for body in [
        json!({"title": "x", "format": "english", "currency": "USD", "startingPrice": "1.001", "endsAt": ends}),
        json!({"title": "x", "format": "english", "currency": "USD", "startingPrice": "0", "endsAt": ends}),
        json!({"title": "x", "format": "english", "currency": "USD", "startingPrice": "1"}),
        json!({"title": "x", "format": "english", "currency": "USD", "startingPrice": "5", "reservePrice": "4", "endsAt": ends}),
        json!({"title": "x", "format": "fixed_price", "currency": "EUR"}),
        json!({"title": "x", "format": "fixed_price", "currency": "EUR", "price": "1", "holdSecs": 0}),
        json!({"title": "x", "format": "english", "currency": "USD", "startingPrice": "1", "endsAt": ends, "buyerPremiumRate": "1"}),
    ] {
        s.post("/lots", &c.sam, body)
            .await
            .assert_problem(422, "invalid_request");
    }
    s.post_raw("/lots", &c.sam, "{not json")
        .await
        .assert_problem(400, "invalid_request");
    s.post_raw("/lots", &c.sam, "[1, 2]")
        .await
        .assert_problem(400, "invalid_request");
    s.post_raw("/lots", &c.sam, "")
        .await
        .assert_problem(400, "invalid_request");
    let listed = s.get("/lots", None).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn proxy_bids_answer_201_with_the_bid_result_and_private_maximum() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({})).await;
    let first = s.bid(&lot, &c.ann, json!("50.00")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["outcome"], "leading");
    assert_eq!(first.body["yourMaximum"], "50.00");
    assert!(first.body["bidId"].is_string());
    assert_eq!(first.body["lot"]["currentPrice"], "10.00");
    assert_eq!(first.body["lot"]["leaderId"], "ann");
    assert_eq!(first.body["lot"]["yourMaximum"], "50.00");

    // A JSON number is read exactly, never through f64.
    let second = s.bid(&lot, &c.bob, json!(30.1)).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(second.body["outcome"], "outbid");
    assert_eq!(second.body["yourMaximum"], "30.10");
    assert_eq!(
        second.body["lot"]["currentPrice"], "31.10",
        "30.10 + inc(30.10)"
    );
    assert_eq!(second.body["lot"]["leaderId"], "ann");

    // Private fields per viewer.
    let as_bob = s.get(&format!("/lots/{lot}"), Some(&c.bob)).await;
    assert_eq!(
        as_bob.body["yourMaximum"], "30.10",
        "a non-leader's own maximum"
    );
    let as_ann = s.get(&format!("/lots/{lot}"), Some(&c.ann)).await;
    assert_eq!(as_ann.body["yourMaximum"], "50.00");
    let as_cat = s.get(&format!("/lots/{lot}"), Some(&c.cat)).await;
    assert!(as_cat.body.get("yourMaximum").is_none());
    let anonymous = s.get(&format!("/lots/{lot}"), None).await;
    assert!(anonymous.body.get("yourMaximum").is_none());
}

#[tokio::test]
async fn every_bid_rule_has_its_code_and_status() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sue, json!({})).await;
    s.bid(&lot, &c.ann, json!("20")).await;

    let low = s.bid(&lot, &c.bob, json!("10.25")).await;
    low.assert_problem(409, "bid_too_low");
    assert_eq!(low.body["minBid"], "10.50");
    let own = s.bid(&lot, &c.ann, json!("20")).await;
    own.assert_problem(409, "bid_too_low");
    assert_eq!(
        own.body["minBid"], "20.01",
        "the leader must beat their own maximum"
    );

    s.bid(&lot, &c.bob, json!("12.345"))
        .await
        .assert_problem(422, "invalid_amount");
    s.bid(&lot, &c.bob, json!("-5"))
        .await
        .assert_problem(422, "invalid_amount");
    s.bid(&lot, &c.bob, json!(0))
        .await
        .assert_problem(422, "invalid_amount");
    s.bid(&lot, &c.bob, json!("1000000000000.01"))
        .await
        .assert_problem(422, "invalid_amount");
    s.bid(&lot, &c.bob, json!(1e300))
        .await
        .assert_problem(422, "invalid_amount");
    let mismatch = s
        .post(
            &format!("/lots/{lot}/bids"),
            &c.bob,
            json!({"amount": "30", "currency": "EUR"}),
        )
        .await;
    mismatch.assert_problem(422, "currency_mismatch");
    s.bid(&lot, &c.bob, json!("abc"))
        .await
        .assert_problem(400, "invalid_request");
    s.bid(&lot, &c.bob, json!({"x": 1}))
        .await
        .assert_problem(400, "invalid_request");
    s.post(&format!("/lots/{lot}/bids"), &c.bob, json!({}))
        .await
        .assert_problem(422, "invalid_request");
    s.post(
        &format!("/lots/{lot}/bids"),
        &c.bob,
        json!({"amount": null}),
    )
    .await
    .assert_problem(422, "invalid_request");
    s.post_raw(&format!("/lots/{lot}/bids"), &c.bob, "{\"amount\": ")
        .await
        .assert_problem(400, "invalid_request");

    s.bid(&lot, &c.sue, json!("30"))
        .await
        .assert_problem(403, "seller_cannot_bid");
    s.bid(&lot, &c.sam, json!("30"))
        .await
        .assert_problem(403, "forbidden");
    s.bid("no-such-lot", &c.bob, json!("30"))
        .await
        .assert_problem(404, "lot_not_found");
    s.bid("bad id", &c.bob, json!("30"))
        .await
        .assert_problem(404, "lot_not_found");

    let fixed = s.fixed(&c.sam, json!({})).await;
    s.bid(&fixed, &c.bob, json!("30"))
        .await
        .assert_problem(409, "bidding_not_supported");

    let later = (s.clock_now() + chrono::Duration::hours(1)).to_rfc3339();
    let scheduled = s
        .english(
            &c.sam,
            json!({"startsAt": later, "endsAt":
        (s.clock_now() + chrono::Duration::hours(2)).to_rfc3339()}),
        )
        .await;
    s.bid(&scheduled, &c.bob, json!("30"))
        .await
        .assert_problem(409, "lot_not_open");

    let checked = s.english(&c.sam, json!({"creditCheck": true})).await;
    s.bid(&checked, &c.bob, json!("30"))
        .await
        .assert_problem(409, "insufficient_credit");

    s.clock.advance(chrono::Duration::hours(2));
    s.bid(&lot, &c.bob, json!("300"))
        .await
        .assert_problem(409, "lot_closed");
    let closed = s.get(&format!("/lots/{lot}"), None).await;
    assert_eq!(
        closed.body["status"], "closed",
        "the late bid closed the lot first"
    );
    assert_eq!(closed.body["outcome"]["result"], "sold");
    assert_eq!(closed.body["outcome"]["winnerId"], "ann");
    assert_eq!(closed.body["outcome"]["hammerPrice"], "10.00");
    assert_eq!(closed.body["outcome"]["endedBy"], "time");
}

#[tokio::test]
async fn bid_history_shows_maximums_only_to_their_bidder_and_admins() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({})).await;
    s.bid(&lot, &c.ann, json!("50")).await;
    s.bid(&lot, &c.bob, json!("20")).await;
    s.bid(&lot, &c.bob, json!("60")).await;

    let public = s.get(&format!("/lots/{lot}/bids"), None).await;
    assert_eq!(public.status, StatusCode::OK);
    let items = public.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|b| b.get("maximum").is_none()));
    assert_eq!(items[0]["bidNumber"], 1);
    assert_eq!(items[0]["bidderId"], "ann");
    assert_eq!(items[0]["outcome"], "leading");
    assert_eq!(items[1]["outcome"], "outbid");
    assert_eq!(items[2]["currentPrice"], "51.00");
    assert!(items[0]["sequence"].as_u64() < items[1]["sequence"].as_u64());

    let as_bob = s.get(&format!("/lots/{lot}/bids"), Some(&c.bob)).await;
    let items = as_bob.body["items"].as_array().unwrap();
    assert!(items[0].get("maximum").is_none(), "not ann's maximum");
    assert_eq!(items[1]["maximum"], "20.00");
    assert_eq!(items[2]["maximum"], "60.00");
    let as_admin = s.get(&format!("/lots/{lot}/bids"), Some(&c.root)).await;
    assert_eq!(as_admin.body["items"][0]["maximum"], "50.00");

    let first_page = s.get(&format!("/lots/{lot}/bids?limit=2"), None).await;
    assert_eq!(first_page.body["items"].as_array().unwrap().len(), 2);
    let cursor = first_page.body["nextCursor"].as_str().unwrap().to_owned();
    let second_page = s
        .get(&format!("/lots/{lot}/bids?limit=2&cursor={cursor}"), None)
        .await;
    assert_eq!(second_page.body["items"].as_array().unwrap().len(), 1);
    assert!(second_page.body.get("nextCursor").is_none());
    s.get(&format!("/lots/{lot}/bids?cursor=garbage"), None)
        .await
        .assert_problem(422, "invalid_request");
    s.get(&format!("/lots/{lot}/bids?limit=0"), None)
        .await
        .assert_problem(422, "invalid_request");
    s.get(&format!("/lots/{lot}/bids?limit=x"), None)
        .await
        .assert_problem(422, "invalid_request");
    s.get("/lots/nope/bids", None)
        .await
        .assert_problem(404, "lot_not_found");
}

#[tokio::test]
async fn lots_are_listed_by_status_and_seller_in_pages() {
    let s = memory_server().await;
    let c = cast();
    let a = s.english(&c.sam, json!({})).await;
    let b = s.english(&c.sue, json!({})).await;
    let f = s.fixed(&c.sam, json!({})).await;
    s.post(&format!("/lots/{b}/cancel"), &c.sue, json!({}))
        .await;

    let all = s.get("/lots?limit=5000", None).await;
    assert_eq!(all.status, StatusCode::OK);
    let ids: Vec<_> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lotId"].clone())
        .collect();
    assert_eq!(ids, [json!(a), json!(b), json!(f)]);
    let by_sam = s.get("/lots?sellerId=sam", None).await;
    assert_eq!(by_sam.body["items"].as_array().unwrap().len(), 2);
    let cancelled = s.get("/lots?status=cancelled", None).await;
    assert_eq!(cancelled.body["items"][0]["lotId"], json!(b));
    let page = s.get("/lots?limit=2", None).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    let cursor = page.body["nextCursor"].as_str().unwrap().to_owned();
    let rest = s.get(&format!("/lots?limit=2&cursor={cursor}"), None).await;
    assert_eq!(rest.body["items"][0]["lotId"], json!(f));
    s.get("/lots?status=sold", None)
        .await
        .assert_problem(422, "invalid_request");
    s.get("/lots?cursor=zzz", None)
        .await
        .assert_problem(422, "invalid_request");
    s.get("/lots?sellerId=a%20b", None)
        .await
        .assert_problem(422, "invalid_request");
    s.get("/lots?limit=-1", None)
        .await
        .assert_problem(422, "invalid_request");
    let with_reserve = s.english(&c.sam, json!({"reservePrice": "50"})).await;
    let as_seller = s.get("/lots?sellerId=sam&status=open", Some(&c.sam)).await;
    let mine = as_seller.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lotId"] == json!(with_reserve))
        .unwrap()
        .clone();
    assert_eq!(mine["reservePrice"], "50.00");
}

#[tokio::test]
async fn buy_now_and_cancel_answer_the_lot_view() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({"buyNowPrice": "80"})).await;
    s.post(&format!("/lots/{lot}/buy-now"), &c.sam, json!({}))
        .await
        .assert_problem(403, "forbidden");
    let bought = s
        .call(
            Method::POST,
            &format!("/lots/{lot}/buy-now"),
            Some(&c.ann),
            None,
            &[],
        )
        .await;
    assert_eq!(bought.status, StatusCode::OK, "{}", bought.body);
    assert_eq!(bought.body["status"], "closed");
    assert_eq!(bought.body["outcome"]["endedBy"], "buy_now");
    assert_eq!(bought.body["outcome"]["hammerPrice"], "80.00");
    s.post(&format!("/lots/{lot}/buy-now"), &c.bob, json!({}))
        .await
        .assert_problem(409, "lot_closed");

    let own = s.english(&c.sue, json!({"buyNowPrice": "80"})).await;
    s.post(&format!("/lots/{own}/buy-now"), &c.sue, json!({}))
        .await
        .assert_problem(403, "seller_cannot_bid");
    let plain = s.english(&c.sam, json!({})).await;
    s.post(&format!("/lots/{plain}/buy-now"), &c.ann, json!({}))
        .await
        .assert_problem(409, "buy_now_unavailable");
    s.post_raw(&format!("/lots/{plain}/buy-now"), &c.ann, "nope")
        .await
        .assert_problem(400, "invalid_request");

    s.post(&format!("/lots/{plain}/cancel"), &c.ann, json!({}))
        .await
        .assert_problem(403, "forbidden");
    s.bid(&plain, &c.ann, json!("15")).await;
    s.post(&format!("/lots/{plain}/cancel"), &c.sam, json!({}))
        .await
        .assert_problem(409, "cancel_not_allowed");
    let by_admin = s
        .post(&format!("/lots/{plain}/cancel"), &c.root, json!({}))
        .await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
    assert_eq!(by_admin.body["status"], "cancelled");
    s.post("/lots/ghost/cancel", &c.root, json!({}))
        .await
        .assert_problem(404, "lot_not_found");
}

#[tokio::test]
async fn unknown_routes_methods_and_huge_bodies_are_problems() {
    let s = memory_server().await;
    let c = cast();
    s.get("/nowhere", None)
        .await
        .assert_problem(404, "not_found");
    s.get("/lots/x/y/z", None)
        .await
        .assert_problem(404, "not_found");
    s.call(Method::DELETE, "/lots", None, None, &[])
        .await
        .assert_problem(405, "method_not_allowed");
    let huge = "x".repeat(hammerfall_hosts::limits::MAX_BODY_BYTES + 1);
    let reply = s
        .call(
            Method::POST,
            "/lots",
            Some(&c.sam),
            Some(json!({"title": huge})),
            &[],
        )
        .await;
    reply.assert_problem(413, "invalid_request");
}
