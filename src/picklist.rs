//! Picklist vocabularies: reading them from describe into the catalog, and
//! checking a sync's mapped values against them.
//!
//! A vocabulary is cached per type's sobject and field path as sync.toml
//! maps it, so a parent's picklist (`Account.Industry`) is cached under the
//! type that reads it. A refresh describes each sobject once, however many
//! of its fields are picklists. A value outside the vocabulary is never
//! refused: Salesforce may have added it since the last refresh, so the
//! sync stores it as it came and warns once per field.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use log::warn;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::catalog::{self, Catalog, Picklist, PicklistKind, PicklistValue};
use crate::config::{FieldSource, TypeConfig, ValueKind};
use crate::describe::{field_named, text, Describes, PathProblem};

/// What a refresh did with one picklist field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRefresh {
    /// The type whose mapping names the field.
    pub type_name: String,
    /// The field path from the type's sobject.
    pub path: String,
    /// What came of it.
    pub outcome: RefreshOutcome,
}

/// How the refresh of one field ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshOutcome {
    /// This many values were stored.
    Stored(usize),
    /// Describe listed no values; the cached ones were kept.
    Empty,
    /// Describe calls the field something other than a picklist.
    NotPicklist(String),
    /// The path leads nowhere.
    Missing(PathProblem),
}

impl fmt::Display for FieldRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (t, p) = (&self.type_name, &self.path);
        match &self.outcome {
            RefreshOutcome::Stored(n) => write!(f, "`{t}` field `{p}`: {n} values"),
            RefreshOutcome::Empty => write!(
                f,
                "`{t}` field `{p}`: describe lists no values; keeping the cached ones"
            ),
            RefreshOutcome::NotPicklist(kind) => write!(
                f,
                "`{t}` field `{p}` is a `{kind}` in Salesforce, not a picklist; nothing cached"
            ),
            RefreshOutcome::Missing(problem) => write!(f, "`{t}` field `{p}`: {problem}"),
        }
    }
}

/// Describes the sobjects behind the picklist fields of `t` and stores
/// the vocabularies of the fields `wanted` picks.
pub async fn refresh_type(
    catalog: &Catalog,
    describes: &mut Describes,
    t: &TypeConfig,
    wanted: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<FieldRefresh>> {
    let mut done = Vec::new();
    for (path, _) in t.picklist_fields().filter(|(p, _)| wanted(p)) {
        let outcome = match describes.resolve(&t.sobject, path).await? {
            Err(problem) => RefreshOutcome::Missing(problem),
            Ok(at) => match from_describe(&at.field, &at.describe) {
                Err(kind) => RefreshOutcome::NotPicklist(kind),
                Ok(p) if p.values.is_empty() => RefreshOutcome::Empty,
                Ok(p) => {
                    catalog.store_picklist(&t.sobject, path, &p)?;
                    RefreshOutcome::Stored(p.values.len())
                }
            },
        };
        done.push(FieldRefresh {
            type_name: t.name.clone(),
            path: path.to_string(),
            outcome,
        });
    }
    Ok(done)
}

/// Refreshes the picklist fields of `types` whose vocabulary is missing
/// or older than `max_age`; fields that are fresh cost no request.
pub async fn refresh_stale(
    catalog: &Catalog,
    describes: &mut Describes,
    types: &[&TypeConfig],
    max_age: Duration,
) -> anyhow::Result<Vec<FieldRefresh>> {
    let mut done = Vec::new();
    for t in types {
        let mut stale = HashSet::new();
        for (path, _) in t.picklist_fields() {
            let fetched = catalog.picklist_fetched_at(&t.sobject, path)?;
            if is_stale(fetched.as_deref(), max_age, OffsetDateTime::now_utc()) {
                stale.insert(path.to_string());
            }
        }
        if !stale.is_empty() {
            let refreshed = refresh_type(catalog, describes, t, |p| stale.contains(p)).await?;
            done.extend(refreshed);
        }
    }
    Ok(done)
}

/// Whether a vocabulary fetched at `fetched_at` must be fetched again.
fn is_stale(fetched_at: Option<&str>, max_age: Duration, now: OffsetDateTime) -> bool {
    let Some(at) = fetched_at.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()) else {
        return true;
    };
    now - at >= max_age
}

/// Reads a picklist field's describe entry; `Err` holds the field's type
/// when it is not a picklist.
pub fn from_describe(field: &Value, describe: &Value) -> Result<Picklist, String> {
    let kind = match text(field, "type") {
        Some("picklist") | Some("combobox") => PicklistKind::Single,
        Some("multipicklist") => PicklistKind::Multi,
        other => return Err(other.unwrap_or("unknown").to_string()),
    };
    let controller = text(field, "controllerName").map(str::to_string);
    let controlling = controller
        .as_deref()
        .and_then(|name| field_named(describe, name))
        .map(controlling_values)
        .unwrap_or_default();
    let values = field["picklistValues"]
        .as_array()
        .map(|list| list.iter().map(|v| value_from(v, &controlling)).collect())
        .unwrap_or_default();
    Ok(Picklist {
        kind,
        restricted: field["restrictedPicklist"].as_bool().unwrap_or(false),
        controller,
        values,
    })
}

/// The values a controlling field's `validFor` bits index: its picklist
/// values in order, or `false`, `true` for a checkbox.
fn controlling_values(field: &Value) -> Vec<String> {
    if text(field, "type") == Some("boolean") {
        return vec!["false".into(), "true".into()];
    }
    field["picklistValues"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|v| text(v, "value").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// One entry of `picklistValues`.
fn value_from(entry: &Value, controlling: &[String]) -> PicklistValue {
    let value = text(entry, "value").unwrap_or_default().to_string();
    let raw = text(entry, "validFor").map(str::to_string);
    PicklistValue {
        label: text(entry, "label").unwrap_or(&value).to_string(),
        active: entry["active"].as_bool().unwrap_or(true),
        default: entry["defaultValue"].as_bool().unwrap_or(false),
        valid_for: raw.as_deref().map(|r| decode_valid_for(r, controlling)),
        valid_for_raw: raw,
        value,
    }
}

/// The controlling values whose bit is set in a base64 `validFor`; bit i
/// (most significant bit of each byte first) stands for value i.
pub fn decode_valid_for(raw: &str, controlling: &[String]) -> Vec<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .unwrap_or_default();
    controlling
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            bytes
                .get(i / 8)
                .is_some_and(|byte| byte & (0x80 >> (i % 8)) != 0)
        })
        .map(|(_, v)| v.clone())
        .collect()
}

/// The cached vocabularies of one type's picklist fields, by local field
/// name, for the sync's check of mapped values.
#[derive(Debug, Default)]
pub struct Vocabularies {
    type_name: String,
    known: HashMap<String, (String, HashSet<String>)>,
    warned: HashSet<String>,
}

impl Vocabularies {
    /// Loads the vocabularies of `t`'s picklist fields; fields never
    /// refreshed are not checked.
    pub fn load(catalog: &Catalog, t: &TypeConfig) -> catalog::Result<Vocabularies> {
        let mut known = HashMap::new();
        for f in &t.fields {
            let FieldSource::Value { path, kind } = &f.source else {
                continue;
            };
            if !matches!(kind, ValueKind::Picklist | ValueKind::Multipicklist) {
                continue;
            }
            if let Some(cached) = catalog.picklist(&t.sobject, path)? {
                let values = cached.picklist.values.into_iter().map(|v| v.value);
                known.insert(f.name.clone(), (path.clone(), values.collect()));
            }
        }
        Ok(Vocabularies {
            type_name: t.name.clone(),
            known,
            warned: HashSet::new(),
        })
    }

    /// Warns, once per field, about a mapped value outside its vocabulary;
    /// `name` is the field's local name.
    pub fn check(&mut self, name: &str, value: &Value) {
        let Some((path, values)) = self.known.get(name) else {
            return;
        };
        if self.warned.contains(name) {
            return;
        }
        let unknown = match value {
            Value::String(v) => (!values.contains(v)).then_some(v.as_str()),
            Value::Array(list) => list
                .iter()
                .filter_map(Value::as_str)
                .find(|v| !values.contains(*v)),
            _ => None,
        };
        if let Some(v) = unknown {
            warn!(
                "`{}` field `{name}`: `{v}` is not in the cached vocabulary of `{path}`; \
                 stored as it came (run `sfsync picklist refresh` if Salesforce added it)",
                self.type_name
            );
            self.warned.insert(name.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn valid_for_bits_count_from_the_most_significant_bit() {
        let controlling = strings(&["Junior", "Mid", "Senior", "Principal", "Intern"]);
        // 0b1000_1000: values 0 and 4.
        assert_eq!(
            decode_valid_for("iAAA", &controlling),
            strings(&["Junior", "Intern"])
        );
        assert_eq!(decode_valid_for("AAAA", &controlling), Vec::<String>::new());
        assert_eq!(
            decode_valid_for("not base64!", &controlling),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_dependent_picklist_names_its_controlling_values() {
        let describe = json!({"fields": [
            {"name": "Level__c", "type": "picklist", "picklistValues": [
                {"value": "Low", "label": "Low", "active": true},
                {"value": "High", "label": "High", "active": false}]},
            {"name": "Kind__c", "type": "picklist", "controllerName": "Level__c",
             "restrictedPicklist": true, "picklistValues": [
                {"value": "A", "label": "Ay", "active": true, "defaultValue": true,
                 "validFor": "QA=="}]},
        ]});
        let field = &describe["fields"][1];
        let p = from_describe(field, &describe).unwrap();
        assert!(p.restricted);
        assert_eq!(p.controller.as_deref(), Some("Level__c"));
        let v = &p.values[0];
        assert_eq!((v.label.as_str(), v.default), ("Ay", true));
        assert_eq!(v.valid_for, Some(strings(&["High"])));
        assert_eq!(v.valid_for_raw.as_deref(), Some("QA=="));
        let not = json!({"name": "Email", "type": "email"});
        assert_eq!(from_describe(&not, &describe), Err("email".to_string()));
    }

    #[test]
    fn vocabularies_go_stale_after_max_age() {
        let now = OffsetDateTime::parse("2024-05-02T12:00:00Z", &Rfc3339).unwrap();
        let day = Duration::from_secs(86_400);
        assert!(is_stale(None, day, now));
        assert!(!is_stale(Some("2024-05-02T00:00:00Z"), day, now));
        assert!(is_stale(Some("2024-05-01T12:00:00Z"), day, now));
        assert!(is_stale(Some("garbage"), day, now));
    }

    #[test]
    fn an_unknown_value_warns_once_per_field() {
        let mut known = HashMap::new();
        let values: HashSet<String> = ["Retail".to_string()].into();
        known.insert("industries".into(), ("Industries__c".into(), values));
        let mut vocab = Vocabularies {
            type_name: "Contact".into(),
            known,
            warned: HashSet::new(),
        };
        vocab.check("industries", &json!(["Retail"]));
        vocab.check("name", &json!("Mining"));
        assert!(vocab.warned.is_empty());
        let odd = json!(["Retail", "Mining"]);
        vocab.check("industries", &odd);
        vocab.check("industries", &odd);
        assert_eq!(vocab.warned.len(), 1);
    }
}
