//! The longest single commit while one lot's log grows to a million events:
//! appending must not copy the log (a `Vec` doubling under the shard's lock
//! once made one commit take over 200 ms). A measurement, not a check:
//! `cargo test --profile bench -p hammerfall-adapters-memory --test
//! long_log_pause -- --ignored --nocapture`.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a measurement that reports to its terminal"
)]

use hammerfall_adapters_memory::MemoryLotStore;
use hammerfall_engine::testkit::fixtures::{english_lot, t0};
use hammerfall_ports::{Event, LotCommit, LotStore, SequencedEvent};
use std::time::{Duration, Instant};

/// Events per commit (a hot lot's batch of 64 bids emits about this many).
const PER_COMMIT: u64 = 128;
const EVENTS: u64 = 1_000_000;

#[tokio::test]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn the_longest_commit_while_a_log_grows_to_a_million_events() {
    let store = MemoryLotStore::new();
    let created = english_lot("hot", "sam", t0(), None, t0() + chrono::Duration::days(30));
    let mut lot = created.lot.clone();
    assert!(store.commit(vec![created.commit]).await[0].is_ok());
    let (mut longest, mut total) = (Duration::ZERO, Duration::ZERO);
    while lot.sequence < EVENTS {
        let expected = lot.sequence;
        let events: Vec<SequencedEvent> = (expected + 1..=expected + PER_COMMIT)
            .map(|sequence| SequencedEvent {
                sequence,
                occurred_at: t0(),
                event: Event::LotOpened {},
            })
            .collect();
        lot.sequence = expected + PER_COMMIT;
        let commit = LotCommit {
            lot_id: lot.lot_id.clone(),
            expected_sequence: expected,
            lot: Some(lot.clone()),
            events,
            bids: Vec::new(),
            commands: Vec::new(),
        };
        let started = Instant::now();
        let result = store.commit(vec![commit]).await;
        let took = started.elapsed();
        assert!(result[0].is_ok());
        longest = longest.max(took);
        total += took;
    }
    let page = store
        .events_after(&lot.lot_id, lot.sequence - 2, 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    println!(
        "{} events in commits of {PER_COMMIT}: longest commit {longest:?}, all commits {total:?}",
        lot.sequence
    );
}
