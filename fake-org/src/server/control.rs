//! The control surface: operations on the running org that tests use
//! in-process through [`FakeOrg`](crate::FakeOrg), and that the binary
//! exposes over HTTP under `/__fake/`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{lock, oauth, Shared};
use crate::clock::{self, Millis};
use crate::faults::{Fault, FaultKind};
use crate::org::Stamp;

impl Shared {
    fn write_org(&self) -> std::sync::RwLockWriteGuard<'_, crate::Org> {
        self.org.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a record stamped with the org clock's now.
    pub fn insert(&self, sobject: &str, fields: &Value) -> anyhow::Result<String> {
        let now = self.clock.now();
        self.write_org().insert(sobject, fields, now)
    }

    /// Changes a record; `at` of `None` means the org clock's now.
    pub fn update(
        &self,
        sobject: &str,
        id: &str,
        fields: &Value,
        at: Option<Millis>,
    ) -> anyhow::Result<()> {
        let at = at.unwrap_or_else(|| self.clock.now());
        self.write_org()
            .update(sobject, id, fields, Stamp::User(at))
    }

    /// Changes values without moving any stamp.
    pub fn set_silently(&self, sobject: &str, id: &str, fields: &Value) -> anyhow::Result<()> {
        self.write_org().update(sobject, id, fields, Stamp::Silent)
    }

    pub fn soft_delete(&self, sobject: &str, id: &str) -> anyhow::Result<()> {
        let now = self.clock.now();
        self.write_org().soft_delete(sobject, id, now)
    }

    pub fn hard_delete(&self, sobject: &str, id: &str) -> anyhow::Result<()> {
        self.write_org().hard_delete(sobject, id)
    }

    /// Purges soft-deleted records; `deleted/` then reports nothing before now.
    pub fn empty_recycle_bin(&self) {
        let now = self.clock.now();
        let mut org = self.write_org();
        for sobject in [
            "Account",
            "Contact",
            "Opportunity",
            "OpportunityContactRole",
        ] {
            if let Some(table) = org.store.table_mut(sobject) {
                let rows: Vec<usize> = table.deletions().map(|(row, _)| row).collect();
                for row in rows {
                    table.hard_delete(row);
                }
            }
        }
        self.bin_emptied_at
            .store(now - now.rem_euclid(60_000), Ordering::SeqCst);
    }

    pub fn set_page_size(&self, n: usize) {
        lock(&self.settings).page_size = Some(n.max(1));
    }

    /// Response body bytes of the data requests in the log.
    pub fn data_bytes(&self) -> u64 {
        lock(&self.log)
            .iter()
            .filter(|r| r.api_call)
            .map(|r| r.body_bytes)
            .sum()
    }

    pub fn set_child_page_size(&self, n: usize) {
        lock(&self.settings).child_page_size = Some(n.max(1));
    }

    pub fn set_latency(&self, d: Duration) {
        lock(&self.settings).latency = d;
    }

    pub fn set_api_limit(&self, n: usize) {
        lock(&self.settings).api_limit = n;
    }

    pub fn inject_fault(&self, fault: Fault) {
        lock(&self.faults).push_back(fault);
    }

    pub fn fail_next_bulk_job(&self, message: &str) {
        lock(&self.jobs).fail_next = Some(message.to_string());
    }
}

/// Routes under `/__fake/`.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/__fake/records/{sobject}",
            get(list_records).post(insert_record),
        )
        .route(
            "/__fake/records/{sobject}/{id}",
            axum::routing::patch(update_record).delete(delete_record),
        )
        .route("/__fake/faults", post(add_fault).delete(clear_faults))
        .route("/__fake/latency", put(set_latency))
        .route("/__fake/page-size", put(set_page_size))
        .route("/__fake/child-page-size", put(set_child_page_size))
        .route("/__fake/api-limit", put(set_api_limit))
        .route("/__fake/tokens/expire", post(expire_tokens))
        .route(
            "/__fake/requests",
            get(list_requests).delete(clear_requests),
        )
        .route("/__fake/api-calls", get(api_calls))
        .route("/__fake/clock", get(get_clock).put(set_clock))
        .route("/__fake/clock/advance", post(advance_clock))
        .route("/__fake/bulk/fail-next", post(fail_next_bulk))
        .route("/__fake/recycle-bin/empty", post(empty_bin))
}

/// A control error: 400 with `{"error": "..."}`.
fn bad_request(e: anyhow::Error) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": format!("{e:#}")})),
    )
        .into_response()
}

fn done(result: anyhow::Result<()>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad_request(e),
    }
}

async fn list_records(State(shared): State<Arc<Shared>>, Path(sobject): Path<String>) -> Response {
    let org = shared.org.read().unwrap_or_else(|e| e.into_inner());
    Json(org.records(&sobject)).into_response()
}

async fn insert_record(
    State(shared): State<Arc<Shared>>,
    Path(sobject): Path<String>,
    Json(fields): Json<Value>,
) -> Response {
    match shared.insert(&sobject, &fields) {
        Ok(id) => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
        Err(e) => bad_request(e),
    }
}

/// `PATCH /__fake/records/{sobject}/{id}[?modstamp=..][&silent=true]`.
async fn update_record(
    State(shared): State<Arc<Shared>>,
    Path((sobject, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    Json(fields): Json<Value>,
) -> Response {
    if params.get("silent").is_some_and(|v| v == "true") {
        return done(shared.set_silently(&sobject, &id, &fields));
    }
    let at = match params.get("modstamp").map(|t| parse_time(t)).transpose() {
        Ok(at) => at,
        Err(e) => return bad_request(e),
    };
    done(shared.update(&sobject, &id, &fields, at))
}

/// `DELETE /__fake/records/{sobject}/{id}[?hard=true]`.
async fn delete_record(
    State(shared): State<Arc<Shared>>,
    Path((sobject, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if params.get("hard").is_some_and(|v| v == "true") {
        done(shared.hard_delete(&sobject, &id))
    } else {
        done(shared.soft_delete(&sobject, &id))
    }
}

fn parse_time(text: &str) -> anyhow::Result<Millis> {
    clock::parse_datetime(text).ok_or_else(|| anyhow!("`{text}` is not a datetime"))
}

/// A fault as JSON: `{"kind":"status","status":503,"error_code":"..",
/// "message":"..","skip":0,"path_contains":null,"query_contains":null}`;
/// kinds `status`,
/// `drop_connection`, `truncate_body`, `replace_body` (with `status`,
/// `content_type` and `body` text or `body_base64`), `delay` (with `ms`).
#[derive(Debug, Deserialize)]
struct FaultRequest {
    kind: String,
    #[serde(default)]
    skip: usize,
    path_contains: Option<String>,
    query_contains: Option<String>,
    status: Option<u16>,
    error_code: Option<String>,
    message: Option<String>,
    content_type: Option<String>,
    body: Option<String>,
    body_base64: Option<String>,
    ms: Option<u64>,
}

impl FaultRequest {
    fn into_fault(self) -> anyhow::Result<Fault> {
        let kind = match self.kind.as_str() {
            "status" => FaultKind::Status {
                status: self.status.context("a status fault needs `status`")?,
                error_code: self
                    .error_code
                    .context("a status fault needs `error_code`")?,
                message: self.message.unwrap_or_default(),
            },
            "drop_connection" => FaultKind::DropConnection,
            "truncate_body" => FaultKind::TruncateBody,
            "replace_body" => FaultKind::ReplaceBody {
                status: self.status.unwrap_or(200),
                content_type: self
                    .content_type
                    .unwrap_or_else(|| "application/json".into()),
                body: replacement_body(self.body, self.body_base64)?,
            },
            "delay" => FaultKind::Delay(Duration::from_millis(
                self.ms.context("a delay fault needs `ms`")?,
            )),
            other => bail!("unknown fault kind `{other}`"),
        };
        Ok(Fault {
            skip: self.skip,
            path_contains: self.path_contains,
            query_contains: self.query_contains,
            kind,
        })
    }
}

fn replacement_body(text: Option<String>, encoded: Option<String>) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    match (text, encoded) {
        (_, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .context("decoding `body_base64`"),
        (Some(text), None) => Ok(text.into_bytes()),
        (None, None) => Ok(Vec::new()),
    }
}

async fn add_fault(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<FaultRequest>,
) -> Response {
    done(request.into_fault().map(|fault| shared.inject_fault(fault)))
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.faults).clear();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
struct Millisecond {
    ms: u64,
}

async fn set_latency(State(shared): State<Arc<Shared>>, Json(body): Json<Millisecond>) -> Response {
    shared.set_latency(Duration::from_millis(body.ms));
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
struct Size {
    size: usize,
}

async fn set_page_size(State(shared): State<Arc<Shared>>, Json(body): Json<Size>) -> Response {
    shared.set_page_size(body.size);
    StatusCode::NO_CONTENT.into_response()
}

async fn set_child_page_size(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<Size>,
) -> Response {
    shared.set_child_page_size(body.size);
    StatusCode::NO_CONTENT.into_response()
}

async fn set_api_limit(State(shared): State<Arc<Shared>>, Json(body): Json<Size>) -> Response {
    shared.set_api_limit(body.size);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize, Default)]
struct Expire {
    after: Option<usize>,
}

/// `POST /__fake/tokens/expire` with `{}` (now) or `{"after": K}`.
async fn expire_tokens(State(shared): State<Arc<Shared>>, body: Option<Json<Expire>>) -> Response {
    match body.unwrap_or_default().0.after {
        Some(k) => oauth::expire_after(&shared, k),
        None => oauth::expire_all(&shared),
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn list_requests(State(shared): State<Arc<Shared>>) -> Response {
    Json(lock(&shared.log).clone()).into_response()
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.log).clear();
    shared.api_calls.store(0, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

async fn api_calls(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({
        "count": shared.api_calls.load(Ordering::SeqCst),
        "bytes": shared.data_bytes(),
    }))
    .into_response()
}

async fn get_clock(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({"now": clock::format_rest(shared.clock.now())})).into_response()
}

#[derive(Debug, Deserialize)]
struct SetClock {
    now: String,
}

async fn set_clock(State(shared): State<Arc<Shared>>, Json(body): Json<SetClock>) -> Response {
    match parse_time(&body.now) {
        Ok(ms) => {
            shared.clock.set(clock::from_millis(ms));
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(e),
    }
}

#[derive(Debug, Deserialize)]
struct Advance {
    seconds: u64,
}

async fn advance_clock(State(shared): State<Arc<Shared>>, Json(body): Json<Advance>) -> Response {
    shared.clock.advance(Duration::from_secs(body.seconds));
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
struct FailNext {
    message: String,
}

async fn fail_next_bulk(State(shared): State<Arc<Shared>>, Json(body): Json<FailNext>) -> Response {
    shared.fail_next_bulk_job(&body.message);
    StatusCode::NO_CONTENT.into_response()
}

async fn empty_bin(State(shared): State<Arc<Shared>>) -> Response {
    shared.empty_recycle_bin();
    StatusCode::NO_CONTENT.into_response()
}
