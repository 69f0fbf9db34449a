//! Faults and crash points the simulation injects, and deliberately broken drivers.

use zk_server_mini::zab::{Message, PersistOp};

use super::Ms;

/// A deliberately broken driver, to prove the invariants catch what each rule prevents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// The correct driver.
    None,
    /// Log appends are never fsynced, yet reported durable (acks before durability).
    AckBeforeFsync,
    /// On restart, the state machine applies every logged entry, committed or not (what
    /// ZooKeeper did by loading its txn log into the data tree).
    ApplyLoggedOnRecovery,
    /// TRUNC is acknowledged but the log file is left as it was.
    SkipTruncate,
    /// currentEpoch is written before the synced entries queued ahead of it.
    EpochBeforeHistory,
    /// The cores are configured with the observers among the voters (the checker still
    /// knows who observes): observers vote, acknowledge and count for a quorum.
    ObserversVote,
    /// The cores' quorums count the committed voters only, even while a membership change
    /// is pending (a test-only knob in the core: `Config::bug_committed_quorum_only`).
    CommittedQuorumOnly,
}

/// Fault rates for random runs.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Probability a message is lost.
    pub loss: f64,
    /// Probability a message is delivered twice.
    pub duplicate: f64,
    /// Probability a message ignores its link's order.
    pub reorder: f64,
    /// Largest network delay.
    pub max_delay: Ms,
    /// Mean time between crash/restart/partition events.
    pub fault_every: Ms,
    /// Whether a crash tears the write in progress.
    pub tear: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            loss: 0.02,
            duplicate: 0.02,
            reorder: 0.02,
            max_delay: 20,
            fault_every: 400,
            tear: true,
        }
    }
}

/// A crash point: the member dies around one of its persist requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashAt {
    /// Right after an op of this kind is durable, before the core hears of it.
    AfterPersist(OpKind),
    /// Right before an op of this kind is written.
    BeforePersist(OpKind),
    /// Right after the member sends a message of this kind.
    AfterSend(MsgKind),
}

/// Kinds of persist requests, for crash points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// acceptedEpoch.
    AcceptedEpoch,
    /// currentEpoch.
    CurrentEpoch,
    /// A log append.
    Append,
    /// TRUNC.
    Truncate,
    /// SNAP.
    InstallSnapshot,
}

impl OpKind {
    pub(super) fn of(op: &PersistOp) -> Self {
        match op {
            PersistOp::AcceptedEpoch(_) => Self::AcceptedEpoch,
            PersistOp::CurrentEpoch(_) => Self::CurrentEpoch,
            PersistOp::Append(_) => Self::Append,
            PersistOp::TruncateAfter(_) => Self::Truncate,
            PersistOp::InstallSnapshot(_) => Self::InstallSnapshot,
        }
    }
}

/// Kinds of messages, for crash points and filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind {
    /// ACK of NEWLEADER.
    AckNewLeader,
    /// A sync (DIFF/TRUNC/SNAP + NEWLEADER).
    Sync,
    /// A proposal.
    Proposal,
    /// A commit.
    Commit,
    /// UPTODATE.
    UpToDate,
    /// An ack.
    Ack,
    /// A ping.
    Ping,
}

impl MsgKind {
    /// The kind of `m`, if it is one of these.
    pub fn of(m: &Message) -> Option<Self> {
        Some(match m {
            Message::AckNewLeader { .. } => Self::AckNewLeader,
            Message::Sync { .. } => Self::Sync,
            Message::Proposal { .. } => Self::Proposal,
            Message::Commit { .. } => Self::Commit,
            Message::UpToDate { .. } => Self::UpToDate,
            Message::Ack { .. } => Self::Ack,
            Message::Ping { .. } => Self::Ping,
            _ => return None,
        })
    }
}
