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
use crate::domain::Limits;

/// `{"limit": n, "classes": {"uhd": n}}`, read by `Limits::from_json`:
/// JSON (and the OpenAPI document's `integer`) counts `5.0` as 5.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct LimitBody(serde_json::Map<String, serde_json::Value>);

/// The limits and where each came from; with a player token, its limits
/// count as they do for the player's leases.
pub async fn get(player: Player, state: Data<AppState>, path: Path<UserPath>) -> Result<impl Responder, ApiError> {
    let user_id = path.into_inner().user_id;
    let limits = state.leases.user_limits(&user_id, player.token_limits()).await?;
    Ok(Json(LimitView::new(user_id, limits)))
}

/// Lowering a limit never ends running leases: the user is simply denied new
/// ones until enough of them end.
pub async fn put(
    _admin: Admin,
    state: Data<AppState>,
    path: Path<UserPath>,
    body: JsonBody<LimitBody>,
) -> Result<impl Responder, ApiError> {
    let body = serde_json::Value::Object(body.into_inner().0);
    let limits = Limits::from_json(&body, MAX_LIMIT).map_err(ApiError::InvalidRequest)?;
    let terms = state.leases.terms();
    terms.classes.check_override(&limits).map_err(ApiError::InvalidRequest)?;
    let user_id = path.into_inner().user_id;
    state.leases.set_limit(&user_id, Some(&limits)).await?;
    Ok(Json(LimitView::new(user_id, terms.limits(Some(&limits), None))))
}

pub async fn delete(_admin: Admin, state: Data<AppState>, path: Path<UserPath>) -> Result<HttpResponse, ApiError> {
    state.leases.set_limit(&path.user_id, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
