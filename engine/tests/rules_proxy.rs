//! Proxy resolution (SPEC §2.2, cases 1–5), the increment table (§2) and
//! `min_next_bid`.

mod support;

use hammerfall_engine::min_bid_for;
use hammerfall_ports::{CreateLot, Currency, Event, Lot, TierInput};
use support::*;

fn leader_of(lot: &Lot) -> (String, String) {
    let leader = lot
        .english()
        .expect("english")
        .1
        .leader
        .clone()
        .expect("a leader");
    (leader.bidder_id.to_string(), leader.maximum.to_string())
}

fn price_of(lot: &Lot) -> String {
    lot.english()
        .expect("english")
        .1
        .current_price
        .expect("a price")
        .to_string()
}

// ------------------------------------------------------------ the worked sequence

#[test]
fn the_worked_example_resolves_every_bid_as_the_spec_says() {
    // Start 10.00. A max 50 → 10.00, A leads.
    let s = given(english("10.00"))
        .when(bid("ann", "50.00"), t(1))
        .then_events(&[accepted_usd("ann", "50.00", 1, "10.00", "ann")]);
    assert_eq!(price_of(s.lot()), "10.00");
    assert_eq!(leader_of(s.lot()), ("ann".into(), "50.00".into()));

    // B max 30 → 31.00, A leads; B is outbid at once but the bid is recorded.
    let s = s.when(bid("bob", "30.00"), t(2)).then_events(&[
        accepted_usd("bob", "30.00", 2, "31.00", "ann"),
        outbid("bob", "31.00"),
    ]);
    assert_eq!(price_of(s.lot()), "31.00");
    assert_eq!(leader_of(s.lot()), ("ann".into(), "50.00".into()));

    // B max 60 → 51.00, B leads; A is outbid.
    let s = s.when(bid("bob", "60.00"), t(3)).then_events(&[
        accepted_usd("bob", "60.00", 3, "51.00", "bob"),
        outbid("ann", "51.00"),
    ]);
    assert_eq!(price_of(s.lot()), "51.00");
    assert_eq!(leader_of(s.lot()), ("bob".into(), "60.00".into()));

    // A max 60 → a tie: B bid first and keeps the lead at 60.00.
    let s = s.when(bid("ann", "60.00"), t(4)).then_events(&[
        accepted_usd("ann", "60.00", 4, "60.00", "bob"),
        outbid("ann", "60.00"),
    ]);
    assert_eq!(price_of(s.lot()), "60.00");
    assert_eq!(leader_of(s.lot()), ("bob".into(), "60.00".into()));
    assert_eq!(s.lot().english().expect("english").1.bid_count, 4);
    assert_eq!(s.lot().min_next_bid(), Some(usd("61.00")));

    // The whole log: created, opened, then seven bid events numbered 3…9.
    let log: Vec<(u64, &str)> = s
        .log()
        .iter()
        .map(|e| (e.sequence, e.event.event_type()))
        .collect();
    assert_eq!(
        log,
        [
            (1, "LotCreated"),
            (2, "LotOpened"),
            (3, "BidAccepted"),
            (4, "BidAccepted"),
            (5, "Outbid"),
            (6, "BidAccepted"),
            (7, "Outbid"),
            (8, "BidAccepted"),
            (9, "Outbid"),
        ]
    );
    assert_eq!(s.lot().sequence, 9);
}

// ------------------------------------------------------------ case by case

#[test]
fn case_1_the_first_bidder_leads_at_the_starting_price_whatever_their_maximum() {
    let s = given(english("10.00"))
        .when(bid("ann", "999.00"), t(1))
        .then_events(&[accepted_usd("ann", "999.00", 1, "10.00", "ann")]);
    assert_eq!(s.lot().min_next_bid(), Some(usd("10.50")));
}

#[test]
fn case_2_the_leader_raising_their_maximum_leaves_the_price_alone() {
    let s = given(english("10.00"))
        .when(bid("ann", "50.00"), t(1))
        .when(bid("bob", "30.00"), t(2))
        .when(bid("ann", "80.00"), t(3))
        .then_events(&[accepted_usd("ann", "80.00", 3, "31.00", "ann")]);
    assert_eq!(price_of(s.lot()), "31.00");
    assert_eq!(leader_of(s.lot()), ("ann".into(), "80.00".into()));
}

#[test]
fn case_3_the_new_leader_pays_one_increment_over_the_old_maximum() {
    // inc is looked up at the old maximum 100.00 (2.50), not at the price.
    given(english("10.00"))
        .when(bid("ann", "100.00"), t(1))
        .when(bid("bob", "200.00"), t(2))
        .then_events(&[
            accepted_usd("bob", "200.00", 2, "102.50", "bob"),
            outbid("ann", "102.50"),
        ]);
}

#[test]
fn case_3_the_price_never_exceeds_the_new_leaders_maximum() {
    // 50.00 + inc(50.00) = 51.00 > 50.50: the price is the new maximum.
    given(english("10.00"))
        .when(bid("ann", "50.00"), t(1))
        .when(bid("bob", "50.50"), t(2))
        .then_events(&[
            accepted_usd("bob", "50.50", 2, "50.50", "bob"),
            outbid("ann", "50.50"),
        ]);
}

#[test]
fn case_4_a_lower_maximum_lifts_the_price_one_increment_over_it() {
    // inc is looked up at the losing maximum 100.00 (2.50).
    let s = given(english("10.00"))
        .when(bid("ann", "200.00"), t(1))
        .when(bid("bob", "100.00"), t(2))
        .then_events(&[
            accepted_usd("bob", "100.00", 2, "102.50", "ann"),
            outbid("bob", "102.50"),
        ]);
    assert_eq!(leader_of(s.lot()), ("ann".into(), "200.00".into()));
}

#[test]
fn case_4_the_price_never_exceeds_the_leaders_maximum() {
    // 50.50 + 1.00 = 51.50 > 51.00: the price is the leader's maximum.
    given(english("10.00"))
        .when(bid("ann", "51.00"), t(1))
        .when(bid("bob", "50.50"), t(2))
        .then_events(&[
            accepted_usd("bob", "50.50", 2, "51.00", "ann"),
            outbid("bob", "51.00"),
        ]);
}

#[test]
fn case_4_ties_go_to_the_earlier_bid() {
    let s = given(english("10.00"))
        .when(bid("ann", "40.00"), t(1))
        .when(bid("bob", "40.00"), t(2))
        .then_events(&[
            accepted_usd("bob", "40.00", 2, "40.00", "ann"),
            outbid("bob", "40.00"),
        ]);
    assert_eq!(leader_of(s.lot()), ("ann".into(), "40.00".into()));
    // The tie leaves the price at the maximum: the next bid must beat it.
    assert_eq!(s.lot().min_next_bid(), Some(usd("41.00")));
}

#[test]
fn case_5_a_first_bid_over_the_reserve_jumps_the_price_to_the_reserve() {
    let mut req = english("10.00");
    req.reserve_price = Some(dec("40.00"));
    let s = given(req)
        .when(bid("ann", "100.00"), t(1))
        .then_events(&[accepted_usd("ann", "100.00", 1, "40.00", "ann")]);
    assert!(s.lot().reserve_met());
}

#[test]
fn case_5_a_bid_exactly_at_the_reserve_meets_it() {
    let mut req = english("10.00");
    req.reserve_price = Some(dec("40.00"));
    let s = given(req)
        .when(bid("ann", "40.00"), t(1))
        .then_events(&[accepted_usd("ann", "40.00", 1, "40.00", "ann")]);
    assert!(s.lot().reserve_met());
}

#[test]
fn case_5_a_maximum_below_the_reserve_does_not_jump() {
    let mut req = english("10.00");
    req.reserve_price = Some(dec("40.00"));
    let s = given(req)
        .when(bid("ann", "39.99"), t(1))
        .then_events(&[accepted_usd("ann", "39.99", 1, "10.00", "ann")]);
    assert!(!s.lot().reserve_met());
}

#[test]
fn case_5_the_leader_raising_over_the_reserve_jumps_the_price() {
    let mut req = english("10.00");
    req.reserve_price = Some(dec("40.00"));
    let s = given(req)
        .when(bid("ann", "30.00"), t(1))
        .then_accepted()
        .when(bid("ann", "45.00"), t(2))
        .then_events(&[accepted_usd("ann", "45.00", 2, "40.00", "ann")]);
    assert!(s.lot().reserve_met());
}

#[test]
fn case_5_a_new_leader_over_the_reserve_jumps_the_price() {
    // Case 3 gives min(45.00, 30.00 + 1.00) = 31.00, then the jump to 40.00.
    let mut req = english("10.00");
    req.reserve_price = Some(dec("40.00"));
    given(req)
        .when(bid("ann", "30.00"), t(1))
        .when(bid("bob", "45.00"), t(2))
        .then_events(&[
            accepted_usd("bob", "45.00", 2, "40.00", "bob"),
            outbid("ann", "40.00"),
        ]);
}

#[test]
fn an_outbid_bidder_below_the_reserve_leaves_the_reserve_unmet() {
    let mut req = english("10.00");
    req.reserve_price = Some(dec("40.00"));
    // inc(20.00) = 0.50: the price is 20.50, the reserve stays unmet.
    let s = given(req)
        .when(bid("ann", "35.00"), t(1))
        .when(bid("bob", "20.00"), t(2))
        .then_events(&[
            accepted_usd("bob", "20.00", 2, "20.50", "ann"),
            outbid("bob", "20.50"),
        ]);
    assert!(!s.lot().reserve_met());
}

#[test]
fn bids_are_numbered_and_counted_one_by_one() {
    let s = given(english("10.00"))
        .when(bid("ann", "20.00"), t(1))
        .when(bid("bob", "15.00"), t(2))
        .when(bid("carl", "30.00"), t(3))
        .when(bid("ann", "40.00"), t(4))
        .then_events(&[
            accepted_usd("ann", "40.00", 4, "31.00", "ann"),
            outbid("carl", "31.00"),
        ]);
    let numbers: Vec<(u32, u32, u64)> = s
        .log()
        .iter()
        .filter_map(|e| match &e.event {
            Event::BidAccepted(b) => Some((b.bid_number, b.bid_count, e.sequence)),
            _ => None,
        })
        .collect();
    assert_eq!(numbers, [(1, 1, 3), (2, 2, 4), (3, 3, 6), (4, 4, 8)]);
}

#[test]
fn the_minimum_bid_for_the_leader_differs_from_everyone_elses() {
    let s = given(english("10.00")).when(bid("ann", "50.00"), t(1));
    assert_eq!(min_bid_for(s.lot(), &pid("ann")), Some(usd("50.01")));
    assert_eq!(min_bid_for(s.lot(), &pid("bob")), Some(usd("10.50")));
    let fixed = given(fixed_price("5.00"));
    assert_eq!(min_bid_for(fixed.lot(), &pid("bob")), None);
}

// ------------------------------------------------------------ increments

/// `min_next_bid` after one bid at the starting price `start`: start +
/// inc(start).
fn next_after_first_bid(currency: Currency, start: &str) -> String {
    next_after_first_bid_on(english_in(currency, start), start)
}

fn next_after_first_bid_on(req: CreateLot, start: &str) -> String {
    let s = given(req).when(bid("ann", start), t(1)).then_accepted();
    assert_eq!(price_of(s.lot()), money_text(s.lot(), start));
    s.lot().min_next_bid().expect("english").to_string()
}

fn money_text(lot: &Lot, text: &str) -> String {
    money(text, lot.currency()).to_string()
}

#[test]
fn with_no_leader_the_minimum_next_bid_is_the_starting_price() {
    let s = given(english("10.00"));
    assert_eq!(s.lot().min_next_bid(), Some(usd("10.00")));
    assert!(
        s.lot()
            .english()
            .expect("english")
            .1
            .current_price
            .is_none()
    );
}

#[test]
fn the_default_table_steps_up_at_each_published_price_level() {
    let cases = [
        ("0.01", "0.06"),
        ("0.99", "1.04"),
        ("1.00", "1.25"),
        ("4.99", "5.24"),
        ("5.00", "5.50"),
        ("24.99", "25.49"),
        ("25.00", "26.00"),
        ("99.99", "100.99"),
        ("100.00", "102.50"),
        ("249.99", "252.49"),
        ("250.00", "255.00"),
        ("500.00", "510.00"),
        ("1000.00", "1025.00"),
        ("2500.00", "2550.00"),
        ("4999.99", "5049.99"),
        ("5000.00", "5100.00"),
        ("1000000.00", "1000100.00"),
    ];
    for (start, next) in cases {
        assert_eq!(
            next_after_first_bid(Currency::USD, start),
            next,
            "USD at {start}"
        );
    }
}

#[test]
fn the_default_table_is_scaled_up_a_hundredfold_for_yen() {
    let cases = [
        ("1", "6"),
        ("99", "104"),
        ("100", "125"),
        ("499", "524"),
        ("500", "550"),
        ("1000", "1050"),
        ("2500", "2600"),
        ("10000", "10250"),
        ("25000", "25500"),
        ("50000", "51000"),
        ("100000", "102500"),
        ("250000", "255000"),
        ("500000", "510000"),
    ];
    for (start, next) in cases {
        assert_eq!(
            next_after_first_bid(Currency::JPY, start),
            next,
            "JPY at {start}"
        );
    }
}

#[test]
fn the_default_table_is_scaled_down_tenfold_for_three_decimal_currencies() {
    let cases = [
        ("0.001", "0.006"),
        ("0.099", "0.104"),
        ("0.100", "0.125"),
        ("0.500", "0.550"),
        ("2.500", "2.600"),
        ("10.000", "10.250"),
        ("500.000", "510.000"),
    ];
    for (start, next) in cases {
        assert_eq!(
            next_after_first_bid(Currency::BHD, start),
            next,
            "BHD at {start}"
        );
    }
}

#[test]
fn the_default_yen_table_drives_proxy_resolution() {
    // Case 4: min(¥3000, ¥1050 + inc(¥1050) = ¥1100) = ¥1100.
    let s = given(english_in(Currency::JPY, "1000"))
        .when(bid("ann", "3000"), t(1))
        .when(bid("bob", "1049"), t(2))
        .then_rejected_with(&hammerfall_ports::Rejection::BidTooLow {
            min_bid: money("1050", Currency::JPY),
        })
        .when(bid("bob", "1050"), t(2))
        .then_events(&[
            accepted("bob", "1050", 2, "1100", "ann", Currency::JPY),
            Event::Outbid {
                bidder_id: pid("bob"),
                current_price: money("1100", Currency::JPY),
            },
        ]);
    assert_eq!(s.lot().min_next_bid(), Some(money("1150", Currency::JPY)));
}

fn custom(start: &str) -> CreateLot {
    let mut req = english(start);
    req.increments = Some(vec![
        TierInput {
            from: dec("0"),
            step: dec("1"),
        },
        TierInput {
            from: dec("100"),
            step: dec("10"),
        },
    ]);
    req
}

#[test]
fn a_custom_table_uses_the_tier_with_the_largest_from_not_above_the_price() {
    assert_eq!(next_after_first_bid_on(custom("50.00"), "50.00"), "51.00");
    assert_eq!(next_after_first_bid_on(custom("99.50"), "99.50"), "100.50");
    assert_eq!(
        next_after_first_bid_on(custom("100.00"), "100.00"),
        "110.00"
    );
    assert_eq!(
        next_after_first_bid_on(custom("250.00"), "250.00"),
        "260.00"
    );
}

#[test]
fn a_custom_table_drives_proxy_resolution() {
    // Case 3: min(500, 150 + inc(150) = 160) = 160.
    given(custom("10.00"))
        .when(bid("ann", "150.00"), t(1))
        .when(bid("bob", "500.00"), t(2))
        .then_events(&[
            accepted_usd("bob", "500.00", 2, "160.00", "bob"),
            outbid("ann", "160.00"),
        ]);
}
