//! One znode ([`Node`]), the kinds of owner a node can have, and a session as the replicated
//! state knows it.

use std::sync::Arc;

use bytes::Bytes;
use zk_proto::Stat;
use zk_proto::acl::Acl;

use super::NodeData;

/// The `ephemeralOwner` marker stored for container nodes (reported to clients as 0).
///
/// ```
/// use zk_server_mini::tree::{CONTAINER_OWNER, OwnerKind};
/// assert_eq!(OwnerKind::of(CONTAINER_OWNER), OwnerKind::Container);
/// ```
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// The high byte that marks a TTL node's stored `ephemeralOwner`; the low bits hold the TTL.
const TTL_MARKER: u64 = 0xFF00_0000_0000_0000;
/// The low bits of a TTL node's stored owner.
const TTL_MASK: u64 = 0x00FF_FFFF_FFFF_FFFF;

/// The four nodes that exist on every server and can never be deleted.
///
/// ```
/// use zk_server_mini::tree::{DataTree, SPECIAL_PATHS};
/// let tree = DataTree::new();
/// assert!(SPECIAL_PATHS.iter().all(|p| tree.get(p).is_some()));
/// ```
pub const SPECIAL_PATHS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// What kind of node a stored `ephemeralOwner` describes.
///
/// ```
/// use zk_server_mini::tree::{CONTAINER_OWNER, OwnerKind};
/// assert_eq!(OwnerKind::of(0), OwnerKind::Persistent);
/// assert_eq!(OwnerKind::of(0x1234), OwnerKind::Ephemeral(0x1234));
/// assert_eq!(OwnerKind::of(CONTAINER_OWNER), OwnerKind::Container);
/// assert_eq!(OwnerKind::of(OwnerKind::ttl_owner(60_000)), OwnerKind::Ttl(60_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    /// A persistent node (owner 0).
    Persistent,
    /// An ephemeral node owned by this session.
    Ephemeral(i64),
    /// A container node.
    Container,
    /// A TTL node with this TTL in milliseconds.
    Ttl(i64),
}

impl OwnerKind {
    /// Classifies a stored owner value.
    ///
    /// ```
    /// use zk_server_mini::tree::OwnerKind;
    /// let session = 0x0100_0000_0000_0001;
    /// assert_eq!(OwnerKind::of(session), OwnerKind::Ephemeral(session));
    /// ```
    pub fn of(owner: i64) -> Self {
        if owner == 0 {
            Self::Persistent
        } else if owner == CONTAINER_OWNER {
            Self::Container
        } else if (owner as u64) & !TTL_MASK == TTL_MARKER {
            Self::Ttl(((owner as u64) & TTL_MASK) as i64)
        } else {
            Self::Ephemeral(owner)
        }
    }

    /// The stored owner value for a TTL node.
    ///
    /// ```
    /// use zk_server_mini::tree::OwnerKind;
    /// let stored = OwnerKind::ttl_owner(5_000);
    /// assert_eq!(OwnerKind::of(stored), OwnerKind::Ttl(5_000));
    /// ```
    pub fn ttl_owner(ttl_ms: i64) -> i64 {
        (TTL_MARKER | (ttl_ms as u64 & TTL_MASK)) as i64
    }
}

/// One znode.
///
/// ```
/// use zk_proto::acl::Acl;
/// use zk_server_mini::tree::{DataTree, Node};
/// let mut tree = DataTree::new();
/// let node = Node::new(Some("v".into()), Acl::open_unsafe(), 7, 1_000, 0);
/// assert!(tree.insert("/a", node, 1, 7));
/// let a = tree.get("/a").unwrap();
/// assert_eq!((a.czxid, a.version, a.num_children), (7, 0, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The data (null, or bytes: small data inline, no allocation of its own).
    pub data: NodeData,
    /// The node's ACL, shared with every node that has the same list (see [`super::DataTree::intern_acl`]).
    pub acl: Arc<[Acl]>,
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last setData.
    pub mzxid: i64,
    /// Create time (ms).
    pub ctime: i64,
    /// Last setData time (ms).
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// ACL version.
    pub aversion: i32,
    /// Stored owner: session id, [`CONTAINER_OWNER`], a TTL marker, or 0.
    pub ephemeral_owner: i64,
    /// zxid of the last create or delete of a direct child.
    pub pzxid: i64,
    /// The stored child-create counter C: the sequence source; cversion is `2*C - children`.
    pub create_counter: i32,
    /// Number of direct children (their names are kept by the tree: [`super::DataTree::children`]).
    pub num_children: u32,
}

impl Node {
    /// A fresh node as a create transaction makes it. The tree interns `acl` when the node is
    /// inserted.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::Node;
    /// let n = Node::new(None, Acl::open_unsafe(), 9, 1_000, 0);
    /// assert_eq!((n.czxid, n.mzxid, n.pzxid), (9, 9, 9));
    /// assert_eq!((n.ctime, n.mtime, n.version), (1_000, 1_000, 0));
    /// ```
    pub fn new(
        data: Option<Bytes>,
        acl: impl Into<Arc<[Acl]>>,
        zxid: i64,
        time: i64,
        owner: i64,
    ) -> Self {
        Self {
            data: NodeData::from(data),
            acl: acl.into(),
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: zxid,
            create_counter: 0,
            num_children: 0,
        }
    }

    /// The stat clients see (cversion quirk applied, special owners reported as 0).
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{CONTAINER_OWNER, Node};
    /// let n = Node::new(Some("abc".into()), Acl::open_unsafe(), 9, 1_000, CONTAINER_OWNER);
    /// let stat = n.stat();
    /// assert_eq!(stat.data_length, 3);
    /// assert_eq!(stat.ephemeral_owner, 0); // containers report no owner
    /// ```
    pub fn stat(&self) -> Stat {
        let num_children = i32::try_from(self.num_children).unwrap_or(i32::MAX);
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self
                .create_counter
                .wrapping_mul(2)
                .wrapping_sub(num_children),
            aversion: self.aversion,
            ephemeral_owner: match OwnerKind::of(self.ephemeral_owner) {
                OwnerKind::Ephemeral(sid) => sid,
                _ => 0,
            },
            data_length: i32::try_from(self.data.len()).unwrap_or(i32::MAX),
            num_children,
            pzxid: self.pzxid,
        }
    }
}

/// A session as the replicated state knows it.
///
/// ```
/// use zk_server_mini::tree::{DataTree, SessionInfo};
/// let mut tree = DataTree::new();
/// let info = SessionInfo { timeout_ms: 30_000, passwd: vec![0u8; 16].into() };
/// tree.sessions.insert(0x42, info);
/// assert_eq!(tree.sessions[&0x42].timeout_ms, 30_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Negotiated timeout (ms).
    pub timeout_ms: i32,
    /// The 16-byte password.
    pub passwd: Bytes,
}
