//! Time vocabulary. The engine never reads the wall clock: instants come in
//! through the [`Clock`](crate::Clock) port and through commands.

/// A UTC instant (RFC 3339 in JSON).
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A span of time (hold, payment window, soft-close window).
pub type Duration = chrono::TimeDelta;

/// Shortest hold or payment window accepted: 1 second (SPEC §9).
pub const MIN_WINDOW_SECS: i64 = 1;
/// Longest hold or payment window accepted: 365 days (SPEC §9).
pub const MAX_WINDOW_SECS: i64 = 365 * 24 * 3600;

/// Serde helper: a [`Duration`] as whole seconds, the unit of every duration
/// in the HTTP API and the stored schema.
pub mod secs {
    use super::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes whole seconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_seconds())
    }

    /// Reads whole seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let n = i64::deserialize(d)?;
        Duration::try_seconds(n).ok_or_else(|| serde::de::Error::custom("duration out of range"))
    }
}
