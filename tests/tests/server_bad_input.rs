//! Hostile and broken input against zk-server-mini: oversized, negative, truncated and garbage
//! frames, malformed bodies, wrong passwords. Each case must end in an error reply or a closed
//! connection, never a crash and never a change to the tree.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_integration_tests::mini::{bounded, start_mini};
use zk_proto::acl::Acl;
use zk_proto::jute::Encode;
use zk_proto::multi::{MultiOp, MultiRequest};
use zk_proto::*;
use zk_server_mini::MiniServer;
use zk_server_mini::testing::RawClient;

const WAIT: Duration = Duration::from_secs(5);

/// Every node's path, data and version: what "no change to the tree" means.
async fn fingerprint(addr: SocketAddr) -> BTreeMap<String, (Option<Bytes>, i32, i32)> {
    let mut c = RawClient::connect(addr, 10_000).await.expect("connect");
    let mut out = BTreeMap::new();
    let mut todo = vec!["/".to_owned()];
    while let Some(path) = todo.pop() {
        let (_, body) = c
            .call(&Request::GetData(GetDataRequest {
                path: path.clone(),
                watch: false,
            }))
            .await
            .expect("getData");
        let Some(Response::GetData(d)) = body else {
            continue;
        };
        let (_, kids) = c
            .call(&Request::GetChildren(GetChildrenRequest {
                path: path.clone(),
                watch: false,
            }))
            .await
            .expect("getChildren");
        if let Some(Response::GetChildren(k)) = kids {
            for name in k.children {
                todo.push(if path == "/" {
                    format!("/{name}")
                } else {
                    format!("{path}/{name}")
                });
            }
        }
        out.insert(path, (d.data, d.stat.version, d.stat.aversion));
    }
    out
}

async fn start() -> (tempfile::TempDir, zk_server_mini::RunningServer) {
    let (dir, server) = start_mini(MiniServer::builder().max_client_cnxns(0)).await;
    let mut c = RawClient::connect(server.addr(), 10_000)
        .await
        .expect("connect");
    for p in ["/base", "/base/a", "/base/b"] {
        let req = Request::Create(CreateRequest {
            path: p.into(),
            data: Some(Bytes::from_static(b"v")),
            acl: Acl::open_unsafe(),
            flags: 0,
        });
        assert!(c.call(&req).await.expect("create").0.err.is_ok());
    }
    (dir, server)
}

async fn closed_without_reply(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(WAIT, stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_the_connection_and_change_nothing() {
    bounded(bad_frames_close_the_connection_and_change_nothing_body()).await;
}

async fn bad_frames_close_the_connection_and_change_nothing_body() {
    let (_dir, server) = start().await;
    let addr = server.addr();
    let before = fingerprint(addr).await;

    // Before the handshake: oversized, negative, garbage (an HTTP request), a getData frame,
    // a frame too short for a ConnectRequest, and a ConnectRequest with trailing junk.
    let mut get = BytesMut::new();
    (
        RequestHeader::new(1, OpCode::GetData),
        &Request::GetData(GetDataRequest {
            path: "/".into(),
            watch: false,
        }),
    )
        .encode(&mut get);
    let mut get_frame = BytesMut::new();
    get_frame.put_u32(get.len() as u32);
    get_frame.extend_from_slice(&get);
    let mut junk_connect = BytesMut::new();
    ConnectRequest::new_session(10_000).encode(&mut junk_connect);
    junk_connect.extend_from_slice(b"junk");
    let mut junk_frame = BytesMut::new();
    junk_frame.put_u32(junk_connect.len() as u32);
    junk_frame.extend_from_slice(&junk_connect);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("oversized first frame", 0x10_0000u32.to_be_bytes().to_vec()),
        ("negative length", (-5i32).to_be_bytes().to_vec()),
        (
            "http request",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        ("getData as first frame", get_frame.to_vec()),
        ("tiny first frame", vec![0, 0, 0, 2, 1, 2]),
        ("connect with trailing junk", junk_frame.to_vec()),
    ];
    for (name, bytes) in cases {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&bytes).await.expect("write");
        assert!(
            closed_without_reply(&mut s).await,
            "{name}: connection not closed"
        );
    }

    // After the handshake.
    let after_handshake: Vec<(&str, Vec<u8>)> = vec![
        ("oversized frame", 0x10_0000u32.to_be_bytes().to_vec()),
        ("negative frame", (-1i32).to_be_bytes().to_vec()),
        ("frame shorter than a header", vec![0, 0, 0, 3, 0, 0, 1]),
    ];
    for (name, bytes) in after_handshake {
        let mut c = RawClient::connect(addr, 10_000).await.expect("connect");
        c.send_raw(&bytes).await.expect("write");
        assert!(c.closed_within(WAIT).await, "{name}: connection not closed");
    }

    // A frame that promises more than it sends, then the client goes away.
    let mut c = RawClient::connect(addr, 10_000).await.expect("connect");
    c.send_raw(&[0, 0, 0, 100, 0, 0, 0, 1, 0, 0, 0, 1, 0])
        .await
        .expect("write");
    drop(c);

    // An accepted frame just under the limit and a rejected one just over it (PROTOCOL.md §1.3).
    let mut c = RawClient::connect(addr, 10_000).await.expect("connect");
    let big = Request::SetData(SetDataRequest {
        path: "/base/a".into(),
        data: Some(Bytes::from(vec![7u8; 1_048_000])),
        version: -1,
    });
    assert!(c.call(&big).await.expect("big setData").0.err.is_ok());
    let restore = Request::SetData(SetDataRequest {
        path: "/base/a".into(),
        data: Some(Bytes::from_static(b"v")),
        version: -1,
    });
    assert!(c.call(&restore).await.expect("restore").0.err.is_ok());
    let too_big = Request::SetData(SetDataRequest {
        path: "/base/a".into(),
        data: Some(Bytes::from(vec![7u8; 1_048_600])),
        version: -1,
    });
    let mut out = BytesMut::new();
    (RequestHeader::new(9, OpCode::SetData), &too_big).encode(&mut out);
    let mut frame = BytesMut::new();
    frame.put_u32(out.len() as u32);
    frame.extend_from_slice(&out);
    // The server may close while we are still writing: a failed write is a refusal too.
    let write = c.send_raw(&frame).await;
    assert!(
        write.is_err() || c.closed_within(WAIT).await,
        "oversized setData not refused"
    );

    let after = fingerprint(addr).await;
    // The two accepted setData calls bumped /base/a's version by 2; nothing else moved.
    let mut expected = before.clone();
    if let Some(v) = expected.get_mut("/base/a") {
        v.1 += 2;
    }
    assert_eq!(after, expected);
    assert!(server.is_running());
    server.stop().await;
}

fn body_of(req: &Request) -> Vec<u8> {
    let mut out = BytesMut::new();
    req.encode(&mut out);
    out.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_garbled_bodies_get_errors_not_changes() {
    bounded(truncated_and_garbled_bodies_get_errors_not_changes_body()).await;
}

async fn truncated_and_garbled_bodies_get_errors_not_changes_body() {
    let (_dir, server) = start().await;
    let addr = server.addr();
    let before = fingerprint(addr).await;
    let writes = vec![
        Request::Create(CreateRequest {
            path: "/base/new".into(),
            data: Some(Bytes::from_static(b"data")),
            acl: Acl::open_unsafe(),
            flags: 0,
        }),
        Request::SetData(SetDataRequest {
            path: "/base/a".into(),
            data: Some(Bytes::from_static(b"changed")),
            version: -1,
        }),
        Request::Delete(DeleteRequest {
            path: "/base/b".into(),
            version: -1,
        }),
        Request::SetAcl(SetAclRequest {
            path: "/base/a".into(),
            acl: Acl::read_unsafe(),
            version: -1,
        }),
        Request::Multi(MultiRequest {
            ops: vec![
                MultiOp::Create(CreateRequest {
                    path: "/base/m".into(),
                    data: None,
                    acl: Acl::open_unsafe(),
                    flags: 0,
                }),
                MultiOp::Delete(DeleteRequest {
                    path: "/base/b".into(),
                    version: -1,
                }),
            ],
        }),
    ];
    let mut c = RawClient::connect(addr, 10_000).await.expect("connect");
    let mut xid = 100;
    for req in &writes {
        let body = body_of(req);
        // Every proper prefix of the body: the request cannot be read, so nothing may happen.
        for cut in 0..body.len() {
            xid += 1;
            let mut frame = BytesMut::new();
            frame.put_u32((8 + cut) as u32);
            frame.put_i32(xid);
            frame.put_i32(req.op_code().into());
            frame.extend_from_slice(&body[..cut]);
            if c.send_raw(&frame).await.is_err() {
                c = RawClient::connect(addr, 10_000).await.expect("reconnect");
                continue;
            }
            match c.read_reply().await {
                Ok((h, _)) => {
                    assert_eq!(h.xid, xid);
                    assert!(!h.err.is_ok(), "{:?} cut at {cut} succeeded", req.op_code());
                }
                // A close is an acceptable answer too.
                Err(_) => c = RawClient::connect(addr, 10_000).await.expect("reconnect"),
            }
        }
    }
    // Pseudo-random garbage bodies under write opcodes, each on a fresh connection.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let ops = [
        1, 2, 5, 7, 13, 14, 15, 19, 21, 16, 20, 101, 105, 106, 22, 50, -10, 0,
    ];
    for i in 0..300 {
        let op = ops[(next() % ops.len() as u64) as usize];
        let len = (next() % 64) as usize;
        let body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let mut frame = BytesMut::new();
        frame.put_u32((8 + len) as u32);
        frame.put_i32(i);
        frame.put_i32(op);
        frame.extend_from_slice(&body);
        let mut g = RawClient::connect(addr, 10_000).await.expect("connect");
        g.send_raw(&frame).await.expect("write");
        let _ = tokio::time::timeout(WAIT, g.read_reply()).await;
    }
    assert_eq!(fingerprint(addr).await, before);
    assert!(server.is_running());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_and_kicks_the_live_connection() {
    bounded(wrong_password_is_refused_and_kicks_the_live_connection_body()).await;
}

async fn wrong_password_is_refused_and_kicks_the_live_connection_body() {
    let (_dir, server) = start().await;
    let addr = server.addr();
    let mut live = RawClient::connect(addr, 10_000).await.expect("connect");
    let mut req = ConnectRequest::new_session(10_000);
    req.session_id = live.session.session_id;
    req.passwd = Bytes::from_static(&[9; 16]);
    let (mut bad, resp) = RawClient::connect_with(addr, req).await.expect("connect");
    assert!(resp.is_expired(), "{resp:?}");
    assert_eq!(resp.session_id, 0);
    assert!(bad.closed_within(WAIT).await);
    // PROTOCOL.md §2.2.4: the old connection is closed before the password is checked...
    assert!(live.closed_within(WAIT).await);
    // ...but the session lives on for whoever has the right password.
    let mut req = ConnectRequest::new_session(10_000);
    req.session_id = live.session.session_id;
    req.passwd = live.session.passwd.clone();
    let (mut again, resp) = RawClient::connect_with(addr, req).await.expect("connect");
    assert_eq!(resp.session_id, live.session.session_id);
    assert!(
        again
            .call(&Request::Ping)
            .await
            .expect("ping")
            .0
            .err
            .is_ok()
    );
    // An unknown auth scheme: AuthFailed, then the connection is closed.
    let (h, _) = again
        .call(&Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "nope".into(),
            auth: Bytes::new(),
        }))
        .await
        .expect("auth");
    assert_eq!((h.xid, h.zxid, h.err), (-4, 0, ErrorCode::AuthFailed));
    assert!(again.closed_within(WAIT).await);
    server.stop().await;
}
