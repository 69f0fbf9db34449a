//! `zk_recipes::queue` against the real ZooKeeper 3.8.0 and `zk-server-mini`: order, foreign
//! children, competing consumers, kazoo `Queue` and `LockingQueue` on the same paths, the delay
//! queue, and the locking queue with consumer *processes* killed (SIGKILL) while they hold
//! items: nothing is lost and nothing is consumed twice.

#![allow(
    clippy::unwrap_used,
    reason = "test scenarios: a failed unwrap is a failed test"
)]

mod recipes_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use recipes_common::Worker;
use tokio::time::timeout;
use zk_client::{Client, CreateOptions};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::{ZkOptions, clients};
use zk_recipes::queue::{DelayQueue, Layout, LockingQueue, Queue, QueueError};

const WAIT: Duration = Duration::from_secs(60);

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(180);
    simple_queue_order_foreign_items_and_competing_consumers(ZkOptions::default()),
    priority_and_locking_queues_with_kazoo(ZkOptions::default()),
    delay_queue_hands_out_items_when_due(ZkOptions::default()),
    locking_queue_survives_killed_consumer_processes(recipes_common::zk_options()),
    simple_queue_with_curator(ZkOptions::default()),
}

fn kazoo() -> Option<std::path::PathBuf> {
    zk_integration_tests::skip::check("recipes_queue", "kazoo", clients::kazoo().map(drop))
        .then(|| clients::kazoo().unwrap())
}

async fn simple_queue_order_foreign_items_and_competing_consumers(zk: &Backend) {
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let q = Queue::simple(&client, "/sq");
    assert_eq!(q.poll().await.unwrap(), None, "no queue node yet");
    for i in 0..5 {
        q.put(format!("a{i}")).await.unwrap();
    }
    client
        .create("/sq/not-an-item", b"x", &CreateOptions::persistent())
        .await
        .unwrap();
    client
        .create("/sq/qn-", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(q.len().await.unwrap(), 5);
    let foreign = q.foreign_items().await.unwrap();
    let names: BTreeSet<&str> = foreign.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["not-an-item", "qn-"]));
    assert!(foreign.iter().all(|f| f.layout == Layout::Simple));
    for i in 0..5 {
        assert_eq!(
            q.poll().await.unwrap().unwrap().as_ref(),
            format!("a{i}").as_bytes()
        );
    }
    assert_eq!(
        q.poll().await.unwrap(),
        None,
        "foreign children are never taken"
    );
    assert!(client.exists("/sq/not-an-item").await.unwrap().is_some());

    // A waiting take gets an item put later.
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move { q.take(WAIT).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    q.put("late").await.unwrap();
    assert_eq!(waiter.await.unwrap().unwrap().unwrap().as_ref(), b"late");

    // Competing consumers: each item exactly once.
    for i in 0..60 {
        q.put(format!("{i}")).await.unwrap();
    }
    let consumers = (0..3).map(|_| {
        let client = client.clone();
        async move {
            let q = Queue::simple(&client, "/sq");
            let mut got = Vec::new();
            while let Some(item) = q.take(Duration::from_millis(300)).await.unwrap() {
                got.push(String::from_utf8(item.to_vec()).unwrap());
            }
            got
        }
    });
    let mut all: Vec<String> = futures::future::join_all(consumers)
        .await
        .into_iter()
        .flatten()
        .collect();
    all.sort_by_key(|s| s.parse::<u32>().unwrap());
    assert_eq!(all, (0..60).map(|i| i.to_string()).collect::<Vec<_>>());
    client.close().await;
}

const KAZOO_QUEUES: &str = r#"
import sys
from kazoo.client import KazooClient
from kazoo.recipe.queue import Queue, LockingQueue
zk = KazooClient(hosts=sys.argv[1]); zk.start(timeout=20)
mode = sys.argv[2]
if mode == "put":
    q = Queue(zk, "/kq")
    for data, prio in [(b"low", 500), (b"high", 1), (b"mid", 100), (b"mid2", 100)]:
        q.put(data, priority=prio)
    lq = LockingQueue(zk, "/klq")
    lq.put(b"k1", priority=50)
    lq.put(b"k0", priority=10)
    print("PUT", flush=True)
else:
    q = Queue(zk, "/kq2")
    while True:
        item = q.get()
        if item is None:
            break
        print("GOT", item.decode(), flush=True)
    lq = LockingQueue(zk, "/klq2")
    while True:
        item = lq.get(timeout=1)
        if item is None:
            break
        print("LGOT", item.decode(), flush=True)
        assert lq.consume()
    print("END", flush=True)
zk.stop(); zk.close()
"#;

async fn run_kazoo(python: &std::path::Path, zk: &Backend, mode: &str) -> Vec<String> {
    let out = timeout(
        WAIT,
        tokio::process::Command::new(python)
            .args(["-c", KAZOO_QUEUES, &zk.connect_string(), mode])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("kazoo within 60 s")
    .unwrap();
    assert!(
        out.status.success(),
        "kazoo {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn priority_and_locking_queues_with_kazoo(zk: &Backend) {
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    // Our own priority order first.
    let q = Queue::priority(&client, "/pq");
    assert_eq!(
        q.put_with_priority("x", 1000).await,
        Err(QueueError::InvalidPriority(1000))
    );
    q.put_with_priority("c", 900).await.unwrap();
    q.put_with_priority("a", 0).await.unwrap();
    q.put("b").await.unwrap();
    let mut got = Vec::new();
    while let Some(item) = q.poll().await.unwrap() {
        got.push(item);
    }
    assert_eq!(got, ["a", "b", "c"]);

    let Some(python) = kazoo() else {
        client.close().await;
        return;
    };
    // kazoo puts, we take.
    assert_eq!(run_kazoo(&python, zk, "put").await, ["PUT"]);
    let kq = Queue::priority(&client, "/kq");
    let mut got = Vec::new();
    while let Some(item) = kq.poll().await.unwrap() {
        got.push(String::from_utf8(item.to_vec()).unwrap());
    }
    assert_eq!(got, ["high", "mid", "mid2", "low"]);
    let klq = LockingQueue::new(&client, "/klq");
    let first = klq.take(WAIT).await.unwrap().unwrap();
    assert_eq!(first.data().as_ref(), b"k0");
    let second = klq.take(WAIT).await.unwrap().unwrap();
    assert_eq!(second.data().as_ref(), b"k1");
    assert!(
        klq.take(Duration::from_millis(200))
            .await
            .unwrap()
            .is_none(),
        "both taken"
    );
    second.release().await.unwrap();
    first.consume().await.unwrap();
    let again = klq.take(WAIT).await.unwrap().unwrap();
    assert_eq!(again.data().as_ref(), b"k1", "a released item comes back");
    again.consume().await.unwrap();
    assert!(klq.is_empty().await.unwrap());

    // We put, kazoo takes (in priority order, and consumes from the locking queue).
    let q2 = Queue::priority(&client, "/kq2");
    q2.put_with_priority("second", 200).await.unwrap();
    q2.put_with_priority("first", 2).await.unwrap();
    let lq2 = LockingQueue::new(&client, "/klq2");
    lq2.put("l2", 300).await.unwrap();
    lq2.put("l1", 3).await.unwrap();
    assert_eq!(
        run_kazoo(&python, zk, "get").await,
        ["GOT first", "GOT second", "LGOT l1", "LGOT l2", "END"]
    );
    assert!(lq2.is_empty().await.unwrap());
    assert!(client.get_children("/klq2/taken").await.unwrap().is_empty());
    client.close().await;
}

async fn delay_queue_hands_out_items_when_due(zk: &Backend) {
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let q = DelayQueue::new(&client, "/dq");
    let now = SystemTime::now();
    let later = now + Duration::from_millis(800);
    q.put("later", later).await.unwrap();
    q.put("past", now - Duration::from_secs(5)).await.unwrap();
    q.put("now", now).await.unwrap();
    assert_eq!(q.poll().await.unwrap().unwrap().as_ref(), b"past");
    assert_eq!(q.poll().await.unwrap().unwrap().as_ref(), b"now");
    let item = q.take(WAIT).await.unwrap().unwrap();
    assert_eq!(item.as_ref(), b"later");
    assert!(
        SystemTime::now() >= later,
        "never handed out before its time"
    );
    assert_eq!(q.take(Duration::from_millis(100)).await.unwrap(), None);
    client.close().await;
}

/// A consumer process: the `queue_consumer` example (see its `--help` for its lines).
fn consumer(zk: &Backend, n: usize) -> Worker {
    let mut c = recipes_common::example("queue_consumer");
    c.args(["--server", &zk.connect_string(), "--path", "/lq"])
        .stderr(std::process::Stdio::null());
    Worker::spawn(&format!("consumer{n}"), c)
}

fn lines_of(w: &Worker, kind: &str) -> Vec<String> {
    w.lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| l.strip_prefix(kind).map(str::to_owned))
        .collect()
}

async fn locking_queue_survives_killed_consumer_processes(zk: &Backend) {
    const ITEMS: usize = 40;
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    client
        .create("/qdone", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let queue = LockingQueue::new(&client, "/lq");
    for i in 0..ITEMS {
        queue.put(format!("item{i:02}"), 100).await.unwrap();
    }
    let mut running: Vec<Worker> = (0..3).map(|n| consumer(zk, n)).collect();
    let mut killed: Vec<Worker> = Vec::new();
    // Kill a consumer as soon as it holds an item (between TAKEN and CONSUMED when it can),
    // four times, starting a fresh one each time.
    for round in 0..4 {
        let until = tokio::time::Instant::now() + WAIT;
        let victim = loop {
            if let Some(i) = running.iter().position(|w| {
                let taken = lines_of(w, "TAKEN ");
                let done = lines_of(w, "CONSUMED ");
                taken.len() > done.len()
            }) {
                break i;
            }
            if queue.is_empty().await.unwrap() {
                break 0;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "no consumer ever took an item"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let mut w = running.remove(victim);
        w.kill().await;
        killed.push(w);
        running.push(consumer(zk, 3 + round));
    }
    // Everything gets consumed: the killed consumers' items come back when their sessions end.
    let until = tokio::time::Instant::now() + WAIT;
    while !queue.is_empty().await.unwrap() {
        assert!(tokio::time::Instant::now() < until, "queue never drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for w in &mut running {
        w.kill().await;
    }
    let all: Vec<&Worker> = running.iter().chain(killed.iter()).collect();
    for w in &all {
        assert!(
            lines_of(w, "ERROR ").is_empty(),
            "{}: {:?}",
            w.name,
            w.lines
        );
    }
    // Nothing lost: every item has its marker, created in the consume transaction.
    let mut done = client.get_children("/qdone").await.unwrap();
    done.sort();
    let expected: Vec<String> = (0..ITEMS).map(|i| format!("item{i:02}")).collect();
    assert_eq!(done, expected);
    // Nothing consumed twice: no item has two CONSUMED lines (a second consume could not have
    // succeeded: its marker create would fail the transaction, reported as ERROR).
    let mut consumed: BTreeMap<String, usize> = BTreeMap::new();
    for w in &all {
        for item in lines_of(w, "CONSUMED ") {
            *consumed.entry(item).or_default() += 1;
        }
    }
    assert!(consumed.values().all(|n| *n == 1), "{consumed:?}");
    // Items a killed consumer held were delivered again to another consumer.
    let held_by_killed: BTreeSet<String> = killed
        .iter()
        .flat_map(|w| {
            let done: BTreeSet<String> = lines_of(w, "CONSUMED ").into_iter().collect();
            lines_of(w, "TAKEN ")
                .into_iter()
                .filter(move |t| !done.contains(t))
        })
        .collect();
    eprintln!(
        "{} consumer processes killed while holding {} item(s): {held_by_killed:?}",
        killed.len(),
        held_by_killed.len()
    );
    for item in &held_by_killed {
        let retaken = running
            .iter()
            .chain(killed.iter())
            .filter(|w| lines_of(w, "TAKEN ").contains(item))
            .count();
        assert!(
            retaken >= 2 || !consumed.contains_key(item),
            "{item} held by a killed consumer was not delivered again"
        );
    }
    assert!(client.get_children("/lq/taken").await.unwrap().is_empty());
    client.close().await;
}

/// Curator's `SimpleDistributedQueue` and ours on one path (`qn-` items, raw bytes), both ways.
async fn simple_queue_with_curator(zk: &Backend) {
    use zk_integration_tests::java::{JavaProgram, curator_classpath};
    zk_integration_tests::require!("Curator 5.4 and javac", curator_classpath());
    let java = JavaProgram::compile_curator(&["QueueCurator.java"]).unwrap();
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let q = Queue::simple(&client, "/cq");
    for item in ["r1", "r2", "r3"] {
        q.put(item).await.unwrap();
    }
    let mut take = java.command("QueueCurator");
    take.args(["take", &zk.connect_string(), "/cq", "3"]);
    let mut taker = Worker::spawn("curator-take", take);
    taker.finish(WAIT).await;
    assert_eq!(
        *taker.lines.lock().unwrap(),
        ["TOOK r1", "TOOK r2", "TOOK r3", "END"]
    );
    let mut offer = java.command("QueueCurator");
    offer.args(["offer", &zk.connect_string(), "/cq", "j1", "j2", "j3"]);
    let mut offerer = Worker::spawn("curator-offer", offer);
    offerer.finish(WAIT).await;
    let mut got = Vec::new();
    while let Some(item) = q.poll().await.unwrap() {
        got.push(String::from_utf8(item.to_vec()).unwrap());
    }
    assert_eq!(got, ["j1", "j2", "j3"]);
    client.close().await;
}
