//! A JSON body that may be absent. A heartbeat carries one only to restore a
//! lease the store lost; when present it follows the same rules as every
//! JSON body (4 KiB, application/json, problem+json errors).

use std::future::ready;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::web::Json;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if has_no_body(req) {
            return Box::pin(ready(Ok(OptionalJson(None))));
        }
        let json = Json::<T>::from_request(req, payload);
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
