//! `MemoryLotStore`: the `LotStore` port in process memory. One mutex guards
//! everything, so every commit entry is trivially atomic; entries are
//! validated completely before anything is written, so a refused entry
//! writes nothing.

use hammerfall_engine::next_due;
use hammerfall_ports::{
    BidRecord, CommandKey, CommandRecord, Cursor, DEFAULT_PAGE_SIZE, Lot, LotCommit, LotId,
    LotQuery, LotStatus, LotStore, MAX_PAGE_SIZE, Page, ParticipantId, SequencedEvent, StoreError,
    Timestamp,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Most entries one `commit` call takes; entries beyond it are refused with
/// [`StoreError::TooLarge`] (the caller splits the batch).
pub const MAX_COMMIT_BATCH: usize = 1_000;
/// Most events, bid records or command records one entry may carry.
pub const MAX_RECORDS_PER_ENTRY: usize = 1_000;
/// Most lots the store holds; creating more is refused with
/// [`StoreError::TooLarge`] instead of exhausting the process's memory.
pub const MAX_LOTS: usize = 10_000_000;
/// Most events one lot's log may hold.
pub const MAX_EVENTS_PER_LOT: usize = 10_000_000;

/// Prefix of a lot listing cursor.
const LOTS_CURSOR: &str = "lots.";
/// Prefix of a bid history cursor.
const BIDS_CURSOR: &str = "bids.";

/// A cursor this store did not hand out (or handed out for another
/// listing). Returned inside [`StoreError::Corrupt`] because the port has no
/// variant for a caller's bad input; hosts can downcast the source to this
/// type and answer 422 instead of 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor {0:?} is not a cursor of this listing")]
pub struct InvalidCursor(pub String);

/// A commit that contradicts itself (events not numbered from
/// `expected_sequence + 1`, a state whose sequence is not the last event's,
/// records of another lot): a bug in the caller, refused inside
/// [`StoreError::Corrupt`] so that nothing inconsistent is ever stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inconsistent commit for lot {lot_id}: {reason}")]
pub struct InvalidCommit {
    /// The lot.
    pub lot_id: LotId,
    /// What is inconsistent.
    pub reason: &'static str,
}

/// One stored lot: its state, log, bid history and listing position.
#[derive(Debug)]
struct LotEntry {
    /// Creation order, the listing order of [`LotStore::lots`].
    order: u64,
    lot: Lot,
    events: Vec<SequencedEvent>,
    bids: Vec<BidRecord>,
    /// `next_due(lot)`, as indexed in `Inner::due`.
    due: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct Inner {
    lots: HashMap<LotId, LotEntry>,
    /// Creation order → lot.
    listing: BTreeMap<u64, LotId>,
    by_status: HashMap<LotStatus, BTreeSet<u64>>,
    by_seller: HashMap<ParticipantId, BTreeSet<u64>>,
    due: BTreeSet<(Timestamp, LotId)>,
    /// Boxed: records are large, and the map rehashes as it grows.
    commands: HashMap<CommandKey, Box<CommandRecord>>,
    next_order: u64,
}

/// The lot store in memory: real compare-and-set semantics, nothing
/// durable (acknowledged writes live as long as the value). For tests, the
/// `memory` store of the server host, and embedding.
#[derive(Debug, Default)]
pub struct MemoryLotStore {
    inner: Mutex<Inner>,
}

impl MemoryLotStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Entries are validated before any write, so a panic while the lock
        // was held cannot have left half a commit behind.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A page size as the port defines it: 0 means the default, anything above
/// the maximum is clamped.
fn page_size(limit: usize) -> usize {
    match limit {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

fn encode_cursor(prefix: &str, position: u64) -> Cursor {
    Cursor(format!("{prefix}{position:x}"))
}

fn decode_cursor(prefix: &str, cursor: &Cursor) -> Result<u64, StoreError> {
    cursor
        .0
        .strip_prefix(prefix)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| StoreError::Corrupt(Box::new(InvalidCursor(cursor.0.clone()))))
}

fn invalid(lot_id: &LotId, reason: &'static str) -> StoreError {
    StoreError::Corrupt(Box::new(InvalidCommit {
        lot_id: lot_id.clone(),
        reason,
    }))
}

/// Checks that a commit is internally consistent.
fn check_shape(commit: &LotCommit, last_bid: u64) -> Result<(), StoreError> {
    let id = &commit.lot_id;
    let expected = commit.expected_sequence;
    let numbered = commit
        .events
        .iter()
        .zip(expected + 1..)
        .all(|(e, seq)| e.sequence == seq);
    if !numbered {
        return Err(invalid(
            id,
            "events must be numbered from expected_sequence + 1",
        ));
    }
    let last = expected + commit.events.len() as u64;
    match &commit.lot {
        None if !commit.events.is_empty() => {
            return Err(invalid(id, "events without the state they lead to"));
        }
        Some(lot) if &lot.lot_id != id => return Err(invalid(id, "state of another lot")),
        Some(lot) if lot.sequence != last || lot.sequence == 0 => {
            return Err(invalid(id, "state's sequence is not its last event's"));
        }
        _ => {}
    }
    let mut prev = last_bid.max(expected);
    for bid in &commit.bids {
        if bid.sequence <= prev || bid.sequence > last {
            return Err(invalid(
                id,
                "bid records must belong to the new events, in order",
            ));
        }
        prev = bid.sequence;
    }
    if commit.commands.iter().any(|c| &c.lot_id != id) {
        return Err(invalid(id, "command record of another lot"));
    }
    Ok(())
}

impl Inner {
    /// Everything that could refuse `commit`, checked before any write.
    fn check(&self, commit: &LotCommit) -> Result<(), StoreError> {
        if commit.events.len() > MAX_RECORDS_PER_ENTRY
            || commit.bids.len() > MAX_RECORDS_PER_ENTRY
            || commit.commands.len() > MAX_RECORDS_PER_ENTRY
        {
            return Err(StoreError::TooLarge {
                what: "records per commit entry",
            });
        }
        let stored = self.lots.get(&commit.lot_id);
        let matches = match stored.map(|e| e.lot.sequence) {
            None => commit.expected_sequence == 0,
            Some(seq) => commit.expected_sequence == seq && seq != 0,
        };
        if !matches {
            return Err(StoreError::Conflict {
                lot_id: commit.lot_id.clone(),
                expected: commit.expected_sequence,
            });
        }
        let last_bid = stored.and_then(|e| e.bids.last()).map_or(0, |b| b.sequence);
        check_shape(commit, last_bid)?;
        let mut keys = HashSet::with_capacity(commit.commands.len());
        for record in &commit.commands {
            if self.commands.contains_key(&record.key) || !keys.insert(&record.key) {
                return Err(StoreError::DuplicateCommand(record.key.clone()));
            }
        }
        if stored.is_some_and(|e| e.events.len() + commit.events.len() > MAX_EVENTS_PER_LOT) {
            return Err(StoreError::TooLarge {
                what: "events per lot",
            });
        }
        if stored.is_none() && commit.lot.is_some() && self.lots.len() >= MAX_LOTS {
            return Err(StoreError::TooLarge {
                what: "lots in the memory store",
            });
        }
        Ok(())
    }

    /// Writes a checked commit.
    fn write(&mut self, commit: LotCommit) {
        for record in commit.commands {
            self.commands.insert(record.key.clone(), Box::new(record));
        }
        let Some(lot) = commit.lot else {
            return;
        };
        let due = next_due(&lot);
        match self.lots.get_mut(&commit.lot_id) {
            Some(entry) => {
                let order = entry.order;
                // Indexes change only when the status or due time does (an
                // ordinary bid changes neither).
                if entry.lot.status != lot.status {
                    if let Some(set) = self.by_status.get_mut(&entry.lot.status) {
                        set.remove(&order);
                    }
                    self.by_status.entry(lot.status).or_default().insert(order);
                }
                if entry.due != due {
                    if let Some(at) = entry.due {
                        self.due.remove(&(at, commit.lot_id.clone()));
                    }
                    if let Some(at) = due {
                        self.due.insert((at, commit.lot_id.clone()));
                    }
                }
                entry.events.extend(commit.events);
                entry.bids.extend(commit.bids);
                entry.due = due;
                entry.lot = lot;
            }
            None => {
                let order = self.next_order;
                self.next_order += 1;
                self.listing.insert(order, commit.lot_id.clone());
                self.by_seller
                    .entry(lot.seller_id().clone())
                    .or_default()
                    .insert(order);
                self.by_status.entry(lot.status).or_default().insert(order);
                if let Some(at) = due {
                    self.due.insert((at, commit.lot_id.clone()));
                }
                self.lots.insert(
                    commit.lot_id.clone(),
                    LotEntry {
                        order,
                        lot,
                        events: commit.events,
                        bids: commit.bids,
                        due,
                    },
                );
            }
        }
    }

    /// Creation-order positions after `after` that may match `query`,
    /// from the narrowest index available.
    fn candidates<'a>(
        &'a self,
        query: &LotQuery,
        after: Bound<u64>,
    ) -> Box<dyn Iterator<Item = u64> + 'a> {
        let range = (after, Bound::Unbounded);
        match (&query.seller_id, query.status) {
            (Some(seller), _) => match self.by_seller.get(seller) {
                Some(set) => Box::new(set.range(range).copied()),
                None => Box::new(std::iter::empty()),
            },
            (None, Some(status)) => match self.by_status.get(&status) {
                Some(set) => Box::new(set.range(range).copied()),
                None => Box::new(std::iter::empty()),
            },
            (None, None) => Box::new(self.listing.range(range).map(|(order, _)| *order)),
        }
    }
}

impl LotStore for MemoryLotStore {
    async fn load(&self, lot_id: &LotId) -> Result<Option<Lot>, StoreError> {
        Ok(self.lock().lots.get(lot_id).map(|e| e.lot.clone()))
    }

    async fn commit(&self, batch: Vec<LotCommit>) -> Vec<Result<(), StoreError>> {
        let mut inner = self.lock();
        batch
            .into_iter()
            .enumerate()
            .map(|(i, commit)| {
                if i >= MAX_COMMIT_BATCH {
                    return Err(StoreError::TooLarge {
                        what: "entries per commit call",
                    });
                }
                inner.check(&commit)?;
                inner.write(commit);
                Ok(())
            })
            .collect()
    }

    async fn command(&self, key: &CommandKey) -> Result<Option<CommandRecord>, StoreError> {
        Ok(self.lock().commands.get(key).map(|r| (**r).clone()))
    }

    async fn events_after(
        &self,
        lot_id: &LotId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedEvent>, StoreError> {
        let inner = self.lock();
        let Some(entry) = inner.lots.get(lot_id) else {
            return Ok(Vec::new());
        };
        let start = entry.events.partition_point(|e| e.sequence <= after);
        Ok(entry.events[start..]
            .iter()
            .take(page_size(limit))
            .cloned()
            .collect())
    }

    async fn bids(
        &self,
        lot_id: &LotId,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<BidRecord>, StoreError> {
        let after = cursor
            .map(|c| decode_cursor(BIDS_CURSOR, c))
            .transpose()?
            .unwrap_or(0);
        let inner = self.lock();
        let Some(entry) = inner.lots.get(lot_id) else {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        };
        let start = entry.bids.partition_point(|b| b.sequence <= after);
        let rest = &entry.bids[start..];
        let items: Vec<BidRecord> = rest.iter().take(page_size(limit)).cloned().collect();
        let next_cursor = match items.last() {
            Some(last) if rest.len() > items.len() => {
                Some(encode_cursor(BIDS_CURSOR, last.sequence))
            }
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn lots(&self, query: &LotQuery) -> Result<Page<Lot>, StoreError> {
        let after = match &query.cursor {
            Some(c) => Bound::Excluded(decode_cursor(LOTS_CURSOR, c)?),
            None => Bound::Unbounded,
        };
        let size = page_size(query.limit);
        let inner = self.lock();
        let mut matching = inner
            .candidates(query, after)
            .filter_map(|order| {
                let entry = inner.lots.get(inner.listing.get(&order)?)?;
                let lot = &entry.lot;
                let wanted = query.status.is_none_or(|s| lot.status == s)
                    && query
                        .seller_id
                        .as_ref()
                        .is_none_or(|s| lot.seller_id() == s);
                wanted.then_some((order, lot))
            })
            .take(size + 1);
        let mut items = Vec::with_capacity(size.min(DEFAULT_PAGE_SIZE));
        let mut last = None;
        for (order, lot) in matching.by_ref().take(size) {
            items.push(lot.clone());
            last = Some(order);
        }
        let next_cursor = match (matching.next(), last) {
            (Some(_), Some(order)) => Some(encode_cursor(LOTS_CURSOR, order)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<LotId>, StoreError> {
        Ok(self
            .lock()
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(page_size(limit))
            .map(|(_, id)| id.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hammerfall_engine::testkit::fixtures::{english_lot, fixed_price_lot, lot_id, t0};
    use hammerfall_ports::Duration;
    use std::error::Error as _;

    #[tokio::test]
    async fn a_foreign_cursor_is_an_invalid_cursor_error() {
        let store = MemoryLotStore::new();
        let bad = Cursor("bids.1".into());
        let query = LotQuery {
            cursor: Some(bad),
            ..LotQuery::default()
        };
        match store.lots(&query).await {
            Err(StoreError::Corrupt(source)) => {
                assert!(source.downcast_ref::<InvalidCursor>().is_some(), "{source}");
            }
            other => panic!("expected an invalid cursor, got {other:?}"),
        }
        let garbage = Cursor("???".into());
        let result = store.bids(&lot_id("x"), Some(&garbage), 10).await;
        assert!(result.is_err_and(|e| e.source().is_some_and(|s| s.is::<InvalidCursor>())));
    }

    #[tokio::test]
    async fn an_inconsistent_commit_is_refused_and_writes_nothing() {
        let store = MemoryLotStore::new();
        let mut created = english_lot("lot-1", "sam", t0(), None, t0() + Duration::hours(1));
        created.commit.events.remove(0);
        let result = store.commit(vec![created.commit]).await;
        assert!(matches!(
            result.as_slice(),
            [Err(StoreError::Corrupt(e))] if e.is::<InvalidCommit>()
        ));
        assert_eq!(store.load(&lot_id("lot-1")).await.ok().flatten(), None);
    }

    #[tokio::test]
    async fn pages_are_clamped_to_the_maximum_size() {
        let store = MemoryLotStore::new();
        let mut batch: Vec<LotCommit> = (0..=MAX_PAGE_SIZE)
            .map(|i| fixed_price_lot(&format!("lot-{i}"), "sam", t0()).commit)
            .collect();
        let rest = batch.split_off(MAX_PAGE_SIZE / 2);
        for part in [batch, rest] {
            assert!(store.commit(part).await.iter().all(Result::is_ok));
        }
        let query = LotQuery {
            limit: MAX_PAGE_SIZE * 5,
            ..LotQuery::default()
        };
        let page = store.lots(&query).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.items.len(), MAX_PAGE_SIZE);
        assert!(page.next_cursor.is_some());
        let default = store
            .lots(&LotQuery::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            default.items.len(),
            DEFAULT_PAGE_SIZE,
            "limit 0 means the default"
        );
    }

    #[tokio::test]
    async fn entries_beyond_the_batch_limit_are_refused_as_too_large() {
        let store = MemoryLotStore::new();
        let batch: Vec<LotCommit> = (0..=MAX_COMMIT_BATCH)
            .map(|i| fixed_price_lot(&format!("lot-{i}"), "sam", t0()).commit)
            .collect();
        let results = store.commit(batch).await;
        assert!(results[..MAX_COMMIT_BATCH].iter().all(Result::is_ok));
        assert!(matches!(
            results[MAX_COMMIT_BATCH],
            Err(StoreError::TooLarge { .. })
        ));
    }
}
