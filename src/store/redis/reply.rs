//! Decoding what the scripts return (shapes documented in each `.lua` file)
//! into domain outcomes.

use redis::Value;

use super::record;
use crate::domain::*;
use crate::store::{StoreError, StoreResult};

fn bad(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

fn items(value: &Value) -> StoreResult<&[Value]> {
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

fn lease_ids(value: &Value) -> StoreResult<Vec<LeaseId>> {
    items(value)?.iter().map(lease_id).collect()
}

/// A lease from its record.
fn lease(record: &Value) -> StoreResult<Lease> {
    decoded(text(record)?)
}

fn decoded(record: &str) -> StoreResult<Lease> {
    record::decode(record).ok_or_else(|| bad(format!("corrupt lease record {record:?}")))
}

/// Leases from an array of records, oldest first.
fn leases(value: &Value) -> StoreResult<Vec<Lease>> {
    oldest_first(items(value)?.iter().map(text))
}

/// The leases of `records`, oldest first.
fn oldest_first<'a>(records: impl Iterator<Item = StoreResult<&'a str>>) -> StoreResult<Vec<Lease>> {
    let mut leases = records.map(|record| decoded(record?)).collect::<StoreResult<Vec<_>>>()?;
    leases.sort_by(Lease::by_age);
    Ok(leases)
}

/// Where a limit came from: the scripts say 'o' when the override decided
/// it and 'f' when the limit the service sent did, which is the token's
/// when the token states that limit.
fn limit_source(flag: &str, bound: &LimitClass, token: Option<&Limits>) -> StoreResult<LimitSource> {
    let token_states_it = match bound {
        LimitClass::Total => token.is_some(),
        LimitClass::Class(class) => token.and_then(|t| t.of_class(class)).is_some(),
    };
    match flag {
        "o" => Ok(LimitSource::of(true, token_states_it)),
        "f" => Ok(LimitSource::of(false, token_states_it)),
        other => Err(bad(format!("limit source {other:?}"))),
    }
}

/// The limit a 'denied' reply names: "total" or a class.
fn limit_class(name: &str) -> StoreResult<LimitClass> {
    if name == crate::domain::limits::TOTAL {
        return Ok(LimitClass::Total);
    }
    ClassName::try_from(name).map(LimitClass::Class).map_err(|e| bad(format!("limit class: {e}")))
}

fn granted(
    (limit, source): (&Value, &Value),
    active: &Value,
    record: &Value,
    token: Option<&Limits>,
) -> StoreResult<Granted> {
    Ok(Granted {
        lease: lease(record)?,
        active: count(active)?,
        limit: count(limit)?,
        limit_source: limit_source(text(source)?, &LimitClass::Total, token)?,
    })
}

/// What a mutating script answers: its outcome, and how many expired leases
/// it dropped on the way (for `streamlease_leases_expired_total`).
pub struct Reply<T> {
    pub outcome: T,
    pub expired: u64,
}

/// Splits `{tag, expired, rest...}`.
fn tagged(value: &Value) -> StoreResult<(&str, u64, &[Value])> {
    let [tag, expired, rest @ ..] = items(value)? else {
        return Err(bad(format!("reply too short: {value:?}")));
    };
    let expired = u64::try_from(int(expired)?).map_err(|_| bad("negative expired count"))?;
    Ok((text(tag)?, expired, rest))
}

/// The acquire script ran after its deadline and took nothing.
pub fn is_too_late(value: &Value) -> bool {
    matches!(items(value), Ok([tag, ..]) if text(tag).is_ok_and(|t| t == "too_late"))
}

pub fn acquire(value: Value, token: Option<&Limits>) -> StoreResult<Reply<AcquireOutcome>> {
    let (tag, expired, rest) = tagged(&value)?;
    let outcome = match (tag, rest) {
        ("denied", [limit, source, active, records, terminated, class]) => {
            let bound = limit_class(text(class)?)?;
            AcquireOutcome::Denied {
                refusal: Refusal {
                    limit: count(limit)?,
                    limit_source: limit_source(text(source)?, &bound, token)?,
                    limit_class: bound,
                    active: count(active)?,
                    leases: leases(records)?,
                },
                terminated: lease_ids(terminated)?,
            }
        }
        ("created", [limit, source, active, record, evicted, terminated]) => AcquireOutcome::Created {
            granted: granted((limit, source), active, record, token)?,
            evicted: lease_ids(evicted)?,
            terminated: lease_ids(terminated)?,
        },
        ("renewed", [limit, source, active, record, evicted, terminated]) => AcquireOutcome::Renewed {
            granted: granted((limit, source), active, record, token)?,
            evicted: lease_ids(evicted)?,
            terminated: lease_ids(terminated)?,
        },
        _ => return Err(bad(format!("unexpected acquire reply {tag:?} {rest:?}"))),
    };
    Ok(Reply { outcome, expired })
}

/// The heartbeat's one-line answer, its fields joined by ';' (see
/// `lua/heartbeat.lua`).
pub fn heartbeat(value: Value, token: Option<&Limits>) -> StoreResult<Reply<HeartbeatOutcome>> {
    let line = text(&value)?;
    let mut fields = line.split(';');
    let (Some(tag), Some(expired)) = (fields.next(), fields.next()) else {
        return Err(bad(format!("unexpected heartbeat reply {line:?}")));
    };
    let expired = expired.parse().map_err(|_| bad(format!("heartbeat reply's expired count {line:?}")))?;
    let rest: Vec<&str> = fields.collect();
    let number = |field: &str| field.parse::<u32>().map_err(|_| bad(format!("heartbeat reply {line:?}")));
    let granted = |limit: &str, source: &str, active: &str, record: &str| -> StoreResult<Granted> {
        Ok(Granted {
            lease: decoded(record)?,
            active: number(active)?,
            limit: number(limit)?,
            limit_source: limit_source(source, &LimitClass::Total, token)?,
        })
    };
    let outcome = match (tag, rest.as_slice()) {
        ("renewed", [limit, source, active, record]) => {
            HeartbeatOutcome::Renewed(granted(limit, source, active, record)?)
        }
        ("restored", [limit, source, active, record]) => {
            HeartbeatOutcome::Restored(granted(limit, source, active, record)?)
        }
        ("denied", [limit, source, active, class, records @ ..]) => {
            let bound = limit_class(class)?;
            HeartbeatOutcome::Denied(Refusal {
                limit: number(limit)?,
                limit_source: limit_source(source, &bound, token)?,
                limit_class: bound,
                active: number(active)?,
                leases: oldest_first(records.iter().map(|r| Ok(*r)))?,
            })
        }
        ("ended", [reason, by, ended_at]) => HeartbeatOutcome::Ended(Ended {
            reason: EndReason::parse(reason).ok_or_else(|| bad("unknown end reason"))?,
            by_lease_id: match *by {
                "" => None,
                by => Some(LeaseId::try_from(by).map_err(|_| bad(format!("lease id {by:?}")))?),
            },
            ended_at: ended_at.parse().map_err(|_| bad(format!("heartbeat reply {line:?}")))?,
        }),
        ("not_found", []) => HeartbeatOutcome::NotFound,
        _ => return Err(bad(format!("unexpected heartbeat reply {line:?}"))),
    };
    Ok(Reply { outcome, expired })
}

pub fn release(value: Value) -> StoreResult<Reply<ReleaseOutcome>> {
    let (tag, expired, _) = tagged(&value)?;
    let outcome = match tag {
        "released" => ReleaseOutcome::Released,
        "already_gone" => ReleaseOutcome::AlreadyGone,
        other => return Err(bad(format!("unexpected release reply {other:?}"))),
    };
    Ok(Reply { outcome, expired })
}

pub fn revoke(value: Value) -> StoreResult<Reply<u32>> {
    match tagged(&value)? {
        ("revoked", expired, [revoked]) => Ok(Reply { outcome: count(revoked)?, expired }),
        (tag, _, rest) => Err(bad(format!("unexpected revoke reply {tag:?} {rest:?}"))),
    }
}

/// What the census script found of one user: its live lease count.
pub fn census(value: Value) -> StoreResult<Reply<u32>> {
    match tagged(&value)? {
        ("census", expired, [_limit, active]) => Ok(Reply { outcome: count(active)?, expired }),
        (tag, _, rest) => Err(bad(format!("unexpected census reply {tag:?} {rest:?}"))),
    }
}

/// Redis `TIME` in ms.
pub fn time(value: &Value) -> StoreResult<Millis> {
    match items(value)? {
        [seconds, micros] => Ok(int(seconds)? * 1000 + int(micros)? / 1000),
        other => Err(bad(format!("unexpected TIME reply {other:?}"))),
    }
}

/// The classes ("a,b", "" for none) of each record of a leases string
/// (read by `GET`) that is live at `now`, and how many records expired;
/// `None` when the key is gone.
pub fn live_and_expired(value: &Value, now: Millis) -> StoreResult<Option<(Vec<&str>, u32)>> {
    if matches!(value, Value::Nil) {
        return Ok(None);
    }
    let raw = text(value)?;
    let (mut live, mut expired) = (Vec::new(), 0);
    for record in raw.split(';') {
        let (expires_at, classes) =
            record::expiry_and_classes(record).ok_or_else(|| bad(format!("corrupt lease record {record:?}")))?;
        if expires_at > now { live.push(classes) } else { expired += 1 }
    }
    Ok(Some((live, expired)))
}

/// A limit override (read by `GET`); `None` when there is none.
pub fn limit_override(value: &Value) -> StoreResult<Option<Limits>> {
    if matches!(value, Value::Nil) {
        return Ok(None);
    }
    let stored = text(value)?;
    record::decode_override(stored).map(Some).ok_or_else(|| bad(format!("limit override {stored:?}")))
}

pub fn list(value: Value, token: Option<&Limits>) -> StoreResult<UserLeases> {
    match items(&value)? {
        [limit, source, records] => Ok(UserLeases {
            limit: count(limit)?,
            limit_source: limit_source(text(source)?, &LimitClass::Total, token)?,
            leases: leases(records)?,
        }),
        other => Err(bad(format!("unexpected list reply {other:?}"))),
    }
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
        let named = lease(&bulk(&format!("{ID}|3|1|s|tv|Den %7C 50%25"))).unwrap();
        assert_eq!(named.device_name.unwrap().as_str(), "Den | 50%");
    }

    #[test]
    fn counts_live_and_expired_records_at_a_time() {
        let raw = bulk(&format!("{ID}|300|100|s|;{ID}|200|100|s|d;{ID}|201|100|s|||uhd,hd"));
        assert_eq!(live_and_expired(&raw, 200).unwrap(), Some((vec!["", "uhd,hd"], 1)));
        assert_eq!(live_and_expired(&raw, 300).unwrap(), Some((vec![], 3)));
        assert_eq!(live_and_expired(&Value::Nil, 0).unwrap(), None);
        for corrupt in ["", "x", &format!("{ID}|300|100|s|;"), &format!("{ID}|soon|100|s|")] {
            assert!(live_and_expired(&bulk(corrupt), 0).is_err(), "{corrupt:?}");
        }
    }

    #[test]
    fn a_heartbeat_line_decodes_to_its_outcome() {
        let renewed = heartbeat(bulk(&format!("renewed;1;3;f;2;{ID}|300|100|s|tv")), None).unwrap();
        assert_eq!(renewed.expired, 1);
        let HeartbeatOutcome::Renewed(granted) = renewed.outcome else { panic!() };
        assert_eq!((granted.limit, granted.active, granted.lease.expires_at), (3, 2, 300));
        assert_eq!(granted.limit_source, LimitSource::Default);
        let other = "0b7c1d9e-8b86-4011-b42d-00c04fc964ff";
        let token = Limits::total(1);
        let line = format!("denied;0;2;o;2;total;{ID}|300|200|s|;{other}|300|100|t|");
        let denied = heartbeat(bulk(&line), Some(&token)).unwrap();
        let HeartbeatOutcome::Denied(Refusal { leases, limit_source, limit_class, .. }) = denied.outcome else {
            panic!()
        };
        assert_eq!(limit_source, LimitSource::Override, "the override wins over the token");
        assert_eq!(limit_class, LimitClass::Total);
        assert_eq!(leases.iter().map(|l| l.acquired_at).collect::<Vec<_>>(), vec![100, 200], "oldest first");
        // A class at 0 refuses with no lease to list; the token does not state it.
        let forbidden = heartbeat(bulk("denied;0;0;f;0;uhd"), Some(&token)).unwrap().outcome;
        let HeartbeatOutcome::Denied(refusal) = forbidden else { panic!() };
        assert_eq!((refusal.limit, refusal.limit_source, refusal.leases.len()), (0, LimitSource::Default, 0));
        assert_eq!(refusal.limit_class.as_str(), "uhd");
        let ended = heartbeat(bulk(&format!("ended;0;evicted;{other};1700000000000")), None).unwrap().outcome;
        let HeartbeatOutcome::Ended(ended) = ended else { panic!() };
        assert_eq!((ended.reason, ended.by_lease_id.map(|l| l.to_string())), (EndReason::Evicted, Some(other.into())));
        let released = heartbeat(bulk("ended;0;released;;5"), None).unwrap().outcome;
        assert!(matches!(released, HeartbeatOutcome::Ended(Ended { by_lease_id: None, ended_at: 5, .. })));
        assert_eq!(heartbeat(bulk("not_found;2"), None).unwrap().outcome, HeartbeatOutcome::NotFound);
        let corrupt =
            ["", "renewed", "renewed;0;3;f;2", "renewed;x;3;f;2;r", "ended;0;gone;;5", "not_found;0;x", "🙂;0"];
        for line in corrupt.into_iter().map(String::from).chain([format!("renewed;0;3;x;2;{ID}|300|100|s|tv")]) {
            assert!(heartbeat(bulk(&line), None).is_err(), "{line:?}");
        }
        assert!(heartbeat(Value::Array(vec![]), None).is_err());
    }

    #[test]
    fn a_corrupt_record_is_an_error_not_a_panic() {
        for tail in
            ["", "|1", "|x|3|s|", "|1|3||", "|1|3|s|d|e|F", "|1|3|s|d|e|f|g", "|1|3|s", "|1|3|s|d|", "|1|3|s|d|%zz"]
        {
            let record = format!("{ID}{tail}");
            assert!(lease(&bulk(&record)).is_err(), "{record:?}");
        }
        assert!(lease(&bulk("nope|1|2|s|")).is_err());
    }
}
