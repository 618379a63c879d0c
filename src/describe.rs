//! Describes of sobjects, fetched at most once per sobject per command, and
//! the walk from a type's sobject along a dotted field path or into a
//! child relationship.
//!
//! `check` and `picklist refresh` both need a field's describe entry for
//! paths like `Account.Owner.Name`; the walk follows each relationship's
//! `referenceTo` to the next sobject.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use log::debug;
use serde_json::Value;

use crate::salesforce::{Client, SfError};

/// The describes fetched so far, by lowercased sobject name.
pub struct Describes {
    client: Arc<Client>,
    cache: HashMap<String, Option<Arc<Value>>>,
}

/// Why a path does not lead to a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    /// Salesforce does not know the sobject, or hides it from this user.
    NoSobject(String),
    /// A parent relationship on the way does not exist.
    NoRelationship { sobject: String, name: String },
    /// The last name is not a field of its sobject.
    NoField { sobject: String, name: String },
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathProblem::NoSobject(s) => write!(
                f,
                "sobject `{s}` does not exist or the integration user cannot see it"
            ),
            PathProblem::NoRelationship { sobject, name } => {
                write!(f, "`{sobject}` has no parent relationship `{name}`")
            }
            PathProblem::NoField { sobject, name } => write!(
                f,
                "field `{name}` does not exist on `{sobject}` or the integration user cannot read it"
            ),
        }
    }
}

/// Where a path leads: the sobject that holds the last field, and that
/// field's describe entry.
#[derive(Debug, Clone)]
pub struct FieldAt {
    /// The sobject the field belongs to.
    pub sobject: String,
    /// The field's entry in that sobject's `fields`.
    pub field: Value,
    /// The whole describe of that sobject, for sibling fields such as a
    /// dependent picklist's controller.
    pub describe: Arc<Value>,
}

impl Describes {
    /// An empty cache that asks `client`.
    pub fn new(client: Arc<Client>) -> Describes {
        Describes {
            client,
            cache: HashMap::new(),
        }
    }

    /// The describe of `sobject`, or `None` when Salesforce does not know it.
    pub async fn get(&mut self, sobject: &str) -> Result<Option<Arc<Value>>, SfError> {
        let key = sobject.to_ascii_lowercase();
        if let Some(known) = self.cache.get(&key) {
            return Ok(known.clone());
        }
        debug!("describing `{sobject}`");
        let described = match self.client.describe(sobject).await {
            Ok(body) => Some(Arc::new(body)),
            Err(e) if is_unknown_sobject(&e) => None,
            Err(e) => return Err(e),
        };
        self.cache.insert(key, described.clone());
        Ok(described)
    }

    /// Follows `path` (`Name`, `Account.Owner.Name`) from `sobject`.
    pub async fn resolve(
        &mut self,
        sobject: &str,
        path: &str,
    ) -> Result<Result<FieldAt, PathProblem>, SfError> {
        let mut current = sobject.to_string();
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let Some(describe) = self.get(&current).await? else {
                return Ok(Err(PathProblem::NoSobject(current)));
            };
            if parts.peek().is_none() {
                return Ok(match field_named(&describe, part) {
                    Some(field) => Ok(FieldAt {
                        sobject: current,
                        field: field.clone(),
                        describe: Arc::clone(&describe),
                    }),
                    None => Err(PathProblem::NoField {
                        sobject: current,
                        name: part.to_string(),
                    }),
                });
            }
            match parent_of(&describe, part) {
                Some(parent) => current = parent,
                None => {
                    return Ok(Err(PathProblem::NoRelationship {
                        sobject: current,
                        name: part.to_string(),
                    }))
                }
            }
        }
        Ok(Err(PathProblem::NoField {
            sobject: current,
            name: path.to_string(),
        }))
    }
}

/// Whether an error means "no such sobject" rather than a failure.
fn is_unknown_sobject(e: &SfError) -> bool {
    matches!(e, SfError::Api { status: 404, .. })
        || matches!(e.code(), Some("NOT_FOUND" | "INVALID_TYPE"))
}

/// A field of a describe by name, without regard to case.
pub fn field_named<'d>(describe: &'d Value, name: &str) -> Option<&'d Value> {
    describe["fields"]
        .as_array()?
        .iter()
        .find(|f| text(f, "name").is_some_and(|n| n.eq_ignore_ascii_case(name)))
}

/// The sobject a parent relationship leads to (the first of `referenceTo`
/// for a polymorphic one).
fn parent_of(describe: &Value, relationship: &str) -> Option<String> {
    let field = describe["fields"].as_array()?.iter().find(|f| {
        text(f, "relationshipName").is_some_and(|n| n.eq_ignore_ascii_case(relationship))
    })?;
    field["referenceTo"]
        .as_array()?
        .first()?
        .as_str()
        .map(str::to_string)
}

/// The sobject a child relationship leads to.
pub fn child_of(describe: &Value, relationship: &str) -> Option<String> {
    describe["childRelationships"]
        .as_array()?
        .iter()
        .find(|c| text(c, "relationshipName").is_some_and(|n| n.eq_ignore_ascii_case(relationship)))
        .and_then(|c| text(c, "childSObject"))
        .map(str::to_string)
}

/// A text member of a JSON object.
pub fn text<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn relationships_lead_to_their_sobjects() {
        let contact = json!({
            "fields": [
                {"name": "AccountId", "type": "reference",
                 "referenceTo": ["Account"], "relationshipName": "Account"},
                {"name": "Email", "type": "email", "referenceTo": []},
            ],
            "childRelationships": [
                {"childSObject": "OpportunityContactRole", "field": "ContactId",
                 "relationshipName": "OpportunityContactRoles"},
                {"childSObject": "AIInsightValue", "relationshipName": null},
            ],
        });
        assert_eq!(parent_of(&contact, "account").as_deref(), Some("Account"));
        assert_eq!(parent_of(&contact, "Owner"), None);
        assert_eq!(
            child_of(&contact, "opportunitycontactroles").as_deref(),
            Some("OpportunityContactRole")
        );
        assert_eq!(child_of(&contact, "Cases"), None);
        assert!(field_named(&contact, "EMAIL").is_some());
    }
}
