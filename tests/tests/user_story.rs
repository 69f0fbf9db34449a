//! What a user's own integration test looks like (the README's "Testing your service" section):
//! the code under test elects a leader; the test runs it against an embedded 3-node
//! zk-server-mini ensemble and kills the ensemble's leader underneath it — and runs the very same
//! scenario against a real ZooKeeper, here the one the harness starts (a user would point it at
//! their own with an address such as `ZK_SERVER=127.0.0.1:2181`).

use std::time::Duration;

use zk_client::Client;
use zk_integration_tests::{RealZk, ZkOptions, require_real_zk};
use zk_recipes::{LeaderLatch, LeaderLatchOptions};
use zk_server_mini::cluster::TestCluster;

/// The code under test: a service that leads once it is elected, and reports its fencing token.
async fn lead(hosts: &str, id: &str) -> (LeaderLatch, i64) {
    let client = Client::builder(hosts)
        .session_timeout(Duration::from_secs(4))
        .connect()
        .await
        .expect("connect");
    let latch = LeaderLatch::start(client, "/svc/leader", LeaderLatchOptions::default().id(id))
        .expect("latch");
    let leadership = latch
        .await_leadership(Some(Duration::from_secs(30)))
        .await
        .expect("elected");
    (latch, leadership.token())
}

/// The scenario, whatever the server: a second instance waits, the first steps down, the second
/// takes over with a higher token.
async fn handover(hosts: &str) {
    let (first, first_token) = lead(hosts, "a").await;
    let second = tokio::spawn({
        let hosts = hosts.to_owned();
        async move { lead(&hosts, "b").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    first.close(zk_recipes::CloseMode::NotifyLeader).await;
    let (second, second_token) = tokio::time::timeout(Duration::from_secs(30), second)
        .await
        .expect("the second instance leads")
        .expect("task");
    assert!(second_token > first_token, "{second_token} > {first_token}");
    second.close(zk_recipes::CloseMode::Silent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handover_on_an_embedded_ensemble_that_loses_its_leader() {
    let mut cluster = TestCluster::builder(3).start().await.expect("ensemble");
    let zk_leader = cluster
        .leader(Duration::from_secs(20))
        .await
        .expect("ZooKeeper leader");
    handover(&cluster.connect_string()).await;
    // Now the same with the ensemble's leader killed first: clients fail over.
    cluster.kill(zk_leader).await;
    handover(&cluster.connect_string()).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handover_on_a_real_zookeeper() {
    require_real_zk!();
    // A user's own ZooKeeper, or the one the harness starts (kept alive until the test ends).
    let harness_zk;
    let hosts = match std::env::var("ZK_SERVER") {
        Ok(hosts) => hosts,
        Err(_) => {
            harness_zk = RealZk::start_standalone(ZkOptions::default())
                .await
                .expect("start ZooKeeper");
            harness_zk.addr().to_string()
        }
    };
    handover(&hosts).await;
}
