//! Scripted sessions of the reference command-line clients against zk-server-mini: the Java
//! `zkCli.sh` and the C `cli_mt`. Each is killed by pid (`kill_on_drop`) if it hangs.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use zk_integration_tests::{clients, require};
use zk_server_mini::{MiniServer, RunningServer};

async fn server(dir: &Path) -> RunningServer {
    MiniServer::builder()
        .data_dir(dir)
        .four_letter_words(&["*"])
        .max_client_cnxns(0)
        .start()
        .await
        .expect("start the mini server")
}

/// Feeds `input` to `program args...`, keeps stdin open for `linger`, and returns the output.
async fn run(program: &Path, args: &[&str], input: &str, linger: Duration) -> String {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the client");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_owned();
    let feeder = tokio::spawn(async move {
        for line in input.lines() {
            let _ = stdin.write_all(format!("{line}\n").as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(linger).await;
        drop(stdin);
    });
    let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("client timed out (killed)")
        .expect("client output");
    let _ = feeder.await;
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_scripted_session() {
    require!("zkCli.sh", clients::zkcli());
    let zkcli = clients::zkcli().expect("zkCli.sh");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path()).await;
    let script = "\
create /zc hello
create -s /zc/s- x
create -e /zc/e y
create -c /zc/cont
get -s /zc
set /zc world
get /zc
ls -s /zc
addauth digest alice:secret
create /zc/sec x auth:alice:cdrwa
getAcl /zc/sec
whoami
getAllChildrenNumber /zc
getEphemerals /zc
delete /zc/e
stat /zookeeper
create /zc/bad/path x
deleteall /zc
ls /
quit
";
    let out = run(
        &zkcli,
        &["-server", &server.connect_string()],
        script,
        Duration::from_millis(500),
    )
    .await;
    server.stop().await;
    for needle in [
        "Created /zc",
        "Created /zc/s-0000000000",
        "Created /zc/e",
        "Created /zc/cont",
        "hello",
        "world",
        "numChildren = 3",
        "'digest,'alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=",
        "digest: alice",
        "ip: 127.0.0.1",
        "[/zc/e]",
        "cversion = -2",
        "Node does not exist: /zc/bad/path",
        "[zookeeper]",
    ] {
        assert!(
            out.contains(needle),
            "missing {needle:?} in zkCli output:\n{out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_cli_mt_scripted_session() {
    require!("cli_mt", clients::cli_mt());
    let cli = clients::cli_mt().expect("cli_mt");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path()).await;
    let script = "\
create /cm
set /cm world
get /cm
create +e /cm/e
create +s /cm/s-
ls /cm
delete /cm/e
exists /cm/e
quit
";
    let out = run(
        &cli,
        &[&server.connect_string()],
        script,
        Duration::from_secs(1),
    )
    .await;
    server.stop().await;
    for needle in [
        "[/cm]: rc = 0",
        "world",
        "[/cm/e]: rc = 0",
        "name = /cm/s-0000000001",
        "s-0000000001",
        "Watcher CHILD_EVENT state = CONNECTED_STATE for path /cm",
        "Error -101 for /cm/e",
    ] {
        assert!(
            out.contains(needle),
            "missing {needle:?} in cli_mt output:\n{out}"
        );
    }
}
