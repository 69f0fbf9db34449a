//! The client's error type.

use zk_proto::ErrorCode;
use zk_proto::path::PathError;

/// Everything an operation of this client can fail with.
///
/// ZooKeeper's own error codes are typed variants ([`Error::NoNode`], [`Error::NodeExists`],
/// [`Error::BadVersion`], ...); the client adds its own conditions ([`Error::ConnectionLoss`],
/// [`Error::Timeout`], [`Error::Closed`], [`Error::Protocol`], and checks of the arguments made
/// before anything is sent).
///
/// ```
/// use zk_client::Error;
/// use zk_proto::ErrorCode;
///
/// let e = Error::from(ErrorCode::NoNode);
/// assert_eq!(e, Error::NoNode);
/// assert_eq!(e.code(), Some(ErrorCode::NoNode));
/// assert!(e.to_string().starts_with("NoNode"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node does not exist (-101).
    #[error("NoNode: the node does not exist")]
    NoNode,
    /// The node already exists (-110).
    #[error("NodeExists: the node already exists")]
    NodeExists,
    /// The expected version did not match the node's (-103).
    #[error("BadVersion: the version does not match the node's")]
    BadVersion,
    /// The node has children and cannot be deleted (-111).
    #[error("NotEmpty: the node has children")]
    NotEmpty,
    /// The caller lacks the permission (-102).
    #[error("NoAuth: not authorized for this operation")]
    NoAuth,
    /// Ephemeral nodes cannot have children (-108).
    #[error("NoChildrenForEphemerals: ephemeral nodes cannot have children")]
    NoChildrenForEphemerals,
    /// The ACL is invalid (-114).
    #[error("InvalidAcl: the ACL is invalid")]
    InvalidAcl,
    /// Authentication failed (-115); the client is unusable afterwards.
    #[error("AuthFailed: authentication failed")]
    AuthFailed,
    /// The session has expired (-112); its ephemeral nodes and watches are gone.
    #[error("SessionExpired: the session has expired")]
    SessionExpired,
    /// The session moved to another server (-118).
    #[error("SessionMoved: the session moved to another server")]
    SessionMoved,
    /// The connected server is read-only (-119).
    #[error("NotReadOnly: the server is read-only")]
    NotReadOnly,
    /// No such watch (-121).
    #[error("NoWatcher: no such watch")]
    NoWatcher,
    /// Invalid arguments, as judged by the server (-8).
    #[error("BadArguments: the server rejected the arguments")]
    BadArguments,
    /// The server does not implement the operation (-6), e.g. TTL nodes without
    /// `zookeeper.extendedTypesEnabled`, or an operation newer than the server.
    #[error("Unimplemented: the server does not support this operation")]
    Unimplemented,
    /// The server could not read the request (-5).
    #[error("MarshallingError: the server could not read the request")]
    MarshallingError,
    /// A multi op after the op that failed (-2).
    #[error("RuntimeInconsistency: an earlier operation of the transaction failed")]
    RuntimeInconsistency,
    /// Reconfiguration is disabled on the server (-123).
    #[error("ReconfigDisabled: reconfiguration is disabled")]
    ReconfigDisabled,
    /// A quota was exceeded (-125).
    #[error("QuotaExceeded: a quota was exceeded")]
    QuotaExceeded,
    /// The server throttled the request (-127); retry later.
    #[error("ThrottledOp: the server throttled the request")]
    ThrottledOp,
    /// Another ZooKeeper error code.
    #[error("{0}: error reported by the server")]
    Server(ErrorCode),

    /// The connection was lost while the request was outstanding (written to the connection,
    /// no answer yet). The request may or may not have taken effect; it is not retried.
    /// [`Error::is_outcome_unknown`] is true for it.
    #[error(
        "ConnectionLoss: the connection was lost; the request may or may not have been applied"
    )]
    ConnectionLoss,
    /// The request was written to the server but its answer did not come in time
    /// ([`ClientBuilder::request_timeout`](crate::ClientBuilder::request_timeout)), or the
    /// client was closed before the answer came: the request may or may not have been applied,
    /// now or later. Re-read the state before acting on it (for a create, look for the node).
    #[error("OutcomeUnknown: the request was sent but not answered; it may or may not be applied")]
    OutcomeUnknown,
    /// No answer within the configured time, and the request was never written: it was
    /// withdrawn and will never be sent. The operation did not happen.
    #[error("Timeout: the operation did not complete in time and was never sent")]
    Timeout,
    /// The client was closed.
    #[error("Closed: the client is closed")]
    Closed,
    /// The server broke the protocol (bad frame, out-of-order reply); the connection was dropped.
    #[error("Protocol: {0}")]
    Protocol(String),
    /// The path is not a valid ZooKeeper path; nothing was sent.
    #[error("invalid path {path:?}: {source}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// What is wrong with it.
        source: PathError,
    },
    /// The request is larger than the frame limit; nothing was sent.
    #[error("request of {len} bytes exceeds the frame limit of {max} bytes")]
    RequestTooLarge {
        /// Encoded size of the request.
        len: usize,
        /// The limit (`jute.maxbuffer`).
        max: usize,
    },
    /// An argument was rejected on the client; nothing was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A connect string could not be parsed, or no host was reachable.
    #[error("connect: {0}")]
    Connect(String),
    /// A transaction (multi) failed; nothing of it was applied.
    #[error("transaction failed at operation {index}: {source}")]
    Transaction {
        /// Index of the first operation that failed.
        index: usize,
        /// Why it failed.
        source: Box<Error>,
        /// Each operation's code: 0 for those before the failure, the failure itself, and
        /// `RuntimeInconsistency` for those after it.
        codes: Vec<ErrorCode>,
    },
}

/// A `Result` with this crate's [`Error`].
///
/// ```
/// use zk_client::{Error, Result};
///
/// fn parse_version(data: &[u8]) -> Result<u32> {
///     std::str::from_utf8(data)
///         .ok()
///         .and_then(|s| s.parse().ok())
///         .ok_or_else(|| Error::InvalidArgument("not a version".into()))
/// }
/// assert_eq!(parse_version(b"42"), Ok(42));
/// assert!(parse_version(b"x").is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The ZooKeeper error code this error stands for, if any.
    ///
    /// ```
    /// assert_eq!(zk_client::Error::ConnectionLoss.code(), Some(zk_proto::ErrorCode::ConnectionLoss));
    /// assert_eq!(zk_client::Error::Closed.code(), None);
    /// ```
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            Self::NoNode => ErrorCode::NoNode,
            Self::NodeExists => ErrorCode::NodeExists,
            Self::BadVersion => ErrorCode::BadVersion,
            Self::NotEmpty => ErrorCode::NotEmpty,
            Self::NoAuth => ErrorCode::NoAuth,
            Self::NoChildrenForEphemerals => ErrorCode::NoChildrenForEphemerals,
            Self::InvalidAcl => ErrorCode::InvalidAcl,
            Self::AuthFailed => ErrorCode::AuthFailed,
            Self::SessionExpired => ErrorCode::SessionExpired,
            Self::SessionMoved => ErrorCode::SessionMoved,
            Self::NotReadOnly => ErrorCode::NotReadOnly,
            Self::NoWatcher => ErrorCode::NoWatcher,
            Self::BadArguments => ErrorCode::BadArguments,
            Self::Unimplemented => ErrorCode::Unimplemented,
            Self::MarshallingError => ErrorCode::MarshallingError,
            Self::RuntimeInconsistency => ErrorCode::RuntimeInconsistency,
            Self::ReconfigDisabled => ErrorCode::ReconfigDisabled,
            Self::QuotaExceeded => ErrorCode::QuotaExceeded,
            Self::ThrottledOp => ErrorCode::ThrottledOp,
            Self::Server(code) => *code,
            Self::ConnectionLoss => ErrorCode::ConnectionLoss,
            Self::Timeout => ErrorCode::OperationTimeout,
            Self::Transaction { source, .. } => return source.code(),
            Self::Closed
            | Self::OutcomeUnknown
            | Self::Protocol(_)
            | Self::InvalidPath { .. }
            | Self::RequestTooLarge { .. }
            | Self::InvalidArgument(_)
            | Self::Connect(_) => return None,
        })
    }

    /// A short name for the error: the ZooKeeper code name (`NoNode`, `BadVersion`, ...) or the
    /// client condition (`ConnectionLoss`, `InvalidPath`, ...). Stable; used by `zkcli`.
    ///
    /// ```
    /// assert_eq!(zk_client::Error::NoNode.name(), "NoNode");
    /// ```
    pub fn name(&self) -> String {
        match self {
            Self::Transaction { source, .. } => source.name(),
            Self::Timeout => "Timeout".to_owned(),
            Self::OutcomeUnknown => "OutcomeUnknown".to_owned(),
            Self::Closed => "Closed".to_owned(),
            Self::Protocol(_) => "Protocol".to_owned(),
            Self::InvalidPath { .. } => "InvalidPath".to_owned(),
            Self::RequestTooLarge { .. } => "RequestTooLarge".to_owned(),
            Self::InvalidArgument(_) => "InvalidArgument".to_owned(),
            Self::Connect(_) => "Connect".to_owned(),
            other => other
                .code()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "Unknown".to_owned()),
        }
    }

    /// Whether the error means the connection dropped (the session may still be alive).
    ///
    /// ```
    /// use zk_client::Error;
    ///
    /// assert!(Error::ConnectionLoss.is_connection_loss());
    /// assert!(!Error::SessionExpired.is_connection_loss());
    /// assert!(!Error::OutcomeUnknown.is_connection_loss());
    /// ```
    pub fn is_connection_loss(&self) -> bool {
        matches!(self, Self::ConnectionLoss)
    }

    /// Whether the request may have been applied although it failed: it was written to the
    /// server and its answer never came ([`Error::ConnectionLoss`], [`Error::OutcomeUnknown`]).
    /// Every other error means the request was not applied (the server refused it, or it was
    /// never sent).
    ///
    /// ```
    /// use zk_client::Error;
    ///
    /// assert!(Error::OutcomeUnknown.is_outcome_unknown());
    /// assert!(Error::ConnectionLoss.is_outcome_unknown());
    /// assert!(!Error::Timeout.is_outcome_unknown()); // never sent
    /// assert!(!Error::NodeExists.is_outcome_unknown());
    /// ```
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Self::ConnectionLoss | Self::OutcomeUnknown)
    }

    pub(crate) fn invalid_path(path: &str, source: PathError) -> Self {
        Self::InvalidPath {
            path: path.to_owned(),
            source,
        }
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::NoNode => Self::NoNode,
            ErrorCode::NodeExists => Self::NodeExists,
            ErrorCode::BadVersion => Self::BadVersion,
            ErrorCode::NotEmpty => Self::NotEmpty,
            ErrorCode::NoAuth => Self::NoAuth,
            ErrorCode::NoChildrenForEphemerals => Self::NoChildrenForEphemerals,
            ErrorCode::InvalidAcl => Self::InvalidAcl,
            ErrorCode::AuthFailed => Self::AuthFailed,
            ErrorCode::SessionExpired => Self::SessionExpired,
            ErrorCode::SessionMoved => Self::SessionMoved,
            ErrorCode::NotReadOnly => Self::NotReadOnly,
            ErrorCode::NoWatcher => Self::NoWatcher,
            ErrorCode::BadArguments => Self::BadArguments,
            ErrorCode::Unimplemented => Self::Unimplemented,
            ErrorCode::MarshallingError => Self::MarshallingError,
            ErrorCode::RuntimeInconsistency => Self::RuntimeInconsistency,
            ErrorCode::ReconfigDisabled => Self::ReconfigDisabled,
            ErrorCode::QuotaExceeded => Self::QuotaExceeded,
            ErrorCode::ThrottledOp => Self::ThrottledOp,
            ErrorCode::ConnectionLoss => Self::ConnectionLoss,
            other => Self::Server(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_variants() {
        for raw in -130..=0 {
            let code = ErrorCode::from(raw);
            if code.is_ok() {
                continue;
            }
            assert_eq!(Error::from(code).code(), Some(code), "{raw}");
        }
    }
}
