//! English auctions: bid validation in SPEC §2.1 order, proxy resolution
//! (§2.2), soft close (§2.3) and buy now (§2.4).

use crate::emit::Emitter;
use crate::settle::sale;
use hammerfall_ports::{
    Actor, AmountProblem, BidAccepted, CurrencyCode, EndedBy, EnglishState, EnglishTerms, Event,
    Lot, LotStatus, Money, PlaceBid, Rejection, Roles, Timestamp,
};

/// Checks 3–5 of the table, shared by bids and buy now: not the seller, not
/// closed or past the end, started.
fn check_open_to(lot: &Lot, actor: &Actor, now: Timestamp) -> Result<(), Rejection> {
    if actor.participant_id == *lot.seller_id() {
        return Err(Rejection::SellerCannotBid);
    }
    if lot.status.is_final() || lot.ends_at.is_some_and(|end| now >= end) {
        return Err(Rejection::LotClosed);
    }
    if lot.status == LotStatus::Scheduled || now < lot.terms.starts_at {
        return Err(Rejection::LotNotOpen);
    }
    Ok(())
}

fn english(lot: &Lot, otherwise: Rejection) -> Result<(&EnglishTerms, &EnglishState), Rejection> {
    lot.english().ok_or(otherwise)
}

/// The smallest amount `bidder` may bid now (the `minBid` of `bid_too_low`):
/// the leader must beat their own maximum by the smallest unit; anyone else
/// needs `min_next_bid`.
pub fn min_bid_for(lot: &Lot, bidder: &hammerfall_ports::ParticipantId) -> Option<Money> {
    let (_, state) = lot.english()?;
    match &state.leader {
        Some(leader) if &leader.bidder_id == bidder => {
            Some(leader.maximum.plus(Money::smallest_unit(lot.currency())))
        }
        _ => lot.min_next_bid(),
    }
}

/// Decides a bid (the lot's due transitions already applied).
pub(crate) fn place_bid(
    lot: &Lot,
    bid: &PlaceBid,
    now: Timestamp,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    let bidder = &bid.bidder;
    if !bidder.roles.contains(Roles::BIDDER) {
        return Err(Rejection::Forbidden);
    }
    let (terms, state) = english(lot, Rejection::BiddingNotSupported)?;
    check_open_to(lot, bidder, now)?;
    let currency = lot.currency();
    if bid
        .currency
        .is_some_and(|c| c != CurrencyCode::from(currency))
    {
        return Err(Rejection::CurrencyMismatch);
    }
    // Zero and negative amounts are `not_positive` whatever else is wrong
    // with them (a negative amount is `MoneyError::Negative`, which maps so).
    let amount = match Money::new(bid.amount, currency) {
        Ok(amount) if !amount.is_zero() => amount,
        Ok(_) => {
            return Err(Rejection::InvalidAmount {
                reason: AmountProblem::NotPositive,
            });
        }
        Err(e) => return Err(Rejection::InvalidAmount { reason: e.into() }),
    };
    let me = &bidder.participant_id;
    // One id comparison serves both the minimum and the proxy case.
    let raising = state.leader.as_ref().is_some_and(|l| l.bidder_id == *me);
    // `min_next_bid` (SPEC §2, as `Lot::min_next_bid`) looks the current
    // price up in the increment table; proxy resolution below reuses that
    // band for a maximum in it rather than searching again.
    let (min_bid, band) = match (&state.leader, state.current_price) {
        (Some(l), _) if raising => (l.maximum.plus(Money::smallest_unit(currency)), None),
        (Some(_), Some(price)) => {
            let band = terms.increments.band_at(price);
            (price.plus(band.step()), Some(band))
        }
        _ => (terms.starting_price, None),
    };
    let inc = |price: Money| match band {
        Some(b) if b.contains(price) => b.step(),
        _ => terms.increments.increment_at(price),
    };
    if amount < min_bid {
        return Err(Rejection::BidTooLow { min_bid });
    }

    // Proxy resolution (SPEC §2.2). `outbid` is who loses (or never gets) the lead.
    let (leader, leader_max, mut price, outbid) = match &state.leader {
        None => (me, amount, terms.starting_price, None),
        Some(_) if raising => (
            me,
            amount,
            state.current_price.unwrap_or(terms.starting_price),
            None,
        ),
        Some(l) if amount > l.maximum => {
            let price = amount.min(l.maximum.plus(inc(l.maximum)));
            (me, amount, price, Some(&l.bidder_id))
        }
        Some(l) => {
            let price = l.maximum.min(amount.plus(inc(amount)));
            (&l.bidder_id, l.maximum, price, Some(me))
        }
    };
    if let Some(reserve) = terms.reserve_price
        && leader_max >= reserve
        && price < reserve
    {
        price = reserve;
    }

    let bid_count = state.bid_count + 1;
    out.push(
        now,
        Event::BidAccepted(BidAccepted {
            bid_id: bid.bid_id.clone(),
            bid_number: bid_count,
            bidder_id: me.clone(),
            maximum: amount,
            current_price: price,
            leader_id: leader.clone(),
            bid_count,
        }),
    );
    if let Some(loser) = outbid {
        out.push(
            now,
            Event::Outbid {
                bidder_id: loser.clone(),
                current_price: price,
            },
        );
    }
    if let (Some(sc), Some(end)) = (terms.soft_close, lot.ends_at)
        && end - now < sc.window
    {
        let new_end = end.max(now + sc.extension);
        if new_end != end {
            out.push(now, Event::LotExtended { ends_at: new_end });
        }
    }
    Ok(())
}

/// Decides buy now (SPEC §2.4).
pub(crate) fn buy_now(
    lot: &Lot,
    buyer: &Actor,
    now: Timestamp,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    if !buyer.roles.contains(Roles::BIDDER) {
        return Err(Rejection::Forbidden);
    }
    let (terms, _) = english(lot, Rejection::BuyNowUnavailable)?;
    check_open_to(lot, buyer, now)?;
    let price = terms
        .buy_now_price
        .filter(|_| lot.buy_now_available())
        .ok_or(Rejection::BuyNowUnavailable)?;
    for event in sale(lot, &buyer.participant_id, price, EndedBy::BuyNow, now) {
        out.push(now, event);
    }
    Ok(())
}
