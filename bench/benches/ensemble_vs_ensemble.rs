//! Ensemble vs ensemble: a 3-member ensemble of the `zk-server-mini` release binary against a
//! 3-member Apache ZooKeeper 3.8.0 ensemble, all six child processes on this machine, fsync
//! on, same `tickTime` (200 ms) and `syncLimit` (5), the same `zk-client` load generator
//! connected to each ensemble's leader, in the same run.
//!
//! ```text
//! cargo build --release -p zk-server-mini
//! cargo bench -p zk-bench --bench ensemble_vs_ensemble -- [--znodes 100000] [--in-flight 256]
//!     [--latency-ops 1000] [--data-len 32] [--elections 3] [--snap-count 100000] [--mini-only]
//! ```
//!
//! Measured: pipelined create, get and set of `--znodes` nodes (throughput), closed-loop get
//! and set (p99), resident memory of every member holding the nodes, and, `--elections`
//! times, the time from SIGKILL of the leader to the first successful write through a client
//! holding the whole connect string.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use zk_bench::args::Args;
use zk_bench::mini::locate_binary;
use zk_bench::ops::ZkClient;
use zk_bench::proc_status::memory;
use zk_bench::workload::{Op, child_paths, closed_loop, pipelined};
use zk_integration_tests::{RealZk, RealZkEnsemble, ZkOptions};
use zk_server_mini::cluster::TestCluster;

const TICK_MS: u64 = 200;

fn main() -> ExitCode {
    zk_bench::args::main_with("ensemble_vs_ensemble", run)
}

async fn connect(connect_string: &str) -> Result<zk_client::Client, String> {
    zk_client::Client::builder(connect_string)
        .session_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| format!("connecting to {connect_string}: {e}"))
}

/// One ensemble under test.
enum Ens {
    Mini(TestCluster),
    Real(RealZkEnsemble),
}

impl Ens {
    fn name(&self) -> &'static str {
        match self {
            Ens::Mini(_) => "mini ensemble",
            Ens::Real(_) => "ZooKeeper 3.8.0",
        }
    }

    fn connect_string(&self) -> String {
        match self {
            Ens::Mini(c) => c.connect_string(),
            Ens::Real(z) => z.connect_string(),
        }
    }

    /// The leader's client address and every running member's pid.
    async fn leader(&mut self) -> Result<(String, Vec<u32>), String> {
        match self {
            Ens::Mini(c) => {
                let id = c
                    .leader(Duration::from_secs(60))
                    .await
                    .ok_or("no mini leader")?;
                let pids = c.ids().into_iter().filter_map(|i| c.pid(i)).collect();
                Ok((c.client_addr(id).to_string(), pids))
            }
            Ens::Real(z) => {
                let i = z
                    .wait_for_quorum(Duration::from_secs(60))
                    .await
                    .map_err(|e| e.to_string())?;
                let pids = z.nodes().iter().filter_map(|n| n.pid()).collect();
                Ok((z.node(i).addr().to_string(), pids))
            }
        }
    }

    async fn kill_leader(&mut self) -> Result<(), String> {
        match self {
            Ens::Mini(c) => {
                let id = c
                    .leader(Duration::from_secs(60))
                    .await
                    .ok_or("no mini leader")?;
                c.kill(id).await;
                Ok(())
            }
            Ens::Real(z) => {
                let i = z
                    .wait_for_quorum(Duration::from_secs(60))
                    .await
                    .map_err(|e| e.to_string())?;
                z.kill(i);
                Ok(())
            }
        }
    }

    async fn revive(&mut self) -> Result<(), String> {
        match self {
            Ens::Mini(c) => {
                for id in c.ids() {
                    if c.pid(id).is_none() {
                        c.restart(id).await.map_err(|e| e.to_string())?;
                    }
                }
                c.leader(Duration::from_secs(60))
                    .await
                    .ok_or("no mini leader")?;
            }
            Ens::Real(z) => {
                for i in 0..z.len() {
                    if !z.node_mut(i).is_running() {
                        z.restart(i).await.map_err(|e| e.to_string())?;
                    }
                }
                z.wait_for_quorum(Duration::from_secs(60))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}

/// Kills the leader and measures the time to the first successful write through `client`.
async fn election(ens: &mut Ens, client: &zk_client::Client, n: usize) -> Result<Duration, String> {
    let path = format!("/ens-election-{n}");
    client
        .create(&path, b"0", &zk_client::CreateOptions::persistent())
        .await
        .map_err(|e| e.to_string())?;
    ens.kill_leader().await?;
    let killed = Instant::now();
    loop {
        if client.set_data(&path, b"1", None).await.is_ok() {
            return Ok(killed.elapsed());
        }
        if killed.elapsed() > Duration::from_secs(60) {
            return Err(format!("{}: no write within 60 s of the kill", ens.name()));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn run(args: Args) -> Result<(), String> {
    let znodes: usize = args.get("znodes", 100_000)?;
    let in_flight: usize = args.get("in-flight", 256)?;
    let latency_ops: usize = args.get("latency-ops", 1_000)?.min(znodes);
    let elections: usize = args.get("elections", 3)?;
    let data = vec![b'x'; args.get("data-len", 32usize)?];
    // The mini members' snapCount (ZooKeeper's default, 100000, is also its own here).
    let snap_count: u64 = args.get("snap-count", 100_000)?;
    let mini_only = args.has("mini-only");
    if let Some(why) = RealZk::unavailable_reason() {
        return Err(format!("the reference server is needed: {why}"));
    }
    let mini = TestCluster::builder(3)
        .tick_ms(TICK_MS)
        .snap_count(snap_count)
        .processes(locate_binary()?)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let mut ensembles = vec![Ens::Mini(mini)];
    if !mini_only {
        let real = RealZkEnsemble::start(3, ZkOptions::default().tick_time(TICK_MS as u32))
            .await
            .map_err(|e| e.to_string())?;
        ensembles.push(Ens::Real(real));
    }
    println!(
        "# {znodes} znodes, {in_flight} in flight, {} B data, tickTime {TICK_MS} ms, syncLimit 5, mini snapCount {snap_count}",
        data.len()
    );
    for ens in &mut ensembles {
        let (leader, pids) = ens.leader().await?;
        let name = ens.name();
        let client = ZkClient::new(connect(&leader).await?);
        let warm = child_paths("/ens-warm", znodes.min(20_000));
        client.create_parent("/ens-warm").await?;
        for op in Op::ALL {
            pipelined(&client, op, &warm, &data, in_flight)
                .await
                .verify(op, data.len(), &format!("{name} warm-up"))?;
        }
        client.delete_node("/ens-warm").await?;
        let paths = child_paths("/ens", znodes);
        client.create_parent("/ens").await?;
        for op in [Op::Create, Op::Get, Op::Set] {
            let phase = pipelined(&client, op, &paths, &data, in_flight).await;
            phase.verify(op, data.len(), &format!("{name} {}", op.name()))?;
            println!(
                "{name:>16} pipelined {:<6} {:>9.0} ops/s",
                op.name(),
                phase.ops_per_sec()
            );
        }
        for op in [Op::Get, Op::Set] {
            let mut phase = closed_loop(&client, op, &paths[..latency_ops], &data).await;
            phase.verify(op, data.len(), &format!("{name} closed-loop"))?;
            println!(
                "{name:>16} closed-loop {:<6} p50 {:>6.0}µs p99 {:>6.0}µs",
                op.name(),
                phase.latency(50.0).as_secs_f64() * 1e6,
                phase.latency(99.0).as_secs_f64() * 1e6,
            );
        }
        let rss: Vec<f64> = pids
            .iter()
            .filter_map(|p| memory(*p))
            .map(|m| m.rss_kib as f64 / 1024.0)
            .collect();
        println!("{name:>16} RSS per member with {znodes} znodes (MiB): {rss:.1?}");
        client.client().close().await;
        let failover = connect(&ens.connect_string()).await?;
        for n in 0..elections {
            let took = election(ens, &failover, n).await?;
            println!(
                "{name:>16} leader SIGKILL -> first successful write: {:.0} ms",
                took.as_secs_f64() * 1e3
            );
            ens.revive().await?;
        }
        failover.close().await;
    }
    for ens in ensembles {
        if let Ens::Mini(c) = ens {
            c.stop().await;
        }
    }
    Ok(())
}
