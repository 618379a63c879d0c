//! `sfsync status`: what the catalog holds and what the last runs did,
//! read from the catalog alone.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::catalog::Catalog;
use crate::cli::Global;
use crate::exit::Exit;
use crate::status::{self, TypeStatus};

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How to print.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// List the last N runs instead of the types.
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
}

/// The output formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object a line.
    Json,
    /// Tab-separated columns; a header on a terminal.
    Tsv,
}

/// Runs `status`.
pub fn run(global: &Global, args: &Args) -> Result<Exit> {
    let config = super::load_config(global)?;
    let catalog = Catalog::open_read_only(&config.catalog_path)?;
    let lines = match args.runs {
        Some(n) => run_lines(&catalog, n, args.format)?,
        None => type_lines(&status::type_statuses(&catalog, &config)?, args.format)?,
    };
    print(&lines, args.format).context("writing to stdout")?;
    Ok(Exit::Ok)
}

/// A TSV header and the lines, or JSON lines.
struct Lines {
    header: &'static str,
    rows: Vec<String>,
}

fn type_lines(statuses: &[TypeStatus], format: Format) -> Result<Lines> {
    let rows = statuses
        .iter()
        .map(|s| match format {
            Format::Json => Ok(serde_json::to_string(s)?),
            Format::Tsv => Ok(type_row(s)),
        })
        .collect::<Result<_>>()?;
    Ok(Lines {
        header: "type\tpublished\tprivate\tlast_sync_at\tlast_counts\t\
                 last_failure_at\tlast_error",
        rows,
    })
}

fn type_row(s: &TypeStatus) -> String {
    let count = |state: &str| s.items.get(state).copied().unwrap_or(0).to_string();
    let sync = s.last_sync.as_ref();
    let failure = s.last_failure.as_ref();
    [
        s.name.clone(),
        count("published"),
        count("private"),
        sync.and_then(|l| l.finished_at.clone()).unwrap_or_default(),
        sync.map(|l| counts_text(&l.counts)).unwrap_or_default(),
        failure.map(|f| f.started_at.clone()).unwrap_or_default(),
        failure.map(|f| f.error.clone()).unwrap_or_default(),
    ]
    .map(|cell| cell.replace(['\t', '\n', '\r'], " "))
    .join("\t")
}

/// `created=2 updated=0 ...` from a counts object.
fn counts_text(counts: &Value) -> String {
    match counts.as_object() {
        Some(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        None => String::new(),
    }
}

fn run_lines(catalog: &Catalog, n: usize, format: Format) -> Result<Lines> {
    let runs = catalog.recent_runs(n)?;
    let rows = runs
        .iter()
        .map(|run| {
            let json = status::run_json(run);
            match format {
                Format::Json => json.to_string(),
                Format::Tsv => {
                    let text = |key: &str| match &json[key] {
                        Value::String(s) => s.replace(['\t', '\n', '\r'], " "),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    let counts = counts_text(&json["counts"]);
                    let cells = ["run", "command", "started_at", "finished_at", "outcome"];
                    let mut row: Vec<String> = cells.iter().map(|k| text(k)).collect();
                    row.push(counts);
                    row.push(text("error"));
                    row.join("\t")
                }
            }
        })
        .collect();
    Ok(Lines {
        header: "run\tcommand\tstarted_at\tfinished_at\toutcome\tcounts\terror",
        rows,
    })
}

fn print(lines: &Lines, format: Format) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let header = format == Format::Tsv && stdout.is_terminal();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if header {
        writeln!(out, "{}", lines.header)?;
    }
    for row in &lines.rows {
        writeln!(out, "{row}")?;
    }
    out.flush()
}
