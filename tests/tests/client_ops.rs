//! `zk-client` against a single server, once against the real ZooKeeper 3.8.0 and once against
//! `zk-server-mini` (each scenario below is one `async fn(&Backend)`; `on_each_backend!` at the
//! end makes a `real` and a `mini` test of it): every operation, the error paths a user can hit,
//! chroot, and watch semantics and ordering.

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
    Acl, AddWatchMode, Client, CreateMode, CreateOptions, Error, EventType, Id, MultiResult, Perms,
    PersistentEvent, ReadOp, ReadResult, SessionState, WatcherType,
};
use zk_integration_tests::ZkOptions;
use zk_integration_tests::backend::Backend;

// Every test runs under a hard deadline (start, scenario and stop) so a hang fails instead of
// blocking CI.
zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(120);
    every_operation(ZkOptions::default().extended_types(true)),
    error_paths_a_user_can_hit(ZkOptions::default()),
    chroot_applies_to_every_path_in_and_out(ZkOptions::default()),
    watches_fire_in_order_and_before_later_replies(ZkOptions::default()),
}

async fn client(zk: &Backend) -> Client {
    Client::builder(&zk.connect_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect")
}

/// Waits for the next event of a one-shot watch, with a limit.
async fn event_of(watch: zk_client::OneshotWatch) -> zk_client::WatchedEvent {
    timeout(Duration::from_secs(10), watch)
        .await
        .expect("watch event within 10 s")
}

async fn next_node_event(watch: &mut zk_client::PersistentWatch) -> zk_client::WatchedEvent {
    loop {
        let item = timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("persistent event within 10 s")
            .expect("stream still open");
        if let PersistentEvent::Node(e) = item {
            return e;
        }
    }
}

async fn every_operation(zk: &Backend) {
    let c = client(zk).await;
    assert_eq!(c.state(), SessionState::Connected);
    assert_ne!(c.session_id(), 0);
    assert_eq!(c.session_timeout(), Duration::from_secs(10));

    // create in every mode, with path and stat
    let (path, stat) = c
        .create("/ops", b"root", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(path, "/ops");
    assert_eq!(stat.data_length, 4);
    assert_eq!(stat.ephemeral_owner, 0);
    let (path, stat) = c
        .create("/ops/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    assert_eq!(path, "/ops/eph");
    assert_eq!(stat.ephemeral_owner, c.session_id());
    let (p1, _) = c
        .create("/ops/seq-", b"", &CreateOptions::persistent_sequential())
        .await
        .unwrap();
    let (p2, s2) = c
        .create("/ops/seq-", b"", &CreateOptions::ephemeral_sequential())
        .await
        .unwrap();
    assert!(
        p1.starts_with("/ops/seq-") && p1.len() == "/ops/seq-".len() + 10,
        "{p1}"
    );
    assert!(p2 > p1, "{p2} after {p1}");
    assert_eq!(s2.ephemeral_owner, c.session_id());
    let (path, stat) = c
        .create("/ops/container", b"c", &CreateOptions::container())
        .await
        .unwrap();
    assert_eq!(path, "/ops/container");
    assert_eq!(stat.ephemeral_owner, 0);
    let (path, stat) = c
        .create(
            "/ops/ttl",
            b"t",
            &CreateOptions::ttl(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    assert_eq!(path, "/ops/ttl");
    assert_eq!(stat.data_length, 1);
    let (path, _) = c
        .create(
            "/ops/ttlseq-",
            b"",
            &CreateOptions::new(CreateMode::PersistentSequentialWithTtl)
                .with_ttl(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert!(path.starts_with("/ops/ttlseq-00"), "{path}");

    // exists / get / set / children
    let stat = c.exists("/ops").await.unwrap().expect("exists");
    assert_eq!(stat.num_children, 6);
    assert_eq!(c.exists("/ops/missing").await.unwrap(), None);
    let (data, stat) = c.get_data("/ops").await.unwrap();
    assert_eq!(&data[..], b"root");
    let new = c.set_data("/ops", b"v2", Some(stat.version)).await.unwrap();
    assert_eq!(new.version, stat.version + 1);
    assert_eq!(c.get_data("/ops").await.unwrap().0.as_ref(), b"v2");
    let mut children = c.get_children("/ops").await.unwrap();
    children.sort();
    assert_eq!(children.len(), 6);
    assert!(children.contains(&"eph".to_owned()));
    let (children2, stat) = c.get_children_with_stat("/ops").await.unwrap();
    assert_eq!(children2.len(), 6);
    assert_eq!(stat.num_children, 6);

    // ACLs
    let (acl, _) = c.get_acl("/ops").await.unwrap();
    assert_eq!(acl, Acl::open_unsafe());
    let stat = c
        .set_acl("/ops/ttl", &Acl::read_unsafe(), Some(0))
        .await
        .unwrap();
    assert_eq!(stat.aversion, 1);
    assert_eq!(c.get_acl("/ops/ttl").await.unwrap().0, Acl::read_unsafe());
    assert_eq!(c.set_data("/ops/ttl", b"x", None).await, Err(Error::NoAuth));

    // sync, ephemerals, counts, whoAmI, config
    c.sync("/ops").await.unwrap();
    let mut eph = c.get_ephemerals("/ops").await.unwrap();
    eph.sort();
    assert_eq!(eph, vec!["/ops/eph".to_owned(), p2.clone()]);
    assert_eq!(c.get_all_children_number("/ops").await.unwrap(), 6);
    let who = c.who_am_i().await.unwrap();
    assert!(who.iter().any(|i| i.auth_scheme == "ip"), "{who:?}");
    let (config, _) = c.get_config().await.unwrap();
    assert!(
        config.is_empty() || config.starts_with(b"server."),
        "{config:?}"
    );

    // multi: success with per-op results
    let results = c
        .transaction()
        .create("/ops/m1", b"1", &CreateOptions::persistent())
        .create("/ops/m2", b"2", &CreateOptions::container())
        .set_data("/ops/m1", b"11", Some(0))
        .check("/ops/m1", 1)
        .delete("/ops/m2", None)
        .commit()
        .await
        .unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(
        results[0],
        MultiResult::Created {
            path: "/ops/m1".into(),
            stat: None
        }
    );
    assert!(
        matches!(&results[1], MultiResult::Created { path, stat: Some(_) } if path == "/ops/m2")
    );
    assert!(matches!(&results[2], MultiResult::DataSet { stat } if stat.version == 1));
    assert_eq!(results[3], MultiResult::Checked);
    assert_eq!(results[4], MultiResult::Deleted);
    // multi: failure is atomic and reports the failing op
    let err = c
        .transaction()
        .create("/ops/m3", b"", &CreateOptions::persistent())
        .check("/ops/m1", 99)
        .set_data("/ops/m1", b"x", None)
        .commit()
        .await
        .unwrap_err();
    match err {
        Error::Transaction {
            index,
            source,
            codes,
        } => {
            assert_eq!(index, 1);
            assert_eq!(*source, Error::BadVersion);
            assert_eq!(codes.len(), 3);
        }
        other => panic!("expected a transaction error, got {other:?}"),
    }
    assert_eq!(c.exists("/ops/m3").await.unwrap(), None);
    assert!(c.transaction().commit().await.unwrap().is_empty());

    // multiRead: per-op results
    let results = c
        .multi_read([
            ReadOp::get_data("/ops/m1"),
            ReadOp::get_children("/ops"),
            ReadOp::get_data("/ops/missing"),
        ])
        .await
        .unwrap();
    assert!(matches!(&results[0], Ok(ReadResult::Data { data, .. }) if &data[..] == b"11"));
    assert!(matches!(&results[1], Ok(ReadResult::Children(ch)) if ch.len() == 7));
    assert_eq!(results[2], Err(Error::NoNode));

    // delete
    c.delete("/ops/m1", Some(1)).await.unwrap();
    assert_eq!(c.exists("/ops/m1").await.unwrap(), None);

    // add_auth and ACLs using it
    c.add_auth("digest", b"alice:secret").await.unwrap();
    c.create(
        "/ops/alice",
        b"private",
        &CreateOptions::persistent().with_acl(Acl::creator_all()),
    )
    .await
    .unwrap();
    let (acl, _) = c.get_acl("/ops/alice").await.unwrap();
    assert_eq!(
        acl,
        vec![Acl::new(Perms::ALL, Id::digest("alice", "secret"))]
    );
    let who = c.who_am_i().await.unwrap();
    assert!(
        who.iter()
            .any(|i| i.auth_scheme == "digest" && i.user == "alice"),
        "{who:?}"
    );
    let other = client(zk).await;
    assert_eq!(other.get_data("/ops/alice").await, Err(Error::NoAuth));
    assert_eq!(
        c.get_data("/ops/alice").await.unwrap().0.as_ref(),
        b"private"
    );

    // Dropping the last handle closes the session: its ephemerals go long before the
    // 10 s session timeout.
    let dropped = client(zk).await;
    let clone = dropped.clone();
    dropped
        .create("/ops/dropped", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    drop(dropped);
    assert!(clone.exists("/ops/dropped").await.unwrap().is_some());
    let started = tokio::time::Instant::now();
    drop(clone);
    while other.exists("/ops/dropped").await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "closeSession was not sent on drop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // close deletes the ephemerals at once
    c.close().await;
    assert_eq!(c.state(), SessionState::Closed);
    assert_eq!(c.get_data("/ops").await, Err(Error::Closed));
    assert_eq!(other.exists("/ops/eph").await.unwrap(), None);
    other.close().await;
}

async fn error_paths_a_user_can_hit(zk: &Backend) {
    let c = client(zk).await;
    let opts = CreateOptions::persistent();
    assert_eq!(c.get_data("/nope").await, Err(Error::NoNode));
    assert_eq!(c.delete("/nope", None).await, Err(Error::NoNode));
    assert_eq!(c.set_data("/nope", b"", None).await, Err(Error::NoNode));
    assert_eq!(
        c.create("/nope/child", b"", &opts).await,
        Err(Error::NoNode)
    );
    c.create("/e", b"", &opts).await.unwrap();
    assert_eq!(c.create("/e", b"", &opts).await, Err(Error::NodeExists));
    assert_eq!(c.set_data("/e", b"", Some(7)).await, Err(Error::BadVersion));
    assert_eq!(c.delete("/e", Some(7)).await, Err(Error::BadVersion));
    c.create("/e/c", b"", &opts).await.unwrap();
    assert_eq!(c.delete("/e", None).await, Err(Error::NotEmpty));
    c.create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    assert_eq!(
        c.create("/eph/c", b"", &opts).await,
        Err(Error::NoChildrenForEphemerals)
    );
    assert_eq!(
        c.create("/acl", b"", &opts.clone().with_acl(vec![])).await,
        Err(Error::InvalidAcl)
    );
    assert_eq!(
        c.create("/acl", b"", &opts.clone().with_acl(Acl::creator_all()))
            .await,
        Err(Error::InvalidAcl)
    );
    // The server refuses special paths.
    assert_eq!(c.delete("/zookeeper", None).await, Err(Error::BadArguments));
    // TTL nodes are disabled on this server.
    assert_eq!(
        c.create("/ttl", b"", &CreateOptions::ttl(Duration::from_secs(5)))
            .await,
        Err(Error::Unimplemented)
    );
    // Invalid paths never reach the server.
    for bad in ["", "x", "/a/", "/a//b", "/a/../b", "/a\u{1}"] {
        assert!(
            matches!(c.get_data(bad).await, Err(Error::InvalidPath { .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(
        c.create("/ok", b"", &CreateOptions::ttl(Duration::ZERO))
            .await,
        Err(Error::InvalidArgument(_))
    ));
    // Oversized requests are refused before sending; the connection stays up.
    let big = vec![0u8; 1 << 20];
    assert!(matches!(
        c.set_data("/e", &big, None).await,
        Err(Error::RequestTooLarge { .. })
    ));
    // Just under the limit works.
    c.set_data("/e", vec![7u8; 1_000_000], None).await.unwrap();
    assert_eq!(c.get_data("/e").await.unwrap().0.len(), 1_000_000);
    // Watch bookkeeping errors.
    assert_eq!(
        c.check_watches("/e", WatcherType::Data).await,
        Err(Error::NoWatcher)
    );
    assert_eq!(
        c.remove_watches("/e", WatcherType::Any).await,
        Err(Error::NoWatcher)
    );
    assert_eq!(c.state(), SessionState::Connected);
    c.close().await;
}

async fn chroot_applies_to_every_path_in_and_out(zk: &Backend) {
    let root = client(zk).await;
    root.create("/app", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let c = Client::connect(&format!("{}/app", zk.connect_string()))
        .await
        .unwrap();
    assert_eq!(c.chroot(), Some("/app"));
    let (path, _) = c
        .create("/s-", b"x", &CreateOptions::ephemeral_sequential())
        .await
        .unwrap();
    assert!(path.starts_with("/s-"), "{path}");
    assert!(root.exists(&format!("/app{path}")).await.unwrap().is_some());
    assert_eq!(
        c.get_children("/").await.unwrap(),
        vec![path[1..].to_owned()]
    );
    assert_eq!(c.get_ephemerals("/").await.unwrap(), vec![path.clone()]);
    // Notifications come back relative to the chroot.
    let (_, watch) = c.exists_watch("/n").await.unwrap();
    let mut recursive = c
        .add_watch("/", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    root.create("/app/n", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let event = event_of(watch).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (EventType::NodeCreated, "/n")
    );
    let event = next_node_event(&mut recursive).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (EventType::NodeCreated, "/n")
    );
    let results = c
        .transaction()
        .create("/t", b"", &CreateOptions::persistent())
        .commit()
        .await
        .unwrap();
    assert_eq!(
        results[0],
        MultiResult::Created {
            path: "/t".into(),
            stat: None
        }
    );
    // getConfig ignores the chroot.
    c.get_config().await.unwrap();
    c.close().await;
    root.close().await;
}

async fn watches_fire_in_order_and_before_later_replies(zk: &Backend) {
    let c = client(zk).await;
    let other = client(zk).await;
    let opts = CreateOptions::persistent();
    c.create("/w", b"0", &opts).await.unwrap();

    // One-shot data watch + persistent watch on the same path both get the event, and the
    // event is queued before the reply of the write that caused it (same session).
    let (_, _, data_watch) = c.get_data_watch("/w").await.unwrap();
    let mut persistent = c.add_watch("/w", AddWatchMode::Persistent).await.unwrap();
    // (ZooKeeper 3.8 keeps one watch mode per path and session, so the recursive watch sits
    // on the parent.)
    let mut recursive = c
        .add_watch("/", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    c.set_data("/w", b"1", None).await.unwrap();
    let mut data_watch = std::pin::pin!(data_watch);
    let polled = futures::poll!(data_watch.as_mut());
    let event = match polled {
        std::task::Poll::Ready(e) => e,
        std::task::Poll::Pending => panic!("the event must be delivered before the reply"),
    };
    assert_eq!(event.event_type, EventType::NodeDataChanged);
    assert_eq!(event.path, "/w");
    let p = next_node_event(&mut persistent).await;
    assert_eq!(p.event_type, EventType::NodeDataChanged);
    let r = next_node_event(&mut recursive).await;
    assert_eq!(r.event_type, EventType::NodeDataChanged);

    // Another session's write: after our read of the new data, the event is already there.
    let (_, _, watch) = c.get_data_watch("/w").await.unwrap();
    let mut watch = std::pin::pin!(watch);
    other.set_data("/w", b"2", None).await.unwrap();
    // Our own later request completes only after the event was delivered.
    let (data, _) = c.get_data("/w").await.unwrap();
    assert_eq!(&data[..], b"2");
    assert!(matches!(
        futures::poll!(watch.as_mut()),
        std::task::Poll::Ready(e) if e.event_type == EventType::NodeDataChanged
    ));
    for stream in [&mut persistent, &mut recursive] {
        let e = next_node_event(stream).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeDataChanged, "/w")
        );
    }

    // Children, exists and deletion events; persistent vs recursive semantics.
    let (_, _, child_watch) = c.get_children_watch("/w").await.unwrap();
    let (stat, exists_watch) = c.exists_watch("/w/a").await.unwrap();
    assert!(stat.is_none());
    other.create("/w/a", b"", &opts).await.unwrap();
    let e = event_of(child_watch).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/w")
    );
    let e = event_of(exists_watch).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/w/a")
    );
    let e = next_node_event(&mut persistent).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/w")
    );
    let e = next_node_event(&mut recursive).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/w/a")
    );
    let (_, _, deleted) = c.get_data_watch("/w/a").await.unwrap();
    other.delete("/w/a", None).await.unwrap();
    let e = event_of(deleted).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, "/w/a")
    );
    let e = next_node_event(&mut recursive).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, "/w/a")
    );

    // Events for different paths arrive in commit order.
    let mut events = Vec::new();
    for i in 0..20 {
        other.create(&format!("/w/o{i}"), b"", &opts).await.unwrap();
    }
    while events.len() < 20 {
        let e = next_node_event(&mut recursive).await;
        events.push(e.path);
    }
    let expected: Vec<String> = (0..20).map(|i| format!("/w/o{i}")).collect();
    assert_eq!(events, expected);

    // Dropping a watch removes it on the server once no local watcher needs it.
    let (_, _, w) = c.get_data_watch("/w/o1").await.unwrap();
    c.check_watches("/w/o1", WatcherType::Data).await.unwrap();
    drop(w);
    c.sync("/").await.unwrap();
    assert_eq!(
        c.check_watches("/w/o1", WatcherType::Data).await,
        Err(Error::NoWatcher)
    );
    drop(persistent);
    drop(recursive);
    c.sync("/").await.unwrap();
    assert_eq!(
        c.check_watches("/w", WatcherType::Any).await,
        Err(Error::NoWatcher)
    );
    assert_eq!(
        c.check_watches("/", WatcherType::Any).await,
        Err(Error::NoWatcher)
    );

    // remove_watches tells local watchers.
    let (_, _, w) = c.get_data_watch("/w/o2").await.unwrap();
    c.remove_watches("/w/o2", WatcherType::Data).await.unwrap();
    let e = event_of(w).await;
    assert_eq!(e.event_type, EventType::DataWatchRemoved);
    let mut p = c
        .add_watch("/w/o3", AddWatchMode::Persistent)
        .await
        .unwrap();
    c.remove_watches("/w/o3", WatcherType::Any).await.unwrap();
    let e = next_node_event(&mut p).await;
    assert_eq!(e.event_type, EventType::PersistentWatchRemoved);
    assert!(
        timeout(Duration::from_secs(5), p.next())
            .await
            .unwrap()
            .is_none()
    );

    // Closing ends pending one-shot watches with a Closed event.
    let (_, _, w) = c.get_data_watch("/w").await.unwrap();
    c.close().await;
    let e = event_of(w).await;
    assert_eq!(e.event_type, EventType::None);
    assert_eq!(e.state, zk_client::KeeperState::Closed);
    other.close().await;
}
