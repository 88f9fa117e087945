//! What kind of failure a Redis error is. The kind decides the answer (see
//! `StoreError`), so it is read from the error's code, never from its text,
//! but for the one answer that Redis gives the generic code ERR (a function
//! not found).

use redis::{ErrorKind, RedisError, ServerErrorKind};

use super::scripts;
use crate::store::StoreError;

/// The code our scripts raise on a record they cannot read (`lua/codec.lua`).
const CORRUPT: &str = "CORRUPT";

impl From<RedisError> for StoreError {
    fn from(e: RedisError) -> Self {
        if e.is_timeout() || e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
            return StoreError::Unavailable(e);
        }
        // Redis still forgets our functions after several reloads (restarts
        // or flushes in a row): it cannot serve this moment. Redis gives
        // this answer the generic code ERR, so only its text tells.
        if scripts::not_found(e.code(), e.detail()) {
            return StoreError::Unavailable(e);
        }
        match e.kind() {
            // Redis is there but cannot serve this moment: loading a dump,
            // mid-failover, or stuck in a long script.
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::TryAgain
                // Redirections still left after the client's retries: a
                // cluster mid-failover or mid-resharding, agreeing soon on
                // who serves the slot.
                | ServerErrorKind::Moved
                | ServerErrorKind::Ask,
            )
            | ErrorKind::ClusterConnectionNotFound => return StoreError::Unavailable(e),
            ErrorKind::Server(ServerErrorKind::ReadOnly) => return StoreError::ReadOnly(e),
            ErrorKind::Parse | ErrorKind::UnexpectedReturnType => return StoreError::Corrupt(e.to_string()),
            _ => {}
        }
        match server_code(&e).as_deref() {
            Some("OOM") => StoreError::OutOfMemory(e),
            Some("BUSY") => StoreError::Unavailable(e),
            Some(CORRUPT) => StoreError::Corrupt(e.detail().unwrap_or_default().to_owned()),
            _ => StoreError::Failed(e),
        }
    }
}

/// The server's error code, also when the error came from a pipeline (whose
/// `code()` is empty): the first failing command's.
fn server_code(e: &RedisError) -> Option<String> {
    if let Some(code) = e.code() {
        return Some(code.to_owned());
    }
    let failures = e.clone().into_server_errors()?;
    failures.first().map(|(_, failure)| failure.code().to_owned())
}

#[cfg(test)]
mod tests {
    use redis::{ErrorKind, RedisError};

    use super::*;

    fn server_error(line: &str) -> RedisError {
        let parsed = redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).unwrap();
        match parsed {
            redis::Value::ServerError(e) => e.into(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_redis_failure_gets_its_kind() {
        let kind = |e: RedisError| StoreError::from(e).kind().map_or("none", crate::store::StoreErrorKind::as_str);
        assert_eq!(kind(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()), "unavailable");
        assert_eq!(kind(server_error("LOADING Redis is loading the dataset in memory")), "unavailable");
        assert_eq!(kind(server_error("ERR Function not found")), "unavailable");
        assert_eq!(kind(server_error("OOM command not allowed when used memory > 'maxmemory'.")), "out_of_memory");
        assert_eq!(kind(server_error("READONLY You can't write against a read only replica.")), "read_only");
        assert_eq!(kind(server_error("CORRUPT lease record \"x\" script: abc")), "corrupt");
        assert_eq!(kind(server_error("ERR user_script:1: attempt to compare nil with number")), "failed");
        assert_eq!(kind(server_error("WRONGTYPE Operation against a key holding the wrong kind of value")), "failed");
        assert_eq!(kind((ErrorKind::UnexpectedReturnType, "not a string").into()), "corrupt");
    }
}
