//! Settlement (SPEC §4): the buyer's premium, payment and default.

mod support;

use hammerfall_engine::{decide, next_due};
use hammerfall_ports::{
    CreateLot, Currency, EndedBy, Event, Rejection, SettlementCreated, SettlementStatus, Timestamp,
};
use support::*;

/// An English lot starting at `start` with buy now at `buy_now` and a
/// premium of `rate`, in `currency`.
fn buy_now_lot(currency: Currency, start: &str, buy_now: &str, rate: &str) -> CreateLot {
    let mut req = english_in(currency, start);
    req.buy_now_price = Some(dec(buy_now));
    req.buyer_premium_rate = Some(dec(rate));
    req
}

/// The settlement created when ann buys `lot` now at t(5).
fn settled_by_buy_now(req: CreateLot) -> SettlementCreated {
    let s = given(req)
        .when(buy_now(bidder("ann")), t(5))
        .then_accepted();
    match &s.last_events()[1].event {
        Event::SettlementCreated(created) => created.clone(),
        other => panic!("expected SettlementCreated, got {other:?}"),
    }
}

fn amounts(created: &SettlementCreated) -> (String, String, String) {
    (
        created.hammer_price.to_string(),
        created.buyer_premium.to_string(),
        created.total_due.to_string(),
    )
}

fn strs(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.into(), b.into(), c.into())
}

/// Ann's 25.00 buy-now purchase at t(5), due 72 h later.
fn sold_to_ann() -> support::Scenario {
    given(buy_now_lot(Currency::USD, "10.00", "25.00", "0"))
        .when(buy_now(bidder("ann")), t(5))
        .then_accepted()
}

fn due() -> Timestamp {
    t(5) + hours(72)
}

// ------------------------------------------------------------ the premium

#[test]
fn a_premium_exactly_half_a_cent_rounds_down_to_the_even_cent() {
    // 10.50 × 0.05 = 0.525 → 0.52.
    let created = settled_by_buy_now(buy_now_lot(Currency::USD, "10.00", "10.50", "0.05"));
    assert_eq!(amounts(&created), strs("10.50", "0.52", "11.02"));
}

#[test]
fn a_premium_exactly_half_a_cent_rounds_up_to_the_even_cent() {
    // 10.70 × 0.05 = 0.535 → 0.54.
    let created = settled_by_buy_now(buy_now_lot(Currency::USD, "10.00", "10.70", "0.05"));
    assert_eq!(amounts(&created), strs("10.70", "0.54", "11.24"));
}

#[test]
fn a_premium_off_the_midpoint_rounds_to_the_nearest_cent() {
    // 10.99 × 0.15 = 1.6485 → 1.65.
    let created = settled_by_buy_now(buy_now_lot(Currency::USD, "10.00", "10.99", "0.15"));
    assert_eq!(amounts(&created), strs("10.99", "1.65", "12.64"));
}

#[test]
fn a_yen_premium_rounds_half_even_to_whole_yen() {
    // ¥1025 × 0.1 = 102.5 → 102; ¥1035 × 0.1 = 103.5 → 104.
    let created = settled_by_buy_now(buy_now_lot(Currency::JPY, "1000", "1025", "0.1"));
    assert_eq!(amounts(&created), strs("1025", "102", "1127"));
    let created = settled_by_buy_now(buy_now_lot(Currency::JPY, "1000", "1035", "0.1"));
    assert_eq!(amounts(&created), strs("1035", "104", "1139"));
}

#[test]
fn a_dinar_premium_rounds_half_even_to_the_fils() {
    // 1.005 × 0.5 = 0.5025 → 0.502.
    let created = settled_by_buy_now(buy_now_lot(Currency::BHD, "1.000", "1.005", "0.5"));
    assert_eq!(amounts(&created), strs("1.005", "0.502", "1.507"));
}

#[test]
fn a_timed_sale_charges_the_premium_on_the_hammer_price_not_the_maximum() {
    let mut req = english("10.00");
    req.buyer_premium_rate = Some(dec("0.15"));
    let s = given(req)
        .when(bid("ann", "50.00"), t(1))
        .when(bid("bob", "30.00"), t(2))
        .when(timer(), t(60))
        .then_events(&[
            sold("ann", "31.00", 2, EndedBy::Time),
            settlement("ann", "31.00", "4.65", "35.65", t(60) + hours(72)),
        ]);
    let settlement = s.lot().settlement.as_ref().expect("settlement");
    assert_eq!(settlement.status, SettlementStatus::Pending);
    assert_eq!(settlement.total_due, usd("35.65"));
}

#[test]
fn a_fixed_price_sale_charges_the_premium_too() {
    let mut req = fixed_price("20.00");
    req.buyer_premium_rate = Some(dec("0.1"));
    given(req)
        .when(reserve(bidder("bob"), "r1"), t(1))
        .when(complete(bidder("bob"), "r1"), t(2))
        .then_events(&[
            Event::ReservationCompleted {
                reservation_id: rid("r1"),
            },
            sold("bob", "20.00", 0, EndedBy::Reservation),
            settlement("bob", "20.00", "2.00", "22.00", t(2) + hours(72)),
        ]);
}

#[test]
fn a_custom_payment_window_sets_the_due_date() {
    let mut req = buy_now_lot(Currency::USD, "10.00", "25.00", "0");
    req.payment_window_secs = Some(3600);
    let created = settled_by_buy_now(req);
    assert_eq!(created.due_by, t(5) + hours(1));
}

// ------------------------------------------------------------ payment

#[test]
fn the_buyer_pays_and_the_settlement_is_paid() {
    let s = sold_to_ann();
    assert_eq!(next_due(s.lot()), Some(due()));
    let s = s
        .when(pay(bidder("ann")), t(30))
        .then_events(&[Event::SettlementPaid {}]);
    assert_eq!(
        s.lot().settlement.as_ref().expect("settlement").status,
        SettlementStatus::Paid
    );
    assert_eq!(next_due(s.lot()), None);
    // Paid settlements never default.
    s.when(timer(), due() + hours(1)).then_events(&[]);
}

#[test]
fn an_admin_may_record_the_payment() {
    sold_to_ann()
        .when(pay(admin()), t(30))
        .then_events(&[Event::SettlementPaid {}]);
}

#[test]
fn the_seller_may_not_record_the_payment() {
    sold_to_ann()
        .when(pay(seller()), t(30))
        .then_rejected_with(&Rejection::Forbidden);
}

#[test]
fn another_bidder_may_not_record_the_payment() {
    sold_to_ann()
        .when(pay(bidder("bob")), t(30))
        .then_rejected("forbidden");
}

#[test]
fn paying_twice_is_already_paid() {
    sold_to_ann()
        .when(pay(bidder("ann")), t(30))
        .then_accepted()
        .when(pay(admin()), t(31))
        .then_rejected_with(&Rejection::AlreadyPaid);
}

#[test]
fn paying_an_open_lot_finds_no_settlement() {
    given(english("10.00"))
        .when(bid("ann", "20.00"), t(1))
        .when(pay(bidder("ann")), t(2))
        .then_rejected_with(&Rejection::SettlementNotFound);
}

#[test]
fn paying_an_unsold_lot_finds_no_settlement() {
    given(english("10.00"))
        .when(timer(), t(60))
        .then_accepted()
        .when(pay(admin()), t(61))
        .then_rejected("settlement_not_found");
}

#[test]
fn paying_a_second_before_the_due_date_is_in_time() {
    sold_to_ann()
        .when(pay(bidder("ann")), due() - chrono::Duration::seconds(1))
        .then_events(&[Event::SettlementPaid {}]);
}

// ------------------------------------------------------------ default

#[test]
fn a_timer_defaults_an_unpaid_settlement_at_its_due_date() {
    let s = sold_to_ann()
        .when(timer(), due() - chrono::Duration::seconds(1))
        .then_events(&[])
        .when(timer(), due())
        .then_events(&[Event::SettlementDefaulted {}])
        .then_occurred_at(&[due()]);
    assert_eq!(
        s.lot().settlement.as_ref().expect("settlement").status,
        SettlementStatus::Defaulted
    );
    assert_eq!(next_due(s.lot()), None);
    s.when(pay(bidder("ann")), due() + hours(1))
        .then_rejected_with(&Rejection::SettlementDefaulted);
}

#[test]
fn a_late_payment_defaults_the_settlement_first_and_is_refused() {
    let s = sold_to_ann()
        .when(pay(bidder("ann")), due())
        .then_rejected_after("settlement_defaulted", &[Event::SettlementDefaulted {}])
        .then_occurred_at(&[due()]);
    assert_eq!(
        s.lot().settlement.as_ref().expect("settlement").status,
        SettlementStatus::Defaulted
    );
}

#[test]
fn decide_refuses_a_late_payment_without_events_but_judge_keeps_the_default() {
    let s = sold_to_ann();
    let late = pay(admin());
    assert_eq!(
        decide(s.lot(), &late, due() + hours(1)),
        Err(Rejection::SettlementDefaulted)
    );
    let verdict = hammerfall_engine::judge(s.lot(), &late, due() + hours(1));
    assert_eq!(verdict.outcome, Err(Rejection::SettlementDefaulted));
    assert_eq!(verdict.events.len(), 1);
    assert_eq!(verdict.events[0].event, Event::SettlementDefaulted {});
    assert_eq!(verdict.events[0].occurred_at, due());
    assert_eq!(verdict.events[0].sequence, s.lot().sequence + 1);
}

#[test]
fn a_payment_long_after_an_unattended_end_closes_settles_and_defaults_in_one_step() {
    let closed = t(60);
    given(english("10.00"))
        .when(bid("ann", "20.00"), t(1))
        .when(pay(bidder("ann")), closed + hours(100))
        .then_rejected_after(
            "settlement_defaulted",
            &[
                sold("ann", "10.00", 1, EndedBy::Time),
                settlement("ann", "10.00", "0.00", "10.00", closed + hours(72)),
                Event::SettlementDefaulted {},
            ],
        )
        .then_occurred_at(&[closed, closed, closed + hours(72)]);
}

#[test]
fn a_payment_after_an_unattended_end_but_in_time_is_accepted() {
    let closed = t(60);
    given(english("10.00"))
        .when(bid("ann", "20.00"), t(1))
        .when(pay(bidder("ann")), closed + hours(1))
        .then_events(&[
            sold("ann", "10.00", 1, EndedBy::Time),
            settlement("ann", "10.00", "0.00", "10.00", closed + hours(72)),
            Event::SettlementPaid {},
        ])
        .then_occurred_at(&[closed, closed, closed + hours(1)]);
}
