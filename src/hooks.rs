//! `[[hooks]]`: commands run after a type is committed, fed its events.
//!
//! A hook gets the events as JSON lines on stdin, and `SFSYNC_TYPE` in its
//! environment. Its own output goes to sfsync's stderr, so stdout stays
//! data. A failing hook is reported; the catalog is never rolled back.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{anyhow, Context, Result};
use log::debug;

use crate::catalog::Event;
use crate::config::HookConfig;

/// Whether any hook listens to `type_name`, so events are worth collecting.
pub fn wanted(hooks: &[HookConfig], type_name: &str) -> bool {
    hooks.iter().any(|h| applies_to(h, type_name))
}

fn applies_to(hook: &HookConfig, type_name: &str) -> bool {
    hook.types.is_empty() || hook.types.iter().any(|t| t.eq_ignore_ascii_case(type_name))
}

/// Runs every hook that wants some of `events`; returns the failures.
pub fn run(hooks: &[HookConfig], type_name: &str, events: &[Event]) -> Vec<anyhow::Error> {
    hooks
        .iter()
        .filter(|h| applies_to(h, type_name))
        .filter_map(|h| {
            let chosen: Vec<&Event> = events
                .iter()
                .filter(|e| h.kinds.is_empty() || h.kinds.iter().any(|k| k == e.kind.as_str()))
                .collect();
            if chosen.is_empty() {
                return None;
            }
            run_one(h, type_name, &chosen)
                .with_context(|| format!("hook `{}` for `{type_name}`", h.command))
                .err()
        })
        .collect()
}

fn run_one(hook: &HookConfig, type_name: &str, events: &[&Event]) -> Result<()> {
    debug!(
        "running hook `{}` with {} events",
        hook.command,
        events.len()
    );
    let stderr = std::io::stderr();
    let out = Stdio::from(std::os::fd::AsFd::as_fd(&stderr).try_clone_to_owned()?);
    let err = Stdio::from(std::os::fd::AsFd::as_fd(&stderr).try_clone_to_owned()?);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&hook.command)
        .env("SFSYNC_TYPE", type_name)
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .context("cannot start it")?;
    if let Some(mut stdin) = child.stdin.take() {
        for event in events {
            let line = serde_json::to_string(event)?;
            // A hook may stop reading early; that is its business, not a failure.
            if writeln!(stdin, "{line}").is_err() {
                break;
            }
        }
    }
    let status = child.wait().context("waiting for it")?;
    if status.success() {
        Ok(())
    } else {
        Err(anyhow!("it failed ({status})"))
    }
}
