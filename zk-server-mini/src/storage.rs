//! Durable storage: recovery (newest valid snapshot + log replay), group-commit log appends,
//! and periodic snapshots with pruning.

use std::io;
use std::path::{Path, PathBuf};

use bytes::BytesMut;

use crate::apply::apply;
use crate::state::Proposal;
use crate::tree::DataTree;
use crate::wal::{Wal, encode_record};

/// Snapshots kept on disk (with the logs they need).
const SNAPSHOTS_KEPT: usize = 3;

/// Largest zxid recovery accepts: it leaves 2^48 zxids to assign before `i64::MAX`.
pub const ZXID_LIMIT: i64 = i64::MAX - (1 << 48);

/// The server's files: a log being appended to and the snapshot directory.
#[derive(Debug)]
pub struct Storage {
    snap_dir: PathBuf,
    log_dir: PathBuf,
    wal: Wal,
    since_snapshot: u64,
    sync_delay: std::time::Duration,
}

impl Storage {
    /// Recovers the state from `snap_dir`/`log_dir` (created if missing) and opens the log.
    pub fn recover(snap_dir: &Path, log_dir: &Path) -> io::Result<(DataTree, Self)> {
        std::fs::create_dir_all(snap_dir)?;
        std::fs::create_dir_all(log_dir)?;
        let _ = std::fs::remove_file(snap_dir.join("snapshot.tmp"));
        let mut tree = crate::snapshot::load_newest(snap_dir)?;
        let snap_zxid = tree.last_zxid;
        let report = crate::wal::replay(log_dir, snap_zxid, |h, t| {
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
        let wal = Wal::open(log_dir, tree.last_zxid + 1)?;
        Ok((
            tree,
            Self {
                snap_dir: snap_dir.to_owned(),
                log_dir: log_dir.to_owned(),
                wal,
                since_snapshot: report.applied as u64,
                sync_delay: std::time::Duration::ZERO,
            },
        ))
    }

    /// Encodes a batch of proposals as log records.
    ///
    /// # Errors
    /// A record too large for the log (see [`encode_record`]).
    pub fn encode(proposals: &[Proposal]) -> io::Result<BytesMut> {
        let mut buf = BytesMut::new();
        for p in proposals {
            encode_record(&p.header, &p.txn, &mut buf)?;
        }
        Ok(buf)
    }

    /// Fault injection: every [`Storage::append`] takes at least `delay` (a slow disk).
    pub fn set_sync_delay(&mut self, delay: std::time::Duration) {
        self.sync_delay = delay;
    }

    /// Appends an encoded batch and fsyncs it (one sync per batch: group commit). Blocks: call
    /// it from a blocking thread.
    pub fn append(&mut self, batch: &[u8], count: usize) -> io::Result<()> {
        if !self.sync_delay.is_zero() {
            std::thread::sleep(self.sync_delay);
        }
        self.wal.append(batch)?;
        self.since_snapshot += count as u64;
        Ok(())
    }

    /// Transactions logged since the last snapshot.
    pub fn since_snapshot(&self) -> u64 {
        self.since_snapshot
    }

    /// Writes a snapshot taken at `zxid`, starts a new log file after it and prunes old files.
    pub fn snapshot(&mut self, zxid: i64, bytes: &[u8]) -> io::Result<()> {
        crate::snapshot::write(&self.snap_dir, zxid, bytes)?;
        self.wal.roll(zxid.saturating_add(1))?;
        self.since_snapshot = 0;
        crate::snapshot::prune(&self.snap_dir, &self.log_dir, SNAPSHOTS_KEPT)?;
        tracing::info!(zxid = format!("0x{zxid:x}"), "snapshot written");
        Ok(())
    }
}
