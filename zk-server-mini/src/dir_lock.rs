//! An exclusive lock on a data directory (`<dir>/LOCK`), held for as long as a server uses the
//! directory: two servers appending to one log would interleave frames and destroy it.
//!
//! The lock is the operating system's advisory file lock (`flock` on Unix) on the `LOCK` file,
//! so it is released by the kernel when the process dies, even by `kill -9`: a stale `LOCK`
//! file never blocks a restart. The file itself is never removed.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// The name of the lock file inside a data directory.
///
/// ```
/// use zk_server_mini::dir_lock::{DirLock, LOCK_FILE};
/// let dir = std::env::temp_dir().join(format!("zk-mini-lockfile-doc-{}", std::process::id()));
/// let held = DirLock::acquire(&dir)?;
/// assert!(dir.join(LOCK_FILE).exists()); // "LOCK", as ZooKeeper's admin tools expect nothing else there
/// # drop(held); let _ = std::fs::remove_dir_all(&dir);
/// # Ok::<(), zk_server_mini::dir_lock::LockError>(())
/// ```
pub const LOCK_FILE: &str = "LOCK";

/// Why a directory could not be locked.
///
/// ```
/// use zk_server_mini::dir_lock::{DirLock, LockError};
/// let dir = std::env::temp_dir().join(format!("zk-mini-lockerr-doc-{}", std::process::id()));
/// let held = DirLock::acquire(&dir)?;
/// match DirLock::acquire(&dir) {
///     Err(LockError::InUse { dir: busy }) => assert_eq!(busy, dir),
///     other => panic!("expected InUse, got {other:?}"),
/// }
/// # drop(held); let _ = std::fs::remove_dir_all(&dir);
/// # Ok::<(), LockError>(())
/// ```
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another server (in this process or another) holds the directory.
    #[error(
        "{} is in use by another server (its {LOCK_FILE} file is locked); stop that server or \
         use another directory",
        dir.display()
    )]
    InUse {
        /// The directory.
        dir: PathBuf,
    },
    /// The directory or its lock file could not be created or locked.
    #[error("cannot lock {}: {source}", dir.display())]
    Io {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// A held lock; dropping it releases the directory.
///
/// ```
/// use zk_server_mini::dir_lock::DirLock;
/// let dir = std::env::temp_dir().join(format!("zk-mini-dirlock-doc-{}", std::process::id()));
/// {
///     let _held = DirLock::acquire(&dir)?;
///     // ... the directory is ours ...
/// } // dropped: released
/// assert!(DirLock::acquire(&dir).is_ok());
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok::<(), zk_server_mini::dir_lock::LockError>(())
/// ```
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    _file: File,
}

impl DirLock {
    /// Creates `dir` if needed and takes its lock without waiting.
    ///
    /// ```
    /// use zk_server_mini::dir_lock::{DirLock, LockError};
    ///
    /// let dir = std::env::temp_dir().join(format!("zk-mini-lock-doc-{}", std::process::id()));
    /// let held = DirLock::acquire(&dir)?;
    /// assert!(matches!(DirLock::acquire(&dir), Err(LockError::InUse { .. })));
    /// drop(held);
    /// assert!(DirLock::acquire(&dir).is_ok());
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok::<(), LockError>(())
    /// ```
    ///
    /// # Errors
    /// [`LockError::InUse`] when another holder has it, [`LockError::Io`] otherwise.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let io_err = |source| LockError::Io {
            dir: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => Ok(Self {
                dir: dir.to_owned(),
                _file: file,
            }),
            Err(TryLockError::WouldBlock) => Err(LockError::InUse {
                dir: dir.to_owned(),
            }),
            Err(TryLockError::Error(source)) => Err(io_err(source)),
        }
    }

    /// The locked directory.
    ///
    /// ```
    /// use zk_server_mini::dir_lock::DirLock;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-lockdir-doc-{}", std::process::id()));
    /// let held = DirLock::acquire(&dir)?;
    /// assert_eq!(held.dir(), dir.as_path());
    /// # drop(held); let _ = std::fs::remove_dir_all(&dir);
    /// # Ok::<(), zk_server_mini::dir_lock::LockError>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Locks the snapshot directory and, when it is another directory, the log directory.
///
/// # Errors
/// As [`DirLock::acquire`]; nothing stays locked on error.
///
/// ```
/// use zk_server_mini::dir_lock::lock_data_dirs;
/// let root = std::env::temp_dir().join(format!("zk-mini-lockboth-doc-{}", std::process::id()));
/// let (snap, log) = (root.join("data"), root.join("log"));
/// assert_eq!(lock_data_dirs(&snap, &log)?.len(), 2);
/// assert_eq!(lock_data_dirs(&snap, &snap)?.len(), 1); // one directory for both: one lock
/// # let _ = std::fs::remove_dir_all(&root);
/// # Ok::<(), zk_server_mini::dir_lock::LockError>(())
/// ```
pub fn lock_data_dirs(snap_dir: &Path, log_dir: &Path) -> Result<Vec<DirLock>, LockError> {
    let snap = DirLock::acquire(snap_dir)?;
    // The same directory under another spelling must not be locked twice: a second lock
    // through a new open file conflicts with our own first one.
    let same = match (snap_dir.canonicalize(), log_dir.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => snap_dir == log_dir,
    };
    if same {
        return Ok(vec![snap]);
    }
    let log = DirLock::acquire(log_dir)?;
    Ok(vec![snap, log])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_directory_is_refused_and_released_on_drop() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (data, logs) = (root.path().join("data"), root.path().join("logs"));
        let held = lock_data_dirs(&data, &logs).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(held.len(), 2);
        // Either directory alone is enough to refuse.
        for (a, b) in [
            (&data, &root.path().join("x")),
            (&root.path().join("y"), &logs),
        ] {
            match lock_data_dirs(a, b) {
                Err(LockError::InUse { dir }) => {
                    assert!(dir == *a || dir == *b, "{dir:?}");
                    let msg = LockError::InUse { dir: dir.clone() }.to_string();
                    assert!(msg.contains(&dir.display().to_string()), "{msg}");
                }
                other => panic!("expected InUse, got {other:?}"),
            }
        }
        drop(held);
        let again = lock_data_dirs(&data, &logs).unwrap_or_else(|e| panic!("{e}"));
        // The same directory twice (another spelling included) is one lock.
        drop(again);
        let same =
            lock_data_dirs(&data, &data.join("..").join("data")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(same.len(), 1);
    }
}
