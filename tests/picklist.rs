//! `sfsync picklist` and the sync's vocabulary check, run as the real
//! binary against the fake org, whose Contact has a picklist with an
//! inactive value, a dependent picklist and a multipicklist.

mod common;

use common::{stderr, stdout, Env};
use fake_org::{Fault, FaultKind};
use serde_json::{json, Value};

/// Contacts with the three custom picklist fields mapped.
const PICKLISTS: &str = r#"
[[types]]
name = "Contact"
sobject = "Contact"
criteria = "Email != null"
container = "people"
title = "Name"
[types.fields]
name = "Name"
experience = { sf = "Experience__c", type = "picklist" }
specialty = { sf = "Specialty__c", type = "picklist" }
industries = { sf = "Industries__c", type = "multipicklist" }
"#;

fn env() -> Env {
    let env = Env::small();
    env.write_config("password", PICKLISTS);
    env
}

fn describes(env: &Env) -> usize {
    let requests = env.org.requests();
    requests
        .iter()
        .filter(|r| r.path.ends_with("/describe"))
        .count()
}

/// `picklist show` for a field, as parsed JSON lines.
fn show(env: &Env, field: &str, all: bool) -> Vec<Value> {
    let mut cmd = env.sfsync();
    cmd.args(["picklist", "show", "--type", "Contact", "--field", field]);
    if all {
        cmd.arg("--all");
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn values(shown: &[Value]) -> Vec<&str> {
    shown.iter().map(|v| v["value"].as_str().unwrap()).collect()
}

#[test]
fn refresh_describes_each_sobject_once_and_show_lists_active_values_in_order() {
    let env = env();
    env.org.clear_log();
    let out = env.sfsync().args(["picklist", "refresh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "");
    assert_eq!(describes(&env), 1, "one describe for three fields");

    let active = show(&env, "experience", false);
    assert_eq!(values(&active), ["Junior", "Mid", "Senior", "Principal"]);
    let all = show(&env, "Experience__c", true);
    assert_eq!(
        values(&all),
        ["Junior", "Mid", "Senior", "Principal", "Intern"]
    );
    assert_eq!(all[4]["active"], false);
    assert_eq!(all[4]["order"], 4);
    assert_eq!(all[0]["restricted"], true);
    assert!(all[0]["fetched_at"].is_string());

    let out = env
        .sfsync()
        .args([
            "picklist",
            "show",
            "--type",
            "contact",
            "--field",
            "experience",
        ])
        .args(["--format", "tsv", "--all"])
        .output()
        .unwrap();
    let tsv = stdout(&out);
    assert_eq!(tsv.lines().count(), 5, "no header off a terminal");
    assert!(tsv.ends_with("Intern\tIntern\tinactive\n"), "{tsv}");
    assert_eq!(show(&env, "industries", false).len(), 7);
}

#[test]
fn a_dependent_picklist_keeps_its_controller_and_decoded_valid_for() {
    let env = env();
    env.sfsync()
        .args(["picklist", "refresh"])
        .assert()
        .success();
    let specialty = show(&env, "specialty", true);
    let onboarding = specialty
        .iter()
        .find(|v| v["value"] == "Onboarding")
        .expect("Onboarding is a specialty");
    assert_eq!(onboarding["controller"], "Experience__c");
    assert_eq!(onboarding["valid_for"], json!(["Junior", "Intern"]));
    assert!(onboarding["valid_for_raw"].is_string());
    let architecture = specialty.iter().find(|v| v["value"] == "Architecture");
    assert_eq!(architecture.unwrap()["valid_for"], json!(["Principal"]));
    let stored = env.column(
        "select valid_for from picklist_values \
         where field = 'Specialty__c' and value = 'Data'",
    );
    assert_eq!(stored, [r#"["Mid","Senior","Principal"]"#]);
}

#[test]
fn a_refresh_that_returns_no_values_keeps_the_cached_ones_and_warns() {
    let env = env();
    env.sfsync()
        .args(["picklist", "refresh"])
        .assert()
        .success();
    let mut describe = real_describe(&env, "Contact");
    for field in describe["fields"].as_array_mut().unwrap() {
        if field["name"] == "Industries__c" {
            field["picklistValues"] = json!([]);
        }
    }
    env.org.inject_fault(Fault {
        skip: 0,
        path_contains: Some("/describe".into()),
        query_contains: None,
        kind: FaultKind::ReplaceBody {
            status: 200,
            content_type: "application/json".into(),
            body: describe.to_string().into_bytes(),
        },
    });

    let out = env.sfsync().args(["picklist", "refresh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("warning"), "{err}");
    assert!(err.contains("`Industries__c`"), "{err}");
    assert!(err.contains("keeping the cached ones"), "{err}");
    assert_eq!(err.lines().count(), 1, "only the empty field: {err}");
    assert_eq!(show(&env, "industries", false).len(), 7);
}

#[test]
fn show_needs_a_mapped_picklist_field_and_a_cached_vocabulary() {
    let env = env();
    env.sfsync().arg("sync-all").assert().success();
    let out = env
        .sfsync()
        .args(["picklist", "show", "--type", "Contact", "--field", "name"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("maps no picklist field `name`"));

    env.db()
        .execute_batch("DELETE FROM picklists WHERE field = 'Experience__c'")
        .unwrap();
    let out = env
        .sfsync()
        .args([
            "picklist",
            "show",
            "--type",
            "Contact",
            "--field",
            "experience",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("sfsync picklist refresh"));
}

#[test]
fn sync_all_fetches_missing_vocabularies_and_warns_once_per_field_about_new_values() {
    let env = env();
    env.org.clear_log();
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(describes(&env), 1);
    assert_eq!(env.count("select count(*) from picklists"), 3);

    let ids = env.contacts_with_email();
    for id in &ids[..3] {
        env.org.update(
            "Contact",
            id,
            json!({"Industries__c": "Mining;Retail", "Experience__c": "Wizard"}),
        );
    }
    env.org.clear_log();
    let out = env.sfsync().args(["sync-all", "--full"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(describes(&env), 0, "the vocabularies are fresh");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 2, "one warning per field: {err}");
    assert!(
        err.contains("`Mining`") && err.contains("`Wizard`"),
        "{err}"
    );
    let stored = env.column(&format!(
        "select fields from items where sf_object_id = '{}'",
        ids[0]
    ));
    let fields: Value = serde_json::from_str(&stored[0]).unwrap();
    assert_eq!(fields["industries"], json!(["Mining", "Retail"]));
    assert_eq!(fields["experience"], "Wizard", "stored as it came");
}

#[test]
fn sync_all_refreshes_vocabularies_older_than_max_age() {
    let env = Env::small();
    let types = format!("[picklists]\nmax_age = \"0s\"\n{PICKLISTS}");
    env.write_config("password", &types);
    env.sfsync().arg("sync-all").assert().success();
    env.org.clear_log();
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(describes(&env), 1);
}

/// The describe the fake org serves, fetched with a token of its own.
fn real_describe(env: &Env, sobject: &str) -> Value {
    let creds = env.org.credentials();
    let base = env.org.base_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let token: Value = http
            .post(format!("{base}/services/oauth2/token"))
            .form(&[
                ("grant_type", "password"),
                ("client_id", creds.client_id.as_str()),
                ("client_secret", creds.client_secret.as_str()),
                ("username", creds.username.as_str()),
                ("password", creds.password.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap().to_string();
        http.get(format!(
            "{base}/services/data/v62.0/sobjects/{sobject}/describe"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
    })
}
