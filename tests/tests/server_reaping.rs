//! Container and TTL nodes are reaped by ordinary delete transactions that fire watches, on
//! zk-server-mini and (the same scenario) on Apache ZooKeeper 3.8.0.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use zk_integration_tests::mini::start_mini;
use zk_integration_tests::{RealZk, ZkOptions, require_real_zk};
use zk_proto::acl::Acl;
use zk_proto::*;
use zk_server_mini::MiniServer;
use zk_server_mini::testing::RawClient;

async fn exists(c: &mut RawClient, path: &str, watch: bool) -> bool {
    let req = Request::Exists(ExistsRequest {
        path: path.into(),
        watch,
    });
    c.call(&req).await.expect("exists").0.err.is_ok()
}

async fn wait_gone(c: &mut RawClient, path: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if !exists(c, path, false).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Runs the scenario; returns a description of what happened, identical on both servers.
async fn scenario(addr: SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = RawClient::connect(addr, 10_000).await.expect("connect");
    let container = |path: &str| {
        Request::CreateContainer(CreateRequest {
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 4,
        })
    };
    let plain = |path: &str| {
        Request::Create(CreateRequest {
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 0,
        })
    };
    let (h, body) = c.call(&container("/c")).await.expect("container");
    out.push(format!(
        "container: {:?} owner={:?}",
        h.err,
        match body {
            Some(Response::Create2(r)) => Some(r.stat.ephemeral_owner),
            _ => None,
        }
    ));
    // A never-used container stays.
    let (h, _) = c.call(&container("/unused")).await.expect("container");
    out.push(format!("unused: {:?}", h.err));
    assert!(c.call(&plain("/c/kid")).await.expect("kid").0.err.is_ok());
    assert!(exists(&mut c, "/c", true).await);
    let del = Request::Delete(DeleteRequest {
        path: "/c/kid".into(),
        version: -1,
    });
    assert!(c.call(&del).await.expect("delete kid").0.err.is_ok());
    out.push(format!(
        "container reaped: {}",
        wait_gone(&mut c, "/c").await
    ));
    out.push(format!(
        "watch fired: {:?}",
        c.events
            .iter()
            .map(|e| (e.event_type, e.path.clone()))
            .collect::<Vec<_>>()
    ));
    out.push(format!(
        "unused still there: {}",
        exists(&mut c, "/unused", false).await
    ));
    let ttl = Request::CreateTtl(CreateTtlRequest {
        path: "/ttl".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 5,
        ttl: 300,
    });
    let (h, body) = c.call(&ttl).await.expect("ttl");
    out.push(format!(
        "ttl: {:?} owner={:?}",
        h.err,
        match body {
            Some(Response::Create2(r)) => Some(r.stat.ephemeral_owner),
            _ => None,
        }
    ));
    let bad_ttl = Request::CreateTtl(CreateTtlRequest {
        path: "/ttl2".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 5,
        ttl: 0,
    });
    out.push(format!(
        "ttl 0: {:?}",
        c.call(&bad_ttl).await.expect("ttl 0").0.err
    ));
    out.push(format!("ttl reaped: {}", wait_gone(&mut c, "/ttl").await));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_and_ttl_nodes_are_reaped() {
    let (_dir, server) = start_mini(
        MiniServer::builder()
            .extended_types(true)
            .tick_ms(100)
            .container_check_interval(Duration::from_millis(200)),
    )
    .await;
    let mini = tokio::time::timeout(Duration::from_secs(60), scenario(server.addr()))
        .await
        .expect("timed out");
    server.stop().await;
    assert_eq!(
        mini,
        vec![
            "container: Ok owner=Some(0)".to_string(),
            "unused: Ok".into(),
            "container reaped: true".into(),
            "watch fired: [(NodeDeleted, \"/c\")]".into(),
            "unused still there: true".into(),
            "ttl: Ok owner=Some(0)".into(),
            "ttl 0: BadArguments".into(),
            "ttl reaped: true".into(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaping_matches_real_zookeeper() {
    require_real_zk!();
    let real = RealZk::start_standalone(
        ZkOptions::default()
            .extended_types(true)
            .jvm_property("znode.container.checkIntervalMs", "200"),
    )
    .await
    .expect("start the reference server");
    let expected = tokio::time::timeout(Duration::from_secs(60), scenario(real.addr()))
        .await
        .expect("timed out");
    let (_dir, server) = start_mini(
        MiniServer::builder()
            .extended_types(true)
            .container_check_interval(Duration::from_millis(200)),
    )
    .await;
    let actual = tokio::time::timeout(Duration::from_secs(60), scenario(server.addr()))
        .await
        .expect("timed out");
    server.stop().await;
    assert_eq!(actual, expected);
}
