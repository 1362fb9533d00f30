//! Prometheus metrics in text exposition format, kept with atomics (and a
//! short lock for the labelled counters) so the hot path stays cheap.

use hammerfall_ports::Decimal;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in microseconds.
const LATENCY_BUCKETS_MICROS: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000,
];

/// The host's counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    bids_accepted: AtomicU64,
    bids_rejected: Mutex<BTreeMap<&'static str, u64>>,
    commands: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_MICROS.len()],
    latency_sum_micros: AtomicU64,
    latency_count: AtomicU64,
    websockets_open: AtomicI64,
    websockets_slow_closed: AtomicU64,
}

impl Metrics {
    /// Records a synchronously judged command: its name, its result
    /// (`accepted`, or the rejection code) and how long `submit` took.
    pub fn command(&self, name: &'static str, rejection: Option<&'static str>, took: Duration) {
        if name == "place_bid" {
            match rejection {
                None => {
                    self.bids_accepted.fetch_add(1, Ordering::Relaxed);
                }
                Some(code) => {
                    *lock(&self.bids_rejected).entry(code).or_default() += 1;
                }
            }
        }
        *lock(&self.commands)
            .entry((
                name,
                if rejection.is_some() {
                    "rejected"
                } else {
                    "accepted"
                },
            ))
            .or_default() += 1;
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        for (bound, bucket) in LATENCY_BUCKETS_MICROS.iter().zip(&self.latency_buckets) {
            if micros <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    /// A live connection opened (+1) or closed (−1).
    pub fn websocket(&self, delta: i64) {
        self.websockets_open.fetch_add(delta, Ordering::Relaxed);
    }

    /// A live connection was closed for falling behind.
    pub fn websocket_slow(&self) {
        self.websockets_slow_closed.fetch_add(1, Ordering::Relaxed);
    }

    /// Open live connections.
    pub fn websockets_open(&self) -> i64 {
        self.websockets_open.load(Ordering::Relaxed)
    }

    /// The exposition text; `queue_depth` is the sequencer's backlog.
    pub fn render(&self, queue_depth: Option<usize>) -> String {
        let mut out = String::with_capacity(4096);
        let accepted = self.bids_accepted.load(Ordering::Relaxed);
        header(
            &mut out,
            "hammerfall_bids_accepted_total",
            "counter",
            "Bids accepted.",
        );
        let _ = writeln!(out, "hammerfall_bids_accepted_total {accepted}");
        header(
            &mut out,
            "hammerfall_bids_rejected_total",
            "counter",
            "Bids rejected, by error code.",
        );
        for (code, n) in lock(&self.bids_rejected).iter() {
            let _ = writeln!(out, "hammerfall_bids_rejected_total{{code=\"{code}\"}} {n}");
        }
        header(
            &mut out,
            "hammerfall_commands_total",
            "counter",
            "Commands judged synchronously, by command and result.",
        );
        for ((name, result), n) in lock(&self.commands).iter() {
            let _ = writeln!(
                out,
                "hammerfall_commands_total{{command=\"{name}\",result=\"{result}\"}} {n}"
            );
        }
        header(
            &mut out,
            "hammerfall_submit_latency_seconds",
            "histogram",
            "Time from submitting a command to its recorded outcome (sequencer, decide, commit).",
        );
        for (bound, bucket) in LATENCY_BUCKETS_MICROS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "hammerfall_submit_latency_seconds_bucket{{le=\"{}\"}} {}",
                seconds(*bound),
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "hammerfall_submit_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "hammerfall_submit_latency_seconds_sum {}",
            seconds(self.latency_sum_micros.load(Ordering::Relaxed))
        );
        let _ = writeln!(out, "hammerfall_submit_latency_seconds_count {count}");
        if let Some(depth) = queue_depth {
            header(
                &mut out,
                "hammerfall_sequencer_queue_depth",
                "gauge",
                "Commands waiting in the sequencer's inboxes.",
            );
            let _ = writeln!(out, "hammerfall_sequencer_queue_depth {depth}");
        }
        header(
            &mut out,
            "hammerfall_websockets_open",
            "gauge",
            "Open live WebSocket connections.",
        );
        let _ = writeln!(out, "hammerfall_websockets_open {}", self.websockets_open());
        header(
            &mut out,
            "hammerfall_websockets_slow_closed_total",
            "counter",
            "Live connections closed for falling behind.",
        );
        let _ = writeln!(
            out,
            "hammerfall_websockets_slow_closed_total {}",
            self.websockets_slow_closed.load(Ordering::Relaxed)
        );
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Microseconds as decimal seconds, exactly.
fn seconds(micros: u64) -> String {
    Decimal::from_i128_with_scale(i128::from(micros), 6)
        .normalize()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_bids_by_outcome() {
        let m = Metrics::default();
        m.command("place_bid", None, Duration::from_micros(300));
        m.command("place_bid", Some("bid_too_low"), Duration::from_micros(80));
        let text = m.render(Some(0));
        assert!(
            text.contains("hammerfall_bids_accepted_total 1\n"),
            "{text}"
        );
        assert!(text.contains("hammerfall_bids_rejected_total{code=\"bid_too_low\"} 1\n"));
        assert!(text.contains("hammerfall_submit_latency_seconds_bucket{le=\"0.0005\"} 2\n"));
        assert!(text.contains("hammerfall_submit_latency_seconds_bucket{le=\"0.0001\"} 1\n"));
        assert!(text.contains("hammerfall_submit_latency_seconds_sum 0.00038\n"));
    }
}
