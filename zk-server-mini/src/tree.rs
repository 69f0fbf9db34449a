//! The data tree: nodes, their stats (with ZooKeeper's cversion and sequence quirks), ACLs,
//! ephemerals per session, container and TTL candidates, and the replicated session table.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use zk_proto::Stat;
use zk_proto::acl::{Acl, Id, Perms};

/// The `ephemeralOwner` marker stored for container nodes (reported to clients as 0).
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// The high byte that marks a TTL node's stored `ephemeralOwner`; the low bits hold the TTL.
const TTL_MARKER: u64 = 0xFF00_0000_0000_0000;
/// The low bits of a TTL node's stored owner.
const TTL_MASK: u64 = 0x00FF_FFFF_FFFF_FFFF;

/// The four nodes that exist on every server and can never be deleted.
pub const SPECIAL_PATHS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// What kind of node a stored `ephemeralOwner` describes.
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
    pub fn ttl_owner(ttl_ms: i64) -> i64 {
        (TTL_MARKER | (ttl_ms as u64 & TTL_MASK)) as i64
    }
}

/// One znode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The data; `None` is ZooKeeper's null buffer.
    pub data: Option<Bytes>,
    /// The node's ACL.
    pub acl: Vec<Acl>,
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
    /// Names of the direct children.
    pub children: BTreeSet<String>,
}

impl Node {
    /// A fresh node as a create transaction makes it.
    pub fn new(data: Option<Bytes>, acl: Vec<Acl>, zxid: i64, time: i64, owner: i64) -> Self {
        Self {
            data,
            acl,
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: zxid,
            create_counter: 0,
            children: BTreeSet::new(),
        }
    }

    /// The stat clients see (cversion quirk applied, special owners reported as 0).
    pub fn stat(&self) -> Stat {
        let num_children = i32::try_from(self.children.len()).unwrap_or(i32::MAX);
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Negotiated timeout (ms).
    pub timeout_ms: i32,
    /// The 16-byte password.
    pub passwd: Bytes,
}

/// The replicated state: every node plus the session table and the last applied zxid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataTree {
    nodes: HashMap<String, Node>,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// Live sessions (created and not yet closed).
    pub sessions: BTreeMap<i64, SessionInfo>,
    /// zxid of the last transaction applied.
    pub last_zxid: i64,
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
            nodes: HashMap::new(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
        };
        let mut root = Node::new(None, open.clone(), 0, 0, 0);
        root.data = Some(Bytes::new());
        root.children.insert("zookeeper".into());
        let mut zk = Node::new(Some(Bytes::new()), open.clone(), 0, 0, 0);
        zk.children.insert("quota".into());
        zk.children.insert("config".into());
        let quota = Node::new(Some(Bytes::new()), open, 0, 0, 0);
        let mut config = Node::new(
            Some(Bytes::new()),
            vec![Acl::new(Perms::READ, Id::anyone())],
            0,
            0,
            0,
        );
        config.aversion = -1;
        tree.nodes.insert("/".into(), root);
        tree.nodes.insert("/zookeeper".into(), zk);
        tree.nodes.insert("/zookeeper/quota".into(), quota);
        tree.nodes.insert("/zookeeper/config".into(), config);
        tree
    }

    /// A tree with no nodes at all (snapshot loading fills it).
    pub fn empty() -> Self {
        Self {
            nodes: HashMap::new(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
        }
    }

    /// The node at `path`.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every `(path, node)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    /// Ephemeral paths of `session`.
    pub fn ephemerals_of(&self, session: i64) -> impl Iterator<Item = &String> {
        self.ephemerals.get(&session).into_iter().flatten()
    }

    /// Sessions that own at least one ephemeral, with their paths.
    pub fn all_ephemerals(&self) -> &HashMap<i64, BTreeSet<String>> {
        &self.ephemerals
    }

    /// Container nodes (candidates for reaping).
    pub fn containers(&self) -> &BTreeSet<String> {
        &self.containers
    }

    /// TTL nodes (candidates for reaping).
    pub fn ttl_nodes(&self) -> &BTreeSet<String> {
        &self.ttls
    }

    /// Number of descendants of `path` (not counting itself).
    pub fn descendant_count(&self, path: &str) -> usize {
        // Iterative: a client can build a chain deep enough to overflow the stack.
        let mut count = 0;
        let mut todo = vec![path.to_owned()];
        while let Some(p) = todo.pop() {
            if let Some(node) = self.nodes.get(&p) {
                count += node.children.len();
                todo.extend(node.children.iter().map(|c| child_path(&p, c)));
            }
        }
        count
    }

    /// Inserts a node (its parent must exist), updating the parent's counter, pzxid and
    /// children. Returns false (and changes nothing) when the parent is missing or the node
    /// exists.
    pub fn insert(&mut self, path: &str, node: Node, parent_counter: i32, zxid: i64) -> bool {
        let Some((parent, name)) = split_parent(path) else {
            return false;
        };
        if self.nodes.contains_key(path) {
            return false;
        }
        let Some(p) = self.nodes.get_mut(parent) else {
            return false;
        };
        p.children.insert(name.to_owned());
        p.create_counter = parent_counter;
        p.pzxid = zxid;
        self.index(path, node.ephemeral_owner);
        self.nodes.insert(path.to_owned(), node);
        true
    }

    /// Inserts a node exactly as stored (snapshot loading): no parent bookkeeping.
    pub fn insert_raw(&mut self, path: String, node: Node) {
        self.index(&path, node.ephemeral_owner);
        self.nodes.insert(path, node);
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
    pub fn remove(&mut self, path: &str, zxid: i64) -> Option<Node> {
        let (parent, name) = split_parent(path)?;
        if self.nodes.get(path).is_some_and(|n| !n.children.is_empty()) {
            return None;
        }
        let node = self.nodes.remove(path)?;
        if let Some(p) = self.nodes.get_mut(parent) {
            p.children.remove(name);
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

    /// Mutable access to a node.
    pub fn get_mut(&mut self, path: &str) -> Option<&mut Node> {
        self.nodes.get_mut(path)
    }
}

/// `parent + "/" + name` without doubling the root's slash.
pub fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Splits `/a/b` into (`/a`, `b`); `None` for `/` or a path without a slash.
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
    fn null_data_has_zero_length() {
        let n = Node::new(None, vec![], 1, 0, 0);
        assert_eq!(n.stat().data_length, 0);
    }
}
