//! The consensus core of one member: a deterministic state machine in the raft-rs mould.
//! The driver feeds it [`Input`]s ([`Peer::step`]) and proposals ([`Peer::propose`]) and
//! carries out the [`Output`]s it drains with [`Peer::take_outputs`]: messages to send,
//! things to persist (each reported back with [`Input::Persisted`] once fsynced), committed
//! entries to apply. No I/O, no clock (time is [`Input::Tick`]), no randomness.
//!
//! Role logic lives beside this file: `election.rs` (looking), `leader.rs`, `follower.rs`;
//! what a member reports of itself (role, epochs, zxids) is in `peer/views.rs`.

mod views;

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::election::Election;
use super::follower::FollowerState;
use super::history::History;
use super::leader::LeaderState;
use super::message::Message;
use super::sessions::SessionExpiry;
use super::types::{
    Config, Entry, Input, Output, PeerId, PersistId, PersistOp, ProposeError, Recovered, Snapshot,
    StartError,
};

/// Work that waits for a persist request to become durable.
#[derive(Debug, Clone)]
pub(crate) enum Deferred {
    /// Follower: acknowledge the epoch (it is now durably accepted).
    AckEpoch { epoch: u32 },
    /// Follower: acknowledge NEWLEADER (prefix through `zxid` and currentEpoch are durable).
    AckNewLeader { epoch: u32, zxid: i64 },
    /// Follower: acknowledge proposals through `zxid`.
    Ack { epoch: u32, zxid: i64 },
    /// Leader: its new acceptedEpoch is durable.
    LeaderEpochAccepted,
    /// Leader: its currentEpoch is durable.
    LeaderEpochCurrent,
    /// Leader: its own log holds `zxid` durably (its own ack).
    LeaderLogged { zxid: i64 },
}

#[derive(Debug)]
pub(crate) enum RoleState {
    Looking(Election),
    Following(FollowerState),
    Leading(Box<LeaderState>),
}

/// One member's consensus core. See the module docs.
///
/// A sketch of the driver loop (the simulation in `tests/zab_sim.rs` is a complete one):
///
/// ```
/// use zk_server_mini::zab::{Config, Input, Output, Peer, Recovered};
///
/// // An ensemble of one: it elects itself, establishes epoch 1 and serves.
/// let mut peer = Peer::new(Config::new(1, vec![1]), Recovered::default())?;
/// let mut serving = false;
/// for _ in 0..10 {
///     peer.step(Input::Tick);
///     for out in peer.take_outputs() {
///         match out {
///             // Make it durable (fsync), then report it.
///             Output::Persist { id, .. } => peer.step(Input::Persisted { id }),
///             Output::Serving(s) => serving = s,
///             _ => {}
///         }
///     }
/// }
/// assert!(serving);
/// let zxid = peer.propose(bytes::Bytes::from_static(b"txn"))?;
/// let outs = peer.take_outputs();
/// let id = outs.iter().find_map(|o| match o {
///     Output::Persist { id, .. } => Some(*id),
///     _ => None,
/// });
/// peer.step(Input::Persisted { id: id.unwrap_or_default() });
/// assert!(peer.take_outputs().iter().any(|o| matches!(o, Output::Apply(e) if e.zxid == zxid)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Peer {
    pub(crate) config: Config,
    pub(crate) accepted_epoch: u32,
    pub(crate) current_epoch: u32,
    pub(crate) history: History,
    pub(crate) snapshot: Option<Snapshot>,
    /// The last zxid handed to the driver to apply.
    pub(crate) applied: i64,
    /// The highest zxid known committed (may run ahead of the entries received so far).
    pub(crate) committed: i64,
    pub(crate) role: RoleState,
    /// Bumped on every role change: deferred work of an older role is dropped.
    pub(crate) role_gen: u64,
    pub(crate) tick: u64,
    pub(crate) election_round: u64,
    next_persist: PersistId,
    pub(crate) deferred: VecDeque<(PersistId, u64, Deferred)>,
    pub(crate) outputs: Vec<Output>,
    pub(crate) serving: bool,
    pub(crate) sessions: SessionExpiry,
    /// Read-index requests of this member's clients: id → read point once known.
    pub(crate) reads: BTreeMap<u64, Option<i64>>,
    /// A membership change logged and not yet applied, with its zxid.
    pub(crate) pending_members: Option<(i64, super::membership::Members)>,
    /// A leader that a committed change made a non-voter: set until it steps down (at the
    /// next tick).
    pub(crate) step_down: bool,
    /// The zxid of the newest membership change applied here (0: none); votes carry it.
    pub(crate) applied_change: i64,
    /// The member to vote for in the next election (a change took the leader's vote away).
    pub(crate) designated: Option<PeerId>,
    /// The voters the last change applied here took the vote from.
    pub(crate) deposed: std::collections::BTreeSet<PeerId>,
    /// A logged change took effect here since the last SNAP was installed (the driver's
    /// [`Peer::set_membership`] with the snapshot's membership must not undo it).
    pub(crate) changed_since_snap: bool,
}

impl Peer {
    /// A member starting from what recovery found; it starts looking for a leader.
    ///
    /// # Errors
    /// Recovered state this core could not have written ([`StartError`]).
    ///
    /// ```
    /// use zk_server_mini::zab::{Config, Peer, Recovered, Role};
    /// let peer = Peer::new(Config::new(2, vec![1, 2, 3]), Recovered::default())?;
    /// assert_eq!(peer.role(), Role::Looking);
    /// assert!(!peer.is_serving());
    /// # Ok::<(), zk_server_mini::zab::StartError>(())
    /// ```
    pub fn new(config: Config, recovered: Recovered) -> Result<Self, StartError> {
        // With dynamic membership a member may start outside the membership it last saw
        // (a server being added, or one restarted after its state moved on).
        if config.membership.is_none() && !config.is_member(config.id) {
            return Err(StartError::NotAMember(config.id));
        }
        if config.members.is_empty() {
            return Err(StartError::NoVoters);
        }
        let mut seen = std::collections::BTreeSet::new();
        let all = config.members.iter().chain(&config.observers);
        if let Some(dup) = all.clone().find(|m| !seen.insert(**m)) {
            return Err(StartError::DuplicateMember(*dup));
        }
        if recovered.current_epoch > recovered.accepted_epoch {
            return Err(StartError::EpochsInverted {
                accepted: recovered.accepted_epoch,
                current: recovered.current_epoch,
            });
        }
        let base = recovered.snapshot.as_ref().map_or(0, |s| s.zxid);
        let mut history = History::new(base);
        let mut logged_changes = Vec::new();
        for entry in recovered.log {
            if entry.zxid <= base {
                continue;
            }
            if config
                .membership
                .is_some_and(|d| d.decode(&entry.payload).is_some())
            {
                logged_changes.push(entry.clone());
            }
            history
                .append(entry)
                .map_err(|g| StartError::Discontinuous {
                    previous: g.last,
                    zxid: g.zxid,
                })?;
        }
        let sessions = SessionExpiry::new(config.tick_ms);
        let mut peer = Self {
            accepted_epoch: recovered.accepted_epoch,
            current_epoch: recovered.current_epoch,
            history,
            // Only its zxid is kept: a SNAP is made from the applied state on demand.
            snapshot: recovered.snapshot.map(|s| Snapshot {
                zxid: s.zxid,
                data: Bytes::new(),
            }),
            applied: base,
            committed: base,
            role: RoleState::Looking(Election::default()),
            role_gen: 0,
            tick: 0,
            election_round: 0,
            next_persist: 0,
            deferred: VecDeque::new(),
            outputs: Vec::new(),
            serving: false,
            sessions,
            reads: BTreeMap::new(),
            pending_members: None,
            step_down: false,
            applied_change: config.membership_version,
            designated: None,
            deposed: std::collections::BTreeSet::new(),
            changed_since_snap: false,
            config,
        };
        for entry in &logged_changes {
            peer.note_logged(entry);
        }
        peer.become_looking();
        Ok(peer)
    }

    /// Drains the outputs produced so far, in the order they must be carried out.
    ///
    /// ```
    /// # use zk_server_mini::zab::{Config, Input, Output, Peer, Recovered};
    /// # fn run(peer: &mut Peer) -> Vec<Output> {
    /// #     let mut seen = Vec::new();
    /// #     for _ in 0..10 {
    /// #         peer.step(Input::Tick);
    /// #         for out in peer.take_outputs() {
    /// #             if let Output::Persist { id, .. } = &out { peer.step(Input::Persisted { id: *id }); }
    /// #             seen.push(out);
    /// #         }
    /// #     }
    /// #     seen
    /// # }
    /// # fn serving() -> Peer {
    /// #     let mut peer = Peer::new(Config::new(1, vec![1]), Recovered::default()).unwrap();
    /// #     run(&mut peer);
    /// #     assert!(peer.is_serving());
    /// #     peer
    /// # }
    /// let mut peer = Peer::new(Config::new(1, vec![1]), Recovered::default()).unwrap();
    /// peer.step(Input::Tick);
    /// let outputs = peer.take_outputs(); // carry them out in this order
    /// assert!(peer.take_outputs().is_empty()); // drained
    /// # drop(outputs);
    /// ```
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// Feeds one input.
    ///
    /// ```
    /// # use zk_server_mini::zab::{Config, Input, Output, Peer, Recovered};
    /// # fn run(peer: &mut Peer) -> Vec<Output> {
    /// #     let mut seen = Vec::new();
    /// #     for _ in 0..10 {
    /// #         peer.step(Input::Tick);
    /// #         for out in peer.take_outputs() {
    /// #             if let Output::Persist { id, .. } = &out { peer.step(Input::Persisted { id: *id }); }
    /// #             seen.push(out);
    /// #         }
    /// #     }
    /// #     seen
    /// # }
    /// # fn serving() -> Peer {
    /// #     let mut peer = Peer::new(Config::new(1, vec![1]), Recovered::default()).unwrap();
    /// #     run(&mut peer);
    /// #     assert!(peer.is_serving());
    /// #     peer
    /// # }
    /// let mut peer = Peer::new(Config::new(1, vec![1]), Recovered::default()).unwrap();
    /// peer.step(Input::Tick); // time passes: elections, heartbeats, session expiry
    /// for out in peer.take_outputs() {
    ///     if let Output::Persist { id, .. } = out {
    ///         // ... after the fsync:
    ///         peer.step(Input::Persisted { id });
    ///     }
    /// }
    /// ```
    pub fn step(&mut self, input: Input) {
        match input {
            Input::Tick => self.on_tick(),
            Input::Message { from, message } => self.on_message(from, message),
            Input::Persisted { id } => self.on_persisted(id),
            Input::Forward { payload } => self.on_forward(payload),
            Input::ReadIndex { id } => self.on_read_index(id),
            Input::Touch { session } => self.on_touch(session),
            Input::SessionOpened {
                session,
                timeout_ms,
            } => {
                let leading = self.leading_epoch().is_some();
                self.sessions
                    .opened(session, timeout_ms, self.now_ms(), leading);
            }
            Input::SessionClosed { session } => self.sessions.closed(session),
            Input::SnapshotTaken(snapshot) => self.on_snapshot_taken(snapshot),
            Input::PeerLost { peer } => {
                if self.role().leader() == Some(peer) {
                    tracing::info!(leader = peer, "connection from the leader lost; looking");
                    self.become_looking();
                }
            }
        }
    }

    /// At the serving leader: assigns the next zxid to `payload`, logs and proposes it.
    /// The entry is applied ([`Output::Apply`]) once a quorum has logged it.
    ///
    /// # Errors
    /// [`ProposeError`]: not the serving leader, too many uncommitted proposals, or the
    /// epoch's counter is exhausted.
    ///
    /// ```
    /// # use zk_server_mini::zab::{Config, Input, Output, Peer, Recovered};
    /// # fn run(peer: &mut Peer) -> Vec<Output> {
    /// #     let mut seen = Vec::new();
    /// #     for _ in 0..10 {
    /// #         peer.step(Input::Tick);
    /// #         for out in peer.take_outputs() {
    /// #             if let Output::Persist { id, .. } = &out { peer.step(Input::Persisted { id: *id }); }
    /// #             seen.push(out);
    /// #         }
    /// #     }
    /// #     seen
    /// # }
    /// # fn serving() -> Peer {
    /// #     let mut peer = Peer::new(Config::new(1, vec![1]), Recovered::default()).unwrap();
    /// #     run(&mut peer);
    /// #     assert!(peer.is_serving());
    /// #     peer
    /// # }
    /// let mut looking = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default()).unwrap();
    /// assert!(looking.propose(bytes::Bytes::new()).is_err()); // not the serving leader
    /// let mut peer = serving();
    /// let zxid = peer.propose(bytes::Bytes::from_static(b"txn")).unwrap();
    /// let applied = run(&mut peer);
    /// assert!(applied.iter().any(|o| matches!(o, Output::Apply(e) if e.zxid == zxid)));
    /// ```
    pub fn propose(&mut self, payload: Bytes) -> Result<i64, ProposeError> {
        self.leader_propose(payload)
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.tick.saturating_mul(self.config.tick_ms)
    }

    /// The other voting members (observers get no votes), of the committed membership and
    /// of a pending change.
    pub(crate) fn others(&self) -> Vec<PeerId> {
        let mut all: std::collections::BTreeSet<PeerId> =
            self.config.members.iter().copied().collect();
        if let Some((_, next)) = &self.pending_members {
            all.extend(next.voters.iter().copied());
        }
        all.remove(&self.config.id);
        all.into_iter().collect()
    }

    pub(crate) fn send(&mut self, to: PeerId, mut message: Message) {
        if let Message::Vote { applied_change, .. } = &mut message {
            *applied_change = self.applied_change;
        }
        // Non-members too: a server being added learns from the leader before it is listed.
        if to != self.config.id {
            self.outputs.push(Output::Send { to, message });
        }
    }

    /// Emits a persist request; `then` runs once it is durable.
    pub(crate) fn persist(&mut self, op: PersistOp, then: Option<Deferred>) {
        self.next_persist += 1;
        let id = self.next_persist;
        self.outputs.push(Output::Persist { id, op });
        if let Some(d) = then {
            self.deferred.push_back((id, self.role_gen, d));
        }
    }

    fn on_persisted(&mut self, id: PersistId) {
        while self.deferred.front().is_some_and(|(at, _, _)| *at <= id) {
            let Some((_, generation, work)) = self.deferred.pop_front() else {
                break;
            };
            if generation == self.role_gen {
                self.run_deferred(work);
            }
        }
    }

    fn run_deferred(&mut self, work: Deferred) {
        match work {
            Deferred::AckEpoch { epoch } => self.follower_epoch_durable(epoch),
            Deferred::AckNewLeader { epoch, zxid } => self.follower_synced_durable(epoch, zxid),
            Deferred::Ack { epoch, zxid } => self.follower_logged(epoch, zxid),
            Deferred::LeaderEpochAccepted => self.leader_epoch_accepted(),
            Deferred::LeaderEpochCurrent => self.leader_epoch_current(),
            Deferred::LeaderLogged { zxid } => self.leader_logged(zxid),
        }
    }

    /// Sets the commit point (never backwards) and applies what it allows.
    pub(crate) fn commit_through(&mut self, zxid: i64) {
        if zxid > self.committed {
            self.committed = zxid;
        }
        self.apply_committed();
    }

    /// Hands every committed entry held but not yet applied to the driver, in order.
    pub(crate) fn apply_committed(&mut self) {
        let limit = self.committed.min(self.history.last());
        while self.applied < limit {
            let Some(entry) = self.history.next_after(self.applied).cloned() else {
                break;
            };
            if entry.zxid > limit {
                break;
            }
            self.applied = entry.zxid;
            let zxid = entry.zxid;
            self.outputs.push(Output::Apply(entry));
            self.note_applied(zxid);
        }
        self.history
            .trim_applied(self.applied, self.config.log_window);
        self.answer_reads();
    }

    /// Answers this member's read-index requests whose read point is applied.
    pub(crate) fn answer_reads(&mut self) {
        let ready: Vec<(u64, i64)> = self
            .reads
            .iter()
            .filter_map(|(id, at)| at.filter(|z| *z <= self.applied).map(|z| (*id, z)))
            .collect();
        for (id, zxid) in ready {
            self.reads.remove(&id);
            self.outputs.push(Output::ReadIndexReady { id, zxid });
        }
    }

    pub(crate) fn fail_reads(&mut self) {
        for id in std::mem::take(&mut self.reads).into_keys() {
            self.outputs.push(Output::ReadIndexFailed { id });
        }
    }

    pub(crate) fn set_serving(&mut self, serving: bool) {
        if self.serving != serving {
            self.serving = serving;
            self.outputs.push(Output::Serving(serving));
        }
    }

    /// Leaves whatever role this member had.
    pub(crate) fn change_role(&mut self, role: RoleState) {
        self.role_gen += 1;
        self.step_down = false;
        self.set_serving(false);
        self.sessions.follow();
        self.fail_reads();
        self.role = role;
        let r = self.role();
        self.outputs.push(Output::RoleChanged(r));
    }

    fn on_tick(&mut self) {
        self.tick += 1;
        self.finish_step_down();
        match &self.role {
            RoleState::Looking(_) => self.election_tick(),
            RoleState::Following(_) => self.follower_tick(),
            RoleState::Leading(_) => self.leader_tick(),
        }
    }

    fn on_message(&mut self, from: PeerId, message: Message) {
        // A non-member may be a server being added, or one removed: it may learn (nothing
        // it says counts).
        if from == self.config.id {
            return;
        }
        if let Message::Vote {
            round,
            vote,
            settled,
            applied_change,
        } = message
        {
            self.tell_membership(from, applied_change);
            self.learn_applied_change(applied_change);
            self.on_vote(from, round, vote, settled);
            return;
        }
        if let Message::Membership { version, members } = message {
            self.adopt_membership(version, members);
            return;
        }
        if matches!(message, Message::FollowerInfo { .. })
            && !matches!(self.role, RoleState::Leading(_))
        {
            self.not_leading(from);
            return;
        }
        match &self.role {
            RoleState::Looking(_) => {}
            RoleState::Following(_) => self.follower_message(from, message),
            RoleState::Leading(_) => self.leader_message(from, message),
        }
    }

    fn on_forward(&mut self, payload: Bytes) {
        match &self.role {
            RoleState::Leading(_) => {
                let from = self.config.id;
                self.outputs.push(Output::Forwarded { from, payload });
            }
            RoleState::Following(f) => {
                let leader = f.leader;
                self.send(leader, Message::Forward { payload });
            }
            RoleState::Looking(_) => {
                tracing::debug!("write dropped while looking for a leader");
            }
        }
    }

    fn on_read_index(&mut self, id: u64) {
        if !self.serving || self.reads.len() >= self.config.max_pending_reads {
            self.outputs.push(Output::ReadIndexFailed { id });
            return;
        }
        match &self.role {
            RoleState::Leading(_) => self.leader_read_index(None, id),
            RoleState::Following(f) => {
                let leader = f.leader;
                self.reads.insert(id, None);
                self.send(leader, Message::ReadIndex { id });
            }
            RoleState::Looking(_) => self.outputs.push(Output::ReadIndexFailed { id }),
        }
    }

    fn on_touch(&mut self, session: i64) {
        let now = self.now_ms();
        match &mut self.role {
            RoleState::Leading(_) => self.sessions.touch(session, now),
            RoleState::Following(f) => {
                if f.touches.len() < self.config.max_buffered_touches {
                    f.touches.insert(session);
                }
            }
            RoleState::Looking(_) => {}
        }
    }

    fn on_snapshot_taken(&mut self, snapshot: Snapshot) {
        // Only a snapshot of applied (so committed) state may replace log entries.
        if snapshot.zxid > self.applied || snapshot.zxid <= self.history.base() {
            return;
        }
        if self.history.compact(snapshot.zxid) {
            self.snapshot = Some(Snapshot {
                zxid: snapshot.zxid,
                data: Bytes::new(),
            });
        }
    }

    /// Replaces the local state with a leader's snapshot (SNAP).
    pub(crate) fn install_snapshot(&mut self, snapshot: Snapshot) {
        self.persist(PersistOp::InstallSnapshot(snapshot.clone()), None);
        self.history = History::new(snapshot.zxid);
        // A change pending here is either in the snapshot (its membership comes with it,
        // through `set_membership`) or gone with the log.
        self.pending_members = None;
        self.changed_since_snap = false;
        self.applied = snapshot.zxid;
        self.committed = self.committed.max(snapshot.zxid);
        self.snapshot = Some(Snapshot {
            zxid: snapshot.zxid,
            data: Bytes::new(),
        });
        self.outputs.push(Output::RestoreSnapshot(snapshot));
    }

    /// Appends entries received from the leader (sync or proposals).
    pub(crate) fn log_entries(
        &mut self,
        entries: Vec<Entry>,
        then: Option<Deferred>,
    ) -> Result<(), super::history::Gap> {
        // Checked whole before anything is appended: a refused batch leaves no trace.
        let mut last = self.history.last();
        for e in &entries {
            if !super::history::follows(last, e.zxid) {
                return Err(super::history::Gap { last, zxid: e.zxid });
            }
            last = e.zxid;
        }
        for e in &entries {
            self.history.append(e.clone())?;
            self.note_logged(e);
        }
        if !entries.is_empty() {
            self.persist(PersistOp::Append(entries), then);
        }
        Ok(())
    }
}
