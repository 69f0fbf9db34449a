//! The server's state machine: it owns the tree, sessions and watches, turns inputs from
//! connections into transactions (prep, zxid assignment) and, once the driver reports them
//! durable, applies them in zxid order, fires watches and produces the replies.
//!
//! It does no I/O: like raft-rs, it hands the driver [`Action`]s to perform and proposals to
//! persist. A standalone server commits a batch as soon as its log write is synced; an
//! ensemble would commit on quorum acknowledgement instead.

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

use crate::apply::{Change, TxnResult, apply, parent_of};
use crate::prep::{Caller, Pending, Prep, PrepConfig};
use crate::session::SessionTracker;
use crate::tree::DataTree;
use crate::txn::{Txn, TxnHeader};
use crate::watches::{ConnId, WatchTable};

mod reads;

/// Settings the state machine needs.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The tick (ms): session expiry granularity.
    pub tick_ms: u64,
    /// Smallest negotiated session timeout (ms).
    pub min_session_timeout_ms: i32,
    /// Largest negotiated session timeout (ms).
    pub max_session_timeout_ms: i32,
    /// Whether createTTL is enabled.
    pub extended_types: bool,
    /// Largest node data (bytes).
    pub max_data_len: usize,
    /// `super:<base64 sha1>` digest id that grants the `super` identity, if any.
    pub super_digest: Option<String>,
    /// Server id (high byte of session ids).
    pub server_id: u8,
    /// Largest reply frame (length prefix excluded). A read whose reply would be larger is
    /// not built: its connection is closed instead (a client refuses such a frame anyway).
    pub max_reply_len: usize,
    /// Reply bytes a connection may have produced and not yet written to its socket before
    /// its requests wait (they are not answered, so its replies cannot grow further). The
    /// server-wide bound is the driver's: it cuts off the connection holding the most.
    pub max_unsent_per_connection: usize,
    /// Watched paths one connection may hold; a connection that asks for more is closed.
    pub max_watches_per_connection: usize,
    /// Bytes of watched paths one connection may hold; likewise.
    pub max_watch_bytes_per_connection: usize,
    /// The secret session passwords are derived from (with the session id). The state
    /// machine draws no randomness of its own; the driver picks this at random at startup.
    pub session_secret: [u8; 16],
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            tick_ms: 2000,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40000,
            extended_types: false,
            max_data_len: zk_proto::codec::DEFAULT_MAX_FRAME_LEN,
            super_digest: None,
            server_id: 1,
            max_reply_len: zk_proto::codec::DEFAULT_MAX_FRAME_LEN + REPLY_SLACK,
            max_unsent_per_connection: usize::MAX,
            max_watches_per_connection: crate::watches::DEFAULT_MAX_WATCHES,
            max_watch_bytes_per_connection: crate::watches::DEFAULT_MAX_WATCH_BYTES,
            session_secret: [0; 16],
        }
    }
}

/// What a queued reply costs beyond its bytes (the queue slot and its handle): counted by
/// the state machine and the driver alike, so many tiny replies are bounded too.
pub const FRAME_OVERHEAD: usize = 64;

/// Room a reply has beyond the largest node data: headers and the stat around it (the
/// counterpart of ZooKeeper's `jute.maxbuffer.extrasize`).
pub const REPLY_SLACK: usize = 1024;

/// Something a connection sent.
#[derive(Debug)]
pub enum Input {
    /// A connection was accepted.
    Open {
        /// Its id.
        conn: ConnId,
        /// The peer's address.
        addr: SocketAddr,
    },
    /// The first frame: a ConnectRequest.
    Connect {
        /// Connection.
        conn: ConnId,
        /// The request.
        request: ConnectRequest,
    },
    /// A request frame (header read; the body may have failed to decode).
    Request {
        /// Connection.
        conn: ConnId,
        /// Its xid.
        xid: i32,
        /// Its opcode.
        op: OpCode,
        /// The decoded body.
        body: Result<Request, DecodeError>,
    },
    /// The connection is gone.
    Closed {
        /// Connection.
        conn: ConnId,
    },
}

impl Input {
    /// The connection it came from.
    pub fn conn(&self) -> ConnId {
        match self {
            Input::Open { conn, .. }
            | Input::Connect { conn, .. }
            | Input::Request { conn, .. }
            | Input::Closed { conn } => *conn,
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this frame (length prefix included) to the connection.
    Send(ConnId, Bytes),
    /// Flush what was sent, then close the connection.
    Close(ConnId),
}

/// A prepared transaction waiting to become durable.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// Header (zxid, session, time).
    pub header: TxnHeader,
    /// The transaction.
    pub txn: Txn,
    origin: Origin,
}

#[derive(Debug, Clone)]
enum Origin {
    Request {
        conn: ConnId,
        xid: i32,
        request: Request,
    },
    Connect {
        conn: ConnId,
        read_only: Option<bool>,
    },
    Expire {
        session: i64,
    },
    /// A write whose body did not decode: 3.8 still gives it a zxid (an error transaction).
    Undecodable {
        conn: ConnId,
        xid: i32,
    },
    Internal,
}

impl Origin {
    /// Whether a client's read may have to wait for this transaction (it came from a
    /// client's request or handshake).
    fn is_client_write(&self) -> bool {
        matches!(
            self,
            Origin::Request { .. } | Origin::Connect { .. } | Origin::Undecodable { .. }
        )
    }
}

/// Per-connection counters, for the four-letter words.
#[derive(Debug, Clone, Default)]
pub struct ConnStats {
    /// Packets received.
    pub received: u64,
    /// Packets sent.
    pub sent: u64,
    /// Last operation's short name.
    pub last_op: &'static str,
    /// Last cxid.
    pub last_cxid: i32,
    /// Last zxid answered.
    pub last_zxid: i64,
    /// When it was established (ms, server clock).
    pub established_ms: u64,
}

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
    pub(crate) tree: DataTree,
    pending: Pending,
    pub(crate) sessions: SessionTracker,
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
    last_assigned: i64,
    next_session: i64,
    backlog: VecDeque<Input>,
    /// Whether something was committed since the backlog was last scanned.
    backlog_dirty: bool,
    proposals: Vec<Proposal>,
    /// Sealed batches: handed to the log, not yet committed, oldest first.
    in_flight: VecDeque<Proposal>,
    actions: Vec<Action>,
    released: BTreeMap<ConnId, u32>,
    pub(crate) received: u64,
    pub(crate) sent: u64,
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
    pub fn new(tree: DataTree, config: CoreConfig, now_ms: u64, wall_ms: i64) -> Self {
        let mut sessions = SessionTracker::new(config.tick_ms);
        for (id, info) in &tree.sessions {
            sessions.add(*id, info.timeout_ms.max(0) as u64, now_ms);
        }
        let base = ((wall_ms << 24) as u64 >> 8) as i64 | (i64::from(config.server_id) << 56);
        let max_existing = tree.sessions.keys().max().copied().unwrap_or(0);
        Self {
            last_assigned: tree.last_zxid,
            tree,
            pending: Pending::default(),
            sessions,
            watches: WatchTable::with_limits(
                config.max_watches_per_connection,
                config.max_watch_bytes_per_connection,
            ),
            conns: BTreeMap::new(),
            session_conns: BTreeMap::new(),
            session_writes: BTreeMap::new(),
            congested: std::collections::BTreeSet::new(),
            config,
            next_session: base.max(max_existing.saturating_add(1)),
            backlog: VecDeque::new(),
            backlog_dirty: false,
            proposals: Vec::new(),
            in_flight: VecDeque::new(),
            actions: Vec::new(),
            released: BTreeMap::new(),
            received: 0,
            sent: 0,
        }
    }

    /// The applied tree.
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// zxid of the last applied transaction.
    pub fn last_zxid(&self) -> i64 {
        self.tree.last_zxid
    }

    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Whether requests are deferred to the next batch.
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Requests done (answered, dropped, or committed) per connection since the last call,
    /// in each connection's arrival order: the driver gives their bytes back to the
    /// connection's budget, which bounds how much one client can have inside the server.
    pub fn take_released(&mut self) -> BTreeMap<ConnId, u32> {
        std::mem::take(&mut self.released)
    }

    /// Number of inputs deferred to the next batch.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    fn caller_ids(&self, conn: ConnId) -> Vec<Id> {
        self.conns
            .get(&conn)
            .map(|c| c.ids.clone())
            .unwrap_or_default()
    }

    fn send(&mut self, conn: ConnId, bytes: Bytes) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.sent += 1;
            self.sent += 1;
            c.unsent += bytes.len() + FRAME_OVERHEAD;
            if c.unsent >= self.config.max_unsent_per_connection {
                self.congested.insert(conn);
            }
            self.actions.push(Action::Send(conn, bytes));
        }
    }

    /// The driver wrote `bytes` of `conn`'s replies to its socket: requests held back while
    /// its (or the server's) unsent replies were over the limit may go on.
    pub fn sent(&mut self, conn: ConnId, bytes: usize) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.unsent -= bytes.min(c.unsent);
        if c.unsent < self.config.max_unsent_per_connection && self.congested.remove(&conn) {
            self.backlog_dirty = true;
        }
    }

    /// Whether deferred inputs may move now (something they waited for happened): the driver
    /// then steps again without waiting for new input.
    pub fn backlog_ready(&self) -> bool {
        self.backlog_dirty && !self.backlog.is_empty()
    }

    /// Whether some requests wait for replies to be written ([`StateMachine::sent`]).
    pub fn is_congested(&self) -> bool {
        !self.congested.is_empty()
    }

    /// Whether `conn`'s requests must wait for its replies to drain.
    fn holds_back(&self, conn: ConnId) -> bool {
        self.congested.contains(&conn)
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn)
            && !c.closing
        {
            c.closing = true;
            self.actions.push(Action::Close(conn));
        }
    }

    fn reply(&mut self, conn: ConnId, xid: i32, zxid: i64, err: ErrorCode, body: &Response) {
        let header = ReplyHeader { xid, zxid, err };
        let mut out = BytesMut::new();
        let encoded = if err.is_ok() {
            encode_frame(&(header, body), &mut out, self.config.max_reply_len)
        } else {
            encode_frame(&header, &mut out, self.config.max_reply_len)
        };
        if let Err(e) = encoded {
            // Never an empty or truncated frame: the client would wait for it forever.
            self.refuse_large_reply(conn, xid, &e.to_string());
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.last_zxid = zxid;
        }
        self.send(conn, out.freeze());
    }

    /// A reply too large for any client to accept: the connection is closed instead (its
    /// client sees a connection loss, as with ZooKeeper, whose clients drop a frame over their
    /// `jute.maxbuffer`), after the replies already due.
    fn refuse_large_reply(&mut self, conn: ConnId, xid: i32, why: &str) {
        tracing::warn!(
            conn,
            xid,
            limit = self.config.max_reply_len,
            "reply too large ({why}); closing the connection"
        );
        self.close(conn);
    }

    fn notify(&mut self, conn: ConnId, event: EventType, path: &str) {
        let header = ReplyHeader {
            xid: zk_proto::xid::NOTIFICATION,
            zxid: -1,
            err: ErrorCode::Ok,
        };
        let event = WatcherEvent {
            event_type: event,
            state: KeeperState::SyncConnected,
            path: path.to_owned(),
        };
        self.send(conn, frame(&(header, &event)));
    }

    /// Processes a batch of inputs (after the backlog of earlier deferred ones). Reads are
    /// answered at once unless their connection has an unapplied write in flight; writes
    /// become proposals. Returns the actions to perform now; then persist
    /// [`StateMachine::proposals`] and call [`StateMachine::commit`].
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
                        self.sessions.touch(sid, now_ms);
                    }
                    let Some(c) = self.conns.get(&conn) else {
                        continue;
                    };
                    // Reads wait behind the connection's unapplied writes. So does a write
                    // of a session that has expired meanwhile: its SessionExpired answer is
                    // immediate and must not overtake the replies still due.
                    let live = c.session.is_some_and(|s| self.sessions.contains(s));
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

    fn forget(&mut self, conn: ConnId) {
        if self.congested.remove(&conn) {
            self.backlog_dirty = true;
        }
        if let Some(c) = self.conns.remove(&conn)
            && let Some(sid) = c.session
            && let Some(set) = self.session_conns.get_mut(&sid)
        {
            set.remove(&conn);
            if set.is_empty() {
                self.session_conns.remove(&sid);
            }
        }
        self.watches.remove_connection(conn);
    }

    fn propose(&mut self, session_id: i64, cxid: i32, wall_ms: i64, txn: Txn, origin: Origin) {
        self.last_assigned += 1;
        if origin.is_client_write() {
            *self.session_writes.entry(session_id).or_default() += 1;
        }
        let header = TxnHeader {
            session_id,
            cxid,
            zxid: self.last_assigned,
            time: wall_ms,
        };
        self.proposals.push(Proposal {
            header,
            txn,
            origin,
        });
    }

    fn clamp_timeout(&self, requested: i32) -> i32 {
        requested.clamp(
            self.config.min_session_timeout_ms,
            self.config
                .max_session_timeout_ms
                .max(self.config.min_session_timeout_ms),
        )
    }

    fn connect(&mut self, conn: ConnId, req: ConnectRequest, now_ms: u64, wall_ms: i64) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        if req.last_zxid_seen > self.tree.last_zxid {
            tracing::info!(
                conn,
                client_zxid = req.last_zxid_seen,
                server_zxid = self.tree.last_zxid,
                "refusing a client that has seen a newer zxid"
            );
            self.close(conn);
            return;
        }
        let timeout = self.clamp_timeout(req.timeout_ms);
        if req.session_id == 0 {
            // Wrapping, and skipping ids in use: recovered ids come from disk and may sit
            // anywhere in the range. 0 means "new session" and i64::MIN marks containers.
            let mut sid = self.next_session;
            while sid == 0
                || sid == i64::MIN
                || self.tree.sessions.contains_key(&sid)
                || self.sessions.contains(sid)
            {
                sid = sid.wrapping_add(1);
            }
            self.next_session = sid.wrapping_add(1);
            let passwd = session_password(&self.config.session_secret, sid);
            self.sessions.add(sid, timeout.max(0) as u64, now_ms);
            self.bind(conn, sid, timeout);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.pending_writes += 1;
            }
            self.propose(
                sid,
                0,
                wall_ms,
                Txn::CreateSession {
                    timeout_ms: timeout,
                    passwd: Bytes::copy_from_slice(&passwd),
                },
                Origin::Connect {
                    conn,
                    read_only: req.read_only,
                },
            );
            return;
        }
        // A reconnect first closes every other connection of the session, password or not.
        let others: Vec<ConnId> = self
            .session_conns
            .get(&req.session_id)
            .map(|s| s.iter().copied().filter(|c| *c != conn).collect())
            .unwrap_or_default();
        for other in others {
            self.close(other);
            self.forget_binding(other);
        }
        let alive = self.sessions.contains(req.session_id)
            && self
                .tree
                .sessions
                .get(&req.session_id)
                .is_some_and(|s| s.passwd == req.passwd);
        if !alive {
            let response = ConnectResponse::expired(req.read_only);
            self.send(conn, frame(&response));
            self.close(conn);
            return;
        }
        self.sessions.remove(req.session_id);
        self.sessions
            .add(req.session_id, timeout.max(0) as u64, now_ms);
        self.bind(conn, req.session_id, timeout);
        self.accept_session(conn, req.session_id, timeout, req.read_only);
    }

    /// Answers `conn`'s handshake: it now holds `session_id`, whose stored password it is sent.
    fn accept_session(
        &mut self,
        conn: ConnId,
        session_id: i64,
        timeout: i32,
        read_only: Option<bool>,
    ) {
        let passwd = self
            .tree
            .sessions
            .get(&session_id)
            .map(|s| s.passwd.clone())
            .unwrap_or_default();
        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout,
            session_id,
            passwd,
            read_only: read_only.map(|_| false),
        };
        self.send(conn, frame(&response));
    }

    fn bind(&mut self, conn: ConnId, sid: i64, timeout: i32) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(sid);
            c.timeout_ms = timeout;
        }
        self.session_conns.entry(sid).or_default().insert(conn);
    }

    fn forget_binding(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn)
            && let Some(sid) = c.session.take()
            && let Some(set) = self.session_conns.get_mut(&sid)
        {
            set.remove(&conn);
        }
        self.watches.remove_connection(conn);
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
        if !self.sessions.touch(sid, now_ms) {
            let zxid = self.tree.last_zxid;
            self.reply(conn, xid, zxid, ErrorCode::SessionExpired, &Response::Empty);
            self.close(conn);
            return false;
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
                let zxid = self.tree.last_zxid;
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
                self.sessions.remove(sid);
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
        } else {
            self.read(conn, sid, xid, request);
            false
        }
    }

    /// One request of `conn` is done: the driver gives its bytes back.
    fn release(&mut self, conn: ConnId) {
        *self.released.entry(conn).or_default() += 1;
    }

    /// Prep over the applied tree and the pending changes, which it tags with the zxid
    /// [`StateMachine::propose`] will give the transaction it prepares.
    fn prep(&mut self) -> Prep<'_> {
        let cfg = self.prep_config();
        self.pending
            .set_next_zxid(self.last_assigned.wrapping_add(1));
        Prep::new(&self.tree, &mut self.pending, cfg)
    }

    fn prep_config(&self) -> PrepConfig {
        PrepConfig {
            extended_types: self.config.extended_types,
            max_data_len: self.config.max_data_len,
        }
    }

    /// Expires `session` now, as if its timeout had passed (fault injection). Returns false
    /// when the session is not live.
    pub fn expire_session(&mut self, session: i64, wall_ms: i64) -> bool {
        if !self.sessions.contains(session) {
            return false;
        }
        self.sessions.remove(session);
        tracing::info!(
            session = format!("0x{session:x}"),
            "session expired on request"
        );
        let txn = self.prep().close_session(session);
        self.propose(session, 0, wall_ms, txn, Origin::Expire { session });
        true
    }

    /// Live session ids.
    pub fn session_ids(&self) -> Vec<i64> {
        self.tree
            .sessions
            .keys()
            .copied()
            .filter(|s| self.sessions.contains(*s))
            .collect()
    }

    /// Closes the connections of `session` (or every connection) without touching sessions:
    /// clients see a dropped connection and reconnect (fault injection). Returns how many.
    pub fn drop_connections(&mut self, session: Option<i64>) -> usize {
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| session.is_none() || c.session == session)
            .map(|(id, _)| *id)
            .collect();
        for c in &conns {
            self.close(*c);
        }
        conns.len()
    }

    /// Expires sessions whose bucket has passed, and reaps due containers and TTL nodes when
    /// `reap` is set: both become proposals.
    pub fn tick(&mut self, now_ms: u64, wall_ms: i64, reap: bool) {
        for sid in self.sessions.expired(now_ms) {
            tracing::info!(session = format!("0x{sid:x}"), "session expired");
            let txn = self.prep().close_session(sid);
            self.propose(sid, 0, wall_ms, txn, Origin::Expire { session: sid });
        }
        if reap {
            let candidates: Vec<String> = self
                .tree
                .containers()
                .iter()
                .chain(self.tree.ttl_nodes())
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
    pub fn proposals(&self) -> &[Proposal] {
        &self.proposals
    }

    /// Applies every proposal, sealed or not (all now durable), in zxid order, fires watches
    /// and produces the notifications and replies, notifications first.
    pub fn commit(&mut self) -> Vec<Action> {
        self.seal_batch();
        let actions = self.commit_through(self.last_assigned);
        self.pending.clear();
        actions
    }

    /// Seals the proposals made since the last seal into a batch for the log and returns it.
    /// The state machine keeps preparing (against the batch's pending changes) and answering
    /// reads while the batch is being made durable; [`StateMachine::commit_through`] then
    /// commits it. Batches must be made durable in the order they were sealed.
    pub fn seal_batch(&mut self) -> &[Proposal] {
        let start = self.in_flight.len();
        self.in_flight.extend(self.proposals.drain(..));
        // Cheap when already contiguous; `start` is at most the length.
        let slice = self.in_flight.make_contiguous();
        slice.get(start..).unwrap_or_default()
    }

    /// Whether a sealed batch waits for [`StateMachine::commit_through`].
    pub fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Commits the sealed proposals with zxids up to `zxid` (now durable): applies them in
    /// zxid order, fires watches, and produces the notifications and replies, notifications
    /// first. Pending changes of later batches are kept.
    pub fn commit_through(&mut self, zxid: i64) -> Vec<Action> {
        while self
            .in_flight
            .front()
            .is_some_and(|p| p.header.zxid <= zxid)
        {
            let Some(p) = self.in_flight.pop_front() else {
                break;
            };
            if p.origin.is_client_write()
                && let Some(n) = self.session_writes.get_mut(&p.header.session_id)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.session_writes.remove(&p.header.session_id);
                }
            }
            let (result, changes) = apply(&mut self.tree, &p.header, &p.txn);
            self.fire(&changes);
            self.answer(p.header, result, p.origin);
            self.backlog_dirty = true;
        }
        self.pending.settle_through(zxid);
        std::mem::take(&mut self.actions)
    }

    fn fire(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::Created(p) => {
                    for c in self.watches.trigger_data(p, EventType::NodeCreated) {
                        self.notify(c, EventType::NodeCreated, p);
                    }
                    self.fire_children_changed_on_parent(p);
                }
                Change::Deleted(p) => {
                    let fired = self.watches.trigger_data(p, EventType::NodeDeleted);
                    for c in &fired {
                        self.notify(*c, EventType::NodeDeleted, p);
                    }
                    for c in self
                        .watches
                        .trigger_child(p, EventType::NodeDeleted, &fired)
                    {
                        self.notify(c, EventType::NodeDeleted, p);
                    }
                    self.fire_children_changed_on_parent(p);
                }
                Change::DataChanged(p) => {
                    for c in self.watches.trigger_data(p, EventType::NodeDataChanged) {
                        self.notify(c, EventType::NodeDataChanged, p);
                    }
                }
            }
        }
    }

    /// `path` was created or deleted: its parent's child watches fire.
    fn fire_children_changed_on_parent(&mut self, path: &str) {
        if let Some(parent) = parent_of(path) {
            let parent = parent.to_owned();
            for c in self
                .watches
                .trigger_child(&parent, EventType::NodeChildrenChanged, &[])
            {
                self.notify(c, EventType::NodeChildrenChanged, &parent);
            }
        }
    }

    fn answer(&mut self, header: TxnHeader, result: TxnResult, origin: Origin) {
        let zxid = header.zxid;
        match origin {
            Origin::Internal => {}
            Origin::Undecodable { conn, xid } => {
                self.release(conn);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.pending_writes = c.pending_writes.saturating_sub(1);
                }
                let code = match result {
                    TxnResult::Error(code) => code,
                    _ => ErrorCode::MarshallingError,
                };
                self.reply(conn, xid, zxid, code, &Response::Empty);
            }
            Origin::Expire { session } => {
                let conns: Vec<ConnId> = self
                    .session_conns
                    .get(&session)
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default();
                for c in conns {
                    self.close(c);
                }
            }
            Origin::Connect { conn, read_only } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.pending_writes = c.pending_writes.saturating_sub(1);
                }
                let Some(timeout) = self.conns.get(&conn).map(|c| c.timeout_ms) else {
                    return;
                };
                self.accept_session(conn, header.session_id, timeout, read_only);
            }
            Origin::Request { conn, xid, request } => {
                self.release(conn);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.pending_writes = c.pending_writes.saturating_sub(1);
                }
                match (result, &request) {
                    (TxnResult::Error(code), _) => {
                        self.reply(conn, xid, zxid, code, &Response::Empty)
                    }
                    (TxnResult::Checked, Request::Check(_)) => {
                        // 3.8 never answers a passing check outside a multi (its final
                        // processor throws); later requests of the connection are answered.
                        tracing::debug!(conn, xid, "standalone check passed; no reply, as 3.8");
                    }
                    (TxnResult::SessionClosed, _) => {
                        self.reply(conn, xid, zxid, ErrorCode::Ok, &Response::Empty);
                        self.close(conn);
                    }
                    (TxnResult::Multi(results), Request::Multi(m)) => {
                        let results = results
                            .into_iter()
                            .zip(&m.ops)
                            .map(|(r, op)| multi_result(r, op))
                            .collect();
                        let body = Response::Multi(MultiResponse { results });
                        self.reply(conn, xid, zxid, ErrorCode::Ok, &body);
                    }
                    (result, request) => {
                        let body = single_result(result, request.op_code());
                        self.reply(conn, xid, zxid, ErrorCode::Ok, &body);
                    }
                }
            }
        }
    }

    /// Whether `conn` may still receive (it is known and not closing).
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| !c.closing)
    }
}

/// A session's password: derived from the server's secret and the session id, as ZooKeeper
/// derives it (there from a `Random` seeded with both), so the state machine needs no
/// randomness. It is stored in the createSession transaction, so recovery and (later)
/// followers never derive it again.
fn session_password(secret: &[u8; 16], session_id: i64) -> [u8; 16] {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(secret);
    h.update(session_id.to_be_bytes());
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

fn single_result(result: TxnResult, op: OpCode) -> Response {
    match result {
        TxnResult::Created { path, stat } => match op {
            OpCode::Create => Response::Create(CreateResponse { path }),
            _ => Response::Create2(Create2Response { path, stat }),
        },
        TxnResult::Stat(stat) => Response::SetStat(stat),
        _ => Response::Empty,
    }
}

fn multi_result(result: TxnResult, op: &MultiOp) -> OpResult {
    match result {
        TxnResult::Created { path, stat } => match op {
            MultiOp::CreateContainer(_) | MultiOp::CreateTtl(_) => {
                OpResult::Create2(Create2Response { path, stat })
            }
            _ => OpResult::Create { path },
        },
        TxnResult::Deleted => OpResult::Delete,
        TxnResult::Stat(stat) => OpResult::SetData { stat },
        TxnResult::Checked => OpResult::Check,
        TxnResult::Error(code) => OpResult::Error(code),
        _ => OpResult::Error(ErrorCode::SystemError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::acl::Acl;
    use zk_proto::jute::{Decode, JuteReader};

    const ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 5555);

    fn sm() -> StateMachine {
        StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 1_700_000_000_000)
    }

    /// Opens connection `conn` with a new session and commits it; returns the session id.
    fn open(sm: &mut StateMachine, conn: ConnId) -> i64 {
        let mut actions = sm.step(
            vec![
                Input::Open {
                    conn,
                    addr: ADDR.into(),
                },
                Input::Connect {
                    conn,
                    request: ConnectRequest::new_session(10_000),
                },
            ],
            0,
            0,
        );
        assert!(
            actions.is_empty(),
            "the ConnectResponse waits for the commit"
        );
        assert_eq!(sm.proposals().len(), 1);
        actions.extend(sm.commit());
        let Some(Action::Send(c, bytes)) = actions.first() else {
            panic!("no ConnectResponse: {actions:?}");
        };
        assert_eq!(*c, conn);
        let resp = ConnectResponse::decode(&mut JuteReader::new(bytes.slice(4..)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.timeout_ms, 10_000);
        resp.session_id
    }

    fn request(conn: ConnId, xid: i32, req: Request) -> Input {
        Input::Request {
            conn,
            xid,
            op: req.op_code(),
            body: Ok(req),
        }
    }

    /// (xid, zxid, err) of every reply frame in `actions`, notifications as xid -1.
    fn replies(actions: &[Action]) -> Vec<(i32, i64, ErrorCode)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(_, b) => ReplyHeader::decode(&mut JuteReader::new(b.slice(4..)))
                    .ok()
                    .map(|h| (h.xid, h.zxid, h.err)),
                Action::Close(_) => None,
            })
            .collect()
    }

    fn create(path: &str, flags: i32) -> Request {
        Request::Create(CreateRequest {
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags,
        })
    }

    #[test]
    fn reads_wait_behind_the_sessions_own_writes() {
        let mut sm = sm();
        open(&mut sm, 1);
        open(&mut sm, 2);
        let get = |path: &str| {
            Request::GetData(GetDataRequest {
                path: path.into(),
                watch: false,
            })
        };
        let now = sm.step(
            vec![
                request(1, 1, create("/a", 0)),
                request(1, 2, get("/a")),
                request(2, 1, get("/a")),
            ],
            0,
            0,
        );
        // Connection 2's read is answered at once, from the applied tree: /a is not there yet.
        assert_eq!(replies(&now), vec![(1, 2, ErrorCode::NoNode)]);
        let committed = sm.commit();
        assert_eq!(replies(&committed), vec![(1, 3, ErrorCode::Ok)]);
        // Connection 1's read ran after its write.
        let later = sm.step(vec![], 0, 0);
        assert_eq!(replies(&later), vec![(2, 3, ErrorCode::Ok)]);
    }

    /// The reconnect race: a session's write is being logged when its client reconnects on a
    /// new connection and reads. The read must see the write (ZooKeeper orders per session),
    /// not overtake it because it came on another connection.
    #[test]
    fn a_read_after_a_reconnect_waits_for_the_sessions_write_from_the_old_connection() {
        let mut sm = sm();
        let sid = open(&mut sm, 1);
        let passwd = sm
            .tree()
            .sessions
            .get(&sid)
            .map(|s| s.passwd.clone())
            .unwrap_or_default();
        assert!(
            sm.step(vec![request(1, 1, create("/w", 0))], 0, 0)
                .is_empty()
        );
        sm.seal_batch(); // being fsynced
        let mut reconnect = ConnectRequest::new_session(10_000);
        reconnect.session_id = sid;
        reconnect.passwd = passwd;
        reconnect.last_zxid_seen = 1;
        let get = Request::GetData(GetDataRequest {
            path: "/w".into(),
            watch: false,
        });
        let now = sm.step(
            vec![
                Input::Open {
                    conn: 2,
                    addr: ADDR.into(),
                },
                Input::Connect {
                    conn: 2,
                    request: reconnect,
                },
                request(2, 1, get),
            ],
            0,
            0,
        );
        // The handshake is answered and the old connection closed; the read is not answered.
        assert!(now.contains(&Action::Close(1)), "{now:?}");
        // (The ConnectResponse read as a reply header has xid 0.)
        assert!(
            replies(&now).iter().all(|r| r.0 != 1),
            "the read overtook the write: {now:?}"
        );
        let committed = sm.commit_through(2);
        // The write's reply went to the closed connection; nothing else is due yet.
        assert!(committed.iter().all(|a| !matches!(a, Action::Send(2, _))));
        let later = sm.step(vec![], 0, 0);
        let answers: Vec<_> = later
            .iter()
            .filter(|a| matches!(a, Action::Send(2, _)))
            .collect();
        assert_eq!(answers.len(), 1, "{later:?}");
        assert_eq!(replies(&later), vec![(1, 2, ErrorCode::Ok)]);
    }

    #[test]
    fn pipelined_batches_commit_in_order_and_keep_later_pending_changes() {
        let mut sm = sm();
        open(&mut sm, 1);
        open(&mut sm, 2);
        open(&mut sm, 3);
        let get = |path: &str| {
            Request::GetData(GetDataRequest {
                path: path.into(),
                watch: false,
            })
        };
        // Batch 1: conn 1 creates /a; it is sealed and "being fsynced".
        assert!(
            sm.step(vec![request(1, 1, create("/a", 0))], 0, 0)
                .is_empty()
        );
        let batch1: Vec<i64> = sm.seal_batch().iter().map(|p| p.header.zxid).collect();
        assert_eq!(batch1, vec![4]);
        assert!(sm.has_in_flight());
        // Meanwhile: conn 2's read is served from the applied tree at once; conn 1's read
        // waits behind its own write; conn 2 prepares a child of the unapplied /a.
        let now = sm.step(
            vec![
                request(2, 1, get("/a")),
                request(1, 2, get("/a")),
                request(2, 2, create("/a/b", 0)),
            ],
            0,
            0,
        );
        assert_eq!(replies(&now), vec![(1, 3, ErrorCode::NoNode)]);
        assert_eq!(sm.proposals().len(), 1);
        assert_eq!(sm.proposals()[0].header.zxid, 5);
        // Batch 1 is durable: only it is committed.
        let committed = sm.commit_through(4);
        assert_eq!(replies(&committed), vec![(1, 4, ErrorCode::Ok)]);
        assert!(sm.tree().get("/a").is_some());
        assert!(sm.tree().get("/a/b").is_none());
        assert!(!sm.has_in_flight());
        // conn 1's deferred read now runs; conn 3 still sees the pending /a/b.
        let later = sm.step(
            vec![
                request(3, 1, create("/a/b", 0)),
                request(
                    3,
                    2,
                    Request::Delete(DeleteRequest {
                        path: "/a".into(),
                        version: -1,
                    }),
                ),
            ],
            0,
            0,
        );
        assert_eq!(replies(&later), vec![(2, 4, ErrorCode::Ok)]);
        let batch2: Vec<i64> = sm.seal_batch().iter().map(|p| p.header.zxid).collect();
        assert_eq!(batch2, vec![5, 6, 7]);
        let committed = sm.commit_through(7);
        assert_eq!(
            replies(&committed),
            vec![
                (2, 5, ErrorCode::Ok),
                (1, 6, ErrorCode::NodeExists),
                (2, 7, ErrorCode::NotEmpty)
            ]
        );
        assert!(sm.tree().get("/a/b").is_some());
        assert_eq!(sm.tree().last_zxid, 7);
    }

    #[test]
    fn expiry_while_an_ephemeral_create_is_being_logged_deletes_it_too() {
        let mut sm = sm();
        let owner = open(&mut sm, 1);
        sm.step(vec![request(1, 1, create("/eph", 1))], 0, 0);
        sm.seal_batch(); // being fsynced
        assert!(sm.expire_session(owner, 0));
        // A request that arrives after the expiry is refused, but only after the reply
        // still due for the create: replies never overtake each other.
        let late = sm.step(vec![request(1, 2, create("/eph2", 1))], 0, 0);
        assert!(late.is_empty());
        assert!(matches!(
            sm.proposals(),
            [Proposal { txn: Txn::CloseSession { paths }, .. }] if paths == &vec!["/eph".to_string()]
        ));
        let first = sm.commit_through(2);
        assert_eq!(replies(&first), vec![(1, 2, ErrorCode::Ok)]);
        let refused = sm.step(vec![], 0, 0);
        assert_eq!(replies(&refused), vec![(2, 2, ErrorCode::SessionExpired)]);
        assert!(refused.contains(&Action::Close(1)));
        sm.seal_batch();
        sm.commit_through(3);
        assert!(sm.tree().get("/eph").is_none());
        assert!(sm.tree().ephemerals_of(owner).next().is_none());
        assert!(!sm.tree().sessions.contains_key(&owner));
    }

    #[test]
    fn a_ping_queued_behind_a_slow_write_still_renews_the_session() {
        let mut sm = sm();
        open(&mut sm, 1);
        sm.step(vec![request(1, 1, create("/w", 0))], 0, 0);
        sm.seal_batch(); // being fsynced, slowly
        // The ping waits behind the write, but it arrived at 9000 ms.
        assert!(
            sm.step(vec![request(1, -2, Request::Ping)], 9_000, 0)
                .is_empty()
        );
        sm.tick(10_000, 0, false);
        assert!(
            sm.proposals().is_empty(),
            "the session was renewed at 9000 ms"
        );
        let committed = sm.commit_through(2);
        assert_eq!(replies(&committed), vec![(1, 2, ErrorCode::Ok)]);
        let later = sm.step(vec![], 10_000, 0);
        assert_eq!(replies(&later), vec![(-2, 2, ErrorCode::Ok)]);
    }

    #[test]
    fn expiry_closes_the_session_deletes_ephemerals_and_notifies() {
        let mut sm = sm();
        let owner = open(&mut sm, 1);
        open(&mut sm, 2);
        sm.step(vec![request(1, 1, create("/e", 1))], 0, 0);
        sm.commit();
        sm.step(
            vec![request(
                2,
                1,
                Request::Exists(ExistsRequest {
                    path: "/e".into(),
                    watch: true,
                }),
            )],
            0,
            0,
        );
        // Keep session 2 alive; session 1 stays silent.
        sm.step(vec![request(2, 2, Request::Ping)], 9_000, 0);
        sm.tick(9_999, 0, false);
        assert!(sm.proposals().is_empty(), "not yet: the bucket is 10000");
        sm.tick(10_000, 0, false);
        assert!(matches!(
            sm.proposals(),
            [Proposal { txn: Txn::CloseSession { paths }, header, .. }]
                if paths == &vec!["/e".to_string()] && header.session_id == owner
        ));
        let actions = sm.commit();
        assert!(actions.contains(&Action::Close(1)));
        assert_eq!(replies(&actions), vec![(-1, -1, ErrorCode::Ok)]);
        assert!(sm.tree().get("/e").is_none());
        assert!(!sm.tree().sessions.contains_key(&owner));
    }

    #[test]
    fn set_watches_fires_before_its_reply() {
        let mut sm = sm();
        open(&mut sm, 1);
        sm.step(vec![request(1, 1, create("/x", 0))], 0, 0);
        sm.commit();
        let actions = sm.step(
            vec![request(
                1,
                -8,
                Request::SetWatches(SetWatches {
                    relative_zxid: 100,
                    data_watches: vec!["/gone".into(), "/x".into()],
                    exist_watches: vec!["/x".into()],
                    child_watches: vec![],
                }),
            )],
            0,
            0,
        );
        // NodeDeleted /gone, NodeCreated /x (exists), then the reply; /x's data watch is armed.
        assert_eq!(
            replies(&actions),
            vec![
                (-1, -1, ErrorCode::Ok),
                (-1, -1, ErrorCode::Ok),
                (-8, 2, ErrorCode::Ok)
            ]
        );
        assert_eq!(sm.watches.watch_count(), 1);
    }

    #[test]
    fn a_client_ahead_of_the_server_is_refused_silently() {
        let mut sm = sm();
        let mut req = ConnectRequest::new_session(10_000);
        req.last_zxid_seen = 5;
        let actions = sm.step(
            vec![
                Input::Open {
                    conn: 1,
                    addr: ADDR.into(),
                },
                Input::Connect {
                    conn: 1,
                    request: req,
                },
            ],
            0,
            0,
        );
        assert_eq!(actions, vec![Action::Close(1)]);
        assert!(sm.proposals().is_empty());
    }

    #[test]
    fn unknown_opcodes_and_bad_bodies_change_nothing() {
        let mut sm = sm();
        open(&mut sm, 1);
        let actions = sm.step(
            vec![
                Input::Request {
                    conn: 1,
                    xid: 3,
                    op: OpCode::Create,
                    body: Err(DecodeError::NullString),
                },
                Input::Request {
                    conn: 1,
                    xid: 4,
                    op: OpCode::Unknown(50),
                    body: Err(DecodeError::UnknownOpCode(50)),
                },
            ],
            0,
            0,
        );
        // The undecodable write uses a zxid (as in 3.8) and is answered at its commit; the
        // unknown opcode waits behind it (FIFO), then gets zxid -1 and a close.
        assert!(actions.is_empty());
        assert!(matches!(
            sm.proposals(),
            [Proposal { txn: Txn::Error(ErrorCode::MarshallingError), header, .. }]
                if header.zxid == 2
        ));
        let committed = sm.commit();
        assert_eq!(
            replies(&committed),
            vec![(3, 2, ErrorCode::MarshallingError)]
        );
        let later = sm.step(vec![], 0, 0);
        assert_eq!(replies(&later), vec![(4, -1, ErrorCode::Unimplemented)]);
        assert!(later.contains(&Action::Close(1)));
        assert!(sm.proposals().is_empty());
        assert_eq!(sm.tree().node_count(), 4);
    }

    #[test]
    fn a_v4_client_of_a_dual_stack_listener_has_its_v4_ip_identity() {
        let mut sm = sm();
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:5555"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        sm.step(
            vec![Input::Open {
                conn: 7,
                addr: mapped,
            }],
            0,
            0,
        );
        assert_eq!(sm.caller_ids(7), vec![Id::new("ip", "10.1.2.3")]);
        let acl = [zk_proto::acl::Acl::new(
            zk_proto::acl::Perms::READ,
            Id::new("ip", "10.0.0.0/8"),
        )];
        assert!(crate::acl_check::allowed(
            &acl,
            &sm.caller_ids(7),
            zk_proto::acl::Perms::READ
        ));
    }

    #[test]
    fn a_connection_cannot_pile_up_identities() {
        let mut sm = sm();
        open(&mut sm, 1);
        let auth = |n: usize| {
            request(
                1,
                zk_proto::xid::AUTH,
                Request::Auth(AuthPacket {
                    auth_type: 0,
                    scheme: "digest".into(),
                    auth: Bytes::from(format!("user{n}:pw")),
                }),
            )
        };
        let inputs: Vec<Input> = (1..reads::MAX_IDENTITIES).map(auth).collect();
        let actions = sm.step(inputs, 0, 0);
        assert!(
            replies(&actions)
                .iter()
                .all(|&(_, _, err)| err == ErrorCode::Ok)
        );
        let actions = sm.step(vec![auth(0)], 0, 0);
        assert_eq!(
            replies(&actions),
            vec![(zk_proto::xid::AUTH, 0, ErrorCode::AuthFailed)]
        );
        assert!(actions.contains(&Action::Close(1)));
    }

    #[test]
    fn digest_auth_accepts_any_token_like_zookeeper() {
        use super::reads::digest_of_token;
        assert_eq!(
            digest_of_token(b"alice:secret"),
            zk_proto::acl::digest_id("alice", "secret")
        );
        // No colon: the whole token is the user, and the hash covers it.
        assert!(digest_of_token(b"nocolon").starts_with("nocolon:"));
        assert!(digest_of_token(b"a:b:c").starts_with("a:"));
    }
}
