//! Cancelling lots, fixed-price reservations and payments (SPEC §2.4, §3,
//! §4, §9).

use crate::emit::Emitter;
use crate::settle::{fixed_price_unsold, sale};
use hammerfall_ports::{
    Actor, EndedBy, Event, Lot, LotStatus, Rejection, ReservationId, ReservationStatus, Roles,
    SettlementStatus, Timestamp,
};

/// Decides a cancellation: the seller while nothing binds the lot (no
/// accepted bid, no active reservation, not final); an admin any lot not yet
/// closed or cancelled; anyone else is forbidden.
pub(crate) fn cancel_lot(
    lot: &Lot,
    by: &Actor,
    now: Timestamp,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    let is_seller = &by.participant_id == lot.seller_id();
    if !by.is_admin() && !is_seller {
        return Err(Rejection::Forbidden);
    }
    if lot.status.is_final() {
        return Err(Rejection::CancelNotAllowed);
    }
    let bound =
        lot.english().is_some_and(|(_, s)| s.bid_count > 0) || lot.status == LotStatus::Reserved;
    if bound && !by.is_admin() {
        return Err(Rejection::CancelNotAllowed);
    }
    if let Some(active) = lot.fixed_price().and_then(|(_, s)| s.active()) {
        out.push(
            now,
            Event::ReservationCancelled {
                reservation_id: active.reservation_id.clone(),
            },
        );
    }
    out.push(
        now,
        Event::LotCancelled {
            by: by.participant_id.clone(),
        },
    );
    Ok(())
}

/// Decides a reservation, checks in SPEC §9 order.
pub(crate) fn reserve(
    lot: &Lot,
    buyer: &Actor,
    reservation_id: &ReservationId,
    now: Timestamp,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    if !buyer.roles.contains(Roles::BIDDER) {
        return Err(Rejection::Forbidden);
    }
    let (terms, state) = lot
        .fixed_price()
        .ok_or(Rejection::ReservationNotSupported)?;
    if &buyer.participant_id == lot.seller_id() {
        return Err(Rejection::SellerCannotReserve);
    }
    if lot.status.is_final() {
        return Err(Rejection::LotClosed);
    }
    if lot.status == LotStatus::Scheduled {
        return Err(Rejection::LotNotOpen);
    }
    if state.active().is_some() {
        return Err(Rejection::AlreadyReserved);
    }
    out.push(
        now,
        Event::ReservationCreated {
            reservation_id: reservation_id.clone(),
            buyer_id: buyer.participant_id.clone(),
            seller_id: lot.seller_id().clone(),
            expires_at: now + terms.hold,
        },
    );
    Ok(())
}

/// The reservation `id` if `by` may act on it (seller, buyer or admin).
fn party_to<'a>(
    lot: &'a Lot,
    id: &ReservationId,
    by: &Actor,
) -> Result<&'a hammerfall_ports::Reservation, Rejection> {
    let (_, state) = lot.fixed_price().ok_or(Rejection::ReservationNotFound)?;
    let reservation = state.find(id).ok_or(Rejection::ReservationNotFound)?;
    let party = by.is_admin()
        || &by.participant_id == lot.seller_id()
        || by.participant_id == reservation.buyer_id;
    if !party {
        return Err(Rejection::Forbidden);
    }
    Ok(reservation)
}

/// Decides completing a reservation: the lot is sold to its buyer.
pub(crate) fn complete_reservation(
    lot: &Lot,
    by: &Actor,
    id: &ReservationId,
    now: Timestamp,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    let reservation = party_to(lot, id, by)?;
    match reservation.status {
        ReservationStatus::Active => {}
        ReservationStatus::Expired => return Err(Rejection::ReservationExpired),
        ReservationStatus::Completed | ReservationStatus::Cancelled => {
            return Err(Rejection::ReservationNotActive);
        }
    }
    let Some((terms, _)) = lot.fixed_price() else {
        return Err(Rejection::ReservationNotFound);
    };
    out.push(
        now,
        Event::ReservationCompleted {
            reservation_id: id.clone(),
        },
    );
    for event in sale(
        lot,
        &reservation.buyer_id,
        terms.price,
        EndedBy::Reservation,
        now,
    ) {
        out.push(now, event);
    }
    Ok(())
}

/// Decides cancelling a reservation: the lot is open again, or closes
/// unsold if its listing end has passed (SPEC §9).
pub(crate) fn cancel_reservation(
    lot: &Lot,
    by: &Actor,
    id: &ReservationId,
    now: Timestamp,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    let reservation = party_to(lot, id, by)?;
    if reservation.status != ReservationStatus::Active {
        return Err(Rejection::ReservationNotActive);
    }
    out.push(
        now,
        Event::ReservationCancelled {
            reservation_id: id.clone(),
        },
    );
    if lot.ends_at.is_some_and(|end| end <= now) {
        out.push(now, fixed_price_unsold());
    }
    Ok(())
}

/// Decides recording a payment (buyer or admin).
pub(crate) fn record_payment(
    lot: &Lot,
    by: &Actor,
    now: Timestamp,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    let settlement = lot
        .settlement
        .as_ref()
        .ok_or(Rejection::SettlementNotFound)?;
    if !by.is_admin() && by.participant_id != settlement.buyer_id {
        return Err(Rejection::Forbidden);
    }
    match settlement.status {
        SettlementStatus::Pending => {
            out.push(now, Event::SettlementPaid {});
            Ok(())
        }
        SettlementStatus::Paid => Err(Rejection::AlreadyPaid),
        SettlementStatus::Defaulted => Err(Rejection::SettlementDefaulted),
    }
}
