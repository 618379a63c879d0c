//! The run lock: one `sync-all` at a time per catalog.
//!
//! An advisory lock on `<catalog>.lock`, held for the run's length. The
//! kernel drops it when the holder dies, so a lock left by a killed run is
//! taken over without ceremony. The file names the holder (pid and start
//! time) so that the waiting run can say who is in the way.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a waiting run looks again.
const POLL: Duration = Duration::from_millis(200);

/// Another run holds the lock past the wait.
#[derive(Debug, thiserror::Error)]
#[error("another sync is running on this catalog ({holder}); gave up after waiting {waited}s (see `--wait`)")]
pub struct LockBusy {
    /// Who holds it, as the lock file says.
    pub holder: String,
    /// Seconds waited.
    pub waited: u64,
}

/// The lock file cannot be opened, locked or written: the catalog's
/// directory is unusable, so this is a catalog failure, not a busy one.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the run lock `{}`: {reason}", path.display())]
pub struct LockFailed {
    /// The lock file.
    pub path: PathBuf,
    /// What the operating system said.
    pub reason: String,
}

/// A held run lock; dropping it releases the lock.
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock beside `catalog`, waiting up to `wait`.
    pub fn acquire(catalog: &Path, wait: Duration) -> anyhow::Result<RunLock> {
        let path = lock_path(catalog);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| failed(&path, e))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                    std::thread::sleep(POLL)
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(LockBusy {
                        holder: holder(&mut file),
                        waited: started.elapsed().as_secs(),
                    }
                    .into())
                }
                Err(TryLockError::Error(e)) => return Err(failed(&path, e).into()),
            }
        }
        name_holder(&mut file).map_err(|e| failed(&path, e))?;
        Ok(RunLock { _file: file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes who holds the lock into the lock file.
fn name_holder(file: &mut File) -> std::io::Result<()> {
    let stamp = crate::mapping::rfc3339(time::OffsetDateTime::now_utc());
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "pid {} since {stamp}", std::process::id())?;
    file.flush()
}

fn failed(path: &Path, e: std::io::Error) -> LockFailed {
    LockFailed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn lock_path(catalog: &Path) -> PathBuf {
    let mut name = catalog.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    catalog.with_file_name(name)
}

fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.take(200).read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        "holder unknown".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_gives_up_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("catalog.db");
        let first = RunLock::acquire(&catalog, Duration::ZERO).unwrap();
        let err = RunLock::acquire(&catalog, Duration::from_millis(300))
            .err()
            .unwrap();
        let busy = err.downcast_ref::<LockBusy>().unwrap();
        assert!(
            busy.holder
                .starts_with(&format!("pid {} since", std::process::id())),
            "{}",
            busy.holder
        );
        drop(first);
        RunLock::acquire(&catalog, Duration::ZERO).unwrap();
    }
}
