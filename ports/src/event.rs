//! Events: what happened to a lot, past tense, numbered by the lot's
//! gapless `sequence`. The stored form keeps private facts (a bidder's
//! maximum, the lot's full terms) so a lot can be rebuilt exactly from its
//! log; [`EventEnvelope::to_public_json`] is the public form of SPEC §6,
//! which never carries a maximum or the reserve.

use crate::ids::{BidId, LotId, ParticipantId, ReservationId};
use crate::lot::{EndedBy, LotTerms, UnsoldReason};
use crate::money::Money;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::sync::Arc;

/// Version of the event schema; carried in every envelope.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// A new lot and all its terms (the public form keeps only seller, format,
/// title, currency, start and end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LotCreated {
    /// Everything fixed at creation.
    pub terms: Arc<LotTerms>,
}

/// An accepted bid (SPEC §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BidAccepted {
    /// The bid's id.
    pub bid_id: BidId,
    /// 1 … bid_count.
    pub bid_number: u32,
    /// Who bid.
    pub bidder_id: ParticipantId,
    /// The bidder's maximum. Private: stored, never published.
    pub maximum: Money,
    /// Price after proxy resolution and the reserve jump.
    pub current_price: Money,
    /// Who leads after the bid.
    pub leader_id: ParticipantId,
    /// Accepted bids so far, this one included.
    pub bid_count: u32,
}

impl BidAccepted {
    /// Whether the bidder leads right after this bid.
    pub fn outcome(&self) -> crate::lot::BidOutcome {
        if self.leader_id == self.bidder_id {
            crate::lot::BidOutcome::Leading
        } else {
            crate::lot::BidOutcome::Outbid
        }
    }
}

/// How an auction ended (SPEC §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuctionEnded {
    /// The buyer, on a sale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winner_id: Option<ParticipantId>,
    /// The hammer price, on a sale (never a maximum).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winning_bid: Option<Money>,
    /// Accepted bids.
    pub total_bids: u32,
    /// Sold or unsold.
    pub outcome: SaleKind,
    /// Why unsold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<UnsoldReason>,
    /// What ended it.
    pub ended_by: EndedBy,
}

/// `AuctionEnded.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleKind {
    /// Sold.
    Sold,
    /// Not sold.
    Unsold,
}

/// The invoice of a sale (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementCreated {
    /// Who pays.
    pub buyer_id: ParticipantId,
    /// The sale price.
    pub hammer_price: Money,
    /// Premium, half-even to minor units.
    pub buyer_premium: Money,
    /// Hammer + premium; 0 means a free item, created paid.
    pub total_due: Money,
    /// Payment deadline.
    pub due_by: Timestamp,
}

/// Something that happened to a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "eventType", rename_all_fields = "camelCase")]
pub enum Event {
    /// The lot exists.
    LotCreated(LotCreated),
    /// Its start has come.
    LotOpened {},
    /// A bid was accepted.
    BidAccepted(BidAccepted),
    /// A bidder lost the lead (or never got it: SPEC §2.2 case 4).
    Outbid {
        /// Who was outbid.
        bidder_id: ParticipantId,
        /// The price now.
        current_price: Money,
    },
    /// Soft close moved the end.
    LotExtended {
        /// The new end.
        ends_at: Timestamp,
    },
    /// The auction or listing ended.
    AuctionEnded(AuctionEnded),
    /// Cancelled.
    LotCancelled {
        /// Who cancelled (participant id).
        by: ParticipantId,
    },
    /// A fixed-price lot was reserved.
    ReservationCreated {
        /// The reservation.
        reservation_id: ReservationId,
        /// Who reserved.
        buyer_id: ParticipantId,
        /// The seller.
        seller_id: ParticipantId,
        /// When it lapses.
        expires_at: Timestamp,
    },
    /// The purchase was confirmed.
    ReservationCompleted {
        /// The reservation.
        reservation_id: ReservationId,
    },
    /// The reservation was cancelled.
    ReservationCancelled {
        /// The reservation.
        reservation_id: ReservationId,
    },
    /// The reservation ran out.
    ReservationExpired {
        /// The reservation.
        reservation_id: ReservationId,
    },
    /// A sale's settlement.
    SettlementCreated(SettlementCreated),
    /// Payment recorded.
    SettlementPaid {},
    /// Not paid in time.
    SettlementDefaulted {},
}

impl Event {
    /// The `eventType` name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::LotCreated(_) => "LotCreated",
            Event::LotOpened {} => "LotOpened",
            Event::BidAccepted(_) => "BidAccepted",
            Event::Outbid { .. } => "Outbid",
            Event::LotExtended { .. } => "LotExtended",
            Event::AuctionEnded(_) => "AuctionEnded",
            Event::LotCancelled { .. } => "LotCancelled",
            Event::ReservationCreated { .. } => "ReservationCreated",
            Event::ReservationCompleted { .. } => "ReservationCompleted",
            Event::ReservationCancelled { .. } => "ReservationCancelled",
            Event::ReservationExpired { .. } => "ReservationExpired",
            Event::SettlementCreated(_) => "SettlementCreated",
            Event::SettlementPaid {} => "SettlementPaid",
            Event::SettlementDefaulted {} => "SettlementDefaulted",
        }
    }
}

/// An event with its place in the lot's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SequencedEvent {
    /// 1, 2, 3 … without gaps, per lot.
    pub sequence: u64,
    /// When it happened (a timed close: `ends_at`, SPEC §9).
    pub occurred_at: Timestamp,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// The events one command produced. Inline up to four (a bid emits at most
/// `BidAccepted`, `Outbid`, `LotExtended`), so the hot path does not allocate.
pub type Events = SmallVec<[SequencedEvent; 4]>;

/// An event with its lot: the unit stores persist and publishers deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEnvelope {
    /// Schema version ([`EVENT_SCHEMA_VERSION`]).
    pub version: u32,
    /// The lot.
    pub lot_id: LotId,
    /// The event and its sequence.
    #[serde(flatten)]
    pub event: SequencedEvent,
}

/// Fields that the public form of each event keeps (`None`: all of them).
fn public_fields(event: &Event) -> Option<&'static [&'static str]> {
    match event {
        Event::BidAccepted(_) => Some(&[
            "bidId",
            "bidNumber",
            "bidderId",
            "currentPrice",
            "leaderId",
            "bidCount",
        ]),
        _ => None,
    }
}

impl EventEnvelope {
    /// Wraps an event of `lot_id` at the current schema version.
    pub fn new(lot_id: LotId, event: SequencedEvent) -> Self {
        Self {
            version: EVENT_SCHEMA_VERSION,
            lot_id,
            event,
        }
    }

    /// Deterministic, globally unique event id: `<lotId>:<sequence>`. Lets a
    /// subscriber that receives an event twice (at-least-once) drop the copy.
    pub fn event_id(&self) -> String {
        format!("{}:{}", self.lot_id, self.event.sequence)
    }

    /// The public form (SPEC §6): `{eventId, eventType, version, lotId,
    /// sequence, occurredAt, …payload}`, without maximums or the reserve.
    pub fn to_public_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value, json};
        let mut out = Map::new();
        out.insert("eventId".into(), Value::String(self.event_id()));
        out.insert(
            "eventType".into(),
            Value::String(self.event.event.event_type().into()),
        );
        out.insert("version".into(), json!(self.version));
        out.insert("lotId".into(), Value::String(self.lot_id.to_string()));
        out.insert("sequence".into(), json!(self.event.sequence));
        out.insert("occurredAt".into(), json!(self.event.occurred_at));
        match &self.event.event {
            Event::LotCreated(c) => {
                let t = &c.terms;
                out.insert("sellerId".into(), json!(t.seller_id));
                let format = match t.format {
                    crate::lot::FormatTerms::English(_) => "english",
                    crate::lot::FormatTerms::FixedPrice(_) => "fixed_price",
                };
                out.insert("format".into(), json!(format));
                out.insert("title".into(), json!(t.title));
                out.insert("currency".into(), json!(t.currency));
                out.insert("startsAt".into(), json!(t.starts_at));
                out.insert("endsAt".into(), json!(t.ends_at));
            }
            other => {
                if let Ok(Value::Object(payload)) = serde_json::to_value(other) {
                    let keep = public_fields(other);
                    for (k, v) in payload {
                        if k == "eventType" || keep.is_some_and(|f| !f.contains(&k.as_str())) {
                            continue;
                        }
                        out.insert(k, v);
                    }
                }
            }
        }
        Value::Object(out)
    }
}
