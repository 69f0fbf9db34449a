//! The records of `zookeeper.jute` that travel between clients and servers (PROTOCOL.md §2, §3.3).
//!
//! Every record implements [`Encode`] and [`Decode`].
//! Nullable `buffer`s are `Option<Bytes>`; strings that must be present are `String` (a null one is
//! a [`DecodeError::NullString`]); vectors read a null count as empty.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use zk_proto::acl::Acl;
//! use zk_proto::jute::Encode;
//! use zk_proto::{CreateMode, CreateRequest};
//!
//! let request = CreateRequest {
//!     path: "/t".into(),
//!     data: Some(Bytes::from_static(b"hi")),
//!     acl: Acl::open_unsafe(),
//!     flags: CreateMode::Persistent.into(),
//! };
//! let mut out = BytesMut::new();
//! request.encode(&mut out);
//! assert_eq!(out.len(), 0x33 - 8); // Appendix A's create frame, less length and header
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::acl::Acl;
use crate::codes::{ErrorCode, EventType, KeeperState, OpCode, WatcherType};
use crate::jute::{Decode, DecodeError, Encode, JuteReader, jute_record};
use crate::stat::Stat;

/// The first frame a client sends: it opens a new session or resumes one.
///
/// `read_only` is the optional trailing byte: `None` when the peer left it out ("old client").
///
/// ```
/// use zk_proto::ConnectRequest;
///
/// let request = ConnectRequest::new_session(30_000);
/// assert_eq!(request.session_id, 0);
/// assert_eq!(request.passwd.len(), 16);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    /// Always 0.
    pub protocol_version: i32,
    /// The zxid of the last reply the client saw; the server refuses a client that is ahead of it.
    pub last_zxid_seen: i64,
    /// Requested session timeout in milliseconds.
    pub timeout_ms: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: i64,
    /// The session password (16 zero bytes for a new session).
    pub passwd: Bytes,
    /// Whether the client accepts a read-only server; `None` if the byte was absent.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    /// A request for a new session with the given timeout, read-write, with the read-only byte sent
    /// (as the Java, C and Python clients do).
    ///
    /// ```
    /// use zk_proto::ConnectRequest;
    ///
    /// let request = ConnectRequest::new_session(30_000);
    /// assert_eq!(request.session_id, 0);
    /// assert_eq!(request.last_zxid_seen, 0);
    /// assert_eq!(&request.passwd[..], &[0; 16]);
    /// assert_eq!(request.read_only, Some(false));
    /// ```
    pub fn new_session(timeout_ms: i32) -> Self {
        Self {
            timeout_ms,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
            ..Self::default()
        }
    }
}

impl Encode for ConnectRequest {
    fn encode(&self, out: &mut BytesMut) {
        self.protocol_version.encode(out);
        self.last_zxid_seen.encode(out);
        self.timeout_ms.encode(out);
        self.session_id.encode(out);
        self.passwd.encode(out);
        if let Some(read_only) = self.read_only {
            read_only.encode(out);
        }
    }
}

impl Decode for ConnectRequest {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: reader.read_i32()?,
            last_zxid_seen: reader.read_i64()?,
            timeout_ms: reader.read_i32()?,
            session_id: reader.read_i64()?,
            passwd: Bytes::decode(reader)?,
            read_only: reader.read_trailing_bool()?,
        })
    }
}

/// The server's answer to a [`ConnectRequest`]. A `timeout_ms <= 0` means the session expired
/// (or the password was wrong).
///
/// ```
/// use zk_proto::ConnectResponse;
///
/// let expired = ConnectResponse::expired(Some(false));
/// assert!(expired.is_expired());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// Negotiated session timeout in milliseconds; 0 when the session is expired.
    pub timeout_ms: i32,
    /// The session id.
    pub session_id: i64,
    /// The session password.
    pub passwd: Bytes,
    /// Whether the server is read-only; `None` when the byte is absent (answer to an old client).
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// The all-zero response a server sends for an expired or unknown session or a wrong password,
    /// with the read-only byte present when the client sent one.
    ///
    /// ```
    /// use zk_proto::ConnectResponse;
    ///
    /// let to_new_client = ConnectResponse::expired(Some(true));
    /// assert_eq!((to_new_client.timeout_ms, to_new_client.session_id), (0, 0));
    /// assert_eq!(to_new_client.read_only, Some(false));
    /// // An old client sent no read-only byte: none in the answer either.
    /// assert_eq!(ConnectResponse::expired(None).read_only, None);
    /// ```
    pub fn expired(read_only: Option<bool>) -> Self {
        Self {
            passwd: Bytes::from_static(&[0; 16]),
            read_only: read_only.map(|_| false),
            ..Self::default()
        }
    }

    /// Whether this response says the session is gone.
    ///
    /// ```
    /// use zk_proto::ConnectResponse;
    ///
    /// let granted = ConnectResponse { timeout_ms: 10_000, session_id: 0x100, ..Default::default() };
    /// assert!(!granted.is_expired());
    /// assert!(ConnectResponse { timeout_ms: 0, ..granted }.is_expired());
    /// ```
    pub fn is_expired(&self) -> bool {
        self.timeout_ms <= 0
    }
}

impl Encode for ConnectResponse {
    fn encode(&self, out: &mut BytesMut) {
        self.protocol_version.encode(out);
        self.timeout_ms.encode(out);
        self.session_id.encode(out);
        self.passwd.encode(out);
        if let Some(read_only) = self.read_only {
            read_only.encode(out);
        }
    }
}

impl Decode for ConnectResponse {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: reader.read_i32()?,
            timeout_ms: reader.read_i32()?,
            session_id: reader.read_i64()?,
            passwd: Bytes::decode(reader)?,
            read_only: reader.read_trailing_bool()?,
        })
    }
}

/// The header of every client frame after the ConnectRequest.
///
/// ```
/// use zk_proto::{OpCode, RequestHeader};
///
/// let ping = RequestHeader::ping();
/// assert_eq!((ping.xid, ping.op), (-2, OpCode::Ping));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    /// The request id the server echoes (see [`crate::xid`] for special values).
    pub xid: i32,
    /// The request type.
    pub op: OpCode,
}

impl RequestHeader {
    /// A header for an ordinary request.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use zk_proto::jute::Encode;
    /// use zk_proto::{OpCode, RequestHeader};
    ///
    /// let header = RequestHeader::new(7, OpCode::GetData);
    /// let mut out = BytesMut::new();
    /// header.encode(&mut out);
    /// assert_eq!(&out[..], &[0, 0, 0, 7, 0, 0, 0, 4]);
    /// ```
    pub fn new(xid: i32, op: OpCode) -> Self {
        Self { xid, op }
    }

    /// The header of a ping.
    ///
    /// ```
    /// use zk_proto::{xid, OpCode, RequestHeader};
    ///
    /// assert_eq!(RequestHeader::ping(), RequestHeader::new(xid::PING, OpCode::Ping));
    /// ```
    pub fn ping() -> Self {
        Self::new(crate::xid::PING, OpCode::Ping)
    }
}

impl Encode for RequestHeader {
    fn encode(&self, out: &mut BytesMut) {
        self.xid.encode(out);
        self.op.encode(out);
    }
}

impl Decode for RequestHeader {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        Ok(Self {
            xid: reader.read_i32()?,
            op: OpCode::decode(reader)?,
        })
    }
}

/// The header of every server frame after the ConnectResponse.
///
/// ```
/// use zk_proto::{ErrorCode, ReplyHeader};
///
/// let header = ReplyHeader { xid: 1, zxid: 5, err: ErrorCode::NodeExists };
/// assert!(!header.err.is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    /// The xid of the request answered, or -1 for a notification, -2 ping, -4 auth.
    pub xid: i32,
    /// The zxid of a write, the server's last zxid for reads, -1 for 3.8 notifications.
    pub zxid: i64,
    /// 0, or the error the request failed with (the body is then empty, except for multi).
    pub err: ErrorCode,
}

impl Encode for ReplyHeader {
    fn encode(&self, out: &mut BytesMut) {
        self.xid.encode(out);
        self.zxid.encode(out);
        self.err.encode(out);
    }
}

impl Decode for ReplyHeader {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        Ok(Self {
            xid: reader.read_i32()?,
            zxid: reader.read_i64()?,
            err: ErrorCode::decode(reader)?,
        })
    }
}

jute_record! {
    /// Create a node (opcodes create, create2 and createContainer).
    ///
    /// A create: `flags` is a [`CreateMode`](crate::CreateMode) as an `int`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_proto::acl::Acl;
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{CreateMode, CreateRequest};
    ///
    /// let record = CreateRequest {
    ///     path: "/app/node".into(),
    ///     data: Some(Bytes::from_static(b"v1")),
    ///     acl: Acl::open_unsafe(),
    ///     flags: CreateMode::EphemeralSequential.into(),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = CreateRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct CreateRequest {
        /// Path of the node (the sequence suffix is appended to it for sequential modes).
        pub path: String,
        /// Initial data; `None` is stored as null.
        pub data: Option<Bytes>,
        /// The node's ACL.
        pub acl: Vec<Acl>,
        /// The [`CreateMode`](crate::CreateMode) as its integer flags.
        pub flags: i32,
    }
}

jute_record! {
    /// Create a node with a time to live (opcode createTTL).
    ///
    /// A createTTL: the TTL is in milliseconds, at most [`MAX_TTL_MS`](crate::MAX_TTL_MS).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_proto::acl::Acl;
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{CreateMode, CreateTtlRequest};
    ///
    /// let record = CreateTtlRequest {
    ///     path: "/app/node".into(),
    ///     data: Some(Bytes::from_static(b"v1")),
    ///     acl: Acl::open_unsafe(),
    ///     flags: CreateMode::PersistentWithTtl.into(),
    ///     ttl: 60_000,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = CreateTtlRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct CreateTtlRequest {
        /// Path of the node.
        pub path: String,
        /// Initial data.
        pub data: Option<Bytes>,
        /// The node's ACL.
        pub acl: Vec<Acl>,
        /// 5 or 6 (the TTL create modes).
        pub flags: i32,
        /// Time to live in milliseconds, `0 < ttl <= 0xFFFFFFFFFF`.
        pub ttl: i64,
    }
}

jute_record! {
    /// Answer to create: the actual path (with any sequence suffix).
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::CreateResponse;
    ///
    /// let record = CreateResponse {
    ///     path: "/app/node".into(),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node");
    /// let decoded = CreateResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct CreateResponse {
        /// The created path.
        pub path: String,
    }
}

jute_record! {
    /// Answer to create2, createContainer and createTTL.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{Create2Response, Stat};
    ///
    /// let record = Create2Response {
    ///     path: "/app/node".into(),
    ///     stat: Stat { version: 2, num_children: 1, ..Stat::default() },
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = Create2Response::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct Create2Response {
        /// The created path.
        pub path: String,
        /// The new node's stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// Delete a node.
    ///
    /// `version` -1 deletes any version.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::DeleteRequest;
    ///
    /// let record = DeleteRequest {
    ///     path: "/app/node".into(),
    ///     version: -1,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node\xff\xff\xff\xff");
    /// let decoded = DeleteRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct DeleteRequest {
        /// Path of the node.
        pub path: String,
        /// Expected data version, or -1 for any.
        pub version: i32,
    }
}

jute_record! {
    /// Stat a node; with `watch`, leave a data watch (also when the node is missing).
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::ExistsRequest;
    ///
    /// let record = ExistsRequest {
    ///     path: "/app/node".into(),
    ///     watch: true,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node\x01");
    /// let decoded = ExistsRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct ExistsRequest {
        /// Path of the node.
        pub path: String,
        /// Whether to leave a watch.
        pub watch: bool,
    }
}

jute_record! {
    /// Answer to exists when the node exists.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{ExistsResponse, Stat};
    ///
    /// let record = ExistsResponse {
    ///     stat: Stat { version: 2, num_children: 1, ..Stat::default() },
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = ExistsResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct ExistsResponse {
        /// The node's stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// Read a node's data; with `watch`, leave a data watch.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::GetDataRequest;
    ///
    /// let record = GetDataRequest {
    ///     path: "/app/node".into(),
    ///     watch: false,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node\x00");
    /// let decoded = GetDataRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetDataRequest {
        /// Path of the node.
        pub path: String,
        /// Whether to leave a watch.
        pub watch: bool,
    }
}

jute_record! {
    /// Answer to getData.
    ///
    /// Null data (`None`) and empty data are different values on the wire.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{GetDataResponse, Stat};
    ///
    /// let record = GetDataResponse {
    ///     data: None,
    ///     stat: Stat { version: 2, num_children: 1, ..Stat::default() },
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = GetDataResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetDataResponse {
        /// The data (`None` when stored as null).
        pub data: Option<Bytes>,
        /// The node's stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// Write a node's data.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::SetDataRequest;
    ///
    /// let record = SetDataRequest {
    ///     path: "/app/node".into(),
    ///     data: Some(Bytes::from_static(b"v1")),
    ///     version: 3,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node\x00\x00\x00\x02v1\x00\x00\x00\x03");
    /// let decoded = SetDataRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct SetDataRequest {
        /// Path of the node.
        pub path: String,
        /// New data.
        pub data: Option<Bytes>,
        /// Expected data version, or -1 for any.
        pub version: i32,
    }
}

jute_record! {
    /// Answer to setData.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{SetDataResponse, Stat};
    ///
    /// let record = SetDataResponse {
    ///     stat: Stat { version: 2, num_children: 1, ..Stat::default() },
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = SetDataResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct SetDataResponse {
        /// The node's new stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// Read a node's ACL.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::GetAclRequest;
    ///
    /// let record = GetAclRequest {
    ///     path: "/app/node".into(),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node");
    /// let decoded = GetAclRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetAclRequest {
        /// Path of the node.
        pub path: String,
    }
}

jute_record! {
    /// Answer to getACL.
    ///
    /// ```
    /// use zk_proto::acl::Acl;
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{GetAclResponse, Stat};
    ///
    /// let record = GetAclResponse {
    ///     acl: Acl::open_unsafe(),
    ///     stat: Stat { version: 2, num_children: 1, ..Stat::default() },
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = GetAclResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetAclResponse {
        /// The ACL.
        pub acl: Vec<Acl>,
        /// The node's stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// Replace a node's ACL.
    ///
    /// ```
    /// use zk_proto::acl::{Acl, Id, Perms};
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::SetAclRequest;
    ///
    /// let record = SetAclRequest {
    ///     path: "/app/node".into(),
    ///     acl: vec![Acl::new(Perms::READ, Id::anyone())],
    ///     version: -1,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = SetAclRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct SetAclRequest {
        /// Path of the node.
        pub path: String,
        /// The new ACL.
        pub acl: Vec<Acl>,
        /// Expected ACL version (`aversion`), or -1 for any.
        pub version: i32,
    }
}

jute_record! {
    /// Answer to setACL.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{SetAclResponse, Stat};
    ///
    /// let record = SetAclResponse {
    ///     stat: Stat { version: 2, num_children: 1, ..Stat::default() },
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = SetAclResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct SetAclResponse {
        /// The node's new stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// List a node's children (opcodes getChildren and getChildren2); with `watch`, leave a child
    /// watch.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::GetChildrenRequest;
    ///
    /// let record = GetChildrenRequest {
    ///     path: "/app/node".into(),
    ///     watch: true,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node\x01");
    /// let decoded = GetChildrenRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetChildrenRequest {
        /// Path of the node.
        pub path: String,
        /// Whether to leave a watch.
        pub watch: bool,
    }
}

jute_record! {
    /// Answer to getChildren: bare child names, in no particular order.
    ///
    /// Children are names, not paths.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::GetChildrenResponse;
    ///
    /// let record = GetChildrenResponse {
    ///     children: vec!["a".into(), "b".into()],
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x01b");
    /// let decoded = GetChildrenResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetChildrenResponse {
        /// Child names (not full paths).
        pub children: Vec<String>,
    }
}

jute_record! {
    /// Answer to getChildren2.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::{GetChildren2Response, Stat};
    ///
    /// let record = GetChildren2Response {
    ///     children: vec!["a".into()],
    ///     stat: Stat { version: 2, num_children: 1, ..Stat::default() },
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// let decoded = GetChildren2Response::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct GetChildren2Response {
        /// Child names (not full paths).
        pub children: Vec<String>,
        /// The node's stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// Ask the server to catch up with the leader.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::SyncRequest;
    ///
    /// let record = SyncRequest {
    ///     path: "/app/node".into(),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node");
    /// let decoded = SyncRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct SyncRequest {
        /// The path (echoed back).
        pub path: String,
    }
}

jute_record! {
    /// Answer to sync.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::SyncResponse;
    ///
    /// let record = SyncResponse {
    ///     path: "/app/node".into(),
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node");
    /// let decoded = SyncResponse::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct SyncResponse {
        /// The path of the request.
        pub path: String,
    }
}

jute_record! {
    /// Check a node's version (only valid inside multi).
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::CheckVersionRequest;
    ///
    /// let record = CheckVersionRequest {
    ///     path: "/app/node".into(),
    ///     version: 4,
    /// };
    /// let mut out = bytes::BytesMut::new();
    /// record.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x09/app/node\x00\x00\x00\x04");
    /// let decoded = CheckVersionRequest::decode(&mut JuteReader::new(out.freeze()))?;
    /// assert_eq!(decoded, record);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct CheckVersionRequest {
        /// Path of the node.
        pub path: String,
        /// Expected data version, or -1 for any.
        pub version: i32,
    }
}

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
