//! Limits, backpressure and ordering of zk-server-mini: `maxClientCnxns`, floods of
//! connections and requests, concurrent writers, FIFO replies with reads queued behind the
//! session's writes, and notifications before the reply of the write that caused them.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpStream;
use zk_integration_tests::mini::{bounded, start_mini};
use zk_proto::acl::Acl;
use zk_proto::*;
use zk_server_mini::MiniServer;
use zk_server_mini::testing::RawClient;

fn create(path: &str) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(Bytes::from_static(b"x")),
        acl: Acl::open_unsafe(),
        flags: 0,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_client_cnxns_is_enforced_per_address() {
    bounded(max_client_cnxns_is_enforced_per_address_body()).await;
}

async fn max_client_cnxns_is_enforced_per_address_body() {
    let (_dir, server) = start_mini(MiniServer::builder().max_client_cnxns(3)).await;
    let addr = server.addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            RawClient::connect(addr, 10_000)
                .await
                .expect("within the limit"),
        );
    }
    assert!(
        RawClient::connect(addr, 10_000).await.is_err(),
        "a fourth connection from the same address must be refused"
    );
    drop(held.pop());
    // The slot frees once the server notices the close.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if RawClient::connect(addr, 10_000).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "slot was not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_do_not_take_the_server_down() {
    bounded(floods_do_not_take_the_server_down_body()).await;
}

async fn floods_do_not_take_the_server_down_body() {
    let (_dir, server) = start_mini(MiniServer::builder().max_client_cnxns(0)).await;
    let addr = server.addr();
    // 300 idle connections that never say anything.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // A client that pipelines 30000 reads and never reads a reply.
    let mut flooder = RawClient::connect(addr, 10_000).await.expect("connect");
    assert!(
        flooder
            .call(&create("/big"))
            .await
            .expect("create")
            .0
            .err
            .is_ok()
    );
    let set = Request::SetData(SetDataRequest {
        path: "/big".into(),
        data: Some(Bytes::from(vec![1u8; 4096])),
        version: -1,
    });
    assert!(flooder.call(&set).await.expect("set").0.err.is_ok());
    let flood = tokio::spawn(async move {
        let get = Request::GetData(GetDataRequest {
            path: "/big".into(),
            watch: false,
        });
        for i in 0..30_000 {
            // The server stops reading this socket when it is saturated; give up then.
            let sent =
                tokio::time::timeout(Duration::from_secs(2), flooder.send(i + 10, &get)).await;
            if !matches!(sent, Ok(Ok(()))) {
                break;
            }
        }
        flooder
    });
    // A client that pipelines write/read pairs (each read must wait for its write) without
    // reading replies: the server's backlog stays bounded and it stops reading this socket.
    let mut pairs = RawClient::connect(addr, 10_000).await.expect("connect");
    let pair_flood = tokio::spawn(async move {
        for i in 0..20_000 {
            let path = format!("/pair{i}");
            let w = tokio::time::timeout(
                Duration::from_secs(2),
                pairs.send(2 * i + 1, &create(&path)),
            )
            .await;
            let exists = Request::Exists(ExistsRequest { path, watch: false });
            let r =
                tokio::time::timeout(Duration::from_secs(2), pairs.send(2 * i + 2, &exists)).await;
            if !matches!((w, r), (Ok(Ok(())), Ok(Ok(())))) {
                break;
            }
        }
        pairs
    });
    // Meanwhile an ordinary client is served promptly.
    let mut c = RawClient::connect(addr, 10_000)
        .await
        .expect("connect during the flood");
    for i in 0..50 {
        let start = Instant::now();
        let (h, _) = c
            .call(&create(&format!("/ok{i}")))
            .await
            .expect("create during flood");
        assert!(h.err.is_ok());
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "starved: {:?}",
            start.elapsed()
        );
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), flood).await;
    let _ = tokio::time::timeout(Duration::from_secs(60), pair_flood).await;
    drop(idle);
    assert!(server.is_running());
    let (h, _) = c.call(&Request::Ping).await.expect("ping after the flood");
    assert!(h.err.is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_fifo_replies_and_a_total_order() {
    bounded(concurrent_writers_get_fifo_replies_and_a_total_order_body()).await;
}

async fn concurrent_writers_get_fifo_replies_and_a_total_order_body() {
    let (_dir, server) = start_mini(
        MiniServer::builder()
            .max_client_cnxns(0)
            .four_letter_words(&["mntr"]),
    )
    .await;
    let addr = server.addr();
    let mut tasks = Vec::new();
    for w in 0..16 {
        tasks.push(tokio::spawn(async move {
            let mut c = RawClient::connect(addr, 10_000).await.expect("connect");
            // Pipeline: create, then read it back, 100 times, before reading any reply.
            for i in 0..100 {
                let path = format!("/w{w}-{i}");
                c.send(2 * i + 1, &create(&path)).await.expect("send");
                c.send(
                    2 * i + 2,
                    &Request::Exists(ExistsRequest { path, watch: false }),
                )
                .await
                .expect("send");
            }
            let mut last_zxid = 0;
            for i in 0..100 {
                let (h, _) = c.read_reply().await.expect("create reply");
                assert_eq!(h.xid, 2 * i + 1, "FIFO");
                assert!(h.err.is_ok());
                assert!(h.zxid > last_zxid, "zxids grow per session");
                last_zxid = h.zxid;
                // The read was queued behind this session's write: it sees the node.
                let (h, _) = c.read_reply().await.expect("exists reply");
                assert_eq!(h.xid, 2 * i + 2, "FIFO");
                assert!(h.err.is_ok(), "read did not see the session's own write");
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("writers timed out")
            .expect("writer panicked");
    }
    let mut c = RawClient::connect(addr, 10_000).await.expect("connect");
    let (_, body) = c
        .call(&Request::GetAllChildrenNumber(
            GetAllChildrenNumberRequest { path: "/".into() },
        ))
        .await
        .expect("count");
    // 1600 nodes plus /zookeeper, /zookeeper/quota, /zookeeper/config.
    assert!(matches!(body, Some(Response::GetAllChildrenNumber(n)) if n.total_number == 1603));
    // Group commit: concurrent writes share fsyncs.
    let mntr = zk_integration_tests::four_letter_word(addr, "mntr")
        .await
        .expect("mntr");
    let value = |key: &str| -> u64 {
        mntr.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {mntr}"))
    };
    let (syncs, txns) = (value("zk_log_sync_count"), value("zk_logged_txn_count"));
    assert!(txns >= 1617, "{txns} transactions logged");
    assert!(
        syncs < txns,
        "no batching: {syncs} fsyncs for {txns} transactions"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_come_before_the_reply_that_caused_them() {
    bounded(notifications_come_before_the_reply_that_caused_them_body()).await;
}

async fn notifications_come_before_the_reply_that_caused_them_body() {
    let (_dir, server) = start_mini(MiniServer::builder()).await;
    let mut c = RawClient::connect(server.addr(), 10_000)
        .await
        .expect("connect");
    assert!(c.call(&create("/p")).await.expect("create").0.err.is_ok());
    let (h, _) = c
        .call(&Request::GetData(GetDataRequest {
            path: "/p".into(),
            watch: true,
        }))
        .await
        .expect("getData");
    assert!(h.err.is_ok());
    let set = Request::SetData(SetDataRequest {
        path: "/p".into(),
        data: None,
        version: -1,
    });
    c.send(50, &set).await.expect("send");
    // The very next frame is the notification, then the reply.
    let frame = c.read_frame().await.expect("frame").expect("open");
    assert_eq!(
        &frame[..4],
        &(-1i32).to_be_bytes(),
        "first frame must be the event"
    );
    let (h, _) = c.read_reply().await.expect("reply");
    assert_eq!(h.xid, 50);
    // Persistent recursive watch: the closing session hears about its own ephemeral's deletion.
    let (h, _) = c
        .call(&Request::AddWatch(AddWatchRequest {
            path: "/p".into(),
            mode: 1,
        }))
        .await
        .expect("addWatch");
    assert!(h.err.is_ok());
    let eph = Request::Create(CreateRequest {
        flags: 1,
        ..match create("/p/e") {
            Request::Create(r) => r,
            _ => unreachable!(),
        }
    });
    assert!(c.call(&eph).await.expect("create eph").0.err.is_ok());
    c.events.clear();
    let (h, _) = c.call(&Request::CloseSession).await.expect("close");
    assert!(h.err.is_ok());
    assert_eq!(c.events.len(), 1, "{:?}", c.events);
    assert_eq!(
        (c.events[0].event_type, c.events[0].path.as_str()),
        (EventType::NodeDeleted, "/p/e")
    );
    assert!(c.closed_within(Duration::from_secs(5)).await);
    server.stop().await;
}
