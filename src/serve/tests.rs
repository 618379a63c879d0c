//! The routes exercised in memory, without a socket or an org: keys,
//! parameters, limits and the run lock. The integration tests in
//! `tests/serve.rs` cover syncing against the fake org.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::jobs::Jobs;
use super::routes::{router, AppState};
use super::{Options, SyncKey};
use crate::config::Config;
use crate::lock::RunLock;
use crate::salesforce::Secrets;

const KEY: &str = "k3y-for-tests";

/// An org nobody answers at, so a sync that gets as far as logging in fails fast.
fn config(dir: &Path) -> Config {
    let text = r#"
[salesforce]
login_url = "http://127.0.0.1:9"
instance_url = "http://127.0.0.1:9"
auth = "password"
client_id = "id"
username = "u@example.com"
max_retries = 0
timeout_secs = 2

[[types]]
name = "Person"
sobject = "Contact"
container = "people"
[types.fields]
name = "Name"

[[types]]
name = "Speaker"
sobject = "Contact"
container = "speakers"
[types.fields]
name = "Name"

[[types]]
name = "Company"
sobject = "Account"
container = "companies"
[types.fields]
name = "Name"
"#;
    Config::parse(&dir.join("sync.toml"), text).expect("the test configuration is valid")
}

struct Fixture {
    dir: tempfile::TempDir,
    app: Router,
}

fn fixture(key: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let options = Options {
        body_timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let jobs = Arc::new(Jobs::new(
        Arc::new(config),
        Secrets::default(),
        &options.limits,
    ));
    let app = router(AppState {
        jobs,
        key: SyncKey::new(key),
        max_body: options.max_body,
        body_timeout: options.body_timeout,
    });
    Fixture { dir, app }
}

impl Fixture {
    async fn send(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn get(&self, uri: &str) -> (StatusCode, String) {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn post_form(&self, uri: &str, form: &str) -> (StatusCode, String) {
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap();
        self.send(request).await
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn health_needs_no_token() {
    let fx = fixture("");
    assert_eq!(fx.get("/healthz").await, (StatusCode::OK, "ok\n".into()));
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused_alike() {
    let fx = fixture(KEY);
    let missing = fx.get("/sf_sync?type=Person").await;
    let wrong = fx.get("/sf_sync?type=Person&token=nope").await;
    let bearer = Request::get("/sf_sync?type=Person")
        .header(header::AUTHORIZATION, "Bearer nope")
        .body(Body::empty())
        .unwrap();
    let wrong_header = fx.send(bearer).await;
    let wrong_form = fx.post_form("/sf_sync", "token=nope&type=Person").await;
    for (status, body) in [&missing, &wrong, &wrong_header, &wrong_form] {
        assert_eq!(*status, StatusCode::FORBIDDEN);
        assert_eq!(json(body), serde_json::json!({"error": "forbidden"}));
    }
}

#[tokio::test]
async fn without_a_key_even_an_empty_token_is_refused() {
    let fx = fixture("");
    let (status, _) = fx.get("/sf_sync?token=&type=Person").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = fx.get("/runs/1?token=").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_right_token_passes_in_the_query_the_header_and_the_form() {
    let fx = fixture(KEY);
    // An unknown type is the next check, so 400 proves the key was taken.
    let query = fx.get(&format!("/sf_sync?token={KEY}&type=Nope")).await;
    let header = Request::get("/sf_sync?type=Nope")
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .body(Body::empty())
        .unwrap();
    let header = fx.send(header).await;
    let form = fx
        .post_form("/sf_sync", &format!("token={KEY}&types%3Alist=Nope"))
        .await;
    for (status, body) in [query, header, form] {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(json(&body)["error"].as_str().unwrap().contains("`Nope`"));
    }
}

#[tokio::test]
async fn an_sobject_names_a_type_only_when_one_type_reads_it() {
    let fx = fixture(KEY);
    let ambiguous = fx
        .get(&format!(
            "/sf_sync?token={KEY}&types:list=Contact&sf_object_id=x"
        ))
        .await;
    assert_eq!(ambiguous.0, StatusCode::BAD_REQUEST);
    assert!(ambiguous.1.contains("several types"), "{}", ambiguous.1);
    let malformed_id = fx
        .get(&format!(
            "/sf_sync?token={KEY}&types:list=Account&sf_object_id=x"
        ))
        .await;
    assert_eq!(malformed_id.0, StatusCode::BAD_REQUEST);
    assert!(
        malformed_id.1.contains("not a Salesforce id"),
        "{}",
        malformed_id.1
    );
}

#[tokio::test]
async fn a_record_without_a_type_is_refused_when_several_are_configured() {
    let fx = fixture(KEY);
    let (status, body) = fx
        .get(&format!(
            "/sf_sync?token={KEY}&sf_object_id=001000000000001"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("types:list"), "{body}");
}

#[tokio::test]
async fn a_salesforce_that_does_not_answer_is_a_bad_gateway() {
    let fx = fixture(KEY);
    let (status, body) = fx
        .get(&format!(
            "/sf_sync?token={KEY}&type=Company&sf_object_id=001000000000001"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(!body.contains(KEY));
}

#[tokio::test]
async fn broken_percent_encoding_is_a_bad_request() {
    let fx = fixture(KEY);
    for uri in [
        "/sf_sync?token=%zz",
        "/sf_sync?type=%C3%28",
        "/runs/1?token=%",
    ] {
        let (status, body) = fx.get(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.contains("malformed"), "{body}");
    }
}

#[tokio::test]
async fn bodies_over_the_limit_or_not_forms_are_refused() {
    let fx = fixture(KEY);
    let big = format!("token={KEY}&pad={}", "x".repeat(20_000));
    let (status, _) = fx.post_form("/sf_sync", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let chunked = Request::post("/sf_sync")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from_stream(futures_util::stream::iter(
            (0..40).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 1000])),
        )))
        .unwrap();
    assert_eq!(fx.send(chunked).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    let json_body = Request::post("/sf_sync")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"token\":\"x\"}"))
        .unwrap();
    assert_eq!(
        fx.send(json_body).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

#[tokio::test]
async fn a_body_that_stalls_times_out() {
    let fx = fixture(KEY);
    let stalled = futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>();
    let request = Request::post("/sf_sync")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from_stream(stalled))
        .unwrap();
    assert_eq!(fx.send(request).await.0, StatusCode::REQUEST_TIMEOUT);
}

#[tokio::test]
async fn unknown_paths_and_runs_are_not_found() {
    let fx = fixture(KEY);
    let (status, body) = fx.get("/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json(&body)["error"], "no such path");
    let (status, _) = fx.get(&format!("/runs/42?token={KEY}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = fx.get(&format!("/runs/abc?token={KEY}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_full_sync_is_refused_while_someone_else_holds_the_run_lock() {
    let fx = fixture(KEY);
    let catalog = fx.dir.path().join("catalog.db");
    let held = tokio::task::spawn_blocking(move || RunLock::acquire(&catalog, Duration::ZERO))
        .await
        .unwrap()
        .unwrap();
    let (status, body) = fx.get(&format!("/sf_sync?token={KEY}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let holder = json(&body)["holder"].as_str().unwrap().to_string();
    assert!(
        holder.starts_with(&format!("pid {}", std::process::id())),
        "{holder}"
    );
    drop(held);
}

#[tokio::test]
async fn a_full_sync_answers_at_once_and_its_failure_is_recorded() {
    let fx = fixture(KEY);
    let (status, body) = fx.get(&format!("/sf_sync?token={KEY}&type=Company")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = json(&body)["run"].as_i64().unwrap();
    let mut state = String::new();
    for _ in 0..100 {
        let (_, body) = fx.get(&format!("/runs/{run}?token={KEY}")).await;
        state = json(&body)["outcome"].as_str().unwrap().to_string();
        if state != "running" {
            let status = json(&body);
            assert_eq!(status["command"], "serve sync-all --type Company");
            assert!(status["error"].as_str().unwrap().contains("logging in"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "failed");
}

#[tokio::test]
async fn the_control_page_offers_every_type_and_never_echoes_the_key() {
    let fx = fixture(KEY);
    let (status, page) = fx.get("/").await;
    assert_eq!(status, StatusCode::OK);
    for name in ["Person (Contact)", "Speaker (Contact)", "Company (Account)"] {
        assert!(page.contains(name), "{name}");
    }
    assert!(page.contains("Synchronize now"));
    assert!(page.contains("method=\"post\""));
    let form = format!("token={KEY}&type=Nope&sf_object_id=%3Cb%3E");
    let (status, page) = fx.post_form("/", &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!page.contains(KEY));
    assert!(page.contains("value=\"&lt;b&gt;\""), "the id is escaped");
    let (status, page) = fx.post_form("/", "token=wrong&type=Person").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("the sync key is not valid"));
    assert!(
        !page.contains("Last runs"),
        "runs are shown after a valid key"
    );
}
