//! Every fault the fake org can inject, at the first, a middle and the last
//! page of a read: the exit code, a message naming the type and the cause,
//! a catalog left as it was (no missing step, no lost record), a run log
//! that says `failed`, and a rerun that converges.

mod common;

use std::time::{Duration, Instant};

use common::{stderr, Env, PLAIN};
use fake_org::{Fault, FaultKind};
use serde_json::json;

const PAGE: usize = 20;

/// What a fault is expected to do to a run.
enum Expect {
    /// Retried or worked around: the run succeeds.
    Recovers,
    /// The run fails with this exit code and a message holding this text.
    Fails(i32, &'static str),
}

fn env() -> Env {
    let env = Env::small();
    env.write_config("password", PLAIN);
    env.org.set_page_size(PAGE);
    env.sfsync().arg("sync-all").assert().success();
    env
}

/// Pages of a full read of the contacts with an email.
fn pages(env: &Env) -> usize {
    env.contacts_with_email().len().div_ceil(PAGE)
}

/// Every item as `id state digest`, sorted: what must not move on failure.
fn snapshot(env: &Env) -> Vec<String> {
    env.column(
        "select sf_object_id || ' ' || state || ' ' || digest from items \
         order by sf_object_id",
    )
}

/// The catalog holds exactly the org's matching contacts, published and
/// with their current email; every other item is private.
fn assert_matches_org(env: &Env) {
    let mut published = env.column("select sf_object_id from items where state = 'published'");
    published.sort();
    assert_eq!(published, env.contacts_with_email());
    for record in env.org.records("Contact") {
        let id = record["Id"].as_str().unwrap();
        let email = env.column(&format!(
            "select email from contact where sf_object_id = '{id}' and state = 'published'"
        ));
        match record["Email"].as_str() {
            Some(e) => assert_eq!(email, [e], "{id}"),
            None => assert!(email.is_empty(), "{id} left the criteria"),
        }
    }
}

/// Changes two contacts so that a sync has something to do.
fn change_org(env: &Env, round: usize) {
    let ids = env.contacts_with_email();
    env.org.update(
        "Contact",
        &ids[round],
        json!({ "Email": format!("round{round}@example.com") }),
    );
    env.org
        .update("Contact", &ids[round + 10], json!({"Email": null}));
}

/// Makes `fault` hit only the requests for page `at` (1 is the first) of
/// a full read of `last` pages: the next page may be asked for while a
/// page is retried.
fn on_page(fault: Fault, at: usize, last: usize) -> Fault {
    if at == 1 {
        return fault.on_path("/query").on_query("SELECT Id, ");
    }
    // A later page's path ends in `-OFFSET`.
    let tail = |page: usize| format!("-{}", (page - 1) * PAGE);
    let mine = tail(at);
    assert!(
        (2..=last).all(|page| page == at || !tail(page).contains(&mine)),
        "`{mine}` names one page only"
    );
    fault.on_path(&mine)
}

/// Runs a full sync with `faults` queued on the requests for one page of
/// the read: the first, a middle one, the last.
fn check(make: impl Fn() -> Vec<Fault>, expect: &Expect) {
    let env = env();
    let last = pages(&env);
    for (round, at) in [1, last.div_ceil(2), last].into_iter().enumerate() {
        change_org(&env, round);
        let before = snapshot(&env);
        for fault in make() {
            env.org.inject_fault(on_page(fault, at, last));
        }
        let out = env.sfsync().args(["sync-all", "--full"]).output().unwrap();
        let err = stderr(&out);
        let outcome = env.column("select outcome from runs order by id desc limit 1");
        match expect {
            Expect::Recovers => {
                assert_eq!(out.status.code(), Some(0), "page {at}: {err}");
                assert_eq!(outcome, ["ok"]);
                assert_matches_org(&env);
                continue;
            }
            Expect::Fails(code, cause) => {
                assert_eq!(out.status.code(), Some(*code), "page {at}: {err}");
                assert!(err.contains("`Contact`"), "page {at}: {err}");
                assert!(err.contains(cause), "page {at}: {err}");
                assert!(!err.contains("panicked"), "{err}");
                assert_eq!(snapshot(&env), before, "page {at}: nothing changed");
                assert_eq!(outcome, ["failed"], "page {at}");
                let logged = env.column("select error from runs order by id desc limit 1");
                assert!(logged[0].contains(cause), "{logged:?}");
            }
        }
        let rerun = env.sfsync().arg("sync-all").output().unwrap();
        assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
        assert_matches_org(&env);
    }
}

#[test]
fn a_first_sync_that_fails_half_way_leaves_the_type_empty() {
    let env = Env::small();
    env.write_config("password", PLAIN);
    env.org.set_page_size(PAGE);
    let half = pages(&env).div_ceil(2);
    for i in 0..TRIES {
        let fault = Fault::server_error().on_path("/query");
        env.org
            .inject_fault(if i == 0 { fault.after(half) } else { fault });
    }
    let out = env.sfsync().arg("sync-all").output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("`Contact`"), "{err}");
    assert_eq!(
        env.count("select count(*) from items where type = 'Contact'"),
        0,
        "the pages read before the fault are not kept"
    );
    assert_eq!(
        env.count("select count(*) from events where type = 'Contact'"),
        0
    );
    assert_eq!(
        env.column("select outcome from runs order by id desc limit 1"),
        ["failed"]
    );

    let rerun = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
    assert_matches_org(&env);
}

/// `n` copies of a fault, back to back.
fn times(n: usize, fault: fn() -> Fault) -> impl Fn() -> Vec<Fault> {
    move || (0..n).map(|_| fault()).collect()
}

fn kind(kind: FaultKind) -> Fault {
    Fault::new(kind)
}

fn dropped() -> Fault {
    kind(FaultKind::DropConnection)
}

fn truncated() -> Fault {
    kind(FaultKind::TruncateBody)
}

fn invalid_json() -> Fault {
    kind(FaultKind::ReplaceBody {
        status: 200,
        content_type: "application/json".into(),
        body: b"{\"totalSize\": 3, \"done\": tru".to_vec(),
    })
}

fn unauthorized() -> Fault {
    Fault::status(401, "INVALID_SESSION_ID", "Session expired or invalid")
}

/// The env's configuration allows 3 retries: 4 tries in all.
const TRIES: usize = 4;

#[test]
fn a_500_once_is_retried() {
    check(times(1, Fault::server_error), &Expect::Recovers);
}

#[test]
fn a_500_on_every_try_fails_the_type() {
    check(
        times(TRIES, Fault::server_error),
        &Expect::Fails(
            3,
            "after 4 attempts: Salesforce answered 500 UNKNOWN_EXCEPTION",
        ),
    );
}

#[test]
fn a_503_once_is_retried() {
    check(times(1, Fault::unavailable), &Expect::Recovers);
}

#[test]
fn a_503_on_every_try_fails_the_type() {
    check(
        times(TRIES, Fault::unavailable),
        &Expect::Fails(3, "503 SERVER_UNAVAILABLE"),
    );
}

#[test]
fn a_dropped_connection_once_is_retried() {
    check(times(1, dropped), &Expect::Recovers);
}

#[test]
fn a_dropped_connection_on_every_try_fails_the_type() {
    check(
        times(TRIES, dropped),
        &Expect::Fails(3, "did not answer usefully after 4 attempts"),
    );
}

#[test]
fn a_truncated_body_once_is_retried() {
    check(times(1, truncated), &Expect::Recovers);
}

#[test]
fn a_truncated_body_on_every_try_fails_the_type() {
    check(
        times(TRIES, truncated),
        &Expect::Fails(3, "did not answer usefully after 4 attempts"),
    );
}

#[test]
fn invalid_json_fails_the_type() {
    check(
        times(1, invalid_json),
        &Expect::Fails(3, "unusable response: invalid JSON"),
    );
}

#[test]
fn a_401_mid_run_logs_in_again() {
    check(times(1, unauthorized), &Expect::Recovers);
}

#[test]
fn a_401_after_logging_in_again_fails_the_run() {
    check(
        times(2, unauthorized),
        &Expect::Fails(3, "Salesforce refused the login"),
    );
}

#[test]
fn the_request_limit_fails_the_run_at_once() {
    check(
        times(1, Fault::request_limit_exceeded),
        &Expect::Fails(3, "REQUEST_LIMIT_EXCEEDED"),
    );
}

#[test]
fn a_query_timeout_halves_the_range_and_goes_on() {
    check(times(1, Fault::query_timeout), &Expect::Recovers);
}

#[test]
fn an_invalid_query_locator_reads_the_range_again() {
    check(times(1, Fault::invalid_query_locator), &Expect::Recovers);
}

#[test]
fn a_query_locator_lost_again_and_again_fails_the_type() {
    check(
        times(3, Fault::invalid_query_locator),
        &Expect::Fails(3, "lost the read's query cursor 3 times"),
    );
}

#[test]
fn retries_are_bounded_in_count() {
    let env = env();
    for _ in 0..50 {
        env.org.inject_fault(Fault::unavailable().on_path("/query"));
    }
    env.org.clear_log();
    let started = Instant::now();
    let out = env.sfsync().args(["sync-all", "--full"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
    let tries = env
        .org
        .requests()
        .iter()
        .filter(|r| r.path.contains("/query"))
        .count();
    assert_eq!(tries, TRIES, "one request and three retries, then stop");
}

#[test]
fn an_org_that_never_answers_in_time_fails_within_a_bound() {
    let env = env();
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    let config = config.replace("timeout_secs = 10", "timeout_secs = 1");
    std::fs::write(env.config_path(), config).unwrap();
    env.org.set_latency(Duration::from_secs(3));
    let started = Instant::now();
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert_eq!(
        env.column("select outcome from runs order by id desc limit 1"),
        ["failed"]
    );
}
