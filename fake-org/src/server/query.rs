//! `query` and `queryAll`: run SOQL, page the rows through query locators
//! (`nextRecordsUrl`), and render each page's records on demand.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{json_text, lock, not_found, sf_error, valid_version, Shared};
use crate::clock::Millis;
use crate::render::{self, ChildIndex, Context};
use crate::soql::{self, Plan};

/// Open query cursors; Salesforce keeps a handful per user and times idle
/// ones out.
const MAX_CURSORS: usize = 10;
/// Open cursors over the rest of child subquery lists; one query page can
/// open hundreds, so they are kept apart from the query cursors.
const MAX_CHILD_CURSORS: usize = 10_000;
/// Idle time after which a locator stops working.
const CURSOR_IDLE_MS: Millis = 15 * 60 * 1000;
/// Page size bounds for `Sforce-Query-Options: batchSize=N`.
const MIN_BATCH: usize = 200;
const MAX_BATCH: usize = 2000;

/// A query whose rows are being paged out.
#[derive(Clone)]
pub(crate) struct Cursor {
    plan: Arc<Plan>,
    rows: Arc<Vec<u32>>,
    all_rows: bool,
    page_size: usize,
    last_used: Millis,
    /// For the rest of a child list, the cursor of the parent page it
    /// came with.
    parent: Option<String>,
}

/// The open cursors, oldest first.
#[derive(Default)]
pub(crate) struct Cursors {
    open: HashMap<String, Cursor>,
    order: VecDeque<String>,
    child_order: VecDeque<String>,
    next: u64,
}

impl Cursors {
    /// Opens a query cursor, dropping the oldest beyond the limit.
    fn add(&mut self, cursor: Cursor, pod: &str) -> String {
        let id = self.insert(cursor, pod);
        self.order.push_back(id.clone());
        evict(&mut self.open, &mut self.order, MAX_CURSORS);
        id
    }

    /// Opens a cursor over the rest of one child list.
    fn add_child(&mut self, cursor: Cursor, pod: &str) -> String {
        let id = self.insert(cursor, pod);
        self.child_order.push_back(id.clone());
        evict(&mut self.open, &mut self.child_order, MAX_CHILD_CURSORS);
        id
    }

    /// Closes the child lists' cursors of `parent`'s pages so far: as in
    /// Salesforce, moving on to a parent's next page invalidates them.
    fn close_children_of(&mut self, parent: &str) {
        self.open
            .retain(|_, cursor| cursor.parent.as_deref() != Some(parent));
        let open = &self.open;
        self.child_order.retain(|id| open.contains_key(id));
    }

    fn insert(&mut self, cursor: Cursor, pod: &str) -> String {
        self.next += 1;
        let id = crate::ids::make_id("01g", pod, self.next);
        self.open.insert(id.clone(), cursor);
        id
    }
}

/// Closes the oldest cursors of `order` until at most `max` are open.
fn evict(open: &mut HashMap<String, Cursor>, order: &mut VecDeque<String>, max: usize) {
    while order.len() > max {
        if let Some(old) = order.pop_front() {
            open.remove(&old);
        }
    }
}

/// `GET .../query?q=`
pub async fn query(
    State(shared): State<Arc<Shared>>,
    Path(version): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    run_query(&shared, &version, params.get("q"), &headers, false)
}

/// `GET .../queryAll?q=`: deleted rows too.
pub async fn query_all(
    State(shared): State<Arc<Shared>>,
    Path(version): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    run_query(&shared, &version, params.get("q"), &headers, true)
}

fn run_query(
    shared: &Shared,
    version: &str,
    q: Option<&String>,
    headers: &HeaderMap,
    all_rows: bool,
) -> Response {
    if !valid_version(version) {
        return not_found();
    }
    let Some(text) = q.filter(|q| !q.trim().is_empty()) else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "A query string has to be specified",
        );
    };
    let plan = match soql::parse(text).and_then(|query| soql::compile(&query)) {
        Ok(plan) => Arc::new(plan),
        Err(e) => return sf_error(StatusCode::BAD_REQUEST, e.code, &e.message(text)),
    };
    log::trace!("query: {text}");
    let org = shared.org.read().unwrap_or_else(|e| e.into_inner());
    let rows = plan.execute(&org.store, all_rows);
    if let Some(aggregate) = &plan.aggregate {
        return aggregate_results(&org.store, &plan, aggregate, &rows);
    }
    if plan.count_only {
        return json_text(
            StatusCode::OK,
            format!(
                "{{\"totalSize\":{},\"done\":true,\"records\":[]}}",
                rows.len()
            ),
        );
    }
    let page_size = page_size(shared, batch_size(headers));
    let cursor = Cursor {
        plan,
        rows: Arc::new(rows),
        all_rows,
        page_size,
        last_used: shared.clock.now(),
        parent: None,
    };
    if cursor.rows.len() <= page_size {
        return json_text(
            StatusCode::OK,
            render_page(shared, &org.store, &cursor, 0, version, ""),
        );
    }
    let id = lock(&shared.cursors).add(cursor.clone(), &org.store.pod);
    json_text(
        StatusCode::OK,
        render_page(shared, &org.store, &cursor, 0, version, &id),
    )
}

/// The groups of an aggregate query, all on one page as Salesforce sends
/// them: `AggregateResult` records with columns `expr0`, `expr1`, ...
fn aggregate_results(
    store: &crate::store::Store,
    plan: &soql::Plan,
    aggregate: &soql::plan::Aggregate,
    rows: &[u32],
) -> Response {
    let groups = match store.table(&plan.schema.name) {
        Some(table) => aggregate.groups(store, table, rows),
        None => Vec::new(),
    };
    if groups.len() > soql::plan::MAX_GROUPS {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "Aggregate query does not support queryMore(), use LIMIT to restrict the results to a single batch",
        );
    }
    let records: Vec<serde_json::Value> = groups
        .iter()
        .map(|(keys, measures)| {
            let mut record = serde_json::Map::new();
            record.insert(
                "attributes".into(),
                serde_json::json!({"type": "AggregateResult"}),
            );
            for (i, column) in aggregate.columns.iter().enumerate() {
                let value = match *column {
                    soql::plan::AggColumn::Key(k) => serde_json::json!(keys[k]),
                    soql::plan::AggColumn::Measure(m) => aggregate.render_measure(m, measures[m]),
                };
                record.insert(format!("expr{i}"), value);
            }
            serde_json::Value::Object(record)
        })
        .collect();
    let body = serde_json::json!({
        "totalSize": records.len(),
        "done": true,
        "records": records,
    });
    json_text(StatusCode::OK, body.to_string())
}

/// `GET .../query/{cursor}-{offset}` (or under queryAll).
pub async fn next_page(
    State(shared): State<Arc<Shared>>,
    Path((version, locator)): Path<(String, String)>,
) -> Response {
    if !valid_version(&version) {
        return not_found();
    }
    let invalid = || {
        sf_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        )
    };
    let Some((id, offset)) = locator.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let now = shared.clock.now();
    let cursor = {
        let mut cursors = lock(&shared.cursors);
        let Some(cursor) = cursors.open.get_mut(id) else {
            return invalid();
        };
        if now - cursor.last_used > CURSOR_IDLE_MS || offset > cursor.rows.len() {
            return invalid();
        }
        cursor.last_used = now;
        cursor.page_size = cursor.page_size.min(page_size(&shared, None));
        let cursor = cursor.clone();
        if cursor.parent.is_none() {
            cursors.close_children_of(id);
        }
        cursor
    };
    let org = shared.org.read().unwrap_or_else(|e| e.into_inner());
    json_text(
        StatusCode::OK,
        render_page(&shared, &org.store, &cursor, offset, &version, id),
    )
}

/// The `batchSize` of `Sforce-Query-Options`, clamped to 200..2000.
fn batch_size(headers: &HeaderMap) -> Option<usize> {
    let options = headers.get("sforce-query-options")?.to_str().ok()?;
    let size = options
        .split(',')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("batchSize"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())?;
    Some(size.clamp(MIN_BATCH, MAX_BATCH))
}

/// The page size for a request: the client's hint capped by the server.
fn page_size(shared: &Shared, hint: Option<usize>) -> usize {
    let requested = hint.unwrap_or(MAX_BATCH);
    match shared.settings().page_size {
        Some(cap) => requested.min(cap.max(1)),
        None => requested,
    }
}

/// Renders the page starting at `offset`; `cursor_id` names the locator
/// of the following page, if any.
fn render_page(
    shared: &Shared,
    store: &crate::store::Store,
    cursor: &Cursor,
    offset: usize,
    version: &str,
    cursor_id: &str,
) -> String {
    let end = (offset + cursor.page_size).min(cursor.rows.len());
    let page = &cursor.rows[offset..end];
    let done = end >= cursor.rows.len();
    let mut out = String::with_capacity(page.len() * 600 + 128);
    let _ = write!(
        out,
        "{{\"totalSize\":{},\"done\":{done},",
        cursor.rows.len()
    );
    if !done {
        let endpoint = if cursor.all_rows { "queryAll" } else { "query" };
        let _ = write!(
            out,
            "\"nextRecordsUrl\":\"/services/data/{version}/{endpoint}/{cursor_id}-{end}\","
        );
    }
    out.push_str("\"records\":[");
    let Some(table) = store.table(&cursor.plan.schema.name) else {
        out.push_str("]}");
        return out;
    };
    let ctx = Context {
        store,
        version,
        all_rows: cursor.all_rows,
    };
    let children = cursor
        .plan
        .has_subquery
        .then(|| index_children(shared, &ctx, table, page, cursor, cursor_id));
    for (i, &row) in page.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        render::push_record(
            &mut out,
            &ctx,
            table,
            row as usize,
            &cursor.plan.columns,
            children.as_ref(),
        );
    }
    out.push_str("]}");
    out
}

/// The children of one page's parents, with over-long child lists cut to
/// the child page size and cursors opened for the rest.
fn index_children(
    shared: &Shared,
    ctx: &Context<'_>,
    table: &crate::store::Table,
    page: &[u32],
    cursor: &Cursor,
    cursor_id: &str,
) -> ChildIndex {
    let columns = &cursor.plan.columns;
    let mut index = ChildIndex::build(ctx, table, page, columns);
    let Some(size) = shared.settings().child_page_size else {
        return index;
    };
    let endpoint = if cursor.all_rows { "queryAll" } else { "query" };
    index.page(size, columns, |child, rows| {
        let rest = Cursor {
            plan: Arc::new(child.plan.clone()),
            rows: Arc::new(rows),
            all_rows: cursor.all_rows,
            page_size: size,
            last_used: shared.clock.now(),
            parent: Some(cursor_id.to_string()),
        };
        let id = lock(&shared.cursors).add_child(rest, &ctx.store.pod);
        format!("/services/data/{}/{endpoint}/{id}-{size}", ctx.version)
    });
    index
}
