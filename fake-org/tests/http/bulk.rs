//! Bulk API 2.0 query jobs: lifecycle, CSV paging, and failures.

use serde_json::{json, Value};

use crate::common::{assert_sf_error, Session, V};

async fn create(s: &Session, body: Value) -> reqwest::Response {
    s.client
        .post(s.url(&format!("{V}/jobs/query")))
        .bearer_auth(&s.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn poll(s: &Session, id: &str) -> Value {
    s.get(&format!("{V}/jobs/query/{id}"))
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_job_completes_and_pages_csv_with_locators() {
    let s = Session::start().await;
    let job: Value = create(&s, json!({"operation": "query", "query": "SELECT Id, Name, Account.Name, Birthdate, Newsletter__c FROM Contact"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(job["state"], "UploadComplete");
    assert_eq!(job["object"], "Contact");
    assert_eq!(job["contentType"], "CSV");
    assert_eq!(job["lineEnding"], "LF");
    let id = job["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("750"));

    let results = format!("{V}/jobs/query/{id}/results");
    assert_sf_error(s.get(&results).await, 412, "JOB_NOT_COMPLETE").await;
    assert_eq!(poll(&s, &id).await["state"], "InProgress");
    let done = poll(&s, &id).await;
    assert_eq!(done["state"], "JobComplete");
    assert_eq!(done["numberRecordsProcessed"], 1000);

    let mut locator: Option<String> = None;
    let mut rows = 0;
    let mut pages = 0;
    loop {
        let url = match &locator {
            Some(l) => format!("{results}?maxRecords=300&locator={l}"),
            None => format!("{results}?maxRecords=300"),
        };
        let response = s.get(&url).await;
        assert_eq!(response.status(), 200);
        let next = response.headers()["sforce-locator"]
            .to_str()
            .unwrap()
            .to_string();
        let count: usize = response.headers()["sforce-numberofrecords"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let text = response.text().await.unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "\"Id\",\"Name\",\"Account.Name\",\"Birthdate\",\"Newsletter__c\""
        );
        let body: Vec<&str> = lines.collect();
        assert_eq!(body.len(), count);
        assert!(body.iter().all(|l| l.starts_with("\"003")));
        rows += count;
        pages += 1;
        if next == "null" {
            break;
        }
        locator = Some(next);
    }
    assert_eq!((rows, pages), (1000, 4));
}

#[tokio::test]
async fn nulls_are_empty_fields_and_quotes_double() {
    let s = Session::start().await;
    let id = s
        .org
        .insert("Contact", json!({"LastName": "Say \"hi\"", "Email": null}));
    let query = format!("SELECT Id, LastName, Email FROM Contact WHERE Id = '{id}'");
    let job: Value = create(&s, json!({"operation": "query", "query": query}))
        .await
        .json()
        .await
        .unwrap();
    let job_id = job["id"].as_str().unwrap();
    poll(&s, job_id).await;
    poll(&s, job_id).await;
    let text = s
        .get(&format!("{V}/jobs/query/{job_id}/results"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        text,
        format!("\"Id\",\"LastName\",\"Email\"\n\"{id}\",\"Say \"\"hi\"\"\",\n")
    );
}

#[tokio::test]
async fn failed_and_refused_jobs() {
    let s = Session::start().await;
    s.org.fail_next_bulk_job("Something broke");
    let job: Value = create(
        &s,
        json!({"operation": "query", "query": "SELECT Id FROM Contact"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = job["id"].as_str().unwrap();
    poll(&s, id).await;
    let failed = poll(&s, id).await;
    assert_eq!(failed["state"], "Failed");
    assert_eq!(failed["errorMessage"], "Something broke");

    let refused = create(&s, json!({"operation": "query", "query": "SELECT Id, (SELECT Id FROM OpportunityContactRoles) FROM Contact"})).await;
    assert_sf_error(refused, 400, "API_ERROR").await;
    let refused = create(
        &s,
        json!({"operation": "query", "query": "SELECT Id FROM Nope"}),
    )
    .await;
    assert_sf_error(refused, 400, "INVALID_TYPE").await;
}
