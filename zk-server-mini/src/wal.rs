//! The write-ahead log: one file per run of zxids (`log.<first zxid in hex>`), records of
//! `[u32 length][u32 crc32][payload]`, one `fsync` per appended batch (group commit).
//! Replay stops at the first torn or corrupt record, truncates the file there and never applies
//! what follows.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};

use crate::txn::{Txn, TxnHeader, decode_entry, encode_entry};

/// Largest record replay accepts; anything longer is corruption.
const MAX_RECORD: usize = 64 << 20;

/// An open log file being appended to.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    path: PathBuf,
    file: File,
}

/// The name of the log file whose first zxid is `zxid`.
pub fn log_name(zxid: i64) -> String {
    format!("log.{zxid:016x}")
}

/// Log files in `dir` with their first zxid, oldest first.
pub fn list_logs(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(hex) = name.strip_prefix("log.") {
            if let Ok(z) = i64::from_str_radix(hex, 16) {
                out.push((z, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Encodes one record: length, CRC32 of the payload, payload.
pub fn encode_record(header: &TxnHeader, txn: &Txn, out: &mut BytesMut) {
    let payload = encode_entry(header, txn);
    out.put_u32(payload.len() as u32);
    out.put_u32(crc32fast::hash(&payload));
    out.put_slice(&payload);
}

impl Wal {
    /// Opens (creating or appending to) the log file for transactions from `first_zxid` on.
    pub fn open(dir: &Path, first_zxid: i64) -> io::Result<Self> {
        let path = dir.join(log_name(first_zxid));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            path,
            file,
        })
    }

    /// Appends a batch of records and syncs them to disk: when this returns `Ok`, every record
    /// survives a crash.
    pub fn append(&mut self, batch: &[u8]) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.file.write_all(batch)?;
        self.file.sync_data()
    }

    /// Starts a new file for transactions from `first_zxid` on (after a snapshot).
    pub fn roll(&mut self, first_zxid: i64) -> io::Result<()> {
        *self = Self::open(&self.dir, first_zxid)?;
        Ok(())
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Fsyncs a directory so a created or renamed file's name is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records applied (zxid above the snapshot).
    pub applied: usize,
    /// zxid of the last valid record (or the snapshot's).
    pub last_zxid: i64,
    /// Whether a torn or corrupt tail was cut off.
    pub truncated: bool,
}

/// Replays every valid record with a zxid above `after_zxid`, oldest first, calling `apply`.
/// At the first bad record the file is truncated there and later files are removed.
pub fn replay(
    dir: &Path,
    after_zxid: i64,
    mut apply: impl FnMut(TxnHeader, Txn),
) -> io::Result<ReplayReport> {
    let logs = list_logs(dir)?;
    let mut report = ReplayReport {
        last_zxid: after_zxid,
        ..ReplayReport::default()
    };
    let mut prev_zxid = i64::MIN;
    for (i, (_, path)) in logs.iter().enumerate() {
        let data = std::fs::read(path)?;
        let mut off = 0usize;
        let mut bad: Option<String> = None;
        while off < data.len() {
            let Some(head) = data.get(off..off + 8) else {
                bad = Some("torn record header".into());
                break;
            };
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            if len > MAX_RECORD {
                bad = Some(format!("record length {len} is implausible"));
                break;
            }
            let Some(payload) = data.get(off + 8..off + 8 + len) else {
                bad = Some("torn record body".into());
                break;
            };
            if crc32fast::hash(payload) != crc {
                bad = Some("checksum mismatch".into());
                break;
            }
            let (header, txn) = match decode_entry(Bytes::copy_from_slice(payload)) {
                Ok(e) => e,
                Err(e) => {
                    bad = Some(format!("undecodable record: {e}"));
                    break;
                }
            };
            if header.zxid <= prev_zxid {
                bad = Some(format!("zxid {:#x} out of order", header.zxid));
                break;
            }
            prev_zxid = header.zxid;
            if header.zxid > after_zxid {
                report.last_zxid = header.zxid;
                report.applied += 1;
                apply(header, txn);
            }
            off += 8 + len;
        }
        if let Some(why) = bad {
            tracing::warn!(
                file = %path.display(),
                offset = off,
                "log has a torn or corrupt tail ({why}); truncating it there"
            );
            let f = OpenOptions::new().write(true).open(path)?;
            f.set_len(off as u64)?;
            f.sync_all()?;
            for (_, later) in &logs[i + 1..] {
                tracing::warn!(file = %later.display(), "removing a log that follows a corrupt one");
                std::fs::remove_file(later)?;
            }
            sync_dir(dir)?;
            report.truncated = true;
            break;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(zxid: i64) -> TxnHeader {
        TxnHeader {
            session_id: 1,
            cxid: 1,
            zxid,
            time: 0,
        }
    }

    fn write(dir: &Path, from: i64, to: i64) -> PathBuf {
        let mut wal = Wal::open(dir, from).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = BytesMut::new();
        for z in from..=to {
            encode_record(
                &h(z),
                &Txn::Delete {
                    path: format!("/n{z}"),
                },
                &mut buf,
            );
        }
        wal.append(&buf).unwrap_or_else(|e| panic!("{e}"));
        wal.path().to_owned()
    }

    fn zxids(dir: &Path, after: i64) -> (Vec<i64>, ReplayReport) {
        let mut seen = Vec::new();
        let r = replay(dir, after, |h, _| seen.push(h.zxid)).unwrap_or_else(|e| panic!("{e}"));
        (seen, r)
    }

    #[test]
    fn replays_in_order_and_skips_what_the_snapshot_has() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(dir.path(), 1, 5);
        write(dir.path(), 6, 8);
        let (seen, r) = zxids(dir.path(), 3);
        assert_eq!(seen, vec![4, 5, 6, 7, 8]);
        assert_eq!(r.last_zxid, 8);
        assert!(!r.truncated);
    }

    #[test]
    fn torn_tail_is_truncated_and_never_applied() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = write(dir.path(), 1, 4);
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        // Cut the last record in half.
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        f.set_len(len - 5).unwrap_or_else(|e| panic!("{e}"));
        let (seen, r) = zxids(dir.path(), 0);
        assert_eq!(seen, vec![1, 2, 3]);
        assert!(r.truncated);
        // The file now ends at the last good record, so a second replay is clean.
        let (seen, r) = zxids(dir.path(), 0);
        assert_eq!(seen, vec![1, 2, 3]);
        assert!(!r.truncated);
    }

    #[test]
    fn corrupt_record_stops_replay_and_drops_later_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = write(dir.path(), 1, 3);
        write(dir.path(), 4, 6);
        let mut data = std::fs::read(&first).unwrap_or_else(|e| panic!("{e}"));
        let n = data.len();
        data[n - 2] ^= 0xff; // flip a byte inside record 3
        std::fs::write(&first, &data).unwrap_or_else(|e| panic!("{e}"));
        let (seen, r) = zxids(dir.path(), 0);
        assert_eq!(seen, vec![1, 2]);
        assert!(r.truncated);
        assert_eq!(list_logs(dir.path()).map(|l| l.len()).unwrap_or(0), 1);
    }

    #[test]
    fn every_truncation_and_every_bit_flip_yields_a_clean_prefix() {
        let src = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = write(src.path(), 1, 6);
        let original = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        let record_len = original.len() / 6;
        for cut in 0..original.len() {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(dir.path().join(log_name(1)), &original[..cut])
                .unwrap_or_else(|e| panic!("{e}"));
            let (seen, _) = zxids(dir.path(), 0);
            let whole = (cut / record_len) as i64;
            assert_eq!(seen, (1..=whole).collect::<Vec<_>>(), "cut at {cut}");
        }
        for pos in 0..original.len() {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let mut bytes = original.clone();
            bytes[pos] ^= 0x10;
            std::fs::write(dir.path().join(log_name(1)), &bytes).unwrap_or_else(|e| panic!("{e}"));
            let (seen, report) = zxids(dir.path(), 0);
            let damaged = (pos / record_len) as i64;
            assert_eq!(seen, (1..=damaged).collect::<Vec<_>>(), "flip at {pos}");
            assert!(report.truncated);
        }
    }
}
