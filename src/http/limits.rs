//! Per-user limit routes: read, override (admin), reset (admin).

use actix_web::web::{Data, Json, Path};
use actix_web::{HttpResponse, Responder};
use serde::Deserialize;

use super::AppState;
use super::auth::{Admin, Player};
use super::leases::UserPath;
use super::problem::ApiError;
use super::views::LimitView;
use crate::config::MAX_LIMIT;
use crate::domain::{LimitSource, UserLimit};

#[derive(Debug, Deserialize)]
pub struct LimitBody {
    limit: u32,
}

pub async fn get(_player: Player, state: Data<AppState>, path: Path<UserPath>) -> Result<impl Responder, ApiError> {
    let user_id = path.into_inner().user_id;
    let UserLimit { limit, source } = state.leases.user_limit(&user_id).await?;
    Ok(Json(LimitView { user_id, limit, source }))
}

/// Lowering a limit never ends running leases: the user is simply denied new
/// ones until enough of them end.
pub async fn put(
    _admin: Admin,
    state: Data<AppState>,
    path: Path<UserPath>,
    body: Json<LimitBody>,
) -> Result<impl Responder, ApiError> {
    let limit = body.limit;
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!("limit must be 1..={MAX_LIMIT}, got {limit}")));
    }
    let user_id = path.into_inner().user_id;
    state.leases.set_limit(&user_id, Some(limit)).await?;
    Ok(Json(LimitView { user_id, limit, source: LimitSource::Override }))
}

pub async fn delete(_admin: Admin, state: Data<AppState>, path: Path<UserPath>) -> Result<HttpResponse, ApiError> {
    state.leases.set_limit(&path.user_id, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
