//! `apply`: fold one event into a lot. No rule lives here: every check was
//! made when the event was decided, so replaying a lot's log rebuilds it
//! exactly.

use hammerfall_ports::{
    AuctionEnded, EnglishState, Event, FixedPriceState, FormatState, FormatTerms, Leader, Lot,
    LotCreated, LotId, LotStatus, Outcome, Reservation, ReservationId, ReservationStatus,
    SaleResult, SequencedEvent, Settlement, SettlementStatus,
};

/// Why an event log cannot be folded (a corrupt or foreign log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The event's sequence is not the lot's next one.
    #[error("event sequence {found} where {expected} was expected")]
    SequenceGap {
        /// The sequence expected.
        expected: u64,
        /// The sequence found.
        found: u64,
    },
    /// The log does not start with `LotCreated`, or has a second one.
    #[error("a lot's log starts with exactly one LotCreated")]
    NotCreatedFirst,
    /// The event does not fit the lot (wrong format, unknown reservation).
    #[error("{event_type} does not fit the lot")]
    Mismatch {
        /// The event type.
        event_type: &'static str,
    },
}

/// Builds a lot from its `LotCreated` event (sequence 1).
pub fn create_from(lot_id: LotId, event: &SequencedEvent) -> Result<Lot, ApplyError> {
    let Event::LotCreated(LotCreated { terms }) = &event.event else {
        return Err(ApplyError::NotCreatedFirst);
    };
    if event.sequence != 1 {
        return Err(ApplyError::SequenceGap {
            expected: 1,
            found: event.sequence,
        });
    }
    let state = match terms.format {
        FormatTerms::English(_) => FormatState::English(EnglishState::default()),
        FormatTerms::FixedPrice(_) => FormatState::FixedPrice(FixedPriceState::default()),
    };
    Ok(Lot {
        lot_id,
        terms: terms.clone(),
        created_at: event.occurred_at,
        status: LotStatus::Scheduled,
        ends_at: terms.ends_at,
        state,
        outcome: None,
        settlement: None,
        cancelled_by: None,
        sequence: 1,
    })
}

/// Rebuilds a lot from its whole log.
pub fn replay<'a>(
    lot_id: LotId,
    events: impl IntoIterator<Item = &'a SequencedEvent>,
) -> Result<Lot, ApplyError> {
    let mut events = events.into_iter();
    let first = events.next().ok_or(ApplyError::NotCreatedFirst)?;
    let mut lot = create_from(lot_id, first)?;
    for event in events {
        apply(&mut lot, event)?;
    }
    Ok(lot)
}

/// Folds `event` into `lot`. The event must carry the lot's next sequence.
#[inline]
pub fn apply(lot: &mut Lot, event: &SequencedEvent) -> Result<(), ApplyError> {
    let expected = lot.sequence + 1;
    if event.sequence != expected {
        return Err(ApplyError::SequenceGap {
            expected,
            found: event.sequence,
        });
    }
    // A bid's events first, inline: they are the hot path (SPEC §2.2).
    let folded = match (&event.event, &mut lot.state) {
        (Event::BidAccepted(bid), FormatState::English(state)) => {
            state.bid_count = bid.bid_count;
            state.current_price = Some(bid.current_price);
            if bid.leader_id == bid.bidder_id {
                state.leader = Some(Leader {
                    bidder_id: bid.bidder_id.clone(),
                    maximum: bid.maximum,
                });
                true
            } else {
                // The leader kept the lead: it must be the lot's leader.
                state
                    .leader
                    .as_ref()
                    .is_some_and(|l| l.bidder_id == bid.leader_id)
            }
        }
        (Event::Outbid { current_price, .. }, FormatState::English(state)) => {
            state.current_price = Some(*current_price);
            true
        }
        _ => return apply_other(lot, event),
    };
    if !folded {
        return Err(mismatch(event));
    }
    lot.sequence = event.sequence;
    Ok(())
}

#[cold]
fn mismatch(event: &SequencedEvent) -> ApplyError {
    ApplyError::Mismatch {
        event_type: event.event.event_type(),
    }
}

/// [`apply`] for every event but a bid's (the sequence already checked).
#[inline(never)]
fn apply_other(lot: &mut Lot, event: &SequencedEvent) -> Result<(), ApplyError> {
    let mismatch = || mismatch(event);
    match &event.event {
        Event::LotCreated(_) => return Err(ApplyError::NotCreatedFirst),
        Event::LotOpened {} => lot.status = LotStatus::Open,
        // An english lot's bid events are folded by `apply`.
        Event::BidAccepted(_) | Event::Outbid { .. } => return Err(mismatch()),
        Event::LotExtended { ends_at } => lot.ends_at = Some(*ends_at),
        Event::AuctionEnded(ended) => {
            lot.status = LotStatus::Closed;
            lot.outcome = Some(outcome_of(ended, event).ok_or_else(mismatch)?);
        }
        Event::LotCancelled { by } => {
            lot.status = LotStatus::Cancelled;
            lot.cancelled_by = Some(by.clone());
        }
        Event::ReservationCreated {
            reservation_id,
            buyer_id,
            expires_at,
            ..
        } => {
            let FormatState::FixedPrice(state) = &mut lot.state else {
                return Err(mismatch());
            };
            state.reservations.push(Reservation {
                reservation_id: reservation_id.clone(),
                buyer_id: buyer_id.clone(),
                created_at: event.occurred_at,
                expires_at: *expires_at,
                status: ReservationStatus::Active,
            });
            lot.status = LotStatus::Reserved;
        }
        Event::ReservationCompleted { reservation_id } => {
            set_reservation(lot, reservation_id, ReservationStatus::Completed)
                .ok_or_else(mismatch)?;
        }
        Event::ReservationCancelled { reservation_id } => {
            set_reservation(lot, reservation_id, ReservationStatus::Cancelled)
                .ok_or_else(mismatch)?;
            reopen(lot);
        }
        Event::ReservationExpired { reservation_id } => {
            set_reservation(lot, reservation_id, ReservationStatus::Expired)
                .ok_or_else(mismatch)?;
            reopen(lot);
        }
        Event::SettlementCreated(s) => {
            let status = if s.total_due.is_zero() {
                SettlementStatus::Paid
            } else {
                SettlementStatus::Pending
            };
            lot.settlement = Some(Settlement {
                buyer_id: s.buyer_id.clone(),
                hammer_price: s.hammer_price,
                buyer_premium: s.buyer_premium,
                total_due: s.total_due,
                due_by: s.due_by,
                status,
            });
        }
        Event::SettlementPaid {} => {
            set_settlement(lot, SettlementStatus::Paid).ok_or_else(mismatch)?
        }
        Event::SettlementDefaulted {} => {
            set_settlement(lot, SettlementStatus::Defaulted).ok_or_else(mismatch)?;
        }
    }
    lot.sequence = event.sequence;
    Ok(())
}

fn outcome_of(ended: &AuctionEnded, event: &SequencedEvent) -> Option<Outcome> {
    let result = match (&ended.winner_id, ended.winning_bid, ended.reason) {
        (Some(winner), Some(hammer), _) => SaleResult::Sold {
            winner_id: winner.clone(),
            hammer_price: hammer,
        },
        (None, None, Some(reason)) => SaleResult::Unsold { reason },
        _ => return None,
    };
    Some(Outcome {
        result,
        ended_by: ended.ended_by,
        ended_at: event.occurred_at,
    })
}

fn set_reservation(lot: &mut Lot, id: &ReservationId, status: ReservationStatus) -> Option<()> {
    let FormatState::FixedPrice(state) = &mut lot.state else {
        return None;
    };
    let reservation = state
        .reservations
        .iter_mut()
        .rev()
        .find(|r| &r.reservation_id == id)?;
    reservation.status = status;
    Some(())
}

fn reopen(lot: &mut Lot) {
    if lot.status == LotStatus::Reserved {
        lot.status = LotStatus::Open;
    }
}

fn set_settlement(lot: &mut Lot, status: SettlementStatus) -> Option<()> {
    lot.settlement.as_mut()?.status = status;
    Some(())
}
