//! An English auction end to end with the pure engine, in memory, with a
//! hand-driven clock: listing, proxy bids, a soft-close extension, the timed
//! close, the settlement and its payment. Prints every public event.
//!
//! `cargo run --example engine_auction`
#![allow(
    clippy::print_stdout,
    reason = "a runnable program reports to its terminal"
)]

use chrono::{Duration, TimeZone, Utc};
use hammerfall_engine::{advance, apply, create, create_from, judge};
use hammerfall_ports::{
    Actor, BidId, Command, CreateLot, Currency, Decimal, EventEnvelope, Lot, LotId, ParticipantId,
    PlaceBid, SequencedEvent, SoftCloseInput,
};
use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let start = Utc
        .with_ymd_and_hms(2026, 11, 24, 18, 0, 0)
        .single()
        .ok_or("bad time")?;
    let pid = |s: &str| ParticipantId::new(s);
    let lot_id = LotId::new("lot-lamp")?;

    let mut listing = CreateLot::english(
        lot_id.clone(),
        Actor::seller(pid("sam")?),
        "Brass lamp, 1920s",
        Currency::USD,
        Decimal::new(1000, 2),
        start + Duration::minutes(10),
    );
    listing.reserve_price = Some(Decimal::new(4000, 2));
    listing.buyer_premium_rate = Some(Decimal::new(15, 2));
    listing.soft_close = Some(SoftCloseInput {
        window_secs: 120,
        extension_secs: 120,
    });

    let created = create(&listing, start)?;
    let mut lot = create_from(lot_id.clone(), &created[0])?;
    record(&mut lot, &created[1..])?;

    let mut n = 0;
    let mut bid = |who: &str, cents: i64| -> Result<Command, Box<dyn Error>> {
        n += 1;
        Ok(Command::PlaceBid(PlaceBid {
            bidder: Actor::bidder(pid(who)?),
            amount: Decimal::new(cents, 2),
            currency: None,
            bid_id: BidId::new(format!("bid-{n}"))?,
        }))
    };
    let script: [(i64, Command); 4] = [
        (60, bid("ann", 5000)?), // Ann leads; her maximum meets the reserve: the price jumps to 40.00
        (120, bid("bob", 3000)?), // below the minimum next bid (41.00): bid_too_low
        (300, bid("bob", 6000)?), // Bob leads at Ann's 50.00 + one increment = 51.00
        (540, bid("ann", 6000)?), // a tie at 60.00 goes to the earlier bid (Bob); inside the window → extended
    ];
    for (secs, cmd) in script {
        let at = start + Duration::seconds(secs);
        let verdict = judge(&lot, &cmd, at);
        if let Err(rejection) = &verdict.outcome {
            println!("rejected: {} ({rejection})", rejection.code());
        }
        record(&mut lot, &verdict.events)?;
    }

    // The timer fires after the (extended) end: close, settle, then pay.
    let end = lot.ends_at.ok_or("english lots have an end")?;
    let closing = advance(&lot, end);
    record(&mut lot, &closing)?;
    let paid = judge(
        &lot,
        &Command::RecordPayment {
            by: Actor::bidder(pid("bob")?),
        },
        end + Duration::hours(1),
    );
    record(&mut lot, &paid.events)?;

    let settlement = lot
        .settlement
        .as_ref()
        .ok_or("sold lots have a settlement")?;
    println!(
        "sold to {} at {} + premium {} = {} ({:?})",
        settlement.buyer_id,
        settlement.hammer_price,
        settlement.buyer_premium,
        settlement.total_due,
        settlement.status
    );
    Ok(())
}

/// Folds events into the lot and prints their public form.
fn record(lot: &mut Lot, events: &[SequencedEvent]) -> Result<(), Box<dyn Error>> {
    for event in events {
        apply(lot, event)?;
        let public = EventEnvelope::new(lot.lot_id.clone(), event.clone()).to_public_json();
        println!("{public}");
    }
    Ok(())
}
