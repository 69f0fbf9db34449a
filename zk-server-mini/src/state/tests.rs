//! Unit tests of the state machine: ordering, pipelining, expiry, handshakes.

use super::*;
use zk_proto::acl::Acl;
use zk_proto::jute::{Decode, JuteReader};

const ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 5555);

fn sm() -> StateMachine {
    StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 1_700_000_000_000)
}

/// Opens connection `conn` with a new session and commits it; returns the session id.
fn open(sm: &mut StateMachine, conn: ConnId) -> i64 {
    let mut actions = sm.step(
        vec![
            Input::Open {
                conn,
                addr: ADDR.into(),
            },
            Input::Connect {
                conn,
                request: ConnectRequest::new_session(10_000),
            },
        ],
        0,
        0,
    );
    assert!(
        actions.is_empty(),
        "the ConnectResponse waits for the commit"
    );
    assert_eq!(sm.proposals().len(), 1);
    actions.extend(sm.commit());
    let Some(Action::Send(c, bytes)) = actions.first() else {
        panic!("no ConnectResponse: {actions:?}");
    };
    assert_eq!(*c, conn);
    let resp = ConnectResponse::decode(&mut JuteReader::new(bytes.slice(4..)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.timeout_ms, 10_000);
    resp.session_id
}

fn request(conn: ConnId, xid: i32, req: Request) -> Input {
    Input::Request {
        conn,
        xid,
        op: req.op_code(),
        body: Ok(req),
    }
}

/// (xid, zxid, err) of every reply frame in `actions`, notifications as xid -1.
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

fn create(path: &str, flags: i32) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags,
    })
}

#[test]
fn reads_wait_behind_the_sessions_own_writes() {
    let mut sm = sm();
    open(&mut sm, 1);
    open(&mut sm, 2);
    let get = |path: &str| {
        Request::GetData(GetDataRequest {
            path: path.into(),
            watch: false,
        })
    };
    let now = sm.step(
        vec![
            request(1, 1, create("/a", 0)),
            request(1, 2, get("/a")),
            request(2, 1, get("/a")),
        ],
        0,
        0,
    );
    // Connection 2's read is answered at once, from the applied tree: /a is not there yet.
    assert_eq!(replies(&now), vec![(1, 2, ErrorCode::NoNode)]);
    let committed = sm.commit();
    assert_eq!(replies(&committed), vec![(1, 3, ErrorCode::Ok)]);
    // Connection 1's read ran after its write.
    let later = sm.step(vec![], 0, 0);
    assert_eq!(replies(&later), vec![(2, 3, ErrorCode::Ok)]);
}

/// The reconnect race: a session's write is being logged when its client reconnects on a
/// new connection and reads. The read must see the write (ZooKeeper orders per session),
/// not overtake it because it came on another connection.
#[test]
fn a_read_after_a_reconnect_waits_for_the_sessions_write_from_the_old_connection() {
    let mut sm = sm();
    let sid = open(&mut sm, 1);
    let passwd = sm
        .tree()
        .sessions
        .get(&sid)
        .map(|s| s.passwd.clone())
        .unwrap_or_default();
    assert!(
        sm.step(vec![request(1, 1, create("/w", 0))], 0, 0)
            .is_empty()
    );
    sm.seal_batch(); // being fsynced
    let mut reconnect = ConnectRequest::new_session(10_000);
    reconnect.session_id = sid;
    reconnect.passwd = passwd;
    reconnect.last_zxid_seen = 1;
    let get = Request::GetData(GetDataRequest {
        path: "/w".into(),
        watch: false,
    });
    let now = sm.step(
        vec![
            Input::Open {
                conn: 2,
                addr: ADDR.into(),
            },
            Input::Connect {
                conn: 2,
                request: reconnect,
            },
            request(2, 1, get),
        ],
        0,
        0,
    );
    // The handshake is answered and the old connection closed; the read is not answered.
    assert!(now.contains(&Action::Close(1)), "{now:?}");
    // (The ConnectResponse read as a reply header has xid 0.)
    assert!(
        replies(&now).iter().all(|r| r.0 != 1),
        "the read overtook the write: {now:?}"
    );
    let committed = sm.commit_through(2);
    // The write's reply went to the closed connection; nothing else is due yet.
    assert!(committed.iter().all(|a| !matches!(a, Action::Send(2, _))));
    let later = sm.step(vec![], 0, 0);
    let answers: Vec<_> = later
        .iter()
        .filter(|a| matches!(a, Action::Send(2, _)))
        .collect();
    assert_eq!(answers.len(), 1, "{later:?}");
    assert_eq!(replies(&later), vec![(1, 2, ErrorCode::Ok)]);
}

#[test]
fn pipelined_batches_commit_in_order_and_keep_later_pending_changes() {
    let mut sm = sm();
    open(&mut sm, 1);
    open(&mut sm, 2);
    open(&mut sm, 3);
    let get = |path: &str| {
        Request::GetData(GetDataRequest {
            path: path.into(),
            watch: false,
        })
    };
    // Batch 1: conn 1 creates /a; it is sealed and "being fsynced".
    assert!(
        sm.step(vec![request(1, 1, create("/a", 0))], 0, 0)
            .is_empty()
    );
    let batch1: Vec<i64> = sm.seal_batch().iter().map(|p| p.header.zxid).collect();
    assert_eq!(batch1, vec![4]);
    assert!(sm.has_in_flight());
    // Meanwhile: conn 2's read is served from the applied tree at once; conn 1's read
    // waits behind its own write; conn 2 prepares a child of the unapplied /a.
    let now = sm.step(
        vec![
            request(2, 1, get("/a")),
            request(1, 2, get("/a")),
            request(2, 2, create("/a/b", 0)),
        ],
        0,
        0,
    );
    assert_eq!(replies(&now), vec![(1, 3, ErrorCode::NoNode)]);
    assert_eq!(sm.proposals().len(), 1);
    assert_eq!(sm.proposals()[0].header.zxid, 5);
    // Batch 1 is durable: only it is committed.
    let committed = sm.commit_through(4);
    assert_eq!(replies(&committed), vec![(1, 4, ErrorCode::Ok)]);
    assert!(sm.tree().get("/a").is_some());
    assert!(sm.tree().get("/a/b").is_none());
    assert!(!sm.has_in_flight());
    // conn 1's deferred read now runs; conn 3 still sees the pending /a/b.
    let later = sm.step(
        vec![
            request(3, 1, create("/a/b", 0)),
            request(
                3,
                2,
                Request::Delete(DeleteRequest {
                    path: "/a".into(),
                    version: -1,
                }),
            ),
        ],
        0,
        0,
    );
    assert_eq!(replies(&later), vec![(2, 4, ErrorCode::Ok)]);
    let batch2: Vec<i64> = sm.seal_batch().iter().map(|p| p.header.zxid).collect();
    assert_eq!(batch2, vec![5, 6, 7]);
    let committed = sm.commit_through(7);
    assert_eq!(
        replies(&committed),
        vec![
            (2, 5, ErrorCode::Ok),
            (1, 6, ErrorCode::NodeExists),
            (2, 7, ErrorCode::NotEmpty)
        ]
    );
    assert!(sm.tree().get("/a/b").is_some());
    assert_eq!(sm.tree().last_zxid, 7);
}

#[test]
fn expiry_while_an_ephemeral_create_is_being_logged_deletes_it_too() {
    let mut sm = sm();
    let owner = open(&mut sm, 1);
    sm.step(vec![request(1, 1, create("/eph", 1))], 0, 0);
    sm.seal_batch(); // being fsynced
    assert!(sm.expire_session(owner, 0));
    // A request that arrives after the expiry is refused, but only after the reply
    // still due for the create: replies never overtake each other.
    let late = sm.step(vec![request(1, 2, create("/eph2", 1))], 0, 0);
    assert!(late.is_empty());
    assert!(matches!(
        sm.proposals(),
        [Proposal { txn: Txn::CloseSession { paths }, .. }] if paths == &vec!["/eph".to_string()]
    ));
    let first = sm.commit_through(2);
    assert_eq!(replies(&first), vec![(1, 2, ErrorCode::Ok)]);
    let refused = sm.step(vec![], 0, 0);
    assert_eq!(replies(&refused), vec![(2, 2, ErrorCode::SessionExpired)]);
    assert!(refused.contains(&Action::Close(1)));
    sm.seal_batch();
    sm.commit_through(3);
    assert!(sm.tree().get("/eph").is_none());
    assert!(sm.tree().ephemerals_of(owner).next().is_none());
    assert!(!sm.tree().sessions.contains_key(&owner));
}

#[test]
fn a_ping_queued_behind_a_slow_write_still_renews_the_session() {
    let mut sm = sm();
    open(&mut sm, 1);
    sm.step(vec![request(1, 1, create("/w", 0))], 0, 0);
    sm.seal_batch(); // being fsynced, slowly
    // The ping waits behind the write, but it arrived at 9000 ms.
    assert!(
        sm.step(vec![request(1, -2, Request::Ping)], 9_000, 0)
            .is_empty()
    );
    sm.tick(10_000, 0, false);
    assert!(
        sm.proposals().is_empty(),
        "the session was renewed at 9000 ms"
    );
    let committed = sm.commit_through(2);
    assert_eq!(replies(&committed), vec![(1, 2, ErrorCode::Ok)]);
    let later = sm.step(vec![], 10_000, 0);
    assert_eq!(replies(&later), vec![(-2, 2, ErrorCode::Ok)]);
}

#[test]
fn expiry_closes_the_session_deletes_ephemerals_and_notifies() {
    let mut sm = sm();
    let owner = open(&mut sm, 1);
    open(&mut sm, 2);
    sm.step(vec![request(1, 1, create("/e", 1))], 0, 0);
    sm.commit();
    sm.step(
        vec![request(
            2,
            1,
            Request::Exists(ExistsRequest {
                path: "/e".into(),
                watch: true,
            }),
        )],
        0,
        0,
    );
    // Keep session 2 alive; session 1 stays silent.
    sm.step(vec![request(2, 2, Request::Ping)], 9_000, 0);
    sm.tick(9_999, 0, false);
    assert!(sm.proposals().is_empty(), "not yet: the bucket is 10000");
    sm.tick(10_000, 0, false);
    assert!(matches!(
        sm.proposals(),
        [Proposal { txn: Txn::CloseSession { paths }, header, .. }]
            if paths == &vec!["/e".to_string()] && header.session_id == owner
    ));
    let actions = sm.commit();
    assert!(actions.contains(&Action::Close(1)));
    assert_eq!(replies(&actions), vec![(-1, -1, ErrorCode::Ok)]);
    assert!(sm.tree().get("/e").is_none());
    assert!(!sm.tree().sessions.contains_key(&owner));
}

#[test]
fn set_watches_fires_before_its_reply() {
    let mut sm = sm();
    open(&mut sm, 1);
    sm.step(vec![request(1, 1, create("/x", 0))], 0, 0);
    sm.commit();
    let actions = sm.step(
        vec![request(
            1,
            -8,
            Request::SetWatches(SetWatches {
                relative_zxid: 100,
                data_watches: vec!["/gone".into(), "/x".into()],
                exist_watches: vec!["/x".into()],
                child_watches: vec![],
            }),
        )],
        0,
        0,
    );
    // NodeDeleted /gone, NodeCreated /x (exists), then the reply; /x's data watch is armed.
    assert_eq!(
        replies(&actions),
        vec![
            (-1, -1, ErrorCode::Ok),
            (-1, -1, ErrorCode::Ok),
            (-8, 2, ErrorCode::Ok)
        ]
    );
    assert_eq!(sm.watches.watch_count(), 1);
}

#[test]
fn a_client_ahead_of_the_server_is_refused_silently() {
    let mut sm = sm();
    let mut req = ConnectRequest::new_session(10_000);
    req.last_zxid_seen = 5;
    let actions = sm.step(
        vec![
            Input::Open {
                conn: 1,
                addr: ADDR.into(),
            },
            Input::Connect {
                conn: 1,
                request: req,
            },
        ],
        0,
        0,
    );
    assert_eq!(actions, vec![Action::Close(1)]);
    assert!(sm.proposals().is_empty());
}

#[test]
fn unknown_opcodes_and_bad_bodies_change_nothing() {
    let mut sm = sm();
    open(&mut sm, 1);
    let actions = sm.step(
        vec![
            Input::Request {
                conn: 1,
                xid: 3,
                op: OpCode::Create,
                body: Err(DecodeError::NullString),
            },
            Input::Request {
                conn: 1,
                xid: 4,
                op: OpCode::Unknown(50),
                body: Err(DecodeError::UnknownOpCode(50)),
            },
        ],
        0,
        0,
    );
    // The undecodable write uses a zxid (as in 3.8) and is answered at its commit; the
    // unknown opcode waits behind it (FIFO), then gets zxid -1 and a close.
    assert!(actions.is_empty());
    assert!(matches!(
        sm.proposals(),
        [Proposal { txn: Txn::Error(ErrorCode::MarshallingError), header, .. }]
            if header.zxid == 2
    ));
    let committed = sm.commit();
    assert_eq!(
        replies(&committed),
        vec![(3, 2, ErrorCode::MarshallingError)]
    );
    let later = sm.step(vec![], 0, 0);
    assert_eq!(replies(&later), vec![(4, -1, ErrorCode::Unimplemented)]);
    assert!(later.contains(&Action::Close(1)));
    assert!(sm.proposals().is_empty());
    assert_eq!(sm.tree().node_count(), 4);
}

#[test]
fn a_v4_client_of_a_dual_stack_listener_has_its_v4_ip_identity() {
    let mut sm = sm();
    let mapped: SocketAddr = "[::ffff:10.1.2.3]:5555"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    sm.step(
        vec![Input::Open {
            conn: 7,
            addr: mapped,
        }],
        0,
        0,
    );
    assert_eq!(sm.caller_ids(7), vec![Id::new("ip", "10.1.2.3")]);
    let acl = [zk_proto::acl::Acl::new(
        zk_proto::acl::Perms::READ,
        Id::new("ip", "10.0.0.0/8"),
    )];
    assert!(crate::acl_check::allowed(
        &acl,
        &sm.caller_ids(7),
        zk_proto::acl::Perms::READ
    ));
}

#[test]
fn a_connection_cannot_pile_up_identities() {
    let mut sm = sm();
    open(&mut sm, 1);
    let auth = |n: usize| {
        request(
            1,
            zk_proto::xid::AUTH,
            Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: Bytes::from(format!("user{n}:pw")),
            }),
        )
    };
    let inputs: Vec<Input> = (1..reads::MAX_IDENTITIES).map(auth).collect();
    let actions = sm.step(inputs, 0, 0);
    assert!(
        replies(&actions)
            .iter()
            .all(|&(_, _, err)| err == ErrorCode::Ok)
    );
    let actions = sm.step(vec![auth(0)], 0, 0);
    assert_eq!(
        replies(&actions),
        vec![(zk_proto::xid::AUTH, 0, ErrorCode::AuthFailed)]
    );
    assert!(actions.contains(&Action::Close(1)));
}

#[test]
fn digest_auth_accepts_any_token_like_zookeeper() {
    use super::reads::digest_of_token;
    assert_eq!(
        digest_of_token(b"alice:secret"),
        zk_proto::acl::digest_id("alice", "secret")
    );
    // No colon: the whole token is the user, and the hash covers it.
    assert!(digest_of_token(b"nocolon").starts_with("nocolon:"));
    assert!(digest_of_token(b"a:b:c").starts_with("a:"));
}

/// A connection whose replies are not being written: past its reply budget its requests are
/// held back (not answered, so its replies stop growing) until the driver reports replies
/// written; then they are answered, in order.
#[test]
fn a_connection_whose_replies_pile_up_is_held_back_until_they_drain() {
    let config = CoreConfig {
        max_unsent_per_connection: 1000,
        ..CoreConfig::default()
    };
    let mut sm = StateMachine::new(DataTree::new(), config, 0, 1_700_000_000_000);
    open(&mut sm, 1);
    let put = Request::Create(CreateRequest {
        path: "/d".into(),
        data: Some(Bytes::from(vec![1u8; 600])),
        acl: Acl::open_unsafe(),
        flags: 0,
    });
    sm.step(vec![request(1, 1, put)], 0, 0);
    sm.commit();
    let get = || {
        Request::GetData(GetDataRequest {
            path: "/d".into(),
            watch: false,
        })
    };
    let first = sm.step((10..15).map(|xid| request(1, xid, get())).collect(), 0, 0);
    let answered: Vec<i32> = replies(&first).iter().map(|r| r.0).collect();
    assert_eq!(answered, vec![10, 11], "held back past the budget");
    assert!(sm.is_congested());
    // Nothing moves until replies are written.
    assert!(sm.step(vec![], 0, 0).is_empty());
    let mut all = answered;
    let mut unsent: usize = first
        .iter()
        .map(|a| match a {
            Action::Send(_, b) => b.len() + FRAME_OVERHEAD,
            Action::Close(_) => 0,
        })
        .sum();
    for _ in 0..5 {
        sm.sent(1, unsent + 1000);
        let more = sm.step(vec![], 0, 0);
        unsent = more
            .iter()
            .map(|a| match a {
                Action::Send(_, b) => b.len() + FRAME_OVERHEAD,
                Action::Close(_) => 0,
            })
            .sum();
        all.extend(replies(&more).iter().map(|r| r.0));
    }
    assert_eq!(all, vec![10, 11, 12, 13, 14]);
}
