//! The mutex's API contract in-process, on the real ZooKeeper 3.8.0 and zk-server-mini: typed
//! errors for bad input (invalid path, foreign children, closed client), try-acquire,
//! deadlines, cancellation and dropped futures leave no node behind, tokens increase, guards
//! observe loss by policy.

mod recipes_common;

use std::time::Duration;

use recipes_common::zk_options;
use tokio_util::sync::CancellationToken;
use zk_client::{Client, CreateOptions};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::proxy::TcpProxy;
use zk_recipes::{ErrorPolicy, Flavor, LossReason, Mutex, MutexOptions, RecipeError};

async fn connect(server: &str) -> Client {
    Client::builder(server)
        .session_timeout(Duration::from_secs(4))
        .connect()
        .await
        .expect("connect")
}

async fn children(client: &Client, path: &str) -> Vec<String> {
    client.get_children(path).await.unwrap_or_default()
}

/// Waits (bounded, generously: background deletes on a loaded machine) until `path` has
/// exactly `n` children.
async fn wait_children(client: &Client, path: &str, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if children(client, path).await.len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "{path} has {:?}, expected {n} children",
        children(client, path).await
    );
}

async fn bad_input_gets_typed_errors(backend: &Backend) {
    let client = connect(&backend.connect_string()).await;
    for bad in ["no-slash", "/", "/trailing/", "/a//b"] {
        let e = Mutex::new(client.clone(), bad, MutexOptions::default()).expect_err(bad);
        assert!(matches!(e, RecipeError::InvalidPath { .. }), "{bad}: {e:?}");
    }
    // Foreign children: a plain node, and a kazoo node under a Curator-flavour mutex.
    let path = "/api/foreign";
    zk_recipes::paths::ensure_containers(&client, path)
        .await
        .expect("parent");
    client
        .create(&format!("{path}/junk"), b"", &CreateOptions::persistent())
        .await
        .expect("junk");
    let mutex = Mutex::new(client.clone(), path, MutexOptions::default()).expect("mutex");
    match mutex.acquire_timeout(Duration::from_secs(5)).await {
        Err(RecipeError::ForeignChildren { names, .. }) => {
            assert_eq!(names, vec!["junk".to_owned()])
        }
        other => panic!("expected ForeignChildren, got {other:?}"),
    }
    wait_children(&client, path, 1).await;
    client
        .delete(&format!("{path}/junk"), None)
        .await
        .expect("delete junk");
    let kazoo = Mutex::new(
        client.clone(),
        path,
        MutexOptions::default().flavor(Flavor::Kazoo),
    )
    .expect("kazoo");
    let curator_guard = mutex.acquire().await.expect("curator flavour acquires");
    assert!(matches!(
        kazoo.try_acquire().await,
        Err(RecipeError::ForeignChildren { .. })
    ));
    curator_guard.release().await.expect("release");
    // A closed client.
    client.close().await;
    assert!(matches!(mutex.acquire().await, Err(RecipeError::Closed)));
    assert!(matches!(mutex.contenders().await, Err(RecipeError::Closed)));
}

async fn waits_end_cleanly(backend: &Backend) {
    let a = connect(&backend.connect_string()).await;
    let b = connect(&backend.connect_string()).await;
    let path = "/api/waits";
    let ma = Mutex::new(a.clone(), path, MutexOptions::default().id("a")).expect("mutex");
    let mb = Mutex::new(b.clone(), path, MutexOptions::default().id("b")).expect("mutex");
    let held = ma.acquire().await.expect("a acquires");
    assert!(held.is_held());
    assert!(held.valid_until().is_some());

    assert!(mb.try_acquire().await.expect("try").is_none());
    wait_children(&a, path, 1).await;

    let e = mb
        .acquire_timeout(Duration::from_millis(300))
        .await
        .expect_err("deadline");
    assert!(matches!(e, RecipeError::Deadline(_)), "{e:?}");
    wait_children(&a, path, 1).await;

    let cancel = CancellationToken::new();
    let waiter = {
        let mb = mb.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { mb.acquire_cancellable(cancel).await })
    };
    wait_children(&a, path, 2).await;
    let contenders = ma.contenders().await.expect("contenders");
    assert_eq!(
        contenders.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    cancel.cancel();
    assert!(matches!(
        waiter.await.expect("join"),
        Err(RecipeError::Cancelled)
    ));
    wait_children(&a, path, 1).await;

    // A dropped acquire future removes its node.
    let dropped = {
        let mb = mb.clone();
        tokio::spawn(async move { mb.acquire().await })
    };
    wait_children(&a, path, 2).await;
    dropped.abort();
    let _ = dropped.await;
    wait_children(&a, path, 1).await;

    // Hand over: b waits, a releases, b gets a larger token.
    let next = {
        let mb = mb.clone();
        tokio::spawn(async move { mb.acquire().await })
    };
    wait_children(&a, path, 2).await;
    let token = held.token();
    let observer = held.watch();
    held.release().await.expect("release");
    assert_eq!(observer.loss(), Some(LossReason::Released));
    let guard_b = next.await.expect("join").expect("b acquires");
    assert!(guard_b.token() > token);
    // Dropping a guard deletes its node in the background.
    drop(guard_b);
    wait_children(&a, path, 0).await;
    a.close().await;
    b.close().await;
}

/// Standard policy: a dropped connection loses the guard at once. Session policy: the guard
/// survives a short disconnect (same session, node re-verified).
async fn policies_decide_what_a_disconnect_means(backend: &Backend) {
    let proxy = TcpProxy::start(backend.addr()).await.expect("proxy");
    let client = connect(&proxy.connect_string()).await;
    let standard = Mutex::new(
        client.clone(),
        "/api/policy/standard",
        MutexOptions::default(),
    )
    .expect("m");
    let session = Mutex::new(
        client.clone(),
        "/api/policy/session",
        MutexOptions::default().policy(ErrorPolicy::Session),
    )
    .expect("m");
    let g1 = standard.acquire().await.expect("standard");
    let g2 = session.acquire().await.expect("session");
    proxy.drop_connections().await;
    let reason = tokio::time::timeout(Duration::from_secs(5), g1.lost())
        .await
        .expect("lost in time");
    assert_eq!(reason, LossReason::Suspended);
    client.wait_for_state(|s| s.is_connected()).await;
    // Re-verified after the reconnect: still held, and for longer than before.
    let before = g2.valid_until().expect("held");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(g2.is_held(), "{:?}", g2.loss());
    assert!(g2.valid_until().expect("held") > before);
    assert!(!g1.is_held());
    g2.release().await.expect("release");
    client.close().await;
}

/// A create whose reply is lost (ConnectionLoss after the server applied it) is not retried
/// blindly: after reconnecting, the recipe finds its node by the protection prefix and uses
/// it, so the lock path holds exactly one node of ours, and the guard is proven.
async fn lost_create_reply_leaves_no_orphan(backend: &Backend) {
    use zk_integration_tests::proxy::Direction;
    let proxy = TcpProxy::start(backend.addr()).await.expect("proxy");
    let client = connect(&proxy.connect_string()).await;
    let observer = connect(&backend.connect_string()).await;
    let path = "/api/lost-reply";
    zk_recipes::paths::ensure_containers(&observer, path)
        .await
        .expect("path");
    let mutex = Mutex::new(client.clone(), path, MutexOptions::default()).expect("mutex");
    proxy.pause_direction(Direction::ServerToClient).await;
    let acquiring =
        tokio::spawn(async move { mutex.acquire_timeout(Duration::from_secs(20)).await });
    // The create reached the server (its reply is held by the proxy).
    wait_children(&observer, path, 1).await;
    proxy.drop_connections().await;
    proxy.resume_direction(Direction::ServerToClient);
    let guard = acquiring
        .await
        .expect("join")
        .expect("acquired after the lost reply");
    assert!(guard.is_held());
    let names = children(&observer, path).await;
    assert_eq!(names.len(), 1, "no orphan and no second node: {names:?}");
    assert_eq!(format!("{path}/{}", names[0]), guard.node());
    guard.release().await.expect("release");
    wait_children(&observer, path, 0).await;
    client.close().await;
    observer.close().await;
}

/// Someone else deletes our node (right after acquiring, and later): the guard reports
/// `NodeDeleted` promptly, without waiting for a periodic probe.
async fn deleted_node_is_a_loss(backend: &Backend) {
    // A 20 s session: the periodic probe (every 20/3 s) cannot be what reports the loss.
    let client = Client::builder(&backend.connect_string())
        .session_timeout(Duration::from_secs(20))
        .connect()
        .await
        .expect("connect");
    let admin = connect(&backend.connect_string()).await;
    let mutex = Mutex::new(client.clone(), "/api/deleted", MutexOptions::default()).expect("m");
    for pause in [Duration::ZERO, Duration::from_millis(300)] {
        let guard = mutex.acquire().await.expect("acquire");
        tokio::time::sleep(pause).await;
        admin.delete(guard.node(), None).await.expect("delete");
        let reason = tokio::time::timeout(Duration::from_secs(5), guard.lost())
            .await
            .expect("the loss is signalled by a watch, not by the periodic probe");
        assert_eq!(reason, LossReason::NodeDeleted);
        assert!(!guard.is_held());
        guard.release().await.expect("release");
    }
    client.close().await;
    admin.close().await;
}

/// The first waiter takes the mutex on its predecessor's deletion without another read, but
/// only while its own node stands: a waiter whose node was deleted behind its back queues
/// again behind the others, and the one that was behind it takes over.
async fn next_in_line_needs_its_own_node(backend: &Backend) {
    let cs = backend.connect_string();
    let (a, b, c) = (connect(&cs).await, connect(&cs).await, connect(&cs).await);
    let admin = connect(&cs).await;
    let path = "/api/next";
    let mutex =
        |client: &Client| Mutex::new(client.clone(), path, MutexOptions::default()).expect("mutex");
    let (ma, mb, mc) = (mutex(&a), mutex(&b), mutex(&c));
    let held_a = ma.acquire().await.expect("a acquires");
    let b_waits = tokio::spawn(async move { mb.acquire().await });
    wait_children(&admin, path, 2).await;
    let c_waits = tokio::spawn(async move { mc.acquire().await });
    wait_children(&admin, path, 3).await;
    // The second in line is b's node: delete it.
    let mut nodes = children(&admin, path).await;
    nodes.sort_by_key(|n| n[n.len() - 10..].to_owned());
    admin
        .delete(&format!("{path}/{}", nodes[1]), None)
        .await
        .expect("delete b's node");
    // b queues again (a new node, last in line).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = children(&admin, path).await;
        if now.len() == 3 && !now.contains(&nodes[1]) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "b did not queue again: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token_a = held_a.token();
    held_a.release().await.expect("release a");
    let held_c = tokio::time::timeout(Duration::from_secs(30), c_waits)
        .await
        .expect("c takes over")
        .expect("task")
        .expect("c acquires");
    assert!(held_c.token() > token_a);
    // b must not hold it at the same time: give a wrong takeover time to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!b_waits.is_finished(), "b acquired while c holds the mutex");
    assert!(held_c.is_held());
    let token_c = held_c.token();
    held_c.release().await.expect("release c");
    let held_b = tokio::time::timeout(Duration::from_secs(30), b_waits)
        .await
        .expect("b takes over")
        .expect("task")
        .expect("b acquires");
    assert!(held_b.token() > token_c);
    held_b.release().await.expect("release b");
    for client in [a, b, c, admin] {
        client.close().await;
    }
}

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(60);
    next_in_line_needs_its_own_node(zk_options()),
    deleted_node_is_a_loss(zk_options()),
    lost_create_reply_leaves_no_orphan(zk_options()),
    bad_input_gets_typed_errors(zk_options()),
    waits_end_cleanly(zk_options()),
    policies_decide_what_a_disconnect_means(zk_options()),
}
