//! Real processes, real clients, checked histories: a 3-member ensemble of the
//! `zk-server-mini` binary while concurrent `zk-client` sessions do reads, writes and
//! compare-and-set (setData with a version) on a few registers and create nodes (spread over
//! every member, each serving its clients' reads itself: the checked reads are sync() then
//! read, plain reads must only never go back), and members
//! are killed (SIGKILL), restarted, paused (SIGSTOP/SIGCONT) and partitioned. Each register's history must
//! be linearizable (`zk_integration_tests::linearizability`). Then the whole ensemble is
//! killed with SIGKILL and restarted: every acknowledged create is there, and the registers'
//! final values, read after the restart, extend the histories linearizably (no acknowledged
//! write lost).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zk_client::{Client, CreateOptions, Error};
use zk_integration_tests::linearizability::{Op, Outcome, Record, check};
use zk_integration_tests::mini::mini_binary;
use zk_server_mini::cluster::TestCluster;

const KEYS: usize = 6;
const CLIENTS: usize = 4;
const OPS_PER_KEY: usize = 110;
const WAIT: Duration = Duration::from_secs(60);

type History = Arc<Mutex<BTreeMap<usize, Vec<Record>>>>;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn key(k: usize) -> String {
    format!("/r{k}")
}

fn parse(data: &[u8]) -> u64 {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Whether an error leaves the operation's effect unknown.
fn unknown(e: &Error) -> bool {
    !matches!(e, Error::BadVersion | Error::NoNode | Error::NodeExists)
}

async fn client_loop(
    id: usize,
    connect: String,
    start: Instant,
    stop_at: Instant,
    history: History,
    acked_creates: Arc<Mutex<Vec<String>>>,
) {
    let now = || start.elapsed().as_nanos() as u64;
    let Ok(c) = Client::builder(&connect)
        .session_timeout(Duration::from_secs(20))
        .connect()
        .await
    else {
        panic!("client {id} cannot connect");
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1));
    let mut last_version: BTreeMap<usize, i32> = BTreeMap::new();
    let mut n = 0u64;
    while Instant::now() < stop_at {
        n += 1;
        let k = (rng.next() % KEYS as u64) as usize;
        if history.lock().expect("lock").get(&k).map_or(0, Vec::len) >= OPS_PER_KEY {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let value = (id as u64 + 1) * 1_000_000 + n;
        let choice = rng.next() % 10;
        let invoked = now();
        let limit = Duration::from_secs(5);
        let (op, outcome) = if choice < 4 {
            // Reads are served by the member the client is connected to. A sync() then a
            // read is linearizable (recorded for the checker); a plain read is only
            // sequentially consistent, as in ZooKeeper: it never goes back before what this
            // client saw or wrote, whichever member serves it.
            let synced = choice < 2;
            let r = tokio::time::timeout(limit, async {
                if synced {
                    c.sync(&key(k)).await?;
                }
                c.get_data(&key(k)).await
            })
            .await;
            match r {
                Ok(Ok((data, stat))) => {
                    let seen = last_version.get(&k).copied().unwrap_or(0);
                    assert!(
                        stat.version >= seen,
                        "client {id} read version {} of {} after seeing {seen}",
                        stat.version,
                        key(k)
                    );
                    last_version.insert(k, stat.version);
                    if !synced {
                        continue;
                    }
                    (Op::Read, Outcome::Value(parse(&data), stat.version))
                }
                // A failed read has no effect: not recorded.
                _ => continue,
            }
        } else if choice == 9 {
            let path = format!("/c-{id}-{n}");
            let r = tokio::time::timeout(limit, c.create(&path, b"", &CreateOptions::persistent()))
                .await;
            if let Ok(Ok(_)) = r {
                acked_creates.lock().expect("lock").push(path);
            }
            continue;
        } else {
            let expected = if choice < 7 {
                Some(last_version.get(&k).copied().unwrap_or(0))
            } else {
                None
            };
            let op = match expected {
                Some(expected) => Op::Cas { value, expected },
                None => Op::Write(value),
            };
            let r =
                tokio::time::timeout(limit, c.set_data(&key(k), value.to_string(), expected)).await;
            let outcome = match r {
                Ok(Ok(stat)) => {
                    last_version.insert(k, stat.version);
                    Outcome::Version(stat.version)
                }
                Ok(Err(Error::BadVersion)) => Outcome::BadVersion,
                Ok(Err(e)) if !unknown(&e) => panic!("unexpected {e}"),
                _ => Outcome::Unknown,
            };
            (op, outcome)
        };
        let returned = (outcome != Outcome::Unknown).then(now);
        history
            .lock()
            .expect("lock")
            .entry(k)
            .or_default()
            .push(Record {
                op,
                invoked,
                returned,
                outcome,
            });
    }
    c.close().await;
}

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_registers_stay_linearizable_through_kills_pauses_and_a_full_restart() {
    let test = async {
        let mut cluster = TestCluster::builder(3)
            .tick_ms(100)
            .processes(mini_binary())
            .start()
            .await
            .expect("start the ensemble");
        cluster.leader(WAIT).await.expect("a leader");
        let connect = cluster.connect_string();
        let setup = Client::builder(&connect).connect().await.expect("connect");
        for k in 0..KEYS {
            setup
                .create(&key(k), b"0", &CreateOptions::persistent())
                .await
                .expect("create a register");
        }
        setup.close().await;

        let start = Instant::now();
        let stop_at = start + Duration::from_secs(14);
        let history: History = Arc::default();
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let mut clients = Vec::new();
        for id in 0..CLIENTS {
            clients.push(tokio::spawn(client_loop(
                id,
                connect.clone(),
                start,
                stop_at,
                history.clone(),
                acked.clone(),
            )));
        }
        // Faults, one at a time (a 3-member ensemble tolerates one).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let leader = cluster.leader(WAIT).await.expect("a leader");
        cluster.kill(leader).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.restart(leader).await.expect("restart");
        let leader = cluster.leader(WAIT).await.expect("a leader");
        let follower = cluster
            .ids()
            .into_iter()
            .find(|i| *i != leader)
            .expect("a follower");
        signal(cluster.pid(follower).expect("pid"), "-STOP");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        signal(cluster.pid(follower).expect("pid"), "-CONT");
        let leader = cluster.leader(WAIT).await.expect("a leader");
        signal(cluster.pid(leader).expect("pid"), "-STOP");
        tokio::time::sleep(Duration::from_secs(2)).await;
        signal(cluster.pid(leader).expect("pid"), "-CONT");
        let leader = cluster.leader(WAIT).await.expect("a leader");
        cluster.partition(&[leader], true).await;
        // The child takes the partition from its fault-control file: the others elect anew.
        let deadline = Instant::now() + WAIT;
        'elected: loop {
            for id in cluster.ids().into_iter().filter(|i| *i != leader) {
                if cluster.mode(id).await.as_deref() == Some("leader") {
                    break 'elected;
                }
            }
            assert!(Instant::now() < deadline, "the partition did not take");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        cluster.heal();
        for c in clients {
            c.await.expect("client task");
        }

        // The whole ensemble dies at once, and comes back on its data.
        for id in cluster.ids() {
            cluster.kill(id).await;
        }
        for id in cluster.ids() {
            cluster
                .restart(id)
                .await
                .expect("restart after a full kill");
        }
        cluster
            .leader(WAIT)
            .await
            .expect("a leader after the full restart");
        let reader = Client::builder(&connect).connect().await.expect("connect");
        let after = start.elapsed().as_nanos() as u64;
        let mut history = history.lock().expect("lock").clone();
        for k in 0..KEYS {
            // Whichever member serves the reader, sync() makes its read current.
            reader.sync(&key(k)).await.expect("sync a register");
            let (data, stat) = reader.get_data(&key(k)).await.expect("read a register");
            history.entry(k).or_default().push(Record {
                op: Op::Read,
                invoked: after,
                returned: Some(after + 1),
                outcome: Outcome::Value(parse(&data), stat.version),
            });
        }
        let acked = acked.lock().expect("lock").clone();
        for path in &acked {
            assert!(
                reader.exists(path).await.expect("exists").is_some(),
                "acknowledged create {path} lost"
            );
        }
        reader.close().await;
        let total: usize = history.values().map(Vec::len).sum();
        let writes = history
            .values()
            .flatten()
            .filter(|r| matches!(r.outcome, Outcome::Version(_)))
            .count();
        eprintln!(
            "history: {total} operations, {writes} acknowledged writes, {} acknowledged creates",
            acked.len()
        );
        assert!(
            writes > 20,
            "too few writes got through to test anything: {writes}"
        );
        for (k, h) in &history {
            if let Err(e) = check(h, (0, 0)) {
                panic!("register {k}: {e}");
            }
        }
        cluster.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(240), test)
        .await
        .expect("test timed out");
}

/// The same workload on an in-process ensemble (partitions are in-process only): the leader
/// is cut off from its peers and its clients, then a follower, then the leader is frozen.
/// An isolated leader must stop answering before a new one takes writes (its lease), or its
/// reads would be stale and the histories not linearizable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_registers_stay_linearizable_through_partitions() {
    let test = async {
        let mut cluster = TestCluster::builder(3)
            .tick_ms(50)
            .start()
            .await
            .expect("start the ensemble");
        cluster.leader(WAIT).await.expect("a leader");
        let connect = cluster.connect_string();
        let setup = Client::builder(&connect).connect().await.expect("connect");
        for k in 0..KEYS {
            setup
                .create(&key(k), b"0", &CreateOptions::persistent())
                .await
                .expect("create a register");
        }
        setup.close().await;
        let start = Instant::now();
        let stop_at = start + Duration::from_secs(12);
        let history: History = Arc::default();
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let mut clients = Vec::new();
        for id in 0..CLIENTS {
            clients.push(tokio::spawn(client_loop(
                id,
                connect.clone(),
                start,
                stop_at,
                history.clone(),
                acked.clone(),
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let leader = cluster.leader(WAIT).await.expect("a leader");
        cluster.partition(&[leader], true).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.heal();
        let leader = cluster.leader(WAIT).await.expect("a leader");
        let follower = cluster
            .ids()
            .into_iter()
            .find(|i| *i != leader)
            .expect("a follower");
        cluster.partition(&[follower], true).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.heal();
        let leader = cluster.leader(WAIT).await.expect("a leader");
        cluster.pause(leader);
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.resume(leader);
        for c in clients {
            c.await.expect("client task");
        }
        cluster.leader(WAIT).await.expect("a leader after healing");
        let reader = Client::builder(&connect).connect().await.expect("connect");
        let after = start.elapsed().as_nanos() as u64;
        let mut history = history.lock().expect("lock").clone();
        for k in 0..KEYS {
            // Whichever member serves the reader, sync() makes its read current.
            reader.sync(&key(k)).await.expect("sync a register");
            let (data, stat) = reader.get_data(&key(k)).await.expect("read a register");
            history.entry(k).or_default().push(Record {
                op: Op::Read,
                invoked: after,
                returned: Some(after + 1),
                outcome: Outcome::Value(parse(&data), stat.version),
            });
        }
        let acked = acked.lock().expect("lock").clone();
        for path in &acked {
            assert!(
                reader.exists(path).await.expect("exists").is_some(),
                "acknowledged create {path} lost"
            );
        }
        reader.close().await;
        let writes = history
            .values()
            .flatten()
            .filter(|r| matches!(r.outcome, Outcome::Version(_)))
            .count();
        let reads = history
            .values()
            .flatten()
            .filter(|r| matches!(r.outcome, Outcome::Value(..)))
            .count();
        eprintln!("partitions: {reads} reads, {writes} acknowledged writes");
        assert!(
            writes > 20,
            "too few writes got through to test anything: {writes}"
        );
        for (k, h) in &history {
            if let Err(e) = check(h, (0, 0)) {
                panic!("register {k}: {e}");
            }
        }
        cluster.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(180), test)
        .await
        .expect("test timed out");
}
