//! The commit side of the write path: proposals sealed into batches for the log, then, once
//! the log (standalone) or a quorum (an ensemble) has them, applied to the replica strictly in
//! zxid order, watches fired, and the clients of this server answered, notifications first.

use super::*;

impl StateMachine {
    pub(super) fn propose(
        &mut self,
        session_id: i64,
        cxid: i32,
        wall_ms: i64,
        txn: Txn,
        origin: Origin,
    ) {
        if origin.is_client_write() {
            *self.session_writes.entry(session_id).or_default() += 1;
        }
        self.proposer
            .propose(session_id, cxid, wall_ms, txn, origin);
    }

    /// Applies every proposal, sealed or not (all now durable), in zxid order, fires watches
    /// and produces the notifications and replies, notifications first.
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
    /// let actions = sm.commit(); // after making sm.proposals() durable
    /// assert_eq!(actions.len(), 1); // the reply
    /// assert!(sm.proposals().is_empty());
    /// ```
    pub fn commit(&mut self) -> Vec<Action> {
        self.seal_batch();
        let actions = self.commit_through(self.proposer.last_assigned);
        self.proposer.pending.clear();
        actions
    }

    /// Seals the proposals made since the last seal into a batch for the log and returns it.
    /// The state machine keeps preparing (against the batch's pending changes) and answering
    /// reads while the batch is being made durable; [`StateMachine::commit_through`] then
    /// commits it. Batches must be made durable in the order they were sealed.
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
    /// let last = sm.seal_batch().last().map(|p| p.header.zxid).unwrap(); // hand these to the log
    /// assert!(sm.has_in_flight());
    /// sm.step(vec![create("/b")], 0, 0); // keeps preparing meanwhile
    /// sm.commit_through(last);
    /// assert!(sm.tree().get("/a").is_some() && sm.tree().get("/b").is_none());
    /// ```
    pub fn seal_batch(&mut self) -> &[Proposal] {
        let start = self.in_flight.len();
        self.in_flight.extend(self.proposer.proposals.drain(..));
        // Cheap when already contiguous; `start` is at most the length.
        let slice = self.in_flight.make_contiguous();
        slice.get(start..).unwrap_or_default()
    }

    /// Whether a sealed batch waits for [`StateMachine::commit_through`].
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
    /// assert!(!sm.has_in_flight());
    /// sm.step(vec![create("/a")], 0, 0);
    /// sm.seal_batch();
    /// assert!(sm.has_in_flight());
    /// sm.commit_through(2);
    /// assert!(!sm.has_in_flight());
    /// ```
    pub fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Commits the sealed proposals with zxids up to `zxid` (now durable): applies them in
    /// zxid order, fires watches, and produces the notifications and replies, notifications
    /// first. Pending changes of later batches are kept.
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
    /// sm.seal_batch();
    /// let actions = sm.commit_through(2); // the log reports 2 durable
    /// assert!(matches!(&actions[..], [Action::Send(1, _)]));
    /// ```
    pub fn commit_through(&mut self, zxid: i64) -> Vec<Action> {
        while self
            .in_flight
            .front()
            .is_some_and(|p| p.header.zxid <= zxid)
        {
            let Some(p) = self.in_flight.pop_front() else {
                break;
            };
            if p.origin.is_client_write()
                && let Some(n) = self.session_writes.get_mut(&p.header.session_id)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.session_writes.remove(&p.header.session_id);
                }
            }
            let (result, changes) = match self.replica.apply(&p.header, &p.txn) {
                Ok(applied) => applied,
                Err(e) => {
                    // Never expected: zxids are assigned in order and committed in order.
                    tracing::error!("{e}; not applied");
                    (TxnResult::Error(ErrorCode::SystemError), Vec::new())
                }
            };
            self.fire(&changes);
            self.answer(p.header, result, p.origin);
            self.backlog_dirty = true;
        }
        self.proposer.pending.settle_through(zxid);
        std::mem::take(&mut self.actions)
    }

    pub(super) fn fire(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::Created(p) => {
                    for c in self.watches.trigger_data(p, EventType::NodeCreated) {
                        self.notify(c, EventType::NodeCreated, p);
                    }
                    self.fire_children_changed_on_parent(p);
                }
                Change::Deleted(p) => {
                    let fired = self.watches.trigger_data(p, EventType::NodeDeleted);
                    for c in &fired {
                        self.notify(*c, EventType::NodeDeleted, p);
                    }
                    for c in self
                        .watches
                        .trigger_child(p, EventType::NodeDeleted, &fired)
                    {
                        self.notify(c, EventType::NodeDeleted, p);
                    }
                    self.fire_children_changed_on_parent(p);
                }
                Change::DataChanged(p) => {
                    for c in self.watches.trigger_data(p, EventType::NodeDataChanged) {
                        self.notify(c, EventType::NodeDataChanged, p);
                    }
                }
            }
        }
    }

    /// `path` was created or deleted: its parent's child watches fire.
    pub(super) fn fire_children_changed_on_parent(&mut self, path: &str) {
        if let Some(parent) = parent_of(path) {
            let parent = parent.to_owned();
            for c in self
                .watches
                .trigger_child(&parent, EventType::NodeChildrenChanged, &[])
            {
                self.notify(c, EventType::NodeChildrenChanged, &parent);
            }
        }
    }

    pub(super) fn answer(&mut self, header: TxnHeader, result: TxnResult, origin: Origin) {
        let zxid = header.zxid;
        match origin {
            Origin::Internal | Origin::Forwarded => {}
            Origin::Undecodable { conn, xid } => {
                self.release(conn);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.pending_writes = c.pending_writes.saturating_sub(1);
                }
                let code = match result {
                    TxnResult::Error(code) => code,
                    _ => ErrorCode::MarshallingError,
                };
                self.reply(conn, xid, zxid, code, &Response::Empty);
            }
            Origin::Expire { session } => {
                self.close_session_conns(session);
            }
            Origin::Connect { conn, read_only } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.pending_writes = c.pending_writes.saturating_sub(1);
                }
                let Some(timeout) = self.conns.get(&conn).map(|c| c.timeout_ms) else {
                    return;
                };
                self.accept_session(conn, header.session_id, timeout, read_only);
            }
            Origin::Request { conn, xid, request } => {
                self.release(conn);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.pending_writes = c.pending_writes.saturating_sub(1);
                }
                match (result, &request) {
                    (TxnResult::Error(code), _) => {
                        self.reply(conn, xid, zxid, code, &Response::Empty)
                    }
                    (TxnResult::Checked, Request::Check(_)) => {
                        // 3.8 never answers a passing check outside a multi (its final
                        // processor throws); later requests of the connection are answered.
                        tracing::debug!(conn, xid, "standalone check passed; no reply, as 3.8");
                    }
                    (TxnResult::SessionClosed, _) => {
                        self.reply(conn, xid, zxid, ErrorCode::Ok, &Response::Empty);
                        self.close(conn);
                    }
                    (TxnResult::Multi(results), Request::Multi(m)) => {
                        let results = results
                            .into_iter()
                            .zip(&m.ops)
                            .map(|(r, op)| multi_result(r, op))
                            .collect();
                        let body = Response::Multi(MultiResponse { results });
                        self.reply(conn, xid, zxid, ErrorCode::Ok, &body);
                    }
                    (TxnResult::Stat(stat), Request::Reconfig(_)) => {
                        // The new configuration and the node's stat, as getData answers.
                        let data = self
                            .replica
                            .tree
                            .get(crate::reconfig::CONFIG_PATH)
                            .and_then(|n| n.data.as_slice().map(Bytes::copy_from_slice));
                        let body = Response::GetData(GetDataResponse { data, stat });
                        self.reply(conn, xid, zxid, ErrorCode::Ok, &body);
                    }
                    (result, request) => {
                        let body = single_result(result, request.op_code());
                        self.reply(conn, xid, zxid, ErrorCode::Ok, &body);
                    }
                }
            }
        }
    }
}

fn single_result(result: TxnResult, op: OpCode) -> Response {
    match result {
        TxnResult::Created { path, stat } => match op {
            OpCode::Create => Response::Create(CreateResponse { path }),
            _ => Response::Create2(Create2Response { path, stat }),
        },
        TxnResult::Stat(stat) => Response::SetStat(stat),
        _ => Response::Empty,
    }
}

fn multi_result(result: TxnResult, op: &MultiOp) -> OpResult {
    match result {
        TxnResult::Created { path, stat } => match op {
            MultiOp::CreateContainer(_) | MultiOp::CreateTtl(_) => {
                OpResult::Create2(Create2Response { path, stat })
            }
            _ => OpResult::Create { path },
        },
        TxnResult::Deleted => OpResult::Delete,
        TxnResult::Stat(stat) => OpResult::SetData { stat },
        TxnResult::Checked => OpResult::Check,
        TxnResult::Error(code) => OpResult::Error(code),
        _ => OpResult::Error(ErrorCode::SystemError),
    }
}

impl StateMachine {
    /// The zxid of the oldest sealed proposal not yet committed (an ensemble leader commits
    /// its own proposals through [`StateMachine::commit_through`] when Zab applies them).
    pub(crate) fn first_in_flight(&self) -> Option<i64> {
        self.in_flight.front().map(|p| p.header.zxid)
    }

    /// Makes the next proposal's zxid follow `zxid` (a new leader starts after its history).
    pub(crate) fn continue_after(&mut self, zxid: i64) {
        self.proposer.last_assigned = zxid;
    }

    /// Applies a committed transaction that was not proposed here (a follower's replication,
    /// or a leader's proposal from before it last lost its clients): watches of this
    /// server's connections fire; nobody here waits for a reply.
    pub(crate) fn apply_replicated(&mut self, header: &TxnHeader, txn: &Txn) {
        match self.replica.apply(header, txn) {
            Ok((result, changes)) => {
                self.fire(&changes);
                if self.is_learner() {
                    self.learner_applied(header, txn, result);
                }
            }
            Err(e) => tracing::error!("{e}; not applied"),
        }
    }

    /// Takes the applied tree out, leaving an empty one (the machine is then discarded).
    pub(crate) fn take_tree(&mut self) -> DataTree {
        std::mem::take(&mut self.replica.tree)
    }

    /// Answers a held sync (its quorum round confirmed everything applied here), or, with
    /// `ok` false (leadership lost), closes its connection: the client retries elsewhere.
    pub(crate) fn finish_sync(&mut self, conn: ConnId, xid: i32, path: String, ok: bool) {
        self.syncing.remove(&conn);
        self.backlog_dirty = true;
        self.release(conn);
        if ok {
            let zxid = self.replica.tree.last_zxid;
            let body = Response::Sync(SyncResponse { path });
            self.reply(conn, xid, zxid, ErrorCode::Ok, &body);
        } else {
            self.close(conn);
        }
    }

    /// Drains pending actions (from [`StateMachine::apply_replicated`] and the like).
    pub(crate) fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }
}
