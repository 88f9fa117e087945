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

/// 200 when the store answers within a second and player tokens can be
/// checked (the IdP's keys, when used, are loaded); 503 otherwise, so a load
/// balancer stops sending traffic to an instance that cannot decide.
/// Readiness is yes or no: a store that refuses the write for any reason
/// (a wrong password, say) makes it 503, never 500; the log has the cause.
pub async fn readyz(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    // Player tokens cannot be checked without the IdP's keys.
    if !state.auth.is_ready() {
        return Err(ApiError::KeysUnavailable);
    }
    match state.leases.ping().await.map_err(ApiError::from) {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"status": "ready", "store": state.leases.store_kind()}))),
        Err(ApiError::StoreError) => Err(ApiError::StoreUnavailable),
        Err(other) => Err(other),
    }
}

pub async fn metrics(_reader: MetricsReader, state: Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type(prometheus::TEXT_FORMAT).body(state.metrics.render())
}

/// The public keys that sign lease tokens, for edges and license proxies to
/// fetch (and cache for 5 minutes: rotation publishes a key well before it
/// signs). 404 with lease tokens off, or with HMAC, whose secret is shared
/// out of band.
pub async fn lease_token_keys(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    let published = state.settings.lease_tokens.as_ref().and_then(|t| t.published()).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "public, max-age=300"))
        .content_type("application/json")
        .body(published.to_owned()))
}

/// The OpenAPI 3.1 description of this API, checked in next to the routes.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(include_str!("openapi.json"))
}
