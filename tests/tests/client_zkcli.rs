//! The `zkcli` binary of `zk-client` as a test driver against a single server, once against the
//! real ZooKeeper 3.8.0 and once against `zk-server-mini` (`on_each_backend!`): every command, its
//! stable output lines, error names and exit codes.

// The scenarios are plain `async fn`s that `on_each_backend!` calls from its generated tests, and
// clippy's `allow-unwrap-in-tests` only recognises `#[test]` functions themselves.
#![allow(
    clippy::unwrap_used,
    reason = "test scenarios: a failed unwrap is a failed test"
)]

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;
use zk_client::{Client, CreateOptions};
use zk_integration_tests::ZkOptions;
use zk_integration_tests::backend::Backend;

// Bounded (start, the first build of the binary, the scenario, stop) so a hang fails.
zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(300);
    zkcli_commands_and_output_formats(ZkOptions::default().extended_types(true)),
}

/// Builds the `zkcli` binary once and returns its path (`<target>/debug/zkcli`).
fn zkcli() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-q", "-p", "zk-client", "--bin", "zkcli"])
            .current_dir(zk_integration_tests::clients::workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the zkcli binary failed");
        let exe = std::env::current_exe().expect("test executable");
        // <target>/debug/deps/client_zkcli-<hash> -> <target>/debug/zkcli
        let debug = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target dir");
        debug.join("zkcli")
    })
    .clone()
}

/// Waits until the server lists a watch on `path` (`wchp`), so that a change made next is seen
/// by the watching zkcli process.
async fn wait_watched(zk: &Backend, path: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let wchp = zk.four_letter("wchp").await.unwrap_or_default();
        if wchp.lines().any(|l| l.trim() == path) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no watch on {path}: {wchp}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run(server: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(zkcli());
    cmd.arg("--server").arg(server).args(args);
    timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("zkcli finishes")
        .expect("zkcli runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn ok(server: &str, args: &[&str]) -> String {
    let o = run(server, args).await;
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

async fn zkcli_commands_and_output_formats(zk: &Backend) {
    let s = zk.connect_string();
    let s = s.as_str();
    tokio::task::spawn_blocking(zkcli).await.unwrap();

    assert_eq!(ok(s, &["create", "/cli", "hello world"]).await, "/cli\n");
    assert_eq!(ok(s, &["get", "/cli"]).await, "hello world\n");
    let seq = ok(s, &["create", "-s", "/cli/q-", "x"]).await;
    assert!(seq.starts_with("/cli/q-0000000000"), "{seq}");
    assert_eq!(ok(s, &["create", "-c", "/cli/box"]).await, "/cli/box\n");
    assert_eq!(
        ok(s, &["create", "--ttl", "60000", "/cli/ttl"]).await,
        "/cli/ttl\n"
    );
    assert_eq!(ok(s, &["create", "-e", "/cli/eph"]).await, "/cli/eph\n");
    ok(s, &["set", "/cli", "v2", "-v", "0"]).await;
    assert_eq!(ok(s, &["get", "/cli"]).await, "v2\n");
    assert_eq!(
        ok(s, &["ls", "/cli"]).await,
        format!("box\n{}\nttl\n", seq.trim().trim_start_matches("/cli/"))
    );
    let stat = ok(s, &["stat", "/cli"]).await;
    assert!(stat.contains("version = 1\n"), "{stat}");
    assert!(stat.contains("numChildren = 3\n"), "{stat}");
    assert_eq!(ok(s, &["getacl", "/cli"]).await, "world:anyone cdrwa\n");
    ok(s, &["sync", "/cli"]).await;
    // Invalid UTF-8 is printed lossily, on its own line.
    let direct = Client::connect(s).await.unwrap();
    direct
        .create("/bin", [0x66u8, 0xff, 0x6f], &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(ok(s, &["get", "/bin"]).await, "f\u{fffd}o\n");

    // Errors: named on stderr, exit status 1; usage errors exit 2.
    let o = run(s, &["get", "/missing"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("ERROR NoNode"), "{}", stderr(&o));
    let o = run(s, &["set", "/cli", "x", "-v", "7"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("ERROR BadVersion"), "{}", stderr(&o));
    let o = run(s, &["create", "/cli", "again"]).await;
    assert!(stderr(&o).starts_with("ERROR NodeExists"), "{}", stderr(&o));
    let o = run(s, &["delete", "/cli"]).await;
    assert!(stderr(&o).starts_with("ERROR NotEmpty"), "{}", stderr(&o));
    let o = run(s, &["get", "no-slash"]).await;
    assert!(
        stderr(&o).starts_with("ERROR InvalidPath"),
        "{}",
        stderr(&o)
    );
    let o = run(s, &["frobnicate"]).await;
    assert_eq!(o.status.code(), Some(2));
    ok(s, &["delete", "/cli/ttl", "-v", "0"]).await;

    // One-shot watch: prints the event and exits.
    let child = Command::new(zkcli())
        .args(["--server", s, "watch", "/cli"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_watched(zk, "/cli").await;
    direct.set_data("/cli", b"v3", None).await.unwrap();
    let out = timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("one-shot watch exits")
        .unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out), "EVENT NodeDataChanged /cli\n");

    // Persistent recursive watch: every event until killed.
    let mut child = Command::new(zkcli())
        .args([
            "--server",
            s,
            "watch",
            "--persistent",
            "--recursive",
            "/cli",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    wait_watched(zk, "/cli").await;
    direct
        .create("/cli/n", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    direct.set_data("/cli/n", b"1", None).await.unwrap();
    direct.delete("/cli/n", None).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        let line = timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("an event line")
            .unwrap()
            .expect("stdout open");
        if line.starts_with("EVENT") {
            got.push(line);
        }
    }
    assert_eq!(
        got,
        vec![
            "EVENT NodeCreated /cli/n",
            "EVENT NodeDataChanged /cli/n",
            "EVENT NodeDeleted /cli/n",
        ]
    );
    child.kill().await.unwrap();
    direct.close().await;
}
