//! What a partition member tells its application.

use std::fmt;
use std::time::Duration;

/// A fencing token: the `czxid` of the claim node of one grant. Every new grant of a unit,
/// to any member, has a higher token than every earlier grant of that unit.
///
/// ```no_run
/// use zk_recipes::partition::Token;
/// # fn demo(p: &zk_recipes::partition::Partitioner) {
/// if let Some(token) = p.owned_token("shard-3") {
///     let token: Token = token; // send with every write; the store rejects lower tokens
/// #   let _ = token;
/// }
/// # }
/// ```
pub type Token = i64;

/// Why this member stopped owning a unit.
///
/// ```
/// use zk_recipes::partition::RevokeReason;
///
/// assert_eq!(RevokeReason::Suspended.to_string(), "suspended");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevokeReason {
    /// The unit moved to another member; the application acknowledged the revoke.
    Moved,
    /// The unit no longer exists.
    Removed,
    /// The connection to ZooKeeper was lost: the session may still be alive, but ownership can
    /// no longer be proven. The unit is granted again, with a new token, if the session survives.
    Suspended,
    /// The lease deadline passed (the process may have been paused): the session may have expired
    /// on the server and another member may already own the unit.
    LeaseExpired,
    /// The session expired: the server deleted every claim of this member.
    SessionExpired,
    /// This member is shutting down.
    Shutdown,
}

impl fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Moved => "moved",
            Self::Removed => "removed",
            Self::Suspended => "suspended",
            Self::LeaseExpired => "lease_expired",
            Self::SessionExpired => "session_expired",
            Self::Shutdown => "shutdown",
        })
    }
}

/// One change of what this member owns.
///
/// Per unit the events alternate: `Assigned`, optionally `Revoking`, then `Revoked`. Between
/// `Assigned` and `Revoked` the application may work on the unit, and must pass the token to
/// anything downstream that can reject stale writers.
///
/// ```
/// use zk_recipes::partition::PartitionEvent;
///
/// fn describe(event: &PartitionEvent) -> String {
///     match event {
///         PartitionEvent::Assigned { unit, token } => format!("start {unit} with token {token}"),
///         PartitionEvent::Revoking { unit, .. } => format!("stop {unit}, then ack_revoked"),
///         PartitionEvent::Revoked { unit, reason, .. } => format!("{unit} gone: {reason}"),
///     }
/// }
/// assert_eq!(
///     describe(&PartitionEvent::Assigned { unit: "u1".into(), token: 7 }),
///     "start u1 with token 7"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionEvent {
    /// This member now owns `unit`; no other member does.
    Assigned {
        /// The unit.
        unit: String,
        /// The grant's fencing token.
        token: Token,
    },
    /// `unit` is moving away: stop working on it, then call `ack_revoked(unit)`. This member
    /// keeps ownership (nobody else is granted the unit) until the acknowledgement.
    Revoking {
        /// The unit.
        unit: String,
        /// The grant's token.
        token: Token,
        /// How long the application is expected to take; the unit stays unowned by others until
        /// the acknowledgement even past it (at most one owner comes first).
        deadline: Duration,
    },
    /// This member no longer owns `unit`. When the reason is not [`RevokeReason::Moved`], the
    /// application must stop at once: the revoke was not negotiated.
    Revoked {
        /// The unit.
        unit: String,
        /// The token of the grant that ended.
        token: Token,
        /// Why.
        reason: RevokeReason,
    },
}

impl PartitionEvent {
    /// The unit this event is about.
    ///
    /// ```
    /// use zk_recipes::partition::PartitionEvent;
    ///
    /// assert_eq!(PartitionEvent::Assigned { unit: "u".into(), token: 1 }.unit(), "u");
    /// ```
    pub fn unit(&self) -> &str {
        match self {
            Self::Assigned { unit, .. }
            | Self::Revoking { unit, .. }
            | Self::Revoked { unit, .. } => unit,
        }
    }
}
