//! The run log: one row per command that wrote to the catalog, so that
//! `sfsync status` can tell when the last sync ran and how it ended.

use rusqlite::{OptionalExtension, Row};

use super::model::{RunOutcome, RunRecord};
use super::{now, Catalog, Result};

impl Catalog {
    /// Records the start of a run of `command` by this process and returns
    /// the run's id, which events refer to.
    pub fn begin_run(&self, command: &str) -> Result<i64> {
        let inserted = self.conn.execute(
            "INSERT INTO runs (command, pid, started_at) VALUES (?1, ?2, ?3)",
            (command, std::process::id(), now()),
        );
        inserted.map_err(|e| self.error(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how a run ended, with its counts and, if it failed, why.
    pub fn finish_run(
        &self,
        run_id: i64,
        outcome: RunOutcome,
        counts: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<()> {
        let updated = self.conn.execute(
            "UPDATE runs SET finished_at = ?2, outcome = ?3, counts = ?4, \
             error = ?5 WHERE id = ?1",
            (run_id, now(), outcome.as_str(), counts.to_string(), error),
        );
        updated.map(|_| ()).map_err(|e| self.error(e))
    }

    /// Runs still marked `running`, as (id, pid): the caller decides which
    /// of them belong to processes that are gone.
    pub fn unfinished_runs(&self) -> Result<Vec<(i64, u32)>> {
        let found = self
            .conn
            .prepare_cached("SELECT id, pid FROM runs WHERE outcome = 'running'")
            .and_then(|mut stmt| {
                let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
                rows.collect()
            });
        found.map_err(|e| self.error(e))
    }

    /// Marks a run whose process ended without finishing it as failed.
    pub fn mark_interrupted(&self, run_id: i64) -> Result<()> {
        let updated = self.conn.execute(
            "UPDATE runs SET finished_at = ?2, outcome = 'failed', \
             error = 'interrupted: the process ended before the run finished' \
             WHERE id = ?1 AND outcome = 'running'",
            (run_id, now()),
        );
        updated.map(|_| ()).map_err(|e| self.error(e))
    }

    /// The latest `limit` runs, newest first.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        self.select_runs(limit).map_err(|e| self.error(e))
    }

    /// The run with id `id`, if there is one.
    pub fn run(&self, id: i64) -> Result<Option<RunRecord>> {
        // Served by the primary key.
        let found = self
            .conn
            .prepare_cached(
                "SELECT id, command, pid, started_at, finished_at, outcome, \
                 counts, error FROM runs WHERE id = ?1",
            )
            .and_then(|mut stmt| stmt.query_row([id], run_record).optional());
        found.map_err(|e| self.error(e))
    }

    /// The body of [`Catalog::recent_runs`].
    fn select_runs(&self, limit: usize) -> rusqlite::Result<Vec<RunRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, command, pid, started_at, finished_at, outcome, \
             counts, error FROM runs ORDER BY id DESC LIMIT ?1",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let runs = stmt.query_map([limit], run_record)?;
        runs.collect()
    }
}

/// Reads a row of `runs`.
pub(super) fn run_record(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let outcome: String = row.get(5)?;
    let counts: Option<String> = row.get(6)?;
    Ok(RunRecord {
        id: row.get(0)?,
        command: row.get(1)?,
        pid: row.get(2)?,
        started_at: row.get(3)?,
        finished_at: row.get(4)?,
        outcome: match outcome.as_str() {
            "ok" => Some(RunOutcome::Ok),
            "failed" => Some(RunOutcome::Failed),
            _ => None,
        },
        counts: counts.and_then(|text| serde_json::from_str(&text).ok()),
        error: row.get(7)?,
    })
}
