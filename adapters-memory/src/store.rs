//! `MemoryLotStore`: the `LotStore` port in process memory. Lots are spread
//! over [`STORE_SHARDS`] shards by a hash of their id, each behind its own
//! mutex, so workers committing different lots do not wait for each other.
//! A lot's state, log, bid history and the idempotency records scoped to it
//! live in its shard; a commit entry holds every lock it writes under (in
//! one global order: shards ascending, then lot-creation records, then the
//! listing indexes) from its checks to its last write, so each entry is
//! atomic. Entries are validated completely before anything is written, so
//! a refused entry writes nothing.

use crate::chunked::ChunkedLog;
use hammerfall_engine::next_due;
use hammerfall_ports::{
    BidRecord, Command, CommandKey, CommandOutcome, CommandRecord, Cursor, DEFAULT_PAGE_SIZE, Lot,
    LotCommit, LotId, LotQuery, LotStatus, LotStore, MAX_PAGE_SIZE, Page, ParticipantId,
    SequencedEvent, StoreError, Timestamp,
};
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Hash maps keyed by ids: a fast, fixed hasher (keys are bounded ids, and
/// a lot's commands only ever reach the shard of that lot).
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

/// Shards of the lot store: enough that workers rarely meet on one lock.
pub const STORE_SHARDS: usize = 64;

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

/// One stored lot: its state, log, bid history and listing position.
#[derive(Debug)]
struct LotEntry {
    /// Hash of the lot's id ([`MemoryLotStore::locate`]), kept so the
    /// shard's table never hashes an id again when it grows.
    hash: u64,
    /// Creation order, the listing order of [`LotStore::lots`].
    order: u64,
    lot: Lot,
    /// In chunks that never move: appending to a long log copies nothing.
    events: ChunkedLog<SequencedEvent>,
    bids: BidHistory,
    /// `next_due(lot)`, as indexed in `Index::due`.
    due: Option<Timestamp>,
}

/// A lot's bid history. The service commits exactly the records a lot's
/// events imply (one per `BidAccepted`, [`BidRecord::are_implied_by`]), so
/// the store keeps the events alone and derives the history from them when
/// it is read: a bid does not keep a second, 104-byte copy of itself in
/// fresh memory (whose page faults were a large share of a hot lot's
/// cost). A writer that commits other records (the port allows any that
/// belong to the entry's new events) switches the lot to keeping its
/// history as given, from then on.
#[derive(Debug)]
enum BidHistory {
    /// Exactly the records the lot's events imply; the sequence of the
    /// last of them (0: none yet), so a read never scans the events after
    /// it (a fixed-price lot's log may be long and hold no bid at all).
    Implied {
        /// Sequence of the lot's last `BidAccepted`.
        last_bid: u64,
    },
    /// As committed.
    Kept(ChunkedLog<BidRecord>),
}

/// The sequence of the last record in `bids`, if any.
fn last_bid(bids: &[BidRecord]) -> Option<u64> {
    bids.last().map(|b| b.sequence)
}

impl BidHistory {
    /// A new lot's history: its first entry's `events` and `bids`.
    fn new(events: &[SequencedEvent], bids: Vec<BidRecord>) -> Self {
        if BidRecord::are_implied_by(events, &bids) {
            Self::Implied {
                last_bid: last_bid(&bids).unwrap_or(0),
            }
        } else {
            Self::Kept(bids.into())
        }
    }

    /// Adds an entry's `bids`, for its new `events`; `log` is the lot's log
    /// before them.
    fn add(
        &mut self,
        log: &ChunkedLog<SequencedEvent>,
        events: &[SequencedEvent],
        bids: Vec<BidRecord>,
    ) {
        match self {
            Self::Kept(kept) => kept.append(bids),
            Self::Implied { last_bid: last } if BidRecord::are_implied_by(events, &bids) => {
                *last = last_bid(&bids).unwrap_or(*last);
            }
            Self::Implied { .. } => {
                let mut kept: ChunkedLog<BidRecord> = ChunkedLog::default();
                kept.extend(log.iter().filter_map(BidRecord::implied_by));
                kept.append(bids);
                *self = Self::Kept(kept);
            }
        }
    }
}

/// An idempotency record as stored: everything but its key, which is the
/// map's (moved in, not copied).
#[derive(Debug)]
struct Stored {
    lot_id: LotId,
    command: Command,
    outcome: CommandOutcome,
    recorded_at: Timestamp,
}

impl Stored {
    fn store(record: CommandRecord) -> (CommandKey, Self) {
        let CommandRecord {
            key,
            lot_id,
            command,
            outcome,
            recorded_at,
        } = record;
        (
            key,
            Self {
                lot_id,
                command,
                outcome,
                recorded_at,
            },
        )
    }

    fn record(&self, key: &CommandKey) -> CommandRecord {
        CommandRecord {
            key: key.clone(),
            lot_id: self.lot_id.clone(),
            command: self.command.clone(),
            outcome: self.outcome.clone(),
            recorded_at: self.recorded_at,
        }
    }
}

/// Idempotency records by key, each with its key's hash computed once: a
/// commit hashes a record's key (three strings) when it checks it and
/// reuses that hash to insert it, and the table never hashes a key again
/// when it grows.
///
/// The records live in an append-only list in chunks that never move; the
/// hash table holds only (hash, position) pairs. When the table doubles it
/// moves 16 bytes per record, not the record: a hot lot's million records
/// once made that rehash a pause of over a second (under the shard's lock).
#[derive(Debug, Default)]
struct Records {
    entries: ChunkedLog<(CommandKey, Stored)>,
    index: hashbrown::HashTable<(u64, usize)>,
}

/// The hash every [`Records`] table keys by (fixed: the tables are
/// filled and read with hashes computed outside them): the hash of the
/// key's lot id as the store computed it to find the lot's shard
/// ([`MemoryLotStore::locate`]; 0 for a creation key, scoped to no lot),
/// folded with the submitter and command id, so a key's lot id is not
/// hashed twice. Records are still told apart by their whole key.
fn key_hash(lot_hash: u64, key: &CommandKey) -> u64 {
    // The texts' bytes and lengths, written straight to the hasher (the
    // derived `Hash` goes through `Option` and `SmolStr` and costs twice as
    // much).
    let mut state = foldhash::fast::FixedState::with_seed(0x6b65_7973).build_hasher();
    let submitter = key.submitter.as_ref().map_or("", ParticipantId::as_str);
    let command_id = key.command_id.as_str();
    state.write_u64(lot_hash);
    state.write_u64(
        (submitter.len() as u64) << 32
            | (command_id.len() as u64) << 1
            | u64::from(key.submitter.is_some()),
    );
    state.write(submitter.as_bytes());
    state.write(command_id.as_bytes());
    state.finish()
}

impl Records {
    fn get(&self, key: &CommandKey, hash: u64) -> Option<&Stored> {
        let entries = &self.entries;
        self.index
            .find(hash, |&(h, i)| {
                h == hash && entries.get(i).is_some_and(|(k, _)| k == key)
            })
            .and_then(|&(_, i)| entries.get(i))
            .map(|(_, stored)| stored)
    }

    fn contains(&self, key: &CommandKey, hash: u64) -> bool {
        self.get(key, hash).is_some()
    }

    /// Inserts a record whose key is not in the table (checked by the
    /// caller, under the same lock).
    fn insert_new(&mut self, key: CommandKey, stored: Stored, hash: u64) {
        let at = self.entries.len();
        self.entries.push((key, stored));
        self.index.insert_unique(hash, (hash, at), |&(h, _)| h);
    }

    /// The record of `key`, whose lot hashes to `lot_hash` (see
    /// [`key_hash`]).
    fn record(&self, key: &CommandKey, lot_hash: u64) -> Option<CommandRecord> {
        self.get(key, key_hash(lot_hash, key))
            .map(|r| r.record(key))
    }
}

/// A shard's lots by the hash of their id: the hash that chose the shard
/// finds the lot in it, so an entry hashes its lot's id once.
#[derive(Debug, Default)]
struct Lots(hashbrown::HashTable<LotEntry>);

impl Lots {
    fn get(&self, hash: u64, lot_id: &LotId) -> Option<&LotEntry> {
        self.0
            .find(hash, |e| e.hash == hash && e.lot.lot_id == *lot_id)
    }

    fn get_mut(&mut self, hash: u64, lot_id: &LotId) -> Option<&mut LotEntry> {
        self.0
            .find_mut(hash, |e| e.hash == hash && e.lot.lot_id == *lot_id)
    }

    /// Inserts a lot that is not in the table (checked by the caller,
    /// under the same lock).
    fn insert_new(&mut self, entry: LotEntry) {
        self.0.insert_unique(entry.hash, entry, |e| e.hash);
    }
}

/// Where a lot lives: the hash of its id, and the shard that hash picks.
#[derive(Debug, Clone, Copy)]
struct Located {
    hash: u64,
    shard: usize,
}

/// One shard: its lots and the idempotency records scoped to them.
#[derive(Debug, Default)]
struct Shard {
    lots: Lots,
    commands: Records,
}

/// Indexes across lots, changed only when a lot is created or its status
/// or due time changes (an ordinary bid changes neither).
#[derive(Debug, Default)]
struct Index {
    /// Creation order → lot and its status.
    listing: BTreeMap<u64, (LotId, LotStatus)>,
    by_status: FastMap<LotStatus, BTreeSet<u64>>,
    by_seller: FastMap<ParticipantId, BTreeSet<u64>>,
    due: BTreeSet<(Timestamp, LotId)>,
}

/// The lot store in memory: real compare-and-set semantics, nothing
/// durable (acknowledged writes live as long as the value). For tests, the
/// `memory` store of the server host, and embedding.
#[derive(Debug)]
pub struct MemoryLotStore {
    shards: Box<[Mutex<Shard>]>,
    /// Lot-creation records (scoped to the seller, not to a lot).
    creations: Mutex<Records>,
    index: Mutex<Index>,
    next_order: AtomicU64,
    lot_count: AtomicUsize,
    hasher: foldhash::fast::FixedState,
}

impl Default for MemoryLotStore {
    fn default() -> Self {
        Self {
            shards: (0..STORE_SHARDS).map(|_| Mutex::default()).collect(),
            creations: Mutex::default(),
            index: Mutex::default(),
            next_order: AtomicU64::new(0),
            lot_count: AtomicUsize::new(0),
            hasher: foldhash::fast::FixedState::with_seed(0x6861_6d6d_6572),
        }
    }
}

/// Entries are validated before any write, so a panic while a lock was
/// held cannot have left half a commit behind.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryLotStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hash of `lot_id` and its shard. The shard is taken from the
    /// hash's upper half: the shard's table places entries by the lower
    /// bits and tells them apart by the top seven, which stay as varied as
    /// if the shards were not there.
    fn locate(&self, lot_id: &LotId) -> Located {
        let hash = self.hasher.hash_one(lot_id);
        // `x % len` < len.
        let shard = usize::try_from((hash >> 32) % self.shards.len() as u64).unwrap_or(0);
        Located { hash, shard }
    }

    fn shard_index(&self, lot_id: &LotId) -> usize {
        self.locate(lot_id).shard
    }

    /// The shard of `lot_id`, locked, and the lot's hash in it.
    fn shard(&self, lot_id: &LotId) -> (MutexGuard<'_, Shard>, u64) {
        let at = self.locate(lot_id);
        (lock(&self.shards[at.shard]), at.hash)
    }

    /// Checks and writes one entry under every lock it touches.
    /// Takes what it writes out of `commit` (a lot state is a few hundred
    /// bytes: moving whole entries around copied them at every call).
    fn commit_one(&self, commit: &mut LotCommit) -> Result<(), StoreError> {
        let at = self.locate(&commit.lot_id);
        let home = at.shard;
        // Records whose key is scoped to another lot (never from the
        // service, but the port allows them) or to a seller (lot creation).
        let mut needed: SmallVec<[usize; 2]> = SmallVec::new();
        needed.push(home);
        let mut creations = false;
        for record in &commit.commands {
            match &record.key.lot_id {
                Some(l) if l == &commit.lot_id => {}
                Some(l) => needed.push(self.shard_index(l)),
                None => creations = true,
            }
        }
        needed.sort_unstable();
        needed.dedup();
        let mut guards: SmallVec<[(usize, MutexGuard<'_, Shard>); 2]> =
            needed.iter().map(|&i| (i, lock(&self.shards[i]))).collect();
        let mut created = creations.then(|| lock(&self.creations));
        // Each record's key is hashed once, here, for the checks and the
        // insert alike (with the lot's hash computed above).
        let hashes: SmallVec<[u64; 16]> = commit
            .commands
            .iter()
            .map(|r| {
                let lot_hash = match &r.key.lot_id {
                    Some(l) if *l == commit.lot_id => at.hash,
                    Some(l) => self.locate(l).hash,
                    None => 0,
                };
                key_hash(lot_hash, &r.key)
            })
            .collect();
        self.check(commit, &hashes, at, &guards, created.as_deref())?;
        self.write(commit, &hashes, at, &mut guards, created.as_deref_mut());
        Ok(())
    }

    /// Everything that could refuse `commit`, checked before any write.
    fn check(
        &self,
        commit: &LotCommit,
        hashes: &[u64],
        at: Located,
        guards: &[(usize, MutexGuard<'_, Shard>)],
        creations: Option<&Records>,
    ) -> Result<(), StoreError> {
        if commit.events.len() > MAX_RECORDS_PER_ENTRY
            || commit.bids.len() > MAX_RECORDS_PER_ENTRY
            || commit.commands.len() > MAX_RECORDS_PER_ENTRY
        {
            return Err(StoreError::TooLarge {
                what: "records per commit entry",
            });
        }
        let shard_of = |i: usize| -> &Shard {
            let at = guards.partition_point(|(g, _)| *g < i);
            &guards[at].1
        };
        let home = at.shard;
        let stored = shard_of(home).lots.get(at.hash, &commit.lot_id);
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
        commit
            .check()
            .map_err(|e| StoreError::Corrupt(Box::new(e)))?;
        let known = |key: &CommandKey, hash: u64| match &key.lot_id {
            Some(l) if *l == commit.lot_id => shard_of(home).commands.contains(key, hash),
            Some(l) => shard_of(self.shard_index(l)).commands.contains(key, hash),
            None => creations.is_some_and(|c| c.contains(key, hash)),
        };
        let duplicate_within = match commit.commands.len() {
            0 | 1 => None,
            n => {
                // Hashes first; only if two are equal, whole keys.
                let mut seen = FastSet::with_capacity_and_hasher(n, Default::default());
                if hashes.iter().all(|h| seen.insert(*h)) {
                    None
                } else {
                    let mut keys = FastSet::with_capacity_and_hasher(n, Default::default());
                    commit.commands.iter().find(|r| !keys.insert(&r.key))
                }
            }
        };
        if let Some(record) = commit
            .commands
            .iter()
            .zip(hashes)
            .find(|(r, h)| known(&r.key, **h))
            .map(|(r, _)| r)
            .or(duplicate_within)
        {
            return Err(StoreError::DuplicateCommand(record.key.clone()));
        }
        if stored.is_some_and(|e| e.events.len() + commit.events.len() > MAX_EVENTS_PER_LOT) {
            return Err(StoreError::TooLarge {
                what: "events per lot",
            });
        }
        if stored.is_none()
            && commit.lot.is_some()
            && self.lot_count.load(Ordering::Relaxed) >= MAX_LOTS
        {
            return Err(StoreError::TooLarge {
                what: "lots in the memory store",
            });
        }
        Ok(())
    }

    /// Writes a checked commit.
    fn write(
        &self,
        commit: &mut LotCommit,
        hashes: &[u64],
        located: Located,
        guards: &mut [(usize, MutexGuard<'_, Shard>)],
        mut creations: Option<&mut Records>,
    ) {
        fn at(guards: &[(usize, MutexGuard<'_, Shard>)], i: usize) -> usize {
            guards.partition_point(|(g, _)| *g < i)
        }
        let home = located.shard;
        for (record, &hash) in std::mem::take(&mut commit.commands).into_iter().zip(hashes) {
            let (key, stored) = Stored::store(record);
            match &key.lot_id {
                Some(l) => {
                    let shard = if *l == commit.lot_id {
                        home
                    } else {
                        self.shard_index(l)
                    };
                    let slot = at(guards, shard);
                    guards[slot].1.commands.insert_new(key, stored, hash);
                }
                None => {
                    if let Some(c) = creations.as_deref_mut() {
                        c.insert_new(key, stored, hash);
                    }
                }
            }
        }
        let Some(lot) = commit.lot.take() else {
            return;
        };
        let due = next_due(&lot);
        let shard = &mut guards[at(guards, home)].1;
        match shard.lots.get_mut(located.hash, &commit.lot_id) {
            Some(entry) => {
                let order = entry.order;
                // Indexes change only when the status or due time does (an
                // ordinary bid changes neither).
                if entry.lot.status != lot.status || entry.due != due {
                    let mut index = lock(&self.index);
                    if entry.lot.status != lot.status {
                        if let Some(set) = index.by_status.get_mut(&entry.lot.status) {
                            set.remove(&order);
                        }
                        index.by_status.entry(lot.status).or_default().insert(order);
                        if let Some(listed) = index.listing.get_mut(&order) {
                            listed.1 = lot.status;
                        }
                    }
                    if entry.due != due {
                        if let Some(at) = entry.due {
                            index.due.remove(&(at, commit.lot_id.clone()));
                        }
                        if let Some(at) = due {
                            index.due.insert((at, commit.lot_id.clone()));
                        }
                    }
                }
                let bids = std::mem::take(&mut commit.bids);
                entry.bids.add(&entry.events, &commit.events, bids);
                entry.events.append(std::mem::take(&mut commit.events));
                entry.due = due;
                entry.lot = lot;
            }
            None => {
                let order = self.next_order.fetch_add(1, Ordering::Relaxed);
                self.lot_count.fetch_add(1, Ordering::Relaxed);
                {
                    let mut index = lock(&self.index);
                    index
                        .listing
                        .insert(order, (commit.lot_id.clone(), lot.status));
                    index
                        .by_seller
                        .entry(lot.seller_id().clone())
                        .or_default()
                        .insert(order);
                    index.by_status.entry(lot.status).or_default().insert(order);
                    if let Some(at) = due {
                        index.due.insert((at, commit.lot_id.clone()));
                    }
                }
                shard.lots.insert_new(LotEntry {
                    hash: located.hash,
                    order,
                    lot,
                    bids: BidHistory::new(&commit.events, std::mem::take(&mut commit.bids)),
                    events: std::mem::take(&mut commit.events).into(),
                    due,
                });
            }
        }
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

/// Up to `size` items of `items`, and whether more follow.
fn page<T>(mut items: impl Iterator<Item = T>, size: usize) -> (Vec<T>, bool) {
    let page: Vec<T> = items.by_ref().take(size).collect();
    let more = items.next().is_some();
    (page, more)
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

impl Index {
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
        let (shard, hash) = self.shard(lot_id);
        Ok(shard.lots.get(hash, lot_id).map(|e| e.lot.clone()))
    }

    async fn commit(&self, mut batch: Vec<LotCommit>) -> Vec<Result<(), StoreError>> {
        batch
            .iter_mut()
            .enumerate()
            .map(|(i, commit)| {
                if i >= MAX_COMMIT_BATCH {
                    return Err(StoreError::TooLarge {
                        what: "entries per commit call",
                    });
                }
                self.commit_one(commit)
            })
            .collect()
    }

    async fn command(&self, key: &CommandKey) -> Result<Option<CommandRecord>, StoreError> {
        Ok(match &key.lot_id {
            Some(l) => {
                let (shard, hash) = self.shard(l);
                shard.commands.record(key, hash)
            }
            None => lock(&self.creations).record(key, 0),
        })
    }

    async fn commands(
        &self,
        keys: &[CommandKey],
    ) -> Result<Vec<Option<CommandRecord>>, StoreError> {
        // One lock per run of keys of the same shard (a worker's batch is
        // mostly a few lots).
        let mut found = Vec::with_capacity(keys.len());
        let mut held: Option<(usize, MutexGuard<'_, Shard>)> = None;
        let mut last: Option<(&LotId, Located)> = None;
        for key in keys {
            let record = match &key.lot_id {
                Some(l) => {
                    let at = match last {
                        Some((lot, at)) if lot == l => at,
                        _ => self.locate(l),
                    };
                    last = Some((l, at));
                    let i = at.shard;
                    let shard = match &mut held {
                        Some((h, guard)) if *h == i => guard,
                        slot => {
                            *slot = None;
                            &mut slot.insert((i, lock(&self.shards[i]))).1
                        }
                    };
                    shard.commands.record(key, at.hash)
                }
                None => {
                    held = None;
                    lock(&self.creations).record(key, 0)
                }
            };
            found.push(record);
        }
        Ok(found)
    }

    async fn events_after(
        &self,
        lot_id: &LotId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedEvent>, StoreError> {
        let (shard, hash) = self.shard(lot_id);
        let Some(entry) = shard.lots.get(hash, lot_id) else {
            return Ok(Vec::new());
        };
        let start = entry.events.partition_point(|e| e.sequence <= after);
        Ok(entry
            .events
            .iter_from(start)
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
        let (shard, hash) = self.shard(lot_id);
        let Some(entry) = shard.lots.get(hash, lot_id) else {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        };
        let size = page_size(limit);
        let (items, more) = match &entry.bids {
            BidHistory::Kept(kept) => {
                let start = kept.partition_point(|b| b.sequence <= after);
                page(kept.iter_from(start).cloned(), size)
            }
            BidHistory::Implied { last_bid } => {
                let start = entry.events.partition_point(|e| e.sequence <= after);
                let log = entry.events.iter_from(start);
                let bids = log.take_while(|e| e.sequence <= *last_bid);
                let items: Vec<BidRecord> =
                    bids.filter_map(BidRecord::implied_by).take(size).collect();
                let more = items.last().is_some_and(|b| b.sequence < *last_bid);
                (items, more)
            }
        };
        let next_cursor = match items.last() {
            Some(last) if more => Some(encode_cursor(BIDS_CURSOR, last.sequence)),
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
        // The page's lots from the indexes (which hold every lot's status),
        // then their states from the shards: the index lock is never held
        // while a shard's is taken (writers take them the other way round).
        let listed: Vec<(u64, LotId)> = {
            let index = lock(&self.index);
            index
                .candidates(query, after)
                .filter_map(|order| {
                    let (lot_id, status) = index.listing.get(&order)?;
                    query
                        .status
                        .is_none_or(|s| *status == s)
                        .then(|| (order, lot_id.clone()))
                })
                .take(size + 1)
                .collect()
        };
        let more = listed.len() > size;
        let mut items = Vec::with_capacity(size.min(listed.len()));
        let mut last = None;
        for (order, lot_id) in listed.into_iter().take(size) {
            // A lot whose status changed since the index was read (a commit
            // in flight) is left out, as it would be a moment later.
            let (shard, hash) = self.shard(&lot_id);
            if let Some(entry) = shard.lots.get(hash, &lot_id)
                && query.status.is_none_or(|s| entry.lot.status == s)
            {
                items.push(entry.lot.clone());
            }
            last = Some(order);
        }
        let next_cursor = match (more, last) {
            (true, Some(order)) => Some(encode_cursor(LOTS_CURSOR, order)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<LotId>, StoreError> {
        Ok(lock(&self.index)
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
    use crate::chunked::{FIRST_CHUNK, LAST_CHUNK};
    use hammerfall_engine::testkit::fixtures::{
        bid_command, english_lot, fixed_price_lot, lot_id, step, t0,
    };
    use hammerfall_ports::Duration;
    use std::error::Error as _;

    /// Sequences around every chunk edge of a log of `n` events (the
    /// event at position p has sequence p + 1), from 0 to past the end.
    fn around_chunk_edges(n: u64) -> Vec<u64> {
        crate::chunked::around_chunk_edges(n, &[n + 1000, u64::MAX])
    }

    /// A lot with a long log (several fixed-size chunks), committed one
    /// bid at a time: its events and bid records.
    async fn long_lot(store: &MemoryLotStore) -> (LotId, Vec<SequencedEvent>, Vec<BidRecord>) {
        long_lot_altered(store, None).await
    }

    /// [`long_lot`], but bid `altered` (if any) is committed with a bid
    /// record its event does not imply (placed a second later), as the
    /// port allows a writer to: the store keeps the history as given from
    /// then on.
    async fn long_lot_altered(
        store: &MemoryLotStore,
        altered: Option<usize>,
    ) -> (LotId, Vec<SequencedEvent>, Vec<BidRecord>) {
        let created = english_lot("lot-1", "sam", t0(), None, t0() + Duration::days(30));
        let mut events = created.commit.events.clone();
        let mut bids = Vec::new();
        let mut state = created.lot.clone();
        let mut commits = vec![created.commit];
        for i in 0..600 {
            let bidder = if i % 2 == 0 { "bidder-a" } else { "bidder-b" };
            let command = bid_command(bidder, 2_000 + 100_000 * i, &format!("bid-{i}"));
            let mut step = step(&state, command, &format!("cmd-{i}"), t0());
            assert!(!step.commit.bids.is_empty(), "bid {i} accepted");
            if altered.is_some_and(|a| usize::try_from(i).ok() == Some(a)) {
                step.commit.bids[0].placed_at += Duration::seconds(1);
                let implied = BidRecord::are_implied_by(&step.commit.events, &step.commit.bids);
                assert!(!implied, "bid {i} altered");
            }
            events.extend(step.commit.events.iter().cloned());
            bids.extend(step.commit.bids.iter().cloned());
            state = step.lot;
            commits.push(step.commit);
        }
        // One entry per call, in order, as the bids were decided.
        for commit in commits {
            assert!(store.commit(vec![commit]).await.iter().all(Result::is_ok));
        }
        assert!(
            events.len() > 2 * LAST_CHUNK + FIRST_CHUNK,
            "{}",
            events.len()
        );
        assert!(bids.len() > 2 * LAST_CHUNK, "{}", bids.len());
        (lot_id("lot-1"), events, bids)
    }

    #[tokio::test]
    async fn events_read_back_across_chunk_edges() {
        let store = MemoryLotStore::new();
        let (lot, all, _) = long_lot(&store).await;
        let n = all.len() as u64;
        for after in around_chunk_edges(n) {
            for limit in [1, 2, 5, 0, MAX_PAGE_SIZE] {
                let got = store
                    .events_after(&lot, after, limit)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let expected: Vec<SequencedEvent> = all
                    .iter()
                    .filter(|e| e.sequence > after)
                    .take(page_size(limit))
                    .cloned()
                    .collect();
                assert_eq!(got, expected, "after {after}, limit {limit}");
            }
        }
        let last = store
            .events_after(&lot, n - 1, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(last.iter().map(|e| e.sequence).collect::<Vec<_>>(), [n]);
        let past = store.events_after(&lot, n, 10).await;
        assert!(past.is_ok_and(|p| p.is_empty()));
    }

    #[tokio::test]
    async fn bid_pages_read_back_across_chunk_edges() {
        // Implied by the events throughout; kept as given from the first
        // bid; and from a bid in the middle, after 300 implied ones.
        for altered in [None, Some(0), Some(300)] {
            bid_pages_read_back(altered).await;
        }
    }

    async fn bid_pages_read_back(altered: Option<usize>) {
        let store = MemoryLotStore::new();
        let (lot, _, all) = long_lot_altered(&store, altered).await;
        let implied = {
            let (shard, hash) = store.shard(&lot);
            let entry = shard.lots.get(hash, &lot);
            entry.map(|e| matches!(e.bids, BidHistory::Implied { .. }))
        };
        assert_eq!(implied, Some(altered.is_none()), "{altered:?}");
        // Every page walk, from the start and from cursors at chunk edges
        // of the bid list, returns exactly the records after the cursor.
        let mut cursors: Vec<u64> = around_chunk_edges(all.len() as u64)
            .into_iter()
            .filter_map(|i| {
                let i = usize::try_from(i).ok()?;
                all.get(i.checked_sub(1)?).map(|b| b.sequence)
            })
            .collect();
        cursors.push(0);
        cursors.push(u64::MAX / 2);
        for after in cursors {
            for limit in [1, 3, 0, MAX_PAGE_SIZE] {
                let mut cursor = (after > 0).then(|| encode_cursor(BIDS_CURSOR, after));
                let mut got = Vec::new();
                loop {
                    let page = store
                        .bids(&lot, cursor.as_ref(), limit)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert!(page.items.len() <= page_size(limit));
                    got.extend(page.items);
                    match page.next_cursor {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                    if limit == 1 && got.len() > 5 {
                        break;
                    }
                }
                let expected: Vec<BidRecord> = all
                    .iter()
                    .filter(|b| b.sequence > after)
                    .take(if limit == 1 { got.len() } else { usize::MAX })
                    .cloned()
                    .collect();
                assert_eq!(got, expected, "{altered:?}: after {after}, limit {limit}");
            }
        }
        let first = store
            .bids(&lot, None, 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.items, all[..1]);
        let last = encode_cursor(BIDS_CURSOR, all[all.len() - 2].sequence);
        let page = store
            .bids(&lot, Some(&last), 5)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (page.items.as_slice(), page.next_cursor),
            (&all[all.len() - 1..], None)
        );
    }

    #[tokio::test]
    async fn records_are_found_under_whichever_lot_their_key_names() {
        // A record scoped to another lot than its entry's (the port allows
        // it) lives in that lot's shard, hashed with that lot's hash.
        let store = MemoryLotStore::new();
        let first = english_lot("lot-1", "sam", t0(), None, t0() + Duration::days(1));
        let other = english_lot("lot-2", "sam", t0(), None, t0() + Duration::days(1));
        let mut bid = step(&first.lot, bid_command("ann", 2_000, "b1"), "k1", t0());
        let mut foreign = bid.commit.commands[0].clone();
        foreign.key.lot_id = Some(lot_id("lot-2"));
        bid.commit.commands.push(foreign.clone());
        let created = store.commit(vec![first.commit, other.commit]).await;
        assert!(created.iter().all(Result::is_ok));
        let own = bid.commit.commands[0].clone();
        assert!(store.commit(vec![bid.commit]).await[0].is_ok());
        for record in [&own, &foreign] {
            let found = store
                .command(&record.key)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(found.as_ref(), Some(record));
        }
        let creation = hammerfall_engine::testkit::fixtures::creation_key("sam", "lot-2");
        let mut missing = own.key.clone();
        missing.command_id = hammerfall_engine::testkit::fixtures::cid("k2");
        let keys = [
            own.key.clone(),
            foreign.key.clone(),
            creation.clone(),
            own.key.clone(),
            missing,
            foreign.key.clone(),
        ];
        let found = store
            .commands(&keys)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let kinds: Vec<Option<&CommandKey>> =
            found.iter().map(|r| r.as_ref().map(|r| &r.key)).collect();
        assert_eq!(
            kinds,
            [
                Some(&own.key),
                Some(&foreign.key),
                Some(&creation),
                Some(&own.key),
                None,
                Some(&foreign.key)
            ]
        );
        // The foreign key is known: a second entry recording it is refused.
        let again = step(&bid.lot, bid_command("bob", 3_000, "b2"), "k9", t0());
        let mut again = again.commit;
        let mut repeat = foreign.clone();
        repeat.lot_id = lot_id("lot-1");
        again.commands.push(repeat);
        assert!(matches!(
            store.commit(vec![again]).await.as_slice(),
            [Err(StoreError::DuplicateCommand(key))] if *key == foreign.key
        ));
    }

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
            [Err(StoreError::Corrupt(e))] if e.is::<hammerfall_ports::InvalidCommit>()
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
