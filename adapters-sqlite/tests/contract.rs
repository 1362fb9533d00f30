//! The port contract suite against the SQLite store, on real files in a
//! temporary directory: the same checks the memory adapters pass.

use hammerfall_adapters_sqlite::SqliteStore;
use hammerfall_engine::testkit::{run_all_credit_ledger, run_all_lot_store};
use std::path::PathBuf;

/// A fresh store file per check, all in one temporary directory.
fn fresh_stores(dir: &tempfile::TempDir) -> impl FnMut() -> std::future::Ready<SqliteStore> {
    let root: PathBuf = dir.path().to_path_buf();
    let mut n = 0;
    move || {
        n += 1;
        let path = root.join(format!("store-{n}.db"));
        let store =
            SqliteStore::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
        std::future::ready(store)
    }
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_lot_store_contract() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    run_all_lot_store(fresh_stores(&dir)).await;
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_credit_ledger_contract() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    run_all_credit_ledger(fresh_stores(&dir)).await;
}
