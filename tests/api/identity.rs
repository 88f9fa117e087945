//! Player tokens signed by a real OpenID provider (`oidc-provider`), checked
//! against the keys it publishes (`STREAMLEASE_JWT_JWKS_URL`), on the Redis
//! store; and tokens forged by an independent library (jose), each refused.

use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};
use streamlease::config::{JwtSettings, Settings};
use streamlease::domain::Classes;

use crate::helpers::*;
use crate::idp::IdentityProvider;

const ADMIN: &str = "admin-token-for-identity-tests";
const ASYMMETRIC: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// An app that takes tokens signed with `idp`'s keys, for `algorithms`.
async fn app_trusting(idp: &IdentityProvider, algorithms: &[Algorithm]) -> TestApp {
    spawn_app_with(Backend::Shared(SharedRedis::Plain), trusting(idp, algorithms, None)).await
}

/// The settings of such an app, with a limit claim if given.
fn trusting(
    idp: &IdentityProvider,
    algorithms: &[Algorithm],
    limit_claim: Option<&str>,
) -> impl FnOnce(&mut Settings) + Clone + use<> {
    let (jwks_url, issuer) = (idp.jwks_uri.parse().unwrap(), idp.issuer.clone());
    let (algorithms, limit_claim) = (algorithms.to_vec(), limit_claim.map(str::to_owned));
    move |s: &mut Settings| {
        s.admin_token = Some(ADMIN.into());
        s.jwt = Some(JwtSettings {
            secret: None,
            jwks_url: Some(jwks_url),
            algorithms,
            issuer: Some(issuer),
            limit_claim,
            ..JwtSettings::with_secret("")
        });
    }
}

/// What the provider says of `sub` in a token that lives ten minutes.
fn claims(idp: &IdentityProvider, sub: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "iss": idp.issuer, "iat": now, "exp": now + 600})
}

async fn acquire_as(app: &TestApp, token: &str, user: &str, stream: &str) -> reqwest::Response {
    let url = app.url(&format!("/v1/users/{user}/leases"));
    app.client.post(url).bearer_auth(token).json(&json!({"stream_id": stream})).send().await.unwrap()
}

async fn heartbeat_as(app: &TestApp, token: &str, user: &str, lease: &str) -> StatusCode {
    let url = app.url(&format!("/v1/users/{user}/leases/{lease}/heartbeat"));
    app.client.post(url).bearer_auth(token).send().await.unwrap().status()
}

async fn readyz(app: &TestApp) -> StatusCode {
    app.client.get(app.url("/readyz")).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_rs256_es256_and_eddsa_tokens_act_for_their_own_user() {
    let idp = IdentityProvider::start();
    let app = app_trusting(&idp, &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]).await;
    assert_eq!(readyz(&app).await, StatusCode::OK);
    for alg in ASYMMETRIC {
        let token = idp.sign(alg, claims(&idp, "alice"));
        let lease: Value = acquire_as(&app, &token, "alice", alg).await.json().await.unwrap();
        assert_eq!(heartbeat_as(&app, &token, "alice", &id(&lease)).await, StatusCode::OK, "{alg}: {lease}");
        let response = acquire_as(&app, &token, "bob", alg).await;
        problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_taken_at_its_first_token_while_the_old_ones_still_verify() {
    let idp = IdentityProvider::start();
    let app = app_trusting(&idp, &[Algorithm::ES256]).await;
    let old = idp.sign("ES256", claims(&idp, "alice"));
    let lease = id(&acquire_as(&app, &old, "alice", "a").await.json().await.unwrap());
    let fetched = idp.fetches();
    idp.rotate();
    let new = idp.sign("ES256", claims(&idp, "alice"));
    assert_ne!(old.split('.').next(), new.split('.').next(), "a new kid");
    // Players heartbeat through the rotation, with old tokens and new.
    assert_eq!(heartbeat_as(&app, &old, "alice", &lease).await, StatusCode::OK);
    assert_eq!(heartbeat_as(&app, &new, "alice", &lease).await, StatusCode::OK);
    assert_eq!(idp.fetches(), fetched + 1, "one fetch, for the first token with the new kid");
    assert_eq!(heartbeat_as(&app, &old, "alice", &lease).await, StatusCode::OK, "the old key is still published");
    assert_eq!(heartbeat_as(&app, &new, "alice", &lease).await, StatusCode::OK);
    assert_eq!(idp.fetches(), fetched + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_kids_reach_the_provider_at_most_twice_a_minute() {
    let idp = IdentityProvider::start();
    let app = app_trusting(&idp, &[Algorithm::RS256]).await;
    let fetched = idp.fetches();
    let started = Instant::now();
    let forged: Vec<String> = (0..1000).map(|_| idp.forge("unknown-kid", claims(&idp, "alice"))).collect();
    let answers = futures::future::join_all(forged.chunks(50).map(|chunk| {
        let app = &app;
        async move {
            let mut statuses = Vec::new();
            for token in chunk {
                statuses.push(acquire_as(app, token, "alice", "a").await.status());
            }
            statuses
        }
    }))
    .await;
    assert!(answers.iter().flatten().all(|s| *s == StatusCode::UNAUTHORIZED));
    let fetches = idp.fetches() - fetched;
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    assert!(fetches >= 1 && fetches as f64 <= 2.0 * minutes.ceil(), "{fetches} fetches in {minutes:.2} min");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_go_on_while_the_provider_is_down_and_a_new_instance_waits_for_its_keys() {
    let idp = IdentityProvider::start();
    let app = app_trusting(&idp, &[Algorithm::EdDSA]).await;
    let token = idp.sign("EdDSA", claims(&idp, "alice"));
    let lease = id(&acquire_as(&app, &token, "alice", "a").await.json().await.unwrap());
    idp.stop();
    assert_eq!(heartbeat_as(&app, &token, "alice", &lease).await, StatusCode::OK, "on the cached keys");
    assert_eq!(readyz(&app).await, StatusCode::OK);

    let late = app_trusting(&idp, &[Algorithm::EdDSA]).await;
    assert_eq!(readyz(&late).await, StatusCode::SERVICE_UNAVAILABLE);
    let refused = acquire_as(&late, &token, "alice", "b").await;
    assert_eq!(refused.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("5"));
    problem(refused, StatusCode::SERVICE_UNAVAILABLE, "keys_unavailable").await;

    idp.start_again();
    let deadline = Instant::now() + Duration::from_secs(20);
    while readyz(&late).await != StatusCode::OK {
        assert!(Instant::now() < deadline, "the new instance never loaded the keys");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(acquire_as(&late, &token, "alice", "b").await.status(), StatusCode::CREATED);
}

/// Tokens made by jose the way an attacker would, each refused with 401
/// problem+json and nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_are_refused() {
    let idp = IdentityProvider::start();
    let app = app_trusting(&idp, &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]).await;
    for kind in ["hs256-with-public-key", "none", "tampered", "expired", "too-long-lived"] {
        let token = idp.forge(kind, claims(&idp, "alice"));
        problem(acquire_as(&app, &token, "alice", "a").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // A genuine RS256 token, where only ES256 is allowed.
    let es256_only = app_trusting(&idp, &[Algorithm::ES256]).await;
    let rs256 = idp.sign("RS256", claims(&idp, "alice"));
    problem(acquire_as(&es256_only, &rs256, "alice", "a").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(acquire_as(&app, &rs256, "alice", "a").await.status(), StatusCode::CREATED, "where it is allowed");
    let listed = app.client.get(app.url("/v1/users/alice/leases")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(listed.json::<Value>().await.unwrap()["active"], 1, "only the genuine token took a slot");
}

/// `STREAMLEASE_JWT_LIMIT_CLAIM=ent.max_streams`: the user's plan, in the
/// token the IdP signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_claim_decides_the_limit_unless_an_admin_override_is_set() {
    let idp = IdentityProvider::start();
    let app = spawn_app_with(
        Backend::Shared(SharedRedis::Plain),
        trusting(&idp, &[Algorithm::ES256], Some("ent.max_streams")),
    )
    .await;
    let with_plan = |plan: Value| {
        let mut claims = claims(&idp, "alice");
        claims["ent"] = json!({"max_streams": plan});
        idp.sign("ES256", claims)
    };
    let one = with_plan(json!(1));
    let first: Value = acquire_as(&app, &one, "alice", "a").await.json().await.unwrap();
    assert_eq!((&first["limit"], &first["limit_source"]), (&json!(1), &json!("token")), "{first}");
    let denied = problem(acquire_as(&app, &one, "alice", "b").await, StatusCode::CONFLICT, "limit_reached").await;
    assert_eq!((&denied["limit"], &denied["limit_source"]), (&json!(1), &json!("token")), "{denied}");
    // An admin override wins over the token.
    let put = app.client.put(app.url("/v1/users/alice/limit")).bearer_auth(ADMIN).json(&json!({"limit": 2}));
    assert_eq!(put.send().await.unwrap().status(), StatusCode::OK);
    let second: Value = acquire_as(&app, &one, "alice", "b").await.json().await.unwrap();
    assert_eq!((&second["limit"], &second["limit_source"]), (&json!(2), &json!("override")), "{second}");
    // A token without the claim gets the default.
    let plain = idp.sign("ES256", claims(&idp, "bob"));
    let bobs: Value = acquire_as(&app, &plain, "bob", "a").await.json().await.unwrap();
    assert_eq!((&bobs["limit"], &bobs["limit_source"]), (&json!(3), &json!("default")), "{bobs}");
    // A claim present but not a limit: 401, naming the claim.
    let bad_objects =
        [json!({"limits": 2}), json!({"limit": 2, "classes": {"UHD": 1}}), json!({"limit": 2, "classes": [1]})];
    for bad in [json!("2"), json!(0), json!(1001), json!(1.5), json!(null)].into_iter().chain(bad_objects) {
        let refused = problem(
            acquire_as(&app, &with_plan(bad.clone()), "alice", "c").await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        assert!(refused["detail"].as_str().unwrap().contains("ent.max_streams"), "{bad}: {refused}");
    }
}

/// The README's plan table, as configuration and as the claims an IdP
/// signs: Basic 1 SD (no claim), Standard 2 HD, Premium 4 with 2 UHD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_plans_hold_as_configuration_and_claims() {
    let idp = IdentityProvider::start();
    let trust = trusting(&idp, &[Algorithm::ES256], Some("plan"));
    let app = spawn_app_with(Backend::Embedded, move |s| {
        trust(s);
        s.terms.default_limit = 1;
        s.terms.classes = Classes::parse("hd=0,uhd=0", 1000).unwrap();
    })
    .await;
    let token = |user: &str, plan: Option<Value>| {
        let mut claims = claims(&idp, user);
        if let Some(plan) = plan {
            claims["plan"] = plan;
        }
        idp.sign("ES256", claims)
    };
    let acquire = |token: String, user: &'static str, classes: Value| {
        let url = app.url(&format!("/v1/users/{user}/leases"));
        let body = json!({"stream_id": "s", "classes": classes});
        let request = app.client.post(url).bearer_auth(token).json(&body);
        async move { request.send().await.unwrap() }
    };
    let refused_by = |response: reqwest::Response| async move {
        let p = problem(response, StatusCode::CONFLICT, "limit_reached").await;
        (p["limit_class"].clone(), p["limit"].clone(), p["limit_source"].clone(), p["leases"].as_array().unwrap().len())
    };

    let basic = token("basic", None);
    assert_eq!(acquire(basic.clone(), "basic", json!([])).await.status(), StatusCode::CREATED);
    assert_eq!(
        refused_by(acquire(basic.clone(), "basic", json!(["hd"])).await).await,
        (json!("hd"), json!(0), json!("default"), 0)
    );
    assert_eq!(
        refused_by(acquire(basic, "basic", json!([])).await).await,
        (json!("total"), json!(1), json!("default"), 1)
    );

    let standard = token("standard", Some(json!({"limit": 2, "classes": {"hd": 2, "uhd": 0}})));
    for _ in 0..2 {
        assert_eq!(acquire(standard.clone(), "standard", json!(["hd"])).await.status(), StatusCode::CREATED);
    }
    assert_eq!(
        refused_by(acquire(standard.clone(), "standard", json!(["uhd"])).await).await,
        (json!("uhd"), json!(0), json!("token"), 0)
    );
    assert_eq!(
        refused_by(acquire(standard, "standard", json!([])).await).await,
        (json!("total"), json!(2), json!("token"), 2)
    );

    let premium = token("premium", Some(json!({"limit": 4, "classes": {"hd": 4, "uhd": 2}})));
    for classes in [json!(["uhd"]), json!(["uhd"]), json!(["hd"])] {
        assert_eq!(acquire(premium.clone(), "premium", classes).await.status(), StatusCode::CREATED);
    }
    assert_eq!(
        refused_by(acquire(premium.clone(), "premium", json!(["uhd"])).await).await,
        (json!("uhd"), json!(2), json!("token"), 2)
    );
    let fourth: Value = acquire(premium.clone(), "premium", json!(["hd"])).await.json().await.unwrap();
    assert_eq!((&fourth["active"], &fourth["limit"], &fourth["classes"]), (&json!(4), &json!(4), &json!(["hd"])));
    let limits: Value = app
        .client
        .get(app.url("/v1/users/premium/limit"))
        .bearer_auth(&premium)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        limits,
        json!({"user_id": "premium", "limit": 4, "source": "token", "classes": {
            "hd": {"limit": 4, "source": "token", "exempt": false},
            "uhd": {"limit": 2, "source": "token", "exempt": false},
        }})
    );
}

/// Three instances on one Redis, 100 acquires at once under a claim of 2:
/// exactly 2 are admitted, the limit decided inside the one script call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_racing_under_a_limit_claim_admit_exactly_it() {
    let idp = IdentityProvider::start();
    let settings = trusting(&idp, &[Algorithm::EdDSA], Some("max_streams"));
    let first = spawn_app_with(Backend::Redis, settings.clone()).await;
    let apps = [spawn_sibling(&first, settings.clone()).await, spawn_sibling(&first, settings).await];
    let apps: Vec<&TestApp> = std::iter::once(&first).chain(apps.iter()).collect();
    let mut claims = claims(&idp, "racer");
    claims["max_streams"] = json!(2);
    let token = idp.sign("EdDSA", claims);
    let statuses = futures::future::join_all((0..100).map(|n| {
        let (app, token) = (apps[n % 3], token.clone());
        async move {
            // A busy machine may answer 503 (the acquire's deadline passed,
            // and it took no slot); a player retries, and so does this one.
            for _ in 0..10 {
                let status = acquire_as(app, &token, "racer", &format!("s{n}")).await.status();
                if status != StatusCode::SERVICE_UNAVAILABLE {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            StatusCode::SERVICE_UNAVAILABLE
        }
    }))
    .await;
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let denied = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((created, denied), (2, 98), "{statuses:?}");
    let listed = first.client.get(first.url("/v1/users/racer/leases")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(listed.json::<Value>().await.unwrap()["active"], 2);
}
