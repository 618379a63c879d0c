//! The work behind the endpoints: syncing one record, and reading runs.
//!
//! [`Jobs`] is shared by every request. It logs in to Salesforce on first
//! use and keeps the client; it runs each sync in a tracked task, so a
//! client that hangs up does not cancel a sync halfway and shutdown can
//! wait for every sync to end. The syncer blocks, so each sync runs on a
//! blocking thread with its own catalog connection.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use log::{info, warn};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::coalesce::Coalescer;
use super::error::ServeError;
use super::full::Full;
use crate::catalog::{Catalog, CatalogError, Event, RunOutcome, RunRecord};
use crate::config::{Config, SalesforceConfig, TypeConfig};
use crate::ids::SfId;
use crate::salesforce::{Client, Secrets};
use crate::sync::{OneOutcome, RunOptions, Syncer};

/// How long a record sync may wait for a free slot before the answer is 503.
const SLOT_WAIT: Duration = Duration::from_secs(30);

/// Limits the server works within.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Record syncs running at once; more wait for a slot.
    pub record_syncs: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { record_syncs: 4 }
    }
}

/// What one record sync did.
#[derive(Debug, Serialize)]
pub struct RecordReport {
    /// The run it was recorded as.
    pub run: i64,
    /// The type it was synced as.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether Salesforce returned the record (within the type's criteria).
    pub found: bool,
    /// The events it made.
    pub events: Vec<Event>,
    /// Hooks that failed after the record was committed.
    pub hook_errors: Vec<String>,
}

/// A record sync's answer as requests share it.
type RecordResult = Result<Arc<RecordReport>, ServeError>;

/// The server's shared work.
pub struct Jobs {
    pub(super) config: Arc<Config>,
    login: Login,
    records: Coalescer<(String, SfId), RecordResult>,
    record_slots: Arc<Semaphore>,
    pub(super) full: Mutex<Full>,
    pub(super) tasks: TaskTracker,
    stopping: CancellationToken,
}

impl Jobs {
    /// Work for `config`, logging in with `secrets` when first needed.
    pub fn new(config: Arc<Config>, secrets: Secrets, limits: &Limits) -> Jobs {
        Jobs {
            login: Login::new(config.salesforce.clone(), secrets),
            config,
            records: Coalescer::new(),
            record_slots: Arc::new(Semaphore::new(limits.record_syncs.max(1))),
            full: Mutex::new(Full::Idle),
            tasks: TaskTracker::new(),
            stopping: CancellationToken::new(),
        }
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes no new work from now on.
    pub fn stop(&self) {
        self.stopping.cancel();
        self.record_slots.close();
        self.tasks.close();
    }

    /// Whether [`Jobs::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// Waits for every sync that is running to end.
    pub async fn drained(&self) {
        if let Full::Running(live) = &*self.full_state() {
            info!("waiting for run {} to finish", live.id);
        }
        self.tasks.wait().await;
    }

    pub(super) fn full_state(&self) -> std::sync::MutexGuard<'_, Full> {
        self.full.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The Salesforce client, logging in when there is none yet.
    pub(super) async fn client(&self) -> Result<Arc<Client>, ServeError> {
        self.login.client().await
    }

    /// Syncs record `id` as type `t`, sharing the sync with concurrent
    /// requests for the same record.
    pub async fn sync_record(self: &Arc<Self>, t: &TypeConfig, id: &SfId) -> RecordResult {
        if self.is_stopping() {
            return Err(ServeError::ShuttingDown);
        }
        let jobs = Arc::clone(self);
        let key = (t.name.clone(), id.clone());
        let task = self.tasks.spawn(async move {
            let (name, id) = key.clone();
            let worker = Arc::clone(&jobs);
            jobs.records
                .run(key, move || worker.sync_record_now(name, id))
                .await
        });
        task.await
            .map_err(|e| ServeError::Internal(format!("the sync task ended abnormally: {e}")))?
    }

    /// One record sync, once a slot is free.
    async fn sync_record_now(self: Arc<Self>, type_name: String, id: SfId) -> RecordResult {
        let slot = tokio::time::timeout(SLOT_WAIT, Arc::clone(&self.record_slots).acquire_owned());
        let _permit = match slot.await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(ServeError::ShuttingDown),
            Err(_) => {
                return Err(ServeError::Busy(
                    "too many syncs are waiting; try again shortly".to_string(),
                ))
            }
        };
        let login = self.client().await;
        let handle = Handle::current();
        let jobs = Arc::clone(&self);
        let blocking = tokio::task::spawn_blocking(move || {
            jobs.sync_record_blocking(&type_name, &id, login, handle)
        });
        blocking
            .await
            .map_err(|e| ServeError::Internal(format!("the sync thread ended abnormally: {e}")))?
    }

    /// The blocking part of a record sync, recorded as a run; a failed
    /// `login` is recorded as a failed run too, as `sync-one` records it.
    fn sync_record_blocking(
        &self,
        type_name: &str,
        id: &SfId,
        login: Result<Arc<Client>, ServeError>,
        runtime: Handle,
    ) -> RecordResult {
        let t = self.config.find_type(type_name).ok_or_else(|| {
            ServeError::Internal(format!("type `{type_name}` left the configuration"))
        })?;
        let catalog = Catalog::open(&self.config.catalog_path)?;
        let run_id = catalog.begin_run(&format!("serve sync-one --type {} --id {id}", t.name))?;
        let client = match login {
            Ok(client) => client,
            Err(e) => {
                warn!("run {run_id}: syncing `{}` `{id}` failed: {e}", t.name);
                catalog.finish_run(run_id, RunOutcome::Failed, &json!({}), Some(&e.to_string()))?;
                return Err(e);
            }
        };
        let syncer = Syncer {
            config: &self.config,
            catalog: &catalog,
            client,
            runtime,
            run_id,
            options: RunOptions::default(),
        };
        let (outcome, hook_failures) = match syncer.sync_one(t, id) {
            Ok(done) => done,
            Err(e) => {
                warn!("run {run_id}: syncing `{}` `{id}` failed: {e:#}", t.name);
                let text = format!("{e:#}");
                catalog.finish_run(run_id, RunOutcome::Failed, &json!({}), Some(&text))?;
                return Err(ServeError::from_sync(&e));
            }
        };
        let (found, events) = match outcome {
            OneOutcome::Synced(events) => (true, events),
            OneOutcome::NotFound(events) => (false, events),
        };
        let hook_errors: Vec<String> = hook_failures.iter().map(|h| format!("{h:#}")).collect();
        for h in &hook_errors {
            warn!("run {run_id}: {h}");
        }
        let outcome = match hook_errors.is_empty() {
            true => RunOutcome::Ok,
            false => RunOutcome::Failed,
        };
        let error = (!hook_errors.is_empty()).then(|| hook_errors.join("; "));
        let counts = json!({ "events": events.len() });
        catalog.finish_run(run_id, outcome, &counts, error.as_deref())?;
        info!(
            "run {run_id}: `{}` `{id}` synced, {} event(s)",
            t.name,
            events.len()
        );
        Ok(Arc::new(RecordReport {
            run: run_id,
            type_name: t.name.clone(),
            found,
            events,
            hook_errors,
        }))
    }

    /// Where run `id` stands: live progress if this server is running it,
    /// else what the run log says.
    pub async fn run_status(&self, id: i64) -> Result<Value, ServeError> {
        if let Full::Running(live) = &*self.full_state() {
            if live.id == id {
                return Ok(live.status());
            }
        }
        let path = self.config.catalog_path.clone();
        let found = read_catalog(move |c| c.run(id), &path).await?;
        match found.flatten() {
            Some(run) => Ok(crate::status::run_json(&run)),
            None => Err(ServeError::NotFound(format!("no run has id {id}"))),
        }
    }

    /// The latest `limit` runs, newest first; none before the first sync.
    pub async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, ServeError> {
        let path = self.config.catalog_path.clone();
        let runs = read_catalog(move |c| c.recent_runs(limit), &path).await?;
        Ok(runs.unwrap_or_default())
    }
}

/// Runs `read` on a read-only connection on a blocking thread; `None` when
/// there is no catalog yet.
async fn read_catalog<T, F>(read: F, path: &std::path::Path) -> Result<Option<T>, ServeError>
where
    T: Send + 'static,
    F: FnOnce(&Catalog) -> crate::catalog::Result<T> + Send + 'static,
{
    let path = path.to_path_buf();
    let task = tokio::task::spawn_blocking(move || match Catalog::open_read_only(&path) {
        Ok(catalog) => read(&catalog).map(Some),
        Err(CatalogError::Missing(_)) => Ok(None),
        Err(e) => Err(e),
    });
    let result = task
        .await
        .map_err(|e| ServeError::Internal(format!("the catalog thread ended abnormally: {e}")))?;
    Ok(result?)
}

/// The Salesforce login, made once and shared.
struct Login {
    cfg: SalesforceConfig,
    secrets: Secrets,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl Login {
    fn new(cfg: SalesforceConfig, secrets: Secrets) -> Login {
        Login {
            cfg,
            secrets,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// The client; a failed login is tried again by the next request.
    async fn client(&self) -> Result<Arc<Client>, ServeError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(Arc::clone(client));
        }
        let connected = Client::connect(&self.cfg, self.secrets.clone()).await;
        let client = connected
            .map(Arc::new)
            .map_err(|e| ServeError::Salesforce(format!("logging in to Salesforce: {e}")))?;
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }
}
