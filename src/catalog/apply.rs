//! The write half of a sync: applying a stage to the catalog.
//!
//! Everything happens in one IMMEDIATE transaction, so readers see the
//! type before or after, never half way, and a failure (including the
//! mass-missing guard) leaves the catalog untouched. Staged rows are
//! re-checked against the catalog, since `sync-one` or the server may have
//! written the same items while the read went on.
//!
//! A type's first full read does not come here: `fill` writes it as it is
//! read. What comes here is bounded by what changed, so the write lock is
//! held briefly, except after a large change (a full read that rewrites a
//! million records holds it for about as long as writing them takes).

use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, TransactionBehavior};

use crate::ids::PackedIds;

use super::error::{classify, CatalogError};
use super::listing::{self, Unmatched, Walked};
use super::model::{Applied, ApplyPolicy, Event, EventKind, Item, MissingScope, OnMissing};
use super::read::parse_fields;
use super::slug::item_slug;
use super::{now, Catalog, Result};

/// How many staged rows are held in memory at once.
const CHUNK: i64 = 1000;

/// Reads the next chunk of staged rows whose item existed when they were
/// read: each needs a look at its item.
const KNOWN_CHUNK: &str = "SELECT rowid, sf_object_id, title, fields, digest \
     FROM temp.staged WHERE rowid > :after AND NOT is_new ORDER BY rowid LIMIT :limit";

/// Creates, in one statement, the items of the staged rows that had none
/// when read, each at its container and the slug staging offered it. A
/// row whose path is taken (by an older item, say), or whose item another
/// writer made meanwhile, is skipped here and left to the row-by-row step.
const INSERT_NEW: &str = "
INSERT OR IGNORE INTO items (type, sf_object_id, path, state, title, fields,
                             digest, created_at, updated_at, synced_at)
SELECT ?1, sf_object_id, ?2 || slug, ?3, title, fields, digest, ?4, ?4, ?4
FROM temp.staged WHERE is_new ORDER BY rowid";

/// The next chunk of the new rows that [`INSERT_NEW`] skipped: those
/// with no item made after row `:last_item`.
const SKIPPED_CHUNK: &str = "
SELECT s.rowid, s.sf_object_id, s.title, s.fields, s.digest FROM temp.staged AS s
WHERE s.rowid > :after AND s.is_new
  AND NOT EXISTS (SELECT 1 FROM items AS i
                  WHERE i.type = :type AND i.sf_object_id = s.sf_object_id
                    AND i.id > :last_item)
ORDER BY s.rowid LIMIT :limit";

/// The highest row id of a table's rows; new rows get higher ones.
const LAST_ITEM_ID: &str = "SELECT coalesce(max(id), 0) FROM items";
const LAST_EVENT_ID: &str = "SELECT coalesce(max(id), 0) FROM events";

/// Records a `created` and a `published` event for each item after row
/// `?3`, an item's events together.
const CREATED_EVENTS: &str = "
INSERT INTO events (run_id, at, kind, type, sf_object_id, path, fields)
SELECT ?1, ?2, k.kind, i.type, i.sf_object_id, i.path, NULL
FROM items AS i
CROSS JOIN (SELECT 'created' AS kind, 1 AS n UNION ALL SELECT 'published', 2) AS k
WHERE i.id > ?3
ORDER BY i.id, k.n";

/// Records a `created` event for each item after row `?3`, when nothing
/// is published: in row order, with no join to sort.
const CREATED_ONLY_EVENTS: &str = "
INSERT INTO events (run_id, at, kind, type, sf_object_id, path, fields)
SELECT ?1, ?2, 'created', type, sf_object_id, path, NULL
FROM items WHERE id > ?3 ORDER BY id";

/// Reads back the events after row `?1`, for a policy that collects them.
const EVENTS_AFTER: &str = "SELECT kind, sf_object_id, path FROM events \
     WHERE id > ?1 ORDER BY id";

/// Reads what apply needs of the current item.
const CURRENT_ITEM: &str = "SELECT id, digest, state, path FROM main.items \
     WHERE type = ?1 AND sf_object_id = ?2";

/// Tells whether a path is taken.
const PATH_TAKEN: &str = "SELECT EXISTS (SELECT 1 FROM items WHERE path = ?1)";

/// The last suffix given to a path that was taken, so that many records
/// with one title do not probe `-2`, `-3`... every time.
const LAST_SUFFIX: &str = "SELECT last FROM temp.suffixes WHERE base = ?1";
const SET_SUFFIX: &str = "INSERT OR REPLACE INTO temp.suffixes (base, last) VALUES (?1, ?2)";

/// Creates an item.
const INSERT_ITEM: &str = "
INSERT INTO items (type, sf_object_id, path, state, title, fields, digest,
                   created_at, updated_at, synced_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?8)";

/// Creates an item during a fill, unless its path is taken or its record
/// was read before: then it changes nothing.
const FILL_ITEM: &str = "
INSERT INTO items (type, sf_object_id, path, state, title, fields, digest,
                   created_at, updated_at, synced_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?8)
ON CONFLICT DO NOTHING";

/// Rewrites, during a fill, the item of a record read again with other
/// content; its path and state stay.
const REFILL_ITEM: &str = "
UPDATE items SET title = ?3, fields = ?4, digest = ?5, updated_at = ?6,
                 synced_at = ?6
WHERE type = ?1 AND sf_object_id = ?2 AND digest <> ?5";

/// Rewrites an item's content; its path stays.
const UPDATE_ITEM: &str = "
UPDATE items SET title = ?2, fields = ?3, digest = ?4, state = ?5,
                 updated_at = ?6, synced_at = ?6
WHERE id = ?1";

/// Reads what the missing step needs of an item.
const MISSING_ITEM: &str = "SELECT sf_object_id, path, state, fields FROM items WHERE id = ?1";

/// Makes an item private; clearing its digest makes its return a change,
/// so that a publishing sync publishes it again.
const REJECT_ITEM: &str = "UPDATE items SET state = 'private', digest = '', \
     updated_at = ?2 WHERE id = ?1";

/// Removes an item.
const DELETE_ITEM: &str = "DELETE FROM items WHERE id = ?1";

/// Records an event.
const INSERT_EVENT: &str = "
INSERT INTO events (run_id, at, kind, type, sf_object_id, path, fields)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Moves a type's sync state forward, keeping what the policy leaves
/// unset.
const UPSERT_TYPE_STATE: &str = "
INSERT INTO type_state (type, watermark, last_full_read_at, last_ok_at)
VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (type) DO UPDATE SET
    watermark = coalesce(excluded.watermark, watermark),
    last_full_read_at = coalesce(excluded.last_full_read_at,
                                 last_full_read_at),
    last_ok_at = excluded.last_ok_at";

/// Why an apply stopped.
enum Failure {
    Sql(rusqlite::Error),
    MassMissing { missing: u64, total: u64 },
}

impl From<rusqlite::Error> for Failure {
    fn from(err: rusqlite::Error) -> Self {
        Failure::Sql(err)
    }
}

/// Applies the stage of `type_name`; `unchanged` is what the stage
/// already counted as unchanged.
pub(super) fn apply(
    catalog: &Catalog,
    type_name: &str,
    unchanged: u64,
    policy: &ApplyPolicy,
    walked: Option<Walked>,
    listed: &PackedIds,
) -> Result<Applied> {
    let applied = apply_in_transaction(catalog, type_name, unchanged, policy, walked, listed);
    applied.map_err(|failure| match failure {
        Failure::Sql(err) => classify(catalog.path(), err),
        Failure::MassMissing { missing, total } => CatalogError::MassMissing {
            type_name: type_name.to_string(),
            missing,
            total,
        },
    })
}

/// Runs the steps of an apply, then commits, or rolls back for a dry run.
/// An error drops the transaction, which rolls it back.
fn apply_in_transaction(
    catalog: &Catalog,
    type_name: &str,
    unchanged: u64,
    policy: &ApplyPolicy,
    walked: Option<Walked>,
    listed: &PackedIds,
) -> Result<Applied, Failure> {
    let tx = Transaction::new_unchecked(&catalog.conn, TransactionBehavior::Immediate)?;
    let now = now();
    let mut run = Apply::new(&tx, type_name, policy, &now);
    run.applied.counts.unchanged = unchanged;
    run.listed = Some(listed);
    // The write lock is held from here on: no commit can come between
    // this look at the version and the missing step. The walk counted
    // the items too.
    let mut total = None;
    if let Some(walked) = walked {
        if listing::data_version(&tx)? == walked.data_version {
            run.walked = Some(walked.missing);
            total = Some(walked.items);
        }
    }

    let total = match total {
        Some(total) => total,
        None => run.count_items()?,
    };
    run.apply_staged()?;
    run.apply_missing(total)?;
    run.update_type_state()?;

    let applied = run.applied;
    if policy.dry_run {
        tx.rollback()?;
    } else {
        tx.commit()?;
    }
    Ok(applied)
}

/// A staged record.
struct Staged {
    rowid: i64,
    sf_object_id: String,
    title: String,
    fields: String,
    digest: String,
}

/// What apply needs of an item that exists.
struct Current {
    id: i64,
    digest: String,
    state: String,
    path: String,
}

impl Current {
    /// Reads a row of [`CURRENT_ITEM`].
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Current> {
        Ok(Current {
            id: row.get(0)?,
            digest: row.get(1)?,
            state: row.get(2)?,
            path: row.get(3)?,
        })
    }
}

/// One apply in progress, on a connection inside a write transaction.
pub(super) struct Apply<'a> {
    tx: &'a Connection,
    type_name: &'a str,
    policy: &'a ApplyPolicy,
    now: &'a str,
    pub(super) applied: Applied,
    /// The missing items of a walk still true of the catalog, if any.
    walked: Option<Vec<i64>>,
    /// The ids of the stage's id listings, sealed; none when applying a
    /// first read, which finds nothing missing.
    listed: Option<&'a PackedIds>,
}

impl<'a> Apply<'a> {
    pub(super) fn new(
        tx: &'a Connection,
        type_name: &'a str,
        policy: &'a ApplyPolicy,
        now: &'a str,
    ) -> Apply<'a> {
        Apply {
            tx,
            type_name,
            policy,
            now,
            applied: Applied::default(),
            walked: None,
            listed: None,
        }
    }

    /// Counts the type's items before anything changes.
    fn count_items(&self) -> rusqlite::Result<u64> {
        self.tx
            .prepare_cached("SELECT count(*) FROM items WHERE type = ?1")?
            .query_row([self.type_name], |row| row.get(0))
    }

    /// Step 1: creates and updates items from the staged rows. Rows whose
    /// item existed when read are compared with it one by one; new ones
    /// are created together, then those that could not be (a path taken,
    /// an item made meanwhile) one by one.
    fn apply_staged(&mut self) -> rusqlite::Result<()> {
        self.each_staged(KNOWN_CHUNK, &[])?;
        let last_item = self.last_id(LAST_ITEM_ID)?;
        self.create_new(last_item)?;
        let type_name = self.type_name;
        self.each_staged(
            SKIPPED_CHUNK,
            &[(":type", &type_name), (":last_item", &last_item)],
        )
    }

    /// Runs `apply_one` on the staged rows `sql` selects, a chunk at a
    /// time; besides `params`, `sql` takes `:after`, the last row id
    /// seen, and `:limit`, the chunk's size.
    fn each_staged(&mut self, sql: &str, params: &[(&str, &dyn ToSql)]) -> rusqlite::Result<()> {
        let mut after = 0;
        loop {
            let chunk = self.staged_chunk(sql, params, after)?;
            let Some(last) = chunk.last() else {
                return Ok(());
            };
            after = last.rowid;
            for staged in chunk {
                self.apply_one(staged)?;
            }
        }
    }

    /// Reads the chunk of staged rows after `rowid` that `sql` selects.
    fn staged_chunk(
        &self,
        sql: &str,
        params: &[(&str, &dyn ToSql)],
        after: i64,
    ) -> rusqlite::Result<Vec<Staged>> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        let mut all = params.to_vec();
        all.push((":after", &after));
        all.push((":limit", &CHUNK));
        let rows = stmt.query_map(all.as_slice(), |row| {
            Ok(Staged {
                rowid: row.get(0)?,
                sf_object_id: row.get(1)?,
                title: row.get(2)?,
                fields: row.get(3)?,
                digest: row.get(4)?,
            })
        })?;
        rows.collect()
    }

    /// The highest row id `sql` reads.
    fn last_id(&self, sql: &str) -> rusqlite::Result<i64> {
        self.tx.prepare_cached(sql)?.query_row([], |row| row.get(0))
    }

    /// Creates the items of the new staged rows in one statement, and
    /// their events in another.
    fn create_new(&mut self, last_item: i64) -> rusqlite::Result<()> {
        let prefix = format!("{}/", self.policy.container.trim_end_matches('/'));
        let state = self.state_after_write("private");
        let created = self.tx.prepare_cached(INSERT_NEW)?.execute((
            self.type_name,
            &prefix,
            state,
            self.now,
        ))? as u64;
        self.applied.counts.created += created;
        self.record_created(last_item, created)
    }

    /// Records the events of the `created` items made after row
    /// `last_item`, and counts them as published if they were.
    fn record_created(&mut self, last_item: i64, created: u64) -> rusqlite::Result<()> {
        if created == 0 {
            return Ok(());
        }
        if self.policy.publish {
            self.applied.counts.published += created;
        }
        let last_event = self.last_id(LAST_EVENT_ID)?;
        let events = match self.policy.publish {
            true => CREATED_EVENTS,
            false => CREATED_ONLY_EVENTS,
        };
        self.tx
            .prepare_cached(events)?
            .execute((self.policy.run_id, self.now, last_item))?;
        if self.policy.collect_events {
            self.collect_events_after(last_event)?;
        }
        Ok(())
    }

    /// Keeps the events written after row `last_event`.
    fn collect_events_after(&mut self, last_event: i64) -> rusqlite::Result<()> {
        let mut stmt = self.tx.prepare_cached(EVENTS_AFTER)?;
        let mut rows = stmt.query([last_event])?;
        while let Some(row) = rows.next()? {
            let kind: String = row.get(0)?;
            let kind = match kind.as_str() {
                "published" => EventKind::Published,
                _ => EventKind::Created,
            };
            self.applied.events.push(Event {
                run_id: self.policy.run_id,
                at: self.now.to_string(),
                kind,
                type_name: self.type_name.to_string(),
                sf_object_id: row.get(1)?,
                path: row.get(2)?,
                fields: None,
            });
        }
        Ok(())
    }

    /// Creates, updates or leaves alone the item of one staged row.
    fn apply_one(&mut self, staged: Staged) -> rusqlite::Result<()> {
        match self.current_item(&staged.sf_object_id)? {
            None => self.create(&Item {
                sf_object_id: staged.sf_object_id,
                title: staged.title,
                fields: staged.fields,
                digest: staged.digest,
            }),
            Some(current) if current.digest != staged.digest => self.update(staged, current),
            Some(_) => {
                self.applied.counts.unchanged += 1;
                Ok(())
            }
        }
    }

    /// Writes records of a type that had no items when its transaction
    /// began, as they are read: each is created, or, read again since,
    /// rewritten in place (it is still new to this run). The batch's
    /// events are written together after it.
    pub(super) fn fill(&mut self, items: &[Item]) -> rusqlite::Result<()> {
        let last_item = self.last_id(LAST_ITEM_ID)?;
        let mut created = 0;
        for item in items {
            if self.fill_one(item)? {
                created += 1;
            }
        }
        self.applied.counts.created += created;
        self.record_created(last_item, created)
    }

    /// Creates the item of one record of a fill, at its slug or, when
    /// that is taken, at the next number after the last one given to it;
    /// or rewrites the item of a record read before. Tells whether it
    /// created an item.
    ///
    /// A free path is found by trying to insert at it, so that the usual
    /// record costs one statement besides its slug's numbering.
    fn fill_one(&mut self, item: &Item) -> rusqlite::Result<bool> {
        let tx = self.tx;
        let id = &item.sf_object_id;
        let container = self.policy.container.trim_end_matches('/');
        let base = format!("{container}/{}", item_slug(&item.title, id));
        let mut suffix: Option<u32> = tx
            .prepare_cached(LAST_SUFFIX)?
            .query_row([&base], |row| row.get(0))
            .optional()?
            .map(|last: u32| last + 1);
        let state = self.state_after_write("private");
        let mut insert = tx.prepare_cached(FILL_ITEM)?;
        loop {
            let path = match suffix {
                None => base.clone(),
                Some(n) => format!("{base}-{n}"),
            };
            let (title, fields, digest) = (&item.title, &item.fields, &item.digest);
            let row = (
                self.type_name,
                id,
                &path,
                state,
                title,
                fields,
                digest,
                self.now,
            );
            if insert.execute(row)? == 1 {
                if let Some(n) = suffix {
                    tx.prepare_cached(SET_SUFFIX)?.execute((&base, n))?;
                }
                return Ok(true);
            }
            if self.current_item(id)?.is_some() {
                let content = (self.type_name, id, title, fields, digest, self.now);
                tx.prepare_cached(REFILL_ITEM)?.execute(content)?;
                return Ok(false);
            }
            suffix = Some(suffix.map_or(2, |n| n + 1));
        }
    }

    /// Ends a fill: moves the type's sync state forward. Nothing can be
    /// missing, since the type had no items to miss.
    pub(super) fn finish_fill(&self) -> rusqlite::Result<()> {
        self.update_type_state()
    }

    /// Reads the item a staged row would write, as it is now.
    fn current_item(&self, id: &str) -> rusqlite::Result<Option<Current>> {
        let mut stmt = self.tx.prepare_cached(CURRENT_ITEM)?;
        stmt.query_row((self.type_name, id), Current::from_row)
            .optional()
    }

    /// Creates an item, published at once if the policy says so.
    fn create(&mut self, staged: &Item) -> rusqlite::Result<()> {
        let path = self.allocate_path(&staged.title, &staged.sf_object_id)?;
        let state = self.state_after_write("private");
        self.tx.prepare_cached(INSERT_ITEM)?.execute((
            self.type_name,
            &staged.sf_object_id,
            &path,
            state,
            &staged.title,
            &staged.fields,
            &staged.digest,
            self.now,
        ))?;
        self.applied.counts.created += 1;
        self.record(EventKind::Created, &staged.sf_object_id, &path, None)?;
        if self.policy.publish {
            self.record_published(&staged.sf_object_id, &path)?;
        }
        Ok(())
    }

    /// Rewrites a changed item, publishing it if the policy says so.
    fn update(&mut self, staged: Staged, current: Current) -> rusqlite::Result<()> {
        let state = self.state_after_write(&current.state);
        self.tx.prepare_cached(UPDATE_ITEM)?.execute((
            current.id,
            &staged.title,
            &staged.fields,
            &staged.digest,
            state,
            self.now,
        ))?;
        self.applied.counts.updated += 1;
        let id = &staged.sf_object_id;
        self.record(EventKind::Updated, id, &current.path, None)?;
        if state != current.state {
            self.record_published(id, &current.path)?;
        }
        Ok(())
    }

    /// The state an item has once written: published when the policy
    /// publishes, else the state it had.
    fn state_after_write<'s>(&self, state: &'s str) -> &'s str {
        if self.policy.publish {
            "published"
        } else {
            state
        }
    }

    /// Finds a free path for a new item: the container and the slug,
    /// then the same with `-2`, `-3`... until one is free.
    fn allocate_path(&mut self, title: &str, id: &str) -> rusqlite::Result<String> {
        let container = self.policy.container.trim_end_matches('/');
        let base = format!("{container}/{}", item_slug(title, id));
        if !self.path_taken(&base)? {
            return Ok(base);
        }
        let mut suffix: u32 = self
            .tx
            .prepare_cached(LAST_SUFFIX)?
            .query_row([&base], |row| row.get(0))
            .optional()?
            .unwrap_or(1);
        loop {
            suffix += 1;
            let path = format!("{base}-{suffix}");
            if !self.path_taken(&path)? {
                self.tx
                    .prepare_cached(SET_SUFFIX)?
                    .execute((&base, suffix))?;
                return Ok(path);
            }
        }
    }

    /// Tells whether an item already has `path`.
    fn path_taken(&self, path: &str) -> rusqlite::Result<bool> {
        self.tx
            .prepare_cached(PATH_TAKEN)?
            .query_row([path], |row| row.get(0))
    }

    /// Step 2: finds the missing items, refuses if too many are missing,
    /// and keeps, rejects or deletes them.
    fn apply_missing(&mut self, total: u64) -> Result<(), Failure> {
        let ids = self.missing_items()?;
        let missing = ids.len() as u64;
        if self.too_many_missing(missing, total)? {
            return Err(Failure::MassMissing { missing, total });
        }
        for id in ids {
            self.apply_missing_one(id)?;
        }
        Ok(())
    }

    /// The row ids of the items the policy's scope calls missing.
    fn missing_items(&mut self) -> rusqlite::Result<Vec<i64>> {
        match &self.policy.missing {
            MissingScope::None => Ok(Vec::new()),
            MissingScope::Unseen => match self.walked.take() {
                Some(ids) => Ok(ids),
                None => {
                    let mut ids = Vec::new();
                    let none = PackedIds::default();
                    let listed = self.listed.unwrap_or(&none);
                    listing::compare(self.tx, self.type_name, listed, |unmatched| {
                        if let Unmatched::Item(id) = unmatched {
                            ids.push(id);
                        }
                    })?;
                    Ok(ids)
                }
            },
            MissingScope::Ids(sf_object_ids) => {
                let mut ids = Vec::new();
                for sf_object_id in sf_object_ids {
                    if let Some(item) = self.current_item(sf_object_id)? {
                        ids.push(item.id);
                    }
                }
                ids.sort_unstable();
                ids.dedup();
                Ok(ids)
            }
        }
    }

    /// The guard against a broken read emptying a type: more than
    /// `max_missing` of the items gone, or nothing seen at all.
    fn too_many_missing(&self, missing: u64, total: u64) -> rusqlite::Result<bool> {
        let policy = self.policy;
        let guarded = policy.missing == MissingScope::Unseen
            && policy.on_missing != OnMissing::Keep
            && !policy.allow_mass_missing;
        if !guarded || total == 0 {
            return Ok(false);
        }
        if missing as f64 > policy.max_missing * total as f64 {
            log::debug!(
                "{missing} of {total} items of `{}` missing, over {}",
                self.type_name,
                policy.max_missing
            );
            return Ok(true);
        }
        if self.listed.is_some_and(|listed| !listed.is_empty()) {
            return Ok(false);
        }
        self.tx
            .prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM temp.seen)")?
            .query_row([], |row| row.get(0))
    }

    /// Records a missing item and keeps, rejects or deletes it.
    fn apply_missing_one(&mut self, id: i64) -> rusqlite::Result<()> {
        let (sf_object_id, path, state, fields): (String, String, String, String) = self
            .tx
            .prepare_cached(MISSING_ITEM)?
            .query_row([id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?;
        self.applied.counts.missing += 1;
        self.record(EventKind::NotFound, &sf_object_id, &path, None)?;

        match self.policy.on_missing {
            OnMissing::Keep => Ok(()),
            OnMissing::Reject if state == "private" => Ok(()),
            OnMissing::Reject => {
                self.tx
                    .prepare_cached(REJECT_ITEM)?
                    .execute((id, self.now))?;
                self.applied.counts.rejected += 1;
                self.record(EventKind::Rejected, &sf_object_id, &path, None)
            }
            OnMissing::Delete => {
                self.tx.prepare_cached(DELETE_ITEM)?.execute([id])?;
                self.applied.counts.deleted += 1;
                self.record(EventKind::Deleted, &sf_object_id, &path, Some(&fields))
            }
        }
    }

    /// Step 3: moves the type's watermark and times forward.
    fn update_type_state(&self) -> rusqlite::Result<()> {
        let full_read_at = self.policy.full_read.then_some(self.now);
        self.tx.prepare_cached(UPSERT_TYPE_STATE)?.execute((
            self.type_name,
            &self.policy.watermark,
            full_read_at,
            self.now,
        ))?;
        Ok(())
    }

    /// Records a `published` event and counts it.
    fn record_published(&mut self, id: &str, path: &str) -> rusqlite::Result<()> {
        self.applied.counts.published += 1;
        self.record(EventKind::Published, id, path, None)
    }

    /// Writes an event, and keeps it when the policy collects events.
    fn record(
        &mut self,
        kind: EventKind,
        sf_object_id: &str,
        path: &str,
        fields: Option<&str>,
    ) -> rusqlite::Result<()> {
        self.tx.prepare_cached(INSERT_EVENT)?.execute((
            self.policy.run_id,
            self.now,
            kind.as_str(),
            self.type_name,
            sf_object_id,
            path,
            fields,
        ))?;
        if self.policy.collect_events {
            self.applied.events.push(Event {
                run_id: self.policy.run_id,
                at: self.now.to_string(),
                kind,
                type_name: self.type_name.to_string(),
                sf_object_id: sf_object_id.to_string(),
                path: path.to_string(),
                fields: fields.map(parse_fields),
            });
        }
        Ok(())
    }
}
