//! Followers serve their own clients: sessions, reads and watches are local, writes go to the
//! leader and are answered by the member the client is connected to once applied there.
//! Sessions move between members with their ephemerals and (re-sent) watches; a member cut
//! off from its leader closes its clients; a member behind a client's last zxid refuses it;
//! `sync()` makes a lagging follower's next read current; the leader alone expires sessions,
//! kept alive by the pings a follower forwards. An observer serves its clients the same way.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use zk_proto::acl::Acl;
use zk_proto::{
    ConnectRequest, CreateRequest, ErrorCode, EventType, ExistsRequest, GetDataRequest, Request,
    Response, SetDataRequest, SetWatches, SyncRequest,
};
use zk_server_mini::cluster::TestCluster;
use zk_server_mini::testing::RawClient;

const WAIT: Duration = Duration::from_secs(30);
/// 200 ms ticks: sessions may last 400 ms to 4 s (2 to 20 ticks).
const TICK_MS: u64 = 200;

fn create(path: &str, data: &str, ephemeral: bool) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data.as_bytes())),
        acl: Acl::open_unsafe(),
        flags: if ephemeral { 1 } else { 0 },
    })
}

fn get(path: &str, watch: bool) -> Request {
    Request::GetData(GetDataRequest {
        path: path.into(),
        watch,
    })
}

fn set(path: &str, data: &str) -> Request {
    Request::SetData(SetDataRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data.as_bytes())),
        version: -1,
    })
}

fn exists(path: &str, watch: bool) -> Request {
    Request::Exists(ExistsRequest {
        path: path.into(),
        watch,
    })
}

fn sync(path: &str) -> Request {
    Request::Sync(SyncRequest { path: path.into() })
}

async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(150), test)
        .await
        .expect("test timed out");
}

async fn cluster() -> (TestCluster, u64, Vec<u64>) {
    let cluster = TestCluster::builder(3)
        .tick_ms(TICK_MS)
        .start()
        .await
        .expect("a cluster");
    let leader = cluster.leader(WAIT).await.expect("a leader");
    let followers: Vec<u64> = cluster.ids().into_iter().filter(|i| *i != leader).collect();
    // `leader` waits for a quorum only: the other member may still be syncing. Each serves
    // once it gives a client a session.
    let deadline = tokio::time::Instant::now() + WAIT;
    for f in &followers {
        loop {
            if let Ok(mut c) = RawClient::connect(cluster.client_addr(*f), 4000).await {
                let (h, _) = c.call(&Request::CloseSession).await.expect("close");
                assert_eq!(h.err, ErrorCode::Ok);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "member {f} never served"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    (cluster, leader, followers)
}

/// The data of `path` as `c` reads it (`None`: no such node).
async fn read(c: &mut RawClient, path: &str) -> Option<(Bytes, i64)> {
    let (h, body) = c.call(&get(path, false)).await.expect("getData");
    match body {
        Some(Response::GetData(r)) => Some((r.data.unwrap_or_default(), r.stat.ephemeral_owner)),
        _ => {
            assert_eq!(h.err, ErrorCode::NoNode, "getData {path}");
            None
        }
    }
}

/// Pings until a notification arrives (pings keep the session alive meanwhile).
async fn next_event(c: &mut RawClient) -> zk_proto::WatcherEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    while c.events.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no notification");
        let (h, _) = c.call(&Request::Ping).await.expect("ping");
        assert_eq!(h.err, ErrorCode::Ok);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.events.remove(0)
}

/// Resumes `old`'s session at the first of `addrs` that takes it (each tried again while it
/// refuses: a member may be between leaders for a moment on a busy machine).
async fn resume_somewhere(
    addrs: &[SocketAddr],
    old: &zk_proto::ConnectResponse,
    last_zxid: i64,
) -> RawClient {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        for addr in addrs {
            if let Ok((c, resp)) = resume(*addr, old, last_zxid).await {
                assert!(!resp.is_expired(), "the session expired");
                return c;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no member took the session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Resumes `old`'s session at `addr`, having seen `last_zxid`.
async fn resume(
    addr: SocketAddr,
    old: &zk_proto::ConnectResponse,
    last_zxid: i64,
) -> std::io::Result<(RawClient, zk_proto::ConnectResponse)> {
    let request = ConnectRequest {
        session_id: old.session_id,
        passwd: old.passwd.clone(),
        last_zxid_seen: last_zxid,
        ..ConnectRequest::new_session(old.timeout_ms)
    };
    RawClient::connect_with(addr, request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_a_follower_gets_a_session_writes_and_reads_its_writes() {
    bounded(async {
        let (cluster, leader, followers) = cluster().await;
        for f in &followers {
            let mut c = RawClient::connect(cluster.client_addr(*f), 4000)
                .await
                .expect("a session at a follower");
            // The follower chose the session id: its own id in the high byte.
            assert_eq!((c.session.session_id >> 56) as u64, *f);
            let path = format!("/via{f}");
            let (h, _) = c.call(&create(&path, "v1", false)).await.expect("create");
            assert_eq!(h.err, ErrorCode::Ok, "create through follower {f}");
            assert_eq!(read(&mut c, &path).await, Some(("v1".into(), 0)));
            let (h, _) = c.call(&set(&path, "v2")).await.expect("setData");
            assert_eq!(h.err, ErrorCode::Ok);
            assert_eq!(read(&mut c, &path).await, Some(("v2".into(), 0)));
            // A failed write is answered in order with the session's others.
            c.send(100, &create(&path, "dup", false))
                .await
                .expect("send");
            c.send(101, &get(&path, false)).await.expect("send");
            let (h, _) = c.read_reply().await.expect("reply");
            assert_eq!((h.xid, h.err), (100, ErrorCode::NodeExists));
            let (h, _) = c.read_reply().await.expect("reply");
            assert_eq!((h.xid, h.err), (101, ErrorCode::Ok));
            // The leader has it too.
            let mut l = RawClient::connect(cluster.client_addr(leader), 4000)
                .await
                .expect("a session at the leader");
            assert_eq!(read(&mut l, &path).await, Some(("v2".into(), 0)));
        }
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followers_client_writes_under_its_own_identity() {
    bounded(async {
        let (cluster, leader, followers) = cluster().await;
        let (f2, f3) = (followers[0], followers[1]);
        let mut owner = RawClient::connect(cluster.client_addr(f2), 4000)
            .await
            .expect("ok");
        let auth = zk_proto::AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: Bytes::from_static(b"alice:secret"),
        };
        let (h, _) = owner.call(&Request::Auth(auth)).await.expect("auth");
        assert_eq!(h.err, ErrorCode::Ok);
        // `auth` ACLs need the creator's identities: the leader prepares it under them.
        let mine = Request::Create(CreateRequest {
            path: "/mine".into(),
            data: None,
            acl: Acl::creator_all(),
            flags: 0,
        });
        let (h, _) = owner.call(&mine).await.expect("create");
        assert_eq!(h.err, ErrorCode::Ok);
        let (h, _) = owner.call(&set("/mine", "by alice")).await.expect("set");
        assert_eq!(h.err, ErrorCode::Ok);
        for id in [f3, leader] {
            let mut other = RawClient::connect(cluster.client_addr(id), 4000)
                .await
                .expect("ok");
            let (h, _) = other.call(&set("/mine", "by someone")).await.expect("set");
            assert_eq!(h.err, ErrorCode::NoAuth, "a stranger at member {id}");
        }
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_follower_fires_a_watch_set_at_another() {
    bounded(async {
        let (cluster, _leader, followers) = cluster().await;
        let (f2, f3) = (followers[0], followers[1]);
        let mut writer = RawClient::connect(cluster.client_addr(f2), 4000)
            .await
            .expect("ok");
        let mut watcher = RawClient::connect(cluster.client_addr(f3), 4000)
            .await
            .expect("ok");
        let (h, _) = writer.call(&create("/w", "0", false)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        let (h, _) = watcher.call(&sync("/w")).await.expect("sync");
        assert_eq!(h.err, ErrorCode::Ok);
        let (h, _) = watcher.call(&get("/w", true)).await.expect("watch");
        assert_eq!(h.err, ErrorCode::Ok);
        let (h, _) = watcher
            .call(&exists("/w/child", true))
            .await
            .expect("watch");
        assert_eq!(h.err, ErrorCode::NoNode);
        let (h, _) = writer.call(&set("/w", "1")).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        let e = next_event(&mut watcher).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeDataChanged, "/w")
        );
        let (h, _) = writer
            .call(&create("/w/child", "", false))
            .await
            .expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        let e = next_event(&mut watcher).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeCreated, "/w/child")
        );
        // The notification came before the data it announces can be read there.
        assert_eq!(read(&mut watcher, "/w").await, Some(("1".into(), 0)));
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_moves_between_followers_with_its_ephemeral_and_watch() {
    bounded(async {
        let (cluster, leader, followers) = cluster().await;
        let (f2, f3) = (followers[0], followers[1]);
        let mut c = RawClient::connect(cluster.client_addr(f2), 4000)
            .await
            .expect("ok");
        let sid = c.session.session_id;
        let (h, _) = c.call(&create("/e", "mine", true)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        let (h, _) = c.call(&exists("/x", true)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::NoNode);
        let last = h.zxid;
        cluster.drop_connections(f2).await;
        assert!(c.closed_within(WAIT).await);
        // The client moves on to the next member with its session, and re-sends its watches.
        let mut moved = resume_somewhere(&[cluster.client_addr(f3)], &c.session, last).await;
        assert_eq!(moved.session.session_id, sid, "the same session");
        let watches = SetWatches {
            relative_zxid: last,
            data_watches: Vec::new(),
            exist_watches: vec!["/x".into()],
            child_watches: Vec::new(),
        };
        let (h, _) = moved
            .call(&Request::SetWatches(watches))
            .await
            .expect("setWatches");
        assert_eq!(h.err, ErrorCode::Ok);
        assert_eq!(read(&mut moved, "/e").await, Some(("mine".into(), sid)));
        let mut other = RawClient::connect(cluster.client_addr(leader), 4000)
            .await
            .expect("ok");
        let (h, _) = other.call(&create("/x", "", false)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        let e = next_event(&mut moved).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeCreated, "/x")
        );
        // Its writes go on from the new member.
        let (h, _) = moved.call(&create("/e2", "", true)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        assert_eq!(read(&mut other, "/e2").await.map(|r| r.1), Some(sid));
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cut_off_from_the_quorum_closes_its_clients_who_continue_elsewhere() {
    bounded(async {
        let (mut cluster, leader, followers) = cluster().await;
        let (f2, f3) = (followers[0], followers[1]);
        let mut c = RawClient::connect(cluster.client_addr(f2), 4000)
            .await
            .expect("ok");
        let (h, _) = c.call(&create("/cut", "", true)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        let last = h.zxid;
        // Peer traffic only: the member itself must notice and close its clients.
        cluster.partition(&[f2], false).await;
        assert!(
            c.closed_within(WAIT).await,
            "the cut-off member closed its client"
        );
        // It refuses new clients while it follows no one.
        let refused = RawClient::connect(cluster.client_addr(f2), 4000).await;
        assert!(refused.is_err(), "a member without a leader serves no one");
        let others = [cluster.client_addr(f3), cluster.client_addr(leader)];
        let mut moved = resume_somewhere(&others, &c.session, last).await;
        assert_eq!(
            read(&mut moved, "/cut").await.map(|r| r.1),
            Some(c.session.session_id)
        );
        cluster.heal();
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_ahead_of_a_lagging_member_is_refused_there_and_continues_elsewhere() {
    bounded(async {
        let (cluster, _leader, followers) = cluster().await;
        let (f2, f3) = (followers[0], followers[1]);
        let mut c = RawClient::connect(cluster.client_addr(f2), 4000)
            .await
            .expect("ok");
        let mut refused = false;
        let mut last = 0;
        for i in 0..5 {
            // Member 3 stands still while a write commits without it; the client, which saw
            // that write, knocks while it is still behind.
            cluster.pause(f3);
            let (h, _) = c
                .call(&create(&format!("/lag{i}"), "", false))
                .await
                .expect("ok");
            assert_eq!(h.err, ErrorCode::Ok);
            last = h.zxid;
            let addr = cluster.client_addr(f3);
            let session = c.session.clone();
            let attempt = tokio::spawn(async move { resume(addr, &session, last).await });
            // Its handshake reaches the member's queue before the member moves again.
            tokio::time::sleep(Duration::from_millis(500)).await;
            cluster.resume(f3);
            match attempt.await.expect("the attempt") {
                Err(_) => {
                    // For being behind: it serves a client that saw nothing newer.
                    let fresh = RawClient::connect(cluster.client_addr(f3), 4000).await;
                    assert!(fresh.is_ok(), "member 3 serves");
                    refused = true;
                    break;
                }
                // Accepted: the member had caught up first (a slow handshake); try again.
                Ok((mut moved, resp)) => {
                    assert!(!resp.is_expired());
                    assert!(read(&mut moved, &format!("/lag{i}")).await.is_some());
                }
            }
        }
        assert!(refused, "member 3 served a client ahead of it");
        // The client continues at another member with everything it saw.
        let mut back = resume_somewhere(&[cluster.client_addr(f2)], &c.session, last).await;
        assert!(read(&mut back, "/lag0").await.is_some());
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_then_read_on_a_lagging_follower_returns_the_latest_write() {
    bounded(async {
        let (mut cluster, _leader, followers) = cluster().await;
        let (f2, f3) = (followers[0], followers[1]);
        let mut writer = RawClient::connect(cluster.client_addr(f2), 4000)
            .await
            .expect("ok");
        let mut reader = RawClient::connect(cluster.client_addr(f3), 4000)
            .await
            .expect("ok");
        let (h, _) = writer.call(&create("/k", "0", false)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        cluster.slow_disk(f3, Duration::from_millis(300));
        for i in 1..=5 {
            let value = i.to_string();
            let (h, _) = writer.call(&set("/k", &value)).await.expect("ok");
            assert_eq!(h.err, ErrorCode::Ok);
            let (h, _) = reader.call(&sync("/k")).await.expect("sync");
            assert_eq!(h.err, ErrorCode::Ok);
            assert_eq!(read(&mut reader, "/k").await, Some((value.into(), 0)));
        }
        cluster.slow_disk(f3, Duration::ZERO);
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_client_that_pings_outlives_its_timeout_and_a_silent_one_expires() {
    bounded(async {
        let (cluster, leader, followers) = cluster().await;
        let (f2, f3) = (followers[0], followers[1]);
        // 4 s (twenty ticks) for the one that pings, 2 s (ten) for the silent one.
        let mut live = RawClient::connect(cluster.client_addr(f2), 4000)
            .await
            .expect("ok");
        let mut silent = RawClient::connect(cluster.client_addr(f3), 2000)
            .await
            .expect("ok");
        assert_eq!(
            (live.session.timeout_ms, silent.session.timeout_ms),
            (4000, 2000)
        );
        let (h, _) = live.call(&create("/live", "", true)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        let (h, _) = silent.call(&create("/silent", "", true)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        let mut observer = RawClient::connect(cluster.client_addr(leader), 4000)
            .await
            .expect("ok");
        // The silent session goes: its ephemeral disappears for every member, and its
        // member closes its connection.
        let deadline = tokio::time::Instant::now() + WAIT;
        while read(&mut observer, "/silent").await.is_some() {
            assert!(tokio::time::Instant::now() < deadline, "never expired");
            let (h, _) = live.call(&Request::Ping).await.expect("ping");
            assert_eq!(h.err, ErrorCode::Ok);
            let (h, _) = observer.call(&Request::Ping).await.expect("ping");
            assert_eq!(h.err, ErrorCode::Ok);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(silent.closed_within(WAIT).await);
        // Meanwhile, and for two more timeouts, the pinging one lived on.
        for _ in 0..40 {
            let (h, _) = live.call(&Request::Ping).await.expect("ping");
            assert_eq!(h.err, ErrorCode::Ok);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (h, _) = live.call(&sync("/live")).await.expect("sync");
        assert_eq!(h.err, ErrorCode::Ok);
        assert_eq!(
            read(&mut live, "/live").await.map(|r| r.1),
            Some(live.session.session_id)
        );
        for id in [f2, f3, leader] {
            let mut c = RawClient::connect(cluster.client_addr(id), 4000)
                .await
                .expect("ok");
            let (h, _) = c.call(&sync("/")).await.expect("sync");
            assert_eq!(h.err, ErrorCode::Ok);
            assert!(read(&mut c, "/silent").await.is_none(), "member {id}");
            assert!(read(&mut c, "/live").await.is_some(), "member {id}");
        }
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_serves_its_clients_as_a_follower_does() {
    bounded(async {
        let cluster = TestCluster::builder(3)
            .tick_ms(TICK_MS)
            .observers(1)
            .start()
            .await
            .expect("a cluster");
        let leader = cluster.leader(WAIT).await.expect("a leader");
        let observer = 4;
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut c = loop {
            if let Ok(c) = RawClient::connect(cluster.client_addr(observer), 4000).await {
                break c;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the observer never served"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!((c.session.session_id >> 56) as u64, observer);
        let (h, _) = c.call(&create("/o", "0", true)).await.expect("create");
        assert_eq!(h.err, ErrorCode::Ok);
        assert_eq!(
            read(&mut c, "/o").await,
            Some(("0".into(), c.session.session_id))
        );
        let (h, _) = c.call(&get("/o", true)).await.expect("watch");
        assert_eq!(h.err, ErrorCode::Ok);
        let mut other = RawClient::connect(cluster.client_addr(leader), 4000)
            .await
            .expect("ok");
        let (h, _) = other.call(&set("/o", "1")).await.expect("set");
        assert_eq!(h.err, ErrorCode::Ok);
        let e = next_event(&mut c).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeDataChanged, "/o")
        );
        assert_eq!(read(&mut c, "/o").await.map(|r| r.0), Some("1".into()));
        cluster.stop().await;
    })
    .await;
}
