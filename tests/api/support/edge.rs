//! The shipped edge (`deploy/edge/nginx.conf` with `lease-token.js`) run by
//! a real nginx on a loopback port, in front of a directory of HLS media:
//! the configuration as shipped, with only its lines marked `ADAPT` changed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::free_port;

const NGINX: &str = "/usr/sbin/nginx";
const NJS_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_js_module.so";
const INSTALL_HINT: &str = "nginx with its JavaScript module is not installed, and the edge tests need a real one. \
     Install them: `sudo apt-get install nginx libnginx-mod-http-js` (Debian/Ubuntu).";

pub struct Edge {
    child: Child,
    /// `nginx -p … -c …`, to stop it as it was started.
    conf: PathBuf,
    pub base: String,
    /// The media root: `<media>/media/<stream_id>/...` is served.
    pub media: PathBuf,
    _dir: tempfile::TempDir,
}

impl Edge {
    /// Starts nginx guarding `/media/` with the keys of the service at
    /// `service` (its base URL); `secret`: HS256 lease tokens too.
    pub fn start(service: &str, secret: Option<&str>) -> Self {
        assert!(Path::new(NGINX).exists() && Path::new(NJS_MODULE).exists(), "{INSTALL_HINT}");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let edge_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/edge");
        let shipped = std::fs::read_to_string(edge_dir.join("nginx.conf")).unwrap();
        let here = dir.path().display().to_string();
        let adapted: Vec<String> = shipped
            .lines()
            .map(|line| {
                if !line.ends_with("# ADAPT") {
                    return line.to_owned();
                }
                let directive = line.split_whitespace().next().unwrap();
                let indent = &line[..line.len() - line.trim_start().len()];
                let value = match directive {
                    "pid" => format!("pid {here}/nginx.pid;"),
                    "error_log" => format!("error_log {here}/error.log warn;"),
                    "js_path" => format!("js_path {}/;", edge_dir.display()),
                    "proxy_cache_path" => {
                        format!("proxy_cache_path {here}/keys keys_zone=lease_token_keys:1m max_size=1m;")
                    }
                    "client_body_temp_path" => format!("client_body_temp_path {here}/body;"),
                    "proxy_temp_path" => format!("proxy_temp_path {here}/proxy;"),
                    "listen" => format!("listen 127.0.0.1:{port};"),
                    "set" => format!("set $lease_token_secret \"{}\";", secret.unwrap_or("")),
                    "root" => format!("root {here};"),
                    "proxy_pass" => format!("proxy_pass {service}/.well-known/jwks.json;"),
                    other => panic!("an ADAPT line this test does not know: {other}"),
                };
                format!("{indent}{value}")
            })
            .collect();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, adapted.join("\n")).unwrap();
        let child = Command::new(NGINX)
            .args(["-p", &here, "-e", &format!("{here}/error.log"), "-c", conf.to_str().unwrap(), "-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("nginx did not start ({e}). {INSTALL_HINT}"));
        let edge =
            Edge { child, conf, base: format!("http://127.0.0.1:{port}"), media: dir.path().join("media"), _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let log = std::fs::read_to_string(Path::new(&here).join("error.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "nginx did not listen within 10 s: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
        edge
    }

    /// Writes a stream's playlist and `segments` segments of `bytes` each.
    pub fn add_stream(&self, stream: &str, segments: usize, bytes: &[u8]) {
        let dir = self.media.join(stream);
        std::fs::create_dir_all(&dir).unwrap();
        let mut playlist =
            String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n");
        for n in 0..segments {
            std::fs::write(dir.join(format!("seg{n}.ts")), bytes).unwrap();
            playlist.push_str(&format!("#EXTINF:2.0,\nseg{n}.ts\n"));
        }
        playlist.push_str("#EXT-X-ENDLIST\n");
        std::fs::write(dir.join("index.m3u8"), playlist).unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Edge {
    /// `nginx -s stop` ends the master and its workers; killing the master
    /// alone would leave the workers behind.
    fn drop(&mut self) {
        let prefix = self.conf.parent().unwrap().to_str().unwrap().to_owned();
        let error_log = format!("{prefix}/error.log");
        let stop = Command::new(NGINX)
            .args(["-p", &prefix, "-e", &error_log, "-c", self.conf.to_str().unwrap(), "-s", "stop"])
            .status();
        if !stop.is_ok_and(|s| s.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
