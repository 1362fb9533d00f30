//! Validating a bid (SPEC §2.1): every refusal a bid can get, and the order
//! in which the checks run (the first failure wins).

mod support;

use hammerfall_engine::decide;
use hammerfall_ports::{AmountProblem, Currency, EndedBy, Event, Rejection, UnsoldReason};
use support::*;

// ------------------------------------------------------------ accepted bids

#[test]
fn a_first_bid_leads_at_the_starting_price() {
    let s = given(english("10.00"))
        .when(bid("ann", "50.00"), t(1))
        .then_events(&[accepted_usd("ann", "50.00", 1, "10.00", "ann")])
        .then_occurred_at(&[t(1)]);
    let (_, state) = s.lot().english().expect("english");
    assert_eq!(state.current_price, Some(usd("10.00")));
    assert_eq!(state.bid_count, 1);
    let leader = state.leader.as_ref().expect("a leader");
    assert_eq!(leader.bidder_id, pid("ann"));
    assert_eq!(leader.maximum, usd("50.00"));
    assert_eq!(s.last_events()[0].sequence, 3);
}

#[test]
fn a_bid_exactly_at_the_starting_price_is_accepted() {
    given(english("10.00"))
        .when(bid("ann", "10.00"), t(1))
        .then_events(&[accepted_usd("ann", "10.00", 1, "10.00", "ann")]);
}

#[test]
fn a_bid_stating_the_lots_currency_is_accepted() {
    given(english("10.00"))
        .when(bid_in("ann", "12.00", "USD"), t(1))
        .then_events(&[accepted_usd("ann", "12.00", 1, "10.00", "ann")]);
}

#[test]
fn trailing_zeros_beyond_the_minor_units_are_not_extra_precision() {
    // "10.500" USD is 10.50 (SPEC §1).
    let s = given(english("10.00"))
        .when(bid("ann", "10.500"), t(1))
        .then_accepted();
    let leader = s.lot().english().expect("english").1.leader.clone();
    assert_eq!(leader.expect("leader").maximum.to_string(), "10.50");
}

#[test]
fn a_bid_one_second_before_the_end_is_accepted() {
    given(english("10.00"))
        .when(bid("ann", "10.00"), ts(3599))
        .then_events(&[accepted_usd("ann", "10.00", 1, "10.00", "ann")]);
}

// ------------------------------------------------------------ each refusal

#[test]
fn a_caller_without_the_bidder_role_is_forbidden() {
    given(english("10.00"))
        .when(bid_as(admin(), "20.00"), t(1))
        .then_rejected_with(&Rejection::Forbidden);
}

#[test]
fn a_fixed_price_lot_does_not_take_bids() {
    given(fixed_price("25.00"))
        .when(bid("ann", "30.00"), t(1))
        .then_rejected("bidding_not_supported");
}

#[test]
fn the_seller_cannot_bid_on_their_own_lot() {
    let sam_bidding = hammerfall_ports::Actor::new(
        pid("sam"),
        hammerfall_ports::Roles::SELLER.with(hammerfall_ports::Roles::BIDDER),
    );
    given(english("10.00"))
        .when(bid_as(sam_bidding, "20.00"), t(1))
        .then_rejected_with(&Rejection::SellerCannotBid);
}

#[test]
fn a_bid_on_a_cancelled_lot_is_rejected_as_closed() {
    given(english("10.00"))
        .when(cancel(seller()), t(1))
        .then_accepted()
        .when(bid("ann", "20.00"), t(2))
        .then_rejected("lot_closed");
}

#[test]
fn a_bid_before_the_start_is_rejected_as_not_open() {
    let mut req = english("10.00");
    req.starts_at = Some(t(10));
    given(req)
        .when(bid("ann", "20.00"), t(9))
        .then_rejected("lot_not_open");
}

#[test]
fn a_bid_in_another_currency_is_a_currency_mismatch() {
    given(english("10.00"))
        .when(bid_in("ann", "20.00", "EUR"), t(1))
        .then_rejected_with(&Rejection::CurrencyMismatch);
}

#[test]
fn a_bid_in_an_unknown_currency_is_a_currency_mismatch() {
    given(english("10.00"))
        .when(bid_in("ann", "20.00", "XYZ"), t(1))
        .then_rejected("currency_mismatch");
}

#[test]
fn a_zero_bid_is_an_invalid_amount() {
    given(english("10.00"))
        .when(bid("ann", "0"), t(1))
        .then_rejected_with(&Rejection::InvalidAmount {
            reason: AmountProblem::NotPositive,
        });
}

#[test]
fn a_negative_bid_is_an_invalid_amount() {
    given(english("10.00"))
        .when(bid("ann", "-20.00"), t(1))
        .then_rejected_with(&Rejection::InvalidAmount {
            reason: AmountProblem::NotPositive,
        });
}

#[test]
fn a_bid_with_more_decimals_than_the_currency_has_is_an_invalid_amount() {
    given(english("10.00"))
        .when(bid("ann", "20.005"), t(1))
        .then_rejected_with(&Rejection::InvalidAmount {
            reason: AmountProblem::TooPrecise,
        });
}

#[test]
fn a_fractional_yen_bid_is_an_invalid_amount() {
    given(english_in(Currency::JPY, "1000"))
        .when(bid("ann", "1500.5"), t(1))
        .then_rejected_with(&Rejection::InvalidAmount {
            reason: AmountProblem::TooPrecise,
        });
}

#[test]
fn a_bid_above_one_trillion_is_an_invalid_amount() {
    given(english("10.00"))
        .when(bid("ann", "1000000000000.01"), t(1))
        .then_rejected_with(&Rejection::InvalidAmount {
            reason: AmountProblem::TooLarge,
        });
}

#[test]
fn a_bid_of_exactly_one_trillion_is_accepted() {
    given(english("10.00"))
        .when(bid("ann", "1000000000000"), t(1))
        .then_events(&[accepted_usd("ann", "1000000000000", 1, "10.00", "ann")]);
}

#[test]
fn a_bid_below_the_minimum_is_rejected_with_the_minimum_bid() {
    given(english("10.00"))
        .when(bid("ann", "9.99"), t(1))
        .then_rejected_with(&Rejection::BidTooLow {
            min_bid: usd("10.00"),
        });
}

#[test]
fn a_bid_below_current_price_plus_increment_is_rejected_with_that_minimum() {
    // Ann leads at 10.00; inc(10.00) = 0.50, so the next bid must be 10.50.
    given(english("10.00"))
        .when(bid("ann", "50.00"), t(1))
        .then_accepted()
        .when(bid("bob", "10.49"), t(2))
        .then_rejected_with(&Rejection::BidTooLow {
            min_bid: usd("10.50"),
        })
        .when(bid("bob", "10.50"), t(3))
        .then_events(&[
            accepted_usd("bob", "10.50", 2, "11.00", "ann"),
            outbid("bob", "11.00"),
        ]);
}

#[test]
fn the_leader_must_raise_their_maximum_by_at_least_the_smallest_unit() {
    let s = given(english("10.00"))
        .when(bid("ann", "50.00"), t(1))
        .then_accepted()
        .when(bid("ann", "50.00"), t(2))
        .then_rejected_with(&Rejection::BidTooLow {
            min_bid: usd("50.01"),
        });
    assert_eq!(s.rejection().code(), "bid_too_low");
    s.when(bid("ann", "50.01"), t(3))
        .then_events(&[accepted_usd("ann", "50.01", 2, "10.00", "ann")]);
}

#[test]
fn a_yen_leader_must_raise_their_maximum_by_one_yen() {
    given(english_in(Currency::JPY, "1000"))
        .when(bid("ann", "5000"), t(1))
        .then_accepted()
        .when(bid("ann", "5000"), t(2))
        .then_rejected_with(&Rejection::BidTooLow {
            min_bid: money("5001", Currency::JPY),
        });
}

#[test]
fn the_rejection_of_a_low_bid_serializes_the_minimum_as_min_bid() {
    let s = given(english("10.00"))
        .when(bid("ann", "50.00"), t(1))
        .when(bid("bob", "10.00"), t(2))
        .then_rejected("bid_too_low");
    let json = serde_json::to_value(s.rejection()).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"code": "bid_too_low", "minBid": "10.50"})
    );
    assert_eq!(s.rejection().http_status(), 409);
}

// ------------------------------------------------------------ the order

#[test]
fn a_seller_bidding_on_a_fixed_price_lot_gets_bidding_not_supported() {
    // Check 2 (format) comes before check 3 (seller).
    let sam = hammerfall_ports::Actor::new(pid("sam"), hammerfall_ports::Roles::BIDDER);
    given(fixed_price("25.00"))
        .when(bid_as(sam, "30.00"), t(1))
        .then_rejected("bidding_not_supported");
}

#[test]
fn a_seller_bidding_on_a_closed_lot_gets_seller_cannot_bid() {
    // Check 3 (seller) comes before check 4 (closed).
    let sam = hammerfall_ports::Actor::new(pid("sam"), hammerfall_ports::Roles::BIDDER);
    given(english("10.00"))
        .when(cancel(seller()), t(1))
        .then_accepted()
        .when(bid_as(sam, "20.00"), t(2))
        .then_rejected("seller_cannot_bid");
}

#[test]
fn a_seller_bidding_on_a_scheduled_lot_gets_seller_cannot_bid() {
    let sam = hammerfall_ports::Actor::new(pid("sam"), hammerfall_ports::Roles::BIDDER);
    let mut req = english("10.00");
    req.starts_at = Some(t(10));
    given(req)
        .when(bid_as(sam, "20.00"), t(1))
        .then_rejected("seller_cannot_bid");
}

#[test]
fn a_closed_lot_with_a_wrong_currency_gets_lot_closed() {
    // Check 4 (closed) comes before check 6 (currency).
    given(english("10.00"))
        .when(cancel(seller()), t(1))
        .then_accepted()
        .when(bid_in("ann", "20.00", "EUR"), t(2))
        .then_rejected("lot_closed");
}

#[test]
fn a_scheduled_lot_with_a_wrong_currency_gets_lot_not_open() {
    // Check 5 (started) comes before check 6 (currency).
    let mut req = english("10.00");
    req.starts_at = Some(t(10));
    given(req)
        .when(bid_in("ann", "20.00", "EUR"), t(5))
        .then_rejected("lot_not_open");
}

#[test]
fn a_wrong_currency_with_an_invalid_amount_gets_currency_mismatch() {
    // Check 6 (currency) comes before check 7 (amount).
    given(english("10.00"))
        .when(bid_in("ann", "-1", "EUR"), t(1))
        .then_rejected("currency_mismatch");
}

#[test]
fn an_invalid_amount_below_the_minimum_gets_invalid_amount() {
    // Check 7 (amount) comes before check 8 (minimum).
    given(english("10.00"))
        .when(bid("ann", "9.995"), t(1))
        .then_rejected("invalid_amount");
}

#[test]
fn a_low_bid_after_the_end_gets_lot_closed_not_bid_too_low() {
    given(english("10.00"))
        .when(bid("ann", "1.00"), t(60))
        .then_rejected_after(
            "lot_closed",
            &[unsold(UnsoldReason::NoBids, 0, EndedBy::Time)],
        );
}

// ------------------------------------------------------------ at the end

#[test]
fn a_bid_at_the_end_is_rejected_and_closes_the_lot_in_the_same_step() {
    let s = given(english("10.00"))
        .when(bid("ann", "20.00"), t(60))
        .then_rejected_after(
            "lot_closed",
            &[unsold(UnsoldReason::NoBids, 0, EndedBy::Time)],
        )
        .then_occurred_at(&[t(60)]);
    assert_eq!(s.lot().status, hammerfall_ports::LotStatus::Closed);
    assert_eq!(s.last_events()[0].sequence, 3);
}

#[test]
fn a_late_bid_closes_a_lot_with_a_leader_as_sold_at_the_end_time() {
    let s = given(english("10.00"))
        .when(bid("ann", "50.00"), t(1))
        .when(bid("bob", "30.00"), t(2))
        .then_accepted()
        .when(bid("bob", "80.00"), t(95))
        .then_rejected_after(
            "lot_closed",
            &[
                sold("ann", "31.00", 2, EndedBy::Time),
                settlement("ann", "31.00", "0.00", "31.00", t(60) + hours(72)),
            ],
        )
        .then_occurred_at(&[t(60), t(60)]);
    let outcome = s.lot().outcome.as_ref().expect("closed");
    assert_eq!(outcome.ended_at, t(60));
    assert_eq!(outcome.ended_by, EndedBy::Time);
    assert_eq!(
        s.lot().settlement.as_ref().expect("settlement").due_by,
        t(60) + hours(72)
    );
}

#[test]
fn decide_drops_the_due_transitions_of_a_refused_bid_but_judge_keeps_them() {
    let s = given(english("10.00")).when(bid("ann", "50.00"), t(1));
    let late = bid("bob", "80.00");
    assert_eq!(decide(s.lot(), &late, t(61)), Err(Rejection::LotClosed));
    let verdict = hammerfall_engine::judge(s.lot(), &late, t(61));
    assert_eq!(verdict.outcome, Err(Rejection::LotClosed));
    let types: Vec<&str> = verdict
        .events
        .iter()
        .map(|e| e.event.event_type())
        .collect();
    assert_eq!(types, ["AuctionEnded", "SettlementCreated"]);
    assert_eq!(verdict.events[0].sequence, 4);
    assert_eq!(verdict.events[1].sequence, 5);
}

#[test]
fn a_bid_at_the_start_of_a_scheduled_lot_opens_it_first() {
    let mut req = english("10.00");
    req.starts_at = Some(t(10));
    given(req)
        .when(bid("ann", "20.00"), t(10))
        .then_events(&[
            Event::LotOpened {},
            accepted_usd("ann", "20.00", 1, "10.00", "ann"),
        ])
        .then_occurred_at(&[t(10), t(10)]);
}

#[test]
fn accepting_a_bid_never_reads_anything_but_its_inputs() {
    // The same lot, command and time always give the same verdict.
    let s = given(english("10.00")).when(bid("ann", "50.00"), t(1));
    let cmd = bid("bob", "60.00");
    let first = hammerfall_engine::judge(s.lot(), &cmd, t(2));
    let second = hammerfall_engine::judge(s.lot(), &cmd, t(2));
    assert_eq!(first, second);
    assert_eq!(first.events.len(), 2);
}
