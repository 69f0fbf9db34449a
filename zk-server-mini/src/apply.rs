//! Applying a committed transaction to the tree: the results the reply needs and the changes
//! that fire watches. Applying never checks permissions or versions; prep already decided.

use zk_proto::{ErrorCode, Stat};

use crate::tree::{DataTree, Node, NodeData, SessionInfo, split_parent};
use crate::txn::{Txn, TxnHeader};

/// What a transaction did, for building the reply.
///
/// ```
/// use bytes::Bytes;
/// use zk_proto::acl::Acl;
/// use zk_server_mini::apply::{Change, TxnResult, apply};
/// use zk_server_mini::tree::DataTree;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// let mut tree = DataTree::new();
/// let header = TxnHeader { session_id: 5, cxid: 1, zxid: 10, time: 1_000 };
/// let create = Txn::Create {
///     path: "/a".into(), data: Some(Bytes::from_static(b"v")), acl: Acl::open_unsafe(),
///     ephemeral_owner: 0, parent_counter: 1,
/// };
/// let (result, _) = apply(&mut tree, &header, &create);
/// assert!(matches!(result, TxnResult::Created { path, stat } if path == "/a" && stat.czxid == 10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnResult {
    /// A node was created.
    Created {
        /// Its path.
        path: String,
        /// Its stat.
        stat: Stat,
    },
    /// A node was deleted.
    Deleted,
    /// setData or setACL: the new stat.
    Stat(Stat),
    /// A check passed.
    Checked,
    /// Results of a multi, in order.
    Multi(Vec<TxnResult>),
    /// The write failed with this code (or, in a failed multi, 0 / -2).
    Error(ErrorCode),
    /// A session was created.
    SessionCreated,
    /// A session was closed.
    SessionClosed,
}

/// A change that fires watches.
///
/// ```
/// use bytes::Bytes;
/// use zk_proto::acl::Acl;
/// use zk_server_mini::apply::{Change, TxnResult, apply};
/// use zk_server_mini::tree::DataTree;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// let mut tree = DataTree::new();
/// let header = TxnHeader { session_id: 5, cxid: 1, zxid: 10, time: 1_000 };
/// let create = Txn::Create {
///     path: "/a".into(), data: Some(Bytes::from_static(b"v")), acl: Acl::open_unsafe(),
///     ephemeral_owner: 0, parent_counter: 1,
/// };
/// let (_, changes) = apply(&mut tree, &header, &create);
/// assert_eq!(changes, [Change::Created("/a".into())]); // fires exists/getChildren watches
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A node was created.
    Created(String),
    /// A node was deleted.
    Deleted(String),
    /// A node's data changed.
    DataChanged(String),
}

/// Applies `txn` at `header.zxid`. Returns the result and the watch-firing changes in order.
///
/// A transaction that does not fit the tree (which prep rules out) is logged and skipped
/// rather than trusted.
///
/// ```
/// use bytes::Bytes;
/// use zk_proto::acl::Acl;
/// use zk_server_mini::apply::{Change, TxnResult, apply};
/// use zk_server_mini::tree::DataTree;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// let mut tree = DataTree::new();
/// let header = TxnHeader { session_id: 5, cxid: 1, zxid: 10, time: 1_000 };
/// let create = Txn::Create {
///     path: "/a".into(), data: Some(Bytes::from_static(b"v")), acl: Acl::open_unsafe(),
///     ephemeral_owner: 0, parent_counter: 1,
/// };
/// apply(&mut tree, &header, &create);
/// assert_eq!(tree.last_zxid, 10);
/// let set = Txn::SetData { path: "/a".into(), data: None, version: 1 };
/// let (result, changes) = apply(&mut tree, &TxnHeader { zxid: 11, ..header }, &set);
/// assert!(matches!(result, TxnResult::Stat(s) if s.version == 1 && s.mzxid == 11));
/// assert_eq!(changes, [Change::DataChanged("/a".into())]);
/// ```
pub fn apply(tree: &mut DataTree, header: &TxnHeader, txn: &Txn) -> (TxnResult, Vec<Change>) {
    let mut changes = Vec::new();
    let result = apply_one(tree, header, txn, &mut changes);
    if header.zxid > tree.last_zxid {
        tree.last_zxid = header.zxid;
    }
    (result, changes)
}

fn inconsistent(what: &str, path: &str, zxid: i64) -> TxnResult {
    tracing::error!(
        zxid,
        path,
        "transaction does not fit the tree: {what}; skipped"
    );
    TxnResult::Error(ErrorCode::SystemError)
}

fn apply_one(
    tree: &mut DataTree,
    h: &TxnHeader,
    txn: &Txn,
    changes: &mut Vec<Change>,
) -> TxnResult {
    match txn {
        Txn::CreateSession { timeout_ms, passwd } => {
            tree.sessions.insert(
                h.session_id,
                SessionInfo {
                    timeout_ms: *timeout_ms,
                    passwd: passwd.clone(),
                },
            );
            TxnResult::SessionCreated
        }
        Txn::CloseSession { paths } => {
            for p in paths {
                if tree.remove(p, h.zxid).is_some() {
                    changes.push(Change::Deleted(p.clone()));
                }
            }
            tree.sessions.remove(&h.session_id);
            TxnResult::SessionClosed
        }
        Txn::Create {
            path,
            data,
            acl,
            ephemeral_owner,
            parent_counter,
        } => {
            let acl = tree.intern_acl(acl);
            // The node keeps its own exact-size copy (see `NodeData`), never a slice of the
            // request or log buffer.
            let node = Node::new(data.clone(), acl, h.zxid, h.time, *ephemeral_owner);
            let stat = node.stat();
            if !tree.insert(path, node, *parent_counter, h.zxid) {
                return inconsistent("create", path, h.zxid);
            }
            changes.push(Change::Created(path.clone()));
            TxnResult::Created {
                path: path.clone(),
                stat,
            }
        }
        Txn::Delete { path } => {
            if tree.remove(path, h.zxid).is_none() {
                return inconsistent("delete", path, h.zxid);
            }
            changes.push(Change::Deleted(path.clone()));
            TxnResult::Deleted
        }
        Txn::SetData {
            path,
            data,
            version,
        } => {
            let Some(node) = tree.get_mut(path) else {
                return inconsistent("setData", path, h.zxid);
            };
            node.data = NodeData::copy_of(data.as_deref());
            node.version = *version;
            node.mzxid = h.zxid;
            node.mtime = h.time;
            let stat = node.stat();
            changes.push(Change::DataChanged(path.clone()));
            TxnResult::Stat(stat)
        }
        Txn::SetAcl {
            path,
            acl,
            aversion,
        } => {
            if tree.get(path).is_none() {
                return inconsistent("setACL", path, h.zxid);
            }
            let acl = tree.intern_acl(acl);
            let Some(node) = tree.get_mut(path) else {
                return inconsistent("setACL", path, h.zxid);
            };
            node.acl = acl;
            node.aversion = *aversion;
            TxnResult::Stat(node.stat())
        }
        Txn::Reconfig { data } => {
            let path = crate::reconfig::CONFIG_PATH;
            let Some(node) = tree.get_mut(path) else {
                return inconsistent("reconfig", path, h.zxid);
            };
            node.data = NodeData::copy_of(Some(data));
            node.version = -1;
            node.mzxid = h.zxid;
            node.mtime = h.time;
            let stat = node.stat();
            changes.push(Change::DataChanged(path.to_owned()));
            TxnResult::Stat(stat)
        }
        Txn::Check { .. } => TxnResult::Checked,
        Txn::Multi(txns) => TxnResult::Multi(
            txns.iter()
                .map(|t| apply_one(tree, h, t, changes))
                .collect(),
        ),
        Txn::Error(code) => TxnResult::Error(*code),
    }
}

/// The parent of a changed path, for NodeChildrenChanged.
///
/// ```
/// use zk_server_mini::apply::parent_of;
/// assert_eq!(parent_of("/a/b"), Some("/a"));
/// assert_eq!(parent_of("/a"), Some("/"));
/// assert_eq!(parent_of("/"), None);
/// ```
pub fn parent_of(path: &str) -> Option<&str> {
    split_parent(path).map(|(p, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use zk_proto::acl::Acl;

    fn h(zxid: i64) -> TxnHeader {
        TxnHeader {
            session_id: 5,
            cxid: 0,
            zxid,
            time: 77,
        }
    }

    #[test]
    fn set_acl_does_not_touch_mzxid_and_close_session_deletes_ephemerals() {
        let mut t = DataTree::new();
        let create = Txn::Create {
            path: "/e".into(),
            data: Some(Bytes::from_static(b"x")),
            acl: Acl::open_unsafe(),
            ephemeral_owner: 5,
            parent_counter: 1,
        };
        let (r, c) = apply(&mut t, &h(3), &create);
        assert!(matches!(r, TxnResult::Created { .. }));
        assert_eq!(c, vec![Change::Created("/e".into())]);
        let (r, c) = apply(
            &mut t,
            &h(4),
            &Txn::SetAcl {
                path: "/e".into(),
                acl: Acl::read_unsafe(),
                aversion: 1,
            },
        );
        assert!(matches!(r, TxnResult::Stat(s) if s.mzxid == 3 && s.aversion == 1));
        assert!(c.is_empty());
        let (_, c) = apply(
            &mut t,
            &h(5),
            &Txn::CloseSession {
                paths: vec!["/e".into()],
            },
        );
        assert_eq!(c, vec![Change::Deleted("/e".into())]);
        assert!(t.get("/e").is_none());
        assert_eq!(t.last_zxid, 5);
    }

    #[test]
    fn stored_data_does_not_pin_the_request_buffer() {
        // The data arrives as a slice of a larger receive buffer.
        let buffer = Bytes::from(vec![7u8; 4096]);
        let inside = |d: &Bytes| buffer.as_ptr_range().contains(&d.as_ptr());
        let mut t = DataTree::new();
        let create = Txn::Create {
            path: "/d".into(),
            data: Some(buffer.slice(100..132)),
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_counter: 1,
        };
        let _ = apply(&mut t, &h(1), &create);
        let stored = t
            .get("/d")
            .and_then(|n| n.data.to_bytes())
            .unwrap_or_default();
        assert_eq!(stored, buffer.slice(100..132));
        assert!(!inside(&stored));
        let set = Txn::SetData {
            path: "/d".into(),
            data: Some(buffer.slice(200..210)),
            version: 1,
        };
        let _ = apply(&mut t, &h(2), &set);
        let stored = t
            .get("/d")
            .and_then(|n| n.data.to_bytes())
            .unwrap_or_default();
        assert_eq!(stored, buffer.slice(200..210));
        assert!(!inside(&stored));
        // Null stays null, empty stays empty.
        let set = Txn::SetData {
            path: "/d".into(),
            data: None,
            version: 2,
        };
        let _ = apply(&mut t, &h(3), &set);
        assert_eq!(t.get("/d").map(|n| n.data.is_null()), Some(true));
    }

    #[test]
    fn created_and_set_acls_are_interned() {
        let mut t = DataTree::new();
        for (z, p) in [(1, "/x"), (2, "/y")] {
            let _ = apply(
                &mut t,
                &h(z),
                &Txn::Create {
                    path: p.into(),
                    data: None,
                    acl: Acl::read_unsafe(),
                    ephemeral_owner: 0,
                    parent_counter: z as i32,
                },
            );
        }
        let _ = apply(
            &mut t,
            &h(3),
            &Txn::SetAcl {
                path: "/x".into(),
                acl: Acl::open_unsafe(),
                aversion: 1,
            },
        );
        let acl = |p: &str| t.get(p).map(|n| n.acl.clone());
        let (root, x, y, config) = (acl("/"), acl("/x"), acl("/y"), acl("/zookeeper/config"));
        assert!(matches!((&root, &x), (Some(r), Some(x)) if std::sync::Arc::ptr_eq(r, x)));
        assert!(matches!((&config, &y), (Some(c), Some(y)) if std::sync::Arc::ptr_eq(c, y)));
    }

    #[test]
    fn a_txn_that_does_not_fit_is_skipped() {
        let mut t = DataTree::new();
        let (r, _) = apply(
            &mut t,
            &h(1),
            &Txn::Delete {
                path: "/nope".into(),
            },
        );
        assert_eq!(r, TxnResult::Error(ErrorCode::SystemError));
    }
}
