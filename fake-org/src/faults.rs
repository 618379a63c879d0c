//! Faults a test can inject into the next requests, and the request log it
//! can read back.

use serde::Serialize;

/// A failure to apply to one upcoming request. Faults fire once each, in
/// the order injected: only the oldest pending fault is considered, and it
/// lets `skip` matching requests pass before firing.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// How many matching requests to let through first.
    pub skip: usize,
    /// Match only requests whose path contains this.
    pub path_contains: Option<String>,
    /// Match only requests whose decoded query string contains this
    /// (`q=SELECT ...` for a query).
    pub query_contains: Option<String>,
    pub kind: FaultKind,
}

/// What an injected fault does to the request it hits.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answers with a Salesforce error body `[{"message","errorCode"}]`.
    Status {
        status: u16,
        error_code: String,
        message: String,
    },
    /// Closes the TCP connection without answering.
    DropConnection,
    /// Sends the real headers with the full Content-Length, half the body,
    /// then closes the connection.
    TruncateBody,
    /// Answers with exactly this status, content type and body.
    ReplaceBody {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// Answers as usual, but only after this long: a query the org is
    /// slow to run.
    Delay(std::time::Duration),
}

impl Fault {
    /// A fault hitting the very next request, whatever its path.
    pub fn new(kind: FaultKind) -> Fault {
        Fault {
            skip: 0,
            path_contains: None,
            query_contains: None,
            kind,
        }
    }

    /// A Salesforce error answer for the next request.
    pub fn status(status: u16, error_code: &str, message: &str) -> Fault {
        Fault::new(FaultKind::Status {
            status,
            error_code: error_code.to_string(),
            message: message.to_string(),
        })
    }

    /// Lets `n` matching requests pass before firing.
    pub fn after(mut self, n: usize) -> Fault {
        self.skip = n;
        self
    }

    /// Fires only on requests whose path contains `fragment`.
    pub fn on_path(mut self, fragment: &str) -> Fault {
        self.path_contains = Some(fragment.to_string());
        self
    }

    /// Fires only on requests whose decoded query string contains
    /// `fragment`, such as one SOQL statement among others on `/query`.
    pub fn on_query(mut self, fragment: &str) -> Fault {
        self.query_contains = Some(fragment.to_string());
        self
    }

    /// 500 `UNKNOWN_EXCEPTION`.
    pub fn server_error() -> Fault {
        Fault::status(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)")
    }

    /// 503 `SERVER_UNAVAILABLE`.
    pub fn unavailable() -> Fault {
        Fault::status(
            503,
            "SERVER_UNAVAILABLE",
            "Server temporarily unavailable, please try again later",
        )
    }

    /// 403 `REQUEST_LIMIT_EXCEEDED`, the daily API budget spent.
    pub fn request_limit_exceeded() -> Fault {
        Fault::status(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
    }

    /// 400 `QUERY_TIMEOUT`.
    pub fn query_timeout() -> Fault {
        Fault::status(
            400,
            "QUERY_TIMEOUT",
            "Your query request was running for too long.",
        )
    }

    /// The usual answer, `d` late.
    pub fn delay(d: std::time::Duration) -> Fault {
        Fault::new(FaultKind::Delay(d))
    }

    /// 400 `INVALID_QUERY_LOCATOR`.
    pub fn invalid_query_locator() -> Fault {
        Fault::status(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    }

    /// Whether this fault applies to a request with this path and raw
    /// query string.
    pub(crate) fn matches(&self, path: &str, query: Option<&str>) -> bool {
        let in_path = self
            .path_contains
            .as_deref()
            .is_none_or(|fragment| path.contains(fragment));
        let in_query = self.query_contains.as_deref().is_none_or(|fragment| {
            let raw = query.unwrap_or("").as_bytes();
            form_urlencoded::parse(raw).any(|(k, v)| k.contains(fragment) || v.contains(fragment))
        });
        in_path && in_query
    }
}

/// One request the fake org answered (control requests under `/__fake/`
/// are not logged). The bearer token is never kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, when there was one.
    pub query: Option<String>,
    /// The status sent; 0 when the connection was dropped instead.
    pub status: u16,
    /// True for data API calls (under `/services/data/`), the ones counted
    /// in `Sforce-Limit-Info`.
    pub api_call: bool,
    /// Bytes of the response body sent (before any transport encryption);
    /// 0 for a dropped connection or a body cut by a fault.
    pub body_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_on_a_query_matches_the_decoded_statement() {
        let fault = Fault::server_error().on_path("/query").on_query("GROUP BY");
        let grouped =
            "q=SELECT+COUNT%28Id%29+FROM+Contact+GROUP+BY+CALENDAR_MONTH%28CreatedDate%29";
        assert!(fault.matches("/services/data/v62.0/query", Some(grouped)));
        assert!(!fault.matches(
            "/services/data/v62.0/query",
            Some("q=SELECT+Id+FROM+Contact")
        ));
        assert!(!fault.matches("/services/data/v62.0/query", None));
        assert!(!fault.matches("/services/data/v62.0/sobjects", Some(grouped)));
        assert!(Fault::server_error().matches("/anything", None));
    }
}
