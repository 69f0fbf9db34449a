//! The write path is deterministic: replaying the logged transactions into an empty tree (what
//! recovery and, later, a follower do) rebuilds exactly the live tree, and a snapshot round trip
//! keeps it. Driven by a seeded random workload through the state machine, no sockets.

use bytes::Bytes;
use zk_proto::acl::Acl;
use zk_proto::multi::{MultiOp, MultiRequest};
use zk_proto::*;
use zk_server_mini::apply::apply;
use zk_server_mini::state::{CoreConfig, Input, StateMachine};
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
