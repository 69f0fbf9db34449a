//! Bounded memory, on the real ZooKeeper 3.8.0 and on `zk-server-mini`:
//! - a stalled server (the proxy forwards nothing) with callers that keep sending: the client's
//!   heap stays flat (its queues are bounded; callers wait or time out), measured with a
//!   counting allocator;
//! - a persistent watch whose consumer stops reading: at most its buffer of events is kept,
//!   then one `Overflow` marker accounts for every event dropped.

#![allow(
    clippy::unwrap_used,
    reason = "test scenarios: a failed unwrap is a failed test"
)]
#![allow(
    unsafe_code,
    reason = "a GlobalAlloc that forwards every call to System unchanged and counts live bytes: \
              the only way to measure this process's heap use"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use tokio::time::timeout;
use zk_client::{AddWatchMode, Client, CreateOptions, Error, EventType, PersistentEvent};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::{TcpProxy, ZkOptions};

/// Counts the bytes currently allocated by the whole test process.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments; the counters have no
// effect on the allocations themselves.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

const MIB: usize = 1 << 20;

/// The counter is process-wide: one scenario at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(120);
    a_stalled_server_keeps_client_memory_flat(ZkOptions::default()),
    a_stalled_watch_consumer_keeps_at_most_its_buffer(ZkOptions::default()),
}

async fn a_stalled_server_keeps_client_memory_flat(zk: &Backend) {
    let _serial = SERIAL.lock().await;
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let c = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(40))
        .request_timeout(Duration::from_millis(50))
        .connect()
        .await
        .unwrap();
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    direct
        .create("/m", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    proxy.pause().await;
    let baseline = live();

    // The peak of live bytes while 16 callers offer 64 KiB writes as fast as the client takes
    // them: 16 x 64 x 64 KiB = 64 MiB in all.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(live());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak.max(live())
        })
    };
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                let payload = vec![7u8; 64 * 1024];
                let (mut never_sent, mut unknown) = (0, 0);
                for _ in 0..64 {
                    match c.set_data("/m", &payload, None).await {
                        Err(Error::Timeout) => never_sent += 1,
                        Err(Error::OutcomeUnknown) => unknown += 1,
                        other => panic!("the server is stalled: {other:?}"),
                    }
                }
                (never_sent, unknown)
            })
        })
        .collect();
    let (mut never_sent, mut unknown) = (0, 0);
    for caller in callers {
        let (n, u) = caller.await.unwrap();
        never_sent += n;
        unknown += u;
    }
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.await.unwrap();
    let grew = peak.saturating_sub(baseline);
    println!(
        "stalled server: {never_sent} withdrawn, {unknown} written; heap grew by at most {} KiB",
        grew / 1024
    );
    assert_eq!(never_sent + unknown, 16 * 64);
    assert!(never_sent > 0, "the queue budget made callers wait");
    // The client holds at most its queue budget (8 MiB) and its unsent limit (1 MiB) of
    // requests; the rest is the test's own payloads (16 x 64 KiB) and slack.
    assert!(
        grew < 24 * MIB,
        "heap grew by {} MiB with a stalled server",
        grew / MIB
    );

    // The server comes back: the connection carries on (written requests are answered, the
    // withdrawn ones were never sent).
    proxy.resume();
    let (_, stat) = timeout(Duration::from_secs(30), async {
        loop {
            match c.get_data("/m").await {
                Ok(found) => return found,
                Err(e) => {
                    assert!(matches!(e, Error::Timeout | Error::OutcomeUnknown), "{e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        stat.version, unknown,
        "exactly the written requests were applied"
    );
    c.close().await;
    direct.close().await;
}

async fn a_stalled_watch_consumer_keeps_at_most_its_buffer(zk: &Backend) {
    let _serial = SERIAL.lock().await;
    let c = Client::builder(&zk.connect_string())
        .persistent_watch_buffer(64)
        .connect()
        .await
        .unwrap();
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    direct
        .create("/s", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let mut watch = c
        .add_watch("/s", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    // 1000 events that nobody reads.
    for batch in 0..10 {
        let mut tx = direct.transaction();
        for i in 0..100 {
            tx = tx.create(
                &format!("/s/n{batch:02}{i:03}"),
                b"",
                &CreateOptions::persistent(),
            );
        }
        tx.commit().await.unwrap();
    }
    // Events precede the reply of any later request on the watching connection.
    c.sync("/s").await.unwrap();
    assert_eq!(c.get_children("/s").await.unwrap().len(), 1000);

    let mut nodes = 0;
    let dropped = loop {
        match watch.next_event().now_or_never() {
            Some(Some(PersistentEvent::Node(e))) => {
                assert_eq!(e.event_type, EventType::NodeCreated);
                nodes += 1;
            }
            Some(Some(PersistentEvent::Overflow { dropped })) => break dropped,
            other => panic!("after {nodes} events: {other:?}"),
        }
    };
    assert_eq!(nodes, 64, "the buffer, and not one event more");
    assert_eq!(
        nodes + dropped,
        1000,
        "every event is either delivered or counted"
    );
    // Caught up: events flow again.
    direct
        .create("/s/late", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    match timeout(Duration::from_secs(10), watch.next_event()).await {
        Ok(Some(PersistentEvent::Node(e))) => assert_eq!(e.path, "/s/late"),
        other => panic!("{other:?}"),
    }
    c.close().await;
    direct.close().await;
}
