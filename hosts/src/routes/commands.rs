//! Command routes: bids, buy now, cancel, reservations, payment, and the
//! status of asynchronously submitted commands.

use super::render::{Rendered, render};
use super::{lot_id, store_error};
use crate::auth::Caller;
use crate::body::{AmountError, JsonObject, exact_decimal};
use crate::problem::{ApiResult, Problem};
use crate::state::{App, AppState};
use crate::views::{CommandState, CommandStatusBody};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hammerfall_engine::CommandStatus;
use hammerfall_ports::{
    Actor, AmountProblem, Command, CommandEnvelope, CommandId, CommandKey, CommandOutcome,
    CreditLedger, CurrencyCode, Decimal, LotId, LotStore, PlaceBid, Rejection, ReservationId,
    Roles,
};
use std::time::Instant;

/// The idempotency header (SPEC §5).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// `Prefer: respond-async` asks for 202 + `Location` (SPEC §7).
pub const PREFER: &str = "prefer";

/// The command id: the `Idempotency-Key` header, or a fresh one.
fn command_id<S: LotStore, L: CreditLedger>(
    app: &App<S, L>,
    headers: &HeaderMap,
) -> ApiResult<CommandId> {
    match headers.get(IDEMPOTENCY_KEY) {
        None => Ok(app.service.ports().ids.command_id()),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| CommandId::new(v).ok())
            .ok_or_else(|| {
                Problem::invalid(
                    "Idempotency-Key",
                    "Idempotency-Key must be 1–128 visible characters without spaces",
                )
            }),
    }
}

fn prefers_async(headers: &HeaderMap) -> bool {
    headers.get_all(PREFER).iter().any(|v| {
        v.to_str().is_ok_and(|text| {
            text.split(',')
                .any(|pref| pref.trim().eq_ignore_ascii_case("respond-async"))
        })
    })
}

/// Submits `command` for `lot_id` and answers: 202 + `Location` when the
/// caller prefers asynchronous processing, else the rendered outcome.
pub(crate) async fn execute<S: LotStore, L: CreditLedger>(
    app: &App<S, L>,
    headers: &HeaderMap,
    lot_id: LotId,
    command: Command,
) -> ApiResult<Response> {
    let command_id = command_id(app, headers)?;
    let envelope = CommandEnvelope::new(command_id.clone(), lot_id.clone(), command);
    if let Some(sink) = &app.sink {
        // Queued writes (SPEC §7): every command is answered as if
        // `Prefer: respond-async` had been sent.
        let now = app.service.ports().clock.now();
        sink.enqueue(&envelope, now).await?;
        return Ok(accepted(&lot_id, &command_id));
    }
    if prefers_async(headers) {
        app.service.submit_async(envelope)?;
        return Ok(accepted(&lot_id, &command_id));
    }
    let name = envelope.command.name();
    let started = Instant::now();
    let response = app.service.submit(envelope).await?;
    app.metrics.command(
        name,
        response.rejection().map(Rejection::code),
        started.elapsed(),
    );
    let rendered = render(app.store(), &response.record, response.lot.as_ref()).await?;
    Ok(match rendered {
        Rendered::Problem(problem) => problem.into_response(),
        Rendered::Body(status, body) => {
            let mut answer = (status, axum::Json(body)).into_response();
            if matches!(response.record.command, Command::CreateLot(_))
                && let Ok(value) =
                    HeaderValue::from_str(&format!("/lots/{}", response.record.lot_id))
            {
                answer.headers_mut().insert(header::LOCATION, value);
            }
            answer
        }
    })
}

/// 202 `{commandId, status: "pending"}` with the command's `Location`.
fn accepted(lot_id: &LotId, command_id: &CommandId) -> Response {
    let location = format!("/lots/{lot_id}/commands/{command_id}");
    let body = CommandStatusBody {
        command_id: command_id.to_string(),
        status: CommandState::Pending,
        result: None,
        error: None,
    };
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The bid body: `{amount, currency?}`. A non-numeric amount is 400; an
/// amount no `Decimal` can hold is passed on as one the engine refuses for
/// the same reason, so the SPEC §2.1 order of checks is kept.
fn bid_command(
    app_ids: &dyn hammerfall_ports::IdGenerator,
    bidder: Actor,
    body: &[u8],
) -> ApiResult<Command> {
    let body = JsonObject::parse(body)?;
    let raw = body
        .raw("amount")
        .ok_or_else(|| Problem::invalid("amount", "amount is required"))?;
    let amount = match exact_decimal(raw) {
        Ok(amount) => amount,
        Err(AmountError::NotNumeric) => {
            return Err(Problem::malformed("amount must be a decimal number"));
        }
        Err(AmountError::Unrepresentable(AmountProblem::TooPrecise)) => Decimal::new(1, 28),
        Err(AmountError::Unrepresentable(_)) => Decimal::MAX,
    };
    let currency = body
        .string("currency")?
        .map(|c| {
            CurrencyCode::new(&c).map_err(|_| {
                Problem::invalid("currency", "currency must be three upper-case letters")
            })
        })
        .transpose()?;
    Ok(Command::PlaceBid(PlaceBid {
        bidder,
        amount,
        currency,
        bid_id: app_ids.bid_id(),
    }))
}

/// `POST /lots/{lotId}/bids`
#[utoipa::path(
    post,
    path = "/lots/{lotId}/bids",
    tag = "bidding",
    params(
        ("lotId" = String, Path, description = "The lot"),
        crate::openapi::CommandHeaders,
    ),
    request_body(content = crate::openapi::BidRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Bid accepted (leading or outbid at once)", body = crate::views::BidResult),
        (status = 202, description = "Queued (Prefer: respond-async); poll Location", body = crate::views::CommandStatusBody, headers(("Location" = String, description = "The command's status"))),
        (status = 400, description = "Body is not JSON or the amount is not numeric (invalid_request)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, seller_cannot_bid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "bidding_not_supported, lot_closed, lot_not_open, bid_too_low (with minBid), insufficient_credit", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "currency_mismatch, invalid_amount, invalid_request, idempotency_conflict", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable: retry with the same Idempotency-Key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn place_bid<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path(lot): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let bidder = caller.require_role(Roles::BIDDER, "bidder")?.clone();
    let command = bid_command(&*app.service.ports().ids, bidder, &body)?;
    execute(&app, &headers, lot_id(&lot)?, command).await
}

/// `POST /lots/{lotId}/buy-now`
#[utoipa::path(
    post,
    path = "/lots/{lotId}/buy-now",
    tag = "bidding",
    params(("lotId" = String, Path, description = "The lot"), crate::openapi::CommandHeaders),
    request_body(content = Option<crate::openapi::EmptyRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Bought: the closed lot", body = crate::views::LotView),
        (status = 202, description = "Queued (Prefer: respond-async)", body = crate::views::CommandStatusBody, headers(("Location" = String, description = "The command's status"))),
        (status = 400, description = "invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, seller_cannot_bid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "buy_now_unavailable, lot_closed, lot_not_open, insufficient_credit", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request, idempotency_conflict", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn buy_now<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path(lot): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let buyer = caller.require_role(Roles::BIDDER, "bidder")?.clone();
    JsonObject::parse_optional(&body)?;
    execute(&app, &headers, lot_id(&lot)?, Command::BuyNow { buyer }).await
}

/// `POST /lots/{lotId}/cancel`
#[utoipa::path(
    post,
    path = "/lots/{lotId}/cancel",
    tag = "lots",
    params(("lotId" = String, Path, description = "The lot"), crate::openapi::CommandHeaders),
    request_body(content = Option<crate::openapi::EmptyRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Cancelled: the lot", body = crate::views::LotView),
        (status = 202, description = "Queued (Prefer: respond-async)", body = crate::views::CommandStatusBody, headers(("Location" = String, description = "The command's status"))),
        (status = 400, description = "invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: neither the seller nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "cancel_not_allowed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request, idempotency_conflict", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn cancel_lot<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path(lot): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let by = caller.require()?.clone();
    JsonObject::parse_optional(&body)?;
    execute(&app, &headers, lot_id(&lot)?, Command::CancelLot { by }).await
}

/// `POST /lots/{lotId}/reservations`
#[utoipa::path(
    post,
    path = "/lots/{lotId}/reservations",
    tag = "reservations",
    params(("lotId" = String, Path, description = "The lot"), crate::openapi::CommandHeaders),
    request_body(content = Option<crate::openapi::EmptyRequest>, content_type = "application/json"),
    responses(
        (status = 201, description = "Reserved", body = crate::views::ReservationView),
        (status = 202, description = "Queued (Prefer: respond-async)", body = crate::views::CommandStatusBody, headers(("Location" = String, description = "The command's status"))),
        (status = 400, description = "invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, seller_cannot_reserve", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "reservation_not_supported, lot_closed, lot_not_open, already_reserved", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request, idempotency_conflict", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn reserve<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path(lot): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let buyer = caller.require_role(Roles::BIDDER, "bidder")?.clone();
    JsonObject::parse_optional(&body)?;
    let reservation_id = app.service.ports().ids.reservation_id();
    let command = Command::Reserve {
        buyer,
        reservation_id,
    };
    execute(&app, &headers, lot_id(&lot)?, command).await
}

fn reservation_id(text: &str) -> ApiResult<ReservationId> {
    ReservationId::new(text).map_err(|_| Problem::from(Rejection::ReservationNotFound))
}

/// `POST /lots/{lotId}/reservations/{reservationId}/complete`
#[utoipa::path(
    post,
    path = "/lots/{lotId}/reservations/{reservationId}/complete",
    tag = "reservations",
    params(
        ("lotId" = String, Path, description = "The lot"),
        ("reservationId" = String, Path, description = "The reservation"),
        crate::openapi::CommandHeaders,
    ),
    request_body(content = Option<crate::openapi::EmptyRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Purchased: the closed lot", body = crate::views::LotView),
        (status = 202, description = "Queued (Prefer: respond-async)", body = crate::views::CommandStatusBody, headers(("Location" = String, description = "The command's status"))),
        (status = 400, description = "invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not the seller, the buyer or an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found, reservation_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "reservation_expired, reservation_not_active, reservation_not_supported", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request, idempotency_conflict", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn complete_reservation<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path((lot, reservation)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let by = caller.require()?.clone();
    JsonObject::parse_optional(&body)?;
    let lot_id = lot_id(&lot)?;
    let command = Command::CompleteReservation {
        by,
        reservation_id: reservation_id(&reservation)?,
    };
    execute(&app, &headers, lot_id, command).await
}

/// `POST /lots/{lotId}/reservations/{reservationId}/cancel`
#[utoipa::path(
    post,
    path = "/lots/{lotId}/reservations/{reservationId}/cancel",
    tag = "reservations",
    params(
        ("lotId" = String, Path, description = "The lot"),
        ("reservationId" = String, Path, description = "The reservation"),
        crate::openapi::CommandHeaders,
    ),
    request_body(content = Option<crate::openapi::EmptyRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Cancelled: the lot, open again", body = crate::views::LotView),
        (status = 202, description = "Queued (Prefer: respond-async)", body = crate::views::CommandStatusBody, headers(("Location" = String, description = "The command's status"))),
        (status = 400, description = "invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not the seller, the buyer or an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found, reservation_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "reservation_not_active, reservation_not_supported", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request, idempotency_conflict", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn cancel_reservation<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path((lot, reservation)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let by = caller.require()?.clone();
    JsonObject::parse_optional(&body)?;
    let lot_id = lot_id(&lot)?;
    let command = Command::CancelReservation {
        by,
        reservation_id: reservation_id(&reservation)?,
    };
    execute(&app, &headers, lot_id, command).await
}

/// `POST /lots/{lotId}/settlement/payment`
#[utoipa::path(
    post,
    path = "/lots/{lotId}/settlement/payment",
    tag = "settlement",
    params(("lotId" = String, Path, description = "The lot"), crate::openapi::CommandHeaders),
    request_body(content = Option<crate::openapi::EmptyRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Paid: the settlement", body = crate::views::SettlementView),
        (status = 202, description = "Queued (Prefer: respond-async)", body = crate::views::CommandStatusBody, headers(("Location" = String, description = "The command's status"))),
        (status = 400, description = "invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not the buyer nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found, settlement_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "already_paid, settlement_defaulted", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request, idempotency_conflict", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn record_payment<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path(lot): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let by = caller.require()?.clone();
    JsonObject::parse_optional(&body)?;
    execute(&app, &headers, lot_id(&lot)?, Command::RecordPayment { by }).await
}

/// `GET /lots/{lotId}/commands/{commandId}`: the submitter's command only;
/// anyone else's (or an unknown one) is 404.
#[utoipa::path(
    get,
    path = "/lots/{lotId}/commands/{commandId}",
    tag = "commands",
    params(
        ("lotId" = String, Path, description = "The lot (for lot creation: the new lot's id from Location)"),
        ("commandId" = String, Path, description = "The command id (Idempotency-Key)"),
    ),
    responses(
        (status = 200, description = "pending, done (with result) or rejected (with error)", body = CommandStatusBody),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (unknown, or someone else's), lot_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn status<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path((lot, command)): Path<(String, String)>,
) -> ApiResult<Response> {
    let submitter = caller.require()?.participant_id.clone();
    let not_found = || Problem::not_found("no such command of yours on this lot");
    let lot_id = lot_id(&lot)?;
    let command_id = CommandId::new(&command).map_err(|_| not_found())?;
    let on_lot = CommandKey {
        lot_id: Some(lot_id.clone()),
        submitter: Some(submitter.clone()),
        command_id: command_id.clone(),
    };
    let creation = CommandKey {
        lot_id: None,
        ..on_lot.clone()
    };
    let mut found = app.service.status(&on_lot).await?;
    if found.is_none() {
        found = app.service.status(&creation).await?.filter(|s| match s {
            CommandStatus::Pending => true,
            CommandStatus::Recorded(record) => record.lot_id == lot_id,
        });
    }
    // Queued writes: not judged yet, but queued by this caller.
    if found.is_none()
        && let Some(sink) = &app.sink
        && sink.is_pending(&lot_id, &submitter, &command_id).await?
    {
        found = Some(CommandStatus::Pending);
    }
    let body = match found {
        None => {
            return Err(
                match app.store().load(&lot_id).await.map_err(store_error)? {
                    None => Problem::from(Rejection::LotNotFound),
                    Some(_) => not_found(),
                },
            );
        }
        Some(CommandStatus::Pending) => CommandStatusBody {
            command_id: command_id.to_string(),
            status: CommandState::Pending,
            result: None,
            error: None,
        },
        Some(CommandStatus::Recorded(record)) => {
            let sequence = match &record.outcome {
                CommandOutcome::Done { sequence, .. }
                | CommandOutcome::Rejected { sequence, .. } => *sequence,
            };
            let lot = match &record.outcome {
                CommandOutcome::Done { .. } => {
                    hammerfall_engine::lot_at(app.store(), &record.lot_id, sequence)
                        .await
                        .map_err(store_error)?
                }
                CommandOutcome::Rejected { .. } => None,
            };
            match render(app.store(), &record, lot.as_ref()).await? {
                Rendered::Body(_, result) => CommandStatusBody {
                    command_id: command_id.to_string(),
                    status: CommandState::Done,
                    result: Some(result),
                    error: None,
                },
                Rendered::Problem(problem) => CommandStatusBody {
                    command_id: command_id.to_string(),
                    status: CommandState::Rejected,
                    result: None,
                    error: Some(problem),
                },
            }
        }
    };
    Ok(axum::Json(body).into_response())
}
