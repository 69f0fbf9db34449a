//! The bodies of the requests and responses that create, read, write, delete and check nodes and
//! their ACLs.

use bytes::Bytes;

use crate::acl::Acl;
use crate::jute::jute_record;
use crate::stat::Stat;
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
