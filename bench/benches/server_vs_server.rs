//! Server vs server: the `zk-server-mini` release binary against the real Apache ZooKeeper 3.8.0
//! server, both child processes on this machine, fsync on for both, driven by `zk-client` in the
//! same run with the order alternating every round.
//!
//! ```text
//! cargo build --release -p zk-server-mini
//! cargo bench -p zk-bench --bench server_vs_server -- [--znodes 100000] [--rounds 3]
//!     [--in-flight 256] [--latency-ops 1000] [--data-len 32] [--zk-heap-mb 256] [--mini-only]
//! ```
//!
//! Per round and per server: pipelined create of `--znodes` nodes, get and set of each of them,
//! closed-loop get and set latency, closed-loop gets from a second session while the first
//! pipelines sets (read latency under write load); then the resident memory of both servers
//! while they hold the nodes; then pipelined delete. Server CPU time per operation comes from
//! `/proc/<pid>/stat`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use zk_bench::args::Args;
use zk_bench::mini::MiniProcess;
use zk_bench::ops::ZkClient;
use zk_bench::proc_status::{Memory, cpu_time, memory};
use zk_bench::stats::{median, percentile};
use zk_bench::workload::{Op, Phase, child_paths, closed_loop, pipelined, reads_during_writes};
use zk_integration_tests::{RealZk, ZkOptions};

const MINI: &str = "zk-server-mini";
const REAL: &str = "ZooKeeper 3.8.0";

/// One server under test and the client session driving it.
struct Target {
    name: &'static str,
    pid: u32,
    client: ZkClient,
    /// A second session, for reads while `client` writes.
    reader: ZkClient,
}

#[derive(Default)]
struct Samples {
    /// (phase, server) -> per-round values.
    ops_per_sec: BTreeMap<(&'static str, &'static str), Vec<f64>>,
    p99_us: BTreeMap<(&'static str, &'static str), Vec<f64>>,
    server_cpu_us: BTreeMap<(&'static str, &'static str), Vec<f64>>,
    /// (phase, server) -> closed-loop latencies of every round.
    closed: BTreeMap<(&'static str, &'static str), Vec<Duration>>,
    /// server -> latencies of gets from a second session during pipelined sets, every round.
    mixed: BTreeMap<&'static str, Vec<Duration>>,
    /// server -> memory with the nodes, per round.
    memory: BTreeMap<&'static str, Vec<Memory>>,
}

fn main() -> ExitCode {
    zk_bench::args::main_with("server_vs_server", run)
}

async fn connect(connect_string: &str) -> Result<ZkClient, String> {
    zk_client::Client::builder(connect_string)
        .session_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map(ZkClient::new)
        .map_err(|e| format!("connecting to {connect_string}: {e}"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn run(args: Args) -> Result<(), String> {
    let znodes: usize = args.get("znodes", 100_000)?;
    let rounds: usize = args.get("rounds", 3)?;
    let in_flight: usize = args.get("in-flight", 256)?;
    let latency_ops: usize = args.get("latency-ops", 1_000)?.min(znodes);
    let data = vec![b'x'; args.get("data-len", 32usize)?];
    // The harness's default JVM heap cap is 256 MB.
    let zk_heap_mb: u32 = args.get("zk-heap-mb", ZkOptions::default().heap_mb)?;

    if let Some(why) = RealZk::unavailable_reason() {
        return Err(format!("the reference server is needed: {why}"));
    }
    let mini = MiniProcess::start().await?;
    // `--mini-only`: drive only zk-server-mini (e.g. many rounds to watch its memory).
    let mini_only = args.has("mini-only");
    let real = if mini_only {
        None
    } else {
        Some(
            RealZk::start_standalone(ZkOptions {
                heap_mb: zk_heap_mb,
                ..ZkOptions::default()
            })
            .await
            .map_err(|e| e.to_string())?,
        )
    };
    println!(
        "# {MINI} at {} (pid {}); {znodes} znodes, {rounds} rounds, {in_flight} in flight, {} B data",
        mini.connect_string(),
        mini.pid(),
        data.len(),
    );
    let mut targets = vec![Target {
        name: MINI,
        pid: mini.pid(),
        client: connect(&mini.connect_string()).await?,
        reader: connect(&mini.connect_string()).await?,
    }];
    if let Some(real) = &real {
        let pid = real.pid().ok_or("the reference server has no pid")?;
        println!(
            "# {REAL} at {} (pid {pid}, JAVA={}, -Xmx{zk_heap_mb}m)",
            real.connect_string(),
            std::env::var("JAVA").unwrap_or_else(|_| "java".into()),
        );
        targets.push(Target {
            name: REAL,
            pid,
            client: connect(&real.connect_string()).await?,
            reader: connect(&real.connect_string()).await?,
        });
    }
    for t in &targets {
        if let Some(m) = memory(t.pid) {
            println!("idle {:>16}: RSS {:.1} MiB", t.name, mib(m.rss_kib));
        }
    }

    // Warm-up (the JVM's JIT, page cache, allocator); not recorded.
    let warm = znodes.min(20_000);
    for t in &targets {
        let paths = child_paths("/ssb-warm", warm);
        t.client.create_parent("/ssb-warm").await?;
        for op in Op::ALL {
            let phase = pipelined(&t.client, op, &paths, &data, in_flight).await;
            phase.verify(op, data.len(), &format!("{} warm-up {}", t.name, op.name()))?;
        }
        t.client.delete_node("/ssb-warm").await?;
    }

    let mut s = Samples::default();
    for round in 0..rounds {
        let order: Vec<&Target> = if round % 2 == 0 {
            targets.iter().collect()
        } else {
            targets.iter().rev().collect()
        };
        let parent = format!("/ssb-r{round}");
        let paths = child_paths(&parent, znodes);
        for t in &order {
            t.client.create_parent(&parent).await?;
        }
        for op in [Op::Create, Op::Get, Op::Set] {
            for t in &order {
                let phase = measured(t, op, &paths, &data, in_flight).await?;
                record(&mut s, op.name(), t, round, phase);
            }
        }
        for op in [Op::Get, Op::Set] {
            for t in &order {
                let mut phase = closed_loop(&t.client, op, &paths[..latency_ops], &data).await;
                phase.verify(
                    op,
                    data.len(),
                    &format!("{} closed-loop {}", t.name, op.name()),
                )?;
                println!(
                    "round {round} {:>16} closed-loop {:<6} p50 {:>6.0}µs p99 {:>6.0}µs",
                    t.name,
                    op.name(),
                    us(phase.latency(50.0)),
                    us(phase.latency(99.0)),
                );
                s.closed
                    .entry((op.name(), t.name))
                    .or_default()
                    .extend(phase.latencies);
            }
        }
        for t in &order {
            let (w, mut r) = reads_during_writes(
                &t.client,
                &t.reader,
                &paths,
                &paths[..latency_ops],
                &data,
                in_flight,
            )
            .await;
            w.verify(Op::Set, data.len(), &format!("{} sets under reads", t.name))?;
            r.verify(Op::Get, data.len(), &format!("{} reads under sets", t.name))?;
            let reads = r.ok;
            println!(
                "round {round} {:>16} gets during sets ({:.0} sets/s): {} gets, p50 {:>6.0}µs p99 {:>6.0}µs",
                t.name,
                w.ops_per_sec(),
                reads,
                us(r.latency(50.0)),
                us(r.latency(99.0)),
            );
            s.mixed.entry(t.name).or_default().extend(r.latencies);
        }
        for t in &targets {
            let m = memory(t.pid).ok_or(format!("{} (pid {}) is gone", t.name, t.pid))?;
            println!(
                "round {round} {:>16} with {znodes} znodes: RSS {:.1} MiB (peak {:.1} MiB)",
                t.name,
                mib(m.rss_kib),
                mib(m.hwm_kib)
            );
            s.memory.entry(t.name).or_default().push(m);
        }
        for t in &order {
            let phase = measured(t, Op::Delete, &paths, &data, in_flight).await?;
            record(&mut s, "delete", t, round, phase);
            t.client.delete_node(&parent).await?;
        }
        for t in &targets {
            if let Some(m) = memory(t.pid) {
                println!(
                    "round {round} {:>16} after deleting them: RSS {:.1} MiB",
                    t.name,
                    mib(m.rss_kib)
                );
            }
        }
    }
    print_tables(&mut s, rounds, znodes, in_flight);
    for t in &targets {
        t.client.client().close().await;
    }
    drop(mini);
    drop(real);
    Ok(())
}

/// A pipelined phase with the server's CPU time around it.
async fn measured(
    t: &Target,
    op: Op,
    paths: &[String],
    data: &[u8],
    in_flight: usize,
) -> Result<(Phase, f64), String> {
    let cpu0 = cpu_time(t.pid).unwrap_or_default();
    let phase = pipelined(&t.client, op, paths, data, in_flight).await;
    let cpu = cpu_time(t.pid).unwrap_or_default().saturating_sub(cpu0);
    phase.verify(op, data.len(), &format!("{} {}", t.name, op.name()))?;
    let server_us = cpu.as_secs_f64() * 1e6 / phase.ok.max(1) as f64;
    Ok((phase, server_us))
}

fn record(
    s: &mut Samples,
    phase_name: &'static str,
    t: &Target,
    round: usize,
    (mut phase, server_us): (Phase, f64),
) {
    let p99 = us(phase.latency(99.0));
    println!(
        "round {round} {:>16} {phase_name:<6} {:>8.0} ops/s  p50 {:>6.0}µs p99 {:>6.0}µs  \
         server CPU {server_us:>5.1}µs/op",
        t.name,
        phase.ops_per_sec(),
        us(phase.latency(50.0)),
        p99,
    );
    let key = (phase_name, t.name);
    s.ops_per_sec
        .entry(key)
        .or_default()
        .push(phase.ops_per_sec());
    s.p99_us.entry(key).or_default().push(p99);
    s.server_cpu_us.entry(key).or_default().push(server_us);
}

fn print_tables(s: &mut Samples, rounds: usize, znodes: usize, in_flight: usize) {
    if !s.memory.contains_key(REAL) {
        println!("\n(only {MINI} was driven: no comparison tables)");
        return;
    }
    let empty = Vec::new();
    println!(
        "\n## Pipelined, {in_flight} in flight, {znodes} znodes (medians of {rounds} rounds; \
         ratio = {MINI} / {REAL}, [min..max] of per-round ratios)\n"
    );
    println!(
        "| op | {MINI} ops/s | {REAL} ops/s | throughput ratio | {MINI} p99 ms | {REAL} p99 ms | {MINI} server CPU µs/op | {REAL} server CPU µs/op |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for op in ["create", "get", "set", "delete"] {
        let get =
            |m: &BTreeMap<(&str, &str), Vec<f64>>, who| m.get(&(op, who)).unwrap_or(&empty).clone();
        let (a, b) = (get(&s.ops_per_sec, MINI), get(&s.ops_per_sec, REAL));
        let ratios: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x / y).collect();
        let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "| {op} | {:.0} | {:.0} | **{:.2}×** [{lo:.2}..{hi:.2}] | {:.1} | {:.1} | {:.1} | {:.1} |",
            median(&a),
            median(&b),
            median(&ratios),
            median(&get(&s.p99_us, MINI)) / 1000.0,
            median(&get(&s.p99_us, REAL)) / 1000.0,
            median(&get(&s.server_cpu_us, MINI)),
            median(&get(&s.server_cpu_us, REAL)),
        );
    }
    println!("\n## Closed-loop latency (one request at a time, all rounds' samples)\n");
    println!("| op | {MINI} p50 µs | {REAL} p50 µs | {MINI} p99 µs | {REAL} p99 µs |");
    println!("|---|---:|---:|---:|---:|");
    for op in ["get", "set"] {
        let mut p = |who, q| us(percentile(s.closed.entry((op, who)).or_default(), q));
        let row = [p(MINI, 50.0), p(REAL, 50.0), p(MINI, 99.0), p(REAL, 99.0)];
        println!(
            "| {op} | {:.0} | {:.0} | {:.0} | {:.0} |",
            row[0], row[1], row[2], row[3]
        );
    }
    {
        let mut p = |who, q| us(percentile(s.mixed.entry(who).or_default(), q));
        let row = [p(MINI, 50.0), p(REAL, 50.0), p(MINI, 99.0), p(REAL, 99.0)];
        println!(
            "| get from a 2nd session during pipelined sets | {:.0} | {:.0} | {:.0} | {:.0} |",
            row[0], row[1], row[2], row[3]
        );
    }
    println!("\n## Resident memory with {znodes} znodes (VmRSS; per round)\n");
    println!("| server | VmRSS MiB per round | VmHWM MiB (last round) |");
    println!("|---|---|---:|");
    let mut medians = Vec::new();
    for who in [MINI, REAL] {
        let ms = s.memory.get(who).cloned().unwrap_or_default();
        let rss: Vec<f64> = ms.iter().map(|m| mib(m.rss_kib)).collect();
        medians.push(median(&rss));
        println!(
            "| {who} | {} | {:.1} |",
            rss.iter()
                .map(|r| format!("{r:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            ms.last().map_or(0.0, |m| mib(m.hwm_kib)),
        );
    }
    let first = |who| {
        s.memory
            .get(who)
            .and_then(|m| m.first())
            .map(|m| m.rss_kib as f64)
    };
    if let ([a, b], Some(fa), Some(fb)) = (&medians[..], first(MINI), first(REAL)) {
        println!(
            "\nmemory ratio {MINI} / {REAL}: first fill (round 0) {:.3}, median of rounds {:.3}",
            fa / fb.max(1.0),
            a / b.max(1e-9)
        );
    }
}
