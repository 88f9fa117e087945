//! Shedding under overload: when more arrives than the store can take, the
//! requests that would only wait are answered 503 at once, in an order
//! that keeps playing streams alive.
//!
//! Each HTTP worker counts its store calls under way. Latency is that count
//! over the store's throughput, so a bound on the count bounds how long a
//! call waits. Past a quarter of `STREAMLEASE_SHED_STORE_CALLS`, new
//! acquires (and lists, limits, revokes) are refused: a new stream can
//! wait. Past half, releases (a slot frees itself at the TTL anyway). Past
//! all of it, heartbeats, which keep streams that already play alive and
//! are shed last. Readiness probes, the census and withdraws are never shed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// One worker's store calls under way, and where to stop taking more.
#[derive(Clone)]
pub struct Shedder {
    under_way: Arc<AtomicUsize>,
    /// Calls under way past which heartbeats are shed; 0: never shed.
    bound: usize,
}

impl Shedder {
    pub fn new(bound: usize) -> Self {
        Self { under_way: Arc::default(), bound }
    }

    /// The same bound, counting the calling worker's calls apart: each
    /// worker's calls share its own store connection and event loop.
    pub fn for_this_worker(&self) -> Self {
        Self::new(self.bound)
    }

    /// A place for one more call of this urgency, or `None` when it is to
    /// be shed.
    pub fn enter(&self, urgency: Urgency) -> Option<UnderWay> {
        let limit = match urgency {
            _ if self.bound == 0 => usize::MAX,
            Urgency::Deferrable => self.bound.div_ceil(4),
            Urgency::Release => self.bound.div_ceil(2),
            Urgency::Heartbeat => self.bound,
            Urgency::Always => usize::MAX,
        };
        let entered =
            self.under_way.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < limit).then_some(n + 1));
        entered.ok().map(|_| UnderWay(self.under_way.clone()))
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

    #[test]
    fn acquires_go_first_then_releases_and_heartbeats_last() {
        let shedder = Shedder::new(8);
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
        let shedder = Shedder::new(0);
        let held: Vec<_> = (0..100).map(|_| shedder.enter(Urgency::Deferrable)).collect();
        assert!(held.iter().all(Option::is_some));
    }
}
