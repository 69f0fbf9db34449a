//! Membership changes in the simulation: the driver's reconfig (one change at a time, at
//! the serving leader), and the invariants that concern membership, checked from the
//! harness's own records (applied states, the persist requests each member emitted, what
//! is durable), never from the cores' variables:
//! - every entry a leader commits is durable on a majority of the voters of the membership
//!   its applied state holds and, if a change is logged at the leader above its applied
//!   state, of that change's voters too;
//! - a leader establishes its epoch only once a majority of those voters made the epoch
//!   their currentEpoch durably (their NEWLEADER acks);
//! - a member a committed change removed never establishes an epoch afterwards, and once it
//!   knows it was removed it never speaks as a leader (it goes on as a non-voting learner);
//! - after the faults heal every change proposed is applied or gone from every log.

use std::collections::BTreeSet;

use bytes::Bytes;
use zk_server_mini::zab::{Entry, Members, Message, PeerId};

use super::{Sim, Violation, decode_members, encode_members};

/// Kinds of membership change the driver proposes.
const KINDS: u64 = 7;

impl Sim {
    /// An ensemble of `pool` members: `voters` voters (ids 1..), `observers` observers after
    /// them, the rest not members yet (each started with a configuration that lists it as
    /// an observer, as a server being added is). Every core recognises membership changes.
    pub fn with_membership(
        pool: u64,
        voters: u64,
        observers: u64,
        seed: u64,
        bug: super::Bug,
    ) -> Self {
        let mut sim = Self::unstarted(pool, 0, seed, bug);
        sim.dynamic = true;
        sim.initial = Members::new(1..=voters, voters + 1..=voters + observers);
        sim.checker.set_initial(sim.initial.clone());
        for id in 1..=pool {
            sim.start(id);
        }
        sim
    }

    /// The membership `id`'s applied state holds.
    pub fn members_of(&self, id: PeerId) -> Members {
        self.nodes
            .get(&id)
            .and_then(|n| n.app.members.clone())
            .unwrap_or_else(|| self.initial.clone())
    }

    /// Proposes a random membership change at the serving leader, if it has none pending
    /// (the leader's rule: one change at a time). Returns the change's zxid.
    pub fn propose_change(&mut self) -> Option<i64> {
        let leader = self.leader()?;
        let peer = self.nodes.get(&leader)?.peer.as_ref()?;
        if !peer.is_serving() || peer.pending_membership().is_some() {
            return None;
        }
        let now = self.members_of(leader);
        let pool: Vec<PeerId> = self
            .nodes
            .keys()
            .copied()
            .filter(|id| !self.removed.contains(id))
            .collect();
        let pick = |sim: &mut Sim, from: Vec<PeerId>| -> Option<PeerId> {
            (!from.is_empty()).then(|| from[sim.rng.below(from.len() as u64) as usize])
        };
        let mut next = now.clone();
        let kind = self.rng.below(KINDS);
        match kind {
            // Add a voter (a new server, or an observer made a voter).
            0 | 1 => {
                let c = pool.iter().copied().filter(|i| !now.voters.contains(i));
                let id = pick(self, c.collect())?;
                next.observers.remove(&id);
                next.voters.insert(id);
            }
            // Remove a voter (the leader itself, perhaps).
            2 => {
                let id = pick(self, now.voters.iter().copied().collect())?;
                next.voters.remove(&id);
            }
            // A voter becomes an observer.
            3 => {
                let id = pick(self, now.voters.iter().copied().collect())?;
                next.voters.remove(&id);
                next.observers.insert(id);
            }
            // Add an observer.
            4 => {
                let c = pool.iter().copied().filter(|i| !now.contains(*i));
                let id = pick(self, c.collect())?;
                next.observers.insert(id);
            }
            // Remove an observer.
            5 => {
                let id = pick(self, now.observers.iter().copied().collect())?;
                next.observers.remove(&id);
            }
            // A whole new membership.
            _ => {
                next = Members::default();
                for id in &pool {
                    match self.rng.below(3) {
                        0 => {
                            next.voters.insert(*id);
                        }
                        1 => {
                            next.observers.insert(*id);
                        }
                        _ => {}
                    }
                }
            }
        }
        // ZooKeeper refuses a membership without voters (and one that changes nothing).
        if next.voters.is_empty() || next == now {
            return None;
        }
        // ZooKeeper's rule: a quorum of the new voters must be connected and synced to the
        // leader (the leader itself, or following it and serving). Unless told otherwise, the
        // driver keeps it.
        let synced = next
            .voters
            .iter()
            .filter(|v| {
                **v == leader
                    || self.peer(**v).is_some_and(|p| {
                        p.is_serving()
                            && p.role() == zk_server_mini::zab::Role::Following { leader }
                    })
            })
            .count();
        if !self.any_change && synced * 2 <= next.voters.len() {
            return None;
        }
        let payload = Bytes::from(encode_members(&next));
        let peer = self.nodes.get_mut(&leader)?.peer.as_mut()?;
        let zxid = peer.propose(payload.clone()).ok()?;
        self.note(format!(
            "{leader} proposes {} at {zxid:#x} (from {})",
            encode_members(&next),
            encode_members(&now)
        ));
        self.changes.push((leader, zxid, payload));
        self.drain(leader);
        Some(zxid)
    }

    /// Member `id` applies `entry`; `before` is the membership its state held before it.
    pub(super) fn on_apply_membership(
        &mut self,
        id: PeerId,
        entry: &Entry,
        before: Option<Members>,
    ) {
        let before = before.unwrap_or_else(|| self.initial.clone());
        let leading = self.nodes.get(&id).is_some_and(|n| n.leading);
        if leading {
            // The leader commits: the entry is durable on a majority of its committed voters
            // and of a change it has logged above them.
            let quorums = self.quorums_at(id, before.clone(), entry.zxid);
            for m in quorums {
                let on = self.durable_voters(&m, entry.zxid);
                if on.len() * 2 <= m.voters.len() {
                    self.checker.fail(Violation::CommittedWithoutQuorum {
                        leader: id,
                        zxid: entry.zxid,
                        voters: m.voters.iter().copied().collect(),
                        durable_on: on,
                    });
                }
            }
        }
        if let Some(next) = decode_members(&entry.payload) {
            if let Some(n) = self.nodes.get_mut(&id) {
                // A change that takes it out of the membership it runs with removes it.
                if n.runs_with.contains(id) && !next.contains(id) {
                    n.knows_removed = Some(zk_server_mini::zxid::epoch(entry.zxid));
                }
                n.runs_with = next.clone();
            }
            let gone: Vec<PeerId> = before
                .voters
                .iter()
                .chain(&before.observers)
                .copied()
                .filter(|m| !next.contains(*m))
                .collect();
            for m in gone {
                if self.removed.insert(m) {
                    self.note(format!("{m} removed at {:#x}", entry.zxid));
                }
            }
        }
    }

    /// The memberships whose majorities a decision at leader `id` needs, from its applied
    /// membership `applied` and the changes it logged from `from` on: the last change logged
    /// (pending) and the one before it (committed: one change at a time, so a change logged
    /// below another one committed), or the applied membership.
    fn quorums_at(&self, id: PeerId, applied: Members, from: i64) -> Vec<Members> {
        let mut all = vec![applied];
        if let Some(n) = self.nodes.get(&id) {
            all.extend(
                n.logged
                    .range(from..)
                    .filter_map(|(_, p)| decode_members(p)),
            );
        }
        let keep = all.len().saturating_sub(2);
        all.split_off(keep)
    }

    /// The voters of `m` that hold `zxid` durably (log or snapshot).
    fn durable_voters(&self, m: &Members, zxid: i64) -> Vec<PeerId> {
        m.voters
            .iter()
            .copied()
            .filter(|v| {
                self.nodes.get(v).is_some_and(|n| {
                    n.durable.contains_key(&zxid)
                        || n.durable_snapshot_holds.binary_search(&zxid).is_ok()
                })
            })
            .collect()
    }

    /// Member `id` just established `epoch`: a removed member never does, and a majority of
    /// the voters of its membership (and of a change logged above it) made `epoch` their
    /// currentEpoch durably.
    pub(super) fn on_established(&mut self, id: PeerId, epoch: u32) {
        if self.removed.contains(&id) {
            self.checker.fail(Violation::RemovedActed {
                member: id,
                what: format!("established epoch {epoch}"),
            });
        }
        let Some(n) = self.nodes.get(&id) else { return };
        let quorums = self.quorums_at(id, self.members_of(id), n.app.zxid + 1);
        for m in quorums {
            let on: Vec<PeerId> = m
                .voters
                .iter()
                .copied()
                .filter(|v| {
                    self.nodes
                        .get(v)
                        .is_some_and(|x| x.durable_current_epoch >= epoch)
                })
                .collect();
            if on.len() * 2 <= m.voters.len() {
                self.checker.fail(Violation::EstablishedWithoutQuorum {
                    leader: id,
                    epoch,
                    voters: m.voters.iter().copied().collect(),
                    synced: on,
                });
            }
        }
    }

    /// A member that applied a change that removed it goes on as a non-voting learner (as a
    /// removed ZooKeeper 3.8.0 server does): it may vote (only members still in the joint
    /// state count it) and follow, but never speaks as the leader of a later epoch (a removed
    /// leader finishes the commits its epoch's new voters acknowledged before it steps down,
    /// at its next tick). That its acks and votes never count is checked where quorums are:
    /// commits and established epochs.
    pub(super) fn check_removed_message(&mut self, from: PeerId, message: &Message) {
        // Outputs are carried out in order: what it sent after applying its removal.
        let Some(removed_in) = self.nodes.get(&from).and_then(|n| n.knows_removed) else {
            return;
        };
        if message.epoch().is_some_and(|e| e <= removed_in) {
            return;
        }
        let leads = matches!(
            message,
            Message::LeaderInfo { .. }
                | Message::Sync { .. }
                | Message::UpToDate { .. }
                | Message::Proposal { .. }
                | Message::Inform { .. }
                | Message::Commit { .. }
                | Message::Ping { .. }
                | Message::ReadIndexReply { .. }
        );
        if !leads {
            return;
        }
        self.checker.fail(Violation::RemovedActed {
            member: from,
            what: format!("sent {message:?}"),
        });
    }

    /// Each member's state, for a failure report.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for n in self.nodes.values() {
            let core = n.peer.as_ref().map(|p| {
                format!(
                    "{:?} serving {} accepted {} current {} last {:#x} applied {:#x} config {:?}+{:?} pending {:?}",
                    p.role(),
                    p.is_serving(),
                    p.accepted_epoch(),
                    p.current_epoch(),
                    p.last_logged(),
                    p.applied(),
                    p.config().members,
                    p.config().observers,
                    p.pending_membership()
                )
            });
            out.push_str(&format!(
                "{}: app {:#x} {:?} {}\n",
                n.id,
                n.app.zxid,
                n.app.members.as_ref().map(encode_members),
                core.unwrap_or_else(|| "down".into())
            ));
        }
        out
    }

    /// After settling: every change proposed is applied (at its zxid, with its payload) or
    /// gone from every log; members a change removed are left out.
    pub fn changes_resolved(&self) -> Result<(), String> {
        for (leader, zxid, payload) in &self.changes {
            if self.checker.applied_payload(*zxid).as_ref() == Some(payload) {
                continue;
            }
            let holders: BTreeSet<PeerId> = self
                .nodes
                .values()
                .filter(|n| !self.removed.contains(&n.id))
                .filter(|n| n.logged.get(zxid) == Some(payload))
                .map(|n| n.id)
                .collect();
            if !holders.is_empty() {
                return Err(format!(
                    "change {} proposed by {leader} at {zxid:#x} neither applied nor truncated (logged at {holders:?})",
                    String::from_utf8_lossy(payload)
                ));
            }
        }
        Ok(())
    }
}
