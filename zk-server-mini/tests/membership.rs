//! Membership changes by `reconfig` on an in-process ensemble of three voters: a voter
//! becomes an observer and a voter again, a follower is removed, then the leader is
//! removed. After each change: `/zookeeper/config` lists the new membership, every member
//! reports the role the change gave it (a removed one goes on as a non-voting follower, as
//! in ZooKeeper 3.8.0), and writes keep committing — made through one member and read back
//! through another. Servers join as observer and as voter, and leave. A voter that was down
//! while the voters changed comes back with its old view and is told the new membership.

use std::time::{Duration, Instant};

use bytes::Bytes;
use zk_proto::acl::Acl;
use zk_proto::{
    CreateRequest, ErrorCode, GetDataRequest, ReconfigRequest, Request, Response, SyncRequest,
};
use zk_server_mini::cluster::TestCluster;
use zk_server_mini::reconfig::Membership;
use zk_server_mini::testing::RawClient;

const WAIT: Duration = Duration::from_secs(30);

/// Three voters with `reconfigEnabled` and `skipACL` (anyone may reconfigure), and the
/// leader they elected.
async fn reconfigurable() -> (TestCluster, u64) {
    let cluster = TestCluster::builder(3)
        .tick_ms(100)
        .config("reconfigEnabled", "true")
        .config("skipACL", "yes")
        .start()
        .await
        .expect("start");
    let leader = cluster.leader(WAIT).await.expect("a leader");
    (cluster, leader)
}

async fn client(cluster: &TestCluster, id: u64) -> RawClient {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(mut c) = RawClient::connect(cluster.client_addr(id), 10_000).await
            && c.call(&Request::Sync(SyncRequest { path: "/".into() }))
                .await
                .is_ok_and(|(h, _)| h.err == ErrorCode::Ok)
        {
            return c;
        }
        assert!(Instant::now() < deadline, "member {id} never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn config(c: &mut RawClient) -> Membership {
    let get = Request::GetData(GetDataRequest {
        path: "/zookeeper/config".into(),
        watch: false,
    });
    let (h, body) = c.call(&get).await.expect("getConfig");
    assert_eq!(h.err, ErrorCode::Ok);
    let Some(Response::GetData(r)) = body else {
        panic!("no data: {body:?}")
    };
    let text = String::from_utf8(r.data.unwrap_or_default().to_vec()).expect("utf-8");
    Membership::parse(&text).unwrap_or_else(|| panic!("not a config: {text}"))
}

/// Asks for a membership change through any serving member until the configuration shows
/// it (`done`): a connection lost on the way (a leader may drop its clients while a change
/// moves the quorum) is retried as a client would, after reading whether the change landed.
async fn reconfig(
    cluster: &TestCluster,
    joining: Option<String>,
    leaving: Option<&str>,
    done: impl Fn(&Membership) -> bool,
) -> Membership {
    let deadline = Instant::now() + WAIT;
    loop {
        for id in cluster.ids() {
            let Ok(Ok(mut c)) = tokio::time::timeout(
                Duration::from_secs(2),
                RawClient::connect(cluster.client_addr(id), 10_000),
            )
            .await
            else {
                continue;
            };
            let synced = c
                .call(&Request::Sync(SyncRequest { path: "/".into() }))
                .await;
            if !synced.is_ok_and(|(h, _)| h.err == ErrorCode::Ok) {
                continue;
            }
            let now = config(&mut c).await;
            if done(&now) {
                return now;
            }
            let req = Request::Reconfig(ReconfigRequest {
                joining_servers: joining.clone(),
                leaving_servers: leaving.map(Into::into),
                new_members: None,
                cur_config_id: now.version,
            });
            if let Ok((h, _)) = c.call(&req).await {
                // NewConfigNoQuorum: a member has not finished syncing with a new leader.
                assert!(
                    matches!(
                        h.err,
                        ErrorCode::Ok | ErrorCode::BadVersion | ErrorCode::NewConfigNoQuorum
                    ),
                    "reconfig answered {:?}",
                    h.err
                );
            }
        }
        assert!(Instant::now() < deadline, "the change never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_mode(cluster: &TestCluster, id: u64, want: &[&str]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let mode = cluster.mode(id).await;
        if mode.as_deref().is_some_and(|m| want.contains(&m)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "member {id} is {mode:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates `path` through member `via` and reads it back (after a sync) through `check`.
async fn write_and_read(cluster: &TestCluster, via: u64, check: u64, path: &str) {
    let mut w = client(cluster, via).await;
    let create = Request::Create(CreateRequest {
        path: path.into(),
        data: Some(Bytes::from_static(b"x")),
        acl: Acl::open_unsafe(),
        flags: 0,
    });
    let (h, _) = w.call(&create).await.expect("create");
    assert_eq!(h.err, ErrorCode::Ok, "create {path} via {via}");
    let mut r = client(cluster, check).await;
    let get = Request::GetData(GetDataRequest {
        path: path.into(),
        watch: false,
    });
    let (h, _) = r.call(&get).await.expect("get");
    assert_eq!(h.err, ErrorCode::Ok, "{path} read via {check}");
}

/// Member `id`'s spec in `m` with the role given and its client address (a `reconfig`
/// spec must name one).
fn line_with_role(cluster: &TestCluster, m: &Membership, id: u64, observer: bool) -> String {
    let mut a = m.servers[&id].clone();
    a.observer = observer;
    a.client = Some(cluster.client_addr(id).to_string());
    zk_server_mini::reconfig::server_line(id, &a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_change_and_members_leave() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let test = async {
        let (cluster, leader) = reconfigurable().await;
        let followers: Vec<u64> = cluster.ids().into_iter().filter(|i| *i != leader).collect();
        let (a, b) = (followers[0], followers[1]);
        let mut c = client(&cluster, leader).await;
        let before = config(&mut c).await;
        assert_eq!(before.voters(), 3);

        // A follower becomes an observer: it serves, the others are the quorum.
        let now = reconfig(
            &cluster,
            Some(line_with_role(&cluster, &before, b, true)),
            None,
            |m| m.servers[&b].observer,
        )
        .await;
        assert!(now.version > before.version);
        wait_mode(&cluster, b, &["observer"]).await;
        write_and_read(&cluster, a, b, "/as-observer").await;

        // And a voter again.
        reconfig(
            &cluster,
            Some(line_with_role(&cluster, &now, b, false)),
            None,
            |m| !m.servers[&b].observer,
        )
        .await;
        wait_mode(&cluster, b, &["follower"]).await;
        write_and_read(&cluster, b, leader, "/voter-again").await;

        // A follower leaves: it goes on as a non-voting follower (as in ZooKeeper 3.8.0)
        // and serves; the two left are the quorum.
        let now = reconfig(&cluster, None, Some(&a.to_string()), |m| {
            !m.servers.contains_key(&a)
        })
        .await;
        assert_eq!(now.voters(), 2);
        wait_mode(&cluster, a, &["follower"]).await;
        write_and_read(&cluster, a, leader, "/without-a").await;

        // The leader leaves: the one voter left leads; the old leader follows it.
        let now = reconfig(&cluster, None, Some(&leader.to_string()), |m| {
            !m.servers.contains_key(&leader)
        })
        .await;
        assert_eq!(now.servers.keys().copied().collect::<Vec<_>>(), [b]);
        wait_mode(&cluster, b, &["leader"]).await;
        wait_mode(&cluster, leader, &["follower"]).await;
        write_and_read(&cluster, leader, b, "/only-b").await;
        cluster.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(180), test)
        .await
        .expect("test timed out");
}

/// The spec a joiner is added with: its line in its own `zoo.cfg`.
fn joiner_spec(cluster: &TestCluster, id: u64) -> String {
    let prefix = format!("server.{id}=");
    cluster
        .zoo_cfg(id)
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} line"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_join_as_observer_and_voter_and_leave() {
    let test = async {
        let (mut cluster, leader) = reconfigurable().await;
        write_and_read(&cluster, leader, leader, "/before").await;

        // A joiner syncs before it is listed: a non-voting follower that serves clients.
        cluster.add_member(4, true).await.expect("start server 4");
        wait_mode(&cluster, 4, &["follower"]).await;
        write_and_read(&cluster, leader, 4, "/seen-by-the-joiner").await;
        let m = reconfig(&cluster, Some(joiner_spec(&cluster, 4)), None, |m| {
            m.servers.contains_key(&4)
        })
        .await;
        assert!(m.servers[&4].observer);
        wait_mode(&cluster, 4, &["observer"]).await;
        write_and_read(&cluster, 4, leader, "/from-the-observer").await;

        // A fifth server joins as a voter: four... five voters, and it follows.
        cluster.add_member(5, false).await.expect("start server 5");
        wait_mode(&cluster, 5, &["follower"]).await;
        let m = reconfig(&cluster, Some(joiner_spec(&cluster, 5)), None, |m| {
            m.servers.contains_key(&5)
        })
        .await;
        assert_eq!(m.voters(), 4);
        write_and_read(&cluster, 5, 4, "/from-the-new-voter").await;

        // Two old voters killed: the two left of four are no quorum... but with the new voter
        // three of four are up after killing one.
        let victim = cluster
            .ids()
            .into_iter()
            .find(|id| *id != leader && *id <= 3)
            .expect("a follower");
        cluster.kill(victim).await;
        write_and_read(&cluster, 5, leader, "/without-a-founder").await;

        // The observer leaves: it stays up as a non-voting follower.
        let m = reconfig(&cluster, None, Some("4"), |m| !m.servers.contains_key(&4)).await;
        assert!(!m.servers.contains_key(&4));
        wait_mode(&cluster, 4, &["follower"]).await;
        write_and_read(&cluster, 4, 5, "/after-4-left").await;
        cluster.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(180), test)
        .await
        .expect("test timed out");
}

/// A voter that was down while the voters changed comes back with its old view: the voters
/// it knows observe now (observers take no part in elections) and the leader is a server it
/// never heard of. The members it sends its votes to answer with the newer membership; it
/// takes it, finds the new leader and follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_away_while_the_voters_changed_comes_back_under_the_new_membership() {
    let test = async {
        let (mut cluster, leader) = reconfigurable().await;
        let away = cluster
            .ids()
            .into_iter()
            .find(|id| *id != leader)
            .expect("a follower");
        let founders: Vec<u64> = (1..=3).filter(|id| *id != away).collect();
        for joiner in [4, 5] {
            cluster
                .add_member(joiner, false)
                .await
                .expect("start a joiner");
            wait_mode(&cluster, joiner, &["follower"]).await;
        }
        cluster.kill(away).await;
        // The voters become `away`, 4 and 5; the two founders still up observe (the leader
        // among them hands over).
        let mut c = client(&cluster, leader).await;
        let now = config(&mut c).await;
        let mut joining: Vec<String> = founders
            .iter()
            .map(|id| line_with_role(&cluster, &now, *id, true))
            .collect();
        joining.push(line_with_role(&cluster, &now, away, false));
        joining.extend([4, 5].map(|id| joiner_spec(&cluster, id)));
        let m = reconfig(&cluster, Some(joining.join(",")), None, |m| {
            m.servers.get(&5).is_some_and(|a| !a.observer)
                && founders.iter().all(|f| m.servers[f].observer)
        })
        .await;
        assert_eq!(m.voters(), 3);
        for id in &founders {
            wait_mode(&cluster, *id, &["observer"]).await;
        }
        write_and_read(&cluster, 4, 5, "/while-away").await;

        cluster.restart(away).await.expect("restart");
        wait_mode(&cluster, away, &["follower", "leader"]).await;
        write_and_read(&cluster, away, founders[0], "/from-the-returned-voter").await;
        let mut c = client(&cluster, away).await;
        let seen = config(&mut c).await;
        let voters: Vec<u64> = seen
            .servers
            .iter()
            .filter(|(_, a)| !a.observer)
            .map(|(id, _)| *id)
            .collect();
        let mut want = vec![away, 4, 5];
        want.sort_unstable();
        assert_eq!(voters, want);
        cluster.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(180), test)
        .await
        .expect("test timed out");
}
