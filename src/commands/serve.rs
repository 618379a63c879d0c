//! `sfsync serve`: answer sync requests over HTTP until SIGTERM or SIGINT.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::Global;
use crate::exit::Exit;
use crate::salesforce::Secrets;
use crate::serve::{self, Options, Server, SyncKey};

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on; default `[serve] listen` in sync.toml,
    /// else 127.0.0.1:8765. Port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

/// Runs `serve`: prints the address it listens on, then serves.
pub fn run(global: &Global, args: &Args) -> Result<Exit> {
    let config = super::load_config(global)?;
    let secrets = Secrets::from_env(config.salesforce.auth)?;
    let key = SyncKey::from_env();
    let listen = args
        .listen
        .clone()
        .unwrap_or_else(|| config.serve_listen.clone());
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let shutdown = serve::shutdown_signal().context("installing the signal handlers")?;
        let server = Server::bind(&listen, config, secrets, key, Options::default()).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}", server.local_addr()?)?;
        out.flush()?;
        drop(out);
        server.run(shutdown).await;
        Ok(Exit::Ok)
    })
}
