//! The single table's keys and attribute names. Every item has a partition
//! key `PK` and a sort key `SK`:
//!
//! | item | PK | SK |
//! |---|---|---|
//! | lot state | `LOT#<lot>` | `META` |
//! | event | `LOT#<lot>` | `EVT#<sequence, 20 digits>` |
//! | bid record | `LOT#<lot>` | `BID#<sequence, 20 digits>` |
//! | command record | `LOT#<lot>` | `CMD#<submitter>#<command id>` |
//! | creation record | `SELLER#<seller>` | `CMD#<command id>` |
//! | lot's credit hold | `LOT#<lot>` | `HOLD` |
//! | participant credit | `PARTICIPANT#<participant>` | `CREDIT` |
//! | queued command marker | `LOT#<lot>` | `PENDING#<submitter>#<command id>` |
//!
//! In `CMD#<submitter>#<command id>`, `%` and `#` of the submitter are
//! escaped (`%25`, `%23`) so the first `#` after it separates the two ids;
//! a timer's command (no submitter) has an empty submitter. Ids never
//! contain whitespace, and never are empty, so every key is unique.

use hammerfall_ports::{CommandId, CommandKey, LotId, LotStatus, ParticipantId, Timestamp};

/// Partition key attribute.
pub(crate) const PK: &str = "PK";
/// Sort key attribute.
pub(crate) const SK: &str = "SK";
/// Sort key of a lot's state item.
pub(crate) const META: &str = "META";
/// Sort key of a lot's credit hold item.
pub(crate) const HOLD: &str = "HOLD";
/// Sort key of a participant's credit item.
pub(crate) const CREDIT: &str = "CREDIT";
/// Sort key prefix of events.
pub(crate) const EVT: &str = "EVT#";
/// Sort key prefix of bid records.
pub(crate) const BID: &str = "BID#";

/// META: the lot as JSON.
pub(crate) const STATE: &str = "state";
/// META: the lot's sequence (number; the compare-and-set token).
pub(crate) const SEQ: &str = "seq";
/// META: the status (partition key of the status index).
pub(crate) const STATUS: &str = "status";
/// META: `<next due time>#<lot>` (sort key of the status index).
pub(crate) const DUE_KEY: &str = "dueKey";
/// META: the seller (partition key of the seller index).
pub(crate) const SELLER_ID: &str = "sellerId";
/// META: `<status>#<lot>` (sort key of the seller index).
pub(crate) const STATUS_KEY: &str = "statusKey";
/// EVT#: the sequenced event as JSON.
pub(crate) const EVENT: &str = "event";
/// BID#: the bid record as JSON.
pub(crate) const BID_RECORD: &str = "bid";
/// CMD#: the command record as JSON.
pub(crate) const RECORD: &str = "record";
/// PENDING#: when the marker may be deleted (Unix seconds; the table's
/// time-to-live attribute).
pub(crate) const EXPIRES_AT: &str = "expiresAt";

/// The status index: every lot by status, ordered by next due time.
pub(crate) const STATUS_INDEX: &str = "status-due";
/// The seller index: every lot by seller, ordered by status.
pub(crate) const SELLER_INDEX: &str = "seller-status";

/// The due part of a `dueKey` for a lot with nothing due: sorts after
/// every time.
const NEVER_DUE: &str = "~";
/// Added to Unix seconds so every instant chrono represents (±262,000
/// years, below 10^13 s) is a positive 14-digit number.
const EPOCH_SHIFT_SECS: i64 = 10_000_000_000_000;

pub(crate) fn lot_pk(lot: &LotId) -> String {
    format!("LOT#{lot}")
}

pub(crate) fn participant_pk(p: &ParticipantId) -> String {
    format!("PARTICIPANT#{p}")
}

/// A sequence number, zero-padded to 20 digits so keys sort numerically.
pub(crate) fn seq_sk(prefix: &str, sequence: u64) -> String {
    format!("{prefix}{sequence:020}")
}

/// Escapes `%` and `#` so a component can sit before a `#` separator.
fn escape(s: &str) -> String {
    s.replace('%', "%25").replace('#', "%23")
}

/// Where a command record lives (see the module doc).
pub(crate) fn command_keys(key: &CommandKey) -> (String, String) {
    let submitter = key.submitter.as_ref().map_or("", ParticipantId::as_str);
    match &key.lot_id {
        Some(lot) => (
            lot_pk(lot),
            format!("CMD#{}#{}", escape(submitter), key.command_id),
        ),
        None => (
            format!("SELLER#{submitter}"),
            format!("CMD#{}", key.command_id),
        ),
    }
}

/// Where the marker of a queued, not yet judged command lives: in its
/// lot's partition (for a creation, the new lot's), keyed like a command
/// record (`PENDING#` instead of `CMD#`), so only its submitter finds it.
pub(crate) fn pending_keys(
    lot: &LotId,
    submitter: &ParticipantId,
    command: &CommandId,
) -> (String, String) {
    (
        lot_pk(lot),
        format!("PENDING#{}#{command}", escape(submitter.as_str())),
    )
}

/// An instant as fixed-width text that sorts in time order:
/// `<shifted seconds, 14 digits>.<nanoseconds, 9 digits>`.
pub(crate) fn time_key(t: Timestamp) -> String {
    let secs = t.timestamp().saturating_add(EPOCH_SHIFT_SECS).max(0);
    // A leap second reports nanoseconds ≥ 10^9; keep the width fixed.
    let nanos = t.timestamp_subsec_nanos().min(999_999_999);
    format!("{secs:014}.{nanos:09}")
}

/// `dueKey` of a lot: its next due time (or [`NEVER_DUE`]) and its id.
pub(crate) fn due_key(due: Option<Timestamp>, lot: &LotId) -> String {
    match due {
        Some(t) => format!("{}#{lot}", time_key(t)),
        None => format!("{NEVER_DUE}#{lot}"),
    }
}

/// Every `dueKey` of a lot due at or before `now` is below this bound
/// (`$` sorts right after `#`).
pub(crate) fn due_bound(now: Timestamp) -> String {
    format!("{}$", time_key(now))
}

/// `statusKey` of a lot.
pub(crate) fn status_key(status: LotStatus, lot: &LotId) -> String {
    format!("{}#{lot}", status.as_str())
}

/// Every status, in listing order.
pub(crate) const STATUSES: [LotStatus; 5] = [
    LotStatus::Scheduled,
    LotStatus::Open,
    LotStatus::Reserved,
    LotStatus::Closed,
    LotStatus::Cancelled,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(lot: Option<&str>, who: Option<&str>, id: &str) -> CommandKey {
        CommandKey {
            lot_id: lot.map(|l| LotId::new(l).unwrap_or_else(|e| panic!("{e}"))),
            submitter: who.map(|w| ParticipantId::new(w).unwrap_or_else(|e| panic!("{e}"))),
            command_id: CommandId::new(id).unwrap_or_else(|e| panic!("{e}")),
        }
    }

    #[test]
    fn command_keys_are_unambiguous_whatever_the_ids_contain() {
        let a = command_keys(&key(Some("l"), Some("a#b"), "c"));
        let b = command_keys(&key(Some("l"), Some("a"), "b#c"));
        let c = command_keys(&key(Some("l"), Some("a%23b"), "c"));
        let timer = command_keys(&key(Some("l"), None, "c"));
        let creation = command_keys(&key(None, Some("l"), "c"));
        let all = [&a, &b, &c, &timer, &creation];
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(a, ("LOT#l".to_owned(), "CMD#a%23b#c".to_owned()));
        assert_eq!(timer.1, "CMD##c");
        assert_eq!(creation, ("SELLER#l".to_owned(), "CMD#c".to_owned()));
    }

    #[test]
    fn time_keys_sort_in_time_order() {
        let t = |s: i64, n: u32| {
            Timestamp::from_timestamp(s, n).unwrap_or_else(|| panic!("bad instant {s}"))
        };
        let instants = [t(-100, 5), t(0, 0), t(0, 1), t(1, 0), t(1_893_456_000, 0)];
        for w in instants.windows(2) {
            assert!(time_key(w[0]) < time_key(w[1]), "{w:?}");
        }
        let lot = LotId::new("zzz").unwrap_or_else(|e| panic!("{e}"));
        assert!(due_key(Some(t(5, 0)), &lot) < due_bound(t(5, 0)));
        assert!(due_key(Some(t(5, 1)), &lot) > due_bound(t(5, 0)));
        assert!(due_key(None, &lot) > due_bound(t(i64::from(i32::MAX), 0)));
    }
}
