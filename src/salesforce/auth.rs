//! Logging in: the OAuth flows, and the secrets they take from the environment.
//!
//! Secrets live in [`Secret`], whose `Debug` and `Display` print a mask, so
//! that no log line or error built from these values can carry one.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use url::Url;

use super::error::SfError;
use crate::config::{is_loopback, AuthFlow, SalesforceConfig};

/// A credential that must never be shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The secrets the configured flow needs, read from the environment.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    client_secret: Option<Secret>,
    password: Option<Secret>,
    refresh_token: Option<Secret>,
    jwt_key_pem: Option<Secret>,
    access_token: Option<Secret>,
}

impl Secrets {
    /// Reads what `flow` needs; a required variable that is unset or empty
    /// is an error naming it.
    pub fn from_env(flow: AuthFlow) -> Result<Secrets, SfError> {
        let mut s = Secrets {
            client_secret: optional("SFSYNC_CLIENT_SECRET"),
            ..Secrets::default()
        };
        match flow {
            AuthFlow::Password => {
                s.client_secret = Some(required("SFSYNC_CLIENT_SECRET", "password")?);
                s.password = Some(required("SFSYNC_PASSWORD", "password")?);
            }
            AuthFlow::RefreshToken => {
                s.refresh_token = Some(required("SFSYNC_REFRESH_TOKEN", "refresh_token")?);
            }
            AuthFlow::ClientCredentials => {
                s.client_secret = Some(required("SFSYNC_CLIENT_SECRET", "client_credentials")?);
            }
            AuthFlow::Jwt => {
                let path = required("SFSYNC_JWT_KEY_FILE", "jwt")?;
                let pem = std::fs::read_to_string(path.expose()).map_err(|e| {
                    SfError::Setup(format!(
                        "cannot read the JWT signing key named by `SFSYNC_JWT_KEY_FILE`: {e}"
                    ))
                })?;
                s.jwt_key_pem = Some(Secret::new(pem));
            }
            AuthFlow::AccessToken => {
                s.access_token = Some(required("SFSYNC_ACCESS_TOKEN", "access_token")?);
            }
        }
        Ok(s)
    }

    /// The given access token, for `auth = "access_token"`.
    pub fn access_token(&self) -> Option<&Secret> {
        self.access_token.as_ref()
    }

    /// Secrets holding only an access token, for tests of the client.
    #[cfg(test)]
    pub(crate) fn given_token(token: String) -> Secrets {
        Secrets {
            access_token: Some(Secret::new(token)),
            ..Secrets::default()
        }
    }
}

fn optional(var: &str) -> Option<Secret> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

fn required(var: &str, flow: &str) -> Result<Secret, SfError> {
    optional(var).ok_or_else(|| {
        SfError::Setup(format!(
            "the environment variable `{var}` is not set; `auth = \"{flow}\"` needs it"
        ))
    })
}

/// A logged-in session: the bearer token and the host that accepts it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The bearer token.
    pub access_token: Secret,
    /// Where data requests go.
    pub instance_url: Url,
}

/// What the token endpoint answers on success.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    instance_url: Option<String>,
}

/// What the token endpoint answers on failure.
#[derive(Deserialize)]
struct TokenRefusal {
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
}

/// Where the flow's token request goes and what it sends.
pub(crate) struct TokenRequest {
    pub url: Url,
    pub form: Vec<(&'static str, String)>,
    pub basic: Option<(String, String)>,
}

/// Builds the token request of the configured flow, or `None` for a given token.
pub(crate) fn token_request(
    cfg: &SalesforceConfig,
    secrets: &Secrets,
) -> Result<Option<TokenRequest>, SfError> {
    let client_id = cfg.client_id.clone().unwrap_or_default();
    let secret = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_string());
    let login = token_url(&cfg.login_url)?;
    let request = match cfg.auth {
        AuthFlow::AccessToken => return Ok(None),
        AuthFlow::Password => TokenRequest {
            url: login,
            form: vec![
                ("grant_type", "password".into()),
                ("client_id", client_id),
                (
                    "client_secret",
                    secret(&secrets.client_secret).unwrap_or_default(),
                ),
                ("username", cfg.username.clone().unwrap_or_default()),
                ("password", secret(&secrets.password).unwrap_or_default()),
            ],
            basic: None,
        },
        AuthFlow::RefreshToken => {
            let mut form = vec![
                ("grant_type", "refresh_token".into()),
                (
                    "refresh_token",
                    secret(&secrets.refresh_token).unwrap_or_default(),
                ),
                ("client_id", client_id),
            ];
            if let Some(s) = secret(&secrets.client_secret) {
                form.push(("client_secret", s));
            }
            TokenRequest {
                url: login,
                form,
                basic: None,
            }
        }
        AuthFlow::ClientCredentials => {
            let host = cfg.instance_url.as_ref().unwrap_or(&cfg.login_url);
            TokenRequest {
                url: token_url(host)?,
                form: vec![("grant_type", "client_credentials".into())],
                basic: Some((
                    client_id,
                    secret(&secrets.client_secret).unwrap_or_default(),
                )),
            }
        }
        AuthFlow::Jwt => TokenRequest {
            url: login,
            form: vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                ),
                ("assertion", jwt_assertion(cfg, secrets)?),
            ],
            basic: None,
        },
    };
    Ok(Some(request))
}

fn token_url(base: &Url) -> Result<Url, SfError> {
    base.join("/services/oauth2/token")
        .map_err(|e| SfError::Setup(format!("cannot form the token URL from `{base}`: {e}")))
}

/// Signs the JWT bearer assertion with RS256.
fn jwt_assertion(cfg: &SalesforceConfig, secrets: &Secrets) -> Result<String, SfError> {
    let pem = secrets
        .jwt_key_pem
        .as_ref()
        .ok_or_else(|| SfError::Setup("no JWT signing key was read".into()))?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|e| {
        SfError::Setup(format!(
            "the key named by `SFSYNC_JWT_KEY_FILE` is not an RSA private key in PEM: {e}"
        ))
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let audience = cfg.login_url.origin().ascii_serialization();
    let claims = JwtClaims {
        iss: cfg.client_id.as_deref().unwrap_or_default(),
        sub: cfg.username.as_deref().unwrap_or_default(),
        aud: &audience,
        exp: now + 180,
    };
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| SfError::Setup(format!("cannot sign the JWT assertion: {e}")))
}

/// Reads a token endpoint answer into a session.
pub(crate) fn read_token_answer(
    status: u16,
    body: &[u8],
    fallback_instance: Option<&Url>,
) -> Result<Session, SfError> {
    if !(200..300).contains(&status) {
        let refusal: Option<TokenRefusal> = serde_json::from_slice(body).ok();
        let description = refusal
            .and_then(|r| r.error_description.or(r.error))
            .unwrap_or_else(|| format!("HTTP {status} from the token endpoint"));
        return Err(SfError::Login { description });
    }
    let answer: TokenAnswer = serde_json::from_slice(body).map_err(|e| {
        SfError::BadResponse(format!("the token answer is not what OAuth sends: {e}"))
    })?;
    let instance_url = match answer.instance_url {
        Some(raw) => checked_instance(&raw)?,
        None => fallback_instance.cloned().ok_or_else(|| {
            SfError::BadResponse("the token answer names no `instance_url`".into())
        })?,
    };
    Ok(Session {
        access_token: Secret::new(answer.access_token),
        instance_url,
    })
}

/// An instance URL from Salesforce must hold to the same https rule as the configuration.
fn checked_instance(raw: &str) -> Result<Url, SfError> {
    let url = Url::parse(raw)
        .map_err(|e| SfError::BadResponse(format!("`instance_url` `{raw}` is not a URL: {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(SfError::BadResponse(format!(
            "`instance_url` `{raw}` is not https; refusing to send the token there"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
    }

    #[test]
    fn refusals_carry_salesforce_words() {
        let body = br#"{"error":"invalid_grant","error_description":"authentication failure"}"#;
        let err = read_token_answer(400, body, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Salesforce refused the login: authentication failure"
        );
    }

    #[test]
    fn a_plain_http_instance_elsewhere_is_refused() {
        let body = br#"{"access_token":"x","instance_url":"http://evil.example.com"}"#;
        assert!(read_token_answer(200, body, None).is_err());
        let body = br#"{"access_token":"x","instance_url":"http://127.0.0.1:8080"}"#;
        assert!(read_token_answer(200, body, None).is_ok());
    }
}
