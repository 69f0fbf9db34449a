//! The partitioning recipe against kazoo's `SetPartitioner`, same real ZooKeeper 3.8.0, same run:
//! 100 units, 4 members, then a join (4 → 5), a graceful leave of two (5 → 3), and a crash
//! (3 → 2). For each change: how many units moved, the total and the longest time a unit had no
//! owner, and the time until every unit was owned again by the new membership.
//!
//! Ours runs in-process (one client and session per member; the crashed member is cut off
//! through a proxy, so its session expires as a killed process's would). kazoo runs one Python
//! process per member (`bench/python/setpartitioner_member.py`; the crash is a SIGKILL).
//!
//! `cargo bench -p zk-bench --bench partition_vs_setpartitioner -- [--units N]
//!  [--session-ms N] [--time-boundary-ms N]`

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use zk_client::Client;
use zk_integration_tests::clients::{kazoo, workspace_root};
use zk_integration_tests::{RealZk, TcpProxy, ZkOptions};
use zk_recipes::partition::{PartitionEvent, Partitioner, PartitionerOptions, Units};

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Who owns what, over time: (unix_ns, member, unit, owned).
#[derive(Default)]
struct Ownership {
    events: Vec<(u128, String, String, bool)>,
}

impl Ownership {
    fn record(&mut self, member: &str, unit: &str, owned: bool) {
        self.events
            .push((now_ns(), member.to_owned(), unit.to_owned(), owned));
    }

    /// unit → owners, after every event up to `at`.
    fn owners_at(&self, at: u128) -> BTreeMap<String, BTreeSet<String>> {
        let mut owners: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (t, member, unit, owned) in &self.events {
            if *t > at {
                break;
            }
            let set = owners.entry(unit.clone()).or_default();
            if *owned {
                set.insert(member.clone());
            } else {
                set.remove(member);
            }
        }
        owners
    }

    /// Whether every unit has exactly one owner, and the owners are exactly `members` (every
    /// member has work, nobody else has any).
    fn converged(&self, units: usize, members: &BTreeSet<String>) -> bool {
        let owners = self.owners_at(u128::MAX);
        let holders: BTreeSet<&String> = owners.values().flatten().collect();
        owners.values().filter(|o| o.len() == 1).count() == units
            && owners.values().all(|o| o.len() <= 1)
            && holders.len() == members.len()
            && holders.iter().all(|m| members.contains(*m))
    }

    /// Unit-milliseconds without an owner in [from, to], and the longest single gap.
    fn unowned(&self, units: &[String], from: u128, to: u128) -> (f64, f64) {
        let mut total = 0.0;
        let mut longest: f64 = 0.0;
        for unit in units {
            let mut owners: BTreeSet<String> =
                self.owners_at(from).get(unit).cloned().unwrap_or_default();
            let mut gap_start = owners.is_empty().then_some(from);
            for (t, member, u, owned) in &self.events {
                if *t <= from || *t > to || u != unit {
                    continue;
                }
                if *owned {
                    owners.insert(member.clone());
                } else {
                    owners.remove(member);
                }
                match (owners.is_empty(), gap_start) {
                    (true, None) => gap_start = Some(*t),
                    (false, Some(s)) => {
                        let gap = (*t - s) as f64 / 1e6;
                        total += gap;
                        longest = longest.max(gap);
                        gap_start = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = gap_start {
                let gap = (to - s) as f64 / 1e6;
                total += gap;
                longest = longest.max(gap);
            }
        }
        (total, longest)
    }
}

struct Change {
    name: &'static str,
    moved: usize,
    unowned_total_ms: f64,
    unowned_longest_ms: f64,
    converge_ms: f64,
}

type Shared = Arc<Mutex<Ownership>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Ownership> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits until the membership `members` owns every unit; measures the change from `t0`.
async fn measure(
    name: &'static str,
    shared: &Shared,
    units: &[String],
    members: &BTreeSet<String>,
    t0: u128,
    started: Instant,
) -> Change {
    let before = lock(shared).owners_at(t0);
    let deadline = started + Duration::from_secs(120);
    while !lock(shared).converged(units.len(), members) {
        assert!(Instant::now() < deadline, "{name}: never converged");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let converge_ms = started.elapsed().as_secs_f64() * 1e3;
    let t1 = now_ns();
    // Let stragglers settle before the next change is measured.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let own = lock(shared);
    let after = own.owners_at(t1);
    if std::env::var_os("BENCH_DEBUG").is_some() {
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for o in after.values().flatten() {
            *count.entry(o.clone()).or_default() += 1;
        }
        let mut count_before: BTreeMap<String, usize> = BTreeMap::new();
        for o in before.values().flatten() {
            *count_before.entry(o.clone()).or_default() += 1;
        }
        eprintln!("{name}: before {count_before:?} after {count:?}");
    }
    let moved = units
        .iter()
        .filter(|u| before.get(*u) != after.get(*u))
        .count();
    let (unowned_total_ms, unowned_longest_ms) = own.unowned(units, t0, t1);
    Change {
        name,
        moved,
        unowned_total_ms,
        unowned_longest_ms,
        converge_ms,
    }
}

// ---- ours ------------------------------------------------------------------------------------

struct OurMember {
    partitioner: Partitioner,
    client: Client,
    _proxy: Option<TcpProxy>,
}

async fn our_member(
    server: &str,
    id: &str,
    units: &[String],
    session: Duration,
    shared: &Shared,
    proxy: Option<TcpProxy>,
) -> OurMember {
    let connect = proxy
        .as_ref()
        .map_or_else(|| server.to_owned(), TcpProxy::connect_string);
    let client = Client::builder(&connect)
        .session_timeout(session)
        .connect()
        .await
        .expect("connect");
    let partitioner = Partitioner::start(
        client.clone(),
        "/bench/partition/ours",
        PartitionerOptions::new(id, Units::fixed(units.iter().cloned())),
    )
    .await
    .expect("start partitioner");
    let mut events = partitioner.events();
    let acker = partitioner.clone();
    let shared = shared.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                PartitionEvent::Assigned { unit, .. } => lock(&shared).record(&id, &unit, true),
                PartitionEvent::Revoking { unit, .. } => {
                    lock(&shared).record(&id, &unit, false);
                    acker.ack_revoked(&unit);
                }
                PartitionEvent::Revoked { unit, .. } => lock(&shared).record(&id, &unit, false),
            }
        }
    });
    OurMember {
        partitioner,
        client,
        _proxy: proxy,
    }
}

async fn run_ours(server: &str, units: &[String], session: Duration) -> Vec<Change> {
    let shared: Shared = Arc::default();
    let mut members: BTreeMap<String, OurMember> = BTreeMap::new();
    let upstream: std::net::SocketAddr = server.parse().expect("server address");
    let started = Instant::now();
    let t0 = now_ns();
    for i in 0..4 {
        let id = format!("m{i}");
        let proxy = if i == 0 {
            Some(TcpProxy::start(upstream).await.expect("proxy"))
        } else {
            None
        };
        let m = our_member(server, &id, units, session, &shared, proxy).await;
        members.insert(id, m);
    }
    let ids = |m: &BTreeMap<String, OurMember>| m.keys().cloned().collect::<BTreeSet<_>>();
    let mut changes = vec![
        measure(
            "start (0 -> 4)",
            &shared,
            units,
            &ids(&members),
            t0,
            started,
        )
        .await,
    ];

    let (t0, started) = (now_ns(), Instant::now());
    let m = our_member(server, "m4", units, session, &shared, None).await;
    members.insert("m4".into(), m);
    changes.push(measure("join (4 -> 5)", &shared, units, &ids(&members), t0, started).await);

    let (t0, started) = (now_ns(), Instant::now());
    let leaving: Vec<OurMember> = ["m1", "m2"]
        .iter()
        .filter_map(|id| members.remove(*id))
        .collect();
    let remaining = ids(&members);
    let drains = leaving
        .iter()
        .map(|m| m.partitioner.shutdown(Duration::from_secs(30)));
    let measured = measure(
        "graceful leave (5 -> 3)",
        &shared,
        units,
        &remaining,
        t0,
        started,
    );
    let (_, change) = tokio::join!(futures::future::join_all(drains), measured);
    changes.push(change);
    for m in leaving {
        m.client.close().await;
    }

    // The crash: m0's connection is cut for good, so its session expires on the server.
    let (t0, started) = (now_ns(), Instant::now());
    let crashed = members.remove("m0").expect("m0");
    if let Some(proxy) = &crashed._proxy {
        proxy.block_new();
        proxy.drop_connections().await;
    }
    changes.push(
        measure(
            "crash (3 -> 2)",
            &shared,
            units,
            &ids(&members),
            t0,
            started,
        )
        .await,
    );
    drop(crashed);
    for (_, m) in members {
        let _ = m.partitioner.shutdown(Duration::from_secs(10)).await;
        m.client.close().await;
    }
    changes
}

// ---- kazoo SetPartitioner --------------------------------------------------------------------

fn kazoo_member(
    python: &std::path::Path,
    server: &str,
    id: &str,
    units: usize,
    boundary: Duration,
    session: Duration,
    shared: &Shared,
) -> Child {
    let script = workspace_root().join("bench/python/setpartitioner_member.py");
    let mut child = Command::new(python)
        .arg(script)
        .args([server, "/bench/partition/kazoo", id])
        .arg(units.to_string())
        .arg(boundary.as_secs_f64().to_string())
        .arg(session.as_secs_f64().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start python");
    let stdout = child.stdout.take().expect("piped");
    let shared = shared.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut mine: Vec<String> = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let fields: Vec<&str> = line.split(' ').collect();
            let mut own = lock(&shared);
            match fields.first() {
                Some(&"ACQUIRED") => {
                    mine = fields
                        .get(3)
                        .map(|s| {
                            s.split(',')
                                .filter(|u| !u.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default();
                    for unit in &mine {
                        own.record(&id, unit, true);
                    }
                }
                Some(_) => {
                    for unit in mine.drain(..) {
                        own.record(&id, &unit, false);
                    }
                }
                None => {}
            }
        }
        let mut own = lock(&shared);
        for unit in mine.drain(..) {
            own.record(&id, &unit, false);
        }
    });
    child
}

async fn run_kazoo(
    python: &std::path::Path,
    server: &str,
    units: &[String],
    boundary: Duration,
    session: Duration,
) -> Vec<Change> {
    let shared: Shared = Arc::default();
    let n = units.len();
    let mut members: BTreeMap<String, Child> = BTreeMap::new();
    let ids = |m: &BTreeMap<String, Child>| m.keys().cloned().collect::<BTreeSet<_>>();
    let (t0, started) = (now_ns(), Instant::now());
    for i in 0..4 {
        let id = format!("k{i}");
        let child = kazoo_member(python, server, &id, n, boundary, session, &shared);
        members.insert(id, child);
    }
    let mut changes = vec![
        measure(
            "start (0 -> 4)",
            &shared,
            units,
            &ids(&members),
            t0,
            started,
        )
        .await,
    ];

    let (t0, started) = (now_ns(), Instant::now());
    let child = kazoo_member(python, server, "k4", n, boundary, session, &shared);
    members.insert("k4".into(), child);
    changes.push(measure("join (4 -> 5)", &shared, units, &ids(&members), t0, started).await);

    let (t0, started) = (now_ns(), Instant::now());
    let mut leaving: Vec<Child> = ["k1", "k2"]
        .iter()
        .filter_map(|id| members.remove(*id))
        .collect();
    for child in &leaving {
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    changes.push(
        measure(
            "graceful leave (5 -> 3)",
            &shared,
            units,
            &ids(&members),
            t0,
            started,
        )
        .await,
    );
    for child in &mut leaving {
        let _ = child.wait().await;
    }

    let (t0, started) = (now_ns(), Instant::now());
    let mut crashed = members.remove("k0").expect("k0");
    let _ = crashed.start_kill();
    let _ = crashed.wait().await;
    changes.push(
        measure(
            "crash (3 -> 2)",
            &shared,
            units,
            &ids(&members),
            t0,
            started,
        )
        .await,
    );
    for (_, mut child) in members {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    changes
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = arg("--units", 100) as usize;
    let session = Duration::from_millis(arg("--session-ms", 4000));
    let boundary = Duration::from_millis(arg("--time-boundary-ms", 1000));
    let python = match kazoo() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("kazoo is required: {e}");
            std::process::exit(2);
        }
    };
    let zk = RealZk::start_standalone(
        ZkOptions::default()
            .tick_time(200)
            .session_timeouts(400, 60_000),
    )
    .await
    .expect("start ZooKeeper 3.8.0");
    let server = zk.addr().to_string();
    let units: Vec<String> = (0..n).map(|i| format!("u{i:03}")).collect();
    println!(
        "partitioning, {n} units, session timeout {session:?}, SetPartitioner time_boundary {boundary:?}, real ZooKeeper 3.8.0 at {server}"
    );
    let ours = run_ours(&server, &units, session).await;
    let theirs = run_kazoo(&python, &server, &units, boundary, session).await;
    println!(
        "| change | moved: ours | moved: SetPartitioner | unit-ms unowned: ours | unit-ms unowned: SetPartitioner | longest unowned ms: ours / SetPartitioner | converged ms: ours / SetPartitioner |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (a, b) in ours.iter().zip(&theirs) {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} / {:.0} | {:.0} / {:.0} |",
            a.name,
            a.moved,
            b.moved,
            a.unowned_total_ms,
            b.unowned_total_ms,
            a.unowned_longest_ms,
            b.unowned_longest_ms,
            a.converge_ms,
            b.converge_ms
        );
    }
    drop(zk); // stops the server by pid
}
