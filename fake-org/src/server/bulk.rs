//! Bulk API 2.0 query jobs: create, poll (the state reaches `JobComplete`
//! on the second poll), and CSV results paged with `Sforce-Locator`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{lock, not_found, sf_error, valid_version, Shared};
use crate::clock::{self, Millis};
use crate::schema::FieldType;
use crate::soql::{self, plan, Plan};
use crate::store::{Scalar, Store};

/// Results per page when the client sets no `maxRecords`.
const DEFAULT_PAGE: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobState {
    UploadComplete,
    InProgress,
    JobComplete,
    Failed,
    Aborted,
}

impl JobState {
    fn name(self) -> &'static str {
        match self {
            JobState::UploadComplete => "UploadComplete",
            JobState::InProgress => "InProgress",
            JobState::JobComplete => "JobComplete",
            JobState::Failed => "Failed",
            JobState::Aborted => "Aborted",
        }
    }
}

/// One query job.
struct Job {
    id: String,
    operation: String,
    plan: Arc<Plan>,
    version: String,
    created: Millis,
    state: JobState,
    polls: u32,
    failure: Option<String>,
    rows: Arc<Vec<u32>>,
}

/// All jobs, and a failure waiting for the next job.
#[derive(Default)]
pub(crate) struct Jobs {
    jobs: HashMap<String, Job>,
    next: u64,
    pub fail_next: Option<String>,
}

fn bulk_error(status: StatusCode, code: &str, message: &str) -> Response {
    sf_error(status, code, message)
}

/// `POST .../jobs/query` with `{"operation":"query","query":"SELECT ..."}`.
pub async fn create(
    State(shared): State<Arc<Shared>>,
    Path(version): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !valid_version(&version) {
        return not_found();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return bulk_error(
            StatusCode::BAD_REQUEST,
            "InvalidJob",
            "the request body is not valid JSON",
        );
    };
    let operation = request["operation"].as_str().unwrap_or("query").to_string();
    if operation != "query" && operation != "queryAll" {
        return bulk_error(
            StatusCode::BAD_REQUEST,
            "InvalidJob",
            &format!("operation `{operation}` is not supported"),
        );
    }
    let Some(text) = request["query"].as_str() else {
        return bulk_error(StatusCode::BAD_REQUEST, "InvalidJob", "query is required");
    };
    let plan = match soql::parse(text).and_then(|q| soql::compile(&q)) {
        Ok(plan) => plan,
        Err(e) => return bulk_error(StatusCode::BAD_REQUEST, e.code, &e.message(text)),
    };
    if let Some(problem) = unsupported(&plan) {
        return bulk_error(StatusCode::BAD_REQUEST, "API_ERROR", problem);
    }
    let job = new_job(&shared, operation, plan, &version);
    let body = job_json(&job, &shared);
    lock(&shared.jobs).jobs.insert(job.id.clone(), job);
    Json(body).into_response()
}

/// What Bulk API 2.0 refuses that REST queries allow.
fn unsupported(plan: &Plan) -> Option<&'static str> {
    if plan.has_subquery {
        Some("Bulk API 2.0 does not support child subqueries (nested queries)")
    } else if plan.has_compound {
        Some("Selecting compound data not supported in Bulk Query")
    } else if plan.count_only || plan.aggregate.is_some() {
        Some("Aggregate queries are not supported in Bulk Query")
    } else {
        None
    }
}

fn new_job(shared: &Shared, operation: String, plan: Plan, version: &str) -> Job {
    let mut jobs = lock(&shared.jobs);
    jobs.next += 1;
    let pod = shared.org_id[3..5].to_string();
    Job {
        id: crate::ids::make_id("750", &pod, jobs.next),
        operation,
        plan: Arc::new(plan),
        version: version.to_string(),
        created: shared.clock.now(),
        state: JobState::UploadComplete,
        polls: 0,
        failure: jobs.fail_next.take(),
        rows: Arc::new(Vec::new()),
    }
}

fn job_json(job: &Job, shared: &Shared) -> Value {
    let version: f64 = job.version.trim_start_matches('v').parse().unwrap_or(62.0);
    let mut body = json!({
        "id": job.id,
        "operation": job.operation,
        "object": job.plan.schema.name,
        "createdById": crate::org::default_user_id(),
        "createdDate": clock::format_rest(job.created),
        "systemModstamp": clock::format_rest(shared.clock.now().max(job.created)),
        "state": job.state.name(),
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": version,
        "jobType": "V2Query",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    });
    if job.state == JobState::JobComplete || job.state == JobState::Failed {
        body["numberRecordsProcessed"] = json!(job.rows.len());
        body["retries"] = json!(0);
        body["totalProcessingTime"] = json!(42);
    }
    if let Some(message) = job
        .failure
        .as_ref()
        .filter(|_| job.state == JobState::Failed)
    {
        body["errorMessage"] = json!(message);
    }
    body
}

/// `GET .../jobs/query/{id}`: each poll moves the job one step on.
pub async fn status(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
) -> Response {
    if !valid_version(&version) {
        return not_found();
    }
    let org = shared.org.read().unwrap_or_else(|e| e.into_inner());
    let mut jobs = lock(&shared.jobs);
    let Some(job) = jobs.jobs.get_mut(&id) else {
        return bulk_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Job not found");
    };
    advance(job, &org.store);
    Json(job_json(job, &shared)).into_response()
}

/// Moves a job one state on; on completion, fixes the rows it returns.
fn advance(job: &mut Job, store: &Store) {
    job.polls += 1;
    job.state = match (job.state, job.polls) {
        (JobState::UploadComplete, _) => JobState::InProgress,
        (JobState::InProgress, _) if job.failure.is_some() => JobState::Failed,
        (JobState::InProgress, _) => {
            job.rows = Arc::new(job.plan.execute(store, job.operation == "queryAll"));
            JobState::JobComplete
        }
        (state, _) => state,
    };
}

/// `PATCH .../jobs/query/{id}` with `{"state":"Aborted"}`.
pub async fn abort(
    State(shared): State<Arc<Shared>>,
    Path((_version, id)): Path<(String, String)>,
) -> Response {
    let mut jobs = lock(&shared.jobs);
    let Some(job) = jobs.jobs.get_mut(&id) else {
        return bulk_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Job not found");
    };
    if job.state != JobState::JobComplete && job.state != JobState::Failed {
        job.state = JobState::Aborted;
    }
    Json(job_json(job, &shared)).into_response()
}

/// `DELETE .../jobs/query/{id}`.
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    Path((_version, id)): Path<(String, String)>,
) -> Response {
    match lock(&shared.jobs).jobs.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => bulk_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Job not found"),
    }
}

/// `GET .../jobs/query/{id}/results?maxRecords=N&locator=L`.
pub async fn results(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if !valid_version(&version) {
        return not_found();
    }
    let (plan, rows, all_rows) = {
        let jobs = lock(&shared.jobs);
        let Some(job) = jobs.jobs.get(&id) else {
            return bulk_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Job not found");
        };
        if job.state != JobState::JobComplete {
            return bulk_error(
                StatusCode::PRECONDITION_FAILED,
                "JOB_NOT_COMPLETE",
                "Job is not complete",
            );
        }
        (
            job.plan.clone(),
            job.rows.clone(),
            job.operation == "queryAll",
        )
    };
    let offset = match params.get("locator").map(|l| decode_locator(l)) {
        None => 0,
        Some(Some(offset)) if offset <= rows.len() => offset,
        Some(_) => return bulk_error(StatusCode::BAD_REQUEST, "INVALIDLOCATOR", "Invalid locator"),
    };
    let page = match page_size(&shared, params.get("maxRecords")) {
        Ok(page) => page,
        Err(response) => return response,
    };
    let end = (offset + page).min(rows.len());
    let org = shared.org.read().unwrap_or_else(|e| e.into_inner());
    let csv = render_csv(&org.store, &plan, &rows[offset..end], all_rows);
    csv_response(
        csv,
        end - offset,
        (end < rows.len()).then(|| encode_locator(end)),
    )
}

fn page_size(shared: &Shared, max_records: Option<&String>) -> Result<usize, Response> {
    let requested = match max_records {
        None => DEFAULT_PAGE,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(bulk_error(
                    StatusCode::BAD_REQUEST,
                    "INVALIDREQUEST",
                    "maxRecords must be a positive integer",
                ))
            }
        },
    };
    Ok(match shared.settings().page_size {
        Some(cap) => requested.min(cap.max(1)),
        None => requested,
    })
}

fn encode_locator(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(offset.to_string())
}

fn decode_locator(locator: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(locator)
        .ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}

fn csv_response(body: String, count: usize, locator: Option<String>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("text/csv"));
    let locator = locator.unwrap_or_else(|| "null".into());
    if let Ok(value) = HeaderValue::from_str(&locator) {
        headers.insert("Sforce-Locator", value);
    }
    headers.insert("Sforce-NumberOfRecords", HeaderValue::from(count as u64));
    response
}

/// A CSV page: a header row in SELECT order, every value quoted, nulls as
/// empty fields.
fn render_csv(store: &Store, plan: &Plan, rows: &[u32], _all_rows: bool) -> String {
    let mut out = String::with_capacity(rows.len() * 300 + 64);
    let header: Vec<String> = plan.paths.iter().map(|p| quote(&p.label)).collect();
    out.push_str(&header.join(","));
    out.push('\n');
    let Some(table) = store.table(&plan.schema.name) else {
        return out;
    };
    for &row in rows {
        for (i, path) in plan.paths.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let kind = path.schema.fields[path.field].kind;
            if let Some(text) = csv_text(kind, &plan::read(store, table, row as usize, path)) {
                out.push_str(&quote(&text));
            }
        }
        out.push('\n');
    }
    out
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A value as Bulk CSV writes it; `None` for null.
fn csv_text(kind: FieldType, value: &Scalar<'_>) -> Option<String> {
    Some(match value {
        Scalar::Null => return None,
        Scalar::Bool(b) => b.to_string(),
        Scalar::Num(n) if kind == FieldType::Int && n.fract() == 0.0 => format!("{}", *n as i64),
        Scalar::Num(n) => {
            let mut text = String::new();
            let _ = write!(text, "{n:?}");
            text
        }
        Scalar::Text(t) => t.to_string(),
        Scalar::Date(d) => clock::format_date(*d),
        Scalar::DateTime(ms) => clock::format_bulk(*ms),
    })
}
