//! Response bodies (SPEC §7, §9), camelCase, amounts as strings with the
//! currency's minor units. Each view decides which private fields its
//! viewer may see: `reservePrice` for the seller and admins, `yourMaximum`
//! and history `maximum` for the bidder themself (and admins, in history).

use hammerfall_ports::{
    Actor, BidOutcome, BidRecord, CreditView, Currency, EndedBy, Format, Lot, LotId, LotStatus,
    Money, ParticipantId, Reservation, ReservationStatus, SaleResult, SettlementStatus, Timestamp,
    UnsoldReason,
};
use serde::Serialize;
use utoipa::ToSchema;

/// A lot's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FormatName {
    /// Timed ascending auction with proxy bidding.
    English,
    /// Sold by reservation; price 0 is a free item.
    FixedPrice,
}

impl From<Format> for FormatName {
    fn from(f: Format) -> Self {
        match f {
            Format::English => FormatName::English,
            Format::FixedPrice => FormatName::FixedPrice,
        }
    }
}

/// A lot's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    /// Not started yet.
    Scheduled,
    /// Taking bids or reservations.
    Open,
    /// Fixed price with an active reservation.
    Reserved,
    /// Ended.
    Closed,
    /// Cancelled.
    Cancelled,
}

impl From<LotStatus> for StatusName {
    fn from(s: LotStatus) -> Self {
        match s {
            LotStatus::Scheduled => StatusName::Scheduled,
            LotStatus::Open => StatusName::Open,
            LotStatus::Reserved => StatusName::Reserved,
            LotStatus::Closed => StatusName::Closed,
            LotStatus::Cancelled => StatusName::Cancelled,
        }
    }
}

/// Sold or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SaleName {
    /// Sold.
    Sold,
    /// Not sold.
    Unsold,
}

/// Why a lot went unsold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonName {
    /// Nobody bid.
    NoBids,
    /// The reserve was not met.
    ReserveNotMet,
    /// A fixed-price listing ended without a completed reservation.
    NoBuyer,
}

impl From<UnsoldReason> for ReasonName {
    fn from(r: UnsoldReason) -> Self {
        match r {
            UnsoldReason::NoBids => ReasonName::NoBids,
            UnsoldReason::ReserveNotMet => ReasonName::ReserveNotMet,
            UnsoldReason::NoBuyer => ReasonName::NoBuyer,
        }
    }
}

/// What ended a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndedByName {
    /// Its end time.
    Time,
    /// Buy now.
    BuyNow,
    /// A completed reservation.
    Reservation,
}

impl From<EndedBy> for EndedByName {
    fn from(e: EndedBy) -> Self {
        match e {
            EndedBy::Time => EndedByName::Time,
            EndedBy::BuyNow => EndedByName::BuyNow,
            EndedBy::Reservation => EndedByName::Reservation,
        }
    }
}

/// A reservation's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatusName {
    /// Holding the lot.
    Active,
    /// Purchased.
    Completed,
    /// Cancelled.
    Cancelled,
    /// Ran out.
    Expired,
}

impl From<ReservationStatus> for ReservationStatusName {
    fn from(s: ReservationStatus) -> Self {
        match s {
            ReservationStatus::Active => ReservationStatusName::Active,
            ReservationStatus::Completed => ReservationStatusName::Completed,
            ReservationStatus::Cancelled => ReservationStatusName::Cancelled,
            ReservationStatus::Expired => ReservationStatusName::Expired,
        }
    }
}

/// A settlement's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettlementStatusName {
    /// Awaiting payment.
    Pending,
    /// Paid.
    Paid,
    /// Not paid in time.
    Defaulted,
}

impl From<SettlementStatus> for SettlementStatusName {
    fn from(s: SettlementStatus) -> Self {
        match s {
            SettlementStatus::Pending => SettlementStatusName::Pending,
            SettlementStatus::Paid => SettlementStatusName::Paid,
            SettlementStatus::Defaulted => SettlementStatusName::Defaulted,
        }
    }
}

/// A bid's outcome when it was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BidOutcomeName {
    /// The bidder leads.
    Leading,
    /// Someone else's maximum is at least as high.
    Outbid,
}

impl From<BidOutcome> for BidOutcomeName {
    fn from(o: BidOutcome) -> Self {
        match o {
            BidOutcome::Leading => BidOutcomeName::Leading,
            BidOutcome::Outbid => BidOutcomeName::Outbid,
        }
    }
}

/// How a closed lot ended.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeView {
    /// Sold or unsold.
    pub result: SaleName,
    /// Why unsold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonName>,
    /// The buyer, on a sale.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub winner_id: Option<ParticipantId>,
    /// The hammer price, on a sale.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "51.00")]
    pub hammer_price: Option<Money>,
    /// What ended the lot.
    pub ended_by: EndedByName,
}

/// The latest reservation of a fixed-price lot, inside the lot view.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationSummary {
    /// The reservation.
    #[schema(value_type = String)]
    pub reservation_id: hammerfall_ports::ReservationId,
    /// Who reserved.
    #[schema(value_type = String)]
    pub buyer_id: ParticipantId,
    /// Its status.
    pub status: ReservationStatusName,
    /// When it lapses.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// A lot as participants see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LotView {
    /// The lot.
    #[schema(value_type = String)]
    pub lot_id: LotId,
    /// Its title.
    pub title: String,
    /// Its seller.
    #[schema(value_type = String)]
    pub seller_id: ParticipantId,
    /// English or fixed price.
    pub format: FormatName,
    /// Lifecycle status.
    pub status: StatusName,
    /// ISO-4217 code.
    #[schema(value_type = String, example = "USD")]
    pub currency: Currency,
    /// English: the price now (null before the first bid, and for fixed price).
    #[schema(value_type = Option<String>, required = true, example = "12.50")]
    pub current_price: Option<Money>,
    /// English: the smallest acceptable bid from a non-leader.
    #[schema(value_type = Option<String>, required = true)]
    pub min_next_bid: Option<Money>,
    /// English: who leads.
    #[schema(value_type = Option<String>, required = true)]
    pub leader_id: Option<ParticipantId>,
    /// Accepted bids.
    pub bid_count: u32,
    /// The reserve is met (true with no reserve and for fixed price).
    pub reserve_met: bool,
    /// English: the buy-now price, if any.
    #[schema(value_type = Option<String>, required = true)]
    pub buy_now_price: Option<Money>,
    /// Buy now may be used now.
    pub buy_now_available: bool,
    /// Fixed price: the price (null for english lots).
    #[schema(value_type = Option<String>, required = true)]
    pub price: Option<Money>,
    /// When bidding or reserving opens.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    /// The current end (moves with soft close); null for an open-ended listing.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub ends_at: Option<Timestamp>,
    /// The lot's sequence (its last event).
    pub sequence: u64,
    /// Set once closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeView>,
    /// Fixed price: the latest reservation in any status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<ReservationSummary>,
    /// The reserve (seller and admins only; absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub reserve_price: Option<Money>,
    /// The caller's own maximum (a bidder with an accepted bid on the lot).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub your_maximum: Option<Money>,
}

impl LotView {
    /// The view of `lot` for `viewer`; `your_maximum` is the viewer's own
    /// maximum when they have an accepted bid.
    pub fn of(lot: &Lot, viewer: Option<&Actor>, your_maximum: Option<Money>) -> Self {
        let english = lot.english();
        let fixed = lot.fixed_price();
        let privileged =
            viewer.is_some_and(|a| a.is_admin() || &a.participant_id == lot.seller_id());
        let outcome = lot.outcome.as_ref().map(|o| {
            let (result, reason, winner_id, hammer_price) = match &o.result {
                SaleResult::Sold {
                    winner_id,
                    hammer_price,
                } => (
                    SaleName::Sold,
                    None,
                    Some(winner_id.clone()),
                    Some(*hammer_price),
                ),
                SaleResult::Unsold { reason } => {
                    (SaleName::Unsold, Some((*reason).into()), None, None)
                }
            };
            OutcomeView {
                result,
                reason,
                winner_id,
                hammer_price,
                ended_by: o.ended_by.into(),
            }
        });
        LotView {
            lot_id: lot.lot_id.clone(),
            title: lot.terms.title.to_string(),
            seller_id: lot.seller_id().clone(),
            format: lot.format().into(),
            status: lot.status.into(),
            currency: lot.currency(),
            current_price: english.and_then(|(_, s)| s.current_price),
            min_next_bid: lot.min_next_bid(),
            leader_id: english.and_then(|(_, s)| s.leader.as_ref().map(|l| l.bidder_id.clone())),
            bid_count: english.map_or(0, |(_, s)| s.bid_count),
            reserve_met: lot.reserve_met(),
            buy_now_price: english.and_then(|(t, _)| t.buy_now_price),
            buy_now_available: lot.buy_now_available(),
            price: fixed.map(|(t, _)| t.price),
            starts_at: lot.terms.starts_at,
            ends_at: lot.ends_at,
            sequence: lot.sequence,
            outcome,
            reservation: fixed
                .and_then(|(_, s)| s.latest())
                .map(|r| ReservationSummary {
                    reservation_id: r.reservation_id.clone(),
                    buyer_id: r.buyer_id.clone(),
                    status: r.status.into(),
                    expires_at: r.expires_at,
                }),
            reserve_price: english
                .and_then(|(t, _)| t.reserve_price)
                .filter(|_| privileged),
            your_maximum,
        }
    }
}

/// The answer to an accepted bid.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BidResult {
    /// The bid.
    #[schema(value_type = String)]
    pub bid_id: hammerfall_ports::BidId,
    /// Leading or outbid at once.
    pub outcome: BidOutcomeName,
    /// The bidder's maximum.
    #[schema(value_type = String, example = "50.00")]
    pub your_maximum: Money,
    /// The lot right after the bid.
    pub lot: LotView,
}

/// A fixed-price reservation.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationView {
    /// The reservation.
    #[schema(value_type = String)]
    pub reservation_id: hammerfall_ports::ReservationId,
    /// The lot.
    #[schema(value_type = String)]
    pub lot_id: LotId,
    /// Who reserved.
    #[schema(value_type = String)]
    pub buyer_id: ParticipantId,
    /// Its status.
    pub status: ReservationStatusName,
    /// When it was made.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it lapses.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

impl ReservationView {
    /// The view of reservation `r` of `lot_id`.
    pub fn of(lot_id: &LotId, r: &Reservation) -> Self {
        Self {
            reservation_id: r.reservation_id.clone(),
            lot_id: lot_id.clone(),
            buyer_id: r.buyer_id.clone(),
            status: r.status.into(),
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

/// A sale's invoice.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettlementView {
    /// The lot.
    #[schema(value_type = String)]
    pub lot_id: LotId,
    /// Who sold.
    #[schema(value_type = String)]
    pub seller_id: ParticipantId,
    /// Who pays.
    #[schema(value_type = String)]
    pub buyer_id: ParticipantId,
    /// ISO-4217 code.
    #[schema(value_type = String, example = "USD")]
    pub currency: Currency,
    /// The sale price.
    #[schema(value_type = String, example = "51.00")]
    pub hammer_price: Money,
    /// Buyer's premium.
    #[schema(value_type = String, example = "5.10")]
    pub buyer_premium: Money,
    /// Hammer price plus premium.
    #[schema(value_type = String, example = "56.10")]
    pub total_due: Money,
    /// Payment deadline.
    #[schema(value_type = String, format = DateTime)]
    pub due_by: Timestamp,
    /// Where it stands.
    pub status: SettlementStatusName,
}

impl SettlementView {
    /// The settlement of `lot`, if it has one.
    pub fn of(lot: &Lot) -> Option<Self> {
        lot.settlement.as_ref().map(|s| Self {
            lot_id: lot.lot_id.clone(),
            seller_id: lot.seller_id().clone(),
            buyer_id: s.buyer_id.clone(),
            currency: lot.currency(),
            hammer_price: s.hammer_price,
            buyer_premium: s.buyer_premium,
            total_due: s.total_due,
            due_by: s.due_by,
            status: s.status.into(),
        })
    }
}

/// One accepted bid in a lot's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BidHistoryItem {
    /// The bid.
    #[schema(value_type = String)]
    pub bid_id: hammerfall_ports::BidId,
    /// 1 … bidCount.
    pub bid_number: u32,
    /// Sequence of its `BidAccepted` event.
    pub sequence: u64,
    /// Who bid.
    #[schema(value_type = String)]
    pub bidder_id: ParticipantId,
    /// The lot's price right after it.
    #[schema(value_type = String)]
    pub current_price: Money,
    /// When it was placed.
    #[schema(value_type = String, format = DateTime)]
    pub placed_at: Timestamp,
    /// Leading or outbid when placed.
    pub outcome: BidOutcomeName,
    /// The bidder's maximum: only on the caller's own bids, and for admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub maximum: Option<Money>,
}

impl BidHistoryItem {
    /// The history entry `bid` as `viewer` may see it.
    pub fn of(bid: &BidRecord, viewer: Option<&Actor>) -> Self {
        let sees_maximum =
            viewer.is_some_and(|a| a.is_admin() || a.participant_id == bid.bidder_id);
        Self {
            bid_id: bid.bid_id.clone(),
            bid_number: bid.bid_number,
            sequence: bid.sequence,
            bidder_id: bid.bidder_id.clone(),
            current_price: bid.current_price,
            placed_at: bid.placed_at,
            outcome: bid.outcome.into(),
            maximum: sees_maximum.then_some(bid.maximum),
        }
    }
}

/// A participant's credit.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreditBody {
    /// Whose.
    #[schema(value_type = String)]
    pub participant_id: ParticipantId,
    /// The limit's currency.
    #[schema(value_type = String, example = "USD")]
    pub currency: Currency,
    /// The limit.
    #[schema(value_type = String, example = "500.00")]
    pub limit: Money,
    /// Sum of active holds.
    #[schema(value_type = String, example = "120.00")]
    pub held: Money,
    /// Limit minus holds.
    #[schema(value_type = String, example = "380.00")]
    pub available: Money,
}

impl From<CreditView> for CreditBody {
    fn from(v: CreditView) -> Self {
        Self {
            participant_id: v.participant_id,
            currency: v.currency,
            limit: v.limit,
            held: v.held,
            available: v.available,
        }
    }
}

/// A page of lots.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LotPage {
    /// The lots, oldest first.
    pub items: Vec<LotView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of bid history.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BidPage {
    /// The bids, in sequence order.
    pub items: Vec<BidHistoryItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A public event envelope (SPEC §6): these fields plus the event's payload.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    /// `<lotId>:<sequence>`.
    pub event_id: String,
    /// `LotCreated`, `BidAccepted`, ….
    pub event_type: String,
    /// Schema version (1).
    pub version: u32,
    /// The lot.
    pub lot_id: String,
    /// 1, 2, 3 … without gaps.
    pub sequence: u64,
    /// When it happened.
    #[schema(format = DateTime)]
    pub occurred_at: String,
}

/// A page of events.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    /// Events with sequence > `after`, ascending.
    #[schema(value_type = Vec<EventBody>)]
    pub items: Vec<serde_json::Value>,
    /// Pass as `cursor` (or `after`) for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Where an asynchronously submitted command stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    /// Queued or being judged.
    Pending,
    /// Accepted: `result` is the synchronous answer's body.
    Done,
    /// Rejected: `error` is the problem body.
    Rejected,
}

/// A command's status.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommandStatusBody {
    /// The command id (the `Idempotency-Key`).
    pub command_id: String,
    /// Pending, done or rejected.
    pub status: CommandState,
    /// For `done`: the body the synchronous call returns.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Box<serde_json::value::RawValue>>,
    /// For `rejected`: the problem body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::problem::Problem>,
}

/// Liveness and readiness answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
}
