//! A fixed number of engine bids (decide + apply), for instruction counting
//! with `valgrind --tool=callgrind`, which is repeatable on a loaded machine
//! where wall-clock benches are not.
//!
//! `cargo build --profile bench --example bid_loop -p hammerfall-benches`
//! then `valgrind --tool=callgrind target/release/examples/bid_loop 100000`.
#![allow(
    clippy::print_stdout,
    reason = "a runnable program reports to its terminal"
)]

use hammerfall_benches::{BidStream, bench_now, hot_lot};
use hammerfall_engine::{apply, judge_into};
use hammerfall_ports::Events;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let now = bench_now();
    let mut lot = hot_lot("hot");
    let mut stream = BidStream::new();
    let mut events = Events::new();
    for _ in 0..n {
        let cmd = stream.next_bid();
        if judge_into(&lot, &cmd, now, &mut events).is_err() {
            std::process::exit(1);
        }
        for e in &events {
            let _ = apply(&mut lot, e);
        }
    }
    std::process::exit(i32::from(lot.sequence != 2 + 2 * n));
}
