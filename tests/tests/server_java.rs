//! The Java 3.8 client (Debian's `zookeeper.jar`) across a dropped connection: it reconnects
//! with the same session and re-registers its watches with SetWatches2; changes made while it
//! was away fire on reconnect, and its persistent recursive watch keeps working. The same
//! scenario runs against Apache ZooKeeper 3.8.0 and must produce the same events.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, BufReader};
use zk_integration_tests::mini::start_mini;
use zk_integration_tests::{RealZk, TcpProxy, ZkOptions, real_zk, require, require_real_zk};
use zk_proto::acl::Acl;
use zk_proto::{CreateRequest, Request, SetDataRequest};
use zk_server_mini::MiniServer;
use zk_server_mini::testing::RawClient;

/// Events the Java client must report after the reconnect, in order.
const EXPECTED: [&str; 4] = [
    "EVENT NodeDataChanged /jv",
    "EVENT NodeCreated /jv/none",
    "EVENT NodeChildrenChanged /jv",
    "EVENT NodeCreated /jvr/y",
];

fn javac() -> Result<PathBuf, String> {
    let ok = std::process::Command::new("javac")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Err("`javac -version` failed (install a JDK)".into());
    }
    let jar = PathBuf::from(real_zk::ZOOKEEPER_JAR);
    if !jar.exists() {
        return Err(format!(
            "{} is missing (Debian package zookeeper)",
            jar.display()
        ));
    }
    Ok(jar)
}

fn compile(out: &Path) -> String {
    let src = zk_integration_tests::clients::workspace_root()
        .join("zk-server-mini/tests/java/JWatchReconnect.java");
    let status = std::process::Command::new("javac")
        .arg("-cp")
        .arg(real_zk::ZOOKEEPER_JAR)
        .arg("-d")
        .arg(out)
        .arg(&src)
        .status()
        .expect("run javac");
    assert!(status.success(), "javac failed");
    format!("{}:{}", real_zk::ZOOKEEPER_JAR, out.display())
}

fn create(path: &str) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 0,
    })
}

async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("java went silent")
        .expect("read java output")
        .expect("java exited early")
}

/// Runs the Java client through a proxy to `server`; returns its EVENT lines.
async fn scenario(server: SocketAddr, classpath: &str) -> Vec<String> {
    let proxy = TcpProxy::start(server).await.expect("proxy");
    let mut child = tokio::process::Command::new("java")
        .arg("-cp")
        .arg(classpath)
        .arg("JWatchReconnect")
        .arg(proxy.connect_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start java");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while next_line(&mut lines).await != "READY" {}
    // Cut the client off and keep it off while the tree changes.
    proxy.block_new();
    proxy.drop_connections().await;
    let mut direct = RawClient::connect(server, 10_000)
        .await
        .expect("direct client");
    let set = Request::SetData(SetDataRequest {
        path: "/jv".into(),
        data: Some(Bytes::from_static(b"1")),
        version: -1,
    });
    for req in [set, create("/jv/none"), create("/jvr/x")] {
        assert!(direct.call(&req).await.expect("change").0.err.is_ok());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.unblock();
    let mut events = Vec::new();
    let mut created = false;
    loop {
        let line = next_line(&mut lines).await;
        // Every watcher also hears the Disconnected/SyncConnected state changes; skip those.
        if line.starts_with("EVENT") && !line.starts_with("EVENT None") {
            events.push(line.clone());
        }
        // The three SetWatches2 events arrive before its reply: after them, the recursive
        // watch is registered again.
        if events.len() == 3 && !created {
            created = true;
            assert!(
                direct
                    .call(&create("/jvr/y"))
                    .await
                    .expect("create")
                    .0
                    .err
                    .is_ok()
            );
        }
        if line == "DONE" || line == "TIMEOUT" {
            break;
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("java did not exit")
        .expect("java status");
    assert!(status.success(), "java client failed: {events:?}");
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_reconnects_and_rearms_watches_on_the_mini_server() {
    require!("javac and zookeeper.jar", javac());
    let classes = tempfile::tempdir().expect("tempdir");
    let classpath = compile(classes.path());
    let (_dir, server) = start_mini(MiniServer::builder().max_client_cnxns(0)).await;
    let events = scenario(server.addr(), &classpath).await;
    server.stop().await;
    assert_eq!(events, EXPECTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_scenario_holds_on_real_zookeeper() {
    require_real_zk!();
    require!("javac and zookeeper.jar", javac());
    let classes = tempfile::tempdir().expect("tempdir");
    let classpath = compile(classes.path());
    let real = RealZk::start_standalone(ZkOptions::default())
        .await
        .expect("start the reference server");
    let events = scenario(real.addr(), &classpath).await;
    assert_eq!(events, EXPECTED);
}
