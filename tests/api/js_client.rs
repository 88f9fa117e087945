//! The browser client (`clients/js`): its npm packages installed and its
//! TypeScript built once per test run, then its unit tests (`node --test`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

const NODE_HINT: &str = "node and npm are not installed, and the browser client's tests need them (Node.js 20.11 or \
     newer). Install them: `sudo apt-get install nodejs npm` (Debian/Ubuntu), `brew install node` (macOS).";

/// `clients/js`, installed (`npm ci` when `node_modules` is missing or older
/// than the lockfile) and built (`build/`: the library and its tests), once
/// per run. Every test that needs it fails with the same message when that
/// cannot be done.
pub fn js_package() -> &'static Path {
    static PACKAGE: LazyLock<Result<PathBuf, String>> = LazyLock::new(prepare);
    match &*PACKAGE {
        Ok(dir) => dir,
        Err(why) => panic!("{why}"),
    }
}

fn prepare() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/js");
    let node = Command::new("node").arg("--version").output().map_err(|_| NODE_HINT.to_owned())?;
    Command::new("npm").arg("--version").output().map_err(|_| NODE_HINT.to_owned())?;
    // The unit tests mock timers and `Date` with node:test (Node.js 20.11).
    let version = String::from_utf8_lossy(&node.stdout).trim().trim_start_matches('v').to_owned();
    let numbers: Vec<u32> = version.split('.').filter_map(|n| n.parse().ok()).collect();
    if numbers.as_slice() < [20, 11].as_slice() {
        return Err(format!("Node.js {version} is too old. {NODE_HINT}"));
    }
    if !installed(&dir) {
        run(&dir, "npm", &["ci", "--no-audit", "--no-fund"])?;
    }
    run(&dir, "npm", &["run", "--silent", "build:test"])?;
    Ok(dir)
}

/// `npm ci` leaves `node_modules/.package-lock.json`; it is older than the
/// lockfile after someone changed the dependencies.
fn installed(dir: &Path) -> bool {
    let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match (modified(dir.join("node_modules/.package-lock.json")), modified(dir.join("package-lock.json"))) {
        (Some(installed), Some(locked)) => installed >= locked,
        _ => false,
    }
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program).args(args).current_dir(dir).output().map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{program} {}` in {} failed:\n{}\n{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    ))
}

#[test]
fn the_browser_clients_unit_tests_pass() {
    let dir = js_package();
    let mut tests: Vec<String> = std::fs::read_dir(dir.join("build/test"))
        .expect("build/test")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".test.js"))
        .map(|name| format!("build/test/{name}"))
        .collect();
    tests.sort();
    assert!(tests.len() >= 2, "the unit tests were not built: {tests:?}");
    let output = Command::new("node").arg("--test").args(&tests).current_dir(dir).output().expect("run node --test");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "node --test failed:\n{report}\n{}", String::from_utf8_lossy(&output.stderr));
    // The TAP summary: a run that found no tests must not pass.
    let passed = report.lines().find_map(|l| l.strip_prefix("# pass ")).and_then(|n| n.trim().parse::<u32>().ok());
    assert!(passed.is_some_and(|n| n >= 30), "expected the client's 30+ unit tests to pass:\n{report}");
}

/// `npm pack`, the tarball installed into a new project, and used by
/// `import`, `require` and a <script> tag in Chromium
/// (`clients/js/test/browser/package.ts`).
#[tokio::test]
async fn the_packed_package_installs_and_loads_three_ways() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{}", crate::browser::CHROMIUM_HINT);
    let dir = js_package();
    let _browser = crate::browser::BROWSERS.acquire().await.expect("the semaphore is never closed");
    let output = tokio::process::Command::new("node")
        .arg("build/test/browser/package.js")
        .current_dir(dir)
        .env("CHROMIUM", &chromium)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.lines().any(|l| l == "passed"),
        "the package test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
