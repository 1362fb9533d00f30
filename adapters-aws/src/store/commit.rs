//! One lot's commit as one `TransactWriteItems`: the state item written (or
//! checked) on the condition that its sequence is the expected one, the
//! events, bid records and command records put beside it, each command
//! record on the condition that its key is new. All or nothing.

use super::DynamoLotStore;
use super::item::{Item, item_size, json, key, n, s};
use crate::error::AwsError;
use crate::keys::{
    BID, BID_RECORD, DUE_KEY, EVENT, EVT, META, PK, RECORD, SELLER_ID, SEQ, SK, STATE, STATUS,
    STATUS_KEY, command_keys, due_key, lot_pk, seq_sk, status_key,
};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};
use hammerfall_ports::{CommandKey, Lot, LotCommit, StoreError};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// Most actions in one transaction (DynamoDB's limit): the state item plus
/// events, bid records and command records.
pub const MAX_TRANSACTION_ACTIONS: usize = 100;
/// Largest total size of a transaction's items (DynamoDB's limit: 4 MB).
pub const MAX_TRANSACTION_BYTES: usize = 4_000_000;
/// Largest item (DynamoDB's limit: 400 KB).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Length of the `ClientRequestToken` (DynamoDB takes 1–36 characters).
const TOKEN_LEN: usize = 32;

/// What one action of the transaction is, to read its cancellation reason.
enum Action {
    Meta,
    Write,
    Command(CommandKey),
}

/// A transaction ready to send.
struct Transaction {
    items: Vec<TransactWriteItem>,
    actions: Vec<Action>,
    token: String,
    cost: TransactionCost,
}

/// The size and price of the `TransactWriteItems` a commit becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionCost {
    /// Actions: the state item (put, or a condition check for a rejection)
    /// plus one put per event, bid record and command record.
    pub actions: usize,
    /// Total size of the items written (upper bound, as DynamoDB counts).
    pub bytes: usize,
    /// On-demand write request units: 2 per started KB of each item (a
    /// transactional write); a condition check is charged like a write of
    /// the checked state item.
    pub write_units: u64,
}

/// Transactional write units of an item of `bytes` bytes.
fn transactional_units(bytes: usize) -> u64 {
    2 * (bytes.div_ceil(1024).max(1) as u64)
}

impl DynamoLotStore {
    /// What committing `commit` costs, without sending anything: the
    /// transaction's actions, bytes and write request units. Fails as
    /// `commit` would for a commit too large for one transaction.
    pub fn transaction_cost(&self, commit: &LotCommit) -> Result<TransactionCost, StoreError> {
        commit
            .check()
            .map_err(|e| StoreError::Corrupt(Box::new(e)))?;
        Ok(self.transaction(commit)?.cost)
    }

    /// Commits one entry.
    pub(super) async fn commit_one(&self, commit: &LotCommit) -> Result<(), StoreError> {
        commit
            .check()
            .map_err(|e| StoreError::Corrupt(Box::new(e)))?;
        if let Some(duplicate) = duplicate_within(commit) {
            return Err(duplicate);
        }
        let tx = self.transaction(commit)?;
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(tx.items))
            .client_request_token(tx.token)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let codes: Vec<Option<&str>> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code())
                        .collect();
                    cancellation(commit, &tx.actions, &codes).unwrap_or_else(|| {
                        AwsError::from_sdk("TransactWriteItems", &e).into_store()
                    })
                }
                // The token was used for other items: another writer's
                // commit from the same sequence got there first.
                Some(TransactWriteItemsError::IdempotentParameterMismatchException(_)) => {
                    conflict(commit)
                }
                _ => AwsError::from_sdk("TransactWriteItems", &e).into_store(),
            }),
        }
    }

    fn transaction(&self, commit: &LotCommit) -> Result<Transaction, StoreError> {
        let actions_needed = 1 + commit.events.len() + commit.bids.len() + commit.commands.len();
        if actions_needed > MAX_TRANSACTION_ACTIONS {
            return Err(StoreError::TooLarge {
                what: "more than 100 items in one DynamoDB transaction",
            });
        }
        let pk = lot_pk(&commit.lot_id);
        let mut hash = Sha256::new();
        hash.update(pk.as_bytes());
        hash.update(commit.expected_sequence.to_be_bytes());
        let mut items = Vec::with_capacity(actions_needed);
        let mut actions = Vec::with_capacity(actions_needed);
        let mut puts: Vec<(Item, Option<&'static str>)> = Vec::with_capacity(actions_needed);

        // The state: written when events moved it, else only checked.
        let (condition, values) = self.sequence_condition(commit.expected_sequence);
        let names = HashMap::from([("#seq".to_owned(), SEQ.to_owned())]);
        let meta_put = commit.lot.as_ref().filter(|_| !commit.events.is_empty());
        match meta_put {
            Some(lot) => {
                let item = meta_item(&pk, lot)?;
                hash.update(b"META");
                hash_item(&mut hash, &item, STATE);
                puts.push((item, None));
                actions.push(Action::Meta);
            }
            None => {
                let check = ConditionCheck::builder()
                    .table_name(&*self.table)
                    .set_key(Some(key(pk.clone(), META)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(
                        (commit.expected_sequence > 0).then(|| names.clone()),
                    )
                    .set_expression_attribute_values(values.clone())
                    .build()
                    .map_err(|e| AwsError::new("TransactWriteItems", e.to_string()).into_store())?;
                items.push(TransactWriteItem::builder().condition_check(check).build());
                actions.push(Action::Meta);
            }
        }
        for event in &commit.events {
            let mut item = key(pk.clone(), seq_sk(EVT, event.sequence));
            item.insert(EVENT.to_owned(), s(json(event)?));
            hash_item(&mut hash, &item, EVENT);
            puts.push((item, None));
            actions.push(Action::Write);
        }
        for bid in &commit.bids {
            let mut item = key(pk.clone(), seq_sk(BID, bid.sequence));
            item.insert(BID_RECORD.to_owned(), s(json(bid)?));
            hash_item(&mut hash, &item, BID_RECORD);
            puts.push((item, None));
            actions.push(Action::Write);
        }
        for record in &commit.commands {
            let (cmd_pk, cmd_sk) = command_keys(&record.key);
            let mut item = key(cmd_pk, cmd_sk);
            item.insert(RECORD.to_owned(), s(json(record)?));
            hash_item(&mut hash, &item, RECORD);
            puts.push((item, Some("attribute_not_exists(PK)")));
            actions.push(Action::Command(record.key.clone()));
        }

        let mut total = 0;
        let mut write_units = 0;
        if meta_put.is_none() {
            // A condition check is charged as a write of the checked item.
            let state = commit
                .lot
                .as_ref()
                .map_or(Ok(0), |l| meta_item(&pk, l).map(|i| item_size(&i)))?;
            write_units += transactional_units(state);
        }
        for (item, _) in &puts {
            let size = item_size(item);
            if size > MAX_ITEM_BYTES {
                return Err(StoreError::TooLarge {
                    what: "an item over DynamoDB's 400 KB",
                });
            }
            total += size;
            write_units += transactional_units(size);
        }
        if total > MAX_TRANSACTION_BYTES {
            return Err(StoreError::TooLarge {
                what: "more than 4 MB in one DynamoDB transaction",
            });
        }

        for (i, (item, command_condition)) in puts.into_iter().enumerate() {
            let mut put = Put::builder().table_name(&*self.table).set_item(Some(item));
            if i == 0 && meta_put.is_some() {
                put = put
                    .condition_expression(condition)
                    .set_expression_attribute_names(
                        (commit.expected_sequence > 0).then(|| names.clone()),
                    )
                    .set_expression_attribute_values(values.clone());
            } else if let Some(c) = command_condition {
                put = put.condition_expression(c);
            }
            let put = put
                .build()
                .map_err(|e| AwsError::new("TransactWriteItems", e.to_string()).into_store())?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let digest = hash.finalize();
        let token: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Transaction {
            cost: TransactionCost {
                actions: actions.len(),
                bytes: total,
                write_units,
            },
            items,
            actions,
            token: token[..TOKEN_LEN].to_owned(),
        })
    }

    /// The condition on the state item: absent for a new lot, else at the
    /// expected sequence.
    fn sequence_condition(
        &self,
        expected: u64,
    ) -> (
        &'static str,
        Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
    ) {
        if expected == 0 {
            ("attribute_not_exists(PK)", None)
        } else {
            (
                "#seq = :expected",
                Some(HashMap::from([(":expected".to_owned(), n(expected))])),
            )
        }
    }
}

/// The state item: the lot as JSON, its sequence, and the attributes the
/// indexes are keyed on.
fn meta_item(pk: &str, lot: &Lot) -> Result<Item, StoreError> {
    let mut item = key(pk, META);
    item.insert(STATE.to_owned(), s(json(lot)?));
    item.insert(SEQ.to_owned(), n(lot.sequence));
    item.insert(STATUS.to_owned(), s(lot.status.as_str()));
    item.insert(
        DUE_KEY.to_owned(),
        s(due_key(hammerfall_engine::next_due(lot), &lot.lot_id)),
    );
    item.insert(SELLER_ID.to_owned(), s(lot.seller_id().as_str()));
    item.insert(
        STATUS_KEY.to_owned(),
        s(status_key(lot.status, &lot.lot_id)),
    );
    Ok(item)
}

/// Feeds an item's keys and payload into the request token's hash.
fn hash_item(hash: &mut Sha256, item: &Item, payload: &str) {
    for name in [PK, SK, payload] {
        if let Some(value) = item.get(name).and_then(|v| v.as_s().ok()) {
            hash.update((value.len() as u64).to_be_bytes());
            hash.update(value.as_bytes());
        }
    }
}

fn conflict(commit: &LotCommit) -> StoreError {
    StoreError::Conflict {
        lot_id: commit.lot_id.clone(),
        expected: commit.expected_sequence,
    }
}

/// Reads a cancelled transaction's reasons (one per action, in order):
/// the state's condition failed → `Conflict`; a command record's →
/// `DuplicateCommand`; another transaction on the same items →
/// `Conflict` (reload and decide again); throttling → `Unavailable`.
fn cancellation(
    commit: &LotCommit,
    actions: &[Action],
    codes: &[Option<&str>],
) -> Option<StoreError> {
    let failed = |i: usize| codes.get(i).copied().flatten() == Some("ConditionalCheckFailed");
    if failed(0) {
        return Some(conflict(commit));
    }
    for (i, action) in actions.iter().enumerate() {
        if let Action::Command(key) = action
            && failed(i)
        {
            return Some(StoreError::DuplicateCommand(key.clone()));
        }
    }
    if codes.iter().flatten().any(|c| *c == "TransactionConflict") {
        return Some(conflict(commit));
    }
    None
}

/// A key recorded twice in one commit would be two writes of one item,
/// which DynamoDB refuses; the second is a duplicate like any other.
fn duplicate_within(commit: &LotCommit) -> Option<StoreError> {
    let mut keys = HashSet::new();
    commit
        .commands
        .iter()
        .find(|r| !keys.insert(&r.key))
        .map(|r| StoreError::DuplicateCommand(r.key.clone()))
}
