//! The Salesforce REST client: login, retries, query paging, describe.
//!
//! Every request goes through [`Client::send`], which adds the bearer token,
//! logs in again once on `INVALID_SESSION_ID`, retries network failures and
//! server errors with a doubling pause, and turns error answers into
//! [`SfError`]. Paths handed back by Salesforce (`nextRecordsUrl`) are
//! checked to stay on the org, so the token is never sent anywhere else.

pub mod auth;
pub mod error;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use log::{debug, trace, warn};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use auth::{Secret, Secrets, Session};
pub use error::SfError;

use crate::config::SalesforceConfig;

/// The longest pause between two tries.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);

/// A client for one org, shared by every task of a run.
pub struct Client {
    http: reqwest::Client,
    cfg: SalesforceConfig,
    secrets: Secrets,
    session: Mutex<Option<Session>>,
    calls: AtomicU64,
    usage: Mutex<Option<String>>,
}

/// One page of a query answer.
#[derive(Debug)]
pub struct QueryPage {
    /// Records in the whole answer (for `count()`, the count).
    pub total_size: u64,
    /// Whether this is the last page.
    pub done: bool,
    /// The path of the next page.
    pub next_records_url: Option<String>,
    /// This page's records.
    pub records: Vec<Value>,
}

/// One page of a query answer with each record left as raw JSON text,
/// which takes a fraction of the memory of parsed values until the writer
/// maps it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawQueryPage {
    /// Records in the whole answer.
    pub total_size: u64,
    /// Whether this is the last page.
    pub done: bool,
    /// The path of the next page.
    pub next_records_url: Option<String>,
    /// This page's records, unparsed.
    pub records: Vec<Box<RawValue>>,
    /// The permit of [`PageWatch::gate`] the page was read under.
    #[serde(skip)]
    pub held: Option<OwnedSemaphorePermit>,
}

/// A request, kept whole so it can be sent again.
#[derive(Clone)]
pub struct Request {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    json: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Request {
    /// A GET of `path` on the instance.
    pub fn get(path: impl Into<String>) -> Request {
        Request {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            json: None,
            headers: Vec::new(),
        }
    }

    /// A POST of a JSON body.
    pub fn post_json(path: impl Into<String>, body: Value) -> Request {
        Request {
            method: Method::POST,
            json: Some(body),
            ..Request::get(path)
        }
    }

    /// Adds a query parameter.
    pub fn param(mut self, key: &str, value: impl Into<String>) -> Request {
        self.query.push((key.to_string(), value.into()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }
}

/// An answer: headers and the whole body.
pub struct Answer {
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, read to the end.
    pub body: Bytes,
    /// The permit of [`PageWatch::gate`] the body was read under.
    held: Option<OwnedSemaphorePermit>,
}

impl Answer {
    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, SfError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| SfError::BadResponse(format!("invalid JSON: {e}")))
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How one try ended.
enum Try {
    Done(Answer),
    /// Worth another try, after a pause.
    Again(String),
    /// The session expired: log in and try at once.
    Relogin,
    Fail(SfError),
}

impl Client {
    /// Builds the HTTP client and logs in.
    pub async fn connect(cfg: &SalesforceConfig, secrets: Secrets) -> Result<Client, SfError> {
        let client = Client::new(cfg, secrets)?;
        client.login().await?;
        Ok(client)
    }

    /// Builds the client without logging in yet.
    pub fn new(cfg: &SalesforceConfig, secrets: Secrets) -> Result<Client, SfError> {
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sfsync/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &cfg.ca_file {
            builder = builder.tls_certs_merge(read_ca_file(path)?);
        }
        let http = builder
            .build()
            .map_err(|e| SfError::Setup(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client {
            http,
            cfg: cfg.clone(),
            secrets,
            session: Mutex::new(None),
            calls: AtomicU64::new(0),
            usage: Mutex::new(None),
        })
    }

    /// The API version every data path uses, such as `v62.0`.
    pub fn version_path(&self) -> String {
        format!("/services/data/v{}", self.cfg.api_version)
    }

    /// Data API requests sent so far (retries included).
    pub fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The latest `Sforce-Limit-Info` the org sent, such as `api-usage=18/5000`.
    pub fn api_usage(&self) -> Option<String> {
        self.usage.lock().ok().and_then(|u| u.clone())
    }

    /// Logs in with the configured flow, replacing any session.
    pub async fn login(&self) -> Result<(), SfError> {
        let session = match auth::token_request(&self.cfg, &self.secrets)? {
            None => self.given_token_session()?,
            Some(request) => self.request_token(request).await?,
        };
        debug!(
            "logged in with `{:?}` flow; instance {}",
            self.cfg.auth, session.instance_url
        );
        if let Ok(mut slot) = self.session.lock() {
            *slot = Some(session);
        }
        Ok(())
    }

    fn given_token_session(&self) -> Result<Session, SfError> {
        let token = self.secrets.access_token().cloned().ok_or_else(|| {
            SfError::Setup("no access token was read from `SFSYNC_ACCESS_TOKEN`".into())
        })?;
        let instance_url = self.cfg.instance_url.clone().ok_or_else(|| {
            SfError::Setup("`salesforce.instance_url` is required for a given access token".into())
        })?;
        Ok(Session {
            access_token: token,
            instance_url,
        })
    }

    async fn request_token(&self, request: auth::TokenRequest) -> Result<Session, SfError> {
        let mut attempt = 0;
        loop {
            let mut builder = self.http.post(request.url.clone()).form(&request.form);
            if let Some((user, pass)) = &request.basic {
                builder = builder.basic_auth(user, Some(pass));
            }
            let outcome: Result<(), String> = match builder.send().await {
                Ok(response) => {
                    let status = response.status();
                    match response.bytes().await {
                        Ok(body) if status.is_server_error() => {
                            Err(format!("HTTP {status}: {}", printable(&body)))
                        }
                        Ok(body) => {
                            return auth::read_token_answer(
                                status.as_u16(),
                                &body,
                                self.cfg.instance_url.as_ref(),
                            )
                        }
                        Err(e) => Err(describe_reqwest(&e)),
                    }
                }
                Err(e) => Err(describe_reqwest(&e)),
            };
            if let Err(cause) = outcome {
                self.again_or_give_up(&mut attempt, cause).await?;
            }
        }
    }

    fn session(&self) -> Option<Session> {
        self.session.lock().ok().and_then(|s| s.clone())
    }

    /// Sends `request`, logging in again once and retrying as the answer warrants.
    pub async fn send(&self, request: &Request) -> Result<Answer, SfError> {
        self.send_watching(request, &mut PageWatch::default()).await
    }

    /// Sends `request` as [`Client::send`] does, reading a successful
    /// answer as `watch` asks.
    async fn send_watching(
        &self,
        request: &Request,
        watch: &mut PageWatch,
    ) -> Result<Answer, SfError> {
        let mut attempt = 0;
        let mut relogged = false;
        loop {
            let session = match self.session() {
                Some(s) => s,
                None => {
                    self.login().await?;
                    continue;
                }
            };
            match self.try_once(request, &session, watch).await {
                Try::Done(answer) => return Ok(answer),
                Try::Fail(e) => return Err(e),
                Try::Relogin
                    if !relogged && self.cfg.auth != crate::config::AuthFlow::AccessToken =>
                {
                    debug!("session expired; logging in again");
                    relogged = true;
                    self.login().await?;
                }
                Try::Relogin => {
                    return Err(SfError::Login {
                        description:
                            "the session was refused as expired or invalid (INVALID_SESSION_ID)"
                                .into(),
                    })
                }
                Try::Again(cause) => self.again_or_give_up(&mut attempt, cause).await?,
            }
        }
    }

    /// Counts a failed try: gives up once `max_retries` retries have
    /// failed, or else waits (longer after each failure) before the next.
    async fn again_or_give_up(&self, attempt: &mut u32, cause: String) -> Result<(), SfError> {
        *attempt += 1;
        if *attempt > self.cfg.max_retries {
            return Err(SfError::Unreachable {
                attempts: *attempt,
                cause,
            });
        }
        self.pause(*attempt, &cause).await;
        Ok(())
    }

    async fn pause(&self, attempt: u32, cause: &str) {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        let pause = self
            .cfg
            .retry_delay
            .saturating_mul(factor)
            .min(MAX_RETRY_PAUSE);
        warn!(
            "{cause}; trying again in {:.1}s (try {} of {})",
            pause.as_secs_f64(),
            attempt + 1,
            self.cfg.max_retries + 1
        );
        tokio::time::sleep(pause).await;
    }

    async fn try_once(&self, request: &Request, session: &Session, watch: &mut PageWatch) -> Try {
        let url = match session.instance_url.join(&request.path) {
            Ok(url) => url,
            Err(e) => {
                return Try::Fail(SfError::BadResponse(format!(
                    "cannot form a URL from `{}`: {e}",
                    request.path
                )))
            }
        };
        let mut builder = self
            .http
            .request(request.method.clone(), url)
            .bearer_auth(session.access_token.expose())
            .header("Accept-Encoding", "gzip");
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some(body) = &request.json {
            builder = builder.json(body);
        }
        trace!("{} {}", request.method, request.path);
        self.calls.fetch_add(1, Ordering::Relaxed);
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return Try::Again(describe_reqwest(&e)),
        };
        let status = response.status();
        let headers = response.headers().clone();
        self.note_usage(&headers);
        let held = match &watch.gate {
            Some(gate) if status.is_success() => Arc::clone(gate).acquire_owned().await.ok(),
            _ => None,
        };
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Try::Again(format!(
                    "reading the answer to {}: {}",
                    request.path_for_log(),
                    describe_reqwest(&e)
                ))
            }
        };
        if let Some(early) = watch.early.take_if(|_| status.is_success()) {
            // Told only once the whole page is in: a page asked for again
            // after its next page was would be out of order for Salesforce.
            if let Head::Next(url) = page_head(&body) {
                let _ = early.send(url);
            }
        }
        match classify(status, headers, body) {
            Try::Done(answer) => Try::Done(Answer { held, ..answer }),
            other => other,
        }
    }

    fn note_usage(&self, headers: &HeaderMap) {
        if let Some(v) = headers
            .get("Sforce-Limit-Info")
            .and_then(|v| v.to_str().ok())
        {
            if let Ok(mut slot) = self.usage.lock() {
                *slot = Some(v.to_string());
            }
        }
    }

    /// The first page of a query (`queryAll` when `all`), with child pages completed.
    pub async fn query(&self, soql: &str, all: bool) -> Result<QueryPage, SfError> {
        parse_page(self.query_raw(soql, all).await?)
    }

    /// The page at a `nextRecordsUrl`.
    pub async fn query_more(&self, next: &str) -> Result<QueryPage, SfError> {
        parse_page(self.query_more_raw(next).await?)
    }

    /// The first page of a query with records left raw.
    pub async fn query_raw(&self, soql: &str, all: bool) -> Result<RawQueryPage, SfError> {
        self.query_raw_watched(soql, all, PageWatch::default())
            .await
    }

    /// [`Client::query_raw`], with the page read as `watch` asks.
    pub async fn query_raw_watched(
        &self,
        soql: &str,
        all: bool,
        watch: PageWatch,
    ) -> Result<RawQueryPage, SfError> {
        let endpoint = if all { "queryAll" } else { "query" };
        let request = Request::get(format!("{}/{endpoint}", self.version_path()))
            .param("q", soql)
            .header("Sforce-Query-Options", "batchSize=2000");
        self.read_raw_page(&request, watch).await
    }

    /// The page at a `nextRecordsUrl`, with records left raw.
    pub async fn query_more_raw(&self, next: &str) -> Result<RawQueryPage, SfError> {
        self.query_more_raw_watched(next, PageWatch::default())
            .await
    }

    /// [`Client::query_more_raw`], with the page read as `watch` asks.
    pub async fn query_more_raw_watched(
        &self,
        next: &str,
        watch: PageWatch,
    ) -> Result<RawQueryPage, SfError> {
        let path = self.checked_next(next)?;
        let request = Request::get(path).header("Sforce-Query-Options", "batchSize=2000");
        self.read_raw_page(&request, watch).await
    }

    async fn read_raw_page(
        &self,
        request: &Request,
        mut watch: PageWatch,
    ) -> Result<RawQueryPage, SfError> {
        let mut answer = self.send_watching(request, &mut watch).await?;
        let mut page: RawQueryPage = answer.json()?;
        page.held = answer.held.take();
        if !page.done && page.next_records_url.is_none() {
            return Err(SfError::BadResponse(
                "a page that is not the last names no `nextRecordsUrl`".into(),
            ));
        }
        for record in &mut page.records {
            // Only a record with an unfinished child list needs parsing here.
            let text = record.get();
            if !text.contains("\"done\":false") && !text.contains("\"done\": false") {
                continue;
            }
            let mut value: Value = serde_json::from_str(record.get())
                .map_err(|e| SfError::BadResponse(format!("invalid JSON: {e}")))?;
            self.complete_children(&mut value).await?;
            *record = serde_json::value::to_raw_value(&value)
                .map_err(|e| SfError::BadResponse(format!("invalid JSON: {e}")))?;
        }
        Ok(page)
    }

    /// Child subqueries page on their own: fetch the rest of each one.
    async fn complete_children(&self, record: &mut Value) -> Result<(), SfError> {
        let Some(object) = record.as_object_mut() else {
            return Ok(());
        };
        for value in object.values_mut() {
            let Some(child) = value.as_object_mut() else {
                continue;
            };
            if child.get("done").and_then(Value::as_bool) != Some(false)
                || !child.contains_key("records")
            {
                continue;
            }
            let mut next = child
                .get("nextRecordsUrl")
                .and_then(Value::as_str)
                .map(str::to_string);
            if next.is_none() {
                return Err(SfError::BadResponse(
                    "a child list that is not done names no `nextRecordsUrl`".into(),
                ));
            }
            while let Some(url) = next {
                let page = Box::pin(self.query_more(&url)).await?;
                if let Some(Value::Array(rows)) = child.get_mut("records") {
                    rows.extend(page.records);
                }
                next = page.next_records_url;
            }
            child.insert("done".into(), Value::Bool(true));
            child.remove("nextRecordsUrl");
        }
        Ok(())
    }

    /// A `nextRecordsUrl` must be a path on this org's data API.
    fn checked_next(&self, next: &str) -> Result<String, SfError> {
        if next.starts_with("/services/data/") && !next.contains("://") && !next.contains("..") {
            Ok(next.to_string())
        } else {
            Err(SfError::BadResponse(format!(
                "`nextRecordsUrl` `{}` does not point at this org's data API; the token is not sent there",
                printable(next.as_bytes())
            )))
        }
    }

    /// The describe of an SObject.
    pub async fn describe(&self, sobject: &str) -> Result<Value, SfError> {
        let request = Request::get(format!(
            "{}/sobjects/{sobject}/describe",
            self.version_path()
        ));
        self.send(&request).await?.json()
    }
}

impl Request {
    fn path_for_log(&self) -> &str {
        &self.path
    }
}

/// Parses the records of a raw page.
fn parse_page(raw: RawQueryPage) -> Result<QueryPage, SfError> {
    let records = raw
        .records
        .iter()
        .map(|r| serde_json::from_str(r.get()))
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|e| SfError::BadResponse(format!("invalid JSON: {e}")))?;
    Ok(QueryPage {
        total_size: raw.total_size,
        done: raw.done,
        next_records_url: raw.next_records_url,
        records,
    })
}

/// Where a query page's `nextRecordsUrl` is sent once the page has come,
/// before it is parsed.
pub type EarlyNext = tokio::sync::oneshot::Sender<String>;

/// How a reader that runs several queries at once wants a page read.
#[derive(Default)]
pub struct PageWatch {
    /// Gets the page's `nextRecordsUrl` as soon as the page has come,
    /// read from its head before the records are parsed: the next page can
    /// be asked for while this one is parsed and handed on.
    pub early: Option<EarlyNext>,
    /// Bounds the pages read and not yet let go: a permit is taken before
    /// a page's body is read and kept with the page
    /// ([`RawQueryPage::held`]). A body waits in the connection meanwhile,
    /// not in memory.
    pub gate: Option<Arc<Semaphore>>,
}

/// How far into a page its `records` key is looked for. Salesforce writes
/// `totalSize`, `done` and `nextRecordsUrl` first, in a few dozen bytes.
const HEAD_LIMIT: usize = 4096;

/// What the start of a query page tells of the next page.
#[derive(Debug, PartialEq)]
enum Head {
    /// Too few bytes to tell.
    Incomplete,
    /// The page is not the last; its `nextRecordsUrl`.
    Next(String),
    /// The last page, or a head that cannot be read early (the whole page
    /// is read and checked as usual).
    NoNext,
}

/// Reads the keys before `"records"` in the start of a query page.
fn page_head(start: &[u8]) -> Head {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PageHead {
        done: Option<bool>,
        next_records_url: Option<String>,
    }
    const KEY: &[u8] = b"\"records\"";
    let seen = &start[..start.len().min(HEAD_LIMIT)];
    let Some(at) = seen.windows(KEY.len()).position(|w| w == KEY) else {
        return if start.len() >= HEAD_LIMIT {
            Head::NoNext
        } else {
            Head::Incomplete
        };
    };
    // `{"totalSize":N,"done":false,"nextRecordsUrl":"...",` closed as an
    // object of its own.
    let mut head = seen[..at].trim_ascii_end().to_vec();
    if head.last() == Some(&b',') {
        head.pop();
    }
    head.push(b'}');
    match serde_json::from_slice::<PageHead>(&head) {
        Ok(PageHead {
            done: Some(false),
            next_records_url: Some(url),
        }) => Head::Next(url),
        _ => Head::NoNext,
    }
}

/// Sorts an answer into done, fail, try again or log in again.
fn classify(status: StatusCode, headers: HeaderMap, body: Bytes) -> Try {
    if status.is_success() {
        return Try::Done(Answer {
            headers,
            body,
            held: None,
        });
    }
    let (code, message) = error_body(&body);
    if status == StatusCode::UNAUTHORIZED || code == "INVALID_SESSION_ID" {
        return Try::Relogin;
    }
    if code == "REQUEST_LIMIT_EXCEEDED" {
        return Try::Fail(SfError::RequestLimit { message });
    }
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Try::Again(format!(
            "Salesforce answered {} {code}: {message}",
            status.as_u16()
        ));
    }
    Try::Fail(SfError::Api {
        status: status.as_u16(),
        code,
        message,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiErrorBody {
    message: Option<String>,
    error_code: Option<String>,
}

/// Salesforce's `[{"message","errorCode"}]`, or whatever came instead.
fn error_body(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<Vec<ApiErrorBody>>(body) {
        Ok(errors) if !errors.is_empty() => {
            let first = &errors[0];
            (
                first
                    .error_code
                    .clone()
                    .unwrap_or_else(|| "UNKNOWN_ERROR".into()),
                first.message.clone().unwrap_or_default(),
            )
        }
        _ => ("UNKNOWN_ERROR".into(), printable(body)),
    }
}

/// A short printable excerpt of an unexpected body.
fn printable(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A reqwest error with its causes, which name the URL but never a header.
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "the request timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "the connection failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, SfError> {
    let pem = std::fs::read(path)
        .map_err(|e| SfError::Setup(format!("cannot read `ca_file` `{}`: {e}", path.display())))?;
    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        SfError::Setup(format!(
            "`ca_file` `{}` holds no usable PEM certificate: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_head_names_the_next_page_before_the_records() {
        let page = br#"{"totalSize":5000,"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01gX-2000","records":[{"Id":"#;
        assert_eq!(
            page_head(page),
            Head::Next("/services/data/v62.0/query/01gX-2000".into())
        );
        let spaced = b"{ \"totalSize\" : 5000 ,\n \"done\" : false , \"nextRecordsUrl\" : \"/n\" ,\n \"records\" : [";
        assert_eq!(page_head(spaced), Head::Next("/n".into()));
    }

    #[test]
    fn a_last_page_or_an_odd_head_names_none() {
        let last = br#"{"totalSize":3,"done":true,"records":[{"Id":"a"}]}"#;
        assert_eq!(page_head(last), Head::NoNext);
        // Not in the order Salesforce writes: read whole, as usual.
        let late = br#"{"records":[],"done":false,"nextRecordsUrl":"/n"}"#;
        assert_eq!(page_head(late), Head::NoNext);
        let odd = br#"{"totalSize":3,"done":false,"nextRecordsUrl":7,"records":["#;
        assert_eq!(page_head(odd), Head::NoNext);
        let long = [b' '; HEAD_LIMIT];
        assert_eq!(page_head(&long), Head::NoNext);
    }

    /// A client of a fake org of 50 contacts served 10 a page.
    async fn client_of_fake_org() -> (fake_org::FakeOrg, Arc<Client>) {
        let org = fake_org::FakeOrg::start(fake_org::Org::generate(&fake_org::GenSpec {
            seed: 3,
            accounts: 5,
            contacts: 50,
            opportunities: 0,
            contact_roles: 0,
        }))
        .await
        .unwrap();
        org.set_page_size(10);
        let login = fake_org::Credentials::default();
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/services/oauth2/token", org.base_url()))
            .form(&[
                ("grant_type", "password"),
                ("client_id", login.client_id.as_str()),
                ("client_secret", login.client_secret.as_str()),
                ("username", login.username.as_str()),
                ("password", login.password.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"].as_str().unwrap().to_string();
        let url = url::Url::parse(&org.base_url()).unwrap();
        let cfg = SalesforceConfig {
            login_url: url.clone(),
            instance_url: Some(url),
            api_version: "62.0".into(),
            auth: crate::config::AuthFlow::AccessToken,
            client_id: None,
            username: None,
            ca_file: None,
            timeout: Duration::from_secs(30),
            max_retries: 0,
            retry_delay: Duration::ZERO,
        };
        let client = Client::new(&cfg, auth::Secrets::given_token(token)).unwrap();
        (org, Arc::new(client))
    }

    #[tokio::test]
    async fn a_page_names_its_next_page_early_and_keeps_its_permit() {
        let (_org, client) = client_of_fake_org().await;
        let gate = Arc::new(Semaphore::new(1));
        let watch = |early| PageWatch {
            early,
            gate: Some(Arc::clone(&gate)),
        };
        let (early, named) = tokio::sync::oneshot::channel();
        let first = client
            .query_raw_watched("SELECT Id FROM Contact", false, watch(Some(early)))
            .await
            .unwrap();
        let next = first.next_records_url.clone().unwrap();
        assert_eq!(named.await.unwrap(), next);
        assert!(first.held.is_some());
        assert_eq!(gate.available_permits(), 0);

        // The next page's body waits for the first page's permit.
        let second = tokio::spawn({
            let client = Arc::clone(&client);
            let watch = watch(None);
            async move { client.query_more_raw_watched(&next, watch).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "read without a permit");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(10), second)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(second.records.len(), 10);
        assert!(second.held.is_some());
        drop(second);
        assert_eq!(gate.available_permits(), 1);
    }

    #[test]
    fn a_head_cut_short_waits_for_more() {
        assert_eq!(
            page_head(br#"{"totalSize":5000,"done":false,"nextRec"#),
            Head::Incomplete
        );
        assert_eq!(page_head(b""), Head::Incomplete);
    }
}
