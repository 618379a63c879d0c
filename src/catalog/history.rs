//! Reading the run log back for `sfsync status`: which run last synced a
//! type, and which runs failed.

use rusqlite::OptionalExtension;

use super::model::RunRecord;
use super::runs::run_record;
use super::{Catalog, Result};

/// The columns [`run_record`] reads, in its order.
const RUN_COLUMNS: &str = "id, command, pid, started_at, finished_at, outcome, counts, error";

impl Catalog {
    /// The latest run whose counts name `type_name`: the last run that
    /// synced that type to the end, whatever became of the other types.
    /// A dry run counts what it would have done but wrote nothing, so it
    /// is not a sync.
    pub fn last_sync_of(&self, type_name: &str) -> Result<Option<RunRecord>> {
        // Runs are few (a handful a day), so scanning them newest first
        // until one matches needs no index.
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs \
             WHERE command NOT LIKE '% --dry-run%' \
             AND json_valid(counts) AND json_type(counts) = 'object' \
             AND EXISTS (SELECT 1 FROM json_each(runs.counts) AS c WHERE c.key = ?1) \
             ORDER BY id DESC LIMIT 1"
        );
        let found = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.query_row([type_name], run_record).optional());
        found.map_err(|e| self.error(e))
    }

    /// The latest `limit` runs that failed, newest first.
    pub fn failed_runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE outcome = 'failed' \
             ORDER BY id DESC LIMIT ?1"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let found = self.conn.prepare_cached(&sql).and_then(|mut stmt| {
            stmt.query_map([limit], run_record)?
                .collect::<rusqlite::Result<Vec<_>>>()
        });
        found.map_err(|e| self.error(e))
    }

    /// Every type that has items, by name.
    pub fn item_types(&self) -> Result<Vec<String>> {
        // Served by `items_by_type_id`, whose first column is the type.
        let found = self
            .conn
            .prepare_cached("SELECT DISTINCT type FROM items ORDER BY type")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            });
        found.map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::RunOutcome;
    use super::*;

    #[test]
    fn the_last_sync_of_a_type_is_the_latest_run_that_counted_it() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let first = catalog.begin_run("sync-all").unwrap();
        let counts = json!({"Contact": {"created": 2}, "Account": {"created": 1}});
        catalog
            .finish_run(first, RunOutcome::Ok, &counts, None)
            .unwrap();
        let second = catalog.begin_run("sync-all").unwrap();
        let counts = json!({"Account": {"created": 0}});
        let error = "`Contact`: reading `Contact`";
        catalog
            .finish_run(second, RunOutcome::Failed, &counts, Some(error))
            .unwrap();
        catalog.begin_run("sync-all").unwrap();
        let dry = catalog
            .begin_run("sync-all --type Contact --dry-run")
            .unwrap();
        let counts = json!({"Contact": {"updated": 5}});
        catalog
            .finish_run(dry, RunOutcome::Ok, &counts, None)
            .unwrap();

        let contact = catalog.last_sync_of("Contact").unwrap().unwrap();
        assert_eq!(contact.id, first);
        assert_eq!(catalog.last_sync_of("Account").unwrap().unwrap().id, second);
        assert_eq!(catalog.last_sync_of("Lead").unwrap(), None);
        let failed = catalog.failed_runs(10).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].error.as_deref(), Some(error));
    }
}
