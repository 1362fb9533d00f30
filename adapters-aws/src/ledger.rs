//! The `CreditLedger` port on the lot store's table (SPEC §3.1):
//!
//! - `PARTICIPANT#<id>` / `CREDIT`: `currency`, `limit` (decimal text),
//!   `holds` (a map lot id → amount held on it) and `version` (a counter
//!   for optimistic concurrency: every change is conditioned on it).
//! - `LOT#<id>` / `HOLD`: who holds credit on the lot (`participant`,
//!   `amount`), whether its hold was consumed (`consumed`, so a payment is
//!   charged once), and its own `version`.
//!
//! Every change reads the items it depends on, then writes them in one
//! `TransactWriteItems` conditioned on the versions it read; a lost race
//! reads again (at most [`MAX_LEDGER_ATTEMPTS`] times). Moving a lot's hold
//! from one participant to another is one transaction over both
//! participants' items and the lot's hold item. Operations that find the
//! ledger already as asked write nothing, so repairing holds is cheap.

use crate::error::AwsError;
use crate::keys::{CREDIT, HOLD, lot_pk, participant_pk};
use crate::store::{DynamoLotStore, Item, get_s, key, n, s};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use hammerfall_ports::{
    CreditError, CreditLedger, CreditView, Currency, LotId, Money, ParticipantId,
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

/// A lot's hold item (all empty when it does not exist).
#[derive(Default)]
struct LotHold {
    holder: Option<(ParticipantId, Money)>,
    consumed: bool,
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
        let holder = match (item.get(PARTICIPANT), item.get(AMOUNT)) {
            (Some(AttributeValue::S(p)), Some(AttributeValue::S(a))) => {
                Some((ParticipantId::new(p).map_err(bad)?, text(a)?))
            }
            _ => None,
        };
        Ok(LotHold {
            holder,
            consumed: matches!(item.get(CONSUMED), Some(AttributeValue::Bool(true))),
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

    /// The update of a participant's item that drops `lot` from its holds
    /// (the lot's hold item, updated in the same transaction, guards it).
    fn drop_hold(
        &self,
        holder: &ParticipantId,
        lot: &LotId,
    ) -> Result<TransactWriteItem, CreditError> {
        let update = Update::builder()
            .table_name(&*self.table)
            .set_key(Some(key(participant_pk(holder), CREDIT)))
            .update_expression("REMOVE #h.#lot SET #v = #v + :one")
            .condition_expression("attribute_exists(PK)")
            .set_expression_attribute_names(Some(names(&[
                ("#h", HOLDS),
                ("#lot", lot.as_str()),
                ("#v", VERSION),
            ])))
            .set_expression_attribute_values(Some(values(vec![(":one", n(1))])))
            .build()
            .map_err(|e| AwsError::new("TransactWriteItems", e.to_string()).into_credit())?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The update of a lot's hold item to `holder` (None: no hold), on
    /// the condition that it is still at the version read.
    fn set_lot_hold(
        &self,
        lot: &LotId,
        read: &LotHold,
        holder: Option<(&ParticipantId, Money)>,
        consumed: bool,
    ) -> Result<TransactWriteItem, CreditError> {
        let mut item = key(lot_pk(lot), HOLD);
        item.insert(VERSION.to_owned(), n(read.version + 1));
        if let Some((p, amount)) = holder {
            item.insert(PARTICIPANT.to_owned(), s(p.as_str()));
            item.insert(AMOUNT.to_owned(), money_text(amount));
        }
        if consumed {
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

    /// One attempt of `hold` (`Err(Raced)`: read again and retry).
    async fn try_hold(
        &self,
        lot: &LotId,
        p: &ParticipantId,
        amount: Money,
        currency: Currency,
    ) -> Result<(), WriteError> {
        let account = self
            .account(p)
            .await
            .map_err(WriteError::Failed)?
            .filter(|a| a.currency == currency)
            .ok_or(WriteError::Failed(CreditError::Insufficient))?;
        let current = self.lot_hold(lot).await.map_err(WriteError::Failed)?;
        let own = account.holds.get(lot.as_str()).copied();
        if own.is_none() && account.holds.len() >= MAX_HOLDS_PER_PARTICIPANT {
            return Err(WriteError::Failed(CreditError::Insufficient));
        }
        if amount > account.limit.saturating_minus(account.held(Some(lot))) {
            return Err(WriteError::Failed(CreditError::Insufficient));
        }
        let holds_it = current
            .holder
            .as_ref()
            .is_some_and(|(h, a)| h == p && *a == amount);
        if holds_it && own == Some(amount) {
            return Ok(());
        }
        let update = Update::builder()
            .table_name(&*self.table)
            .set_key(Some(key(participant_pk(p), CREDIT)))
            .update_expression("SET #h.#lot = :amount, #v = :next")
            .condition_expression("#v = :read")
            .set_expression_attribute_names(Some(names(&[
                ("#h", HOLDS),
                ("#lot", lot.as_str()),
                ("#v", VERSION),
            ])))
            .set_expression_attribute_values(Some(values(vec![
                (":amount", money_text(amount)),
                (":next", n(account.version + 1)),
                (":read", n(account.version)),
            ])))
            .build()
            .map_err(|e| {
                WriteError::Failed(AwsError::new("TransactWriteItems", e.to_string()).into_credit())
            })?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if let Some((previous, _)) = current.holder.as_ref().filter(|(h, _)| h != p) {
            items.push(self.drop_hold(previous, lot).map_err(WriteError::Failed)?);
        }
        items.push(
            self.set_lot_hold(lot, &current, Some((p, amount)), current.consumed)
                .map_err(WriteError::Failed)?,
        );
        self.transact(items).await
    }

    async fn try_release(&self, lot: &LotId) -> Result<(), WriteError> {
        let current = self.lot_hold(lot).await.map_err(WriteError::Failed)?;
        let Some((holder, _)) = &current.holder else {
            return Ok(());
        };
        let items = vec![
            self.drop_hold(holder, lot).map_err(WriteError::Failed)?,
            self.set_lot_hold(lot, &current, None, current.consumed)
                .map_err(WriteError::Failed)?,
        ];
        self.transact(items).await
    }

    async fn try_consume(&self, lot: &LotId) -> Result<(), WriteError> {
        let current = self.lot_hold(lot).await.map_err(WriteError::Failed)?;
        let Some((holder, amount)) = current.holder.as_ref().filter(|_| !current.consumed) else {
            return Ok(());
        };
        let Some(account) = self.account(holder).await.map_err(WriteError::Failed)? else {
            return Err(WriteError::Failed(bad(
                "a hold's participant has no credit item",
            )));
        };
        let update = Update::builder()
            .table_name(&*self.table)
            .set_key(Some(key(participant_pk(holder), CREDIT)))
            .update_expression("REMOVE #h.#lot SET #l = :limit, #v = :next")
            .condition_expression("#v = :read")
            .set_expression_attribute_names(Some(names(&[
                ("#h", HOLDS),
                ("#lot", lot.as_str()),
                ("#l", LIMIT),
                ("#v", VERSION),
            ])))
            .set_expression_attribute_values(Some(values(vec![
                (
                    ":limit",
                    money_text(account.limit.saturating_minus(*amount)),
                ),
                (":next", n(account.version + 1)),
                (":read", n(account.version)),
            ])))
            .build()
            .map_err(|e| {
                WriteError::Failed(AwsError::new("TransactWriteItems", e.to_string()).into_credit())
            })?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.set_lot_hold(lot, &current, None, true)
                .map_err(WriteError::Failed)?,
        ];
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

    async fn hold(
        &self,
        lot: &LotId,
        participant: &ParticipantId,
        amount: Money,
        currency: Currency,
    ) -> Result<(), CreditError> {
        retry("hold", || self.try_hold(lot, participant, amount, currency)).await
    }

    async fn release(&self, lot: &LotId) -> Result<(), CreditError> {
        retry("release", || self.try_release(lot)).await
    }

    async fn consume(&self, lot: &LotId) -> Result<(), CreditError> {
        retry("consume", || self.try_consume(lot)).await
    }
}
