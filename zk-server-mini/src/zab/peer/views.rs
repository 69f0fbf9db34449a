//! What a member reports of itself: its id, role, epochs, zxids and vote (read-only).

use super::super::history::History;
use super::super::message::Vote;
use super::super::types::{PeerId, Role};
use super::{Peer, RoleState};

impl Peer {
    /// This member's id.
    ///
    /// ```
    /// use zk_server_mini::zab::{Config, Peer, Recovered};
    /// let peer = Peer::new(Config::new(2, vec![1, 2, 3]), Recovered::default())?;
    /// assert_eq!(peer.id(), 2);
    /// # Ok::<(), zk_server_mini::zab::StartError>(())
    /// ```
    pub fn id(&self) -> PeerId {
        self.config.id
    }

    /// The current role.
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
    /// use zk_server_mini::zab::Role;
    /// let peer = serving(); // an ensemble of one elects itself
    /// assert_eq!(peer.role(), Role::Leading);
    /// ```
    pub fn role(&self) -> Role {
        match &self.role {
            RoleState::Looking(_) => Role::Looking,
            // A learner not listed at all (being added, or removed) is a non-voting follower.
            RoleState::Following(f) if self.config.is_observer(self.config.id) => {
                Role::Observing { leader: f.leader }
            }
            RoleState::Following(f) => Role::Following { leader: f.leader },
            RoleState::Leading(_) => Role::Leading,
        }
    }

    /// The established epoch this member leads, if it is a serving leader.
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
    /// let fresh = Peer::new(Config::new(1, vec![1]), Recovered::default()).unwrap();
    /// assert_eq!(fresh.leading_epoch(), None);
    /// let peer = serving();
    /// assert_eq!(peer.leading_epoch(), Some(peer.current_epoch()));
    /// ```
    pub fn leading_epoch(&self) -> Option<u32> {
        match &self.role {
            RoleState::Leading(l) if l.established => l.epoch,
            _ => None,
        }
    }

    /// Whether clients may be served here.
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
    /// assert!(!peer.is_serving());
    /// run(&mut peer);
    /// assert!(peer.is_serving());
    /// ```
    pub fn is_serving(&self) -> bool {
        self.serving
    }

    /// acceptedEpoch (as last emitted for persisting).
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
    /// let peer = serving();
    /// assert!(peer.accepted_epoch() >= 1); // persisted before the epoch is established
    /// ```
    pub fn accepted_epoch(&self) -> u32 {
        self.accepted_epoch
    }

    /// currentEpoch (as last emitted for persisting).
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
    /// let peer = serving();
    /// assert_eq!(peer.current_epoch(), peer.accepted_epoch());
    /// ```
    pub fn current_epoch(&self) -> u32 {
        self.current_epoch
    }

    /// The last logged zxid (persist requests emitted, durable or not).
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
    /// let mut peer = serving();
    /// let zxid = peer.propose(bytes::Bytes::from_static(b"txn")).unwrap();
    /// assert_eq!(peer.last_logged(), zxid); // emitted for persisting, not yet durable
    /// assert!(peer.committed() < zxid);
    /// ```
    pub fn last_logged(&self) -> i64 {
        self.history.last()
    }

    /// The last zxid handed to the driver to apply.
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
    /// let mut peer = serving();
    /// let zxid = peer.propose(bytes::Bytes::from_static(b"txn")).unwrap();
    /// assert!(peer.applied() < zxid);
    /// run(&mut peer); // the persist completes: a quorum of one has it
    /// assert_eq!(peer.applied(), zxid);
    /// ```
    pub fn applied(&self) -> i64 {
        self.applied
    }

    /// The highest zxid known to be committed.
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
    /// let mut peer = serving();
    /// let zxid = peer.propose(bytes::Bytes::from_static(b"txn")).unwrap();
    /// run(&mut peer);
    /// assert_eq!(peer.committed(), zxid);
    /// ```
    pub fn committed(&self) -> i64 {
        self.committed
    }

    /// The entries held in memory (after the last snapshot).
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
    /// let mut peer = serving();
    /// let zxid = peer.propose(bytes::Bytes::from_static(b"txn")).unwrap();
    /// assert_eq!(peer.history().last(), zxid);
    /// assert_eq!(&peer.history().get(zxid).unwrap().payload[..], b"txn");
    /// ```
    pub fn history(&self) -> &History {
        &self.history
    }

    /// This member's vote if it looked for a leader now.
    ///
    /// ```
    /// use zk_server_mini::zab::{Config, Peer, Recovered, Vote};
    /// let peer = Peer::new(Config::new(3, vec![1, 2, 3]), Recovered::default())?;
    /// assert_eq!(peer.own_vote(), Vote { current_epoch: 0, last_zxid: 0, id: 3 });
    /// # Ok::<(), zk_server_mini::zab::StartError>(())
    /// ```
    pub fn own_vote(&self) -> Vote {
        Vote {
            current_epoch: self.current_epoch,
            last_zxid: self.history.last(),
            id: self.config.id,
        }
    }
}
