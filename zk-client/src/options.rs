//! Options of a create.

use std::time::Duration;

use bytes::Bytes;
use zk_proto::acl::Acl;
use zk_proto::multi::MultiOp;
use zk_proto::{CreateMode, CreateRequest, CreateTtlRequest, MAX_TTL_MS, OpCode, Request};

use crate::error::{Error, Result};

/// How to create a node: its mode, ACL and (for TTL modes) time to live.
///
/// ```
/// use std::time::Duration;
/// use zk_client::CreateOptions;
/// use zk_proto::CreateMode;
///
/// let eph = CreateOptions::ephemeral_sequential();
/// assert_eq!(eph.mode, CreateMode::EphemeralSequential);
/// let ttl = CreateOptions::ttl(Duration::from_secs(60));
/// assert_eq!(ttl.mode, CreateMode::PersistentWithTtl);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// The create mode.
    pub mode: CreateMode,
    /// The node's ACL (default: `world:anyone` with every permission).
    pub acl: Vec<Acl>,
    /// Time to live, for the TTL modes only.
    pub ttl: Option<Duration>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self::new(CreateMode::Persistent)
    }
}

impl CreateOptions {
    /// Options for `mode` with the open ACL and no TTL.
    ///
    /// ```
    /// use zk_client::{Acl, CreateMode, CreateOptions};
    ///
    /// let options = CreateOptions::new(CreateMode::Container);
    /// assert_eq!(options.mode, CreateMode::Container);
    /// assert_eq!(options.acl, Acl::open_unsafe());
    /// assert_eq!(options.ttl, None);
    /// ```
    pub fn new(mode: CreateMode) -> Self {
        Self {
            mode,
            acl: Acl::open_unsafe(),
            ttl: None,
        }
    }

    /// A persistent node.
    ///
    /// ```
    /// use zk_client::{CreateMode, CreateOptions};
    ///
    /// assert_eq!(CreateOptions::persistent().mode, CreateMode::Persistent);
    /// assert_eq!(CreateOptions::persistent(), CreateOptions::default());
    /// ```
    pub fn persistent() -> Self {
        Self::new(CreateMode::Persistent)
    }

    /// A node deleted when the session ends.
    ///
    /// ```
    /// use zk_client::{CreateMode, CreateOptions};
    ///
    /// assert_eq!(CreateOptions::ephemeral().mode, CreateMode::Ephemeral);
    /// ```
    pub fn ephemeral() -> Self {
        Self::new(CreateMode::Ephemeral)
    }

    /// A persistent node with a sequence suffix.
    ///
    /// ```
    /// use zk_client::{CreateMode, CreateOptions};
    ///
    /// let options = CreateOptions::persistent_sequential();
    /// assert_eq!(options.mode, CreateMode::PersistentSequential);
    /// assert!(options.mode.is_sequential());
    /// ```
    pub fn persistent_sequential() -> Self {
        Self::new(CreateMode::PersistentSequential)
    }

    /// An ephemeral node with a sequence suffix.
    ///
    /// ```
    /// use zk_client::{CreateMode, CreateOptions};
    ///
    /// let options = CreateOptions::ephemeral_sequential();
    /// assert_eq!(options.mode, CreateMode::EphemeralSequential);
    /// assert!(options.mode.is_ephemeral() && options.mode.is_sequential());
    /// ```
    pub fn ephemeral_sequential() -> Self {
        Self::new(CreateMode::EphemeralSequential)
    }

    /// A container node, deleted by the server once its last child is gone.
    ///
    /// ```
    /// use zk_client::{CreateMode, CreateOptions};
    ///
    /// assert_eq!(CreateOptions::container().mode, CreateMode::Container);
    /// ```
    pub fn container() -> Self {
        Self::new(CreateMode::Container)
    }

    /// A persistent node deleted by the server when it has had no children and no change for
    /// `ttl` (needs `zookeeper.extendedTypesEnabled=true` on the server).
    ///
    /// ```
    /// use std::time::Duration;
    /// use zk_client::{CreateMode, CreateOptions};
    ///
    /// let options = CreateOptions::ttl(Duration::from_secs(3600));
    /// assert_eq!(options.mode, CreateMode::PersistentWithTtl);
    /// assert_eq!(options.ttl, Some(Duration::from_secs(3600)));
    /// ```
    pub fn ttl(ttl: Duration) -> Self {
        Self::new(CreateMode::PersistentWithTtl).with_ttl(ttl)
    }

    /// Replaces the ACL.
    ///
    /// ```
    /// use zk_client::{Acl, CreateOptions, Id, Perms};
    ///
    /// let options = CreateOptions::persistent().with_acl(vec![Acl::new(Perms::ALL, Id::digest("alice", "secret"))]);
    /// assert_eq!(options.acl[0].id.scheme, "digest");
    /// ```
    pub fn with_acl(mut self, acl: Vec<Acl>) -> Self {
        self.acl = acl;
        self
    }

    /// Sets the time to live (the mode must be a TTL mode).
    ///
    /// ```
    /// use std::time::Duration;
    /// use zk_client::{CreateMode, CreateOptions};
    ///
    /// let options = CreateOptions::new(CreateMode::PersistentSequentialWithTtl).with_ttl(Duration::from_secs(60));
    /// assert_eq!(options.ttl, Some(Duration::from_secs(60)));
    /// ```
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Validates the path and options; returns the request to send.
    pub(crate) fn validate_path(&self, path: &str) -> Result<()> {
        let checked = if self.mode.is_sequential() {
            zk_proto::path::validate_sequential_path(path)
        } else {
            zk_proto::path::validate_path(path)
        };
        checked.map_err(|e| Error::invalid_path(path, e))
    }

    fn ttl_ms(&self) -> Result<Option<i64>> {
        match (self.mode.is_ttl(), self.ttl) {
            (true, Some(ttl)) => {
                let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
                if ms <= 0 || ms > MAX_TTL_MS {
                    return Err(Error::InvalidArgument(format!(
                        "TTL must be between 1 ms and {MAX_TTL_MS} ms, not {ttl:?}"
                    )));
                }
                Ok(Some(ms))
            }
            (true, None) => Err(Error::InvalidArgument(format!(
                "create mode {:?} needs a TTL",
                self.mode
            ))),
            (false, Some(_)) => Err(Error::InvalidArgument(format!(
                "a TTL needs a TTL create mode, not {:?}",
                self.mode
            ))),
            (false, None) => Ok(None),
        }
    }

    /// The single request (create2, createContainer or createTTL) for `server_path`.
    pub(crate) fn request(&self, server_path: String, data: Bytes) -> Result<Request> {
        let flags = i32::from(self.mode);
        Ok(match (self.ttl_ms()?, self.mode.create_opcode()) {
            (Some(ttl), _) => Request::CreateTtl(CreateTtlRequest {
                path: server_path,
                data: Some(data),
                acl: self.acl.clone(),
                flags,
                ttl,
            }),
            (None, OpCode::CreateContainer) => {
                Request::CreateContainer(self.plain(server_path, data))
            }
            (None, _) => Request::Create2(self.plain(server_path, data)),
        })
    }

    /// The op inside a multi: create (answered with the path), createContainer or createTTL.
    pub(crate) fn multi_op(&self, server_path: String, data: Bytes) -> Result<MultiOp> {
        Ok(match self.request(server_path, data)? {
            Request::CreateTtl(r) => MultiOp::CreateTtl(r),
            Request::CreateContainer(r) => MultiOp::CreateContainer(r),
            Request::Create2(r) => MultiOp::Create2(r),
            _ => return Err(Error::InvalidArgument("unexpected create request".into())),
        })
    }

    fn plain(&self, path: String, data: Bytes) -> CreateRequest {
        CreateRequest {
            path,
            data: Some(data),
            acl: self.acl.clone(),
            flags: i32::from(self.mode),
        }
    }
}
