//! The data directory in-process: one server per directory (a second one is refused with a
//! typed error), and a snapshot being written does not stop the server answering.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{bounded, connect, get, must_create};
use zk_server_mini::{MiniServer, ServerError};

fn in_use_dir(r: Result<zk_server_mini::RunningServer, ServerError>) -> std::path::PathBuf {
    match r {
        Err(ServerError::DataDirInUse { dir }) => dir,
        Err(e) => panic!("expected DataDirInUse, got {e}"),
        Ok(_) => panic!("a second server started on a directory in use"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_directories_is_refused() {
    bounded(Duration::from_secs(60), async {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (data, logs) = (root.path().join("data"), root.path().join("logs"));
        let first = MiniServer::builder()
            .data_dir(&data)
            .data_log_dir(&logs)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut c = connect(first.addr()).await;
        must_create(&mut c, "/before".into()).await;

        // Same data directory.
        let dir = in_use_dir(MiniServer::builder().data_dir(&data).start().await);
        assert_eq!(dir, data);
        // Another data directory, but the same log directory.
        let other = root.path().join("other");
        let dir = in_use_dir(
            MiniServer::builder()
                .data_dir(&other)
                .data_log_dir(&logs)
                .start()
                .await,
        );
        assert_eq!(dir, logs);
        let msg = ServerError::DataDirInUse { dir: logs.clone() }.to_string();
        assert!(msg.contains(&logs.display().to_string()), "{msg}");
        assert!(msg.contains("in use by another server"), "{msg}");

        // The refused attempts touched nothing: the first server goes on.
        must_create(&mut c, "/after".into()).await;
        drop(c);
        // Stopping releases the lock: the directory can be used again, data intact.
        first.stop().await;
        let again = MiniServer::builder()
            .data_dir(&data)
            .data_log_dir(&logs)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut c = connect(again.addr()).await;
        assert_eq!(get(&mut c, "/before").await, Some(b"/before".to_vec()));
        assert_eq!(get(&mut c, "/after").await, Some(b"/after".to_vec()));
        drop(c);
        // restart() hands the directory over to its successor.
        let again = again.restart().await.unwrap_or_else(|e| panic!("{e}"));
        again.stop().await;
    })
    .await;
}

fn snapshot_zxids(dir: &Path) -> Vec<i64> {
    zk_server_mini::snapshot::list_snapshots(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|(z, _)| z)
        .collect()
}

fn writing_snapshot(dir: &Path) -> bool {
    dir.join(zk_server_mini::snapshot::TEMP_NAME).exists()
}

/// A snapshot that takes seconds to write (fault injection) does not delay requests: writes
/// and reads are answered promptly all the while. Stopping waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_answered_while_a_slow_snapshot_is_written() {
    bounded(Duration::from_secs(60), async {
        const SLOW: Duration = Duration::from_secs(4);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let server = MiniServer::builder()
            .data_dir(dir.path())
            .snap_count(50)
            .snapshot_write_delay(SLOW)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut c = connect(server.addr()).await;
        for i in 0..60 {
            must_create(&mut c, format!("/a{i}")).await;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !writing_snapshot(dir.path()) {
            assert!(Instant::now() < deadline, "no snapshot was started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = Instant::now();
        let mut slowest = Duration::ZERO;
        for i in 0..100 {
            let t = Instant::now();
            must_create(&mut c, format!("/b{i}")).await;
            assert_eq!(get(&mut c, &format!("/a{i}")).await.is_some(), i < 60);
            slowest = slowest.max(t.elapsed());
        }
        let busy = started.elapsed();
        // All of that happened while the snapshot was still being written.
        assert!(
            writing_snapshot(dir.path()) && snapshot_zxids(dir.path()).is_empty(),
            "the snapshot finished within {busy:?}: the test proves nothing"
        );
        assert!(
            slowest < SLOW / 4,
            "a request took {slowest:?} during a snapshot"
        );
        // Stop during the write: it waits for the snapshot, which is then complete.
        drop(c);
        server.stop().await;
        assert!(!writing_snapshot(dir.path()));
        let snaps = snapshot_zxids(dir.path());
        assert_eq!(snaps.len(), 1, "{snaps:?}");

        let server = MiniServer::builder()
            .data_dir(dir.path())
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut c = connect(server.addr()).await;
        for i in 0..60 {
            assert_eq!(
                get(&mut c, &format!("/a{i}")).await,
                Some(format!("/a{i}").into_bytes())
            );
        }
        for i in 0..100 {
            assert_eq!(
                get(&mut c, &format!("/b{i}")).await,
                Some(format!("/b{i}").into_bytes())
            );
        }
        drop(c);
        server.stop().await;
    })
    .await;
}
