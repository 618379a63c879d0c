//! One module per subcommand: its arguments and a short `run`.
//!
//! What several commands share (loading the configuration, opening the
//! catalog, logging in) lives here.

pub mod check;
pub mod lookup;
pub mod picklist;
pub mod serve;
pub mod status;
pub mod sync_all;
pub mod sync_one;

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::runtime::Runtime;

use crate::cli::{Cli, Command, Global};
use crate::config::{Config, TypeConfig};
use crate::exit::{Exit, UsageError};
use crate::salesforce::{Client, Secrets};

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> Result<Exit> {
    match &cli.command {
        Command::SyncAll(args) => sync_all::run(&cli.global, args),
        Command::SyncOne(args) => sync_one::run(&cli.global, args),
        Command::Lookup(args) => lookup::run(&cli.global, args),
        Command::Picklist(args) => picklist::run(&cli.global, args),
        Command::Check(args) => check::run(&cli.global, args),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Serve(args) => serve::run(&cli.global, args),
    }
}

/// Reads the configuration named on the command line.
pub fn load_config(global: &Global) -> Result<Config> {
    Ok(Config::load(&global.config)?)
}

/// The async runtime that carries network work.
pub fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Reads the secrets and logs in.
pub fn connect(config: &Config, runtime: &Runtime) -> Result<Arc<Client>> {
    let secrets = Secrets::from_env(config.salesforce.auth)?;
    let client = runtime
        .block_on(Client::connect(&config.salesforce, secrets))
        .context("logging in to Salesforce")?;
    Ok(Arc::new(client))
}

/// The types named on the command line, in the given order, or every
/// configured type in file order when none is named.
pub fn select_types<'c>(config: &'c Config, names: &[String]) -> Result<Vec<&'c TypeConfig>> {
    if names.is_empty() {
        return Ok(config.types.iter().collect());
    }
    names.iter().map(|n| find_type(config, n)).collect()
}

/// Records a run that failed before it could start its work, and hands the
/// error back.
pub fn fail_run(
    catalog: &crate::catalog::Catalog,
    run_id: i64,
    error: anyhow::Error,
) -> anyhow::Error {
    let text = format!("{error:#}");
    if let Err(e) = catalog.finish_run(
        run_id,
        crate::catalog::RunOutcome::Failed,
        &serde_json::json!({}),
        Some(&text),
    ) {
        log::warn!("cannot record run {run_id} as failed: {e}");
    }
    error
}

/// The configured type called `name`, or a usage error listing the names.
pub fn find_type<'c>(config: &'c Config, name: &str) -> Result<&'c TypeConfig> {
    config.find_type(name).ok_or_else(|| {
        let known: Vec<_> = config
            .types
            .iter()
            .map(|t| format!("`{}`", t.name))
            .collect();
        UsageError(format!(
            "no type is called `{name}` in `{}`; configured: {}",
            config.file.display(),
            known.join(", ")
        ))
        .into()
    })
}
