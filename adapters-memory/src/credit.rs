//! `MemoryCreditLedger`: the `CreditLedger` port in process memory. Holds
//! are keyed by lot (each lot's [`LotCredit`] record: its committed hold,
//! proposals and sequence), and every operation runs under one mutex, so a
//! replaced hold moves from one participant to another atomically.

use hammerfall_ports::{
    CreditError, CreditLedger, CreditView, Currency, LotCredit, LotCreditOp, LotId, Money,
    ParticipantId,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Most lots one participant may hold credit on at once; a further hold is
/// refused as [`CreditError::Insufficient`]. Bounds the work of summing a
/// participant's holds.
pub const MAX_HOLDS_PER_PARTICIPANT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Account {
    currency: Currency,
    limit: Money,
}

#[derive(Debug, Default)]
struct Inner {
    accounts: HashMap<ParticipantId, Account>,
    /// Each lot's credit record (kept after release and consume: its
    /// sequence is a tombstone).
    lots: HashMap<LotId, LotCredit>,
    /// Lots each participant holds credit on (to sum their holds).
    held_lots: HashMap<ParticipantId, BTreeSet<LotId>>,
}

/// Bidder credit in memory (SPEC §3.1).
#[derive(Debug, Default)]
pub struct MemoryCreditLedger {
    inner: Mutex<Inner>,
}

impl MemoryCreditLedger {
    /// An empty ledger: nobody has a limit.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every operation checks before it writes, so a poisoned lock holds
        // consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// Sum of `participant`'s holds, leaving out `except`'s.
    fn held(
        &self,
        participant: &ParticipantId,
        currency: Currency,
        except: Option<&LotId>,
    ) -> Money {
        self.held_lots
            .get(participant)
            .into_iter()
            .flatten()
            .filter(|lot| Some(*lot) != except)
            .filter_map(|lot| self.lots.get(lot)?.amount_of(participant))
            .fold(Money::zero(currency), |sum, a| sum.plus(a))
    }

    fn view(&self, participant: &ParticipantId) -> Option<CreditView> {
        let account = self.accounts.get(participant)?;
        let held = self.held(participant, account.currency, None);
        Some(CreditView {
            participant_id: participant.clone(),
            currency: account.currency,
            limit: account.limit,
            held,
            available: account.limit.saturating_minus(held),
        })
    }

    fn has_holds(&self, participant: &ParticipantId) -> bool {
        self.held_lots
            .get(participant)
            .is_some_and(|l| !l.is_empty())
    }

    /// Applies `op` to the lot's record, checking first that the holding
    /// it sets fits its participant's limit ([`LotCreditOp::fits`]).
    fn change(&mut self, lot: &LotId, op: LotCreditOp<&ParticipantId>) -> Result<(), CreditError> {
        let current = self.lots.get(lot).cloned().unwrap_or_default();
        let Some((next, charge)) = current.after(op) else {
            return Ok(());
        };
        if let Some((participant, currency)) = op.fits() {
            let Some(account) = self
                .accounts
                .get(participant)
                .copied()
                .filter(|a| a.currency == currency)
            else {
                return Err(CreditError::Insufficient);
            };
            let own_lots = self.held_lots.get(participant).map_or(0, BTreeSet::len);
            if own_lots >= MAX_HOLDS_PER_PARTICIPANT && current.amount_of(participant).is_none() {
                return Err(CreditError::Insufficient);
            }
            let others = self.held(participant, currency, Some(lot));
            let amount = next.amount_of(participant).unwrap_or(Money::zero(currency));
            if amount > account.limit.saturating_minus(others) {
                return Err(CreditError::Insufficient);
            }
        }
        if let Some((holder, amount)) = charge
            && let Some(account) = self.accounts.get_mut(&holder)
        {
            account.limit = account.limit.saturating_minus(amount);
        }
        for p in current.holders() {
            if let Some(lots) = self.held_lots.get_mut(&p) {
                lots.remove(lot);
                if lots.is_empty() {
                    self.held_lots.remove(&p);
                }
            }
        }
        for p in next.holders() {
            self.held_lots.entry(p).or_default().insert(lot.clone());
        }
        self.lots.insert(lot.clone(), next);
        Ok(())
    }
}

impl CreditLedger for MemoryCreditLedger {
    async fn set_limit(
        &self,
        participant: &ParticipantId,
        limit: Money,
        currency: Currency,
    ) -> Result<CreditView, CreditError> {
        let mut inner = self.lock();
        let changes_currency = inner
            .accounts
            .get(participant)
            .is_some_and(|a| a.currency != currency);
        if changes_currency && inner.has_holds(participant) {
            return Err(CreditError::InUse);
        }
        inner
            .accounts
            .insert(participant.clone(), Account { currency, limit });
        inner.view(participant).ok_or(CreditError::InUse)
    }

    async fn credit(&self, participant: &ParticipantId) -> Result<Option<CreditView>, CreditError> {
        Ok(self.lock().view(participant))
    }

    async fn change(
        &self,
        lot: &LotId,
        op: LotCreditOp<&ParticipantId>,
    ) -> Result<(), CreditError> {
        self.lock().change(lot, op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::USD)
    }

    #[tokio::test]
    async fn a_lot_is_consumed_once_even_if_held_again() {
        let ledger = MemoryCreditLedger::new();
        let ann = ParticipantId::new("ann").unwrap_or_else(|e| panic!("{e}"));
        let lot = LotId::new("lot-1").unwrap_or_else(|e| panic!("{e}"));
        let _ = ledger.set_limit(&ann, usd(10_000), Currency::USD).await;
        assert!(
            ledger
                .hold(&lot, &ann, usd(4_000), Currency::USD, 1)
                .await
                .is_ok()
        );
        assert!(ledger.consume(&lot, 2).await.is_ok());
        // A (hypothetical) newer hold on the paid lot; a second consume
        // must not charge the payment twice.
        assert!(
            ledger
                .hold(&lot, &ann, usd(4_000), Currency::USD, 3)
                .await
                .is_ok()
        );
        assert!(ledger.consume(&lot, 4).await.is_ok());
        let view = ledger.credit(&ann).await.ok().flatten();
        assert_eq!(
            view.map(|v| (v.limit, v.held)),
            Some((usd(6_000), usd(4_000)))
        );
        assert!(ledger.release(&lot, 5).await.is_ok());
        let view = ledger.credit(&ann).await.ok().flatten();
        assert_eq!(view.map(|v| v.available), Some(usd(6_000)));
    }
}
