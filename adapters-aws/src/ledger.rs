//! The `CreditLedger` port on the lot store's table (SPEC §3.1):
//!
//! - `PARTICIPANT#<id>` / `CREDIT`: `currency`, `limit` (decimal text),
//!   `holds` (a map lot id → amount held on it: the larger of their
//!   committed hold and their proposal there) and `version` (a counter for
//!   optimistic concurrency: every change is conditioned on it).
//! - `LOT#<id>` / `HOLD`: the lot's [`LotCredit`] record: who holds credit
//!   on the lot for its committed state (`participant`, `amount`), the
//!   highest committed lot `sequence` applied (kept after a release or
//!   consume: an older write changes nothing), the holds proposed ahead of
//!   a commit (`proposals`: participant → {`amount`, `sequence`}), whether
//!   its hold was consumed (`consumed`, so a payment is charged once), and
//!   its own `version`. Items written before `sequence` existed read as
//!   sequence 0 (any write applies).
//!
//! Every change reads the items it depends on, then writes them in one
//! `TransactWriteItems` conditioned on the versions it read; a lost race
//! reads again (at most [`MAX_LEDGER_ATTEMPTS`] times). Changing a lot's
//! record is one transaction over the lot's hold item and the items of
//! every participant whose holding on the lot changes. Operations that find the
//! ledger already as asked write nothing, so repairing holds is cheap.

use crate::error::AwsError;
use crate::keys::{CREDIT, HOLD, lot_pk, participant_pk};
use crate::store::{DynamoLotStore, Item, get_s, key, n, s};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use hammerfall_ports::{
    CreditError, CreditLedger, CreditView, Currency, LotCredit, LotCreditOp, LotId, Money,
    ParticipantId,
};
use std::collections::{BTreeMap, HashMap};

/// Most lots one participant may hold credit on at once; a further hold is
/// refused as [`CreditError::Insufficient`]. Keeps the participant's item
/// far below DynamoDB's 400 KB (an entry is at most ~150 bytes).
pub const MAX_HOLDS_PER_PARTICIPANT: usize = 1_000;
/// Reads and conditional writes one operation tries before it reports the
/// ledger unavailable (concurrent changes to the same participant or lot).
pub const MAX_LEDGER_ATTEMPTS: u32 = 10;

const CURRENCY: &str = "currency";
const LIMIT: &str = "limit";
const HOLDS: &str = "holds";
const VERSION: &str = "version";
const PARTICIPANT: &str = "participant";
const AMOUNT: &str = "amount";
const CONSUMED: &str = "consumed";
const SEQUENCE: &str = "sequence";
const PROPOSALS: &str = "proposals";

/// A participant's credit item.
struct Account {
    currency: Currency,
    limit: Money,
    holds: BTreeMap<String, Money>,
    version: u64,
}

impl Account {
    /// Sum of the holds, leaving out `except`'s.
    fn held(&self, except: Option<&LotId>) -> Money {
        self.holds
            .iter()
            .filter(|(lot, _)| except.is_none_or(|e| e.as_str() != lot.as_str()))
            .fold(Money::zero(self.currency), |sum, (_, m)| sum.plus(*m))
    }

    fn view(&self, participant: &ParticipantId) -> CreditView {
        let held = self.held(None);
        CreditView {
            participant_id: participant.clone(),
            currency: self.currency,
            limit: self.limit,
            held,
            available: self.limit.saturating_minus(held),
        }
    }
}

/// A lot's hold item (empty when it does not exist).
#[derive(Default)]
struct LotHold {
    credit: LotCredit,
    /// 0: the item does not exist.
    version: u64,
}

/// Why a conditional write did not go through.
enum WriteError {
    /// Another writer changed an item read: read again.
    Raced,
    Failed(CreditError),
}

fn bad(what: impl std::fmt::Display) -> CreditError {
    AwsError::new(
        "credit ledger",
        format!("stored credit is unreadable: {what}"),
    )
    .into_credit()
}

fn text<T: serde::de::DeserializeOwned>(value: &str) -> Result<T, CreditError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).map_err(bad)
}

fn number(item: &Item, name: &str) -> Result<u64, CreditError> {
    match item.get(name) {
        None => Ok(0),
        Some(AttributeValue::N(v)) => v.parse().map_err(bad),
        Some(_) => Err(bad(format!("{name} is not a number"))),
    }
}

fn money_text(m: Money) -> AttributeValue {
    s(m.to_string())
}

fn names(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn values(pairs: Vec<(&str, AttributeValue)>) -> HashMap<String, AttributeValue> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

impl DynamoLotStore {
    async fn account(&self, p: &ParticipantId) -> Result<Option<Account>, CreditError> {
        let Some(item) = self
            .get(participant_pk(p), CREDIT, "GetItem")
            .await
            .map_err(AwsError::into_credit)?
        else {
            return Ok(None);
        };
        let field = |name| get_s(&item, name).map_err(bad);
        let currency: Currency = text(field(CURRENCY)?)?;
        let mut holds = BTreeMap::new();
        if let Some(AttributeValue::M(map)) = item.get(HOLDS) {
            for (lot, amount) in map {
                let amount = amount.as_s().map_err(|_| bad("a hold is not text"))?;
                holds.insert(lot.clone(), text(amount)?);
            }
        }
        Ok(Some(Account {
            currency,
            limit: text(field(LIMIT)?)?,
            holds,
            version: number(&item, VERSION)?,
        }))
    }

    async fn lot_hold(&self, lot: &LotId) -> Result<LotHold, CreditError> {
        let Some(item) = self
            .get(lot_pk(lot), HOLD, "GetItem")
            .await
            .map_err(AwsError::into_credit)?
        else {
            return Ok(LotHold::default());
        };
        let hold = match (item.get(PARTICIPANT), item.get(AMOUNT)) {
            (Some(AttributeValue::S(p)), Some(AttributeValue::S(a))) => {
                Some((ParticipantId::new(p).map_err(bad)?, text(a)?))
            }
            _ => None,
        };
        let mut proposals = BTreeMap::new();
        if let Some(AttributeValue::M(map)) = item.get(PROPOSALS) {
            for (p, proposal) in map {
                let AttributeValue::M(proposal) = proposal else {
                    return Err(bad("a proposal is not a map"));
                };
                let amount = get_s(proposal, AMOUNT).map_err(bad)?;
                proposals.insert(
                    ParticipantId::new(p).map_err(bad)?,
                    (text(amount)?, number(proposal, SEQUENCE)?),
                );
            }
        }
        Ok(LotHold {
            credit: LotCredit {
                sequence: number(&item, SEQUENCE)?,
                hold,
                proposals,
                consumed: matches!(item.get(CONSUMED), Some(AttributeValue::Bool(true))),
            },
            version: number(&item, VERSION)?.max(1),
        })
    }

    /// Sends a ledger transaction.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), WriteError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    TransactWriteItemsError::TransactionCanceledException(c)
                        if c.cancellation_reasons().iter().any(|r| matches!(
                            r.code(),
                            Some("ConditionalCheckFailed" | "TransactionConflict")
                        ))
                ) =>
            {
                Err(WriteError::Raced)
            }
            Err(e) => Err(WriteError::Failed(
                AwsError::from_sdk("TransactWriteItems", &e).into_credit(),
            )),
        }
    }

    /// The update of a participant's holding on `lot` to `amount` (None:
    /// none). Conditioned on the participant's version when it was read
    /// (`read`: the fit was checked, or the limit computed, against it);
    /// otherwise only on the item existing (the lot's hold item, written
    /// in the same transaction on the version read, orders every change to
    /// a holding on that lot). `limit`: a new limit (a consume).
    fn set_holding(
        &self,
        holder: &ParticipantId,
        lot: &LotId,
        amount: Option<Money>,
        read: Option<u64>,
        limit: Option<Money>,
    ) -> Result<TransactWriteItem, CreditError> {
        let mut sets = vec![];
        let mut vals = vec![];
        if let Some(a) = amount {
            sets.push("#h.#lot = :amount");
            vals.push((":amount", money_text(a)));
        }
        if let Some(l) = limit {
            sets.push("#l = :limit");
            vals.push((":limit", money_text(l)));
        }
        let mut names_list = vec![("#h", HOLDS), ("#lot", lot.as_str()), ("#v", VERSION)];
        if limit.is_some() {
            names_list.push(("#l", LIMIT));
        }
        let (version_set, condition) = match read {
            Some(v) => {
                vals.push((":next", n(v + 1)));
                vals.push((":read", n(v)));
                ("#v = :next", "#v = :read")
            }
            None => {
                vals.push((":one", n(1)));
                ("#v = #v + :one", "attribute_exists(PK)")
            }
        };
        sets.push(version_set);
        let remove = if amount.is_none() {
            "REMOVE #h.#lot "
        } else {
            ""
        };
        let expression = format!("{remove}SET {}", sets.join(", "));
        let update = Update::builder()
            .table_name(&*self.table)
            .set_key(Some(key(participant_pk(holder), CREDIT)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names(&names_list)))
            .set_expression_attribute_values(Some(values(vals)))
            .build()
            .map_err(|e| AwsError::new("TransactWriteItems", e.to_string()).into_credit())?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The put of a lot's hold item as `next`, on the condition that it is
    /// still at the version read.
    fn set_lot_hold(
        &self,
        lot: &LotId,
        read: &LotHold,
        next: &LotCredit,
    ) -> Result<TransactWriteItem, CreditError> {
        let mut item = key(lot_pk(lot), HOLD);
        item.insert(VERSION.to_owned(), n(read.version + 1));
        item.insert(SEQUENCE.to_owned(), n(next.sequence));
        if let Some((p, amount)) = &next.hold {
            item.insert(PARTICIPANT.to_owned(), s(p.as_str()));
            item.insert(AMOUNT.to_owned(), money_text(*amount));
        }
        if !next.proposals.is_empty() {
            let proposals = next
                .proposals
                .iter()
                .map(|(p, (amount, sequence))| {
                    let entry = values(vec![
                        (AMOUNT, money_text(*amount)),
                        (SEQUENCE, n(*sequence)),
                    ]);
                    (p.as_str().to_owned(), AttributeValue::M(entry))
                })
                .collect();
            item.insert(PROPOSALS.to_owned(), AttributeValue::M(proposals));
        }
        if next.consumed {
            item.insert(CONSUMED.to_owned(), AttributeValue::Bool(true));
        }
        let mut put = Put::builder().table_name(&*self.table).set_item(Some(item));
        put = if read.version == 0 {
            put.condition_expression("attribute_not_exists(PK)")
        } else {
            put.condition_expression("#v = :read")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":read", n(read.version))
        };
        let put = put
            .build()
            .map_err(|e| AwsError::new("TransactWriteItems", e.to_string()).into_credit())?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// One attempt of a change to a lot's record (`Err(Raced)`: read again
    /// and retry). The ordering rules are [`LotCredit::after`]'s; the
    /// holding the change sets ([`LotCreditOp::fits`]) is checked against
    /// its participant's limit. Moves every affected participant's holding
    /// in the same transaction as the lot's hold item.
    async fn try_change(
        &self,
        lot: &LotId,
        op: LotCreditOp<&ParticipantId>,
    ) -> Result<(), WriteError> {
        let failed = WriteError::Failed;
        let current = self.lot_hold(lot).await.map_err(failed)?;
        let Some((next, charge)) = current.credit.after(op) else {
            return Ok(());
        };
        let mut items = Vec::new();
        let checked = match op.fits() {
            Some((p, currency)) => {
                let account = self
                    .account(p)
                    .await
                    .map_err(failed)?
                    .filter(|a| a.currency == currency)
                    .ok_or(WriteError::Failed(CreditError::Insufficient))?;
                let own = account.holds.get(lot.as_str()).copied();
                if own.is_none() && account.holds.len() >= MAX_HOLDS_PER_PARTICIPANT {
                    return Err(WriteError::Failed(CreditError::Insufficient));
                }
                let amount = next.amount_of(p).unwrap_or(Money::zero(currency));
                if amount > account.limit.saturating_minus(account.held(Some(lot))) {
                    return Err(WriteError::Failed(CreditError::Insufficient));
                }
                items.push(
                    self.set_holding(p, lot, next.amount_of(p), Some(account.version), None)
                        .map_err(failed)?,
                );
                Some(p.clone())
            }
            None => None,
        };
        let mut affected = current.credit.holders();
        affected.extend(next.holders());
        affected.sort();
        affected.dedup();
        for p in affected.iter().filter(|p| Some(*p) != checked.as_ref()) {
            let after = next.amount_of(p);
            match charge.as_ref().filter(|(h, _)| h == p) {
                Some((_, amount)) => {
                    let Some(account) = self.account(p).await.map_err(failed)? else {
                        return Err(WriteError::Failed(bad(
                            "a hold's participant has no credit item",
                        )));
                    };
                    let limit = account.limit.saturating_minus(*amount);
                    items.push(
                        self.set_holding(p, lot, after, Some(account.version), Some(limit))
                            .map_err(failed)?,
                    );
                }
                None if current.credit.amount_of(p) != after => {
                    items.push(
                        self.set_holding(p, lot, after, None, None)
                            .map_err(failed)?,
                    );
                }
                None => {}
            }
        }
        items.push(self.set_lot_hold(lot, &current, &next).map_err(failed)?);
        self.transact(items).await
    }

    async fn try_set_limit(
        &self,
        p: &ParticipantId,
        limit: Money,
        currency: Currency,
    ) -> Result<CreditView, WriteError> {
        let account = self.account(p).await.map_err(WriteError::Failed)?;
        if account
            .as_ref()
            .is_some_and(|a| a.currency != currency && !a.holds.is_empty())
        {
            return Err(WriteError::Failed(CreditError::InUse));
        }
        let read_version = account.as_ref().map_or(0, |a| a.version);
        let updated = Account {
            currency,
            limit,
            holds: account.map(|a| a.holds).unwrap_or_default(),
            version: read_version + 1,
        };
        let mut item = key(participant_pk(p), CREDIT);
        item.insert(CURRENCY.to_owned(), s(currency.code()));
        item.insert(LIMIT.to_owned(), money_text(limit));
        item.insert(
            HOLDS.to_owned(),
            AttributeValue::M(
                updated
                    .holds
                    .iter()
                    .map(|(lot, m)| (lot.clone(), money_text(*m)))
                    .collect(),
            ),
        );
        item.insert(VERSION.to_owned(), n(updated.version));
        let mut put = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item));
        put = if read_version == 0 {
            put.condition_expression("attribute_not_exists(PK)")
        } else {
            put.condition_expression("#v = :read")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":read", n(read_version))
        };
        match put.send().await {
            Ok(_) => Ok(updated.view(p)),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Err(WriteError::Raced)
            }
            Err(e) => Err(WriteError::Failed(
                AwsError::from_sdk("PutItem", &e).into_credit(),
            )),
        }
    }
}

/// Runs `attempt` until it is not raced, backing off a little each time.
async fn retry<T, F, Fut>(operation: &'static str, mut attempt: F) -> Result<T, CreditError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, WriteError>>,
{
    for round in 0..MAX_LEDGER_ATTEMPTS {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(WriteError::Failed(e)) => return Err(e),
            Err(WriteError::Raced) => {
                let pause = std::time::Duration::from_millis(5 * u64::from(round + 1));
                tokio::time::sleep(pause).await;
            }
        }
    }
    Err(AwsError::new(operation, "too many concurrent changes; retry").into_credit())
}

impl CreditLedger for DynamoLotStore {
    async fn set_limit(
        &self,
        participant: &ParticipantId,
        limit: Money,
        currency: Currency,
    ) -> Result<CreditView, CreditError> {
        retry("set_limit", || {
            self.try_set_limit(participant, limit, currency)
        })
        .await
    }

    async fn credit(&self, participant: &ParticipantId) -> Result<Option<CreditView>, CreditError> {
        Ok(self
            .account(participant)
            .await?
            .map(|a| a.view(participant)))
    }

    async fn change(
        &self,
        lot: &LotId,
        op: LotCreditOp<&ParticipantId>,
    ) -> Result<(), CreditError> {
        retry(op_name(op), || self.try_change(lot, op)).await
    }
}

/// The name a change's failure reports (after too many races).
fn op_name(op: LotCreditOp<&ParticipantId>) -> &'static str {
    match op {
        LotCreditOp::Hold { .. } => "hold",
        LotCreditOp::Propose { .. } => "propose",
        LotCreditOp::Withdraw { .. } => "withdraw",
        LotCreditOp::ClearProposals { .. } => "clear_proposals",
        LotCreditOp::Release { .. } => "release",
        LotCreditOp::Consume { .. } => "consume",
        LotCreditOp::Loaded { .. } => "loaded",
    }
}
