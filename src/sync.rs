//! The sync itself: read a type from Salesforce, stage it, apply it.
//!
//! Network and storage overlap. A reader task on the async runtime fetches
//! pages and hands them over a bounded channel to the calling thread, which
//! owns the catalog connection, maps each record and stages it. Only after
//! the last page has arrived without error is the type applied, in one
//! short write transaction that also runs the missing step. A failed read
//! leaves the catalog as it was for that type.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use log::{debug, info, warn};
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::catalog::{self, Applied, ApplyPolicy, Catalog, Event, Item, MissingScope, Stage};
use crate::config::{Config, OnMissing, TypeConfig};
use crate::hooks;
use crate::ids::SfId;
use crate::mapping::{self, MapError, Mapped};
use crate::salesforce::{Client, SfError};
use crate::soql::{self, Filter};

/// Pages that may wait between the reader and the writer.
const PAGES_IN_FLIGHT: usize = 2;

/// Progress reports for a person watching; the command layer draws them.
pub trait Progress {
    /// A type's read began.
    fn begin(&self, type_name: &str);
    /// `done` of `total` records of the current type are staged.
    fn records(&self, done: u64, total: u64);
    /// The current type is finished.
    fn end(&self);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str) {}
    fn records(&self, _: u64, _: u64) {}
    fn end(&self) {}
}

/// What the caller chose for this run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Read and report, write nothing.
    pub dry_run: bool,
    /// Let the missing step touch more than `max_missing` of a type.
    pub allow_mass_missing: bool,
}

/// Everything a sync needs, borrowed for its length.
pub struct Syncer<'a> {
    /// The checked configuration.
    pub config: &'a Config,
    /// The catalog, owned by this thread.
    pub catalog: &'a Catalog,
    /// The org.
    pub client: Arc<Client>,
    /// Where the reader tasks run. The syncer itself blocks, so it must be
    /// used from a thread outside the runtime (or `spawn_blocking`).
    pub runtime: Handle,
    /// The run's id in the run log.
    pub run_id: i64,
    /// The caller's choices.
    pub options: RunOptions,
}

/// How one type went.
#[derive(Debug)]
pub struct TypeOutcome {
    /// The type's name.
    pub name: String,
    /// Counts on success, the cause on failure.
    pub result: Result<catalog::Counts, anyhow::Error>,
    /// Events, for dry runs and hooks.
    pub events: Vec<Event>,
    /// Hooks that failed after the type was committed.
    pub hook_failures: Vec<anyhow::Error>,
    /// Seconds the type took.
    pub seconds: f64,
}

/// What `sync-one` found.
#[derive(Debug)]
pub enum OneOutcome {
    /// The record exists and matches: its events (maybe none).
    Synced(Vec<Event>),
    /// Salesforce has no such record, or it left the criteria; the missing step ran.
    NotFound(Vec<Event>),
}

impl Syncer<'_> {
    /// Syncs `types` in the given order. A failure that concerns the whole
    /// org (login, API limit, network) stops the run; any other failure of
    /// a type is reported and the next type goes on.
    pub fn sync_types(&self, types: &[&TypeConfig], progress: &dyn Progress) -> Vec<TypeOutcome> {
        let mut outcomes = Vec::with_capacity(types.len());
        for t in types {
            let started = Instant::now();
            progress.begin(&t.name);
            let result = self.sync_type(t, progress);
            progress.end();
            let seconds = started.elapsed().as_secs_f64();
            let stop = matches!(&result, Err(e) if stops_the_run(e));
            let outcome = match result {
                Ok(applied) => self.finish_type(t, applied, seconds),
                Err(e) => TypeOutcome {
                    name: t.name.clone(),
                    result: Err(e),
                    events: Vec::new(),
                    hook_failures: Vec::new(),
                    seconds,
                },
            };
            outcomes.push(outcome);
            if stop {
                break;
            }
        }
        if let Some(usage) = self.client.api_usage() {
            info!(
                "Salesforce API usage: {usage} ({} requests in this run)",
                self.client.api_calls()
            );
        }
        outcomes
    }

    fn finish_type(&self, t: &TypeConfig, applied: Applied, seconds: f64) -> TypeOutcome {
        let c = &applied.counts;
        info!(
            "{}: {} created, {} updated, {} unchanged, {} missing, {} published, {} rejected, {} deleted in {seconds:.1}s",
            t.name, c.created, c.updated, c.unchanged, c.missing, c.published, c.rejected, c.deleted
        );
        let hook_failures = if self.options.dry_run {
            Vec::new()
        } else {
            hooks::run(&self.config.hooks, &t.name, &applied.events)
        };
        TypeOutcome {
            name: t.name.clone(),
            result: Ok(applied.counts),
            events: applied.events,
            hook_failures,
            seconds,
        }
    }

    /// Reads every record of `t`, stages them and applies the type.
    fn sync_type(&self, t: &TypeConfig, progress: &dyn Progress) -> Result<Applied> {
        let soql = soql::select(t, &Filter::All);
        debug!("{}: {soql}", t.name);
        let mut stage = self.catalog.stage(&t.name)?;
        let (tx, mut rx) = mpsc::channel(PAGES_IN_FLIGHT);
        let reader = self
            .runtime
            .spawn(read_pages(Arc::clone(&self.client), soql, tx));
        let mut done = 0u64;
        let mut failure = None;
        while let Some(page) = rx.blocking_recv() {
            match page {
                Ok(page) => {
                    done += page.records.len() as u64;
                    stage_records(t, &mut stage, &page.records)?;
                    progress.records(done, page.total);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(rx);
        reader.abort();
        if let Some(e) = failure {
            return Err(e.context(format!(
                "reading `{}`; nothing of this type was changed",
                t.sobject
            )));
        }
        let policy = self.policy(t, MissingScope::Unseen);
        Ok(stage.apply(&policy)?)
    }

    fn policy(&self, t: &TypeConfig, missing: MissingScope) -> ApplyPolicy {
        let mut policy = ApplyPolicy::new(self.run_id, &t.container);
        policy.publish = t.publish;
        policy.on_missing = match t.on_missing {
            OnMissing::Keep => catalog::OnMissing::Keep,
            OnMissing::Reject => catalog::OnMissing::Reject,
            OnMissing::Delete => catalog::OnMissing::Delete,
        };
        policy.missing = missing;
        policy.max_missing = t.max_missing;
        policy.allow_mass_missing = self.options.allow_mass_missing;
        policy.dry_run = self.options.dry_run;
        policy.collect_events = self.options.dry_run || hooks::wanted(&self.config.hooks, &t.name);
        policy.full_read = true;
        policy
    }

    /// Syncs one record now; a record that is gone or left the criteria
    /// goes through the missing step.
    pub fn sync_one(&self, t: &TypeConfig, id: &SfId) -> Result<(OneOutcome, Vec<anyhow::Error>)> {
        let soql = soql::select(t, &Filter::Id(id));
        debug!("{}: {soql}", t.name);
        let page = self
            .runtime
            .block_on(self.client.query(&soql, false))
            .with_context(|| format!("reading `{}` `{id}`", t.sobject))?;
        let mut stage = self.catalog.stage(&t.name)?;
        let found = !page.records.is_empty();
        let scope = if found {
            stage_records(t, &mut stage, &page.records)?;
            MissingScope::None
        } else {
            MissingScope::Ids(vec![id.to_string()])
        };
        let mut policy = self.policy(t, scope);
        policy.collect_events = true;
        policy.full_read = false;
        let applied = stage.apply(&policy)?;
        let hook_failures = hooks::run(&self.config.hooks, &t.name, &applied.events);
        let outcome = if found {
            OneOutcome::Synced(applied.events)
        } else {
            OneOutcome::NotFound(applied.events)
        };
        Ok((outcome, hook_failures))
    }
}

/// A page as the reader hands it over.
struct Page {
    records: Vec<Value>,
    total: u64,
}

/// Fetches every page of `soql`, in order, into `tx`. Stops at the first
/// error, which it sends on, or when the receiver is gone.
async fn read_pages(client: Arc<Client>, soql: String, tx: mpsc::Sender<Result<Page>>) {
    let mut number = 1;
    let mut result = client.query(&soql, false).await;
    loop {
        let page = match result {
            Ok(page) => page,
            Err(e) => {
                let _ = tx
                    .send(Err(anyhow!(e).context(format!("page {number}"))))
                    .await;
                return;
            }
        };
        let next = page.next_records_url.clone().filter(|_| !page.done);
        let sent = tx
            .send(Ok(Page {
                records: page.records,
                total: page.total_size,
            }))
            .await;
        let Some(next) = next else { return };
        if sent.is_err() {
            return;
        }
        number += 1;
        result = client.query_more(&next).await;
    }
}

/// Maps a page of records and stages them. A record that cannot be mapped
/// is logged and skipped, but still counts as seen so the missing step
/// leaves its item alone.
fn stage_records(t: &TypeConfig, stage: &mut Stage<'_>, records: &[Value]) -> Result<()> {
    let mut items = Vec::with_capacity(records.len());
    let mut unusable = Vec::new();
    for record in records {
        match mapping::map_record(t, record) {
            Ok(mapped) => items.push(item(mapped)),
            Err(e) => {
                warn!("{}: skipping a record: {e}", t.name);
                if let MapError::Field { id, .. } = e {
                    unusable.push(id);
                }
            }
        }
    }
    stage.add_batch(&items)?;
    if !unusable.is_empty() {
        stage.mark_seen(&unusable)?;
    }
    Ok(())
}

fn item(m: Mapped) -> Item {
    Item {
        sf_object_id: m.id.to_string(),
        title: m.title,
        fields: m.fields,
        digest: m.digest,
    }
}

/// Whether an error concerns the whole org or link rather than one type.
fn stops_the_run(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|cause| match cause.downcast_ref::<SfError>() {
            Some(sf) => sf.stops_the_run(),
            None => matches!(
                cause.downcast_ref::<catalog::CatalogError>(),
                Some(c) if !matches!(c, catalog::CatalogError::MassMissing { .. })
            ),
        })
}
