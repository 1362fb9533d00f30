//! # hammerfall-adapters-aws
//!
//! The AWS adapters of Hammerfall:
//!
//! - [`DynamoLotStore`] — the [`LotStore`](hammerfall_ports::LotStore) and
//!   the [`CreditLedger`](hammerfall_ports::CreditLedger) on one DynamoDB
//!   table (single-table design; see the crate's README for the items, keys,
//!   indexes and costs). A lot's commit is one `TransactWriteItems`,
//!   compare-and-set on the lot's sequence.
//! - [`SqsCommandQueue`] — the [`CommandQueue`](hammerfall_ports::CommandQueue)
//!   on an SQS FIFO queue (group = lot, deduplication id = a hash of lot,
//!   submitter and command id), dead-lettering through the queue's redrive
//!   policy.
//! - pending markers ([`DynamoLotStore::mark_pending`]) — what a host
//!   whose writes go through the queue records so that
//!   `GET …/commands/{id}` can say `pending` to the submitter alone.
//! - [`setup`] — creates the table (with its indexes) and the FIFO queue
//!   with its dead-letter queue, for tests and local use.
//!
//! Hosts build the clients once from [`AwsSettings`] and share them.

mod config;
mod error;
mod keys;
mod ledger;
mod pending;
mod queue;
pub mod setup;
mod store;
#[cfg(feature = "testsupport")]
pub mod testsupport;

pub use config::{AwsSettings, LOCAL_REGION};
pub use error::{AwsError, InvalidCommit, InvalidCursor};
pub use ledger::{MAX_HOLDS_PER_PARTICIPANT, MAX_LEDGER_ATTEMPTS};
pub use pending::PENDING_TTL_SECS;
pub use queue::{MAX_MESSAGE_BYTES, MAX_RECEIVE_WAIT_SECS, MAX_VISIBILITY_SECS, SqsCommandQueue};
pub use store::{
    DynamoLotStore, MAX_CONCURRENT_TRANSACTIONS, MAX_ITEM_BYTES, MAX_TRANSACTION_ACTIONS,
    MAX_TRANSACTION_BYTES, TransactionCost,
};
