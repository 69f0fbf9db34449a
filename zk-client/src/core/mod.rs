//! The sans-IO session core: every decision of the client, none of its I/O.
//!
//! [`Core`] takes commands from [`Client`](crate::Client) handles ([`Core::handle_command`]),
//! bytes from the server ([`Core::handle_input`]) and the time ([`Core::handle_timeout`], with
//! every instant passed in), and hands back the bytes to send ([`Core::transmit`]), the next
//! instant it must be woken at ([`Core::poll_timeout`]), the session transitions to publish
//! ([`Core::poll_event`]) and the lease ([`Core::lease`]). Replies and watch events go straight
//! into the channels their callers wait on. It owns: reply matching (the FIFO of outstanding
//! requests), watch registration and re-registration (SetWatches batches), ping and read
//! timeouts, the client-side expiry deadline, host selection and backoff, and the session
//! states. The tokio task in [`crate::driver`] only moves bytes and sleeps.
//!
//! Being synchronous and clock-free, the core is tested deterministically in `tests`, with
//! virtual time and no sockets.

mod frames;
mod requests;
#[cfg(test)]
mod tests;
pub(crate) mod types;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use zk_proto::codec::FrameCodec;
use zk_proto::{ConnectRequest, ConnectResponse, KeeperState};

use crate::config::{Config, ExpiryPolicy};
use crate::error::Error;
use crate::lease::Lease;
use crate::session::{SessionEvent, SessionState};
use crate::watch::Registry;
use types::Command as Cmd;
pub(crate) use types::{Command, Effect, Outgoing, Reply, ReplyTx, Terminal};

/// Java's cap on the idle time before a ping.
const MAX_PING_INTERVAL: Duration = Duration::from_secs(10);
/// Replies may be somewhat larger than requests (a getData of a full node).
const REPLY_SLACK: usize = 64 * 1024;
/// The core stops taking commands while this many bytes wait to be sent.
pub(crate) const MAX_UNSENT: usize = 1 << 20;
/// ... or while this many requests wait for their replies.
pub(crate) const MAX_IN_FLIGHT: usize = 16 * 1024;

/// What the driver should do while there is no connection.
#[derive(Debug)]
pub(crate) enum Step {
    /// Open a connection to `host:port` and exchange `request` for a ConnectResponse, within
    /// `timeout`; then call [`Core::handshake_done`] or [`Core::connect_failed`].
    Connect {
        host: String,
        port: u16,
        request: ConnectRequest,
        timeout: Duration,
    },
    /// Wait until this instant (backoff between full rounds of hosts).
    Sleep(Instant),
    /// The session is over.
    Finished,
}

/// An outstanding request of the current connection.
struct Pending {
    xid: i32,
    op: zk_proto::OpCode,
    /// When it was handed to the socket (for the lease).
    sent: Instant,
    reply: Option<ReplyTx>,
    watch: Option<crate::watch::WatchRegistration>,
    effect: Effect,
}

struct AuthEntry {
    scheme: String,
    auth: Bytes,
    waiter: Option<oneshot::Sender<crate::Result<()>>>,
}

/// The state of one established connection.
struct Conn {
    read_only: bool,
    codec: FrameCodec,
    pending: VecDeque<Pending>,
    /// How many of `pending` register a persistent watch (so that one-shot registrations only
    /// scan `pending` when one might be in flight).
    pending_persistent: usize,
    /// Send times of the pings in flight (answered in order).
    pings: VecDeque<Instant>,
    auth_waiters: VecDeque<Option<oneshot::Sender<crate::Result<()>>>>,
    /// After a reconnect: tell persistent watchers once the reply to this SetWatches batch
    /// (the last one) arrives, i.e. once their watches are live again.
    announce_after: Option<(i32, bool)>,
    last_recv: Instant,
    last_send: Instant,
    ping_interval: Duration,
    read_timeout: Duration,
    /// closeSession was sent: the deadline for its answer, and who waits for it.
    closing: Option<Closing>,
}

struct Closing {
    done: Option<oneshot::Sender<()>>,
    deadline: Instant,
}

/// The session state machine. See the module docs.
pub(crate) struct Core {
    config: Config,
    hosts: Vec<(String, u16)>,
    next_host: usize,
    tried_in_round: usize,
    backoff: Box<dyn Iterator<Item = Duration> + Send>,
    /// Whether the attempt in progress resumes the session (Java: only a session seen on a
    /// read-write server is resumed).
    attempt_resumes: bool,
    /// `host:port` of the attempt in progress (or of the connection, once established).
    attempt_host: Option<String>,
    session_id: i64,
    passwd: Bytes,
    last_zxid: i64,
    negotiated: Duration,
    state: SessionState,
    ever_connected: bool,
    seen_rw: bool,
    new_session_after_expiry: bool,
    registry: Registry,
    auths: Vec<AuthEntry>,
    /// Requests made while disconnected, in call order.
    backlog: VecDeque<Outgoing>,
    xid: i32,
    set_watches_v1: bool,
    last_heard: Instant,
    last_answered_send: Option<Instant>,
    disconnects: u64,
    conn: Option<Conn>,
    /// Bytes to send on the current connection.
    out: BytesMut,
    events: VecDeque<SessionEvent>,
    finished: bool,
    /// Where transitions go the moment they happen (`None`: queued for [`Core::poll_event`]).
    publisher: Option<Publisher>,
    /// Callers of `close` to answer once the `Closed` transition is published.
    close_waiters: Vec<oneshot::Sender<()>>,
    /// Callers of `close` while a close was already under way.
    later_close_waiters: Vec<oneshot::Sender<()>>,
    /// Where the lease is published, updated before the reply that moves it is delivered (so
    /// that a caller who got its answer reads a lease that includes it).
    lease_cell: Arc<Mutex<Lease>>,
}

impl Core {
    /// A core for `config`, before its first connection; `now` starts the clock.
    pub(crate) fn new(config: Config, now: Instant, lease_cell: Arc<Mutex<Lease>>) -> Self {
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
            backoff: new_backoff(&config),
            hosts,
            config,
            next_host: 0,
            tried_in_round: 0,
            attempt_resumes: false,
            attempt_host: None,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            last_zxid: 0,
            state: SessionState::Connecting,
            ever_connected: false,
            seen_rw: false,
            new_session_after_expiry: false,
            auths,
            backlog: VecDeque::new(),
            xid: 0,
            set_watches_v1: false,
            last_heard: now,
            last_answered_send: None,
            disconnects: 0,
            conn: None,
            out: BytesMut::with_capacity(64 * 1024),
            events: VecDeque::new(),
            finished: false,
            close_waiters: Vec::new(),
            publisher: None,
            later_close_waiters: Vec::new(),
            lease_cell,
        }
    }

    /// Publishes every transition at once, before the core goes on (so that a caller failed
    /// with `ConnectionLoss` or `SessionExpired` already reads the new state), instead of
    /// queueing it for [`poll_event`](Self::poll_event).
    pub(crate) fn publish_to(&mut self, publisher: Publisher) {
        self.publisher = Some(publisher);
    }

    /// The hosts, in the order tried (for the driver's read-only probe).
    pub(crate) fn hosts(&self) -> &[(String, u16)] {
        &self.hosts
    }

    /// The current session state.
    #[cfg(test)]
    pub(crate) fn state(&self) -> SessionState {
        self.state
    }

    /// Whether a connection is established (the driver keeps its socket while this holds).
    pub(crate) fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Whether the connection in use is to a read-only server.
    pub(crate) fn is_read_only(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.read_only)
    }

    /// Whether the session is over (then the driver stops).
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether the core takes more commands now. While connected, it does not when too many
    /// bytes (`unsent`, held by the driver, plus its own) wait to be sent or too many replies
    /// are outstanding: callers then wait (backpressure). While disconnected, requests go to the
    /// backlog, which the client's byte budget bounds.
    pub(crate) fn wants_commands(&self, unsent: usize) -> bool {
        match &self.conn {
            Some(c) => {
                c.closing.is_none()
                    && unsent + self.out.len() < MAX_UNSENT
                    && c.pending.len() < MAX_IN_FLIGHT
            }
            None => true,
        }
    }

    /// The next transition to publish.
    pub(crate) fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// The callers of `close` to answer, once every transition has been published.
    pub(crate) fn take_close_waiters(&mut self) -> Vec<oneshot::Sender<()>> {
        std::mem::take(&mut self.close_waiters)
    }

    /// What the client knows of its session's lifetime.
    pub(crate) fn lease(&self) -> Lease {
        Lease {
            session_id: self.session_id,
            timeout: if self.session_id == 0 {
                Duration::ZERO
            } else {
                self.negotiated
            },
            last_answered_send: self.last_answered_send,
            last_zxid: self.last_zxid,
        }
    }

    /// Moves the bytes to send into `wbuf` (the driver's write buffer).
    pub(crate) fn transmit(&mut self, wbuf: &mut BytesMut) {
        if self.out.is_empty() {
            return;
        }
        if wbuf.is_empty() {
            std::mem::swap(wbuf, &mut self.out);
        } else {
            wbuf.extend_from_slice(&self.out);
            self.out.clear();
        }
    }

    /// The instant at which [`handle_timeout`](Self::handle_timeout) must be called next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.conn {
            Some(c) => {
                let mut next = (c.last_send + c.ping_interval).min(c.last_recv + c.read_timeout);
                if let Some(closing) = &c.closing {
                    next = next.min(closing.deadline);
                }
                Some(next)
            }
            None => self.session_deadline(),
        }
    }

    /// The time has come: pings, the read timeout, the close deadline, the client-side expiry.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        let Some(c) = &mut self.conn else {
            if self.session_deadline().is_some_and(|d| now >= d) {
                self.expire("no server reachable for the whole session timeout");
            }
            return;
        };
        if let Some(closing) = &c.closing
            && now >= closing.deadline
        {
            debug!("no answer to closeSession; closing anyway");
            let done = c.closing.take().and_then(|c| c.done);
            self.finish(Terminal::Closed(done));
            return;
        }
        if now >= c.last_recv + c.read_timeout {
            let why = format!("nothing heard from the server for {:?}", c.read_timeout);
            self.lose_connection(&why);
            return;
        }
        if now >= c.last_send + c.ping_interval {
            tracing::trace!("ping");
            self.out.extend_from_slice(&requests::PING_FRAME);
            c.pings.push_back(now);
            c.last_send = now;
        }
    }

    fn session_deadline(&self) -> Option<Instant> {
        (self.conn.is_none()
            && !self.finished
            && self.session_id != 0
            && self.seen_rw
            && self.state == SessionState::Suspended)
            .then(|| self.last_heard + self.negotiated)
    }

    /// What to do next while disconnected.
    pub(crate) fn next_step(&mut self, now: Instant) -> Step {
        if self.finished {
            return Step::Finished;
        }
        if self.session_deadline().is_some_and(|d| now >= d) {
            self.expire("no server reachable for the whole session timeout");
            if self.finished {
                return Step::Finished;
            }
        }
        if self.tried_in_round >= self.hosts.len() {
            self.tried_in_round = 0;
            let delay = self.backoff.next().unwrap_or(self.config.backoff_max);
            debug!(?delay, "every host failed; backing off");
            return Step::Sleep(now + delay);
        }
        let Some((host, port)) = self.hosts.get(self.next_host).cloned() else {
            self.finish(Terminal::Closed(None));
            return Step::Finished;
        };
        self.next_host = (self.next_host + 1) % self.hosts.len();
        self.tried_in_round += 1;
        // Java's rule: a session first opened on a read-only server is local to it.
        let resume = self.seen_rw;
        self.attempt_resumes = resume;
        self.attempt_host = Some(format!("{host}:{port}"));
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.last_zxid,
            timeout_ms: i32::try_from(self.config.session_timeout.as_millis()).unwrap_or(i32::MAX),
            session_id: if resume { self.session_id } else { 0 },
            passwd: if resume {
                self.passwd.clone()
            } else {
                Bytes::from_static(&[0; 16])
            },
            read_only: Some(self.config.read_only),
        };
        Step::Connect {
            host,
            port,
            request,
            timeout: self.config.connect_timeout_for(self.negotiated),
        }
    }

    /// The connection attempt failed (refused, timed out, closed during the handshake).
    pub(crate) fn connect_failed(&mut self, why: &str) {
        debug!(why, "connection attempt failed");
    }

    /// The next attempt goes to the host at `index` of [`hosts`](Self::hosts) (a read-write
    /// server found while on a read-only one).
    pub(crate) fn prefer_host(&mut self, index: usize) {
        if index < self.hosts.len() {
            self.next_host = index;
        }
    }

    /// The server answered the ConnectRequest sent at `connect_sent`. Returns whether the
    /// connection is now established (else the driver drops it and asks for the next step).
    pub(crate) fn handshake_done(
        &mut self,
        response: &ConnectResponse,
        connect_sent: Instant,
        now: Instant,
    ) -> bool {
        if self.finished {
            return false;
        }
        if response.is_expired() && !self.attempt_resumes {
            // Only a resumed session can be expired; this server is confused.
            debug!("new session refused with a zero timeout");
            return false;
        }
        if response.is_expired() {
            self.expire("the server reports the session expired");
            self.tried_in_round = 0;
            return false;
        }
        self.backoff = new_backoff(&self.config);
        self.tried_in_round = 0;
        self.connected(response, connect_sent, now);
        true
    }

    fn connected(&mut self, response: &ConnectResponse, connect_sent: Instant, now: Instant) {
        let read_only = response.read_only == Some(true);
        // A session opened on a read-only server is not resumed elsewhere (see `next_step`).
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
        self.last_heard = now;
        let timeout = self.negotiated;
        self.out.clear();
        self.conn = Some(Conn {
            read_only,
            codec: FrameCodec::new(self.config.max_frame_len + REPLY_SLACK),
            pending: VecDeque::new(),
            pending_persistent: 0,
            pings: VecDeque::new(),
            auth_waiters: VecDeque::new(),
            announce_after: None,
            last_recv: now,
            last_send: now,
            ping_interval: (timeout / 3).min(MAX_PING_INTERVAL),
            read_timeout: timeout * 2 / 3,
            closing: None,
        });
        self.resend_auth();
        let last_set_watches = self.register_watches(now);
        let backlog = std::mem::take(&mut self.backlog);
        for out in backlog {
            self.write_request(out, now);
        }
        let reconnect = self.ever_connected;
        let after_expiry = std::mem::take(&mut self.new_session_after_expiry) || session_changed;
        self.ever_connected = true;
        self.set_state(if read_only {
            SessionState::ConnectedReadOnly
        } else {
            SessionState::Connected
        });
        if reconnect {
            match last_set_watches {
                Some(xid) => {
                    if let Some(c) = &mut self.conn {
                        c.announce_after = Some((xid, after_expiry));
                    }
                }
                None => self.registry.announce_reconnect(after_expiry),
            }
        }
    }

    /// Takes one command from a handle.
    pub(crate) fn handle_command(&mut self, cmd: Command, now: Instant) {
        if self.finished {
            self.refuse(cmd);
            return;
        }
        match cmd {
            Cmd::Request(out) => {
                if self.conn.is_some() {
                    self.write_request(out, now);
                } else {
                    // Requests withdrawn by their callers are never sent: drop them early.
                    if self.backlog.len() >= 64 && self.backlog.len().is_power_of_two() {
                        self.backlog.retain(|o| !o.ticket.is_withdrawn());
                    }
                    self.backlog.push_back(out);
                }
            }
            Cmd::RemoveWatch { id, path } => {
                let watcher_type = self.registry.remove(id, &path);
                // Disconnected: the server forgot this connection's watches already.
                if let Some(watcher_type) = watcher_type
                    && self.conn.is_some()
                {
                    self.remove_on_server(path, watcher_type, now);
                }
            }
            Cmd::Auth {
                scheme,
                auth,
                reply,
            } => {
                if let Some(c) = &mut self.conn {
                    requests::write_auth(&scheme, &auth, &mut self.out, self.config.max_frame_len);
                    c.auth_waiters.push_back(Some(reply));
                    c.last_send = now;
                    self.auths.push(AuthEntry {
                        scheme,
                        auth,
                        waiter: None,
                    });
                } else {
                    self.auths.push(AuthEntry {
                        scheme,
                        auth,
                        waiter: Some(reply),
                    });
                }
            }
            Cmd::Close { done } => {
                if self.conn.as_ref().is_some_and(|c| c.closing.is_none()) {
                    self.write_internal(
                        zk_proto::OpCode::CloseSession,
                        &zk_proto::Request::CloseSession,
                        Effect::Close,
                        now,
                    );
                    let wait = self.negotiated.min(Duration::from_secs(3));
                    if let Some(c) = &mut self.conn {
                        c.closing = Some(Closing {
                            done,
                            deadline: now + wait,
                        });
                    }
                } else if self.conn.is_none() {
                    self.finish(Terminal::Closed(done));
                } else if let Some(done) = done {
                    // Already closing: answer when the session is over.
                    self.later_close_waiters.push(done);
                }
            }
        }
    }

    /// Answers a command that arrives after the end.
    fn refuse(&mut self, cmd: Command) {
        let error = self.terminal_error();
        match cmd {
            Cmd::Request(o) => {
                if let Some(reply) = o.reply {
                    let _ = reply.send(Err(error));
                }
            }
            Cmd::Auth { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Cmd::Close { done: Some(done) } => {
                let _ = done.send(());
            }
            Cmd::Close { done: None } | Cmd::RemoveWatch { .. } => {}
        }
    }

    fn terminal_error(&self) -> Error {
        match self.state {
            SessionState::Expired => Error::SessionExpired,
            SessionState::AuthFailed => Error::AuthFailed,
            _ => Error::Closed,
        }
    }

    /// The connection failed (I/O error, EOF, or the driver left it for a read-write server).
    pub(crate) fn connection_lost(&mut self, why: &str) {
        self.lose_connection(why);
    }

    fn lose_connection(&mut self, why: &str) {
        if let Some(closing) = self.conn.as_mut().and_then(|c| c.closing.take()) {
            // Closing anyway: the session is over for this client, not suspended.
            debug!(why, "connection lost while closing");
            self.finish(Terminal::Closed(closing.done));
            return;
        }
        let Some(c) = self.conn.take() else {
            return;
        };
        warn!(why, "connection lost");
        self.out.clear();
        // Published before any caller hears ConnectionLoss: whoever reacts to the error reads
        // Suspended from the client.
        if self.state.is_connected() {
            self.set_state(SessionState::Suspended);
        }
        for p in c.pending {
            if let Some(reply) = p.reply {
                let _ = reply.send(Err(Error::ConnectionLoss));
            }
        }
        for w in c.auth_waiters.into_iter().flatten() {
            let _ = w.send(Err(Error::ConnectionLoss));
        }
    }

    /// The session is gone.
    fn expire(&mut self, why: &str) {
        warn!(
            session_id = format_args!("{:#x}", self.session_id),
            why, "session expired"
        );
        let new_session = self.config.expiry_policy == ExpiryPolicy::NewSession;
        // Nothing the server answered vouches for a session it expired. The transition is
        // published before any caller or watcher hears of the expiry.
        self.last_answered_send = None;
        self.set_state(SessionState::Expired);
        self.registry.end_session(KeeperState::Expired, new_session);
        self.fail_all(&Error::SessionExpired);
        if !new_session {
            self.finish(Terminal::Expired);
            return;
        }
        self.session_id = 0;
        self.publish_lease();
        self.passwd = Bytes::from_static(&[0; 16]);
        self.new_session_after_expiry = true;
        self.seen_rw = false;
    }

    fn fail_all(&mut self, error: &Error) {
        // Written and unanswered: closing does not tell whether the server applied them.
        let written = match error {
            Error::Closed => Error::OutcomeUnknown,
            other => other.clone(),
        };
        if let Some(c) = self.conn.take() {
            for p in c.pending {
                if let Some(reply) = p.reply {
                    let _ = reply.send(Err(written.clone()));
                }
            }
            for w in c.auth_waiters.into_iter().flatten() {
                let _ = w.send(Err(error.clone()));
            }
        }
        for o in self.backlog.drain(..) {
            if let Some(reply) = o.reply {
                let _ = reply.send(Err(error.clone()));
            }
        }
        for a in &mut self.auths {
            if let Some(w) = a.waiter.take() {
                let _ = w.send(Err(error.clone()));
            }
        }
    }

    /// Ends the session for good.
    fn finish(&mut self, end: Terminal) {
        if self.finished {
            return;
        }
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
        self.out.clear();
        self.finished = true;
        if let Terminal::Closed(Some(done)) = end {
            self.close_waiters.push(done);
        }
        self.close_waiters.append(&mut self.later_close_waiters);
    }

    fn set_state(&mut self, state: SessionState) {
        if self.state.is_connected() && !state.is_connected() {
            self.disconnects += 1;
        }
        self.publish_lease();
        self.state = state;
        let event = SessionEvent {
            state,
            session_id: self.session_id,
            timeout: self.negotiated,
            disconnects: self.disconnects,
        };
        info!(
            ?state,
            session_id = format_args!("{:#x}", self.session_id),
            "session state"
        );
        match &self.publisher {
            Some(publisher) => {
                // The server is known (or forgotten) before the state that says so.
                publisher.set_server(if state.is_connected() {
                    self.attempt_host.clone()
                } else {
                    None
                });
                publisher.publish(event);
            }
            None => self.events.push_back(event),
        }
    }

    /// A request sent at `sent` was answered (and its zxid recorded): publish the lease before
    /// the caller learns of the answer.
    fn answered(&mut self, sent: Instant) {
        if self.last_answered_send.is_none_or(|t| t < sent) {
            self.last_answered_send = Some(sent);
        }
        self.publish_lease();
    }

    fn publish_lease(&self) {
        let lease = self.lease();
        let mut slot = self
            .lease_cell
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = lease;
    }

    fn next_xid(&mut self) -> i32 {
        self.xid = if self.xid >= i32::MAX - 1 {
            1
        } else {
            self.xid + 1
        };
        self.xid
    }
}

/// The channels that carry session transitions to the handles.
pub(crate) struct Publisher {
    pub state: tokio::sync::watch::Sender<SessionEvent>,
    pub events: tokio::sync::broadcast::Sender<SessionEvent>,
    /// `host:port` of the server while connected.
    pub server: Arc<Mutex<Option<String>>>,
}

impl Publisher {
    fn set_server(&self, server: Option<String>) {
        // Never held across an await; a poisoned lock still holds a plain value.
        let mut slot = self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = server;
    }

    fn publish(&self, event: SessionEvent) {
        // Latest value first: a subscriber woken by the stream reads a state at least as new.
        self.state.send_replace(event);
        let _ = self.events.send(event);
    }
}

fn new_backoff(config: &Config) -> Box<dyn Iterator<Item = Duration> + Send> {
    use backon::BackoffBuilder;
    Box::new(
        backon::ExponentialBuilder::default()
            .with_min_delay(config.backoff_min)
            .with_max_delay(config.backoff_max)
            .with_jitter()
            .without_max_times()
            .build(),
    )
}
