//! A fixed amount of durable bid work for instruction-count profiling
//! (`valgrind --tool=callgrind`): the bench `durable`'s `group_commit`
//! scenario, but a set number of bids per client instead of a set time, so
//! two runs do the same work and their instruction counts compare.
//!
//! `cargo run --release -p hammerfall-adapters-sqlite --example profile_bids`
//! with `PROFILE_LOTS` (default 1,000), `PROFILE_CLIENTS` (512) and
//! `PROFILE_BIDS` (bids per client, 40; 0 measures the set-up alone, to
//! subtract); `HAMMERFALL_BENCH_WORKERS` and `HAMMERFALL_BENCH_MAX_BATCH` as
//! in the bench, whose service, lots and bids it shares
//! (`benches/support`). Prints what it did on stderr.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../benches/support/mod.rs"]
mod support;

use hammerfall_ports::{Actor, ParticipantId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use support::{create_lots, env_or, service};

fn main() {
    let lots = env_or("PROFILE_LOTS", 1_000);
    let clients = env_or("PROFILE_CLIENTS", 512);
    let per_client = env_or("PROFILE_BIDS", 40);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let svc = service(&dir.path().join("profile.db"));
        let lots_bid = create_lots(&svc, lots).await;
        let accepted = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::with_capacity(clients);
        for c in 0..clients {
            let (svc, lots_bid, accepted) = (svc.clone(), lots_bid.clone(), accepted.clone());
            tasks.push(tokio::spawn(async move {
                let bidder = Actor::bidder(ParticipantId::new(format!("bidder-{c}")).unwrap());
                let mut i = c;
                for _ in 0..per_client {
                    i = (i + clients) % lots_bid.ids.len();
                    let env = lots_bid.next_bid(&svc, &bidder, i);
                    if svc.submit(env).await.unwrap().rejection().is_none() {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        eprintln!(
            "lots {lots} clients {clients} bids {} accepted {}",
            clients * per_client,
            accepted.load(Ordering::Relaxed)
        );
    });
}
