//! The `CreditLedger` port: bidder credit limits and holds (SPEC §3.1).
//!
//! A lot holds credit for at most one participant at a time (its leader, or
//! its winner until payment), so holds are keyed by lot. The holds a lot
//! needs are a pure function of its state (the engine's `required_hold`), so
//! a ledger that lags behind a crash is repaired by setting each lot's hold
//! again: every operation here is idempotent.
//!
//! # Why writes carry the lot's sequence (the credit saga)
//!
//! The ledger is written outside the lot's commit, and two engines may
//! work one lot at once (two processes on one table, a queue redelivery
//! after a timeout). Their ledger writes can then land out of order: a
//! write judged on the lot at sequence 10 arriving after another engine
//! committed 11 and set the hold 11 needs. So every write says which lot
//! state it reflects, and the ledger keeps per lot the highest
//! *committed* sequence it applied ([`LotCredit::sequence`], kept after a
//! release or consume as a tombstone): an older write changes nothing.
//! Only one lot state is ever committed per sequence (the store's
//! compare-and-set), so two writes at the same sequence say the same thing
//! and re-applying one is harmless.
//!
//! A bid's hold must be in place *before* its commit (rule 9: the bid is
//! refused if it does not fit), when the state it is for is only proposed:
//! another engine may commit a different state at that sequence, or the
//! commit may fail. Such a hold is a **proposal** ([`CreditLedger::propose`]):
//! it is added next to the lot's committed hold, never in its place, so
//!
//! - the previous leader stays held until the new state is committed and
//!   its committed hold replaces theirs (a crash between the proposal and
//!   the commit frees nobody's credit);
//! - a committed write at sequence `s` drops every proposal for a sequence
//!   up to `s` (the state at `s` is committed: the proposal became it, or
//!   lost to it), and a proposal at or below the committed sequence is
//!   stale (its commit cannot succeed);
//! - an engine whose commit failed withdraws its own proposals
//!   ([`CreditLedger::withdraw`]) and sets the committed hold from the
//!   stored lot: a repair never needs to go back below a sequence, so the
//!   recorded sequence only ever moves forward.
//!
//! - an engine that loads a lot afresh (after a restart, or a cache miss)
//!   sets its committed hold and clears its proposals, in one write
//!   ([`LotCreditOp::Loaded`]): a proposal left by an engine that crashed
//!   before its commit over-holds its bidder only until then. The repair
//!   after a failed commit does not: it withdraws only its own proposals,
//!   since another engine's may be about to commit.
//!
//! A participant's holding on a lot is the larger of their committed hold
//! and their proposal there ([`LotCredit::amount_of`]): raising one's own
//! maximum needs only the difference.
//!
//! What is narrowed, not closed (two engines on one lot at the same
//! moment): a proposal can be dropped while its engine is still about to
//! commit (another engine loading the lot clears it, or withdraws the same
//! bidder's proposal at the same sequence after its own commit failed).
//! The bidder is then held again by the committed hold the committing
//! engine writes right after its commit; until then (milliseconds) their
//! credit is free, and if they spend it elsewhere in that window the
//! committed hold is refused and the lot's next load retries it.

use crate::ids::{LotId, ParticipantId};
use crate::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;

/// A participant's credit (the body of `GET /participants/{id}/credit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditView {
    /// Whose.
    pub participant_id: ParticipantId,
    /// The limit's currency.
    pub currency: Currency,
    /// The limit.
    pub limit: Money,
    /// Sum of active holds.
    pub held: Money,
    /// `limit − held` (never negative).
    pub available: Money,
}

/// A ledger failure.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// The hold does not fit (or no limit in that currency): the bid is
    /// rejected with `insufficient_credit` (409).
    #[error("insufficient credit")]
    Insufficient,
    /// Changing the currency while holds are active: `credit_in_use` (409).
    #[error("credit in use")]
    InUse,
    /// Transient: retry.
    #[error("credit ledger unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// One change to a lot's credit record: the one write every ledger
/// implements ([`CreditLedger::change`]; the contract is the trait's, the
/// ordering rules [`LotCredit::after`]'s).
///
/// `P` names the participant: `&ParticipantId` as callers pass it, or
/// `ParticipantId` in an adapter that must own the change (to hand it to
/// another thread); [`LotCreditOp::map`] converts between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LotCreditOp<P> {
    /// The committed state at `sequence` needs `participant` held `amount`.
    Hold {
        /// Who.
        participant: P,
        /// How much.
        amount: Money,
        /// The lot's currency: the hold fits only a limit in it.
        currency: Currency,
        /// The committed state's sequence.
        sequence: u64,
    },
    /// The committed state at `sequence` needs no hold.
    Release {
        /// The committed state's sequence.
        sequence: u64,
    },
    /// The committed state at `sequence` paid the settlement.
    Consume {
        /// The committed state's sequence.
        sequence: u64,
    },
    /// A state about to be committed at `sequence` needs `participant`
    /// held `amount`.
    Propose {
        /// Who.
        participant: P,
        /// How much.
        amount: Money,
        /// The lot's currency: the proposal fits only a limit in it.
        currency: Currency,
        /// The proposed state's sequence.
        sequence: u64,
    },
    /// The committed state at `sequence` was loaded afresh (after a
    /// restart, or a cache miss): proposals left by engines that crashed
    /// before their commit are dropped, all of them.
    ClearProposals {
        /// The loaded state's sequence.
        sequence: u64,
    },
    /// The commit of the state proposed at `sequence` failed.
    Withdraw {
        /// Whose proposal.
        participant: P,
        /// The proposed state's sequence.
        sequence: u64,
    },
    /// The committed state at `sequence` was loaded afresh: sets its
    /// committed hold as `committed` says AND drops every proposal, in one
    /// write (an engine's cold load would otherwise make two: the
    /// committed write, then [`LotCreditOp::ClearProposals`]).
    Loaded {
        /// What the loaded state needs of the ledger.
        committed: CommittedHold<P>,
        /// The loaded state's sequence.
        sequence: u64,
    },
}

/// What a committed lot state needs of the ledger: the body of the
/// committed writes ([`LotCreditOp::Hold`], [`LotCreditOp::Release`],
/// [`LotCreditOp::Consume`]) without their sequence, so a write that sets
/// it among other things ([`LotCreditOp::Loaded`]) says it the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommittedHold<P> {
    /// `participant` held `amount` (a limit in `currency` must fit it).
    Hold {
        /// Who.
        participant: P,
        /// How much.
        amount: Money,
        /// The lot's currency.
        currency: Currency,
    },
    /// No hold.
    Release,
    /// The settlement is paid: the hold becomes a payment (once).
    Consume,
}

impl<P> CommittedHold<P> {
    /// The same, naming the participant by reference.
    pub fn as_ref(&self) -> CommittedHold<&P> {
        match self {
            CommittedHold::Hold {
                participant,
                amount,
                currency,
            } => CommittedHold::Hold {
                participant,
                amount: *amount,
                currency: *currency,
            },
            CommittedHold::Release => CommittedHold::Release,
            CommittedHold::Consume => CommittedHold::Consume,
        }
    }

    /// The committed write that sets this for the state at `sequence`.
    pub fn at(self, sequence: u64) -> LotCreditOp<P> {
        match self {
            CommittedHold::Hold {
                participant,
                amount,
                currency,
            } => LotCreditOp::Hold {
                participant,
                amount,
                currency,
                sequence,
            },
            CommittedHold::Release => LotCreditOp::Release { sequence },
            CommittedHold::Consume => LotCreditOp::Consume { sequence },
        }
    }
}

impl<P> LotCreditOp<P> {
    /// The same change with its participant (if any) turned by `f`: e.g.
    /// `op.map(|p| (*p).clone())` owns a borrowed change, `op.map(|p| p)`
    /// borrows an owned one.
    pub fn map<'s, Q>(&'s self, f: impl FnOnce(&'s P) -> Q) -> LotCreditOp<Q> {
        match self {
            LotCreditOp::Hold {
                participant,
                amount,
                currency,
                sequence,
            } => LotCreditOp::Hold {
                participant: f(participant),
                amount: *amount,
                currency: *currency,
                sequence: *sequence,
            },
            LotCreditOp::Release { sequence } => LotCreditOp::Release {
                sequence: *sequence,
            },
            LotCreditOp::Consume { sequence } => LotCreditOp::Consume {
                sequence: *sequence,
            },
            LotCreditOp::Propose {
                participant,
                amount,
                currency,
                sequence,
            } => LotCreditOp::Propose {
                participant: f(participant),
                amount: *amount,
                currency: *currency,
                sequence: *sequence,
            },
            LotCreditOp::ClearProposals { sequence } => LotCreditOp::ClearProposals {
                sequence: *sequence,
            },
            LotCreditOp::Withdraw {
                participant,
                sequence,
            } => LotCreditOp::Withdraw {
                participant: f(participant),
                sequence: *sequence,
            },
            LotCreditOp::Loaded {
                committed,
                sequence,
            } => LotCreditOp::Loaded {
                committed: match committed {
                    CommittedHold::Hold {
                        participant,
                        amount,
                        currency,
                    } => CommittedHold::Hold {
                        participant: f(participant),
                        amount: *amount,
                        currency: *currency,
                    },
                    CommittedHold::Release => CommittedHold::Release,
                    CommittedHold::Consume => CommittedHold::Consume,
                },
                sequence: *sequence,
            },
        }
    }
}

impl<'a> LotCreditOp<&'a ParticipantId> {
    /// Whose holding on the lot the change sets, and the currency it is
    /// in: the ledger checks it against their limit before it writes
    /// (hold, proposal, or a load that sets a hold).
    pub fn fits(self) -> Option<(&'a ParticipantId, Currency)> {
        match self {
            LotCreditOp::Hold {
                participant,
                currency,
                ..
            }
            | LotCreditOp::Propose {
                participant,
                currency,
                ..
            }
            | LotCreditOp::Loaded {
                committed:
                    CommittedHold::Hold {
                        participant,
                        currency,
                        ..
                    },
                ..
            } => Some((participant, currency)),
            _ => None,
        }
    }
}

/// A lot's credit record, as every ledger keeps it: the one place the
/// ordering rules of the saga (module docs) are written, so the adapters
/// only store it and move the participants' totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LotCredit {
    /// Highest committed lot sequence applied (0: none). Kept after a
    /// release or consume: a tombstone that refuses older writes.
    pub sequence: u64,
    /// The committed state's hold.
    pub hold: Option<(ParticipantId, Money)>,
    /// Proposals: participant → (amount, proposed sequence); each is above
    /// `sequence`.
    pub proposals: BTreeMap<ParticipantId, (Money, u64)>,
    /// The hold was consumed (a payment): consuming again changes nothing.
    pub consumed: bool,
}

/// Whose limit a consume lowers, and by how much.
type Charge = Option<(ParticipantId, Money)>;

impl LotCredit {
    /// What `participant` holds on the lot: the larger of their committed
    /// hold and their proposal.
    pub fn amount_of(&self, participant: &ParticipantId) -> Option<Money> {
        let held = self
            .hold
            .as_ref()
            .filter(|(p, _)| p == participant)
            .map(|(_, a)| *a);
        let proposed = self.proposals.get(participant).map(|(a, _)| *a);
        match (held, proposed) {
            (Some(h), Some(p)) => Some(if p > h { p } else { h }),
            (h, p) => h.or(p),
        }
    }

    /// Everyone holding credit on the lot.
    pub fn holders(&self) -> Vec<ParticipantId> {
        let mut all: Vec<ParticipantId> = self.proposals.keys().cloned().collect();
        if let Some((p, _)) = &self.hold
            && !self.proposals.contains_key(p)
        {
            all.push(p.clone());
        }
        all
    }

    /// The record after `op`, or None when `op` changes nothing (it is
    /// stale: the lot's committed sequence is past it; or the record is
    /// already as asked). Also returns whose limit a consume lowers, and
    /// by how much.
    pub fn after(
        &self,
        op: LotCreditOp<&ParticipantId>,
    ) -> Option<(LotCredit, Option<(ParticipantId, Money)>)> {
        let mut next = self.clone();
        let mut charge = None;
        match op {
            LotCreditOp::Hold {
                participant,
                amount,
                currency,
                sequence,
            } => {
                let hold = CommittedHold::Hold {
                    participant,
                    amount,
                    currency,
                };
                charge = next.commit(hold, sequence, false)?;
            }
            LotCreditOp::Release { sequence } => {
                charge = next.commit(CommittedHold::Release, sequence, false)?;
            }
            LotCreditOp::Consume { sequence } => {
                charge = next.commit(CommittedHold::Consume, sequence, false)?;
            }
            LotCreditOp::Loaded {
                committed,
                sequence,
            } => charge = next.commit(committed, sequence, true)?,
            LotCreditOp::Propose {
                participant,
                amount,
                sequence,
                ..
            } => {
                if sequence <= self.sequence {
                    return None;
                }
                let entry = next
                    .proposals
                    .entry(participant.clone())
                    .or_insert((amount, sequence));
                *entry = (
                    if amount > entry.0 { amount } else { entry.0 },
                    entry.1.max(sequence),
                );
            }
            LotCreditOp::ClearProposals { sequence } => {
                if sequence < self.sequence {
                    return None;
                }
                next.proposals.clear();
            }
            LotCreditOp::Withdraw {
                participant,
                sequence,
            } => {
                if self.proposals.get(participant).map(|(_, s)| *s) == Some(sequence) {
                    next.proposals.remove(participant);
                }
            }
        }
        (next != *self).then_some((next, charge))
    }

    /// Applies a committed write at `sequence` (None: stale, below the
    /// recorded sequence): records `sequence`, drops the proposals up to
    /// it (`every`: all of them, a fresh load) and sets the committed hold
    /// as `hold` says; a consume returns its charge, once per lot.
    fn commit(
        &mut self,
        hold: CommittedHold<&ParticipantId>,
        sequence: u64,
        every: bool,
    ) -> Option<Charge> {
        if sequence < self.sequence {
            return None;
        }
        self.sequence = sequence;
        if every {
            self.proposals.clear();
        } else {
            self.proposals.retain(|_, (_, s)| *s > sequence);
        }
        Some(match hold {
            CommittedHold::Hold {
                participant,
                amount,
                ..
            } => {
                self.hold = Some((participant.clone(), amount));
                None
            }
            CommittedHold::Release => {
                self.hold = None;
                None
            }
            CommittedHold::Consume if self.consumed => None,
            CommittedHold::Consume => {
                let charge = self.hold.take();
                self.consumed = charge.is_some();
                charge
            }
        })
    }
}

/// Bidder credit.
///
/// A ledger implements one write, [`CreditLedger::change`]; `hold`,
/// `propose`, `withdraw`, `clear_proposals`, `release` and `consume` are
/// its shorthands (one [`LotCreditOp`] each), so a wrapper (fault
/// injection, a test's gate) overrides `change` alone.
///
/// Contract of `change(lot, op)`, per op (the ordering rules are
/// [`LotCredit::after`]'s; see the module docs for why):
/// - `Hold { p, amount, currency, sequence }` — the lot's committed state
///   at `sequence` needs `p` held `amount`. If `sequence` is below the
///   lot's committed sequence it MUST change nothing and succeed (stale);
///   otherwise it MUST atomically replace the lot's committed hold (whoever
///   held it) with `p`'s, drop the lot's proposals for sequences up to
///   `sequence`, and record `sequence`; and it MUST fail with
///   [`CreditError::Insufficient`], changing nothing, if `p` has no limit
///   in `currency` or what `p` then holds on the lot exceeds `p`'s
///   available credit not counting the lot.
/// - `Propose { p, amount, currency, sequence }` — the same for a state
///   about to be committed, checked the same way, but ADDED next to the
///   lot's committed hold (which stays); stale (changes nothing, succeeds)
///   unless `sequence` is above the lot's committed sequence.
/// - `Withdraw { p, sequence }` MUST remove `p`'s proposal at exactly
///   `sequence` (no-op otherwise).
/// - `ClearProposals { sequence }` MUST remove every proposal of the lot,
///   unless `sequence` is below its committed sequence (stale).
/// - `Release { sequence }` MUST remove the lot's committed hold (no-op
///   without one), and `Consume { sequence }` MUST remove it and lower its
///   holder's limit by the held amount, once: consuming a lot twice
///   changes nothing. Both are stale below the lot's committed sequence,
///   and record `sequence` (a tombstone) otherwise.
/// - `Loaded { committed, sequence }` is stale below the lot's committed
///   sequence; otherwise it MUST, atomically, do what the committed write
///   of `committed` at `sequence` does (`Hold`, `Release` or `Consume`
///   above; a hold checked the same way, counting no proposal) AND remove
///   every proposal of the lot, as `ClearProposals` does. A refused hold
///   changes nothing, the proposals included.
/// - Every write at the sequence already recorded re-applies (idempotent).
/// - A participant's held credit is the sum over lots of
///   [`LotCredit::amount_of`]; available credit MUST never be negative.
pub trait CreditLedger: Send + Sync + 'static {
    /// Sets (replaces) a participant's limit.
    fn set_limit(
        &self,
        participant: &ParticipantId,
        limit: Money,
        currency: Currency,
    ) -> impl Future<Output = Result<CreditView, CreditError>> + Send;

    /// A participant's credit, if they have a limit.
    fn credit(
        &self,
        participant: &ParticipantId,
    ) -> impl Future<Output = Result<Option<CreditView>, CreditError>> + Send;

    /// Applies one change to the lot's credit record, as the trait's
    /// contract says for `op`.
    fn change(
        &self,
        lot: &LotId,
        op: LotCreditOp<&ParticipantId>,
    ) -> impl Future<Output = Result<(), CreditError>> + Send;

    /// Sets the lot's committed hold for its state at `sequence`
    /// ([`LotCreditOp::Hold`]).
    fn hold(
        &self,
        lot: &LotId,
        participant: &ParticipantId,
        amount: Money,
        currency: Currency,
        sequence: u64,
    ) -> impl Future<Output = Result<(), CreditError>> + Send {
        let op = LotCreditOp::Hold {
            participant,
            amount,
            currency,
            sequence,
        };
        self.change(lot, op)
    }

    /// Adds a proposed hold for the state about to be committed at
    /// `sequence` ([`LotCreditOp::Propose`]).
    fn propose(
        &self,
        lot: &LotId,
        participant: &ParticipantId,
        amount: Money,
        currency: Currency,
        sequence: u64,
    ) -> impl Future<Output = Result<(), CreditError>> + Send {
        let op = LotCreditOp::Propose {
            participant,
            amount,
            currency,
            sequence,
        };
        self.change(lot, op)
    }

    /// Withdraws `participant`'s proposal at `sequence` (its commit
    /// failed; [`LotCreditOp::Withdraw`]).
    fn withdraw(
        &self,
        lot: &LotId,
        participant: &ParticipantId,
        sequence: u64,
    ) -> impl Future<Output = Result<(), CreditError>> + Send {
        let op = LotCreditOp::Withdraw {
            participant,
            sequence,
        };
        self.change(lot, op)
    }

    /// Drops every proposal of the lot (its committed state at `sequence`
    /// was loaded afresh: proposals of crashed engines must not linger;
    /// [`LotCreditOp::ClearProposals`]).
    fn clear_proposals(
        &self,
        lot: &LotId,
        sequence: u64,
    ) -> impl Future<Output = Result<(), CreditError>> + Send {
        self.change(lot, LotCreditOp::ClearProposals { sequence })
    }

    /// Removes the lot's committed hold (its state at `sequence` needs
    /// none; [`LotCreditOp::Release`]).
    fn release(
        &self,
        lot: &LotId,
        sequence: u64,
    ) -> impl Future<Output = Result<(), CreditError>> + Send {
        self.change(lot, LotCreditOp::Release { sequence })
    }

    /// Turns the lot's hold into a payment (its state at `sequence` is
    /// paid: limit and held drop by its amount; [`LotCreditOp::Consume`]).
    fn consume(
        &self,
        lot: &LotId,
        sequence: u64,
    ) -> impl Future<Output = Result<(), CreditError>> + Send {
        self.change(lot, LotCreditOp::Consume { sequence })
    }
}
