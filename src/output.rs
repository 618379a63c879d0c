//! Everything meant for people: logging and progress, all on stderr.
//!
//! stdout carries data only. Warnings show by default; `-v` adds one info
//! line per type, `-vv` decisions, `-vvv` requests. `RUST_LOG` overrides.
//! A progress bar is drawn only on a terminal when nobody asked for quiet,
//! so cron mail stays clean.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::Event;
use crate::sync::Progress;

/// How chatty the user asked sfsync to be.
#[derive(Debug, Clone, Copy)]
pub struct Verbosity {
    /// `-q`: errors only.
    pub quiet: bool,
    /// Number of `-v`.
    pub verbose: u8,
    /// `--no-progress`.
    pub no_progress: bool,
}

/// Sets up `log` to write to stderr at the chosen level.
pub fn init_logging(v: Verbosity) {
    let level = match (v.quiet, v.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "warn,sfsync=info",
        (false, 2) => "warn,sfsync=debug",
        (false, _) => "warn,sfsync=trace",
    };
    let env = env_logger::Env::default().default_filter_or(level);
    let _ = env_logger::Builder::from_env(env)
        .format_target(false)
        .format_timestamp(if v.verbose >= 2 {
            Some(env_logger::TimestampPrecision::Millis)
        } else {
            Some(env_logger::TimestampPrecision::Seconds)
        })
        .try_init();
}

/// Prints an error for a person.
pub fn error(message: &str) {
    eprintln!("sfsync: error: {}", clean(message));
}

/// Prints a warning for a person.
pub fn warning(message: &str) {
    eprintln!("sfsync: warning: {}", clean(message));
}

/// Prints events on stdout, one JSON object a line.
pub fn print_events<'e>(events: impl IntoIterator<Item = &'e Event>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for event in events {
        serde_json::to_writer(&mut out, event)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Drops control characters from text that may come from outside.
fn clean(message: &str) -> String {
    message
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// The progress display chosen for this run.
pub fn progress(v: Verbosity) -> Box<dyn Progress> {
    if v.quiet || v.no_progress || v.verbose > 0 || !std::io::stderr().is_terminal() {
        Box::new(crate::sync::NoProgress)
    } else {
        Box::new(Bar::new())
    }
}

/// An indicatif bar per type.
struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new() -> Bar {
        let bar = ProgressBar::hidden();
        let style =
            ProgressStyle::with_template("{prefix:>12} {wide_bar} {pos}/{len} {per_sec} {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Bar { bar }
    }
}

impl Progress for Bar {
    fn begin(&self, type_name: &str) {
        self.bar.reset();
        self.bar
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        self.bar.set_prefix(type_name.to_string());
    }

    fn records(&self, done: u64, total: u64) {
        self.bar.set_length(total.max(done));
        self.bar.set_position(done);
    }

    fn end(&self) {
        self.bar.finish_and_clear();
    }
}
