//! `ChunkedLog`: an append-only list kept in chunks that never move, for
//! the per-lot event logs, bid histories, idempotency records and the
//! publisher's kept events.
//!
//! A `Vec` grows by doubling, copying everything it holds each time: on a
//! hot lot that was one copy of a million events under the shard's lock (a
//! stall of over 200 ms), and across many small lots about a tenth of all
//! instructions. Here every chunk is allocated once with its final
//! capacity and only ever filled, so appending never copies what is already
//! stored. Chunk sizes grow geometrically from [`FIRST_CHUNK`] up to
//! [`LAST_CHUNK`] (small lots stay small), then stay fixed; a position's
//! chunk is computed, not searched.
//!
//! The front can be dropped ([`ChunkedLog::pop_front`], for bounded logs):
//! a chunk is freed (or kept as the next chunk) once all of it is dropped,
//! so at most one chunk's worth of dropped elements is still held.

use std::collections::VecDeque;

/// Capacity of a log's first chunk (a power of two).
pub(crate) const FIRST_CHUNK: usize = 8;
/// Capacity every chunk grows to and then keeps (a power of two, at least
/// [`FIRST_CHUNK`]).
pub(crate) const LAST_CHUNK: usize = 256;
/// Chunks before the fixed-size ones: chunk 0 holds [`FIRST_CHUNK`], chunk
/// k ≥ 1 holds `FIRST_CHUNK << (k - 1)` (positions `[FIRST << (k-1),
/// FIRST << k)`) until that reaches [`LAST_CHUNK`] at chunk `GROWING`.
const GROWING: usize = (LAST_CHUNK / FIRST_CHUNK).trailing_zeros() as usize + 1;
const FIRST_BITS: u32 = FIRST_CHUNK.trailing_zeros();

const _: () = assert!(FIRST_CHUNK.is_power_of_two() && LAST_CHUNK.is_power_of_two());
const _: () = assert!(FIRST_CHUNK <= LAST_CHUNK);

/// The chunk holding position `at` (counted from the log's first element
/// ever) and the offset within it.
#[inline]
fn locate(at: usize) -> (usize, usize) {
    if at < FIRST_CHUNK {
        (0, at)
    } else if at < LAST_CHUNK {
        let bits = at.ilog2();
        ((bits - FIRST_BITS) as usize + 1, at - (1 << bits))
    } else {
        (GROWING - 1 + at / LAST_CHUNK, at % LAST_CHUNK)
    }
}

/// Capacity of chunk `k`.
#[inline]
fn capacity(k: usize) -> usize {
    match k {
        0 => FIRST_CHUNK,
        k if k < GROWING => FIRST_CHUNK << (k - 1),
        _ => LAST_CHUNK,
    }
}

/// Position of chunk `k`'s first element.
#[inline]
fn start(k: usize) -> usize {
    match k {
        0 => 0,
        k if k < GROWING => FIRST_CHUNK << (k - 1),
        k => LAST_CHUNK * (k - GROWING + 1),
    }
}

/// An append-only list in chunks that never move; see the module.
#[derive(Debug)]
pub(crate) struct ChunkedLog<T> {
    /// Chunks `dropped..`, each allocated with its [`capacity`].
    chunks: VecDeque<Vec<T>>,
    /// Chunks freed from the front.
    dropped: usize,
    /// Position of the first element still kept.
    head: usize,
    /// Position the next element takes (elements ever pushed).
    end: usize,
    /// A freed chunk of [`LAST_CHUNK`] kept empty for the next one.
    spare: Option<Vec<T>>,
}

impl<T> Default for ChunkedLog<T> {
    fn default() -> Self {
        Self {
            chunks: VecDeque::new(),
            dropped: 0,
            head: 0,
            end: 0,
            spare: None,
        }
    }
}

impl<T> ChunkedLog<T> {
    /// Elements kept.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.end - self.head
    }

    /// Appends `value`; never moves what is stored.
    #[inline]
    pub(crate) fn push(&mut self, value: T) {
        let (k, offset) = locate(self.end);
        if offset == 0 {
            self.open_chunk(k);
        }
        if let Some(last) = self.chunks.back_mut() {
            // Within the capacity the chunk was allocated with: no growth.
            debug_assert!(last.len() < last.capacity());
            last.push(value);
        }
        self.end += 1;
    }

    /// Starts chunk `k` (the freed spare if it is large enough).
    fn open_chunk(&mut self, k: usize) {
        let cap = capacity(k);
        let chunk = match self.spare.take() {
            Some(spare) if spare.capacity() >= cap => spare,
            _ => Vec::with_capacity(cap),
        };
        self.chunks.push_back(chunk);
    }

    /// Appends every element of `values` in order, moving them a chunk's
    /// worth at a time; never moves what is stored.
    pub(crate) fn append(&mut self, mut values: Vec<T>) {
        while !values.is_empty() {
            let (k, offset) = locate(self.end);
            if offset == 0 {
                self.open_chunk(k);
            }
            let Some(last) = self.chunks.back_mut() else {
                return;
            };
            let room = capacity(k) - offset;
            let n = values.len().min(room);
            if n == values.len() {
                // One copy into room the chunk was allocated with.
                last.append(&mut values);
            } else {
                last.extend(values.drain(..n));
            }
            self.end += n;
        }
    }

    /// Drops the oldest element (nothing if the log is empty).
    pub(crate) fn pop_front(&mut self) {
        if self.head == self.end {
            return;
        }
        self.head += 1;
        if locate(self.head).0 > self.dropped
            && let Some(mut chunk) = self.chunks.pop_front()
        {
            self.dropped += 1;
            chunk.clear();
            if chunk.capacity() >= LAST_CHUNK {
                self.spare = Some(chunk);
            }
        }
    }

    /// The oldest element kept.
    pub(crate) fn front(&self) -> Option<&T> {
        self.get(0)
    }

    /// The element `index` places after the oldest kept.
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len() {
            return None;
        }
        let (k, offset) = locate(self.head + index);
        self.chunks.get(k - self.dropped)?.get(offset)
    }

    /// The kept elements from `index` (relative to the oldest kept) on.
    pub(crate) fn iter_from(&self, index: usize) -> impl Iterator<Item = &T> {
        let (first, offset) = if index < self.len() {
            let (k, offset) = locate(self.head + index);
            (k - self.dropped, offset)
        } else {
            (self.chunks.len(), 0)
        };
        self.chunks
            .range(first.min(self.chunks.len())..)
            .enumerate()
            .flat_map(move |(i, chunk)| {
                let from = if i == 0 { offset } else { 0 };
                chunk.get(from..).unwrap_or_default()
            })
    }

    /// Every kept element, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.iter_from(0)
    }

    /// How many kept elements, from the oldest, satisfy `pred`, for a log
    /// partitioned by it (all that do come first), as
    /// `slice::partition_point`.
    pub(crate) fn partition_point(&self, mut pred: impl FnMut(&T) -> bool) -> usize {
        if self.head == self.end {
            return 0;
        }
        // Chunks wholly satisfying `pred` (by their last element), then
        // the first that does not, searched inside.
        let whole = self
            .chunks
            .partition_point(|chunk| chunk.last().is_some_and(&mut pred));
        let Some(chunk) = self.chunks.get(whole) else {
            return self.len();
        };
        let k = self.dropped + whole;
        let from = if whole == 0 { locate(self.head).1 } else { 0 };
        let inside = chunk
            .get(from..)
            .unwrap_or_default()
            .partition_point(&mut pred);
        start(k) + from + inside - self.head
    }
}

impl<T> Extend<T> for ChunkedLog<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, values: I) {
        for value in values {
            self.push(value);
        }
    }
}

impl<T> From<Vec<T>> for ChunkedLog<T> {
    fn from(values: Vec<T>) -> Self {
        let mut log = Self::default();
        log.append(values);
        log
    }
}

/// Positions (or sequences) around every chunk edge of a log of `n`
/// elements, from 0 to just past the end, with `extra` ones: where the
/// logs built on [`ChunkedLog`] are tested.
#[cfg(test)]
pub(crate) fn around_chunk_edges(n: u64, extra: &[u64]) -> Vec<u64> {
    let mut at = vec![0, 1, 2, n.saturating_sub(1), n, n + 1];
    at.extend_from_slice(extra);
    let edges = (0..).map(|k| start(k) as u64).take_while(|&s| s <= n);
    at.extend(edges.flat_map(|s| [s.saturating_sub(1), s, s + 1]));
    at.sort_unstable();
    at.dedup();
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Positions around every chunk edge up to a few fixed-size chunks.
    fn edges() -> Vec<usize> {
        let mut at: Vec<usize> = (0..GROWING + 4)
            .flat_map(|k| {
                let s = start(k);
                [s.saturating_sub(1), s, s + 1]
            })
            .collect();
        at.sort_unstable();
        at.dedup();
        at
    }

    #[test]
    fn chunks_tile_the_positions_without_gaps_or_overlap() {
        let mut expected_start = 0;
        for k in 0..GROWING + 5 {
            assert_eq!(start(k), expected_start, "chunk {k}");
            for at in [start(k), start(k) + capacity(k) - 1] {
                assert_eq!(locate(at), (k, at - start(k)), "position {at}");
            }
            expected_start += capacity(k);
        }
        assert_eq!(capacity(GROWING), LAST_CHUNK);
        assert_eq!(capacity(GROWING - 1), LAST_CHUNK / 2);
    }

    #[test]
    fn every_position_reads_back_across_chunk_edges() {
        let n = start(GROWING + 3) + 7;
        let log = ChunkedLog::from((0..n).collect::<Vec<usize>>());
        assert_eq!(log.len(), n);
        for i in 0..n {
            assert_eq!(log.get(i), Some(&i));
        }
        assert_eq!(log.get(n), None);
        assert!(log.iter().copied().eq(0..n));
        for i in edges().into_iter().chain([n - 1, n, n + 1]) {
            assert!(log.iter_from(i).copied().eq(i.min(n)..n), "from {i}");
            assert_eq!(log.partition_point(|&x| x < i), i.min(n), "below {i}");
        }
    }

    #[test]
    fn appending_runs_of_any_length_fills_chunks_in_order() {
        let n = start(GROWING + 3) + 7;
        for run in [
            1,
            2,
            3,
            4,
            5,
            7,
            8,
            9,
            100,
            LAST_CHUNK - 1,
            LAST_CHUNK,
            LAST_CHUNK + 1,
            n,
        ] {
            let mut log = ChunkedLog::default();
            let mut next = 0;
            while next < n {
                let to = (next + run).min(n);
                log.append((next..to).collect());
                next = to;
                assert_eq!(log.len(), next);
            }
            log.append(Vec::new());
            assert!(log.iter().copied().eq(0..n), "runs of {run}");
            for i in edges() {
                assert_eq!(log.get(i), (i < n).then_some(&i), "runs of {run}, at {i}");
            }
            let grown = log
                .chunks
                .iter()
                .enumerate()
                .any(|(k, c)| c.capacity() != capacity(k));
            assert!(!grown, "runs of {run}: a chunk was reallocated");
            let sizes: Vec<usize> = log.chunks.iter().map(Vec::len).collect();
            let expected: Vec<usize> = (0..log.chunks.len())
                .map(|k| capacity(k).min(n - start(k)))
                .collect();
            assert_eq!(sizes, expected, "runs of {run}: chunks filled exactly");
        }
    }

    #[test]
    fn pushing_never_moves_stored_elements() {
        let mut log = ChunkedLog::default();
        log.push(0u64);
        let first: *const u64 = log.get(0).unwrap_or_else(|| panic!("pushed"));
        for i in 1..10_000 {
            log.push(i);
        }
        let after: *const u64 = log.get(0).unwrap_or_else(|| panic!("kept"));
        assert_eq!(first, after);
    }

    #[test]
    fn dropping_the_front_keeps_the_rest_in_order() {
        let bound = 1_000;
        let mut log = ChunkedLog::default();
        for i in 0..5_000usize {
            if log.len() >= bound {
                log.pop_front();
            }
            log.push(i);
            let oldest = (i + 1).saturating_sub(bound);
            assert_eq!(log.front(), Some(&oldest), "after {i}");
            assert_eq!(log.len(), i + 1 - oldest);
        }
        assert!(log.iter().copied().eq(4_000..5_000));
        for i in edges().into_iter().chain([999, 1000, 1001]) {
            assert!(log.iter_from(i).copied().eq((4_000 + i).min(5_000)..5_000));
            assert_eq!(log.partition_point(|&x| x < 4_000 + i), i.min(1_000));
        }
        assert!(log.chunks.len() <= bound / LAST_CHUNK + 2, "freed chunks");
        while log.len() > 0 {
            log.pop_front();
        }
        assert_eq!((log.front(), log.iter().count()), (None, 0));
        assert_eq!(log.partition_point(|_| true), 0);
        log.push(5_000);
        assert_eq!(log.front(), Some(&5_000));
        log.pop_front();
        log.pop_front();
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn an_empty_log_reads_as_empty() {
        let log = ChunkedLog::<u8>::default();
        assert_eq!((log.len(), log.front(), log.get(0)), (0, None, None));
        assert_eq!(log.iter_from(3).count(), 0);
        assert_eq!(log.partition_point(|_| true), 0);
    }
}
