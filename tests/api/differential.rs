//! One rulebook, written twice: `domain/ledger.rs` for the embedded store
//! and the Lua scripts for Redis. Random sequences of operations (acquire
//! with every option, heartbeat with and without restore, release, revoke,
//! limit changes, censuses, time passing; with classes, a class at limit 0
//! and an exempt one) run through both, on one manual clock, and every
//! answer must be the same.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use streamlease::clock::{Clock, ManualClock};
use streamlease::domain::ledger::Terms;
use streamlease::domain::*;
use streamlease::store::{EmbeddedStore, RedisStore, Store, StoreCounters};

use crate::redis_server::RedisServer;

/// Short enough that time steps expire leases and tombstones often.
fn terms() -> Terms {
    Terms {
        ttl_ms: 1_000,
        heartbeat_interval_ms: 300,
        default_limit: 2,
        classes: Classes::parse(CLASSES, 1000).unwrap(),
    }
}
const USERS: u8 = 3;
/// A limited class, one that tokens and overrides may forbid (0), and an
/// exempt one.
const CLASSES: &str = "uhd=1,mobile=2,trailer=*";
const CLASS_NAMES: [&str; 3] = ["uhd", "mobile", "trailer"];

/// Classes as indexes into `CLASS_NAMES`, in the order picked, once each.
type Picked = Vec<u8>;

/// Limits as a token or an override states them: the total, and maybe uhd
/// and mobile.
type Stated = (u32, Option<u32>, Option<u32>);

fn classes_of(picked: &Picked) -> Vec<ClassName> {
    let mut classes: Vec<ClassName> = Vec::new();
    for i in picked {
        let class = ClassName::try_from(CLASS_NAMES[usize::from(*i)]).unwrap();
        if !classes.contains(&class) {
            classes.push(class);
        }
    }
    classes
}

fn limits_of((limit, uhd, mobile): Stated) -> Limits {
    let mut limits = Limits::total(limit);
    for (name, n) in [("uhd", uhd), ("mobile", mobile)] {
        if let Some(n) = n {
            limits.classes.push((ClassName::try_from(name).unwrap(), n));
        }
    }
    limits
}

/// A device, and maybe a name for it (an index into `NAMES`).
type Device = Option<(u8, Option<u8>)>;

#[derive(Debug, Clone)]
enum Op {
    Acquire {
        user: u8,
        stream: u8,
        device: Device,
        classes: Picked,
        evict: bool,
        terminate: Vec<usize>,
        /// The limits the player's token carries.
        token: Option<Stated>,
    },
    /// The last acquire sent again, as after a broken connection.
    RepeatAcquire,
    Heartbeat {
        user: u8,
        lease: usize,
        /// The stream, and maybe a device and its name, and classes.
        restore: Option<(u8, Device, Picked)>,
        token: Option<Stated>,
    },
    Release {
        user: u8,
        lease: usize,
    },
    Revoke {
        user: u8,
    },
    /// Ends more leases than the tombstone cap keeps, one by one or at once.
    Churn {
        user: u8,
        leases: u8,
        at_once: bool,
    },
    SetLimit {
        user: u8,
        limit: Option<Stated>,
    },
    List {
        user: u8,
        token: Option<Stated>,
    },
    GetLimit {
        user: u8,
    },
    Census,
    /// Lets time pass; 0 keeps operations in one millisecond (ties).
    Advance {
        ms: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS;
    let lease = any::<usize>();
    prop_oneof![
        6 => (
            user.clone(),
            (0..3u8, device(), classes()),
            any::<bool>(),
            prop::collection::vec(any::<usize>(), 0..3),
            token()
        )
            .prop_map(|(user, (stream, device, classes), evict, terminate, token)| Op::Acquire {
                user,
                stream,
                device,
                classes,
                evict,
                terminate,
                token
            }),
        1 => Just(Op::RepeatAcquire),
        5 => (user.clone(), lease, prop::option::of((0..3u8, device(), classes())), token())
            .prop_map(|(user, lease, restore, token)| Op::Heartbeat { user, lease, restore, token }),
        2 => (user.clone(), lease).prop_map(|(user, lease)| Op::Release { user, lease }),
        1 => user.clone().prop_map(|user| Op::Revoke { user }),
        1 => (user.clone(), 60..70u8, any::<bool>()).prop_map(|(user, leases, at_once)| Op::Churn { user, leases, at_once }),
        1 => (user.clone(), token()).prop_map(|(user, limit)| Op::SetLimit { user, limit }),
        1 => (user.clone(), token()).prop_map(|(user, token)| Op::List { user, token }),
        1 => user.prop_map(|user| Op::GetLimit { user }),
        1 => Just(Op::Census),
        4 => prop_oneof![Just(0i64), 1..50i64, 300..1_200i64].prop_map(|ms| Op::Advance { ms }),
    ]
}

/// The limits a player's token carries (or an override states), when it
/// carries any.
fn token() -> impl Strategy<Value = Option<Stated>> {
    prop::option::of((1..4u32, prop::option::of(0..3u32), prop::option::of(0..3u32)))
}

/// The classes an acquire or a restore names: none most often.
fn classes() -> impl Strategy<Value = Picked> {
    prop_oneof![2 => Just(Vec::new()), 3 => prop::collection::vec(0..3u8, 1..3)]
}

fn device() -> impl Strategy<Value = Device> {
    prop::option::of((0..3u8, prop::option::of(0..NAMES.len() as u8)))
}

/// Device names, with the characters the Redis record escapes.
const NAMES: [&str; 3] = ["TV", "50% | den; 2", "Télé 📺"];

fn device_of(device: Device) -> (Option<DeviceId>, Option<DeviceName>) {
    let Some((id, name)) = device else { return (None, None) };
    let name = name.map(|n| DeviceName::try_from(NAMES[usize::from(n)]).unwrap());
    (Some(DeviceId::try_from(format!("d{id}")).unwrap()), name)
}

/// Every answer a store can give, in one comparable shape.
#[derive(Debug, PartialEq)]
enum Answer {
    Acquire(AcquireOutcome),
    Heartbeat(HeartbeatOutcome),
    Release(ReleaseOutcome),
    Revoked(u32),
    Limit(UserLimits),
    List(UserLeases),
    Census(Vec<UserCount>),
    Churned(Vec<Answer>),
    Done,
}

/// Takes `leases` under a raised limit, then ends them all (released one by
/// one, or revoked at once), then puts the limit back as it was.
async fn churn(store: &Store, user: &UserId, leases: &[LeaseId], at_once: bool) -> Vec<Answer> {
    let before = store.user_limits(user, None).await.unwrap();
    store.set_limit(user, Some(&Limits::total(1_000))).await.unwrap();
    let mut answers = Vec::new();
    for (n, lease) in leases.iter().enumerate() {
        let request = AcquireRequest {
            user_id: user.clone(),
            stream_id: StreamId::try_from(format!("churn{n}")).unwrap(),
            device_id: None,
            device_name: None,
            classes: Vec::new(),
            on_limit: OnLimit::Deny,
            terminate: Vec::new(),
            new_lease_id: *lease,
            token_limits: None,
        };
        answers.push(Answer::Acquire(store.acquire(&request).await.unwrap()));
        if !at_once {
            answers.push(Answer::Release(store.release(user, *lease).await.unwrap()));
        }
    }
    if at_once {
        answers.push(Answer::Revoked(store.revoke_all(user).await.unwrap()));
    }
    // Back as it was: the override's total and the classes it stated.
    let limit = (before.total.source == LimitSource::Override).then(|| Limits {
        limit: before.total.limit,
        classes: before
            .classes
            .iter()
            .filter(|c| c.source == LimitSource::Override)
            .filter_map(|c| Some((c.class.clone(), c.limit?)))
            .collect(),
    });
    store.set_limit(user, limit.as_ref()).await.unwrap();
    answers
}

/// The two stores under test, and what the sequence has minted so far.
struct Pair {
    embedded: Store,
    redis: Store,
    clock: Arc<ManualClock>,
    /// Lease ids the sequence may refer to: every one minted, plus one
    /// nobody ever held.
    leases: Vec<LeaseId>,
    last_acquire: Option<AcquireRequest>,
}

static CASES: AtomicU64 = AtomicU64::new(0);

impl Pair {
    fn new(redis: &RedisServer) -> Self {
        // An hour ahead of real time: Redis expires keys by its own clock,
        // and keys written for this clock then outlive the whole run.
        let clock = Arc::new(ManualClock::starting_now());
        clock.advance_ms(3_600_000);
        let expired = prometheus::IntCounter::new("expired", "test").unwrap();
        let embedded = Store::Embedded(EmbeddedStore::start(terms(), clock.clone(), expired));
        // A key prefix per case, so cases never see each other's keys.
        let prefix = format!("diff{}", CASES.fetch_add(1, Ordering::Relaxed));
        let redis =
            RedisStore::connect(&redis.url(), false, &Default::default(), &prefix, terms(), StoreCounters::detached())
                .unwrap()
                .with_test_clock(clock.clone() as Arc<dyn Clock>);
        Pair { embedded, redis: Store::Redis(redis), clock, leases: vec![LeaseId::new_random()], last_acquire: None }
    }

    fn lease(&self, pick: usize) -> LeaseId {
        self.leases[pick % self.leases.len()]
    }

    fn request(&mut self, user: &UserId, op: &Op) -> Option<AcquireRequest> {
        if let Op::RepeatAcquire = op {
            return self.last_acquire.clone();
        }
        let Op::Acquire { stream, device, classes, evict, terminate, token, .. } = op else { return None };
        let (device_id, device_name) = device_of(*device);
        let request = AcquireRequest {
            user_id: user.clone(),
            stream_id: StreamId::try_from(format!("s{stream}")).unwrap(),
            device_id,
            device_name,
            classes: classes_of(classes),
            on_limit: if *evict { OnLimit::EvictOldest } else { OnLimit::Deny },
            terminate: terminate.iter().map(|pick| self.lease(*pick)).collect(),
            new_lease_id: LeaseId::new_random(),
            token_limits: token.map(|t| Arc::new(limits_of(t))),
        };
        self.leases.push(request.new_lease_id);
        self.last_acquire = Some(request.clone());
        Some(request)
    }

    /// Runs `op` on both stores; their answers, embedded first.
    async fn run(&mut self, op: &Op) -> (Answer, Answer) {
        if let Op::Advance { ms } = op {
            self.clock.advance_ms(*ms);
            return (Answer::Done, Answer::Done);
        }
        let user = match op {
            Op::Acquire { user, .. }
            | Op::Heartbeat { user, .. }
            | Op::Release { user, .. }
            | Op::Revoke { user }
            | Op::Churn { user, .. }
            | Op::SetLimit { user, .. }
            | Op::List { user, .. }
            | Op::GetLimit { user } => UserId::try_from(format!("u{user}")).unwrap(),
            Op::Census | Op::Advance { .. } | Op::RepeatAcquire => UserId::try_from("nobody").unwrap(),
        };
        let request = self.request(&user, op);
        if matches!(op, Op::RepeatAcquire) && request.is_none() {
            return (Answer::Done, Answer::Done);
        }
        let minted = match op {
            Op::Churn { leases, .. } => (0..*leases).map(|_| LeaseId::new_random()).collect(),
            _ => Vec::new(),
        };
        self.leases.extend(&minted);
        let mut answers = Vec::new();
        for store in [&self.embedded, &self.redis] {
            let answer = match op {
                Op::Acquire { .. } | Op::RepeatAcquire => {
                    Answer::Acquire(store.acquire(request.as_ref().unwrap()).await.unwrap())
                }
                Op::Heartbeat { lease, restore, token, .. } => {
                    let restore = restore.as_ref().map(|(stream, device, classes)| {
                        let (device_id, device_name) = device_of(*device);
                        let stream_id = StreamId::try_from(format!("s{stream}")).unwrap();
                        Restore { stream_id, device_id, device_name, classes: classes_of(classes) }
                    });
                    let (lease, token) = (self.lease(*lease), token.map(limits_of));
                    Answer::Heartbeat(store.heartbeat(&user, lease, restore.as_ref(), token.as_ref()).await.unwrap())
                }
                Op::Release { lease, .. } => Answer::Release(store.release(&user, self.lease(*lease)).await.unwrap()),
                Op::Revoke { .. } => Answer::Revoked(store.revoke_all(&user).await.unwrap()),
                Op::Churn { at_once, .. } => Answer::Churned(churn(store, &user, &minted, *at_once).await),
                Op::SetLimit { limit, .. } => {
                    store.set_limit(&user, limit.map(limits_of).as_ref()).await.unwrap();
                    Answer::Done
                }
                Op::List { token, .. } => Answer::List(store.list(&user, token.map(limits_of).as_ref()).await.unwrap()),
                Op::GetLimit { .. } => Answer::Limit(store.user_limits(&user, None).await.unwrap()),
                Op::Census => {
                    let mut users = store.census().await.unwrap().users;
                    users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
                    Answer::Census(users)
                }
                Op::Advance { .. } => unreachable!(),
            };
            answers.push(answer);
        }
        let redis = answers.pop().unwrap();
        (answers.pop().unwrap(), redis)
    }
}

#[test]
fn both_stores_give_the_same_answer_to_every_sequence() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let redis = RedisServer::start();
    let config = ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(ops in prop::collection::vec(op(), 1..50))| {
        let _entered = runtime.enter();
        let mut pair = Pair::new(&redis);
        for (step, op) in ops.iter().enumerate() {
            let (embedded, redis) = runtime.block_on(pair.run(op));
            prop_assert_eq!(embedded, redis, "step {} of {:?}", step, ops);
        }
    });
}
