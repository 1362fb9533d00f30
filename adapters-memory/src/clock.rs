//! Clocks: a manual one for tests (time moves only when the test says so)
//! and the system clock for hosts, made monotonic because the `Clock`
//! contract forbids going backwards while wall clocks may (NTP steps).

use chrono::{DateTime, Utc};
use hammerfall_ports::{Clock, Duration, Timestamp};
use std::sync::{Arc, Mutex, PoisonError};

/// Where a [`ManualClock`] starts by default: 2030-01-01T00:00:00Z, a fixed
/// instant so test output is reproducible.
pub const MANUAL_CLOCK_START_SECS: i64 = 1_893_456_000;

/// A clock that moves only when told to. Clones share the same time, so a
/// test keeps one handle and gives clones to the adapters it drives.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward by `by`.
    ///
    /// # Panics
    /// If `by` is negative: the `Clock` contract forbids going backwards, and
    /// a test that tries has a bug worth hearing about at once.
    pub fn advance(&self, by: Duration) {
        assert!(
            by >= Duration::zero(),
            "ManualClock::advance: a clock must not go backwards (by = {by})"
        );
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    /// Moves the clock to `at`.
    ///
    /// # Panics
    /// If `at` is before the current time (the `Clock` contract).
    pub fn set(&self, at: Timestamp) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            at >= *now,
            "ManualClock::set: a clock must not go backwards ({at} is before {})",
            *now
        );
        *now = at;
    }
}

impl Default for ManualClock {
    /// A clock at [`MANUAL_CLOCK_START_SECS`].
    fn default() -> Self {
        let start = DateTime::<Utc>::from_timestamp(MANUAL_CLOCK_START_SECS, 0)
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        Self::new(start)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The wall clock, never going backwards: if the system time steps back,
/// it keeps answering the latest instant it has given until the system
/// catches up. Clones share that memory.
#[derive(Debug, Clone, Default)]
pub struct SystemClock {
    last: Arc<Mutex<Option<Timestamp>>>,
}

impl SystemClock {
    /// A clock reading the system time.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let now = last.map_or_else(Utc::now, |prev| prev.max(Utc::now()));
        *last = Some(now);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_of_a_manual_clock_share_its_time() {
        let clock = ManualClock::default();
        let other = clock.clone();
        let start = clock.now();
        other.advance(Duration::seconds(90));
        assert_eq!(clock.now(), start + Duration::seconds(90));
        clock.set(start + Duration::hours(1));
        assert_eq!(other.now(), start + Duration::hours(1));
    }

    #[test]
    #[should_panic(expected = "must not go backwards")]
    fn a_manual_clock_refuses_to_go_backwards() {
        let clock = ManualClock::default();
        clock.set(clock.now() - Duration::seconds(1));
    }

    #[test]
    fn the_system_clock_never_goes_backwards() {
        let clock = SystemClock::new();
        let mut prev = clock.now();
        for _ in 0..1000 {
            let next = clock.now();
            assert!(next >= prev);
            prev = next;
        }
    }
}
