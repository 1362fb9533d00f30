//! Port contract suite (feature `testkit`): one set of checks per port,
//! run by every adapter's tests against fresh instances, so the memory,
//! SQLite and DynamoDB adapters are held to the same clauses the port
//! traits state in their docs.
//!
//! Each check is a plain `async fn` taking the adapter (or a harness around
//! it) and panicking with a message that names the broken clause; the
//! engine stays runtime-free, so the adapter's test picks the executor:
//!
//! ```ignore
//! use hammerfall_engine::testkit::*;
//!
//! #[tokio::test]
//! async fn memory_store_keeps_the_lot_store_contract() {
//!     run_all_lot_store(|| async { MemoryLotStore::new() }).await;
//! }
//! ```
//!
//! - [`run_all_lot_store`] — compare-and-set commits, atomic entries, batch
//!   independence and order, unique command keys, reads and paging.
//! - [`run_all_credit_ledger`] — every clause of SPEC §3.1's ledger.
//! - [`run_all_event_publisher`] — at-least-once, in order per lot (needs a
//!   [`PublisherHarness`] to observe deliveries).
//! - [`run_all_command_queue`] — SQS FIFO semantics (needs a
//!   [`QueueHarness`] to let time pass).
//!
//! The fixtures build every lot, commit and envelope with the engine
//! itself, so a check only ever writes what the real service could write.

pub mod credit;
pub mod fixtures;
pub mod publisher;
pub mod queue;
pub mod store;

pub use credit::run_all_credit_ledger;
pub use publisher::{PublisherHarness, run_all_event_publisher};
pub use queue::{QueueHarness, run_all_command_queue};
pub use store::run_all_lot_store;

use std::future::Future;

/// Names the check that panicked: `run_all_*` runs many checks in one
/// test, and a bare assertion message would not say which clause broke.
struct Announce(&'static str);

impl Drop for Announce {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("port contract check `{}` failed", self.0);
        }
    }
}

/// Runs one check, naming it if it panics. The check's future is built
/// here and boxed, not in the `run_all_*` that runs dozens: unoptimised
/// builds give each future built there its own stack slot, and the
/// DynamoDB checks' futures are large enough to overflow a test thread.
async fn named<F, Fut>(name: &'static str, check: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let _announce = Announce(name);
    Box::pin(check()).await;
}
