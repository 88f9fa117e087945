//! Request bodies: JSON read under a deadline, and a JSON body that may be
//! absent.
//!
//! The HTTP stack bounds how long a client may take to send a request's
//! head, but not its body: a client announcing `Content-Length: 100` and
//! sending one byte would hold its connection forever. Every JSON body is
//! therefore read within `STREAMLEASE_REQUEST_TIMEOUT_MS`, after which the
//! answer is 408 and the connection closes.

use std::future::ready;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::web::{Data, Json};
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::AppState;
use super::problem::ApiError;

/// A JSON body (4 KiB, application/json, problem+json errors), read within
/// the request deadline.
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let deadline = req.app_data::<Data<AppState>>().map(|state| state.settings.http.request_timeout);
        let json = Json::<T>::from_request(req, payload);
        Box::pin(async move {
            let Some(deadline) = deadline else { return Ok(JsonBody(json.await?.into_inner())) };
            match tokio::time::timeout(deadline, json).await {
                Ok(read) => Ok(JsonBody(read?.into_inner())),
                Err(_) => Err(ApiError::RequestTimeout(deadline.as_millis() as u64).into()),
            }
        })
    }
}

/// A heartbeat carries a body only to restore a lease the store lost; when
/// present it follows the same rules as every JSON body.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if has_no_body(req) {
            return Box::pin(ready(Ok(OptionalJson(None))));
        }
        let json = JsonBody::<T>::from_request(req, payload);
        Box::pin(async move { Ok(OptionalJson(Some(json.await?.into_inner()))) })
    }
}

fn has_no_body(req: &HttpRequest) -> bool {
    let headers = req.headers();
    match headers.get(CONTENT_LENGTH) {
        Some(length) => length.as_bytes() == b"0",
        None => headers.get(TRANSFER_ENCODING).is_none(),
    }
}
