//! Read-only mode (`readonlymode.enabled`): a member cut off from its quorum serves clients
//! that allow read-only connections from its own replica, as ZooKeeper 3.8's read-only server
//! does. Observed on a real 3.8.0 member (PROTOCOL.md has no section on it):
//! - a handshake that did not set the read-only flag is closed without an answer;
//! - a new session gets an id of this member's range, the negotiated timeout and the
//!   read-only byte set; the session is local (nothing is replicated, it ends when the member
//!   rejoins a quorum); a client resuming a session of the quorum is told it expired (3.8.0
//!   serves read-only clients only with `localSessionsEnabled=true`, whose sessions are all
//!   local to the member that opened them), and opens a new one;
//! - reads, watches and `multiRead` are answered from the local tree;
//! - every write, `sync()` included, is answered `NotReadOnly` (-119) with the last zxid;
//!   `closeSession` is answered Ok and the connection is closed.

use super::front::session_password;
use super::*;

impl StateMachine {
    /// A state machine that serves read-only sessions over `tree` (see the module docs of
    /// `read_only`): nothing it does becomes a proposal.
    pub(crate) fn new_read_only(
        tree: DataTree,
        config: CoreConfig,
        now_ms: u64,
        wall_ms: i64,
    ) -> Self {
        let mut sm = Self::new(tree, config, now_ms, wall_ms);
        sm.read_only = true;
        sm
    }

    /// Whether this machine serves read-only sessions only.
    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// A handshake at a read-only member.
    pub(super) fn read_only_connect(&mut self, conn: ConnId, req: ConnectRequest, now_ms: u64) {
        if req.read_only != Some(true) {
            tracing::info!(conn, "refusing a client that does not allow read-only mode");
            self.close(conn);
            return;
        }
        let timeout = self.clamp_timeout(req.timeout_ms);
        let (sid, passwd) = if req.session_id == 0 {
            let sid = self.proposer.new_session_id(&self.replica.tree);
            (
                sid,
                session_password(&self.config.session_secret, sid).to_vec(),
            )
        } else {
            // Only a session this member opened while read-only is renewed (with its
            // password). A session of the quorum is answered expired, as 3.8.0 answers it (its
            // read-only mode needs local sessions, which a read-only server does not know).
            let local = self.proposer.sessions.contains(req.session_id)
                && !self.replica.tree.sessions.contains_key(&req.session_id);
            let passwd = session_password(&self.config.session_secret, req.session_id);
            if !local || passwd[..] != req.passwd[..] {
                // As 3.8.0: the expired answer keeps the read-only byte set.
                let expired = ConnectResponse {
                    read_only: Some(true),
                    ..ConnectResponse::expired(None)
                };
                self.send(conn, frame(&expired));
                self.close(conn);
                return;
            }
            (req.session_id, passwd.to_vec())
        };
        self.close_other_conns(sid, conn);
        self.proposer.sessions.remove(sid);
        self.proposer
            .sessions
            .add(sid, timeout.max(0) as u64, now_ms);
        self.bind(conn, sid, timeout);
        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout,
            session_id: sid,
            passwd: Bytes::from(passwd),
            read_only: Some(true),
        };
        self.send(conn, frame(&response));
    }

    /// Ends the read-only sessions whose timeout has passed without a packet: their
    /// connections are closed (nothing is proposed; the sessions were never replicated).
    pub(crate) fn expire_read_only_sessions(&mut self, now_ms: u64) {
        for sid in self.proposer.sessions.expired(now_ms) {
            tracing::debug!(session = format!("0x{sid:x}"), "read-only session expired");
            self.close_session_conns(sid);
        }
    }

    /// Whether a request must be refused at a read-only member (answered here): every write
    /// and `sync()` get `NotReadOnly`, `closeSession` ends the local session.
    pub(super) fn read_only_refuses(
        &mut self,
        conn: ConnId,
        sid: i64,
        xid: i32,
        op: OpCode,
        body: &Result<Request, DecodeError>,
    ) -> bool {
        let zxid = self.replica.tree.last_zxid;
        if matches!(body, Ok(Request::CloseSession)) {
            self.proposer.sessions.remove(sid);
            self.reply(conn, xid, zxid, ErrorCode::Ok, &Response::Empty);
            self.close(conn);
            return true;
        }
        let refused = is_write(op) || op == OpCode::Sync;
        if refused && !matches!(body, Err(DecodeError::UnknownOpCode(_))) {
            self.reply(conn, xid, zxid, ErrorCode::NotReadOnly, &Response::Empty);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::acl::Acl;
    use zk_proto::jute::{Decode, JuteReader};

    const ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 5555);

    /// A read-only machine over a tree holding `/a` = "v1" (zxid 2).
    fn read_only_sm() -> StateMachine {
        let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
        let connect = Input::Connect {
            conn: 1,
            request: ConnectRequest::new_session(10_000),
        };
        let addr = ADDR.into();
        sm.step(vec![Input::Open { conn: 1, addr }, connect], 0, 0);
        sm.commit();
        sm.step(vec![request(1, 1, create("/a"))], 0, 0);
        sm.commit();
        let config = CoreConfig {
            server_id: 3,
            ..CoreConfig::default()
        };
        StateMachine::new_read_only(sm.take_tree(), config, 0, 0)
    }

    fn create(path: &str) -> Request {
        Request::Create(CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(b"v1")),
            acl: Acl::open_unsafe(),
            flags: 0,
        })
    }

    fn request(conn: ConnId, xid: i32, req: Request) -> Input {
        Input::Request {
            conn,
            xid,
            op: req.op_code(),
            body: Ok(req),
        }
    }

    fn handshake(sm: &mut StateMachine, conn: ConnId, request: ConnectRequest) -> Vec<Action> {
        let addr = ADDR.into();
        let connect = Input::Connect { conn, request };
        sm.step(vec![Input::Open { conn, addr }, connect], 0, 0)
    }

    fn connect_response(actions: &[Action]) -> ConnectResponse {
        let frame = actions.iter().find_map(|a| match a {
            Action::Send(_, frame) => Some(frame),
            Action::Close(_) => None,
        });
        let Some(frame) = frame else {
            panic!("no ConnectResponse: {actions:?}");
        };
        ConnectResponse::decode(&mut JuteReader::new(frame.slice(4..)))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn replies(actions: &[Action]) -> Vec<(i32, i64, ErrorCode)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(_, b) => ReplyHeader::decode(&mut JuteReader::new(b.slice(4..)))
                    .ok()
                    .map(|h| (h.xid, h.zxid, h.err)),
                Action::Close(_) => None,
            })
            .collect()
    }

    fn read_only_request() -> ConnectRequest {
        ConnectRequest {
            read_only: Some(true),
            ..ConnectRequest::new_session(10_000)
        }
    }

    #[test]
    fn a_client_that_does_not_allow_read_only_is_closed_unanswered() {
        let mut sm = read_only_sm();
        for read_only in [None, Some(false)] {
            let request = ConnectRequest {
                read_only,
                ..ConnectRequest::new_session(10_000)
            };
            assert_eq!(handshake(&mut sm, 5, request), [Action::Close(5)]);
            sm.step(vec![Input::Closed { conn: 5 }], 0, 0);
        }
    }

    #[test]
    fn a_read_only_session_reads_the_replica_and_every_write_is_refused() {
        let mut sm = read_only_sm();
        let resp = connect_response(&handshake(&mut sm, 5, read_only_request()));
        assert_eq!(resp.read_only, Some(true));
        assert_eq!(resp.timeout_ms, 10_000);
        assert_eq!(resp.session_id >> 56, 3, "an id of this member's range");
        assert!(sm.proposals().is_empty(), "a read-only session is local");
        assert!(!sm.tree().sessions.contains_key(&resp.session_id));

        let get = Request::GetData(GetDataRequest {
            path: "/a".into(),
            watch: true,
        });
        let set = Request::SetData(SetDataRequest {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"v2")),
            version: -1,
        });
        let delete = Request::Delete(DeleteRequest {
            path: "/a".into(),
            version: -1,
        });
        let sync = Request::Sync(SyncRequest { path: "/a".into() });
        let inputs = vec![
            request(5, 1, get),
            request(5, 2, create("/b")),
            request(5, 3, set),
            request(5, 4, delete),
            request(5, 5, sync),
        ];
        let actions = sm.step(inputs, 10, 0);
        assert_eq!(
            replies(&actions),
            [
                (1, 2, ErrorCode::Ok),
                (2, 2, ErrorCode::NotReadOnly),
                (3, 2, ErrorCode::NotReadOnly),
                (4, 2, ErrorCode::NotReadOnly),
                (5, 2, ErrorCode::NotReadOnly),
            ]
        );
        assert!(sm.proposals().is_empty());
        assert_eq!(
            sm.tree().get("/a").and_then(|n| n.data.to_bytes()),
            Some(Bytes::from_static(b"v1"))
        );
        assert_eq!(
            sm.watches.by_path().len(),
            1,
            "the watch is registered here"
        );

        // closeSession is answered and the connection closed; the session is gone.
        let actions = sm.step(vec![request(5, 6, Request::CloseSession)], 20, 0);
        assert_eq!(replies(&actions), [(6, 2, ErrorCode::Ok)]);
        assert_eq!(actions.last(), Some(&Action::Close(5)));
        assert!(sm.proposals().is_empty());
        assert!(!sm.proposer.sessions.contains(resp.session_id));
    }

    #[test]
    fn a_silent_read_only_session_expires_without_a_proposal() {
        let mut sm = read_only_sm();
        let resp = connect_response(&handshake(&mut sm, 5, read_only_request()));
        sm.expire_read_only_sessions(5_000);
        assert!(sm.take_actions().is_empty(), "not yet: 10 s timeout");
        sm.expire_read_only_sessions(30_000);
        assert_eq!(sm.take_actions(), [Action::Close(5)]);
        assert!(sm.proposals().is_empty());
        assert!(!sm.proposer.sessions.contains(resp.session_id));
    }

    #[test]
    fn a_local_session_is_renewed_with_its_password_and_a_quorum_session_is_expired() {
        let mut sm = read_only_sm();
        let local = connect_response(&handshake(&mut sm, 5, read_only_request()));
        let mut again = ConnectRequest {
            session_id: local.session_id,
            passwd: local.passwd.clone(),
            ..read_only_request()
        };
        let actions = handshake(&mut sm, 6, again.clone());
        let resp = connect_response(&actions);
        assert_eq!(
            (resp.session_id, resp.read_only),
            (local.session_id, Some(true))
        );
        assert_eq!(resp.passwd, local.passwd);
        assert!(
            actions.contains(&Action::Close(5)),
            "the old connection goes"
        );

        again.passwd = Bytes::from_static(&[9; 16]);
        let actions = handshake(&mut sm, 7, again);
        assert_eq!(
            connect_response(&actions).session_id,
            0,
            "wrong password: expired"
        );
        assert_eq!(actions.last(), Some(&Action::Close(7)));

        let quorum_session = *sm
            .tree()
            .sessions
            .keys()
            .next()
            .expect("the writer's session");
        let quorum = ConnectRequest {
            session_id: quorum_session,
            passwd: sm.tree().sessions[&quorum_session].passwd.clone(),
            ..read_only_request()
        };
        let actions = handshake(&mut sm, 8, quorum);
        let resp = connect_response(&actions);
        assert_eq!(
            (resp.session_id, resp.read_only),
            (0, Some(true)),
            "expired"
        );
        assert_eq!(actions.last(), Some(&Action::Close(8)));
    }
}
