//! Durable bid throughput and latency: the application service over
//! [`SqliteStore`] on a real file (`synchronous = FULL`: every
//! acknowledged bid is fsynced), end to end: sequencer, idempotency
//! lookups, group commit, outbox.
//!
//! `cargo bench -p hammerfall-adapters-sqlite --bench durable`
//! (`HAMMERFALL_BENCH_SECS` sets the seconds per scenario, default 5;
//! `HAMMERFALL_BENCH_DIR` where the file goes, default Cargo's target tmp
//! dir, which is on the same disk as the build;
//! `HAMMERFALL_BENCH_KEEP` keeps the files for inspection;
//! `HAMMERFALL_BENCH_WORKERS` and `HAMMERFALL_BENCH_MAX_BATCH` override the
//! service's shard count and batch size, default
//! `hammerfall_adapters_sqlite::service_config()`, as the server runs it).
//!
//! Besides bids/s and latency it prints the process's CPU time per bid
//! (all threads) and the bytes it wrote per bid: on a machine shared with
//! other work these are steadier than the rates.
//!
//! Scenarios, on 1,000 English lots:
//! - `group_commit`: many concurrent clients (closed loop: each submits a
//!   bid and waits for its acknowledgement), so the writer thread folds
//!   many bids into each transaction and fsync;
//! - `one_client`: one client waiting for each acknowledgement, so every
//!   bid pays a whole transaction and fsync of its own;
//! - `fsync_floor`: no store, a bare loop of a 4 KiB write and an `fsync`
//!   of a preallocated file in the same directory: the disk's floor under
//!   `one_client`'s latency.
//!
//! Run by `cargo test` (no `--bench` argument) it does a short smoke run.
#![allow(
    clippy::print_stdout,
    clippy::float_arithmetic,
    clippy::cast_possible_truncation,
    clippy::unwrap_used,
    missing_docs
)]

mod support;

use hammerfall_ports::{Actor, ParticipantId};
use hdrhistogram::Histogram;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::{Lots, Svc, create_lots, service};

struct Run {
    /// CPU time the whole process spent (all threads), if known.
    cpu: Option<Duration>,
    /// Bytes the process handed to `write` calls (WAL frames, checkpoints).
    written: Option<u64>,
    commands: u64,
    accepted: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

/// `clients` tasks bid in a closed loop on `lots` for `secs`.
async fn drive(svc: &Svc, lots: &Lots, clients: usize, secs: f64) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let cpu_before = process_cpu();
    let written_before = process_written();
    let started = Instant::now();
    for c in 0..clients {
        let (svc, lots, stop, accepted) =
            (svc.clone(), lots.clone(), stop.clone(), accepted.clone());
        tasks.push(tokio::spawn(async move {
            let bidder = Actor::bidder(ParticipantId::new(format!("bidder-{c}")).expect("id"));
            // Raw samples, merged into one histogram at the end: 2,048
            // auto-resizing histograms cost more CPU than the store.
            let mut latency: Vec<u64> = Vec::with_capacity(4_096);
            let mut i = c;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i = (i + clients) % lots.ids.len();
                let env = lots.next_bid(&svc, &bidder, i);
                let t = Instant::now();
                let response = svc.submit(env).await.expect("submit");
                let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                latency.push(micros.max(1));
                if response.rejection().is_none() {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            (n, latency)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut run = Run {
        cpu: None,
        written: None,
        commands: 0,
        accepted: 0,
        elapsed: Duration::ZERO,
        // 1 µs to 10 min, 3 significant digits.
        latency: Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram"),
    };
    for t in tasks {
        let (n, samples) = t.await.expect("client");
        run.commands += n;
        for micros in samples {
            run.latency.saturating_record(micros);
        }
    }
    run.elapsed = started.elapsed();
    run.cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    run.written = process_written()
        .zip(written_before)
        .map(|(after, before)| after.saturating_sub(before));
    run.accepted = accepted.load(Ordering::Relaxed);
    run
}

/// CPU time of the whole process (user + system, all threads), from
/// `/proc/self/stat` (Linux; `None` elsewhere). With other load on the
/// machine, CPU per bid is the steadier figure.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// Bytes written by the process so far (`wchar` of `/proc/self/io`).
fn process_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|n| n.trim().parse().ok())
}

fn report(name: &str, clients: usize, run: &Run) {
    let rate = run.commands as f64 / run.elapsed.as_secs_f64();
    let h = &run.latency;
    let cpu = run.cpu.map_or(String::new(), |cpu| {
        format!(
            "  cpu {:.0} µs/bid ({:.2} cores)",
            cpu.as_secs_f64() * 1e6 / run.commands.max(1) as f64,
            cpu.as_secs_f64() / run.elapsed.as_secs_f64()
        )
    });
    let written = run.written.map_or(String::new(), |bytes| {
        format!(
            "  {:.1} KiB written/bid",
            bytes as f64 / 1024.0 / run.commands.max(1) as f64
        )
    });
    println!(
        "{name:<14} clients {clients:>5}  {rate:>9.0} durable bids/s ({:.1}% accepted)  \
         latency µs p50 {:>6} p99 {:>7} max {:>7}{cpu}{written}",
        100.0 * run.accepted as f64 / run.commands.max(1) as f64,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max(),
    );
}

/// The disk's floor: `pwrite` 4 KiB into a preallocated file, `fsync`,
/// for `secs`, as SQLite appends a WAL frame and syncs at a commit.
fn fsync_floor(dir: &std::path::Path, secs: f64) {
    use std::os::unix::fs::FileExt;
    const SPAN: u64 = 16 << 20;
    let path = dir.join("fsync-floor.bin");
    let file = std::fs::File::create(&path).expect("probe file");
    let block = vec![0x5au8; 4096];
    for offset in (0..SPAN).step_by(block.len()) {
        file.write_at(&block, offset).expect("preallocate");
    }
    file.sync_all().expect("fsync");
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram");
    let started = Instant::now();
    let mut offset = 0;
    while started.elapsed().as_secs_f64() < secs {
        let t = Instant::now();
        file.write_at(&block, offset).expect("write");
        file.sync_all().expect("fsync");
        let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        latency.saturating_record(micros.max(1));
        offset = (offset + block.len() as u64) % SPAN;
    }
    println!(
        "{:<14} {:>9.0} fsyncs/s  latency µs p50 {:>6} p99 {:>7} max {:>7}  (4 KiB pwrite + fsync, no store)",
        "fsync_floor",
        latency.len() as f64 / started.elapsed().as_secs_f64(),
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
        latency.max(),
    );
    drop(std::fs::remove_file(path));
}

fn bench_dir() -> PathBuf {
    std::env::var_os("HAMMERFALL_BENCH_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benching = args.iter().any(|a| a == "--bench");
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let secs: f64 = if benching {
        std::env::var("HAMMERFALL_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5.0)
    } else {
        0.2
    };
    let (lot_count, many_clients) = if benching { (1_000, 2_048) } else { (50, 64) };
    let dir = bench_dir().join(format!("hammerfall-durable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "service over SqliteStore (synchronous=FULL, WAL) in {}, {} cores, {secs} s per scenario, {lot_count} lots",
            dir.display(),
            std::thread::available_parallelism().map_or(0, usize::from)
        );
        if wanted("group_commit") {
            let svc = service(&dir.join("group.db"));
            let lots = create_lots(&svc, lot_count).await;
            report("group_commit", many_clients, &drive(&svc, &lots, many_clients, secs).await);
        }
        if wanted("one_client") {
            let svc = service(&dir.join("single.db"));
            let lots = create_lots(&svc, lot_count).await;
            report("one_client", 1, &drive(&svc, &lots, 1, secs).await);
        }
        if wanted("fsync_floor") {
            fsync_floor(&dir, secs.min(2.0));
        }
    });
    drop(runtime);
    if std::env::var_os("HAMMERFALL_BENCH_KEEP").is_none() {
        drop(std::fs::remove_dir_all(&dir));
    }
}
