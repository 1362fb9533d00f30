//! The credit ledger's SQL (SPEC §3.1): limits per participant; per lot its
//! committed hold (`credit_holds`), proposals (`credit_proposals`), the
//! highest committed sequence applied (`credit_lots`, schema v3) and
//! whether it was consumed (`credit_consumed`): the record
//! [`LotCredit`] whose rules order the writes. Writes run on the writer thread under a
//! savepoint (so a refused hold changes nothing), reads on a reader.

use crate::writer::{CreditDone, CreditOp, Fail};
use hammerfall_ports::{
    CreditError, CreditView, Currency, LotCredit, LotCreditOp, LotId, Money, ParticipantId,
    parse_decimal,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;

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

/// `participant`'s holds: (lot, amount), in `currency`. On a lot where
/// they have both a committed hold and a proposal, the larger
/// ([`LotCredit::amount_of`]).
fn holds(
    conn: &Connection,
    participant: &ParticipantId,
    currency: Currency,
) -> Result<Vec<(String, Money)>, CreditError> {
    let rows: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT lot, amount FROM credit_holds WHERE participant = ?1
             UNION ALL
             SELECT lot, amount FROM credit_proposals WHERE participant = ?1",
        )
        .and_then(|mut s| {
            s.query_map([participant.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(sql)?;
    let mut by_lot: BTreeMap<String, Money> = BTreeMap::new();
    for (lot, amount) in rows {
        let amount = money(&amount, currency)?;
        let entry = by_lot.entry(lot).or_insert(amount);
        if amount > *entry {
            *entry = amount;
        }
    }
    Ok(by_lot.into_iter().collect())
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
        CreditOp::Lot { lot, change } => change_lot(conn, lot, change).map(|()| CreditDone::Done),
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

/// A lot's credit record as stored (empty when it has none).
fn lot_credit(conn: &Connection, lot: &LotId) -> Result<LotCredit, CreditError> {
    let id = lot.as_str();
    let sequence: Option<i64> = conn
        .prepare_cached("SELECT sequence FROM credit_lots WHERE lot = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(sql)?;
    let held: Option<(String, String)> = conn
        .prepare_cached("SELECT participant, amount FROM credit_holds WHERE lot = ?1")
        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(sql)?;
    let proposed: Vec<(String, String, i64)> = conn
        .prepare_cached("SELECT participant, amount, sequence FROM credit_proposals WHERE lot = ?1")
        .and_then(|mut s| {
            s.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(sql)?;
    let consumed = conn
        .prepare_cached("SELECT 1 FROM credit_consumed WHERE lot = ?1")
        .and_then(|mut s| s.exists([id]))
        .map_err(sql)?;
    // Amounts are stored as decimal text in their holder's currency.
    let amount = |who: &ParticipantId, text: &str| -> Result<Money, CreditError> {
        let (currency, _) = account(conn, who)?.ok_or_else(|| bad(who.as_str()))?;
        money(text, currency)
    };
    let person = |text: &str| ParticipantId::new(text).map_err(|_| bad(text));
    let hold = match held {
        Some((p, a)) => {
            let p = person(&p)?;
            let a = amount(&p, &a)?;
            Some((p, a))
        }
        None => None,
    };
    let mut proposals = BTreeMap::new();
    for (p, a, seq) in proposed {
        let p = person(&p)?;
        let a = amount(&p, &a)?;
        proposals.insert(p, (a, u64::try_from(seq).map_err(|_| bad("sequence"))?));
    }
    Ok(LotCredit {
        sequence: sequence.map_or(Ok(0), |s| u64::try_from(s).map_err(|_| bad("sequence")))?,
        hold,
        proposals,
        consumed,
    })
}

fn run(
    conn: &Connection,
    sql_text: &str,
    params: impl rusqlite::Params,
) -> Result<(), CreditError> {
    conn.prepare_cached(sql_text)
        .and_then(|mut s| s.execute(params))
        .map_err(sql)?;
    Ok(())
}

fn seq(sequence: u64) -> i64 {
    i64::try_from(sequence).unwrap_or(i64::MAX)
}

/// Applies `change` to the lot's record: the ordering rules are
/// [`LotCredit::after`]'s; this checks the fit ([`LotCreditOp::fits`])
/// and writes the difference.
fn change_lot(
    conn: &Connection,
    lot: &LotId,
    change: &LotCreditOp<ParticipantId>,
) -> Result<(), CreditError> {
    let current = lot_credit(conn, lot)?;
    let op = change.map(|p| p);
    let Some((next, charge)) = current.after(op) else {
        return Ok(());
    };
    if let Some((participant, currency)) = op.fits() {
        let Some((_, limit)) = account(conn, participant)?.filter(|(c, _)| *c == currency) else {
            return Err(CreditError::Insufficient);
        };
        let own = holds(conn, participant, currency)?;
        let replaces_own = current.amount_of(participant).is_some();
        if own.len() >= MAX_HOLDS_PER_PARTICIPANT && !replaces_own {
            return Err(CreditError::Insufficient);
        }
        let others = own
            .iter()
            .filter(|(l, _)| l != lot.as_str())
            .fold(Money::zero(currency), |sum, (_, a)| sum.plus(*a));
        let amount = next.amount_of(participant).unwrap_or(Money::zero(currency));
        if amount > limit.saturating_minus(others) {
            return Err(CreditError::Insufficient);
        }
    }
    let id = lot.as_str();
    if let Some((holder, amount)) = charge
        && let Some((_, limit)) = account(conn, &holder)?
    {
        let lowered = limit.saturating_minus(amount);
        run(
            conn,
            "UPDATE credit_accounts SET credit_limit = ?2 WHERE participant = ?1",
            params![holder.as_str(), lowered.amount().to_string()],
        )?;
    }
    if next.sequence != current.sequence {
        run(
            conn,
            "INSERT INTO credit_lots (lot, sequence) VALUES (?1, ?2)
             ON CONFLICT (lot) DO UPDATE SET sequence = ?2",
            params![id, seq(next.sequence)],
        )?;
    }
    if next.hold != current.hold {
        match &next.hold {
            Some((p, a)) => run(
                conn,
                "INSERT INTO credit_holds (lot, participant, amount) VALUES (?1, ?2, ?3)
                 ON CONFLICT (lot) DO UPDATE SET participant = ?2, amount = ?3",
                params![id, p.as_str(), a.amount().to_string()],
            )?,
            None => run(conn, "DELETE FROM credit_holds WHERE lot = ?1", [id])?,
        }
    }
    if next.proposals != current.proposals {
        run(conn, "DELETE FROM credit_proposals WHERE lot = ?1", [id])?;
        for (p, (a, s)) in &next.proposals {
            run(
                conn,
                "INSERT INTO credit_proposals (lot, participant, amount, sequence)
                 VALUES (?1, ?2, ?3, ?4)",
                params![id, p.as_str(), a.amount().to_string(), seq(*s)],
            )?;
        }
    }
    if next.consumed && !current.consumed {
        run(conn, "INSERT INTO credit_consumed (lot) VALUES (?1)", [id])?;
    }
    Ok(())
}
