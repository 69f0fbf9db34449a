//! The ZooKeeper side of the demo: a 3-node zk-server-mini ensemble, started in-process with
//! `TestCluster` on free loopback ports.

use std::net::SocketAddr;
use std::time::Duration;

use zk_server_mini::cluster::TestCluster;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

pub struct Ensemble {
    cluster: TestCluster,
    killed: Vec<u64>,
}

impl Ensemble {
    /// Starts three members and waits for them to elect a leader.
    pub async fn start() -> Result<Ensemble, AnyError> {
        let cluster = TestCluster::builder(3).tick_ms(100).start().await?;
        cluster
            .leader(Duration::from_secs(20))
            .await
            .ok_or("the ensemble elected no leader")?;
        Ok(Ensemble {
            cluster,
            killed: Vec::new(),
        })
    }

    /// The client addresses of the members.
    pub fn servers(&self) -> Vec<SocketAddr> {
        self.cluster
            .ids()
            .into_iter()
            .map(|id| self.cluster.client_addr(id))
            .collect()
    }

    /// One entry per member: its id and role.
    pub async fn roles(&self) -> Vec<String> {
        let mut roles = Vec::new();
        for id in self.cluster.ids() {
            let role = if self.killed.contains(&id) {
                "killed".to_owned()
            } else {
                self.cluster
                    .mode(id)
                    .await
                    .unwrap_or_else(|| "down".to_owned())
            };
            roles.push(format!("server {id} {role}"));
        }
        roles
    }

    /// Kills the member that leads the ensemble; returns which.
    pub async fn kill_leader(&mut self) -> Option<String> {
        let leader = self.cluster.leader(Duration::from_secs(10)).await?;
        self.cluster.kill(leader).await;
        self.killed.push(leader);
        Some(format!("server {leader} (the leader)"))
    }

    pub async fn stop(self) {
        self.cluster.stop().await;
    }
}
