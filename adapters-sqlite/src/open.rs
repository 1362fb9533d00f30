//! Opening a store file: the checks that turn a bad file into a typed
//! [`OpenError`] before anything is written (never a panic, never a
//! silent rewrite), the pragmas that set durability, the migrations, and
//! the threads.

use crate::schema::{self, APPLICATION_ID, SCHEMA_VERSION};
use crate::store::SqliteStore;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a connection waits for another one's lock before giving up,
/// by default.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Reader threads (and read connections) by default.
pub const DEFAULT_READ_THREADS: usize = 2;
/// Most reader threads a store starts.
pub const MAX_READ_THREADS: usize = 64;
/// WAL frames (pages) after which the writer checkpoints them into the
/// database file, once it has answered the group that reached it (not
/// inside that group's COMMIT, where SQLite's autocheckpoint would run).
/// Larger than SQLite's default (1000) so a busy store checkpoints less
/// often: hot pages are then copied once for many transactions.
pub const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;
/// Size the WAL file is truncated back to after a checkpoint let it
/// restart, in bytes (it grows past it between checkpoints).
pub const JOURNAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// The writer's page cache, in KiB. Small on purpose, for a quirk of
/// SQLite's B-tree: when a page split's new pages come out of order,
/// `balance_nonroot` swaps their numbers through the "pending byte" page
/// (page 262,145 at 4 KiB pages, the one at 1 GiB), which marks that page
/// number as cached; at the end of the transaction, the page cache then
/// drops every page past the file's end with a walk over its whole hash
/// table (`pcache1TruncateUnsafe`), as long as the file is under 1 GiB.
/// With 64 MiB (16,384 pages) that walk took 22% of the writer thread at
/// the durable bench's peak, once per commit; with 8 MiB, 3.5%. The
/// writer's hot pages (upper B-tree levels, the appending edges, a leaf
/// per busy lot of `log_by_lot`) fit; the rest come from the OS's cache.
pub const WRITER_CACHE_KIB: i64 = 8 * 1024;
/// Bytes of the database file each reader maps into memory
/// (`PRAGMA mmap_size`). In WAL mode a reader drops its page cache
/// whenever another connection has committed since its last read, which
/// under write load is every read; mapped pages are read in place instead
/// of copied in by a `pread` each time. Address space, not memory.
pub const READER_MMAP_BYTES: i64 = 1 << 30;
/// Each reader's page cache, in KiB. Small on purpose: in WAL mode a
/// reader drops its whole cache whenever another connection has committed
/// since its last read, which under write load is every read.
pub const READER_CACHE_KIB: i64 = 4 * 1024;

/// When a commit is acknowledged, relative to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// A transaction is acknowledged only after its WAL frames are
    /// fsynced, as with SQLite's `synchronous = FULL`; the fsync is done
    /// by a thread of the store's own, one for every transaction committed
    /// since the last, while the writer builds the next one. An
    /// acknowledged command survives a process crash, an OS crash and a
    /// power loss (on a disk that honours fsync). The default.
    ///
    /// A committed transaction is visible to reads up to one fsync before
    /// it is acknowledged (the outbox relays it only after); if the
    /// machine loses power in between, it is lost, unacknowledged.
    #[default]
    Full,
    /// `PRAGMA synchronous = NORMAL`: the WAL is fsynced only at
    /// checkpoints. An acknowledged command survives a process crash (the
    /// OS has the write); after an OS crash or power loss the last
    /// transactions before the crash may be lost, whole (never half).
    Normal,
}

/// Why a store file could not be opened. Nothing was written to the file
/// in any of these cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The file or its directory could not be opened or created (missing
    /// directory, no permission, a directory at the path). Fix the path;
    /// retrying as is will fail again.
    #[error("cannot open {path}: {source}")]
    CannotOpen {
        /// The store file.
        path: PathBuf,
        /// What the OS or SQLite said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The file is write-protected or on a read-only filesystem. A store
    /// must write (WAL, idempotency records): open a writable copy.
    #[error("{path} is read-only; a Hammerfall store needs to write")]
    ReadOnly {
        /// The store file.
        path: PathBuf,
    },
    /// Another connection holds a lock on the database past the busy
    /// timeout (an exclusive lock, or a long write). Retry once that
    /// process lets go.
    #[error("{path} is locked by another process")]
    Locked {
        /// The store file.
        path: PathBuf,
    },
    /// The file is not a SQLite database (garbage, encrypted, or a header
    /// that was overwritten).
    #[error("{path} is not a SQLite database")]
    NotADatabase {
        /// The store file.
        path: PathBuf,
    },
    /// The file is a SQLite database, but damaged (malformed pages, failed
    /// integrity check). Restore it from a backup.
    #[error("{path} is corrupt: {detail}")]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What SQLite found.
        detail: String,
    },
    /// The file was written by a newer Hammerfall (schema version `found`,
    /// this build knows up to `supported`). Upgrade the program; a file is
    /// never downgraded.
    #[error("{path} has schema version {found}; this build supports up to {supported}")]
    NewerSchema {
        /// The store file.
        path: PathBuf,
        /// The file's `user_version`.
        found: i64,
        /// [`SCHEMA_VERSION`].
        supported: i64,
    },
    /// The file is another application's SQLite database (its
    /// `application_id` is not Hammerfall's and it has tables).
    #[error("{path} belongs to another application (application_id {application_id:#x})")]
    ForeignDatabase {
        /// The store file.
        path: PathBuf,
        /// Its `application_id`.
        application_id: i32,
    },
    /// The filesystem cannot host a WAL database (SQLite kept journal mode
    /// `mode`), e.g. some network filesystems.
    #[error("{path} cannot use write-ahead logging (journal mode stayed {mode:?})")]
    WalUnavailable {
        /// The store file.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// Anything else SQLite or the OS reported.
    #[error("cannot open {path}: {source}")]
    Other {
        /// The store file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl OpenError {
    /// True if opening again later may succeed (another process's lock).
    pub fn is_retryable(&self) -> bool {
        matches!(self, OpenError::Locked { .. })
    }
}

/// Maps an error SQLite raised while opening.
fn classify(path: &Path, e: rusqlite::Error) -> OpenError {
    let path = path.to_path_buf();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => OpenError::Locked { path },
        Some(ErrorCode::ReadOnly) => OpenError::ReadOnly { path },
        Some(ErrorCode::NotADatabase) => OpenError::NotADatabase { path },
        Some(ErrorCode::DatabaseCorrupt) => OpenError::Corrupt {
            path,
            detail: e.to_string(),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => OpenError::CannotOpen {
            path,
            source: Box::new(e),
        },
        _ => OpenError::Other {
            path,
            source: Box::new(e),
        },
    }
}

/// How to open a store. `OpenOptions::default().open(path)` is
/// [`SqliteStore::open`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Durability of an acknowledgement (default [`Synchronous::Full`]).
    pub synchronous: Synchronous,
    /// Reader threads (default [`DEFAULT_READ_THREADS`], at most
    /// [`MAX_READ_THREADS`]).
    pub read_threads: usize,
    /// How long to wait for another connection's lock (default
    /// [`DEFAULT_BUSY_TIMEOUT`]); at open, past it the file is
    /// [`OpenError::Locked`].
    pub busy_timeout: Duration,
    /// Create the file if it does not exist (default true).
    pub create: bool,
    /// Run `PRAGMA quick_check` at open (reads the whole file: O(size)),
    /// refusing a damaged file with [`OpenError::Corrupt`]. Default false:
    /// damage is then reported when a damaged page is read
    /// ([`StoreError::Corrupt`](hammerfall_ports::StoreError::Corrupt)).
    pub check_integrity: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            read_threads: DEFAULT_READ_THREADS,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            create: true,
            check_integrity: false,
        }
    }
}

/// What the file's header says.
struct Header {
    application_id: i32,
    version: i64,
    tables: i64,
}

fn header(conn: &Connection) -> rusqlite::Result<Header> {
    Ok(Header {
        application_id: conn.pragma_query_value(None, "application_id", |r| r.get(0))?,
        version: conn.pragma_query_value(None, "user_version", |r| r.get(0))?,
        tables: conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?,
    })
}

impl OpenOptions {
    /// Options with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens (or creates) the store at `path`, migrates its schema, and
    /// starts its writer and reader threads.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<SqliteStore, OpenError> {
        let path = path.as_ref();
        let conn = self.open_writer(path)?;
        let mut readers = Vec::with_capacity(self.read_threads);
        for _ in 0..self.read_threads.clamp(1, MAX_READ_THREADS) {
            readers.push(self.open_reader(path)?);
        }
        // Where the outbox may read to: everything already in the file.
        let log_end: i64 = conn
            .query_row("SELECT coalesce(max(position), 0) FROM log", [], |r| {
                r.get(0)
            })
            .map_err(|e| classify(path, e))?;
        let started =
            SqliteStore::start(path.to_path_buf(), conn, readers, self.synchronous, log_end);
        started.map_err(|e| OpenError::Other {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }

    fn open_writer(&self, path: &Path) -> Result<Connection, OpenError> {
        refuse_write_protected(path)?;
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if self.create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
        let fail = |e| classify(path, e);
        if conn.is_readonly(rusqlite::MAIN_DB).map_err(fail)? {
            return Err(OpenError::ReadOnly {
                path: path.to_path_buf(),
            });
        }
        conn.busy_timeout(self.busy_timeout).map_err(fail)?;
        let found = header(&conn).map_err(fail)?;
        check_header(path, &found)?;
        if self.check_integrity {
            quick_check(path, &conn)?;
        }
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
            .map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError::WalUnavailable {
                path: path.to_path_buf(),
                mode,
            });
        }
        // NORMAL either way: under `Full` the store's syncer thread fsyncs
        // the WAL after each commit (see `syncer`), so the writer builds
        // its next transaction while the disk works. Checkpoints are
        // fsynced by SQLite at NORMAL as at FULL.
        let synchronous = "NORMAL";
        conn.pragma_update(None, "synchronous", synchronous)
            .and_then(|()| conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES))
            .and_then(|()| conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES))
            .and_then(|()| conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB))
            .and_then(|()| conn.pragma_update(None, "temp_store", "MEMORY"))
            .map_err(fail)?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate(path, &conn)?;
        Ok(conn)
    }

    fn open_reader(&self, path: &Path) -> Result<Connection, OpenError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let fail = |e| classify(path, e);
        let conn = Connection::open_with_flags(path, flags).map_err(fail)?;
        conn.busy_timeout(self.busy_timeout).map_err(fail)?;
        conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)
            .and_then(|()| conn.pragma_update(None, "mmap_size", READER_MMAP_BYTES))
            .map_err(fail)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }
}

/// A write-protected file is refused up front: SQLite would open it
/// read-only (or, for a privileged user, write through the protection).
fn refuse_write_protected(path: &Path) -> Result<(), OpenError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().readonly() => Err(OpenError::ReadOnly {
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

fn check_header(path: &Path, found: &Header) -> Result<(), OpenError> {
    if found.version > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path: path.to_path_buf(),
            found: found.version,
            supported: SCHEMA_VERSION,
        });
    }
    let ours = found.application_id == APPLICATION_ID;
    let blank = found.application_id == 0 && found.tables == 0;
    if !ours && !blank {
        return Err(OpenError::ForeignDatabase {
            path: path.to_path_buf(),
            application_id: found.application_id,
        });
    }
    Ok(())
}

fn quick_check(path: &Path, conn: &Connection) -> Result<(), OpenError> {
    let problems: Vec<String> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| classify(path, e))?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(OpenError::Corrupt {
        path: path.to_path_buf(),
        detail: problems.join("; "),
    })
}

/// Takes the write lock (so a lock held by another process is reported
/// now, as [`OpenError::Locked`], not at the first commit) and brings the
/// schema up to date in that transaction.
fn migrate(path: &Path, conn: &Connection) -> Result<(), OpenError> {
    let fail = |e| classify(path, e);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(fail)?;
    let result = (|| {
        // Read again under the lock: another process may have migrated.
        let found = header(conn).map_err(fail)?;
        check_header(path, &found)?;
        if found.version < SCHEMA_VERSION {
            schema::migrate(conn, found.version).map_err(fail)?;
        }
        conn.execute_batch("COMMIT").map_err(fail)
    })();
    if result.is_err() && !conn.is_autocommit() {
        drop(conn.execute_batch("ROLLBACK"));
    }
    result
}
