//! `zk-client` with several kinds of watch on the *same* path, once against the real ZooKeeper
//! 3.8.0 and once against `zk-server-mini`.
//!
//! ZooKeeper 3.6–3.8 keeps one mode per (connection, path) in each of its two watch tables, and
//! the last registration wins: `addWatch` after a one-shot `getChildren` turns the child entry
//! into a recursive one (which never sends `NodeChildrenChanged`), a one-shot `getData` after
//! `addWatch` turns a persistent entry back into a one-shot one. `zk-server-mini` ORs the modes
//! instead. Whatever the server does, every watch the user asked for must get its events.

// The scenarios are plain `async fn`s that `on_each_backend!` calls from its generated tests, and
// clippy's `allow-unwrap-in-tests` only recognises `#[test]` functions themselves.
#![allow(
    clippy::unwrap_used,
    reason = "test scenarios: a failed unwrap is a failed test"
)]

use std::time::Duration;

use futures::StreamExt;
use tokio::time::timeout;
use zk_client::{
    AddWatchMode, Client, CreateOptions, Error, EventType, OneshotWatch, PersistentEvent,
    PersistentWatch, SessionState, WatchedEvent, WatcherType,
};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::{TcpProxy, ZkOptions};

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(120);
    oneshot_child_and_recursive_on_the_same_path_both_fire(ZkOptions::default()),
    oneshot_child_and_recursive_survive_a_dropped_connection(ZkOptions::default()),
    persistent_and_oneshot_data_in_both_orders(ZkOptions::default()),
    persistent_and_recursive_on_the_same_path(ZkOptions::default()),
}

async fn client(connect: &str) -> Client {
    Client::builder(connect)
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect")
}

async fn event_of(watch: OneshotWatch) -> (EventType, String) {
    let e = timeout(Duration::from_secs(10), watch)
        .await
        .expect("one-shot watch event within 10 s");
    (e.event_type, e.path)
}

async fn next_node_event(watch: &mut PersistentWatch) -> (EventType, String) {
    loop {
        let item = timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("persistent event within 10 s")
            .expect("stream still open");
        if let PersistentEvent::Node(WatchedEvent {
            event_type, path, ..
        }) = item
        {
            return (event_type, path);
        }
    }
}

fn ev(event_type: EventType, path: &str) -> (EventType, String) {
    (event_type, path.to_owned())
}

/// Asserts that nothing is queued on `watch` (after a round trip that would have delivered it).
async fn nothing_more(c: &Client, watch: &mut PersistentWatch) {
    c.sync("/").await.unwrap();
    let polled = futures::poll!(watch.next());
    assert!(
        !matches!(
            polled,
            std::task::Poll::Ready(Some(PersistentEvent::Node(_)))
        ),
        "unexpected event {polled:?}"
    );
}

/// The reported bug: a pending one-shot child watch, then `addWatch(recursive)` on the same
/// path; a child create must fire both. Also the other order, and removing/checking the one-shot
/// child watch next to the recursive one.
async fn oneshot_child_and_recursive_on_the_same_path_both_fire(zk: &Backend) {
    let c = client(&zk.connect_string()).await;
    let other = client(&zk.connect_string()).await;
    let opts = CreateOptions::persistent();
    c.create("/n0", b"", &opts).await.unwrap();
    c.create("/n1", b"", &opts).await.unwrap();

    // One-shot child first, recursive second.
    let (_, _, children) = c.get_children_watch("/n0").await.unwrap();
    let mut recursive = c
        .add_watch("/n0", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    other.create("/n0/c", b"", &opts).await.unwrap();
    assert_eq!(
        event_of(children).await,
        ev(EventType::NodeChildrenChanged, "/n0")
    );
    assert_eq!(
        next_node_event(&mut recursive).await,
        ev(EventType::NodeCreated, "/n0/c")
    );
    // A later one-shot child watch on the same path fires on a delete too, and the recursive
    // watch keeps seeing the whole subtree.
    let (_, _, children) = c.get_children_watch("/n0").await.unwrap();
    other.create("/n0/c/g", b"", &opts).await.unwrap();
    other.delete("/n0/c/g", None).await.unwrap();
    other.delete("/n0/c", None).await.unwrap();
    assert_eq!(
        event_of(children).await,
        ev(EventType::NodeChildrenChanged, "/n0")
    );
    for expected in [
        ev(EventType::NodeCreated, "/n0/c/g"),
        ev(EventType::NodeDeleted, "/n0/c/g"),
        ev(EventType::NodeDeleted, "/n0/c"),
    ] {
        assert_eq!(next_node_event(&mut recursive).await, expected);
    }
    nothing_more(&c, &mut recursive).await;

    // Recursive first, one-shot child second.
    let mut recursive1 = c
        .add_watch("/n1", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let (_, _, children) = c.get_children_watch("/n1").await.unwrap();
    // Both servers agree that the session watches the children of /n1.
    c.check_watches("/n1", WatcherType::Children).await.unwrap();
    other.create("/n1/c", b"", &opts).await.unwrap();
    assert_eq!(
        event_of(children).await,
        ev(EventType::NodeChildrenChanged, "/n1")
    );
    assert_eq!(
        next_node_event(&mut recursive1).await,
        ev(EventType::NodeCreated, "/n1/c")
    );
    // Removing the one-shot child watch leaves the recursive one intact.
    let (_, _, children) = c.get_children_watch("/n1").await.unwrap();
    c.remove_watches("/n1", WatcherType::Children)
        .await
        .unwrap();
    assert_eq!(
        event_of(children).await,
        ev(EventType::ChildWatchRemoved, "/n1")
    );
    assert_eq!(
        c.remove_watches("/n1", WatcherType::Children).await,
        Err(Error::NoWatcher)
    );
    other.set_data("/n1/c", b"x", None).await.unwrap();
    assert_eq!(
        next_node_event(&mut recursive1).await,
        ev(EventType::NodeDataChanged, "/n1/c")
    );
    // The recursive watch never reports NodeChildrenChanged itself.
    other.create("/n1/d", b"", &opts).await.unwrap();
    assert_eq!(
        next_node_event(&mut recursive1).await,
        ev(EventType::NodeCreated, "/n1/d")
    );
    nothing_more(&c, &mut recursive1).await;

    // Dropping the recursive watch while a one-shot child watch is pending keeps the latter.
    let (_, _, children) = c.get_children_watch("/n1").await.unwrap();
    drop(recursive1);
    c.sync("/").await.unwrap();
    other.delete("/n1/d", None).await.unwrap();
    assert_eq!(
        event_of(children).await,
        ev(EventType::NodeChildrenChanged, "/n1")
    );
    // Once no watch needs it, the recursive registration is gone from the server too.
    assert_eq!(
        c.check_watches("/n1", WatcherType::Any).await,
        Err(Error::NoWatcher)
    );
    c.close().await;
    other.close().await;
}

/// The same pair of watches after a reconnect: SetWatches2 re-registers the one-shot child list
/// before the recursive list, which would turn the child entry recursive again on ZooKeeper 3.8.
async fn oneshot_child_and_recursive_survive_a_dropped_connection(zk: &Backend) {
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let c = client(&proxy.connect_string()).await;
    let other = client(&zk.connect_string()).await;
    let mut events = c.session_events();
    let opts = CreateOptions::persistent();
    c.create("/n0", b"", &opts).await.unwrap();
    c.create("/n1", b"", &opts).await.unwrap();
    // Both orders.
    let (_, _, children0) = c.get_children_watch("/n0").await.unwrap();
    let mut recursive0 = c
        .add_watch("/n0", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let mut recursive1 = c
        .add_watch("/n1", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let (_, _, children1) = c.get_children_watch("/n1").await.unwrap();

    assert_eq!(proxy.drop_connections().await, 1);
    let session = c.session_id();
    loop {
        let e = timeout(Duration::from_secs(30), events.next())
            .await
            .expect("reconnect within 30 s")
            .unwrap();
        let zk_client::SessionUpdate::Changed(e) = e else {
            panic!("a test subscriber never falls 128 transitions behind: {e:?}");
        };
        if e.state == SessionState::Connected {
            assert_eq!(e.session_id, session);
            break;
        }
    }
    for stream in [&mut recursive0, &mut recursive1] {
        let item = timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(item, PersistentEvent::Reconnected { new_session: false });
    }

    other.create("/n0/c", b"", &opts).await.unwrap();
    other.create("/n1/c", b"", &opts).await.unwrap();
    assert_eq!(
        event_of(children0).await,
        ev(EventType::NodeChildrenChanged, "/n0")
    );
    assert_eq!(
        event_of(children1).await,
        ev(EventType::NodeChildrenChanged, "/n1")
    );
    assert_eq!(
        next_node_event(&mut recursive0).await,
        ev(EventType::NodeCreated, "/n0/c")
    );
    assert_eq!(
        next_node_event(&mut recursive1).await,
        ev(EventType::NodeCreated, "/n1/c")
    );
    c.close().await;
    other.close().await;
}

/// A one-shot data (or exist) watch and a persistent watch on the same path, in both orders: the
/// one-shot fires once, the persistent watch keeps firing.
async fn persistent_and_oneshot_data_in_both_orders(zk: &Backend) {
    let c = client(&zk.connect_string()).await;
    let other = client(&zk.connect_string()).await;
    let opts = CreateOptions::persistent();
    c.create("/a", b"", &opts).await.unwrap();
    c.create("/b", b"", &opts).await.unwrap();

    // One-shot first.
    let (_, _, data) = c.get_data_watch("/a").await.unwrap();
    let mut persistent_a = c.add_watch("/a", AddWatchMode::Persistent).await.unwrap();
    // Persistent first.
    let mut persistent_b = c.add_watch("/b", AddWatchMode::Persistent).await.unwrap();
    let (_, _, data_b) = c.get_data_watch("/b").await.unwrap();
    let (_, exists_b) = c.exists_watch("/b").await.unwrap();
    let (_, _, children_b) = c.get_children_watch("/b").await.unwrap();

    other.set_data("/a", b"x", None).await.unwrap();
    other.set_data("/b", b"x", None).await.unwrap();
    assert_eq!(event_of(data).await, ev(EventType::NodeDataChanged, "/a"));
    assert_eq!(event_of(data_b).await, ev(EventType::NodeDataChanged, "/b"));
    assert_eq!(
        event_of(exists_b).await,
        ev(EventType::NodeDataChanged, "/b")
    );
    for round in 0..3 {
        assert_eq!(
            next_node_event(&mut persistent_a).await,
            ev(EventType::NodeDataChanged, "/a"),
            "round {round}"
        );
        assert_eq!(
            next_node_event(&mut persistent_b).await,
            ev(EventType::NodeDataChanged, "/b"),
            "round {round}"
        );
        // A fresh one-shot watch after every change must not turn the persistent watch into a
        // one-shot one.
        let (_, _, again_b) = c.get_data_watch("/b").await.unwrap();
        let (_, again_a) = c.exists_watch("/a").await.unwrap();
        other.set_data("/a", b"x", None).await.unwrap();
        other.set_data("/b", b"x", None).await.unwrap();
        assert_eq!(
            event_of(again_a).await,
            ev(EventType::NodeDataChanged, "/a")
        );
        assert_eq!(
            event_of(again_b).await,
            ev(EventType::NodeDataChanged, "/b")
        );
    }
    for (stream, path) in [(&mut persistent_a, "/a"), (&mut persistent_b, "/b")] {
        assert_eq!(
            next_node_event(stream).await,
            ev(EventType::NodeDataChanged, path)
        );
    }
    let (_, _, data_b) = c.get_data_watch("/b").await.unwrap();
    other.create("/b/c", b"", &opts).await.unwrap();
    assert_eq!(
        event_of(children_b).await,
        ev(EventType::NodeChildrenChanged, "/b")
    );
    assert_eq!(
        next_node_event(&mut persistent_b).await,
        ev(EventType::NodeChildrenChanged, "/b")
    );
    // Removing the one-shot data watch leaves the persistent one whole.
    c.check_watches("/b", WatcherType::Data).await.unwrap();
    c.remove_watches("/b", WatcherType::Data).await.unwrap();
    assert_eq!(
        event_of(data_b).await,
        ev(EventType::DataWatchRemoved, "/b")
    );
    other.set_data("/b", b"y", None).await.unwrap();
    other.delete("/b/c", None).await.unwrap();
    assert_eq!(
        next_node_event(&mut persistent_b).await,
        ev(EventType::NodeDataChanged, "/b")
    );
    assert_eq!(
        next_node_event(&mut persistent_b).await,
        ev(EventType::NodeChildrenChanged, "/b")
    );
    nothing_more(&c, &mut persistent_a).await;
    nothing_more(&c, &mut persistent_b).await;
    c.close().await;
    other.close().await;
}

/// A persistent and a persistent-recursive watch on the same path, in both orders: each gets
/// exactly its own events (the persistent one its node's changes and `NodeChildrenChanged`, the
/// recursive one every change in the subtree), with no duplicates, also after either is dropped.
async fn persistent_and_recursive_on_the_same_path(zk: &Backend) {
    let c = client(&zk.connect_string()).await;
    let other = client(&zk.connect_string()).await;
    let opts = CreateOptions::persistent();
    for (path, recursive_first) in [("/p", false), ("/q", true)] {
        c.create(path, b"", &opts).await.unwrap();
        let (mut persistent, mut recursive) = if recursive_first {
            let r = c
                .add_watch(path, AddWatchMode::PersistentRecursive)
                .await
                .unwrap();
            (
                c.add_watch(path, AddWatchMode::Persistent).await.unwrap(),
                r,
            )
        } else {
            let p = c.add_watch(path, AddWatchMode::Persistent).await.unwrap();
            (
                p,
                c.add_watch(path, AddWatchMode::PersistentRecursive)
                    .await
                    .unwrap(),
            )
        };
        let child = format!("{path}/c");
        let grandchild = format!("{path}/c/g");
        other.create(&child, b"", &opts).await.unwrap();
        other.create(&grandchild, b"", &opts).await.unwrap();
        other.set_data(&grandchild, b"1", None).await.unwrap();
        other.set_data(path, b"1", None).await.unwrap();
        other.delete(&grandchild, None).await.unwrap();
        other.delete(&child, None).await.unwrap();
        for expected in [
            ev(EventType::NodeChildrenChanged, path),
            ev(EventType::NodeDataChanged, path),
            ev(EventType::NodeChildrenChanged, path),
        ] {
            assert_eq!(next_node_event(&mut persistent).await, expected, "{path}");
        }
        for expected in [
            ev(EventType::NodeCreated, &child),
            ev(EventType::NodeCreated, &grandchild),
            ev(EventType::NodeDataChanged, &grandchild),
            ev(EventType::NodeDataChanged, path),
            ev(EventType::NodeDeleted, &grandchild),
            ev(EventType::NodeDeleted, &child),
        ] {
            assert_eq!(next_node_event(&mut recursive).await, expected, "{path}");
        }
        nothing_more(&c, &mut persistent).await;
        nothing_more(&c, &mut recursive).await;

        if recursive_first {
            // Dropping the persistent watch leaves the recursive one whole.
            drop(persistent);
            c.sync("/").await.unwrap();
            other.create(&child, b"", &opts).await.unwrap();
            other.create(&grandchild, b"", &opts).await.unwrap();
            assert_eq!(
                next_node_event(&mut recursive).await,
                ev(EventType::NodeCreated, &child)
            );
            assert_eq!(
                next_node_event(&mut recursive).await,
                ev(EventType::NodeCreated, &grandchild)
            );
        } else {
            // Dropping the recursive watch leaves the persistent one whole.
            drop(recursive);
            c.sync("/").await.unwrap();
            other.create(&child, b"", &opts).await.unwrap();
            other.create(&grandchild, b"", &opts).await.unwrap();
            other.set_data(path, b"2", None).await.unwrap();
            assert_eq!(
                next_node_event(&mut persistent).await,
                ev(EventType::NodeChildrenChanged, path)
            );
            assert_eq!(
                next_node_event(&mut persistent).await,
                ev(EventType::NodeDataChanged, path)
            );
            nothing_more(&c, &mut persistent).await;
        }
    }
    c.close().await;
    other.close().await;
}
