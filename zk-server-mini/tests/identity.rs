//! Which ensemble a member belongs to: a new ensemble's members all bind to the id of their
//! common `server.N` list; a member rebuilt from an empty data directory binds to its
//! leader's id when it first serves (not before: it gives no sessions while unbound), and
//! takes the sessions the others opened, passwords included; a member started beside a
//! running ensemble ([`TestCluster::add_member`]) runs with the `zoo.cfg` ZooKeeper prescribes.

use std::path::PathBuf;
use std::time::Duration;

use zk_proto::acl::Acl;
use zk_proto::{ConnectRequest, CreateRequest, ErrorCode, GetDataRequest, Request};
use zk_server_mini::ServerConfig;
use zk_server_mini::cluster::TestCluster;
use zk_server_mini::ensemble::ensemble_id;
use zk_server_mini::testing::RawClient;

const WAIT: Duration = Duration::from_secs(30);

async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(150), test)
        .await
        .expect("test timed out");
}

fn binding(cluster: &TestCluster, id: u64) -> PathBuf {
    cluster.data_dir(id).join("zab").join("ensemble")
}

fn bound_to(cluster: &TestCluster, id: u64) -> Option<String> {
    std::fs::read_to_string(binding(cluster, id)).ok()
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "waited for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_ensemble_binds_every_member_to_the_id_of_its_list() {
    bounded(async {
        let cluster = TestCluster::builder(3)
            .tick_ms(50)
            .start()
            .await
            .expect("started");
        cluster.leader(WAIT).await.expect("a leader");
        let cfg = ServerConfig::from_zoo_cfg(&cluster.zoo_cfg(1)).expect("parses");
        let expected = format!("{:016x}\n", ensemble_id(&cfg.servers));
        for id in cluster.ids() {
            until("every member bound", || bound_to(&cluster, id).is_some()).await;
            assert_eq!(
                bound_to(&cluster, id),
                Some(expected.clone()),
                "member {id}"
            );
        }
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_rebuilt_from_nothing_binds_to_its_leaders_id_and_takes_the_others_sessions() {
    bounded(async {
        let mut cluster = TestCluster::builder(3)
            .tick_ms(50)
            .start()
            .await
            .expect("started");
        cluster.leader(WAIT).await.expect("a leader");
        // Members 1 and 2 come back bound to an id no `server.N` list hashes to (as after
        // membership changes), so member 3, rebuilt, proposes another one than theirs.
        let bound = "00000000000abcde\n".to_owned();
        for id in cluster.ids() {
            cluster.kill(id).await;
        }
        for id in [1, 2] {
            std::fs::write(binding(&cluster, id), &bound).expect("written");
            cluster.restart(id).await.expect("restarted");
        }
        std::fs::remove_dir_all(cluster.data_dir(3)).expect("removed");
        cluster.leader(WAIT).await.expect("a leader of 1 and 2");
        let mut at_one = RawClient::connect(cluster.client_addr(1), 30_000)
            .await
            .expect("a session at member 1");
        let create = Request::Create(CreateRequest {
            path: "/kept".into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 0,
        });
        let (h, _) = at_one.call(&create).await.expect("create");
        assert_eq!(h.err, ErrorCode::Ok);
        let session = at_one.session.clone();

        // Member 3, with nothing, comes back cut off from the others.
        cluster.partition(&[3], false).await;
        cluster.restart(3).await.expect("restarted");
        // Unbound, it serves no one: no session, not even its own.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let status = cluster.member_status(3).expect("in process");
        assert!(!status.takes_clients, "{status:?}");
        assert!(!binding(&cluster, 3).exists());
        assert!(
            RawClient::connect(cluster.client_addr(3), 30_000)
                .await
                .is_err()
        );

        cluster.heal();
        until("member 3 serves", || {
            cluster.member_status(3).is_some_and(|s| s.takes_clients)
        })
        .await;
        assert_eq!(bound_to(&cluster, 3), Some(bound));
        // The session member 1 opened is valid here, with its password.
        let resume = ConnectRequest {
            session_id: session.session_id,
            passwd: session.passwd.clone(),
            ..ConnectRequest::new_session(session.timeout_ms)
        };
        let (mut at_three, answer) = RawClient::connect_with(cluster.client_addr(3), resume)
            .await
            .expect("connected to member 3");
        assert_eq!(answer.session_id, session.session_id);
        assert!(answer.timeout_ms > 0, "the session is valid at member 3");
        let get = Request::GetData(GetDataRequest {
            path: "/kept".into(),
            watch: false,
        });
        let (h, _) = at_three.call(&get).await.expect("read at member 3");
        assert_eq!(h.err, ErrorCode::Ok);
        cluster.stop().await;
    })
    .await;
}

async fn a_member_added_beside_the_ensemble(processes: bool) {
    let mut builder = TestCluster::builder(3)
        .tick_ms(50)
        .config("reconfigEnabled", "true");
    if processes {
        builder = builder.processes(env!("CARGO_BIN_EXE_zk-server-mini"));
    }
    let mut cluster = builder.start().await.expect("started");
    let leader = cluster.leader(WAIT).await.expect("a leader");
    cluster.add_member(4, false).await.expect("added");
    cluster.add_member(5, true).await.expect("added");
    assert!(cluster.add_member(5, false).await.is_err(), "5 is a member");
    assert_eq!(cluster.ids(), [1, 2, 3, 4, 5]);
    let four = cluster.zoo_cfg(4);
    let line = |id: u64, role: &str| {
        let cfg = ServerConfig::from_zoo_cfg(&cluster.zoo_cfg(id)).expect("parses");
        let a = &cfg.servers[&id];
        format!(
            "server.{id}=127.0.0.1:{}:{}:{role};{}\n",
            a.quorum_port,
            a.election_port,
            cluster.client_addr(id)
        )
    };
    assert!(four.contains(&line(4, "participant")), "{four}");
    assert!(four.contains("reconfigEnabled=true") && four.contains("tickTime=50"));
    let listed = |cfg: &str| {
        let parsed = ServerConfig::from_zoo_cfg(cfg).expect("parses");
        parsed.servers.keys().copied().collect::<Vec<u64>>()
    };
    assert_eq!(listed(&four), [1, 2, 3, 4]);
    let five = cluster.zoo_cfg(5);
    assert!(five.contains(&line(5, "observer")) && five.contains("peerType=observer"));
    assert_eq!(listed(&five), [1, 2, 3, 4, 5]);
    assert_eq!(listed(&cluster.zoo_cfg(1)), [1, 2, 3]);
    for id in [4, 5] {
        let deadline = tokio::time::Instant::now() + WAIT;
        while cluster.mode(id).await.is_none() {
            assert!(tokio::time::Instant::now() < deadline, "{id} runs");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Not admitted (no reconfig), 4 still syncs with the leader as a non-voting follower
    // (as a ZooKeeper joiner does) and so binds to the ensemble's id, as 5 does; the
    // ensemble goes on as it was. (Every member binds when it first serves: a follower may
    // still be syncing when the leader is known.)
    until("every member bound", || {
        (1..=5).all(|id| bound_to(&cluster, id).is_some())
    })
    .await;
    let ids: Vec<Option<String>> = (1..=5).map(|id| bound_to(&cluster, id)).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(cluster.leader(WAIT).await, Some(leader));
    cluster.kill(4).await;
    assert_eq!(cluster.mode(4).await, None);
    cluster.restart(4).await.expect("restarted");
    let deadline = tokio::time::Instant::now() + WAIT;
    while cluster.mode(4).await.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "4 runs again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dir = cluster.dir().to_owned();
    cluster.stop().await;
    assert!(!dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_added_beside_an_in_process_ensemble_runs_with_zookeepers_config() {
    bounded(a_member_added_beside_the_ensemble(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_added_beside_an_ensemble_of_processes_runs_with_zookeepers_config() {
    bounded(a_member_added_beside_the_ensemble(true)).await;
}
