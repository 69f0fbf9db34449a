//! Recipes benchmark: `zk-recipes` against Curator 5.4 (Java) and kazoo (Python), on the same
//! real ZooKeeper 3.8.0 in the same run. See bench/README.md ("Recipes vs Curator and kazoo").
//!
//! Measures, for each library: uncontended mutex acquire+release per second; handoff latency
//! (p50, p99) from one holder's release to the next holder's acquire with 10 waiters; leader
//! failover after a graceful close (p50, p99). Also the server's read round trip and create
//! latency (a write, one fsync) as the yardstick for "2 round trips plus one fsync".

use std::process::{ExitCode, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;
use zk_bench::args::{Args, main_with};
use zk_bench::stats::{median, percentile};
use zk_client::{Client, CreateOptions};
use zk_integration_tests::java::JavaProgram;
use zk_integration_tests::{RealZk, ZkOptions};
use zk_recipes::{CloseMode, LeaderLatch, LeaderLatchOptions, Mutex, MutexOptions};

fn main() -> ExitCode {
    main_with("recipes_vs_peers", run)
}

struct Row {
    library: &'static str,
    ops_per_sec: f64,
    handoff: (f64, f64),
    failover: (f64, f64),
}

async fn run(args: Args) -> Result<(), String> {
    let ops: usize = args.get("ops", 1000)?;
    let handoffs: usize = args.get("handoffs", 330)?;
    let failovers: usize = args.get("failovers", 30)?;
    let zk = RealZk::start_standalone(ZkOptions::default().tick_time(200))
        .await
        .map_err(|e| e.to_string())?;
    let server = zk.connect_string();
    let (read_rtt, write_lat) = yardstick(&server).await?;
    println!(
        "server: read round trip p50 {read_rtt:.0} us, create (write + fsync) p50 {write_lat:.0} us"
    );

    let rounds: usize = args.get("rounds", 3)?;
    let workers: usize = args.get("rust-workers", 0)?;
    let mut bars = Vec::new();
    let peers = !args.has("rust-only");
    let java = if peers {
        Some(JavaProgram::compile_curator(&["RecipeBench.java"])?)
    } else {
        None
    };
    let python = if peers {
        Some(zk_integration_tests::clients::kazoo()?)
    } else {
        None
    };
    let script =
        zk_integration_tests::clients::workspace_root().join("tests/python/recipe_bench.py");
    // Rounds interleave the libraries, so that a change of machine load hits all of them;
    // each figure is the median over the rounds.
    let mut samples: Vec<Vec<Row>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds {
        let tag = |lib: &str, what: &str| format!("/bench/{lib}/{what}{round}");
        // The yardstick in every round, beside the handoffs it judges.
        let (rtt, write) = yardstick(&server).await?;
        bars.push(2.0 * rtt + write);
        samples[0].push(Row {
            library: "zk-recipes",
            ops_per_sec: rust_uncontended(&server, &tag("rust", "u"), ops).await?,
            handoff: rust_handoff_on(workers, &server, &tag("rust", "h"), handoffs).await?,
            failover: rust_failover(&server, &tag("rust", "f"), failovers).await?,
        });
        if let Some(java) = &java {
            let curator = |mode: &str, path: String, n: usize| {
                let mut c = java.command("RecipeBench");
                c.args([server.as_str(), mode, &path, &n.to_string()]);
                c
            };
            samples[1].push(Row {
                library: "Curator 5.4",
                ops_per_sec: peer(curator("uncontended", tag("curator", "u"), ops)).await?[0],
                handoff: pair(peer(curator("handoff", tag("curator", "h"), handoffs)).await?),
                failover: pair(peer(curator("failover", tag("curator", "f"), failovers)).await?),
            });
        }
        if let Some(python) = &python {
            let kazoo = |mode: &str, path: String, n: usize| {
                let mut c = tokio::process::Command::new(python);
                c.arg(&script)
                    .args([server.as_str(), mode, &path, &n.to_string()]);
                c
            };
            samples[2].push(Row {
                library: "kazoo",
                ops_per_sec: peer(kazoo("uncontended", tag("kazoo", "u"), ops)).await?[0],
                handoff: pair(peer(kazoo("handoff", tag("kazoo", "h"), handoffs)).await?),
                failover: pair(peer(kazoo("failover", tag("kazoo", "f"), failovers)).await?),
            });
        }
    }
    for s in samples.iter().filter(|s| !s.is_empty()) {
        let per_round: Vec<String> = s
            .iter()
            .map(|r| {
                format!(
                    "{:.0}/s {:.0}us {:.0}us",
                    r.ops_per_sec, r.handoff.0, r.failover.0
                )
            })
            .collect();
        println!(
            "{} per round (throughput, handoff p50, failover p50): {}",
            s[0].library,
            per_round.join(" | ")
        );
    }
    let rows: Vec<Row> = samples
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| {
            let m = |f: &dyn Fn(&Row) -> f64| median(&s.iter().map(f).collect::<Vec<_>>());
            Row {
                library: s[0].library,
                ops_per_sec: m(&|r| r.ops_per_sec),
                handoff: (m(&|r| r.handoff.0), m(&|r| r.handoff.1)),
                failover: (m(&|r| r.failover.0), m(&|r| r.failover.1)),
            }
        })
        .collect();
    println!("medians over {rounds} interleaved rounds");
    // Again on the warm server (the first yardstick ran on a server that had just started).
    let (read_rtt, write_lat) = yardstick(&server).await?;
    println!(
        "server after the rounds: read round trip p50 {read_rtt:.0} us, create (write + fsync) p50 {write_lat:.0} us"
    );
    println!();
    println!(
        "| library | uncontended acquire+release /s | handoff p50 / p99 (us) | failover p50 / p99 (us) |"
    );
    println!("|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.0} / {:.0} | {:.0} / {:.0} |",
            r.library, r.ops_per_sec, r.handoff.0, r.handoff.1, r.failover.0, r.failover.1
        );
    }
    let ours = &rows[0];
    println!();
    for r in rows.iter().skip(1) {
        println!(
            "zk-recipes / {}: throughput x{:.2}, handoff p50 x{:.2}, failover p50 x{:.2} (latency ratios < 1 mean faster)",
            r.library,
            ours.ops_per_sec / r.ops_per_sec,
            ours.handoff.0 / r.handoff.0,
            ours.failover.0 / r.failover.0
        );
    }
    println!(
        "handoff p50 {:.0} us vs 2 read round trips + 1 write {:.0} us (after the rounds)",
        ours.handoff.0,
        2.0 * read_rtt + write_lat
    );
    let per_round: Vec<String> = bars.iter().map(|b| format!("{b:.0}us")).collect();
    let mut sorted = bars.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "2 read round trips + 1 write, measured in each round: {} (median {:.0} us)",
        per_round.join(" "),
        sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
    );
    drop(zk);
    Ok(())
}

fn pair(v: Vec<f64>) -> (f64, f64) {
    (
        v.first().copied().unwrap_or(f64::NAN),
        v.get(1).copied().unwrap_or(f64::NAN),
    )
}

/// Runs a peer program, returns the values of its `RESULT <name> <value>` lines in order.
async fn peer(mut command: tokio::process::Command) -> Result<Vec<f64>, String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| format!("spawn peer: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut values = Vec::new();
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            let f: Vec<&str> = line.split(' ').collect();
            if f.first() == Some(&"RESULT") {
                let v = f
                    .get(2)
                    .and_then(|v| v.parse().ok())
                    .ok_or(format!("bad line {line:?}"))?;
                values.push(v);
            }
        }
        Ok::<_, String>(())
    };
    tokio::time::timeout(Duration::from_secs(600), read)
        .await
        .map_err(|_| "peer took longer than 10 minutes".to_owned())??;
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if !status.success() || values.is_empty() {
        return Err(format!("peer failed: {status}"));
    }
    Ok(values)
}

async fn connect(server: &str) -> Result<Client, String> {
    Client::builder(server)
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| e.to_string())
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// p50 of a read round trip and of a create (a write: one fsync on the server).
async fn yardstick(server: &str) -> Result<(f64, f64), String> {
    let client = connect(server).await?;
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        client.exists("/").await.map_err(|e| e.to_string())?;
        reads.push(t.elapsed());
        let path = format!("/yardstick-{i}");
        let t = Instant::now();
        client
            .create(&path, b"", &CreateOptions::persistent())
            .await
            .map_err(|e| e.to_string())?;
        writes.push(t.elapsed());
        client
            .delete(&path, None)
            .await
            .map_err(|e| e.to_string())?;
    }
    client.close().await;
    Ok((
        us(percentile(&mut reads, 50.0)),
        us(percentile(&mut writes, 50.0)),
    ))
}

async fn rust_uncontended(server: &str, path: &str, n: usize) -> Result<f64, String> {
    let client = connect(server).await?;
    let mutex =
        Mutex::new(client.clone(), path, MutexOptions::default()).map_err(|e| e.to_string())?;
    for _ in 0..50 {
        mutex
            .acquire()
            .await
            .map_err(|e| e.to_string())?
            .release()
            .await
            .map_err(|e| e.to_string())?;
    }
    let t = Instant::now();
    for _ in 0..n {
        mutex
            .acquire()
            .await
            .map_err(|e| e.to_string())?
            .release()
            .await
            .map_err(|e| e.to_string())?;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    client.close().await;
    Ok(rate)
}

/// [`rust_handoff`] on this runtime (`workers` 0) or on a runtime of its own with that many
/// worker threads (as the JVM's clients each have their own threads).
async fn rust_handoff_on(
    workers: usize,
    server: &str,
    path: &str,
    n: usize,
) -> Result<(f64, f64), String> {
    if workers == 0 {
        return rust_handoff(server, path, n).await;
    }
    let (server, path) = (server.to_owned(), path.to_owned());
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let out = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(rust_handoff(&server, &path, n)));
        let _ = tx.send(out);
    });
    rx.await.map_err(|_| "handoff thread died".to_owned())?
}

/// 11 sessions take one mutex `n` times in total; gaps from a release's start to the next
/// acquire's return.
async fn rust_handoff(server: &str, path: &str, n: usize) -> Result<(f64, f64), String> {
    let contenders = 11;
    let per = (n / contenders).max(1);
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(Instant, bool)>::new()));
    let mut clients = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..contenders {
        let client = connect(server).await?;
        let mutex =
            Mutex::new(client.clone(), path, MutexOptions::default()).map_err(|e| e.to_string())?;
        clients.push(client);
        let events = events.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                let guard = mutex.acquire().await.map_err(|e| e.to_string())?;
                if let Ok(mut ev) = events.lock() {
                    ev.push((Instant::now(), true));
                    ev.push((Instant::now(), false));
                }
                guard.release().await.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let mut ev = events.lock().map_err(|e| e.to_string())?.clone();
    ev.sort_by_key(|e| e.0);
    let mut gaps: Vec<Duration> = ev
        .windows(2)
        .filter(|w| !w[0].1 && w[1].1)
        .map(|w| w[1].0 - w[0].0)
        .collect();
    for c in clients {
        c.close().await;
    }
    Ok((
        us(percentile(&mut gaps, 50.0)),
        us(percentile(&mut gaps, 99.0)),
    ))
}

/// `n` times: the leader closes its latch; the queued one takes over.
async fn rust_failover(server: &str, path: &str, n: usize) -> Result<(f64, f64), String> {
    let a = connect(server).await?;
    let b = connect(server).await?;
    let mut gaps = Vec::new();
    for _ in 0..n {
        let first = LeaderLatch::start(a.clone(), path, LeaderLatchOptions::default().id("a"))
            .map_err(|e| e.to_string())?;
        first
            .await_leadership(Some(Duration::from_secs(30)))
            .await
            .map_err(|e| e.to_string())?;
        let second = LeaderLatch::start(b.clone(), path, LeaderLatchOptions::default().id("b"))
            .map_err(|e| e.to_string())?;
        while second
            .participants()
            .await
            .map_err(|e| e.to_string())?
            .len()
            < 2
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let t = Instant::now();
        first.close(CloseMode::Silent).await;
        second
            .await_leadership(Some(Duration::from_secs(30)))
            .await
            .map_err(|e| e.to_string())?;
        gaps.push(t.elapsed());
        second.close(CloseMode::Silent).await;
    }
    a.close().await;
    b.close().await;
    Ok((
        us(percentile(&mut gaps, 50.0)),
        us(percentile(&mut gaps, 99.0)),
    ))
}
