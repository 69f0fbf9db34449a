//! `zk-client` against a single server (the real ZooKeeper 3.8.0 and `zk-server-mini`, each
//! scenario once per backend through `on_each_backend!`) through a proxy the test controls:
//! dropped connections (same session resumes, watches re-registered, auth survives), silence past
//! the session timeout (Expired, then the new-session policy), writes never retried.

// The scenarios are plain `async fn`s that `on_each_backend!` calls from its generated tests, and
// clippy's `allow-unwrap-in-tests` only recognises `#[test]` functions themselves.
#![allow(
    clippy::unwrap_used,
    reason = "test scenarios: a failed unwrap is a failed test"
)]

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::timeout;
use zk_client::{
    Acl, AddWatchMode, Client, CreateOptions, Error, EventType, ExpiryPolicy, KeeperState,
    PersistentEvent, SessionEvent, SessionState, SessionUpdate,
};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::{Direction, FrameSplitter, TcpProxy, ZkOptions};

// Each scenario is bounded (start, scenario and stop) so a hang fails instead of blocking CI.
zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(120);
    dropped_connection_resumes_the_session_with_watches_and_auth(ZkOptions::default()),
    changes_made_while_disconnected_fire_on_reconnect(ZkOptions::default()),
    writes_in_flight_when_the_connection_drops_fail_with_connection_loss_and_are_not_retried(
        ZkOptions::default()
    ),
    silence_past_the_session_timeout_expires_then_a_new_session_by_policy(ZkOptions::default()),
    unreachable_servers_and_refused_credentials(ZkOptions::default()),
    watches_under_a_chroot_are_re_registered_with_the_chroot(ZkOptions::default()),
}

/// Waits for a session event with the given state.
async fn expect_state(
    events: &mut BoxStream<'static, SessionUpdate>,
    state: SessionState,
) -> SessionEvent {
    loop {
        let event = timeout(Duration::from_secs(30), events.next())
            .await
            .unwrap_or_else(|_| panic!("no {state:?} within 30 s"))
            .expect("session events stream open");
        let SessionUpdate::Changed(event) = event else {
            panic!("a test subscriber never falls 128 transitions behind: {event:?}");
        };
        if event.state == state {
            return event;
        }
    }
}

async fn next_persistent(watch: &mut zk_client::PersistentWatch) -> PersistentEvent {
    timeout(Duration::from_secs(15), watch.next())
        .await
        .expect("persistent event within 15 s")
        .expect("stream open")
}

async fn next_node_event(watch: &mut zk_client::PersistentWatch) -> zk_client::WatchedEvent {
    loop {
        if let PersistentEvent::Node(e) = next_persistent(watch).await {
            return e;
        }
    }
}

async fn dropped_connection_resumes_the_session_with_watches_and_auth(zk: &Backend) {
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    let c = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(10))
        .digest_auth("alice", "secret")
        .connect()
        .await
        .unwrap();
    let mut events = c.session_events();
    let session = c.session_id();
    let opts = CreateOptions::persistent();
    c.create("/f", b"", &opts.clone().with_acl(Acl::creator_all()))
        .await
        .unwrap();
    c.create("/d", b"0", &opts).await.unwrap();
    c.create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();

    let (_, _, data_watch) = c.get_data_watch("/d").await.unwrap();
    let (_, exists_watch) = c.exists_watch("/new").await.unwrap();
    let (_, _, child_watch) = c.get_children_watch("/d").await.unwrap();
    let mut persistent = c.add_watch("/d", AddWatchMode::Persistent).await.unwrap();
    let mut recursive = c
        .add_watch("/", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();

    let mut tap = proxy.tap();
    let old_connections = proxy.accepted_count();
    assert_eq!(proxy.drop_connections().await, 1);
    expect_state(&mut events, SessionState::Suspended).await;
    let connected = expect_state(&mut events, SessionState::Connected).await;
    assert_eq!(connected.session_id, session, "the same session resumes");
    assert_eq!(
        next_persistent(&mut persistent).await,
        PersistentEvent::Reconnected { new_session: false }
    );
    assert_eq!(
        next_persistent(&mut recursive).await,
        PersistentEvent::Reconnected { new_session: false }
    );

    // On the wire: ConnectRequest with our session, auth re-sent, SetWatches2 with every
    // watch (one-shot ones included; the data watch on /d is served by the persistent one).
    let mut splitter = FrameSplitter::default();
    let mut client_frames = Vec::new();
    while client_frames.len() < 3 {
        let chunk = timeout(Duration::from_secs(5), tap.recv())
            .await
            .unwrap()
            .unwrap();
        // Only the new connection (a ping may still leave on the old one).
        if chunk.direction == Direction::ClientToServer && chunk.conn > old_connections {
            client_frames.extend(splitter.push(&chunk.data));
        }
    }
    let connect = &client_frames[0];
    assert_eq!(connect.len(), 4 + 45);
    assert_eq!(&connect[20..28], &session.to_be_bytes());
    assert_eq!(
        &client_frames[1][4..12],
        &[0xff, 0xff, 0xff, 0xfc, 0, 0, 0, 100]
    );
    assert_eq!(
        &client_frames[2][8..12],
        &105i32.to_be_bytes(),
        "SetWatches2"
    );
    let set_watches = String::from_utf8_lossy(&client_frames[2]);
    for path in ["/new", "/d"] {
        assert!(set_watches.contains(path), "{path} in {set_watches:?}");
    }
    proxy.untap();

    // Changes made after the reconnect fire every kind of watch.
    direct.set_data("/d", b"1", None).await.unwrap();
    direct.create("/new", b"", &opts).await.unwrap();
    direct.create("/d/child", b"", &opts).await.unwrap();
    let e = timeout(Duration::from_secs(10), data_watch).await.unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/d")
    );
    let e = timeout(Duration::from_secs(10), exists_watch)
        .await
        .unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/new")
    );
    let e = timeout(Duration::from_secs(10), child_watch).await.unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/d")
    );
    let e = next_node_event(&mut persistent).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/d")
    );
    let e = next_node_event(&mut persistent).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/d")
    );
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let e = next_node_event(&mut recursive).await;
        seen.push((e.event_type, e.path));
    }
    assert_eq!(
        seen,
        vec![
            (EventType::NodeDataChanged, "/d".to_owned()),
            (EventType::NodeCreated, "/new".to_owned()),
            (EventType::NodeCreated, "/d/child".to_owned()),
        ]
    );

    // Auth survived: the creator-only node is readable, whoAmI still says alice.
    c.get_data("/f").await.unwrap();
    let who = c.who_am_i().await.unwrap();
    assert!(
        who.iter()
            .any(|i| i.auth_scheme == "digest" && i.user == "alice"),
        "{who:?}"
    );
    // The ephemeral node survived.
    assert!(direct.exists("/eph").await.unwrap().is_some());
    assert_eq!(c.session_id(), session);
    c.close().await;
    assert!(direct.exists("/eph").await.unwrap().is_none());
    direct.close().await;
}

async fn changes_made_while_disconnected_fire_on_reconnect(zk: &Backend) {
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    let c = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(20))
        .connect()
        .await
        .unwrap();
    let mut events = c.session_events();
    let opts = CreateOptions::persistent();
    c.create("/a", b"0", &opts).await.unwrap();
    let (_, _, changed) = c.get_data_watch("/a").await.unwrap();
    let (_, created) = c.exists_watch("/b").await.unwrap();
    let mut persistent = c.add_watch("/a", AddWatchMode::Persistent).await.unwrap();

    proxy.block_new();
    proxy.drop_connections().await;
    expect_state(&mut events, SessionState::Suspended).await;
    // A request made while disconnected waits for the reconnect.
    let pending = tokio::spawn({
        let c = c.clone();
        async move { c.get_data("/a").await }
    });
    direct.set_data("/a", b"1", None).await.unwrap();
    direct.create("/b", b"", &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.unblock();
    expect_state(&mut events, SessionState::Connected).await;
    let (data, _) = pending.await.unwrap().unwrap();
    assert_eq!(&data[..], b"1");
    // SetWatches reports what changed meanwhile.
    let e = timeout(Duration::from_secs(10), created).await.unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/b")
    );
    // The data watch is served by the persistent watch on the same path (ZooKeeper 3.8 keeps
    // one mode per path), so the change made while disconnected is not replayed: the
    // persistent stream says so with its marker, and the one-shot watch stays armed.
    assert_eq!(
        next_persistent(&mut persistent).await,
        PersistentEvent::Reconnected { new_session: false }
    );
    direct.set_data("/a", b"2", None).await.unwrap();
    let e = timeout(Duration::from_secs(10), changed).await.unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/a")
    );
    c.close().await;
    direct.close().await;
}

async fn writes_in_flight_when_the_connection_drops_fail_with_connection_loss_and_are_not_retried(
    zk: &Backend,
) {
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    let c = Client::connect(&proxy.connect_string()).await.unwrap();
    c.create("/w", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    // Replies stop; requests still reach the server.
    proxy.pause_direction(Direction::ServerToClient).await;
    let writes: Vec<_> = (0..50)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                c.create(&format!("/w/n{i}"), b"", &CreateOptions::persistent())
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.drop_connections().await;
    proxy.resume_direction(Direction::ServerToClient);
    let mut lost = 0;
    for w in writes {
        match w.await.unwrap() {
            Err(Error::ConnectionLoss) => lost += 1,
            Ok(_) => {}
            other => panic!("a write was retried or failed oddly: {other:?}"),
        }
    }
    assert!(
        lost > 0,
        "the writes were in flight when the connection dropped"
    );
    // They reached the server once each.
    c.wait_for_state(SessionState::is_connected).await;
    assert_eq!(direct.get_children("/w").await.unwrap().len(), 50);
    c.close().await;
    direct.close().await;
}

async fn silence_past_the_session_timeout_expires_then_a_new_session_by_policy(zk: &Backend) {
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    let renewing = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(4))
        .expiry_policy(ExpiryPolicy::NewSession)
        .connect()
        .await
        .unwrap();
    let staying = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(4))
        .connect()
        .await
        .unwrap();
    assert_eq!(renewing.session_timeout(), Duration::from_secs(4));
    let old_session = renewing.session_id();
    let mut events = renewing.session_events();
    let mut staying_events = staying.session_events();
    renewing
        .create("/e1", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    staying
        .create("/e2", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let mut persistent = renewing
        .add_watch("/p", AddWatchMode::Persistent)
        .await
        .unwrap();
    let (_, oneshot) = renewing.exists_watch("/p").await.unwrap();

    proxy.pause().await;
    let paused_at = std::time::Instant::now();
    expect_state(&mut events, SessionState::Suspended).await;
    expect_state(&mut staying_events, SessionState::Suspended).await;
    expect_state(&mut events, SessionState::Expired).await;
    let waited = paused_at.elapsed();
    // The deadline runs from the last frame heard (a ping reply at most T/3 before the
    // pause), so Expired comes between 2T/3 and T after the pause (plus scheduling slack).
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_secs(8),
        "expired after {waited:?}"
    );
    expect_state(&mut staying_events, SessionState::Expired).await;
    // One-shot watches end with the session.
    let e = timeout(Duration::from_secs(5), oneshot).await.unwrap();
    assert_eq!(
        (e.event_type, e.state),
        (EventType::None, KeeperState::Expired)
    );
    assert_eq!(
        staying.get_data("/").await,
        Err(Error::SessionExpired),
        "without the policy the handle stays expired"
    );

    // The server expires the old sessions too (it heard nothing either).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while direct.exists("/e1").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "server never expired the session"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    proxy.resume();
    let connected = expect_state(&mut events, SessionState::Connected).await;
    assert_ne!(connected.session_id, old_session);
    assert_eq!(renewing.session_id(), connected.session_id);
    assert_eq!(
        next_persistent(&mut persistent).await,
        PersistentEvent::Reconnected { new_session: true }
    );
    // The persistent watch lives on in the new session.
    direct
        .create("/p", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let e = next_node_event(&mut persistent).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/p")
    );
    renewing
        .create("/e3", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    assert_eq!(staying.state(), SessionState::Expired);
    renewing.close().await;
    assert!(direct.exists("/e3").await.unwrap().is_none());
    direct.close().await;
}

async fn unreachable_servers_and_refused_credentials(zk: &Backend) {
    // A dead host in the list is skipped.
    let dead = zk_integration_tests::reserve_port().unwrap();
    let c = Client::builder(&format!("{},{}", dead.addr(), zk.connect_string()))
        .no_shuffle()
        .connect()
        .await
        .unwrap();
    assert_eq!(c.connected_server(), Some(zk.connect_string()));
    c.close().await;
    // No server at all: connect gives up with a clear error.
    let err = Client::builder(&dead.addr().to_string())
        .initial_connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    // An unknown auth scheme: the server says AuthFailed and the client is done.
    let err = Client::builder(&zk.connect_string())
        .auth("nosuchscheme", b"x")
        .connect()
        .await;
    match err {
        Err(Error::AuthFailed) => {}
        Ok(c) => {
            let state = c.wait_for_state(|s| s == SessionState::AuthFailed).await;
            assert_eq!(state, SessionState::AuthFailed);
            assert_eq!(c.get_data("/").await, Err(Error::AuthFailed));
        }
        Err(other) => panic!("expected AuthFailed, got {other:?}"),
    }
}

async fn watches_under_a_chroot_are_re_registered_with_the_chroot(zk: &Backend) {
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    direct
        .create("/app", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let c = Client::connect(&format!("{}/app", proxy.connect_string()))
        .await
        .unwrap();
    let mut events = c.session_events();
    let (_, created) = c.exists_watch("/x").await.unwrap();
    let mut recursive = c
        .add_watch("/", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    proxy.drop_connections().await;
    expect_state(&mut events, SessionState::Suspended).await;
    expect_state(&mut events, SessionState::Connected).await;
    assert_eq!(
        next_persistent(&mut recursive).await,
        PersistentEvent::Reconnected { new_session: false }
    );
    direct
        .create("/app/x", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let e = timeout(Duration::from_secs(10), created).await.unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/x")
    );
    let e = next_node_event(&mut recursive).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/x")
    );
    c.close().await;
    direct.close().await;
}
