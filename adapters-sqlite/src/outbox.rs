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
/// 1…[`MAX_OUTBOX_BATCH`]).
pub(crate) fn pending(conn: &Connection, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
    let limit = codec::sql_limit(limit.clamp(1, MAX_OUTBOX_BATCH));
    let rows: Vec<(i64, String, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT g.position, l.id, g.events FROM log g JOIN lots l ON l.key = g.lot
             WHERE g.position > coalesce((SELECT value FROM meta WHERE name = ?1), 0)
             ORDER BY g.position LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(rusqlite::params![OUTBOX_POSITION, limit], |r| {
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
