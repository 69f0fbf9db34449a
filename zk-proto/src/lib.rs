//! The Apache ZooKeeper client wire protocol, sans I/O.
//!
//! This crate holds everything about the bytes a ZooKeeper client and server exchange and nothing
//! about sockets or runtimes: the [`jute`] encoding, every record of the protocol
//! ([`records`], [`multi`], [`Stat`], [`acl`]), the code tables ([`OpCode`], [`ErrorCode`], ...),
//! typed whole messages ([`Request`], [`Response`]), [`path`] validation and chroot helpers, and a
//! [`codec`] for length-prefixed frames. It covers ZooKeeper 3.5 to 3.9.
//!
//! Decoding never panics: any input either decodes or yields a [`DecodeError`] or
//! [`codec::FrameError`].
//!
//! ```
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//! use zk_proto::codec::FrameCodec;
//! use zk_proto::jute::{Decode, JuteReader};
//! use zk_proto::{ExistsRequest, OpCode, ReplyHeader, Request, RequestHeader, Response};
//!
//! // A client encodes a request frame...
//! let mut codec = FrameCodec::default();
//! let mut wire = BytesMut::new();
//! let request = Request::Exists(ExistsRequest { path: "/app".into(), watch: false });
//! codec.encode((RequestHeader::new(1, request.op_code()), &request), &mut wire)?;
//!
//! // ...a server reads it back.
//! let payload = codec.decode(&mut wire)?.expect("one whole frame");
//! let mut reader = JuteReader::new(payload);
//! let header = RequestHeader::decode(&mut reader)?;
//! assert_eq!(header.op, OpCode::Exists);
//! assert_eq!(Request::decode(header.op, &mut reader)?, request);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod acl;
pub mod codec;
pub mod codes;
pub mod jute;
pub mod message;
pub mod multi;
pub mod path;
pub mod records;
pub mod stat;

pub use codes::{
    AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, MAX_TTL_MS, OpCode, WatcherType,
    xid,
};
pub use jute::DecodeError;
pub use message::{Request, Response};
pub use records::*;
pub use stat::Stat;
