//! A durable home for what [`crate::zab::Peer`] asks to persist, on any [`Disk`]: the two
//! epochs (one small file, replaced atomically), the log (append-only segment files of
//! checksummed records, one fsync per append; a snapshot starts a new segment and deletes
//! the ones it covers) and the newest snapshot (streamed to a temporary file, replaced
//! atomically). [`ZabStore::open`] recovers a [`Recovered`] for [`crate::zab::Peer::new`].
//!
//! Recovery rules: a torn or damaged record at the end of the log (a write that never
//! finished its fsync) is cut off; log entries at or below the snapshot are skipped; entries
//! above it are kept only if they continue it — after a crash between installing a leader's
//! snapshot and emptying the log, the log's tail belongs to an older history and is dropped
//! (it was never acknowledged under the new one).

use std::io::{self, Read as _, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::history::follows;
use super::segments::{self, Segment, encode_record};
use super::types::{PersistOp, Recovered, Snapshot};
use crate::disk::{Disk, DiskFile};

const EPOCHS: &str = "epochs";
const SNAP: &str = "zab.snap";

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
    /// The newest segment, appended to.
    log: Box<dyn DiskFile>,
    /// Every segment on disk, oldest first; the last one is `log`.
    segments: Vec<Segment>,
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
        let files = segments::list(&*disk, dir)?;
        let mut log = Vec::new();
        let mut segs: Vec<Segment> = Vec::new();
        for (i, (seq, path)) in files.iter().enumerate() {
            let (entries, valid_len, total_len) = segments::read_file(&*disk, path)?;
            let mut seg = Segment {
                seq: *seq,
                path: path.clone(),
                first: None,
                last: None,
            };
            for e in &entries {
                seg.note(e.zxid);
            }
            log.extend(entries);
            segs.push(seg);
            if valid_len < total_len {
                tracing::warn!(
                    valid_len,
                    total_len,
                    "log ends in a torn record; cutting it off"
                );
                // Nothing after a damaged record is trusted: later segments go (durably)
                // before the cut, so a crash never joins the cut file to them.
                for (_, later) in files[i + 1..].iter().rev() {
                    disk.remove(later)?;
                }
                disk.sync_dir(dir)?;
                disk.truncate(path, valid_len)?;
                break;
            }
        }
        if let Some(s) = &snapshot {
            let continues = log.iter().any(|e| e.zxid == s.zxid)
                || log.iter().find(|e| e.zxid > s.zxid).is_some_and(|e| {
                    !log.iter().any(|x| x.zxid <= s.zxid) && follows(s.zxid, e.zxid)
                });
            log.retain(|e| e.zxid > s.zxid);
            if !continues && !log.is_empty() {
                tracing::warn!("log does not continue the snapshot; dropping its tail");
                for seg in segs.drain(..).rev() {
                    disk.remove(&seg.path)?;
                }
                log.clear();
            }
        }
        if segs.last().is_none_or(|s| s.seq == 0) {
            // A fresh log, or one from an older version: appends go to a new segment.
            let next = segs.last().map_or(1, |s| s.seq + 1);
            let seg = Segment::new(dir, next);
            drop(disk.create(&seg.path)?);
            segs.push(seg);
        }
        let last = segs.last().map(|s| s.path.clone()).unwrap_or_default();
        let file = disk.open_append(&last)?;
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
                segments: segs,
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
                if let Some(seg) = self.segments.last_mut() {
                    for e in entries {
                        seg.note(e.zxid);
                    }
                }
                Ok(())
            }
            PersistOp::TruncateAfter(zxid) => self.truncate_after(*zxid),
            PersistOp::InstallSnapshot(s) => {
                // The snapshot first: until it is durable the old log must stay.
                self.write_snapshot(s.zxid, &mut |w| w.write_all(&s.data))?;
                // Newest first: a crash leaves a prefix of the old log, which recovery
                // drops unless it continues the snapshot.
                let next = self.segments.last().map_or(1, |s| s.seq + 1);
                for seg in std::mem::take(&mut self.segments).into_iter().rev() {
                    self.disk.remove(&seg.path)?;
                }
                self.start_segment(next)
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
        self.save_snapshot_with(snapshot.zxid, &mut |w| w.write_all(&snapshot.data))
    }

    /// [`ZabStore::save_snapshot`] of the state `write` streams out (never held whole in
    /// memory): the snapshot is written to a temporary file, fsynced and renamed into
    /// place; then a new log segment starts and the segments the snapshot wholly covers are
    /// deleted, oldest first (a crash at any point leaves the old snapshot and the whole log,
    /// or the new snapshot and a suffix of the log that continues it).
    ///
    /// # Errors
    /// A storage failure, or what `write` returns.
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
    /// store.persist(&PersistOp::Append(vec![e(1), e(2)]))?;
    /// store.save_snapshot_with(make(1, 2), &mut |w| w.write_all(b"state"))?;
    /// store.persist(&PersistOp::Append(vec![e(3)]))?;
    /// assert_eq!(store.segment_count(), 1); // the covered segment is gone
    /// let (_, recovered) = ZabStore::open(Arc::new(disk.crash(None)), Path::new("/zk"))?;
    /// assert_eq!(recovered.snapshot.map(|s| (s.zxid, s.data)), Some((make(1, 2), Bytes::from_static(b"state"))));
    /// assert_eq!(recovered.log.len(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn save_snapshot_with(
        &mut self,
        zxid: i64,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        self.write_snapshot(zxid, write)?;
        if self.segments.last().is_some_and(|s| s.first.is_some()) {
            let next = self.segments.last().map_or(1, |s| s.seq + 1);
            self.start_segment(next)?;
        }
        let newest = self.segments.len().saturating_sub(1);
        let covered = self.segments[..newest]
            .iter()
            .take_while(|s| s.covered_by(zxid))
            .count();
        if covered > 0 {
            tracing::debug!(zxid, covered, "deleting log segments below a snapshot");
            for seg in self.segments.drain(..covered) {
                self.disk.remove(&seg.path)?;
            }
            self.disk.sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// How many log segment files the store has (a bounded number when snapshots are
    /// taken: the segments since the previous snapshot).
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::zab::store::ZabStore;
    /// let (store, _) = ZabStore::open(Arc::new(SimDisk::default()), Path::new("/zk"))?;
    /// assert_eq!(store.segment_count(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Creates segment `seq` (empty, durable in the directory) and appends to it from now on.
    fn start_segment(&mut self, seq: u64) -> io::Result<()> {
        let seg = Segment::new(&self.dir, seq);
        drop(self.disk.create(&seg.path)?);
        self.disk.sync_dir(&self.dir)?;
        self.log = self.disk.open_append(&seg.path)?;
        self.segments.push(seg);
        Ok(())
    }

    fn write_snapshot(
        &mut self,
        zxid: i64,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let tmp = self.dir.join(format!("{SNAP}.tmp"));
        let mut f = self.disk.create(&tmp)?;
        segments::write_snapshot(&mut *f, zxid, write)?;
        drop(f);
        self.disk.rename(&tmp, &self.dir.join(SNAP))?;
        self.disk.sync_dir(&self.dir)
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
        // Whole segments above `zxid` go, newest first: a crash leaves a prefix of the log.
        let mut removed = false;
        while let Some(seg) = self.segments.last()
            && seg.first.is_none_or(|f| f > zxid)
            && self.segments.len() > 1
        {
            self.disk.remove(&seg.path)?;
            self.segments.pop();
            removed = true;
        }
        if removed {
            // Durable before the cut below, or a crash could join the cut segment to a
            // later one that comes back.
            self.disk.sync_dir(&self.dir)?;
        }
        let Some(seg) = self.segments.last_mut() else {
            return Ok(());
        };
        if seg.last.is_some_and(|l| l > zxid) {
            let off = segments::offset_after(&*self.disk, &seg.path, zxid)?;
            self.disk.truncate(&seg.path, off)?;
            seg.last = if off == 0 { None } else { Some(zxid) };
            if off == 0 {
                seg.first = None;
            }
        }
        self.log = self.disk.open_append(&seg.path)?;
        Ok(())
    }
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
    let path = dir.join(SNAP);
    let bytes = match disk.read(&path) {
        Ok(b) => Bytes::from(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Some((zxid, data)) = segments::decode_snapshot(bytes)? {
        return Ok(Some(Snapshot { zxid, data }));
    }
    // The format of older versions: CRC32 first, then zxid and state.
    let Some(b) = read_checked(disk, &path)? else {
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
    use crate::zab::Entry;
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
