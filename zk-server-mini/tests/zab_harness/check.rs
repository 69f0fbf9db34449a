//! The invariants, checked as the simulation runs:
//! - at most one established leader per epoch;
//! - the applied state agrees at equal zxids (a digest chained over every applied entry, so
//!   two members that applied different prefixes disagree at the first zxid they share);
//! - nothing uncommitted is visible: whatever a member applies is durable on a quorum of
//!   the voters of the membership in effect at it (observers' copies never count; a
//!   membership change is durable on a quorum of the old voters and of the new ones);
//! - an observer decides nothing: it never leads, votes, proposes or acknowledges;
//! - no acknowledged write is lost: every leader, when it establishes its epoch, holds every
//!   write acknowledged so far, and at the end every member has applied them all;
//! - reads after `sync()` see every write acknowledged before it, and every member applies
//!   one unbroken run of zxids (both checked in the driver, `mod.rs`).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use zk_server_mini::zab::{Entry, Members, Peer, PeerId};

use super::{App, Node, decode_members};

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two members established the same epoch.
    TwoLeaders {
        /// The epoch.
        epoch: u32,
        /// The first leader.
        first: PeerId,
        /// The second.
        second: PeerId,
    },
    /// A member's applied state differs from another's at the same zxid.
    Divergence {
        /// The member.
        member: PeerId,
        /// The zxid.
        zxid: i64,
    },
    /// A member applied an entry that is not durable on a quorum.
    UncommittedVisible {
        /// The member.
        member: PeerId,
        /// The entry.
        zxid: i64,
        /// Members holding it durably.
        durable_on: usize,
    },
    /// An established leader lacks an acknowledged write.
    AckedLost {
        /// The leader.
        leader: PeerId,
        /// Its epoch.
        epoch: u32,
        /// The write's zxid.
        zxid: i64,
    },
    /// After settling, a member lacks an acknowledged write.
    FinalMissing {
        /// The member.
        member: PeerId,
        /// The write's zxid.
        zxid: i64,
    },
    /// A read after `sync()` missed an acknowledged write.
    StaleRead {
        /// The member.
        member: PeerId,
        /// What it could read.
        read_point: i64,
        /// The newest acknowledged write before the sync.
        acked: i64,
    },
    /// A member applied an entry that does not directly follow the one before it.
    Hole {
        /// The member.
        member: PeerId,
        /// The last entry applied before.
        previous: i64,
        /// The entry applied.
        zxid: i64,
    },
    /// An observer acted as a voter or a leader (voted, acknowledged, proposed, led).
    ObserverDecided {
        /// The observer.
        member: PeerId,
        /// What it did.
        what: String,
    },
    /// A member could not recover from its own disk.
    Recovery(PeerId, String),
    /// A persist request failed.
    Storage(PeerId, String),
    /// A leader committed an entry not durable on a majority of its committed voters, or
    /// of the voters of a change pending at it.
    CommittedWithoutQuorum {
        /// The leader.
        leader: PeerId,
        /// The entry.
        zxid: i64,
        /// The voters whose majority was needed.
        voters: Vec<PeerId>,
        /// Those holding the entry durably.
        durable_on: Vec<PeerId>,
    },
    /// A leader established its epoch without a majority of its voters (and of a pending
    /// change's) having made it their currentEpoch durably.
    EstablishedWithoutQuorum {
        /// The leader.
        leader: PeerId,
        /// The epoch.
        epoch: u32,
        /// The voters whose majority was needed.
        voters: Vec<PeerId>,
        /// Those at the epoch.
        synced: Vec<PeerId>,
    },
    /// A member a committed change removed led, or spoke as a member.
    RemovedActed {
        /// The member.
        member: PeerId,
        /// What it did.
        what: String,
    },
}

/// Collects violations (see the module docs).
#[derive(Debug, Default)]
pub struct Checker {
    /// The membership at the start.
    initial: Members,
    /// Membership changes applied: zxid → the membership it sets.
    memberships: BTreeMap<i64, Members>,
    observers: BTreeSet<PeerId>,
    leaders: BTreeMap<u32, PeerId>,
    checked_leaders: BTreeSet<(u32, PeerId)>,
    /// zxid → (digest after it, payload when known).
    canonical: BTreeMap<i64, (u64, Option<Bytes>)>,
    acked: BTreeMap<i64, (Bytes, u64)>,
    acked_by_number: BTreeMap<u64, i64>,
    violations: Vec<Violation>,
    /// Entries applied, over all members.
    pub applies: u64,
}

impl Checker {
    /// A checker for `n` voting members and these observers (which never count for a
    /// quorum: an entry durable on observers only is not committed).
    pub fn new(n: usize, observers: BTreeSet<PeerId>) -> Self {
        Self {
            initial: Members::new(1..=n as PeerId, observers.iter().copied()),
            observers,
            ..Self::default()
        }
    }

    /// The membership at the start (dynamic membership: the observers are whoever the
    /// membership says, not a fixed set).
    pub fn set_initial(&mut self, initial: Members) {
        self.initial = initial;
        self.observers.clear();
    }

    /// The payload applied at `zxid`, if known.
    pub fn applied_payload(&self, zxid: i64) -> Option<Bytes> {
        self.canonical.get(&zxid).and_then(|(_, p)| p.clone())
    }

    /// The membership the last change applied anywhere set (else the initial one).
    pub fn latest_members(&self) -> &Members {
        self.memberships
            .values()
            .next_back()
            .unwrap_or(&self.initial)
    }

    /// The membership in effect just before `zxid`.
    pub fn members_before(&self, zxid: i64) -> &Members {
        self.memberships
            .range(..zxid)
            .next_back()
            .map_or(&self.initial, |(_, m)| m)
    }

    /// Records a violation.
    pub fn fail(&mut self, v: Violation) {
        if self.violations.len() < 20 {
            self.violations.push(v);
        }
    }

    /// Whether anything was violated.
    pub fn failed(&self) -> bool {
        !self.violations.is_empty()
    }

    /// The violations found.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Write number `n` was acknowledged to its client at `zxid`.
    pub fn acked(&mut self, zxid: i64, payload: Bytes, n: u64) {
        self.acked.insert(zxid, (payload, n));
        self.acked_by_number.insert(n, zxid);
    }

    /// Whether write `n` was acknowledged.
    pub fn is_acked(&self, n: u64) -> bool {
        self.acked_by_number.contains_key(&n)
    }

    /// The zxid write `n` was acknowledged at.
    pub fn zxid_of(&self, n: u64) -> Option<i64> {
        self.acked_by_number.get(&n).copied()
    }

    /// The newest acknowledged zxid.
    pub fn max_acked(&self) -> i64 {
        self.acked.keys().next_back().copied().unwrap_or(0)
    }

    /// Writes acknowledged.
    pub fn acked_count(&self) -> usize {
        self.acked.len()
    }

    /// `member` now has state `app` (after applying `entry`, or restoring a snapshot).
    pub fn on_apply(
        &mut self,
        member: PeerId,
        app: &App,
        entry: Option<&Entry>,
        nodes: &BTreeMap<PeerId, Node>,
    ) {
        if app.zxid == 0 {
            return;
        }
        self.applies += 1;
        let mut diverged = false;
        match self.canonical.get_mut(&app.zxid) {
            Some((digest, payload)) => {
                diverged = *digest != app.digest;
                if payload.is_none() {
                    *payload = entry.map(|e| e.payload.clone());
                }
            }
            None => {
                self.canonical
                    .insert(app.zxid, (app.digest, entry.map(|e| e.payload.clone())));
            }
        }
        if diverged {
            self.fail(Violation::Divergence {
                member,
                zxid: app.zxid,
            });
        }
        if let Some(m) = entry.and_then(|e| decode_members(&e.payload)) {
            self.memberships.insert(app.zxid, m);
        }
        // The voters before it and, for a membership change, the new ones too.
        let mut quorums = vec![self.members_before(app.zxid).clone()];
        quorums.extend(self.memberships.get(&app.zxid).cloned());
        for m in quorums {
            let durable_on = m
                .voters
                .iter()
                .filter(|v| {
                    nodes.get(v).is_some_and(|n| {
                        n.durable.contains_key(&app.zxid)
                            || n.durable_snapshot_holds.binary_search(&app.zxid).is_ok()
                    })
                })
                .count();
            if durable_on * 2 <= m.voters.len() {
                self.fail(Violation::UncommittedVisible {
                    member,
                    zxid: app.zxid,
                    durable_on,
                });
            }
        }
    }

    /// `member` is the established leader of `epoch`.
    pub fn on_leader(&mut self, member: PeerId, epoch: u32, peer: &Peer) {
        if self.observers.contains(&member) {
            self.fail(Violation::ObserverDecided {
                member,
                what: format!("established epoch {epoch}"),
            });
            return;
        }
        match self.leaders.get(&epoch) {
            Some(first) if *first != member => {
                let first = *first;
                self.fail(Violation::TwoLeaders {
                    epoch,
                    first,
                    second: member,
                });
                return;
            }
            Some(_) => {}
            None => {
                self.leaders.insert(epoch, member);
            }
        }
        if !self.checked_leaders.insert((epoch, member)) {
            return;
        }
        let history = peer.history();
        let lost: Vec<i64> = self
            .acked
            .iter()
            .filter(|(z, (payload, _))| {
                **z > history.base() && history.get(**z).is_none_or(|e| e.payload != *payload)
            })
            .map(|(z, _)| *z)
            .collect();
        for zxid in lost {
            self.fail(Violation::AckedLost {
                leader: member,
                epoch,
                zxid,
            });
        }
    }

    /// After settling: every member applied every acknowledged write, and the applied
    /// history holds each with its payload.
    pub fn check_final(&mut self, nodes: &BTreeMap<PeerId, Node>, skip: &BTreeSet<PeerId>) {
        let acked: Vec<(i64, Bytes)> = self
            .acked
            .iter()
            .map(|(z, (p, _))| (*z, p.clone()))
            .collect();
        for (zxid, payload) in acked {
            let ok = match self.canonical.get(&zxid) {
                Some((_, Some(p))) => *p == payload,
                Some((_, None)) => true,
                None => false,
            };
            for n in nodes.values().filter(|n| !skip.contains(&n.id)) {
                if !ok || n.app.zxid < zxid {
                    self.fail(Violation::FinalMissing { member: n.id, zxid });
                }
            }
        }
    }
}
