//! Every SPEC error code the pure engine can return, each triggered once,
//! with the HTTP status hosts answer with. (`lot_not_found`,
//! `insufficient_credit`, `idempotency_conflict`, `credit_in_use` and
//! `credit_not_found` come from the service, store and ledger around it.)

mod support;

use hammerfall_engine::create;
use hammerfall_ports::{Actor, Rejection, Roles};
use std::collections::BTreeSet;
use support::*;

fn sam_bidding() -> Actor {
    Actor::new(pid("sam"), Roles::SELLER.with(Roles::BIDDER))
}

/// The refusal each scenario ends with.
fn refusals() -> Vec<(&'static str, Rejection)> {
    let last = |s: support::Scenario| s.rejection().clone();
    let sold_to_ann = || {
        let mut req = english("10.00");
        req.buy_now_price = Some(dec("20.00"));
        given(req).when(buy_now(bidder("ann")), t(1))
    };
    let reserved = || given(fixed_price("5.00")).when(reserve(bidder("bob"), "r1"), t(1));
    let mut scheduled = english("10.00");
    scheduled.starts_at = Some(t(10));
    let mut blank = english("10.00");
    blank.title = String::new();
    vec![
        (
            "forbidden",
            last(given(english("10.00")).when(cancel(bidder("ann")), t(1))),
        ),
        (
            "bidding_not_supported",
            last(given(fixed_price("5.00")).when(bid("ann", "6"), t(1))),
        ),
        (
            "seller_cannot_bid",
            last(given(english("10.00")).when(bid_as(sam_bidding(), "20"), t(1))),
        ),
        (
            "lot_closed",
            last(given(english("10.00")).when(bid("ann", "20"), t(60))),
        ),
        (
            "lot_not_open",
            last(given(scheduled).when(bid("ann", "20"), t(1))),
        ),
        (
            "currency_mismatch",
            last(given(english("10.00")).when(bid_in("ann", "20", "GBP"), t(1))),
        ),
        (
            "invalid_amount",
            last(given(english("10.00")).when(bid("ann", "0"), t(1))),
        ),
        (
            "bid_too_low",
            last(given(english("10.00")).when(bid("ann", "9"), t(1))),
        ),
        (
            "buy_now_unavailable",
            last(given(english("10.00")).when(buy_now(bidder("ann")), t(1))),
        ),
        (
            "cancel_not_allowed",
            last(sold_to_ann().when(cancel(admin()), t(2))),
        ),
        (
            "seller_cannot_reserve",
            last(given(fixed_price("5.00")).when(reserve(sam_bidding(), "r1"), t(1))),
        ),
        (
            "reservation_not_supported",
            last(given(english("10.00")).when(reserve(bidder("bob"), "r1"), t(1))),
        ),
        (
            "already_reserved",
            last(reserved().when(reserve(bidder("ann"), "r2"), t(2))),
        ),
        (
            "reservation_not_found",
            last(reserved().when(complete(bidder("bob"), "r9"), t(2))),
        ),
        (
            "reservation_expired",
            last(reserved().when(complete(bidder("bob"), "r1"), t(1) + hours(24))),
        ),
        (
            "reservation_not_active",
            last(
                reserved()
                    .when(cancel_reservation(bidder("bob"), "r1"), t(2))
                    .when(cancel_reservation(bidder("bob"), "r1"), t(3)),
            ),
        ),
        (
            "settlement_not_found",
            last(given(english("10.00")).when(pay(admin()), t(1))),
        ),
        (
            "already_paid",
            last(
                sold_to_ann()
                    .when(pay(bidder("ann")), t(2))
                    .when(pay(bidder("ann")), t(3)),
            ),
        ),
        (
            "settlement_defaulted",
            last(sold_to_ann().when(pay(bidder("ann")), t(1) + hours(72))),
        ),
        (
            "invalid_request",
            create(&blank, t0()).expect_err("a blank title is refused"),
        ),
    ]
}

#[test]
fn every_engine_error_code_is_reachable_and_named_as_in_the_spec() {
    let refusals = refusals();
    for (code, rejection) in &refusals {
        assert_eq!(rejection.code(), *code);
    }
    let codes: BTreeSet<&str> = refusals.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes.len(), 20, "each code once");
}

#[test]
fn every_engine_error_code_has_the_spec_http_status() {
    for (code, rejection) in refusals() {
        let expected = match code {
            "forbidden" | "seller_cannot_bid" | "seller_cannot_reserve" => 403,
            "reservation_not_found" | "settlement_not_found" => 404,
            "currency_mismatch" | "invalid_amount" | "invalid_request" => 422,
            _ => 409,
        };
        assert_eq!(rejection.http_status(), expected, "{code}");
    }
}
