//! A real `redis-server` for one test: a free loopback port, a temp dir, no
//! persistence, stopped on drop.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    /// The plain port: the tests' own commands always go here.
    pub port: u16,
    /// With TLS, the port the service is given (`rediss://`).
    tls: Option<Tls>,
    /// More `redis-server` arguments (a cluster node's, say).
    extra: Vec<String>,
    /// More environment for the process (a preloaded clock shim, say).
    env: Vec<(String, String)>,
    child: std::sync::Mutex<Child>,
    dir: tempfile::TempDir,
}

/// How a server speaks TLS, beside its plain port.
#[derive(Clone)]
pub struct Tls {
    pub port: u16,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub ca: std::path::PathBuf,
    /// Whether clients must show a certificate signed by `ca`.
    pub require_client_cert: bool,
}

const INSTALL_HINT: &str = "redis-server is not installed, and these tests need a real one. \
     Install it: `sudo apt-get install redis-server` (Debian/Ubuntu), `brew install redis` (macOS).";

impl RedisServer {
    /// Starts a server and waits (with a deadline) until it answers PING.
    pub fn start() -> Self {
        Self::start_with(None, Vec::new(), Vec::new())
    }

    /// A server started with this environment added.
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        Self::start_with(None, Vec::new(), env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// A server started with these `redis-server` arguments added.
    pub fn start_with_args(extra: &[&str]) -> Self {
        Self::start_with(None, extra.iter().map(|a| a.to_string()).collect(), Vec::new())
    }

    /// A server that also serves TLS, with `tls`'s files (its port is
    /// picked here).
    pub fn start_tls(tls: Tls) -> Self {
        Self::start_with(Some(tls), Vec::new(), Vec::new())
    }

    fn start_with(tls: Option<Tls>, extra: Vec<String>, env: Vec<(String, String)>) -> Self {
        if Command::new("redis-server").arg("--version").output().is_err() {
            panic!("{INSTALL_HINT}");
        }
        // A port picked by binding :0 can be taken again before redis-server
        // binds it; then the server exits and we try another.
        for _ in 0..5 {
            let port = free_port();
            let tls = tls.clone().map(|tls| Tls { port: free_port(), ..tls });
            let dir = tempfile::tempdir().expect("temp dir");
            let child = spawn_redis(port, tls.as_ref(), &extra, &env, dir.path());
            let (extra, env) = (extra.clone(), env.clone());
            let server = RedisServer { port, tls, extra, env, child: std::sync::Mutex::new(child), dir };
            if server.wait_ready(Duration::from_secs(10)) {
                return server;
            }
        }
        panic!("redis-server did not start after 5 attempts");
    }

    /// Stops the server at once, as a crash would.
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is
    /// answered, as with a Redis stuck or descheduled.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT); it then runs what queued up.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.lock().unwrap().id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill {signal} {pid} failed");
    }

    /// Starts it again on the same port, empty (no persistence).
    pub fn restart(&self) {
        *self.child.lock().unwrap() =
            spawn_redis(self.port, self.tls.as_ref(), &self.extra, &self.env, self.dir.path());
        assert!(self.wait_ready(Duration::from_secs(10)), "redis-server did not come back");
    }

    /// Stops this server, and removes its files, when the test process
    /// ends, however it ends: for a server shared by many tests, held in a
    /// `static`, which is never dropped. A `sh` waits for its stdin to
    /// close, which happens when this process exits, then kills the server.
    pub fn stop_at_process_exit(&self) {
        let pid = self.child.lock().unwrap().id().to_string();
        let watchdog = Command::new("sh")
            .args(["-c", "cat >/dev/null; kill -9 \"$1\" 2>/dev/null; rm -rf \"$2\"", "watchdog", &pid])
            .arg(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        // Its stdin stays open for as long as this process lives.
        std::mem::forget(watchdog);
    }

    /// The URL the service is given: `rediss://` on the TLS port if any.
    pub fn url(&self) -> String {
        match &self.tls {
            Some(tls) => format!("rediss://127.0.0.1:{}", tls.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    fn wait_ready(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.lock().unwrap().try_wait() {
                return false;
            }
            if self.try_command(&["PING"]).is_ok_and(|reply| reply == "+PONG") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn try_command(&self, args: &[&str]) -> std::io::Result<String> {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        conn.write_all(&resp(args))?;
        read_reply(&mut BufReader::new(conn))
    }

    /// Runs one command and returns its reply in a flat text form: simple
    /// strings as `+OK`, integers as `:1`, bulk strings as their text, arrays
    /// one element per line.
    pub fn command(&self, args: &[&str]) -> String {
        self.try_command(args).unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }

    /// The keys currently live under `pattern` (KEYS skips expired keys).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> =
            self.command(&["KEYS", pattern]).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
        keys.sort();
        keys
    }

    /// Opens a MONITOR stream, to count the commands clients send.
    pub fn monitor(&self) -> Monitor {
        let conn = TcpStream::connect(("127.0.0.1", self.port)).expect("connect for MONITOR");
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut monitor = Monitor { reader: BufReader::new(conn.try_clone().unwrap()), conn, marks: 0 };
        monitor.conn.write_all(&resp(&["MONITOR"])).unwrap();
        let mut ok = String::new();
        monitor.reader.read_line(&mut ok).unwrap();
        assert_eq!(ok.trim_end(), "+OK");
        monitor
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_redis(
    port: u16,
    tls: Option<&Tls>,
    extra: &[String],
    env: &[(String, String)],
    dir: &std::path::Path,
) -> Child {
    let mut command = Command::new("redis-server");
    command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    if let Some(tls) = tls {
        command.args(["--tls-port", &tls.port.to_string()]);
        command.arg("--tls-cert-file").arg(&tls.cert).arg("--tls-key-file").arg(&tls.key);
        command.arg("--tls-ca-cert-file").arg(&tls.ca);
        command.args(["--tls-auth-clients", if tls.require_client_cert { "yes" } else { "no" }]);
    }
    command
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server")
}

/// A MONITOR connection. Redis echoes every command it executes; commands a
/// script runs are tagged `[0 lua]`, so client round trips can be told apart.
pub struct Monitor {
    conn: TcpStream,
    reader: BufReader<TcpStream>,
    marks: u32,
}

impl Monitor {
    /// Returns the commands clients sent since the last call (script-internal
    /// ones excluded). Works by sending a marker from a separate connection
    /// and reading until the marker shows up, so nothing is missed or waited
    /// for by time.
    pub fn client_commands_since_last(&mut self, server: &RedisServer) -> Vec<String> {
        self.marks += 1;
        let marker = format!("streamlease-test-mark-{}", self.marks);
        server.command(&["ECHO", &marker]);
        let mut seen = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read MONITOR");
            assert!(n > 0, "MONITOR stream closed");
            if line.contains(&marker) {
                return seen;
            }
            if !line.contains(" lua]") {
                seen.push(line.trim_end().to_owned());
            }
        }
    }
}

/// A loopback port free right now (another process may take it before the
/// caller binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end_matches("\r\n").to_owned();
    let body = line.get(1..).unwrap_or("");
    match line.as_bytes().first() {
        Some(b'$') => {
            let len: i64 = body.parse().unwrap_or(-1);
            if len < 0 {
                return Ok(String::new());
            }
            let mut buf = vec![0; len as usize + 2];
            reader.read_exact(&mut buf)?;
            buf.truncate(len as usize);
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        Some(b'*') => {
            let n: i64 = body.parse().unwrap_or(0);
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                items.push(read_reply(reader)?);
            }
            Ok(items.join("\n"))
        }
        Some(b'-') => Err(std::io::Error::other(line)),
        _ => Ok(line),
    }
}
