//! The [`LotStore`] contract, one check per clause. Every check takes a
//! fresh, empty store and panics with a message naming the broken clause.

use super::fixtures::{
    Step, at, bid_command, bidding_war, cid, creation_key, english_lot, fixed_price_lot, lot_id,
    pid, step, t0,
};
use super::named;
use hammerfall_ports::{
    Actor, BidRecord, Command, CommandKey, CommandOutcome, CommandRecord, Cursor, Duration,
    InvalidCommit, Lot, LotCommit, LotId, LotQuery, LotStatus, LotStore, MAX_PAGE_SIZE, Rejection,
    SequencedEvent, StoreError,
};
use std::collections::BTreeSet;
use std::future::Future;

/// Most pages a paging loop reads before it declares the store's cursors
/// broken (a cursor that never ends).
const MAX_PAGES: usize = 1_000;

/// Runs every [`LotStore`] check, each on a store from `fresh` (which must
/// return an empty store every time).
pub async fn run_all_lot_store<S, F, Fut>(mut fresh: F)
where
    S: LotStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! check {
        ($($name:ident),* $(,)?) => {$(
            {
                // Each check borrows the factory in turn.
                let fresh = &mut fresh;
                named(concat!("lot_store::", stringify!($name)), move || async move {
                    $name(&fresh().await).await
                })
                .await;
            }
        )*};
    }
    check!(
        creates_a_lot_at_sequence_zero,
        refuses_to_create_an_existing_lot,
        refuses_a_stale_or_future_sequence,
        a_conflicting_entry_writes_nothing,
        refuses_an_inconsistent_entry,
        batch_entries_are_independent,
        batch_entries_apply_in_order,
        refuses_a_duplicate_command_key,
        records_rejections_without_state,
        finds_commands_by_their_full_key,
        lists_events_after_a_sequence,
        pages_bids_until_exhausted,
        lists_lots_by_status_and_seller,
        pages_lots_until_exhausted,
        lists_due_lots_earliest_first,
        unknown_lots_read_as_empty,
    );
}

// ------------------------------------------------------------- helpers --

/// Commits one entry and returns its result.
async fn commit_one<S: LotStore>(store: &S, commit: LotCommit) -> Result<(), StoreError> {
    let mut results = store.commit(vec![commit]).await;
    assert_eq!(results.len(), 1, "commit must return one result per entry");
    results.remove(0)
}

/// Commits a step that must succeed.
async fn must_commit<S: LotStore>(store: &S, step: &Step, what: &str) {
    if let Err(e) = commit_one(store, step.commit.clone()).await {
        panic!("committing {what} failed: {e:?}");
    }
}

/// Commits steps one after another; the state after the last.
async fn commit_all<S: LotStore>(store: &S, steps: &[Step], what: &str) {
    for s in steps {
        must_commit(store, s, what).await;
    }
}

fn assert_conflict(result: Result<(), StoreError>, lot: &LotId, expected: u64, what: &str) {
    match result {
        Err(StoreError::Conflict {
            lot_id,
            expected: e,
        }) => {
            assert_eq!(&lot_id, lot, "{what}: Conflict must name the lot");
            assert_eq!(
                e, expected,
                "{what}: Conflict must carry the expected sequence"
            );
        }
        other => panic!("{what}: expected StoreError::Conflict, got {other:?}"),
    }
}

async fn load<S: LotStore>(store: &S, lot: &LotId) -> Option<Lot> {
    store
        .load(lot)
        .await
        .unwrap_or_else(|e| panic!("load({lot}) failed: {e:?}"))
}

async fn command<S: LotStore>(store: &S, key: &CommandKey) -> Option<CommandRecord> {
    store
        .command(key)
        .await
        .unwrap_or_else(|e| panic!("command({key:?}) failed: {e:?}"))
}

async fn events<S: LotStore>(
    store: &S,
    lot: &LotId,
    after: u64,
    limit: usize,
) -> Vec<SequencedEvent> {
    store
        .events_after(lot, after, limit)
        .await
        .unwrap_or_else(|e| panic!("events_after({lot}, {after}, {limit}) failed: {e:?}"))
}

/// The whole bid history, read `page` at a time, checking the cursors.
async fn all_bids<S: LotStore>(store: &S, lot: &LotId, page: usize) -> Vec<BidRecord> {
    let mut out = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for _ in 0..MAX_PAGES {
        let got = store
            .bids(lot, cursor.as_ref(), page)
            .await
            .unwrap_or_else(|e| panic!("bids({lot}, page {page}) failed: {e:?}"));
        assert!(
            got.items.len() <= page.max(1),
            "bids returned {} items for limit {page}",
            got.items.len()
        );
        out.extend(got.items);
        match got.next_cursor {
            None => return out,
            Some(next) => {
                assert!(
                    cursor.as_ref() != Some(&next),
                    "bids handed back the same cursor twice: it never ends"
                );
                cursor = Some(next);
            }
        }
    }
    panic!("bids paging did not end after {MAX_PAGES} pages");
}

/// Every lot matching `query`, read `query.limit` at a time.
async fn all_lots<S: LotStore>(store: &S, mut query: LotQuery) -> Vec<Lot> {
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let got = store
            .lots(&query)
            .await
            .unwrap_or_else(|e| panic!("lots({query:?}) failed: {e:?}"));
        if query.limit > 0 {
            assert!(
                got.items.len() <= query.limit,
                "lots returned {} items for limit {}",
                got.items.len(),
                query.limit
            );
        }
        out.extend(got.items);
        match got.next_cursor {
            None => return out,
            Some(next) => {
                assert!(
                    query.cursor.as_ref() != Some(&next),
                    "lots handed back the same cursor twice: it never ends"
                );
                query.cursor = Some(next);
            }
        }
    }
    panic!("lots paging did not end after {MAX_PAGES} pages");
}

fn ids(lots: &[Lot]) -> BTreeSet<String> {
    lots.iter().map(|l| l.lot_id.to_string()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn ends(hours: i64) -> hammerfall_ports::Timestamp {
    t0() + Duration::hours(hours)
}

// -------------------------------------------------------------- checks --

/// Creating a lot is a commit with expected sequence 0; afterwards the
/// store gives back exactly what was written: state, events, command record.
pub async fn creates_a_lot_at_sequence_zero<S: LotStore>(store: &S) {
    let created = english_lot("lot-1", "seller-1", t0(), None, ends(24));
    must_commit(store, &created, "a new lot").await;
    let id = lot_id("lot-1");
    assert_eq!(
        load(store, &id).await.as_ref(),
        Some(&created.lot),
        "load must return the committed state exactly"
    );
    assert_eq!(
        events(store, &id, 0, MAX_PAGE_SIZE).await,
        created.commit.events,
        "events_after(0) must return the committed events exactly"
    );
    assert_eq!(
        command(store, &creation_key("seller-1", "lot-1"))
            .await
            .as_ref(),
        created.commit.commands.first(),
        "the creation's command record must be stored"
    );
}

/// A commit with expected sequence 0 for a lot that exists is a conflict,
/// and writes nothing.
pub async fn refuses_to_create_an_existing_lot<S: LotStore>(store: &S) {
    let first = english_lot("lot-1", "seller-1", t0(), None, ends(24));
    must_commit(store, &first, "a new lot").await;
    let mut again = english_lot("lot-1", "seller-2", at(60), None, ends(48));
    again.commit.commands[0].key = creation_key("seller-2", "lot-1-again");
    let id = lot_id("lot-1");
    assert_conflict(
        commit_one(store, again.commit.clone()).await,
        &id,
        0,
        "creating an existing lot",
    );
    assert_eq!(
        load(store, &id).await.as_ref(),
        Some(&first.lot),
        "a refused creation must not touch the existing lot"
    );
    assert_eq!(
        command(store, &again.commit.commands[0].key).await,
        None,
        "a refused creation must not record its command"
    );
}

/// A commit whose expected sequence is not the stored one (stale, ahead,
/// or for a lot that does not exist) is a conflict.
pub async fn refuses_a_stale_or_future_sequence<S: LotStore>(store: &S) {
    let created = english_lot("lot-1", "seller-1", t0(), None, ends(24));
    must_commit(store, &created, "a new lot").await;
    let id = lot_id("lot-1");
    let base = created.lot.clone();

    let winner = step(&base, bid_command("ann", 2_000, "b1"), "c1", at(60));
    let loser = step(&base, bid_command("bob", 2_500, "b2"), "c2", at(61));
    must_commit(store, &winner, "the first of two racing bids").await;
    assert_conflict(
        commit_one(store, loser.commit.clone()).await,
        &id,
        base.sequence,
        "a commit on a stale sequence",
    );

    let next = step(&winner.lot, bid_command("bob", 3_000, "b3"), "c3", at(120));
    let ahead = step(&next.lot, bid_command("ann", 4_000, "b4"), "c4", at(180));
    assert_conflict(
        commit_one(store, ahead.commit.clone()).await,
        &id,
        next.lot.sequence,
        "a commit on a sequence the store has not reached",
    );

    let ghost = english_lot("ghost", "seller-1", t0(), None, ends(24));
    let on_ghost = step(&ghost.lot, bid_command("ann", 2_000, "b5"), "c5", at(60));
    assert_conflict(
        commit_one(store, on_ghost.commit.clone()).await,
        &lot_id("ghost"),
        ghost.lot.sequence,
        "a commit with a non-zero sequence for a lot that does not exist",
    );
    assert_eq!(
        load(store, &lot_id("ghost")).await,
        None,
        "a refused commit must not create the lot"
    );
    assert_eq!(
        load(store, &id).await.as_ref(),
        Some(&winner.lot),
        "refused commits must leave the lot as the last accepted one did"
    );
}

/// An entry that contradicts itself ([`LotCommit::check`]) is refused as
/// `Corrupt`, writing nothing, by every store alike.
pub async fn refuses_an_inconsistent_entry<S: LotStore>(store: &S) {
    let created = english_lot("lot-1", "seller-1", t0(), None, ends(24));
    let id = lot_id("lot-1");
    let bid = step(&created.lot, bid_command("ann", 2_000, "b1"), "c1", at(60));
    let mut broken: Vec<(&str, LotCommit)> = Vec::new();
    let mut gap = created.commit.clone();
    gap.events.remove(0);
    broken.push(("events not numbered from expected_sequence + 1", gap));
    let mut stateless = created.commit.clone();
    stateless.lot = None;
    broken.push(("events without the state they lead to", stateless));
    let mut foreign = created.commit.clone();
    if let Some(lot) = foreign.lot.as_mut() {
        lot.lot_id = lot_id("lot-2");
    }
    broken.push(("a state of another lot", foreign));
    for (what, commit) in broken {
        match commit_one(store, commit).await {
            Err(StoreError::Corrupt(e)) if e.is::<InvalidCommit>() => {}
            other => panic!("{what}: must be refused as Corrupt(InvalidCommit), got {other:?}"),
        }
        assert_eq!(
            load(store, &id).await,
            None,
            "{what}: a refused entry writes nothing"
        );
    }
    must_commit(store, &created, "a new lot").await;
    let mut stray_bid = bid.commit.clone();
    if let Some(record) = stray_bid.bids.first_mut() {
        record.sequence = 1;
    }
    match commit_one(store, stray_bid).await {
        Err(StoreError::Corrupt(e)) if e.is::<InvalidCommit>() => {}
        other => panic!("a bid record of an old event: must be refused, got {other:?}"),
    }
    assert_eq!(
        load(store, &id).await.as_ref(),
        Some(&created.lot),
        "a refused entry must not change the lot"
    );
}

/// A refused entry writes nothing: no state, no events, no bid records, no
/// command record.
pub async fn a_conflicting_entry_writes_nothing<S: LotStore>(store: &S) {
    let created = english_lot("lot-1", "seller-1", t0(), None, ends(24));
    must_commit(store, &created, "a new lot").await;
    let id = lot_id("lot-1");
    let winner = step(&created.lot, bid_command("ann", 2_000, "b1"), "c1", at(60));
    let loser = step(&created.lot, bid_command("bob", 2_500, "b2"), "c2", at(61));
    assert!(
        !loser.commit.bids.is_empty() && !loser.commit.events.is_empty(),
        "fixture: the losing commit carries events and bid records"
    );
    must_commit(store, &winner, "the winning bid").await;
    let _ = commit_one(store, loser.commit.clone()).await;

    assert_eq!(
        load(store, &id).await.as_ref(),
        Some(&winner.lot),
        "a refused entry must not change the lot"
    );
    let mut expected_events = created.commit.events.clone();
    expected_events.extend(winner.commit.events.iter().cloned());
    assert_eq!(
        events(store, &id, 0, MAX_PAGE_SIZE).await,
        expected_events,
        "a refused entry must not write events"
    );
    assert_eq!(
        all_bids(store, &id, MAX_PAGE_SIZE).await,
        winner.commit.bids,
        "a refused entry must not write bid records"
    );
    assert_eq!(
        command(store, &loser.commit.commands[0].key).await,
        None,
        "a refused entry must not write its command record"
    );
}

/// Entries of one call are independent: each gets its own result, in
/// order, and a refused entry does not take the others down.
pub async fn batch_entries_are_independent<S: LotStore>(store: &S) {
    let existing = english_lot("lot-0", "seller-1", t0(), None, ends(24));
    must_commit(store, &existing, "a new lot").await;
    let stale = step(&existing.lot, bid_command("ann", 2_000, "b1"), "c1", at(60));
    must_commit(store, &stale, "a bid").await;
    let stale_again = step(&existing.lot, bid_command("bob", 2_500, "b2"), "c2", at(61));

    let x = english_lot("lot-x", "seller-1", at(120), None, ends(24));
    let y = fixed_price_lot("lot-y", "seller-2", at(120));
    let results = store
        .commit(vec![
            x.commit.clone(),
            stale_again.commit.clone(),
            y.commit.clone(),
        ])
        .await;
    assert_eq!(results.len(), 3, "commit must return one result per entry");
    let mut results = results.into_iter();
    assert!(
        matches!(results.next(), Some(Ok(()))),
        "first entry (a new lot) must succeed"
    );
    assert_conflict(
        results.next().unwrap_or(Ok(())),
        &lot_id("lot-0"),
        existing.lot.sequence,
        "second entry (stale)",
    );
    assert!(
        matches!(results.next(), Some(Ok(()))),
        "third entry (a new lot) must succeed despite the second's conflict"
    );
    assert_eq!(
        load(store, &lot_id("lot-x")).await.as_ref(),
        Some(&x.lot),
        "the first entry is stored"
    );
    assert_eq!(
        load(store, &lot_id("lot-y")).await.as_ref(),
        Some(&y.lot),
        "the third entry is stored"
    );
    assert_eq!(
        load(store, &lot_id("lot-0")).await.as_ref(),
        Some(&stale.lot),
        "the refused entry left its lot alone"
    );
}

/// Entries of one call apply in order: an entry sees the entries before it
/// (a second entry for the same lot that continues from the first
/// succeeds; one that starts from the same sequence as the first conflicts).
pub async fn batch_entries_apply_in_order<S: LotStore>(store: &S) {
    let created = english_lot("lot-1", "seller-1", t0(), None, ends(24));
    let first = step(&created.lot, bid_command("ann", 2_000, "b1"), "c1", at(60));
    let second = step(&first.lot, bid_command("bob", 3_000, "b2"), "c2", at(61));
    let results = store
        .commit(vec![
            created.commit.clone(),
            first.commit.clone(),
            second.commit.clone(),
        ])
        .await;
    assert!(
        results.len() == 3 && results.iter().all(Result::is_ok),
        "a creation and two commits continuing from it, in one call, must all succeed: {results:?}"
    );
    let id = lot_id("lot-1");
    assert_eq!(
        load(store, &id).await.as_ref(),
        Some(&second.lot),
        "the lot is at the last entry's state"
    );

    let a = step(&second.lot, bid_command("ann", 5_000, "b3"), "c3", at(120));
    let b = step(&second.lot, bid_command("cat", 6_000, "b4"), "c4", at(121));
    let results = store.commit(vec![a.commit.clone(), b.commit.clone()]).await;
    assert_eq!(results.len(), 2, "commit must return one result per entry");
    let mut results = results.into_iter();
    assert!(
        matches!(results.next(), Some(Ok(()))),
        "the first of two racing entries must win"
    );
    assert_conflict(
        results.next().unwrap_or(Ok(())),
        &id,
        second.lot.sequence,
        "the second of two entries from the same sequence",
    );
    assert_eq!(
        load(store, &id).await.as_ref(),
        Some(&a.lot),
        "the winning entry's state is stored"
    );
}

/// A command record's key is unique: a second record under the same key
/// fails with `DuplicateCommand`, and its whole entry writes nothing.
pub async fn refuses_a_duplicate_command_key<S: LotStore>(store: &S) {
    let created = english_lot("lot-1", "seller-1", t0(), None, ends(24));
    must_commit(store, &created, "a new lot").await;
    let first = step(&created.lot, bid_command("ann", 2_000, "b1"), "k1", at(60));
    must_commit(store, &first, "a bid").await;
    let key = first.commit.commands[0].key.clone();

    let mut dup = step(&first.lot, bid_command("ann", 9_000, "b2"), "k2", at(120));
    dup.commit.commands[0].key = key.clone();
    match commit_one(store, dup.commit.clone()).await {
        Err(StoreError::DuplicateCommand(k)) => {
            assert_eq!(k, key, "DuplicateCommand must carry the key");
        }
        other => panic!("a reused command key must fail with DuplicateCommand, got {other:?}"),
    }
    let id = lot_id("lot-1");
    assert_eq!(
        load(store, &id).await.as_ref(),
        Some(&first.lot),
        "an entry refused for a duplicate key must not change the lot"
    );
    assert_eq!(
        events(store, &id, first.lot.sequence, MAX_PAGE_SIZE).await,
        Vec::new(),
        "an entry refused for a duplicate key must not write events"
    );
    assert_eq!(
        command(store, &key).await.as_ref(),
        first.commit.commands.first(),
        "the original record must stay"
    );

    let mut other_lot = english_lot("lot-2", "seller-1", at(120), None, ends(24));
    other_lot.commit.commands[0].key = key.clone();
    assert!(
        matches!(
            commit_one(store, other_lot.commit.clone()).await,
            Err(StoreError::DuplicateCommand(_))
        ),
        "a key is unique across lots too"
    );
    assert_eq!(
        load(store, &lot_id("lot-2")).await,
        None,
        "a creation refused for a duplicate key must not create the lot"
    );
}

/// A commit may carry only command records (a rejected command): it still
/// compares sequences, records the command and leaves the lot as it was. A
/// rejection may even be recorded for a lot that does not exist, which can
/// still be created afterwards.
pub async fn records_rejections_without_state<S: LotStore>(store: &S) {
    let created = english_lot("lot-1", "seller-1", t0(), None, ends(24));
    must_commit(store, &created, "a new lot").await;
    let too_low = step(&created.lot, bid_command("ann", 1, "b1"), "c1", at(60));
    assert!(
        too_low.commit.lot.is_none() && too_low.commit.events.is_empty(),
        "fixture: a rejected bid emits nothing"
    );
    must_commit(store, &too_low, "a rejected bid's record").await;
    let id = lot_id("lot-1");
    assert_eq!(
        load(store, &id).await.as_ref(),
        Some(&created.lot),
        "a rejection-only commit must not change the lot"
    );
    let record = command(store, &too_low.commit.commands[0].key).await;
    assert!(
        matches!(
            record.as_ref().map(|r| &r.outcome),
            Some(CommandOutcome::Rejected { .. })
        ),
        "the rejection must be recorded"
    );
    assert_eq!(
        record.as_ref(),
        too_low.commit.commands.first(),
        "the rejection's record reads back exactly"
    );

    let bid = step(&created.lot, bid_command("bob", 2_000, "b2"), "c2", at(61));
    must_commit(store, &bid, "a bid").await;
    let late = step(&created.lot, bid_command("cat", 1, "b3"), "c3", at(62));
    assert_conflict(
        commit_one(store, late.commit.clone()).await,
        &id,
        created.lot.sequence,
        "a rejection-only commit on a stale sequence",
    );

    let ghost = lot_id("ghost");
    let bid = bid_command("ann", 2_000, "b4");
    let key = CommandKey {
        lot_id: Some(ghost.clone()),
        submitter: Some(pid("ann")),
        command_id: cid("c4"),
    };
    let rejection = LotCommit {
        lot_id: ghost.clone(),
        expected_sequence: 0,
        lot: None,
        events: Vec::new(),
        bids: Vec::new(),
        commands: vec![CommandRecord {
            key: key.clone(),
            lot_id: ghost.clone(),
            command: bid,
            outcome: CommandOutcome::Rejected {
                rejection: Rejection::LotNotFound,
                sequence: 0,
            },
            recorded_at: at(63),
        }],
    };
    if let Err(e) = commit_one(store, rejection.clone()).await {
        panic!("recording a rejection for a missing lot failed: {e:?}");
    }
    assert_eq!(
        load(store, &ghost).await,
        None,
        "a rejection must not create the lot"
    );
    assert_eq!(
        command(store, &key).await.as_ref(),
        rejection.commands.first(),
        "a rejection for a missing lot is recorded"
    );
    let late_creation = english_lot("ghost", "seller-1", at(64), None, ends(24));
    must_commit(
        store,
        &late_creation,
        "creating a lot that only has a recorded rejection",
    )
    .await;
}

/// Command records are found by their whole key: lot, submitter and
/// command id; creation records by seller and command id.
pub async fn finds_commands_by_their_full_key<S: LotStore>(store: &S) {
    let created = english_lot("lot-1", "seller-1", t0(), None, ends(24));
    must_commit(store, &created, "a new lot").await;
    let by_ann = step(&created.lot, bid_command("ann", 2_000, "b1"), "k1", at(60));
    must_commit(store, &by_ann, "ann's bid").await;
    let by_bob = step(&by_ann.lot, bid_command("bob", 3_000, "b2"), "k1", at(61));
    must_commit(store, &by_bob, "bob's bid with the same command id").await;

    let key = |lot: Option<&str>, who: &str, id: &str| CommandKey {
        lot_id: lot.map(lot_id),
        submitter: Some(pid(who)),
        command_id: cid(id),
    };
    assert_eq!(
        command(store, &key(Some("lot-1"), "ann", "k1"))
            .await
            .as_ref(),
        by_ann.commit.commands.first(),
        "ann's record under her key"
    );
    assert_eq!(
        command(store, &key(Some("lot-1"), "bob", "k1"))
            .await
            .as_ref(),
        by_bob.commit.commands.first(),
        "bob's record under his key, same command id"
    );
    for (lot, who, id) in [
        (Some("lot-1"), "cat", "k1"),
        (Some("lot-2"), "ann", "k1"),
        (None, "ann", "k1"),
        (Some("lot-1"), "ann", "k2"),
    ] {
        assert_eq!(
            command(store, &key(lot, who, id)).await,
            None,
            "no record may be found under {lot:?}/{who}/{id}"
        );
    }
    let timer = CommandKey {
        lot_id: Some(lot_id("lot-1")),
        submitter: None,
        command_id: cid("k1"),
    };
    assert_eq!(
        command(store, &timer).await,
        None,
        "submitter None is its own scope"
    );
    assert_eq!(
        command(store, &creation_key("seller-1", "lot-1"))
            .await
            .as_ref(),
        created.commit.commands.first(),
        "the creation record under seller and command id"
    );
}

/// `events_after` gives the events after a sequence, ascending, at most
/// `limit`, and nothing past the end.
pub async fn lists_events_after_a_sequence<S: LotStore>(store: &S) {
    let created = english_lot("lot-1", "seller-1", t0(), None, ends(24));
    let war = bidding_war(&created.lot, 5, at(60));
    must_commit(store, &created, "a new lot").await;
    commit_all(store, &war, "a bid").await;
    let mut all: Vec<SequencedEvent> = created.commit.events.clone();
    for s in &war {
        all.extend(s.commit.events.iter().cloned());
    }
    let id = lot_id("lot-1");
    let last = all.len() as u64;
    assert_eq!(
        events(store, &id, 0, MAX_PAGE_SIZE).await,
        all,
        "events_after(0) gives the whole log, ascending, unchanged"
    );
    assert!(
        all.iter().zip(1..).all(|(e, n)| e.sequence == n),
        "events must be numbered 1, 2, 3 … without gaps"
    );
    assert_eq!(
        events(store, &id, 3, 2).await,
        all[3..5].to_vec(),
        "events_after(3, limit 2) must give sequences 4 and 5"
    );
    assert_eq!(
        events(store, &id, last - 1, MAX_PAGE_SIZE).await,
        all[all.len() - 1..].to_vec(),
        "events_after(last - 1) gives the last event"
    );
    assert_eq!(
        events(store, &id, last, MAX_PAGE_SIZE).await,
        Vec::new(),
        "nothing after the last event"
    );
    assert_eq!(
        events(store, &id, last + 10, MAX_PAGE_SIZE).await,
        Vec::new(),
        "nothing past the end"
    );
}

/// Bid history pages with opaque cursors give every bid once, in sequence
/// order, whatever the page size, and end.
pub async fn pages_bids_until_exhausted<S: LotStore>(store: &S) {
    let created = english_lot("lot-1", "seller-1", t0(), None, ends(24));
    let war = bidding_war(&created.lot, 7, at(60));
    must_commit(store, &created, "a new lot").await;
    commit_all(store, &war, "a bid").await;
    let expected: Vec<BidRecord> = war.iter().flat_map(|s| s.commit.bids.clone()).collect();
    assert_eq!(expected.len(), 7, "fixture: seven accepted bids");
    let id = lot_id("lot-1");
    for page in [1, 3, 7, 10, MAX_PAGE_SIZE] {
        assert_eq!(
            all_bids(store, &id, page).await,
            expected,
            "paging bids {page} at a time must give every bid once, in order"
        );
    }
    let first = store
        .bids(&id, None, 0)
        .await
        .unwrap_or_else(|e| panic!("bids with limit 0 failed: {e:?}"));
    assert_eq!(first.items, expected, "limit 0 means the default page size");
}

/// `lots` filters by status and seller, and follows status changes.
pub async fn lists_lots_by_status_and_seller<S: LotStore>(store: &S) {
    let a1 = english_lot("a1", "seller-a", t0(), None, ends(24));
    let a2 = english_lot("a2", "seller-a", t0(), Some(ends(2)), ends(24));
    let a3 = english_lot("a3", "seller-a", t0(), None, ends(24));
    let a3_cancel = step(
        &a3.lot,
        Command::CancelLot {
            by: Actor::seller(pid("seller-a")),
        },
        "cancel-a3",
        at(60),
    );
    let b1 = english_lot("b1", "seller-b", t0(), None, ends(24));
    let b2 = fixed_price_lot("b2", "seller-b", t0());
    for s in [&a1, &a2, &a3, &a3_cancel, &b1, &b2] {
        must_commit(store, s, "a listing fixture").await;
    }
    assert_eq!(
        a2.lot.status,
        LotStatus::Scheduled,
        "fixture: a2 starts later"
    );

    let query = |status: Option<LotStatus>, seller: Option<&str>| LotQuery {
        status,
        seller_id: seller.map(pid),
        cursor: None,
        limit: 0,
    };
    let cases: [(Option<LotStatus>, Option<&str>, &[&str]); 7] = [
        (None, None, &["a1", "a2", "a3", "b1", "b2"]),
        (Some(LotStatus::Open), None, &["a1", "b1", "b2"]),
        (Some(LotStatus::Scheduled), None, &["a2"]),
        (Some(LotStatus::Cancelled), None, &["a3"]),
        (None, Some("seller-a"), &["a1", "a2", "a3"]),
        (Some(LotStatus::Open), Some("seller-a"), &["a1"]),
        (None, Some("seller-c"), &[]),
    ];
    for (status, seller, expected) in cases {
        let got = all_lots(store, query(status, seller)).await;
        assert_eq!(
            ids(&got),
            set(expected),
            "lots(status {status:?}, seller {seller:?})"
        );
        assert_eq!(got.len(), expected.len(), "lots must not repeat a lot");
    }
    let open = all_lots(store, query(Some(LotStatus::Open), Some("seller-a"))).await;
    assert_eq!(
        open,
        vec![a1.lot.clone()],
        "lots must return the stored state"
    );

    let a1_cancel = step(
        &a1.lot,
        Command::CancelLot {
            by: Actor::seller(pid("seller-a")),
        },
        "cancel-a1",
        at(120),
    );
    must_commit(store, &a1_cancel, "cancelling a1").await;
    assert_eq!(
        ids(&all_lots(store, query(Some(LotStatus::Open), None)).await),
        set(&["b1", "b2"]),
        "a cancelled lot must leave the open listing"
    );
    assert_eq!(
        ids(&all_lots(store, query(Some(LotStatus::Cancelled), Some("seller-a"))).await),
        set(&["a1", "a3"]),
        "a cancelled lot must join the cancelled listing"
    );
}

/// `lots` pages with opaque cursors give every match once and end.
pub async fn pages_lots_until_exhausted<S: LotStore>(store: &S) {
    let mut names = Vec::new();
    for i in 0..7 {
        let name = format!("p{i}");
        let seller = if i % 3 == 0 { "seller-q" } else { "seller-p" };
        must_commit(
            store,
            &english_lot(&name, seller, t0(), None, ends(24)),
            "a lot",
        )
        .await;
        names.push((name, seller));
    }
    let p: BTreeSet<String> = names
        .iter()
        .filter(|(_, s)| *s == "seller-p")
        .map(|(n, _)| n.clone())
        .collect();
    let all: BTreeSet<String> = names.iter().map(|(n, _)| n.clone()).collect();
    for limit in [1, 2, 3, 7, MAX_PAGE_SIZE] {
        let query = |seller: Option<&str>, status| LotQuery {
            status,
            seller_id: seller.map(pid),
            cursor: None,
            limit,
        };
        let got = all_lots(store, query(None, None)).await;
        assert_eq!(
            (ids(&got), got.len()),
            (all.clone(), 7),
            "all lots, {limit} a page"
        );
        let got = all_lots(store, query(Some("seller-p"), None)).await;
        assert_eq!(
            (ids(&got), got.len()),
            (p.clone(), p.len()),
            "one seller, {limit} a page"
        );
        let got = all_lots(store, query(None, Some(LotStatus::Open))).await;
        assert_eq!(
            (ids(&got), got.len()),
            (all.clone(), 7),
            "one status, {limit} a page"
        );
    }
}

/// `due` lists the lots with a transition due at or before `now` (opening,
/// close, payment deadline), earliest first, at most `limit`; lots with
/// nothing due are never listed.
pub async fn lists_due_lots_earliest_first<S: LotStore>(store: &S) {
    let closes_3h = english_lot("d-close-3h", "seller-1", t0(), None, ends(3));
    let closes_1h = english_lot("d-close-1h", "seller-1", t0(), None, ends(1));
    let opens_2h = english_lot("d-open-2h", "seller-1", t0(), Some(ends(2)), ends(5));
    let cancelled = english_lot("d-cancelled", "seller-1", t0(), None, ends(1));
    let cancel = step(
        &cancelled.lot,
        Command::CancelLot {
            by: Actor::seller(pid("seller-1")),
        },
        "cancel",
        at(60),
    );
    let endless = fixed_price_lot("d-endless", "seller-1", t0());
    let sold = english_lot("d-sold-4h", "seller-1", t0(), None, ends(4));
    let bid = step(&sold.lot, bid_command("ann", 2_000, "b1"), "c1", at(60));
    for s in [
        &closes_3h, &closes_1h, &opens_2h, &cancelled, &cancel, &endless, &sold, &bid,
    ] {
        must_commit(store, s, "a due-date fixture").await;
    }
    let due = |now, limit| async move {
        store
            .due(now, limit)
            .await
            .unwrap_or_else(|e| panic!("due failed: {e:?}"))
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        due(t0(), MAX_PAGE_SIZE).await,
        Vec::<String>::new(),
        "nothing is due at creation"
    );
    assert_eq!(
        due(ends(2), MAX_PAGE_SIZE).await,
        ["d-close-1h", "d-open-2h"],
        "due lots come earliest first (a close at 1 h, an opening at 2 h)"
    );
    assert_eq!(
        due(ends(3), MAX_PAGE_SIZE).await,
        ["d-close-1h", "d-open-2h", "d-close-3h"],
        "due lots come earliest first; a due time equal to now is due"
    );
    assert_eq!(
        due(ends(3), 2).await,
        ["d-close-1h", "d-open-2h"],
        "at most limit"
    );

    let closed = step(&closes_1h.lot, Command::Advance, "advance-1", ends(1));
    assert_eq!(
        closed.lot.status,
        LotStatus::Closed,
        "fixture: the lot closes"
    );
    must_commit(store, &closed, "closing d-close-1h").await;
    assert_eq!(
        due(ends(3), MAX_PAGE_SIZE).await,
        ["d-open-2h", "d-close-3h"],
        "a closed lot with nothing pending is no longer due"
    );

    let sale = step(&bid.lot, Command::Advance, "advance-2", ends(4));
    let settlement = sale
        .lot
        .settlement
        .as_ref()
        .unwrap_or_else(|| panic!("fixture: the sold lot has a settlement"));
    let due_by = settlement.due_by;
    must_commit(store, &sale, "closing d-sold-4h").await;
    assert_eq!(
        due(ends(5), MAX_PAGE_SIZE).await,
        ["d-open-2h", "d-close-3h"],
        "a sold lot is not due before its payment deadline"
    );
    assert_eq!(
        due(due_by, MAX_PAGE_SIZE).await,
        ["d-open-2h", "d-close-3h", "d-sold-4h"],
        "a sold lot is due at its payment deadline"
    );
}

/// Reads of lots, keys and listings that do not exist are empty, never
/// errors.
pub async fn unknown_lots_read_as_empty<S: LotStore>(store: &S) {
    let ghost = lot_id("ghost");
    assert_eq!(load(store, &ghost).await, None, "load of a missing lot");
    assert_eq!(
        events(store, &ghost, 0, MAX_PAGE_SIZE).await,
        Vec::new(),
        "events of a missing lot"
    );
    assert_eq!(
        all_bids(store, &ghost, MAX_PAGE_SIZE).await,
        Vec::new(),
        "bids of a missing lot"
    );
    assert_eq!(
        command(store, &creation_key("nobody", "ghost")).await,
        None,
        "a missing command record"
    );
    assert_eq!(
        all_lots(store, LotQuery::default()).await,
        Vec::new(),
        "lots of an empty store"
    );
    let due = store
        .due(t0() + Duration::days(3650), MAX_PAGE_SIZE)
        .await
        .unwrap_or_else(|e| panic!("due failed: {e:?}"));
    assert!(due.is_empty(), "an empty store has nothing due");
}
