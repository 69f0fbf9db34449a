//! The write path is deterministic: replaying the logged transactions into an empty tree (what
//! recovery and, later, a follower do) rebuilds exactly the live tree, and a snapshot round trip
//! keeps it. Driven by a seeded random workload through the state machine, no sockets.

use bytes::Bytes;
use zk_proto::acl::Acl;
use zk_proto::multi::{MultiOp, MultiRequest};
use zk_proto::*;
use zk_server_mini::apply::apply;
use zk_server_mini::state::{Action, CoreConfig, Input, StateMachine};
use zk_server_mini::tree::{DataTree, child_path};
use zk_server_mini::txn::{Txn, TxnHeader, decode_entry, encode_entry};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PATHS: [&str; 10] = [
    "/a",
    "/a/b",
    "/a/b/c",
    "/a/d",
    "/e",
    "/e/f",
    "/g",
    "/a/",
    "/e/",
    "/zookeeper/x",
];

fn random_request(rng: &mut Rng) -> Request {
    let path = PATHS[rng.below(PATHS.len() as u64) as usize].to_owned();
    let version = rng.below(4) as i32 - 1;
    let data = Some(Bytes::from(vec![
        rng.below(256) as u8;
        rng.below(8) as usize
    ]));
    let create = |rng: &mut Rng, path: String| CreateRequest {
        path,
        data: data.clone(),
        acl: Acl::open_unsafe(),
        flags: rng.below(5) as i32,
    };
    match rng.below(8) {
        0 | 1 => Request::Create(create(rng, path)),
        2 => Request::CreateContainer(CreateRequest {
            flags: 4,
            ..create(rng, path)
        }),
        3 => Request::Delete(DeleteRequest { path, version }),
        4 => Request::SetData(SetDataRequest {
            path,
            data,
            version,
        }),
        5 => Request::SetAcl(SetAclRequest {
            path,
            acl: Acl::open_unsafe(),
            version,
        }),
        6 => {
            let mut ops = Vec::new();
            for _ in 0..rng.below(4) {
                let p = PATHS[rng.below(PATHS.len() as u64) as usize].to_owned();
                ops.push(match rng.below(4) {
                    0 => MultiOp::Create(create(rng, p)),
                    1 => MultiOp::Delete(DeleteRequest {
                        path: p,
                        version: -1,
                    }),
                    2 => MultiOp::SetData(SetDataRequest {
                        path: p,
                        data: None,
                        version: -1,
                    }),
                    _ => MultiOp::Check(CheckVersionRequest {
                        path: p,
                        version: rng.below(3) as i32 - 1,
                    }),
                });
            }
            Request::Multi(MultiRequest { ops })
        }
        _ => Request::GetData(GetDataRequest { path, watch: true }),
    }
}

fn check_invariants(tree: &DataTree) {
    for (path, node) in tree.iter() {
        for child in tree.children(path) {
            assert!(
                tree.get(&child_path(path, child)).is_some(),
                "{path} lists missing child {child}"
            );
        }
        let children = tree.children(path).count();
        let stat = node.stat();
        assert_eq!(stat.num_children as usize, children);
        assert_eq!(
            stat.cversion,
            node.create_counter * 2 - children as i32,
            "{path}"
        );
        if path != "/" {
            let parent = zk_proto::path::parent(path).unwrap_or("/");
            assert!(tree.get(parent).is_some(), "{path} has no parent");
        }
    }
}

#[test]
fn replaying_the_log_rebuilds_the_live_tree() {
    for seed in [1u64, 7, 42, 1234, 99_999] {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 1_000);
        let mut log: Vec<(TxnHeader, Txn)> = Vec::new();
        let mut now = 0u64;
        let conns = 4u64;
        for conn in 1..=conns {
            sm.step(
                vec![
                    Input::Open {
                        conn,
                        addr: ([127, 0, 0, 1], 1000 + conn as u16).into(),
                    },
                    Input::Connect {
                        conn,
                        request: ConnectRequest::new_session(4_000),
                    },
                ],
                now,
                1_000,
            );
        }
        let mut xid = 0;
        for round in 0..400 {
            now += 50;
            let mut inputs = Vec::new();
            for _ in 0..rng.below(6) {
                xid += 1;
                let req = random_request(&mut rng);
                inputs.push(Input::Request {
                    conn: 1 + rng.below(conns),
                    xid,
                    op: req.op_code(),
                    body: Ok(req),
                });
            }
            if round % 97 == 96 {
                // A session goes away with its ephemerals.
                let conn = 1 + rng.below(conns);
                inputs.push(Input::Request {
                    conn,
                    xid: 0,
                    op: OpCode::CloseSession,
                    body: Ok(Request::CloseSession),
                });
            }
            sm.step(inputs, now, 1_000 + now as i64);
            sm.tick(now, 1_000 + now as i64, round % 10 == 0);
            for p in sm.proposals() {
                // Through the log encoding, as recovery would read it.
                let bytes = encode_entry(&p.header, &p.txn);
                let decoded = decode_entry(bytes).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(decoded, (p.header, p.txn.clone()));
                log.push(decoded);
            }
            sm.commit();
            check_invariants(sm.tree());
        }
        assert!(log.len() > 300, "workload too small: {}", log.len());
        let effective = log
            .iter()
            .filter(|(_, t)| {
                matches!(
                    t,
                    Txn::Create { .. } | Txn::Delete { .. } | Txn::SetData { .. }
                )
            })
            .count();
        assert!(
            effective > 50,
            "seed {seed}: only {effective} effective writes"
        );
        let mut replayed = DataTree::new();
        for (h, t) in &log {
            let _ = apply(&mut replayed, h, t);
        }
        assert_eq!(
            &replayed,
            sm.tree(),
            "seed {seed}: replay differs from the live tree"
        );
        let bytes = zk_server_mini::snapshot::serialize(sm.tree());
        let restored =
            zk_server_mini::snapshot::deserialize(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            &restored,
            sm.tree(),
            "seed {seed}: snapshot round trip differs"
        );
        // zxids are dense and increasing: one per write, failed ones included.
        for (i, (h, _)) in log.iter().enumerate() {
            assert_eq!(h.zxid, i as i64 + 1);
        }
    }
}

/// Everything the state machine produced, as bytes: each action (the connection, then the
/// frame, or a close marker) and each proposal through the log encoding.
fn record(out: &mut Vec<u8>, actions: Vec<Action>) {
    for a in actions {
        match a {
            Action::Send(conn, bytes) => {
                out.extend_from_slice(&conn.to_be_bytes());
                out.extend_from_slice(&bytes);
            }
            Action::Close(conn) => {
                out.extend_from_slice(b"close");
                out.extend_from_slice(&conn.to_be_bytes());
            }
        }
    }
}

/// One seeded run of many connections and sessions: requests with watches, ephemerals,
/// reconnects that steal a session's connection, dropped connections, expiries and closes.
fn run(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let config = CoreConfig {
        session_secret: [7; 16],
        ..CoreConfig::default()
    };
    let mut sm = StateMachine::new(DataTree::new(), config, 0, 5_000);
    let mut out = Vec::new();
    let mut now = 0u64;
    let mut next_conn = 1u64;
    let mut live: Vec<u64> = Vec::new();
    let open = |sm: &mut StateMachine, conn: u64, request: ConnectRequest, now: u64| {
        sm.step(
            vec![
                Input::Open {
                    conn,
                    addr: ([127, 0, 0, 1], 2000 + conn as u16).into(),
                },
                Input::Connect { conn, request },
            ],
            now,
            5_000 + now as i64,
        )
    };
    for _ in 0..24 {
        let actions = open(&mut sm, next_conn, ConnectRequest::new_session(4_000), now);
        record(&mut out, actions);
        live.push(next_conn);
        next_conn += 1;
    }
    let mut xid = 0;
    for round in 0..300 {
        now += 40;
        let mut inputs = Vec::new();
        for _ in 0..rng.below(10) {
            xid += 1;
            let mut req = random_request(&mut rng);
            if let Request::Create(c) = &mut req {
                c.flags = if rng.below(2) == 0 { 1 } else { 0 };
            }
            let conn = live[rng.below(live.len() as u64) as usize];
            inputs.push(Input::Request {
                conn,
                xid,
                op: req.op_code(),
                body: Ok(req),
            });
        }
        // Everyone watches the same few paths: many connections fire at once.
        for &conn in live.iter().take(12) {
            if rng.below(3) == 0 {
                xid += 1;
                let req = Request::Exists(ExistsRequest {
                    path: PATHS[rng.below(3) as usize].into(),
                    watch: true,
                });
                inputs.push(Input::Request {
                    conn,
                    xid,
                    op: req.op_code(),
                    body: Ok(req),
                });
            }
        }
        record(&mut out, sm.step(inputs, now, 5_000 + now as i64));
        if round % 25 == 24 {
            // A client comes back on a new connection with a live session.
            let sessions: Vec<(i64, Bytes)> = sm
                .tree()
                .sessions
                .iter()
                .map(|(id, s)| (*id, s.passwd.clone()))
                .collect();
            if !sessions.is_empty() {
                let (id, passwd) = sessions[rng.below(sessions.len() as u64) as usize].clone();
                let mut again = ConnectRequest::new_session(4_000);
                again.session_id = id;
                again.passwd = passwd;
                let actions = open(&mut sm, next_conn, again, now);
                record(&mut out, actions);
                live.push(next_conn);
                next_conn += 1;
            }
        }
        if round == 150 {
            out.extend_from_slice(&(sm.drop_connections(None) as u64).to_be_bytes());
        }
        // Sessions stay alive only through the pings of connections still listed.
        if round % 5 == 0 {
            let pings = live
                .iter()
                .filter(|_| rng.below(4) != 0)
                .map(|&conn| Input::Request {
                    conn,
                    xid: -2,
                    op: OpCode::Ping,
                    body: Ok(Request::Ping),
                })
                .collect();
            record(&mut out, sm.step(pings, now, 5_000 + now as i64));
        }
        sm.tick(now, 5_000 + now as i64, round % 10 == 0);
        for p in sm.proposals() {
            out.extend_from_slice(&encode_entry(&p.header, &p.txn));
        }
        record(&mut out, sm.commit());
    }
    out.extend_from_slice(&zk_server_mini::snapshot::serialize(sm.tree()));
    out
}

/// The state machine is deterministic: the same inputs (time included) give the same output,
/// byte for byte, however the process hashes (two runs in one process use different hash
/// seeds) and however often it runs.
#[test]
fn the_same_inputs_give_the_same_output_bytes() {
    for seed in [3u64, 11, 2024] {
        let first = run(seed);
        let second = run(seed);
        assert!(
            first.len() > 100_000,
            "seed {seed}: only {} bytes",
            first.len()
        );
        assert!(first == second, "seed {seed}: the two runs differ");
    }
}
