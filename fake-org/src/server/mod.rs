//! The HTTP side of the fake org: shared state, the router, the gate every
//! request passes (log, latency, faults, bearer tokens, API usage), and the
//! accept loop that lets a fault drop a live connection.

// Handlers bail out early with a finished `Response` as their error; boxing
// it would only add noise.
#![allow(clippy::result_large_err)]

mod bulk;
mod control;
mod oauth;
mod query;
mod sobjects;

use std::collections::{HashSet, VecDeque};
use std::future::Future as _;
use std::net::Shutdown;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use oauth::{
    expire_after, expire_all, Credentials, JWT_TEST_PRIVATE_KEY_PEM, JWT_TEST_PUBLIC_KEY_PEM,
};

use crate::clock::Clock;
use crate::faults::{Fault, FaultKind, LoggedRequest};
use crate::Org;

/// Everything the handlers and the control API share.
pub(crate) struct Shared {
    pub org: RwLock<Org>,
    pub clock: Clock,
    pub credentials: Credentials,
    pub base_url: OnceLock<String>,
    pub org_id: String,
    pub settings: Mutex<Settings>,
    pub sessions: Mutex<Sessions>,
    pub faults: Mutex<VecDeque<Fault>>,
    pub log: Mutex<Vec<LoggedRequest>>,
    pub api_calls: AtomicUsize,
    pub cursors: Mutex<query::Cursors>,
    pub jobs: Mutex<bulk::Jobs>,
    /// When the recycle bin was last emptied (`i64::MIN`: never).
    pub bin_emptied_at: AtomicI64,
}

/// Knobs a test can turn.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Server-side cap on page sizes (REST query pages and Bulk results).
    pub page_size: Option<usize>,
    /// Child subquery lists longer than this come back in pages of it,
    /// the rest behind a `nextRecordsUrl`; `None` never pages them.
    pub child_page_size: Option<usize>,
    pub latency: Duration,
    /// The daily API request allowance reported in `Sforce-Limit-Info`.
    pub api_limit: usize,
}

/// Issued access tokens and a pending "expire after K requests".
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    pub tokens: HashSet<String>,
    pub expire_after: Option<usize>,
    pub issued: u64,
    /// Every token ever issued, expired ones too, oldest first.
    pub history: Vec<String>,
}

/// Locks a mutex, carrying on past a panic in another holder.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(org: Org, credentials: Credentials) -> Shared {
        let org_id = crate::ids::make_id("00D", &org.store.pod, 1);
        Shared {
            org: RwLock::new(org),
            clock: Clock::default(),
            credentials,
            base_url: OnceLock::new(),
            org_id,
            settings: Mutex::new(Settings {
                page_size: None,
                child_page_size: None,
                latency: Duration::ZERO,
                api_limit: 100_000,
            }),
            sessions: Mutex::new(Sessions::default()),
            faults: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            api_calls: AtomicUsize::new(0),
            cursors: Mutex::new(query::Cursors::default()),
            jobs: Mutex::new(bulk::Jobs::default()),
            bin_emptied_at: AtomicI64::new(i64::MIN),
        }
    }

    pub fn base_url(&self) -> &str {
        self.base_url.get().map(String::as_str).unwrap_or("")
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// Takes the oldest pending fault if it fires on this request now.
    fn take_fault(&self, path: &str, query: Option<&str>) -> Option<FaultKind> {
        let mut faults = lock(&self.faults);
        let front = faults.front_mut()?;
        if !front.matches(path, query) {
            return None;
        }
        if front.skip > 0 {
            front.skip -= 1;
            return None;
        }
        faults.pop_front().map(|f| f.kind)
    }
}

/// A Salesforce error answer: `[{"message":..,"errorCode":..}]`.
pub(crate) fn sf_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!([{"message": message, "errorCode": code}]);
    (status, axum::Json(body)).into_response()
}

/// 404 `NOT_FOUND`, for unknown resources.
pub(crate) fn not_found() -> Response {
    sf_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

/// A JSON body already rendered to text.
pub(crate) fn json_text(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

/// Checks a `vNN.N` path segment.
pub(crate) fn valid_version(version: &str) -> bool {
    version
        .strip_prefix('v')
        .and_then(|n| n.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        })
}

/// The routes of the fake org.
fn router(shared: Arc<Shared>) -> Router {
    let data = Router::new()
        .route("/services/data", get(sobjects::versions))
        .route("/services/data/", get(sobjects::versions))
        .route(
            "/services/data/{v}/sobjects",
            get(sobjects::describe_global),
        )
        .route(
            "/services/data/{v}/sobjects/",
            get(sobjects::describe_global),
        )
        .route("/services/data/{v}/query", get(query::query))
        .route("/services/data/{v}/query/", get(query::query))
        .route("/services/data/{v}/query/{locator}", get(query::next_page))
        .route("/services/data/{v}/queryAll", get(query::query_all))
        .route("/services/data/{v}/queryAll/", get(query::query_all))
        .route(
            "/services/data/{v}/queryAll/{locator}",
            get(query::next_page),
        )
        .route(
            "/services/data/{v}/sobjects/{sobject}/describe",
            get(sobjects::describe),
        )
        .route(
            "/services/data/{v}/sobjects/{sobject}/describe/",
            get(sobjects::describe),
        )
        .route(
            "/services/data/{v}/sobjects/{sobject}/updated",
            get(sobjects::updated),
        )
        .route(
            "/services/data/{v}/sobjects/{sobject}/updated/",
            get(sobjects::updated),
        )
        .route(
            "/services/data/{v}/sobjects/{sobject}/deleted",
            get(sobjects::deleted),
        )
        .route(
            "/services/data/{v}/sobjects/{sobject}/deleted/",
            get(sobjects::deleted),
        )
        .route(
            "/services/data/{v}/sobjects/{sobject}/{id}",
            get(sobjects::retrieve),
        )
        .route("/services/data/{v}/jobs/query", post(bulk::create))
        .route(
            "/services/data/{v}/jobs/query/{id}",
            get(bulk::status).delete(bulk::delete).patch(bulk::abort),
        )
        .route(
            "/services/data/{v}/jobs/query/{id}/results",
            get(bulk::results),
        )
        .route("/services/oauth2/token", post(oauth::token));
    data.merge(control::routes())
        .fallback(|| async { not_found() })
        .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// Which kind of endpoint a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Control,
    OAuth,
    /// Under `/services/data/vNN.N/`: needs a bearer token and counts.
    Data,
    Other,
}

fn classify(path: &str) -> Endpoint {
    if path.starts_with("/__fake/") {
        Endpoint::Control
    } else if path.starts_with("/services/oauth2/") {
        Endpoint::OAuth
    } else if path
        .strip_prefix("/services/data/")
        .is_some_and(|rest| !rest.is_empty())
    {
        Endpoint::Data
    } else {
        Endpoint::Other
    }
}

/// The connection a request arrived on, so a fault can cut it.
#[derive(Clone)]
struct ConnKiller(Arc<std::net::TcpStream>);

/// Runs before every handler: control requests pass straight through; the
/// rest are counted, delayed, faulted, authenticated and logged.
async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let endpoint = classify(&path);
    if endpoint == Endpoint::Control {
        return next.run(request).await;
    }
    let method = request.method().to_string();
    let query = request.uri().query().map(str::to_string);
    if endpoint == Endpoint::Data {
        shared.api_calls.fetch_add(1, Ordering::SeqCst);
    }
    let latency = shared.settings().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut response = match shared.take_fault(&path, query.as_deref()) {
        Some(fault) => apply_fault(&shared, fault, endpoint, request, next).await,
        None => admit(&shared, endpoint, request, next).await,
    };
    let (status, body_bytes) = match response.extensions().get::<Dropped>() {
        Some(_) => (0, 0),
        None => (response.status().as_u16(), body_size(&response)),
    };
    add_limit_info(&shared, &mut response);
    lock(&shared.log).push(LoggedRequest {
        method,
        path,
        query,
        status,
        api_call: endpoint == Endpoint::Data,
        body_bytes,
    });
    response
}

/// The length of a body known in advance, as every rendered answer is;
/// 0 for one that streams (a truncating fault).
fn body_size(response: &Response) -> u64 {
    http_body::Body::size_hint(response.body())
        .exact()
        .unwrap_or(0)
}

/// Marks a response whose connection was cut instead.
#[derive(Clone)]
struct Dropped;

async fn apply_fault(
    shared: &Shared,
    fault: FaultKind,
    endpoint: Endpoint,
    request: Request,
    next: Next,
) -> Response {
    log::debug!("injecting {fault:?} into {}", request.uri().path());
    match fault {
        FaultKind::Status {
            status,
            error_code,
            message,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            sf_error(status, &error_code, &message)
        }
        FaultKind::ReplaceBody {
            status,
            content_type,
            body,
        } => replaced(status, &content_type, body),
        FaultKind::DropConnection => {
            if let Some(killer) = request.extensions().get::<ConnKiller>() {
                let _ = killer.0.shutdown(Shutdown::Both);
            }
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response.extensions_mut().insert(Dropped);
            response
        }
        FaultKind::TruncateBody => truncate(admit(shared, endpoint, request, next).await).await,
        FaultKind::Delay(d) => {
            tokio::time::sleep(d).await;
            admit(shared, endpoint, request, next).await
        }
    }
}

fn replaced(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, value);
    }
    response
}

/// Checks the bearer token and the API allowance, then runs the handler.
async fn admit(shared: &Shared, endpoint: Endpoint, request: Request, next: Next) -> Response {
    if endpoint == Endpoint::Data {
        if !oauth::check_bearer(shared, request.headers()) {
            return sf_error(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
            );
        }
        if shared.api_calls.load(Ordering::SeqCst) > shared.settings().api_limit {
            return sf_error(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            );
        }
    }
    next.run(request).await
}

fn add_limit_info(shared: &Shared, response: &mut Response) {
    let used = shared.api_calls.load(Ordering::SeqCst);
    let limit = shared.settings().api_limit;
    if let Ok(value) = HeaderValue::from_str(&format!("api-usage={used}/{limit}")) {
        response.headers_mut().insert("Sforce-Limit-Info", value);
    }
}

/// Keeps the headers and full Content-Length but sends only half the body,
/// then fails the body so the connection closes.
async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let full = bytes.len().max(2);
    parts.headers.insert(
        axum::http::header::CONTENT_LENGTH,
        HeaderValue::from(full as u64 + 16),
    );
    let half = bytes.slice(..bytes.len() / 2);
    Response::from_parts(
        parts,
        Body::new(TruncatedBody {
            chunk: Some(half),
            pause: None,
        }),
    )
}

/// A body that yields one chunk, pauses so the connection flushes it, and
/// then fails, which makes the server close the connection.
struct TruncatedBody {
    chunk: Option<bytes::Bytes>,
    pause: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for TruncatedBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        if let Some(chunk) = self.chunk.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(chunk))));
        }
        let pause = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(50))));
        match pause.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::other(
                "body truncated by an injected fault",
            )))),
        }
    }
}

/// Serves the org on a bound listener until `stop` flips to true; over
/// TLS when given an acceptor.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let app = router(shared);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    spawn_connection(stream, app.clone(), tls.clone(), stop.clone());
                }
                Err(e) => log::warn!("accepting a connection: {e}"),
            },
            _ = stop.changed() => break,
        }
    }
}

/// Serves one connection, giving each request a handle that can cut it.
/// The handle holds the TCP socket itself, so a fault cuts a TLS
/// connection just as it cuts a plain one.
fn spawn_connection(
    stream: TcpStream,
    app: Router,
    tls: Option<TlsAcceptor>,
    stop: watch::Receiver<bool>,
) {
    let (stream, killer) = match split_killer(stream) {
        Ok(pair) => pair,
        Err(e) => {
            log::warn!("preparing a connection: {e}");
            return;
        }
    };
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(killer.clone());
            let mut app = app.clone();
            async move {
                use tower_service::Service as _;
                app.call(request.map(Body::new)).await
            }
        });
    tokio::spawn(async move {
        let Some(acceptor) = tls else {
            return serve_connection(stream, service, stop).await;
        };
        match acceptor.accept(stream).await {
            Ok(stream) => serve_connection(stream, service, stop).await,
            Err(e) => log::debug!("TLS handshake failed: {e}"),
        }
    });
}

/// Runs HTTP/1.1 on one connection until it ends or the server stops.
async fn serve_connection<I, S>(io: I, service: S, mut stop: watch::Receiver<bool>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = Body>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let io = hyper_util::rt::TokioIo::new(io);
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    tokio::select! {
        result = connection => if let Err(e) = result {
            log::debug!("connection ended: {e}");
        },
        _ = stop.changed() => {}
    }
}

/// Keeps a duplicate of the socket so a fault can shut it down.
fn split_killer(stream: TcpStream) -> std::io::Result<(TcpStream, ConnKiller)> {
    let std_stream = stream.into_std()?;
    let killer = std_stream.try_clone()?;
    let stream = TcpStream::from_std(std_stream)?;
    Ok((stream, ConnKiller(Arc::new(killer))))
}
