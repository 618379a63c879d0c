//! What a sync request asks for, read from its query string and form body.
//!
//! Both are `application/x-www-form-urlencoded`. They are decoded strictly:
//! a `%` not followed by two hex digits, or bytes that are not UTF-8, make
//! the request malformed instead of being guessed at. Keys may repeat, as
//! `types:list` does in the form a Salesforce button builds.

use std::fmt;

use percent_encoding::percent_decode;

use super::error::ServeError;
use crate::config::{Config, TypeConfig};
use crate::ids::SfId;

/// The most key-value pairs one request may carry.
const MAX_PAIRS: usize = 64;

/// Decodes `key=value&key=value` text into its pairs, in order.
pub fn parse_pairs(raw: &str) -> Result<Vec<(String, String)>, ServeError> {
    let mut pairs = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        if pairs.len() == MAX_PAIRS {
            return Err(ServeError::BadRequest(format!(
                "a request may carry at most {MAX_PAIRS} parameters"
            )));
        }
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((decode(key)?, decode(value)?));
    }
    Ok(pairs)
}

/// Decodes one urlencoded component, refusing broken escapes.
fn decode(text: &str) -> Result<String, ServeError> {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let escape_ok = bytes
            .get(i + 1..i + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
        if *b == b'%' && !escape_ok {
            return Err(malformed("a `%` must be followed by two hex digits"));
        }
    }
    let spaced = text.replace('+', " ");
    percent_decode(spaced.as_bytes())
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| malformed("a parameter does not decode to UTF-8"))
}

fn malformed(why: &str) -> ServeError {
    ServeError::BadRequest(format!("malformed parameters: {why}"))
}

/// A sync request's parameters, before they are checked against sync.toml.
#[derive(Default)]
pub struct SyncParams {
    /// The `token` parameter, if any.
    pub token: Option<String>,
    /// Every `types:list` and `type` value, in order.
    pub types: Vec<String>,
    /// The `sf_object_id` parameter, unless empty.
    pub id: Option<String>,
}

impl fmt::Debug for SyncParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncParams")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("types", &self.types)
            .field("id", &self.id)
            .finish()
    }
}

impl SyncParams {
    /// Picks the parameters sfsync knows from `pairs`; others are ignored,
    /// since buttons and flows may add their own.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<SyncParams, ServeError> {
        let mut params = SyncParams::default();
        for (key, value) in pairs {
            let value = value.trim().to_string();
            match key.as_str() {
                "token" => params.token = Some(value).filter(|v| !v.is_empty()),
                "types:list" | "type" if !value.is_empty() => params.types.push(value),
                "sf_object_id" if params.id.is_some() => {
                    return Err(ServeError::BadRequest(
                        "`sf_object_id` may be given once".to_string(),
                    ))
                }
                "sf_object_id" => params.id = Some(value).filter(|v| !v.is_empty()),
                _ => {}
            }
        }
        Ok(params)
    }

    /// The checked id, if one was given.
    pub fn sf_id(&self) -> Result<Option<SfId>, ServeError> {
        let Some(raw) = &self.id else { return Ok(None) };
        SfId::parse(raw)
            .map(Some)
            .map_err(|e| ServeError::BadRequest(e.to_string()))
    }

    /// The configured types the request names, without repeats, in order;
    /// every type when it names none.
    pub fn resolve_types<'c>(&self, config: &'c Config) -> Result<Vec<&'c TypeConfig>, ServeError> {
        if self.types.is_empty() {
            return Ok(config.types.iter().collect());
        }
        let mut found: Vec<&TypeConfig> = Vec::new();
        for name in &self.types {
            let t = resolve_type(config, name)?;
            if !found.iter().any(|f| f.name == t.name) {
                found.push(t);
            }
        }
        Ok(found)
    }
}

/// A type by its name, or by its SObject when exactly one type reads it.
pub fn resolve_type<'c>(config: &'c Config, name: &str) -> Result<&'c TypeConfig, ServeError> {
    if let Some(t) = config.find_type(name) {
        return Ok(t);
    }
    let by_sobject: Vec<_> = config
        .types
        .iter()
        .filter(|t| t.sobject.eq_ignore_ascii_case(name))
        .collect();
    let shown: String = name.chars().filter(|c| !c.is_control()).take(80).collect();
    match by_sobject.as_slice() {
        [t] => Ok(t),
        [] => Err(ServeError::BadRequest(format!(
            "no type and no SObject is called `{shown}`"
        ))),
        many => {
            let names: Vec<_> = many.iter().map(|t| format!("`{}`", t.name)).collect();
            Err(ServeError::BadRequest(format!(
                "SObject `{shown}` feeds several types ({}); name one",
                names.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_colons_survive_decoding() {
        let pairs = parse_pairs("types%3Alist=Contact&types:list=Account&x=a+b%20c").unwrap();
        assert_eq!(
            pairs,
            [
                ("types:list".to_string(), "Contact".to_string()),
                ("types:list".to_string(), "Account".to_string()),
                ("x".to_string(), "a b c".to_string()),
            ]
        );
    }

    #[test]
    fn broken_escapes_and_bad_utf8_are_malformed() {
        for raw in ["token=%zz", "token=%4", "id=%", "token=%ff%fe"] {
            let err = parse_pairs(raw).unwrap_err();
            assert!(matches!(err, ServeError::BadRequest(_)), "{raw}");
        }
    }

    #[test]
    fn too_many_pairs_are_refused() {
        let raw = vec!["a=1"; MAX_PAIRS + 1].join("&");
        assert!(parse_pairs(&raw).is_err());
        let raw = vec!["a=1"; MAX_PAIRS].join("&");
        assert_eq!(parse_pairs(&raw).unwrap().len(), MAX_PAIRS);
    }

    #[test]
    fn known_parameters_are_picked_and_the_token_hidden_from_debug() {
        let pairs = parse_pairs("token=k&type=Contact&types:list=Account&sf_object_id=&utm=1");
        let params = SyncParams::from_pairs(pairs.unwrap()).unwrap();
        assert_eq!(params.token.as_deref(), Some("k"));
        assert_eq!(params.types, ["Contact", "Account"]);
        assert_eq!(params.id, None);
        assert!(!format!("{params:?}").contains("\"k\""));
    }

    #[test]
    fn a_second_id_is_refused() {
        let pairs = parse_pairs("sf_object_id=a&sf_object_id=b").unwrap();
        assert!(SyncParams::from_pairs(pairs).is_err());
    }
}
