//! Durable storage: recovery (newest valid snapshot + log replay), group-commit log appends,
//! and periodic snapshots with pruning.
//!
//! A snapshot does not stop the log. [`Storage::begin_snapshot`] is called between two log
//! writes, when the tree holds exactly the transactions logged so far (through zxid Z): it
//! schedules a new log file starting at Z + 1 and hands back a [`SnapshotJob`], which writes a
//! copy of that tree on another thread while later batches go on being appended to the new
//! file. Until the snapshot is durable nothing is removed, so a crash at any point recovers
//! from the previous snapshot and the unbroken run of logs after it; old files are pruned
//! only after the new snapshot's rename and directory sync.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::BytesMut;

use crate::apply::apply;
use crate::disk::{Disk, RealDisk};
use crate::state::Proposal;
use crate::tree::{DataTree, TreeCopy};
use crate::wal::{Wal, encode_record};

/// Snapshots kept on disk (with the logs they need).
const SNAPSHOTS_KEPT: usize = 3;

/// Largest zxid recovery accepts: it leaves 2^48 zxids to assign before `i64::MAX`.
///
/// ```
/// use zk_server_mini::storage::ZXID_LIMIT;
/// assert_eq!(i64::MAX - ZXID_LIMIT, 1 << 48); // room left to assign zxids after recovery
/// ```
pub const ZXID_LIMIT: i64 = i64::MAX - (1 << 48);

/// The server's files: a log being appended to and the snapshot directory.
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use bytes::BytesMut;
/// use zk_server_mini::sim_disk::SimDisk;
/// use zk_server_mini::storage::Storage;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// use zk_server_mini::wal::encode_record;
/// let dir = Path::new("/zk");
/// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
/// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
///     let mut batch = BytesMut::new();
///     for zxid in zxids {
///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
///     }
///     Ok(batch)
/// };
/// # let _ = &mut tree;
/// storage.append(&batch_of(1..=2)?, 2, 2)?; // logged (fsynced)
/// storage.commit_through(2); // standalone: its own quorum
/// assert_eq!((storage.last_logged(), storage.last_committed()), (2, 2));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Storage {
    disk: Arc<dyn Disk>,
    snap_dir: PathBuf,
    log_dir: PathBuf,
    wal: Wal,
    since_snapshot: u64,
    sync_delay: std::time::Duration,
    /// The first zxid of the log file the next append must start (set by a snapshot).
    roll_at: Option<i64>,
    /// The last zxid made durable in the log.
    logged: i64,
    /// The last zxid the consensus layer declared committed (a standalone server: every
    /// logged one, as its quorum is itself). Logged is not committed: nothing above this may
    /// reach a snapshot.
    committed: i64,
}

/// A snapshot to write off the state machine's thread (see [`Storage::begin_snapshot`]).
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use bytes::BytesMut;
/// use zk_server_mini::sim_disk::SimDisk;
/// use zk_server_mini::storage::Storage;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// use zk_server_mini::wal::encode_record;
/// let dir = Path::new("/zk");
/// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
/// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
///     let mut batch = BytesMut::new();
///     for zxid in zxids {
///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
///     }
///     Ok(batch)
/// };
/// storage.append(&batch_of(1..=1)?, 1, 1)?;
/// storage.commit_through(1);
/// tree.last_zxid = 1; // the tree has applied everything through 1
/// let job = storage.begin_snapshot(1, std::time::Duration::ZERO)?;
/// assert_eq!(job.zxid(), 1);
/// job.write(&tree)?; // on a blocking thread in the server
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct SnapshotJob {
    disk: Arc<dyn Disk>,
    snap_dir: PathBuf,
    log_dir: PathBuf,
    zxid: i64,
    delay: std::time::Duration,
}

impl Storage {
    /// Recovers the state from `snap_dir`/`log_dir` (created if missing) and opens the log.
    ///
    /// ```
    /// use zk_server_mini::storage::Storage;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-storage-doc-{}", std::process::id()));
    /// let (tree, storage) = Storage::recover(&dir, &dir)?; // created if missing
    /// assert_eq!((tree.last_zxid, storage.last_logged()), (0, 0));
    /// # drop(storage); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recover(snap_dir: &Path, log_dir: &Path) -> io::Result<(DataTree, Self)> {
        Self::recover_on(Arc::new(RealDisk), snap_dir, log_dir)
    }

    /// [`Storage::recover`] on `disk` (for example a [`crate::sim_disk::SimDisk`]).
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::storage::Storage;
    ///
    /// let disk = SimDisk::default();
    /// let (tree, _storage) = Storage::recover_on(Arc::new(disk), Path::new("/d"), Path::new("/d"))?;
    /// assert_eq!(tree.last_zxid, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recover_on(
        disk: Arc<dyn Disk>,
        snap_dir: &Path,
        log_dir: &Path,
    ) -> io::Result<(DataTree, Self)> {
        disk.create_dir_all(snap_dir)?;
        disk.create_dir_all(log_dir)?;
        let _ = disk.remove(&snap_dir.join(crate::snapshot::TEMP_NAME));
        let mut tree = crate::snapshot::load_newest_on(&*disk, snap_dir)?;
        let snap_zxid = tree.last_zxid;
        let report = crate::wal::replay_on(&*disk, log_dir, snap_zxid, |h, t| {
            let _ = apply(&mut tree, &h, &t);
        })?;
        tracing::info!(
            snapshot_zxid = format!("0x{snap_zxid:x}"),
            replayed = report.applied,
            last_zxid = format!("0x{:x}", tree.last_zxid),
            truncated = report.truncated,
            "recovered"
        );
        // The state machine counts zxids up with plain `+ 1`; a recovered zxid this close to
        // the end of the range comes from a damaged or forged file, never from real use.
        if tree.last_zxid > ZXID_LIMIT || tree.last_zxid < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the recovered zxid {:#x} is outside 0..={ZXID_LIMIT:#x}",
                    tree.last_zxid
                ),
            ));
        }
        let wal = Wal::open_on(disk.clone(), log_dir, tree.last_zxid + 1)?;
        // What recovery replays is what this server logged; a standalone server (a quorum of
        // one) acknowledged each of those records, so they are committed. A member of an
        // ensemble must have the consensus layer confirm the tail (or `truncate_to` below it
        // and recover again) before it serves.
        let last_zxid = tree.last_zxid;
        Ok((
            tree,
            Self {
                disk,
                snap_dir: snap_dir.to_owned(),
                log_dir: log_dir.to_owned(),
                wal,
                since_snapshot: report.applied as u64,
                sync_delay: std::time::Duration::ZERO,
                roll_at: None,
                logged: last_zxid,
                committed: last_zxid,
            },
        ))
    }

    /// Encodes a batch of proposals as log records.
    ///
    /// # Errors
    /// A record too large for the log (see [`encode_record`]).
    ///
    /// ```
    /// use zk_proto::ConnectRequest;
    /// use zk_server_mini::state::{CoreConfig, Input, StateMachine};
    /// use zk_server_mini::storage::Storage;
    /// use zk_server_mini::tree::DataTree;
    /// let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// let open = Input::Open { conn: 1, addr: ([127, 0, 0, 1], 4000).into() };
    /// let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// sm.step(vec![open, connect], 0, 0);
    /// let batch = Storage::encode(sm.proposals())?; // the createSession record, ready for `append`
    /// assert!(!batch.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn encode(proposals: &[Proposal]) -> io::Result<BytesMut> {
        let mut buf = BytesMut::new();
        for p in proposals {
            encode_record(&p.header, &p.txn, &mut buf)?;
        }
        Ok(buf)
    }

    /// Fault injection: every [`Storage::append`] takes at least `delay` (a slow disk).
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::BytesMut;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::storage::Storage;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::encode_record;
    /// let dir = Path::new("/zk");
    /// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
    /// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
    ///     let mut batch = BytesMut::new();
    ///     for zxid in zxids {
    ///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
    ///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
    ///     }
    ///     Ok(batch)
    /// };
    /// # let _ = &mut tree;
    /// storage.set_sync_delay(std::time::Duration::from_millis(5)); // every append now takes >= 5 ms
    /// storage.append(&batch_of(1..=1)?, 1, 1)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_sync_delay(&mut self, delay: std::time::Duration) {
        self.sync_delay = delay;
    }

    /// Appends an encoded batch whose last record is `last_zxid` and fsyncs it (one sync per
    /// batch: group commit), first starting the new log file a snapshot asked for. When this
    /// returns `Ok` the batch is *logged*, not yet committed (see [`Storage::commit_through`]).
    /// Blocks: call it from a blocking thread.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::BytesMut;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::storage::Storage;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::encode_record;
    /// let dir = Path::new("/zk");
    /// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
    /// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
    ///     let mut batch = BytesMut::new();
    ///     for zxid in zxids {
    ///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
    ///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
    ///     }
    ///     Ok(batch)
    /// };
    /// # let _ = &mut tree;
    /// storage.append(&batch_of(1..=3)?, 3, 3)?; // one fsync for the three (group commit)
    /// assert_eq!(storage.last_logged(), 3);
    /// assert_eq!(storage.since_snapshot(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn append(&mut self, batch: &[u8], count: usize, last_zxid: i64) -> io::Result<()> {
        if !self.sync_delay.is_zero() {
            std::thread::sleep(self.sync_delay);
        }
        if let Some(first) = self.roll_at {
            self.wal.roll(first)?;
            self.roll_at = None;
        }
        self.wal.append(batch)?;
        self.since_snapshot += count as u64;
        self.logged = self.logged.max(last_zxid);
        Ok(())
    }

    /// The consensus layer declared everything through `zxid` committed (at most what is
    /// logged). A standalone server calls it as soon as a batch is logged.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::BytesMut;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::storage::Storage;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::encode_record;
    /// let dir = Path::new("/zk");
    /// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
    /// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
    ///     let mut batch = BytesMut::new();
    ///     for zxid in zxids {
    ///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
    ///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
    ///     }
    ///     Ok(batch)
    /// };
    /// # let _ = &mut tree;
    /// storage.append(&batch_of(1..=3)?, 3, 3)?;
    /// storage.commit_through(2); // an ensemble leader: a quorum has 1..=2
    /// assert_eq!(storage.last_committed(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn commit_through(&mut self, zxid: i64) {
        self.committed = self.committed.max(zxid.min(self.logged));
    }

    /// The last zxid made durable in the log.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::BytesMut;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::storage::Storage;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::encode_record;
    /// let dir = Path::new("/zk");
    /// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
    /// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
    ///     let mut batch = BytesMut::new();
    ///     for zxid in zxids {
    ///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
    ///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
    ///     }
    ///     Ok(batch)
    /// };
    /// # let _ = &mut tree;
    /// assert_eq!(storage.last_logged(), 0);
    /// storage.append(&batch_of(1..=2)?, 2, 2)?;
    /// assert_eq!(storage.last_logged(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn last_logged(&self) -> i64 {
        self.logged
    }

    /// The last zxid declared committed.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::BytesMut;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::storage::Storage;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::encode_record;
    /// let dir = Path::new("/zk");
    /// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
    /// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
    ///     let mut batch = BytesMut::new();
    ///     for zxid in zxids {
    ///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
    ///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
    ///     }
    ///     Ok(batch)
    /// };
    /// # let _ = &mut tree;
    /// storage.append(&batch_of(1..=2)?, 2, 2)?;
    /// assert_eq!(storage.last_committed(), 0); // logged is not committed
    /// storage.commit_through(2);
    /// assert_eq!(storage.last_committed(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn last_committed(&self) -> i64 {
        self.committed
    }

    /// Removes every logged record above `zxid` (a replica whose uncommitted tail the new
    /// leader does not have: Zab's TRUNC), durably. Committed records cannot be removed. The
    /// in-memory tree is not touched: recover again to rebuild it; no snapshot holds a record
    /// above the committed zxid, so none can bring a truncated one back.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::BytesMut;
    /// use zk_server_mini::{sim_disk::SimDisk, storage::Storage, wal::encode_record};
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    ///
    /// let dir = Path::new("/zk");
    /// let (_, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
    /// let mut batch = BytesMut::new();
    /// for zxid in 1..=3 {
    ///     let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
    ///     encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
    /// }
    /// storage.append(&batch, 3, 3)?; // logged, not committed
    /// storage.commit_through(1);
    /// assert!(storage.truncate_to(0).is_err()); // 1 is committed
    /// storage.truncate_to(1)?;
    /// assert_eq!((storage.last_logged(), storage.last_committed()), (1, 1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// `zxid` below the committed zxid, or a storage failure.
    pub fn truncate_to(&mut self, zxid: i64) -> io::Result<()> {
        if zxid < self.committed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot truncate the log to {zxid:#x}: {:#x} is committed",
                    self.committed
                ),
            ));
        }
        crate::wal::truncate_after(&*self.disk, &self.log_dir, zxid)?;
        self.logged = self.logged.min(zxid);
        // The next append goes to a new file that starts right after the truncation point.
        self.roll_at = Some(zxid.saturating_add(1));
        Ok(())
    }

    /// Transactions logged since the last snapshot.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::BytesMut;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::storage::Storage;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::encode_record;
    /// let dir = Path::new("/zk");
    /// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
    /// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
    ///     let mut batch = BytesMut::new();
    ///     for zxid in zxids {
    ///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
    ///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
    ///     }
    ///     Ok(batch)
    /// };
    /// storage.append(&batch_of(1..=2)?, 2, 2)?;
    /// storage.commit_through(2);
    /// assert_eq!(storage.since_snapshot(), 2);
    /// tree.last_zxid = 2; // the tree has applied everything through 2
    /// storage.begin_snapshot(2, std::time::Duration::ZERO)?.write(&tree)?;
    /// assert_eq!(storage.since_snapshot(), 0); // compare with snapCount to decide the next one
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn since_snapshot(&self) -> u64 {
        self.since_snapshot
    }

    /// Starts a snapshot of the state at `zxid`, which must be the last zxid appended (so
    /// call it between appends, with the tree applied through `zxid`): the next append starts
    /// a new log file at `zxid + 1`, and the returned job writes the tree.
    ///
    /// # Errors
    /// `zxid` above the committed zxid: a snapshot must never hold an uncommitted transaction
    /// (ZOOKEEPER-1549), since truncating the log would not remove it from there.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::BytesMut;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::storage::Storage;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::encode_record;
    /// let dir = Path::new("/zk");
    /// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
    /// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
    ///     let mut batch = BytesMut::new();
    ///     for zxid in zxids {
    ///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
    ///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
    ///     }
    ///     Ok(batch)
    /// };
    /// storage.append(&batch_of(1..=2)?, 2, 2)?;
    /// storage.commit_through(1);
    /// tree.last_zxid = 2; // the tree has applied everything through 2
    /// assert!(storage.begin_snapshot(2, std::time::Duration::ZERO).is_err()); // 2 is not committed
    /// storage.commit_through(2);
    /// let job = storage.begin_snapshot(2, std::time::Duration::ZERO)?;
    /// job.write(&tree)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn begin_snapshot(
        &mut self,
        zxid: i64,
        delay: std::time::Duration,
    ) -> io::Result<SnapshotJob> {
        if zxid > self.committed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "snapshot at {zxid:#x} refused: only {:#x} is committed",
                    self.committed
                ),
            ));
        }
        self.roll_at = Some(zxid.saturating_add(1));
        self.since_snapshot = 0;
        Ok(SnapshotJob {
            disk: self.disk.clone(),
            snap_dir: self.snap_dir.clone(),
            log_dir: self.log_dir.clone(),
            zxid,
            delay,
        })
    }
}

impl SnapshotJob {
    /// The zxid the snapshot is taken at.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::BytesMut;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::storage::Storage;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::encode_record;
    /// let dir = Path::new("/zk");
    /// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
    /// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
    ///     let mut batch = BytesMut::new();
    ///     for zxid in zxids {
    ///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
    ///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
    ///     }
    ///     Ok(batch)
    /// };
    /// storage.append(&batch_of(1..=1)?, 1, 1)?;
    /// storage.commit_through(1);
    /// tree.last_zxid = 1; // the tree has applied everything through 1
    /// let job = storage.begin_snapshot(1, std::time::Duration::ZERO)?;
    /// assert_eq!(job.zxid(), 1);
    /// # let _ = tree;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn zxid(&self) -> i64 {
        self.zxid
    }

    /// Serializes `tree` (the state at [`SnapshotJob::zxid`]), writes it atomically and
    /// durably, then prunes snapshots and logs no longer needed. Blocks: call it from a
    /// blocking thread. Safe to run while the log is appended to: pruning only removes log
    /// files that a later file, starting at or below the oldest kept snapshot, supersedes.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::BytesMut;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::storage::Storage;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::encode_record;
    /// let dir = Path::new("/zk");
    /// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
    /// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
    ///     let mut batch = BytesMut::new();
    ///     for zxid in zxids {
    ///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
    ///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
    ///     }
    ///     Ok(batch)
    /// };
    /// storage.append(&batch_of(1..=1)?, 1, 1)?;
    /// storage.commit_through(1);
    /// tree.last_zxid = 1; // the tree has applied everything through 1
    /// storage.begin_snapshot(1, std::time::Duration::ZERO)?.write(&tree)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write(self, tree: &DataTree) -> io::Result<()> {
        let bytes = crate::snapshot::serialize(tree);
        self.write_with(tree.last_zxid, |f| f.write_all(&bytes))
    }

    /// [`SnapshotJob::write`] for a [`TreeCopy`] taken with [`DataTree::copy_for_snapshot`]
    /// at [`SnapshotJob::zxid`]: serialized straight into the file.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use bytes::BytesMut;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::storage::Storage;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::encode_record;
    /// let dir = Path::new("/zk");
    /// let (mut tree, mut storage) = Storage::recover_on(Arc::new(SimDisk::default()), dir, dir)?;
    /// let batch_of = |zxids: std::ops::RangeInclusive<i64>| -> std::io::Result<BytesMut> {
    ///     let mut batch = BytesMut::new();
    ///     for zxid in zxids {
    ///         let header = TxnHeader { session_id: 1, cxid: 0, zxid, time: 0 };
    ///         encode_record(&header, &Txn::Delete { path: format!("/n{zxid}") }, &mut batch)?;
    ///     }
    ///     Ok(batch)
    /// };
    /// storage.append(&batch_of(1..=1)?, 1, 1)?;
    /// storage.commit_through(1);
    /// tree.last_zxid = 1; // the tree has applied everything through 1
    /// let copy = tree.copy_for_snapshot(); // cheap, on the state machine's task
    /// let job = storage.begin_snapshot(1, std::time::Duration::ZERO)?;
    /// job.write_copy(&copy)?; // the slow part, elsewhere
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_copy(self, copy: &TreeCopy) -> io::Result<()> {
        self.write_with(copy.last_zxid, |mut f| {
            crate::snapshot::write_copy_to(&mut f, copy)
        })
    }

    fn write_with(
        self,
        at: i64,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        if at != self.zxid {
            return Err(io::Error::other(format!(
                "snapshot of the tree at {:#x} requested for {:#x}",
                at, self.zxid
            )));
        }
        crate::snapshot::write_with(&*self.disk, &self.snap_dir, self.zxid, self.delay, fill)?;
        crate::snapshot::prune(&*self.disk, &self.snap_dir, &self.log_dir, SNAPSHOTS_KEPT)?;
        tracing::info!(zxid = format!("0x{:x}", self.zxid), "snapshot written");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Txn, TxnHeader};
    use bytes::Bytes;
    use zk_proto::acl::Acl;

    /// A valid transaction for zxid `z` against `tree`: creates, updates and deletes.
    fn next_txn(tree: &DataTree, z: i64) -> Txn {
        let path = |i: i64| format!("/k{}", i % 40);
        let p = path(z);
        let data = Some(Bytes::from(z.to_be_bytes().to_vec()));
        match tree.get(&p) {
            None => Txn::Create {
                path: p,
                data,
                acl: Acl::open_unsafe(),
                ephemeral_owner: 0,
                parent_counter: tree.get("/").map_or(0, |n| n.create_counter) + 1,
            },
            Some(_) if z % 3 == 0 => Txn::Delete { path: p },
            Some(n) => Txn::SetData {
                path: p,
                data,
                version: n.version + 1,
            },
        }
    }

    /// Logs `batches` batches of 5 transactions through `storage`, applying them to `live`.
    fn log(storage: &mut Storage, live: &mut DataTree, batches: usize) {
        for _ in 0..batches {
            let mut buf = BytesMut::new();
            for _ in 0..5 {
                let header = TxnHeader {
                    session_id: 1,
                    cxid: 1,
                    zxid: live.last_zxid + 1,
                    time: live.last_zxid * 10,
                };
                let txn = next_txn(live, header.zxid);
                let _ = apply(live, &header, &txn);
                encode_record(&header, &txn, &mut buf).unwrap_or_else(|e| panic!("{e}"));
            }
            storage
                .append(&buf, 5, live.last_zxid)
                .unwrap_or_else(|e| panic!("{e}"));
            storage.commit_through(live.last_zxid);
        }
    }

    /// Recovers from a copy of `dir`, as after a crash at this moment (recovery creates a
    /// log file, which must not disturb the storage still appending to `dir`).
    fn recover(dir: &Path) -> DataTree {
        let copy = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{e}")) {
            let entry = entry.unwrap_or_else(|e| panic!("{e}"));
            std::fs::copy(entry.path(), copy.path().join(entry.file_name()))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        Storage::recover(copy.path(), copy.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    }

    /// What the server does: a snapshot of the tree at Z is written *after* later batches
    /// went to the new log file. Recovery from it (or, when it is damaged or was never
    /// finished, from an older one) plus replay across the rolls rebuilds the exact tree.
    #[test]
    fn snapshot_and_replay_across_a_roll_rebuild_the_exact_tree() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (mut live, mut storage) =
            Storage::recover(dir.path(), dir.path()).unwrap_or_else(|e| panic!("{e}"));
        log(&mut storage, &mut live, 4);
        for round in 0..5 {
            let job = storage
                .begin_snapshot(live.last_zxid, std::time::Duration::ZERO)
                .unwrap_or_else(|e| panic!("{e}"));
            let copy = live.clone();
            log(&mut storage, &mut live, 3);
            if round == 2 {
                // Killed before the snapshot was written: only the log has the state.
                drop(job);
            } else {
                job.write(&copy).unwrap_or_else(|e| panic!("{e}"));
            }
            log(&mut storage, &mut live, 2);
            assert_eq!(recover(dir.path()), live, "round {round}");
        }
        let logs = crate::wal::list_logs(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let snaps = crate::snapshot::list_snapshots(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(logs.len() >= 3, "the log was rolled: {logs:?}");
        assert_eq!(
            snaps.len(),
            SNAPSHOTS_KEPT,
            "old snapshots pruned: {snaps:?}"
        );
        // Every snapshot kept is usable with the logs kept: damage the newer ones one by one.
        for (_, newest) in snaps.iter().rev().take(SNAPSHOTS_KEPT - 1) {
            std::fs::write(newest, b"damaged").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(recover(dir.path()), live);
        }
        // A snapshot for the wrong tree is refused rather than written under a wrong name.
        let job = storage
            .begin_snapshot(live.last_zxid - 1, std::time::Duration::ZERO)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(job.write(&live).is_err());
        // And one above what is committed is not even started.
        assert!(
            storage
                .begin_snapshot(live.last_zxid + 1, std::time::Duration::ZERO)
                .is_err()
        );
    }

    /// Logged is not committed: a logged tail can be truncated (Zab's TRUNC) down to, but not
    /// below, the committed zxid; a snapshot above the committed zxid is refused; after the
    /// truncation, recovery rebuilds exactly the tree at the truncation point, and appending
    /// goes on from there.
    #[test]
    fn a_logged_tail_is_truncated_to_a_zxid_and_never_reaches_a_snapshot() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (mut live, mut storage) =
            Storage::recover(dir.path(), dir.path()).unwrap_or_else(|e| panic!("{e}"));
        log(&mut storage, &mut live, 3); // zxids 1..=15, committed
        let at_15 = live.clone();
        let job = storage
            .begin_snapshot(15, std::time::Duration::ZERO)
            .unwrap_or_else(|e| panic!("{e}"));
        job.write(&at_15).unwrap_or_else(|e| panic!("{e}"));
        let mut states = vec![at_15.clone()];
        // Logged but not committed: 16..=30, in three batches (frames).
        for _ in 0..3 {
            let mut buf = BytesMut::new();
            for _ in 0..5 {
                let header = TxnHeader {
                    session_id: 1,
                    cxid: 1,
                    zxid: live.last_zxid + 1,
                    time: 0,
                };
                let txn = next_txn(&live, header.zxid);
                let _ = apply(&mut live, &header, &txn);
                states.push(live.clone());
                encode_record(&header, &txn, &mut buf).unwrap_or_else(|e| panic!("{e}"));
            }
            storage
                .append(&buf, 5, live.last_zxid)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!((storage.last_logged(), storage.last_committed()), (30, 15));
        assert!(
            storage
                .begin_snapshot(16, std::time::Duration::ZERO)
                .is_err()
        );
        assert!(storage.truncate_to(14).is_err(), "15 is committed");
        // Into the middle of a batch: 16..=22 stay.
        storage.truncate_to(22).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(storage.last_logged(), 22);
        assert_eq!(recover(dir.path()), states[22 - 15]);
        // Appends go on from 23.
        let mut live = states[22 - 15].clone();
        log(&mut storage, &mut live, 1);
        assert_eq!(live.last_zxid, 27);
        assert_eq!(recover(dir.path()), live);
    }
}
