//! `check`'s work: compare each configured type with the org's describes
//! and let Salesforce judge the SOQL the sync would send.
//!
//! Every problem is collected, not only the first, so one run of `check`
//! shows everything a configuration change broke.

use std::sync::Arc;

use serde_json::Value;

use crate::config::{FieldMapping, FieldSource, TypeConfig, ValueKind};
use crate::describe::{child_of, text, Describes};
use crate::salesforce::{Client, SfError};
use crate::soql::{self, Filter};

/// What `check` found for one type.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeCheck {
    /// The type's name.
    pub name: String,
    /// The SOQL a sync would send.
    pub soql: String,
    /// What is wrong, in mapping order.
    pub problems: Vec<Problem>,
}

/// One thing wrong with a type.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The local field it concerns (`roles.role` inside a child
    /// relationship), or `None` for the type as a whole.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Checks `t` against the org.
pub async fn check_type(
    client: &Arc<Client>,
    describes: &mut Describes,
    t: &TypeConfig,
) -> Result<TypeCheck, SfError> {
    let mut problems = Vec::new();
    check_sobject(describes, t, &mut problems).await?;
    let soql = soql::select(t, &Filter::All);
    if let Some(refusal) = probe(client, &soql).await? {
        problems.push(Problem {
            field: None,
            message: refusal,
        });
    }
    Ok(TypeCheck {
        name: t.name.clone(),
        soql,
        problems,
    })
}

/// Checks the sobject, then every mapped field and the title.
async fn check_sobject(
    describes: &mut Describes,
    t: &TypeConfig,
    problems: &mut Vec<Problem>,
) -> Result<(), SfError> {
    let Some(describe) = describes.get(&t.sobject).await? else {
        problems.push(Problem {
            field: None,
            message: format!(
                "sobject `{}` does not exist or the integration user cannot see it",
                t.sobject
            ),
        });
        return Ok(());
    };
    if describe["queryable"].as_bool() == Some(false) {
        problems.push(Problem {
            field: None,
            message: format!("sobject `{}` cannot be queried", t.sobject),
        });
    }
    check_fields(describes, &t.sobject, &t.fields, "", problems).await?;
    if let Some(title) = &t.title {
        let local = format!("title ({title})");
        check_value(
            describes,
            &t.sobject,
            title,
            ValueKind::Auto,
            &local,
            problems,
        )
        .await?;
    }
    Ok(())
}

/// Checks mapped fields read from `sobject`; `prefix` names the child
/// relationship they sit in, if any.
async fn check_fields(
    describes: &mut Describes,
    sobject: &str,
    fields: &[FieldMapping],
    prefix: &str,
    problems: &mut Vec<Problem>,
) -> Result<(), SfError> {
    for f in fields {
        let local = format!("{prefix}{}", f.name);
        match &f.source {
            FieldSource::Value { path, kind } => {
                check_value(describes, sobject, path, *kind, &local, problems).await?;
            }
            FieldSource::Children {
                relationship,
                fields: inner,
                ..
            } => {
                let Some(describe) = describes.get(sobject).await? else {
                    continue;
                };
                let Some(child) = child_of(&describe, relationship) else {
                    problems.push(Problem {
                        field: Some(local),
                        message: format!("`{sobject}` has no child relationship `{relationship}`"),
                    });
                    continue;
                };
                let nested = format!("{local}.");
                Box::pin(check_fields(describes, &child, inner, &nested, problems)).await?;
            }
        }
    }
    Ok(())
}

/// Checks one field path: that it exists, can be read, and has a type the
/// mapping's kind can convert.
async fn check_value(
    describes: &mut Describes,
    sobject: &str,
    path: &str,
    kind: ValueKind,
    local: &str,
    problems: &mut Vec<Problem>,
) -> Result<(), SfError> {
    let message = match describes.resolve(sobject, path).await? {
        Err(problem) => Some(problem.to_string()),
        Ok(at) => field_problem(&at.sobject, &at.field, kind),
    };
    if let Some(message) = message {
        problems.push(Problem {
            field: Some(format!("{local} (`{path}`)")),
            message,
        });
    }
    Ok(())
}

/// What is wrong with a field that exists, if anything.
fn field_problem(sobject: &str, field: &Value, kind: ValueKind) -> Option<String> {
    let name = text(field, "name").unwrap_or_default();
    let actual = text(field, "type").unwrap_or("unknown");
    if field["deprecatedAndHidden"].as_bool() == Some(true) {
        return Some(format!(
            "field `{name}` of `{sobject}` is deprecated and hidden; it cannot be read"
        ));
    }
    if !kind_accepts(kind, actual) {
        return Some(format!(
            "field `{name}` of `{sobject}` is `{actual}` in Salesforce but mapped as `{}`",
            kind_name(kind)
        ));
    }
    None
}

/// Whether a mapping of `kind` can convert a describe field `type`.
fn kind_accepts(kind: ValueKind, actual: &str) -> bool {
    const TEXT: &[&str] = &[
        "id",
        "reference",
        "string",
        "textarea",
        "picklist",
        "multipicklist",
        "combobox",
        "phone",
        "email",
        "url",
        "encryptedstring",
    ];
    match kind {
        ValueKind::Auto => true,
        ValueKind::String => TEXT.contains(&actual),
        ValueKind::Picklist => matches!(actual, "picklist" | "combobox"),
        ValueKind::Multipicklist => actual == "multipicklist",
        ValueKind::Date => actual == "date",
        ValueKind::Datetime => actual == "datetime",
        ValueKind::Boolean => actual == "boolean",
        ValueKind::Number => matches!(actual, "int" | "long" | "double" | "currency" | "percent"),
        ValueKind::Address => actual == "address",
    }
}

/// The name sync.toml uses for a kind.
fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Auto => "auto",
        ValueKind::String => "string",
        ValueKind::Picklist => "picklist",
        ValueKind::Multipicklist => "multipicklist",
        ValueKind::Date => "date",
        ValueKind::Datetime => "datetime",
        ValueKind::Boolean => "boolean",
        ValueKind::Number => "number",
        ValueKind::Address => "address",
    }
}

/// Sends `soql` limited to one row; `Some` holds Salesforce's refusal.
async fn probe(client: &Client, soql: &str) -> Result<Option<String>, SfError> {
    let limited = if ends_in_limit(soql) {
        soql.to_string()
    } else {
        format!("{soql} LIMIT 1")
    };
    match client.query(&limited, false).await {
        Ok(_) => Ok(None),
        Err(SfError::Api { code, message, .. }) => {
            // Salesforce's message quotes the query over several lines;
            // the report keeps one line per problem.
            let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
            Ok(Some(format!(
                "Salesforce refuses the query ({code}): {message}"
            )))
        }
        Err(e) => Err(e),
    }
}

/// Whether a query already ends in `LIMIT n`.
fn ends_in_limit(soql: &str) -> bool {
    let mut words = soql.split_whitespace().rev();
    let last = words.next().unwrap_or_default();
    let before = words.next().unwrap_or_default();
    before.eq_ignore_ascii_case("LIMIT") && last.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_limit_is_added_only_when_missing() {
        assert!(ends_in_limit("SELECT Id FROM Contact LIMIT 10"));
        assert!(ends_in_limit("SELECT Id FROM Contact limit  5 "));
        assert!(!ends_in_limit("SELECT Id FROM Contact"));
        assert!(!ends_in_limit(
            "SELECT Id FROM Contact WHERE Name = 'LIMIT'"
        ));
    }

    #[test]
    fn kinds_must_match_the_describe_type() {
        let birthdate = json!({"name": "Birthdate", "type": "date"});
        assert_eq!(field_problem("Contact", &birthdate, ValueKind::Date), None);
        let email = json!({"name": "Email", "type": "email"});
        let wrong = field_problem("Contact", &email, ValueKind::Date).unwrap();
        assert!(wrong.contains("is `email` in Salesforce but mapped as `date`"));
        assert_eq!(field_problem("Contact", &email, ValueKind::String), None);
        let hidden = json!({"name": "Old__c", "type": "string", "deprecatedAndHidden": true});
        assert!(field_problem("Contact", &hidden, ValueKind::Auto)
            .unwrap()
            .contains("cannot be read"));
    }
}
