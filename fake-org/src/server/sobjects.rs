//! Per-sobject resources: API versions, describe global, describe, record
//! retrieve, and the `updated/` and `deleted/` replication endpoints.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{json_text, not_found, sf_error, valid_version, Shared};
use crate::clock::{self, Millis};
use crate::render::{self, Context};
use crate::schema;
use crate::store::{RowState, Table};

/// How far back `updated/` may look.
const UPDATED_WINDOW_MS: Millis = 30 * 86_400_000;
/// How long deleted records stay in the recycle bin.
const DELETED_WINDOW_MS: Millis = 15 * 86_400_000;
/// Most ids `updated/` and `deleted/` return.
const MAX_IDS: usize = 600_000;

/// `GET /services/data`: the API versions served.
pub async fn versions() -> Response {
    let list: Vec<Value> = (55..=62)
        .map(|n| json!({"label": format!("v{n}.0"), "url": format!("/services/data/v{n}.0"), "version": format!("{n}.0")}))
        .collect();
    Json(Value::Array(list)).into_response()
}

/// `GET .../sobjects`: describe global.
pub async fn describe_global(Path(version): Path<String>) -> Response {
    if !valid_version(&version) {
        return not_found();
    }
    let sobjects: Vec<Value> = schema::all()
        .iter()
        .map(|s| s.global_entry(&version))
        .collect();
    Json(json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})).into_response()
}

/// `GET .../sobjects/{Type}/describe`.
pub async fn describe(
    State(shared): State<Arc<Shared>>,
    Path((version, sobject)): Path<(String, String)>,
) -> Response {
    match (valid_version(&version), schema::find(&sobject)) {
        (true, Some(schema)) => json_text(
            StatusCode::OK,
            schema.describe_json(&version, shared.base_url()),
        ),
        _ => not_found(),
    }
}

/// `GET .../sobjects/{Type}/{Id}[?fields=A,B]`.
pub async fn retrieve(
    State(shared): State<Arc<Shared>>,
    Path((version, sobject, id)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if !valid_version(&version) {
        return not_found();
    }
    let org = shared.org.read().unwrap_or_else(|e| e.into_inner());
    let Some(table) = org.store.table(&sobject) else {
        return not_found();
    };
    let Some(row) = table.find(&id) else {
        return not_found();
    };
    if table.state(row) != RowState::Live {
        return sf_error(
            StatusCode::NOT_FOUND,
            "ENTITY_IS_DELETED",
            "entity is deleted",
        );
    }
    let fields = match params
        .get("fields")
        .map(|list| field_list(table, list))
        .transpose()
    {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let ctx = Context {
        store: &org.store,
        version: &version,
        all_rows: false,
    };
    json_text(
        StatusCode::OK,
        render::retrieve_json(&ctx, table, row, fields.as_deref()),
    )
}

/// Resolves `?fields=A,B` to field indexes, or the INVALID_FIELD answer.
fn field_list(table: &Table, list: &str) -> Result<Vec<usize>, Response> {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            table.schema.field_index(name).ok_or_else(|| {
                let message = format!(
                    "No such column '{name}' on sobject of type {}",
                    table.schema.name
                );
                sf_error(StatusCode::BAD_REQUEST, "INVALID_FIELD", &message)
            })
        })
        .collect()
}

/// The `start`/`end` window of a replication request, truncated to whole
/// minutes as Salesforce does; an unknown API version is not found.
fn window(version: &str, params: &HashMap<String, String>) -> Result<(Millis, Millis), Response> {
    if !valid_version(version) {
        return Err(not_found());
    }
    let parse = |key: &str| -> Result<Millis, Response> {
        let Some(text) = params.get(key) else {
            return Err(sf_error(
                StatusCode::BAD_REQUEST,
                "MISSING_ARGUMENT",
                &format!("{key} was not specified"),
            ));
        };
        let ms = clock::parse_datetime(text).ok_or_else(|| {
            sf_error(
                StatusCode::BAD_REQUEST,
                "INVALID_REPLICATION_DATE",
                &format!("unable to parse {key}: {text}"),
            )
        })?;
        Ok(ms - ms.rem_euclid(60_000))
    };
    let (start, end) = (parse("start")?, parse("end")?);
    if start > end {
        return Err(sf_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate",
        ));
    }
    Ok((start, end))
}

/// The end of the covered window: `end`, but never past now.
fn latest_covered(shared: &Shared, end: Millis) -> Millis {
    let now = shared.clock.now();
    end.min(now - now.rem_euclid(60_000))
}

/// `GET .../sobjects/{Type}/updated/?start=&end=`.
pub async fn updated(
    State(shared): State<Arc<Shared>>,
    Path((version, sobject)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (start, end) = match window(&version, &params) {
        Ok(w) => w,
        Err(response) => return response,
    };
    if start < shared.clock.now() - UPDATED_WINDOW_MS {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REPLICATION_DATE",
            "startDate cannot be more than 30 days ago",
        );
    }
    let org = shared.org.read().unwrap_or_else(|e| e.into_inner());
    let Some(table) = org.store.table(&sobject) else {
        return not_found();
    };
    let ids: Vec<String> = (0..table.row_count())
        .filter(|&row| table.state(row) == RowState::Live)
        .filter(|&row| table.modstamp(row).is_some_and(|t| t >= start && t < end))
        .map(|row| table.id(row).into_owned())
        .collect();
    if ids.len() > MAX_IDS {
        return sf_error(StatusCode::BAD_REQUEST, "EXCEEDED_ID_LIMIT", "too many ids");
    }
    let latest = clock::format_rest(latest_covered(&shared, end));
    Json(json!({"ids": ids, "latestDateCovered": latest})).into_response()
}

/// `GET .../sobjects/{Type}/deleted/?start=&end=`.
pub async fn deleted(
    State(shared): State<Arc<Shared>>,
    Path((version, sobject)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (start, end) = match window(&version, &params) {
        Ok(w) => w,
        Err(response) => return response,
    };
    let org = shared.org.read().unwrap_or_else(|e| e.into_inner());
    let Some(table) = org.store.table(&sobject) else {
        return not_found();
    };
    let earliest = earliest_available(&shared);
    let mut records: Vec<(Millis, String)> = table
        .deletions()
        .filter(|&(row, at)| {
            table.state(row) == RowState::SoftDeleted && at >= start && at < end && at >= earliest
        })
        .map(|(row, at)| (at, table.id(row).into_owned()))
        .collect();
    records.sort();
    if records.len() > MAX_IDS {
        return sf_error(StatusCode::BAD_REQUEST, "EXCEEDED_ID_LIMIT", "too many ids");
    }
    let list: Vec<Value> = records
        .into_iter()
        .map(|(at, id)| json!({"id": id, "deletedDate": clock::format_rest(at)}))
        .collect();
    Json(json!({
        "deletedRecords": list,
        "earliestDateAvailable": clock::format_rest(earliest),
        "latestDateCovered": clock::format_rest(latest_covered(&shared, end)),
    }))
    .into_response()
}

/// The oldest deletion still on record: 15 days back, or when the recycle
/// bin was last emptied if later.
fn earliest_available(shared: &Shared) -> Millis {
    let now = shared.clock.now();
    let window = now - DELETED_WINDOW_MS;
    let window = window - window.rem_euclid(60_000);
    window.max(shared.bin_emptied_at.load(Ordering::SeqCst))
}
