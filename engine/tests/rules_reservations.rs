//! Fixed-price lots and free items: reservations (SPEC §3), the listing
//! end and cancelling (§9).

mod support;

use hammerfall_engine::next_due;
use hammerfall_ports::{
    Actor, CreateLot, EndedBy, Event, LotStatus, Rejection, ReservationStatus, Roles,
    SettlementStatus, UnsoldReason,
};
use support::*;

fn reserved(id: &str, buyer: &str) -> Event {
    Event::ReservationCreated {
        reservation_id: rid(id),
        buyer_id: pid(buyer),
        seller_id: pid("sam"),
        expires_at: t(5) + hours(24),
    }
}

fn completed(id: &str) -> Event {
    Event::ReservationCompleted {
        reservation_id: rid(id),
    }
}

fn cancelled(id: &str) -> Event {
    Event::ReservationCancelled {
        reservation_id: rid(id),
    }
}

fn expired(id: &str) -> Event {
    Event::ReservationExpired {
        reservation_id: rid(id),
    }
}

fn no_buyer() -> Event {
    unsold(UnsoldReason::NoBuyer, 0, EndedBy::Time)
}

/// A 25.00 table with bob's reservation r1 made at t(5).
fn reserved_by_bob() -> support::Scenario {
    given(fixed_price("25.00"))
        .when(reserve(bidder("bob"), "r1"), t(5))
        .then_events(&[reserved("r1", "bob")])
}

fn listing_until(minutes: i64) -> CreateLot {
    let mut req = fixed_price("25.00");
    req.ends_at = Some(t(minutes));
    req
}

// ------------------------------------------------------------ reserving

#[test]
fn reserving_holds_the_lot_for_the_hold_period() {
    let s = reserved_by_bob();
    assert_eq!(s.lot().status, LotStatus::Reserved);
    let (_, state) = s.lot().fixed_price().expect("fixed price");
    let r = state.active().expect("active");
    assert_eq!(r.buyer_id, pid("bob"));
    assert_eq!(r.created_at, t(5));
    assert_eq!(r.expires_at, t(5) + hours(24));
    assert_eq!(r.status, ReservationStatus::Active);
    assert_eq!(next_due(s.lot()), Some(t(5) + hours(24)));
}

#[test]
fn a_custom_hold_sets_the_expiry() {
    let mut req = fixed_price("25.00");
    req.hold_secs = Some(600);
    given(req)
        .when(reserve(bidder("bob"), "r1"), t(5))
        .then_events(&[Event::ReservationCreated {
            reservation_id: rid("r1"),
            buyer_id: pid("bob"),
            seller_id: pid("sam"),
            expires_at: t(15),
        }]);
}

#[test]
fn a_reserved_lot_cannot_be_reserved_again() {
    reserved_by_bob()
        .when(reserve(bidder("ann"), "r2"), t(6))
        .then_rejected_with(&Rejection::AlreadyReserved);
}

#[test]
fn the_seller_cannot_reserve_their_own_lot() {
    let sam = Actor::new(pid("sam"), Roles::SELLER.with(Roles::BIDDER));
    given(fixed_price("25.00"))
        .when(reserve(sam, "r1"), t(1))
        .then_rejected_with(&Rejection::SellerCannotReserve);
}

#[test]
fn an_english_lot_does_not_take_reservations() {
    given(english("10.00"))
        .when(reserve(bidder("bob"), "r1"), t(1))
        .then_rejected_with(&Rejection::ReservationNotSupported);
}

#[test]
fn reserving_needs_the_bidder_role() {
    given(fixed_price("25.00"))
        .when(reserve(admin(), "r1"), t(1))
        .then_rejected("forbidden");
}

#[test]
fn a_cancelled_lot_cannot_be_reserved() {
    given(fixed_price("25.00"))
        .when(cancel(seller()), t(1))
        .then_accepted()
        .when(reserve(bidder("bob"), "r1"), t(2))
        .then_rejected("lot_closed");
}

#[test]
fn a_lot_before_its_start_cannot_be_reserved() {
    let mut req = fixed_price("25.00");
    req.starts_at = Some(t(10));
    given(req)
        .when(reserve(bidder("bob"), "r1"), t(9))
        .then_rejected("lot_not_open");
}

#[test]
fn a_scheduled_lot_opens_when_a_reservation_arrives_at_its_start() {
    let mut req = fixed_price("25.00");
    req.starts_at = Some(t(5));
    given(req)
        .when(reserve(bidder("bob"), "r1"), t(5))
        .then_events(&[Event::LotOpened {}, reserved("r1", "bob")]);
}

// The §9 order: format, seller, closed, not open, already reserved.

#[test]
fn the_seller_reserving_an_english_lot_gets_reservation_not_supported() {
    let sam = Actor::new(pid("sam"), Roles::BIDDER);
    given(english("10.00"))
        .when(reserve(sam, "r1"), t(1))
        .then_rejected("reservation_not_supported");
}

#[test]
fn the_seller_reserving_a_closed_lot_gets_seller_cannot_reserve() {
    let sam = Actor::new(pid("sam"), Roles::BIDDER);
    given(fixed_price("25.00"))
        .when(cancel(seller()), t(1))
        .when(reserve(sam, "r1"), t(2))
        .then_rejected("seller_cannot_reserve");
}

#[test]
fn the_seller_reserving_a_scheduled_lot_gets_seller_cannot_reserve() {
    let sam = Actor::new(pid("sam"), Roles::BIDDER);
    let mut req = fixed_price("25.00");
    req.starts_at = Some(t(10));
    given(req)
        .when(reserve(sam, "r1"), t(1))
        .then_rejected("seller_cannot_reserve");
}

#[test]
fn a_closed_lot_gets_lot_closed_even_if_it_was_reserved() {
    // The listing closed with r1 completed: closed wins over already_reserved.
    reserved_by_bob()
        .when(complete(bidder("bob"), "r1"), t(6))
        .then_accepted()
        .when(reserve(bidder("ann"), "r2"), t(7))
        .then_rejected("lot_closed");
}

// ------------------------------------------------------------ completing

#[test]
fn the_buyer_completing_sells_the_lot_at_its_price() {
    let s = reserved_by_bob()
        .when(complete(bidder("bob"), "r1"), t(30))
        .then_events(&[
            completed("r1"),
            sold("bob", "25.00", 0, EndedBy::Reservation),
            settlement("bob", "25.00", "0.00", "25.00", t(30) + hours(72)),
        ])
        .then_occurred_at(&[t(30), t(30), t(30)]);
    let lot = s.lot();
    assert_eq!(lot.status, LotStatus::Closed);
    let outcome = lot.outcome.as_ref().expect("outcome");
    assert_eq!(outcome.ended_by, EndedBy::Reservation);
    assert_eq!(outcome.ended_at, t(30));
    let (_, state) = lot.fixed_price().expect("fixed price");
    assert_eq!(
        state.latest().expect("r1").status,
        ReservationStatus::Completed
    );
    let settlement = lot.settlement.as_ref().expect("settlement");
    assert_eq!(settlement.status, SettlementStatus::Pending);
    assert_eq!(next_due(lot), Some(t(30) + hours(72)));
}

#[test]
fn the_seller_may_complete_a_reservation() {
    reserved_by_bob()
        .when(complete(seller(), "r1"), t(30))
        .then_accepted();
}

#[test]
fn an_admin_may_complete_a_reservation() {
    let s = reserved_by_bob()
        .when(complete(admin(), "r1"), t(30))
        .then_accepted();
    assert_eq!(
        s.lot().settlement.as_ref().expect("settlement").buyer_id,
        pid("bob")
    );
}

#[test]
fn a_stranger_may_not_complete_a_reservation() {
    reserved_by_bob()
        .when(complete(bidder("ann"), "r1"), t(30))
        .then_rejected_with(&Rejection::Forbidden);
}

#[test]
fn an_unknown_reservation_is_not_found() {
    reserved_by_bob()
        .when(complete(bidder("bob"), "nope"), t(30))
        .then_rejected_with(&Rejection::ReservationNotFound)
        .when(cancel_reservation(bidder("bob"), "nope"), t(30))
        .then_rejected("reservation_not_found");
}

#[test]
fn a_reservation_on_an_english_lot_is_not_found() {
    given(english("10.00"))
        .when(complete(admin(), "r1"), t(1))
        .then_rejected("reservation_not_found");
}

#[test]
fn completing_a_completed_reservation_is_not_active() {
    reserved_by_bob()
        .when(complete(bidder("bob"), "r1"), t(30))
        .then_accepted()
        .when(complete(bidder("bob"), "r1"), t(31))
        .then_rejected_with(&Rejection::ReservationNotActive);
}

#[test]
fn completing_a_cancelled_reservation_is_not_active() {
    reserved_by_bob()
        .when(cancel_reservation(bidder("bob"), "r1"), t(30))
        .then_accepted()
        .when(complete(seller(), "r1"), t(31))
        .then_rejected("reservation_not_active");
}

#[test]
fn completing_at_the_expiry_expires_the_reservation_first() {
    let expiry = t(5) + hours(24);
    let s = reserved_by_bob()
        .when(complete(bidder("bob"), "r1"), expiry)
        .then_rejected_after("reservation_expired", &[expired("r1")])
        .then_occurred_at(&[expiry]);
    assert_eq!(s.lot().status, LotStatus::Open);
    // Asking again changes nothing and gets the same answer.
    s.when(complete(bidder("bob"), "r1"), expiry + hours(1))
        .then_rejected_with(&Rejection::ReservationExpired);
}

#[test]
fn completing_a_second_before_the_expiry_sells() {
    reserved_by_bob()
        .when(
            complete(bidder("bob"), "r1"),
            t(5) + hours(24) - chrono::Duration::seconds(1),
        )
        .then_accepted();
}

// ------------------------------------------------------------ cancelling

#[test]
fn the_buyer_cancelling_opens_the_lot_again() {
    let s = reserved_by_bob()
        .when(cancel_reservation(bidder("bob"), "r1"), t(30))
        .then_events(&[cancelled("r1")]);
    assert_eq!(s.lot().status, LotStatus::Open);
    assert_eq!(next_due(s.lot()), None);
    let s = s.when(reserve(bidder("ann"), "r2"), t(31)).then_accepted();
    let (_, state) = s.lot().fixed_price().expect("fixed price");
    assert_eq!(state.reservations.len(), 2);
    assert_eq!(state.latest().expect("r2").buyer_id, pid("ann"));
    assert_eq!(
        state.find(&rid("r1")).expect("r1").status,
        ReservationStatus::Cancelled
    );
}

#[test]
fn the_seller_or_an_admin_may_cancel_a_reservation() {
    reserved_by_bob()
        .when(cancel_reservation(seller(), "r1"), t(30))
        .then_events(&[cancelled("r1")]);
    reserved_by_bob()
        .when(cancel_reservation(admin(), "r1"), t(30))
        .then_events(&[cancelled("r1")]);
}

#[test]
fn a_stranger_may_not_cancel_a_reservation() {
    reserved_by_bob()
        .when(cancel_reservation(bidder("ann"), "r1"), t(30))
        .then_rejected("forbidden");
}

#[test]
fn cancelling_a_reservation_twice_is_not_active() {
    reserved_by_bob()
        .when(cancel_reservation(bidder("bob"), "r1"), t(30))
        .then_accepted()
        .when(cancel_reservation(bidder("bob"), "r1"), t(31))
        .then_rejected_with(&Rejection::ReservationNotActive);
}

#[test]
fn cancelling_an_expired_reservation_is_not_active() {
    reserved_by_bob()
        .when(cancel_reservation(bidder("bob"), "r1"), t(5) + hours(25))
        .then_rejected_after("reservation_not_active", &[expired("r1")]);
}

// ------------------------------------------------------------ expiry

#[test]
fn a_timer_expires_the_reservation_and_the_lot_opens_again() {
    let expiry = t(5) + hours(24);
    let s = reserved_by_bob()
        .when(timer(), expiry - chrono::Duration::seconds(1))
        .then_events(&[])
        .when(timer(), expiry)
        .then_events(&[expired("r1")])
        .then_occurred_at(&[expiry]);
    assert_eq!(s.lot().status, LotStatus::Open);
    let (_, state) = s.lot().fixed_price().expect("fixed price");
    assert!(state.active().is_none());
    assert_eq!(
        state.latest().expect("r1").status,
        ReservationStatus::Expired
    );
}

#[test]
fn the_next_reservation_expires_a_lapsed_one_first() {
    let expiry = t(5) + hours(24);
    reserved_by_bob()
        .when(reserve(bidder("ann"), "r2"), expiry + hours(1))
        .then_events(&[
            expired("r1"),
            Event::ReservationCreated {
                reservation_id: rid("r2"),
                buyer_id: pid("ann"),
                seller_id: pid("sam"),
                expires_at: expiry + hours(25),
            },
        ])
        .then_occurred_at(&[expiry, expiry + hours(1)]);
}

// ------------------------------------------------------------ listing end

#[test]
fn a_listing_without_a_reservation_closes_unsold_at_its_end() {
    let s = given(listing_until(60))
        .when(timer(), t(60))
        .then_events(&[no_buyer()])
        .then_occurred_at(&[t(60)]);
    assert_eq!(s.lot().status, LotStatus::Closed);
    assert!(s.lot().settlement.is_none());
    s.when(reserve(bidder("bob"), "r1"), t(61))
        .then_rejected("lot_closed");
}

#[test]
fn a_reservation_after_the_listing_end_closes_the_lot_first() {
    given(listing_until(60))
        .when(reserve(bidder("bob"), "r1"), t(70))
        .then_rejected_after("lot_closed", &[no_buyer()])
        .then_occurred_at(&[t(60)]);
}

#[test]
fn the_listing_end_waits_for_an_active_reservation_that_then_completes() {
    let s = given(listing_until(60))
        .when(reserve(bidder("bob"), "r1"), t(5))
        .then_accepted()
        .when(timer(), t(60))
        .then_events(&[]);
    assert_eq!(s.lot().status, LotStatus::Reserved);
    s.when(complete(bidder("bob"), "r1"), t(70)).then_events(&[
        completed("r1"),
        sold("bob", "25.00", 0, EndedBy::Reservation),
        settlement("bob", "25.00", "0.00", "25.00", t(70) + hours(72)),
    ]);
}

#[test]
fn a_reservation_expiring_after_the_listing_end_closes_the_lot_unsold() {
    let expiry = t(5) + hours(24);
    let s = given(listing_until(60))
        .when(reserve(bidder("bob"), "r1"), t(5))
        .when(timer(), expiry)
        .then_events(&[expired("r1"), no_buyer()])
        .then_occurred_at(&[expiry, expiry]);
    assert_eq!(s.lot().status, LotStatus::Closed);
    assert_eq!(s.lot().outcome.as_ref().expect("outcome").ended_at, expiry);
}

#[test]
fn a_reservation_cancelled_after_the_listing_end_closes_the_lot_unsold() {
    let s = given(listing_until(60))
        .when(reserve(bidder("bob"), "r1"), t(5))
        .when(cancel_reservation(bidder("bob"), "r1"), t(90))
        .then_events(&[cancelled("r1"), no_buyer()])
        .then_occurred_at(&[t(90), t(90)]);
    assert_eq!(s.lot().status, LotStatus::Closed);
    assert_eq!(next_due(s.lot()), None);
}

#[test]
fn a_reservation_cancelled_before_the_listing_end_leaves_it_open() {
    given(listing_until(60))
        .when(reserve(bidder("bob"), "r1"), t(5))
        .when(cancel_reservation(bidder("bob"), "r1"), t(30))
        .then_events(&[cancelled("r1")])
        .when(timer(), t(60))
        .then_events(&[no_buyer()]);
}

// ------------------------------------------------------------ cancelling the lot

#[test]
fn the_seller_may_cancel_an_unreserved_listing() {
    given(fixed_price("25.00"))
        .when(cancel(seller()), t(1))
        .then_events(&[Event::LotCancelled { by: pid("sam") }]);
}

#[test]
fn the_seller_may_not_cancel_a_listing_with_an_active_reservation() {
    reserved_by_bob()
        .when(cancel(seller()), t(6))
        .then_rejected_with(&Rejection::CancelNotAllowed);
}

#[test]
fn an_admin_cancelling_a_reserved_listing_cancels_the_reservation_too() {
    let s = reserved_by_bob()
        .when(cancel(admin()), t(6))
        .then_events(&[cancelled("r1"), Event::LotCancelled { by: pid("ada") }]);
    assert_eq!(s.lot().status, LotStatus::Cancelled);
    let (_, state) = s.lot().fixed_price().expect("fixed price");
    assert_eq!(
        state.latest().expect("r1").status,
        ReservationStatus::Cancelled
    );
    assert_eq!(next_due(s.lot()), None);
}

#[test]
fn the_seller_may_cancel_once_a_reservation_has_lapsed() {
    let expiry = t(5) + hours(24);
    reserved_by_bob()
        .when(cancel(seller()), expiry + hours(1))
        .then_events(&[expired("r1"), Event::LotCancelled { by: pid("sam") }])
        .then_occurred_at(&[expiry, expiry + hours(1)]);
}

#[test]
fn a_buyer_may_not_cancel_the_listing() {
    reserved_by_bob()
        .when(cancel(bidder("bob")), t(6))
        .then_rejected("forbidden");
}

// ------------------------------------------------------------ free items

#[test]
fn a_free_item_is_settled_paid_when_its_reservation_completes() {
    let s = given(fixed_price("0"))
        .when(reserve(bidder("bob"), "r1"), t(5))
        .then_accepted()
        .when(complete(seller(), "r1"), t(10))
        .then_events(&[
            completed("r1"),
            sold("bob", "0.00", 0, EndedBy::Reservation),
            settlement("bob", "0.00", "0.00", "0.00", t(10) + hours(72)),
        ]);
    let settlement = s.lot().settlement.as_ref().expect("settlement");
    assert_eq!(settlement.status, SettlementStatus::Paid);
    assert!(settlement.total_due.is_zero());
    // Nothing can default, and paying is refused as already done.
    assert_eq!(next_due(s.lot()), None);
    s.when(pay(bidder("bob")), t(11))
        .then_rejected("already_paid")
        .when(timer(), t(10) + hours(100))
        .then_events(&[]);
}
