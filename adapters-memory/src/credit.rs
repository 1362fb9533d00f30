//! `MemoryCreditLedger`: the `CreditLedger` port in process memory. Holds
//! are keyed by lot (a lot holds credit for one participant at a time), and
//! every operation runs under one mutex, so a replaced hold moves from one
//! participant to another atomically.

use hammerfall_ports::{
    CreditError, CreditLedger, CreditView, Currency, LotId, Money, ParticipantId,
};
use std::collections::{BTreeSet, HashMap, HashSet};
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

#[derive(Debug, Clone)]
struct Hold {
    participant: ParticipantId,
    amount: Money,
}

#[derive(Debug, Default)]
struct Inner {
    accounts: HashMap<ParticipantId, Account>,
    holds: HashMap<LotId, Hold>,
    /// Lots each participant holds credit on (to sum their holds).
    held_lots: HashMap<ParticipantId, BTreeSet<LotId>>,
    /// Lots whose hold was consumed: consuming again changes nothing.
    consumed: HashSet<LotId>,
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
            .filter_map(|lot| self.holds.get(lot))
            .fold(Money::zero(currency), |sum, h| sum.plus(h.amount))
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

    fn remove_hold(&mut self, lot: &LotId) -> Option<Hold> {
        let hold = self.holds.remove(lot)?;
        if let Some(lots) = self.held_lots.get_mut(&hold.participant) {
            lots.remove(lot);
            if lots.is_empty() {
                self.held_lots.remove(&hold.participant);
            }
        }
        Some(hold)
    }

    fn has_holds(&self, participant: &ParticipantId) -> bool {
        self.held_lots
            .get(participant)
            .is_some_and(|l| !l.is_empty())
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

    async fn hold(
        &self,
        lot: &LotId,
        participant: &ParticipantId,
        amount: Money,
        currency: Currency,
    ) -> Result<(), CreditError> {
        let mut inner = self.lock();
        let Some(account) = inner
            .accounts
            .get(participant)
            .copied()
            .filter(|a| a.currency == currency)
        else {
            return Err(CreditError::Insufficient);
        };
        let own_lots = inner.held_lots.get(participant).map_or(0, BTreeSet::len);
        let replaces_own = inner
            .holds
            .get(lot)
            .is_some_and(|h| &h.participant == participant);
        if own_lots >= MAX_HOLDS_PER_PARTICIPANT && !replaces_own {
            return Err(CreditError::Insufficient);
        }
        let others = inner.held(participant, currency, Some(lot));
        if amount > account.limit.saturating_minus(others) {
            return Err(CreditError::Insufficient);
        }
        inner.remove_hold(lot);
        inner
            .held_lots
            .entry(participant.clone())
            .or_default()
            .insert(lot.clone());
        inner.holds.insert(
            lot.clone(),
            Hold {
                participant: participant.clone(),
                amount,
            },
        );
        Ok(())
    }

    async fn release(&self, lot: &LotId) -> Result<(), CreditError> {
        self.lock().remove_hold(lot);
        Ok(())
    }

    async fn consume(&self, lot: &LotId) -> Result<(), CreditError> {
        let mut inner = self.lock();
        if inner.consumed.contains(lot) {
            return Ok(());
        }
        let Some(hold) = inner.remove_hold(lot) else {
            return Ok(());
        };
        if let Some(account) = inner.accounts.get_mut(&hold.participant) {
            account.limit = account.limit.saturating_minus(hold.amount);
        }
        inner.consumed.insert(lot.clone());
        Ok(())
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
                .hold(&lot, &ann, usd(4_000), Currency::USD)
                .await
                .is_ok()
        );
        assert!(ledger.consume(&lot).await.is_ok());
        // A lagging repair re-places the paid lot's hold; a second consume
        // must not charge the payment twice.
        assert!(
            ledger
                .hold(&lot, &ann, usd(4_000), Currency::USD)
                .await
                .is_ok()
        );
        assert!(ledger.consume(&lot).await.is_ok());
        let view = ledger.credit(&ann).await.ok().flatten();
        assert_eq!(
            view.map(|v| (v.limit, v.held)),
            Some((usd(6_000), usd(4_000)))
        );
        assert!(ledger.release(&lot).await.is_ok());
        let view = ledger.credit(&ann).await.ok().flatten();
        assert_eq!(view.map(|v| v.available), Some(usd(6_000)));
    }
}
