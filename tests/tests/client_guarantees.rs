//! The guarantees that locks and leader election stand on, checked against the real ZooKeeper
//! 3.8.0 and `zk-server-mini` (each scenario once per backend):
//! - a request withdrawn before it was written (timeout, dropped future) is never applied, and
//!   one that was written but not answered fails with `OutcomeUnknown`, not `Timeout`;
//! - the lease (`send time of the last answered request + timeout`) is a lower bound on the
//!   server-side expiry, observed from another client;
//! - transactions are owned values that move across tasks and report the created nodes' czxid.

#![allow(
    clippy::unwrap_used,
    reason = "test scenarios: a failed unwrap is a failed test"
)]

use std::time::Duration;

use tokio::time::{Instant, timeout};
use zk_client::{Client, CreateOptions, Error, EventType, MultiResult, SessionState};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::{Direction, TcpProxy, ZkOptions};

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(90);
    a_request_withdrawn_before_it_was_written_is_never_applied(ZkOptions::default()),
    a_written_request_without_an_answer_is_outcome_unknown(ZkOptions::default()),
    the_lease_follows_answered_requests_and_bounds_the_server_expiry(ZkOptions::default()),
    transactions_move_across_tasks_and_report_the_czxid(ZkOptions::default()),
}

async fn a_request_withdrawn_before_it_was_written_is_never_applied(zk: &Backend) {
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    let c = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(20))
        .request_timeout(Duration::from_millis(400))
        .connect()
        .await
        .unwrap();
    direct
        .create("/w", b"", &CreateOptions::persistent())
        .await
        .unwrap();

    // Disconnected, and no server reachable: requests wait in the client.
    proxy.block_new();
    proxy.drop_connections().await;
    c.wait_for_state(|s| s == SessionState::Suspended).await;

    // 1. The request timeout passes before the request could be written.
    let e = c
        .create("/w/timed-out", b"", &CreateOptions::persistent())
        .await
        .unwrap_err();
    assert_eq!(e, Error::Timeout);
    assert!(!e.is_outcome_unknown(), "never written: known not applied");
    // 2. The caller drops the future (its own, shorter timeout).
    let dropped = timeout(
        Duration::from_millis(100),
        c.create("/w/dropped", b"", &CreateOptions::persistent()),
    )
    .await;
    assert!(dropped.is_err(), "nothing can answer while disconnected");
    // 3. Many callers give up at once (tasks aborted).
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                c.create(
                    &format!("/w/aborted-{i}"),
                    b"",
                    &CreateOptions::persistent(),
                )
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }

    // Reconnect, then a marker write: replies come in FIFO order, so once it is answered every
    // request queued before it was either applied or never sent.
    proxy.unblock();
    c.wait_for_state(SessionState::is_connected).await;
    let mut marker = None;
    for _ in 0..20 {
        match c
            .create("/w/marker", b"", &CreateOptions::persistent())
            .await
        {
            Ok(_) => {
                marker = Some(());
                break;
            }
            // The reconnect may still be settling; a withdrawn marker is never applied either.
            Err(Error::Timeout) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("marker create failed: {e}"),
        }
    }
    assert!(marker.is_some(), "the reconnected client serves requests");
    let children = direct.get_children("/w").await.unwrap();
    assert_eq!(
        children,
        vec!["marker".to_owned()],
        "a request its caller gave up on before it was written was applied later"
    );
    c.close().await;
    direct.close().await;
}

/// Creates `{prefix}-{i}` until one create is written but not answered within the request
/// timeout (`OutcomeUnknown`). Attempts that time out before being written (`Timeout`: only on
/// a machine too busy to write within the timeout) are returned too: they must never appear.
async fn create_until_outcome_unknown(c: &Client, prefix: &str) -> (String, Vec<String>) {
    let mut withdrawn = Vec::new();
    for i in 0..5 {
        let path = format!("{prefix}-{i}");
        match c.create(&path, b"", &CreateOptions::persistent()).await {
            Err(Error::OutcomeUnknown) => return (path, withdrawn),
            Err(Error::Timeout) => withdrawn.push(path),
            other => panic!("no answer can come back: {other:?}"),
        }
    }
    panic!("never written within the request timeout in 5 attempts: {withdrawn:?}");
}

async fn wait_until_exists(client: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.exists(path).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "{path} never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_written_request_without_an_answer_is_outcome_unknown(zk: &Backend) {
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    let c = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(20))
        .request_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    // Requests reach the server; its replies are held.
    proxy.pause_direction(Direction::ServerToClient).await;
    let (applied, mut withdrawn) = create_until_outcome_unknown(&c, "/u").await;
    assert!(Error::OutcomeUnknown.is_outcome_unknown());
    // And indeed it was applied: "Timeout" would have been a lie.
    wait_until_exists(&direct, &applied).await;

    // Held in the proxy in both directions: written by the client, applied only later.
    proxy.pause_direction(Direction::ClientToServer).await;
    let (held, more) = create_until_outcome_unknown(&c, "/v").await;
    withdrawn.extend(more);
    assert!(direct.exists(&held).await.unwrap().is_none());
    proxy.resume();
    wait_until_exists(&direct, &held).await;
    // The late replies are matched in FIFO order and dropped; the connection carries on. Once
    // this later request is answered, every earlier one was applied or never sent.
    assert!(c.exists(&held).await.unwrap().is_some());
    for path in withdrawn {
        assert!(
            direct.exists(&path).await.unwrap().is_none(),
            "{path} was withdrawn, yet applied"
        );
    }
    c.close().await;
    direct.close().await;
}

async fn the_lease_follows_answered_requests_and_bounds_the_server_expiry(zk: &Backend) {
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    let c = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(4))
        .connect()
        .await
        .unwrap();
    let lease = c.lease();
    assert_eq!(lease.session_id, c.session_id());
    assert_ne!(lease.session_id, 0);
    assert_eq!(lease.timeout, c.session_timeout());
    assert_eq!(lease.timeout, Duration::from_secs(4));
    let first = lease
        .last_answered_send
        .expect("the connect request was answered");
    assert!(first <= Instant::now());

    let before = Instant::now();
    let (_, stat) = c
        .create("/lease", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let after = Instant::now();
    let lease = c.lease();
    let sent = lease.last_answered_send.unwrap();
    assert!(
        sent >= before && sent <= after,
        "the create's send time, not earlier"
    );
    assert!(lease.last_zxid >= stat.czxid);
    assert_eq!(lease.expires_no_earlier_than(), Some(sent + lease.timeout));

    // Silence: the server expires the session. Another client sees the ephemeral node go, never
    // before the lease's deadline.
    let (exists, gone) = direct.exists_watch("/lease").await.unwrap();
    assert!(exists.is_some());
    proxy.pause().await;
    // Sampled after the pause: no answer can arrive any more, so this is the final lease.
    let lease = c.lease();
    let deadline = lease.expires_no_earlier_than().unwrap();
    let event = timeout(Duration::from_secs(30), gone).await.unwrap();
    let observed = Instant::now();
    assert_eq!(event.event_type, EventType::NodeDeleted);
    assert!(
        observed >= deadline,
        "the server expired the session {:?} before the lease deadline",
        deadline - observed
    );
    let now = c.lease().last_answered_send;
    assert!(
        now.is_none() || now == lease.last_answered_send,
        "nothing answered while paused (None once the client gave the session up): {now:?}"
    );
    proxy.resume();
    c.wait_for_state(|s| s == SessionState::Expired).await;
    let expired = c.lease();
    assert_eq!(
        expired.last_answered_send, None,
        "an expired session vouches for nothing"
    );
    assert_eq!(expired.expires_no_earlier_than(), None);
    c.close().await;
    direct.close().await;
}

async fn transactions_move_across_tasks_and_report_the_czxid(zk: &Backend) {
    let c = Client::connect(&zk.connect_string()).await.unwrap();
    let tx = c
        .transaction()
        .create("/t", b"", &CreateOptions::persistent())
        .create("/t/e-", b"x", &CreateOptions::ephemeral_sequential())
        .create("/t/c", b"", &CreateOptions::container())
        .set_data("/t", b"y", Some(0));
    fn is_send_static<T: Send + 'static>(_: &T) {}
    is_send_static(&tx);
    // Built here, committed by another task.
    let (results, zxid) = tokio::spawn(tx.commit_with_zxid()).await.unwrap().unwrap();
    assert_eq!(results.len(), 4);
    let mut created = Vec::new();
    for r in &results[..3] {
        match r {
            MultiResult::Created { path, stat } => {
                if let Some(stat) = stat {
                    assert_eq!(stat.czxid, zxid, "{path}");
                }
                created.push(path.clone());
            }
            other => panic!("expected a create, got {other:?}"),
        }
    }
    assert!(created[1].starts_with("/t/e-"));
    assert!(
        matches!(&results[2], MultiResult::Created { stat: Some(_), .. }),
        "container creates come with their stat"
    );
    for path in &created {
        let (_, stat) = c.get_data(path).await.unwrap();
        assert_eq!(stat.czxid, zxid, "{path}: czxid is the transaction's zxid");
    }
    assert!(matches!(&results[3], MultiResult::DataSet { stat } if stat.mzxid == zxid));
    assert!(c.lease().last_zxid >= zxid);
    c.close().await;
}
