//! The write-ahead log: one file per run of zxids (`log.<first zxid in hex>`).
//!
//! A file is a sequence of frames, `[u32 length][u32 body crc32][u32 header crc32][body]`,
//! one per fsync (group commit): the body holds the batch's records, each
//! `[u32 length][u32 crc32][payload]`. Frames are written strictly one after another, each
//! made durable before the next is written, so after a power failure only the *last* frame can
//! be torn (even with holes in the middle, since pages reach the disk in any order).
//!
//! Replay truncates only what can be a torn final write, and refuses to start on anything
//! else, naming the file and the offset. The header's own checksum is what makes the
//! difference decidable: a length that checks out says exactly where the frame ends, so a
//! frame with a valid header is torn only if it reaches the end of the file; a header that
//! does not check out is a torn write only if it was never written at all (zeros, or cut off
//! by the end of the file) and no whole frame follows it anywhere. A damaged length field can
//! no longer make replay cut off the acknowledged frames after it.

use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::disk::{Disk, DiskFile, RealDisk};
use crate::txn::{Txn, TxnHeader, decode_entry, encode_entry};

/// Largest record replay accepts; anything longer is corruption.
const MAX_RECORD: usize = 1 << 30;

/// A batch is split into frames of about this many bytes (one fsync each).
const FRAME_TARGET: usize = 64 << 20;

/// Largest frame replay accepts: one record of the largest size.
const MAX_FRAME: usize = MAX_RECORD + 8;

/// Bytes of a frame header: length, body checksum, header checksum.
const FRAME_HEAD: usize = 12;

/// The header of a frame with a body of `len` bytes whose checksum is `crc`.
fn frame_head(len: u32, crc: u32) -> [u8; FRAME_HEAD] {
    let mut head = [0u8; FRAME_HEAD];
    head[..4].copy_from_slice(&len.to_be_bytes());
    head[4..8].copy_from_slice(&crc.to_be_bytes());
    let own = crc32fast::hash(&head[..8]);
    head[8..].copy_from_slice(&own.to_be_bytes());
    head
}

/// `(length, body checksum)` of a frame header whose own checksum matches.
fn parse_head(head: &[u8; FRAME_HEAD]) -> Option<(usize, u32)> {
    let own = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
    if crc32fast::hash(&head[..8]) != own {
        return None;
    }
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    Some((len, crc))
}

/// An open log file being appended to.
///
/// ```
/// use bytes::BytesMut;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// use zk_server_mini::wal::{self, Wal};
/// let dir = std::env::temp_dir().join(format!("zk-mini-wal-ty-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let rec = |zxid: i64, out: &mut BytesMut| {
///     let h = TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 };
///     wal::encode_record(&h, &Txn::Delete { path: format!("/n{zxid}") }, out)
/// };
/// let mut log = Wal::open(&dir, 1)?;
/// let mut batch = BytesMut::new();
/// rec(1, &mut batch)?;
/// rec(2, &mut batch)?;
/// log.append(&batch)?; // one frame, one fsync: both are durable now
/// let report = wal::replay(&dir, 0, |_, _| {})?;
/// assert_eq!((report.applied, report.last_zxid), (2, 2));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Wal {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    path: PathBuf,
    file: Box<dyn DiskFile>,
}

/// The name of the log file whose first zxid is `zxid`.
///
/// ```
/// assert_eq!(zk_server_mini::wal::log_name(0x1_0000_0001), "log.0000000100000001");
/// ```
pub fn log_name(zxid: i64) -> String {
    format!("log.{zxid:016x}")
}

/// Log files in `dir` with their first zxid, oldest first.
///
/// ```
/// use bytes::BytesMut;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// use zk_server_mini::wal::{self, Wal};
/// let dir = std::env::temp_dir().join(format!("zk-mini-wal-list-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let rec = |zxid: i64, out: &mut BytesMut| {
///     let h = TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 };
///     wal::encode_record(&h, &Txn::Delete { path: format!("/n{zxid}") }, out)
/// };
/// let mut log = Wal::open(&dir, 1)?;
/// log.roll(0x10)?;
/// let firsts: Vec<i64> = wal::list_logs(&dir)?.into_iter().map(|(z, _)| z).collect();
/// assert_eq!(firsts, [1, 0x10]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn list_logs(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    list_logs_on(&RealDisk, dir)
}

/// [`list_logs`] on `disk`.
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use zk_server_mini::disk::Disk;
/// use zk_server_mini::sim_disk::SimDisk;
/// use zk_server_mini::wal::{self, Wal};
/// let disk = SimDisk::default();
/// disk.create_dir_all(Path::new("/log"))?;
/// let _log = Wal::open_on(Arc::new(disk.clone()), Path::new("/log"), 5)?;
/// assert_eq!(wal::list_logs_on(&disk, Path::new("/log"))?[0].0, 5);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn list_logs_on(disk: &dyn Disk, dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    for path in disk.list(dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(hex) = name.strip_prefix("log.")
            && let Ok(z) = i64::from_str_radix(hex, 16)
        {
            out.push((z, path.clone()));
        }
    }
    out.sort();
    Ok(out)
}

/// Encodes one record: length, CRC32 of the payload, payload.
///
/// # Errors
/// A record longer than replay accepts (a closeSession of a session with a huge number of
/// ephemerals): logging it would turn an acknowledged write into "corruption" at the next
/// start, so it is refused instead.
///
/// ```
/// use bytes::BytesMut;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// use zk_server_mini::wal::{self, Wal};
/// let dir = std::env::temp_dir().join(format!("zk-mini-wal-enc-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let rec = |zxid: i64, out: &mut BytesMut| {
///     let h = TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 };
///     wal::encode_record(&h, &Txn::Delete { path: format!("/n{zxid}") }, out)
/// };
/// let mut batch = BytesMut::new();
/// rec(1, &mut batch)?;
/// assert!(batch.len() > 8); // length, CRC32, payload
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn encode_record(header: &TxnHeader, txn: &Txn, out: &mut BytesMut) -> io::Result<()> {
    let payload = encode_entry(header, txn);
    if payload.len() > MAX_RECORD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "transaction {:#x} encodes to {} bytes, over the log's record limit of {MAX_RECORD}",
                header.zxid,
                payload.len()
            ),
        ));
    }
    out.put_u32(payload.len() as u32);
    out.put_u32(crc32fast::hash(&payload));
    out.put_slice(&payload);
    Ok(())
}

impl Wal {
    /// Opens (creating or appending to) the log file for transactions from `first_zxid` on.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::{self, Wal};
    /// let dir = std::env::temp_dir().join(format!("zk-mini-wal-open-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let rec = |zxid: i64, out: &mut BytesMut| {
    ///     let h = TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 };
    ///     wal::encode_record(&h, &Txn::Delete { path: format!("/n{zxid}") }, out)
    /// };
    /// let log = Wal::open(&dir, 1)?;
    /// assert_eq!(log.path(), dir.join(wal::log_name(1)));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open(dir: &Path, first_zxid: i64) -> io::Result<Self> {
        Self::open_on(Arc::new(RealDisk), dir, first_zxid)
    }

    /// [`Wal::open`] on `disk`.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use zk_server_mini::disk::Disk;
    /// use zk_server_mini::sim_disk::SimDisk;
    /// use zk_server_mini::wal::Wal;
    /// let disk = SimDisk::default();
    /// disk.create_dir_all(Path::new("/log"))?;
    /// let log = Wal::open_on(Arc::new(disk), Path::new("/log"), 1)?; // crash tests run on SimDisk
    /// assert!(log.path().starts_with("/log"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_on(disk: Arc<dyn Disk>, dir: &Path, first_zxid: i64) -> io::Result<Self> {
        let path = dir.join(log_name(first_zxid));
        let file = disk.open_append(&path)?;
        // The new file's name must be durable before anything in it is acknowledged.
        disk.sync_dir(dir)?;
        Ok(Self {
            disk,
            dir: dir.to_owned(),
            path,
            file,
        })
    }

    /// Appends a batch of records (from [`encode_record`]) and syncs them to disk: when this
    /// returns `Ok`, every record survives a crash. Normally one frame and one fsync; a batch
    /// over `FRAME_TARGET` becomes several frames, each synced before the next is written.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::{self, Wal};
    /// let dir = std::env::temp_dir().join(format!("zk-mini-wal-append-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let rec = |zxid: i64, out: &mut BytesMut| {
    ///     let h = TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 };
    ///     wal::encode_record(&h, &Txn::Delete { path: format!("/n{zxid}") }, out)
    /// };
    /// let mut log = Wal::open(&dir, 1)?;
    /// for zxid in 1..=3 {
    ///     let mut batch = BytesMut::new();
    ///     rec(zxid, &mut batch)?;
    ///     log.append(&batch)?; // acknowledge the client only after this returns Ok
    /// }
    /// assert_eq!(wal::replay(&dir, 0, |_, _| {})?.applied, 3);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn append(&mut self, batch: &[u8]) -> io::Result<()> {
        let mut start = 0;
        let mut pos = 0;
        while pos < batch.len() {
            let len = batch
                .get(pos..pos + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "torn record"))?;
            let next = pos + 8 + len;
            if next > batch.len() {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "torn record"));
            }
            if next - start > FRAME_TARGET && pos > start {
                self.write_frame(&batch[start..pos])?;
                start = pos;
            }
            pos = next;
        }
        if pos > start {
            self.write_frame(&batch[start..pos])?;
        }
        Ok(())
    }

    fn write_frame(&mut self, body: &[u8]) -> io::Result<()> {
        write_frame(&mut *self.file, body)
    }

    /// Starts a new file for transactions from `first_zxid` on (after a snapshot).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::{self, Wal};
    /// let dir = std::env::temp_dir().join(format!("zk-mini-wal-roll-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let rec = |zxid: i64, out: &mut BytesMut| {
    ///     let h = TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 };
    ///     wal::encode_record(&h, &Txn::Delete { path: format!("/n{zxid}") }, out)
    /// };
    /// let mut log = Wal::open(&dir, 1)?;
    /// log.roll(100)?; // after a snapshot at 99
    /// assert_eq!(log.path(), dir.join(wal::log_name(100)));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn roll(&mut self, first_zxid: i64) -> io::Result<()> {
        *self = Self::open_on(self.disk.clone(), &self.dir, first_zxid)?;
        Ok(())
    }

    /// The current file.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// use zk_server_mini::wal::{self, Wal};
    /// let dir = std::env::temp_dir().join(format!("zk-mini-wal-path-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let rec = |zxid: i64, out: &mut BytesMut| {
    ///     let h = TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 };
    ///     wal::encode_record(&h, &Txn::Delete { path: format!("/n{zxid}") }, out)
    /// };
    /// let log = Wal::open(&dir, 7)?;
    /// assert!(log.path().ends_with(wal::log_name(7)));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The offset of the first whole frame (valid header and body checksums) that starts at or
/// after `from` in `path`, if any. Streams the file; used only when a frame header is damaged,
/// to tell a torn final write (nothing whole after it) from damage to acknowledged history.
fn whole_frame_after(
    disk: &dyn Disk,
    path: &Path,
    from: u64,
    file_len: u64,
) -> io::Result<Option<u64>> {
    let mut rd = BufReader::new(disk.open_read(path)?);
    rd.seek(io::SeekFrom::Start(from))?;
    let mut window: Vec<u8> = Vec::new();
    let mut window_at = from;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = read_full(&mut rd, &mut chunk)?;
        window.extend_from_slice(&chunk[..n]);
        let mut i = 0;
        while i + FRAME_HEAD <= window.len() {
            let mut head = [0u8; FRAME_HEAD];
            head.copy_from_slice(&window[i..i + FRAME_HEAD]);
            let at = window_at + i as u64;
            if let Some((len, crc)) = parse_head(&head)
                && len > 0
                && len <= MAX_FRAME
                && at + (FRAME_HEAD + len) as u64 <= file_len
            {
                let mut body_rd = BufReader::new(disk.open_read(path)?);
                body_rd.seek(io::SeekFrom::Start(at + FRAME_HEAD as u64))?;
                let mut body = Vec::new();
                body_rd.take(len as u64).read_to_end(&mut body)?;
                if body.len() == len && crc32fast::hash(&body) == crc {
                    return Ok(Some(at));
                }
            }
            i += 1;
        }
        if n == 0 {
            return Ok(None);
        }
        // Keep the last bytes that could start a header completed by the next chunk.
        let keep = window.len().min(FRAME_HEAD - 1);
        window_at += (window.len() - keep) as u64;
        window.drain(..window.len() - keep);
    }
}

/// Splits a frame body into its records: `(offset in the body, payload)`.
fn records(body: &[u8]) -> Result<Vec<(usize, &[u8])>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let head = body
            .get(pos..pos + 8)
            .ok_or_else(|| "torn record header".to_owned())?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let payload = body
            .get(pos + 8..(pos + 8).saturating_add(len))
            .ok_or_else(|| "torn record body".to_owned())?;
        if crc32fast::hash(payload) != crc {
            return Err("record checksum mismatch".into());
        }
        out.push((pos, payload));
        pos += 8 + len;
    }
    Ok(out)
}

/// Reads until `buf` is full or the file ends; returns how many bytes were read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Fsyncs a directory so a created or renamed file's name is durable.
///
/// ```
/// use bytes::BytesMut;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// use zk_server_mini::wal::{self, Wal};
/// let dir = std::env::temp_dir().join(format!("zk-mini-wal-syncdir-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let rec = |zxid: i64, out: &mut BytesMut| {
///     let h = TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 };
///     wal::encode_record(&h, &Txn::Delete { path: format!("/n{zxid}") }, out)
/// };
/// std::fs::write(dir.join("new-file"), b"x")?;
/// wal::sync_dir(&dir)?; // the new name survives a power loss
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    RealDisk.sync_dir(dir)
}

/// Writes one frame holding `body` (whole records) and syncs it.
fn write_frame(file: &mut dyn DiskFile, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let head = frame_head(len, crc32fast::hash(body));
    file.write_all(&head)?;
    file.write_all(body)?;
    file.sync()
}

/// Removes every record with a zxid above `zxid` from the log in `dir`, durably: later files
/// are removed, and the file holding the first such record is cut at that record's frame (the
/// frame's earlier records are written back as a new frame). For a log that recovery has
/// already checked; anything unexpected is an error, and nothing is guessed.
///
/// # Errors
/// A storage failure, or a log that does not read back as whole frames.
///
/// ```
/// use bytes::BytesMut;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// use zk_server_mini::wal::{self, Wal};
/// let dir = std::env::temp_dir().join(format!("zk-mini-wal-trunc-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let rec = |zxid: i64, out: &mut BytesMut| {
///     let h = TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 };
///     wal::encode_record(&h, &Txn::Delete { path: format!("/n{zxid}") }, out)
/// };
/// use zk_server_mini::disk::RealDisk;
/// let mut log = Wal::open(&dir, 1)?;
/// let mut batch = BytesMut::new();
/// for zxid in 1..=3 {
///     rec(zxid, &mut batch)?;
/// }
/// log.append(&batch)?;
/// drop(log);
/// wal::truncate_after(&RealDisk, &dir, 1)?; // a new leader's TRUNC to zxid 1
/// assert_eq!(wal::replay(&dir, 0, |_, _| {})?.last_zxid, 1);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn truncate_after(disk: &dyn Disk, dir: &Path, zxid: i64) -> io::Result<()> {
    let logs = list_logs_on(disk, dir)?;
    let bad = |path: &Path, off: u64, why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot truncate {} at offset {off}: {why}", path.display()),
        )
    };
    let (keep, later): (Vec<_>, Vec<_>) = logs.iter().partition(|(first, _)| *first <= zxid);
    if let Some((_, path)) = keep.last() {
        let mut rd = BufReader::new(disk.open_read(path)?);
        let mut off = 0u64;
        let mut cut: Option<(u64, Vec<u8>)> = None;
        loop {
            let mut head = [0u8; FRAME_HEAD];
            match read_full(&mut rd, &mut head)? {
                0 => break,
                FRAME_HEAD => {}
                _ => return Err(bad(path, off, "torn frame header")),
            }
            let (len, crc) = parse_head(&head).ok_or_else(|| bad(path, off, "bad header"))?;
            if len > MAX_FRAME {
                return Err(bad(path, off, "implausible frame length"));
            }
            let mut body = Vec::new();
            (&mut rd).take(len as u64).read_to_end(&mut body)?;
            if body.len() != len || crc32fast::hash(&body) != crc {
                return Err(bad(path, off, "damaged frame"));
            }
            let recs = records(&body).map_err(|why| bad(path, off, &why))?;
            for (at, payload) in recs {
                let (header, _) = decode_entry(Bytes::copy_from_slice(payload))
                    .map_err(|e| bad(path, off, &e.to_string()))?;
                if header.zxid > zxid {
                    cut = Some((off, body[..at].to_vec()));
                    break;
                }
            }
            if cut.is_some() {
                break;
            }
            off += (FRAME_HEAD + len) as u64;
        }
        if let Some((at, kept)) = cut {
            disk.truncate(path, at)?;
            if !kept.is_empty() {
                let mut f = disk.open_append(path)?;
                write_frame(&mut *f, &kept)?;
            }
        }
    }
    for (_, path) in later {
        disk.remove(path)?;
    }
    disk.sync_dir(dir)
}

/// What replay found.
///
/// ```
/// use bytes::BytesMut;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// use zk_server_mini::wal::{self, Wal};
/// let dir = std::env::temp_dir().join(format!("zk-mini-wal-report-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let rec = |zxid: i64, out: &mut BytesMut| {
///     let h = TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 };
///     wal::encode_record(&h, &Txn::Delete { path: format!("/n{zxid}") }, out)
/// };
/// let mut log = Wal::open(&dir, 1)?;
/// let mut batch = BytesMut::new();
/// rec(1, &mut batch)?;
/// rec(2, &mut batch)?;
/// log.append(&batch)?;
/// let report = wal::replay(&dir, 1, |_, _| {})?; // a snapshot covers zxid 1
/// assert_eq!((report.applied, report.last_zxid, report.truncated), (1, 2, false));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
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
///
/// Files wholly covered by the snapshot are not read. Only a torn final write of the last
/// non-empty file is cut off (and any empty later files removed), so new records never follow
/// garbage: the file ends inside a frame header; a frame header that was never written (zeros)
/// with no whole frame anywhere after it; a frame whose checked header says it reaches past
/// the end of the file; or the file's last frame, of its full length, with a body checksum
/// mismatch. Anything else would lose or reorder acknowledged writes and fails with
/// [`io::ErrorKind::InvalidData`], naming the file and the offset, instead of being
/// "repaired": a damaged frame header (a corrupted length field included), a damaged frame
/// with bytes after it, damage followed by later non-empty files, a record whose checksum
/// matches but which does not decode, and a zxid that is not exactly one above the previous
/// record's (a gap or a duplicate), or above the snapshot's (a missing log file).
///
/// ```
/// use bytes::BytesMut;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// use zk_server_mini::wal::{self, Wal};
/// let dir = std::env::temp_dir().join(format!("zk-mini-wal-replay-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let rec = |zxid: i64, out: &mut BytesMut| {
///     let h = TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 };
///     wal::encode_record(&h, &Txn::Delete { path: format!("/n{zxid}") }, out)
/// };
/// let mut log = Wal::open(&dir, 1)?;
/// let mut batch = BytesMut::new();
/// rec(1, &mut batch)?;
/// rec(2, &mut batch)?;
/// log.append(&batch)?;
/// let mut seen = Vec::new();
/// wal::replay(&dir, 0, |h, txn| seen.push((h.zxid, txn)))?;
/// assert_eq!(seen[1], (2, Txn::Delete { path: "/n2".into() }));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn replay(
    dir: &Path,
    after_zxid: i64,
    apply: impl FnMut(TxnHeader, Txn),
) -> io::Result<ReplayReport> {
    replay_on(&RealDisk, dir, after_zxid, apply)
}

/// [`replay`] on `disk`.
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use bytes::BytesMut;
/// use zk_server_mini::disk::Disk;
/// use zk_server_mini::sim_disk::SimDisk;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// use zk_server_mini::wal::{self, Wal};
/// let disk = SimDisk::default();
/// let dir = Path::new("/log");
/// disk.create_dir_all(dir)?;
/// let mut log = Wal::open_on(Arc::new(disk.clone()), dir, 1)?;
/// let mut batch = BytesMut::new();
/// wal::encode_record(&TxnHeader { session_id: 0, cxid: 0, zxid: 1, time: 0 }, &Txn::Delete { path: "/a".into() }, &mut batch)?;
/// log.append(&batch)?;
/// // power loss right after the append returned: the record is there
/// let after = disk.crash(Some(42));
/// assert_eq!(wal::replay_on(&after, dir, 0, |_, _| {})?.last_zxid, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn replay_on(
    disk: &dyn Disk,
    dir: &Path,
    after_zxid: i64,
    mut apply: impl FnMut(TxnHeader, Txn),
) -> io::Result<ReplayReport> {
    let logs = list_logs_on(disk, dir)?;
    let mut report = ReplayReport {
        last_zxid: after_zxid,
        ..ReplayReport::default()
    };
    let corrupt = |path: &Path, off: usize, why: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "transaction log {} is corrupt at offset {off}: {why}; refusing to start \
                 rather than lose or reorder acknowledged writes (restore the file, or move \
                 it and every later log away to accept the loss)",
                path.display()
            ),
        )
    };
    let mut prev_zxid: Option<i64> = None;
    for (i, (_, path)) in logs.iter().enumerate() {
        // The next file starts at or below the snapshot's successor: this one holds nothing
        // the snapshot lacks, and damage in it cannot matter.
        if logs
            .get(i + 1)
            .is_some_and(|(next, _)| *next <= after_zxid.saturating_add(1))
        {
            continue;
        }
        // Streamed frame by frame, not read whole: a log can be far larger than memory.
        let file_len = disk.len(path)?;
        let mut rd = BufReader::new(disk.open_read(path)?);
        let mut off = 0usize;
        let mut bad: Option<String> = None;
        loop {
            let mut head = [0u8; FRAME_HEAD];
            match read_full(&mut rd, &mut head)? {
                0 => break,
                FRAME_HEAD => {}
                _ => {
                    // The file ends inside a header: only the last write can do that.
                    bad = Some("torn frame header".into());
                    break;
                }
            }
            let Some((len, crc)) = parse_head(&head) else {
                // A header that was never written reads as zeros; anything else in it is
                // damage (a flipped length would otherwise decide where replay stops).
                if head.iter().any(|b| *b != 0) {
                    return Err(corrupt(
                        path,
                        off,
                        "frame header checksum mismatch (a damaged length field)".into(),
                    ));
                }
                if let Some(at) = whole_frame_after(disk, path, (off + 1) as u64, file_len)? {
                    return Err(corrupt(
                        path,
                        off,
                        format!("unwritten frame header, and a whole frame follows at {at}"),
                    ));
                }
                bad = Some("unwritten frame header".into());
                break;
            };
            if len == 0 || len > MAX_FRAME {
                return Err(corrupt(
                    path,
                    off,
                    format!("frame length {len} is implausible"),
                ));
            }
            // Grows only as far as the bytes really are there.
            let mut body = Vec::new();
            (&mut rd).take(len as u64).read_to_end(&mut body)?;
            if body.len() < len {
                // The header is trustworthy, so the frame reaches past the end of the file:
                // the last write, cut short.
                bad = Some("torn frame".into());
                break;
            }
            if crc32fast::hash(&body) != crc {
                let end = (off + FRAME_HEAD + len) as u64;
                if end < file_len {
                    return Err(corrupt(
                        path,
                        off,
                        format!(
                            "frame checksum mismatch, and {} more bytes follow it",
                            file_len - end
                        ),
                    ));
                }
                // The last frame, of its full length, with damage inside: a write whose
                // pages did not all reach the disk.
                bad = Some("frame checksum mismatch".into());
                break;
            }
            // The frame is whole: anything wrong inside it is not a torn write.
            let recs = records(&body).map_err(|why| corrupt(path, off, why))?;
            for (at, payload) in recs {
                let here = off + FRAME_HEAD + at;
                let (header, txn) = decode_entry(Bytes::copy_from_slice(payload))
                    .map_err(|e| corrupt(path, here, format!("undecodable record: {e}")))?;
                if let Some(prev) = prev_zxid
                    && prev.checked_add(1) != Some(header.zxid)
                {
                    return Err(corrupt(
                        path,
                        here,
                        format!("zxid {:#x} follows {prev:#x}", header.zxid),
                    ));
                }
                prev_zxid = Some(header.zxid);
                if header.zxid > after_zxid {
                    if report.last_zxid.checked_add(1) != Some(header.zxid) {
                        return Err(corrupt(
                            path,
                            here,
                            format!(
                                "zxid {:#x} does not follow the state before it ({:#x}): a \
                                 log file is missing",
                                header.zxid, report.last_zxid
                            ),
                        ));
                    }
                    report.last_zxid = header.zxid;
                    report.applied += 1;
                    apply(header, txn);
                }
            }
            off += FRAME_HEAD + len;
        }
        if let Some(why) = bad {
            let later = &logs[i + 1..];
            for (_, l) in later {
                if disk.len(l)? > 0 {
                    return Err(corrupt(
                        path,
                        off,
                        format!("{why}, and {} holds later records", l.display()),
                    ));
                }
            }
            tracing::warn!(
                file = %path.display(),
                offset = off,
                "log has a torn tail ({why}); truncating it there"
            );
            disk.truncate(path, off as u64)?;
            for (_, l) in later {
                disk.remove(l)?;
            }
            disk.sync_dir(dir)?;
            report.truncated = true;
            break;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
