//! Bidder credit through the service (SPEC §3.1, §9 "Credit"): rule 9,
//! holds that follow the lead, shrink on a sale, are consumed by payment
//! and released otherwise — and a ledger that agrees with the lots after
//! every step of random workloads and after failed commits.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use hammerfall_adapters_memory::{
    CreditFault, CreditOp, FaultyLedger, FaultyStore, MemoryCreditLedger, MemoryEventPublisher,
    MemoryLotStore, StoreFault, StoreOp,
};
use hammerfall_engine::credit::required_hold;
use hammerfall_engine::{Service, ServiceConfig, ServiceError, min_bid_for};
use hammerfall_ports::{
    Actor, CreditLedger, Currency, Decimal, EventPublisher, LotId, LotStatus, LotStore, Money,
    ParticipantId, SettlementStatus,
};
use std::collections::HashMap;

/// 10 %: a hold of maximum 100.00 is 110.00.
fn premium_10() -> Decimal {
    Decimal::new(10, 2)
}

async fn set_limit<S: LotStore, L: CreditLedger, P: EventPublisher>(
    svc: &Service<S, L, P>,
    who: &str,
    minor: i64,
) {
    svc.set_credit_limit(&pid(who), usd(minor), Currency::USD)
        .await
        .unwrap()
        .unwrap();
}

/// A credit-checked lot with a 10 % premium, ending in an hour.
async fn credit_lot<S: LotStore, L: CreditLedger, P: EventPublisher>(
    svc: &Service<S, L, P>,
    name: &str,
    tune: impl FnOnce(&mut hammerfall_ports::CreateLot),
) -> LotId {
    let lot = lid(name);
    let created = svc
        .submit(create_english(&lot, "sam", t0() + hours(1), |c| {
            c.credit_check = Some(true);
            c.buyer_premium_rate = Some(premium_10());
            tune(c);
        }))
        .await
        .unwrap();
    assert_eq!(code(&created.record), "done", "{:?}", created.record);
    lot
}

async fn submit_code<S: LotStore, L: CreditLedger, P: EventPublisher>(
    svc: &Service<S, L, P>,
    envelope: hammerfall_ports::CommandEnvelope,
) -> &'static str {
    code(&svc.submit(envelope).await.unwrap().record)
}

#[tokio::test]
async fn a_bid_whose_hold_does_not_fit_is_refused_with_insufficient_credit_and_changes_nothing() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = credit_lot(svc, "lot-1", |_| {}).await;
    set_limit(svc, "ann", 10_000).await;
    svc.set_credit_limit(
        &pid("eur"),
        Money::from_minor(1_000_000, Currency::EUR),
        Currency::EUR,
    )
    .await
    .unwrap()
    .unwrap();
    let before = load(&*world.store, &lot).await;

    // 95.00 + 10 % = 104.50 > 100.00.
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(9_500), "k1")).await,
        "insufficient_credit"
    );
    assert_eq!(
        submit_code(svc, bid(&lot, "nolimit", cents(1_000), "k1")).await,
        "insufficient_credit"
    );
    assert_eq!(
        submit_code(svc, bid(&lot, "eur", cents(1_000), "k1")).await,
        "insufficient_credit"
    );
    assert_eq!(load(&*world.store, &lot).await, before, "nothing changed");
    assert_eq!(all_events(&*world.store, &lot).await.len(), 2);
    assert_eq!(
        credit_of(&*world.ledger, "ann").await,
        (usd(10_000), usd(0), usd(10_000))
    );

    // 90.00 + 10 % = 99.00 fits.
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(9_000), "k2")).await,
        "done"
    );
    assert_eq!(
        credit_of(&*world.ledger, "ann").await,
        (usd(10_000), usd(9_900), usd(100))
    );

    // A bid outbid at once holds nothing, but must still fit.
    set_limit(svc, "bob", 2_000).await;
    let outbid = svc
        .submit(bid(&lot, "bob", cents(1_500), "b1"))
        .await
        .unwrap();
    assert!(matches!(
        outbid.record.outcome,
        hammerfall_ports::CommandOutcome::Done {
            result: hammerfall_ports::Accepted::Bid {
                outcome: hammerfall_ports::BidOutcome::Outbid,
                ..
            },
            ..
        }
    ));
    assert_eq!(held(&*world.ledger, "bob").await, usd(0));
    let before = load(&*world.store, &lot).await;
    assert_eq!(
        submit_code(svc, bid(&lot, "bob", cents(5_000), "b2")).await,
        "insufficient_credit"
    );
    assert_eq!(load(&*world.store, &lot).await, before);
    assert_eq!(held(&*world.ledger, "ann").await, usd(9_900));
    running.stop().await;
}

#[tokio::test]
async fn holds_follow_the_lead_raise_outbid_and_are_released_on_cancel() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = credit_lot(svc, "lot-1", |_| {}).await;
    set_limit(svc, "ann", 100_000).await;
    set_limit(svc, "bob", 100_000).await;

    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(10_000), "a1")).await,
        "done"
    );
    assert_eq!(held(&*world.ledger, "ann").await, usd(11_000));
    // Raising the maximum replaces the hold.
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(20_000), "a2")).await,
        "done"
    );
    assert_eq!(held(&*world.ledger, "ann").await, usd(22_000));
    // Outbid: the hold moves to the new leader.
    assert_eq!(
        submit_code(svc, bid(&lot, "bob", cents(30_000), "b1")).await,
        "done"
    );
    assert_eq!(held(&*world.ledger, "ann").await, usd(0));
    assert_eq!(held(&*world.ledger, "bob").await, usd(33_000));
    assert_eq!(credit_of(&*world.ledger, "bob").await.2, usd(67_000));
    // An admin cancels: released.
    assert_eq!(submit_code(svc, cancel(&lot, admin(), "x1")).await, "done");
    assert_eq!(load(&*world.store, &lot).await.status, LotStatus::Cancelled);
    assert_eq!(held(&*world.ledger, "bob").await, usd(0));
    assert_eq!(
        credit_of(&*world.ledger, "bob").await,
        (usd(100_000), usd(0), usd(100_000))
    );
    running.stop().await;
}

#[tokio::test]
async fn a_lot_closing_unsold_releases_its_hold() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = credit_lot(svc, "lot-1", |c| c.reserve_price = Some(cents(50_000))).await;
    set_limit(svc, "ann", 100_000).await;
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(30_000), "a1")).await,
        "done"
    );
    assert_eq!(held(&*world.ledger, "ann").await, usd(33_000));
    world.clock.advance(hours(2));
    assert_eq!(svc.tick().await.unwrap(), 1);
    let closed = load(&*world.store, &lot).await;
    assert_eq!(closed.status, LotStatus::Closed);
    assert_eq!(closed.settlement, None, "unsold: reserve not met");
    assert_eq!(held(&*world.ledger, "ann").await, usd(0));
    running.stop().await;
}

#[tokio::test]
async fn a_sale_shrinks_the_winners_hold_to_total_due_and_payment_consumes_it() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = credit_lot(svc, "lot-1", |_| {}).await;
    set_limit(svc, "ann", 100_000).await;
    set_limit(svc, "bob", 100_000).await;
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(30_000), "a1")).await,
        "done"
    );
    assert_eq!(
        submit_code(svc, bid(&lot, "bob", cents(10_000), "b1")).await,
        "done"
    );
    assert_eq!(held(&*world.ledger, "ann").await, usd(33_000));
    assert_eq!(held(&*world.ledger, "bob").await, usd(0));

    world.clock.advance(hours(2));
    assert_eq!(svc.tick().await.unwrap(), 1);
    let sold = load(&*world.store, &lot).await;
    let settlement = sold.settlement.clone().unwrap();
    // Hammer 102.50 (bob's 100.00 + 2.50), premium 10.25.
    assert_eq!(settlement.hammer_price, usd(10_250));
    assert_eq!(settlement.total_due, usd(11_275));
    assert_eq!(
        credit_of(&*world.ledger, "ann").await,
        (usd(100_000), usd(11_275), usd(88_725))
    );

    // Bob cannot pay; ann can, once.
    assert_eq!(
        submit_code(svc, pay(&lot, Actor::bidder(pid("bob")), "p0")).await,
        "forbidden"
    );
    assert_eq!(
        submit_code(svc, pay(&lot, Actor::bidder(pid("ann")), "p1")).await,
        "done"
    );
    assert_eq!(
        credit_of(&*world.ledger, "ann").await,
        (usd(88_725), usd(0), usd(88_725))
    );
    assert_eq!(
        submit_code(svc, pay(&lot, Actor::bidder(pid("ann")), "p2")).await,
        "already_paid"
    );
    assert_eq!(
        submit_code(svc, pay(&lot, admin(), "p3")).await,
        "already_paid"
    );
    assert_eq!(
        credit_of(&*world.ledger, "ann").await,
        (usd(88_725), usd(0), usd(88_725))
    );
    assert_eq!(
        load(&*world.store, &lot).await.settlement.unwrap().status,
        SettlementStatus::Paid
    );
    running.stop().await;
}

#[tokio::test]
async fn a_defaulted_settlement_releases_the_winners_hold() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = credit_lot(svc, "lot-1", |_| {}).await;
    set_limit(svc, "ann", 100_000).await;
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(30_000), "a1")).await,
        "done"
    );
    world.clock.advance(hours(2));
    svc.tick().await.unwrap();
    // Sold at the starting price: 10.00 + 1.00.
    assert_eq!(held(&*world.ledger, "ann").await, usd(1_100));
    world.clock.advance(hours(72));
    assert_eq!(svc.tick().await.unwrap(), 1);
    let lot_now = load(&*world.store, &lot).await;
    assert_eq!(
        lot_now.settlement.unwrap().status,
        SettlementStatus::Defaulted
    );
    assert_eq!(
        credit_of(&*world.ledger, "ann").await,
        (usd(100_000), usd(0), usd(100_000))
    );
    assert_eq!(
        submit_code(svc, pay(&lot, Actor::bidder(pid("ann")), "late")).await,
        "settlement_defaulted"
    );
    assert_eq!(
        credit_of(&*world.ledger, "ann").await,
        (usd(100_000), usd(0), usd(100_000))
    );
    running.stop().await;
}

#[tokio::test]
async fn buy_now_on_a_credit_checked_lot_needs_the_price_plus_premium_and_holds_it() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = credit_lot(svc, "lot-1", |c| {
        c.reserve_price = Some(cents(35_000));
        c.buy_now_price = Some(cents(40_000));
    })
    .await;
    set_limit(svc, "ann", 100_000).await;
    set_limit(svc, "cat", 40_000).await;
    set_limit(svc, "dan", 50_000).await;
    // Ann leads below the reserve, so buy now stays available.
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(10_000), "a1")).await,
        "done"
    );
    assert_eq!(held(&*world.ledger, "ann").await, usd(11_000));

    // 400.00 + 40.00 > 400.00.
    let before = load(&*world.store, &lot).await;
    assert_eq!(
        submit_code(svc, buy_now(&lot, "cat", "c1")).await,
        "insufficient_credit"
    );
    assert_eq!(load(&*world.store, &lot).await, before);
    assert_eq!(held(&*world.ledger, "cat").await, usd(0));

    assert_eq!(submit_code(svc, buy_now(&lot, "dan", "d1")).await, "done");
    let sold = load(&*world.store, &lot).await;
    assert_eq!(sold.status, LotStatus::Closed);
    assert_eq!(sold.settlement.as_ref().unwrap().total_due, usd(44_000));
    assert_eq!(held(&*world.ledger, "dan").await, usd(44_000));
    assert_eq!(
        held(&*world.ledger, "ann").await,
        usd(0),
        "the outbid leader is released"
    );
    assert_eq!(
        submit_code(svc, pay(&lot, Actor::bidder(pid("dan")), "d2")).await,
        "done"
    );
    assert_eq!(
        credit_of(&*world.ledger, "dan").await,
        (usd(6_000), usd(0), usd(6_000))
    );
    running.stop().await;
}

// ------------------------------------------------------------ random --

const PEOPLE: [&str; 5] = ["ann", "bob", "cat", "dan", "eve"];

/// One random sequential workload on credit-checked lots (and one without
/// credit checks), checking the ledger against the lots after every step.
async fn random_credit_workload(seed: u64, steps: usize, config: ServiceConfig) {
    let world = MemWorld::memory();
    let running = Running::start_with(world.ports(), config);
    let svc = &running.svc;
    let mut rng = Rng::new(seed);
    let mut limits: HashMap<ParticipantId, Money> = HashMap::new();
    for who in PEOPLE {
        let limit = usd(rng.range(20, 300) * 1_000);
        set_limit(svc, who, limit.minor_units()).await;
        limits.insert(pid(who), limit);
    }
    let rates = [
        Decimal::ZERO,
        Decimal::new(10, 2),
        Decimal::new(15, 2),
        Decimal::new(125, 3),
    ];
    let mut lots: Vec<LotId> = Vec::new();
    let mut next_lot = 0;
    for step in 0..steps {
        let context = format!("seed {seed:#x}, step {step}");
        let open = {
            let mut n = 0;
            for l in &lots {
                if !load(&*world.store, l).await.status.is_final() {
                    n += 1;
                }
            }
            n
        };
        if open < 4 {
            let lot = lid(&format!("r-{next_lot}"));
            let credit = next_lot % 5 != 4;
            let rate = *rng.pick(&rates);
            let minutes = rng.range(20, 240);
            let reserve = rng.chance(30).then(|| cents(rng.range(50, 400) * 100));
            let buy_now_price = rng.chance(40).then(|| cents(rng.range(400, 900) * 100));
            let envelope = create_english(
                &lot,
                "sam",
                world.now() + chrono::Duration::minutes(minutes),
                |c| {
                    c.credit_check = Some(credit);
                    c.buyer_premium_rate = Some(rate);
                    c.reserve_price = reserve;
                    c.buy_now_price = buy_now_price;
                },
            );
            assert_eq!(submit_code(svc, envelope).await, "done", "{context}");
            lots.push(lot);
            next_lot += 1;
        }
        let lot = rng.pick(&lots).clone();
        let who = *rng.pick(&PEOPLE);
        let key = format!("s{step}");
        match rng.below(100) {
            0..=59 => {
                let current = load(&*world.store, &lot).await;
                let min = min_bid_for(&current, &pid(who)).unwrap();
                let amount = if rng.chance(80) {
                    min.plus(usd(rng.range(0, 200) * 100))
                } else {
                    usd(rng.range(1, 600) * 100)
                };
                svc.submit(bid(&lot, who, amount.amount(), &key))
                    .await
                    .unwrap();
            }
            60..=66 => {
                svc.submit(buy_now(&lot, who, &key)).await.unwrap();
            }
            67..=70 => {
                svc.submit(cancel(&lot, admin(), &key)).await.unwrap();
            }
            71..=84 => {
                world
                    .clock
                    .advance(chrono::Duration::minutes(rng.range(0, 120)));
                if rng.chance(70) {
                    svc.tick().await.unwrap();
                }
            }
            85..=94 => {
                // The buyer pays (sometimes someone else tries).
                let current = load(&*world.store, &lot).await;
                let payer = match (&current.settlement, rng.chance(85)) {
                    (Some(s), true) => s.buyer_id.clone(),
                    _ => pid(who),
                };
                let pending = current
                    .settlement
                    .as_ref()
                    .filter(|s| s.status == SettlementStatus::Pending)
                    .map(|s| s.total_due);
                let response = svc
                    .submit(pay(&lot, Actor::bidder(payer.clone()), &key))
                    .await
                    .unwrap();
                let credit = current.english().is_some_and(|(t, _)| t.credit_check);
                if let (true, Some(due), true) = (is_done(&response.record), pending, credit) {
                    let limit = limits.get_mut(&payer).unwrap();
                    *limit = limit.saturating_minus(due);
                }
            }
            _ => {
                // Raise a limit.
                let limit = limits.get_mut(&pid(who)).unwrap();
                *limit = limit.plus(usd(rng.range(1, 50) * 1_000));
                set_limit(svc, who, limit.minor_units()).await;
            }
        }
        assert_credit_matches_lots(&*world.store, &*world.ledger, &lots, &limits, &context).await;
    }
    for lot in &lots {
        assert_log_is_state(&*world.store, lot).await;
    }
    running.stop().await;
}

#[tokio::test]
async fn random_credit_workloads_keep_every_hold_equal_to_what_the_lots_require() {
    let config = ServiceConfig {
        workers: 2,
        ..ServiceConfig::default()
    };
    for seed in [0xc0ffee_u64, 0xbeef, 0x5eed_5eed, 0xa11ce, 0x0b0b] {
        random_credit_workload(seed, 400, config).await;
    }
}

/// The same with a one-lot cache: nearly every command reloads its lot,
/// and each reload sets the lot's hold again from its state.
#[tokio::test]
async fn random_credit_workloads_with_constant_cache_evictions_keep_holds_equal_to_the_lots() {
    let config = ServiceConfig {
        workers: 1,
        cache_capacity: 1,
        ..ServiceConfig::default()
    };
    for seed in [0xe71c7, 0xfade] {
        random_credit_workload(seed, 400, config).await;
    }
}

/// Two processes alternating on the same credit-checked lots: each one's
/// cache goes stale, its pre-commit hold meets a compare-and-set conflict,
/// and the ledger is set back from the stored lot before the retry.
#[tokio::test]
async fn two_services_alternating_on_credit_lots_keep_the_ledger_equal_to_the_lots() {
    let world = MemWorld::memory();
    let a = world.start(1);
    let b = world.start(2);
    let mut limits = HashMap::new();
    for who in PEOPLE {
        set_limit(&a.svc, who, 60_000).await;
        limits.insert(pid(who), usd(60_000));
    }
    let lots = [
        credit_lot(&a.svc, "x", |_| {}).await,
        credit_lot(&b.svc, "y", |_| {}).await,
    ];
    let mut rng = Rng::new(0x2_5e2);
    for step in 0..200 {
        let svc = if step % 2 == 0 { &a.svc } else { &b.svc };
        let lot = rng.pick(&lots);
        let who = *rng.pick(&PEOPLE);
        let amount = cents(rng.range(10, 500) * 100);
        svc.submit(bid(lot, who, amount, &format!("s{step}")))
            .await
            .unwrap();
        let context = format!("step {step}");
        assert_credit_matches_lots(&*world.store, &*world.ledger, &lots, &limits, &context).await;
    }
    for lot in &lots {
        assert_log_is_state(&*world.store, lot).await;
    }
    a.stop().await;
    b.stop().await;
}

/// Tasks bidding at the same time on lots that share bidders: rule 9 is
/// judged against a ledger others change concurrently. At rest, the
/// ledger equals the lots' requirements and nobody holds beyond a limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_bids_across_credit_lots_leave_the_ledger_equal_to_the_lots() {
    let world = MemWorld::memory();
    let running = world.start(4);
    let svc = &running.svc;
    let mut limits = HashMap::new();
    for (i, who) in PEOPLE.iter().enumerate() {
        let limit = usd(40_000 + 15_000 * i64::try_from(i).unwrap());
        set_limit(svc, who, limit.minor_units()).await;
        limits.insert(pid(who), limit);
    }
    let mut lots = Vec::new();
    for i in 0..6 {
        lots.push(
            credit_lot(svc, &format!("c-{i}"), |c| {
                if i % 2 == 0 {
                    c.buy_now_price = Some(cents(30_000));
                    c.reserve_price = Some(cents(25_000));
                }
            })
            .await,
        );
    }
    let mut handles = Vec::new();
    for task in 0..4u64 {
        let svc = svc.clone();
        let lots = lots.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(0xfeed ^ task);
            for n in 0..120 {
                let lot = rng.pick(&lots);
                let who = *rng.pick(&PEOPLE);
                let key = format!("t{task}-{n}");
                let envelope = if rng.chance(5) {
                    buy_now(lot, who, &key)
                } else {
                    bid(lot, who, cents(rng.range(10, 400) * 100), &key)
                };
                svc.submit(envelope).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_credit_matches_lots(&*world.store, &*world.ledger, &lots, &limits, "at rest").await;
    let mut leaders = 0;
    for lot in &lots {
        let l = assert_log_is_state(&*world.store, lot).await;
        leaders += usize::from(required_hold(&l).is_some());
    }
    assert!(leaders > 0);
    running.stop().await;
}

// ------------------------------------------------------------ faults --

#[tokio::test]
async fn a_commit_failing_after_the_hold_was_placed_is_repaired_by_the_next_command_on_the_lot() {
    let world = World::with(
        FaultyStore::new(MemoryLotStore::new()),
        MemoryCreditLedger::new(),
        MemoryEventPublisher::new(),
    );
    let running = world.start(1);
    let svc = &running.svc;
    let lot = credit_lot(svc, "lot-1", |_| {}).await;
    set_limit(svc, "ann", 100_000).await;
    set_limit(svc, "bob", 100_000).await;
    let limits: HashMap<_, _> = [(pid("ann"), usd(100_000)), (pid("bob"), usd(100_000))].into();
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(10_000), "a1")).await,
        "done"
    );

    world
        .store
        .fail_nth(StoreOp::Commit, 1, StoreFault::Unavailable);
    let failed = svc.submit(bid(&lot, "bob", cents(30_000), "b1")).await;
    assert!(matches!(failed, Err(ServiceError::Store(_))), "{failed:?}");
    assert_eq!(
        load(world.store.inner(), &lot).await.sequence,
        3,
        "not committed"
    );

    // The next command on the lot (here refused) reloads it and repairs.
    assert_eq!(
        submit_code(svc, bid(&lot, "cat", cents(100), "c1")).await,
        "bid_too_low"
    );
    assert_credit_matches_lots(
        world.store.inner(),
        &*world.ledger,
        std::slice::from_ref(&lot),
        &limits,
        "after repair",
    )
    .await;
    assert_eq!(held(&*world.ledger, "ann").await, usd(11_000));
    assert_eq!(held(&*world.ledger, "bob").await, usd(0));

    // A retry of the failed bid goes through, once.
    assert_eq!(
        submit_code(svc, bid(&lot, "bob", cents(30_000), "b1")).await,
        "done"
    );
    assert_eq!(held(&*world.ledger, "bob").await, usd(33_000));
    assert_eq!(held(&*world.ledger, "ann").await, usd(0));
    running.stop().await;
}

#[tokio::test]
async fn an_ex_leader_cannot_spend_the_hold_of_a_bid_whose_commit_failed() {
    let world = World::with(
        FaultyStore::new(MemoryLotStore::new()),
        MemoryCreditLedger::new(),
        MemoryEventPublisher::new(),
    );
    let running = world.start(1);
    let svc = &running.svc;
    let lot1 = credit_lot(svc, "lot-1", |_| {}).await;
    let lot2 = credit_lot(svc, "lot-2", |_| {}).await;
    set_limit(svc, "ann", 15_000).await;
    set_limit(svc, "bob", 100_000).await;
    let limits: HashMap<_, _> = [(pid("ann"), usd(15_000)), (pid("bob"), usd(100_000))].into();
    assert_eq!(
        submit_code(svc, bid(&lot1, "ann", cents(10_000), "a1")).await,
        "done"
    );

    // Bob's bid takes over lot-1's hold, then its commit fails: ann still
    // leads lot-1, so her 110.00 is still committed there.
    world
        .store
        .fail_nth(StoreOp::Commit, 1, StoreFault::Unavailable);
    assert!(
        svc.submit(bid(&lot1, "bob", cents(30_000), "b1"))
            .await
            .is_err()
    );
    // 120.00 + 12.00 does not fit beside the 110.00 she still needs.
    assert_eq!(
        submit_code(svc, bid(&lot2, "ann", cents(12_000), "a2")).await,
        "insufficient_credit"
    );
    assert_eq!(
        submit_code(svc, bid(&lot1, "cat", cents(100), "c1")).await,
        "bid_too_low"
    );
    assert_credit_matches_lots(
        world.store.inner(),
        &*world.ledger,
        &[lot1, lot2],
        &limits,
        "after the failed commit",
    )
    .await;
    running.stop().await;
}

#[tokio::test]
async fn a_lost_commit_acknowledgement_of_a_sale_is_repaired_before_payment_consumes_the_hold() {
    let world = World::with(
        FaultyStore::new(MemoryLotStore::new()),
        MemoryCreditLedger::new(),
        MemoryEventPublisher::new(),
    );
    let running = world.start(1);
    let svc = &running.svc;
    let lot = credit_lot(svc, "lot-1", |_| {}).await;
    set_limit(svc, "ann", 100_000).await;
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(30_000), "a1")).await,
        "done"
    );
    assert_eq!(held(&*world.ledger, "ann").await, usd(33_000));

    // The close commits, but its acknowledgement is lost: the shrink of the
    // hold to total_due (made after a commit) did not happen.
    world.clock.advance(hours(2));
    world
        .store
        .fail_nth(StoreOp::Commit, 1, StoreFault::LostAck);
    assert!(svc.tick().await.is_err());
    let sold = load(world.store.inner(), &lot).await;
    assert_eq!(sold.settlement.as_ref().unwrap().total_due, usd(1_100));

    // The payment reloads the lot, repairs the hold, then consumes 11.00,
    // not the stale 330.00.
    assert_eq!(
        submit_code(svc, pay(&lot, Actor::bidder(pid("ann")), "p1")).await,
        "done"
    );
    assert_eq!(
        credit_of(&*world.ledger, "ann").await,
        (usd(98_900), usd(0), usd(98_900))
    );
    running.stop().await;
}

#[tokio::test]
async fn a_ledger_failing_after_the_commit_is_repaired_by_the_next_command_on_the_lot() {
    let world = World::with(
        MemoryLotStore::new(),
        FaultyLedger::new(MemoryCreditLedger::new()),
        MemoryEventPublisher::new(),
    );
    let running = world.start(1);
    let svc = &running.svc;
    let lot = credit_lot(svc, "lot-1", |_| {}).await;
    set_limit(svc, "ann", 100_000).await;
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(10_000), "a1")).await,
        "done"
    );

    // The cancel commits; releasing its hold fails.
    world
        .ledger
        .fail_nth(CreditOp::Release, 1, CreditFault::Unavailable);
    assert_eq!(submit_code(svc, cancel(&lot, admin(), "x1")).await, "done");
    assert_eq!(load(&*world.store, &lot).await.status, LotStatus::Cancelled);

    // The next command on the lot reloads it (it was not cached) and repairs.
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(20_000), "a2")).await,
        "lot_closed"
    );
    assert_eq!(held(&*world.ledger, "ann").await, usd(0));
    running.stop().await;
}

#[tokio::test]
async fn a_ledger_failing_during_rule_9_fails_the_command_and_commits_nothing() {
    let world = World::with(
        MemoryLotStore::new(),
        FaultyLedger::new(MemoryCreditLedger::new()),
        MemoryEventPublisher::new(),
    );
    let running = world.start(1);
    let svc = &running.svc;
    let lot = credit_lot(svc, "lot-1", |_| {}).await;
    set_limit(svc, "ann", 100_000).await;
    world
        .ledger
        .fail_nth(CreditOp::Propose, 1, CreditFault::Unavailable);
    let failed = svc.submit(bid(&lot, "ann", cents(10_000), "a1")).await;
    assert!(matches!(failed, Err(ServiceError::Credit(_))), "{failed:?}");
    assert_eq!(load(&*world.store, &lot).await.sequence, 2);
    assert_eq!(
        world
            .store
            .command(&hammerfall_engine::command_key(&bid(
                &lot,
                "ann",
                cents(10_000),
                "a1"
            )))
            .await
            .unwrap(),
        None,
        "not recorded: a retry is judged afresh"
    );
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(10_000), "a1")).await,
        "done"
    );
    assert_eq!(held(&*world.ledger, "ann").await, usd(11_000));
    running.stop().await;
}

#[tokio::test]
async fn a_hold_placed_by_a_ledger_that_then_failed_does_not_outlive_the_failed_bid() {
    let world = World::with(
        MemoryLotStore::new(),
        FaultyLedger::new(MemoryCreditLedger::new()),
        MemoryEventPublisher::new(),
    );
    let running = world.start(1);
    let svc = &running.svc;
    let lot = credit_lot(svc, "lot-1", |_| {}).await;
    set_limit(svc, "ann", 100_000).await;
    set_limit(svc, "bob", 100_000).await;
    let limits: HashMap<_, _> = [(pid("ann"), usd(100_000)), (pid("bob"), usd(100_000))].into();
    assert_eq!(
        submit_code(svc, bid(&lot, "ann", cents(10_000), "a1")).await,
        "done"
    );

    // The ledger places bob's proposed hold, then reports a failure.
    world
        .ledger
        .fail_nth(CreditOp::Propose, 1, CreditFault::LostAck);
    let failed = svc.submit(bid(&lot, "bob", cents(30_000), "b1")).await;
    assert!(matches!(failed, Err(ServiceError::Credit(_))), "{failed:?}");
    assert_eq!(load(&*world.store, &lot).await.sequence, 3, "not committed");
    // Whatever comes next on the lot, ann's hold is back and bob's gone.
    assert_eq!(
        submit_code(svc, bid(&lot, "cat", cents(100), "c1")).await,
        "bid_too_low"
    );
    assert_credit_matches_lots(&*world.store, &*world.ledger, &[lot], &limits, "after").await;
    running.stop().await;
}

#[tokio::test]
async fn holds_placed_by_a_bid_that_ran_out_of_conflict_retries_do_not_outlive_it() {
    let world = World::with(
        FaultyStore::new(MemoryLotStore::new()),
        MemoryCreditLedger::new(),
        MemoryEventPublisher::new(),
    );
    let config = ServiceConfig {
        workers: 1,
        conflict_retries: 2,
        ..ServiceConfig::default()
    };
    let running = Running::start_with(world.ports(), config);
    let svc = &running.svc;
    let lot1 = credit_lot(svc, "lot-1", |_| {}).await;
    let lot2 = credit_lot(svc, "lot-2", |_| {}).await;
    set_limit(svc, "ann", 15_000).await;
    set_limit(svc, "bob", 100_000).await;
    let limits: HashMap<_, _> = [(pid("ann"), usd(15_000)), (pid("bob"), usd(100_000))].into();
    assert_eq!(
        submit_code(svc, bid(&lot1, "ann", cents(10_000), "a1")).await,
        "done"
    );

    // Every attempt of bob's bid loses a race.
    world
        .store
        .fail_calls(StoreOp::Commit, 1, 3, StoreFault::Conflict);
    let lost = svc.submit(bid(&lot1, "bob", cents(30_000), "b1")).await;
    assert!(matches!(lost, Err(ServiceError::Contention(_))), "{lost:?}");
    assert_credit_matches_lots(
        world.store.inner(),
        &*world.ledger,
        &[lot1.clone(), lot2.clone()],
        &limits,
        "after contention",
    )
    .await;
    assert_eq!(
        submit_code(svc, bid(&lot2, "ann", cents(12_000), "a2")).await,
        "insufficient_credit"
    );
    running.stop().await;
}

/// A service that starts cold (a restart) loads the lot and sets its
/// credit in ONE ledger write: the committed hold, and no proposal left
/// by an engine that crashed before its commit.
#[tokio::test]
async fn a_cold_load_sets_the_committed_hold_and_drops_stale_proposals_in_one_ledger_write() {
    let world = World::with(
        MemoryLotStore::new(),
        FaultyLedger::new(MemoryCreditLedger::new()),
        MemoryEventPublisher::new(),
    );
    let first = world.start(1);
    let lot = credit_lot(&first.svc, "lot-1", |_| {}).await;
    set_limit(&first.svc, "ann", 100_000).await;
    set_limit(&first.svc, "bob", 100_000).await;
    assert_eq!(
        submit_code(&first.svc, bid(&lot, "ann", cents(10_000), "a1")).await,
        "done"
    );
    first.stop().await;
    // An engine proposed bob's hold for the next state, then crashed.
    let sequence = load(&*world.store, &lot).await.sequence;
    world
        .ledger
        .inner()
        .propose(&lot, &pid("bob"), usd(33_000), Currency::USD, sequence + 1)
        .await
        .unwrap();
    assert_eq!(held(&*world.ledger, "bob").await, usd(33_000));

    let writes = [
        CreditOp::Hold,
        CreditOp::Propose,
        CreditOp::Withdraw,
        CreditOp::ClearProposals,
        CreditOp::Release,
        CreditOp::Consume,
        CreditOp::Loaded,
    ];
    let count = |ledger: &FaultyLedger<MemoryCreditLedger>| -> Vec<u64> {
        writes.iter().map(|op| ledger.calls(*op)).collect()
    };
    let before = count(&world.ledger);
    let second = world.start(1);
    assert_eq!(
        submit_code(&second.svc, bid(&lot, "cat", cents(100), "c1")).await,
        "bid_too_low"
    );
    let made: Vec<u64> = count(&world.ledger)
        .iter()
        .zip(&before)
        .map(|(after, before)| after - before)
        .collect();
    assert_eq!(
        made,
        [0, 0, 0, 0, 0, 0, 1],
        "one Loaded write, nothing else"
    );
    assert_eq!(
        held(&*world.ledger, "bob").await,
        usd(0),
        "proposal dropped"
    );
    assert_eq!(held(&*world.ledger, "ann").await, usd(11_000), "hold kept");
    second.stop().await;
}
