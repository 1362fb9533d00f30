//! The transactional outbox. A committed entry's events are written as
//! `log` rows in the same transaction as its state, and `log` rows are
//! appended in commit order: the log *is* the outbox, so "committed" and
//! "queued for publishing" cannot disagree, also across a crash. A relay
//! reads the rows after its acknowledged position (kept in `meta`),
//! publishes their events, then acknowledges the last position it
//! published: at least once, in order per lot (SPEC §6).

use crate::codec;
use crate::writer::Fail;
use hammerfall_ports::{EventEnvelope, LotId, StoreError};
use rusqlite::Connection;

/// Most log rows one [`SqliteStore::pending_events`](crate::SqliteStore::pending_events) call returns.
pub const MAX_OUTBOX_BATCH: usize = 1_000;

/// The `meta` row holding the relay's acknowledged position.
const OUTBOX_POSITION: &str = "outbox_position";

/// A run of one lot's committed events, waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its place in commit order; acknowledge through it with
    /// [`SqliteStore::ack_outbox`](crate::SqliteStore::ack_outbox).
    pub position: u64,
    /// The lot.
    pub lot_id: LotId,
    /// Its events, in sequence order.
    pub events: Vec<EventEnvelope>,
}

/// The oldest unacknowledged log rows, at most `limit` (clamped to
/// 1…[`MAX_OUTBOX_BATCH`]), none past `through` (the last durable
/// position: events reach the outside world only once they cannot be
/// lost).
pub(crate) fn pending(
    conn: &Connection,
    limit: usize,
    through: i64,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let limit = codec::sql_limit(limit.clamp(1, MAX_OUTBOX_BATCH));
    let rows: Vec<(i64, String, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT g.position, l.id, g.events FROM log g JOIN lots l ON l.key = g.lot
             WHERE g.position > coalesce((SELECT value FROM meta WHERE name = ?1), 0)
               AND g.position <= ?3
             ORDER BY g.position LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(rusqlite::params![OUTBOX_POSITION, limit, through], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect()
        })
        .map_err(crate::queries::sql)?;
    rows.into_iter()
        .map(|(position, lot_id, events)| {
            let lot_id = LotId::new(&lot_id).map_err(|e| StoreError::Corrupt(Box::new(e)))?;
            let events = codec::decode_events(&events)?;
            Ok(OutboxEntry {
                position: codec::seq_from_sql(position)?,
                events: events
                    .into_iter()
                    .map(|e| EventEnvelope::new(lot_id.clone(), e))
                    .collect(),
                lot_id,
            })
        })
        .collect()
}

/// Moves the acknowledged position forward to `through` (never back).
pub(crate) fn acknowledge(conn: &Connection, through: i64) -> Result<(), Fail<StoreError>> {
    conn.prepare_cached(
        "INSERT INTO meta (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = max(value, ?2)",
    )?
    .execute(rusqlite::params![OUTBOX_POSITION, through])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_rows_stop_at_the_durable_position() {
        let conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        crate::schema::migrate(&conn, 0).unwrap_or_else(|e| panic!("{e}"));
        conn.execute(
            "INSERT INTO lots (key, id, seller, status, sequence, state)
             VALUES (1, 'lot-1', 'sam', 'open', 3, x'00')",
            [],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let events = codec::encode_events(&[]).unwrap_or_else(|e| panic!("{e}"));
        for seq in 1..=3 {
            conn.execute(
                "INSERT INTO log (lot, first_sequence, last_sequence, events) VALUES (1, ?1, ?1, ?2)",
                rusqlite::params![seq, events],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let positions = |through| -> Vec<u64> {
            pending(&conn, 10, through)
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .map(|e| e.position)
                .collect()
        };
        assert_eq!(positions(0), Vec::<u64>::new());
        assert_eq!(positions(2), vec![1, 2]);
        assert_eq!(positions(3), vec![1, 2, 3]);
    }
}
