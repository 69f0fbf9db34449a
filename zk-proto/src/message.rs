//! Whole request and response bodies, typed by opcode.
//!
//! A client encodes `(RequestHeader, Request)` as a frame. A server reads the [`RequestHeader`]
//! and then [`Request::decode`] with its opcode. A client that has the opcode of the request a reply
//! answers reads the body with [`Response::decode`] (only when the header's `err` is 0, except for
//! multi).
//!
//! ```
//! use bytes::BytesMut;
//! use zk_proto::jute::{Decode, Encode, JuteReader};
//! use zk_proto::{GetDataRequest, Request, RequestHeader};
//!
//! let request = Request::GetData(GetDataRequest { path: "/t".into(), watch: true });
//! let header = RequestHeader::new(11, request.op_code());
//! let mut out = BytesMut::new();
//! (header, &request).encode(&mut out);
//! // Appendix A: getData /t watch=true, without the 4-byte frame length.
//! assert_eq!(hex(&out), "0000000b00000004000000022f7401");
//!
//! let mut reader = JuteReader::new(out.freeze());
//! let header = RequestHeader::decode(&mut reader)?;
//! assert_eq!(Request::decode(header.op, &mut reader)?, request);
//! # fn hex(b: &[u8]) -> String { b.iter().map(|x| format!("{x:02x}")).collect() }
//! # Ok::<(), zk_proto::DecodeError>(())
//! ```

use bytes::BytesMut;

use crate::codes::OpCode;
use crate::jute::{Decode, DecodeError, Encode, JuteReader};
use crate::multi::{MultiRequest, MultiResponse};
use crate::records::*;
use crate::stat::Stat;

/// A request body, one variant per opcode a client may send.
///
/// ```
/// use zk_proto::{CreateMode, CreateRequest, OpCode, Request};
/// use zk_proto::acl::Acl;
///
/// let create = CreateRequest {
///     path: "/a".into(),
///     data: None,
///     acl: Acl::open_unsafe(),
///     flags: CreateMode::Persistent.into(),
/// };
/// // The same body under different opcodes.
/// assert_eq!(Request::Create(create.clone()).op_code(), OpCode::Create);
/// assert_eq!(Request::Create2(create).op_code(), OpCode::Create2);
/// // Some requests have no body at all.
/// assert_eq!(Request::Ping.op_code(), OpCode::Ping);
/// assert_eq!(Request::CloseSession.op_code(), OpCode::CloseSession);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// create (1).
    Create(CreateRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// exists (3).
    Exists(ExistsRequest),
    /// getData (4).
    GetData(GetDataRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// getACL (6).
    GetAcl(GetAclRequest),
    /// setACL (7).
    SetAcl(SetAclRequest),
    /// getChildren (8).
    GetChildren(GetChildrenRequest),
    /// sync (9).
    Sync(SyncRequest),
    /// ping (11), empty body.
    Ping,
    /// getChildren2 (12).
    GetChildren2(GetChildrenRequest),
    /// check (13); meaningful only inside multi.
    Check(CheckVersionRequest),
    /// multi (14).
    Multi(MultiRequest),
    /// create2 (15).
    Create2(CreateRequest),
    /// reconfig (16).
    Reconfig(ReconfigRequest),
    /// checkWatches (17).
    CheckWatches(CheckWatchesRequest),
    /// removeWatches (18).
    RemoveWatches(RemoveWatchesRequest),
    /// createContainer (19).
    CreateContainer(CreateRequest),
    /// deleteContainer (20); server-internal.
    DeleteContainer(DeleteContainerRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// multiRead (22).
    MultiRead(MultiRequest),
    /// auth (100).
    Auth(AuthPacket),
    /// setWatches (101).
    SetWatches(SetWatches),
    /// sasl (102).
    Sasl(GetSaslRequest),
    /// getEphemerals (103).
    GetEphemerals(GetEphemeralsRequest),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// setWatches2 (105).
    SetWatches2(SetWatches2),
    /// addWatch (106).
    AddWatch(AddWatchRequest),
    /// whoAmI (107), empty body.
    WhoAmI,
    /// closeSession (-11), empty body.
    CloseSession,
}

impl Request {
    /// The opcode for this request's header.
    ///
    /// ```
    /// use zk_proto::{DeleteRequest, OpCode, Request, RequestHeader};
    ///
    /// let request = Request::Delete(DeleteRequest { path: "/a".into(), version: -1 });
    /// let header = RequestHeader::new(1, request.op_code());
    /// assert_eq!(header.op, OpCode::Delete);
    /// ```
    pub fn op_code(&self) -> OpCode {
        match self {
            Self::Create(_) => OpCode::Create,
            Self::Delete(_) => OpCode::Delete,
            Self::Exists(_) => OpCode::Exists,
            Self::GetData(_) => OpCode::GetData,
            Self::SetData(_) => OpCode::SetData,
            Self::GetAcl(_) => OpCode::GetAcl,
            Self::SetAcl(_) => OpCode::SetAcl,
            Self::GetChildren(_) => OpCode::GetChildren,
            Self::Sync(_) => OpCode::Sync,
            Self::Ping => OpCode::Ping,
            Self::GetChildren2(_) => OpCode::GetChildren2,
            Self::Check(_) => OpCode::Check,
            Self::Multi(_) => OpCode::Multi,
            Self::Create2(_) => OpCode::Create2,
            Self::Reconfig(_) => OpCode::Reconfig,
            Self::CheckWatches(_) => OpCode::CheckWatches,
            Self::RemoveWatches(_) => OpCode::RemoveWatches,
            Self::CreateContainer(_) => OpCode::CreateContainer,
            Self::DeleteContainer(_) => OpCode::DeleteContainer,
            Self::CreateTtl(_) => OpCode::CreateTtl,
            Self::MultiRead(_) => OpCode::MultiRead,
            Self::Auth(_) => OpCode::Auth,
            Self::SetWatches(_) => OpCode::SetWatches,
            Self::Sasl(_) => OpCode::Sasl,
            Self::GetEphemerals(_) => OpCode::GetEphemerals,
            Self::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Self::SetWatches2(_) => OpCode::SetWatches2,
            Self::AddWatch(_) => OpCode::AddWatch,
            Self::WhoAmI => OpCode::WhoAmI,
            Self::CloseSession => OpCode::CloseSession,
        }
    }

    /// The path a request names, for requests that name one.
    ///
    /// ```
    /// use zk_proto::{Request, SyncRequest};
    ///
    /// assert_eq!(Request::Sync(SyncRequest { path: "/a".into() }).path(), Some("/a"));
    /// assert_eq!(Request::Ping.path(), None);
    /// ```
    pub fn path(&self) -> Option<&str> {
        Some(match self {
            Self::Create(r) | Self::Create2(r) | Self::CreateContainer(r) => &r.path,
            Self::CreateTtl(r) => &r.path,
            Self::Delete(r) => &r.path,
            Self::Exists(r) => &r.path,
            Self::GetData(r) => &r.path,
            Self::SetData(r) => &r.path,
            Self::GetAcl(r) => &r.path,
            Self::SetAcl(r) => &r.path,
            Self::GetChildren(r) | Self::GetChildren2(r) => &r.path,
            Self::Sync(r) => &r.path,
            Self::Check(r) => &r.path,
            Self::CheckWatches(r) => &r.path,
            Self::RemoveWatches(r) => &r.path,
            Self::GetEphemerals(r) => &r.prefix_path,
            Self::GetAllChildrenNumber(r) => &r.path,
            Self::AddWatch(r) => &r.path,
            _ => return None,
        })
    }

    /// Reads the body of a request whose header carried `op`.
    ///
    /// Opcodes that are not requests (notification, createSession, error, unknown values) give
    /// [`DecodeError::UnknownOpCode`]; a server answers those with `Unimplemented`.
    ///
    /// ```
    /// use zk_proto::jute::{Encode, JuteReader};
    /// use zk_proto::{DecodeError, ExistsRequest, OpCode, Request};
    ///
    /// let request = Request::Exists(ExistsRequest { path: "/a".into(), watch: true });
    /// let mut out = bytes::BytesMut::new();
    /// request.encode(&mut out); // the body only, without the header
    /// let mut reader = JuteReader::new(out.freeze());
    /// assert_eq!(Request::decode(OpCode::Exists, &mut reader)?, request);
    ///
    /// // A notification is not something a client may send.
    /// let mut reader = JuteReader::new(bytes::Bytes::new());
    /// assert_eq!(
    ///     Request::decode(OpCode::Notification, &mut reader),
    ///     Err(DecodeError::UnknownOpCode(0))
    /// );
    /// # Ok::<(), DecodeError>(())
    /// ```
    pub fn decode(op: OpCode, reader: &mut JuteReader) -> Result<Self, DecodeError> {
        Ok(match op {
            OpCode::Create => Self::Create(Decode::decode(reader)?),
            OpCode::Delete => Self::Delete(Decode::decode(reader)?),
            OpCode::Exists => Self::Exists(Decode::decode(reader)?),
            OpCode::GetData => Self::GetData(Decode::decode(reader)?),
            OpCode::SetData => Self::SetData(Decode::decode(reader)?),
            OpCode::GetAcl => Self::GetAcl(Decode::decode(reader)?),
            OpCode::SetAcl => Self::SetAcl(Decode::decode(reader)?),
            OpCode::GetChildren => Self::GetChildren(Decode::decode(reader)?),
            OpCode::Sync => Self::Sync(Decode::decode(reader)?),
            OpCode::Ping => Self::Ping,
            OpCode::GetChildren2 => Self::GetChildren2(Decode::decode(reader)?),
            OpCode::Check => Self::Check(Decode::decode(reader)?),
            OpCode::Multi => Self::Multi(Decode::decode(reader)?),
            OpCode::Create2 => Self::Create2(Decode::decode(reader)?),
            OpCode::Reconfig => Self::Reconfig(Decode::decode(reader)?),
            OpCode::CheckWatches => Self::CheckWatches(Decode::decode(reader)?),
            OpCode::RemoveWatches => Self::RemoveWatches(Decode::decode(reader)?),
            OpCode::CreateContainer => Self::CreateContainer(Decode::decode(reader)?),
            OpCode::DeleteContainer => Self::DeleteContainer(Decode::decode(reader)?),
            OpCode::CreateTtl => Self::CreateTtl(Decode::decode(reader)?),
            OpCode::MultiRead => Self::MultiRead(Decode::decode(reader)?),
            OpCode::Auth => Self::Auth(Decode::decode(reader)?),
            OpCode::SetWatches => Self::SetWatches(Decode::decode(reader)?),
            OpCode::Sasl => Self::Sasl(Decode::decode(reader)?),
            OpCode::GetEphemerals => Self::GetEphemerals(Decode::decode(reader)?),
            OpCode::GetAllChildrenNumber => Self::GetAllChildrenNumber(Decode::decode(reader)?),
            OpCode::SetWatches2 => Self::SetWatches2(Decode::decode(reader)?),
            OpCode::AddWatch => Self::AddWatch(Decode::decode(reader)?),
            OpCode::WhoAmI => Self::WhoAmI,
            OpCode::CloseSession => Self::CloseSession,
            other @ (OpCode::Notification
            | OpCode::CreateSession
            | OpCode::Error
            | OpCode::Unknown(_)) => {
                debug_assert!(!is_request_opcode(other));
                return Err(DecodeError::UnknownOpCode(other.into()));
            }
        })
    }
}

impl Encode for Request {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Self::Create(r) | Self::Create2(r) | Self::CreateContainer(r) => r.encode(out),
            Self::Delete(r) => r.encode(out),
            Self::Exists(r) => r.encode(out),
            Self::GetData(r) => r.encode(out),
            Self::SetData(r) => r.encode(out),
            Self::GetAcl(r) => r.encode(out),
            Self::SetAcl(r) => r.encode(out),
            Self::GetChildren(r) | Self::GetChildren2(r) => r.encode(out),
            Self::Sync(r) => r.encode(out),
            Self::Ping | Self::WhoAmI | Self::CloseSession => {}
            Self::Check(r) => r.encode(out),
            Self::Multi(r) | Self::MultiRead(r) => r.encode(out),
            Self::Reconfig(r) => r.encode(out),
            Self::CheckWatches(r) => r.encode(out),
            Self::RemoveWatches(r) => r.encode(out),
            Self::DeleteContainer(r) => r.encode(out),
            Self::CreateTtl(r) => r.encode(out),
            Self::Auth(r) => r.encode(out),
            Self::SetWatches(r) => r.encode(out),
            Self::Sasl(r) => r.encode(out),
            Self::GetEphemerals(r) => r.encode(out),
            Self::GetAllChildrenNumber(r) => r.encode(out),
            Self::SetWatches2(r) => r.encode(out),
            Self::AddWatch(r) => r.encode(out),
        }
    }
}

/// A successful response body, one variant per shape.
///
/// ```
/// use zk_proto::jute::{Encode, JuteReader};
/// use zk_proto::{OpCode, Response, Stat};
///
/// // The body of an exists reply is a Stat; setData's too, under another variant.
/// let stat = Stat { version: 4, ..Stat::default() };
/// let mut out = bytes::BytesMut::new();
/// Response::Stat(stat.clone()).encode(&mut out);
/// let exists = Response::decode(OpCode::Exists, &mut JuteReader::new(out.clone().freeze()))?;
/// assert_eq!(exists, Response::Stat(stat.clone()));
/// let set = Response::decode(OpCode::SetData, &mut JuteReader::new(out.freeze()))?;
/// assert_eq!(set, Response::SetStat(stat));
/// // A delete's reply has no body.
/// let empty = Response::decode(OpCode::Delete, &mut JuteReader::new(bytes::Bytes::new()))?;
/// assert_eq!(empty, Response::Empty);
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// No body: delete, ping, auth, setWatches, setWatches2, checkWatches, removeWatches,
    /// closeSession, and any error reply (other than multi).
    Empty,
    /// create: the path.
    Create(CreateResponse),
    /// create2, createContainer, createTTL: path and stat.
    Create2(Create2Response),
    /// exists: the stat.
    Stat(Stat),
    /// getData, and reconfig (the new config and the stat of `/zookeeper/config`).
    GetData(GetDataResponse),
    /// setData and setACL: the new stat.
    SetStat(Stat),
    /// getACL.
    GetAcl(GetAclResponse),
    /// getChildren.
    GetChildren(GetChildrenResponse),
    /// getChildren2.
    GetChildren2(GetChildren2Response),
    /// sync: the path.
    Sync(SyncResponse),
    /// multi and multiRead.
    Multi(MultiResponse),
    /// sasl.
    Sasl(SetSaslResponse),
    /// getEphemerals.
    GetEphemerals(GetEphemeralsResponse),
    /// getAllChildrenNumber.
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    /// addWatch: a 4-byte error code (0).
    AddWatch(ErrorResponse),
    /// whoAmI.
    WhoAmI(WhoAmIResponse),
}

impl Response {
    /// Reads the successful body of a reply to a request of type `op`.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    /// use zk_proto::{OpCode, Response, SyncResponse};
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(b"\x00\x00\x00\x02/a"));
    /// let response = Response::decode(OpCode::Sync, &mut reader)?;
    /// assert_eq!(response, Response::Sync(SyncResponse { path: "/a".into() }));
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn decode(op: OpCode, reader: &mut JuteReader) -> Result<Self, DecodeError> {
        Ok(match op {
            OpCode::Create => Self::Create(Decode::decode(reader)?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                Self::Create2(Decode::decode(reader)?)
            }
            OpCode::Exists => Self::Stat(Decode::decode(reader)?),
            OpCode::GetData | OpCode::Reconfig => Self::GetData(Decode::decode(reader)?),
            OpCode::SetData | OpCode::SetAcl => Self::SetStat(Decode::decode(reader)?),
            OpCode::GetAcl => Self::GetAcl(Decode::decode(reader)?),
            OpCode::GetChildren => Self::GetChildren(Decode::decode(reader)?),
            OpCode::GetChildren2 => Self::GetChildren2(Decode::decode(reader)?),
            OpCode::Sync => Self::Sync(Decode::decode(reader)?),
            OpCode::Multi | OpCode::MultiRead => Self::Multi(Decode::decode(reader)?),
            OpCode::Sasl => Self::Sasl(Decode::decode(reader)?),
            OpCode::GetEphemerals => Self::GetEphemerals(Decode::decode(reader)?),
            OpCode::GetAllChildrenNumber => Self::GetAllChildrenNumber(Decode::decode(reader)?),
            OpCode::AddWatch => Self::AddWatch(Decode::decode(reader)?),
            OpCode::WhoAmI => Self::WhoAmI(Decode::decode(reader)?),
            OpCode::Delete
            | OpCode::Ping
            | OpCode::Check
            | OpCode::Auth
            | OpCode::SetWatches
            | OpCode::SetWatches2
            | OpCode::CheckWatches
            | OpCode::RemoveWatches
            | OpCode::DeleteContainer
            | OpCode::CloseSession => Self::Empty,
            other @ (OpCode::Notification
            | OpCode::CreateSession
            | OpCode::Error
            | OpCode::Unknown(_)) => return Err(DecodeError::UnknownOpCode(other.into())),
        })
    }
}

impl Encode for Response {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Self::Empty => {}
            Self::Create(r) => r.encode(out),
            Self::Create2(r) => r.encode(out),
            Self::Stat(s) | Self::SetStat(s) => s.encode(out),
            Self::GetData(r) => r.encode(out),
            Self::GetAcl(r) => r.encode(out),
            Self::GetChildren(r) => r.encode(out),
            Self::GetChildren2(r) => r.encode(out),
            Self::Sync(r) => r.encode(out),
            Self::Multi(r) => r.encode(out),
            Self::Sasl(r) => r.encode(out),
            Self::GetEphemerals(r) => r.encode(out),
            Self::GetAllChildrenNumber(r) => r.encode(out),
            Self::AddWatch(r) => r.encode(out),
            Self::WhoAmI(r) => r.encode(out),
        }
    }
}
