//! The HTTP surface: which path does what, how a request's parameters and
//! key are read, and how answers are shaped.
//!
//! | path | token | what |
//! |---|---|---|
//! | `GET`/`POST /sf_sync` | yes | sync a record (200/404) or start a full sync (202) |
//! | `GET /runs/ID` | yes | a run's progress or outcome |
//! | `GET /healthz` | no | 200 while the server runs |
//! | `GET`/`POST /` | in the form | the control page |

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use log::warn;
use serde_json::{json, Value};

use super::auth::{bearer, SyncKey, KEY_VAR};
use super::error::ServeError;
use super::jobs::{Jobs, RecordReport};
use super::page::{Outcome, PageView};
use super::params::{parse_pairs, SyncParams};
use crate::config::TypeConfig;
use crate::ids::SfId;

/// How many runs the control page lists.
const PAGE_RUNS: usize = 10;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The work.
    pub jobs: Arc<Jobs>,
    /// The key requests must carry.
    pub key: SyncKey,
    /// The largest body accepted, in bytes.
    pub max_body: usize,
    /// How long a body may take to arrive.
    pub body_timeout: Duration,
}

/// The address of the connection's other end, set per connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The server's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page_form).post(page_submit))
        .route("/sf_sync", get(sf_sync).post(sf_sync))
        .route("/runs/{id}", get(run_status))
        .route("/healthz", get(healthz))
        .fallback(unknown_path)
        .with_state(state)
}

/// `GET /healthz`.
async fn healthz() -> &'static str {
    "ok\n"
}

async fn unknown_path() -> ServeError {
    ServeError::NotFound("no such path".to_string())
}

/// `GET` or `POST /sf_sync`.
async fn sf_sync(
    State(state): State<AppState>,
    peer: Option<Extension<Peer>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ServeError> {
    let mut pairs = parse_pairs(query.as_deref().unwrap_or(""))?;
    if method == Method::POST {
        pairs.extend(read_form(&state, &headers, body).await?);
    }
    let params = SyncParams::from_pairs(pairs)?;
    authorize(
        &state.key,
        &headers,
        params.token.as_deref(),
        peer,
        "/sf_sync",
    )?;
    let config = state.jobs.config();
    let types = params.resolve_types(config)?;
    match params.sf_id()? {
        Some(id) => {
            let types = record_types(&params, types)?;
            let reports = sync_records(&state.jobs, &types, &id).await?;
            let (status, body) = records_json(&id, &reports);
            Ok((status, Json(body)).into_response())
        }
        None => {
            let run = state.jobs.start_full(&types).await?;
            let body = json!({ "run": run, "status": format!("/runs/{run}") });
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
    }
}

/// `GET /runs/ID`.
async fn run_status(
    State(state): State<AppState>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ServeError> {
    let params = SyncParams::from_pairs(parse_pairs(query.as_deref().unwrap_or(""))?)?;
    authorize(&state.key, &headers, params.token.as_deref(), peer, "/runs")?;
    let id: i64 = id
        .parse()
        .map_err(|_| ServeError::BadRequest("a run id is a number".to_string()))?;
    Ok(Json(state.jobs.run_status(id).await?))
}

/// `GET /`: the empty form.
async fn page_form(State(state): State<AppState>) -> Response {
    let view = PageView {
        config: state.jobs.config(),
        chosen_type: String::new(),
        chosen_id: String::new(),
        outcome: None,
        runs: None,
    };
    view.respond(StatusCode::OK)
}

/// `POST /`: the form pressed. Only the body counts, so the key is never
/// taken from a URL.
async fn page_submit(
    State(state): State<AppState>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let params = read_form(&state, &headers, body)
        .await
        .and_then(SyncParams::from_pairs);
    let mut view = PageView {
        config: state.jobs.config(),
        chosen_type: String::new(),
        chosen_id: String::new(),
        outcome: None,
        runs: None,
    };
    let params = match params {
        Ok(params) => params,
        Err(e) => return failed_page(view, e),
    };
    view.chosen_type = params.types.first().cloned().unwrap_or_default();
    view.chosen_id = params.id.clone().unwrap_or_default();
    if let Err(e) = authorize(&state.key, &headers, params.token.as_deref(), peer, "/") {
        return failed_page(view, e);
    }
    let (status, outcome) = match page_sync(&state, &params).await {
        Ok((status, outcome)) => (status, outcome),
        Err(e) => (e.status(), failed(&e)),
    };
    view.outcome = Some(outcome);
    view.runs = match state.jobs.recent_runs(PAGE_RUNS).await {
        Ok(runs) => Some(runs),
        Err(e) => {
            warn!("reading the latest runs for the control page: {e}");
            None
        }
    };
    view.respond(status)
}

/// What the control page's button asks for.
async fn page_sync(
    state: &AppState,
    params: &SyncParams,
) -> Result<(StatusCode, Outcome), ServeError> {
    let types = params.resolve_types(state.jobs.config())?;
    match params.sf_id()? {
        Some(id) => {
            let types = record_types(params, types)?;
            let reports = sync_records(&state.jobs, &types, &id).await?;
            let (status, _) = records_json(&id, &reports);
            let id = id.to_string();
            Ok((status, Outcome::Synced { id, reports }))
        }
        None => {
            let run = state.jobs.start_full(&types).await?;
            Ok((StatusCode::ACCEPTED, Outcome::Started { run }))
        }
    }
}

fn failed_page(mut view: PageView<'_>, e: ServeError) -> Response {
    let status = e.status();
    view.outcome = Some(failed(&e));
    view.respond(status)
}

fn failed(e: &ServeError) -> Outcome {
    let message = match e {
        ServeError::Forbidden => "the sync key is not valid".to_string(),
        other => other.to_string(),
    };
    Outcome::Failed {
        status: e.status(),
        message,
    }
}

/// The types a record request concerns: named ones, or the only one.
fn record_types<'c>(
    params: &SyncParams,
    types: Vec<&'c TypeConfig>,
) -> Result<Vec<&'c TypeConfig>, ServeError> {
    if params.types.is_empty() && types.len() != 1 {
        return Err(ServeError::BadRequest(
            "name the record's type with `types:list` or `type`".to_string(),
        ));
    }
    Ok(types)
}

/// Syncs `id` as each of `types`, in order; the first failure ends it.
async fn sync_records(
    jobs: &Arc<Jobs>,
    types: &[&TypeConfig],
    id: &SfId,
) -> Result<Vec<Arc<RecordReport>>, ServeError> {
    let mut reports = Vec::with_capacity(types.len());
    for t in types {
        reports.push(jobs.sync_record(t, id).await?);
    }
    Ok(reports)
}

/// The answer to a record sync: 200 when some type found the record, 404
/// when none did (the missing step ran all the same).
fn records_json(id: &SfId, reports: &[Arc<RecordReport>]) -> (StatusCode, Value) {
    let found = reports.iter().any(|r| r.found);
    let events: Vec<_> = reports.iter().flat_map(|r| &r.events).collect();
    let hook_errors: Vec<_> = reports.iter().flat_map(|r| &r.hook_errors).collect();
    let runs: Vec<_> = reports
        .iter()
        .map(|r| json!({ "run": r.run, "type": r.type_name, "found": r.found }))
        .collect();
    let mut body = json!({
        "sf_object_id": id.as_str(),
        "found": found,
        "events": events,
        "runs": runs,
        "hook_errors": hook_errors,
    });
    if found {
        return (StatusCode::OK, body);
    }
    let names: Vec<_> = reports
        .iter()
        .map(|r| format!("`{}`", r.type_name))
        .collect();
    body["error"] = json!(format!(
        "Salesforce has no record `{id}` that matches the criteria of {}",
        names.join(", ")
    ));
    (StatusCode::NOT_FOUND, body)
}

/// Checks the token from the `Authorization` header or the parameters.
fn authorize(
    key: &SyncKey,
    headers: &HeaderMap,
    param: Option<&str>,
    peer: Option<Extension<Peer>>,
    path: &str,
) -> Result<(), ServeError> {
    if key.accepts(bearer(headers).or(param)) {
        return Ok(());
    }
    let peer = peer.map_or_else(|| "an unknown peer".to_string(), |p| p.0 .0.to_string());
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let v: String = v.chars().filter(|c| !c.is_control()).take(100).collect();
            format!(" (forwarded for {v})")
        })
        .unwrap_or_default();
    match key.is_enabled() {
        true => warn!("refused `{path}` from {peer}{forwarded}: no valid sync key"),
        false => warn!("refused `{path}` from {peer}{forwarded}: `{KEY_VAR}` is not set"),
    }
    Err(ServeError::Forbidden)
}

/// Reads a urlencoded body, within the size and time limits.
async fn read_form(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<(String, String)>, ServeError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.max_body as u64) {
        return Err(ServeError::TooLarge(state.max_body));
    }
    let read = tokio::time::timeout(state.body_timeout, read_body(body, state.max_body));
    let bytes = read.await.map_err(|_| ServeError::Timeout)??;
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if !is_form(headers) {
        return Err(ServeError::UnsupportedMedia);
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ServeError::BadRequest("the request body is not UTF-8".to_string()))?;
    parse_pairs(text)
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, ServeError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ServeError::TooLarge(limit))
        }
        Err(e) => Err(ServeError::BadRequest(format!(
            "the request body could not be read: {e}"
        ))),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
