//! Opaque cursors: the position of a listing as JSON, hex-encoded (safe in
//! URLs). A lot listing's position is the index it reads (one of several
//! status partitions) and DynamoDB's `LastEvaluatedKey` there.

use super::item::{Item, s};
use crate::error::InvalidCursor;
use hammerfall_ports::{Cursor, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub(crate) enum Position {
    /// Bid history after this sequence.
    #[serde(rename = "b")]
    Bids {
        /// The last sequence handed out.
        a: u64,
    },
    /// Lots: partition `p` of the query, from after key `s` (None: its start).
    #[serde(rename = "l")]
    Lots {
        p: usize,
        #[serde(default)]
        s: Option<BTreeMap<String, String>>,
    },
}

impl Position {
    pub(crate) fn encode(&self) -> Cursor {
        let text = serde_json::to_string(self).unwrap_or_default();
        Cursor(text.bytes().map(|b| format!("{b:02x}")).collect())
    }

    pub(crate) fn decode(cursor: &Cursor) -> Result<Self, StoreError> {
        let invalid = || StoreError::Corrupt(Box::new(InvalidCursor(cursor.0.clone())));
        let hex = cursor.0.as_bytes();
        if !hex.len().is_multiple_of(2) {
            return Err(invalid());
        }
        let bytes: Option<Vec<u8>> = hex
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
            })
            .collect();
        let bytes = bytes.ok_or_else(invalid)?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }
}

/// A `LastEvaluatedKey` (all of whose attributes are strings here) as
/// cursor text, and back.
pub(crate) fn key_to_map(key: &Item) -> Option<BTreeMap<String, String>> {
    key.iter()
        .map(|(k, v)| v.as_s().ok().map(|s| (k.clone(), s.clone())))
        .collect()
}

pub(crate) fn map_to_key(map: &BTreeMap<String, String>) -> Item {
    map.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_garbage_is_refused() {
        let p = Position::Lots {
            p: 2,
            s: Some(BTreeMap::from([("PK".to_owned(), "LOT#a".to_owned())])),
        };
        assert_eq!(Position::decode(&p.encode()).ok(), Some(p));
        let b = Position::Bids { a: 7 };
        assert_eq!(Position::decode(&b.encode()).ok(), Some(b));
        for bad in ["", "zz", "7b", "abc"] {
            assert!(Position::decode(&Cursor(bad.to_owned())).is_err(), "{bad}");
        }
    }
}
