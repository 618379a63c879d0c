//! The plain types that cross the catalog's interface.
//!
//! None of them mention SQL, so another backend can produce and accept
//! the same values.

use serde::Serialize;
use serde_json::Value;

/// A record as the sync hands it to the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The record's 18-character Salesforce id.
    pub sf_object_id: String,
    /// The value of the type's title field; the item's path is made from it
    /// once, when the item is created.
    pub title: String,
    /// The mapped fields: the text of a JSON object, keys in the
    /// configured order.
    pub fields: String,
    /// The sync's digest of the record; equal digests mean nothing changed.
    pub digest: String,
}

/// An item as the catalog holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    /// The configured content type.
    pub type_name: String,
    /// The record's 18-character Salesforce id.
    pub sf_object_id: String,
    /// The item's stable path: container, `/`, slug.
    pub path: String,
    /// The workflow state: `private` or `published`.
    pub state: String,
    /// The mapped fields, a JSON object.
    pub fields: Value,
    /// The digest of the record last written; empty after a rejection.
    pub digest: String,
    /// When the item was created (RFC 3339 UTC).
    pub created_at: String,
    /// When the item last changed, in content or state.
    pub updated_at: String,
    /// When the item's content was last written from the org.
    pub synced_at: String,
}

/// What happened to one item, as stored in `events` and sent to hooks.
///
/// Serializes as one JSON object:
/// `{"run":..,"at":..,"kind":..,"type":..,"sf_object_id":..,"path":..,
/// "fields":..}`, with `fields` only on `deleted` events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The run that caused the event.
    #[serde(rename = "run")]
    pub run_id: i64,
    /// When it happened (RFC 3339 UTC).
    pub at: String,
    /// What happened.
    pub kind: EventKind,
    /// The item's type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The item's Salesforce id.
    pub sf_object_id: String,
    /// The item's path.
    pub path: String,
    /// The last fields of a deleted item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Value>,
}

/// The kinds of [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A record appeared and became an item.
    Created,
    /// An item's record changed.
    Updated,
    /// An item became `published`.
    Published,
    /// An item's record was not found in the org.
    NotFound,
    /// A missing item was made `private`.
    Rejected,
    /// A missing item was removed from the catalog.
    Deleted,
}

impl EventKind {
    /// The name stored in the catalog and sent to hooks.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Updated => "updated",
            EventKind::Published => "published",
            EventKind::NotFound => "not_found",
            EventKind::Rejected => "rejected",
            EventKind::Deleted => "deleted",
        }
    }
}

/// How one staged batch compared with the catalog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchCounts {
    /// Records with no item yet.
    pub new: u64,
    /// Records whose digest differs from their item's.
    pub changed: u64,
    /// Records whose digest equals their item's; they are not staged.
    pub unchanged: u64,
}

/// What to do with an item whose record is missing from the org.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMissing {
    /// Only record a `not_found` event.
    Keep,
    /// Make the item `private`.
    Reject,
    /// Remove the item, keeping its last fields in the `deleted` event.
    Delete,
}

/// Which items the missing step looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingScope {
    /// None: the read was partial (an incremental sync without a listing).
    None,
    /// Every item of the type not seen during the read.
    Unseen,
    /// Just these ids (a `sync-one` of a record gone from the org).
    Ids(Vec<String>),
}

/// How [`Stage::apply`](super::Stage::apply) treats the staged records.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyPolicy {
    /// The run the events belong to; must come from
    /// [`Catalog::begin_run`](super::Catalog::begin_run).
    pub run_id: i64,
    /// The first segment of new items' paths.
    pub container: String,
    /// Whether created and updated items become `published`.
    pub publish: bool,
    /// What to do with missing items.
    pub on_missing: OnMissing,
    /// Which items can be missing.
    pub missing: MissingScope,
    /// The largest share of a type's items that may go missing at once
    /// (0.5 by default).
    pub max_missing: f64,
    /// Whether to go past `max_missing` (and past an empty read).
    pub allow_mass_missing: bool,
    /// Whether to roll everything back after computing it.
    pub dry_run: bool,
    /// Whether [`Applied::events`] should hold the events; they are always
    /// written to the catalog.
    pub collect_events: bool,
    /// The type's new watermark, when the read produced one.
    pub watermark: Option<String>,
    /// Whether the read covered every record of the type.
    pub full_read: bool,
}

impl ApplyPolicy {
    /// A policy that creates and updates items, publishes nothing and
    /// skips the missing step; callers set the fields they need.
    pub fn new(run_id: i64, container: &str) -> ApplyPolicy {
        ApplyPolicy {
            run_id,
            container: container.to_string(),
            publish: false,
            on_missing: OnMissing::Keep,
            missing: MissingScope::None,
            max_missing: 0.5,
            allow_mass_missing: false,
            dry_run: false,
            collect_events: false,
            watermark: None,
            full_read: false,
        }
    }
}

/// How many items each step touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Items created.
    pub created: u64,
    /// Items whose content changed.
    pub updated: u64,
    /// Records that matched their item.
    pub unchanged: u64,
    /// Items that became `published`.
    pub published: u64,
    /// Items whose record was missing.
    pub missing: u64,
    /// Missing items made `private`.
    pub rejected: u64,
    /// Missing items removed.
    pub deleted: u64,
}

/// The outcome of an apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// The events, when the policy asked to collect them.
    pub events: Vec<Event>,
    /// What was done.
    pub counts: Counts,
}

/// A view to define for one type: a column per mapped field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeView {
    /// The type's name; the view is named after it, lowercased.
    pub name: String,
    /// The mapped fields, in the order the columns should have.
    pub fields: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// It did what it was asked.
    Ok,
    /// It stopped on an error.
    Failed,
}

impl RunOutcome {
    /// The name stored in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Failed => "failed",
        }
    }
}

/// A row of the run log.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run's id.
    pub id: i64,
    /// The command that ran.
    pub command: String,
    /// The process id of that command.
    pub pid: u32,
    /// When it started.
    pub started_at: String,
    /// When it finished, unless it is still running or died.
    pub finished_at: Option<String>,
    /// How it ended; `None` while running (or if it died without saying).
    pub outcome: Option<RunOutcome>,
    /// The counts it reported.
    pub counts: Option<Value>,
    /// The error it failed with.
    pub error: Option<String>,
}

/// Where a type's sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeState {
    /// The highest SystemModstamp seen, as Salesforce formats it.
    pub watermark: Option<String>,
    /// When the last read of every record finished.
    pub last_full_read_at: Option<String>,
    /// When the last apply succeeded.
    pub last_ok_at: Option<String>,
}
