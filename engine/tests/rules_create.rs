//! Creating lots (SPEC §2, §3, §7, §9): defaults, opening, and every
//! invalid parameter refused as `invalid_request` naming the field.

mod support;

use hammerfall_engine::{create, decide, next_due};
use hammerfall_ports::{
    Actor, Command, CreateLot, Currency, Duration, Event, FormatTerms, IncrementTable,
    InvalidRequest, LotStatus, MAX_WINDOW_SECS, PremiumRate, Rejection, SoftCloseInput, TierInput,
};
use support::*;

/// The `invalid_request` detail `req` is refused with at `t0`.
fn refusal(req: &CreateLot) -> InvalidRequest {
    match create(req, t0()) {
        Err(Rejection::InvalidRequest { detail }) => detail,
        other => panic!("expected invalid_request, got {other:?}"),
    }
}

/// The field `req` is refused for, as an invalid value.
fn invalid(req: &CreateLot) -> String {
    match refusal(req) {
        InvalidRequest::Invalid { field, .. } => field,
        other => panic!("expected an invalid value, got {other:?}"),
    }
}

fn missing(field: &str) -> InvalidRequest {
    InvalidRequest::Missing {
        field: field.into(),
    }
}

fn not_applicable(field: &str, format: &str) -> InvalidRequest {
    InvalidRequest::NotApplicable {
        field: field.into(),
        format: format.into(),
    }
}

fn accepted(req: &CreateLot) -> bool {
    create(req, t0()).is_ok()
}

fn tiers(pairs: &[(&str, &str)]) -> Option<Vec<TierInput>> {
    Some(
        pairs
            .iter()
            .map(|(from, step)| TierInput {
                from: dec(from),
                step: dec(step),
            })
            .collect(),
    )
}

// ------------------------------------------------------------ what is created

#[test]
fn an_english_lot_starting_now_is_created_then_opened_at_once() {
    let events = create(&english("10.00"), t0()).expect("valid");
    let shape: Vec<(u64, &str, _)> = events
        .iter()
        .map(|e| (e.sequence, e.event.event_type(), e.occurred_at))
        .collect();
    assert_eq!(shape, [(1, "LotCreated", t0()), (2, "LotOpened", t0())]);
    let Event::LotCreated(created) = &events[0].event else {
        panic!("LotCreated first");
    };
    let terms = &created.terms;
    assert_eq!(terms.seller_id, pid("sam"));
    assert_eq!(&*terms.title, "Brass lamp");
    assert_eq!(terms.currency, Currency::USD);
    assert_eq!(terms.starts_at, t0());
    assert_eq!(terms.ends_at, Some(t(60)));
    assert_eq!(terms.buyer_premium_rate, PremiumRate::ZERO);
    assert_eq!(terms.payment_window, hours(72));
    let FormatTerms::English(english_terms) = &terms.format else {
        panic!("english terms");
    };
    assert_eq!(english_terms.starting_price, usd("10.00"));
    assert_eq!(english_terms.reserve_price, None);
    assert_eq!(english_terms.buy_now_price, None);
    assert_eq!(
        english_terms.increments,
        IncrementTable::default_for(Currency::USD)
    );
    assert_eq!(english_terms.soft_close, None);
    assert!(!english_terms.credit_check);

    let s = given(english("10.00"));
    assert_eq!(s.lot().status, LotStatus::Open);
    assert_eq!(s.lot().created_at, t0());
    assert_eq!(s.lot().sequence, 2);
    assert_eq!(next_due(s.lot()), Some(t(60)));
}

#[test]
fn a_fixed_price_listing_holds_reservations_for_a_day_by_default() {
    let events = create(&fixed_price("25.00"), t0()).expect("valid");
    assert_eq!(events.len(), 2);
    let Event::LotCreated(created) = &events[0].event else {
        panic!("LotCreated first");
    };
    let FormatTerms::FixedPrice(terms) = &created.terms.format else {
        panic!("fixed price terms");
    };
    assert_eq!(terms.price, usd("25.00"));
    assert_eq!(terms.hold, hours(24));
    assert_eq!(created.terms.ends_at, None);
    let s = given(fixed_price("25.00"));
    assert_eq!(s.lot().status, LotStatus::Open);
    assert_eq!(next_due(s.lot()), None);
}

#[test]
fn a_start_in_the_past_means_now() {
    let mut req = english("10.00");
    req.starts_at = Some(t(-30));
    let events = create(&req, t0()).expect("valid");
    let Event::LotCreated(created) = &events[0].event else {
        panic!("LotCreated first");
    };
    assert_eq!(created.terms.starts_at, t0());
    assert_eq!(events[1].event, Event::LotOpened {});
    assert_eq!(events[1].sequence, 2);
}

#[test]
fn a_start_exactly_now_opens_at_once() {
    let mut req = english("10.00");
    req.starts_at = Some(t0());
    assert_eq!(create(&req, t0()).expect("valid").len(), 2);
}

#[test]
fn a_future_start_creates_a_scheduled_lot_that_opens_later() {
    let mut req = english("10.00");
    req.starts_at = Some(t(10));
    let events = create(&req, t0()).expect("valid");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.event_type(), "LotCreated");
    let s = given(req);
    assert_eq!(s.lot().status, LotStatus::Scheduled);
    s.when(timer(), t(10))
        .then_events(&[Event::LotOpened {}])
        .then_occurred_at(&[t(10)]);
}

#[test]
fn only_a_seller_may_create_a_lot() {
    let mut req = english("10.00");
    req.seller = Actor::bidder(pid("sam"));
    assert_eq!(create(&req, t0()), Err(Rejection::Forbidden));
}

#[test]
fn creating_an_existing_lot_again_is_an_invalid_request() {
    let s = given(english("10.00"));
    let again = Command::CreateLot(Box::new(english("10.00")));
    let refused = decide(s.lot(), &again, t(1)).expect_err("refused");
    assert_eq!(
        refused,
        Rejection::InvalidRequest {
            detail: InvalidRequest::LotExists
        }
    );
    assert_eq!(refused.code(), "invalid_request");
}

#[test]
fn an_invalid_request_is_a_422_with_the_invalid_request_code() {
    let mut req = english("10.00");
    req.title = String::new();
    let refused = create(&req, t0()).expect_err("refused");
    assert_eq!(refused.code(), "invalid_request");
    assert_eq!(refused.http_status(), 422);
}

// ------------------------------------------------------------ title

#[test]
fn the_title_must_not_be_empty() {
    let mut req = english("10.00");
    req.title = String::new();
    assert_eq!(invalid(&req), "title");
}

#[test]
fn the_title_must_not_be_blank() {
    // Decision: a title of only whitespace is as good as empty.
    let mut req = english("10.00");
    req.title = "   ".into();
    assert_eq!(invalid(&req), "title");
}

#[test]
fn the_title_may_be_200_characters() {
    let mut req = english("10.00");
    req.title = "a".repeat(200);
    assert!(accepted(&req));
    req.title = "a".repeat(201);
    assert_eq!(invalid(&req), "title");
}

#[test]
fn the_title_length_counts_unicode_scalar_values_not_bytes() {
    let mut req = english("10.00");
    req.title = "🦀".repeat(200); // 800 bytes, 200 characters
    assert!(accepted(&req));
    req.title = "é".repeat(200); // 400 bytes
    assert!(accepted(&req));
    req.title = "🦀".repeat(201);
    assert_eq!(invalid(&req), "title");
    req.title = "x".into();
    assert!(accepted(&req));
}

// ------------------------------------------------------------ english prices

#[test]
fn the_starting_price_is_required_for_an_english_lot() {
    let mut req = english("10.00");
    req.starting_price = None;
    assert_eq!(refusal(&req), missing("startingPrice"));
}

#[test]
fn the_starting_price_must_be_above_zero() {
    assert_eq!(invalid(&english("0")), "startingPrice");
    assert_eq!(invalid(&english("-1.00")), "startingPrice");
    assert!(accepted(&english("0.01")));
}

#[test]
fn the_starting_price_must_be_valid_money_in_the_currency() {
    assert_eq!(invalid(&english("10.005")), "startingPrice");
    assert_eq!(invalid(&english_in(Currency::JPY, "10.5")), "startingPrice");
    assert_eq!(invalid(&english("1000000000000.01")), "startingPrice");
    assert!(accepted(&english_in(Currency::BHD, "10.005")));
}

#[test]
fn the_reserve_must_be_at_least_the_starting_price() {
    let mut req = english("10.00");
    req.reserve_price = Some(dec("9.99"));
    assert_eq!(invalid(&req), "reservePrice");
    req.reserve_price = Some(dec("10.00"));
    assert!(accepted(&req));
    req.reserve_price = Some(dec("10.001"));
    assert_eq!(invalid(&req), "reservePrice");
}

#[test]
fn buy_now_must_be_above_the_starting_price() {
    let mut req = english("10.00");
    req.buy_now_price = Some(dec("10.00"));
    assert_eq!(invalid(&req), "buyNowPrice");
    req.buy_now_price = Some(dec("10.01"));
    assert!(accepted(&req));
}

#[test]
fn buy_now_must_be_at_least_the_reserve() {
    let mut req = english("10.00");
    req.reserve_price = Some(dec("50.00"));
    req.buy_now_price = Some(dec("49.99"));
    assert_eq!(invalid(&req), "buyNowPrice");
    req.buy_now_price = Some(dec("50.00"));
    assert!(accepted(&req));
}

// ------------------------------------------------------------ increments

#[test]
fn a_custom_table_is_kept_as_given() {
    let mut req = english("10.00");
    req.increments = tiers(&[("0", "1"), ("100", "10")]);
    let events = create(&req, t0()).expect("valid");
    let Event::LotCreated(created) = &events[0].event else {
        panic!("LotCreated first");
    };
    let FormatTerms::English(terms) = &created.terms.format else {
        panic!("english");
    };
    let got: Vec<(String, String)> = terms
        .increments
        .tiers()
        .iter()
        .map(|t| (t.from.to_string(), t.step.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            ("0.00".to_string(), "1.00".to_string()),
            ("100.00".to_string(), "10.00".to_string())
        ]
    );
}

#[test]
fn a_custom_table_needs_one_to_fifty_tiers() {
    let mut req = english("10.00");
    req.increments = Some(vec![]);
    assert_eq!(invalid(&req), "increments");
    let fifty: Vec<TierInput> = (0..50)
        .map(|i| TierInput {
            from: hammerfall_ports::Decimal::from(i * 10),
            step: dec("1"),
        })
        .collect();
    req.increments = Some(fifty.clone());
    assert!(accepted(&req));
    let mut fifty_one = fifty;
    fifty_one.push(TierInput {
        from: dec("1000"),
        step: dec("1"),
    });
    req.increments = Some(fifty_one);
    assert_eq!(invalid(&req), "increments");
}

#[test]
fn a_custom_table_starts_at_zero() {
    let mut req = english("10.00");
    req.increments = tiers(&[("1", "1"), ("100", "10")]);
    assert_eq!(invalid(&req), "increments");
}

#[test]
fn a_custom_tables_from_values_strictly_increase() {
    let mut req = english("10.00");
    req.increments = tiers(&[("0", "1"), ("100", "10"), ("100", "20")]);
    assert_eq!(invalid(&req), "increments");
    req.increments = tiers(&[("0", "1"), ("100", "10"), ("50", "20")]);
    assert_eq!(invalid(&req), "increments");
}

#[test]
fn every_step_is_above_zero() {
    let mut req = english("10.00");
    req.increments = tiers(&[("0", "1"), ("100", "0")]);
    assert_eq!(invalid(&req), "increments");
    req.increments = tiers(&[("0", "-1")]);
    assert_eq!(invalid(&req), "increments.step");
}

#[test]
fn every_step_and_from_is_valid_money_in_the_currency() {
    let mut req = english("10.00");
    req.increments = tiers(&[("0", "0.001")]);
    assert_eq!(invalid(&req), "increments.step");
    req.increments = tiers(&[("0", "1"), ("10.005", "1")]);
    assert_eq!(invalid(&req), "increments.from");
    let mut yen = english_in(Currency::JPY, "1000");
    yen.increments = tiers(&[("0", "0.5")]);
    assert_eq!(invalid(&yen), "increments.step");
}

// ------------------------------------------------------------ times

#[test]
fn an_english_lot_needs_an_end() {
    let mut req = english("10.00");
    req.ends_at = None;
    assert_eq!(refusal(&req), missing("endsAt"));
}

#[test]
fn the_end_must_be_after_the_start() {
    let mut req = english("10.00");
    req.ends_at = Some(t0());
    assert_eq!(invalid(&req), "endsAt");
    req.ends_at = Some(ts(1));
    assert!(accepted(&req));
    req.starts_at = Some(t(10));
    req.ends_at = Some(t(10));
    assert_eq!(invalid(&req), "endsAt");
    req.ends_at = Some(t(5));
    assert_eq!(invalid(&req), "endsAt");
}

#[test]
fn with_a_past_start_the_end_must_be_after_now() {
    let mut req = english("10.00");
    req.starts_at = Some(t(-60));
    req.ends_at = Some(t(-30));
    assert_eq!(invalid(&req), "endsAt");
}

#[test]
fn a_listing_end_must_be_after_its_start() {
    let mut req = fixed_price("25.00");
    req.ends_at = Some(t0());
    assert_eq!(invalid(&req), "endsAt");
    req.ends_at = Some(t(60));
    assert!(accepted(&req));
}

#[test]
fn soft_close_durations_are_positive() {
    let mut req = english("10.00");
    req.soft_close = Some(SoftCloseInput {
        window_secs: 0,
        extension_secs: 60,
    });
    assert_eq!(invalid(&req), "softClose.windowSecs");
    req.soft_close = Some(SoftCloseInput {
        window_secs: 60,
        extension_secs: 0,
    });
    assert_eq!(invalid(&req), "softClose.extensionSecs");
    req.soft_close = Some(SoftCloseInput {
        window_secs: -5,
        extension_secs: 60,
    });
    assert_eq!(invalid(&req), "softClose.windowSecs");
    req.soft_close = Some(SoftCloseInput {
        window_secs: 1,
        extension_secs: 1,
    });
    assert!(accepted(&req));
}

#[test]
fn the_payment_window_is_one_second_to_a_year() {
    let mut req = english("10.00");
    for (secs, ok) in [
        (0, false),
        (-1, false),
        (1, true),
        (MAX_WINDOW_SECS, true),
        (MAX_WINDOW_SECS + 1, false),
    ] {
        req.payment_window_secs = Some(secs);
        if ok {
            assert!(accepted(&req), "{secs} s");
        } else {
            assert_eq!(invalid(&req), "paymentWindowSecs", "{secs} s");
        }
    }
    assert_eq!(MAX_WINDOW_SECS, 365 * 24 * 3600);
}

#[test]
fn the_hold_is_one_second_to_a_year() {
    let mut req = fixed_price("25.00");
    for (secs, ok) in [
        (0, false),
        (1, true),
        (MAX_WINDOW_SECS, true),
        (MAX_WINDOW_SECS + 1, false),
    ] {
        req.hold_secs = Some(secs);
        if ok {
            assert!(accepted(&req), "{secs} s");
        } else {
            assert_eq!(invalid(&req), "holdSecs", "{secs} s");
        }
    }
    req.hold_secs = Some(90);
    let events = create(&req, t0()).expect("valid");
    let Event::LotCreated(created) = &events[0].event else {
        panic!("LotCreated first");
    };
    let FormatTerms::FixedPrice(terms) = &created.terms.format else {
        panic!("fixed price");
    };
    assert_eq!(terms.hold, Duration::seconds(90));
}

// ------------------------------------------------------------ premium

#[test]
fn the_premium_rate_is_at_least_zero_and_below_one() {
    let mut req = english("10.00");
    for (rate, ok) in [
        ("0", true),
        ("0.15", true),
        ("0.9999", true),
        ("1", false),
        ("1.5", false),
        ("-0.01", false),
    ] {
        req.buyer_premium_rate = Some(dec(rate));
        if ok {
            assert!(accepted(&req), "rate {rate}");
        } else {
            assert_eq!(invalid(&req), "buyerPremiumRate", "rate {rate}");
        }
    }
}

// ------------------------------------------------------------ per format

/// Sets one field of a request.
type Setter = fn(&mut CreateLot);

#[test]
fn english_only_fields_do_not_apply_to_a_fixed_price_listing() {
    let cases: [(&str, Setter); 6] = [
        ("startingPrice", |r| r.starting_price = Some(dec("1"))),
        ("reservePrice", |r| r.reserve_price = Some(dec("1"))),
        ("buyNowPrice", |r| r.buy_now_price = Some(dec("30"))),
        ("increments", |r| r.increments = tiers(&[("0", "1")])),
        ("softClose", |r| {
            r.soft_close = Some(SoftCloseInput {
                window_secs: 60,
                extension_secs: 60,
            });
        }),
        ("creditCheck", |r| r.credit_check = Some(true)),
    ];
    for (field, set) in cases {
        let mut req = fixed_price("25.00");
        set(&mut req);
        assert_eq!(refusal(&req), not_applicable(field, "fixed_price"));
    }
    let mut req = fixed_price("25.00");
    req.credit_check = Some(false);
    assert!(accepted(&req), "creditCheck: false is harmless");
}

#[test]
fn fixed_price_fields_do_not_apply_to_an_english_lot() {
    let mut req = english("10.00");
    req.price = Some(dec("5"));
    assert_eq!(refusal(&req), not_applicable("price", "english"));
    let mut req = english("10.00");
    req.hold_secs = Some(60);
    assert_eq!(refusal(&req), not_applicable("holdSecs", "english"));
}

#[test]
fn a_fixed_price_listing_needs_a_price_of_zero_or_more() {
    let mut req = fixed_price("25.00");
    req.price = None;
    assert_eq!(refusal(&req), missing("price"));
    assert_eq!(invalid(&fixed_price("-1")), "price");
    assert_eq!(invalid(&fixed_price("25.001")), "price");
    assert!(accepted(&fixed_price("0")));
}
