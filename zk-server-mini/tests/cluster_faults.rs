//! `TestCluster`'s fault knobs, on an in-process ensemble and on one of child processes of
//! the binary: expiring a session (its ephemeral goes, its client is told), dropping client
//! connections (the session lives on), a slow disk (writes still commit, later), a frozen
//! leader (replaced; it rejoins when resumed); and a partitioned member in read-only mode (it
//! serves read-only sessions until it rejoins).

use std::time::Duration;

use zk_proto::acl::Acl;
use zk_proto::{ConnectRequest, CreateRequest, ErrorCode, GetDataRequest, Request};
use zk_server_mini::cluster::TestCluster;
use zk_server_mini::testing::RawClient;

const WAIT: Duration = Duration::from_secs(30);

fn create(path: &str, flags: i32) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags,
    })
}

fn get(path: &str) -> Request {
    Request::GetData(GetDataRequest {
        path: path.into(),
        watch: false,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_demand_in_process() {
    faults_on_demand(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_demand_child_processes() {
    faults_on_demand(true).await;
}

async fn faults_on_demand(processes: bool) {
    let test = async {
        let mut builder = TestCluster::builder(3).tick_ms(50);
        if processes {
            builder = builder.processes(env!("CARGO_BIN_EXE_zk-server-mini"));
        }
        let mut cluster = builder.start().await.expect("start");
        let leader = cluster.leader(WAIT).await.expect("a leader");
        let mut c = RawClient::connect(cluster.client_addr(leader), 10_000)
            .await
            .expect("connect");
        let (h, _) = c.call(&create("/eph", 1)).await.expect("create");
        assert_eq!(h.err, ErrorCode::Ok);

        // Dropped connections: the session survives a reconnect.
        assert!(cluster.drop_connections(leader).await >= 1);
        assert!(c.closed_within(Duration::from_secs(5)).await);
        let mut req = ConnectRequest::new_session(10_000);
        req.session_id = c.session.session_id;
        req.passwd = c.session.passwd.clone();
        let (mut c, resp) = RawClient::connect_with(cluster.client_addr(leader), req)
            .await
            .expect("reconnect");
        assert_eq!(resp.session_id, c.session.session_id);
        let (h, _) = c.call(&get("/eph")).await.expect("get");
        assert_eq!(
            h.err,
            ErrorCode::Ok,
            "the ephemeral outlives a dropped connection"
        );

        // Expiry: the ephemeral goes and the client is cut off.
        assert!(cluster.expire_session(resp.session_id).await);
        assert!(c.closed_within(Duration::from_secs(5)).await);
        let mut other = RawClient::connect(cluster.client_addr(leader), 10_000)
            .await
            .expect("connect");
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let (h, _) = other.call(&get("/eph")).await.expect("get");
            if h.err == ErrorCode::NoNode {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "ephemeral still there"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // A slow disk on every member: writes still commit.
        for id in cluster.ids() {
            cluster.slow_disk(id, Duration::from_millis(30));
        }
        for i in 0..5 {
            let (h, _) = other
                .call(&create(&format!("/slow{i}"), 0))
                .await
                .expect("create");
            assert_eq!(h.err, ErrorCode::Ok);
        }
        for id in cluster.ids() {
            cluster.slow_disk(id, Duration::ZERO);
        }

        // A frozen leader is replaced; resumed, it follows.
        cluster.pause(leader);
        let deadline = std::time::Instant::now() + WAIT;
        let next = loop {
            let mut found = None;
            for id in cluster.ids().into_iter().filter(|i| *i != leader) {
                if cluster.mode(id).await.as_deref() == Some("leader") {
                    found = Some(id);
                }
            }
            if let Some(id) = found {
                break id;
            }
            assert!(std::time::Instant::now() < deadline, "no new leader");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        cluster.resume(leader);
        assert_eq!(cluster.leader(WAIT).await, Some(next));
        let deadline = std::time::Instant::now() + WAIT;
        while cluster.mode(leader).await.as_deref() != Some("follower") {
            assert!(
                std::time::Instant::now() < deadline,
                "the old leader never follows"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cluster.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("test timed out");
}

/// Polls `isro` at member `id` until it answers `want`.
async fn wait_isro(cluster: &TestCluster, id: u64, want: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let answer = zk_server_mini::cluster::four_letter(cluster.client_addr(id), "isro").await;
        if answer.as_deref() == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "member {id} never said {want} (last: {answer:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_member_in_read_only_mode_serves_reads_until_it_rejoins() {
    let test = async {
        let mut cluster = TestCluster::builder(3)
            .tick_ms(50)
            .read_only_mode(true)
            .start()
            .await
            .expect("start");
        let leader = cluster.leader(WAIT).await.expect("a leader");
        let cut = cluster
            .ids()
            .into_iter()
            .find(|i| *i != leader)
            .expect("a follower");
        let mut writer = RawClient::connect(cluster.client_addr(leader), 10_000)
            .await
            .expect("connect");
        let (h, _) = writer.call(&create("/before", 0)).await.expect("create");
        assert_eq!(h.err, ErrorCode::Ok);
        // The member about to be cut off has applied it (a sync there waits for it).
        let mut at_cut = RawClient::connect(cluster.client_addr(cut), 10_000)
            .await
            .expect("connect");
        let sync = Request::Sync(zk_proto::SyncRequest { path: "/".into() });
        at_cut.call(&sync).await.expect("sync");
        assert_eq!(
            at_cut.call(&get("/before")).await.expect("get").0.err,
            ErrorCode::Ok
        );

        cluster.partition(&[cut], false).await;
        wait_isro(&cluster, cut, "ro").await;
        assert!(
            at_cut.closed_within(Duration::from_secs(5)).await,
            "its session ended"
        );
        let srvr = zk_server_mini::cluster::four_letter(cluster.client_addr(cut), "srvr").await;
        assert!(srvr.is_some_and(|s| s.contains("Mode: read-only")));
        // The majority goes on writing.
        let (h, _) = writer.call(&create("/during", 0)).await.expect("create");
        assert_eq!(h.err, ErrorCode::Ok);

        // A client that does not allow read-only mode is refused; one that does is served.
        let plain = RawClient::connect(cluster.client_addr(cut), 10_000).await;
        assert!(plain.is_err(), "closed at the handshake");
        let request = ConnectRequest {
            read_only: Some(true),
            ..ConnectRequest::new_session(10_000)
        };
        let (mut ro, resp) = RawClient::connect_with(cluster.client_addr(cut), request)
            .await
            .expect("a read-only session");
        assert_eq!(resp.read_only, Some(true));
        assert_eq!(
            ro.call(&get("/before")).await.expect("get").0.err,
            ErrorCode::Ok
        );
        let stale = ro.call(&get("/during")).await.expect("get").0.err;
        assert_eq!(
            stale,
            ErrorCode::NoNode,
            "cut off, it has not seen the majority's write"
        );
        let (h, _) = ro.call(&create("/x", 0)).await.expect("create");
        assert_eq!(h.err, ErrorCode::NotReadOnly);

        // Healed, it rejoins: its read-only sessions end, it serves read-write sessions again
        // over the majority's history.
        cluster.heal();
        assert!(ro.closed_within(WAIT).await, "the read-only session ended");
        wait_isro(&cluster, cut, "rw").await;
        let deadline = std::time::Instant::now() + WAIT;
        let mut back = loop {
            match RawClient::connect(cluster.client_addr(cut), 10_000).await {
                Ok(c) => break c,
                Err(_) => assert!(std::time::Instant::now() < deadline, "never serves again"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(back.session.read_only, Some(false));
        back.call(&sync).await.expect("sync");
        assert_eq!(
            back.call(&get("/during")).await.expect("get").0.err,
            ErrorCode::Ok
        );
        let (h, _) = back.call(&create("/after", 0)).await.expect("create");
        assert_eq!(h.err, ErrorCode::Ok);
        cluster.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("test timed out");
}
