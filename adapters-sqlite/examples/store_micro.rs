#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]
use hammerfall_adapters_sqlite::SqliteStore;
use hammerfall_engine::testkit::fixtures::*;
use hammerfall_ports::*;
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir_in("/work/target-sqlite/tmp").unwrap();
    let dir = dir.keep();
    let store = SqliteStore::open(dir.join("m.db")).unwrap();
    let n_lots = 1000;
    let mut lots = Vec::new();
    let mut batch = Vec::new();
    for i in 0..n_lots {
        let s = english_lot(
            &format!("lot-{i}"),
            "seller",
            t0(),
            None,
            t0() + Duration::days(30),
        );
        batch.push(s.commit.clone());
        lots.push(s.lot);
    }
    assert!(store.commit(batch).await.iter().all(Result::is_ok));
    let per_batch: usize = std::env::args().nth(1).map_or(500, |a| a.parse().unwrap());
    let rounds = 40;
    let mut total = 0;
    let t = Instant::now();
    let mut enc = std::time::Duration::ZERO;
    for r in 0..rounds {
        let mut batch = Vec::new();
        let e = Instant::now();
        for k in 0..per_batch {
            let i = (r * per_batch + k) % n_lots;
            let bidder = if r % 2 == 0 { "ann" } else { "bob" };
            let st = step(
                &lots[i],
                bid_command(bidder, 2000 + 100 * r as i64, &format!("b{r}-{k}")),
                &format!("c{r}-{k}"),
                at(60 + r as i64),
            );
            lots[i] = st.lot.clone();
            batch.push(st.commit);
        }
        enc += e.elapsed();
        let res = store.commit(batch).await;
        assert!(
            res.iter().all(Result::is_ok),
            "{:?}",
            res.iter().find(|r| r.is_err())
        );
        total += per_batch;
    }
    let el = t.elapsed() - enc;
    println!(
        "{total} entries in {:?} (excluding fixture build {:?}): {:.0}/s",
        el,
        enc,
        total as f64 / el.as_secs_f64()
    );
    let lot = store.load(&lot_id("lot-1")).await.unwrap().unwrap();
    println!(
        "lot json {} bytes; dir {}",
        serde_json::to_vec(&lot).unwrap().len(),
        dir.display()
    );
    std::mem::forget(store);
}
