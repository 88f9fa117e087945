//! Per-request observation: the HTTP duration histogram (labelled by route
//! pattern, never the raw path, which would put user ids into labels) and the
//! access log.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Data;

use super::AppState;

/// Routes polled by machines or players many times a second: logged at
/// debug, so `info` stays readable.
const QUIET_ROUTES: &[&str] = &["/healthz", "/readyz", "/metrics", "/v1/users/{user_id}/leases/{lease_id}/heartbeat"];

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
            .with_label_values(&[request.method().as_str(), route, status.as_str()])
            .observe(elapsed.as_secs_f64());
    }
    let level = if QUIET_ROUTES.contains(&route) { log::Level::Debug } else { log::Level::Info };
    log::log!(
        target: "streamlease::access",
        level,
        "{} \"{} {}\" {} {:.3}ms",
        request.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default(),
        request.method(),
        request.path(),
        status.as_u16(),
        elapsed.as_secs_f64() * 1000.0,
    );
    Ok(response)
}
