//! Bad files: each is refused at open with a typed `OpenError` (never a
//! panic), and the refused file is left as it was (never a silent
//! rewrite).
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use hammerfall_adapters_sqlite::{
    APPLICATION_ID, OpenError, OpenOptions, SCHEMA_VERSION, SqliteStore,
};
use hammerfall_engine::testkit::fixtures::{bidding_war, english_lot, lot_id, t0};
use hammerfall_ports::{Duration, LotStore, StoreError};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Set in the lock-holding child: the file to lock.
const LOCK_HOLDER_ENV: &str = "HAMMERFALL_LOCK_HOLDER";

/// A store file with a few lots and bids in it, closed again.
fn populated(path: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(path).unwrap();
        for i in 0..20 {
            let created = english_lot(
                &format!("lot-{i}"),
                "sam",
                t0(),
                None,
                t0() + Duration::hours(1),
            );
            let war = bidding_war(&created.lot, 10, t0());
            let mut batch = vec![created.commit];
            batch.extend(war.into_iter().map(|s| s.commit));
            assert!(store.commit(batch).await.iter().all(Result::is_ok));
        }
    });
}

fn user_version(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    let garbage: Vec<u8> = (0..16_384u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
        .collect();
    std::fs::write(&path, &garbage).unwrap();
    match SqliteStore::open(&path) {
        Err(OpenError::NotADatabase { path: p }) => assert_eq!(p, path),
        other => panic!("expected NotADatabase, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the refused file is untouched"
    );
}

/// Overwrites every page but the first (the schema stays readable, the
/// tables do not).
fn damage(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(4096)).unwrap();
    let noise: Vec<u8> = (0..len - 4096)
        .map(|i| (i * 31 % 251).to_le_bytes()[0])
        .collect();
    file.write_all(&noise).unwrap();
    file.sync_all().unwrap();
}

#[test]
fn a_corrupt_database_is_refused_by_the_integrity_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.db");
    populated(&path);
    damage(&path);
    let options = OpenOptions {
        check_integrity: true,
        ..OpenOptions::default()
    };
    match options.open(&path) {
        Err(OpenError::Corrupt { path: p, detail }) => {
            assert_eq!(p, path);
            assert!(!detail.is_empty());
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn without_the_integrity_check_damage_surfaces_as_a_corrupt_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.db");
    populated(&path);
    damage(&path);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    match SqliteStore::open(&path) {
        // The damage may already show while opening…
        Err(OpenError::Corrupt { .. } | OpenError::NotADatabase { .. }) => {}
        Err(other) => panic!("expected Corrupt, got {other:?}"),
        // …or at the first read of a damaged page: an error, never a
        // wrong answer.
        Ok(store) => {
            let read = runtime.block_on(store.load(&lot_id("lot-3")));
            assert!(
                matches!(read, Err(StoreError::Corrupt(_))),
                "expected StoreError::Corrupt, got {read:?}"
            );
        }
    }
}

#[test]
fn a_database_with_a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    populated(&path);
    let newer = SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();
    match SqliteStore::open(&path) {
        Err(OpenError::NewerSchema {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (newer, SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert_eq!(user_version(&path), newer, "the file keeps its version");
}

#[test]
fn another_applications_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');")
        .unwrap();
    drop(conn);
    match SqliteStore::open(&path) {
        Err(OpenError::ForeignDatabase { application_id, .. }) => {
            assert_ne!(application_id, APPLICATION_ID);
        }
        other => panic!("expected ForeignDatabase, got {other:?}"),
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let body: String = conn
        .query_row("SELECT body FROM notes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, "keep me");
    assert_eq!(user_version(&path), 0);
}

#[test]
fn a_read_only_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("read-only.db");
    populated(&path);
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&path, permissions.clone()).unwrap();
    let result = SqliteStore::open(&path);
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&path, permissions).unwrap();
    match result {
        Err(OpenError::ReadOnly { path: p }) => assert_eq!(p, path),
        other => panic!("expected ReadOnly, got {other:?}"),
    }
}

#[test]
fn a_missing_directory_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("store.db");
    match SqliteStore::open(&path) {
        Err(OpenError::CannotOpen { .. }) => {}
        other => panic!("expected CannotOpen, got {other:?}"),
    }
}

/// The lock-holding child's body; a no-op test in a normal run. Takes an
/// exclusive lock on the file, says so, and holds it until killed.
#[test]
fn lock_holder() {
    let Some(path) = std::env::var_os(LOCK_HOLDER_ENV) else {
        return;
    };
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA locking_mode = EXCLUSIVE;
         BEGIN EXCLUSIVE;
         CREATE TABLE held (x);",
    )
    .unwrap();
    println!("LOCKED");
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn a_database_locked_by_another_process_is_refused_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    populated(&path);
    let mut holder = Command::new(std::env::current_exe().unwrap())
        .args(["lock_holder", "--exact", "--nocapture", "--test-threads=1"])
        .env(LOCK_HOLDER_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = holder.stdout.take().unwrap();
    let locked = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // The harness may have started the line ("test lock_holder ... ").
        .any(|l| l.ends_with("LOCKED"));
    assert!(locked, "the lock holder did not take the lock");
    let options = OpenOptions {
        busy_timeout: std::time::Duration::from_millis(200),
        ..OpenOptions::default()
    };
    let result = options.open(&path);
    holder.kill().unwrap();
    holder.wait().unwrap();
    match result {
        Err(e @ OpenError::Locked { .. }) => assert!(e.is_retryable()),
        other => panic!("expected Locked, got {other:?}"),
    }
    // The holder died without committing: the file opens, intact.
    let store = options.open(&path).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let lot = runtime.block_on(store.load(&lot_id("lot-3"))).unwrap();
    assert!(lot.is_some_and(|l| l.sequence > 10));
}
