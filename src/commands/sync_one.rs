//! `sfsync sync-one`: sync one record now, printing its events.

use anyhow::Result;

use crate::catalog::{Catalog, RunOutcome};
use crate::cli::Global;
use crate::exit::Exit;
use crate::ids::SfId;
use crate::output;
use crate::sync::{OneOutcome, RunOptions, Syncer};

/// Arguments of `sync-one`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configured type the record belongs to.
    #[arg(long = "type", value_name = "NAME")]
    pub type_name: String,
    /// The record's Salesforce id, 15 or 18 characters.
    #[arg(long, value_name = "ID")]
    pub id: String,
}

/// Runs `sync-one`.
pub fn run(global: &Global, args: &Args) -> Result<Exit> {
    let config = super::load_config(global)?;
    let t = super::find_type(&config, &args.type_name)?;
    let id = SfId::parse(&args.id)?;
    let catalog = Catalog::open(&config.catalog_path)?;
    let run_id = catalog.begin_run(&format!("sync-one --type {} --id {id}", t.name))?;
    let runtime = super::runtime()?;
    let result = super::connect(&config, &runtime).and_then(|client| {
        let syncer = Syncer {
            config: &config,
            catalog: &catalog,
            client,
            runtime: runtime.handle().clone(),
            run_id,
            options: RunOptions::default(),
        };
        syncer.sync_one(t, &id)
    });
    let (outcome, hook_failures) = result.map_err(|e| super::fail_run(&catalog, run_id, e))?;
    let (events, mut exit) = match outcome {
        OneOutcome::Synced(events) => (events, Exit::Ok),
        OneOutcome::NotFound(events) => {
            output::error(&format!(
                "Salesforce has no `{}` record `{id}` that matches the criteria of `{}`",
                t.sobject, t.name
            ));
            (events, Exit::NotFound)
        }
    };
    output::print_events(&events)?;
    let errors: Vec<String> = hook_failures.iter().map(|h| format!("{h:#}")).collect();
    for e in &errors {
        output::error(e);
    }
    if !errors.is_empty() && exit == Exit::Ok {
        exit = Exit::Hook;
    }
    let outcome = if errors.is_empty() {
        RunOutcome::Ok
    } else {
        RunOutcome::Failed
    };
    let counts = serde_json::json!({ "events": events.len() });
    catalog.finish_run(
        run_id,
        outcome,
        &counts,
        (!errors.is_empty()).then(|| errors.join("; ")).as_deref(),
    )?;
    Ok(exit)
}
