//! Decoding what the scripts return (shapes documented in each `.lua` file)
//! into domain outcomes.

use redis::Value;

use crate::domain::*;
use crate::store::{StoreError, StoreResult};

fn bad(what: impl Into<String>) -> StoreError {
    StoreError::BadReply(what.into())
}

fn items(value: Value) -> StoreResult<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(bad(format!("expected an array, got {other:?}"))),
    }
}

fn text(value: &Value) -> StoreResult<&str> {
    match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).map_err(|_| bad("non-UTF-8 string")),
        Value::SimpleString(s) => Ok(s),
        other => Err(bad(format!("expected a string, got {other:?}"))),
    }
}

fn int(value: &Value) -> StoreResult<i64> {
    match value {
        Value::Int(n) => Ok(*n),
        other => text(other)?.parse().map_err(|_| bad(format!("expected an integer, got {other:?}"))),
    }
}

fn count(value: &Value) -> StoreResult<u32> {
    u32::try_from(int(value)?).map_err(|_| bad("count out of range"))
}

fn lease_id(value: &Value) -> StoreResult<LeaseId> {
    LeaseId::try_from(text(value)?).map_err(|e| bad(format!("lease id: {e}")))
}

fn lease_ids(value: Value) -> StoreResult<Vec<LeaseId>> {
    items(value)?.iter().map(lease_id).collect()
}

fn optional_lease_id(value: &Value) -> StoreResult<Option<LeaseId>> {
    match text(value)? {
        "" => Ok(None),
        _ => lease_id(value).map(Some),
    }
}

/// A lease from its record "lease_id|expires_at|acquired_at|stream_id|device_id".
fn lease(record: &Value) -> StoreResult<Lease> {
    let record = text(record)?;
    let corrupt = || bad(format!("corrupt lease record {record:?}"));
    let fields: Vec<&str> = record.split('|').collect();
    let [id, expires_at, acquired_at, stream_id, device_id] = fields[..] else {
        return Err(corrupt());
    };
    Ok(Lease {
        lease_id: LeaseId::try_from(id).map_err(|_| corrupt())?,
        stream_id: StreamId::try_from(stream_id).map_err(|_| corrupt())?,
        device_id: match device_id {
            "" => None,
            device => Some(DeviceId::try_from(device).map_err(|_| corrupt())?),
        },
        acquired_at: acquired_at.parse().map_err(|_| corrupt())?,
        expires_at: expires_at.parse().map_err(|_| corrupt())?,
    })
}

/// Leases from an array of records, oldest first.
fn leases(value: Value) -> StoreResult<Vec<Lease>> {
    let mut leases = items(value)?.iter().map(lease).collect::<StoreResult<Vec<_>>>()?;
    leases.sort_by(Lease::by_age);
    Ok(leases)
}

fn granted(limit: &Value, active: &Value, record: &Value) -> StoreResult<Granted> {
    Ok(Granted { lease: lease(record)?, active: count(active)?, limit: count(limit)? })
}

pub fn acquire(value: Value) -> StoreResult<AcquireOutcome> {
    let mut parts = items(value)?.into_iter();
    let mut next = || parts.next().ok_or_else(|| bad("acquire reply too short"));
    let (tag, limit, active) = (next()?, next()?, next()?);
    match text(&tag)? {
        "denied" => {
            Ok(AcquireOutcome::Denied { limit: count(&limit)?, active: count(&active)?, leases: leases(next()?)? })
        }
        tag @ ("created" | "renewed") => {
            let (record, evicted, terminated) = (next()?, next()?, next()?);
            let granted = granted(&limit, &active, &record)?;
            let terminated = lease_ids(terminated)?;
            Ok(if tag == "created" {
                AcquireOutcome::Created { granted, evicted: lease_ids(evicted)?, terminated }
            } else {
                AcquireOutcome::Renewed { granted, terminated }
            })
        }
        other => Err(bad(format!("unknown acquire outcome {other:?}"))),
    }
}

pub fn heartbeat(value: Value) -> StoreResult<HeartbeatOutcome> {
    let parts = items(value)?;
    match (parts.first().map(text).transpose()?, parts.as_slice()) {
        (Some("renewed"), [_, limit, active, record]) => Ok(HeartbeatOutcome::Renewed(granted(limit, active, record)?)),
        (Some("ended"), [_, reason, by, ended_at]) => Ok(HeartbeatOutcome::Ended(Ended {
            reason: EndReason::parse(text(reason)?).ok_or_else(|| bad("unknown end reason"))?,
            by_lease_id: optional_lease_id(by)?,
            ended_at: int(ended_at)?,
        })),
        (Some("not_found"), [_]) => Ok(HeartbeatOutcome::NotFound),
        _ => Err(bad(format!("unexpected heartbeat reply {parts:?}"))),
    }
}

pub fn release(value: Value) -> StoreResult<ReleaseOutcome> {
    Ok(match int(&value)? {
        1 => ReleaseOutcome::Released,
        _ => ReleaseOutcome::AlreadyGone,
    })
}

pub fn list(value: Value) -> StoreResult<UserLeases> {
    let mut parts = items(value)?.into_iter();
    match (parts.next(), parts.next()) {
        (Some(limit), Some(flat)) => Ok(UserLeases { limit: count(&limit)?, leases: leases(flat)? }),
        _ => Err(bad("list reply too short")),
    }
}

pub fn revoke(value: Value) -> StoreResult<u32> {
    count(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    const ID: &str = "6f9619ff-8b86-4011-b42d-00c04fc964ff";

    #[test]
    fn decodes_a_lease_record_with_and_without_device() {
        let l = lease(&bulk(&format!("{ID}|300|100|movie:1|tv@home"))).unwrap();
        assert_eq!(l.lease_id.to_string(), ID);
        assert_eq!((l.expires_at, l.acquired_at), (300, 100));
        assert_eq!(l.stream_id.as_str(), "movie:1");
        assert_eq!(l.device_id.unwrap().as_str(), "tv@home");
        assert_eq!(lease(&bulk(&format!("{ID}|3|1|s|"))).unwrap().device_id, None);
    }

    #[test]
    fn a_corrupt_record_is_an_error_not_a_panic() {
        for tail in ["", "|1", "|x|3|s|", "|1|3||", "|1|3|s|d|e", "|1|3|s"] {
            let record = format!("{ID}{tail}");
            assert!(lease(&bulk(&record)).is_err(), "{record:?}");
        }
        assert!(lease(&bulk("nope|1|2|s|")).is_err());
    }
}
