//! `zk_recipes::cache` against the real ZooKeeper 3.8.0 and `zk-server-mini` (each scenario on
//! both, through `on_each_backend!`): initial snapshot, events with stats, a delete-and-recreate
//! and other changes during a dropped connection (CURATOR-391), a session expiry with the
//! new-session policy, and nodes written by kazoo.

#![allow(
    clippy::unwrap_used,
    reason = "test scenarios: a failed unwrap is a failed test"
)]

mod recipes_common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::timeout;
use zk_client::{Client, CreateOptions, Error, ExpiryPolicy, SessionState};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::{Direction, TcpProxy, ZkOptions, clients};
use zk_recipes::cache::{CacheEvent, CachedNode, NodeCache, TreeCache};

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(120);
    initial_snapshot_then_events_with_stats(ZkOptions::default()),
    changes_during_a_dropped_connection_are_reported_by_the_resync(ZkOptions::default()),
    a_new_session_after_expiry_resyncs(ZkOptions::default().tick_time(500)),
    node_cache_follows_one_node(ZkOptions::default()),
    nodes_written_by_kazoo_are_seen(ZkOptions::default()),
    the_example_prints_events_resyncs_and_its_view(ZkOptions::default()),
    a_watch_buffer_overflow_still_converges(ZkOptions::default()),
    curator_cache_and_ours_see_the_same_tree(ZkOptions::default()),
    unreadable_nodes_are_left_out(ZkOptions::default()),
    node_cache_sees_a_recreate_during_a_disconnect(ZkOptions::default()),
}

/// Every node under `root` as the server has it, read through `client`.
async fn server_view(client: &Client, root: &str) -> BTreeMap<String, CachedNode> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_owned()];
    while let Some(path) = todo.pop() {
        let (data, stat) = match client.get_data(&path).await {
            Ok(found) => found,
            Err(Error::NoNode) => continue,
            Err(e) => panic!("read {path}: {e}"),
        };
        for name in client.get_children(&path).await.unwrap_or_default() {
            todo.push(if path == "/" {
                format!("/{name}")
            } else {
                format!("{path}/{name}")
            });
        }
        out.insert(path, CachedNode { data, stat });
    }
    out
}

/// The next event that is not `Lagged`, within 20 s.
async fn next(events: &mut BoxStream<'static, CacheEvent>) -> CacheEvent {
    timeout(Duration::from_secs(20), events.next())
        .await
        .expect("a cache event within 20 s")
        .expect("event stream open")
}

/// Collects events up to and including the first one that satisfies `stop`.
async fn events_until(
    events: &mut BoxStream<'static, CacheEvent>,
    stop: impl Fn(&CacheEvent) -> bool,
) -> Vec<CacheEvent> {
    let mut seen = Vec::new();
    loop {
        let e = next(events).await;
        let done = stop(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

/// `KIND path` lines, for readable assertions.
fn lines(events: &[CacheEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            CacheEvent::Created { path, .. } => format!("CREATED {path}"),
            CacheEvent::Changed { path, .. } => format!("CHANGED {path}"),
            CacheEvent::Deleted { path, .. } => format!("DELETED {path}"),
            CacheEvent::Initialized { count } => format!("INITIALIZED {count}"),
            CacheEvent::Resynced { count } => format!("RESYNCED {count}"),
            other => format!("{other:?}"),
        })
        .collect()
}

async fn create(client: &Client, path: &str, data: &[u8]) -> zk_client::Stat {
    client
        .create(path, data, &CreateOptions::persistent())
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"))
        .1
}

async fn initial_snapshot_then_events_with_stats(zk: &Backend) {
    let writer = Client::connect(&zk.connect_string()).await.unwrap();
    create(&writer, "/app", b"root").await;
    for i in 0..20 {
        create(
            &writer,
            &format!("/app/n{i:02}"),
            format!("v{i}").as_bytes(),
        )
        .await;
    }
    create(&writer, "/app/n00/deep", b"d").await;
    create(&writer, "/other", b"outside").await;

    let reader = Client::connect(&zk.connect_string()).await.unwrap();
    let cache = TreeCache::start(&reader, "/app").await.unwrap();
    let mut events = cache.events();
    assert_eq!(
        next(&mut events).await,
        CacheEvent::Initialized { count: 22 }
    );
    assert_eq!(cache.snapshot(), server_view(&writer, "/app").await);
    assert!(cache.get("/other").is_none());
    assert_eq!(cache.children("/app").len(), 20);
    assert_eq!(cache.children("/app/n00")[0].0, "deep");

    let created = create(&writer, "/app/n05/x", b"new").await;
    let changed = writer.set_data("/app/n07", b"v7b", Some(0)).await.unwrap();
    writer.delete("/app/n00/deep", None).await.unwrap();
    create(&writer, "/other/ignored", b"").await;
    let seen = events_until(&mut events, |e| matches!(e, CacheEvent::Deleted { .. })).await;
    assert_eq!(
        lines(&seen),
        [
            "CREATED /app/n05/x",
            "CHANGED /app/n07",
            "DELETED /app/n00/deep"
        ]
    );
    match &seen[0] {
        CacheEvent::Created { node, .. } => {
            assert_eq!(node.stat, created);
            assert_eq!(node.data.as_ref(), b"new");
        }
        other => panic!("{other:?}"),
    }
    match &seen[1] {
        CacheEvent::Changed { node, .. } => {
            assert_eq!(node.stat.mzxid, changed.mzxid);
            assert_eq!(node.data.as_ref(), b"v7b");
        }
        other => panic!("{other:?}"),
    }
    match &seen[2] {
        CacheEvent::Deleted { node, .. } => assert_eq!(node.data.as_ref(), b"d"),
        other => panic!("{other:?}"),
    }
    // Deleting the whole subtree reports children before parents.
    for i in 0..20 {
        let p = format!("/app/n{i:02}");
        for c in writer.get_children(&p).await.unwrap() {
            writer.delete(&format!("{p}/{c}"), None).await.unwrap();
        }
        writer.delete(&p, None).await.unwrap();
    }
    writer.delete("/app", None).await.unwrap();
    let seen = events_until(
        &mut events,
        |e| matches!(e, CacheEvent::Deleted { path, .. } if path == "/app"),
    )
    .await;
    assert_eq!(seen.len(), 22, "{:?}", lines(&seen));
    assert!(cache.is_empty());
    reader.close().await;
    writer.close().await;
}

async fn changes_during_a_dropped_connection_are_reported_by_the_resync(zk: &Backend) {
    let writer = Client::connect(&zk.connect_string()).await.unwrap();
    create(&writer, "/r", b"").await;
    let old_x = create(&writer, "/r/x", b"same").await;
    create(&writer, "/r/gone", b"").await;
    create(&writer, "/r/chg", b"1").await;
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let reader = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(20))
        .connect()
        .await
        .unwrap();
    let cache = TreeCache::start(&reader, "/r").await.unwrap();
    let mut events = cache.events();
    assert_eq!(
        next(&mut events).await,
        CacheEvent::Initialized { count: 4 }
    );

    proxy.block_new();
    proxy.drop_connections().await;
    reader
        .wait_for_state(|s| s == SessionState::Suspended)
        .await;
    // Delete and re-create with the same data: the version is 0 again, only czxid differs.
    writer.delete("/r/x", None).await.unwrap();
    let new_x = create(&writer, "/r/x", b"same").await;
    assert_eq!(new_x.version, old_x.version);
    writer.delete("/r/gone", None).await.unwrap();
    writer.set_data("/r/chg", b"2", None).await.unwrap();
    create(&writer, "/r/new", b"").await;
    proxy.unblock();

    let seen = events_until(&mut events, |e| matches!(e, CacheEvent::Resynced { .. })).await;
    assert_eq!(
        lines(&seen),
        [
            "DELETED /r/gone",
            "CHANGED /r/chg",
            "CREATED /r/new",
            "DELETED /r/x",
            "CREATED /r/x",
            "RESYNCED 4"
        ]
    );
    let deleted_x = seen
        .iter()
        .find_map(|e| match e {
            CacheEvent::Deleted { path, node } if path == "/r/x" => Some(node.stat.czxid),
            _ => None,
        })
        .unwrap();
    let created_x = seen
        .iter()
        .find_map(|e| match e {
            CacheEvent::Created { path, node } if path == "/r/x" => Some(node.stat.czxid),
            _ => None,
        })
        .unwrap();
    assert_eq!((deleted_x, created_x), (old_x.czxid, new_x.czxid));
    assert_eq!(cache.snapshot(), server_view(&writer, "/r").await);

    // Events flow again after the resync.
    writer.set_data("/r/new", b"after", None).await.unwrap();
    assert_eq!(lines(&[next(&mut events).await]), ["CHANGED /r/new"]);
    reader.close().await;
    writer.close().await;
}

async fn a_new_session_after_expiry_resyncs(zk: &Backend) {
    let writer = Client::connect(&zk.connect_string()).await.unwrap();
    create(&writer, "/s", b"").await;
    create(&writer, "/s/a", b"1").await;
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let reader = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(2))
        .expiry_policy(ExpiryPolicy::NewSession)
        .connect()
        .await
        .unwrap();
    let first_session = reader.session_id();
    let cache = TreeCache::start(&reader, "/s").await.unwrap();
    let mut events = cache.events();
    assert_eq!(
        next(&mut events).await,
        CacheEvent::Initialized { count: 2 }
    );

    proxy.pause().await;
    reader.wait_for_state(|s| s == SessionState::Expired).await;
    writer.delete("/s/a", None).await.unwrap();
    create(&writer, "/s/a", b"1").await;
    create(&writer, "/s/b", b"").await;
    proxy.resume();
    let seen = events_until(&mut events, |e| matches!(e, CacheEvent::Resynced { .. })).await;
    assert_eq!(
        lines(&seen),
        ["DELETED /s/a", "CREATED /s/a", "CREATED /s/b", "RESYNCED 3"]
    );
    assert_ne!(reader.session_id(), first_session);
    assert_eq!(cache.snapshot(), server_view(&writer, "/s").await);
    writer.delete("/s/b", None).await.unwrap();
    assert_eq!(lines(&[next(&mut events).await]), ["DELETED /s/b"]);
    reader.close().await;
    writer.close().await;
}

async fn node_cache_follows_one_node(zk: &Backend) {
    let writer = Client::connect(&zk.connect_string()).await.unwrap();
    let reader = Client::connect(&zk.connect_string()).await.unwrap();
    let cache = NodeCache::start(&reader, "/flag").await.unwrap();
    let mut events = cache.events();
    assert_eq!(
        next(&mut events).await,
        CacheEvent::Initialized { count: 0 }
    );
    assert!(cache.get().is_none());
    let stat = create(&writer, "/flag", b"on").await;
    assert_eq!(lines(&[next(&mut events).await]), ["CREATED /flag"]);
    assert_eq!(cache.get().unwrap().stat, stat);
    // Children are not part of a node cache.
    create(&writer, "/flag/child", b"").await;
    writer.set_data("/flag", b"off", None).await.unwrap();
    let e = next(&mut events).await;
    assert_eq!(lines(std::slice::from_ref(&e)), ["CHANGED /flag"]);
    assert_eq!(cache.get().unwrap().data.as_ref(), b"off");
    reader.close().await;
    assert!(matches!(
        next(&mut events).await,
        CacheEvent::Stopped { .. }
    ));
    writer.close().await;
}

/// kazoo creates, changes and deletes nodes (with `makepath`); the cache ends equal to the
/// server and reported each final node.
async fn nodes_written_by_kazoo_are_seen(zk: &Backend) {
    zk_integration_tests::require!("kazoo", clients::kazoo());
    let python = clients::kazoo().unwrap();
    let reader = Client::connect(&zk.connect_string()).await.unwrap();
    let cache = TreeCache::start(&reader, "/kz").await.unwrap();
    let mut events = cache.events();
    assert_eq!(
        next(&mut events).await,
        CacheEvent::Initialized { count: 0 }
    );
    let script = r#"
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1]); zk.start(timeout=15)
zk.create("/kz/a/b", b"1", makepath=True)
zk.create("/kz/c", b"x")
zk.set("/kz/a/b", b"2")
zk.delete("/kz/c")
zk.create("/kz/done", b"")
zk.stop(); zk.close()
print("DONE")
"#;
    let out = timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(python)
            .arg("-c")
            .arg(script)
            .arg(zk.connect_string())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("kazoo within 60 s")
    .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("DONE"),
        "kazoo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = events_until(
        &mut events,
        |e| matches!(e, CacheEvent::Created { path, .. } if path == "/kz/done"),
    )
    .await;
    let seen = lines(&seen);
    // Coalescing may merge the two writes of /kz/a/b, and /kz/c may be gone before it is read;
    // the parents are always reported before their children.
    let pos = |l: &str| seen.iter().position(|s| s == l);
    assert!(
        pos("CREATED /kz").unwrap() < pos("CREATED /kz/a").unwrap(),
        "{seen:?}"
    );
    assert!(
        pos("CREATED /kz/a").unwrap() < pos("CREATED /kz/a/b").unwrap(),
        "{seen:?}"
    );
    assert_eq!(cache.get("/kz/a/b").unwrap().data.as_ref(), b"2");
    assert!(cache.get("/kz/c").is_none());
    assert_eq!(cache.snapshot(), server_view(&reader, "/kz").await);
    reader.close().await;
}

/// Waits until the worker printed a line satisfying `pred`.
async fn wait_line(worker: &recipes_common::Worker, pred: impl Fn(&str) -> bool) {
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if worker.lines.lock().unwrap().iter().any(|l| pred(l)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no matching line; got {:?}",
            worker.lines.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `tree_cache` example: its lines, a resync after a dropped connection, and on SIGTERM its
/// whole view, which must equal the server's.
async fn the_example_prints_events_resyncs_and_its_view(zk: &Backend) {
    let writer = Client::connect(&zk.connect_string()).await.unwrap();
    create(&writer, "/ex", b"").await;
    create(&writer, "/ex/a", b"").await;
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let mut command = recipes_common::example("tree_cache");
    command.args(["--server", &proxy.connect_string(), "--path", "/ex"]);
    let mut worker = recipes_common::Worker::spawn("tree_cache", command);
    wait_line(&worker, |l| l == "INITIALIZED 2").await;
    let b = create(&writer, "/ex/b", b"").await;
    wait_line(&worker, |l| *l == format!("CREATED /ex/b {}", b.mzxid)).await;
    let a = writer.set_data("/ex/a", b"x", None).await.unwrap();
    wait_line(&worker, |l| *l == format!("CHANGED /ex/a {}", a.mzxid)).await;
    proxy.block_new();
    proxy.drop_connections().await;
    writer.delete("/ex/b", None).await.unwrap();
    proxy.unblock();
    wait_line(&worker, |l| l == "RESYNCED").await;
    wait_line(&worker, |l| *l == format!("DELETED /ex/b {}", b.mzxid)).await;
    worker.signal(nix::sys::signal::Signal::SIGTERM);
    worker.finish(Duration::from_secs(30)).await;
    let view: Vec<String> = server_view(&writer, "/ex")
        .await
        .iter()
        .map(|(p, n)| format!("NODE {p} {}", n.stat.mzxid))
        .collect();
    let printed: Vec<String> = worker
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("NODE "))
        .cloned()
        .collect();
    assert_eq!(printed, view);
    assert_eq!(view.len(), 2);
    writer.close().await;
}

/// Forces a persistent-watch overflow: the client's buffer holds 2 events, and the cache task
/// is stuck on a read that cannot reach the server (client-to-server bytes paused at the proxy)
/// while 300 notifications arrive. A one-shot watch on a sentinel created after the burst tells
/// when they have all arrived. The cache must then resync and end equal to the server.
async fn a_watch_buffer_overflow_still_converges(zk: &Backend) {
    let writer = Client::connect(&zk.connect_string()).await.unwrap();
    create(&writer, "/burst", b"").await;
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let reader = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(20))
        .persistent_watch_buffer(2)
        .connect()
        .await
        .unwrap();
    let cache = TreeCache::start(&reader, "/burst").await.unwrap();
    let mut events = cache.events();
    assert_eq!(
        next(&mut events).await,
        CacheEvent::Initialized { count: 1 }
    );
    let (_, sentinel) = reader.exists_watch("/sentinel").await.unwrap();
    proxy.pause_direction(Direction::ClientToServer).await;
    let options = CreateOptions::persistent();
    let creates = (0..150).map(|i| {
        let path = format!("/burst/n{i:03}");
        let (writer, options) = (&writer, &options);
        async move { writer.create(&path, b"x", options).await.map(drop) }
    });
    for r in futures::future::join_all(creates).await {
        r.unwrap();
    }
    let sets = (0..150).map(|i| {
        let path = format!("/burst/n{i:03}");
        let writer = &writer;
        async move { writer.set_data(&path, b"y", None).await.map(drop) }
    });
    for r in futures::future::join_all(sets).await {
        r.unwrap();
    }
    create(&writer, "/sentinel", b"").await;
    // Notifications reach a session in commit order: once this fires, the 300 before it were
    // delivered to the cache's watch, which could hold 2 of them.
    timeout(Duration::from_secs(30), sentinel)
        .await
        .expect("the sentinel's event within 30 s");
    proxy.resume_direction(Direction::ClientToServer);
    let seen = events_until(&mut events, |e| matches!(e, CacheEvent::Resynced { .. })).await;
    assert!(
        matches!(seen.last(), Some(CacheEvent::Resynced { count: 151 })),
        "{:?}",
        seen.last()
    );
    assert_eq!(cache.snapshot(), server_view(&writer, "/burst").await);
    reader.close().await;
    writer.close().await;
}

/// Curator's `CuratorCache` (a Java process) and our cache on the same tree: the same node count
/// after the initial load, and both report each later create, change and delete.
async fn curator_cache_and_ours_see_the_same_tree(zk: &Backend) {
    use zk_integration_tests::java::{JavaProgram, curator_classpath};
    zk_integration_tests::require!("Curator 5.4 and javac", curator_classpath());
    let java = JavaProgram::compile_curator(&["CacheCurator.java"]).unwrap();
    let writer = Client::connect(&zk.connect_string()).await.unwrap();
    create(&writer, "/cc", b"").await;
    for i in 0..30 {
        create(&writer, &format!("/cc/n{i:02}"), b"v").await;
    }
    let mut command = java.command("CacheCurator");
    command.args([zk.connect_string().as_str(), "/cc"]);
    let curator = recipes_common::Worker::spawn("CuratorCache", command);
    wait_line(&curator, |l| {
        l.starts_with("INIT_MS ") && l.ends_with(" 31")
    })
    .await;
    let cache = TreeCache::start(&writer, "/cc").await.unwrap();
    let mut events = cache.events();
    assert_eq!(
        next(&mut events).await,
        CacheEvent::Initialized { count: 31 }
    );

    create(&writer, "/cc/new", b"").await;
    writer.set_data("/cc/n05", b"w", None).await.unwrap();
    writer.delete("/cc/n07", None).await.unwrap();
    let ours = lines(&events_until(&mut events, |e| matches!(e, CacheEvent::Deleted { .. })).await);
    assert_eq!(
        ours,
        ["CREATED /cc/new", "CHANGED /cc/n05", "DELETED /cc/n07"]
    );
    for expected in ours {
        wait_line(&curator, |l| l.starts_with(&format!("EVENT {expected} "))).await;
    }
    let mut curator = curator;
    curator.kill().await;
    writer.close().await;
}

/// A node this client may not read (a digest ACL) is left out of the view, with its subtree;
/// the rest is cached and followed.
async fn unreadable_nodes_are_left_out(zk: &Backend) {
    use zk_client::{Acl, Id, Perms};
    let owner = Client::connect(&zk.connect_string()).await.unwrap();
    owner.add_auth("digest", b"alice:secret").await.unwrap();
    create(&owner, "/acl", b"").await;
    create(&owner, "/acl/open", b"o").await;
    let private = vec![Acl::new(Perms::ALL, Id::digest("alice", "secret"))];
    owner
        .create(
            "/acl/private",
            b"p",
            &CreateOptions::persistent().with_acl(private),
        )
        .await
        .unwrap();
    let reader = Client::connect(&zk.connect_string()).await.unwrap();
    let cache = TreeCache::start(&reader, "/acl").await.unwrap();
    let mut events = cache.events();
    assert_eq!(
        next(&mut events).await,
        CacheEvent::Initialized { count: 2 }
    );
    assert!(cache.get("/acl/private").is_none());
    owner.set_data("/acl/private", b"p2", None).await.unwrap();
    owner.set_data("/acl/open", b"o2", None).await.unwrap();
    assert_eq!(lines(&[next(&mut events).await]), ["CHANGED /acl/open"]);
    reader.close().await;
    owner.close().await;
}

/// CURATOR-391 for a single node: deleted and re-created with the same data (same version)
/// while the cache's connection is down.
async fn node_cache_sees_a_recreate_during_a_disconnect(zk: &Backend) {
    let writer = Client::connect(&zk.connect_string()).await.unwrap();
    let old = create(&writer, "/one", b"same").await;
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let reader = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(20))
        .connect()
        .await
        .unwrap();
    let cache = NodeCache::start(&reader, "/one").await.unwrap();
    let mut events = cache.events();
    assert_eq!(
        next(&mut events).await,
        CacheEvent::Initialized { count: 1 }
    );
    proxy.block_new();
    proxy.drop_connections().await;
    writer.delete("/one", None).await.unwrap();
    let new = create(&writer, "/one", b"same").await;
    proxy.unblock();
    let seen = events_until(&mut events, |e| matches!(e, CacheEvent::Resynced { .. })).await;
    assert_eq!(lines(&seen), ["DELETED /one", "CREATED /one", "RESYNCED 1"]);
    assert_eq!(cache.get().unwrap().stat.czxid, new.czxid);
    assert_ne!(new.czxid, old.czxid);
    reader.close().await;
    writer.close().await;
}
