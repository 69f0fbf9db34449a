//! The data tree: nodes, their stats (with ZooKeeper's cversion and sequence quirks), ACLs,
//! ephemerals per session, container and TTL candidates, and the replicated session table.

mod acl_table;
mod data;
mod node;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use zk_proto::acl::{Acl, Id, Perms};

use acl_table::AclTable;
pub use data::NodeData;
pub use node::{CONTAINER_OWNER, Node, OwnerKind, SPECIAL_PATHS, SessionInfo};

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
    /// The direct children of every node that has any, as their full paths: the same
    /// allocations as the shards' keys (no second copy of a path or a name). Children of one
    /// parent share its prefix, so their paths sort as their names do.
    children: HashMap<Arc<str>, BTreeSet<Arc<str>>>,
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
        let mut tree = Self::empty();
        let mut root = Node::new(None, open.clone(), 0, 0, 0);
        root.data = NodeData::copy_of(Some(b""));
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
    /// node.data = zk_server_mini::tree::NodeData::copy_of(Some(b"new"));
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
    /// let names: Vec<&str> = tree.children("/zookeeper").collect();
    /// assert_eq!(names, ["config", "quota"]);
    /// assert_eq!(tree.children("/missing").count(), 0);
    /// ```
    pub fn children(&self, path: &str) -> impl Iterator<Item = &str> {
        self.children
            .get(path)
            .into_iter()
            .flatten()
            .map(|p| p.rsplit_once('/').map_or(&**p, |(_, name)| name))
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
                todo.extend(children.iter().map(|c| c.to_string()));
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
        node.num_children = self
            .children
            .get(path.as_str())
            .map_or(0, |set| count(set.len()));
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
        let Some((parent, _)) = split_parent(path) else {
            return false;
        };
        if self.get(parent).is_none() {
            return false;
        }
        let child = self.shared_path(path);
        let len = match self.children.get_mut(parent) {
            Some(set) => {
                set.insert(child);
                set.len()
            }
            None => {
                let key = self.shared_path(parent);
                self.children.insert(key, BTreeSet::from([child]));
                1
            }
        };
        if let Some(p) = self.get_mut(parent) {
            p.num_children = count(len);
        }
        true
    }

    /// Links every node to its parent (snapshot loading, after [`DataTree::insert_raw`] of
    /// every node) and sets the children counts. False when a node's parent is missing.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::empty();
    /// tree.insert_raw("/a".into(), Node::new(None, Acl::open_unsafe(), 1, 0, 0));
    /// tree.insert_raw("/".into(), Node::new(None, Acl::open_unsafe(), 0, 0, 0));
    /// assert!(tree.link_all());
    /// assert_eq!(tree.get("/").unwrap().num_children, 1);
    /// tree.insert_raw("/x/y".into(), Node::new(None, Acl::open_unsafe(), 2, 0, 0));
    /// assert!(!tree.link_all()); // no parent
    /// ```
    pub fn link_all(&mut self) -> bool {
        let paths: Vec<Arc<str>> = self.shards.iter().flat_map(|s| s.keys().cloned()).collect();
        let mut linked = true;
        for p in &paths {
            if &**p != "/" && !self.link_child(p) {
                linked = false;
            }
        }
        linked
    }

    /// The shards' allocation of `path` (a new one when the node is not there).
    fn shared_path(&self, path: &str) -> Arc<str> {
        self.shards[shard_of(path)]
            .get_key_value(path)
            .map_or_else(|| Arc::from(path), |(k, _)| k.clone())
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
        let (parent, _) = split_parent(path)?;
        if self.children.contains_key(path) {
            return None;
        }
        let shard = &mut self.shards[shard_of(path)];
        if !shard.contains_key(path) {
            return None;
        }
        let node = Arc::make_mut(shard).remove(path)?;
        if let Some(set) = self.children.get_mut(parent) {
            set.remove(path);
            let left = set.len();
            if left == 0 {
                self.children.remove(parent);
            }
            if let Some(p) = self.get_mut(parent) {
                p.num_children = count(left);
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

/// A children count as a node stores it.
fn count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
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
