//! How records are laid out in SQLite rows: bodies as JSON (the serde forms
//! the ports define, so a row reads back exactly what was written), times
//! as Unix nanoseconds (integers that sort, for the due index), command
//! keys as one canonical text, and the opaque cursors of the listings.

use hammerfall_ports::{
    CommandKey, Cursor, DEFAULT_PAGE_SIZE, FormatState, Lot, LotId, LotStatus, LotTerms,
    MAX_PAGE_SIZE, Outcome, ParticipantId, Settlement, StoreError, Timestamp,
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

/// The changing part of a lot, serialized.
pub(crate) fn encode_state(lot: &Lot) -> Result<Vec<u8>, StoreError> {
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
    let m: Mutable = decode(state)?;
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

/// The canonical text of a command key: lot, submitter and command id on
/// three lines, an empty line for "none". Injective because ids are never
/// empty and never contain a newline (ports' id validation).
pub(crate) fn command_key(key: &CommandKey) -> String {
    let lot = key.lot_id.as_ref().map_or("", |l| l.as_str());
    let submitter = key.submitter.as_ref().map_or("", |s| s.as_str());
    let id = key.command_id.as_str();
    let mut text = String::with_capacity(lot.len() + submitter.len() + id.len() + 2);
    text.push_str(lot);
    text.push('\n');
    text.push_str(submitter);
    text.push('\n');
    text.push_str(id);
    text
}

/// Most rows a command key probes past its hash slot (a 64-bit hash
/// collision among stored keys is already astronomically rare).
pub(crate) const MAX_KEY_PROBES: i64 = 16;

/// The `commands` row id a canonical key hashes to: 64-bit FNV-1a, a
/// stable function (std's hashers may change between Rust releases, and
/// these ids are stored).
pub(crate) fn key_slot(key: &str) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = key
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    i64::from_ne_bytes(hash.to_ne_bytes())
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
    use hammerfall_ports::{CommandId, LotId, ParticipantId};

    #[test]
    fn command_keys_of_different_scopes_never_collide() {
        let key = |lot: Option<&str>, who: Option<&str>, id: &str| CommandKey {
            lot_id: lot.map(|l| LotId::new(l).unwrap_or_else(|e| panic!("{e}"))),
            submitter: who.map(|w| ParticipantId::new(w).unwrap_or_else(|e| panic!("{e}"))),
            command_id: CommandId::new(id).unwrap_or_else(|e| panic!("{e}")),
        };
        let texts = [
            command_key(&key(Some("a"), Some("b"), "c")),
            command_key(&key(None, Some("b"), "c")),
            command_key(&key(Some("a"), None, "c")),
            command_key(&key(Some("b"), Some("a"), "c")),
        ];
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
    fn key_slots_are_stable() {
        // Stored ids: this function must never change.
        assert_eq!(
            key_slot(""),
            i64::from_ne_bytes(0xcbf2_9ce4_8422_2325u64.to_ne_bytes())
        );
        assert_eq!(
            key_slot("a"),
            i64::from_ne_bytes(0xaf63_dc4c_8601_ec8cu64.to_ne_bytes())
        );
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
