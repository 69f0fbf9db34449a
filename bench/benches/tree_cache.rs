//! Tree cache: `zk_recipes::cache::TreeCache` against Curator's `CuratorCache` (Java, Debian's
//! Curator 5.4) and kazoo's `TreeCache` (Python), each in its own process, on the same real
//! ZooKeeper 3.8.0 server in the same run.
//!
//! ```text
//! cargo bench -p zk-bench --bench tree_cache -- [--nodes 10000] [--writes 300] [--rounds 3]
//! ```
//!
//! - **Initial snapshot**: the server holds `--nodes` nodes under `/bench` (100 children per
//!   parent). Each cache process measures, with its own monotonic clock, the time from starting
//!   its cache (connected already) to its "initialized" callback. The three are started one
//!   after the other (never loading at the same time), in a rotating order, once per round.
//! - **Write to event**: with all three caches running, this process sets the data of a random
//!   cached node `--writes` times, one at a time; for each write it waits until every cache has
//!   printed its CHANGED event. Latency = the wall-clock time (Unix ns, same machine) printed by
//!   the cache's listener minus the time just before the write was sent.
//!
//! The Rust cache runs as a child process of this binary (`--child-rust`), like the others.
//! Curator's JVM runs with the full JIT (no `-XX:TieredStopAtLevel=1`) and `-Xmx256m`.

use std::collections::HashMap;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use zk_bench::args::Args;
use zk_bench::stats::{median, percentile};
use zk_client::{Client, CreateOptions};
use zk_integration_tests::clients::{kazoo, workspace_root};
use zk_integration_tests::java::JavaProgram;
use zk_integration_tests::{RealZk, ZkOptions};
use zk_recipes::cache::{CacheEvent, TreeCache};

const ROOT: &str = "/bench";
const IMPLS: [&str; 3] = ["zk-recipes", "Curator", "kazoo"];

fn main() -> ExitCode {
    zk_bench::args::main_with("tree_cache", run)
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The Rust cache process: same output as the Java and Python ones.
async fn child(hosts: &str) -> Result<(), String> {
    let client = Client::builder(hosts)
        .session_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let cache = TreeCache::with_capacity(&client, ROOT, 100_000)
        .await
        .map_err(|e| e.to_string())?;
    println!("INIT_MS {} {}", start.elapsed().as_millis(), cache.len());
    let mut events = cache.events();
    while let Some(event) = events.next().await {
        let (kind, path) = match &event {
            CacheEvent::Created { path, .. } => ("CREATED", path),
            CacheEvent::Changed { path, .. } => ("CHANGED", path),
            CacheEvent::Deleted { path, .. } => ("DELETED", path),
            _ => continue,
        };
        println!("EVENT {kind} {path} {}", unix_ns());
    }
    Ok(())
}

/// A cache process and its output lines.
struct CacheProcess {
    name: &'static str,
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl CacheProcess {
    fn spawn(name: &'static str, mut command: Command) -> Result<Self, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(CacheProcess { name, child, lines })
    }

    /// The next line starting with `prefix` (other lines skipped), within `limit`.
    async fn expect(&mut self, prefix: &str, limit: Duration) -> Result<String, String> {
        let until = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(until, self.lines.recv()).await {
                Ok(Some(line)) if line.starts_with(prefix) => return Ok(line),
                Ok(Some(_)) => {}
                Ok(None) => return Err(format!("{} exited", self.name)),
                Err(_) => return Err(format!("{}: no {prefix} line within {limit:?}", self.name)),
            }
        }
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

struct Programs {
    java: JavaProgram,
    python: std::path::PathBuf,
}

fn command(name: &str, programs: &Programs, hosts: &str) -> Result<Command, String> {
    Ok(match name {
        "zk-recipes" => {
            let mut c = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
            c.args(["--child-rust", "--hosts", hosts]);
            c
        }
        "Curator" => {
            let mut c = Command::new("java");
            c.args([
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-cp",
                programs.java.classpath(),
            ])
            .args(["CacheCurator", hosts, ROOT]);
            c
        }
        _ => {
            let mut c = Command::new(&programs.python);
            c.arg(workspace_root().join("bench/python/kazoo_tree_cache.py"))
                .args([hosts, ROOT]);
            c
        }
    })
}

async fn populate(client: &Client, nodes: usize) -> Result<(), String> {
    client
        .create(ROOT, b"", &CreateOptions::persistent())
        .await
        .map_err(|e| e.to_string())?;
    let parents = nodes.div_ceil(100);
    let mut paths: Vec<String> = (0..parents).map(|p| format!("{ROOT}/p{p:03}")).collect();
    paths.extend(
        (0..nodes.saturating_sub(parents + 1))
            .map(|i| format!("{ROOT}/p{:03}/c{:05}", i % parents, i)),
    );
    // Parents first, then children, pipelined.
    let (first, rest) = paths.split_at(parents);
    let options = CreateOptions::persistent();
    for batch in [first, rest] {
        let results: Vec<_> = futures::stream::iter(batch.iter())
            .map(|p| client.create(p, b"0123456789abcdef", &options))
            .buffer_unordered(256)
            .collect()
            .await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            return Err(format!("populate: {e}"));
        }
    }
    Ok(())
}

async fn run(args: Args) -> Result<(), String> {
    if args.has("child-rust") {
        return child(&args.get("hosts", String::new())?).await;
    }
    let nodes: usize = args.get("nodes", 10_000)?;
    let writes: usize = args.get("writes", 300)?;
    let rounds: usize = args.get("rounds", 3)?;
    let warmup = 30;
    let programs = Programs {
        java: JavaProgram::compile_curator(&["CacheCurator.java"])?,
        python: kazoo()?,
    };
    let zk = RealZk::start_standalone(ZkOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let hosts = zk.connect_string();
    let client = Client::connect(&hosts).await.map_err(|e| e.to_string())?;
    populate(&client, nodes).await?;
    let all: Vec<String> = {
        let mut v = vec![ROOT.to_owned()];
        for p in client.get_children(ROOT).await.map_err(|e| e.to_string())? {
            let parent = format!("{ROOT}/{p}");
            for c in client
                .get_children(&parent)
                .await
                .map_err(|e| e.to_string())?
            {
                v.push(format!("{parent}/{c}"));
            }
            v.push(parent);
        }
        v
    };
    println!(
        "tree_cache: {} nodes under {ROOT} on ZooKeeper 3.8.0, {rounds} round(s)",
        all.len()
    );

    let mut init_ms: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut latency: HashMap<&str, Vec<Duration>> = HashMap::new();
    for round in 0..rounds {
        let mut running = Vec::new();
        for k in 0..IMPLS.len() {
            let name = IMPLS[(k + round) % IMPLS.len()];
            let mut p = CacheProcess::spawn(name, command(name, &programs, &hosts)?)?;
            let line = p.expect("INIT_MS ", Duration::from_secs(300)).await?;
            let fields: Vec<&str> = line.split(' ').collect();
            let ms: f64 = fields
                .get(1)
                .and_then(|v| v.parse().ok())
                .ok_or("bad INIT_MS")?;
            let count: usize = fields
                .get(2)
                .and_then(|v| v.parse().ok())
                .ok_or("bad INIT_MS")?;
            if count != all.len() {
                return Err(format!(
                    "{name} cached {count} nodes, the server has {}",
                    all.len()
                ));
            }
            println!("round {round}: {name:<10} initial snapshot {ms:>7.0} ms");
            init_ms.entry(name).or_default().push(ms);
            running.push(p);
        }
        for i in 0..warmup + writes {
            let path = &all[(i * 7919 + round * 104_729) % all.len()];
            let sent = unix_ns();
            client
                .set_data(path, format!("w{round}-{i}"), None)
                .await
                .map_err(|e| e.to_string())?;
            for p in running.iter_mut() {
                let want = format!("EVENT CHANGED {path} ");
                let line = p.expect(&want, Duration::from_secs(30)).await?;
                let at: u128 = line[want.len()..].parse().map_err(|_| "bad EVENT line")?;
                if i >= warmup {
                    let ns = u64::try_from(at.saturating_sub(sent)).unwrap_or(u64::MAX);
                    latency
                        .entry(p.name)
                        .or_default()
                        .push(Duration::from_nanos(ns));
                }
            }
        }
        for p in running {
            p.stop().await;
        }
    }
    client.close().await;
    drop(zk);

    println!();
    println!(
        "{:<11} {:>12} {:>14} {:>14} {:>14}",
        "cache", "snapshot ms", "event p50 us", "event p99 us", "vs zk-recipes"
    );
    let base_init = median(&init_ms["zk-recipes"]);
    let base_p50 = percentile(latency.get_mut("zk-recipes").ok_or("no samples")?, 50.0);
    for name in IMPLS {
        let init = median(&init_ms[name]);
        let samples = latency.get_mut(name).ok_or("no samples")?;
        let p50 = percentile(samples, 50.0);
        let p99 = percentile(samples, 99.0);
        println!(
            "{name:<11} {init:>12.0} {:>14.0} {:>14.0}   snapshot x{:.2}, event p50 x{:.2}",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            init / base_init,
            p50.as_secs_f64() / base_p50.as_secs_f64()
        );
    }
    Ok(())
}
