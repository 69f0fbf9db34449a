//! The one error type of the recipes.

use std::time::Duration;

/// Why a recipe operation failed.
///
/// ```
/// use zk_recipes::RecipeError;
/// let e = RecipeError::from(zk_client::Error::Closed);
/// assert!(matches!(e, RecipeError::Closed));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecipeError {
    /// The recipe path is not a valid ZooKeeper path; nothing was sent.
    #[error("invalid recipe path {path:?}: {reason}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The recipe path holds children that do not follow the recipe's node-name pattern for its
    /// flavour. Another program (or another flavour) uses the same path; ordering against it
    /// cannot be proven, so the recipe refuses to go on.
    #[error("{path} holds {} child(ren) foreign to this recipe: {names:?}", names.len())]
    ForeignChildren {
        /// The recipe path.
        path: String,
        /// The foreign children (at most a few).
        names: Vec<String>,
    },
    /// A semaphore's stored maximum lease count differs from the one this process was given.
    #[error("semaphore {path} stores max leases {stored}, this process uses {ours}")]
    LeaseCountMismatch {
        /// The semaphore path.
        path: String,
        /// The count stored on the server.
        stored: String,
        /// Ours.
        ours: u32,
    },
    /// The deadline passed before the recipe could finish; anything it created was removed.
    #[error("deadline of {0:?} passed")]
    Deadline(Duration),
    /// The wait was cancelled; anything it created was removed.
    #[error("cancelled")]
    Cancelled,
    /// The client is closed (or its task is gone).
    #[error("the client is closed")]
    Closed,
    /// The session ended while the recipe needed it.
    #[error("the session expired")]
    SessionExpired,
    /// The recipe instance was closed.
    #[error("the recipe instance is closed")]
    RecipeClosed,
    /// A lock-mode rule was broken (for example a reader asking to upgrade to a writer).
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// A node at a recipe path holds data this recipe did not write and cannot read (for
    /// example a partitioner's assignment written by another program). It is not trusted.
    #[error("{path} holds data foreign to this recipe: {reason}")]
    ForeignData {
        /// The node.
        path: String,
        /// Why it does not parse.
        reason: String,
    },
    /// Another live session already uses this member id in the group: two processes with the
    /// same id would share units, so the second one refuses to start.
    #[error("member id {id:?} is already in use at {path} by another session")]
    DuplicateMember {
        /// The member node.
        path: String,
        /// The id.
        id: String,
    },
    /// Any other error from the client.
    #[error(transparent)]
    Client(zk_client::Error),
}

impl From<zk_client::Error> for RecipeError {
    fn from(e: zk_client::Error) -> Self {
        match e {
            zk_client::Error::Closed => Self::Closed,
            zk_client::Error::SessionExpired => Self::SessionExpired,
            zk_client::Error::InvalidPath { path, source } => Self::InvalidPath {
                path,
                reason: source.to_string(),
            },
            other => Self::Client(other),
        }
    }
}

/// A `Result` with [`RecipeError`].
///
/// ```
/// fn check() -> zk_recipes::Result<()> {
///     zk_recipes::paths::validate("/app/lock")
/// }
/// assert!(check().is_ok());
/// ```
pub type Result<T, E = RecipeError> = std::result::Result<T, E>;
