//! A running 3-member ensemble, in-process: election, replication, leader failover with
//! every acknowledged write kept, sessions and ephemerals moving to the new leader, and the
//! bad-input cases of the issue (a member listed twice, a myid not listed, a damaged
//! ensemble binding, strangers and garbage on the quorum port).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_proto::acl::Acl;
use zk_proto::{ConnectRequest, CreateRequest, ErrorCode, GetDataRequest, Request, SyncRequest};
use zk_server_mini::cluster::TestCluster;
use zk_server_mini::testing::RawClient;
use zk_server_mini::{MiniServer, ServerConfig, ServerError};

const WAIT: Duration = Duration::from_secs(30);

fn create(path: &str, ephemeral: bool) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(path.as_bytes().to_vec().into()),
        acl: Acl::open_unsafe(),
        flags: if ephemeral { 1 } else { 0 },
    })
}

fn get(path: &str) -> Request {
    Request::GetData(GetDataRequest {
        path: path.into(),
        watch: false,
    })
}

async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_keeps_acknowledged_writes_sessions_and_ephemerals() {
    bounded(async {
        let mut cluster = TestCluster::builder(3)
            .tick_ms(50)
            .start()
            .await
            .expect("ok");
        let leader = cluster.leader(WAIT).await.expect("a leader");
        // Every member takes sessions: a follower serves its clients and forwards their writes.
        // A client whose member stops serving meanwhile (a follower that misses a few ticks
        // of a busy machine looks for its leader again) tries again, as clients do.
        for id in cluster.ids().into_iter().filter(|i| *i != leader) {
            let mut done = false;
            for _ in 0..20 {
                let Ok(mut f) = RawClient::connect(cluster.client_addr(id), 10_000).await else {
                    cluster.leader(WAIT).await.expect("a leader");
                    continue;
                };
                let Ok((h, _)) = f.call(&create(&format!("/via{id}"), false)).await else {
                    continue;
                };
                assert!(
                    matches!(h.err, ErrorCode::Ok | ErrorCode::NodeExists),
                    "create through follower {id}: {:?}",
                    h.err
                );
                done = true;
                break;
            }
            assert!(done, "no session through follower {id}");
        }
        let mut c = RawClient::connect(cluster.client_addr(leader), 10_000)
            .await
            .expect("ok");
        for i in 0..50 {
            let (h, _) = c.call(&create(&format!("/n{i}"), false)).await.expect("ok");
            assert_eq!(h.err, ErrorCode::Ok, "create /n{i}");
        }
        // sync() is answered after a quorum round, in order with what follows it.
        for _ in 0..3 {
            let (h, body) = c
                .call(&Request::Sync(SyncRequest { path: "/n0".into() }))
                .await
                .expect("sync");
            assert_eq!(h.err, ErrorCode::Ok, "{body:?}");
            let (h, _) = c.call(&get("/n0")).await.expect("get after sync");
            assert_eq!(h.err, ErrorCode::Ok);
        }
        let (h, _) = c.call(&create("/eph", true)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        let last_seen = h.zxid;
        let session = c.session.clone();
        cluster.kill(leader).await;
        let next = cluster.leader(WAIT).await.expect("a new leader");
        assert_ne!(next, leader);
        // The same session, resumed at the new leader: its ephemeral is still there.
        let mut req = ConnectRequest::new_session(10_000);
        req.session_id = session.session_id;
        req.passwd = session.passwd.clone();
        req.last_zxid_seen = last_seen;
        let (mut c2, resp) = RawClient::connect_with(cluster.client_addr(next), req)
            .await
            .expect("ok");
        assert_eq!(resp.session_id, session.session_id);
        for i in 0..50 {
            let (h, body) = c2.call(&get(&format!("/n{i}"))).await.expect("ok");
            assert_eq!(h.err, ErrorCode::Ok, "/n{i} lost after failover: {body:?}");
        }
        let (h, _) = c2.call(&get("/eph")).await.expect("ok");
        assert_eq!(
            h.err,
            ErrorCode::Ok,
            "ephemeral lost with its session alive"
        );
        // The old leader comes back as a follower and catches up.
        cluster.restart(leader).await.expect("ok");
        let (h, _) = c2.call(&create("/after", false)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        let now = cluster.leader(WAIT).await.expect("a leader");
        assert_eq!(
            now, next,
            "a returning member does not take over a stable leader"
        );
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_letter_words_report_roles() {
    bounded(async {
        let cluster = TestCluster::builder(3)
            .tick_ms(50)
            .start()
            .await
            .expect("ok");
        let leader = cluster.leader(WAIT).await.expect("a leader");
        let mut modes = Vec::new();
        for id in cluster.ids() {
            modes.push(cluster.mode(id).await.unwrap_or_default());
        }
        modes.sort();
        assert_eq!(modes, ["follower", "follower", "leader"]);
        let mntr = zk_server_mini::cluster::four_letter(cluster.client_addr(leader), "mntr")
            .await
            .expect("ok");
        assert!(mntr.contains("zk_server_state\tleader"), "{mntr}");
        assert!(mntr.contains("zk_followers\t"), "{mntr}");
        cluster.stop().await;
    })
    .await;
}

/// A `mntr` row's value.
fn mntr_row(mntr: &str, key: &str) -> Option<String> {
    mntr.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('\t'))
        .map(str::to_owned)
}

/// Polls `check` until it holds or `WAIT` passes; returns whether it held.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// Waits until member 4 observes a leader and takes clients (a member that is still
/// looking refuses them, and `TestCluster::leader` does not wait for looking members).
async fn observer_ready(cluster: &TestCluster) -> bool {
    eventually(|| {
        let ready = cluster.member_status(4).is_some_and(|s| {
            s.takes_clients && matches!(s.role, zk_server_mini::zab::Role::Observing { .. })
        });
        async move { ready }
    })
    .await
}

/// Three voters and an observer (`server.4=...:observer`): the observer reports itself as
/// ZooKeeper 3.8.0 does (`srvr` Mode, `mntr` rows, the leader's synced counts), takes
/// clients whose writes commit, can die and come back without blocking anyone and catches
/// up; with two voters down it does not make a quorum (nobody serves, nothing commits),
/// and healing restores writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_serves_clients_but_never_makes_a_quorum() {
    use zk_server_mini::cluster::four_letter;
    use zk_server_mini::zab::Role;
    bounded(async {
        let mut cluster = TestCluster::builder(3)
            .observers(1)
            .tick_ms(50)
            .start()
            .await
            .expect("ok");
        assert_eq!(cluster.observers(), [4]);
        let leader = cluster.leader(WAIT).await.expect("a leader");
        assert_ne!(leader, 4, "an observer never leads");
        assert!(
            observer_ready(&cluster).await,
            "the observer never took clients"
        );
        let all_in = eventually(|| {
            let cluster = &cluster;
            async move {
                let mut modes = Vec::new();
                for id in cluster.ids() {
                    modes.push(cluster.mode(id).await.unwrap_or_default());
                }
                modes[3] == "observer" && modes.iter().filter(|m| *m == "follower").count() == 2
            }
        })
        .await;
        assert!(all_in, "srvr modes never settled");
        assert_eq!(cluster.mode(leader).await.as_deref(), Some("leader"));
        assert_eq!(
            cluster.member_status(4).map(|s| s.role),
            Some(Role::Observing { leader })
        );
        // mntr as ZooKeeper 3.8.0 prints it: the leader counts voters and observers apart.
        let leader_addr = cluster.client_addr(leader);
        let counted = eventually(|| async move {
            let m = four_letter(leader_addr, "mntr").await.unwrap_or_default();
            mntr_row(&m, "zk_synced_followers").as_deref() == Some("2")
                && mntr_row(&m, "zk_synced_observers").as_deref() == Some("1")
                && mntr_row(&m, "zk_learners").as_deref() == Some("3")
        })
        .await;
        let m = four_letter(leader_addr, "mntr").await.unwrap_or_default();
        assert!(counted, "{m}");
        assert_eq!(mntr_row(&m, "zk_quorum_size").as_deref(), Some("3"));
        let m = four_letter(cluster.client_addr(4), "mntr")
            .await
            .unwrap_or_default();
        assert_eq!(
            mntr_row(&m, "zk_server_state").as_deref(),
            Some("observer"),
            "{m}"
        );
        assert_eq!(
            mntr_row(&m, "zk_observer_master_id"),
            Some(leader.to_string()),
            "{m}"
        );
        assert_eq!(mntr_row(&m, "zk_synced_observers"), None, "{m}");
        // Writes through every member, the observer included.
        for id in cluster.ids() {
            let mut c = RawClient::connect(cluster.client_addr(id), 10_000)
                .await
                .unwrap_or_else(|e| panic!("a session at member {id}: {e}"));
            let (h, _) = c
                .call(&create(&format!("/via{id}"), false))
                .await
                .expect("ok");
            assert_eq!(h.err, ErrorCode::Ok, "create through member {id}");
            for other in 1..=id {
                let (h, _) = c.call(&get(&format!("/via{other}"))).await.expect("ok");
                assert_eq!(h.err, ErrorCode::Ok, "member {id} reads /via{other}");
            }
        }
        // The observer dies: writes go on.
        cluster.kill(4).await;
        let mut c = RawClient::connect(leader_addr, 10_000).await.expect("ok");
        for i in 0..20 {
            let (h, _) = c
                .call(&create(&format!("/alone{i}"), false))
                .await
                .expect("ok");
            assert_eq!(h.err, ErrorCode::Ok, "write {i} with the observer down");
        }
        // It comes back and catches up with what it missed.
        cluster.restart(4).await.expect("ok");
        assert!(
            observer_ready(&cluster).await,
            "the observer did not rejoin"
        );
        let target = cluster.member_status(leader).map_or(0, |s| s.applied);
        let caught_up = eventually(|| {
            let applied = cluster.member_status(4).map_or(0, |s| s.applied);
            async move { applied >= target }
        })
        .await;
        assert!(caught_up, "the observer did not catch up to {target:#x}");
        let mut o = RawClient::connect(cluster.client_addr(4), 10_000)
            .await
            .expect("ok");
        let (h, _) = o.call(&get("/alone19")).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        // Two of three voters down: the observer is up, but it is no vote.
        let followers: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
        for f in &followers {
            cluster.kill(*f).await;
        }
        let stopped = eventually(|| {
            let leading = cluster.member_status(leader).is_some_and(|s| s.serving);
            let observing = cluster.member_status(4).is_some_and(|s| s.takes_clients);
            async move { !leading && !observing }
        })
        .await;
        assert!(
            stopped,
            "a leader and an observer without a quorum kept serving"
        );
        for id in [leader, 4] {
            let write = async {
                let mut c = RawClient::connect(cluster.client_addr(id), 10_000).await?;
                c.call(&create("/no-quorum", false)).await
            };
            let outcome = tokio::time::timeout(Duration::from_secs(5), write).await;
            assert!(
                !matches!(outcome, Ok(Ok((ref h, _))) if h.err == ErrorCode::Ok),
                "member {id} took a write without a quorum: {outcome:?}"
            );
        }
        // Healing restores writes, through the observer too.
        for f in &followers {
            cluster.restart(*f).await.expect("ok");
        }
        cluster.leader(WAIT).await.expect("a leader after healing");
        assert!(
            observer_ready(&cluster).await,
            "the observer did not rejoin"
        );
        let mut o = RawClient::connect(cluster.client_addr(4), 10_000)
            .await
            .expect("ok");
        let (h, _) = o.call(&create("/healed", false)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        let (h, _) = o.call(&get("/no-quorum")).await.expect("ok");
        assert_eq!(
            h.err,
            ErrorCode::NoNode,
            "a write without a quorum became visible"
        );
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_is_replaced_and_rejoins_without_divergence() {
    bounded(async {
        let mut cluster = TestCluster::builder(3)
            .tick_ms(50)
            .start()
            .await
            .expect("ok");
        let leader = cluster.leader(WAIT).await.expect("a leader");
        let mut c = RawClient::connect(cluster.client_addr(leader), 10_000)
            .await
            .expect("ok");
        let (h, _) = c.call(&create("/before", false)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        cluster.partition(&[leader], true).await;
        // The majority side elects another leader.
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
            assert!(
                std::time::Instant::now() < deadline,
                "no leader on the majority side"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut c2 = loop {
            if let Ok(c) = RawClient::connect(cluster.client_addr(next), 10_000).await {
                break c;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "new leader never served"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let (h, _) = c2.call(&create("/during", false)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        cluster.heal();
        let now = cluster.leader(WAIT).await.expect("a leader after healing");
        // Every member converges on the same history.
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let mut zxids = Vec::new();
            for id in cluster.ids() {
                let srvr = zk_server_mini::cluster::four_letter(cluster.client_addr(id), "srvr")
                    .await
                    .unwrap_or_default();
                zxids.push(
                    srvr.lines()
                        .find(|l| l.starts_with("Zxid:"))
                        .map(str::to_owned),
                );
            }
            if zxids.iter().all(|z| z.is_some() && *z == zxids[0]) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "members diverge: {zxids:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut c3 = RawClient::connect(cluster.client_addr(now), 10_000)
            .await
            .expect("ok");
        for p in ["/before", "/during"] {
            let (h, _) = c3.call(&get(p)).await.expect("ok");
            assert_eq!(h.err, ErrorCode::Ok, "{p}");
        }
        cluster.stop().await;
    })
    .await;
}

fn three(dir: &std::path::Path, ports: [u16; 3]) -> String {
    format!(
        "tickTime=50\ndataDir={}\nclientPort=0\nserver.1=127.0.0.1:{}:1\nserver.2=127.0.0.1:{}:2\nserver.3=127.0.0.1:{}:3\n",
        dir.display(),
        ports[0],
        ports[1],
        ports[2]
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("ok")
        .local_addr()
        .expect("ok")
        .port()
}

#[tokio::test]
async fn bad_configurations_are_clear_errors() {
    let dir = tempfile::tempdir().expect("ok");
    let ports = [free_port(), free_port(), free_port()];
    // No myid file.
    let cfg = ServerConfig::from_zoo_cfg(&three(dir.path(), ports)).expect("ok");
    let err = MiniServer::builder()
        .config(cfg.clone())
        .start()
        .await
        .expect_err("an error");
    assert!(
        matches!(&err, ServerError::Ensemble { why } if why.contains("myid")),
        "{err}"
    );
    // A myid that is not listed.
    std::fs::write(dir.path().join("myid"), "7\n").expect("ok");
    let err = MiniServer::builder()
        .config(cfg.clone())
        .start()
        .await
        .expect_err("an error");
    assert!(
        matches!(&err, ServerError::Ensemble { why } if why.contains("myid 7 is not among")),
        "{err}"
    );
    // A data directory whose ensemble binding is damaged (one bound to another ensemble
    // starts, and is refused by this ensemble's members: see the transport's tests).
    std::fs::write(dir.path().join("myid"), "1\n").expect("ok");
    let s = MiniServer::builder()
        .config(cfg.clone())
        .start()
        .await
        .expect("ok");
    s.stop().await;
    std::fs::write(dir.path().join("zab").join("ensemble"), "not an id\n").expect("ok");
    let err = MiniServer::builder()
        .config(cfg.clone())
        .start()
        .await
        .expect_err("an error");
    assert!(
        matches!(&err, ServerError::Ensemble { why } if why.contains("damaged")),
        "{err}"
    );
    // A member listed twice.
    let twice = format!("{}server.3=127.0.0.1:1:2\n", three(dir.path(), ports));
    assert!(ServerConfig::from_zoo_cfg(&twice).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_garbage_on_the_quorum_port_do_not_disturb_the_ensemble() {
    bounded(async {
        let cluster = TestCluster::builder(3)
            .tick_ms(50)
            .start()
            .await
            .expect("ok");
        let leader = cluster.leader(WAIT).await.expect("a leader");
        let cfg = cluster.zoo_cfg(leader);
        let quorum_port: u16 = cfg
            .lines()
            .find_map(|l| l.strip_prefix(&format!("server.{leader}=127.0.0.1:")))
            .and_then(|rest| rest.split(':').next())
            .and_then(|p| p.parse().ok())
            .expect("ok");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], quorum_port));
        let hellos: Vec<Vec<u8>> = vec![
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            vec![0xff; 4096],
            // Right magic, a bound member of another ensemble.
            zk_server_mini::ensemble::wire::Hello {
                ensemble: 0x1234,
                provisional: false,
                from: 2,
                client_port: 1,
                quorum_port: 1,
            }
            .encode()
            .to_vec(),
        ];
        for bytes in hellos {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("ok");
            let _ = s.write_all(&bytes).await;
            let mut buf = [0u8; 16];
            // The member hangs up on it.
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .expect("the member keeps a stranger's connection open");
            assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        }
        assert_eq!(cluster.leader(WAIT).await, Some(leader));
        let mut c = RawClient::connect(cluster.client_addr(leader), 10_000)
            .await
            .expect("ok");
        let (h, _) = c.call(&create("/still", false)).await.expect("ok");
        assert_eq!(h.err, ErrorCode::Ok);
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_far_behind_the_leaders_snapshot_is_synced_and_serves_the_same_tree() {
    bounded(async {
        let mut cluster = TestCluster::builder(3)
            .tick_ms(50)
            .snap_count(20)
            .start()
            .await
            .expect("ok");
        let leader = cluster.leader(WAIT).await.expect("a leader");
        let behind = cluster
            .ids()
            .into_iter()
            .find(|i| *i != leader)
            .expect("a follower");
        cluster.kill(behind).await;
        let mut c = RawClient::connect(cluster.client_addr(leader), 10_000)
            .await
            .expect("ok");
        for i in 0..120 {
            let (h, _) = c.call(&create(&format!("/s{i}"), false)).await.expect("ok");
            assert_eq!(h.err, ErrorCode::Ok);
        }
        cluster.restart(behind).await.expect("ok");
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let srvr = |id| {
                let addr = cluster.client_addr(id);
                async move {
                    zk_server_mini::cluster::four_letter(addr, "srvr")
                        .await
                        .unwrap_or_default()
                        .lines()
                        .filter(|l| l.starts_with("Zxid:") || l.starts_with("Node count:"))
                        .collect::<Vec<_>>()
                        .join(" ")
                }
            };
            let (a, b) = (srvr(leader).await, srvr(behind).await);
            if !a.is_empty() && a == b {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{a} vs {b}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // And it serves that tree once it leads.
        cluster.kill(leader).await;
        let next = cluster.leader(WAIT).await.expect("a new leader");
        let mut c2 = RawClient::connect(cluster.client_addr(next), 10_000)
            .await
            .expect("ok");
        for i in [0, 59, 119] {
            let (h, _) = c2.call(&get(&format!("/s{i}"))).await.expect("ok");
            assert_eq!(h.err, ErrorCode::Ok, "/s{i}");
        }
        cluster.stop().await;
    })
    .await;
}
