//! The front end: connections, handshakes, sessions bound to connections, replies and
//! notifications (encoded here), and the byte accounting that holds a connection's requests
//! back while its replies are not being read. Everything here is about the clients connected
//! to *this* server; nothing here is replicated.

use super::*;

impl StateMachine {
    pub(super) fn caller_ids(&self, conn: ConnId) -> Vec<Id> {
        self.conns
            .get(&conn)
            .map(|c| c.ids.clone())
            .unwrap_or_default()
    }

    pub(super) fn send(&mut self, conn: ConnId, bytes: Bytes) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.sent += 1;
            self.sent += 1;
            c.unsent += bytes.len() + FRAME_OVERHEAD;
            if c.unsent >= self.config.max_unsent_per_connection {
                self.congested.insert(conn);
            }
            self.actions.push(Action::Send(conn, bytes));
        }
    }

    /// The driver wrote `bytes` of `conn`'s replies to its socket: requests held back while
    /// its (or the server's) unsent replies were over the limit may go on.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// sm.step(vec![create("/a")], 0, 0);
    /// for action in sm.commit() {
    ///     if let Action::Send(conn, frame) = action {
    ///         // ... after writing it to the socket:
    ///         sm.sent(conn, frame.len());
    ///     }
    /// }
    /// assert!(!sm.is_congested());
    /// ```
    pub fn sent(&mut self, conn: ConnId, bytes: usize) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.unsent -= bytes.min(c.unsent);
        if c.unsent < self.config.max_unsent_per_connection && self.congested.remove(&conn) {
            self.backlog_dirty = true;
        }
    }

    /// Whether deferred inputs may move now (something they waited for happened): the driver
    /// then steps again without waiting for new input.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// # let _ = create;
    /// assert!(!sm.backlog_ready()); // nothing deferred
    /// ```
    pub fn backlog_ready(&self) -> bool {
        self.backlog_dirty && !self.backlog.is_empty()
    }

    /// Whether some requests wait for replies to be written ([`StateMachine::sent`]).
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// # let _ = create;
    /// assert!(!sm.is_congested()); // replies are being written as fast as they come
    /// ```
    pub fn is_congested(&self) -> bool {
        !self.congested.is_empty()
    }

    /// Whether `conn`'s requests must wait for its replies to drain.
    pub(super) fn holds_back(&self, conn: ConnId) -> bool {
        self.congested.contains(&conn) || self.syncing.contains(&conn)
    }

    pub(super) fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn)
            && !c.closing
        {
            c.closing = true;
            self.actions.push(Action::Close(conn));
        }
    }

    /// Closes every connection of `session` (its session ended, or never was replicated).
    pub(super) fn close_session_conns(&mut self, session: i64) {
        let conns: Vec<ConnId> = self
            .session_conns
            .get(&session)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for conn in conns {
            self.close(conn);
        }
    }

    /// A reconnect of `session` on `keep`: every other connection of the session is closed
    /// and unbound from it.
    pub(super) fn close_other_conns(&mut self, session: i64, keep: ConnId) {
        let others: Vec<ConnId> = self
            .session_conns
            .get(&session)
            .map(|s| s.iter().copied().filter(|c| *c != keep).collect())
            .unwrap_or_default();
        for other in others {
            self.close(other);
            self.forget_binding(other);
        }
    }

    pub(super) fn reply(
        &mut self,
        conn: ConnId,
        xid: i32,
        zxid: i64,
        err: ErrorCode,
        body: &Response,
    ) {
        let header = ReplyHeader { xid, zxid, err };
        let mut out = BytesMut::new();
        let encoded = if err.is_ok() {
            encode_frame(&(header, body), &mut out, self.config.max_reply_len)
        } else {
            encode_frame(&header, &mut out, self.config.max_reply_len)
        };
        if let Err(e) = encoded {
            // Never an empty or truncated frame: the client would wait for it forever.
            self.refuse_large_reply(conn, xid, &e.to_string());
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.last_zxid = zxid;
        }
        self.send(conn, out.freeze());
    }

    /// A reply too large for any client to accept: the connection is closed instead (its
    /// client sees a connection loss, as with ZooKeeper, whose clients drop a frame over their
    /// `jute.maxbuffer`), after the replies already due.
    pub(super) fn refuse_large_reply(&mut self, conn: ConnId, xid: i32, why: &str) {
        tracing::warn!(
            conn,
            xid,
            limit = self.config.max_reply_len,
            "reply too large ({why}); closing the connection"
        );
        self.close(conn);
    }

    pub(super) fn notify(&mut self, conn: ConnId, event: EventType, path: &str) {
        let header = ReplyHeader {
            xid: zk_proto::xid::NOTIFICATION,
            zxid: -1,
            err: ErrorCode::Ok,
        };
        let event = WatcherEvent {
            event_type: event,
            state: KeeperState::SyncConnected,
            path: path.to_owned(),
        };
        self.send(conn, frame(&(header, &event)));
    }

    pub(super) fn forget(&mut self, conn: ConnId) {
        self.syncing.remove(&conn);
        if self.congested.remove(&conn) {
            self.backlog_dirty = true;
        }
        if let Some(c) = self.conns.remove(&conn)
            && let Some(sid) = c.session
            && let Some(set) = self.session_conns.get_mut(&sid)
        {
            set.remove(&conn);
            if set.is_empty() {
                self.session_conns.remove(&sid);
            }
        }
        self.watches.remove_connection(conn);
    }

    pub(super) fn clamp_timeout(&self, requested: i32) -> i32 {
        requested.clamp(
            self.config.min_session_timeout_ms,
            self.config
                .max_session_timeout_ms
                .max(self.config.min_session_timeout_ms),
        )
    }

    pub(super) fn connect(&mut self, conn: ConnId, req: ConnectRequest, now_ms: u64, wall_ms: i64) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        if req.last_zxid_seen > self.replica.tree.last_zxid {
            tracing::info!(
                conn,
                client_zxid = req.last_zxid_seen,
                server_zxid = self.replica.tree.last_zxid,
                "refusing a client that has seen a newer zxid"
            );
            self.close(conn);
            return;
        }
        if self.read_only {
            self.read_only_connect(conn, req, now_ms);
            return;
        }
        let timeout = self.clamp_timeout(req.timeout_ms);
        if req.session_id == 0 && self.is_learner() {
            self.forward_connect(conn, timeout, req.read_only);
            return;
        }
        if req.session_id == 0 {
            // Wrapping, and skipping ids in use: recovered ids come from disk and may sit
            // anywhere in the range. 0 means "new session" and i64::MIN marks containers.
            let sid = self.proposer.new_session_id(&self.replica.tree);
            let passwd = session_password(&self.config.session_secret, sid);
            self.proposer
                .sessions
                .add(sid, timeout.max(0) as u64, now_ms);
            self.bind(conn, sid, timeout);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.pending_writes += 1;
            }
            self.propose(
                sid,
                0,
                wall_ms,
                Txn::CreateSession {
                    timeout_ms: timeout,
                    passwd: Bytes::copy_from_slice(&passwd),
                },
                Origin::Connect {
                    conn,
                    read_only: req.read_only,
                },
            );
            return;
        }
        // A reconnect first closes every other connection of the session, password or not.
        self.close_other_conns(req.session_id, conn);
        let alive = self.proposer.sessions.contains(req.session_id)
            && self
                .replica
                .tree
                .sessions
                .get(&req.session_id)
                .is_some_and(|s| s.passwd == req.passwd);
        if !alive {
            let response = ConnectResponse::expired(req.read_only);
            self.send(conn, frame(&response));
            self.close(conn);
            return;
        }
        self.proposer.sessions.remove(req.session_id);
        self.proposer
            .sessions
            .add(req.session_id, timeout.max(0) as u64, now_ms);
        self.bind(conn, req.session_id, timeout);
        self.learner_touch(req.session_id);
        self.accept_session(conn, req.session_id, timeout, req.read_only);
    }

    /// Answers `conn`'s handshake: it now holds `session_id`, whose stored password it is sent.
    pub(super) fn accept_session(
        &mut self,
        conn: ConnId,
        session_id: i64,
        timeout: i32,
        read_only: Option<bool>,
    ) {
        let passwd = self
            .replica
            .tree
            .sessions
            .get(&session_id)
            .map(|s| s.passwd.clone())
            .unwrap_or_default();
        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout,
            session_id,
            passwd,
            read_only: read_only.map(|_| false),
        };
        self.send(conn, frame(&response));
    }

    pub(super) fn bind(&mut self, conn: ConnId, sid: i64, timeout: i32) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(sid);
            c.timeout_ms = timeout;
        }
        self.session_conns.entry(sid).or_default().insert(conn);
    }

    pub(super) fn forget_binding(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn)
            && let Some(sid) = c.session.take()
            && let Some(set) = self.session_conns.get_mut(&sid)
        {
            set.remove(&conn);
        }
        self.watches.remove_connection(conn);
    }

    /// Closes the connections of `session` (or every connection) without touching sessions:
    /// clients see a dropped connection and reconnect (fault injection). Returns how many.
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// # let _ = create;
    /// assert_eq!(sm.drop_connections(None), 1);
    /// assert_eq!(sm.session_ids().len(), 1); // the session lives on
    /// ```
    pub fn drop_connections(&mut self, session: Option<i64>) -> usize {
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| session.is_none() || c.session == session)
            .map(|(id, _)| *id)
            .collect();
        for c in &conns {
            self.close(*c);
        }
        conns.len()
    }

    /// Whether `conn` may still receive (it is known and not closing).
    ///
    /// ```
    /// use zk_proto::{ConnectRequest, CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// # let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// # let addr = ([127, 0, 0, 1], 4000).into();
    /// # let connect = Input::Connect { conn: 1, request: ConnectRequest::new_session(10_000) };
    /// # sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
    /// # sm.commit(); // connection 1 has a session now
    /// let create = |path: &str| {
    ///     let r = Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    ///     Input::Request { conn: 1, xid: 1, op: r.op_code(), body: Ok(r) }
    /// };
    /// # let _ = create;
    /// assert!(sm.is_open(1));
    /// assert!(!sm.is_open(2));
    /// ```
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| !c.closing)
    }

    /// One request of `conn` is done: the driver gives its bytes back.
    pub(super) fn release(&mut self, conn: ConnId) {
        *self.released.entry(conn).or_default() += 1;
    }
}

/// A session's password: derived from the server's secret and the session id, as ZooKeeper
/// derives it (there from a `Random` seeded with both), so the state machine needs no
/// randomness. It is stored in the createSession transaction, so recovery and (later)
/// followers never derive it again.
pub(super) fn session_password(secret: &[u8; 16], session_id: i64) -> [u8; 16] {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(secret);
    h.update(session_id.to_be_bytes());
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}
