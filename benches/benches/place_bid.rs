//! Engine hot path: decide + apply of one bid on a hot lot.
//!
//! `cargo bench --bench place_bid`
#![allow(
    missing_docs,
    reason = "criterion's macros generate the public entry points"
)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hammerfall_benches::{BidStream, bench_now, hot_lot};
use hammerfall_engine::{apply, judge_into};
use hammerfall_ports::Events;
use std::hint::black_box;

fn place_bid(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    // Building the command (the caller's work) is outside the timed part;
    // judging it, folding its events and dropping them are inside.
    group.bench_function("place_bid_decide_apply", |b| {
        let now = bench_now();
        let mut lot = hot_lot("hot");
        let mut stream = BidStream::new();
        let mut events = Events::new();
        b.iter_batched(
            || stream.next_bid(),
            |cmd| {
                let outcome = judge_into(black_box(&lot), black_box(&cmd), now, &mut events);
                assert!(outcome.is_ok(), "bench bids are valid");
                for e in &events {
                    let _ = apply(&mut lot, e);
                }
                cmd
            },
            BatchSize::SmallInput,
        );
    });
    // The same with the command built inside the timed part.
    group.bench_function("place_bid_build_decide_apply", |b| {
        let now = bench_now();
        let mut lot = hot_lot("hot");
        let mut stream = BidStream::new();
        let mut events = Events::new();
        b.iter(|| {
            let cmd = stream.next_bid();
            let outcome = judge_into(black_box(&lot), black_box(&cmd), now, &mut events);
            assert!(outcome.is_ok(), "bench bids are valid");
            for e in &events {
                let _ = apply(&mut lot, e);
            }
        });
    });
    group.finish();
}

criterion_group!(benches, place_bid);
criterion_main!(benches);
