//! The file system under the log and the snapshots, behind a trait: [`RealDisk`] is the
//! operating system's; [`crate::sim_disk::SimDisk`] is a simulated one for tests that, on a
//! simulated power loss, keeps only what was synced. Everything durability depends on (file
//! syncs, directory syncs, renames, truncation) goes through [`Disk`], so a test on the
//! simulated disk checks the very code the server runs.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A file opened for writing.
///
/// ```
/// use std::io::Write as _;
/// use zk_server_mini::disk::{Disk, RealDisk};
/// let dir = std::env::temp_dir().join(format!("zk-mini-diskfile-doc-{}", std::process::id()));
/// RealDisk.create_dir_all(&dir)?;
/// let mut f = RealDisk.open_append(&dir.join("log"))?;
/// f.write_all(b"record")?;
/// f.sync()?; // durable from here on
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait DiskFile: Write + Send + Debug {
    /// Makes what was written durable (`fsync`/`fdatasync`).
    ///
    /// # Errors
    /// The sync failed: nothing written since the last successful sync may be relied on.
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// let mut f = disk.create(&dir.join("log"))?;
    /// disk.sync_dir(dir)?;
    /// f.write_all(b"acked")?;
    /// f.sync()?; // only now may the write be acknowledged
    /// assert_eq!(disk.crash(None).read(&dir.join("log"))?, b"acked");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn sync(&mut self) -> io::Result<()>;
}

/// A file opened for reading.
///
/// ```
/// use std::io::{Read as _, Seek as _, SeekFrom};
/// use zk_server_mini::disk::{Disk, RealDisk};
/// let dir = std::env::temp_dir().join(format!("zk-mini-diskreader-doc-{}", std::process::id()));
/// RealDisk.create_dir_all(&dir)?;
/// std::fs::write(dir.join("f"), b"0123456789")?;
/// let mut r = RealDisk.open_read(&dir.join("f"))?;
/// r.seek(SeekFrom::Start(6))?;
/// let mut tail = String::new();
/// r.read_to_string(&mut tail)?;
/// assert_eq!(tail, "6789");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait DiskReader: Read + Seek + Send {}

impl<T: Read + Seek + Send> DiskReader for T {}

/// The file-system operations storage needs.
///
/// ```
/// use std::sync::Arc;
/// use zk_server_mini::disk::{Disk, RealDisk};
///
/// let dir = std::env::temp_dir().join(format!("zk-mini-disk-doc-{}", std::process::id()));
/// let disk: Arc<dyn Disk> = Arc::new(RealDisk);
/// disk.create_dir_all(&dir)?;
/// let mut f = disk.create(&dir.join("a"))?;
/// f.write_all(b"hello")?;
/// f.sync()?;
/// disk.sync_dir(&dir)?;
/// assert_eq!(disk.read(&dir.join("a"))?, b"hello");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Disk: Send + Sync + Debug {
    /// Creates `dir` and its parents.
    ///
    /// # Errors
    /// As [`std::fs::create_dir_all`].
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// disk.create_dir_all(&dir.join("a/b"))?; // parents too
    /// assert!(disk.list(&dir.join("a/b"))?.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The files in `dir` (full paths, any order).
    ///
    /// # Errors
    /// `dir` cannot be read.
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// disk.create(&dir.join("x"))?;
    /// assert_eq!(disk.list(dir)?, [dir.join("x")]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// The length of a file.
    ///
    /// # Errors
    /// No such file.
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// disk.create(&dir.join("x"))?.write_all(b"1234")?;
    /// assert_eq!(disk.len(&dir.join("x"))?, 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// Opens a file for reading.
    ///
    /// # Errors
    /// No such file.
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// use std::io::Read as _;
    /// disk.create(&dir.join("x"))?.write_all(b"data")?;
    /// let mut s = String::new();
    /// disk.open_read(&dir.join("x"))?.read_to_string(&mut s)?;
    /// assert_eq!(s, "data");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn DiskReader>>;
    /// Opens a file for appending, creating it if missing (its name is durable only after
    /// [`Disk::sync_dir`]).
    ///
    /// # Errors
    /// As [`OpenOptions::open`].
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// disk.open_append(&dir.join("log"))?.write_all(b"a")?;
    /// disk.open_append(&dir.join("log"))?.write_all(b"b")?; // appends
    /// assert_eq!(disk.read(&dir.join("log"))?, b"ab");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// Creates (or truncates) a file for writing.
    ///
    /// # Errors
    /// As [`File::create`].
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// disk.create(&dir.join("x"))?.write_all(b"old")?;
    /// disk.create(&dir.join("x"))?.write_all(b"new")?; // truncates first
    /// assert_eq!(disk.read(&dir.join("x"))?, b"new");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// Truncates a file to `len` bytes, durably.
    ///
    /// # Errors
    /// No such file, or the truncation could not be synced.
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// disk.create(&dir.join("log"))?.write_all(b"good|torn")?;
    /// disk.truncate(&dir.join("log"), 4)?; // cut a torn tail off
    /// assert_eq!(disk.read(&dir.join("log"))?, b"good");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Renames a file (durable only after [`Disk::sync_dir`]).
    ///
    /// # Errors
    /// As [`std::fs::rename`].
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// let mut f = disk.create(&dir.join("snapshot.tmp"))?;
    /// f.write_all(b"state")?;
    /// f.sync()?;
    /// disk.rename(&dir.join("snapshot.tmp"), &dir.join("snapshot.1"))?;
    /// disk.sync_dir(dir)?; // the new name is durable
    /// assert_eq!(disk.crash(None).read(&dir.join("snapshot.1"))?, b"state");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file (durable only after [`Disk::sync_dir`]).
    ///
    /// # Errors
    /// As [`std::fs::remove_file`].
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// disk.create(&dir.join("old.log"))?;
    /// disk.remove(&dir.join("old.log"))?;
    /// disk.sync_dir(dir)?;
    /// assert!(disk.list(dir)?.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the names in `dir` (creations, renames, removals) durable.
    ///
    /// # Errors
    /// The directory cannot be opened or synced.
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// disk.create(&dir.join("new"))?;
    /// let before_sync = disk.crash(None);
    /// assert!(before_sync.list(dir)?.is_empty()); // the name was not durable yet
    /// disk.sync_dir(dir)?;
    /// assert_eq!(disk.crash(None).list(dir)?.len(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// A whole file.
    ///
    /// # Errors
    /// No such file, or a read error.
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// let dir = Path::new("/d");
    /// disk.create_dir_all(dir)?;
    /// disk.create(&dir.join("x"))?.write_all(b"whole")?;
    /// assert_eq!(disk.read(&dir.join("x"))?, b"whole");
    /// assert!(disk.read(&dir.join("missing")).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open_read(path)?.read_to_end(&mut out)?;
        Ok(out)
    }
}

/// The operating system's file system.
///
/// ```
/// use zk_server_mini::disk::{Disk, RealDisk};
///
/// let dir = std::env::temp_dir().join(format!("zk-mini-realdisk-doc-{}", std::process::id()));
/// RealDisk.create_dir_all(&dir)?;
/// let mut f = RealDisk.open_append(&dir.join("log"))?;
/// f.write_all(b"abc")?;
/// f.sync()?;
/// RealDisk.truncate(&dir.join("log"), 1)?;
/// assert_eq!(RealDisk.len(&dir.join("log"))?, 1);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RealDisk;

#[derive(Debug)]
struct RealFile(File);

impl Write for RealFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl DiskFile for RealFile {
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Disk for RealDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            out.push(entry?.path());
        }
        Ok(out)
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn DiskReader>> {
        Ok(Box::new(File::open(path)?))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Box::new(RealFile(f)))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        Ok(Box::new(RealFile(File::create(path)?)))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(len)?;
        f.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}
