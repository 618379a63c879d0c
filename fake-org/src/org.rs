//! The org as data: the public [`Org`] type, how JSON values become stored
//! values, and the record changes the control surface offers.

use std::borrow::Cow;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _};
use serde_json::{Map, Value};

use crate::clock::{self, Millis};
use crate::schema::{self, Computed, Field, FieldType};
use crate::store::{RowState, Scalar, Store, Table};

/// The data of a simulated org: Account, Contact, Opportunity and
/// OpportunityContactRole records, stored column by column.
#[derive(Debug)]
pub struct Org {
    pub(crate) store: Store,
}

/// Sizes and seed for [`Org::generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenSpec {
    pub seed: u64,
    pub accounts: usize,
    pub contacts: usize,
    pub opportunities: usize,
    pub contact_roles: usize,
}

impl Default for GenSpec {
    /// The binary's defaults: 100 accounts, 1000 contacts, 200
    /// opportunities and 300 contact roles, seed 1.
    fn default() -> Self {
        GenSpec {
            seed: 1,
            accounts: 100,
            contacts: 1000,
            opportunities: 200,
            contact_roles: 300,
        }
    }
}

/// How a change moves the audit stamps.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stamp {
    /// A user change at this time: SystemModstamp and LastModifiedDate move.
    User(Millis),
    /// A silent change (a formula recalculating): no stamp moves.
    Silent,
}

impl Org {
    /// An org with no records.
    pub fn empty() -> Org {
        Org {
            store: Store::new("0A"),
        }
    }

    /// A deterministic org: the same spec gives the same records, ids and
    /// stamps, byte for byte.
    pub fn generate(spec: &GenSpec) -> Org {
        crate::generate::generate(spec)
    }

    /// Loads an org from a JSON file: `{"records": {"Contact": [{...}]}}`,
    /// each record a field map as a query renders it (`attributes` and
    /// computed fields are ignored; a missing `Id` is minted).
    pub fn from_json_file(path: &Path) -> anyhow::Result<Org> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading org file `{}`", path.display()))?;
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("parsing org file `{}`", path.display()))?;
        Org::from_json(&json).with_context(|| format!("loading org file `{}`", path.display()))
    }

    /// Loads an org from JSON already in memory; see [`Org::from_json_file`].
    pub fn from_json(json: &Value) -> anyhow::Result<Org> {
        let records = json.get("records").unwrap_or(json);
        let Some(by_type) = records.as_object() else {
            bail!("expected an object of sobject names to record arrays");
        };
        let mut org = Org::empty();
        let now = clock::wall_millis();
        let now = now - now.rem_euclid(1000);
        for (sobject, list) in by_type {
            org.table_mut(sobject)?;
            let list = list
                .as_array()
                .ok_or_else(|| anyhow!("records of `{sobject}` are not an array"))?;
            for (n, record) in list.iter().enumerate() {
                org.insert(sobject, record, now)
                    .with_context(|| format!("record {n} of `{sobject}`"))?;
            }
        }
        Ok(org)
    }

    /// The table of an sobject, or an error naming it.
    fn table_mut(&mut self, sobject: &str) -> anyhow::Result<&mut Table> {
        self.store
            .table_mut(sobject)
            .ok_or_else(|| anyhow!("the fake org has no sobject `{sobject}`"))
    }

    /// Adds a record; stamps default to `now`. Returns its 18-character id.
    pub(crate) fn insert(
        &mut self,
        sobject: &str,
        fields: &Value,
        now: Millis,
    ) -> anyhow::Result<String> {
        let map = as_object(fields)?;
        let prefix = self.table_mut(sobject)?.schema.key_prefix.clone();
        let id = match map.iter().find(|(k, _)| k.eq_ignore_ascii_case("Id")) {
            Some((_, Value::String(id))) => {
                crate::ids::normalize(id).ok_or_else(|| anyhow!("`{id}` is not an id"))?
            }
            _ => self.store.mint_id(&prefix),
        };
        let table = self.table_mut(sobject)?;
        if table.find(&id).is_some() {
            bail!("a `{sobject}` with id `{id}` exists already");
        }
        let mut values = defaults(table, now);
        values.extend(convert_fields(table, map)?);
        add_formulas(table, &mut values);
        table.push(&id, &values);
        Ok(id)
    }

    /// Changes fields of a live record, moving stamps as `stamp` says.
    pub(crate) fn update(
        &mut self,
        sobject: &str,
        id: &str,
        fields: &Value,
        stamp: Stamp,
    ) -> anyhow::Result<()> {
        let map = as_object(fields)?;
        let table = self.table_mut(sobject)?;
        let row = live_row(table, sobject, id)?;
        let mut values = convert_fields(table, map)?;
        if matches!(stamp, Stamp::User(_)) {
            add_formulas(table, &mut values);
        }
        for (field, value) in &values {
            table.set(row, *field, value);
        }
        if let Stamp::User(at) = stamp {
            table.stamp(row, at, true);
        }
        Ok(())
    }

    /// Moves a live record to the recycle bin.
    pub(crate) fn soft_delete(
        &mut self,
        sobject: &str,
        id: &str,
        now: Millis,
    ) -> anyhow::Result<()> {
        let table = self.table_mut(sobject)?;
        let row = live_row(table, sobject, id)?;
        table.soft_delete(row, now);
        Ok(())
    }

    /// Removes a record, live or deleted, for good.
    pub(crate) fn hard_delete(&mut self, sobject: &str, id: &str) -> anyhow::Result<()> {
        let table = self.table_mut(sobject)?;
        let row = table
            .find(id)
            .ok_or_else(|| anyhow!("no `{sobject}` with id `{id}`"))?;
        table.hard_delete(row);
        Ok(())
    }

    /// Ids of the live records of an sobject, in storage order.
    pub fn ids(&self, sobject: &str) -> Vec<String> {
        let Some(table) = self.store.table(sobject) else {
            return Vec::new();
        };
        (0..table.row_count())
            .filter(|&row| table.state(row) == RowState::Live)
            .map(|row| table.id(row).into_owned())
            .collect()
    }

    /// Every live record of an sobject with all its fields, as a query of
    /// every field renders them, without `attributes`.
    pub fn records(&self, sobject: &str) -> Vec<Value> {
        let Some(table) = self.store.table(sobject) else {
            return Vec::new();
        };
        (0..table.row_count())
            .filter(|&row| table.state(row) == RowState::Live)
            .map(|row| crate::render::record_value(table, row))
            .collect()
    }
}

fn as_object(fields: &Value) -> anyhow::Result<&Map<String, Value>> {
    fields
        .as_object()
        .ok_or_else(|| anyhow!("record fields must be a JSON object"))
}

/// The row of a live record, or an error saying why there is none.
fn live_row(table: &Table, sobject: &str, id: &str) -> anyhow::Result<usize> {
    let row = table
        .find(id)
        .ok_or_else(|| anyhow!("no `{sobject}` with id `{id}`"))?;
    if table.state(row) != RowState::Live {
        bail!("`{sobject}` `{id}` is deleted");
    }
    Ok(row)
}

/// Stamps and flags a new record gets unless its fields say otherwise.
fn defaults(table: &Table, now: Millis) -> Vec<(usize, Scalar<'static>)> {
    let schema = &table.schema;
    let mut values = Vec::new();
    for name in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
        if let Some(field) = schema.field_index(name) {
            values.push((field, Scalar::DateTime(now)));
        }
    }
    for name in ["OwnerId", "CreatedById", "LastModifiedById"] {
        if let Some(field) = schema.field_index(name) {
            values.push((field, Scalar::Text(Cow::Owned(default_user_id()))));
        }
    }
    if let Some(field) = schema.field_index("Newsletter__c") {
        values.push((field, Scalar::Bool(false)));
    }
    values
}

/// The id of the integration user that owns and changes records.
pub(crate) fn default_user_id() -> String {
    crate::ids::make_id("005", "0A", 1)
}

/// Converts a JSON field map into stored values, skipping `attributes`,
/// computed fields and nested relationship objects.
fn convert_fields(
    table: &Table,
    map: &Map<String, Value>,
) -> anyhow::Result<Vec<(usize, Scalar<'static>)>> {
    let schema = &table.schema;
    let mut values = Vec::new();
    for (name, value) in map {
        if name == "attributes" || name.eq_ignore_ascii_case("Id") {
            continue;
        }
        let Some(index) = schema.field_index(name) else {
            if schema.relationship_field(name).is_some() || schema.child(name).is_some() {
                continue;
            }
            bail!("no field `{name}` on `{}`", schema.name);
        };
        let field = &schema.fields[index];
        if field.computed != Computed::No {
            continue;
        }
        let scalar = scalar_from_json(field, value)
            .with_context(|| format!("field `{}` of `{}`", field.name, schema.name))?;
        values.push((index, scalar));
    }
    Ok(values)
}

/// Recomputes formula fields from the values being written, unless the
/// formula's own value is among them.
fn add_formulas(table: &Table, values: &mut Vec<(usize, Scalar<'static>)>) {
    let schema = &table.schema;
    let (Some(score), Some(band)) = (
        schema.field_index("Score__c"),
        schema.field_index("Score_Band__c"),
    ) else {
        return;
    };
    if values.iter().any(|(f, _)| *f == band) {
        return;
    }
    let Some((_, value)) = values.iter().rev().find(|(f, _)| *f == score) else {
        return;
    };
    let number = match value {
        Scalar::Num(n) => Some(*n),
        _ => None,
    };
    let text = schema::score_band(number).map(|b| Scalar::Text(Cow::Borrowed(b)));
    values.push((band, text.unwrap_or(Scalar::Null)));
}

/// Converts one JSON value to the stored form of a field's type.
pub(crate) fn scalar_from_json(field: &Field, value: &Value) -> anyhow::Result<Scalar<'static>> {
    if value.is_null() {
        return Ok(Scalar::Null);
    }
    let wrong = || anyhow!("`{value}` does not fit type {:?}", field.kind);
    Ok(match field.kind {
        FieldType::Boolean => Scalar::Bool(value.as_bool().ok_or_else(wrong)?),
        k if k.is_number() => Scalar::Num(value.as_f64().ok_or_else(wrong)?),
        FieldType::Date => {
            let text = value.as_str().ok_or_else(wrong)?;
            Scalar::Date(clock::parse_date(text).ok_or_else(wrong)?)
        }
        FieldType::Datetime => {
            let text = value.as_str().ok_or_else(wrong)?;
            Scalar::DateTime(clock::parse_datetime(text).ok_or_else(wrong)?)
        }
        FieldType::Multipicklist => {
            Scalar::Text(Cow::Owned(multipicklist_text(value).ok_or_else(wrong)?))
        }
        FieldType::Id | FieldType::Reference => {
            let text = value.as_str().ok_or_else(wrong)?;
            let id = crate::ids::normalize(text).ok_or_else(|| anyhow!("`{text}` is not an id"))?;
            Scalar::Text(Cow::Owned(id))
        }
        _ => Scalar::Text(Cow::Owned(value.as_str().ok_or_else(wrong)?.to_string())),
    })
}

/// A multipicklist value from a `;`-joined string or an array of strings.
fn multipicklist_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let parts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            Some(parts?.join(";"))
        }
        _ => None,
    }
}
