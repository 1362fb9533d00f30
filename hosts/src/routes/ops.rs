//! Operations: liveness, readiness, metrics, the OpenAPI document, and the
//! answers for unknown routes and methods.

use crate::problem::Problem;
use crate::state::AppState;
use crate::views::HealthBody;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hammerfall_ports::{CreditLedger, LotId, LotStore};

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Alive", body = HealthBody))
)]
pub(crate) async fn healthz() -> Json<HealthBody> {
    Json(HealthBody {
        status: "ok".into(),
    })
}

/// `GET /readyz`: the store answers and the server is not shutting down.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthBody),
        (status = 503, description = "unavailable: store unreachable or shutting down", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn readyz<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
) -> Result<Json<HealthBody>, Problem> {
    if app.shutting_down() {
        return Err(Problem::unavailable("shutting down"));
    }
    let probe = LotId::new("readyz-probe").map_err(|e| Problem::internal(&e))?;
    match app.store().load(&probe).await {
        Ok(_) => Ok(Json(HealthBody {
            status: "ready".into(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness probe: store unreachable");
            Err(Problem::unavailable("the store is unreachable"))
        }
    }
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
) -> Response {
    let text = app.metrics.render(Some(app.service.queue_depth()));
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `GET /openapi.json`: this API's OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub(crate) async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        crate::openapi::document_json(),
    )
        .into_response()
}

/// Unknown routes.
pub(crate) async fn not_found() -> Problem {
    Problem::not_found("no such route")
}

/// Known routes, unknown methods.
pub(crate) async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}
