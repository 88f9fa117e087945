//! File descriptors: each connection takes one, and so do Redis
//! connections, the metrics listener and the odd file. A process that runs
//! out cannot even accept a connection to refuse it, so the connection
//! limit is sized below the open-file limit, with a reserve for the rest.
//!
//! At startup the soft limit is raised to the hard one (a systemd unit's
//! soft default of 1,024 would stop an instance near 1,000 players). A
//! default `STREAMLEASE_MAX_CONNECTIONS` is then lowered to fit; a value
//! set explicitly that does not fit stops startup.

use crate::config::{ConfigError, Settings};
use crate::http::server::REFUSALS_PER_WORKER;

/// Descriptors kept for everything but the API's connections: Redis (a
/// connection per worker, more on a cluster), the metrics listener (64
/// connections), logs and the odd file.
const RESERVE_FIXED: u64 = 256;

/// Raises the soft open-file limit to the hard one; returns the soft limit
/// now in force (unchanged when it cannot be read or raised).
pub fn raise_open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own; nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some(limit.rlim_cur)
}

/// Descriptors the API's connections may not use, for `workers` workers.
pub fn reserve(workers: usize) -> u64 {
    RESERVE_FIXED + (REFUSALS_PER_WORKER * workers) as u64
}

/// Fits `settings`' connection limit into `open_files` descriptors.
pub fn fit(settings: &mut Settings, open_files: u64) -> Result<(), ConfigError> {
    let room = open_files.saturating_sub(reserve(settings.workers));
    let wanted = settings.http.max_connections as u64;
    if wanted <= room {
        return Ok(());
    }
    if settings.http.max_connections_set || room == 0 {
        return Err(ConfigError::new(
            "STREAMLEASE_MAX_CONNECTIONS",
            format!(
                "{wanted} connections do not fit in the {open_files} files this process may open \
                 ({} kept for Redis, metrics and refusals): raise the hard limit (LimitNOFILE=) or set at most {room}",
                reserve(settings.workers)
            ),
        ));
    }
    settings.http.max_connections = room as usize;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(flags: &[&str]) -> Settings {
        Settings::parse(["streamlease"].iter().chain(flags)).unwrap()
    }

    #[test]
    fn a_default_limit_is_lowered_to_fit_and_a_set_one_that_does_not_fit_is_refused() {
        let mut s = settings(&["--workers=2"]);
        fit(&mut s, 1_048_576).unwrap();
        assert_eq!(s.http.max_connections, 20_000, "fits: unchanged");
        fit(&mut s, 1024).unwrap();
        assert_eq!(s.http.max_connections as u64, 1024 - reserve(2));

        let mut s = settings(&["--workers=2", "--max-connections=5000"]);
        let err = fit(&mut s, 1024).unwrap_err();
        assert_eq!(err.var, "STREAMLEASE_MAX_CONNECTIONS");
        assert!(err.problem.contains("1024"), "{err}");
        fit(&mut s, 8192).unwrap();
        assert_eq!(s.http.max_connections, 5000);
        let mut tiny = settings(&["--workers=2"]);
        assert!(fit(&mut tiny, 100).is_err(), "no room at all");
    }
}
