//! Redis over TLS (`rediss://`): the conformance suite runs on it too
//! (`redis_tls` in every `on_every_store!`); here, what a certificate
//! problem looks like, a client certificate, and an ACL user (the same
//! URL form works with and without TLS).

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::certificates::CERTIFICATES;
use crate::helpers::*;
use crate::redis_server::{RedisServer, Tls};

fn tls_server(cert: &Path, key: &Path, require_client_cert: bool) -> RedisServer {
    RedisServer::start_tls(Tls {
        port: 0,
        cert: cert.to_owned(),
        key: key.to_owned(),
        ca: CERTIFICATES.ca_cert.clone(),
        require_client_cert,
    })
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Polls `/readyz` for a while: it must stay 503, and the log must say why
/// in a line that names the certificate.
async fn stays_unready_naming(service: &ServiceProcess, cause: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        let ready = client.get(format!("{}/readyz", service.base)).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = service.log.lock().unwrap().join("\n");
    assert!(log.contains(cause), "no log line names {cause:?}:\n{log}");
}

/// A Redis serving `cert`, a service trusting only `ca`: never ready, and
/// the log names `cause`.
async fn refused_by_its_certificate(cert: &Path, key: &Path, ca: &Path, cause: &str) {
    let redis = tls_server(cert, key, false);
    let service = ServiceProcess::start(&[("REDIS_URL", &redis.url()), ("STREAMLEASE_REDIS_CA_FILE", path(ca))]).await;
    stays_unready_naming(&service, cause).await;
}

#[tokio::test]
async fn a_redis_whose_certificate_no_trusted_ca_signed_keeps_readyz_at_503() {
    let c = &*CERTIFICATES;
    refused_by_its_certificate(&c.server_cert, &c.server_key, &c.other_ca_cert, "UnknownIssuer").await;
}

#[tokio::test]
async fn a_redis_certificate_for_another_name_keeps_readyz_at_503() {
    let c = &*CERTIFICATES;
    refused_by_its_certificate(&c.wrong_name_cert, &c.wrong_name_key, &c.ca_cert, "certificate not valid for name")
        .await;
}

#[tokio::test]
async fn a_redis_that_asks_for_a_client_certificate_gets_the_configured_one() {
    let redis = tls_server(&CERTIFICATES.server_cert, &CERTIFICATES.server_key, true);
    let url = redis.url();
    let ca = path(&CERTIFICATES.ca_cert);
    let with_cert = ServiceProcess::start(&[
        ("REDIS_URL", &url),
        ("STREAMLEASE_REDIS_CA_FILE", ca),
        ("STREAMLEASE_REDIS_CLIENT_CERT_FILE", path(&CERTIFICATES.client_cert)),
        ("STREAMLEASE_REDIS_CLIENT_KEY_FILE", path(&CERTIFICATES.client_key)),
    ])
    .await;
    let client = reqwest::Client::new();
    let ready = client.get(format!("{}/readyz", with_cert.base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let acquired = client
        .post(format!("{}/v1/users/alice/leases", with_cert.base))
        .json(&serde_json::json!({"stream_id": "movie"}))
        .send()
        .await
        .unwrap();
    assert_eq!(acquired.status(), StatusCode::CREATED);
    assert_eq!(redis.keys("sl:{alice}:*"), ["sl:{alice}:l"]);

    let without = ServiceProcess::start(&[("REDIS_URL", &url), ("STREAMLEASE_REDIS_CA_FILE", ca)]).await;
    let ready = client.get(format!("{}/readyz", without.base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn tls_files_are_checked_at_startup() {
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("REDIS_URL", "redis://127.0.0.1:1"), ("STREAMLEASE_REDIS_CA_FILE", "/etc/hostname")], "rediss://"),
        (&[("REDIS_URL", "rediss://127.0.0.1:1"), ("STREAMLEASE_REDIS_CA_FILE", "/nonexistent.pem")], "nonexistent"),
        (
            &[
                ("REDIS_URL", "rediss://127.0.0.1:1"),
                ("STREAMLEASE_REDIS_CLIENT_CERT_FILE", path(&CERTIFICATES.client_cert)),
            ],
            "STREAMLEASE_REDIS_CLIENT_KEY_FILE",
        ),
    ];
    for (env, named) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_streamlease"))
            .env("STREAMLEASE_BIND", "127.0.0.1:0")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{env:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(named) && said.lines().count() == 1, "{env:?}: {said}");
    }
}

/// A Redis with an ACL user: the service logs in with the user and password
/// in its URL; a wrong password keeps `/readyz` at 503 and says why.
#[tokio::test]
async fn an_acl_user_and_password_in_the_url_log_in() {
    let redis = RedisServer::start_with_args(&["--user", "streamlease", "on", ">s3cret-pass", "~*", "&*", "+@all"]);
    let good = format!("redis://streamlease:s3cret-pass@127.0.0.1:{}", redis.port);
    let service = ServiceProcess::start(&[("REDIS_URL", &good)]).await;
    let client = reqwest::Client::new();
    let ready = client.get(format!("{}/readyz", service.base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let wrong = format!("redis://streamlease:not-it@127.0.0.1:{}", redis.port);
    let refused = ServiceProcess::start(&[("REDIS_URL", &wrong)]).await;
    stays_unready_naming(&refused, "Password authentication failed").await;
    // The password itself never reaches the log.
    assert!(!refused.log.lock().unwrap().join("\n").contains("not-it"));
}
