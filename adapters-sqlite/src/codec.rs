//! How records are laid out in SQLite rows: bodies as JSON (the serde forms
//! the ports define, so a row reads back exactly what was written) or, for
//! the shapes every bid writes, in the compact binary form of
//! [`crate::compact`] (a leading byte tells them apart), times
//! as Unix nanoseconds (integers that sort, for the due index), command
//! keys as three key columns, and the opaque cursors of the listings.

use crate::compact;
use hammerfall_ports::{
    BidRecord, Command, CommandId, CommandKey, CommandOutcome, CommandRecord, Cursor,
    DEFAULT_PAGE_SIZE, FormatState, Lot, LotId, LotStatus, LotTerms, MAX_PAGE_SIZE, Outcome,
    ParticipantId, SequencedEvent, Settlement, StoreError, Timestamp,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Prefix of a lot listing cursor (followed by the lot's row key in hex).
const LOTS_CURSOR: &str = "lots.";
/// Prefix of a bid history cursor (followed by a sequence in hex).
const BIDS_CURSOR: &str = "bids.";

/// A cursor this store did not hand out (or handed out for another
/// listing). Returned inside [`StoreError::Corrupt`] because the port has
/// no variant for a caller's bad input; hosts can downcast the source to
/// this type and answer 422 instead of 500.
#[derive(Debug, thiserror::Error)]
#[error("invalid cursor {0:?}")]
pub struct InvalidCursor(pub String);

/// A commit entry that is not internally consistent (events not numbered
/// from the expected sequence, a state that does not match them…): a bug
/// in the caller, refused before anything is written. Returned inside
/// [`StoreError::Corrupt`].
#[derive(Debug, thiserror::Error)]
#[error("inconsistent commit for lot {lot_id}: {reason}")]
pub struct InvalidCommit {
    /// The entry's lot.
    pub lot_id: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A stored row that does not decode (or a value that does not encode):
/// returned inside [`StoreError::Corrupt`].
#[derive(Debug, thiserror::Error)]
#[error("stored record does not decode: {0}")]
pub struct BadRecord(#[source] pub serde_json::Error);

/// A compact body (see [`crate::compact`]) that does not decode:
/// returned inside [`StoreError::Corrupt`].
#[derive(Debug, thiserror::Error)]
#[error("stored compact record does not decode: {0}")]
pub struct BadCompact(pub &'static str);

/// Serializes a body.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(Box::new(BadRecord(e))))
}

/// Deserializes a body.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(Box::new(BadRecord(e))))
}

/// What changes in a lot: everything but its id (the row's `id`) and its
/// terms (fixed at creation, stored once in the row's `terms`). Splitting
/// them keeps the blob rewritten by every commit small.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MutableRef<'a> {
    created_at: &'a Timestamp,
    status: LotStatus,
    ends_at: &'a Option<Timestamp>,
    state: &'a FormatState,
    outcome: &'a Option<Outcome>,
    settlement: &'a Option<Settlement>,
    cancelled_by: &'a Option<ParticipantId>,
    sequence: u64,
}

/// [`MutableRef`] read back.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mutable {
    created_at: Timestamp,
    status: LotStatus,
    ends_at: Option<Timestamp>,
    state: FormatState,
    outcome: Option<Outcome>,
    settlement: Option<Settlement>,
    cancelled_by: Option<ParticipantId>,
    sequence: u64,
}

/// The changing part of a lot, serialized: compact for an English lot
/// that is not closed (what every bid rewrites), JSON otherwise.
pub(crate) fn encode_state(lot: &Lot) -> Result<Vec<u8>, StoreError> {
    let parts = compact::StateParts {
        created_at: &lot.created_at,
        status: lot.status,
        ends_at: lot.ends_at.as_ref(),
        state: &lot.state,
        closed: lot.outcome.is_some() || lot.settlement.is_some(),
        cancelled_by: lot.cancelled_by.as_ref(),
        sequence: lot.sequence,
    };
    match compact::encode_state(&parts) {
        Some(body) => Ok(body),
        None => encode_state_json(lot),
    }
}

/// The changing part of a lot as JSON (every lot before the compact form;
/// still what a fixed-price or closed lot is written as).
pub(crate) fn encode_state_json(lot: &Lot) -> Result<Vec<u8>, StoreError> {
    encode(&MutableRef {
        created_at: &lot.created_at,
        status: lot.status,
        ends_at: &lot.ends_at,
        state: &lot.state,
        outcome: &lot.outcome,
        settlement: &lot.settlement,
        cancelled_by: &lot.cancelled_by,
        sequence: lot.sequence,
    })
}

/// A lot from its row: id, terms and state.
pub(crate) fn decode_lot(id: &str, terms: &[u8], state: &[u8]) -> Result<Lot, StoreError> {
    let lot_id = LotId::new(id).map_err(|e| StoreError::Corrupt(Box::new(e)))?;
    let terms: LotTerms = decode(terms)?;
    let m: Mutable = if compact::is_compact_state(state) {
        let c = compact::decode_state(state)?;
        Mutable {
            created_at: c.created_at,
            status: c.status,
            ends_at: c.ends_at,
            state: c.state,
            outcome: None,
            settlement: None,
            cancelled_by: c.cancelled_by,
            sequence: c.sequence,
        }
    } else {
        decode(state)?
    };
    Ok(Lot {
        lot_id,
        terms: Arc::new(terms),
        created_at: m.created_at,
        status: m.status,
        ends_at: m.ends_at,
        state: m.state,
        outcome: m.outcome,
        settlement: m.settlement,
        cancelled_by: m.cancelled_by,
        sequence: m.sequence,
    })
}

/// A command record as stored (schema version 2): its key is in the
/// row's key columns, so the body leaves it out, and the lot id too when
/// it is the key's.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CommandBodyRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    lot_id: Option<&'a LotId>,
    command: &'a Command,
    outcome: &'a CommandOutcome,
    recorded_at: &'a Timestamp,
}

/// A stored command body read back: version 2's, or version 1's (which
/// carried the whole record, key and lot id included).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommandBody {
    #[serde(default)]
    key: Option<CommandKey>,
    #[serde(default)]
    lot_id: Option<LotId>,
    command: Command,
    outcome: CommandOutcome,
    recorded_at: Timestamp,
}

/// A command record's body, without what its key columns hold: compact
/// for a bid, JSON for other commands.
pub(crate) fn encode_command(record: &CommandRecord) -> Result<Vec<u8>, StoreError> {
    let implied = record.key.lot_id.as_ref() == Some(&record.lot_id);
    let parts = compact::CommandParts {
        lot_id: (!implied).then_some(record.lot_id.as_str()),
        command: &record.command,
        outcome: &record.outcome,
        recorded_at: &record.recorded_at,
    };
    match compact::encode_command(&parts) {
        Some(body) => Ok(body),
        None => encode_command_json(record),
    }
}

/// A command record's body as JSON (every record before the compact form;
/// still what commands other than bids are written as).
pub(crate) fn encode_command_json(record: &CommandRecord) -> Result<Vec<u8>, StoreError> {
    let implied = record.key.lot_id.as_ref() == Some(&record.lot_id);
    encode(&CommandBodyRef {
        lot_id: (!implied).then_some(&record.lot_id),
        command: &record.command,
        outcome: &record.outcome,
        recorded_at: &record.recorded_at,
    })
}

/// The command record stored under `key` from its body.
pub(crate) fn decode_command(key: &CommandKey, body: &[u8]) -> Result<CommandRecord, StoreError> {
    let body: CommandBody = if compact::is_compact(body) {
        let c = compact::decode_command(body)?;
        CommandBody {
            key: None,
            lot_id: c.lot_id,
            command: c.command,
            outcome: c.outcome,
            recorded_at: c.recorded_at,
        }
    } else {
        decode(body)?
    };
    let key = body.key.unwrap_or_else(|| key.clone());
    let lot_id = body.lot_id.or_else(|| key.lot_id.clone()).ok_or_else(|| {
        StoreError::Corrupt(Box::new(InvalidCommit {
            lot_id: String::new(),
            reason: "stored command record without its lot",
        }))
    })?;
    Ok(CommandRecord {
        key,
        lot_id,
        command: body.command,
        outcome: body.outcome,
        recorded_at: body.recorded_at,
    })
}

/// A `log` row's events: compact when all of them are of the kinds a bid
/// emits, JSON otherwise.
pub(crate) fn encode_events(events: &[SequencedEvent]) -> Result<Vec<u8>, StoreError> {
    match compact::encode_events(events) {
        Some(body) => Ok(body),
        None => encode(&events),
    }
}

/// A `log` row's events, in either form.
pub(crate) fn decode_events(bytes: &[u8]) -> Result<Vec<SequencedEvent>, StoreError> {
    if compact::is_compact(bytes) {
        compact::decode_events(bytes)
    } else {
        decode(bytes)
    }
}

/// The bid records a run of events implies: one per `BidAccepted`, as the
/// service builds them. A `log` row whose bid records are exactly these
/// stores an empty `bids` blob instead of a second copy of them.
pub(crate) fn implied_bids(events: &[SequencedEvent]) -> Vec<BidRecord> {
    events.iter().filter_map(BidRecord::implied_by).collect()
}

/// A timestamp as Unix nanoseconds, clamped to `i64` (years 1677–2262;
/// anything outside sorts before or after every real time).
pub(crate) fn nanos(at: Timestamp) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() > 0 {
        i64::MAX
    } else {
        i64::MIN
    })
}

/// A sequence number as SQLite stores integers. Sequences never come near
/// 2^63; a larger one saturates (and then fails its compare-and-set).
pub(crate) fn seq_to_sql(sequence: u64) -> i64 {
    i64::try_from(sequence).unwrap_or(i64::MAX)
}

/// A stored sequence; a negative one is corruption.
pub(crate) fn seq_from_sql(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| {
        StoreError::Corrupt(Box::new(InvalidCommit {
            lot_id: String::new(),
            reason: "negative sequence stored",
        }))
    })
}

/// A command key as the `command_records` table's key: the client's
/// command id, a zero byte, the lot, a zero byte, the submitter, an empty
/// text for "none". Unambiguous: ids are never empty and never contain a
/// zero byte (they are printable). The command id leads, so records of
/// time-ordered ids append to the table.
pub(crate) fn command_key(key: &CommandKey) -> Vec<u8> {
    let command = key.command_id.as_str();
    let lot = key.lot_id.as_ref().map_or("", |l| l.as_str());
    let submitter = key.submitter.as_ref().map_or("", |s| s.as_str());
    let mut bytes = Vec::with_capacity(command.len() + lot.len() + submitter.len() + 2);
    bytes.extend_from_slice(command.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(lot.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(submitter.as_bytes());
    bytes
}

/// The key [`command_key`] made `bytes` from (for a refusal's error: the
/// writer keeps only the bytes).
pub(crate) fn key_from_row(bytes: &[u8]) -> Result<CommandKey, StoreError> {
    let malformed = || {
        StoreError::Corrupt(Box::new(InvalidCommit {
            lot_id: String::new(),
            reason: "malformed command key",
        }))
    };
    let text = std::str::from_utf8(bytes).map_err(|_| malformed())?;
    let mut parts = text.split('\0');
    let (Some(command), Some(lot), Some(submitter), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    Ok(CommandKey {
        command_id: CommandId::new(command).map_err(|_| malformed())?,
        lot_id: match lot {
            "" => None,
            lot => Some(LotId::new(lot).map_err(|_| malformed())?),
        },
        submitter: match submitter {
            "" => None,
            who => Some(ParticipantId::new(who).map_err(|_| malformed())?),
        },
    })
}

/// A page size as the port defines it: 0 means the default, anything
/// above the maximum is clamped.
pub(crate) fn page_size(limit: usize) -> usize {
    match limit {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// A page size as a SQL `LIMIT` (one more row than the page, to learn
/// whether another page follows).
pub(crate) fn sql_limit(rows: usize) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX)
}

fn encode_cursor(prefix: &str, position: i64) -> Cursor {
    Cursor(format!("{prefix}{position:x}"))
}

fn decode_cursor(prefix: &str, cursor: &Cursor) -> Result<i64, StoreError> {
    cursor
        .0
        .strip_prefix(prefix)
        .and_then(|hex| i64::from_str_radix(hex, 16).ok())
        .filter(|position| *position >= 0)
        .ok_or_else(|| StoreError::Corrupt(Box::new(InvalidCursor(cursor.0.clone()))))
}

/// The cursor after the lot with row key `key`.
pub(crate) fn lots_cursor(key: i64) -> Cursor {
    encode_cursor(LOTS_CURSOR, key)
}

/// The row key a lots cursor continues after (0: from the start).
pub(crate) fn lots_after(cursor: Option<&Cursor>) -> Result<i64, StoreError> {
    cursor.map_or(Ok(0), |c| decode_cursor(LOTS_CURSOR, c))
}

/// The cursor after the bid with `sequence`.
pub(crate) fn bids_cursor(sequence: i64) -> Cursor {
    encode_cursor(BIDS_CURSOR, sequence)
}

/// The sequence a bids cursor continues after (0: from the start).
pub(crate) fn bids_after(cursor: Option<&Cursor>) -> Result<i64, StoreError> {
    cursor.map_or(Ok(0), |c| decode_cursor(BIDS_CURSOR, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hammerfall_ports::{BidOutcome, CommandId, Event, LotId, ParticipantId};

    #[test]
    fn command_keys_of_different_scopes_never_collide() {
        let key = |lot: Option<&str>, who: Option<&str>, id: &str| CommandKey {
            lot_id: lot.map(|l| LotId::new(l).unwrap_or_else(|e| panic!("{e}"))),
            submitter: who.map(|w| ParticipantId::new(w).unwrap_or_else(|e| panic!("{e}"))),
            command_id: CommandId::new(id).unwrap_or_else(|e| panic!("{e}")),
        };
        let keys = [
            key(Some("a"), Some("b"), "c"),
            key(None, Some("b"), "c"),
            key(Some("a"), None, "c"),
            key(Some("b"), Some("a"), "c"),
            key(Some("ab"), None, "c"),
            key(None, Some("ab"), "c"),
            key(Some("a"), Some("b"), "c0"),
        ];
        let texts: Vec<_> = keys.iter().map(command_key).collect();
        for (key, text) in keys.iter().zip(&texts) {
            assert_eq!(
                key_from_row(text).unwrap_or_else(|e| panic!("{e}")),
                *key,
                "a row key reads back as its key"
            );
        }
        assert!(key_from_row(b"c\0a").is_err());
        assert!(key_from_row(b"c\0a\0b\0d").is_err());
        assert!(key_from_row(b"\0a\0b").is_err());
        for (i, a) in texts.iter().enumerate() {
            for b in &texts[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn a_lot_reads_back_from_its_terms_and_state() {
        use hammerfall_engine::testkit::fixtures::{at, bid_command, english_lot, step, t0};
        let created = english_lot("lot-1", "sam", t0(), None, at(3_600));
        let lot = step(&created.lot, bid_command("ann", 2_000, "b1"), "c1", at(60)).lot;
        let terms = encode(&*lot.terms).unwrap_or_else(|e| panic!("{e}"));
        let state = encode_state(&lot).unwrap_or_else(|e| panic!("{e}"));
        let back = decode_lot("lot-1", &terms, &state).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, lot);
    }

    #[test]
    fn command_bodies_leave_out_their_key_and_read_back_exactly() {
        use hammerfall_engine::testkit::fixtures::{at, bid_command, english_lot, step, t0};
        let created = english_lot("lot-1", "sam", t0(), None, at(3_600));
        let bid = step(&created.lot, bid_command("ann", 2_000, "b1"), "c1", at(60));
        // A bid's key names its lot; a creation's does not (seller scope).
        // (The JSON form: a bid is written compact, see `compact::tests`.)
        for record in [&bid.commit.commands[0], &created.commit.commands[0]] {
            let body = encode_command_json(record).unwrap_or_else(|e| panic!("{e}"));
            let text = String::from_utf8_lossy(&body);
            assert!(!text.contains("\"key\""), "{text}");
            assert_eq!(
                text.contains("\"lotId\""),
                record.key.lot_id.is_none(),
                "{text}"
            );
            let back = decode_command(&record.key, &body).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&back, record);
            // Version 1 stored the whole record.
            let v1 = encode(record).unwrap_or_else(|e| panic!("{e}"));
            let back = decode_command(&record.key, &v1).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&back, record);
        }
    }

    #[test]
    fn implied_bids_are_the_services_bid_records() {
        use hammerfall_engine::testkit::fixtures::{at, bid_records, bidding_war, english_lot, t0};
        let created = english_lot("lot-1", "sam", t0(), None, at(3_600));
        let war = bidding_war(&created.lot, 6, at(60));
        let events: Vec<_> = war.iter().flat_map(|s| s.commit.events.clone()).collect();
        let bids: Vec<_> = war.iter().flat_map(|s| s.commit.bids.clone()).collect();
        assert_eq!(bids.len(), 6);
        assert_eq!(implied_bids(&events), bids);
        assert_eq!(implied_bids(&events), bid_records(&events));
        assert!(BidRecord::are_implied_by(&events, &bids));
        assert!(!BidRecord::are_implied_by(&events, &bids[1..]));
        let last_bid = events
            .iter()
            .rposition(|e| matches!(e.event, Event::BidAccepted(_)))
            .unwrap_or_else(|| panic!("no bid"));
        assert!(!BidRecord::are_implied_by(&events[..last_bid], &bids));
        let mut other = bids.clone();
        other[2].outcome = match other[2].outcome {
            BidOutcome::Leading => BidOutcome::Outbid,
            BidOutcome::Outbid => BidOutcome::Leading,
        };
        assert!(!BidRecord::are_implied_by(&events, &other));
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(lots_after(Some(&lots_cursor(42))).ok(), Some(42));
        assert_eq!(bids_after(Some(&bids_cursor(7))).ok(), Some(7));
        assert!(lots_after(Some(&bids_cursor(7))).is_err());
        assert!(bids_after(Some(&Cursor("bids.-1".into()))).is_err());
        assert!(bids_after(Some(&Cursor("???".into()))).is_err());
    }
}
