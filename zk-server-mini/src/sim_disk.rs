//! A simulated disk for tests of durability: an in-memory file system that remembers, for
//! every file, what was written and what was synced, and for every directory, which names
//! were synced. [`SimDisk::crash`] is a power loss: only synced bytes and synced names
//! survive, optionally with a torn prefix of the last unsynced write of each file.
//! [`SimDisk::fail_after`] makes every operation after the n-th fail, to stop a workload at
//! any chosen point (a crash point).

use std::collections::BTreeMap;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::disk::{Disk, DiskFile, DiskReader};

#[derive(Debug, Clone, Default)]
struct Inode {
    data: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    inodes: BTreeMap<u64, Inode>,
    /// Names as the running process sees them.
    names: BTreeMap<PathBuf, u64>,
    /// Names as they would be found after a power loss.
    durable: BTreeMap<PathBuf, u64>,
    dirs: Vec<PathBuf>,
    next_inode: u64,
    /// Mutating operations done so far.
    ops: u64,
    /// Operations left before every operation fails (a crash point).
    fail_at: Option<u64>,
}

impl State {
    /// Counts a mutating operation; fails once the crash point is passed.
    fn op(&mut self) -> io::Result<()> {
        if self.fail_at.is_some_and(|at| self.ops >= at) {
            return Err(io::Error::other("simulated power loss"));
        }
        self.ops += 1;
        Ok(())
    }

    fn inode_mut(&mut self, path: &Path) -> io::Result<&mut Inode> {
        let ino = *self.names.get(path).ok_or_else(|| not_found(path))?;
        self.inodes.get_mut(&ino).ok_or_else(|| not_found(path))
    }

    fn new_inode(&mut self) -> u64 {
        self.next_inode += 1;
        self.inodes.insert(self.next_inode, Inode::default());
        self.next_inode
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

/// The simulated disk (see the module docs). Clones share the same disk.
///
/// ```
/// use std::io::Write as _;
/// use std::path::Path;
/// use zk_server_mini::disk::Disk;
/// use zk_server_mini::sim_disk::SimDisk;
///
/// let disk = SimDisk::default();
/// let dir = Path::new("/d");
/// disk.create_dir_all(dir)?;
/// let mut f = disk.open_append(&dir.join("log"))?;
/// disk.sync_dir(dir)?;
/// f.write_all(b"synced")?;
/// f.sync()?;
/// f.write_all(b" and not")?;
/// let after = disk.crash(None);
/// assert_eq!(after.read(&dir.join("log"))?, b"synced");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
}

impl SimDisk {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mutating operations (writes, syncs, creations, renames, removals, truncations) done.
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// disk.create_dir_all(Path::new("/d"))?;
    /// let before = disk.ops();
    /// let mut f = disk.create(Path::new("/d/f"))?;
    /// f.write_all(b"x")?;
    /// f.sync()?;
    /// assert!(disk.ops() > before); // e.g. to pick a `fail_after` point in a crash test
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// After `n` more mutating operations, every operation fails, as if the power went out
    /// there; call [`SimDisk::crash`] to see what survived.
    ///
    /// ```
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// disk.create_dir_all(Path::new("/d"))?;
    /// disk.fail_after(0); // the power goes out now
    /// assert!(disk.create(Path::new("/d/x")).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fail_after(&self, n: u64) {
        let mut s = self.lock();
        s.fail_at = Some(s.ops + n);
    }

    /// The disk as found after a power loss now: only synced names and synced bytes. With
    /// `tear = Some(seed)`, each file also keeps a prefix (its length chosen by `seed`) of
    /// what was written after its last sync, as a torn write leaves it.
    ///
    /// ```
    /// use std::io::Write as _;
    /// use std::path::Path;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// let disk = SimDisk::default();
    /// disk.create_dir_all(Path::new("/d"))?;
    /// let mut f = disk.open_append(Path::new("/d/log"))?;
    /// disk.sync_dir(Path::new("/d"))?;
    /// f.write_all(b"never synced")?;
    /// let after = disk.crash(None);
    /// assert_eq!(after.read(Path::new("/d/log"))?, b""); // the name survived, the bytes did not
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn crash(&self, tear: Option<u64>) -> SimDisk {
        let s = self.lock();
        let mut after = State {
            dirs: s.dirs.clone(),
            next_inode: s.next_inode,
            ..State::default()
        };
        let mut seed = tear.unwrap_or(0);
        for (name, ino) in &s.durable {
            let Some(inode) = s.inodes.get(ino) else {
                continue;
            };
            let mut data = inode.synced.clone();
            if tear.is_some() && inode.data.starts_with(&inode.synced) {
                let extra = &inode.data[inode.synced.len()..];
                // SplitMix64 step: a different cut for each file.
                seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = seed;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                let keep = (z ^ (z >> 31)) % (extra.len() as u64 + 1);
                data.extend_from_slice(&extra[..keep as usize]);
            }
            after.inodes.insert(
                *ino,
                Inode {
                    synced: data.clone(),
                    data,
                },
            );
            after.names.insert(name.clone(), *ino);
            after.durable.insert(name.clone(), *ino);
        }
        SimDisk {
            state: Arc::new(Mutex::new(after)),
        }
    }
}

#[derive(Debug)]
struct SimFile {
    disk: SimDisk,
    ino: u64,
}

impl Write for SimFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self.disk.lock();
        s.op()?;
        let inode = s
            .inodes
            .get_mut(&self.ino)
            .ok_or_else(|| io::Error::other("file removed"))?;
        inode.data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl DiskFile for SimFile {
    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.disk.lock();
        s.op()?;
        let inode = s
            .inodes
            .get_mut(&self.ino)
            .ok_or_else(|| io::Error::other("file removed"))?;
        inode.synced = inode.data.clone();
        Ok(())
    }
}

impl Disk for SimDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.lock();
        if !s.dirs.iter().any(|d| d == dir) {
            // Directories themselves are not lost in this model.
            s.dirs.push(dir.to_owned());
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let s = self.lock();
        if !s.dirs.iter().any(|d| d == dir) {
            return Err(not_found(dir));
        }
        Ok(s.names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect())
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        let mut s = self.lock();
        Ok(s.inode_mut(path)?.data.len() as u64)
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn DiskReader>> {
        let mut s = self.lock();
        let data = s.inode_mut(path)?.data.clone();
        Ok(Box::new(Cursor::new(data)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let mut s = self.lock();
        let ino = match s.names.get(path) {
            Some(ino) => *ino,
            None => {
                s.op()?;
                let ino = s.new_inode();
                s.names.insert(path.to_owned(), ino);
                ino
            }
        };
        Ok(Box::new(SimFile {
            disk: self.clone(),
            ino,
        }))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let mut s = self.lock();
        s.op()?;
        let ino = match s.names.get(path) {
            Some(ino) => *ino,
            None => {
                let ino = s.new_inode();
                s.names.insert(path.to_owned(), ino);
                ino
            }
        };
        if let Some(inode) = s.inodes.get_mut(&ino) {
            inode.data.clear();
        }
        Ok(Box::new(SimFile {
            disk: self.clone(),
            ino,
        }))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = self.lock();
        s.op()?;
        let inode = s.inode_mut(path)?;
        let len = len as usize;
        inode.data.truncate(len);
        inode.synced = inode.data.clone();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.op()?;
        let ino = s.names.remove(from).ok_or_else(|| not_found(from))?;
        s.names.insert(to.to_owned(), ino);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.op()?;
        s.names.remove(path).ok_or_else(|| not_found(path))?;
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.op()?;
        let in_dir = |p: &PathBuf| p.parent() == Some(dir);
        s.durable.retain(|p, _| !in_dir(p));
        let live: Vec<(PathBuf, u64)> = s
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        s.durable.extend(live);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_synced_bytes_and_names_survive_and_tears_are_prefixes() {
        let disk = SimDisk::default();
        let dir = Path::new("/x");
        disk.create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        let mut kept = disk
            .open_append(&dir.join("kept"))
            .unwrap_or_else(|e| panic!("{e}"));
        disk.sync_dir(dir).unwrap_or_else(|e| panic!("{e}"));
        let mut lost = disk
            .open_append(&dir.join("lost"))
            .unwrap_or_else(|e| panic!("{e}"));
        kept.write_all(b"abc").unwrap_or_else(|e| panic!("{e}"));
        kept.sync().unwrap_or_else(|e| panic!("{e}"));
        kept.write_all(b"defgh").unwrap_or_else(|e| panic!("{e}"));
        lost.write_all(b"zzz").unwrap_or_else(|e| panic!("{e}"));
        lost.sync().unwrap_or_else(|e| panic!("{e}"));
        // The file was synced, its name was not.
        let after = disk.crash(None);
        assert_eq!(after.list(dir).map(|l| l.len()).ok(), Some(1));
        assert_eq!(after.read(&dir.join("kept")).ok(), Some(b"abc".to_vec()));
        for seed in 0..20 {
            let torn = disk
                .crash(Some(seed))
                .read(&dir.join("kept"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(b"abcdefgh".starts_with(&torn) && torn.len() >= 3);
        }
        // A crash point: the third operation from now fails, and every one after it.
        disk.fail_after(2);
        assert!(kept.write_all(b"1").is_ok());
        assert!(kept.sync().is_ok());
        assert!(kept.write_all(b"2").is_err());
        assert!(disk.sync_dir(dir).is_err());
        assert_eq!(
            disk.crash(None).read(&dir.join("kept")).ok(),
            Some(b"abcdefgh1".to_vec())
        );
    }
}
