//! Fault-injecting wrappers for error-path tests: wrap a real adapter and
//! make chosen calls fail (or succeed but report failure, the "lost
//! acknowledgement" that makes retries and idempotency matter). Calls are
//! counted per operation, so a test says "the 2nd commit from now fails
//! with a conflict" and everything else passes through untouched.

use hammerfall_ports::{
    BidRecord, CommandKey, CommandRecord, CreditError, CreditLedger, CreditView, Currency, Cursor,
    EventEnvelope, EventPublisher, Lot, LotCommit, LotCreditOp, LotId, LotQuery, LotStore, Money,
    Page, ParticipantId, PublishError, SequencedEvent, StoreError, Timestamp,
};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

/// Most fault rules armed at once on one wrapper; arming more panics (a
/// test that needs more wants a different tool).
pub const MAX_FAULT_RULES: usize = 64;

/// The error an injected `Unavailable` carries as its source, so a test can
/// tell injected failures from real ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("injected fault: {op} call #{call}")]
pub struct InjectedFault {
    /// The operation that failed.
    pub op: &'static str,
    /// Which call of it (1-based, counted since the wrapper was created).
    pub call: u64,
}

#[derive(Debug)]
struct Rule<Op, Kind> {
    op: Op,
    /// Calls `first..end` (1-based totals) fail.
    first: u64,
    end: u64,
    kind: Kind,
}

/// Call counters and armed rules.
#[derive(Debug)]
struct Plan<Op, Kind> {
    calls: HashMap<Op, u64>,
    rules: Vec<Rule<Op, Kind>>,
}

impl<Op: Copy + Eq + Hash, Kind: Copy> Plan<Op, Kind> {
    fn new() -> Self {
        Self {
            calls: HashMap::new(),
            rules: Vec::new(),
        }
    }

    fn arm(&mut self, op: Op, nth: u64, count: u64, kind: Kind) {
        assert!(nth >= 1, "fault rules count calls from 1 (the next call)");
        assert!(
            self.rules.len() < MAX_FAULT_RULES,
            "more than {MAX_FAULT_RULES} fault rules armed"
        );
        let done = self.calls.get(&op).copied().unwrap_or(0);
        self.rules.push(Rule {
            op,
            first: done + nth,
            end: done + nth + count,
            kind,
        });
    }

    /// Counts a call of `op`; the fault it must suffer, if any.
    fn trip(&mut self, op: Op) -> (u64, Option<Kind>) {
        let call = self.calls.entry(op).or_insert(0);
        *call += 1;
        let call = *call;
        let kind = self
            .rules
            .iter()
            .find(|r| r.op == op && (r.first..r.end).contains(&call))
            .map(|r| r.kind);
        (call, kind)
    }

    fn calls(&self, op: Op) -> u64 {
        self.calls.get(&op).copied().unwrap_or(0)
    }
}

fn unavailable(op: &'static str, call: u64) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(InjectedFault { op, call })
}

// ---------------------------------------------------------------- store --

/// A [`LotStore`] operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// `load`.
    Load,
    /// `commit` (one call, whatever its batch).
    Commit,
    /// `command`.
    Command,
    /// `events_after`.
    EventsAfter,
    /// `bids`.
    Bids,
    /// `lots`.
    Lots,
    /// `due`.
    Due,
}

impl StoreOp {
    fn name(self) -> &'static str {
        match self {
            StoreOp::Load => "load",
            StoreOp::Commit => "commit",
            StoreOp::Command => "command",
            StoreOp::EventsAfter => "events_after",
            StoreOp::Bids => "bids",
            StoreOp::Lots => "lots",
            StoreOp::Due => "due",
        }
    }
}

/// How a store call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    /// [`StoreError::Unavailable`], nothing done (every entry of a commit).
    Unavailable,
    /// Commit only: every entry fails with [`StoreError::Conflict`], nothing
    /// written (another writer won the race).
    Conflict,
    /// Commit only: the inner store commits, then every entry reports
    /// [`StoreError::Unavailable`] (the acknowledgement was lost).
    LostAck,
}

/// A [`LotStore`] that fails chosen calls.
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    plan: Mutex<Plan<StoreOp, StoreFault>>,
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`; no call fails until a rule is armed.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            plan: Mutex::new(Plan::new()),
        }
    }

    /// The wrapped store (to inspect it without counting calls).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The `nth` call of `op` from now (1 = the next one) fails with `fault`.
    ///
    /// # Panics
    /// If `fault` is `Conflict` or `LostAck` and `op` is not `Commit`, or if
    /// `nth` is 0.
    pub fn fail_nth(&self, op: StoreOp, nth: u64, fault: StoreFault) -> &Self {
        self.fail_calls(op, nth, 1, fault)
    }

    /// `count` consecutive calls of `op`, from the `nth` one from now, fail
    /// with `fault`. Panics as [`FaultyStore::fail_nth`] does.
    pub fn fail_calls(&self, op: StoreOp, nth: u64, count: u64, fault: StoreFault) -> &Self {
        assert!(
            fault == StoreFault::Unavailable || op == StoreOp::Commit,
            "{fault:?} faults apply to commit only"
        );
        self.lock().arm(op, nth, count, fault);
        self
    }

    /// Disarms every rule (call counts keep running).
    pub fn heal(&self) {
        self.lock().rules.clear();
    }

    /// How many calls of `op` were made so far.
    pub fn calls(&self, op: StoreOp) -> u64 {
        self.lock().calls(op)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plan<StoreOp, StoreFault>> {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a read call; its injected error, if any.
    fn read(&self, op: StoreOp) -> Result<(), StoreError> {
        match self.lock().trip(op) {
            (call, Some(_)) => Err(StoreError::Unavailable(unavailable(op.name(), call))),
            (_, None) => Ok(()),
        }
    }
}

impl<S: LotStore> LotStore for FaultyStore<S> {
    async fn load(&self, lot_id: &LotId) -> Result<Option<Lot>, StoreError> {
        self.read(StoreOp::Load)?;
        self.inner.load(lot_id).await
    }

    async fn commit(&self, batch: Vec<LotCommit>) -> Vec<Result<(), StoreError>> {
        let (call, fault) = self.lock().trip(StoreOp::Commit);
        let down = || Err(StoreError::Unavailable(unavailable("commit", call)));
        match fault {
            None => self.inner.commit(batch).await,
            Some(StoreFault::Unavailable) => batch.iter().map(|_| down()).collect(),
            Some(StoreFault::Conflict) => batch
                .iter()
                .map(|c| {
                    Err(StoreError::Conflict {
                        lot_id: c.lot_id.clone(),
                        expected: c.expected_sequence,
                    })
                })
                .collect(),
            Some(StoreFault::LostAck) => {
                let results = self.inner.commit(batch).await;
                results.iter().map(|_| down()).collect()
            }
        }
    }

    async fn command(&self, key: &CommandKey) -> Result<Option<CommandRecord>, StoreError> {
        self.read(StoreOp::Command)?;
        self.inner.command(key).await
    }

    async fn events_after(
        &self,
        lot_id: &LotId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedEvent>, StoreError> {
        self.read(StoreOp::EventsAfter)?;
        self.inner.events_after(lot_id, after, limit).await
    }

    async fn bids(
        &self,
        lot_id: &LotId,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<BidRecord>, StoreError> {
        self.read(StoreOp::Bids)?;
        self.inner.bids(lot_id, cursor, limit).await
    }

    async fn lots(&self, query: &LotQuery) -> Result<Page<Lot>, StoreError> {
        self.read(StoreOp::Lots)?;
        self.inner.lots(query).await
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<LotId>, StoreError> {
        self.read(StoreOp::Due)?;
        self.inner.due(now, limit).await
    }
}

// --------------------------------------------------------------- credit --

/// A [`CreditLedger`] operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreditOp {
    /// `set_limit`.
    SetLimit,
    /// `credit`.
    Credit,
    /// `hold`.
    Hold,
    /// `propose` (the hold placed before a bid's commit).
    Propose,
    /// `withdraw`.
    Withdraw,
    /// `clear_proposals`.
    ClearProposals,
    /// `release`.
    Release,
    /// `consume`.
    Consume,
    /// A [`LotCreditOp::Loaded`] change (a lot loaded afresh).
    Loaded,
}

impl CreditOp {
    /// The operation a change counts as.
    fn of(op: LotCreditOp<&ParticipantId>) -> Self {
        match op {
            LotCreditOp::Hold { .. } => CreditOp::Hold,
            LotCreditOp::Propose { .. } => CreditOp::Propose,
            LotCreditOp::Withdraw { .. } => CreditOp::Withdraw,
            LotCreditOp::ClearProposals { .. } => CreditOp::ClearProposals,
            LotCreditOp::Release { .. } => CreditOp::Release,
            LotCreditOp::Consume { .. } => CreditOp::Consume,
            LotCreditOp::Loaded { .. } => CreditOp::Loaded,
        }
    }

    fn name(self) -> &'static str {
        match self {
            CreditOp::SetLimit => "set_limit",
            CreditOp::Credit => "credit",
            CreditOp::Hold => "hold",
            CreditOp::Propose => "propose",
            CreditOp::Withdraw => "withdraw",
            CreditOp::ClearProposals => "clear_proposals",
            CreditOp::Release => "release",
            CreditOp::Consume => "consume",
            CreditOp::Loaded => "loaded",
        }
    }
}

/// How a ledger call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditFault {
    /// [`CreditError::Unavailable`], nothing done.
    Unavailable,
    /// Hold (or a load's hold) only: [`CreditError::Insufficient`],
    /// nothing done.
    Insufficient,
    /// Set limit only: [`CreditError::InUse`], nothing done.
    InUse,
    /// Changing calls only: the inner ledger applies the call, then it
    /// reports [`CreditError::Unavailable`] (the acknowledgement was lost).
    LostAck,
}

/// A [`CreditLedger`] that fails chosen calls.
#[derive(Debug)]
pub struct FaultyLedger<L> {
    inner: L,
    plan: Mutex<Plan<CreditOp, CreditFault>>,
}

impl<L> FaultyLedger<L> {
    /// Wraps `inner`; no call fails until a rule is armed.
    pub fn new(inner: L) -> Self {
        Self {
            inner,
            plan: Mutex::new(Plan::new()),
        }
    }

    /// The wrapped ledger.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// The `nth` call of `op` from now (1 = the next one) fails with `fault`.
    ///
    /// # Panics
    /// If `fault` does not fit `op` (`Insufficient` is for holds, `InUse`
    /// for set limit, `LostAck` for changing calls), or if `nth` is 0.
    pub fn fail_nth(&self, op: CreditOp, nth: u64, fault: CreditFault) -> &Self {
        self.fail_calls(op, nth, 1, fault)
    }

    /// `count` consecutive calls of `op`, from the `nth` one from now, fail
    /// with `fault`. Panics as [`FaultyLedger::fail_nth`] does.
    pub fn fail_calls(&self, op: CreditOp, nth: u64, count: u64, fault: CreditFault) -> &Self {
        let fits = match fault {
            CreditFault::Unavailable => true,
            CreditFault::Insufficient => matches!(op, CreditOp::Hold | CreditOp::Loaded),
            CreditFault::InUse => op == CreditOp::SetLimit,
            CreditFault::LostAck => op != CreditOp::Credit,
        };
        assert!(fits, "{fault:?} faults do not apply to {op:?}");
        self.lock().arm(op, nth, count, fault);
        self
    }

    /// Disarms every rule (call counts keep running).
    pub fn heal(&self) {
        self.lock().rules.clear();
    }

    /// How many calls of `op` were made so far.
    pub fn calls(&self, op: CreditOp) -> u64 {
        self.lock().calls(op)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plan<CreditOp, CreditFault>> {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `call` on the inner ledger unless a fault says otherwise.
    async fn guarded<T>(
        &self,
        op: CreditOp,
        call: impl Future<Output = Result<T, CreditError>>,
    ) -> Result<T, CreditError> {
        let (n, fault) = self.lock().trip(op);
        let down = || CreditError::Unavailable(unavailable(op.name(), n));
        match fault {
            None => call.await,
            Some(CreditFault::Unavailable) => Err(down()),
            Some(CreditFault::Insufficient) => Err(CreditError::Insufficient),
            Some(CreditFault::InUse) => Err(CreditError::InUse),
            Some(CreditFault::LostAck) => {
                let _ = call.await;
                Err(down())
            }
        }
    }
}

impl<L: CreditLedger> CreditLedger for FaultyLedger<L> {
    async fn set_limit(
        &self,
        participant: &ParticipantId,
        limit: Money,
        currency: Currency,
    ) -> Result<CreditView, CreditError> {
        let call = self.inner.set_limit(participant, limit, currency);
        self.guarded(CreditOp::SetLimit, call).await
    }

    async fn credit(&self, participant: &ParticipantId) -> Result<Option<CreditView>, CreditError> {
        let call = self.inner.credit(participant);
        self.guarded(CreditOp::Credit, call).await
    }

    async fn change(
        &self,
        lot: &LotId,
        op: LotCreditOp<&ParticipantId>,
    ) -> Result<(), CreditError> {
        let call = self.inner.change(lot, op);
        self.guarded(CreditOp::of(op), call).await
    }
}

// ------------------------------------------------------------ publisher --

/// How a publish call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishFault {
    /// [`PublishError::Unavailable`], nothing published.
    Unavailable,
    /// The inner publisher delivers, then the call reports
    /// [`PublishError::Unavailable`]: the outbox publishes again and
    /// subscribers see duplicates.
    LostAck,
}

/// An [`EventPublisher`] that fails chosen publish calls.
#[derive(Debug)]
pub struct FaultyPublisher<P> {
    inner: P,
    plan: Mutex<Plan<(), PublishFault>>,
}

impl<P> FaultyPublisher<P> {
    /// Wraps `inner`; no call fails until a rule is armed.
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            plan: Mutex::new(Plan::new()),
        }
    }

    /// The wrapped publisher.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The `nth` publish call from now (1 = the next one) fails with `fault`.
    ///
    /// # Panics
    /// If `nth` is 0.
    pub fn fail_nth(&self, nth: u64, fault: PublishFault) -> &Self {
        self.lock().arm((), nth, 1, fault);
        self
    }

    /// Disarms every rule.
    pub fn heal(&self) {
        self.lock().rules.clear();
    }

    /// How many publish calls were made so far.
    pub fn calls(&self) -> u64 {
        self.lock().calls(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plan<(), PublishFault>> {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<P: EventPublisher> EventPublisher for FaultyPublisher<P> {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<(), PublishError> {
        let (call, fault) = self.lock().trip(());
        let down = || PublishError::Unavailable(unavailable("publish", call));
        match fault {
            None => self.inner.publish(events).await,
            Some(PublishFault::Unavailable) => Err(down()),
            Some(PublishFault::LostAck) => {
                let _ = self.inner.publish(events).await;
                Err(down())
            }
        }
    }
}
