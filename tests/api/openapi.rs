//! `openapi.json` stays in step with the routes the app serves.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use streamlease::http::ROUTES;
use streamlease::lease_token::{LeaseTokens, new_key_pem};

use crate::helpers::*;

const METHODS: &[&str] = &["get", "head", "put", "post", "delete", "patch"];

fn document() -> Value {
    serde_json::from_str(include_str!("../../src/http/openapi.json")).expect("openapi.json is JSON")
}

#[test]
fn the_document_describes_exactly_the_served_routes() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    let served: BTreeSet<&str> = ROUTES.iter().copied().collect();
    assert_eq!(documented, served);
}

#[tokio::test]
async fn each_path_allows_exactly_the_documented_methods_and_serves_the_document() {
    // With lease tokens, so their keys' route answers too.
    let tokens = std::sync::Arc::new(LeaseTokens::from_pem(new_key_pem().as_bytes()).unwrap());
    let app = spawn_app_with(Backend::Embedded, move |s| s.lease_tokens = Some(tokens)).await;
    let served: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(served, document(), "/openapi.json serves the checked-in document");
    let lease = uuid::Uuid::new_v4().to_string();
    for (path, item) in document()["paths"].as_object().unwrap() {
        let url = app.url(&path.replace("{user_id}", "alice").replace("{lease_id}", &lease));
        let mut documented: Vec<String> =
            METHODS.iter().filter(|m| item.get(**m).is_some()).map(|m| m.to_uppercase()).collect();
        documented.sort();
        // A method no route has: 405, and Allow lists what the app serves.
        let response = app.client.request(Method::TRACE, &url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let mut allowed: Vec<String> =
            response.headers()["allow"].to_str().unwrap().split(',').map(|m| m.trim().to_owned()).collect();
        allowed.sort();
        assert_eq!(allowed, documented, "{path}");
        // Every documented operation reaches a route (never the 404 for unknown routes).
        for method in &documented {
            let response =
                app.client.request(Method::from_bytes(method.as_bytes()).unwrap(), &url).send().await.unwrap();
            let body = response.text().await.unwrap();
            assert!(!body.contains("\"code\":\"not_found\""), "{method} {path}: {body}");
        }
    }
}
