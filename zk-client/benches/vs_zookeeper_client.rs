//! Throughput and latency of `zk-client` against the `zookeeper-client` crate, on the same real
//! ZooKeeper 3.8.0 server in the same run.
//!
//! Pipelined create/get/set/delete with 100 and 1000 requests in flight on one client, and
//! closed-loop latency (one request at a time). Client CPU is the CPU time of this process (the
//! server is another process). Run with:
//!
//! ```text
//! cargo bench -p zk-client --bench vs_zookeeper_client
//! ```
//!
//! `ZK_BENCH_OPS` (default 20000) sets the operations per phase; `ZK_BENCH_SERVER=host:port`
//! uses an already running server instead of starting one.

use std::time::{Duration, Instant};

use futures::StreamExt;
use zk_client::CreateOptions;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Create,
    Get,
    Set,
    Delete,
}

const PHASES: [Phase; 4] = [Phase::Create, Phase::Get, Phase::Set, Phase::Delete];

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are the 12th and 13th after the comm.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let total = ticks(11) + ticks(12);
    // CLK_TCK is 100 on Linux.
    Duration::from_millis(total * 10)
}

struct Sample {
    ops: usize,
    wall: Duration,
    cpu: Duration,
}

impl Sample {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }

    fn cpu_us_per_op(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ops as f64
    }
}

async fn measure<F, Fut>(ops: usize, in_flight: usize, op: F) -> Sample
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let cpu0 = cpu_time();
    let start = Instant::now();
    let failures: Vec<String> = futures::stream::iter(0..ops)
        .map(op)
        .buffer_unordered(in_flight)
        .filter_map(|r| std::future::ready(r.err()))
        .collect()
        .await;
    let wall = start.elapsed();
    assert!(
        failures.is_empty(),
        "{} operations failed, the first with {:?}",
        failures.len(),
        failures.first()
    );
    Sample {
        ops,
        wall,
        cpu: cpu_time().saturating_sub(cpu0),
    }
}

async fn ours(
    client: &zk_client::Client,
    phase: Phase,
    ops: usize,
    in_flight: usize,
    root: &str,
) -> Sample {
    let opts = CreateOptions::persistent();
    let value = [7u8; 64];
    measure(ops, in_flight, |i| {
        let path = format!("{root}/n{i}");
        let opts = &opts;
        async move {
            let result = match phase {
                Phase::Create => client.create(&path, value, opts).await.map(drop),
                Phase::Get => client.get_data(&path).await.map(drop),
                Phase::Set => client.set_data(&path, value, None).await.map(drop),
                Phase::Delete => client.delete(&path, None).await,
            };
            result.map_err(|e| format!("{phase:?} {path}: {e}"))
        }
    })
    .await
}

async fn theirs(
    client: &zookeeper_client::Client,
    phase: Phase,
    ops: usize,
    in_flight: usize,
    root: &str,
) -> Sample {
    let opts =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    let value = [7u8; 64];
    measure(ops, in_flight, |i| {
        let path = format!("{root}/n{i}");
        let opts = &opts;
        async move {
            let result = match phase {
                Phase::Create => client.create(&path, &value, opts).await.map(drop),
                Phase::Get => client.get_data(&path).await.map(drop),
                Phase::Set => client.set_data(&path, &value, None).await.map(drop),
                Phase::Delete => client.delete(&path, None).await,
            };
            result.map_err(|e| format!("{phase:?} {path}: {e}"))
        }
    })
    .await
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let ops: usize = std::env::var("ZK_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut _server = None;
    let addr = match std::env::var("ZK_BENCH_SERVER") {
        Ok(addr) => addr,
        Err(_) => {
            if let Some(reason) = zk_integration_tests::RealZk::unavailable_reason() {
                eprintln!("SKIP: the reference ZooKeeper server is not available: {reason}");
                return;
            }
            let zk = zk_integration_tests::RealZk::start_standalone(
                zk_integration_tests::ZkOptions::default(),
            )
            .await
            .expect("start the reference server");
            let addr = zk.connect_string();
            _server = Some(zk);
            addr
        }
    };
    let our_client = zk_client::Client::connect(&addr)
        .await
        .expect("zk-client connects");
    let their_client = zookeeper_client::Client::connect(&addr)
        .await
        .expect("zookeeper-client connects");
    for root in ["/bench-ours", "/bench-theirs"] {
        let _ = our_client
            .create(root, b"", &CreateOptions::persistent())
            .await;
    }
    let rounds: usize = std::env::var("ZK_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // Warm the server's JIT and both clients up before measuring anything.
    for phase in PHASES {
        ours(&our_client, phase, ops, 1000, "/bench-ours").await;
        theirs(&their_client, phase, ops, 1000, "/bench-theirs").await;
    }
    println!(
        "server {addr}, {ops} operations per phase, 64-byte values, median of {rounds} rounds \
         (the two clients alternate within each round)"
    );
    println!(
        "{:<8} {:>9} {:>12} {:>12} {:>7} {:>12} {:>12} {:>7}",
        "phase", "in-flight", "ours op/s", "theirs op/s", "ratio", "ours cpu/op", "theirs", "ratio"
    );
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for in_flight in [100, 1000] {
        for phase in PHASES {
            let (mut a_tp, mut b_tp, mut a_cpu, mut b_cpu) = (vec![], vec![], vec![], vec![]);
            for round in 0..rounds {
                // Alternate who goes first, so that drift in the server hits both alike.
                let (a, b) = if round % 2 == 0 {
                    let a = ours(&our_client, phase, ops, in_flight, "/bench-ours").await;
                    let b = theirs(&their_client, phase, ops, in_flight, "/bench-theirs").await;
                    (a, b)
                } else {
                    let b = theirs(&their_client, phase, ops, in_flight, "/bench-theirs").await;
                    let a = ours(&our_client, phase, ops, in_flight, "/bench-ours").await;
                    (a, b)
                };
                a_tp.push(a.ops_per_sec());
                b_tp.push(b.ops_per_sec());
                a_cpu.push(a.cpu_us_per_op());
                b_cpu.push(b.cpu_us_per_op());
                // Every phase needs the nodes in the state the next one expects.
                if phase == Phase::Create && round + 1 < rounds {
                    ours(&our_client, Phase::Delete, ops, 1000, "/bench-ours").await;
                    theirs(&their_client, Phase::Delete, ops, 1000, "/bench-theirs").await;
                }
                if phase == Phase::Delete && round + 1 < rounds {
                    ours(&our_client, Phase::Create, ops, 1000, "/bench-ours").await;
                    theirs(&their_client, Phase::Create, ops, 1000, "/bench-theirs").await;
                }
            }
            let (a_tp, b_tp, a_cpu, b_cpu) =
                (median(a_tp), median(b_tp), median(a_cpu), median(b_cpu));
            println!(
                "{:<8} {:>9} {:>12.0} {:>12.0} {:>6.2}x {:>10.1}us {:>10.1}us {:>6.2}x",
                format!("{phase:?}"),
                in_flight,
                a_tp,
                b_tp,
                a_tp / b_tp,
                a_cpu,
                b_cpu,
                b_cpu / a_cpu.max(1e-9),
            );
        }
    }

    // Is the server the limit? Two of our clients at once against one.
    let second = zk_client::Client::connect(&addr)
        .await
        .expect("second client");
    ours(&our_client, Phase::Create, ops, 1000, "/bench-ours").await;
    let one = ours(&our_client, Phase::Get, ops, 1000, "/bench-ours").await;
    let start = Instant::now();
    let (a, b) = tokio::join!(
        ours(&our_client, Phase::Get, ops, 1000, "/bench-ours"),
        ours(&second, Phase::Get, ops, 1000, "/bench-ours"),
    );
    let both = (a.ops + b.ops) as f64 / start.elapsed().as_secs_f64();
    println!(
        "server saturation check (getData, 1000 in flight): one client {:.0} op/s, two clients {:.0} op/s together",
        one.ops_per_sec(),
        both
    );
    ours(&our_client, Phase::Delete, ops, 1000, "/bench-ours").await;
    second.close().await;

    // Closed loop: one request at a time.
    let n = 2_000.min(ops);
    our_client
        .create("/bench-latency", b"x", &CreateOptions::persistent())
        .await
        .ok();
    let mut ours_lat = Vec::with_capacity(n);
    let mut theirs_lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        our_client.get_data("/bench-latency").await.expect("get");
        ours_lat.push(t.elapsed());
        let t = Instant::now();
        their_client.get_data("/bench-latency").await.expect("get");
        theirs_lat.push(t.elapsed());
    }
    ours_lat.sort();
    theirs_lat.sort();
    println!("closed-loop getData latency over {n} calls (interleaved):");
    for (name, lat) in [("ours", &ours_lat), ("theirs", &theirs_lat)] {
        println!(
            "  {name:<6} p50 {:>8.1} us  p99 {:>8.1} us",
            percentile(lat, 0.5).as_secs_f64() * 1e6,
            percentile(lat, 0.99).as_secs_f64() * 1e6
        );
    }
    our_client.close().await;
}
