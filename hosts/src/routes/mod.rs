//! The HTTP API (SPEC §7): one axum `Router` for every host.

pub(crate) mod commands;
pub(crate) mod credit;
pub(crate) mod live;
pub(crate) mod lots;
pub(crate) mod ops;
pub(crate) mod reads;
mod render;

use crate::auth::Caller;
use crate::limits::{DEFAULT_PAGE_SIZE, MAX_BODY_BYTES, MAX_PAGE_SIZE};
use crate::problem::{PROBLEM_JSON, Problem};
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hammerfall_ports::{CreditLedger, LotId, LotStore, Rejection, StoreError};
use std::collections::HashMap;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

pub use commands::{IDEMPOTENCY_KEY, PREFER};

/// The router: every route of SPEC §7 on `state`. Unknown routes answer a
/// 404 `not_found` problem; every error body is `application/problem+json`.
pub fn router<S: LotStore, L: CreditLedger>(state: AppState<S, L>) -> Router {
    let api = Router::new()
        .route("/lots", post(lots::create::<S, L>).get(lots::list::<S, L>))
        .route("/lots/{lot_id}", get(lots::get_lot::<S, L>))
        .route(
            "/lots/{lot_id}/bids",
            post(commands::place_bid::<S, L>).get(reads::bid_history::<S, L>),
        )
        .route("/lots/{lot_id}/buy-now", post(commands::buy_now::<S, L>))
        .route("/lots/{lot_id}/cancel", post(commands::cancel_lot::<S, L>))
        .route(
            "/lots/{lot_id}/reservations",
            post(commands::reserve::<S, L>),
        )
        .route(
            "/lots/{lot_id}/reservations/{reservation_id}/complete",
            post(commands::complete_reservation::<S, L>),
        )
        .route(
            "/lots/{lot_id}/reservations/{reservation_id}/cancel",
            post(commands::cancel_reservation::<S, L>),
        )
        .route("/lots/{lot_id}/settlement", get(reads::settlement::<S, L>))
        .route(
            "/lots/{lot_id}/settlement/payment",
            post(commands::record_payment::<S, L>),
        )
        .route(
            "/lots/{lot_id}/commands/{command_id}",
            get(commands::status::<S, L>),
        )
        .route("/lots/{lot_id}/events", get(reads::events::<S, L>))
        .route("/lots/{lot_id}/live", get(live::live::<S, L>))
        .route(
            "/participants/{participant_id}/credit",
            get(credit::get_credit::<S, L>).put(credit::set_credit::<S, L>),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            authenticate::<S, L>,
        ));
    let ops = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz::<S, L>))
        .route("/metrics", get(ops::metrics::<S, L>))
        .route("/openapi.json", get(ops::openapi));
    api.merge(ops)
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::map_response(problemize))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Authenticates the caller (401 on bad credentials, even on public reads),
/// applies the per-participant rate limit (429), and hands the [`Caller`]
/// to the handler.
async fn authenticate<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match app.auth.authenticate(request.headers()) {
        Ok(caller) => caller,
        Err(problem) => return problem.into_response(),
    };
    if let Some(actor) = &caller
        && let Err(wait) = app.limiter.check(&actor.participant_id)
    {
        return Problem::rate_limited(wait).into_response();
    }
    request.extensions_mut().insert(Caller(caller));
    next.run(request).await
}

/// Turns the framework's own error answers (bad path encoding, body too
/// large, …) into problem bodies, so every error has a `code`.
async fn problemize(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let problem = match status {
        StatusCode::NOT_FOUND => Problem::not_found("no such route"),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "method_not_allowed",
            "this route does not take that method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            status,
            "invalid_request",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        ),
        s if s.is_server_error() => Problem::internal(&format!("framework answered {s}")),
        s => Problem::new(s, "invalid_request", "the request is malformed"),
    };
    problem.into_response()
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Problem::internal(&"a request handler panicked").into_response()
}

/// A path's lot id; ids that cannot exist are simply not found.
pub(crate) fn lot_id(text: &str) -> Result<LotId, Problem> {
    LotId::new(text).map_err(|_| Problem::from(Rejection::LotNotFound))
}

/// Query parameters, read by hand so bad values are 422 naming the field.
pub(crate) struct QueryParams(HashMap<String, String>);

impl QueryParams {
    pub(crate) fn new(map: HashMap<String, String>) -> Self {
        Self(map)
    }

    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A whole number from 0 to `i64::MAX` (what the document promises).
    pub(crate) fn number(&self, name: &str) -> Result<Option<u64>, Problem> {
        self.text(name)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| {
                        Problem::invalid(
                            name,
                            format!("{name} must be a non-negative whole number"),
                        )
                    })
            })
            .transpose()
    }

    /// `limit`: default [`DEFAULT_PAGE_SIZE`], at least 1, clamped to [`MAX_PAGE_SIZE`].
    pub(crate) fn limit(&self) -> Result<usize, Problem> {
        match self.number("limit")? {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(0) => Err(Problem::invalid("limit", "limit must be at least 1")),
            Some(n) => Ok(usize::try_from(n)
                .unwrap_or(MAX_PAGE_SIZE)
                .min(MAX_PAGE_SIZE)),
        }
    }
}

/// A store failure on a listing: a cursor the store does not recognise is
/// the caller's mistake (422), anything else the server's.
pub(crate) fn listing_error(e: StoreError, cursor_given: bool) -> Problem {
    if let StoreError::Corrupt(source) = &e
        && cursor_given
        && (source
            .downcast_ref::<hammerfall_adapters_memory::InvalidCursor>()
            .is_some()
            || source.to_string().contains("cursor"))
    {
        return Problem::invalid("cursor", "cursor is not a cursor of this listing");
    }
    store_error(e)
}

/// Any other store failure on a read: 503 if transient, else 500.
#[expect(
    clippy::needless_pass_by_value,
    reason = "taken by value to be used as `map_err(store_error)`"
)]
pub(crate) fn store_error(e: StoreError) -> Problem {
    if e.is_retryable() {
        tracing::warn!(error = %e, "store unavailable");
        Problem::unavailable("the store is temporarily unavailable")
    } else {
        Problem::internal(&e)
    }
}
