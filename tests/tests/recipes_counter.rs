//! `zk_recipes::counter` against the real ZooKeeper 3.8.0 and `zk-server-mini`, with Curator
//! (`SharedCount`, `DistributedAtomicLong`) and kazoo (`Counter`, with and without
//! `support_curator`) processes incrementing the same nodes at the same time; compare-and-set,
//! typed errors for foreign bytes, the change stream, and increments across dropped
//! connections (never counted twice, never retried blindly).

#![allow(
    clippy::unwrap_used,
    reason = "test scenarios: a failed unwrap is a failed test"
)]

use std::time::Duration;

use futures::StreamExt;
use tokio::process::Command;
use tokio::time::timeout;
use zk_client::{Client, CreateOptions};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::java::{JavaProgram, curator_classpath};
use zk_integration_tests::{TcpProxy, ZkOptions, clients};
use zk_recipes::counter::{Counter, CounterError, CounterFormat, Versioned};

const WAIT: Duration = Duration::from_secs(90);
const PER_WORKER: i64 = 25;

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(180);
    shared_count_with_curator_and_kazoo(ZkOptions::default()),
    atomic_long_with_curator(ZkOptions::default()),
    ascii_counter_with_kazoo(ZkOptions::default()),
    compare_and_set_errors_and_changes(ZkOptions::default()),
    increments_across_dropped_connections_are_never_doubled(ZkOptions::default()),
}

fn curator() -> Option<JavaProgram> {
    zk_integration_tests::skip::check(
        "recipes_counter",
        "Curator 5.4 and javac",
        curator_classpath().map(drop),
    )
    .then(|| JavaProgram::compile_curator(&["CounterCurator.java"]).expect("javac"))
}

fn kazoo() -> Option<std::path::PathBuf> {
    zk_integration_tests::skip::check("recipes_counter", "kazoo", clients::kazoo().map(drop))
        .then(|| clients::kazoo().unwrap())
}

const KAZOO_COUNTER: &str = r#"
import sys
from kazoo.client import KazooClient
from kazoo.recipe.counter import Counter
hosts, path, n, curator = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
zk = KazooClient(hosts=hosts); zk.start(timeout=20)
c = Counter(zk, path, support_curator=curator)
for _ in range(n):
    c += 1
print("DONE", c.value, flush=True)
zk.stop(); zk.close()
"#;

fn kazoo_counter(python: &std::path::Path, zk: &Backend, path: &str, curator: bool) -> Command {
    let mut c = Command::new(python);
    c.arg("-c")
        .arg(KAZOO_COUNTER)
        .arg(zk.connect_string())
        .arg(path)
        .arg(PER_WORKER.to_string())
        .arg(if curator { "1" } else { "0" })
        .kill_on_drop(true);
    c
}

/// Runs a child to completion (bounded), checks it printed `DONE`.
async fn run_done(mut command: Command, who: &str) {
    let out = timeout(WAIT, command.stdin(std::process::Stdio::null()).output())
        .await
        .unwrap_or_else(|_| panic!("{who} did not finish within {WAIT:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("DONE"),
        "{who}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `tasks` Rust tasks, each adding 1 `PER_WORKER` times.
async fn rust_adds(counter: &Counter, tasks: usize) {
    let runs = (0..tasks).map(|_| {
        let c = counter.clone();
        async move {
            for _ in 0..PER_WORKER {
                c.add(1).await.unwrap();
            }
        }
    });
    futures::future::join_all(runs).await;
}

async fn shared_count_with_curator_and_kazoo(zk: &Backend) {
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let counter = Counter::shared_count(&client, "/cnt/shared").with_max_attempts(1000);
    assert_eq!(counter.ensure(0).await.unwrap().value, 0);
    let mut expected = 2 * PER_WORKER;
    let mut others = Vec::new();
    if let Some(java) = curator() {
        let mut c = java.command("CounterCurator");
        c.args([
            "shared",
            &zk.connect_string(),
            "/cnt/shared",
            &PER_WORKER.to_string(),
        ]);
        others.push(run_done(c, "Curator SharedCount"));
        expected += PER_WORKER;
    }
    if let Some(python) = kazoo() {
        others.push(run_done(
            kazoo_counter(&python, zk, "/cnt/shared", true),
            "kazoo Counter(support_curator=True)",
        ));
        expected += PER_WORKER;
    }
    futures::join!(futures::future::join_all(others), rust_adds(&counter, 2));
    assert_eq!(counter.get().await.unwrap().value, expected);
    let (data, _) = client.get_data("/cnt/shared").await.unwrap();
    assert_eq!(
        data.as_ref(),
        i32::try_from(expected).unwrap().to_be_bytes()
    );
    client.close().await;
}

async fn atomic_long_with_curator(zk: &Backend) {
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let counter = Counter::atomic_long(&client, "/cnt/long").with_max_attempts(1000);
    counter.set(1 << 40).await.unwrap();
    let mut expected = (1 << 40) + 2 * PER_WORKER;
    let mut others = Vec::new();
    if let Some(java) = curator() {
        let mut c = java.command("CounterCurator");
        c.args([
            "long",
            &zk.connect_string(),
            "/cnt/long",
            &PER_WORKER.to_string(),
        ]);
        others.push(run_done(c, "Curator DistributedAtomicLong"));
        expected += PER_WORKER;
    }
    futures::join!(futures::future::join_all(others), rust_adds(&counter, 2));
    assert_eq!(counter.get().await.unwrap().value, expected);
    let (data, _) = client.get_data("/cnt/long").await.unwrap();
    assert_eq!(data.as_ref(), expected.to_be_bytes());
    client.close().await;
}

async fn ascii_counter_with_kazoo(zk: &Backend) {
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let counter = Counter::kazoo(&client, "/cnt/ascii").with_max_attempts(1000);
    let mut expected = 2 * PER_WORKER;
    let mut others = Vec::new();
    if let Some(python) = kazoo() {
        others.push(run_done(
            kazoo_counter(&python, zk, "/cnt/ascii", false),
            "kazoo Counter",
        ));
        expected += PER_WORKER;
    }
    futures::join!(futures::future::join_all(others), rust_adds(&counter, 2));
    assert_eq!(counter.get().await.unwrap().value, expected);
    let (data, _) = client.get_data("/cnt/ascii").await.unwrap();
    assert_eq!(data.as_ref(), expected.to_string().as_bytes());
    client.close().await;
}

async fn compare_and_set_errors_and_changes(zk: &Backend) {
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let other = Client::connect(&zk.connect_string()).await.unwrap();
    let counter = Counter::shared_count(&client, "/cas/c");
    let absent = counter.get().await.unwrap();
    assert_eq!(
        absent,
        Versioned {
            value: 0,
            version: None
        }
    );
    let mut changes = counter.changes().await.unwrap();
    assert_eq!(changes.next().await.unwrap().unwrap(), absent);
    assert!(
        counter.try_set(5, absent).await.unwrap(),
        "creates the node"
    );
    assert!(
        !counter.try_set(6, absent).await.unwrap(),
        "already created"
    );
    let five = counter.get().await.unwrap();
    assert_eq!(
        five,
        Versioned {
            value: 5,
            version: Some(0)
        }
    );
    // Someone else writes: our stale version loses.
    Counter::shared_count(&other, "/cas/c")
        .set(9)
        .await
        .unwrap();
    assert!(!counter.try_set(7, five).await.unwrap());
    // The stream reads after each event: it may coalesce 5 and 9, never goes back, ends at 9.
    let mut values = Vec::new();
    while values.last() != Some(&9) {
        let v = timeout(Duration::from_secs(20), changes.next())
            .await
            .expect("a change within 20 s")
            .unwrap()
            .unwrap();
        values.push(v.value);
    }
    assert!(values == [9] || values == [5, 9], "{values:?}");
    // Out of range for the 4-byte format.
    assert!(matches!(
        counter.add(i64::from(i32::MAX)).await,
        Err(CounterError::OutOfRange { .. })
    ));

    // Bytes of the wrong length and text that is no number: typed errors.
    other
        .create(
            "/cas/five",
            b"\x00\x00\x00\x00\x05",
            &CreateOptions::persistent(),
        )
        .await
        .unwrap();
    for format in [CounterFormat::Int32, CounterFormat::Int64] {
        match Counter::new(&client, "/cas/five", format).add(1).await {
            Err(CounterError::BadFormat { path, .. }) => assert_eq!(path, "/cas/five"),
            other => panic!("{format:?}: {other:?}"),
        }
    }
    other
        .create("/cas/text", b"twelve", &CreateOptions::persistent())
        .await
        .unwrap();
    assert!(matches!(
        Counter::kazoo(&client, "/cas/text").get().await,
        Err(CounterError::BadFormat { .. })
    ));
    let (data, _) = other.get_data("/cas/five").await.unwrap();
    assert_eq!(data.len(), 5, "a failed add leaves foreign bytes alone");

    // Contention is bounded: one attempt against a writer that always wins.
    let contended = Counter::atomic_long(&client, "/cas/hot").with_max_attempts(1);
    contended.set(0).await.unwrap();
    let seen = contended.get().await.unwrap();
    Counter::atomic_long(&other, "/cas/hot")
        .add(1)
        .await
        .unwrap();
    assert!(!contended.try_set(100, seen).await.unwrap());
    client.close().await;
    // The change stream ends with the session.
    assert!(
        timeout(Duration::from_secs(10), async {
            while changes.next().await.is_some() {}
        })
        .await
        .is_ok()
    );
    other.close().await;
}

async fn increments_across_dropped_connections_are_never_doubled(zk: &Backend) {
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let client = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(20))
        .connect()
        .await
        .unwrap();
    let counter = Counter::atomic_long(&client, "/drop/c");
    counter.set(0).await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let adder = {
        let counter = counter.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut ok, mut unknown) = (0i64, 0i64);
            // Adds keep going until every drop is done, whatever the machine's speed.
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match counter.add(1).await {
                    Ok(_) => ok += 1,
                    Err(CounterError::Zk(e)) if e.is_outcome_unknown() => unknown += 1,
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            (ok, unknown)
        })
    };
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        proxy.drop_connections().await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, unknown) = timeout(WAIT, adder).await.unwrap().unwrap();
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    let value = Counter::atomic_long(&direct, "/drop/c")
        .get()
        .await
        .unwrap()
        .value;
    assert!(
        value >= ok && value <= ok + unknown,
        "value {value}, {ok} acknowledged, {unknown} with unknown outcome"
    );
    assert!(ok > 0);
    client.close().await;
    direct.close().await;
}
