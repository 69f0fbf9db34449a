//! Whom a member dials: the peers the driver names ([`super::Outboxes::set_peers`]) and the
//! peers it learned from a hello (a joining member the configuration does not list yet), one
//! dialer task and one bounded queue each. A learned peer is dialed while a connection it
//! greeted us on is up; at most [`MAX_LEARNED_PEERS`] are, so a flood of hellos from random
//! ids cannot grow the member's tasks or memory.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::dial;
use crate::ensemble::identity::EnsembleIdentity;
use crate::ensemble::wire::Hello;
use crate::zab::PeerId;

/// Messages queued for one peer before more are dropped.
pub(super) const OUT_QUEUE: usize = 16_384;

/// Peers learned from hellos (not named by the driver) that are dialed at once; a hello from
/// yet another unknown id is refused until one of them leaves.
///
/// ```
/// assert_eq!(zk_server_mini::ensemble::transport::MAX_LEARNED_PEERS, 64);
/// ```
pub const MAX_LEARNED_PEERS: usize = 64;

/// A frame queued for a peer: its head and body (sent as one length-prefixed frame).
pub(super) type Frame = (Bytes, Bytes);

/// The latest accepted hello of a peer and the address it came from.
#[derive(Debug, Clone, Copy)]
struct Greeting {
    hello: Hello,
    ip: IpAddr,
}

/// One dialer: its task and the queue it drains.
#[derive(Debug)]
struct Dialer {
    addr: SocketAddr,
    queue: mpsc::Sender<Frame>,
    task: AbortHandle,
}

/// Who this member is to its peers: what goes into its hellos.
#[derive(Debug, Clone)]
pub(super) struct Me {
    pub(super) id: PeerId,
    pub(super) client_port: u16,
    pub(super) quorum_port: u16,
    pub(super) identity: watch::Receiver<EnsembleIdentity>,
    pub(super) shutdown: watch::Receiver<bool>,
}

/// The peer set, shared by the driver's outboxes and the listener's connections.
#[derive(Debug)]
pub(super) struct PeerSet {
    me: Me,
    /// Named by the driver (the configuration).
    named: BTreeMap<PeerId, SocketAddr>,
    /// Greeted connections up, per peer.
    inbound: BTreeMap<PeerId, usize>,
    /// Kept for named peers and for peers with a greeted connection up.
    greetings: BTreeMap<PeerId, Greeting>,
    dialers: BTreeMap<PeerId, Dialer>,
    tasks: JoinSet<()>,
}

pub(super) type Shared = Arc<Mutex<PeerSet>>;

pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, PeerSet> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl PeerSet {
    pub(super) fn new(me: Me) -> Self {
        Self {
            me,
            named: BTreeMap::new(),
            inbound: BTreeMap::new(),
            greetings: BTreeMap::new(),
            dialers: BTreeMap::new(),
            tasks: JoinSet::new(),
        }
    }

    /// The queue of `peer`'s dialer, if it is dialed.
    pub(super) fn queue(&self, peer: PeerId) -> Option<&mpsc::Sender<Frame>> {
        self.dialers.get(&peer).map(|d| &d.queue)
    }

    /// The peers dialed now, and where.
    #[cfg(test)]
    pub(super) fn dialed(&self) -> BTreeMap<PeerId, SocketAddr> {
        self.dialers.iter().map(|(id, d)| (*id, d.addr)).collect()
    }

    /// The latest hello accepted from `peer`.
    pub(super) fn hello_from(&self, peer: PeerId) -> Option<Hello> {
        self.greetings.get(&peer).map(|g| g.hello)
    }

    /// Connections the listener serves at once, greeted or not: a flood of connections to
    /// the quorum port is refused past it.
    pub(super) fn max_connections(&self) -> usize {
        4 * (self.named.len() + 1) + 16 + MAX_LEARNED_PEERS
    }

    /// Replaces the named peers: dialers start for new ids, restart for moved ones, and stop
    /// for ids no longer named unless a connection they greeted us on is up (they are then
    /// learned peers; not counted against [`MAX_LEARNED_PEERS`] now, but bounded all the
    /// same, by the listener's connection bound).
    pub(super) fn set_named(&mut self, peers: BTreeMap<PeerId, SocketAddr>) {
        let mut touched: Vec<PeerId> = self.named.keys().copied().collect();
        self.named = peers;
        self.named.remove(&self.me.id);
        touched.extend(self.named.keys().copied());
        for id in touched {
            if !self.named.contains_key(&id) && !self.inbound.contains_key(&id) {
                self.greetings.remove(&id);
            }
            self.reconcile(id);
        }
    }

    /// Takes a greeted connection from `hello.from` at `ip`, or says why not: the hello of a
    /// stranger (see [`EnsembleIdentity::accepts`]), or one more unknown peer than
    /// [`MAX_LEARNED_PEERS`].
    pub(super) fn admit(&mut self, hello: Hello, ip: IpAddr) -> Result<(), String> {
        let ours = *self.me.identity.borrow();
        ours.accepts(&hello, self.me.id)
            .map_err(|e| e.to_string())?;
        let from = hello.from;
        let known = self.named.contains_key(&from) || self.inbound.contains_key(&from);
        if !known && self.learned() >= MAX_LEARNED_PEERS {
            return Err(format!(
                "{MAX_LEARNED_PEERS} peers outside the configuration are connected already; \
                 {from} refused"
            ));
        }
        *self.inbound.entry(from).or_insert(0) += 1;
        self.greetings.insert(from, Greeting { hello, ip });
        self.reconcile(from);
        Ok(())
    }

    /// A connection `peer` greeted us on ended.
    pub(super) fn leave(&mut self, peer: PeerId) {
        let Some(n) = self.inbound.get_mut(&peer) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            self.inbound.remove(&peer);
            if !self.named.contains_key(&peer) {
                self.greetings.remove(&peer);
            }
            self.reconcile(peer);
        }
    }

    /// Stops every dialer and hands over their tasks (to be awaited).
    pub(super) fn close(&mut self) -> JoinSet<()> {
        self.dialers.clear();
        std::mem::take(&mut self.tasks)
    }

    /// Peers dialed because of a hello alone.
    fn learned(&self) -> usize {
        self.inbound
            .keys()
            .filter(|id| !self.named.contains_key(id))
            .count()
    }

    /// Where `peer` should be dialed, if at all: the driver's address, else the address its
    /// hello came from with the quorum port it announced (while its connection is up).
    fn wanted(&self, peer: PeerId) -> Option<SocketAddr> {
        if let Some(addr) = self.named.get(&peer) {
            return Some(*addr);
        }
        if !self.inbound.contains_key(&peer) {
            return None;
        }
        let g = self.greetings.get(&peer)?;
        Some(SocketAddr::new(g.ip, g.hello.quorum_port))
    }

    /// Makes `peer`'s dialer match [`Self::wanted`].
    fn reconcile(&mut self, peer: PeerId) {
        while self.tasks.try_join_next().is_some() {}
        let wanted = self.wanted(peer);
        if let Some(d) = self.dialers.get(&peer) {
            if Some(d.addr) == wanted {
                return;
            }
            d.task.abort();
            self.dialers.remove(&peer);
        }
        let Some(addr) = wanted else {
            return;
        };
        let (queue, rx) = mpsc::channel(OUT_QUEUE);
        let task = self.tasks.spawn(dial(addr, self.me.clone(), rx));
        self.dialers.insert(peer, Dialer { addr, queue, task });
    }
}
