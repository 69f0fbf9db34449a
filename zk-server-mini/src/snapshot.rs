//! Snapshots of the whole state: `snapshot.<zxid in hex>`, written to a temporary file, fsynced,
//! renamed into place and the directory fsynced. The file ends with a CRC32 of everything
//! before it; loading falls back to an older snapshot when the newest does not check out.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};
use zk_proto::DecodeError;
use zk_proto::acl::Acl;
use zk_proto::jute::{Encode, JuteReader, write_ustring, write_vec};

use crate::disk::{Disk, RealDisk};
use crate::tree::{DataTree, Node, SessionInfo, TreeCopy};

const MAGIC: &[u8; 8] = b"ZKMSNAP1";

/// The file a snapshot is written to before it is renamed into place; one left behind by a
/// crash is removed at the next start.
///
/// ```
/// use zk_server_mini::snapshot;
/// use zk_server_mini::tree::DataTree;
/// let dir = std::env::temp_dir().join(format!("zk-mini-snap-tmp-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// snapshot::write(&dir, 5, &snapshot::serialize(&DataTree::new()))?;
/// assert!(!dir.join(snapshot::TEMP_NAME).exists()); // renamed into place
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub const TEMP_NAME: &str = "snapshot.tmp";

/// Snapshot files in `dir` with their zxid, oldest first.
///
/// ```
/// use zk_server_mini::snapshot;
/// use zk_server_mini::tree::DataTree;
/// let dir = std::env::temp_dir().join(format!("zk-mini-snap-list-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// snapshot::write(&dir, 0x10, &snapshot::serialize(&DataTree::new()))?;
/// snapshot::write(&dir, 0x2, &snapshot::serialize(&DataTree::new()))?;
/// let zxids: Vec<i64> = snapshot::list_snapshots(&dir)?.into_iter().map(|(z, _)| z).collect();
/// assert_eq!(zxids, [0x2, 0x10]); // oldest first, by zxid
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn list_snapshots(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    list_snapshots_on(&RealDisk, dir)
}

/// [`list_snapshots`] on `disk`.
///
/// ```
/// use std::path::Path;
/// use std::time::Duration;
/// use zk_server_mini::disk::Disk;
/// use zk_server_mini::sim_disk::SimDisk;
/// use zk_server_mini::snapshot;
/// use zk_server_mini::tree::DataTree;
/// let disk = SimDisk::default();
/// let dir = Path::new("/data");
/// disk.create_dir_all(dir)?;
/// snapshot::write_with(&disk, dir, 7, Duration::ZERO, |f| f.write_all(&snapshot::serialize(&DataTree::new())))?;
/// let found = snapshot::list_snapshots_on(&disk, dir)?;
/// assert_eq!(found[0].0, 7);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn list_snapshots_on(disk: &dyn Disk, dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    for path in disk.list(dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(hex) = name.strip_prefix("snapshot.")
            && let Ok(z) = i64::from_str_radix(hex, 16)
        {
            out.push((z, path.clone()));
        }
    }
    out.sort();
    Ok(out)
}

/// Serializes the state (nodes sorted by path, so equal trees give equal bytes).
///
/// ```
/// use zk_server_mini::{snapshot, tree::DataTree};
/// let a = snapshot::serialize(&DataTree::new());
/// assert_eq!(a, snapshot::serialize(&DataTree::new())); // deterministic
/// assert_eq!(snapshot::deserialize(&a)?, DataTree::new());
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
pub fn serialize(tree: &DataTree) -> Bytes {
    // Sized exactly up front: a growing buffer would peak at up to twice the state.
    let mut out = Vec::with_capacity(encoded_len(tree));
    // Writing to a Vec cannot fail.
    let _ = encode(
        &mut out,
        tree.last_zxid,
        &tree.sessions,
        tree.iter().collect(),
    );
    out.into()
}

/// The exact length of [`serialize`]'s output for `tree`.
fn encoded_len(tree: &DataTree) -> usize {
    let string = |s: &str| 4 + s.len();
    let sessions: usize = tree
        .sessions
        .values()
        .map(|s| 8 + 4 + 4 + s.passwd.len())
        .sum();
    let nodes: usize = tree
        .iter()
        .map(|(path, n)| {
            let acl: usize = n
                .acl
                .iter()
                .map(|a| 4 + string(&a.id.scheme) + string(&a.id.id))
                .sum();
            string(path) + 4 + n.data.len() + 4 + acl + 4 * 8 + 4 + 4 + 8 + 8 + 4
        })
        .sum();
    MAGIC.len() + 8 + 4 + sessions + 4 + nodes + 4
}

/// Serializes a [`TreeCopy`] (taken with [`DataTree::copy_for_snapshot`]): the same bytes as
/// [`serialize`] of the tree it was copied from.
///
/// ```
/// use zk_server_mini::{snapshot, tree::DataTree};
/// let tree = DataTree::new();
/// let copy = tree.copy_for_snapshot();
/// assert_eq!(snapshot::serialize_copy(&copy), snapshot::serialize(&tree));
/// ```
pub fn serialize_copy(copy: &TreeCopy) -> Bytes {
    let mut out = Vec::new();
    let _ = write_copy_to(&mut out, copy);
    out.into()
}

/// Streams the bytes of [`serialize_copy`] to `out` through a small buffer, so a snapshot
/// never holds a second, serialized copy of the whole tree in memory.
///
/// ```
/// use zk_server_mini::{snapshot, tree::DataTree};
/// let tree = DataTree::new();
/// let mut out = Vec::new();
/// snapshot::write_copy_to(&mut out, &tree.copy_for_snapshot())?;
/// assert_eq!(out, snapshot::serialize(&tree));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_copy_to(out: &mut impl Write, copy: &TreeCopy) -> io::Result<()> {
    // Sized up front: the list of references is the only per-node memory writing takes.
    let mut nodes = Vec::with_capacity(copy.node_count());
    nodes.extend(copy.iter());
    encode(out, copy.last_zxid, &copy.sessions, nodes)
}

/// Bytes gathered before they are checksummed and handed to the writer.
const CHUNK: usize = 64 * 1024;

fn encode(
    out: &mut impl Write,
    last_zxid: i64,
    sessions: &BTreeMap<i64, SessionInfo>,
    mut nodes: Vec<(&str, &Node)>,
) -> io::Result<()> {
    let mut crc = crc32fast::Hasher::new();
    let mut buf = BytesMut::with_capacity(CHUNK);
    let mut flush = |buf: &mut BytesMut| -> io::Result<()> {
        crc.update(buf);
        out.write_all(buf)?;
        buf.clear();
        Ok(())
    };
    buf.put_slice(MAGIC);
    last_zxid.encode(&mut buf);
    (sessions.len() as i32).encode(&mut buf);
    for (id, s) in sessions {
        id.encode(&mut buf);
        s.timeout_ms.encode(&mut buf);
        s.passwd.encode(&mut buf);
        if buf.len() >= CHUNK {
            flush(&mut buf)?;
        }
    }
    nodes.sort_unstable_by(|a, b| a.0.cmp(b.0));
    (nodes.len() as i32).encode(&mut buf);
    for (path, n) in nodes {
        write_ustring(&mut buf, Some(path));
        match n.data.as_slice() {
            None => (-1i32).encode(&mut buf),
            Some(d) => {
                (d.len() as i32).encode(&mut buf);
                buf.put_slice(d);
            }
        }
        write_vec(&mut buf, &n.acl);
        for v in [n.czxid, n.mzxid, n.ctime, n.mtime] {
            v.encode(&mut buf);
        }
        n.version.encode(&mut buf);
        n.aversion.encode(&mut buf);
        n.ephemeral_owner.encode(&mut buf);
        n.pzxid.encode(&mut buf);
        n.create_counter.encode(&mut buf);
        if buf.len() >= CHUNK {
            flush(&mut buf)?;
        }
    }
    flush(&mut buf)?;
    out.write_all(&crc.finalize().to_be_bytes())
}

/// Reads a snapshot back; any damage is an error.
///
/// ```
/// use zk_server_mini::{snapshot, tree::DataTree};
/// let mut bytes = snapshot::serialize(&DataTree::new()).to_vec();
/// assert!(snapshot::deserialize(&bytes).is_ok());
/// let last = bytes.len() - 1;
/// bytes[last] ^= 1; // the trailing CRC32 no longer matches
/// assert!(snapshot::deserialize(&bytes).is_err());
/// ```
pub fn deserialize(bytes: &[u8]) -> Result<DataTree, DecodeError> {
    deserialize_shared(Bytes::copy_from_slice(bytes))
}

/// [`deserialize`] reading `bytes` in place (no copy of the snapshot): the loaded nodes own
/// their paths and data, so `bytes` is not pinned once this returns.
///
/// ```
/// use zk_server_mini::{snapshot, tree::DataTree};
/// let tree = snapshot::deserialize_shared(snapshot::serialize(&DataTree::new()))?;
/// assert_eq!(tree.node_count(), 4);
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
pub fn deserialize_shared(bytes: Bytes) -> Result<DataTree, DecodeError> {
    let corrupt = |what: &'static str| DecodeError::InvalidValue {
        field: what,
        value: 0,
    };
    if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt("snapshot magic"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(corrupt("snapshot checksum"));
    }
    let mut r = JuteReader::new(bytes.slice(MAGIC.len()..bytes.len() - 4));
    let last_zxid = r.read_i64()?;
    let mut sessions = std::collections::BTreeMap::new();
    for _ in 0..r.read_i32()?.max(0) {
        let id = r.read_i64()?;
        let timeout_ms = r.read_i32()?;
        // Its own copy: a slice would pin the whole snapshot buffer.
        let passwd = Bytes::copy_from_slice(&r.read_buffer()?.unwrap_or_default());
        sessions.insert(id, SessionInfo { timeout_ms, passwd });
    }
    // Rebuilt from scratch so the indexes (ephemerals, containers, TTLs) are right; nodes go
    // in as they are read (no list of them beside the tree), children are linked after.
    let mut rebuilt = DataTree::empty();
    rebuilt.sessions = sessions;
    rebuilt.last_zxid = last_zxid;
    let count = r.read_i32()?;
    for _ in 0..count.max(0) {
        let path = r.read_string()?;
        // `Node::new` keeps its own copy of the data (`NodeData`), never a slice of `bytes`.
        let data = r.read_buffer()?;
        let acl: Vec<Acl> = r.read_vec()?;
        let mut n = Node::new(data, acl, 0, 0, 0);
        n.czxid = r.read_i64()?;
        n.mzxid = r.read_i64()?;
        n.ctime = r.read_i64()?;
        n.mtime = r.read_i64()?;
        n.version = r.read_i32()?;
        n.aversion = r.read_i32()?;
        n.ephemeral_owner = r.read_i64()?;
        n.pzxid = r.read_i64()?;
        n.create_counter = r.read_i32()?;
        if rebuilt.get(&path).is_some() {
            return Err(corrupt("snapshot node twice"));
        }
        rebuilt.insert_raw(path, n);
    }
    if !r.is_empty() {
        return Err(corrupt("snapshot trailing bytes"));
    }
    if !rebuilt.link_all() {
        return Err(corrupt("snapshot node without parent"));
    }
    if rebuilt.get("/").is_none() {
        return Err(corrupt("snapshot without root"));
    }
    Ok(rebuilt)
}

/// Writes `bytes` (from [`serialize`]) as the snapshot for `zxid`, atomically.
///
/// ```
/// use zk_server_mini::snapshot;
/// use zk_server_mini::tree::DataTree;
/// let dir = std::env::temp_dir().join(format!("zk-mini-snap-write-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = snapshot::write(&dir, 0x2a, &snapshot::serialize(&DataTree::new()))?;
/// assert_eq!(path.file_name().unwrap(), "snapshot.000000000000002a");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write(dir: &Path, zxid: i64, bytes: &[u8]) -> io::Result<PathBuf> {
    write_slowly(dir, zxid, bytes, std::time::Duration::ZERO)
}

/// [`write()`], pausing for `delay` (fault injection: a slow disk) between writing the
/// temporary file and renaming it into place.
///
/// ```
/// use zk_server_mini::snapshot;
/// use zk_server_mini::tree::DataTree;
/// let dir = std::env::temp_dir().join(format!("zk-mini-snap-slow-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// use std::time::Duration;
/// let bytes = snapshot::serialize(&DataTree::new());
/// snapshot::write_slowly(&dir, 3, &bytes, Duration::from_millis(10))?; // as on a slow disk
/// assert_eq!(snapshot::list_snapshots(&dir)?.len(), 1);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_slowly(
    dir: &Path,
    zxid: i64,
    bytes: &[u8],
    delay: std::time::Duration,
) -> io::Result<PathBuf> {
    write_with(&RealDisk, dir, zxid, delay, |f| f.write_all(bytes))
}

/// [`write_slowly`] with the contents produced by `fill`, straight into the temporary file.
/// Buffered: the snapshot is serialized in many small writes.
///
/// ```
/// use std::path::Path;
/// use std::time::Duration;
/// use zk_server_mini::disk::Disk;
/// use zk_server_mini::sim_disk::SimDisk;
/// use zk_server_mini::snapshot;
/// use zk_server_mini::tree::DataTree;
/// let disk = SimDisk::default();
/// let dir = Path::new("/data");
/// disk.create_dir_all(dir)?;
/// let tree = DataTree::new();
/// let copy = tree.copy_for_snapshot();
/// // stream the copy straight into the temporary file
/// snapshot::write_with(&disk, dir, 9, Duration::ZERO, |mut f| snapshot::write_copy_to(&mut f, &copy))?;
/// assert_eq!(snapshot::load_newest_on(&disk, dir)?, tree);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_with(
    disk: &dyn Disk,
    dir: &Path,
    zxid: i64,
    delay: std::time::Duration,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let tmp = dir.join(TEMP_NAME);
    let path = dir.join(format!("snapshot.{zxid:016x}"));
    {
        let mut f = io::BufWriter::with_capacity(1 << 20, disk.create(&tmp)?);
        fill(&mut f)?;
        let mut f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync()?;
    }
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    disk.rename(&tmp, &path)?;
    disk.sync_dir(dir)?;
    Ok(path)
}

/// The newest snapshot that loads, or a fresh tree. Damaged snapshots are logged and skipped.
///
/// ```
/// use zk_server_mini::snapshot;
/// use zk_server_mini::tree::DataTree;
/// let dir = std::env::temp_dir().join(format!("zk-mini-snap-newest-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// assert_eq!(snapshot::load_newest(&dir)?, DataTree::new()); // nothing yet: a fresh tree
/// let mut tree = DataTree::new();
/// tree.last_zxid = 4;
/// snapshot::write(&dir, 4, &snapshot::serialize(&tree))?;
/// assert_eq!(snapshot::load_newest(&dir)?.last_zxid, 4);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn load_newest(dir: &Path) -> io::Result<DataTree> {
    load_newest_on(&RealDisk, dir)
}

/// [`load_newest`] on `disk`.
///
/// ```
/// use std::path::Path;
/// use std::time::Duration;
/// use zk_server_mini::disk::Disk;
/// use zk_server_mini::sim_disk::SimDisk;
/// use zk_server_mini::snapshot;
/// use zk_server_mini::tree::DataTree;
/// let disk = SimDisk::default();
/// let dir = Path::new("/data");
/// disk.create_dir_all(dir)?;
/// let mut tree = DataTree::new();
/// tree.last_zxid = 1;
/// snapshot::write_with(&disk, dir, 1, Duration::ZERO, |f| f.write_all(&snapshot::serialize(&tree)))?;
/// tree.last_zxid = 2;
/// snapshot::write_with(&disk, dir, 2, Duration::ZERO, |f| f.write_all(b"damaged"))?;
/// assert_eq!(snapshot::load_newest_on(&disk, dir)?.last_zxid, 1); // falls back
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn load_newest_on(disk: &dyn Disk, dir: &Path) -> io::Result<DataTree> {
    for (zxid, path) in list_snapshots_on(disk, dir)?.into_iter().rev() {
        let bytes = disk.read(&path)?;
        match deserialize(&bytes) {
            Ok(tree) if tree.last_zxid == zxid => return Ok(tree),
            Ok(_) => {
                tracing::warn!(file = %path.display(), "snapshot zxid does not match its name; skipped")
            }
            Err(e) => tracing::warn!(file = %path.display(), "snapshot is damaged ({e}); skipped"),
        }
    }
    Ok(DataTree::new())
}

/// Keeps the newest `keep` snapshots and the logs they need; removes the rest.
///
/// ```
/// use std::path::Path;
/// use std::time::Duration;
/// use zk_server_mini::disk::Disk;
/// use zk_server_mini::sim_disk::SimDisk;
/// use zk_server_mini::snapshot;
/// use zk_server_mini::tree::DataTree;
/// let disk = SimDisk::default();
/// let dir = Path::new("/data");
/// disk.create_dir_all(dir)?;
/// for z in 1..=3 {
///     snapshot::write_with(&disk, dir, z, Duration::ZERO, |f| f.write_all(&snapshot::serialize(&DataTree::new())))?;
/// }
/// snapshot::prune(&disk, dir, dir, 2)?;
/// let left: Vec<i64> = snapshot::list_snapshots_on(&disk, dir)?.into_iter().map(|(z, _)| z).collect();
/// assert_eq!(left, [2, 3]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn prune(disk: &dyn Disk, dir: &Path, log_dir: &Path, keep: usize) -> io::Result<()> {
    let snaps = list_snapshots_on(disk, dir)?;
    if snaps.len() <= keep {
        return Ok(());
    }
    let cut = snaps.len() - keep;
    for (_, p) in &snaps[..cut] {
        disk.remove(p)?;
    }
    let oldest_kept = snaps[cut].0;
    let logs = crate::wal::list_logs_on(disk, log_dir)?;
    for w in logs.windows(2) {
        // A log is unneeded when the next one starts at or below the oldest kept snapshot.
        if w[1].0 <= oldest_kept.saturating_add(1) {
            disk.remove(&w[0].1)?;
        }
    }
    // Removals need no directory sync: a file that comes back after a crash is pruned again.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serialized_size_is_known_up_front() {
        let mut t = DataTree::new();
        t.sessions.insert(
            5,
            SessionInfo {
                timeout_ms: 10,
                passwd: Bytes::from_static(&[1; 16]),
            },
        );
        let acl = vec![Acl::new(
            zk_proto::acl::Perms::ALL,
            zk_proto::acl::Id::new("digest", "u:x"),
        )];
        assert!(t.insert(
            "/a",
            Node::new(Some(Bytes::from(vec![1; 100])), acl, 1, 0, 0),
            1,
            1
        ));
        assert!(t.insert("/a/b", Node::new(None, Acl::open_unsafe(), 2, 0, 0), 1, 2));
        assert_eq!(serialize(&t).len(), encoded_len(&t));
    }
    use crate::apply::apply;
    use crate::tree::CONTAINER_OWNER;
    use crate::txn::{Txn, TxnHeader};

    fn sample() -> DataTree {
        let mut t = DataTree::new();
        let h = |zxid| TxnHeader {
            session_id: 9,
            cxid: 0,
            zxid,
            time: 5,
        };
        apply(
            &mut t,
            &h(1),
            &Txn::CreateSession {
                timeout_ms: 4000,
                passwd: Bytes::from_static(&[7; 16]),
            },
        );
        for (z, p, owner) in [(2, "/a", 0), (3, "/a/e", 9), (4, "/c", CONTAINER_OWNER)] {
            apply(
                &mut t,
                &h(z),
                &Txn::Create {
                    path: p.into(),
                    data: Some(Bytes::from_static(b"x")),
                    acl: Acl::open_unsafe(),
                    ephemeral_owner: owner,
                    parent_counter: 1,
                },
            );
        }
        t
    }

    #[test]
    fn round_trip_keeps_everything() {
        let t = sample();
        let back = deserialize(&serialize(&t)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, t);
        assert_eq!(back.ephemerals_of(9).count(), 1);
        // Loaded nodes share one ACL list and own their data (not slices of the file).
        let acl = |p: &str| back.get(p).map(|n| n.acl.clone());
        assert!(
            matches!((acl("/"), acl("/a/e")), (Some(x), Some(y)) if std::sync::Arc::ptr_eq(&x, &y))
        );
        assert_eq!(
            back.get("/a")
                .and_then(|n| n.data.as_slice())
                .map(<[u8]>::len),
            Some(1)
        );
    }

    #[test]
    fn a_streamed_copy_is_the_same_snapshot_as_the_tree_at_its_zxid() {
        let mut t = sample();
        let h = |zxid| TxnHeader {
            session_id: 9,
            cxid: 0,
            zxid,
            time: 5,
        };
        // Enough nodes to span several chunks.
        for i in 0..3000 {
            apply(
                &mut t,
                &h(10 + i),
                &Txn::Create {
                    path: format!("/a/n{i}"),
                    data: Some(Bytes::from(vec![i as u8; 40])),
                    acl: Acl::open_unsafe(),
                    ephemeral_owner: 0,
                    parent_counter: i as i32 + 2,
                },
            );
        }
        let copy = t.copy_for_snapshot();
        let expected = serialize(&t);
        assert!(expected.len() > 3 * CHUNK);
        // Later changes do not reach the copy.
        let later = t.last_zxid + 1;
        apply(
            &mut t,
            &h(later),
            &Txn::Delete {
                path: "/a/n7".into(),
            },
        );
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = write_with(
            &RealDisk,
            dir.path(),
            copy.last_zxid,
            std::time::Duration::ZERO,
            |mut f| write_copy_to(&mut f, &copy),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let written = std::fs::read(path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(written, expected);
        let back = load_newest(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.node_count(), t.node_count() + 1);
        assert!(back.get("/a/n7").is_some() && t.get("/a/n7").is_none());
    }

    #[test]
    fn damaged_newest_falls_back_to_older() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let t = sample();
        write(dir.path(), t.last_zxid, &serialize(&t)).unwrap_or_else(|e| panic!("{e}"));
        let mut newer = t.clone();
        newer.last_zxid = 10;
        let mut bytes = serialize(&newer).to_vec();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        write(dir.path(), 10, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let loaded = load_newest(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.last_zxid, t.last_zxid);
    }
}
