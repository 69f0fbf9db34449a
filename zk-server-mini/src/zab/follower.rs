//! The follower: introduce itself to the elected leader, durably accept its epoch, then
//! take the sync whole and in order — install the snapshot or truncate, log the entries,
//! persist currentEpoch, and only when all of that is durable acknowledge NEWLEADER
//! (ZOOKEEPER-3911/4643/4646/4785) — then follow proposals (logged, fsynced, acknowledged
//! in order; a discontinuous one is refused: ZOOKEEPER-4925) and commits. A leader that stays
//! silent for `sync_limit` ticks is left.

use std::collections::BTreeSet;

use super::message::{Message, SyncMode};
use super::peer::{Deferred, Peer, RoleState};
use super::types::{Entry, PeerId, PersistOp};

/// Where the follower is with its leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// FOLLOWERINFO sent; waiting for LEADERINFO.
    Discovery,
    /// Accepted `epoch` (its ack may still wait for the fsync); waiting for the sync.
    AwaitSync(u32),
    /// Took the sync of `epoch`; follows proposals; waiting for UPTODATE.
    Synced(u32),
    /// Serving clients in `epoch`.
    Serving(u32),
}

#[derive(Debug, Clone)]
pub(crate) struct FollowerState {
    pub(crate) leader: PeerId,
    pub(crate) phase: Phase,
    started: u64,
    last_heard: u64,
    pub(crate) touches: BTreeSet<i64>,
    /// The highest zxid acknowledged (NEWLEADER or proposal) since the last sync.
    acked: i64,
}

/// Why a follower refused a leader's sync (it then looks for a leader again; nothing was
/// changed).
///
/// ```
/// use zk_server_mini::zab::SyncRefused;
///
/// let e = SyncRefused::TruncBelowApplied { target: 4, applied: 9 };
/// assert_eq!(e.to_string(), "TRUNC to 0x4 is below the applied 0x9");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyncRefused {
    /// TRUNC below what this member already applied (committed entries are never removed).
    #[error("TRUNC to {target:#x} is below the applied {applied:#x}")]
    TruncBelowApplied {
        /// The truncation point.
        target: i64,
        /// What was applied here.
        applied: i64,
    },
    /// SNAP of a state older than what this member already applied.
    #[error("SNAP at {snapshot:#x} is behind the applied {applied:#x}")]
    SnapBehindApplied {
        /// The snapshot's zxid.
        snapshot: i64,
        /// What was applied here.
        applied: i64,
    },
    /// TRUNC to a zxid this member's history does not contain.
    #[error("TRUNC to {0:#x}, which this history does not contain")]
    TruncUnknown(i64),
    /// Entries that do not continue this history.
    #[error("entry {zxid:#x} does not follow {last:#x}")]
    Discontinuous {
        /// The last zxid here.
        last: i64,
        /// The entry refused.
        zxid: i64,
    },
}

impl Peer {
    pub(crate) fn become_follower(&mut self, leader: PeerId) {
        let state = FollowerState {
            leader,
            phase: Phase::Discovery,
            started: self.tick,
            last_heard: self.tick,
            touches: BTreeSet::new(),
            acked: 0,
        };
        self.change_role(RoleState::Following(state));
        let accepted_epoch = self.accepted_epoch;
        self.send(leader, Message::FollowerInfo { accepted_epoch });
    }

    fn follower(&mut self) -> Option<&mut FollowerState> {
        match &mut self.role {
            RoleState::Following(f) => Some(f),
            _ => None,
        }
    }

    /// Starts over with the same leader (after a gap in its stream).
    fn resync(&mut self, why: &str) {
        tracing::info!(why, "resynchronising with the leader");
        let Some(f) = self.follower() else { return };
        let leader = f.leader;
        self.become_follower(leader);
    }

    pub(crate) fn follower_tick(&mut self) {
        let (tick, init, sync) = (
            self.tick,
            u64::from(self.config.init_limit),
            u64::from(self.config.sync_limit),
        );
        let accepted_epoch = self.accepted_epoch;
        let Some(f) = self.follower() else { return };
        let leader = f.leader;
        match f.phase {
            Phase::Serving(_) => {
                if tick.saturating_sub(f.last_heard) > sync {
                    tracing::info!(leader, "leader silent; looking for a new one");
                    self.become_looking();
                    return;
                }
                // Read-index requests still unanswered are asked again (the request or its
                // answer may have been lost; a repeated answer finds nothing to answer).
                let waiting: Vec<u64> = self
                    .reads
                    .iter()
                    .filter(|(_, at)| at.is_none())
                    .map(|(id, _)| *id)
                    .collect();
                for id in waiting {
                    self.send(leader, Message::ReadIndex { id });
                }
            }
            phase => {
                if tick.saturating_sub(f.started) > init {
                    tracing::info!(leader, "sync with the leader took too long");
                    self.become_looking();
                } else if phase == Phase::Discovery {
                    // FOLLOWERINFO may have been lost.
                    self.send(leader, Message::FollowerInfo { accepted_epoch });
                }
            }
        }
    }

    pub(crate) fn follower_message(&mut self, from: PeerId, message: Message) {
        let tick = self.tick;
        let Some(f) = self.follower() else { return };
        if from != f.leader {
            return;
        }
        let phase = f.phase;
        let following = match phase {
            Phase::Discovery => None,
            Phase::AwaitSync(e) | Phase::Synced(e) | Phase::Serving(e) => Some(e),
        };
        if let Some(e) = message.epoch()
            && following.is_some_and(|mine| mine != e)
        {
            return;
        }
        f.last_heard = tick;
        match message {
            Message::LeaderInfo { epoch } if phase == Phase::Discovery => {
                self.on_leader_info(from, epoch)
            }
            Message::Sync {
                epoch,
                follower_last,
                mode,
                entries,
                committed,
            } if phase == Phase::AwaitSync(epoch) => {
                if follower_last != self.history.last() {
                    // The answer to an earlier ACKEPOCH (delayed or duplicated): ignored;
                    // the answer to the current one follows.
                    tracing::debug!(follower_last, "stale sync ignored");
                    return;
                }
                if let Err(e) = self.take_sync(epoch, mode, entries, committed) {
                    tracing::warn!(leader = from, "sync refused: {e}");
                    self.become_looking();
                }
            }
            Message::UpToDate { epoch, committed } if phase == Phase::Synced(epoch) => {
                if let Some(f) = self.follower() {
                    f.phase = Phase::Serving(epoch);
                }
                self.commit_through(committed);
                // Applying may have changed this member's role (a membership change that
                // removed it, or changed its vote: it resyncs): then it does not serve.
                if self.synced_in(epoch) {
                    self.set_serving(true);
                }
            }
            Message::Inform { entry, .. }
                if matches!(phase, Phase::Synced(_) | Phase::Serving(_)) && self.is_observer() =>
            {
                self.on_inform(entry)
            }
            Message::Proposal { epoch, entry }
                if matches!(phase, Phase::Synced(_) | Phase::Serving(_)) && !self.is_observer() =>
            {
                self.on_proposal(epoch, entry)
            }
            // The leader sends this member the other stream: their views of its vote differ
            // (a membership change one of them has and the other not yet): start over, the
            // sync brings the change.
            Message::Inform { .. } | Message::Proposal { .. }
                if matches!(phase, Phase::Synced(_) | Phase::Serving(_)) =>
            {
                self.resync("the leader counts this member's vote otherwise");
            }
            Message::Commit { zxid, .. }
                if matches!(phase, Phase::Synced(_) | Phase::Serving(_)) && !self.is_observer() =>
            {
                // Over FIFO links the proposal comes before its commit: a commit beyond
                // the last entry here means proposals were lost.
                if zxid > self.history.last() {
                    self.resync("commit beyond the last proposal received");
                } else {
                    self.commit_through(zxid);
                }
            }
            Message::Ping {
                epoch,
                committed,
                last,
                round,
            } if matches!(phase, Phase::Synced(_) | Phase::Serving(_)) => {
                // An observer is sent committed entries only: `last` says nothing to it.
                let expected = if self.is_observer() {
                    committed
                } else {
                    committed.max(last)
                };
                if expected > self.history.last() {
                    self.resync("proposals were lost on the way");
                    return;
                }
                self.commit_through(committed);
                if !self.synced_in(epoch) {
                    // A membership change applied just now removed this member or made it
                    // start over: the old stream's ping is not answered.
                    return;
                }
                let (touches, acked) = self
                    .follower()
                    .map(|f| {
                        (
                            std::mem::take(&mut f.touches).into_iter().collect(),
                            f.acked,
                        )
                    })
                    .unwrap_or_default();
                self.send(
                    from,
                    Message::PingAck {
                        epoch,
                        round,
                        acked,
                        touches,
                    },
                );
            }
            Message::ReadIndexReply { id, zxid, .. } => {
                if let Some(at) = self.reads.get_mut(&id) {
                    *at = Some(zxid);
                }
                self.answer_reads();
            }
            // Anything else is out of place here (a duplicate or a message of another
            // phase): dropped.
            _ => {}
        }
    }

    /// Whether this member still follows in `epoch`, synced (a commit applied since may
    /// have changed its role).
    fn synced_in(&self, epoch: u32) -> bool {
        matches!(&self.role, RoleState::Following(f)
            if matches!(f.phase, Phase::Synced(e) | Phase::Serving(e) if e == epoch))
    }

    fn on_leader_info(&mut self, leader: PeerId, epoch: u32) {
        if epoch < self.accepted_epoch && !self.votes(self.config.id) {
            // A non-voter promised nothing by accepting an epoch (its acks never count), so
            // it takes an older one rather than stay out for the leader's whole epoch.
            if let Some(f) = self.follower() {
                f.phase = Phase::AwaitSync(epoch);
            }
            self.send_ack_epoch(leader, epoch, false);
            return;
        }
        if epoch < self.accepted_epoch {
            let accepted_epoch = self.accepted_epoch;
            self.send(
                leader,
                Message::RejectEpoch {
                    epoch,
                    accepted_epoch,
                },
            );
            self.become_looking();
            return;
        }
        if let Some(f) = self.follower() {
            f.phase = Phase::AwaitSync(epoch);
        }
        if epoch > self.accepted_epoch {
            self.accepted_epoch = epoch;
            self.persist(
                PersistOp::AcceptedEpoch(epoch),
                Some(Deferred::AckEpoch { epoch }),
            );
        } else {
            // Already accepted (a repeat of our introduction): reported, not counted.
            self.send_ack_epoch(leader, epoch, false);
        }
    }

    fn send_ack_epoch(&mut self, leader: PeerId, epoch: u32, fresh: bool) {
        let (current_epoch, last_zxid) = (self.current_epoch, self.history.last());
        self.send(
            leader,
            Message::AckEpoch {
                epoch,
                fresh,
                current_epoch,
                last_zxid,
            },
        );
    }

    pub(crate) fn follower_epoch_durable(&mut self, epoch: u32) {
        let Some(f) = self.follower() else { return };
        if f.phase != Phase::AwaitSync(epoch) {
            return;
        }
        let leader = f.leader;
        self.send_ack_epoch(leader, epoch, true);
    }

    /// DIFF / TRUNC / SNAP, then the entries, then currentEpoch; the NEWLEADER ack waits
    /// for all of it to be durable (the persist requests are carried out in order).
    fn take_sync(
        &mut self,
        epoch: u32,
        mode: SyncMode,
        entries: Vec<Entry>,
        committed: i64,
    ) -> Result<(), SyncRefused> {
        // Check everything before changing anything.
        let start = match &mode {
            SyncMode::Diff => self.history.last(),
            SyncMode::Trunc(t) => {
                if *t < self.applied {
                    return Err(SyncRefused::TruncBelowApplied {
                        target: *t,
                        applied: self.applied,
                    });
                }
                if !self.history.contains(*t) {
                    return Err(SyncRefused::TruncUnknown(*t));
                }
                *t
            }
            SyncMode::Snap(s) => {
                // A snapshot behind what was applied here would take applied state back.
                if s.zxid < self.applied {
                    return Err(SyncRefused::SnapBehindApplied {
                        snapshot: s.zxid,
                        applied: self.applied,
                    });
                }
                s.zxid
            }
        };
        let mut last = start;
        for e in &entries {
            if !super::history::follows(last, e.zxid) {
                return Err(SyncRefused::Discontinuous { last, zxid: e.zxid });
            }
            last = e.zxid;
        }
        match mode {
            SyncMode::Diff => {}
            SyncMode::Trunc(t) => {
                self.history.truncate_after(t);
                self.note_truncated(t);
                self.persist(PersistOp::TruncateAfter(t), None);
            }
            SyncMode::Snap(s) => self.install_snapshot(s),
        }
        self.log_entries(entries, None)
            .map_err(|g| SyncRefused::Discontinuous {
                last: g.last,
                zxid: g.zxid,
            })?;
        // A non-voter may have taken an epoch below its acceptedEpoch: currentEpoch never
        // goes back, nor above acceptedEpoch.
        self.current_epoch = if !self.votes(self.config.id) {
            self.current_epoch.max(epoch)
        } else {
            epoch
        };
        let zxid = self.history.last();
        self.persist(
            PersistOp::CurrentEpoch(self.current_epoch),
            Some(Deferred::AckNewLeader { epoch, zxid }),
        );
        if let Some(f) = self.follower() {
            f.phase = Phase::Synced(epoch);
        }
        self.commit_through(committed);
        Ok(())
    }

    pub(crate) fn follower_synced_durable(&mut self, epoch: u32, zxid: i64) {
        let Some(f) = self.follower() else { return };
        if !matches!(f.phase, Phase::Synced(e) | Phase::Serving(e) if e == epoch) {
            return;
        }
        let leader = f.leader;
        f.acked = f.acked.max(zxid);
        self.send(leader, Message::AckNewLeader { epoch, zxid });
    }

    fn on_proposal(&mut self, epoch: u32, entry: Entry) {
        let zxid = entry.zxid;
        if zxid <= self.history.last() {
            // A duplicate (the sync already carried it, or a resent message): the zxid
            // names one entry, so there is nothing to do.
            return;
        }
        let then = Some(Deferred::Ack { epoch, zxid });
        if crate::zxid::epoch(zxid) != epoch || self.log_entries(vec![entry], then).is_err() {
            self.resync("discontinuous proposal");
        }
    }

    pub(crate) fn follower_logged(&mut self, epoch: u32, zxid: i64) {
        let Some(f) = self.follower() else { return };
        if !matches!(f.phase, Phase::Synced(e) | Phase::Serving(e) if e == epoch) {
            return;
        }
        let leader = f.leader;
        f.acked = f.acked.max(zxid);
        self.send(leader, Message::Ack { epoch, zxid });
    }
}
