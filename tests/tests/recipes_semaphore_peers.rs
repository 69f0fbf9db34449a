//! Semaphores, read-write locks, multi-locks and barriers share paths with real Curator 5.4
//! and kazoo processes: each side is blocked while the other holds, and gets in once it lets
//! go; double-barrier members of both enter and leave together. On the real ZooKeeper 3.8.0
//! and zk-server-mini.

mod recipes_common;

use std::process::Stdio;
use std::time::Duration;

use recipes_common::*;
use tokio::io::AsyncWriteExt;
use zk_client::Client;
use zk_integration_tests::backend::Backend;
use zk_recipes::{
    Barrier, DoubleBarrier, Flavor, MultiLock, Mutex, MutexOptions, ReadWriteLock, RecipeError,
    Semaphore,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    Curator,
    Kazoo,
}

/// Starts the peer program (`RecipeHold.java` or `recipe_hold.py`), or `None` when the peer's
/// software is missing and skips are allowed.
fn peer(which: Peer, backend: &Backend, kind: &str, path: &str, arg: u32) -> Option<Worker> {
    let mut command = match which {
        Peer::Curator => {
            use zk_integration_tests::java::{JavaProgram, curator_classpath};
            if let Err(e) = curator_classpath() {
                assert!(
                    !zk_integration_tests::skip::skips_are_failures(),
                    "Curator: {e}"
                );
                eprintln!("SKIP: Curator not available: {e}");
                return None;
            }
            JavaProgram::compile_curator(&["RecipeHold.java"])
                .expect("javac")
                .command("RecipeHold")
        }
        Peer::Kazoo => match zk_integration_tests::clients::kazoo() {
            Ok(python) => python_worker(&python, "recipe_hold.py"),
            Err(e) => {
                assert!(
                    !zk_integration_tests::skip::skips_are_failures(),
                    "kazoo: {e}"
                );
                eprintln!("SKIP: kazoo not available: {e}");
                return None;
            }
        },
    };
    command
        .args([&backend.connect_string(), kind, path, &arg.to_string()])
        .stdin(Stdio::piped());
    Some(Worker::spawn(kind, command))
}

async fn line(w: &Worker, text: &str) {
    w.wait_raw(Duration::from_secs(30), text).await;
}

/// The first of `GOT` / `BLOCKED` the peer printed.
async fn verdict(mut w: Worker) -> String {
    w.finish(Duration::from_secs(30)).await;
    let lines = w.lines.lock().expect("lines").clone();
    lines
        .into_iter()
        .find(|l| l == "GOT" || l == "BLOCKED")
        .expect("a verdict")
}

async fn let_go(w: &mut Worker) {
    let stdin = w.child.stdin.as_mut().expect("piped stdin");
    stdin.write_all(b"go\n").await.expect("write");
    stdin.flush().await.expect("flush");
    line(w, "RELEASED").await;
    w.finish(Duration::from_secs(30)).await;
}

async fn connect(backend: &Backend) -> Client {
    Client::connect(&backend.connect_string())
        .await
        .expect("connect")
}

fn flavor(which: Peer) -> Flavor {
    match which {
        Peer::Curator => Flavor::Curator,
        Peer::Kazoo => Flavor::Kazoo,
    }
}

async fn semaphore_with(which: Peer, backend: &Backend) {
    let path = format!("/peers/sem-{}", flavor(which));
    let client = connect(backend).await;
    let sem = Semaphore::new(
        client.clone(),
        &path,
        2,
        MutexOptions::default().flavor(flavor(which)),
    )
    .expect("semaphore");
    // The peer holds both leases: we are kept out until it lets go.
    let Some(mut holder) = peer(which, backend, "sem-hold", &path, 2) else {
        return;
    };
    line(&holder, "HELD").await;
    assert!(
        sem.try_acquire().await.expect("try").is_none(),
        "the peer holds both leases"
    );
    let_go(&mut holder).await;
    let a = sem
        .acquire_timeout(Duration::from_secs(10))
        .await
        .expect("a lease after the peer left");
    let b = sem
        .try_acquire()
        .await
        .expect("try")
        .expect("the second lease");
    // We hold both: the peer is kept out; with one free, it gets in.
    let Some(w) = peer(which, backend, "sem-try", &path, 2) else {
        return;
    };
    assert_eq!(verdict(w).await, "BLOCKED");
    b.release().await.expect("release");
    let Some(w) = peer(which, backend, "sem-try", &path, 2) else {
        return;
    };
    assert_eq!(verdict(w).await, "GOT");
    a.release().await.expect("release");
    if which == Peer::Kazoo {
        // kazoo stored 2 in the semaphore node: a process configured for 3 is refused.
        let wrong = Semaphore::new(
            client.clone(),
            &path,
            3,
            MutexOptions::default().flavor(Flavor::Kazoo),
        )
        .expect("semaphore");
        assert!(matches!(
            wrong.try_acquire().await,
            Err(RecipeError::LeaseCountMismatch { .. })
        ));
    }
    client.close().await;
}

async fn rwlock_with(which: Peer, backend: &Backend) {
    let path = format!("/peers/rw-{}", flavor(which));
    let client = connect(backend).await;
    let rw = ReadWriteLock::new(
        client.clone(),
        &path,
        MutexOptions::default().flavor(flavor(which)),
    )
    .expect("rw");
    let Some(mut writer) = peer(which, backend, "write-hold", &path, 0) else {
        return;
    };
    line(&writer, "HELD").await;
    assert!(matches!(
        rw.read_timeout(Duration::from_millis(300)).await,
        Err(RecipeError::Deadline(_))
    ));
    assert!(matches!(
        rw.write_timeout(Duration::from_millis(300)).await,
        Err(RecipeError::Deadline(_))
    ));
    let_go(&mut writer).await;
    let w = rw
        .write_timeout(Duration::from_secs(10))
        .await
        .expect("write after the peer");
    let Some(p) = peer(which, backend, "read-try", &path, 0) else {
        return;
    };
    assert_eq!(
        verdict(p).await,
        "BLOCKED",
        "our writer keeps the peer's reader out"
    );
    w.release().await.expect("release");
    let r = rw
        .read_timeout(Duration::from_secs(10))
        .await
        .expect("read");
    let Some(p) = peer(which, backend, "read-try", &path, 0) else {
        return;
    };
    assert_eq!(verdict(p).await, "GOT", "readers share");
    let Some(p) = peer(which, backend, "write-try", &path, 0) else {
        return;
    };
    assert_eq!(
        verdict(p).await,
        "BLOCKED",
        "our reader keeps the peer's writer out"
    );
    r.release().await.expect("release");
    client.close().await;
}

async fn curator_semaphore_excludes(backend: &Backend) {
    semaphore_with(Peer::Curator, backend).await;
}

async fn kazoo_semaphore_excludes(backend: &Backend) {
    semaphore_with(Peer::Kazoo, backend).await;
}

async fn curator_rwlock_excludes(backend: &Backend) {
    rwlock_with(Peer::Curator, backend).await;
}

async fn kazoo_rwlock_excludes(backend: &Backend) {
    rwlock_with(Peer::Kazoo, backend).await;
}

/// Two Rust members and one peer double-barrier member (Curator `DistributedDoubleBarrier`,
/// kazoo `DoubleBarrier`; 3 in all) enter and leave together.
async fn double_barrier_with(which: Peer, backend: &Backend) {
    let path = match which {
        Peer::Curator => "/peers/double",
        Peer::Kazoo => "/peers/double-kazoo",
    };
    let Some(mut peer) = peer(which, backend, "double", path, 3) else {
        return;
    };
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let client = connect(backend).await;
        tasks.push(tokio::spawn(async move {
            let db = DoubleBarrier::new(client.clone(), path, 3).expect("db");
            db.enter(Some(Duration::from_secs(30))).await?;
            db.leave(Some(Duration::from_secs(30))).await?;
            client.close().await;
            Ok::<_, RecipeError>(())
        }));
    }
    for t in tasks {
        t.await
            .expect("join")
            .expect("enter and leave with the peer member");
    }
    line(&peer, "ENTERED").await;
    line(&peer, "LEFT").await;
    peer.finish(Duration::from_secs(30)).await;
}

async fn curator_double_barrier_together(backend: &Backend) {
    double_barrier_with(Peer::Curator, backend).await;
}

async fn kazoo_double_barrier_together(backend: &Backend) {
    double_barrier_with(Peer::Kazoo, backend).await;
}

/// The first of `PASSED` / `TIMEOUT` the peer printed.
async fn passed(mut w: Worker) -> String {
    w.finish(Duration::from_secs(60)).await;
    let lines = w.lines.lock().expect("lines").clone();
    lines
        .into_iter()
        .find(|l| l == "PASSED" || l == "TIMEOUT")
        .expect("PASSED or TIMEOUT")
}

/// A barrier set by one side holds the other's waiters until it is removed, both ways
/// (Curator `DistributedBarrier`, kazoo `Barrier`).
async fn barrier_with(which: Peer, backend: &Backend) {
    let path = format!("/peers/barrier-{}", flavor(which));
    let client = connect(backend).await;
    let barrier = Barrier::new(client.clone(), &path).expect("barrier");
    // Ours holds the peer's waiter.
    barrier.set().await.expect("set");
    let Some(held) = peer(which, backend, "barrier-wait", &path, 300) else {
        return;
    };
    assert_eq!(passed(held).await, "TIMEOUT", "our barrier holds the peer");
    let waiter = peer(which, backend, "barrier-wait", &path, 30_000).expect("peer");
    // Removed once the peer waits: it passes (whenever it started waiting).
    tokio::time::sleep(Duration::from_millis(300)).await;
    barrier.remove().await.expect("remove");
    assert_eq!(
        passed(waiter).await,
        "PASSED",
        "the peer passes once removed"
    );
    // The peer's holds ours.
    let mut setter = peer(which, backend, "barrier-set", &path, 0).expect("peer");
    line(&setter, "HELD").await;
    assert!(matches!(
        barrier.wait(Some(Duration::from_millis(300))).await,
        Err(RecipeError::Deadline(_))
    ));
    let_go(&mut setter).await;
    barrier
        .wait(Some(Duration::from_secs(10)))
        .await
        .expect("we pass once the peer removed it");
    client.close().await;
}

async fn curator_barrier_both_ways(backend: &Backend) {
    barrier_with(Peer::Curator, backend).await;
}

async fn kazoo_barrier_both_ways(backend: &Backend) {
    barrier_with(Peer::Kazoo, backend).await;
}

/// Our `MultiLock` and Curator's `InterProcessMultiLock` on the same two mutexes exclude each
/// other; a plain mutex on one of them is excluded too.
async fn curator_multi_lock_excludes(backend: &Backend) {
    let path = "/peers/multi";
    let client = connect(backend).await;
    let mutex = |name: &str| {
        Mutex::new(
            client.clone(),
            &format!("{path}/{name}"),
            MutexOptions::default(),
        )
        .expect("mutex")
    };
    let multi = MultiLock::new(vec![mutex("a"), mutex("b")]);
    let Some(mut holder) = peer(Peer::Curator, backend, "multi-hold", path, 0) else {
        return;
    };
    line(&holder, "HELD").await;
    assert!(matches!(
        multi.acquire_timeout(Duration::from_millis(300)).await,
        Err(RecipeError::Deadline(_))
    ));
    assert!(
        mutex("b").try_acquire().await.expect("try").is_none(),
        "Curator holds b"
    );
    let_go(&mut holder).await;
    let both = multi
        .acquire_timeout(Duration::from_secs(10))
        .await
        .expect("both once Curator let go");
    let blocked = peer(Peer::Curator, backend, "multi-try", path, 0).expect("peer");
    assert_eq!(verdict(blocked).await, "BLOCKED", "we hold both");
    both.release().await.expect("release");
    let free = peer(Peer::Curator, backend, "multi-try", path, 0).expect("peer");
    assert_eq!(verdict(free).await, "GOT");
    client.close().await;
}

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(120);
    curator_semaphore_excludes(zk_options()),
    kazoo_semaphore_excludes(zk_options()),
    curator_rwlock_excludes(zk_options()),
    kazoo_rwlock_excludes(zk_options()),
    curator_double_barrier_together(zk_options()),
    kazoo_double_barrier_together(zk_options()),
    curator_barrier_both_ways(zk_options()),
    kazoo_barrier_both_ways(zk_options()),
    curator_multi_lock_excludes(zk_options()),
}
