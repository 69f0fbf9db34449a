//! Durability: acknowledged writes survive `kill -9`, torn log tails are cut off, snapshots and
//! log replay agree. The binary runs as a child process and is killed by pid.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{bounded, connect, create, get, must_create};
use zk_proto::acl::Acl;
use zk_proto::{CreateRequest, Request, SetDataRequest};
use zk_server_mini::MiniServer;
use zk_server_mini::testing::RawClient;

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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

async fn spawn(dir: &Path, port: u16) -> Server {
    spawn_with(dir, port, 300, None).await
}

/// Starts the binary on `dir/data` with `snapCount` and, optionally, snapshot writes slowed
/// down by fault injection.
async fn spawn_with(
    dir: &Path,
    port: u16,
    snap_count: u64,
    snapshot_delay: Option<Duration>,
) -> Server {
    let cfg = write_config(
        dir,
        port,
        &format!("snapCount={snap_count}\nmaxClientCnxns=0\n"),
    );
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = std::fs::File::create(dir.join(format!("server-{n}.log")))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zk-server-mini"));
    if let Some(d) = snapshot_delay {
        cmd.env("ZK_MINI_FAULT_SNAPSHOT_DELAY_MS", d.as_millis().to_string());
    }
    let child = cmd
        .arg("--config")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the server: {e}"));
    Server {
        child,
        addr: wait_until_listening(port).await,
    }
}

/// Writes `dir/zoo.cfg` for a server on 127.0.0.1:`port` with its data in `dir/data`, plus
/// `settings` (lines of `key=value\n`).
fn write_config(dir: &Path, port: u16, settings: &str) -> PathBuf {
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n{settings}",
            dir.join("data").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    cfg
}

/// Waits (20 s at most) until a server accepts connections on 127.0.0.1:`port`.
async fn wait_until_listening(port: u16) -> SocketAddr {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "server did not start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    addr
}

/// The child's exit status once it has exited, or `None` if it still runs after `timeout`.
async fn exited_within(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    bounded(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let mut acked: Vec<(String, u32)> = Vec::new();
        for round in 0..3u32 {
            let server = spawn(dir.path(), port).await;
            let mut c = connect(server.addr).await;
            // Everything acknowledged in earlier rounds is there.
            for (path, v) in &acked {
                assert_eq!(
                    get(&mut c, path).await,
                    Some(v.to_be_bytes().to_vec()),
                    "round {round}: {path} lost after kill -9"
                );
            }
            // Pipeline writes and kill the server while replies are in flight.
            let mut sent = Vec::new();
            for i in 0..400u32 {
                let path = format!("/r{round}-{i}");
                c.send(1000 + i as i32, &create(path.clone(), &i.to_be_bytes()))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                sent.push((path, i));
            }
            // Read about half of the replies, then kill.
            for (path, v) in sent.iter().take(200) {
                let (h, _) = c.read_reply().await.unwrap_or_else(|e| panic!("{e}"));
                assert!(h.err.is_ok(), "{path}: {:?}", h.err);
                acked.push((path.clone(), *v));
            }
            drop(server); // SIGKILL by pid, then reap.
        }
        let server = spawn(dir.path(), port).await;
        let mut c = connect(server.addr).await;
        for (path, v) in &acked {
            assert_eq!(
                get(&mut c, path).await,
                Some(v.to_be_bytes().to_vec()),
                "{path}"
            );
        }
        // A snapshot was taken along the way (snapCount=300).
        let snaps =
            zk_server_mini::snapshot::list_snapshots(&dir.path().join("data")).unwrap_or_default();
        assert!(!snaps.is_empty(), "no snapshot was written");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_log_tail_is_truncated_not_applied() {
    bounded(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let server = spawn(dir.path(), port).await;
        let mut c = connect(server.addr).await;
        let (h, _) = c
            .call(&create("/kept".into(), b"yes"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(h.err.is_ok());
        drop(c);
        drop(server);
        // Append half a record (a plausible header, a short body) and some garbage.
        let data = dir.path().join("data");
        let logs = zk_server_mini::wal::list_logs(&data).unwrap_or_default();
        let (_, last) = logs.last().unwrap_or_else(|| panic!("no log file"));
        let mut bytes = std::fs::read(last).unwrap_or_default();
        let good_len = bytes.len();
        bytes.extend_from_slice(&[0, 0, 0, 40, 1, 2, 3, 4, 9, 9, 9]);
        std::fs::write(last, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let server = spawn(dir.path(), port).await;
        let mut c = connect(server.addr).await;
        assert_eq!(get(&mut c, "/kept").await, Some(b"yes".to_vec()));
        // The log was cut back to its last good record.
        assert_eq!(
            std::fs::metadata(last)
                .map(|m| m.len() as usize)
                .unwrap_or(0),
            good_len
        );
        // And the server keeps working on top of it.
        let set = Request::SetData(SetDataRequest {
            path: "/kept".into(),
            data: Some(bytes::Bytes::from_static(b"again")),
            version: -1,
        });
        assert!(
            c.call(&set)
                .await
                .map(|(h, _)| h.err.is_ok())
                .unwrap_or(false)
        );
    })
    .await;
}

#[tokio::test]
async fn snapshot_plus_replay_equals_the_live_tree() {
    bounded(Duration::from_secs(60), snapshot_plus_replay()).await;
}

async fn snapshot_plus_replay() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = MiniServer::builder()
        .data_dir(dir.path())
        .snap_count(7)
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut c = connect(server.addr()).await;
    for i in 0..30 {
        let (h, _) = c
            .call(&create(format!("/n{i}"), b"v"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(h.err.is_ok());
    }
    drop(c);
    // Snapshots are written and pruned in the background; stopping waits for them.
    server.stop().await;
    let before = zk_server_mini::snapshot::list_snapshots(dir.path()).unwrap_or_default();
    assert!(before.len() >= 2, "expected snapshots, got {before:?}");
    assert!(before.len() <= 3, "old snapshots are pruned: {before:?}");
    let server = MiniServer::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut c = connect(server.addr()).await;
    for i in 0..30 {
        assert_eq!(get(&mut c, &format!("/n{i}")).await, Some(b"v".to_vec()));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_and_expire_if_their_clients_do_not_return() {
    bounded(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let server = MiniServer::builder()
            .data_dir(dir.path())
            .tick_ms(100)
            .session_timeouts(400, 10_000)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut a = RawClient::connect(server.addr(), 3_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut b = RawClient::connect(server.addr(), 400)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let eph = |path: &str| {
            Request::Create(CreateRequest {
                path: path.into(),
                data: None,
                acl: Acl::open_unsafe(),
                flags: 1,
            })
        };
        let (h, _) = a.call(&eph("/ea")).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(h.err.is_ok());
        let last_zxid = h.zxid;
        assert!(
            b.call(&eph("/eb"))
                .await
                .map(|(h, _)| h.err.is_ok())
                .unwrap_or(false)
        );
        let server = server.restart().await.unwrap_or_else(|e| panic!("{e}"));
        // a comes back with its session, password and last zxid.
        let mut req = zk_proto::ConnectRequest::new_session(3_000);
        req.session_id = a.session.session_id;
        req.passwd = a.session.passwd.clone();
        req.last_zxid_seen = last_zxid;
        let (mut a2, resp) = RawClient::connect_with(server.addr(), req)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.session_id, a.session.session_id);
        assert_eq!(get(&mut a2, "/ea").await, Some(vec![]));
        // b never returns: its session expires and takes /eb with it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(&mut a2, "/eb").await.is_some() {
            assert!(
                Instant::now() < deadline,
                "b's session did not expire after the restart"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = a2.call(&Request::Ping).await;
        }
        assert_eq!(get(&mut a2, "/ea").await, Some(vec![]));
        assert_eq!(server.sessions().await, vec![a.session.session_id]);
        // Fault injection: expire a on request.
        assert!(server.expire_session(a.session.session_id).await);
        assert!(a2.closed_within(Duration::from_secs(5)).await);
        let mut c = RawClient::connect(server.addr(), 3_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(get(&mut c, "/ea").await, None);
        assert_eq!(server.drop_connections(None).await, 1);
        assert!(c.closed_within(Duration::from_secs(5)).await);
        server.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_stop_the_binary_cleanly() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut server = spawn(dir.path(), free_port()).await;
        let mut c = connect(server.addr).await;
        assert!(
            c.call(&create("/x".into(), b"1"))
                .await
                .map(|(h, _)| h.err.is_ok())
                .unwrap_or(false)
        );
        let pid = Pid::from_raw(server.child.id() as i32);
        kill(pid, signal).unwrap_or_else(|e| panic!("{e}"));
        let Some(status) = exited_within(&mut server.child, Duration::from_secs(10)).await else {
            panic!("{signal:?} did not stop the server");
        };
        assert!(status.success(), "{signal:?}: exit status {status}");
        assert!(c.closed_within(Duration::from_secs(5)).await);
    }
}

#[test]
fn the_binary_refuses_bad_ensembles_and_bad_flags() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("zoo.cfg");
    let twice = "dataDir=/tmp/x\nserver.1=127.0.0.1:2888:3888\nserver.1=127.0.0.1:2889:3889\n";
    std::fs::write(&cfg, twice).unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = run_briefly(&[std::ffi::OsStr::new("--config"), cfg.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("member 1 is listed twice"), "{err}");
    // A myid that is not among the members.
    std::fs::write(dir.path().join("myid"), "9\n").unwrap_or_else(|e| panic!("{e}"));
    let listed = format!(
        "dataDir={}\nclientPort=0\nserver.1=127.0.0.1:1:2\nserver.2=127.0.0.1:3:4\n",
        dir.path().display()
    );
    std::fs::write(&cfg, listed).unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = run_briefly(&[std::ffi::OsStr::new("--config"), cfg.as_os_str()]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("myid 9 is not among the server.N lines"),
        "{err}"
    );
    let (code, err) = run_briefly(&[std::ffi::OsStr::new("--port")]);
    assert_eq!(code, Some(2));
    assert!(err.contains("usage"), "{err}");
}

/// Runs the binary, which must exit by itself within 10 s (it is killed by pid otherwise).
fn run_briefly(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let err_path = dir.path().join("stderr");
    let err_file = std::fs::File::create(&err_path).unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_zk-server-mini"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or(None) {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the binary did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code(),
        std::fs::read_to_string(&err_path).unwrap_or_default(),
    )
}

/// A full disk (here: a file-size limit, with SIGXFSZ ignored so writes fail with EFBIG)
/// makes the server stop with an error instead of acknowledging writes it could not log or
/// panicking; everything it did acknowledge is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_write_failure_stops_the_server_without_acknowledging() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("SKIP: prlimit (util-linux) is not installed");
        return;
    }
    bounded(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let cfg = write_config(dir.path(), port, "snapCount=100000\n");
        let log =
            std::fs::File::create(dir.path().join("limited.log")).unwrap_or_else(|e| panic!("{e}"));
        // `trap "" XFSZ` makes the signal ignored, which survives the execs.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("trap '' XFSZ; exec prlimit --fsize=40000 -- \"$0\" --config \"$1\"")
            .arg(env!("CARGO_BIN_EXE_zk-server-mini"))
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let mut c = connect(wait_until_listening(port).await).await;
        let mut acked = Vec::new();
        let mut failed = false;
        for i in 0..200 {
            let path = format!("/n{i}");
            match c.call(&create(path.clone(), &[b'x'; 1000])).await {
                Ok((h, _)) if h.err.is_ok() => acked.push(path),
                Ok((h, _)) => panic!("unexpected error {:?}", h.err),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "40 kB of log should not hold 200 kB of writes");
        assert!(!acked.is_empty());
        // The process stops by itself, with a failure status.
        let Some(status) = exited_within(&mut child, Duration::from_secs(10)).await else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server kept running after its log failed");
        };
        assert_eq!(status.code(), Some(1), "status {status:?}");
        let stderr = std::fs::read_to_string(dir.path().join("limited.log")).unwrap_or_default();
        assert!(!stderr.contains("panicked"), "{stderr}");
        // Without the limit, every acknowledged write is back.
        let server = spawn(dir.path(), port).await;
        let mut c = connect(server.addr).await;
        for path in &acked {
            assert_eq!(get(&mut c, path).await, Some(vec![b'x'; 1000]), "{path}");
        }
    })
    .await;
}

/// Acknowledged writes survive `kill -9` in the middle of a (slow) snapshot write, with
/// writes acknowledged both before the snapshot's zxid and after it, into the new log file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_snapshot_write_loses_no_acknowledged_write() {
    bounded(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let data = dir.path().join("data");
        let tmp = data.join(zk_server_mini::snapshot::TEMP_NAME);
        let port = free_port();
        let mut acked: Vec<String> = Vec::new();
        async fn write(c: &mut RawClient, acked: &mut Vec<String>, prefix: &str, n: u32) {
            for i in 0..n {
                let path = format!("/{prefix}-{i}");
                must_create(c, path.clone()).await;
                acked.push(path);
            }
        }
        // Round 0 leaves a finished snapshot (the one recovery falls back to), round 1 is
        // killed while writing the next one.
        let server = spawn_with(dir.path(), port, 100, None).await;
        let mut c = connect(server.addr).await;
        write(&mut c, &mut acked, "r0", 150).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while zk_server_mini::snapshot::list_snapshots(&data)
            .unwrap_or_default()
            .is_empty()
        {
            assert!(Instant::now() < deadline, "no first snapshot");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(c);
        drop(server);
        let snaps_before = zk_server_mini::snapshot::list_snapshots(&data).unwrap_or_default();

        let server = spawn_with(dir.path(), port, 100, Some(Duration::from_secs(6))).await;
        let mut c = connect(server.addr).await;
        write(&mut c, &mut acked, "r1", 120).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !tmp.exists() {
            assert!(Instant::now() < deadline, "no snapshot was started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        write(&mut c, &mut acked, "during", 100).await;
        assert!(
            tmp.exists(),
            "the snapshot finished before the kill: the test proves nothing"
        );
        assert_eq!(
            zk_server_mini::snapshot::list_snapshots(&data).unwrap_or_default(),
            snaps_before
        );
        // The log was rolled at the snapshot's zxid: the writes after it are in a new file.
        let in_progress = std::fs::read(&tmp).unwrap_or_else(|e| panic!("{e}"));
        let snap_zxid = zk_server_mini::snapshot::deserialize(&in_progress)
            .unwrap_or_else(|e| panic!("{e}"))
            .last_zxid;
        let logs = zk_server_mini::wal::list_logs(&data).unwrap_or_default();
        assert!(
            logs.iter().any(|(first, _)| *first == snap_zxid + 1),
            "no log starts after the snapshot's zxid {snap_zxid:#x}: {logs:?}"
        );
        drop(server); // SIGKILL mid-snapshot.

        let server = spawn(dir.path(), port).await;
        let mut c = connect(server.addr).await;
        for path in &acked {
            assert_eq!(
                get(&mut c, path).await,
                Some(path.as_bytes().to_vec()),
                "{path} lost by kill -9 during a snapshot"
            );
        }
        assert!(
            !tmp.exists(),
            "the half-written snapshot was not cleaned up"
        );
    })
    .await;
}

/// A second server on a data directory in use exits non-zero, naming the directory, and
/// leaves the first one serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_refuses_a_data_directory_in_use() {
    bounded(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let data = dir.path().join("data");
        let server = spawn(dir.path(), free_port()).await;
        let mut c = connect(server.addr).await;
        let port = free_port().to_string();
        let (code, err) = run_briefly(&[
            std::ffi::OsStr::new("--port"),
            std::ffi::OsStr::new(&port),
            std::ffi::OsStr::new("--data-dir"),
            data.as_os_str(),
        ]);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("in use by another server"), "{err}");
        assert!(err.contains(&data.display().to_string()), "{err}");
        let (h, _) = c
            .call(&create("/still-serving".into(), b"x"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(h.err.is_ok(), "{:?}", h.err);
        // kill -9 leaves the LOCK file behind but not the lock: a new server starts.
        drop(c);
        drop(server);
        let server = spawn(dir.path(), free_port()).await;
        let mut c = connect(server.addr).await;
        assert_eq!(get(&mut c, "/still-serving").await, Some(b"x".to_vec()));
    })
    .await;
}
