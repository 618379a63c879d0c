//! `sync-all` and `sync-one`, run as the real binary against the fake org.

mod common;

use common::{stderr, stdout, Env, CONTACTS};
use fake_org::{Fault, FaultKind};
use serde_json::{json, Value};

fn events(env: &Env, kind: &str) -> i64 {
    env.count(&format!(
        "select count(*) from events where kind = '{kind}'"
    ))
}

#[test]
fn first_sync_creates_every_matching_record_and_stays_quiet() {
    let env = Env::small();
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "stdout carries data only");
    assert_eq!(stderr(&out), "", "a good night sends no cron mail");

    let expected = env.contacts_with_email();
    assert!(
        expected.len() > 100 && expected.len() < 200,
        "the generator leaves some emails empty"
    );
    let mut ids = env.column("select sf_object_id from items where type = 'Contact'");
    ids.sort();
    assert_eq!(ids, expected);
    assert_eq!(events(&env, "created"), expected.len() as i64);
    assert_eq!(events(&env, "published"), expected.len() as i64);
    assert_eq!(
        env.count("select count(*) from items where state != 'published'"),
        0
    );
    assert_eq!(env.column("select outcome from runs"), ["ok"]);
}

#[test]
fn items_hold_converted_values_and_the_view_has_a_column_per_field() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let record = env
        .org
        .records("Contact")
        .into_iter()
        .find(|r| {
            !r["Email"].is_null() && !r["AccountId"].is_null() && !r["Industries__c"].is_null()
        })
        .expect("a contact with an account and industries");
    let id = record["Id"].as_str().unwrap();
    let fields: Value = serde_json::from_str(
        &env.column(&format!(
            "select fields from items where sf_object_id = '{id}'"
        ))[0],
    )
    .unwrap();
    assert_eq!(fields["name"], record["Name"]);
    assert_eq!(fields["email"], record["Email"]);
    let industries: Vec<Value> = record["Industries__c"]
        .as_str()
        .unwrap()
        .split(';')
        .map(|s| json!(s))
        .collect();
    assert_eq!(fields["industries"], Value::Array(industries));
    assert!(
        fields["account_name"].is_string(),
        "a parent path is flattened: {fields}"
    );
    assert!(fields["roles"].is_array());

    let by_view = env.column(&format!(
        "select email from contact where sf_object_id = '{id}'"
    ));
    assert_eq!(by_view, [record["Email"].as_str().unwrap()]);
    let path = &env.column(&format!(
        "select path from contact where sf_object_id = '{id}'"
    ))[0];
    assert!(path.starts_with("people/"), "{path}");
}

#[test]
fn an_unchanged_record_is_left_alone_and_a_changed_one_updated() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let before = env.count("select count(*) from events");

    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(
        env.count("select count(*) from events"),
        before,
        "no event for unchanged records"
    );

    let id = env.contacts_with_email()[0].clone();
    let path_before = env.column(&format!(
        "select path from items where sf_object_id = '{id}'"
    ));
    env.org.update(
        "Contact",
        &id,
        json!({"Email": "changed@example.com", "LastName": "Renamed"}),
    );
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(events(&env, "updated"), 1);
    assert_eq!(
        env.column(&format!(
            "select email from contact where sf_object_id = '{id}'"
        )),
        ["changed@example.com"]
    );
    let path_after = env.column(&format!(
        "select path from items where sf_object_id = '{id}'"
    ));
    assert_eq!(
        path_before, path_after,
        "the path is chosen once, at creation"
    );
}

#[test]
fn records_gone_from_salesforce_are_rejected_then_published_again() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let ids = env.contacts_with_email();
    env.org.soft_delete("Contact", &ids[0]);
    env.org.update("Contact", &ids[1], json!({"Email": null}));
    env.org.hard_delete("Contact", &ids[2]);
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(events(&env, "not_found"), 3);
    assert_eq!(events(&env, "rejected"), 3);
    assert_eq!(
        env.count("select count(*) from items where state = 'private'"),
        3
    );

    env.org
        .update("Contact", &ids[1], json!({"Email": "back@example.com"}));
    env.sfsync().arg("sync-all").assert().success();
    let state = env.column(&format!(
        "select state from items where sf_object_id = '{}'",
        ids[1]
    ));
    assert_eq!(
        state,
        ["published"],
        "a record that reappears is published again"
    );
}

#[test]
fn on_missing_delete_removes_and_keep_keeps() {
    let env = Env::small();
    env.write_config(
        "password",
        &CONTACTS.replace("on_missing = \"reject\"", "on_missing = \"delete\""),
    );
    env.sfsync().arg("sync-all").assert().success();
    let ids = env.contacts_with_email();
    env.org.hard_delete("Contact", &ids[0]);
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(
        env.count(&format!(
            "select count(*) from items where sf_object_id = '{}'",
            ids[0]
        )),
        0
    );
    let deleted = env.column("select fields from events where kind = 'deleted'");
    assert_eq!(deleted.len(), 1);
    assert!(
        deleted[0].contains("\"email\""),
        "a deleted event carries the last fields"
    );

    env.write_config(
        "password",
        &CONTACTS.replace("on_missing = \"reject\"", "on_missing = \"keep\""),
    );
    env.org.hard_delete("Contact", &ids[1]);
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(events(&env, "not_found"), 2);
    let state = env.column(&format!(
        "select state from items where sf_object_id = '{}'",
        ids[1]
    ));
    assert_eq!(state, ["published"]);
}

#[test]
fn a_mass_missing_step_is_refused_unless_allowed() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    for id in env.contacts_with_email().iter().take(120) {
        env.org.hard_delete("Contact", id);
    }
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--allow-mass-missing") || stderr(&out).contains("missing"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.count("select count(*) from items where state = 'private'"),
        0
    );
    assert_eq!(
        env.column("select outcome from runs order by id"),
        ["ok", "failed"]
    );

    env.sfsync()
        .args(["sync-all", "--allow-mass-missing"])
        .assert()
        .success();
    assert_eq!(
        env.count("select count(*) from items where state = 'private'"),
        120
    );
}

#[test]
fn an_empty_answer_never_rejects_everything() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    env.write_config(
        "password",
        &CONTACTS.replace("Email != null", "Email = 'nobody@nowhere'"),
    );
    env.sfsync().arg("sync-all").assert().code(3);
    assert_eq!(
        env.count("select count(*) from items where state = 'private'"),
        0
    );
}

#[test]
fn many_small_pages_are_all_read() {
    let env = Env::small();
    env.org.set_page_size(50);
    env.org.clear_log();
    env.sfsync().arg("sync-all").assert().success();
    let expected = env.contacts_with_email().len();
    assert_eq!(env.count("select count(*) from items") as usize, expected);
    let pages = env
        .org
        .requests()
        .iter()
        .filter(|r| r.path.contains("/query"))
        .count();
    assert!(
        pages > expected / 200,
        "{pages} query requests for {expected} records"
    );
}

#[test]
fn an_expired_session_logs_in_again_once() {
    let env = Env::small();
    env.org.set_page_size(50);
    env.org.expire_tokens_after(2);
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
    let logins = env
        .org
        .requests()
        .iter()
        .filter(|r| r.path.contains("oauth2/token"))
        .count();
    assert_eq!(logins, 2);
}

#[test]
fn a_server_error_is_retried() {
    let env = Env::small();
    env.org.set_page_size(50);
    for kind in [
        FaultKind::Status {
            status: 503,
            error_code: "SERVER_UNAVAILABLE".into(),
            message: "try later".into(),
        },
        FaultKind::DropConnection,
        FaultKind::TruncateBody,
    ] {
        env.org.inject_fault(Fault {
            skip: 1,
            path_contains: Some("/query".into()),
            query_contains: None,
            kind,
        });
    }
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
}

#[test]
fn a_failure_mid_read_changes_nothing_and_is_logged_as_failed() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let ids = env.contacts_with_email();
    env.org
        .update("Contact", &ids[0], json!({"Email": "new@example.com"}));
    env.org.hard_delete("Contact", &ids[1]);
    env.org.set_page_size(50);
    for _ in 0..4 {
        env.org.inject_fault(Fault {
            skip: 0,
            path_contains: Some("/query/".into()),
            query_contains: None,
            kind: FaultKind::Status {
                status: 500,
                error_code: "UNKNOWN_EXCEPTION".into(),
                message: "boom".into(),
            },
        });
    }
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("`Contact`") && err.contains("page 2") && err.contains("boom"),
        "{err}"
    );
    assert_eq!(events(&env, "updated"), 0);
    assert_eq!(
        events(&env, "not_found"),
        0,
        "no missing step after a partial read"
    );
    assert_eq!(
        env.column("select outcome from runs order by id"),
        ["ok", "failed"]
    );

    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(events(&env, "updated"), 1);
    assert_eq!(events(&env, "not_found"), 1);
}

#[test]
fn the_request_limit_stops_the_run_with_a_clear_message() {
    let env = Env::small();
    env.write_config("password", &format!("{CONTACTS}\n[[types]]\nname = \"Account\"\nsobject = \"Account\"\n[types.fields]\nname = \"Name\"\n"));
    env.org.inject_fault(Fault {
        skip: 0,
        path_contains: Some("/query".into()),
        query_contains: None,
        kind: FaultKind::Status {
            status: 403,
            error_code: "REQUEST_LIMIT_EXCEEDED".into(),
            message: "TotalRequests Limit exceeded.".into(),
        },
    });
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("REQUEST_LIMIT_EXCEEDED") && err.contains("TotalRequests Limit exceeded."),
        "{err}"
    );
    assert!(
        err.contains("not synced"),
        "the Account type was never started: {err}"
    );
    assert_eq!(env.count("select count(*) from items"), 0);
}

#[test]
fn salesforce_errors_reach_the_user_verbatim() {
    let env = Env::small();
    env.write_config(
        "password",
        &CONTACTS.replace("email = \"Email\"", "email = \"Emial\""),
    );
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("INVALID_FIELD") && err.contains("Emial"),
        "{err}"
    );
}

#[test]
fn a_refused_login_says_why() {
    let env = Env::small();
    let out = env
        .sfsync()
        .env("SFSYNC_PASSWORD", "wrong")
        .arg("sync-all")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("authentication failure"), "{err}");
    assert!(!err.contains("wrong"), "no secret in messages: {err}");
}

#[test]
fn a_missing_secret_is_a_usage_error_naming_the_variable() {
    let env = Env::small();
    let out = env
        .sfsync()
        .env_remove("SFSYNC_PASSWORD")
        .arg("sync-all")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("SFSYNC_PASSWORD"));
}

#[test]
fn bad_configuration_exits_2_naming_the_key_and_sends_nothing() {
    let env = Env::small();
    let cases = [
        (
            CONTACTS.replace("container =", "colour = \"red\"\ncontainer ="),
            "unknown field `colour`",
        ),
        (
            CONTACTS.replace("sobject = \"Contact\"\n", ""),
            "`types[0].sobject`",
        ),
        (
            format!("{CONTACTS}\n[[types]]\nname = \"Contact\"\nsobject = \"Lead\"\n"),
            "defined twice",
        ),
        (
            CONTACTS.replace("\"Account.Name\"", "\"Account Name\""),
            "not a SOQL field path",
        ),
    ];
    for (types, expected) in cases {
        env.write_config("password", &types);
        env.org.clear_log();
        let out = env.sfsync().arg("sync-all").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{expected}");
        let err = stderr(&out);
        assert!(
            err.contains(expected) && err.contains("sync.toml line "),
            "{err}"
        );
        assert!(
            env.org.requests().is_empty(),
            "no request for a bad configuration"
        );
    }
}

#[test]
fn unknown_type_on_the_command_line_is_a_usage_error() {
    let env = Env::small();
    let out = env
        .sfsync()
        .args(["sync-all", "--type", "Lead"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no type is called `Lead`"));
}

#[test]
fn dry_run_prints_events_and_writes_nothing() {
    let env = Env::small();
    let out = env
        .sfsync()
        .args(["sync-all", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let created = lines.iter().filter(|e| e["kind"] == "created").count();
    assert_eq!(created, env.contacts_with_email().len());
    assert_eq!(env.count("select count(*) from items"), 0);
    assert_eq!(env.count("select count(*) from events"), 0);
}

#[test]
fn sync_one_syncs_a_record_by_its_15_character_id() {
    let env = Env::small();
    let id = env.contacts_with_email()[3].clone();
    let out = env
        .sfsync()
        .args(["sync-one", "--type", "contact", "--id", &id[..15]])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let kinds: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds, ["created", "published"]);
    assert_eq!(env.column("select sf_object_id from items"), [id]);
}

#[test]
fn sync_one_of_a_gone_record_applies_the_missing_step() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let ids = env.contacts_with_email();
    env.org.update("Contact", &ids[0], json!({"Email": null}));
    let out = env
        .sfsync()
        .args(["sync-one", "--type", "Contact", "--id", &ids[0]])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("\"rejected\""), "{}", stdout(&out));
    assert_eq!(
        env.column(&format!(
            "select state from items where sf_object_id = '{}'",
            ids[0]
        )),
        ["private"]
    );
}

#[test]
fn sync_one_refuses_a_malformed_id_before_any_request() {
    let env = Env::small();
    env.org.clear_log();
    for bad in ["003' OR Name != '", "003abc", "003000000000001AAB"] {
        let out = env
            .sfsync()
            .args(["sync-one", "--type", "Contact", "--id", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains("is not a Salesforce id"),
            "{}",
            stderr(&out)
        );
    }
    assert!(env.org.requests().is_empty());
}

#[test]
fn hooks_get_events_as_json_lines_and_a_failing_hook_exits_5() {
    let env = Env::small();
    let log = env.dir.path().join("hook.jsonl");
    let hook = format!(
        "{CONTACTS}\n[[hooks]]\ncommand = \"cat >> '{}'\"\nkinds = [\"created\"]\n\n[[hooks]]\ncommand = \"exit 7\"\n",
        log.display()
    );
    env.write_config("password", &hook);
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("exit 7"), "{}", stderr(&out));
    let lines = std::fs::read_to_string(&log).unwrap();
    assert_eq!(lines.lines().count(), env.contacts_with_email().len());
    let first: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["kind"], "created");
    assert_eq!(first["type"], "Contact");
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len(),
        "a failing hook never rolls the catalog back"
    );
}

#[test]
fn a_catalog_that_is_not_a_database_exits_4() {
    let env = Env::small();
    std::fs::write(
        env.catalog_path(),
        b"this is not sqlite, just text that is long enough to fail the header check.........",
    )
    .unwrap();
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn the_example_configuration_parses() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sync.toml.example")).unwrap();
    let config =
        sfsync::config::Config::parse(std::path::Path::new("sync.toml.example"), &text).unwrap();
    assert_eq!(config.types.len(), 2);
}

#[test]
fn a_run_left_running_by_a_dead_process_is_recorded_as_interrupted() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    env.db()
        .execute(
            "INSERT INTO runs (command, pid, started_at) VALUES ('sync-all', ?1, '2026-01-01T00:00:00Z')",
            [dead],
        )
        .unwrap();
    env.sfsync().arg("sync-all").assert().success();
    let outcome = env.column(&format!(
        "select outcome || ' ' || error from runs where pid = {dead}"
    ));
    assert_eq!(outcome.len(), 1);
    assert!(outcome[0].starts_with("failed interrupted"), "{outcome:?}");
}

#[test]
fn a_title_change_alone_reaches_the_catalog_and_keeps_the_path() {
    let env = Env::small();
    env.write_config("password", &CONTACTS.replace("name = \"Name\"\n", ""));
    env.sfsync().arg("sync-all").assert().success();
    let id = env.contacts_with_email()[0].clone();
    let before = env.column(&format!(
        "select path from items where sf_object_id = '{id}'"
    ));
    env.org
        .update("Contact", &id, json!({"FirstName": "Renamed"}));
    env.sfsync().arg("sync-all").assert().success();
    let title = env.column(&format!(
        "select title from items where sf_object_id = '{id}'"
    ));
    assert!(title[0].starts_with("Renamed "), "{title:?}");
    assert_eq!(
        env.column(&format!(
            "select path from items where sf_object_id = '{id}'"
        )),
        before
    );
}
