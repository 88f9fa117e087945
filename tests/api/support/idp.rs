//! A real OpenID provider for the tests: `oidc-provider` from npm, run by
//! `clients/js/test/idp/provider.mjs` on a loopback port, with keys it makes
//! for the run. The test drives it (signs, rotates keys, stops it) over the
//! script's stdin.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::js_client::js_package;

pub struct IdentityProvider {
    child: Child,
    pipes: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    pub issuer: String,
    pub jwks_uri: String,
}

impl IdentityProvider {
    /// Starts one; panics, saying how to install Node.js, when it cannot.
    pub fn start() -> Self {
        let dir = js_package();
        let mut child = Command::new("node")
            .arg("test/idp/provider.mjs")
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // oidc-provider's development warnings.
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the identity provider");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).expect("the provider says where it listens");
        let started: Value =
            serde_json::from_str(&first).unwrap_or_else(|e| panic!("the provider did not start ({e}): {first:?}"));
        IdentityProvider {
            child,
            pipes: Mutex::new((stdin, stdout)),
            issuer: started["issuer"].as_str().unwrap().to_owned(),
            jwks_uri: started["jwks_uri"].as_str().unwrap().to_owned(),
        }
    }

    fn ask(&self, command: Value) -> Value {
        let mut pipes = self.pipes.lock().unwrap();
        let (stdin, stdout) = &mut *pipes;
        writeln!(stdin, "{command}").unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let answer: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{command}: {e}: {line:?}"));
        assert!(answer.get("error").is_none(), "{command}: {answer}");
        answer
    }

    /// A token from the provider's newest `alg` key.
    pub fn sign(&self, alg: &str, claims: Value) -> String {
        self.ask(json!({"op": "sign", "alg": alg, "claims": claims}))["token"].as_str().unwrap().to_owned()
    }

    /// A token the service must refuse (see `provider.mjs`).
    pub fn forge(&self, kind: &str, claims: Value) -> String {
        self.ask(json!({"op": "forge", "kind": kind, "claims": claims}))["token"].as_str().unwrap().to_owned()
    }

    /// New keys published beside the old ones.
    pub fn rotate(&self) {
        self.ask(json!({"op": "rotate"}));
    }

    pub fn stop(&self) {
        self.ask(json!({"op": "stop"}));
    }

    pub fn start_again(&self) {
        self.ask(json!({"op": "start"}));
    }

    /// How many times the JWKS was fetched so far.
    pub fn fetches(&self) -> u64 {
        self.ask(json!({"op": "fetches"}))["count"].as_u64().unwrap()
    }
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
