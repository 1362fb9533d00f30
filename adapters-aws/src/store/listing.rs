//! Reads: a lot's events and bid history (queries on its partition, in
//! sequence order), lot listings (the seller and status indexes, then the
//! lots' state items by `BatchGetItem`) and due lots (the status index,
//! which is ordered by next due time).
//!
//! The indexes are global secondary indexes, so they are eventually
//! consistent: a listing may miss a lot changed a moment ago, and lots
//! whose state no longer matches the query are dropped after the state is
//! read (strongly consistent). `due` may name a lot that was just advanced;
//! advancing it again changes nothing.

use super::DynamoLotStore;
use super::cursor::{Position, key_to_map, map_to_key};
use super::item::{Item, decode, get_s, key, s};
use crate::error::{AwsError, corrupt};
use crate::keys::{
    BID, BID_RECORD, DUE_KEY, EVENT, EVT, META, PK, SELLER_ID, SELLER_INDEX, SK, STATE, STATUS,
    STATUS_INDEX, STATUS_KEY, STATUSES, due_bound, lot_pk, seq_sk,
};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use hammerfall_ports::{
    BidRecord, Cursor, DEFAULT_PAGE_SIZE, Lot, LotId, LotQuery, LotStatus, MAX_PAGE_SIZE, Page,
    SequencedEvent, StoreError, Timestamp,
};
use std::collections::HashMap;

/// Keys per `BatchGetItem` (DynamoDB's limit).
const BATCH_GET_KEYS: usize = 100;
/// Rounds of `UnprocessedKeys` retried before a listing gives up.
const BATCH_GET_ROUNDS: u32 = 8;
/// Statuses in which a lot can have something due (cancelled lots never do).
const DUE_STATUSES: [LotStatus; 4] = [
    LotStatus::Scheduled,
    LotStatus::Open,
    LotStatus::Reserved,
    LotStatus::Closed,
];

pub(super) fn page_size(limit: usize) -> usize {
    match limit {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// One index partition a lot listing reads.
struct Partition {
    index: &'static str,
    condition: &'static str,
    values: HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
}

impl Partition {
    fn status(status: LotStatus) -> Self {
        Self {
            index: STATUS_INDEX,
            condition: "#h = :h",
            values: HashMap::from([(":h".to_owned(), s(status.as_str()))]),
        }
    }

    fn seller(seller: &str, status: Option<LotStatus>) -> Self {
        let mut values = HashMap::from([(":h".to_owned(), s(seller))]);
        let condition = match status {
            Some(st) => {
                values.insert(":p".to_owned(), s(format!("{}#", st.as_str())));
                "#h = :h AND begins_with(#r, :p)"
            }
            None => "#h = :h",
        };
        Self {
            index: SELLER_INDEX,
            condition,
            values,
        }
    }

    fn names(&self) -> HashMap<String, String> {
        let (hash, range) = if self.index == STATUS_INDEX {
            (STATUS, DUE_KEY)
        } else {
            (SELLER_ID, STATUS_KEY)
        };
        let mut names = HashMap::from([("#h".to_owned(), hash.to_owned())]);
        if self.condition.contains("#r") {
            names.insert("#r".to_owned(), range.to_owned());
        }
        names
    }
}

impl DynamoLotStore {
    /// Runs a query page after page until `want` items or the end; returns
    /// them and where it stopped (DynamoDB pages at 1 MB, so one request
    /// may return fewer than asked with more to come).
    async fn query_upto(
        &self,
        make: impl Fn() -> QueryFluentBuilder,
        want: usize,
        mut start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let mut items = Vec::new();
        loop {
            let ask = i32::try_from(want - items.len()).unwrap_or(i32::MAX);
            let page = make()
                .limit(ask)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("Query", &e).into_store())?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() || items.len() >= want {
                return Ok((items, start));
            }
        }
    }

    /// A query of one lot's items whose sort keys lie in `lo..=hi`.
    fn lot_range(&self, lot: &LotId, lo: String, hi: String) -> impl Fn() -> QueryFluentBuilder {
        let client = self.client.clone();
        let table = self.table.clone();
        let pk = lot_pk(lot);
        move || {
            client
                .query()
                .table_name(&*table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":lo", s(lo.clone()))
                .expression_attribute_values(":hi", s(hi.clone()))
        }
    }

    pub(super) async fn read_events(
        &self,
        lot: &LotId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedEvent>, StoreError> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let query = self.lot_range(lot, seq_sk(EVT, first), seq_sk(EVT, u64::MAX));
        let (items, _) = self.query_upto(query, page_size(limit), None).await?;
        items.iter().map(|item| decode(item, EVENT)).collect()
    }

    pub(super) async fn read_bids(
        &self,
        lot: &LotId,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<BidRecord>, StoreError> {
        let after = match cursor.map(Position::decode).transpose()? {
            None => 0,
            Some(Position::Bids { a }) => a,
            Some(Position::Lots { .. }) => {
                return Err(StoreError::Corrupt(Box::new(crate::InvalidCursor(
                    cursor.map(|c| c.0.clone()).unwrap_or_default(),
                ))));
            }
        };
        let Some(first) = after.checked_add(1) else {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        };
        let size = page_size(limit);
        let query = self.lot_range(lot, seq_sk(BID, first), seq_sk(BID, u64::MAX));
        // One more than the page: whether another page follows.
        let (items, _) = self.query_upto(query, size + 1, None).await?;
        let mut bids: Vec<BidRecord> = items
            .iter()
            .map(|item| decode(item, BID_RECORD))
            .collect::<Result<_, _>>()?;
        let next_cursor = if bids.len() > size {
            bids.truncate(size);
            bids.last()
                .map(|b| Position::Bids { a: b.sequence }.encode())
        } else {
            None
        };
        Ok(Page {
            items: bids,
            next_cursor,
        })
    }

    fn index_query(&self, partition: &Partition) -> impl Fn() -> QueryFluentBuilder {
        let client = self.client.clone();
        let table = self.table.clone();
        let index = partition.index;
        let condition = partition.condition;
        let names = partition.names();
        let values = partition.values.clone();
        move || {
            client
                .query()
                .table_name(&*table)
                .index_name(index)
                .key_condition_expression(condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
        }
    }

    pub(super) async fn list_lots(&self, query: &LotQuery) -> Result<Page<Lot>, StoreError> {
        let partitions: Vec<Partition> = match (&query.seller_id, query.status) {
            (Some(seller), status) => vec![Partition::seller(seller.as_str(), status)],
            (None, Some(status)) => vec![Partition::status(status)],
            (None, None) => STATUSES.into_iter().map(Partition::status).collect(),
        };
        let (mut at, mut start) = match query.cursor.as_ref().map(Position::decode).transpose()? {
            None => (0, None),
            Some(Position::Lots { p, s }) if p < partitions.len() => {
                (p, s.as_ref().map(map_to_key))
            }
            Some(_) => {
                let text = query
                    .cursor
                    .as_ref()
                    .map(|c| c.0.clone())
                    .unwrap_or_default();
                return Err(StoreError::Corrupt(Box::new(crate::InvalidCursor(text))));
            }
        };
        let size = page_size(query.limit);
        let mut keys: Vec<String> = Vec::new();
        while at < partitions.len() && keys.len() < size {
            let make = self.index_query(&partitions[at]);
            let (items, next) = self
                .query_upto(make, size - keys.len(), start.take())
                .await?;
            for item in &items {
                keys.push(get_s(item, PK)?.to_owned());
            }
            match next {
                Some(k) => start = Some(k),
                None => at += 1,
            }
        }
        let next_cursor = (at < partitions.len()).then(|| {
            Position::Lots {
                p: at,
                s: start.as_ref().and_then(key_to_map),
            }
            .encode()
        });
        let lots = self.lots_by_pk(&keys).await?;
        // The index may lag behind the state: keep what matches now.
        let items = lots
            .into_iter()
            .filter(|l| query.status.is_none_or(|st| l.status == st))
            .filter(|l| query.seller_id.as_ref().is_none_or(|p| l.seller_id() == p))
            .collect();
        Ok(Page { items, next_cursor })
    }

    /// The state items of lots (by partition key), in the order asked.
    async fn lots_by_pk(&self, pks: &[String]) -> Result<Vec<Lot>, StoreError> {
        let mut found: HashMap<String, Lot> = HashMap::with_capacity(pks.len());
        for chunk in pks.chunks(BATCH_GET_KEYS) {
            let keys: Vec<Item> = chunk.iter().map(|pk| key(pk.clone(), META)).collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .projection_expression("#pk, #st")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#st", STATE)
                    .build()
                    .map_err(|e| AwsError::new("BatchGetItem", e.to_string()).into_store())?,
            );
            let mut round = 0;
            while let Some(request) = pending.take() {
                round += 1;
                if round > BATCH_GET_ROUNDS {
                    return Err(AwsError::new("BatchGetItem", "keys left unprocessed").into_store());
                }
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&*self.table, request)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("BatchGetItem", &e).into_store())?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&*self.table))
                    .unwrap_or_default()
                {
                    found.insert(get_s(&item, PK)?.to_owned(), decode(&item, STATE)?);
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&*self.table))
                    .filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    // Throttled: back off a little before the next round.
                    tokio::time::sleep(std::time::Duration::from_millis(20 << round)).await;
                }
            }
        }
        // A lot deleted between the index and the read is simply absent.
        Ok(pks.iter().filter_map(|pk| found.remove(pk)).collect())
    }

    pub(super) async fn list_due(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<LotId>, StoreError> {
        let size = page_size(limit);
        let bound = due_bound(now);
        let mut due: Vec<(String, String)> = Vec::new();
        for status in DUE_STATUSES {
            let client = self.client.clone();
            let table = self.table.clone();
            let bound = bound.clone();
            let make = move || {
                client
                    .query()
                    .table_name(&*table)
                    .index_name(STATUS_INDEX)
                    .key_condition_expression("#h = :h AND #r < :bound")
                    .expression_attribute_names("#h", STATUS)
                    .expression_attribute_names("#r", DUE_KEY)
                    .expression_attribute_values(":h", s(status.as_str()))
                    .expression_attribute_values(":bound", s(bound.clone()))
            };
            let (items, _) = self.query_upto(make, size, None).await?;
            for item in &items {
                due.push((
                    get_s(item, DUE_KEY)?.to_owned(),
                    get_s(item, PK)?.to_owned(),
                ));
            }
        }
        due.sort();
        due.into_iter()
            .take(size)
            .map(|(_, pk)| {
                let id = pk
                    .strip_prefix("LOT#")
                    .ok_or_else(|| corrupt(format!("bad lot key {pk}")))?;
                LotId::new(id).map_err(|e| corrupt(format!("bad lot key {pk}: {e}")))
            })
            .collect()
    }
}
