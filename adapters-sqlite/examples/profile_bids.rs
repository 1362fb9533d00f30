//! A fixed amount of durable bid work for instruction-count profiling
//! (`valgrind --tool=callgrind`): the bench `durable`'s `group_commit`
//! scenario, but a set number of bids per client instead of a set time, so
//! two runs do the same work and their instruction counts compare.
//!
//! `cargo run --release -p hammerfall-adapters-sqlite --example profile_bids`
//! with `PROFILE_LOTS` (default 1,000), `PROFILE_CLIENTS` (512) and
//! `PROFILE_BIDS` (bids per client, 40; 0 measures the set-up alone, to
//! subtract). Prints what it did on stderr.
#![allow(clippy::unwrap_used, missing_docs)]

use chrono::Duration as ChronoDuration;
use hammerfall_adapters_memory::{ManualClock, SequentialIds};
use hammerfall_adapters_sqlite::SqliteStore;
use hammerfall_engine::{Ports, Service, ServiceConfig};
use hammerfall_ports::{
    Actor, Command, CommandEnvelope, CreateLot, Currency, Decimal, EventEnvelope, EventPublisher,
    LotId, ParticipantId, PlaceBid, PublishError,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

struct NullPublisher;

impl EventPublisher for NullPublisher {
    async fn publish(&self, _events: &[EventEnvelope]) -> Result<(), PublishError> {
        Ok(())
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

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
        let store = Arc::new(SqliteStore::open(dir.path().join("profile.db")).unwrap());
        let ports = Ports {
            store: store.clone(),
            ledger: store,
            publisher: Arc::new(NullPublisher),
            clock: Arc::new(ManualClock::default()),
            ids: Arc::new(SequentialIds::new()),
        };
        let (svc, workers) = Service::new(ports, ServiceConfig::default());
        for w in workers {
            tokio::spawn(w);
        }
        let seller = Actor::seller(ParticipantId::new("seller").unwrap());
        let now = svc.ports().clock.now();
        let mut tasks = Vec::with_capacity(lots);
        for _ in 0..lots {
            let lot_id = svc.ports().ids.lot_id();
            let cmd = CreateLot::english(
                lot_id.clone(),
                seller.clone(),
                "Profile lot",
                Currency::USD,
                Decimal::new(100, 2),
                now + ChronoDuration::days(30),
            );
            let env = CommandEnvelope::new(
                svc.ports().ids.command_id(),
                lot_id.clone(),
                Command::CreateLot(Box::new(cmd)),
            );
            let svc = svc.clone();
            tasks.push(tokio::spawn(async move {
                assert!(svc.submit(env).await.unwrap().rejection().is_none());
                lot_id
            }));
        }
        let mut ids: Vec<LotId> = Vec::with_capacity(lots);
        for t in tasks {
            ids.push(t.await.unwrap());
        }
        let ids = Arc::new(ids);
        let prices: Arc<Vec<AtomicI64>> =
            Arc::new((0..lots).map(|_| AtomicI64::new(100)).collect());
        let accepted = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::with_capacity(clients);
        for c in 0..clients {
            let (svc, ids, prices, accepted) =
                (svc.clone(), ids.clone(), prices.clone(), accepted.clone());
            tasks.push(tokio::spawn(async move {
                let bidder = Actor::bidder(ParticipantId::new(format!("bidder-{c}")).unwrap());
                let mut i = c;
                for _ in 0..per_client {
                    i = (i + clients) % ids.len();
                    let cents = prices[i].fetch_add(10_000, Ordering::Relaxed) + 10_000;
                    let env = CommandEnvelope::new(
                        svc.ports().ids.command_id(),
                        ids[i].clone(),
                        Command::PlaceBid(PlaceBid {
                            bidder: bidder.clone(),
                            amount: Decimal::new(cents, 2),
                            currency: None,
                            bid_id: svc.ports().ids.bid_id(),
                        }),
                    );
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
