//! Turning a Salesforce record into the fields an item stores.
//!
//! Values are converted by the kind the configuration gives, or by the shape
//! of the JSON when it gives none: dates stay ISO dates, datetimes become
//! RFC 3339 in UTC, multipicklists become arrays, compound addresses
//! objects, parent paths are flattened to the mapped name and child
//! subqueries become arrays of objects.

use std::borrow::Cow;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::config::{FieldMapping, FieldSource, TypeConfig, ValueKind};
use crate::ids::SfId;

/// A record that cannot become an item.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("a `{sobject}` record is not a JSON object: {why}")]
    Json { sobject: String, why: String },
    #[error("a `{sobject}` record has no usable `Id`")]
    NoId { sobject: String },
    #[error("record `{id}`: field `{field}`: {why}")]
    Field {
        id: String,
        field: String,
        why: String,
    },
}

/// A record after mapping, ready for the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The record's 18-character id.
    pub id: SfId,
    /// The text that names the item's path when it is created.
    pub title: String,
    /// The mapped fields as the catalog stores them: the text of a JSON
    /// object, keys in configuration order.
    pub fields: String,
    /// A digest of the mapped fields: equal digests mean nothing to write.
    pub digest: String,
    /// The record's SystemModstamp as Salesforce wrote it.
    pub modstamp: Option<String>,
}

/// Maps one record of type `t`, given as the JSON text Salesforce sent,
/// showing each picklist and multipicklist value to `inspect` on the way
/// (the sync checks them against the cached vocabularies).
///
/// This runs for every record read, so it does as little as it can: the
/// record is read one level deep, only the values it maps are parsed, and
/// the fields are written straight to JSON text; text that needs no
/// conversion is not even parsed, but copied (see [`verbatim`]).
pub fn map_record(
    t: &TypeConfig,
    record: &str,
    mut inspect: impl FnMut(&str, &Value),
) -> Result<Mapped, MapError> {
    let record: Object<'_> = serde_json::from_str(record).map_err(|e| MapError::Json {
        sobject: t.sobject.clone(),
        why: e.to_string(),
    })?;
    let id = record
        .get("Id")
        .and_then(text)
        .and_then(|raw| SfId::parse(&raw).ok())
        .ok_or_else(|| MapError::NoId {
            sobject: t.sobject.clone(),
        })?;
    let field_error = |(field, why)| MapError::Field {
        id: id.to_string(),
        field,
        why,
    };
    let mut json = Vec::with_capacity(512);
    write_fields(&t.fields, &record, &mut json, &mut inspect).map_err(field_error)?;
    let fields = String::from_utf8(json).expect("serde_json writes UTF-8");
    let title = match t.title.as_deref() {
        Some(path) => match verbatim(&record, path) {
            Some(quoted) => unquoted(quoted).to_string(),
            None => title_text(
                &lookup(&record, path).map_err(|why| field_error((path.to_string(), why)))?,
            ),
        },
        None => String::new(),
    };
    let modstamp = record
        .get("SystemModstamp")
        .and_then(text)
        .map(Cow::into_owned);
    let digest = digest(&title, &fields);
    Ok(Mapped {
        id,
        title,
        fields,
        digest,
        modstamp,
    })
}

/// The digest of an item: BLAKE3 over its title and its fields' JSON
/// text, in hex. Any change of a mapped value or of the title changes it;
/// it is computed for every record read, so it must be cheap.
pub fn digest(title: &str, fields_json: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(title.as_bytes());
    // A byte no title holds keeps the title apart from the JSON that follows.
    hasher.update(&[0]);
    hasher.update(fields_json.as_bytes());
    hasher.finalize().to_hex().to_string()
}

/// A JSON object read one level deep: its keys, and its values as the text
/// they came as, both borrowed from the page where they can be. A record
/// holds more than is mapped (`attributes`, fields only criteria use), and
/// this leaves those unparsed.
struct Object<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Object<'a> {
    /// The value at a key, matched exactly first and then without regard
    /// to case, as Salesforce's names are.
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        let entries = &self.0;
        entries
            .iter()
            .find(|(k, _)| k == key)
            .or_else(|| entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
            .map(|&(_, v)| v)
    }
}

impl<'de> Deserialize<'de> for Object<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Object<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object<'de>, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some((Text(key), value)) = map.next_entry::<Text<'de>, &'de RawValue>()? {
                    entries.push((key, value));
                }
                Ok(Object(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// A JSON string, borrowed from the page unless it holds escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Chars;
        impl<'de> Visitor<'de> for Chars {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(Chars)
    }
}

/// The text of a JSON string value; `None` for any other value.
fn text(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Text<'_>>(raw.get())
        .ok()
        .map(|t| t.0)
}

/// Parses a value the mapping uses. The page was read as JSON already, so
/// this fails only on what serde_json refuses to build, such as nesting
/// deeper than it allows.
fn parse(raw: &RawValue) -> Result<Value, String> {
    serde_json::from_str(raw.get()).map_err(|e| format!("invalid JSON: {e}"))
}

/// Writes the fields `mappings` make of `record` to `out` as a JSON
/// object, byte for byte what serde_json makes of the same map, and shows
/// each picklist and multipicklist value to `inspect`. On error, names the
/// field and says why.
fn write_fields(
    mappings: &[FieldMapping],
    record: &Object<'_>,
    out: &mut Vec<u8>,
    inspect: &mut dyn FnMut(&str, &Value),
) -> Result<(), (String, String)> {
    out.push(b'{');
    for (n, m) in mappings.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_json(out, m.name.as_str());
        out.push(b':');
        match &m.source {
            FieldSource::Value { path, kind } => {
                let plain = matches!(kind, ValueKind::Auto | ValueKind::String);
                if let Some(quoted) = plain.then(|| verbatim(record, path)).flatten() {
                    if *kind == ValueKind::String || !is_sf_datetime(quoted) {
                        out.extend_from_slice(quoted.as_bytes());
                        continue;
                    }
                }
                let raw = lookup(record, path).map_err(|why| (m.name.clone(), why))?;
                let value = convert(&raw, *kind).map_err(|why| (m.name.clone(), why))?;
                if matches!(kind, ValueKind::Picklist | ValueKind::Multipicklist) {
                    inspect(&m.name, &value);
                }
                write_json(out, &*value);
            }
            FieldSource::Children {
                relationship,
                fields: inner,
                ..
            } => write_children(record, relationship, inner, out)
                .map_err(|(f, why)| (format!("{}.{f}", m.name), why))?,
        }
    }
    out.push(b'}');
    Ok(())
}

/// The rows of a child subquery result, each left as text.
#[derive(Deserialize)]
struct Children<'a> {
    #[serde(borrow)]
    records: Option<Vec<&'a RawValue>>,
}

/// Writes a child subquery result as an array of mapped objects (empty
/// when null).
fn write_children(
    record: &Object<'_>,
    relationship: &str,
    inner: &[FieldMapping],
    out: &mut Vec<u8>,
) -> Result<(), (String, String)> {
    let no_records = || {
        (
            relationship.to_string(),
            "a child subquery result has no `records` array".to_string(),
        )
    };
    let rows = match record.get(relationship) {
        None => Vec::new(),
        Some(raw) if raw.get() == "null" => Vec::new(),
        Some(raw) => serde_json::from_str::<Children<'_>>(raw.get())
            .ok()
            .and_then(|c| c.records)
            .ok_or_else(no_records)?,
    };
    out.push(b'[');
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let row: Object<'_> = serde_json::from_str(row.get()).map_err(|e| {
            (
                relationship.to_string(),
                format!("a child row is not an object: {e}"),
            )
        })?;
        write_fields(inner, &row, out, &mut |_, _| {})?;
    }
    out.push(b']');
    Ok(())
}

/// Appends the compact JSON of `value`.
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Neither writing to a Vec nor serialising text or a JSON value fails.
    let _ = serde_json::to_writer(out, value);
}

/// The JSON text of a string that holds no escape, quotes included, at a
/// path as [`lookup`] follows it. serde_json would write its value back as
/// exactly this text:
/// it escapes only quotes, backslashes and control characters, and such a
/// string holds none (the first two would need an escape, the last are
/// refused unescaped by the parser that read the page). So where the
/// mapping keeps text as it came, it can copy this and skip the parse,
/// and the fields, and every digest, come out the same.
fn verbatim<'a>(record: &Object<'a>, path: &str) -> Option<&'a str> {
    if let Some((key, rest)) = path.split_once('.') {
        let parent: Object<'a> = serde_json::from_str(record.get(key)?.get()).ok()?;
        return verbatim(&parent, rest);
    }
    let quoted = record.get(path)?.get();
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(quoted)
}

/// The text between the quotes of what [`verbatim`] gave.
fn unquoted(quoted: &str) -> &str {
    &quoted[1..quoted.len() - 1]
}

/// Whether quoted text is a datetime as Salesforce writes it, which `Auto`
/// rewrites in RFC 3339.
fn is_sf_datetime(quoted: &str) -> bool {
    parse_sf_datetime(unquoted(quoted)).is_some()
}

/// Follows a dotted path through nested parent records to a value: null
/// when a key is absent, a parent is null or is not an object.
fn lookup(record: &Object<'_>, path: &str) -> Result<Value, String> {
    match path.split_once('.') {
        None => record.get(path).map_or(Ok(Value::Null), parse),
        Some((key, rest)) => {
            let parent = record
                .get(key)
                .and_then(|raw| serde_json::from_str::<Object<'_>>(raw.get()).ok());
            match parent {
                Some(parent) => lookup(&parent, rest),
                None => Ok(Value::Null),
            }
        }
    }
}

fn title_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Converts one value by its configured kind, borrowing it where it
/// stays as it came.
pub fn convert(raw: &Value, kind: ValueKind) -> Result<Cow<'_, Value>, String> {
    if raw.is_null() {
        return Ok(Cow::Borrowed(raw));
    }
    let owned = Cow::Owned;
    match kind {
        ValueKind::Auto => Ok(auto(raw)),
        ValueKind::String | ValueKind::Picklist => scalar_text(raw),
        ValueKind::Multipicklist => multipicklist(raw),
        ValueKind::Date => date(raw).map(|()| Cow::Borrowed(raw)),
        ValueKind::Datetime => datetime(raw).map(owned),
        ValueKind::Boolean => boolean(raw),
        ValueKind::Number => number(raw).map(owned),
        ValueKind::Address => match raw {
            Value::Object(o) => Ok(owned(Value::Object(without_attributes(o)))),
            _ => Err(format!("expected a compound address, got {}", shape(raw))),
        },
    }
}

/// Without a configured kind: datetimes are recognised by Salesforce's exact
/// form; nested records lose their `attributes`; the rest stays as it came.
fn auto(raw: &Value) -> Cow<'_, Value> {
    match raw {
        Value::String(s) => match parse_sf_datetime(s) {
            Some(dt) => Cow::Owned(Value::String(rfc3339(dt))),
            None => Cow::Borrowed(raw),
        },
        Value::Object(o) => Cow::Owned(Value::Object(without_attributes(o))),
        Value::Number(n) => Cow::Owned(Value::Number(canonical(n))),
        _ => Cow::Borrowed(raw),
    }
}

/// One form per number, whichever way it came: a whole float becomes an
/// integer, so `100000.0` from one API and `100000` from another digest alike.
fn canonical(n: &serde_json::Number) -> serde_json::Number {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
            serde_json::Number::from(f as i64)
        }
        _ => n.clone(),
    }
}

fn without_attributes(o: &Map<String, Value>) -> Map<String, Value> {
    o.iter()
        .filter(|(k, _)| k.as_str() != "attributes")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn scalar_text(raw: &Value) -> Result<Cow<'_, Value>, String> {
    match raw {
        Value::String(_) => Ok(Cow::Borrowed(raw)),
        Value::Bool(_) | Value::Number(_) => Ok(Cow::Owned(Value::String(raw.to_string()))),
        _ => Err(format!("expected text, got {}", shape(raw))),
    }
}

fn multipicklist(raw: &Value) -> Result<Cow<'_, Value>, String> {
    match raw {
        Value::String(s) if s.is_empty() => Ok(Cow::Owned(Value::Array(Vec::new()))),
        Value::String(s) => Ok(Cow::Owned(Value::Array(
            s.split(';').map(|v| Value::String(v.to_string())).collect(),
        ))),
        Value::Array(_) => Ok(Cow::Borrowed(raw)),
        _ => Err(format!("expected `;`-separated values, got {}", shape(raw))),
    }
}

/// Checks that `raw` is an ISO date, which stays as it came.
fn date(raw: &Value) -> Result<(), String> {
    let text = raw
        .as_str()
        .ok_or_else(|| format!("expected a date, got {}", shape(raw)))?;
    let format = format_description!("[year]-[month]-[day]");
    Date::parse(text, format).map_err(|_| format!("`{}` is not a date", clip(text)))?;
    Ok(())
}

fn datetime(raw: &Value) -> Result<Value, String> {
    let text = raw
        .as_str()
        .ok_or_else(|| format!("expected a datetime, got {}", shape(raw)))?;
    let dt = parse_sf_datetime(text)
        .or_else(|| OffsetDateTime::parse(text, &Rfc3339).ok())
        .ok_or_else(|| format!("`{}` is not a datetime", clip(text)))?;
    Ok(Value::String(rfc3339(dt)))
}

fn boolean(raw: &Value) -> Result<Cow<'_, Value>, String> {
    match raw {
        Value::Bool(_) => Ok(Cow::Borrowed(raw)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Cow::Owned(Value::Bool(true))),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Cow::Owned(Value::Bool(false))),
        _ => Err(format!("expected a boolean, got {}", shape(raw))),
    }
}

fn number(raw: &Value) -> Result<Value, String> {
    match raw {
        Value::Number(n) => Ok(Value::Number(canonical(n))),
        Value::String(s) if s.is_empty() => Ok(Value::Null),
        Value::String(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(|n| Value::Number(canonical(&n)))
            .ok_or_else(|| format!("`{}` is not a number", clip(s))),
        _ => Err(format!("expected a number, got {}", shape(raw))),
    }
}

/// Parses Salesforce's `2024-01-31T12:34:56.000+0000`.
pub fn parse_sf_datetime(text: &str) -> Option<OffsetDateTime> {
    if text.len() != 28 {
        return None;
    }
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory][offset_minute]"
    );
    OffsetDateTime::parse(text, format).ok()
}

/// Formats a datetime as RFC 3339 in UTC, such as `2024-01-31T12:34:56Z`.
pub fn rfc3339(dt: OffsetDateTime) -> String {
    let utc = dt.to_offset(UtcOffset::UTC);
    let plain = PrimitiveDateTime::new(utc.date(), utc.time());
    plain
        .assume_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

fn shape(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;
    use std::path::Path;

    fn contact() -> TypeConfig {
        let text = r#"
[salesforce]
auth = "access_token"
instance_url = "https://acme.my.salesforce.com"
[[types]]
name = "Contact"
sobject = "Contact"
title = "Name"
[types.fields]
name = "Name"
account_name = "Account.Name"
birthdate = { sf = "Birthdate", type = "date" }
stamp = "SystemModstamp"
industries = { sf = "Industries__c", type = "multipicklist" }
newsletter = "Newsletter__c"
score = { sf = "Score__c", type = "number" }
address = "MailingAddress"
roles = { relationship = "OpportunityContactRoles", fields = { role = "Role", contact = "Contact.Name" } }
"#;
        Config::parse(Path::new("sync.toml"), text)
            .unwrap()
            .types
            .remove(0)
    }

    fn record() -> Value {
        json!({
            "attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003R000000A1BCDIA3"},
            "Id": "003R000000A1BCDIA3",
            "SystemModstamp": "2024-03-17T16:21:26.000+0000",
            "Name": "Ada Lovelace",
            "Account": {"attributes": {"type": "Account"}, "Name": "Acme"},
            "Birthdate": "1999-01-31",
            "Industries__c": "Retail;Energy",
            "Newsletter__c": true,
            "Score__c": 12.5,
            "MailingAddress": {"city": "Paris", "country": "FR", "latitude": null},
            "OpportunityContactRoles": {"totalSize": 1, "done": true, "records": [
                {"attributes": {"type": "OpportunityContactRole"}, "Id": "00K000000000001AAA", "Role": "Decision Maker",
                 "Contact": {"attributes": {}, "Name": "Ada Lovelace"}}
            ]}
        })
    }

    /// Maps a record, showing its values to no one.
    fn map(t: &TypeConfig, record: &Value) -> Result<Mapped, MapError> {
        map_record(t, &record.to_string(), |_, _| {})
    }

    fn fields(m: &Mapped) -> Value {
        serde_json::from_str(&m.fields).unwrap()
    }

    #[test]
    fn fields_are_the_json_serde_json_makes_of_the_same_map() {
        let mut r = record();
        r["Name"] = json!("Ada \"the Countess\" Lovelace\n\u{e9}\u{1F600}");
        let m = map(&contact(), &r).unwrap();
        let map: Map<String, Value> = serde_json::from_str(&m.fields).unwrap();
        assert_eq!(serde_json::to_string(&map).unwrap(), m.fields);
        assert_eq!(map.keys().next().map(String::as_str), Some("name"));
        assert_eq!(map["name"], r["Name"]);
    }

    #[test]
    fn picklist_values_are_shown_to_inspect() {
        let mut shown = Vec::new();
        map_record(&contact(), &record().to_string(), |name, value| {
            shown.push((name.to_string(), value.clone()));
        })
        .unwrap();
        assert_eq!(
            shown,
            [("industries".to_string(), json!(["Retail", "Energy"]))]
        );
    }

    /// What the mapping writes for a value when it parses it.
    fn written(raw: &str, kind: ValueKind) -> String {
        let value: Value = serde_json::from_str(raw).unwrap();
        serde_json::to_string(&*convert(&value, kind).unwrap()).unwrap()
    }

    #[test]
    fn text_copied_as_it_came_is_what_a_parse_would_write() {
        let raws = [
            r#""Ada Lovelace""#,
            r#""""#,
            r#""Zoë, 東京 & 🚀 / <b>""#,
            r#""2024-03-17T16:21:26.000+0000""#,
            r#""2024-03-17""#,
        ];
        for raw in raws {
            let record = format!(r#"{{"Name": {raw}}}"#);
            let object: Object<'_> = serde_json::from_str(&record).unwrap();
            let quoted = verbatim(&object, "Name").expect(raw);
            assert_eq!(quoted, written(raw, ValueKind::String), "{raw}");
            if !is_sf_datetime(quoted) {
                assert_eq!(quoted, written(raw, ValueKind::Auto), "{raw}");
            }
        }
        // Escapes, even needless ones, take the long way.
        for raw in [r#""a \"quote\"""#, r#""a\/b""#, r#""\u0041""#, "1", "null"] {
            let record = format!(r#"{{"Name": {raw}}}"#);
            let object: Object<'_> = serde_json::from_str(&record).unwrap();
            assert_eq!(verbatim(&object, "Name"), None, "{raw}");
        }
        let parent: Object<'_> =
            serde_json::from_str(r#"{"Account": {"Name": "A", "Type": null}}"#).unwrap();
        assert_eq!(verbatim(&parent, "Account.Name"), Some(r#""A""#));
        assert_eq!(verbatim(&parent, "Account.Type"), None);
        assert_eq!(verbatim(&parent, "Account.Name.First"), None);
        assert_eq!(verbatim(&parent, "Owner.Name"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_string_maps_to_the_same_fields_and_digest(text in "\\PC{0,40}") {
            let mut record = record();
            record["Name"] = json!(text);
            record["Account"]["Name"] = json!(text);
            let mapped = map(&contact(), &record).unwrap();
            // The fields as the long way writes them, value by value.
            let long_way = written(&serde_json::to_string(&text).unwrap(), ValueKind::Auto);
            let fields: Object<'_> = serde_json::from_str(&mapped.fields).unwrap();
            for field in ["name", "account_name"] {
                let value = fields.get(field).map(RawValue::get);
                proptest::prop_assert_eq!(value, Some(long_way.as_str()));
            }
            proptest::prop_assert_eq!(&mapped.title, &text);
            proptest::prop_assert_eq!(&mapped.digest, &digest(&mapped.title, &mapped.fields));
        }
    }

    #[test]
    fn a_full_record_maps_to_catalog_values() {
        let m = map(&contact(), &record()).unwrap();
        assert_eq!(m.id.as_str(), "003R000000A1BCDIA3");
        assert_eq!(m.title, "Ada Lovelace");
        assert_eq!(m.modstamp.as_deref(), Some("2024-03-17T16:21:26.000+0000"));
        assert_eq!(
            fields(&m),
            json!({
                "name": "Ada Lovelace",
                "account_name": "Acme",
                "birthdate": "1999-01-31",
                "stamp": "2024-03-17T16:21:26Z",
                "industries": ["Retail", "Energy"],
                "newsletter": true,
                "score": 12.5,
                "address": {"city": "Paris", "country": "FR", "latitude": null},
                "roles": [{"role": "Decision Maker", "contact": "Ada Lovelace"}]
            })
        );
    }

    #[test]
    fn null_parents_and_empty_children_become_null_and_empty() {
        let mut r = record();
        r["Account"] = Value::Null;
        r["OpportunityContactRoles"] = Value::Null;
        r["Industries__c"] = Value::Null;
        let m = map(&contact(), &r).unwrap();
        let f = fields(&m);
        assert_eq!(f["account_name"], Value::Null);
        assert_eq!(f["roles"], json!([]));
        assert_eq!(f["industries"], Value::Null);
    }

    #[test]
    fn a_new_title_alone_changes_the_digest() {
        let a = map(&contact(), &record()).unwrap();
        let mut r = record();
        r["Name"] = json!("Ada King");
        let mut t = contact();
        t.fields.retain(|f| f.name != "name");
        let b = map(&t, &r).unwrap();
        let c = map(&t, &record()).unwrap();
        assert_eq!(b.fields, c.fields, "the title field is not mapped here");
        assert_ne!(b.digest, c.digest);
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn digest_follows_the_fields_only() {
        let a = map(&contact(), &record()).unwrap();
        let mut r = record();
        r["SystemModstamp"] = json!("2025-01-01T00:00:00.000+0000");
        r["Unmapped__c"] = json!("x");
        let b = map(&contact(), &r).unwrap();
        assert_ne!(a.fields, b.fields, "stamp is mapped here");
        let mut r = record();
        r["Unmapped__c"] = json!("x");
        assert_eq!(map(&contact(), &r).unwrap().digest, a.digest);
        r["Name"] = json!("Ada King");
        assert_ne!(map(&contact(), &r).unwrap().digest, a.digest);
    }

    #[test]
    fn bad_values_name_the_record_and_field() {
        let mut r = record();
        r["Score__c"] = json!({"nested": true});
        let err = map(&contact(), &r).unwrap_err().to_string();
        assert!(
            err.contains("003R000000A1BCDIA3") && err.contains("`score`"),
            "{err}"
        );
        let mut r = record();
        r.as_object_mut().unwrap().remove("Id");
        assert!(matches!(map(&contact(), &r), Err(MapError::NoId { .. })));
    }

    #[test]
    fn names_match_without_regard_to_case_and_escapes_are_read() {
        let text = r#"{"attributes": {"type": "Contact"}, "ID": "003R000000A1BCDIA3",
            "n\u0061me": "Ada", "Name": "Ada Lovelace", "account": {"NAME": "Acm\u00e9"},
            "Birthdate": null, "Score__c": 3.0}"#;
        let m = map_record(&contact(), text, |_, _| {}).unwrap();
        assert_eq!(m.id.as_str(), "003R000000A1BCDIA3");
        assert_eq!(m.title, "Ada Lovelace", "an exact match comes first");
        let f = fields(&m);
        assert_eq!(f["account_name"], json!("Acm\u{e9}"));
        assert_eq!(f["score"], json!(3));
        assert_eq!(f["birthdate"], Value::Null);
        assert_eq!(f["roles"], json!([]));
    }

    #[test]
    fn paths_follow_parents_of_parents() {
        let mut t = contact();
        let text = r#"
[salesforce]
auth = "access_token"
instance_url = "https://acme.my.salesforce.com"
[[types]]
name = "Contact"
sobject = "Contact"
[types.fields]
owner = "Account.Owner.Name"
"#;
        t.fields = Config::parse(Path::new("sync.toml"), text)
            .unwrap()
            .types
            .remove(0)
            .fields;
        let mut r = record();
        r["Account"]["Owner"] = json!({"attributes": {"type": "User"}, "Name": "Grace"});
        assert_eq!(fields(&map(&t, &r).unwrap())["owner"], json!("Grace"));
        r["Account"]["Owner"] = Value::Null;
        assert_eq!(fields(&map(&t, &r).unwrap())["owner"], Value::Null);
        r["Account"] = Value::Null;
        assert_eq!(fields(&map(&t, &r).unwrap())["owner"], Value::Null);
    }

    #[test]
    fn a_parent_that_is_not_an_object_has_no_fields() {
        let mut r = record();
        r["Account"] = json!("Acme");
        assert_eq!(
            fields(&map(&contact(), &r).unwrap())["account_name"],
            Value::Null
        );
    }

    #[test]
    fn a_record_that_is_not_an_object_is_refused() {
        for text in ["[1, 2]", "\"003R000000A1BCDIA3\"", "{\"Id\": "] {
            let err = map_record(&contact(), text, |_, _| {}).unwrap_err();
            assert!(matches!(err, MapError::Json { .. }), "{text}: {err}");
            assert!(err.to_string().contains("`Contact` record"), "{err}");
        }
    }

    #[test]
    fn a_child_result_without_rows_is_an_error_on_its_field() {
        let mut r = record();
        r["OpportunityContactRoles"] = json!({"totalSize": 0, "done": true});
        let err = map(&contact(), &r).unwrap_err().to_string();
        assert!(err.contains("`roles.OpportunityContactRoles`"), "{err}");
    }

    #[test]
    fn csv_text_converts_by_kind() {
        assert_eq!(
            *convert(&json!("true"), ValueKind::Boolean).unwrap(),
            json!(true)
        );
        assert_eq!(
            *convert(&json!("12.5"), ValueKind::Number).unwrap(),
            json!(12.5)
        );
        assert_eq!(
            *convert(&json!(""), ValueKind::Multipicklist).unwrap(),
            json!([])
        );
        assert_eq!(
            *convert(&json!("2024-01-31T12:34:56.000+0100"), ValueKind::Datetime).unwrap(),
            json!("2024-01-31T11:34:56Z")
        );
        assert!(convert(&json!("31/01/2024"), ValueKind::Date).is_err());
    }
}
