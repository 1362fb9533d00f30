//! The port contract suite against the memory adapters: the same checks
//! every durable adapter runs, so "works in memory" means "keeps the
//! contract".

use hammerfall_adapters_memory::{
    ManualClock, MemoryCommandQueue, MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore,
    QueueConfig,
};
use hammerfall_engine::testkit::{
    PublisherHarness, QueueHarness, run_all_command_queue, run_all_credit_ledger,
    run_all_event_publisher, run_all_lot_store,
};
use hammerfall_ports::{Duration, EventEnvelope, LotId};

#[tokio::test]
async fn the_memory_store_keeps_the_lot_store_contract() {
    run_all_lot_store(|| async { MemoryLotStore::new() }).await;
}

#[tokio::test]
async fn the_memory_ledger_keeps_the_credit_ledger_contract() {
    run_all_credit_ledger(|| async { MemoryCreditLedger::new() }).await;
}

/// Observes the memory publisher through a subscription from the start.
struct Publisher(MemoryEventPublisher);

impl PublisherHarness for Publisher {
    type Publisher = MemoryEventPublisher;

    fn publisher(&self) -> &MemoryEventPublisher {
        &self.0
    }

    async fn delivered(&self, lot: &LotId) -> Vec<EventEnvelope> {
        match self.0.subscribe(lot, 0) {
            Ok(mut subscription) => subscription.drain(),
            Err(e) => panic!("subscribe failed: {e}"),
        }
    }
}

#[tokio::test]
async fn the_memory_publisher_keeps_the_event_publisher_contract() {
    run_all_event_publisher(|| async { Publisher(MemoryEventPublisher::new()) }).await;
}

/// Visibility timeout of the queue under test.
const VISIBILITY_SECS: i64 = 30;
/// Deduplication window of the queue under test.
const DEDUP_SECS: i64 = 300;

/// The memory queue on a manual clock.
struct Queue {
    clock: ManualClock,
    queue: MemoryCommandQueue,
}

impl QueueHarness for Queue {
    type Queue = MemoryCommandQueue;

    fn queue(&self) -> &MemoryCommandQueue {
        &self.queue
    }

    fn visibility_timeout(&self) -> Duration {
        Duration::seconds(VISIBILITY_SECS)
    }

    fn dedup_window(&self) -> Option<Duration> {
        Some(Duration::seconds(DEDUP_SECS))
    }

    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

#[tokio::test]
async fn the_memory_queue_keeps_the_command_queue_contract() {
    run_all_command_queue(|| async {
        let clock = ManualClock::default();
        let config = QueueConfig {
            visibility_timeout: Duration::seconds(VISIBILITY_SECS),
            dedup_window: Duration::seconds(DEDUP_SECS),
            ..QueueConfig::default()
        };
        Queue {
            queue: MemoryCommandQueue::with_config(clock.clone(), config),
            clock,
        }
    })
    .await;
}
