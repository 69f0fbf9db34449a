//! multi (atomic writes) and multiRead (batched reads): PROTOCOL.md §5.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use zk_proto::jute::{Decode, Encode, JuteReader};
//! use zk_proto::multi::{MultiOp, MultiRequest};
//! use zk_proto::{CheckVersionRequest, DeleteRequest};
//!
//! let request = MultiRequest {
//!     ops: vec![
//!         MultiOp::Check(CheckVersionRequest { path: "/a".into(), version: 3 }),
//!         MultiOp::Delete(DeleteRequest { path: "/a".into(), version: -1 }),
//!     ],
//! };
//! let mut out = BytesMut::new();
//! request.encode(&mut out);
//! let decoded = MultiRequest::decode(&mut JuteReader::new(out.freeze()))?;
//! assert_eq!(decoded, request);
//! # Ok::<(), zk_proto::DecodeError>(())
//! ```

use bytes::BytesMut;

use crate::codes::{ErrorCode, OpCode};
use crate::jute::{Decode, DecodeError, Encode, JuteReader, jute_record};
use crate::records::{
    CheckVersionRequest, Create2Response, CreateRequest, CreateTtlRequest, DeleteRequest,
    ErrorResponse, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse,
    SetDataRequest,
};
use crate::stat::Stat;

jute_record! {
    /// Precedes every op and every result in a multi, and ends the list (`done = true`).
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::multi::MultiHeader;
    /// use zk_proto::OpCode;
    ///
    /// // The header of a delete op in a multi request.
    /// let header = MultiHeader { op_type: OpCode::Delete.into(), done: false, err: -1 };
    /// let mut out = bytes::BytesMut::new();
    /// header.encode(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00\x00\x02\x00\xff\xff\xff\xff");
    /// assert_eq!(MultiHeader::decode(&mut JuteReader::new(out.freeze()))?, header);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub struct MultiHeader {
        /// The op or result type (-1 for an error result and for the end marker).
        pub op_type: i32,
        /// Whether this header ends the list.
        pub done: bool,
        /// -1 in requests; the result's error code in responses.
        pub err: i32,
    }
}

impl MultiHeader {
    /// The marker that ends a multi request or response: `{-1, true, -1}`.
    ///
    /// ```
    /// use zk_proto::jute::Encode;
    /// use zk_proto::multi::{MultiHeader, MultiRequest};
    ///
    /// let mut end = bytes::BytesMut::new();
    /// MultiHeader::END.encode(&mut end);
    /// assert_eq!(&end[..], b"\xff\xff\xff\xff\x01\xff\xff\xff\xff");
    ///
    /// // An empty multi is just the end marker.
    /// let mut empty = bytes::BytesMut::new();
    /// MultiRequest::default().encode(&mut empty);
    /// assert_eq!(empty, end);
    /// ```
    pub const END: MultiHeader = MultiHeader {
        op_type: -1,
        done: true,
        err: -1,
    };
}

/// One operation inside a multi or multiRead request.
///
/// ```
/// use zk_proto::multi::MultiOp;
/// use zk_proto::{GetDataRequest, OpCode};
///
/// let op = MultiOp::GetData(GetDataRequest { path: "/a".into(), watch: false });
/// assert_eq!(op.op_code(), OpCode::GetData);
/// assert!(op.is_read());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// create (1): answered with the path only.
    Create(CreateRequest),
    /// create2 (15): a 3.8 server still answers with the path only for flags 0-3.
    Create2(CreateRequest),
    /// createContainer (19): answered with path and stat.
    CreateContainer(CreateRequest),
    /// createTTL (21): answered with path and stat.
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// check (13).
    Check(CheckVersionRequest),
    /// getData (4), multiRead only; the watch flag is ignored.
    GetData(GetDataRequest),
    /// getChildren (8), multiRead only; the watch flag is ignored.
    GetChildren(GetChildrenRequest),
}

impl MultiOp {
    /// The opcode written in this op's header.
    ///
    /// ```
    /// use zk_proto::multi::MultiOp;
    /// use zk_proto::{CheckVersionRequest, OpCode};
    ///
    /// let op = MultiOp::Check(CheckVersionRequest { path: "/a".into(), version: 1 });
    /// assert_eq!(op.op_code(), OpCode::Check);
    /// ```
    pub fn op_code(&self) -> OpCode {
        match self {
            Self::Create(_) => OpCode::Create,
            Self::Create2(_) => OpCode::Create2,
            Self::CreateContainer(_) => OpCode::CreateContainer,
            Self::CreateTtl(_) => OpCode::CreateTtl,
            Self::Delete(_) => OpCode::Delete,
            Self::SetData(_) => OpCode::SetData,
            Self::Check(_) => OpCode::Check,
            Self::GetData(_) => OpCode::GetData,
            Self::GetChildren(_) => OpCode::GetChildren,
        }
    }

    /// Whether this op may appear in a multiRead (and not in a multi).
    ///
    /// ```
    /// use zk_proto::multi::MultiOp;
    /// use zk_proto::{DeleteRequest, GetChildrenRequest};
    ///
    /// assert!(MultiOp::GetChildren(GetChildrenRequest { path: "/a".into(), watch: false }).is_read());
    /// assert!(!MultiOp::Delete(DeleteRequest { path: "/a".into(), version: -1 }).is_read());
    /// ```
    pub fn is_read(&self) -> bool {
        matches!(self, Self::GetData(_) | Self::GetChildren(_))
    }

    /// The path this op acts on.
    ///
    /// ```
    /// use zk_proto::multi::MultiOp;
    /// use zk_proto::DeleteRequest;
    ///
    /// let op = MultiOp::Delete(DeleteRequest { path: "/a/b".into(), version: -1 });
    /// assert_eq!(op.path(), "/a/b");
    /// ```
    pub fn path(&self) -> &str {
        match self {
            Self::Create(r) | Self::Create2(r) | Self::CreateContainer(r) => &r.path,
            Self::CreateTtl(r) => &r.path,
            Self::Delete(r) => &r.path,
            Self::SetData(r) => &r.path,
            Self::Check(r) => &r.path,
            Self::GetData(r) => &r.path,
            Self::GetChildren(r) => &r.path,
        }
    }

    fn encode_body(&self, out: &mut BytesMut) {
        match self {
            Self::Create(r) | Self::Create2(r) | Self::CreateContainer(r) => r.encode(out),
            Self::CreateTtl(r) => r.encode(out),
            Self::Delete(r) => r.encode(out),
            Self::SetData(r) => r.encode(out),
            Self::Check(r) => r.encode(out),
            Self::GetData(r) => r.encode(out),
            Self::GetChildren(r) => r.encode(out),
        }
    }

    fn decode_body(op: OpCode, reader: &mut JuteReader) -> Result<Self, DecodeError> {
        Ok(match op {
            OpCode::Create => Self::Create(Decode::decode(reader)?),
            OpCode::Create2 => Self::Create2(Decode::decode(reader)?),
            OpCode::CreateContainer => Self::CreateContainer(Decode::decode(reader)?),
            OpCode::CreateTtl => Self::CreateTtl(Decode::decode(reader)?),
            OpCode::Delete => Self::Delete(Decode::decode(reader)?),
            OpCode::SetData => Self::SetData(Decode::decode(reader)?),
            OpCode::Check => Self::Check(Decode::decode(reader)?),
            OpCode::GetData => Self::GetData(Decode::decode(reader)?),
            OpCode::GetChildren => Self::GetChildren(Decode::decode(reader)?),
            other => return Err(DecodeError::UnknownOpCode(other.into())),
        })
    }
}

/// The body of a multi (14) or multiRead (22) request.
///
/// ```
/// use zk_proto::jute::{Decode, Encode, JuteReader};
/// use zk_proto::multi::{MultiOp, MultiRequest};
/// use zk_proto::{GetChildrenRequest, GetDataRequest, Request};
///
/// // A multiRead: reads only.
/// let request = MultiRequest {
///     ops: vec![
///         MultiOp::GetData(GetDataRequest { path: "/a".into(), watch: false }),
///         MultiOp::GetChildren(GetChildrenRequest { path: "/b".into(), watch: false }),
///     ],
/// };
/// assert!(request.ops.iter().all(MultiOp::is_read));
/// let mut out = bytes::BytesMut::new();
/// request.encode(&mut out);
/// assert_eq!(MultiRequest::decode(&mut JuteReader::new(out.freeze()))?, request);
/// let _body = Request::MultiRead(request);
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    /// The operations, in order.
    pub ops: Vec<MultiOp>,
}

impl Encode for MultiRequest {
    fn encode(&self, out: &mut BytesMut) {
        for op in &self.ops {
            MultiHeader {
                op_type: op.op_code().into(),
                done: false,
                err: -1,
            }
            .encode(out);
            op.encode_body(out);
        }
        MultiHeader::END.encode(out);
    }
}

impl Decode for MultiRequest {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        let mut ops = Vec::new();
        loop {
            let header = MultiHeader::decode(reader)?;
            if header.done {
                return Ok(Self { ops });
            }
            ops.push(MultiOp::decode_body(OpCode::from(header.op_type), reader)?);
        }
    }
}

/// The result of one op in a multi or multiRead response.
///
/// ```
/// use zk_proto::multi::OpResult;
/// use zk_proto::ErrorCode;
///
/// let failed = OpResult::Error(ErrorCode::BadVersion);
/// assert_eq!(failed.error(), Some(ErrorCode::BadVersion));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// Type 1: a create, answered with the path.
    Create {
        /// The created path.
        path: String,
    },
    /// Type 15: a createContainer or createTTL, answered with path and stat.
    Create2(Create2Response),
    /// Type 2: a delete.
    Delete,
    /// Type 5: a setData, answered with the new stat.
    SetData {
        /// The node's new stat.
        stat: Stat,
    },
    /// Type 13: a check.
    Check,
    /// Type 4: a getData in a multiRead.
    GetData(GetDataResponse),
    /// Type 8: a getChildren in a multiRead.
    GetChildren(GetChildrenResponse),
    /// Type -1: the op failed, or (code 0) would have succeeded in a multi that failed, or (code
    /// -2, RuntimeInconsistency) came after the op that failed.
    Error(ErrorCode),
}

impl OpResult {
    /// The error this result carries, if it is a non-zero error result.
    ///
    /// ```
    /// use zk_proto::multi::OpResult;
    /// use zk_proto::ErrorCode;
    ///
    /// assert_eq!(OpResult::Error(ErrorCode::NoNode).error(), Some(ErrorCode::NoNode));
    /// // Code 0: this op would have succeeded; the multi failed elsewhere.
    /// assert_eq!(OpResult::Error(ErrorCode::Ok).error(), None);
    /// assert_eq!(OpResult::Delete.error(), None);
    /// ```
    pub fn error(&self) -> Option<ErrorCode> {
        match self {
            Self::Error(code) if !code.is_ok() => Some(*code),
            _ => None,
        }
    }

    fn header(&self) -> MultiHeader {
        let (op, err) = match self {
            Self::Create { .. } => (OpCode::Create, 0),
            Self::Create2(_) => (OpCode::Create2, 0),
            Self::Delete => (OpCode::Delete, 0),
            Self::SetData { .. } => (OpCode::SetData, 0),
            Self::Check => (OpCode::Check, 0),
            Self::GetData(_) => (OpCode::GetData, 0),
            Self::GetChildren(_) => (OpCode::GetChildren, 0),
            Self::Error(code) => (OpCode::Error, i32::from(*code)),
        };
        MultiHeader {
            op_type: op.into(),
            done: false,
            err,
        }
    }
}

/// The body of a multi or multiRead response (the ReplyHeader's `err` is 0 even when a multi
/// failed; the failure is in the results).
///
/// ```
/// use zk_proto::jute::{Decode, Encode, JuteReader};
/// use zk_proto::multi::{MultiResponse, OpResult};
/// use zk_proto::{OpCode, Response, Stat};
///
/// let response = MultiResponse {
///     results: vec![
///         OpResult::Create { path: "/a".into() },
///         OpResult::SetData { stat: Stat { version: 1, ..Stat::default() } },
///         OpResult::Delete,
///     ],
/// };
/// assert_eq!(response.first_error(), None);
/// let mut out = bytes::BytesMut::new();
/// response.encode(&mut out);
/// let body = Response::decode(OpCode::Multi, &mut JuteReader::new(out.freeze()))?;
/// assert_eq!(body, Response::Multi(response));
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    /// One result per op, in order.
    pub results: Vec<OpResult>,
}

impl MultiResponse {
    /// The first non-zero error among the results: a failed multi's cause.
    ///
    /// ```
    /// use zk_proto::multi::{MultiResponse, OpResult};
    /// use zk_proto::ErrorCode;
    ///
    /// let response = MultiResponse {
    ///     results: vec![
    ///         OpResult::Error(ErrorCode::Ok),
    ///         OpResult::Error(ErrorCode::BadVersion),
    ///         OpResult::Error(ErrorCode::RuntimeInconsistency),
    ///     ],
    /// };
    /// assert_eq!(response.first_error(), Some((1, ErrorCode::BadVersion)));
    /// ```
    pub fn first_error(&self) -> Option<(usize, ErrorCode)> {
        self.results
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.error().map(|e| (i, e)))
    }
}

impl Encode for MultiResponse {
    fn encode(&self, out: &mut BytesMut) {
        for result in &self.results {
            result.header().encode(out);
            match result {
                OpResult::Create { path } => path.encode(out),
                OpResult::Create2(r) => r.encode(out),
                OpResult::Delete | OpResult::Check => {}
                OpResult::SetData { stat } => stat.encode(out),
                OpResult::GetData(r) => r.encode(out),
                OpResult::GetChildren(r) => r.encode(out),
                OpResult::Error(code) => ErrorResponse { err: *code }.encode(out),
            }
        }
        MultiHeader::END.encode(out);
    }
}

impl Decode for MultiResponse {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        let mut results = Vec::new();
        loop {
            let header = MultiHeader::decode(reader)?;
            if header.done {
                return Ok(Self { results });
            }
            let result = match OpCode::from(header.op_type) {
                OpCode::Create => OpResult::Create {
                    path: reader.read_string()?,
                },
                OpCode::Create2 => OpResult::Create2(Decode::decode(reader)?),
                OpCode::Delete => OpResult::Delete,
                OpCode::SetData => OpResult::SetData {
                    stat: Decode::decode(reader)?,
                },
                OpCode::Check => OpResult::Check,
                OpCode::GetData => OpResult::GetData(Decode::decode(reader)?),
                OpCode::GetChildren => OpResult::GetChildren(Decode::decode(reader)?),
                OpCode::Error => OpResult::Error(ErrorResponse::decode(reader)?.err),
                other => return Err(DecodeError::UnknownOpCode(other.into())),
            };
            results.push(result);
        }
    }
}
