//! Who may call what. Handlers take `Admin` or `Player` as an argument, so a
//! route's protection is visible in its signature. Tokens are compared or
//! verified here and never logged.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::{Either, LocalBoxFuture};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::problem::ApiError;
use super::{AppState, RELEASE_BEACON_ROUTE};
use crate::config::Settings;
use crate::domain::Limits;
use crate::identity::jwks::Jwks;
use crate::identity::{Identity, Refusal, Verifier};

/// The credentials this instance accepts, prepared once at startup.
pub struct Auth {
    admin_token: Option<SecretString>,
    players: Option<Verifier>,
    metrics_token: Option<SecretString>,
}

impl Auth {
    /// `jwks`: the IdP's keys, when player tokens may be signed with them.
    pub fn new(settings: &Settings, jwks: Option<Arc<Jwks>>) -> Self {
        Auth {
            admin_token: settings.admin_token.clone(),
            players: settings.jwt.as_ref().map(|jwt| Verifier::new(jwt, jwks)),
            metrics_token: settings.metrics.token.clone(),
        }
    }

    fn is_admin(&self, token: &str) -> bool {
        self.admin_token.as_ref().is_some_and(|admin| same_secret(admin, token))
    }

    /// False while player tokens cannot be checked (the IdP's keys were
    /// never loaded): `/readyz` then says so.
    pub fn is_ready(&self) -> bool {
        self.players.as_ref().is_none_or(Verifier::is_ready)
    }
}

/// Constant time, so response timing does not leak the secret.
fn same_secret(secret: &SecretString, token: &str) -> bool {
    bool::from(token.as_bytes().ct_eq(secret.expose_secret().as_bytes()))
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Unauthorized(why) => {
                log::debug!("player token refused: {why}");
                ApiError::Unauthorized
            }
            Refusal::KeysUnavailable => ApiError::KeysUnavailable,
            Refusal::BadLimitClaim(claim) => ApiError::BadLimitClaim(claim),
        }
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
/// that user, or the admin token. Without player tokens configured, player
/// routes are open.
pub struct Player {
    /// The limits the token carries (`STREAMLEASE_JWT_LIMIT_CLAIM`), if any.
    pub token_limits: Option<Arc<Limits>>,
}

impl Player {
    const UNLIMITED_BY_TOKEN: Player = Player { token_limits: None };

    pub fn token_limits(&self) -> Option<&Limits> {
        self.token_limits.as_deref()
    }
}

impl FromRequest for Player {
    type Error = ApiError;
    /// At once, but for a token signed with a key the IdP's set lacks: the
    /// set is then fetched again (see `Jwks::refetch_for_unknown_kid`).
    type Future = Either<Ready<Result<Self, ApiError>>, LocalBoxFuture<'static, Result<Self, ApiError>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let open = || Either::Left(ready(Ok(Player::UNLIMITED_BY_TOKEN)));
        let Some(state) = req.app_data::<Data<AppState>>() else { return open() };
        let Some(verifier) = &state.auth.players else { return open() };
        let header = bearer(req);
        // The admin token only ever travels in the header: a query string ends
        // up in proxy logs and browser history, where a JWT's short life limits
        // the harm and the admin token's does not.
        if header.is_some_and(|token| state.auth.is_admin(token)) {
            return open();
        }
        let beacon = beacon_token(req);
        let Some(token) = header.or(beacon.as_deref()) else { return Either::Left(ready(Err(ApiError::Unauthorized))) };
        let user = req.match_info().get("user_id").map(str::to_owned);
        if let Some(answer) = verifier.verify_now(token) {
            return Either::Left(ready(for_user(answer, user.as_deref())));
        }
        let (auth, token) = (state.auth.clone(), token.to_owned());
        Either::Right(Box::pin(async move {
            let verifier = auth.players.as_ref().expect("checked above");
            for_user(verifier.verify(&token).await, user.as_deref())
        }))
    }
}

/// The player, when the token acts for the path's user.
fn for_user(identity: Result<Identity, Refusal>, user: Option<&str>) -> Result<Player, ApiError> {
    let identity = identity?;
    if identity.user.as_str() == user.unwrap_or_default() {
        Ok(Player { token_limits: identity.limit })
    } else {
        Err(ApiError::Forbidden)
    }
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
