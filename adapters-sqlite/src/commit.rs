//! One [`LotCommit`] entry: checked and serialized on the caller's thread
//! ([`EncodedCommit::new`]), then written by the writer thread inside the
//! group's transaction ([`write_entry`]).
//!
//! A refused entry never leaves a write behind, and no entry needs a
//! savepoint: the compare-and-set is decided before any write, and the
//! command records are the entry's first writes. Each is inserted with
//! `ON CONFLICT DO NOTHING`, so the records' B-tree itself says whether
//! the key exists (no separate lookup): a refused first record has
//! written nothing, and a refused later one (a stored key, or a key the
//! entry repeats) deletes the records the entry inserted before it, by
//! key, before the entry is refused.
//!
//! A request of many entries that only move lots the writer knows (a
//! group commit of bids) is written together instead, a few multi-row
//! statements for all of its entries ([`write_together`]), with the same
//! rows as a result.

use crate::codec::{self, InvalidCommit};
use crate::writer::Fail;
use hammerfall_engine::next_due;
use hammerfall_ports::{LotCommit, StoreError};
use rusqlite::{CachedStatement, Connection, OptionalExtension, params};

/// Most events, bid records or command records one entry may carry;
/// beyond it the entry is refused with [`StoreError::TooLarge`].
pub const MAX_RECORDS_PER_ENTRY: usize = 1_000;
/// Most events one `log` row holds: a large entry (a hot lot's whole
/// batch) is split, so a read of a few events decodes a bounded row.
pub const LOG_CHUNK_EVENTS: usize = 64;

/// A lot's row as it will be written.
pub(crate) struct EncodedLot {
    seller: String,
    status: &'static str,
    next_due: Option<i64>,
    sequence: i64,
    /// The terms, for a new lot only (they never change).
    terms: Option<Vec<u8>>,
    state: Vec<u8>,
}

/// A command record as it will be written.
pub(crate) struct EncodedCommand {
    /// Its key as the row's (`codec::command_key`; a refusal reads the
    /// key back from it: no second copy of the key crosses to the writer).
    row_key: Vec<u8>,
    /// Whether the key is scoped to the entry's own lot.
    in_lot: bool,
    body: Vec<u8>,
}

/// One `log` row: a run of consecutive events and their bid records.
pub(crate) struct LogChunk {
    first: i64,
    last: i64,
    events: Vec<u8>,
    /// None: no bid records. Empty: exactly the ones the events imply
    /// (`codec::implied_bids`), the usual case, not stored twice.
    bids: Option<Vec<u8>>,
}

/// A checked, serialized commit entry: everything the writer thread needs,
/// so the one thread that holds the write lock does no JSON work.
pub(crate) struct EncodedCommit {
    lot_id: String,
    expected: i64,
    lot: Option<EncodedLot>,
    log: Vec<LogChunk>,
    commands: Vec<EncodedCommand>,
}

/// Refuses an entry that is too large or not internally consistent
/// ([`LotCommit::check`], the rules every store shares), before anything
/// is written.
fn check_shape(commit: &LotCommit) -> Result<(), StoreError> {
    if commit.events.len() > MAX_RECORDS_PER_ENTRY
        || commit.bids.len() > MAX_RECORDS_PER_ENTRY
        || commit.commands.len() > MAX_RECORDS_PER_ENTRY
    {
        return Err(StoreError::TooLarge {
            what: "records per commit entry",
        });
    }
    commit.check().map_err(|e| StoreError::Corrupt(Box::new(e)))
}

/// Splits the events (and their bid records) into `log` rows.
fn chunks(commit: &LotCommit) -> Result<Vec<LogChunk>, StoreError> {
    let mut chunks = Vec::with_capacity(commit.events.len().div_ceil(LOG_CHUNK_EVENTS));
    let mut bids = commit.bids.as_slice();
    for events in commit.events.chunks(LOG_CHUNK_EVENTS) {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            continue;
        };
        let mine = bids.partition_point(|b| b.sequence <= last.sequence);
        let (these, rest) = bids.split_at(mine);
        bids = rest;
        chunks.push(LogChunk {
            first: codec::seq_to_sql(first.sequence),
            last: codec::seq_to_sql(last.sequence),
            events: codec::encode_events(events)?,
            bids: if these.is_empty() {
                None
            } else if hammerfall_ports::BidRecord::are_implied_by(events, these) {
                // Read back from the events (queries::bids).
                Some(Vec::new())
            } else {
                Some(codec::encode(&these)?)
            },
        });
    }
    Ok(chunks)
}

impl EncodedCommit {
    /// Checks and serializes an entry.
    pub(crate) fn new(commit: &LotCommit) -> Result<Self, StoreError> {
        check_shape(commit)?;
        let lot = match &commit.lot {
            None => None,
            Some(lot) => Some(EncodedLot {
                // Written only with a new lot's row (an update leaves it).
                seller: if commit.expected_sequence == 0 {
                    lot.seller_id().to_string()
                } else {
                    String::new()
                },
                status: lot.status.as_str(),
                next_due: next_due(lot).map(codec::nanos),
                sequence: codec::seq_to_sql(lot.sequence),
                terms: if commit.expected_sequence == 0 {
                    Some(codec::encode(&*lot.terms)?)
                } else {
                    None
                },
                state: codec::encode_state(lot)?,
            }),
        };
        let commands = commit
            .commands
            .iter()
            .map(|c| {
                Ok(EncodedCommand {
                    row_key: codec::command_key(&c.key),
                    in_lot: c.key.lot_id.as_ref() == Some(&commit.lot_id),
                    body: codec::encode_command(c)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Self {
            lot_id: commit.lot_id.to_string(),
            expected: codec::seq_to_sql(commit.expected_sequence),
            lot,
            log: chunks(commit)?,
            commands,
        })
    }

    /// The entry's lot id (for errors).
    fn conflict(&self) -> Fail<StoreError> {
        let lot_id = hammerfall_ports::LotId::new(&self.lot_id);
        match lot_id {
            Ok(lot_id) => Fail::Refused(StoreError::Conflict {
                lot_id,
                expected: u64::try_from(self.expected).unwrap_or(0),
            }),
            Err(_) => Fail::Refused(StoreError::Corrupt(Box::new(InvalidCommit {
                lot_id: self.lot_id.clone(),
                reason: "invalid lot id",
            }))),
        }
    }
}

/// The stored row of a lot, as far as a commit needs it.
#[derive(Clone, Copy)]
struct Stored {
    key: i64,
    sequence: i64,
    /// The stored status, as `LotStatus::as_str` spells it ("" for a text
    /// no status has: then the indexed columns are rewritten).
    status: &'static str,
    next_due: Option<i64>,
}

/// A status text as one of the `'static` names the encoder uses.
fn status_name(text: &str) -> &'static str {
    use hammerfall_ports::LotStatus;
    [
        LotStatus::Scheduled,
        LotStatus::Open,
        LotStatus::Reserved,
        LotStatus::Closed,
        LotStatus::Cancelled,
    ]
    .into_iter()
    .map(LotStatus::as_str)
    .find(|name| *name == text)
    .unwrap_or("")
}

/// Most lots the writer remembers between groups (their key, sequence,
/// status and due time); past it, it starts over (a lot it
/// forgot costs one read, as without the cache).
pub const LOT_CACHE_CAPACITY: usize = 100_000;

type Map = std::collections::HashMap<String, Stored, foldhash::fast::RandomState>;

/// The writer's memory of lots' rows (row key, sequence, indexed columns)
/// as its own committed transactions left them, so an entry's
/// compare-and-set needs no read of the `lots` table.
///
/// Why it is safe: only the writer connection writes, and what any other
/// connection commits to the file (another store, another process) moves
/// `PRAGMA data_version`, which the writer reads at the start of every
/// group, inside its write transaction (no one else can commit until it
/// ends): a change forgets everything. A group's rows are remembered as
/// its entries are written (an entry refused, or rolled back to its
/// savepoint, is not); if the group then fails to commit, is rolled back,
/// or panics, the writer forgets everything, so what survives a group is
/// only ever what it committed.
pub(crate) struct LotCache {
    data_version: Option<i64>,
    rows: Map,
}

impl LotCache {
    pub(crate) fn new() -> Self {
        Self {
            data_version: None,
            rows: Map::default(),
        }
    }

    /// At the start of a group, inside its write transaction: forgets
    /// everything if another connection has committed since.
    pub(crate) fn begin(&mut self, conn: &Connection) {
        let version = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)));
        match version {
            Ok(v) if self.data_version == Some(v) => {}
            Ok(v) => {
                self.rows.clear();
                self.data_version = Some(v);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read data_version; lot cache off for a group");
                self.forget();
            }
        }
    }

    fn get(&self, lot_id: &str) -> Option<Stored> {
        self.data_version?;
        self.rows.get(lot_id).copied()
    }

    /// An entry's lot row as written (in place: no allocation for a lot
    /// already known).
    fn record(&mut self, lot_id: &str, stored: Stored) {
        if self.data_version.is_none() {
            return;
        }
        if let Some(known) = self.rows.get_mut(lot_id) {
            *known = stored;
            return;
        }
        if self.rows.len() >= LOT_CACHE_CAPACITY {
            self.rows.clear();
        }
        self.rows.insert(lot_id.to_owned(), stored);
    }

    /// Nothing is known any more (a group that did not commit).
    pub(crate) fn forget(&mut self) {
        self.data_version = None;
        self.rows.clear();
    }
}

/// The writer's statements, prepared once per group.
pub(crate) struct Statements<'c> {
    select_lot: CachedStatement<'c>,
    insert_command: CachedStatement<'c>,
    delete_command: CachedStatement<'c>,
    insert_lot: CachedStatement<'c>,
    insert_terms: CachedStatement<'c>,
    update_state: CachedStatement<'c>,
    update_indexed: CachedStatement<'c>,
    insert_log: CachedStatement<'c>,
}

impl<'c> Statements<'c> {
    pub(crate) fn prepare(conn: &'c Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            select_lot: conn
                .prepare_cached("SELECT key, sequence, status, next_due FROM lots WHERE id = ?1")?,
            insert_command: conn.prepare_cached(
                "INSERT INTO command_records (key, body) VALUES (?1, ?2)
                 ON CONFLICT (key) DO NOTHING",
            )?,
            delete_command: conn.prepare_cached("DELETE FROM command_records WHERE key = ?1")?,
            insert_lot: conn.prepare_cached(
                "INSERT INTO lots (id, seller, status, next_due, sequence, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?,
            insert_terms: conn
                .prepare_cached("INSERT INTO lot_terms (lot, terms) VALUES (?1, ?2)")?,
            update_state: conn
                .prepare_cached("UPDATE lots SET sequence = ?2, state = ?3 WHERE key = ?1")?,
            update_indexed: conn.prepare_cached(
                "UPDATE lots SET sequence = ?2, state = ?3, status = ?4, next_due = ?5
                 WHERE key = ?1",
            )?,
            insert_log: conn.prepare_cached(
                "INSERT INTO log (lot, first_sequence, last_sequence, events, bids)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
        })
    }
}

/// Writes one entry: compare-and-set on the lot's sequence, the command
/// records (a key that exists refuses the entry), the lot's row and its
/// `log` rows (which are also the outbox).
pub(crate) fn write_entry(
    stmts: &mut Statements<'_>,
    cache: &mut LotCache,
    entry: &EncodedCommit,
) -> Result<(), Fail<StoreError>> {
    let stored = match cache.get(&entry.lot_id) {
        Some(stored) => Some(stored),
        None => select_lot(stmts, &entry.lot_id)?,
    };
    let matches = match &stored {
        None => entry.expected == 0,
        Some(s) => s.sequence == entry.expected && s.sequence != 0,
    };
    if !matches {
        return Err(entry.conflict());
    }
    if stored.is_none() && entry.lot.as_ref().is_some_and(|l| l.terms.is_none()) {
        return Err(Fail::Refused(StoreError::Corrupt(Box::new(
            InvalidCommit {
                lot_id: entry.lot_id.clone(),
                reason: "a new lot without its terms",
            },
        ))));
    }
    insert_commands(stmts, &entry.commands)?;
    let Some(lot) = &entry.lot else {
        if let Some(stored) = stored {
            cache.record(&entry.lot_id, stored);
        }
        return Ok(());
    };
    let key = write_lot(stmts, stored.as_ref(), entry, lot)?;
    insert_log(stmts, key, entry)?;
    cache.record(
        &entry.lot_id,
        Stored {
            key,
            sequence: lot.sequence,
            status: lot.status,
            next_due: lot.next_due,
        },
    );
    Ok(())
}

/// Rows one multi-row statement of [`write_together`] writes: a run's
/// rows go out in statements of these sizes, largest first, so the writer
/// prepares (and caches) a dozen statements, not one per count.
const ROWS_PER_STATEMENT: [usize; 4] = [64, 16, 4, 1];

/// Fewest rows for which [`write_together`] is worth its plan.
const TOGETHER_MIN_ROWS: usize = 8;

/// The multi-row statements of [`write_together`], per row count of
/// [`ROWS_PER_STATEMENT`].
struct RowStatements {
    commands: [String; 4],
    log: [String; 4],
}

fn row_statements() -> &'static RowStatements {
    static SQL: std::sync::OnceLock<RowStatements> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let values = |n: usize, row: &str| vec![row; n].join(", ");
        RowStatements {
            commands: ROWS_PER_STATEMENT.map(|n| {
                format!(
                    "INSERT OR FAIL INTO command_records (key, body) VALUES {}",
                    values(n, "(?, ?)")
                )
            }),
            log: ROWS_PER_STATEMENT.map(|n| {
                format!(
                    "INSERT OR FAIL INTO log (lot, first_sequence, last_sequence, events, bids)
                     VALUES {}",
                    values(n, "(?, ?, ?, ?, ?)")
                )
            }),
        }
    })
}

/// A multi-row statement of [`execute_rows`] failed.
struct Stopped {
    /// The rows changed before the failure, by earlier statements and by
    /// the failing one (`INSERT OR FAIL` keeps the rows it inserted
    /// before its failing row; they come first in its `VALUES`).
    changed: usize,
    error: rusqlite::Error,
}

/// Runs `statements` (one per size of [`ROWS_PER_STATEMENT`]) over
/// `values`, `columns` per row, largest statements first; the rows they
/// changed.
fn execute_rows(
    conn: &Connection,
    statements: &[String; 4],
    columns: usize,
    values: &[&dyn rusqlite::ToSql],
) -> Result<usize, Stopped> {
    let rows = values.len() / columns;
    let (mut done, mut changed) = (0, 0);
    while done < rows {
        let (size, sql) = ROWS_PER_STATEMENT
            .iter()
            .zip(statements)
            .find(|(n, _)| **n <= rows - done)
            .unwrap_or((&1, &statements[3]));
        let these = &values[done * columns..(done + size) * columns];
        let executed = conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(these)));
        match executed {
            Ok(n) => changed += n,
            Err(error) => {
                let partial = usize::try_from(conn.changes()).unwrap_or(usize::MAX);
                return Err(Stopped {
                    changed: changed.saturating_add(partial),
                    error,
                });
            }
        }
        done += size;
    }
    Ok(changed)
}

/// The entries' lots as the writer knows them, if every entry can be
/// written by [`write_together`]: each moves an existing lot the writer
/// remembers (no read), its compare-and-set holds, neither its status nor
/// its due time changes (no listing index is touched), no other entry of
/// the request is for the same lot, and its command records are scoped to
/// its lot (so no two entries can hold the same key). Anything else (a new
/// lot, a conflict to report, a lot written twice) is written entry by
/// entry.
fn together_plan(cache: &LotCache, entries: &[EncodedCommit]) -> Option<Vec<Stored>> {
    let mut plan = Vec::with_capacity(entries.len());
    let mut lots = std::collections::HashSet::with_capacity_and_hasher(
        entries.len(),
        foldhash::fast::RandomState::default(),
    );
    for entry in entries {
        let stored = cache.get(&entry.lot_id)?;
        let fits = stored.sequence == entry.expected
            && stored.sequence != 0
            && entry.lot.as_ref().is_none_or(|lot| {
                lot.terms.is_none()
                    && lot.status == stored.status
                    && lot.next_due == stored.next_due
            })
            && entry.commands.iter().all(|c| c.in_lot)
            && lots.insert(entry.lot_id.as_str());
        if !fits {
            return None;
        }
        plan.push(stored);
    }
    Some(plan)
}

/// Writes a commit request's entries together, in a few multi-row
/// statements for all of them (command records, then `log` rows; then
/// each lot's state), when [`together_plan`] allows: a group commit of
/// bids on many lots otherwise runs three statements per bid, and a
/// statement's own cost (its cursors, the B-trees descended from their
/// roots, its end) was a large share of what a bid cost the writer.
///
/// Every entry is written as if alone. The records go in with `INSERT OR
/// FAIL`; if a key is stored already, the statement stops there, the rows
/// inserted before it (of this and the earlier statements, in order) are
/// deleted again by key and false is returned, with nothing written:
/// the caller then writes the entries one by one, which refuses exactly
/// the entries that hold a stored key. True when every entry is written
/// (each one's result is `Ok`). An `Err` leaves the transaction in an
/// unknown state: the group must fail.
pub(crate) fn write_together(
    conn: &Connection,
    cache: &mut LotCache,
    entries: &[EncodedCommit],
) -> rusqlite::Result<bool> {
    let rows: usize = entries
        .iter()
        .map(|e| e.commands.len() + e.log.len() + usize::from(e.lot.is_some()))
        .sum();
    if rows < TOGETHER_MIN_ROWS {
        return Ok(false);
    }
    let Some(plan) = together_plan(cache, entries) else {
        return Ok(false);
    };
    let sql = row_statements();
    let commands = || entries.iter().flat_map(|e| &e.commands);
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(2 * commands().count());
    for command in commands() {
        values.extend([&command.row_key as &dyn rusqlite::ToSql, &command.body]);
    }
    // `OR FAIL` stops at a stored key, keeping the rows inserted before
    // it; they are deleted again by key. Neither it nor the log's `OR
    // FAIL` below ever rolls a statement back: no statement journal (a
    // copy of every page a multi-row statement touches, which a savepoint
    // would need too), and any other error fails the whole group.
    if let Err(stopped) = execute_rows(conn, &sql.commands, 2, &values) {
        if stopped.error.sqlite_error_code() != Some(rusqlite::ErrorCode::ConstraintViolation) {
            return Err(stopped.error);
        }
        let mut delete = conn.prepare_cached("DELETE FROM command_records WHERE key = ?1")?;
        let inserted = commands()
            .take(stopped.changed)
            .map(|c| c.row_key.as_slice());
        delete_commands(|key| delete.execute([key]), inserted)?;
        return Ok(false);
    }
    values.clear();
    for (entry, stored) in entries.iter().zip(&plan) {
        if entry.lot.is_some() {
            for chunk in &entry.log {
                values.extend([
                    &stored.key as &dyn rusqlite::ToSql,
                    &chunk.first,
                    &chunk.last,
                    &chunk.events,
                    &chunk.bids,
                ]);
            }
        }
    }
    execute_rows(conn, &sql.log, 5, &values).map_err(|stopped| stopped.error)?;
    let mut update =
        conn.prepare_cached("UPDATE OR FAIL lots SET sequence = ?2, state = ?3 WHERE key = ?1")?;
    for (entry, stored) in entries.iter().zip(&plan) {
        if let Some(lot) = &entry.lot {
            let updated = update.execute(params![stored.key, lot.sequence, lot.state])?;
            if updated != 1 {
                // A remembered lot row that is not there: the cache is
                // wrong, and the group must not commit.
                return Err(rusqlite::Error::StatementChangedRows(updated));
            }
        }
    }
    for (entry, stored) in entries.iter().zip(plan) {
        let written = match &entry.lot {
            Some(lot) => Stored {
                key: stored.key,
                sequence: lot.sequence,
                status: lot.status,
                next_due: lot.next_due,
            },
            None => stored,
        };
        cache.record(&entry.lot_id, written);
    }
    Ok(true)
}

/// The lot's stored row, if any (the compare-and-set read).
#[inline(never)]
fn select_lot(stmts: &mut Statements<'_>, lot_id: &str) -> rusqlite::Result<Option<Stored>> {
    stmts
        .select_lot
        .query_row([lot_id], |row| {
            Ok(Stored {
                key: row.get(0)?,
                sequence: row.get(1)?,
                status: status_name(row.get_ref(2)?.as_str()?),
                next_due: row.get(3)?,
            })
        })
        .optional()
}

/// Appends the entry's `log` rows.
#[inline(never)]
fn insert_log(stmts: &mut Statements<'_>, key: i64, entry: &EncodedCommit) -> rusqlite::Result<()> {
    for chunk in &entry.log {
        stmts.insert_log.execute(params![
            key,
            chunk.first,
            chunk.last,
            chunk.events,
            chunk.bids
        ])?;
    }
    Ok(())
}

fn duplicate(command: &EncodedCommand) -> Fail<StoreError> {
    Fail::Refused(
        codec::key_from_row(&command.row_key).map_or_else(|e| e, StoreError::DuplicateCommand),
    )
}

/// Writes a command record: false if a record with its key exists (then
/// nothing was written).
#[inline(never)]
fn insert_command(stmts: &mut Statements<'_>, command: &EncodedCommand) -> rusqlite::Result<bool> {
    let inserted = stmts
        .insert_command
        .execute(params![command.row_key, command.body])?;
    Ok(inserted == 1)
}

/// Deletes the records `keys` (just inserted: each must be there).
fn delete_commands<'k>(
    mut delete: impl FnMut(&[u8]) -> rusqlite::Result<usize>,
    keys: impl Iterator<Item = &'k [u8]>,
) -> rusqlite::Result<()> {
    for key in keys {
        let deleted = delete(key)?;
        if deleted != 1 {
            // Not undone: the group must not commit.
            return Err(rusqlite::Error::StatementChangedRows(deleted));
        }
    }
    Ok(())
}

/// Appends an entry's command records, its first writes. A key that
/// exists (stored, or repeated within the entry) refuses the entry with
/// nothing of it written: at the first record nothing was; at a later
/// one the records inserted before it are deleted again.
#[inline(never)]
fn insert_commands(
    stmts: &mut Statements<'_>,
    commands: &[EncodedCommand],
) -> Result<(), Fail<StoreError>> {
    let Some((first, rest)) = commands.split_first() else {
        return Ok(());
    };
    if !insert_command(stmts, first)? {
        return Err(duplicate(first));
    }
    for (i, command) in rest.iter().enumerate() {
        if !insert_command(stmts, command)? {
            let inserted = commands[..=i].iter().map(|c| c.row_key.as_slice());
            delete_commands(|key| stmts.delete_command.execute([key]), inserted)?;
            return Err(duplicate(command));
        }
    }
    Ok(())
}

/// Inserts or updates the lot's row; its row key. The indexed columns are
/// written only when they changed, so a bid that moves neither status nor
/// due time touches no listing index.
#[inline(never)]
fn write_lot(
    stmts: &mut Statements<'_>,
    stored: Option<&Stored>,
    entry: &EncodedCommit,
    lot: &EncodedLot,
) -> Result<i64, Fail<StoreError>> {
    let Some(stored) = stored else {
        // Checked before the entry's first write (`write_entry`).
        let terms = lot.terms.as_deref().unwrap_or_default();
        let key = stmts.insert_lot.insert(params![
            entry.lot_id,
            lot.seller,
            lot.status,
            lot.next_due,
            lot.sequence,
            lot.state
        ])?;
        stmts.insert_terms.execute(params![key, terms])?;
        return Ok(key);
    };
    if stored.status == lot.status && stored.next_due == lot.next_due {
        stmts
            .update_state
            .execute(params![stored.key, lot.sequence, lot.state])?;
    } else {
        stmts.update_indexed.execute(params![
            stored.key,
            lot.sequence,
            lot.state,
            lot.status,
            lot.next_due
        ])?;
    }
    Ok(stored.key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hammerfall_engine::testkit::fixtures::{Step, at, bid_command, english_lot, step, t0};
    use hammerfall_ports::CommandKey;
    use hammerfall_ports::Lot;

    fn migrated() -> Connection {
        let conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        crate::schema::migrate(&conn, 0).unwrap_or_else(|e| panic!("{e}"));
        conn
    }

    fn write(conn: &Connection, commit: &LotCommit) -> Result<(), StoreError> {
        let entry = EncodedCommit::new(commit)?;
        let mut stmts = Statements::prepare(conn).unwrap_or_else(|e| panic!("{e}"));
        write_entry(&mut stmts, &mut LotCache::new(), &entry).map_err(|f| match f {
            Fail::Refused(e) => e,
            Fail::Sql(e) => panic!("{e}"),
        })
    }

    /// Everything an entry writes, to compare before and after.
    fn snapshot(conn: &Connection) -> Vec<String> {
        let mut rows = Vec::new();
        for sql in [
            "SELECT hex(key) || ' ' || hex(body) FROM command_records ORDER BY key",
            "SELECT key || ' ' || sequence || ' ' || status || ' ' || hex(state) FROM lots ORDER BY key",
            "SELECT position || ' ' || lot || ' ' || last_sequence || ' ' || hex(events) FROM log
             ORDER BY position",
        ] {
            let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{e}"));
            let found = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .unwrap_or_else(|e| panic!("{e}"));
            rows.extend(found);
        }
        rows
    }

    /// A lot with one bid stored; the stored bid's key; and an entry of
    /// two bids on it (two command records), not written.
    fn lot_with_bid_and_two_more(conn: &Connection) -> (hammerfall_ports::CommandKey, LotCommit) {
        let created = english_lot("lot-1", "sam", t0(), None, at(3_600));
        let bid = step(&created.lot, bid_command("ann", 2_000, "b1"), "c1", at(60));
        assert!(write(conn, &created.commit).is_ok());
        assert!(write(conn, &bid.commit).is_ok());
        let mut second = step(&bid.lot, bid_command("bob", 3_000, "b2"), "c2", at(61));
        let third = step(&second.lot, bid_command("cy", 4_000, "b3"), "c3", at(62));
        second
            .commit
            .events
            .extend(third.commit.events.iter().cloned());
        second.commit.bids.extend(third.commit.bids.iter().cloned());
        second.commit.lot = Some(third.lot.clone());
        second
            .commit
            .commands
            .extend(third.commit.commands.iter().cloned());
        (bid.commit.commands[0].key.clone(), second.commit)
    }

    fn refused_with(result: Result<(), StoreError>, key: &hammerfall_ports::CommandKey) {
        match result {
            Err(StoreError::DuplicateCommand(k)) => assert_eq!(&k, key),
            other => panic!("expected DuplicateCommand, got {other:?}"),
        }
    }

    #[test]
    fn a_stored_key_at_an_entrys_second_record_leaves_nothing_written() {
        let conn = migrated();
        let (stored, mut entry) = lot_with_bid_and_two_more(&conn);
        let fresh = entry.clone();
        entry.commands[1].key = stored.clone();
        let before = snapshot(&conn);
        refused_with(write(&conn, &entry), &stored);
        assert_eq!(
            snapshot(&conn),
            before,
            "the entry's first record was undone"
        );
        let first = &entry.commands[0].key;
        let found = crate::queries::command(&conn, first).unwrap_or_else(|e| panic!("{e}"));
        assert!(found.is_none());
        // The same entry with its own keys then commits, and its records
        // are found.
        assert!(write(&conn, &fresh).is_ok());
        for record in &fresh.commands {
            let found =
                crate::queries::command(&conn, &record.key).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(found.as_ref(), Some(record));
        }
    }

    #[test]
    fn a_stored_key_at_an_entrys_first_record_leaves_nothing_written() {
        let conn = migrated();
        let (stored, mut entry) = lot_with_bid_and_two_more(&conn);
        entry.commands[0].key = stored.clone();
        let before = snapshot(&conn);
        refused_with(write(&conn, &entry), &stored);
        assert_eq!(snapshot(&conn), before);
        // A one-record entry refused at its only record.
        let mut one = entry.clone();
        one.commands.truncate(1);
        refused_with(write(&conn, &one), &stored);
        assert_eq!(snapshot(&conn), before);
    }

    #[test]
    fn a_key_repeated_within_an_entry_leaves_nothing_written() {
        let conn = migrated();
        let (_, mut entry) = lot_with_bid_and_two_more(&conn);
        let repeated = entry.commands[0].key.clone();
        entry.commands[1].key = repeated.clone();
        let before = snapshot(&conn);
        refused_with(write(&conn, &entry), &repeated);
        assert_eq!(snapshot(&conn), before);
    }

    /// `n` lots with one bid each, written one by one through `cache`:
    /// their stored states.
    fn lots_with_a_bid(conn: &Connection, cache: &mut LotCache, n: usize) -> Vec<Lot> {
        cache.begin(conn);
        let mut stmts = Statements::prepare(conn).unwrap_or_else(|e| panic!("{e}"));
        (0..n)
            .map(|i| {
                let created = english_lot(&format!("lot-{i}"), "sam", t0(), None, at(3_600));
                let command = bid_command("ann", 2_000, &format!("b{i}"));
                let bid = step(&created.lot, command, &format!("c{i}"), at(60));
                for commit in [&created.commit, &bid.commit] {
                    let entry = EncodedCommit::new(commit).unwrap_or_else(|e| panic!("{e}"));
                    assert!(write_entry(&mut stmts, cache, &entry).is_ok());
                }
                bid.lot
            })
            .collect()
    }

    /// A bid of `amount` by `bidder` on each lot (`round` tells the ids
    /// apart): the steps, not written.
    fn bids_on(lots: &[Lot], bidder: &str, amount: i64, round: &str) -> Vec<Step> {
        lots.iter()
            .enumerate()
            .map(|(i, lot)| {
                let command = bid_command(bidder, amount, &format!("{round}-b{i}"));
                step(lot, command, &format!("{round}-c{i}"), at(61))
            })
            .collect()
    }

    fn encoded<'a>(commits: impl IntoIterator<Item = &'a LotCommit>) -> Vec<EncodedCommit> {
        commits
            .into_iter()
            .map(|c| EncodedCommit::new(c).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn together(conn: &Connection, cache: &mut LotCache, entries: &[EncodedCommit]) -> bool {
        write_together(conn, cache, entries).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn entries_written_together_are_written_as_one_by_one() {
        let (together_conn, one_by_one) = (migrated(), migrated());
        let (mut cache_a, mut cache_b) = (LotCache::new(), LotCache::new());
        let lots = lots_with_a_bid(&together_conn, &mut cache_a, 6);
        assert_eq!(lots, lots_with_a_bid(&one_by_one, &mut cache_b, 6));
        assert_eq!(snapshot(&together_conn), snapshot(&one_by_one));
        // Five bids, and a bid too low on the sixth lot: a command record
        // with no state change.
        let mut first = bids_on(&lots, "bob", 3_000, "r1");
        first[5] = bids_on(&lots[5..], "cy", 1, "low").remove(0);
        assert!(first[5].commit.lot.is_none());
        // A second round on top of the first, from the states it left.
        let after: Vec<Lot> = first.iter().map(|s| s.lot.clone()).collect();
        let second = bids_on(&after, "dee", 50_000, "r2");
        let mut stmts = Statements::prepare(&one_by_one).unwrap_or_else(|e| panic!("{e}"));
        for round in [&first, &second] {
            let entries = encoded(round.iter().map(|s| &s.commit));
            assert!(together(&together_conn, &mut cache_a, &entries));
            for entry in &entries {
                assert!(write_entry(&mut stmts, &mut cache_b, entry).is_ok());
            }
            assert_eq!(snapshot(&together_conn), snapshot(&one_by_one));
        }
        // Every record reads back.
        for record in [&first, &second]
            .into_iter()
            .flatten()
            .flat_map(|s| &s.commit.commands)
        {
            let found = crate::queries::command(&together_conn, &record.key)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(found.as_ref(), Some(record));
        }
    }

    #[test]
    fn a_stored_key_sends_entries_back_to_one_by_one_with_nothing_written() {
        // Six records go in as statements of 4, 1 and 1 rows: a stored key
        // first, inside the first statement, and in each later one (the
        // rows of the statements before it all inserted).
        for at in [0, 3, 4, 5] {
            let conn = migrated();
            let mut cache = LotCache::new();
            let lots = lots_with_a_bid(&conn, &mut cache, 6);
            let mut request: Vec<LotCommit> = bids_on(&lots, "ann", 3_000, "r1")
                .into_iter()
                .map(|s| s.commit)
                .collect();
            // The entry carries the key of its lot's stored bid (ann's
            // command "c<at>").
            let stored_key = CommandKey {
                command_id: hammerfall_ports::CommandId::new(format!("c{at}"))
                    .unwrap_or_else(|e| panic!("{e}")),
                ..request[at].commands[0].key.clone()
            };
            let stored =
                crate::queries::command(&conn, &stored_key).unwrap_or_else(|e| panic!("{e}"));
            assert!(stored.is_some());
            request[at].commands[0].key = stored_key;
            let before = snapshot(&conn);
            assert!(!together(&conn, &mut cache, &encoded(&request)));
            assert_eq!(snapshot(&conn), before, "a stored key at record {at}");
            // The cache was left as it was: the other entries still go
            // together.
            request.remove(at);
            assert!(together(&conn, &mut cache, &encoded(&request)));
            assert_ne!(snapshot(&conn), before);
        }
    }

    #[test]
    fn what_together_does_not_cover_is_left_to_one_by_one() {
        let conn = migrated();
        let mut cache = LotCache::new();
        let lots = lots_with_a_bid(&conn, &mut cache, 6);
        let request: Vec<LotCommit> = bids_on(&lots, "bob", 3_000, "r1")
            .into_iter()
            .map(|s| s.commit)
            .collect();
        let before = snapshot(&conn);
        let mut cases: Vec<(&str, Vec<EncodedCommit>)> = Vec::new();
        // A lot twice in one request.
        let mut twice = encoded(&request);
        twice.push(encoded([&request[0]]).remove(0));
        cases.push(("a lot twice", twice));
        // A status change.
        let mut closing = encoded(&request);
        if let Some(lot) = closing[2].lot.as_mut() {
            lot.status = "closed";
        }
        cases.push(("a status change", closing));
        // A record scoped to another lot.
        let mut foreign = request.clone();
        foreign[1].commands[0].key.lot_id =
            Some(hammerfall_ports::LotId::new("lot-9").unwrap_or_else(|e| panic!("{e}")));
        cases.push(("a foreign key", encoded(&foreign)));
        // A stale compare-and-set.
        let mut stale = encoded(&request);
        stale[4].expected -= 1;
        cases.push(("a stale sequence", stale));
        // Too few rows to be worth it.
        cases.push(("two entries", encoded(&request[..2])));
        for (what, entries) in &cases {
            assert!(!together(&conn, &mut cache, entries), "{what}");
            assert_eq!(snapshot(&conn), before, "{what}");
        }
        // A lot the writer does not remember.
        assert!(!together(&conn, &mut LotCache::new(), &encoded(&request)));
        assert_eq!(snapshot(&conn), before);
        assert!(together(&conn, &mut cache, &encoded(&request)));
    }
}
