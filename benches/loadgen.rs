//! Player simulation against a running service: each simulated player
//! acquires a lease, heartbeats it on a fixed schedule, then releases it or
//! abandons it (no release). Reports achieved throughput per operation,
//! latency percentiles from HDR histograms, errors, and how many acquires it
//! saw admitted over a user's limit (must be 0).
//!
//! Heartbeats follow a fixed schedule. When a heartbeat goes out late
//! because its connection was still waiting for earlier answers, its latency
//! counts from the time it was *due*, so a stalled server cannot hide the
//! stall by slowing the generator down (coordinated omission). Only the
//! lateness of our own timer (tokio timers have 1 ms granularity) is not
//! charged to the server.
//!
//! ```text
//! cargo bench --bench loadgen -- --url http://127.0.0.1:8080 [options]
//!   --players N            simulated players (default 1000)
//!   --players-per-user N   players sharing one user, to exercise the limit (default 1)
//!   --rate R               total heartbeats per second (default: players / interval)
//!   --interval-ms MS       heartbeat interval per player when --rate is not given (default 1000)
//!   --duration-s S         length of the heartbeat phase (default 10)
//!   --connections C        HTTP/1.1 keep-alive connections (default 64)
//!   --abandon F            fraction of players that never release (default 0.1)
//!   --user-prefix P        user ids are P-0, P-1, ... (default "player")
//!   --restore-body         heartbeats carry {stream_id, device_id}, as the SDK sends them
//!   --acquire-rate R       acquires per second of new users during the heartbeat phase,
//!                          each released at once (default 0)
//!   --acquire-connections C connections for those acquires (default 16)
//!   --verify               after the heartbeat phase, one heartbeat per player (with the
//!                          restore body, retried after a 503's Retry-After): a lease a
//!                          player still holds must renew or restore, never 404
//! ```
//!
//! Answers are split: latencies of the expected answers apart from those of
//! 503 refusals, and refusals without `Retry-After` are counted.
//!
//! The last line is machine-readable (`RESULT key=value ...`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::join_all;
use hdrhistogram::Histogram;
use tokio::net::TcpStream;

struct Args {
    addr: String,
    players: usize,
    players_per_user: usize,
    rate: Option<f64>,
    interval: Duration,
    duration: Duration,
    connections: usize,
    abandon: f64,
    user_prefix: String,
    restore_body: bool,
    acquire_rate: f64,
    acquire_connections: usize,
    verify: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: String::new(),
        players: 1000,
        players_per_user: 1,
        rate: None,
        interval: Duration::from_millis(1000),
        duration: Duration::from_secs(10),
        connections: 64,
        abandon: 0.1,
        user_prefix: "player".into(),
        restore_body: false,
        acquire_rate: 0.0,
        acquire_connections: 16,
        verify: false,
    };
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<f64>().map_err(|_| format!("{flag}: not a number: {v}"));
        match flag.as_str() {
            "--url" => args.addr = value()?.trim_start_matches("http://").trim_end_matches('/').to_owned(),
            "--players" => args.players = number(value()?)? as usize,
            "--players-per-user" => args.players_per_user = (number(value()?)? as usize).max(1),
            "--rate" => args.rate = Some(number(value()?)?),
            "--interval-ms" => args.interval = Duration::from_secs_f64(number(value()?)? / 1000.0),
            "--duration-s" => args.duration = Duration::from_secs_f64(number(value()?)?),
            "--connections" => args.connections = (number(value()?)? as usize).max(1),
            "--abandon" => args.abandon = number(value()?)?.clamp(0.0, 1.0),
            "--user-prefix" => args.user_prefix = value()?,
            "--restore-body" => args.restore_body = true,
            "--acquire-rate" => args.acquire_rate = number(value()?)?.max(0.0),
            "--acquire-connections" => args.acquire_connections = (number(value()?)? as usize).max(1),
            "--verify" => args.verify = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if args.addr.is_empty() {
        return Err("--url is required".into());
    }
    Ok(args)
}

/// One simulated player.
struct Player {
    user: String,
    /// `/v1/users/{user}/leases/{lease_id}` once admitted.
    lease: Option<String>,
    /// The restore body its heartbeats may carry.
    device: String,
    abandons: bool,
}

/// Latencies and outcomes of one operation.
struct OpStats {
    latency_us: Histogram<u64>,
    /// Successful (2xx) answers, and 503 refusals, apart.
    ok_us: Histogram<u64>,
    refused_us: Histogram<u64>,
    /// 503s that did not say when to retry.
    refused_without_retry_after: u64,
    statuses: HashMap<u16, u64>,
    elapsed: Duration,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

impl OpStats {
    fn new() -> Self {
        OpStats {
            latency_us: histogram(),
            ok_us: histogram(),
            refused_us: histogram(),
            refused_without_retry_after: 0,
            statuses: HashMap::new(),
            elapsed: Duration::ZERO,
        }
    }

    fn record(&mut self, answer: &Answer, latency: Duration) {
        *self.statuses.entry(answer.status).or_default() += 1;
        let us = latency.as_micros().max(1) as u64;
        self.latency_us.saturating_record(us);
        if answer.status == 503 {
            self.refused_us.saturating_record(us);
            self.refused_without_retry_after += u64::from(!answer.retry_after);
        } else if (200..300).contains(&answer.status) {
            self.ok_us.saturating_record(us);
        }
    }

    fn merge(&mut self, other: OpStats) {
        self.latency_us.add(other.latency_us).expect("same bounds");
        self.ok_us.add(other.ok_us).expect("same bounds");
        self.refused_us.add(other.refused_us).expect("same bounds");
        self.refused_without_retry_after += other.refused_without_retry_after;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
    }

    /// The successful answers, and the refusals: count, p99, max.
    fn split_line(&self, name: &str) -> String {
        let (a, r) = (&self.ok_us, &self.refused_us);
        format!(
            "{name:<10} 2xx {:>9} p50 {:>7}us p99 {:>7}us max {:>8}us | refused (503) {:>9} p99 {:>7}us max {:>8}us, {} without Retry-After",
            a.len(),
            a.value_at_quantile(0.5),
            a.value_at_quantile(0.99),
            a.max(),
            r.len(),
            r.value_at_quantile(0.99),
            r.max(),
            self.refused_without_retry_after,
        )
    }

    fn count(&self) -> u64 {
        self.latency_us.len()
    }

    fn errors(&self, expected: &[u16]) -> u64 {
        self.statuses.iter().filter(|(s, _)| !expected.contains(s)).map(|(_, n)| n).sum()
    }

    fn rate(&self) -> f64 {
        self.count() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn line(&self, name: &str, expected: &[u16]) -> String {
        let q = |p: f64| self.latency_us.value_at_quantile(p);
        let mut statuses: Vec<_> = self.statuses.iter().collect();
        statuses.sort();
        format!(
            "{name:<10} {:>9} ops {:>10.0}/s  p50 {:>7}us  p99 {:>7}us  p99.9 {:>7}us  max {:>8}us  errors {}  statuses {statuses:?}",
            self.count(),
            self.rate(),
            q(0.5),
            q(0.99),
            q(0.999),
            self.latency_us.max(),
            self.errors(expected),
        )
    }
}

/// What came back for one request.
struct Answer {
    /// 0 when the connection failed.
    status: u16,
    body: Bytes,
    retry_after: bool,
}

/// One keep-alive HTTP/1.1 connection, spoken by hand: a request is
/// written whole and its answer read by `Content-Length`. A client library
/// (hyper, with a task per connection) cost several times the CPU per
/// request, and the generator shares the machine with the service.
struct Conn {
    stream: TcpStream,
    host: String,
    /// The request being sent and the answer being read, reused.
    out: Vec<u8>,
    input: Vec<u8>,
    /// The server said it closes the connection after this answer.
    closing: bool,
}

impl Conn {
    async fn open(addr: &str) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Conn { stream, host: addr.to_owned(), out: Vec::new(), input: Vec::new(), closing: false })
    }

    /// Sends one request; a status of 0 means the connection failed (it is
    /// reopened).
    async fn send(&mut self, method: &str, path: &str, body: Option<String>) -> Answer {
        if self.closing
            && let Ok(fresh) = Conn::open(&self.host).await
        {
            *self = fresh;
        }
        match self.exchange(method, path, body.as_deref()).await {
            Ok(answer) => answer,
            Err(_) => {
                if let Ok(fresh) = Conn::open(&self.host).await {
                    *self = fresh;
                }
                Answer { status: 0, body: Bytes::new(), retry_after: false }
            }
        }
    }

    async fn exchange(&mut self, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Answer> {
        use std::io::{Error, ErrorKind};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.out.clear();
        let body = body.unwrap_or("");
        let kind = if body.is_empty() { "" } else { "content-type: application/json\r\n" };
        write!(
            self.out,
            "{method} {path} HTTP/1.1\r\nhost: {}\r\n{kind}content-length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        )?;
        self.stream.write_all(&self.out).await?;
        self.input.clear();
        // The head, lowercased once: its status, length and two headers.
        let (head, head_end) = loop {
            if let Some(end) = self.input.windows(4).position(|w| w == b"\r\n\r\n") {
                break (String::from_utf8_lossy(&self.input[..end]).to_ascii_lowercase(), end + 4);
            }
            if self.stream.read_buf(&mut self.input).await? == 0 {
                return Err(Error::from(ErrorKind::UnexpectedEof));
            }
        };
        let length = head
            .split("\r\n")
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while self.input.len() < head_end + length {
            if self.stream.read_buf(&mut self.input).await? == 0 {
                return Err(Error::from(ErrorKind::UnexpectedEof));
            }
        }
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        self.closing = head.contains("\r\nconnection: close");
        Ok(Answer {
            status,
            body: Bytes::copy_from_slice(&self.input[head_end..head_end + length]),
            retry_after: head.contains("\r\nretry-after:"),
        })
    }
}

/// A field of a flat JSON answer, without a JSON parser on the hot path.
fn field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let start = body.find(&format!("\"{name}\":"))? + name.len() + 3;
    let rest = body[start..].trim_start_matches('"');
    let end = rest.find(['"', ',', '}'])?;
    Some(&rest[..end])
}

/// One connection and the players that use it.
struct Lane {
    conn: Conn,
    players: Vec<Player>,
}

/// Heartbeats sent so far and failures, for the progress line.
#[derive(Default)]
struct Progress {
    sent: AtomicU64,
    errors: AtomicU64,
}

/// Acquires for this connection's players, one after the other.
async fn acquire_all(lane: &mut Lane) -> (OpStats, Vec<(String, u64, u64)>) {
    let mut stats = OpStats::new();
    let mut admitted = Vec::new();
    let Lane { conn, players } = lane;
    for player in players.iter_mut() {
        let started = Instant::now();
        let body = Some(player.device.clone());
        let answer = conn.send("POST", &format!("/v1/users/{}/leases", player.user), body).await;
        stats.record(&answer, started.elapsed());
        if answer.status == 201 {
            let text = String::from_utf8_lossy(&answer.body);
            let number = |name| field(&text, name).and_then(|v| v.parse().ok()).unwrap_or(0);
            if let Some(id) = field(&text, "lease_id") {
                player.lease = Some(format!("/v1/users/{}/leases/{id}", player.user));
                admitted.push((player.user.clone(), number("active"), number("limit")));
            }
        }
    }
    (stats, admitted)
}

/// Heartbeats this connection's admitted players on their fixed schedule
/// until `end`; latency counts from each heartbeat's intended time.
async fn heartbeat_all(
    lane: &mut Lane,
    interval: Duration,
    start: Instant,
    end: Instant,
    progress: &Progress,
    restore_body: bool,
) -> OpStats {
    let mut stats = OpStats::new();
    let Lane { conn, players } = lane;
    let paths: Vec<(String, Option<String>)> = players
        .iter()
        .filter_map(|p| Some((format!("{}/heartbeat", p.lease.as_ref()?), restore_body.then(|| p.device.clone()))))
        .collect();
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    for (i, _) in paths.iter().enumerate() {
        // Spread first heartbeats over one interval, so load is steady.
        let offset = interval.mul_f64((i as f64 + 0.5) / paths.len().max(1) as f64);
        due.push(Reverse((start + offset, i)));
    }
    // When the schedule last had to wait for the clock. A heartbeat is
    // charged from when it was due, or from this wake-up if the timer woke
    // late: waiting behind earlier answers counts, our timer's lateness not.
    let mut woke_at = start;
    while let Some(Reverse((intended, i))) = due.pop() {
        // A schedule the server cannot keep up with ends on time too: the
        // heartbeats still due then were never sent.
        if intended >= end || Instant::now() >= end {
            break;
        }
        if intended > Instant::now() {
            tokio::time::sleep_until(intended.into()).await;
            woke_at = Instant::now();
        }
        let charged_from = intended.max(woke_at);
        let (path, body) = &paths[i];
        let answer = conn.send("POST", path, body.clone()).await;
        stats.record(&answer, charged_from.elapsed());
        progress.sent.fetch_add(1, Ordering::Relaxed);
        if answer.status != 200 {
            progress.errors.fetch_add(1, Ordering::Relaxed);
        }
        due.push(Reverse((intended + interval, i)));
    }
    stats
}

/// Releases this connection's admitted players, except those that abandon.
async fn release_all(lane: &mut Lane) -> OpStats {
    let mut stats = OpStats::new();
    let Lane { conn, players } = lane;
    for player in players.iter().filter(|p| !p.abandons) {
        if let Some(lease) = &player.lease {
            let started = Instant::now();
            let answer = conn.send("DELETE", lease, None).await;
            stats.record(&answer, started.elapsed());
        }
    }
    stats
}

/// Acquires for new users at a fixed rate on their own connection until
/// `end`, each released at once if granted; latency counts from when each
/// was due.
async fn acquire_at_rate(
    mut conn: Conn,
    lane: usize,
    interval: Duration,
    start: Instant,
    end: Instant,
    prefix: String,
) -> (OpStats, OpStats) {
    let (mut acquire, mut release) = (OpStats::new(), OpStats::new());
    let (mut due, mut n) = (start + interval.mul_f64(lane as f64 / 16.0 % 1.0), 0u64);
    let mut woke_at = start;
    while due < end && Instant::now() < end {
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
            woke_at = Instant::now();
        }
        let charged_from = due.max(woke_at);
        let user = format!("{prefix}-new-{lane}-{n}");
        let body = format!(r#"{{"stream_id":"title-1","device_id":"{}"}}"#, uuid::Uuid::new_v4());
        let answer = conn.send("POST", &format!("/v1/users/{user}/leases"), Some(body)).await;
        acquire.record(&answer, charged_from.elapsed());
        if answer.status == 201
            && let Some(id) = field(&String::from_utf8_lossy(&answer.body), "lease_id")
        {
            let started = Instant::now();
            let answer = conn.send("DELETE", &format!("/v1/users/{user}/leases/{id}"), None).await;
            release.record(&answer, started.elapsed());
        }
        due += interval;
        n += 1;
    }
    (acquire, release)
}

/// How the players' leases stood after the heartbeat phase.
#[derive(Default)]
struct Verdict {
    renewed: u64,
    restored: u64,
    not_found: u64,
    other: u64,
}

/// One heartbeat per admitted player, with its restore body, retried after
/// a 503 as its Retry-After says (up to 10 times).
async fn verify_all(lane: &mut Lane) -> Verdict {
    let mut verdict = Verdict::default();
    let Lane { conn, players } = lane;
    for player in players.iter() {
        let Some(lease) = &player.lease else { continue };
        let path = format!("{lease}/heartbeat");
        let mut tries = 0;
        let answer = loop {
            let answer = conn.send("POST", &path, Some(player.device.clone())).await;
            tries += 1;
            if answer.status != 503 || tries == 10 {
                break answer;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        match answer.status {
            200 if String::from_utf8_lossy(&answer.body).contains("\"restored\":true") => verdict.restored += 1,
            200 => verdict.renewed += 1,
            404 => verdict.not_found += 1,
            _ => verdict.other += 1,
        }
    }
    verdict
}

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            say(&format!("loadgen: {e}"));
            std::process::exit(2);
        }
    };
    let mut lanes = Vec::new();
    for _ in 0..args.connections {
        match Conn::open(&args.addr).await {
            Ok(conn) => lanes.push(Lane { conn, players: Vec::new() }),
            Err(e) => {
                say(&format!("loadgen: {e}"));
                std::process::exit(1);
            }
        }
    }
    for i in 0..args.players {
        lanes[i % args.connections].players.push(Player {
            user: format!("{}-{}", args.user_prefix, i / args.players_per_user),
            lease: None,
            device: format!(r#"{{"stream_id":"title-1","device_id":"{}"}}"#, uuid::Uuid::new_v4()),
            abandons: (i as f64 + 0.5) / args.players as f64 > 1.0 - args.abandon,
        });
    }

    // 1. Acquire.
    let started = Instant::now();
    let results = join_all(lanes.iter_mut().map(acquire_all)).await;
    let mut acquire = OpStats::new();
    let mut per_user: HashMap<String, (u64, u64)> = HashMap::new();
    let mut over_admitted = 0;
    for (stats, admitted) in results {
        acquire.merge(stats);
        for (user, active, limit) in admitted {
            let entry = per_user.entry(user).or_default();
            entry.0 += 1;
            entry.1 = limit;
            over_admitted += u64::from(active > limit);
        }
    }
    over_admitted += per_user.values().map(|(held, limit)| held.saturating_sub(*limit)).sum::<u64>();
    acquire.elapsed = started.elapsed();
    let admitted: usize = lanes.iter().flat_map(|l| &l.players).filter(|p| p.lease.is_some()).count();

    // 2. Heartbeat at a fixed rate.
    let interval = match args.rate {
        Some(rate) => Duration::from_secs_f64(admitted as f64 / rate.max(1e-9)),
        None => args.interval,
    };
    let target_rate = admitted as f64 / interval.as_secs_f64();
    say(&format!(
        "loadgen: {admitted} of {} players admitted; heartbeating every {interval:?} = {target_rate:.0}/s for {:?}",
        args.players, args.duration
    ));
    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let end = start + args.duration;
    let reporter = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut last = 0;
            let mut ticks = tokio::time::interval_at((start + Duration::from_secs(1)).into(), Duration::from_secs(1));
            loop {
                ticks.tick().await;
                let sent = progress.sent.load(Ordering::Relaxed);
                say(&format!(
                    "loadgen: {:>4.0}s  {:>9} heartbeats  {:>8}/s  errors {}",
                    start.elapsed().as_secs_f64(),
                    sent,
                    sent - last,
                    progress.errors.load(Ordering::Relaxed)
                ));
                last = sent;
            }
        })
    };
    let mut acquirers = Vec::new();
    if args.acquire_rate > 0.0 {
        let each = Duration::from_secs_f64(args.acquire_connections as f64 / args.acquire_rate);
        for lane in 0..args.acquire_connections {
            let conn = match Conn::open(&args.addr).await {
                Ok(conn) => conn,
                Err(e) => {
                    say(&format!("loadgen: {e}"));
                    std::process::exit(1);
                }
            };
            acquirers.push(tokio::spawn(acquire_at_rate(conn, lane, each, start, end, args.user_prefix.clone())));
        }
    }
    let restore_body = args.restore_body;
    let results =
        join_all(lanes.iter_mut().map(|lane| heartbeat_all(lane, interval, start, end, &progress, restore_body))).await;
    reporter.abort();
    let mut heartbeat = OpStats::new();
    results.into_iter().for_each(|s| heartbeat.merge(s));
    heartbeat.elapsed = start.elapsed();
    let (mut mixed_acquire, mut mixed_release) = (OpStats::new(), OpStats::new());
    for acquirer in join_all(acquirers).await {
        let (acquired, released) = acquirer.expect("acquirer ran");
        mixed_acquire.merge(acquired);
        mixed_release.merge(released);
    }
    mixed_acquire.elapsed = heartbeat.elapsed;
    mixed_release.elapsed = heartbeat.elapsed;

    // 2b. Every lease a player still holds renews or restores.
    let verdict = if args.verify {
        let mut verdict = Verdict::default();
        for v in join_all(lanes.iter_mut().map(verify_all)).await {
            verdict.renewed += v.renewed;
            verdict.restored += v.restored;
            verdict.not_found += v.not_found;
            verdict.other += v.other;
        }
        Some(verdict)
    } else {
        None
    };

    // 3. Release, or abandon.
    let started = Instant::now();
    let mut release = OpStats::new();
    join_all(lanes.iter_mut().map(release_all)).await.into_iter().for_each(|s| release.merge(s));
    release.elapsed = started.elapsed();

    let acquire_expected: &[u16] = if args.players_per_user > 1 { &[201, 409] } else { &[201] };
    say(&acquire.line("acquire", acquire_expected));
    say(&heartbeat.line("heartbeat", &[200]));
    say(&heartbeat.split_line("heartbeat"));
    if args.acquire_rate > 0.0 {
        say(&mixed_acquire.line("acquire+", &[201]));
        say(&mixed_acquire.split_line("acquire+"));
        say(&mixed_release.line("release+", &[204]));
    }
    say(&release.line("release", &[204]));
    say(&format!("over-admitted acquires: {over_admitted}"));
    if let Some(v) = &verdict {
        say(&format!(
            "after the run: {} renewed, {} restored, {} not found (404), {} other",
            v.renewed, v.restored, v.not_found, v.other
        ));
    }
    let q = |p: f64| heartbeat.latency_us.value_at_quantile(p);
    let share_refused = |s: &OpStats| s.refused_us.len() as f64 / s.count().max(1) as f64;
    let verdict = verdict.map_or(String::new(), |v| {
        format!(
            " verify_renewed={} verify_restored={} verify_404={} verify_other={}",
            v.renewed, v.restored, v.not_found, v.other
        )
    });
    let result = format!(
        "RESULT admitted={admitted} acquire_rps={:.0} heartbeat_target_rps={target_rate:.0} heartbeat_rps={:.0} \
         heartbeat_p50_us={} heartbeat_p99_us={} heartbeat_p999_us={} errors={} over_admitted={over_admitted} \
         heartbeat_ok={} heartbeat_ok_rps={:.0} heartbeat_ok_p99_us={} heartbeat_refused={} heartbeat_refused_max_us={} \
         heartbeat_refused_share={:.3} acquire_mixed={} acquire_refused_share={:.3} acquire_refused_max_us={} \
         refused_without_retry_after={} requests_sent_rps={:.0}{verdict}\n",
        acquire.rate(),
        heartbeat.rate(),
        q(0.5),
        q(0.99),
        q(0.999),
        acquire.errors(acquire_expected) + heartbeat.errors(&[200]) + release.errors(&[204]),
        heartbeat.ok_us.len(),
        heartbeat.ok_us.len() as f64 / heartbeat.elapsed.as_secs_f64().max(1e-9),
        heartbeat.ok_us.value_at_quantile(0.99),
        heartbeat.refused_us.len(),
        heartbeat.refused_us.max(),
        share_refused(&heartbeat),
        mixed_acquire.count(),
        share_refused(&mixed_acquire),
        mixed_acquire.refused_us.max(),
        heartbeat.refused_without_retry_after + mixed_acquire.refused_without_retry_after,
        (heartbeat.count() + mixed_acquire.count() + mixed_release.count()) as f64
            / heartbeat.elapsed.as_secs_f64().max(1e-9),
    );
    let _ = std::io::stdout().write_all(result.as_bytes());
}
