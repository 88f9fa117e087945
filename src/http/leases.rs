//! Lease routes: translate store outcomes into HTTP, nothing more.

use actix_web::http::header;
use actix_web::web::{Data, Json, Path};
use actix_web::{HttpRequest, HttpResponse, Responder};
use serde::Deserialize;

use super::AppState;
use super::auth::{Admin, Player};
use super::body::{JsonBody, OptionalJson};
use super::problem::ApiError;
use super::views::{DegradedLease, LeaseList, LeaseView, Revoked};
use crate::domain::ledger::Terms;
use crate::domain::*;
use crate::lease_token::{HELD_TOKEN_HEADER, LeaseTokens};
use crate::metrics::Operation;

#[derive(Debug, Deserialize)]
pub struct UserPath {
    pub user_id: UserId,
}

#[derive(Debug, Deserialize)]
pub struct LeasePath {
    user_id: UserId,
    lease_id: LeaseId,
}

/// Unknown fields are ignored, so players may send more than we read.
#[derive(Debug, Deserialize)]
pub struct AcquireBody {
    stream_id: StreamId,
    device_id: Option<DeviceId>,
    device_name: Option<DeviceName>,
    #[serde(default)]
    classes: Vec<ClassName>,
    on_limit: Option<OnLimit>,
    #[serde(default)]
    terminate: Vec<LeaseId>,
}

pub async fn acquire(
    player: Player,
    state: Data<AppState>,
    path: Path<UserPath>,
    body: JsonBody<AcquireBody>,
) -> Result<HttpResponse, ApiError> {
    let AcquireBody { stream_id, device_id, device_name, classes, on_limit, terminate } = body.into_inner();
    let terms = state.leases.terms();
    terms.classes.check(&classes).map_err(ApiError::InvalidRequest)?;
    let user_id = path.into_inner().user_id;
    let request = AcquireRequest {
        user_id,
        stream_id,
        device_id,
        device_name,
        classes,
        on_limit: on_limit.unwrap_or(state.settings.on_limit),
        terminate,
        new_lease_id: LeaseId::new_random(),
        token_limits: player.token_limits,
    };
    let (user, settings) = (&request.user_id, &state.settings);
    let outcome = match state.leases.acquire(&request).await {
        // Fail-open: playback goes on; the player's heartbeats after the
        // store returns restore a real lease, subject to the limit.
        Err(e) if e.is_unavailable() && settings.fail_open => {
            state.leases.count_degraded(Operation::Acquire);
            let lease_id = request.new_lease_id;
            let location = format!("/v1/users/{user}/leases/{lease_id}");
            let device = (request.device_id, request.device_name);
            let view = DegradedLease::new(user, lease_id, Some(request.stream_id), device, terms)
                .without_token(settings.lease_tokens.is_some());
            return Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(view));
        }
        other => other?,
    };
    match outcome {
        AcquireOutcome::Created { granted, evicted, terminated } => {
            let location = format!("/v1/users/{user}/leases/{}", granted.lease.lease_id);
            let view = LeaseView {
                evicted: Some(evicted),
                terminated: Some(terminated),
                lease_token: token_for(&state, user, &granted.lease, terms, None),
                ..LeaseView::granted(user, granted, terms)
            };
            Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(view))
        }
        AcquireOutcome::Renewed { granted, evicted, terminated } => {
            let view = LeaseView {
                evicted: Some(evicted),
                terminated: Some(terminated),
                lease_token: token_for(&state, user, &granted.lease, terms, None),
                ..LeaseView::granted(user, granted, terms)
            };
            Ok(HttpResponse::Ok().json(view))
        }
        AcquireOutcome::Denied { refusal, .. } => Err(limit_reached(user, refusal, terms)),
    }
}

pub async fn heartbeat(
    request: HttpRequest,
    player: Player,
    state: Data<AppState>,
    path: Path<LeasePath>,
    // Players that send their stream keep playing through a Redis restart
    // without persistence: see `Restore`.
    body: OptionalJson<Restore>,
) -> Result<HttpResponse, ApiError> {
    let LeasePath { user_id, lease_id } = path.into_inner();
    let restore = body.0;
    let (settings, terms) = (&state.settings, state.leases.terms());
    if let Some(restore) = &restore {
        terms.classes.check(&restore.classes).map_err(ApiError::InvalidRequest)?;
    }
    let outcome = match state.leases.heartbeat(&user_id, lease_id, restore.as_ref(), player.token_limits()).await {
        Err(e) if e.is_unavailable() && settings.fail_open => {
            state.leases.count_degraded(Operation::Heartbeat);
            let (stream, device) =
                restore.map_or((None, (None, None)), |r| (Some(r.stream_id), (r.device_id, r.device_name)));
            let view = DegradedLease::new(&user_id, lease_id, stream, device, terms)
                .without_token(settings.lease_tokens.is_some());
            return Ok(HttpResponse::Ok().json(view));
        }
        other => other?,
    };
    match outcome {
        HeartbeatOutcome::Renewed(granted) => {
            let held = request.headers().get(HELD_TOKEN_HEADER).map(|v| v.as_bytes());
            let lease_token = token_for(&state, &user_id, &granted.lease, terms, held);
            Ok(HttpResponse::Ok().json(LeaseView { lease_token, ..LeaseView::granted(&user_id, granted, terms) }))
        }
        HeartbeatOutcome::Restored(granted) => {
            let view = LeaseView {
                restored: Some(true),
                lease_token: token_for(&state, &user_id, &granted.lease, terms, None),
                ..LeaseView::granted(&user_id, granted, terms)
            };
            Ok(HttpResponse::Ok().json(view))
        }
        HeartbeatOutcome::Denied(refusal) => Err(limit_reached(&user_id, refusal, terms)),
        HeartbeatOutcome::NotFound => Err(ApiError::LeaseNotFound),
        HeartbeatOutcome::Ended(ended) => {
            Err(ApiError::LeaseEnded { reason: ended.reason, by_lease_id: ended.by_lease_id })
        }
    }
}

/// A new lease token for `lease`, just granted or renewed, when lease tokens
/// are on, unless the token the player holds (`held`, sent back with a
/// heartbeat) has life enough left. Issued as of the renewal, by the
/// store's clock (expiry less one TTL), so `exp` and `iat` come from the
/// same clock.
fn token_for(state: &AppState, user: &UserId, lease: &Lease, terms: &Terms, held: Option<&[u8]>) -> Option<String> {
    let tokens = state.settings.lease_tokens.as_ref()?;
    let renewed_at = lease.expires_at - terms.ttl_ms;
    LeaseTokens::needs_new(held, lease.lease_id, renewed_at).then(|| tokens.sign(user, lease, renewed_at)).flatten()
}

/// The 409 for a refusal: the limit that refused, and the leases whose
/// ending would make room.
fn limit_reached(user: &UserId, refusal: Refusal, terms: &Terms) -> ApiError {
    let Refusal { limit_class, limit, limit_source, active, leases } = refusal;
    let limit = UserLimit { limit, source: limit_source };
    ApiError::LimitReached { limit_class, limit, active, leases: LeaseView::all(user, leases, active, limit, terms) }
}

/// `DELETE .../leases/{id}` and `POST .../leases/{id}/release`. The POST form
/// takes any body of any type, because `navigator.sendBeacon` cannot send a
/// DELETE. Always 204: a release that finds nothing has nothing left to do,
/// so a retried or duplicated release is harmless.
pub async fn release(_player: Player, state: Data<AppState>, path: Path<LeasePath>) -> Result<HttpResponse, ApiError> {
    let LeasePath { user_id, lease_id } = path.into_inner();
    state.leases.release(&user_id, lease_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list(player: Player, state: Data<AppState>, path: Path<UserPath>) -> Result<impl Responder, ApiError> {
    let user_id = path.into_inner().user_id;
    let UserLeases { limit, limit_source, leases } = state.leases.list(&user_id, player.token_limits()).await?;
    let active = leases.len() as u32;
    let limit_of_all = UserLimit { limit, source: limit_source };
    let leases = LeaseView::all(&user_id, leases, active, limit_of_all, state.leases.terms());
    Ok(Json(LeaseList { user_id, limit, limit_source, active, leases }))
}

/// Admin: "sign out everywhere".
pub async fn revoke_all(
    _admin: Admin,
    state: Data<AppState>,
    path: Path<UserPath>,
) -> Result<impl Responder, ApiError> {
    let revoked = state.leases.revoke_all(&path.user_id).await?;
    Ok(Json(Revoked { revoked }))
}
