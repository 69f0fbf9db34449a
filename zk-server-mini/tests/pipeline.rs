//! The log stage is pipelined (reads and prep go on while a batch is fsynced): under many
//! concurrent pipelining clients, every connection still gets its replies in request order,
//! reads its own writes, and the zxids of its writes only go up.

use std::time::Duration;

use bytes::Bytes;
use zk_proto::acl::Acl;
use zk_proto::jute::{Decode, JuteReader};
use zk_proto::{CreateRequest, GetDataRequest, GetDataResponse, Request, SetDataRequest, Stat};
use zk_server_mini::MiniServer;
use zk_server_mini::testing::RawClient;

const CLIENTS: usize = 6;
const ROUNDS: i32 = 150;

async fn client(addr: std::net::SocketAddr, me: usize) {
    let mut c = RawClient::connect(addr, 10_000)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let path = format!("/p{me}");
    let (h, _) = c
        .call(&Request::Create(CreateRequest {
            path: path.clone(),
            data: Some(Bytes::from_static(b"0")),
            acl: Acl::open_unsafe(),
            flags: 0,
        }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(h.err.is_ok(), "{:?}", h.err);
    // Pipeline everything: setData i, getData (must see i), getData of a neighbour.
    let other = format!("/p{}", (me + 1) % CLIENTS);
    let mut xid = 100;
    for i in 1..=ROUNDS {
        let set = Request::SetData(SetDataRequest {
            path: path.clone(),
            data: Some(Bytes::from(i.to_string())),
            version: i - 1,
        });
        c.send(xid, &set).await.unwrap_or_else(|e| panic!("{e}"));
        let get = |p: &str| {
            Request::GetData(GetDataRequest {
                path: p.into(),
                watch: false,
            })
        };
        c.send(xid + 1, &get(&path))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        c.send(xid + 2, &get(&other))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        xid += 3;
    }
    let mut last_write_zxid = 0;
    let mut expect = 100;
    for i in 1..=ROUNDS {
        let (h, body) = c.read_reply().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.xid, expect, "replies out of order");
        assert!(h.err.is_ok(), "setData {i}: {:?}", h.err);
        let stat = Stat::decode(&mut JuteReader::new(body)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stat.version, i);
        assert!(h.zxid > last_write_zxid, "write zxids must grow");
        last_write_zxid = h.zxid;
        let (h, body) = c.read_reply().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.xid, expect + 1, "replies out of order");
        assert!(
            h.zxid >= last_write_zxid,
            "a read after a write sees it applied"
        );
        let data =
            GetDataResponse::decode(&mut JuteReader::new(body)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data.data.as_deref(), Some(i.to_string().as_bytes()));
        let (h, _) = c.read_reply().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.xid, expect + 2, "replies out of order");
        expect += 3;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pipelining_clients_keep_fifo_and_read_their_writes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = MiniServer::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = server.addr();
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut tasks = Vec::new();
        for me in 0..CLIENTS {
            tasks.push(tokio::spawn(client(addr, me)));
        }
        for t in tasks {
            t.await.unwrap_or_else(|e| panic!("{e}"));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out"));
    let expected = 1 + CLIENTS as i64 * (1 + i64::from(ROUNDS)); // sessions + creates + sets
    assert!(server.last_zxid().await >= expected);
    // Everything acknowledged is durable and replays to the same state.
    let server = server.restart().await.unwrap_or_else(|e| panic!("{e}"));
    let mut c = RawClient::connect(server.addr(), 10_000)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for me in 0..CLIENTS {
        let (h, body) = c
            .call(&Request::GetData(GetDataRequest {
                path: format!("/p{me}"),
                watch: false,
            }))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(h.err.is_ok());
        let Some(zk_proto::Response::GetData(d)) = body else {
            panic!("no data");
        };
        assert_eq!(d.data.as_deref(), Some(ROUNDS.to_string().as_bytes()));
    }
    server.stop().await;
}

/// While one session's write is being fsynced (slowly), another session's reads and writes
/// are taken in: reads are answered at once, and its write joins the next batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_other_sessions_are_served_during_a_slow_fsync() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let delay = Duration::from_millis(600);
    let server = MiniServer::builder()
        .data_dir(dir.path())
        .log_sync_delay(delay)
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut a = RawClient::connect(server.addr(), 10_000)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut b = RawClient::connect(server.addr(), 10_000)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let create = Request::Create(CreateRequest {
        path: "/slow".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 0,
    });
    let started = std::time::Instant::now();
    a.send(1, &create).await.unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // b's read does not wait for a's fsync, and does not see the unacknowledged node.
    let (h, _) = b
        .call(&Request::GetData(GetDataRequest {
            path: "/slow".into(),
            watch: false,
        }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let read_took = started.elapsed();
    assert_eq!(h.err, zk_proto::ErrorCode::NoNode);
    assert!(
        read_took < delay - Duration::from_millis(200),
        "the read waited for the fsync: {read_took:?}"
    );
    let (h, _) = a.read_reply().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(h.err.is_ok());
    assert!(
        started.elapsed() >= delay,
        "acknowledged before the log write ended"
    );
    server.stop().await;
}
