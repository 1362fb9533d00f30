//! What the `durable` bench and the `profile_bids` example share: the
//! service over a `SqliteStore` file, its lots, and the next bid a
//! closed-loop client places (each lot's bids rise by 100.00, so every
//! bid is accepted).

use hammerfall_adapters_memory::{ManualClock, SequentialIds};
use hammerfall_adapters_sqlite::SqliteStore;
use hammerfall_engine::testkit::fixtures::bench_lot_creation;
use hammerfall_engine::{Ports, Service, ServiceConfig};
use hammerfall_ports::{
    Actor, Command, CommandEnvelope, Decimal, EventEnvelope, EventPublisher, LotId, ParticipantId,
    PlaceBid, PublishError,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The allocator the server runs on (see the workspace's `mimalloc`
/// dependency), so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Publishing is not what this measures: committed events are durable in
/// the store's outbox either way.
pub struct NullPublisher;

impl EventPublisher for NullPublisher {
    async fn publish(&self, _events: &[EventEnvelope]) -> Result<(), PublishError> {
        Ok(())
    }
}

pub type Svc = Service<SqliteStore, SqliteStore, NullPublisher>;

/// The lots bid on, and each one's last price in cents.
#[derive(Clone)]
pub struct Lots {
    pub ids: Arc<Vec<LotId>>,
    pub prices: Arc<Vec<AtomicI64>>,
}

impl Lots {
    /// The next bid on lot `i`: 100.00 above the last one placed there.
    pub fn next_bid(&self, svc: &Svc, bidder: &Actor, i: usize) -> CommandEnvelope {
        let cents = self.prices[i].fetch_add(10_000, Ordering::Relaxed) + 10_000;
        CommandEnvelope::new(
            svc.ports().ids.command_id(),
            self.ids[i].clone(),
            Command::PlaceBid(PlaceBid {
                bidder: bidder.clone(),
                amount: Decimal::new(cents, 2),
                currency: None,
                bid_id: svc.ports().ids.bid_id(),
            }),
        )
    }
}

/// A number from the environment, else `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The service on a store file at `path`, its workers spawned, shaped as
/// the server shapes it over SQLite (`hammerfall_adapters_sqlite::service_config`;
/// `HAMMERFALL_BENCH_WORKERS` and `HAMMERFALL_BENCH_MAX_BATCH` override
/// the shard count and batch size).
pub fn service(path: &std::path::Path) -> Svc {
    let store = Arc::new(SqliteStore::open(path).expect("open the store"));
    let ports = Ports {
        store: store.clone(),
        ledger: store,
        publisher: Arc::new(NullPublisher),
        clock: Arc::new(ManualClock::default()),
        ids: Arc::new(SequentialIds::new()),
    };
    let defaults = hammerfall_adapters_sqlite::service_config();
    let config = ServiceConfig {
        workers: env_or("HAMMERFALL_BENCH_WORKERS", defaults.workers),
        max_batch: env_or("HAMMERFALL_BENCH_MAX_BATCH", defaults.max_batch),
        ..defaults
    };
    let (svc, workers) = Service::new(ports, config);
    for w in workers {
        tokio::spawn(w);
    }
    svc
}

/// Creates `n` English lots, concurrently.
pub async fn create_lots(svc: &Svc, n: usize) -> Lots {
    let seller = Actor::seller(ParticipantId::new("seller").expect("id"));
    let now = svc.ports().clock.now();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (lot_id, env) = bench_lot_creation(&*svc.ports().ids, &seller, now);
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let created = svc.submit(env).await.expect("create");
            assert!(created.rejection().is_none());
            lot_id
        }));
    }
    let mut lots = Vec::with_capacity(n);
    for t in tasks {
        lots.push(t.await.expect("create task"));
    }
    Lots {
        ids: Arc::new(lots),
        prices: Arc::new((0..n).map(|_| AtomicI64::new(100)).collect()),
    }
}
