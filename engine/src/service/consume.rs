//! The asynchronous inbound path: commands from a [`CommandQueue`] (SQS
//! FIFO in AWS, the memory queue in tests) through the same sequencer.

use super::Service;
use super::worker::{Reply, Request};
use hammerfall_ports::{
    CommandQueue, CreditLedger, Delivery, Duration, EventPublisher, LotId, LotStore,
    MAX_QUEUE_BATCH, QueueError, Receipt,
};
use std::collections::{HashMap, VecDeque};

/// First retry delay for a command that could not be judged; doubled per
/// receive (1 s, 2 s, 4 s) before the queue dead-letters it.
pub const RETRY_BASE_SECS: i64 = 1;

/// What one [`Service::consume`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumeReport {
    /// Commands judged (accepted or rejected) and acknowledged.
    pub judged: usize,
    /// Commands left on the queue to be delivered again (judging failed, or
    /// an earlier command of their lot failed: FIFO per lot is kept).
    pub retried: usize,
}

impl<S: LotStore, L: CreditLedger, P: EventPublisher> Service<S, L, P> {
    /// Receives one batch and judges it. Per lot, commands are judged in
    /// queue order, one after another; different lots in parallel. A
    /// command is acknowledged only once its outcome is recorded, so a
    /// crash at any point leads to redelivery, which idempotency absorbs.
    /// After a lot's first failure its later commands in the batch are
    /// not judged but handed back, so they cannot overtake it.
    pub async fn consume<Q: CommandQueue>(
        &self,
        queue: &Q,
        wait: Duration,
    ) -> Result<ConsumeReport, QueueError> {
        let deliveries = queue.receive(MAX_QUEUE_BATCH, wait).await?;
        let mut groups: Vec<(LotId, VecDeque<Delivery>)> = Vec::new();
        let mut index: HashMap<LotId, usize> = HashMap::new();
        for delivery in deliveries {
            let lot_id = delivery.envelope.lot_id.clone();
            let slot = *index.entry(lot_id.clone()).or_insert_with(|| {
                groups.push((lot_id, VecDeque::new()));
                groups.len() - 1
            });
            groups[slot].1.push_back(delivery);
        }

        let mut report = ConsumeReport::default();
        let mut acks: Vec<Receipt> = Vec::new();
        let mut retry: Vec<Delivery> = Vec::new();
        // Rounds: the next command of every lot still going, judged together.
        while groups.iter().any(|(_, g)| !g.is_empty()) {
            let mut round = Vec::new();
            for (slot, (_, group)) in groups.iter_mut().enumerate() {
                if let Some(delivery) = group.pop_front() {
                    let (tx, rx) = futures_channel::oneshot::channel();
                    let request = Request::new(delivery.envelope.clone(), Reply::One(tx));
                    let sent = self
                        .shard_of(&delivery.envelope.lot_id)
                        .send_one(request)
                        .await;
                    round.push((slot, delivery, sent.is_ok().then_some(rx)));
                }
            }
            for (slot, delivery, rx) in round {
                let judged = match rx {
                    Some(rx) => matches!(rx.await, Ok(Ok(_))),
                    None => false,
                };
                if judged {
                    report.judged += 1;
                    acks.push(delivery.receipt.clone());
                } else {
                    retry.push(delivery);
                    retry.extend(groups[slot].1.drain(..));
                }
            }
        }
        if !acks.is_empty() {
            queue.ack(&acks).await?;
        }
        report.retried = retry.len();
        for delivery in retry {
            let backoff = RETRY_BASE_SECS << delivery.receive_count.saturating_sub(1).min(6);
            queue
                .set_visibility(&delivery.receipt, Duration::seconds(backoff))
                .await?;
        }
        Ok(report)
    }
}
