//! kazoo, a client nobody here wrote, against zk-server-mini: CRUD, watches, ephemerals,
//! sequential nodes, transactions, ACLs, sessions and the recipes Lock, Election, Counter,
//! Barrier/DoubleBarrier, Queue/LockingQueue, TreeCache, Semaphore and Party.
//!
//! The same script also runs against Apache ZooKeeper 3.8.0, so the scenarios themselves are
//! checked against the reference.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use zk_integration_tests::mini::start_mini;
use zk_integration_tests::{RealZk, ZkOptions, clients, require, require_real_zk};
use zk_server_mini::MiniServer;

const SCENARIOS: usize = 16;

fn script() -> PathBuf {
    clients::workspace_root().join("zk-server-mini/tests/kazoo/scenarios.py")
}

/// Runs the scenario script against `hosts`; returns (success, stdout+stderr). The child is
/// killed (by pid, via `kill_on_drop`) if it outlives the timeout.
async fn run_scenarios(python: PathBuf, hosts: &str) -> (bool, String) {
    let child = tokio::process::Command::new(python)
        .arg(script())
        .arg(hosts)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start python");
    match tokio::time::timeout(Duration::from_secs(240), child.wait_with_output()).await {
        Ok(Ok(out)) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Ok(Err(e)) => (false, format!("python failed: {e}")),
        Err(_) => (false, "kazoo scenarios timed out (child killed)".into()),
    }
}

fn passes(output: &str) -> usize {
    output.lines().filter(|l| l.starts_with("PASS ")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_scenarios_pass_against_the_mini_server() {
    require!("kazoo", clients::kazoo());
    let python = clients::kazoo().expect("kazoo");
    let (_dir, server) = start_mini(
        MiniServer::builder()
            .tick_ms(200)
            .four_letter_words(&["*"])
            .max_client_cnxns(0),
    )
    .await;
    let (ok, output) = run_scenarios(python, &server.connect_string()).await;
    server.stop().await;
    assert!(ok, "kazoo scenarios failed:\n{output}");
    assert_eq!(passes(&output), SCENARIOS, "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_scenarios_hold_on_real_zookeeper() {
    require_real_zk!();
    require!("kazoo", clients::kazoo());
    let python = clients::kazoo().expect("kazoo");
    let real = RealZk::start_standalone(ZkOptions::default().tick_time(200))
        .await
        .expect("start the reference server");
    let (ok, output) = run_scenarios(python, &real.connect_string()).await;
    assert!(
        ok,
        "kazoo scenarios failed on the reference server:\n{output}"
    );
    assert_eq!(passes(&output), SCENARIOS, "{output}");
}
