//! Checks a parsed query against the schemas (names, literal types) and
//! evaluates it: which rows match, in which order, and which columns to
//! render for each.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::parse::{Expr, Lit, Literal, Name, OrderKey, Path, Query, SelectItem};
use super::SoqlError;
use crate::clock;
use crate::schema::{self, Computed, FieldType, Schema};
use crate::store::{RowState, Scalar, Store, Table};

/// A field reached from the queried sobject, through zero or more parent
/// relationships.
#[derive(Debug, Clone)]
pub struct FieldPath {
    /// The sobject the path starts from.
    root: &'static Schema,
    /// Reference fields to follow, each with the sobject it leads to.
    hops: Vec<(usize, &'static Schema)>,
    pub schema: &'static Schema,
    pub field: usize,
    /// The path in canonical spelling, as Bulk CSV headers show it.
    pub label: String,
}

/// What to render for each record.
#[derive(Debug, Clone)]
pub enum Column {
    Field(usize),
    Parent {
        field: usize,
        relationship: String,
        target: &'static Schema,
        columns: Vec<Column>,
    },
    Child(Box<ChildPlan>),
}

/// A child subquery and the relationship it reads.
#[derive(Debug, Clone)]
pub struct ChildPlan {
    pub relationship: String,
    /// The reference field on the child pointing at the parent.
    pub parent_field: usize,
    pub plan: Plan,
}

/// A compiled query.
#[derive(Debug, Clone)]
pub struct Plan {
    pub schema: &'static Schema,
    pub columns: Vec<Column>,
    /// Flat selected fields, in SELECT order (no subqueries).
    pub paths: Vec<FieldPath>,
    pub count_only: bool,
    pub has_subquery: bool,
    pub has_compound: bool,
    /// For `GROUP BY` or an aggregate function: what to group and count.
    pub aggregate: Option<Aggregate>,
    filter: Option<Cond>,
    order: Vec<SortKey>,
    limit: Option<usize>,
    offset: Option<usize>,
}

#[derive(Debug, Clone)]
struct SortKey {
    path: FieldPath,
    descending: bool,
    nulls_last: bool,
}

#[derive(Debug, Clone)]
enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Compare(FieldPath, &'static str, Scalar<'static>),
    Like(FieldPath, Vec<LikePart>, bool),
    In(FieldPath, Vec<Scalar<'static>>, bool),
    Includes(FieldPath, Vec<Vec<String>>, bool),
}

/// One element of a LIKE pattern.
#[derive(Debug, Clone, PartialEq)]
enum LikePart {
    Char(char),
    One,
    Many,
}

const NO_COLUMN_HINT: &str = "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.";
const NO_RELATIONSHIP_HINT: &str = "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.";

/// Compiles a top-level query.
pub fn compile(query: &Query) -> Result<Plan, SoqlError> {
    let Some(schema) = schema::find(&query.from.text).map(|s| &**s) else {
        return Err(SoqlError::new(
            "INVALID_TYPE",
            query.from.pos,
            format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                query.from.text
            ),
        ));
    };
    compile_for(query, schema, true)
}

/// Compiles a query against a known sobject; subqueries only at the top.
fn compile_for(query: &Query, schema: &'static Schema, top: bool) -> Result<Plan, SoqlError> {
    let mut plan = Plan {
        schema,
        columns: Vec::new(),
        paths: Vec::new(),
        count_only: false,
        has_subquery: false,
        has_compound: false,
        aggregate: None,
        filter: None,
        order: Vec::new(),
        limit: query.limit,
        offset: query.offset,
    };
    let grouped = !query.group.is_empty()
        || query
            .select
            .iter()
            .any(|item| matches!(item, SelectItem::Func { .. }));
    if grouped {
        plan.aggregate = Some(compile_aggregate(schema, query, top)?);
    } else {
        for item in &query.select {
            add_select_item(&mut plan, item, query, top)?;
        }
    }
    plan.filter = query
        .filter
        .as_ref()
        .map(|e| compile_expr(schema, e))
        .transpose()?;
    plan.order = query
        .order
        .iter()
        .map(|key| compile_order_key(schema, key))
        .collect::<Result<_, _>>()?;
    Ok(plan)
}

fn add_select_item(
    plan: &mut Plan,
    item: &SelectItem,
    query: &Query,
    top: bool,
) -> Result<(), SoqlError> {
    match item {
        SelectItem::Count(pos) => {
            if query.select.len() > 1 || !top {
                return Err(SoqlError::new(
                    "MALFORMED_QUERY",
                    *pos,
                    "COUNT() must be the only element in the SELECT list",
                ));
            }
            plan.count_only = true;
        }
        SelectItem::Path(path) => {
            let resolved = resolve(plan.schema, path)?;
            let field = &resolved.schema.fields[resolved.field];
            plan.has_compound |= matches!(field.computed, Computed::Address | Computed::Location);
            insert_column(&mut plan.columns, &resolved, 0);
            plan.paths.push(resolved);
        }
        SelectItem::Func { name, .. } => {
            return Err(SoqlError::new(
                "MALFORMED_QUERY",
                name.pos,
                "functions are only known in aggregate queries",
            ));
        }
        SelectItem::Subquery(sub) => {
            if !top {
                return Err(SoqlError::new(
                    "MALFORMED_QUERY",
                    sub.from.pos,
                    "nested subqueries are not supported",
                ));
            }
            plan.has_subquery = true;
            let child = compile_child(plan.schema, sub)?;
            plan.columns.push(Column::Child(Box::new(child)));
        }
    }
    Ok(())
}

/// The part of a date a group is keyed by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DatePart {
    Year,
    Month,
}

/// One output column of an aggregate query, named `expr0`, `expr1`, ...
/// in SELECT order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggColumn {
    /// The value of a GROUP BY key, by its index.
    Key(usize),
    /// The value of an aggregate function, by its index.
    Measure(usize),
}

/// An aggregate function the fake org computes per group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// `COUNT(field)`: the rows with the field set.
    Count,
    /// `MIN(field)` of a date or datetime.
    Min,
    /// `MAX(field)` of a date or datetime.
    Max,
}

/// What an aggregate query groups by and returns. The fake org groups
/// only by `CALENDAR_YEAR` and `CALENDAR_MONTH` of a date or datetime
/// (in UTC), counts with `COUNT(field)`, and takes `MIN` and `MAX` of
/// dates and datetimes.
#[derive(Debug, Clone)]
pub struct Aggregate {
    keys: Vec<(DatePart, FieldPath)>,
    measured: Vec<(Measure, FieldPath)>,
    pub columns: Vec<AggColumn>,
}

/// Most groups an aggregate query may return: it has no further pages.
pub const MAX_GROUPS: usize = 2000;

fn compile_aggregate(
    schema: &'static Schema,
    query: &Query,
    top: bool,
) -> Result<Aggregate, SoqlError> {
    let refuse = |pos: usize, detail: String| Err(SoqlError::new("MALFORMED_QUERY", pos, detail));
    if !top || !query.order.is_empty() || query.limit.is_some() || query.offset.is_some() {
        return refuse(
            query.from.pos,
            "the fake org's aggregate queries take only WHERE and GROUP BY".into(),
        );
    }
    let mut keys = Vec::new();
    for item in &query.group {
        let SelectItem::Func { name, arg } = item else {
            return refuse(
                query.from.pos,
                "the fake org groups only by CALENDAR_YEAR or CALENDAR_MONTH".into(),
            );
        };
        let Some(part) = date_part(name) else {
            return refuse(name.pos, format!("cannot group by {}", name.text));
        };
        let path = resolve(schema, arg)?;
        let field = &path.schema.fields[path.field];
        if !matches!(field.kind, FieldType::Date | FieldType::Datetime) {
            return refuse(
                arg.pos(),
                format!("{} needs a date or datetime field", name.text),
            );
        }
        keys.push((part, path));
    }
    let mut measured = Vec::new();
    let mut columns = Vec::new();
    for item in &query.select {
        match item {
            SelectItem::Func { name, arg } if name.text == "COUNT" => {
                measured.push((Measure::Count, resolve(schema, arg)?));
                columns.push(AggColumn::Measure(measured.len() - 1));
            }
            SelectItem::Func { name, arg } if name.text == "MIN" || name.text == "MAX" => {
                let path = resolve(schema, arg)?;
                let field = &path.schema.fields[path.field];
                if !matches!(field.kind, FieldType::Date | FieldType::Datetime) {
                    return refuse(
                        arg.pos(),
                        format!(
                            "the fake org takes {} of dates and datetimes only",
                            name.text
                        ),
                    );
                }
                let measure = if name.text == "MIN" {
                    Measure::Min
                } else {
                    Measure::Max
                };
                measured.push((measure, path));
                columns.push(AggColumn::Measure(measured.len() - 1));
            }
            SelectItem::Func { name, arg } => {
                let label = resolve(schema, arg)?.label;
                let at = date_part(name).and_then(|part| {
                    keys.iter()
                        .position(|(p, path)| *p == part && path.label == label)
                });
                match at {
                    Some(i) => columns.push(AggColumn::Key(i)),
                    None => {
                        return refuse(
                            name.pos,
                            format!("Field must be grouped or aggregated: {label}"),
                        )
                    }
                }
            }
            SelectItem::Path(path) => {
                return refuse(
                    path.pos(),
                    format!(
                        "Field must be grouped or aggregated: {}",
                        resolve(schema, path)?.label
                    ),
                );
            }
            SelectItem::Count(pos) => {
                return refuse(*pos, "COUNT() is not allowed with GROUP BY".into());
            }
            SelectItem::Subquery(sub) => {
                return refuse(
                    sub.from.pos,
                    "subqueries are not allowed in an aggregate query".into(),
                );
            }
        }
    }
    Ok(Aggregate {
        keys,
        measured,
        columns,
    })
}

/// The part of a date a function names, if it names one.
fn date_part(name: &Name) -> Option<DatePart> {
    match name.text.as_str() {
        "CALENDAR_YEAR" => Some(DatePart::Year),
        "CALENDAR_MONTH" => Some(DatePart::Month),
        _ => None,
    }
}

/// A date or datetime as milliseconds since the epoch (a date at its
/// midnight, UTC), for grouping and for `MIN` and `MAX`.
fn instant(value: &Scalar<'_>) -> Option<i64> {
    match *value {
        Scalar::DateTime(ms) => Some(ms),
        Scalar::Date(days) => Some(i64::from(days) * 86_400_000),
        _ => None,
    }
}

/// One group of an aggregate query: its key values and its measures.
pub type Group = (Vec<Option<i64>>, Vec<Option<i64>>);

impl Aggregate {
    /// Groups `rows` of `table` by the keys, in key order: each group's
    /// key values (`None` for a null date) and its measures (`None` for
    /// the `MIN` or `MAX` of a group where the field is never set).
    pub fn groups(&self, store: &Store, table: &Table, rows: &[u32]) -> Vec<Group> {
        let mut groups: std::collections::BTreeMap<Vec<Option<i64>>, Vec<Option<i64>>> =
            std::collections::BTreeMap::new();
        for &row in rows {
            let row = row as usize;
            let key: Vec<Option<i64>> = self
                .keys
                .iter()
                .map(|(part, path)| {
                    let date = clock::from_millis(instant(&read(store, table, row, path))?).date();
                    Some(match part {
                        DatePart::Year => i64::from(date.year()),
                        DatePart::Month => i64::from(u8::from(date.month())),
                    })
                })
                .collect();
            let values = groups.entry(key).or_insert_with(|| {
                self.measured
                    .iter()
                    .map(|(measure, _)| (*measure == Measure::Count).then_some(0))
                    .collect()
            });
            for (value, (measure, path)) in values.iter_mut().zip(&self.measured) {
                let field = read(store, table, row, path);
                *value = match (measure, instant(&field), *value) {
                    (Measure::Count, _, n) if matches!(field, Scalar::Null) => n,
                    (Measure::Count, _, n) => n.map(|n| n + 1),
                    (_, None, v) => v,
                    (_, Some(at), None) => Some(at),
                    (Measure::Min, Some(at), Some(v)) => Some(v.min(at)),
                    (Measure::Max, Some(at), Some(v)) => Some(v.max(at)),
                };
            }
        }
        groups.into_iter().collect()
    }

    /// A measure's value as Salesforce writes it: a number for `COUNT`,
    /// the field's own form for `MIN` and `MAX`, null for none.
    pub fn render_measure(&self, index: usize, value: Option<i64>) -> serde_json::Value {
        let (measure, path) = &self.measured[index];
        match (measure, value) {
            (_, None) => serde_json::Value::Null,
            (Measure::Count, Some(n)) => serde_json::json!(n),
            (_, Some(ms)) => match path.schema.fields[path.field].kind {
                FieldType::Date => {
                    clock::format_date(ms.div_euclid(86_400_000) as clock::Days).into()
                }
                _ => clock::format_rest(ms).into(),
            },
        }
    }
}

/// Compiles a child subquery whose FROM names a child relationship.
fn compile_child(parent: &'static Schema, sub: &Query) -> Result<ChildPlan, SoqlError> {
    let relationship = parent.child(&sub.from.text).ok_or_else(|| {
        SoqlError::new(
            "INVALID_TYPE",
            sub.from.pos,
            format!(
                "Didn't understand relationship '{}' in FROM part of query call. {NO_RELATIONSHIP_HINT}",
                sub.from.text
            ),
        )
    })?;
    let child_schema: &'static Schema =
        schema::find(&relationship.child_sobject).ok_or_else(|| {
            SoqlError::new("INVALID_TYPE", sub.from.pos, "child sobject is not served")
        })?;
    let parent_field = child_schema
        .field_index(&relationship.field)
        .ok_or_else(|| {
            SoqlError::new(
                "INVALID_TYPE",
                sub.from.pos,
                "child relationship has no field",
            )
        })?;
    Ok(ChildPlan {
        relationship: relationship.name.clone(),
        parent_field,
        plan: compile_for(sub, child_schema, false)?,
    })
}

/// Resolves a dotted path against a schema.
fn resolve(start: &'static Schema, path: &Path) -> Result<FieldPath, SoqlError> {
    let mut schema = start;
    let mut hops = Vec::new();
    let mut label = String::new();
    let (last, parents) = path
        .parts
        .split_last()
        .expect("a path has at least one part");
    for part in parents {
        let not_understood = || {
            SoqlError::new(
                "INVALID_FIELD",
                part.pos,
                format!(
                    "Didn't understand relationship '{}' in field path. {NO_RELATIONSHIP_HINT}",
                    part.text
                ),
            )
        };
        let field = schema
            .relationship_field(&part.text)
            .ok_or_else(not_understood)?;
        let target = schema.fields[field]
            .reference_to
            .as_deref()
            .ok_or_else(not_understood)?;
        let target: &'static Schema = schema::find(target).ok_or_else(not_understood)?;
        label.push_str(
            schema.fields[field]
                .relationship_name
                .as_deref()
                .unwrap_or(&part.text),
        );
        label.push('.');
        hops.push((field, target));
        schema = target;
    }
    let field = schema.field_index(&last.text).ok_or_else(|| {
        SoqlError::new(
            "INVALID_FIELD",
            last.pos,
            format!(
                "No such column '{}' on entity '{}'. {NO_COLUMN_HINT}",
                last.text, schema.name
            ),
        )
    })?;
    label.push_str(&schema.fields[field].name);
    Ok(FieldPath {
        root: start,
        hops,
        schema,
        field,
        label,
    })
}

/// Adds a resolved path to the column tree, merging shared parents.
fn insert_column(columns: &mut Vec<Column>, path: &FieldPath, depth: usize) {
    let Some(&(field, target)) = path.hops.get(depth) else {
        if !columns
            .iter()
            .any(|c| matches!(c, Column::Field(f) if *f == path.field))
        {
            columns.push(Column::Field(path.field));
        }
        return;
    };
    let existing = columns.iter_mut().find_map(|c| match c {
        Column::Parent {
            field: f, columns, ..
        } if *f == field => Some(columns),
        _ => None,
    });
    if let Some(children) = existing {
        insert_column(children, path, depth + 1);
        return;
    }
    let owner = if depth == 0 {
        path.root
    } else {
        path.hops[depth - 1].1
    };
    let relationship = owner.fields[field]
        .relationship_name
        .clone()
        .unwrap_or_default();
    let mut children = Vec::new();
    insert_column(&mut children, path, depth + 1);
    columns.push(Column::Parent {
        field,
        relationship,
        target,
        columns: children,
    });
}

fn compile_order_key(schema: &'static Schema, key: &OrderKey) -> Result<SortKey, SoqlError> {
    Ok(SortKey {
        path: resolve(schema, &key.path)?,
        descending: key.descending,
        nulls_last: key.nulls_last,
    })
}

fn compile_expr(schema: &'static Schema, expr: &Expr) -> Result<Cond, SoqlError> {
    let all = |items: &[Expr]| -> Result<Vec<Cond>, SoqlError> {
        items.iter().map(|e| compile_expr(schema, e)).collect()
    };
    Ok(match expr {
        Expr::And(items) => Cond::And(all(items)?),
        Expr::Or(items) => Cond::Or(all(items)?),
        Expr::Not(inner) => Cond::Not(Box::new(compile_expr(schema, inner)?)),
        Expr::Compare { path, op, lit } => {
            let path = filterable(schema, path)?;
            let value = coerce(&path, lit)?;
            Cond::Compare(path, op, value)
        }
        Expr::Like {
            path,
            pattern,
            negated,
        } => {
            let path = filterable(schema, path)?;
            Cond::Like(path, like_pattern(pattern)?, *negated)
        }
        Expr::In {
            path,
            list,
            negated,
        } => {
            let path = filterable(schema, path)?;
            let values = list
                .iter()
                .map(|lit| coerce(&path, lit))
                .collect::<Result<_, _>>()?;
            Cond::In(path, values, *negated)
        }
        Expr::Includes {
            path,
            list,
            excludes,
        } => {
            let path = filterable(schema, path)?;
            let sets = list
                .iter()
                .map(|lit| Ok(split_multi(&plain_string(lit)?)))
                .collect::<Result<_, SoqlError>>()?;
            Cond::Includes(path, sets, *excludes)
        }
    })
}

/// Resolves a path used in WHERE, refusing compound fields.
fn filterable(schema: &'static Schema, path: &Path) -> Result<FieldPath, SoqlError> {
    let resolved = resolve(schema, path)?;
    let field = &resolved.schema.fields[resolved.field];
    if matches!(field.computed, Computed::Address | Computed::Location) {
        return Err(SoqlError::new(
            "INVALID_FIELD",
            path.pos(),
            format!("field '{}' can not be filtered in a query call", field.name),
        ));
    }
    Ok(resolved)
}

/// Checks a literal against the field it is compared with and converts it.
fn coerce(path: &FieldPath, lit: &Lit) -> Result<Scalar<'static>, SoqlError> {
    let field = &path.schema.fields[path.field];
    let mismatch = |want: &str, quoted: bool| {
        let quotes = if quoted {
            "should be enclosed in quotes"
        } else {
            "should not be enclosed in quotes"
        };
        SoqlError::new(
            "INVALID_FIELD",
            lit.pos,
            format!(
                "value of filter criterion for field '{}' must be of type {want} and {quotes}",
                field.name
            ),
        )
    };
    Ok(match (&lit.value, field.kind) {
        (Literal::Null, _) => Scalar::Null,
        (Literal::Str(_), FieldType::Id | FieldType::Reference) => {
            let text = plain_string(lit)?;
            let id = crate::ids::normalize(&text).ok_or_else(|| {
                SoqlError::new(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    lit.pos,
                    format!("invalid ID field: {text}"),
                )
            })?;
            Scalar::Text(Cow::Owned(id))
        }
        (Literal::Str(_), kind) if kind.is_text() => Scalar::Text(Cow::Owned(plain_string(lit)?)),
        (_, kind) if kind.is_text() => return Err(mismatch("string", true)),
        (Literal::Bool(b), FieldType::Boolean) => Scalar::Bool(*b),
        (_, FieldType::Boolean) => return Err(mismatch("boolean", false)),
        (Literal::Num(n), kind) if kind.is_number() => Scalar::Num(*n),
        (_, kind) if kind.is_number() => return Err(mismatch("double", false)),
        (Literal::DateTime(text), FieldType::Date) => {
            Scalar::Date(clock::parse_date(text).ok_or_else(|| mismatch("date", false))?)
        }
        (_, FieldType::Date) => return Err(mismatch("date", false)),
        (Literal::DateTime(text), FieldType::Datetime) if text.len() > 10 => {
            let ms = clock::parse_soql_datetime(text).ok_or_else(|| {
                SoqlError::new(
                    "MALFORMED_QUERY",
                    lit.pos,
                    format!("line 1:{} no viable alternative at character ' '", lit.pos),
                )
            })?;
            Scalar::DateTime(ms)
        }
        _ => return Err(mismatch("dateTime", false)),
    })
}

/// Decodes a string literal outside LIKE: the standard escapes only.
fn plain_string(lit: &Lit) -> Result<String, SoqlError> {
    let Literal::Str(raw) = &lit.value else {
        return Err(SoqlError::new(
            "MALFORMED_QUERY",
            lit.pos,
            "expected a string literal",
        ));
    };
    decode(raw, lit.pos, false).map(|parts| {
        parts
            .into_iter()
            .map(|p| match p {
                LikePart::Char(c) => c,
                _ => '?',
            })
            .collect()
    })
}

/// Decodes a LIKE pattern: `%` and `_` are wildcards unless escaped.
fn like_pattern(lit: &Lit) -> Result<Vec<LikePart>, SoqlError> {
    match &lit.value {
        Literal::Str(raw) => decode(raw, lit.pos, true),
        _ => Err(SoqlError::new(
            "MALFORMED_QUERY",
            lit.pos,
            "LIKE needs a string pattern",
        )),
    }
}

/// Decodes escapes; wildcards only mean something when `like` is set.
fn decode(raw: &str, pos: usize, like: bool) -> Result<Vec<LikePart>, SoqlError> {
    let mut out = Vec::new();
    let mut chars = raw.chars();
    let bad = |seq: String| {
        SoqlError::new(
            "MALFORMED_QUERY",
            pos,
            format!("Invalid string literal '{raw}'. Illegal character sequence '{seq}' in string literal."),
        )
    };
    while let Some(c) = chars.next() {
        let part = match c {
            '%' if like => LikePart::Many,
            '_' if like => LikePart::One,
            '\\' => {
                let e = chars.next().unwrap_or('\\');
                LikePart::Char(match e {
                    '\'' | '"' | '\\' => e,
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    '%' | '_' if like => e,
                    'u' => unicode_escape(&mut chars).ok_or_else(|| bad("\\u".into()))?,
                    other => return Err(bad(format!("\\{other}"))),
                })
            }
            c => LikePart::Char(c),
        };
        out.push(part);
    }
    Ok(out)
}

fn unicode_escape(chars: &mut std::str::Chars<'_>) -> Option<char> {
    let hex: String = chars.by_ref().take(4).collect();
    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
}

fn split_multi(text: &str) -> Vec<String> {
    text.split(';').map(|s| s.trim().to_lowercase()).collect()
}

/// Reads a path's value for a row, following parent references.
pub fn read<'s>(store: &'s Store, table: &'s Table, row: usize, path: &FieldPath) -> Scalar<'s> {
    let mut table = table;
    let mut row = row;
    for (field, target) in &path.hops {
        let Scalar::Text(id) = table.get(row, *field) else {
            return Scalar::Null;
        };
        let Some(next) = store.table(&target.name) else {
            return Scalar::Null;
        };
        let Some(next_row) = next.find(&id) else {
            return Scalar::Null;
        };
        table = next;
        row = next_row;
    }
    table.get(row, path.field)
}

/// Orders two non-null values of one type; text ignores case as in SOQL.
fn compare(a: &Scalar<'_>, b: &Scalar<'_>) -> Option<Ordering> {
    match (a, b) {
        (Scalar::Text(x), Scalar::Text(y)) => Some(compare_text(x, y)),
        (Scalar::Num(x), Scalar::Num(y)) => x.partial_cmp(y),
        (Scalar::Bool(x), Scalar::Bool(y)) => Some(x.cmp(y)),
        (Scalar::Date(x), Scalar::Date(y)) => Some(x.cmp(y)),
        (Scalar::DateTime(x), Scalar::DateTime(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn compare_text(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        let x = a.bytes().map(|c| c.to_ascii_lowercase());
        return x.cmp(b.bytes().map(|c| c.to_ascii_lowercase()));
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

impl Cond {
    fn matches(&self, store: &Store, table: &Table, row: usize) -> bool {
        match self {
            Cond::And(items) => items.iter().all(|c| c.matches(store, table, row)),
            Cond::Or(items) => items.iter().any(|c| c.matches(store, table, row)),
            Cond::Not(inner) => !inner.matches(store, table, row),
            Cond::Compare(path, op, lit) => compare_op(&read(store, table, row, path), op, lit),
            Cond::Like(path, pattern, negated) => {
                let hit = match read(store, table, row, path) {
                    Scalar::Text(text) => {
                        like(&text.to_lowercase().chars().collect::<Vec<_>>(), pattern)
                    }
                    _ => false,
                };
                hit != *negated
            }
            Cond::In(path, list, negated) => {
                let value = read(store, table, row, path);
                list.iter().any(|lit| compare_op(&value, "=", lit)) != *negated
            }
            Cond::Includes(path, sets, excludes) => {
                let value = match read(store, table, row, path) {
                    Scalar::Text(text) => split_multi(&text),
                    _ => Vec::new(),
                };
                let hit = sets.iter().any(|set| set.iter().all(|v| value.contains(v)));
                hit != *excludes
            }
        }
    }
}

/// Applies a comparison operator the way SOQL treats nulls.
fn compare_op(value: &Scalar<'_>, op: &str, lit: &Scalar<'_>) -> bool {
    let ordering = compare(value, lit);
    match op {
        "=" if lit.is_null() => value.is_null(),
        "!=" | "<>" if lit.is_null() => !value.is_null(),
        "=" => ordering == Some(Ordering::Equal),
        "!=" | "<>" => ordering != Some(Ordering::Equal),
        "<" => ordering == Some(Ordering::Less),
        "<=" => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        ">" => ordering == Some(Ordering::Greater),
        ">=" => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
        _ => false,
    }
}

/// Matches lowercased text against a LIKE pattern, case-insensitively.
fn like(text: &[char], pattern: &[LikePart]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((LikePart::Many, rest)) => (0..=text.len()).any(|skip| like(&text[skip..], rest)),
        Some((LikePart::One, rest)) => !text.is_empty() && like(&text[1..], rest),
        Some((LikePart::Char(c), rest)) => {
            let mut lower = c.to_lowercase();
            let first = lower.next().unwrap_or(*c);
            text.first() == Some(&first) && like(&text[1..], rest)
        }
    }
}

impl Plan {
    /// The rows this plan selects, in order, with OFFSET and LIMIT applied.
    /// `all_rows` includes soft-deleted rows, as queryAll does.
    pub fn execute(&self, store: &Store, all_rows: bool) -> Vec<u32> {
        let Some(table) = store.table(&self.schema.name) else {
            return Vec::new();
        };
        let rows = (0..table.row_count()).filter(|&row| visible(table, row, all_rows));
        self.select_rows(store, table, rows)
    }

    /// Filters, sorts and windows candidate rows of this plan's table.
    pub fn select_rows(
        &self,
        store: &Store,
        table: &Table,
        rows: impl Iterator<Item = usize>,
    ) -> Vec<u32> {
        let mut rows: Vec<u32> = rows
            .filter(|&row| {
                self.filter
                    .as_ref()
                    .is_none_or(|c| c.matches(store, table, row))
            })
            .map(|row| row as u32)
            .collect();
        if !self.order.is_empty() {
            // Only the rows up to OFFSET + LIMIT need to be in order.
            let wanted = self
                .limit
                .map(|limit| limit.saturating_add(self.offset.unwrap_or(0)));
            self.sort(store, table, &mut rows, wanted);
        }
        let offset = self.offset.unwrap_or(0).min(rows.len());
        rows.drain(..offset);
        if let Some(limit) = self.limit {
            rows.truncate(limit);
        }
        rows
    }

    /// Orders `rows`; when only the first `wanted` are kept, only those are
    /// put in order (as an index would give them), the rest dropped.
    fn sort(&self, store: &Store, table: &Table, rows: &mut Vec<u32>, wanted: Option<usize>) {
        let mut keyed: Vec<(Vec<Scalar<'_>>, u32)> = rows
            .iter()
            .map(|&row| {
                let keys = self
                    .order
                    .iter()
                    .map(|k| read(store, table, row as usize, &k.path))
                    .collect();
                (keys, row)
            })
            .collect();
        // Ties keep the rows' order, so that a partial sort keeps the rows
        // a whole one would.
        let by_keys = |(a, x): &(Vec<Scalar<'_>>, u32), (b, y): &(Vec<Scalar<'_>>, u32)| {
            self.compare_keys(a, b).then(x.cmp(y))
        };
        if let Some(wanted) = wanted.filter(|&w| w < keyed.len()) {
            if wanted == 0 {
                keyed.clear();
            } else {
                keyed.select_nth_unstable_by(wanted - 1, by_keys);
                keyed.truncate(wanted);
            }
        }
        keyed.sort_by(by_keys);
        *rows = keyed.into_iter().map(|(_, row)| row).collect();
    }

    fn compare_keys(&self, a: &[Scalar<'_>], b: &[Scalar<'_>]) -> Ordering {
        for ((x, y), key) in a.iter().zip(b).zip(&self.order) {
            let ordering = match (x.is_null(), y.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) if key.nulls_last => Ordering::Greater,
                (true, false) => Ordering::Less,
                (false, true) if key.nulls_last => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => {
                    let o = compare(x, y).unwrap_or(Ordering::Equal);
                    if key.descending {
                        o.reverse()
                    } else {
                        o
                    }
                }
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    }
}

/// True when a row takes part in a query (or queryAll when `all_rows`).
pub fn visible(table: &Table, row: usize, all_rows: bool) -> bool {
    match table.state(row) {
        RowState::Live => true,
        RowState::SoftDeleted => all_rows,
        RowState::Gone => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soql::parse;

    fn error_of(q: &str) -> SoqlError {
        compile(&parse(q).unwrap()).unwrap_err()
    }

    #[test]
    fn unknown_names_give_salesforce_codes() {
        assert_eq!(error_of("SELECT Id FROM Xyzzy").code, "INVALID_TYPE");
        assert_eq!(error_of("SELECT Foo FROM Contact").code, "INVALID_FIELD");
        assert_eq!(
            error_of("SELECT Bar.Name FROM Contact").code,
            "INVALID_FIELD"
        );
        assert_eq!(
            error_of("SELECT Id, (SELECT Id FROM Nope) FROM Contact").code,
            "INVALID_TYPE"
        );
    }

    #[test]
    fn quoted_datetimes_are_refused() {
        let err = error_of("SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01T00:00:00Z'");
        assert_eq!(err.code, "INVALID_FIELD");
        assert!(
            err.detail.contains("must be of type dateTime"),
            "{}",
            err.detail
        );
    }

    #[test]
    fn like_handles_wildcards_and_escapes() {
        let lit = Lit {
            value: Literal::Str("a\\%b_%".into()),
            pos: 0,
        };
        let pattern = like_pattern(&lit).unwrap();
        let text: Vec<char> = "a%bxyz".chars().collect();
        assert!(like(&text, &pattern));
        let text: Vec<char> = "axbxyz".chars().collect();
        assert!(!like(&text, &pattern));
    }
}
