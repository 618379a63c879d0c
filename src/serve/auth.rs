//! The sync key: who may ask for a sync.
//!
//! The key comes from `SFSYNC_SYNC_KEY`. Only its SHA-256 digest is kept,
//! and a presented token is hashed the same way and compared in constant
//! time, so neither the comparison's duration nor its length tells an
//! attacker anything. Without a key every request is refused.

use std::fmt;

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The environment variable that holds the key.
pub const KEY_VAR: &str = "SFSYNC_SYNC_KEY";

/// The configured sync key, or none: then the sync endpoints are closed.
#[derive(Clone)]
pub struct SyncKey {
    digest: Option<[u8; 32]>,
}

impl SyncKey {
    /// A key from its text; empty text disables the endpoints.
    pub fn new(key: &str) -> SyncKey {
        let digest = (!key.is_empty()).then(|| hash(key));
        SyncKey { digest }
    }

    /// Reads the key from [`KEY_VAR`]; unset or not UTF-8 disables.
    pub fn from_env() -> SyncKey {
        SyncKey::new(&std::env::var(KEY_VAR).unwrap_or_default())
    }

    /// Whether any token can be accepted at all.
    pub fn is_enabled(&self) -> bool {
        self.digest.is_some()
    }

    /// Whether `presented` is the key.
    pub fn accepts(&self, presented: Option<&str>) -> bool {
        match (&self.digest, presented) {
            (Some(digest), Some(token)) => bool::from(hash(token).ct_eq(digest)),
            _ => false,
        }
    }
}

impl fmt::Debug for SyncKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.digest {
            Some(_) => f.write_str("SyncKey(***)"),
            None => f.write_str("SyncKey(disabled)"),
        }
    }
}

fn hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The token of an `Authorization: Bearer` header, if one is sent.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_itself_is_accepted() {
        let key = SyncKey::new("s3cret");
        assert!(key.accepts(Some("s3cret")));
        assert!(!key.accepts(Some("s3cre")));
        assert!(!key.accepts(Some("s3cret ")));
        assert!(!key.accepts(Some("")));
        assert!(!key.accepts(None));
    }

    #[test]
    fn an_empty_key_refuses_everyone_even_an_empty_token() {
        let key = SyncKey::new("");
        assert!(!key.is_enabled());
        assert!(!key.accepts(Some("")));
        assert!(!key.accepts(Some("anything")));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let shown = format!("{:?}", SyncKey::new("s3cret"));
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn a_bearer_header_gives_its_token_whatever_the_scheme_case() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
