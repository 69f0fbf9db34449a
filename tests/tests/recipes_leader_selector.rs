//! LeaderSelector in-process, on the real ZooKeeper 3.8.0 and zk-server-mini: one task runs
//! at a time, a lost leadership cancels the task (token fired, future dropped) before anyone
//! else leads.

mod recipes_common;

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use recipes_common::zk_options;
use zk_client::Client;
use zk_integration_tests::backend::Backend;
use zk_integration_tests::proxy::TcpProxy;
use zk_recipes::{LeaderSelector, LeaderSelectorOptions, Leadership, LeadershipEnd};

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

/// Records, when dropped, that the leader task's future was dropped (and whether its
/// cancellation token had fired first).
struct OnDrop(
    Arc<StdMutex<Vec<(String, u128)>>>,
    tokio_util::sync::CancellationToken,
);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let what = if self.1.is_cancelled() {
            "cut-dropped-after-cancel"
        } else {
            "cut-dropped-before-cancel"
        };
        self.0.lock().expect("ev").push((what.into(), now_ns()));
    }
}

/// (id, token, start, end) of every leader task, recorded by the tasks themselves.
type Log = Arc<StdMutex<Vec<(String, i64, u128, u128)>>>;

fn selector(client: Client, id: &str, log: Log) -> LeaderSelector {
    let me = id.to_owned();
    LeaderSelector::start(
        client,
        "/selector/rotate",
        LeaderSelectorOptions::default().id(id).requeue(true),
        move |l: Leadership| {
            let (log, me) = (log.clone(), me.clone());
            async move {
                let start = now_ns();
                tokio::time::sleep(Duration::from_millis(100)).await;
                assert!(l.watch.is_held());
                log.lock()
                    .expect("log")
                    .push((me, l.token, start, now_ns()));
            }
        },
    )
    .expect("selector")
}

/// Three selectors with requeue: the tasks never overlap and tokens increase.
async fn selectors_take_turns(backend: &Backend) {
    let log: Log = Arc::default();
    let mut clients = Vec::new();
    let mut selectors = Vec::new();
    for i in 0..3 {
        let c = connect(&backend.connect_string()).await;
        selectors.push(selector(c.clone(), &format!("s{i}"), log.clone()));
        clients.push(c);
    }
    for _ in 0..300 {
        if log.lock().expect("log").len() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for s in &selectors {
        s.close().await;
    }
    let mut runs = log.lock().expect("log").clone();
    assert!(runs.len() >= 6, "{runs:?}");
    runs.sort_by_key(|r| r.2);
    for pair in runs.windows(2) {
        assert!(pair[0].3 < pair[1].2, "overlapping leaders: {pair:?}");
        assert!(pair[0].1 < pair[1].1, "tokens must increase: {pair:?}");
    }
    for c in clients {
        c.close().await;
    }
}

/// A leader whose connection is cut has its task cancelled (token fired) and its future
/// dropped; the other selector leads only after that.
async fn lost_leadership_cancels_the_task(backend: &Backend) {
    let proxy = TcpProxy::start(backend.addr()).await.expect("proxy");
    let cut = connect(&proxy.connect_string()).await;
    let other = connect(&backend.connect_string()).await;
    let events: Arc<StdMutex<Vec<(String, u128)>>> = Arc::default();
    let ev = events.clone();
    let first = LeaderSelector::start(
        cut.clone(),
        "/selector/cut",
        LeaderSelectorOptions::default().id("cut"),
        move |l: Leadership| {
            let ev = ev.clone();
            async move {
                ev.lock().expect("ev").push(("cut-start".into(), now_ns()));
                // Dropped with the task's future: records that the future was dropped, and
                // whether the cancellation token had fired by then.
                let _dropped = OnDrop(ev.clone(), l.cancel.clone());
                std::future::pending::<()>().await;
            }
        },
    )
    .expect("selector");
    for _ in 0..250 {
        if first.has_leadership() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(first.has_leadership());
    let ev = events.clone();
    let second = LeaderSelector::start(
        other.clone(),
        "/selector/cut",
        LeaderSelectorOptions::default().id("other"),
        move |_l: Leadership| {
            let ev = ev.clone();
            async move {
                ev.lock()
                    .expect("ev")
                    .push(("other-start".into(), now_ns()));
                std::future::pending::<()>().await;
            }
        },
    )
    .expect("selector");
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.block_new();
    proxy.drop_connections().await;
    let mut ends = first.ends();
    let end = tokio::time::timeout(Duration::from_secs(10), ends.wait_for(Option::is_some))
        .await
        .expect("ended in time")
        .expect("selector alive")
        .expect("end");
    assert!(matches!(end.1, LeadershipEnd::Lost(_)), "{end:?}");
    for _ in 0..500 {
        if second.has_leadership() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(second.has_leadership());
    let log = events.lock().expect("ev").clone();
    let at = |name: &str| {
        log.iter()
            .find(|e| e.0 == name)
            .map(|e| e.1)
            .unwrap_or_else(|| panic!("{name} in {log:?}"))
    };
    assert!(
        at("cut-dropped-after-cancel") < at("other-start"),
        "{log:?}"
    );
    proxy.unblock();
    second.close().await;
    first.close().await;
    cut.close().await;
    other.close().await;
}

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(90);
    selectors_take_turns(zk_options()),
    lost_leadership_cancels_the_task(zk_options()),
}
