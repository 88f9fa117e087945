//! Shedding under overload: when more arrives than the store can take, the
//! requests that would only wait are answered 503 at once, in an order
//! that keeps playing streams alive.
//!
//! Two signals, each HTTP worker its own:
//!
//! - its store calls under way: latency is that count over the store's
//!   throughput, so a bound on the count bounds how long a call waits for
//!   the store (`STREAMLEASE_SHED_STORE_CALLS`);
//! - how late its event loop runs: a timer that should fire every 10 ms is
//!   late by about as long as a request read now has waited for the CPU,
//!   which is where requests queue when the instance itself is the
//!   bottleneck (`STREAMLEASE_SHED_LAG_MS`).
//!
//! Past a quarter of either bound, new acquires (and lists, limits,
//! revokes) are refused: a new stream can wait. Past half, releases (a slot
//! frees itself at the TTL anyway). Past all of it, heartbeats, which keep
//! streams that already play alive and are shed last. A refusal costs no
//! store call and a small answer, so shedding also gives the loop back its
//! time. Readiness probes, the census and withdraws are never shed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

/// How often each worker's loop lateness is sampled.
const LAG_TICK: Duration = Duration::from_millis(10);

/// How much a call matters to players already watching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Acquires, lists, limits, revokes: shed first.
    Deferrable,
    /// Releases: shed next.
    Release,
    /// Heartbeats: shed last.
    Heartbeat,
    /// Probes and background work: never shed.
    Always,
}

/// Where to stop taking calls: past these, heartbeats are shed (see the
/// module comment for the rest); 0 turns a signal off.
#[derive(Debug, Clone, Copy)]
pub struct ShedBounds {
    pub store_calls: usize,
    pub lag_ms: u64,
}

/// One worker's store calls under way and loop lateness, and where to stop
/// taking more.
#[derive(Clone)]
pub struct Shedder {
    under_way: Arc<AtomicUsize>,
    /// How late the worker's loop ran at its last sample, in ms.
    lag_ms: Arc<AtomicU64>,
    bounds: ShedBounds,
}

impl Shedder {
    pub fn new(bounds: ShedBounds) -> Self {
        Self { under_way: Arc::default(), lag_ms: Arc::default(), bounds }
    }

    /// The same bounds for the worker this is called on, with its own
    /// count and, on a runtime, a sampler of its own loop's lateness (it
    /// stops when the shedder is dropped).
    pub fn for_this_worker(&self) -> Self {
        let shedder = Self::new(self.bounds);
        if shedder.bounds.lag_ms > 0 && tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(sample_lag(Arc::downgrade(&shedder.lag_ms)));
        }
        shedder
    }

    /// A place for one more call of this urgency, or `None` when it is to
    /// be shed.
    pub fn enter(&self, urgency: Urgency) -> Option<UnderWay> {
        let share = match urgency {
            Urgency::Deferrable => 4,
            Urgency::Release => 2,
            Urgency::Heartbeat => 1,
            Urgency::Always => 0,
        };
        let ShedBounds { store_calls, lag_ms } = self.bounds;
        if share > 0 && lag_ms > 0 && self.lag_ms.load(Ordering::Relaxed) >= lag_ms.div_ceil(share) {
            return None;
        }
        let limit = if share == 0 || store_calls == 0 { usize::MAX } else { store_calls.div_ceil(share as usize) };
        let entered =
            self.under_way.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < limit).then_some(n + 1));
        entered.ok().map(|_| UnderWay(self.under_way.clone()))
    }
}

/// Every `LAG_TICK`, how late the timer fired: the time the worker's loop
/// took to come round. The lesser of the last two samples counts, so one
/// hiccup (a page fault, a descheduled moment) sheds nothing; an overloaded
/// loop is late every time.
async fn sample_lag(lag_ms: Weak<AtomicU64>) {
    let (mut due, mut previous) = (Instant::now() + LAG_TICK, 0);
    loop {
        tokio::time::sleep_until(due).await;
        let now = Instant::now();
        let Some(lag) = lag_ms.upgrade() else { return };
        let late = now.saturating_duration_since(due).as_millis() as u64;
        lag.store(late.min(previous), Ordering::Relaxed);
        (due, previous) = (now + LAG_TICK, late);
    }
}

/// One call under way, counted until dropped.
pub struct UnderWay(Arc<AtomicUsize>);

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(store_calls: usize) -> ShedBounds {
        ShedBounds { store_calls, lag_ms: 0 }
    }

    #[test]
    fn acquires_go_first_then_releases_and_heartbeats_last() {
        let shedder = Shedder::new(calls(8));
        let held: Vec<_> = (0..2).map(|_| shedder.enter(Urgency::Deferrable).unwrap()).collect();
        assert!(shedder.enter(Urgency::Deferrable).is_none(), "a quarter of 8 under way");
        let more: Vec<_> = (0..2).map(|_| shedder.enter(Urgency::Release).unwrap()).collect();
        assert!(shedder.enter(Urgency::Release).is_none(), "half of 8 under way");
        let most: Vec<_> = (0..4).map(|_| shedder.enter(Urgency::Heartbeat).unwrap()).collect();
        assert!(shedder.enter(Urgency::Heartbeat).is_none(), "8 under way");
        assert!(shedder.enter(Urgency::Always).is_some());
        drop((held, more, most));
        assert!(shedder.enter(Urgency::Deferrable).is_some(), "all given back");
    }

    #[test]
    fn a_bound_of_zero_never_sheds() {
        let shedder = Shedder::new(calls(0));
        let held: Vec<_> = (0..100).map(|_| shedder.enter(Urgency::Deferrable)).collect();
        assert!(held.iter().all(Option::is_some));
    }

    #[test]
    fn a_late_loop_sheds_in_the_same_order() {
        let shedder = Shedder::new(ShedBounds { store_calls: 0, lag_ms: 100 });
        let admitted = |lag: u64| {
            shedder.lag_ms.store(lag, Ordering::Relaxed);
            [Urgency::Deferrable, Urgency::Release, Urgency::Heartbeat, Urgency::Always]
                .map(|u| shedder.enter(u).is_some())
        };
        assert_eq!(admitted(10), [true, true, true, true]);
        assert_eq!(admitted(25), [false, true, true, true]);
        assert_eq!(admitted(50), [false, false, true, true]);
        assert_eq!(admitted(100), [false, false, false, true]);
    }

    #[tokio::test]
    async fn the_sampler_sees_a_loop_that_was_held_up() {
        let shedder = Shedder::new(ShedBounds { store_calls: 0, lag_ms: 100 }).for_this_worker();
        // The loop is busy for 200 ms twice (a handler hogging it, or no
        // CPU to be had): the sampler's timer fires that late both times.
        for _ in 0..2 {
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(200));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while shedder.lag_ms.load(Ordering::Relaxed) < 100 {
            assert!(Instant::now() < deadline, "the sampler never saw the loop held up");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(shedder.enter(Urgency::Heartbeat).is_none());
    }
}
