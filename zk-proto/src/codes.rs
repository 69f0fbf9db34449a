//! The integer code tables of the protocol: opcodes, error codes, event types, keeper states,
//! create modes, watch modes and watcher types.
//!
//! Every table is an enum with an `Unknown(i32)` (or a typed error) for values this crate does not
//! know, so a code from a newer server is kept, not lost.
//!
//! ```
//! use zk_proto::{ErrorCode, OpCode};
//!
//! assert_eq!(OpCode::from(4), OpCode::GetData);
//! assert_eq!(ErrorCode::from(-101), ErrorCode::NoNode);
//! assert_eq!(ErrorCode::from(-999), ErrorCode::Unknown(-999));
//! assert_eq!(i32::from(ErrorCode::Unknown(-999)), -999);
//! ```

use bytes::BytesMut;

use crate::jute::{Decode, DecodeError, Encode, JuteReader};

/// Declares an `i32`-coded enum with an `Unknown(i32)` catch-all, its conversions and its jute
/// encoding.
macro_rules! int_code {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A code this crate does not know; the raw value is kept.
            Unknown(i32),
        }
        /// The value of code 0 (for records built with `..Default::default()`).
        impl Default for $name {
            fn default() -> Self {
                Self::from(0)
            }
        }
        impl From<i32> for $name {
            fn from(code: i32) -> Self {
                match code {
                    $( $value => Self::$variant, )*
                    other => Self::Unknown(other),
                }
            }
        }
        impl From<$name> for i32 {
            fn from(code: $name) -> i32 {
                match code {
                    $( $name::$variant => $value, )*
                    $name::Unknown(other) => other,
                }
            }
        }
        impl Encode for $name {
            fn encode(&self, out: &mut BytesMut) {
                i32::from(*self).encode(out);
            }
        }
        impl Decode for $name {
            fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
                reader.read_i32().map(Self::from)
            }
        }
    };
}

int_code! {
    /// A request type (`RequestHeader.type`), also used as the type of multi results.
    ///
    /// ```
    /// assert_eq!(i32::from(zk_proto::OpCode::SetWatches2), 105);
    /// ```
    pub enum OpCode {
        /// 0: the type code of a watch notification; never a valid request.
        Notification = 0,
        /// 1: create a node, answered with its path.
        Create = 1,
        /// 2: delete a node.
        Delete = 2,
        /// 3: stat a node, optionally leaving a watch.
        Exists = 3,
        /// 4: read a node's data and stat.
        GetData = 4,
        /// 5: write a node's data.
        SetData = 5,
        /// 6: read a node's ACL.
        GetAcl = 6,
        /// 7: write a node's ACL.
        SetAcl = 7,
        /// 8: list a node's children.
        GetChildren = 8,
        /// 9: wait until the server has caught up with the leader.
        Sync = 9,
        /// 11: heartbeat (xid -2).
        Ping = 11,
        /// 12: list a node's children together with its stat.
        GetChildren2 = 12,
        /// 13: check a node's version (inside multi only).
        Check = 13,
        /// 14: an atomic transaction of writes.
        Multi = 14,
        /// 15: create a node, answered with its path and stat.
        Create2 = 15,
        /// 16: change the ensemble membership.
        Reconfig = 16,
        /// 17: ask whether a watch is registered.
        CheckWatches = 17,
        /// 18: remove watches.
        RemoveWatches = 18,
        /// 19: create a container node.
        CreateContainer = 19,
        /// 20: server-internal deletion of an empty container.
        DeleteContainer = 20,
        /// 21: create a node with a time to live.
        CreateTtl = 21,
        /// 22: several reads in one round trip (not atomic).
        MultiRead = 22,
        /// 100: authentication packet (xid -4).
        Auth = 100,
        /// 101: re-register watches after a reconnect.
        SetWatches = 101,
        /// 102: a SASL token exchange.
        Sasl = 102,
        /// 103: list the calling session's ephemeral nodes.
        GetEphemerals = 103,
        /// 104: count all descendants of a node.
        GetAllChildrenNumber = 104,
        /// 105: re-register watches, persistent ones included (3.6+).
        SetWatches2 = 105,
        /// 106: add a persistent or persistent-recursive watch (3.6+).
        AddWatch = 106,
        /// 107: list the caller's authenticated identities (3.7+).
        WhoAmI = 107,
        /// -10: the transaction that creates a session; never sent by clients.
        CreateSession = -10,
        /// -11: close the session.
        CloseSession = -11,
        /// -1: the type of an error result inside a multi response.
        Error = -1,
    }
}

impl OpCode {
    /// Whether a request of this type changes the data tree (and so uses up a zxid).
    ///
    /// ```
    /// assert!(zk_proto::OpCode::SetData.is_write());
    /// assert!(!zk_proto::OpCode::GetData.is_write());
    /// ```
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Self::Create
                | Self::Create2
                | Self::CreateContainer
                | Self::CreateTtl
                | Self::Delete
                | Self::DeleteContainer
                | Self::SetData
                | Self::SetAcl
                | Self::Check
                | Self::Multi
                | Self::Reconfig
                | Self::CreateSession
                | Self::CloseSession
        )
    }

    /// The short name ZooKeeper's four-letter words use for this operation (`lop=` in `cons`).
    ///
    /// ```
    /// assert_eq!(zk_proto::OpCode::AddWatch.short_name(), "ADDW");
    /// ```
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Notification => "NOTF",
            Self::Create | Self::Create2 | Self::CreateContainer | Self::CreateTtl => "CREA",
            Self::Delete | Self::DeleteContainer => "DELE",
            Self::Exists => "EXIS",
            Self::GetData => "GETD",
            Self::SetData => "SETD",
            Self::GetAcl => "GETA",
            Self::SetAcl => "SETA",
            Self::GetChildren | Self::GetChildren2 => "GETC",
            Self::Sync => "SYNC",
            Self::Ping => "PING",
            Self::Check => "CHEC",
            Self::Multi | Self::MultiRead => "MULT",
            Self::Reconfig => "RECO",
            Self::CheckWatches => "CHKW",
            Self::RemoveWatches => "REMW",
            Self::Auth => "AUTH",
            Self::SetWatches | Self::SetWatches2 => "SETW",
            Self::Sasl => "SASL",
            Self::GetEphemerals => "GETE",
            Self::GetAllChildrenNumber => "GETACN",
            Self::AddWatch => "ADDW",
            Self::WhoAmI => "WHOAMI",
            Self::CreateSession => "SESS",
            Self::CloseSession => "CLOS",
            Self::Error => "ERR",
            Self::Unknown(_) => "UNKNOWN",
        }
    }
}

int_code! {
    /// A ZooKeeper error code (`ReplyHeader.err`, `MultiHeader.err`, `ErrorResponse.err`).
    ///
    /// ```
    /// use zk_proto::ErrorCode;
    ///
    /// assert_eq!(ErrorCode::NodeExists.to_string(), "NodeExists");
    /// assert!(ErrorCode::Ok.is_ok());
    /// ```
    pub enum ErrorCode {
        /// 0: success.
        Ok = 0,
        /// -1: start of the system error range.
        SystemError = -1,
        /// -2: a multi op that came after the op that failed.
        RuntimeInconsistency = -2,
        /// -3: the data is inconsistent.
        DataInconsistency = -3,
        /// -4: the connection to the server was lost (client-side).
        ConnectionLoss = -4,
        /// -5: the request body could not be read.
        MarshallingError = -5,
        /// -6: the operation is not implemented by the server.
        Unimplemented = -6,
        /// -7: the operation timed out (client-side).
        OperationTimeout = -7,
        /// -8: invalid arguments (a path, flags, a TTL).
        BadArguments = -8,
        /// -12: the session is unknown to the server.
        UnknownSession = -12,
        /// -13: a reconfiguration could not reach a quorum of the new configuration.
        NewConfigNoQuorum = -13,
        /// -14: another reconfiguration is in progress.
        ReconfigInProgress = -14,
        /// -100: start of the API error range.
        ApiError = -100,
        /// -101: the node does not exist.
        NoNode = -101,
        /// -102: the caller lacks the permission.
        NoAuth = -102,
        /// -103: the version given does not match the node's.
        BadVersion = -103,
        /// -108: ephemeral nodes cannot have children.
        NoChildrenForEphemerals = -108,
        /// -110: the node already exists.
        NodeExists = -110,
        /// -111: the node has children.
        NotEmpty = -111,
        /// -112: the session has expired.
        SessionExpired = -112,
        /// -113: invalid callback.
        InvalidCallback = -113,
        /// -114: invalid ACL.
        InvalidAcl = -114,
        /// -115: authentication failed.
        AuthFailed = -115,
        /// -118: the session moved to another server.
        SessionMoved = -118,
        /// -119: the server is read-only.
        NotReadOnly = -119,
        /// -120: ephemeral nodes cannot be created on a local session.
        EphemeralOnLocalSession = -120,
        /// -121: no such watch.
        NoWatcher = -121,
        /// -122: the request timed out (client-side).
        RequestTimeout = -122,
        /// -123: reconfiguration is disabled.
        ReconfigDisabled = -123,
        /// -124: the session was closed because SASL authentication is required.
        SessionClosedRequireSaslAuth = -124,
        /// -125: a quota was exceeded.
        QuotaExceeded = -125,
        /// -127: the server throttled the operation.
        ThrottledOp = -127,
    }
}

impl ErrorCode {
    /// Whether this is `Ok` (0).
    ///
    /// ```
    /// use zk_proto::ErrorCode;
    ///
    /// assert!(ErrorCode::from(0).is_ok());
    /// assert!(!ErrorCode::NoNode.is_ok());
    /// ```
    pub fn is_ok(self) -> bool {
        self == Self::Ok
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(code) => write!(f, "UnknownError({code})"),
            known => write!(f, "{known:?}"),
        }
    }
}

impl std::error::Error for ErrorCode {}

int_code! {
    /// The type of a watch event (`WatcherEvent.type`).
    ///
    /// ```
    /// assert_eq!(zk_proto::EventType::from(3), zk_proto::EventType::NodeDataChanged);
    /// ```
    pub enum EventType {
        /// -1: no node event; used for session state changes.
        None = -1,
        /// 1: the node was created.
        NodeCreated = 1,
        /// 2: the node was deleted.
        NodeDeleted = 2,
        /// 3: the node's data changed.
        NodeDataChanged = 3,
        /// 4: the node's list of children changed.
        NodeChildrenChanged = 4,
        /// 5: a data watch was removed (client-generated).
        DataWatchRemoved = 5,
        /// 6: a child watch was removed (client-generated).
        ChildWatchRemoved = 6,
        /// 7: a persistent watch was removed (client-generated).
        PersistentWatchRemoved = 7,
    }
}

int_code! {
    /// A session state as carried in `WatcherEvent.state`.
    ///
    /// ```
    /// assert_eq!(zk_proto::KeeperState::from(-112), zk_proto::KeeperState::Expired);
    /// ```
    pub enum KeeperState {
        /// -1: unknown.
        UnknownState = -1,
        /// 0: disconnected.
        Disconnected = 0,
        /// 1: obsolete.
        NoSyncConnected = 1,
        /// 3: connected; every server notification carries this state.
        SyncConnected = 3,
        /// 4: authentication failed.
        AuthFailed = 4,
        /// 5: connected to a read-only server.
        ConnectedReadOnly = 5,
        /// 6: SASL authentication succeeded.
        SaslAuthenticated = 6,
        /// -112: the session expired.
        Expired = -112,
        /// 7: the client was closed.
        Closed = 7,
    }
}

int_code! {
    /// What `checkWatches` and `removeWatches` act on.
    ///
    /// ```
    /// assert_eq!(i32::from(zk_proto::WatcherType::Any), 3);
    /// ```
    pub enum WatcherType {
        /// 1: child watches.
        Children = 1,
        /// 2: data (and exist) watches.
        Data = 2,
        /// 3: every kind of watch (the only way to remove persistent watches on 3.8).
        Any = 3,
        /// 4: persistent watches (3.9+).
        Persistent = 4,
        /// 5: persistent recursive watches (3.9+).
        PersistentRecursive = 5,
    }
}

/// The mode of an `addWatch` request.
///
/// ```
/// use zk_proto::AddWatchMode;
///
/// assert_eq!(AddWatchMode::try_from(1), Ok(AddWatchMode::PersistentRecursive));
/// assert!(AddWatchMode::try_from(2).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddWatchMode {
    /// 0: data and child events of the path itself, never removed by firing.
    Persistent,
    /// 1: created, deleted and data-changed events of the path and every descendant.
    PersistentRecursive,
}

impl TryFrom<i32> for AddWatchMode {
    type Error = DecodeError;
    fn try_from(mode: i32) -> Result<Self, DecodeError> {
        match mode {
            0 => Ok(Self::Persistent),
            1 => Ok(Self::PersistentRecursive),
            other => Err(DecodeError::InvalidValue {
                field: "AddWatchMode",
                value: other.into(),
            }),
        }
    }
}

impl From<AddWatchMode> for i32 {
    fn from(mode: AddWatchMode) -> i32 {
        match mode {
            AddWatchMode::Persistent => 0,
            AddWatchMode::PersistentRecursive => 1,
        }
    }
}

/// How a node is created (the `flags` field of a create request).
///
/// ```
/// use zk_proto::CreateMode;
///
/// let mode = CreateMode::try_from(3)?;
/// assert_eq!(mode, CreateMode::EphemeralSequential);
/// assert!(mode.is_ephemeral() && mode.is_sequential());
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreateMode {
    /// 0: an ordinary node.
    Persistent,
    /// 1: deleted when the creating session ends.
    Ephemeral,
    /// 2: persistent, with a 10-digit sequence suffix appended by the server.
    PersistentSequential,
    /// 3: ephemeral, with a sequence suffix.
    EphemeralSequential,
    /// 4: deleted by the server once its last child is gone (opcode `createContainer`).
    Container,
    /// 5: deleted by the server when childless and unmodified for its TTL (opcode `createTTL`).
    PersistentWithTtl,
    /// 6: TTL node with a sequence suffix.
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// Whether the node ends with its session.
    ///
    /// ```
    /// use zk_proto::CreateMode;
    ///
    /// assert!(CreateMode::Ephemeral.is_ephemeral());
    /// assert!(CreateMode::EphemeralSequential.is_ephemeral());
    /// assert!(!CreateMode::Container.is_ephemeral());
    /// ```
    pub fn is_ephemeral(self) -> bool {
        matches!(self, Self::Ephemeral | Self::EphemeralSequential)
    }

    /// Whether the server appends a sequence suffix.
    ///
    /// ```
    /// use zk_proto::CreateMode;
    ///
    /// assert!(CreateMode::PersistentSequentialWithTtl.is_sequential());
    /// assert!(!CreateMode::PersistentWithTtl.is_sequential());
    /// ```
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            Self::PersistentSequential
                | Self::EphemeralSequential
                | Self::PersistentSequentialWithTtl
        )
    }

    /// Whether this is a container node.
    ///
    /// ```
    /// use zk_proto::CreateMode;
    ///
    /// assert!(CreateMode::Container.is_container());
    /// assert!(!CreateMode::Persistent.is_container());
    /// ```
    pub fn is_container(self) -> bool {
        self == Self::Container
    }

    /// Whether the node has a time to live.
    ///
    /// ```
    /// use zk_proto::CreateMode;
    ///
    /// assert!(CreateMode::PersistentWithTtl.is_ttl());
    /// assert!(CreateMode::PersistentSequentialWithTtl.is_ttl());
    /// assert!(!CreateMode::Ephemeral.is_ttl());
    /// ```
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            Self::PersistentWithTtl | Self::PersistentSequentialWithTtl
        )
    }

    /// The opcode a client must use to create a node of this mode.
    ///
    /// ```
    /// use zk_proto::{CreateMode, OpCode};
    ///
    /// assert_eq!(CreateMode::Container.create_opcode(), OpCode::CreateContainer);
    /// assert_eq!(CreateMode::Ephemeral.create_opcode(), OpCode::Create2);
    /// ```
    pub fn create_opcode(self) -> OpCode {
        if self.is_container() {
            OpCode::CreateContainer
        } else if self.is_ttl() {
            OpCode::CreateTtl
        } else {
            OpCode::Create2
        }
    }
}

impl TryFrom<i32> for CreateMode {
    type Error = DecodeError;
    fn try_from(flags: i32) -> Result<Self, DecodeError> {
        Ok(match flags {
            0 => Self::Persistent,
            1 => Self::Ephemeral,
            2 => Self::PersistentSequential,
            3 => Self::EphemeralSequential,
            4 => Self::Container,
            5 => Self::PersistentWithTtl,
            6 => Self::PersistentSequentialWithTtl,
            other => {
                return Err(DecodeError::InvalidValue {
                    field: "CreateMode",
                    value: other.into(),
                });
            }
        })
    }
}

impl From<CreateMode> for i32 {
    fn from(mode: CreateMode) -> i32 {
        match mode {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
            CreateMode::PersistentWithTtl => 5,
            CreateMode::PersistentSequentialWithTtl => 6,
        }
    }
}

/// The largest TTL a server accepts, in milliseconds (`0 < ttl <= MAX_TTL_MS`).
///
/// ```
/// use std::time::Duration;
/// use zk_proto::MAX_TTL_MS;
///
/// let ttl = Duration::from_secs(7 * 24 * 3600);
/// assert!(ttl.as_millis() > 0 && ttl.as_millis() <= MAX_TTL_MS as u128);
/// ```
pub const MAX_TTL_MS: i64 = 0xFF_FFFF_FFFF;

/// Special `xid` values.
///
/// ```
/// assert_eq!(zk_proto::xid::PING, -2);
/// ```
pub mod xid {
    /// A server-to-client watch notification.
    ///
    /// ```
    /// use zk_proto::{xid, ReplyHeader};
    ///
    /// fn is_watch_event(header: &ReplyHeader) -> bool {
    ///     header.xid == xid::NOTIFICATION
    /// }
    /// # let _ = is_watch_event;
    /// assert_eq!(xid::NOTIFICATION, -1);
    /// ```
    pub const NOTIFICATION: i32 = -1;
    /// A ping request or reply.
    ///
    /// ```
    /// assert_eq!(zk_proto::RequestHeader::ping().xid, zk_proto::xid::PING);
    /// ```
    pub const PING: i32 = -2;
    /// An authentication packet or its reply.
    ///
    /// ```
    /// use zk_proto::{xid, OpCode, RequestHeader};
    ///
    /// // An AuthPacket is sent under this header.
    /// let header = RequestHeader::new(xid::AUTH, OpCode::Auth);
    /// assert_eq!(header.xid, -4);
    /// ```
    pub const AUTH: i32 = -4;
    /// SetWatches as the C client sends it (Java uses an ordinary xid).
    ///
    /// ```
    /// assert_eq!(zk_proto::xid::SET_WATCHES, -8);
    /// ```
    pub const SET_WATCHES: i32 = -8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_error_code_round_trips_and_unknown_codes_are_kept() {
        for code in -130..=5 {
            assert_eq!(i32::from(ErrorCode::from(code)), code);
            assert_eq!(i32::from(OpCode::from(code)), code);
        }
        assert_eq!(ErrorCode::from(-126), ErrorCode::Unknown(-126));
    }

    #[test]
    fn create_modes_cover_flags_zero_to_six_only() {
        for flags in 0..=6 {
            assert_eq!(i32::from(CreateMode::try_from(flags).unwrap()), flags);
        }
        assert!(CreateMode::try_from(7).is_err());
        assert!(CreateMode::try_from(-1).is_err());
    }
}
