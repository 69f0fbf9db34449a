//! Records beyond reading and writing nodes: reconfig, watch management, ephemerals and child
//! counts, whoAmI, auth, SetWatches after a reconnect, SASL, watch events, deleteContainer.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codes::{ErrorCode, EventType, KeeperState, OpCode, WatcherType};
use crate::jute::{Decode, DecodeError, Encode, JuteReader, jute_record};

jute_record! {
    /// Change the ensemble membership.
    ///
    /// An incremental reconfig: `-1` as `cur_config_id` means any current config.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::ReconfigRequest;
    ///
    /// let record = ReconfigRequest {
    ///     joining_servers: Some("server.4=zk4:2888:3888;2181".into()),
    ///     leaving_servers: None,
    ///     new_members: None,
    ///     cur_config_id: -1,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = ReconfigRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct ReconfigRequest {
        /// Servers to add (comma-separated `server.N=...` specs), or null.
        pub joining_servers: Option<String>,
        /// Server ids to remove, or null.
        pub leaving_servers: Option<String>,
        /// A whole new membership (non-incremental), or null.
        pub new_members: Option<String>,
        /// The config version this change is based on, or -1.
        pub cur_config_id: i64,
    }
}

jute_record! {
    /// Ask whether a watch of a given type is set on a path.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{CheckWatchesRequest, WatcherType};
    ///
    /// let record = CheckWatchesRequest {
    ///     path: "/app/node".into(),
    ///     watcher_type: WatcherType::Data,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node\x00\x00\x00\x02");
    /// let decoded = CheckWatchesRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct CheckWatchesRequest {
        /// The watched path.
        pub path: String,
        /// The [`WatcherType`].
        pub watcher_type: WatcherType,
    }
}

jute_record! {
    /// Remove the watches of a given type on a path.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{RemoveWatchesRequest, WatcherType};
    ///
    /// let record = RemoveWatchesRequest {
    ///     path: "/app/node".into(),
    ///     watcher_type: WatcherType::Any,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node\x00\x00\x00\x03");
    /// let decoded = RemoveWatchesRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct RemoveWatchesRequest {
        /// The watched path.
        pub path: String,
        /// The [`WatcherType`].
        pub watcher_type: WatcherType,
    }
}

jute_record! {
    /// Add a persistent or persistent-recursive watch (3.6+).
    ///
    /// `mode` is an [`AddWatchMode`](crate::AddWatchMode) as an `int`.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{AddWatchMode, AddWatchRequest};
    ///
    /// let record = AddWatchRequest {
    ///     path: "/app/node".into(),
    ///     mode: AddWatchMode::PersistentRecursive.into(),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = AddWatchRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct AddWatchRequest {
        /// The path to watch (need not exist).
        pub path: String,
        /// The [`AddWatchMode`](crate::AddWatchMode) as an integer.
        pub mode: i32,
    }
}

jute_record! {
    /// A bare error code; the body of an addWatch reply and of a multi error result.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{ErrorCode, ErrorResponse};
    ///
    /// let record = ErrorResponse {
    ///     err: ErrorCode::NoNode,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\xff\xff\xff\x9b");
    /// let decoded = ErrorResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct ErrorResponse {
        /// The code (0 for addWatch).
        pub err: ErrorCode,
    }
}

jute_record! {
    /// List the calling session's ephemeral nodes under a prefix.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::GetEphemeralsRequest;
    ///
    /// let record = GetEphemeralsRequest {
    ///     prefix_path: "/app/".into(),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x05/app/");
    /// let decoded = GetEphemeralsRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetEphemeralsRequest {
        /// Path prefix (string prefix, not only whole segments); `/` for all.
        pub prefix_path: String,
    }
}

jute_record! {
    /// Answer to getEphemerals.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::GetEphemeralsResponse;
    ///
    /// let record = GetEphemeralsResponse {
    ///     ephemerals: vec!["/app/lock-0000000001".into()],
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x01\x00\x00\x00\x14/app/lock-0000000001");
    /// let decoded = GetEphemeralsResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetEphemeralsResponse {
        /// Full paths.
        pub ephemerals: Vec<String>,
    }
}

jute_record! {
    /// Count every descendant of a node.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::GetAllChildrenNumberRequest;
    ///
    /// let record = GetAllChildrenNumberRequest {
    ///     path: "/app/node".into(),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node");
    /// let decoded = GetAllChildrenNumberRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetAllChildrenNumberRequest {
        /// Path of the node.
        pub path: String,
    }
}

jute_record! {
    /// Answer to getAllChildrenNumber.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::GetAllChildrenNumberResponse;
    ///
    /// let record = GetAllChildrenNumberResponse {
    ///     total_number: 7,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x07");
    /// let decoded = GetAllChildrenNumberResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetAllChildrenNumberResponse {
        /// Number of descendants (not counting the node itself).
        pub total_number: i32,
    }
}

jute_record! {
    /// One identity in a whoAmI answer.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::ClientInfo;
    ///
    /// let record = ClientInfo {
    ///     auth_scheme: "digest".into(),
    ///     user: "alice".into(),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x06digest\x00\x00\x00\x05alice");
    /// let decoded = ClientInfo::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct ClientInfo {
        /// The scheme (`ip`, `digest`, ...).
        pub auth_scheme: String,
        /// The user or address.
        pub user: String,
    }
}

jute_record! {
    /// Answer to whoAmI.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{ClientInfo, WhoAmIResponse};
    ///
    /// let record = WhoAmIResponse {
    ///     client_info: vec![ClientInfo { auth_scheme: "ip".into(), user: "127.0.0.1".into() }],
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x01\x00\x00\x00\x02ip\x00\x00\x00\x09127.0.0.1");
    /// let decoded = WhoAmIResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct WhoAmIResponse {
        /// The caller's identities.
        pub client_info: Vec<ClientInfo>,
    }
}

jute_record! {
    /// An authentication packet (opcode auth, xid -4).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::AuthPacket;
    ///
    /// let record = AuthPacket {
    ///     auth_type: 0,
    ///     scheme: "digest".into(),
    ///     auth: Bytes::from_static(b"alice:secret"),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x00\x00\x00\x00\x06digest\x00\x00\x00\x0calice:secret");
    /// let decoded = AuthPacket::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct AuthPacket {
        /// Always 0.
        pub auth_type: i32,
        /// The scheme, e.g. `digest`.
        pub scheme: String,
        /// The credentials, e.g. `user:password`.
        pub auth: Bytes,
    }
}

jute_record! {
    /// Re-register one-shot watches after a reconnect (opcode setWatches).
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::SetWatches;
    ///
    /// let record = SetWatches {
    ///     relative_zxid: 0x1_0000_0005,
    ///     data_watches: vec!["/config".into()],
    ///     exist_watches: vec![],
    ///     child_watches: vec!["/workers".into()],
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x01\x00\x00\x00\x05\x00\x00\x00\x01\x00\x00\x00\x07/config\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x08/workers");
    /// let decoded = SetWatches::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct SetWatches {
        /// The client's last seen zxid.
        pub relative_zxid: i64,
        /// Paths with data watches.
        pub data_watches: Vec<String>,
        /// Paths with exist watches (nodes that did not exist).
        pub exist_watches: Vec<String>,
        /// Paths with child watches.
        pub child_watches: Vec<String>,
    }
}

jute_record! {
    /// Re-register every kind of watch after a reconnect (opcode setWatches2, 3.6+).
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::SetWatches2;
    ///
    /// let record = SetWatches2 {
    ///     relative_zxid: 0x1_0000_0005,
    ///     data_watches: vec!["/config".into()],
    ///     exist_watches: vec![],
    ///     child_watches: vec![],
    ///     persistent_watches: vec![],
    ///     persistent_recursive_watches: vec!["/services".into()],
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = SetWatches2::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct SetWatches2 {
        /// The client's last seen zxid.
        pub relative_zxid: i64,
        /// Paths with data watches.
        pub data_watches: Vec<String>,
        /// Paths with exist watches.
        pub exist_watches: Vec<String>,
        /// Paths with child watches.
        pub child_watches: Vec<String>,
        /// Paths with persistent watches.
        pub persistent_watches: Vec<String>,
        /// Paths with persistent recursive watches.
        pub persistent_recursive_watches: Vec<String>,
    }
}

jute_record! {
    /// A SASL token from the client (opcode sasl).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::GetSaslRequest;
    ///
    /// let record = GetSaslRequest {
    ///     token: Some(Bytes::from_static(b"token")),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x05token");
    /// let decoded = GetSaslRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetSaslRequest {
        /// The token.
        pub token: Option<Bytes>,
    }
}

jute_record! {
    /// A SASL token from the server.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::SetSaslResponse;
    ///
    /// let record = SetSaslResponse {
    ///     token: None,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\xff\xff\xff\xff");
    /// let decoded = SetSaslResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct SetSaslResponse {
        /// The token; null when SASL is not configured.
        pub token: Option<Bytes>,
    }
}

jute_record! {
    /// A watch notification (server to client, xid -1).
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{EventType, KeeperState, Stat, WatcherEvent};
    ///
    /// let record = WatcherEvent {
    ///     event_type: EventType::NodeDataChanged,
    ///     state: KeeperState::SyncConnected,
    ///     path: "/app/node".into(),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x03\x00\x00\x00\x03\x00\x00\x00\x09/app/node");
    /// let decoded = WatcherEvent::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct WatcherEvent {
        /// What happened.
        pub event_type: EventType,
        /// Always `SyncConnected` from a server.
        pub state: KeeperState,
        /// The full server path of the node.
        pub path: String,
    }
}

/// deleteContainer's body: the raw path bytes, with no length prefix. Only ever sent between
/// servers; a client that sends it gets BadArguments.
///
/// ```
/// use bytes::Bytes;
/// use zk_proto::jute::{Decode, Encode, JuteReader};
/// use zk_proto::DeleteContainerRequest;
///
/// let record = DeleteContainerRequest { path: Bytes::from_static(b"/app/c") };
/// let mut out = bytes::BytesMut::new();
/// record.encode(&mut out);
/// assert_eq!(&out[..], b"/app/c"); // no length prefix
/// let decoded = DeleteContainerRequest::decode(&mut JuteReader::new(out.freeze()))?;
/// assert_eq!(decoded, record);
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteContainerRequest {
    /// The raw body.
    pub path: Bytes,
}

impl Encode for DeleteContainerRequest {
    fn encode(&self, out: &mut BytesMut) {
        out.put_slice(&self.path);
    }
}

impl Decode for DeleteContainerRequest {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        Ok(Self {
            path: reader.take_rest(),
        })
    }
}

/// Whether `op` names a request that `RequestHeader` may carry (used by servers to answer
/// unknown opcodes with `Unimplemented`).
pub(crate) fn is_request_opcode(op: OpCode) -> bool {
    !matches!(
        op,
        OpCode::Notification | OpCode::Error | OpCode::CreateSession | OpCode::Unknown(_)
    )
}
