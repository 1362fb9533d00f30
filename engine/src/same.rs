//! Id equality for the bid hot path.

use hammerfall_ports::ParticipantId;

/// `a == b`, eight bytes at a time: ids are short, and this costs a few
/// instructions where the derived comparison calls `memcmp`.
#[inline]
pub(crate) fn same_participant(a: &ParticipantId, b: &ParticipantId) -> bool {
    let (a, b) = (a.as_str().as_bytes(), b.as_str().as_bytes());
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

#[cfg(test)]
mod tests {
    use super::same_participant;
    use hammerfall_ports::ParticipantId;

    #[test]
    fn same_participant_is_string_equality() {
        let mut texts: Vec<String> = [
            "a",
            "b",
            "ab",
            "ba",
            "bidder-a",
            "bidder-b",
            "bidder-aa",
            "bidder-ab",
            "seller",
            "sellers",
            "0123456789abcdef",
            "0123456789abcdeg",
        ]
        .map(String::from)
        .to_vec();
        for n in [23, 24, 100] {
            texts.push("x".repeat(n));
            texts.push(format!("{}y", "x".repeat(n - 1)));
        }
        let ids: Vec<ParticipantId> = texts
            .iter()
            .map(|s| ParticipantId::new(s).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        for a in &ids {
            for b in &ids {
                assert_eq!(same_participant(a, b), a == b, "{a} vs {b}");
            }
        }
    }
}
