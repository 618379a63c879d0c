//! `status`'s work: what the catalog says about each type and the runs
//! that wrote it.
//!
//! A run's counts name each type it synced to the end, and its error heads
//! each type's failure with the type (`` `Contact`: reading ... ``, joined
//! by `; `), so the last sync and the last failure of a type can be told
//! from the run log alone.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::catalog::{self, Catalog, RunOutcome, RunRecord};
use crate::config::Config;

/// How many failed runs to look through for a type's last failure.
const FAILURES_SCANNED: usize = 200;

/// Where one type stands.
#[derive(Debug, Clone, Serialize)]
pub struct TypeStatus {
    /// The type's name.
    #[serde(rename = "type")]
    pub name: String,
    /// Items by state.
    pub items: BTreeMap<String, u64>,
    /// The last run that synced the type to the end.
    pub last_sync: Option<LastSync>,
    /// The last run that failed on the type.
    pub last_failure: Option<LastFailure>,
}

/// A run that synced a type.
#[derive(Debug, Clone, Serialize)]
pub struct LastSync {
    /// The run's id.
    pub run: i64,
    /// When it finished.
    pub finished_at: Option<String>,
    /// What it did to the type.
    pub counts: Value,
}

/// A run that failed on a type.
#[derive(Debug, Clone, Serialize)]
pub struct LastFailure {
    /// The run's id.
    pub run: i64,
    /// When it started.
    pub started_at: String,
    /// Why it failed.
    pub error: String,
}

/// The status of every configured type, then of any other type the
/// catalog still holds items of.
pub fn type_statuses(catalog: &Catalog, config: &Config) -> catalog::Result<Vec<TypeStatus>> {
    let mut names: Vec<String> = config.types.iter().map(|t| t.name.clone()).collect();
    for other in catalog.item_types()? {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&other)) {
            names.push(other);
        }
    }

    let mut items: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (type_name, state, count) in catalog.count_by_state()? {
        items.entry(type_name).or_default().insert(state, count);
    }
    let failures = catalog.failed_runs(FAILURES_SCANNED)?;

    names
        .into_iter()
        .map(|name| {
            let last_sync = catalog.last_sync_of(&name)?.map(|run| LastSync {
                run: run.id,
                counts: run
                    .counts
                    .as_ref()
                    .map_or(Value::Null, |c| c[&name].clone()),
                finished_at: run.finished_at,
            });
            let last_failure = failures
                .iter()
                .find(|run| failed_on(run, &name))
                .map(|run| LastFailure {
                    run: run.id,
                    started_at: run.started_at.clone(),
                    error: run.error.clone().unwrap_or_default(),
                });
            Ok(TypeStatus {
                items: items.remove(&name).unwrap_or_default(),
                name,
                last_sync,
                last_failure,
            })
        })
        .collect()
}

/// Whether a failed run failed on `type_name`: it did not count the type,
/// and either its error names the type or it was meant to sync it (no
/// `--type`, or `--type` with this name) and stopped before.
fn failed_on(run: &RunRecord, type_name: &str) -> bool {
    let counted = run
        .counts
        .as_ref()
        .and_then(Value::as_object)
        .is_some_and(|c| c.contains_key(type_name));
    if counted {
        return false;
    }
    // A type's failure is written `` `Type`: why ``, failures joined by
    // `; `: only that head names the type, not a mention of it (or of an
    // sobject spelled like it) inside another type's reason.
    let error = run.error.as_deref().unwrap_or_default();
    let head = format!("`{type_name}`: ");
    if error.starts_with(&head) || error.contains(&format!("; {head}")) {
        return true;
    }
    let words: Vec<&str> = run.command.split_whitespace().collect();
    let named: Vec<&str> = words
        .windows(2)
        .filter(|w| w[0] == "--type")
        .map(|w| w[1])
        .collect();
    named.is_empty() || named.iter().any(|n| n.eq_ignore_ascii_case(type_name))
}

/// A run as one JSON object, for `status --runs`.
pub fn run_json(run: &RunRecord) -> Value {
    let outcome = match run.outcome {
        Some(RunOutcome::Ok) => "ok",
        Some(RunOutcome::Failed) => "failed",
        None => "running",
    };
    serde_json::json!({
        "run": run.id,
        "command": run.command,
        "pid": run.pid,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "outcome": outcome,
        "counts": run.counts,
        "error": run.error,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn failed(command: &str, counts: Value, error: &str) -> RunRecord {
        RunRecord {
            id: 1,
            command: command.into(),
            pid: 1,
            started_at: "2024-05-01T00:00:00Z".into(),
            finished_at: None,
            outcome: Some(RunOutcome::Failed),
            counts: Some(counts),
            error: Some(error.into()),
        }
    }

    #[test]
    fn a_failure_belongs_to_the_types_it_did_not_finish() {
        let run = failed(
            "sync-all",
            json!({"Account": {}}),
            "`Contact`: reading `Contact`",
        );
        assert!(failed_on(&run, "Contact"));
        assert!(!failed_on(&run, "Account"));
        let login = failed("sync-all --type Lead", json!({}), "logging in");
        assert!(failed_on(&login, "Lead"));
        assert!(!failed_on(&login, "Contact"));
    }

    #[test]
    fn a_type_named_like_another_types_sobject_is_not_blamed_for_it() {
        let run = failed(
            "sync-all --type Board --type Lead",
            json!({}),
            "`Board`: reading `Contact`: INVALID_FIELD; `Lead`: reading `Lead`",
        );
        assert!(failed_on(&run, "Board"));
        assert!(failed_on(&run, "Lead"));
        assert!(!failed_on(&run, "Contact"), "named only as Board's sobject");
    }
}
