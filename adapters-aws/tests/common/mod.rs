//! Shared by the adapters-aws tests: the moto endpoint (required, never
//! skipped), unique table and queue names (tests of all binaries share one
//! server and run in parallel), fresh resources and command builders.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use hammerfall_adapters_aws::setup::{self, QueueUrls};
use hammerfall_adapters_aws::{AwsSettings, DynamoLotStore, SqsCommandQueue};
use hammerfall_ports::{
    Actor, BidId, Command, CommandEnvelope, CommandId, CreateLot, Currency, Decimal, LotId,
    ParticipantId, PlaceBid, Timestamp,
};
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable that names the local AWS-compatible server.
pub const ENDPOINT_VAR: &str = "HAMMERFALL_AWS_ENDPOINT";

/// The moto server's URL. Panics, saying how to start one, when it is not
/// set: these tests fail rather than skip silently.
pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{ENDPOINT_VAR} is not set: the adapters-aws tests need a local \
             AWS-compatible server (moto). Start one from the repository root \
             with `eval \"$(scripts/moto)\"` (it prints the export; \
             `scripts/moto stop` stops it), or run `scripts/test`, which \
             starts and stops it around the tests."
        ),
    }
}

pub fn settings() -> AwsSettings {
    AwsSettings::local(endpoint())
}

/// A name no other test (of any binary, of any run) uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store on a new, empty table.
pub async fn fresh_store(client: &aws_sdk_dynamodb::Client) -> DynamoLotStore {
    let table = unique("hf");
    setup::create_table(client, &table)
        .await
        .unwrap_or_else(|e| panic!("creating table {table} failed: {e}"));
    DynamoLotStore::new(client.clone(), table)
}

/// A queue (and its dead-letter queue) with the given visibility timeout.
pub async fn fresh_queue(
    client: &aws_sdk_sqs::Client,
    visibility_secs: u32,
) -> (SqsCommandQueue, QueueUrls) {
    let name = unique("hf");
    let urls = setup::create_queue(client, &name, visibility_secs)
        .await
        .unwrap_or_else(|e| panic!("creating queue {name} failed: {e}"));
    (SqsCommandQueue::new(client.clone(), &urls.queue_url), urls)
}

/// Messages in a queue, visible and in flight (SQS's approximate counts;
/// exact on moto).
pub async fn messages_in(client: &aws_sdk_sqs::Client, url: &str) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attrs = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes failed: {e:?}"))
        .attributes
        .unwrap_or_default();
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|a| {
        attrs
            .get(a)
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    })
    .sum()
}

pub fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

pub fn lid(s: &str) -> LotId {
    LotId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

pub fn cid(s: &str) -> CommandId {
    CommandId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

/// `minor` hundredths as a decimal (`cents(1250)` is 12.50).
pub fn cents(minor: i64) -> Decimal {
    Decimal::new(minor, 2)
}

/// An English lot by `seller`, starting at 10.00 USD, ending at `ends_at`.
pub fn create_english(lot: &LotId, seller: &str, ends_at: Timestamp) -> CommandEnvelope {
    let request = CreateLot::english(
        lot.clone(),
        Actor::seller(pid(seller)),
        "Lamp",
        Currency::USD,
        cents(1000),
        ends_at,
    );
    CommandEnvelope::new(
        cid(&format!("create-{lot}")),
        lot.clone(),
        Command::CreateLot(Box::new(request)),
    )
}

/// `bidder` bids a maximum of `amount` under command id `key`.
pub fn bid(lot: &LotId, bidder: &str, amount: Decimal, key: &str) -> CommandEnvelope {
    CommandEnvelope::new(
        cid(key),
        lot.clone(),
        Command::PlaceBid(PlaceBid {
            bidder: Actor::bidder(pid(bidder)),
            amount,
            currency: None,
            bid_id: BidId::new(format!("bid.{lot}.{key}")).unwrap_or_else(|e| panic!("{e}")),
        }),
    )
}

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
