//! The control surface: record changes and stamps, the request log, the
//! generator, JSON loading, the HTTP control routes and the binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use fake_org::{FakeOrg, GenSpec, Org};
use serde_json::{json, Value};
use time::macros::datetime;

use crate::common::{small_spec, Session, V};

fn record(s: &Session, id: &str) -> Value {
    s.org
        .records("Contact")
        .into_iter()
        .find(|r| r["Id"] == id)
        .unwrap()
}

#[tokio::test]
async fn changes_move_stamps_as_salesforce_does() {
    let s = Session::start().await;
    s.org.set_clock(datetime!(2024-03-17 16:21:26 UTC));
    let id = s
        .org
        .insert("Contact", json!({"LastName": "New", "Score__c": 80.0}));
    assert_eq!(id.len(), 18);
    let fresh = record(&s, &id);
    assert_eq!(fresh["CreatedDate"], "2024-03-17T16:21:26.000+0000");
    assert_eq!(fresh["Score_Band__c"], "High");
    assert_eq!(fresh["IsDeleted"], false);

    s.org.advance_clock(std::time::Duration::from_secs(60));
    s.org.update("Contact", &id, json!({"FirstName": "Brand"}));
    let updated = record(&s, &id);
    assert_eq!(updated["SystemModstamp"], "2024-03-17T16:22:26.000+0000");
    assert_eq!(updated["LastModifiedDate"], "2024-03-17T16:22:26.000+0000");
    assert_eq!(updated["Name"], "Brand New");

    s.org.update_with_modstamp(
        "Contact",
        &id,
        json!({"Title": "Late"}),
        datetime!(2024-03-17 16:00:00 UTC),
    );
    assert_eq!(
        record(&s, &id)["SystemModstamp"],
        "2024-03-17T16:00:00.000+0000"
    );

    s.org
        .set_silently("Contact", &id, json!({"Score_Band__c": "Low"}));
    let silent = record(&s, &id);
    assert_eq!(silent["Score_Band__c"], "Low");
    assert_eq!(silent["SystemModstamp"], "2024-03-17T16:00:00.000+0000");

    s.org.soft_delete("Contact", &id);
    assert!(!s.org.ids("Contact").contains(&id));
}

#[tokio::test]
async fn the_log_records_requests_without_tokens() {
    let s = Session::start().await;
    s.org.clear_log();
    s.query("SELECT Id FROM Contact").await;
    let log = s.org.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/services/data/v62.0/query");
    assert!(log[0].query.as_deref().unwrap().starts_with("q=SELECT"));
    assert_eq!(log[0].status, 200);
    assert!(!format!("{log:?}").contains(&s.token));
    assert_eq!(s.org.api_calls(), 1);
}

#[test]
fn the_generator_is_deterministic() {
    let spec = small_spec();
    let a = FakeOrg::spawn(Org::generate(&spec)).unwrap();
    let b = FakeOrg::spawn(Org::generate(&spec)).unwrap();
    for sobject in [
        "Account",
        "Contact",
        "Opportunity",
        "OpportunityContactRole",
    ] {
        assert_eq!(
            serde_json::to_string(&a.records(sobject)).unwrap(),
            serde_json::to_string(&b.records(sobject)).unwrap()
        );
    }
    let other = Org::generate(&GenSpec { seed: 8, ..spec });
    assert_ne!(other.ids("Contact")[0], a.ids("Contact")[0]);
    assert_eq!(a.ids("Contact").len(), 1000);
    assert_eq!(&a.ids("OpportunityContactRole")[0][..3], "00K");
}

#[tokio::test]
async fn orgs_load_from_json_files() {
    let dir = std::env::temp_dir().join(format!("fake-org-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("org.json");
    let body = json!({"records": {
        "Account": [{"Id": "001000000000001AAA", "Name": "Acme", "Industry": "Retail"}],
        "Contact": [{"LastName": "Solo", "AccountId": "001000000000001AAA", "Birthdate": "1999-01-31"}]
    }});
    std::fs::write(&path, body.to_string()).unwrap();
    let s = Session::with_org(Org::from_json_file(&path).unwrap()).await;
    let page = s
        .query_json("SELECT Name, Account.Name, Birthdate FROM Contact")
        .await;
    assert_eq!(page["records"][0]["Account"]["Name"], "Acme");
    assert_eq!(page["records"][0]["Name"], "Solo");
    assert_eq!(page["records"][0]["Birthdate"], "1999-01-31");
    std::fs::write(&path, "{\"records\": {\"Lead\": []}}").unwrap();
    assert!(Org::from_json_file(&path).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_http_control_surface_drives_the_org() {
    let s = Session::start().await;
    let c = &s.client;
    let created: Value = c
        .post(s.url("/__fake/records/Contact"))
        .json(&json!({"LastName": "Http"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let patch = c.patch(s.url(&format!(
        "/__fake/records/Contact/{id}?modstamp=2024-01-02T03:04:05Z"
    )));
    assert_eq!(
        patch
            .json(&json!({"Title": "Boss"}))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        record(&s, &id)["SystemModstamp"],
        "2024-01-02T03:04:05.000+0000"
    );
    let fault = json!({"kind": "status", "status": 503, "error_code": "SERVER_UNAVAILABLE", "message": "later"});
    assert_eq!(
        c.post(s.url("/__fake/faults"))
            .json(&fault)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(s.get(&format!("{V}/sobjects")).await.status(), 503);
    assert_eq!(
        c.delete(s.url(&format!("/__fake/records/Contact/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(!s.org.ids("Contact").contains(&id));
    let calls: Value = c
        .get(s.url("/__fake/api-calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["count"].as_u64().unwrap() as usize, s.org.api_calls());
    c.post(s.url("/__fake/tokens/expire"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(s.get(&format!("{V}/sobjects")).await.status(), 401);
    let bad = c
        .post(s.url("/__fake/records/Nope"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[test]
fn the_binary_prints_its_url_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-org"))
        .args(["--contacts", "50", "--accounts", "5", "--page-size", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::get(format!("{base}/__fake/api-calls"))
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn the_log_counts_the_bytes_of_data_answers() {
    let s = Session::start().await;
    let token_bytes = s.org.data_bytes();
    assert_eq!(token_bytes, 0, "logging in is not a data request");
    let body = s
        .query("SELECT Id, Name FROM Contact")
        .await
        .bytes()
        .await
        .unwrap();
    let sobjects = s.get(&format!("{V}/sobjects")).await.bytes().await.unwrap();
    let logged: Vec<u64> = s.org.requests().iter().map(|r| r.body_bytes).collect();
    assert_eq!(&logged[1..], [body.len() as u64, sobjects.len() as u64]);
    assert_eq!(s.org.data_bytes(), (body.len() + sobjects.len()) as u64);

    let calls: Value = s
        .client
        .get(s.url("/__fake/api-calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls, json!({"count": 2, "bytes": s.org.data_bytes()}));
}

#[tokio::test]
async fn the_child_page_size_is_set_over_http() {
    let s = Session::start().await;
    let status = s
        .client
        .put(s.url("/__fake/child-page-size"))
        .json(&json!({"size": 1}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let page = s
        .query_json("SELECT Id, (SELECT Id FROM Contacts) FROM Account")
        .await;
    let children = &page["records"][0]["Contacts"];
    assert_eq!(children["done"], false, "{children}");
    assert_eq!(children["records"].as_array().unwrap().len(), 1);
}
