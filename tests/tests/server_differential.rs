//! Differential test: the same request script against Apache ZooKeeper 3.8.0 and against
//! zk-server-mini, compared reply by reply, field by field (headers, zxids, error codes, bodies,
//! stats, notifications). Only wall-clock times and session ids are normalised.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use zk_integration_tests::mini::start_mini;
use zk_integration_tests::{RealZk, ZkOptions, require_real_zk};
use zk_proto::acl::{Acl, Id, Perms};
use zk_proto::multi::{MultiOp, MultiRequest};
use zk_proto::*;
use zk_server_mini::MiniServer;
use zk_server_mini::testing::RawClient;

fn create(path: &str, data: &[u8], flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        acl: Acl::open_unsafe(),
        flags,
    }
}

fn get_data(path: &str, watch: bool) -> GetDataRequest {
    GetDataRequest {
        path: path.into(),
        watch,
    }
}

fn exists(path: &str, watch: bool) -> ExistsRequest {
    ExistsRequest {
        path: path.into(),
        watch,
    }
}

fn get_children(path: &str, watch: bool) -> GetChildrenRequest {
    GetChildrenRequest {
        path: path.into(),
        watch,
    }
}

fn set_data(path: &str, data: Option<Bytes>, version: i32) -> SetDataRequest {
    SetDataRequest {
        path: path.into(),
        data,
        version,
    }
}

fn delete(path: &str, version: i32) -> DeleteRequest {
    DeleteRequest {
        path: path.into(),
        version,
    }
}

fn check(path: &str, version: i32) -> CheckVersionRequest {
    CheckVersionRequest {
        path: path.into(),
        version,
    }
}

fn get_acl(path: &str) -> GetAclRequest {
    GetAclRequest { path: path.into() }
}

fn normalise(text: String, sessions: &[i64]) -> String {
    let mut out = text;
    for (i, sid) in sessions.iter().enumerate() {
        out = out.replace(&sid.to_string(), &format!("<session{i}>"));
    }
    // ctime/mtime are wall-clock; blank them.
    let mut s = String::new();
    let mut rest = out.as_str();
    while let Some(i) = rest.find("time: ") {
        let (a, b) = rest.split_at(i + 6);
        s.push_str(a);
        let end = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
        if b[..end] == *"0" {
            s.push('0');
        } else {
            s.push_str("<t>");
        }
        rest = &b[end..];
    }
    s.push_str(rest);
    s
}

fn sorted_children(r: Option<Response>) -> Option<Response> {
    match r {
        Some(Response::GetChildren(mut c)) => {
            c.children.sort();
            Some(Response::GetChildren(c))
        }
        Some(Response::GetChildren2(mut c)) => {
            c.children.sort();
            Some(Response::GetChildren2(c))
        }
        Some(Response::Multi(mut m)) => {
            for r in &mut m.results {
                if let zk_proto::multi::OpResult::GetChildren(c) = r {
                    c.children.sort();
                }
            }
            Some(Response::Multi(m))
        }
        other => other,
    }
}

/// Runs the script and returns one transcript line per step.
async fn transcript(addr: SocketAddr) -> Vec<String> {
    let mut lines = Vec::new();
    let mut a = RawClient::connect(addr, 30_000).await.expect("session a");
    let mut b = RawClient::connect(addr, 1_000).await.expect("session b");
    let sessions = [a.session.session_id, b.session.session_id];
    lines.push(format!(
        "connect a: to={} pwlen={} ro={:?}; b: to={}",
        a.session.timeout_ms,
        a.session.passwd.len(),
        a.session.read_only,
        b.session.timeout_ms
    ));

    macro_rules! step {
        ($client:ident, $label:expr, $req:expr) => {{
            let req = $req;
            let line = match $client.call(&req).await {
                Ok((h, body)) => {
                    let events: Vec<_> = std::mem::take(&mut $client.events);
                    format!(
                        "{}: xid={} zxid={} err={:?} body={:?} events={:?}",
                        $label,
                        h.xid,
                        h.zxid,
                        h.err,
                        sorted_children(body),
                        events
                    )
                }
                Err(e) => format!("{}: i/o error: {e}", $label),
            };
            lines.push(normalise(line, &sessions));
        }};
    }

    step!(a, "create /d", Request::Create(create("/d", b"x", 0)));
    step!(a, "create /d again", Request::Create(create("/d", b"x", 0)));
    step!(
        a,
        "create2 /d/s- seq",
        Request::Create2(create("/d/s-", b"", 2))
    );
    step!(
        a,
        "create /d/e eph",
        Request::Create(create("/d/e", b"", 1))
    );
    step!(
        b,
        "create /d/be eph (b)",
        Request::Create(create("/d/be", b"", 1))
    );
    step!(
        a,
        "create under eph",
        Request::Create(create("/d/e/c", b"", 0))
    );
    step!(a, "bad flags", Request::Create(create("/d/f", b"", 9)));
    step!(a, "no slash", Request::Create(create("d", b"", 0)));
    step!(a, "dot dot", Request::Create(create("/a/../b", b"", 0)));
    step!(
        a,
        "control char",
        Request::Create(create("/d/\u{1}", b"", 0))
    );
    step!(
        a,
        "empty acl",
        Request::Create(CreateRequest {
            acl: vec![],
            ..create("/d/noacl", b"", 0)
        })
    );
    step!(
        a,
        "auth acl unauthenticated",
        Request::Create(CreateRequest {
            acl: Acl::creator_all(),
            ..create("/d/noauth", b"", 0)
        })
    );
    step!(
        a,
        "seq ending in slash",
        Request::Create(create("/d/", b"", 2))
    );
    step!(a, "ttl via create", Request::Create(create("/d/t", b"", 5)));
    step!(
        a,
        "createTTL disabled",
        Request::CreateTtl(CreateTtlRequest {
            path: "/d/ttl".into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 5,
            ttl: 1000,
        })
    );
    step!(
        a,
        "container",
        Request::CreateContainer(create("/cont", b"", 4))
    );
    step!(
        a,
        "container bad flags",
        Request::CreateContainer(create("/cont2", b"", 0))
    );
    step!(
        a,
        "null data",
        Request::Create(CreateRequest {
            data: None,
            ..create("/null", b"", 0)
        })
    );
    step!(
        a,
        "getData null",
        Request::GetData(get_data("/null", false))
    );
    step!(
        a,
        "getData /d watch",
        Request::GetData(get_data("/d", true))
    );
    step!(
        a,
        "exists /nope watch",
        Request::Exists(exists("/nope", true))
    );
    step!(a, "exists /d", Request::Exists(exists("/d", false)));
    step!(
        a,
        "getChildren2 /d watch",
        Request::GetChildren2(get_children("/d", true))
    );
    step!(
        a,
        "getChildren /",
        Request::GetChildren(get_children("/", false))
    );
    step!(
        a,
        "getData empty path",
        Request::GetData(get_data("", false))
    );
    step!(
        a,
        "getData unvalidated",
        Request::GetData(get_data("no/slash", false))
    );
    step!(
        a,
        "getACL config",
        Request::GetAcl(get_acl("/zookeeper/config"))
    );
    step!(
        a,
        "stat /zookeeper",
        Request::Exists(exists("/zookeeper", false))
    );
    step!(a, "getACL /d", Request::GetAcl(get_acl("/d")));
    step!(
        b,
        "setData /d badversion",
        Request::SetData(set_data("/d", None, 5))
    );
    step!(
        b,
        "setData /d",
        Request::SetData(set_data("/d", Some(Bytes::from_static(b"y")), 0))
    );
    step!(a, "ping after event", Request::Ping);
    step!(
        a,
        "setACL /d",
        Request::SetAcl(SetAclRequest {
            path: "/d".into(),
            acl: Acl::open_unsafe(),
            version: 0
        })
    );
    step!(
        a,
        "setACL /d badversion",
        Request::SetAcl(SetAclRequest {
            path: "/d".into(),
            acl: Acl::open_unsafe(),
            version: 0
        })
    );
    step!(
        a,
        "setACL invalid",
        Request::SetAcl(SetAclRequest {
            path: "/d".into(),
            acl: vec![Acl::new(Perms::ALL, Id::new("digest", "nocolon"))],
            version: -1
        })
    );
    step!(
        a,
        "setData config",
        Request::SetData(set_data("/zookeeper/config", None, -1))
    );
    step!(
        a,
        "delete /zookeeper",
        Request::Delete(delete("/zookeeper", -1))
    );
    step!(a, "delete /", Request::Delete(delete("/", -1)));
    step!(a, "delete /d notempty", Request::Delete(delete("/d", -1)));
    step!(a, "delete /nope", Request::Delete(delete("/nope", -1)));
    step!(a, "delete /x/y", Request::Delete(delete("/x/y", -1)));
    step!(
        a,
        "delete badversion",
        Request::Delete(delete("/d/s-0000000000", 3))
    );
    step!(
        a,
        "delete seq",
        Request::Delete(delete("/d/s-0000000000", 0))
    );
    step!(
        a,
        "getChildren2 after delete",
        Request::GetChildren2(get_children("/d", false))
    );
    step!(
        a,
        "seq after delete",
        Request::Create(create("/d/q", b"", 2))
    );
    let ok_multi = MultiRequest {
        ops: vec![
            MultiOp::Create(create("/m1", b"1", 0)),
            MultiOp::Create2(create("/m2", b"2", 0)),
            MultiOp::SetData(set_data("/m1", Some(Bytes::from_static(b"new")), 0)),
            MultiOp::Check(check("/m1", 1)),
            MultiOp::Delete(delete("/m2", -1)),
            MultiOp::CreateContainer(create("/mc", b"", 4)),
        ],
    };
    step!(a, "multi ok", Request::Multi(ok_multi));
    let bad_multi = MultiRequest {
        ops: vec![
            MultiOp::Create(create("/m3", b"", 0)),
            MultiOp::Check(check("/m1", 99)),
            MultiOp::SetData(set_data("/m1", None, -1)),
        ],
    };
    step!(a, "multi fails", Request::Multi(bad_multi));
    step!(a, "multi empty", Request::Multi(MultiRequest::default()));
    step!(
        a,
        "multi with read",
        Request::Multi(MultiRequest {
            ops: vec![
                MultiOp::Create(create("/m4", b"", 0)),
                MultiOp::GetData(get_data("/m1", false)),
            ],
        })
    );
    step!(
        a,
        "multiRead",
        Request::MultiRead(MultiRequest {
            ops: vec![
                MultiOp::GetData(get_data("/m1", false)),
                MultiOp::GetChildren(get_children("/d", false)),
                MultiOp::GetData(get_data("/missing", false)),
            ],
        })
    );
    step!(a, "sync", Request::Sync(SyncRequest { path: "/d".into() }));
    step!(
        a,
        "checkWatches data",
        Request::CheckWatches(CheckWatchesRequest {
            path: "/nope".into(),
            watcher_type: WatcherType::Data
        })
    );
    step!(
        a,
        "checkWatches children none",
        Request::CheckWatches(CheckWatchesRequest {
            path: "/nope".into(),
            watcher_type: WatcherType::Children
        })
    );
    step!(
        a,
        "checkWatches type 4",
        Request::CheckWatches(CheckWatchesRequest {
            path: "/d".into(),
            watcher_type: WatcherType::Persistent
        })
    );
    step!(
        a,
        "removeWatches any",
        Request::RemoveWatches(RemoveWatchesRequest {
            path: "/nope".into(),
            watcher_type: WatcherType::Any
        })
    );
    step!(
        a,
        "removeWatches again",
        Request::RemoveWatches(RemoveWatchesRequest {
            path: "/nope".into(),
            watcher_type: WatcherType::Any
        })
    );
    step!(
        a,
        "addWatch recursive /d",
        Request::AddWatch(AddWatchRequest {
            path: "/d".into(),
            mode: 1
        })
    );
    step!(
        a,
        "addWatch persistent /m1",
        Request::AddWatch(AddWatchRequest {
            path: "/m1".into(),
            mode: 0
        })
    );
    step!(b, "b create /d/r/", Request::Create(create("/d/r", b"", 0)));
    step!(
        b,
        "b create /d/r/x",
        Request::Create(create("/d/r/x", b"", 0))
    );
    step!(
        b,
        "b set /d/r/x",
        Request::SetData(set_data("/d/r/x", None, -1))
    );
    step!(b, "b delete /d/r/x", Request::Delete(delete("/d/r/x", -1)));
    step!(
        b,
        "b create /m1/k",
        Request::Create(create("/m1/k", b"", 0))
    );
    step!(b, "b set /m1", Request::SetData(set_data("/m1", None, -1)));
    step!(
        a,
        "a set /d/r (own change)",
        Request::SetData(set_data("/d/r", None, -1))
    );
    step!(a, "ping collects events", Request::Ping);
    step!(
        a,
        "getEphemerals",
        Request::GetEphemerals(GetEphemeralsRequest {
            prefix_path: "/".into()
        })
    );
    step!(
        a,
        "getEphemerals prefix",
        Request::GetEphemerals(GetEphemeralsRequest {
            prefix_path: "/x".into()
        })
    );
    step!(
        a,
        "getAllChildrenNumber /",
        Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: "/".into() })
    );
    step!(a, "whoAmI", Request::WhoAmI);
    step!(
        a,
        "auth digest",
        Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: Bytes::from_static(b"alice:secret")
        })
    );
    step!(a, "whoAmI after auth", Request::WhoAmI);
    step!(
        a,
        "create auth acl",
        Request::Create(CreateRequest {
            acl: Acl::creator_all(),
            ..create("/sec", b"s", 0)
        })
    );
    step!(a, "getACL /sec", Request::GetAcl(get_acl("/sec")));
    step!(
        b,
        "b getData /sec",
        Request::GetData(get_data("/sec", false))
    );
    step!(b, "b exists /sec", Request::Exists(exists("/sec", false)));
    step!(b, "b getACL /sec", Request::GetAcl(get_acl("/sec")));
    step!(
        b,
        "b create under /sec",
        Request::Create(create("/sec/k", b"", 0))
    );
    // ACL checks from another session.
    let alice_all = Acl::new(Perms::ALL, Id::digest("alice", "secret"));
    let acl_create = |path: &str, acl: Vec<Acl>| {
        Request::Create(CreateRequest {
            acl,
            ..create(path, b"m", 0)
        })
    };
    step!(
        a,
        "create /mixed",
        acl_create(
            "/mixed",
            vec![alice_all.clone(), Acl::new(Perms::READ, Id::anyone())]
        )
    );
    step!(
        b,
        "b getACL /mixed (masked)",
        Request::GetAcl(get_acl("/mixed"))
    );
    step!(
        b,
        "b setData /mixed",
        Request::SetData(set_data("/mixed", None, -1))
    );
    step!(
        b,
        "b setACL /mixed",
        Request::SetAcl(SetAclRequest {
            path: "/mixed".into(),
            acl: Acl::open_unsafe(),
            version: -1
        })
    );
    step!(
        b,
        "b getChildren /mixed",
        Request::GetChildren(get_children("/mixed", false))
    );
    step!(
        b,
        "b create /mixed/k",
        Request::Create(create("/mixed/k", b"", 0))
    );
    step!(
        a,
        "a create /mixed/k",
        Request::Create(create("/mixed/k", b"", 0))
    );
    step!(
        b,
        "b delete /mixed/k",
        Request::Delete(delete("/mixed/k", -1))
    );
    step!(
        b,
        "b multi check /mixed",
        Request::Multi(MultiRequest {
            ops: vec![MultiOp::Check(check("/mixed", 0))]
        })
    );
    step!(
        b,
        "b multi check /sec",
        Request::Multi(MultiRequest {
            ops: vec![MultiOp::Check(check("/sec", -1))]
        })
    );
    step!(
        b,
        "b getAllChildrenNumber /sec",
        Request::GetAllChildrenNumber(GetAllChildrenNumberRequest {
            path: "/sec".into()
        })
    );
    step!(
        a,
        "create ip acl",
        acl_create(
            "/iponly",
            vec![Acl::new(Perms::ALL, Id::new("ip", "127.0.0.1"))]
        )
    );
    step!(
        b,
        "b getData /iponly",
        Request::GetData(get_data("/iponly", false))
    );
    step!(
        a,
        "create ip net acl",
        acl_create(
            "/ipnet",
            vec![Acl::new(Perms::ALL, Id::new("ip", "10.0.0.0/8"))]
        )
    );
    step!(
        b,
        "b getData /ipnet",
        Request::GetData(get_data("/ipnet", false))
    );
    step!(
        a,
        "create bad ip acl",
        acl_create(
            "/ipbad",
            vec![Acl::new(Perms::ALL, Id::new("ip", "10.0.0.300"))]
        )
    );
    step!(
        a,
        "create world other",
        acl_create(
            "/wbad",
            vec![Acl::new(Perms::ALL, Id::new("world", "someone"))]
        )
    );
    step!(
        a,
        "create dup acl",
        acl_create(
            "/dup",
            vec![
                Acl::new(Perms::ALL, Id::anyone()),
                Acl::new(Perms::ALL, Id::anyone())
            ]
        )
    );
    step!(a, "getACL /dup", Request::GetAcl(get_acl("/dup")));
    step!(
        a,
        "setACL auth",
        Request::SetAcl(SetAclRequest {
            path: "/dup".into(),
            acl: Acl::creator_all(),
            version: -1
        })
    );
    step!(a, "getACL /dup after", Request::GetAcl(get_acl("/dup")));
    {
        let mut s = RawClient::connect(addr, 30_000).await.expect("session s");
        let mut sessions = sessions.to_vec();
        sessions.push(s.session.session_id);
        let sessions = &sessions[..];
        macro_rules! sstep {
            ($label:expr, $req:expr) => {{
                let line = match s.call(&$req).await {
                    Ok((h, body)) => format!(
                        "{}: xid={} zxid={} err={:?} body={:?}",
                        $label, h.xid, h.zxid, h.err, body
                    ),
                    Err(e) => format!("{}: i/o error: {e}", $label),
                };
                lines.push(normalise(line, sessions));
            }};
        }
        sstep!(
            "super auth",
            Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: Bytes::from_static(b"super:secret")
            })
        );
        sstep!("super whoAmI", Request::WhoAmI);
        sstep!(
            "super getData /sec",
            Request::GetData(get_data("/sec", false))
        );
        sstep!("super getACL /sec", Request::GetAcl(get_acl("/sec")));
        sstep!(
            "super create under /ipnet",
            Request::Create(create("/ipnet/k", b"", 0))
        );
        sstep!(
            "no-colon digest auth",
            Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: Bytes::from_static(b"nocolon")
            })
        );
        sstep!("whoAmI after no-colon", Request::WhoAmI);
        sstep!(
            "ip auth",
            Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "ip".into(),
                auth: Bytes::from_static(b"10.1.1.1")
            })
        );
        sstep!("whoAmI after ip auth", Request::WhoAmI);
    }
    step!(
        a,
        "sasl",
        Request::Sasl(GetSaslRequest {
            token: Some(Bytes::from_static(b"x"))
        })
    );
    step!(
        a,
        "reconfig",
        Request::Reconfig(ReconfigRequest {
            joining_servers: None,
            leaving_servers: None,
            new_members: None,
            cur_config_id: -1
        })
    );
    step!(
        a,
        "exists watch on b's ephemeral",
        Request::Exists(exists("/d/be", true))
    );
    step!(b, "b closeSession", Request::CloseSession);
    step!(a, "ping after b closed", Request::Ping);
    let b_closed = b.closed_within(Duration::from_secs(5)).await;
    lines.push(format!("b socket closed after closeSession: {b_closed}"));

    // Unknown opcode 50, on a connection of its own.
    let mut u = RawClient::connect(addr, 10_000).await.expect("session u");
    u.send_raw(&[0, 0, 0, 8, 0, 0, 0, 77, 0, 0, 0, 50])
        .await
        .expect("send");
    match u.read_reply().await {
        Ok((h, body)) => lines.push(format!(
            "opcode 50: xid={} zxid={} err={:?} body={}",
            h.xid,
            h.zxid,
            h.err,
            body.len()
        )),
        Err(e) => lines.push(format!("opcode 50: i/o error: {e}")),
    }
    let after = u.call(&Request::Ping).await.map(|(h, _)| h.err);
    lines.push(format!("ping after opcode 50: {after:?}"));

    // check (13) outside multi: a failing one is a header-only error that uses a zxid; a
    // passing one is never answered (3.8 throws in its final processor), but later requests
    // on the connection still are.
    let mut k = RawClient::connect(addr, 10_000).await.expect("session k");
    // Write bodies that do not decode: a create with a null path, a setData cut short.
    for (label, raw) in [
        (
            "create null path",
            &[
                0, 0, 0, 24, 0, 0, 0, 90, 0, 0, 0, 1, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0,
                0, 0, 0, 0, 0, 0,
            ][..],
        ),
        (
            "deleteContainer from a client",
            &[0, 0, 0, 10, 0, 0, 0, 92, 0, 0, 0, 20, b'/', b'd'][..],
        ),
        (
            "setData cut short",
            &[0, 0, 0, 14, 0, 0, 0, 91, 0, 0, 0, 5, 0, 0, 0, 2, b'/', b'd'][..],
        ),
    ] {
        k.send_raw(raw).await.expect("send raw");
        match tokio::time::timeout(Duration::from_secs(3), k.read_reply()).await {
            Ok(Ok((h, body))) => lines.push(format!(
                "{label}: xid={} zxid={} err={:?} body={}",
                h.xid,
                h.zxid,
                h.err,
                body.len()
            )),
            Ok(Err(e)) => lines.push(format!("{label}: i/o error: {e}")),
            Err(_) => lines.push(format!("{label}: no reply")),
        }
    }
    step!(k, "ping after bad bodies", Request::Ping);
    step!(k, "check bad version", Request::Check(check("/d", 999)));
    step!(
        k,
        "check missing node",
        Request::Check(check("/nope-check", -1))
    );
    step!(k, "check bad path", Request::Check(check("no-slash", -1)));
    k.send(40, &Request::Check(check("/d", -1)))
        .await
        .expect("send check");
    let after = tokio::time::timeout(Duration::from_secs(3), k.call(&Request::Ping)).await;
    lines.push(format!(
        "ping after a passing check: {:?}",
        after.map(|r| r.map(|(h, _)| (h.xid, h.zxid, h.err)))
    ));
    step!(
        k,
        "create after checks",
        Request::Create(create("/ck", b"", 1))
    );
    // A reconnect with a wrong password still closes the live connection first (§2.2), is
    // refused, and leaves the session alive for the right password.
    let mut req = ConnectRequest::new_session(10_000);
    req.session_id = k.session.session_id;
    req.passwd = Bytes::from_static(&[7; 16]);
    let (mut bad, resp) = RawClient::connect_with(addr, req)
        .await
        .expect("wrong password");
    lines.push(format!(
        "wrong password: to={} sid={} closed={} live one closed={}",
        resp.timeout_ms,
        resp.session_id,
        bad.closed_within(Duration::from_secs(5)).await,
        k.closed_within(Duration::from_secs(5)).await
    ));
    let mut req = ConnectRequest::new_session(10_000);
    req.session_id = k.session.session_id;
    req.passwd = k.session.passwd.clone();
    let (mut k2, resp) = RawClient::connect_with(addr, req)
        .await
        .expect("right password");
    lines.push(format!(
        "right password after: same={}",
        resp.session_id == k.session.session_id
    ));
    step!(k2, "k2 closeSession", Request::CloseSession);

    // Reconnecting to the closed session gets the expired answer, then a close.
    let mut req = ConnectRequest::new_session(10_000);
    req.session_id = sessions[1];
    req.passwd = b.session.passwd.clone();
    let (mut c, resp) = RawClient::connect_with(addr, req)
        .await
        .expect("reconnect b");
    lines.push(format!(
        "reconnect closed session: {resp:?} closed={}",
        c.closed_within(Duration::from_secs(5)).await
    ));
    // An old client without the readOnly byte gets a response without it.
    let mut req = ConnectRequest::new_session(10_000);
    req.read_only = None;
    let (_old, resp) = RawClient::connect_with(addr, req)
        .await
        .expect("old client");
    lines.push(format!(
        "old client: read_only={:?} to={}",
        resp.read_only, resp.timeout_ms
    ));
    // A client that has seen a newer zxid is refused without a reply.
    let mut req = ConnectRequest::new_session(10_000);
    req.last_zxid_seen = 1 << 40;
    let refused = RawClient::connect_with(addr, req).await;
    lines.push(format!("future zxid refused: {}", refused.is_err()));
    // Timeout clamping.
    for t in [1, 100_000, 0, -5, i32::MIN, i32::MAX] {
        let c = RawClient::connect(addr, t).await.expect("clamp");
        lines.push(format!("requested {t} got {}", c.session.timeout_ms));
    }
    // Reconnect a's session on a new connection: the old one is closed, SetWatches rules apply.
    let rel = 20; // before /d's setData (zxid 22) and its later child changes
    let mut req = ConnectRequest::new_session(30_000);
    req.session_id = sessions[0];
    req.passwd = a.session.passwd.clone();
    req.last_zxid_seen = 30;
    let (mut a2, resp) = RawClient::connect_with(addr, req)
        .await
        .expect("reconnect a");
    lines.push(format!(
        "reconnect a: same id={} to={} old closed={}",
        resp.session_id == sessions[0],
        resp.timeout_ms,
        a.closed_within(Duration::from_secs(5)).await
    ));
    let mut c = RawClient::connect(addr, 30_000).await.expect("session c");
    let sessions = [sessions[0], sessions[1], c.session.session_id];
    step!(
        a2,
        "setWatches2",
        Request::SetWatches2(SetWatches2 {
            relative_zxid: rel,
            data_watches: vec!["/d".into(), "/gone".into(), "/m1".into()],
            exist_watches: vec!["/d".into(), "/nope2".into()],
            child_watches: vec!["/d".into(), "/gone".into(), "/null".into()],
            persistent_watches: vec!["/sec".into()],
            persistent_recursive_watches: vec!["/cont".into()],
        })
    );
    step!(
        c,
        "c create /nope2",
        Request::Create(create("/nope2", b"", 0))
    );
    step!(
        c,
        "c set /null",
        Request::SetData(set_data("/null", None, -1))
    );
    step!(
        c,
        "c create /null/k",
        Request::Create(create("/null/k", b"", 0))
    );
    step!(
        c,
        "c create /cont/k",
        Request::Create(create("/cont/k", b"", 0))
    );
    step!(
        c,
        "c set /sec noauth",
        Request::SetData(set_data("/sec", None, -1))
    );
    step!(
        a2,
        "a2 set /sec (persistent watch)",
        Request::SetData(set_data("/sec", None, -1))
    );
    step!(
        a2,
        "a2 auth again",
        Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: Bytes::from_static(b"alice:secret")
        })
    );
    step!(
        a2,
        "a2 set /sec",
        Request::SetData(set_data("/sec", None, -1))
    );
    step!(a2, "a2 ping", Request::Ping);
    // Old-style SetWatches with xid -8, as the C client sends it.
    a2.send(
        -8,
        &Request::SetWatches(SetWatches {
            relative_zxid: 0,
            data_watches: vec!["/nope2".into()],
            exist_watches: vec!["/missing2".into()],
            child_watches: vec![],
        }),
    )
    .await
    .expect("send setWatches");
    match a2.read_reply().await {
        Ok((h, _)) => lines.push(normalise(
            format!(
                "setWatches -8: xid={} zxid={} err={:?} events={:?}",
                h.xid,
                h.zxid,
                h.err,
                std::mem::take(&mut a2.events)
            ),
            &sessions,
        )),
        Err(e) => lines.push(format!("setWatches -8: i/o error: {e}")),
    }
    // Pipelining: a ConnectRequest and a getData in one write.
    {
        use tokio_util_free::encode_pipelined;
        let bytes = encode_pipelined();
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(&bytes).await.expect("write");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        // ConnectResponse (4 + 37) and the getData reply (4 + 16 + 5 + 68).
        while got.len() < 41 + 93 {
            match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        // Skip the ConnectResponse (4 + 37 bytes); keep the getData reply header.
        let reply = got.get(41..41 + 20).map(|b| b.to_vec());
        lines.push(format!(
            "pipelined: total={} reply_head={:?}",
            got.len(),
            reply.map(|b| (b[4..8].to_vec(), b[16..20].to_vec()))
        ));
    }
    step!(a2, "final stat /", Request::Exists(exists("/", false)));
    step!(
        a2,
        "final children /d",
        Request::GetChildren2(get_children("/d", false))
    );
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mini_server_answers_like_zookeeper_3_8_field_by_field() {
    require_real_zk!();
    let real = RealZk::start_standalone(ZkOptions::default().super_user("super", "secret"))
        .await
        .expect("start the reference server");
    let (_dir, mini) = start_mini(
        MiniServer::builder()
            .max_client_cnxns(0)
            .super_digest(zk_proto::acl::digest_id("super", "secret")),
    )
    .await;
    let expected = tokio::time::timeout(Duration::from_secs(60), transcript(real.addr()))
        .await
        .expect("reference transcript timed out");
    let actual = tokio::time::timeout(Duration::from_secs(60), transcript(mini.addr()))
        .await
        .expect("mini transcript timed out");
    eprintln!("reference transcript:\n{}", expected.join("\n"));
    let mut mismatches = Vec::new();
    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
        if e != a {
            mismatches.push(format!("step {i}:\n  zookeeper: {e}\n  mini:      {a}"));
        }
    }
    assert_eq!(expected.len(), actual.len(), "transcripts differ in length");
    mini.stop().await;
    assert!(
        mismatches.is_empty(),
        "{} of {} steps differ:\n{}",
        mismatches.len(),
        expected.len(),
        mismatches.join("\n")
    );
}

/// Frames for the pipelining step, built with zk-proto's encoder.
mod tokio_util_free {
    use bytes::BytesMut;
    use zk_proto::codec::encode_frame;
    use zk_proto::{ConnectRequest, OpCode, Request, RequestHeader};

    use super::get_data;

    pub(super) fn encode_pipelined() -> BytesMut {
        let mut out = BytesMut::new();
        let connect = ConnectRequest::new_session(10_000);
        encode_frame(&connect, &mut out, usize::MAX).expect("encode");
        let get = Request::GetData(get_data("/d", false));
        encode_frame(
            &(RequestHeader::new(5, OpCode::GetData), &get),
            &mut out,
            usize::MAX,
        )
        .expect("encode");
        out
    }
}

/// TTL nodes with `extendedTypesEnabled` on both servers: the TTL bounds, flag/opcode
/// combinations, the stat of a TTL node, and createTTL inside a multi.
async fn ttl_transcript(addr: SocketAddr) -> Vec<String> {
    let mut lines = Vec::new();
    let mut a = RawClient::connect(addr, 30_000).await.expect("session");
    let sessions = [a.session.session_id];
    let ttl = |path: &str, flags: i32, ttl: i64| {
        Request::CreateTtl(CreateTtlRequest {
            path: path.into(),
            data: Some(Bytes::from_static(b"t")),
            acl: Acl::open_unsafe(),
            flags,
            ttl,
        })
    };
    for (label, req) in [
        ("ttl 1", ttl("/t1", 5, 1)),
        ("ttl max", ttl("/tmax", 5, MAX_TTL_MS)),
        ("ttl max+1", ttl("/tover", 5, MAX_TTL_MS + 1)),
        ("ttl 0", ttl("/t0", 5, 0)),
        ("ttl -1", ttl("/tneg", 5, -1)),
        ("ttl i64::MIN", ttl("/tmin", 5, i64::MIN)),
        ("ttl i64::MAX", ttl("/tbig", 5, i64::MAX)),
        ("ttl seq", ttl("/ts-", 6, 1000)),
        ("ttl flag 0", ttl("/tf0", 0, 1000)),
        ("ttl flag 1", ttl("/tf1", 1, 1000)),
        ("ttl flag 4", ttl("/tf4", 4, 1000)),
        ("create flag 5", Request::Create(create("/c5", b"", 5))),
        ("stat ttl node", Request::Exists(exists("/tmax", false))),
        (
            "multi createTTL",
            Request::Multi(MultiRequest {
                ops: vec![MultiOp::CreateTtl(CreateTtlRequest {
                    path: "/tm".into(),
                    data: None,
                    acl: Acl::open_unsafe(),
                    flags: 5,
                    ttl: 5000,
                })],
            }),
        ),
        (
            "multi createTTL bad ttl",
            Request::Multi(MultiRequest {
                ops: vec![
                    MultiOp::Create(create("/tm2", b"", 0)),
                    MultiOp::CreateTtl(CreateTtlRequest {
                        path: "/tm3".into(),
                        data: None,
                        acl: Acl::open_unsafe(),
                        flags: 5,
                        ttl: 0,
                    }),
                ],
            }),
        ),
    ] {
        let line = match a.call(&req).await {
            Ok((h, body)) => format!(
                "{label}: xid={} zxid={} err={:?} body={:?}",
                h.xid, h.zxid, h.err, body
            ),
            Err(e) => format!("{label}: i/o error: {e}"),
        };
        lines.push(normalise(line, &sessions));
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_nodes_match_zookeeper_3_8() {
    require_real_zk!();
    let real = RealZk::start_standalone(ZkOptions::default().extended_types(true))
        .await
        .expect("start the reference server");
    let (_dir, mini) = start_mini(MiniServer::builder().extended_types(true)).await;
    let expected = tokio::time::timeout(Duration::from_secs(60), ttl_transcript(real.addr()))
        .await
        .expect("reference transcript timed out");
    let actual = tokio::time::timeout(Duration::from_secs(60), ttl_transcript(mini.addr()))
        .await
        .expect("mini transcript timed out");
    eprintln!("reference transcript:\n{}", expected.join("\n"));
    mini.stop().await;
    let mismatches: Vec<String> = expected
        .iter()
        .zip(&actual)
        .filter(|(e, a)| e != a)
        .map(|(e, a)| format!("  zookeeper: {e}\n  mini:      {a}"))
        .collect();
    assert_eq!(expected.len(), actual.len());
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
