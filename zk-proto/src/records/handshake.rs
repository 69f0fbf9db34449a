//! The session handshake (ConnectRequest/ConnectResponse) and the headers of every request and
//! reply.

use bytes::{Bytes, BytesMut};

use crate::codes::{ErrorCode, OpCode};
use crate::jute::{Decode, DecodeError, Encode, JuteReader};

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
