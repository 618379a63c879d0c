//! `sfsync sync-all`: sync every configured type, or the named ones.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::runtime::Runtime;

use crate::catalog::Catalog;
use crate::cli::Global;
use crate::config::{Config, TypeConfig};
use crate::describe::Describes;
use crate::exit::{classify, Exit};
use crate::lock::RunLock;
use crate::output;
use crate::picklist;
use crate::salesforce::Client;
use crate::sync::{RunOptions, RunSummary, Syncer, TypeOutcome};

/// Arguments of `sync-all`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sync only this type; repeat for several, synced in the given order.
    #[arg(long = "type", value_name = "NAME")]
    pub types: Vec<String>,
    /// Read Salesforce and print the events a sync would make; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Let the missing step reject or delete more than `max_missing` of a type.
    #[arg(long)]
    pub allow_mass_missing: bool,
    /// Read every type in full, not just what changed since the last run.
    #[arg(long)]
    pub full: bool,
    /// Seconds to wait for another sync on the same catalog to finish.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub wait: u64,
}

/// Runs `sync-all`.
pub fn run(global: &Global, args: &Args) -> Result<Exit> {
    let config = super::load_config(global)?;
    let types = super::select_types(&config, &args.types)?;
    let catalog = Catalog::open(&config.catalog_path)?;
    let _lock = RunLock::acquire(&config.catalog_path, Duration::from_secs(args.wait))?;
    close_interrupted_runs(&catalog)?;
    define_views(&catalog, &config)?;
    let run_id = catalog.begin_run(&command_line(args))?;
    let runtime = super::runtime()?;
    let client =
        super::connect(&config, &runtime).map_err(|e| super::fail_run(&catalog, run_id, e))?;
    let syncer = Syncer {
        config: &config,
        catalog: &catalog,
        client: Arc::clone(&client),
        runtime: runtime.handle().clone(),
        run_id,
        options: RunOptions {
            dry_run: args.dry_run,
            allow_mass_missing: args.allow_mass_missing,
            full: args.full,
        },
    };
    let progress = output::progress(global.verbosity());
    // The vocabularies are refreshed while the first type's read is
    // being planned.
    let outcomes = syncer.sync_types_after(&types, progress.as_ref(), || {
        if !args.dry_run {
            refresh_picklists(&config, &catalog, &runtime, &client, &types);
        }
    });
    if args.dry_run {
        output::print_events(outcomes.iter().flat_map(|o| &o.events))?;
    }
    report(&catalog, run_id, &outcomes, types.len())
}

/// Fetches the picklist vocabularies the types need when they are
/// missing or older than `[picklists] max_age`. A failure only warns: the
/// sync goes on and checks values against what is cached.
fn refresh_picklists(
    config: &Config,
    catalog: &Catalog,
    runtime: &Runtime,
    client: &Arc<Client>,
    types: &[&TypeConfig],
) {
    let mut describes = Describes::new(Arc::clone(client));
    let max_age = config.picklist_max_age;
    let refresh = picklist::refresh_stale(catalog, &mut describes, types, max_age);
    match runtime.block_on(refresh) {
        Ok(done) => super::picklist::report(&done),
        Err(e) => output::warning(&format!(
            "refreshing picklist vocabularies: {e:#}; checking values against the cached ones"
        )),
    }
}

/// Runs left `running` by a process that is gone (killed, or the machine
/// stopped) are recorded as failed, so the run log never shows them as
/// still going, let alone as a success.
fn close_interrupted_runs(catalog: &Catalog) -> Result<()> {
    for (run_id, pid) in catalog.unfinished_runs()? {
        if pid != std::process::id() && !process_alive(pid) {
            log::info!("run {run_id} (pid {pid}) was interrupted; recording it as failed");
            catalog.mark_interrupted(run_id)?;
        }
    }
    Ok(())
}

/// Whether a process with this pid exists (signal 0 checks without sending).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only asks whether the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn define_views(catalog: &Catalog, config: &Config) -> Result<()> {
    Ok(catalog.define_views(&crate::sync::type_views(config))?)
}

fn command_line(args: &Args) -> String {
    let mut line = String::from("sync-all");
    for t in &args.types {
        line.push_str(" --type ");
        line.push_str(t);
    }
    if args.dry_run {
        line.push_str(" --dry-run");
    }
    if args.full {
        line.push_str(" --full");
    }
    line
}

/// Writes the run log, reports failures and picks the exit code: the
/// first failed type's, else 5 when only a hook failed.
fn report(
    catalog: &Catalog,
    run_id: i64,
    outcomes: &[TypeOutcome],
    planned: usize,
) -> Result<Exit> {
    let summary = RunSummary::of(outcomes, planned);
    for e in &summary.errors {
        output::error(e);
    }
    let failed_type = outcomes.iter().find_map(|o| o.result.as_ref().err());
    let exit = match failed_type {
        Some(e) => classify(e),
        None if outcomes.iter().any(|o| !o.hook_failures.is_empty()) => Exit::Hook,
        None => Exit::Ok,
    };
    catalog.finish_run(
        run_id,
        summary.outcome(),
        &summary.counts,
        summary.error_text().as_deref(),
    )?;
    Ok(exit)
}
