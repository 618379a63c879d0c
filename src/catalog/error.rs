//! The catalog's typed errors, and the one place that sorts SQLite's error
//! codes into them.
//!
//! Callers branch on these: the CLI maps them to exit codes, and a busy
//! catalog is worth a retry where a corrupt one is not.

use std::path::{Path, PathBuf};

use rusqlite::ffi;

/// Everything that can go wrong in the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Another connection held the write lock for longer than the busy
    /// timeout.
    #[error("catalog `{}` is locked by another writer", path.display())]
    Busy {
        /// The catalog's path.
        path: PathBuf,
    },

    /// The disk is full, or writing to it failed.
    #[error(
        "catalog `{}` could not be written: the disk is full or failing",
        path.display()
    )]
    Full {
        /// The catalog's path.
        path: PathBuf,
    },

    /// The file cannot be opened, is not a SQLite database, or is corrupt.
    #[error("catalog `{}` cannot be read: {reason}", path.display())]
    Unreadable {
        /// The catalog's path.
        path: PathBuf,
        /// What SQLite or the operating system said.
        reason: String,
    },

    /// A reader asked for a catalog that does not exist.
    #[error("catalog `{}` does not exist; run a sync first", .0.display())]
    Missing(PathBuf),

    /// The catalog's schema is not the one this build of sfsync knows,
    /// or a migration failed.
    #[error("catalog `{}` has an unusable schema: {reason}", path.display())]
    Schema {
        /// The catalog's path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Applying would have marked too many items of a type missing; nothing
    /// was changed.
    #[error(
        "refusing to treat {missing} of {total} items of `{type_name}` as \
         missing from the org"
    )]
    MassMissing {
        /// The type whose items went missing.
        type_name: String,
        /// How many items were not seen.
        missing: u64,
        /// How many items the type had before.
        total: u64,
    },

    /// Any other SQLite error.
    #[error("catalog query failed: {0}")]
    Sqlite(rusqlite::Error),
}

/// Sorts a SQLite error by its extended result code.
pub(super) fn classify(path: &Path, err: rusqlite::Error) -> CatalogError {
    let path = path.to_path_buf();
    let rusqlite::Error::SqliteFailure(failure, _) = &err else {
        return CatalogError::Sqlite(err);
    };
    match failure.extended_code {
        ffi::SQLITE_IOERR_READ | ffi::SQLITE_IOERR_SHORT_READ => CatalogError::Unreadable {
            path,
            reason: err.to_string(),
        },
        code => match code & 0xff {
            ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED => CatalogError::Busy { path },
            ffi::SQLITE_FULL | ffi::SQLITE_IOERR => CatalogError::Full { path },
            ffi::SQLITE_NOTADB | ffi::SQLITE_CORRUPT | ffi::SQLITE_CANTOPEN => {
                CatalogError::Unreadable {
                    path,
                    reason: err.to_string(),
                }
            }
            _ => CatalogError::Sqlite(err),
        },
    }
}

/// Classifies an error met while opening: anything that is not a lock or
/// a full disk means the file is not a catalog we can use.
pub(super) fn unreadable(path: &Path, err: rusqlite::Error) -> CatalogError {
    match classify(path, err) {
        CatalogError::Sqlite(err) => CatalogError::Unreadable {
            path: path.to_path_buf(),
            reason: err.to_string(),
        },
        other => other,
    }
}
