//! Bad input: a clear problem+json answer, and nothing changed.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::on_one_store;

async fn invalid_ids_are_400_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let long = "x".repeat(129);
    for user in ["a%20b", "%7Bx%7D", "caf%C3%A9", "a%7Cb", long.as_str()] {
        let response = app.client.post(app.url(&format!("/v1/users/{user}/leases"))).json(&json!({"stream_id": "s"}));
        problem(response.send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    for body in [
        json!({"stream_id": ""}),
        json!({"stream_id": "a/b"}),
        json!({"stream_id": long}),
        json!({"stream_id": 7}),
        json!({"stream_id": "s", "device_id": "bad device"}),
        json!({"stream_id": "s", "device_id": "tv", "device_name": 3}),
        json!({"stream_id": "s", "on_limit": "kick"}),
        json!({"stream_id": "s", "terminate": ["not-a-uuid"]}),
        json!({"stream_id": "s", "terminate": "x"}),
        json!({"device_id": "tv"}),
        json!([]),
    ] {
        problem(app.acquire("alice", body).await, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    for name in [json!(""), json!("TV\u{0007}"), json!("TV\nroom"), json!("\u{202E}VT"), json!("x".repeat(65))] {
        let response = app.acquire("alice", json!({"stream_id": "s", "device_id": "tv", "device_name": name})).await;
        let body = problem(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(body["detail"].as_str().unwrap().contains("device_name"), "{body}");
    }
    problem(app.heartbeat("alice", "not-a-uuid").await, StatusCode::BAD_REQUEST, "invalid_request").await;
    problem(app.release("alice", "123").await, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(app.active("alice").await, 0);
}

async fn malformed_json_is_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/v1/users/alice/leases"))
        .header("content-type", "application/json")
        .body("{\"stream_id\": ")
        .send()
        .await
        .unwrap();
    let body = problem(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(body["detail"].as_str().unwrap().contains("JSON"), "{body}");
}

async fn a_body_over_4_kib_is_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let padding = "x".repeat(5000);
    let response = app.acquire("alice", json!({"stream_id": "s", "padding": padding})).await;
    problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(app.active("alice").await, 0);
}

async fn a_non_json_body_is_415(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/v1/users/alice/leases"))
        .header("content-type", "text/plain")
        .body("{\"stream_id\": \"s\"}")
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

async fn unknown_fields_are_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.acquire("alice", json!({"stream_id": "s", "quality": "4k", "extra": {"a": [1]}})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn unknown_routes_are_404_and_wrong_methods_405_with_allow(backend: Backend) {
    let app = spawn_app(backend).await;
    problem(app.get("/v2/anything").await, StatusCode::NOT_FOUND, "not_found").await;
    problem(app.get("/v1/users/alice/leases/").await, StatusCode::NOT_FOUND, "not_found").await;
    let lease = uuid::Uuid::new_v4();
    let cases = [
        (app.client.put(app.url("/v1/users/alice/leases")), "GET, POST, DELETE"),
        (app.client.get(app.url(&format!("/v1/users/alice/leases/{lease}"))), "DELETE"),
        (app.client.get(app.url(&format!("/v1/users/alice/leases/{lease}/heartbeat"))), "POST"),
        (app.client.post(app.url("/v1/users/alice/limit")), "GET, PUT, DELETE"),
        (app.client.post(app.url("/healthz")), "GET, HEAD"),
    ];
    for (request, allow) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["allow"], allow);
        problem(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }
}

async fn ids_made_only_of_dots_are_400(backend: Backend) {
    let app = spawn_app(backend).await;
    // `.` and `..` are path segments to URL libraries, so they go out raw.
    for path in ["/v1/users/../leases", "/v1/users/./leases", "/v1/users/.../leases"] {
        let answer = raw_http(&app, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains("invalid_request"), "{answer}");
    }
    for body in [json!({"stream_id": "."}), json!({"stream_id": "s", "device_id": ".."})] {
        problem(app.acquire("alice", body).await, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    assert_eq!(app.active("alice").await, 0);
}

/// What the HTTP parser refuses on its own still gets a problem+json body.
#[tokio::test]
async fn requests_the_http_parser_refuses_get_problem_json() {
    // Short enough for the slow head below, long enough for a busy machine
    // to read the others in time.
    let app = spawn_app_with(Backend::Embedded, |s| s.http.request_timeout = std::time::Duration::from_secs(1)).await;
    let many_headers: String = (0..200).map(|n| format!("X-{n}: y\r\n")).collect();
    let cases = [
        (
            "POST /v1/users/a/leases HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_owned(),
            400,
            "invalid_request",
        ),
        (
            "POST /v1/users/a/leases HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                .into(),
            400,
            "invalid_request",
        ),
        (format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)), 400, "invalid_request"),
        (format!("GET /healthz HTTP/1.1\r\n{many_headers}\r\n"), 431, "headers_too_large"),
        ("GET /healthz HTTP/1.1\r\nHost".into(), 408, "request_timeout"),
    ];
    for (request, status, code) in cases {
        let answer = raw_http(&app, &request).await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{answer}"));
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        assert!(head.contains("content-type: application/problem+json"), "{head}");
        let problem: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!((problem["status"].as_u64(), problem["code"].as_str()), (Some(status), Some(code)), "{problem}");
    }
    // A good request, then garbage on the same connection: the first answer
    // is untouched, the second is a problem.
    let answer = raw_http(&app, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("{\"status\":\"ok\"}HTTP/1.1 400 Bad Request"), "{answer}");
    assert!(answer.ends_with("\"code\":\"invalid_request\"}"), "{answer}");
}

/// A client can send malformed requests as fast as it likes; the log gets
/// at most a line a second about them.
#[tokio::test]
async fn malformed_requests_cannot_flood_the_log() {
    let service = ServiceProcess::start(&[("RUST_LOG", "info")]).await;
    let addr = service.base.trim_start_matches("http://").to_owned();
    let started = std::time::Instant::now();
    for _ in 0..200 {
        raw_bytes(&addr, b"POST /v1/users/a/leases HTTP/1.1\r\nContent-Length: abc\r\n\r\n").await;
    }
    let protocol_lines = || service.log.lock().unwrap().iter().filter(|l| l.contains("actix_http")).count() as u64;
    // Lines reach us through a pipe: wait (with a deadline) for the first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while protocol_lines() == 0 {
        assert!(std::time::Instant::now() < deadline, "no line about malformed requests at all");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs() + 1;
    let lines = protocol_lines();
    assert!(lines <= seconds + 1, "{lines} lines in {seconds} s: {:#?}", service.log.lock().unwrap());
}

/// A body that stops arriving holds its connection no longer than the
/// request deadline: the answer is 408 problem+json and the connection
/// closes. Even with every connection slot taken by such clients, the
/// service answers again once their deadline passed.
#[tokio::test]
async fn a_stalled_body_gets_408_and_frees_its_connection() {
    let app = spawn_app_with(Backend::Embedded, |s| {
        s.http.request_timeout = std::time::Duration::from_millis(300);
        s.http.max_connections = 4;
        s.workers = 1;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let stall = |path: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{")
    };
    let lease = uuid::Uuid::new_v4();
    let stalled = [
        stall("/v1/users/alice/leases"),
        stall(&format!("/v1/users/alice/leases/{lease}/heartbeat")),
        stall("/v1/users/alice/leases"),
        stall("/v1/users/alice/leases"),
    ];
    let started = std::time::Instant::now();
    let answers = futures::future::join_all(stalled.iter().map(|r| raw_bytes(&addr, r.as_bytes()))).await;
    for answer in answers {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("application/problem+json") && answer.contains("request_timeout"), "{answer}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.active("alice").await, 0);
}

on_one_store!(
    ids_made_only_of_dots_are_400,
    invalid_ids_are_400_and_change_nothing,
    malformed_json_is_400,
    a_body_over_4_kib_is_413,
    a_non_json_body_is_415,
    unknown_fields_are_ignored,
    unknown_routes_are_404_and_wrong_methods_405_with_allow,
);
