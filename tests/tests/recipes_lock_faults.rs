//! The mutex under faults, checked from outside: a holder whose connection is cut, whose
//! network is silently partitioned, whose session is expired by the server, which is paused
//! (SIGSTOP) past its session timeout, or killed, reports the loss before any other process
//! acquires; tokens strictly increase; claims never overlap. Real ZooKeeper 3.8.0 and
//! zk-server-mini.

mod recipes_common;

use std::time::Duration;

use nix::sys::signal::Signal;
use recipes_common::*;
use zk_integration_tests::backend::Backend;
use zk_integration_tests::proxy::TcpProxy;

const CLAIMS: &[&str] = &["ACQUIRED", "WORK"];
const SESSION_MS: u64 = 2000;

fn lock_at(server: &str, path: &str, id: &str, hold_ms: u64, rounds: u32) -> Worker {
    let mut c = example("lock");
    c.args(["--server", server, "--path", path, "--id", id])
        .args([
            "--hold-ms",
            &hold_ms.to_string(),
            "--rounds",
            &rounds.to_string(),
        ])
        .args(["--session-timeout-ms", &SESSION_MS.to_string()]);
    Worker::spawn(id, c)
}

/// After the fault: the holder reported LOST (for its first token) before the other process
/// acquired, the other did acquire, everything is exclusive, and both finished.
async fn check_loss_before_handover(holder: &mut Worker, other: &mut Worker, first_token: i64) {
    other.finish(Duration::from_secs(60)).await;
    holder.finish(Duration::from_secs(60)).await;
    let lost = holder
        .wait_for(Duration::ZERO, |l| {
            l.kind == "LOST" && l.token == first_token
        })
        .await;
    let acquired = other
        .wait_for(Duration::ZERO, |l| l.kind == "ACQUIRED")
        .await;
    assert!(
        lost.ns < acquired.ns,
        "the holder reported the loss ({}) after the other acquired ({})",
        lost.raw,
        acquired.raw
    );
    assert!(acquired.token > first_token);
    let tenures = check_exclusive(&all_events(&[holder, other]), CLAIMS);
    assert!(
        tenures.len() >= 3,
        "holder, other, holder again: {tenures:?}"
    );
}

/// The holder's connections are closed and it cannot reconnect for longer than its session.
async fn cut_holder_reports_loss_first(backend: &Backend) {
    let proxy = TcpProxy::start(backend.addr()).await.expect("proxy");
    let path = "/recipes/faults/cut";
    let mut holder = lock_at(&proxy.connect_string(), path, "cut", 4000, 2);
    let first = holder
        .wait_for(Duration::from_secs(20), |l| l.kind == "ACQUIRED")
        .await;
    let mut other = lock_at(&backend.connect_string(), path, "other", 100, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.block_new();
    proxy.drop_connections().await;
    tokio::time::sleep(Duration::from_millis(SESSION_MS + 1500)).await;
    proxy.unblock();
    check_loss_before_handover(&mut holder, &mut other, first.token).await;
}

/// The holder's connection goes silent (no bytes either way) for longer than its session.
async fn partitioned_holder_reports_loss_first(backend: &Backend) {
    let proxy = TcpProxy::start(backend.addr()).await.expect("proxy");
    let path = "/recipes/faults/partition";
    let mut holder = lock_at(&proxy.connect_string(), path, "silent", 4000, 2);
    let first = holder
        .wait_for(Duration::from_secs(20), |l| l.kind == "ACQUIRED")
        .await;
    let mut other = lock_at(&backend.connect_string(), path, "other", 100, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.pause().await;
    other
        .wait_for(Duration::from_secs(20), |l| l.kind == "ACQUIRED")
        .await;
    proxy.resume();
    check_loss_before_handover(&mut holder, &mut other, first.token).await;
}

/// The holder is stopped (SIGSTOP) past its session timeout; the other process acquires and
/// finishes meanwhile; on SIGCONT the holder must report the loss before claiming anything.
async fn paused_holder_finds_lease_gone(backend: &Backend) {
    let path = "/recipes/faults/sigstop";
    let mut holder = lock_at(&backend.connect_string(), path, "paused", 5000, 2);
    let first = holder
        .wait_for(Duration::from_secs(20), |l| l.kind == "ACQUIRED")
        .await;
    let mut other = lock_at(&backend.connect_string(), path, "other", 100, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.signal(Signal::SIGSTOP);
    other
        .wait_for(Duration::from_secs(20), |l| l.kind == "DONE")
        .await;
    let resumed_at = unix_ns_now();
    holder.signal(Signal::SIGCONT);
    let lost = holder
        .wait_for(Duration::from_secs(20), |l| {
            l.kind == "LOST" && l.token == first.token
        })
        .await;
    assert!(
        ["lease_expired", "expired", "suspended"].contains(&lost.rest.as_str()),
        "{}",
        lost.raw
    );
    // A stopped process cannot speak: what matters is that its first line after resuming is
    // the loss, never a claim (and that the claims never overlap, checked below).
    let after: Vec<Line> = holder
        .events()
        .into_iter()
        .filter(|l| l.ns >= resumed_at)
        .collect();
    assert_eq!(
        after.first().map(|l| l.kind.as_str()),
        Some("LOST"),
        "{after:?}"
    );
    other.finish(Duration::from_secs(60)).await;
    holder.finish(Duration::from_secs(60)).await;
    let acquired = other
        .wait_for(Duration::ZERO, |l| l.kind == "ACQUIRED")
        .await;
    assert!(acquired.token > first.token);
    let tenures = check_exclusive(&all_events(&[&holder, &other]), CLAIMS);
    assert!(
        tenures.len() >= 3,
        "holder, other, holder again: {tenures:?}"
    );
}

/// The holder is killed (SIGKILL); the next process acquires within session timeout + 1 s.
async fn killed_holder_is_replaced(backend: &Backend) {
    let path = "/recipes/faults/kill";
    let mut holder = lock_at(&backend.connect_string(), path, "killed", 60_000, 1);
    let first = holder
        .wait_for(Duration::from_secs(20), |l| l.kind == "ACQUIRED")
        .await;
    let mut other = lock_at(&backend.connect_string(), path, "other", 100, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = unix_ns_now();
    holder.kill().await;
    let acquired = other
        .wait_for(Duration::from_secs(20), |l| l.kind == "ACQUIRED")
        .await;
    other.finish(Duration::from_secs(30)).await;
    assert!(acquired.token > first.token);
    let waited = Duration::from_nanos(u64::try_from(acquired.ns - killed_at).expect("ns"));
    assert!(
        waited <= Duration::from_millis(SESSION_MS + 1000),
        "replaced after {waited:?}"
    );
    check_exclusive(&all_events(&[&holder, &other]), CLAIMS);
}

fn unix_ns_now() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(120);
    cut_holder_reports_loss_first(zk_options()),
    partitioned_holder_reports_loss_first(zk_options()),
    paused_holder_finds_lease_gone(zk_options()),
    killed_holder_is_replaced(zk_options()),
}

/// zk-server-mini expires the holder's session on demand (the session is found from the lock
/// node's `ephemeralOwner`): the holder reports the loss before the other acquires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_holder_reports_loss_first() {
    zk_integration_tests::backend::bounded(Duration::from_secs(120), async {
        let backend = Backend::start(
            zk_integration_tests::backend::BackendKind::Mini,
            zk_options(),
        )
        .await
        .expect("mini");
        let path = "/recipes/faults/expire";
        let mut holder = lock_at(&backend.connect_string(), path, "expired", 4000, 2);
        let first = holder
            .wait_for(Duration::from_secs(20), |l| l.kind == "ACQUIRED")
            .await;
        let mut other = lock_at(&backend.connect_string(), path, "other", 100, 1);
        let client = zk_client::Client::connect(&backend.connect_string())
            .await
            .expect("connect");
        let mut owner = None;
        for child in client.get_children(path).await.expect("children") {
            let (_, stat) = client
                .get_data(&format!("{path}/{child}"))
                .await
                .expect("data");
            if stat.czxid == first.token {
                owner = Some(stat.ephemeral_owner);
            }
        }
        let owner = owner.expect("the holder's node");
        let mini = backend.as_mini().expect("mini");
        assert!(mini.server().expire_session(owner).await);
        check_loss_before_handover(&mut holder, &mut other, first.token).await;
        client.close().await;
        backend.stop().await;
    })
    .await;
}
