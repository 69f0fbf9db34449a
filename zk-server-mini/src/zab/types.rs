//! The vocabulary of the consensus core: entries, snapshots, configuration, what the driver
//! feeds in ([`Input`]) and what it must do ([`Output`], [`PersistOp`]).

use bytes::Bytes;

use super::message::Message;

/// A member's id (`server.N` in `zoo.cfg`, the `myid` file).
///
/// ```
/// use zk_server_mini::zab::{Config, PeerId};
/// let members: Vec<PeerId> = vec![1, 2, 3]; // server.1 .. server.3
/// assert_eq!(Config::new(2, members).id, 2);
/// ```
pub type PeerId = u64;

/// Identifies one persist request; the driver reports completions with it, in order.
///
/// ```
/// use zk_server_mini::zab::{Input, Output, PersistId};
/// // the driver performs `Output::Persist { id, op }` in order, then reports the last one done
/// fn done(output: &Output) -> Option<Input> {
///     match output {
///         Output::Persist { id, .. } => Some(Input::Persisted { id: *id as PersistId }),
///         _ => None,
///     }
/// }
/// # let _ = done;
/// ```
pub type PersistId = u64;

/// One logged proposal: its zxid and an opaque payload (for the server, an encoded
/// transaction prepared by the leader).
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::zab::Entry;
///
/// let e = Entry { zxid: zk_server_mini::zxid::make(1, 1), payload: Bytes::from_static(b"txn") };
/// assert_eq!(zk_server_mini::zxid::epoch(e.zxid), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's place in the total order.
    pub zxid: i64,
    /// What the driver applies once the entry is committed.
    pub payload: Bytes,
}

/// The applied state at a committed zxid, serialized by the driver. The core never looks
/// inside and keeps no copy: a SNAP it sends names the zxid and the driver fills in the
/// data ([`Snapshot::of_applied`]); a snapshot taken or installed only moves its log base.
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::zab::Snapshot;
///
/// let s = Snapshot { zxid: 7, data: Bytes::from_static(b"state") };
/// assert_eq!(s.zxid, 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The last zxid the state includes (a committed one).
    pub zxid: i64,
    /// The serialized state. Empty in a SNAP the core asks for ([`Snapshot::of_applied`]):
    /// the driver fills in its applied state before the message leaves.
    pub data: Bytes,
}

impl Snapshot {
    /// A SNAP of the applied state at `zxid` whose data the driver has yet to fill in
    /// ([`Snapshot::needs_data`]): the core keeps no serialized copy of the state.
    ///
    /// ```
    /// use zk_server_mini::zab::Snapshot;
    /// let s = Snapshot::of_applied(7);
    /// assert!(s.needs_data() && s.zxid == 7);
    /// ```
    pub fn of_applied(zxid: i64) -> Self {
        Self {
            zxid,
            data: Bytes::new(),
        }
    }

    /// Whether this is a SNAP whose data the driver must fill in before sending it.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::Snapshot;
    /// assert!(!Snapshot { zxid: 7, data: Bytes::from_static(b"state") }.needs_data());
    /// ```
    pub fn needs_data(&self) -> bool {
        self.data.is_empty()
    }
}

/// Timing and membership, in ticks (ZooKeeper's `tickTime`, `initLimit`, `syncLimit`).
///
/// ```
/// use zk_server_mini::zab::Config;
///
/// let config = Config::new(1, vec![1, 2, 3]);
/// assert_eq!(config.quorum(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This member.
    pub id: PeerId,
    /// Every voting member (participant), this one included unless it is an observer.
    pub members: Vec<PeerId>,
    /// Non-voting members (`server.N=...:observer`): they learn the leader, sync and receive
    /// committed transactions, but never vote, never lead and never count for a quorum.
    pub observers: Vec<PeerId>,
    /// Ticks a new leader has to establish its epoch (discovery and sync) before it gives
    /// up, and a follower has to get through sync.
    pub init_limit: u32,
    /// Ticks without hearing from a quorum before a leader steps down, and without
    /// hearing from the leader before a follower leaves it.
    pub sync_limit: u32,
    /// Milliseconds per tick (session expiry is decided in milliseconds).
    pub tick_ms: u64,
    /// Proposals a leader keeps uncommitted before [`crate::zab::Peer::propose`] refuses
    /// more (backpressure; bounds the leader's memory).
    pub max_uncommitted: usize,
    /// Read-index requests a member keeps waiting before it refuses more.
    pub max_pending_reads: usize,
    /// Session touches a follower buffers between two pings (more are dropped, and that
    /// session may expire early: bounded memory wins over a flood of touches).
    pub max_buffered_touches: usize,
    /// Applied entries kept in memory for DIFF syncs (ZooKeeper keeps 500 committed
    /// proposals); older ones are dropped from memory and a follower behind them gets a SNAP
    /// of the applied state.
    pub log_window: usize,
    /// Recognises membership-change entries (dynamic reconfiguration); `None`: the
    /// membership never changes. See [`crate::zab::membership`].
    pub membership: Option<super::membership::MembershipDecoder>,
    /// The zxid of the committed membership change that made `members` and `observers` the
    /// membership (ZooKeeper's configuration version); 0 for the static list. Members that
    /// know an older one are sent the newer (see [`crate::zab::membership`]).
    pub membership_version: i64,
    /// Test only (the simulation's checker self-test): a deliberately broken core whose
    /// quorums count the committed voters only, even while a membership change is pending.
    /// Never set it outside tests.
    #[doc(hidden)]
    pub bug_committed_quorum_only: bool,
}

impl Config {
    /// ZooKeeper's defaults (initLimit 10, syncLimit 5, tickTime 2000) for `id` in `members`.
    ///
    /// ```
    /// use zk_server_mini::zab::Config;
    /// let c = Config::new(1, vec![1, 2, 3]);
    /// assert_eq!((c.init_limit, c.sync_limit, c.tick_ms), (10, 5, 2000));
    /// let fast = Config { tick_ms: 100, ..Config::new(1, vec![1, 2, 3]) };
    /// assert_eq!(fast.tick_ms, 100);
    /// ```
    pub fn new(id: PeerId, members: Vec<PeerId>) -> Self {
        Self {
            id,
            members,
            observers: Vec::new(),
            init_limit: 10,
            sync_limit: 5,
            tick_ms: 2000,
            max_uncommitted: 10_000,
            max_pending_reads: 10_000,
            max_buffered_touches: 100_000,
            log_window: 500,
            membership: None,
            membership_version: 0,
            bug_committed_quorum_only: false,
        }
    }

    /// The same configuration with these non-voting members (observers) added.
    ///
    /// ```
    /// use zk_server_mini::zab::Config;
    /// let c = Config::new(4, vec![1, 2, 3]).with_observers(vec![4]);
    /// assert!(c.is_observer(4) && !c.is_observer(1));
    /// assert_eq!(c.quorum(), 2); // observers never count
    /// ```
    pub fn with_observers(mut self, observers: Vec<PeerId>) -> Self {
        self.observers = observers;
        self
    }

    /// Whether `id` is an observer (a non-voting member).
    ///
    /// ```
    /// use zk_server_mini::zab::Config;
    /// let c = Config::new(1, vec![1, 2, 3]).with_observers(vec![4, 5]);
    /// assert!(c.is_observer(5));
    /// assert!(!c.is_observer(2));
    /// ```
    pub fn is_observer(&self, id: PeerId) -> bool {
        self.observers.contains(&id)
    }

    /// Whether `id` is a member at all (voting or not).
    ///
    /// ```
    /// use zk_server_mini::zab::Config;
    /// let c = Config::new(1, vec![1, 2, 3]).with_observers(vec![4]);
    /// assert!(c.is_member(4) && c.is_member(1) && !c.is_member(9));
    /// ```
    pub fn is_member(&self, id: PeerId) -> bool {
        self.members.contains(&id) || self.observers.contains(&id)
    }

    /// Members needed for a quorum (a strict majority of the voting members; observers do
    /// not count).
    ///
    /// ```
    /// use zk_server_mini::zab::Config;
    /// assert_eq!(Config::new(1, vec![1]).quorum(), 1);
    /// assert_eq!(Config::new(1, vec![1, 2, 3, 4]).quorum(), 3);
    /// assert_eq!(Config::new(1, vec![1, 2, 3, 4, 5]).quorum(), 3);
    /// ```
    pub fn quorum(&self) -> usize {
        self.members.len() / 2 + 1
    }
}

/// What recovery found on disk: the input to [`crate::zab::Peer::new`].
///
/// ```
/// use zk_server_mini::zab::Recovered;
///
/// let fresh = Recovered::default();
/// assert_eq!((fresh.accepted_epoch, fresh.current_epoch, fresh.log.len()), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The newest epoch this member promised to follow (ZooKeeper's `acceptedEpoch`).
    pub accepted_epoch: u32,
    /// The epoch of the leader whose history this member last synced to (`currentEpoch`).
    pub current_epoch: u32,
    /// The newest durable snapshot (committed state), if any.
    pub snapshot: Option<Snapshot>,
    /// Logged entries after the snapshot, oldest first. Logged is not committed: none of
    /// them is applied until a leader says so.
    pub log: Vec<Entry>,
}

/// A member's role (what the `srvr` four-letter word reports as `Mode`).
///
/// ```
/// use zk_server_mini::zab::{Config, Peer, Recovered, Role};
///
/// let peer = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default())?;
/// assert_eq!(peer.role(), Role::Looking);
/// # Ok::<(), zk_server_mini::zab::StartError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Electing a leader.
    Looking,
    /// Following `leader`.
    Following {
        /// The leader.
        leader: PeerId,
    },
    /// Leading (establishing or established).
    Leading,
    /// Observing `leader`: a non-voting member that receives committed transactions.
    Observing {
        /// The leader.
        leader: PeerId,
    },
}

impl Role {
    /// The leader this member follows or observes, if any.
    ///
    /// ```
    /// use zk_server_mini::zab::Role;
    /// assert_eq!(Role::Observing { leader: 3 }.leader(), Some(3));
    /// assert_eq!(Role::Following { leader: 2 }.leader(), Some(2));
    /// assert_eq!(Role::Leading.leader(), None);
    /// ```
    pub fn leader(self) -> Option<PeerId> {
        match self {
            Role::Following { leader } | Role::Observing { leader } => Some(leader),
            Role::Looking | Role::Leading => None,
        }
    }

    /// What `srvr` reports as `Mode` (and `mntr` as `zk_server_state`) for this role.
    ///
    /// ```
    /// use zk_server_mini::zab::Role;
    /// assert_eq!(Role::Observing { leader: 1 }.mode(), "observer");
    /// assert_eq!(Role::Leading.mode(), "leader");
    /// ```
    pub fn mode(self) -> &'static str {
        match self {
            Role::Leading => "leader",
            Role::Following { .. } => "follower",
            Role::Observing { .. } => "observer",
            Role::Looking => "looking",
        }
    }
}

/// What the driver feeds the core.
///
/// ```
/// use zk_server_mini::zab::{Config, Input, Output, Peer, Recovered};
///
/// let mut peer = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default())?;
/// peer.take_outputs();
/// peer.step(Input::Tick); // a looking member re-sends its vote every tick
/// assert!(peer.take_outputs().iter().any(|o| matches!(o, Output::Send { to: 2, .. })));
/// # Ok::<(), zk_server_mini::zab::StartError>(())
/// ```
#[derive(Debug, Clone)]
pub enum Input {
    /// One tick of the clock passed.
    Tick,
    /// A message from another member.
    Message {
        /// Its sender.
        from: PeerId,
        /// The message.
        message: Message,
    },
    /// Every persist request up to and including `id` is durable (fsynced). The driver
    /// performs persist requests in the order they were emitted.
    Persisted {
        /// The last durable request.
        id: PersistId,
    },
    /// A client write arrived here: on a follower it is forwarded to the leader, which hands
    /// it to its driver as [`Output::Forwarded`] to prepare and [`crate::zab::Peer::propose`].
    Forward {
        /// The raw request, as the driver encodes it.
        payload: bytes::Bytes,
    },
    /// A linearizable `sync()`: answered with [`Output::ReadIndexReady`] once the leader has
    /// confirmed with a quorum that it still leads and this member has applied everything
    /// the leader had proposed when the request reached it.
    ReadIndex {
        /// The driver's id for the request.
        id: u64,
    },
    /// A session was active here (a request or a ping).
    Touch {
        /// The session.
        session: i64,
    },
    /// The driver applied a create-session transaction.
    SessionOpened {
        /// The session.
        session: i64,
        /// Its negotiated timeout (ms).
        timeout_ms: u64,
    },
    /// The driver applied a close-session transaction.
    SessionClosed {
        /// The session.
        session: i64,
    },
    /// The driver made a snapshot of its applied state durable: the core may drop log
    /// entries at or below it from memory (it keeps only the zxid, never the data).
    SnapshotTaken(Snapshot),
    /// The transport lost its connection from `peer` (closed or reset, as when the process
    /// died): a follower of `peer` looks for a new leader at once instead of waiting
    /// `sync_limit` ticks (ZooKeeper's followers likewise leave on a closed socket).
    PeerLost {
        /// The peer whose connection ended.
        peer: PeerId,
    },
}

/// Something the driver must make durable, in emission order, reporting completion with
/// [`Input::Persisted`]. Acknowledgements that depend on it are sent only after that.
/// [`crate::zab::store::ZabStore::persist`] carries them out on a [`crate::disk::Disk`].
///
/// ```
/// use zk_server_mini::zab::{Config, Output, Peer, PersistOp, Recovered};
///
/// // A single member elects itself and first persists its new acceptedEpoch.
/// let mut peer = Peer::new(Config::new(1, vec![1]), Recovered::default())?;
/// let first = peer.take_outputs().into_iter().find_map(|o| match o {
///     Output::Persist { op, .. } => Some(op),
///     _ => None,
/// });
/// assert_eq!(first, Some(PersistOp::AcceptedEpoch(1)));
/// # Ok::<(), zk_server_mini::zab::StartError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistOp {
    /// Persist `acceptedEpoch`.
    AcceptedEpoch(u32),
    /// Persist `currentEpoch`.
    CurrentEpoch(u32),
    /// Append these entries to the log (contiguous after the last logged one).
    Append(Vec<Entry>),
    /// Remove every logged entry above this zxid (TRUNC). Never removes committed entries.
    TruncateAfter(i64),
    /// Make this snapshot the durable state and drop the whole log (SNAP); the snapshot
    /// must be durable before the log is dropped.
    InstallSnapshot(Snapshot),
}

/// What the driver must do, in order.
///
/// ```
/// use zk_server_mini::zab::{Config, Output, Peer, Recovered, Role};
///
/// let mut peer = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default())?;
/// let outputs = peer.take_outputs();
/// assert!(outputs.contains(&Output::RoleChanged(Role::Looking)));
/// # Ok::<(), zk_server_mini::zab::StartError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a message to another member.
    Send {
        /// The receiver.
        to: PeerId,
        /// The message.
        message: Message,
    },
    /// Make something durable, then report [`Input::Persisted`].
    Persist {
        /// The request's id.
        id: PersistId,
        /// What to persist.
        op: PersistOp,
    },
    /// Replace the applied state with this snapshot (a SNAP from the leader).
    RestoreSnapshot(Snapshot),
    /// Apply this committed entry (strictly in zxid order, each exactly once).
    Apply(Entry),
    /// The role changed.
    RoleChanged(Role),
    /// Whether clients may be served here (after UPTODATE, or a quorum of NEWLEADER acks).
    Serving(bool),
    /// At the leader: a write a follower forwarded, to prepare and propose.
    Forwarded {
        /// The follower it came from.
        from: PeerId,
        /// The raw request.
        payload: bytes::Bytes,
    },
    /// A read-index request may be answered: everything through `zxid` is applied here.
    ReadIndexReady {
        /// The driver's id.
        id: u64,
        /// The confirmed read point.
        zxid: i64,
    },
    /// A read-index request failed (leadership lost, or too many pending): the client gets
    /// a connection loss and retries elsewhere.
    ReadIndexFailed {
        /// The driver's id.
        id: u64,
    },
    /// At the leader: this session timed out; propose its close-session transaction.
    ExpireSession {
        /// The session.
        session: i64,
    },
}

/// Why [`crate::zab::Peer::propose`] refused a payload.
///
/// ```
/// use zk_server_mini::zab::{Config, Peer, ProposeError, Recovered};
///
/// let mut peer = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default())?;
/// assert_eq!(peer.propose(bytes::Bytes::new()), Err(ProposeError::NotLeader));
/// # Ok::<(), zk_server_mini::zab::StartError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// This member is not an established leader: forward the request instead.
    #[error("not the serving leader")]
    NotLeader,
    /// Too many proposals are uncommitted; try again after commits.
    #[error("too many uncommitted proposals")]
    Backpressure,
    /// The epoch's 32-bit counter is exhausted: a new election is needed (ZOOKEEPER-1277).
    #[error("zxid counter exhausted in this epoch")]
    EpochExhausted,
}

/// Why [`crate::zab::Peer::new`] refused to start: a configuration or recovered state this
/// core could not have produced.
///
/// ```
/// use zk_server_mini::zab::{Config, Peer, Recovered, StartError};
///
/// let err = Peer::new(Config::new(4, vec![1, 2, 3]), Recovered::default()).unwrap_err();
/// assert_eq!(err, StartError::NotAMember(4));
/// let err = Peer::new(Config::new(1, vec![1, 2, 2]), Recovered::default()).unwrap_err();
/// assert_eq!(err, StartError::DuplicateMember(2));
/// let observers_only = Config::new(1, vec![]).with_observers(vec![1]);
/// assert_eq!(Peer::new(observers_only, Recovered::default()).unwrap_err(), StartError::NoVoters);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// `currentEpoch` is above `acceptedEpoch`, which this core never writes.
    #[error("currentEpoch {current} is above acceptedEpoch {accepted}")]
    EpochsInverted {
        /// acceptedEpoch.
        accepted: u32,
        /// currentEpoch.
        current: u32,
    },
    /// The log does not continue the snapshot, or has a hole or a duplicate.
    #[error("log entry {zxid:#x} does not follow {previous:#x}")]
    Discontinuous {
        /// The entry before.
        previous: i64,
        /// The entry that does not follow it.
        zxid: i64,
    },
    /// This member is not in the membership list (a `myid` not among the `server.N`).
    #[error("member {0} is not in the ensemble")]
    NotAMember(PeerId),
    /// A member is listed twice (a quorum computed from the list would be wrong).
    #[error("member {0} is listed twice")]
    DuplicateMember(PeerId),
    /// Only observers are listed: nobody could ever vote.
    #[error("Observers w/o participants is an invalid configuration")]
    NoVoters,
}
