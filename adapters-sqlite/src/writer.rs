//! The writer thread: the only owner of the write connection. Requests
//! arrive over a channel from every caller (every service shard, the
//! ledger, the outbox relay); the thread drains everything pending into
//! ONE transaction (group commit: one WAL fsync for all of it), applies
//! each request alone (a refused request leaves no write behind: a commit
//! entry writes nothing before it can no longer be refused, or undoes its
//! command records, see `commit`; a ledger operation runs under a
//! SAVEPOINT), commits,
//! and only then answers. An answer is therefore an
//! acknowledgement: its writes are in a committed transaction, durable to
//! the `synchronous` level the store was opened with. Under
//! `Synchronous::Full` the fsync that makes a group durable is not part of
//! its `COMMIT`: the group's answers go to the syncer thread (`syncer`),
//! and the writer builds the next group while the disk works; with
//! nothing waiting in its inbox, the writer usually fsyncs and answers
//! itself (`SyncChoice`).

use crate::commit::{EncodedCommit, LotCache, Statements, write_entry, write_together};
use crate::ledger;
use crate::open::WAL_AUTOCHECKPOINT_PAGES;
use crate::syncer::{Committed, Durability, WalSync, settle};
use hammerfall_ports::{
    CreditError, CreditView, Currency, LotCreditOp, LotId, Money, ParticipantId, StoreError,
};
use rusqlite::hooks::Wal;
use rusqlite::{Connection, ErrorCode};
use std::cell::Cell;
use std::ffi::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Most requests (commit entries and ledger operations) one transaction
/// takes; the rest wait for the next one. Bounds a transaction's size and
/// the latency a request can add to the others of its group.
pub const MAX_GROUP_ENTRIES: usize = 8_192;
/// Requests the writer's channel holds before callers wait (backpressure).
pub const WRITER_QUEUE_CAPACITY: usize = 4_096;

/// Where a request's answer goes.
pub(crate) type Reply<T> = futures_channel::oneshot::Sender<T>;

/// Why one request inside a transaction did not apply.
pub(crate) enum Fail<E> {
    /// Refused by a rule (conflict, duplicate key, insufficient credit):
    /// its savepoint is rolled back, the group goes on.
    Refused(E),
    /// SQLite failed; the savepoint is rolled back if the transaction is
    /// still alive, else the whole group fails.
    Sql(rusqlite::Error),
}

impl<E> From<rusqlite::Error> for Fail<E> {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

/// A ledger operation (SPEC §3.1), written like a commit entry.
pub(crate) enum CreditOp {
    SetLimit {
        participant: ParticipantId,
        limit: Money,
        currency: Currency,
    },
    /// A change to one lot's credit record.
    Lot {
        lot: LotId,
        change: LotCreditOp<ParticipantId>,
    },
}

/// What a ledger operation answers.
pub(crate) enum CreditDone {
    View(CreditView),
    Done,
}

/// A request to the writer thread.
pub(crate) enum Write {
    /// `LotStore::commit`: one result per entry, in order.
    Commit {
        entries: Vec<EncodedCommit>,
        reply: Reply<Vec<Result<(), StoreError>>>,
    },
    /// A `CreditLedger` write.
    Credit {
        op: CreditOp,
        reply: Reply<Result<CreditDone, CreditError>>,
    },
    /// Deletes outbox rows up to a position (the relay published them).
    AckOutbox {
        through: i64,
        reply: Reply<Result<(), StoreError>>,
    },
}

impl Write {
    fn weight(&self) -> usize {
        match self {
            Write::Commit { entries, .. } => entries.len().max(1),
            Write::Credit { .. } | Write::AckOutbox { .. } => 1,
        }
    }
}

/// A request carried out inside the open transaction, answered once the
/// transaction's fate is known (and, under `Synchronous::Full`, once the
/// syncer has made it durable).
pub(crate) enum Pending {
    Commit(
        Reply<Vec<Result<(), StoreError>>>,
        Vec<Result<(), StoreError>>,
    ),
    Credit(
        Reply<Result<CreditDone, CreditError>>,
        Result<CreditDone, CreditError>,
    ),
    Ack(Reply<Result<(), StoreError>>, Result<(), StoreError>),
}

fn unavailable(why: &str) -> Box<dyn std::error::Error + Send + Sync> {
    why.to_owned().into()
}

impl Pending {
    /// The transaction committed: the results stand. A caller that went
    /// away does not care.
    pub(crate) fn send(self) {
        match self {
            Pending::Commit(reply, results) => drop(reply.send(results)),
            Pending::Credit(reply, result) => drop(reply.send(result)),
            Pending::Ack(reply, result) => drop(reply.send(result)),
        }
    }

    /// The transaction did not commit, or it is not known to be durable:
    /// the request is not acknowledged.
    pub(crate) fn fail(self, why: &str) {
        match self {
            Pending::Commit(reply, results) => {
                let failed = results
                    .iter()
                    .map(|_| Err(StoreError::Unavailable(unavailable(why))))
                    .collect();
                drop(reply.send(failed));
            }
            Pending::Credit(reply, _) => {
                drop(reply.send(Err(CreditError::Unavailable(unavailable(why)))));
            }
            Pending::Ack(reply, _) => {
                drop(reply.send(Err(StoreError::Unavailable(unavailable(why)))))
            }
        }
    }
}

impl Write {
    /// Answers a request that never ran: nothing of it happened.
    fn fail(self, why: &str) {
        match self {
            Write::Commit { entries, reply } => {
                Pending::Commit(reply, entries.iter().map(|_| Ok(())).collect()).fail(why);
            }
            Write::Credit { reply, .. } => Pending::Credit(reply, Ok(CreditDone::Done)).fail(why),
            Write::AckOutbox { reply, .. } => Pending::Ack(reply, Ok(())).fail(why),
        }
    }
}

/// A failure that must be mapped to a port's error.
pub(crate) trait FromSql {
    fn from_sql(e: rusqlite::Error) -> Self;
}

/// True for the errors that say the stored data itself is bad.
pub(crate) fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

impl FromSql for StoreError {
    fn from_sql(e: rusqlite::Error) -> Self {
        if is_corruption(&e) {
            StoreError::Corrupt(Box::new(e))
        } else {
            StoreError::Unavailable(Box::new(e))
        }
    }
}

impl FromSql for CreditError {
    fn from_sql(e: rusqlite::Error) -> Self {
        CreditError::Unavailable(Box::new(e))
    }
}

/// The transaction is gone (SQLite rolled it back, or a savepoint could not
/// be handled): the whole group fails.
struct Abort(String);

impl From<rusqlite::Error> for Abort {
    fn from(e: rusqlite::Error) -> Self {
        Abort(e.to_string())
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs `f` under a savepoint: kept if it succeeds, rolled back if it
/// fails. `Err` only when the transaction itself is lost.
fn in_savepoint<T, E: FromSql>(
    conn: &Connection,
    f: impl FnOnce() -> Result<T, Fail<E>>,
) -> Result<Result<T, E>, Abort> {
    exec(conn, "SAVEPOINT entry")?;
    match f() {
        Ok(value) => {
            exec(conn, "RELEASE entry")?;
            Ok(Ok(value))
        }
        Err(fail) => {
            if conn.is_autocommit() {
                return Err(Abort(lost(&fail)));
            }
            exec(conn, "ROLLBACK TO entry")?;
            exec(conn, "RELEASE entry")?;
            Ok(Err(match fail {
                Fail::Refused(e) => e,
                Fail::Sql(e) => E::from_sql(e),
            }))
        }
    }
}

fn lost<E>(fail: &Fail<E>) -> String {
    match fail {
        Fail::Sql(e) => e.to_string(),
        Fail::Refused(_) => "transaction rolled back".to_owned(),
    }
}

/// Runs `f` without a savepoint, for work that is refused only before its
/// first write: a refusal leaves nothing to undo; a SQLite error may have
/// left a partial write, so it fails the whole group.
fn unguarded<T, E>(f: impl FnOnce() -> Result<T, Fail<E>>) -> Result<Result<T, E>, Abort> {
    match f() {
        Ok(value) => Ok(Ok(value)),
        Err(Fail::Refused(e)) => Ok(Err(e)),
        Err(fail) => Err(Abort(lost(&fail))),
    }
}

/// Writes a commit request's entries, each alone.
fn commit_entries<'c>(
    conn: &'c Connection,
    stmts: &mut Option<Statements<'c>>,
    cache: &mut LotCache,
    entries: &[EncodedCommit],
) -> Result<Vec<Result<(), StoreError>>, Abort> {
    if write_together(conn, cache, entries)? {
        return Ok(entries.iter().map(|_| Ok(())).collect());
    }
    let stmts = match stmts {
        Some(stmts) => stmts,
        None => stmts.insert(Statements::prepare(conn)?),
    };
    let mut results = Vec::with_capacity(entries.len());
    for entry in entries {
        // A refused entry has written nothing (see `commit`): no savepoint.
        results.push(unguarded(|| write_entry(stmts, cache, entry))?);
    }
    Ok(results)
}

/// Carries out one request inside the open transaction.
fn apply<'c>(
    conn: &'c Connection,
    stmts: &mut Option<Statements<'c>>,
    cache: &mut LotCache,
    write: Write,
) -> Result<Pending, (Pending, Abort)> {
    match write {
        Write::Commit { entries, reply } => match commit_entries(conn, stmts, cache, &entries) {
            Ok(results) => Ok(Pending::Commit(reply, results)),
            Err(abort) => {
                let results = entries.iter().map(|_| Ok(())).collect();
                Err((Pending::Commit(reply, results), abort))
            }
        },
        Write::Credit { op, reply } => match in_savepoint(conn, || ledger::write(conn, &op)) {
            Ok(result) => Ok(Pending::Credit(reply, result)),
            Err(abort) => Err((Pending::Credit(reply, Ok(CreditDone::Done)), abort)),
        },
        Write::AckOutbox { through, reply } => {
            match in_savepoint(conn, || crate::outbox::acknowledge(conn, through)) {
                Ok(result) => Ok(Pending::Ack(reply, result)),
                Err(abort) => Err((Pending::Ack(reply, Ok(())), abort)),
            }
        }
    }
}

/// When a committed group is answered.
pub(crate) enum Acknowledge {
    /// At its commit: SQLite's own `synchronous` level is the guarantee
    /// (`Synchronous::Normal`).
    AtCommit,
    /// After the syncer thread has fsynced the WAL (`Synchronous::Full`).
    AfterSync {
        syncer: flume::Sender<Committed>,
        thread: JoinHandle<()>,
        /// The writer syncs inline when its inbox is empty (nothing to
        /// build meanwhile), no fsync is in progress and `choice`
        /// allows: one thread hand-off less on a lone client's path.
        wal: Arc<dyn WalSync>,
        choice: SyncChoice,
    },
}

impl Acknowledge {
    /// Answers a committed group now, or once it is durable.
    fn answer(
        &mut self,
        committed: Committed,
        inbox: &flume::Receiver<Write>,
        durability: &Durability,
    ) {
        match self {
            Acknowledge::AtCommit => settle(|| Ok(()), vec![committed], durability),
            Acknowledge::AfterSync {
                syncer,
                wal,
                choice,
                ..
            } => {
                if choice.inline(inbox.is_empty())
                    && let Some(synced) = wal.try_sync()
                {
                    choice.after_inline(!inbox.is_empty());
                    settle(|| synced, vec![committed], durability);
                } else if let Err(flume::SendError(lost)) = syncer.send(committed) {
                    let why = durability.fail_with("the store's WAL syncer has stopped");
                    lost.answers.into_iter().for_each(|p| p.fail(why));
                }
            }
        }
    }
}

/// Groups the writer hands to the syncer, after one of its own fsyncs
/// kept requests waiting, before it fsyncs by itself again.
const HAND_OFFS_AFTER_A_WAIT: u32 = 8;

/// Who fsyncs a group committed with the inbox empty. The writer's own
/// fsync saves a thread wake-up (a lone client's acknowledgement, and CPU
/// when both cores are busy), but requests that arrive during it wait for
/// it: after such an fsync the next [`HAND_OFFS_AFTER_A_WAIT`] of these
/// groups go to the syncer, then the writer tries again.
#[derive(Debug, Default)]
pub(crate) struct SyncChoice {
    hand_offs_left: u32,
}

impl SyncChoice {
    /// True: the writer fsyncs this group itself.
    fn inline(&mut self, inbox_empty: bool) -> bool {
        if !inbox_empty {
            return false;
        }
        if self.hand_offs_left > 0 {
            self.hand_offs_left -= 1;
            return false;
        }
        true
    }

    /// After the writer's own fsync: whether requests arrived meanwhile.
    fn after_inline(&mut self, arrived: bool) {
        if arrived {
            self.hand_offs_left = HAND_OFFS_AFTER_A_WAIT;
        }
    }
}

/// The last `log` position, in a group's transaction: how far the outbox
/// may read once the group is durable. `None` if it cannot be read (the bound
/// then stays where it was: the relay waits, nothing is lost).
fn log_end(conn: &Connection) -> Option<i64> {
    conn.prepare_cached("SELECT coalesce(max(position), 0) FROM log")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .inspect_err(|e| tracing::warn!(error = %e, "could not read the log's end after a commit"))
        .ok()
}

/// One group: begin, every request, commit, answer (or hand the answers
/// to the syncer).
fn run_group(
    conn: &Connection,
    cache: &mut LotCache,
    group: Vec<Write>,
    inbox: &flume::Receiver<Write>,
    ack: &mut Acknowledge,
    durability: &Durability,
) {
    if let Some(why) = durability.failure() {
        for write in group {
            write.fail(why);
        }
        return;
    }
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let why = format!("could not begin a transaction: {e}");
        for write in group {
            write.fail(&why);
        }
        return;
    }
    cache.begin(conn);
    let mut done = Vec::with_capacity(group.len());
    let mut rest = group.into_iter();
    let mut aborted = None;
    {
        let mut stmts = None;
        for write in rest.by_ref() {
            match apply(conn, &mut stmts, cache, write) {
                Ok(pending) => done.push(pending),
                Err((pending, Abort(why))) => {
                    done.push(pending);
                    aborted = Some(why);
                    break;
                }
            }
        }
    }
    // Read inside the transaction: a read after COMMIT would open a read
    // transaction of its own.
    let through = match aborted {
        Some(_) => None,
        None => log_end(conn),
    };
    let outcome = match aborted {
        Some(why) => Err(format!("the transaction was rolled back: {why}")),
        None => exec(conn, "COMMIT").map_err(|e| format!("commit failed: {e}")),
    };
    match outcome {
        Ok(()) => {
            let committed = Committed {
                answers: done,
                log_through: through.unwrap_or_else(|| durability.log_through()),
            };
            ack.answer(committed, inbox, durability);
        }
        Err(why) => {
            cache.forget();
            if !conn.is_autocommit()
                && let Err(e) = exec(conn, "ROLLBACK")
            {
                tracing::error!(error = %e, "rollback after a failed group commit failed");
            }
            tracing::warn!(reason = %why, "group commit failed; nothing of it was acknowledged");
            done.into_iter().for_each(|p| p.fail(&why));
            rest.for_each(|w| w.fail(&why));
        }
    }
}

thread_local! {
    /// Frames in the WAL after the writer thread's last commit (its WAL
    /// hook sets it; the hook is a plain `fn`, so it reports here).
    static WAL_FRAMES: Cell<c_int> = const { Cell::new(0) };
}

fn note_wal_frames(_: &Wal, frames: c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(frames));
    Ok(())
}

/// Checkpoints the WAL into the database once it holds
/// [`WAL_AUTOCHECKPOINT_PAGES`] frames. Run after a group's answers are
/// sent, not inside its COMMIT (where SQLite's own autocheckpoint runs):
/// the callers go on judging their next batches while the pages are
/// copied. PASSIVE: never waits for readers; what a reader still needs is
/// copied next time.
fn checkpoint_if_due(conn: &Connection) {
    let frames = WAL_FRAMES.with(Cell::get);
    if i64::from(frames) < WAL_AUTOCHECKPOINT_PAGES {
        return;
    }
    WAL_FRAMES.with(|f| f.set(0));
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "WAL checkpoint failed; retried after the next commits");
    }
}

/// The writer thread's loop: serves until every sender is gone. Takes the
/// connection and the channel by value: the thread owns them, and the
/// connection closes (checkpointing the WAL) when the loop ends.
#[expect(
    clippy::needless_pass_by_value,
    reason = "the writer thread owns its connection and inbox"
)]
pub(crate) fn run(
    conn: Connection,
    inbox: flume::Receiver<Write>,
    mut ack: Acknowledge,
    durability: Arc<Durability>,
) {
    // Replaces SQLite's autocheckpoint (itself a WAL hook): see
    // `checkpoint_if_due`.
    conn.wal_hook(Some(note_wal_frames));
    let mut cache = LotCache::new();
    while let Ok(first) = inbox.recv() {
        let mut weight = first.weight();
        let mut group = vec![first];
        while weight < MAX_GROUP_ENTRIES {
            match inbox.try_recv() {
                Ok(write) => {
                    weight += write.weight();
                    group.push(write);
                }
                Err(_) => break,
            }
        }
        // A panic (a bug) must not take the thread down with requests
        // unanswered: their reply senders are dropped, which callers see as
        // "unavailable"; the transaction is rolled back below.
        let run = || {
            run_group(&conn, &mut cache, group, &inbox, &mut ack, &durability);
        };
        if catch_unwind(AssertUnwindSafe(run)).is_err() {
            tracing::error!("the writer thread panicked in a group commit; rolled back");
            cache.forget();
            if !conn.is_autocommit() {
                drop(exec(&conn, "ROLLBACK"));
            }
        }
        checkpoint_if_due(&conn);
    }
    // Every committed group answered before the connection closes (its
    // close checkpoints and removes the WAL the syncer fsyncs).
    if let Acknowledge::AfterSync { syncer, thread, .. } = ack {
        drop(syncer);
        if thread.join().is_err() {
            tracing::error!("the WAL syncer thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_fsyncs_itself_until_requests_wait_on_it() {
        let mut choice = SyncChoice::default();
        // Requests waiting: always the syncer, and no hand-off is used up.
        assert!(!choice.inline(false));
        assert!(choice.inline(true));
        choice.after_inline(false);
        assert!(choice.inline(true), "nobody waited: again");
        // Requests arrived during the writer's fsync: the next groups go
        // to the syncer…
        choice.after_inline(true);
        for n in 0..HAND_OFFS_AFTER_A_WAIT {
            assert!(!choice.inline(false));
            assert!(!choice.inline(true), "hand-off {n}");
        }
        // …then the writer tries again.
        assert!(choice.inline(true));
    }
}
