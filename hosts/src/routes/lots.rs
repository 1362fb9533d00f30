//! Lot routes: create, read one, list.

use super::commands::execute;
use super::render::your_maximum;
use super::{QueryParams, listing_error, lot_id, store_error};
use crate::auth::Caller;
use crate::body::JsonObject;
use crate::limits::{MAX_TITLE_CHARS, MAX_YOUR_MAXIMUM_PAGES};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;
use crate::views::{LotPage, LotView};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use hammerfall_ports::{
    Actor, Command, CreateLot, CreditLedger, Currency, Cursor, Format, LotId, LotQuery, LotStatus,
    LotStore, ParticipantId, Rejection, Roles, SoftCloseInput, TierInput,
};
use std::collections::HashMap;

/// Reads the create-lot body (SPEC §7) into the command; the engine judges
/// the values (ranges, format rules) and answers 422 `invalid_request`.
fn create_lot_command(body: &JsonObject, lot_id: LotId, seller: Actor) -> ApiResult<CreateLot> {
    let title = body.required("title", JsonObject::string)?;
    let chars = title.chars().count();
    if chars == 0 || chars > MAX_TITLE_CHARS {
        return Err(Problem::invalid(
            "title",
            format!("title must be 1–{MAX_TITLE_CHARS} characters"),
        ));
    }
    let format = match body.required("format", JsonObject::string)?.as_str() {
        "english" => Format::English,
        "fixed_price" => Format::FixedPrice,
        _ => {
            return Err(Problem::invalid(
                "format",
                "format must be \"english\" or \"fixed_price\"",
            ));
        }
    };
    let currency: Currency = body
        .required("currency", JsonObject::string)?
        .parse()
        .map_err(|e| Problem::invalid("currency", format!("currency: {e}")))?;
    let increments = body
        .objects("increments")?
        .map(|tiers| {
            tiers
                .iter()
                .map(|tier| {
                    Ok(TierInput {
                        from: tier.required("from", JsonObject::decimal)?,
                        step: tier.required("step", JsonObject::decimal)?,
                    })
                })
                .collect::<ApiResult<Vec<_>>>()
        })
        .transpose()
        .map_err(|p| Problem::invalid("increments", p.detail.unwrap_or_default()))?;
    let soft_close = body
        .object("softClose")?
        .map(|sc| {
            Ok::<_, Problem>(SoftCloseInput {
                window_secs: sc.required("windowSecs", JsonObject::integer)?,
                extension_secs: sc.required("extensionSecs", JsonObject::integer)?,
            })
        })
        .transpose()
        .map_err(|p| Problem::invalid("softClose", p.detail.unwrap_or_default()))?;
    Ok(CreateLot {
        lot_id,
        seller,
        title,
        format,
        currency,
        starting_price: body.decimal("startingPrice")?,
        reserve_price: body.decimal("reservePrice")?,
        buy_now_price: body.decimal("buyNowPrice")?,
        increments,
        soft_close,
        buyer_premium_rate: body.decimal("buyerPremiumRate")?,
        credit_check: body.boolean("creditCheck")?,
        payment_window_secs: body.integer("paymentWindowSecs")?,
        price: body.decimal("price")?,
        hold_secs: body.integer("holdSecs")?,
        starts_at: body.timestamp("startsAt")?,
        ends_at: body.timestamp("endsAt")?,
    })
}

/// `POST /lots`
#[utoipa::path(
    post,
    path = "/lots",
    tag = "lots",
    params(crate::openapi::CommandHeaders),
    request_body(content = crate::openapi::CreateLotRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = LotView, headers(("Location" = String, description = "The new lot"))),
        (status = 202, description = "Queued (Prefer: respond-async); poll Location", body = crate::views::CommandStatusBody, headers(("Location" = String, description = "The command's status"))),
        (status = 400, description = "invalid_request: not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a seller", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request (missing or invalid value), idempotency_conflict", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let seller = caller.require_role(Roles::SELLER, "seller")?.clone();
    let body = JsonObject::parse(&body)?;
    let lot_id = app.service.ports().ids.lot_id();
    let command = create_lot_command(&body, lot_id.clone(), seller)?;
    execute(
        &app,
        &headers,
        lot_id,
        Command::CreateLot(Box::new(command)),
    )
    .await
}

/// `GET /lots/{lotId}`
#[utoipa::path(
    get,
    path = "/lots/{lotId}",
    tag = "lots",
    params(("lotId" = String, Path, description = "The lot")),
    responses(
        (status = 200, description = "The lot (with the caller's private fields)", body = LotView),
        (status = 401, description = "unauthorized: bad credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn get_lot<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path(lot): Path<String>,
) -> ApiResult<Json<LotView>> {
    let lot_id = lot_id(&lot)?;
    let lot = app
        .store()
        .load(&lot_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| Problem::from(Rejection::LotNotFound))?;
    let mut budget = MAX_YOUR_MAXIMUM_PAGES;
    let mine = your_maximum(app.store(), &lot, caller.actor(), &mut budget)
        .await
        .map_err(store_error)?;
    Ok(Json(LotView::of(&lot, caller.actor(), mine)))
}

fn status_filter(text: &str) -> ApiResult<LotStatus> {
    Ok(match text {
        "scheduled" => LotStatus::Scheduled,
        "open" => LotStatus::Open,
        "reserved" => LotStatus::Reserved,
        "closed" => LotStatus::Closed,
        "cancelled" => LotStatus::Cancelled,
        _ => {
            return Err(Problem::invalid(
                "status",
                "status must be scheduled, open, reserved, closed or cancelled",
            ));
        }
    })
}

/// `GET /lots?status=&sellerId=&cursor=&limit=`
#[utoipa::path(
    get,
    path = "/lots",
    tag = "lots",
    params(
        ("status" = Option<crate::views::StatusName>, Query, description = "Only lots in this status"),
        ("sellerId" = Option<String>, Query, description = "Only lots of this seller"),
        ("cursor" = Option<String>, Query, description = "nextCursor of the previous page"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Page size (default 100; above 1000 is clamped)"),
    ),
    responses(
        (status = 200, description = "A page of lots, oldest first", body = LotPage),
        (status = 401, description = "unauthorized: bad credentials", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request: bad filter, cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn list<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<LotPage>> {
    let query = QueryParams::new(query);
    let status = query.text("status").map(status_filter).transpose()?;
    let seller_id = query
        .text("sellerId")
        .map(|s| {
            ParticipantId::new(s)
                .map_err(|_| Problem::invalid("sellerId", "sellerId is not a valid participant id"))
        })
        .transpose()?;
    let cursor = query.text("cursor").map(|c| Cursor(c.to_owned()));
    let cursor_given = cursor.is_some();
    let lot_query = LotQuery {
        status,
        seller_id,
        cursor,
        limit: query.limit()?,
    };
    let page = app
        .store()
        .lots(&lot_query)
        .await
        .map_err(|e| listing_error(e, cursor_given))?;
    let mut items = Vec::with_capacity(page.items.len());
    // One budget for the whole page: a listing never reads more history
    // than a single lot view may.
    let mut budget = MAX_YOUR_MAXIMUM_PAGES;
    for lot in &page.items {
        let mine = your_maximum(app.store(), lot, caller.actor(), &mut budget)
            .await
            .map_err(store_error)?;
        items.push(LotView::of(lot, caller.actor(), mine));
    }
    Ok(Json(LotPage {
        items,
        next_cursor: page.next_cursor.map(|c| c.0),
    }))
}
