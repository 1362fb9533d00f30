//! Id generators: deterministic ones for tests and golden output, and
//! time-ordered unique ones for hosts. Both stay within 23 bytes, the size
//! ids are stored inline (allocation-free) in the ports' id types.

use hammerfall_ports::{BidId, CommandId, IdError, IdGenerator, LotId, ReservationId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest id either generator produces, in bytes (ids up to this size are
/// kept inline by the ports' id types).
pub const MAX_GENERATED_ID_LEN: usize = 23;
/// Longest prefix [`SequentialIds::with_prefix`] takes, so that prefix,
/// dash and [`SEQUENTIAL_DIGITS_MAX`] digits fit [`MAX_GENERATED_ID_LEN`].
pub const MAX_SEQUENTIAL_PREFIX_LEN: usize = 8;
/// Most digits a sequential id's counter may grow to.
pub const SEQUENTIAL_DIGITS_MAX: usize = 14;
/// Digits a sequential counter is zero-padded to (`id-000001`), so ids sort
/// by creation in the usual test sizes.
pub const SEQUENTIAL_PAD: usize = 6;

/// "00" to "99", for writing numbers two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// An id built in place: at most [`MAX_GENERATED_ID_LEN`] ASCII bytes, so
/// the typed ids (`LotId`, `BidId`, …) are made from it without a heap
/// allocation, and `next_id` allocates its `String` once, at its size.
struct IdText {
    bytes: [u8; MAX_GENERATED_ID_LEN],
    len: usize,
}

impl IdText {
    fn as_str(&self) -> &str {
        // Only ASCII is ever written; the check costs a few instructions.
        std::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }

    /// The typed id; generated text always is a valid id.
    fn id<'a, T: TryFrom<&'a str, Error = IdError>>(&'a self) -> T {
        T::try_from(self.as_str()).unwrap_or_else(|e| panic!("IdGenerator broke its contract: {e}"))
    }
}

/// Deterministic ids `id-000001`, `id-000002`, …: the same test always gets
/// the same ids, so failures and snapshots reproduce.
///
/// # Panics
/// Its `IdGenerator` methods panic after 10^14 − 1 ids (the id would
/// outgrow [`MAX_GENERATED_ID_LEN`]).
#[derive(Debug)]
pub struct SequentialIds {
    /// The prefix and its dash, ready to copy.
    head: [u8; MAX_SEQUENTIAL_PREFIX_LEN + 1],
    head_len: usize,
    next: AtomicU64,
}

impl SequentialIds {
    /// Ids `id-000001`, `id-000002`, ….
    pub fn new() -> Self {
        Self::with_prefix("id")
    }

    /// Ids `<prefix>-000001`, ….
    ///
    /// # Panics
    /// If `prefix` is empty, longer than [`MAX_SEQUENTIAL_PREFIX_LEN`] bytes
    /// or not made of ASCII letters, digits, `_` and `-`: a test setup bug.
    pub fn with_prefix(prefix: &str) -> Self {
        assert!(
            !prefix.is_empty()
                && prefix.len() <= MAX_SEQUENTIAL_PREFIX_LEN
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "SequentialIds prefix must be 1–{MAX_SEQUENTIAL_PREFIX_LEN} ASCII letters, digits, _ or -"
        );
        let mut head = [0; MAX_SEQUENTIAL_PREFIX_LEN + 1];
        head[..prefix.len()].copy_from_slice(prefix.as_bytes());
        head[prefix.len()] = b'-';
        Self {
            head,
            head_len: prefix.len() + 1,
            next: AtomicU64::new(1),
        }
    }

    /// The next id: the prefix, a dash and the counter, zero-padded to
    /// [`SEQUENTIAL_PAD`] digits. Written by hand, not with `format!`:
    /// benches generate ids by the million, and the formatting machinery
    /// costs more than the rest.
    ///
    /// # Panics
    /// After 10^14 − 1 ids (the id would outgrow [`MAX_GENERATED_ID_LEN`]).
    fn next_text(&self) -> IdText {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let width = n
            .checked_ilog10()
            .map_or(1, |d| d as usize + 1)
            .max(SEQUENTIAL_PAD);
        assert!(width <= SEQUENTIAL_DIGITS_MAX, "SequentialIds exhausted");
        let mut bytes = [b'0'; MAX_GENERATED_ID_LEN];
        bytes[..self.head.len()].copy_from_slice(&self.head);
        let len = self.head_len + width;
        // Zeros pad the number to `width`; its digits are written two per
        // division, from the right.
        bytes[self.head_len..len].fill(b'0');
        let mut rest = n;
        let mut at = len;
        while rest >= 10 {
            let pair = usize::try_from(rest % 100).unwrap_or(0) * 2;
            rest /= 100;
            at -= 2;
            bytes[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        }
        if rest > 0 {
            bytes[at - 1] = b'0' + u8::try_from(rest).unwrap_or(0);
        }
        IdText { bytes, len }
    }
}

impl Default for SequentialIds {
    fn default() -> Self {
        Self::new()
    }
}

/// `IdGenerator` for generators that write each id on the stack
/// (`next_text`): the typed ids come straight from there, with no `String`
/// in between.
macro_rules! stack_id_generator {
    ($($generator:ty),*) => {$(
        impl IdGenerator for $generator {
            fn next_id(&self) -> String {
                self.next_text().as_str().to_owned()
            }

            fn lot_id(&self) -> LotId {
                self.next_text().id()
            }

            fn bid_id(&self) -> BidId {
                self.next_text().id()
            }

            fn reservation_id(&self) -> ReservationId {
                self.next_text().id()
            }

            fn command_id(&self) -> CommandId {
                self.next_text().id()
            }
        }
    )*};
}

stack_id_generator!(SequentialIds, UniqueIds);

/// Base-62 digits in ASCII order, so fixed-width base-62 text sorts like
/// the numbers it encodes.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Width of the millisecond timestamp (62^8 ms reaches past the year 8000).
const TIME_DIGITS: usize = 8;
/// Width of the per-millisecond counter.
const COUNTER_DIGITS: usize = 4;
/// Width of the node (process) suffix.
const NODE_DIGITS: usize = 6;
/// Ids one generator hands out within one millisecond before it borrows
/// the next millisecond (62^4).
const COUNTER_LIMIT: u64 = 62 * 62 * 62 * 62;
/// Distinct node suffixes (62^6).
const NODE_LIMIT: u64 = 62 * 62 * 62 * 62 * 62 * 62;

/// Generators created in this process so far: part of the node suffix, so
/// two generators of one process never collide.
static GENERATORS: AtomicU64 = AtomicU64::new(0);

/// Writes `n` as `width` base-62 digits (most significant first) into
/// `out`, which is `width` bytes long.
fn base62(mut n: u64, out: &mut [u8]) {
    for slot in out.iter_mut().rev() {
        *slot = BASE62[usize::try_from(n % 62).unwrap_or(0)];
        n /= 62;
    }
}

/// FNV-1a: a fixed, dependency-free hash (no random seed), so the node
/// suffix is a pure function of its inputs.
fn fnv1a(parts: &[u64]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Unique, time-ordered ids of 18 base-62 characters: milliseconds since
/// the Unix epoch (8), a counter within the millisecond (4) and a node
/// suffix (6). Ids of one generator strictly increase; ids of different
/// generators sort by millisecond. No randomness: the node suffix hashes the
/// process id, the generator's creation time and a per-process generator
/// count, or is given explicitly ([`UniqueIds::with_node`]) where hosts can
/// assign one.
#[derive(Debug)]
pub struct UniqueIds {
    node: u64,
    state: Mutex<(u64, u64)>,
}

impl UniqueIds {
    /// A generator with a node suffix derived from this process.
    pub fn new() -> Self {
        let count = GENERATORS.fetch_add(1, Ordering::Relaxed);
        let node = fnv1a(&[u64::from(std::process::id()), unix_nanos(), count]);
        Self::with_node(node)
    }

    /// A generator with an explicit node number (taken modulo 62^6).
    pub fn with_node(node: u64) -> Self {
        Self {
            node: node % NODE_LIMIT,
            state: Mutex::new((0, 0)),
        }
    }

    fn next_slot(&self) -> (u64, u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last_ms, counter) = *state;
        let now = unix_millis();
        *state = if now > last_ms {
            (now, 0)
        } else if counter + 1 < COUNTER_LIMIT {
            (last_ms, counter + 1)
        } else {
            (last_ms + 1, 0)
        };
        *state
    }
}

impl Default for UniqueIds {
    fn default() -> Self {
        Self::new()
    }
}

impl UniqueIds {
    fn next_text(&self) -> IdText {
        let (ms, counter) = self.next_slot();
        let mut text = IdText {
            bytes: [0; MAX_GENERATED_ID_LEN],
            len: TIME_DIGITS + COUNTER_DIGITS + NODE_DIGITS,
        };
        let (time, rest) = text.bytes.split_at_mut(TIME_DIGITS);
        let (count, rest) = rest.split_at_mut(COUNTER_DIGITS);
        base62(ms, time);
        base62(counter, count);
        base62(self.node, &mut rest[..NODE_DIGITS]);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn sequential_ids_are_deterministic_and_padded() {
        let ids = SequentialIds::new();
        assert_eq!(ids.next_id(), "id-000001");
        assert_eq!(ids.next_id(), "id-000002");
        assert_eq!(ids.lot_id().as_str(), "id-000003");
        let lots = SequentialIds::with_prefix("lot");
        assert_eq!(lots.next_id(), "lot-000001");
    }

    #[test]
    fn the_longest_sequential_id_fits_inline() {
        let prefix = "p".repeat(MAX_SEQUENTIAL_PREFIX_LEN);
        let ids = SequentialIds::with_prefix(&prefix);
        ids.next.store(10u64.pow(14) - 1, Ordering::Relaxed);
        assert_eq!(ids.next_id().len(), MAX_GENERATED_ID_LEN);
    }

    #[test]
    fn typed_ids_are_the_same_text_as_next_id() {
        let (a, b) = (
            SequentialIds::with_prefix("x_1"),
            SequentialIds::with_prefix("x_1"),
        );
        for n in 1..=1_200u64 {
            let expected = a.next_id();
            assert_eq!(expected, format!("x_1-{n:06}"));
            let typed = match n % 4 {
                0 => b.lot_id().to_string(),
                1 => b.bid_id().to_string(),
                2 => b.reservation_id().to_string(),
                _ => b.command_id().to_string(),
            };
            assert_eq!(typed, expected);
        }
        for n in [
            9,
            10,
            99,
            100,
            999_999,
            1_000_000,
            1_234_567,
            12_345_678,
            10u64.pow(14) - 1,
        ] {
            a.next.store(n, Ordering::Relaxed);
            assert_eq!(a.next_id(), format!("x_1-{n:06}"));
        }
        let unique = UniqueIds::with_node(42);
        let ids = [
            unique.next_id(),
            unique.lot_id().to_string(),
            unique.bid_id().to_string(),
            unique.reservation_id().to_string(),
            unique.command_id().to_string(),
        ];
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(
            ids.iter()
                .all(|id| id.len() == 18 && id.ends_with("00000g")),
            "{ids:?}"
        );
    }

    #[test]
    #[should_panic(expected = "prefix")]
    fn a_long_prefix_is_refused() {
        let _ = SequentialIds::with_prefix("much-too-long");
    }

    #[test]
    fn unique_ids_are_unique_increasing_and_short() {
        let ids = UniqueIds::new();
        let mut seen = HashSet::new();
        let mut prev = String::new();
        for _ in 0..20_000 {
            let id = ids.next_id();
            assert!(id.len() <= MAX_GENERATED_ID_LEN, "{id}");
            assert!(id > prev, "{id} after {prev}");
            assert!(seen.insert(id.clone()));
            prev = id;
        }
        assert!(ids.lot_id().as_str().len() <= MAX_GENERATED_ID_LEN);
    }

    #[test]
    fn two_generators_of_one_process_do_not_collide() {
        let (a, b) = (UniqueIds::new(), UniqueIds::new());
        assert_ne!(a.node, b.node);
        let from_a: HashSet<String> = (0..1000).map(|_| a.next_id()).collect();
        assert!((0..1000).all(|_| !from_a.contains(&b.next_id())));
    }

    #[test]
    fn base62_is_fixed_width_and_order_preserving() {
        let enc = |n| {
            let mut s = [0; 4];
            base62(n, &mut s);
            String::from_utf8_lossy(&s).into_owned()
        };
        assert_eq!(enc(0), "0000");
        assert_eq!(enc(61), "000z");
        assert_eq!(enc(62), "0010");
        assert!(enc(12_345) < enc(12_346) && enc(99) < enc(1_000));
    }
}
