//! `sfsync serve`, run as the real binary on loopback against the fake org:
//! keys, parameters, record and full syncs, a concurrent `sync-all` from
//! another process, shutdown, malformed requests, and the control page in
//! a headless browser.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Env, CONTACTS};
use fake_org::Fault;
use serde_json::Value;

const KEY: &str = "correct-horse-battery-staple";

/// A contact and an account type, so requests can name several.
const CONTACTS_AND_ACCOUNTS: &str = r#"
[[types]]
name = "Company"
sobject = "Account"
container = "companies"
title = "Name"
[types.fields]
name = "Name"
phone = "Phone"
"#;

/// A running `sfsync serve`.
struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: PathBuf,
}

impl Server {
    /// Starts the server with `key` as its sync key, on a free port.
    fn start(env: &Env, key: &str) -> Server {
        Server::start_with_password(env, key, &env.org.credentials().password)
    }

    /// Starts the server as [`Server::start`] does, logging in with
    /// `password`.
    fn start_with_password(env: &Env, key: &str, password: &str) -> Server {
        let creds = env.org.credentials();
        let stderr = env.dir.path().join("serve.stderr");
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("sfsync"))
            .current_dir(env.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("SFSYNC_CONFIG")
            .env("SFSYNC_CLIENT_SECRET", &creds.client_secret)
            .env("SFSYNC_PASSWORD", password)
            .env("SFSYNC_SYNC_KEY", key)
            .arg("-c")
            .arg(env.config_path())
            .args(["-vvv", "serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("sfsync serve starts");
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("the first line names the address: {line:?}"));
        let addr = url.parse().expect("a socket address");
        Server {
            child,
            addr,
            stderr,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends raw request text and reads the whole answer.
    fn raw(&self, request: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).expect("the server accepts");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("an HTTP answer: {answer:?}"));
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    fn get(&self, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut request = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.raw(request.as_bytes())
    }

    fn post_form(&self, target: &str, form: &str) -> (u16, String) {
        let request = format!(
            "POST {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        );
        self.raw(request.as_bytes())
    }

    /// Polls `GET /runs/ID` until the run is no longer running.
    fn wait_for_run(&self, run: i64) -> Value {
        let started = Instant::now();
        loop {
            let (status, body) = self.get(&format!("/runs/{run}?token={KEY}"), &[]);
            assert_eq!(status, 200, "{body}");
            let body = json(&body);
            if body["outcome"] != "running" {
                return body;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "run {run} never ends"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM and waits for the process to end.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid, with a valid signal.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// An env whose catalog holds every contact, synced once by the CLI.
fn synced_env(types: &str) -> Env {
    let env = Env::small();
    env.write_config("password", types);
    env.sfsync().arg("sync-all").assert().success();
    env
}

fn kinds(body: &Value) -> Vec<String> {
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tokens_are_checked_in_the_header_the_query_and_the_form() {
    let env = synced_env(CONTACTS);
    let id = env.contacts_with_email()[0].clone();
    let mut server = Server::start(&env, KEY);
    let target = format!("/sf_sync?types:list=Contact&sf_object_id={id}");

    let refused = [
        server.get(&target, &[]),
        server.get(&format!("{target}&token=wrong"), &[]),
        server.get(&target, &[("Authorization", "Bearer wrong")]),
        server.post_form(
            "/sf_sync",
            &format!("token=wrong&type=Contact&sf_object_id={id}"),
        ),
    ];
    for (status, body) in refused {
        assert_eq!(
            (status, json(&body)),
            (403, serde_json::json!({"error": "forbidden"}))
        );
    }

    let bearer = format!("Bearer {KEY}");
    let accepted = [
        server.get(&format!("{target}&token={KEY}"), &[]),
        server.get(&target, &[("Authorization", &bearer)]),
        server.post_form(
            "/sf_sync",
            &format!("token={KEY}&type=Contact&sf_object_id={id}"),
        ),
    ];
    for (status, body) in accepted {
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["found"], true);
    }

    assert!(server.terminate().success());
    let log = server.stderr();
    assert!(log.contains("refused `/sf_sync` from 127.0.0.1:"), "{log}");
    assert!(!log.contains(KEY), "the key reached a log line:\n{log}");
    assert_eq!(
        env.count(&format!(
            "select count(*) from runs where command like '%{KEY}%'"
        )),
        0
    );
}

#[test]
fn without_a_key_the_endpoint_refuses_everyone_but_health_answers() {
    let env = Env::small();
    let server = Server::start(&env, "");
    assert_eq!(server.get("/sf_sync?token=&type=Contact", &[]).0, 403);
    assert_eq!(server.get("/sf_sync?type=Contact", &[]).0, 403);
    assert_eq!(server.get("/healthz", &[]), (200, "ok\n".to_string()));
    assert!(server.stderr().contains("SFSYNC_SYNC_KEY"));
}

#[test]
fn a_record_syncs_through_http_as_sync_one_would() {
    let env = synced_env(CONTACTS);
    let ids = env.contacts_with_email();
    env.org.update(
        "Contact",
        &ids[0],
        serde_json::json!({"LastName": "Hopper"}),
    );
    let server = Server::start(&env, KEY);

    let (status, body) = server.get(
        &format!(
            "/sf_sync?token={KEY}&types:list=Contact&sf_object_id={}",
            &ids[0][..15]
        ),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let body = json(&body);
    assert_eq!(kinds(&body), ["updated"]);
    assert_eq!(body["sf_object_id"], ids[0].as_str());
    assert_eq!(body["events"][0]["sf_object_id"], ids[0].as_str());
    let run = body["runs"][0]["run"].as_i64().unwrap();
    let command = env.column(&format!(
        "select command || ' ' || outcome from runs where id = {run}"
    ));
    assert_eq!(
        command,
        [format!("serve sync-one --type Contact --id {} ok", ids[0])]
    );

    env.org.hard_delete("Contact", &ids[1]);
    let (status, body) = server.get(
        &format!("/sf_sync?token={KEY}&type=Contact&sf_object_id={}", ids[1]),
        &[],
    );
    assert_eq!(status, 404, "{body}");
    assert_eq!(kinds(&json(&body)), ["not_found", "rejected"]);

    for _ in 0..8 {
        env.org
            .inject_fault(Fault::server_error().on_path("/query"));
    }
    let (status, body) = server.get(
        &format!("/sf_sync?token={KEY}&type=Contact&sf_object_id={}", ids[2]),
        &[],
    );
    assert_eq!(status, 502, "{body}");
    assert!(json(&body)["error"]
        .as_str()
        .unwrap()
        .contains("Salesforce"));
}

#[test]
fn a_refused_login_on_a_record_request_is_recorded_as_a_failed_run() {
    let env = synced_env(CONTACTS);
    let id = env.contacts_with_email()[0].clone();
    let server = Server::start_with_password(&env, KEY, "not-the-password");

    let (status, body) = server.get(
        &format!("/sf_sync?token={KEY}&type=Contact&sf_object_id={id}"),
        &[],
    );
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("refused the login"), "{body}");

    let runs = env.column(&format!(
        "select outcome || ' ' || error from runs \
         where command = 'serve sync-one --type Contact --id {id}'"
    ));
    assert_eq!(runs.len(), 1, "one run is recorded: {runs:?}");
    assert!(runs[0].starts_with("failed "), "{runs:?}");
    assert!(runs[0].contains("refused the login"), "{runs:?}");
    assert!(!runs[0].contains("not-the-password"), "{runs:?}");
}

#[test]
fn unknown_types_and_malformed_ids_are_bad_requests() {
    let env = Env::small();
    let server = Server::start(&env, KEY);
    let (status, body) = server.get(&format!("/sf_sync?token={KEY}&type=Lead"), &[]);
    assert_eq!(status, 400);
    assert!(json(&body)["error"].as_str().unwrap().contains("`Lead`"));
    let (status, body) = server.get(
        &format!("/sf_sync?token={KEY}&type=Contact&sf_object_id=003x"),
        &[],
    );
    assert_eq!(status, 400);
    assert!(json(&body)["error"]
        .as_str()
        .unwrap()
        .contains("not a Salesforce id"));
}

#[test]
fn repeated_types_start_one_background_sync_reported_under_runs() {
    let env = Env::small();
    env.write_config("password", &format!("{CONTACTS}{CONTACTS_AND_ACCOUNTS}"));
    let server = Server::start(&env, KEY);

    let (status, body) = server.post_form(
        "/sf_sync",
        &format!("token={KEY}&types%3Alist=Account&types%3Alist=Contact"),
    );
    assert_eq!(status, 202, "{body}");
    let run = json(&body)["run"].as_i64().unwrap();
    let done = server.wait_for_run(run);
    assert_eq!(done["outcome"], "ok", "{done}");
    assert_eq!(done["command"], "serve sync-all");
    let out = env
        .sfsync()
        .args(["status", "--runs", "1"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        listed, done,
        "`status --runs` and `/runs/ID` show a run alike"
    );
    let counts = &done["counts"];
    assert_eq!(counts["Company"]["created"], 20, "{done}");
    assert_eq!(
        counts["Contact"]["created"],
        env.contacts_with_email().len() as u64,
        "the SObject `Account` named the type `Company`: {done}"
    );
    assert_eq!(server.get(&format!("/runs/{run}"), &[]).0, 403);
    assert_eq!(server.get(&format!("/runs/99999?token={KEY}"), &[]).0, 404);
}

#[test]
fn a_second_full_sync_while_one_runs_is_a_conflict() {
    let env = Env::small();
    env.org.set_page_size(20);
    env.org.set_latency(Duration::from_millis(150));
    let server = Server::start(&env, KEY);
    let (status, body) = server.get(&format!("/sf_sync?token={KEY}"), &[]);
    assert_eq!(status, 202, "{body}");
    let run = json(&body)["run"].as_i64().unwrap();

    let (status, body) = server.get(&format!("/sf_sync?token={KEY}"), &[]);
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&body)["run"], run);
    let running = server.get(&format!("/runs/{run}?token={KEY}"), &[]);
    assert_eq!(json(&running.1)["outcome"], "running");

    let cron = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(
        cron.status.code(),
        Some(4),
        "cron's run is refused by the lock"
    );
    assert_eq!(server.wait_for_run(run)["outcome"], "ok");
}

#[test]
fn cron_sync_all_and_record_requests_run_side_by_side() {
    let env = synced_env(CONTACTS);
    let ids = env.contacts_with_email();
    env.org.set_page_size(20);
    env.org.set_latency(Duration::from_millis(100));
    let server = Server::start(&env, KEY);

    let mut cron = std::process::Command::new(assert_cmd::cargo::cargo_bin("sfsync"));
    let creds = env.org.credentials();
    cron.current_dir(env.dir.path())
        .env_remove("RUST_LOG")
        .env("SFSYNC_CLIENT_SECRET", &creds.client_secret)
        .env("SFSYNC_PASSWORD", &creds.password)
        .arg("-c")
        .arg(env.config_path())
        .arg("sync-all");
    let mut cron = cron.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let (status, body) = server.get(&format!("/sf_sync?token={KEY}"), &[]);
    assert_eq!(status, 409, "{body}");
    assert!(
        json(&body)["holder"]
            .as_str()
            .unwrap()
            .starts_with(&format!("pid {}", cron.id())),
        "{body}"
    );
    for id in &ids[..5] {
        env.org
            .update("Contact", id, serde_json::json!({"Title": "Rear Admiral"}));
        let (status, body) = server.get(
            &format!("/sf_sync?token={KEY}&type=Contact&sf_object_id={id}"),
            &[],
        );
        assert_eq!(status, 200, "{body}");
    }
    assert!(
        cron.wait().unwrap().success(),
        "cron's sync-all did not fail"
    );
    assert_eq!(
        env.count("select count(*) from runs where outcome != 'ok'"),
        0
    );
}

#[test]
fn requests_for_the_same_record_are_coalesced() {
    let env = synced_env(CONTACTS);
    let id = env.contacts_with_email()[0].clone();
    env.org.set_latency(Duration::from_millis(300));
    let server = Server::start(&env, KEY);
    let target = format!("/sf_sync?token={KEY}&type=Contact&sf_object_id={id}");
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..6)
            .map(|_| s.spawn(|| server.get(&target, &[])))
            .collect();
        for call in calls {
            assert_eq!(call.join().unwrap().0, 200);
        }
    });
    let runs = env.count("select count(*) from runs where command like 'serve sync-one%'");
    assert!(runs <= 3, "six requests made {runs} runs");
}

#[test]
fn sigterm_lets_a_running_request_finish_then_refuses_connections() {
    let env = synced_env(CONTACTS);
    let id = env.contacts_with_email()[0].clone();
    env.org.set_latency(Duration::from_millis(1500));
    let mut server = Server::start(&env, KEY);
    let target = format!("/sf_sync?token={KEY}&type=Contact&sf_object_id={id}");
    let answer = std::thread::scope(|s| {
        let call = s.spawn(|| server.get(&target, &[]));
        std::thread::sleep(Duration::from_millis(700));
        let pid = server.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid, with a valid signal.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        call.join().unwrap()
    });
    assert_eq!(answer.0, 200, "{}", answer.1);
    let status = server.terminate();
    assert!(status.success(), "{status:?}\n{}", server.stderr());
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "no new connections"
    );
    assert_eq!(
        env.count("select count(*) from runs where outcome is null"),
        0
    );
    assert_eq!(
        env.count("select count(*) from runs where command like 'serve sync-one%'"),
        1
    );
}

#[test]
fn malformed_requests_are_refused_without_harm() {
    let env = Env::small();
    let server = Server::start(&env, KEY);
    // Only the headers are sent: the server must refuse on the declared
    // length without waiting for (or reading) the body.
    let oversized = "POST /sf_sync HTTP/1.1\r\nHost: t\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\n\
                     Content-Length: 70000\r\n\r\n";
    assert_eq!(server.raw(oversized.as_bytes()).0, 413);
    assert_eq!(server.get("/sf_sync?token=%zz&type=Contact", &[]).0, 400);
    assert_eq!(server.get("/sf_sync?type=%E2%28%A1", &[]).0, 400);
    assert_eq!(server.get("/wp-admin.php", &[]).0, 404);
    assert_eq!(server.raw(b"NONSENSE\r\n\r\n").0, 400);
    let (status, _) =
        server.raw(b"DELETE /sf_sync HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 405);
    assert_eq!(server.get("/healthz", &[]).0, 200, "still serving");
}

/// The control page in a real browser: fill the form, press the button,
/// read the outcome. The screenshot in docs/serve.md comes from here.
#[test]
fn the_control_page_works_in_a_headless_browser() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required in CI"
        );
        eprintln!("note: chromium is not installed; skipping the browser test");
        return;
    };
    let env = synced_env(&format!("{CONTACTS}{CONTACTS_AND_ACCOUNTS}"));
    let id = env.contacts_with_email()[3].clone();
    env.org
        .update("Contact", &id, serde_json::json!({"LastName": "Lovelace"}));
    let server = Server::start(&env, KEY);

    let profile = tempfile::tempdir().unwrap();
    let options = headless_chrome::LaunchOptions::default_builder()
        .path(Some(chromium))
        .sandbox(false)
        .window_size(Some((1100, 820)))
        .user_data_dir(Some(profile.path().to_path_buf()))
        .args(
            [
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-sync",
            ]
            .iter()
            .map(std::ffi::OsStr::new)
            .collect(),
        )
        .build()
        .unwrap();
    let browser = headless_chrome::Browser::new(options).expect("chromium starts");
    let tab = browser.new_tab().unwrap();
    tab.navigate_to(&server.url("/")).unwrap();
    tab.wait_until_navigated().unwrap();
    tab.wait_for_element("#token").unwrap().click().unwrap();
    tab.type_str(KEY).unwrap();
    tab.wait_for_element("#sf_object_id")
        .unwrap()
        .click()
        .unwrap();
    tab.type_str(&id).unwrap();
    let select = "document.querySelector('#type').value = 'Contact'";
    tab.evaluate(select, false).unwrap();
    tab.wait_for_element("#sync").unwrap().click().unwrap();
    let outcome = tab
        .wait_for_element("#outcome")
        .unwrap()
        .get_inner_text()
        .unwrap();
    assert!(outcome.contains("Synchronized Contact"), "{outcome}");
    assert!(outcome.contains("updated"), "{outcome}");
    assert!(
        !tab.get_url().contains(KEY),
        "the key never goes into a URL"
    );
    let runs = tab
        .wait_for_element("#runs")
        .unwrap()
        .get_inner_text()
        .unwrap();
    assert!(runs.contains("serve sync-one"), "{runs}");

    let png = tab
        .capture_screenshot(
            headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption::Png,
            None,
            None,
            true,
        )
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    // SFSYNC_SCREENSHOT=docs/serve-control-page.png refreshes the picture
    // in the documentation.
    if let Some(path) = std::env::var_os("SFSYNC_SCREENSHOT") {
        std::fs::write(path, png).unwrap();
    }
}

/// Debian's chromium, if it is installed.
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}
