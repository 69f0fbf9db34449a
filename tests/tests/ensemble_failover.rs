//! Client failover, the same scenario on a real 3-node Apache ZooKeeper 3.8.0 ensemble and on
//! a 3-node ensemble of the `zk-server-mini` binary (child processes): the leader is killed
//! with SIGKILL while `zk-client`, kazoo, Curator and zkCli.sh use the ensemble; each client must carry
//! on with the same session, its ephemeral and its watch, and see every acknowledged write.
//! The observations of both runs must be equal. A second scenario has clients that know only
//! followers: they get sessions there, read their writes, see watches fire for writes made
//! through another follower, and move with their session, ephemeral and watch when their
//! follower dies.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use zk_client::{Client, CreateOptions, EventType};
use zk_integration_tests::bounded;
use zk_integration_tests::clients;
use zk_integration_tests::ensemble::{Ensemble, EnsembleConfig, WAIT};
use zk_integration_tests::{require, require_real_zk};

/// Kills the leader with SIGKILL, once there is one with a quorum serving.
async fn kill_leader(ensemble: &mut Ensemble) {
    let leader = ensemble.wait_for_leader().await;
    ensemble.kill(leader).await;
}

/// Retries `op` through a failover (connection loss, a member not serving yet).
async fn retry<T, F, Fut>(mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = zk_client::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still failing after {WAIT:?}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The zk-client scenario; returns what it observed.
async fn zk_client_scenario(ensemble: &mut Ensemble) -> Vec<String> {
    let c = Client::builder(&ensemble.connect_string())
        .session_timeout(Duration::from_secs(30))
        .connect()
        .await
        .expect("connect");
    let session = c.session_id();
    c.create("/data", b"0", &CreateOptions::persistent())
        .await
        .expect("create /data");
    c.create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .expect("create /eph");
    let (_, _, watch) = c.get_data_watch("/data").await.expect("watch /data");
    for i in 1..=20 {
        c.set_data("/data", format!("{i}"), None)
            .await
            .expect("acknowledged write");
    }
    kill_leader(ensemble).await;
    retry(|| c.set_data("/data", "after", None)).await;
    let mut seen = Vec::new();
    let event = tokio::time::timeout(WAIT, watch)
        .await
        .expect("the watch fires");
    seen.push(format!("watch {:?} {}", event.event_type, event.path));
    assert_eq!(event.event_type, EventType::NodeDataChanged);
    seen.push(format!("same session {}", c.session_id() == session));
    let eph = retry(|| c.exists("/eph")).await;
    seen.push(format!("ephemeral kept {}", eph.is_some()));
    let (data, stat) = retry(|| c.get_data("/data")).await;
    seen.push(format!(
        "data {} version {}",
        String::from_utf8_lossy(&data),
        stat.version
    ));
    c.close().await;
    seen
}

const KAZOO: &str = r#"
import sys
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry
zk = KazooClient(hosts=sys.argv[1], timeout=30.0,
                 connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5),
                 command_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5, deadline=60))
zk.start(timeout=30)
sid = zk.client_id[0]
zk.create("/kz", b"0")
zk.create("/kzeph", b"", ephemeral=True)
for i in range(1, 11):
    zk.set("/kz", str(i).encode())
print("READY", flush=True)
sys.stdin.readline()
zk.retry(zk.set, "/kz", b"after")
data, stat = zk.retry(zk.get, "/kz")
print("same session", zk.client_id[0] == sid)
print("ephemeral kept", zk.retry(zk.exists, "/kzeph") is not None)
print("data", data.decode(), "version", stat.version)
zk.stop()
zk.close()
print("DONE", flush=True)
"#;

/// Runs a client program that prints READY, waits for a line on stdin (the leader is killed
/// meanwhile), then prints its observations and DONE; returns the observations.
async fn scripted(ensemble: &mut Ensemble, mut cmd: tokio::process::Command) -> Vec<String> {
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the client program");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.expect("read the client") {
        if line == "READY" {
            kill_leader(ensemble).await;
            stdin.write_all(b"go\n").await.expect("write to the client");
        } else if line == "DONE" {
            break;
        } else {
            seen.push(line);
        }
    }
    let status = child.wait().await.expect("the client exits");
    assert!(status.success(), "the client program failed: {seen:?}");
    seen
}

/// The kazoo scenario (with its own retry policy).
async fn kazoo_scenario(ensemble: &mut Ensemble) -> Vec<String> {
    let mut cmd = tokio::process::Command::new(clients::kazoo().expect("kazoo"));
    cmd.args(["-c", KAZOO, &ensemble.connect_string()]);
    scripted(ensemble, cmd).await
}

const CURATOR_JARS: [&str; 6] = [
    "/usr/share/java/curator-client.jar",
    "/usr/share/java/curator-framework.jar",
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/guava.jar",
    "/usr/share/java/slf4j-api.jar",
    "/usr/share/java/slf4j-nop.jar",
];

fn curator() -> Result<(), String> {
    let javac = std::process::Command::new("javac")
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !javac {
        return Err("`javac -version` failed (install a JDK)".into());
    }
    match CURATOR_JARS
        .iter()
        .find(|j| !std::path::Path::new(j).is_file())
    {
        Some(missing) => Err(format!("{missing} is missing (Curator 5.4 / zookeeper)")),
        None => Ok(()),
    }
}

/// Compiles `tests/java/CuratorFailover.java` into `out`; returns the classpath.
fn compile_curator(out: &std::path::Path) -> String {
    let jars = CURATOR_JARS.join(":");
    let src = clients::workspace_root().join("tests/java/CuratorFailover.java");
    let status = std::process::Command::new("javac")
        .args(["-cp", &jars, "-d"])
        .arg(out)
        .arg(&src)
        .status()
        .expect("run javac");
    assert!(status.success(), "javac failed");
    format!("{}:{jars}", out.display())
}

/// The Curator scenario (RetryNTimes(600, 100 ms)).
async fn curator_scenario(ensemble: &mut Ensemble, classpath: &str) -> Vec<String> {
    let mut cmd = tokio::process::Command::new("java");
    cmd.args([
        "-cp",
        classpath,
        "CuratorFailover",
        &ensemble.connect_string(),
    ]);
    scripted(ensemble, cmd).await
}

/// zkCli.sh with the whole connect string reads what the failover left.
async fn zkcli_get(connect: &str, path: &str) -> String {
    let zkcli = clients::zkcli().expect("zkCli.sh");
    let out = tokio::process::Command::new(zkcli)
        .args(["-server", connect, "get", path])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run zkCli.sh");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // Its last line is the node's data.
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Restarts every killed member and waits until all of them serve, one as leader (so that a
/// client may connect to any of them).
async fn revive(ensemble: &mut Ensemble) {
    for id in ensemble.ids() {
        if !ensemble.is_running(id) {
            ensemble.restart(id).await;
        }
    }
    ensemble.settle(&ensemble.ids()).await;
}

async fn run(real: bool, classpath: &str) -> Vec<String> {
    let mut ensemble = Ensemble::start(real, &EnsembleConfig::new(3)).await;
    let mut seen = zk_client_scenario(&mut ensemble).await;
    // A 3-member ensemble survives one failure at a time: bring the member back.
    revive(&mut ensemble).await;
    seen.extend(kazoo_scenario(&mut ensemble).await);
    revive(&mut ensemble).await;
    seen.extend(curator_scenario(&mut ensemble, classpath).await);
    revive(&mut ensemble).await;
    let connect = ensemble.connect_string();
    seen.push(format!(
        "zkCli get /kz: {}",
        zkcli_get(&connect, "/kz").await
    ));
    ensemble.stop().await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_fail_over_alike_on_real_zookeeper_and_the_mini_ensemble() {
    require_real_zk!();
    require!("kazoo", clients::kazoo());
    require!("zkCli.sh", clients::zkcli());
    require!("Curator", curator());
    bounded(Duration::from_secs(400), async {
        let classes = tempfile::tempdir().expect("tempdir");
        let classpath = compile_curator(classes.path());
        let mini = run(false, &classpath).await;
        let real = run(true, &classpath).await;
        eprintln!("mini ensemble: {mini:?}\nZooKeeper 3.8.0 ensemble: {real:?}");
        assert_eq!(mini, real, "mini ensemble vs ZooKeeper 3.8.0 ensemble");
        assert!(mini.contains(&"same session true".to_string()), "{mini:?}");
        assert!(
            mini.contains(&"zkCli get /kz: after".to_string()),
            "{mini:?}"
        );
    })
    .await;
}

/// The leader's client address and the followers', once a leader serves.
async fn members(ensemble: &mut Ensemble) -> (std::net::SocketAddr, Vec<std::net::SocketAddr>) {
    let leader = ensemble.wait_for_leader().await;
    let followers = ensemble
        .ids()
        .into_iter()
        .filter(|id| *id != leader)
        .map(|id| ensemble.addr(id))
        .collect();
    (ensemble.addr(leader), followers)
}

/// Kills (SIGKILL) the member serving clients at `addr`.
async fn kill_at(ensemble: &mut Ensemble, addr: std::net::SocketAddr) {
    let id = ensemble.id_at(addr);
    ensemble.kill(id).await;
}

async fn connect_to(hosts: &str) -> Client {
    Client::builder(hosts)
        .session_timeout(Duration::from_secs(30))
        .connect()
        .await
        .expect("connect")
}

/// Clients that know only followers; returns what they observed.
async fn follower_scenario(ensemble: &mut Ensemble) -> Vec<String> {
    let (_leader, followers) = members(ensemble).await;
    let (f1, f2) = (followers[0], followers[1]);
    let mut seen = Vec::new();
    let a = connect_to(&f1.to_string()).await;
    a.create("/f", b"0", &CreateOptions::persistent())
        .await
        .expect("create through a follower");
    let (data, _) = a.get_data("/f").await.expect("read");
    seen.push(format!("own write read {}", String::from_utf8_lossy(&data)));
    let b = connect_to(&f2.to_string()).await;
    b.sync("/f").await.expect("sync");
    let (data, _, watch) = b.get_data_watch("/f").await.expect("watch /f");
    seen.push(format!("synced read {}", String::from_utf8_lossy(&data)));
    a.set_data("/f", "1", None).await.expect("write");
    let event = tokio::time::timeout(WAIT, watch)
        .await
        .expect("the watch fires");
    seen.push(format!(
        "watch at the other follower {:?} {}",
        event.event_type, event.path
    ));
    let (data, _) = b.get_data("/f").await.expect("read");
    seen.push(format!(
        "read after the event {}",
        String::from_utf8_lossy(&data)
    ));

    // A session knowing both followers moves when the one it uses dies.
    let c = connect_to(&format!("{f1},{f2}")).await;
    let session = c.session_id();
    c.create("/c-eph", b"", &CreateOptions::ephemeral())
        .await
        .expect("ephemeral");
    let (stat, watch) = c.exists_watch("/c-x").await.expect("watch /c-x");
    seen.push(format!("c-x exists {}", stat.is_some()));
    let used = c.connected_server().expect("connected");
    let (dead, alive, writer) = if used == f1.to_string() {
        (f1, f2, &b)
    } else {
        (f2, f1, &a)
    };
    kill_at(ensemble, dead).await;
    let persistent = CreateOptions::persistent();
    retry(|| writer.create("/c-x", b"", &persistent)).await;
    let event = tokio::time::timeout(WAIT, watch)
        .await
        .expect("the watch fires after the move");
    seen.push(format!("moved watch {:?} {}", event.event_type, event.path));
    let eph = retry(|| c.exists("/c-eph")).await;
    seen.push(format!("moved ephemeral kept {}", eph.is_some()));
    seen.push(format!("moved same session {}", c.session_id() == session));
    seen.push(format!(
        "moved to the other follower {}",
        c.connected_server() == Some(alive.to_string())
    ));
    c.close().await;
    // The client of the dead member has nowhere to go: it is dropped, not closed.
    let (gone, kept) = if dead == f1 { (a, b) } else { (b, a) };
    drop(gone);
    kept.close().await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_serve_their_clients_alike_on_real_zookeeper_and_the_mini_ensemble() {
    require_real_zk!();
    bounded(Duration::from_secs(300), async {
        let mut observed = Vec::new();
        for real in [false, true] {
            let mut ensemble = Ensemble::start(real, &EnsembleConfig::new(3)).await;
            observed.push(follower_scenario(&mut ensemble).await);
            ensemble.stop().await;
        }
        let (mini, real) = (&observed[0], &observed[1]);
        eprintln!("mini ensemble: {mini:?}\nZooKeeper 3.8.0 ensemble: {real:?}");
        assert_eq!(mini, real, "mini ensemble vs ZooKeeper 3.8.0 ensemble");
        assert!(
            mini.contains(&"moved same session true".to_string()),
            "{mini:?}"
        );
        assert!(
            mini.contains(&"moved ephemeral kept true".to_string()),
            "{mini:?}"
        );
    })
    .await;
}
