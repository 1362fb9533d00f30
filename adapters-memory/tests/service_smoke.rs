//! Smoke test of the application service over the memory adapters.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use chrono::{Duration, TimeZone, Utc};
use hammerfall_adapters_memory::{
    ManualClock, MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore, SequentialIds,
};
use hammerfall_engine::{Ports, Service, ServiceConfig};
use hammerfall_ports::*;
use std::sync::Arc;

type Svc = Service<MemoryLotStore, MemoryCreditLedger, MemoryEventPublisher>;

fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap()
}

fn start() -> (Svc, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap(),
    ));
    let ports = Ports {
        store: Arc::new(MemoryLotStore::new()),
        ledger: Arc::new(MemoryCreditLedger::new()),
        publisher: Arc::new(MemoryEventPublisher::new()),
        clock: clock.clone(),
        ids: Arc::new(SequentialIds::new()),
    };
    let (svc, workers) = Service::new(
        ports,
        ServiceConfig {
            workers: 2,
            ..ServiceConfig::default()
        },
    );
    for w in workers {
        tokio::spawn(w);
    }
    (svc, clock)
}

#[tokio::test]
async fn a_lot_is_created_bid_on_closed_and_settled_through_the_service() {
    let (svc, clock) = start();
    let now = clock.now();
    let lot_id = svc.ports().ids.lot_id();
    let create = CreateLot::english(
        lot_id.clone(),
        Actor::seller(pid("sam")),
        "Lamp",
        Currency::USD,
        Decimal::new(1000, 2),
        now + Duration::hours(1),
    );
    let env = CommandEnvelope::new(
        CommandId::new("c1").unwrap(),
        lot_id.clone(),
        Command::CreateLot(Box::new(create)),
    );
    let created = svc.submit(env.clone()).await.unwrap();
    assert!(
        created.rejection().is_none(),
        "{:?}",
        created.record.outcome
    );
    assert_eq!(created.lot.as_ref().unwrap().sequence, 2);

    let bid = |who: &str, cents: i64, key: &str| {
        CommandEnvelope::new(
            CommandId::new(key).unwrap(),
            lot_id.clone(),
            Command::PlaceBid(PlaceBid {
                bidder: Actor::bidder(pid(who)),
                amount: Decimal::new(cents, 2),
                currency: None,
                bid_id: svc.ports().ids.bid_id(),
            }),
        )
    };
    let a = svc.submit(bid("ann", 5000, "k1")).await.unwrap();
    assert!(
        matches!(
            a.record.outcome,
            CommandOutcome::Done {
                result: Accepted::Bid {
                    outcome: BidOutcome::Leading,
                    ..
                },
                sequence: 3
            }
        ),
        "{:?}",
        a.record.outcome
    );
    let b = svc.submit(bid("bob", 3000, "k2")).await.unwrap();
    assert!(
        matches!(
            b.record.outcome,
            CommandOutcome::Done {
                result: Accepted::Bid {
                    outcome: BidOutcome::Outbid,
                    ..
                },
                sequence: 5
            }
        ),
        "{:?}",
        b.record.outcome
    );
    assert_eq!(
        b.lot
            .as_ref()
            .unwrap()
            .english()
            .unwrap()
            .1
            .current_price
            .unwrap()
            .to_string(),
        "31.00"
    );

    // The same key again: the same answer, with the lot as it was then.
    let c = svc.submit(bid("bob", 6000, "k3")).await.unwrap();
    assert!(c.rejection().is_none());
    let again = svc.submit(bid("bob", 3000, "k2")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.record.outcome, b.record.outcome);
    assert_eq!(again.lot.as_ref().unwrap().sequence, 5);
    // The same key with another amount: idempotency_conflict.
    let conflict = svc.submit(bid("bob", 3100, "k2")).await.unwrap();
    assert_eq!(
        conflict.rejection().map(Rejection::code),
        Some("idempotency_conflict")
    );
    // A rejection is recorded and replayed as such.
    let low = svc.submit(bid("cat", 100, "k4")).await.unwrap();
    assert_eq!(low.rejection().map(Rejection::code), Some("bid_too_low"));
    let low_again = svc.submit(bid("cat", 100, "k4")).await.unwrap();
    assert_eq!(
        low_again.rejection().map(Rejection::code),
        Some("bid_too_low")
    );
    assert!(low_again.replayed);

    clock.advance(Duration::hours(2));
    assert_eq!(svc.tick().await.unwrap(), 1);
    let lot = svc.ports().store.load(&lot_id).await.unwrap().unwrap();
    assert_eq!(lot.status, LotStatus::Closed);
    assert_eq!(
        lot.settlement.as_ref().unwrap().hammer_price.to_string(),
        "51.00"
    );
    assert_eq!(lot.settlement.as_ref().unwrap().buyer_id, pid("bob"));
    let events = svc
        .ports()
        .store
        .events_after(&lot_id, 0, 100)
        .await
        .unwrap();
    let replayed = hammerfall_engine::replay(lot_id.clone(), &events).unwrap();
    assert_eq!(replayed, lot);
}
