//! The state machine's vocabulary: its settings ([`CoreConfig`]), what the driver feeds it
//! ([`Input`]), what it asks the driver to do ([`Action`]), the transactions it proposes
//! ([`Proposal`], with the [`Origin`] each answers), and per-connection counters.

use std::net::SocketAddr;

use bytes::Bytes;
use zk_proto::{ConnectRequest, DecodeError, OpCode, Request};

use crate::txn::{Txn, TxnHeader};
use crate::watches::ConnId;

/// Settings the state machine needs.
///
/// ```
/// use zk_server_mini::state::{CoreConfig, StateMachine};
/// use zk_server_mini::tree::DataTree;
/// let config = CoreConfig { tick_ms: 500, extended_types: true, ..CoreConfig::default() };
/// assert_eq!((config.min_session_timeout_ms, config.max_session_timeout_ms), (4000, 40000));
/// let sm = StateMachine::new(DataTree::new(), config, 0, 0);
/// # drop(sm);
/// ```
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
    /// How `reconfig` is answered (`reconfigEnabled`, `skipACL`, ensemble or standalone).
    pub reconfig: crate::prep::ReconfigPolicy,
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
            reconfig: crate::prep::ReconfigPolicy::default(),
        }
    }
}

/// What a queued reply costs beyond its bytes (the queue slot and its handle): counted by
/// the state machine and the driver alike, so many tiny replies are bounded too.
///
/// ```
/// use zk_server_mini::state::FRAME_OVERHEAD;
/// // what 1000 one-byte replies count against a connection's budget
/// let charged = 1000 * (1 + FRAME_OVERHEAD);
/// assert_eq!(charged, 65_000);
/// ```
pub const FRAME_OVERHEAD: usize = 64;

/// Room a reply has beyond the largest node data: headers and the stat around it (the
/// counterpart of ZooKeeper's `jute.maxbuffer.extrasize`).
///
/// ```
/// use zk_server_mini::state::{CoreConfig, REPLY_SLACK};
/// let c = CoreConfig::default();
/// assert_eq!(c.max_reply_len, c.max_data_len + REPLY_SLACK);
/// ```
pub const REPLY_SLACK: usize = 1024;

/// Something a connection sent.
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
/// assert!(sm.step(vec![create("/a")], 0, 0).is_empty()); // a write: answered after commit
/// sm.commit();
/// sm.step(vec![Input::Closed { conn: 1 }], 0, 0);
/// assert_eq!(sm.connection_count(), 0);
/// ```
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
    ///
    /// ```
    /// use zk_server_mini::state::Input;
    /// assert_eq!(Input::Closed { conn: 7 }.conn(), 7);
    /// ```
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
/// for action in sm.commit() {
///     match action {
///         Action::Send(conn, frame) => println!("write {} bytes to {conn}", frame.len()),
///         Action::Close(conn) => println!("flush and close {conn}"),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this frame (length prefix included) to the connection.
    Send(ConnId, Bytes),
    /// Flush what was sent, then close the connection.
    Close(ConnId),
}

/// A prepared transaction waiting to become durable.
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
/// let p = &sm.proposals()[0];
/// assert_eq!(p.header.zxid, 2); // 1 was the createSession
/// assert!(matches!(&p.txn, zk_server_mini::txn::Txn::Create { path, .. } if path == "/a"));
/// ```
#[derive(Debug, Clone)]
pub struct Proposal {
    /// Header (zxid, session, time).
    pub header: TxnHeader,
    /// The transaction.
    pub txn: Txn,
    pub(crate) origin: Origin,
}

#[derive(Debug, Clone)]
pub(crate) enum Origin {
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
    /// At the leader: a follower's client's write; that follower answers it.
    Forwarded,
    Internal,
}

impl Origin {
    /// Whether a client's read may have to wait for this transaction (it came from a
    /// client's request or handshake).
    pub(crate) fn is_client_write(&self) -> bool {
        matches!(
            self,
            Origin::Request { .. }
                | Origin::Connect { .. }
                | Origin::Undecodable { .. }
                | Origin::Forwarded
        )
    }
}

/// Per-connection counters, for the four-letter words.
///
/// ```
/// use zk_server_mini::state::ConnStats;
/// let stats = ConnStats::default(); // what `cons` prints per connection
/// assert_eq!((stats.received, stats.sent), (0, 0));
/// ```
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
