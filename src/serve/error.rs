//! The server's typed errors: each one knows its HTTP status, so handlers
//! can return them with `?` and the answer is always a JSON error body.
//!
//! Messages are written for the caller and never carry the sync key; a
//! refused token gets one word, so nobody learns which part was wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::catalog::CatalogError;
use crate::exit::{classify, Exit};

/// Why a request was not served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServeError {
    /// The key is missing, wrong, or the endpoint is disabled.
    #[error("forbidden")]
    Forbidden,
    /// The request names an unknown type, a malformed id, or is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// No such path, run or record.
    #[error("{0}")]
    NotFound(String),
    /// The body is larger than the server takes.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not a form.
    #[error("the request body must be `application/x-www-form-urlencoded`")]
    UnsupportedMedia,
    /// The client sent its body too slowly.
    #[error("the request body did not arrive in time")]
    Timeout,
    /// A full sync is already running, in this server or elsewhere.
    #[error("a sync is already running on this catalog ({holder})")]
    Conflict {
        /// The running run's id, when this server started it.
        run: Option<i64>,
        /// Who holds the run lock, in words.
        holder: String,
    },
    /// Salesforce failed or could not be reached.
    #[error("{0}")]
    Salesforce(String),
    /// Too much work is waiting, or the catalog stayed locked.
    #[error("{0}")]
    Busy(String),
    /// The server is stopping and takes no new work.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Something on this machine failed.
    #[error("{0}")]
    Internal(String),
}

impl ServeError {
    /// The HTTP status that carries this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::Forbidden => StatusCode::FORBIDDEN,
            ServeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServeError::NotFound(_) => StatusCode::NOT_FOUND,
            ServeError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServeError::UnsupportedMedia => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ServeError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ServeError::Conflict { .. } => StatusCode::CONFLICT,
            ServeError::Salesforce(_) => StatusCode::BAD_GATEWAY,
            ServeError::Busy(_) | ServeError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ServeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Sorts an error from the sync engine by its first typed cause.
    pub fn from_sync(e: &anyhow::Error) -> ServeError {
        let text = format!("{e:#}");
        let busy = e.chain().any(|c| {
            matches!(
                c.downcast_ref::<CatalogError>(),
                Some(CatalogError::Busy { .. })
            )
        });
        if busy {
            return ServeError::Busy(text);
        }
        match classify(e) {
            Exit::Salesforce => ServeError::Salesforce(text),
            _ => ServeError::Internal(text),
        }
    }

    /// The error as a JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({ "error": self.to_string() });
        if let ServeError::Conflict { run, holder } = self {
            body["holder"] = json!(holder);
            if let Some(run) = run {
                body["run"] = json!(run);
            }
        }
        body
    }
}

impl From<CatalogError> for ServeError {
    fn from(e: CatalogError) -> ServeError {
        match e {
            CatalogError::Busy { .. } => ServeError::Busy(e.to_string()),
            _ => ServeError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}
