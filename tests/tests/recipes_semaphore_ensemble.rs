//! The other ownership recipes on a real 3-node ZooKeeper 3.8.0 ensemble whose leader is killed
//! mid-run: a 2-lease semaphore, a read-write lock, a multi-lock and a LeaderSelector keep
//! their guarantees (claims recorded by the holders, checked afterwards), and barriers still
//! release their waiters.

mod recipes_common;

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use recipes_common::*;
use tokio_util::sync::CancellationToken;
use zk_client::{Client, ExpiryPolicy};
use zk_integration_tests::{RealZkEnsemble, require_real_zk};
use zk_recipes::{
    Barrier, DoubleBarrier, LeaderSelector, LeaderSelectorOptions, Leadership, MultiLock, Mutex,
    MutexOptions, OwnershipWatch, ReadWriteLock, Semaphore,
};

type Claims = Arc<StdMutex<Vec<Line>>>;

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

fn claim(claims: &Claims, kind: &str, id: &str, token: i64) {
    claims.lock().expect("claims").push(Line {
        kind: kind.to_owned(),
        id: id.to_owned(),
        token,
        ns: now_ns(),
        rest: String::new(),
        raw: String::new(),
    });
}

/// Holds for ~60 ms, recording a claim every 5 ms while `is_held()` (time first, then check).
async fn hold(claims: &Claims, kind: &str, id: &str, watch: &OwnershipWatch) {
    for _ in 0..12 {
        let at = now_ns();
        if !watch.is_held() {
            return;
        }
        claims.lock().expect("claims").push(Line {
            kind: kind.to_owned(),
            id: id.to_owned(),
            token: watch.token(),
            ns: at,
            rest: String::new(),
            raw: String::new(),
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// No instant is covered by more than `n` tenures.
fn check_at_most(lines: &[Line], kinds: &[&str], n: usize) -> usize {
    let ts = tenures(lines, kinds);
    for t in &ts {
        let overlapping = ts
            .iter()
            .filter(|o| o.first_ns <= t.first_ns && t.first_ns <= o.last_ns)
            .count();
        assert!(
            overlapping <= n,
            "{overlapping} holders at {}: {ts:?}",
            t.first_ns
        );
    }
    ts.len()
}

async fn connect(server: &str) -> Client {
    Client::builder(server)
        .session_timeout(Duration::from_secs(4))
        .expiry_policy(ExpiryPolicy::NewSession)
        .connect()
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipes_keep_their_guarantees_when_the_zookeeper_leader_dies() {
    require_real_zk!();
    zk_integration_tests::backend::bounded(Duration::from_secs(300), async {
        let mut opts = zk_options();
        opts.init_limit = 50;
        opts.sync_limit = 25;
        let mut ensemble = RealZkEnsemble::start(3, opts).await.expect("ensemble");
        let server = ensemble.connect_string();
        let stop = CancellationToken::new();
        let claims: Claims = Arc::default();
        let mut tasks = Vec::new();
        let mut clients = Vec::new();
        for i in 0..4 {
            let client = connect(&server).await;
            clients.push(client.clone());
            let (stop, claims) = (stop.clone(), claims.clone());
            let id = format!("c{i}");
            tasks.push(tokio::spawn(async move {
                let sem = Semaphore::new(client.clone(), "/ens2/sem", 2, MutexOptions::default())
                    .expect("sem");
                let rw = ReadWriteLock::new(client.clone(), "/ens2/rw", MutexOptions::default())
                    .expect("rw");
                let multi = MultiLock::new(vec![
                    Mutex::new(client.clone(), "/ens2/m1", MutexOptions::default()).expect("m"),
                    Mutex::new(client.clone(), "/ens2/m2", MutexOptions::default()).expect("m"),
                ]);
                let mut round = 0u32;
                while !stop.is_cancelled() {
                    round += 1;
                    if let Ok(lease) = sem.acquire_timeout(Duration::from_secs(5)).await {
                        hold(&claims, "SEM", &id, &lease.watch()).await;
                        let _ = lease.release().await;
                    }
                    let rw_guard = if round.is_multiple_of(2) {
                        rw.write_timeout(Duration::from_secs(5))
                            .await
                            .map(|g| ("WRITE", g))
                    } else {
                        rw.read_timeout(Duration::from_secs(5))
                            .await
                            .map(|g| ("READ", g))
                    };
                    if let Ok((kind, g)) = rw_guard {
                        hold(&claims, kind, &id, &g.watch()).await;
                        let _ = g.release().await;
                    }
                    if let Ok(g) = multi.acquire_timeout(Duration::from_secs(5)).await {
                        // The multi-lock's claim: both parts held at that instant.
                        for _ in 0..6 {
                            let at = now_ns();
                            if !g.is_held() {
                                break;
                            }
                            claims.lock().expect("claims").push(Line {
                                kind: "MULTI".into(),
                                id: id.clone(),
                                token: g.tokens()[0],
                                ns: at,
                                rest: String::new(),
                                raw: String::new(),
                            });
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        let _ = g.release().await;
                    }
                }
            }));
        }
        // Two selectors with requeue record their leaderships.
        let mut selectors = Vec::new();
        for i in 0..2 {
            let claims = claims.clone();
            let id = format!("s{i}");
            let client = connect(&server).await;
            clients.push(client.clone());
            selectors.push(
                LeaderSelector::start(
                    client,
                    "/ens2/selector",
                    LeaderSelectorOptions::default()
                        .id(id.clone())
                        .requeue(true),
                    move |l: Leadership| {
                        let (claims, id) = (claims.clone(), id.clone());
                        async move {
                            claim(&claims, "LEAD", &id, l.token);
                            hold(&claims, "LEAD", &id, &l.watch).await;
                        }
                    },
                )
                .expect("selector"),
            );
        }
        // A barrier that a waiter passes only after it is removed, across the fault.
        let gate_client = connect(&server).await;
        clients.push(gate_client.clone());
        let gate = Barrier::new(gate_client.clone(), "/ens2/gate").expect("barrier");
        gate.set().await.expect("set");
        let waiter = {
            let c = connect(&server).await;
            clients.push(c.clone());
            tokio::spawn(async move {
                Barrier::new(c, "/ens2/gate")
                    .expect("b")
                    .wait(Some(Duration::from_secs(120)))
                    .await
            })
        };

        tokio::time::sleep(Duration::from_secs(2)).await;
        let leader = ensemble.leader().await.expect("a ZooKeeper leader");
        let killed_at = now_ns();
        ensemble.kill(leader);
        ensemble
            .wait_for_quorum(Duration::from_secs(60))
            .await
            .expect("new quorum");
        // Keep running until every workload made progress after the fault.
        let progressed = async {
            loop {
                let after: Vec<String> = claims
                    .lock()
                    .expect("claims")
                    .iter()
                    .filter(|l| l.ns > killed_at)
                    .map(|l| l.kind.clone())
                    .collect();
                if ["SEM", "READ", "WRITE", "MULTI", "LEAD"]
                    .iter()
                    .all(|k| after.iter().any(|a| a == k))
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(120), progressed)
            .await
            .expect("progress after the fault");
        gate.remove().await.expect("remove");
        waiter
            .await
            .expect("join")
            .expect("the waiter passes once the barrier is removed");

        // Double barrier across the recovered ensemble: three members enter and leave.
        let mut members = Vec::new();
        for c in clients.iter().take(3) {
            let c = c.clone();
            members.push(tokio::spawn(async move {
                let db = DoubleBarrier::new(c, "/ens2/double", 3).expect("db");
                db.enter(Some(Duration::from_secs(30))).await?;
                db.leave(Some(Duration::from_secs(30))).await
            }));
        }
        for m in members {
            m.await.expect("join").expect("double barrier");
        }

        stop.cancel();
        for t in tasks {
            t.await.expect("task");
        }
        for s in &selectors {
            s.close().await;
        }
        let lines = claims.lock().expect("claims").clone();
        assert!(check_at_most(&lines, &["SEM"], 2) >= 2);
        check_exclusive(&lines, &["WRITE"]);
        check_exclusive(&lines, &["MULTI"]);
        check_exclusive(&lines, &["LEAD"]);
        // Readers may overlap each other, never a writer.
        let rw: Vec<Line> = lines
            .iter()
            .filter(|l| l.kind == "READ" || l.kind == "WRITE")
            .cloned()
            .collect();
        let ts = tenures(&rw, &["READ", "WRITE"]);
        let writers = tenures(&rw, &["WRITE"]);
        for w in &writers {
            for t in ts.iter().filter(|t| !(t.id == w.id && t.token == w.token)) {
                assert!(
                    t.last_ns < w.first_ns || w.last_ns < t.first_ns,
                    "writer {w:?} overlaps {t:?}"
                );
            }
        }
        for c in clients {
            c.close().await;
        }
    })
    .await;
}
