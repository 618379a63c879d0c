//! `sfsync lookup`: from Salesforce ids to items and from paths back, for
//! shell scripts. It reads the catalog only and never calls Salesforce.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result};

use crate::catalog::{Catalog, ItemRecord};
use crate::cli::Global;
use crate::exit::Exit;
use crate::ids::SfId;
use crate::output;

/// Arguments of `lookup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Salesforce ids (15 or 18 characters); `-` reads ids or paths from
    /// stdin, one a line.
    #[arg(value_name = "ID|-")]
    pub ids: Vec<String>,
    /// An item path; repeat for several.
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<String>,
    /// Look ids up in this type only.
    #[arg(long = "type", value_name = "NAME")]
    pub type_name: Option<String>,
    /// What to print for each item.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

/// The output formats of `lookup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object a line.
    Json,
    /// type, sf_object_id, path, state; a header on a terminal.
    Tsv,
    /// The Salesforce id alone.
    Id,
    /// The path alone.
    Path,
}

/// Keys looked up and printed together.
const WINDOW: usize = 5_000;

/// One thing asked for, in input order.
enum Key {
    Id(String),
    Path(String),
}

/// Runs `lookup`.
pub fn run(global: &Global, args: &Args) -> Result<Exit> {
    let config = super::load_config(global)?;
    let type_name = match &args.type_name {
        Some(n) => Some(super::find_type(&config, n)?.name.clone()),
        None => None,
    };
    let (keys, malformed) = read_keys(args)?;
    let catalog = Catalog::open_read_only(&config.catalog_path)?;
    // Keys are looked up and printed a window at a time, so memory holds
    // one window's items however many keys come in.
    let mut missing = 0;
    let mut header = args.format == Format::Tsv && std::io::stdout().is_terminal();
    for window in keys.chunks(WINDOW) {
        let (by_id, by_path) = find(&catalog, window, type_name.as_deref())?;
        let (not_found, open) = print(window, &by_id, &by_path, args.format, header)?;
        missing += not_found;
        header = false;
        if !open {
            break;
        }
    }
    Ok(if malformed > 0 {
        Exit::Usage
    } else if missing > 0 {
        Exit::NotFound
    } else {
        Exit::Ok
    })
}

/// The keys from the arguments and stdin, and how many were malformed
/// (each reported on stderr).
fn read_keys(args: &Args) -> Result<(Vec<Key>, usize)> {
    let mut keys = Vec::new();
    let mut malformed = 0;
    for raw in &args.ids {
        if raw == "-" {
            let stdin = std::io::stdin().lock();
            for line in stdin.lines() {
                let line = line.context("reading ids from stdin")?;
                let line = line.trim();
                if !line.is_empty() {
                    malformed += push_key(&mut keys, line, true);
                }
            }
        } else {
            malformed += push_key(&mut keys, raw, false);
        }
    }
    keys.extend(args.paths.iter().cloned().map(Key::Path));
    Ok((keys, malformed))
}

/// Adds one key; a stdin line with a `/` that is no id is a path. Returns
/// 1 for a malformed id.
fn push_key(keys: &mut Vec<Key>, raw: &str, path_allowed: bool) -> usize {
    match SfId::parse(raw) {
        Ok(id) => keys.push(Key::Id(id.to_string())),
        Err(_) if path_allowed && raw.contains('/') => keys.push(Key::Path(raw.to_string())),
        Err(e) => {
            output::error(&e.to_string());
            return 1;
        }
    }
    0
}

type Found = HashMap<String, Vec<ItemRecord>>;

/// Looks keys up in two batched passes, one for ids, one for paths.
fn find(catalog: &Catalog, keys: &[Key], type_name: Option<&str>) -> Result<(Found, Found)> {
    let mut ids = Vec::new();
    let mut paths = Vec::new();
    for key in keys {
        match key {
            Key::Id(id) => ids.push(id.clone()),
            Key::Path(path) => paths.push(path.clone()),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    paths.sort_unstable();
    paths.dedup();

    let mut by_id = Found::new();
    for item in catalog.find_items_by_ids(&ids, type_name)? {
        by_id
            .entry(item.sf_object_id.clone())
            .or_default()
            .push(item);
    }
    let mut by_path = Found::new();
    for item in catalog.find_items_by_paths(&paths)? {
        by_path.entry(item.path.clone()).or_default().push(item);
    }
    for items in by_id.values_mut() {
        items.sort_by(|a, b| a.type_name.cmp(&b.type_name));
    }
    Ok((by_id, by_path))
}

/// Prints the items in input order and names each missing key on stderr;
/// returns how many were missing, and whether stdout is still open (a
/// closed pipe ends the output quietly).
fn print(
    keys: &[Key],
    by_id: &Found,
    by_path: &Found,
    format: Format,
    header: bool,
) -> Result<(usize, bool)> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut missing = 0;
    let written = (|| -> std::io::Result<()> {
        if header {
            out.write_all(b"type\tsf_object_id\tpath\tstate\n")?;
        }
        for key in keys {
            let (items, what, name) = match key {
                Key::Id(id) => (by_id.get(id), "id", id),
                Key::Path(path) => (by_path.get(path), "path", path),
            };
            match items {
                Some(items) => {
                    for item in items {
                        write_item(&mut out, item, format)?;
                    }
                }
                None => {
                    missing += 1;
                    output::error(&format!("no item has the {what} `{name}`"));
                }
            }
        }
        out.flush()
    })();
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok((missing, false)),
        other => other.map(|()| (missing, true)).context("writing to stdout"),
    }
}

fn write_item(out: &mut impl Write, item: &ItemRecord, format: Format) -> std::io::Result<()> {
    match format {
        Format::Json => {
            let line = serde_json::json!({
                "type": item.type_name,
                "sf_object_id": item.sf_object_id,
                "path": item.path,
                "state": item.state,
                "fields": item.fields,
                "synced_at": item.synced_at,
            });
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")
        }
        Format::Tsv => writeln!(
            out,
            "{}\t{}\t{}\t{}",
            cell(&item.type_name),
            item.sf_object_id,
            cell(&item.path),
            item.state
        ),
        Format::Id => writeln!(out, "{}", item.sf_object_id),
        Format::Path => writeln!(out, "{}", cell(&item.path)),
    }
}

/// A value made safe for one TSV cell: tabs and line breaks become spaces.
fn cell(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}
