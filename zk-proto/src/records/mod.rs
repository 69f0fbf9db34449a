//! The records of `zookeeper.jute` that travel between clients and servers (PROTOCOL.md §2, §3.3).
//!
//! Every record implements [`Encode`](crate::jute::Encode) and [`Decode`](crate::jute::Decode).
//! Nullable `buffer`s are `Option<Bytes>`; strings that must be present are `String` (a null one is
//! a [`DecodeError::NullString`](crate::jute::DecodeError::NullString)); vectors read a null count as empty.
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

mod handshake;
mod operations;
mod session_ops;

pub use handshake::{ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader};
pub use operations::*;
pub use session_ops::*;
