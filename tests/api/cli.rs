//! The binary's command line and startup checks.

use std::process::Command;

use streamlease::config::variables;

fn service() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_streamlease"));
    cmd.env_clear();
    cmd
}

#[test]
fn a_bad_setting_stops_startup_with_one_line_naming_the_variable_and_exit_code_2() {
    for (var, value) in [
        ("STREAMLEASE_LEASE_TTL_MS", "soon"),
        ("STREAMLEASE_ON_LIMIT", "kick"),
        ("REDIS_URL", "http://example"),
        ("STREAMLEASE_BIND", "nowhere"),
        // Any web page could then act for any user.
        ("STREAMLEASE_CORS_ORIGINS", "*"),
        ("STREAMLEASE_JWT_MAX_LIFETIME_S", "forever"),
    ] {
        let out = service().env(var, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(&format!("streamlease: {var}: ")), "{stderr}");
    }
}

#[test]
fn a_jwt_secret_without_an_admin_token_refuses_to_start_unless_admin_routes_are_opened_on_purpose() {
    let secret = "a-secret-of-at-least-32-bytes-long!";
    let out = service().env("STREAMLEASE_JWT_SECRET", secret).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("streamlease: STREAMLEASE_ADMIN_TOKEN: "), "{stderr}");
    assert!(stderr.contains("STREAMLEASE_ADMIN_OPEN=true"), "says how to opt in: {stderr}");
    assert!(!stderr.contains(secret));
}

#[test]
fn help_lists_every_variable_with_its_default_and_exits_0() {
    let out = service().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for var in variables() {
        let line =
            help.lines().find(|l| l.contains(&format!("[env: {}]", var.name))).unwrap_or_else(|| panic!("{var:?}"));
        if let Some(default) = var.default {
            assert!(line.contains(&format!("[default: {default}]")), "{line}");
        }
    }
    let out = service().arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--frobnicate") && stderr.contains("--help"), "{stderr}");
}

/// As in a shell script: `STREAMLEASE_X=` is the same as leaving it out.
/// The JWT secret makes startup stop at the cross-setting check, which comes
/// only after every variable was read, so any empty one refused shows.
#[test]
fn a_variable_set_empty_counts_as_unset() {
    let mut cmd = service();
    for var in variables() {
        cmd.env(&var.name, "");
    }
    let out = cmd.env("STREAMLEASE_JWT_SECRET", "a-secret-of-at-least-32-bytes-long!").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("streamlease: STREAMLEASE_ADMIN_TOKEN: "), "{stderr}");
}

#[test]
fn a_flag_wins_over_its_variable() {
    let out = service().env("STREAMLEASE_ON_LIMIT", "deny").arg("--on-limit=kick").output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(r#"got "kick""#), "{stderr}");
}
