//! The Zab log on disk: a sequence of segment files `zab.log.<seq in hex>` of checksummed
//! records, appended to the newest one. A snapshot starts a new segment and deletes the
//! older segments whose entries it wholly covers, so the log on disk holds about the entries
//! since the previous snapshot. A log written by an older version (`zab.log`, one file) is
//! read as the first segment.
//!
//! Also the snapshot file's streamed format: magic, zxid, state, then a CRC32 of the zxid
//! and the state (a trailer, so the state can be written as it is produced).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};

use super::types::Entry;
use crate::disk::{Disk, DiskFile};

/// The single log file of older versions, read as segment 0.
const LEGACY: &str = "zab.log";
/// Segment files are this prefix and a sequence number in hex.
const PREFIX: &str = "zab.log.";
/// Largest record recovery accepts: anything longer is damage.
const MAX_RECORD: usize = 1 << 30;
/// The first bytes of a snapshot file in the streamed format.
pub(crate) const SNAP_MAGIC: &[u8; 8] = b"ZKMZSNP2";

/// One segment file and the zxids it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) seq: u64,
    pub(crate) path: PathBuf,
    /// Its first and last entries' zxids; `None` when it is empty.
    pub(crate) first: Option<i64>,
    pub(crate) last: Option<i64>,
}

impl Segment {
    pub(crate) fn new(dir: &Path, seq: u64) -> Self {
        Self {
            seq,
            path: dir.join(format!("{PREFIX}{seq:016x}")),
            first: None,
            last: None,
        }
    }

    /// Notes that `zxid` was appended.
    pub(crate) fn note(&mut self, zxid: i64) {
        self.first.get_or_insert(zxid);
        self.last = Some(zxid);
    }

    /// Whether a snapshot at `zxid` covers every entry of this segment.
    pub(crate) fn covered_by(&self, zxid: i64) -> bool {
        self.last.is_none_or(|l| l <= zxid)
    }
}

/// The segment files in `dir`, oldest first (the legacy single log first of all).
pub(crate) fn list(disk: &dyn Disk, dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for path in disk.list(dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name == LEGACY {
            out.push((0, dir.join(LEGACY)));
        } else if let Some(seq) = name
            .strip_prefix(PREFIX)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        {
            out.push((seq, dir.join(name)));
        }
    }
    out.sort();
    Ok(out)
}

/// Appends `e` as one record (length, CRC32, zxid, payload) to `out`.
pub(crate) fn encode_record(e: &Entry, out: &mut BytesMut) -> io::Result<()> {
    let len = 8 + e.payload.len();
    if len > MAX_RECORD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("entry {:#x} is too large to log ({len} bytes)", e.zxid),
        ));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&e.zxid.to_be_bytes());
    crc.update(&e.payload);
    out.put_u32(len as u32);
    out.put_u32(crc.finalize());
    out.put_i64(e.zxid);
    out.put_slice(&e.payload);
    Ok(())
}

/// The record at `off` and the offset after it, or `None` at the end or at damage.
pub(crate) fn decode_record(bytes: &[u8], off: usize) -> Option<(Entry, usize)> {
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

/// The valid records of one file, the length they span and the file's length.
pub(crate) fn read_file(disk: &dyn Disk, path: &Path) -> io::Result<(Vec<Entry>, u64, u64)> {
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

/// The offset in `path` after the last record at or below `zxid`.
pub(crate) fn offset_after(disk: &dyn Disk, path: &Path, zxid: i64) -> io::Result<u64> {
    let bytes = disk.read(path)?;
    let mut off = 0usize;
    while let Some((entry, next)) = decode_record(&bytes, off) {
        if entry.zxid > zxid {
            break;
        }
        off = next;
    }
    Ok(off as u64)
}

/// Streams a snapshot into `file`: magic, zxid, then what `write` produces, then the CRC32
/// trailer, in 64 KiB writes (the state is never held whole in memory).
pub(crate) fn write_snapshot(
    file: &mut dyn DiskFile,
    zxid: i64,
    write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut w = CrcWriter {
        file,
        crc: crc32fast::Hasher::new(),
        buf: Vec::with_capacity(CHUNK),
    };
    w.file.write_all(SNAP_MAGIC)?;
    w.write_all(&zxid.to_be_bytes())?;
    write(&mut w)?;
    w.flush()?;
    let crc = w.crc.finalize();
    file.write_all(&crc.to_be_bytes())?;
    file.sync()
}

/// Decodes a snapshot file in the streamed format: `(zxid, state)`, or `None` when it is
/// not in that format, or an error when it is and fails its checksum.
pub(crate) fn decode_snapshot(mut bytes: Bytes) -> io::Result<Option<(i64, Bytes)>> {
    if bytes.len() < SNAP_MAGIC.len() + 12 || !bytes.starts_with(SNAP_MAGIC) {
        return Ok(None);
    }
    let n = bytes.len();
    let crc = u32::from_be_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
    let body = bytes.slice(SNAP_MAGIC.len()..n - 4);
    if crc32fast::hash(&body) != crc {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the snapshot file fails its checksum",
        ));
    }
    bytes = body;
    let mut z = [0u8; 8];
    z.copy_from_slice(&bytes[..8]);
    Ok(Some((i64::from_be_bytes(z), bytes.slice(8..))))
}

const CHUNK: usize = 64 * 1024;

/// Buffers writes into `CHUNK`-sized file writes and checksums what passes.
struct CrcWriter<'a> {
    file: &'a mut dyn DiskFile,
    crc: crc32fast::Hasher,
    buf: Vec<u8>,
}

impl Write for CrcWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.crc.update(data);
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_disk::SimDisk;

    #[test]
    fn a_streamed_snapshot_round_trips_and_damage_is_detected() {
        let disk = SimDisk::default();
        let path = Path::new("/s/snap");
        let result = disk.create_dir_all(Path::new("/s")).and_then(|()| {
            let mut f = disk.create(path)?;
            let big = vec![7u8; 200_000];
            write_snapshot(&mut *f, 42, &mut |w| w.write_all(&big))
        });
        assert!(result.is_ok(), "{result:?}");
        let bytes = Bytes::from(disk.read(path).unwrap_or_default());
        let decoded = decode_snapshot(bytes.clone()).ok().flatten();
        assert_eq!(
            decoded.as_ref().map(|d| (d.0, d.1.len())),
            Some((42, 200_000))
        );
        let mut bad = bytes.to_vec();
        bad[100] ^= 1;
        assert!(decode_snapshot(Bytes::from(bad)).is_err());
        assert_eq!(
            decode_snapshot(Bytes::from_static(b"old format")).ok(),
            Some(None)
        );
    }
}
