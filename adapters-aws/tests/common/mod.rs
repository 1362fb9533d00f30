//! Shared by the adapters-aws tests: the moto endpoint (required, never
//! skipped), unique table and queue names (tests of all binaries share one
//! server and run in parallel), fresh resources and command builders.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use hammerfall_ports::{CommandEnvelope, LotId};

/// The moto endpoint, names, fresh resources and command builders: shared
/// with the hosts' tests (`hammerfall_adapters_aws::testsupport`).
#[allow(unused_imports, reason = "each test binary uses a part")]
pub use hammerfall_adapters_aws::testsupport::{
    bid, cents, cid, create_english, fresh_queue, fresh_store, lid, messages_in, pid, settings,
};

// ------------------------------------------------------- store checks --

use hammerfall_engine::testkit::fixtures::bid_records;
use hammerfall_ports::{
    BidRecord, CommandRecord, Cursor, Lot, LotStore, MAX_PAGE_SIZE, SequencedEvent,
};

pub async fn load<S: LotStore>(store: &S, lot: &LotId) -> Lot {
    store
        .load(lot)
        .await
        .unwrap_or_else(|e| panic!("load({lot}) failed: {e:?}"))
        .unwrap_or_else(|| panic!("lot {lot} does not exist"))
}

pub async fn all_events<S: LotStore>(store: &S, lot: &LotId) -> Vec<SequencedEvent> {
    let mut out: Vec<SequencedEvent> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.sequence);
        let page = store
            .events_after(lot, after, MAX_PAGE_SIZE)
            .await
            .unwrap_or_else(|e| panic!("events_after failed: {e:?}"));
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

pub async fn all_bids<S: LotStore>(store: &S, lot: &LotId) -> Vec<BidRecord> {
    let mut out = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .bids(lot, cursor.as_ref(), MAX_PAGE_SIZE)
            .await
            .unwrap_or_else(|e| panic!("bids failed: {e:?}"));
        out.extend(page.items);
        match page.next_cursor {
            None => return out,
            next => cursor = next,
        }
    }
}

pub async fn stored_record<S: LotStore>(store: &S, envelope: &CommandEnvelope) -> CommandRecord {
    let key = hammerfall_engine::command_key(envelope);
    store
        .command(&key)
        .await
        .unwrap_or_else(|e| panic!("command({key:?}) failed: {e:?}"))
        .unwrap_or_else(|| panic!("no record for {key:?}"))
}

/// The stored log is gapless, replays to the stored state, and its
/// accepted bids are the bid history.
pub async fn assert_log_is_state<S: LotStore>(store: &S, lot_id: &LotId) -> Lot {
    let lot = load(store, lot_id).await;
    let events = all_events(store, lot_id).await;
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    let expected: Vec<u64> = (1..=lot.sequence).collect();
    assert_eq!(sequences, expected, "lot {lot_id}: the log is not gapless");
    let replayed = hammerfall_engine::replay(lot_id.clone(), &events)
        .unwrap_or_else(|e| panic!("lot {lot_id}: the log does not replay: {e}"));
    assert_eq!(replayed, lot, "lot {lot_id}: replay of the log != state");
    assert_eq!(
        all_bids(store, lot_id).await,
        bid_records(&events),
        "lot {lot_id}: bid history != the log's accepted bids"
    );
    lot
}
