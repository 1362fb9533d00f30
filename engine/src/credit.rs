//! Credit holds as a function of lot state (SPEC §3.1).
//!
//! On a credit-checked lot exactly one participant needs a hold at a time:
//! the leader (maximum plus premium) while the auction runs, the winner
//! (`total_due`) while the settlement is pending. Deriving holds from state,
//! instead of tracking them as separate facts, is what keeps holds and lots
//! from disagreeing: after any crash, setting each lot's hold to
//! [`required_hold`] repairs the ledger.

use hammerfall_ports::{
    Command, CommittedHold, Lot, LotStatus, Money, ParticipantId, SettlementStatus,
};

/// A hold of `amount` for `participant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Who.
    pub participant: ParticipantId,
    /// How much.
    pub amount: Money,
}

/// What the ledger must do for a lot after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditAction {
    /// Nothing changes.
    None,
    /// Replace the lot's hold with this one (it must fit).
    Hold(Hold),
    /// Remove the lot's hold.
    Release,
    /// The settlement was paid: the hold becomes a payment.
    Consume,
}

/// True for a lot created with `creditCheck` (its bids place holds).
pub fn is_checked(lot: &Lot) -> bool {
    lot.english().is_some_and(|(t, _)| t.credit_check)
}

/// `amount` plus the lot's premium on it, rounded as in SPEC §4.
pub fn with_premium(lot: &Lot, amount: Money) -> Money {
    amount.plus(amount.times_rate(lot.terms.buyer_premium_rate, lot.currency()))
}

/// The hold `lot` needs now, if any.
pub fn required_hold(lot: &Lot) -> Option<Hold> {
    if !is_checked(lot) {
        return None;
    }
    match lot.status {
        LotStatus::Scheduled | LotStatus::Open | LotStatus::Reserved => {
            let leader = lot.english()?.1.leader.as_ref()?;
            Some(Hold {
                participant: leader.bidder_id.clone(),
                amount: with_premium(lot, leader.maximum),
            })
        }
        LotStatus::Closed => {
            let s = lot
                .settlement
                .as_ref()
                .filter(|s| s.status == SettlementStatus::Pending)?;
            Some(Hold {
                participant: s.buyer_id.clone(),
                amount: s.total_due,
            })
        }
        LotStatus::Cancelled => None,
    }
}

/// What the ledger must hold for `lot`'s committed state, as the writes
/// that set it from the state alone (a repair, a fresh load) say it: its
/// required hold; once paid, the payment (consuming a hold already
/// consumed is a no-op, so a crash between a payment's commit and its
/// consume still charges it); otherwise none.
pub fn committed_hold(lot: &Lot) -> CommittedHold<ParticipantId> {
    let paid = lot
        .settlement
        .as_ref()
        .is_some_and(|s| s.status == SettlementStatus::Paid);
    match required_hold(lot) {
        Some(h) => CommittedHold::Hold {
            participant: h.participant,
            amount: h.amount,
            currency: lot.currency(),
        },
        None if paid => CommittedHold::Consume,
        None => CommittedHold::Release,
    }
}

/// The hold an accepted bid or buy now must fit (rule 9), judged on the lot
/// before the command: the bidder's maximum (buy now: price) plus premium.
/// Checked even when the bidder is outbid at once (SPEC §2.2 case 4).
pub fn command_hold(before: &Lot, command: &Command) -> Option<Hold> {
    if !is_checked(before) {
        return None;
    }
    let (terms, _) = before.english()?;
    match command {
        Command::PlaceBid(bid) => {
            let amount = Money::new(bid.amount, before.currency()).ok()?;
            Some(Hold {
                participant: bid.bidder.participant_id.clone(),
                amount: with_premium(before, amount),
            })
        }
        Command::BuyNow { buyer } => Some(Hold {
            participant: buyer.participant_id.clone(),
            amount: with_premium(before, terms.buy_now_price?),
        }),
        _ => None,
    }
}

/// What the ledger must do for a lot that went from `before` to `after`.
pub fn credit_action(before: Option<&Lot>, after: &Lot) -> CreditAction {
    let was_pending = before
        .and_then(|b| b.settlement.as_ref())
        .is_some_and(|s| s.status == SettlementStatus::Pending);
    let now_paid = after
        .settlement
        .as_ref()
        .is_some_and(|s| s.status == SettlementStatus::Paid);
    if is_checked(after) && was_pending && now_paid {
        return CreditAction::Consume;
    }
    let old = before.and_then(required_hold);
    match (old, required_hold(after)) {
        (old, Some(new)) if old.as_ref() != Some(&new) => CreditAction::Hold(new),
        (Some(_), None) => CreditAction::Release,
        _ => CreditAction::None,
    }
}
