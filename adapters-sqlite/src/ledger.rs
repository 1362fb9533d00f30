//! The credit ledger's SQL (SPEC §3.1): limits per participant, one hold
//! per lot, consumed lots. Writes run on the writer thread under a
//! savepoint (so a refused hold changes nothing), reads on a reader.

use crate::writer::{CreditDone, CreditOp, Fail};
use hammerfall_ports::{
    CreditError, CreditView, Currency, LotId, Money, ParticipantId, parse_decimal,
};
use rusqlite::{Connection, OptionalExtension, params};

/// Most lots one participant may hold credit on at once; a further hold
/// is refused as [`CreditError::Insufficient`]. Bounds the work of summing
/// a participant's holds (the memory ledger's limit).
pub const MAX_HOLDS_PER_PARTICIPANT: usize = 10_000;

/// A stored amount or currency that does not parse. Returned inside
/// [`CreditError::Unavailable`] (the port has no corruption variant).
#[derive(Debug, thiserror::Error)]
#[error("stored credit value {0:?} is unreadable")]
pub struct BadCreditValue(pub String);

fn bad(text: &str) -> CreditError {
    CreditError::Unavailable(Box::new(BadCreditValue(text.to_owned())))
}

fn money(text: &str, currency: Currency) -> Result<Money, CreditError> {
    parse_decimal(text)
        .ok()
        .and_then(|d| Money::new(d, currency).ok())
        .ok_or_else(|| bad(text))
}

fn currency(text: &str) -> Result<Currency, CreditError> {
    text.parse().map_err(|_| bad(text))
}

fn sql(e: rusqlite::Error) -> CreditError {
    CreditError::Unavailable(Box::new(e))
}

/// A participant's account: (currency, limit).
fn account(
    conn: &Connection,
    participant: &ParticipantId,
) -> Result<Option<(Currency, Money)>, CreditError> {
    let row: Option<(String, String)> = conn
        .prepare_cached("SELECT currency, credit_limit FROM credit_accounts WHERE participant = ?1")
        .and_then(|mut s| {
            s.query_row([participant.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sql)?;
    row.map(|(c, l)| {
        let c = currency(&c)?;
        Ok((c, money(&l, c)?))
    })
    .transpose()
}

/// `participant`'s holds: (lot, amount), in `currency`.
fn holds(
    conn: &Connection,
    participant: &ParticipantId,
    currency: Currency,
) -> Result<Vec<(String, Money)>, CreditError> {
    let rows: Vec<(String, String)> = conn
        .prepare_cached("SELECT lot, amount FROM credit_holds WHERE participant = ?1")
        .and_then(|mut s| {
            s.query_map([participant.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(sql)?;
    rows.into_iter()
        .map(|(lot, amount)| Ok((lot, money(&amount, currency)?)))
        .collect()
}

/// A participant's credit, if they have a limit.
pub(crate) fn view(
    conn: &Connection,
    participant: &ParticipantId,
) -> Result<Option<CreditView>, CreditError> {
    let Some((currency, limit)) = account(conn, participant)? else {
        return Ok(None);
    };
    let held = holds(conn, participant, currency)?
        .into_iter()
        .fold(Money::zero(currency), |sum, (_, amount)| sum.plus(amount));
    Ok(Some(CreditView {
        participant_id: participant.clone(),
        currency,
        limit,
        held,
        available: limit.saturating_minus(held),
    }))
}

fn refuse<T>(e: CreditError) -> Result<T, Fail<CreditError>> {
    Err(Fail::Refused(e))
}

/// Carries out a ledger write inside the writer's transaction.
pub(crate) fn write(conn: &Connection, op: &CreditOp) -> Result<CreditDone, Fail<CreditError>> {
    let result = match op {
        CreditOp::SetLimit {
            participant,
            limit,
            currency,
        } => set_limit(conn, participant, *limit, *currency),
        CreditOp::Hold {
            lot,
            participant,
            amount,
            currency,
        } => hold(conn, lot, participant, *amount, *currency).map(|()| CreditDone::Done),
        CreditOp::Release { lot } => release(conn, lot).map(|()| CreditDone::Done),
        CreditOp::Consume { lot } => consume(conn, lot).map(|()| CreditDone::Done),
    };
    result.or_else(refuse)
}

fn set_limit(
    conn: &Connection,
    participant: &ParticipantId,
    limit: Money,
    currency: Currency,
) -> Result<CreditDone, CreditError> {
    if let Some((current, _)) = account(conn, participant)?
        && current != currency
        && !holds(conn, participant, current)?.is_empty()
    {
        return Err(CreditError::InUse);
    }
    conn.prepare_cached(
        "INSERT INTO credit_accounts (participant, currency, credit_limit) VALUES (?1, ?2, ?3)
         ON CONFLICT (participant) DO UPDATE SET currency = ?2, credit_limit = ?3",
    )
    .and_then(|mut s| {
        s.execute(params![
            participant.as_str(),
            currency.code(),
            limit.amount().to_string()
        ])
    })
    .map_err(sql)?;
    view(conn, participant)?
        .map(CreditDone::View)
        .ok_or(CreditError::InUse)
}

fn hold(
    conn: &Connection,
    lot: &LotId,
    participant: &ParticipantId,
    amount: Money,
    currency: Currency,
) -> Result<(), CreditError> {
    let Some((_, limit)) = account(conn, participant)?.filter(|(c, _)| *c == currency) else {
        return Err(CreditError::Insufficient);
    };
    let own = holds(conn, participant, currency)?;
    let replaces_own = own.iter().any(|(l, _)| l == lot.as_str());
    if own.len() >= MAX_HOLDS_PER_PARTICIPANT && !replaces_own {
        return Err(CreditError::Insufficient);
    }
    let others = own
        .iter()
        .filter(|(l, _)| l != lot.as_str())
        .fold(Money::zero(currency), |sum, (_, a)| sum.plus(*a));
    if amount > limit.saturating_minus(others) {
        return Err(CreditError::Insufficient);
    }
    conn.prepare_cached(
        "INSERT INTO credit_holds (lot, participant, amount) VALUES (?1, ?2, ?3)
         ON CONFLICT (lot) DO UPDATE SET participant = ?2, amount = ?3",
    )
    .and_then(|mut s| {
        s.execute(params![
            lot.as_str(),
            participant.as_str(),
            amount.amount().to_string()
        ])
    })
    .map_err(sql)?;
    Ok(())
}

fn release(conn: &Connection, lot: &LotId) -> Result<(), CreditError> {
    conn.prepare_cached("DELETE FROM credit_holds WHERE lot = ?1")
        .and_then(|mut s| s.execute([lot.as_str()]))
        .map_err(sql)?;
    Ok(())
}

fn consume(conn: &Connection, lot: &LotId) -> Result<(), CreditError> {
    let consumed = conn
        .prepare_cached("SELECT 1 FROM credit_consumed WHERE lot = ?1")
        .and_then(|mut s| s.exists([lot.as_str()]))
        .map_err(sql)?;
    if consumed {
        return Ok(());
    }
    let held: Option<(String, String)> = conn
        .prepare_cached("SELECT participant, amount FROM credit_holds WHERE lot = ?1")
        .and_then(|mut s| {
            s.query_row([lot.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sql)?;
    let Some((participant, amount)) = held else {
        return Ok(());
    };
    release(conn, lot)?;
    let participant = ParticipantId::new(&participant).map_err(|_| bad(&participant))?;
    if let Some((currency, limit)) = account(conn, &participant)? {
        let lowered = limit.saturating_minus(money(&amount, currency)?);
        conn.prepare_cached("UPDATE credit_accounts SET credit_limit = ?2 WHERE participant = ?1")
            .and_then(|mut s| {
                s.execute(params![participant.as_str(), lowered.amount().to_string()])
            })
            .map_err(sql)?;
    }
    conn.prepare_cached("INSERT INTO credit_consumed (lot) VALUES (?1)")
        .and_then(|mut s| s.execute([lot.as_str()]))
        .map_err(sql)?;
    Ok(())
}
