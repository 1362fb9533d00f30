//! Concurrency: many tasks submitting to one lot and to many lots, and two
//! services (separate caches) over one store. Whatever the interleaving,
//! every lot's state is its log replayed, and a sequential re-judging of
//! its recorded commands gives the same outcomes and the same lot; per lot,
//! each submitter's commands are judged in the order it sent them.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use hammerfall_adapters_memory::{MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore};
use hammerfall_engine::{Service, ServiceConfig, ServiceError};
use hammerfall_ports::{
    Actor, Command, CommandEnvelope, CommandRecord, CurrencyCode, Decimal, LotId, PlaceBid,
    SoftCloseInput,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

type MemSvc = Service<MemoryLotStore, MemoryCreditLedger, MemoryEventPublisher>;

const BIDDERS: [&str; 6] = ["ann", "bob", "cat", "dan", "eve", "fay"];

/// A lot of the workload: its id and seller.
#[derive(Clone)]
struct LotSpec {
    id: LotId,
    seller: String,
}

/// Creates `count` English lots with varied terms; returns them.
async fn create_lots(svc: &MemSvc, world: &MemWorld, count: usize) -> Vec<LotSpec> {
    let mut specs = Vec::new();
    for i in 0..count {
        let id = lid(&format!("lot-{i:03}"));
        let seller = format!("seller-{}", i % 7);
        let with_buy_now = i % 5 == 0;
        let envelope = create_english(&id, &seller, world.now() + hours(1), |c| {
            if i % 3 == 0 {
                c.reserve_price = Some(cents(15_000));
            }
            if with_buy_now {
                c.buy_now_price = Some(cents(40_000));
            }
            if i % 4 == 0 {
                c.soft_close = Some(SoftCloseInput {
                    window_secs: 7200,
                    extension_secs: 5400,
                });
            }
        });
        let created = svc.submit(envelope).await.unwrap();
        assert_eq!(code(&created.record), "done", "{:?}", created.record);
        specs.push(LotSpec { id, seller });
    }
    specs
}

/// One random command of task `task` (its `n`-th), valid or not.
fn random_command(rng: &mut Rng, lots: &[LotSpec], task: usize, n: usize) -> CommandEnvelope {
    let lot = rng.pick(lots);
    let key = format!("t{task}-{n}");
    let bidder = *rng.pick(&BIDDERS);
    // Prices cluster so that bids compete: many are too low, some lead.
    let amount = cents(rng.range(900, 30_000));
    match rng.below(100) {
        0..=79 => bid(&lot.id, bidder, amount, &key),
        80..=83 => bid(&lot.id, bidder, cents(-rng.range(0, 500)), &key),
        84..=87 => bid(
            &lot.id,
            bidder,
            Decimal::new(rng.range(1000, 9000) * 10 + 5, 3),
            &key,
        ),
        88..=90 => {
            let mut env = bid(&lot.id, bidder, amount, &key);
            if let Command::PlaceBid(PlaceBid { currency, .. }) = &mut env.command {
                *currency = Some(CurrencyCode::new("EUR").unwrap());
            }
            env
        }
        91..=93 => bid(&lot.id, &lot.seller, amount, &key),
        94..=95 => bid_as(&lot.id, non_bidder(bidder), amount, &key),
        96..=97 => buy_now(&lot.id, bidder, &key),
        _ => cancel(
            &lot.id,
            Actor::seller(hammerfall_ports::ParticipantId::new(&lot.seller).unwrap()),
            &key,
        ),
    }
}

/// Runs `tasks` tasks, each sending `per_task` random commands in bursts:
/// some bursts pipelined with `submit_async` (sent back to back, then
/// awaited), others one `submit` at a time. Returns what each task sent,
/// in its order.
async fn run_tasks(
    svc: &MemSvc,
    lots: &[LotSpec],
    tasks: usize,
    per_task: usize,
    seed: u64,
) -> Vec<Vec<CommandEnvelope>> {
    let lots = Arc::new(lots.to_vec());
    let mut handles = Vec::new();
    for task in 0..tasks {
        let svc = svc.clone();
        let lots = lots.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed ^ (task as u64).wrapping_mul(0x1234_5677));
            let mut sent = Vec::with_capacity(per_task);
            while sent.len() < per_task {
                let burst = usize::try_from(rng.range(1, 16)).unwrap();
                let pipelined = rng.chance(60);
                let mut keys = Vec::new();
                for _ in 0..burst.min(per_task - sent.len()) {
                    let envelope = random_command(&mut rng, &lots, task, sent.len());
                    if pipelined {
                        keys.push(svc.submit_async(envelope.clone()).unwrap());
                    } else {
                        let response = svc.submit(envelope.clone()).await.unwrap();
                        assert!(!response.replayed);
                    }
                    sent.push(envelope);
                }
                for key in keys {
                    await_recorded(&svc, &key).await;
                }
            }
            sent
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Checks (a), (b) and (c) for every lot; returns the count of records per
/// outcome code, for the callers' coverage checks.
async fn check_lots(
    world: &MemWorld,
    lots: &[LotSpec],
    sent: &[Vec<CommandEnvelope>],
    before: &[CommandEnvelope],
) -> BTreeMap<&'static str, usize> {
    let store = &*world.store;
    let mut per_lot: HashMap<LotId, Vec<CommandRecord>> = HashMap::new();
    for lot in lots {
        let creation = create_english(&lot.id, &lot.seller, world.now(), |_| {});
        per_lot
            .entry(lot.id.clone())
            .or_default()
            .push(stored_record(store, &creation).await);
    }
    for envelope in before {
        per_lot
            .entry(envelope.lot_id.clone())
            .or_default()
            .push(stored_record(store, envelope).await);
    }
    let mut codes = BTreeMap::new();
    for (task, envelopes) in sent.iter().enumerate() {
        // (c) per lot, this task's commands were judged in its order.
        let mut last: HashMap<LotId, ((u64, u8), String)> = HashMap::new();
        for envelope in envelopes {
            let record = stored_record(store, envelope).await;
            assert!(
                record.command.same_request(&envelope.command),
                "the record is the command sent"
            );
            *codes.entry(code(&record)).or_insert(0) += 1;
            let key = order_key(&record);
            if let Some((before, id)) = last.get(&envelope.lot_id) {
                assert!(
                    *before <= key,
                    "task {task}, lot {}: {id} (at {before:?}) was judged after {} (at {key:?})",
                    envelope.lot_id,
                    envelope.command_id,
                );
            }
            last.insert(
                envelope.lot_id.clone(),
                (key, envelope.command_id.to_string()),
            );
            per_lot
                .entry(envelope.lot_id.clone())
                .or_default()
                .push(record);
        }
    }
    for lot in lots {
        // (a) state == replay of the log.
        assert_log_is_state(store, &lot.id).await;
        // (b) the final state equals a sequential replay of the judged order.
        let records = per_lot.remove(&lot.id).unwrap();
        assert_sequential_rejudge(store, &lot.id, records).await;
    }
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_bidding_on_many_lots_equal_a_sequential_replay_of_the_recorded_order() {
    many_lots(
        ServiceConfig {
            workers: 4,
            ..ServiceConfig::default()
        },
        0x5eed_0001,
    )
    .await;
}

/// The same through a cache of 8 lots per worker: most commands reload
/// their lot, and batches mix cached and loaded lots.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_bidding_on_many_lots_through_a_tiny_cache_equal_a_sequential_replay() {
    many_lots(
        ServiceConfig {
            workers: 3,
            cache_capacity: 8,
            ..ServiceConfig::default()
        },
        0x5eed_0005,
    )
    .await;
}

async fn many_lots(config: ServiceConfig, seed: u64) {
    let world = MemWorld::memory();
    let running = Running::start_with(world.ports(), config);
    let lots = create_lots(&running.svc, &world, 200).await;
    let sent = run_tasks(&running.svc, &lots, 8, 250, seed).await;
    assert_eq!(sent.iter().map(Vec::len).sum::<usize>(), 2000);
    let codes = check_lots(&world, &lots, &sent, &[]).await;
    assert_eq!(
        codes.values().sum::<usize>(),
        2000,
        "every command is recorded"
    );
    for expected in [
        "done",
        "bid_too_low",
        "invalid_amount",
        "currency_mismatch",
        "seller_cannot_bid",
        "forbidden",
        "cancel_not_allowed",
    ] {
        assert!(
            codes.get(expected).is_some_and(|n| *n > 0),
            "the workload never produced {expected}: {codes:?}"
        );
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_bidding_on_one_lot_equal_a_sequential_replay_of_the_recorded_order() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let mut lots = create_lots(&running.svc, &world, 2).await;
    // Lot 1 (no buy now): the workload targets it alone.
    let lots = vec![lots.remove(1)];
    // A first bid, so that the seller's cancels are refused.
    let opening = bid(&lots[0].id, "zed", cents(1000), "opening");
    assert_eq!(
        code(&running.svc.submit(opening.clone()).await.unwrap().record),
        "done"
    );
    let sent = run_tasks(&running.svc, &lots, 8, 80, 0x5eed_0002).await;
    let codes = check_lots(&world, &lots, &sent, &[opening]).await;
    assert!(codes["done"] >= 5, "{codes:?}");
    let lot = load(&*world.store, &lots[0].id).await;
    let (_, state) = lot.english().unwrap();
    assert_eq!(
        usize::try_from(state.bid_count).unwrap(),
        all_bids(&*world.store, &lots[0].id).await.len()
    );
    assert_eq!(
        usize::try_from(state.bid_count).unwrap(),
        codes["done"] + 1,
        "without buy now or a successful cancel, every accepted command is a bid"
    );
    running.stop().await;
}

/// Two processes over one store: each has its own cache and workers, so
/// one's cached lot goes stale when the other commits. Compare-and-set
/// refuses the stale commit and the service re-decides on a fresh load.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_services_over_one_store_lose_no_update_and_retry_their_conflicts() {
    let world = World::with(
        CountingStore::new(MemoryLotStore::new()),
        MemoryCreditLedger::new(),
        MemoryEventPublisher::new(),
    );
    let a = world.start(2);
    let b = world.start(2);
    let lot = lid("shared");
    let created = a
        .svc
        .submit(create_english(&lot, "sam", world.now() + hours(1), |c| {
            c.reserve_price = Some(cents(5_000));
        }))
        .await
        .unwrap();
    assert_eq!(code(&created.record), "done");
    let mut records = vec![created.record];

    // Strict alternation: every bid after the first two meets a stale cache.
    for i in 0..10 {
        let svc = if i % 2 == 0 { &a.svc } else { &b.svc };
        let who = if i % 2 == 0 { "ann" } else { "bob" };
        let response = svc
            .submit(bid(&lot, who, cents(2_000 + 500 * i), &format!("alt-{i}")))
            .await
            .unwrap();
        assert_eq!(code(&response.record), "done", "{:?}", response.record);
        assert_eq!(
            response.lot.as_ref().unwrap().sequence,
            record_sequence(&response.record)
        );
        records.push(response.record);
    }
    let stale = world.store.conflicts();
    assert!(
        stale >= 4,
        "stale caches met compare-and-set conflicts: {stale}"
    );

    // Then four tasks, two per service, at the same time.
    let mut handles = Vec::new();
    for task in 0..4u64 {
        let svc = if task % 2 == 0 {
            a.svc.clone()
        } else {
            b.svc.clone()
        };
        let lot = lot.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(0xab ^ task);
            let mut out = Vec::new();
            let mut contention = 0;
            for n in 0..40 {
                let who = BIDDERS[usize::try_from(task).unwrap()];
                let envelope = bid(
                    &lot,
                    who,
                    cents(rng.range(5_000, 60_000)),
                    &format!("c{task}-{n}"),
                );
                // A 503 (contention) is retried by the client with the same id.
                let response = loop {
                    match svc.submit(envelope.clone()).await {
                        Ok(r) => break r,
                        Err(ServiceError::Contention(_)) => contention += 1,
                        Err(e) => panic!("{e}"),
                    }
                };
                assert!(!response.replayed);
                out.push(response.record);
            }
            (out, contention)
        }));
    }
    for h in handles {
        let (out, _contention) = h.await.unwrap();
        // Per submitter, in its order.
        let keys: Vec<_> = out.iter().map(order_key).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
        records.extend(out);
    }
    assert!(
        world.store.conflicts() > stale,
        "concurrent writers conflicted"
    );

    let store = &world.store.inner;
    let final_lot = assert_log_is_state(store, &lot).await;
    let bids = all_bids(store, &lot).await;
    let accepted: Vec<&CommandRecord> = records.iter().filter(|r| is_done(r)).collect();
    // Every accepted bid is in the log, once; none of the rejected is.
    let logged: HashSet<String> = bids.iter().map(|b| b.bid_id.to_string()).collect();
    assert_eq!(
        logged.len(),
        bids.len(),
        "bid ids are unique in the history"
    );
    for record in &records {
        if let Command::PlaceBid(p) = &record.command {
            assert_eq!(
                logged.contains(p.bid_id.as_str()),
                is_done(record),
                "{record:?}"
            );
        }
    }
    assert_eq!(
        accepted.len() - 1,
        bids.len(),
        "creation + one record per bid"
    );
    assert_eq!(
        final_lot.english().unwrap().1.bid_count as usize,
        bids.len()
    );
    // Outcomes as recorded by either service follow one sequential order.
    assert_sequential_rejudge(store, &lot, records).await;
    a.stop().await;
    b.stop().await;
}
