//! What the scripts are told about time. In production they read Redis
//! `TIME` themselves (one clock decides); this side only estimates Redis'
//! clock to give an acquire a deadline in it. Tests may instead fix the
//! time the scripts see.
//!
//! The estimate is Redis' time at a reading plus how much time has passed
//! since, by this process' monotonic clock. It never reads this host's
//! wall clock, so stepping that clock (NTP, an operator) changes nothing;
//! Redis' own clock jumping (a failover to a host whose clock differs) is
//! caught by the next reading, taken every census period on every instance
//! and at once after an acquire that arrived "too late".

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::domain::Millis;

/// No estimate yet (Redis has not answered since startup).
const UNKNOWN: i64 = i64::MIN;

pub struct RedisClock {
    /// What our monotonic clock counts from.
    origin: Instant,
    /// Redis' time minus the ms elapsed since `origin`, from the last `TIME`
    /// we read.
    offset_ms: AtomicI64,
    /// Set only in tests: the scripts run on this clock instead of `TIME`.
    fixed: Option<Arc<dyn Clock>>,
}

impl RedisClock {
    pub fn new() -> Self {
        Self { origin: Instant::now(), offset_ms: AtomicI64::new(UNKNOWN), fixed: None }
    }

    /// Time fixed by a test's clock (`RedisStore::with_test_clock`).
    #[cfg(any(test, feature = "testing"))]
    pub fn fixed_by(clock: Arc<dyn Clock>) -> Self {
        Self { fixed: Some(clock), ..Self::new() }
    }

    /// Our monotonic time, in ms since `origin`: what readings are timed by.
    pub fn local_now_ms(&self) -> Millis {
        self.origin.elapsed().as_millis() as Millis
    }

    /// Learns the offset from a `TIME` reading taken between `sent` and
    /// `received` (`local_now_ms`): its error is at most half the round trip.
    pub fn learn(&self, redis_now: Millis, sent: Millis, received: Millis) {
        self.offset_ms.store(redis_now - (sent + received) / 2, Ordering::Relaxed);
    }

    /// The time a test fixed, if any.
    pub fn fixed_now(&self) -> Option<Millis> {
        self.fixed.as_ref().map(|clock| clock.now_ms())
    }

    /// The scripts' ARGV[1]: empty, so Redis `TIME` decides, unless a test
    /// fixed the time.
    pub fn now_arg(&self) -> String {
        self.fixed.as_ref().map(|clock| clock.now_ms().to_string()).unwrap_or_default()
    }

    /// The latest Redis time at which a call sent now may still act, or
    /// empty when unknown (then only the compensating withdraw protects).
    pub fn deadline_arg(&self, within: Duration) -> String {
        let offset = self.offset_ms.load(Ordering::Relaxed);
        if self.fixed.is_some() || offset == UNKNOWN {
            return String::new();
        }
        (self.local_now_ms() + offset + within.as_millis() as i64).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_in_redis_time_once_an_offset_is_known() {
        let clock = RedisClock::new();
        assert_eq!(clock.deadline_arg(Duration::from_millis(750)), "");
        // Redis says it is 10 s past the epoch when we are 5 ms into ours.
        clock.learn(10_000, 4, 6);
        let deadline: i64 = clock.deadline_arg(Duration::from_millis(750)).parse().unwrap();
        let expected = 10_000 - 5 + clock.local_now_ms() + 750;
        assert!((deadline - expected).abs() <= 5, "{deadline} vs {expected}");
        assert_eq!(clock.now_arg(), "");
    }
}
