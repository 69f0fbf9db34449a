//! `TestCluster`'s fault knobs, on an in-process ensemble and on one of child processes of
//! the binary: expiring a session (its ephemeral goes, its client is told), dropping client
//! connections (the session lives on), a slow disk (writes still commit, later), a frozen
//! leader (replaced; it rejoins when resumed).

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
