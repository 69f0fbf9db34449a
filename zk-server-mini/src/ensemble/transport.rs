//! Peer connections over TCP. Each member listens on its quorum port and dials every other
//! member: a member's messages to a peer travel on the connection it dialed, so each
//! direction is one FIFO stream. A dialed connection opens with the hello
//! ([`super::wire::encode_hello`]); the listener refuses strangers (another ensemble, a
//! non-member, garbage) and drops any connection whose bytes do not decode. Queues are
//! bounded: a peer that does not keep up loses messages (Zab resynchronises it), the
//! member's memory does not grow.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::wire::{self, HELLO_LEN, MAX_FRAME};
use crate::zab::{Message, PeerId};

/// Messages queued for one peer before more are dropped.
const OUT_QUEUE: usize = 16_384;

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

/// Where each peer serves clients, learnt from its hello (its address as seen here, and
/// the client port it announced).
pub(crate) type ClientAddrs = Arc<Mutex<BTreeMap<PeerId, SocketAddr>>>;

/// The sending side: one bounded queue per peer.
#[derive(Debug)]
pub(crate) struct Outboxes {
    queues: BTreeMap<PeerId, mpsc::Sender<(Bytes, Bytes)>>,
    faults: Arc<PeerFaults>,
}

impl Outboxes {
    /// Points the transport at these peers (the committed membership). Interim: replaced
    /// by the joiner-transport branch's dynamic peer set.
    pub(crate) fn set_peers(&mut self, peers: BTreeMap<PeerId, SocketAddr>) {
        tracing::debug!(?peers, "membership peers");
    }

    /// Queues `message` for `to`; dropped when the queue is full or the peer is cut off.
    pub(crate) fn send(&self, to: PeerId, message: &Message) {
        if self.faults.is_blocked(to) {
            return;
        }
        let Some(q) = self.queues.get(&to) else {
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
}

/// Who this member is and whom it talks to.
#[derive(Debug, Clone)]
pub(crate) struct Net {
    pub(crate) me: PeerId,
    pub(crate) ensemble_id: u64,
    pub(crate) peers: BTreeMap<PeerId, SocketAddr>,
    pub(crate) client_port: u16,
    pub(crate) client_addrs: ClientAddrs,
    /// Told the id of a peer whose (greeted) connection to us ended.
    pub(crate) lost: mpsc::Sender<PeerId>,
}

/// Starts the listener and the dialers. Received messages go to `inbox`.
pub(crate) fn start(
    net: Net,
    listener: TcpListener,
    inbox: mpsc::Sender<(PeerId, Message)>,
    faults: Arc<PeerFaults>,
    shutdown: watch::Receiver<bool>,
) -> (Outboxes, JoinSet<()>) {
    let mut tasks = JoinSet::new();
    let members: Vec<PeerId> = net.peers.keys().copied().chain([net.me]).collect();
    tasks.spawn(listen(
        listener,
        net.clone(),
        members,
        inbox,
        faults.clone(),
        shutdown.clone(),
    ));
    let mut queues = BTreeMap::new();
    for (&peer, &addr) in &net.peers {
        let (tx, rx) = mpsc::channel(OUT_QUEUE);
        queues.insert(peer, tx);
        let hello = wire::encode_hello(net.ensemble_id, net.me, net.client_port);
        tasks.spawn(dial(addr, hello, rx, shutdown.clone()));
    }
    (Outboxes { queues, faults }, tasks)
}

async fn listen(
    listener: TcpListener,
    net: Net,
    members: Vec<PeerId>,
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
        if readers.len() >= 4 * members.len() + 16 {
            tracing::warn!(%addr, "too many peer connections; refused");
            continue;
        }
        let (net, members, inbox, faults) =
            (net.clone(), members.clone(), inbox.clone(), faults.clone());
        readers.spawn(async move {
            let mut greeted = None;
            let r = read_peer(stream, &net, &members, &inbox, &faults, &mut greeted).await;
            if let Err(e) = r {
                tracing::warn!(%addr, "peer connection dropped: {e}");
            }
            if let Some(peer) = greeted
                && !faults.is_blocked(peer)
            {
                let _ = net.lost.try_send(peer);
            }
        });
    }
    readers.shutdown().await;
}

async fn read_peer(
    mut stream: TcpStream,
    net: &Net,
    members: &[PeerId],
    inbox: &mpsc::Sender<(PeerId, Message)>,
    faults: &PeerFaults,
    greeted: &mut Option<PeerId>,
) -> Result<(), String> {
    let mut hello = [0u8; HELLO_LEN];
    tokio::time::timeout(HELLO_TIMEOUT, stream.read_exact(&mut hello))
        .await
        .map_err(|_| "no hello in time".to_string())?
        .map_err(|e| e.to_string())?;
    let (from, client_port) = wire::decode_hello(&hello, net.ensemble_id, members, net.me)
        .map_err(|e| format!("refused: {e}"))?;
    *greeted = Some(from);
    if let Ok(peer) = stream.peer_addr() {
        net.client_addrs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(from, SocketAddr::new(peer.ip(), client_port));
    }
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
        if faults.is_blocked(from) {
            continue;
        }
        if inbox.send((from, message)).await.is_err() {
            return Ok(());
        }
    }
}

async fn dial(
    addr: SocketAddr,
    hello: [u8; HELLO_LEN],
    mut rx: mpsc::Receiver<(Bytes, Bytes)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(20);
    loop {
        let connected = tokio::select! {
            _ = shutdown.changed() => return,
            c = TcpStream::connect(addr) => c,
        };
        let mut stream = match connected {
            Ok(s) => s,
            Err(_) => {
                // Messages queued while the peer is unreachable are stale: drop them.
                while rx.try_recv().is_ok() {}
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_millis(250));
                continue;
            }
        };
        backoff = Duration::from_millis(20);
        let _ = stream.set_nodelay(true);
        if stream.write_all(&hello).await.is_err() {
            continue;
        }
        let mut buf = BytesMut::new();
        loop {
            let first = tokio::select! {
                _ = shutdown.changed() => return,
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

fn push_frame(buf: &mut BytesMut, (head, body): &(Bytes, Bytes)) {
    buf.extend_from_slice(&((head.len() + body.len()) as u32).to_be_bytes());
    buf.extend_from_slice(head);
    buf.extend_from_slice(body);
}
