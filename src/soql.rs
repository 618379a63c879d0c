//! Building the SOQL that sync sends for a configured type.
//!
//! Field paths and names were checked when the configuration was read, ids
//! when they came in; criteria and ORDER BY lists are trusted operator input
//! and are inserted as written.

use crate::config::{FieldMapping, FieldSource, TypeConfig};
use crate::ids::SfId;

/// Which records of a type a query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter<'a> {
    /// Everything the criteria select.
    All,
    /// One record, if the criteria still select it.
    Id(&'a SfId),
    /// Records whose SystemModstamp lies in a range.
    Stamps(&'a StampRange),
    /// These records, if the criteria still select them.
    Ids(&'a [SfId]),
}

/// A range of SystemModstamp: `from` inclusive, `to` exclusive, each a SOQL
/// datetime literal such as `2024-01-31T12:34:56Z`; `None` is open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StampRange {
    /// The first stamp in the range.
    pub from: Option<String>,
    /// The first stamp after the range.
    pub to: Option<String>,
}

impl StampRange {
    /// The range's conditions, joined with AND; `None` when open both ways.
    fn condition(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.from.as_ref().map(|f| format!("SystemModstamp >= {f}")),
            self.to.as_ref().map(|t| format!("SystemModstamp < {t}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    /// Whether the range is open both ways.
    pub fn is_open(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

/// The criteria split into a condition and a trailing ORDER BY / LIMIT clause.
struct Criteria<'a> {
    condition: Option<&'a str>,
    tail: Option<&'a str>,
}

impl<'a> Criteria<'a> {
    /// Old configurations start criteria with ORDER BY or LIMIT to order a sync.
    fn of(t: &'a TypeConfig) -> Criteria<'a> {
        let Some(raw) = t.criteria.as_deref().map(str::trim) else {
            return Criteria {
                condition: None,
                tail: None,
            };
        };
        let upper = raw.to_ascii_uppercase();
        if upper.starts_with("ORDER BY") || upper.starts_with("LIMIT") {
            Criteria {
                condition: None,
                tail: Some(raw),
            }
        } else {
            Criteria {
                condition: Some(raw),
                tail: None,
            }
        }
    }
}

/// The full query for `t`, restricted by `filter`.
pub fn select(t: &TypeConfig, filter: &Filter) -> String {
    let criteria = Criteria::of(t);
    let mut soql = format!("SELECT {} FROM {}", select_list(t).join(", "), t.sobject);
    let extra = match filter {
        Filter::All => None,
        Filter::Id(id) => Some(format!("Id = '{id}'")),
        Filter::Stamps(range) => range.condition(),
        Filter::Ids(ids) => {
            let list: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
            Some(format!("Id IN ({})", list.join(", ")))
        }
    };
    push_where(&mut soql, criteria.condition, extra.as_deref());
    if matches!(filter, Filter::Id(_) | Filter::Ids(_))
        || matches!(filter, Filter::Stamps(r) if !r.is_open())
    {
        // One record needs no order; ranges are read side by side, so
        // their order would only cost the org time.
        return soql;
    }
    match (criteria.tail, &t.order_by) {
        (Some(tail), _) => {
            soql.push(' ');
            soql.push_str(tail);
        }
        (None, Some(order)) => {
            soql.push_str(" ORDER BY ");
            soql.push_str(order);
        }
        (None, None) => {}
    }
    soql
}

/// A query for the ids alone of the records the criteria select in `range`.
pub fn ids(t: &TypeConfig, range: &StampRange) -> String {
    let criteria = Criteria::of(t);
    let mut soql = format!("SELECT Id FROM {}", t.sobject);
    push_where(&mut soql, criteria.condition, range.condition().as_deref());
    soql
}

/// A query for the lowest (or, with `last`, the highest) SystemModstamp the
/// criteria select in `range`.
pub fn stamp_edge(t: &TypeConfig, range: &StampRange, last: bool) -> String {
    let criteria = Criteria::of(t);
    let mut soql = format!("SELECT SystemModstamp FROM {}", t.sobject);
    push_where(&mut soql, criteria.condition, range.condition().as_deref());
    let direction = if last { "DESC" } else { "ASC" };
    soql.push_str(&format!(" ORDER BY SystemModstamp {direction} LIMIT 1"));
    soql
}

/// The query of a Bulk API 2.0 job: the value columns only (Bulk has no
/// child subqueries), no order.
pub fn bulk(t: &TypeConfig, range: &StampRange) -> String {
    let columns: Vec<String> = select_list(t)
        .into_iter()
        .filter(|c| !c.starts_with('('))
        .collect();
    let criteria = Criteria::of(t);
    let mut soql = format!("SELECT {} FROM {}", columns.join(", "), t.sobject);
    push_where(&mut soql, criteria.condition, range.condition().as_deref());
    soql
}

/// Whether the type's query may be cut into ranges or read incrementally:
/// not when its criteria end in ORDER BY or LIMIT, which a range would change.
pub fn can_split(t: &TypeConfig) -> bool {
    Criteria::of(t).tail.is_none()
}

/// A query for how many records the criteria select in `range` in each
/// calendar month of SystemModstamp: `expr0` the year, `expr1` the month,
/// `expr2` the count.
pub fn stamp_months(t: &TypeConfig, range: &StampRange) -> String {
    by_month(t, range, "COUNT(Id)")
}

/// The survey before a full read: for each month of SystemModstamp, how
/// many records match the criteria, and the first and last stamp among
/// them (`expr2`, `expr3`, `expr4`).
pub fn survey(t: &TypeConfig) -> String {
    by_month(
        t,
        &StampRange::default(),
        "COUNT(Id), MIN(SystemModstamp), MAX(SystemModstamp)",
    )
}

/// `measures` of the records in `range`, grouped by the year and month of
/// their SystemModstamp (`expr0`, `expr1`).
fn by_month(t: &TypeConfig, range: &StampRange, measures: &str) -> String {
    const MONTH: &str = "CALENDAR_YEAR(SystemModstamp), CALENDAR_MONTH(SystemModstamp)";
    let criteria = Criteria::of(t);
    let mut soql = format!("SELECT {MONTH}, {measures} FROM {}", t.sobject);
    push_where(&mut soql, criteria.condition, range.condition().as_deref());
    soql.push_str(" GROUP BY ");
    soql.push_str(MONTH);
    soql
}

/// A `count()` query over the criteria.
pub fn count(t: &TypeConfig) -> String {
    let criteria = Criteria::of(t);
    let mut soql = format!("SELECT count() FROM {}", t.sobject);
    push_where(&mut soql, criteria.condition, None);
    soql
}

fn push_where(soql: &mut String, condition: Option<&str>, extra: Option<&str>) {
    match (condition, extra) {
        (Some(c), Some(e)) => soql.push_str(&format!(" WHERE ({c}) AND {e}")),
        (Some(c), None) => soql.push_str(&format!(" WHERE {c}")),
        (None, Some(e)) => soql.push_str(&format!(" WHERE {e}")),
        (None, None) => {}
    }
}

/// Whether the type's record query holds child subqueries. Salesforce
/// pages a long child list on its own, and closes a page's child lists
/// when the parent's next page is asked for.
pub fn has_child_lists(t: &TypeConfig) -> bool {
    t.fields
        .iter()
        .any(|f| matches!(f.source, FieldSource::Children { .. }))
}

/// `Id`, `SystemModstamp`, the mapped paths and the title, then child subqueries.
pub fn select_list(t: &TypeConfig) -> Vec<String> {
    let mut list = vec!["Id".to_string(), "SystemModstamp".to_string()];
    let add = |path: &str, list: &mut Vec<String>| {
        if !list.iter().any(|p| p.eq_ignore_ascii_case(path)) {
            list.push(path.to_string());
        }
    };
    for f in &t.fields {
        if let FieldSource::Value { path, .. } = &f.source {
            add(path, &mut list);
        }
    }
    if let Some(title) = &t.title {
        add(title, &mut list);
    }
    for f in &t.fields {
        if let FieldSource::Children {
            relationship,
            criteria,
            fields,
        } = &f.source
        {
            list.push(subquery(relationship, criteria.as_deref(), fields));
        }
    }
    list
}

fn subquery(relationship: &str, criteria: Option<&str>, fields: &[FieldMapping]) -> String {
    let mut columns = vec!["Id".to_string()];
    for f in fields {
        if let FieldSource::Value { path, .. } = &f.source {
            if !columns.iter().any(|c| c.eq_ignore_ascii_case(path)) {
                columns.push(path.clone());
            }
        }
    }
    let mut soql = format!("(SELECT {} FROM {relationship}", columns.join(", "));
    if let Some(c) = criteria {
        soql.push_str(&format!(" WHERE {c}"));
    }
    soql.push(')');
    soql
}

/// Renders a SOQL string literal with Salesforce's escapes.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn contact(extra: &str) -> TypeConfig {
        let text = format!(
            r#"
[salesforce]
auth = "access_token"
instance_url = "https://acme.my.salesforce.com"
[[types]]
name = "Contact"
sobject = "Contact"
title = "Name"
{extra}
[types.fields]
name = "Name"
account_name = "Account.Name"
id_again = "id"
roles = {{ relationship = "OpportunityContactRoles", criteria = "IsPrimary = true", fields = {{ role = "Role", contact = "Contact.Name" }} }}
"#
        );
        Config::parse(Path::new("sync.toml"), &text)
            .unwrap()
            .types
            .remove(0)
    }

    #[test]
    fn full_query_with_criteria_order_and_children() {
        let t = contact("criteria = \"Email != null\"\norder_by = \"LastName, FirstName\"");
        assert_eq!(
            select(&t, &Filter::All),
            "SELECT Id, SystemModstamp, Name, Account.Name, \
             (SELECT Id, Role, Contact.Name FROM OpportunityContactRoles WHERE IsPrimary = true) \
             FROM Contact WHERE Email != null ORDER BY LastName, FirstName"
        );
    }

    #[test]
    fn one_record_wraps_the_criteria() {
        let t = contact("criteria = \"Email != null OR Phone != null\"");
        let id = SfId::parse("003000000000001").unwrap();
        assert!(select(&t, &Filter::Id(&id)).ends_with(
            "FROM Contact WHERE (Email != null OR Phone != null) AND Id = '003000000000001AAA'"
        ));
    }

    #[test]
    fn criteria_that_only_order_or_limit_are_appended() {
        let t = contact("criteria = \"ORDER BY CreatedDate LIMIT 10\"\norder_by = \"Name\"");
        assert!(select(&t, &Filter::All).ends_with("FROM Contact ORDER BY CreatedDate LIMIT 10"));
        let id = SfId::parse("003000000000001").unwrap();
        assert!(
            select(&t, &Filter::Id(&id)).ends_with("FROM Contact WHERE Id = '003000000000001AAA'")
        );
        assert_eq!(count(&t), "SELECT count() FROM Contact");
    }

    #[test]
    fn incremental_and_id_listing() {
        let t = contact("criteria = \"Email != null\"");
        let since = StampRange {
            from: Some("2024-01-31T12:00:00Z".into()),
            to: None,
        };
        assert!(select(&t, &Filter::Stamps(&since))
            .ends_with("WHERE (Email != null) AND SystemModstamp >= 2024-01-31T12:00:00Z"));
        assert_eq!(
            ids(&t, &StampRange::default()),
            "SELECT Id FROM Contact WHERE Email != null"
        );
        let both = StampRange {
            from: Some("2024-01-01T00:00:00Z".into()),
            to: Some("2024-02-01T00:00:00Z".into()),
        };
        assert_eq!(
            ids(&t, &both),
            "SELECT Id FROM Contact WHERE (Email != null) AND SystemModstamp >= 2024-01-01T00:00:00Z AND SystemModstamp < 2024-02-01T00:00:00Z"
        );
        assert_eq!(
            stamp_edge(&t, &StampRange::default(), true),
            "SELECT SystemModstamp FROM Contact WHERE Email != null ORDER BY SystemModstamp DESC LIMIT 1"
        );
        assert!(bulk(&t, &StampRange::default())
            .starts_with("SELECT Id, SystemModstamp, Name, Account.Name FROM Contact"));
        assert_eq!(
            stamp_months(&t, &StampRange::default()),
            "SELECT CALENDAR_YEAR(SystemModstamp), CALENDAR_MONTH(SystemModstamp), COUNT(Id) \
             FROM Contact WHERE Email != null \
             GROUP BY CALENDAR_YEAR(SystemModstamp), CALENDAR_MONTH(SystemModstamp)"
        );
        assert_eq!(
            survey(&t),
            "SELECT CALENDAR_YEAR(SystemModstamp), CALENDAR_MONTH(SystemModstamp), COUNT(Id), \
             MIN(SystemModstamp), MAX(SystemModstamp) FROM Contact WHERE Email != null \
             GROUP BY CALENDAR_YEAR(SystemModstamp), CALENDAR_MONTH(SystemModstamp)"
        );
    }

    #[test]
    fn literals_are_escaped() {
        assert_eq!(quote("O'Brien \\ \"x\"\n"), r#"'O\'Brien \\ \"x\"\n'"#);
    }
}
