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
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(IdError::BadCharacter);
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Cloning is cheap: ids up to 23 bytes are stored inline, longer ones
        /// are reference counted, so the hot path never allocates for them.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "SmolStr", into = "SmolStr")]
        pub struct $name(SmolStr);

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
}
