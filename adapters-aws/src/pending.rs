//! Pending markers: what a host whose writes go through the SQS queue (the
//! `api` Lambda function) writes before it enqueues a command, so that the
//! status route can answer `pending` to the command's submitter — and to
//! nobody else — until the worker has judged it and its command record
//! exists.
//!
//! A marker is one small item (`LOT#<lot>` / `PENDING#<submitter>#<id>`,
//! see `keys.rs`) carrying an `expiresAt` time-to-live attribute. It is
//! never deleted by the worker: the command record supersedes it (the
//! status route reads the record first), and DynamoDB's TTL removes it.
//! A marker is no command: no listing, index or event read sees it (it has
//! no index attributes, and reads of a lot's partition select `EVT#` /
//! `BID#` prefixes or exact keys).

use crate::error::AwsError;
use crate::keys::{EXPIRES_AT, pending_keys};
use crate::store::{DynamoLotStore, key, s};
use aws_sdk_dynamodb::types::AttributeValue;
use hammerfall_ports::{CommandId, LotId, ParticipantId, StoreError, Timestamp};

/// How long a marker lives: SQS's longest message retention (14 days),
/// so a command that is still queued is never reported unknown. A command
/// dead-lettered before being judged stays `pending` until then.
pub const PENDING_TTL_SECS: i64 = 14 * 24 * 3600;

impl DynamoLotStore {
    /// Records that `submitter`'s command `command` on `lot` was queued
    /// at `now` (idempotent: writing it again only moves its expiry).
    pub async fn mark_pending(
        &self,
        lot: &LotId,
        submitter: &ParticipantId,
        command: &CommandId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (pk, sk) = pending_keys(lot, submitter, command);
        let mut item = key(pk, sk);
        let expires = now.timestamp().saturating_add(PENDING_TTL_SECS);
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N(expires.to_string()),
        );
        item.insert("commandId".to_owned(), s(command.as_str()));
        self.client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("PutItem", &e).into_store())
    }

    /// True when `submitter` queued `command` on `lot` (a marker exists;
    /// whether it was judged since is the command record's business).
    pub async fn is_pending(
        &self,
        lot: &LotId,
        submitter: &ParticipantId,
        command: &CommandId,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = pending_keys(lot, submitter, command);
        self.get(pk, &sk, "GetItem")
            .await
            .map(|item| item.is_some())
            .map_err(AwsError::into_store)
    }
}
