//! Per-request observation: the HTTP duration histogram and the access log.
//! Every label comes from a fixed set (method from a list, route from the
//! route table, status as a number), so no request can add series.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web::Data;

use super::AppState;

/// Routes polled by machines or players many times a second: logged at
/// debug, so `info` stays readable.
const QUIET_ROUTES: &[&str] = &["/healthz", "/readyz", "/metrics", "/v1/users/{user_id}/leases/{lease_id}/heartbeat"];

/// The `method` label: one of a fixed list, so a client inventing methods
/// cannot add series (HTTP allows any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Paths in the access log are cut at this many bytes: a client controls
/// them, and a log line should not be 30 KB.
const LOGGED_PATH_MAX: usize = 256;

fn truncated(path: &str) -> &str {
    // Paths are ASCII once parsed (non-ASCII arrives percent-encoded).
    path.get(..LOGGED_PATH_MAX).unwrap_or(path)
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<Data<AppState>>().cloned();
    let response = next.call(req).await?;
    let elapsed = started.elapsed();

    let request = response.request();
    let route = request.match_name().unwrap_or("unmatched");
    let status = response.status();
    if let Some(state) = state {
        state
            .metrics
            .http_request_duration
            .with_label_values(&[method_label(request.method()), route, status.as_str()])
            .observe(elapsed.as_secs_f64());
    }
    let level = if QUIET_ROUTES.contains(&route) { log::Level::Debug } else { log::Level::Info };
    log::log!(
        target: "streamlease::access",
        level,
        "{} \"{} {}\" {} {:.3}ms",
        request.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default(),
        method_label(request.method()),
        truncated(request.path()),
        status.as_u16(),
        elapsed.as_secs_f64() * 1000.0,
    );
    Ok(response)
}
