//! CORS, so a browser player on another origin can call the player routes
//! (`STREAMLEASE_CORS_ORIGINS`). actix-cors answers preflights and adds the
//! headers; `refusals_as_problems` turns its plain-text refusals into
//! problem+json like every other error.

use actix_cors::{Cors, CorsError};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{Condition, Next};
use actix_web::{Error, ResponseError};

use super::problem::ApiError;
use crate::config::CorsOrigins;

/// What the player routes use. Admin routes (`PUT …/limit`) are for
/// servers, so a browser is not offered them.
const METHODS: [Method; 3] = [Method::GET, Method::POST, Method::DELETE];
/// The JWT, and the JSON bodies of acquire and heartbeat.
const HEADERS: [header::HeaderName; 2] = [header::AUTHORIZATION, header::CONTENT_TYPE];
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
) -> Result<ServiceResponse<impl MessageBody>, Error> {
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

fn problem_for(refusal: &CorsError) -> ApiError {
    match refusal {
        CorsError::OriginNotAllowed => ApiError::CorsRefused("this origin is not allowed to call the service".into()),
        CorsError::MethodNotAllowed => {
            ApiError::CorsRefused("browsers may only send GET, POST and DELETE to this service".into())
        }
        CorsError::HeadersNotAllowed => {
            ApiError::CorsRefused("browsers may only send the Authorization and Content-Type headers".into())
        }
        other => ApiError::InvalidRequest(format!("bad CORS preflight: {other}")),
    }
}
