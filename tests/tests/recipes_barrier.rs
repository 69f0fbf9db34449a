//! Barriers in-process, on the real ZooKeeper 3.8.0 and zk-server-mini: waiters pass when the
//! barrier goes, deadlines end waits, a double barrier's members enter and leave together, and
//! a member whose session ends while waiting gets an error instead of passing.

mod recipes_common;

use std::time::Duration;

use recipes_common::zk_options;
use zk_client::Client;
use zk_integration_tests::backend::Backend;
use zk_integration_tests::proxy::TcpProxy;
use zk_recipes::{Barrier, DoubleBarrier, RecipeError};

async fn connect(server: &str) -> Client {
    Client::builder(server)
        .session_timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect("connect")
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

/// Barrier: waiters pass when it is removed; a deadline ends a wait.
async fn barrier_releases_waiters(backend: &Backend) {
    let a = connect(&backend.connect_string()).await;
    let b = connect(&backend.connect_string()).await;
    let barrier = Barrier::new(a.clone(), "/barrier/gate").expect("barrier");
    barrier.set().await.expect("set");
    let waiter = Barrier::new(b.clone(), "/barrier/gate").expect("barrier");
    assert!(matches!(
        waiter.wait(Some(Duration::from_millis(200))).await,
        Err(RecipeError::Deadline(_))
    ));
    let w = tokio::spawn(async move { waiter.wait(Some(Duration::from_secs(20))).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    barrier.remove().await.expect("remove");
    w.await.expect("join").expect("passes once removed");
    assert!(matches!(
        Barrier::new(a.clone(), "bad"),
        Err(RecipeError::InvalidPath { .. })
    ));
    a.close().await;
    b.close().await;
}

/// Double barrier: three members enter together and leave together; with only two, enter
/// times out; a member whose session expires while waiting does not pass.
async fn double_barrier_enters_and_leaves_together(backend: &Backend) {
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(connect(&backend.connect_string()).await);
    }
    let lone = DoubleBarrier::new(clients[0].clone(), "/barrier/double-timeout", 2).expect("db");
    assert!(matches!(
        lone.enter(Some(Duration::from_millis(300))).await,
        Err(RecipeError::Deadline(_))
    ));
    let mut tasks = Vec::new();
    for c in &clients {
        let db = DoubleBarrier::new(c.clone(), "/barrier/double", 3).expect("db");
        tasks.push(tokio::spawn(async move {
            db.enter(Some(Duration::from_secs(20))).await?;
            let entered = now_ns();
            db.leave(Some(Duration::from_secs(20))).await?;
            Ok::<_, RecipeError>((entered, now_ns()))
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await.expect("join").expect("enter and leave"));
    }
    let last_enter = times.iter().map(|t| t.0).max().expect("times");
    let first_leave = times.iter().map(|t| t.1).min().expect("times");
    assert!(
        last_enter <= first_leave,
        "someone left before everyone entered: {times:?}"
    );

    // A member whose session ends while waiting in enter gets an error, not a pass.
    let proxy = TcpProxy::start(backend.addr()).await.expect("proxy");
    let doomed = connect(&proxy.connect_string()).await;
    let db = DoubleBarrier::new(doomed.clone(), "/barrier/double-expire", 2).expect("db");
    let waiting = tokio::spawn(async move { db.enter(Some(Duration::from_secs(30))).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.block_new();
    proxy.drop_connections().await;
    let result = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("ends")
        .expect("join");
    assert!(
        matches!(
            result,
            Err(RecipeError::SessionExpired | RecipeError::Closed)
        ),
        "{result:?}"
    );
    // Its member node goes with its session (the server expires it a little after the client
    // gave up): once gone, a new pair still needs two members.
    for _ in 0..500 {
        let left = clients[1]
            .get_children("/barrier/double-expire")
            .await
            .unwrap_or_default();
        if left.iter().all(|c| c == "ready") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let survivor = DoubleBarrier::new(clients[1].clone(), "/barrier/double-expire", 2).expect("db");
    assert!(matches!(
        survivor.enter(Some(Duration::from_millis(500))).await,
        Err(RecipeError::Deadline(_))
    ));
    for c in clients {
        c.close().await;
    }
}

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(90);
    barrier_releases_waiters(zk_options()),
    double_barrier_enters_and_leaves_together(zk_options()),
}
