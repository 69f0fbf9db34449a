//! Locks and leader election on a real 3-node ZooKeeper 3.8.0 ensemble, with the ZooKeeper
//! leader killed (every member drops its clients while a new leader is elected) and with the
//! member a holder is connected to killed. `lock` and `leader` example processes print what
//! they did; the checker verifies exclusivity and token order from outside.

mod recipes_common;

use std::time::Duration;

use recipes_common::*;
use zk_integration_tests::proxy::TcpProxy;
use zk_integration_tests::{RealZkEnsemble, require_real_zk};

const SESSION_MS: &str = "4000";

fn lock(server: &str, path: &str, id: &str, hold_ms: u64, rounds: u32) -> Worker {
    let mut c = example("lock");
    c.args(["--server", server, "--path", path, "--id", id])
        .args([
            "--hold-ms",
            &hold_ms.to_string(),
            "--rounds",
            &rounds.to_string(),
        ])
        .args(["--session-timeout-ms", SESSION_MS]);
    Worker::spawn(id, c)
}

fn leader(server: &str, path: &str, id: &str) -> Worker {
    let mut c = example("leader");
    c.args(["--server", server, "--path", path, "--id", id])
        .args(["--lead-ms", "300", "--session-timeout-ms", SESSION_MS]);
    Worker::spawn(id, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_and_leaders_survive_ensemble_faults() {
    require_real_zk!();
    zk_integration_tests::backend::bounded(Duration::from_secs(300), async {
        let mut opts = zk_options();
        opts.init_limit = 50;
        opts.sync_limit = 25;
        let mut ensemble = RealZkEnsemble::start(3, opts).await.expect("ensemble");
        let all = ensemble.connect_string();

        // Phase 1: the ZooKeeper leader is killed while three lock processes and two leader
        // processes run.
        let mut locks: Vec<Worker> = (0..3)
            .map(|i| lock(&all, "/ens/lock", &format!("l{i}"), 200, 5))
            .collect();
        let mut leaders: Vec<Worker> = (0..2)
            .map(|i| leader(&all, "/ens/leader", &format!("e{i}")))
            .collect();
        locks[0]
            .wait_for(Duration::from_secs(30), |l| l.kind == "ACQUIRED")
            .await;
        leaders[0]
            .wait_for(Duration::from_secs(30), |l| l.kind == "READY")
            .await;
        let zk_leader = ensemble.leader().await.expect("a ZooKeeper leader");
        let killed_at = now_ns();
        ensemble.kill(zk_leader);
        ensemble
            .wait_for_quorum(Duration::from_secs(60))
            .await
            .expect("new quorum");
        for w in &mut locks {
            w.finish(Duration::from_secs(120)).await;
        }
        // Leadership resumed after the fault.
        let resumed = async {
            loop {
                let after = leaders
                    .iter()
                    .flat_map(|w| w.events())
                    .any(|l| l.kind == "LEADER" && l.ns > killed_at);
                if after {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), resumed)
            .await
            .expect("a leader after the kill");
        for w in &mut leaders {
            w.kill().await;
        }
        let refs: Vec<&Worker> = locks.iter().collect();
        let tenures = check_exclusive(&all_events(&refs), &["ACQUIRED", "WORK"]);
        assert_eq!(tenures.len(), 15, "every round completed: {tenures:?}");
        let refs: Vec<&Worker> = leaders.iter().collect();
        check_exclusive(&all_events(&refs), &["LEADER", "WORK"]);
        ensemble.restart(zk_leader).await.expect("restart");
        ensemble
            .wait_for_quorum(Duration::from_secs(60))
            .await
            .expect("quorum");

        // Phase 2: the member the holder is connected to is killed (the holder reaches the
        // ensemble through a proxy to that member; afterwards the proxy leads to another).
        let zk_leader = ensemble.leader().await.expect("leader");
        let member = (zk_leader + 1) % 3;
        let spare = (zk_leader + 2) % 3;
        let proxy = TcpProxy::start(ensemble.node(member).addr())
            .await
            .expect("proxy");
        let mut holder = lock(&proxy.connect_string(), "/ens/member", "holder", 3000, 2);
        let first = holder
            .wait_for(Duration::from_secs(30), |l| l.kind == "ACQUIRED")
            .await;
        let others = format!(
            "{},{}",
            ensemble.node(zk_leader).addr(),
            ensemble.node(spare).addr()
        );
        let mut other = lock(&others, "/ens/member", "other", 100, 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        ensemble.kill(member);
        proxy.set_upstream(ensemble.node(spare).addr());
        other.finish(Duration::from_secs(120)).await;
        holder.finish(Duration::from_secs(120)).await;
        let lost = holder
            .wait_for(Duration::ZERO, |l| {
                l.kind == "LOST" && l.token == first.token
            })
            .await;
        let acquired = other
            .wait_for(Duration::ZERO, |l| l.kind == "ACQUIRED")
            .await;
        assert!(lost.ns < acquired.ns, "{} after {}", lost.raw, acquired.raw);
        check_exclusive(&all_events(&[&holder, &other]), &["ACQUIRED", "WORK"]);
    })
    .await;
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}
