//! `sfsync picklist`: fetch picklist vocabularies into the catalog, and
//! show them from there.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};

use crate::catalog::{CachedPicklist, Catalog};
use crate::cli::Global;
use crate::config::{Config, FieldSource, TypeConfig, ValueKind};
use crate::describe::Describes;
use crate::exit::{Exit, UsageError};
use crate::output;
use crate::picklist::{self, FieldRefresh, RefreshOutcome};

/// Arguments of `picklist`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

/// What `picklist` does.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Describe the sobjects with picklist fields and cache their values.
    Refresh {
        /// Refresh only this type; repeat for several.
        #[arg(long = "type", value_name = "NAME")]
        types: Vec<String>,
    },
    /// Print a field's cached values, active ones in Salesforce's order.
    Show {
        /// The type that maps the field.
        #[arg(long = "type", value_name = "NAME")]
        type_name: String,
        /// The local field name from sync.toml, or the Salesforce field.
        #[arg(long, value_name = "FIELD")]
        field: String,
        /// How to print the values.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Include inactive values, marked as such.
        #[arg(long)]
        all: bool,
    },
}

/// The output formats of `picklist show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object a line.
    Json,
    /// value, label, flags; a header on a terminal.
    Tsv,
}

/// Runs `picklist`.
pub fn run(global: &Global, args: &Args) -> Result<Exit> {
    let config = super::load_config(global)?;
    match &args.action {
        Action::Refresh { types } => refresh(&config, types),
        Action::Show {
            type_name,
            field,
            format,
            all,
        } => show(&config, type_name, field, *format, *all),
    }
}

fn refresh(config: &Config, names: &[String]) -> Result<Exit> {
    let types = super::select_types(config, names)?;
    let catalog = Catalog::open(&config.catalog_path)?;
    let runtime = super::runtime()?;
    let client = super::connect(config, &runtime)?;
    let mut describes = Describes::new(client);
    let mut done = Vec::new();
    for t in types {
        let refreshed = runtime
            .block_on(picklist::refresh_type(&catalog, &mut describes, t, |_| {
                true
            }))
            .with_context(|| format!("refreshing the picklists of `{}`", t.name))?;
        done.extend(refreshed);
    }
    report(&done);
    Ok(Exit::Ok)
}

/// Warns about every field a refresh could not store; logs the rest.
pub fn report(done: &[FieldRefresh]) {
    for f in done {
        match f.outcome {
            RefreshOutcome::Stored(_) => log::info!("picklist {f}"),
            _ => output::warning(&format!("picklist {f}")),
        }
    }
}

fn show(config: &Config, type_name: &str, field: &str, format: Format, all: bool) -> Result<Exit> {
    let t = super::find_type(config, type_name)?;
    let path = picklist_path(t, field)?;
    let catalog = Catalog::open_read_only(&config.catalog_path)?;
    let Some(cached) = catalog.picklist(&t.sobject, &path)? else {
        output::error(&format!(
            "no vocabulary of `{}` field `{path}` is cached; run `sfsync picklist refresh`",
            t.name
        ));
        return Ok(Exit::NotFound);
    };
    print_values(&cached, format, all).context("writing to stdout")?;
    Ok(Exit::Ok)
}

/// The Salesforce path of a picklist field named by its local name or by
/// the path itself.
fn picklist_path(t: &TypeConfig, field: &str) -> Result<String> {
    let found = t.fields.iter().find_map(|f| match &f.source {
        FieldSource::Value { path, kind }
            if matches!(kind, ValueKind::Picklist | ValueKind::Multipicklist)
                && (f.name.eq_ignore_ascii_case(field) || path.eq_ignore_ascii_case(field)) =>
        {
            Some(path.clone())
        }
        _ => None,
    });
    found.ok_or_else(|| {
        let known: Vec<String> = t
            .picklist_fields()
            .map(|(path, _)| format!("`{path}`"))
            .collect();
        let known = match known.is_empty() {
            true => "none".to_string(),
            false => known.join(", "),
        };
        UsageError(format!(
            "type `{}` maps no picklist field `{field}`; its picklist fields: {known}",
            t.name
        ))
        .into()
    })
}

fn print_values(cached: &CachedPicklist, format: Format, all: bool) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let header = format == Format::Tsv && stdout.is_terminal();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if header {
        out.write_all(b"value\tlabel\tflags\n")?;
    }
    let p = &cached.picklist;
    for (order, v) in p.values.iter().enumerate() {
        if !v.active && !all {
            continue;
        }
        match format {
            Format::Json => {
                let line = serde_json::json!({
                    "value": v.value,
                    "label": v.label,
                    "active": v.active,
                    "default": v.default,
                    "order": order,
                    "controller": p.controller,
                    "valid_for": v.valid_for,
                    "valid_for_raw": v.valid_for_raw,
                    "restricted": p.restricted,
                    "fetched_at": cached.fetched_at,
                });
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            }
            Format::Tsv => {
                let mut flags = Vec::new();
                if !v.active {
                    flags.push("inactive");
                }
                if v.default {
                    flags.push("default");
                }
                let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
                let line = [clean(&v.value), clean(&v.label), flags.join(",")];
                writeln!(out, "{}", line.join("\t"))?;
            }
        }
    }
    out.flush()
}
