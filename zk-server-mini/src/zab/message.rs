//! The peer protocol's messages. Our own protocol (the issue says so), with ZooKeeper's
//! phases: votes (FLE), FOLLOWERINFO / LEADERINFO / ACKEPOCH (discovery), a sync carrying
//! DIFF, TRUNC or SNAP plus NEWLEADER, ACK of NEWLEADER, UPTODATE, then PROPOSAL / ACK /
//! COMMIT and PING. Every message after election names its epoch; a member drops messages
//! of an epoch it is not in, so a delayed or duplicated message from an old leader cannot
//! touch the new history.

use bytes::Bytes;

use super::types::{Entry, PeerId, Snapshot};

/// An election vote, ordered as ZooKeeper's `totalOrderPredicate`: the higher
/// `current_epoch` wins, then the higher `last_zxid`, then the higher `id`.
///
/// ```
/// use zk_server_mini::zab::Vote;
///
/// let fresher = Vote { current_epoch: 2, last_zxid: 5, id: 1 };
/// let longer_but_older = Vote { current_epoch: 1, last_zxid: 99, id: 3 };
/// assert!(fresher > longer_but_older);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote {
    /// The candidate's currentEpoch.
    pub current_epoch: u32,
    /// The candidate's last logged zxid.
    pub last_zxid: i64,
    /// The candidate.
    pub id: PeerId,
}

/// How a follower is brought to the leader's history before NEWLEADER.
///
/// ```
/// use zk_server_mini::zab::SyncMode;
///
/// // The follower logged 0x100000007, which the leader's history does not hold; the
/// // leader's history has 0x100000005 before it: cut back to that, then take the rest.
/// let mode = SyncMode::Trunc(0x1_0000_0005);
/// assert!(matches!(mode, SyncMode::Trunc(z) if z < 0x1_0000_0007));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncMode {
    /// The follower's log is a prefix of the leader's: only the entries after it follow.
    Diff,
    /// The follower has entries the leader does not: remove everything above this zxid,
    /// then the entries after it follow.
    Trunc(i64),
    /// The follower is behind the leader's in-memory log: install the leader's applied state,
    /// then the entries after it.
    Snap(Snapshot),
}

/// A peer message. The driver encodes it on the wire (the peer protocol is ours); a message
/// that does not decode is dropped with the connection, never handed to the core.
///
/// ```
/// use zk_server_mini::zab::Message;
///
/// let m = Message::Commit { epoch: 3, zxid: 0x3_0000_0009 };
/// assert_eq!(m.epoch(), Some(3));
/// assert_eq!(Message::FollowerInfo { accepted_epoch: 2 }.epoch(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An election notification.
    Vote {
        /// The sender's election round (ZooKeeper's logical clock).
        round: u64,
        /// The vote.
        vote: Vote,
        /// `None` while the sender is looking; `Some(leader)` once it follows or leads.
        settled: Option<PeerId>,
        /// The zxid of the newest membership change the sender applied (0: none): a member
        /// holding that change logged but not applied learns that it is committed
        /// (ZooKeeper's notifications likewise carry the sender's configuration).
        applied_change: i64,
    },
    /// The sender's committed membership, to a member whose vote named an older one (it may
    /// have been away while changes committed: ZooKeeper's notifications likewise carry the
    /// sender's configuration, and a looking server adopts a newer one).
    Membership {
        /// The zxid of the change that made it the membership (its version).
        version: i64,
        /// Voters and observers.
        members: super::membership::Members,
    },
    /// A follower introduces itself to the leader it elected (FOLLOWERINFO).
    FollowerInfo {
        /// The follower's acceptedEpoch.
        accepted_epoch: u32,
    },
    /// The leader proposes its new epoch (LEADERINFO).
    LeaderInfo {
        /// The new epoch.
        epoch: u32,
    },
    /// The follower accepted the epoch (ACKEPOCH) and reports its history.
    AckEpoch {
        /// The epoch accepted.
        epoch: u32,
        /// Whether the follower persisted this epoch just now (only such acks count towards
        /// the leader's quorum: two leaders can never both collect one for the same epoch).
        fresh: bool,
        /// The follower's currentEpoch.
        current_epoch: u32,
        /// The follower's last logged zxid.
        last_zxid: i64,
    },
    /// The follower refuses the epoch: it already accepted a later one.
    RejectEpoch {
        /// The epoch refused.
        epoch: u32,
        /// The follower's acceptedEpoch.
        accepted_epoch: u32,
    },
    /// DIFF / TRUNC / SNAP and NEWLEADER in one message: the whole sync, in order.
    Sync {
        /// The leader's epoch.
        epoch: u32,
        /// The follower's last zxid this sync was planned from (from its ACKEPOCH). A
        /// follower synced more than once in an epoch takes only the sync that answers
        /// its latest ACKEPOCH: a delayed or duplicated older one could move it backwards,
        /// dropping entries it already acknowledged.
        follower_last: i64,
        /// How to reach the leader's history.
        mode: SyncMode,
        /// The leader's entries after the follower's (or the truncation point, or the
        /// snapshot), through the leader's last proposal.
        entries: Vec<Entry>,
        /// What the leader knows to be committed (the follower may apply that much).
        committed: i64,
    },
    /// The follower persisted the synced history, then currentEpoch (ACK of NEWLEADER).
    AckNewLeader {
        /// The epoch.
        epoch: u32,
        /// The last zxid of the synced history it persisted: a follower may be synced
        /// more than once in one epoch, and a late ack of an earlier sync must not count
        /// for a later, longer one.
        zxid: i64,
    },
    /// The leader is established: start serving (UPTODATE).
    UpToDate {
        /// The epoch.
        epoch: u32,
        /// Committed through this zxid.
        committed: i64,
    },
    /// A new proposal.
    Proposal {
        /// The epoch.
        epoch: u32,
        /// The entry.
        entry: Entry,
    },
    /// To an observer: a committed entry (ZooKeeper's INFORM, a proposal and its commit in
    /// one). Observers never acknowledge; they log and apply it.
    Inform {
        /// The epoch.
        epoch: u32,
        /// The committed entry.
        entry: Entry,
    },
    /// The follower logged (durably) everything through `zxid`.
    Ack {
        /// The epoch.
        epoch: u32,
        /// The last durable zxid.
        zxid: i64,
    },
    /// Everything through `zxid` is committed.
    Commit {
        /// The epoch.
        epoch: u32,
        /// The commit point.
        zxid: i64,
    },
    /// The leader's heartbeat, also a read-index round.
    Ping {
        /// The epoch.
        epoch: u32,
        /// The leader's commit point.
        committed: i64,
        /// The leader's last proposal: a follower that has less lost proposals on the way
        /// (links are FIFO) and starts over, since a lost last proposal is never followed
        /// by a gap that would reveal it.
        last: i64,
        /// The read-index round this ping confirms.
        round: u64,
    },
    /// The follower's answer to a ping, with the sessions touched since the last one.
    PingAck {
        /// The epoch.
        epoch: u32,
        /// The round answered.
        round: u64,
        /// The highest zxid this follower acknowledged in this epoch, again: a lost ACK
        /// is not resent otherwise, and the proposal would never commit.
        acked: i64,
        /// Sessions active at this follower.
        touches: Vec<i64>,
    },
    /// A client write forwarded to the leader.
    Forward {
        /// The raw request.
        payload: Bytes,
    },
    /// A follower's read-index request.
    ReadIndex {
        /// The follower's id for it.
        id: u64,
    },
    /// The leader's answer: read after applying `zxid`.
    ReadIndexReply {
        /// The epoch.
        epoch: u32,
        /// The follower's id.
        id: u64,
        /// The read point.
        zxid: i64,
    },
}

impl Message {
    /// The epoch a post-election message belongs to (votes and introductions have none).
    ///
    /// ```
    /// use zk_server_mini::zab::Message;
    /// assert_eq!(Message::Commit { epoch: 3, zxid: zk_server_mini::zxid::make(3, 9) }.epoch(), Some(3));
    /// ```
    pub fn epoch(&self) -> Option<u32> {
        match self {
            Message::Vote { .. }
            | Message::Membership { .. }
            | Message::FollowerInfo { .. }
            | Message::Forward { .. }
            | Message::ReadIndex { .. } => None,
            Message::LeaderInfo { epoch }
            | Message::AckEpoch { epoch, .. }
            | Message::RejectEpoch { epoch, .. }
            | Message::Sync { epoch, .. }
            | Message::AckNewLeader { epoch, .. }
            | Message::UpToDate { epoch, .. }
            | Message::Proposal { epoch, .. }
            | Message::Inform { epoch, .. }
            | Message::Ack { epoch, .. }
            | Message::Commit { epoch, .. }
            | Message::Ping { epoch, .. }
            | Message::PingAck { epoch, .. }
            | Message::ReadIndexReply { epoch, .. } => Some(*epoch),
        }
    }
}
