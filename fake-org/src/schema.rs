//! Per-sobject schemas, read from the recorded describe bodies in `data/`,
//! plus the custom Contact fields the generator fills. The same schema drives
//! storage, SOQL name resolution, rendering and the served describe.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};

/// The sobjects every org has, with their recorded describe bodies.
const DESCRIBES: [(&str, &str); 4] = [
    ("Account", include_str!("../data/describe-Account.json")),
    ("Contact", include_str!("../data/describe-Contact.json")),
    (
        "Opportunity",
        include_str!("../data/describe-Opportunity.json"),
    ),
    (
        "OpportunityContactRole",
        include_str!("../data/describe-OpportunityContactRole.json"),
    ),
];

/// Values of the custom `Experience__c` picklist; `Intern` is inactive.
pub const EXPERIENCE: [&str; 5] = ["Junior", "Mid", "Senior", "Principal", "Intern"];

/// Values of the dependent `Specialty__c` picklist, each with the indexes of
/// the `Experience__c` values it is valid for.
pub const SPECIALTIES: [(&str, &[usize]); 6] = [
    ("Frontend", &[0, 1, 2]),
    ("Backend", &[0, 1, 2]),
    ("Data", &[1, 2, 3]),
    ("Security", &[2, 3]),
    ("Architecture", &[3]),
    ("Onboarding", &[0, 4]),
];

/// Values of the custom `Industries__c` multipicklist.
pub const INDUSTRIES: [&str; 7] = [
    "Agriculture",
    "Banking",
    "Education",
    "Energy",
    "Healthcare",
    "Retail",
    "Technology",
];

/// A field's type, as describe names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Id,
    Boolean,
    Reference,
    Text,
    Picklist,
    Multipicklist,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    Datetime,
    Address,
    Location,
}

impl FieldType {
    /// Maps describe's `type` to the kinds the fake org stores.
    fn from_describe(kind: &str) -> FieldType {
        match kind {
            "id" => FieldType::Id,
            "boolean" => FieldType::Boolean,
            "reference" => FieldType::Reference,
            "picklist" => FieldType::Picklist,
            "multipicklist" => FieldType::Multipicklist,
            "int" => FieldType::Int,
            "double" => FieldType::Double,
            "currency" => FieldType::Currency,
            "percent" => FieldType::Percent,
            "date" => FieldType::Date,
            "datetime" => FieldType::Datetime,
            "address" => FieldType::Address,
            "location" => FieldType::Location,
            _ => FieldType::Text,
        }
    }

    /// True for the types whose values are JSON numbers.
    pub fn is_number(self) -> bool {
        matches!(
            self,
            FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent
        )
    }

    /// True for the types whose values are JSON strings.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::Id
                | FieldType::Reference
                | FieldType::Text
                | FieldType::Picklist
                | FieldType::Multipicklist
        )
    }
}

/// How a field that is not stored gets its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Computed {
    /// Stored like any other field.
    No,
    /// `IsDeleted`, from the record's state.
    IsDeleted,
    /// A compound address built from the parts sharing its prefix.
    Address,
    /// A compound geolocation; always null here.
    Location,
    /// Contact's `Name`: first name and last name.
    PersonName,
}

/// One field of an sobject.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub kind: FieldType,
    /// The sobject a reference points at, when it is one this org serves.
    pub reference_to: Option<String>,
    pub relationship_name: Option<String>,
    pub computed: Computed,
}

/// A child relationship whose child sobject this org serves.
#[derive(Debug, Clone)]
pub struct ChildRelationship {
    pub name: String,
    pub child_sobject: String,
    pub field: String,
}

/// Everything the fake org knows about one sobject.
#[derive(Debug)]
pub struct Schema {
    pub name: String,
    pub key_prefix: String,
    pub fields: Vec<Field>,
    by_name: HashMap<String, usize>,
    by_relationship: HashMap<String, usize>,
    pub children: Vec<ChildRelationship>,
    /// The part fields of each compound address, by prefix.
    address_parts: HashMap<String, [Option<usize>; 8]>,
    describe: Value,
}

impl Schema {
    /// The index of a field, by case-insensitive name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    /// The index of the reference field behind a parent relationship name.
    pub fn relationship_field(&self, name: &str) -> Option<usize> {
        self.by_relationship
            .get(&name.to_ascii_lowercase())
            .copied()
    }

    /// A child relationship, by case-insensitive name.
    pub fn child(&self, name: &str) -> Option<&ChildRelationship> {
        self.children
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The fields holding the parts of the compound address with this
    /// prefix, in the order of [`render::ADDRESS_PARTS`](crate::render::ADDRESS_PARTS).
    pub fn address_parts(&self, prefix: &str) -> [Option<usize>; 8] {
        self.address_parts.get(prefix).copied().unwrap_or([None; 8])
    }

    /// The describe body as served, with the API version and host filled in.
    pub fn describe_json(&self, version: &str, base_url: &str) -> String {
        self.describe
            .to_string()
            .replace("/vxx.0/", &format!("/{version}/"))
            .replace("https://orgname.my.salesforce.com", base_url)
    }

    /// A describe-global entry for this sobject.
    pub fn global_entry(&self, version: &str) -> Value {
        let mut entry = serde_json::Map::new();
        for key in [
            "name",
            "label",
            "labelPlural",
            "keyPrefix",
            "custom",
            "queryable",
            "retrieveable",
            "replicateable",
            "searchable",
            "createable",
            "updateable",
            "deletable",
        ] {
            entry.insert(key.into(), self.describe[key].clone());
        }
        let urls = json!({
            "sobject": format!("/services/data/{version}/sobjects/{}", self.name),
            "describe": format!("/services/data/{version}/sobjects/{}/describe", self.name),
            "rowTemplate": format!("/services/data/{version}/sobjects/{}/{{ID}}", self.name),
        });
        entry.insert("urls".into(), urls);
        Value::Object(entry)
    }
}

/// The schemas of every sobject the org serves, parsed once.
pub fn all() -> &'static [Arc<Schema>] {
    static SCHEMAS: OnceLock<Vec<Arc<Schema>>> = OnceLock::new();
    SCHEMAS.get_or_init(build_all)
}

/// A schema by case-insensitive sobject name.
pub fn find(name: &str) -> Option<&'static Arc<Schema>> {
    all().iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// Parses the recorded describes and adjusts them to what the org serves.
fn build_all() -> Vec<Arc<Schema>> {
    let served: Vec<&str> = DESCRIBES.iter().map(|(name, _)| *name).collect();
    DESCRIBES
        .iter()
        .map(|(name, text)| {
            // The describes are compiled in; a broken one is a build defect.
            let mut describe: Value =
                serde_json::from_str(text).expect("recorded describe is valid JSON");
            adjust_describe(name, &mut describe);
            Arc::new(schema_from_describe(describe, &served))
        })
        .collect()
}

/// Applies the fake org's additions to a recorded describe.
fn adjust_describe(name: &str, describe: &mut Value) {
    match name {
        "Contact" => add_contact_custom_fields(describe),
        "Opportunity" => restrict_picklist(describe, "StageName"),
        _ => {}
    }
}

/// Builds a schema from a describe body.
fn schema_from_describe(describe: Value, served: &[&str]) -> Schema {
    let name = text_of(&describe["name"]);
    let fields: Vec<Field> = describe["fields"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|f| field_from_describe(&name, f, served))
                .collect()
        })
        .unwrap_or_default();
    let by_name = fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.to_ascii_lowercase(), i))
        .collect();
    let by_relationship = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.reference_to.is_some())
        .filter_map(|(i, f)| Some((f.relationship_name.as_ref()?.to_ascii_lowercase(), i)))
        .collect();
    let mut schema = Schema {
        key_prefix: text_of(&describe["keyPrefix"]),
        children: children_from_describe(&describe, served),
        name,
        fields,
        by_name,
        by_relationship,
        address_parts: HashMap::new(),
        describe,
    };
    schema.address_parts = address_parts_of(&schema);
    schema
}

/// Finds the part fields of every compound address of a schema.
fn address_parts_of(schema: &Schema) -> HashMap<String, [Option<usize>; 8]> {
    schema
        .fields
        .iter()
        .filter(|f| f.kind == FieldType::Address)
        .map(|f| {
            let prefix = f
                .name
                .strip_suffix("Address")
                .unwrap_or(&f.name)
                .to_string();
            let parts = crate::render::ADDRESS_PARTS
                .map(|(_, suffix)| schema.field_index(&format!("{prefix}{suffix}")));
            (prefix, parts)
        })
        .collect()
}

/// Reads one field of a describe.
fn field_from_describe(sobject: &str, f: &Value, served: &[&str]) -> Field {
    let name = text_of(&f["name"]);
    let kind = FieldType::from_describe(f["type"].as_str().unwrap_or("string"));
    let reference_to = f["referenceTo"]
        .as_array()
        .and_then(|targets| targets.first())
        .and_then(Value::as_str)
        .filter(|target| served.contains(target))
        .map(str::to_string);
    let computed = match (kind, name.as_str()) {
        (FieldType::Address, _) => Computed::Address,
        (FieldType::Location, _) => Computed::Location,
        (_, "IsDeleted") => Computed::IsDeleted,
        (_, "Name") if sobject == "Contact" => Computed::PersonName,
        _ => Computed::No,
    };
    Field {
        relationship_name: f["relationshipName"].as_str().map(str::to_string),
        name,
        kind,
        reference_to,
        computed,
    }
}

/// Reads the child relationships whose child sobject the org serves.
fn children_from_describe(describe: &Value, served: &[&str]) -> Vec<ChildRelationship> {
    let Some(all) = describe["childRelationships"].as_array() else {
        return Vec::new();
    };
    all.iter()
        .filter(|c| served.contains(&c["childSObject"].as_str().unwrap_or("")))
        .filter_map(|c| {
            Some(ChildRelationship {
                name: c["relationshipName"].as_str()?.to_string(),
                child_sobject: text_of(&c["childSObject"]),
                field: text_of(&c["field"]),
            })
        })
        .collect()
}

fn text_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Marks a picklist restricted, as the issue asks of `StageName`.
fn restrict_picklist(describe: &mut Value, field: &str) {
    if let Some(fields) = describe["fields"].as_array_mut() {
        for f in fields.iter_mut().filter(|f| f["name"] == field) {
            f["restrictedPicklist"] = Value::Bool(true);
        }
    }
}

/// Appends the generator's custom fields to the Contact describe.
fn add_contact_custom_fields(describe: &mut Value) {
    let template = |name: &str| -> Value {
        describe["fields"]
            .as_array()
            .and_then(|all| all.iter().find(|f| f["name"] == name))
            .cloned()
            .unwrap_or_else(|| json!({}))
    };
    let picklist = template("LeadSource");
    let custom = [
        custom_field(&picklist, experience_overrides()),
        custom_field(&picklist, specialty_overrides()),
        custom_field(&picklist, industries_overrides()),
        custom_field(&template("IsEmailBounced"), newsletter_overrides()),
        custom_field(&template("MailingLatitude"), score_overrides()),
        custom_field(&template("EmailBouncedDate"), last_event_overrides()),
        custom_field(&template("Title"), score_band_overrides()),
    ];
    if let Some(fields) = describe["fields"].as_array_mut() {
        fields.extend(custom);
    }
}

/// Copies a template field and applies overrides plus what every custom
/// field shares.
fn custom_field(template: &Value, overrides: Value) -> Value {
    let mut field = template.clone();
    let shared = json!({
        "custom": true, "createable": true, "updateable": true, "nillable": true,
        "compoundFieldName": null, "controllerName": null, "dependentPicklist": false,
        "restrictedPicklist": false, "calculated": false, "calculatedFormula": null,
        "picklistValues": [], "referenceTo": [], "relationshipName": null,
        "inlineHelpText": null, "extraTypeInfo": null, "defaultValue": null,
    });
    for source in [shared, overrides] {
        if let (Some(target), Value::Object(map)) = (field.as_object_mut(), source) {
            target.extend(map);
        }
    }
    field
}

/// One entry of `picklistValues`.
fn picklist_value(value: &str, active: bool, valid_for: Option<String>) -> Value {
    json!({"active": active, "defaultValue": false, "label": value,
           "validFor": valid_for, "value": value})
}

fn experience_overrides() -> Value {
    let values: Vec<Value> = EXPERIENCE
        .iter()
        .map(|v| picklist_value(v, *v != "Intern", None))
        .collect();
    json!({"name": "Experience__c", "label": "Experience", "type": "picklist",
           "restrictedPicklist": true, "picklistValues": values})
}

fn specialty_overrides() -> Value {
    let values: Vec<Value> = SPECIALTIES
        .iter()
        .map(|(v, valid)| picklist_value(v, true, Some(valid_for_bits(valid))))
        .collect();
    json!({"name": "Specialty__c", "label": "Specialty", "type": "picklist",
           "dependentPicklist": true, "controllerName": "Experience__c",
           "picklistValues": values})
}

/// Encodes controlling indexes as describe's `validFor`: bit i, most
/// significant bit of each byte first, set when valid for controller value i.
pub fn valid_for_bits(indexes: &[usize]) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 3];
    for &i in indexes {
        bytes[i / 8] |= 0x80 >> (i % 8);
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn industries_overrides() -> Value {
    let values: Vec<Value> = INDUSTRIES
        .iter()
        .map(|v| picklist_value(v, true, None))
        .collect();
    json!({"name": "Industries__c", "label": "Industries", "type": "multipicklist",
           "length": 4099, "byteLength": 12297, "picklistValues": values})
}

fn newsletter_overrides() -> Value {
    json!({"name": "Newsletter__c", "label": "Newsletter", "type": "boolean",
           "nillable": false, "defaultValue": false, "defaultedOnCreate": true})
}

fn score_overrides() -> Value {
    json!({"name": "Score__c", "label": "Score", "type": "double",
           "precision": 5, "scale": 1, "compoundFieldName": null})
}

fn last_event_overrides() -> Value {
    json!({"name": "Last_Event__c", "label": "Last Event", "type": "datetime"})
}

fn score_band_overrides() -> Value {
    json!({"name": "Score_Band__c", "label": "Score Band", "type": "string",
           "calculated": true, "createable": false, "updateable": false,
           "length": 1300, "byteLength": 3900,
           "calculatedFormula":
               "IF(Score__c >= 70, \"High\", IF(Score__c >= 40, \"Medium\", \"Low\"))"})
}

/// The value of the `Score_Band__c` formula for a score.
pub fn score_band(score: Option<f64>) -> Option<&'static str> {
    let score = score?;
    Some(if score >= 70.0 {
        "High"
    } else if score >= 40.0 {
        "Medium"
    } else {
        "Low"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_has_its_custom_fields_and_children() {
        let contact = find("contact").unwrap();
        let i = contact.field_index("specialty__C").unwrap();
        assert_eq!(contact.fields[i].kind, FieldType::Picklist);
        assert!(contact.child("opportunitycontactroles").is_some());
        let account = contact.relationship_field("ACCOUNT").unwrap();
        assert_eq!(
            contact.fields[account].reference_to.as_deref(),
            Some("Account")
        );
    }

    #[test]
    fn valid_for_sets_most_significant_bit_first() {
        assert_eq!(valid_for_bits(&[0]), "gAAA");
    }
}
