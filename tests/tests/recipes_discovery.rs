//! `zk_recipes::discovery` against the real ZooKeeper 3.8.0 and `zk-server-mini`, next to real
//! Curator `curator-x-discovery` processes on the same base path: each side sees the other's
//! instances, invalid nodes are skipped, providers pick, an instance comes back after session
//! expiry, and the `discovery` example registers and lists.

#![allow(
    clippy::unwrap_used,
    reason = "test scenarios: a failed unwrap is a failed test"
)]

mod recipes_common;

use std::collections::BTreeSet;
use std::time::Duration;

use recipes_common::{Worker, example};
use zk_client::{Client, CreateOptions, ExpiryPolicy, SessionState};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::java::{JavaProgram, curator_classpath};
use zk_integration_tests::{TcpProxy, ZkOptions};
use zk_recipes::discovery::{ProviderStrategy, ServiceDiscovery, ServiceInstance, ServiceType};

const WAIT: Duration = Duration::from_secs(30);

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(180);
    rust_and_curator_see_each_others_instances(ZkOptions::default()),
    invalid_nodes_are_skipped_and_providers_pick(ZkOptions::default()),
    an_instance_is_registered_again_after_session_expiry(ZkOptions::default().tick_time(500)),
    the_example_registers_and_lists(ZkOptions::default()),
}

/// Waits until the worker printed a line satisfying `pred`; returns it.
async fn wait_line(worker: &Worker, pred: impl Fn(&str) -> bool) -> String {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(l) = worker.lines.lock().unwrap().iter().find(|l| pred(l)) {
            return l.clone();
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{}: no matching line within {WAIT:?}; got {:?}",
            worker.name,
            worker.lines.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn curator() -> Option<JavaProgram> {
    zk_integration_tests::skip::check(
        "recipes_discovery",
        "Curator 5.4 and javac",
        curator_classpath().map(drop),
    )
    .then(|| JavaProgram::compile_curator(&["DiscoveryCurator.java"]).expect("javac"))
}

/// Curator's `list`: the INSTANCE lines once `want` is listed.
async fn curator_list(
    java: &JavaProgram,
    zk: &Backend,
    base: &str,
    service: &str,
    want: &str,
) -> Vec<String> {
    let mut list = java.command("DiscoveryCurator");
    list.args(["list", &zk.connect_string(), base, service, want]);
    let mut worker = Worker::spawn("curator-list", list);
    wait_line(&worker, |l| l == "END").await;
    worker.finish(WAIT).await;
    let lines = worker.lines.lock().unwrap().clone();
    lines
        .into_iter()
        .filter(|l| l.starts_with("INSTANCE "))
        .collect()
}

async fn rust_and_curator_see_each_others_instances(zk: &Backend) {
    let Some(java) = curator() else { return };
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let discovery = ServiceDiscovery::new(&client, "/disc");
    discovery
        .register(ServiceInstance::new("web", "rust-1", "127.0.0.1", 8080))
        .await
        .unwrap();
    // Curator reads ours.
    let lines = curator_list(&java, zk, "/disc", "web", "rust-1").await;
    assert_eq!(lines, ["INSTANCE web rust-1 127.0.0.1 8080 true"]);

    // We read Curator's.
    let mut register = java.command("DiscoveryCurator");
    register.args([
        "register",
        &zk.connect_string(),
        "/disc",
        "web",
        "java-1",
        "10.1.1.1",
        "9090",
    ]);
    let mut curator_registered = Worker::spawn("curator-register", register);
    wait_line(&curator_registered, |l| l == "REGISTERED web java-1").await;
    let cache = discovery.service_cache("web").await.unwrap();
    let found = discovery.query_for_instances("web").await.unwrap();
    let ids: Vec<&str> = found.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["java-1", "rust-1"]);
    let theirs = &found[0];
    assert_eq!(theirs.name, "web");
    assert_eq!(theirs.address.as_deref(), Some("10.1.1.1"));
    assert_eq!(theirs.port, Some(9090));
    assert_eq!(theirs.service_type, ServiceType::Dynamic);
    assert!(theirs.enabled && theirs.registration_time_utc > 0);
    let stat = client.exists("/disc/web/java-1").await.unwrap().unwrap();
    assert_ne!(
        stat.ephemeral_owner, 0,
        "Curator registers DYNAMIC as ephemeral"
    );
    assert_eq!(cache.instances().len(), 2);
    assert_eq!(discovery.query_for_names().await.unwrap(), ["web"]);
    curator_registered.kill().await;
    discovery.close().await.unwrap();
    assert!(client.exists("/disc/web/rust-1").await.unwrap().is_none());
    client.close().await;
}

async fn invalid_nodes_are_skipped_and_providers_pick(zk: &Backend) {
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let discovery = ServiceDiscovery::new(&client, "/d2");
    for id in ["a", "b", "c"] {
        discovery
            .register(ServiceInstance::new("api", id, "127.0.0.1", 1000))
            .await
            .unwrap();
    }
    let mut off = ServiceInstance::new("api", "d-off", "127.0.0.1", 1000);
    off.enabled = false;
    discovery.register(off).await.unwrap();
    for (id, data) in [
        ("bad", &b"not json"[..]),
        ("empty", b"{}"),
        ("bin", b"\xff\x00"),
    ] {
        client
            .create(&format!("/d2/api/{id}"), data, &CreateOptions::persistent())
            .await
            .unwrap();
    }
    let ids = |v: Vec<ServiceInstance>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(discovery.query_for_instances("api").await.unwrap()),
        ["a", "b", "c", "d-off"]
    );
    assert_eq!(
        discovery.query_for_instance("api", "bad").await.unwrap(),
        None
    );

    let round_robin = discovery
        .provider("api", ProviderStrategy::RoundRobin)
        .await
        .unwrap();
    assert_eq!(ids(round_robin.get_all_instances()), ["a", "b", "c"]);
    let picks: Vec<String> = (0..6)
        .map(|_| round_robin.get_instance().unwrap().id)
        .collect();
    assert_eq!(picks, ["a", "b", "c", "a", "b", "c"]);
    let random = discovery
        .provider("api", ProviderStrategy::Random)
        .await
        .unwrap();
    let picked: BTreeSet<String> = (0..200)
        .map(|_| random.get_instance().unwrap().id)
        .collect();
    assert!(
        picked.iter().all(|p| ["a", "b", "c"].contains(&p.as_str())),
        "{picked:?}"
    );
    assert!(picked.len() > 1, "random picks vary: {picked:?}");

    // The provider follows the service: an unregistered instance is no longer picked.
    discovery.unregister("api", "b").await.unwrap();
    let until = tokio::time::Instant::now() + WAIT;
    while ids(round_robin.get_all_instances()) != ["a", "c"] {
        assert!(
            tokio::time::Instant::now() < until,
            "provider never dropped b"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let empty = discovery
        .provider("none", ProviderStrategy::Random)
        .await
        .unwrap();
    assert!(empty.get_instance().is_none());
    discovery.close().await.unwrap();
    client.close().await;
}

async fn an_instance_is_registered_again_after_session_expiry(zk: &Backend) {
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let client = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(2))
        .expiry_policy(ExpiryPolicy::NewSession)
        .connect()
        .await
        .unwrap();
    let discovery = ServiceDiscovery::new(&client, "/d3");
    discovery
        .register(ServiceInstance::new("svc", "one", "127.0.0.1", 1))
        .await
        .unwrap();
    let first = direct.exists("/d3/svc/one").await.unwrap().unwrap();
    assert_eq!(first.ephemeral_owner, client.session_id());
    let watcher = ServiceDiscovery::new(&direct, "/d3");
    let cache = watcher.service_cache("svc").await.unwrap();

    proxy.pause().await;
    client.wait_for_state(|s| s == SessionState::Expired).await;
    let until = tokio::time::Instant::now() + WAIT;
    while !cache.instances().is_empty() {
        assert!(
            tokio::time::Instant::now() < until,
            "the server never expired the session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.resume();
    let until = tokio::time::Instant::now() + WAIT;
    while cache.instances().is_empty() {
        assert!(
            tokio::time::Instant::now() < until,
            "never registered again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = direct.exists("/d3/svc/one").await.unwrap().unwrap();
    assert_eq!(again.ephemeral_owner, client.session_id());
    assert_ne!(again.czxid, first.czxid);
    assert_eq!(cache.instances()[0].id, "one");
    discovery.close().await.unwrap();
    client.close().await;
    direct.close().await;
}

async fn the_example_registers_and_lists(zk: &Backend) {
    let server = zk.connect_string();
    let mut register = example("discovery");
    register.args([
        "--server",
        &server,
        "--base",
        "/d4",
        "register",
        "web",
        "ex-1",
        "127.0.0.1",
        "7000",
    ]);
    let mut registered = Worker::spawn("register", register);
    wait_line(&registered, |l| l == "REGISTERED web ex-1").await;

    let direct = Client::connect(&server).await.unwrap();
    direct
        .create("/d4/web/junk", b"{not json", &CreateOptions::persistent())
        .await
        .unwrap();
    let mut list = example("discovery");
    list.args(["--server", &server, "--base", "/d4", "list", "web"]);
    let mut listed = Worker::spawn("list", list);
    listed.finish(WAIT).await;
    assert_eq!(
        *listed.lines.lock().unwrap(),
        ["INSTANCE web ex-1 127.0.0.1 7000"]
    );
    direct.delete("/d4/web/junk", None).await.unwrap();

    if let Some(java) = curator() {
        let lines = curator_list(&java, zk, "/d4", "web", "ex-1").await;
        assert_eq!(lines, ["INSTANCE web ex-1 127.0.0.1 7000 true"]);
    }
    // Deleted by someone else: registered again, and said so.
    direct.delete("/d4/web/ex-1", None).await.unwrap();
    let until = tokio::time::Instant::now() + WAIT;
    while registered
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| *l == "REGISTERED web ex-1")
        .count()
        < 2
    {
        assert!(tokio::time::Instant::now() < until, "not registered again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(direct.exists("/d4/web/ex-1").await.unwrap().is_some());
    registered.signal(nix::sys::signal::Signal::SIGTERM);
    registered.finish(WAIT).await;
    assert!(direct.exists("/d4/web/ex-1").await.unwrap().is_none());
    direct.close().await;
}
