//! A compact binary form for the bodies every bid writes: a log row's
//! events (`BidAccepted`, `Outbid`, `LotExtended`, `LotOpened`), a bid's
//! command record (`PlaceBid` and its outcome) and an English lot's state.
//!
//! Why not JSON for these: encoding them as JSON (RFC 3339 timestamps,
//! decimal strings, escaped field names) was over a third of the
//! instructions a durable bid cost, and two to four times the bytes. Why
//! not a serde binary format (postcard, bincode): the ports' enums are
//! internally tagged (`#[serde(tag = ...)]`) and `SequencedEvent` flattens
//! its event, which only self-describing formats can read back.
//!
//! Every compact body starts with [`COMPACT_V1`], a byte JSON never starts
//! with (serde_json writes an object or an array: `{` or `[`), so a column
//! can hold both forms side by side: rows written before this format, and
//! shapes it does not cover (other events, other commands, fixed-price
//! state, closed lots), stay JSON and read back as before. The encoders
//! return `None` for what they do not cover; the caller then writes JSON.
//!
//! Layout: integers as LEB128 varints (signed ones zigzagged), text as a
//! varint length and UTF-8 bytes, money as its count of minor units and
//! its scale, decimals as `rust_decimal`'s exact 16-byte form, timestamps
//! as Unix seconds and nanoseconds. Everything reads back exactly (the
//! tests compare whole values).

use crate::codec::BadCompact;
use hammerfall_ports::{
    Accepted, Actor, BidAccepted, BidOutcome, Command, CommandOutcome, Currency, CurrencyCode,
    Decimal, EnglishState, Event, FormatState, Leader, LotStatus, Money, ParticipantId, PlaceBid,
    Roles, SequencedEvent, StoreError, Timestamp,
};

/// First byte of a compact body (version 1 of this layout).
pub(crate) const COMPACT_V1: u8 = 0x01;

/// First byte of a padded compact lot state (schema version 4 on): the
/// layout of [`COMPACT_V1`], then zero bytes up to a multiple of
/// [`STATE_PAD`].
pub(crate) const COMPACT_PADDED: u8 = 0x02;

/// Lot states are zero-padded to a multiple of this many bytes. Every bid
/// rewrites its lot's state, and a state one byte longer or shorter than
/// the last (another bidder's id, a price that needs one more varint
/// byte) changes the row's size: SQLite then deletes and reinserts the
/// cell, and where the row grows in a full page it rebalances the page
/// with its siblings (packing them full again, so the next growth there
/// rebalances again). Rows that keep their size are overwritten in place.
pub(crate) const STATE_PAD: usize = 32;

/// True if `bytes` is a compact body (else JSON).
pub(crate) fn is_compact(bytes: &[u8]) -> bool {
    bytes.first() == Some(&COMPACT_V1)
}

/// True if `bytes` is a compact lot state, padded or not (else JSON).
pub(crate) fn is_compact_state(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(&(COMPACT_V1 | COMPACT_PADDED)))
}

// Event kinds.
const EV_BID_ACCEPTED: u8 = 1;
const EV_OUTBID: u8 = 2;
const EV_LOT_EXTENDED: u8 = 3;
const EV_LOT_OPENED: u8 = 4;

// Command outcome kinds.
const OUT_BID: u8 = 1;
const OUT_LOT: u8 = 2;
const OUT_REJECTED: u8 = 3;

// Flags of a command body.
const CMD_LOT_ID: u8 = 1;
const CMD_CURRENCY: u8 = 2;
const CMD_SAME_BID_ID: u8 = 4;

// Flags of a lot state.
const ST_ENDS_AT: u8 = 1;
const ST_PRICE: u8 = 2;
const ST_LEADER: u8 = 4;
const ST_CANCELLED_BY: u8 = 8;

/// A body being written.
struct Out(Vec<u8>);

impl Out {
    fn new(capacity: usize) -> Self {
        let mut v = Vec::with_capacity(capacity);
        v.push(COMPACT_V1);
        Self(v)
    }

    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    #[expect(
        clippy::cast_possible_truncation,
        reason = "below 0x80 after the loop: seven bits"
    )]
    fn uint(&mut self, mut n: u64) {
        while n >= 0x80 {
            // The low seven bits, with the continuation bit.
            self.0.push((n & 0x7f) as u8 | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    fn int(&mut self, n: i64) {
        self.uint(((n << 1) ^ (n >> 63)) as u64);
    }

    fn text(&mut self, s: &str) {
        self.uint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    /// A timestamp; `None` for a leap second (its nanoseconds are past a
    /// second, which `from_timestamp` does not take back).
    fn time(&mut self, t: &Timestamp) -> Option<()> {
        let nanos = t.timestamp_subsec_nanos();
        if nanos >= 1_000_000_000 {
            return None;
        }
        self.int(t.timestamp());
        self.uint(u64::from(nanos));
        Some(())
    }

    /// An amount; `None` if no currency has its scale (never for an amount
    /// the engine made: those are at their lot currency's scale).
    fn money(&mut self, m: Money) -> Option<()> {
        let scale = m.amount().scale();
        currency_of_scale(scale)?;
        self.int(m.minor_units());
        self.byte(u8::try_from(scale).ok()?);
        Some(())
    }
}

/// A currency whose minor units are `scale`, to rebuild a [`Money`] (whose
/// scale, not its currency, is what it carries).
fn currency_of_scale(scale: u32) -> Option<Currency> {
    // The usual scales first, without a search.
    for usual in [Currency::USD, Currency::JPY] {
        if usual.minor_units() == scale {
            return Some(usual);
        }
    }
    Currency::ALL
        .iter()
        .copied()
        .find(|c| c.minor_units() == scale)
}

/// A body being read.
struct In<'a> {
    bytes: &'a [u8],
}

fn bad(what: &'static str) -> StoreError {
    StoreError::Corrupt(Box::new(BadCompact(what)))
}

impl<'a> In<'a> {
    /// Past the leading [`COMPACT_V1`].
    fn new(bytes: &'a [u8]) -> Result<Self, StoreError> {
        match bytes.split_first() {
            Some((&COMPACT_V1, rest)) => Ok(Self { bytes: rest }),
            _ => Err(bad("not a compact body")),
        }
    }

    fn byte(&mut self) -> Result<u8, StoreError> {
        let (&b, rest) = self.bytes.split_first().ok_or_else(|| bad("truncated"))?;
        self.bytes = rest;
        Ok(b)
    }

    fn uint(&mut self) -> Result<u64, StoreError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(bad("varint too long"))
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        u32::try_from(self.uint()?).map_err(|_| bad("count out of range"))
    }

    fn int(&mut self) -> Result<i64, StoreError> {
        let n = self.uint()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], StoreError> {
        if self.bytes.len() < len {
            return Err(bad("truncated"));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn text(&mut self) -> Result<&'a str, StoreError> {
        let len = usize::try_from(self.uint()?).map_err(|_| bad("length out of range"))?;
        std::str::from_utf8(self.take(len)?).map_err(|_| bad("text is not UTF-8"))
    }

    fn id<T>(
        &mut self,
        make: impl FnOnce(&'a str) -> Result<T, hammerfall_ports::IdError>,
    ) -> Result<T, StoreError> {
        make(self.text()?).map_err(|e| StoreError::Corrupt(Box::new(e)))
    }

    fn participant(&mut self) -> Result<ParticipantId, StoreError> {
        self.id(ParticipantId::new)
    }

    fn time(&mut self) -> Result<Timestamp, StoreError> {
        let secs = self.int()?;
        let nanos = self.u32()?;
        Timestamp::from_timestamp(secs, nanos).ok_or_else(|| bad("timestamp out of range"))
    }

    fn money(&mut self) -> Result<Money, StoreError> {
        let minor = self.int()?;
        let scale = self.byte()?;
        let currency = currency_of_scale(u32::from(scale)).ok_or_else(|| bad("money scale"))?;
        if minor < 0 {
            return Err(bad("negative money"));
        }
        Ok(Money::from_minor(minor, currency))
    }

    fn decimal(&mut self) -> Result<Decimal, StoreError> {
        let raw: [u8; 16] = self
            .take(16)?
            .try_into()
            .map_err(|_| bad("truncated decimal"))?;
        Ok(Decimal::deserialize(raw))
    }

    /// The zero bytes a padded state ends with (fewer than [`STATE_PAD`]).
    fn padding(&self) -> Result<(), StoreError> {
        if self.bytes.len() < STATE_PAD && self.bytes.iter().all(|b| *b == 0) {
            Ok(())
        } else {
            Err(bad("bad padding"))
        }
    }

    fn end(&self) -> Result<(), StoreError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(bad("trailing bytes"))
        }
    }
}

/// A log row's events, if every one is of a kind this form covers.
pub(crate) fn encode_events(events: &[SequencedEvent]) -> Option<Vec<u8>> {
    let mut out = Out::new(16 + 64 * events.len());
    out.uint(events.len() as u64);
    for e in events {
        out.uint(e.sequence);
        out.time(&e.occurred_at)?;
        match &e.event {
            Event::BidAccepted(b) => {
                out.byte(EV_BID_ACCEPTED);
                out.text(b.bid_id.as_str());
                out.uint(u64::from(b.bid_number));
                out.text(b.bidder_id.as_str());
                out.money(b.maximum)?;
                out.money(b.current_price)?;
                out.text(b.leader_id.as_str());
                out.uint(u64::from(b.bid_count));
            }
            Event::Outbid {
                bidder_id,
                current_price,
            } => {
                out.byte(EV_OUTBID);
                out.text(bidder_id.as_str());
                out.money(*current_price)?;
            }
            Event::LotExtended { ends_at } => {
                out.byte(EV_LOT_EXTENDED);
                out.time(ends_at)?;
            }
            Event::LotOpened {} => out.byte(EV_LOT_OPENED),
            _ => return None,
        }
    }
    Some(out.0)
}

/// A compact log row's events.
pub(crate) fn decode_events(bytes: &[u8]) -> Result<Vec<SequencedEvent>, StoreError> {
    let mut r = In::new(bytes)?;
    let count = usize::try_from(r.uint()?).map_err(|_| bad("count out of range"))?;
    // Each event takes at least three bytes: no allocation from a bad count.
    let mut events = Vec::with_capacity(count.min(r.bytes.len() / 3));
    for _ in 0..count {
        let sequence = r.uint()?;
        let occurred_at = r.time()?;
        let event = match r.byte()? {
            EV_BID_ACCEPTED => Event::BidAccepted(BidAccepted {
                bid_id: r.id(hammerfall_ports::BidId::new)?,
                bid_number: r.u32()?,
                bidder_id: r.participant()?,
                maximum: r.money()?,
                current_price: r.money()?,
                leader_id: r.participant()?,
                bid_count: r.u32()?,
            }),
            EV_OUTBID => Event::Outbid {
                bidder_id: r.participant()?,
                current_price: r.money()?,
            },
            EV_LOT_EXTENDED => Event::LotExtended { ends_at: r.time()? },
            EV_LOT_OPENED => Event::LotOpened {},
            _ => return Err(bad("unknown event kind")),
        };
        events.push(SequencedEvent {
            sequence,
            occurred_at,
            event,
        });
    }
    r.end()?;
    Ok(events)
}

/// The parts of a command record a body holds (the key is in the row's
/// key columns).
pub(crate) struct CommandParts<'a> {
    /// The record's lot when it is not the key's.
    pub lot_id: Option<&'a str>,
    pub command: &'a Command,
    pub outcome: &'a CommandOutcome,
    pub recorded_at: &'a Timestamp,
}

/// A command body, if it is a bid (the only command a lot takes by the
/// thousand).
pub(crate) fn encode_command(parts: &CommandParts<'_>) -> Option<Vec<u8>> {
    let Command::PlaceBid(bid) = parts.command else {
        return None;
    };
    let same_bid_id = matches!(
        parts.outcome,
        CommandOutcome::Done { result: Accepted::Bid { bid_id, .. }, .. } if *bid_id == bid.bid_id
    );
    let mut flags = 0;
    if parts.lot_id.is_some() {
        flags |= CMD_LOT_ID;
    }
    if bid.currency.is_some() {
        flags |= CMD_CURRENCY;
    }
    if same_bid_id {
        flags |= CMD_SAME_BID_ID;
    }
    let mut out = Out::new(96);
    out.byte(flags);
    if let Some(lot) = parts.lot_id {
        out.text(lot);
    }
    out.text(bid.bidder.participant_id.as_str());
    out.byte(roles_bits(bid.bidder.roles));
    out.0.extend_from_slice(&bid.amount.serialize());
    if let Some(code) = &bid.currency {
        out.0.extend_from_slice(code.as_str().as_bytes());
    }
    out.text(bid.bid_id.as_str());
    match parts.outcome {
        CommandOutcome::Done {
            result:
                Accepted::Bid {
                    bid_id,
                    outcome,
                    your_maximum,
                },
            sequence,
        } => {
            out.byte(OUT_BID);
            out.uint(*sequence);
            if !same_bid_id {
                out.text(bid_id.as_str());
            }
            out.byte(match outcome {
                BidOutcome::Leading => 0,
                BidOutcome::Outbid => 1,
            });
            out.money(*your_maximum)?;
        }
        CommandOutcome::Done {
            result: Accepted::Lot,
            sequence,
        } => {
            out.byte(OUT_LOT);
            out.uint(*sequence);
        }
        CommandOutcome::Rejected {
            rejection,
            sequence,
        } => {
            // Rejections are many small shapes: their JSON, inside.
            out.byte(OUT_REJECTED);
            out.uint(*sequence);
            let json = serde_json::to_vec(rejection).ok()?;
            out.uint(json.len() as u64);
            out.0.extend_from_slice(&json);
        }
        CommandOutcome::Done { .. } => return None,
    }
    out.time(parts.recorded_at)?;
    Some(out.0)
}

/// The roles as bits (the three roles [`Roles`] knows).
fn roles_bits(roles: Roles) -> u8 {
    [Roles::SELLER, Roles::BIDDER, Roles::ADMIN]
        .iter()
        .enumerate()
        .filter(|(_, r)| roles.contains(**r))
        .fold(0, |bits, (i, _)| bits | 1 << i)
}

fn roles_from_bits(bits: u8) -> Result<Roles, StoreError> {
    if bits & !0b111 != 0 {
        return Err(bad("unknown role bits"));
    }
    Ok([Roles::SELLER, Roles::BIDDER, Roles::ADMIN]
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .fold(Roles::NONE, |roles, (_, r)| roles.with(*r)))
}

/// A compact command body read back.
pub(crate) struct DecodedCommand {
    pub lot_id: Option<hammerfall_ports::LotId>,
    pub command: Command,
    pub outcome: CommandOutcome,
    pub recorded_at: Timestamp,
}

/// A compact command body.
pub(crate) fn decode_command(bytes: &[u8]) -> Result<DecodedCommand, StoreError> {
    let mut r = In::new(bytes)?;
    let flags = r.byte()?;
    let lot_id = if flags & CMD_LOT_ID != 0 {
        Some(r.id(hammerfall_ports::LotId::new)?)
    } else {
        None
    };
    let participant_id = r.participant()?;
    let roles = roles_from_bits(r.byte()?)?;
    let amount = r.decimal()?;
    let currency = if flags & CMD_CURRENCY != 0 {
        let code = std::str::from_utf8(r.take(3)?).map_err(|_| bad("currency"))?;
        Some(CurrencyCode::new(code).map_err(|e| StoreError::Corrupt(Box::new(e)))?)
    } else {
        None
    };
    let bid_id = r.id(hammerfall_ports::BidId::new)?;
    let outcome = match r.byte()? {
        OUT_BID => {
            let sequence = r.uint()?;
            let accepted_id = if flags & CMD_SAME_BID_ID != 0 {
                bid_id.clone()
            } else {
                r.id(hammerfall_ports::BidId::new)?
            };
            let outcome = match r.byte()? {
                0 => BidOutcome::Leading,
                1 => BidOutcome::Outbid,
                _ => return Err(bad("bid outcome")),
            };
            CommandOutcome::Done {
                result: Accepted::Bid {
                    bid_id: accepted_id,
                    outcome,
                    your_maximum: r.money()?,
                },
                sequence,
            }
        }
        OUT_LOT => CommandOutcome::Done {
            result: Accepted::Lot,
            sequence: r.uint()?,
        },
        OUT_REJECTED => {
            let sequence = r.uint()?;
            let len = usize::try_from(r.uint()?).map_err(|_| bad("length out of range"))?;
            let rejection = serde_json::from_slice(r.take(len)?)
                .map_err(|e| StoreError::Corrupt(Box::new(crate::codec::BadRecord(e))))?;
            CommandOutcome::Rejected {
                rejection,
                sequence,
            }
        }
        _ => return Err(bad("command outcome")),
    };
    let recorded_at = r.time()?;
    r.end()?;
    Ok(DecodedCommand {
        lot_id,
        command: Command::PlaceBid(PlaceBid {
            bidder: Actor::new(participant_id, roles),
            amount,
            currency,
            bid_id,
        }),
        outcome,
        recorded_at,
    })
}

/// The changing part of a lot, as `codec::encode_state` takes it apart.
pub(crate) struct StateParts<'a> {
    pub created_at: &'a Timestamp,
    pub status: LotStatus,
    pub ends_at: Option<&'a Timestamp>,
    pub state: &'a FormatState,
    /// True if the lot has an outcome or a settlement (not covered).
    pub closed: bool,
    pub cancelled_by: Option<&'a ParticipantId>,
    pub sequence: u64,
}

fn status_byte(status: LotStatus) -> u8 {
    match status {
        LotStatus::Scheduled => 0,
        LotStatus::Open => 1,
        LotStatus::Reserved => 2,
        LotStatus::Closed => 3,
        LotStatus::Cancelled => 4,
    }
}

fn status_from_byte(b: u8) -> Result<LotStatus, StoreError> {
    Ok(match b {
        0 => LotStatus::Scheduled,
        1 => LotStatus::Open,
        2 => LotStatus::Reserved,
        3 => LotStatus::Closed,
        4 => LotStatus::Cancelled,
        _ => return Err(bad("lot status")),
    })
}

/// An English lot's state, if it has neither outcome nor settlement.
pub(crate) fn encode_state(parts: &StateParts<'_>) -> Option<Vec<u8>> {
    let FormatState::English(english) = parts.state else {
        return None;
    };
    if parts.closed {
        return None;
    }
    let mut flags = 0;
    if parts.ends_at.is_some() {
        flags |= ST_ENDS_AT;
    }
    if english.current_price.is_some() {
        flags |= ST_PRICE;
    }
    if english.leader.is_some() {
        flags |= ST_LEADER;
    }
    if parts.cancelled_by.is_some() {
        flags |= ST_CANCELLED_BY;
    }
    let mut out = Out::new(64);
    out.byte(flags);
    out.time(parts.created_at)?;
    out.byte(status_byte(parts.status));
    if let Some(t) = parts.ends_at {
        out.time(t)?;
    }
    if let Some(price) = english.current_price {
        out.money(price)?;
    }
    if let Some(leader) = &english.leader {
        out.text(leader.bidder_id.as_str());
        out.money(leader.maximum)?;
    }
    out.uint(u64::from(english.bid_count));
    if let Some(by) = parts.cancelled_by {
        out.text(by.as_str());
    }
    out.uint(parts.sequence);
    let mut body = out.0;
    body[0] = COMPACT_PADDED;
    body.resize(body.len().next_multiple_of(STATE_PAD), 0);
    Some(body)
}

/// A compact lot state read back (outcome and settlement are None).
pub(crate) struct DecodedState {
    pub created_at: Timestamp,
    pub status: LotStatus,
    pub ends_at: Option<Timestamp>,
    pub state: FormatState,
    pub cancelled_by: Option<ParticipantId>,
    pub sequence: u64,
}

/// A compact lot state.
pub(crate) fn decode_state(bytes: &[u8]) -> Result<DecodedState, StoreError> {
    let padded = bytes.first() == Some(&COMPACT_PADDED);
    let mut r = if padded {
        In { bytes: &bytes[1..] }
    } else {
        In::new(bytes)?
    };
    let flags = r.byte()?;
    let created_at = r.time()?;
    let status = status_from_byte(r.byte()?)?;
    let ends_at = if flags & ST_ENDS_AT != 0 {
        Some(r.time()?)
    } else {
        None
    };
    let current_price = if flags & ST_PRICE != 0 {
        Some(r.money()?)
    } else {
        None
    };
    let leader = if flags & ST_LEADER != 0 {
        Some(Leader {
            bidder_id: r.participant()?,
            maximum: r.money()?,
        })
    } else {
        None
    };
    let bid_count = r.u32()?;
    let cancelled_by = if flags & ST_CANCELLED_BY != 0 {
        Some(r.participant()?)
    } else {
        None
    };
    let sequence = r.uint()?;
    if padded {
        r.padding()?;
    } else {
        r.end()?;
    }
    Ok(DecodedState {
        created_at,
        status,
        ends_at,
        state: FormatState::English(EnglishState {
            current_price,
            leader,
            bid_count,
        }),
        cancelled_by,
        sequence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use hammerfall_engine::testkit::fixtures::{
        at, bid_command, bidding_war, english_lot, fixed_price_lot, step, t0,
    };
    use hammerfall_ports::{CommandRecord, LotCommit};

    /// Creation, a bidding war (accepted bids, outbid ones, proxy
    /// replies), a rejected bid (too low) and a bid in soft close.
    fn history() -> Vec<LotCommit> {
        let created = english_lot("lot-1", "sam", t0(), None, at(3_600));
        let war = bidding_war(&created.lot, 8, at(60));
        let last = war.last().map_or(&created.lot, |s| &s.lot);
        let low = step(last, bid_command("cy", 100, "low"), "c-low", at(700));
        let late = step(
            last,
            bid_command("dee", 900_000, "late"),
            "c-late",
            at(3_590),
        );
        assert!(!late.commit.events.is_empty());
        let mut all = vec![created.commit];
        all.extend(war.into_iter().map(|s| s.commit));
        all.push(low.commit);
        all.push(late.commit);
        all
    }

    #[test]
    fn bid_events_read_back_exactly_and_are_compact() {
        let mut compact = 0;
        for commit in history().into_iter().filter(|c| !c.events.is_empty()) {
            let body = codec::encode_events(&commit.events).unwrap_or_else(|e| panic!("{e}"));
            let json = codec::encode(&commit.events).unwrap_or_else(|e| panic!("{e}"));
            if is_compact(&body) {
                compact += 1;
                assert!(
                    body.len() * 2 < json.len(),
                    "{} vs {}",
                    body.len(),
                    json.len()
                );
            }
            let back = codec::decode_events(&body).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, commit.events);
            // JSON written before the compact form reads back too.
            let back = codec::decode_events(&json).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, commit.events);
        }
        // Every commit but the creation (LotCreated stays JSON) and the
        // rejected bid (no events).
        assert_eq!(compact, 9);
    }

    #[test]
    fn openings_and_extensions_are_covered() {
        let mut events: Vec<SequencedEvent> = history()
            .into_iter()
            .skip(1)
            .flat_map(|c| c.events)
            .collect();
        events.push(SequencedEvent {
            sequence: 99,
            occurred_at: at(3_599),
            event: Event::LotExtended { ends_at: at(3_900) },
        });
        events.push(SequencedEvent {
            sequence: 100,
            occurred_at: at(3_599),
            event: Event::LotOpened {},
        });
        let body = encode_events(&events).unwrap_or_else(|| panic!("not covered"));
        assert_eq!(decode_events(&body).ok(), Some(events));
    }

    #[test]
    fn command_records_read_back_exactly() {
        let records: Vec<CommandRecord> = history().into_iter().flat_map(|c| c.commands).collect();
        let rejected = records
            .iter()
            .filter(|r| matches!(r.outcome, CommandOutcome::Rejected { .. }))
            .count();
        assert_eq!(rejected, 1);
        for record in &records {
            let body = codec::encode_command(record).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                is_compact(&body),
                matches!(record.command, Command::PlaceBid(_)),
                "bids are compact, other commands JSON"
            );
            let back = codec::decode_command(&record.key, &body).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&back, record);
            let json = codec::encode_command_json(record).unwrap_or_else(|e| panic!("{e}"));
            let back = codec::decode_command(&record.key, &json).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&back, record);
        }
    }

    #[test]
    fn a_bid_recorded_under_another_lot_and_odd_fields_read_back() {
        let created = english_lot("lot-1", "sam", t0(), None, at(3_600));
        let mut bid = step(&created.lot, bid_command("ann", 2_000, "b1"), "c1", at(60));
        let mut record = bid.commit.commands.remove(0);
        record.lot_id = hammerfall_engine::testkit::fixtures::lot_id("lot-2");
        if let Command::PlaceBid(b) = &mut record.command {
            b.currency = CurrencyCode::new("USD").ok();
            b.amount = Decimal::new(-2_000_123, 5);
            b.bidder.roles = Roles::BIDDER.with(Roles::ADMIN);
        }
        if let CommandOutcome::Done {
            result: Accepted::Bid { bid_id, .. },
            ..
        } = &mut record.outcome
        {
            *bid_id = hammerfall_ports::BidId::new("other").unwrap_or_else(|e| panic!("{e}"));
        }
        let body = codec::encode_command(&record).unwrap_or_else(|e| panic!("{e}"));
        assert!(is_compact(&body));
        let back = codec::decode_command(&record.key, &body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, record);
    }

    #[test]
    fn open_english_lots_are_compact_and_others_json() {
        let created = english_lot("lot-1", "sam", t0(), Some(at(10)), at(3_600));
        let fixed = fixed_price_lot("lot-2", "sam", t0());
        let mut lots = vec![created.lot.clone(), fixed.lot.clone()];
        lots.extend(
            bidding_war(&created.lot, 3, at(60))
                .into_iter()
                .map(|s| s.lot),
        );
        for lot in &lots {
            let terms = codec::encode(&*lot.terms).unwrap_or_else(|e| panic!("{e}"));
            let state = codec::encode_state(lot).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                is_compact_state(&state),
                matches!(lot.state, FormatState::English(_))
            );
            let back = codec::decode_lot(lot.lot_id.as_str(), &terms, &state)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&back, lot);
            let json = codec::encode_state_json(lot).unwrap_or_else(|e| panic!("{e}"));
            let back = codec::decode_lot(lot.lot_id.as_str(), &terms, &json)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&back, lot);
        }
    }

    #[test]
    fn damaged_compact_bodies_are_corrupt_not_panics() {
        let commit = history().swap_remove(2);
        let events = codec::encode_events(&commit.events).unwrap_or_else(|e| panic!("{e}"));
        let command = codec::encode_command(&commit.commands[0]).unwrap_or_else(|e| panic!("{e}"));
        let key = commit.commands[0].key.clone();
        type Decodes<'a> = &'a dyn Fn(&[u8]) -> bool;
        let decodes: [(&Vec<u8>, Decodes<'_>); 2] = [
            (&events, &|b| codec::decode_events(b).is_ok()),
            (&command, &|b| codec::decode_command(&key, b).is_ok()),
        ];
        for (body, decodes) in decodes {
            assert!(decodes(body));
            for len in 1..body.len() {
                assert!(!decodes(&body[..len]), "a body cut at {len} decoded");
            }
            let mut longer = body.clone();
            longer.push(0);
            assert!(!decodes(&longer), "trailing bytes are refused");
        }
    }

    #[test]
    fn states_are_padded_and_unpadded_ones_still_read() {
        let created = english_lot("lot-1", "sam", t0(), Some(at(10)), at(3_600));
        let war = bidding_war(&created.lot, 12, at(60));
        let terms = codec::encode(&*created.lot.terms).unwrap_or_else(|e| panic!("{e}"));
        let decodes = |state: &[u8]| codec::decode_lot("lot-1", &terms, state);
        for lot in war.iter().map(|s| &s.lot) {
            let state = codec::encode_state(lot).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(state.first(), Some(&COMPACT_PADDED));
            assert_eq!(state.len() % STATE_PAD, 0, "{} bytes", state.len());
            assert_eq!(decodes(&state).ok().as_ref(), Some(lot));
            // The layout ends with the sequence, a nonzero varint here.
            let end = state.iter().rposition(|b| *b != 0).unwrap_or(0) + 1;
            // What version 3 wrote: the same layout after 0x01, unpadded.
            let mut v3 = state[..end].to_vec();
            v3[0] = COMPACT_V1;
            assert_eq!(decodes(&v3).ok().as_ref(), Some(lot));
            let mut longer = v3.clone();
            longer.push(0);
            assert!(
                decodes(&longer).is_err(),
                "an unpadded state has no padding"
            );
            for len in 1..end {
                assert!(decodes(&state[..len]).is_err(), "cut at {len}");
            }
            if end < state.len() {
                let mut dirty = state.clone();
                dirty[end] = 1;
                assert!(decodes(&dirty).is_err(), "padding is zeros");
            }
            let mut overlong = state.clone();
            overlong.extend([0; STATE_PAD]);
            assert!(decodes(&overlong).is_err(), "less than a pad of padding");
        }
    }

    /// A file written before the compact form (every body JSON) stays
    /// readable, and new compact rows go next to the old ones.
    #[tokio::test]
    async fn a_file_with_json_rows_reads_back_next_to_compact_ones() {
        use hammerfall_ports::LotStore;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("mixed.db");
        let created = english_lot("lot-1", "sam", t0(), None, at(3_600));
        let war = bidding_war(&created.lot, 6, at(60));
        let mut commits = vec![created.commit.clone()];
        commits.extend(war.iter().map(|s| s.commit.clone()));
        let (old, new) = commits.split_at(4);
        {
            let store = crate::OpenOptions::default()
                .open(&path)
                .unwrap_or_else(|e| panic!("{e}"));
            for commit in old {
                let results = store.commit(vec![commit.clone()]).await;
                assert!(results.iter().all(Result::is_ok), "{results:?}");
            }
        }
        // What the previous version wrote: JSON bodies everywhere.
        {
            let conn = rusqlite::Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
            for commit in old {
                let events = codec::encode(&commit.events).unwrap_or_else(|e| panic!("{e}"));
                let first = codec::seq_to_sql(commit.events[0].sequence);
                let n = conn
                    .execute(
                        "UPDATE log SET events = ?1 WHERE first_sequence = ?2",
                        rusqlite::params![events, first],
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(n, 1);
                for record in &commit.commands {
                    let body = codec::encode_command_json(record).unwrap_or_else(|e| panic!("{e}"));
                    let n = conn
                        .execute(
                            "UPDATE command_records SET body = ?1 WHERE key = ?2",
                            rusqlite::params![body, codec::command_key(&record.key)],
                        )
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(n, 1);
                }
            }
            let lot = &war[2].lot;
            let state = codec::encode_state_json(lot).unwrap_or_else(|e| panic!("{e}"));
            conn.execute("UPDATE lots SET state = ?1", [state])
                .unwrap_or_else(|e| panic!("{e}"));
            let compact_left: i64 = conn
                .query_row(
                    "SELECT (SELECT count(*) FROM log WHERE substr(events, 1, 1) = x'01')
                          + (SELECT count(*) FROM command_records WHERE substr(body, 1, 1) = x'01')
                          + (SELECT count(*) FROM lots WHERE substr(state, 1, 1) = x'01')",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(compact_left, 0);
        }
        let store = crate::OpenOptions::default()
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        let lot_id = created.lot.lot_id.clone();
        let loaded = store.load(&lot_id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.as_ref(), Some(&war[2].lot), "a JSON state loads");
        for commit in new {
            let results = store.commit(vec![commit.clone()]).await;
            assert!(results.iter().all(Result::is_ok), "{results:?}");
        }
        let loaded = store.load(&lot_id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.as_ref(), war.last().map(|s| &s.lot));
        let events: Vec<SequencedEvent> = commits.iter().flat_map(|c| c.events.clone()).collect();
        let read = store
            .events_after(&lot_id, 0, 1_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, events);
        let bids: Vec<_> = commits.iter().flat_map(|c| c.bids.clone()).collect();
        let page = store
            .bids(&lot_id, None, 1_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.items, bids);
        for record in commits.iter().flat_map(|c| &c.commands) {
            let found = store
                .command(&record.key)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(found.as_ref(), Some(record));
        }
        let pending = store
            .pending_events(1_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let published: Vec<SequencedEvent> = pending
            .iter()
            .flat_map(|p| p.events.iter().map(|e| e.event.clone()))
            .collect();
        assert_eq!(published, events);
        drop(store);
        let conn = rusqlite::Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let compact_rows: i64 = conn
            .query_row(
                "SELECT count(*) FROM log WHERE substr(events, 1, 1) = x'01'",
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(compact_rows, 3, "the new rows are compact");
    }
}
