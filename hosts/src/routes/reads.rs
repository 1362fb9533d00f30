//! Read routes: bid history, event log, settlement. Reads never change
//! state (SPEC §9).

use super::{QueryParams, listing_error, lot_id, store_error};
use crate::auth::Caller;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;
use crate::views::{BidHistoryItem, BidPage, EventPage, SettlementView};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use hammerfall_ports::{CreditLedger, Cursor, EventEnvelope, Lot, LotId, LotStore, Rejection};
use std::collections::HashMap;

async fn existing_lot<S: LotStore>(store: &S, lot_id: &LotId) -> ApiResult<Lot> {
    store
        .load(lot_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| Problem::from(Rejection::LotNotFound))
}

/// `GET /lots/{lotId}/bids?cursor=&limit=`
#[utoipa::path(
    get,
    path = "/lots/{lotId}/bids",
    tag = "bidding",
    params(
        ("lotId" = String, Path, description = "The lot"),
        ("cursor" = Option<String>, Query, description = "nextCursor of the previous page"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Page size (default 100; above 1000 is clamped)"),
    ),
    responses(
        (status = 200, description = "Bid history in sequence order; `maximum` only on the caller's own bids (all bids for admins)", body = BidPage),
        (status = 401, description = "unauthorized: bad credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request: bad cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn bid_history<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path(lot): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<BidPage>> {
    let query = QueryParams::new(query);
    let lot_id = lot_id(&lot)?;
    let limit = query.limit()?;
    let cursor = query.text("cursor").map(|c| Cursor(c.to_owned()));
    existing_lot(app.store(), &lot_id).await?;
    let page = app
        .store()
        .bids(&lot_id, cursor.as_ref(), limit)
        .await
        .map_err(|e| listing_error(e, cursor.is_some()))?;
    Ok(Json(BidPage {
        items: page
            .items
            .iter()
            .map(|bid| BidHistoryItem::of(bid, caller.actor()))
            .collect(),
        next_cursor: page.next_cursor.map(|c| c.0),
    }))
}

/// `GET /lots/{lotId}/events?after=&limit=`
#[utoipa::path(
    get,
    path = "/lots/{lotId}/events",
    tag = "events",
    params(
        ("lotId" = String, Path, description = "The lot"),
        ("after" = Option<i64>, Query, minimum = 0, description = "Only events with a greater sequence (default 0)"),
        ("cursor" = Option<String>, Query, description = "nextCursor of the previous page (not with after)"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Page size (default 100; above 1000 is clamped)"),
    ),
    responses(
        (status = 200, description = "Public event envelopes in sequence order", body = EventPage),
        (status = 401, description = "unauthorized: bad credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request: bad after, cursor or limit, or both after and cursor", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn events<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Path(lot): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<EventPage>> {
    let query = QueryParams::new(query);
    let lot_id = lot_id(&lot)?;
    let limit = query.limit()?;
    let after = query.number("after")?;
    let cursor = query
        .text("cursor")
        .map(|c| {
            c.parse::<u64>()
                .map_err(|_| Problem::invalid("cursor", "cursor is not a cursor of this listing"))
        })
        .transpose()?;
    let after = match (after, cursor) {
        (Some(_), Some(_)) => {
            return Err(Problem::invalid("cursor", "give after or cursor, not both"));
        }
        (a, c) => a.or(c).unwrap_or(0),
    };
    existing_lot(app.store(), &lot_id).await?;
    let events = app
        .store()
        .events_after(&lot_id, after, limit)
        .await
        .map_err(store_error)?;
    let last = events.last().map(|e| e.sequence);
    let more = match last {
        Some(last) if events.len() >= limit => !app
            .store()
            .events_after(&lot_id, last, 1)
            .await
            .map_err(store_error)?
            .is_empty(),
        _ => false,
    };
    Ok(Json(EventPage {
        items: events
            .into_iter()
            .map(|e| EventEnvelope::new(lot_id.clone(), e).to_public_json())
            .collect(),
        next_cursor: last.filter(|_| more).map(|s| s.to_string()),
    }))
}

/// `GET /lots/{lotId}/settlement`: its seller, its buyer and admins only.
#[utoipa::path(
    get,
    path = "/lots/{lotId}/settlement",
    tag = "settlement",
    params(("lotId" = String, Path, description = "The lot")),
    responses(
        (status = 200, description = "The settlement", body = SettlementView),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not the seller, the buyer or an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found, settlement_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn settlement<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path(lot): Path<String>,
) -> ApiResult<Json<SettlementView>> {
    caller.require()?;
    let lot = existing_lot(app.store(), &lot_id(&lot)?).await?;
    let settlement =
        SettlementView::of(&lot).ok_or_else(|| Problem::from(Rejection::SettlementNotFound))?;
    if !(caller.is_admin() || caller.is(&settlement.seller_id) || caller.is(&settlement.buyer_id)) {
        return Err(Problem::forbidden(
            "only the seller, the buyer and admins see a settlement",
        ));
    }
    Ok(Json(settlement))
}
