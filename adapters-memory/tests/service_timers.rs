//! Timers and due transitions (SPEC §9): `tick` closes, expires, defaults
//! and opens whatever is due, each at the moment it was due; a command
//! arriving after a due time applies the transition first, lazily, whoever
//! sends it and whatever its own fate.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use hammerfall_engine::service::TIMER_PERIOD;
use hammerfall_ports::{
    Actor, AuctionEnded, EndedBy, Event, LotId, LotStatus, LotStore, ReservationStatus, SaleKind,
    SaleResult, SequencedEvent, SettlementStatus, Timestamp, UnsoldReason,
};

type Svc = hammerfall_engine::Service<
    hammerfall_adapters_memory::MemoryLotStore,
    hammerfall_adapters_memory::MemoryCreditLedger,
    hammerfall_adapters_memory::MemoryEventPublisher,
>;

async fn english(
    svc: &Svc,
    name: &str,
    ends_in_hours: i64,
    tune: impl FnOnce(&mut hammerfall_ports::CreateLot),
) -> LotId {
    let lot = lid(name);
    let created = svc
        .submit(create_english(
            &lot,
            "sam",
            t0() + hours(ends_in_hours),
            tune,
        ))
        .await
        .unwrap();
    assert_eq!(code(&created.record), "done", "{:?}", created.record);
    lot
}

async fn done(svc: &Svc, envelope: hammerfall_ports::CommandEnvelope) {
    let response = svc.submit(envelope).await.unwrap();
    assert_eq!(code(&response.record), "done", "{:?}", response.record);
}

/// The lot's events after `after`, as (type, occurred at).
async fn events_since(world: &MemWorld, lot: &LotId, after: u64) -> Vec<(&'static str, Timestamp)> {
    world
        .store
        .events_after(lot, after, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.event.event_type(), e.occurred_at))
        .collect()
}

fn auction_ended(events: &[SequencedEvent]) -> &AuctionEnded {
    events
        .iter()
        .find_map(|e| match &e.event {
            Event::AuctionEnded(a) => Some(a),
            _ => None,
        })
        .expect("an AuctionEnded event")
}

#[tokio::test]
async fn a_tick_closes_due_lots_sold_and_unsold_at_their_end_time() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let sold = english(svc, "sold", 1, |_| {}).await;
    let no_bids = english(svc, "no-bids", 1, |_| {}).await;
    let below_reserve = english(svc, "below-reserve", 1, |c| {
        c.reserve_price = Some(cents(10_000))
    })
    .await;
    let later = english(svc, "later", 5, |_| {}).await;
    done(svc, bid(&sold, "ann", cents(5_000), "a1")).await;
    done(svc, bid(&sold, "bob", cents(2_000), "b1")).await;
    done(svc, bid(&below_reserve, "ann", cents(5_000), "a2")).await;
    done(svc, bid(&later, "ann", cents(5_000), "a3")).await;

    assert_eq!(svc.tick().await.unwrap(), 0, "nothing is due yet");
    // The timer runs late: the close still happens at ends_at.
    world.clock.advance(hours(3));
    assert_eq!(svc.tick().await.unwrap(), 3);
    let end = t0() + hours(1);

    let lot = assert_log_is_state(&*world.store, &sold).await;
    assert_eq!(lot.status, LotStatus::Closed);
    let outcome = lot.outcome.clone().unwrap();
    assert_eq!((outcome.ended_by, outcome.ended_at), (EndedBy::Time, end));
    assert_eq!(
        outcome.result,
        SaleResult::Sold {
            winner_id: pid("ann"),
            hammer_price: usd(2_050)
        }
    );
    let settlement = lot.settlement.unwrap();
    assert_eq!(settlement.due_by, end + hours(72));
    assert_eq!(settlement.status, SettlementStatus::Pending);
    assert_eq!(
        events_since(&world, &sold, 5).await,
        vec![("AuctionEnded", end), ("SettlementCreated", end)]
    );

    for (lot_id, reason) in [
        (&no_bids, UnsoldReason::NoBids),
        (&below_reserve, UnsoldReason::ReserveNotMet),
    ] {
        let lot = assert_log_is_state(&*world.store, lot_id).await;
        assert_eq!(lot.status, LotStatus::Closed);
        assert_eq!(lot.settlement, None);
        let outcome = lot.outcome.unwrap();
        assert_eq!(outcome.result, SaleResult::Unsold { reason });
        assert_eq!(outcome.ended_at, end);
        let events = all_events(&*world.store, lot_id).await;
        let ended = auction_ended(&events);
        assert_eq!(
            (ended.outcome, ended.reason),
            (SaleKind::Unsold, Some(reason))
        );
        assert_eq!(events.last().unwrap().occurred_at, end);
    }
    assert_eq!(load(&*world.store, &later).await.status, LotStatus::Open);
    assert_eq!(svc.tick().await.unwrap(), 0, "closing twice is not due");
    running.stop().await;
}

#[tokio::test]
async fn a_tick_opens_scheduled_lots_at_their_start() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = english(svc, "later", 5, |c| c.starts_at = Some(t0() + hours(1))).await;
    assert_eq!(load(&*world.store, &lot).await.status, LotStatus::Scheduled);
    world.clock.advance(hours(2));
    assert_eq!(svc.tick().await.unwrap(), 1);
    let opened = assert_log_is_state(&*world.store, &lot).await;
    assert_eq!(opened.status, LotStatus::Open);
    assert_eq!(
        events_since(&world, &lot, 1).await,
        vec![("LotOpened", t0() + hours(1))]
    );
    assert_eq!(svc.tick().await.unwrap(), 0);
    running.stop().await;
}

#[tokio::test]
async fn a_tick_expires_reservations_and_the_listing_is_open_again() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = lid("chair");
    done(
        svc,
        create_fixed(&lot, "sam", 2_500, |c| c.hold_secs = Some(3600)),
    )
    .await;
    done(svc, reserve(&lot, "ann", "r1", "k1")).await;
    assert_eq!(load(&*world.store, &lot).await.status, LotStatus::Reserved);

    world.clock.advance(hours(2));
    assert_eq!(svc.tick().await.unwrap(), 1);
    let open = assert_log_is_state(&*world.store, &lot).await;
    assert_eq!(open.status, LotStatus::Open);
    let (_, state) = open.fixed_price().unwrap();
    assert_eq!(state.latest().unwrap().status, ReservationStatus::Expired);
    assert_eq!(
        events_since(&world, &lot, 3).await,
        vec![("ReservationExpired", t0() + hours(1))]
    );
    // Someone else may reserve now.
    done(svc, reserve(&lot, "bob", "r2", "k2")).await;
    running.stop().await;
}

#[tokio::test]
async fn a_listing_that_ended_while_reserved_closes_unsold_when_the_reservation_expires() {
    let world = MemWorld::memory();
    let running = world.start(1);
    let svc = &running.svc;
    let lot = lid("chair");
    done(
        svc,
        create_fixed(&lot, "sam", 2_500, |c| {
            c.hold_secs = Some(3600);
            c.ends_at = Some(t0() + chrono::Duration::minutes(30));
        }),
    )
    .await;
    done(svc, reserve(&lot, "ann", "r1", "k1")).await;
    world.clock.advance(chrono::Duration::minutes(45));
    svc.tick().await.unwrap();
    assert_eq!(
        load(&*world.store, &lot).await.status,
        LotStatus::Reserved,
        "the listing end waits for the active reservation"
    );
    world.clock.advance(hours(2));
    assert_eq!(svc.tick().await.unwrap(), 1);
    let closed = assert_log_is_state(&*world.store, &lot).await;
    let outcome = closed.outcome.unwrap();
    assert_eq!(
        outcome.result,
        SaleResult::Unsold {
            reason: UnsoldReason::NoBuyer
        }
    );
    assert_eq!(outcome.ended_at, t0() + hours(1));
    assert_eq!(
        events_since(&world, &lot, 3).await,
        vec![
            ("ReservationExpired", t0() + hours(1)),
            ("AuctionEnded", t0() + hours(1))
        ]
    );
    running.stop().await;
}

#[tokio::test]
async fn a_tick_defaults_an_unpaid_settlement_at_its_due_time() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = english(svc, "lot-1", 1, |c| c.payment_window_secs = Some(3600)).await;
    done(svc, bid(&lot, "ann", cents(5_000), "a1")).await;
    world.clock.advance(hours(1));
    assert_eq!(svc.tick().await.unwrap(), 1);
    world.clock.advance(chrono::Duration::minutes(30));
    assert_eq!(svc.tick().await.unwrap(), 0, "not due yet");
    world.clock.advance(hours(5));
    assert_eq!(svc.tick().await.unwrap(), 1);
    let lot_now = assert_log_is_state(&*world.store, &lot).await;
    assert_eq!(
        lot_now.settlement.unwrap().status,
        SettlementStatus::Defaulted
    );
    assert_eq!(
        events_since(&world, &lot, 5).await,
        vec![("SettlementDefaulted", t0() + hours(2))]
    );
    let late = svc
        .submit(pay(&lot, Actor::bidder(pid("ann")), "p1"))
        .await
        .unwrap();
    assert_eq!(code(&late.record), "settlement_defaulted");
    assert_eq!(svc.tick().await.unwrap(), 0);
    running.stop().await;
}

#[tokio::test]
async fn a_bid_after_the_end_closes_the_lot_at_its_end_and_is_refused_with_lot_closed() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = english(svc, "lot-1", 1, |_| {}).await;
    done(svc, bid(&lot, "ann", cents(5_000), "a1")).await;
    world.clock.advance(hours(2));

    // No tick ran: the bid itself applies the close first.
    let late = svc
        .submit(bid(&lot, "bob", cents(9_000), "b1"))
        .await
        .unwrap();
    assert_eq!(code(&late.record), "lot_closed");
    let closed = assert_log_is_state(&*world.store, &lot).await;
    assert_eq!(
        record_sequence(&late.record),
        closed.sequence,
        "judged after the close"
    );
    assert_eq!(late.lot.as_ref(), Some(&closed));
    assert_eq!(closed.status, LotStatus::Closed);
    let end = t0() + hours(1);
    assert_eq!(
        events_since(&world, &lot, 3).await,
        vec![("AuctionEnded", end), ("SettlementCreated", end)]
    );
    let settlement = closed.settlement.unwrap();
    assert_eq!(
        (settlement.buyer_id, settlement.due_by),
        (pid("ann"), end + hours(72))
    );
    assert_eq!(svc.tick().await.unwrap(), 0, "nothing left due");
    running.stop().await;
}

#[tokio::test]
async fn due_transitions_apply_whoever_sends_the_command_and_whatever_its_fate() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = english(svc, "lot-1", 1, |_| {}).await;
    world.clock.advance(hours(2));
    // A stranger's forbidden cancel still closes the lot first.
    let refused = svc
        .submit(cancel(&lot, Actor::bidder(pid("eve")), "x1"))
        .await
        .unwrap();
    assert_eq!(code(&refused.record), "forbidden");
    let closed = assert_log_is_state(&*world.store, &lot).await;
    assert_eq!(closed.status, LotStatus::Closed);
    assert_eq!(
        closed.outcome.unwrap().result,
        SaleResult::Unsold {
            reason: UnsoldReason::NoBids
        }
    );
    assert_eq!(
        events_since(&world, &lot, 2).await,
        vec![("AuctionEnded", t0() + hours(1))]
    );
    running.stop().await;
}

#[tokio::test]
async fn a_payment_after_the_due_time_defaults_the_settlement_first_and_is_refused() {
    let world = MemWorld::memory();
    let running = world.start(2);
    let svc = &running.svc;
    let lot = english(svc, "lot-1", 1, |c| c.payment_window_secs = Some(3600)).await;
    done(svc, bid(&lot, "ann", cents(5_000), "a1")).await;
    // Close and default both fall due before the payment arrives.
    world.clock.advance(hours(5));
    let late = svc
        .submit(pay(&lot, Actor::bidder(pid("ann")), "p1"))
        .await
        .unwrap();
    assert_eq!(code(&late.record), "settlement_defaulted");
    assert_eq!(
        events_since(&world, &lot, 3).await,
        vec![
            ("AuctionEnded", t0() + hours(1)),
            ("SettlementCreated", t0() + hours(1)),
            ("SettlementDefaulted", t0() + hours(2)),
        ]
    );
    assert_eq!(record_sequence(&late.record), 6);
    running.stop().await;
}

#[tokio::test]
async fn completing_an_expired_reservation_expires_it_first_and_is_refused() {
    let world = MemWorld::memory();
    let running = world.start(1);
    let svc = &running.svc;
    let lot = lid("chair");
    done(
        svc,
        create_fixed(&lot, "sam", 2_500, |c| c.hold_secs = Some(600)),
    )
    .await;
    done(svc, reserve(&lot, "ann", "r1", "k1")).await;
    world.clock.advance(hours(1));
    let late = svc
        .submit(complete(&lot, Actor::seller(pid("sam")), "r1", "k2"))
        .await
        .unwrap();
    assert_eq!(code(&late.record), "reservation_expired");
    assert_eq!(
        events_since(&world, &lot, 3).await,
        vec![("ReservationExpired", t0() + chrono::Duration::minutes(10))]
    );
    assert_eq!(load(&*world.store, &lot).await.status, LotStatus::Open);
    running.stop().await;
}

#[tokio::test]
async fn a_soft_close_extension_moves_the_due_time() {
    let world = MemWorld::memory();
    let running = world.start(1);
    let svc = &running.svc;
    let lot = english(svc, "lot-1", 1, |c| {
        c.soft_close = Some(hammerfall_ports::SoftCloseInput {
            window_secs: 600,
            extension_secs: 900,
        });
    })
    .await;
    world.clock.advance(chrono::Duration::minutes(55));
    done(svc, bid(&lot, "ann", cents(5_000), "a1")).await;
    let extended = t0() + chrono::Duration::minutes(70);
    assert_eq!(load(&*world.store, &lot).await.ends_at, Some(extended));
    world.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(
        svc.tick().await.unwrap(),
        0,
        "the old end is not due any more"
    );
    world.clock.advance(chrono::Duration::minutes(30));
    assert_eq!(svc.tick().await.unwrap(), 1);
    let closed = assert_log_is_state(&*world.store, &lot).await;
    assert_eq!(closed.outcome.unwrap().ended_at, extended);
    running.stop().await;
}

/// `run_timers` on tokio's paused clock: due work happens within a period.
#[tokio::test(start_paused = true)]
async fn the_timer_loop_applies_due_transitions_within_a_period() {
    let world = MemWorld::memory();
    let running = world.start(1);
    let svc = &running.svc;
    let lot = english(svc, "lot-1", 1, |_| {}).await;
    let timers = tokio::spawn(svc.clone().run_timers(tokio::time::sleep));
    tokio::time::sleep(TIMER_PERIOD * 3).await;
    assert_eq!(load(&*world.store, &lot).await.status, LotStatus::Open);
    world.clock.advance(hours(1));
    tokio::time::sleep(TIMER_PERIOD + std::time::Duration::from_millis(1)).await;
    let closed = load(&*world.store, &lot).await;
    assert_eq!(closed.status, LotStatus::Closed);
    assert_eq!(closed.outcome.unwrap().ended_at, t0() + hours(1));
    timers.abort();
    assert!(timers.await.unwrap_err().is_cancelled());
    running.stop().await;
}
