//! A shard worker: owns its lots' cached state, judges their commands one at
//! a time in arrival order, and commits everything its inbox held in one
//! group commit.

use super::records::{accepted_result, bid_records, command_key};
use super::{FastMap, FastSet, Ports, Response, ServiceConfig, ServiceError};
use crate::credit::{self, CreditAction};
use crate::{advance, apply, create, create_from, judge_into, next_due};
use hammerfall_ports::{
    Command, CommandEnvelope, CommandId, CommandKey, CommandOutcome, CommandRecord, CreditError,
    CreditLedger, EventEnvelope, EventPublisher, Events, InvalidRequest, Lot, LotCommit,
    LotCreditOp, LotId, LotStore, ParticipantId, Rejection, SequencedEvent, StoreError, Timestamp,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Outcomes are boxed: a response is several hundred bytes, and it moves
/// through the answer list and the channel.
pub(crate) type Outcome = Result<Box<Response>, ServiceError>;

/// Where a command's outcome goes.
pub(crate) enum Reply {
    /// To one waiting submitter.
    One(futures_channel::oneshot::Sender<Outcome>),
    /// Into a slot of a batch's collector ([`Service::submit_many`]).
    ///
    /// [`Service::submit_many`]: super::Service::submit_many
    Batch(Arc<Collector>, usize),
    /// Nowhere: submitted asynchronously, read back with `status`.
    Async,
}

/// One submitted command, its idempotency key (computed once, by the
/// submitter) and where to send its outcome.
pub(crate) struct Request {
    pub(crate) envelope: CommandEnvelope,
    pub(crate) key: CommandKey,
    pub(crate) reply: Reply,
}

impl Request {
    pub(crate) fn new(envelope: CommandEnvelope, reply: Reply) -> Self {
        Self {
            key: command_key(&envelope),
            envelope,
            reply,
        }
    }
}

/// What a worker's inbox carries: one command, or a batch of them in order.
#[allow(
    clippy::large_enum_variant,
    reason = "one command is the common job: boxing it would add an allocation per submit, and an inbox slot held a whole request before batches existed"
)]
pub(crate) enum Job {
    One(Request),
    Many(Vec<Request>),
}

impl Job {
    pub(crate) fn len(&self) -> usize {
        match self {
            Job::One(_) => 1,
            Job::Many(requests) => requests.len(),
        }
    }
}

/// The outcomes of a batch, filled in by the workers in any order; the
/// submitter is woken once, with all of them, when the last one is in. If
/// the workers stop first, the collector is dropped unfinished and the
/// submitter's receiver reports it.
pub(crate) struct Collector {
    state: Mutex<Collecting>,
}

struct Collecting {
    results: Vec<Option<Outcome>>,
    remaining: usize,
    done: Option<futures_channel::oneshot::Sender<Vec<Option<Outcome>>>>,
}

impl Collector {
    pub(crate) fn new(
        count: usize,
    ) -> (
        Arc<Self>,
        futures_channel::oneshot::Receiver<Vec<Option<Outcome>>>,
    ) {
        let (tx, rx) = futures_channel::oneshot::channel();
        let state = Collecting {
            results: (0..count).map(|_| None).collect(),
            remaining: count,
            done: Some(tx),
        };
        (
            Arc::new(Self {
                state: Mutex::new(state),
            }),
            rx,
        )
    }

    fn fill(&self, slot: usize, outcome: Outcome) {
        let finished = {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Collecting {
                results,
                remaining,
                done,
            } = &mut *state;
            match results.get_mut(slot) {
                Some(entry @ None) => {
                    *entry = Some(outcome);
                    *remaining -= 1;
                }
                _ => return,
            }
            if *remaining == 0 {
                done.take().map(|tx| (tx, std::mem::take(results)))
            } else {
                None
            }
        };
        if let Some((tx, results)) = finished {
            // The submitter may have gone away; nothing to do then.
            let _ = tx.send(results);
        }
    }
}

/// What a command came to within a batch, sent once the batch commits.
enum Answer {
    /// Judged now, and recorded in this batch's commit (timer commands and
    /// unknown lots are not recorded). The response is built at once, in
    /// its final box, with the request's key and command moved into its
    /// record; `version` is the envelope's, to rebuild the request should
    /// the commit have to be judged again.
    Judged {
        response: Box<Response>,
        version: u32,
        reply: Reply,
    },
    /// Judged before: the stored record (SPEC §5). Boxed, as the next:
    /// rare, and the common answer is a few words.
    Replayed(Box<(Request, CommandRecord)>),
    /// The same id was used for another command.
    Conflict(Box<(Request, CommandRecord)>),
}

impl Answer {
    /// The request again: to judge it anew (its lot lost a
    /// compare-and-set race) or to fail it.
    fn into_request(self) -> Request {
        match self {
            Answer::Judged {
                response,
                version,
                reply,
            } => {
                let CommandRecord {
                    key,
                    lot_id,
                    command,
                    ..
                } = response.record;
                Request {
                    envelope: CommandEnvelope {
                        version,
                        command_id: key.command_id.clone(),
                        lot_id,
                        command,
                    },
                    key,
                    reply,
                }
            }
            Answer::Replayed(earlier) | Answer::Conflict(earlier) => earlier.0,
        }
    }
}

/// Where [`Shard::judge`] left a command.
enum Judging {
    /// Judged and queued for the commit (or answered from its record).
    Done,
    /// Accepted by the rules; waits for its credit hold.
    Hold(Box<PendingHold>),
}

/// A command accepted by the rules that waits for its credit hold.
struct PendingHold {
    request: Request,
    /// The hold, and the lot before the command (restored if the hold
    /// does not fit).
    held: Box<(credit::Hold, Lot)>,
    now: Timestamp,
}

/// What [`Shard::judge_existing`] decided.
enum Decided {
    /// The command's outcome; its events, if any, are in the work.
    Outcome(Result<(), Rejection>),
    /// Accepted by the rules; rule 9 needs this hold, from the state
    /// before the command.
    Hold(Box<(credit::Hold, Lot)>),
}

/// One lot's share of a batch.
struct LotWork {
    /// The lot before the batch (None: new or unknown).
    base: Option<Lot>,
    /// The lot after the commands judged so far.
    working: Option<Lot>,
    commit: LotCommit,
    /// Keys recorded in this batch → index in `commit.commands` (a retry
    /// within one batch must find its first submission without a scan).
    /// Built only once the lot has [`SCAN_RECORDED`] records in the batch
    /// (below that a scan is cheaper than hashing): command id → its first
    /// record (one string to hash, not a whole key).
    recorded: FastMap<CommandId, usize>,
    answers: Vec<Answer>,
    /// Holds proposed to the ledger for this batch's states (who, at which
    /// sequence): withdrawn if the commit fails (see `CreditLedger`).
    proposed: Vec<(ParticipantId, u64)>,
}

/// Records of one lot in a batch up to which a retry is found by a scan.
const SCAN_RECORDED: usize = 16;

impl LotWork {
    /// Where `key` was recorded in this batch, if it was.
    fn recorded(&self, key: &CommandKey) -> Option<usize> {
        let commands = &self.commit.commands;
        if commands.len() <= SCAN_RECORDED {
            commands
                .iter()
                .position(|r| r.key.command_id == key.command_id && r.key == *key)
        } else {
            match self.recorded.get(&key.command_id) {
                None => None,
                Some(&i) if commands[i].key == *key => Some(i),
                // The same command id from another submitter: rare.
                Some(_) => commands.iter().position(|r| r.key == *key),
            }
        }
    }

    /// Records `record` in the batch's commit.
    fn record(&mut self, record: CommandRecord) {
        let commands = &mut self.commit.commands;
        commands.push(record);
        if commands.len() > SCAN_RECORDED {
            let from = if self.recorded.is_empty() {
                self.recorded.reserve(4 * SCAN_RECORDED);
                0
            } else {
                commands.len() - 1
            };
            for (i, r) in commands.iter().enumerate().skip(from) {
                self.recorded.entry(r.key.command_id.clone()).or_insert(i);
            }
        }
    }

    fn has_writes(&self) -> bool {
        !self.commit.events.is_empty() || !self.commit.commands.is_empty()
    }
}

pub(crate) struct Shard<S, L, P> {
    ports: Ports<S, L, P>,
    inbox: flume::Receiver<Job>,
    /// Commands in the inbox and the backlog (`Service::queue_depth`).
    depth: Arc<AtomicUsize>,
    /// Commands taken from the inbox, not yet into a batch (a batch job
    /// larger than `max_batch` is judged over several group commits).
    backlog: VecDeque<Request>,
    config: ServiceConfig,
    pending: Arc<Mutex<FastSet<CommandKey>>>,
    cache: FastMap<LotId, Lot>,
    events: Events,
    /// Lot works of earlier batches, emptied, kept for the next ones (a
    /// batch of many lots would allocate one and its answer list per lot).
    #[allow(
        clippy::vec_box,
        reason = "the boxes are what is reused: a batch moves each lot's work around boxed"
    )]
    spare: Vec<Box<LotWork>>,
}

/// Most emptied lot works a worker keeps for reuse.
const SPARE_WORKS: usize = 1024;

impl<S: LotStore, L: CreditLedger, P: EventPublisher> Shard<S, L, P> {
    pub(crate) fn new(
        ports: Ports<S, L, P>,
        inbox: flume::Receiver<Job>,
        depth: Arc<AtomicUsize>,
        config: ServiceConfig,
        pending: Arc<Mutex<FastSet<CommandKey>>>,
    ) -> Self {
        Self {
            ports,
            inbox,
            depth,
            backlog: VecDeque::new(),
            config,
            pending,
            cache: FastMap::default(),
            events: Events::new(),
            spare: Vec::new(),
        }
    }

    /// Serves the inbox until every sender is gone: everything waiting (up
    /// to `max_batch` commands) goes into one group commit, so a worker
    /// that is busy is not woken per command. A batch job larger than that
    /// is judged over several group commits, in order; nothing behind it in
    /// the inbox is taken before it is done (FIFO).
    pub(crate) async fn run(mut self) {
        let max_batch = self.config.max_batch.max(1);
        loop {
            let mut batch = if self.backlog.is_empty() {
                match self.inbox.recv_async().await {
                    Ok(Job::One(request)) => {
                        let mut batch = Vec::with_capacity(64);
                        batch.push(request);
                        batch
                    }
                    // Judged in place: a batch job is not copied around.
                    Ok(Job::Many(requests)) => requests,
                    Err(_) => return,
                }
            } else {
                let n = self.backlog.len().min(max_batch);
                self.backlog.drain(..n).collect()
            };
            while batch.len() < max_batch && self.backlog.is_empty() {
                match self.inbox.try_recv() {
                    Ok(Job::One(request)) => batch.push(request),
                    Ok(Job::Many(requests)) => batch.extend(requests),
                    Err(_) => break,
                }
            }
            if batch.len() > max_batch {
                self.backlog.extend(batch.drain(max_batch..));
            }
            self.depth.fetch_sub(batch.len(), Ordering::Relaxed);
            self.process(batch).await;
        }
    }

    async fn process(&mut self, mut batch: Vec<Request>) {
        for attempt in 0..=self.config.conflict_retries {
            // A first attempt judges every command as new (see `attempt`);
            // what comes back looks its keys up.
            let retry = self.attempt(batch, attempt > 0).await;
            if retry.is_empty() {
                return;
            }
            if attempt == self.config.conflict_retries {
                for request in retry {
                    let lot_id = request.envelope.lot_id.clone();
                    self.finish(request, Err(ServiceError::Contention(lot_id)));
                }
                return;
            }
            batch = retry;
        }
    }

    /// Judges a batch and commits it; returns the requests to judge again
    /// (their lot lost a compare-and-set race, or one of its commands had
    /// been recorded before).
    ///
    /// Replays are rare, and the store refuses a lot's whole entry when one
    /// of its command keys is already recorded (`DuplicateCommand`, part of
    /// the `LotStore` contract). So a first attempt (`look_up` false) judges
    /// every command as new, without asking the store for earlier records:
    /// no lookup per batch (for SQLite a round trip to a reader thread, for
    /// DynamoDB a network call). A refused entry writes nothing; its
    /// requests come back, and the retry looks their keys up and answers a
    /// replay from its record (SPEC §5) — the same answer as before, one
    /// retry later.
    async fn attempt(&mut self, batch: Vec<Request>, look_up: bool) -> Vec<Request> {
        let known = if look_up {
            match self.known(&batch).await {
                Ok(known) => known,
                Err(e) => {
                    for request in batch {
                        self.finish(request, Err(same_failure(&e).into()));
                    }
                    return Vec::new();
                }
            }
        } else {
            FastMap::default()
        };
        // Sized up front: a lot's work is large, and growing these by
        // doubling copies it over and over.
        let mut works: Vec<(LotId, Box<LotWork>)> = Vec::with_capacity(batch.len());
        let mut index: FastMap<LotId, usize> =
            FastMap::with_capacity_and_hasher(batch.len(), Default::default());
        let mut requests = batch.into_iter().peekable();
        while let Some(request) = requests.next() {
            let lot_id = &request.envelope.lot_id;
            // Consecutive commands of one lot (a hot lot) skip the lookup.
            let slot = match works.last() {
                Some((last, _)) if last == lot_id => Some(works.len() - 1),
                _ => index.get(lot_id).copied(),
            };
            let slot = match slot {
                Some(i) => i,
                None => match self
                    .open_work(lot_id, run_length(lot_id, &mut requests))
                    .await
                {
                    Ok(work) => {
                        let lot_id = lot_id.clone();
                        works.push((lot_id.clone(), work));
                        index.insert(lot_id, works.len() - 1);
                        works.len() - 1
                    }
                    Err(e) => {
                        self.finish(request, Err(e.into()));
                        continue;
                    }
                },
            };
            let work = &mut works[slot].1;
            if let Judging::Hold(pending) = self.judge(request, work, &known)
                && let Err((request, e)) = self.judge_hold(*pending, work).await
            {
                self.finish(request, Err(e));
            }
        }
        self.commit(works).await
    }

    /// The stored records of the batch's keys, in one store call.
    async fn known(
        &self,
        batch: &[Request],
    ) -> Result<FastMap<CommandKey, CommandRecord>, StoreError> {
        let keys: Vec<CommandKey> = batch
            .iter()
            .filter(|r| !matches!(r.envelope.command, Command::Advance))
            .map(|r| r.key.clone())
            .collect();
        let found = self.ports.store.commands(&keys).await?;
        Ok(keys
            .into_iter()
            .zip(found)
            .filter_map(|(k, r)| Some((k, r?)))
            .collect())
    }

    /// Starts a lot's share of the batch from the cache or the store. A lot
    /// loaded from the store has its credit hold set from its state, which
    /// repairs any hold a crash left behind (SPEC §3.1). `expected`: how
    /// many commands of the lot follow in a row (a hot lot's run), to size
    /// its lists once instead of growing them by copies.
    async fn open_work(
        &mut self,
        lot_id: &LotId,
        expected: usize,
    ) -> Result<Box<LotWork>, StoreError> {
        // The lot leaves the cache for the batch and returns once committed;
        // if the commit fails it stays out and is reloaded next time.
        let working = match self.cache.remove(lot_id) {
            Some(lot) => Some(lot),
            None => {
                let loaded = self.ports.store.load(lot_id).await?;
                if let Some(lot) = &loaded {
                    self.load_credit(lot).await;
                }
                loaded
            }
        };
        // The state before the batch matters only for credit holds.
        let base = working.as_ref().filter(|l| credit::is_checked(l)).cloned();
        let expected_sequence = working.as_ref().map_or(0, |l| l.sequence);
        let commit = LotCommit {
            lot_id: lot_id.clone(),
            expected_sequence,
            lot: None,
            // A bid emits one or two events (an accepted bid, an outbid).
            events: sized(expected, 2),
            bids: sized(expected, 1),
            commands: sized(expected, 1),
        };
        // Boxed: a lot's work is large and moves through several lists.
        Ok(match self.spare.pop() {
            Some(mut work) => {
                work.working = working;
                work.base = base;
                work.commit = commit;
                work.answers.reserve(expected);
                work
            }
            None => Box::new(LotWork {
                working,
                base,
                commit,
                recorded: FastMap::default(),
                answers: sized(expected, 1),
                proposed: Vec::new(),
            }),
        })
    }

    /// Keeps an answered lot work (emptied) for a later batch.
    fn recycle(&mut self, mut work: Box<LotWork>) {
        if self.spare.len() < SPARE_WORKS {
            work.working = None;
            work.base = None;
            work.recorded.clear();
            work.answers.clear();
            work.proposed.clear();
            self.spare.push(work);
        }
    }

    /// Sets the lot's committed hold from a committed state (versioned
    /// with its sequence: a stale state changes nothing). A paid lot's hold
    /// is consumed (a no-op if it was), so a crash between a payment's
    /// commit and its consume still charges the payment.
    async fn reconcile_credit(&self, lot: &Lot) {
        if !credit::is_checked(lot) {
            return;
        }
        let committed = credit::committed_hold(lot);
        let op = committed.as_ref().at(lot.sequence);
        if let Err(e) = self.ports.ledger.change(&lot.lot_id, op).await {
            tracing::warn!(lot = %lot.lot_id, error = %e, "could not reconcile the lot's credit hold");
        }
    }

    /// Judges one command into the lot's work, without waiting for anything
    /// unless the command needs a credit hold: most commands are decided
    /// in plain code, and only a credit-checked bid or buy-now returns
    /// [`Judging::Hold`] for [`Shard::judge_hold`] to finish.
    /// `known`: the stored records of the batch's keys, fetched up front.
    fn judge(
        &mut self,
        request: Request,
        work: &mut LotWork,
        known: &FastMap<CommandKey, CommandRecord>,
    ) -> Judging {
        let envelope = &request.envelope;
        let is_timer = matches!(envelope.command, Command::Advance);
        let key = &request.key;
        if !is_timer {
            let earlier = match work.recorded(key) {
                Some(i) => Some(work.commit.commands[i].clone()),
                None if known.is_empty() => None,
                None => known.get(key).cloned(),
            };
            if let Some(record) = earlier {
                let answer = if record.command.same_request(&envelope.command) {
                    Answer::Replayed(Box::new((request, record)))
                } else {
                    Answer::Conflict(Box::new((request, record)))
                };
                work.answers.push(answer);
                return Judging::Done;
            }
        }
        let now = self.ports.clock.now();
        let outcome = match work.working {
            None => self.judge_new(envelope, work, now),
            Some(_) => match self.judge_existing(envelope, work, now) {
                Decided::Outcome(outcome) => outcome,
                Decided::Hold(held) => {
                    return Judging::Hold(Box::new(PendingHold { request, held, now }));
                }
            },
        };
        self.conclude(request, work, outcome, now);
        Judging::Done
    }

    /// Finishes a command that needs a credit hold (rule 9): the lot after
    /// it is `work.working`, its events wait in `self.events`. An `Err`
    /// means it could not be judged (infrastructure), and nothing of it is
    /// in the work.
    async fn judge_hold(
        &mut self,
        pending: PendingHold,
        work: &mut LotWork,
    ) -> Result<(), (Request, ServiceError)> {
        let PendingHold { request, held, now } = pending;
        let (hold, before) = *held;
        let Some(lot) = work.working.as_ref() else {
            unreachable!("a hold is only asked for an existing lot");
        };
        let outcome = match self.place_hold(lot, &hold).await {
            Ok(proposed) => {
                if proposed {
                    work.proposed.push((hold.participant, lot.sequence));
                }
                self.keep_events(work);
                Ok(())
            }
            Err(CreditError::Insufficient) => {
                work.working = Some(before);
                Err(Rejection::InsufficientCredit)
            }
            Err(e) => {
                // The ledger may have placed the proposal before failing
                // (a lost acknowledgement): withdraw it. The lot's
                // committed hold was never moved.
                let lot_id = lot.lot_id.clone();
                let sequence = lot.sequence;
                self.withdraw(&lot_id, &[(hold.participant, sequence)])
                    .await;
                work.working = Some(before);
                return Err((request, e.into()));
            }
        };
        self.conclude(request, work, outcome, now);
        Ok(())
    }

    /// Records a judged command's outcome in the batch (its idempotency
    /// record) and queues its answer.
    fn conclude(
        &mut self,
        request: Request,
        work: &mut LotWork,
        outcome: Result<(), Rejection>,
        now: Timestamp,
    ) {
        let envelope = &request.envelope;
        let sequence = work.working.as_ref().map_or(0, |l| l.sequence);
        let outcome = match outcome {
            Ok(()) => {
                let lot = work.working.as_ref();
                let result = lot.map_or(hammerfall_ports::Accepted::Lot, |l| {
                    accepted_result(&envelope.command, l)
                });
                CommandOutcome::Done { result, sequence }
            }
            Err(rejection) => CommandOutcome::Rejected {
                rejection,
                sequence,
            },
        };
        // Timer commands need no idempotency; unknown lots have nowhere to
        // record (their ids are generated, so they never come to exist).
        // The stored record is the one copy; the response's record takes
        // the request's own key and command.
        if !matches!(envelope.command, Command::Advance) && work.working.is_some() {
            work.record(CommandRecord {
                key: request.key.clone(),
                lot_id: envelope.lot_id.clone(),
                command: envelope.command.clone(),
                outcome: outcome.clone(),
                recorded_at: now,
            });
        }
        let Request {
            envelope,
            key,
            reply,
        } = request;
        let lot = match reply {
            Reply::Async => None,
            Reply::One(_) | Reply::Batch(..) => work.working.clone(),
        };
        let CommandEnvelope {
            version,
            command_id: _,
            lot_id,
            command,
        } = envelope;
        let response = Box::new(Response {
            record: CommandRecord {
                key,
                lot_id,
                command,
                outcome,
                recorded_at: now,
            },
            lot,
            replayed: false,
        });
        work.answers.push(Answer::Judged {
            response,
            version,
            reply,
        });
    }

    fn judge_new(
        &mut self,
        envelope: &CommandEnvelope,
        work: &mut LotWork,
        now: Timestamp,
    ) -> Result<(), Rejection> {
        let Command::CreateLot(create_lot) = &envelope.command else {
            return Err(Rejection::LotNotFound);
        };
        if create_lot.lot_id != envelope.lot_id {
            return Err(InvalidRequest::invalid("lotId", "does not match the envelope").into());
        }
        let events = create(create_lot, now)?;
        let mut lot = match events
            .first()
            .map(|first| create_from(envelope.lot_id.clone(), first))
        {
            Some(Ok(lot)) => lot,
            _ => return Err(InvalidRequest::invalid("lot", "creation produced no lot").into()),
        };
        for event in &events[1..] {
            fold(&mut lot, event);
        }
        work.commit.events.extend(events);
        work.working = Some(lot);
        Ok(())
    }

    /// Due transitions first (kept whatever the command's fate), then the
    /// command, on `work.working` in place (a lot is a few hundred bytes:
    /// it is not moved in and out per command). An accepted bid or buy-now
    /// on a credit-checked lot is left pending rule 9: its state is
    /// `work.working`, its events wait in `self.events`, and the state
    /// before it comes back with the hold.
    fn judge_existing(
        &mut self,
        envelope: &CommandEnvelope,
        work: &mut LotWork,
        now: Timestamp,
    ) -> Decided {
        let LotWork {
            working, commit, ..
        } = work;
        let Some(lot) = working.as_mut() else {
            unreachable!("judge_existing is called for a lot that exists");
        };
        // Most commands find nothing due: skip building an empty list.
        if next_due(lot).is_some_and(|t| t <= now) {
            for event in advance(lot, now) {
                fold(lot, &event);
                commit.events.push(event);
            }
        }
        let outcome = judge_into(lot, &envelope.command, now, &mut self.events);
        if outcome.is_err() || self.events.is_empty() {
            return Decided::Outcome(outcome);
        }
        let hold = credit::command_hold(lot, &envelope.command);
        let before = hold.as_ref().map(|_| lot.clone());
        for event in &self.events {
            fold(lot, event);
        }
        match (hold, before) {
            (Some(hold), Some(before)) => Decided::Hold(Box::new((hold, before))),
            _ => {
                self.keep_events(work);
                Decided::Outcome(outcome)
            }
        }
    }

    /// Moves an accepted command's events (and the bid records they imply)
    /// into the lot's commit.
    fn keep_events(&mut self, work: &mut LotWork) {
        bid_records(&self.events, &mut work.commit.bids);
        work.commit.events.extend(self.events.drain(..));
    }
    /// Rule 9: the bidder's hold must fit. A new leader's hold is proposed
    /// for the state about to be committed (next to the lot's committed
    /// hold, which stays until the commit: see `CreditLedger`); true if so.
    /// A bidder outbid at once (SPEC §2.2 case 4) keeps no hold, but the
    /// amount must still fit their available credit.
    async fn place_hold(&self, after: &Lot, hold: &credit::Hold) -> Result<bool, CreditError> {
        let ledger = &self.ports.ledger;
        let leads = credit::required_hold(after).is_some_and(|r| r.participant == hold.participant);
        if leads {
            return ledger
                .propose(
                    &after.lot_id,
                    &hold.participant,
                    hold.amount,
                    after.currency(),
                    after.sequence,
                )
                .await
                .map(|()| true);
        }
        match ledger.credit(&hold.participant).await? {
            Some(view) if view.currency == after.currency() && view.available >= hold.amount => {
                Ok(false)
            }
            _ => Err(CreditError::Insufficient),
        }
    }

    /// A lot just loaded from the store: sets its committed hold as
    /// `reconcile_credit` does and drops its proposals (any left by an
    /// engine that crashed before its commit), in one ledger write (see
    /// `CreditLedger`). A hold that does not fit refuses the whole write:
    /// the proposals are then dropped on their own, and the hold waits for
    /// the lot's next load.
    async fn load_credit(&self, lot: &Lot) {
        if !credit::is_checked(lot) {
            return;
        }
        let (ledger, id, sequence) = (&self.ports.ledger, &lot.lot_id, lot.sequence);
        let committed = credit::committed_hold(lot);
        let loaded = LotCreditOp::Loaded {
            committed: committed.as_ref(),
            sequence,
        };
        let result = match ledger.change(id, loaded).await {
            Err(CreditError::Insufficient) => {
                tracing::warn!(lot = %id, "the loaded lot's credit hold does not fit");
                ledger.clear_proposals(id, sequence).await
            }
            other => other,
        };
        if let Err(e) = result {
            tracing::warn!(lot = %id, error = %e, "could not set the loaded lot's credit");
        }
    }

    /// Withdraws proposals whose commit did not land.
    async fn withdraw(&self, lot_id: &LotId, proposed: &[(ParticipantId, u64)]) {
        for (participant, sequence) in proposed {
            if let Err(e) = self
                .ports
                .ledger
                .withdraw(lot_id, participant, *sequence)
                .await
            {
                tracing::warn!(lot = %lot_id, error = %e, "could not withdraw a proposed credit hold");
            }
        }
    }

    /// Commits every lot's work in one call, then publishes and answers.
    /// Returns the requests of lots that lost a compare-and-set race.
    async fn commit(&mut self, works: Vec<(LotId, Box<LotWork>)>) -> Vec<Request> {
        let mut writes = Vec::with_capacity(works.len());
        let mut waiting = Vec::with_capacity(works.len());
        // Every written lot's events, for one publish call once committed;
        // `spans[i]` are the events of `waiting[i]`.
        let mut outbox: Vec<EventEnvelope> = Vec::new();
        let mut spans = Vec::with_capacity(works.len());
        for (lot_id, mut work) in works {
            if work.has_writes() {
                work.commit.lot = work.working.clone();
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
                if let Some(lot) = work.working.take() {
                    self.remember(lot);
                }
                self.answer(work);
            }
        }
        if writes.is_empty() {
            return Vec::new();
        }
        let results = self.ports.store.commit(writes).await;
        let mut retry = Vec::new();
        // The committed lots' events go out in one publish call (in order
        // per lot), before any of their commands is answered.
        let mut committed = Vec::with_capacity(waiting.len());
        let mut landed = Vec::with_capacity(waiting.len());
        for ((lot_id, work), result) in waiting.into_iter().zip(results) {
            landed.push(result.is_ok());
            match result {
                Ok(()) => {
                    let mut work = work;
                    let credit_in_step = self.after_commit(&lot_id, &work).await;
                    match work.working.take() {
                        Some(lot) if credit_in_step => self.remember(lot),
                        // Not cached: its next load reconciles the hold.
                        _ => drop(self.cache.remove(&lot_id)),
                    }
                    committed.push(work);
                }
                Err(StoreError::Conflict { .. } | StoreError::DuplicateCommand(_)) => {
                    self.cache.remove(&lot_id);
                    self.repair_credit(&lot_id, &work).await;
                    retry.extend(work.answers.into_iter().map(Answer::into_request));
                }
                Err(e) => {
                    self.cache.remove(&lot_id);
                    self.repair_credit(&lot_id, &work).await;
                    for answer in work.answers {
                        self.finish(answer.into_request(), Err(same_failure(&e).into()));
                    }
                }
            }
        }
        if landed.len() < spans.len() || landed.contains(&false) {
            outbox = landed_only(outbox, &spans, &landed);
        }
        if !outbox.is_empty()
            && let Err(e) = self.ports.publisher.publish_owned(outbox).await
        {
            // Committed events stay readable from the store
            // (`events_after`); subscribers resume from there.
            tracing::warn!(error = %e, "publishing committed events failed");
        }
        for work in committed {
            self.answer(work);
        }
        retry
    }

    /// After a commit that did not land: the holds proposed for it must
    /// not outlive it (they would hold the bidder's credit until the lot's
    /// committed sequence reached theirs). Withdraws them, then sets the
    /// lot's committed hold from its stored state (a no-op unless the
    /// ledger lagged: the version keeps a stale read from moving it back).
    async fn repair_credit(&self, lot_id: &LotId, work: &LotWork) {
        self.withdraw(lot_id, &work.proposed).await;
        if work.working.as_ref().is_some_and(credit::is_checked)
            && let Ok(Some(stored)) = self.ports.store.load(lot_id).await
        {
            self.reconcile_credit(&stored).await;
        }
    }

    /// The committed hold of the lot's new state, set once it is durable
    /// (at its sequence, dropping the batch's proposals; a new leader's
    /// credit is already held by their proposal, so this only moves it from
    /// proposed to committed, or shrinks or releases holds). False if the
    /// ledger could not follow.
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

    fn remember(&mut self, lot: Lot) {
        if self.cache.len() >= self.config.cache_capacity && !self.cache.contains_key(&lot.lot_id) {
            // Evict an arbitrary lot: it is reloaded from the store on demand.
            if let Some(victim) = self.cache.keys().next().cloned() {
                self.cache.remove(&victim);
            }
        }
        self.cache.insert(lot.lot_id.clone(), lot);
    }

    fn answer(&mut self, mut work: Box<LotWork>) {
        let mut answers = std::mem::take(&mut work.answers);
        for answer in answers.drain(..) {
            match answer {
                Answer::Judged {
                    response, reply, ..
                } => match reply {
                    // Nobody reads the response.
                    Reply::Async => self.forget_pending(&response.record.key, None),
                    reply => send(reply, Ok(response)),
                },
                Answer::Replayed(earlier) => {
                    let (request, record) = *earlier;
                    let response = Box::new(Response {
                        record,
                        lot: None,
                        replayed: true,
                    });
                    self.finish(request, Ok(response));
                }
                Answer::Conflict(earlier) => {
                    let (request, original) = *earlier;
                    let response = Box::new(conflict_response(&request.envelope, original));
                    self.finish(request, Ok(response));
                }
            }
        }
        work.answers = answers;
        self.recycle(work);
    }

    fn finish(&self, request: Request, result: Outcome) {
        match request.reply {
            Reply::Async => self.forget_pending(&request.key, result.err()),
            reply => send(reply, result),
        }
    }

    /// An asynchronous command is recorded (or failed): no longer pending.
    fn forget_pending(&self, key: &CommandKey, error: Option<ServiceError>) {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
        if let Some(e) = error {
            tracing::warn!(command = %key.command_id, error = %e, "asynchronous command failed");
        }
    }
}

/// A list for `expected` commands of `per` items each. One command (the
/// common case with many lots) allocates lazily, as it may write nothing.
fn sized<T>(expected: usize, per: usize) -> Vec<T> {
    if expected > 1 {
        Vec::with_capacity(expected * per)
    } else {
        Vec::new()
    }
}

/// How many requests in a row, from the one just taken (for `lot_id`),
/// are for that lot: the whole rest of the batch for a hot lot, 1 when the
/// next one is for another lot.
fn run_length(
    lot_id: &LotId,
    requests: &mut std::iter::Peekable<std::vec::IntoIter<Request>>,
) -> usize {
    match requests.peek() {
        Some(next) if next.envelope.lot_id == *lot_id => requests.len() + 1,
        _ => 1,
    }
}

/// Sends an outcome where its submitter waits for it. The submitter may
/// have gone away; nothing to do then.
fn send(reply: Reply, outcome: Outcome) {
    match reply {
        Reply::One(tx) => drop(tx.send(outcome)),
        Reply::Batch(collector, slot) => collector.fill(slot, outcome),
        Reply::Async => {}
    }
}

/// The same failure again, for each caller it concerns: `StoreError` owns
/// its source, so it is rebuilt by kind — a caller must still tell a
/// retryable failure from one that is not.
fn same_failure(e: &StoreError) -> StoreError {
    let message = || e.to_string().into();
    match e {
        StoreError::Conflict { lot_id, expected } => StoreError::Conflict {
            lot_id: lot_id.clone(),
            expected: *expected,
        },
        StoreError::DuplicateCommand(key) => StoreError::DuplicateCommand(key.clone()),
        StoreError::TooLarge { what } => StoreError::TooLarge { what },
        StoreError::Unavailable(_) => StoreError::Unavailable(message()),
        StoreError::Corrupt(_) => StoreError::Corrupt(message()),
    }
}

/// Folds an event this worker just decided; such events always fit.
fn fold(lot: &mut Lot, event: &SequencedEvent) {
    if let Err(e) = apply(lot, event) {
        unreachable!("an event decided on this lot does not fold into it: {e}");
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

/// The events of the entries that landed (`landed[i]` for `spans[i]`);
/// entries without a result did not land.
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

/// `idempotency_conflict`: the key was used for another command. Not
/// recorded: the key's record stays the original one.
fn conflict_response(envelope: &CommandEnvelope, original: CommandRecord) -> Response {
    let sequence = match original.outcome {
        CommandOutcome::Done { sequence, .. } | CommandOutcome::Rejected { sequence, .. } => {
            sequence
        }
    };
    Response {
        record: CommandRecord {
            key: original.key,
            lot_id: envelope.lot_id.clone(),
            command: envelope.command.clone(),
            outcome: CommandOutcome::Rejected {
                rejection: Rejection::IdempotencyConflict,
                sequence,
            },
            recorded_at: original.recorded_at,
        },
        lot: None,
        replayed: false,
    }
}
