//! The contract suite is not vacuous: adapters with a planted bug fail it.
//! Each broken adapter wraps a correct memory adapter and breaks one clause.

use hammerfall_adapters_memory::{
    ManualClock, MemoryCommandQueue, MemoryCreditLedger, MemoryEventPublisher, MemoryLotStore,
};
use hammerfall_engine::testkit::{
    PublisherHarness, QueueHarness, run_all_command_queue, run_all_credit_ledger,
    run_all_event_publisher, run_all_lot_store,
};
use hammerfall_ports::{
    BidRecord, CommandKey, CommandRecord, CreditError, CreditLedger, CreditView, Currency, Cursor,
    Duration, EventEnvelope, Lot, LotCommit, LotCreditOp, LotId, LotQuery, LotStore, Money, Page,
    ParticipantId, SequencedEvent, StoreError, Timestamp,
};

/// A store whose `due` lists the latest lot first.
struct LatestDueFirst(MemoryLotStore);

impl LotStore for LatestDueFirst {
    async fn load(&self, lot_id: &LotId) -> Result<Option<Lot>, StoreError> {
        self.0.load(lot_id).await
    }
    async fn commit(&self, batch: Vec<LotCommit>) -> Vec<Result<(), StoreError>> {
        self.0.commit(batch).await
    }
    async fn command(&self, key: &CommandKey) -> Result<Option<CommandRecord>, StoreError> {
        self.0.command(key).await
    }
    async fn events_after(
        &self,
        lot_id: &LotId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedEvent>, StoreError> {
        self.0.events_after(lot_id, after, limit).await
    }
    async fn bids(
        &self,
        lot_id: &LotId,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<BidRecord>, StoreError> {
        self.0.bids(lot_id, cursor, limit).await
    }
    async fn lots(&self, query: &LotQuery) -> Result<Page<Lot>, StoreError> {
        self.0.lots(query).await
    }
    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<LotId>, StoreError> {
        let mut due = self.0.due(now, limit).await?;
        due.reverse();
        Ok(due)
    }
}

#[tokio::test]
#[should_panic(expected = "earliest first")]
async fn a_store_listing_due_lots_out_of_order_fails() {
    run_all_lot_store(|| async { LatestDueFirst(MemoryLotStore::new()) }).await;
}

/// A ledger that turns some of its writes into others before making them:
/// each planted ledger bug below is one such rewrite.
struct Rewrites(
    MemoryCreditLedger,
    fn(LotCreditOp<&ParticipantId>) -> LotCreditOp<&ParticipantId>,
);

impl CreditLedger for Rewrites {
    async fn set_limit(
        &self,
        p: &ParticipantId,
        limit: Money,
        currency: Currency,
    ) -> Result<CreditView, CreditError> {
        self.0.set_limit(p, limit, currency).await
    }
    async fn credit(&self, p: &ParticipantId) -> Result<Option<CreditView>, CreditError> {
        self.0.credit(p).await
    }
    async fn change(
        &self,
        lot: &LotId,
        op: LotCreditOp<&ParticipantId>,
    ) -> Result<(), CreditError> {
        self.0.change(lot, (self.1)(op)).await
    }
}

/// A consume that only releases (the payment is never taken).
fn free_lunch(op: LotCreditOp<&ParticipantId>) -> LotCreditOp<&ParticipantId> {
    match op {
        LotCreditOp::Consume { sequence } => LotCreditOp::Release { sequence },
        op => op,
    }
}

#[tokio::test]
#[should_panic(expected = "consume lowers limit")]
async fn a_ledger_that_never_charges_fails() {
    run_all_credit_ledger(|| async { Rewrites(MemoryCreditLedger::new(), free_lunch) }).await;
}

/// A load that sets the committed hold but keeps the proposals (the two
/// writes a cold load used to make, less the second).
fn keeps_proposals_on_load(op: LotCreditOp<&ParticipantId>) -> LotCreditOp<&ParticipantId> {
    match op {
        LotCreditOp::Loaded {
            committed,
            sequence,
        } => committed.at(sequence),
        op => op,
    }
}

#[tokio::test]
#[should_panic(expected = "the committed hold alone")]
async fn a_ledger_keeping_proposals_on_a_load_fails() {
    run_all_credit_ledger(|| async {
        Rewrites(MemoryCreditLedger::new(), keeps_proposals_on_load)
    })
    .await;
}

/// A subscriber view that loses every other event.
struct Lossy(MemoryEventPublisher);

impl PublisherHarness for Lossy {
    type Publisher = MemoryEventPublisher;
    fn publisher(&self) -> &MemoryEventPublisher {
        &self.0
    }
    async fn delivered(&self, lot: &LotId) -> Vec<EventEnvelope> {
        let all = self.0.published(lot);
        all.into_iter().step_by(2).collect()
    }
}

#[tokio::test]
#[should_panic(expected = "every published event must arrive")]
async fn a_publisher_that_loses_events_fails() {
    run_all_event_publisher(|| async { Lossy(MemoryEventPublisher::new()) }).await;
}

/// A harness whose time never passes for the queue: redelivery never comes.
struct Frozen(MemoryCommandQueue);

impl QueueHarness for Frozen {
    type Queue = MemoryCommandQueue;
    fn queue(&self) -> &MemoryCommandQueue {
        &self.0
    }
    fn visibility_timeout(&self) -> Duration {
        Duration::seconds(30)
    }
    fn dedup_window(&self) -> Option<Duration> {
        None
    }
    async fn advance(&self, _by: Duration) {}
}

#[tokio::test]
#[should_panic(expected = "redelivered after the visibility timeout")]
async fn a_queue_that_never_redelivers_fails() {
    run_all_command_queue(|| async { Frozen(MemoryCommandQueue::new(ManualClock::default())) })
        .await;
}
