//! The catalog's schema, as versioned migrations kept in `user_version`.
//!
//! A migration that has shipped is never edited: change the schema by
//! appending a new one.

use std::path::Path;

use rusqlite::Connection;
use rusqlite_migration::{Migrations, SchemaVersion, M};

use super::error::{self, CatalogError};
use super::Result;

/// Version 1: items, runs, events and the per-type sync state.
const V1_ITEMS_RUNS_EVENTS: &str = "
-- One row per synced record. `fields` is a JSON object of the mapped
-- fields in the configured order; `digest` is computed by the sync and is
-- set to '' when an item is rejected, so that its return counts as a
-- change. Times are RFC 3339 UTC.
CREATE TABLE items (
    id           INTEGER PRIMARY KEY,
    type         TEXT NOT NULL,
    sf_object_id TEXT NOT NULL,
    path         TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('private', 'published')),
    title        TEXT NOT NULL,
    fields       TEXT NOT NULL,
    digest       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    synced_at    TEXT NOT NULL
);

-- Serves the digest look-up of every staged record and find_item with a
-- type; also keeps an id unique within its type and backs count_items and
-- the missing step's scan of one type.
CREATE UNIQUE INDEX items_by_type_id ON items (type, sf_object_id);

-- Serves find_item and find_items_by_ids when no type is given.
CREATE INDEX items_by_id ON items (sf_object_id);

-- Serves path allocation and find_items_by_paths; a path names one item.
CREATE UNIQUE INDEX items_by_path ON items (path);

-- Serves count_by_state without reading the items themselves.
CREATE INDEX items_by_type_state ON items (type, state);

-- One row per sfsync command that wrote to the catalog.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    command     TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'ok', 'failed')),
    counts      TEXT,
    error       TEXT
);

-- What each run did to each item; `fields` holds the last fields of a
-- deleted item.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs (id),
    at           TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('created', 'updated',
                 'published', 'not_found', 'rejected', 'deleted')),
    type         TEXT NOT NULL,
    sf_object_id TEXT NOT NULL,
    path         TEXT NOT NULL,
    fields       TEXT
);

-- Serves listing one run's events, and the foreign key check when a run
-- is removed.
CREATE INDEX events_by_run ON events (run_id);

-- Where each type's incremental sync resumes.
CREATE TABLE type_state (
    type              TEXT PRIMARY KEY,
    watermark         TEXT,
    last_full_read_at TEXT,
    last_ok_at        TEXT
) WITHOUT ROWID;
";

/// Version 2: picklist vocabularies cached from describe.
const V2_PICKLISTS: &str = "
-- One row per picklist field of a configured type. `field` is the path as
-- sync.toml maps it from the type's sobject (`Account.Industry` for a
-- parent's field); `controller` is the controlling field of a dependent
-- picklist, named as describe names it.
CREATE TABLE picklists (
    sobject    TEXT NOT NULL COLLATE NOCASE,
    field      TEXT NOT NULL COLLATE NOCASE,
    kind       TEXT NOT NULL CHECK (kind IN ('picklist', 'multipicklist')),
    restricted INTEGER NOT NULL,
    controller TEXT,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (sobject, field)
) WITHOUT ROWID;

-- The values of each picklist; `position` is Salesforce's order.
-- `valid_for` is a JSON array of the controlling values a dependent
-- value is valid for, `valid_for_raw` the base64 describe sent.
-- The primary key serves reading one picklist's values.
CREATE TABLE picklist_values (
    sobject       TEXT NOT NULL COLLATE NOCASE,
    field         TEXT NOT NULL COLLATE NOCASE,
    position      INTEGER NOT NULL,
    value         TEXT NOT NULL,
    label         TEXT NOT NULL,
    active        INTEGER NOT NULL,
    is_default    INTEGER NOT NULL,
    valid_for     TEXT,
    valid_for_raw TEXT,
    PRIMARY KEY (sobject, field, position),
    FOREIGN KEY (sobject, field) REFERENCES picklists (sobject, field)
        ON DELETE CASCADE
) WITHOUT ROWID;
";

/// Version 3: an index of the rejected items alone.
const V3_REJECTED: &str = "
-- Serves finding which ids of an id listing belong to rejected items
-- (their digest is cleared), without reading every listed item's row.
-- Only rejected items are in it, so it costs nothing to keep otherwise.
CREATE INDEX items_rejected ON items (type, sf_object_id) WHERE digest = '';
";

/// Every migration, oldest first.
pub(super) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(V1_ITEMS_RUNS_EVENTS),
        M::up(V2_PICKLISTS),
        M::up(V3_REJECTED),
    ])
}

/// Brings the schema of a writable catalog up to date.
pub(super) fn run(conn: &mut Connection, path: &Path) -> Result<()> {
    let all = migrations();
    match all.to_latest(conn) {
        Ok(()) => Ok(()),
        // Another process opening a new catalog at the same moment may have
        // migrated it between our version check and our transaction.
        Err(_) if all.pending_migrations(conn) == Ok(0) => Ok(()),
        Err(e) => Err(migration_error(path, e)),
    }
}

/// Fails unless a read-only catalog already has the latest schema.
pub(super) fn check_current(conn: &Connection, path: &Path) -> Result<()> {
    let all = migrations();
    let pending = all
        .pending_migrations(conn)
        .map_err(|e| migration_error(path, e))?;
    let never_synced = all.current_version(conn) == Ok(SchemaVersion::NoneSet);
    let reason = match pending {
        0 => return Ok(()),
        _ if pending < 0 => "it was written by a newer sfsync",
        _ if never_synced => "it was never synced",
        _ => "its schema is older than this sfsync; run a sync to upgrade it",
    };
    Err(CatalogError::Schema {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    })
}

/// Turns a migration failure into a catalog error, keeping lock and disk
/// errors recognisable.
fn migration_error(path: &Path, err: rusqlite_migration::Error) -> CatalogError {
    match err {
        rusqlite_migration::Error::RusqliteError { err, .. } => error::unreadable(path, err),
        other => CatalogError::Schema {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}
