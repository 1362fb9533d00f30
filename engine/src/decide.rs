//! `decide`: every rule, as a pure function of the lot, the command and the
//! time.

use crate::bidding::{buy_now, place_bid};
use crate::due::{advance_into, next_due};
use crate::emit::Emitter;
use crate::lifecycle::{
    cancel_lot, cancel_reservation, complete_reservation, record_payment, reserve,
};
use hammerfall_ports::{Command, Events, InvalidRequest, Lot, Rejection, Timestamp};

/// The full result of judging a command: the events to record, and whether
/// the command itself was accepted. Due transitions (SPEC §9) are applied
/// first "whoever sends it and whatever its own fate", so a rejected command
/// may still carry events: those transitions, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Events to commit, in order: due transitions, then the command's own.
    pub events: Events,
    /// `Ok` if the command was accepted, else why not.
    pub outcome: Result<(), Rejection>,
}

/// Judges `command` against `lot` at `now`. Never panics, never reads a
/// clock, never allocates for an ordinary bid.
pub fn judge(lot: &Lot, command: &Command, now: Timestamp) -> Verdict {
    let mut events = Events::new();
    let outcome = judge_into(lot, command, now, &mut events);
    Verdict { events, outcome }
}

/// [`judge`] writing the events into `events` (cleared first), for callers
/// that reuse one buffer across commands (the sequencer's hot loop).
pub fn judge_into(
    lot: &Lot,
    command: &Command,
    now: Timestamp,
    events: &mut Events,
) -> Result<(), Rejection> {
    events.clear();
    let mut out = Emitter::into(lot.sequence, events);
    if next_due(lot).is_some_and(|t| t <= now) {
        let mut working = lot.clone();
        advance_into(&mut working, now, &mut out);
        rule(&working, command, now, &mut out)
    } else {
        rule(lot, command, now, &mut out)
    }
}

/// Decides `command` against `lot` at `now`: the events it emits (due
/// transitions first), or why it is refused. A refusal drops any due
/// transitions; callers that record refusals use [`judge`], which keeps them.
pub fn decide(lot: &Lot, command: &Command, now: Timestamp) -> Result<Events, Rejection> {
    let verdict = judge(lot, command, now);
    verdict.outcome.map(|()| verdict.events)
}

fn rule(
    lot: &Lot,
    command: &Command,
    now: Timestamp,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    let first = out.events.len();
    let result = match command {
        Command::CreateLot(_) => Err(InvalidRequest::LotExists.into()),
        Command::PlaceBid(bid) => place_bid(lot, bid, now, out),
        Command::BuyNow { buyer } => buy_now(lot, buyer, now, out),
        Command::CancelLot { by } => cancel_lot(lot, by, now, out),
        Command::Reserve {
            buyer,
            reservation_id,
        } => reserve(lot, buyer, reservation_id, now, out),
        Command::CompleteReservation { by, reservation_id } => {
            complete_reservation(lot, by, reservation_id, now, out)
        }
        Command::CancelReservation { by, reservation_id } => {
            cancel_reservation(lot, by, reservation_id, now, out)
        }
        Command::RecordPayment { by } => record_payment(lot, by, now, out),
        Command::Advance => Ok(()),
    };
    if result.is_err() {
        // Rules check before they emit, but keep the guarantee explicit: a
        // refused command leaves only the due transitions.
        out.events.truncate(first);
    }
    result
}
