//! A durable home for what [`crate::zab::Peer`] asks to persist, on any [`Disk`]: the two
//! epochs (one small file, replaced atomically), the log (one append-only file of
//! checksummed records, one fsync per append) and the newest snapshot (replaced
//! atomically). [`ZabStore::open`] recovers a [`Recovered`] for [`crate::zab::Peer::new`].
//!
//! Recovery rules: a torn or damaged record at the end of the log (a write that never
//! finished its fsync) is cut off; log entries at or below the snapshot are skipped; entries
//! above it are kept only if they continue it — after a crash between installing a leader's
//! snapshot and emptying the log, the log's tail belongs to an older history and is dropped
//! (it was never acknowledged under the new one).

use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::history::follows;
use super::types::{Entry, PersistOp, Recovered, Snapshot};
use crate::disk::{Disk, DiskFile};

const EPOCHS: &str = "epochs";
const LOG: &str = "zab.log";
const SNAP: &str = "zab.snap";
/// Largest record recovery accepts: anything longer is damage.
const MAX_RECORD: usize = 1 << 30;

/// The durable store. See the module docs.
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use zk_server_mini::sim_disk::SimDisk;
/// use zk_server_mini::zab::store::ZabStore;
/// use zk_server_mini::zab::{Entry, PersistOp};
///
/// let disk = SimDisk::default();
/// let (mut store, recovered) = ZabStore::open(Arc::new(disk.clone()), Path::new("/zk"))?;
/// assert_eq!(recovered.log.len(), 0);
/// store.persist(&PersistOp::AcceptedEpoch(1))?;
/// store.persist(&PersistOp::Append(vec![Entry { zxid: 1 << 32 | 1, payload: Bytes::from_static(b"x") }]))?;
/// // Power loss: what was persisted survives.
/// let (_, recovered) = ZabStore::open(Arc::new(disk.crash(None)), Path::new("/zk"))?;
/// assert_eq!((recovered.accepted_epoch, recovered.log.len()), (1, 1));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ZabStore {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    log: Box<dyn DiskFile>,
    accepted_epoch: u32,
    current_epoch: u32,
    unsafe_no_fsync: bool,
}

fn invalid(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

impl ZabStore {
    /// Opens (creating) the store in `dir` and recovers its contents.
    ///
    /// # Errors
    /// A storage failure, or damaged epochs or snapshot files (written atomically, so
    /// damage there is not a torn write and is not guessed around).
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::zab::{Config, Peer, store::ZabStore};
    /// let (_store, recovered) = ZabStore::open(Arc::new(SimDisk::default()), Path::new("/zk"))?;
    /// let peer = Peer::new(Config::new(1, vec![1, 2, 3]), recovered).expect("fresh state");
    /// assert_eq!(peer.last_logged(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open(disk: Arc<dyn Disk>, dir: &Path) -> io::Result<(Self, Recovered)> {
        disk.create_dir_all(dir)?;
        let (accepted_epoch, current_epoch) = read_epochs(&*disk, dir)?;
        let snapshot = read_snapshot(&*disk, dir)?;
        let log_path = dir.join(LOG);
        let (mut log, valid_len, total_len) = read_log(&*disk, &log_path)?;
        if valid_len < total_len {
            tracing::warn!(
                valid_len,
                total_len,
                "log ends in a torn record; cutting it off"
            );
            disk.truncate(&log_path, valid_len)?;
        }
        if let Some(s) = &snapshot {
            let continues = log.iter().any(|e| e.zxid == s.zxid)
                || log.iter().find(|e| e.zxid > s.zxid).is_some_and(|e| {
                    !log.iter().any(|x| x.zxid <= s.zxid) && follows(s.zxid, e.zxid)
                });
            log.retain(|e| e.zxid > s.zxid);
            if !continues && !log.is_empty() {
                tracing::warn!("log does not continue the snapshot; dropping its tail");
                disk.truncate(&log_path, 0)?;
                log.clear();
            }
        }
        let file = disk.open_append(&log_path)?;
        disk.sync_dir(dir)?;
        let recovered = Recovered {
            accepted_epoch,
            current_epoch,
            snapshot,
            log,
        };
        Ok((
            Self {
                disk,
                dir: dir.to_owned(),
                log: file,
                accepted_epoch,
                current_epoch,
                unsafe_no_fsync: false,
            },
            recovered,
        ))
    }

    /// UNSAFE, for tests that prove the checks can fail: appends are written but never
    /// fsynced, so a crash loses acknowledged entries (as etcd's `--unsafe-no-fsync`).
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::zab::store::ZabStore;
    /// let (mut store, _) = ZabStore::open(Arc::new(SimDisk::default()), Path::new("/zk"))?;
    /// store.set_unsafe_no_fsync(true); // only to show that a checker catches lost acknowledged writes
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_unsafe_no_fsync(&mut self, on: bool) {
        self.unsafe_no_fsync = on;
    }

    /// Carries out one persist request; when it returns `Ok` the change is durable.
    ///
    /// # Errors
    /// A storage failure: the member must stop (it may not acknowledge anything).
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::Bytes;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::zab::store::ZabStore;
    /// use zk_server_mini::zab::{Entry, PersistOp};
    /// use zk_server_mini::zxid::make;
    /// let disk = SimDisk::default();
    /// let (mut store, _) = ZabStore::open(Arc::new(disk.clone()), Path::new("/zk"))?;
    /// let e = |c| Entry { zxid: make(1, c), payload: Bytes::new() };
    /// store.persist(&PersistOp::Append(vec![e(1), e(2), e(3)]))?;
    /// store.persist(&PersistOp::TruncateAfter(make(1, 1)))?; // a new leader's TRUNC
    /// let (_, recovered) = ZabStore::open(Arc::new(disk.crash(None)), Path::new("/zk"))?;
    /// assert_eq!(recovered.log.len(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn persist(&mut self, op: &PersistOp) -> io::Result<()> {
        match op {
            PersistOp::AcceptedEpoch(e) => {
                self.accepted_epoch = *e;
                self.write_epochs()
            }
            PersistOp::CurrentEpoch(e) => {
                self.current_epoch = *e;
                self.write_epochs()
            }
            PersistOp::Append(entries) => {
                let mut buf = BytesMut::new();
                for e in entries {
                    encode_record(e, &mut buf)?;
                }
                self.log.write_all(&buf)?;
                if !self.unsafe_no_fsync {
                    self.log.sync()?;
                }
                Ok(())
            }
            PersistOp::TruncateAfter(zxid) => self.truncate_after(*zxid),
            PersistOp::InstallSnapshot(s) => {
                // The snapshot first: until it is durable the old log must stay.
                self.write_snapshot(s)?;
                let path = self.dir.join(LOG);
                self.disk.truncate(&path, 0)?;
                self.log = self.disk.open_append(&path)?;
                Ok(())
            }
        }
    }

    /// Makes `snapshot` (of committed, applied state) the newest one, atomically, then
    /// drops the log entries it covers (the log is rewritten through a temporary file and a
    /// rename, so a crash leaves either the old log or the pruned one, never a part).
    ///
    /// # Errors
    /// A storage failure.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::Bytes;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::zab::store::ZabStore;
    /// use zk_server_mini::zab::{Entry, PersistOp, Snapshot};
    /// use zk_server_mini::zxid::make;
    /// let disk = SimDisk::default();
    /// let (mut store, _) = ZabStore::open(Arc::new(disk.clone()), Path::new("/zk"))?;
    /// let e = |c| Entry { zxid: make(1, c), payload: Bytes::new() };
    /// store.persist(&PersistOp::Append(vec![e(1), e(2), e(3)]))?;
    /// store.save_snapshot(&Snapshot { zxid: make(1, 2), data: Bytes::from_static(b"state") })?;
    /// let (_, recovered) = ZabStore::open(Arc::new(disk.crash(None)), Path::new("/zk"))?;
    /// assert_eq!(recovered.snapshot.map(|s| s.zxid), Some(make(1, 2)));
    /// assert_eq!(recovered.log.len(), 1); // only the entry above the snapshot
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn save_snapshot(&mut self, snapshot: &Snapshot) -> io::Result<()> {
        self.write_snapshot(snapshot)?;
        self.prune_log_through(snapshot.zxid)
    }

    fn prune_log_through(&mut self, zxid: i64) -> io::Result<()> {
        let path = self.dir.join(LOG);
        let (entries, _, _) = read_log(&*self.disk, &path)?;
        if !entries.iter().any(|e| e.zxid <= zxid) {
            return Ok(());
        }
        let mut buf = BytesMut::new();
        for e in entries.iter().filter(|e| e.zxid > zxid) {
            encode_record(e, &mut buf)?;
        }
        let dropped = entries.iter().filter(|e| e.zxid <= zxid).count();
        tracing::debug!(zxid, dropped, "pruning the log below a snapshot");
        let tmp = self.dir.join(format!("{LOG}.tmp"));
        let mut f = self.disk.create(&tmp)?;
        f.write_all(&buf)?;
        f.sync()?;
        self.disk.rename(&tmp, &path)?;
        self.disk.sync_dir(&self.dir)?;
        self.log = self.disk.open_append(&path)?;
        Ok(())
    }

    fn write_snapshot(&mut self, snapshot: &Snapshot) -> io::Result<()> {
        let mut body = BytesMut::new();
        body.put_i64(snapshot.zxid);
        body.put_slice(&snapshot.data);
        let mut out = BytesMut::new();
        out.put_u32(crc32fast::hash(&body));
        out.put_slice(&body);
        self.replace(SNAP, &out)
    }

    fn write_epochs(&mut self) -> io::Result<()> {
        let mut body = BytesMut::new();
        body.put_u32(self.accepted_epoch);
        body.put_u32(self.current_epoch);
        let mut out = BytesMut::new();
        out.put_u32(crc32fast::hash(&body));
        out.put_slice(&body);
        self.replace(EPOCHS, &out)
    }

    /// Writes `name` through a temporary file, fsync, rename, directory fsync.
    fn replace(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut f = self.disk.create(&tmp)?;
        f.write_all(bytes)?;
        f.sync()?;
        self.disk.rename(&tmp, &self.dir.join(name))?;
        self.disk.sync_dir(&self.dir)
    }

    fn truncate_after(&mut self, zxid: i64) -> io::Result<()> {
        let path = self.dir.join(LOG);
        let bytes = self.disk.read(&path)?;
        let mut off = 0usize;
        while let Some((entry, next)) = decode_record(&bytes, off) {
            if entry.zxid > zxid {
                break;
            }
            off = next;
        }
        self.disk.truncate(&path, off as u64)?;
        self.log = self.disk.open_append(&path)?;
        Ok(())
    }
}

fn encode_record(e: &Entry, out: &mut BytesMut) -> io::Result<()> {
    let len = 8 + e.payload.len();
    if len > MAX_RECORD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("entry {:#x} is too large to log ({len} bytes)", e.zxid),
        ));
    }
    let mut body = BytesMut::with_capacity(len);
    body.put_i64(e.zxid);
    body.put_slice(&e.payload);
    out.put_u32(len as u32);
    out.put_u32(crc32fast::hash(&body));
    out.put_slice(&body);
    Ok(())
}

/// The record at `off` and the offset after it, if a whole, checksummed one is there.
fn decode_record(bytes: &[u8], off: usize) -> Option<(Entry, usize)> {
    let head = bytes.get(off..off + 8)?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if !(8..=MAX_RECORD).contains(&len) {
        return None;
    }
    let body = bytes.get(off + 8..off + 8 + len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let mut z = [0u8; 8];
    z.copy_from_slice(&body[..8]);
    let entry = Entry {
        zxid: i64::from_be_bytes(z),
        payload: Bytes::copy_from_slice(&body[8..]),
    };
    Some((entry, off + 8 + len))
}

/// The log's whole records, the length they cover and the file's length.
fn read_log(disk: &dyn Disk, path: &Path) -> io::Result<(Vec<Entry>, u64, u64)> {
    let bytes = match disk.read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0, 0)),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut off = 0usize;
    while let Some((entry, next)) = decode_record(&bytes, off) {
        out.push(entry);
        off = next;
    }
    Ok((out, off as u64, bytes.len() as u64))
}

fn read_checked(disk: &dyn Disk, path: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    match disk.open_read(path) {
        Ok(mut r) => {
            r.read_to_end(&mut bytes)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    if bytes.len() < 4 {
        return Err(invalid(format!("{} is too short", path.display())));
    }
    let crc = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if crc32fast::hash(&bytes[4..]) != crc {
        return Err(invalid(format!("{} fails its checksum", path.display())));
    }
    Ok(Some(bytes.split_off(4)))
}

fn read_epochs(disk: &dyn Disk, dir: &Path) -> io::Result<(u32, u32)> {
    let Some(b) = read_checked(disk, &dir.join(EPOCHS))? else {
        return Ok((0, 0));
    };
    if b.len() != 8 {
        return Err(invalid("the epochs file has the wrong length".into()));
    }
    Ok((
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    ))
}

fn read_snapshot(disk: &dyn Disk, dir: &Path) -> io::Result<Option<Snapshot>> {
    let Some(b) = read_checked(disk, &dir.join(SNAP))? else {
        return Ok(None);
    };
    if b.len() < 8 {
        return Err(invalid("the snapshot file is too short".into()));
    }
    let mut z = [0u8; 8];
    z.copy_from_slice(&b[..8]);
    Ok(Some(Snapshot {
        zxid: i64::from_be_bytes(z),
        data: Bytes::copy_from_slice(&b[8..]),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_disk::SimDisk;
    use crate::zxid::make;

    fn e(z: i64) -> Entry {
        Entry {
            zxid: z,
            payload: Bytes::from(vec![z as u8; 40]),
        }
    }

    fn open(disk: &SimDisk) -> (ZabStore, Recovered) {
        ZabStore::open(Arc::new(disk.clone()), Path::new("/z")).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A snapshot prunes the log below it; a crash at any point of that leaves the old log
    /// or the pruned one, and recovery continues the snapshot either way.
    #[test]
    fn pruning_after_a_snapshot_is_crash_safe() {
        let entries: Vec<Entry> = (1..=6).map(|c| e(make(1, c))).collect();
        let snap = Snapshot {
            zxid: make(1, 4),
            data: Bytes::from_static(b"s"),
        };
        for fail_after in 0..12 {
            let disk = SimDisk::default();
            let (mut store, _) = open(&disk);
            store
                .persist(&PersistOp::Append(entries.clone()))
                .unwrap_or_else(|e| panic!("{e}"));
            disk.fail_after(fail_after);
            let saved = store.save_snapshot(&snap).is_ok();
            let (_, r) = open(&disk.crash(Some(fail_after)));
            let zxids: Vec<i64> = r.log.iter().map(|x| x.zxid).collect();
            match r.snapshot {
                Some(s) => {
                    assert_eq!(s, snap);
                    assert_eq!(zxids, vec![make(1, 5), make(1, 6)]);
                }
                None => {
                    assert!(!saved);
                    assert_eq!(zxids.len(), 6);
                }
            }
        }
    }

    /// At every crash point of every operation, recovery finds a state the core accepts:
    /// whatever was persisted before stays, a torn append leaves a prefix, and after a SNAP
    /// the log never holds a tail that does not continue the snapshot.
    #[test]
    fn every_crash_point_recovers_a_consistent_prefix() {
        let ops = [
            PersistOp::AcceptedEpoch(1),
            PersistOp::Append(vec![e(make(1, 1)), e(make(1, 2))]),
            PersistOp::CurrentEpoch(1),
            PersistOp::Append(vec![e(make(1, 3)), e(make(1, 4))]),
            PersistOp::TruncateAfter(make(1, 3)),
            PersistOp::InstallSnapshot(Snapshot {
                zxid: make(2, 7),
                data: Bytes::from_static(b"state"),
            }),
            PersistOp::Append(vec![e(make(2, 8))]),
        ];
        for (i, op) in ops.iter().enumerate() {
            for fail_after in 0..12 {
                for tear in [None, Some(fail_after)] {
                    let disk = SimDisk::default();
                    let (mut store, _) = open(&disk);
                    for done in &ops[..i] {
                        store.persist(done).unwrap_or_else(|e| panic!("{e}"));
                    }
                    disk.fail_after(fail_after);
                    let finished = store.persist(op).is_ok();
                    let after = disk.crash(tear);
                    let (_, r) = open(&after);
                    let peer =
                        crate::zab::Peer::new(crate::zab::Config::new(1, vec![1]), r.clone());
                    assert!(peer.is_ok(), "op {i} at {fail_after}: {peer:?}");
                    let zxids: Vec<i64> = r.log.iter().map(|x| x.zxid).collect();
                    let snap = r.snapshot.as_ref().map(|s| s.zxid);
                    // What was durable before this op is still there.
                    if i >= 2 && snap.is_none() {
                        assert!(zxids.starts_with(&[make(1, 1), make(1, 2)]), "{zxids:?}");
                    }
                    if i >= 3 {
                        assert_eq!((r.accepted_epoch, r.current_epoch), (1, 1));
                    }
                    if finished {
                        match op {
                            PersistOp::InstallSnapshot(s) => {
                                assert_eq!(snap, Some(s.zxid));
                                assert!(zxids.is_empty(), "{zxids:?}");
                            }
                            PersistOp::TruncateAfter(z) => {
                                assert!(zxids.iter().all(|x| x <= z), "{zxids:?}");
                            }
                            PersistOp::Append(es) if snap.is_none() => {
                                assert!(es.iter().all(|x| zxids.contains(&x.zxid)));
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}
