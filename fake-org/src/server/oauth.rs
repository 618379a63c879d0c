//! The OAuth2 token endpoint (password, refresh token, client credentials
//! and JWT bearer grants) and the bearer-token check on data requests.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine as _;
use serde_json::json;

use super::{lock, Shared};

/// TEST-ONLY private key for the JWT bearer grant. It is committed in
/// `data/jwt-test-key.pem` and so is public: never trust it anywhere else.
pub const JWT_TEST_PRIVATE_KEY_PEM: &str = include_str!("../../data/jwt-test-key.pem");

/// The public half of [`JWT_TEST_PRIVATE_KEY_PEM`], which the fake org
/// verifies JWT assertions with by default.
pub const JWT_TEST_PUBLIC_KEY_PEM: &str = include_str!("../../data/jwt-test-key.pub.pem");

/// What the token endpoint accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    /// The password with the security token appended, as clients send it.
    pub password: String,
    pub refresh_token: String,
    /// Public key JWT assertions must be signed with (RS256).
    pub jwt_public_key_pem: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            username: "integration@example.com".into(),
            password: "fake-passwordfake-token".into(),
            refresh_token: "fake-refresh-token".into(),
            jwt_public_key_pem: JWT_TEST_PUBLIC_KEY_PEM.into(),
        }
    }
}

/// The audiences a JWT assertion may name, besides the org's own URL.
const AUDIENCES: [&str; 2] = [
    "https://login.salesforce.com",
    "https://test.salesforce.com",
];

/// An OAuth error body, `{"error":..,"error_description":..}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// `POST /services/oauth2/token`.
pub async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(params)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "invalid request body",
        );
    };
    let basic = basic_auth(&headers);
    let grant = params.get("grant_type").map(String::as_str).unwrap_or("");
    log::debug!("token request with grant `{grant}`");
    match grant {
        "password" => password_grant(&shared, &params),
        "refresh_token" => refresh_grant(&shared, &params, basic),
        "client_credentials" => client_credentials_grant(&shared, &params, basic),
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => jwt_grant(&shared, &params),
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant type not supported",
        ),
    }
}

/// The client id and secret from `Authorization: Basic`, when present.
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Checks a client id, and a client secret when one is required or given.
fn check_client(
    shared: &Shared,
    id: Option<&str>,
    secret: Option<&str>,
    secret_required: bool,
) -> Result<(), Response> {
    let expected = &shared.credentials;
    if id != Some(expected.client_id.as_str()) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_id",
            "client identifier invalid",
        ));
    }
    match secret {
        Some(s) if s != expected.client_secret => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "invalid client credentials",
        )),
        None if secret_required => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "invalid client credentials",
        )),
        _ => Ok(()),
    }
}

fn param<'a>(params: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    params.get(key).map(String::as_str)
}

fn password_grant(shared: &Shared, params: &HashMap<String, String>) -> Response {
    let client = check_client(
        shared,
        param(params, "client_id"),
        param(params, "client_secret"),
        true,
    );
    if let Err(response) = client {
        return response;
    }
    let expected = &shared.credentials;
    if param(params, "username") != Some(&expected.username)
        || param(params, "password") != Some(&expected.password)
    {
        return invalid_grant("authentication failure");
    }
    issue(shared)
}

/// The client id and secret, from HTTP Basic when sent, else from the form.
fn client_pair<'a>(
    params: &'a HashMap<String, String>,
    basic: &'a Option<(String, String)>,
) -> (Option<&'a str>, Option<&'a str>) {
    match basic {
        Some((id, secret)) => (Some(id.as_str()), Some(secret.as_str())),
        None => (param(params, "client_id"), param(params, "client_secret")),
    }
}

fn refresh_grant(
    shared: &Shared,
    params: &HashMap<String, String>,
    basic: Option<(String, String)>,
) -> Response {
    let (id, secret) = client_pair(params, &basic);
    if let Err(response) = check_client(shared, id, secret, false) {
        return response;
    }
    if param(params, "refresh_token") != Some(&shared.credentials.refresh_token) {
        return invalid_grant("expired access/refresh token");
    }
    issue(shared)
}

fn client_credentials_grant(
    shared: &Shared,
    params: &HashMap<String, String>,
    basic: Option<(String, String)>,
) -> Response {
    let (id, secret) = client_pair(params, &basic);
    if let Err(response) = check_client(shared, id, secret, true) {
        return response;
    }
    issue(shared)
}

#[derive(Debug, serde::Deserialize)]
struct Claims {
    #[allow(dead_code)]
    exp: u64,
}

fn jwt_grant(shared: &Shared, params: &HashMap<String, String>) -> Response {
    use jsonwebtoken::errors::ErrorKind;
    let Some(assertion) = param(params, "assertion") else {
        return invalid_grant("invalid assertion");
    };
    let Ok(key) =
        jsonwebtoken::DecodingKey::from_rsa_pem(shared.credentials.jwt_public_key_pem.as_bytes())
    else {
        log::warn!("the configured JWT public key is not a PEM RSA key");
        return invalid_grant("invalid assertion");
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    let mut audiences: Vec<&str> = AUDIENCES.to_vec();
    audiences.push(shared.base_url());
    validation.set_audience(&audiences);
    validation.set_issuer(&[&shared.credentials.client_id]);
    validation.sub = Some(shared.credentials.username.clone());
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
        Ok(_) => issue(shared),
        Err(e) => match e.kind() {
            ErrorKind::InvalidAudience => invalid_grant("audience is invalid"),
            ErrorKind::InvalidIssuer => oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_id",
                "client identifier invalid",
            ),
            ErrorKind::ExpiredSignature => invalid_grant("expired authorization code"),
            ErrorKind::InvalidSubject => invalid_grant("user hasn't approved this consumer"),
            _ => invalid_grant("invalid assertion"),
        },
    }
}

/// Issues a new access token and answers like Salesforce does.
fn issue(shared: &Shared) -> Response {
    let token = mint_token(shared);
    let issued_at = crate::clock::wall_millis().to_string();
    let base = shared.base_url();
    let user = crate::org::default_user_id();
    let id = format!("{base}/id/{}/{user}", shared.org_id);
    let signature =
        base64::engine::general_purpose::STANDARD.encode(format!("{id}{issued_at}").as_bytes());
    Json(json!({
        "access_token": token,
        "signature": signature,
        "scope": "api",
        "instance_url": base,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
    }))
    .into_response()
}

/// Makes an access token shaped like Salesforce's: `00D...!` plus noise.
fn mint_token(shared: &Shared) -> String {
    let mut sessions = lock(&shared.sessions);
    sessions.issued += 1;
    let seed =
        crate::clock::wall_millis() as u64 ^ sessions.issued.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let noise: String = (0..6)
        .map(|i| format!("{:016x}", splitmix(seed.wrapping_add(i))))
        .collect();
    let token = format!("{}!AQ{}.{noise}", &shared.org_id[..15], sessions.issued);
    sessions.tokens.insert(token.clone());
    sessions.history.push(token.clone());
    token
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// True when the request carries a live access token; counts the request
/// against a pending "expire after K requests".
pub fn check_bearer(shared: &Shared, headers: &HeaderMap) -> bool {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("OAuth "))
        })
        .map(str::trim);
    let mut sessions = lock(&shared.sessions);
    if !token.is_some_and(|t| sessions.tokens.contains(t)) {
        return false;
    }
    match sessions.expire_after {
        Some(0) => {
            sessions.tokens.clear();
            sessions.expire_after = None;
            false
        }
        Some(k) => {
            sessions.expire_after = Some(k - 1);
            true
        }
        None => true,
    }
}

/// Forgets every issued token.
pub fn expire_all(shared: &Shared) {
    let mut sessions = lock(&shared.sessions);
    sessions.tokens.clear();
    sessions.expire_after = None;
}

/// Lets `k` more authenticated data requests through, then expires every
/// token issued so far.
pub fn expire_after(shared: &Shared, k: usize) {
    lock(&shared.sessions).expire_after = Some(k);
}
