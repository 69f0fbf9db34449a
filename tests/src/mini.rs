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

/// The `zk-server-mini` executable of this build, brought up to date first (`cargo test
/// --workspace` builds it; `cargo test -p zk-integration-tests` alone does not).
///
/// # Panics
/// When it cannot be built.
pub fn mini_binary() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            // target/<profile>/deps/<test binary>
            let exe = std::env::current_exe().expect("current_exe");
            let dir = exe
                .parent()
                .and_then(|d| d.parent())
                .expect("target/<profile>");
            let bin = dir.join("zk-server-mini");
            // Always asked for (a no-op when up to date): a test run of this crate alone must
            // not start a binary left over from older sources.
            let mut cmd = std::process::Command::new(env!("CARGO"));
            cmd.args(["build", "-p", "zk-server-mini", "--bin", "zk-server-mini"]);
            if dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build");
            assert!(status.success(), "cargo build of zk-server-mini failed");
            bin
        })
        .clone()
}
