//! `zk-client` against a real 3-node ZooKeeper 3.8.0 ensemble: killing the member the client is
//! connected to moves the session to another member (same session, ephemerals and watches
//! survive); read-only mode when the quorum is lost.
//!
//! Real server only: `zk-server-mini` has no read-only mode yet (issue 13), so these scenarios
//! run on the real ensemble; the mini ensemble's client failover is checked against the real
//! one in `ensemble_failover.rs`.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::timeout;
use zk_client::{
    Client, CreateOptions, Error, EventType, SessionEvent, SessionState, SessionUpdate,
};
use zk_integration_tests::bounded;
use zk_integration_tests::{RealZkEnsemble, ZkOptions, require_real_zk};

async fn expect_state(
    events: &mut BoxStream<'static, SessionUpdate>,
    wanted: &[SessionState],
    limit: Duration,
) -> SessionEvent {
    loop {
        let event = timeout(limit, events.next())
            .await
            .unwrap_or_else(|_| panic!("no {wanted:?} within {limit:?}"))
            .expect("session events stream open");
        let SessionUpdate::Changed(event) = event else {
            panic!("a test subscriber never falls 128 transitions behind: {event:?}");
        };
        if wanted.contains(&event.state) {
            return event;
        }
    }
}

fn member_of(ensemble: &RealZkEnsemble, server: &str) -> usize {
    ensemble
        .addrs()
        .iter()
        .position(|a| a.to_string() == server)
        .unwrap_or_else(|| panic!("{server} is not a member"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_connected_member_moves_the_session() {
    require_real_zk!();
    bounded(Duration::from_secs(240), async {
        let mut ensemble = RealZkEnsemble::start(3, ZkOptions::default())
            .await
            .expect("start a 3-node ensemble");
        let c = Client::builder(&ensemble.connect_string())
            .session_timeout(Duration::from_secs(30))
            .connect()
            .await
            .unwrap();
        let session = c.session_id();
        let mut events = c.session_events();
        c.create("/data", b"0", &CreateOptions::persistent())
            .await
            .unwrap();
        c.create("/eph", b"", &CreateOptions::ephemeral())
            .await
            .unwrap();
        let (_, _, watch) = c.get_data_watch("/data").await.unwrap();
        // A transaction built here and committed by another task; its zxid is the czxid.
        let tx = c
            .transaction()
            .create("/lock-", b"", &CreateOptions::ephemeral_sequential());
        let (results, zxid) = tokio::spawn(tx.commit_with_zxid()).await.unwrap().unwrap();
        let lock = match &results[0] {
            zk_client::MultiResult::Created { path, .. } => path.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(c.exists(&lock).await.unwrap().unwrap().czxid, zxid);
        let lease = c.lease();
        assert_eq!(lease.session_id, session);
        assert_eq!(lease.timeout, c.session_timeout());
        assert!(lease.last_zxid >= zxid);
        let (config, _) = c.get_config().await.unwrap();
        assert!(
            String::from_utf8_lossy(&config).contains("server.1="),
            "{config:?}"
        );

        let first = c.connected_server().expect("connected");
        let victim = member_of(&ensemble, &first);
        let killed_at = tokio::time::Instant::now();
        ensemble.kill(victim);
        expect_state(
            &mut events,
            &[SessionState::Suspended],
            Duration::from_secs(30),
        )
        .await;
        let back = expect_state(
            &mut events,
            &[SessionState::Connected],
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(back.session_id, session, "the session moved, not replaced");
        assert_eq!(back.disconnects, 1, "one disconnection, counted");
        assert_eq!(c.state_watcher().borrow().disconnects, 1);
        let second = c.connected_server().expect("connected again");
        assert_ne!(second, first);

        // Ephemerals survive the move; so does the watch.
        assert!(c.exists("/eph").await.unwrap().is_some());
        assert!(c.exists(&lock).await.unwrap().is_some());
        // The lease is renewed by the new member's answers, for the same session.
        let lease = c.lease();
        assert_eq!(lease.session_id, session);
        assert!(lease.last_answered_send.unwrap() >= killed_at);
        let other_member = ensemble
            .addrs()
            .iter()
            .map(ToString::to_string)
            .find(|a| *a != first && *a != second)
            .expect("a third member");
        let other = Client::connect(&other_member).await.unwrap();
        other.sync("/").await.unwrap();
        assert!(other.exists("/eph").await.unwrap().is_some());
        other.set_data("/data", b"1", None).await.unwrap();
        let e = timeout(Duration::from_secs(20), watch).await.unwrap();
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeDataChanged, "/data")
        );
        c.sync("/").await.unwrap();
        assert_eq!(&c.get_data("/data").await.unwrap().0[..], b"1");

        c.close().await;
        other.sync("/").await.unwrap();
        assert!(other.exists("/eph").await.unwrap().is_none());
        other.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_mode_when_the_quorum_is_lost() {
    require_real_zk!();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    bounded(Duration::from_secs(300), async {
        // A read-only server can only open local sessions.
        let opts = ZkOptions::default()
            .read_only_mode(true)
            .config("localSessionsEnabled", "true")
            .config("localSessionsUpgradingEnabled", "true");
        let mut ensemble = RealZkEnsemble::start(3, opts)
            .await
            .expect("start a 3-node ensemble");
        let survivor = ensemble.addrs()[0].to_string();
        let writer = Client::connect(&survivor).await.unwrap();
        writer
            .create("/ro", b"x", &CreateOptions::persistent())
            .await
            .unwrap();
        writer.close().await;
        ensemble.kill(1);
        ensemble.kill(2);
        // Wait until the survivor serves read-only.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        while ensemble.node(0).mode().await != zk_integration_tests::ServerMode::ReadOnly {
            assert!(
                tokio::time::Instant::now() < deadline,
                "survivor never went read-only"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // A read-write client is refused by a read-only server.
        let rw = Client::builder(&survivor)
            .initial_connect_timeout(Duration::from_secs(3))
            .connect()
            .await;
        assert!(
            rw.is_err(),
            "a read-write client must not get a read-only server"
        );
        // A client that allows read-only servers gets one: reads work, writes are refused.
        let c = Client::builder(&survivor)
            .session_timeout(Duration::from_secs(30))
            .read_only(true)
            .connect()
            .await
            .unwrap();
        assert_eq!(c.state(), SessionState::ConnectedReadOnly);
        let mut events = c.session_events();
        assert_eq!(&c.get_data("/ro").await.unwrap().0[..], b"x");
        assert_eq!(c.set_data("/ro", b"y", None).await, Err(Error::NotReadOnly));

        // Quorum back: the client finds the read-write server again.
        ensemble.restart(1).await.expect("restart member 2");
        expect_state(
            &mut events,
            &[SessionState::Connected],
            Duration::from_secs(90),
        )
        .await;
        c.set_data("/ro", b"y", None).await.unwrap();
        c.close().await;
    })
    .await;
}
