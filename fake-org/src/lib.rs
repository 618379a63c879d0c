//! A simulated Salesforce org that speaks the REST API over loopback HTTP.
//!
//! [`Org`] is the data (generated from a seed, loaded from JSON, or empty);
//! [`FakeOrg`] serves it on `127.0.0.1` with OAuth2, SOQL queries with
//! paging, retrieve, describe, `updated/`/`deleted/` and Bulk API 2.0
//! query jobs, and lets tests change records, move the org clock, expire
//! tokens and inject faults while it runs. [`FakeOrg::spawn_tls`] serves
//! the same over HTTPS with a certificate made at start, for clients that
//! insist on https.
//!
//! ```no_run
//! let org = fake_org::FakeOrg::spawn(fake_org::Org::generate(&Default::default()))?;
//! println!("log in at {}", org.base_url());
//! # anyhow::Ok(())
//! ```

mod clock;
mod faults;
mod generate;
mod ids;
mod org;
mod render;
mod schema;
mod server;
mod soql;
mod store;
mod tls;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use faults::{Fault, FaultKind, LoggedRequest};
pub use org::{GenSpec, Org};
pub use server::{Credentials, JWT_TEST_PRIVATE_KEY_PEM, JWT_TEST_PUBLIC_KEY_PEM};

use server::{lock, Shared};

/// A running fake org. Dropping it stops the server.
pub struct FakeOrg {
    shared: Arc<Shared>,
    base_url: String,
    ca_pem: Option<String>,
    stop: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeOrg {
    /// Starts a server on `127.0.0.1:0` on its own runtime, in background
    /// threads; usable from plain `#[test]` functions.
    pub fn spawn(org: Org) -> anyhow::Result<FakeOrg> {
        FakeOrg::spawn_with(org, false)
    }

    /// Like [`spawn`](FakeOrg::spawn), over HTTPS: `base_url` is
    /// `https://127.0.0.1:PORT` and [`ca_pem`](FakeOrg::ca_pem) is the
    /// certificate to trust.
    pub fn spawn_tls(org: Org) -> anyhow::Result<FakeOrg> {
        FakeOrg::spawn_with(org, true)
    }

    fn spawn_with(org: Org, tls: bool) -> anyhow::Result<FakeOrg> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-org")
            .enable_all()
            .build()
            .context("starting the fake org runtime")?;
        let addr = loopback_any_port();
        let credentials = Credentials::default();
        let mut fake = runtime.block_on(FakeOrg::listen(addr, org, credentials, tls))?;
        fake.runtime = Some(runtime);
        Ok(fake)
    }

    /// Starts a server on `127.0.0.1:0` inside the current tokio runtime.
    pub async fn start(org: Org) -> anyhow::Result<FakeOrg> {
        FakeOrg::start_on(loopback_any_port(), org, Credentials::default()).await
    }

    /// Like [`start`](FakeOrg::start), over HTTPS.
    pub async fn start_tls(org: Org) -> anyhow::Result<FakeOrg> {
        FakeOrg::start_tls_on(loopback_any_port(), org, Credentials::default()).await
    }

    /// Starts a server on a given address with given credentials, inside
    /// the current tokio runtime.
    pub async fn start_on(
        addr: SocketAddr,
        org: Org,
        credentials: Credentials,
    ) -> anyhow::Result<FakeOrg> {
        FakeOrg::listen(addr, org, credentials, false).await
    }

    /// Like [`start_on`](FakeOrg::start_on), over HTTPS with a new
    /// certificate valid for `127.0.0.1` and `localhost`.
    pub async fn start_tls_on(
        addr: SocketAddr,
        org: Org,
        credentials: Credentials,
    ) -> anyhow::Result<FakeOrg> {
        FakeOrg::listen(addr, org, credentials, true).await
    }

    async fn listen(
        addr: SocketAddr,
        org: Org,
        credentials: Credentials,
        tls: bool,
    ) -> anyhow::Result<FakeOrg> {
        let tls = match tls {
            true => Some(tls::Tls::generate().context("making the TLS certificate")?),
            false => None,
        };
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding `{addr}`"))?;
        let local = listener.local_addr().context("reading the bound address")?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{local}");
        let shared = Arc::new(Shared::new(org, credentials));
        let _ = shared.base_url.set(base_url.clone());
        let (stop, stopped) = watch::channel(false);
        let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
        tokio::spawn(server::serve(listener, shared.clone(), acceptor, stopped));
        log::info!("fake org listening on {base_url}");
        Ok(FakeOrg {
            shared,
            base_url,
            ca_pem: tls.map(|t| t.ca_pem),
            stop,
            runtime: None,
        })
    }

    /// `http://127.0.0.1:PORT` (`https://` over TLS), no trailing slash;
    /// both the login and the instance URL.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The PEM of the certificate authority a client must trust to reach
    /// a TLS fake org; `None` for plain HTTP.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The credentials the token endpoint accepts.
    pub fn credentials(&self) -> Credentials {
        self.shared.credentials.clone()
    }

    /// Caps every page (REST query pages and Bulk result pages) at `n`
    /// records, whatever the client asks; the default is no cap beyond
    /// Salesforce's 2000.
    pub fn set_page_size(&self, n: usize) {
        self.shared.set_page_size(n);
    }

    /// Pages child subquery results: a parent's child list longer than `n`
    /// comes back with its first `n` records, `done: false` and a
    /// `nextRecordsUrl` serving the rest, as Salesforce does. By default
    /// child lists are never paged.
    pub fn set_child_page_size(&self, n: usize) {
        self.shared.set_child_page_size(n);
    }

    /// Delays every response (not control requests) by `d`.
    pub fn set_latency(&self, d: Duration) {
        self.shared.set_latency(d);
    }

    /// The daily API allowance; data requests beyond it get 403
    /// `REQUEST_LIMIT_EXCEEDED`. Default 100,000.
    pub fn set_api_limit(&self, n: usize) {
        self.shared.set_api_limit(n);
    }

    /// Adds a record, stamped with the org clock's now; returns its id.
    ///
    /// # Panics
    /// When the sobject or a field is unknown or a value does not fit.
    pub fn insert(&self, sobject: &str, fields: Value) -> String {
        match self.shared.insert(sobject, &fields) {
            Ok(id) => id,
            Err(e) => panic!("fake org: inserting `{sobject}`: {e:#}"),
        }
    }

    /// Changes a live record; SystemModstamp and LastModifiedDate move to
    /// the org clock's now.
    ///
    /// # Panics
    /// When the record does not exist or a field is invalid.
    pub fn update(&self, sobject: &str, id: &str, fields: Value) {
        if let Err(e) = self.shared.update(sobject, id, &fields, None) {
            panic!("fake org: updating `{sobject}` `{id}`: {e:#}");
        }
    }

    /// Changes a live record with an explicit stamp (late commits, equal
    /// stamps).
    ///
    /// # Panics
    /// When the record does not exist or a field is invalid.
    pub fn update_with_modstamp(
        &self,
        sobject: &str,
        id: &str,
        fields: Value,
        modstamp: OffsetDateTime,
    ) {
        let at = clock::to_millis(modstamp);
        if let Err(e) = self.shared.update(sobject, id, &fields, Some(at)) {
            panic!("fake org: updating `{sobject}` `{id}`: {e:#}");
        }
    }

    /// Changes values without moving SystemModstamp, as a formula field
    /// recalculating does.
    ///
    /// # Panics
    /// When the record does not exist or a field is invalid.
    pub fn set_silently(&self, sobject: &str, id: &str, fields: Value) {
        if let Err(e) = self.shared.set_silently(sobject, id, &fields) {
            panic!("fake org: setting `{sobject}` `{id}`: {e:#}");
        }
    }

    /// Moves a record to the recycle bin: `IsDeleted` true, visible to
    /// queryAll and `deleted/`, SystemModstamp moved.
    ///
    /// # Panics
    /// When the record does not exist or is already deleted.
    pub fn soft_delete(&self, sobject: &str, id: &str) {
        if let Err(e) = self.shared.soft_delete(sobject, id) {
            panic!("fake org: deleting `{sobject}` `{id}`: {e:#}");
        }
    }

    /// Removes a record for good: not in queryAll, not in `deleted/`.
    ///
    /// # Panics
    /// When the record does not exist.
    pub fn hard_delete(&self, sobject: &str, id: &str) {
        if let Err(e) = self.shared.hard_delete(sobject, id) {
            panic!("fake org: hard-deleting `{sobject}` `{id}`: {e:#}");
        }
    }

    /// Purges the recycle bin: deleted records vanish and `deleted/`
    /// reports `earliestDateAvailable` as now.
    pub fn empty_recycle_bin(&self) {
        self.shared.empty_recycle_bin();
    }

    /// Freezes the org clock at `now`; it then moves only when advanced.
    pub fn set_clock(&self, now: OffsetDateTime) {
        self.shared.clock.set(now);
    }

    /// Moves the org clock forward.
    pub fn advance_clock(&self, d: Duration) {
        self.shared.clock.advance(d);
    }

    /// The org clock's now.
    pub fn now(&self) -> OffsetDateTime {
        clock::from_millis(self.shared.clock.now())
    }

    /// Invalidates every access token issued so far.
    pub fn expire_tokens(&self) {
        server::expire_all(&self.shared);
    }

    /// Every access token the token endpoint has issued, expired ones
    /// too, oldest first; for tests that check a client never leaks one.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.shared.sessions).history.clone()
    }

    /// Lets `k` more authenticated data requests through, then invalidates
    /// every token issued so far.
    pub fn expire_tokens_after(&self, k: usize) {
        server::expire_after(&self.shared, k);
    }

    /// Queues a fault; faults fire once each, in the order injected.
    pub fn inject_fault(&self, f: Fault) {
        self.shared.inject_fault(f);
    }

    /// Makes the next Bulk query job end in state `Failed` with `message`.
    pub fn fail_next_bulk_job(&self, message: &str) {
        self.shared.fail_next_bulk_job(message);
    }

    /// Every request answered since the start or the last
    /// [`clear_log`](FakeOrg::clear_log), oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Data API requests (under `/services/data/`) since the start or the
    /// last [`clear_log`](FakeOrg::clear_log).
    pub fn api_calls(&self) -> usize {
        self.shared.api_calls.load(Ordering::SeqCst)
    }

    /// Response body bytes of the data API requests since the start or the
    /// last [`clear_log`](FakeOrg::clear_log): what a client downloaded,
    /// before TLS.
    pub fn data_bytes(&self) -> u64 {
        self.shared.data_bytes()
    }

    /// Empties the request log and resets the API call count.
    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
        self.shared.api_calls.store(0, Ordering::SeqCst);
    }

    /// Every live record of an sobject with all its fields.
    pub fn records(&self, sobject: &str) -> Vec<Value> {
        self.shared
            .org
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .records(sobject)
    }

    /// Ids of the live records of an sobject.
    pub fn ids(&self, sobject: &str) -> Vec<String> {
        self.shared
            .org
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .ids(sobject)
    }
}

/// `127.0.0.1:0`: loopback, any free port.
fn loopback_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl Drop for FakeOrg {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
