//! The `Stat` record: the metadata a server keeps for every node.

use crate::jute::jute_record;

jute_record! {
    /// A node's metadata, as returned by exists, getData, setData, create2 and others.
    ///
    /// Encoded as 68 bytes. See PROTOCOL.md §4.1 for how a server maintains each field.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use zk_proto::jute::Encode;
    ///
    /// let mut out = BytesMut::new();
    /// zk_proto::Stat::default().encode(&mut out);
    /// assert_eq!(out.len(), zk_proto::Stat::ENCODED_LEN);
    /// ```
    pub struct Stat {
        /// zxid of the transaction that created the node.
        pub czxid: i64,
        /// zxid of the last setData (equal to `czxid` until then).
        pub mzxid: i64,
        /// Creation time, milliseconds since the Unix epoch.
        pub ctime: i64,
        /// Last modification time, milliseconds since the Unix epoch.
        pub mtime: i64,
        /// Data version: 0 on create, +1 per setData.
        pub version: i32,
        /// Child version: creates plus deletes of direct children.
        pub cversion: i32,
        /// ACL version: 0 on create, +1 per setACL.
        pub aversion: i32,
        /// Owning session of an ephemeral node, else 0.
        pub ephemeral_owner: i64,
        /// Length of the data in bytes (0 for null data).
        pub data_length: i32,
        /// Number of direct children.
        pub num_children: i32,
        /// zxid of the last create or delete of a direct child.
        pub pzxid: i64,
    }
}

impl Stat {
    /// The size of an encoded `Stat`.
    ///
    /// ```
    /// use zk_proto::jute::{Decode, Encode, JuteReader};
    /// use zk_proto::Stat;
    ///
    /// let stat = Stat { version: 3, num_children: 2, ..Stat::default() };
    /// let mut out = bytes::BytesMut::new();
    /// stat.encode(&mut out);
    /// assert_eq!(out.len(), Stat::ENCODED_LEN);
    /// assert_eq!(Stat::decode(&mut JuteReader::new(out.freeze()))?, stat);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub const ENCODED_LEN: usize = 68;
}
