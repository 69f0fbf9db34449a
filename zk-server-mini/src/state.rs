//! The server's state machine, without I/O: like raft-rs, it hands the driver [`Action`]s to
//! perform and proposals to persist, and takes time as an argument. It is deterministic: the
//! same inputs give the same outputs, byte for byte (ordered maps only, no randomness; the
//! session-password secret is passed in).
//!
//! It is built from the three layers of DESIGN.md:
//! - the front end (`front`: connections, handshakes, replies, byte accounting; `reads`:
//!   requests answered from the local tree; the watch table; and the per-session ordering of
//!   reads behind writes in [`StateMachine::step`]);
//! - the proposer (`proposer`: session expiry, prep, zxid assignment), the leader's part,
//!   which also prepares the writes followers forward (`forward`);
//! - on a follower, the learner (`learner`): the same front end and reads, with writes,
//!   session opens and closes forwarded to the leader and answered once applied here;
//! - on a member cut off from its quorum in read-only mode (`read_only`): the same front end
//!   and reads over local sessions, every write refused;
//! - the replicated state ([`crate::replica::Replica`]), changed only by committed
//!   transactions in zxid order (`commit`).
//!
//! A standalone server commits a batch as soon as its log write is synced (a quorum of one);
//! an ensemble would commit on quorum acknowledgement instead, through the same
//! [`StateMachine::commit_through`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use zk_proto::acl::Id;
use zk_proto::codec::encode_frame;
use zk_proto::jute::Encode;
use zk_proto::multi::{MultiOp, MultiResponse, OpResult};
use zk_proto::records::*;
use zk_proto::{
    ConnectRequest, ConnectResponse, DecodeError, ErrorCode, EventType, KeeperState, OpCode,
    Request, Response,
};

use crate::apply::{Change, TxnResult, parent_of};
use crate::prep::{Caller, Prep, PrepConfig};
use crate::replica::Replica;
use crate::tree::DataTree;
use crate::txn::{Txn, TxnHeader};
use crate::watches::{ConnId, WatchTable};

mod commit;
mod forward;
mod front;
mod learner;
mod proposer;
mod read_only;
mod reads;
mod types;

use proposer::Proposer;
pub(crate) use types::Origin;
pub use types::{Action, ConnStats, CoreConfig, FRAME_OVERHEAD, Input, Proposal, REPLY_SLACK};

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) addr: SocketAddr,
    pub(crate) session: Option<i64>,
    pub(crate) timeout_ms: i32,
    ids: Vec<Id>,
    pending_writes: usize,
    closing: bool,
    /// Reply bytes produced for it and not yet reported written ([`StateMachine::sent`]).
    unsent: usize,
    pub(crate) stats: ConnStats,
}

/// The state machine. See the module docs.
///
/// ```
/// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
/// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
/// use zk_server_mini::tree::DataTree;
///
/// let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
/// let addr = ([127, 0, 0, 1], 4000).into();
/// let request = ConnectRequest::new_session(10_000);
/// sm.step(vec![Input::Open { conn: 1, addr }, Input::Connect { conn: 1, request }], 0, 0);
/// // Session creation is a transaction: persist the proposals, then commit.
/// assert_eq!(sm.proposals().len(), 1);
/// let actions = sm.commit();
/// assert!(matches!(&actions[..], [Action::Send(1, _)])); // the ConnectResponse
///
/// let create = Request::Create(CreateRequest {
///     path: "/a".into(), data: None, acl: Acl::open_unsafe(), flags: 0,
/// });
/// let input = Input::Request { conn: 1, xid: 1, op: create.op_code(), body: Ok(create) };
/// assert!(sm.step(vec![input], 0, 0).is_empty()); // nothing is answered before the commit
/// assert_eq!(sm.proposals()[0].header.zxid, 2);
/// sm.commit();
/// assert!(sm.tree().get("/a").is_some());
/// ```
#[derive(Debug)]
pub struct StateMachine {
    /// The replicated state: tree, sessions, ephemerals.
    pub(crate) replica: Replica,
    /// Prep, zxids, session expiry: the leader's part of the write path.
    pub(crate) proposer: Proposer,
    /// Watches of the connections of this server (front end).
    pub(crate) watches: WatchTable,
    pub(crate) conns: BTreeMap<ConnId, Conn>,
    session_conns: BTreeMap<i64, BTreeSet<ConnId>>,
    /// Client writes proposed and not yet applied, per session: a session's reads wait
    /// behind them whichever connection they came on (a reconnect must not let a read on the
    /// new connection overtake a write still in flight from the old one).
    session_writes: BTreeMap<i64, usize>,
    /// Connections whose unsent replies are over their limit: their requests wait.
    congested: std::collections::BTreeSet<ConnId>,
    pub(crate) config: CoreConfig,
    backlog: VecDeque<Input>,
    /// Whether something was committed since the backlog was last scanned.
    backlog_dirty: bool,
    /// Sealed batches: handed to the log, not yet committed, oldest first.
    in_flight: VecDeque<Proposal>,
    actions: Vec<Action>,
    released: BTreeMap<ConnId, u32>,
    pub(crate) received: u64,
    pub(crate) sent: u64,
    /// An ensemble leader confirms `sync()` with a quorum round: syncs are held here for the
    /// driver instead of being answered at once.
    pub(crate) hold_syncs: bool,
    /// Held syncs (connection, xid, path), for the driver to take.
    pub(crate) held_syncs: Vec<(ConnId, i32, String)>,
    /// See [`StateMachine::set_synced`].
    pub(crate) synced: Option<std::sync::Arc<BTreeSet<u64>>>,
    /// Connections with a held sync: everything they send waits behind it (replies go out in
    /// request order).
    pub(crate) syncing: BTreeSet<ConnId>,
    /// On a follower serving its own clients: the forwarded writes it waits for.
    learner: Option<learner::Learner>,
    /// A member cut off from its quorum in read-only mode: local read-only sessions only.
    read_only: bool,
}

fn frame<T: Encode>(item: &T) -> Bytes {
    let mut out = BytesMut::new();
    // usize::MAX: the server does not limit its own replies (PROTOCOL.md §1.3).
    if encode_frame(item, &mut out, i32::MAX as usize).is_err() {
        tracing::error!("reply too large to encode");
    }
    out.freeze()
}

fn is_write(op: OpCode) -> bool {
    op.is_write()
}

impl StateMachine {
    /// A state machine over a recovered tree; every session in it starts a fresh timeout.
    ///
    /// ```
    /// use zk_server_mini::state::{CoreConfig, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// assert_eq!(sm.last_zxid(), 0);
    /// assert_eq!(sm.connection_count(), 0);
    /// # let _ = &mut sm;
    /// ```
    pub fn new(tree: DataTree, config: CoreConfig, now_ms: u64, wall_ms: i64) -> Self {
        let proposer = Proposer::new(&tree, config.tick_ms, config.server_id, now_ms, wall_ms);
        Self {
            replica: Replica::new(tree),
            proposer,
            watches: WatchTable::with_limits(
                config.max_watches_per_connection,
                config.max_watch_bytes_per_connection,
            ),
            conns: BTreeMap::new(),
            session_conns: BTreeMap::new(),
            session_writes: BTreeMap::new(),
            congested: std::collections::BTreeSet::new(),
            config,
            backlog: VecDeque::new(),
            backlog_dirty: false,
            in_flight: VecDeque::new(),
            actions: Vec::new(),
            released: BTreeMap::new(),
            received: 0,
            sent: 0,
            hold_syncs: false,
            held_syncs: Vec::new(),
            synced: None,
            syncing: BTreeSet::new(),
            learner: None,
            read_only: false,
        }
    }

    /// Sets the secret session passwords are derived from ([`CoreConfig::session_secret`]):
    /// an ensemble member learns it when it binds to its ensemble, before it first serves.
    ///
    /// ```
    /// use zk_server_mini::state::{CoreConfig, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// sm.set_session_secret([7; 16]);
    /// assert_eq!(sm.session_secret(), [7; 16]);
    /// ```
    pub fn set_session_secret(&mut self, secret: [u8; 16]) {
        self.config.session_secret = secret;
    }

    /// The secret session passwords are derived from.
    ///
    /// ```
    /// use zk_server_mini::state::{CoreConfig, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// let sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// assert_eq!(sm.session_secret(), CoreConfig::default().session_secret);
    /// ```
    pub fn session_secret(&self) -> [u8; 16] {
        self.config.session_secret
    }

    /// The applied tree.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// sm.step(vec![create("/a")], 0, 0);
    /// assert!(sm.tree().get("/a").is_none()); // not applied before the commit
    /// sm.commit();
    /// assert!(sm.tree().get("/a").is_some());
    /// ```
    pub fn tree(&self) -> &DataTree {
        &self.replica.tree
    }

    /// zxid of the last applied transaction.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// assert_eq!(sm.last_zxid(), 1); // the createSession
    /// sm.step(vec![create("/a")], 0, 0);
    /// sm.commit();
    /// assert_eq!(sm.last_zxid(), 2);
    /// ```
    pub fn last_zxid(&self) -> i64 {
        self.replica.tree.last_zxid
    }

    /// Number of open connections.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// # let _ = create;
    /// assert_eq!(sm.connection_count(), 1);
    /// ```
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Whether requests are deferred to the next batch.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// # let _ = create;
    /// if sm.has_backlog() && sm.backlog_ready() {
    ///     sm.step(Vec::new(), 0, 0); // let deferred requests move
    /// }
    /// ```
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Requests done (answered, dropped, or committed) per connection since the last call,
    /// in each connection's arrival order: the driver gives their bytes back to the
    /// connection's budget, which bounds how much one client can have inside the server.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// sm.step(vec![create("/a")], 0, 0);
    /// sm.commit();
    /// let released = sm.take_released();
    /// assert!(released.get(&1).is_some_and(|n| *n >= 1)); // give those request bytes back
    /// ```
    pub fn take_released(&mut self) -> BTreeMap<ConnId, u32> {
        std::mem::take(&mut self.released)
    }

    /// Number of inputs deferred to the next batch.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// # let _ = create;
    /// assert_eq!(sm.backlog_len(), 0);
    /// ```
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// Processes a batch of inputs (after the backlog of earlier deferred ones). Reads are
    /// answered at once unless their connection has an unapplied write in flight; writes
    /// become proposals. Returns the actions to perform now; then persist
    /// [`StateMachine::proposals`] and call [`StateMachine::commit`].
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// let actions = sm.step(vec![create("/a")], 1_000, 1_700_000_000_000);
    /// assert!(actions.is_empty());
    /// // persist sm.proposals(), then:
    /// let replies = sm.commit();
    /// assert!(matches!(&replies[..], [Action::Send(1, _)]));
    /// ```
    pub fn step(&mut self, inputs: Vec<Input>, now_ms: u64, wall_ms: i64) -> Vec<Action> {
        // Deferred inputs wait for their connection's writes to be applied: without a commit
        // since the last pass none of them can move, so they are not rescanned (that would
        // cost O(backlog) per pass while a batch is being fsynced); their connections stay
        // blocked so later inputs queue behind them.
        let (mut queue, mut blocked) = if self.backlog_dirty {
            self.backlog_dirty = false;
            (std::mem::take(&mut self.backlog), BTreeSet::new())
        } else {
            let blocked: BTreeSet<ConnId> = self.backlog.iter().map(Input::conn).collect();
            (VecDeque::new(), blocked)
        };
        queue.extend(inputs);
        self.learner_clock(now_ms);
        for input in queue {
            let conn = input.conn();
            if blocked.contains(&conn) {
                self.backlog.push_back(input);
                continue;
            }
            match input {
                Input::Open { conn, addr } => {
                    // A v4 client of a dual-stack listener shows up as ::ffff:a.b.c.d; its
                    // identity (and so `ip:a.b.c.d` ACLs) is the v4 address, as in Java.
                    let ip = addr.ip().to_canonical().to_string();
                    self.conns.insert(
                        conn,
                        Conn {
                            addr,
                            session: None,
                            timeout_ms: 0,
                            ids: vec![Id::new("ip", ip)],
                            pending_writes: 0,
                            closing: false,
                            unsent: 0,
                            stats: ConnStats {
                                established_ms: now_ms,
                                last_op: "NA",
                                ..ConnStats::default()
                            },
                        },
                    );
                }
                Input::Closed { conn } => self.forget(conn),
                Input::Connect { conn, request } => self.connect(conn, request, now_ms, wall_ms),
                Input::Request {
                    conn,
                    xid,
                    op,
                    body,
                } => {
                    let Some(c) = self.conns.get(&conn) else {
                        continue;
                    };
                    // Any packet renews the session when it arrives, as in ZooKeeper, even if
                    // it then waits behind its connection's writes: a slow fsync must not
                    // expire a session whose pings are queued.
                    if let Some(sid) = c.session.filter(|_| !c.closing) {
                        self.proposer.sessions.touch(sid, now_ms);
                        self.learner_touch(sid);
                    }
                    let Some(c) = self.conns.get(&conn) else {
                        continue;
                    };
                    // Reads wait behind the connection's unapplied writes. So does a write
                    // of a session that has expired meanwhile: its SessionExpired answer is
                    // immediate and must not overtake the replies still due.
                    let live = c
                        .session
                        .is_some_and(|s| self.proposer.sessions.contains(s));
                    let write = is_write(op) && live;
                    let session_busy = c
                        .session
                        .is_some_and(|s| self.session_writes.get(&s).is_some_and(|n| *n > 0));
                    let held_back = !c.closing && self.holds_back(conn);
                    if held_back || (!c.closing && !write && (c.pending_writes > 0 || session_busy))
                    {
                        blocked.insert(conn);
                        self.backlog.push_back(Input::Request {
                            conn,
                            xid,
                            op,
                            body,
                        });
                        continue;
                    }
                    if c.closing || !self.request(conn, xid, op, body, now_ms, wall_ms) {
                        // Done (answered or dropped); a proposed write is done at its commit.
                        self.release(conn);
                    }
                }
            }
        }
        std::mem::take(&mut self.actions)
    }

    fn request(
        &mut self,
        conn: ConnId,
        xid: i32,
        op: OpCode,
        body: Result<Request, DecodeError>,
        now_ms: u64,
        wall_ms: i64,
    ) -> bool {
        self.received += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        c.stats.received += 1;
        c.stats.last_op = op.short_name();
        c.stats.last_cxid = xid;
        let Some(sid) = c.session else {
            // A request on a connection whose handshake failed.
            self.close(conn);
            return false;
        };
        if !self.proposer.sessions.touch(sid, now_ms) {
            let zxid = self.replica.tree.last_zxid;
            self.reply(conn, xid, zxid, ErrorCode::SessionExpired, &Response::Empty);
            self.close(conn);
            return false;
        }
        if self.read_only && self.read_only_refuses(conn, sid, xid, op, &body) {
            return false;
        }
        if self.is_learner() && is_write(op) && !matches!(body, Err(DecodeError::UnknownOpCode(_)))
        {
            self.forward_write(conn, sid, xid, op, body);
            return true;
        }
        let request = match body {
            Ok(r) => r,
            Err(DecodeError::UnknownOpCode(_)) => {
                // 3.8's UnimplementedRequestProcessor answers, then drops the connection.
                self.reply(conn, xid, -1, ErrorCode::Unimplemented, &Response::Empty);
                self.close(conn);
                return false;
            }
            Err(e) if is_write(op) => {
                // 3.8 fails the request in prep: MarshallingError, and it uses a zxid.
                tracing::debug!(conn, xid, ?op, "undecodable write body: {e}");
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.pending_writes += 1;
                }
                self.propose(
                    sid,
                    xid,
                    wall_ms,
                    Txn::Error(ErrorCode::MarshallingError),
                    Origin::Undecodable { conn, xid },
                );
                return true;
            }
            Err(e) => {
                tracing::debug!(conn, xid, ?op, "undecodable request body: {e}");
                let zxid = self.replica.tree.last_zxid;
                self.reply(
                    conn,
                    xid,
                    zxid,
                    ErrorCode::MarshallingError,
                    &Response::Empty,
                );
                return false;
            }
        };
        if is_write(op) {
            let ids = self.caller_ids(conn);
            let txn = if matches!(request, Request::CloseSession) {
                self.proposer.sessions.remove(sid);
                self.prep().close_session(sid)
            } else {
                let caller = Caller {
                    session_id: sid,
                    ids: &ids,
                };
                self.prep().write(&caller, &request)
            };
            if let Some(c) = self.conns.get_mut(&conn) {
                c.pending_writes += 1;
            }
            self.propose(
                sid,
                xid,
                wall_ms,
                txn,
                Origin::Request { conn, xid, request },
            );
            true
        } else if let (true, Request::Sync(r)) = (self.hold_syncs, &request) {
            self.held_syncs.push((conn, xid, r.path.clone()));
            self.syncing.insert(conn);
            true
        } else {
            self.read(conn, sid, xid, request);
            false
        }
    }

    /// Prep over the applied tree and the pending changes, which it tags with the zxid
    /// [`StateMachine::propose`] will give the transaction it prepares.
    fn prep(&mut self) -> Prep<'_> {
        let cfg = self.prep_config();
        self.proposer.prep(&self.replica.tree, cfg)
    }

    fn prep_config(&self) -> PrepConfig {
        PrepConfig {
            extended_types: self.config.extended_types,
            max_data_len: self.config.max_data_len,
            reconfig: self.config.reconfig,
            synced: self.synced.clone(),
        }
    }

    /// At an ensemble's leader: the members synced with it, itself included (`None`
    /// elsewhere); a `reconfig` needs a quorum of its new voters among them.
    ///
    /// ```
    /// use zk_server_mini::state::{CoreConfig, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// sm.set_synced(Some([1, 2].into()));
    /// ```
    pub fn set_synced(&mut self, members: Option<std::collections::BTreeSet<u64>>) {
        if self.synced.as_deref() != members.as_ref() {
            self.synced = members.map(std::sync::Arc::new);
        }
    }

    /// Expires `session` now, as if its timeout had passed (fault injection). Returns false
    /// when the session is not live.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// # let _ = create;
    /// let session = sm.session_ids()[0];
    /// assert!(sm.expire_session(session, 0));
    /// sm.commit(); // the closeSession transaction
    /// assert!(sm.session_ids().is_empty());
    /// assert!(!sm.expire_session(session, 0));
    /// ```
    pub fn expire_session(&mut self, session: i64, wall_ms: i64) -> bool {
        if !self.proposer.sessions.contains(session) {
            return false;
        }
        self.proposer.sessions.remove(session);
        tracing::info!(
            session = format!("0x{session:x}"),
            "session expired on request"
        );
        let txn = self.prep().close_session(session);
        self.propose(session, 0, wall_ms, txn, Origin::Expire { session });
        true
    }

    /// Live session ids.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// # let _ = create;
    /// assert_eq!(sm.session_ids().len(), 1);
    /// ```
    pub fn session_ids(&self) -> Vec<i64> {
        self.replica
            .tree
            .sessions
            .keys()
            .copied()
            .filter(|s| self.proposer.sessions.contains(*s))
            .collect()
    }

    /// Expires sessions whose bucket has passed, and reaps due containers and TTL nodes when
    /// `reap` is set: both become proposals.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// # let _ = create;
    /// sm.tick(60_000, 0, true); // long past the 10 s timeout, with no ping
    /// assert_eq!(sm.proposals().len(), 1); // the closeSession
    /// sm.commit();
    /// assert!(sm.session_ids().is_empty());
    /// ```
    pub fn tick(&mut self, now_ms: u64, wall_ms: i64, reap: bool) {
        for sid in self.proposer.sessions.expired(now_ms) {
            tracing::info!(session = format!("0x{sid:x}"), "session expired");
            let txn = self.prep().close_session(sid);
            self.propose(sid, 0, wall_ms, txn, Origin::Expire { session: sid });
        }
        if reap {
            let candidates: Vec<String> = self
                .replica
                .tree
                .containers()
                .iter()
                .chain(self.replica.tree.ttl_nodes())
                .cloned()
                .collect();
            for path in candidates {
                let txn = self.prep().reap(&path, wall_ms);
                if let Some(txn) = txn {
                    tracing::debug!(path, "reaping");
                    self.propose(0, 0, wall_ms, txn, Origin::Internal);
                }
            }
        }
    }

    /// Transactions prepared since the last commit, in zxid order: the driver makes them
    /// durable before calling [`StateMachine::commit`].
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// sm.step(vec![create("/a"), create("/b")], 0, 0);
    /// let zxids: Vec<i64> = sm.proposals().iter().map(|p| p.header.zxid).collect();
    /// assert_eq!(zxids, [2, 3]);
    /// ```
    pub fn proposals(&self) -> &[Proposal] {
        &self.proposer.proposals
    }
}

#[cfg(test)]
mod tests;
