//! The OpenAPI document, generated from the handlers' annotations and the
//! response types they serialize (utoipa), so it stays true to the code.

use crate::problem::Problem;
use crate::views::*;
use std::sync::OnceLock;
use utoipa::openapi::RefOr;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToSchema};

/// A decimal amount: a string (`"12.50"`) or an exact JSON number; parsed
/// exactly, never through floating point.
pub struct Amount;

impl PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^[+-]?[0-9]+(\.[0-9]+)?$")),
            )
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some(
                "A decimal amount as a string or a JSON number, read exactly",
            ))
            .into()
    }
}

impl ToSchema for Amount {}

/// Headers every command route takes.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct CommandHeaders {
    /// The command id (SPEC §5): a retry with the same key returns the
    /// original outcome. Generated when absent.
    #[param(rename = "Idempotency-Key", max_length = 128)]
    idempotency_key: Option<String>,
    /// `respond-async`: answer 202 with the command's `Location` at once.
    #[param(rename = "Prefer")]
    prefer: Option<String>,
}

/// One increment tier.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TierRequest {
    /// Lowest price of the tier (the first is 0).
    #[schema(value_type = Amount)]
    from: Amount,
    /// The increment.
    #[schema(value_type = Amount)]
    step: Amount,
}

/// Soft close, in whole seconds.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct SoftCloseRequest {
    /// A bid this close to the end extends it.
    window_secs: i64,
    /// To at least this long after the bid.
    extension_secs: i64,
}

/// `POST /lots` body. English lots need `startingPrice` and `endsAt`;
/// fixed-price lots need `price`.
#[derive(ToSchema)]
#[schema(example = json!({
    "title": "Brass lamp", "format": "english", "currency": "USD",
    "startingPrice": "10.00", "endsAt": "2099-01-01T00:00:00Z"
}))]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CreateLotRequest {
    /// 1–200 characters.
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    /// English auction or fixed price.
    format: FormatName,
    /// ISO-4217 code.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: String,
    /// English: first acceptable bid (> 0).
    #[schema(value_type = Option<Amount>)]
    starting_price: Option<Amount>,
    /// English: reserve (≥ starting price).
    #[schema(value_type = Option<Amount>)]
    reserve_price: Option<Amount>,
    /// English: buy-now price.
    #[schema(value_type = Option<Amount>)]
    buy_now_price: Option<Amount>,
    /// English: custom increment table (1–50 tiers).
    increments: Option<Vec<TierRequest>>,
    /// English: anti-sniping.
    soft_close: Option<SoftCloseRequest>,
    /// Buyer's premium rate, 0 ≤ rate < 1.
    #[schema(value_type = Option<Amount>)]
    buyer_premium_rate: Option<Amount>,
    /// English: bids place credit holds.
    credit_check: Option<bool>,
    /// Seconds to pay after a sale (1 s … 365 days; default 72 h).
    #[schema(minimum = 1, maximum = 31536000)]
    payment_window_secs: Option<i64>,
    /// Fixed price: the price (0 = free).
    #[schema(value_type = Option<Amount>)]
    price: Option<Amount>,
    /// Fixed price: reservation hold seconds (1 s … 365 days; default 24 h).
    #[schema(minimum = 1, maximum = 31536000)]
    hold_secs: Option<i64>,
    /// Start (default now).
    #[schema(format = DateTime)]
    starts_at: Option<String>,
    /// End (english: required).
    #[schema(format = DateTime)]
    ends_at: Option<String>,
}

/// `POST /lots/{lotId}/bids` body.
#[derive(ToSchema)]
#[schema(example = json!({"amount": "25.00"}))]
#[allow(dead_code)]
pub struct BidRequest {
    /// The bidder's maximum (proxy bid).
    #[schema(value_type = Amount)]
    amount: Amount,
    /// Must equal the lot's currency when given.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: Option<String>,
}

/// `PUT /participants/{id}/credit` body.
#[derive(ToSchema)]
#[schema(example = json!({"limit": "500.00", "currency": "USD"}))]
#[allow(dead_code)]
pub struct CreditRequest {
    /// The limit.
    #[schema(value_type = Amount)]
    limit: Amount,
    /// Its currency (ISO-4217).
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: String,
}

/// An empty object (commands without a payload; the body may be omitted).
#[derive(ToSchema)]
pub struct EmptyRequest {}

/// Links from the answers that create resources to the operations on them,
/// so clients (and property-based testers) can follow a lot's life.
struct Links;

impl Links {
    fn add(
        openapi: &mut utoipa::openapi::OpenApi,
        path: &str,
        status: &str,
        targets: &[&str],
        parameters: &[(&str, &str)],
    ) {
        let Some(operation) = openapi
            .paths
            .paths
            .get_mut(path)
            .and_then(|p| p.post.as_mut())
        else {
            return;
        };
        let Some(RefOr::T(response)) = operation.responses.responses.get_mut(status) else {
            return;
        };
        for target in targets {
            let mut link = LinkBuilder::new().operation_id(*target);
            for (name, expression) in parameters {
                link = link.parameter(*name, *expression);
            }
            response
                .links
                .insert((*target).to_owned(), RefOr::T(link.build()));
        }
    }
}

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let lot = [("lotId", "$response.body#/lotId")];
        Self::add(
            openapi,
            "/lots",
            "201",
            &[
                "get_lot",
                "place_bid",
                "bid_history",
                "buy_now",
                "cancel_lot",
                "reserve",
                "settlement",
                "record_payment",
                "events",
            ],
            &lot,
        );
        Self::add(
            openapi,
            "/lots/{lotId}/bids",
            "201",
            &["get_lot", "bid_history", "events", "buy_now"],
            &[("lotId", "$response.body#/lot/lotId")],
        );
        Self::add(
            openapi,
            "/lots/{lotId}/reservations",
            "201",
            &["complete_reservation", "cancel_reservation"],
            &[
                ("lotId", "$response.body#/lotId"),
                ("reservationId", "$response.body#/reservationId"),
            ],
        );
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "HS256 or RS256 JWT with `sub`, `roles` (seller, bidder, admin), `exp`, optional `nbf`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hammerfall",
        description = "Auction engine HTTP API: english auctions with proxy bidding, fixed-price reservations, settlement, credit, live events. Errors are RFC 9457 problem details with a stable `code`.",
    ),
    paths(
        crate::routes::lots::create,
        crate::routes::lots::list,
        crate::routes::lots::get_lot,
        crate::routes::commands::place_bid,
        crate::routes::reads::bid_history,
        crate::routes::commands::buy_now,
        crate::routes::commands::cancel_lot,
        crate::routes::commands::reserve,
        crate::routes::commands::complete_reservation,
        crate::routes::commands::cancel_reservation,
        crate::routes::reads::settlement,
        crate::routes::commands::record_payment,
        crate::routes::commands::status,
        crate::routes::reads::events,
        crate::routes::live::live,
        crate::routes::credit::set_credit,
        crate::routes::credit::get_credit,
        crate::routes::ops::healthz,
        crate::routes::ops::readyz,
        crate::routes::ops::metrics,
        crate::routes::ops::openapi,
    ),
    components(schemas(
        Problem, LotView, LotPage, BidResult, BidPage, BidHistoryItem, EventPage, EventBody,
        ReservationView, SettlementView, CreditBody, CommandStatusBody, HealthBody,
        CreateLotRequest, BidRequest, CreditRequest, EmptyRequest, TierRequest, SoftCloseRequest,
    )),
    modifiers(&BearerAuth, &Links),
)]
pub struct ApiDoc;

/// The document as JSON text (built once).
pub fn document_json() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        fix_link_keys(&mut doc, false);
        doc.to_string()
    })
    .clone()
}

/// utoipa 5.5 writes Link Objects with snake_case keys (`operation_id`);
/// OpenAPI spells them in camelCase.
fn fix_link_keys(value: &mut serde_json::Value, in_link: bool) {
    match value {
        serde_json::Value::Object(map) => {
            if in_link {
                for (from, to) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                    ("request_body", "requestBody"),
                ] {
                    if let Some(v) = map.remove(from) {
                        map.insert(to.to_owned(), v);
                    }
                }
            }
            for (key, child) in map.iter_mut() {
                if key == "links" {
                    if let serde_json::Value::Object(links) = child {
                        for link in links.values_mut() {
                            fix_link_keys(link, true);
                        }
                    }
                } else if !in_link {
                    fix_link_keys(child, false);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                fix_link_keys(item, false);
            }
        }
        _ => {}
    }
}
