//! The `zk-server-mini` release binary as a child process, so its memory is its own.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use zk_integration_tests::{PortReservation, four_letter_word, reserve_port};

/// A running `zk-server-mini --port P --data-dir D`; killed by pid and reaped on drop.
#[derive(Debug)]
pub struct MiniProcess {
    child: Child,
    port: PortReservation,
    dir: TempDir,
}

/// Where the release binary is: `$ZK_SERVER_MINI_BIN`, else `release/zk-server-mini` under
/// `$CARGO_TARGET_DIR`, else under the workspace's `target/`.
pub fn locate_binary() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("ZK_SERVER_MINI_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let bin = target.join("release").join("zk-server-mini");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: build it first with `cargo build --release -p zk-server-mini` \
             (same CARGO_TARGET_DIR), or set $ZK_SERVER_MINI_BIN",
            bin.display()
        ))
    }
}

impl MiniProcess {
    /// Starts the binary on a free loopback port with a fresh data dir (under the same temporary
    /// directory as the reference server's, so both sync to the same disk) and waits until it
    /// answers `srvr`.
    ///
    /// # Errors
    /// A message when the binary is missing, does not start, or is not serving within 30 s.
    pub async fn start() -> Result<Self, String> {
        let bin = locate_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("zk-bench-mini-")
            .tempdir()
            .map_err(|e| format!("temporary dir: {e}"))?;
        let port = reserve_port().map_err(|e| format!("reserving a port: {e}"))?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).map_err(|e| format!("data dir: {e}"))?;
        let log = std::fs::File::create(dir.path().join("server.log"))
            .map_err(|e| format!("server.log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("server.log: {e}"))?;
        let child = Command::new(&bin)
            .arg("--port")
            .arg(port.port().to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--bind")
            .arg("127.0.0.1")
            // Like the reference server here, which has no logging backend: no per-request logs.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
        let mut server = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("zk-server-mini exited at start: {status}"));
            }
            if four_letter_word(server.port.addr(), "srvr").await.is_ok() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err("zk-server-mini not serving after 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn connect_string(&self) -> String {
        self.port.addr().to_string()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for MiniProcess {
    fn drop(&mut self) {
        // `Child::kill` signals exactly this pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
