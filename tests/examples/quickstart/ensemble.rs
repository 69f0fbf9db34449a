//! The ZooKeeper side of the demo: the bundled zk-server-mini, started in-process.

use std::net::SocketAddr;

use tempfile::TempDir;
use zk_server_mini::{MiniServer, RunningServer};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

pub struct Ensemble {
    server: RunningServer,
    _dir: TempDir,
}

impl Ensemble {
    /// Starts the servers on free loopback ports with temporary data directories.
    pub async fn start() -> Result<Ensemble, AnyError> {
        let dir = tempfile::tempdir()?;
        let server = MiniServer::builder()
            .data_dir(dir.path())
            .tick_ms(200)
            .session_timeouts(400, 20_000)
            .start()
            .await?;
        Ok(Ensemble { server, _dir: dir })
    }

    /// The client addresses of the members.
    pub fn servers(&self) -> Vec<SocketAddr> {
        vec![self.server.addr()]
    }

    /// One line per member: its address and role.
    pub async fn roles(&self) -> Vec<String> {
        vec![format!("{} standalone", self.server.addr())]
    }

    /// Kills the member that leads the ensemble; `None` when there is no ensemble to fail over.
    pub async fn kill_leader(&mut self) -> Option<String> {
        None
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}
