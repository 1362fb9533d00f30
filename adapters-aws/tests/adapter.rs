//! What the AWS adapters add to the port contracts: limits checked before
//! any request, failures translated at the boundary, cursors, malformed
//! messages and dead-lettering, the cost of a bid's transaction. Needs
//! HAMMERFALL_AWS_ENDPOINT (start moto with `scripts/moto`; `scripts/test`
//! does it) except where a test points at nothing on purpose.

mod common;

use common::*;
use hammerfall_adapters_aws::{
    AwsSettings, DynamoLotStore, InvalidCursor, MAX_TRANSACTION_ACTIONS,
};
use hammerfall_engine::testkit::fixtures::{at, bid_command, bidding_war, english_lot, step, t0};
use hammerfall_ports::{
    Command, CommandKey, CommandQueue, CommandRecord, Cursor, Duration, LotQuery, LotStore,
    MAX_QUEUE_BATCH, QueueError, StoreError,
};

/// A store whose endpoint answers nothing: any request it sent would fail
/// with `Unavailable`, so a different error proves no request was sent.
async fn nowhere() -> DynamoLotStore {
    DynamoLotStore::connect(&AwsSettings::local("http://127.0.0.1:9"), "no-table").await
}

#[tokio::test]
async fn commits_too_large_for_one_transaction_are_refused_before_any_request() {
    let store = nowhere().await;
    let created = english_lot("big", "sam", t0(), None, at(3600));
    let rejected = step(&created.lot, bid_command("ann", 1, "b0"), "c0", at(60));
    assert!(rejected.commit.events.is_empty(), "fixture: a rejection");
    let mut many = rejected.commit.clone();
    let template = many.commands[0].clone();
    many.commands = (0..MAX_TRANSACTION_ACTIONS)
        .map(|i| CommandRecord {
            key: CommandKey {
                command_id: cid(&format!("c{i}")),
                ..template.key.clone()
            },
            ..template.clone()
        })
        .collect();
    let results = store.commit(vec![many]).await;
    assert!(
        matches!(results.as_slice(), [Err(StoreError::TooLarge { .. })]),
        "101 actions: {results:?}"
    );

    let mut huge = created.commit.clone();
    if let Command::CreateLot(c) = &mut huge.commands[0].command {
        c.title = "x".repeat(500 * 1024);
    }
    let results = store.commit(vec![huge]).await;
    assert!(
        matches!(results.as_slice(), [Err(StoreError::TooLarge { .. })]),
        "an item over 400 KB: {results:?}"
    );
}

#[tokio::test]
async fn an_unreachable_table_is_unavailable_and_retryable() {
    let store = nowhere().await;
    match store.load(&lid("lot")).await {
        Err(e @ StoreError::Unavailable(_)) => assert!(e.is_retryable()),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let created = english_lot("lot", "sam", t0(), None, at(3600));
    let results = store.commit(vec![created.commit]).await;
    assert!(
        matches!(results.as_slice(), [Err(StoreError::Unavailable(_))]),
        "{results:?}"
    );
}

/// The figures of the README's cost section: a typical bid (ids of 26
/// characters, like ULIDs; the default increment table) that outbids the
/// leader is one transaction of 5 items and 12 write units.
#[tokio::test]
async fn a_bid_commits_as_one_small_transaction() {
    let store = nowhere().await;
    let lot = "01JD8X5Q2W3E4R5T6Y7U8I9O0P";
    let created = english_lot(lot, "01JD8X5Q2W3E4R5T6Y7U8I9SEL", t0(), None, at(86_400));
    let war = bidding_war(&created.lot, 12, at(60));
    let last = &war[war.len() - 1].commit;
    let cost = store
        .transaction_cost(last)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("a bid that outbids the leader: {cost:?}");
    // META + BidAccepted + Outbid + BID# + CMD#: 4 + 2 + 2 + 2 + 2.
    assert_eq!((cost.actions, cost.write_units), (5, 12), "{cost:?}");
    assert!(cost.bytes < 2_700, "{cost:?}");
    let raise = step(
        &war[war.len() - 1].lot,
        bid_command("bidder-b", 9_000, "raise"),
        "raise",
        at(7200),
    );
    let cost = store
        .transaction_cost(&raise.commit)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("the leader raises their maximum: {cost:?}");
    assert_eq!((cost.actions, cost.write_units), (4, 10), "{cost:?}");
    let mut rejected = step(&raise.lot, bid_command("cat", 1, "low"), "low", at(7300));
    // The service passes the unchanged state along with a rejection.
    rejected.commit.lot = Some(raise.lot.clone());
    let cost = store
        .transaction_cost(&rejected.commit)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("a rejected bid: {cost:?}");
    assert_eq!((cost.actions, cost.write_units), (2, 6), "{cost:?}");
}

#[tokio::test]
async fn cursors_of_another_listing_or_made_up_are_refused() {
    let store = fresh_store(&settings().dynamodb().await).await;
    let lot = lid("lot-1");
    let lots_cursor = {
        for i in 0..3 {
            let created = english_lot(&format!("l{i}"), "sam", t0(), None, at(3600));
            let results = store.commit(vec![created.commit]).await;
            assert!(results.iter().all(Result::is_ok), "{results:?}");
        }
        let page = store
            .lots(&LotQuery {
                limit: 1,
                ..LotQuery::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        page.next_cursor.unwrap_or_else(|| panic!("a second page"))
    };
    for cursor in [lots_cursor, Cursor("made-up".to_owned())] {
        match store.bids(&lot, Some(&cursor), 10).await {
            Err(StoreError::Corrupt(source)) => assert!(
                source.downcast_ref::<InvalidCursor>().is_some(),
                "the source names the cursor: {source}"
            ),
            other => panic!("expected an invalid cursor, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn listings_longer_than_one_batch_get_come_back_whole_and_in_order() {
    let store = fresh_store(&settings().dynamodb().await).await;
    let mut commits = Vec::new();
    for i in 0..130 {
        commits.push(english_lot(&format!("m{i:03}"), "sam", t0(), None, at(3600 + i)).commit);
    }
    for chunk in commits.chunks(26) {
        let results = store.commit(chunk.to_vec()).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }
    let page = store
        .lots(&LotQuery {
            seller_id: Some(pid("sam")),
            limit: 1000,
            ..LotQuery::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<String> = page.items.iter().map(|l| l.lot_id.to_string()).collect();
    let expected: Vec<String> = (0..130).map(|i| format!("m{i:03}")).collect();
    assert_eq!(ids, expected, "every lot once, in index order");
    assert_eq!(page.next_cursor, None);
    let due = store
        .due(at(3600 + 200), 1000)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let due: Vec<String> = due.iter().map(ToString::to_string).collect();
    assert_eq!(due, expected, "due earliest first");
}

#[tokio::test]
async fn malformed_messages_are_not_delivered_and_end_in_the_dead_letter_queue() {
    let sqs = settings().sqs().await;
    let (queue, urls) = fresh_queue(&sqs, 1).await;
    let raw = |body: &str, n: u32| {
        sqs.send_message()
            .queue_url(&urls.queue_url)
            .message_body(body)
            .message_group_id(format!("bad-{n}"))
            .message_deduplication_id(format!("bad-{n}"))
            .send()
    };
    raw("not json", 1).await.unwrap_or_else(|e| panic!("{e:?}"));
    let mut future = serde_json::to_value(create_english(&lid("x"), "sam", t0()))
        .unwrap_or_else(|e| panic!("{e}"));
    future["version"] = serde_json::json!(99);
    raw(&future.to_string(), 2)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let good = bid(&lid("lot-2"), "ann", cents(2000), "k1");
    queue
        .send(std::slice::from_ref(&good))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let first = queue
        .receive(MAX_QUEUE_BATCH, Duration::zero())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        first.iter().map(|d| &d.envelope).collect::<Vec<_>>(),
        vec![&good],
        "only the well-formed message is delivered"
    );
    queue
        .ack(&[first[0].receipt.clone()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut malformed = 0;
    for _ in 0..20 {
        if messages_in(&sqs, &urls.dead_letter_url).await == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        match queue.receive(MAX_QUEUE_BATCH, Duration::zero()).await {
            Err(QueueError::Malformed(_)) => malformed += 1,
            Ok(got) => assert!(got.is_empty(), "nothing else is delivered: {got:?}"),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        malformed >= 1,
        "a batch of only malformed messages is Malformed"
    );
    assert_eq!(
        messages_in(&sqs, &urls.dead_letter_url).await,
        2,
        "both malformed messages were dead-lettered"
    );
    assert_eq!(messages_in(&sqs, &urls.queue_url).await, 0);
}

#[tokio::test]
async fn a_long_poll_without_messages_waits_then_ends_empty() {
    let sqs = settings().sqs().await;
    let (queue, _) = fresh_queue(&sqs, 1).await;
    let started = std::time::Instant::now();
    let got = queue
        .receive(MAX_QUEUE_BATCH, Duration::milliseconds(1500))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(got.is_empty());
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1500),
        "the wait (rounded up to 2 s) was honoured: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_pending_marker_is_found_by_its_submitter_alone_and_hides_from_reads() {
    let client = settings().dynamodb().await;
    let store = fresh_store(&client).await;
    let lot = lid("queued-lot");
    store
        .mark_pending(&lot, &pid("ann"), &cid("k-1"), t0())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Marking again (a retried request) is harmless.
    store
        .mark_pending(&lot, &pid("ann"), &cid("k-1"), t0())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let pending = |who: &'static str, key: &'static str| {
        let store = store.clone();
        let lot = lot.clone();
        async move {
            store
                .is_pending(&lot, &pid(who), &cid(key))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    assert!(pending("ann", "k-1").await);
    assert!(!pending("bob", "k-1").await, "someone else's command");
    assert!(!pending("ann", "k-2").await, "a command never queued");
    // A marker is not a lot, an event, a bid or a listing entry.
    assert_eq!(
        store.load(&lot).await.unwrap_or_else(|e| panic!("{e}")),
        None
    );
    assert!(
        store
            .events_after(&lot, 0, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    assert!(
        store
            .bids(&lot, None, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .is_empty()
    );
    let all = LotQuery {
        status: None,
        seller_id: None,
        cursor: None,
        limit: 10,
    };
    assert!(
        store
            .lots(&all)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .is_empty()
    );
}
