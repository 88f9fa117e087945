//! Logging: env_logger, with the HTTP stack's own complaints rate-limited.
//!
//! actix-http logs every malformed request it rejects (a bad
//! Content-Length, an oversized head, a slow client) as one `ERROR` line.
//! A client can send those as fast as it likes, so left alone they are a
//! log flood on demand. Those lines go out at most once a second, and the
//! next one says how many were held back.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use log::{Log, Metadata, Record};

/// Log targets of the HTTP stack whose lines a client can cause at will.
const PROTOCOL_TARGETS: &[&str] = &["actix_http"];

/// Starts logging for the process, with env_logger's `filter` (`RUST_LOG`).
pub fn init(filter: &str) {
    let inner = env_logger::Builder::new().parse_filters(filter).build();
    let max_level = inner.filter();
    let logger = RateLimited { inner, throttle: LineThrottle::new(1_000), held_back: AtomicU64::new(0) };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max_level);
    }
}

/// At most one line per window, for lines that something outside the
/// service (a client, an outage) can cause as often as it likes.
#[derive(Debug)]
pub struct LineThrottle {
    window_ms: i64,
    /// When a line last went out (ms since the epoch).
    last: AtomicI64,
}

impl LineThrottle {
    pub const fn new(window_ms: i64) -> Self {
        Self { window_ms, last: AtomicI64::new(i64::MIN) }
    }

    /// True when a line may go out at `now_ms`; of callers racing within
    /// one window, one gets true.
    pub fn admit(&self, now_ms: i64) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        now_ms.saturating_sub(last) >= self.window_ms
            && self.last.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

struct RateLimited<L> {
    inner: L,
    throttle: LineThrottle,
    /// Protocol lines dropped since the last one went out.
    held_back: AtomicU64,
}

impl<L: Log> RateLimited<L> {
    /// True when this protocol line may go out now.
    fn admit(&self, now_ms: i64) -> bool {
        let admitted = self.throttle.admit(now_ms);
        if !admitted {
            self.held_back.fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }
}

impl<L: Log> Log for RateLimited<L> {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if !self.inner.enabled(record.metadata()) {
            return;
        }
        let from_protocol = PROTOCOL_TARGETS.iter().any(|t| record.target().starts_with(t));
        if !from_protocol {
            return self.inner.log(record);
        }
        if !self.admit(chrono::Utc::now().timestamp_millis()) {
            return;
        }
        match self.held_back.swap(0, Ordering::Relaxed) {
            0 => self.inner.log(record),
            n => self.inner.log(
                &Record::builder()
                    .args(format_args!("{} ({n} similar lines held back)", record.args()))
                    .metadata(record.metadata().clone())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            ),
        }
    }

    fn flush(&self) {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use log::Level;

    use super::*;

    #[derive(Default)]
    struct Captured(Mutex<Vec<String>>);

    impl Log for Captured {
        fn enabled(&self, _: &Metadata) -> bool {
            true
        }
        fn log(&self, record: &Record) {
            self.0.lock().unwrap().push(format!("{}: {}", record.target(), record.args()));
        }
        fn flush(&self) {}
    }

    fn emit(logger: &impl Log, target: &str, text: &str) {
        logger.log(&Record::builder().level(Level::Error).target(target).args(format_args!("{text}")).build());
    }

    #[test]
    fn protocol_errors_go_out_once_a_window_and_say_how_many_were_held_back() {
        let logger = RateLimited {
            inner: Captured::default(),
            throttle: LineThrottle::new(i64::MAX),
            held_back: AtomicU64::new(0),
        };
        for _ in 0..1_000 {
            emit(&logger, "actix_http::h1::dispatcher", "stream error: bad content-length");
        }
        emit(&logger, "streamlease::service", "store call failed");
        let lines = logger.inner.0.lock().unwrap().clone();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[1].starts_with("streamlease::service"), "other targets are never held back");

        // A window later, the next line carries the count of those held back.
        logger.throttle.last.store(i64::MIN, Ordering::Relaxed);
        emit(&logger, "actix_http::h1::dispatcher", "stream error");
        let last = logger.inner.0.lock().unwrap().last().unwrap().clone();
        assert!(last.ends_with("(999 similar lines held back)"), "{last}");
    }
}
