//! A replicated ensemble of reference servers (voters, and observers when asked for), built
//! from the same [`ZkNode`] processes as a standalone server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{
    HarnessError, Installation, QuorumPorts, ServerMode, ZkNode, ZkOptions, io_err, reserve_port,
};

/// A replicated ensemble of reference servers on loopback.
///
/// Members are indexed from 0; member `i` has server id `i + 1`.
///
/// ```no_run
/// # async fn demo() -> Result<(), zk_integration_tests::HarnessError> {
/// use std::time::Duration;
/// use zk_integration_tests::{RealZkEnsemble, ZkOptions};
/// let mut zk = RealZkEnsemble::start(3, ZkOptions::default()).await?;
/// let leader = zk.wait_for_quorum(Duration::from_secs(60)).await?;
/// zk.kill(leader);
/// let new_leader = zk.wait_for_quorum(Duration::from_secs(60)).await?;
/// assert_ne!(leader, new_leader);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RealZkEnsemble {
    nodes: Vec<ZkNode>,
    /// Members `0..participants` vote; the rest observe.
    participants: usize,
    /// Members `started..` were added by [`RealZkEnsemble::add_joiner`].
    started: usize,
    install: Installation,
    opts: Arc<ZkOptions>,
}

impl RealZkEnsemble {
    /// Starts `n` members and waits until one of them leads and all others follow.
    ///
    /// # Errors
    /// [`HarnessError::Unavailable`] when not installed; startup failures otherwise.
    pub async fn start(n: usize, opts: ZkOptions) -> Result<RealZkEnsemble, HarnessError> {
        Self::start_with_observers(n, 0, opts).await
    }

    /// Starts `participants` voting members and `observers` observers after them
    /// (`server.N=...:observer` on every member, `peerType=observer` in the observers' own
    /// `zoo.cfg`), and waits until one member leads and every other follows or observes.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), zk_integration_tests::HarnessError> {
    /// use zk_integration_tests::{RealZkEnsemble, ServerMode, ZkOptions};
    /// let zk = RealZkEnsemble::start_with_observers(3, 1, ZkOptions::default()).await?;
    /// assert_eq!(zk.observers(), [3]); // member index 3 is server.4
    /// assert_eq!(zk.node(3).mode().await, ServerMode::Observer);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`HarnessError::Unavailable`] when not installed; startup failures otherwise.
    pub async fn start_with_observers(
        participants: usize,
        observers: usize,
        opts: ZkOptions,
    ) -> Result<RealZkEnsemble, HarnessError> {
        let n = participants + observers;
        let install = Installation::locate().map_err(HarnessError::Unavailable)?;
        let opts = Arc::new(opts);
        let mut planned = Vec::with_capacity(n);
        let mut servers = String::new();
        for i in 0..n {
            let reserve = |what: &str| reserve_port().map_err(io_err(format!("reserving {what}")));
            let client = reserve("a client port")?;
            let peer = reserve("a peer port")?;
            let election = reserve("an election port")?;
            let role = if i >= participants { ":observer" } else { "" };
            servers.push_str(&format!(
                "server.{}=127.0.0.1:{}:{}{role}\n",
                i + 1,
                peer.port(),
                election.port()
            ));
            planned.push((client, QuorumPorts { peer, election }));
        }
        let mut nodes = Vec::with_capacity(n);
        for (i, (client, quorum)) in planned.into_iter().enumerate() {
            let id = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let lines = if i >= participants {
                format!("peerType=observer\n{servers}")
            } else {
                servers.clone()
            };
            nodes.push(ZkNode::create(
                id,
                client,
                Some(quorum),
                &lines,
                install.clone(),
                Arc::clone(&opts),
            )?);
        }
        let mut ensemble = RealZkEnsemble {
            nodes,
            participants,
            started: n,
            install,
            opts: Arc::clone(&opts),
        };
        for node in &mut ensemble.nodes {
            node.spawn()?;
        }
        ensemble.wait_quorum(opts.start_timeout, true).await?;
        Ok(ensemble)
    }

    /// The indexes of the members started as observers (after the voting members; joiners
    /// from [`RealZkEnsemble::add_joiner`] are not counted).
    pub fn observers(&self) -> Vec<usize> {
        (self.participants..self.started).collect()
    }

    /// Member `i`'s server spec as dynamic reconfiguration takes it (`reconfig -add`, kazoo's
    /// `joining=`): `server.N=127.0.0.1:<peer>:<election>:<role>;127.0.0.1:<client>`, with
    /// `role` `participant` or `observer`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), zk_integration_tests::HarnessError> {
    /// use zk_integration_tests::{RealZkEnsemble, ZkOptions};
    /// let zk = RealZkEnsemble::start(3, ZkOptions::default().reconfig_enabled(true)).await?;
    /// let spec = zk.spec(0, "observer"); // "server.1=127.0.0.1:...:...:observer;127.0.0.1:..."
    /// assert!(spec.starts_with("server.1=127.0.0.1:") && spec.contains(":observer;127.0.0.1:"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn spec(&self, i: usize, role: &str) -> String {
        let node = &self.nodes[i];
        let (peer, election) = node.quorum_ports().unwrap_or_default();
        format!(
            "server.{}=127.0.0.1:{peer}:{election}:{role};{}",
            node.id(),
            node.addr()
        )
    }

    /// Adds a member that is *not yet in the configuration*, the way a server is started
    /// before a `reconfig` adds it: index [`RealZkEnsemble::len`], server id one more, new
    /// ports, and a `zoo.cfg` listing every member so far (in the role it was started with)
    /// plus itself as [`RealZkEnsemble::spec`] writes it, `observer` or `participant`.
    ///
    /// The process is not started: [`RealZkEnsemble::restart`] starts it and waits until it
    /// serves (before the `reconfig`, real ZooKeeper 3.8.0 syncs it with the leader and it
    /// reports `Mode: follower`, whatever its role), [`ZkNode::respawn`] starts it without
    /// waiting, [`RealZkEnsemble::kill`] kills it (by pid, like every member).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), zk_integration_tests::HarnessError> {
    /// use zk_integration_tests::{RealZkEnsemble, ZkOptions};
    /// let mut zk = RealZkEnsemble::start(3, ZkOptions::default().reconfig_enabled(true)).await?;
    /// let joiner = zk.add_joiner(true)?;
    /// assert_eq!((joiner, zk.node(joiner).id()), (3, 4));
    /// zk.restart(joiner).await?; // serves, not yet a member
    /// // now `reconfig -add <zk.spec(joiner, "observer")>` through any member
    /// let _ = zk.spec(joiner, "observer");
    /// zk.kill(joiner);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Reserving ports or writing its directory failed.
    pub fn add_joiner(&mut self, observer: bool) -> Result<usize, HarnessError> {
        let index = self.nodes.len();
        let id = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let reserve = |what: &str| reserve_port().map_err(io_err(format!("reserving {what}")));
        let client = reserve("a joiner's client port")?;
        let peer = reserve("a joiner's peer port")?;
        let election = reserve("a joiner's election port")?;
        let mut servers = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let (p, e) = node.quorum_ports().unwrap_or_default();
            let role = if (self.participants..self.started).contains(&i) {
                ":observer"
            } else {
                ""
            };
            servers.push_str(&format!("server.{}=127.0.0.1:{p}:{e}{role}\n", node.id()));
        }
        let role = if observer { "observer" } else { "participant" };
        servers.push_str(&format!(
            "server.{id}=127.0.0.1:{}:{}:{role};{}\n",
            peer.port(),
            election.port(),
            client.addr()
        ));
        let node = ZkNode::create(
            id,
            client,
            Some(QuorumPorts { peer, election }),
            &servers,
            self.install.clone(),
            Arc::clone(&self.opts),
        )?;
        self.nodes.push(node);
        Ok(index)
    }

    /// Number of members (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True for an ensemble of zero members.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Member `i`.
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn node(&self, i: usize) -> &ZkNode {
        &self.nodes[i]
    }

    /// Member `i`, mutably.
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn node_mut(&mut self, i: usize) -> &mut ZkNode {
        &mut self.nodes[i]
    }

    /// All members.
    pub fn nodes(&self) -> &[ZkNode] {
        &self.nodes
    }

    /// Client addresses of all members, in member order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(ZkNode::addr).collect()
    }

    /// `127.0.0.1:a,127.0.0.1:b,...` for all members.
    pub fn connect_string(&self) -> String {
        self.addrs()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The current mode of every member, in member order.
    pub async fn modes(&self) -> Vec<ServerMode> {
        let mut modes = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            modes.push(node.mode().await);
        }
        modes
    }

    /// The index of the member that currently reports `Mode: leader`, if exactly one does.
    pub async fn leader(&self) -> Option<usize> {
        let modes = self.modes().await;
        let mut leaders = modes
            .iter()
            .enumerate()
            .filter(|(_, m)| **m == ServerMode::Leader);
        match (leaders.next(), leaders.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }

    /// Kills member `i` with `SIGKILL`.
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Restarts member `i` and waits until it serves again (it needs a live quorum to do so).
    ///
    /// # Errors
    /// As [`ZkNode::restart`].
    ///
    /// # Panics
    /// If `i` is out of range.
    pub async fn restart(&mut self, i: usize) -> Result<(), HarnessError> {
        self.nodes[i].restart().await
    }

    /// Waits until every *running* member serves, exactly one of them as leader; returns the
    /// leader's index.
    ///
    /// # Errors
    /// [`HarnessError::NotReady`] after `timeout`.
    pub async fn wait_for_quorum(&mut self, timeout: Duration) -> Result<usize, HarnessError> {
        self.wait_quorum(timeout, false).await
    }

    /// With `all_must_run`, a member that exits is an error instead of being left out.
    async fn wait_quorum(
        &mut self,
        timeout: Duration,
        all_must_run: bool,
    ) -> Result<usize, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if all_must_run {
                for node in &mut self.nodes {
                    node.check_alive()?;
                }
            }
            let running: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].is_running())
                .collect();
            let mut modes = Vec::with_capacity(running.len());
            for &i in &running {
                modes.push((i, self.nodes[i].mode().await));
            }
            let leaders: Vec<usize> = modes
                .iter()
                .filter(|(_, m)| *m == ServerMode::Leader)
                .map(|(i, _)| *i)
                .collect();
            let all_serving = modes.iter().all(|(_, m)| {
                matches!(
                    m,
                    ServerMode::Leader | ServerMode::Follower | ServerMode::Observer
                )
            });
            if leaders.len() == 1 && all_serving {
                return Ok(leaders[0]);
            }
            if Instant::now() >= deadline {
                let last = modes
                    .iter()
                    .map(|(i, m)| format!("server {}: {m}", i + 1))
                    .collect::<Vec<_>>()
                    .join(", ");
                let log_tail = running
                    .first()
                    .map(|&i| self.nodes[i].log_tail(40))
                    .unwrap_or_default();
                return Err(HarnessError::NotReady {
                    what: "ensemble quorum".to_owned(),
                    timeout,
                    last,
                    log_tail,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
