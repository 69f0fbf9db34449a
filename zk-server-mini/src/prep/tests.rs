use super::*;
use crate::apply::apply;
use crate::txn::TxnHeader;
use zk_proto::multi::MultiRequest;
use zk_proto::{CheckVersionRequest, CreateRequest, DeleteRequest, SetDataRequest};

fn create(path: &str, flags: i32) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(Bytes::from_static(b"d")),
        acl: Acl::open_unsafe(),
        flags,
    })
}

fn create_empty(path: &str, flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags,
    }
}

fn delete(path: &str, version: i32) -> DeleteRequest {
    DeleteRequest {
        path: path.into(),
        version,
    }
}

fn set_data(path: &str, version: i32) -> SetDataRequest {
    SetDataRequest {
        path: path.into(),
        data: None,
        version,
    }
}

/// Preps and applies one request, returning the transaction.
fn run(tree: &mut DataTree, zxid: i64, caller: &Caller<'_>, req: &Request) -> Txn {
    let mut pending = Pending::default();
    let txn = Prep::new(tree, &mut pending, PrepConfig::default()).write(caller, req);
    let header = TxnHeader {
        session_id: caller.session_id,
        cxid: 1,
        zxid,
        time: 100,
    };
    let _ = apply(tree, &header, &txn);
    txn
}

const ME: Caller<'static> = Caller {
    session_id: 0x0100_0000_0000_0001,
    ids: &[],
};

#[test]
fn sequence_suffix_uses_the_stored_counter() {
    let mut t = DataTree::new();
    run(&mut t, 1, &ME, &create("/p", 0));
    run(&mut t, 2, &ME, &create("/p/x", 0));
    run(&mut t, 3, &ME, &create("/p/y", 0));
    run(&mut t, 4, &ME, &Request::Delete(delete("/p/x", -1)));
    assert_eq!(t.get("/p").map(|n| n.stat().cversion), Some(3));
    let txn = run(&mut t, 5, &ME, &create("/p/q", 2));
    assert!(matches!(txn, Txn::Create { ref path, .. } if path == "/p/q0000000002"));
    let txn = run(&mut t, 6, &ME, &create("/p/", 2));
    assert!(matches!(txn, Txn::Create { ref path, .. } if path == "/p/0000000003"));
}

#[test]
fn sequence_counter_overflow_gives_a_negative_suffix() {
    let mut t = DataTree::new();
    run(&mut t, 1, &ME, &create("/p", 0));
    if let Some(p) = t.get_mut("/p") {
        p.create_counter = i32::MAX;
    }
    let txn = run(&mut t, 2, &ME, &create("/p/s", 2));
    assert!(matches!(txn, Txn::Create { ref path, .. } if path == "/p/s2147483647"));
    // C is a signed 32-bit value: it wraps, and the suffix turns negative (PROTOCOL §4.1).
    let txn = run(&mut t, 3, &ME, &create("/p/s", 2));
    assert!(
        matches!(txn, Txn::Create { ref path, .. } if path == "/p/s-2147483648"),
        "{txn:?}"
    );
    let stat = t.get("/p").map(|n| n.stat()).unwrap_or_default();
    assert_eq!(stat.num_children, 2);
    assert_eq!(
        stat.cversion,
        (i32::MIN + 1).wrapping_mul(2).wrapping_sub(2)
    );
}

#[test]
fn create_error_precedence() {
    let mut t = DataTree::new();
    assert_eq!(
        run(&mut t, 1, &ME, &create("/a", 9)),
        Txn::Error(ErrorCode::BadArguments)
    );
    assert_eq!(
        run(&mut t, 2, &ME, &create("a", 0)),
        Txn::Error(ErrorCode::BadArguments)
    );
    assert_eq!(
        run(&mut t, 3, &ME, &create("/a/../b", 0)),
        Txn::Error(ErrorCode::NoNode)
    );
    assert_eq!(
        run(&mut t, 4, &ME, &create("/a/", 0)),
        Txn::Error(ErrorCode::NoNode)
    );
    run(&mut t, 5, &ME, &create("/e", 1));
    assert_eq!(
        run(&mut t, 6, &ME, &create("/e/c", 0)),
        Txn::Error(ErrorCode::NoChildrenForEphemerals)
    );
    let mut no_acl = create("/z", 0);
    if let Request::Create(r) = &mut no_acl {
        r.acl.clear();
    }
    assert_eq!(
        run(&mut t, 7, &ME, &no_acl),
        Txn::Error(ErrorCode::InvalidAcl)
    );
    assert_eq!(
        run(&mut t, 8, &ME, &create("/", 0)),
        Txn::Error(ErrorCode::NodeExists)
    );
    // A TTL flag with TTLs disabled: Unimplemented, even through plain create (as 3.8).
    assert_eq!(
        run(&mut t, 9, &ME, &create("/t", 5)),
        Txn::Error(ErrorCode::Unimplemented)
    );
    // With TTLs enabled, a TTL flag through plain create is BadArguments.
    let mut pending = Pending::default();
    let config = PrepConfig {
        extended_types: true,
        ..PrepConfig::default()
    };
    assert_eq!(
        Prep::new(&t, &mut pending, config).write(&ME, &create("/t", 5)),
        Txn::Error(ErrorCode::BadArguments)
    );
}

#[test]
fn delete_rules() {
    let mut t = DataTree::new();
    let del = |p: &str, v: i32| Request::Delete(delete(p, v));
    for p in SPECIAL_PATHS {
        assert_eq!(
            run(&mut t, 1, &ME, &del(p, -1)),
            Txn::Error(ErrorCode::BadArguments)
        );
    }
    run(&mut t, 2, &ME, &create("/a", 0));
    run(&mut t, 3, &ME, &create("/a/b", 0));
    assert_eq!(
        run(&mut t, 4, &ME, &del("/a", -1)),
        Txn::Error(ErrorCode::NotEmpty)
    );
    assert_eq!(
        run(&mut t, 5, &ME, &del("/a/b", 3)),
        Txn::Error(ErrorCode::BadVersion)
    );
    assert_eq!(
        run(&mut t, 6, &ME, &del("/x/y", 0)),
        Txn::Error(ErrorCode::NoNode)
    );
    assert!(matches!(
        run(&mut t, 7, &ME, &del("/a/b", 0)),
        Txn::Delete { .. }
    ));
}

#[test]
fn failed_multi_reports_ok_code_and_runtime_inconsistency() {
    let mut t = DataTree::new();
    run(&mut t, 1, &ME, &create("/m1", 0));
    let multi = Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(create_empty("/m3", 0)),
            MultiOp::Check(CheckVersionRequest {
                path: "/m1".into(),
                version: 99,
            }),
            MultiOp::SetData(set_data("/m1", -1)),
        ],
    });
    assert_eq!(
        run(&mut t, 2, &ME, &multi),
        Txn::Multi(vec![
            Txn::Error(ErrorCode::Ok),
            Txn::Error(ErrorCode::BadVersion),
            Txn::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert!(t.get("/m3").is_none());
}

#[test]
fn multi_ops_see_earlier_ops() {
    let mut t = DataTree::new();
    let multi = Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(create_empty("/n", 0)),
            MultiOp::SetData(set_data("/n", 0)),
            MultiOp::Delete(delete("/n", 1)),
        ],
    });
    assert!(matches!(run(&mut t, 1, &ME, &multi), Txn::Multi(v) if v.len() == 3));
    assert!(t.get("/n").is_none());
    assert_eq!(t.get("/").map(|n| n.stat().pzxid), Some(1));
}

#[test]
fn no_auth_on_parent_for_create_and_delete() {
    let mut t = DataTree::new();
    let alice = [Id::digest("alice", "pw")];
    let alice_caller = Caller {
        session_id: 1,
        ids: &alice,
    };
    let mut req = create("/secure", 0);
    if let Request::Create(r) = &mut req {
        r.acl = Acl::creator_all();
    }
    assert!(matches!(
        run(&mut t, 1, &alice_caller, &req),
        Txn::Create { .. }
    ));
    assert_eq!(
        run(&mut t, 2, &ME, &create("/secure/x", 0)),
        Txn::Error(ErrorCode::NoAuth)
    );
    assert!(matches!(
        run(&mut t, 3, &alice_caller, &create("/secure/x", 0)),
        Txn::Create { .. }
    ));
}

#[test]
fn reaping_rules() {
    let mut t = DataTree::new();
    let ttl_create = |path: &str, ttl: i64| {
        Request::CreateTtl(zk_proto::CreateTtlRequest {
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 5,
            ttl,
        })
    };
    let container = |path: &str| Request::CreateContainer(create_empty(path, 4));
    run(&mut t, 1, &ME, &container("/used"));
    run(&mut t, 2, &ME, &container("/unused"));
    run(&mut t, 3, &ME, &create("/used/k", 0));
    let del = Request::Delete(delete("/used/k", -1));
    run(&mut t, 4, &ME, &del);
    let mut pending = Pending::default();
    let config = PrepConfig {
        extended_types: true,
        ..PrepConfig::default()
    };
    let mut prep = Prep::new(&t, &mut pending, config.clone());
    assert!(matches!(prep.reap("/used", 0), Some(Txn::Delete { .. })));
    assert_eq!(prep.reap("/unused", 0), None);
    // The TTL node was created at time 100 (see `run`) with a TTL of 50 ms.
    let txn =
        Prep::new(&t, &mut Pending::default(), config.clone()).write(&ME, &ttl_create("/t", 50));
    let header = TxnHeader {
        session_id: 1,
        cxid: 1,
        zxid: 5,
        time: 100,
    };
    let _ = apply(&mut t, &header, &txn);
    let mut pending = Pending::default();
    let mut prep = Prep::new(&t, &mut pending, config.clone());
    assert_eq!(prep.reap("/t", 150), None);
    // A pending setData keeps it alive even once the TTL has passed.
    let set = Request::SetData(set_data("/t", -1));
    assert!(matches!(prep.write(&ME, &set), Txn::SetData { .. }));
    assert_eq!(prep.reap("/t", 1_000), None);
    let mut pending = Pending::default();
    let mut prep = Prep::new(&t, &mut pending, config.clone());
    assert!(matches!(prep.reap("/t", 1_000), Some(Txn::Delete { .. })));
}

#[test]
fn reconfig_is_answered_as_the_real_server_answers_it() {
    use crate::reconfig::install_initial;
    use zk_proto::ReconfigRequest;
    let cfg = crate::ServerConfig::from_zoo_cfg(
        "dataDir=/x\nserver.1=127.0.0.1:1:2\nserver.2=127.0.0.1:3:4\nserver.3=127.0.0.1:5:6\n",
    )
    .unwrap();
    let mut tree = DataTree::new();
    install_initial(&mut tree, &cfg.servers, true, 7);
    let remove = |ids: &str| {
        Request::Reconfig(ReconfigRequest {
            joining_servers: None,
            leaving_servers: Some(ids.into()),
            new_members: None,
            cur_config_id: -1,
        })
    };
    let add = Request::Reconfig(ReconfigRequest {
        joining_servers: Some("server.4=127.0.0.1:7:8:observer;127.0.0.1:2184".into()),
        leaving_servers: None,
        new_members: None,
        cur_config_id: -1,
    });
    let prep = |policy: ReconfigPolicy,
                caller: &Caller<'_>,
                req: &Request,
                pending: &mut Pending,
                synced: &[u64]| {
        let config = PrepConfig {
            reconfig: policy,
            synced: Some(std::sync::Arc::new(synced.iter().copied().collect())),
            ..PrepConfig::default()
        };
        Prep::new(&tree, pending, config).write(caller, req)
    };
    let all = [1, 2, 3];
    let on = ReconfigPolicy {
        enabled: true,
        skip_acl: false,
        ensemble: true,
    };
    let super_ids = [Id::new("super", "")];
    let root = Caller {
        session_id: ME.session_id,
        ids: &super_ids,
    };
    let err = |code| Txn::Error(code);
    let p = &mut Pending::default();
    assert_eq!(
        prep(ReconfigPolicy::default(), &root, &remove("9"), p, &all),
        err(ErrorCode::ReconfigDisabled)
    );
    let standalone = ReconfigPolicy {
        ensemble: false,
        ..on
    };
    assert_eq!(
        prep(standalone, &root, &remove("9"), p, &all),
        err(ErrorCode::Unimplemented)
    );
    assert_eq!(prep(on, &ME, &remove("9"), p, &all), err(ErrorCode::NoAuth));
    assert_eq!(
        prep(on, &root, &remove("1,2,3"), p, &all),
        err(ErrorCode::BadArguments)
    );
    // A new membership needs a quorum of its voters synced with the leader: removing 3
    // while 2 is not synced leaves {1, 2} with only 1 live.
    assert_eq!(
        prep(on, &root, &remove("3"), p, &[1, 3]),
        err(ErrorCode::NewConfigNoQuorum)
    );
    p.set_next_zxid(0x1_0000_0004);
    let skip = ReconfigPolicy {
        skip_acl: true,
        ..on
    };
    let Txn::Reconfig { data } = prep(skip, &ME, &add, p, &all) else {
        panic!("a reconfig is a Txn::Reconfig with the new text");
    };
    let text = String::from_utf8(data.to_vec()).unwrap();
    assert!(
        text.ends_with("server.4=127.0.0.1:7:8:observer;127.0.0.1:2184\nversion=100000004"),
        "{text}"
    );
    // One at a time: a second reconfig while the first is unapplied.
    assert_eq!(
        prep(on, &root, &remove("9"), p, &all),
        err(ErrorCode::ReconfigInProgress)
    );
}
