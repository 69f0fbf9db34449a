//! Client vs client: `zk-client` against the `zookeeper-client` crate, on the same real
//! Apache ZooKeeper 3.8.0 server, in the same run, alternating which client goes first.
//!
//! ```text
//! cargo bench -p zk-bench --bench client_vs_client -- [--ops 20000] [--rounds 4]
//!     [--latency-ops 1000] [--data-len 32] [--server real|mini] [--zk-heap-mb 256]
//! ```
//!
//! Per round and per client: pipelined create/get/set/delete of `--ops` nodes with 100 and 1000
//! requests in flight on one session, then closed-loop (one at a time) latency of each operation
//! over `--latency-ops` nodes. Throughput, latency and this process's CPU time per operation
//! (`getrusage`, all threads) are recorded; the runtime is tokio's current-thread runtime so both
//! clients run on one thread (plus whatever threads a client starts itself, which are counted).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use zk_bench::args::Args;
use zk_bench::mini::MiniProcess;
use zk_bench::ops::{ZkClient, ZkOps};
use zk_bench::stats::{median, percentile};
use zk_bench::workload::{Op, child_paths, closed_loop, pipelined};
use zk_integration_tests::{RealZk, ZkOptions};
use zookeeper_client as zkc;

/// The baseline: the `zookeeper-client` crate.
struct Baseline {
    client: zkc::Client,
    persistent: zkc::CreateOptions<'static>,
}

impl ZkOps for Baseline {
    async fn create(&self, path: &str, data: &[u8]) -> Result<(), String> {
        self.client
            .create(path, data, &self.persistent)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn get(&self, path: &str) -> Result<usize, String> {
        self.client
            .get_data(path)
            .await
            .map(|(data, _)| data.len())
            .map_err(|e| e.to_string())
    }

    async fn set(&self, path: &str, data: &[u8]) -> Result<(), String> {
        self.client
            .set_data(path, data, None)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn delete(&self, path: &str) -> Result<(), String> {
        self.client
            .delete(path, None)
            .await
            .map_err(|e| e.to_string())
    }
}

const OURS: &str = "zk-client";
const THEIRS: &str = "zookeeper-client";
const IN_FLIGHT: [usize; 2] = [100, 1000];

#[derive(Default)]
struct Samples {
    /// (op, in flight) -> per-round ops/s, per client.
    ops_per_sec: BTreeMap<(usize, usize, &'static str), Vec<f64>>,
    /// (op, in flight) -> per-round CPU µs/op, per client.
    cpu_us: BTreeMap<(usize, usize, &'static str), Vec<f64>>,
    /// (op, client) -> closed-loop latencies of every round.
    latencies: BTreeMap<(usize, &'static str), Vec<Duration>>,
    /// (op, client) -> closed-loop CPU µs/op per round.
    latency_cpu_us: BTreeMap<(usize, &'static str), Vec<f64>>,
}

fn main() -> ExitCode {
    zk_bench::args::main_with("client_vs_client", run)
}

async fn run(args: Args) -> Result<(), String> {
    let ops: usize = args.get("ops", 20_000)?;
    let rounds: usize = args.get("rounds", 4)?;
    let latency_ops: usize = args.get("latency-ops", 1_000)?;
    let data = vec![b'x'; args.get("data-len", 32usize)?];
    // The harness's default JVM heap cap is 256 MB.
    let zk_heap_mb: u32 = args.get("zk-heap-mb", ZkOptions::default().heap_mb)?;

    // The issue's measurement is against the real server; `--server mini` is a supplementary
    // run against a faster server, where the clients rather than the server are the bottleneck.
    let server: String = args.get("server", "real".to_owned())?;
    let (real, mini, connect, pid, server_name) = match server.as_str() {
        "real" => {
            if let Some(why) = RealZk::unavailable_reason() {
                return Err(format!("the reference server is needed: {why}"));
            }
            let zk = RealZk::start_standalone(ZkOptions {
                heap_mb: zk_heap_mb,
                ..ZkOptions::default()
            })
            .await
            .map_err(|e| e.to_string())?;
            let (connect, pid) = (zk.connect_string(), zk.pid());
            (Some(zk), None, connect, pid, "real ZooKeeper 3.8.0")
        }
        "mini" => {
            let m = MiniProcess::start().await?;
            let (connect, pid) = (m.connect_string(), Some(m.pid()));
            (
                None,
                Some(m),
                connect,
                pid,
                "zk-server-mini (release binary)",
            )
        }
        other => return Err(format!("--server {other}: expected `real` or `mini`")),
    };
    println!(
        "# {server_name} at {connect} (pid {pid:?}, JAVA={}, -Xmx{zk_heap_mb}m); {ops} ops per phase, {rounds} rounds, \
         {latency_ops} closed-loop ops, {} B data",
        std::env::var("JAVA").unwrap_or_else(|_| "java".into()),
        data.len()
    );

    let ours = ZkClient::new(
        zk_client::Client::builder(&connect)
            .session_timeout(Duration::from_secs(30))
            .connect()
            .await
            .map_err(|e| format!("{OURS} connect: {e}"))?,
    );
    let theirs = Baseline {
        client: zkc::Client::connector()
            .with_session_timeout(Duration::from_secs(30))
            .connect(&connect)
            .await
            .map_err(|e| format!("{THEIRS} connect: {e}"))?,
        persistent: zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all()),
    };

    // Warm-up (JIT of the server, caches, connections); not recorded.
    for (name, phases) in [
        (
            OURS,
            round_pipelined(&ours, "w-ours", ops, 100, &data).await?,
        ),
        (
            THEIRS,
            round_pipelined(&theirs, "w-theirs", ops, 100, &data).await?,
        ),
    ] {
        println!("warm-up {name}: {}", summary(&phases));
    }

    let mut s = Samples::default();
    for round in 0..rounds {
        for &n in &IN_FLIGHT {
            // ABBA: alternate which client goes first.
            let order = if (round + n / 1000) % 2 == 0 {
                [OURS, THEIRS]
            } else {
                [THEIRS, OURS]
            };
            for name in order {
                let tag = format!("r{round}-n{n}-{}", if name == OURS { "a" } else { "b" });
                let phases = if name == OURS {
                    round_pipelined(&ours, &tag, ops, n, &data).await?
                } else {
                    round_pipelined(&theirs, &tag, ops, n, &data).await?
                };
                println!(
                    "round {round} in-flight {n:>4} {name:>16}: {}",
                    summary(&phases)
                );
                for (i, (ops_s, cpu)) in phases.iter().enumerate() {
                    s.ops_per_sec.entry((i, n, name)).or_default().push(*ops_s);
                    s.cpu_us.entry((i, n, name)).or_default().push(*cpu);
                }
            }
        }
        let order = if round % 2 == 0 {
            [OURS, THEIRS]
        } else {
            [THEIRS, OURS]
        };
        for name in order {
            let tag = format!("r{round}-lat-{}", if name == OURS { "a" } else { "b" });
            let phases = if name == OURS {
                round_closed_loop(&ours, &tag, latency_ops, &data).await?
            } else {
                round_closed_loop(&theirs, &tag, latency_ops, &data).await?
            };
            let mut line = String::new();
            for (i, (lat, cpu)) in phases.into_iter().enumerate() {
                let mut l = lat.clone();
                line += &format!(
                    " {} p50 {:.0}µs p99 {:.0}µs cpu {cpu:.1}µs/op;",
                    Op::ALL[i].name(),
                    us(percentile(&mut l, 50.0)),
                    us(percentile(&mut l, 99.0)),
                );
                s.latencies.entry((i, name)).or_default().extend(lat);
                s.latency_cpu_us.entry((i, name)).or_default().push(cpu);
            }
            println!("round {round} closed-loop {name:>16}:{line}");
        }
    }
    print_tables(&mut s, rounds);
    ours.client().close().await;
    drop(theirs);
    drop(mini);
    drop(real);
    Ok(())
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn summary(phases: &[(f64, f64)]) -> String {
    phases
        .iter()
        .zip(Op::ALL)
        .map(|((ops_s, cpu), op)| format!("{} {ops_s:>7.0}/s {cpu:>5.1}µs", op.name()))
        .collect::<Vec<_>>()
        .join(" | ")
}

async fn make_parent<C: ZkOps>(client: &C, parent: &str) -> Result<(), String> {
    client
        .create(parent, b"")
        .await
        .map_err(|e| format!("create {parent}: {e}"))
}

/// create, get, set, delete of `ops` children of a fresh parent; (ops/s, CPU µs/op) of each.
async fn round_pipelined<C: ZkOps>(
    client: &C,
    tag: &str,
    ops: usize,
    in_flight: usize,
    data: &[u8],
) -> Result<Vec<(f64, f64)>, String> {
    let parent = format!("/ccb-{tag}");
    make_parent(client, &parent).await?;
    let paths = child_paths(&parent, ops);
    let mut out = Vec::new();
    for op in Op::ALL {
        let phase = pipelined(client, op, &paths, data, in_flight).await;
        phase.verify(op, data.len(), &format!("{tag} {}", op.name()))?;
        out.push((phase.ops_per_sec(), phase.cpu_us_per_op()));
    }
    client.delete(&parent).await?;
    Ok(out)
}

/// Closed-loop create, get, set, delete; (latencies, CPU µs/op) of each.
async fn round_closed_loop<C: ZkOps>(
    client: &C,
    tag: &str,
    ops: usize,
    data: &[u8],
) -> Result<Vec<(Vec<Duration>, f64)>, String> {
    let parent = format!("/ccb-{tag}");
    make_parent(client, &parent).await?;
    let paths = child_paths(&parent, ops);
    let mut out = Vec::new();
    for op in Op::ALL {
        let phase = closed_loop(client, op, &paths, data).await;
        phase.verify(op, data.len(), &format!("{tag} {}", op.name()))?;
        let cpu = phase.cpu_us_per_op();
        out.push((phase.latencies, cpu));
    }
    client.delete(&parent).await?;
    Ok(out)
}

fn paired_ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        })
}

fn print_tables(s: &mut Samples, rounds: usize) {
    println!(
        "\n## Pipelined throughput and client CPU per op (medians of {rounds} rounds; \
         ratio = {OURS} / {THEIRS}; [min..max] of the per-round paired ratios)\n"
    );
    println!(
        "| op | in flight | {OURS} ops/s | {THEIRS} ops/s | throughput ratio | {OURS} CPU µs/op | {THEIRS} CPU µs/op | CPU ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &IN_FLIGHT {
        for (i, op) in Op::ALL.iter().enumerate() {
            let empty = Vec::new();
            let a = s.ops_per_sec.get(&(i, n, OURS)).unwrap_or(&empty);
            let b = s.ops_per_sec.get(&(i, n, THEIRS)).unwrap_or(&empty);
            let ca = s.cpu_us.get(&(i, n, OURS)).unwrap_or(&empty);
            let cb = s.cpu_us.get(&(i, n, THEIRS)).unwrap_or(&empty);
            let r = paired_ratios(a, b);
            let cr = paired_ratios(ca, cb);
            let (rlo, rhi) = range(&r);
            let (clo, chi) = range(&cr);
            println!(
                "| {} | {n} | {:.0} | {:.0} | **{:.2}×** [{rlo:.2}..{rhi:.2}] | {:.1} | {:.1} | **{:.2}** [{clo:.2}..{chi:.2}] |",
                op.name(),
                median(a),
                median(b),
                median(&r),
                median(ca),
                median(cb),
                median(&cr),
            );
        }
    }
    println!(
        "\n## Closed-loop latency (one request at a time; percentiles over all rounds' samples)\n"
    );
    println!(
        "| op | {OURS} p50 µs | {THEIRS} p50 µs | {OURS} p99 µs | {THEIRS} p99 µs | p50 ratio | {OURS} CPU µs/op | {THEIRS} CPU µs/op |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (i, op) in Op::ALL.iter().enumerate() {
        let mut get = |name| {
            let v = s.latencies.entry((i, name)).or_default();
            (us(percentile(v, 50.0)), us(percentile(v, 99.0)))
        };
        let (a50, a99) = get(OURS);
        let (b50, b99) = get(THEIRS);
        let empty = Vec::new();
        let ca = median(s.latency_cpu_us.get(&(i, OURS)).unwrap_or(&empty));
        let cb = median(s.latency_cpu_us.get(&(i, THEIRS)).unwrap_or(&empty));
        println!(
            "| {} | {a50:.0} | {b50:.0} | {a99:.0} | {b99:.0} | {:.2} | {ca:.1} | {cb:.1} |",
            op.name(),
            a50 / b50.max(1e-9),
        );
    }
}
