//! What a lease token costs the service, without HTTP: signing one (ES256,
//! HS256), and reading the token a player sends back to decide whether to
//! sign anew. `scripts/bench.sh` (step 8) measures the same through the
//! service, per heartbeat.
//!
//! `cargo bench --bench lease_token`

use criterion::{Criterion, criterion_group, criterion_main};
use streamlease::domain::{ClassName, Lease, LeaseId, StreamId, UserId};
use streamlease::lease_token::{LeaseTokens, new_key_pem};

fn lease() -> Lease {
    Lease {
        lease_id: LeaseId::new_random(),
        stream_id: StreamId::try_from("title-123456").unwrap(),
        device_id: None,
        device_name: None,
        classes: vec![ClassName::try_from("uhd").unwrap()],
        acquired_at: 1_800_000_000_000,
        expires_at: 1_800_000_030_000,
    }
}

fn lease_tokens(c: &mut Criterion) {
    let user = UserId::try_from("user-00012345").unwrap();
    let lease = lease();
    let renewed_at = lease.expires_at - 30_000;
    let es256 = LeaseTokens::from_pem(new_key_pem().as_bytes()).unwrap();
    let hs256 = LeaseTokens::from_secret(&[7; 32]);
    let mut group = c.benchmark_group("lease_token");
    group.bench_function("sign_es256", |b| b.iter(|| es256.sign(&user, &lease, renewed_at)));
    group.bench_function("sign_hs256", |b| b.iter(|| hs256.sign(&user, &lease, renewed_at)));
    let held = es256.sign(&user, &lease, renewed_at).unwrap();
    group.bench_function("read_held", |b| {
        b.iter(|| LeaseTokens::needs_new(Some(held.as_bytes()), lease.lease_id, renewed_at + 10_000))
    });
    group.finish();
}

criterion_group!(benches, lease_tokens);
criterion_main!(benches);
