//! Access control: permission bits, identities, ACL entries and the digest scheme.
//!
//! ```
//! use zk_proto::acl::{Acl, Id, Perms};
//!
//! // Alice may do everything; everyone else may only read.
//! let acl = vec![
//!     Acl::new(Perms::ALL, Id::digest("alice", "secret")),
//!     Acl::new(Perms::READ, Id::anyone()),
//! ];
//! assert_eq!(acl[0].id.id, "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=");
//! ```

use base64::Engine as _;
use bytes::BytesMut;
use sha1::{Digest as _, Sha1};

use crate::jute::{Decode, DecodeError, Encode, JuteReader, jute_record};

/// A set of permission bits (`ACL.perms`).
///
/// ```
/// use zk_proto::acl::Perms;
///
/// let rw = Perms::READ | Perms::WRITE;
/// assert!(rw.contains(Perms::READ));
/// assert!(!rw.contains(Perms::ADMIN));
/// assert_eq!(rw.bits(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perms(i32);

impl Perms {
    /// 1: read data and list children.
    ///
    /// ```
    /// use zk_proto::acl::Perms;
    ///
    /// assert_eq!(Perms::READ.bits(), 1);
    /// ```
    pub const READ: Perms = Perms(1);
    /// 2: set data.
    ///
    /// ```
    /// use zk_proto::acl::Perms;
    ///
    /// assert_eq!(Perms::WRITE.bits(), 2);
    /// ```
    pub const WRITE: Perms = Perms(2);
    /// 4: create children.
    ///
    /// ```
    /// use zk_proto::acl::Perms;
    ///
    /// assert_eq!(Perms::CREATE.bits(), 4);
    /// ```
    pub const CREATE: Perms = Perms(4);
    /// 8: delete children.
    ///
    /// ```
    /// use zk_proto::acl::Perms;
    ///
    /// assert_eq!(Perms::DELETE.bits(), 8);
    /// ```
    pub const DELETE: Perms = Perms(8);
    /// 16: set the ACL.
    ///
    /// ```
    /// use zk_proto::acl::Perms;
    ///
    /// assert_eq!(Perms::ADMIN.bits(), 16);
    /// ```
    pub const ADMIN: Perms = Perms(16);
    /// 31: every permission.
    ///
    /// ```
    /// use zk_proto::acl::Perms;
    ///
    /// let all = Perms::READ | Perms::WRITE | Perms::CREATE | Perms::DELETE | Perms::ADMIN;
    /// assert_eq!(all, Perms::ALL);
    /// ```
    pub const ALL: Perms = Perms(31);
    /// No permission.
    ///
    /// ```
    /// use zk_proto::acl::Perms;
    ///
    /// assert_eq!(Perms::NONE, Perms::default());
    /// assert!(!Perms::NONE.intersects(Perms::ALL));
    /// ```
    pub const NONE: Perms = Perms(0);

    /// Permissions from raw bits, kept as they are (unknown bits included).
    ///
    /// ```
    /// use zk_proto::acl::Perms;
    ///
    /// assert_eq!(Perms::from_bits(3), Perms::READ | Perms::WRITE);
    /// assert_eq!(Perms::from_bits(64).bits(), 64); // unknown bits are kept
    /// ```
    pub const fn from_bits(bits: i32) -> Self {
        Perms(bits)
    }

    /// The raw bits.
    ///
    /// ```
    /// use zk_proto::acl::Perms;
    ///
    /// assert_eq!((Perms::READ | Perms::ADMIN).bits(), 17);
    /// ```
    pub const fn bits(self) -> i32 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    ///
    /// ```
    /// use zk_proto::acl::Perms;
    ///
    /// assert!(Perms::ALL.contains(Perms::READ | Perms::WRITE));
    /// assert!(!Perms::READ.contains(Perms::READ | Perms::WRITE));
    /// ```
    pub const fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set in `self`.
    ///
    /// ```
    /// use zk_proto::acl::Perms;
    ///
    /// assert!(Perms::READ.intersects(Perms::READ | Perms::WRITE));
    /// assert!(!Perms::READ.intersects(Perms::ADMIN));
    /// ```
    pub const fn intersects(self, other: Perms) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for Perms {
    type Output = Perms;
    fn bitor(self, rhs: Perms) -> Perms {
        Perms(self.0 | rhs.0)
    }
}

impl Encode for Perms {
    fn encode(&self, out: &mut BytesMut) {
        self.0.encode(out);
    }
}

impl Decode for Perms {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        reader.read_i32().map(Perms)
    }
}

/// An identity: an authentication scheme and an id in that scheme.
///
/// A null `id` on the wire is read as empty: kazoo sends its `auth` ACL entries
/// (`CREATOR_ALL_ACL`) with a null id, and the server accepts them (the id of `auth` is ignored).
/// Such an entry re-encodes with an empty id.
///
/// ```
/// let id = zk_proto::acl::Id::new("ip", "127.0.0.1");
/// assert_eq!(id.scheme, "ip");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Id {
    /// `world`, `auth`, `digest`, `ip`, `sasl`, `x509`, `super`, ...
    pub scheme: String,
    /// The id within the scheme (`anyone`, `user:hash`, an address or CIDR, ...).
    pub id: String,
}

impl Encode for Id {
    fn encode(&self, out: &mut BytesMut) {
        self.scheme.encode(out);
        self.id.encode(out);
    }
}

impl Decode for Id {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        Ok(Self {
            scheme: reader.read_string()?,
            id: reader.read_ustring()?.unwrap_or_default(),
        })
    }
}

impl Id {
    /// An identity from its scheme and id.
    ///
    /// ```
    /// use zk_proto::acl::Id;
    ///
    /// let id = Id::new("ip", "10.0.0.0/8");
    /// assert_eq!(id.to_string(), "ip:10.0.0.0/8");
    /// ```
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`, which matches every client.
    ///
    /// ```
    /// use zk_proto::acl::Id;
    ///
    /// assert_eq!(Id::anyone(), Id::new("world", "anyone"));
    /// ```
    pub fn anyone() -> Self {
        Self::new("world", "anyone")
    }

    /// `auth:` (empty id): in a create or setACL, replaced by every identity the caller has
    /// authenticated as.
    ///
    /// ```
    /// use zk_proto::acl::{Acl, Id, Perms};
    ///
    /// let id = Id::authenticated();
    /// assert_eq!((id.scheme.as_str(), id.id.as_str()), ("auth", ""));
    /// let entry = Acl::new(Perms::ALL, id); // what Acl::creator_all() holds
    /// assert_eq!(vec![entry], Acl::creator_all());
    /// ```
    pub fn authenticated() -> Self {
        Self::new("auth", "")
    }

    /// The `digest` identity a client gets after authenticating as `user:password`.
    ///
    /// ```
    /// let id = zk_proto::acl::Id::digest("alice", "secret");
    /// assert_eq!(id.to_string(), "digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=");
    /// ```
    pub fn digest(user: &str, password: &str) -> Self {
        Self::new("digest", digest_id(user, password))
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.scheme, self.id)
    }
}

/// The digest scheme's id for `user:password`: `user:base64(sha1("user:password"))`.
///
/// ```
/// assert_eq!(
///     zk_proto::acl::digest_id("alice", "secret"),
///     "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="
/// );
/// ```
pub fn digest_id(user: &str, password: &str) -> String {
    let hash = Sha1::digest(format!("{user}:{password}").as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// The digest id for an authentication token `user:password` as sent in an `AuthPacket`, or `None`
/// when the token has no `:`.
///
/// ```
/// assert_eq!(
///     zk_proto::acl::digest_id_from_token(b"alice:secret").as_deref(),
///     Some("alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=")
/// );
/// ```
pub fn digest_id_from_token(token: &[u8]) -> Option<String> {
    let token = std::str::from_utf8(token).ok()?;
    let (user, password) = token.split_once(':')?;
    Some(digest_id(user, password))
}

jute_record! {
    /// One ACL entry: the permissions an identity has.
    ///
    /// ```
    /// use zk_proto::acl::{Acl, Id, Perms};
    ///
    /// let entry = Acl::new(Perms::READ, Id::anyone());
    /// assert_eq!(entry.perms, Perms::READ);
    /// ```
    pub struct Acl {
        /// The permissions granted.
        pub perms: Perms,
        /// Who they are granted to.
        pub id: Id,
    }
}

impl Acl {
    /// An entry granting `perms` to `id`.
    ///
    /// ```
    /// use zk_proto::acl::{Acl, Id, Perms};
    ///
    /// let entry = Acl::new(Perms::READ | Perms::WRITE, Id::digest("alice", "secret"));
    /// assert!(entry.perms.contains(Perms::WRITE));
    /// assert_eq!(entry.id.scheme, "digest");
    /// ```
    pub fn new(perms: Perms, id: Id) -> Self {
        Self { perms, id }
    }

    /// `OPEN_ACL_UNSAFE`: everyone may do everything.
    ///
    /// ```
    /// assert_eq!(zk_proto::acl::Acl::open_unsafe()[0].perms, zk_proto::acl::Perms::ALL);
    /// ```
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(Perms::ALL, Id::anyone())]
    }

    /// `CREATOR_ALL_ACL`: every permission for the identities the creator authenticated as.
    ///
    /// ```
    /// use zk_proto::acl::{Acl, Perms};
    ///
    /// let acl = Acl::creator_all();
    /// assert_eq!(acl.len(), 1);
    /// assert_eq!(acl[0].perms, Perms::ALL);
    /// assert_eq!(acl[0].id.scheme, "auth");
    /// ```
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl::new(Perms::ALL, Id::authenticated())]
    }

    /// `READ_ACL_UNSAFE`: everyone may read, nobody may change anything.
    ///
    /// ```
    /// use zk_proto::acl::{Acl, Id, Perms};
    ///
    /// assert_eq!(Acl::read_unsafe(), vec![Acl::new(Perms::READ, Id::anyone())]);
    /// ```
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(Perms::READ, Id::anyone())]
    }
}
