//! Leader election, after ZooKeeper's Fast Leader Election: every looking member votes for
//! the freshest history it has heard of, ordered by (currentEpoch, last logged zxid, id),
//! and a member settles once a quorum of the current round agrees with its vote. A member
//! that meets an ensemble which already settled joins the leader a quorum reports, if the
//! leader itself says it leads (FLE's `checkLeader`); a member that votes for itself and
//! that a quorum follows in its round leads, even if its own vote never reached them all (a
//! member without a pending change does not send its votes to the voters only that change
//! adds). A member that settled on a candidate that turns out not to lead (its answer to
//! the FOLLOWERINFO says whom it follows, or votes for) looks again at once, in the same
//! round.
//!
//! Election only picks a candidate; safety comes from discovery: the leader's epoch must be
//! acknowledged by a quorum none of whose histories is fresher than the leader's.

use std::collections::{BTreeMap, BTreeSet};

use super::message::{Message, Vote};
use super::peer::{Peer, RoleState};
use super::types::PeerId;

/// A looking member's election state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Election {
    /// The best vote seen in this round.
    pub(crate) vote: Option<Vote>,
    /// Votes of this round, by member (this one included).
    pub(crate) received: BTreeMap<PeerId, Vote>,
    /// Members that already follow or lead, and whom.
    pub(crate) settled: BTreeMap<PeerId, PeerId>,
    /// Members that said they follow this member, having settled in this member's current
    /// round (what an earlier round settled on says nothing of this one).
    pub(crate) following_me: BTreeSet<PeerId>,
    /// The tick this election started at.
    pub(crate) since: u64,
    /// The vote this member started the election with (its own, or the designated
    /// successor's after a change took the leader's vote away); a new round starts from it.
    pub(crate) start: Option<Vote>,
}

impl Peer {
    /// Whether this member takes part in elections: it votes in the committed membership or
    /// in a change logged here (a member a pending change makes a voter must vote: the new
    /// voters' quorum may need it).
    pub(crate) fn elects(&self) -> bool {
        self.votes(self.config.id)
    }

    /// The vote a member that does not elect starts from: below every candidate's, so that
    /// nobody adopts it (it never stands itself).
    const NO_CANDIDATE: Vote = Vote {
        current_epoch: 0,
        last_zxid: i64::MIN,
        id: 0,
    };

    /// Starts a new election round, voting for itself (a member that does not elect votes
    /// for nobody until it hears a candidate).
    pub(crate) fn become_looking(&mut self) {
        self.election_round += 1;
        // After a membership change took the leader's vote away, every member starts by
        // voting for the designated successor (the lowest-numbered voter of the new
        // membership, as ZooKeeper hands over); a fresher history still wins the vote.
        let designated = self.designated.take().filter(|d| self.votes(*d));
        let own = match designated {
            Some(id) if self.elects() => Vote {
                id,
                ..self.own_vote()
            },
            _ if self.elects() => self.own_vote(),
            _ => Self::NO_CANDIDATE,
        };
        let mut election = Election {
            vote: Some(own),
            start: Some(own),
            since: self.tick,
            ..Election::default()
        };
        election.received.insert(self.config.id, own);
        self.change_role(RoleState::Looking(election));
        self.broadcast_vote();
        self.check_decision();
    }

    fn current_vote(&self) -> Vote {
        match &self.role {
            RoleState::Looking(e) => e.vote.unwrap_or_else(|| self.own_vote()),
            _ => self.own_vote(),
        }
    }

    pub(crate) fn broadcast_vote(&mut self) {
        let vote = self.current_vote();
        let round = self.election_round;
        for to in self.others() {
            self.send(
                to,
                Message::Vote {
                    round,
                    vote,
                    settled: None,
                    applied_change: 0,
                },
            );
        }
    }

    /// Votes are resent every tick: the network may lose them.
    pub(crate) fn election_tick(&mut self) {
        self.broadcast_vote();
        self.check_join();
    }

    pub(crate) fn on_vote(
        &mut self,
        from: PeerId,
        round: u64,
        vote: Vote,
        settled: Option<PeerId>,
    ) {
        if self.not_led_by(from, round, vote, settled) {
            // The member this one follows, not yet synced with, says it does not lead: it
            // follows another, or it still looks and votes for another (it lost the
            // election this member thought it won, or stepped down). Waiting for its sync
            // would take `init_limit` ticks; this member looks again, in the same round
            // (a new one would restart everyone's votes), and the vote just heard counts
            // in it.
            tracing::info!(
                from,
                ?settled,
                "the member followed does not lead; looking again"
            );
            self.election_round = self.election_round.max(round).saturating_sub(1);
            self.become_looking();
        }
        let (me, my_round) = (self.config.id, self.election_round);
        if let RoleState::Looking(election) = &mut self.role {
            if settled == Some(me) && round == my_round {
                election.following_me.insert(from);
            } else {
                election.following_me.remove(&from);
            }
        }
        if !self.elects() {
            if settled.is_none() {
                self.adopt_vote(from, round, vote);
            }
            self.observer_vote(from, settled);
            return;
        }
        if !self.votes(from) {
            self.observer_vote(from, settled);
            return;
        }
        let me = self.config.id;
        let my_round = self.election_round;
        let own = self.own_vote();
        let RoleState::Looking(election) = &mut self.role else {
            // Settled members tell a looking one whom they follow.
            if settled.is_none() {
                let leader = match &self.role {
                    RoleState::Following(f) => f.leader,
                    _ => me,
                };
                let reply = Message::Vote {
                    round: my_round,
                    vote: own,
                    settled: Some(leader),
                    applied_change: 0,
                };
                self.send(from, reply);
            }
            return;
        };
        if let Some(leader) = settled {
            election.settled.insert(from, leader);
            self.ask_leader(from, leader);
            self.check_join();
            return;
        }
        election.settled.remove(&from);
        let mut rebroadcast = false;
        if round > my_round {
            self.election_round = round;
            election.received.clear();
            election.following_me.clear();
            let best = election.start.unwrap_or(own).max(vote);
            election.vote = Some(best);
            election.received.insert(me, best);
            election.received.insert(from, vote);
            rebroadcast = true;
        } else if round == my_round {
            election.received.insert(from, vote);
            if election.vote.is_none_or(|v| vote > v) {
                election.vote = Some(vote);
                election.received.insert(me, vote);
                rebroadcast = true;
            }
        } else {
            // A member behind us: tell it our round and vote.
            let reply = Message::Vote {
                round: my_round,
                vote: election.vote.unwrap_or(own),
                settled: None,
                applied_change: 0,
            };
            self.send(from, reply);
            return;
        }
        if rebroadcast {
            self.broadcast_vote();
        }
        self.check_decision();
    }

    /// Settles when a quorum of this round votes as this member does (never an observer's
    /// decision: it only joins a leader, see `check_join`).
    fn check_decision(&mut self) {
        if !self.elects() {
            return;
        }
        let me = self.config.id;
        let RoleState::Looking(election) = &self.role else {
            return;
        };
        let Some(vote) = election.vote else {
            return;
        };
        if !self.is_quorum(|m| election.received.get(&m) == Some(&vote)) {
            return;
        }
        if vote.id == me {
            self.become_leader();
        } else {
            self.become_follower(vote.id);
        }
    }

    /// Votes between an observer and anyone: an observer's vote never counts, and an observer
    /// decides nothing; it learns the leader from voters that settled, or from the leader
    /// itself.
    ///
    /// With dynamic membership a member's view may be stale (it was away while the
    /// membership changed): the leader's own claim is taken from anyone (what makes the
    /// member join is still a quorum of its view following that leader), and a settled
    /// observer tells a looking member that is not a voter in its own view whom it follows
    /// (never a voter of its view: observers do not take part in their voters' elections).
    fn observer_vote(&mut self, from: PeerId, settled: Option<PeerId>) {
        if !self.elects() {
            // A member a change removed (listed nowhere, following) tells a voter looking
            // with a view older than its own whom it follows: that voter's quorum may be
            // made of such members only. (A listed observer never does: it takes no part in
            // its voters' elections.)
            if settled.is_none()
                && self.votes(from)
                && !self.config.is_member(self.config.id)
                && let RoleState::Following(f) = &self.role
            {
                let leader = f.leader;
                self.tell_leader(from, leader);
                return;
            }
            if self.votes(from) || settled == Some(from) {
                if let RoleState::Looking(election) = &mut self.role {
                    match settled {
                        Some(leader) => {
                            election.settled.insert(from, leader);
                            self.ask_leader(from, leader);
                            self.check_join();
                        }
                        None => {
                            election.settled.remove(&from);
                        }
                    }
                }
                return;
            }
            match settled {
                // What a member outside its view says counts for nothing, but the leader it
                // names is asked whether it leads: its own claim may (see `check_join`).
                Some(leader) => self.ask_leader(from, leader),
                None => {
                    if let RoleState::Following(f) = &self.role {
                        let leader = f.leader;
                        self.tell_leader(from, leader);
                    }
                }
            }
            return;
        }
        // A voter hears a member that does not vote in its view: the leader's own claim is
        // taken (this view may be stale), and the leader another names is asked; a settled
        // voter tells it whom it follows; a looking one ignores its vote (no vote).
        if let Some(leader) = settled {
            if leader == from
                && let RoleState::Looking(election) = &mut self.role
            {
                election.settled.insert(from, leader);
                self.check_join();
            } else {
                self.ask_leader(from, leader);
            }
            return;
        }
        let leader = match &self.role {
            RoleState::Looking(_) => return,
            RoleState::Following(f) => f.leader,
            RoleState::Leading(_) => self.config.id,
        };
        let reply = Message::Vote {
            round: self.election_round,
            vote: self.own_vote(),
            settled: Some(leader),
            applied_change: 0,
        };
        self.send(from, reply);
    }

    /// A looking member that does not vote in its own view still votes as the members that
    /// count it do (their view is older: they have not applied the change that took its vote
    /// away, or it has not learned the one that gave it one, and their quorum needs it, as
    /// a server removed in Raft still grants votes): it adopts the best candidate it hears,
    /// never itself, and never decides.
    fn adopt_vote(&mut self, from: PeerId, round: u64, vote: Vote) {
        let me = self.config.id;
        let my_round = self.election_round;
        let RoleState::Looking(election) = &mut self.role else {
            return;
        };
        if vote.id == me || vote == Self::NO_CANDIDATE {
            return;
        }
        let current = election.vote.unwrap_or(Self::NO_CANDIDATE);
        if round > my_round {
            self.election_round = round;
            election.received.clear();
            election.following_me.clear();
            election.vote = Some(vote);
        } else if round == my_round && vote > current {
            election.vote = Some(vote);
        } else {
            if round < my_round {
                let reply = Message::Vote {
                    round: my_round,
                    vote: current,
                    settled: None,
                    applied_change: 0,
                };
                self.send(from, reply);
            }
            return;
        }
        self.broadcast_vote();
        if !self.others().contains(&from) {
            let reply = Message::Vote {
                round: self.election_round,
                vote,
                settled: None,
                applied_change: 0,
            };
            self.send(from, reply);
        }
    }

    /// A member `from` follows `leader`: if this member does not send its votes to that
    /// leader (its view does not list it as a voter) and has not heard its claim yet, it asks
    /// the leader directly, whose answer says whether it leads.
    fn ask_leader(&mut self, from: PeerId, leader: PeerId) {
        let me = self.config.id;
        if leader == from || leader == me || self.others().contains(&leader) {
            return;
        }
        let RoleState::Looking(election) = &self.role else {
            return;
        };
        if election.settled.get(&leader) == Some(&leader) {
            return;
        }
        let vote = Message::Vote {
            round: self.election_round,
            vote: election.vote.unwrap_or_else(|| self.own_vote()),
            settled: None,
            applied_change: 0,
        };
        self.send(leader, vote);
    }

    /// Joins a leader that a quorum follows and that says it leads (an observer does not
    /// count itself: it joins a leader a quorum of voters follows).
    pub(crate) fn check_join(&mut self) {
        let me = self.config.id;
        let RoleState::Looking(election) = &self.role else {
            return;
        };
        // A member that votes for itself, and that a quorum (of each membership, with a
        // change pending) follows or votes for in this round, leads (FLE's `checkLeader`
        // for itself). Its own vote may never have reached them all: a member that has not
        // logged a pending change does not send its votes to the voters only that change
        // adds, yet it settles on one of them from the votes of those that did.
        let backs_me = |m: PeerId| {
            m == me
                || election.following_me.contains(&m)
                || election.received.get(&m).is_some_and(|v| v.id == me)
        };
        let votes_for_me = election.vote.is_some_and(|v| v.id == me);
        if votes_for_me && self.elects() && self.is_quorum(backs_me) {
            self.become_leader();
            return;
        }
        let leaders: std::collections::BTreeSet<PeerId> =
            election.settled.values().copied().collect();
        // This member would follow too (its own vote counts only if it votes). Joining
        // decides nothing (the leader's discovery does): with a membership change logged
        // here, a quorum of either membership following the leader will do. (The change may
        // be committed already, its new voters following a leader, while the old voters
        // that logged it look for one: none of them would count as following.)
        //
        // A member whose view is stale (the voters it knows were removed, or look for a
        // leader with views as stale as its own) may never see such a quorum: once it has
        // looked for longer than `init_limit` ticks, the leader's own claim will do (a
        // leader that lost its quorum steps down within `sync_limit` ticks anyway) — for a
        // voter, only a leader that votes in its view.
        let patient = self.tick.saturating_sub(election.since) > u64::from(self.config.init_limit);
        let following =
            |m: PeerId, leader: PeerId| m == me || election.settled.get(&m) == Some(&leader);
        // A voter never follows a leader that a change it applied took the vote from (it
        // is on its way out; following it would lend it a vote). A leader it does not know
        // at all may be one a newer membership added: that one it may follow.
        let choice = leaders.into_iter().find(|leader| {
            election.settled.get(leader) == Some(leader)
                && (!self.elects() || !self.deposed.contains(leader))
                && (patient
                    || self
                        .config
                        .members_now()
                        .has_quorum(|m| following(m, *leader))
                    || self
                        .pending_members
                        .as_ref()
                        .is_some_and(|(_, next)| next.has_quorum(|m| following(m, *leader))))
        });
        if let Some(leader) = choice {
            self.become_follower(leader);
        }
    }

    /// `from` sent this member a FOLLOWERINFO, as to its leader: a member that follows
    /// another tells it whom it follows, and a looking one for whom it votes, so that it
    /// stops waiting for a sync that will not come (a ZooKeeper learner finds out when the
    /// connection to a non-leader is refused). A looking member that votes for itself may
    /// yet lead: its vote says so.
    pub(crate) fn not_leading(&mut self, from: PeerId) {
        match &self.role {
            RoleState::Following(f) => {
                let leader = f.leader;
                self.tell_leader(from, leader);
            }
            RoleState::Looking(e) => {
                let vote = e.vote.unwrap_or_else(|| self.own_vote());
                let round = self.election_round;
                self.send(
                    from,
                    Message::Vote {
                        round,
                        vote,
                        settled: None,
                        applied_change: 0,
                    },
                );
            }
            RoleState::Leading(_) => {}
        }
    }

    /// Whether this vote, from the member this one follows, says that member does not lead:
    /// it follows another (whatever this member's phase), or, while this member has not
    /// started serving with it, it looks, in this round or a later one, voting for another.
    fn not_led_by(&self, from: PeerId, round: u64, vote: Vote, settled: Option<PeerId>) -> bool {
        let RoleState::Following(f) = &self.role else {
            return false;
        };
        if f.leader != from {
            return false;
        }
        match settled {
            Some(leader) => leader != from,
            None => {
                vote.id != from
                    && round >= self.election_round
                    && !matches!(f.phase, super::follower::Phase::Serving(_))
            }
        }
    }

    /// Tells `to` that this member follows (or leads, `leader` being itself) `leader`.
    fn tell_leader(&mut self, to: PeerId, leader: PeerId) {
        let reply = Message::Vote {
            round: self.election_round,
            vote: self.own_vote(),
            settled: Some(leader),
            applied_change: 0,
        };
        self.send(to, reply);
    }
}
