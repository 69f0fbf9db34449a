//! The data tree: nodes, their stats (with ZooKeeper's cversion and sequence quirks), ACLs,
//! ephemerals per session, container and TTL candidates, and the replicated session table.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use zk_proto::Stat;
use zk_proto::acl::{Acl, Id, Perms};

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
    /// The data; `None` is ZooKeeper's null buffer.
    pub data: Option<Bytes>,
    /// The node's ACL, shared with every node that has the same list (see [`DataTree::intern_acl`]).
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
    /// Number of direct children (their names are kept by the tree: [`DataTree::children`]).
    pub num_children: usize,
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
            data,
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
            data_length: self
                .data
                .as_ref()
                .map_or(0, |d| i32::try_from(d.len()).unwrap_or(i32::MAX)),
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

/// Interned ACL lists, as ZooKeeper's reference-counted ACL cache: identical lists share one
/// allocation. Keyed by a hash of the list; entries no node uses any more are dropped when the
/// table has doubled since the last sweep, so it stays within twice the lists in use.
#[derive(Debug, Clone, Default)]
struct AclTable {
    lists: HashMap<u64, Vec<Arc<[Acl]>>>,
    len: usize,
    sweep_at: usize,
}

impl AclTable {
    fn key(acl: &[Acl]) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        acl.len().hash(&mut h);
        for a in acl {
            a.perms.bits().hash(&mut h);
            a.id.scheme.hash(&mut h);
            a.id.id.hash(&mut h);
        }
        h.finish()
    }

    fn intern(&mut self, acl: &[Acl]) -> Arc<[Acl]> {
        let key = Self::key(acl);
        if let Some(found) = self
            .lists
            .get(&key)
            .and_then(|b| b.iter().find(|l| ***l == *acl))
        {
            return found.clone();
        }
        if self.len >= self.sweep_at {
            self.sweep();
        }
        let list: Arc<[Acl]> = Arc::from(acl);
        self.lists.entry(key).or_default().push(list.clone());
        self.len += 1;
        list
    }

    /// Drops the lists only this table holds.
    fn sweep(&mut self) {
        self.lists.retain(|_, bucket| {
            bucket.retain(|l| Arc::strong_count(l) > 1);
            !bucket.is_empty()
        });
        self.len = self.lists.values().map(Vec::len).sum();
        self.sweep_at = (self.len * 2).max(16);
    }
}

/// The replicated state: every node plus the session table and the last applied zxid.
///
/// Equality compares the state (nodes, indexes, sessions, zxid), not the ACL table's cache.
///
/// ```
/// use zk_proto::acl::Acl;
/// use zk_server_mini::tree::{DataTree, Node};
/// let mut tree = DataTree::new();
/// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
/// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
/// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
/// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
/// # }
/// assert!(add(&mut tree, "/app", 0, 1));
/// assert!(add(&mut tree, "/app/x", 0, 2));
/// assert_eq!(tree.children("/app").collect::<Vec<_>>(), ["x"]);
/// assert_eq!(tree.get("/app").unwrap().stat().num_children, 1);
/// ```
#[derive(Debug, Clone)]
pub struct DataTree {
    /// Every node, split by a hash of its path into [`SHARDS`] maps, each behind an `Arc` and
    /// copied on write: a snapshot copy clones the `Arc`s only, and the first change to a
    /// shard after a snapshot copies that shard alone (about 100 nodes at 100k, of shared paths,
    /// data and ACLs, never a children set).
    shards: Vec<Arc<Shard>>,
    /// Names of the direct children of every node that has any.
    children: HashMap<Arc<str>, BTreeSet<String>>,
    acls: AclTable,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// Live sessions (created and not yet closed).
    pub sessions: BTreeMap<i64, SessionInfo>,
    /// zxid of the last transaction applied.
    pub last_zxid: i64,
}

/// Nodes whose paths hash to one shard.
type Shard = HashMap<Arc<str>, Node>;

/// Number of shards of the node map.
const SHARDS: usize = 1024;

fn shard_of(path: &str) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    (h.finish() % SHARDS as u64) as usize
}

fn new_shards() -> Vec<Arc<Shard>> {
    (0..SHARDS).map(|_| Arc::new(Shard::new())).collect()
}

impl PartialEq for DataTree {
    fn eq(&self, other: &Self) -> bool {
        self.shards == other.shards
            && self.children == other.children
            && self.ephemerals == other.ephemerals
            && self.containers == other.containers
            && self.ttls == other.ttls
            && self.sessions == other.sessions
            && self.last_zxid == other.last_zxid
    }
}

impl Eq for DataTree {}

/// What a snapshot needs of the tree at one zxid, taken by [`DataTree::copy_for_snapshot`]:
/// the node shards as they were (shared, copy on write), the sessions and the zxid. Children
/// are not part of it: loading rebuilds them from the paths.
///
/// ```
/// use zk_proto::acl::Acl;
/// use zk_server_mini::tree::{DataTree, Node};
/// let mut tree = DataTree::new();
/// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
/// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
/// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
/// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
/// # }
/// add(&mut tree, "/a", 0, 1);
/// let copy = tree.copy_for_snapshot(); // cheap: shares the node shards
/// add(&mut tree, "/b", 0, 2); // copies only the shard it changes
/// assert_eq!(copy.node_count() + 1, tree.node_count());
/// assert_eq!(copy.last_zxid, tree.last_zxid); // insert does not move last_zxid; apply does
/// ```
#[derive(Debug, Clone)]
pub struct TreeCopy {
    shards: Vec<Arc<Shard>>,
    /// Live sessions.
    pub sessions: BTreeMap<i64, SessionInfo>,
    /// zxid of the last transaction applied.
    pub last_zxid: i64,
}

impl TreeCopy {
    /// Every `(path, node)`, in no particular order.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
    /// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
    /// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
    /// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
    /// # }
    /// add(&mut tree, "/a", 0, 1);
    /// let copy = tree.copy_for_snapshot();
    /// assert!(copy.iter().any(|(path, _)| path == "/a"));
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.shards
            .iter()
            .flat_map(|s| s.iter())
            .map(|(p, n)| (&**p, n))
    }

    /// Number of nodes.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
    /// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
    /// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
    /// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
    /// # }
    /// let copy = tree.copy_for_snapshot();
    /// assert_eq!(copy.node_count(), 4); // the special paths
    /// ```
    pub fn node_count(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// The tree every server starts with: `/`, `/zookeeper`, `/zookeeper/quota`,
    /// `/zookeeper/config`.
    ///
    /// ```
    /// let tree = zk_server_mini::tree::DataTree::new();
    /// assert_eq!(tree.get("/zookeeper").map(|n| n.stat().cversion), Some(-2));
    /// ```
    pub fn new() -> Self {
        let open = Acl::open_unsafe();
        let mut tree = Self {
            shards: new_shards(),
            children: HashMap::new(),
            acls: AclTable::default(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
        };
        let mut root = Node::new(None, open.clone(), 0, 0, 0);
        root.data = Some(Bytes::new());
        let zk = Node::new(Some(Bytes::new()), open.clone(), 0, 0, 0);
        let quota = Node::new(Some(Bytes::new()), open, 0, 0, 0);
        let mut config = Node::new(
            Some(Bytes::new()),
            vec![Acl::new(Perms::READ, Id::anyone())],
            0,
            0,
            0,
        );
        config.aversion = -1;
        tree.insert_raw("/".into(), root);
        tree.insert_raw("/zookeeper".into(), zk);
        tree.insert_raw("/zookeeper/quota".into(), quota);
        tree.insert_raw("/zookeeper/config".into(), config);
        for path in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            tree.link_child(path);
        }
        tree
    }

    /// A tree with no nodes at all (snapshot loading fills it).
    ///
    /// ```
    /// let tree = zk_server_mini::tree::DataTree::empty();
    /// assert_eq!(tree.node_count(), 0);
    /// assert!(tree.get("/").is_none());
    /// ```
    pub fn empty() -> Self {
        Self {
            shards: new_shards(),
            children: HashMap::new(),
            acls: AclTable::default(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
        }
    }

    /// The node at `path`.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// assert!(tree.get("/zookeeper/config").is_some());
    /// assert!(tree.get("/missing").is_none());
    /// ```
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.shards[shard_of(path)].get(path)
    }

    /// Mutable access to a node (copies its shard first if a snapshot still shares it).
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
    /// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
    /// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
    /// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
    /// # }
    /// add(&mut tree, "/a", 0, 1);
    /// let node = tree.get_mut("/a").unwrap();
    /// node.data = Some("new".into());
    /// node.version += 1;
    /// assert_eq!(tree.get("/a").unwrap().stat().version, 1);
    /// ```
    pub fn get_mut(&mut self, path: &str) -> Option<&mut Node> {
        let shard = &mut self.shards[shard_of(path)];
        if !shard.contains_key(path) {
            return None;
        }
        Arc::make_mut(shard).get_mut(path)
    }

    /// Names of the direct children of `path` (empty when it has none or does not exist).
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// let names: Vec<&String> = tree.children("/zookeeper").collect();
    /// assert_eq!(names, ["config", "quota"]);
    /// assert_eq!(tree.children("/missing").count(), 0);
    /// ```
    pub fn children(&self, path: &str) -> impl Iterator<Item = &String> {
        self.children.get(path).into_iter().flatten()
    }

    /// Number of nodes.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
    /// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
    /// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
    /// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
    /// # }
    /// assert_eq!(tree.node_count(), 4);
    /// add(&mut tree, "/a", 0, 1);
    /// assert_eq!(tree.node_count(), 5);
    /// ```
    pub fn node_count(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }

    /// Every `(path, node)`, in no particular order.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// let mut paths: Vec<&str> = tree.iter().map(|(p, _)| p).collect();
    /// paths.sort();
    /// assert_eq!(paths, ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.shards
            .iter()
            .flat_map(|s| s.iter())
            .map(|(p, n)| (&**p, n))
    }

    /// The shared copy of `acl`: every node with an equal list holds the same allocation.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// let a = tree.intern_acl(&Acl::open_unsafe());
    /// let b = tree.intern_acl(&Acl::open_unsafe());
    /// assert!(std::sync::Arc::ptr_eq(&a, &b)); // one allocation for equal lists
    /// ```
    pub fn intern_acl(&mut self, acl: &[Acl]) -> Arc<[Acl]> {
        self.acls.intern(acl)
    }

    /// The tree's nodes as they are now, for a snapshot. This runs on the task that serves
    /// every session, so it clones one `Arc` per shard and nothing else; the first change to a
    /// shard afterwards copies that shard (see [`DataTree::get_mut`]).
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
    /// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
    /// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
    /// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
    /// # }
    /// add(&mut tree, "/a", 0, 1);
    /// let copy = tree.copy_for_snapshot(); // hand it to a snapshot writer thread
    /// tree.remove("/a", 2);
    /// assert!(copy.iter().any(|(p, _)| p == "/a")); // the copy is unaffected
    /// ```
    pub fn copy_for_snapshot(&self) -> TreeCopy {
        TreeCopy {
            shards: self.shards.clone(),
            sessions: self.sessions.clone(),
            last_zxid: self.last_zxid,
        }
    }

    /// Ephemeral paths of `session`.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
    /// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
    /// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
    /// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
    /// # }
    /// add(&mut tree, "/lock", 0x77, 1);
    /// assert_eq!(tree.ephemerals_of(0x77).collect::<Vec<_>>(), ["/lock"]);
    /// assert_eq!(tree.ephemerals_of(0x78).count(), 0);
    /// ```
    pub fn ephemerals_of(&self, session: i64) -> impl Iterator<Item = &String> {
        self.ephemerals.get(&session).into_iter().flatten()
    }

    /// Sessions that own at least one ephemeral, with their paths.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
    /// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
    /// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
    /// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
    /// # }
    /// add(&mut tree, "/e1", 0x77, 1);
    /// add(&mut tree, "/e2", 0x78, 2);
    /// assert_eq!(tree.all_ephemerals().len(), 2);
    /// ```
    pub fn all_ephemerals(&self) -> &HashMap<i64, BTreeSet<String>> {
        &self.ephemerals
    }

    /// Container nodes (candidates for reaping).
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
    /// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
    /// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
    /// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
    /// # }
    /// use zk_server_mini::tree::CONTAINER_OWNER;
    /// add(&mut tree, "/locks", CONTAINER_OWNER, 1);
    /// assert!(tree.containers().contains("/locks"));
    /// ```
    pub fn containers(&self) -> &BTreeSet<String> {
        &self.containers
    }

    /// TTL nodes (candidates for reaping).
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
    /// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
    /// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
    /// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
    /// # }
    /// use zk_server_mini::tree::OwnerKind;
    /// add(&mut tree, "/tmp-job", OwnerKind::ttl_owner(60_000), 1);
    /// assert!(tree.ttl_nodes().contains("/tmp-job"));
    /// ```
    pub fn ttl_nodes(&self) -> &BTreeSet<String> {
        &self.ttls
    }

    /// Number of descendants of `path` (not counting itself).
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
    /// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
    /// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
    /// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
    /// # }
    /// add(&mut tree, "/a", 0, 1);
    /// add(&mut tree, "/a/b", 0, 2);
    /// add(&mut tree, "/a/b/c", 0, 3);
    /// assert_eq!(tree.descendant_count("/a"), 2);
    /// assert_eq!(tree.descendant_count("/a/b/c"), 0);
    /// ```
    pub fn descendant_count(&self, path: &str) -> usize {
        // Iterative: a client can build a chain deep enough to overflow the stack.
        let mut count = 0;
        let mut todo = vec![path.to_owned()];
        while let Some(p) = todo.pop() {
            if let Some(children) = self.children.get(p.as_str()) {
                count += children.len();
                todo.extend(children.iter().map(|c| child_path(&p, c)));
            }
        }
        count
    }

    /// Inserts a node (its parent must exist), updating the parent's counter, pzxid and
    /// children. Returns false (and changes nothing) when the parent is missing or the node
    /// exists.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// let node = || Node::new(None, Acl::open_unsafe(), 3, 0, 0);
    /// assert!(tree.insert("/a", node(), 1, 3));
    /// assert!(!tree.insert("/a", node(), 2, 3)); // exists
    /// assert!(!tree.insert("/x/y", node(), 1, 3)); // no parent
    /// let root = tree.get("/").unwrap();
    /// assert_eq!((root.create_counter, root.pzxid), (1, 3));
    /// ```
    pub fn insert(&mut self, path: &str, node: Node, parent_counter: i32, zxid: i64) -> bool {
        let Some((parent, _)) = split_parent(path) else {
            return false;
        };
        if self.get(path).is_some() {
            return false;
        }
        let Some(p) = self.get_mut(parent) else {
            return false;
        };
        p.create_counter = parent_counter;
        p.pzxid = zxid;
        self.insert_raw(path.to_owned(), node);
        self.link_child(path);
        true
    }

    /// Inserts a node exactly as stored (snapshot loading): no parent bookkeeping.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::empty();
    /// tree.insert_raw("/".into(), Node::new(None, Acl::open_unsafe(), 0, 0, 0));
    /// tree.insert_raw("/a".into(), Node::new(None, Acl::open_unsafe(), 1, 0, 0));
    /// assert!(tree.link_child("/a"));
    /// assert_eq!(tree.children("/").collect::<Vec<_>>(), ["a"]);
    /// ```
    pub fn insert_raw(&mut self, path: String, mut node: Node) {
        self.index(&path, node.ephemeral_owner);
        node.acl = self.acls.intern(&node.acl);
        node.num_children = self.children.get(path.as_str()).map_or(0, BTreeSet::len);
        let shard = &mut self.shards[shard_of(&path)];
        Arc::make_mut(shard).insert(Arc::from(path), node);
    }

    /// Records `path` as a child of its parent (snapshot loading; [`DataTree::insert`] does it
    /// itself). False when the parent does not exist.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::empty();
    /// tree.insert_raw("/".into(), Node::new(None, Acl::open_unsafe(), 0, 0, 0));
    /// tree.insert_raw("/a".into(), Node::new(None, Acl::open_unsafe(), 1, 0, 0));
    /// assert!(tree.link_child("/a"));
    /// assert!(!tree.link_child("/missing/b")); // no parent
    /// ```
    pub fn link_child(&mut self, path: &str) -> bool {
        let Some((parent, name)) = split_parent(path) else {
            return false;
        };
        if self.get(parent).is_none() {
            return false;
        }
        let len = match self.children.get_mut(parent) {
            Some(set) => {
                set.insert(name.to_owned());
                set.len()
            }
            None => {
                self.children
                    .insert(Arc::from(parent), BTreeSet::from([name.to_owned()]));
                1
            }
        };
        if let Some(p) = self.get_mut(parent) {
            p.num_children = len;
        }
        true
    }

    fn index(&mut self, path: &str, owner: i64) {
        match OwnerKind::of(owner) {
            OwnerKind::Persistent => {}
            OwnerKind::Ephemeral(sid) => {
                self.ephemerals
                    .entry(sid)
                    .or_default()
                    .insert(path.to_owned());
            }
            OwnerKind::Container => {
                self.containers.insert(path.to_owned());
            }
            OwnerKind::Ttl(_) => {
                self.ttls.insert(path.to_owned());
            }
        }
    }

    /// Removes a childless node, updating the parent's pzxid (not its counter). Returns the
    /// removed node.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// # fn add(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> bool {
    /// #     let parent = zk_server_mini::tree::split_parent(path).unwrap().0;
    /// #     let counter = tree.get(parent).map_or(0, |p| p.create_counter) + 1;
    /// #     tree.insert(path, Node::new(None, Acl::open_unsafe(), zxid, 0, owner), counter, zxid)
    /// # }
    /// add(&mut tree, "/a", 0, 1);
    /// add(&mut tree, "/a/b", 0, 2);
    /// assert!(tree.remove("/a", 3).is_none()); // has a child
    /// assert!(tree.remove("/a/b", 3).is_some());
    /// assert_eq!(tree.get("/a").unwrap().pzxid, 3);
    /// ```
    pub fn remove(&mut self, path: &str, zxid: i64) -> Option<Node> {
        let (parent, name) = split_parent(path)?;
        if self.children.contains_key(path) {
            return None;
        }
        let shard = &mut self.shards[shard_of(path)];
        if !shard.contains_key(path) {
            return None;
        }
        let node = Arc::make_mut(shard).remove(path)?;
        if let Some(set) = self.children.get_mut(parent) {
            set.remove(name);
            let left = set.len();
            if left == 0 {
                self.children.remove(parent);
            }
            if let Some(p) = self.get_mut(parent) {
                p.num_children = left;
            }
        }
        if let Some(p) = self.get_mut(parent) {
            p.pzxid = zxid;
        }
        match OwnerKind::of(node.ephemeral_owner) {
            OwnerKind::Persistent => {}
            OwnerKind::Ephemeral(sid) => {
                if let Some(set) = self.ephemerals.get_mut(&sid) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&sid);
                    }
                }
            }
            OwnerKind::Container => {
                self.containers.remove(path);
            }
            OwnerKind::Ttl(_) => {
                self.ttls.remove(path);
            }
        }
        Some(node)
    }
}

/// `parent + "/" + name` without doubling the root's slash.
///
/// ```
/// use zk_server_mini::tree::child_path;
/// assert_eq!(child_path("/", "a"), "/a");
/// assert_eq!(child_path("/a", "b"), "/a/b");
/// ```
pub fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Splits `/a/b` into (`/a`, `b`); `None` for `/` or a path without a slash.
///
/// ```
/// use zk_server_mini::tree::split_parent;
/// assert_eq!(split_parent("/a/b"), Some(("/a", "b")));
/// assert_eq!(split_parent("/a"), Some(("/", "a")));
/// assert_eq!(split_parent("/"), None);
/// ```
pub fn split_parent(path: &str) -> Option<(&str, &str)> {
    if path == "/" {
        return None;
    }
    let idx = path.rfind('/')?;
    let parent = if idx == 0 { "/" } else { &path[..idx] };
    Some((parent, &path[idx + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cversion_is_twice_creates_minus_children() {
        let mut t = DataTree::new();
        let acl = Acl::open_unsafe();
        assert!(t.insert("/p", Node::new(None, acl.clone(), 1, 0, 0), 1, 1));
        assert!(t.insert("/p/x", Node::new(None, acl.clone(), 2, 0, 0), 1, 2));
        assert!(t.insert("/p/y", Node::new(None, acl.clone(), 3, 0, 0), 2, 3));
        assert!(t.remove("/p/x", 4).is_some());
        let p = t.get("/p").map(Node::stat).unwrap_or_default();
        assert_eq!(p.cversion, 3);
        assert_eq!(p.pzxid, 4);
        assert_eq!(p.num_children, 1);
        assert_eq!(t.get("/p").map(|n| n.create_counter), Some(2));
    }

    #[test]
    fn special_owners_report_zero() {
        let mut n = Node::new(None, vec![], 1, 0, CONTAINER_OWNER);
        assert_eq!(n.stat().ephemeral_owner, 0);
        n.ephemeral_owner = OwnerKind::ttl_owner(5000);
        assert_eq!(OwnerKind::of(n.ephemeral_owner), OwnerKind::Ttl(5000));
        assert_eq!(n.stat().ephemeral_owner, 0);
        n.ephemeral_owner = 0x0100_0000_0000_0005;
        assert_eq!(n.stat().ephemeral_owner, 0x0100_0000_0000_0005);
    }

    #[test]
    fn equal_acls_share_one_allocation_and_unused_ones_are_dropped() {
        let mut t = DataTree::new();
        let open = Acl::open_unsafe();
        for i in 0..100 {
            assert!(t.insert(
                &format!("/n{i}"),
                Node::new(None, open.clone(), 1, 0, 0),
                i,
                1
            ));
        }
        let a = t
            .get("/n0")
            .map(|n| n.acl.clone())
            .unwrap_or_else(|| Arc::from(vec![]));
        let b = t
            .get("/n99")
            .map(|n| n.acl.clone())
            .unwrap_or_else(|| Arc::from(vec![]));
        let root = t
            .get("/")
            .map(|n| n.acl.clone())
            .unwrap_or_else(|| Arc::from(vec![]));
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&a, &root));
        assert_eq!(&*a, open.as_slice());
        let read = t.intern_acl(&Acl::read_unsafe());
        let config = t.get("/zookeeper/config").map(|n| n.acl.clone());
        assert!(config.is_some_and(|c| Arc::ptr_eq(&c, &read)));
        // Lists nobody holds are swept once the table has grown enough; the shared ones stay.
        drop(read);
        for i in 0..64 {
            let one_off = vec![Acl::new(Perms::READ, Id::new("ip", format!("10.0.0.{i}")))];
            drop(t.intern_acl(&one_off));
        }
        assert!(t.acls.len <= 16 + 2, "table not swept: {}", t.acls.len);
        assert!(Arc::ptr_eq(&t.intern_acl(&open), &a));
    }

    #[test]
    fn the_snapshot_copy_is_the_tree_at_its_zxid() {
        let mut t = DataTree::new();
        assert!(t.insert(
            "/a",
            Node::new(Some(Bytes::from_static(b"1")), Acl::open_unsafe(), 1, 0, 0),
            1,
            1
        ));
        t.last_zxid = 1;
        let copy = t.copy_for_snapshot();
        let before = crate::snapshot::serialize(&t);
        if let Some(n) = t.get_mut("/a") {
            n.data = Some(Bytes::from_static(b"2"));
            n.version = 1;
        }
        assert!(t.insert("/b", Node::new(None, Acl::open_unsafe(), 2, 0, 0), 2, 2));
        t.last_zxid = 2;
        assert_eq!(copy.last_zxid, 1);
        assert_eq!(copy.node_count(), 5);
        assert_eq!(copy.iter().count(), 5);
        assert_eq!(crate::snapshot::serialize_copy(&copy), before);
        assert_eq!(
            crate::snapshot::serialize_copy(&t.copy_for_snapshot()),
            crate::snapshot::serialize(&t)
        );
    }

    #[test]
    fn null_data_has_zero_length() {
        let n = Node::new(None, vec![], 1, 0, 0);
        assert_eq!(n.stat().data_length, 0);
    }
}
