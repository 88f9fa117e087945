//! Per-user limit routes: read, override (admin), reset (admin).

use actix_web::web::{Data, Json, Path};
use actix_web::{HttpResponse, Responder};
use serde::Deserialize;

use super::AppState;
use super::auth::{Admin, Player};
use super::body::JsonBody;
use super::leases::UserPath;
use super::problem::ApiError;
use super::views::LimitView;
use crate::config::MAX_LIMIT;
use crate::domain::{LimitSource, UserLimit};

/// `limit` is any JSON number with no fraction: JSON (and the OpenAPI
/// document's `integer`) counts `5.0` as the integer 5.
#[derive(Debug, Deserialize)]
pub struct LimitBody {
    limit: serde_json::Number,
}

impl LimitBody {
    fn whole(&self) -> Option<u64> {
        self.limit.as_u64().or_else(|| self.limit.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
    }
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
    body: JsonBody<LimitBody>,
) -> Result<impl Responder, ApiError> {
    let Some(limit) = body.whole().and_then(|n| u32::try_from(n).ok()).filter(|n| (1..=MAX_LIMIT).contains(n)) else {
        return Err(ApiError::InvalidRequest(format!(
            "limit must be a whole number in 1..={MAX_LIMIT}, got {}",
            body.limit
        )));
    };
    let user_id = path.into_inner().user_id;
    state.leases.set_limit(&user_id, Some(limit)).await?;
    Ok(Json(LimitView { user_id, limit, source: LimitSource::Override }))
}

pub async fn delete(_admin: Admin, state: Data<AppState>, path: Path<UserPath>) -> Result<HttpResponse, ApiError> {
    state.leases.set_limit(&path.user_id, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
