//! The `fake-org` binary: serves a simulated org until SIGTERM or SIGINT.
//! The first stdout line is the base URL; logs go to stderr. With `--tls`
//! the certificate to trust is written to `--ca-out` before that line.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use fake_org::{Credentials, FakeOrg, GenSpec, Org};

/// A simulated Salesforce org on loopback, for trying sfsync without an org.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed of the generated org.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Generated accounts.
    #[arg(long, default_value_t = 100)]
    accounts: usize,
    /// Generated contacts.
    #[arg(long, default_value_t = 1000)]
    contacts: usize,
    /// Generated opportunities.
    #[arg(long, default_value_t = 200)]
    opportunities: usize,
    /// Generated opportunity contact roles.
    #[arg(long, default_value_t = 300)]
    contact_roles: usize,
    /// Load the org from this JSON file instead of generating it.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Cap every page at this many records.
    #[arg(long)]
    page_size: Option<usize>,
    /// Delay every response by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Serve HTTPS with a certificate made at start.
    #[arg(long)]
    tls: bool,
    /// With --tls: write the certificate to trust (PEM) to this file.
    #[arg(long, requires = "tls")]
    ca_out: Option<PathBuf>,
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("fake-org: {e:#}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let org = load_org(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args, org))
}

fn load_org(args: &Args) -> anyhow::Result<Org> {
    if let Some(path) = &args.data {
        return Org::from_json_file(path);
    }
    let spec = GenSpec {
        seed: args.seed,
        accounts: args.accounts,
        contacts: args.contacts,
        opportunities: args.opportunities,
        contact_roles: args.contact_roles,
    };
    let started = std::time::Instant::now();
    let org = Org::generate(&spec);
    log::info!(
        "generated {spec:?} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(org)
}

async fn serve(args: Args, org: Org) -> anyhow::Result<()> {
    let fake = match args.tls {
        true => FakeOrg::start_tls_on(args.listen, org, Credentials::default()).await?,
        false => FakeOrg::start_on(args.listen, org, Credentials::default()).await?,
    };
    if let (Some(path), Some(pem)) = (&args.ca_out, fake.ca_pem()) {
        std::fs::write(path, pem)
            .with_context(|| format!("writing the certificate to `{}`", path.display()))?;
    }
    if let Some(n) = args.page_size {
        fake.set_page_size(n);
    }
    fake.set_latency(Duration::from_millis(args.latency_ms));
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", fake.base_url()).context("writing the base URL")?;
    stdout.flush().context("flushing stdout")?;
    drop(stdout);
    let credentials = fake.credentials();
    log::info!(
        "log in as `{}` with client id `{}`; the default test password and secrets are in fake-org/README.md",
        credentials.username,
        credentials.client_id
    );
    wait_for_signal().await?;
    log::info!("stopping");
    drop(fake);
    Ok(())
}

/// Waits for SIGTERM or SIGINT.
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        _ = term.recv() => {}
        result = tokio::signal::ctrl_c() => result.context("listening for SIGINT")?,
    }
    Ok(())
}
