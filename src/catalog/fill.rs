//! The write path of a type's first sync: records go straight to the
//! catalog.
//!
//! A type with no items has nothing to compare its records with and
//! nothing that can go missing, so staging its records only to copy every
//! one of them at apply time would write it all twice, and the copy would
//! wait for the last page. Instead its records are written to the catalog
//! as they arrive, inside one IMMEDIATE transaction that lasts until
//! apply. Readers keep seeing the catalog as it was until the commit, and
//! a failed read rolls everything back, as with a stage; the price is the
//! write lock, held for the whole read rather than for the apply alone, so
//! another writer waits (up to its busy timeout) while a first sync runs.

use rusqlite::Connection;

use super::apply::Apply;
use super::model::{Applied, ApplyPolicy, Item};
use super::now;

/// The page cache of a fill, in KiB (a negative `cache_size`). A fill
/// inserts into the items and their four indexes in one long
/// transaction; with SQLite's default of 2,000 KiB most index pages it
/// touches were spilled to the log and are read back, which made a first
/// sync of a million records about a third slower.
pub(super) const FILL_CACHE_KIB: i64 = 8 * 1024;

/// Tells whether a type has any item.
const TYPE_HAS_ITEMS: &str = "SELECT EXISTS (SELECT 1 FROM items WHERE type = ?1)";

/// A first sync in progress: its transaction is open on the catalog's
/// connection until [`Fill::finish`] or [`Fill::abandon`].
pub(super) struct Fill {
    /// The policy the fill began with: its container, publishing, run and
    /// event collection apply to every record written.
    policy: ApplyPolicy,
    now: String,
    applied: Applied,
    /// The connection's `cache_size` before the fill, put back after it.
    usual_cache: i64,
}

impl Fill {
    /// Takes the write lock and keeps it when `type_name` has no items;
    /// otherwise lets it go and gives `None`.
    pub(super) fn begin(
        conn: &Connection,
        type_name: &str,
        policy: &ApplyPolicy,
    ) -> rusqlite::Result<Option<Fill>> {
        let usual_cache: i64 = conn.pragma_query_value(None, "cache_size", |row| row.get(0))?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let held = conn
            .prepare_cached(TYPE_HAS_ITEMS)
            .and_then(|mut stmt| stmt.query_row([type_name], |row| row.get::<_, bool>(0)));
        let fill = match held {
            Ok(false) => Fill {
                policy: policy.clone(),
                now: now(),
                applied: Applied::default(),
                usual_cache,
            },
            Ok(true) => return conn.execute_batch("ROLLBACK").map(|()| None),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        if let Err(e) = conn.pragma_update(None, "cache_size", -FILL_CACHE_KIB) {
            fill.abandon(conn);
            return Err(e);
        }
        Ok(Some(fill))
    }

    /// Writes a batch of records; see [`Apply::fill`].
    pub(super) fn add(
        &mut self,
        conn: &Connection,
        type_name: &str,
        items: &[Item],
    ) -> rusqlite::Result<()> {
        let mut run = Apply::new(conn, type_name, &self.policy, &self.now);
        run.applied = std::mem::take(&mut self.applied);
        let result = run.fill(items);
        self.applied = run.applied;
        result
    }

    /// Moves the type's sync state forward as `policy` says (its
    /// watermark, whether the read was full, whether this is a dry run)
    /// and commits, or rolls back for a dry run. On error everything is
    /// rolled back.
    pub(super) fn finish(
        mut self,
        conn: &Connection,
        type_name: &str,
        policy: &ApplyPolicy,
    ) -> rusqlite::Result<Applied> {
        self.policy.watermark.clone_from(&policy.watermark);
        self.policy.full_read = policy.full_read;
        self.policy.dry_run = policy.dry_run;
        let end = if policy.dry_run { "ROLLBACK" } else { "COMMIT" };
        let result = Apply::new(conn, type_name, &self.policy, &self.now)
            .finish_fill()
            .and_then(|()| conn.execute_batch(end));
        if result.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        self.put_cache_back(conn);
        result.map(|()| self.applied)
    }

    /// Rolls the fill back. An error here is left unreported: an
    /// uncommitted transaction never reaches readers, and SQLite discards
    /// it when the connection closes.
    pub(super) fn abandon(&self, conn: &Connection) {
        let _ = conn.execute_batch("ROLLBACK");
        self.put_cache_back(conn);
    }

    /// Gives the connection its usual page cache again. Failing to only
    /// leaves it larger than usual.
    fn put_cache_back(&self, conn: &Connection) {
        let _ = conn.pragma_update(None, "cache_size", self.usual_cache);
    }
}
