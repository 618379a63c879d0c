//! What Salesforce should never send, and what a user should never type:
//! a clean error or a logged, skipped record, never a panic, never a
//! request to another host with the token, never an id or a type name
//! that reaches SOQL unchecked.

mod common;

use common::{stderr, Env};
use fake_org::{FakeOrg, Fault, FaultKind, Org};
use serde_json::{json, Value};

const PLAIN: &str = r#"
[[types]]
name = "Contact"
sobject = "Contact"
criteria = "Email != null"
container = "people"
title = "Name"
on_missing = "reject"
[types.fields]
name = "Name"
email = "Email"
"#;

fn env() -> Env {
    let env = Env::small();
    env.write_config("password", PLAIN);
    env
}

/// The org's matching contacts as a query page would carry them.
fn real_records(env: &Env) -> Vec<Value> {
    env.org
        .records("Contact")
        .into_iter()
        .filter(|r| !r["Email"].is_null())
        .collect()
}

/// Answers the read's first page (the request after the count) with `body`.
fn answer_first_page(env: &Env, body: Vec<u8>) {
    env.org.inject_fault(
        Fault::new(FaultKind::ReplaceBody {
            status: 200,
            content_type: "application/json".into(),
            body,
        })
        .on_path("/query")
        .after(1),
    );
}

fn page(records: Vec<Value>, next: Option<&str>) -> Vec<u8> {
    let mut page = json!({
        "totalSize": records.len(),
        "done": next.is_none(),
        "records": records,
    });
    if let Some(next) = next {
        page["nextRecordsUrl"] = json!(next);
    }
    serde_json::to_vec(&page).unwrap()
}

fn assert_no_panic(out: &std::process::Output) {
    assert_ne!(out.status.code(), Some(101), "{}", stderr(out));
    assert!(!stderr(out).contains("panicked"), "{}", stderr(out));
}

#[test]
fn odd_records_are_skipped_with_a_warning_and_the_rest_synced() {
    let env = env();
    let mut records = real_records(&env);
    let good = records.len();
    records.push(json!({"Name": "No Id", "Email": "noid@example.com"}));
    records.push(json!({"Id": "not an id' OR ''='", "Name": "Bad", "Email": "b@example.com"}));
    records.push(json!({"Id": 42, "Name": "Numeric", "Email": "n@example.com"}));
    records.push(json!({"Id": "003AA0000000001", "Name": {"a": [1, 2]}, "Email": 7}));
    records.push(
        json!({"Id": "003AA0000000002", "Name": "x".repeat(4 << 20), "Email": "h@example.com"}),
    );
    records.push(json!("not even an object"));
    answer_first_page(&env, page(records, None));

    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("skipping a record"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.count("select count(*) from items where sf_object_id not like '003AA%'") as usize,
        good,
        "every real record is synced, no record without a valid id is"
    );
    assert_eq!(env.column("select outcome from runs"), ["ok"]);
}

#[test]
fn invalid_utf8_fails_the_type_cleanly() {
    let env = env();
    let mut body = page(real_records(&env), None);
    let at = body.windows(5).position(|w| w == b"Email").unwrap();
    body[at + 1] = 0xff;
    body[at + 2] = 0xfe;
    answer_first_page(&env, body);
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("`Contact`"), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid JSON"), "{}", stderr(&out));
    assert_eq!(env.count("select count(*) from items"), 0);
    assert_eq!(env.column("select outcome from runs"), ["failed"]);
}

#[test]
fn a_next_page_on_another_host_is_never_requested() {
    let other = FakeOrg::spawn(Org::empty()).unwrap();
    let env = env();
    let host = other.base_url().trim_start_matches("http:").to_string();
    let elsewhere = [
        format!("{}/services/data/v62.0/query/01gX-2", other.base_url()),
        format!("{host}/services/data/v62.0/query/01gX-2"),
        "https://evil.example/services/data/v62.0/query/01gX-2".to_string(),
        "/services/data/v62.0/../../x".to_string(),
    ];
    for next in elsewhere {
        answer_first_page(&env, page(real_records(&env), Some(&next)));
        let out = env.sfsync().arg("sync-all").output().unwrap();
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(3), "{next}: {}", stderr(&out));
        assert!(stderr(&out).contains("nextRecordsUrl"), "{}", stderr(&out));
        assert_eq!(env.count("select count(*) from items"), 0, "{next}");
    }
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

#[test]
fn ids_and_type_names_from_the_command_line_are_checked_before_any_request() {
    let env = env();
    env.org.clear_log();
    let attempts: [&[&str]; 5] = [
        &["sync-one", "--type", "Contact", "--id", "003' OR Name != '"],
        &[
            "sync-one",
            "--type",
            "Contact",
            "--id",
            "003000000000001AAAX",
        ],
        &[
            "sync-one",
            "--type",
            "Contact WHERE",
            "--id",
            "003000000000001",
        ],
        &["sync-all", "--type", "Contact' OR ''='"],
        &["sync-one", "--type", "Contact", "--id", ""],
    ];
    for args in attempts {
        let out = env.sfsync().args(args).output().unwrap();
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert!(env.org.requests().is_empty(), "{:?}", env.org.requests());
}
