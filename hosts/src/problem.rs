//! RFC 9457 problem details: every error the host answers, with the SPEC's
//! stable `code`. Internal failures are logged, never shown.

use crate::limits::RETRY_AFTER_SECS;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hammerfall_engine::ServiceError;
use hammerfall_ports::{InvalidRequest, Rejection};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer (RFC 9457) with Hammerfall's `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// A URI naming the problem type: `urn:hammerfall:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary (the HTTP status phrase).
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The stable error code (SPEC §2.1, §7).
    pub code: String,
    /// For `bid_too_low`: the smallest acceptable bid.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "31.00")]
    pub min_bid: Option<String>,
    /// For `invalid_request`: the offending field's wire name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `Retry-After` seconds (429, 503); sent as a header, not in the body.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with `status`, `code` and a detail message.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("urn:hammerfall:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            code: code.to_owned(),
            min_bid: None,
            field: None,
            retry_after: None,
        }
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 403 `forbidden`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404 `not_found` (unknown route or resource).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 400 `invalid_request`: the body is not JSON of the expected shape.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    /// 422 `invalid_request` about `field`.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        let mut p = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", detail);
        p.field = Some(field.to_owned());
        p
    }

    /// 429 `rate_limited`.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; slow down",
        );
        p.retry_after = Some(retry_after.max(1));
        p
    }

    /// 503 `unavailable`, retry shortly.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut p = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail);
        p.retry_after = Some(RETRY_AFTER_SECS);
        p
    }

    /// 500 `internal`: logged with its cause here, shown without it.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete the request",
        )
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The body as JSON (for command status `error`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl From<&Rejection> for Problem {
    fn from(rejection: &Rejection) -> Self {
        let status = StatusCode::from_u16(rejection.http_status()).unwrap_or(StatusCode::CONFLICT);
        let mut p = Problem::new(status, rejection.code(), rejection.to_string());
        match rejection {
            Rejection::BidTooLow { min_bid } => p.min_bid = Some(min_bid.to_string()),
            Rejection::InvalidRequest { detail } => {
                p.field = match detail {
                    InvalidRequest::Missing { field }
                    | InvalidRequest::NotApplicable { field, .. }
                    | InvalidRequest::Invalid { field, .. } => Some(field.clone()),
                    InvalidRequest::LotExists => None,
                };
                p.detail = Some(detail.to_string());
            }
            _ => {}
        }
        p
    }
}

impl From<Rejection> for Problem {
    fn from(rejection: Rejection) -> Self {
        Problem::from(&rejection)
    }
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Self {
        match &e {
            ServiceError::Store(store) if !store.is_retryable() => Problem::internal(&e),
            ServiceError::Overloaded => Problem::unavailable("the server is busy; retry shortly"),
            _ => {
                tracing::warn!(error = %e, "service unavailable");
                Problem::unavailable("temporarily unavailable; retry with the same Idempotency-Key")
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Result type of handlers: any error is a problem answer.
pub type ApiResult<T> = Result<T, Problem>;
