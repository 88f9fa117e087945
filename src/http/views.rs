//! Response bodies: the SPEC's Lease object and friends.

use serde::Serialize;

use crate::domain::ledger::Terms;
use crate::domain::*;

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-22T07:02:10.123Z`.
pub fn timestamp(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The Lease object of the API.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseView {
    pub lease_id: LeaseId,
    pub user_id: UserId,
    pub stream_id: StreamId,
    pub device_id: Option<DeviceId>,
    pub device_name: Option<DeviceName>,
    pub classes: Vec<ClassName>,
    pub acquired_at: String,
    pub expires_at: String,
    pub ttl_ms: Millis,
    pub heartbeat_interval_ms: Millis,
    /// The user's live lease count after the operation (in a 409's list:
    /// the count of the limit that refused).
    pub active: u32,
    pub limit: u32,
    /// `override`, `token` or `default`: what decided `limit`.
    pub limit_source: LimitSource,
    /// Only on acquire answers: leases ended to make room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evicted: Option<Vec<LeaseId>>,
    /// Only on acquire answers: leases ended on request (`terminate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated: Option<Vec<LeaseId>>,
    /// Only on a heartbeat that recreated a lease the store had lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<bool>,
    /// With lease tokens on: a new token for this lease (see `lease_token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_token: Option<String>,
}

impl LeaseView {
    pub fn new(user_id: &UserId, lease: Lease, active: u32, limit: UserLimit, terms: &Terms) -> Self {
        LeaseView {
            lease_id: lease.lease_id,
            user_id: user_id.clone(),
            stream_id: lease.stream_id,
            device_id: lease.device_id,
            device_name: lease.device_name,
            classes: lease.classes,
            acquired_at: timestamp(lease.acquired_at),
            expires_at: timestamp(lease.expires_at),
            ttl_ms: terms.ttl_ms,
            heartbeat_interval_ms: terms.heartbeat_interval_ms,
            active,
            limit: limit.limit,
            limit_source: limit.source,
            evicted: None,
            terminated: None,
            restored: None,
            lease_token: None,
        }
    }

    pub fn granted(user_id: &UserId, granted: Granted, terms: &Terms) -> Self {
        let limit = UserLimit { limit: granted.limit, source: granted.limit_source };
        Self::new(user_id, granted.lease, granted.active, limit, terms)
    }

    /// Leases of a user, each carrying the same count and limit.
    pub fn all(user_id: &UserId, leases: Vec<Lease>, active: u32, limit: UserLimit, terms: &Terms) -> Vec<Self> {
        leases.into_iter().map(|l| Self::new(user_id, l, active, limit, terms)).collect()
    }
}

/// What fail-open mode answers while the store is down: a lease nobody has
/// recorded. `active` and `limit` are unknown; `expires_at` is only a hint
/// (by this instance's clock), as the next heartbeat after recovery decides.
#[derive(Debug, Serialize)]
pub struct DegradedLease {
    pub lease_id: LeaseId,
    pub user_id: UserId,
    pub stream_id: Option<StreamId>,
    pub device_id: Option<DeviceId>,
    pub device_name: Option<DeviceName>,
    pub expires_at: String,
    pub ttl_ms: Millis,
    pub heartbeat_interval_ms: Millis,
    pub degraded: bool,
    /// With lease tokens on: `null`, as no token is signed for a lease
    /// nobody recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_token: Option<NoToken>,
}

/// Serialises as `null`: "no lease token here", said on purpose.
#[derive(Debug, Serialize)]
pub struct NoToken;

impl DegradedLease {
    pub fn new(
        user_id: &UserId,
        lease_id: LeaseId,
        stream_id: Option<StreamId>,
        (device_id, device_name): (Option<DeviceId>, Option<DeviceName>),
        terms: &Terms,
    ) -> Self {
        DegradedLease {
            lease_id,
            user_id: user_id.clone(),
            stream_id,
            device_id,
            device_name,
            expires_at: timestamp(chrono::Utc::now().timestamp_millis() + terms.ttl_ms),
            ttl_ms: terms.ttl_ms,
            heartbeat_interval_ms: terms.heartbeat_interval_ms,
            degraded: true,
            lease_token: None,
        }
    }

    /// With lease tokens on, the answer says `lease_token: null`.
    pub fn without_token(self, lease_tokens_on: bool) -> Self {
        DegradedLease { lease_token: lease_tokens_on.then_some(NoToken), ..self }
    }
}

#[derive(Debug, Serialize)]
pub struct LeaseList {
    pub user_id: UserId,
    pub limit: u32,
    pub limit_source: LimitSource,
    pub active: u32,
    pub leases: Vec<LeaseView>,
}

#[derive(Debug, Serialize)]
pub struct Revoked {
    pub revoked: u32,
}

/// `GET …/limit`: the total and every configured class, each with what
/// decided it.
#[derive(Debug, Serialize)]
pub struct LimitView {
    pub user_id: UserId,
    pub limit: u32,
    pub source: LimitSource,
    /// In the configured order.
    pub classes: serde_json::Map<String, serde_json::Value>,
}

impl LimitView {
    pub fn new(user_id: UserId, limits: UserLimits) -> Self {
        let classes = limits
            .classes
            .into_iter()
            .map(|c| {
                // An exempt class has no limit and counts against no total.
                let view = serde_json::json!({"limit": c.limit, "source": c.source, "exempt": c.limit.is_none()});
                (c.class.into(), view)
            })
            .collect();
        LimitView { user_id, limit: limits.total.limit, source: limits.total.source, classes }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(super::timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
