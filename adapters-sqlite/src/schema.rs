//! The schema, as versioned migrations in code. `PRAGMA user_version`
//! holds the version a file is at; `PRAGMA application_id` marks the file
//! as Hammerfall's, so another program's database is refused rather than
//! written into.
//!
//! A migration is appended, never edited: migration `n` (1-based) takes a
//! file from version `n - 1` to `n`, inside the same transaction that sets
//! `user_version`, so a crash mid-migration leaves the old version.

use rusqlite::Connection;

/// `PRAGMA application_id` of a Hammerfall store: "HFLS" in ASCII.
pub const APPLICATION_ID: i32 = 0x4846_4C53;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: lots, their log, idempotency records, the outbox position, the
    // ledger.
    "
    -- One row per lot: the changing state as JSON plus the columns the
    -- listings filter on. `key` is the creation order and the lots cursor.
    -- Small rows: a group commit rewrites many of them.
    CREATE TABLE lots (
        key      INTEGER PRIMARY KEY,
        id       TEXT    NOT NULL UNIQUE,
        seller   TEXT    NOT NULL,
        status   TEXT    NOT NULL,
        next_due INTEGER,              -- engine::next_due, Unix ns; NULL: nothing due
        sequence INTEGER NOT NULL,
        state    BLOB    NOT NULL
    );
    CREATE INDEX lots_by_status ON lots (status, key);
    CREATE INDEX lots_by_seller ON lots (seller, key);
    CREATE INDEX lots_by_due ON lots (next_due, key) WHERE next_due IS NOT NULL;
    -- A lot's terms, fixed at creation: written once.
    CREATE TABLE lot_terms (
        lot   INTEGER PRIMARY KEY,
        terms BLOB    NOT NULL
    );

    -- The lots' event logs, one row per chunk of a committed entry's
    -- events (with the bid records among them). Rows are appended in
    -- commit order, so `position` is also the outbox position; the
    -- (lot, last_sequence) index serves events_after and the bid history.
    CREATE TABLE log (
        position       INTEGER PRIMARY KEY,
        lot            INTEGER NOT NULL,
        first_sequence INTEGER NOT NULL,
        last_sequence  INTEGER NOT NULL,
        events         BLOB    NOT NULL,   -- JSON array of SequencedEvent
        bids           BLOB                -- JSON array of BidRecord; NULL: none
    );
    CREATE UNIQUE INDEX log_by_lot ON log (lot, last_sequence);

    -- Idempotency records under their canonical key (codec::command_key).
    -- The row id is the key's 64-bit FNV-1a hash (the next free id on a
    -- collision, see commit.rs): one B-tree, no secondary index.
    CREATE TABLE commands (
        slot INTEGER PRIMARY KEY,
        key  TEXT NOT NULL,
        body BLOB NOT NULL
    );

    -- Named counters: the outbox relay's position.
    CREATE TABLE meta (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- Bidder credit (SPEC §3.1). Amounts as exact decimal text.
    CREATE TABLE credit_accounts (
        participant  TEXT PRIMARY KEY,
        currency     TEXT NOT NULL,
        credit_limit TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE credit_holds (
        lot         TEXT PRIMARY KEY,
        participant TEXT NOT NULL,
        amount      TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX credit_holds_by_participant ON credit_holds (participant);
    CREATE TABLE credit_consumed (
        lot TEXT PRIMARY KEY
    ) WITHOUT ROWID;
    ",
];

/// Brings a file at `from` up to [`SCHEMA_VERSION`]. Runs inside the
/// caller's transaction.
pub(crate) fn migrate(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    let start = usize::try_from(from.max(0)).unwrap_or(usize::MAX);
    for sql in MIGRATIONS.iter().skip(start) {
        conn.execute_batch(sql)?;
    }
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}
