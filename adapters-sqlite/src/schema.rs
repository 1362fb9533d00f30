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
    // 2: idempotency records in append order. Version 1 kept them at their
    // key's hash slot: every insert landed on a random page of a table of
    // ~450-byte rows, so each bid dirtied (and wrote to the WAL, then to
    // the database at the checkpoint) a 4 KiB page of its own. Now the
    // records are appended (row id order) and found through a small index
    // led by the client's command id: ids that grow with time (the hosts'
    // time-ordered generated ids, the tests' sequential ones) append to it
    // too; random ones touch one small index page each, as before but
    // without the record body.
    "
    CREATE TABLE idempotency (
        id        INTEGER PRIMARY KEY,   -- append order
        command   TEXT NOT NULL,         -- CommandKey.command_id
        lot       TEXT NOT NULL,         -- CommandKey.lot_id, '' for none
        submitter TEXT NOT NULL,         -- CommandKey.submitter, '' for none
        body      BLOB NOT NULL          -- the CommandRecord less its key and,
                                         -- when it is the key's, its lot id
                                         -- (rows from version 1: all of it)
    );
    -- Version 1's canonical key is lot, submitter and command id on three
    -- lines (ids never contain a newline).
    INSERT INTO idempotency (command, lot, submitter, body)
    SELECT substr(rest, instr(rest, char(10)) + 1),
           lot,
           substr(rest, 1, instr(rest, char(10)) - 1),
           body
    FROM (SELECT slot,
                 substr(key, 1, instr(key, char(10)) - 1) AS lot,
                 substr(key, instr(key, char(10)) + 1)    AS rest,
                 body
          FROM commands)
    ORDER BY slot;
    DROP TABLE commands;
    CREATE UNIQUE INDEX idempotency_by_key ON idempotency (command, lot, submitter);
    -- From this version on, a `log` row whose bid records are exactly the
    -- ones its events imply (one per BidAccepted) stores an empty `bids`
    -- blob rather than a second copy of them (codec::implied_bids).
    ",
    // 3: versioned credit holds (the saga in ports' credit module). Each
    // lot's highest committed sequence applied to its holds, kept after a
    // release or consume (a tombstone), so an older write changes nothing;
    // and holds proposed ahead of a bid's commit, next to the lot's
    // committed hold in `credit_holds`. Lots from version 2 have no row:
    // sequence 0, any write applies (as it did).
    "
    CREATE TABLE credit_lots (
        lot      TEXT PRIMARY KEY,
        sequence INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE credit_proposals (
        lot         TEXT    NOT NULL,
        participant TEXT    NOT NULL,
        amount      TEXT    NOT NULL,
        sequence    INTEGER NOT NULL,   -- the proposed lot state's
        PRIMARY KEY (lot, participant)
    ) WITHOUT ROWID;
    CREATE INDEX credit_proposals_by_participant ON credit_proposals (participant);
    ",
    // 4: no table changes. From this version on, a lot's compact state may
    // be padded with zero bytes to a multiple of 32 (first byte 0x02, see
    // compact::STATE_PAD), so a bid's rewrite of the state keeps the row's
    // size and SQLite overwrites it in place. Files of version 3 read as
    // they did (their states start with 0x01); the version tells a build
    // that predates padded states to refuse the file (`NewerSchema`)
    // rather than find its states corrupt.
    "
    -- Padded lot states (0x02); no table changes.
    ",
    // 5: idempotency records in one B-tree keyed by their key. Version 2
    // kept a row-id table and a unique index on the key: two B-tree
    // inserts per command, plus the row id. Now the key is one blob
    // (codec::command_key: the command id, a zero byte, the lot id, a
    // zero byte, the submitter; ids never contain a zero byte, and an
    // absent lot or submitter is empty, which no id is), command id first
    // as before, so time-ordered ids still append.
    "
    CREATE TABLE command_records (
        key  BLOB PRIMARY KEY,
        body BLOB NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO command_records (key, body)
    SELECT CAST(command || char(0) || lot || char(0) || submitter AS BLOB), body
    FROM idempotency
    ORDER BY 1;
    DROP TABLE idempotency;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, codec};
    use hammerfall_engine::testkit::fixtures::{at, bid_command, english_lot, step, t0};
    use hammerfall_ports::{CommandRecord, LotStore};

    /// A version-1 command row: the record at its key's FNV-1a slot under
    /// the canonical key text (lot, submitter, command id on three lines).
    fn v1_row(conn: &Connection, record: &CommandRecord) {
        let key = &record.key;
        let text = format!(
            "{}\n{}\n{}",
            key.lot_id.as_ref().map_or("", |l| l.as_str()),
            key.submitter.as_ref().map_or("", |s| s.as_str()),
            key.command_id.as_str()
        );
        let slot = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let body = codec::encode(record).unwrap_or_else(|e| panic!("{e}"));
        conn.execute(
            "INSERT INTO commands (slot, key, body) VALUES (?1, ?2, ?3)",
            rusqlite::params![i64::from_ne_bytes(slot.to_ne_bytes()), text, body],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A store file at `path` holding `commits`, each committed alone.
    async fn written(path: &std::path::Path, commits: Vec<hammerfall_ports::LotCommit>) {
        let store = OpenOptions::default()
            .open(path)
            .unwrap_or_else(|e| panic!("{e}"));
        for commit in commits {
            let results = store.commit(vec![commit]).await;
            assert!(results.iter().all(Result::is_ok), "{results:?}");
        }
    }

    #[tokio::test]
    async fn a_version_3_file_with_unpadded_states_opens_reads_and_takes_bids() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("v3.db");
        let created = english_lot("lot-1", "sam", t0(), None, at(3_600));
        let war = hammerfall_engine::testkit::fixtures::bidding_war(&created.lot, 4, at(60));
        let mut commits = vec![created.commit.clone()];
        commits.extend(war[..2].iter().map(|s| s.commit.clone()));
        written(&path, commits).await;
        // What version 3 wrote: the state unpadded, after 0x01.
        {
            let conn = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
            let padded: Vec<u8> = conn
                .query_row("SELECT state FROM lots", [], |r| r.get(0))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(padded.first(), Some(&crate::compact::COMPACT_PADDED));
            assert_eq!(padded.len() % crate::compact::STATE_PAD, 0);
            let mut v3 = padded;
            v3[0] = crate::compact::COMPACT_V1;
            while v3.last() == Some(&0) {
                v3.pop();
            }
            // The sequence varint ends the layout; strip only padding.
            let seq = u8::try_from(war[1].lot.sequence).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(v3.last(), Some(&seq));
            conn.execute("UPDATE lots SET state = ?1", [v3])
                .unwrap_or_else(|e| panic!("{e}"));
            records_as_version_4(&conn);
            conn.pragma_update(None, "user_version", 3)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let store = OpenOptions::default()
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        let lot_id = created.lot.lot_id.clone();
        let loaded = store.load(&lot_id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            loaded.as_ref(),
            Some(&war[1].lot),
            "an unpadded state loads"
        );
        for s in &war[2..] {
            let results = store.commit(vec![s.commit.clone()]).await;
            assert!(results.iter().all(Result::is_ok), "{results:?}");
        }
        let loaded = store.load(&lot_id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.as_ref(), war.last().map(|s| &s.lot));
        drop(store);
        let conn = at_current_version(&path);
        let first: Vec<u8> = conn
            .query_row("SELECT substr(state, 1, 1) FROM lots", [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first, [crate::compact::COMPACT_PADDED]);
    }

    #[tokio::test]
    async fn a_version_1_file_migrates_and_keeps_its_idempotency_records() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("v1.db");
        let created = english_lot("lot-1", "sam", t0(), None, at(3_600));
        let bid = step(&created.lot, bid_command("ann", 2_000, "b1"), "c1", at(60));
        let records = [&created.commit.commands[0], &bid.commit.commands[0]];
        {
            let conn = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
            conn.execute_batch(MIGRATIONS[0])
                .unwrap_or_else(|e| panic!("{e}"));
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .and_then(|()| conn.pragma_update(None, "user_version", 1))
                .unwrap_or_else(|e| panic!("{e}"));
            for record in records {
                v1_row(&conn, record);
            }
        }
        let store = OpenOptions::default()
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        for record in records {
            let found = store
                .command(&record.key)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(found.as_ref(), Some(record));
        }
        // A migrated key still refuses a second record with it (here the
        // seller's creation key, reused to create another lot).
        let mut again = english_lot("lot-2", "sam", t0(), None, at(3_600));
        again.commit.commands[0].key = created.commit.commands[0].key.clone();
        let results = store.commit(vec![again.commit]).await;
        assert!(matches!(
            results.as_slice(),
            [Err(hammerfall_ports::StoreError::DuplicateCommand(_))]
        ));
        drop(store);
        at_current_version(&path);
    }

    /// Puts a file's idempotency records back as versions 2 to 4 kept
    /// them (a row-id table with a unique index on the key's three
    /// columns), so migration 5 runs on them again.
    fn records_as_version_4(conn: &Connection) {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = conn
            .prepare("SELECT key, body FROM command_records ORDER BY key")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch(
            "DROP TABLE command_records;
             CREATE TABLE idempotency (
                 id INTEGER PRIMARY KEY, command TEXT NOT NULL, lot TEXT NOT NULL,
                 submitter TEXT NOT NULL, body BLOB NOT NULL);
             CREATE UNIQUE INDEX idempotency_by_key ON idempotency (command, lot, submitter);",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for (key, body) in rows {
            let text = String::from_utf8(key).unwrap_or_else(|e| panic!("{e}"));
            let parts: Vec<&str> = text.split('\0').collect();
            assert_eq!(parts.len(), 3, "a key of three parts");
            conn.execute(
                "INSERT INTO idempotency (command, lot, submitter, body) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![parts[0], parts[1], parts[2], body],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[tokio::test]
    async fn a_version_4_files_records_are_found_and_still_refuse_their_keys() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("v4.db");
        let created = english_lot("lot-1", "sam", t0(), None, at(3_600));
        let war = hammerfall_engine::testkit::fixtures::bidding_war(&created.lot, 3, at(60));
        let mut commits = vec![created.commit.clone()];
        commits.extend(war.iter().map(|s| s.commit.clone()));
        let records: Vec<_> = commits.iter().flat_map(|c| c.commands.clone()).collect();
        written(&path, commits).await;
        {
            let conn = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
            records_as_version_4(&conn);
            conn.pragma_update(None, "user_version", 4)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let store = OpenOptions::default()
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(records.len() >= 4);
        for record in &records {
            let found = store
                .command(&record.key)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(found.as_ref(), Some(record));
        }
        let last = war
            .last()
            .map(|s| &s.lot)
            .unwrap_or_else(|| panic!("a war"));
        let mut again = step(
            last,
            bid_command("zed", 900_000, "b-again"),
            "c-again",
            at(120),
        );
        again.commit.commands[0].key = records[1].key.clone();
        let results = store.commit(vec![again.commit]).await;
        assert!(
            matches!(
                results.as_slice(),
                [Err(hammerfall_ports::StoreError::DuplicateCommand(_))]
            ),
            "{results:?}"
        );
        drop(store);
        let conn = at_current_version(&path);
        let old: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'idempotency%'",
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old, 0, "the version 4 table and index are dropped");
    }

    /// The file, checked to be at this build's schema version.
    fn at_current_version(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap_or_else(|e| panic!("{e}"));
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(version, SCHEMA_VERSION);
        conn
    }
}
