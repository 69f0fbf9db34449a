//! The leader: discovery (collect FOLLOWERINFO from a quorum, pick an epoch above every
//! acceptedEpoch, wait for a quorum of fresh ACKEPOCHs whose histories are not fresher than
//! its own, persist currentEpoch), synchronisation (DIFF / TRUNC / SNAP and NEWLEADER per
//! follower, established once a quorum acknowledged NEWLEADER), then broadcast (proposals
//! committed in order once a quorum logged them), pings, read-index rounds and stepping down
//! when a quorum goes quiet.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::message::{Message, SyncMode};
use super::peer::{Deferred, Peer, RoleState};
use super::types::{Entry, Output, PeerId, PersistOp, ProposeError, Snapshot};
use crate::zxid;

/// Where a follower is in the leader's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LearnerStage {
    /// Sent FOLLOWERINFO.
    Introduced,
    /// Acknowledged the epoch.
    EpochAcked,
    /// Was sent its sync (and gets every later proposal and commit).
    Synced,
    /// Acknowledged NEWLEADER.
    NewLeaderAcked,
}

#[derive(Debug, Clone)]
pub(crate) struct Learner {
    stage: LearnerStage,
    /// (currentEpoch, last logged zxid) from its ACKEPOCH.
    history: (u32, i64),
    /// The leader's last zxid when its sync was sent (what its NEWLEADER ack covers).
    synced_to: i64,
}

/// A read-index request at the leader.
#[derive(Debug, Clone)]
struct LeaderRead {
    /// `None`: this member's own client; `Some(f)`: follower `f`'s.
    origin: Option<PeerId>,
    id: u64,
    round: u64,
    zxid: i64,
}

/// The leader's state (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct LeaderState {
    /// The epoch once chosen.
    pub(crate) epoch: Option<u32>,
    pub(crate) established: bool,
    /// Whether currentEpoch was persisted (synchronisation may start).
    syncing: bool,
    started: u64,
    learners: BTreeMap<PeerId, Learner>,
    /// acceptedEpoch reported by each member (this one included).
    infos: BTreeMap<PeerId, u32>,
    epoch_acks: BTreeSet<PeerId>,
    newleader_acks: BTreeSet<PeerId>,
    /// The highest zxid each member (this one included) has durably logged in this epoch.
    acked: BTreeMap<PeerId, i64>,
    last_heard: BTreeMap<PeerId, u64>,
    round: u64,
    round_acks: BTreeMap<PeerId, u64>,
    reads: Vec<LeaderRead>,
}

impl Peer {
    pub(crate) fn become_leader(&mut self) {
        let mut state = LeaderState {
            started: self.tick,
            ..LeaderState::default()
        };
        state.infos.insert(self.config.id, self.accepted_epoch);
        self.change_role(RoleState::Leading(Box::new(state)));
        self.try_choose_epoch();
    }

    fn leader(&mut self) -> Option<&mut LeaderState> {
        match &mut self.role {
            RoleState::Leading(l) => Some(l),
            _ => None,
        }
    }

    fn try_choose_epoch(&mut self) {
        let accepted = self.accepted_epoch;
        // Observers' acceptedEpochs raise the new epoch (so they can accept it) but do not
        // make a quorum.
        let introduced = match &self.role {
            RoleState::Leading(l) if l.epoch.is_none() => {
                self.is_quorum(|m| l.infos.contains_key(&m))
            }
            _ => false,
        };
        if !introduced {
            return;
        }
        let Some(l) = self.leader() else { return };
        let max = l.infos.values().copied().max().unwrap_or(0).max(accepted);
        let Some(epoch) = max.checked_add(1).filter(|e| *e <= 0x7fff_ffff) else {
            tracing::error!("epoch space exhausted; cannot lead");
            self.become_looking();
            return;
        };
        l.epoch = Some(epoch);
        let introduced: Vec<PeerId> = l.learners.keys().copied().collect();
        self.accepted_epoch = epoch;
        self.persist(
            PersistOp::AcceptedEpoch(epoch),
            Some(Deferred::LeaderEpochAccepted),
        );
        for f in introduced {
            self.send(f, Message::LeaderInfo { epoch });
        }
    }

    pub(crate) fn leader_epoch_accepted(&mut self) {
        let me = self.config.id;
        if let Some(l) = self.leader() {
            l.epoch_acks.insert(me);
        }
        self.try_epoch_quorum();
    }

    fn try_epoch_quorum(&mut self) {
        let mine = (self.current_epoch, self.history.last());
        let acked = match &self.role {
            RoleState::Leading(l) => self.is_quorum(|m| l.epoch_acks.contains(&m)),
            _ => false,
        };
        let Some(l) = self.leader() else { return };
        let Some(epoch) = l.epoch else { return };
        if l.syncing || !acked {
            return;
        }
        // A follower with a fresher history means the election went wrong: give up and
        // let a new one pick it (never sync a quorum to a history missing its entries).
        let ahead = l
            .epoch_acks
            .iter()
            .filter_map(|f| l.learners.get(f))
            .any(|x| x.history > mine);
        if ahead {
            tracing::warn!("a follower's history is ahead of the leader's; re-electing");
            self.become_looking();
            return;
        }
        l.syncing = true;
        self.current_epoch = epoch;
        self.persist(
            PersistOp::CurrentEpoch(epoch),
            Some(Deferred::LeaderEpochCurrent),
        );
    }

    pub(crate) fn leader_epoch_current(&mut self) {
        let me = self.config.id;
        let last = self.history.last();
        let Some(l) = self.leader() else { return };
        l.newleader_acks.insert(me);
        l.acked.insert(me, last);
        let ready: Vec<PeerId> = l
            .learners
            .iter()
            .filter(|(_, x)| x.stage == LearnerStage::EpochAcked)
            .map(|(f, _)| *f)
            .collect();
        for f in ready {
            self.sync_learner(f);
        }
        self.check_established();
    }

    /// Sends `f` everything it needs to reach this history, and NEWLEADER with it; from
    /// here on every proposal and commit goes to `f` too (no gap, no duplicate: the sync
    /// ends at the last proposal, and the next message is the next proposal).
    fn sync_learner(&mut self, f: PeerId) {
        let committed = self.committed;
        let last = self.history.last();
        let Some(epoch) = self.leader().and_then(|l| l.epoch) else {
            return;
        };
        let Some(theirs) = self
            .leader()
            .and_then(|l| l.learners.get(&f))
            .map(|x| x.history.1)
        else {
            return;
        };
        // A server being added, with nothing yet, gets a SNAP as soon as there is state: its
        // initial state holds its own configuration file's membership, not the ensemble's.
        let fresh = theirs == 0 && self.applied > 0 && !self.config.is_member(f);
        let (mode, from) = match self.history.floor(theirs).filter(|_| !fresh) {
            Some(z) if z == theirs => (SyncMode::Diff, z),
            Some(z) => (SyncMode::Trunc(z), z),
            // Behind the in-memory window: a snapshot of the applied state, whose data the
            // driver fills in when it sends it (see `SyncMode::Snap`).
            None => (
                SyncMode::Snap(Snapshot::of_applied(self.applied)),
                self.applied,
            ),
        };
        let entries: Vec<Entry> = self.history.after(from).cloned().collect();
        if let Some(l) = self.leader()
            && let Some(x) = l.learners.get_mut(&f)
        {
            x.stage = LearnerStage::Synced;
            x.synced_to = last;
        }
        self.send(
            f,
            Message::Sync {
                epoch,
                follower_last: theirs,
                mode,
                entries,
                committed,
            },
        );
    }

    fn check_established(&mut self) {
        let acked = match &self.role {
            RoleState::Leading(l) => self.is_quorum(|m| l.newleader_acks.contains(&m)),
            _ => false,
        };
        let Some(l) = self.leader() else { return };
        if l.established || !acked {
            return;
        }
        l.established = true;
        let Some(epoch) = l.epoch else { return };
        let acked: Vec<PeerId> = l
            .learners
            .iter()
            .filter(|(_, x)| x.stage == LearnerStage::NewLeaderAcked)
            .map(|(f, _)| *f)
            .collect();
        // The whole initial history is on a quorum, durably, under this epoch: committed.
        // The learners are told before it is applied here: applying a membership change
        // that takes this member's vote away makes it step down at once.
        let last = self.history.last();
        for f in acked {
            self.send(
                f,
                Message::UpToDate {
                    epoch,
                    committed: last,
                },
            );
        }
        self.commit_through(last);
        if self.step_down {
            // Its history took its vote away: it never serves this epoch (no answers are
            // owed: nothing was proposed in it).
            self.finish_step_down();
        }
        if self.leading_epoch() != Some(epoch) {
            return;
        }
        let now = self.now_ms();
        self.sessions.lead(now);
        self.set_serving(true);
    }

    pub(crate) fn leader_message(&mut self, from: PeerId, message: Message) {
        let (tick, me, last) = (self.tick, self.config.id, self.history.last());
        let voter = self.votes(from);
        let Some(l) = self.leader() else { return };
        if let Some(e) = message.epoch()
            && Some(e) != l.epoch
        {
            return;
        }
        if message.epoch().is_some() {
            l.last_heard.insert(from, tick);
        }
        match message {
            Message::FollowerInfo { accepted_epoch } => {
                l.last_heard.insert(from, tick);
                l.infos.insert(from, accepted_epoch);
                l.learners.insert(
                    from,
                    Learner {
                        stage: LearnerStage::Introduced,
                        history: (0, 0),
                        synced_to: 0,
                    },
                );
                l.acked.remove(&from);
                l.newleader_acks.remove(&from);
                if let Some(epoch) = l.epoch {
                    self.send(from, Message::LeaderInfo { epoch });
                } else {
                    self.try_choose_epoch();
                }
            }
            Message::AckEpoch {
                fresh,
                current_epoch,
                last_zxid,
                ..
            } => {
                let fresh = fresh && voter;
                let Some(x) = l.learners.get_mut(&from) else {
                    return;
                };
                if x.stage != LearnerStage::Introduced {
                    return;
                }
                x.stage = LearnerStage::EpochAcked;
                x.history = (current_epoch, last_zxid);
                if fresh {
                    l.epoch_acks.insert(from);
                }
                if l.syncing {
                    if l.newleader_acks.contains(&me) {
                        self.sync_learner(from);
                    }
                } else {
                    self.try_epoch_quorum();
                }
            }
            Message::RejectEpoch { accepted_epoch, .. } => {
                tracing::info!(from, accepted_epoch, "follower refused our epoch");
                l.learners.remove(&from);
                if voter && l.epoch.is_some_and(|e| accepted_epoch > e) {
                    // It promised a later epoch (to a would-be leader that never got a
                    // quorum) and can never join this one. Without stepping down it would
                    // stay out for as long as this leader lives; the next election picks
                    // an epoch it can accept.
                    tracing::info!(from, "stepping down so that the member can rejoin");
                    self.become_looking();
                }
            }
            Message::AckNewLeader { epoch, zxid } => {
                let Some(x) = l.learners.get_mut(&from) else {
                    return;
                };
                // Only an ack of the sync sent last moves the follower on (an earlier one
                // may arrive late, covering less).
                if x.stage != LearnerStage::Synced || zxid != x.synced_to {
                    return;
                }
                x.stage = LearnerStage::NewLeaderAcked;
                if voter {
                    let mine = l.acked.entry(from).or_insert(zxid);
                    *mine = (*mine).max(zxid);
                    l.newleader_acks.insert(from);
                }
                if l.established {
                    let committed = self.committed;
                    self.send(from, Message::UpToDate { epoch, committed });
                    self.try_commit();
                } else {
                    self.check_established();
                }
            }
            Message::Ack { zxid, .. } => {
                let synced = l
                    .learners
                    .get(&from)
                    .is_some_and(|x| x.stage >= LearnerStage::Synced);
                if voter && synced && zxid <= last {
                    let mine = l.acked.entry(from).or_insert(zxid);
                    *mine = (*mine).max(zxid);
                    self.try_commit();
                }
            }
            Message::PingAck {
                round,
                touches,
                acked,
                ..
            } => {
                if voter {
                    let r = l.round_acks.entry(from).or_insert(round);
                    *r = (*r).max(round);
                }
                // A resent ack, as an ACK would be counted.
                let synced = l
                    .learners
                    .get(&from)
                    .is_some_and(|x| x.stage >= LearnerStage::Synced);
                if voter && synced && acked > 0 && acked <= last {
                    let mine = l.acked.entry(from).or_insert(acked);
                    *mine = (*mine).max(acked);
                }
                let now = self.now_ms();
                for s in touches {
                    self.sessions.touch(s, now);
                }
                self.try_commit();
                self.check_leader_reads();
            }
            Message::Forward { payload } => {
                self.outputs.push(Output::Forwarded { from, payload });
            }
            Message::ReadIndex { id } => self.leader_read_index(Some(from), id),
            Message::Vote { .. }
            | Message::Membership { .. }
            | Message::LeaderInfo { .. }
            | Message::Sync { .. }
            | Message::UpToDate { .. }
            | Message::Proposal { .. }
            | Message::Inform { .. }
            | Message::Commit { .. }
            | Message::Ping { .. }
            | Message::ReadIndexReply { .. } => {}
        }
    }

    /// Followers and observers that were sent their sync: they get every ping; followers
    /// every proposal and commit, observers every committed entry.
    fn synced_learners(&self) -> Vec<PeerId> {
        match &self.role {
            RoleState::Leading(l) => l
                .learners
                .iter()
                .filter(|(_, x)| x.stage >= LearnerStage::Synced)
                .map(|(f, _)| *f)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// At a serving leader: itself and the learners that acknowledged its NEWLEADER (what a
    /// membership change needs a quorum of among its new voters, as ZooKeeper's leader
    /// checks); `None` elsewhere.
    ///
    /// ```
    /// use zk_server_mini::zab::{Config, Peer, Recovered};
    /// let peer = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default())?;
    /// assert!(peer.synced_members().is_none()); // not leading
    /// # Ok::<(), zk_server_mini::zab::StartError>(())
    /// ```
    pub fn synced_members(&self) -> Option<BTreeSet<PeerId>> {
        let RoleState::Leading(l) = &self.role else {
            return None;
        };
        if !l.established {
            return None;
        }
        let mut all: BTreeSet<PeerId> = l
            .learners
            .iter()
            .filter(|(_, x)| x.stage == LearnerStage::NewLeaderAcked)
            .map(|(f, _)| *f)
            .collect();
        all.insert(self.config.id);
        Some(all)
    }

    /// Synced followers, voting or not (a learner not in the membership is a non-voting
    /// follower): they get proposals and commits; only voters' acks count.
    fn synced_followers(&self) -> Vec<PeerId> {
        let mut all = self.synced_learners();
        all.retain(|f| !self.informed(*f));
        all
    }

    /// Synced observers: they get committed entries (INFORM).
    fn synced_observers(&self) -> Vec<PeerId> {
        let mut all = self.synced_learners();
        all.retain(|f| self.informed(*f));
        all
    }

    pub(crate) fn leader_propose(&mut self, payload: Bytes) -> Result<i64, ProposeError> {
        let last = self.history.last();
        let committed = self.committed;
        let max = self.config.max_uncommitted;
        // Uncommitted proposals: counted by zxid within the epoch (no walk over the log).
        let pending = if zxid::epoch(last) == zxid::epoch(committed) {
            (zxid::counter(last).saturating_sub(zxid::counter(committed))) as usize
        } else {
            self.history.after(committed).count()
        };
        let stepping_down = self.step_down;
        let Some(l) = self.leader() else {
            return Err(ProposeError::NotLeader);
        };
        let (true, Some(epoch), false) = (l.established, l.epoch, stepping_down) else {
            return Err(ProposeError::NotLeader);
        };
        if pending >= max {
            return Err(ProposeError::Backpressure);
        }
        let zxid = if zxid::epoch(last) == epoch {
            match zxid::next(last) {
                Some(z) => z,
                None => {
                    // ZOOKEEPER-1277: the counter is spent; a new epoch needs an election.
                    tracing::warn!("zxid counter exhausted; stepping down for a new epoch");
                    self.become_looking();
                    return Err(ProposeError::EpochExhausted);
                }
            }
        } else {
            zxid::make(epoch, 1)
        };
        let entry = Entry { zxid, payload };
        if self.history.append(entry.clone()).is_err() {
            return Err(ProposeError::EpochExhausted);
        }
        self.note_logged(&entry);
        self.persist(
            PersistOp::Append(vec![entry.clone()]),
            Some(Deferred::LeaderLogged { zxid }),
        );
        for f in self.synced_followers() {
            self.send(
                f,
                Message::Proposal {
                    epoch,
                    entry: entry.clone(),
                },
            );
        }
        Ok(zxid)
    }

    pub(crate) fn leader_logged(&mut self, zxid: i64) {
        let me = self.config.id;
        if let Some(l) = self.leader() {
            let mine = l.acked.entry(me).or_insert(zxid);
            *mine = (*mine).max(zxid);
        }
        self.try_commit();
    }

    /// Commits the highest zxid a quorum has logged (acks are cumulative: a member that
    /// logged `z` logged everything before it in this epoch).
    fn try_commit(&mut self) {
        let Some(l) = (match &self.role {
            RoleState::Leading(l) => Some(l),
            _ => None,
        }) else {
            return;
        };
        let (true, Some(epoch)) = (l.established, l.epoch) else {
            return;
        };
        // The highest zxid the members that logged it make a quorum of (acks are
        // cumulative; with a membership change pending, of both memberships).
        let mut candidates: Vec<i64> = l.acked.values().copied().collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates.dedup();
        let point = candidates
            .into_iter()
            .take_while(|z| *z > self.committed)
            .find(|z| self.is_quorum(|m| l.acked.get(&m).is_some_and(|a| a >= z)));
        let Some(point) = point else { return };
        let before = self.committed;
        // The learners are told before the entries are applied here: applying a membership
        // change that takes this member's vote away makes it step down at once (and applying
        // may drop the entries from memory, past the log window).
        for f in self.synced_followers() {
            self.send(f, Message::Commit { epoch, zxid: point });
        }
        let observers = self.synced_observers();
        self.inform_observers(epoch, &observers, before, point);
        self.commit_through(point);
        self.check_leader_reads();
    }

    pub(crate) fn leader_tick(&mut self) {
        let (tick, me) = (self.tick, self.config.id);
        let (init_limit, sync_limit) = (
            u64::from(self.config.init_limit),
            u64::from(self.config.sync_limit),
        );
        let committed = self.committed;
        let alive = match &self.role {
            RoleState::Leading(l) => self.is_quorum(|m| {
                m == me
                    || l.last_heard
                        .get(&m)
                        .is_some_and(|at| tick.saturating_sub(*at) <= sync_limit)
            }),
            _ => false,
        };
        let Some(l) = self.leader() else { return };
        if !l.established {
            if tick.saturating_sub(l.started) > init_limit {
                tracing::info!("no quorum established the epoch in time; re-electing");
                self.become_looking();
            }
            return;
        }
        if !alive {
            tracing::info!("lost the quorum; stepping down");
            self.become_looking();
            return;
        }
        let Some(epoch) = l.epoch else { return };
        let round = l.round;
        let last = self.history.last();
        self.ping_learners(epoch, committed, last, round);
        let now = self.now_ms();
        for session in self.sessions.expired(now) {
            self.outputs.push(Output::ExpireSession { session });
        }
    }

    /// Pings every synced learner (the answers count for the lease and read-index `round`).
    fn ping_learners(&mut self, epoch: u32, committed: i64, last: i64, round: u64) {
        for f in self.synced_learners() {
            self.send(
                f,
                Message::Ping {
                    epoch,
                    committed,
                    last,
                    round,
                },
            );
        }
    }

    /// Starts a read-index round: the answer waits until a quorum confirmed this member
    /// still leads after the request arrived, and everything proposed before it committed.
    pub(crate) fn leader_read_index(&mut self, origin: Option<PeerId>, id: u64) {
        let last = self.history.last();
        let max = self.config.max_pending_reads;
        let Some(l) = self.leader() else { return };
        let (true, Some(epoch), true) = (l.established, l.epoch, l.reads.len() < max) else {
            // Not leading yet, or too many rounds waiting: a local request fails at once (a
            // forwarded one is asked again by its follower).
            if origin.is_none() {
                self.outputs.push(Output::ReadIndexFailed { id });
            }
            return;
        };
        l.round += 1;
        let round = l.round;
        l.reads.push(LeaderRead {
            origin,
            id,
            round,
            zxid: last,
        });
        if origin.is_none() {
            self.reads.insert(id, None);
        }
        let committed = self.committed;
        self.ping_learners(epoch, committed, last, round);
        self.check_leader_reads();
    }

    fn check_leader_reads(&mut self) {
        let committed = self.committed;
        let me = self.config.id;
        // The highest round a quorum (this leader at its own round) answered.
        let confirmed_round = match &self.role {
            RoleState::Leading(l) => {
                let round_of = |m: PeerId| {
                    if m == me {
                        l.round
                    } else {
                        l.round_acks.get(&m).copied().unwrap_or(0)
                    }
                };
                let mut rounds: Vec<u64> = l.round_acks.values().copied().collect();
                rounds.push(l.round);
                rounds.sort_unstable_by(|a, b| b.cmp(a));
                rounds.dedup();
                rounds
                    .into_iter()
                    .find(|r| self.is_quorum(|m| round_of(m) >= *r))
                    .unwrap_or(0)
            }
            _ => return,
        };
        let Some(l) = self.leader() else { return };
        let Some(epoch) = l.epoch else { return };
        let (ready, waiting): (Vec<LeaderRead>, Vec<LeaderRead>) = l
            .reads
            .drain(..)
            .partition(|r| r.round <= confirmed_round && r.zxid <= committed);
        l.reads = waiting;
        for r in ready {
            match r.origin {
                None => {
                    self.reads.insert(r.id, Some(r.zxid));
                }
                Some(f) => self.send(
                    f,
                    Message::ReadIndexReply {
                        epoch,
                        id: r.id,
                        zxid: r.zxid,
                    },
                ),
            }
        }
        self.answer_reads();
    }
}
