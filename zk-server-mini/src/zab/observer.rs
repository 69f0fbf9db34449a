//! Observers: members that learn the leader, sync with it like followers (DIFF / TRUNC /
//! SNAP, NEWLEADER, UPTODATE) and then receive committed entries only (ZooKeeper's INFORM:
//! a proposal and its commit in one). They never vote, never lead, never acknowledge a
//! proposal and never count for a quorum (election, epoch, NEWLEADER, commit, read index or
//! the leader's liveness). Clients are served through the same path as a follower's.
//!
//! The follower's state machine (`follower.rs`) runs an observer too; the few places where
//! they differ ask [`Peer::is_observer`]. The leader's side is here: what it sends
//! observers once entries commit.

use super::message::Message;
use super::peer::Peer;
use super::types::{Config, Entry, PeerId};

impl Peer {
    /// Whether this member is an observer: listed as one (and no pending change makes it a
    /// voter). An observer receives committed entries only; every other learner, voting or
    /// not (a server being added, or one a change removed), receives proposals, as in
    /// ZooKeeper.
    ///
    /// ```
    /// use zk_server_mini::zab::{Config, Peer, Recovered};
    /// let config = Config::new(4, vec![1, 2, 3]).with_observers(vec![4]);
    /// let peer = Peer::new(config, Recovered::default())?;
    /// assert!(peer.is_observer());
    /// # Ok::<(), zk_server_mini::zab::StartError>(())
    /// ```
    pub fn is_observer(&self) -> bool {
        self.informed(self.config.id)
    }

    /// Whether `id` gets committed entries only (INFORM): a listed observer that no pending
    /// change makes a voter.
    pub(crate) fn informed(&self, id: PeerId) -> bool {
        self.config.is_observer(id) && !self.votes(id)
    }

    /// The configuration this member runs with (who votes, who observes, the limits).
    ///
    /// ```
    /// use zk_server_mini::zab::{Config, Peer, Recovered};
    /// let peer = Peer::new(Config::new(1, vec![1, 2, 3]).with_observers(vec![4]), Recovered::default())?;
    /// assert!(peer.config().is_observer(4));
    /// assert_eq!(peer.config().quorum(), 2);
    /// # Ok::<(), zk_server_mini::zab::StartError>(())
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// At an observer: a committed entry from the leader. One it already holds (the sync
    /// carried it, uncommitted then) is now known committed; a new one is logged and
    /// applied. A gap means informs were lost: start over with the leader.
    pub(crate) fn on_inform(&mut self, entry: Entry) {
        let zxid = entry.zxid;
        if zxid > self.history.last() && self.log_entries(vec![entry], None).is_err() {
            self.resync_observer();
            return;
        }
        self.commit_through(zxid);
    }

    fn resync_observer(&mut self) {
        if let Some(leader) = self.role().leader() {
            tracing::info!(leader, "informs were lost; resynchronising with the leader");
            self.become_follower(leader);
        }
    }

    /// At the leader: tells each synced observer about the entries committed after `from`
    /// through `to`, in order.
    pub(crate) fn inform_observers(
        &mut self,
        epoch: u32,
        observers: &[PeerId],
        from: i64,
        to: i64,
    ) {
        if observers.is_empty() || to <= from {
            return;
        }
        let entries: Vec<Entry> = self
            .history
            .after(from)
            .take_while(|e| e.zxid <= to)
            .cloned()
            .collect();
        for o in observers {
            for entry in &entries {
                self.send(
                    *o,
                    Message::Inform {
                        epoch,
                        entry: entry.clone(),
                    },
                );
            }
        }
    }
}
