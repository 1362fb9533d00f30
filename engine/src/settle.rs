//! Endings and settlement (SPEC §2.4, §3, §4).

use hammerfall_ports::{
    AuctionEnded, EndedBy, Event, Lot, Money, ParticipantId, SaleKind, SettlementCreated,
    Timestamp, UnsoldReason,
};
use smallvec::SmallVec;

/// A sale at `hammer` to `buyer`, closing at `at`: `AuctionEnded` and the
/// settlement created in the same step (SPEC §4).
pub(crate) fn sale(
    lot: &Lot,
    buyer: &ParticipantId,
    hammer: Money,
    ended_by: EndedBy,
    at: Timestamp,
) -> [Event; 2] {
    let total_bids = lot.english().map_or(0, |(_, s)| s.bid_count);
    [
        Event::AuctionEnded(AuctionEnded {
            winner_id: Some(buyer.clone()),
            winning_bid: Some(hammer),
            total_bids,
            outcome: SaleKind::Sold,
            reason: None,
            ended_by,
        }),
        Event::SettlementCreated(settlement(lot, buyer, hammer, at)),
    ]
}

/// The settlement of a sale at `hammer`, closed at `closed_at`.
pub(crate) fn settlement(
    lot: &Lot,
    buyer: &ParticipantId,
    hammer: Money,
    closed_at: Timestamp,
) -> SettlementCreated {
    let premium = hammer.times_rate(lot.terms.buyer_premium_rate, lot.currency());
    SettlementCreated {
        buyer_id: buyer.clone(),
        hammer_price: hammer,
        buyer_premium: premium,
        total_due: hammer.plus(premium),
        due_by: closed_at + lot.terms.payment_window,
    }
}

/// An unsold ending.
fn unsold(total_bids: u32, reason: UnsoldReason, ended_by: EndedBy) -> Event {
    Event::AuctionEnded(AuctionEnded {
        winner_id: None,
        winning_bid: None,
        total_bids,
        outcome: SaleKind::Unsold,
        reason: Some(reason),
        ended_by,
    })
}

/// A fixed-price listing ending without a buyer.
pub(crate) fn fixed_price_unsold() -> Event {
    unsold(0, UnsoldReason::NoBuyer, EndedBy::Time)
}

/// The timed close of an English auction at `at` (SPEC §2.4): sold to the
/// leader at the current price if the reserve is met, else unsold.
pub(crate) fn close_by_time(lot: &Lot, at: Timestamp) -> SmallVec<[Event; 2]> {
    let Some((_, state)) = lot.english() else {
        return SmallVec::new();
    };
    match (&state.leader, state.current_price) {
        (Some(leader), Some(price)) if lot.reserve_met() => {
            SmallVec::from_iter(sale(lot, &leader.bidder_id, price, EndedBy::Time, at))
        }
        (Some(_), _) => SmallVec::from_iter([unsold(
            state.bid_count,
            UnsoldReason::ReserveNotMet,
            EndedBy::Time,
        )]),
        (None, _) => {
            SmallVec::from_iter([unsold(state.bid_count, UnsoldReason::NoBids, EndedBy::Time)])
        }
    }
}
