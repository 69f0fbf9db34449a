//! The connection task: the one place that owns the socket.
//!
//! [`SessionTask::run`] loops over: pick a host, connect, handshake (ConnectRequest with the last
//! seen zxid), re-send auth, re-register every watch, then [`SessionTask::serve`] the connection
//! until it drops, and start over (backing off between full rounds of hosts) until the session
//! ends or the client is closed.
//!
//! While connected, requests from [`Client`](crate::Client) handles arrive already encoded; the
//! task stamps each with an xid, appends it to one write buffer (many requests per `write`), and
//! keeps it in the FIFO of outstanding requests. Every reply must carry the xid at the head of
//! that FIFO, or the connection is dropped. Notifications are delivered to their watchers as soon
//! as their frame is read, which is always before the reply of any later request completes.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::codec::Decoder;
use tracing::{Instrument, debug, info, trace, warn};
use zk_proto::codec::{FrameCodec, encode_frame};
use zk_proto::jute::{Decode, Encode, JuteReader};
use zk_proto::{
    AddWatchMode, AuthPacket, ConnectRequest, ConnectResponse, ErrorCode, KeeperState, OpCode,
    ReplyHeader, Request, RequestHeader, Response, SetWatches, SetWatches2, WatcherEvent,
    WatcherType,
};

use crate::config::{Config, ExpiryPolicy};
use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::session::{SessionEvent, SessionState};
use crate::ticket::Ticket;
use crate::watch::{Registry, WatchLists, WatchRegistration};

/// A byte stream to a server: TCP, TLS, or an in-memory pipe in tests.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for T {}

/// A boxed [`Transport`].
pub(crate) type BoxTransport = Box<dyn Transport>;

/// Opens a transport to `(host, port)`.
pub(crate) type Connector =
    Arc<dyn Fn(String, u16) -> BoxFuture<'static, io::Result<BoxTransport>> + Send + Sync>;

/// Plain TCP with Nagle off.
pub(crate) fn tcp_connector() -> Connector {
    Arc::new(|host: String, port: u16| {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxTransport)
        })
    })
}

/// The answer to a request: the decoded body, or the error the server or the connection gave.
pub(crate) type ReplyTx = oneshot::Sender<Result<Reply>>;

/// A successful answer: the decoded body and the zxid of its reply header (for a write, the
/// zxid of its transaction).
#[derive(Debug)]
pub(crate) struct Reply {
    pub response: Response,
    pub zxid: i64,
}

/// What a reply does to the task's own state, besides answering its caller.
#[derive(Debug, Default)]
pub(crate) enum Effect {
    /// Nothing.
    #[default]
    None,
    /// A user's removeWatches: on success, drop the local watchers too.
    RemoveWatches {
        path: String,
        watcher_type: WatcherType,
    },
    /// A user's checkWatches: a `Data`/`Children` check on a path whose one-shot watches are
    /// served locally succeeds when there is such a local watch (see `Registry::covered`).
    CheckWatches {
        path: String,
        watcher_type: WatcherType,
    },
    /// A user's removeWatches of one-shot watches served locally, sent to the server as a
    /// checkWatches (a removal would break the persistent registration that serves them) and
    /// answered from the local registry when its reply arrives, in FIFO order.
    RemoveLocalWatches {
        path: String,
        watcher_type: WatcherType,
    },
    /// A request that relies on the server's recursive registration on the path (see
    /// `Registry::server_recursive`): an addWatch(persistent) sent as addWatch(recursive), or a
    /// one-shot watch kept local because that registration serves it. When its reply comes, the
    /// registration is still there (a removal waits for requests in flight on the path), even if
    /// every local watcher that had it went meanwhile: the path is marked again.
    KeepsServerRecursive { path: String },
    /// Internal: a SetWatches/SetWatches2 batch.
    SetWatches,
    /// Internal: removeWatches for a dropped watch (errors ignored).
    DropWatch,
    /// closeSession: the connection ends with the reply.
    Close,
}

/// An encoded request on its way to the connection task.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub op: OpCode,
    /// A whole frame with a zero xid at bytes 4..8 (the task writes the real one).
    pub frame: BytesMut,
    pub reply: Option<ReplyTx>,
    pub watch: Option<WatchRegistration>,
    pub effect: Effect,
    /// Withdrawn by a caller that gave up: then never written.
    pub ticket: Arc<Ticket>,
}

/// What a [`Client`](crate::Client) or a watch handle asks of the task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send a request.
    Request(Outgoing),
    /// A watch handle was dropped.
    RemoveWatch { id: u64, path: String },
    /// Authenticate now and after every reconnect.
    Auth {
        scheme: String,
        auth: Bytes,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Close the session.
    Close { done: Option<oneshot::Sender<()>> },
}

struct Pending {
    xid: i32,
    op: OpCode,
    /// When it was handed to the socket (for the lease).
    sent: Instant,
    reply: Option<ReplyTx>,
    watch: Option<WatchRegistration>,
    effect: Effect,
}

struct AuthEntry {
    scheme: String,
    auth: Bytes,
    waiter: Option<oneshot::Sender<Result<()>>>,
}

/// How the task ended.
enum Terminal {
    Closed(Option<oneshot::Sender<()>>),
    Expired,
    AuthFailed,
}

/// Why [`SessionTask::drive`] stopped early.
enum Interrupt {
    Terminal(Terminal),
    Deadline,
}

/// How a connection ended.
enum ServeEnd {
    Lost(String),
    Terminal(Terminal),
}

/// The ZooKeeper ping frame: length 8, xid -2, op 11.
const PING_FRAME: [u8; 12] = [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11];
/// Java's cap on the idle time before a ping.
const MAX_PING_INTERVAL: Duration = Duration::from_secs(10);
/// SetWatches batches stay under this many bytes of path text (Java's limit).
const SET_WATCHES_BATCH: usize = 128 * 1024;
/// Replies may be somewhat larger than requests (a getData of a full node).
const REPLY_SLACK: usize = 64 * 1024;

/// The task's shared outputs.
pub(crate) struct Outputs {
    pub state: watch::Sender<SessionEvent>,
    pub events: broadcast::Sender<SessionEvent>,
    /// `host:port` of the server while connected.
    pub server: Arc<std::sync::Mutex<Option<String>>>,
    /// The lease, published after every batch of replies.
    pub lease: Arc<std::sync::Mutex<Lease>>,
}

impl Outputs {
    fn set_server(&self, server: Option<String>) {
        // Never held across an await; a poisoned lock still holds a plain value.
        let mut slot = self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = server;
    }

    fn set_lease(&self, lease: Lease) {
        let mut slot = self
            .lease
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = lease;
    }
}

/// The state of the session, owned by the connection task.
pub(crate) struct SessionTask {
    config: Config,
    connector: Connector,
    rx: mpsc::UnboundedReceiver<Command>,
    out: Outputs,
    hosts: Vec<(String, u16)>,
    next_host: usize,
    session_id: i64,
    passwd: Bytes,
    last_zxid: i64,
    negotiated: Duration,
    state: SessionState,
    ever_connected: bool,
    seen_rw: bool,
    new_session_after_expiry: bool,
    /// After a reconnect: tell persistent watchers once the reply to this SetWatches batch
    /// (the last one) arrives, i.e. once their watches are live again.
    announce_after: Option<(i32, bool)>,
    registry: Registry,
    auths: Vec<AuthEntry>,
    auth_waiters: VecDeque<Option<oneshot::Sender<Result<()>>>>,
    pending: VecDeque<Pending>,
    /// How many of `pending` register a persistent watch (so that one-shot registrations only
    /// scan `pending` when one might be in flight).
    pending_persistent: usize,
    backlog: VecDeque<Outgoing>,
    xid: i32,
    set_watches_v1: bool,
    last_heard: Instant,
    /// Send times of the pings in flight (answered in order).
    pings: VecDeque<Instant>,
    /// The send time of the latest answered request of this session.
    last_answered_send: Option<Instant>,
    /// How many times the state left `Connected`/`ConnectedReadOnly`.
    disconnects: u64,
}

impl SessionTask {
    pub(crate) fn new(
        config: Config,
        connector: Connector,
        rx: mpsc::UnboundedReceiver<Command>,
        out: Outputs,
    ) -> Self {
        let mut hosts = config.hosts.clone();
        if config.shuffle_hosts {
            use rand::seq::SliceRandom;
            hosts.shuffle(&mut rand::rng());
        }
        let auths = config
            .auth
            .iter()
            .map(|(scheme, auth)| AuthEntry {
                scheme: scheme.clone(),
                auth: Bytes::copy_from_slice(auth),
                waiter: None,
            })
            .collect();
        Self {
            registry: Registry::new(config.chroot.clone()),
            negotiated: config.session_timeout,
            config,
            connector,
            rx,
            out,
            hosts,
            next_host: 0,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            last_zxid: 0,
            state: SessionState::Connecting,
            ever_connected: false,
            seen_rw: false,
            new_session_after_expiry: false,
            announce_after: None,
            auths,
            auth_waiters: VecDeque::new(),
            pending: VecDeque::new(),
            pending_persistent: 0,
            backlog: VecDeque::new(),
            xid: 0,
            set_watches_v1: false,
            last_heard: Instant::now(),
            pings: VecDeque::new(),
            last_answered_send: None,
            disconnects: 0,
        }
    }

    /// Runs the session until it ends.
    pub(crate) async fn run(mut self) {
        let end = self.connect_loop().await;
        self.finish(end);
    }

    fn set_state(&mut self, state: SessionState) {
        if self.state.is_connected() && !state.is_connected() {
            self.disconnects += 1;
        }
        self.state = state;
        let event = SessionEvent {
            state,
            session_id: self.session_id,
            timeout: self.negotiated,
            disconnects: self.disconnects,
        };
        self.publish_lease();
        info!(
            ?state,
            session_id = format_args!("{:#x}", self.session_id),
            "session state"
        );
        self.out.state.send_replace(event);
        let _ = self.out.events.send(event);
    }

    fn publish_lease(&self) {
        self.out.set_lease(Lease {
            session_id: self.session_id,
            timeout: if self.session_id == 0 {
                Duration::ZERO
            } else {
                self.negotiated
            },
            last_answered_send: self.last_answered_send,
            last_zxid: self.last_zxid,
        });
    }

    /// A request sent at `sent` was answered.
    fn answered(&mut self, sent: Instant) {
        if self.last_answered_send.is_none_or(|t| t < sent) {
            self.last_answered_send = Some(sent);
        }
    }

    fn next_xid(&mut self) -> i32 {
        self.xid = if self.xid >= i32::MAX - 1 {
            1
        } else {
            self.xid + 1
        };
        self.xid
    }

    fn session_deadline(&self) -> Option<Instant> {
        (self.session_id != 0 && self.seen_rw && self.state == SessionState::Suspended)
            .then(|| self.last_heard + self.negotiated)
    }

    async fn connect_loop(&mut self) -> Terminal {
        let mut backoff = self.new_backoff();
        let mut tried_in_round = 0;
        loop {
            if let Some(deadline) = self.session_deadline()
                && Instant::now() >= deadline
            {
                if let Some(end) = self.expire("no server reachable for the whole session timeout")
                {
                    return end;
                }
                continue;
            }
            if tried_in_round >= self.hosts.len() {
                tried_in_round = 0;
                let delay = backoff.next().unwrap_or(self.config.backoff_max);
                debug!(?delay, "every host failed; backing off");
                match self.drive(tokio::time::sleep(delay)).await {
                    Ok(()) | Err(Interrupt::Deadline) => continue,
                    Err(Interrupt::Terminal(end)) => return end,
                }
            }
            let Some((host, port)) = self.hosts.get(self.next_host).cloned() else {
                return Terminal::Closed(None);
            };
            self.next_host = (self.next_host + 1) % self.hosts.len();
            tried_in_round += 1;
            // Java's rule: a session first opened on a read-only server is local to it.
            let resume = self.seen_rw;
            let request = ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: self.last_zxid,
                timeout_ms: i32::try_from(self.config.session_timeout.as_millis())
                    .unwrap_or(i32::MAX),
                session_id: if resume { self.session_id } else { 0 },
                passwd: if resume {
                    self.passwd.clone()
                } else {
                    Bytes::from_static(&[0; 16])
                },
                read_only: Some(self.config.read_only),
            };
            let timeout = self.config.connect_timeout_for(self.negotiated);
            let connect_sent = Instant::now();
            let attempt = handshake(
                self.connector.clone(),
                host.clone(),
                port,
                timeout,
                request,
                self.config.max_frame_len,
            );
            let span = tracing::debug_span!("zk_connect", %host, port);
            match self.drive(attempt.instrument(span)).await {
                Err(Interrupt::Terminal(end)) => return end,
                Err(Interrupt::Deadline) => continue,
                Ok(Err(e)) => {
                    debug!(%host, port, error = %e, "connection attempt failed");
                    continue;
                }
                Ok(Ok((io, response, rbuf))) => {
                    if response.is_expired() && !resume {
                        // Only a resumed session can be expired; this server is confused.
                        debug!(%host, port, "new session refused with a zero timeout");
                        continue;
                    }
                    if response.is_expired() {
                        if let Some(end) = self.expire("the server reports the session expired") {
                            return end;
                        }
                        tried_in_round = 0;
                        continue;
                    }
                    backoff = self.new_backoff();
                    tried_in_round = 0;
                    let span = tracing::info_span!(
                        "zk_conn",
                        %host,
                        port,
                        session_id = format_args!("{:#x}", response.session_id)
                    );
                    self.out.set_server(Some(format!("{host}:{port}")));
                    let end = self
                        .serve(io, response, rbuf, connect_sent)
                        .instrument(span)
                        .await;
                    self.out.set_server(None);
                    match end {
                        ServeEnd::Terminal(end) => return end,
                        ServeEnd::Lost(why) => self.connection_lost(&why),
                    }
                }
            }
        }
    }

    fn new_backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        use backon::BackoffBuilder;
        backon::ExponentialBuilder::default()
            .with_min_delay(self.config.backoff_min)
            .with_max_delay(self.config.backoff_max)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// Runs `fut` while accepting commands (queued until connected), the client-side session
    /// deadline and close requests.
    async fn drive<F: Future>(&mut self, fut: F) -> Result<F::Output, Interrupt> {
        let mut fut = std::pin::pin!(fut);
        let deadline = self.session_deadline();
        loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                out = &mut fut => return Ok(out),
                () = sleep => return Err(Interrupt::Deadline),
                cmd = self.rx.recv() => match cmd {
                    None => return Err(Interrupt::Terminal(Terminal::Closed(None))),
                    Some(Command::Close { done }) => {
                        return Err(Interrupt::Terminal(Terminal::Closed(done)));
                    }
                    Some(Command::Request(out)) => {
                        // Requests withdrawn by their callers are never sent: drop them early.
                        if self.backlog.len() >= 64 && self.backlog.len().is_power_of_two() {
                            self.backlog.retain(|o| !o.ticket.is_withdrawn());
                        }
                        self.backlog.push_back(out);
                    }
                    Some(Command::RemoveWatch { id, path }) => {
                        // Disconnected: the server forgot this connection's watches already.
                        let _ = self.registry.remove(id, &path);
                    }
                    Some(Command::Auth { scheme, auth, reply }) => self.auths.push(AuthEntry {
                        scheme,
                        auth,
                        waiter: Some(reply),
                    }),
                },
            }
        }
    }

    /// The session is gone. Returns the terminal state, or `None` when a new session follows.
    fn expire(&mut self, why: &str) -> Option<Terminal> {
        warn!(
            session_id = format_args!("{:#x}", self.session_id),
            why, "session expired"
        );
        let new_session = self.config.expiry_policy == ExpiryPolicy::NewSession;
        self.registry.end_session(KeeperState::Expired, new_session);
        self.fail_all(&Error::SessionExpired);
        // Nothing the server answered vouches for a session it expired.
        self.last_answered_send = None;
        self.set_state(SessionState::Expired);
        if !new_session {
            return Some(Terminal::Expired);
        }
        self.session_id = 0;
        self.publish_lease();
        self.passwd = Bytes::from_static(&[0; 16]);
        self.new_session_after_expiry = true;
        self.seen_rw = false;
        None
    }

    fn fail_all(&mut self, error: &Error) {
        self.pending_persistent = 0;
        self.pings.clear();
        // Written and unanswered: closing does not tell whether the server applied them.
        let written = match error {
            Error::Closed => Error::OutcomeUnknown,
            other => other.clone(),
        };
        for p in self.pending.drain(..) {
            if let Some(reply) = p.reply {
                let _ = reply.send(Err(written.clone()));
            }
        }
        for o in self.backlog.drain(..) {
            if let Some(reply) = o.reply {
                let _ = reply.send(Err(error.clone()));
            }
        }
        for w in self.auth_waiters.drain(..).flatten() {
            let _ = w.send(Err(error.clone()));
        }
        for a in &mut self.auths {
            if let Some(w) = a.waiter.take() {
                let _ = w.send(Err(error.clone()));
            }
        }
    }

    fn connection_lost(&mut self, why: &str) {
        warn!(why, "connection lost");
        self.pending_persistent = 0;
        self.pings.clear();
        for p in self.pending.drain(..) {
            if let Some(reply) = p.reply {
                let _ = reply.send(Err(Error::ConnectionLoss));
            }
        }
        for w in self.auth_waiters.drain(..).flatten() {
            let _ = w.send(Err(Error::ConnectionLoss));
        }
        if self.state.is_connected() {
            self.set_state(SessionState::Suspended);
        }
    }

    fn finish(&mut self, end: Terminal) {
        let (state, error, keeper) = match &end {
            Terminal::Closed(_) => (SessionState::Closed, Error::Closed, KeeperState::Closed),
            Terminal::Expired => (
                SessionState::Expired,
                Error::SessionExpired,
                KeeperState::Expired,
            ),
            Terminal::AuthFailed => (
                SessionState::AuthFailed,
                Error::AuthFailed,
                KeeperState::AuthFailed,
            ),
        };
        // The session is over: nothing vouches for it any more.
        self.last_answered_send = None;
        if self.state != state {
            self.set_state(state);
        }
        self.publish_lease();
        self.fail_all(&error);
        self.registry.end_session(keeper, false);
        self.rx.close();
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Command::Request(o) => {
                    if let Some(reply) = o.reply {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
                Command::Auth { reply, .. } => {
                    let _ = reply.send(Err(error.clone()));
                }
                Command::Close { done: Some(done) } => {
                    let _ = done.send(());
                }
                Command::Close { done: None } | Command::RemoveWatch { .. } => {}
            }
        }
        if let Terminal::Closed(Some(done)) = end {
            let _ = done.send(());
        }
    }

    /// Appends an encoded request to `wbuf` with a fresh xid and queues it as outstanding.
    fn write_request(&mut self, mut out: Outgoing, wbuf: &mut BytesMut, now: Instant) {
        if !out.ticket.claim_for_write() {
            trace!(op = ?out.op, "withdrawn by its caller; not sent");
            return;
        }
        match &out.watch {
            Some(WatchRegistration::Oneshot { path, .. }) if self.oneshot_is_covered(path) => {
                // getData, exists and getChildren2 end with their `watch` flag: register
                // locally only.
                if let Some(flag) = out.frame.last_mut() {
                    *flag = 0;
                }
                if self.recursive_on_server(path) {
                    out.effect = Effect::KeepsServerRecursive { path: path.clone() };
                }
            }
            Some(WatchRegistration::Persistent {
                path,
                mode: AddWatchMode::Persistent,
                ..
            }) if self.recursive_on_server(path) => {
                // addWatch ends with its mode: keep the server's entry recursive.
                if let Some(mode) = out
                    .frame
                    .len()
                    .checked_sub(4)
                    .and_then(|at| out.frame.get_mut(at..))
                {
                    mode.copy_from_slice(
                        &i32::from(AddWatchMode::PersistentRecursive).to_be_bytes(),
                    );
                }
                out.effect = Effect::KeepsServerRecursive { path: path.clone() };
            }
            _ => {}
        }
        if let Effect::RemoveWatches { path, watcher_type } = &out.effect
            && is_oneshot_type(*watcher_type)
            && self.oneshot_is_covered(path)
        {
            // Same body, harmless opcode: the answer comes from the local registry in order.
            if let Some(op) = out.frame.get_mut(8..12) {
                op.copy_from_slice(&i32::from(OpCode::CheckWatches).to_be_bytes());
            }
            out.op = OpCode::CheckWatches;
            out.effect = Effect::RemoveLocalWatches {
                path: path.clone(),
                watcher_type: *watcher_type,
            };
        }
        let xid = self.next_xid();
        if let Some(slot) = out.frame.get_mut(4..8) {
            slot.copy_from_slice(&xid.to_be_bytes());
        }
        trace!(xid, op = ?out.op, "send");
        wbuf.extend_from_slice(&out.frame);
        if matches!(out.watch, Some(WatchRegistration::Persistent { .. })) {
            self.pending_persistent += 1;
        }
        self.pending.push_back(Pending {
            xid,
            op: out.op,
            sent: now,
            reply: out.reply,
            watch: out.watch,
            effect: out.effect,
        });
    }

    /// Whether a one-shot watch on `path` must stay local because a persistent or recursive
    /// registration on the same path (registered, or on its way) serves it; see
    /// [`Registry::covered`].
    fn oneshot_is_covered(&self, path: &str) -> bool {
        self.registry.covered(path)
            || self.pending_persistent > 0
                && self.pending.iter().any(|p| {
                    matches!(&p.watch, Some(WatchRegistration::Persistent { path: pp, .. }) if pp == path)
                })
    }

    /// Whether the server's registration on `path` is (or is about to be) recursive.
    fn recursive_on_server(&self, path: &str) -> bool {
        self.registry.server_recursive(path)
            || self.pending_persistent > 0
                && self.pending.iter().any(|p| match &p.watch {
                    Some(WatchRegistration::Persistent { path: pp, mode, .. }) => {
                        pp == path
                            && (*mode == AddWatchMode::PersistentRecursive
                                || matches!(p.effect, Effect::KeepsServerRecursive { .. }))
                    }
                    _ => false,
                })
    }

    /// Encodes an internal request (no caller waiting).
    fn write_internal<T: Encode>(
        &mut self,
        op: OpCode,
        body: &T,
        effect: Effect,
        wbuf: &mut BytesMut,
    ) {
        let xid = self.next_xid();
        let max = self.config.max_frame_len;
        match encode_frame(&(RequestHeader::new(xid, op), body), wbuf, max) {
            Ok(()) => self.pending.push_back(Pending {
                xid,
                op,
                sent: Instant::now(),
                reply: None,
                watch: None,
                effect,
            }),
            Err(e) => warn!(?op, error = %e, "internal request too large; not sent"),
        }
    }

    fn write_auth(scheme: &str, auth: &Bytes, wbuf: &mut BytesMut, max: usize) {
        let packet = AuthPacket {
            auth_type: 0,
            scheme: scheme.to_owned(),
            auth: auth.clone(),
        };
        let header = RequestHeader::new(zk_proto::xid::AUTH, OpCode::Auth);
        if let Err(e) = encode_frame(&(header, &packet), wbuf, max) {
            warn!(error = %e, "auth packet too large; not sent");
        }
    }

    /// Removes a server registration no local watcher needs any more.
    fn remove_on_server(&mut self, path: String, watcher_type: WatcherType, wbuf: &mut BytesMut) {
        // A registration for this path still in flight would be undone by the removal.
        let in_flight = self
            .pending
            .iter()
            .any(|p| p.watch.as_ref().is_some_and(|w| w.path() == path));
        if !in_flight {
            let body = zk_proto::RemoveWatchesRequest { path, watcher_type };
            self.write_internal(OpCode::RemoveWatches, &body, Effect::DropWatch, wbuf);
        }
    }

    /// Handles one command while connected (a close request sets `closing`).
    fn accept(
        &mut self,
        cmd: Command,
        wbuf: &mut BytesMut,
        closing: &mut Option<Closing>,
        now: Instant,
    ) {
        match cmd {
            Command::Request(out) => self.write_request(out, wbuf, now),
            Command::RemoveWatch { id, path } => {
                if let Some(watcher_type) = self.registry.remove(id, &path) {
                    self.remove_on_server(path, watcher_type, wbuf);
                }
            }
            Command::Auth {
                scheme,
                auth,
                reply,
            } => {
                Self::write_auth(&scheme, &auth, wbuf, self.config.max_frame_len);
                self.auth_waiters.push_back(Some(reply));
                self.auths.push(AuthEntry {
                    scheme,
                    auth,
                    waiter: None,
                });
            }
            Command::Close { done } => {
                if closing.is_none() {
                    self.write_internal(
                        OpCode::CloseSession,
                        &Request::CloseSession,
                        Effect::Close,
                        wbuf,
                    );
                    let wait = self.negotiated.min(Duration::from_secs(3));
                    *closing = Some(Closing {
                        done,
                        deadline: Instant::now() + wait,
                    });
                }
            }
        }
    }

    /// Serves one established connection until it ends.
    async fn serve(
        &mut self,
        mut io: BoxTransport,
        response: ConnectResponse,
        mut rbuf: BytesMut,
        connect_sent: Instant,
    ) -> ServeEnd {
        let read_only = response.read_only == Some(true);
        // A session opened on a read-only server is not resumed elsewhere (see `resume`).
        let session_changed = self.session_id != 0 && response.session_id != self.session_id;
        if session_changed && self.seen_rw {
            // Should not happen (an expired session is answered with id 0).
            warn!("server answered with a different session id");
        }
        if self.session_id != response.session_id {
            self.last_answered_send = None;
        }
        self.session_id = response.session_id;
        // The server refreshed the session when it took the connect request.
        self.answered(connect_sent);
        self.passwd = response.passwd.clone();
        self.negotiated = Duration::from_millis(u64::try_from(response.timeout_ms).unwrap_or(0));
        if !read_only {
            self.seen_rw = true;
        }
        self.last_heard = Instant::now();

        let max = self.config.max_frame_len;
        let mut wbuf = BytesMut::with_capacity(64 * 1024);
        for a in &mut self.auths {
            Self::write_auth(&a.scheme, &a.auth, &mut wbuf, max);
            self.auth_waiters.push_back(a.waiter.take());
        }
        let lists = self.registry.lists();
        let mut last_set_watches = None;
        if !lists.is_empty() {
            for batch in batches(lists, self.set_watches_v1) {
                let relative_zxid = self.last_zxid;
                if self.set_watches_v1 {
                    let body = SetWatches {
                        relative_zxid,
                        data_watches: batch.data,
                        exist_watches: batch.exist,
                        child_watches: batch.child,
                    };
                    self.write_internal(OpCode::SetWatches, &body, Effect::SetWatches, &mut wbuf);
                    last_set_watches = Some(self.xid);
                } else {
                    let body = SetWatches2 {
                        relative_zxid,
                        data_watches: batch.data,
                        exist_watches: batch.exist,
                        child_watches: batch.child,
                        persistent_watches: batch.persistent,
                        persistent_recursive_watches: batch.recursive,
                    };
                    self.write_internal(OpCode::SetWatches2, &body, Effect::SetWatches, &mut wbuf);
                    last_set_watches = Some(self.xid);
                }
            }
        }
        let now = Instant::now();
        while let Some(out) = self.backlog.pop_front() {
            self.write_request(out, &mut wbuf, now);
        }
        let reconnect = self.ever_connected;
        let after_expiry = std::mem::take(&mut self.new_session_after_expiry) || session_changed;
        self.ever_connected = true;
        self.set_state(if read_only {
            SessionState::ConnectedReadOnly
        } else {
            SessionState::Connected
        });
        self.announce_after = None;
        if reconnect {
            match last_set_watches {
                Some(xid) => self.announce_after = Some((xid, after_expiry)),
                None => self.registry.announce_reconnect(after_expiry),
            }
        }

        let timeout = self.negotiated;
        let read_timeout = timeout * 2 / 3;
        let ping_interval = (timeout / 3).min(MAX_PING_INTERVAL);
        let now = Instant::now();
        let mut last_recv = now;
        let mut last_send = now;
        let mut timer = std::pin::pin!(tokio::time::sleep_until(now + ping_interval));
        let mut codec = FrameCodec::new(max + REPLY_SLACK);
        let mut closing: Option<Closing> = None;
        let mut flush_pending = false;
        let mut probe = self.read_only_probe(read_only);

        loop {
            let io_step = std::future::poll_fn(|cx| {
                poll_io(&mut io, &mut rbuf, &mut wbuf, &mut flush_pending, cx)
            });
            tokio::select! {
                step = io_step => match step {
                    Err(e) => return self.lost_or_closed(closing, format!("i/o error: {e}")),
                    Ok(IoStep::Wrote) => {}
                    Ok(IoStep::Read(0)) => {
                        return self.lost_or_closed(closing, "the server closed the connection".into());
                    }
                    Ok(IoStep::Read(_)) => {
                        last_recv = Instant::now();
                        self.last_heard = last_recv;
                        loop {
                            let frame = match codec.decode(&mut rbuf) {
                                Ok(Some(frame)) => frame,
                                Ok(None) => break,
                                Err(e) => return ServeEnd::Lost(format!("bad frame: {e}")),
                            };
                            match self.handle_frame(frame) {
                                Flow::Continue => {}
                                Flow::Lost(why) => return ServeEnd::Lost(why),
                                Flow::Closed => return ServeEnd::Terminal(Terminal::Closed(
                                    closing.take().and_then(|c| c.done),
                                )),
                                Flow::Terminal(end) => return ServeEnd::Terminal(end),
                            }
                        }
                        self.publish_lease();
                        for path in self.registry.take_orphans() {
                            self.remove_on_server(path, WatcherType::Any, &mut wbuf);
                        }
                    }
                },
                cmd = self.rx.recv(), if closing.is_none() => {
                    let cmd = cmd.unwrap_or(Command::Close { done: None });
                    let now = Instant::now();
                    self.accept(cmd, &mut wbuf, &mut closing, now);
                    while closing.is_none() && wbuf.len() < 1 << 20 {
                        match self.rx.try_recv() {
                            Ok(cmd) => self.accept(cmd, &mut wbuf, &mut closing, now),
                            Err(mpsc::error::TryRecvError::Empty) => break,
                            Err(mpsc::error::TryRecvError::Disconnected) => {
                                self.accept(Command::Close { done: None }, &mut wbuf, &mut closing, now);
                            }
                        }
                    }
                    last_send = now;
                    if let Some(c) = &closing
                        && c.deadline < timer.deadline()
                    {
                        timer.as_mut().reset(c.deadline);
                    }
                },
                () = &mut timer => {
                    let now = Instant::now();
                    if let Some(c) = &closing && now >= c.deadline {
                        debug!("no answer to closeSession; closing anyway");
                        return ServeEnd::Terminal(Terminal::Closed(closing.take().and_then(|c| c.done)));
                    }
                    if now >= last_recv + read_timeout {
                        return self.lost_or_closed(
                            closing,
                            format!("nothing heard from the server for {read_timeout:?}"),
                        );
                    }
                    if now >= last_send + ping_interval {
                        trace!("ping");
                        wbuf.extend_from_slice(&PING_FRAME);
                        self.pings.push_back(now);
                        last_send = now;
                    }
                    let mut next = (last_send + ping_interval).min(last_recv + read_timeout);
                    if let Some(c) = &closing {
                        next = next.min(c.deadline);
                    }
                    timer.as_mut().reset(next);
                },
                found = &mut probe => {
                    if let Some(index) = found {
                        info!("a read-write server is reachable; leaving the read-only one");
                        self.next_host = index;
                        return ServeEnd::Lost("moving to a read-write server".into());
                    }
                    probe = self.read_only_probe(read_only);
                },
            }
        }
    }

    /// While on a read-only server, periodically looks for a read-write one (`isro`).
    fn read_only_probe(&self, read_only: bool) -> BoxFuture<'static, Option<usize>> {
        if !read_only || self.hosts.len() < 2 {
            return Box::pin(std::future::pending());
        }
        let hosts = self.hosts.clone();
        let interval = self.config.read_only_probe_interval;
        let connector = self.connector.clone();
        Box::pin(async move {
            tokio::time::sleep(interval).await;
            for (i, (host, port)) in hosts.into_iter().enumerate() {
                let probe = async {
                    let mut io = connector(host, port).await?;
                    io.write_all(b"isro").await?;
                    let mut answer = Vec::new();
                    io.read_to_end(&mut answer).await?;
                    io::Result::Ok(answer)
                };
                if let Ok(Ok(answer)) = tokio::time::timeout(interval, probe).await
                    && answer.starts_with(b"rw")
                {
                    return Some(i);
                }
            }
            None
        })
    }

    fn lost_or_closed(&mut self, closing: Option<Closing>, why: String) -> ServeEnd {
        match closing {
            Some(c) => ServeEnd::Terminal(Terminal::Closed(c.done)),
            None => ServeEnd::Lost(why),
        }
    }

    fn handle_frame(&mut self, frame: Bytes) -> Flow {
        let mut reader = JuteReader::new(frame);
        let header = match ReplyHeader::decode(&mut reader) {
            Ok(h) => h,
            Err(e) => return Flow::Lost(format!("bad reply header: {e}")),
        };
        match header.xid {
            zk_proto::xid::NOTIFICATION => {
                let event = match WatcherEvent::decode(&mut reader) {
                    Ok(e) => e,
                    Err(e) => return Flow::Lost(format!("bad notification: {e}")),
                };
                trace!(event_type = ?event.event_type, path = %event.path, "notification");
                self.registry.dispatch(event.event_type, &event.path);
                Flow::Continue
            }
            zk_proto::xid::PING => {
                if let Some(sent) = self.pings.pop_front() {
                    self.answered(sent);
                }
                Flow::Continue
            }
            zk_proto::xid::AUTH => {
                let waiter = self.auth_waiters.pop_front().flatten();
                if header.err == ErrorCode::AuthFailed {
                    if let Some(w) = waiter {
                        let _ = w.send(Err(Error::AuthFailed));
                    }
                    return Flow::Terminal(Terminal::AuthFailed);
                }
                if let Some(w) = waiter {
                    let result = if header.err.is_ok() {
                        Ok(())
                    } else {
                        Err(Error::from(header.err))
                    };
                    let _ = w.send(result);
                }
                Flow::Continue
            }
            xid => {
                let Some(p) = self.pending.pop_front() else {
                    return Flow::Lost(format!("reply xid {xid} with no request outstanding"));
                };
                if matches!(p.watch, Some(WatchRegistration::Persistent { .. })) {
                    self.pending_persistent = self.pending_persistent.saturating_sub(1);
                }
                if p.xid != xid {
                    let why = format!("reply xid {xid} out of order (expected {})", p.xid);
                    if let Some(reply) = p.reply {
                        let _ = reply.send(Err(Error::Protocol(why.clone())));
                    }
                    return Flow::Lost(why);
                }
                if header.zxid > 0 && header.zxid < self.last_zxid {
                    // Every reply carries at least the server's last processed zxid, which the
                    // handshake guaranteed to be at or past ours: this server went back in time.
                    let why = format!(
                        "reply zxid {:#x} is behind the last seen zxid {:#x}",
                        header.zxid, self.last_zxid
                    );
                    if let Some(reply) = p.reply {
                        let _ = reply.send(Err(Error::Protocol(why.clone())));
                    }
                    return Flow::Lost(why);
                }
                self.last_zxid = self.last_zxid.max(header.zxid);
                self.answered(p.sent);
                trace!(xid, op = ?p.op, err = ?header.err, "reply");
                self.complete(p, header.err, header.zxid, reader)
            }
        }
    }

    fn complete(&mut self, p: Pending, err: ErrorCode, zxid: i64, mut reader: JuteReader) -> Flow {
        let mut result = if err.is_ok() {
            match Response::decode(p.op, &mut reader) {
                Ok(r) => Ok(r),
                Err(e) => {
                    let why = format!("bad {:?} reply body: {e}", p.op);
                    if let Some(reply) = p.reply {
                        let _ = reply.send(Err(Error::Protocol(why.clone())));
                    }
                    return Flow::Lost(why);
                }
            }
        } else {
            Err(Error::from(err))
        };
        if let Some(watch) = p.watch {
            match &result {
                Ok(_) => self.registry.add(watch, false),
                Err(Error::NoNode) if p.op == OpCode::Exists => self.registry.add(watch, true),
                Err(_) => {}
            }
        }
        match p.effect {
            Effect::None | Effect::DropWatch => {}
            Effect::RemoveWatches { path, watcher_type } => {
                if result.is_ok() {
                    self.registry.remove_type(&path, watcher_type);
                }
            }
            Effect::CheckWatches { path, watcher_type } => {
                // A local one-shot watch served by the path's persistent registration is a watch
                // of this session, whatever the server says of its own tables.
                if is_oneshot_type(watcher_type)
                    && self.registry.covered(&path)
                    && self.registry.has_oneshot(&path, watcher_type)
                {
                    result = Ok(Response::Empty);
                }
            }
            Effect::RemoveLocalWatches { path, watcher_type } => {
                result = if self.registry.remove_local_oneshots(&path, watcher_type) {
                    Ok(Response::Empty)
                } else {
                    Err(Error::NoWatcher)
                };
            }
            Effect::KeepsServerRecursive { path } => self.registry.mark_server_recursive(&path),
            Effect::SetWatches => {
                if let Some((xid, new_session)) = self.announce_after
                    && xid == p.xid
                {
                    self.announce_after = None;
                    self.registry.announce_reconnect(new_session);
                }
                if let Err(e) = &result {
                    if p.op == OpCode::SetWatches2 && !self.set_watches_v1 {
                        warn!(error = %e, "SetWatches2 refused; falling back to SetWatches");
                        self.set_watches_v1 = true;
                        return Flow::Lost("SetWatches2 refused".into());
                    }
                    warn!(error = %e, "SetWatches failed");
                }
            }
            Effect::Close => {
                if let Some(reply) = p.reply {
                    let _ = reply.send(result.map(|_| Reply {
                        response: Response::Empty,
                        zxid,
                    }));
                }
                return Flow::Closed;
            }
        }
        if let Some(reply) = p.reply {
            let _ = reply.send(result.map(|response| Reply { response, zxid }));
        }
        Flow::Continue
    }
}

struct Closing {
    done: Option<oneshot::Sender<()>>,
    deadline: Instant,
}

enum Flow {
    Continue,
    Lost(String),
    Closed,
    Terminal(Terminal),
}

enum IoStep {
    Read(usize),
    Wrote,
}

/// One step of socket I/O: write what is buffered (then flush), else read what is there.
fn poll_io(
    io: &mut BoxTransport,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    flush_pending: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<io::Result<IoStep>> {
    if !wbuf.is_empty() {
        match Pin::new(&mut **io).poll_write(cx, wbuf) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => {
                wbuf.advance(n);
                if wbuf.is_empty() {
                    wbuf.clear();
                    *flush_pending = true;
                }
                return Poll::Ready(Ok(IoStep::Wrote));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
    } else if *flush_pending {
        match Pin::new(&mut **io).poll_flush(cx) {
            Poll::Ready(Ok(())) => *flush_pending = false,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
    }
    if rbuf.capacity() - rbuf.len() < 8 * 1024 {
        rbuf.reserve(64 * 1024);
    }
    match tokio_util::io::poll_read_buf(Pin::new(&mut **io), cx, rbuf) {
        Poll::Ready(Ok(n)) => Poll::Ready(Ok(IoStep::Read(n))),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// Connects and exchanges ConnectRequest/ConnectResponse, within `timeout`.
async fn handshake(
    connector: Connector,
    host: String,
    port: u16,
    timeout: Duration,
    request: ConnectRequest,
    max_frame_len: usize,
) -> io::Result<(BoxTransport, ConnectResponse, BytesMut)> {
    let attempt = async {
        let mut io = connector(host, port).await?;
        let mut out = BytesMut::with_capacity(64);
        encode_frame(&request, &mut out, max_frame_len).map_err(io::Error::other)?;
        io.write_all(&out).await?;
        io.flush().await?;
        let mut rbuf = BytesMut::with_capacity(64 * 1024);
        let mut codec = FrameCodec::new(max_frame_len + REPLY_SLACK);
        loop {
            if let Some(frame) = codec.decode(&mut rbuf).map_err(io::Error::other)? {
                let response = match ConnectResponse::decode(&mut JuteReader::new(frame.clone())) {
                    Ok(response) => response,
                    // A read-only server without local sessions answers a new session with a
                    // bare error header (NotReadOnly).
                    Err(e) => {
                        let why = match ReplyHeader::decode(&mut JuteReader::new(frame)) {
                            Ok(h) if !h.err.is_ok() => {
                                format!("the server refused the session: {}", h.err)
                            }
                            _ => format!("bad ConnectResponse: {e}"),
                        };
                        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
                    }
                };
                return Ok((io, response, rbuf));
            }
            if io.read_buf(&mut rbuf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection during the handshake \
                     (it may be behind our last zxid, or read-only)",
                ));
            }
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timeout"))?
}

/// The watcher types of one-shot watches (`Any` and the persistent types concern persistent
/// watches too).
fn is_oneshot_type(watcher_type: WatcherType) -> bool {
    matches!(watcher_type, WatcherType::Data | WatcherType::Children)
}

/// Splits the watch lists into batches of at most [`SET_WATCHES_BATCH`] bytes of paths.
fn batches(lists: WatchLists, v1: bool) -> Vec<WatchLists> {
    let mut out = vec![WatchLists::default()];
    let mut size = 0;
    let mut push = |kind: u8, path: String| {
        let len = path.len() + 4;
        if size + len > SET_WATCHES_BATCH && size > 0 {
            out.push(WatchLists::default());
            size = 0;
        }
        size += len;
        if let Some(batch) = out.last_mut() {
            match kind {
                0 => batch.data.push(path),
                1 => batch.exist.push(path),
                2 => batch.child.push(path),
                3 => batch.persistent.push(path),
                _ => batch.recursive.push(path),
            }
        }
    };
    for p in lists.data {
        push(0, p);
    }
    for p in lists.exist {
        push(1, p);
    }
    for p in lists.child {
        push(2, p);
    }
    if !v1 {
        for p in lists.persistent {
            push(3, p);
        }
        for p in lists.recursive {
            push(4, p);
        }
    }
    out.retain(|b| !b.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_watches_batches_stay_under_the_limit() {
        let lists = WatchLists {
            data: (0..10_000)
                .map(|i| format!("/a/very/long/path/{i:040}"))
                .collect(),
            recursive: vec!["/r".into()],
            ..WatchLists::default()
        };
        let out = batches(lists.clone(), false);
        assert!(out.len() > 1);
        let total: usize = out.iter().map(|b| b.data.len()).sum();
        assert_eq!(total, 10_000);
        for b in &out {
            let size: usize = b.data.iter().map(|p| p.len() + 4).sum();
            assert!(size <= SET_WATCHES_BATCH);
        }
        assert_eq!(out.iter().map(|b| b.recursive.len()).sum::<usize>(), 1);
        assert!(batches(lists, true).iter().all(|b| b.recursive.is_empty()));
    }
}
