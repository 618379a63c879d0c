//! The catalog: the local SQLite database that mirrors the org.
//!
//! This module is the only place in sfsync that speaks SQL. Everything
//! else goes through [`Catalog`] and the plain types re-exported here,
//! so that another backend (a server database) can replace SQLite later
//! without touching the sync, the server or the commands.
//!
//! - `migrations` holds the versioned schema,
//! - `stage` and `apply` hold the write path of a sync: records are staged
//!   in TEMP tables while they are read, then applied in one transaction,
//! - `read` holds the queries used by readers and the commands,
//! - `runs` holds the run log, and `history` reads it back for `status`,
//! - `picklists` holds the picklist vocabularies cached from describe,
//! - `views` holds the per-type views meant for people using `sqlite3`.

mod apply;
mod error;
mod fill;
mod history;
mod listing;
mod migrations;
mod model;
mod picklists;
mod read;
mod runs;
mod slug;
mod stage;
mod views;

#[cfg(test)]
mod tests;

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use error::CatalogError;
pub use model::{
    Applied, ApplyPolicy, BatchCounts, Counts, Event, EventKind, Item, ItemRecord, MissingScope,
    OnMissing, RunOutcome, RunRecord, TypeState, TypeView,
};
pub use picklists::{CachedPicklist, Picklist, PicklistKind, PicklistValue};
pub use stage::Stage;

/// The result type of every catalog operation.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// How long a statement waits for another writer before giving up, unless
/// [`Catalog::set_busy_timeout`] says otherwise.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// An open catalog: one SQLite connection and the path it came from.
///
/// A `Catalog` is meant for one thread; open one per thread or process.
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
}

impl Catalog {
    /// Opens the catalog at `path` for reading and writing, creating it
    /// (readable by its owner only) when it does not exist yet, and brings
    /// its schema up to date.
    pub fn open(path: &Path) -> Result<Catalog> {
        create_private_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut catalog = Catalog::connect(path, flags)?;
        catalog.configure_for_writing()?;
        migrations::run(&mut catalog.conn, path)?;
        Ok(catalog)
    }

    /// Opens an existing catalog for reading only.
    ///
    /// Fails with [`CatalogError::Missing`] when there is no file at `path`
    /// and with [`CatalogError::Schema`] when its schema is not the one
    /// this build knows.
    pub fn open_read_only(path: &Path) -> Result<Catalog> {
        if !path.exists() {
            return Err(CatalogError::Missing(path.to_path_buf()));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let catalog = Catalog::connect(path, flags)?;
        migrations::check_current(&catalog.conn, path)?;
        Ok(catalog)
    }

    /// The path this catalog was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets how long a statement waits for another writer's lock before
    /// failing with [`CatalogError::Busy`].
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<()> {
        self.conn.busy_timeout(timeout).map_err(|e| self.error(e))
    }

    /// Opens the connection and sets what every connection needs.
    fn connect(path: &Path, flags: OpenFlags) -> Result<Catalog> {
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| error::unreadable(path, e))?;
        let catalog = Catalog {
            conn,
            path: path.to_path_buf(),
        };
        catalog.set_busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
        catalog
            .conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(|e| error::unreadable(path, e))?;
        Ok(catalog)
    }

    /// Switches to write-ahead logging so readers never wait for the
    /// writer; NORMAL synchronisation is safe with WAL.
    ///
    /// TEMP tables (the sync's stage) keep SQLite's default `temp_store`,
    /// a file, so a large stage does not grow the process's memory.
    fn configure_for_writing(&self) -> Result<()> {
        let path = &self.path;
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
            .map_err(|e| error::unreadable(path, e))?;
        if mode != "wal" {
            log::warn!(
                "catalog `{}` stays in `{mode}` journal mode; readers may \
                 wait for the writer",
                path.display()
            );
        }
        self.conn
            .pragma_update(None, "synchronous", "normal")
            .map_err(|e| self.error(e))
    }

    /// Classifies a SQLite error of this catalog.
    fn error(&self, err: rusqlite::Error) -> CatalogError {
        error::classify(&self.path, err)
    }
}

/// Creates the catalog file with mode 0600 when it does not exist, so the
/// records it will hold are never readable by other users, not even for
/// the moment between SQLite creating it and a chmod.
fn create_private_file(path: &Path) -> Result<()> {
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(CatalogError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// The current time as the catalog stores it: RFC 3339, UTC, seconds.
fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time always formats as RFC 3339")
}
