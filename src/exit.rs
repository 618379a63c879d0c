//! Exit codes, the contract with scripts and cron.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | not found: a record or key that was asked for does not exist |
//! | 2 | usage or configuration error |
//! | 3 | Salesforce or network failure, or a refused mass missing step |
//! | 4 | catalog unavailable: locked past the wait, unreadable, disk full |
//! | 5 | the sync succeeded but a hook failed |

use crate::catalog::CatalogError;
use crate::config::ConfigError;
use crate::ids::IdError;
use crate::lock::{LockBusy, LockFailed};
use crate::salesforce::SfError;

/// How sfsync ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything asked for was done.
    Ok = 0,
    /// Something asked for does not exist.
    NotFound = 1,
    /// The command line or the configuration is wrong.
    Usage = 2,
    /// Salesforce or the network failed.
    Salesforce = 3,
    /// The catalog cannot be used.
    Catalog = 4,
    /// A hook failed after its type was committed.
    Hook = 5,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// A mistake on the command line that clap cannot see, such as an unknown type.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Picks the exit code for an error by the first typed cause in its chain.
pub fn classify(e: &anyhow::Error) -> Exit {
    for cause in e.chain() {
        if cause.is::<ConfigError>() || cause.is::<IdError>() || cause.is::<UsageError>() {
            return Exit::Usage;
        }
        if cause.is::<LockBusy>() || cause.is::<LockFailed>() {
            return Exit::Catalog;
        }
        if let Some(sf) = cause.downcast_ref::<SfError>() {
            return match sf {
                SfError::Setup(_) => Exit::Usage,
                _ => Exit::Salesforce,
            };
        }
        if let Some(c) = cause.downcast_ref::<CatalogError>() {
            return match c {
                CatalogError::MassMissing { .. } => Exit::Salesforce,
                _ => Exit::Catalog,
            };
        }
    }
    Exit::Salesforce
}
