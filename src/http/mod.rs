//! The HTTP shell: routes, extractor settings, and the state handlers share.

mod admission;
mod auth;
mod body;
pub mod cors;
mod framing;
mod health;
mod leases;
mod limits;
mod observe;
mod pacing;
pub mod problem;
pub mod server;
pub mod views;
mod wire;

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::web::{self, Data, ServiceConfig};

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::service::LeaseService;
use problem::ApiError;

pub use auth::Auth;

const LEASES_ROUTE: &str = "/v1/users/{user_id}/leases";
const LEASE_ROUTE: &str = "/v1/users/{user_id}/leases/{lease_id}";
const HEARTBEAT_ROUTE: &str = "/v1/users/{user_id}/leases/{lease_id}/heartbeat";
/// The route `navigator.sendBeacon` calls on page close.
pub const RELEASE_BEACON_ROUTE: &str = "/v1/users/{user_id}/leases/{lease_id}/release";
const LIMIT_ROUTE: &str = "/v1/users/{user_id}/limit";
/// The public keys that sign lease tokens.
pub const LEASE_TOKEN_KEYS_ROUTE: &str = "/.well-known/jwks.json";

/// Every route pattern served; `openapi.json` documents exactly these.
pub const ROUTES: &[&str] = &[
    LEASES_ROUTE,
    LEASE_ROUTE,
    HEARTBEAT_ROUTE,
    RELEASE_BEACON_ROUTE,
    LIMIT_ROUTE,
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    LEASE_TOKEN_KEYS_ROUTE,
];

pub use observe::observe;

/// JSON bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// What handlers share. Each HTTP worker has its own copy, whose `leases`
/// talk to the store over the worker's own connection; the rest is shared.
pub struct AppState {
    pub leases: LeaseService,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub auth: Arc<Auth>,
}

impl AppState {
    /// This state for the HTTP worker it is called on (see `LeaseService`).
    pub fn for_this_worker(&self) -> Self {
        AppState {
            leases: self.leases.for_this_worker(),
            settings: self.settings.clone(),
            metrics: self.metrics.clone(),
            auth: self.auth.clone(),
        }
    }
}

/// Routes, plus the JSON and path settings that turn extractor failures into
/// problems. `with_metrics: false` leaves `/metrics` to its own listener
/// (`STREAMLEASE_METRICS_BIND`).
pub fn configure(state: Data<AppState>, with_metrics: bool) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .app_data(web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(problem::json_error))
            .app_data(web::PathConfig::default().error_handler(problem::path_error))
            // Heartbeats are the bulk of the traffic, and actix tries routes
            // in this order.
            .service(
                resource(HEARTBEAT_ROUTE).route(web::post().to(leases::heartbeat)).default_service(not_allowed("POST")),
            )
            .service(
                resource(LEASES_ROUTE)
                    .route(web::post().to(leases::acquire))
                    .route(web::get().to(leases::list))
                    .route(web::delete().to(leases::revoke_all))
                    .default_service(not_allowed("GET, POST, DELETE")),
            )
            .service(
                resource(LEASE_ROUTE).route(web::delete().to(leases::release)).default_service(not_allowed("DELETE")),
            )
            .service(
                resource(RELEASE_BEACON_ROUTE)
                    .route(web::post().to(leases::release))
                    .default_service(not_allowed("POST")),
            )
            .service(
                resource(LIMIT_ROUTE)
                    .route(web::get().to(limits::get))
                    .route(web::put().to(limits::put))
                    .route(web::delete().to(limits::delete))
                    .default_service(not_allowed("GET, PUT, DELETE")),
            )
            // Probes often send HEAD; actix answers it without a body.
            .service(
                resource("/healthz")
                    .route(web::get().to(health::healthz))
                    .route(web::head().to(health::healthz))
                    .default_service(not_allowed("GET, HEAD")),
            )
            .service(
                resource("/readyz")
                    .route(web::get().to(health::readyz))
                    .route(web::head().to(health::readyz))
                    .default_service(not_allowed("GET, HEAD")),
            )
            .configure(|cfg| {
                if with_metrics {
                    cfg.service(metrics_resource());
                }
            })
            .service(
                resource("/openapi.json").route(web::get().to(health::openapi)).default_service(not_allowed("GET")),
            )
            .service(
                resource(LEASE_TOKEN_KEYS_ROUTE)
                    .route(web::get().to(health::lease_token_keys))
                    .default_service(not_allowed("GET")),
            )
            .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::NotFound) }));
    }
}

/// What the metrics listener serves: `/metrics`, and `/healthz` so its port
/// can be probed too.
pub fn configure_metrics_only(state: Data<AppState>) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .service(metrics_resource())
            .service(resource("/healthz").route(web::get().to(health::healthz)).default_service(not_allowed("GET")))
            .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::NotFound) }));
    }
}

fn metrics_resource() -> actix_web::Resource {
    resource("/metrics").route(web::get().to(health::metrics)).default_service(not_allowed("GET"))
}

/// A resource named after its own pattern: `HttpRequest::match_name` then
/// gives the metrics their route label without re-matching or allocating.
fn resource(pattern: &'static str) -> actix_web::Resource {
    web::resource(pattern).name(pattern)
}

fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) })
}
