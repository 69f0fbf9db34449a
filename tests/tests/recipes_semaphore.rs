//! The semaphore, the read-write lock and the multi-lock in-process, on the real ZooKeeper
//! 3.8.0 and zk-server-mini: bounds on concurrent holders, stored lease count checks, writer
//! may read (never the reverse), all-or-nothing.

mod recipes_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use recipes_common::zk_options;
use zk_client::Client;
use zk_integration_tests::backend::Backend;
use zk_recipes::{Flavor, MultiLock, Mutex, MutexOptions, ReadWriteLock, RecipeError, Semaphore};

async fn connect(backend: &Backend) -> Client {
    Client::builder(&backend.connect_string())
        .session_timeout(Duration::from_secs(4))
        .connect()
        .await
        .expect("connect")
}

/// Six tasks (three clients) share a 2-lease semaphore: never more than 2 inside, all get in.
async fn semaphore_bounds_holders(flavor: Flavor, backend: &Backend) {
    let path = format!("/sem/bounds-{flavor}");
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let mut clients = Vec::new();
    for i in 0..6 {
        if i % 2 == 0 {
            clients.push(connect(backend).await);
        }
        let client = clients.last().expect("client").clone();
        let sem = Semaphore::new(
            client,
            &path,
            2,
            MutexOptions::default().flavor(flavor).id(format!("t{i}")),
        )
        .expect("semaphore");
        let (inside, peak) = (inside.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let lease = sem
                .acquire_timeout(Duration::from_secs(30))
                .await
                .expect("lease");
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            assert!(lease.is_held());
            tokio::time::sleep(Duration::from_millis(100)).await;
            inside.fetch_sub(1, Ordering::SeqCst);
            lease.release().await.expect("release");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&peak),
        "at most two inside at once, saw {peak}"
    );
    for c in clients {
        c.close().await;
    }
}

async fn curator_semaphore_bounds_holders(backend: &Backend) {
    semaphore_bounds_holders(Flavor::Curator, backend).await;
}

async fn kazoo_semaphore_bounds_holders(backend: &Backend) {
    semaphore_bounds_holders(Flavor::Kazoo, backend).await;
}

/// try_acquire on a full semaphore, and a stored lease count that disagrees.
async fn semaphore_edges(backend: &Backend) {
    let client = connect(backend).await;
    let sem = Semaphore::new(
        client.clone(),
        "/sem/edges",
        2,
        MutexOptions::default().flavor(Flavor::Kazoo),
    )
    .expect("semaphore");
    let lease = sem.acquire().await.expect("lease");
    let second = sem
        .try_acquire()
        .await
        .expect("try")
        .expect("a second lease is free");
    assert!(lease.is_held() && second.is_held());
    assert!(sem.try_acquire().await.expect("try").is_none());
    assert_eq!(sem.holders().await.expect("holders").len(), 2);
    second.release().await.expect("release");
    let curator = Semaphore::new(
        client.clone(),
        "/sem/edges-curator",
        2,
        MutexOptions::default(),
    )
    .expect("semaphore");
    let c1 = curator.acquire().await.expect("lease");
    let c2 = curator
        .try_acquire()
        .await
        .expect("try")
        .expect("a second lease is free");
    assert!(curator.try_acquire().await.expect("try").is_none());
    assert!(c2.token() > c1.token());
    c1.release().await.expect("release");
    c2.release().await.expect("release");
    let other = Semaphore::new(
        client.clone(),
        "/sem/edges",
        3,
        MutexOptions::default().flavor(Flavor::Kazoo),
    )
    .expect("semaphore");
    match other.acquire_timeout(Duration::from_secs(5)).await {
        Err(RecipeError::LeaseCountMismatch { stored, ours, .. }) => {
            assert_eq!((stored.as_str(), ours), ("2", 3));
        }
        other => panic!("expected LeaseCountMismatch, got {other:?}"),
    }
    lease.release().await.expect("release");
    assert!(matches!(
        Semaphore::new(client.clone(), "/sem/zero", 0, MutexOptions::default()),
        Err(RecipeError::NotAllowed(_))
    ));
    client.close().await;
}

/// Readers share, a writer excludes, a writer may also read, a queued writer blocks later
/// readers (fairness).
async fn rwlock_rules(flavor: Flavor, backend: &Backend) {
    let a = connect(backend).await;
    let b = connect(backend).await;
    let path = format!("/rw/{flavor}");
    let la =
        ReadWriteLock::new(a.clone(), &path, MutexOptions::default().flavor(flavor)).expect("rw");
    let lb =
        ReadWriteLock::new(b.clone(), &path, MutexOptions::default().flavor(flavor)).expect("rw");
    let r1 = la.read().await.expect("read a");
    let r2 = lb
        .read_timeout(Duration::from_secs(5))
        .await
        .expect("readers share");
    let e = lb
        .write_timeout(Duration::from_millis(300))
        .await
        .expect_err("writer waits for readers");
    assert!(matches!(e, RecipeError::Deadline(_)));
    r1.release().await.expect("release");
    r2.release().await.expect("release");
    let w = la.write().await.expect("write");
    let e = lb
        .read_timeout(Duration::from_millis(300))
        .await
        .expect_err("reader waits for writer");
    assert!(matches!(e, RecipeError::Deadline(_)));
    let own_read = la.read_while_writing(&w).await.expect("a writer may read");
    assert!(own_read.token() > w.token());
    // A reader queued behind the writer is still blocked by the writer, not by our read node.
    let e = lb
        .read_timeout(Duration::from_millis(300))
        .await
        .expect_err("still blocked");
    assert!(matches!(e, RecipeError::Deadline(_)));
    w.release().await.expect("release write");
    // Downgraded: our read node remains; other readers now share it, writers wait.
    let r3 = lb
        .read_timeout(Duration::from_secs(5))
        .await
        .expect("reader after downgrade");
    assert!(lb.write_timeout(Duration::from_millis(300)).await.is_err());
    own_read.release().await.expect("release");
    r3.release().await.expect("release");
    // read_while_writing needs a held write guard of this lock.
    let m = Mutex::new(a.clone(), "/rw/elsewhere", MutexOptions::default()).expect("m");
    let g = m.acquire().await.expect("m");
    assert!(matches!(
        la.read_while_writing(&g).await,
        Err(RecipeError::NotAllowed(_))
    ));
    g.release().await.expect("release");
    a.close().await;
    b.close().await;
}

async fn curator_rwlock_rules(backend: &Backend) {
    rwlock_rules(Flavor::Curator, backend).await;
}

async fn kazoo_rwlock_rules(backend: &Backend) {
    rwlock_rules(Flavor::Kazoo, backend).await;
}

/// A multi-lock takes all or nothing: blocked on one part, it gives back the parts it took.
async fn multi_lock_is_all_or_nothing(backend: &Backend) {
    let a = connect(backend).await;
    let b = connect(backend).await;
    let m = |c: &Client, p: &str| Mutex::new(c.clone(), p, MutexOptions::default()).expect("m");
    let blocker = m(&b, "/multi/y").acquire().await.expect("b holds y");
    let both = MultiLock::new(vec![m(&a, "/multi/y"), m(&a, "/multi/x")]);
    let e = both
        .acquire_timeout(Duration::from_millis(500))
        .await
        .expect_err("y is taken");
    assert!(matches!(e, RecipeError::Deadline(_)));
    // x was taken first (path order) and must have been given back.
    let x_free = m(&b, "/multi/x").try_acquire().await.expect("try x");
    assert!(
        x_free.is_some(),
        "the multi-lock kept /multi/x after failing"
    );
    x_free.expect("x").release().await.expect("release");
    blocker.release().await.expect("release");
    let guard = both
        .acquire_timeout(Duration::from_secs(5))
        .await
        .expect("both");
    assert!(guard.is_held());
    assert_eq!(guard.tokens().len(), 2);
    assert!(
        m(&b, "/multi/x")
            .try_acquire()
            .await
            .expect("try")
            .is_none()
    );
    guard.release().await.expect("release");
    a.close().await;
    b.close().await;
}

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(90);
    curator_semaphore_bounds_holders(zk_options()),
    kazoo_semaphore_bounds_holders(zk_options()),
    semaphore_edges(zk_options()),
    curator_rwlock_rules(zk_options()),
    kazoo_rwlock_rules(zk_options()),
    multi_lock_is_all_or_nothing(zk_options()),
}
