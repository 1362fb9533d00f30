//! The `CreditLedger` port: bidder credit limits and holds (SPEC §3.1).
//!
//! A lot holds credit for at most one participant at a time (its leader, or
//! its winner until payment), so holds are keyed by lot. The holds a lot
//! needs are a pure function of its state (the engine's `required_hold`), so
//! a ledger that lags behind a crash is repaired by setting each lot's hold
//! again: every operation here is idempotent.

use crate::ids::{LotId, ParticipantId};
use crate::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// A participant's credit (the body of `GET /participants/{id}/credit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditView {
    /// Whose.
    pub participant_id: ParticipantId,
    /// The limit's currency.
    pub currency: Currency,
    /// The limit.
    pub limit: Money,
    /// Sum of active holds.
    pub held: Money,
    /// `limit − held` (never negative).
    pub available: Money,
}

/// A ledger failure.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// The hold does not fit (or no limit in that currency): the bid is
    /// rejected with `insufficient_credit` (409).
    #[error("insufficient credit")]
    Insufficient,
    /// Changing the currency while holds are active: `credit_in_use` (409).
    #[error("credit in use")]
    InUse,
    /// Transient: retry.
    #[error("credit ledger unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Bidder credit.
///
/// Contract:
/// - `hold(lot, p, amount)` MUST atomically replace the lot's hold (whoever
///   held it) with `p`'s hold of `amount`, and MUST fail with
///   [`CreditError::Insufficient`], changing nothing, if `p` has no limit in
///   `currency` or `amount` exceeds `p`'s available credit not counting the
///   lot's current hold.
/// - `release(lot)` MUST remove the lot's hold (no-op without one).
/// - `consume(lot)` MUST remove the lot's hold and lower its holder's limit
///   by the held amount, once: consuming a lot twice changes nothing.
/// - Available credit MUST never be negative.
pub trait CreditLedger: Send + Sync + 'static {
    /// Sets (replaces) a participant's limit.
    fn set_limit(
        &self,
        participant: &ParticipantId,
        limit: Money,
        currency: Currency,
    ) -> impl Future<Output = Result<CreditView, CreditError>> + Send;

    /// A participant's credit, if they have a limit.
    fn credit(
        &self,
        participant: &ParticipantId,
    ) -> impl Future<Output = Result<Option<CreditView>, CreditError>> + Send;

    /// Places (or replaces) the lot's hold.
    fn hold(
        &self,
        lot: &LotId,
        participant: &ParticipantId,
        amount: Money,
        currency: Currency,
    ) -> impl Future<Output = Result<(), CreditError>> + Send;

    /// Removes the lot's hold.
    fn release(&self, lot: &LotId) -> impl Future<Output = Result<(), CreditError>> + Send;

    /// Turns the lot's hold into a payment: limit and held drop by its amount.
    fn consume(&self, lot: &LotId) -> impl Future<Output = Result<(), CreditError>> + Send;
}
