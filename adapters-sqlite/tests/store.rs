//! The SQLite store beyond the port contract: group commit across
//! concurrent callers, savepoints for entries that can be refused late,
//! large entries split over log rows, page limits, the outbox relay, and
//! durability across reopening.
#![allow(clippy::unwrap_used, missing_docs)]

use hammerfall_adapters_memory::MemoryEventPublisher;
use hammerfall_adapters_sqlite::{LOG_CHUNK_EVENTS, SqliteStore};
use hammerfall_engine::testkit::fixtures::{
    Step, at, bid_command, bidding_war, english_lot, fixed_price_lot, lot_id, step, t0,
};
use hammerfall_ports::{
    Cursor, DEFAULT_PAGE_SIZE, Duration, LotCommit, LotQuery, LotStore, MAX_PAGE_SIZE, StoreError,
};
use std::sync::Arc;

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("store.db")).unwrap()
}

/// One entry carrying several consecutive steps of one lot (what a
/// service worker commits for a lot after a batch of its commands).
fn merged(steps: &[Step]) -> LotCommit {
    let mut commit = steps[0].commit.clone();
    for s in &steps[1..] {
        commit.events.extend(s.commit.events.iter().cloned());
        commit.bids.extend(s.commit.bids.iter().cloned());
        commit.commands.extend(s.commit.commands.iter().cloned());
    }
    commit.lot = Some(steps[steps.len() - 1].lot.clone());
    commit
}

/// A store holding lot-1 (created) and one entry of a 150-bid war on it:
/// the store, the creation's commit and the entry.
async fn store_with_a_long_entry(dir: &tempfile::TempDir) -> (SqliteStore, LotCommit, LotCommit) {
    let store = open(dir);
    let created = english_lot("lot-1", "sam", t0(), None, t0() + Duration::hours(10));
    let entry = merged(&bidding_war(&created.lot, 150, at(60)));
    assert!(
        store
            .commit(vec![created.commit.clone(), entry.clone()])
            .await
            .iter()
            .all(Result::is_ok)
    );
    (store, created.commit, entry)
}

#[tokio::test]
async fn an_entry_refused_at_its_second_command_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let created = english_lot("lot-1", "sam", t0(), None, t0() + Duration::hours(1));
    let first = step(&created.lot, bid_command("ann", 2_000, "b1"), "k1", at(60));
    assert!(
        store
            .commit(vec![created.commit.clone(), first.commit.clone()])
            .await
            .iter()
            .all(Result::is_ok)
    );

    let war = bidding_war(&first.lot, 2, at(120));
    let mut entry = merged(&war);
    // The second record reuses the key of the bid already stored.
    entry.commands[1].key = first.commit.commands[0].key.clone();
    let result = store.commit(vec![entry.clone()]).await;
    assert!(
        matches!(result.as_slice(), [Err(StoreError::DuplicateCommand(_))]),
        "{result:?}"
    );
    let id = lot_id("lot-1");
    assert_eq!(store.load(&id).await.unwrap(), Some(first.lot.clone()));
    assert_eq!(
        store.command(&entry.commands[0].key).await.unwrap(),
        None,
        "the first record is rolled back too"
    );
    assert!(
        store
            .events_after(&id, first.lot.sequence, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn concurrent_callers_share_group_commits_and_each_gets_its_own_result() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    let lots: Vec<Step> = (0..40)
        .map(|i| {
            english_lot(
                &format!("lot-{i}"),
                "sam",
                t0(),
                None,
                t0() + Duration::hours(1),
            )
        })
        .collect();
    assert!(
        store
            .commit(lots.iter().map(|s| s.commit.clone()).collect())
            .await
            .iter()
            .all(Result::is_ok)
    );
    // Two racing bids per lot, from the same sequence, in separate calls.
    let mut tasks = Vec::new();
    for (i, lot) in lots.iter().enumerate() {
        for who in ["ann", "bob"] {
            let bid = step(
                &lot.lot,
                bid_command(who, 2_000, &format!("{who}-{i}")),
                &format!("{who}-{i}"),
                at(60),
            );
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                (bid.clone(), store.commit(vec![bid.commit]).await)
            }));
        }
    }
    let mut winners = 0;
    for task in tasks {
        let (bid, result) = task.await.unwrap();
        match result.as_slice() {
            [Ok(())] => {
                winners += 1;
                assert_eq!(store.load(&bid.lot.lot_id).await.unwrap(), Some(bid.lot));
            }
            [Err(StoreError::Conflict { .. })] => {
                assert_eq!(
                    store.command(&bid.commit.commands[0].key).await.unwrap(),
                    None
                );
            }
            other => panic!("unexpected result {other:?}"),
        }
    }
    assert_eq!(winners, lots.len(), "exactly one bid of each race wins");
}

#[tokio::test]
async fn a_large_entry_spans_several_log_rows_and_pages_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (store, created, entry) = store_with_a_long_entry(&dir).await;
    assert!(
        entry.events.len() > 2 * LOG_CHUNK_EVENTS,
        "fixture: several chunks"
    );
    let id = lot_id("lot-1");
    let mut all = created.events.clone();
    all.extend(entry.events.iter().cloned());
    for (after, limit) in [
        (0, 0),
        (0, MAX_PAGE_SIZE),
        (63, 5),
        (64, 70),
        (100, 1),
        (250, 1000),
    ] {
        let got = store.events_after(&id, after, limit).await.unwrap();
        let size = if limit == 0 { DEFAULT_PAGE_SIZE } else { limit };
        let want: Vec<_> = all
            .iter()
            .filter(|e| e.sequence > after)
            .take(size)
            .cloned()
            .collect();
        assert_eq!(got, want, "events_after({after}, {limit})");
    }
    for page in [1, 7, 64, 65, 1000] {
        let mut cursor: Option<Cursor> = None;
        let mut bids = Vec::new();
        loop {
            let got = store.bids(&id, cursor.as_ref(), page).await.unwrap();
            assert!(got.items.len() <= page);
            bids.extend(got.items);
            match got.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(bids, entry.bids, "bids {page} a page");
    }
}

#[tokio::test]
async fn bid_records_other_than_the_events_imply_are_stored_as_given() {
    // The usual entry's bid records are the ones its events imply, and
    // are read back from the events; any others are stored as given.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let created = english_lot("lot-1", "sam", t0(), None, t0() + Duration::hours(1));
    let war = bidding_war(&created.lot, 4, at(60));
    let mut odd = war[3].commit.clone();
    odd.bids[0].bid_number += 100;
    let mut commits = vec![created.commit.clone()];
    commits.extend(war[..3].iter().map(|s| s.commit.clone()));
    commits.push(odd.clone());
    assert!(store.commit(commits).await.iter().all(Result::is_ok));
    let page = store.bids(&lot_id("lot-1"), None, 100).await.unwrap();
    let mut expected: Vec<_> = war[..3]
        .iter()
        .flat_map(|s| s.commit.bids.clone())
        .collect();
    expected.extend(odd.bids);
    assert_eq!(page.items, expected);
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn pages_are_clamped_to_the_maximum_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut lots: Vec<LotCommit> = (0..=MAX_PAGE_SIZE)
        .map(|i| fixed_price_lot(&format!("lot-{i}"), "sam", t0()).commit)
        .collect();
    let rest = lots.split_off(MAX_PAGE_SIZE / 2);
    for part in [lots, rest] {
        assert!(store.commit(part).await.iter().all(Result::is_ok));
    }
    let query = LotQuery {
        limit: MAX_PAGE_SIZE * 5,
        ..LotQuery::default()
    };
    let page = store.lots(&query).await.unwrap();
    assert_eq!(page.items.len(), MAX_PAGE_SIZE);
    assert!(page.next_cursor.is_some());
    let default = store.lots(&LotQuery::default()).await.unwrap();
    assert_eq!(
        default.items.len(),
        DEFAULT_PAGE_SIZE,
        "limit 0 means the default"
    );
}

#[tokio::test]
async fn a_foreign_cursor_is_refused_as_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let query = LotQuery {
        cursor: Some(Cursor("bids.1".into())),
        ..LotQuery::default()
    };
    match store.lots(&query).await {
        Err(StoreError::Corrupt(source)) => {
            assert!(source.is::<hammerfall_adapters_sqlite::InvalidCursor>());
        }
        other => panic!("expected an invalid cursor, got {other:?}"),
    }
}

#[tokio::test]
async fn the_outbox_relays_committed_events_once_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = english_lot("lot-a", "sam", t0(), None, t0() + Duration::hours(1));
    let b = english_lot("lot-b", "sam", t0(), None, t0() + Duration::hours(1));
    let bid = step(&a.lot, bid_command("ann", 2_000, "b1"), "c1", at(60));
    let too_low = step(&b.lot, bid_command("ann", 1, "b2"), "c2", at(61));
    for s in [&a, &b, &bid, &too_low] {
        assert!(
            store
                .commit(vec![s.commit.clone()])
                .await
                .iter()
                .all(Result::is_ok)
        );
    }
    let pending = store.pending_events(100).await.unwrap();
    let order: Vec<(String, usize)> = pending
        .iter()
        .map(|e| (e.lot_id.to_string(), e.events.len()))
        .collect();
    assert_eq!(
        order,
        [
            ("lot-a".to_owned(), a.commit.events.len()),
            ("lot-b".to_owned(), b.commit.events.len()),
            ("lot-a".to_owned(), bid.commit.events.len()),
        ],
        "one outbox entry per committed entry with events, in commit order"
    );
    let publisher = MemoryEventPublisher::new();
    assert_eq!(store.relay(&publisher, 2).await.unwrap(), 2);
    assert_eq!(store.relay(&publisher, 100).await.unwrap(), 1);
    assert_eq!(
        store.relay(&publisher, 100).await.unwrap(),
        0,
        "all acknowledged"
    );
    let published = publisher.published(&lot_id("lot-a"));
    assert_eq!(
        published.len(),
        a.commit.events.len() + bid.commit.events.len()
    );
    assert!(
        published
            .windows(2)
            .all(|w| w[0].event.sequence + 1 == w[1].event.sequence)
    );
    drop(store);

    let store = open(&dir);
    assert!(
        store.pending_events(100).await.unwrap().is_empty(),
        "the position is durable"
    );
    let next = step(&bid.lot, bid_command("bob", 3_000, "b3"), "c3", at(120));
    assert!(
        store
            .commit(vec![next.commit.clone()])
            .await
            .iter()
            .all(Result::is_ok)
    );
    let pending = store.pending_events(100).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].events.len(), next.commit.events.len());
}

#[tokio::test]
async fn everything_committed_reads_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let created = english_lot("lot-1", "sam", t0(), None, t0() + Duration::hours(1));
    let war = bidding_war(&created.lot, 5, at(60));
    {
        let store = open(&dir);
        assert!(
            store
                .commit(vec![created.commit.clone()])
                .await
                .iter()
                .all(Result::is_ok)
        );
        for s in &war {
            assert!(
                store
                    .commit(vec![s.commit.clone()])
                    .await
                    .iter()
                    .all(Result::is_ok)
            );
        }
    }
    let store = open(&dir);
    let id = lot_id("lot-1");
    assert_eq!(
        store.load(&id).await.unwrap().as_ref(),
        war.last().map(|s| &s.lot)
    );
    for s in &war {
        assert_eq!(
            store
                .command(&s.commit.commands[0].key)
                .await
                .unwrap()
                .as_ref(),
            s.commit.commands.first()
        );
    }
    let events = store.events_after(&id, 0, MAX_PAGE_SIZE).await.unwrap();
    assert_eq!(hammerfall_engine::replay(id, &events).unwrap(), war[4].lot);
}

/// The writer remembers lots' sequences between groups (no compare-and-set
/// read); a commit by another store on the same file must make it forget,
/// or a stale entry would be accepted over the other store's write.
#[tokio::test]
async fn another_writer_on_the_same_file_is_seen_by_compare_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir);
    let b = open(&dir);
    let created = english_lot("lot-1", "sam", t0(), None, t0() + Duration::hours(1));
    let first = step(&created.lot, bid_command("ann", 2_000, "b1"), "k1", at(60));
    assert!(
        a.commit(vec![created.commit.clone(), first.commit.clone()])
            .await
            .iter()
            .all(Result::is_ok)
    );
    // `b` moves the lot on from what `a` wrote last.
    let by_b = step(&first.lot, bid_command("bob", 3_000, "b2"), "k2", at(61));
    assert!(
        b.commit(vec![by_b.commit.clone()])
            .await
            .iter()
            .all(Result::is_ok)
    );
    // `a`, from its own last write, is refused.
    let by_a = step(&first.lot, bid_command("cy", 4_000, "b3"), "k3", at(62));
    let result = a.commit(vec![by_a.commit.clone()]).await;
    assert!(
        matches!(result.as_slice(), [Err(StoreError::Conflict { .. })]),
        "{result:?}"
    );
    // And goes on from what `b` wrote.
    let next = step(&by_b.lot, bid_command("cy", 5_000, "b4"), "k4", at(63));
    assert!(
        a.commit(vec![next.commit.clone()])
            .await
            .iter()
            .all(Result::is_ok)
    );
    assert_eq!(
        b.load(&lot_id("lot-1")).await.unwrap(),
        Some(next.lot.clone())
    );
    // A stale entry from `b` (its cache says `by_b`) is refused too.
    let stale = step(&by_b.lot, bid_command("dee", 9_000, "b5"), "k5", at(64));
    let result = b.commit(vec![stale.commit]).await;
    assert!(
        matches!(result.as_slice(), [Err(StoreError::Conflict { .. })]),
        "{result:?}"
    );
}

#[tokio::test]
async fn batched_idempotency_lookups_answer_each_key_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (store, created, entry) = store_with_a_long_entry(&dir).await;
    // Stored records, and keys no record has (another lot's, so the same
    // command ids under another scope), interleaved, with repeats.
    let other = english_lot("lot-2", "sam", t0(), None, t0() + Duration::hours(10));
    let missing: Vec<_> = merged(&bidding_war(&other.lot, 150, at(60)))
        .commands
        .into_iter()
        .map(|c| c.key)
        .collect();
    let mut keys = Vec::new();
    let mut want = Vec::new();
    for (i, record) in entry.commands.iter().enumerate() {
        keys.push(record.key.clone());
        want.push(Some(record.clone()));
        if i % 3 == 0 {
            keys.push(missing[i].clone());
            want.push(None);
        }
        if i % 7 == 0 {
            keys.push(record.key.clone());
            want.push(Some(record.clone()));
        }
    }
    keys.push(created.commands[0].key.clone());
    want.push(created.commands.first().cloned());
    // Batches of every length up to 140 (and some beyond), from varying
    // offsets: each answer in its key's place.
    for len in (0..=keys.len()).filter(|n| *n <= 140 || n % 17 == 0) {
        let start = (len * 7) % (keys.len() - len + 1);
        let got = store.commands(&keys[start..start + len]).await.unwrap();
        assert_eq!(got, want[start..start + len], "{len} keys from {start}");
    }
    for (key, record) in keys.iter().zip(&want) {
        assert_eq!(&store.command(key).await.unwrap(), record);
    }
}
