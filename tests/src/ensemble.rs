//! One ensemble under a differential test: the reference (a [`RealZkEnsemble`] of Apache
//! ZooKeeper 3.8.0 processes) or the project's own (a [`TestCluster`] of `zk-server-mini`
//! child processes), driven through the same calls so that a scenario can run on both and
//! its observations be compared.
//!
//! Members are named by server id, `1..=n` (the real ensemble's member index is `id - 1`).
//!
//! ```no_run
//! # async fn demo() {
//! use zk_integration_tests::ensemble::{Ensemble, EnsembleConfig};
//! use zk_integration_tests::{ServerMode, ZkOptions};
//! zk_integration_tests::require_real_zk!();
//! for real in [true, false] {
//!     let config = EnsembleConfig::new(3).real_options(ZkOptions::default().tick_time(500));
//!     let mut ensemble = Ensemble::start(real, &config).await;
//!     let leader = ensemble.wait_for_leader().await;
//!     ensemble.kill(leader).await;
//!     let rest: Vec<u64> = ensemble.ids().into_iter().filter(|id| *id != leader).collect();
//!     let next = ensemble.settle(&rest).await;
//!     assert_eq!(ensemble.mode(next).await, ServerMode::Leader);
//!     ensemble.stop().await;
//! }
//! # }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use zk_server_mini::cluster::TestCluster;

use crate::mini::mini_binary;
use crate::{RealZkEnsemble, ServerMode, ZkOptions, four_letter_word};

/// How long [`Ensemble`] waits for a leader, for members to settle or to start.
pub const WAIT: Duration = Duration::from_secs(60);

/// How to start an [`Ensemble`], on either side.
///
/// The real ensemble takes [`EnsembleConfig::real`] as it is. The mini ensemble is built with
/// [`TestCluster::builder`] as child processes of [`mini_binary`], with the same voters and
/// observers, a `tickTime` of [`EnsembleConfig::mini_tick_ms`], and from the real options:
/// read-only mode, `reconfigEnabled` (when [`EnsembleConfig::reconfig_enabled`] set it) and
/// the super user's digest; plus the lines of [`EnsembleConfig::mini_config`].
///
/// ```
/// use zk_integration_tests::ensemble::EnsembleConfig;
/// let config = EnsembleConfig::new(3).observers(1).reconfig_enabled(true).super_user("super", "secret");
/// assert_eq!((config.voters, config.observers, config.mini_tick_ms), (3, 1, 100));
/// assert!(config.real.reconfig_enabled && config.real.super_digest.is_some());
/// ```
#[derive(Debug, Clone)]
pub struct EnsembleConfig {
    /// Voting members, ids `1..=voters`.
    pub voters: usize,
    /// Observers after them, ids `voters + 1..`.
    pub observers: usize,
    /// The real members' options.
    pub real: ZkOptions,
    /// The mini's `tickTime` in milliseconds (default 100).
    pub mini_tick_ms: u64,
    /// `reconfigEnabled` as written into the mini's `zoo.cfg`; `None` leaves it out.
    pub mini_reconfig: Option<bool>,
    /// More `key=value` lines for the mini's `zoo.cfg`.
    pub mini_config: Vec<(String, String)>,
}

impl EnsembleConfig {
    /// `voters` voting members, no observers, default [`ZkOptions`], a mini tick of 100 ms.
    pub fn new(voters: usize) -> Self {
        Self {
            voters,
            observers: 0,
            real: ZkOptions::default(),
            mini_tick_ms: 100,
            mini_reconfig: None,
            mini_config: Vec::new(),
        }
    }

    /// Adds `n` observers after the voters.
    pub fn observers(mut self, n: usize) -> Self {
        self.observers = n;
        self
    }

    /// The real members' options (read-only mode and the super user carry over to the mini).
    pub fn real_options(mut self, opts: ZkOptions) -> Self {
        self.real = opts;
        self
    }

    /// Read-only mode (`readonlymode.enabled`) on both sides.
    pub fn read_only_mode(mut self, on: bool) -> Self {
        self.real = self.real.read_only_mode(on);
        self
    }

    /// `reconfigEnabled` on both sides.
    pub fn reconfig_enabled(mut self, on: bool) -> Self {
        self.real = self.real.reconfig_enabled(on);
        self.mini_reconfig = Some(on);
        self
    }

    /// Makes `user:password` a superuser (digest scheme) on both sides.
    pub fn super_user(mut self, user: &str, password: &str) -> Self {
        self.real = self.real.super_user(user, password);
        self
    }

    /// The mini's `tickTime` in milliseconds.
    pub fn mini_tick_ms(mut self, ms: u64) -> Self {
        self.mini_tick_ms = ms;
        self
    }

    /// One more `key=value` line in the mini's `zoo.cfg` only.
    pub fn mini_config(mut self, key: &str, value: &str) -> Self {
        self.mini_config.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// One of the two ensembles under test; members are named by server id.
///
/// Every process is stopped by [`Ensemble::stop`], or when the ensemble is dropped (a test
/// that panicked).
#[derive(Debug)]
pub enum Ensemble {
    /// Apache ZooKeeper 3.8.0.
    Real(RealZkEnsemble),
    /// `zk-server-mini` child processes.
    Mini(TestCluster),
}

/// The real member index of server `id`.
fn index(id: u64) -> usize {
    usize::try_from(id).unwrap_or(usize::MAX).saturating_sub(1)
}

impl Ensemble {
    /// Starts the real (`real`) or the mini ensemble that `config` describes, and waits until
    /// it has a leader with a quorum serving (the real one: until every member serves).
    ///
    /// # Panics
    /// When it cannot start, or no leader is elected within [`WAIT`].
    pub async fn start(real: bool, config: &EnsembleConfig) -> Self {
        let size = config.voters + config.observers;
        if real {
            let zk = RealZkEnsemble::start_with_observers(
                config.voters,
                config.observers,
                config.real.clone(),
            )
            .await
            .unwrap_or_else(|e| panic!("start a real ensemble of {size}: {e}"));
            Ensemble::Real(zk)
        } else {
            let mut builder = TestCluster::builder(config.voters)
                .observers(config.observers)
                .tick_ms(config.mini_tick_ms)
                .read_only_mode(config.real.read_only_mode)
                .processes(mini_binary());
            if let Some(on) = config.mini_reconfig {
                builder = builder.config("reconfigEnabled", &on.to_string());
            }
            if let Some(digest) = &config.real.super_digest {
                builder = builder.config("superDigest", digest);
            }
            for (key, value) in &config.mini_config {
                builder = builder.config(key, value);
            }
            let cluster = builder
                .start()
                .await
                .unwrap_or_else(|e| panic!("start a mini ensemble of {size}: {e}"));
            cluster.leader(WAIT).await.expect("a mini leader");
            Ensemble::Mini(cluster)
        }
    }

    /// True for the real ensemble.
    pub fn is_real(&self) -> bool {
        matches!(self, Ensemble::Real(_))
    }

    /// Every member's id, running or not, in order.
    pub fn ids(&self) -> Vec<u64> {
        match self {
            Ensemble::Real(zk) => (1..=zk.len() as u64).collect(),
            Ensemble::Mini(c) => c.ids(),
        }
    }

    /// Member `id`'s client address.
    ///
    /// # Panics
    /// If the real ensemble has no member `id`.
    pub fn addr(&self, id: u64) -> SocketAddr {
        match self {
            Ensemble::Real(zk) => zk.node(index(id)).addr(),
            Ensemble::Mini(c) => c.client_addr(id),
        }
    }

    /// Every member's client address, in id order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.ids().into_iter().map(|id| self.addr(id)).collect()
    }

    /// `127.0.0.1:a,127.0.0.1:b,...` for every member.
    pub fn connect_string(&self) -> String {
        match self {
            Ensemble::Real(zk) => zk.connect_string(),
            Ensemble::Mini(c) => c.connect_string(),
        }
    }

    /// The id of the member serving clients at `addr`.
    ///
    /// # Panics
    /// If no member does.
    pub fn id_at(&self, addr: SocketAddr) -> u64 {
        self.ids()
            .into_iter()
            .find(|id| self.addr(*id) == addr)
            .unwrap_or_else(|| panic!("no member at {addr}"))
    }

    /// Member `id`'s spec for `reconfig`: `server.N=127.0.0.1:<q>:<e>:<role>;127.0.0.1:<client>`.
    ///
    /// # Panics
    /// If there is no member `id`.
    pub fn spec(&self, id: u64, role: &str) -> String {
        match self {
            Ensemble::Real(zk) => zk.spec(index(id), role),
            Ensemble::Mini(c) => {
                let prefix = format!("server.{id}=");
                let cfg = c.zoo_cfg(id);
                let line = cfg
                    .lines()
                    .find_map(|l| l.strip_prefix(&prefix))
                    .unwrap_or_else(|| panic!("no {prefix} line in the mini's zoo.cfg:\n{cfg}"));
                let addr: Vec<&str> = line.split(':').take(3).collect();
                format!("{prefix}{}:{role};{}", addr.join(":"), c.client_addr(id))
            }
        }
    }

    /// Whether member `id`'s process runs (a frozen one counts).
    pub fn is_running(&mut self, id: u64) -> bool {
        match self {
            Ensemble::Real(zk) => zk.node_mut(index(id)).is_running(),
            Ensemble::Mini(c) => c.pid(id).is_some(),
        }
    }

    /// Kills member `id` with SIGKILL.
    pub async fn kill(&mut self, id: u64) {
        match self {
            Ensemble::Real(zk) => zk.kill(index(id)),
            Ensemble::Mini(c) => c.kill(id).await,
        }
    }

    /// Starts member `id` again on its data (killing it first if it runs). The real member is
    /// waited for until it serves (it needs a live quorum); the mini member only until it
    /// listens.
    ///
    /// # Panics
    /// When it cannot start (or, real, does not serve within its start timeout).
    pub async fn restart(&mut self, id: u64) {
        match self {
            Ensemble::Real(zk) => zk.restart(index(id)).await.expect("restart a real member"),
            Ensemble::Mini(c) => c.restart(id).await.expect("restart a mini member"),
        }
    }

    /// Starts member `id` again (killing it first if it runs) without waiting for it to serve.
    ///
    /// # Panics
    /// When it cannot start.
    pub async fn respawn(&mut self, id: u64) {
        match self {
            Ensemble::Real(zk) => zk
                .node_mut(index(id))
                .respawn()
                .expect("respawn a real member"),
            Ensemble::Mini(c) => c.restart(id).await.expect("restart a mini member"),
        }
    }

    /// Sends a four-letter word to member `id`; the reply, or `""` when it does not answer.
    pub async fn four_letter(&self, id: u64, word: &str) -> String {
        four_letter_word(self.addr(id), word)
            .await
            .unwrap_or_default()
    }

    /// Member `id`'s mode according to `srvr`; [`ServerMode::Unreachable`] when it does not
    /// answer, [`ServerMode::NotServing`] while it looks for a leader or syncs with one.
    pub async fn mode(&self, id: u64) -> ServerMode {
        match four_letter_word(self.addr(id), "srvr").await {
            Ok(reply) if !reply.is_empty() => ServerMode::from_srvr(&reply),
            _ => ServerMode::Unreachable,
        }
    }

    /// Waits up to [`WAIT`] for a leader with a quorum serving (the real ensemble: with every
    /// running member serving); returns its id.
    ///
    /// # Panics
    /// When there is none by then.
    pub async fn wait_for_leader(&mut self) -> u64 {
        match self {
            Ensemble::Real(zk) => {
                let leader = zk.wait_for_quorum(WAIT).await.expect("a real leader");
                leader as u64 + 1
            }
            Ensemble::Mini(c) => c.leader(WAIT).await.expect("a mini leader"),
        }
    }

    /// Waits up to [`WAIT`] until exactly one of `ids` leads and every other one of them
    /// follows or observes, all serving; returns the leader.
    ///
    /// # Panics
    /// When they have not settled by then (the message shows their modes).
    pub async fn settle(&self, ids: &[u64]) -> u64 {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut modes = Vec::with_capacity(ids.len());
            for &id in ids {
                modes.push((id, self.mode(id).await));
            }
            let leaders: Vec<u64> = modes
                .iter()
                .filter(|(_, m)| *m == ServerMode::Leader)
                .map(|(id, _)| *id)
                .collect();
            let others_serve = modes.iter().all(|(_, m)| {
                matches!(
                    m,
                    ServerMode::Leader | ServerMode::Follower | ServerMode::Observer
                )
            });
            if let [leader] = leaders[..]
                && others_serve
            {
                return leader;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no leader among {ids:?} with the others serving: {modes:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops every member.
    pub async fn stop(self) {
        match self {
            Ensemble::Real(zk) => drop(zk),
            Ensemble::Mini(c) => c.stop().await,
        }
    }
}

/// A `zk-client` session on the member at `addr` alone (a 10 s session timeout; the first
/// connection is waited for up to [`WAIT`]).
///
/// # Panics
/// When no session is established by then.
///
/// ```no_run
/// # async fn demo(ensemble: zk_integration_tests::ensemble::Ensemble) {
/// let client = zk_integration_tests::ensemble::session(ensemble.addr(1)).await;
/// client.sync("/").await.expect("sync");
/// # }
/// ```
pub async fn session(addr: SocketAddr) -> zk_client::Client {
    zk_client::Client::builder(&addr.to_string())
        .session_timeout(Duration::from_secs(10))
        .initial_connect_timeout(WAIT)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("a session at {addr}: {e}"))
}
