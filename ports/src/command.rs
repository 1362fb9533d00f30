//! Commands: what participants and timers ask of a lot. Imperative names;
//! each is applied to its lot one at a time, in arrival order.

use crate::ids::{BidId, CommandId, LotId, ParticipantId, ReservationId};
use crate::lot::Format;
use crate::money::{Currency, CurrencyCode};
use crate::time::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Version of the command envelope schema (queues and idempotency records).
pub const COMMAND_SCHEMA_VERSION: u32 = 1;

/// A participant's roles (SPEC §1), as a small bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Roles(u8);

impl Roles {
    /// No roles.
    pub const NONE: Roles = Roles(0);
    /// May create lots.
    pub const SELLER: Roles = Roles(1);
    /// May bid, buy and reserve.
    pub const BIDDER: Roles = Roles(2);
    /// May do anything an admin may (cancel any lot, set credit).
    pub const ADMIN: Roles = Roles(4);

    /// The union of two sets.
    #[must_use]
    pub const fn with(self, other: Roles) -> Roles {
        Roles(self.0 | other.0)
    }

    /// True if every role of `other` is in `self`.
    pub const fn contains(self, other: Roles) -> bool {
        self.0 & other.0 == other.0
    }

    /// Parses a role name; unknown names are ignored by [`Roles::from_names`].
    pub fn from_name(name: &str) -> Option<Roles> {
        match name {
            "seller" => Some(Roles::SELLER),
            "bidder" => Some(Roles::BIDDER),
            "admin" => Some(Roles::ADMIN),
            _ => None,
        }
    }

    /// The set named by `names`, ignoring names that are not roles (a token
    /// may carry roles of other systems).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Roles {
        names
            .into_iter()
            .filter_map(Roles::from_name)
            .fold(Roles::NONE, Roles::with)
    }

    /// The role names, in a fixed order.
    pub fn names(self) -> Vec<String> {
        [
            (Roles::SELLER, "seller"),
            (Roles::BIDDER, "bidder"),
            (Roles::ADMIN, "admin"),
        ]
        .into_iter()
        .filter(|(r, _)| self.contains(*r))
        .map(|(_, n)| n.to_owned())
        .collect()
    }
}

/// Why a role list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

impl TryFrom<Vec<String>> for Roles {
    type Error = UnknownRole;
    fn try_from(names: Vec<String>) -> Result<Self, UnknownRole> {
        names.iter().try_fold(Roles::NONE, |acc, n| {
            Roles::from_name(n)
                .map(|r| acc.with(r))
                .ok_or_else(|| UnknownRole(n.clone()))
        })
    }
}
impl From<Roles> for Vec<String> {
    fn from(r: Roles) -> Self {
        r.names()
    }
}

/// Who issues a command: an authenticated participant and their roles.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// The participant (JWT `sub`).
    pub participant_id: ParticipantId,
    /// Their roles.
    pub roles: Roles,
}

impl Actor {
    /// An actor with the given roles.
    pub fn new(participant_id: ParticipantId, roles: Roles) -> Self {
        Self {
            participant_id,
            roles,
        }
    }

    /// A bidder (role `bidder`).
    pub fn bidder(participant_id: ParticipantId) -> Self {
        Self::new(participant_id, Roles::BIDDER)
    }

    /// A seller (role `seller`).
    pub fn seller(participant_id: ParticipantId) -> Self {
        Self::new(participant_id, Roles::SELLER)
    }

    /// An admin (role `admin`).
    pub fn admin(participant_id: ParticipantId) -> Self {
        Self::new(participant_id, Roles::ADMIN)
    }

    /// True if the actor is an admin.
    pub fn is_admin(&self) -> bool {
        self.roles.contains(Roles::ADMIN)
    }
}

/// One increment tier as given by a client, validated at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierInput {
    /// Lowest price of the tier.
    pub from: Decimal,
    /// Its step.
    pub step: Decimal,
}

/// Soft-close parameters as given by a client (whole seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftCloseInput {
    /// Window before the end in which a bid extends the lot.
    pub window_secs: i64,
    /// How far past the bid the end moves.
    pub extension_secs: i64,
}

/// Create a lot. Values arrive raw (exact decimals, whole seconds) and the
/// engine validates them into [`LotTerms`](crate::LotTerms) with typed errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLot {
    /// The id the new lot gets (from the [`IdGenerator`](crate::IdGenerator)).
    pub lot_id: LotId,
    /// Who sells; needs the `seller` role.
    pub seller: Actor,
    /// 1–200 characters.
    pub title: String,
    /// English or fixed price.
    pub format: Format,
    /// The lot's currency.
    pub currency: Currency,
    /// English: first acceptable bid.
    pub starting_price: Option<Decimal>,
    /// English: private reserve.
    pub reserve_price: Option<Decimal>,
    /// English: buy-now price.
    pub buy_now_price: Option<Decimal>,
    /// English: custom increment table.
    pub increments: Option<Vec<TierInput>>,
    /// English: anti-sniping.
    pub soft_close: Option<SoftCloseInput>,
    /// Buyer's premium rate (0 ≤ r < 1).
    pub buyer_premium_rate: Option<Decimal>,
    /// English: bids place credit holds.
    pub credit_check: Option<bool>,
    /// Seconds to pay after a sale (default 72 h).
    pub payment_window_secs: Option<i64>,
    /// Fixed price: the price (0 = free).
    pub price: Option<Decimal>,
    /// Fixed price: reservation hold seconds (default 24 h).
    pub hold_secs: Option<i64>,
    /// Start (default now; a past start means now).
    pub starts_at: Option<Timestamp>,
    /// English: required end; fixed price: optional listing end.
    pub ends_at: Option<Timestamp>,
}

impl CreateLot {
    /// A minimal English auction request; set the optional fields directly.
    pub fn english(
        lot_id: LotId,
        seller: Actor,
        title: impl Into<String>,
        currency: Currency,
        starting_price: Decimal,
        ends_at: Timestamp,
    ) -> Self {
        Self {
            starting_price: Some(starting_price),
            ends_at: Some(ends_at),
            ..Self::blank(lot_id, seller, title.into(), Format::English, currency)
        }
    }

    /// A minimal fixed-price listing request (price 0 for a free item).
    pub fn fixed_price(
        lot_id: LotId,
        seller: Actor,
        title: impl Into<String>,
        currency: Currency,
        price: Decimal,
    ) -> Self {
        Self {
            price: Some(price),
            ..Self::blank(lot_id, seller, title.into(), Format::FixedPrice, currency)
        }
    }

    fn blank(
        lot_id: LotId,
        seller: Actor,
        title: String,
        format: Format,
        currency: Currency,
    ) -> Self {
        Self {
            lot_id,
            seller,
            title,
            format,
            currency,
            starting_price: None,
            reserve_price: None,
            buy_now_price: None,
            increments: None,
            soft_close: None,
            buyer_premium_rate: None,
            credit_check: None,
            payment_window_secs: None,
            price: None,
            hold_secs: None,
            starts_at: None,
            ends_at: None,
        }
    }
}

/// Place (or raise) a proxy bid: `amount` is the bidder's maximum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceBid {
    /// The bidder; needs the `bidder` role.
    pub bidder: Actor,
    /// The maximum, exact, validated against the lot's currency by the engine.
    pub amount: Decimal,
    /// Optional currency; must equal the lot's.
    pub currency: Option<CurrencyCode>,
    /// The id the bid gets if accepted (from the [`IdGenerator`](crate::IdGenerator)).
    pub bid_id: BidId,
}

/// A command to a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum Command {
    /// Create a lot (SPEC §2, §3).
    CreateLot(Box<CreateLot>),
    /// Bid (SPEC §2.1–2.3).
    PlaceBid(PlaceBid),
    /// Buy now (SPEC §2.4).
    BuyNow {
        /// The buyer; needs the `bidder` role.
        buyer: Actor,
    },
    /// Cancel the lot (SPEC §2.4, §9).
    CancelLot {
        /// The seller or an admin.
        by: Actor,
    },
    /// Reserve a fixed-price lot (SPEC §3).
    Reserve {
        /// The buyer; needs the `bidder` role.
        buyer: Actor,
        /// The id the reservation gets (from the [`IdGenerator`](crate::IdGenerator)).
        reservation_id: ReservationId,
    },
    /// Confirm a reservation's purchase (SPEC §3).
    CompleteReservation {
        /// The seller, the buyer or an admin.
        by: Actor,
        /// Which reservation.
        reservation_id: ReservationId,
    },
    /// Cancel a reservation (SPEC §3).
    CancelReservation {
        /// The seller, the buyer or an admin.
        by: Actor,
        /// Which reservation.
        reservation_id: ReservationId,
    },
    /// Record the settlement's payment (SPEC §4).
    RecordPayment {
        /// The buyer or an admin.
        by: Actor,
    },
    /// Apply whatever is due (close, reservation expiry, payment default,
    /// opening). Issued by timers; never rejected for timing.
    Advance,
}

impl Command {
    /// The participant that issued the command (None for timers).
    pub fn actor(&self) -> Option<&Actor> {
        match self {
            Command::CreateLot(c) => Some(&c.seller),
            Command::PlaceBid(b) => Some(&b.bidder),
            Command::BuyNow { buyer } | Command::Reserve { buyer, .. } => Some(buyer),
            Command::CancelLot { by }
            | Command::CompleteReservation { by, .. }
            | Command::CancelReservation { by, .. }
            | Command::RecordPayment { by } => Some(by),
            Command::Advance => None,
        }
    }

    /// The command's name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateLot(_) => "create_lot",
            Command::PlaceBid(_) => "place_bid",
            Command::BuyNow { .. } => "buy_now",
            Command::CancelLot { .. } => "cancel_lot",
            Command::Reserve { .. } => "reserve",
            Command::CompleteReservation { .. } => "complete_reservation",
            Command::CancelReservation { .. } => "cancel_reservation",
            Command::RecordPayment { .. } => "record_payment",
            Command::Advance => "advance",
        }
    }

    /// Idempotency (SPEC §5): true if `other` is the same request, ignoring
    /// the ids the service generated for each submission (lot, bid and
    /// reservation ids), which differ between a first try and its retry.
    pub fn same_request(&self, other: &Command) -> bool {
        match (self, other) {
            (Command::CreateLot(a), Command::CreateLot(b)) => {
                CreateLot {
                    lot_id: b.lot_id.clone(),
                    ..(**a).clone()
                } == **b
            }
            (Command::PlaceBid(a), Command::PlaceBid(b)) => {
                a.bidder == b.bidder && a.amount == b.amount && a.currency == b.currency
            }
            (Command::Reserve { buyer: a, .. }, Command::Reserve { buyer: b, .. }) => a == b,
            (a, b) => a == b,
        }
    }
}

/// A command addressed to a lot, with its idempotency key: what queues carry
/// and what the service sequences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandEnvelope {
    /// Schema version ([`COMMAND_SCHEMA_VERSION`]).
    pub version: u32,
    /// Idempotency key, scoped to the lot and the submitter.
    pub command_id: CommandId,
    /// The target lot (for `CreateLot`, the new lot's id).
    pub lot_id: LotId,
    /// The command.
    pub command: Command,
}

impl CommandEnvelope {
    /// Wraps a command at the current schema version.
    pub fn new(command_id: CommandId, lot_id: LotId, command: Command) -> Self {
        Self {
            version: COMMAND_SCHEMA_VERSION,
            command_id,
            lot_id,
            command,
        }
    }

    /// Who submitted it, for idempotency scoping (timers: None).
    pub fn submitter(&self) -> Option<&ParticipantId> {
        self.command.actor().map(|a| &a.participant_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> ParticipantId {
        ParticipantId::new(s).expect("id")
    }

    #[test]
    fn roles_parse_and_serialize_as_names() {
        let roles = Roles::from_names(["bidder", "admin", "other"]);
        assert!(roles.contains(Roles::BIDDER) && roles.contains(Roles::ADMIN));
        assert!(!roles.contains(Roles::SELLER));
        assert_eq!(
            serde_json::to_string(&roles).expect("json"),
            r#"["bidder","admin"]"#
        );
        assert!(serde_json::from_str::<Roles>(r#"["root"]"#).is_err());
    }

    #[test]
    fn a_retry_with_new_generated_ids_is_the_same_request() {
        let bid = |id: &str, amount: i64| {
            Command::PlaceBid(PlaceBid {
                bidder: Actor::bidder(pid("ann")),
                amount: Decimal::new(amount, 0),
                currency: None,
                bid_id: BidId::new(id).expect("id"),
            })
        };
        assert!(bid("b1", 10).same_request(&bid("b2", 10)));
        assert!(!bid("b1", 10).same_request(&bid("b1", 11)));
        assert!(!bid("b1", 10).same_request(&Command::Advance));
    }

    #[test]
    fn envelopes_round_trip_through_json() {
        let env = CommandEnvelope::new(
            CommandId::new("k1").expect("id"),
            LotId::new("lot").expect("id"),
            Command::PlaceBid(PlaceBid {
                bidder: Actor::bidder(pid("ann")),
                amount: Decimal::new(1250, 2),
                currency: Some(CurrencyCode::new("USD").expect("code")),
                bid_id: BidId::new("b1").expect("id"),
            }),
        );
        let json = serde_json::to_string(&env).expect("json");
        assert!(json.contains(r#""type":"PlaceBid""#), "{json}");
        assert!(json.contains(r#""amount":"12.50""#), "{json}");
        let back: CommandEnvelope = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, env);
    }
}
