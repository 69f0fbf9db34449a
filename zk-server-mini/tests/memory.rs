//! Memory is bounded by bytes: the server runs as a child process with small byte budgets, is
//! attacked, and its peak resident memory (`VmHWM` in `/proc/<pid>/status`) is compared with a
//! bound derived from those budgets, while another client keeps being served.
//!
//! - Slow readers: connections pipeline thousands of 1 MB reads and never read a reply.
//! - An oversized multiRead: thousands of 1 MB getData in one small request.
//! - A watch flood: one connection registers watches on long paths.
//! - Large writes piling up in front of a slow log (every log write takes 200 ms).
//!
//! The bounds are generous (tens of MiB of slack for the allocator and the runtime) and never
//! depend on timing; without the byte accounting each attack takes hundreds of MiB.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{bounded, connect, create, get};
use zk_proto::multi::{MultiOp, MultiRequest};
use zk_proto::{ExistsRequest, GetDataRequest, Request};
use zk_server_mini::testing::RawClient;

const MIB: u64 = 1 << 20;
/// `mini.maxConnectionBytes` of the server under test.
const CONN_BUDGET: u64 = 2 * MIB;
/// `mini.maxServerBytes`.
const SERVER_BUDGET: u64 = 16 * MIB;
/// `mini.maxWatchBytesPerConnection`.
const WATCH_BUDGET: u64 = 4 * MIB;
/// The largest reply (1 MiB of data and its headers).
const MAX_REPLY: u64 = MIB + 1024;
/// Room for the allocator, the runtime and buffers that are not data.
const SLACK: u64 = 64 * MIB;
/// The node's data: just under the 1 MiB limit.
const BIG: usize = 1_000_000;

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `(VmRSS, VmHWM)` of the server process, in bytes.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_else(|e| panic!("{e}"));
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
                .unwrap_or_else(|| panic!("no {name} in {status}"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// The highest peak seen over a few samples (the attack may still be running).
    async fn peak(&self) -> u64 {
        let mut peak = 0;
        for _ in 0..10 {
            peak = peak.max(self.memory().1);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Starts the binary with the small budgets above and every log write taking at least
/// `log_delay_ms` (a slow disk; 0 for none).
async fn spawn_with_log_delay(dir: &Path, log_delay_ms: u64) -> Server {
    let port = free_port();
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             maxClientCnxns=0\nmini.maxConnectionBytes={CONN_BUDGET}\n\
             mini.maxServerBytes={SERVER_BUDGET}\nmini.maxWatchBytesPerConnection={WATCH_BUDGET}\n",
            dir.join("data").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(env!("CARGO_BIN_EXE_zk-server-mini"))
        .env("ZK_MINI_FAULT_LOG_DELAY_MS", log_delay_ms.to_string())
        .arg("--config")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the server: {e}"));
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "server did not start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server { child, addr }
}

/// Starts a server holding `/big` (1 MB) and returns it with a client and the resident
/// memory after that setup.
async fn setup(dir: &Path) -> (Server, RawClient, u64) {
    setup_with_log_delay(dir, 0).await
}

/// [`setup`] on a server whose log writes take at least `log_delay_ms`.
async fn setup_with_log_delay(dir: &Path, log_delay_ms: u64) -> (Server, RawClient, u64) {
    let server = spawn_with_log_delay(dir, log_delay_ms).await;
    let mut good = connect(server.addr).await;
    let (h, _) = good
        .call(&create("/big".into(), &vec![7u8; BIG]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(h.err.is_ok());
    assert_eq!(get(&mut good, "/big").await.map(|d| d.len()), Some(BIG));
    let base = server.memory().0;
    (server, good, base)
}

/// The other client is served: writes and 1 MB reads succeed.
async fn served(good: &mut RawClient, round: usize) {
    for i in 0..10 {
        let (h, _) = good
            .call(&create(format!("/ok-{round}-{i}"), b"fine"))
            .await
            .unwrap_or_else(|e| panic!("round {round}: the other client was not served: {e}"));
        assert!(h.err.is_ok(), "{:?}", h.err);
        assert_eq!(get(good, "/big").await.map(|d| d.len()), Some(BIG));
    }
}

fn get_big() -> Request {
    Request::GetData(GetDataRequest {
        path: "/big".into(),
        watch: false,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_their_replies_cannot_grow_the_server() {
    bounded(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (server, mut good, base) = setup(dir.path()).await;
        const ATTACKERS: u64 = 12;
        // Each pipelines 3000 reads of the 1 MB node (3 GB of replies) and reads nothing.
        let mut attack = tokio::task::JoinSet::new();
        for _ in 0..ATTACKERS {
            let mut c = connect(server.addr).await;
            attack.spawn(async move {
                for xid in 1..=3000 {
                    if c.send(xid, &get_big()).await.is_err() {
                        break;
                    }
                }
                // Hold the connection open, reading nothing, until the test ends.
                std::future::pending::<()>().await;
            });
        }
        for round in 0..3 {
            served(&mut good, round).await;
        }
        let peak = server.peak().await;
        let bound = base + SERVER_BUDGET + ATTACKERS * (CONN_BUDGET + 2 * MAX_REPLY) + SLACK;
        eprintln!(
            "slow readers: base {} MiB, peak {} MiB, bound {} MiB",
            base / MIB,
            peak / MIB,
            bound / MIB
        );
        assert!(
            peak <= bound,
            "peak RSS {} MiB over the bound {} MiB",
            peak / MIB,
            bound / MIB
        );
        served(&mut good, 3).await;
        attack.abort_all();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_read_larger_than_a_frame_closes_the_connection_without_building_it() {
    bounded(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (server, mut good, base) = setup(dir.path()).await;
        // 2500 reads of 1 MB in a request of about 40 kB: a 2.5 GB reply, past i32::MAX.
        let ops = (0..2500)
            .map(|_| {
                MultiOp::GetData(GetDataRequest {
                    path: "/big".into(),
                    watch: false,
                })
            })
            .collect();
        let mut attacker = connect(server.addr).await;
        attacker
            .send(1, &Request::MultiRead(MultiRequest { ops }))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // The connection is closed (the client sees a connection loss and can retry
        // smaller), never left waiting for a reply that will not come.
        let frame = tokio::time::timeout(Duration::from_secs(30), attacker.read_frame())
            .await
            .unwrap_or_else(|_| panic!("the connection was left hanging"));
        assert!(
            matches!(frame, Ok(None) | Err(_)),
            "expected the connection to close, got a frame: {frame:?}"
        );
        served(&mut good, 0).await;
        let peak = server.peak().await;
        let bound = base + CONN_BUDGET + 2 * MAX_REPLY + SLACK;
        eprintln!(
            "multiRead: base {} MiB, peak {} MiB, bound {} MiB",
            base / MIB,
            peak / MIB,
            bound / MIB
        );
        assert!(peak <= bound, "peak RSS {} MiB", peak / MIB);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_flood_is_cut_off_at_the_connections_watch_limit() {
    bounded(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (server, mut good, base) = setup(dir.path()).await;
        // 2000 exists-watches on distinct 64 kB paths that do not exist: 128 MB to remember.
        let mut attacker = connect(server.addr).await;
        let long = "x".repeat(64 * 1024);
        let flood = tokio::spawn(async move {
            for i in 0..2000 {
                let req = Request::Exists(ExistsRequest {
                    path: format!("/{long}{i}"),
                    watch: true,
                });
                if attacker.send(i + 1, &req).await.is_err() {
                    break;
                }
            }
            // The server closes the connection once the limit is passed.
            loop {
                match attacker.read_frame().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return true,
                    Err(e) if !e.to_string().contains("timed out") => return true,
                    Err(e) => panic!("the server neither answered nor closed: {e}"),
                }
            }
        });
        let closed = tokio::time::timeout(Duration::from_secs(60), flood)
            .await
            .unwrap_or_else(|_| panic!("the watch flood was never cut off"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(closed);
        served(&mut good, 0).await;
        let peak = server.peak().await;
        let bound = base + WATCH_BUDGET + CONN_BUDGET + 2 * MAX_REPLY + SLACK;
        eprintln!(
            "watch flood: base {} MiB, peak {} MiB, bound {} MiB",
            base / MIB,
            peak / MIB,
            bound / MIB
        );
        assert!(peak <= bound, "peak RSS {} MiB", peak / MIB);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_writes_piling_up_behind_a_slow_log_are_bounded() {
    bounded(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // Every log write takes 200 ms: writes queue up in front of the log.
        let (server, mut good, base) = setup_with_log_delay(dir.path(), 200).await;
        const WRITERS: u64 = 6;
        // Each pipelines 150 writes of 1 MB (900 MB in all) and never reads a reply.
        let mut attack = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            let mut c = connect(server.addr).await;
            attack.spawn(async move {
                let data = bytes::Bytes::from(vec![w as u8; BIG]);
                for xid in 1..=150 {
                    let set = Request::SetData(zk_proto::SetDataRequest {
                        path: "/big".into(),
                        data: Some(data.clone()),
                        version: -1,
                    });
                    if c.send(xid, &set).await.is_err() {
                        break;
                    }
                }
                std::future::pending::<()>().await;
            });
        }
        // The other client keeps being served, slow log and all.
        for i in 0..5 {
            let (h, _) = good
                .call(&create(format!("/during-{i}"), b"fine"))
                .await
                .unwrap_or_else(|e| panic!("the other client was not served: {e}"));
            assert!(h.err.is_ok(), "{:?}", h.err);
        }
        let peak = server.peak().await;
        // Requests are charged at twice their size: a connection holds at most its budget
        // plus one request, the server its budget plus one request per connection.
        let bound = base + SERVER_BUDGET + WRITERS * (CONN_BUDGET + 3 * MAX_REPLY) + SLACK;
        eprintln!(
            "slow log: base {} MiB, peak {} MiB, bound {} MiB",
            base / MIB,
            peak / MIB,
            bound / MIB
        );
        assert!(
            peak <= bound,
            "peak RSS {} MiB over the bound {} MiB",
            peak / MIB,
            bound / MIB
        );
        attack.abort_all();
    })
    .await;
}
