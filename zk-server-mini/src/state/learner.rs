//! A follower's front end: its clients' handshakes, reads, watches and per-session ordering
//! are local, as on the leader; writes, session opens and closes are forwarded to the leader
//! ([`super::forward`]) and answered here when their transactions, committed by the
//! ensemble, are applied here in zxid order. Session expiry is the leader's: this member
//! only reports which sessions its clients kept busy (batched into ping answers).

use super::forward::Forward;
use super::front::session_password;
use super::*;

/// The follower's side of its forwarded writes.
#[derive(Debug, Default)]
pub(crate) struct Learner {
    /// Payloads for the driver to forward to the leader, in order.
    forwards: Vec<Bytes>,
    /// Per session, the forwarded requests not yet applied, in forwarding order (xid and
    /// what to answer). The leader proposes one transaction per forwarded request, in the
    /// order they reach it, so each session's transactions are applied in this order.
    pending: BTreeMap<i64, VecDeque<(i32, Origin)>>,
    /// Sessions active here since the driver last took them.
    touched: BTreeSet<i64>,
    /// The clock of the last step.
    now_ms: u64,
}

impl StateMachine {
    /// A state machine for a follower serving its own clients (see the module docs of
    /// `learner`): over the applied tree, forwarding its writes.
    pub(crate) fn new_learner(
        tree: DataTree,
        config: CoreConfig,
        now_ms: u64,
        wall_ms: i64,
    ) -> Self {
        let mut sm = Self::new(tree, config, now_ms, wall_ms);
        sm.learner = Some(Learner {
            now_ms,
            ..Learner::default()
        });
        sm.hold_syncs = true;
        sm
    }

    /// Whether this machine forwards its writes (a follower's).
    pub(crate) fn is_learner(&self) -> bool {
        self.learner.is_some()
    }

    /// Payloads to hand to [`crate::zab::Input::Forward`], in order.
    pub(crate) fn take_forwards(&mut self) -> Vec<Bytes> {
        self.learner
            .as_mut()
            .map(|l| std::mem::take(&mut l.forwards))
            .unwrap_or_default()
    }

    /// Sessions whose clients were active here since the last call, for
    /// [`crate::zab::Input::Touch`].
    pub(crate) fn take_touched(&mut self) -> Vec<i64> {
        self.learner
            .as_mut()
            .map(|l| std::mem::take(&mut l.touched).into_iter().collect())
            .unwrap_or_default()
    }

    pub(super) fn learner_clock(&mut self, now_ms: u64) {
        if let Some(l) = &mut self.learner {
            l.now_ms = now_ms;
        }
    }

    pub(super) fn learner_touch(&mut self, session: i64) {
        if let Some(l) = &mut self.learner {
            l.touched.insert(session);
        }
    }

    fn forward(&mut self, session: i64, xid: i32, forward: Forward, origin: Origin) {
        *self.session_writes.entry(session).or_default() += 1;
        if let Some(l) = &mut self.learner {
            l.forwards.push(forward.encode());
            l.pending
                .entry(session)
                .or_default()
                .push_back((xid, origin));
        }
    }

    /// A new session for `conn`: its id and password are chosen here (the id carries this
    /// member's id in its high byte, so members never pick the same), the leader opens it.
    pub(super) fn forward_connect(&mut self, conn: ConnId, timeout: i32, read_only: Option<bool>) {
        let sid = self.proposer.new_session_id(&self.replica.tree);
        let passwd = session_password(&self.config.session_secret, sid);
        self.bind(conn, sid, timeout);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.pending_writes += 1;
        }
        self.learner_touch(sid);
        let forward = Forward::CreateSession {
            session: sid,
            timeout_ms: timeout,
            passwd: Bytes::copy_from_slice(&passwd),
        };
        self.forward(sid, 0, forward, Origin::Connect { conn, read_only });
    }

    /// A write of `conn`'s session: forwarded, answered when applied.
    pub(super) fn forward_write(
        &mut self,
        conn: ConnId,
        sid: i64,
        xid: i32,
        op: OpCode,
        body: Result<Request, DecodeError>,
    ) {
        let ids = self.caller_ids(conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.pending_writes += 1;
        }
        let (body, origin) = match body {
            Ok(request) => {
                if matches!(request, Request::CloseSession) {
                    // Later requests of the session are answered SessionExpired here.
                    self.proposer.sessions.remove(sid);
                }
                let origin = Origin::Request {
                    conn,
                    xid,
                    request: request.clone(),
                };
                (Some(request), origin)
            }
            Err(e) => {
                tracing::debug!(conn, xid, ?op, "undecodable write body: {e}");
                (None, Origin::Undecodable { conn, xid })
            }
        };
        let forward = Forward::Request {
            session: sid,
            xid,
            op,
            ids,
            body,
        };
        self.forward(sid, xid, forward, origin);
    }

    /// A committed transaction was applied here: the session table follows it, and the
    /// client that sent it through this member (if any) is answered; a session closed by
    /// the leader (expired) loses its connections here.
    pub(super) fn learner_applied(&mut self, header: &TxnHeader, txn: &Txn, result: TxnResult) {
        let sid = header.session_id;
        let now = self.learner.as_ref().map_or(0, |l| l.now_ms);
        match txn {
            Txn::CreateSession { timeout_ms, .. } => {
                self.proposer
                    .sessions
                    .add(sid, (*timeout_ms).max(0) as u64, now)
            }
            Txn::CloseSession { .. } => self.proposer.sessions.remove(sid),
            _ => {}
        }
        let Some(l) = &mut self.learner else {
            return;
        };
        let mut matched = None;
        if let Some(queue) = l.pending.get_mut(&sid)
            && let Some(at) = queue.iter().position(|(xid, _)| *xid == header.cxid)
        {
            // Requests forwarded before this one and never proposed were lost (only when
            // the leader failed them without a transaction): their clients start over.
            let lost: Vec<Origin> = queue.drain(..at).map(|(_, o)| o).collect();
            let origin = queue.pop_front().map(|(_, o)| o);
            if queue.is_empty() {
                l.pending.remove(&sid);
            }
            matched = origin.map(|o| (lost, o));
        }
        match matched {
            Some((lost, origin)) => {
                for o in lost {
                    self.done_forward(sid);
                    if let Origin::Request { conn, .. }
                    | Origin::Connect { conn, .. }
                    | Origin::Undecodable { conn, .. } = o
                    {
                        self.close(conn);
                    }
                }
                self.done_forward(sid);
                if let (Origin::Connect { conn, .. }, TxnResult::Error(code)) = (&origin, &result) {
                    tracing::warn!(conn, ?code, "the leader refused a new session");
                    self.close(*conn);
                    return;
                }
                self.answer(*header, result, origin);
            }
            None if result == TxnResult::SessionClosed => {
                self.close_session_conns(sid);
            }
            None => {}
        }
    }

    fn done_forward(&mut self, sid: i64) {
        if let Some(n) = self.session_writes.get_mut(&sid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.session_writes.remove(&sid);
            }
        }
        self.backlog_dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::acl::Acl;
    use zk_proto::jute::{Decode, JuteReader};

    fn config(server_id: u8) -> CoreConfig {
        CoreConfig {
            server_id,
            ..CoreConfig::default()
        }
    }

    /// The leader prepares what the follower forwarded; both apply the result in order.
    fn replicate(leader: &mut StateMachine, follower: &mut StateMachine) -> Vec<Action> {
        for payload in follower.take_forwards() {
            assert!(leader.forwarded(payload, 0, 0));
        }
        let batch: Vec<(TxnHeader, Txn)> = leader
            .seal_batch()
            .iter()
            .map(|p| (p.header, p.txn.clone()))
            .collect();
        if let Some((last, _)) = batch.last() {
            leader.commit_through(last.zxid);
        }
        for (header, txn) in &batch {
            follower.apply_replicated(header, txn);
        }
        follower.take_actions()
    }

    fn replies(actions: &[Action]) -> Vec<(i32, ErrorCode)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(_, b) => ReplyHeader::decode(&mut JuteReader::new(b.slice(4..)))
                    .ok()
                    .map(|h| (h.xid, h.err)),
                Action::Close(_) => None,
            })
            .collect()
    }

    fn create(conn: ConnId, xid: i32, path: &str) -> Input {
        let r = Request::Create(CreateRequest {
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 1,
        });
        Input::Request {
            conn,
            xid,
            op: r.op_code(),
            body: Ok(r),
        }
    }

    fn exists(conn: ConnId, xid: i32, path: &str) -> Input {
        let r = Request::Exists(ExistsRequest {
            path: path.into(),
            watch: false,
        });
        Input::Request {
            conn,
            xid,
            op: r.op_code(),
            body: Ok(r),
        }
    }

    #[test]
    fn a_followers_client_is_served_in_order_with_its_writes_prepared_at_the_leader() {
        let mut leader = StateMachine::new(DataTree::new(), config(1), 0, 0);
        let mut follower = StateMachine::new_learner(DataTree::new(), config(2), 0, 0);
        let addr = ([127, 0, 0, 1], 4000).into();
        let connect = Input::Connect {
            conn: 7,
            request: ConnectRequest::new_session(10_000),
        };
        assert!(
            follower
                .step(vec![Input::Open { conn: 7, addr }, connect], 0, 0)
                .is_empty()
        );
        let actions = replicate(&mut leader, &mut follower);
        let Some(Action::Send(7, frame)) = actions.first() else {
            panic!("no ConnectResponse: {actions:?}");
        };
        let resp = ConnectResponse::decode(&mut JuteReader::new(frame.slice(4..)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.session_id >> 56, 2, "an id of the follower's range");
        assert!(leader.session_ids().contains(&resp.session_id));
        assert_eq!(follower.take_touched(), [resp.session_id]);

        // A write, a read behind it, a failing write, a read behind that: answered in order.
        let inputs = vec![
            create(7, 1, "/a"),
            exists(7, 2, "/a"),
            create(7, 3, "/a"),
            exists(7, 4, "/b"),
        ];
        assert!(follower.step(inputs, 10, 0).is_empty());
        assert_eq!(follower.take_touched(), [resp.session_id]);
        // As the driver does: replicate, then let the deferred requests move, until done.
        let mut actions = Vec::new();
        for _ in 0..4 {
            actions.extend(replicate(&mut leader, &mut follower));
            actions.extend(follower.step(Vec::new(), 20, 0));
        }
        assert!(!follower.has_backlog());
        assert_eq!(
            replies(&actions),
            [
                (1, ErrorCode::Ok),
                (2, ErrorCode::Ok),
                (3, ErrorCode::NodeExists),
                (4, ErrorCode::NoNode),
            ]
        );
        // The ephemeral is the follower's client's session's, on both members.
        for sm in [&leader, &follower] {
            let owner = sm.tree().get("/a").map(|n| n.stat().ephemeral_owner);
            assert_eq!(owner, Some(resp.session_id));
        }

        // The leader expires the session: the follower closes its client.
        assert!(leader.expire_session(resp.session_id, 0));
        let batch: Vec<(TxnHeader, Txn)> = leader
            .seal_batch()
            .iter()
            .map(|p| (p.header, p.txn.clone()))
            .collect();
        for (header, txn) in &batch {
            follower.apply_replicated(header, txn);
        }
        assert_eq!(follower.take_actions(), [Action::Close(7)]);
        assert!(follower.tree().get("/a").is_none());
    }
}
