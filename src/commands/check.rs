//! `sfsync check`: validate sync.toml against the org before a sync.
//!
//! The report is the command's data, so it goes to stdout: per type the
//! SOQL it would send, then one line per problem naming the type and the
//! field. Exit 0 when all is well, 2 when anything is wrong.

use std::io::Write;

use anyhow::{Context, Result};

use crate::check::{self, TypeCheck};
use crate::cli::Global;
use crate::describe::Describes;
use crate::exit::Exit;
use crate::output;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check only this type; repeat for several.
    #[arg(long = "type", value_name = "NAME")]
    pub types: Vec<String>,
}

/// Runs `check`.
pub fn run(global: &Global, args: &Args) -> Result<Exit> {
    let config = super::load_config(global)?;
    let types = super::select_types(&config, &args.types)?;
    let runtime = super::runtime()?;
    let client = super::connect(&config, &runtime)?;
    let mut describes = Describes::new(client.clone());

    let mut problems = 0;
    for t in types {
        let checked = runtime
            .block_on(check::check_type(&client, &mut describes, t))
            .with_context(|| format!("checking `{}`", t.name))?;
        problems += checked.problems.len();
        print(&checked).context("writing to stdout")?;
    }
    if problems == 0 {
        return Ok(Exit::Ok);
    }
    output::error(&format!(
        "{problems} problem(s) in `{}`",
        config.file.display()
    ));
    Ok(Exit::Usage)
}

fn print(checked: &TypeCheck) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let name = &checked.name;
    writeln!(out, "{name}: soql: {}", checked.soql)?;
    for p in &checked.problems {
        match &p.field {
            Some(field) => writeln!(out, "{name}: field {field}: {}", p.message)?,
            None => writeln!(out, "{name}: {}", p.message)?,
        }
    }
    if checked.problems.is_empty() {
        writeln!(out, "{name}: ok")?;
    }
    out.flush()
}
