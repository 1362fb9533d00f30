//! Per-participant rate limiting: a token bucket per participant, in
//! integer arithmetic (nano-tokens), sharded to keep locks short.

use crate::limits::{RATE_LIMIT_BURST, RATE_LIMIT_MAX_TRACKED, RATE_LIMIT_PER_SECOND};
use hammerfall_ports::ParticipantId;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Shards of the bucket map.
const SHARDS: usize = 16;
/// One token, in nano-tokens.
const TOKEN: u64 = 1_000_000_000;

/// The limit: a sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second, sustained. 0 disables limiting.
    pub per_second: u32,
    /// Requests allowed at once above the rate.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: RATE_LIMIT_PER_SECOND,
            burst: RATE_LIMIT_BURST,
        }
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.per_second, self.burst)
    }
}

/// Why a rate limit setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a rate limit is RATE or RATE/BURST in whole requests per second (0 disables)")]
pub struct BadRateLimit;

impl std::str::FromStr for RateLimit {
    type Err = BadRateLimit;

    /// `RATE` (burst = 2 × rate) or `RATE/BURST`.
    fn from_str(s: &str) -> Result<Self, BadRateLimit> {
        let (rate, burst) = match s.split_once('/') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let per_second: u32 = rate.trim().parse().map_err(|_| BadRateLimit)?;
        let burst = match burst {
            Some(b) => b.trim().parse().map_err(|_| BadRateLimit)?,
            None => per_second.saturating_mul(2),
        };
        Ok(Self { per_second, burst })
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    nano_tokens: u64,
    at: Instant,
}

/// Token buckets by participant.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    shards: Vec<Mutex<HashMap<ParticipantId, Bucket>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl RateLimiter {
    /// A limiter enforcing `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }

    fn capacity(&self) -> u64 {
        u64::from(self.limit.burst.max(1)) * TOKEN
    }

    fn refill(&self, bucket: Bucket, now: Instant) -> u64 {
        let elapsed = u64::try_from(now.duration_since(bucket.at).as_nanos()).unwrap_or(u64::MAX);
        bucket
            .nano_tokens
            .saturating_add(elapsed.saturating_mul(u64::from(self.limit.per_second)))
            .min(self.capacity())
    }

    /// Takes one token for `participant`; `Err(seconds)` to wait if none.
    pub fn check(&self, participant: &ParticipantId) -> Result<(), u64> {
        if self.limit.per_second == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let index = usize::try_from(self.hasher.hash_one(participant) % SHARDS as u64).unwrap_or(0);
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= RATE_LIMIT_MAX_TRACKED / SHARDS && !shard.contains_key(participant) {
            // Full buckets are the same as absent ones: forget them.
            let capacity = self.capacity();
            shard.retain(|_, b| self.refill(*b, now) < capacity);
        }
        let capacity = self.capacity();
        let bucket = shard.entry(participant.clone()).or_insert(Bucket {
            nano_tokens: capacity,
            at: now,
        });
        let tokens = self.refill(*bucket, now);
        if tokens >= TOKEN {
            *bucket = Bucket {
                nano_tokens: tokens - TOKEN,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket {
                nano_tokens: tokens,
                at: now,
            };
            let rate = u64::from(self.limit.per_second);
            let missing_nanos = (TOKEN - tokens).div_ceil(rate);
            Err(missing_nanos.div_ceil(1_000_000_000).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_bucket_runs_dry() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 1,
            burst: 3,
        });
        let ann = ParticipantId::new("ann").expect("id");
        let bob = ParticipantId::new("bob").expect("id");
        for _ in 0..3 {
            assert_eq!(limiter.check(&ann), Ok(()));
        }
        assert_eq!(limiter.check(&ann), Err(1));
        assert_eq!(limiter.check(&bob), Ok(()), "buckets are per participant");
    }

    #[test]
    fn limits_parse_as_rate_and_burst() {
        assert_eq!(
            "5/7".parse(),
            Ok(RateLimit {
                per_second: 5,
                burst: 7
            })
        );
        assert_eq!(
            "5".parse(),
            Ok(RateLimit {
                per_second: 5,
                burst: 10
            })
        );
        assert_eq!(
            RateLimit::default().to_string().parse(),
            Ok(RateLimit::default())
        );
        assert!("fast".parse::<RateLimit>().is_err());
    }
}
