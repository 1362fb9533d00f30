//! Service throughput and latency over the memory adapters: the sequencer,
//! idempotency records, group commit and publishing, end to end.
//!
//! `cargo bench --bench service` (runs a few seconds per scenario; set
//! `HAMMERFALL_BENCH_SECS` to change it).
//!
//! Scenarios: one hot lot, and 10,000 lots. Every bid is a real command
//! through the service (sequencer, idempotency record, group commit, credit,
//! publishing), its outcome returned to the client, which counts the
//! accepted ones. Peak throughput: 16 clients, each with a window of 64 bids
//! in flight, waiting for all their outcomes (as a network host does with
//! many connections) — submitted one `submit` per bid, or as one
//! `submit_many` per window (the batch API). Latency: clients that submit
//! one bid and wait for its outcome, as many as it takes to reach about
//! half the `submit` peak (or as close as one-at-a-time clients get), with
//! submit → outcome percentiles; then clients submitting `submit_many`
//! windows of 16 at about half the batch peak, latency per window.
//! A filter argument runs the scenarios whose name contains it
//! (`cargo bench --bench service -- hot_lot`).
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    reason = "rates and percentages of a benchmark, never money"
)]
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
use hammerfall_ports::{Actor, Command, CommandEnvelope, Decimal, LotId, ParticipantId, PlaceBid};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

type Svc = Service<MemoryLotStore, MemoryCreditLedger, MemoryEventPublisher>;

/// The lots of a scenario and, per lot, the last maximum issued: each new
/// bid tops it, so bids stay valid across the runs of a scenario.
struct Lots {
    ids: Arc<Vec<LotId>>,
    prices: Arc<Vec<AtomicI64>>,
}

struct Run {
    commands: u64,
    accepted: u64,
    elapsed: Duration,
    /// Process CPU time (all threads) during the run, if readable.
    cpu: Option<Duration>,
    latency: Histogram<u64>,
}

fn service() -> Svc {
    let ports = Ports {
        store: Arc::new(MemoryLotStore::new()),
        ledger: Arc::new(MemoryCreditLedger::new()),
        publisher: Arc::new(MemoryEventPublisher::new()),
        clock: Arc::new(ManualClock::new(bench_now())),
        ids: Arc::new(SequentialIds::new()),
    };
    let (svc, workers) = Service::new(ports, ServiceConfig::default());
    for w in workers {
        tokio::spawn(w);
    }
    svc
}

async fn create_lots(svc: &Svc, n: usize) -> Lots {
    let seller = Actor::seller(ParticipantId::new("seller").expect("id"));
    let mut lots = Vec::with_capacity(n);
    for _ in 0..n {
        let (lot_id, env) = bench_lot_creation(&*svc.ports().ids, &seller, bench_now());
        let created = svc.submit(env).await.expect("create");
        assert!(created.rejection().is_none());
        lots.push(lot_id);
    }
    Lots {
        ids: Arc::new(lots),
        prices: Arc::new((0..n).map(|_| AtomicI64::new(100)).collect()),
    }
}

/// How a client hands its window of bids over.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One `submit` per bid, all awaited together.
    Submit,
    /// One `submit_many` per window.
    Batch,
}

/// `clients` tasks bid on `lots` for `secs`, each with `window` commands in
/// flight (1: submit, wait, repeat).
async fn drive(
    svc: &Svc,
    lots: &Lots,
    clients: usize,
    window: usize,
    mode: Mode,
    secs: f64,
) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let (lots, prices) = (lots.ids.clone(), lots.prices.clone());
    let accepted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let cpu_before = process_cpu();
    let started = Instant::now();
    for c in 0..clients {
        let (svc, lots, stop, prices, accepted) = (
            svc.clone(),
            lots.clone(),
            stop.clone(),
            prices.clone(),
            accepted.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let bidder = Actor::bidder(ParticipantId::new(format!("bidder-{c}")).expect("id"));
            let mut latency = Histogram::<u64>::new(3).expect("histogram");
            let mut i = c;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut batch = Vec::with_capacity(window);
                for _ in 0..window {
                    i = (i + clients) % lots.len();
                    let cents = prices[i].fetch_add(10_000, Ordering::Relaxed) + 10_000;
                    batch.push(CommandEnvelope::new(
                        svc.ports().ids.command_id(),
                        lots[i].clone(),
                        Command::PlaceBid(PlaceBid {
                            bidder: bidder.clone(),
                            amount: Decimal::new(cents, 2),
                            currency: None,
                            bid_id: svc.ports().ids.bid_id(),
                        }),
                    ));
                }
                let t = Instant::now();
                let responses = match mode {
                    Mode::Submit => join_all(batch.into_iter().map(|env| svc.submit(env))).await,
                    Mode::Batch => svc.submit_many(batch).await,
                };
                let micros = u64::try_from(t.elapsed().as_nanos() / 1000).unwrap_or(u64::MAX);
                let _ = latency.record(micros.max(1));
                for response in responses {
                    if response.expect("submit").rejection().is_none() {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            }
            (n, latency)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut run = Run {
        commands: 0,
        accepted: 0,
        elapsed: Duration::ZERO,
        cpu: None,
        latency: Histogram::new(3).expect("histogram"),
    };
    for t in tasks {
        let (n, h) = t.await.expect("client");
        run.commands += n;
        run.latency.add(h).expect("same bounds");
    }
    run.elapsed = started.elapsed();
    run.cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    run.accepted = accepted.load(Ordering::Relaxed);
    run
}

/// Prints a run; latency is per submitted window (one command when the
/// window is 1).
fn report(name: &str, clients: usize, run: &Run) -> f64 {
    let rate = run.commands as f64 / run.elapsed.as_secs_f64();
    let h = &run.latency;
    let cpu = run.cpu.map_or_else(
        || "?".to_owned(),
        |c| format!("{:.0}", c.as_nanos() as f64 / run.commands.max(1) as f64),
    );
    println!(
        "{name:<58} clients {clients:>3}  {:>9.0} bids/s  {} bids, {} accepted ({:.1}%)  CPU ns/bid {cpu:>5}  latency µs p50 {:>5} p99 {:>6} p99.9 {:>6} max {:>7}",
        rate,
        run.commands,
        run.accepted,
        100.0 * run.accepted as f64 / run.commands.max(1) as f64,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
    );
    rate
}

/// User + system CPU time of this process (Linux `/proc/self/stat`, in
/// clock ticks of 10 ms: coarse, but runs last seconds).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which ends with the last ')').
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects scenarios.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let secs: f64 = std::env::var("HAMMERFALL_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    runtime.block_on(async {
        println!(
            "service over memory adapters, {} cores, {secs} s per scenario",
            std::thread::available_parallelism().map_or(0, usize::from)
        );
        for (name, n) in [("hot_lot (1 lot)", 1), ("many_lots (10,000 lots)", 10_000)] {
            if !wanted(name) {
                continue;
            }
            let svc = service();
            let lots = create_lots(&svc, n).await;
            let peak = report(
                &format!("{name}, submit, windows of 64"),
                16,
                &drive(&svc, &lots, 16, 64, Mode::Submit, secs).await,
            );
            let batch_peak = report(
                &format!("{name}, submit_many, windows of 64"),
                16,
                &drive(&svc, &lots, 16, 64, Mode::Batch, secs).await,
            );
            let half = half_load(&svc, &lots, 1, Mode::Submit, peak, secs).await;
            report(
                &format!("{name}, submit one at a time, ~half submit peak"),
                half.0,
                &half.1,
            );
            let half = half_load(&svc, &lots, 16, Mode::Batch, batch_peak, secs).await;
            report(
                &format!("{name}, submit_many of 16, ~half batch peak"),
                half.0,
                &half.1,
            );
        }
    });
}

/// Finds the client count whose closed-loop throughput is closest to half
/// the peak (latency is then measured at that load).
async fn half_load(
    svc: &Svc,
    lots: &Lots,
    window: usize,
    mode: Mode,
    peak: f64,
    secs: f64,
) -> (usize, Run) {
    let mut best: Option<(usize, Run)> = None;
    for clients in [1, 2, 4, 8, 16, 32, 64] {
        let run = drive(svc, lots, clients, window, mode, secs / 3.0).await;
        let rate = run.commands as f64 / run.elapsed.as_secs_f64();
        let better = best.as_ref().is_none_or(|(_, b)| {
            let b_rate = b.commands as f64 / b.elapsed.as_secs_f64();
            (rate - peak / 2.0).abs() < (b_rate - peak / 2.0).abs()
        });
        if better {
            best = Some((clients, run));
        }
        if rate >= peak / 2.0 {
            break;
        }
    }
    best.unwrap_or_else(|| unreachable!("at least one run"))
}
