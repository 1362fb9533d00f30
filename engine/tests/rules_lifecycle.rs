//! An English lot's life: opening, soft close (SPEC §2.3), the timed close,
//! buy now and cancel (§2.4), due transitions (§9).

mod support;

use hammerfall_engine::{advance, next_due};
use hammerfall_ports::{
    Actor, CreateLot, EndedBy, Event, LotStatus, Rejection, Roles, SaleResult, SoftCloseInput,
    UnsoldReason,
};
use support::*;

fn soft_close(window_secs: i64, extension_secs: i64) -> CreateLot {
    let mut req = english("10.00");
    req.soft_close = Some(SoftCloseInput {
        window_secs,
        extension_secs,
    });
    req
}

fn with_buy_now(reserve: Option<&str>, buy_now: &str) -> CreateLot {
    let mut req = english("10.00");
    req.reserve_price = reserve.map(dec);
    req.buy_now_price = Some(dec(buy_now));
    req
}

fn scheduled() -> CreateLot {
    let mut req = english("10.00");
    req.starts_at = Some(t(10));
    req
}

// ------------------------------------------------------------ opening

#[test]
fn a_scheduled_lot_opens_when_a_timer_advances_it_to_its_start() {
    let s = given(scheduled());
    assert_eq!(s.lot().status, LotStatus::Scheduled);
    assert_eq!(next_due(s.lot()), Some(t(10)));
    let s = s
        .when(timer(), t(9))
        .then_events(&[])
        .when(timer(), t(10))
        .then_events(&[Event::LotOpened {}])
        .then_occurred_at(&[t(10)]);
    assert_eq!(s.lot().status, LotStatus::Open);
    assert_eq!(next_due(s.lot()), Some(t(60)));
}

#[test]
fn a_late_timer_opens_a_scheduled_lot_at_its_start_and_closes_it_at_its_end() {
    given(scheduled())
        .when(timer(), t(61))
        .then_events(&[
            Event::LotOpened {},
            unsold(UnsoldReason::NoBids, 0, EndedBy::Time),
        ])
        .then_occurred_at(&[t(10), t(60)]);
}

#[test]
fn advance_returns_the_due_events_without_a_command() {
    let s = given(english("10.00")).when(bid("ann", "20.00"), t(1));
    assert!(advance(s.lot(), t(59)).is_empty());
    let due = advance(s.lot(), t(60));
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].event, sold("ann", "10.00", 1, EndedBy::Time));
    assert_eq!(
        due[1].event,
        settlement("ann", "10.00", "0.00", "10.00", t(60) + hours(72))
    );
    assert_eq!((due[0].sequence, due[1].sequence), (4, 5));
}

// ------------------------------------------------------------ soft close

#[test]
fn a_bid_inside_the_soft_close_window_extends_the_end() {
    // Window 5 min, extension 10 min: a bid 3 minutes before the end moves
    // it to 10 minutes after the bid.
    let s = given(soft_close(300, 600))
        .when(bid("ann", "20.00"), t(57))
        .then_events(&[
            accepted_usd("ann", "20.00", 1, "10.00", "ann"),
            extended(t(67)),
        ]);
    assert_eq!(s.lot().ends_at, Some(t(67)));
    assert_eq!(next_due(s.lot()), Some(t(67)));
}

#[test]
fn extensions_have_no_cap_and_the_lot_closes_at_the_last_end() {
    let s = given(soft_close(300, 600))
        .when(bid("ann", "20.00"), t(57))
        .then_accepted()
        // 8 minutes left at t(59): outside the window, no extension.
        .when(bid("bob", "15.00"), t(59))
        .then_events(&[
            accepted_usd("bob", "15.00", 2, "15.50", "ann"),
            outbid("bob", "15.50"),
        ])
        // Past the original end but before the extended one.
        .when(bid("bob", "30.00"), t(66))
        .then_events(&[
            accepted_usd("bob", "30.00", 3, "20.50", "bob"),
            outbid("ann", "20.50"),
            extended(t(76)),
        ]);
    let seqs: Vec<u64> = s.last_events().iter().map(|e| e.sequence).collect();
    assert_eq!(seqs, [7, 8, 9]);
    s.when(timer(), ts(76 * 60 - 1))
        .then_events(&[])
        .when(timer(), t(80))
        .then_events(&[
            sold("bob", "20.50", 3, EndedBy::Time),
            settlement("bob", "20.50", "0.00", "20.50", t(76) + hours(72)),
        ])
        .then_occurred_at(&[t(76), t(76)]);
}

#[test]
fn a_bid_outbid_at_once_inside_the_window_still_extends() {
    // The bid is accepted (case 4), so it counts for soft close.
    given(soft_close(300, 600))
        .when(bid("ann", "50.00"), t(1))
        .when(bid("bob", "20.00"), t(58))
        .then_events(&[
            accepted_usd("bob", "20.00", 2, "20.50", "ann"),
            outbid("bob", "20.50"),
            extended(t(68)),
        ]);
}

#[test]
fn a_bid_exactly_one_window_before_the_end_does_not_extend() {
    given(soft_close(300, 600))
        .when(bid("ann", "20.00"), t(55))
        .then_events(&[accepted_usd("ann", "20.00", 1, "10.00", "ann")]);
}

#[test]
fn no_extension_is_recorded_when_the_end_is_already_later() {
    // Window 10 min, extension 2 min: at t(55) the bid is in the window but
    // t(57) is before the end t(60), so the end stays.
    let s = given(soft_close(600, 120))
        .when(bid("ann", "20.00"), t(55))
        .then_events(&[accepted_usd("ann", "20.00", 1, "10.00", "ann")]);
    assert_eq!(s.lot().ends_at, Some(t(60)));
}

#[test]
fn a_lot_without_soft_close_never_extends() {
    let s = given(english("10.00"))
        .when(bid("ann", "20.00"), ts(3599))
        .then_events(&[accepted_usd("ann", "20.00", 1, "10.00", "ann")]);
    assert_eq!(s.lot().ends_at, Some(t(60)));
}

// ------------------------------------------------------------ the timed close

#[test]
fn at_the_end_the_leader_buys_at_the_current_price() {
    let s = given(english("10.00"))
        .when(bid("ann", "50.00"), t(1))
        .when(bid("bob", "30.00"), t(2))
        .when(timer(), t(60))
        .then_events(&[
            sold("ann", "31.00", 2, EndedBy::Time),
            settlement("ann", "31.00", "0.00", "31.00", t(60) + hours(72)),
        ]);
    let lot = s.lot();
    assert_eq!(lot.status, LotStatus::Closed);
    let outcome = lot.outcome.as_ref().expect("outcome");
    assert_eq!(
        outcome.result,
        SaleResult::Sold {
            winner_id: pid("ann"),
            hammer_price: usd("31.00"),
        }
    );
    assert_eq!(outcome.ended_at, t(60));
    assert!(!lot.buy_now_available());
}

#[test]
fn a_lot_without_bids_closes_unsold_with_no_bids() {
    let s = given(english("10.00"))
        .when(timer(), t(60))
        .then_events(&[unsold(UnsoldReason::NoBids, 0, EndedBy::Time)]);
    assert!(s.lot().settlement.is_none());
    assert_eq!(next_due(s.lot()), None);
}

#[test]
fn a_lot_whose_reserve_is_not_met_closes_unsold() {
    let mut req = english("10.00");
    req.reserve_price = Some(dec("40.00"));
    let s = given(req)
        .when(bid("ann", "30.00"), t(1))
        .when(timer(), t(60))
        .then_events(&[unsold(UnsoldReason::ReserveNotMet, 1, EndedBy::Time)]);
    assert!(s.lot().settlement.is_none());
}

#[test]
fn a_lot_whose_reserve_is_met_sells_at_least_at_the_reserve() {
    let mut req = english("10.00");
    req.reserve_price = Some(dec("40.00"));
    given(req)
        .when(bid("ann", "45.00"), t(1))
        .when(timer(), t(60))
        .then_events(&[
            sold("ann", "40.00", 1, EndedBy::Time),
            settlement("ann", "40.00", "0.00", "40.00", t(60) + hours(72)),
        ]);
}

#[test]
fn a_command_after_the_end_closes_the_lot_at_the_end_time() {
    // Whoever sends it (here a stranger cancelling) and whatever its fate.
    let s = given(english("10.00"))
        .when(bid("ann", "20.00"), t(1))
        .when(cancel(bidder("bob")), t(200))
        .then_rejected_after(
            "forbidden",
            &[
                sold("ann", "10.00", 1, EndedBy::Time),
                settlement("ann", "10.00", "0.00", "10.00", t(60) + hours(72)),
            ],
        )
        .then_occurred_at(&[t(60), t(60)]);
    assert_eq!(s.lot().status, LotStatus::Closed);
}

#[test]
fn nothing_is_due_before_the_end() {
    given(english("10.00"))
        .when(timer(), ts(3599))
        .then_events(&[]);
}

// ------------------------------------------------------------ buy now

#[test]
fn buy_now_before_the_first_bid_sells_at_once_at_the_buy_now_price() {
    let s = given(with_buy_now(None, "100.00"));
    assert!(s.lot().buy_now_available());
    let s = s
        .when(buy_now(bidder("ann")), t(5))
        .then_events(&[
            sold("ann", "100.00", 0, EndedBy::BuyNow),
            settlement("ann", "100.00", "0.00", "100.00", t(5) + hours(72)),
        ])
        .then_occurred_at(&[t(5), t(5)]);
    let outcome = s.lot().outcome.as_ref().expect("outcome");
    assert_eq!(outcome.ended_by, EndedBy::BuyNow);
    assert_eq!(outcome.ended_at, t(5));
    assert_eq!(s.lot().status, LotStatus::Closed);
}

#[test]
fn buy_now_is_unavailable_after_a_bid_when_there_is_no_reserve() {
    let s = given(with_buy_now(None, "100.00")).when(bid("ann", "20.00"), t(1));
    assert!(!s.lot().buy_now_available());
    s.when(buy_now(bidder("bob")), t(2))
        .then_rejected_with(&Rejection::BuyNowUnavailable);
}

#[test]
fn buy_now_stays_available_while_a_reserve_is_not_met() {
    let s = given(with_buy_now(Some("50.00"), "100.00")).when(bid("ann", "30.00"), t(1));
    assert!(s.lot().buy_now_available());
    s.when(buy_now(bidder("bob")), t(2)).then_events(&[
        sold("bob", "100.00", 1, EndedBy::BuyNow),
        settlement("bob", "100.00", "0.00", "100.00", t(2) + hours(72)),
    ]);
}

#[test]
fn buy_now_is_unavailable_once_the_reserve_is_met() {
    let s = given(with_buy_now(Some("50.00"), "100.00")).when(bid("ann", "60.00"), t(1));
    assert!(!s.lot().buy_now_available());
    s.when(buy_now(bidder("bob")), t(2))
        .then_rejected("buy_now_unavailable");
}

#[test]
fn the_seller_cannot_buy_their_own_lot() {
    let sam = Actor::new(pid("sam"), Roles::SELLER.with(Roles::BIDDER));
    given(with_buy_now(None, "100.00"))
        .when(buy_now(sam), t(1))
        .then_rejected_with(&Rejection::SellerCannotBid);
}

#[test]
fn buy_now_on_a_fixed_price_lot_is_unavailable() {
    given(fixed_price("25.00"))
        .when(buy_now(bidder("ann")), t(1))
        .then_rejected("buy_now_unavailable");
}

#[test]
fn buy_now_on_a_lot_without_a_buy_now_price_is_unavailable() {
    let s = given(english("10.00"));
    assert!(!s.lot().buy_now_available());
    s.when(buy_now(bidder("ann")), t(1))
        .then_rejected("buy_now_unavailable");
}

#[test]
fn buy_now_before_the_start_is_not_open() {
    let mut req = with_buy_now(None, "100.00");
    req.starts_at = Some(t(10));
    let s = given(req);
    assert!(!s.lot().buy_now_available());
    s.when(buy_now(bidder("ann")), t(5))
        .then_rejected("lot_not_open");
}

#[test]
fn buy_now_at_the_end_is_closed_and_closes_the_lot() {
    given(with_buy_now(None, "100.00"))
        .when(buy_now(bidder("ann")), t(60))
        .then_rejected_after(
            "lot_closed",
            &[unsold(UnsoldReason::NoBids, 0, EndedBy::Time)],
        );
}

#[test]
fn buy_now_after_a_buy_now_is_closed() {
    given(with_buy_now(None, "100.00"))
        .when(buy_now(bidder("ann")), t(5))
        .then_accepted()
        .when(buy_now(bidder("bob")), t(6))
        .then_rejected("lot_closed");
}

#[test]
fn buy_now_needs_the_bidder_role() {
    given(with_buy_now(None, "100.00"))
        .when(buy_now(admin()), t(5))
        .then_rejected("forbidden");
}

// ------------------------------------------------------------ cancel

#[test]
fn the_seller_may_cancel_an_open_lot_without_bids() {
    let s = given(english("10.00"))
        .when(cancel(seller()), t(5))
        .then_events(&[Event::LotCancelled { by: pid("sam") }])
        .then_occurred_at(&[t(5)]);
    assert_eq!(s.lot().status, LotStatus::Cancelled);
    assert_eq!(s.lot().cancelled_by, Some(pid("sam")));
    assert!(s.lot().settlement.is_none());
    assert!(s.lot().outcome.is_none());
    assert_eq!(next_due(s.lot()), None);
}

#[test]
fn the_seller_may_cancel_a_scheduled_lot_and_it_never_opens() {
    let s = given(scheduled())
        .when(cancel(seller()), t(5))
        .then_events(&[Event::LotCancelled { by: pid("sam") }]);
    assert_eq!(next_due(s.lot()), None);
    s.when(timer(), t(61))
        .then_events(&[])
        .when(bid("ann", "20.00"), t(11))
        .then_rejected("lot_closed");
}

#[test]
fn the_seller_may_not_cancel_once_a_bid_is_accepted() {
    given(english("10.00"))
        .when(bid("ann", "20.00"), t(1))
        .when(cancel(seller()), t(2))
        .then_rejected_with(&Rejection::CancelNotAllowed);
}

#[test]
fn an_admin_may_cancel_a_lot_with_bids() {
    let s = given(english("10.00"))
        .when(bid("ann", "20.00"), t(1))
        .when(cancel(admin()), t(2))
        .then_events(&[Event::LotCancelled { by: pid("ada") }]);
    assert_eq!(s.lot().status, LotStatus::Cancelled);
    assert!(s.lot().settlement.is_none());
}

#[test]
fn another_participant_may_not_cancel() {
    given(english("10.00"))
        .when(cancel(bidder("ann")), t(1))
        .then_rejected_with(&Rejection::Forbidden);
}

#[test]
fn another_seller_may_not_cancel() {
    given(english("10.00"))
        .when(cancel(Actor::seller(pid("sue"))), t(1))
        .then_rejected("forbidden");
}

#[test]
fn nobody_may_cancel_a_closed_lot() {
    given(english("10.00"))
        .when(timer(), t(60))
        .then_accepted()
        .when(cancel(admin()), t(61))
        .then_rejected("cancel_not_allowed")
        .when(cancel(seller()), t(61))
        .then_rejected("cancel_not_allowed");
}

#[test]
fn a_cancelled_lot_cannot_be_cancelled_again() {
    given(english("10.00"))
        .when(cancel(seller()), t(1))
        .then_accepted()
        .when(cancel(admin()), t(2))
        .then_rejected("cancel_not_allowed");
}

#[test]
fn an_admin_cancelling_after_the_end_finds_the_lot_closed_first() {
    given(english("10.00"))
        .when(cancel(admin()), t(61))
        .then_rejected_after(
            "cancel_not_allowed",
            &[unsold(UnsoldReason::NoBids, 0, EndedBy::Time)],
        );
}
