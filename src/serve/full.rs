//! Full syncs in the background: started by a request, answered at once
//! with the run's id, followed through `GET /runs/ID`.
//!
//! A full sync takes the same run lock as `sfsync sync-all`, so the server
//! and cron never sync the catalog at the same time: whichever comes second
//! is refused (the server answers 409 naming the holder). Only one full
//! sync runs in the server at a time.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use log::{error, info, warn};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::runtime::Handle;

use super::error::ServeError;
use super::jobs::Jobs;
use crate::catalog::{Catalog, RunOutcome};
use crate::config::TypeConfig;
use crate::lock::{LockBusy, RunLock};
use crate::salesforce::Client;
use crate::sync::{Progress, RunOptions, RunSummary, Syncer};

/// Whether a full sync runs in this server.
pub enum Full {
    /// None.
    Idle,
    /// One is taking the lock and opening its run.
    Starting,
    /// One runs.
    Running(Arc<LiveRun>),
}

/// A full sync in progress, as `GET /runs/ID` reports it.
pub struct LiveRun {
    /// The run's id in the run log.
    pub id: i64,
    /// The types it syncs, in order.
    pub types: Vec<String>,
    progress: Mutex<Progressed>,
}

/// How far a live run has come.
#[derive(Debug, Clone, Default, Serialize)]
struct Progressed {
    current: Option<String>,
    done: u64,
    total: u64,
    finished: Vec<String>,
}

impl LiveRun {
    fn new(id: i64, types: Vec<String>) -> LiveRun {
        LiveRun {
            id,
            types,
            progress: Mutex::new(Progressed::default()),
        }
    }

    fn progressed(&self) -> std::sync::MutexGuard<'_, Progressed> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The run's state as JSON: the run log's fields as `status --runs`
    /// names them, and the progress so far.
    pub fn status(&self) -> Value {
        let p = self.progressed().clone();
        json!({
            "run": self.id,
            "outcome": "running",
            "types": self.types,
            "current": p.current,
            "done": p.done,
            "total": p.total,
            "finished": p.finished,
        })
    }
}

impl Progress for LiveRun {
    fn begin(&self, type_name: &str) {
        let mut p = self.progressed();
        p.current = Some(type_name.to_string());
        p.done = 0;
        p.total = 0;
    }

    fn records(&self, done: u64, total: u64) {
        let mut p = self.progressed();
        p.done = done;
        p.total = total;
    }

    fn end(&self) {
        let mut p = self.progressed();
        if let Some(name) = p.current.take() {
            p.finished.push(name);
        }
    }
}

/// What a full sync holds while it runs: its lock and its connection.
struct Opened {
    run_id: i64,
    catalog: Catalog,
    lock: RunLock,
}

impl Jobs {
    /// Starts a full sync of `types` in the background and returns its
    /// run id, or refuses because a sync is running already.
    pub async fn start_full(self: &Arc<Self>, types: &[&TypeConfig]) -> Result<i64, ServeError> {
        if self.is_stopping() {
            return Err(ServeError::ShuttingDown);
        }
        self.claim_full()?;
        let names: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
        let opened = match self.open_full(&names).await {
            Ok(opened) => opened,
            Err(e) => {
                *self.full_state() = Full::Idle;
                return Err(e);
            }
        };
        let run_id = opened.run_id;
        let live = Arc::new(LiveRun::new(run_id, names));
        *self.full_state() = Full::Running(Arc::clone(&live));
        info!(
            "run {run_id}: full sync of {} started",
            live.types.join(", ")
        );
        let jobs = Arc::clone(self);
        self.tasks.spawn(async move {
            jobs.run_full(live, opened).await;
            *jobs.full_state() = Full::Idle;
        });
        Ok(run_id)
    }

    /// Marks a full sync as starting, unless one is.
    fn claim_full(&self) -> Result<(), ServeError> {
        let mut full = self.full_state();
        match &*full {
            Full::Idle => {
                *full = Full::Starting;
                Ok(())
            }
            Full::Starting => Err(ServeError::Conflict {
                run: None,
                holder: "another full sync of this server is starting".to_string(),
            }),
            Full::Running(live) => Err(ServeError::Conflict {
                run: Some(live.id),
                holder: format!("run {} of this server", live.id),
            }),
        }
    }

    /// Takes the run lock, then opens the catalog and the run.
    async fn open_full(&self, names: &[String]) -> Result<Opened, ServeError> {
        let config = Arc::clone(&self.config);
        let command = command_line(names, config.types.len());
        let task = tokio::task::spawn_blocking(move || {
            let lock =
                RunLock::acquire(&config.catalog_path, Duration::ZERO).map_err(|e| match e
                    .downcast_ref::<LockBusy>()
                {
                    Some(busy) => ServeError::Conflict {
                        run: None,
                        holder: busy.holder.clone(),
                    },
                    None => ServeError::Internal(format!("{e:#}")),
                })?;
            let catalog = Catalog::open(&config.catalog_path)?;
            catalog.define_views(&crate::sync::type_views(&config))?;
            let run_id = catalog.begin_run(&command)?;
            Ok(Opened {
                run_id,
                catalog,
                lock,
            })
        });
        task.await.map_err(|e| {
            ServeError::Internal(format!("the catalog thread ended abnormally: {e}"))
        })?
    }

    /// Logs in, syncs, records the outcome; releases the lock at the end.
    async fn run_full(self: &Arc<Self>, live: Arc<LiveRun>, opened: Opened) {
        let login = self.client().await;
        let handle = Handle::current();
        let jobs = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            let Opened {
                run_id,
                catalog,
                lock,
            } = opened;
            let finished = match login {
                Ok(client) => jobs.sync_full_blocking(&live, &catalog, client, handle),
                Err(e) => {
                    error!("run {run_id}: {e}");
                    let text = e.to_string();
                    catalog.finish_run(run_id, RunOutcome::Failed, &json!({}), Some(&text))
                }
            };
            if let Err(e) = finished {
                error!("run {run_id}: cannot record how the run ended: {e}");
            }
            drop(lock);
        });
        if let Err(e) = task.await {
            error!("a full sync thread ended abnormally: {e}");
        }
    }

    /// The blocking part of a full sync.
    fn sync_full_blocking(
        &self,
        live: &LiveRun,
        catalog: &Catalog,
        client: Arc<Client>,
        runtime: Handle,
    ) -> crate::catalog::Result<()> {
        let types: Vec<&TypeConfig> = live
            .types
            .iter()
            .filter_map(|name| self.config.find_type(name))
            .collect();
        let syncer = Syncer {
            config: &self.config,
            catalog,
            client,
            runtime,
            run_id: live.id,
            options: RunOptions::default(),
        };
        let outcomes = syncer.sync_types(&types, live);
        let summary = RunSummary::of(&outcomes, types.len());
        for e in &summary.errors {
            warn!("{e}");
        }
        let outcome = summary.outcome();
        info!("run {}: full sync ended {}", live.id, outcome.as_str());
        catalog.finish_run(
            live.id,
            outcome,
            &summary.counts,
            summary.error_text().as_deref(),
        )
    }
}

/// The run log's command line for a full sync.
fn command_line(names: &[String], configured: usize) -> String {
    let mut line = String::from("serve sync-all");
    if names.len() < configured {
        for name in names {
            line.push_str(" --type ");
            line.push_str(name);
        }
    }
    line
}
