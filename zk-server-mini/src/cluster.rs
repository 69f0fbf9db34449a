//! A test ensemble for integration tests: start N members in-process (or as child processes
//! of the `zk-server-mini` binary), connect clients with [`TestCluster::connect_string`], and
//! inject faults — kill, restart on the same data, pause, partition, heal, drop client
//! connections, expire a session, slow a member's disk.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use zk_server_mini::cluster::TestCluster;
//!
//! let mut cluster = TestCluster::builder(3).tick_ms(100).start().await?;
//! let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
//! let _connect = cluster.connect_string(); // "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3"
//! cluster.kill(leader).await;
//! let next = cluster.leader(Duration::from_secs(20)).await.expect("a new leader");
//! assert_ne!(next, leader);
//! cluster.restart(leader).await?;
//! cluster.stop().await;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::config::{PeerAddr, ServerConfig};
use crate::fault_control::Control;
use crate::{MiniServer, RunningServer, ServerError};

mod faults;
mod membership;

/// How members run.
///
/// ```
/// use zk_server_mini::cluster::{MemberKind, TestCluster};
/// let in_process = TestCluster::builder(3); // MemberKind::InProcess, the default
/// let processes = TestCluster::builder(3).processes("target/debug/zk-server-mini"); // MemberKind::Process
/// let kind = MemberKind::Process("target/debug/zk-server-mini".into());
/// assert!(matches!(kind, MemberKind::Process(_)));
/// # drop((in_process, processes));
/// ```
#[derive(Debug, Clone)]
pub enum MemberKind {
    /// Tasks in this process (fast; kill aborts the tasks, pause freezes the member).
    InProcess,
    /// Child processes of this binary (kill is SIGKILL, pause is SIGSTOP).
    Process(PathBuf),
}

/// Configures a [`TestCluster`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use zk_server_mini::cluster::TestCluster;
/// let cluster = TestCluster::builder(3).tick_ms(50).snap_count(1_000).start().await?;
/// assert_eq!(cluster.ids(), [1, 2, 3]);
/// cluster.stop().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    size: usize,
    tick_ms: u64,
    kind: MemberKind,
    dir: Option<PathBuf>,
    snap_count: u64,
    observers: usize,
    read_only_mode: bool,
    extra_config: Vec<(String, String)>,
}

impl ClusterBuilder {
    /// `tickTime` (default 100 ms: elections take a few ticks).
    ///
    /// ```
    /// use zk_server_mini::cluster::TestCluster;
    /// let builder = TestCluster::builder(3).tick_ms(50); // faster elections and session expiry
    /// # drop(builder);
    /// ```
    pub fn tick_ms(mut self, ms: u64) -> Self {
        self.tick_ms = ms.max(1);
        self
    }

    /// Runs members as child processes of `binary` (the `zk-server-mini` executable).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), zk_server_mini::ServerError> {
    /// use zk_server_mini::cluster::TestCluster;
    /// // e.g. env!("CARGO_BIN_EXE_zk-server-mini") in an integration test of this package
    /// let cluster = TestCluster::builder(3).processes("target/debug/zk-server-mini").start().await?;
    /// assert!(cluster.pid(1).is_some()); // kill is SIGKILL, pause is SIGSTOP
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn processes(mut self, binary: impl Into<PathBuf>) -> Self {
        self.kind = MemberKind::Process(binary.into());
        self
    }

    /// Where the members' data directories go (default: a new directory under the system's
    /// temporary directory, removed by [`TestCluster::stop`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::cluster::TestCluster;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-cluster-dir-doc-{}", std::process::id()));
    /// let cluster = TestCluster::builder(3).dir(&dir).start().await?;
    /// assert_eq!(cluster.data_dir(1), dir.join("member-1"));
    /// cluster.stop().await; // a directory given here is left in place
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Transactions between snapshots (default 100000).
    ///
    /// ```
    /// use zk_server_mini::cluster::TestCluster;
    /// let builder = TestCluster::builder(3).snap_count(100); // snapshots (and their sync) early
    /// # drop(builder);
    /// ```
    pub fn snap_count(mut self, n: u64) -> Self {
        self.snap_count = n.max(1);
        self
    }

    /// Adds `n` observers (non-voting members, `server.N=...:observer`) after the voting
    /// members: `builder(3).observers(1)` starts members 1..=3 voting and member 4 observing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).observers(1).start().await?;
    /// assert_eq!(cluster.ids(), [1, 2, 3, 4]);
    /// assert_eq!(cluster.observers(), [4]);
    /// assert!(cluster.zoo_cfg(4).contains("peerType=observer"));
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn observers(mut self, n: usize) -> Self {
        self.observers = n;
        self
    }

    /// Read-only mode (`readonlymode.enabled=true` in every member's `zoo.cfg`): a member
    /// cut off from the quorum serves read-only sessions (default off).
    ///
    /// ```
    /// use zk_server_mini::cluster::TestCluster;
    /// let builder = TestCluster::builder(3).read_only_mode(true);
    /// # drop(builder);
    /// ```
    pub fn read_only_mode(mut self, on: bool) -> Self {
        self.read_only_mode = on;
        self
    }

    /// One more `key=value` line in every member's `zoo.cfg` (`reconfigEnabled`,
    /// `superDigest`, `skipACL`, ...).
    ///
    /// ```
    /// use zk_server_mini::cluster::TestCluster;
    /// let builder = TestCluster::builder(3).config("reconfigEnabled", "true");
    /// # drop(builder);
    /// ```
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.extra_config.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Starts every member.
    ///
    /// # Errors
    /// A member that cannot start.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// assert!(cluster.ids().contains(&leader));
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub async fn start(self) -> Result<TestCluster, ServerError> {
        let (dir, owned) = match &self.dir {
            Some(d) => (d.clone(), false),
            None => {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let d = std::env::temp_dir()
                    .join(format!("zk-mini-cluster-{}-{n}", std::process::id()));
                (d, true)
            }
        };
        // Ports are picked free, then bound by the members: something else may take one in
        // between. An in-process member that cannot bind is retried on fresh ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut servers = BTreeMap::new();
            let mut client_ports = BTreeMap::new();
            let mut ports = Vec::new();
            for id in 1..=(self.size + self.observers) as u64 {
                servers.insert(
                    id,
                    PeerAddr {
                        host: "127.0.0.1".into(),
                        quorum_port: free_port(&mut ports),
                        election_port: free_port(&mut ports),
                        observer: id > self.size as u64,
                        client: None,
                    },
                );
                client_ports.insert(id, free_port(&mut ports));
            }
            let mut cluster = TestCluster {
                builder: Box::new(self.clone()),
                dir: dir.clone(),
                owned,
                servers,
                client_ports,
                ports,
                listed: BTreeMap::new(),
                members: BTreeMap::new(),
                control: std::sync::Mutex::new(BTreeMap::new()),
            };
            let ids: Vec<u64> = cluster.servers.keys().copied().collect();
            let mut failed = None;
            for id in ids {
                if let Err(e) = cluster.launch(id).await {
                    failed = Some(e);
                    break;
                }
            }
            match failed {
                None => return Ok(cluster),
                Some(ServerError::Bind { .. }) if attempt < 5 => {
                    let ids: Vec<u64> = cluster.servers.keys().copied().collect();
                    for id in ids {
                        cluster.kill(id).await;
                        // Its ensemble id names the old ports: start it afresh.
                        let _ = std::fs::remove_dir_all(cluster.data_dir(id));
                    }
                }
                Some(e) => return Err(e),
            }
        }
    }
}

/// A `server.N` value: `host:quorum:election[:observer]`, or for a member added later
/// (which names its client address) ZooKeeper's dynamic form,
/// `host:quorum:election:participant|observer;clientHost:clientPort`.
fn server_line(a: &PeerAddr) -> String {
    let base = format!("{}:{}:{}", a.host, a.quorum_port, a.election_port);
    match &a.client {
        Some(client) => {
            let role = if a.observer {
                "observer"
            } else {
                "participant"
            };
            format!("{base}:{role};{client}")
        }
        None if a.observer => format!("{base}:observer"),
        None => base,
    }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A free port for a member, reserved in `held` for as long as the cluster lives (see
/// [`crate::ports`]): below the kernel's ephemeral range, so no outgoing connection takes it
/// while its member is down and a restarted member binds it again; not one another test
/// (in this process or another using [`crate::ports`]) was handed. Falls back to a port the
/// OS says is free when no reservation can be made.
fn free_port(held: &mut Vec<crate::ports::PortReservation>) -> u16 {
    if let Ok(r) = crate::ports::reserve_port() {
        let port = r.port();
        held.push(r);
        return port;
    }
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    for _ in 0..100 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        if port != 0 && GIVEN.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
    0
}

enum Running {
    InProcess(Box<RunningServer>),
    Process(std::process::Child),
}

/// A running test ensemble. See the module docs.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use zk_server_mini::cluster::TestCluster;
/// let cluster = TestCluster::builder(3).start().await?;
/// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
/// let mut client = zk_server_mini::testing::RawClient::connect(cluster.client_addr(leader), 10_000).await?;
/// assert!(cluster.expire_session(client.session.session_id).await);
/// assert!(client.closed_within(Duration::from_secs(5)).await);
/// cluster.stop().await;
/// # Ok(()) }
/// ```
pub struct TestCluster {
    builder: Box<ClusterBuilder>,
    dir: PathBuf,
    owned: bool,
    servers: BTreeMap<u64, PeerAddr>,
    client_ports: BTreeMap<u64, u16>,
    /// The reservations of every port above, held while the cluster lives.
    ports: Vec<crate::ports::PortReservation>,
    /// Per member added later ([`TestCluster::add_member`]): the members its `zoo.cfg`
    /// lists (those there were when it joined, and itself). The others list the first ones.
    listed: BTreeMap<u64, Vec<u64>>,
    members: BTreeMap<u64, Running>,
    /// Per child-process member: what its fault-control file asks (see
    /// [`crate::fault_control`]).
    control: std::sync::Mutex<BTreeMap<u64, Control>>,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster")
            .field("dir", &self.dir)
            .field("client_ports", &self.client_ports)
            .field("running", &self.members.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl TestCluster {
    /// A builder for `size` members (3 or 5 make sense).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// assert_eq!(cluster.ids().len(), 3);
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn builder(size: usize) -> ClusterBuilder {
        ClusterBuilder {
            size: size.max(1),
            tick_ms: 100,
            kind: MemberKind::InProcess,
            dir: None,
            snap_count: 100_000,
            observers: 0,
            read_only_mode: false,
            extra_config: Vec::new(),
        }
    }

    /// The `zoo.cfg` every member runs with (its `dataDir` differs per member).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// let cfg = cluster.zoo_cfg(1);
    /// assert!(cfg.contains("server.1=") && cfg.contains("server.3="));
    /// let parsed = zk_server_mini::ServerConfig::from_zoo_cfg(&cfg)?;
    /// assert_eq!(parsed.servers.len(), 3);
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn zoo_cfg(&self, id: u64) -> String {
        let mut s = format!(
            "tickTime={}\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nsnapCount={}\n\
             maxSessionTimeout=60000\n",
            self.builder.tick_ms,
            self.data_dir(id).display(),
            self.client_ports.get(&id).copied().unwrap_or(0),
            self.builder.snap_count,
        );
        if self.servers.get(&id).is_some_and(|a| a.observer) {
            s.push_str("peerType=observer\n");
        }
        let first: Vec<u64>;
        let listed = match self.listed.get(&id) {
            Some(ids) => ids,
            None => {
                first = self.first_members();
                &first
            }
        };
        for n in listed {
            if let Some(a) = self.servers.get(n) {
                s.push_str(&format!("server.{n}={}\n", server_line(a)));
            }
        }
        if self.builder.read_only_mode {
            s.push_str("readonlymode.enabled=true\n");
        }
        for (k, v) in &self.builder.extra_config {
            s.push_str(&format!("{k}={v}\n"));
        }
        s
    }

    /// The ids of the observers (see [`ClusterBuilder::observers`]); a member's role is also
    /// in its `srvr` `Mode` ([`TestCluster::mode`]) and its
    /// [`crate::ensemble::MemberStatus::role`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// assert!(cluster.observers().is_empty());
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn observers(&self) -> Vec<u64> {
        self.servers
            .iter()
            .filter(|(_, a)| a.observer)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Member `id`'s data directory.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// assert!(cluster.data_dir(2).starts_with(cluster.dir()));
    /// assert!(cluster.data_dir(2).join("myid").exists());
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.join(format!("member-{id}"))
    }

    async fn launch(&mut self, id: u64) -> Result<(), ServerError> {
        let data = self.data_dir(id);
        let io = |source| ServerError::Recovery {
            dir: data.clone(),
            source,
        };
        std::fs::create_dir_all(&data).map_err(io)?;
        std::fs::write(data.join("myid"), format!("{id}\n")).map_err(io)?;
        let cfg_text = self.zoo_cfg(id);
        let running = match &self.builder.kind {
            MemberKind::InProcess => {
                let cfg = ServerConfig::from_zoo_cfg(&cfg_text)
                    .map_err(|e| ServerError::Ensemble { why: e.to_string() })?;
                Running::InProcess(Box::new(MiniServer::builder().config(cfg).start().await?))
            }
            MemberKind::Process(binary) => {
                let path = data.join("zoo.cfg");
                std::fs::write(&path, cfg_text).map_err(io)?;
                let log = std::fs::File::create(data.join("member.log")).map_err(io)?;
                let err = log.try_clone().map_err(io)?;
                let control = data.join("faults");
                std::fs::write(&control, self.control_of(id).render()).map_err(io)?;
                let child = std::process::Command::new(binary)
                    .arg("--config")
                    .arg(&path)
                    .env("ZK_MINI_FAULT_CONTROL", &control)
                    .stdout(log)
                    .stderr(err)
                    .spawn()
                    .map_err(io)?;
                Running::Process(child)
            }
        };
        self.members.insert(id, running);
        Ok(())
    }

    /// Every member's id.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// assert_eq!(cluster.ids(), [1, 2, 3]);
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn ids(&self) -> Vec<u64> {
        self.servers.keys().copied().collect()
    }

    /// Member `id`'s client address.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// let addr = cluster.client_addr(leader);
    /// let client = zk_server_mini::testing::RawClient::connect(addr, 10_000).await?;
    /// assert_ne!(client.session.session_id, 0);
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn client_addr(&self, id: u64) -> SocketAddr {
        let port = self.client_ports.get(&id).copied().unwrap_or(0);
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// `host:port,...` of every member, for a client's connect string.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// let connect = cluster.connect_string(); // give it to any ZooKeeper client
    /// assert_eq!(connect.split(',').count(), 3);
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn connect_string(&self) -> String {
        self.ids()
            .into_iter()
            .map(|id| self.client_addr(id).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The process id of a child-process member.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// assert_eq!(cluster.pid(1), None); // in-process members have no pid
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn pid(&self, id: u64) -> Option<u32> {
        match self.members.get(&id)? {
            Running::Process(c) => Some(c.id()),
            Running::InProcess(_) => None,
        }
    }

    /// Member `id`'s `srvr` Mode (`leader`, `follower`, `observer`, `read-only`), or
    /// `not serving` while it looks for a leader or syncs with one (its `srvr` then says
    /// only that, as ZooKeeper's does); `None` if it does not answer.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// assert_eq!(cluster.mode(leader).await.as_deref(), Some("leader"));
    /// let other = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    /// println!("member {other}: {:?}", cluster.mode(other).await); // e.g. Some("follower")
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub async fn mode(&self, id: u64) -> Option<String> {
        if !self.members.contains_key(&id) {
            return None;
        }
        let reply = four_letter(self.client_addr(id), "srvr").await?;
        if reply == crate::four_letter::NOT_SERVING {
            return Some("not serving".to_owned());
        }
        reply
            .lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(|m| m.trim().to_owned())
    }

    /// Waits up to `within` for exactly one running member to lead, serving clients, with a
    /// quorum of members following it and every following member taking clients (members
    /// that are looking, paused or dead are not waited for); returns its id.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// assert!(cluster.ids().contains(&leader));
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub async fn leader(&self, within: Duration) -> Option<u64> {
        let deadline = Instant::now() + within;
        let quorum = self.servers.values().filter(|a| !a.observer).count() / 2 + 1;
        loop {
            let mut leaders = Vec::new();
            let (mut followers, mut unready) = (0, 0);
            for id in self.members.keys() {
                match self.mode(*id).await.as_deref() {
                    Some("leader") => leaders.push(*id),
                    Some("follower") => followers += 1,
                    Some("not serving") if self.syncing(*id) => unready += 1,
                    _ => {}
                }
            }
            if let [one] = leaders[..]
                && unready == 0
                && followers + 1 >= quorum
                && self.serving(one).await
            {
                return Some(one);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Member `id`'s status (role, serving, applied zxid) when it runs in this process;
    /// `None` for a child process or a member that is not running.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// use zk_server_mini::zab::Role;
    /// let cluster = TestCluster::builder(3).observers(1).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// let status = cluster.member_status(4).expect("in process");
    /// assert!(matches!(status.role, Role::Observing { .. } | Role::Looking));
    /// assert_eq!(cluster.member_status(leader).map(|s| s.role), Some(Role::Leading));
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn member_status(&self, id: u64) -> Option<crate::ensemble::MemberStatus> {
        match self.members.get(&id) {
            Some(Running::InProcess(s)) => s.member_status(),
            _ => None,
        }
    }

    /// Whether member `id`, not serving, follows or observes a leader (it is syncing with
    /// it), as opposed to looking for one; known of members in this process only (a child
    /// process's `srvr` does not tell).
    fn syncing(&self, id: u64) -> bool {
        match self.members.get(&id) {
            Some(Running::InProcess(s)) => s.member_status().is_some_and(|m| {
                !m.takes_clients
                    && matches!(
                        m.role,
                        crate::zab::Role::Following { .. } | crate::zab::Role::Observing { .. }
                    )
            }),
            _ => false,
        }
    }

    /// Whether member `id` accepts client sessions now.
    async fn serving(&self, id: u64) -> bool {
        match self.members.get(&id) {
            Some(Running::InProcess(s)) => s.member_status().is_some_and(|m| m.serving),
            Some(Running::Process(_)) => true,
            None => false,
        }
    }

    /// Stops every member (SIGKILL for child processes) and removes the data directories
    /// this cluster created.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// let dir = cluster.dir().to_owned();
    /// cluster.stop().await;
    /// assert!(!dir.exists()); // the directory it created is gone
    /// # Ok(()) }
    /// ```
    pub async fn stop(mut self) {
        let ids: Vec<u64> = self.members.keys().copied().collect();
        for id in ids {
            match self.members.remove(&id) {
                Some(Running::InProcess(s)) => s.stop().await,
                Some(Running::Process(mut c)) => {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                None => {}
            }
        }
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// The directory holding the members' data.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// println!("member data under {}", cluster.dir().display());
    /// assert!(cluster.data_dir(1).starts_with(cluster.dir()));
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A cluster dropped without [`TestCluster::stop`] (a test that panicked) still kills its
/// child processes, signals its in-process members to stop, and removes the data directory
/// it created.
impl Drop for TestCluster {
    fn drop(&mut self) {
        for (_, m) in std::mem::take(&mut self.members) {
            match m {
                Running::Process(mut c) => {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                Running::InProcess(s) => drop(s),
            }
        }
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .status();
}

/// Sends a four-letter word and reads the reply (`None` when the member does not answer
/// within a second).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("zk-mini-4lw-doc-{}", std::process::id()));
/// let server = zk_server_mini::MiniServer::builder().data_dir(&dir).start().await?;
/// let srvr = zk_server_mini::cluster::four_letter(server.addr(), "srvr").await;
/// assert!(srvr.is_some_and(|s| s.contains("Mode: standalone")));
/// server.stop().await;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok(()) }
/// ```
pub async fn four_letter(addr: SocketAddr, word: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(word.as_bytes()).await.ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        Some(out)
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()
        .flatten()
}
