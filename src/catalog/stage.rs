//! The read half of a sync: staging records in TEMP tables.
//!
//! While records stream in from the org, the sync must not hold the
//! catalog's write lock, and a failure half way through a type must leave
//! the catalog as it was. So records are compared with the catalog and
//! kept in two TEMP tables of this connection (`staged`: the records to
//! write, `seen`: the ids of the records read), and only [`Stage::apply`]
//! writes to the catalog itself, in one transaction. The ids of an id
//! listing, a type's every id, are held in memory instead (see
//! [`PackedIds`]).
//!
//! A full read of a type that has no items yet skips all that and writes
//! its records to the catalog as they come, in a transaction held open
//! until apply: see `fill`.

use std::sync::LazyLock;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior};

use crate::ids::{IdList, PackedIds};

use super::fill::Fill;
use super::listing::{self, Unmatched, Walked};
use super::model::{Applied, ApplyPolicy, BatchCounts, Item};
use super::slug::item_slug;
use super::{apply, Catalog, Result};

/// The ids of rejected items, which have no digest, and whether a read
/// saw them: the records of those seen must be fetched whole like those
/// of ids with no item at all. There are few such items, so they are
/// walked through `items_rejected` (the planner, which has no statistics,
/// must be told to use it).
const REJECTED: &str = "
    SELECT r.sf_object_id,
           EXISTS (SELECT 1 FROM temp.seen AS seen WHERE seen.sf_object_id = r.sf_object_id)
    FROM items AS r INDEXED BY items_rejected
    WHERE r.type = ?1 AND r.digest = ''";

/// Tells whether a record is staged.
const IS_STAGED: &str = "SELECT EXISTS (SELECT 1 FROM temp.staged WHERE sf_object_id = ?1)";

/// Creates the TEMP tables on first use and empties them.
const PREPARE_TABLES: &str = "
CREATE TEMP TABLE IF NOT EXISTS staged (
    sf_object_id TEXT PRIMARY KEY,
    title        TEXT NOT NULL,
    fields       TEXT NOT NULL,
    digest       TEXT NOT NULL,
    slug         TEXT NOT NULL,
    is_new       INTEGER NOT NULL
);
CREATE TEMP TABLE IF NOT EXISTS seen (
    sf_object_id TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS slugs (
    slug  TEXT PRIMARY KEY,
    taken INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS suffixes (
    base TEXT PRIMARY KEY,
    last INTEGER NOT NULL
) WITHOUT ROWID;
DELETE FROM temp.staged;
DELETE FROM temp.seen;
DELETE FROM temp.slugs;
DELETE FROM temp.suffixes;
";

/// Reads the digest an item has now.
const CURRENT_DIGEST: &str = "SELECT digest FROM main.items \
     WHERE type = ?1 AND sf_object_id = ?2";

/// Counts the new records staged with a slug, so that the second with
/// one title can be offered `-2`, the third `-3`, and so on.
const TAKE_SLUG: &str = "
INSERT INTO temp.slugs (slug, taken) VALUES (?1, 1)
ON CONFLICT (slug) DO UPDATE SET taken = taken + 1
RETURNING taken";

/// Keeps (or replaces) a record to write at apply time, with whether its
/// type had no item for it when it was read (apply creates such items
/// together, in one statement) and, if so, the slug its path is offered
/// (suffixed when an earlier new record had the same; empty otherwise).
const STAGE_RECORD: &str = "
INSERT INTO temp.staged (sf_object_id, title, fields, digest, slug, is_new)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (sf_object_id) DO UPDATE SET
    title = excluded.title,
    fields = excluded.fields,
    digest = excluded.digest,
    slug = excluded.slug,
    is_new = excluded.is_new";

/// Forgets a staged record that turned out to match its item after all
/// (the same record read twice, changed back in between).
const UNSTAGE_RECORD: &str = "DELETE FROM temp.staged WHERE sf_object_id = ?1";

/// Notes that a record exists in the org.
const MARK_SEEN: &str = "INSERT OR IGNORE INTO temp.seen (sf_object_id) VALUES (?1)";

/// Ids noted by one statement.
const SEEN_PER_INSERT: usize = 128;

/// Notes [`SEEN_PER_INSERT`] records at once.
static MARK_MANY_SEEN: LazyLock<String> = LazyLock::new(|| {
    let rows = vec!["(?)"; SEEN_PER_INSERT].join(", ");
    format!("INSERT OR IGNORE INTO temp.seen (sf_object_id) VALUES {rows}")
});

/// The records of one type read so far, waiting to be applied.
///
/// Only one stage per catalog should exist at a time: starting another
/// empties the TEMP tables this one uses. Dropping a stage without
/// applying it discards what it held.
pub struct Stage<'c> {
    catalog: &'c Catalog,
    type_name: String,
    unchanged: u64,
    /// Set while records are written straight to the catalog.
    fill: Option<Fill>,
    /// The missing items the last search for unknown ids found, while
    /// no more ids have been seen since.
    walked: Option<Walked>,
    /// The ids of id listings.
    listed: PackedIds,
}

impl Catalog {
    /// Starts staging the records of `type_name`, discarding whatever an
    /// earlier stage left behind.
    pub fn stage(&self, type_name: &str) -> Result<Stage<'_>> {
        self.conn
            .execute_batch(PREPARE_TABLES)
            .map_err(|e| self.error(e))?;
        Ok(Stage {
            catalog: self,
            type_name: type_name.to_string(),
            unchanged: 0,
            fill: None,
            walked: None,
            listed: PackedIds::default(),
        })
    }

    /// Starts staging a full read of `type_name`. When the type has no
    /// items yet, the stage writes each batch straight to the catalog,
    /// under the write lock from now until [`Stage::apply`] commits (or
    /// dropping the stage rolls everything back), with the container,
    /// publishing, run and event collection of `policy`.
    ///
    /// Waits for the write lock like any writer; see
    /// [`Catalog::set_busy_timeout`].
    pub fn stage_full_read(&self, type_name: &str, policy: &ApplyPolicy) -> Result<Stage<'_>> {
        let mut stage = self.stage(type_name)?;
        stage.fill = Fill::begin(&self.conn, type_name, policy).map_err(|e| self.error(e))?;
        if stage.fill.is_some() {
            log::debug!("{type_name}: no items yet; writing records as they are read");
        }
        Ok(stage)
    }
}

impl Stage<'_> {
    /// The type being staged.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// Compares a batch of records with the catalog, keeps the new and
    /// changed ones for [`Stage::apply`] and marks them all seen.
    ///
    /// Writes only to TEMP tables, so other writers are never blocked.
    pub fn add_batch(&mut self, items: &[Item]) -> Result<BatchCounts> {
        if let Some(fill) = &mut self.fill {
            let conn = &self.catalog.conn;
            fill.add(conn, &self.type_name, items)
                .map_err(|e| self.catalog.error(e))?;
            return Ok(BatchCounts {
                new: items.len() as u64,
                ..BatchCounts::default()
            });
        }
        let (counts, grew) = self.stage_items(items).map_err(|e| self.catalog.error(e))?;
        if grew {
            self.walked = None;
        }
        self.unchanged += counts.unchanged;
        Ok(counts)
    }

    /// Marks the ids of an id-only listing as present in the org; they
    /// are held in memory.
    pub fn mark_listed(&mut self, ids: &IdList) {
        if self.fill.is_none() {
            self.walked = None;
            self.listed.extend(ids);
        }
    }

    /// Marks records as present in the org without staging them, for ids
    /// that belong to records that could not be staged (held in memory
    /// too when in Salesforce's own form).
    pub fn mark_seen<'i>(&mut self, ids: impl IntoIterator<Item = &'i str>) -> Result<()> {
        if self.fill.is_some() {
            // Nothing of the type was there to go missing.
            return Ok(());
        }
        self.walked = None;
        // An id not in Salesforce's own form goes to the table, which
        // takes any text.
        let odd: Vec<&str> = ids
            .into_iter()
            .filter(|id| !self.listed.insert(id))
            .collect();
        if odd.is_empty() {
            return Ok(());
        }
        self.mark_ids_seen(odd).map_err(|e| self.catalog.error(e))
    }

    /// Seen ids that are neither staged nor held by a current item of the
    /// type (absent, or rejected and so without a digest): an id listing
    /// found them, so their records must be fetched whole.
    ///
    /// The same walk finds the items whose ids were not seen; apply uses
    /// them instead of walking again, unless more ids are seen first or
    /// another connection commits meanwhile.
    pub fn unknown_seen(&mut self) -> Result<Vec<String>> {
        self.query_unknown_seen().map_err(|e| self.catalog.error(e))
    }

    fn query_unknown_seen(&mut self) -> rusqlite::Result<Vec<String>> {
        let conn = &self.catalog.conn;
        self.walked = None;
        // Read before the transaction's snapshot is taken: a commit in
        // between is then in the walk, but changes the version too.
        let data_version = listing::data_version(conn)?;
        self.listed.seal();
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Deferred)?;
        // Almost every listed id has an item, so the few that do not are
        // gathered first and only those looked for among the staged rows.
        let mut unheld = Vec::new();
        let mut missing = Vec::new();
        let items = listing::compare(
            &tx,
            &self.type_name,
            &self.listed,
            |unmatched| match unmatched {
                Unmatched::Seen(id) => unheld.push(id.to_string()),
                Unmatched::Item(row) => missing.push(row),
            },
        )?;
        let mut rejected = tx.prepare_cached(REJECTED)?;
        let rows = rejected.query_map([&self.type_name], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?))
        })?;
        for row in rows {
            let (id, in_table) = row?;
            if in_table || self.listed.contains(&id) {
                unheld.push(id);
            }
        }
        let mut staged = tx.prepare_cached(IS_STAGED)?;
        let mut unknown = Vec::with_capacity(unheld.len());
        for id in unheld {
            if !staged.query_row([&id], |row| row.get::<_, bool>(0))? {
                unknown.push(id);
            }
        }
        drop((rejected, staged));
        tx.commit()?;
        self.walked = Some(Walked {
            data_version,
            missing,
            items,
        });
        Ok(unknown)
    }

    /// Writes the staged records to the catalog in one transaction, then
    /// handles missing items and the type's sync state; see
    /// [`ApplyPolicy`].
    ///
    /// On success (dry run or not) the stage is emptied. On error nothing
    /// in the catalog has changed. The stage is kept, so the caller may
    /// apply it again with another policy, unless it was writing a first
    /// sync straight to the catalog ([`Catalog::stage_full_read`]): that
    /// is rolled back, and the stage is left empty.
    pub fn apply(&mut self, policy: &ApplyPolicy) -> Result<Applied> {
        if let Some(fill) = self.fill.take() {
            let conn = &self.catalog.conn;
            let applied = fill
                .finish(conn, &self.type_name, policy)
                .map_err(|e| self.catalog.error(e))?;
            self.catalog
                .conn
                .execute_batch(PREPARE_TABLES)
                .map_err(|e| self.catalog.error(e))?;
            return Ok(applied);
        }
        let walked = self.walked.take();
        self.listed.seal();
        let applied = apply::apply(
            self.catalog,
            &self.type_name,
            self.unchanged,
            policy,
            walked,
            &self.listed,
        )?;
        self.catalog
            .conn
            .execute_batch(PREPARE_TABLES)
            .map_err(|e| self.catalog.error(e))?;
        self.listed.clear();
        self.unchanged = 0;
        Ok(applied)
    }

    /// The body of [`Stage::add_batch`], in one transaction.
    /// Tells too whether any of the ids was not seen before.
    fn stage_items(&self, items: &[Item]) -> rusqlite::Result<(BatchCounts, bool)> {
        let conn = &self.catalog.conn;
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Deferred)?;
        let mut current = tx.prepare_cached(CURRENT_DIGEST)?;
        let mut stage = tx.prepare_cached(STAGE_RECORD)?;
        let mut unstage = tx.prepare_cached(UNSTAGE_RECORD)?;
        let mut see = tx.prepare_cached(MARK_SEEN)?;
        let mut take_slug = tx.prepare_cached(TAKE_SLUG)?;
        let mut counts = BatchCounts::default();
        let mut grew = false;

        for item in items {
            let id = &item.sf_object_id;
            let digest: Option<String> = current
                .query_row((&self.type_name, id), |row| row.get(0))
                .optional()?;
            match digest {
                Some(digest) if digest == item.digest => {
                    counts.unchanged += 1;
                    unstage.execute([id])?;
                }
                known => {
                    let is_new = known.is_none();
                    // Only a new record is offered a path; an item keeps its own.
                    let slug = if is_new {
                        counts.new += 1;
                        let slug = item_slug(&item.title, id);
                        let taken: i64 = take_slug.query_row([&slug], |row| row.get(0))?;
                        if taken > 1 {
                            format!("{slug}-{taken}")
                        } else {
                            slug
                        }
                    } else {
                        counts.changed += 1;
                        String::new()
                    };
                    stage.execute((id, &item.title, &item.fields, &item.digest, slug, is_new))?;
                }
            }
            // An id the listing holds was seen already, even if the
            // table had not noted it.
            grew |= see.execute([id])? > 0 && !self.listed.contains(id);
        }

        drop((current, stage, unstage, see, take_slug));
        tx.commit()?;
        Ok((counts, grew))
    }

    /// The body of [`Stage::mark_seen`], in one transaction. A listing
    /// brings a type's every id, so they go in [`SEEN_PER_INSERT`] to a
    /// statement: one statement per id spent more time in SQLite's
    /// statement machinery than in the table.
    fn mark_ids_seen<'i>(&self, ids: impl IntoIterator<Item = &'i str>) -> rusqlite::Result<()> {
        let conn = &self.catalog.conn;
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Deferred)?;
        let mut many = tx.prepare_cached(&MARK_MANY_SEEN)?;
        let mut chunk = Vec::with_capacity(SEEN_PER_INSERT);
        for id in ids {
            chunk.push(id);
            if chunk.len() == SEEN_PER_INSERT {
                many.execute(rusqlite::params_from_iter(chunk.drain(..)))?;
            }
        }
        let mut one = tx.prepare_cached(MARK_SEEN)?;
        for id in chunk {
            one.execute([id])?;
        }
        drop((many, one));
        tx.commit()
    }
}

impl Drop for Stage<'_> {
    /// Empties the TEMP tables; an error here only means the next stage
    /// empties them instead.
    fn drop(&mut self) {
        if let Some(fill) = self.fill.take() {
            fill.abandon(&self.catalog.conn);
        }
        let _ = self.catalog.conn.execute_batch(PREPARE_TABLES);
    }
}
