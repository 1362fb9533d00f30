//! A shard worker: owns its lots' cached state, judges their commands one at
//! a time in arrival order, and commits everything its inbox held in one
//! group commit.

use super::committer::{Committer, FromCommitter, SparePool, ToCommitter, withdraw};
use super::records::{accepted_result, bid_records, command_key};
use super::{FastMap, FastSet, Ports, Response, ServiceConfig, ServiceError};
use crate::credit;
use crate::{advance, apply, create, create_from, judge_into, next_due};
use hammerfall_ports::{
    Command, CommandEnvelope, CommandId, CommandKey, CommandOutcome, CommandRecord, CreditError,
    CreditLedger, EventPublisher, Events, InvalidRequest, Lot, LotCommit, LotCreditOp, LotId,
    LotStore, ParticipantId, Rejection, SequencedEvent, StoreError, Timestamp,
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
    pub(crate) counts: Counts,
}

/// How often a request came back from the committer unanswered.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    /// Its lot's commit failed (a compare-and-set race, a recorded key):
    /// bounded by [`ServiceConfig::conflict_retries`].
    pub(crate) failures: u32,
    /// Returned at all (its own failure, or a batch refused after another
    /// one failed): judged again with an idempotency lookup.
    pub(crate) returns: u32,
}

impl Request {
    pub(crate) fn new(envelope: CommandEnvelope, reply: Reply) -> Self {
        Self {
            key: command_key(&envelope),
            envelope,
            reply,
            counts: Counts::default(),
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
pub(crate) enum Answer {
    /// Judged now, and recorded in this batch's commit (timer commands and
    /// unknown lots are not recorded). The response is built at once, in
    /// its final box, with the request's key and command moved into its
    /// record; `version` is the envelope's, to rebuild the request should
    /// the commit have to be judged again.
    Judged {
        response: Box<Response>,
        version: u32,
        counts: Counts,
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
    pub(crate) fn into_request(self) -> Request {
        match self {
            Answer::Judged {
                response,
                version,
                counts,
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
                    counts,
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
pub(crate) struct LotWork {
    /// The lot before the batch (None: new or unknown).
    pub(crate) base: Option<Lot>,
    /// The lot after the commands judged so far.
    pub(crate) working: Option<Lot>,
    pub(crate) commit: LotCommit,
    /// Keys recorded in this batch → index in `commit.commands` (a retry
    /// within one batch must find its first submission without a scan).
    /// Built only once the lot has [`SCAN_RECORDED`] records in the batch
    /// (below that a scan is cheaper than hashing): command id → its first
    /// record (one string to hash, not a whole key).
    pub(crate) recorded: FastMap<CommandId, usize>,
    pub(crate) answers: Vec<Answer>,
    /// Holds proposed to the ledger for this batch's states (who, at which
    /// sequence): withdrawn if the commit fails (see `CreditLedger`).
    pub(crate) proposed: Vec<(ParticipantId, u64)>,
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

    pub(crate) fn has_writes(&self) -> bool {
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
    /// Commands the committer returned (see `committer`), judged again
    /// before the backlog: they came first.
    again: VecDeque<Request>,
    config: ServiceConfig,
    pending: Arc<Mutex<FastSet<CommandKey>>>,
    /// The lots' states as this shard's judged batches leave them, ahead
    /// of their commits (see `committer`).
    cache: FastMap<LotId, Lot>,
    events: Events,
    to_committer: flume::Sender<ToCommitter>,
    from_committer: flume::Receiver<FromCommitter>,
    /// Lot works emptied by the committer, taken in one lock per batch (a
    /// batch of many lots would allocate one and its answer list per lot).
    spare_pool: SparePool,
    #[allow(
        clippy::vec_box,
        reason = "the boxes are what is reused: a batch moves each lot's work around boxed"
    )]
    spare: Vec<Box<LotWork>>,
}

/// Where the judge's next batch comes from.
enum Next {
    /// A batch to judge; `true`: returned requests, judged with a lookup.
    Batch(Vec<Request>, bool),
    /// A commit failed (see `committer`): what came back first.
    Failed(Vec<Request>, Vec<LotId>),
    /// Every submitter is gone.
    Stop,
}

impl<S: LotStore, L: CreditLedger, P: EventPublisher> Shard<S, L, P> {
    /// A shard's judge and its committer; run both (see `committer`).
    pub(crate) fn new(
        ports: Ports<S, L, P>,
        inbox: flume::Receiver<Job>,
        depth: Arc<AtomicUsize>,
        config: ServiceConfig,
        pending: Arc<Mutex<FastSet<CommandKey>>>,
    ) -> (Self, Committer<S, L, P>) {
        // One batch in the channel besides the one being committed and
        // the one being judged: a judge never runs further ahead.
        let (to_committer, committer_inbox) = flume::bounded(1);
        let (back, from_committer) = flume::unbounded();
        let spare_pool = SparePool::default();
        let committer = Committer::new(
            ports.clone(),
            committer_inbox,
            back,
            pending.clone(),
            spare_pool.clone(),
        );
        let shard = Self {
            ports,
            inbox,
            depth,
            backlog: VecDeque::new(),
            again: VecDeque::new(),
            config,
            pending,
            cache: FastMap::default(),
            events: Events::new(),
            to_committer,
            from_committer,
            spare_pool,
            spare: Vec::new(),
        };
        (shard, committer)
    }

    /// Serves the inbox until every sender is gone: everything waiting (up
    /// to `max_batch` commands) is judged as one batch and handed to the
    /// committer as one group commit, so a worker that is busy is not
    /// woken per command. A batch job larger than that is judged over
    /// several group commits, in order; nothing behind it in the inbox is
    /// taken before it is done (FIFO).
    pub(crate) async fn run(mut self) {
        let max_batch = self.config.max_batch.max(1);
        let mut stopping = false;
        loop {
            let next = if stopping && self.again.is_empty() && self.backlog.is_empty() {
                // Shutting down: wait until the committer is done, and
                // judge again whatever it returns.
                match self.barrier(Vec::new(), Vec::new()).await {
                    true => continue,
                    false => return,
                }
            } else {
                self.next_batch(max_batch).await
            };
            match next {
                Next::Batch(batch, look_up) => self.dispatch(batch, look_up).await,
                Next::Failed(requests, lots) => {
                    self.barrier(requests, lots).await;
                }
                Next::Stop => stopping = true,
            }
        }
    }

    /// The next batch: returned requests first, then the backlog, then the
    /// inbox (waiting for it, or for news from the committer).
    async fn next_batch(&mut self, max_batch: usize) -> Next {
        if let Some(failed) = self.committer_news() {
            return failed;
        }
        if !self.again.is_empty() {
            let n = self.again.len().min(max_batch);
            return Next::Batch(self.again.drain(..n).collect(), true);
        }
        let mut batch = if self.backlog.is_empty() {
            let job = {
                let mut inbox = self.inbox.recv_async();
                let mut news = self.from_committer.recv_async();
                std::future::poll_fn(|cx| {
                    use std::future::Future;
                    use std::task::Poll;
                    if let Poll::Ready(message) = std::pin::Pin::new(&mut news).poll(cx) {
                        return Poll::Ready(Err(message));
                    }
                    std::pin::Pin::new(&mut inbox).poll(cx).map(Ok)
                })
                .await
            };
            match job {
                Ok(Ok(Job::One(request))) => {
                    let mut batch = Vec::with_capacity(64);
                    batch.push(request);
                    batch
                }
                // Judged in place: a batch job is not copied around.
                Ok(Ok(Job::Many(requests))) => requests,
                Ok(Err(_)) => return Next::Stop,
                Err(Ok(message)) => {
                    return match self.take_news(message) {
                        Some(failed) => failed,
                        None => Next::Batch(Vec::new(), false),
                    };
                }
                // The committer is gone: nothing can be committed.
                Err(Err(_)) => return Next::Stop,
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
        Next::Batch(batch, false)
    }

    /// Whatever the committer sent meanwhile: evictions are applied; a
    /// failure is returned.
    fn committer_news(&mut self) -> Option<Next> {
        while let Ok(message) = self.from_committer.try_recv() {
            if let Some(failed) = self.take_news(message) {
                return Some(failed);
            }
        }
        None
    }

    fn take_news(&mut self, message: FromCommitter) -> Option<Next> {
        match message {
            FromCommitter::Evict(lots) => {
                for lot in lots {
                    self.cache.remove(&lot);
                }
                None
            }
            FromCommitter::Returned { requests, lots } => Some(Next::Failed(requests, lots)),
            // Only ever answers a barrier, which waits for it itself.
            FromCommitter::Resumed => None,
        }
    }

    /// Takes back everything the committer has not committed: sends
    /// `Resume` and gathers what comes back until it is answered. The
    /// returned requests (with `requests`, returned first) are judged again
    /// before anything else, in order, on their lots' stored states (their
    /// cached states go). A request whose lot's commit failed more than
    /// `conflict_retries` times fails with `Contention`. False when nothing
    /// came back (or the committer is gone).
    async fn barrier(&mut self, mut requests: Vec<Request>, mut lots: Vec<LotId>) -> bool {
        if self
            .to_committer
            .send_async(ToCommitter::Resume)
            .await
            .is_ok()
        {
            loop {
                match self.from_committer.recv_async().await {
                    Ok(FromCommitter::Returned {
                        requests: more,
                        lots: more_lots,
                    }) => {
                        requests.extend(more);
                        lots.extend(more_lots);
                    }
                    Ok(FromCommitter::Evict(more)) => lots.extend(more),
                    Ok(FromCommitter::Resumed) | Err(_) => break,
                }
            }
        }
        for lot in &lots {
            self.cache.remove(lot);
        }
        let any = !requests.is_empty();
        for request in requests {
            self.cache.remove(&request.envelope.lot_id);
            if request.counts.failures > self.config.conflict_retries {
                let lot_id = request.envelope.lot_id.clone();
                finish(
                    &self.pending,
                    request,
                    Err(ServiceError::Contention(lot_id)),
                );
            } else {
                self.again.push_back(request);
            }
        }
        any
    }

    /// Judges a batch and hands it to the committer.
    async fn dispatch(&mut self, batch: Vec<Request>, look_up: bool) {
        if batch.is_empty() {
            return;
        }
        let works = self.judge_batch(batch, look_up).await;
        if works.is_empty() {
            return;
        }
        if let Err(flume::SendError(ToCommitter::Batch(works))) = self
            .to_committer
            .send_async(ToCommitter::Batch(works))
            .await
        {
            for (_, work) in works {
                for answer in work.answers {
                    finish(
                        &self.pending,
                        answer.into_request(),
                        Err(ServiceError::Stopped),
                    );
                }
            }
        }
    }

    /// Judges a batch into one work per lot, for the committer. The lots'
    /// states after it are cached at once, so that the next batch is
    /// judged on them while this one commits.
    ///
    /// Replays are rare, and the store refuses a lot's whole entry when one
    /// of its command keys is already recorded (`DuplicateCommand`, part of
    /// the `LotStore` contract). So a batch of new requests (`look_up`
    /// false) is judged without asking the store for earlier records: no
    /// lookup per batch (for SQLite a round trip to a reader thread, for
    /// DynamoDB a network call). A refused entry writes nothing; its
    /// requests come back, and are judged again with a lookup, which
    /// answers a replay from its record (SPEC §5) — the same answer as
    /// before, one retry later.
    async fn judge_batch(
        &mut self,
        batch: Vec<Request>,
        look_up: bool,
    ) -> Vec<(LotId, Box<LotWork>)> {
        let known = if look_up {
            match self.known(&batch).await {
                Ok(known) => known,
                Err(e) => {
                    for request in batch {
                        finish(&self.pending, request, Err(same_failure(&e).into()));
                    }
                    return Vec::new();
                }
            }
        } else {
            FastMap::default()
        };
        if self.spare.is_empty() {
            let mut pool = self
                .spare_pool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::swap(&mut self.spare, &mut *pool);
        }
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
                        finish(&self.pending, request, Err(e.into()));
                        continue;
                    }
                },
            };
            let work = &mut works[slot].1;
            if let Judging::Hold(pending) = self.judge(request, work, &known)
                && let Err((request, e)) = self.judge_hold(*pending, work).await
            {
                finish(&self.pending, request, Err(e));
            }
        }
        for (_, work) in &mut works {
            self.seal(work);
        }
        works
    }

    /// A judged lot's state goes back to the cache at once; the store gets
    /// a copy, and so does the committer's credit step for a credit-checked
    /// lot (`Committer::after_commit`).
    fn seal(&mut self, work: &mut LotWork) {
        let Some(lot) = work.working.take() else {
            return;
        };
        if work.has_writes() {
            work.commit.lot = Some(lot.clone());
        }
        if credit::is_checked(&lot) {
            work.working = Some(lot.clone());
        }
        self.remember(lot);
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
                withdraw(
                    &*self.ports.ledger,
                    &lot_id,
                    &[(hold.participant, sequence)],
                )
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
            counts,
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
            counts,
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

    fn remember(&mut self, lot: Lot) {
        if self.cache.len() >= self.config.cache_capacity && !self.cache.contains_key(&lot.lot_id) {
            // Evict an arbitrary lot: it is reloaded from the store on demand.
            if let Some(victim) = self.cache.keys().next().cloned() {
                self.cache.remove(&victim);
            }
        }
        self.cache.insert(lot.lot_id.clone(), lot);
    }
}

/// Sends a request's outcome (an asynchronous one is no longer pending).
pub(crate) fn finish(pending: &Mutex<FastSet<CommandKey>>, request: Request, result: Outcome) {
    match request.reply {
        Reply::Async => forget_pending(pending, &request.key, result.err()),
        reply => send(reply, result),
    }
}

/// An asynchronous command is recorded (or failed): no longer pending.
pub(crate) fn forget_pending(
    pending: &Mutex<FastSet<CommandKey>>,
    key: &CommandKey,
    error: Option<ServiceError>,
) {
    pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(key);
    if let Some(e) = error {
        tracing::warn!(command = %key.command_id, error = %e, "asynchronous command failed");
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
pub(crate) fn send(reply: Reply, outcome: Outcome) {
    match reply {
        Reply::One(tx) => drop(tx.send(outcome)),
        Reply::Batch(collector, slot) => collector.fill(slot, outcome),
        Reply::Async => {}
    }
}

/// The same failure again, for each caller it concerns: `StoreError` owns
/// its source, so it is rebuilt by kind — a caller must still tell a
/// retryable failure from one that is not.
pub(crate) fn same_failure(e: &StoreError) -> StoreError {
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

/// `idempotency_conflict`: the key was used for another command. Not
/// recorded: the key's record stays the original one.
pub(crate) fn conflict_response(envelope: &CommandEnvelope, original: CommandRecord) -> Response {
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
