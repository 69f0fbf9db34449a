//! Snapshots of the whole state: `snapshot.<zxid in hex>`, written to a temporary file, fsynced,
//! renamed into place and the directory fsynced. The file ends with a CRC32 of everything
//! before it; loading falls back to an older snapshot when the newest does not check out.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};
use zk_proto::DecodeError;
use zk_proto::jute::{Encode, JuteReader};

use crate::tree::{DataTree, Node, SessionInfo, child_path, split_parent};
use crate::wal::sync_dir;

const MAGIC: &[u8; 8] = b"ZKMSNAP1";

/// The file a snapshot is written to before it is renamed into place; one left behind by a
/// crash is removed at the next start.
pub const TEMP_NAME: &str = "snapshot.tmp";

/// Snapshot files in `dir` with their zxid, oldest first.
pub fn list_snapshots(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(hex) = name.strip_prefix("snapshot.")
            && let Ok(z) = i64::from_str_radix(hex, 16)
        {
            out.push((z, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Serializes the state (nodes sorted by path, so equal trees give equal bytes).
pub fn serialize(tree: &DataTree) -> Bytes {
    let mut out = BytesMut::new();
    out.put_slice(MAGIC);
    tree.last_zxid.encode(&mut out);
    (tree.sessions.len() as i32).encode(&mut out);
    for (id, s) in &tree.sessions {
        id.encode(&mut out);
        s.timeout_ms.encode(&mut out);
        s.passwd.encode(&mut out);
    }
    let mut nodes: Vec<(&String, &Node)> = tree.iter().collect();
    nodes.sort_by(|a, b| a.0.cmp(b.0));
    (nodes.len() as i32).encode(&mut out);
    for (path, n) in nodes {
        path.encode(&mut out);
        n.data.encode(&mut out);
        n.acl.encode(&mut out);
        for v in [n.czxid, n.mzxid, n.ctime, n.mtime] {
            v.encode(&mut out);
        }
        n.version.encode(&mut out);
        n.aversion.encode(&mut out);
        n.ephemeral_owner.encode(&mut out);
        n.pzxid.encode(&mut out);
        n.create_counter.encode(&mut out);
    }
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out.freeze()
}

/// Reads a snapshot back; any damage is an error.
pub fn deserialize(bytes: &[u8]) -> Result<DataTree, DecodeError> {
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
    let mut r = JuteReader::new(Bytes::copy_from_slice(&body[MAGIC.len()..]));
    let last_zxid = r.read_i64()?;
    let mut sessions = std::collections::BTreeMap::new();
    for _ in 0..r.read_i32()?.max(0) {
        let id = r.read_i64()?;
        let timeout_ms = r.read_i32()?;
        let passwd = r.read_buffer()?.unwrap_or_default();
        sessions.insert(id, SessionInfo { timeout_ms, passwd });
    }
    let count = r.read_i32()?;
    let mut loaded: Vec<(String, Node)> = Vec::new();
    for _ in 0..count.max(0) {
        let path = r.read_string()?;
        let data = r.read_buffer()?;
        let acl = r.read_vec()?;
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
        loaded.push((path, n));
    }
    if !r.is_empty() {
        return Err(corrupt("snapshot trailing bytes"));
    }
    // Rebuild the tree from scratch so the indexes (ephemerals, containers, TTLs) are right.
    let mut rebuilt = DataTree::empty();
    rebuilt.sessions = sessions;
    rebuilt.last_zxid = last_zxid;
    let paths: Vec<String> = loaded.iter().map(|(p, _)| p.clone()).collect();
    for (path, node) in loaded {
        rebuilt.insert_raw(path, node);
    }
    for p in &paths {
        if let Some((parent, name)) = split_parent(p) {
            match rebuilt.get_mut(parent) {
                Some(pn) => {
                    pn.children.insert(name.to_owned());
                }
                None => return Err(corrupt("snapshot node without parent")),
            }
        }
    }
    if rebuilt.get("/").is_none() {
        return Err(corrupt("snapshot without root"));
    }
    // Sanity: every child named by a node exists.
    for p in &paths {
        if let Some(n) = rebuilt.get(p) {
            for c in &n.children {
                if rebuilt.get(&child_path(p, c)).is_none() {
                    return Err(corrupt("snapshot child missing"));
                }
            }
        }
    }
    Ok(rebuilt)
}

/// Writes `bytes` (from [`serialize`]) as the snapshot for `zxid`, atomically.
pub fn write(dir: &Path, zxid: i64, bytes: &[u8]) -> io::Result<PathBuf> {
    write_slowly(dir, zxid, bytes, std::time::Duration::ZERO)
}

/// [`write`], pausing for `delay` (fault injection: a slow disk) between writing the
/// temporary file and renaming it into place.
pub fn write_slowly(
    dir: &Path,
    zxid: i64,
    bytes: &[u8],
    delay: std::time::Duration,
) -> io::Result<PathBuf> {
    let tmp = dir.join(TEMP_NAME);
    let path = dir.join(format!("snapshot.{zxid:016x}"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    std::fs::rename(&tmp, &path)?;
    sync_dir(dir)?;
    Ok(path)
}

/// The newest snapshot that loads, or a fresh tree. Damaged snapshots are logged and skipped.
pub fn load_newest(dir: &Path) -> io::Result<DataTree> {
    for (zxid, path) in list_snapshots(dir)?.into_iter().rev() {
        let bytes = std::fs::read(&path)?;
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
pub fn prune(dir: &Path, log_dir: &Path, keep: usize) -> io::Result<()> {
    let snaps = list_snapshots(dir)?;
    if snaps.len() <= keep {
        return Ok(());
    }
    let cut = snaps.len() - keep;
    for (_, p) in &snaps[..cut] {
        std::fs::remove_file(p)?;
    }
    let oldest_kept = snaps[cut].0;
    let logs = crate::wal::list_logs(log_dir)?;
    for w in logs.windows(2) {
        // A log is unneeded when the next one starts at or below the oldest kept snapshot.
        if w[1].0 <= oldest_kept.saturating_add(1) {
            std::fs::remove_file(&w[0].1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::apply;
    use crate::tree::CONTAINER_OWNER;
    use crate::txn::{Txn, TxnHeader};
    use zk_proto::acl::Acl;

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
