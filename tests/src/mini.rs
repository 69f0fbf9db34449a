//! zk-server-mini in-process for the `server_*` tests.

use std::future::Future;
use std::time::Duration;

use tempfile::TempDir;
use zk_server_mini::{Builder, RunningServer};

/// Starts `builder`'s server with its data in a new temporary directory, which lives as long
/// as the returned [`TempDir`] (keep it until the server is gone).
///
/// ```no_run
/// # async fn example() {
/// use zk_server_mini::MiniServer;
///
/// let (_dir, server) =
///     zk_integration_tests::mini::start_mini(MiniServer::builder().max_client_cnxns(0)).await;
/// println!("listening on {}", server.addr());
/// # }
/// ```
pub async fn start_mini(builder: Builder) -> (TempDir, RunningServer) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = builder
        .data_dir(dir.path())
        .start()
        .await
        .expect("start the mini server");
    (dir, server)
}

/// Fails the test if `test` takes more than two minutes.
pub async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("test timed out");
}
