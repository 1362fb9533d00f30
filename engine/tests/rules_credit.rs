//! Bidder credit (SPEC §3.1) as a function of lot state: which hold a
//! command must fit, and what the ledger must do after each change. The
//! `insufficient_credit` refusal itself comes from the ledger, which the
//! application service consults with these holds.

mod support;

use hammerfall_engine::credit::{CreditAction, Hold, command_hold, credit_action, required_hold};
use hammerfall_ports::{CreateLot, Lot};
use support::*;

fn checked(rate: &str) -> CreateLot {
    let mut req = english("10.00");
    req.credit_check = Some(true);
    req.buyer_premium_rate = Some(dec(rate));
    req.buy_now_price = Some(dec("100.00"));
    req.reserve_price = Some(dec("20.00"));
    req
}

fn hold(who: &str, amount: &str) -> Hold {
    Hold {
        participant: pid(who),
        amount: usd(amount),
    }
}

/// The action after `command` at `at`, with the lot before and after.
fn step(
    s: support::Scenario,
    command: hammerfall_ports::Command,
    at: hammerfall_ports::Timestamp,
) -> (support::Scenario, CreditAction) {
    let before: Lot = s.lot().clone();
    let s = s.when(command, at);
    let action = credit_action(Some(&before), s.lot());
    (s, action)
}

#[test]
fn a_bid_must_fit_its_maximum_plus_the_premium() {
    let s = given(checked("0.1"));
    assert_eq!(
        command_hold(s.lot(), &bid("ann", "50.00")),
        Some(hold("ann", "55.00"))
    );
}

#[test]
fn the_premium_in_a_hold_rounds_half_even() {
    // 10.50 × 0.05 = 0.525 → 0.52.
    let s = given(checked("0.05"));
    assert_eq!(
        command_hold(s.lot(), &bid("ann", "10.50")),
        Some(hold("ann", "11.02"))
    );
}

#[test]
fn buy_now_must_fit_the_buy_now_price_plus_the_premium() {
    let s = given(checked("0.1"));
    assert_eq!(
        command_hold(s.lot(), &buy_now(bidder("ann"))),
        Some(hold("ann", "110.00"))
    );
}

#[test]
fn lots_without_credit_checks_need_no_holds() {
    let s = given(english("10.00")).when(bid("ann", "50.00"), t(1));
    assert_eq!(command_hold(s.lot(), &bid("bob", "60.00")), None);
    assert_eq!(required_hold(s.lot()), None);
    let fixed = given(fixed_price("25.00"));
    assert_eq!(
        command_hold(fixed.lot(), &reserve(bidder("bob"), "r1")),
        None
    );
}

#[test]
fn holds_follow_the_lead_and_end_with_payment() {
    let s = given(checked("0.1"));
    assert_eq!(required_hold(s.lot()), None);

    // Ann leads: she holds her maximum plus premium.
    let (s, action) = step(s, bid("ann", "50.00"), t(1));
    assert_eq!(action, CreditAction::Hold(hold("ann", "55.00")));

    // Bob is outbid at once: his bid had to fit, but Ann keeps the only hold.
    assert_eq!(
        command_hold(s.lot(), &bid("bob", "30.00")),
        Some(hold("bob", "33.00"))
    );
    let (s, action) = step(s, bid("bob", "30.00"), t(2));
    assert_eq!(action, CreditAction::None);
    assert_eq!(required_hold(s.lot()), Some(hold("ann", "55.00")));

    // Bob takes the lead: the lot's hold moves to him (Ann's is released).
    let (s, action) = step(s, bid("bob", "60.00"), t(3));
    assert_eq!(action, CreditAction::Hold(hold("bob", "66.00")));

    // The close shrinks it to the settlement's total due: 51.00 + 5.10.
    let (s, action) = step(s, timer(), t(60));
    assert_eq!(action, CreditAction::Hold(hold("bob", "56.10")));

    // Payment consumes it.
    let (s, action) = step(s, pay(bidder("bob")), t(61));
    assert_eq!(action, CreditAction::Consume);
    assert_eq!(required_hold(s.lot()), None);
}

#[test]
fn the_leader_raising_their_maximum_replaces_their_hold() {
    let s = given(checked("0")).when(bid("ann", "50.00"), t(1));
    let (_, action) = step(s, bid("ann", "70.00"), t(2));
    assert_eq!(action, CreditAction::Hold(hold("ann", "70.00")));
}

#[test]
fn a_default_releases_the_winners_hold() {
    let s = given(checked("0"))
        .when(bid("ann", "50.00"), t(1))
        .when(timer(), t(60));
    assert_eq!(required_hold(s.lot()), Some(hold("ann", "20.00")));
    let (_, action) = step(s, timer(), t(60) + hours(72));
    assert_eq!(action, CreditAction::Release);
}

#[test]
fn cancelling_releases_the_leaders_hold() {
    let s = given(checked("0")).when(bid("ann", "50.00"), t(1));
    let (s, action) = step(s, cancel(admin()), t(2));
    assert_eq!(action, CreditAction::Release);
    assert_eq!(required_hold(s.lot()), None);
}

#[test]
fn closing_unsold_releases_the_leaders_hold() {
    let s = given(checked("0")).when(bid("ann", "15.00"), t(1));
    assert_eq!(required_hold(s.lot()), Some(hold("ann", "15.00")));
    let (s, action) = step(s, timer(), t(60));
    assert!(s.lot().settlement.is_none(), "reserve 20.00 not met");
    assert_eq!(action, CreditAction::Release);
}

#[test]
fn buy_now_makes_the_price_plus_premium_the_winners_hold() {
    let s = given(checked("0.1")).when(bid("ann", "15.00"), t(1));
    let (_, action) = step(s, buy_now(bidder("bob")), t(2));
    assert_eq!(action, CreditAction::Hold(hold("bob", "110.00")));
}

#[test]
fn a_refused_command_changes_no_hold() {
    let s = given(checked("0")).when(bid("ann", "50.00"), t(1));
    let (_, action) = step(s, bid("bob", "10.00"), t(2));
    assert_eq!(action, CreditAction::None);
}
