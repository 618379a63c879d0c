//! Renders stored records as the REST API's JSON, written straight into a
//! byte buffer page by page so large queries never build JSON trees.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::clock;
use crate::schema::{Computed, FieldType, Schema};
use crate::soql::plan::{self, ChildPlan, Column};
use crate::store::{Scalar, Store, Table};

/// What rendering needs besides the record: the store (for parents and
/// children), the API version for `attributes.url`, and queryAll-ness.
pub struct Context<'a> {
    pub store: &'a Store,
    pub version: &'a str,
    pub all_rows: bool,
}

/// Appends a JSON string literal.
pub fn push_str_json(out: &mut String, text: &str) {
    out.push('"');
    if !text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(text);
        out.push('"');
        return;
    }
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a value as JSON in the REST API's forms.
pub fn push_scalar(out: &mut String, kind: FieldType, value: &Scalar<'_>) {
    match value {
        Scalar::Null => out.push_str("null"),
        Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Scalar::Num(n) => push_number(out, kind, *n),
        Scalar::Text(t) => push_str_json(out, t),
        Scalar::Date(d) => {
            out.push('"');
            out.push_str(&clock::format_date(*d));
            out.push('"');
        }
        Scalar::DateTime(ms) => {
            out.push('"');
            clock::push_rest(out, *ms);
            out.push('"');
        }
    }
}

/// Integers without a fraction, other numbers as doubles (`5000.0`).
fn push_number(out: &mut String, kind: FieldType, n: f64) {
    if kind == FieldType::Int && n.fract() == 0.0 {
        let _ = write!(out, "{}", n as i64);
    } else {
        out.push_str(&serde_json::Number::from_f64(n).map_or("null".into(), |v| v.to_string()));
    }
}

/// Appends `"attributes":{"type":..,"url":..}`.
fn push_attributes(out: &mut String, schema: &Schema, id: &str, version: &str) {
    out.push_str("\"attributes\":{\"type\":");
    push_str_json(out, &schema.name);
    let _ = write!(
        out,
        ",\"url\":\"/services/data/{version}/sobjects/{}/{id}\"}}",
        schema.name
    );
}

/// Appends one field's value, computing compound fields from their parts.
fn push_field(out: &mut String, table: &Table, row: usize, field: usize) {
    let f = &table.schema.fields[field];
    match f.computed {
        Computed::Address => push_address(out, table, row, &f.name),
        _ => push_scalar(out, f.kind, &table.get(row, field)),
    }
}

/// The parts of a compound address, in the key order Salesforce uses.
pub const ADDRESS_PARTS: [(&str, &str); 8] = [
    ("city", "City"),
    ("country", "Country"),
    ("geocodeAccuracy", "GeocodeAccuracy"),
    ("latitude", "Latitude"),
    ("longitude", "Longitude"),
    ("postalCode", "PostalCode"),
    ("state", "State"),
    ("street", "Street"),
];

/// A compound address: an object of its parts, or null when all are null.
fn push_address(out: &mut String, table: &Table, row: usize, name: &str) {
    let prefix = name.strip_suffix("Address").unwrap_or(name);
    let fields = table.schema.address_parts(prefix);
    let parts: Vec<(&str, FieldType, Scalar<'_>)> = ADDRESS_PARTS
        .iter()
        .zip(fields)
        .map(|((key, _), field)| {
            let kind = field.map_or(FieldType::Text, |f| table.schema.fields[f].kind);
            let value = field.map_or(Scalar::Null, |f| table.get(row, f));
            (*key, kind, value)
        })
        .collect();
    if parts.iter().all(|(_, _, v)| v.is_null()) {
        out.push_str("null");
        return;
    }
    out.push('{');
    for (i, (key, kind, value)) in parts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{key}\":");
        push_scalar(out, *kind, value);
    }
    out.push('}');
}

/// Children of the parents on one page, grouped by parent id, for each
/// child subquery of a plan.
pub struct ChildIndex {
    by_parent: Vec<HashMap<String, Vec<u32>>>,
    /// Where the rest of each over-long child list is served, by slot and
    /// parent id.
    next_urls: Vec<HashMap<String, String>>,
    /// How many children a parent's list carries inline.
    page_size: usize,
}

impl ChildIndex {
    /// Scans each child table once for the children of `parents`.
    pub fn build(
        ctx: &Context<'_>,
        table: &Table,
        parents: &[u32],
        columns: &[Column],
    ) -> ChildIndex {
        let ids: std::collections::HashSet<String> = parents
            .iter()
            .map(|&r| table.id(r as usize).into_owned())
            .collect();
        let by_parent: Vec<_> = child_plans(columns)
            .map(|child| group_children(ctx, child, &ids))
            .collect();
        ChildIndex {
            next_urls: vec![HashMap::new(); by_parent.len()],
            by_parent,
            page_size: usize::MAX,
        }
    }

    /// Cuts every child list longer than `size` to its first `size`
    /// records; `open` gets the child plan and the whole list and returns
    /// the `nextRecordsUrl` that serves the rest.
    pub fn page(
        &mut self,
        size: usize,
        columns: &[Column],
        mut open: impl FnMut(&ChildPlan, Vec<u32>) -> String,
    ) {
        self.page_size = size;
        for (slot, child) in child_plans(columns).enumerate() {
            for (parent, rows) in &self.by_parent[slot] {
                if rows.len() > size {
                    let url = open(child, rows.clone());
                    self.next_urls[slot].insert(parent.clone(), url);
                }
            }
        }
    }
}

/// The child subqueries of a plan, in SELECT order.
fn child_plans(columns: &[Column]) -> impl Iterator<Item = &ChildPlan> {
    columns.iter().filter_map(|c| match c {
        Column::Child(child) => Some(child.as_ref()),
        _ => None,
    })
}

/// The matching children of each parent id, filtered, ordered and limited.
fn group_children(
    ctx: &Context<'_>,
    child: &ChildPlan,
    parents: &std::collections::HashSet<String>,
) -> HashMap<String, Vec<u32>> {
    let Some(table) = ctx.store.table(&child.plan.schema.name) else {
        return HashMap::new();
    };
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for row in 0..table.row_count() {
        if !plan::visible(table, row, ctx.all_rows) {
            continue;
        }
        if let Scalar::Text(parent) = table.get(row, child.parent_field) {
            if parents.contains(parent.as_ref()) {
                groups.entry(parent.into_owned()).or_default().push(row);
            }
        }
    }
    groups
        .into_iter()
        .map(|(parent, rows)| {
            let selected = child.plan.select_rows(ctx.store, table, rows.into_iter());
            (parent, selected)
        })
        .collect()
}

/// Appends one record as a query returns it.
pub fn push_record(
    out: &mut String,
    ctx: &Context<'_>,
    table: &Table,
    row: usize,
    columns: &[Column],
    children: Option<&ChildIndex>,
) {
    out.push('{');
    push_attributes(out, &table.schema, &table.id(row), ctx.version);
    let mut child_slot = 0;
    for column in columns {
        out.push(',');
        match column {
            Column::Field(field) => {
                push_str_json(out, &table.schema.fields[*field].name);
                out.push(':');
                push_field(out, table, row, *field);
            }
            Column::Parent {
                field,
                relationship,
                target,
                columns,
            } => {
                push_str_json(out, relationship);
                out.push(':');
                push_parent(out, ctx, table.get(row, *field), target, columns);
            }
            Column::Child(child) => {
                push_str_json(out, &child.relationship);
                out.push(':');
                let id = table.id(row);
                let rows = children.and_then(|c| c.by_parent[child_slot].get(id.as_ref()));
                let rows = rows.map(Vec::as_slice).unwrap_or(&[]);
                let next = children.and_then(|c| {
                    let url = c.next_urls[child_slot].get(id.as_ref())?;
                    Some((url.as_str(), c.page_size))
                });
                push_child_result(out, ctx, child, rows, next);
                child_slot += 1;
            }
        }
    }
    out.push('}');
}

/// A parent relationship: the nested record, or null.
fn push_parent(
    out: &mut String,
    ctx: &Context<'_>,
    id: Scalar<'_>,
    target: &Schema,
    columns: &[Column],
) {
    let found = match (&id, ctx.store.table(&target.name)) {
        (Scalar::Text(id), Some(table)) => table.find(id).map(|row| (table, row)),
        _ => None,
    };
    match found {
        Some((table, row)) => push_record(out, ctx, table, row, columns, None),
        None => out.push_str("null"),
    }
}

/// A child subquery's nested query result, or null when empty. With
/// `next`, only the first page of the list is inline and the result points
/// at the rest.
fn push_child_result(
    out: &mut String,
    ctx: &Context<'_>,
    child: &ChildPlan,
    rows: &[u32],
    next: Option<(&str, usize)>,
) {
    let Some(table) = ctx
        .store
        .table(&child.plan.schema.name)
        .filter(|_| !rows.is_empty())
    else {
        out.push_str("null");
        return;
    };
    let _ = write!(out, "{{\"totalSize\":{},", rows.len());
    let inline = match next {
        Some((url, size)) => {
            out.push_str("\"done\":false,\"nextRecordsUrl\":");
            push_str_json(out, url);
            &rows[..size.min(rows.len())]
        }
        None => {
            out.push_str("\"done\":true");
            rows
        }
    };
    out.push_str(",\"records\":[");
    for (i, &row) in inline.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_record(out, ctx, table, row as usize, &child.plan.columns, None);
    }
    out.push_str("]}");
}

/// Every field of a record, as JSON, without `attributes`.
pub fn record_value(table: &Table, row: usize) -> Value {
    let mut out = String::from("{");
    for (field, f) in table.schema.fields.iter().enumerate() {
        if field > 0 {
            out.push(',');
        }
        push_str_json(&mut out, &f.name);
        out.push(':');
        push_field(&mut out, table, row, field);
    }
    out.push('}');
    serde_json::from_str(&out).unwrap_or(Value::Null)
}

/// Every field of a record with `attributes` first, as retrieve returns it,
/// or only `fields` when given.
pub fn retrieve_json(
    ctx: &Context<'_>,
    table: &Table,
    row: usize,
    fields: Option<&[usize]>,
) -> String {
    let all: Vec<usize> = (0..table.schema.fields.len()).collect();
    let columns: Vec<Column> = fields
        .unwrap_or(&all)
        .iter()
        .map(|&f| Column::Field(f))
        .collect();
    let mut out = String::new();
    push_record(&mut out, ctx, table, row, &columns, None);
    out
}
