//! How long a test waits for its ZooKeeper: zk-server-mini (one node, and a 3-node `TestCluster`)
//! against Apache ZooKeeper 3.8.0 (standalone, and a 3-node ensemble) started by the same test
//! harness, in one run. Each start counts until a client's first write is acknowledged.
//!
//! `cargo bench -p zk-bench --bench startup -- [--rounds N]`

use std::time::{Duration, Instant};

use zk_client::{Client, CreateOptions};
use zk_integration_tests::{RealZk, RealZkEnsemble, ZkOptions};
use zk_server_mini::MiniServer;
use zk_server_mini::cluster::TestCluster;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Connects to `hosts` and writes once; retries until it works (an ensemble may still be
/// electing when its ports accept connections).
async fn first_write(hosts: &str) -> Result<(), AnyError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let attempt = async {
            let client = Client::connect(hosts).await?;
            let result = client
                .create("/startup", b"", &CreateOptions::ephemeral())
                .await;
            client.close().await;
            result.map(|_| ())
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn mini_single() -> Result<Duration, AnyError> {
    let dir = tempfile::tempdir()?;
    let start = Instant::now();
    let server = MiniServer::builder().data_dir(dir.path()).start().await?;
    first_write(&server.connect_string()).await?;
    let took = start.elapsed();
    server.stop().await;
    Ok(took)
}

async fn mini_cluster() -> Result<Duration, AnyError> {
    let start = Instant::now();
    let cluster = TestCluster::builder(3).start().await?;
    first_write(&cluster.connect_string()).await?;
    let took = start.elapsed();
    cluster.stop().await;
    Ok(took)
}

async fn zk_single() -> Result<Duration, AnyError> {
    let start = Instant::now();
    let zk = RealZk::start_standalone(ZkOptions::default()).await?;
    first_write(&zk.addr().to_string()).await?;
    let took = start.elapsed();
    drop(zk);
    Ok(took)
}

async fn zk_ensemble() -> Result<Duration, AnyError> {
    let start = Instant::now();
    let zk = RealZkEnsemble::start(3, ZkOptions::default()).await?;
    first_write(&zk.connect_string()).await?;
    let took = start.elapsed();
    drop(zk);
    Ok(took)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut results: [Vec<Duration>; 4] = Default::default();
    for round in 0..rounds {
        // Alternate the order so that neither side always runs on a warmer machine.
        let order: [usize; 4] = if round % 2 == 0 {
            [0, 1, 2, 3]
        } else {
            [3, 2, 1, 0]
        };
        for which in order {
            let took = match which {
                0 => mini_single().await?,
                1 => mini_cluster().await?,
                2 => zk_single().await?,
                _ => zk_ensemble().await?,
            };
            results[which].push(took);
        }
    }
    let [ms, mc, zs, ze] = results.map(median);
    println!("start to first acknowledged write, median of {rounds} rounds:");
    println!("| | zk-server-mini | Apache ZooKeeper 3.8.0 | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| one node | {:.0} ms | {:.0} ms | {:.1}x faster |",
        ms.as_secs_f64() * 1e3,
        zs.as_secs_f64() * 1e3,
        zs.as_secs_f64() / ms.as_secs_f64()
    );
    println!(
        "| 3-node ensemble | {:.0} ms | {:.0} ms | {:.1}x faster |",
        mc.as_secs_f64() * 1e3,
        ze.as_secs_f64() * 1e3,
        ze.as_secs_f64() / mc.as_secs_f64()
    );
    Ok(())
}
