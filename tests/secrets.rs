//! Secrets never leave the process: not in a log line at any level, not in
//! an error, not in the catalog or its run log. The catalog and the run
//! lock are readable by their owner only, and plain http is for loopback.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Output;

use common::{stderr, Env, CONTACTS};

/// Everything a run could have leaked into: its output and the catalog's bytes.
fn everything(env: &Env, outputs: &[Output]) -> Vec<u8> {
    let mut all = Vec::new();
    for out in outputs {
        all.extend_from_slice(&out.stdout);
        all.extend_from_slice(&out.stderr);
    }
    for name in ["catalog.db", "catalog.db-wal", "catalog.db.lock"] {
        if let Ok(bytes) = std::fs::read(env.dir.path().join(name)) {
            all.extend_from_slice(&bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The secrets a run knows: the configured ones and every issued token,
/// whole and by their random tail (in case one is cut when printed).
fn secrets(env: &Env) -> Vec<String> {
    let creds = env.org.credentials();
    let mut all = vec![creds.password, creds.client_secret, creds.refresh_token];
    for token in env.org.issued_tokens() {
        let tail = token[token.len() - 24..].to_string();
        all.push(token);
        all.push(tail);
    }
    all
}

fn assert_no_secret(env: &Env, outputs: &[Output]) {
    let haystack = everything(env, outputs);
    assert!(
        contains(&haystack, "people/"),
        "the catalog's bytes were read"
    );
    assert!(
        env.org.issued_tokens().len() >= 2,
        "the runs log in more than once"
    );
    for secret in secrets(env) {
        assert!(!contains(&haystack, &secret), "a secret leaked: {secret}");
    }
}

#[test]
fn no_secret_reaches_any_output_or_the_catalog_at_trace_level() {
    let env = Env::small();
    let mut outputs = Vec::new();
    outputs.push(env.sfsync().args(["-vvv", "sync-all"]).output().unwrap());
    env.org.expire_tokens_after(4);
    outputs.push(
        env.sfsync()
            .env("RUST_LOG", "trace")
            .args(["sync-all", "--full"])
            .output()
            .unwrap(),
    );
    let id = env.contacts_with_email()[0].clone();
    outputs.push(
        env.sfsync()
            .env("RUST_LOG", "trace")
            .args(["-vvv", "sync-one", "--type", "Contact", "--id", &id])
            .output()
            .unwrap(),
    );
    outputs.push(env.sfsync().args(["-vvv", "status"]).output().unwrap());
    for out in &outputs {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    }
    assert!(
        stderr(&outputs[1]).contains("TRACE"),
        "RUST_LOG=trace was in force"
    );
    assert_no_secret(&env, &outputs);
}

#[test]
fn the_refresh_token_flow_leaks_nothing_either() {
    let env = Env::small();
    env.write_config("refresh_token", CONTACTS);
    let creds = env.org.credentials();
    let run = |args: &[&str]| {
        env.sfsync()
            .env_remove("SFSYNC_PASSWORD")
            .env("SFSYNC_REFRESH_TOKEN", &creds.refresh_token)
            .env("RUST_LOG", "trace")
            .args(args)
            .output()
            .unwrap()
    };
    let first = run(&["-vvv", "sync-all"]);
    env.org.expire_tokens();
    let second = run(&["-vvv", "sync-all", "--full"]);
    for out in [&first, &second] {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    }
    assert_no_secret(&env, &[first, second]);
}

#[test]
fn a_refused_login_names_the_cause_but_not_the_password() {
    let env = Env::small();
    let wrong = "not-the-password-8f3a9c";
    let out = env
        .sfsync()
        .env("SFSYNC_PASSWORD", wrong)
        .env("RUST_LOG", "trace")
        .arg("sync-all")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refused the login"),
        "{}",
        stderr(&out)
    );
    let haystack = everything(&env, &[out]);
    assert!(!contains(&haystack, wrong));
    assert!(!contains(&haystack, &env.org.credentials().client_secret));
}

#[test]
fn the_catalog_and_the_lock_are_created_owner_only_whatever_the_umask() {
    let env = Env::small();
    let mut cmd = env.sfsync_child();
    cmd.arg("sync-all");
    // SAFETY: umask is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for name in ["catalog.db", "catalog.db.lock"] {
        let mode = std::fs::metadata(env.dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "`{name}` is {:o}", mode & 0o777);
    }
}

#[test]
fn plain_http_is_refused_for_a_host_that_is_not_loopback() {
    let env = Env::small();
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    let login = format!("login_url = \"{}\"", env.org.base_url());
    let config = config.replace(&login, "login_url = \"http://login.example.com\"");
    std::fs::write(env.config_path(), config).unwrap();
    env.org.clear_log();
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("login_url"), "{}", stderr(&out));
    assert!(env.org.requests().is_empty());
}
