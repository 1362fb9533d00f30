//! The read queries, run on a reader thread's own connection. Each is one
//! statement (one consistent snapshot) served by an index: the lot by its
//! id, a lot's events or bids by `(lot, last_sequence)` of its log rows,
//! lots by
//! `(status, key)` or `(seller, key)`, due work by `(next_due, key)`.

use crate::codec;
use crate::writer::FromSql;
use hammerfall_ports::{
    BidRecord, CommandKey, CommandRecord, Cursor, DEFAULT_PAGE_SIZE, Lot, LotId, LotQuery, Page,
    SequencedEvent, StoreError, Timestamp,
};
use rusqlite::types::Value;
use rusqlite::{CachedStatement, Connection, OptionalExtension, params, params_from_iter};

/// Maps a SQLite failure on the read side.
pub(crate) fn sql(e: rusqlite::Error) -> StoreError {
    StoreError::from_sql(e)
}

/// The lot, if it exists.
pub(crate) fn load(conn: &Connection, lot_id: &LotId) -> Result<Option<Lot>, StoreError> {
    let row: Option<(Vec<u8>, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT t.terms, l.state FROM lots l JOIN lot_terms t ON t.lot = l.key
             WHERE l.id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([lot_id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sql)?;
    row.map(|(terms, state)| codec::decode_lot(lot_id.as_str(), &terms, &state))
        .transpose()
}

/// The idempotency record under a key: one lookup in the key's B-tree.
pub(crate) fn command(
    conn: &Connection,
    key: &CommandKey,
) -> Result<Option<CommandRecord>, StoreError> {
    let mut stmt = command_statement(conn)?;
    command_with(&mut stmt, key)
}

/// The statement [`command_with`] runs: prepared (found in the cache) once
/// for a batch of lookups, not once per key.
pub(crate) fn command_statement(conn: &Connection) -> Result<CachedStatement<'_>, StoreError> {
    conn.prepare_cached("SELECT body FROM command_records WHERE key = ?1")
        .map_err(sql)
}

/// [`command`] with its statement at hand: one descent of the records'
/// B-tree by the key.
pub(crate) fn command_with(
    stmt: &mut CachedStatement<'_>,
    key: &CommandKey,
) -> Result<Option<CommandRecord>, StoreError> {
    let mut rows = stmt.query([codec::command_key(key)]).map_err(sql)?;
    let Some(row) = rows.next().map_err(sql)? else {
        return Ok(None);
    };
    let body = row.get_ref(0).and_then(|v| Ok(v.as_blob()?)).map_err(sql)?;
    codec::decode_command(key, body).map(Some)
}

/// Events of a lot after `after`, ascending, at most a page: the log rows
/// that end after `after`, in order, until the page is full.
pub(crate) fn events_after(
    conn: &Connection,
    lot_id: &LotId,
    after: u64,
    limit: usize,
) -> Result<Vec<SequencedEvent>, StoreError> {
    let size = codec::page_size(limit);
    let mut stmt = conn
        .prepare_cached(
            "SELECT g.events FROM lots l JOIN log g ON g.lot = l.key
             WHERE l.id = ?1 AND g.last_sequence > ?2 ORDER BY g.last_sequence",
        )
        .map_err(sql)?;
    let mut rows = stmt
        .query(params![lot_id.as_str(), codec::seq_to_sql(after)])
        .map_err(sql)?;
    let mut out = Vec::with_capacity(size.min(DEFAULT_PAGE_SIZE));
    while out.len() < size {
        let Some(row) = rows.next().map_err(sql)? else {
            break;
        };
        let bytes = row.get_ref(0).and_then(|v| Ok(v.as_blob()?)).map_err(sql)?;
        let chunk = codec::decode_events(bytes)?;
        let fresh = chunk.into_iter().filter(|e| e.sequence > after);
        out.extend(fresh.take(size - out.len()));
    }
    Ok(out)
}

/// A page of a lot's bid history, in sequence order.
pub(crate) fn bids(
    conn: &Connection,
    lot_id: &LotId,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Result<Page<BidRecord>, StoreError> {
    let after = codec::bids_after(cursor)?;
    let size = codec::page_size(limit);
    let mut stmt = conn
        .prepare_cached(
            "SELECT g.bids, g.events FROM lots l JOIN log g ON g.lot = l.key
             WHERE l.id = ?1 AND g.last_sequence > ?2 AND g.bids IS NOT NULL
             ORDER BY g.last_sequence",
        )
        .map_err(sql)?;
    let mut rows = stmt.query(params![lot_id.as_str(), after]).map_err(sql)?;
    // One more than the page, to learn whether another page follows.
    let mut found: Vec<BidRecord> = Vec::with_capacity((size + 1).min(DEFAULT_PAGE_SIZE));
    while found.len() <= size {
        let Some(row) = rows.next().map_err(sql)? else {
            break;
        };
        let bytes = row.get_ref(0).and_then(|v| Ok(v.as_blob()?)).map_err(sql)?;
        let chunk: Vec<BidRecord> = if bytes.is_empty() {
            // The records the row's events imply (commit.rs).
            let events = row.get_ref(1).and_then(|v| Ok(v.as_blob()?)).map_err(sql)?;
            codec::implied_bids(&codec::decode_events(events)?)
        } else {
            codec::decode(bytes)?
        };
        let fresh = chunk
            .into_iter()
            .filter(|b| codec::seq_to_sql(b.sequence) > after);
        found.extend(fresh.take(size + 1 - found.len()));
    }
    let more = found.len() > size;
    found.truncate(size);
    let next_cursor = match found.last() {
        Some(last) if more => Some(codec::bids_cursor(codec::seq_to_sql(last.sequence))),
        _ => None,
    };
    Ok(Page {
        items: found,
        next_cursor,
    })
}

/// A page of lots matching `query`, in creation order.
pub(crate) fn lots(conn: &Connection, query: &LotQuery) -> Result<Page<Lot>, StoreError> {
    let after = codec::lots_after(query.cursor.as_ref())?;
    let size = codec::page_size(query.limit);
    let mut sql_text = String::from(
        "SELECT l.key, l.id, t.terms, l.state FROM lots l JOIN lot_terms t ON t.lot = l.key
         WHERE l.key > ?1",
    );
    let mut args = vec![Value::Integer(after)];
    if let Some(status) = query.status {
        args.push(Value::Text(status.as_str().to_owned()));
        sql_text.push_str(&format!(" AND l.status = ?{}", args.len()));
    }
    if let Some(seller) = &query.seller_id {
        args.push(Value::Text(seller.to_string()));
        sql_text.push_str(&format!(" AND l.seller = ?{}", args.len()));
    }
    args.push(Value::Integer(codec::sql_limit(size + 1)));
    sql_text.push_str(&format!(" ORDER BY l.key LIMIT ?{}", args.len()));
    type Row = (i64, String, Vec<u8>, Vec<u8>);
    let rows: Vec<Row> = conn
        .prepare_cached(&sql_text)
        .and_then(|mut s| {
            s.query_map(params_from_iter(args), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
        })
        .map_err(sql)?;
    let more = rows.len() > size;
    let items = rows
        .iter()
        .take(size)
        .map(|(_, id, terms, state)| codec::decode_lot(id, terms, state))
        .collect::<Result<Vec<Lot>, _>>()?;
    let next_cursor = match rows.get(size.saturating_sub(1)) {
        Some((key, ..)) if more => Some(codec::lots_cursor(*key)),
        _ => None,
    };
    Ok(Page { items, next_cursor })
}

/// Lots with something due at or before `now`, earliest first.
pub(crate) fn due(
    conn: &Connection,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<LotId>, StoreError> {
    let ids: Vec<String> = conn
        .prepare_cached(
            "SELECT id FROM lots WHERE next_due IS NOT NULL AND next_due <= ?1
             ORDER BY next_due, key LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(
                params![codec::nanos(now), codec::sql_limit(codec::page_size(limit))],
                |r| r.get(0),
            )?
            .collect()
        })
        .map_err(sql)?;
    ids.iter()
        .map(|id| LotId::new(id).map_err(|e| StoreError::Corrupt(Box::new(e))))
        .collect()
}
