//! # hammerfall-adapters-sqlite
//!
//! The embedded durable store: [`SqliteStore`] implements the `LotStore`
//! and `CreditLedger` ports (and a transactional outbox) over one SQLite
//! file, with group commit and crash safety.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use hammerfall_adapters_sqlite::SqliteStore;
//! use std::sync::Arc;
//!
//! let store = Arc::new(SqliteStore::open("hammerfall.db")?);
//! // Hand the same Arc to the service as its `store` and its `ledger`.
//! # Ok(()) }
//! ```
//!
//! ## Threads: nothing blocks the executor
//!
//! One **writer thread** owns the only write connection; **reader
//! threads** (two by default) each own a read-only connection. Every port
//! method sends its work over a channel and awaits a oneshot reply, so an
//! async caller never blocks on SQLite. Serialization (compact binary for
//! the shapes every bid writes, JSON otherwise) happens on the
//! caller's side, so the writer thread spends its time in SQLite only.
//!
//! ## Group commit
//!
//! The service's shard workers each send their batch as ONE `commit` call;
//! the writer thread drains *every* pending request (commits from all
//! shards, ledger writes, outbox acknowledgements; up to
//! [`MAX_GROUP_ENTRIES`]) into ONE transaction, so one WAL fsync covers
//! many bids. Inside it, each commit entry does its compare-and-set on the
//! lot's sequence, then writes its command records (a key that exists
//! refuses the entry), state and log rows. Every refusal of an entry comes
//! before its first write (an entry with several command records looks
//! their keys up first); only an entry that repeats a key among its own
//! records runs under a `SAVEPOINT`. An unexpected SQLite error in the
//! middle of an entry fails the whole group (nothing of it is
//! acknowledged; every caller may retry). Replies are sent only after
//! `COMMIT` has returned and, under [`Synchronous::Full`], after an fsync
//! of the WAL that began after it: an acknowledged command is in a
//! committed, durable transaction. That fsync runs on a syncer thread of
//! the store's own while the writer builds the next transaction (one
//! fsync covers every transaction committed since the last), or on the
//! writer itself when nothing else is waiting. The WAL is checkpointed
//! after the replies, not inside the `COMMIT`.
//!
//! ## What survives what
//!
//! The file is in WAL mode; by default ([`Synchronous::Full`]) a
//! transaction is acknowledged only once its WAL frames are fsynced, as
//! with SQLite's `synchronous = FULL`:
//!
//! | event | acknowledged commands | unacknowledged commands |
//! |---|---|---|
//! | process crash (`kill -9`, panic, OOM) | all kept | each entry wholly applied or wholly absent |
//! | OS crash / power loss, `Full` | all kept (the WAL was fsynced before the reply) | as above; a committed transaction may be visible to reads up to one fsync before it is acknowledged, and lost with the power (the outbox relays only fsynced rows) |
//! | OS crash / power loss, `Normal` | the last transactions may be lost, whole | as above |
//!
//! "Wholly applied" means the lot's state, its events (gapless), its bid
//! records and its command records together (its log rows are also its
//! outbox entry). Recovery is
//! SQLite's own: the next open replays the committed WAL frames and
//! ignores an uncommitted tail.
//!
//! **Credit holds** are written through the same writer, but in their own
//! requests (the `CreditLedger` port is separate from `LotCommit`): a hold
//! is proposed before its bid's commit (next to the lot's committed hold)
//! and committed/released/shrunk/consumed after it, each write carrying
//! the lot sequence it reflects so a late one changes nothing (the saga in
//! `hammerfall_ports::credit`). A crash in between leaves a proposal the
//! lot's state does not need, or misses a release; the service repairs a
//! lot's hold from its state whenever it loads the lot (holds are a pure
//! function of the state), so ledger and lots agree again before the lot
//! takes its next command.
//!
//! **Events** reach subscribers through the service's publisher right
//! after the commit; their durable copy is the `log` table, written in the
//! same transaction and appended in commit order, so the log *is* the
//! outbox. [`SqliteStore::relay`] publishes what follows the acknowledged
//! position (a `meta` row) and moves it: what a crash left unpublished goes
//! out at least once, in order per lot.
//!
//! ## Bad files
//!
//! [`SqliteStore::open`] refuses, with a typed [`OpenError`] and without
//! writing anything: a file that is not a database, a corrupt one (with
//! [`OpenOptions::check_integrity`], else at the first damaged read), one
//! locked by another process past the busy timeout, a write-protected
//! one, one with a newer schema version, and another application's
//! database.
//!
//! ## Schema
//!
//! Versioned migrations in code (`PRAGMA user_version`, currently
//! [`SCHEMA_VERSION`]; `PRAGMA application_id` marks the file). Reads are
//! index-served: a lot by id; events and bids from the lot's `log` rows by
//! `(lot, last_sequence)` (at most [`LOG_CHUNK_EVENTS`] events a row); the
//! listings by `(status, key)` and `(seller, key)` with opaque cursors;
//! due work by `next_due` (the engine's `next_due(lot)`, kept in an
//! indexed column); idempotency records in one B-tree keyed by their
//! whole key (command id first, so time-ordered ids append).
//!
//! ## Performance
//!
//! See the crate's README for the figures of `benches/durable.rs`, where
//! the CPU and the bytes per bid go, and what bounds them.

mod codec;
mod commit;
mod compact;
mod ledger;
mod open;
mod outbox;
mod queries;
mod readers;
mod schema;
mod store;
mod syncer;
mod writer;

pub use codec::{BadRecord, InvalidCommit, InvalidCursor};
pub use commit::{LOG_CHUNK_EVENTS, LOT_CACHE_CAPACITY, MAX_RECORDS_PER_ENTRY};
pub use ledger::{BadCreditValue, MAX_HOLDS_PER_PARTICIPANT};
pub use open::{
    DEFAULT_BUSY_TIMEOUT, DEFAULT_READ_THREADS, JOURNAL_SIZE_LIMIT_BYTES, MAX_READ_THREADS,
    OpenError, OpenOptions, READER_CACHE_KIB, READER_MMAP_BYTES, Synchronous,
    WAL_AUTOCHECKPOINT_PAGES, WRITER_CACHE_KIB,
};
pub use outbox::{MAX_OUTBOX_BATCH, OutboxEntry};
pub use readers::READ_QUEUE_CAPACITY;
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use store::{MAX_COMMIT_BATCH, RelayError, SqliteStore};
pub use writer::{MAX_GROUP_ENTRIES, WRITER_QUEUE_CAPACITY};

/// Shards per core of [`service_config`].
pub const SHARDS_PER_CORE: usize = 2;

/// The sequencer shape for a service over this store: [`SHARDS_PER_CORE`]
/// shards per core, not one. A shard waits for its group's commit (the
/// writer's transaction and its fsync) before it judges its next batch,
/// so with one shard per core and many clients the writer mostly holds one
/// or two requests per transaction while the shards wait; more shards keep
/// more requests in flight. Measured on 2 cores: `cargo bench -p
/// hammerfall-adapters-sqlite --bench durable group_commit` (2,048
/// closed-loop clients) did 94–102 k durable bids/s with 2 shards, 140 k
/// with 4, 145 k with 8, 136 k with 16; the HTTP server under `wrk` with 64
/// connections (`hosts/README.md`) did 13.8–16.8 k bids/s with 2 shards
/// (six rounds), 12.6–15.1 k with 4 (two) and 12.0–14.2 k with 8 (six), a
/// spread as wide as the differences: two per core is the middle.
pub fn service_config() -> hammerfall_engine::ServiceConfig {
    let defaults = hammerfall_engine::ServiceConfig::default();
    hammerfall_engine::ServiceConfig {
        workers: defaults.workers.saturating_mul(SHARDS_PER_CORE),
        ..defaults
    }
}
