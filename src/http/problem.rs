//! Every error the API answers, and its one mapping to an RFC 9457
//! `application/problem+json` response with a machine-readable `code`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, error};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::views::LeaseView;
use crate::domain::{EndReason, LeaseId, LimitClass, UserLimit};
use crate::store::StoreError;

/// The RFC 9457 body; a struct so the standard members come first.
#[derive(Serialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    code: &'static str,
    #[serde(flatten)]
    extensions: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The token is genuine, but the claim that should carry the user's
    /// limit holds something else.
    #[error("the token's {0} claim must be a whole number from 1 to 1000")]
    BadLimitClaim(String),
    #[error("this token is not for this user")]
    Forbidden,
    /// A browser request from an origin (or with a method or header) that
    /// `STREAMLEASE_CORS_ORIGINS` does not allow.
    #[error("CORS: {0}")]
    CorsRefused(String),
    #[error("no such route")]
    NotFound,
    #[error("no live lease with this id: it expired or was never known; acquire a new one")]
    LeaseNotFound,
    #[error("this route allows only {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("{}", at_limit(limit_class, limit, *active))]
    LimitReached { limit_class: LimitClass, limit: UserLimit, active: u32, leases: Vec<LeaseView> },
    #[error("this lease was {}; stop playback", reason.as_str())]
    LeaseEnded { reason: EndReason, by_lease_id: Option<LeaseId> },
    #[error("the JSON body is larger than 4 KiB")]
    PayloadTooLarge,
    #[error("send the body as Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("the lease store did not answer; retry shortly")]
    StoreUnavailable,
    /// Player tokens are signed with the identity provider's keys, and this
    /// instance could not load them yet.
    #[error("the identity provider's keys could not be loaded yet; retry shortly")]
    KeysUnavailable,
    #[error("the lease store is out of memory and takes no new leases; playing streams go on; retry later")]
    StoreOutOfMemory,
    #[error("the lease store is a read-only replica and takes no writes; retry later")]
    StoreReadOnly,
    #[error("the lease store failed this call; the cause was logged")]
    StoreError,
    #[error("this instance has more work than it can answer in time; retry shortly")]
    Overloaded,
    #[error("the request body did not arrive within {0} ms")]
    RequestTimeout(u64),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::Unauthorized | ApiError::BadLimitClaim(_) => "unauthorized",
            ApiError::Forbidden | ApiError::CorsRefused(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::LeaseNotFound => "lease_not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::LimitReached { .. } => "limit_reached",
            ApiError::LeaseEnded { .. } => "lease_ended",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::StoreUnavailable => "store_unavailable",
            ApiError::KeysUnavailable => "keys_unavailable",
            ApiError::StoreOutOfMemory => "store_out_of_memory",
            ApiError::StoreReadOnly => "store_read_only",
            ApiError::StoreError => "store_error",
            ApiError::Overloaded => "overloaded",
            ApiError::RequestTimeout(_) => "request_timeout",
        }
    }

    /// Members beyond the standard ones, so a client can act without parsing
    /// `detail`.
    fn extensions(&self) -> Map<String, Value> {
        let mut extra = Map::new();
        match self {
            ApiError::LimitReached { limit_class, limit, active, leases } => {
                extra.insert("limit_class".into(), json!(limit_class));
                extra.insert("limit".into(), json!(limit.limit));
                extra.insert("limit_source".into(), json!(limit.source));
                extra.insert("active".into(), json!(active));
                extra.insert("leases".into(), json!(leases));
            }
            ApiError::LeaseEnded { reason, by_lease_id } => {
                extra.insert("reason".into(), json!(reason));
                if let Some(by) = by_lease_id {
                    extra.insert("by_lease_id".into(), json!(by));
                }
            }
            _ => {}
        }
        extra
    }
}

/// The detail of a 409: which limit, and how full.
fn at_limit(limit_class: &LimitClass, limit: &UserLimit, active: u32) -> String {
    match limit_class {
        LimitClass::Total => format!("the user already watches {active} of {} allowed streams", limit.limit),
        LimitClass::Class(class) if limit.limit == 0 => format!("{class} streams are not allowed for this user"),
        LimitClass::Class(class) => {
            format!("the user already watches {active} of {} allowed {class} streams", limit.limit)
        }
    }
}

/// Store failures are logged (rate-limited, with their cause) and counted
/// where they happen, in `service::LeaseService`; here each kind gets its answer.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Timeout(_) | StoreError::TooLate(_) | StoreError::Unavailable(_) => ApiError::StoreUnavailable,
            StoreError::Overloaded => ApiError::Overloaded,
            StoreError::OutOfMemory(_) => ApiError::StoreOutOfMemory,
            StoreError::ReadOnly(_) => ApiError::StoreReadOnly,
            StoreError::Failed(_) | StoreError::Corrupt(_) => ApiError::StoreError,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::BadLimitClaim(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::CorsRefused(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::LeaseNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::LimitReached { .. } => StatusCode::CONFLICT,
            ApiError::LeaseEnded { .. } => StatusCode::GONE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::StoreUnavailable
            | ApiError::KeysUnavailable
            | ApiError::StoreOutOfMemory
            | ApiError::StoreReadOnly
            | ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StoreError => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let body = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code(),
            extensions: self.extensions(),
        };

        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            ApiError::StoreUnavailable | ApiError::Overloaded => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            // Memory or a failover takes an operator, the IdP's keys a fetch
            // that is retried every few seconds: no point retrying at once.
            ApiError::StoreOutOfMemory | ApiError::StoreReadOnly | ApiError::KeysUnavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            // A client that sends half a body gets no more of our time.
            ApiError::RequestTimeout(_) => {
                response.force_close();
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            ApiError::Unauthorized | ApiError::BadLimitClaim(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

/// Turns actix' JSON body errors into problems.
pub fn json_error(err: error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::PayloadTooLarge,
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Deserialize(e) => ApiError::InvalidRequest(format!("invalid JSON body: {e}")),
        other => ApiError::InvalidRequest(format!("unreadable body: {other}")),
    }
    .into()
}

/// Turns a bad id in the path into a problem.
pub fn path_error(err: error::PathError, _req: &HttpRequest) -> actix_web::Error {
    let error::PathError::Deserialize(e) = err else {
        return ApiError::InvalidRequest("invalid path".into()).into();
    };
    ApiError::InvalidRequest(format!("invalid id in path: {e}")).into()
}
