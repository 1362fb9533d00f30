//! The batch API (`Service::submit_many`): a batch is judged exactly as
//! the same commands submitted one by one in the same order — outcomes,
//! sequences, idempotency (a key repeated inside the batch is a replay, a
//! key reused for another command a conflict), lots and logs — also when
//! it spans lots and workers and is larger than one group commit.
//! (A stopped service answers `Stopped` for every command of a batch:
//! `service_async.rs`.)

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use hammerfall_engine::ServiceConfig;
use hammerfall_ports::{CommandEnvelope, LotId};

/// Lot creations, then bids on them in an interleaved order, with a retry
/// of an earlier bid, a reused key and a bid on an unknown lot.
fn workload(world: &MemWorld, lots: usize, bids: usize) -> (Vec<LotId>, Vec<CommandEnvelope>) {
    let ids: Vec<LotId> = (0..lots).map(|i| lid(&format!("lot-{i}"))).collect();
    let mut commands: Vec<CommandEnvelope> = ids
        .iter()
        .map(|lot| create_english(lot, "sam", world.now() + hours(1), |_| {}))
        .collect();
    let mut rng = Rng::new(7);
    let bidders: [&str; 4] = ["ann", "bob", "cid", "dee"];
    for i in 0..bids {
        let lot = rng.pick(&ids);
        let amount = cents(rng.range(900, 20_000));
        let who = bidders[rng.index(bidders.len())];
        commands.push(bid(lot, who, amount, &format!("k{i}")));
    }
    // A retry of the first bid (replayed), the same key for another
    // amount (idempotency conflict), and an unknown lot.
    let first = commands[lots].clone();
    commands.push(first.clone());
    let mut reused = first;
    if let hammerfall_ports::Command::PlaceBid(p) = &mut reused.command {
        p.amount += cents(1);
    }
    commands.push(reused);
    commands.push(bid(&lid("no-such-lot"), "ann", cents(5_000), "k-unknown"));
    (ids, commands)
}

async fn one_by_one(lots: usize, bids: usize, config: ServiceConfig) -> Vec<String> {
    let world = MemWorld::memory();
    let running = Running::start_with(world.ports(), config);
    let (ids, commands) = workload(&world, lots, bids);
    let mut seen = Vec::new();
    for envelope in commands {
        let response = running.svc.submit(envelope).await.unwrap();
        seen.push(format!("{response:?}"));
    }
    for lot in &ids {
        seen.push(format!("{:?}", all_events(&*world.store, lot).await));
        assert_log_is_state(&*world.store, lot).await;
    }
    seen
}

async fn batched(lots: usize, bids: usize, config: ServiceConfig, chunk: usize) -> Vec<String> {
    let world = MemWorld::memory();
    let running = Running::start_with(world.ports(), config);
    let (ids, commands) = workload(&world, lots, bids);
    let mut seen = Vec::new();
    // Creations first (a bid must find its lot), then the rest in chunks.
    let (creations, rest) = commands.split_at(lots);
    for part in [creations.to_vec()]
        .into_iter()
        .chain(rest.chunks(chunk).map(<[_]>::to_vec))
    {
        let count = part.len();
        let responses = running.svc.submit_many(part).await;
        assert_eq!(responses.len(), count, "one outcome per command, in order");
        for response in responses {
            seen.push(format!("{:?}", response.unwrap()));
        }
    }
    for lot in &ids {
        seen.push(format!("{:?}", all_events(&*world.store, lot).await));
        assert_log_is_state(&*world.store, lot).await;
    }
    seen
}

fn config(workers: usize, max_batch: usize) -> ServiceConfig {
    ServiceConfig {
        workers,
        max_batch,
        ..ServiceConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_judged_as_its_commands_one_by_one_in_order() {
    let expected = one_by_one(6, 300, config(1, 512)).await;
    for (workers, max_batch, chunk) in [(1, 512, 500), (3, 512, 64), (2, 7, 100), (4, 1, 33)] {
        let got = batched(6, 300, config(workers, max_batch), chunk).await;
        assert_eq!(
            got.len(),
            expected.len(),
            "workers {workers}, max_batch {max_batch}, chunk {chunk}"
        );
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(
                g, e,
                "answer {i} differs (workers {workers}, max_batch {max_batch}, chunk {chunk})"
            );
        }
    }
}

#[tokio::test]
async fn an_empty_batch_has_no_outcomes() {
    let world = MemWorld::memory();
    let running = world.start(2);
    assert!(running.svc.submit_many(Vec::new()).await.is_empty());
    running.stop().await;
}
