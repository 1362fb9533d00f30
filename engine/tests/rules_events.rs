//! Events (SPEC §1, §6): the public JSON form never carries a maximum or
//! the reserve, while the stored form keeps them so replay rebuilds the lot.

mod support;

use hammerfall_engine::{ApplyError, replay};
use hammerfall_ports::{Currency, EventEnvelope, SequencedEvent};
use serde_json::{Value, json};
use support::*;

fn public(event: &SequencedEvent) -> Value {
    EventEnvelope::new(lot_id(), event.clone()).to_public_json()
}

fn stored(event: &SequencedEvent) -> Value {
    serde_json::to_value(EventEnvelope::new(lot_id(), event.clone())).expect("json")
}

/// The worked example with a reserve, soft close and premium, closed by time
/// and paid: every kind of English event.
fn auction() -> support::Scenario {
    let mut req = english("10.00");
    req.reserve_price = Some(dec("25.00"));
    req.buy_now_price = Some(dec("500.00"));
    req.buyer_premium_rate = Some(dec("0.1"));
    req.soft_close = Some(hammerfall_ports::SoftCloseInput {
        window_secs: 300,
        extension_secs: 600,
    });
    given(req)
        .when(bid("ann", "50.00"), t(1))
        .when(bid("bob", "30.00"), t(2))
        .when(bid("bob", "60.00"), t(58))
        .when(bid("ann", "60.00"), t(59))
        .when(timer(), t(70))
        .when(pay(bidder("bob")), t(71))
        .then_accepted()
}

#[test]
fn a_public_bid_accepted_event_has_exactly_the_spec_fields() {
    let s = auction();
    let first_bid = &s.log()[2];
    assert_eq!(
        public(first_bid),
        json!({
            "eventId": "lot-1:3",
            "eventType": "BidAccepted",
            "version": 1,
            "lotId": "lot-1",
            "sequence": 3,
            "occurredAt": "2026-11-24T12:01:00Z",
            "bidId": "ann-50.00",
            "bidNumber": 1,
            "bidderId": "ann",
            "currentPrice": "25.00",
            "leaderId": "ann",
            "bidCount": 1,
        })
    );
    // The stored form keeps the maximum: the public form drops something real.
    assert_eq!(stored(first_bid)["maximum"], json!("50.00"));
}

#[test]
fn a_public_lot_created_event_hides_the_reserve_and_other_terms() {
    let s = auction();
    let created = &s.log()[0];
    assert_eq!(
        public(created),
        json!({
            "eventId": "lot-1:1",
            "eventType": "LotCreated",
            "version": 1,
            "lotId": "lot-1",
            "sequence": 1,
            "occurredAt": "2026-11-24T12:00:00Z",
            "sellerId": "sam",
            "format": "english",
            "title": "Brass lamp",
            "currency": "USD",
            "startsAt": "2026-11-24T12:00:00Z",
            "endsAt": "2026-11-24T13:00:00Z",
        })
    );
    assert_eq!(
        stored(created)["terms"]["format"]["reservePrice"],
        json!("25.00")
    );
}

#[test]
fn the_public_log_of_an_auction_names_the_hammer_price_never_a_maximum() {
    let s = auction();
    let types: Vec<&str> = s.log().iter().map(|e| e.event.event_type()).collect();
    assert_eq!(
        types,
        [
            "LotCreated",
            "LotOpened",
            "BidAccepted",
            "BidAccepted",
            "Outbid",
            "BidAccepted",
            "Outbid",
            "LotExtended",
            "BidAccepted",
            "Outbid",
            "AuctionEnded",
            "SettlementCreated",
            "SettlementPaid",
        ]
    );
    let payload = |i: usize| {
        let mut v = public(&s.log()[i]);
        let obj = v.as_object_mut().expect("object");
        for k in [
            "eventId",
            "eventType",
            "version",
            "lotId",
            "sequence",
            "occurredAt",
        ] {
            assert!(obj.remove(k).is_some(), "envelope field {k}");
        }
        v
    };
    assert_eq!(payload(1), json!({}));
    assert_eq!(
        payload(4),
        json!({"bidderId": "bob", "currentPrice": "31.00"})
    );
    assert_eq!(payload(7), json!({"endsAt": "2026-11-24T13:08:00Z"}));
    // Ann's tie at 60.00 leaves Bob leading at 60.00, his maximum: the price
    // is public because it is the price, not because it is a maximum.
    assert_eq!(
        payload(10),
        json!({
            "winnerId": "bob",
            "winningBid": "60.00",
            "totalBids": 4,
            "outcome": "sold",
            "endedBy": "time",
        })
    );
    assert_eq!(
        payload(11),
        json!({
            "buyerId": "bob",
            "hammerPrice": "60.00",
            "buyerPremium": "6.00",
            "totalDue": "66.00",
            "dueBy": "2026-11-27T13:08:00Z",
        })
    );
    assert_eq!(payload(12), json!({}));
    assert_eq!(s.log()[10].occurred_at, t(68));
    for event in s.log() {
        assert_private_fields_absent(&public(event));
    }
}

#[test]
fn an_unsold_ending_names_its_reason_and_no_winner() {
    let s = given(english("10.00")).when(timer(), t(60)).then_accepted();
    let mut v = public(&s.log()[2]);
    let obj = v.as_object_mut().expect("object");
    obj.retain(|k, _| {
        !matches!(
            k.as_str(),
            "eventId" | "eventType" | "version" | "lotId" | "sequence" | "occurredAt"
        )
    });
    assert_eq!(
        v,
        json!({"totalBids": 0, "outcome": "unsold", "reason": "no_bids", "endedBy": "time"})
    );
}

#[test]
fn reservation_events_are_public_as_the_spec_lists_them() {
    let s = given(fixed_price("25.00"))
        .when(reserve(bidder("bob"), "r1"), t(5))
        .when(cancel_reservation(bidder("bob"), "r1"), t(6))
        .then_accepted();
    let created = public(&s.log()[2]);
    assert_eq!(created["eventType"], "ReservationCreated");
    assert_eq!(created["reservationId"], "r1");
    assert_eq!(created["buyerId"], "bob");
    assert_eq!(created["sellerId"], "sam");
    assert_eq!(created["expiresAt"], "2026-11-25T12:05:00Z");
    let cancelled = public(&s.log()[3]);
    assert_eq!(cancelled["eventType"], "ReservationCancelled");
    assert_eq!(cancelled["reservationId"], "r1");
    let lot_created = public(&s.log()[0]);
    assert_eq!(lot_created["format"], "fixed_price");
    assert_eq!(lot_created["endsAt"], Value::Null);
}

#[test]
fn amounts_are_written_with_exactly_the_currencys_minor_units() {
    let s = given(english_in(Currency::JPY, "1000"))
        .when(bid("ann", "3000"), t(1))
        .when(bid("bob", "1050"), t(2))
        .then_accepted();
    assert_eq!(public(&s.log()[3])["currentPrice"], json!("1100"));
    let s = given(english_in(Currency::BHD, "1"))
        .when(bid("ann", "3"), t(1))
        .then_accepted();
    assert_eq!(public(&s.log()[2])["currentPrice"], json!("1.000"));
}

#[test]
fn replaying_the_log_rebuilds_the_lot_exactly() {
    let s = auction();
    let rebuilt = replay(lot_id(), s.log()).expect("replays");
    assert_eq!(&rebuilt, s.lot());
    assert_eq!(rebuilt.sequence, 13);
    // Replaying a prefix rebuilds the lot as it was then.
    let before_close = replay(lot_id(), &s.log()[..10]).expect("replays");
    assert_eq!(before_close.status, hammerfall_ports::LotStatus::Open);
    assert_eq!(before_close.ends_at, Some(t(68)));
}

#[test]
fn a_log_with_a_gap_does_not_replay() {
    let s = auction();
    let mut log = s.log().to_vec();
    log.remove(5);
    assert_eq!(
        replay(lot_id(), &log),
        Err(ApplyError::SequenceGap {
            expected: 6,
            found: 7
        })
    );
    assert_eq!(
        replay(lot_id(), &s.log()[1..]),
        Err(ApplyError::NotCreatedFirst)
    );
}

#[test]
fn a_lot_given_by_its_events_behaves_like_the_original() {
    let original = given(english("10.00")).when(bid("ann", "50.00"), t(1));
    given_events(original.log().to_vec())
        .when(bid("bob", "30.00"), t(2))
        .then_events(&[
            accepted_usd("bob", "30.00", 2, "31.00", "ann"),
            outbid("bob", "31.00"),
        ]);
}
