//! Membership changes (ZooKeeper 3.5+ `reconfig`): who votes, who observes, and how that
//! changes without ever letting two leaders commit.
//!
//! A membership change is an ordinary entry whose payload the driver recognises
//! ([`Config::membership`]). From the moment a member logs one until it is applied the
//! member is in a *joint* state: every decision (an election, an epoch, NEWLEADER, a commit,
//! a read-index round, the leader's liveness) needs a quorum of the committed voters **and**
//! a quorum of the new ones. Applying it (it is committed) makes the new membership the only
//! one. A truncated change is forgotten; a second change logged after a first proves the
//! first committed (the leader proposes one change at a time and a new leader commits its
//! whole history before it proposes), so the first takes effect then.
//!
//! Consequences once a change takes effect here: a leader that no longer votes steps down
//! (at the next tick, once the answers to what it committed are out); a learner whose vote
//! changed synchronises again (the leader sends voters proposals and observers committed
//! entries). Members not in the membership (a server being added, started with a
//! configuration that lists it, or one a change removed) follow the leader as non-voting
//! learners, as in ZooKeeper 3.8.0: they serve clients, and nothing they say counts.
//!
//! A member that was away while changes committed may know an old membership whose voters
//! no longer answer it. Every vote names the newest change its sender applied; whoever
//! applied a newer one answers with its membership ([`Message::Membership`]), and a looking
//! member adopts it and looks again under it (ZooKeeper's election notifications likewise
//! carry the sender's configuration). The configuration version a member starts with is
//! [`Config::membership_version`].

use std::collections::BTreeSet;

use bytes::Bytes;

use super::message::Message;
use super::peer::{Peer, RoleState};
use super::types::{Config, Entry, PeerId};

/// Who votes and who observes.
///
/// ```
/// use zk_server_mini::zab::Members;
/// let m = Members::new([1, 2, 3], [4]);
/// assert!(m.has_quorum(|id| id == 1 || id == 2));
/// assert!(!m.has_quorum(|id| id == 1 || id == 4)); // observers never count
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    /// Participants.
    pub voters: BTreeSet<PeerId>,
    /// Observers.
    pub observers: BTreeSet<PeerId>,
}

impl Members {
    /// Voters and observers from two lists.
    ///
    /// ```
    /// use zk_server_mini::zab::Members;
    /// assert_eq!(Members::new([1, 2], []).voters.len(), 2);
    /// ```
    pub fn new(
        voters: impl IntoIterator<Item = PeerId>,
        observers: impl IntoIterator<Item = PeerId>,
    ) -> Self {
        Self {
            voters: voters.into_iter().collect(),
            observers: observers.into_iter().collect(),
        }
    }

    /// Whether the members for which `has` holds include a strict majority of the voters.
    ///
    /// ```
    /// use zk_server_mini::zab::Members;
    /// let m = Members::new([1, 2, 3, 4], []);
    /// assert!(!m.has_quorum(|id| id <= 2));
    /// assert!(m.has_quorum(|id| id <= 3));
    /// ```
    pub fn has_quorum(&self, has: impl Fn(PeerId) -> bool) -> bool {
        let n = self.voters.iter().filter(|v| has(**v)).count();
        n > self.voters.len() / 2
    }

    /// Whether `id` is listed at all.
    ///
    /// ```
    /// use zk_server_mini::zab::Members;
    /// assert!(Members::new([1], [2]).contains(2));
    /// ```
    pub fn contains(&self, id: PeerId) -> bool {
        self.voters.contains(&id) || self.observers.contains(&id)
    }
}

/// Recognises a membership change in an entry's payload: the driver's decoding (the core
/// never looks inside payloads otherwise).
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::zab::{Members, MembershipDecoder};
/// fn decode(p: &Bytes) -> Option<Members> {
///     p.starts_with(b"members:").then(|| Members::new([1, 2], []))
/// }
/// let d = MembershipDecoder(decode);
/// assert!(d.decode(&Bytes::from_static(b"members:1,2")).is_some());
/// assert_eq!(d, MembershipDecoder(decode));
/// ```
#[derive(Clone, Copy)]
pub struct MembershipDecoder(pub fn(&Bytes) -> Option<Members>);

impl MembershipDecoder {
    /// The membership `payload` changes to, if it is a membership change.
    ///
    /// ```
    /// use zk_server_mini::zab::MembershipDecoder;
    /// let never = MembershipDecoder(|_| None);
    /// assert!(never.decode(&bytes::Bytes::new()).is_none());
    /// ```
    pub fn decode(&self, payload: &Bytes) -> Option<Members> {
        (self.0)(payload)
    }
}

impl std::fmt::Debug for MembershipDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MembershipDecoder")
    }
}

impl PartialEq for MembershipDecoder {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl Eq for MembershipDecoder {}

impl Config {
    /// The membership this configuration lists.
    ///
    /// ```
    /// use zk_server_mini::zab::{Config, Members};
    /// let c = Config::new(1, vec![1, 2, 3]).with_observers(vec![4]);
    /// assert_eq!(c.members_now(), Members::new([1, 2, 3], [4]));
    /// ```
    pub fn members_now(&self) -> Members {
        Members::new(self.members.iter().copied(), self.observers.iter().copied())
    }
}

impl Peer {
    /// Whether the members for which `has` holds make a quorum: of the committed voters and,
    /// while a membership change is logged here but not applied, of its voters too.
    ///
    /// ```
    /// use zk_server_mini::zab::{Config, Peer, Recovered};
    /// let peer = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default())?;
    /// assert!(peer.is_quorum(|id| id != 3));
    /// assert!(!peer.is_quorum(|id| id == 1));
    /// # Ok::<(), zk_server_mini::zab::StartError>(())
    /// ```
    pub fn is_quorum(&self, has: impl Fn(PeerId) -> bool) -> bool {
        // Counted over the member list in place: this runs on every ack at the leader.
        let voters = &self.config.members;
        voters.iter().filter(|v| has(**v)).count() > voters.len() / 2
            && (self.config.bug_committed_quorum_only
                || self
                    .pending_members
                    .as_ref()
                    .is_none_or(|(_, next)| next.has_quorum(&has)))
    }

    /// The membership change logged here and not yet applied, with its zxid.
    ///
    /// ```
    /// use zk_server_mini::zab::{Config, Peer, Recovered};
    /// let peer = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default())?;
    /// assert!(peer.pending_membership().is_none());
    /// # Ok::<(), zk_server_mini::zab::StartError>(())
    /// ```
    pub fn pending_membership(&self) -> Option<(i64, &Members)> {
        self.pending_members.as_ref().map(|(z, m)| (*z, m))
    }

    /// Replaces the committed membership (the driver's call after it restored a snapshot,
    /// whose state holds the membership it was taken under).
    ///
    /// The driver carries out the outputs of a step after the step: by then the core may
    /// have logged the entries that came with the SNAP, and applied some. A change among
    /// them stays pending, and one that already took effect is not undone by the
    /// snapshot's older membership.
    ///
    /// ```
    /// use zk_server_mini::zab::{Config, Members, Peer, Recovered};
    /// let mut peer = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default())?;
    /// peer.set_membership(Members::new([1, 2, 3], [4]), 0x1_0000_0005);
    /// assert!(peer.config().is_observer(4));
    /// # Ok::<(), zk_server_mini::zab::StartError>(())
    /// ```
    pub fn set_membership(&mut self, members: Members, version: i64) {
        if self.changed_since_snap {
            return;
        }
        self.applied_change = self.applied_change.max(version);
        // Logged after the snapshot was installed (installing forgets a pending change).
        let informed = self.is_observer();
        let pending = self.pending_members.take();
        if members != self.config.members_now() {
            self.take_effect(members, false, informed);
        }
        self.pending_members = pending;
    }

    /// Whether `id` votes: in the committed membership or in a pending change (its acks and
    /// answers are counted; [`Peer::is_quorum`] decides for which quorum).
    pub(crate) fn votes(&self, id: PeerId) -> bool {
        self.config.members.contains(&id)
            || self
                .pending_members
                .as_ref()
                .is_some_and(|(_, m)| m.voters.contains(&id))
    }

    /// A leader that a committed change made a non-voter steps down.
    pub(crate) fn finish_step_down(&mut self) {
        if std::mem::take(&mut self.step_down) {
            self.become_looking();
        }
    }

    /// An entry was logged here: a membership change becomes pending (and one pending before
    /// it is committed, see the module docs).
    pub(crate) fn note_logged(&mut self, entry: &Entry) {
        let Some(decoder) = self.config.membership else {
            return;
        };
        let Some(next) = decoder.decode(&entry.payload) else {
            return;
        };
        let informed = self.is_observer();
        if let Some((z, earlier)) = self.pending_members.take() {
            self.applied_change = z;
            self.take_effect(earlier, true, informed);
        }
        tracing::info!(zxid = entry.zxid, ?next, "membership change logged");
        self.pending_members = Some((entry.zxid, next));
    }

    /// An entry was applied: a pending change at this zxid takes effect.
    pub(crate) fn note_applied(&mut self, zxid: i64) {
        let informed = self.is_observer();
        if self
            .pending_members
            .as_ref()
            .is_some_and(|(z, _)| *z == zxid)
            && let Some((z, next)) = self.pending_members.take()
        {
            self.applied_change = z;
            self.take_effect(next, true, informed);
        }
    }

    /// Another member applied the membership change at `zxid` (its votes say so): the change
    /// logged here at that zxid is committed, and takes effect (a zxid names one entry
    /// everywhere; a change logged here at another zxid proves nothing: it may be one a
    /// later leader truncated).
    pub(crate) fn learn_applied_change(&mut self, zxid: i64) {
        let informed = self.is_observer();
        if zxid > 0
            && self
                .pending_members
                .as_ref()
                .is_some_and(|(z, _)| *z == zxid)
            && let Some((z, next)) = self.pending_members.take()
        {
            tracing::info!(
                zxid = z,
                "a membership change applied elsewhere takes effect"
            );
            self.applied_change = z;
            self.take_effect(next, true, informed);
        }
    }

    /// A vote named `version` as the newest change its sender applied: if this member
    /// applied a newer one, it sends the sender its membership (see
    /// [`Peer::adopt_membership`]).
    pub(crate) fn tell_membership(&mut self, to: PeerId, version: i64) {
        if self.config.membership.is_none() || version >= self.applied_change {
            return;
        }
        let members = self.config.members_now();
        self.send(
            to,
            Message::Membership {
                version: self.applied_change,
                members,
            },
        );
    }

    /// Another member says the membership change at `version` is committed (it applied it)
    /// and made `next` the membership. A looking member that applied no change as new as
    /// this one takes it, and looks again under it: it was away while the change committed, and the voters it
    /// knew may never answer it (ZooKeeper's election adopts a newer configuration from a
    /// notification likewise). Safe: a committed change is in the history of every leader
    /// to come, and this member, whose log lacks it, can lead no quorum of `next` (one of
    /// them logged it: its history is fresher).
    pub(crate) fn adopt_membership(&mut self, version: i64, next: Members) {
        // (A membership without voters is none a change can commit: ignored.)
        if self.config.membership.is_none()
            || version <= self.applied_change
            || next.voters.is_empty()
            || !matches!(self.role, RoleState::Looking(_))
        {
            return;
        }
        if self
            .pending_members
            .as_ref()
            .is_some_and(|(z, _)| *z == version)
        {
            self.learn_applied_change(version);
            return;
        }
        tracing::info!(version, ?next, "a newer membership heard of; adopted");
        let informed = self.is_observer();
        // A change pending here from before `version` was committed before it (one change
        // at a time) or truncated: `next` supersedes it. One logged after it stays pending.
        let pending = self.pending_members.take().filter(|(z, _)| *z > version);
        self.applied_change = version;
        if next != self.config.members_now() {
            self.take_effect(next, true, informed);
        }
        self.pending_members = pending;
    }

    /// Entries after `zxid` were dropped: a change among them is forgotten.
    pub(crate) fn note_truncated(&mut self, zxid: i64) {
        if self
            .pending_members
            .as_ref()
            .is_some_and(|(z, _)| *z > zxid)
        {
            tracing::info!(zxid, "a pending membership change was truncated");
            self.pending_members = None;
        }
    }

    /// Makes `next` the committed membership and carries out what follows for this member's
    /// role. `by_entry`: a committed change did it; `informed`: whether this member was an
    /// observer before (it received committed entries only).
    fn take_effect(&mut self, next: Members, by_entry: bool, informed: bool) {
        let me = self.config.id;
        self.changed_since_snap |= by_entry;
        tracing::info!(?next, "membership takes effect");
        if by_entry {
            self.deposed = self
                .config
                .members
                .iter()
                .copied()
                .filter(|m| !next.voters.contains(m))
                .collect();
        }
        self.config.members = next.voters.iter().copied().collect();
        self.config.observers = next.observers.iter().copied().collect();
        let votes = self.config.members.contains(&me);
        let leader = match &self.role {
            RoleState::Leading(_) => Some(me),
            RoleState::Following(f) => Some(f.leader),
            RoleState::Looking(_) => None,
        };
        if by_entry && leader.is_some_and(|l| !self.config.members.contains(&l)) {
            // The leader lost its vote: it steps down, and the lowest-numbered voter of the
            // new membership is the one everyone votes for first.
            self.designated = next.voters.iter().min().copied();
            if !matches!(self.role, RoleState::Leading(_)) {
                self.become_looking();
                return;
            }
        }
        match &self.role {
            RoleState::Leading(_) if !votes && by_entry => {
                // Not at once: the answers to what it committed (the `reconfig` itself among
                // them) go out first. It proposes nothing more and steps down at the next tick.
                tracing::info!("no longer a voter; stepping down at the next tick");
                self.step_down = true;
            }
            RoleState::Leading(_) if !votes => self.become_looking(),
            RoleState::Following(f) if self.is_observer() != informed => {
                // The leader now sends this member the other stream (proposals or committed
                // entries): start over with it.
                let leader = f.leader;
                self.become_follower(leader);
            }
            // A new round under the new membership.
            RoleState::Looking(_) => self.become_looking(),
            _ => {}
        }
    }
}
