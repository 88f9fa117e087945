//! CORS (`STREAMLEASE_CORS_ORIGINS`): what a browser on an allowed origin
//! is let do, and that any other origin is refused and changes nothing.
//! The store plays no part, so these run on the embedded store; the browser
//! test (`browser.rs`) runs it all in Chromium.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use streamlease::config::CorsOrigins;

use crate::helpers::*;

const PLAYER_ORIGIN: &str = "https://player.example.com";
const OTHER_ORIGIN: &str = "https://evil.example.net";

async fn cors_app() -> TestApp {
    spawn_app_with(Backend::Embedded, |s| {
        s.cors_origins = Some(CorsOrigins::List(vec![PLAYER_ORIGIN.into(), "http://127.0.0.1:8000".into()]));
    })
    .await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}

/// A preflight for `method` on `path`, asking for both headers a player sends.
async fn preflight(app: &TestApp, origin: &str, method: &str, path: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_allows_the_json_routes_with_a_token() {
    let app = cors_app().await;
    let paths = [
        ("POST", "/v1/users/alice/leases".to_owned()),
        ("POST", format!("/v1/users/alice/leases/{}/heartbeat", uuid::Uuid::new_v4())),
        ("DELETE", format!("/v1/users/alice/leases/{}", uuid::Uuid::new_v4())),
        ("GET", "/v1/users/alice/leases".to_owned()),
    ];
    for (method, path) in paths {
        let answer = preflight(&app, PLAYER_ORIGIN, method, &path).await;
        assert_eq!(answer.status(), StatusCode::OK, "{method} {path}");
        let h = answer.headers();
        assert_eq!(header(h, "access-control-allow-origin"), PLAYER_ORIGIN);
        assert!(header(h, "access-control-allow-methods").contains(method), "{h:?}");
        let allowed_headers = header(h, "access-control-allow-headers").to_ascii_lowercase();
        assert!(allowed_headers.contains("authorization") && allowed_headers.contains("content-type"), "{h:?}");
        assert_eq!(header(h, "access-control-max-age"), "7200");
        assert!(header(h, "vary").to_ascii_lowercase().contains("origin"), "{h:?}");
    }
    // Counted under its route, like any request.
    let metrics = app.metrics().await;
    let series = r#"streamlease_http_request_duration_seconds_count{method="OPTIONS",route="/v1/users/{user_id}/leases",status="200"}"#;
    assert_eq!(sample(&metrics, series), Some(2.0), "{metrics}");
}

#[tokio::test]
async fn answers_to_an_allowed_origin_carry_cors_headers_and_expose_location_and_retry_after() {
    let app = cors_app().await;
    let acquire = |stream: &str| {
        app.client
            .post(app.url("/v1/users/alice/leases"))
            .header("origin", PLAYER_ORIGIN)
            .json(&json!({"stream_id": stream}))
    };
    let created = acquire("s1").send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let h = created.headers().clone();
    assert_eq!(header(&h, "access-control-allow-origin"), PLAYER_ORIGIN);
    let exposed = header(&h, "access-control-expose-headers").to_ascii_lowercase();
    assert!(exposed.contains("location") && exposed.contains("retry-after"), "{h:?}");
    for stream in ["s2", "s3"] {
        assert_eq!(acquire(stream).send().await.unwrap().status(), StatusCode::CREATED);
    }
    // Errors too: the page must be able to read a 409's list of leases.
    let denied = acquire("s4").send().await.unwrap();
    assert_eq!(header(denied.headers(), "access-control-allow-origin"), PLAYER_ORIGIN);
    let body = problem(denied, StatusCode::CONFLICT, "limit_reached").await;
    assert_eq!(body["leases"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn another_origin_is_refused_with_a_problem_and_changes_nothing() {
    let app = cors_app().await;
    let lease = id(&app.acquire_ok("alice", "s1").await);

    let refused = preflight(&app, OTHER_ORIGIN, "POST", "/v1/users/alice/leases").await;
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    problem(refused, StatusCode::FORBIDDEN, "forbidden").await;

    // Requests a browser sends without a preflight are refused as well, so
    // a page elsewhere cannot end a lease with a beacon.
    let calls = [
        app.client.post(app.url(&format!("/v1/users/alice/leases/{lease}/release"))).body("bye"),
        app.client.post(app.url("/v1/users/alice/leases")).json(&json!({"stream_id": "s2"})),
        app.client.get(app.url("/v1/users/alice/leases")),
    ];
    for call in calls {
        let answer = call.header("origin", OTHER_ORIGIN).send().await.unwrap();
        assert!(answer.headers().get("access-control-allow-origin").is_none());
        let body = problem(answer, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(body["detail"].as_str().unwrap().contains("origin"), "{body}");
    }
    let list = app.list("alice").await;
    assert_eq!(list["active"], 1, "{list}");
    assert_eq!(list["leases"][0]["lease_id"], Value::from(lease));
}

#[tokio::test]
async fn a_preflight_for_a_method_or_header_players_do_not_use_is_refused() {
    let app = cors_app().await;
    let put = preflight(&app, PLAYER_ORIGIN, "PUT", "/v1/users/alice/limit").await;
    problem(put, StatusCode::FORBIDDEN, "forbidden").await;
    let odd_header = app
        .client
        .request(Method::OPTIONS, app.url("/v1/users/alice/leases"))
        .header("origin", PLAYER_ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-debug")
        .send()
        .await
        .unwrap();
    problem(odd_header, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn without_cors_origins_no_cors_header_is_sent_and_options_is_not_a_route() {
    let app = spawn_app(Backend::Embedded).await;
    let answer = preflight(&app, PLAYER_ORIGIN, "POST", "/v1/users/alice/leases").await;
    assert!(answer.headers().get("access-control-allow-origin").is_none());
    problem(answer, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let created = app
        .client
        .post(app.url("/v1/users/alice/leases"))
        .header("origin", PLAYER_ORIGIN)
        .json(&json!({"stream_id": "s1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(created.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn any_origin_is_echoed_when_the_list_is_a_star() {
    let app = spawn_app_with(Backend::Embedded, |s| {
        crate::auth::secure(s);
        s.cors_origins = Some(CorsOrigins::Any);
    })
    .await;
    let answer = preflight(&app, OTHER_ORIGIN, "POST", "/v1/users/alice/leases").await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(header(answer.headers(), "access-control-allow-origin"), OTHER_ORIGIN);
}

#[tokio::test]
async fn admin_routes_and_metrics_never_answer_another_origin_even_with_a_star() {
    let app = spawn_app_with(Backend::Embedded, |s| {
        crate::auth::secure(s);
        s.admin_token = None;
        s.admin_open = true;
        s.cors_origins = Some(CorsOrigins::Any);
    })
    .await;
    let alice = crate::auth::token_for("alice");
    let created = app.client.post(app.url("/v1/users/alice/leases")).bearer_auth(&alice);
    assert_eq!(created.json(&json!({"stream_id": "s"})).send().await.unwrap().status(), StatusCode::CREATED);
    for (method, path) in
        [("DELETE", "/v1/users/alice/leases"), ("PUT", "/v1/users/alice/limit"), ("DELETE", "/v1/users/alice/limit")]
    {
        let refused = preflight(&app, OTHER_ORIGIN, method, path).await;
        assert!(refused.headers().get("access-control-allow-origin").is_none(), "{method} {path}");
        problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let calls = [
        app.client.delete(app.url("/v1/users/alice/leases")),
        app.client.delete(app.url("/v1/users/alice/limit")),
        app.client.put(app.url("/v1/users/alice/limit")).json(&json!({"limit": 9})),
        app.client.get(app.url("/metrics")),
    ];
    for call in calls {
        let answer = call.header("origin", OTHER_ORIGIN).send().await.unwrap();
        assert!(answer.headers().get("access-control-allow-origin").is_none());
        problem(answer, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let list = app.client.get(app.url("/v1/users/alice/leases")).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(list.json::<Value>().await.unwrap()["active"], 1, "revoke-all ran");
    let limit = app.client.get(app.url("/v1/users/alice/limit")).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(limit.json::<Value>().await.unwrap()["limit"], 3, "the limit changed");
    // Servers (no Origin) still administer.
    assert_eq!(app.client.delete(app.url("/v1/users/alice/leases")).send().await.unwrap().status(), StatusCode::OK);
}
