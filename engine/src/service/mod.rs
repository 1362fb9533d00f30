//! The application service: submit a command → (sequencer) → load → decide
//! → commit → publish, with idempotency (SPEC §5), credit holds (§3.1) and
//! timers (§9).
//!
//! Ordering: lots are sharded over workers by a hash of their id. A worker
//! owns its lots' cached state and applies their commands one at a time, in
//! arrival order; everything its inbox holds (up to
//! [`ServiceConfig::max_batch`] commands) is committed in one
//! [`LotStore::commit`] call (group commit). Different lots never wait for
//! each other, and there is no lock on the hot path.
//!
//! [`Service::submit_many`] hands many commands over at once: one message
//! (and at most one wake) per worker, and one wake of the caller when every
//! outcome is in — what hosts with many connections and embedders with
//! streams of commands use to avoid a cross-thread hand-off per command.
//!
//! The engine brings no async runtime: [`Service::new`] returns the worker
//! futures, and the host spawns them on its own executor.

mod consume;
pub(crate) mod records;
mod timers;
mod worker;

use crate::service::worker::{Collector, Job, Reply, Request, Shard};
use hammerfall_ports::{
    Clock, CommandEnvelope, CommandKey, CommandOutcome, CommandRecord, CreditError, CreditLedger,
    CreditView, Currency, EventPublisher, IdGenerator, Lot, LotId, LotStore, Money, ParticipantId,
    Rejection, StoreError,
};
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Hash maps keyed by ids on the hot path: a fast, fixed hasher (SipHash's
/// flooding resistance buys nothing for keys the service shards itself).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
/// See [`FastMap`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

pub use consume::{ConsumeReport, RETRY_BASE_SECS};
pub use records::{command_key, lot_at};
pub use timers::TIMER_PERIOD;

/// Most commands a worker takes from its inbox into one group commit.
pub const DEFAULT_MAX_BATCH: usize = 512;
/// Commands a worker's inbox holds before submitters wait (backpressure).
pub const DEFAULT_INBOX_CAPACITY: usize = 16_384;
/// Times a commit that lost a compare-and-set race is re-decided.
pub const DEFAULT_CONFLICT_RETRIES: u32 = 8;
/// Lots a worker keeps cached before it starts evicting.
pub const DEFAULT_CACHE_CAPACITY: usize = 1_000_000;
/// Lots a timer tick advances at most.
pub const TIMER_BATCH: usize = 1000;

/// Tuning knobs. Defaults suit a server; tests shrink them.
#[derive(Debug, Clone, Copy)]
pub struct ServiceConfig {
    /// Worker (shard) count; default: the number of cores.
    pub workers: usize,
    /// Inbox capacity per worker.
    pub inbox_capacity: usize,
    /// Largest group commit.
    pub max_batch: usize,
    /// Re-decisions after a conflict before giving up.
    pub conflict_retries: u32,
    /// Cached lots per worker.
    pub cache_capacity: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, usize::from),
            inbox_capacity: DEFAULT_INBOX_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
            conflict_retries: DEFAULT_CONFLICT_RETRIES,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }
}

/// Why the service could not judge a command. Nothing was acknowledged: the
/// caller may retry with the same command id, which is always safe.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store failed (see [`StoreError::is_retryable`]). Hosts answer 503
    /// for transient failures, 500 otherwise.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The credit ledger failed transiently. Hosts answer 503.
    #[error("credit ledger: {0}")]
    Credit(#[from] CreditError),
    /// Other writers kept changing the lot; retries ran out. Hosts answer 503.
    #[error("lot {0} is under heavy contention; retry")]
    Contention(LotId),
    /// The worker's inbox is full. Hosts answer 503 with `Retry-After`.
    #[error("the service is overloaded; retry")]
    Overloaded,
    /// The service was shut down.
    #[error("the service has stopped")]
    Stopped,
}

/// What a command came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The idempotency record: the command, its outcome, the sequence.
    pub record: CommandRecord,
    /// The lot right after the command (`None` when it does not exist).
    pub lot: Option<Lot>,
    /// True when this is the answer recorded for an earlier submission of
    /// the same command id (SPEC §5).
    pub replayed: bool,
}

impl Response {
    /// The rejection, if the command was refused.
    pub fn rejection(&self) -> Option<&Rejection> {
        match &self.record.outcome {
            CommandOutcome::Rejected { rejection, .. } => Some(rejection),
            CommandOutcome::Done { .. } => None,
        }
    }
}

/// Status of a command submitted asynchronously.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandStatus {
    /// Queued or being judged.
    Pending,
    /// Judged: its record.
    Recorded(Box<CommandRecord>),
}

/// The ports a service runs on. Clock and ids are trait objects (they are
/// called, not awaited); the async ports are generics.
pub struct Ports<S, L, P> {
    /// Lot store.
    pub store: Arc<S>,
    /// Credit ledger.
    pub ledger: Arc<L>,
    /// Event publisher.
    pub publisher: Arc<P>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Fresh ids.
    pub ids: Arc<dyn IdGenerator>,
}

impl<S, L, P> Clone for Ports<S, L, P> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            ledger: self.ledger.clone(),
            publisher: self.publisher.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
        }
    }
}

/// A worker future: spawn it on your executor (`tokio::spawn(worker)`). It
/// ends when every [`Service`] handle is dropped.
pub type Worker = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The application service. Cheap to clone; all clones share the workers.
pub struct Service<S, L, P> {
    inner: Arc<Inner<S, L, P>>,
}

impl<S, L, P> Clone for Service<S, L, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S, L, P> {
    ports: Ports<S, L, P>,
    shards: Vec<Inbox>,
    hasher: foldhash::fast::FixedState,
    /// Commands submitted asynchronously and not yet recorded.
    pending: Arc<Mutex<FastSet<CommandKey>>>,
}

/// A worker's inbox: jobs (one command or a batch) and how many commands
/// they hold.
pub(crate) struct Inbox {
    tx: flume::Sender<Job>,
    depth: Arc<AtomicUsize>,
}

impl Inbox {
    async fn send(&self, job: Job) -> Result<(), ServiceError> {
        let n = job.len();
        self.depth.fetch_add(n, Ordering::Relaxed);
        self.tx.send_async(job).await.map_err(|_| {
            self.depth.fetch_sub(n, Ordering::Relaxed);
            ServiceError::Stopped
        })
    }

    pub(crate) async fn send_one(&self, request: Request) -> Result<(), ServiceError> {
        self.send(Job::One(request)).await
    }
}

impl<S: LotStore, L: CreditLedger, P: EventPublisher> Service<S, L, P> {
    /// Builds a service and its worker futures (one per shard).
    pub fn new(ports: Ports<S, L, P>, config: ServiceConfig) -> (Self, Vec<Worker>) {
        let workers = config.workers.max(1);
        let pending = Arc::new(Mutex::new(FastSet::default()));
        let mut senders = Vec::with_capacity(workers);
        let mut futures: Vec<Worker> = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = flume::bounded(config.inbox_capacity.max(1));
            let depth = Arc::new(AtomicUsize::new(0));
            senders.push(Inbox {
                tx,
                depth: depth.clone(),
            });
            let shard = Shard::new(ports.clone(), rx, depth, config, pending.clone());
            futures.push(Box::pin(shard.run()));
        }
        let inner = Inner {
            ports,
            shards: senders,
            hasher: foldhash::fast::FixedState::with_seed(0x6c6f_7473),
            pending,
        };
        (
            Self {
                inner: Arc::new(inner),
            },
            futures,
        )
    }

    /// The ports, e.g. for reads (`service.ports().store.events_after(..)`).
    pub fn ports(&self) -> &Ports<S, L, P> {
        &self.inner.ports
    }

    /// Commands waiting in the workers' inboxes (not yet taken into a
    /// batch): the sequencer's backlog, for metrics and draining.
    pub fn queue_depth(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| s.depth.load(Ordering::Relaxed))
            .sum()
    }

    fn shard_index(&self, lot_id: &LotId) -> usize {
        let n = self.inner.shards.len() as u64;
        // `hash % n` < n ≤ usize::MAX.
        usize::try_from(self.inner.hasher.hash_one(lot_id) % n).unwrap_or(0)
    }

    pub(crate) fn shard_of(&self, lot_id: &LotId) -> &Inbox {
        &self.inner.shards[self.shard_index(lot_id)]
    }

    /// Submits a command and waits for its outcome. Accepted or rejected,
    /// the outcome is recorded before this returns (SPEC §5).
    pub async fn submit(&self, envelope: CommandEnvelope) -> Result<Response, ServiceError> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.shard_of(&envelope.lot_id)
            .send_one(Request::new(envelope, Reply::One(tx)))
            .await?;
        let response = *rx.await.map_err(|_| ServiceError::Stopped)??;
        if response.replayed {
            return self.with_lot_as_recorded(response).await;
        }
        Ok(response)
    }

    /// Submits many commands and waits for all their outcomes, returned in
    /// the order given. Each is judged exactly as if it had been
    /// [`submit`](Service::submit)ted alone, in that order (commands on one
    /// lot keep their order; idempotency, credit and group commit are the
    /// same), but they reach each worker as one message, and the caller is
    /// woken once, when the last outcome is in. A network host with many
    /// connections, or an embedder with a stream of commands, hands over
    /// whatever it has gathered this way.
    ///
    /// A batch takes one slot of a worker's inbox however many commands it
    /// holds; keep batches to a few hundred commands so that one caller
    /// cannot hold a worker for long.
    pub async fn submit_many(
        &self,
        envelopes: Vec<CommandEnvelope>,
    ) -> Vec<Result<Response, ServiceError>> {
        let count = envelopes.len();
        if count == 0 {
            return Vec::new();
        }
        let (collector, rx) = Collector::new(count);
        let shards = self.inner.shards.len();
        let mut jobs: Vec<Vec<Request>> = (0..shards).map(|_| Vec::new()).collect();
        for (slot, envelope) in envelopes.into_iter().enumerate() {
            let shard = if shards == 1 {
                0
            } else {
                self.shard_index(&envelope.lot_id)
            };
            let reply = Reply::Batch(collector.clone(), slot);
            jobs[shard].push(Request::new(envelope, reply));
        }
        drop(collector);
        for (shard, job) in jobs.into_iter().enumerate() {
            if !job.is_empty() {
                // A stopped service drops the job; the collector then never
                // completes and `rx` reports it below.
                let _ = self.inner.shards[shard].send(Job::Many(job)).await;
            }
        }
        let Ok(results) = rx.await else {
            return (0..count).map(|_| Err(ServiceError::Stopped)).collect();
        };
        let mut out = Vec::with_capacity(count);
        for result in results {
            out.push(match result {
                Some(Ok(response)) if response.replayed => {
                    self.with_lot_as_recorded(*response).await
                }
                Some(Ok(response)) => Ok(*response),
                Some(Err(e)) => Err(e),
                None => Err(ServiceError::Stopped),
            });
        }
        out
    }

    /// Enqueues a command without waiting; read its outcome later with
    /// [`Service::status`]. Fails fast with [`ServiceError::Overloaded`]
    /// when the worker's inbox is full.
    pub fn submit_async(&self, envelope: CommandEnvelope) -> Result<CommandKey, ServiceError> {
        let request = Request::new(envelope, Reply::Async);
        let key = request.key.clone();
        self.lock_pending().insert(key.clone());
        let inbox = self.shard_of(&request.envelope.lot_id);
        inbox.depth.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = inbox.tx.try_send(Job::One(request)) {
            inbox.depth.fetch_sub(1, Ordering::Relaxed);
            self.lock_pending().remove(&key);
            return Err(match e {
                flume::TrySendError::Full(_) => ServiceError::Overloaded,
                flume::TrySendError::Disconnected(_) => ServiceError::Stopped,
            });
        }
        Ok(key)
    }

    /// Where an asynchronously submitted command stands (`None`: unknown).
    pub async fn status(&self, key: &CommandKey) -> Result<Option<CommandStatus>, ServiceError> {
        if self.lock_pending().contains(key) {
            return Ok(Some(CommandStatus::Pending));
        }
        let record = self.inner.ports.store.command(key).await?;
        Ok(record.map(|r| CommandStatus::Recorded(Box::new(r))))
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, FastSet<CommandKey>> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A replayed outcome is answered with the lot as it was right after the
    /// original command (SPEC §5: the same body, even after the lot moved on).
    async fn with_lot_as_recorded(&self, mut response: Response) -> Result<Response, ServiceError> {
        let sequence = match &response.record.outcome {
            CommandOutcome::Done { sequence, .. } | CommandOutcome::Rejected { sequence, .. } => {
                *sequence
            }
        };
        response.lot =
            records::lot_at(&*self.inner.ports.store, &response.record.lot_id, sequence).await?;
        Ok(response)
    }

    /// Sets a participant's credit limit (admin; SPEC §3.1, §9). The
    /// inner `Err` is a rule's refusal (`credit_in_use`); the outer one an
    /// infrastructure failure.
    pub async fn set_credit_limit(
        &self,
        participant: &ParticipantId,
        limit: Money,
        currency: Currency,
    ) -> Result<Result<CreditView, Rejection>, ServiceError> {
        match self
            .inner
            .ports
            .ledger
            .set_limit(participant, limit, currency)
            .await
        {
            Ok(view) => Ok(Ok(view)),
            Err(CreditError::InUse) => Ok(Err(Rejection::CreditInUse)),
            Err(e) => Err(e.into()),
        }
    }

    /// A participant's credit; `credit_not_found` without a limit.
    pub async fn credit(
        &self,
        participant: &ParticipantId,
    ) -> Result<Result<CreditView, Rejection>, ServiceError> {
        Ok(self
            .inner
            .ports
            .ledger
            .credit(participant)
            .await?
            .ok_or(Rejection::CreditNotFound))
    }
}
