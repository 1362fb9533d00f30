//! Credit routes (SPEC §3.1, §9).

use crate::auth::Caller;
use crate::body::JsonObject;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;
use crate::views::CreditBody;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use hammerfall_ports::{CreditLedger, Currency, LotStore, Money, ParticipantId, Rejection, Roles};

/// `PUT /participants/{id}/credit`: admins set a limit.
#[utoipa::path(
    put,
    path = "/participants/{participantId}/credit",
    tag = "credit",
    params(("participantId" = String, Path, description = "The participant")),
    request_body(content = crate::openapi::CreditRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The participant's credit", body = CreditBody),
        (status = 400, description = "invalid_request: not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "credit_in_use", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn set_credit<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path(participant): Path<String>,
    body: Bytes,
) -> ApiResult<Json<CreditBody>> {
    caller.require_role(Roles::ADMIN, "admin")?;
    let body = JsonObject::parse(&body)?;
    let participant = ParticipantId::new(&participant)
        .map_err(|_| Problem::invalid("participantId", "not a valid participant id"))?;
    let currency: Currency = body
        .required("currency", JsonObject::string)?
        .parse()
        .map_err(|e| Problem::invalid("currency", format!("currency: {e}")))?;
    let limit = body.required("limit", JsonObject::decimal)?;
    let limit = Money::new(limit, currency)
        .map_err(|e| Problem::invalid("limit", format!("limit: {e}")))?;
    let view = app
        .service
        .set_credit_limit(&participant, limit, currency)
        .await??;
    Ok(Json(view.into()))
}

/// `GET /participants/{id}/credit`: the participant or an admin.
#[utoipa::path(
    get,
    path = "/participants/{participantId}/credit",
    tag = "credit",
    params(("participantId" = String, Path, description = "The participant")),
    responses(
        (status = 200, description = "The participant's credit", body = CreditBody),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: someone else's credit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "credit_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_credit<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Extension(caller): Extension<Caller>,
    Path(participant): Path<String>,
) -> ApiResult<Json<CreditBody>> {
    let actor = caller.require()?;
    if !(actor.is_admin() || actor.participant_id.as_str() == participant) {
        return Err(Problem::forbidden(
            "only the participant and admins see credit",
        ));
    }
    let participant =
        ParticipantId::new(&participant).map_err(|_| Problem::from(Rejection::CreditNotFound))?;
    let view = app.service.credit(&participant).await??;
    Ok(Json(view.into()))
}
