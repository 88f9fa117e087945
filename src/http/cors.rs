//! CORS, so a browser player on another origin can call the player routes
//! (`STREAMLEASE_CORS_ORIGINS`). actix-cors answers preflights and adds the
//! headers; `refusals_as_problems` turns its plain-text refusals into
//! problem+json like every other error, and keeps browsers away from the
//! admin routes and `/metrics` whatever the list says.

use actix_cors::{Cors, CorsError};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{Condition, Next};
use actix_web::{Error, ResponseError};

use super::problem::ApiError;
use crate::config::CorsOrigins;
use crate::lease_token::HELD_TOKEN_HEADER;

/// What the player routes use. Admin routes (`PUT …/limit`) are for
/// servers, so a browser is not offered them.
const METHODS: [Method; 3] = [Method::GET, Method::POST, Method::DELETE];
/// The JWT, the JSON bodies of acquire and heartbeat, and the lease token a
/// heartbeat sends back (`lease_token.rs`).
const HEADERS: [header::HeaderName; 3] =
    [header::AUTHORIZATION, header::CONTENT_TYPE, header::HeaderName::from_static(HELD_TOKEN_HEADER)];
/// A player reads the new lease's URL and when to retry after a 503.
const EXPOSED: [header::HeaderName; 2] = [header::LOCATION, header::RETRY_AFTER];
/// How long a browser may reuse a preflight's answer: the most Chromium
/// honours. Preflights are cached per URL, so a heartbeat URL is
/// preflighted once in this time, not once per heartbeat.
const PREFLIGHT_MAX_AGE_SECS: usize = 7200;

/// The CORS middleware, or a pass-through when CORS is off.
pub fn middleware(origins: Option<&CorsOrigins>) -> Condition<Cors> {
    let Some(origins) = origins else { return Condition::new(false, Cors::default()) };
    let cors = Cors::default()
        .allowed_methods(METHODS)
        .allowed_headers(HEADERS)
        .expose_headers(EXPOSED)
        .max_age(PREFLIGHT_MAX_AGE_SECS)
        // A request from an origin not on the list changes nothing; without
        // this, a simple request (a beacon release) would still be served,
        // with only its answer hidden from the page.
        .block_on_origin_mismatch(true);
    let cors = match origins {
        CorsOrigins::Any => cors.allow_any_origin(),
        CorsOrigins::List(list) => list.iter().fold(cors, |cors, origin| cors.allowed_origin(origin)),
    };
    Condition::new(true, cors)
}

/// Wraps `middleware`: its refusals become problems (403 `forbidden` for
/// what the configuration refuses, 400 for a malformed preflight), keeping
/// its `Vary` header.
pub async fn refusals_as_problems(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if asks_for_server_route(&req) {
        let refusal = ApiError::CorsRefused(FOR_SERVERS.into());
        return Ok(req.into_response(refusal.error_response()).map_into_right_body());
    }
    let response = next.call(req).await?;
    let Some(problem) = response.response().error().and_then(|e| e.as_error::<CorsError>()).map(problem_for) else {
        return Ok(response.map_into_left_body());
    };
    let vary = response.headers().get(header::VARY).cloned();
    let (request, _) = response.into_parts();
    let mut answer = problem.error_response();
    if let Some(vary) = vary {
        answer.headers_mut().insert(header::VARY, vary);
    }
    Ok(ServiceResponse::new(request, answer).map_into_right_body())
}

/// Why a browser is refused on an admin route or `/metrics`.
pub const FOR_SERVERS: &str = "admin routes and /metrics do not answer browsers";

/// A browser's request (it carries `Origin`), or its preflight, for a route
/// that is for servers: refused before actix-cors could let it in, even with
/// `*`. (The `Admin` and `MetricsReader` extractors refuse any request with
/// `Origin` too, so this holds with CORS off as well.)
fn asks_for_server_route(req: &ServiceRequest) -> bool {
    if !req.headers().contains_key(header::ORIGIN) {
        return false;
    }
    let method = match req.headers().get(header::ACCESS_CONTROL_REQUEST_METHOD) {
        Some(asked) if req.method() == Method::OPTIONS => Method::from_bytes(asked.as_bytes()).ok(),
        _ => Some(req.method().clone()),
    };
    method.is_some_and(|m| is_for_servers(&m, req.path()))
}

fn problem_for(refusal: &CorsError) -> ApiError {
    match refusal {
        CorsError::OriginNotAllowed => ApiError::CorsRefused("this origin is not allowed to call the service".into()),
        CorsError::MethodNotAllowed => {
            ApiError::CorsRefused("browsers may only send GET, POST and DELETE to this service".into())
        }
        CorsError::HeadersNotAllowed => ApiError::CorsRefused(
            "browsers may only send the Authorization, Content-Type and Lease-Token headers".into(),
        ),
        other => ApiError::InvalidRequest(format!("bad CORS preflight: {other}")),
    }
}

/// Revoke-all, setting or clearing a limit, and `/metrics`.
fn is_for_servers(method: &Method, path: &str) -> bool {
    if path == "/metrics" {
        return true;
    }
    let mut parts = path.strip_prefix("/v1/users/").unwrap_or("").split('/');
    let (user, what, rest) = (parts.next(), parts.next(), parts.next());
    match (user, what, rest) {
        (Some(user), Some("leases"), None) if !user.is_empty() => *method == Method::DELETE,
        (Some(user), Some("limit"), None) if !user.is_empty() => *method == Method::PUT || *method == Method::DELETE,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_for_servers_are_told_apart_from_the_player_routes() {
        let lease = "/v1/users/alice/leases/3f1c0b4e-5a0f-4c52-9f7a-8d1b5c1e2a10";
        for (method, path) in [
            (Method::DELETE, "/v1/users/alice/leases"),
            (Method::PUT, "/v1/users/alice/limit"),
            (Method::DELETE, "/v1/users/alice/limit"),
            (Method::GET, "/metrics"),
        ] {
            assert!(is_for_servers(&method, path), "{method} {path}");
        }
        for (method, path) in [
            (Method::GET, "/v1/users/alice/leases"),
            (Method::POST, "/v1/users/alice/leases"),
            (Method::GET, "/v1/users/alice/limit"),
            (Method::DELETE, lease),
            (Method::POST, &format!("{lease}/heartbeat")),
            (Method::DELETE, "/v1/users//leases"),
        ] {
            assert!(!is_for_servers(&method, path), "{method} {path}");
        }
    }
}
