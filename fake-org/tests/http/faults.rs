//! Injected faults: each kind, skipping, path matching and ordering.

use std::time::{Duration, Instant};

use fake_org::{Fault, FaultKind};
use serde_json::Value;

use crate::common::{assert_sf_error, Session, V};

#[tokio::test]
async fn status_faults_answer_with_salesforce_errors() {
    let s = Session::start().await;
    let cases = [
        (Fault::server_error(), 500, "UNKNOWN_EXCEPTION"),
        (Fault::unavailable(), 503, "SERVER_UNAVAILABLE"),
        (
            Fault::request_limit_exceeded(),
            403,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        (Fault::query_timeout(), 400, "QUERY_TIMEOUT"),
        (Fault::invalid_query_locator(), 400, "INVALID_QUERY_LOCATOR"),
    ];
    for (fault, status, code) in cases {
        s.org.inject_fault(fault);
        assert_sf_error(s.query("SELECT Id FROM Contact").await, status, code).await;
    }
    assert_eq!(
        s.query("SELECT Id FROM Contact").await.status(),
        200,
        "faults fire once"
    );
}

#[tokio::test]
async fn a_dropped_connection_gives_no_response() {
    let s = Session::start().await;
    s.org.inject_fault(Fault::new(FaultKind::DropConnection));
    let result = s
        .client
        .get(s.url(&format!("{V}/sobjects")))
        .bearer_auth(&s.token)
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(s.org.requests().last().unwrap().status, 0);
    assert_eq!(s.get(&format!("{V}/sobjects")).await.status(), 200);
}

#[tokio::test]
async fn a_truncated_body_fails_to_read() {
    let s = Session::start().await;
    s.org.inject_fault(Fault::new(FaultKind::TruncateBody));
    let response = s.query("SELECT Id FROM Contact").await;
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err());
}

#[tokio::test]
async fn a_replaced_body_is_sent_verbatim() {
    let s = Session::start().await;
    s.org.inject_fault(Fault::new(FaultKind::ReplaceBody {
        status: 200,
        content_type: "application/json".into(),
        body: b"{\"totalSize\":1,\"done\":tru".to_vec(),
    }));
    let response = s.query("SELECT Id FROM Contact").await;
    assert_eq!(
        response.text().await.unwrap(),
        "{\"totalSize\":1,\"done\":tru"
    );
}

#[tokio::test]
async fn faults_skip_match_paths_and_keep_their_order() {
    let s = Session::start().await;
    s.org.set_page_size(250);
    s.org
        .inject_fault(Fault::unavailable().on_path("/query/").after(1));
    s.org.inject_fault(Fault::server_error());
    let first: Value = s.query_json("SELECT Id FROM Contact").await;
    let next = first["nextRecordsUrl"].as_str().unwrap().to_string();
    assert_eq!(s.get(&next).await.status(), 200, "skipped once");
    assert_eq!(s.get(&next).await.status(), 503);
    assert_eq!(s.get(&next).await.status(), 500, "the second fault follows");
    assert_eq!(s.get(&next).await.status(), 200);
}

#[tokio::test]
async fn faults_hit_oauth_but_never_control_requests() {
    let s = Session::start().await;
    s.org.inject_fault(Fault::unavailable());
    let control = s
        .client
        .get(s.url("/__fake/api-calls"))
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), 200);
    let token = s
        .client
        .post(s.url("/services/oauth2/token"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 503);
}

#[tokio::test]
async fn latency_delays_every_response() {
    let s = Session::start().await;
    s.org.set_latency(Duration::from_millis(150));
    let started = Instant::now();
    assert_eq!(s.get(&format!("{V}/sobjects")).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}
