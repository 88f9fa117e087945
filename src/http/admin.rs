//! The admin guard: an extractor that admin handlers take as an argument, so
//! a route cannot be admin without saying so in its signature.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use subtle::ConstantTimeEq;

use super::AppState;
use super::problem::ApiError;

/// Proof that the request carried the admin token (or that none is set).
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let expected = req.app_data::<Data<AppState>>().and_then(|s| s.settings.admin_token.as_deref());
        let Some(expected) = expected else {
            return ready(Ok(Admin));
        };
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Constant time, so response timing does not leak the token.
        let matches: bool = presented.as_bytes().ct_eq(expected.as_bytes()).into();
        ready(if matches { Ok(Admin) } else { Err(ApiError::Unauthorized) })
    }
}
