//! A fixed number of bids through the whole service (sequencer, idempotency
//! records, group commit, credit, publishing) over the memory adapters, for
//! instruction counting with `valgrind --tool=callgrind`.
//!
//! `cargo build --profile bench --example service_loop -p hammerfall-benches`
//! then `valgrind --tool=callgrind target/release/examples/service_loop
//! 100000 [LOTS] [WINDOW] [batch]`: `LOTS` lots (default 1), bids submitted
//! in windows of `WINDOW` (default 64) from one client on a single-threaded
//! runtime, every outcome awaited and counted; one `submit` per bid, or
//! with `batch` one `submit_many` per window.
#![allow(
    clippy::print_stdout,
    reason = "a runnable program reports to its terminal"
)]

use futures_util::future::join_all;
use hammerfall_adapters_memory::{
    ManualClock, MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore, SequentialIds,
};
use hammerfall_benches::bench_now;
use hammerfall_engine::testkit::fixtures::bench_lot_creation;
use hammerfall_engine::{Ports, Service, ServiceConfig};
use hammerfall_ports::{Actor, Command, CommandEnvelope, Decimal, ParticipantId, PlaceBid};
use std::sync::Arc;

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (n, lots, window) = (arg(1, 100_000), arg(2, 1).max(1), arg(3, 64).max(1));
    let batch_api = std::env::args().nth(4).is_some_and(|a| a == "batch");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let accepted = runtime.block_on(async move {
        let ports = Ports {
            store: Arc::new(MemoryLotStore::new()),
            ledger: Arc::new(MemoryCreditLedger::new()),
            publisher: Arc::new(MemoryEventPublisher::new()),
            clock: Arc::new(ManualClock::new(bench_now())),
            ids: Arc::new(SequentialIds::new()),
        };
        let config = ServiceConfig {
            workers: 2,
            ..ServiceConfig::default()
        };
        let (svc, workers) = Service::new(ports, config);
        for w in workers {
            tokio::spawn(w);
        }
        let seller = Actor::seller(ParticipantId::new("seller").unwrap_or_else(|e| panic!("{e}")));
        let mut ids = Vec::with_capacity(lots);
        for _ in 0..lots {
            let (lot_id, env) = bench_lot_creation(&*svc.ports().ids, &seller, bench_now());
            let created = svc.submit(env).await.unwrap_or_else(|e| panic!("{e}"));
            assert!(created.rejection().is_none());
            ids.push(lot_id);
        }
        let bidders: Vec<Actor> = (0..16)
            .map(|b| {
                Actor::bidder(
                    ParticipantId::new(format!("bidder-{b}")).unwrap_or_else(|e| panic!("{e}")),
                )
            })
            .collect();
        let mut prices = vec![100i64; lots];
        let mut accepted = 0u64;
        let mut sent = 0usize;
        while sent < n {
            let size = window.min(n - sent);
            let batch: Vec<CommandEnvelope> = (sent..sent + size)
                .map(|i| {
                    let lot = i % lots;
                    prices[lot] += 10_000;
                    CommandEnvelope::new(
                        svc.ports().ids.command_id(),
                        ids[lot].clone(),
                        Command::PlaceBid(PlaceBid {
                            bidder: bidders[i % bidders.len()].clone(),
                            amount: Decimal::new(prices[lot], 2),
                            currency: None,
                            bid_id: svc.ports().ids.bid_id(),
                        }),
                    )
                })
                .collect();
            sent += size;
            let responses = if batch_api {
                svc.submit_many(batch).await
            } else {
                join_all(batch.into_iter().map(|env| svc.submit(env))).await
            };
            for response in responses {
                let response = response.unwrap_or_else(|e| panic!("{e}"));
                if response.rejection().is_none() {
                    accepted += 1;
                }
            }
        }
        accepted
    });
    println!("{n} bids, {accepted} accepted");
}
