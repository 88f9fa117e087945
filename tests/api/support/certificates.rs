//! Certificates for the TLS tests, made once per test run with `openssl` in
//! a temp dir: a CA, a server certificate it signs for 127.0.0.1, a client
//! certificate it signs, and a second CA nobody should trust.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

const INSTALL_HINT: &str = "openssl is not installed, and the TLS tests make their certificates with it. \
     Install it: `sudo apt-get install openssl` (Debian/Ubuntu), `brew install openssl` (macOS).";

pub struct Certificates {
    _dir: tempfile::TempDir,
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here: trusting it must fail the handshake.
    pub other_ca_cert: PathBuf,
    /// A certificate from the right CA, but for another name.
    pub wrong_name_cert: PathBuf,
    pub wrong_name_key: PathBuf,
}

pub static CERTIFICATES: LazyLock<Certificates> = LazyLock::new(make);

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap_or_else(|_| panic!("{INSTALL_HINT}"));
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA: `NAME.key`, `NAME.crt`.
fn ca(dir: &Path, name: &str) {
    let (key, crt, subject) = (format!("{name}.key"), format!("{name}.crt"), format!("/CN=streamlease test {name}"));
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject, "-keyout", &key, "-out",
            &crt,
        ],
    );
}

/// A leaf `NAME.key`, `NAME.crt` signed by the CA `ca`, for `san`.
fn leaf(dir: &Path, name: &str, ca: &str, san: &str, usage: &str) {
    let (key, csr, crt, ext) =
        (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("{name}.ext"));
    std::fs::write(dir.join(&ext), format!("subjectAltName={san}\nextendedKeyUsage={usage}\n")).unwrap();
    let subject = format!("/CN={name}");
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-keyout", &key, "-out", &csr]);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    );
}

fn make() -> Certificates {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = dir.path();
    ca(at, "ca");
    ca(at, "other-ca");
    leaf(at, "server", "ca", "IP:127.0.0.1,DNS:localhost", "serverAuth");
    leaf(at, "wrong-name", "ca", "DNS:redis.example.org", "serverAuth");
    leaf(at, "client", "ca", "DNS:streamlease", "clientAuth");
    let path = |file: &str| at.join(file);
    Certificates {
        ca_cert: path("ca.crt"),
        server_cert: path("server.crt"),
        server_key: path("server.key"),
        client_cert: path("client.crt"),
        client_key: path("client.key"),
        other_ca_cert: path("other-ca.crt"),
        wrong_name_cert: path("wrong-name.crt"),
        wrong_name_key: path("wrong-name.key"),
        _dir: dir,
    }
}
