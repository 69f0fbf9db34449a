//! Peer connections over TCP. Each member listens on its quorum port and dials its peers: a
//! member's messages to a peer travel on the connection it dialed, so each direction is one
//! FIFO stream. A dialed connection opens with the hello ([`super::wire::Hello`]); the
//! listener refuses strangers (a bound member of another ensemble, garbage, see
//! [`super::identity`]) and drops any connection whose bytes do not decode.
//!
//! Whom a member dials changes at run time (the driver's `Outboxes::set_peers`, when a
//! membership change commits), and a hello from a peer the member does not know (a joining
//! member) makes it dial that peer back, at the address the hello came from and the quorum
//! port it names, while that connection is up; at most [`MAX_LEARNED_PEERS`] such peers at
//! once, so a flood of hellos from random ids cannot grow the member's tasks or memory. Their
//! messages go to the inbox like anyone's: the Zab core decides what a non-member may do.
//!
//! Queues are bounded: a peer that does not keep up loses messages (Zab resynchronises it),
//! the member's memory does not grow.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::identity::EnsembleIdentity;
use super::wire::{self, HELLO_LEN, Hello, MAX_FRAME};
use crate::zab::{Message, PeerId};

mod peer_set;
#[cfg(test)]
mod tests;

pub use peer_set::MAX_LEARNED_PEERS;
use peer_set::{Frame, Me, PeerSet, Shared, lock};

/// Time a dialing peer has to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Faults a test can inject into one member's peer traffic.
///
/// ```
/// use zk_server_mini::ensemble::transport::PeerFaults;
/// let faults = PeerFaults::default();
/// faults.blocked.lock().unwrap().extend([2, 3]); // a partition: {this} | {2, 3}
/// assert!(faults.is_blocked(3) && !faults.is_blocked(4));
/// faults.blocked.lock().unwrap().clear(); // healed
/// ```
#[derive(Debug, Default)]
pub struct PeerFaults {
    /// Peers this member neither hears nor reaches (a partition).
    pub blocked: Mutex<BTreeSet<PeerId>>,
}

impl PeerFaults {
    /// Whether traffic with `peer` is cut.
    ///
    /// ```
    /// use zk_server_mini::ensemble::transport::PeerFaults;
    /// let faults = PeerFaults::default();
    /// assert!(!faults.is_blocked(2));
    /// faults.blocked.lock().unwrap().insert(2);
    /// assert!(faults.is_blocked(2));
    /// ```
    pub fn is_blocked(&self, peer: PeerId) -> bool {
        self.blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&peer)
    }
}

/// The sending side: one bounded queue per dialed peer.
#[derive(Debug)]
pub(crate) struct Outboxes {
    peers: Shared,
    faults: Arc<PeerFaults>,
}

impl Outboxes {
    /// Queues `message` for `to`; dropped when the queue is full, the peer is not dialed, or
    /// it is cut off.
    pub(crate) fn send(&self, to: PeerId, message: &Message) {
        if self.faults.is_blocked(to) {
            return;
        }
        let Some(q) = lock(&self.peers).queue(to).cloned() else {
            return;
        };
        for frame in wire::encode_frames(message) {
            if q.try_send(frame).is_err() {
                // A chunked SNAP missing a chunk is refused by the follower, which syncs again.
                tracing::debug!(to, "peer queue full; message dropped");
                return;
            }
        }
    }

    /// Makes `peers` (this member's peers and their quorum addresses, resolved by the
    /// caller; this member's own id is ignored) the peers dialed: a dialer starts for each
    /// new id and restarts for an id whose address changed; the dialer of an id no longer
    /// listed stops (its task ends, its queued messages are dropped) unless that peer greeted
    /// this member on a connection that is still up (a peer learned from its hello, which
    /// stays dialed while it is connected). The driver calls it when a membership change
    /// is applied (`Driver::membership_changed`: the new members' addresses, resolved).
    pub(crate) fn set_peers(&mut self, peers: BTreeMap<PeerId, SocketAddr>) {
        lock(&self.peers).set_named(peers);
    }

    /// The peers dialed now and where (named or learned).
    #[cfg(test)]
    pub(crate) fn dialed(&self) -> BTreeMap<PeerId, SocketAddr> {
        lock(&self.peers).dialed()
    }

    /// The hellos peers greeted this member with (for binding to the leader's ensemble).
    pub(crate) fn greetings(&self) -> Greetings {
        Greetings(self.peers.clone())
    }
}

/// The latest hello each peer greeted this member with.
#[derive(Debug, Clone)]
pub(crate) struct Greetings(Shared);

impl Greetings {
    /// `peer`'s latest accepted hello, kept while it is a named peer or connected.
    pub(crate) fn hello_from(&self, peer: PeerId) -> Option<Hello> {
        lock(&self.0).hello_from(peer)
    }
}

/// Who this member is and whom it talks to at first.
#[derive(Debug, Clone)]
pub(crate) struct Net {
    pub(crate) me: PeerId,
    /// This member's ensemble, bound or proposed: its hellos say it, and whom it accepts
    /// follows from it.
    pub(crate) identity: watch::Receiver<EnsembleIdentity>,
    pub(crate) peers: BTreeMap<PeerId, SocketAddr>,
    pub(crate) client_port: u16,
    pub(crate) quorum_port: u16,
    /// Told the id of a peer whose (greeted) connection to us ended.
    pub(crate) lost: mpsc::Sender<PeerId>,
}

/// The transport's tasks: the listener (and its connections) and the dialers.
#[derive(Debug)]
pub(crate) struct TransportTasks {
    listener: JoinSet<()>,
    peers: Shared,
}

impl TransportTasks {
    /// Stops every task and waits for them.
    pub(crate) async fn shutdown(mut self) {
        self.listener.shutdown().await;
        let mut dialers = lock(&self.peers).close();
        dialers.shutdown().await;
    }
}

/// The transport's tasks, shared by the member's core (which stops them when it ends) and
/// its handle (which stops them after aborting the core): whoever comes first.
pub(crate) type SharedTransport = Arc<Mutex<Option<TransportTasks>>>;

/// Stops the transport's tasks and waits for them (and so for its sockets to close), unless
/// that was done already.
pub(crate) async fn shut_down(shared: &SharedTransport) {
    let tasks = shared.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(tasks) = tasks {
        tasks.shutdown().await;
    }
}

/// Starts the listener and the dialers. Received messages go to `inbox`.
pub(crate) fn start(
    net: Net,
    listener: TcpListener,
    inbox: mpsc::Sender<(PeerId, Message)>,
    faults: Arc<PeerFaults>,
    shutdown: watch::Receiver<bool>,
) -> (Outboxes, TransportTasks) {
    let me = Me {
        id: net.me,
        client_port: net.client_port,
        quorum_port: net.quorum_port,
        identity: net.identity.clone(),
        shutdown: shutdown.clone(),
    };
    let peers: Shared = Arc::new(Mutex::new(PeerSet::new(me)));
    lock(&peers).set_named(net.peers.clone());
    let mut tasks = JoinSet::new();
    tasks.spawn(listen(
        listener,
        peers.clone(),
        net,
        inbox,
        faults.clone(),
        shutdown,
    ));
    (
        Outboxes {
            peers: peers.clone(),
            faults,
        },
        TransportTasks {
            listener: tasks,
            peers,
        },
    )
}

async fn listen(
    listener: TcpListener,
    peers: Shared,
    net: Net,
    inbox: mpsc::Sender<(PeerId, Message)>,
    faults: Arc<PeerFaults>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut readers = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            a = listener.accept() => a,
            Some(_) = readers.join_next(), if !readers.is_empty() => continue,
        };
        let Ok((stream, addr)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // Bounded: a flood of connections to the quorum port cannot grow the task set.
        if readers.len() >= lock(&peers).max_connections() {
            tracing::warn!(%addr, "too many peer connections; refused");
            continue;
        }
        let (peers, net, inbox, faults) =
            (peers.clone(), net.clone(), inbox.clone(), faults.clone());
        readers.spawn(async move {
            let mut greeted = None;
            let r = read_peer(stream, addr, &peers, &net, &inbox, &faults, &mut greeted).await;
            if let Err(e) = r {
                tracing::warn!(%addr, "peer connection dropped: {e}");
            }
            if let Some(peer) = greeted {
                lock(&peers).leave(peer);
                if !faults.is_blocked(peer) {
                    let _ = net.lost.try_send(peer);
                }
            }
        });
    }
    readers.shutdown().await;
}

async fn read_peer(
    mut stream: TcpStream,
    addr: SocketAddr,
    peers: &Shared,
    net: &Net,
    inbox: &mpsc::Sender<(PeerId, Message)>,
    faults: &PeerFaults,
    greeted: &mut Option<PeerId>,
) -> Result<(), String> {
    let mut identity = net.identity.clone();
    let mut bytes = [0u8; HELLO_LEN];
    tokio::time::timeout(HELLO_TIMEOUT, stream.read_exact(&mut bytes))
        .await
        .map_err(|_| "no hello in time".to_string())?
        .map_err(|e| e.to_string())?;
    let hello = Hello::decode(&bytes).map_err(|e| format!("refused: {e}"))?;
    identity.borrow_and_update();
    lock(peers)
        .admit(hello, addr.ip())
        .map_err(|e| format!("refused: {e}"))?;
    let from = hello.from;
    *greeted = Some(from);
    let _ = stream.set_nodelay(true);
    let mut snap = wire::SnapAssembly::default();
    loop {
        let len = stream.read_u32().await.map_err(|e| e.to_string())? as usize;
        if len > MAX_FRAME {
            return Err(format!("frame of {len} bytes from {from}"));
        }
        let mut body = BytesMut::zeroed(len);
        stream
            .read_exact(&mut body)
            .await
            .map_err(|e| e.to_string())?;
        let Some(message) = wire::decode_frame(body.freeze(), &mut snap)
            .map_err(|e| format!("from {from}: {e}"))?
        else {
            continue;
        };
        // A member accepted while this one was provisional may be a stranger now that it is
        // bound.
        if identity.has_changed().unwrap_or(false) {
            let ours = *identity.borrow_and_update();
            ours.accepts(&hello, net.me)
                .map_err(|e| format!("refused once bound: {e}"))?;
        }
        if faults.is_blocked(from) {
            continue;
        }
        if inbox.send((from, message)).await.is_err() {
            return Ok(());
        }
    }
}

/// Dials `addr` until it stops (its queue's sender dropped, shutdown, or aborted), sending
/// what is queued. A connection opens with this member's hello as of when it is made; when
/// the member binds to another ensemble id than the one it announced, the connection is made
/// again, so peers always know the id it is bound to.
async fn dial(addr: SocketAddr, mut me: Me, mut rx: mpsc::Receiver<Frame>) {
    let mut backoff = Duration::from_millis(20);
    loop {
        let connected = tokio::select! {
            _ = me.shutdown.changed() => return,
            c = TcpStream::connect(addr) => c,
        };
        let mut stream = match connected {
            Ok(s) => s,
            Err(_) => {
                // Messages queued while the peer is unreachable are stale: drop them.
                while rx.try_recv().is_ok() {}
                tokio::select! {
                    _ = me.shutdown.changed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_millis(250));
                continue;
            }
        };
        backoff = Duration::from_millis(20);
        let _ = stream.set_nodelay(true);
        let announced = *me.identity.borrow_and_update();
        let hello = announced.hello(me.id, me.client_port, me.quorum_port);
        if stream.write_all(&hello.encode()).await.is_err() {
            continue;
        }
        let mut buf = BytesMut::new();
        loop {
            let first = tokio::select! {
                _ = me.shutdown.changed() => return,
                changed = me.identity.changed() => {
                    if changed.is_err() {
                        return; // the member is gone
                    }
                    if me.identity.borrow_and_update().id() != announced.id() {
                        break;
                    }
                    continue;
                }
                m = rx.recv() => match m {
                    Some(m) => m,
                    None => return,
                },
            };
            buf.clear();
            push_frame(&mut buf, &first);
            while buf.len() < (1 << 20) {
                match rx.try_recv() {
                    Ok(m) => push_frame(&mut buf, &m),
                    Err(_) => break,
                }
            }
            if stream.write_all(&buf).await.is_err() {
                break;
            }
            if buf.capacity() > 4 << 20 {
                // A burst (a large sync) must not pin its peak for the connection's life.
                buf = BytesMut::new();
            }
        }
    }
}

fn push_frame(buf: &mut BytesMut, (head, body): &Frame) {
    buf.extend_from_slice(&((head.len() + body.len()) as u32).to_be_bytes());
    buf.extend_from_slice(head);
    buf.extend_from_slice(body);
}
