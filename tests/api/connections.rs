//! Connections as a hostile or clumsy client uses them: heads that never
//! finish, bytes that trickle, pipelined requests. Every request's head must
//! arrive in time, an idle connection closes after the keep-alive time, and
//! each answer is framed by its own request. Short timeouts, real sockets.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const REQUEST_TIMEOUT: Duration = Duration::from_millis(1000);
const KEEP_ALIVE: Duration = Duration::from_millis(2000);

async fn app_with_short_timeouts() -> TestApp {
    spawn_app_with(Backend::Embedded, |s| {
        s.http.request_timeout = REQUEST_TIMEOUT;
        s.http.keep_alive = KEEP_ALIVE;
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the server closes the connection or `limit` passes; returns
/// what arrived and how long the connection stayed open.
async fn read_until_closed(conn: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, conn.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), Some(started.elapsed())),
            Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), None),
        }
    }
}

#[tokio::test]
async fn a_connection_parked_on_the_first_byte_of_a_second_request_is_closed_in_time() {
    let app = app_with_short_timeouts().await;
    let mut conn = connect(&app).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nG").await.unwrap();
    let (answers, closed_after) = read_until_closed(&mut conn, Duration::from_secs(6)).await;
    assert!(answers.starts_with("HTTP/1.1 200 OK"), "{answers}");
    let closed_after = closed_after.expect("the connection was still open after 6 s");
    assert!(closed_after < REQUEST_TIMEOUT + Duration::from_millis(700), "closed after {closed_after:?}");
}

#[tokio::test]
async fn a_head_trickled_line_by_line_is_cut_off_at_the_request_timeout_on_any_request() {
    let app = app_with_short_timeouts().await;
    for first_request in [true, false] {
        let mut conn = connect(&app).await;
        if !first_request {
            conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let mut answer = [0u8; 512];
            assert!(conn.read(&mut answer).await.unwrap() > 0);
        }
        let started = Instant::now();
        conn.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        let mut open = true;
        for n in 0..12 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if conn.write_all(format!("X-Trickle-{n}: 1\r\n").as_bytes()).await.is_err() {
                open = false;
                break;
            }
            let mut probe = [0u8; 512];
            if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(1), conn.read(&mut probe)).await {
                open = false;
                break;
            }
        }
        let lasted = started.elapsed();
        assert!(!open, "a trickled head kept the connection for {lasted:?} (first request: {first_request})");
        assert!(lasted < REQUEST_TIMEOUT + Duration::from_millis(1000), "{lasted:?} (first: {first_request})");
    }
}

#[tokio::test]
async fn an_idle_connection_closes_after_the_keep_alive_time() {
    let app = app_with_short_timeouts().await;
    let mut conn = connect(&app).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (answers, closed_after) = read_until_closed(&mut conn, Duration::from_secs(6)).await;
    assert!(answers.starts_with("HTTP/1.1 200 OK"), "{answers}");
    let closed_after = closed_after.expect("an idle connection was still open after 6 s");
    assert!(closed_after >= KEEP_ALIVE - Duration::from_millis(100), "closed early: {closed_after:?}");
    assert!(closed_after < KEEP_ALIVE + Duration::from_millis(1000), "closed after {closed_after:?}");
}

/// Splits a stream of answers into `(status line, content-length, body)`,
/// reading a body only for answers whose request was not HEAD.
fn split_answers(mut stream: &str, heads: &[bool]) -> Vec<(String, usize, String)> {
    let mut answers = Vec::new();
    for &is_head in heads {
        let (head, rest) = stream.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer head in {stream:?}"));
        assert!(head.starts_with("HTTP/1.1 "), "an answer's head starts elsewhere: {head:?}");
        let length = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.parse().unwrap()))
            .unwrap_or(0);
        let body_length = if is_head { 0 } else { length };
        assert!(rest.len() >= body_length, "answer cut short: {head:?} then {rest:?}");
        answers.push((head.lines().next().unwrap().to_owned(), length, rest[..body_length].to_owned()));
        stream = &rest[body_length..];
    }
    assert_eq!(stream, "", "bytes beyond the expected answers");
    answers
}

#[tokio::test]
async fn pipelined_head_requests_get_answers_framed_by_their_own_request() {
    let app = app_with_short_timeouts().await;
    app.acquire_ok("alice", "s").await;
    let get_health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let head_health = "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let get_list = "GET /v1/users/alice/leases HTTP/1.1\r\nHost: x\r\n\r\n";
    let head_list = "HEAD /v1/users/alice/leases HTTP/1.1\r\nHost: x\r\n\r\n";
    let close = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (requests, heads) in [
        (vec![get_health, head_health, close], vec![false, true, false]),
        (vec![get_list, head_list, close], vec![false, true, false]),
        (vec![head_health, get_list, head_health, close], vec![true, false, true, false]),
    ] {
        let mut conn = connect(&app).await;
        conn.write_all(requests.concat().as_bytes()).await.unwrap();
        let (stream, closed) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
        assert!(closed.is_some(), "the last request asked to close: {stream}");
        let answers = split_answers(&stream, &heads);
        for ((status, length, body), is_head) in answers.iter().zip(&heads) {
            if *is_head {
                assert_eq!(body, "", "{status}");
            } else {
                assert_eq!(body.len(), *length, "{status}");
                assert!(body.starts_with('{'), "{status}: {body:?}");
            }
        }
    }
}

#[tokio::test]
async fn pipelined_requests_with_bodies_are_all_answered_in_order() {
    let app = app_with_short_timeouts().await;
    let acquire = |stream: &str| {
        let body = format!("{{\"stream_id\":\"{stream}\"}}");
        format!(
            "POST /v1/users/bob/leases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let close = "GET /v1/users/bob/leases HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut conn = connect(&app).await;
    conn.write_all(format!("{}{}{close}", acquire("one"), acquire("two")).as_bytes()).await.unwrap();
    let (stream, _) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    let answers = split_answers(&stream, &[false, false, false]);
    assert!(answers[0].0.contains("201") && answers[1].0.contains("201"), "{answers:?}");
    assert!(answers[0].2.contains("\"one\"") && answers[1].2.contains("\"two\""), "{answers:?}");
    assert!(answers[2].2.contains("\"active\":2"), "{answers:?}");
}

#[tokio::test]
async fn a_connection_beyond_the_limit_is_answered_503_at_once_not_left_waiting() {
    let app = spawn_app_with(Backend::Embedded, |s| {
        s.http.max_connections = 3;
        s.workers = 1;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = connect(&app).await;
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut answer = [0u8; 512];
        assert!(conn.read(&mut answer).await.unwrap() > 0);
        held.push(conn);
    }
    let mut extra = connect(&app).await;
    extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (answer, closed) = read_until_closed(&mut extra, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "the connection over the limit got no answer in 3 s: {answer:?}");
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 1") && lower.contains("application/problem+json"), "{answer}");
    assert!(answer.contains(r#""code":"overloaded""#), "{answer}");
    // A place freed is a place taken again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut again = connect(&app).await;
        again.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let (answer, _) = read_until_closed(&mut again, Duration::from_secs(3)).await;
        if answer.starts_with("HTTP/1.1 200 ") {
            break;
        }
        assert!(Instant::now() < deadline, "no place freed: {answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real binary under a low open-file limit, as a systemd unit would
/// start it (`prlimit`, from util-linux).
fn under_open_file_limit(soft: u64, hard: u64, env: &[(&str, &str)]) -> std::process::Command {
    let mut command = std::process::Command::new("prlimit");
    command.arg(format!("--nofile={soft}:{hard}")).arg(env!("CARGO_BIN_EXE_streamlease"));
    command.env("STREAMLEASE_BIND", "127.0.0.1:0").env("STREAMLEASE_WORKERS", "2").envs(env.iter().copied());
    command
}

#[test]
fn the_open_file_limit_is_raised_and_the_connection_limit_sized_to_it() {
    use std::io::BufRead;
    let mut child = under_open_file_limit(512, 2048, &[("RUST_LOG", "info")])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) runs the service");
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let line = stderr.lines().map_while(Result::ok).find(|l| l.contains("connections at most"));
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("the service logged its connection limit");
    let reserve = streamlease::descriptors::reserve(2);
    assert!(line.contains(&format!("connections at most {} (open files 2048,", 2048 - reserve)), "{line}");

    let refused = under_open_file_limit(512, 1024, &[("STREAMLEASE_MAX_CONNECTIONS", "5000")]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("streamlease: STREAMLEASE_MAX_CONNECTIONS: "), "{stderr}");
}
