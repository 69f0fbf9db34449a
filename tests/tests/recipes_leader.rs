//! Leader election, checked from outside: `leader` example processes (and Curator
//! `LeaderLatch` / kazoo `Election` peers on the same path) print their leaderships; the
//! checker verifies that no two leaders' claims overlap and that tokens strictly increase.
//! Killed and gracefully closed leaders are replaced. Real ZooKeeper 3.8.0 and zk-server-mini.

mod recipes_common;

use std::time::Duration;

use recipes_common::*;
use zk_integration_tests::backend::Backend;
use zk_integration_tests::proxy::TcpProxy;

const CLAIMS: &[&str] = &["LEADER", "WORK"];
const SESSION_MS: u64 = 2000;

fn rust_leader(server: &str, path: &str, id: &str, flavor: &str, lead_ms: Option<u64>) -> Worker {
    let mut c = example("leader");
    c.args([
        "--server", server, "--path", path, "--id", id, "--flavor", flavor,
    ])
    .args(["--session-timeout-ms", &SESSION_MS.to_string()]);
    if let Some(ms) = lead_ms {
        c.args(["--lead-ms", &ms.to_string()]);
    }
    Worker::spawn(id, c)
}

/// Waits until `n` leaderships (LEADER lines) were seen across `workers`.
async fn wait_leaderships(workers: &[&Worker], n: usize, limit: Duration) {
    let until = tokio::time::Instant::now() + limit;
    loop {
        let seen = all_events(workers)
            .iter()
            .filter(|l| l.kind == "LEADER")
            .count();
        if seen >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "only {seen} of {n} leaderships within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn kill_all(workers: &mut [Worker]) {
    for w in workers.iter_mut() {
        w.kill().await;
    }
}

/// Three Rust latches handing leadership around (each leads 200 ms, then re-queues).
async fn rust_latches_are_exclusive(backend: &Backend) {
    let server = backend.connect_string();
    let mut workers: Vec<Worker> = (0..3)
        .map(|i| {
            rust_leader(
                &server,
                "/recipes/leader/rust",
                &format!("rust{i}"),
                "curator",
                Some(200),
            )
        })
        .collect();
    let refs: Vec<&Worker> = workers.iter().collect();
    wait_leaderships(&refs, 8, Duration::from_secs(60)).await;
    kill_all(&mut workers).await;
    let refs: Vec<&Worker> = workers.iter().collect();
    let tenures = check_exclusive(&all_events(&refs), CLAIMS);
    assert!(tenures.len() >= 8);
    let distinct: std::collections::HashSet<_> = tenures.iter().map(|t| t.id.clone()).collect();
    assert_eq!(distinct.len(), 3, "every participant led at some point");
}

/// Rust latches (Curator flavour) and Curator `LeaderLatch` processes on one path.
async fn rust_and_curator_latches_are_exclusive(backend: &Backend) {
    use zk_integration_tests::java::{JavaProgram, curator_classpath};
    if let Err(e) = curator_classpath() {
        assert!(
            !zk_integration_tests::skip::skips_are_failures(),
            "Curator is required: {e}"
        );
        eprintln!("SKIP: Curator not available: {e}");
        return;
    }
    let program = JavaProgram::compile_curator(&["RecipeLeaderWorker.java"]).expect("javac");
    let server = backend.connect_string();
    let path = "/recipes/leader/curator";
    let mut workers = Vec::new();
    for i in 0..2 {
        let id = format!("curator{i}");
        let mut c = program.command("RecipeLeaderWorker");
        c.args([&server, path, &id, "200"]);
        workers.push(Worker::spawn(&id, c));
    }
    for w in &workers {
        w.wait_for(Duration::from_secs(30), |l| l.kind == "READY")
            .await;
    }
    for i in 0..2 {
        workers.push(rust_leader(
            &server,
            path,
            &format!("rust{i}"),
            "curator",
            Some(200),
        ));
    }
    let refs: Vec<&Worker> = workers.iter().collect();
    wait_leaderships(&refs, 10, Duration::from_secs(60)).await;
    kill_all(&mut workers).await;
    let refs: Vec<&Worker> = workers.iter().collect();
    let tenures = check_exclusive(&all_events(&refs), CLAIMS);
    assert!(tenures.iter().any(|t| t.id.starts_with("curator")));
    assert!(tenures.iter().any(|t| t.id.starts_with("rust")));
}

/// Rust latches (kazoo flavour) and kazoo `Election` processes on one path.
async fn rust_and_kazoo_elections_are_exclusive(backend: &Backend) {
    let python = match zk_integration_tests::clients::kazoo() {
        Ok(p) => p,
        Err(e) => {
            assert!(
                !zk_integration_tests::skip::skips_are_failures(),
                "kazoo is required: {e}"
            );
            eprintln!("SKIP: kazoo not available: {e}");
            return;
        }
    };
    let server = backend.connect_string();
    let path = "/recipes/leader/kazoo";
    let mut workers = Vec::new();
    for i in 0..2 {
        let id = format!("kazoo{i}");
        let mut c = python_worker(&python, "recipe_election_worker.py");
        c.args([&server, path, &id, "200"]);
        workers.push(Worker::spawn(&id, c));
    }
    for w in &workers {
        w.wait_for(Duration::from_secs(30), |l| l.kind == "READY")
            .await;
    }
    for i in 0..2 {
        workers.push(rust_leader(
            &server,
            path,
            &format!("rust{i}"),
            "kazoo",
            Some(200),
        ));
    }
    let refs: Vec<&Worker> = workers.iter().collect();
    wait_leaderships(&refs, 10, Duration::from_secs(60)).await;
    kill_all(&mut workers).await;
    let refs: Vec<&Worker> = workers.iter().collect();
    let tenures = check_exclusive(&all_events(&refs), CLAIMS);
    assert!(tenures.iter().any(|t| t.id.starts_with("kazoo")));
    assert!(tenures.iter().any(|t| t.id.starts_with("rust")));
}

/// A killed leader (SIGKILL) is replaced within session timeout + 1 s; a leader that gives up
/// gracefully is replaced well before any session could time out.
async fn killed_and_closed_leaders_are_replaced(backend: &Backend) {
    let server = backend.connect_string();
    let path = "/recipes/leader/failover";
    let mut first = rust_leader(&server, path, "first", "curator", None);
    let led = first
        .wait_for(Duration::from_secs(20), |l| l.kind == "LEADER")
        .await;
    let mut second = rust_leader(&server, path, "second", "curator", Some(500));
    second
        .wait_for(Duration::from_secs(20), |l| l.kind == "READY")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = now_ns();
    first.kill().await;
    let next = second
        .wait_for(Duration::from_secs(20), |l| l.kind == "LEADER")
        .await;
    assert!(next.token > led.token);
    let waited = Duration::from_nanos(u64::try_from(next.ns - killed_at).expect("ns"));
    assert!(
        waited <= Duration::from_millis(SESSION_MS + 1000),
        "replaced after {waited:?}"
    );

    // Graceful: `second` gives up after 500 ms; `third` (already queued) takes over.
    let mut third = rust_leader(&server, path, "third", "curator", None);
    let took = third
        .wait_for(Duration::from_secs(20), |l| l.kind == "LEADER")
        .await;
    let released = second
        .wait_for(Duration::ZERO, |l| {
            l.kind == "NOT_LEADER" && l.rest == "released"
        })
        .await;
    let gap = Duration::from_nanos(u64::try_from(took.ns.saturating_sub(released.ns)).expect("ns"));
    assert!(
        gap < Duration::from_millis(SESSION_MS),
        "graceful handover took {gap:?}: as long as an expiry"
    );
    second.kill().await;
    third.kill().await;
    check_exclusive(&all_events(&[&first, &second, &third]), CLAIMS);
}

/// A leader whose connection is cut (and cannot come back for longer than its session)
/// reports NOT_LEADER before anyone else leads.
async fn cut_leader_reports_loss_first(backend: &Backend) {
    let proxy = TcpProxy::start(backend.addr()).await.expect("proxy");
    let path = "/recipes/leader/cut";
    let mut cut = rust_leader(&proxy.connect_string(), path, "cut", "curator", None);
    let led = cut
        .wait_for(Duration::from_secs(20), |l| l.kind == "LEADER")
        .await;
    let mut other = rust_leader(&backend.connect_string(), path, "other", "curator", None);
    other
        .wait_for(Duration::from_secs(20), |l| l.kind == "READY")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.block_new();
    proxy.drop_connections().await;
    let next = other
        .wait_for(Duration::from_secs(20), |l| l.kind == "LEADER")
        .await;
    let lost = cut
        .wait_for(Duration::from_secs(5), |l| {
            l.kind == "NOT_LEADER" && l.token == led.token
        })
        .await;
    assert!(lost.ns < next.ns, "{} after {}", lost.raw, next.raw);
    proxy.unblock();
    cut.kill().await;
    other.kill().await;
    check_exclusive(&all_events(&[&cut, &other]), CLAIMS);
}

/// A leader stopped (SIGSTOP) past its session: another process leads meanwhile; on SIGCONT
/// the first line of the paused one is NOT_LEADER, never a claim.
async fn paused_leader_finds_leadership_gone(backend: &Backend) {
    use nix::sys::signal::Signal;
    let server = backend.connect_string();
    let path = "/recipes/leader/paused";
    let mut paused = rust_leader(&server, path, "paused", "curator", None);
    let led = paused
        .wait_for(Duration::from_secs(20), |l| l.kind == "LEADER")
        .await;
    let mut other = rust_leader(&server, path, "other", "curator", None);
    other
        .wait_for(Duration::from_secs(20), |l| l.kind == "READY")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    paused.signal(Signal::SIGSTOP);
    let took = other
        .wait_for(Duration::from_secs(20), |l| l.kind == "LEADER")
        .await;
    assert!(took.token > led.token);
    let resumed_at = now_ns();
    paused.signal(Signal::SIGCONT);
    paused
        .wait_for(Duration::from_secs(20), |l| {
            l.kind == "NOT_LEADER" && l.token == led.token
        })
        .await;
    let after: Vec<Line> = paused
        .events()
        .into_iter()
        .filter(|l| l.ns >= resumed_at)
        .collect();
    assert_eq!(
        after.first().map(|l| l.kind.as_str()),
        Some("NOT_LEADER"),
        "{after:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    paused.kill().await;
    other.kill().await;
    check_exclusive(&all_events(&[&paused, &other]), CLAIMS);
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(120);
    rust_latches_are_exclusive(zk_options()),
    rust_and_curator_latches_are_exclusive(zk_options()),
    rust_and_kazoo_elections_are_exclusive(zk_options()),
    killed_and_closed_leaders_are_replaced(zk_options()),
    cut_leader_reports_loss_first(zk_options()),
    paused_leader_finds_leadership_gone(zk_options()),
}
