//! The `LotStore` port: load a lot, commit its changes atomically with
//! compare-and-set on its sequence, and answer the read queries hosts need.

use crate::command::Command;
use crate::event::SequencedEvent;
use crate::ids::{BidId, CommandId, LotId, ParticipantId, ReservationId};
use crate::lot::{BidOutcome, BidRecord, Lot, LotStatus};
use crate::money::Money;
use crate::rejection::Rejection;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// Largest page any query returns (SPEC §7: page size ≤ 1000; larger
/// requests are clamped).
pub const MAX_PAGE_SIZE: usize = 1000;
/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// Where an idempotency key is scoped (SPEC §5): commands on an existing lot
/// by the lot and the submitter; lot creation by the seller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandKey {
    /// The lot, or None for lot creation (scoped to the seller alone).
    pub lot_id: Option<LotId>,
    /// The submitter (None for timer commands).
    pub submitter: Option<ParticipantId>,
    /// The client's key.
    pub command_id: CommandId,
}

/// What an accepted command produced, enough for a host to rebuild the
/// original response (with the lot as of `sequence`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Accepted {
    /// A bid: its id, whether it leads, and the bidder's maximum.
    Bid {
        /// The bid.
        bid_id: BidId,
        /// Leading or outbid when placed.
        outcome: BidOutcome,
        /// The bidder's maximum.
        your_maximum: Money,
    },
    /// A reservation.
    Reservation {
        /// The reservation.
        reservation_id: ReservationId,
    },
    /// Any other command: the response is the lot (or its settlement).
    Lot,
}

/// The recorded outcome of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "status",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum CommandOutcome {
    /// Accepted; the lot's sequence right after it.
    Done {
        /// What it produced.
        result: Accepted,
        /// The lot's sequence after the command.
        sequence: u64,
    },
    /// Rejected (recorded so a retry gets the same "no").
    Rejected {
        /// Why.
        rejection: Rejection,
        /// The lot's sequence when it was judged.
        sequence: u64,
    },
}

/// The idempotency record of one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandRecord {
    /// Its scope and key.
    pub key: CommandKey,
    /// The lot it applied to (for creation: the new lot).
    pub lot_id: LotId,
    /// The command as first submitted (to detect a reused key).
    pub command: Command,
    /// What happened.
    pub outcome: CommandOutcome,
    /// When it was judged.
    pub recorded_at: Timestamp,
}

/// Everything one lot's commit writes, atomically: the new state (if it
/// changed), its events, its bid records and the commands' idempotency
/// records. Committed only if the stored lot's sequence still equals
/// `expected_sequence` (0 for a new lot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotCommit {
    /// The lot.
    pub lot_id: LotId,
    /// The sequence the writer read (compare-and-set token; 0 = create).
    pub expected_sequence: u64,
    /// The state after the events (None when no event was emitted and the
    /// commit only records rejected commands).
    pub lot: Option<Lot>,
    /// New events, consecutive from `expected_sequence + 1`.
    pub events: Vec<SequencedEvent>,
    /// New bid history records.
    pub bids: Vec<BidRecord>,
    /// Idempotency records of the commands judged.
    pub commands: Vec<CommandRecord>,
}

/// A commit entry that contradicts itself: a bug in its writer, never a
/// client's fault. Stores refuse it inside [`StoreError::Corrupt`] before
/// writing anything, so a bad entry cannot leave a log that no longer
/// replays to its state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inconsistent commit for lot {lot_id}: {reason}")]
pub struct InvalidCommit {
    /// The entry's lot.
    pub lot_id: LotId,
    /// What is inconsistent.
    pub reason: &'static str,
}

impl LotCommit {
    /// Checks the entry's own consistency, the part of a commit every store
    /// MUST refuse alike (one rule set, so the stores cannot drift apart):
    /// events numbered from `expected_sequence + 1`; events only with the
    /// state they lead to, that state being this lot's at the last event's
    /// sequence; bid records belonging to the new events, in order; command
    /// records of this lot only. What needs the stored lot (the
    /// compare-and-set, known command keys) is the store's own check.
    pub fn check(&self) -> Result<(), InvalidCommit> {
        let invalid = |reason| InvalidCommit {
            lot_id: self.lot_id.clone(),
            reason,
        };
        let expected = self.expected_sequence;
        let numbered = self
            .events
            .iter()
            .zip(1..)
            .all(|(e, i)| expected.checked_add(i) == Some(e.sequence));
        if !numbered {
            return Err(invalid(
                "events must be numbered from expected_sequence + 1",
            ));
        }
        let last = self.events.last().map_or(expected, |e| e.sequence);
        match &self.lot {
            None if !self.events.is_empty() => {
                return Err(invalid("events without the state they lead to"));
            }
            Some(lot) if lot.lot_id != self.lot_id => return Err(invalid("state of another lot")),
            Some(lot) if lot.sequence != last || lot.sequence == 0 => {
                return Err(invalid("state's sequence is not its last event's"));
            }
            _ => {}
        }
        let mut prev = expected;
        for bid in &self.bids {
            if bid.sequence <= prev || bid.sequence > last {
                return Err(invalid(
                    "bid records must belong to the new events, in order",
                ));
            }
            prev = bid.sequence;
        }
        if self.commands.iter().any(|c| c.lot_id != self.lot_id) {
            return Err(invalid("command record of another lot"));
        }
        Ok(())
    }
}

/// A store failure. Each variant says whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The lot's sequence is not `expected` any more (another writer moved
    /// it), or a new lot's id exists. Reload the lot and decide again.
    #[error("lot {lot_id} changed concurrently (expected sequence {expected})")]
    Conflict {
        /// The lot.
        lot_id: LotId,
        /// The sequence the writer expected.
        expected: u64,
    },
    /// A command record with this key exists already (a concurrent duplicate):
    /// reload and answer from the stored record.
    #[error("command {0:?} was recorded concurrently")]
    DuplicateCommand(CommandKey),
    /// The commit is larger than the store takes in one transaction
    /// (DynamoDB: 100 actions, 4 MB). Not retryable as is: split the batch.
    #[error("commit too large: {what}")]
    TooLarge {
        /// Which limit.
        what: &'static str,
    },
    /// Transient (throttled, timed out, locked). Retry with backoff; 503 if it persists.
    #[error("store temporarily unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data could not be read back (corruption, newer schema). Not retryable; 500.
    #[error("stored data is unreadable: {0}")]
    Corrupt(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// True if retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Conflict { .. }
                | StoreError::DuplicateCommand(_)
                | StoreError::Unavailable(_)
        )
    }
}

/// An opaque position in a listing, handed back by the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in listing order.
    pub items: Vec<T>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<Cursor>,
}

/// Filter for [`LotStore::lots`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LotQuery {
    /// Only lots in this status.
    pub status: Option<LotStatus>,
    /// Only lots of this seller.
    pub seller_id: Option<ParticipantId>,
    /// Continue after this cursor.
    pub cursor: Option<Cursor>,
    /// Page size, clamped to [`MAX_PAGE_SIZE`].
    pub limit: usize,
}

/// The lot store. Implementations: in memory, SQLite, DynamoDB.
///
/// Contract (the port contract suite checks it):
/// - `commit` MUST apply each [`LotCommit`] atomically (state, events, bids
///   and command records together, or nothing) and MUST refuse it with
///   [`StoreError::Conflict`] unless the stored sequence equals
///   `expected_sequence` (for 0: the lot must not exist).
/// - Entries of one `commit` call are independent: each gets its own result,
///   in order. A store MAY write them in one transaction (group commit).
/// - A command record's key MUST be unique: a second record with the same
///   [`CommandKey`] fails with [`StoreError::DuplicateCommand`].
/// - When `commit` returns `Ok` for an entry, it MUST be durable to the
///   store's stated level (acknowledged writes are never lost).
/// - Reads MUST NOT change state and MUST reflect every acknowledged commit.
pub trait LotStore: Send + Sync + 'static {
    /// The lot, if it exists.
    fn load(&self, lot_id: &LotId) -> impl Future<Output = Result<Option<Lot>, StoreError>> + Send;

    /// Commits a batch; one result per entry, in order.
    fn commit(
        &self,
        batch: Vec<LotCommit>,
    ) -> impl Future<Output = Vec<Result<(), StoreError>>> + Send;

    /// The idempotency record under `key`, if any.
    fn command(
        &self,
        key: &CommandKey,
    ) -> impl Future<Output = Result<Option<CommandRecord>, StoreError>> + Send;

    /// The idempotency records under `keys`, in the same order. The service
    /// asks once per batch; stores with a round trip per call (SQLite's
    /// reader threads, DynamoDB) override this to answer all keys at once.
    fn commands(
        &self,
        keys: &[CommandKey],
    ) -> impl Future<Output = Result<Vec<Option<CommandRecord>>, StoreError>> + Send {
        async move {
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                found.push(self.command(key).await?);
            }
            Ok(found)
        }
    }

    /// Events of a lot with sequence > `after`, ascending, at most `limit`.
    fn events_after(
        &self,
        lot_id: &LotId,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<SequencedEvent>, StoreError>> + Send;

    /// A lot's bid history in sequence order, paged.
    fn bids(
        &self,
        lot_id: &LotId,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<BidRecord>, StoreError>> + Send;

    /// Lots matching `query`, paged.
    fn lots(&self, query: &LotQuery) -> impl Future<Output = Result<Page<Lot>, StoreError>> + Send;

    /// Lots with a due transition (open, close, reservation expiry, payment
    /// deadline) at or before `now`, earliest first, at most `limit`.
    fn due(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LotId>, StoreError>> + Send;
}
