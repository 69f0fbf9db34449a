//! The mutex under a seeded random schedule of network faults: four clients, each behind its
//! own proxy, take the lock over and over while their connections are dropped, silenced for
//! up to longer than the session, or cut off until their sessions expire. Every holder
//! records the instants it asserted it held (time first, then `is_held()`); the checker
//! verifies that no two holders' claims overlap and that tokens increase. The seed is printed;
//! `RECIPES_CHAOS_SEED=<n>` replays one schedule of faults (the timing of the rest still
//! varies with the machine). Real ZooKeeper 3.8.0 and zk-server-mini.

mod recipes_common;

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use recipes_common::*;
use tokio_util::sync::CancellationToken;
use zk_client::{Client, ExpiryPolicy};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::proxy::TcpProxy;
use zk_recipes::{Mutex, MutexOptions};

/// xorshift64*: a tiny seeded generator (the schedule must replay from the seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

async fn chaos(backend: &Backend, seed: u64) {
    eprintln!("recipes_lock_chaos seed {seed}");
    let mut rng = Rng(seed.max(1));
    let mut proxies = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let proxy = TcpProxy::start(backend.addr()).await.expect("proxy");
        let client = Client::builder(&proxy.connect_string())
            .session_timeout(Duration::from_secs(2))
            .expiry_policy(ExpiryPolicy::NewSession)
            .connect()
            .await
            .expect("connect");
        proxies.push(proxy);
        clients.push(client);
    }
    let claims: Arc<StdMutex<Vec<Line>>> = Arc::default();
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let (claims, stop) = (claims.clone(), stop.clone());
        let mutex = Mutex::new(
            client.clone(),
            &format!("/chaos/{seed}"),
            MutexOptions::default(),
        )
        .expect("mutex");
        let id = format!("c{i}");
        tasks.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let Ok(guard) = mutex.acquire_timeout(Duration::from_secs(3)).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                for _ in 0..6 {
                    let at = now_ns();
                    if !guard.is_held() {
                        break;
                    }
                    claims.lock().expect("claims").push(Line {
                        kind: "WORK".into(),
                        id: id.clone(),
                        token: guard.token(),
                        ns: at,
                        rest: String::new(),
                        raw: String::new(),
                    });
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let _ = tokio::time::timeout(Duration::from_secs(3), guard.release()).await;
            }
        }));
    }
    // The fault schedule: 14 faults, 150-550 ms apart.
    for _ in 0..14 {
        tokio::time::sleep(Duration::from_millis(150 + rng.below(400))).await;
        let victim = &proxies[usize::try_from(rng.below(4)).expect("index")];
        match rng.below(3) {
            0 => {
                victim.drop_connections().await;
            }
            1 => {
                // Silence, sometimes longer than the session.
                victim.pause().await;
                tokio::time::sleep(Duration::from_millis(300 + rng.below(2500))).await;
                victim.resume();
            }
            _ => {
                // Cut off until the session expires on the server.
                victim.block_new();
                victim.drop_connections().await;
                tokio::time::sleep(Duration::from_millis(2600)).await;
                victim.unblock();
            }
        }
    }
    // Quiet period: everyone recovers and the lock keeps moving.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_stop = claims.lock().expect("claims").len();
    stop.cancel();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("task ends")
            .expect("task");
    }
    let lines = claims.lock().expect("claims").clone();
    let tenures = check_exclusive(&lines, &["WORK"]);
    assert!(
        before_stop > 0 && tenures.len() >= 4,
        "the lock kept moving: {} tenures",
        tenures.len()
    );
    for c in clients {
        c.close().await;
    }
}

fn seeds() -> Vec<u64> {
    match std::env::var("RECIPES_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => vec![0x5eed_0001],
    }
}

async fn seeded_faults_keep_the_lock_exclusive(backend: &Backend) {
    for seed in seeds() {
        chaos(backend, seed).await;
    }
}

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(120);
    seeded_faults_keep_the_lock_exclusive(zk_options()),
}
