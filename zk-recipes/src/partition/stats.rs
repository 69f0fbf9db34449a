//! Counters of what one member did, for dashboards and tests.

use super::event::{PartitionEvent, RevokeReason};

/// What this member has done since it started: grants, cooperative handoffs and self-fencing.
///
/// ```
/// use zk_recipes::partition::{PartitionEvent, PartitionStats, RevokeReason};
///
/// let mut stats = PartitionStats::default();
/// stats.record(&PartitionEvent::Assigned { unit: "u".into(), token: 7 });
/// stats.record(&PartitionEvent::Revoked { unit: "u".into(), token: 7, reason: RevokeReason::Suspended });
/// assert_eq!((stats.grants, stats.self_fenced), (1, 1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionStats {
    /// Units granted to this member (each with a new token).
    pub grants: u64,
    /// Units handed over cooperatively (revoke, acknowledgement, release): moved, removed or
    /// drained.
    pub handed_over: u64,
    /// Units this member stopped on its own because its session could not be proven alive
    /// (suspended, lease expired, session expired).
    pub self_fenced: u64,
}

impl PartitionStats {
    /// Counts one event.
    ///
    /// ```
    /// use zk_recipes::partition::{PartitionEvent, PartitionStats};
    /// let mut stats = PartitionStats::default();
    /// stats.record(&PartitionEvent::Assigned { unit: "a".into(), token: 7 });
    /// assert_eq!(stats.grants, 1);
    /// ```
    pub fn record(&mut self, event: &PartitionEvent) {
        match event {
            PartitionEvent::Assigned { .. } => self.grants += 1,
            PartitionEvent::Revoking { .. } => {}
            PartitionEvent::Revoked { reason, .. } => match reason {
                RevokeReason::Moved | RevokeReason::Removed | RevokeReason::Shutdown => {
                    self.handed_over += 1;
                }
                RevokeReason::Suspended
                | RevokeReason::LeaseExpired
                | RevokeReason::SessionExpired => self.self_fenced += 1,
            },
        }
    }
}
