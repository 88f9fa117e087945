//! Liveness, readiness, metrics, and the API's own description.

use actix_web::HttpResponse;
use actix_web::web::Data;
use serde_json::json;

use super::AppState;
use super::auth::MetricsReader;
use super::problem::ApiError;

/// 200 while the process runs; never touches the store.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when the store answers within a second; 503 otherwise, so a load
/// balancer stops sending traffic to an instance that cannot decide.
pub async fn readyz(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.leases.ping().await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "store": state.leases.store_kind()})))
}

pub async fn metrics(_reader: MetricsReader, state: Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type(prometheus::TEXT_FORMAT).body(state.metrics.render())
}

/// The OpenAPI 3.1 description of this API, checked in next to the routes.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(include_str!("openapi.json"))
}
