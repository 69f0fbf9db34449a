//! Request → transaction: every check of PROTOCOL.md §4.3, §4.4, §5 and §8, in ZooKeeper's
//! order, against the applied tree plus the changes of transactions prepared but not yet
//! applied. Deterministic and free of I/O.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use zk_proto::acl::{Acl, Id, Perms};
use zk_proto::multi::MultiOp;
use zk_proto::path::{validate_path, validate_sequential_path};
use zk_proto::{CreateMode, ErrorCode, MAX_TTL_MS, OpCode, Request};

use crate::acl_check::{allowed, fixup_acl};
use crate::tree::{CONTAINER_OWNER, DataTree, OwnerKind, SPECIAL_PATHS, split_parent};
use crate::txn::Txn;

/// What prep needs to know about a node.
///
/// ```
/// use std::sync::Arc;
/// use zk_proto::acl::Acl;
/// use zk_server_mini::prep::NodeView;
/// let view = NodeView {
///     version: 0, aversion: 0, counter: 0, num_children: 0, owner: 0,
///     acl: Arc::from(Acl::open_unsafe()), mtime: 0,
/// };
/// assert_eq!(view.clone(), view); // prep compares and updates these, not tree nodes
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// Data version.
    pub version: i32,
    /// ACL version.
    pub aversion: i32,
    /// Stored create counter.
    pub counter: i32,
    /// Number of children.
    pub num_children: usize,
    /// Stored owner.
    pub owner: i64,
    /// ACL (the tree's shared list for an applied node).
    pub acl: Arc<[Acl]>,
    /// Last modification time (TTL reaping).
    pub mtime: i64,
}

/// Changes of prepared, unapplied transactions: for each touched path its view after the newest
/// such transaction (`None` marks a pending delete), tagged with that transaction's zxid so the
/// changes of a committed prefix can be forgotten while later batches are still in flight.
///
/// ```
/// use zk_proto::{CreateRequest, Request, acl::Acl};
/// use zk_server_mini::prep::{Caller, Pending, Prep, PrepConfig};
/// use zk_server_mini::tree::DataTree;
/// use zk_server_mini::txn::Txn;
/// let tree = DataTree::new();
/// let mut pending = Pending::default();
/// let caller = Caller { session_id: 1, ids: &[] };
/// let create = |path: &str| Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
/// pending.set_next_zxid(2);
/// Prep::new(&tree, &mut pending, PrepConfig::default()).write(&caller, &create("/a"));
/// assert!(!pending.is_empty()); // /a exists for the next request, though not applied yet
/// pending.settle_through(2); // zxid 2 is applied to the tree now
/// assert!(pending.is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Pending {
    nodes: HashMap<String, (i64, Option<NodeView>)>,
    next_zxid: i64,
}

impl Pending {
    /// Forgets everything (once all prepared transactions are applied).
    ///
    /// ```
    /// use zk_proto::{CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::prep::{Caller, Pending, Prep, PrepConfig};
    /// use zk_server_mini::tree::DataTree;
    /// use zk_server_mini::txn::Txn;
    /// let tree = DataTree::new();
    /// let mut pending = Pending::default();
    /// let caller = Caller { session_id: 1, ids: &[] };
    /// let create = |path: &str| Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    /// Prep::new(&tree, &mut pending, PrepConfig::default()).write(&caller, &create("/a"));
    /// pending.clear(); // every prepared transaction is applied
    /// assert!(pending.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.nodes.clear();
    }

    /// Whether nothing is pending.
    ///
    /// ```
    /// use zk_proto::{CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::prep::{Caller, Pending, Prep, PrepConfig};
    /// use zk_server_mini::tree::DataTree;
    /// use zk_server_mini::txn::Txn;
    /// let tree = DataTree::new();
    /// let mut pending = Pending::default();
    /// let caller = Caller { session_id: 1, ids: &[] };
    /// let create = |path: &str| Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    /// assert!(pending.is_empty());
    /// Prep::new(&tree, &mut pending, PrepConfig::default()).write(&caller, &create("/a"));
    /// assert!(!pending.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The zxid the transaction prepared next will get: its changes are tagged with it.
    ///
    /// ```
    /// use zk_proto::{CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::prep::{Caller, Pending, Prep, PrepConfig};
    /// use zk_server_mini::tree::DataTree;
    /// use zk_server_mini::txn::Txn;
    /// let tree = DataTree::new();
    /// let mut pending = Pending::default();
    /// let caller = Caller { session_id: 1, ids: &[] };
    /// let create = |path: &str| Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    /// pending.set_next_zxid(5); // the next transaction prepared will be zxid 5
    /// Prep::new(&tree, &mut pending, PrepConfig::default()).write(&caller, &create("/a"));
    /// pending.settle_through(4);
    /// assert!(!pending.is_empty()); // tagged 5: still pending
    /// ```
    pub fn set_next_zxid(&mut self, zxid: i64) {
        self.next_zxid = zxid;
    }

    /// Forgets the changes of transactions up to `zxid`, now applied to the tree. A path
    /// touched again by a later transaction keeps its view, which already includes them.
    ///
    /// ```
    /// use zk_proto::{CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::prep::{Caller, Pending, Prep, PrepConfig};
    /// use zk_server_mini::tree::DataTree;
    /// use zk_server_mini::txn::Txn;
    /// let tree = DataTree::new();
    /// let mut pending = Pending::default();
    /// let caller = Caller { session_id: 1, ids: &[] };
    /// let create = |path: &str| Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    /// pending.set_next_zxid(2);
    /// Prep::new(&tree, &mut pending, PrepConfig::default()).write(&caller, &create("/a"));
    /// pending.set_next_zxid(3);
    /// Prep::new(&tree, &mut pending, PrepConfig::default()).write(&caller, &create("/b"));
    /// pending.settle_through(2); // the first batch was applied; /b is still in flight
    /// assert!(!pending.is_empty());
    /// pending.settle_through(3);
    /// assert!(pending.is_empty());
    /// ```
    pub fn settle_through(&mut self, zxid: i64) {
        self.nodes.retain(|_, (z, _)| *z > zxid);
    }

    fn get(&self, path: &str) -> Option<&Option<NodeView>> {
        self.nodes.get(path).map(|(_, v)| v)
    }

    fn insert(&mut self, path: String, view: Option<NodeView>) {
        self.nodes.insert(path, (self.next_zxid, view));
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &Option<NodeView>)> {
        self.nodes.iter().map(|(p, (_, v))| (p, v))
    }
}

/// The identity of the caller of a request.
///
/// ```
/// use zk_proto::acl::Id;
/// use zk_server_mini::prep::Caller;
/// let ids = [Id::new("ip", "127.0.0.1"), Id::new("digest", zk_proto::acl::digest_id("alice", "secret"))];
/// let caller = Caller { session_id: 0x42, ids: &ids };
/// assert_eq!(caller.ids.len(), 2);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// Session id (0 for the server itself).
    pub session_id: i64,
    /// Authenticated identities, `ip` included.
    pub ids: &'a [Id],
}

/// Limits and switches prep applies.
///
/// ```
/// use zk_proto::{CreateRequest, Request, acl::Acl};
/// use zk_server_mini::prep::{Caller, Pending, Prep, PrepConfig};
/// use zk_server_mini::tree::DataTree;
/// use zk_server_mini::txn::Txn;
/// let tree = DataTree::new();
/// let mut pending = Pending::default();
/// let caller = Caller { session_id: 1, ids: &[] };
/// let create = |path: &str| Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
/// use zk_proto::ErrorCode;
/// let config = PrepConfig { max_data_len: 4, ..PrepConfig::default() };
/// let big = Request::Create(CreateRequest { path: "/big".into(), data: Some("12345".into()), acl: Acl::open_unsafe(), flags: 0 });
/// let txn = Prep::new(&tree, &mut pending, config).write(&caller, &big);
/// assert!(matches!(txn, Txn::Error(_)));
/// # let _ = (create, ErrorCode::Ok);
/// ```
#[derive(Debug, Clone)]
pub struct PrepConfig {
    /// Whether createTTL is allowed (`extendedTypesEnabled`).
    pub extended_types: bool,
    /// Largest node data accepted, in bytes.
    pub max_data_len: usize,
    /// How `reconfig` requests are treated.
    pub reconfig: ReconfigPolicy,
    /// At an ensemble's leader: the members synced with it (itself included). A `reconfig`
    /// whose new voters have no quorum among them is refused (`NewConfigNoQuorum`).
    pub synced: Option<std::sync::Arc<std::collections::BTreeSet<u64>>>,
}

impl Default for PrepConfig {
    fn default() -> Self {
        Self {
            extended_types: false,
            max_data_len: zk_proto::codec::DEFAULT_MAX_FRAME_LEN,
            reconfig: ReconfigPolicy::default(),
            synced: None,
        }
    }
}

/// What prep needs to answer `reconfig` (opcode 16) as a real 3.8.0 server does.
///
/// ```
/// use zk_server_mini::prep::ReconfigPolicy;
/// let p = ReconfigPolicy::default();
/// assert!(!p.enabled && !p.skip_acl && !p.ensemble); // answered ReconfigDisabled
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconfigPolicy {
    /// `reconfigEnabled`; when off every `reconfig` is answered `ReconfigDisabled` (-123).
    pub enabled: bool,
    /// `skipACL=yes`: no super user needed.
    pub skip_acl: bool,
    /// Whether the server is an ensemble member (a standalone server answers
    /// `Unimplemented`, -6).
    pub ensemble: bool,
}

/// Prep's view of the tree plus pending changes.
///
/// ```
/// use zk_proto::{CreateRequest, Request, acl::Acl};
/// use zk_server_mini::prep::{Caller, Pending, Prep, PrepConfig};
/// use zk_server_mini::tree::DataTree;
/// use zk_server_mini::txn::Txn;
/// let tree = DataTree::new();
/// let mut pending = Pending::default();
/// let caller = Caller { session_id: 1, ids: &[] };
/// let create = |path: &str| Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
/// let mut prep = Prep::new(&tree, &mut pending, PrepConfig::default());
/// assert!(matches!(prep.write(&caller, &create("/a")), Txn::Create { .. }));
/// ```
pub struct Prep<'a> {
    tree: &'a DataTree,
    pending: &'a mut Pending,
    config: PrepConfig,
}

fn view_of(tree: &DataTree, path: &str) -> Option<NodeView> {
    tree.get(path).map(|n| NodeView {
        version: n.version,
        aversion: n.aversion,
        counter: n.create_counter,
        num_children: n.num_children as usize,
        owner: n.ephemeral_owner,
        acl: n.acl.clone(),
        mtime: n.mtime,
    })
}

fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

impl<'a> Prep<'a> {
    /// Prep over `tree` and `pending`.
    ///
    /// ```
    /// use zk_proto::{CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::prep::{Caller, Pending, Prep, PrepConfig};
    /// use zk_server_mini::tree::DataTree;
    /// use zk_server_mini::txn::Txn;
    /// let tree = DataTree::new();
    /// let mut pending = Pending::default();
    /// let caller = Caller { session_id: 1, ids: &[] };
    /// let create = |path: &str| Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    /// let mut prep = Prep::new(&tree, &mut pending, PrepConfig::default());
    /// let txn = prep.write(&caller, &create("/a/b")); // no parent
    /// assert_eq!(txn, Txn::Error(zk_proto::ErrorCode::NoNode));
    /// ```
    pub fn new(tree: &'a DataTree, pending: &'a mut Pending, config: PrepConfig) -> Self {
        Self {
            tree,
            pending,
            config,
        }
    }

    fn view(&self, nodes: &Pending, path: &str) -> Option<NodeView> {
        match nodes.get(path) {
            Some(v) => v.clone(),
            None => view_of(self.tree, path),
        }
    }

    /// Turns a write request into a transaction. Failures become [`Txn::Error`] (they still
    /// consume a zxid); a failed multi becomes a [`Txn::Multi`] of error results.
    ///
    /// ```
    /// use zk_proto::{CreateRequest, ErrorCode, Request, acl::Acl};
    /// use zk_server_mini::prep::{Caller, Pending, Prep, PrepConfig};
    /// use zk_server_mini::tree::DataTree;
    /// use zk_server_mini::txn::Txn;
    ///
    /// let tree = DataTree::new();
    /// let mut pending = Pending::default();
    /// let mut prep = Prep::new(&tree, &mut pending, PrepConfig::default());
    /// let caller = Caller { session_id: 1, ids: &[] };
    /// let create = |path: &str| Request::Create(CreateRequest {
    ///     path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0,
    /// });
    /// assert!(matches!(prep.write(&caller, &create("/a")), Txn::Create { .. }));
    /// // The pending create is visible to the next request.
    /// assert_eq!(prep.write(&caller, &create("/a")), Txn::Error(ErrorCode::NodeExists));
    /// ```
    pub fn write(&mut self, caller: &Caller<'_>, request: &Request) -> Txn {
        let mut nodes = std::mem::take(self.pending);
        let result = match request {
            Request::Create(r) => self.create(
                &mut nodes,
                caller,
                OpCode::Create,
                &r.path,
                &r.data,
                &r.acl,
                r.flags,
                None,
            ),
            Request::Create2(r) => self.create(
                &mut nodes,
                caller,
                OpCode::Create2,
                &r.path,
                &r.data,
                &r.acl,
                r.flags,
                None,
            ),
            Request::CreateContainer(r) => self.create(
                &mut nodes,
                caller,
                OpCode::CreateContainer,
                &r.path,
                &r.data,
                &r.acl,
                r.flags,
                None,
            ),
            Request::CreateTtl(r) => self.create(
                &mut nodes,
                caller,
                OpCode::CreateTtl,
                &r.path,
                &r.data,
                &r.acl,
                r.flags,
                Some(r.ttl),
            ),
            Request::Delete(r) => self.delete(&mut nodes, caller, &r.path, r.version),
            Request::SetData(r) => self.set_data(&mut nodes, caller, &r.path, &r.data, r.version),
            Request::SetAcl(r) => self.set_acl(&mut nodes, caller, &r.path, &r.acl, r.version),
            Request::Multi(m) => Ok(self.multi(&mut nodes, caller, &m.ops)),
            // Outside a multi, 3.8 runs check's usual checks (a failure is an ordinary error
            // reply that uses a zxid); a passing one is logged but never answered.
            Request::Check(r) => self.check(&nodes, caller, &r.path, r.version),
            Request::Reconfig(r) => self.reconfig(&mut nodes, caller, r),
            _ => Err(ErrorCode::BadArguments),
        };
        *self.pending = nodes;
        result.unwrap_or_else(Txn::Error)
    }

    fn multi(&self, nodes: &mut Pending, caller: &Caller<'_>, ops: &[MultiOp]) -> Txn {
        if ops.iter().any(MultiOp::is_read) {
            return Txn::Error(ErrorCode::MarshallingError);
        }
        let mut local = nodes.clone();
        let mut txns = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let r = match op {
                MultiOp::Create(r) => self.create(
                    &mut local,
                    caller,
                    OpCode::Create,
                    &r.path,
                    &r.data,
                    &r.acl,
                    r.flags,
                    None,
                ),
                MultiOp::Create2(r) => self.create(
                    &mut local,
                    caller,
                    OpCode::Create2,
                    &r.path,
                    &r.data,
                    &r.acl,
                    r.flags,
                    None,
                ),
                MultiOp::CreateContainer(r) => self.create(
                    &mut local,
                    caller,
                    OpCode::CreateContainer,
                    &r.path,
                    &r.data,
                    &r.acl,
                    r.flags,
                    None,
                ),
                MultiOp::CreateTtl(r) => self.create(
                    &mut local,
                    caller,
                    OpCode::CreateTtl,
                    &r.path,
                    &r.data,
                    &r.acl,
                    r.flags,
                    Some(r.ttl),
                ),
                MultiOp::Delete(r) => self.delete(&mut local, caller, &r.path, r.version),
                MultiOp::SetData(r) => {
                    self.set_data(&mut local, caller, &r.path, &r.data, r.version)
                }
                MultiOp::Check(r) => self.check(&local, caller, &r.path, r.version),
                MultiOp::GetData(_) | MultiOp::GetChildren(_) => Err(ErrorCode::MarshallingError),
            };
            match r {
                Ok(t) => txns.push(t),
                Err(code) => {
                    let results = (0..ops.len())
                        .map(|j| {
                            Txn::Error(match j.cmp(&i) {
                                std::cmp::Ordering::Less => ErrorCode::Ok,
                                std::cmp::Ordering::Equal => code,
                                std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
                            })
                        })
                        .collect();
                    return Txn::Multi(results);
                }
            }
        }
        *nodes = local;
        Txn::Multi(txns)
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &self,
        nodes: &mut Pending,
        caller: &Caller<'_>,
        op: OpCode,
        path: &str,
        data: &Option<Bytes>,
        acl: &[Acl],
        flags: i32,
        ttl: Option<i64>,
    ) -> Result<Txn, ErrorCode> {
        // 1. Flags and TTL.
        let mode = CreateMode::try_from(flags).map_err(|_| ErrorCode::BadArguments)?;
        if mode.is_ttl() {
            if !self.config.extended_types {
                return Err(ErrorCode::Unimplemented);
            }
            let ttl = ttl.unwrap_or(0);
            if op != OpCode::CreateTtl || ttl <= 0 || ttl > MAX_TTL_MS {
                return Err(ErrorCode::BadArguments);
            }
        } else if op == OpCode::CreateTtl {
            return Err(ErrorCode::BadArguments);
        }
        // The opcode, not the flags, decides between container and plain nodes (3.8:
        // createContainer with flags 0 makes a container; create with flag 4 a persistent node).
        let container = op == OpCode::CreateContainer;
        let mode = if mode.is_container() && !container {
            CreateMode::Persistent
        } else {
            mode
        };
        if data
            .as_ref()
            .is_some_and(|d| d.len() > self.config.max_data_len)
        {
            return Err(ErrorCode::BadArguments);
        }
        // 3. Path shape.
        let Some(last_slash) = path.rfind('/') else {
            return Err(ErrorCode::BadArguments);
        };
        if path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        // 4. ACL.
        let acl = fixup_acl(acl, caller.ids)?;
        // 5. Parent.
        let parent_path = if last_slash == 0 {
            "/"
        } else {
            &path[..last_slash]
        };
        if path == "/" {
            return Err(ErrorCode::NodeExists);
        }
        let parent = self.view(nodes, parent_path).ok_or(ErrorCode::NoNode)?;
        // 6. Parent ACL.
        if !allowed(&parent.acl, caller.ids, Perms::CREATE) {
            return Err(ErrorCode::NoAuth);
        }
        // 7. Final path.
        let final_path = if mode.is_sequential() {
            format!("{path}{:010}", parent.counter)
        } else {
            path.to_owned()
        };
        let valid = if mode.is_sequential() {
            validate_sequential_path(path).and_then(|_| validate_path(&final_path))
        } else {
            validate_path(&final_path)
        };
        valid.map_err(|_| ErrorCode::BadArguments)?;
        // 8. Exists.
        if self.view(nodes, &final_path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        // 9. Ephemeral parent.
        if matches!(OwnerKind::of(parent.owner), OwnerKind::Ephemeral(_)) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let owner = if container {
            CONTAINER_OWNER
        } else if mode.is_ephemeral() {
            caller.session_id
        } else if mode.is_ttl() {
            OwnerKind::ttl_owner(ttl.unwrap_or(0))
        } else {
            0
        };
        let parent_counter = parent.counter.wrapping_add(1);
        nodes.insert(
            parent_path.to_owned(),
            Some(NodeView {
                counter: parent_counter,
                num_children: parent.num_children + 1,
                ..parent
            }),
        );
        nodes.insert(
            final_path.clone(),
            Some(NodeView {
                version: 0,
                aversion: 0,
                counter: 0,
                num_children: 0,
                owner,
                acl: Arc::from(acl.as_slice()),
                // Fresh: a pending create or setData must not look due for TTL reaping.
                mtime: i64::MAX,
            }),
        );
        Ok(Txn::Create {
            path: final_path,
            data: data.clone(),
            acl,
            ephemeral_owner: owner,
            parent_counter,
        })
    }

    fn delete(
        &self,
        nodes: &mut Pending,
        caller: &Caller<'_>,
        path: &str,
        version: i32,
    ) -> Result<Txn, ErrorCode> {
        if path.contains('\0') || SPECIAL_PATHS.contains(&path) {
            return Err(ErrorCode::BadArguments);
        }
        let (parent_path, _) = split_parent(path).ok_or(ErrorCode::BadArguments)?;
        let parent = self.view(nodes, parent_path).ok_or(ErrorCode::NoNode)?;
        if !allowed(&parent.acl, caller.ids, Perms::DELETE) {
            return Err(ErrorCode::NoAuth);
        }
        let node = self.view(nodes, path).ok_or(ErrorCode::NoNode)?;
        check_version(node.version, version)?;
        if node.num_children > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        self.mark_deleted(nodes, path, parent_path, parent);
        Ok(Txn::Delete {
            path: path.to_owned(),
        })
    }

    fn mark_deleted(&self, nodes: &mut Pending, path: &str, parent_path: &str, parent: NodeView) {
        nodes.insert(
            parent_path.to_owned(),
            Some(NodeView {
                num_children: parent.num_children.saturating_sub(1),
                ..parent
            }),
        );
        nodes.insert(path.to_owned(), None);
    }

    fn set_data(
        &self,
        nodes: &mut Pending,
        caller: &Caller<'_>,
        path: &str,
        data: &Option<Bytes>,
        version: i32,
    ) -> Result<Txn, ErrorCode> {
        validate_path(path).map_err(|_| ErrorCode::BadArguments)?;
        if data
            .as_ref()
            .is_some_and(|d| d.len() > self.config.max_data_len)
        {
            return Err(ErrorCode::BadArguments);
        }
        let node = self.view(nodes, path).ok_or(ErrorCode::NoNode)?;
        if !allowed(&node.acl, caller.ids, Perms::WRITE) {
            return Err(ErrorCode::NoAuth);
        }
        let new_version = check_version(node.version, version)?;
        nodes.insert(
            path.to_owned(),
            Some(NodeView {
                version: new_version,
                mtime: i64::MAX,
                ..node
            }),
        );
        Ok(Txn::SetData {
            path: path.to_owned(),
            data: data.clone(),
            version: new_version,
        })
    }

    fn set_acl(
        &self,
        nodes: &mut Pending,
        caller: &Caller<'_>,
        path: &str,
        acl: &[Acl],
        version: i32,
    ) -> Result<Txn, ErrorCode> {
        validate_path(path).map_err(|_| ErrorCode::BadArguments)?;
        let acl = fixup_acl(acl, caller.ids)?;
        let node = self.view(nodes, path).ok_or(ErrorCode::NoNode)?;
        if !allowed(&node.acl, caller.ids, Perms::ADMIN) {
            return Err(ErrorCode::NoAuth);
        }
        let aversion = check_version(node.aversion, version)?;
        nodes.insert(
            path.to_owned(),
            Some(NodeView {
                aversion,
                acl: Arc::from(acl.as_slice()),
                ..node
            }),
        );
        Ok(Txn::SetAcl {
            path: path.to_owned(),
            acl,
            aversion,
        })
    }

    fn check(
        &self,
        nodes: &Pending,
        caller: &Caller<'_>,
        path: &str,
        version: i32,
    ) -> Result<Txn, ErrorCode> {
        validate_path(path).map_err(|_| ErrorCode::BadArguments)?;
        let node = self.view(nodes, path).ok_or(ErrorCode::NoNode)?;
        if !allowed(&node.acl, caller.ids, Perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.version, version)?;
        Ok(Txn::Check {
            path: path.to_owned(),
        })
    }

    /// The closeSession transaction for `session`: it deletes every ephemeral the session owns,
    /// applied or pending.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::prep::{Pending, Prep, PrepConfig};
    /// use zk_server_mini::tree::{DataTree, Node};
    /// use zk_server_mini::txn::Txn;
    /// let mut tree = DataTree::new();
    /// tree.insert("/lock", Node::new(None, Acl::open_unsafe(), 1, 0, 0x42), 1, 1); // an ephemeral of 0x42
    /// let mut pending = Pending::default();
    /// let txn = Prep::new(&tree, &mut pending, PrepConfig::default()).close_session(0x42);
    /// assert_eq!(txn, Txn::CloseSession { paths: vec!["/lock".into()] });
    /// ```
    pub fn close_session(&mut self, session: i64) -> Txn {
        let mut nodes = std::mem::take(self.pending);
        let mut paths: Vec<String> = self
            .tree
            .ephemerals_of(session)
            .filter(|p| !matches!(nodes.get(p.as_str()), Some(None)))
            .cloned()
            .collect();
        for (p, v) in nodes.iter() {
            if v.as_ref().is_some_and(|v| v.owner == session)
                && self.tree.get(p).is_none()
                && !paths.contains(p)
            {
                paths.push(p.clone());
            }
        }
        paths.sort();
        for p in &paths {
            if let Some((parent_path, _)) = split_parent(p)
                && let Some(parent) = self.view(&nodes, parent_path)
            {
                self.mark_deleted(&mut nodes, p, parent_path, parent);
            }
        }
        *self.pending = nodes;
        Txn::CloseSession { paths }
    }

    /// A delete for a container or TTL node that is due for reaping, or `None`.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_server_mini::prep::{Pending, Prep, PrepConfig};
    /// use zk_server_mini::tree::{DataTree, Node};
    /// let mut tree = DataTree::new();
    /// tree.insert("/a", Node::new(None, Acl::open_unsafe(), 1, 0, 0), 1, 1); // persistent
    /// let mut pending = Pending::default();
    /// let mut prep = Prep::new(&tree, &mut pending, PrepConfig::default());
    /// assert_eq!(prep.reap("/a", 1_000_000), None); // not a container or TTL node
    /// ```
    pub fn reap(&mut self, path: &str, now_ms: i64) -> Option<Txn> {
        let mut nodes = std::mem::take(self.pending);
        let due = self.view(&nodes, path).and_then(|node| {
            if node.num_children > 0 {
                return None;
            }
            let due = match OwnerKind::of(node.owner) {
                OwnerKind::Container => node.counter > 0,
                OwnerKind::Ttl(ttl) => now_ms.saturating_sub(node.mtime) > ttl,
                _ => false,
            };
            let (parent_path, _) = split_parent(path)?;
            let parent = self.view(&nodes, parent_path)?;
            due.then(|| (parent_path.to_owned(), parent))
        });
        let txn = due.map(|(parent_path, parent)| {
            self.mark_deleted(&mut nodes, path, &parent_path, parent);
            Txn::Delete {
                path: path.to_owned(),
            }
        });
        *self.pending = nodes;
        txn
    }
}

mod reconfig;
#[cfg(test)]
mod tests;
