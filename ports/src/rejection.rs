//! Rejections: every "no" the engine can say, one variant per SPEC error
//! code. Rejections are recorded like acceptances (SPEC §5: a retry never
//! turns a "no" into a "yes"), so they serialize.

use crate::money::{Money, MoneyError};
use serde::{Deserialize, Serialize};

/// Which request value was invalid, and how: the typed detail behind
/// `invalid_request` (422).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(
    tag = "problem",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum InvalidRequest {
    /// A required field is missing for this format.
    #[error("{field} is required")]
    Missing {
        /// The field's wire name.
        field: String,
    },
    /// A field that does not apply to this format was given.
    #[error("{field} does not apply to {format} lots")]
    NotApplicable {
        /// The field's wire name.
        field: String,
        /// The lot format.
        format: String,
    },
    /// A value is out of range or malformed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field's wire name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The lot id is taken (only with client-chosen ids).
    #[error("lot already exists")]
    LotExists,
}

impl InvalidRequest {
    /// `field` is invalid because of `reason`.
    pub fn invalid(field: &str, reason: impl std::fmt::Display) -> Self {
        InvalidRequest::Invalid {
            field: field.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// A command the rules refuse. `code()` is the SPEC error code; each
/// variant's doc gives the HTTP status. Rejections are final: retrying the
/// same command gets the same answer (never retry automatically).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(
    tag = "code",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Rejection {
    /// 403: the actor lacks the role or is not a party to the resource.
    #[error("forbidden")]
    Forbidden,
    /// 404: no such lot.
    #[error("lot not found")]
    LotNotFound,
    /// 409: the lot's format takes no bids (fixed price).
    #[error("this lot does not take bids")]
    BiddingNotSupported,
    /// 403: sellers cannot bid on (or buy) their own lot.
    #[error("the seller cannot bid on their own lot")]
    SellerCannotBid,
    /// 409: the lot is closed or cancelled, or its end has passed.
    #[error("the lot is closed")]
    LotClosed,
    /// 409: the lot has not started.
    #[error("the lot has not opened yet")]
    LotNotOpen,
    /// 422: the bid's currency is not the lot's.
    #[error("currency does not match the lot's")]
    CurrencyMismatch,
    /// 422: the amount is zero, negative, too precise or too large.
    #[error("invalid amount: {reason}")]
    InvalidAmount {
        /// Why.
        reason: AmountProblem,
    },
    /// 409: below `min_next_bid` (or, for the leader, not above their maximum).
    #[error("bid too low; minimum is {min_bid}")]
    BidTooLow {
        /// The smallest acceptable amount.
        min_bid: Money,
    },
    /// 409: the credit hold does not fit the bidder's available credit.
    #[error("insufficient credit")]
    InsufficientCredit,
    /// 409: buy now is not available on this lot now.
    #[error("buy now is not available")]
    BuyNowUnavailable,
    /// 409: the lot cannot be cancelled by this actor in its state.
    #[error("the lot cannot be cancelled")]
    CancelNotAllowed,
    /// 403: sellers cannot reserve their own lot.
    #[error("the seller cannot reserve their own lot")]
    SellerCannotReserve,
    /// 409: english lots are not reserved.
    #[error("this lot does not take reservations")]
    ReservationNotSupported,
    /// 409: another reservation is active.
    #[error("the lot is already reserved")]
    AlreadyReserved,
    /// 404: no such reservation on this lot.
    #[error("reservation not found")]
    ReservationNotFound,
    /// 409: the reservation ran out.
    #[error("the reservation has expired")]
    ReservationExpired,
    /// 409: the reservation is completed or cancelled.
    #[error("the reservation is not active")]
    ReservationNotActive,
    /// 404: the lot has no settlement.
    #[error("settlement not found")]
    SettlementNotFound,
    /// 409: the settlement is paid already.
    #[error("the settlement is already paid")]
    AlreadyPaid,
    /// 409: the settlement defaulted.
    #[error("the settlement has defaulted")]
    SettlementDefaulted,
    /// 422: the command id was used before for a different command.
    #[error("this idempotency key was used for a different request")]
    IdempotencyConflict,
    /// 409: the credit currency cannot change while holds are active.
    #[error("credit is in use; the currency cannot change while holds are active")]
    CreditInUse,
    /// 404: the participant has no credit limit.
    #[error("no credit limit set")]
    CreditNotFound,
    /// 422: a request value is invalid.
    #[error("invalid request: {detail}")]
    InvalidRequest {
        /// Which value and why.
        detail: InvalidRequest,
    },
}

/// Why a bid amount is invalid (`invalid_amount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountProblem {
    /// Zero or negative.
    NotPositive,
    /// A non-zero digit beyond the currency's minor units.
    TooPrecise,
    /// Above 1,000,000,000,000.
    TooLarge,
}

impl std::fmt::Display for AmountProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AmountProblem::NotPositive => "the amount must be above zero",
            AmountProblem::TooPrecise => "too many decimal places for the currency",
            AmountProblem::TooLarge => "the amount is above 1000000000000",
        })
    }
}

impl From<MoneyError> for AmountProblem {
    fn from(e: MoneyError) -> Self {
        match e {
            MoneyError::TooPrecise { .. } => AmountProblem::TooPrecise,
            MoneyError::TooLarge => AmountProblem::TooLarge,
            MoneyError::Negative | MoneyError::NotANumber => AmountProblem::NotPositive,
        }
    }
}

impl From<InvalidRequest> for Rejection {
    fn from(detail: InvalidRequest) -> Self {
        Rejection::InvalidRequest { detail }
    }
}

impl Rejection {
    /// The stable SPEC error code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Forbidden => "forbidden",
            Rejection::LotNotFound => "lot_not_found",
            Rejection::BiddingNotSupported => "bidding_not_supported",
            Rejection::SellerCannotBid => "seller_cannot_bid",
            Rejection::LotClosed => "lot_closed",
            Rejection::LotNotOpen => "lot_not_open",
            Rejection::CurrencyMismatch => "currency_mismatch",
            Rejection::InvalidAmount { .. } => "invalid_amount",
            Rejection::BidTooLow { .. } => "bid_too_low",
            Rejection::InsufficientCredit => "insufficient_credit",
            Rejection::BuyNowUnavailable => "buy_now_unavailable",
            Rejection::CancelNotAllowed => "cancel_not_allowed",
            Rejection::SellerCannotReserve => "seller_cannot_reserve",
            Rejection::ReservationNotSupported => "reservation_not_supported",
            Rejection::AlreadyReserved => "already_reserved",
            Rejection::ReservationNotFound => "reservation_not_found",
            Rejection::ReservationExpired => "reservation_expired",
            Rejection::ReservationNotActive => "reservation_not_active",
            Rejection::SettlementNotFound => "settlement_not_found",
            Rejection::AlreadyPaid => "already_paid",
            Rejection::SettlementDefaulted => "settlement_defaulted",
            Rejection::IdempotencyConflict => "idempotency_conflict",
            Rejection::CreditInUse => "credit_in_use",
            Rejection::CreditNotFound => "credit_not_found",
            Rejection::InvalidRequest { .. } => "invalid_request",
        }
    }

    /// The HTTP status hosts answer with (SPEC §2.1, §7).
    pub fn http_status(&self) -> u16 {
        match self {
            Rejection::Forbidden | Rejection::SellerCannotBid | Rejection::SellerCannotReserve => {
                403
            }
            Rejection::LotNotFound
            | Rejection::ReservationNotFound
            | Rejection::SettlementNotFound
            | Rejection::CreditNotFound => 404,
            Rejection::CurrencyMismatch
            | Rejection::InvalidAmount { .. }
            | Rejection::IdempotencyConflict
            | Rejection::InvalidRequest { .. } => 422,
            _ => 409,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn rejections_serialize_with_their_code() {
        let r = Rejection::BidTooLow {
            min_bid: Money::parse("31.00", Currency::USD).expect("money"),
        };
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["code"], "bid_too_low");
        assert_eq!(json["minBid"], "31.00");
        assert_eq!(r.code(), "bid_too_low");
        assert_eq!(r.http_status(), 409);
        let back: Rejection = serde_json::from_value(json).expect("back");
        assert_eq!(back, r);
    }
}
