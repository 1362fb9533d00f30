//! Identifier newtypes. Ids are opaque, validated strings: they come from
//! authentication (participants), from clients (`Idempotency-Key`) or from the
//! [`IdGenerator`](crate::IdGenerator) port, never from the engine itself.

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;
use std::fmt;

/// Longest id accepted, in bytes. Keeps keys bounded in every store
/// (DynamoDB sort keys, SQLite indexes, SQS dedup ids allow 128).
pub const MAX_ID_LEN: usize = 128;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty. Hosts answer 422 `invalid_request`.
    #[error("id must not be empty")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`] bytes. Hosts answer 422 `invalid_request`.
    #[error("id is longer than {MAX_ID_LEN} bytes")]
    TooLong,
    /// The id contains whitespace or a control character, which would break
    /// headers, keys and logs. Hosts answer 422 `invalid_request`.
    #[error("id contains whitespace or a control character")]
    BadCharacter,
}

fn validate(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    // Printable ASCII (the ids of every generator, and most clients')
    // needs no character decoding.
    if s.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(());
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(IdError::BadCharacter);
    }
    Ok(())
}

/// `a == b`, eight bytes at a time: ids are short, and this costs a few
/// instructions where comparing the strings calls `memcmp` (ids are
/// compared on every command: lots, submitters, command keys).
#[inline]
fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_rest) = a.as_chunks::<8>();
    let (b_words, b_rest) = b.as_chunks::<8>();
    a_words
        .iter()
        .zip(b_words)
        .all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
        && a_rest
            .iter()
            .zip(b_rest)
            .fold(0, |differ, (x, y)| differ | (x ^ y))
            == 0
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Cloning is cheap: ids up to 23 bytes are stored inline, longer ones
        /// are reference counted, so the hot path never allocates for them.
        #[derive(Clone, Eq, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "SmolStr", into = "SmolStr")]
        pub struct $name(SmolStr);

        impl PartialEq for $name {
            #[inline]
            fn eq(&self, other: &Self) -> bool {
                same_text(&self.0, &other.0)
            }
        }

        // Written out because `PartialEq` is: the text's hash, as derived.
        impl std::hash::Hash for $name {
            #[inline]
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.0.hash(state);
            }
        }

        impl $name {
            /// Validates and wraps an id (non-empty, at most [`MAX_ID_LEN`]
            /// bytes, no whitespace or control characters).
            pub fn new(s: impl AsRef<str>) -> Result<Self, IdError> {
                let s = s.as_ref();
                validate(s)?;
                Ok(Self(SmolStr::new(s)))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<SmolStr> for $name {
            type Error = IdError;
            fn try_from(s: SmolStr) -> Result<Self, IdError> {
                validate(&s)?;
                Ok(Self(s))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for SmolStr {
            fn from(id: $name) -> SmolStr {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A lot: the unit of sale and the unit of ordering.
    LotId
);
id_type!(
    /// A participant (the JWT `sub`). Identity always comes from
    /// authentication, never from a request body.
    ParticipantId
);
id_type!(
    /// An accepted bid, unique across lots.
    BidId
);
id_type!(
    /// A command, for idempotency: scoped to the lot and the submitting
    /// participant (SPEC §5).
    CommandId
);
id_type!(
    /// A fixed-price reservation.
    ReservationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_empty_long_and_spaced_text() {
        assert_eq!(LotId::new(""), Err(IdError::Empty));
        assert_eq!(
            LotId::new("x".repeat(MAX_ID_LEN + 1)),
            Err(IdError::TooLong)
        );
        assert_eq!(LotId::new("a b"), Err(IdError::BadCharacter));
        assert_eq!(LotId::new("a\nb"), Err(IdError::BadCharacter));
        assert_eq!(LotId::new("a\tb"), Err(IdError::BadCharacter));
        assert_eq!(LotId::new("a\u{7f}b"), Err(IdError::BadCharacter));
        assert_eq!(LotId::new("a\u{a0}b"), Err(IdError::BadCharacter));
        assert_eq!(LotId::new("a\u{2028}b"), Err(IdError::BadCharacter));
        assert_eq!(
            LotId::new("lot-é").map(|l| l.to_string()),
            Ok("lot-é".into())
        );
        assert!(LotId::new("x".repeat(MAX_ID_LEN)).is_ok());
        assert_eq!(
            ParticipantId::new("auth0|42").map(|p| p.to_string()),
            Ok("auth0|42".into())
        );
    }

    #[test]
    fn ids_deserialize_through_validation() {
        let ok: LotId = serde_json::from_str("\"lot-1\"").expect("valid id");
        assert_eq!(ok.as_str(), "lot-1");
        assert!(serde_json::from_str::<LotId>("\"\"").is_err());
    }

    #[test]
    fn ids_are_equal_exactly_when_their_texts_are() {
        let mut texts: Vec<String> = [
            "a",
            "b",
            "ab",
            "ba",
            "bidder-a",
            "bidder-b",
            "bidder-aa",
            "bidder-ab",
            "0123456789abcdef",
            "0123456789abcdeg",
        ]
        .map(String::from)
        .to_vec();
        for n in [7, 8, 9, 23, 24, 100] {
            texts.push("x".repeat(n));
            texts.push(format!("{}y", "x".repeat(n - 1)));
            texts.push(format!("y{}", "x".repeat(n - 1)));
        }
        let ids: Vec<ParticipantId> = texts
            .iter()
            .map(|s| ParticipantId::new(s).expect("valid id"))
            .collect();
        for a in &ids {
            for b in &ids {
                assert_eq!(a == b, a.as_str() == b.as_str(), "{a} vs {b}");
            }
        }
    }
}
