//! The live WebSocket feed over a real socket: replay then live, resume
//! without gaps or duplicates while bids continue, errors, shutdown.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &MemoryServer, lot: &str, after: u64) -> Ws {
    let url = s.ws_url(&format!("/lots/{lot}/live?after={after}"));
    let (ws, response) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(response.status().as_u16(), 101);
    ws
}

/// The next event frame (pings are skipped), or None on close/timeout.
async fn next_event(ws: &mut Ws) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .ok()??;
        match frame.ok()? {
            Message::Text(text) => return Some(serde_json::from_str(text.as_str()).unwrap()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_feed_replays_then_streams_and_resumes_without_gaps_while_bids_continue() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({})).await;
    let bidding = {
        let (base, lot, ann, bob) = (s.base.clone(), lot.clone(), c.ann.clone(), c.bob.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..200_u32 {
                let who = if i % 2 == 0 { &ann } else { &bob };
                let amount = format!("{}.00", 20 + i * 100);
                let reply = http
                    .post(format!("{base}/lots/{lot}/bids"))
                    .bearer_auth(who)
                    .json(&json!({ "amount": amount }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status().as_u16(), 201);
                if i % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };

    let mut seen: Vec<u64> = Vec::new();
    let mut ws = connect(&s, &lot, 0).await;
    for _ in 0..40 {
        let event = next_event(&mut ws).await.unwrap();
        assert_eq!(event["lotId"], json!(lot));
        assert_eq!(event["eventId"], format!("{lot}:{}", event["sequence"]));
        assert!(event.get("maximum").is_none(), "public envelopes only");
        seen.push(event["sequence"].as_u64().unwrap());
    }
    ws.close(None).await.unwrap();
    drop(ws);

    // Resume from the last sequence seen, twice, while bids continue.
    for round in 0..2 {
        let after = *seen.last().unwrap();
        let mut ws = connect(&s, &lot, after).await;
        for _ in 0..(60 + round * 20) {
            match next_event(&mut ws).await {
                Some(event) => seen.push(event["sequence"].as_u64().unwrap()),
                None => break,
            }
        }
    }
    bidding.await.unwrap();
    let last = s.sequence(&lot).await;
    let after = *seen.last().unwrap();
    let mut ws = connect(&s, &lot, after).await;
    while *seen.last().unwrap() < last {
        let event = next_event(&mut ws)
            .await
            .expect("the feed reaches the lot's last event");
        seen.push(event["sequence"].as_u64().unwrap());
    }
    let expected: Vec<u64> = (1..=last).collect();
    assert_eq!(seen, expected, "every event exactly once, in order");
    assert!(last > 300, "200 bids with outbids: {last} events");

    // And the feed stays live: a new bid arrives at once.
    s.bid(&lot, &c.cat, json!("50000")).await;
    let event = next_event(&mut ws).await.unwrap();
    assert_eq!(event["sequence"], last + 1);
    assert_eq!(event["eventType"], "BidAccepted");
}

#[tokio::test]
async fn a_feed_for_an_unknown_lot_or_a_plain_get_is_a_problem() {
    let s = memory_server().await;
    let c = cast();
    let missing = tokio_tungstenite::connect_async(s.ws_url("/lots/ghost/live")).await;
    match missing {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 404);
        }
        other => panic!("expected 404, got {other:?}"),
    }
    let lot = s.english(&c.sam, json!({})).await;
    s.get(&format!("/lots/{lot}/live"), None)
        .await
        .assert_problem(426, "invalid_request");
    s.get(&format!("/lots/{lot}/live?after=x"), None)
        .await
        .assert_problem(422, "invalid_request");
}

#[tokio::test]
async fn shutdown_closes_live_feeds_with_going_away() {
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({})).await;
    let mut ws = connect(&s, &lot, 0).await;
    assert_eq!(next_event(&mut ws).await.unwrap()["sequence"], 1);
    assert_eq!(next_event(&mut ws).await.unwrap()["sequence"], 2);
    let stopping = tokio::spawn(s.shutdown());
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let frame = close.unwrap();
    assert_eq!(u16::from(frame.code), 1001);
    drop(ws);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_closed_with_1013_and_resumes_without_gaps() {
    use hammerfall_ports::{
        Actor, BidId, Command, CommandEnvelope, CommandId, Decimal, LotId, ParticipantId, PlaceBid,
    };
    let s = memory_server().await;
    let c = cast();
    let lot = s.english(&c.sam, json!({})).await;
    // A client with a tiny receive buffer that stops reading.
    let addr = s.base.trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    let url = s.ws_url(&format!("/lots/{lot}/live?after=0"));
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();

    // Far more events than the feed buffers plus what the sockets hold.
    let lot_id = LotId::new(&lot).unwrap();
    let bidders = [
        ParticipantId::new("ann").unwrap(),
        ParticipantId::new("bob").unwrap(),
    ];
    let total_bids = 12_000_u32;
    for chunk in (0..total_bids).collect::<Vec<_>>().chunks(500) {
        let submits = chunk.iter().map(|&i| {
            let envelope = CommandEnvelope::new(
                CommandId::new(format!("slow-{i}")).unwrap(),
                lot_id.clone(),
                Command::PlaceBid(PlaceBid {
                    bidder: Actor::bidder(bidders[i as usize % 2].clone()),
                    amount: Decimal::new(i64::from(20 + i * 100), 0),
                    currency: None,
                    bid_id: BidId::new(format!("b{i}")).unwrap(),
                }),
            );
            s.state.service.submit(envelope)
        });
        // Submitted concurrently, judged in submission order per lot.
        for response in futures_util::future::join_all(submits).await {
            assert!(response.unwrap().rejection().is_none());
        }
    }
    let last = s.sequence(&lot).await;

    // Now read: everything buffered arrives in order, then the close.
    let mut seen: Vec<u64> = Vec::new();
    let reason = loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(text))) => {
                let event: Value = serde_json::from_str(text.as_str()).unwrap();
                seen.push(event["sequence"].as_u64().unwrap());
            }
            Some(Ok(Message::Close(frame))) => break frame.unwrap(),
            Some(Ok(_)) => {}
            other => panic!("expected events then a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(reason.code), 1013, "{reason:?}");
    let after = *seen.last().unwrap();
    assert!(
        after < last,
        "the feed was cut before the end ({after} of {last})"
    );
    assert!(
        reason.reason.as_str().ends_with(&format!("after={after}")),
        "{reason:?}"
    );
    let mut ws = connect(&s, &lot, after).await;
    while *seen.last().unwrap() < last {
        let event = next_event(&mut ws)
            .await
            .expect("the rest arrives after resuming");
        seen.push(event["sequence"].as_u64().unwrap());
    }
    assert_eq!(
        seen,
        (1..=last).collect::<Vec<u64>>(),
        "no gap, no duplicate"
    );
    let metrics = s.get("/metrics", None).await;
    assert!(
        metrics
            .body
            .as_str()
            .unwrap()
            .contains("hammerfall_websockets_slow_closed_total 1\n")
    );
}
