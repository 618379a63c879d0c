//! The command line: global options and the subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::output::Verbosity;

/// Keep a local SQLite catalog in step with a Salesforce org.
#[derive(Debug, Parser)]
#[command(name = "sfsync", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// The configuration file.
    #[arg(
        short = 'c',
        long = "config",
        env = "SFSYNC_CONFIG",
        default_value = "sync.toml",
        global = true
    )]
    pub config: PathBuf,
    /// More output on stderr: -v a line per type, -vv decisions, -vvv requests.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Never draw a progress bar.
    #[arg(long, global = true)]
    pub no_progress: bool,
}

impl Global {
    /// The verbosity the flags ask for.
    pub fn verbosity(&self) -> Verbosity {
        Verbosity {
            quiet: self.quiet,
            verbose: self.verbose,
            no_progress: self.no_progress,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sync every configured type, or the named ones.
    SyncAll(commands::sync_all::Args),
    /// Sync one record now.
    SyncOne(commands::sync_one::Args),
    /// Find items by Salesforce id or by path, from the catalog alone.
    Lookup(commands::lookup::Args),
    /// Cache picklist vocabularies from Salesforce, and show them.
    Picklist(commands::picklist::Args),
    /// Check sync.toml against the org: fields, types, relationships, SOQL.
    Check(commands::check::Args),
    /// Show item counts and the last runs, from the catalog alone.
    Status(commands::status::Args),
    /// Answer sync requests over HTTP, for Salesforce buttons and flows.
    Serve(commands::serve::Args),
}
