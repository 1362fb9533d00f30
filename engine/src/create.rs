//! Lot creation: raw parameters in, validated terms out (SPEC §2, §3, §7).
//! Every refusal is a typed `invalid_request` naming the field.

use crate::emit::Emitter;
use hammerfall_ports::{
    CreateLot, DEFAULT_HOLD_SECS, DEFAULT_PAYMENT_WINDOW_SECS, Decimal, Duration, EnglishTerms,
    Event, Events, FixedPriceTerms, Format, FormatTerms, IncrementTable, IncrementTier,
    InvalidRequest, LotCreated, LotTerms, MAX_INCREMENT_TIERS, MAX_TITLE_CHARS, MAX_WINDOW_SECS,
    MIN_WINDOW_SECS, Money, PremiumRate, Rejection, Roles, SoftClose, Timestamp,
};

use std::sync::Arc;

type Invalid = InvalidRequest;

/// 9999-12-31T23:59:59.999999999Z, the last instant RFC 3339 can write.
const LATEST_INSTANT: Timestamp = match Timestamp::from_timestamp(253_402_300_799, 999_999_999) {
    Some(t) => t,
    None => panic!("in range"),
};

/// Decides a lot's creation at `now`: `LotCreated` (sequence 1), then
/// `LotOpened` when it starts at once (a start in the past means now).
pub fn create(cmd: &CreateLot, now: Timestamp) -> Result<Events, Rejection> {
    if !cmd.seller.roles.contains(Roles::SELLER) {
        return Err(Rejection::Forbidden);
    }
    let terms = validate(cmd, now)?;
    let opens_now = terms.starts_at <= now;
    let mut events = Events::new();
    let mut out = Emitter::into(0, &mut events);
    out.push(
        now,
        Event::LotCreated(LotCreated {
            terms: Arc::new(terms),
        }),
    );
    if opens_now {
        out.push(now, Event::LotOpened {});
    }
    Ok(events)
}

fn validate(cmd: &CreateLot, now: Timestamp) -> Result<LotTerms, Invalid> {
    let title = cmd.title.as_str();
    let chars = title.chars().count();
    if chars == 0 || chars > MAX_TITLE_CHARS || title.trim().is_empty() {
        return Err(Invalid::invalid(
            "title",
            format!("must be 1–{MAX_TITLE_CHARS} characters, not blank"),
        ));
    }
    // RFC 3339 (SPEC §1) stops at year 9999; a later instant would make a
    // close's `due_by` or a hold's expiry overflow the time type and panic.
    for (field, at) in [("startsAt", cmd.starts_at), ("endsAt", cmd.ends_at)] {
        if at.is_some_and(|t| t > LATEST_INSTANT) {
            return Err(Invalid::invalid(field, "must be before the year 10000"));
        }
    }
    let starts_at = cmd.starts_at.map_or(now, |s| s.max(now));
    if let Some(end) = cmd.ends_at
        && end <= starts_at
    {
        return Err(Invalid::invalid(
            "endsAt",
            "must be after startsAt (and after now)",
        ));
    }
    let currency = cmd.currency;
    let rate = match cmd.buyer_premium_rate {
        Some(r) => PremiumRate::new(r).map_err(|e| Invalid::invalid("buyerPremiumRate", e))?,
        None => PremiumRate::ZERO,
    };
    let payment_window = window(
        "paymentWindowSecs",
        cmd.payment_window_secs,
        DEFAULT_PAYMENT_WINDOW_SECS,
    )?;
    let format = match cmd.format {
        Format::English => FormatTerms::English(english(cmd)?),
        Format::FixedPrice => FormatTerms::FixedPrice(fixed_price(cmd)?),
    };
    Ok(LotTerms {
        seller_id: cmd.seller.participant_id.clone(),
        title: Arc::from(title),
        currency,
        starts_at,
        ends_at: cmd.ends_at,
        buyer_premium_rate: rate,
        payment_window,
        format,
    })
}

fn english(cmd: &CreateLot) -> Result<EnglishTerms, Invalid> {
    not_for(
        "english",
        &[
            ("price", cmd.price.is_some()),
            ("holdSecs", cmd.hold_secs.is_some()),
        ],
    )?;
    if cmd.ends_at.is_none() {
        return Err(Invalid::Missing {
            field: "endsAt".into(),
        });
    }
    let currency = cmd.currency;
    let starting = money(
        "startingPrice",
        cmd.starting_price.ok_or_else(|| missing("startingPrice"))?,
        cmd,
    )?;
    if starting.is_zero() {
        return Err(Invalid::invalid("startingPrice", "must be above zero"));
    }
    let reserve = cmd
        .reserve_price
        .map(|r| money("reservePrice", r, cmd))
        .transpose()?;
    if reserve.is_some_and(|r| r < starting) {
        return Err(Invalid::invalid(
            "reservePrice",
            "must be at least the starting price",
        ));
    }
    let buy_now = cmd
        .buy_now_price
        .map(|b| money("buyNowPrice", b, cmd))
        .transpose()?;
    if let Some(b) = buy_now
        && (b <= starting || reserve.is_some_and(|r| b < r))
    {
        return Err(Invalid::invalid(
            "buyNowPrice",
            "must be above the starting price and at least the reserve",
        ));
    }
    let increments = match &cmd.increments {
        None => IncrementTable::default_for(currency),
        Some(tiers) => custom_increments(tiers, cmd)?,
    };
    let soft_close = match cmd.soft_close {
        None => None,
        Some(sc) => {
            let positive = |field: &str, secs: i64| {
                if secs > 0 && secs <= MAX_WINDOW_SECS {
                    Ok(Duration::seconds(secs))
                } else {
                    Err(Invalid::invalid(
                        field,
                        format!("must be 1…{MAX_WINDOW_SECS} seconds"),
                    ))
                }
            };
            Some(SoftClose {
                window: positive("softClose.windowSecs", sc.window_secs)?,
                extension: positive("softClose.extensionSecs", sc.extension_secs)?,
            })
        }
    };
    Ok(EnglishTerms {
        starting_price: starting,
        reserve_price: reserve,
        buy_now_price: buy_now,
        increments,
        soft_close,
        credit_check: cmd.credit_check.unwrap_or(false),
    })
}

fn fixed_price(cmd: &CreateLot) -> Result<FixedPriceTerms, Invalid> {
    not_for(
        "fixed_price",
        &[
            ("startingPrice", cmd.starting_price.is_some()),
            ("reservePrice", cmd.reserve_price.is_some()),
            ("buyNowPrice", cmd.buy_now_price.is_some()),
            ("increments", cmd.increments.is_some()),
            ("softClose", cmd.soft_close.is_some()),
            ("creditCheck", cmd.credit_check == Some(true)),
        ],
    )?;
    let price = money("price", cmd.price.ok_or_else(|| missing("price"))?, cmd)?;
    Ok(FixedPriceTerms {
        price,
        hold: window("holdSecs", cmd.hold_secs, DEFAULT_HOLD_SECS)?,
    })
}

fn custom_increments(
    tiers: &[hammerfall_ports::TierInput],
    cmd: &CreateLot,
) -> Result<IncrementTable, Invalid> {
    if tiers.is_empty() || tiers.len() > MAX_INCREMENT_TIERS {
        return Err(Invalid::invalid(
            "increments",
            format!("must have 1–{MAX_INCREMENT_TIERS} tiers"),
        ));
    }
    let mut out: Vec<IncrementTier> = Vec::with_capacity(tiers.len());
    for (i, tier) in tiers.iter().enumerate() {
        let from = money("increments.from", tier.from, cmd)?;
        let step = money("increments.step", tier.step, cmd)?;
        if i == 0 && !from.is_zero() {
            return Err(Invalid::invalid(
                "increments",
                "the first tier must start at 0",
            ));
        }
        if out.last().is_some_and(|prev| prev.from >= from) {
            return Err(Invalid::invalid(
                "increments",
                "tier `from` values must strictly increase",
            ));
        }
        if step.is_zero() {
            return Err(Invalid::invalid(
                "increments",
                "every step must be above zero",
            ));
        }
        out.push(IncrementTier { from, step });
    }
    Ok(IncrementTable::from_tiers(out))
}

fn money(field: &str, amount: Decimal, cmd: &CreateLot) -> Result<Money, Invalid> {
    Money::new(amount, cmd.currency).map_err(|e| Invalid::invalid(field, e))
}

fn window(field: &str, secs: Option<i64>, default: i64) -> Result<Duration, Invalid> {
    let secs = secs.unwrap_or(default);
    if (MIN_WINDOW_SECS..=MAX_WINDOW_SECS).contains(&secs) {
        Ok(Duration::seconds(secs))
    } else {
        Err(Invalid::invalid(
            field,
            format!("must be {MIN_WINDOW_SECS}…{MAX_WINDOW_SECS} seconds"),
        ))
    }
}

fn missing(field: &str) -> Invalid {
    Invalid::Missing {
        field: field.into(),
    }
}

fn not_for(format: &str, given: &[(&str, bool)]) -> Result<(), Invalid> {
    match given.iter().find(|(_, present)| *present) {
        Some((field, _)) => Err(Invalid::NotApplicable {
            field: (*field).into(),
            format: format.into(),
        }),
        None => Ok(()),
    }
}
