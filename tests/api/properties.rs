//! Whatever a client sends as an id or a body, the answer is a 4xx (or a
//! success), never a 5xx, and the process stays up. One app on the embedded
//! store takes every generated case over real HTTP.

use proptest::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

/// A path segment carrying any bytes, percent-encoded where needed.
fn segment(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (*b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Any JSON: the shapes a confused or hostile client could send.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        "\\PC{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("stream_id".to_owned()),
                    Just("device_id".to_owned()),
                    Just("on_limit".to_owned()),
                    Just("terminate".to_owned()),
                    "\\PC{0,10}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

struct Target {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
}

impl Target {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let app = runtime.block_on(spawn_app(Backend::Embedded));
        Target { runtime, app }
    }

    fn status(&self, request: reqwest::RequestBuilder) -> StatusCode {
        self.runtime.block_on(async { request.send().await.expect("the service answers").status() })
    }

    fn still_healthy(&self) -> bool {
        self.status(self.app.client.get(self.app.url("/healthz"))) == StatusCode::OK
    }
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() }
}

#[test]
fn any_ids_in_the_path_get_no_5xx() {
    let target = Target::new();
    let (app, client) = (&target.app, &target.app.client);
    proptest!(config(), |(user in prop::collection::vec(any::<u8>(), 0..160),
                          lease in prop::collection::vec(any::<u8>(), 0..48))| {
        let (user, lease) = (segment(&user), segment(&lease));
        let requests = [
            client.post(app.url(&format!("/v1/users/{user}/leases"))).json(&serde_json::json!({"stream_id": "s"})),
            client.get(app.url(&format!("/v1/users/{user}/leases"))),
            client.post(app.url(&format!("/v1/users/{user}/leases/{lease}/heartbeat"))),
            client.delete(app.url(&format!("/v1/users/{user}/leases/{lease}"))),
            client.post(app.url(&format!("/v1/users/{user}/leases/{lease}/release"))).body(lease.clone()),
            client.put(app.url(&format!("/v1/users/{user}/limit"))).json(&serde_json::json!({"limit": 2})),
        ];
        for request in requests {
            let status = target.status(request);
            prop_assert!(!status.is_server_error(), "{status} for user {user:?} lease {lease:?}");
        }
    });
    assert!(target.still_healthy());
}

#[test]
fn any_body_gets_no_5xx() {
    let target = Target::new();
    let (app, client) = (&target.app, &target.app.client);
    let acquire = app.url("/v1/users/prop/leases");
    let heartbeat = app.url(&format!("/v1/users/prop/leases/{}/heartbeat", uuid::Uuid::new_v4()));
    proptest!(config(), |(body in prop::collection::vec(any::<u8>(), 0..5000),
                          value in json_value(),
                          content_type in prop_oneof![
                              Just("application/json".to_owned()),
                              Just("text/plain".to_owned()),
                              Just(String::new()),
                              "\\PC{0,30}"
                          ])| {
        let mut raw = client.post(&acquire).body(body);
        if !content_type.is_empty() {
            raw = raw.header("content-type", content_type.as_str());
        }
        let status = target.status(raw);
        prop_assert!(!status.is_server_error(), "{status} for raw body as {content_type:?}");
        let status = target.status(client.post(&acquire).json(&value));
        prop_assert!(!status.is_server_error(), "{status} for {value}");
        let limit = target.status(client.put(app.url("/v1/users/prop/limit")).json(&value));
        prop_assert!(!limit.is_server_error(), "{limit} for limit {value}");
        let heartbeat = target.status(client.post(&heartbeat).json(&value));
        prop_assert!(!heartbeat.is_server_error(), "{heartbeat} for heartbeat body {value}");
    });
    assert!(target.still_healthy());
}
