//! `sfsync status`, run as the real binary on the catalog that real syncs
//! against the fake org left behind.

mod common;

use common::{stderr, stdout, Env};
use fake_org::Fault;
use serde_json::Value;

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A first sync that succeeds, then a full one whose read of the records
/// Salesforce refuses.
fn synced_then_failed() -> Env {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    env.org.inject_fault(
        Fault::status(
            400,
            "INVALID_FIELD",
            "No such column 'Foo__c' on entity 'Contact'",
        )
        .on_path("/query")
        .on_query("SELECT Id, "),
    );
    let out = env.sfsync().args(["sync-all", "--full"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0), "the fault fails the run");
    env
}

#[test]
fn status_shows_items_by_state_the_last_sync_and_the_last_failure() {
    let env = synced_then_failed();
    env.org.clear_log();
    let types = json_lines(&env.sfsync().arg("status").output().unwrap());
    assert_eq!(types.len(), 1);
    let contact = &types[0];
    let expected = env.contacts_with_email().len() as u64;
    assert_eq!(contact["type"], "Contact");
    assert_eq!(contact["items"]["published"], expected);
    assert_eq!(contact["last_sync"]["run"], 1);
    assert_eq!(contact["last_sync"]["counts"]["created"], expected);
    assert!(contact["last_sync"]["finished_at"].is_string());
    assert_eq!(contact["last_failure"]["run"], 2);
    let error = contact["last_failure"]["error"].as_str().unwrap();
    assert!(
        error.contains("INVALID_FIELD") && error.contains("Foo__c"),
        "{error}"
    );
    assert!(
        env.org.requests().is_empty(),
        "status never calls Salesforce"
    );
}

#[test]
fn a_dry_run_is_not_the_last_sync_of_a_type() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let id = env.contacts_with_email()[0].clone();
    env.org
        .update("Contact", &id, serde_json::json!({"LastName": "Hopper"}));
    let out = env
        .sfsync()
        .args(["sync-all", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let types = json_lines(&env.sfsync().arg("status").output().unwrap());
    let contact = &types[0];
    assert_eq!(contact["last_sync"]["run"], 1, "{contact}");
    assert_eq!(
        contact["last_sync"]["counts"]["created"],
        env.contacts_with_email().len() as u64,
        "{contact}"
    );
}

#[test]
fn a_good_catalog_has_no_failure_and_tsv_has_one_row_per_type() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let types = json_lines(&env.sfsync().arg("status").output().unwrap());
    assert!(types[0]["last_failure"].is_null());

    let out = env
        .sfsync()
        .args(["status", "--format", "tsv"])
        .output()
        .unwrap();
    let expected = env.contacts_with_email().len();
    let text = stdout(&out);
    let cells: Vec<&str> = text.trim_end_matches('\n').split('\t').collect();
    assert_eq!(text.lines().count(), 1, "no header off a terminal: {text}");
    assert_eq!(cells.len(), 7);
    assert_eq!(cells[..3], ["Contact", &expected.to_string(), "0"]);
    assert!(cells[4].contains(&format!("created={expected}")), "{text}");
    assert_eq!(cells[5..], ["", ""]);
}

#[test]
fn runs_lists_the_last_runs_newest_first() {
    let env = synced_then_failed();
    let runs = json_lines(
        &env.sfsync()
            .args(["status", "--runs", "5"])
            .output()
            .unwrap(),
    );
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["run"], 2);
    assert_eq!(runs[0]["outcome"], "failed");
    assert_eq!(runs[0]["command"], "sync-all --full");
    assert!(runs[0]["error"].as_str().unwrap().contains("INVALID_FIELD"));
    assert_eq!(runs[1]["outcome"], "ok");
    let runs = json_lines(
        &env.sfsync()
            .args(["status", "--runs", "1"])
            .output()
            .unwrap(),
    );
    assert_eq!(runs.len(), 1);

    let out = env
        .sfsync()
        .args(["status", "--runs", "1", "--format", "tsv"])
        .output()
        .unwrap();
    assert!(
        stdout(&out).starts_with("2\tsync-all --full\t"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn status_without_a_catalog_says_so() {
    let env = Env::small();
    let out = env.sfsync().arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("run a sync first"),
        "{}",
        stderr(&out)
    );
}
