//! `DynamoLotStore`: the `LotStore` port on one DynamoDB table (the key
//! layout is in `keys.rs`; the design, access patterns and costs in the
//! crate's README). The same value is the `CreditLedger` (`ledger.rs`).

mod commit;
mod cursor;
mod item;
mod listing;

pub use commit::{MAX_ITEM_BYTES, MAX_TRANSACTION_ACTIONS, MAX_TRANSACTION_BYTES, TransactionCost};
pub(crate) use item::{Item, decode, get_s, key, n, s};

use crate::config::AwsSettings;
use crate::error::AwsError;
use crate::keys::{META, RECORD, STATE, command_keys, lot_pk};
use futures_util::StreamExt;
use hammerfall_ports::{
    BidRecord, CommandKey, CommandRecord, Cursor, Lot, LotCommit, LotId, LotQuery, LotStore, Page,
    SequencedEvent, StoreError, Timestamp,
};
use std::sync::Arc;

/// Most transactions one `commit` call has in flight at once (entries of
/// different lots are committed concurrently; one lot's entries in order).
pub const MAX_CONCURRENT_TRANSACTIONS: usize = 32;

/// The lot store and credit ledger on one DynamoDB table. Cheap to clone
/// (the SDK client is shared).
#[derive(Debug, Clone)]
pub struct DynamoLotStore {
    pub(crate) client: aws_sdk_dynamodb::Client,
    pub(crate) table: Arc<str>,
}

impl DynamoLotStore {
    /// A store on `table` through `client`. The table must exist with the
    /// layout of [`setup::create_table`](crate::setup::create_table).
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<Arc<str>>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store on `table`, with a client built from `settings`.
    pub async fn connect(settings: &AwsSettings, table: impl Into<Arc<str>>) -> Self {
        Self::new(settings.dynamodb().await, table)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client (shared).
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// One item by key, strongly consistent.
    pub(crate) async fn get(
        &self,
        pk: String,
        sk: &str,
        operation: &'static str,
    ) -> Result<Option<Item>, AwsError> {
        self.client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| AwsError::from_sdk(operation, &e))
    }
}

impl LotStore for DynamoLotStore {
    async fn load(&self, lot_id: &LotId) -> Result<Option<Lot>, StoreError> {
        let item = self
            .get(lot_pk(lot_id), META, "GetItem")
            .await
            .map_err(AwsError::into_store)?;
        item.map(|i| decode(&i, STATE)).transpose()
    }

    async fn commit(&self, batch: Vec<LotCommit>) -> Vec<Result<(), StoreError>> {
        // One lot's entries in order (each continues from the one before);
        // different lots concurrently.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut slot_of: std::collections::HashMap<&LotId, usize> = Default::default();
        for (i, commit) in batch.iter().enumerate() {
            let slot = *slot_of.entry(&commit.lot_id).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[slot].push(i);
        }
        let batch = &batch;
        let done: Vec<Vec<(usize, Result<(), StoreError>)>> = futures_util::stream::iter(groups)
            .map(|entries| async move {
                let mut out = Vec::with_capacity(entries.len());
                for i in entries {
                    out.push((i, self.commit_one(&batch[i]).await));
                }
                out
            })
            .buffer_unordered(MAX_CONCURRENT_TRANSACTIONS)
            .collect()
            .await;
        let mut results: Vec<Option<Result<(), StoreError>>> =
            std::iter::repeat_with(|| None).take(batch.len()).collect();
        for (i, result) in done.into_iter().flatten() {
            results[i] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(crate::error::corrupt("an entry was not committed"))))
            .collect()
    }

    async fn command(&self, key: &CommandKey) -> Result<Option<CommandRecord>, StoreError> {
        let (pk, sk) = command_keys(key);
        let item = self
            .get(pk, &sk, "GetItem")
            .await
            .map_err(AwsError::into_store)?;
        item.map(|i| decode(&i, RECORD)).transpose()
    }

    async fn events_after(
        &self,
        lot_id: &LotId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedEvent>, StoreError> {
        self.read_events(lot_id, after, limit).await
    }

    async fn bids(
        &self,
        lot_id: &LotId,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<BidRecord>, StoreError> {
        self.read_bids(lot_id, cursor, limit).await
    }

    async fn lots(&self, query: &LotQuery) -> Result<Page<Lot>, StoreError> {
        self.list_lots(query).await
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<LotId>, StoreError> {
        self.list_due(now, limit).await
    }
}
