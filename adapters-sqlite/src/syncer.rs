//! Durability off the writer thread. With [`Synchronous::Full`](crate::Synchronous::Full)
//! the write connection commits at `synchronous = NORMAL` (the WAL frames
//! are written, not fsynced) and hands the group's answers to this
//! thread, which fsyncs the WAL file and only then sends them. While it
//! waits on the disk, the writer builds and commits the next group; one
//! fsync covers every group committed since the last one. (A writer with
//! an empty inbox usually fsyncs and answers by itself, through
//! [`settle`]: a hand-off would only add a thread wake-up; see the
//! writer's `SyncChoice`.)
//!
//! Why this is as durable as SQLite's own `FULL`: a group's WAL frames
//! were written (`write` returned) before the group reached this thread,
//! and `fsync` on any descriptor of the file makes every written page of
//! it durable. After a power loss SQLite's recovery replays the WAL up to
//! the last valid commit frame: every acknowledged group is at or before
//! it. A checkpoint (PASSIVE, by the writer) fsyncs the WAL itself before
//! it copies pages into the database and fsyncs the database after, so a
//! WAL that restarts over checkpointed frames loses nothing either.
//!
//! What differs: a committed group is visible to readers up to one fsync
//! before it is acknowledged. The outbox (events for the outside world)
//! is not: [`Durability::log_through`] bounds what the relay reads. After
//! an fsync error nothing more is acknowledged: the store refuses every
//! later write (what the disk holds is unknown; restart to recover from
//! the file).

use crate::writer::Pending;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};

/// What the writer and the syncer share with the store's readers.
#[derive(Debug)]
pub(crate) struct Durability {
    /// The last `log` position whose group is durable (and acknowledged):
    /// the outbox relay reads no further.
    log_through: AtomicI64,
    /// Set once, on the first failed fsync: why nothing more is written.
    failure: OnceLock<String>,
}

impl Durability {
    /// Durable through `position` (at least).
    pub(crate) fn starting_at(position: i64) -> Self {
        Self {
            log_through: AtomicI64::new(position),
            failure: OnceLock::new(),
        }
    }

    /// The last durable `log` position.
    pub(crate) fn log_through(&self) -> i64 {
        self.log_through.load(Ordering::Acquire)
    }

    /// Positions through `position` are durable (never moves back).
    pub(crate) fn advance(&self, position: i64) {
        self.log_through.fetch_max(position, Ordering::AcqRel);
    }

    /// Why writes are refused, after a failed fsync.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// Refuses every later write, for `why` (the first reason stays).
    pub(crate) fn fail_with(&self, why: &str) -> &str {
        self.failure.get_or_init(|| why.to_owned())
    }
}

/// A committed group waiting for its fsync.
pub(crate) struct Committed {
    /// Its answers.
    pub(crate) answers: Vec<Pending>,
    /// The last `log` position after its commit.
    pub(crate) log_through: i64,
}

/// The store file's WAL, for fsync: opened at the first sync and kept.
/// SQLite deletes or replaces a WAL only when its last connection closes
/// (or the journal mode changes, which this store never does); the
/// writer's connection stays open for the store's lifetime and closes
/// only after the syncer has finished, so the file opened is the WAL for
/// as long as it is synced. (Checking its identity at every fsync was
/// measured: a `stat` per sync added ~100 µs to a lone client's
/// acknowledgement on this machine.)
pub(crate) struct WalFile {
    path: PathBuf,
    open: Option<File>,
}

impl WalFile {
    /// The WAL of the database at `db`: SQLite's `<db>-wal`.
    pub(crate) fn of(db: &Path) -> Self {
        let mut path = db.as_os_str().to_owned();
        path.push("-wal");
        Self {
            path: PathBuf::from(path),
            open: None,
        }
    }

    /// Makes every written page of the WAL durable. The first time also
    /// fsyncs its directory, so the file's name is durable too.
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        let file = match &self.open {
            Some(file) => file,
            None => {
                let file = File::open(&self.path)?;
                sync_directory(&self.path)?;
                self.open.insert(file)
            }
        };
        file.sync_all()
    }
}

#[cfg(unix)]
fn sync_directory(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// How the WAL is made durable: shared by the syncer thread and the
/// writer (which syncs inline when it has nothing else to do).
pub(crate) trait WalSync: Send + Sync + 'static {
    /// Fsyncs, waiting for any fsync in progress first.
    fn sync(&self) -> std::io::Result<()>;
    /// Fsyncs unless another thread is in one (`None` then).
    fn try_sync(&self) -> Option<std::io::Result<()>>;
}

impl WalSync for std::sync::Mutex<WalFile> {
    fn sync(&self) -> std::io::Result<()> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .sync()
    }

    fn try_sync(&self) -> Option<std::io::Result<()>> {
        match self.try_lock() {
            Ok(mut wal) => Some(wal.sync()),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner().sync()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// Answers committed groups after an fsync that began after they were
/// written: sends them if it succeeded (and moves the outbox bound);
/// otherwise refuses every later write and fails them. A store that has
/// already failed fails them without an fsync.
pub(crate) fn settle(
    sync: impl FnOnce() -> std::io::Result<()>,
    groups: Vec<Committed>,
    durability: &Durability,
) {
    if durability.failure().is_none()
        && let Err(e) = sync()
    {
        tracing::error!(error = %e, "fsync of the WAL failed; the store refuses writes from now on");
        durability.fail_with(&format!(
            "the store's WAL could not be made durable (fsync failed: {e}); \
             restart to recover from what the file holds"
        ));
    }
    match durability.failure() {
        None => {
            let through = groups.iter().map(|g| g.log_through).max().unwrap_or(0);
            durability.advance(through);
            for group in groups {
                group.answers.into_iter().for_each(Pending::send);
            }
        }
        Some(why) => {
            for group in groups {
                group.answers.into_iter().for_each(|p| p.fail(why));
            }
        }
    }
}

/// The syncer thread's loop: one fsync for everything queued, then its
/// answers, in commit order; serves until the writer is gone.
#[expect(
    clippy::needless_pass_by_value,
    reason = "the syncer thread owns its inbox and shared state"
)]
pub(crate) fn run(
    wal: std::sync::Arc<dyn WalSync>,
    inbox: flume::Receiver<Committed>,
    durability: std::sync::Arc<Durability>,
) {
    while let Ok(first) = inbox.recv() {
        let mut groups = vec![first];
        groups.extend(inbox.try_iter());
        settle(|| wal.sync(), groups, &durability);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::Pending;
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::time::Duration;

    /// An fsync that waits for the test's go-ahead and returns what the
    /// test says.
    struct Gate(std::sync::Mutex<mpsc::Receiver<std::io::Result<()>>>);

    impl WalSync for Gate {
        fn sync(&self) -> std::io::Result<()> {
            let gate = self.0.lock().unwrap_or_else(|e| panic!("{e}"));
            gate.recv().unwrap_or_else(|e| panic!("{e}"))
        }

        fn try_sync(&self) -> Option<std::io::Result<()>> {
            Some(self.sync())
        }
    }

    /// A syncer thread whose fsync is gated.
    fn gated() -> (
        flume::Sender<Committed>,
        mpsc::Sender<std::io::Result<()>>,
        Arc<Durability>,
        std::thread::JoinHandle<()>,
    ) {
        let (to_syncer, inbox) = flume::unbounded();
        let (go, gate) = mpsc::channel::<std::io::Result<()>>();
        let durability = Arc::new(Durability::starting_at(3));
        let shared = durability.clone();
        let wal = Arc::new(Gate(std::sync::Mutex::new(gate)));
        let thread = std::thread::spawn(move || run(wal, inbox, shared));
        (to_syncer, go, durability, thread)
    }

    fn committed(
        log_through: i64,
    ) -> (
        Committed,
        futures_channel::oneshot::Receiver<Result<(), hammerfall_ports::StoreError>>,
    ) {
        let (reply, answer) = futures_channel::oneshot::channel();
        let group = Committed {
            answers: vec![Pending::Ack(reply, Ok(()))],
            log_through,
        };
        (group, answer)
    }

    fn wait_for<T>(answer: &mut futures_channel::oneshot::Receiver<T>) -> T {
        for _ in 0..2_000 {
            if let Ok(Some(value)) = answer.try_recv() {
                return value;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("no answer within 2 s");
    }

    #[test]
    fn an_answer_waits_for_the_fsync_and_the_outbox_bound_moves_with_it() {
        let (to_syncer, go, durability, thread) = gated();
        let (group, mut answer) = committed(10);
        to_syncer.send(group).unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            matches!(answer.try_recv(), Ok(None)),
            "answered before its fsync"
        );
        assert_eq!(
            durability.log_through(),
            3,
            "the outbox moved before the fsync"
        );
        go.send(Ok(())).unwrap_or_else(|e| panic!("{e}"));
        assert!(wait_for(&mut answer).is_ok());
        assert_eq!(durability.log_through(), 10);
        drop(to_syncer);
        thread.join().unwrap_or_else(|_| panic!("syncer panicked"));
    }

    #[test]
    fn a_failed_fsync_fails_its_groups_and_every_later_one() {
        let (to_syncer, go, durability, thread) = gated();
        let (group, mut answer) = committed(10);
        to_syncer.send(group).unwrap_or_else(|e| panic!("{e}"));
        go.send(Err(std::io::Error::other("disk gone")))
            .unwrap_or_else(|e| panic!("{e}"));
        let failed = wait_for(&mut answer);
        assert!(
            failed.is_err_and(|e| e.to_string().contains("disk gone")),
            "a group whose fsync failed was acknowledged"
        );
        assert!(
            durability
                .failure()
                .is_some_and(|w| w.contains("fsync failed"))
        );
        // No more fsyncs are attempted (the gate is never opened again),
        // and a later group fails too.
        let (group, mut answer) = committed(20);
        to_syncer.send(group).unwrap_or_else(|e| panic!("{e}"));
        assert!(wait_for(&mut answer).is_err());
        assert_eq!(durability.log_through(), 3);
        drop(to_syncer);
        thread.join().unwrap_or_else(|_| panic!("syncer panicked"));
    }

    #[test]
    fn the_wal_is_the_databases_and_a_missing_one_is_not_synced() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db = dir.path().join("s.db");
        let mut wal = WalFile::of(&db);
        assert_eq!(wal.path, dir.path().join("s.db-wal"));
        assert!(
            wal.sync().is_err(),
            "a missing WAL must not count as synced"
        );
        assert!(wal.open.is_none());
        std::fs::write(&wal.path, b"frames").unwrap_or_else(|e| panic!("{e}"));
        wal.sync().unwrap_or_else(|e| panic!("{e}"));
        wal.sync().unwrap_or_else(|e| panic!("{e}"));
        assert!(wal.open.is_some());
    }
}
