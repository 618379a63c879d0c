//! sync.toml: read once, checked once, then passed around by reference.
//!
//! Parsing happens in two steps. serde reads the file into raw structs that
//! refuse unknown keys; `validate` then turns them into the typed
//! [`Config`] that the rest of the program trusts. Every error names the
//! file, the key and, where it is known, the line. Errors never quote the
//! file's text, so a secret pasted into it by mistake is not echoed back.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;
use url::Url;

/// The default catalog file, relative to the configuration file.
const DEFAULT_CATALOG: &str = "catalog.db";
/// The Salesforce API version used when the file names none.
const DEFAULT_API_VERSION: &str = "62.0";
/// Keys that would hold a secret; they are refused with a pointer to the environment.
const SECRET_KEYS: &[(&str, &str)] = &[
    ("password", "SFSYNC_PASSWORD"),
    ("client_secret", "SFSYNC_CLIENT_SECRET"),
    ("refresh_token", "SFSYNC_REFRESH_TOKEN"),
    ("access_token", "SFSYNC_ACCESS_TOKEN"),
    ("security_token", "SFSYNC_PASSWORD"),
    ("sync_key", "SFSYNC_SYNC_KEY"),
];
/// The most ranges of one type read at once.
const MAX_PARALLEL: u64 = 8;
/// Names a type's view may not take: the catalog's own tables.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "items",
    "runs",
    "events",
    "type_state",
    "staged",
    "seen",
    "picklists",
    "picklist_values",
];
/// Column names every per-type view has already.
const RESERVED_COLUMNS: &[&str] = &["sf_object_id", "path", "state", "synced_at"];

/// A configuration file that cannot be used, with where the problem is.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// The 1-based line of the offending key, where known.
    pub line: Option<usize>,
    /// What is wrong, naming the key.
    pub message: String,
}

/// The whole, checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// How to reach and log in to the org.
    pub salesforce: SalesforceConfig,
    /// Where the catalog lives, resolved against the configuration's folder.
    pub catalog_path: PathBuf,
    /// The content types, in file order.
    pub types: Vec<TypeConfig>,
    /// Commands run after a type is committed.
    pub hooks: Vec<HookConfig>,
    /// How long cached picklist vocabularies stay fresh.
    pub picklist_max_age: Duration,
    /// The address `sfsync serve` listens on unless told otherwise.
    pub serve_listen: String,
}

/// The `[salesforce]` table.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// Where OAuth requests go.
    pub login_url: Url,
    /// The org's own host, for flows that do not return one.
    pub instance_url: Option<Url>,
    /// For example `62.0`.
    pub api_version: String,
    /// Which OAuth flow logs in.
    pub auth: AuthFlow,
    /// The connected app's consumer key.
    pub client_id: Option<String>,
    /// The integration user.
    pub username: Option<String>,
    /// Extra trusted root certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// How long one HTTP request may take.
    pub timeout: Duration,
    /// How many times a failed request is tried again.
    pub max_retries: u32,
    /// The first pause before a retry; it doubles each time.
    pub retry_delay: Duration,
}

/// The OAuth flows sfsync can log in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthFlow {
    /// Username and password (with security token) from `SFSYNC_PASSWORD`.
    Password,
    /// A refresh token from `SFSYNC_REFRESH_TOKEN`.
    RefreshToken,
    /// The connected app's own credentials, against the My Domain host.
    ClientCredentials,
    /// A JWT bearer assertion signed with the key in `SFSYNC_JWT_KEY_FILE`.
    Jwt,
    /// An access token obtained elsewhere, from `SFSYNC_ACCESS_TOKEN`.
    AccessToken,
}

/// One `[[types]]` entry: a content type fed by one SObject.
#[derive(Debug, Clone)]
pub struct TypeConfig {
    /// The content type's name, unique in the file.
    pub name: String,
    /// The Salesforce object it reads.
    pub sobject: String,
    /// Trusted SOQL appended to the query (a condition, or ORDER BY / LIMIT).
    pub criteria: Option<String>,
    /// Trusted SOQL ORDER BY list.
    pub order_by: Option<String>,
    /// The path under which items of this type live.
    pub container: String,
    /// The Salesforce field whose value names a new item's path.
    pub title: Option<String>,
    /// Publish items when they are created or updated.
    pub publish: bool,
    /// What happens to items Salesforce no longer returns.
    pub on_missing: OnMissing,
    /// The largest share of items the missing step may touch unasked.
    pub max_missing: f64,
    /// The mapped fields, in file order.
    pub fields: Vec<FieldMapping>,
    /// How the type is read.
    pub read: ReadSettings,
}

/// How a type is read from Salesforce; `[sync]` sets defaults, a type may override.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadSettings {
    /// After a first full read, read only records changed since the watermark.
    pub incremental: bool,
    /// How far behind the watermark an incremental read starts, for late commits.
    pub lookback: Duration,
    /// How often a full read runs anyway, to catch formula and parent changes.
    pub full_every: Duration,
    /// Above this many records a type is read through Bulk API 2.0; 0 never.
    pub bulk_threshold: u64,
    /// How many ranges of a large type are read at once.
    pub parallel: usize,
}

impl Default for ReadSettings {
    fn default() -> ReadSettings {
        ReadSettings {
            incremental: true,
            lookback: Duration::from_secs(600),
            full_every: Duration::from_secs(7 * 86_400),
            bulk_threshold: 50_000,
            parallel: 6,
        }
    }
}

/// What to do with an item whose record is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMissing {
    /// Leave it as it is.
    Keep,
    /// Make it private.
    Reject,
    /// Remove it from the catalog.
    Delete,
}

/// One entry of `[types.fields]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMapping {
    /// The local name: a column of the type's view.
    pub name: String,
    /// Where the value comes from.
    pub source: FieldSource,
}

/// Where a mapped field's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldSource {
    /// A field of the record or of a parent, such as `Account.Name`.
    Value { path: String, kind: ValueKind },
    /// A child relationship read as a subquery, giving an array of objects.
    Children {
        relationship: String,
        criteria: Option<String>,
        fields: Vec<FieldMapping>,
    },
}

/// How a value is converted for the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// Converted by the shape of the JSON Salesforce sends.
    Auto,
    /// Text, kept as it came.
    String,
    /// A single picklist value.
    Picklist,
    /// Values joined with `;`, stored as an array.
    Multipicklist,
    /// `YYYY-MM-DD`.
    Date,
    /// Stored as RFC 3339 in UTC.
    Datetime,
    /// A JSON boolean.
    Boolean,
    /// A JSON number.
    Number,
    /// A compound address, stored as an object.
    Address,
}

/// A `[[hooks]]` entry.
#[derive(Debug, Clone)]
pub struct HookConfig {
    /// Run with `sh -c`, events as JSON lines on stdin.
    pub command: String,
    /// Only these event kinds; empty means all.
    pub kinds: Vec<String>,
    /// Only these types; empty means all.
    pub types: Vec<String>,
}

/// The event kinds a hook may filter on.
pub const EVENT_KINDS: &[&str] = &[
    "created",
    "updated",
    "published",
    "not_found",
    "rejected",
    "deleted",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    salesforce: RawSalesforce,
    #[serde(default)]
    catalog: RawCatalog,
    #[serde(default)]
    sync: RawSync,
    #[serde(default)]
    picklists: RawPicklists,
    #[serde(default)]
    serve: RawServe,
    #[serde(default)]
    types: Vec<RawType>,
    #[serde(default)]
    hooks: Vec<RawHook>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSalesforce {
    login_url: Option<Spanned<String>>,
    instance_url: Option<Spanned<String>>,
    api_version: Option<Spanned<String>>,
    auth: AuthFlow,
    client_id: Option<String>,
    username: Option<String>,
    ca_file: Option<String>,
    timeout_secs: Option<u64>,
    max_retries: Option<u32>,
    retry_delay_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    path: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSync {
    max_missing: Option<Spanned<toml::Value>>,
    incremental: Option<bool>,
    lookback: Option<Spanned<String>>,
    full_every: Option<Spanned<String>>,
    bulk_threshold: Option<u64>,
    parallel: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPicklists {
    max_age: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServe {
    listen: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawType {
    name: Spanned<String>,
    sobject: Option<Spanned<String>>,
    criteria: Option<String>,
    order_by: Option<String>,
    container: Option<String>,
    title: Option<Spanned<String>>,
    on_update: Option<Spanned<String>>,
    on_missing: Option<OnMissing>,
    max_missing: Option<Spanned<toml::Value>>,
    incremental: Option<bool>,
    lookback: Option<Spanned<String>>,
    full_every: Option<Spanned<String>>,
    bulk_threshold: Option<u64>,
    parallel: Option<Spanned<u64>>,
    #[serde(default)]
    fields: IndexMap<String, Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    command: Spanned<String>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    types: Vec<String>,
}

impl Config {
    /// Reads and checks the configuration file at `file`.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
            file: file.to_path_buf(),
            line: None,
            message: format!("cannot read the configuration: {e}"),
        })?;
        Config::parse(file, &text)
    }

    /// Checks configuration text that was read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let checker = Checker { file, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| checker.toml_error(&e))?;
        checker.validate(raw)
    }

    /// The type called `name`, compared without regard to case.
    pub fn find_type(&self, name: &str) -> Option<&TypeConfig> {
        self.types
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }
}

impl TypeConfig {
    /// Every field of this type that holds picklist values, with its kind.
    pub fn picklist_fields(&self) -> impl Iterator<Item = (&str, ValueKind)> {
        self.fields.iter().filter_map(|f| match &f.source {
            FieldSource::Value { path, kind }
                if matches!(kind, ValueKind::Picklist | ValueKind::Multipicklist) =>
            {
                Some((path.as_str(), *kind))
            }
            _ => None,
        })
    }
}

/// Turns raw structs into a [`Config`], knowing the text for line numbers.
struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn error(&self, span: Option<std::ops::Range<usize>>, message: String) -> ConfigError {
        let line = span.map(|s| line_of(self.text, s.start));
        ConfigError {
            file: self.file.to_path_buf(),
            line,
            message,
        }
    }

    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let mut message = e.message().trim_end_matches('\n').to_string();
        if let Some((key, var)) = SECRET_KEYS
            .iter()
            .find(|(k, _)| message.contains(&format!("unknown field `{k}`")))
        {
            message = format!("`{key}` does not belong in the configuration: secrets come from the environment (`{var}`)");
        }
        self.error(e.span(), message)
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let salesforce = self.salesforce(raw.salesforce)?;
        let default_max_missing = match &raw.sync.max_missing {
            Some(v) => self.fraction("sync.max_missing", v)?,
            None => 0.5,
        };
        let base = ReadSettings::default();
        let s = &raw.sync;
        let read = self.read_settings(
            "sync",
            base,
            s.incremental,
            &s.lookback,
            &s.full_every,
            s.bulk_threshold,
            &s.parallel,
        )?;
        let types = self.types(raw.types, default_max_missing, read)?;
        let hooks = self.hooks(raw.hooks, &types)?;
        let picklist_max_age = match raw.picklists.max_age {
            Some(age) => parse_duration(age.get_ref()).ok_or_else(|| {
                self.error(
                    Some(age.span()),
                    format!("`picklists.max_age`: `{}` is not a duration such as `24h`, `90m` or `3600s`", age.get_ref()),
                )
            })?,
            None => Duration::from_secs(24 * 3600),
        };
        Ok(Config {
            file: self.file.to_path_buf(),
            catalog_path: self.relative(raw.catalog.path.as_deref().unwrap_or(DEFAULT_CATALOG)),
            salesforce,
            types,
            hooks,
            picklist_max_age,
            serve_listen: raw
                .serve
                .listen
                .unwrap_or_else(|| "127.0.0.1:8765".to_string()),
        })
    }

    /// A path from the file, relative to the file's folder.
    fn relative(&self, path: &str) -> PathBuf {
        let dir = self.file.parent().unwrap_or(Path::new(""));
        dir.join(path)
    }

    fn salesforce(&self, raw: RawSalesforce) -> Result<SalesforceConfig, ConfigError> {
        let login_url = match &raw.login_url {
            Some(u) => self.url("salesforce.login_url", u)?,
            None => Url::parse("https://login.salesforce.com")
                .map_err(|e| self.error(None, e.to_string()))?,
        };
        self.require_auth_keys(&raw, raw.instance_url.is_some())?;
        let instance_url = raw
            .instance_url
            .as_ref()
            .map(|u| self.url("salesforce.instance_url", u))
            .transpose()?;
        let api_version = match raw.api_version {
            Some(v) if is_api_version(v.get_ref()) => v.into_inner(),
            Some(v) => {
                return Err(self.error(
                    Some(v.span()),
                    format!(
                        "`salesforce.api_version`: `{}` is not a version such as `62.0`",
                        v.get_ref()
                    ),
                ))
            }
            None => DEFAULT_API_VERSION.to_string(),
        };
        Ok(SalesforceConfig {
            login_url,
            instance_url,
            api_version,
            auth: raw.auth,
            client_id: raw.client_id,
            username: raw.username,
            ca_file: raw.ca_file.as_deref().map(|p| self.relative(p)),
            timeout: Duration::from_secs(raw.timeout_secs.unwrap_or(120)),
            max_retries: raw.max_retries.unwrap_or(4),
            retry_delay: Duration::from_millis(raw.retry_delay_ms.unwrap_or(1000)),
        })
    }

    /// Each flow needs some keys of the file; say which is missing.
    fn require_auth_keys(
        &self,
        raw: &RawSalesforce,
        has_instance: bool,
    ) -> Result<(), ConfigError> {
        let flow = match raw.auth {
            AuthFlow::Password => "password",
            AuthFlow::RefreshToken => "refresh_token",
            AuthFlow::ClientCredentials => "client_credentials",
            AuthFlow::Jwt => "jwt",
            AuthFlow::AccessToken => "access_token",
        };
        let needs_client = raw.auth != AuthFlow::AccessToken;
        let needs_user = matches!(raw.auth, AuthFlow::Password | AuthFlow::Jwt);
        let needs_instance = matches!(
            raw.auth,
            AuthFlow::AccessToken | AuthFlow::ClientCredentials
        );
        let missing = if needs_client && raw.client_id.is_none() {
            Some("client_id")
        } else if needs_user && raw.username.is_none() {
            Some("username")
        } else if needs_instance && !has_instance {
            Some("instance_url")
        } else {
            None
        };
        match missing {
            Some(key) => Err(self.error(
                None,
                format!("`salesforce.{key}` is required when `auth = \"{flow}\"`"),
            )),
            None => Ok(()),
        }
    }

    /// A URL that is https, or http on a loopback host only.
    fn url(&self, key: &str, raw: &Spanned<String>) -> Result<Url, ConfigError> {
        let bad = |why: &str| self.error(Some(raw.span()), format!("`{key}`: {why}"));
        let url = Url::parse(raw.get_ref()).map_err(|e| bad(&format!("not a URL ({e})")))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(bad(
                    "http:// is refused for anything but a loopback host; use https://",
                ))
            }
            other => return Err(bad(&format!("scheme `{other}` is not https"))),
        }
        if url.host_str().is_none() {
            return Err(bad("the URL names no host"));
        }
        Ok(url)
    }

    fn fraction(&self, key: &str, raw: &Spanned<toml::Value>) -> Result<f64, ConfigError> {
        let value = match raw.get_ref() {
            toml::Value::Float(f) => Some(*f),
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::String(s) => s
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .map(|n| n / 100.0),
            _ => None,
        };
        match value {
            Some(v) if (0.0..=1.0).contains(&v) => Ok(v),
            _ => Err(self.error(
                Some(raw.span()),
                format!("`{key}` must be a fraction from 0 to 1 or a percentage such as \"50%\""),
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn read_settings(
        &self,
        key: &str,
        base: ReadSettings,
        incremental: Option<bool>,
        lookback: &Option<Spanned<String>>,
        full_every: &Option<Spanned<String>>,
        bulk_threshold: Option<u64>,
        parallel: &Option<Spanned<u64>>,
    ) -> Result<ReadSettings, ConfigError> {
        let duration = |name: &str, raw: &Option<Spanned<String>>, default: Duration| match raw {
            None => Ok(default),
            Some(v) => parse_duration(v.get_ref()).ok_or_else(|| {
                self.error(
                    Some(v.span()),
                    format!(
                        "`{key}.{name}`: `{}` is not a duration such as `10m`, `24h` or `7d`",
                        v.get_ref()
                    ),
                )
            }),
        };
        let parallel = match parallel {
            None => base.parallel,
            // Salesforce keeps at most 10 query cursors open per user; each
            // range holds one, and a sync-one or a check may want another.
            Some(p) if (1..=MAX_PARALLEL).contains(p.get_ref()) => *p.get_ref() as usize,
            Some(p) => {
                return Err(self.error(
                    Some(p.span()),
                    format!(
                        "`{key}.parallel` must be from 1 to {MAX_PARALLEL}: Salesforce keeps at \
                         most 10 query cursors open per user"
                    ),
                ))
            }
        };
        Ok(ReadSettings {
            incremental: incremental.unwrap_or(base.incremental),
            lookback: duration("lookback", lookback, base.lookback)?,
            full_every: duration("full_every", full_every, base.full_every)?,
            bulk_threshold: bulk_threshold.unwrap_or(base.bulk_threshold),
            parallel,
        })
    }

    fn types(
        &self,
        raw: Vec<RawType>,
        default_max_missing: f64,
        read: ReadSettings,
    ) -> Result<Vec<TypeConfig>, ConfigError> {
        if raw.is_empty() {
            return Err(self.error(
                None,
                "no `[[types]]` are configured: there is nothing to sync".into(),
            ));
        }
        let mut seen = HashSet::new();
        let mut types = Vec::with_capacity(raw.len());
        for (index, t) in raw.into_iter().enumerate() {
            let name = t.name.get_ref().clone();
            if !is_identifier(&name) {
                return Err(self.error(
                    Some(t.name.span()),
                    format!("`types[{index}].name`: `{name}` must be letters, digits and `_`, starting with a letter"),
                ));
            }
            if RESERVED_TYPE_NAMES.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(self.error(
                    Some(t.name.span()),
                    format!("`types[{index}].name`: `{name}` is the name of one of the catalog's own tables; choose another"),
                ));
            }
            if !seen.insert(name.to_ascii_lowercase()) {
                return Err(self.error(
                    Some(t.name.span()),
                    format!("`types[{index}].name`: the type `{name}` is defined twice"),
                ));
            }
            types.push(self.one_type(index, t, default_max_missing, read)?);
        }
        Ok(types)
    }

    fn one_type(
        &self,
        index: usize,
        t: RawType,
        default_max_missing: f64,
        read: ReadSettings,
    ) -> Result<TypeConfig, ConfigError> {
        let name = t.name.get_ref().clone();
        let key = |k: &str| format!("`types[{index}].{k}` (type `{name}`)");
        let sobject = t.sobject.ok_or_else(|| {
            self.error(
                Some(t.name.span()),
                format!("{} is missing", key("sobject")),
            )
        })?;
        if !is_identifier(sobject.get_ref()) {
            return Err(self.error(
                Some(sobject.span()),
                format!(
                    "{}: `{}` is not an SObject name",
                    key("sobject"),
                    sobject.get_ref()
                ),
            ));
        }
        let title = match t.title {
            Some(title) if is_field_path(title.get_ref()) => Some(title.into_inner()),
            Some(title) => {
                return Err(self.error(
                    Some(title.span()),
                    format!(
                        "{}: `{}` is not a SOQL field path",
                        key("title"),
                        title.get_ref()
                    ),
                ))
            }
            None => None,
        };
        let publish = match t.on_update {
            None => false,
            Some(v) => match v.get_ref().as_str() {
                "none" => false,
                "publish" => true,
                other => {
                    return Err(self.error(
                        Some(v.span()),
                        format!(
                            "{}: `{other}` is not one of `none`, `publish`",
                            key("on_update")
                        ),
                    ))
                }
            },
        };
        let max_missing = match &t.max_missing {
            Some(v) => self.fraction(&format!("types[{index}].max_missing"), v)?,
            None => default_max_missing,
        };
        let fields = self.fields(&key("fields"), t.fields)?;
        let read = self.read_settings(
            &format!("types[{index}]"),
            read,
            t.incremental,
            &t.lookback,
            &t.full_every,
            t.bulk_threshold,
            &t.parallel,
        )?;
        Ok(TypeConfig {
            read,
            container: t.container.unwrap_or_else(|| name.to_ascii_lowercase()),
            name,
            sobject: sobject.into_inner(),
            criteria: t.criteria.filter(|c| !c.trim().is_empty()),
            order_by: t.order_by.filter(|c| !c.trim().is_empty()),
            title,
            publish,
            on_missing: t.on_missing.unwrap_or(OnMissing::Keep),
            max_missing,
            fields,
        })
    }

    fn fields(
        &self,
        key: &str,
        raw: IndexMap<String, Spanned<toml::Value>>,
    ) -> Result<Vec<FieldMapping>, ConfigError> {
        let mut names = HashSet::new();
        let mut fields = Vec::with_capacity(raw.len());
        for (name, value) in raw {
            let at = Some(value.span());
            let here = format!("{key}: field `{name}`");
            if !is_identifier(&name)
                || RESERVED_COLUMNS.contains(&name.to_ascii_lowercase().as_str())
            {
                return Err(self.error(
                    at,
                    format!(
                        "{here}: the local name must be letters, digits and `_`, and not one of {}",
                        RESERVED_COLUMNS.join(", ")
                    ),
                ));
            }
            if !names.insert(name.to_ascii_lowercase()) {
                return Err(self.error(at, format!("{here} is mapped twice")));
            }
            let source = field_source(value.get_ref(), true)
                .map_err(|m| self.error(at.clone(), format!("{here}: {m}")))?;
            fields.push(FieldMapping { name, source });
        }
        Ok(fields)
    }

    fn hooks(
        &self,
        raw: Vec<RawHook>,
        types: &[TypeConfig],
    ) -> Result<Vec<HookConfig>, ConfigError> {
        raw.into_iter()
            .enumerate()
            .map(|(i, h)| {
                let at = Some(h.command.span());
                if h.command.get_ref().trim().is_empty() {
                    return Err(self.error(at, format!("`hooks[{i}].command` is empty")));
                }
                if let Some(k) = h.kinds.iter().find(|k| !EVENT_KINDS.contains(&k.as_str())) {
                    return Err(self.error(
                        at,
                        format!(
                            "`hooks[{i}].kinds`: `{k}` is not one of {}",
                            EVENT_KINDS.join(", ")
                        ),
                    ));
                }
                if let Some(t) = h
                    .types
                    .iter()
                    .find(|t| !types.iter().any(|c| c.name.eq_ignore_ascii_case(t)))
                {
                    return Err(
                        self.error(at, format!("`hooks[{i}].types`: no type is called `{t}`"))
                    );
                }
                Ok(HookConfig {
                    command: h.command.into_inner(),
                    kinds: h.kinds,
                    types: h.types,
                })
            })
            .collect()
    }
}

/// Reads one `[types.fields]` value: a path, or a table.
fn field_source(value: &toml::Value, allow_children: bool) -> Result<FieldSource, String> {
    match value {
        toml::Value::String(path) => value_source(path, ValueKind::Auto),
        toml::Value::Table(table) if table.contains_key("relationship") => {
            if !allow_children {
                return Err("a child subquery cannot nest another".into());
            }
            children_source(table)
        }
        toml::Value::Table(table) => {
            only_keys(table, &["sf", "type"])?;
            let path = match table.get("sf") {
                Some(toml::Value::String(p)) => p,
                _ => return Err("a table needs `sf = \"Field__c\"` (or `relationship = ...` for a child subquery)".into()),
            };
            let kind = match table.get("type") {
                None => ValueKind::Auto,
                Some(toml::Value::String(k)) => parse_kind(k)?,
                Some(_) => return Err("`type` must be a string".into()),
            };
            value_source(path, kind)
        }
        _ => Err("must be a Salesforce field path such as `Account.Name`, or a table".into()),
    }
}

fn value_source(path: &str, kind: ValueKind) -> Result<FieldSource, String> {
    if !is_field_path(path) {
        return Err(format!("`{path}` is not a SOQL field path"));
    }
    Ok(FieldSource::Value {
        path: path.to_string(),
        kind,
    })
}

fn children_source(table: &toml::Table) -> Result<FieldSource, String> {
    only_keys(table, &["relationship", "criteria", "fields"])?;
    let relationship =
        match table.get("relationship") {
            Some(toml::Value::String(r)) if is_identifier(r) => r.clone(),
            _ => return Err(
                "`relationship` must name a child relationship such as `OpportunityContactRoles`"
                    .into(),
            ),
        };
    let criteria = match table.get("criteria") {
        None => None,
        Some(toml::Value::String(c)) => Some(c.clone()).filter(|c| !c.trim().is_empty()),
        Some(_) => return Err("`criteria` must be a string".into()),
    };
    let Some(toml::Value::Table(inner)) = table.get("fields") else {
        return Err("a child subquery needs `fields = { local = \"Field\" }`".into());
    };
    if inner.is_empty() {
        return Err("a child subquery needs at least one field".into());
    }
    let mut fields = Vec::with_capacity(inner.len());
    for (name, value) in inner {
        if !is_identifier(name) {
            return Err(format!("`{name}` must be letters, digits and `_`"));
        }
        let source = field_source(value, false).map_err(|m| format!("`{name}`: {m}"))?;
        fields.push(FieldMapping {
            name: name.clone(),
            source,
        });
    }
    Ok(FieldSource::Children {
        relationship,
        criteria,
        fields,
    })
}

fn only_keys(table: &toml::Table, allowed: &[&str]) -> Result<(), String> {
    match table.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown key `{k}`, expected one of {}",
            allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => Ok(()),
    }
}

fn parse_kind(raw: &str) -> Result<ValueKind, String> {
    let kind = match raw {
        "auto" => ValueKind::Auto,
        "string" | "text" => ValueKind::String,
        "picklist" => ValueKind::Picklist,
        "multipicklist" => ValueKind::Multipicklist,
        "date" => ValueKind::Date,
        "datetime" => ValueKind::Datetime,
        "boolean" => ValueKind::Boolean,
        "number" => ValueKind::Number,
        "address" => ValueKind::Address,
        other => {
            return Err(format!(
                "`type = \"{other}\"` is not one of auto, string, picklist, multipicklist, date, datetime, boolean, number, address"
            ))
        }
    };
    Ok(kind)
}

/// A SOQL identifier: a letter, then letters, digits and underscores.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 80
}

/// A dotted path of identifiers, such as `Account.Owner.Name`.
pub fn is_field_path(s: &str) -> bool {
    s.split('.').count() <= 6 && s.split('.').all(is_identifier)
}

fn is_api_version(s: &str) -> bool {
    match s.split_once('.') {
        Some((major, minor)) => {
            !major.is_empty()
                && major.len() <= 3
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.len() == 1
                && minor.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Whether a URL points at this machine, the only place plain http is allowed.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses `90s`, `15m`, `24h` or `7d`.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[salesforce]
login_url = "https://login.salesforce.com"
auth = "password"
client_id = "abc"
username = "u@example.com"

[[types]]
name = "Contact"
sobject = "Contact"
criteria = "Email != null"
title = "Name"
on_update = "publish"
on_missing = "reject"
[types.fields]
name = "Name"
account_name = "Account.Name"
industries = { sf = "Industries__c", type = "multipicklist" }
roles = { relationship = "OpportunityContactRoles", criteria = "IsPrimary = true", fields = { role = "Role", contact = "Contact.Name" } }
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/sfsync/sync.toml"), text)
    }

    #[test]
    fn a_full_example_parses() {
        let config = parse(BASE).unwrap();
        assert_eq!(config.catalog_path, Path::new("/etc/sfsync/catalog.db"));
        let t = &config.types[0];
        assert_eq!(t.container, "contact");
        assert!(t.publish);
        assert_eq!(t.on_missing, OnMissing::Reject);
        assert_eq!(t.max_missing, 0.5);
        let names: Vec<_> = t.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["name", "account_name", "industries", "roles"]);
        assert!(
            matches!(&t.fields[3].source, FieldSource::Children { fields, .. } if fields.len() == 2)
        );
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = BASE.replace(
            "criteria = \"Email",
            "colour = \"blue\"\ncriteria = \"Email",
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, Some(11));
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn a_secret_in_the_file_is_refused_without_echoing_it() {
        let text = BASE.replace("auth =", "password = \"hunter2\"\nauth =");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("SFSYNC_PASSWORD"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn missing_sobject_and_duplicates_are_refused() {
        let err = parse(&BASE.replace("sobject = \"Contact\"\n", "")).unwrap_err();
        assert!(
            err.to_string()
                .contains("`types[0].sobject` (type `Contact`) is missing"),
            "{err}"
        );
        let twice = format!("{BASE}\n[[types]]\nname = \"contact\"\nsobject = \"Lead\"\n");
        let err = parse(&twice).unwrap_err();
        assert!(err.to_string().contains("defined twice"), "{err}");
        assert_eq!(err.line, Some(22));
    }

    #[test]
    fn bad_field_paths_are_refused() {
        for bad in [
            "\"Account Name\"",
            "\"Account..Name\"",
            "\"Name; DROP\"",
            "42",
        ] {
            let text = BASE.replace("\"Account.Name\"", bad);
            let err = parse(&text).unwrap_err();
            assert!(
                err.to_string().contains("field `account_name`"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let text = BASE.replace(
            "https://login.salesforce.com",
            "http://login.salesforce.com",
        );
        assert!(parse(&text).unwrap_err().to_string().contains("http://"));
        let text = BASE.replace("https://login.salesforce.com", "http://127.0.0.1:9999");
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn fractions_and_durations() {
        let text = BASE.replace(
            "on_missing = \"reject\"",
            "on_missing = \"reject\"\nmax_missing = \"20%\"",
        );
        assert_eq!(parse(&text).unwrap().types[0].max_missing, 0.2);
        let text = BASE.replace(
            "on_missing = \"reject\"",
            "on_missing = \"reject\"\nmax_missing = 2",
        );
        assert!(parse(&text).is_err());
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("15 m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn ids_of_18_chars_are_identifiers_and_paths() {
        assert!(is_field_path("Account.Owner.Name"));
        assert!(is_field_path("Industries__c"));
        assert!(!is_field_path("_x"));
        assert!(!is_field_path(""));
    }
}
