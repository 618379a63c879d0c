//! The sync itself: read a type from Salesforce, stage it, apply it.
//!
//! Network, mapping and storage overlap. A reader task on the async
//! runtime fetches pages and hands them over a bounded channel to a
//! mapping thread, which parses and maps each record and passes the page
//! on to the calling thread; that one owns the catalog connection and
//! stages it. Only after the last page has arrived without error is the
//! type applied, in one short write transaction that also runs the missing
//! step. A failed read leaves the catalog as it was for that type.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use log::{debug, info, warn};
use serde_json::value::RawValue;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::task::AbortOnDropHandle;

use crate::bulk;
use crate::catalog::{self, Applied, ApplyPolicy, Catalog, Event, Item, MissingScope, Stage};
use crate::config::{Config, OnMissing, TypeConfig};
use crate::hooks;
use crate::ids::{IdList, SfId};
use crate::mapping::{self, MapError};
use crate::picklist::Vocabularies;
use crate::reader::{self, ReadJob, Want};
use crate::salesforce::{Client, SfError};
use crate::soql::{self, Filter};

/// Pages that may wait between the readers and the writer.
const PAGES_IN_FLIGHT: usize = 2;
/// Ids per `Id IN (...)` query: well inside the URL length limit.
const IDS_PER_QUERY: usize = 200;

/// Marks an error of a Bulk API read, which the sync recovers from by
/// reading through REST instead.
#[derive(Debug, thiserror::Error)]
#[error("the Bulk API read failed")]
struct BulkFailed;

/// Marks `e` as a failure of the Bulk API side, unless it is already.
fn bulk_failure(e: anyhow::Error) -> anyhow::Error {
    if e.downcast_ref::<BulkFailed>().is_some() {
        e
    } else {
        e.context(BulkFailed)
    }
}

/// How a read that went partly through Bulk API ended: `Ok(true)` when it
/// finished; `Ok(false)` when the Bulk side failed, which is logged and
/// the progress count put back for the REST read the caller falls back
/// to; any other error as it came.
fn after_bulk(
    t: &TypeConfig,
    result: Result<()>,
    read: &mut ReadState,
    done_before: u64,
) -> Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.downcast_ref::<BulkFailed>().is_some() => {
            warn!("{}: reading through REST instead: {e:#}", t.name);
            read.done = done_before;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

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
    /// Read every type in full, whatever its watermark.
    pub full: bool,
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

/// What a run of several types comes to, for the run log: the same for
/// `sync-all` and for the server's syncs.
#[derive(Debug)]
pub struct RunSummary {
    /// The counts of each type that finished, by type name.
    pub counts: Value,
    /// The run's failures in words, in the order they happened: a failed
    /// type's headed with its name (`` `Contact`: why ``, which `status`
    /// relies on), each failed hook's, then an early stop.
    pub errors: Vec<String>,
}

impl RunSummary {
    /// Sums up `outcomes`, of the `planned` types the run meant to sync.
    pub fn of(outcomes: &[TypeOutcome], planned: usize) -> RunSummary {
        let mut counts = serde_json::Map::new();
        let mut errors = Vec::new();
        for o in outcomes {
            match &o.result {
                Ok(c) => {
                    counts.insert(o.name.clone(), serde_json::to_value(c).unwrap_or_default());
                }
                Err(e) => errors.push(format!("`{}`: {e:#}", o.name)),
            }
            errors.extend(o.hook_failures.iter().map(|h| format!("{h:#}")));
        }
        if outcomes.len() < planned {
            let skipped = planned - outcomes.len();
            errors.push(format!(
                "the run stopped early; {skipped} type(s) were not synced"
            ));
        }
        RunSummary {
            counts: Value::Object(counts),
            errors,
        }
    }

    /// How the run ended: failed if anything failed.
    pub fn outcome(&self) -> catalog::RunOutcome {
        if self.errors.is_empty() {
            catalog::RunOutcome::Ok
        } else {
            catalog::RunOutcome::Failed
        }
    }

    /// The run log's error text: the failures joined by `; `.
    pub fn error_text(&self) -> Option<String> {
        (!self.errors.is_empty()).then(|| self.errors.join("; "))
    }
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
        self.sync_types_after(types, progress, || ())
    }

    /// [`Syncer::sync_types`], once `first` has run: the survey that
    /// plans a full read of the first type is asked for before, so that
    /// its round trip overlaps with whatever `first` waits for (the
    /// picklist refresh's describes, for `sync-all`).
    pub fn sync_types_after(
        &self,
        types: &[&TypeConfig],
        progress: &dyn Progress,
        first: impl FnOnce(),
    ) -> Vec<TypeOutcome> {
        let mut early = types.first().and_then(|t| self.survey_early(t));
        first();
        let mut outcomes = Vec::with_capacity(types.len());
        for t in types {
            let started = Instant::now();
            progress.begin(&t.name);
            let result = self.sync_type(t, progress, early.take());
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

    /// Reads `t` (in full, or what changed since the watermark), stages
    /// it and applies the type.
    fn sync_type(
        &self,
        t: &TypeConfig,
        progress: &dyn Progress,
        early: Option<EarlySurvey>,
    ) -> Result<Applied> {
        let state = self.catalog.type_state(&t.name)?;
        let plan = self.plan(t, state.as_ref());
        let shared = Arc::new(t.clone());
        let mut policy = self.policy(t, MissingScope::Unseen);
        let mut stage = self.staging(t, (plan == Plan::Full).then_some(&policy))?;
        let mut read = ReadState {
            watermark: state.and_then(|s| s.watermark),
            done: 0,
            total: 0,
        };
        let what = |e: anyhow::Error| {
            e.context(format!(
                "reading `{}`; nothing of this type was changed",
                t.sobject
            ))
        };
        match &plan {
            Plan::Full => {
                let survey = match early {
                    Some(early) => self
                        .runtime
                        .block_on(early.0)
                        .map_err(|e| anyhow!("the survey stopped before it answered: {e}")),
                    None => Ok(self.survey(t)),
                };
                let survey = survey.and_then(|survey| survey).map_err(what)?;
                let expected = survey.as_ref().map(|s| s.total);
                read.total = expected.unwrap_or(0);
                let bulk = t.read.bulk_threshold > 0
                    && expected.is_some_and(|n| n > t.read.bulk_threshold)
                    && bulk::supports(t);
                if !bulk || !self.try_bulk(&shared, &mut stage, &mut read, progress) {
                    let job = ReadJob {
                        t: Arc::clone(&shared),
                        want: Want::Records,
                        since: None,
                        expected,
                        survey: survey.map(Arc::new),
                    };
                    self.stream(job, &mut stage, &mut read, progress)
                        .map_err(what)?;
                }
            }
            Plan::Since(since) => {
                debug!(
                    "{}: incremental read of records stamped since {since}",
                    t.name
                );
                let changes = ReadJob {
                    t: Arc::clone(&shared),
                    want: Want::Records,
                    since: Some(since.clone()),
                    expected: None,
                    survey: None,
                };
                let bulk = t.read.bulk_threshold > 0
                    && self
                        .catalog
                        .has_more_items_than(&t.name, t.read.bulk_threshold)?;
                let together = bulk
                    && self
                        .changes_and_bulk_ids(changes.clone(), &mut stage, &mut read, progress)
                        .map_err(what)?;
                if !together {
                    self.stream(changes, &mut stage, &mut read, progress)
                        .map_err(what)?;
                    let known = self.catalog.count_items(&t.name)?;
                    let ids = ReadJob {
                        t: Arc::clone(&shared),
                        want: Want::Ids,
                        since: None,
                        expected: Some(known),
                        survey: None,
                    };
                    self.stream(ids, &mut stage, &mut read, progress)
                        .map_err(what)?;
                }
                self.fetch_unknown(t, &mut stage).map_err(what)?;
            }
        }
        debug!("{}: {} records read; applying", t.name, read.done);
        policy.watermark = read.watermark;
        policy.full_read = plan == Plan::Full;
        Ok(stage.stage.apply(&policy)?)
    }

    /// A fresh stage for `t`, with its cached picklist vocabularies; for
    /// a full read under `full`, one that writes a type with no items yet
    /// straight to the catalog.
    fn staging(&self, t: &TypeConfig, full: Option<&ApplyPolicy>) -> Result<Staging<'_>> {
        let stage = match full {
            Some(policy) => self.catalog.stage_full_read(&t.name, policy)?,
            None => self.catalog.stage(&t.name)?,
        };
        Ok(Staging {
            stage,
            vocabularies: Vocabularies::load(self.catalog, t)?,
        })
    }

    /// Full read or incremental, by the type's settings and its last runs.
    fn plan(&self, t: &TypeConfig, state: Option<&catalog::TypeState>) -> Plan {
        let (plan, reason) = self.plan_and_reason(t, state);
        if let Some(reason) = reason {
            debug!("{}: full read: {reason}", t.name);
        }
        plan
    }

    /// [`Syncer::plan`], and why a read is full.
    fn plan_and_reason(
        &self,
        t: &TypeConfig,
        state: Option<&catalog::TypeState>,
    ) -> (Plan, Option<&'static str>) {
        let reason = if self.options.full {
            "--full was given"
        } else if !t.read.incremental {
            "the type is not incremental"
        } else if !soql::can_split(t) {
            "the criteria end in ORDER BY or LIMIT"
        } else {
            let watermark = state
                .and_then(|s| s.watermark.as_deref())
                .and_then(mapping::parse_sf_datetime);
            let last_full = state
                .and_then(|s| s.last_full_read_at.as_deref())
                .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok());
            match (watermark, last_full) {
                (Some(mark), Some(full))
                    if OffsetDateTime::now_utc() - full < t.read.full_every =>
                {
                    return (Plan::Since(reader::literal(mark - t.read.lookback)), None);
                }
                (Some(_), Some(_)) => "the last full read is older than `full_every`",
                _ => "there is no watermark from an earlier full read",
            }
        };
        (Plan::Full, Some(reason))
    }

    /// Asks for the survey of `t` now, on the runtime, when its read will
    /// be full; `None` otherwise, or when the catalog cannot tell (the
    /// sync of `t` then reports why).
    fn survey_early(&self, t: &TypeConfig) -> Option<EarlySurvey> {
        let state = self.catalog.type_state(&t.name).ok()?;
        let (plan, _) = self.plan_and_reason(t, state.as_ref());
        if plan != Plan::Full || !soql::can_split(t) {
            return None;
        }
        let (client, t) = (Arc::clone(&self.client), t.clone());
        let task = self
            .runtime
            .spawn(async move { reader::survey(&client, &t).await.map(Some) });
        Some(EarlySurvey(AbortOnDropHandle::new(task)))
    }

    /// How many records a full read will bring and how they spread, when
    /// ranges could use it.
    fn survey(&self, t: &TypeConfig) -> Result<Option<reader::Survey>> {
        if !soql::can_split(t) {
            return Ok(None);
        }
        self.runtime
            .block_on(reader::survey(&self.client, t))
            .map(Some)
    }

    /// Runs one read and stages what it brings on this thread.
    fn stream(
        &self,
        job: ReadJob,
        stage: &mut Staging<'_>,
        read: &mut ReadState,
        progress: &dyn Progress,
    ) -> Result<()> {
        let (tx, rx) = mpsc::channel(PAGES_IN_FLIGHT);
        let t = Arc::clone(&job.t);
        let task = self
            .runtime
            .spawn(reader::read(Arc::clone(&self.client), job, tx));
        let result = drain(rx, &[task.abort_handle()], &t, stage, read, progress);
        task.abort();
        result?;
        self.reader_finished(task)
    }

    /// Reads what changed (`changes`) and, at the same time, the type's ids
    /// through a Bulk API job, staging both as they come: the job runs on
    /// Salesforce's side while the changes are read. `Ok(false)` when the
    /// Bulk side failed: what was staged stays (staging it again is
    /// harmless) and the caller reads both through REST instead.
    fn changes_and_bulk_ids(
        &self,
        changes: ReadJob,
        stage: &mut Staging<'_>,
        read: &mut ReadState,
        progress: &dyn Progress,
    ) -> Result<bool> {
        let t = Arc::clone(&changes.t);
        let done_before = read.done;
        let (tx, rx) = mpsc::channel(PAGES_IN_FLIGHT);
        let reader =
            self.runtime
                .spawn(reader::read(Arc::clone(&self.client), changes, tx.clone()));
        let lister = self.spawn_bulk(&t, Want::Ids, tx);
        let handles = [reader.abort_handle(), lister.abort_handle()];
        let result = drain(rx, &handles, &t, stage, read, progress);
        handles.iter().for_each(AbortHandle::abort);
        let result = result
            .and_then(|()| self.reader_finished(reader))
            .and_then(|()| self.reader_finished(lister).map_err(bulk_failure));
        after_bulk(&t, result, read, done_before)
    }

    /// Starts a Bulk API read of `t`'s records or ids, its pages sent to
    /// `tx`; its failure arrives there marked [`BulkFailed`].
    fn spawn_bulk(
        &self,
        t: &Arc<TypeConfig>,
        want: Want,
        tx: mpsc::Sender<Result<reader::Page>>,
    ) -> JoinHandle<()> {
        debug!("{}: reading {want:?} through Bulk API 2.0", t.name);
        let (client, t, sender) = (Arc::clone(&self.client), Arc::clone(t), tx.clone());
        self.runtime.spawn(async move {
            let result = match want {
                Want::Records => bulk::read(client, t, sender).await,
                Want::Ids => bulk::read_ids(client, t, sender).await,
            };
            if let Err(e) = result {
                let _ = tx.send(Err(bulk_failure(e))).await;
            }
        })
    }

    /// A reader closes its channel when it ends, also when it panics: only
    /// a task that returned read everything.
    fn reader_finished(&self, task: JoinHandle<()>) -> Result<()> {
        self.runtime
            .block_on(task)
            .map_err(|e| anyhow!("the read stopped before its last page: {e}"))
    }

    /// Reads `t`'s records through a Bulk API job. On failure, whatever
    /// failed, what was staged so far stays (staging the same record again
    /// is harmless) and `false` tells the caller to use REST instead.
    fn try_bulk(
        &self,
        t: &Arc<TypeConfig>,
        stage: &mut Staging<'_>,
        read: &mut ReadState,
        progress: &dyn Progress,
    ) -> bool {
        let done_before = read.done;
        let (tx, rx) = mpsc::channel(PAGES_IN_FLIGHT);
        let task = self.spawn_bulk(t, Want::Records, tx);
        let result = drain(rx, &[task.abort_handle()], t, stage, read, progress);
        task.abort();
        let result = result
            .and_then(|()| self.reader_finished(task))
            .map_err(bulk_failure);
        matches!(after_bulk(t, result, read, done_before), Ok(true))
    }

    /// Records the id listing found that the catalog does not hold (they
    /// entered the criteria without their own stamp moving), fetched whole.
    fn fetch_unknown(&self, t: &TypeConfig, stage: &mut Staging<'_>) -> Result<()> {
        let unknown = stage.stage.unknown_seen()?;
        if unknown.is_empty() {
            return Ok(());
        }
        debug!(
            "{}: fetching {} records the id listing found unknown",
            t.name,
            unknown.len()
        );
        for chunk in unknown.chunks(IDS_PER_QUERY) {
            let ids: Vec<SfId> = chunk.iter().filter_map(|id| SfId::parse(id).ok()).collect();
            let mut page = self.runtime.block_on(
                self.client
                    .query_raw(&soql::select(t, &Filter::Ids(&ids)), false),
            )?;
            loop {
                stage_records(t, stage, &page.records, &mut ReadState::none())?;
                match page.next_records_url.filter(|_| !page.done) {
                    Some(next) => {
                        page = self.runtime.block_on(self.client.query_more_raw(&next))?
                    }
                    None => break,
                }
            }
        }
        Ok(())
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
            .block_on(self.client.query_raw(&soql, false))
            .with_context(|| format!("reading `{}` `{id}`", t.sobject))?;
        let mut stage = self.staging(t, None)?;
        let found = !page.records.is_empty();
        let scope = if found {
            stage_records(t, &mut stage, &page.records, &mut ReadState::none())?;
            MissingScope::None
        } else {
            MissingScope::Ids(vec![id.to_string()])
        };
        let mut policy = self.policy(t, scope);
        policy.collect_events = true;
        policy.full_read = false;
        let applied = stage.stage.apply(&policy)?;
        let hook_failures = hooks::run(&self.config.hooks, &t.name, &applied.events);
        let outcome = if found {
            OneOutcome::Synced(applied.events)
        } else {
            OneOutcome::NotFound(applied.events)
        };
        Ok((outcome, hook_failures))
    }
}

/// Stages what arrives on `rx` until the sender is done or sends an error.
///
/// Two threads share the work: a mapping thread parses each page's records
/// and maps them, and this thread, which owns the catalog connection,
/// stages the result. At most one mapped page waits between them, and
/// records stay raw text until mapped, so memory stays flat. The
/// `readers` are stopped if staging fails, so that the mapping thread is
/// not left waiting for pages no one will stage.
fn drain(
    rx: mpsc::Receiver<Result<reader::Page>>,
    readers: &[AbortHandle],
    t: &TypeConfig,
    staging: &mut Staging<'_>,
    read: &mut ReadState,
    progress: &dyn Progress,
) -> Result<()> {
    let Staging {
        stage,
        vocabularies,
    } = staging;
    std::thread::scope(|scope| {
        let (tx, mapped) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || map_pages(rx, t, vocabularies, tx));
        let result = stage_pages(mapped, stage, read, progress);
        if result.is_err() {
            readers.iter().for_each(AbortHandle::abort);
        }
        result
    })
}

/// What the mapping thread hands to the catalog's thread.
enum Mapped {
    /// Ids from an id listing, to mark seen.
    Ids(IdList),
    /// Records parsed and mapped; `read` counts them all, mapped or not.
    Records { read: u64, page: MappedPage },
}

/// The mapping thread's loop: parses and maps each page from the reader
/// and passes it on, until the reader is done, fails, or the other side
/// stops listening.
fn map_pages(
    mut rx: mpsc::Receiver<Result<reader::Page>>,
    t: &TypeConfig,
    vocabularies: &mut Vocabularies,
    tx: std::sync::mpsc::SyncSender<Result<Mapped>>,
) {
    while let Some(page) = rx.blocking_recv() {
        let mapped = page.map(|page| match page {
            reader::Page::Ids(ids) => Mapped::Ids(ids),
            reader::Page::Records { records, held } => {
                let count = records.len() as u64;
                let page = map_page(t, vocabularies, &records);
                drop((records, held));
                Mapped::Records { read: count, page }
            }
        });
        let failed = mapped.is_err();
        if tx.send(mapped).is_err() || failed {
            return;
        }
    }
}

/// The catalog thread's loop: stages each mapped page as it comes.
fn stage_pages(
    mapped: std::sync::mpsc::Receiver<Result<Mapped>>,
    stage: &mut Stage<'_>,
    read: &mut ReadState,
    progress: &dyn Progress,
) -> Result<()> {
    for page in mapped {
        match page? {
            Mapped::Ids(ids) => stage.mark_listed(&ids),
            Mapped::Records { read: count, page } => {
                read.done += count;
                stage_mapped(stage, page, read)?;
                progress.records(read.done, read.total.max(read.done));
            }
        }
    }
    Ok(())
}

/// A survey asked for before its type's sync began; dropped unanswered,
/// it is called off.
struct EarlySurvey(AbortOnDropHandle<Result<Option<reader::Survey>>>);

/// Whether a type is read whole or from a stamp on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Full,
    /// Records stamped at or after this SOQL literal.
    Since(String),
}

/// What a type's read has seen so far.
struct ReadState {
    /// The highest SystemModstamp seen, as Salesforce writes it.
    watermark: Option<String>,
    done: u64,
    total: u64,
}

impl ReadState {
    /// A state for reads that keep no watermark, such as one record's.
    fn none() -> ReadState {
        ReadState {
            watermark: None,
            done: 0,
            total: 0,
        }
    }

    /// Raises the watermark to `stamp` if it is higher. Salesforce writes
    /// every stamp in UTC with the same width, so text order is time order.
    fn note_stamp(&mut self, stamp: &str) {
        if self.watermark.as_deref().is_none_or(|w| stamp > w) {
            self.watermark = Some(stamp.to_string());
        }
    }
}

/// A type's stage, with the vocabularies its mapped values are checked against.
struct Staging<'c> {
    stage: Stage<'c>,
    vocabularies: Vocabularies,
}

/// A page of records mapped and ready to stage.
#[derive(Default)]
struct MappedPage {
    items: Vec<Item>,
    /// Ids of records that could not be mapped: seen, but not staged.
    unusable: Vec<String>,
    /// The highest SystemModstamp of the page.
    watermark: Option<String>,
}

/// Maps a page of records. A record that cannot be mapped is logged and
/// skipped, but its id is kept so that the missing step leaves its item
/// alone.
fn map_page(
    t: &TypeConfig,
    vocabularies: &mut Vocabularies,
    records: &[Box<RawValue>],
) -> MappedPage {
    let mut page = MappedPage::default();
    for record in records {
        let check = |name: &str, value: &Value| vocabularies.check(name, value);
        match mapping::map_record(t, record.get(), check) {
            Ok(mapped) => {
                if let Some(stamp) = mapped.modstamp {
                    if page.watermark.as_ref().is_none_or(|w| &stamp > w) {
                        page.watermark = Some(stamp);
                    }
                }
                page.items.push(Item {
                    sf_object_id: mapped.id.to_string(),
                    title: mapped.title,
                    fields: mapped.fields,
                    digest: mapped.digest,
                });
            }
            Err(e) => {
                warn!("{}: skipping a record: {e}", t.name);
                if let MapError::Field { id, .. } = e {
                    page.unusable.push(id);
                }
            }
        }
    }
    page
}

/// Stages a mapped page and raises the read's watermark.
fn stage_mapped(stage: &mut Stage<'_>, page: MappedPage, read: &mut ReadState) -> Result<()> {
    if let Some(stamp) = &page.watermark {
        read.note_stamp(stamp);
    }
    stage.add_batch(&page.items)?;
    if !page.unusable.is_empty() {
        stage.mark_seen(page.unusable.iter().map(String::as_str))?;
    }
    Ok(())
}

/// Maps a page of records and stages them, on this thread.
fn stage_records(
    t: &TypeConfig,
    staging: &mut Staging<'_>,
    records: &[Box<RawValue>],
    read: &mut ReadState,
) -> Result<()> {
    let page = map_page(t, &mut staging.vocabularies, records);
    stage_mapped(&mut staging.stage, page, read)
}

/// The catalog view of every configured type: one column per mapped field.
pub fn type_views(config: &Config) -> Vec<catalog::TypeView> {
    config
        .types
        .iter()
        .map(|t| catalog::TypeView {
            name: t.name.clone(),
            fields: t.fields.iter().map(|f| f.name.clone()).collect(),
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, result: Result<catalog::Counts>, hooks: &[&str]) -> TypeOutcome {
        TypeOutcome {
            name: name.into(),
            result,
            events: Vec::new(),
            hook_failures: hooks.iter().map(|h| anyhow!("{h}")).collect(),
            seconds: 0.0,
        }
    }

    #[test]
    fn a_summary_heads_each_failure_with_its_type_in_run_order() {
        let created = catalog::Counts {
            created: 2,
            ..Default::default()
        };
        let outcomes = [
            outcome("Account", Ok(created), &["hook `reindex` exited 1"]),
            outcome("Contact", Err(anyhow!("reading `Contact`")), &[]),
        ];
        let summary = RunSummary::of(&outcomes, 3);
        assert_eq!(summary.counts["Account"]["created"], 2);
        assert!(summary.counts.get("Contact").is_none());
        assert_eq!(
            summary.errors,
            [
                "hook `reindex` exited 1",
                "`Contact`: reading `Contact`",
                "the run stopped early; 1 type(s) were not synced"
            ]
        );
        assert_eq!(summary.outcome(), catalog::RunOutcome::Failed);
        let clean = RunSummary::of(&[outcome("Account", Ok(created), &[])], 1);
        assert_eq!(
            (clean.outcome(), clean.error_text()),
            (catalog::RunOutcome::Ok, None)
        );
    }
}
