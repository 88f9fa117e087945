//! Who may call what. Handlers take `Admin` or `Player` as an argument, so a
//! route's protection is visible in its signature. Tokens are compared or
//! verified here and never logged.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::problem::ApiError;
use super::{AppState, RELEASE_BEACON_ROUTE};

/// How far past `exp` a token is still accepted, for clocks that disagree
/// between the token issuer and this service.
const JWT_CLOCK_SKEW_S: u64 = 30;

/// The credentials this instance accepts, prepared once at startup.
pub struct Auth {
    admin_token: Option<String>,
    jwt: Option<(DecodingKey, Validation)>,
}

impl Auth {
    pub fn new(admin_token: Option<String>, jwt_secret: Option<&str>) -> Self {
        let jwt = jwt_secret.map(|secret| {
            // HS256 only: a token must not choose its own algorithm.
            let mut validation = Validation::new(Algorithm::HS256);
            validation.set_required_spec_claims(&["exp", "sub"]);
            validation.leeway = JWT_CLOCK_SKEW_S;
            (DecodingKey::from_secret(secret.as_bytes()), validation)
        });
        Auth { admin_token, jwt }
    }

    /// Constant time, so response timing does not leak the token.
    fn is_admin(&self, token: &str) -> bool {
        self.admin_token.as_deref().is_some_and(|admin| bool::from(token.as_bytes().ct_eq(admin.as_bytes())))
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

fn auth(req: &HttpRequest) -> Option<&Auth> {
    req.app_data::<Data<AppState>>().map(|state| &state.auth)
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

/// `navigator.sendBeacon` cannot set headers, so the beacon release route
/// also takes the token as `?access_token=` (RFC 6750). Access logs record
/// the path without its query.
fn beacon_token(req: &HttpRequest) -> Option<String> {
    if req.match_name() != Some(RELEASE_BEACON_ROUTE) {
        return None;
    }
    let token = req.query_string().split('&').find_map(|pair| pair.strip_prefix("access_token="))?;
    Some(percent_encoding::percent_decode_str(token).decode_utf8_lossy().into_owned())
}

/// Proof that the request carried the admin token (or that none is set).
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(auth) = auth(req).filter(|a| a.admin_token.is_some()) else {
            return ready(Ok(Admin));
        };
        ready(if bearer(req).is_some_and(|token| auth.is_admin(token)) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized)
        })
    }
}

/// Proof that the caller may act for the path's user: a JWT whose `sub` is
/// that user, or the admin token. Without `STREAMLEASE_JWT_SECRET`, player
/// routes are open.
pub struct Player;

impl FromRequest for Player {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check_player(req))
    }
}

fn check_player(req: &HttpRequest) -> Result<Player, ApiError> {
    let Some(auth) = auth(req) else { return Ok(Player) };
    let Some((key, validation)) = &auth.jwt else { return Ok(Player) };
    let beacon = beacon_token(req);
    let token = bearer(req).or(beacon.as_deref()).ok_or(ApiError::Unauthorized)?;
    if auth.is_admin(token) {
        return Ok(Player);
    }
    let claims = jsonwebtoken::decode::<Claims>(token, key, validation).map_err(|_| ApiError::Unauthorized)?.claims;
    if req.match_info().get("user_id") == Some(claims.sub.as_str()) { Ok(Player) } else { Err(ApiError::Forbidden) }
}
