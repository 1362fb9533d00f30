//! From a command's recorded outcome to its HTTP answer. The same
//! rendering serves the synchronous answer, its replays (SPEC §5) and the
//! `result` of an asynchronous command's status.

use crate::limits::{MAX_PAGE_SIZE, MAX_YOUR_MAXIMUM_PAGES};
use crate::problem::Problem;
use crate::views::{BidResult, LotView, ReservationView, SettlementView};
use axum::http::StatusCode;
use hammerfall_ports::{
    Accepted, Actor, Command, CommandOutcome, CommandRecord, Lot, LotStore, Money, StoreError,
};
use serde_json::value::RawValue;

/// A rendered answer: a success body, or a problem.
pub(crate) enum Rendered {
    /// Status and the JSON body, serialized once.
    Body(StatusCode, Box<RawValue>),
    /// A rejection.
    Problem(Problem),
}

/// Renders `record` with `lot` (the lot right after the command).
pub(crate) async fn render<S: LotStore>(
    store: &S,
    record: &CommandRecord,
    lot: Option<&Lot>,
) -> Result<Rendered, Problem> {
    let result = match &record.outcome {
        CommandOutcome::Rejected { rejection, .. } => {
            return Ok(Rendered::Problem(Problem::from(rejection)));
        }
        CommandOutcome::Done { result, .. } => result,
    };
    let lot = lot.ok_or_else(|| Problem::internal(&"an accepted command has no lot"))?;
    let viewer = record.command.actor();
    let body = match (&record.command, result) {
        (Command::CreateLot(_), _) => (StatusCode::CREATED, json(&LotView::of(lot, viewer, None))),
        (
            Command::PlaceBid(_),
            Accepted::Bid {
                bid_id,
                outcome,
                your_maximum,
            },
        ) => (
            StatusCode::CREATED,
            json(&BidResult {
                bid_id: bid_id.clone(),
                outcome: (*outcome).into(),
                your_maximum: *your_maximum,
                lot: LotView::of(lot, viewer, Some(*your_maximum)),
            }),
        ),
        (Command::Reserve { .. }, Accepted::Reservation { reservation_id }) => {
            let reservation = lot
                .fixed_price()
                .and_then(|(_, s)| s.find(reservation_id))
                .ok_or_else(|| Problem::internal(&"an accepted reservation is missing"))?;
            (
                StatusCode::CREATED,
                json(&ReservationView::of(&lot.lot_id, reservation)),
            )
        }
        (Command::RecordPayment { .. }, _) => {
            let settlement = SettlementView::of(lot)
                .ok_or_else(|| Problem::internal(&"a paid lot has no settlement"))?;
            (StatusCode::OK, json(&settlement))
        }
        _ => {
            let mine = your_maximum(store, lot, viewer, &mut { MAX_YOUR_MAXIMUM_PAGES })
                .await
                .map_err(super::store_error)?;
            (StatusCode::OK, json(&LotView::of(lot, viewer, mine)))
        }
    };
    Ok(Rendered::Body(body.0, body.1))
}

fn json<T: serde::Serialize>(value: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_default()
}

/// The viewer's own maximum on `lot` (as of `lot.sequence`): the leader's
/// is in the state; anyone else's is their latest accepted bid, whose
/// maximum is always their highest (a later bid must beat the price, which
/// is at least every earlier losing maximum). Reading the history costs
/// one page per [`MAX_PAGE_SIZE`] bids, taken from `budget`; when the
/// budget runs out the answer is `None` (the field is left out) rather
/// than a wrong, lower maximum.
pub(crate) async fn your_maximum<S: LotStore>(
    store: &S,
    lot: &Lot,
    viewer: Option<&Actor>,
    budget: &mut usize,
) -> Result<Option<Money>, StoreError> {
    let (Some(actor), Some((_, state))) = (viewer, lot.english()) else {
        return Ok(None);
    };
    if let Some(leader) = &state.leader
        && leader.bidder_id == actor.participant_id
    {
        return Ok(Some(leader.maximum));
    }
    if state.bid_count == 0 || &actor.participant_id == lot.seller_id() {
        return Ok(None);
    }
    let mut best: Option<Money> = None;
    let mut cursor = None;
    loop {
        if *budget == 0 {
            return Ok(None);
        }
        *budget -= 1;
        let page = store
            .bids(&lot.lot_id, cursor.as_ref(), MAX_PAGE_SIZE)
            .await?;
        for bid in &page.items {
            if bid.sequence <= lot.sequence && bid.bidder_id == actor.participant_id {
                best = Some(best.map_or(bid.maximum, |b| b.max(bid.maximum)));
            }
        }
        match page.next_cursor {
            Some(next) if page.items.last().is_some_and(|b| b.sequence < lot.sequence) => {
                cursor = Some(next);
            }
            _ => return Ok(best),
        }
    }
}
