//! Store operations without HTTP, on both stores, so a regression in either
//! the ledger or the Lua scripts shows up here. Redis runs as a private
//! redis-server on a free loopback port (the test suite's helper).
//!
//! `cargo bench --bench store`

#[path = "../tests/api/support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use prometheus::IntCounter;
use streamlease::clock::SystemClock;
use streamlease::domain::ledger::Terms;
use streamlease::domain::*;
use streamlease::store::{EmbeddedStore, RedisStore, Store, StoreCounters};

fn terms() -> Terms {
    Terms { ttl_ms: 30_000, heartbeat_interval_ms: 10_000, default_limit: 3, classes: Classes::default() }
}

fn acquire_request(user: &UserId) -> AcquireRequest {
    AcquireRequest {
        user_id: user.clone(),
        stream_id: StreamId::try_from("title-123456").unwrap(),
        device_id: Some(DeviceId::try_from("6f9619ff-8b86-4011-b42d-00c04fc964ff").unwrap()),
        device_name: None,
        classes: Vec::new(),
        on_limit: OnLimit::Deny,
        terminate: vec![],
        new_lease_id: LeaseId::new_random(),
        token_limits: None,
    }
}

fn bench_store(c: &mut Criterion, name: &str, rt: &tokio::runtime::Runtime, store: Store) {
    let mut group = c.benchmark_group(name);
    // A user holding two other leases, as a household would.
    let user = UserId::try_from("user-00012345").unwrap();
    let held = rt.block_on(async {
        for _ in 0..2 {
            let mut req = acquire_request(&user);
            req.device_id = None;
            store.acquire(&req).await.unwrap();
        }
        match store.acquire(&acquire_request(&user)).await.unwrap() {
            AcquireOutcome::Created { granted, .. } => granted.lease.lease_id,
            other => panic!("setup acquire: {other:?}"),
        }
    });

    group.bench_function("heartbeat", |b| {
        b.to_async(rt).iter(|| async {
            assert!(matches!(store.heartbeat(&user, held, None, None).await, Ok(HeartbeatOutcome::Renewed(_))))
        })
    });
    group.bench_function("acquire_and_release", |b| {
        let other = UserId::try_from("user-00054321").unwrap();
        b.to_async(rt).iter(|| async {
            let req = acquire_request(&other);
            store.acquire(&req).await.unwrap();
            store.release(&other, req.new_lease_id).await.unwrap();
        })
    });
    group.bench_function("list", |b| {
        b.to_async(rt).iter(|| async { assert_eq!(store.list(&user, None).await.unwrap().leases.len(), 3) })
    });
    group.finish();
}

fn stores(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let expired = || IntCounter::new("expired", "bench").unwrap();

    let embedded = rt.block_on(async { EmbeddedStore::start(terms(), Arc::new(SystemClock), expired()) });
    bench_store(c, "embedded", &rt, Store::Embedded(embedded));

    let redis = redis_server::RedisServer::start();
    // The connection task is spawned on the runtime.
    let _runtime = rt.enter();
    let store = RedisStore::connect(&redis.url(), false, &Default::default(), "sl", terms(), StoreCounters::detached())
        .unwrap();
    rt.block_on(store.load_scripts()).unwrap();
    bench_store(c, "redis", &rt, Store::Redis(store));
}

criterion_group!(benches, stores);
criterion_main!(benches);
