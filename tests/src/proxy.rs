//! A loopback TCP proxy that a test controls, for network faults between a client and a server.
//!
//! ```no_run
//! # async fn demo(server: std::net::SocketAddr) -> std::io::Result<()> {
//! use zk_integration_tests::TcpProxy;
//! let proxy = TcpProxy::start(server).await?;
//! let connect_to = proxy.listen_addr();   // give this to the client
//! proxy.pause().await;                     // the client hears nothing: its session times out
//! proxy.resume();
//! proxy.drop_connections().await;          // the client sees its socket close and reconnects
//! proxy.block_new();                       // reconnects are closed at once ("server down")
//! proxy.unblock();
//! # let _ = connect_to; Ok(()) }
//! ```

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{RwLock, mpsc, watch};
use tokio::task::JoinHandle;

/// Which way bytes travel through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the connecting client to the upstream server.
    ClientToServer,
    /// From the upstream server back to the client.
    ServerToClient,
}

/// A chunk of bytes the proxy forwarded, as seen by [`TcpProxy::tap`].
#[derive(Debug, Clone)]
pub struct TapEvent {
    /// Proxy-local connection number, from 1 in accept order.
    pub conn: u64,
    /// Which way the bytes went.
    pub direction: Direction,
    /// The bytes, exactly as forwarded (chunk boundaries are arbitrary; see [`FrameSplitter`]).
    pub data: Bytes,
}

struct Shared {
    upstream: Mutex<SocketAddr>,
    pause_c2s: watch::Sender<bool>,
    pause_s2c: watch::Sender<bool>,
    /// Pumps hold a read guard while writing; `pause` takes the write guard so that no write is in
    /// progress once it returns.
    gate: RwLock<()>,
    block_new: AtomicBool,
    conns: Mutex<HashMap<u64, JoinHandle<()>>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    tap: Mutex<Option<mpsc::UnboundedSender<TapEvent>>>,
}

impl Shared {
    fn pause_flag(&self, direction: Direction) -> &watch::Sender<bool> {
        match direction {
            Direction::ClientToServer => &self.pause_c2s,
            Direction::ServerToClient => &self.pause_s2c,
        }
    }
}

/// Locks a std mutex; a poisoned lock still holds consistent data here (plain maps and options).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A TCP proxy listening on `127.0.0.1:<ephemeral>` that forwards every accepted connection to an
/// upstream address, with switches for faults.
///
/// Dropping the proxy stops accepting and aborts every connection.
pub struct TcpProxy {
    listen: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

impl std::fmt::Debug for TcpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpProxy")
            .field("listen", &self.listen)
            .field("upstream", &*lock(&self.shared.upstream))
            .field("connections", &self.connection_count())
            .finish()
    }
}

impl TcpProxy {
    /// Starts a proxy to `upstream` and returns once it is listening.
    ///
    /// Must be called inside a tokio runtime; the proxy's tasks run on it.
    ///
    /// # Errors
    /// The listening socket could not be bound.
    pub async fn start(upstream: SocketAddr) -> io::Result<TcpProxy> {
        // An OS-assigned port is safe here: we hold the listener from bind to drop.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let listen = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            pause_c2s: watch::Sender::new(false),
            pause_s2c: watch::Sender::new(false),
            gate: RwLock::new(()),
            block_new: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            accepted: AtomicU64::new(0),
            tap: Mutex::new(None),
        });
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(TcpProxy {
            listen,
            shared,
            accept_task,
        })
    }

    /// The address clients should connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The listen address as a ZooKeeper connect string, `127.0.0.1:<port>`.
    pub fn connect_string(&self) -> String {
        self.listen.to_string()
    }

    /// The upstream address new connections are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        *lock(&self.shared.upstream)
    }

    /// Forwards connections accepted from now on to `upstream` (existing ones keep theirs).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *lock(&self.shared.upstream) = upstream;
    }

    /// Closes every connection open at the time of the call, on both sides, and returns how
    /// many there were. When this returns, the sockets are closed: the client reads EOF (or a
    /// reset, if it had unread data in flight).
    pub async fn drop_connections(&self) -> usize {
        let handles: Vec<JoinHandle<()>> =
            lock(&self.shared.conns).drain().map(|(_, h)| h).collect();
        for h in &handles {
            h.abort();
        }
        let n = handles.len();
        for h in handles {
            // Waiting for the aborted task drops its sockets, which closes them.
            let _ = h.await;
        }
        n
    }

    /// Stops forwarding in both directions. Connections stay open but carry no bytes, so each
    /// side sees silence (pings go unanswered, sessions time out). Bytes sent meanwhile are held
    /// and delivered by [`TcpProxy::resume`]. When this returns no write is in progress.
    pub async fn pause(&self) {
        let _gate = self.shared.gate.write().await;
        self.shared.pause_c2s.send_replace(true);
        self.shared.pause_s2c.send_replace(true);
    }

    /// Stops forwarding in one direction only (e.g. requests reach the server, replies do not).
    pub async fn pause_direction(&self, direction: Direction) {
        let _gate = self.shared.gate.write().await;
        self.shared.pause_flag(direction).send_replace(true);
    }

    /// Resumes forwarding in both directions, delivering held bytes in order.
    pub fn resume(&self) {
        self.shared.pause_c2s.send_replace(false);
        self.shared.pause_s2c.send_replace(false);
    }

    /// Resumes forwarding in one direction.
    pub fn resume_direction(&self, direction: Direction) {
        self.shared.pause_flag(direction).send_replace(false);
    }

    /// From now on, new connections are accepted and closed at once, without contacting the
    /// upstream (the client sees a connection closed before any reply). Existing connections
    /// are not affected.
    pub fn block_new(&self) {
        self.shared.block_new.store(true, Ordering::SeqCst);
    }

    /// Undoes [`TcpProxy::block_new`].
    pub fn unblock(&self) {
        self.shared.block_new.store(false, Ordering::SeqCst);
    }

    /// Number of connections currently being forwarded.
    pub fn connection_count(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    /// Number of connections accepted so far, blocked ones included.
    pub fn accepted_count(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Starts recording: every chunk forwarded from now on is sent to the returned receiver,
    /// in forwarding order per direction. A new call replaces the previous tap.
    pub fn tap(&self) -> mpsc::UnboundedReceiver<TapEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        *lock(&self.shared.tap) = Some(tx);
        rx
    }

    /// Stops recording.
    pub fn untap(&self) {
        *lock(&self.shared.tap) = None;
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        for (_, h) in lock(&self.shared.conns).drain() {
            h.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Usually EMFILE; back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        if shared.block_new.load(Ordering::SeqCst) {
            drop(stream);
            continue;
        }
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        // Insert under the lock the task needs to remove itself, so it cannot finish first.
        let mut conns = lock(&shared.conns);
        let handle = tokio::spawn(serve(Arc::clone(&shared), id, stream));
        conns.insert(id, handle);
    }
}

async fn serve(shared: Arc<Shared>, id: u64, client: TcpStream) {
    let upstream_addr = *lock(&shared.upstream);
    if let Ok(upstream) = TcpStream::connect(upstream_addr).await {
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (upstream_read, upstream_write) = upstream.into_split();
        tokio::join!(
            pump(
                &shared,
                id,
                Direction::ClientToServer,
                client_read,
                upstream_write
            ),
            pump(
                &shared,
                id,
                Direction::ServerToClient,
                upstream_read,
                client_write
            ),
        );
    }
    lock(&shared.conns).remove(&id);
}

async fn pump(
    shared: &Shared,
    conn: u64,
    direction: Direction,
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
) {
    let mut paused = shared.pause_flag(direction).subscribe();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        loop {
            if paused.wait_for(|p| !*p).await.is_err() {
                return;
            }
            let _gate = shared.gate.read().await;
            if *paused.borrow() {
                continue;
            }
            if let Some(tap) = lock(&shared.tap).as_ref() {
                let _ = tap.send(TapEvent {
                    conn,
                    direction,
                    data: Bytes::copy_from_slice(&buf[..n]),
                });
            }
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
            break;
        }
    }
    // Pass the half-close on, so the other side sees EOF too.
    let _ = to.shutdown().await;
}

/// Splits a byte stream into ZooKeeper frames (4-byte big-endian length + payload).
///
/// ```
/// use zk_integration_tests::proxy::FrameSplitter;
/// let mut s = FrameSplitter::default();
/// assert!(s.push(&[0, 0, 0, 2, 0xaa]).is_empty());
/// let frames = s.push(&[0xbb, 0, 0]);
/// assert_eq!(frames, vec![bytes::Bytes::from_static(&[0, 0, 0, 2, 0xaa, 0xbb])]);
/// ```
#[derive(Debug, Default)]
pub struct FrameSplitter {
    buf: BytesMut,
}

impl FrameSplitter {
    /// Adds bytes and returns the frames completed by them, each including its length prefix.
    /// A negative length is treated as 0 (such a stream is broken anyway).
    pub fn push(&mut self, data: &[u8]) -> Vec<Bytes> {
        self.buf.extend_from_slice(data);
        let mut frames = Vec::new();
        while self.buf.len() >= 4 {
            let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
            let total = 4 + usize::try_from(len).unwrap_or(0);
            if self.buf.len() < total {
                break;
            }
            frames.push(self.buf.split_to(total).freeze());
        }
        frames
    }

    /// Bytes of an incomplete frame still buffered.
    pub fn pending(&self) -> usize {
        self.buf.remaining()
    }
}
