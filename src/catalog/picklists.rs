//! Picklist vocabularies: the values describe lists for each picklist
//! field of a configured type, cached so that `picklist show` and the
//! sync's value check never have to ask Salesforce.
//!
//! A picklist is keyed by the type's sobject and the field path as
//! sync.toml maps it; names compare without regard to case, as
//! Salesforce's do.

use rusqlite::{OptionalExtension, Row, Transaction, TransactionBehavior};

use super::{now, Catalog, Result};

/// Whether a picklist holds one value or several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PicklistKind {
    /// One value.
    Single,
    /// Values joined with `;`.
    Multi,
}

impl PicklistKind {
    /// The name describe and the catalog use.
    pub fn as_str(self) -> &'static str {
        match self {
            PicklistKind::Single => "picklist",
            PicklistKind::Multi => "multipicklist",
        }
    }

    fn from_stored(text: &str) -> PicklistKind {
        match text {
            "multipicklist" => PicklistKind::Multi,
            _ => PicklistKind::Single,
        }
    }
}

/// A picklist field's vocabulary as describe gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Picklist {
    /// One value or several.
    pub kind: PicklistKind,
    /// Whether Salesforce refuses values outside the list.
    pub restricted: bool,
    /// The controlling field of a dependent picklist.
    pub controller: Option<String>,
    /// The values in Salesforce's order.
    pub values: Vec<PicklistValue>,
}

/// One value of a picklist.
#[derive(Debug, Clone, PartialEq)]
pub struct PicklistValue {
    /// The value records hold.
    pub value: String,
    /// What people see.
    pub label: String,
    /// Whether new records may take it.
    pub active: bool,
    /// Whether it is the field's default.
    pub default: bool,
    /// The controlling values it is valid for, for a dependent picklist.
    pub valid_for: Option<Vec<String>>,
    /// `validFor` as describe sent it (base64).
    pub valid_for_raw: Option<String>,
}

/// A picklist as the catalog holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedPicklist {
    /// The type's sobject.
    pub sobject: String,
    /// The field path from that sobject.
    pub field: String,
    /// When describe was read (RFC 3339 UTC).
    pub fetched_at: String,
    /// The vocabulary.
    pub picklist: Picklist,
}

const UPSERT_PICKLIST: &str = "
INSERT INTO picklists (sobject, field, kind, restricted, controller, fetched_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (sobject, field) DO UPDATE SET
    kind = excluded.kind,
    restricted = excluded.restricted,
    controller = excluded.controller,
    fetched_at = excluded.fetched_at";

const INSERT_VALUE: &str = "
INSERT INTO picklist_values (sobject, field, position, value, label, active,
    is_default, valid_for, valid_for_raw)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

impl Catalog {
    /// Replaces the cached vocabulary of `sobject`'s `field`, stamped with
    /// the current time, in one transaction.
    pub fn store_picklist(&self, sobject: &str, field: &str, picklist: &Picklist) -> Result<()> {
        self.write_picklist(sobject, field, picklist)
            .map_err(|e| self.error(e))
    }

    /// The cached vocabulary of `sobject`'s `field`, if it was ever fetched.
    pub fn picklist(&self, sobject: &str, field: &str) -> Result<Option<CachedPicklist>> {
        self.read_picklist(sobject, field)
            .map_err(|e| self.error(e))
    }

    /// When the vocabulary of `sobject`'s `field` was fetched, if ever.
    pub fn picklist_fetched_at(&self, sobject: &str, field: &str) -> Result<Option<String>> {
        let fetched = self
            .conn
            .query_row(
                "SELECT fetched_at FROM picklists WHERE sobject = ?1 AND field = ?2",
                (sobject, field),
                |row| row.get(0),
            )
            .optional();
        fetched.map_err(|e| self.error(e))
    }

    /// The body of [`Catalog::store_picklist`].
    fn write_picklist(
        &self,
        sobject: &str,
        field: &str,
        picklist: &Picklist,
    ) -> rusqlite::Result<()> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        tx.execute(
            UPSERT_PICKLIST,
            (
                sobject,
                field,
                picklist.kind.as_str(),
                picklist.restricted,
                &picklist.controller,
                now(),
            ),
        )?;
        tx.execute(
            "DELETE FROM picklist_values WHERE sobject = ?1 AND field = ?2",
            (sobject, field),
        )?;

        let mut insert = tx.prepare_cached(INSERT_VALUE)?;
        for (position, v) in picklist.values.iter().enumerate() {
            let valid_for = v.valid_for.as_ref().map(|list| {
                serde_json::to_string(list).expect("a list of strings always serializes")
            });
            insert.execute((
                sobject,
                field,
                position as i64,
                &v.value,
                &v.label,
                v.active,
                v.default,
                valid_for,
                &v.valid_for_raw,
            ))?;
        }
        drop(insert);
        tx.commit()
    }

    /// The body of [`Catalog::picklist`].
    fn read_picklist(
        &self,
        sobject: &str,
        field: &str,
    ) -> rusqlite::Result<Option<CachedPicklist>> {
        let head = self
            .conn
            .prepare_cached(
                "SELECT sobject, field, kind, restricted, controller, fetched_at \
                 FROM picklists WHERE sobject = ?1 AND field = ?2",
            )?
            .query_row((sobject, field), |row| {
                let kind: String = row.get(2)?;
                Ok(CachedPicklist {
                    sobject: row.get(0)?,
                    field: row.get(1)?,
                    fetched_at: row.get(5)?,
                    picklist: Picklist {
                        kind: PicklistKind::from_stored(&kind),
                        restricted: row.get(3)?,
                        controller: row.get(4)?,
                        values: Vec::new(),
                    },
                })
            })
            .optional()?;
        let Some(mut cached) = head else {
            return Ok(None);
        };

        let mut stmt = self.conn.prepare_cached(
            "SELECT value, label, active, is_default, valid_for, valid_for_raw \
             FROM picklist_values WHERE sobject = ?1 AND field = ?2 ORDER BY position",
        )?;
        let values = stmt.query_map((sobject, field), picklist_value)?;
        cached.picklist.values = values.collect::<rusqlite::Result<_>>()?;
        Ok(Some(cached))
    }
}

/// Reads a row of `picklist_values`.
fn picklist_value(row: &Row<'_>) -> rusqlite::Result<PicklistValue> {
    let valid_for: Option<String> = row.get(4)?;
    Ok(PicklistValue {
        value: row.get(0)?,
        label: row.get(1)?,
        active: row.get(2)?,
        default: row.get(3)?,
        valid_for: valid_for.and_then(|text| serde_json::from_str(&text).ok()),
        valid_for_raw: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(value: &str, active: bool, valid_for: Option<&[&str]>) -> PicklistValue {
        PicklistValue {
            value: value.to_string(),
            label: value.to_uppercase(),
            active,
            default: false,
            valid_for: valid_for.map(|v| v.iter().map(|s| s.to_string()).collect()),
            valid_for_raw: valid_for.map(|_| "wA==".to_string()),
        }
    }

    fn specialty() -> Picklist {
        Picklist {
            kind: PicklistKind::Single,
            restricted: false,
            controller: Some("Experience__c".into()),
            values: vec![
                value("Frontend", true, Some(&["Junior", "Mid"])),
                value("Backend", false, Some(&[])),
            ],
        }
    }

    #[test]
    fn a_stored_picklist_reads_back_in_order_and_without_regard_to_case() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        assert_eq!(catalog.picklist("Contact", "Specialty__c").unwrap(), None);

        catalog
            .store_picklist("Contact", "Specialty__c", &specialty())
            .unwrap();
        let cached = catalog
            .picklist("contact", "SPECIALTY__C")
            .unwrap()
            .unwrap();
        assert_eq!(cached.field, "Specialty__c");
        assert_eq!(cached.picklist, specialty());
        let fetched = catalog
            .picklist_fetched_at("Contact", "specialty__c")
            .unwrap();
        assert_eq!(fetched.as_deref(), Some(cached.fetched_at.as_str()));
    }

    #[test]
    fn storing_again_replaces_every_value() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        catalog
            .store_picklist("Contact", "Specialty__c", &specialty())
            .unwrap();
        let shorter = Picklist {
            values: vec![value("Data", true, None)],
            controller: None,
            ..specialty()
        };
        catalog
            .store_picklist("Contact", "Specialty__c", &shorter)
            .unwrap();
        let cached = catalog.picklist("Contact", "Specialty__c").unwrap();
        assert_eq!(cached.unwrap().picklist, shorter);
    }
}
