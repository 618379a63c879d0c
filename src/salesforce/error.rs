//! What can go wrong talking to Salesforce, in kinds a caller can branch on.

/// A failure of the org, the network or the login.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SfError {
    /// The token endpoint refused the credentials.
    #[error("Salesforce refused the login: {description}")]
    Login { description: String },
    /// The org's daily API budget is spent; nothing will work until it resets.
    #[error("Salesforce's API request limit is exceeded (REQUEST_LIMIT_EXCEEDED): {message}")]
    RequestLimit { message: String },
    /// An error answer from a data endpoint, with Salesforce's own words.
    #[error("Salesforce answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// Retries ran out on a network failure or server error.
    #[error("Salesforce did not answer usefully after {attempts} attempts: {cause}")]
    Unreachable { attempts: u32, cause: String },
    /// A response that cannot be what Salesforce sends.
    #[error("Salesforce sent an unusable response: {0}")]
    BadResponse(String),
    /// Local setup the client needs is wrong (a key file, a CA file, a variable).
    #[error("{0}")]
    Setup(String),
}

impl SfError {
    /// The Salesforce error code, when the org sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SfError::Api { code, .. } => Some(code),
            SfError::RequestLimit { .. } => Some("REQUEST_LIMIT_EXCEEDED"),
            _ => None,
        }
    }

    /// Whether the failure is of this org or link as a whole, so that no
    /// other type can do better and the run should stop.
    pub fn stops_the_run(&self) -> bool {
        !matches!(self, SfError::Api { .. } | SfError::BadResponse(_))
    }
}
