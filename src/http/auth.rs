//! Who may call what. Handlers take `Admin` or `Player` as an argument, so a
//! route's protection is visible in its signature. Tokens are compared or
//! verified here and never logged.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::problem::ApiError;
use super::{AppState, RELEASE_BEACON_ROUTE};
use crate::config::{JwtSettings, Settings};

/// How far past `exp` a token is still accepted, for clocks that disagree
/// between the token issuer and this service.
const JWT_CLOCK_SKEW_S: u64 = 30;

/// The credentials this instance accepts, prepared once at startup.
pub struct Auth {
    admin_token: Option<SecretString>,
    jwt: Option<JwtCheck>,
    metrics_token: Option<SecretString>,
}

/// How a player JWT is verified.
struct JwtCheck {
    key: DecodingKey,
    validation: Validation,
    /// The longest lifetime a token may claim, in seconds.
    max_lifetime_s: u64,
}

impl Auth {
    pub fn new(settings: &Settings) -> Self {
        Auth {
            admin_token: settings.admin_token.clone(),
            jwt: settings.jwt.as_ref().map(jwt_checks),
            metrics_token: settings.metrics.token.clone(),
        }
    }

    fn is_admin(&self, token: &str) -> bool {
        self.admin_token.as_ref().is_some_and(|admin| same_secret(admin, token))
    }
}

/// Constant time, so response timing does not leak the secret.
fn same_secret(secret: &SecretString, token: &str) -> bool {
    bool::from(token.as_bytes().ct_eq(secret.expose_secret().as_bytes()))
}

fn jwt_checks(settings: &JwtSettings) -> JwtCheck {
    // HS256 only: a token must not choose its own algorithm.
    let mut validation = Validation::new(Algorithm::HS256);
    let mut required = vec!["exp", "sub"];
    validation.leeway = JWT_CLOCK_SKEW_S;
    // A token not yet valid is not valid (RFC 7519 §4.1.5).
    validation.validate_nbf = true;
    match &settings.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        // No audience configured: `aud` is not ours to judge.
        None => validation.validate_aud = false,
    }
    if let Some(issuer) = &settings.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    validation.set_required_spec_claims(&required);
    JwtCheck {
        key: DecodingKey::from_secret(settings.secret.expose_secret().as_bytes()),
        validation,
        max_lifetime_s: settings.max_lifetime.as_secs(),
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    /// Numbers as JSON has them: `exp` may be fractional or beyond i64.
    exp: f64,
    iat: Option<f64>,
}

impl JwtCheck {
    /// The token's claims, when its signature, times and lifetime hold.
    fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let decoded =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|_| ApiError::Unauthorized)?;
        // `crit` lists extensions the recipient must understand; we
        // understand none, so such a token must be refused (RFC 7515 §4.1.11).
        if decoded.header.crit.is_some() {
            return Err(ApiError::Unauthorized);
        }
        let claims = decoded.claims;
        let from = claims.iat.unwrap_or_else(|| chrono::Utc::now().timestamp() as f64);
        if claims.exp - from > self.max_lifetime_s as f64 {
            return Err(ApiError::Unauthorized);
        }
        Ok(claims)
    }
}

fn auth(req: &HttpRequest) -> Option<&Auth> {
    req.app_data::<Data<AppState>>().map(|state| &*state.auth)
}

/// The token of `Authorization: Bearer <token>`; the scheme name is
/// case-insensitive (RFC 9110 §11.1).
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim_start_matches(' ')).filter(|t| !t.is_empty())
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

/// Admin routes and `/metrics` are for servers and scrapers. A request
/// that carries `Origin` comes from a browser page, and a page must never
/// revoke a user's leases, change a limit or read the metrics, whatever
/// CORS allows (see also `cors::refusals_as_problems`).
fn not_from_a_browser(req: &HttpRequest) -> Result<(), ApiError> {
    if req.headers().contains_key(header::ORIGIN) {
        return Err(ApiError::CorsRefused(super::cors::FOR_SERVERS.into()));
    }
    Ok(())
}

/// Ok when no `secret` is set, or the request's bearer token is it.
fn bearer_is(req: &HttpRequest, secret: Option<&SecretString>) -> Result<(), ApiError> {
    let Some(secret) = secret else { return Ok(()) };
    if bearer(req).is_some_and(|token| same_secret(secret, token)) { Ok(()) } else { Err(ApiError::Unauthorized) }
}

/// Proof that the request carried the admin token (or that none is set).
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let admin =
            not_from_a_browser(req).and_then(|()| bearer_is(req, auth(req).and_then(|a| a.admin_token.as_ref())));
        ready(admin.map(|()| Admin))
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
    let Some(jwt) = &auth.jwt else { return Ok(Player) };
    let header = bearer(req);
    // The admin token only ever travels in the header: a query string ends
    // up in proxy logs and browser history, where a JWT's short life limits
    // the harm and the admin token's does not.
    if header.is_some_and(|token| auth.is_admin(token)) {
        return Ok(Player);
    }
    let beacon = beacon_token(req);
    let token = header.or(beacon.as_deref()).ok_or(ApiError::Unauthorized)?;
    let sub = jwt.verify(token)?.sub;
    if req.match_info().get("user_id") == Some(sub.as_str()) { Ok(Player) } else { Err(ApiError::Forbidden) }
}

/// Proof that the caller may read `/metrics`: the metrics token, when one is
/// set (the admin token is not accepted: a scraper's credential should open
/// nothing else, and the admin's should not sit in a scrape config).
pub struct MetricsReader;

impl FromRequest for MetricsReader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let reader =
            not_from_a_browser(req).and_then(|()| bearer_is(req, auth(req).and_then(|a| a.metrics_token.as_ref())));
        ready(reader.map(|()| MetricsReader))
    }
}
