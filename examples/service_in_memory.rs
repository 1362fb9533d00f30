//! The application service embedded in memory, with a hand-driven clock:
//! proxy bidding, a soft-close extension, the timed close and settlement; a
//! fixed-price reservation that expires; a bidder hitting a credit limit.
//!
//! `cargo run --example service_in_memory`
#![allow(
    clippy::print_stdout,
    reason = "a runnable program reports to its terminal"
)]

use chrono::{Duration, TimeZone, Utc};
use hammerfall_adapters_memory::{
    ManualClock, MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore, SequentialIds,
};
use hammerfall_engine::{Ports, Response, Service, ServiceConfig};
use hammerfall_ports::{
    Actor, Clock, Command, CommandEnvelope, CreateLot, Currency, Decimal, LotId, LotStore, Money,
    ParticipantId, PlaceBid, SoftCloseInput,
};
use std::error::Error;
use std::sync::Arc;

type Svc = Service<MemoryLotStore, MemoryCreditLedger, MemoryEventPublisher>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0)
            .single()
            .ok_or("time")?,
    ));
    let ports = Ports {
        store: Arc::new(MemoryLotStore::new()),
        ledger: Arc::new(MemoryCreditLedger::new()),
        publisher: Arc::new(MemoryEventPublisher::new()),
        clock: clock.clone(),
        ids: Arc::new(SequentialIds::new()),
    };
    let (svc, workers) = Service::new(ports, ServiceConfig::default());
    for worker in workers {
        tokio::spawn(worker);
    }
    let who = |s: &str| ParticipantId::new(s);
    let sam = Actor::seller(who("sam")?);

    // 1. An English auction with soft close, closed by the timer, settled.
    let lot = svc.ports().ids.lot_id();
    let mut listing = CreateLot::english(
        lot.clone(),
        sam.clone(),
        "Brass lamp",
        Currency::USD,
        Decimal::new(1000, 2),
        clock.now() + Duration::minutes(10),
    );
    listing.soft_close = Some(SoftCloseInput {
        window_secs: 120,
        extension_secs: 120,
    });
    listing.buyer_premium_rate = Some(Decimal::new(10, 2));
    submit(&svc, &lot, Command::CreateLot(Box::new(listing))).await?;
    bid(&svc, &lot, "ann", 5000).await?; // Ann leads at 10.00
    bid(&svc, &lot, "bob", 3000).await?; // Bob is outbid at once: 31.00
    clock.advance(Duration::minutes(9));
    bid(&svc, &lot, "bob", 6000).await?; // Bob leads at 51.00; inside the window: extended
    clock.advance(Duration::minutes(5));
    svc.tick().await?; // the timer closes the lot at its (extended) end
    let closed = svc.ports().store.load(&lot).await?.ok_or("lot")?;
    let settlement = closed.settlement.as_ref().ok_or("sold lots settle")?;
    println!(
        "lamp: {:?}, sold to {} at {}, total due {}",
        closed.status, settlement.buyer_id, settlement.hammer_price, settlement.total_due
    );
    submit(
        &svc,
        &lot,
        Command::RecordPayment {
            by: Actor::bidder(who("bob")?),
        },
    )
    .await?;

    // 2. A free item reserved and not picked up: the reservation expires.
    let chair = svc.ports().ids.lot_id();
    let giveaway = CreateLot::fixed_price(
        chair.clone(),
        sam.clone(),
        "Chair (free)",
        Currency::EUR,
        Decimal::ZERO,
    );
    submit(&svc, &chair, Command::CreateLot(Box::new(giveaway))).await?;
    let reservation_id = svc.ports().ids.reservation_id();
    submit(
        &svc,
        &chair,
        Command::Reserve {
            buyer: Actor::bidder(who("cat")?),
            reservation_id,
        },
    )
    .await?;
    clock.advance(Duration::hours(25));
    svc.tick().await?;
    let chair_now = svc.ports().store.load(&chair).await?.ok_or("lot")?;
    println!(
        "chair: {:?}, latest reservation {:?}",
        chair_now.status,
        chair_now
            .fixed_price()
            .and_then(|(_, s)| s.latest())
            .map(|r| r.status)
    );

    // 3. A credit-checked auction: Dan's limit is 100.00 EUR.
    let _ = svc
        .set_credit_limit(
            &who("dan")?,
            Money::parse("100.00", Currency::EUR)?,
            Currency::EUR,
        )
        .await?;
    let vase = svc.ports().ids.lot_id();
    let mut checked = CreateLot::english(
        vase.clone(),
        sam,
        "Vase",
        Currency::EUR,
        Decimal::new(2000, 2),
        clock.now() + Duration::hours(1),
    );
    checked.credit_check = Some(true);
    submit(&svc, &vase, Command::CreateLot(Box::new(checked))).await?;
    bid(&svc, &vase, "dan", 9000).await?; // fits: 90.00 held
    bid(&svc, &vase, "dan", 15000).await?; // raising to 150.00 does not fit: insufficient_credit
    let credit = svc.credit(&who("dan")?).await??;
    println!(
        "dan: limit {} held {} available {}",
        credit.limit, credit.held, credit.available
    );
    Ok(())
}

async fn submit(svc: &Svc, lot: &LotId, command: Command) -> Result<Response, Box<dyn Error>> {
    let envelope = CommandEnvelope::new(svc.ports().ids.command_id(), lot.clone(), command);
    let name = envelope.command.name();
    let response = svc.submit(envelope).await?;
    match response.rejection() {
        Some(r) => println!("  {name}: rejected, {} ({r})", r.code()),
        None => println!(
            "  {name}: accepted, lot sequence {}",
            response.lot.as_ref().map_or(0, |l| l.sequence)
        ),
    }
    Ok(response)
}

async fn bid(svc: &Svc, lot: &LotId, bidder: &str, cents: i64) -> Result<Response, Box<dyn Error>> {
    let command = Command::PlaceBid(PlaceBid {
        bidder: Actor::bidder(ParticipantId::new(bidder)?),
        amount: Decimal::new(cents, 2),
        currency: None,
        bid_id: svc.ports().ids.bid_id(),
    });
    let response = submit(svc, lot, command).await?;
    if let Some((_, state)) = response.lot.as_ref().and_then(|l| l.english()) {
        println!(
            "    price {:?}, leader {:?}",
            state.current_price.map(|p| p.to_string()),
            state.leader.as_ref().map(|l| l.bidder_id.to_string())
        );
    }
    Ok(response)
}
