//! LeaderLatch's API in-process, on the real ZooKeeper 3.8.0 and zk-server-mini: participants
//! and the leader's id, the ordered stream of transitions, close with and without notifying,
//! loss by policy, typed errors.

mod recipes_common;

use std::time::Duration;

use futures::StreamExt;
use recipes_common::zk_options;
use zk_client::{Client, CreateOptions};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::proxy::TcpProxy;
use zk_recipes::{
    CloseMode, Flavor, LeaderLatch, LeaderLatchOptions, LeadershipEvent, LossReason, RecipeError,
};

async fn connect(server: &str) -> Client {
    Client::builder(server)
        .session_timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect("connect")
}

fn opts(id: &str) -> LeaderLatchOptions {
    LeaderLatchOptions::default().id(id)
}

async fn participants_events_and_close(backend: &Backend) {
    let a = connect(&backend.connect_string()).await;
    let b = connect(&backend.connect_string()).await;
    let path = "/latch/api";
    let la = LeaderLatch::start(a.clone(), path, opts("a")).expect("latch");
    let mut events_a = la.events();
    let lead = la
        .await_leadership(Some(Duration::from_secs(10)))
        .await
        .expect("a leads");
    assert!(la.has_leadership());
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), events_a.next())
            .await
            .expect("event"),
        Some(LeadershipEvent::Gained {
            token: lead.token()
        })
    );
    let lb = LeaderLatch::start(b.clone(), path, opts("b")).expect("latch");
    let mut waited = 0;
    while lb.participants().await.expect("participants").len() < 2 && waited < 250 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    let ids: Vec<String> = lb
        .participants()
        .await
        .expect("p")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(lb.leader_id().await.expect("leader"), Some("a".to_owned()));
    assert!(!lb.has_leadership());
    assert!(matches!(
        lb.await_leadership(Some(Duration::from_millis(200))).await,
        Err(RecipeError::Deadline(_))
    ));
    // Close with notification: a sees Lost(Released); b takes over with a larger token.
    la.close(CloseMode::NotifyLeader).await;
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), events_a.next())
            .await
            .expect("event"),
        Some(LeadershipEvent::Lost {
            token: lead.token(),
            reason: LossReason::Released
        })
    );
    assert!(!lead.is_held());
    let next = lb
        .await_leadership(Some(Duration::from_secs(10)))
        .await
        .expect("b leads");
    assert!(next.token() > lead.token());
    assert!(matches!(
        la.await_leadership(None).await,
        Err(RecipeError::RecipeClosed)
    ));
    // Close silently: no Lost event for b's stream.
    let mut events_b = lb.events();
    assert_eq!(
        events_b.next().await,
        Some(LeadershipEvent::Gained {
            token: next.token()
        })
    );
    lb.close(CloseMode::Silent).await;
    match tokio::time::timeout(Duration::from_millis(300), events_b.next()).await {
        Err(_) | Ok(None) => {}
        Ok(Some(event)) => panic!("a silent close announced {event:?}"),
    }
    assert!(!lb.has_leadership());
    a.close().await;
    b.close().await;
}

/// A dropped connection ends leadership under the default policy (Lost(Suspended)); the latch
/// re-joins and leads again (a new, larger token) once connected.
async fn disconnect_loses_then_rejoins(backend: &Backend) {
    let proxy = TcpProxy::start(backend.addr()).await.expect("proxy");
    let client = connect(&proxy.connect_string()).await;
    let latch = LeaderLatch::start(client.clone(), "/latch/rejoin", opts("solo")).expect("latch");
    let first = latch
        .await_leadership(Some(Duration::from_secs(10)))
        .await
        .expect("leads");
    let mut events = latch.events();
    assert!(matches!(
        events.next().await,
        Some(LeadershipEvent::Gained { .. })
    ));
    proxy.drop_connections().await;
    let lost = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("lost in time");
    assert_eq!(
        lost,
        Some(LeadershipEvent::Lost {
            token: first.token(),
            reason: LossReason::Suspended
        })
    );
    let again = latch
        .await_leadership(Some(Duration::from_secs(10)))
        .await
        .expect("leads again");
    assert!(again.token() > first.token());
    assert!(!first.is_held(), "a lost leadership never comes back");
    latch.close(CloseMode::Silent).await;
    client.close().await;
}

/// Invalid paths, foreign children (kazoo-flavour latch on a Curator-flavour path) and a
/// closed client are typed errors.
async fn bad_input(backend: &Backend) {
    let client = connect(&backend.connect_string()).await;
    assert!(matches!(
        LeaderLatch::start(client.clone(), "nope", opts("x")),
        Err(RecipeError::InvalidPath { .. })
    ));
    let path = "/latch/foreign";
    zk_recipes::paths::ensure_containers(&client, path)
        .await
        .expect("path");
    client
        .create(
            &format!("{path}/not-a-contender"),
            b"",
            &CreateOptions::ephemeral(),
        )
        .await
        .expect("foreign node");
    let latch = LeaderLatch::start(client.clone(), path, opts("x")).expect("latch");
    assert!(matches!(
        latch.participants().await,
        Err(RecipeError::ForeignChildren { .. })
    ));
    assert!(
        latch
            .await_leadership(Some(Duration::from_millis(500)))
            .await
            .is_err()
    );
    latch.close(CloseMode::Silent).await;
    let kazoo = LeaderLatch::start(
        client.clone(),
        "/latch/api-kazoo",
        opts("k").flavor(Flavor::Kazoo),
    )
    .expect("latch");
    kazoo
        .await_leadership(Some(Duration::from_secs(10)))
        .await
        .expect("kazoo flavour leads");
    let names = client
        .get_children("/latch/api-kazoo")
        .await
        .expect("children");
    assert!(names[0].contains("__lock__"), "{names:?}");
    kazoo.close(CloseMode::Silent).await;
    client.close().await;
    assert!(matches!(
        LeaderLatch::start(client.clone(), "/latch/x", opts("x")),
        Err(RecipeError::Closed)
    ));
}

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(60);
    participants_events_and_close(zk_options()),
    disconnect_loses_then_rejoins(zk_options()),
    bad_input(zk_options()),
}
