//! The lot aggregate: its terms (fixed at creation) and its state (folded
//! from its events). Both live here, in the bottom crate, because every store
//! loads and saves them; the rules that change them live in the engine.

use crate::ids::{BidId, LotId, ParticipantId, ReservationId};
use crate::money::{Currency, Money, PremiumRate};
use crate::time::{Duration, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Longest title, in Unicode scalar values (SPEC §7).
pub const MAX_TITLE_CHARS: usize = 200;
/// Most tiers a custom increment table may have (SPEC §2).
pub const MAX_INCREMENT_TIERS: usize = 50;
/// Payment window when none is given: 72 hours (SPEC §2).
pub const DEFAULT_PAYMENT_WINDOW_SECS: i64 = 72 * 3600;
/// Reservation hold when none is given: 24 hours (SPEC §3).
pub const DEFAULT_HOLD_SECS: i64 = 24 * 3600;

/// How a lot is sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Timed ascending auction with proxy bidding.
    English,
    /// Sold by reservation, first come first served; price 0 is a free item.
    FixedPrice,
}

impl Format {
    /// The wire name (`english`, `fixed_price`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::English => "english",
            Format::FixedPrice => "fixed_price",
        }
    }
}

/// Where a lot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotStatus {
    /// Created, `starts_at` not reached yet.
    Scheduled,
    /// Taking bids or reservations.
    Open,
    /// Fixed price: an active reservation holds it.
    Reserved,
    /// Ended, sold or unsold (see [`Outcome`]).
    Closed,
    /// Cancelled by its seller or an admin; no settlement.
    Cancelled,
}

impl LotStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LotStatus::Scheduled => "scheduled",
            LotStatus::Open => "open",
            LotStatus::Reserved => "reserved",
            LotStatus::Closed => "closed",
            LotStatus::Cancelled => "cancelled",
        }
    }

    /// Closed or cancelled: nothing more happens to the lot but its settlement.
    #[inline]
    pub fn is_final(self) -> bool {
        matches!(self, LotStatus::Closed | LotStatus::Cancelled)
    }
}

/// One row of an increment table: from price `from` up, bids rise by `step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementTier {
    /// Lowest price this tier applies to.
    pub from: Money,
    /// The increment at that price level.
    pub step: Money,
}

/// A validated increment table (tiers sorted, first `from` 0 or the default
/// table). Shared by reference: cloning a lot never copies it.
#[derive(Clone)]
pub struct IncrementTable(Arc<Tiers>);

/// The tiers, and whether they all share one scale: then `increment_at` of a
/// price at that scale searches plain integers (the bid hot path).
struct Tiers {
    tiers: Box<[IncrementTier]>,
    /// Every `from` in minor units, for the search.
    froms: Box<[i64]>,
    /// The scale every `from` and `step` shares, if they all share one.
    scale: Option<u8>,
}

impl PartialEq for IncrementTable {
    fn eq(&self, other: &Self) -> bool {
        self.tiers() == other.tiers()
    }
}
impl Eq for IncrementTable {}

impl std::fmt::Debug for IncrementTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("IncrementTable")
            .field(&self.tiers())
            .finish()
    }
}

/// Stored as the list of tiers.
impl Serialize for IncrementTable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.tiers().serialize(s)
    }
}
impl<'de> Deserialize<'de> for IncrementTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<IncrementTier>::deserialize(d).map(Self::from_tiers)
    }
}

/// eBay's published table in hundredths (SPEC §2): (from, step).
const DEFAULT_TIERS_HUNDREDTHS: [(i64, i64); 10] = [
    (1, 5),
    (100, 25),
    (500, 50),
    (2_500, 100),
    (10_000, 250),
    (25_000, 500),
    (50_000, 1_000),
    (100_000, 2_500),
    (250_000, 5_000),
    (500_000, 10_000),
];

impl IncrementTable {
    /// Wraps tiers that the caller has validated (the engine's lot creation
    /// does); tiers must be sorted by `from`.
    pub fn from_tiers(tiers: Vec<IncrementTier>) -> Self {
        let scale = tiers.first().map(|t| t.from.scale()).filter(|&s| {
            tiers
                .iter()
                .all(|t| t.from.scale() == s && t.step.scale() == s)
        });
        Self(Arc::new(Tiers {
            froms: tiers.iter().map(|t| t.from.minor_units()).collect(),
            tiers: tiers.into_boxed_slice(),
            scale,
        }))
    }

    /// The default table scaled to `currency`: a `from`/`step` of h hundredths
    /// in a 2-minor-unit currency is h minor units of a currency with d minor
    /// units (the "× 10^(2−d)" rule: JPY ¥1 → ¥5, BHD 0.001 → 0.005).
    pub fn default_for(currency: Currency) -> Self {
        Self::from_tiers(
            DEFAULT_TIERS_HUNDREDTHS
                .iter()
                .map(|&(from, step)| IncrementTier {
                    from: Money::from_minor(from, currency),
                    step: Money::from_minor(step, currency),
                })
                .collect(),
        )
    }

    /// The tiers, lowest first.
    #[inline]
    pub fn tiers(&self) -> &[IncrementTier] {
        &self.0.tiers
    }

    /// `inc(p)`: the step of the tier with the largest `from` ≤ `price`. Below
    /// the first tier (only possible with the default table, which starts at
    /// 0.01) the first tier's step applies.
    #[inline]
    pub fn increment_at(&self, price: Money) -> Money {
        self.band_at(price).step
    }

    /// The tier `price` falls in, as a range of prices with one increment:
    /// a caller looking up several nearby prices (a bid's proxy resolution)
    /// checks [`IncrementBand::contains`] before searching again.
    #[inline]
    pub fn band_at(&self, price: Money) -> IncrementBand {
        let Tiers {
            tiers,
            froms,
            scale,
        } = &*self.0;
        if *scale != Some(price.scale()) || froms.is_empty() {
            return self.band_rescaled(price);
        }
        // Every amount at one scale: compare minor units. Branch-free binary
        // search for the last tier with `from` ≤ `price` (the first if none),
        // tiers being sorted by `from`.
        let p = price.minor_units();
        let mut base = 0;
        let mut size = froms.len();
        while size > 1 {
            let half = size / 2;
            let mid = base + half;
            base = if froms.get(mid).is_some_and(|&f| f <= p) {
                mid
            } else {
                base
            };
            size -= half;
        }
        IncrementBand {
            from: if base == 0 { i64::MIN } else { froms[base] },
            until: froms.get(base + 1).copied().unwrap_or(i64::MAX),
            scale: price.scale(),
            step: tiers[base].step,
        }
    }

    /// [`IncrementTable::band_at`] for tiers or a price of mixed scales
    /// (never the case for a table built by the engine): a band that
    /// contains no price, so every lookup searches.
    #[cold]
    #[inline(never)]
    fn band_rescaled(&self, price: Money) -> IncrementBand {
        let tiers = self.tiers();
        let above = tiers.partition_point(|tier| tier.from <= price);
        IncrementBand {
            from: 0,
            until: 0,
            scale: u8::MAX,
            step: tiers[above.saturating_sub(1)].step,
        }
    }
}

/// The prices of one increment tier (see [`IncrementTable::band_at`]).
#[derive(Debug, Clone, Copy)]
pub struct IncrementBand {
    /// Lowest price in minor units (`i64::MIN` for the first tier).
    from: i64,
    /// First price above, in minor units (`i64::MAX` for the last tier).
    until: i64,
    /// The scale of `from` and `until`.
    scale: u8,
    step: Money,
}

impl IncrementBand {
    /// The increment of every price in the band.
    #[inline]
    pub fn step(self) -> Money {
        self.step
    }

    /// True if `inc(price)` is this band's step.
    #[inline]
    pub fn contains(self, price: Money) -> bool {
        price.scale() == self.scale && (self.from..self.until).contains(&price.minor_units())
    }
}

/// Anti-sniping: a bid within `window` of the end moves the end to at least
/// `extension` after the bid (SPEC §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftClose {
    /// How close to the end a bid must be to extend it.
    #[serde(with = "crate::time::secs", rename = "windowSecs")]
    pub window: Duration,
    /// How far past the bid the end moves.
    #[serde(with = "crate::time::secs", rename = "extensionSecs")]
    pub extension: Duration,
}

/// Terms of an English auction, validated at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnglishTerms {
    /// First acceptable bid (> 0).
    pub starting_price: Money,
    /// Private minimum for a sale; shown only to the seller and admins.
    pub reserve_price: Option<Money>,
    /// Price at which a bidder may end the auction at once.
    pub buy_now_price: Option<Money>,
    /// Increment tiers.
    pub increments: IncrementTable,
    /// Anti-sniping rule.
    pub soft_close: Option<SoftClose>,
    /// Bids place credit holds (SPEC §3.1).
    pub credit_check: bool,
}

/// Terms of a fixed-price (or free, price 0) listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixedPriceTerms {
    /// The price (0 = free item).
    pub price: Money,
    /// How long a reservation lasts.
    #[serde(with = "crate::time::secs", rename = "holdSecs")]
    pub hold: Duration,
}

/// Everything fixed at creation. Stored in `LotCreated` so that replaying a
/// lot's events rebuilds it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LotTerms {
    /// Who sells it.
    pub seller_id: ParticipantId,
    /// 1–200 Unicode scalar values.
    pub title: Arc<str>,
    /// Every amount on the lot is in this currency.
    pub currency: Currency,
    /// When bidding or reserving may begin.
    pub starts_at: Timestamp,
    /// Scheduled end (english: required; fixed price: optional listing end).
    pub ends_at: Option<Timestamp>,
    /// Buyer's premium on the hammer price.
    pub buyer_premium_rate: PremiumRate,
    /// Time to pay after the sale.
    #[serde(with = "crate::time::secs", rename = "paymentWindowSecs")]
    pub payment_window: Duration,
    /// Format-specific terms.
    pub format: FormatTerms,
}

/// Format-specific terms: an enum, so an english lot cannot have a fixed
/// price nor a fixed-price lot an increment table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum FormatTerms {
    /// English auction terms.
    English(EnglishTerms),
    /// Fixed-price terms.
    FixedPrice(FixedPriceTerms),
}

/// The leading bidder of an English auction and their (private) maximum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leader {
    /// Who leads.
    pub bidder_id: ParticipantId,
    /// Their proxy maximum: private to them and admins.
    pub maximum: Money,
}

/// Live state of an English auction.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnglishState {
    /// None before the first bid.
    pub current_price: Option<Money>,
    /// None before the first bid.
    pub leader: Option<Leader>,
    /// Accepted bids so far.
    pub bid_count: u32,
}

/// A reservation's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Holding the lot until it expires.
    Active,
    /// Purchase confirmed: the lot is sold.
    Completed,
    /// Cancelled by the buyer, the seller or an admin.
    Cancelled,
    /// Ran out of time.
    Expired,
}

impl ReservationStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Active => "active",
            ReservationStatus::Completed => "completed",
            ReservationStatus::Cancelled => "cancelled",
            ReservationStatus::Expired => "expired",
        }
    }
}

/// A fixed-price reservation (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    /// Its id.
    pub reservation_id: ReservationId,
    /// Who reserved.
    pub buyer_id: ParticipantId,
    /// When.
    pub created_at: Timestamp,
    /// `created_at + hold`.
    pub expires_at: Timestamp,
    /// Where it is in its life.
    pub status: ReservationStatus,
}

/// Fixed-price state: every reservation, oldest first (the lot view shows the
/// latest; older ids stay resolvable so a late "complete" gets a precise error).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixedPriceState {
    /// All reservations, oldest first.
    pub reservations: Vec<Reservation>,
}

impl FixedPriceState {
    /// The active reservation, if any.
    pub fn active(&self) -> Option<&Reservation> {
        self.reservations
            .last()
            .filter(|r| r.status == ReservationStatus::Active)
    }

    /// The latest reservation in any status.
    pub fn latest(&self) -> Option<&Reservation> {
        self.reservations.last()
    }

    /// A reservation by id.
    pub fn find(&self, id: &ReservationId) -> Option<&Reservation> {
        self.reservations
            .iter()
            .rev()
            .find(|r| &r.reservation_id == id)
    }
}

/// Format-specific live state, paired with [`FormatTerms`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum FormatState {
    /// English auction state.
    English(EnglishState),
    /// Fixed-price state.
    FixedPrice(FixedPriceState),
}

/// Why an auction ended without a sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsoldReason {
    /// English: nobody bid.
    NoBids,
    /// English: the leader's maximum stayed below the reserve.
    ReserveNotMet,
    /// Fixed price: the listing ended without a completed reservation.
    NoBuyer,
}

impl UnsoldReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnsoldReason::NoBids => "no_bids",
            UnsoldReason::ReserveNotMet => "reserve_not_met",
            UnsoldReason::NoBuyer => "no_buyer",
        }
    }
}

/// What ended the lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// `ends_at` passed.
    Time,
    /// A bidder used buy now.
    BuyNow,
    /// A reservation was completed.
    Reservation,
}

impl EndedBy {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Time => "time",
            EndedBy::BuyNow => "buy_now",
            EndedBy::Reservation => "reservation",
        }
    }
}

/// Sold or not, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SaleResult {
    /// Sold to `winner_id` at `hammer_price`.
    #[serde(rename_all = "camelCase")]
    Sold {
        /// The buyer.
        winner_id: ParticipantId,
        /// The price the lot sold at (never a maximum).
        hammer_price: Money,
    },
    /// Not sold.
    Unsold {
        /// Why.
        reason: UnsoldReason,
    },
}

/// How a closed lot ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// Sold or unsold.
    pub result: SaleResult,
    /// What ended it.
    pub ended_by: EndedBy,
    /// The closing moment (`ends_at` for a timed close).
    pub ended_at: Timestamp,
}

/// A settlement's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementStatus {
    /// Awaiting payment until `due_by`.
    Pending,
    /// Paid (free items start here).
    Paid,
    /// Not paid by `due_by`.
    Defaulted,
}

impl SettlementStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SettlementStatus::Pending => "pending",
            SettlementStatus::Paid => "paid",
            SettlementStatus::Defaulted => "defaulted",
        }
    }
}

/// The invoice a sale creates (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settlement {
    /// Who pays.
    pub buyer_id: ParticipantId,
    /// The sale price.
    pub hammer_price: Money,
    /// `hammer × rate`, half-even to minor units.
    pub buyer_premium: Money,
    /// `hammer + premium`.
    pub total_due: Money,
    /// Closing moment + payment window.
    pub due_by: Timestamp,
    /// Where it is in its life.
    pub status: SettlementStatus,
}

/// A lot: terms plus state. Built only by folding events (the engine's
/// `apply`), so any stored lot can be checked against its event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lot {
    /// Its id.
    pub lot_id: LotId,
    /// Fixed at creation.
    pub terms: Arc<LotTerms>,
    /// When it was created.
    pub created_at: Timestamp,
    /// Lifecycle status.
    pub status: LotStatus,
    /// The current end (english: moves with soft close).
    pub ends_at: Option<Timestamp>,
    /// Format-specific state.
    pub state: FormatState,
    /// Set once closed.
    pub outcome: Option<Outcome>,
    /// Set on a sale.
    pub settlement: Option<Settlement>,
    /// Who cancelled, once cancelled.
    pub cancelled_by: Option<ParticipantId>,
    /// Sequence of the last event: the compare-and-set token.
    pub sequence: u64,
}

impl Lot {
    /// The lot's seller.
    #[inline]
    pub fn seller_id(&self) -> &ParticipantId {
        &self.terms.seller_id
    }

    /// The lot's currency.
    #[inline]
    pub fn currency(&self) -> Currency {
        self.terms.currency
    }

    /// The format.
    pub fn format(&self) -> Format {
        match self.terms.format {
            FormatTerms::English(_) => Format::English,
            FormatTerms::FixedPrice(_) => Format::FixedPrice,
        }
    }

    /// English terms and state, if an English auction.
    #[inline]
    pub fn english(&self) -> Option<(&EnglishTerms, &EnglishState)> {
        match (&self.terms.format, &self.state) {
            (FormatTerms::English(t), FormatState::English(s)) => Some((t, s)),
            _ => None,
        }
    }

    /// Fixed-price terms and state, if a fixed-price listing.
    pub fn fixed_price(&self) -> Option<(&FixedPriceTerms, &FixedPriceState)> {
        match (&self.terms.format, &self.state) {
            (FormatTerms::FixedPrice(t), FormatState::FixedPrice(s)) => Some((t, s)),
            _ => None,
        }
    }

    /// `reserve_met` (SPEC §2): true with no reserve (and for fixed price);
    /// else the leader's maximum ≥ reserve, false with no leader.
    #[inline]
    pub fn reserve_met(&self) -> bool {
        match self.english() {
            Some((terms, state)) => match terms.reserve_price {
                None => true,
                Some(reserve) => state.leader.as_ref().is_some_and(|l| l.maximum >= reserve),
            },
            None => true,
        }
    }

    /// `min_next_bid` (SPEC §2): the starting price with no leader, else
    /// `current_price + inc(current_price)`. None for fixed price.
    #[inline]
    pub fn min_next_bid(&self) -> Option<Money> {
        let (terms, state) = self.english()?;
        Some(match state.current_price {
            Some(price) if state.leader.is_some() => {
                price.plus(terms.increments.increment_at(price))
            }
            _ => terms.starting_price,
        })
    }

    /// Buy now is available (SPEC §2.4): the lot is open, has a buy-now
    /// price, and either no bid was accepted or a reserve is set and not met.
    pub fn buy_now_available(&self) -> bool {
        match self.english() {
            Some((terms, state)) => {
                self.status == LotStatus::Open
                    && terms.buy_now_price.is_some()
                    && (state.bid_count == 0
                        || terms.reserve_price.is_some() && !self.reserve_met())
            }
            None => false,
        }
    }
}

/// One accepted bid in a lot's history (SPEC §2.2). `maximum` is private to
/// its bidder and admins; hosts strip it for everyone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BidRecord {
    /// The bid's id.
    pub bid_id: BidId,
    /// 1 … bid_count.
    pub bid_number: u32,
    /// Sequence of its `BidAccepted` event.
    pub sequence: u64,
    /// Who bid.
    pub bidder_id: ParticipantId,
    /// Their maximum (private).
    pub maximum: Money,
    /// The lot's price right after this bid.
    pub current_price: Money,
    /// When it was placed.
    pub placed_at: Timestamp,
    /// Leading or outbid at the time it was placed.
    pub outcome: BidOutcome,
}

impl BidRecord {
    /// The history record a `BidAccepted` event stands for (None for any
    /// other event): a lot's bid history is implied by its log, and every
    /// store and the service derive it here, alike.
    pub fn implied_by(event: &crate::event::SequencedEvent) -> Option<Self> {
        let crate::event::Event::BidAccepted(bid) = &event.event else {
            return None;
        };
        Some(Self {
            bid_id: bid.bid_id.clone(),
            bid_number: bid.bid_number,
            sequence: event.sequence,
            bidder_id: bid.bidder_id.clone(),
            maximum: bid.maximum,
            current_price: bid.current_price,
            placed_at: event.occurred_at,
            outcome: bid.outcome(),
        })
    }

    /// True if `bids` are exactly the records `events` imply (one
    /// [`BidRecord::implied_by`] per `BidAccepted`, in order), checked
    /// without building them: what the service commits, so a store can
    /// keep the events alone and derive the history from them.
    pub fn are_implied_by(events: &[crate::event::SequencedEvent], bids: &[BidRecord]) -> bool {
        let mut bids = bids.iter();
        for e in events {
            let crate::event::Event::BidAccepted(bid) = &e.event else {
                continue;
            };
            let Some(record) = bids.next() else {
                return false;
            };
            if record.bid_id != bid.bid_id
                || record.bid_number != bid.bid_number
                || record.sequence != e.sequence
                || record.bidder_id != bid.bidder_id
                || record.maximum != bid.maximum
                || record.current_price != bid.current_price
                || record.placed_at != e.occurred_at
                || record.outcome != bid.outcome()
            {
                return false;
            }
        }
        bids.next().is_none()
    }
}

/// A bid's outcome when it was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BidOutcome {
    /// The bidder leads.
    Leading,
    /// Someone else's maximum is at least as high.
    Outbid,
}

impl BidOutcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            BidOutcome::Leading => "leading",
            BidOutcome::Outbid => "outbid",
        }
    }
}
