//! A shard's committer: the second stage of a shard. Its judge
//! ([`Shard`](super::worker::Shard)) decides a batch and hands it over; the
//! committer commits it (one group commit), settles credit holds, publishes
//! the events and answers the commands, while the judge already decides
//! the next batch. The two stages run as separate futures, so a hot lot's
//! decisions and its commits use two cores, and a store's commit latency
//! (SQLite's writer, DynamoDB) no longer stalls the decisions behind it.
//!
//! The judge decides a batch on the states its previous batch left, before
//! that batch is committed. If a commit entry fails, those states never
//! landed: the committer returns the failed entries' requests, refuses
//! every later batch whole (returning its requests too, having withdrawn
//! their proposed credit holds) and tells the judge which lots' cached
//! states to drop, until the judge has taken all of it back
//! ([`ToCommitter::Resume`]). The judge then decides the returned requests
//! again, in their order, before anything newer: per-lot order holds, and
//! nothing decided on a state that did not land is ever committed.

use super::worker::{Answer, LotWork, Request, conflict_response, finish, same_failure, send};
use super::{FastSet, Ports, Response};
use crate::credit::{self, CreditAction};
use hammerfall_ports::{
    CommandKey, CreditLedger, EventEnvelope, EventPublisher, LotCommit, LotId, LotStore,
    ParticipantId, StoreError,
};
use std::sync::{Arc, Mutex};

/// What a shard's judge hands its committer.
pub(crate) enum ToCommitter {
    /// A judged batch, one work per lot: commit, publish, answer.
    Batch(Vec<(LotId, Box<LotWork>)>),
    /// The judge has taken back what was returned: commit again from the
    /// next batch on.
    Resume,
}

/// What a committer tells its judge.
pub(crate) enum FromCommitter {
    /// Requests to decide again, in order, and lots whose cached states
    /// did not land. Sent for a failed commit and for each batch refused
    /// after it, until [`ToCommitter::Resume`].
    Returned {
        requests: Vec<Request>,
        lots: Vec<LotId>,
    },
    /// Committed, but the ledger did not follow: these lots' cached states
    /// go, so that their next load sets their holds again.
    Evict(Vec<LotId>),
    /// Everything sent before the `Resume` was committed or returned.
    Resumed,
}

/// Lot works emptied by the committer, for the judge to fill again.
#[allow(
    clippy::vec_box,
    reason = "the boxes are what is reused: a batch moves each lot's work around boxed"
)]
pub(crate) type SparePool = Arc<Mutex<Vec<Box<LotWork>>>>;

/// Most emptied lot works kept for reuse.
const SPARE_WORKS: usize = 1024;

/// The committer of one shard (see the module docs).
pub(crate) struct Committer<S, L, P> {
    ports: Ports<S, L, P>,
    inbox: flume::Receiver<ToCommitter>,
    back: flume::Sender<FromCommitter>,
    pending: Arc<Mutex<FastSet<CommandKey>>>,
    spare: SparePool,
    /// Works emptied during the current batch, given to `spare` at its end
    /// (one lock per batch).
    #[allow(
        clippy::vec_box,
        reason = "the boxes are what is reused: a batch moves each lot's work around boxed"
    )]
    emptied: Vec<Box<LotWork>>,
}

impl<S: LotStore, L: CreditLedger, P: EventPublisher> Committer<S, L, P> {
    pub(crate) fn new(
        ports: Ports<S, L, P>,
        inbox: flume::Receiver<ToCommitter>,
        back: flume::Sender<FromCommitter>,
        pending: Arc<Mutex<FastSet<CommandKey>>>,
        spare: SparePool,
    ) -> Self {
        Self {
            ports,
            inbox,
            back,
            pending,
            spare,
            emptied: Vec::new(),
        }
    }

    /// Serves the judge until it is gone. The judge never waits on this
    /// side's messages to it (an unbounded channel), so neither stage can
    /// block the other in a circle.
    pub(crate) async fn run(mut self) {
        let mut refusing = false;
        while let Ok(message) = self.inbox.recv_async().await {
            match message {
                ToCommitter::Resume => {
                    refusing = false;
                    // The judge may be gone (shutting down); nothing to do.
                    let _ = self.back.send(FromCommitter::Resumed);
                }
                ToCommitter::Batch(works) if refusing => {
                    let returned = self.refuse(works).await;
                    let _ = self.back.send(returned);
                }
                ToCommitter::Batch(works) => {
                    if let Some(returned) = self.commit(works).await {
                        refusing = true;
                        let _ = self.back.send(returned);
                    }
                }
            }
            if !self.emptied.is_empty() {
                let mut spare = self
                    .spare
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let room = SPARE_WORKS.saturating_sub(spare.len());
                self.emptied.truncate(room);
                spare.append(&mut self.emptied);
            }
        }
    }

    /// A batch after a failed one: decided on states that may not have
    /// landed. Nothing of it is committed; its proposed holds are withdrawn
    /// and its requests go back to the judge.
    async fn refuse(&mut self, works: Vec<(LotId, Box<LotWork>)>) -> FromCommitter {
        let mut requests = Vec::new();
        let mut lots = Vec::with_capacity(works.len());
        for (lot_id, mut work) in works {
            self.repair_credit(&lot_id, &work).await;
            requests.extend(work.answers.drain(..).map(|answer| {
                let mut request = answer.into_request();
                request.counts.returns += 1;
                request
            }));
            lots.push(lot_id);
            self.recycle(work);
        }
        FromCommitter::Returned { requests, lots }
    }

    /// Commits every lot's work in one call, then publishes and answers.
    /// Returns what failed, if anything did (see the module docs).
    async fn commit(&mut self, works: Vec<(LotId, Box<LotWork>)>) -> Option<FromCommitter> {
        let mut writes = Vec::with_capacity(works.len());
        let mut waiting = Vec::with_capacity(works.len());
        // Every written lot's events, for one publish call once committed;
        // `spans[i]` are the events of `waiting[i]`.
        let mut outbox: Vec<EventEnvelope> = Vec::new();
        let mut spans = Vec::with_capacity(works.len());
        for (lot_id, mut work) in works {
            if work.has_writes() {
                let start = outbox.len();
                outbox.extend(
                    work.commit
                        .events
                        .iter()
                        .map(|e| EventEnvelope::new(lot_id.clone(), e.clone())),
                );
                spans.push(start..outbox.len());
                writes.push(std::mem::replace(&mut work.commit, empty_commit(&lot_id)));
                waiting.push((lot_id, work));
            } else {
                self.answer(work);
            }
        }
        if writes.is_empty() {
            return None;
        }
        let mut results = self.ports.store.commit(writes).await.into_iter();
        let mut failed: Option<(Vec<Request>, Vec<LotId>)> = None;
        let mut evict = Vec::new();
        // The committed lots' events go out in one publish call (in order
        // per lot), before any of their commands is answered.
        let mut committed = Vec::with_capacity(waiting.len());
        let mut landed = Vec::with_capacity(waiting.len());
        for (lot_id, work) in waiting {
            // The port promises a result per entry; one missing did not land.
            let result = results.next().unwrap_or_else(|| {
                Err(StoreError::Unavailable(
                    "the store returned no result for this entry".into(),
                ))
            });
            landed.push(result.is_ok());
            match result {
                Ok(()) => {
                    if !self.after_commit(&lot_id, &work).await {
                        // Not cached: its next load reconciles the hold.
                        evict.push(lot_id);
                    }
                    committed.push(work);
                }
                Err(StoreError::Conflict { .. } | StoreError::DuplicateCommand(_)) => {
                    self.repair_credit(&lot_id, &work).await;
                    let (requests, lots) = failed.get_or_insert_with(Default::default);
                    let mut work = work;
                    requests.extend(work.answers.drain(..).map(|answer| {
                        let mut request = answer.into_request();
                        request.counts.failures += 1;
                        request.counts.returns += 1;
                        request
                    }));
                    lots.push(lot_id);
                    self.recycle(work);
                }
                Err(e) => {
                    self.repair_credit(&lot_id, &work).await;
                    let mut work = work;
                    for answer in work.answers.drain(..) {
                        finish(
                            &self.pending,
                            answer.into_request(),
                            Err(same_failure(&e).into()),
                        );
                    }
                    failed.get_or_insert_with(Default::default).1.push(lot_id);
                    self.recycle(work);
                }
            }
        }
        if landed.contains(&false) {
            outbox = landed_only(outbox, &spans, &landed);
        }
        if !outbox.is_empty()
            && let Err(e) = self.ports.publisher.publish_owned(outbox).await
        {
            // Committed events stay readable from the store
            // (`events_after`); subscribers resume from there.
            tracing::warn!(error = %e, "publishing committed events failed");
        }
        if !evict.is_empty() {
            let _ = self.back.send(FromCommitter::Evict(evict));
        }
        for work in committed {
            self.answer(work);
        }
        failed.map(|(requests, lots)| FromCommitter::Returned { requests, lots })
    }

    /// After a commit that did not land: the holds proposed for it must
    /// not outlive it (they would hold the bidder's credit until the lot's
    /// committed sequence reached theirs). Withdraws them, then sets the
    /// lot's committed hold from its stored state (a no-op unless the
    /// ledger lagged: the version keeps a stale read from moving it back).
    async fn repair_credit(&self, lot_id: &LotId, work: &LotWork) {
        withdraw(&*self.ports.ledger, lot_id, &work.proposed).await;
        if work.working.as_ref().is_some_and(credit::is_checked)
            && let Ok(Some(stored)) = self.ports.store.load(lot_id).await
        {
            reconcile_credit(&*self.ports.ledger, &stored).await;
        }
    }

    /// The committed hold of the lot's new state, set once it is durable
    /// (at its sequence, dropping the batch's proposals; a new leader's
    /// credit is already held by their proposal, so this only moves it from
    /// proposed to committed, or shrinks or releases holds). False if the
    /// ledger could not follow. `work.working` is the state after the
    /// batch, kept by the judge for credit-checked lots only (no other lot
    /// has a hold).
    async fn after_commit(&self, lot_id: &LotId, work: &LotWork) -> bool {
        let Some(after) = &work.working else {
            return true;
        };
        let ledger = &self.ports.ledger;
        let sequence = after.sequence;
        let action = match credit::credit_action(work.base.as_ref(), after) {
            // Proposals of this batch are dropped by the committed write.
            CreditAction::None if !work.proposed.is_empty() => match credit::required_hold(after) {
                Some(h) => CreditAction::Hold(h),
                None => CreditAction::Release,
            },
            action => action,
        };
        let result = match action {
            CreditAction::None => Ok(()),
            CreditAction::Hold(h) => {
                ledger
                    .hold(lot_id, &h.participant, h.amount, after.currency(), sequence)
                    .await
            }
            CreditAction::Release => ledger.release(lot_id, sequence).await,
            CreditAction::Consume => ledger.consume(lot_id, sequence).await,
        };
        if let Err(e) = &result {
            tracing::warn!(lot = %lot_id, error = %e, "credit update after commit failed");
        }
        result.is_ok()
    }

    fn answer(&mut self, mut work: Box<LotWork>) {
        for answer in work.answers.drain(..) {
            match answer {
                Answer::Judged {
                    response, reply, ..
                } => match reply {
                    // Nobody reads the response.
                    super::worker::Reply::Async => {
                        super::worker::forget_pending(&self.pending, &response.record.key, None);
                    }
                    reply => send(reply, Ok(response)),
                },
                Answer::Replayed(earlier) => {
                    let (request, record) = *earlier;
                    let response = Box::new(Response {
                        record,
                        lot: None,
                        replayed: true,
                    });
                    finish(&self.pending, request, Ok(response));
                }
                Answer::Conflict(earlier) => {
                    let (request, original) = *earlier;
                    let response = Box::new(conflict_response(&request.envelope, original));
                    finish(&self.pending, request, Ok(response));
                }
            }
        }
        self.recycle(work);
    }

    /// Keeps an answered lot work (emptied) for a later batch.
    fn recycle(&mut self, mut work: Box<LotWork>) {
        if self.emptied.len() < SPARE_WORKS {
            work.working = None;
            work.base = None;
            work.recorded.clear();
            work.answers.clear();
            work.proposed.clear();
            self.emptied.push(work);
        }
    }
}

/// Withdraws proposals whose commit did not land.
pub(crate) async fn withdraw<L: CreditLedger>(
    ledger: &L,
    lot_id: &LotId,
    proposed: &[(ParticipantId, u64)],
) {
    for (participant, sequence) in proposed {
        if let Err(e) = ledger.withdraw(lot_id, participant, *sequence).await {
            tracing::warn!(lot = %lot_id, error = %e, "could not withdraw a proposed credit hold");
        }
    }
}

/// Sets the lot's committed hold from a committed state (versioned with
/// its sequence: a stale state changes nothing). A paid lot's hold is
/// consumed (a no-op if it was), so a crash between a payment's commit and
/// its consume still charges the payment.
async fn reconcile_credit<L: CreditLedger>(ledger: &L, lot: &hammerfall_ports::Lot) {
    if !credit::is_checked(lot) {
        return;
    }
    let committed = credit::committed_hold(lot);
    let op = committed.as_ref().at(lot.sequence);
    if let Err(e) = ledger.change(&lot.lot_id, op).await {
        tracing::warn!(lot = %lot.lot_id, error = %e, "could not reconcile the lot's credit hold");
    }
}

fn empty_commit(lot_id: &LotId) -> LotCommit {
    LotCommit {
        lot_id: lot_id.clone(),
        expected_sequence: 0,
        lot: None,
        events: Vec::new(),
        bids: Vec::new(),
        commands: Vec::new(),
    }
}

/// The events of the entries that landed (`landed[i]` for `spans[i]`).
fn landed_only(
    outbox: Vec<EventEnvelope>,
    spans: &[std::ops::Range<usize>],
    landed: &[bool],
) -> Vec<EventEnvelope> {
    let mut kept = Vec::with_capacity(outbox.len());
    let mut events = outbox.into_iter();
    for (i, span) in spans.iter().enumerate() {
        let part = events.by_ref().take(span.len());
        if landed.get(i).copied().unwrap_or(false) {
            kept.extend(part);
        } else {
            part.for_each(drop);
        }
    }
    kept
}
