//! [`TestCluster`]'s membership changes: a member added to a running ensemble, ZooKeeper's
//! way (started with a `zoo.cfg` listing the current members plus itself, before or after
//! the `reconfig` that admits it).

use super::{TestCluster, free_port};
use crate::ServerError;
use crate::config::PeerAddr;

/// Times an in-process member is started again on fresh ports when one was taken meanwhile.
const ATTEMPTS: u32 = 5;

impl TestCluster {
    /// Starts member `id` (a voter, or an observer when `observer`) beside the running ones,
    /// as ZooKeeper's documentation says to before a `reconfig` adds it: its `zoo.cfg` lists
    /// the current members plus itself, its own line in the dynamic form
    /// `server.<id>=127.0.0.1:<quorum>:<election>:participant|observer;127.0.0.1:<clientPort>`,
    /// with every other setting as the other members have (tick, `reconfigEnabled`,
    /// `superDigest`, ...). Ports are reserved here. The other members' `zoo.cfg` stay as they
    /// were. From then on [`TestCluster::ids`], [`TestCluster::client_addr`],
    /// [`TestCluster::kill`], [`TestCluster::restart`], [`TestCluster::mode`],
    /// [`TestCluster::zoo_cfg`] and [`TestCluster::stop`] include it.
    ///
    /// The new member takes part once the ensemble admits it (a committed `reconfig`); until
    /// then it is a peer the others talk to but do not count.
    ///
    /// # Errors
    /// `id` is a member already, or the member cannot start (as [`crate::Builder::start`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::cluster::TestCluster;
    /// let mut cluster = TestCluster::builder(3).config("reconfigEnabled", "true").start().await?;
    /// cluster.add_member(4, false).await?; // then `reconfig -add` it from a client
    /// assert_eq!(cluster.ids(), [1, 2, 3, 4]);
    /// let cfg = cluster.zoo_cfg(4);
    /// let own = format!(":participant;{}", cluster.client_addr(4));
    /// assert!(cfg.contains("server.1=") && cfg.contains("server.4=") && cfg.contains(&own));
    /// assert!(cfg.contains("reconfigEnabled=true"));
    /// assert!(!cluster.zoo_cfg(1).contains("server.4=")); // the others' stay as they were
    /// assert!(cluster.mode(4).await.is_some()); // it runs (and answers `srvr`)
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub async fn add_member(&mut self, id: u64, observer: bool) -> Result<(), ServerError> {
        if self.servers.contains_key(&id) {
            return Err(ServerError::Ensemble {
                why: format!("member {id} is in the ensemble already"),
            });
        }
        let mut listed: Vec<u64> = self.servers.keys().copied().collect();
        listed.push(id);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let client_port = free_port(&mut self.ports);
            let quorum_port = free_port(&mut self.ports);
            let election_port = free_port(&mut self.ports);
            self.servers.insert(
                id,
                PeerAddr {
                    host: "127.0.0.1".into(),
                    quorum_port,
                    election_port,
                    observer,
                    client: Some(format!("127.0.0.1:{client_port}")),
                },
            );
            self.client_ports.insert(id, client_port);
            self.listed.insert(id, listed.clone());
            match self.launch(id).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.kill(id).await;
                    self.servers.remove(&id);
                    self.client_ports.remove(&id);
                    self.listed.remove(&id);
                    let _ = std::fs::remove_dir_all(self.data_dir(id));
                    if !(matches!(e, ServerError::Bind { .. }) && attempt < ATTEMPTS) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// The members the builder started (every other `zoo.cfg` lists these).
    pub(super) fn first_members(&self) -> Vec<u64> {
        self.servers
            .keys()
            .filter(|id| !self.listed.contains_key(id))
            .copied()
            .collect()
    }
}
