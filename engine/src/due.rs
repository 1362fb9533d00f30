//! Due transitions (SPEC §9): opening at `starts_at`, the timed close at
//! `ends_at`, reservation expiry and payment default. Timers issue
//! [`Command::Advance`](hammerfall_ports::Command::Advance) for them, and any
//! command applies them first, lazily, at the moment they were due.

use crate::apply::apply;
use crate::emit::Emitter;
use crate::settle::{close_by_time, fixed_price_unsold};
use hammerfall_ports::{Event, Lot, LotStatus, SettlementStatus, Timestamp};
use smallvec::SmallVec;

type Step = (Timestamp, SmallVec<[Event; 2]>);

/// The earliest moment something becomes due on `lot`, if anything will.
/// Schedulers index lots by it.
pub fn next_due(lot: &Lot) -> Option<Timestamp> {
    let settlement_due = lot
        .settlement
        .as_ref()
        .filter(|s| s.status == SettlementStatus::Pending)
        .map(|s| s.due_by);
    let lot_due = match lot.status {
        LotStatus::Scheduled => Some(lot.terms.starts_at),
        LotStatus::Open => lot.ends_at,
        LotStatus::Reserved => lot
            .fixed_price()
            .and_then(|(_, s)| s.active())
            .map(|r| r.expires_at),
        LotStatus::Closed | LotStatus::Cancelled => None,
    };
    match (lot_due, settlement_due) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The next due transition at or before `now`, with the events it emits.
fn next_step(lot: &Lot, now: Timestamp) -> Option<Step> {
    let due = next_due(lot).filter(|t| *t <= now)?;
    let mut events = SmallVec::new();
    match lot.status {
        // A final lot is due only for its pending settlement's deadline.
        LotStatus::Closed | LotStatus::Cancelled => events.push(Event::SettlementDefaulted {}),
        LotStatus::Scheduled => events.push(Event::LotOpened {}),
        LotStatus::Open if lot.english().is_some() => events.extend(close_by_time(lot, due)),
        LotStatus::Open => events.push(fixed_price_unsold()),
        LotStatus::Reserved => {
            let reservation = lot.fixed_price().and_then(|(_, s)| s.active())?;
            events.push(Event::ReservationExpired {
                reservation_id: reservation.reservation_id.clone(),
            });
            // A listing whose end passed while reserved closes when the
            // reservation lapses (SPEC §9 "Listing end").
            if lot.ends_at.is_some_and(|end| end <= due) {
                events.push(fixed_price_unsold());
            }
        }
    }
    Some((due, events))
}

/// Applies every transition due at or before `now` to `lot`, emitting their
/// events (each at the moment it was due) into `out`.
pub(crate) fn advance_into(lot: &mut Lot, now: Timestamp, out: &mut Emitter<'_>) {
    while let Some((at, events)) = next_step(lot, now) {
        let first = out.events.len();
        for event in events {
            out.push(at, event);
        }
        for event in &out.events[first..] {
            // Events decided just above from this very lot always fit it.
            if let Err(e) = apply(lot, event) {
                unreachable!("due transition does not fold: {e}");
            }
        }
    }
}

/// The events of every transition due at or before `now`, without a
/// command: what a timer's `Advance` records.
pub fn advance(lot: &Lot, now: Timestamp) -> hammerfall_ports::Events {
    let mut events = hammerfall_ports::Events::new();
    let mut out = Emitter::into(lot.sequence, &mut events);
    if next_due(lot).is_some_and(|t| t <= now) {
        let mut working = lot.clone();
        advance_into(&mut working, now, &mut out);
    }
    events
}
