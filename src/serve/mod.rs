//! `sfsync serve`: a small HTTP service that syncs a record, or starts a
//! full sync, when an external system (a Salesforce button) asks.
//!
//! - `routes` holds the endpoints and how requests are read and answered,
//! - `auth` holds the sync key and its constant-time check,
//! - `params` decodes and checks a request's parameters,
//! - `jobs` does the work: record syncs (coalesced per record) and run reads,
//! - `full` runs full syncs in the background under the run lock,
//! - `coalesce` shares one sync among requests for the same record,
//! - `page` renders the control page.
//!
//! HTTP is hyper's, one task per connection. The accept loop here bounds
//! the connections, gives each a header deadline, and on shutdown stops
//! accepting, lets requests in flight finish and waits for every sync.
//! Nothing in this module prints; the command does.

mod auth;
mod coalesce;
mod error;
mod full;
mod jobs;
mod page;
mod params;
mod routes;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use log::{debug, info, warn};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use auth::{SyncKey, KEY_VAR};
pub use error::ServeError;
pub use jobs::{Limits, RecordReport};

use crate::config::Config;
use crate::exit::UsageError;
use crate::salesforce::Secrets;
use jobs::Jobs;
use routes::{AppState, Peer};

/// How the server behaves at its edges.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub body_timeout: Duration,
    /// The largest body accepted, in bytes.
    pub max_body: usize,
    /// How long shutdown waits for open connections before it lets go.
    pub drain_timeout: Duration,
    /// Limits on the work itself.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_body: 16 * 1024,
            drain_timeout: Duration::from_secs(30),
            limits: Limits::default(),
        }
    }
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    app: Router,
    jobs: Arc<Jobs>,
    options: Options,
}

impl Server {
    /// Binds `listen` and prepares the routes; nothing is served until
    /// [`Server::run`].
    pub async fn bind(
        listen: &str,
        config: Config,
        secrets: Secrets,
        key: SyncKey,
        options: Options,
    ) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| UsageError(format!("cannot listen on `{listen}`: {e}")))?;
        if !key.is_enabled() {
            warn!("`{KEY_VAR}` is not set: every sync request will be refused");
        }
        let jobs = Arc::new(Jobs::new(Arc::new(config), secrets, &options.limits));
        let app = routes::router(AppState {
            jobs: Arc::clone(&jobs),
            key,
            max_body: options.max_body,
            body_timeout: options.body_timeout,
        });
        Ok(Server {
            listener,
            app,
            jobs,
            options,
        })
    }

    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listener
            .local_addr()
            .context("reading the listening address")
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets the
    /// requests in flight finish, and waits for every sync to end.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(self.options.max_connections.max(1)));
        tokio::pin!(shutdown);
        loop {
            let slot = Arc::clone(&slots).acquire_owned();
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                permit = slot => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => self.serve_connection(stream, peer, permit, &graceful),
                Err(e) => {
                    warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        self.drain(graceful).await;
    }

    /// Serves one connection in its own task.
    fn serve_connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        permit: OwnedSemaphorePermit,
        graceful: &GracefulShutdown,
    ) {
        let tagged = tower::ServiceBuilder::new()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                req
            })
            .service(self.app.clone());
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.options.header_timeout)
            .max_buf_size(64 * 1024);
        let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(tagged));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!("connection from {peer} ended: {e}");
            }
            drop(permit);
        });
    }

    /// Stops taking work, waits for connections, then for the syncs.
    async fn drain(self, graceful: GracefulShutdown) {
        info!("stopping: no new requests; letting the running ones finish");
        drop(self.listener);
        self.jobs.stop();
        let waited = tokio::time::timeout(self.options.drain_timeout, graceful.shutdown());
        if waited.await.is_err() {
            warn!(
                "connections still open after {}s are dropped",
                self.options.drain_timeout.as_secs()
            );
        }
        self.jobs.drained().await;
        info!("stopped");
    }
}

/// Resolves at SIGTERM or SIGINT. The handlers are installed by this call,
/// so a signal that comes before the future is polled is not lost.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received"),
            _ = int.recv() => info!("SIGINT received"),
        }
    })
}
