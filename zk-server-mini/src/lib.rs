//! A small ZooKeeper-compatible server: durable, standalone or a replicated ensemble (Zab),
//! built around one write path (prep → log → commit → apply → notify → reply).
//!
//! Unmodified ZooKeeper clients (Java, C, kazoo, this workspace's `zk-client`) talk to it as to
//! Apache ZooKeeper 3.8. Start one in-process for tests:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use zk_server_mini::MiniServer;
//!
//! let dir = std::env::temp_dir().join(format!("zk-mini-doc-{}", std::process::id()));
//! let server = MiniServer::builder().data_dir(&dir).start().await?;
//! let _connect_string = server.connect_string();
//! server.stop().await;
//! // Restart on the same data: every acknowledged write is still there.
//! let server = MiniServer::builder().data_dir(&dir).start().await?;
//! server.stop().await;
//! # let _ = std::fs::remove_dir_all(&dir);
//! # Ok(()) }
//! ```
//!
//! Module map: [`config`] (flags and `zoo.cfg`), [`tree`] (the data tree and its stat quirks),
//! [`txn`] (the transaction, the unit of logging and replication), [`prep`] (request →
//! transaction, all checks), [`apply`] (transaction → tree), [`watches`], [`session`]
//! (expiry buckets), [`acl_check`], [`state`] (the deterministic state machine that ties them
//! together), [`wal`], [`snapshot`], [`storage`] and [`dir_lock`] (durability), [`four_letter`],
//! [`testing`] (a raw protocol client for tests), [`zab`] (the consensus core), [`ensemble`]
//! (members from `server.N` lines: peer transport, the driver of the core), [`cluster`] (a
//! test ensemble with fault injection), and the socket side: `connection` (one task
//! pair per client) and `server` (accept loop and the state-machine task).
//!
//! The binary takes `--port PORT --data-dir DIR [--bind ADDR] [--tick-ms MS] [--4lw WORDS]` or
//! `--config zoo.cfg`, logs through `tracing` (`RUST_LOG`), and stops cleanly on SIGTERM/SIGINT.

pub mod acl_check;
mod admin_handle;
pub mod apply;
mod budget;
pub mod cluster;
pub mod config;
mod connection;
pub mod dir_lock;
pub mod disk;
pub mod ensemble;
pub mod fault_control;
pub mod four_letter;
pub mod ports;
pub mod prep;
pub mod reconfig;
pub mod replica;
mod running;
mod server;
pub mod session;
pub mod sim_disk;
pub mod snapshot;
pub mod state;
pub mod storage;
pub mod testing;
pub mod tree;
pub mod txn;
pub mod wal;
pub mod watches;
pub mod zab;
pub mod zxid;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

pub use admin_handle::AdminHandle;
pub use config::ServerConfig;
pub use running::RunningServer;

use crate::connection::ConnSettings;
use crate::four_letter::ServerFacts;
use crate::server::{CoreTask, accept_loop, wall_ms};
use crate::state::{CoreConfig, StateMachine};
use crate::storage::Storage;

/// Why a server could not start.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use zk_server_mini::MiniServer;
/// let dir = std::env::temp_dir().join(format!("zk-mini-err-doc-{}", std::process::id()));
/// use zk_server_mini::ServerError;
/// assert!(matches!(MiniServer::builder().start().await, Err(ServerError::NoDataDir)));
/// let first = MiniServer::builder().data_dir(&dir).start().await?;
/// let second = MiniServer::builder().data_dir(&dir).start().await;
/// assert!(matches!(second, Err(ServerError::DataDirInUse { .. })));
/// first.stop().await;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No data directory was given.
    #[error("a data directory is required (MiniServer::builder().data_dir(..))")]
    NoDataDir,
    /// Another server holds the data directory (or the data-log directory): its `LOCK` file
    /// is locked. Stop that server first, or use another directory.
    #[error(
        "the data directory {} is in use by another server (its LOCK file is locked); stop \
         that server or use another directory",
        dir.display()
    )]
    DataDirInUse {
        /// The directory that is in use.
        dir: PathBuf,
    },
    /// Recovery from the data directory failed.
    #[error("cannot recover from {dir}: {source}")]
    Recovery {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The server stopped by itself: its transaction log could not be written (see the log).
    #[error("the server stopped by itself: its transaction log could not be written")]
    Stopped,
    /// The ensemble configuration does not fit this member (a `myid` missing or not listed,
    /// a data directory of another ensemble, an unresolvable member address).
    #[error("ensemble: {why}")]
    Ensemble {
        /// What is wrong.
        why: String,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Entry point for the embedded API.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use zk_server_mini::MiniServer;
/// let dir = std::env::temp_dir().join(format!("zk-mini-entry-doc-{}", std::process::id()));
/// let server = MiniServer::builder().data_dir(&dir).start().await?;
/// assert!(server.is_running());
/// println!("connect to {}", server.connect_string());
/// server.stop().await;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MiniServer;

impl MiniServer {
    /// A builder with ZooKeeper's defaults, listening on a free loopback port.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-builder-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).tick_ms(500).start().await?;
    /// assert!(server.addr().ip().is_loopback()); // 127.0.0.1, free port
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn builder() -> Builder {
        Builder {
            config: ServerConfig::default(),
            log_sync_delay: Duration::ZERO,
            snapshot_write_delay: Duration::ZERO,
        }
    }
}

/// Configures and starts a server.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use zk_server_mini::MiniServer;
/// let dir = std::env::temp_dir().join(format!("zk-mini-builderty-doc-{}", std::process::id()));
/// use std::time::Duration;
/// let server = MiniServer::builder()
///     .data_dir(&dir)
///     .tick_ms(200)
///     .session_timeouts(400, 10_000)
///     .four_letter_words(&["srvr", "ruok"])
///     .extended_types(true)
///     .snap_count(10_000)
///     .container_check_interval(Duration::from_secs(1))
///     .start()
///     .await?;
/// server.stop().await;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    config: ServerConfig,
    log_sync_delay: Duration,
    snapshot_write_delay: Duration,
}

impl Builder {
    /// Starts from a whole configuration (for example one parsed from `zoo.cfg`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-cfg-doc-{}", std::process::id()));
    /// use zk_server_mini::ServerConfig;
    /// let cfg = ServerConfig::from_zoo_cfg(&format!("tickTime=500\ndataDir={}\nclientPort=0\n", dir.display()))?;
    /// let server = MiniServer::builder().config(cfg).start().await?;
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The directory for snapshots and (unless [`Builder::data_log_dir`]) the log.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-datadir-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// assert_eq!(server.data_dir(), dir.as_path());
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn data_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.config.data_dir = dir.as_ref().to_owned();
        self
    }

    /// A separate directory for the transaction log.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-logdir-doc-{}", std::process::id()));
    /// let log = dir.join("log"); // e.g. on a faster disk
    /// let server = MiniServer::builder().data_dir(dir.join("snap")).data_log_dir(&log).start().await?;
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn data_log_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.config.data_log_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// The port (0, the default, picks a free one).
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// let builder = MiniServer::builder().port(2181); // 0 (the default) picks a free port
    /// # drop(builder);
    /// ```
    pub fn port(mut self, port: u16) -> Self {
        self.config.port = port;
        self
    }

    /// The address to listen on (default 127.0.0.1).
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// use std::net::Ipv4Addr;
    /// let builder = MiniServer::builder().bind(Ipv4Addr::UNSPECIFIED.into()); // every interface
    /// # drop(builder);
    /// ```
    pub fn bind(mut self, addr: std::net::IpAddr) -> Self {
        self.config.bind = addr;
        self
    }

    /// `tickTime` in ms (default 2000).
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// // short ticks: faster session expiry in tests (sessions time out between 2 and 20 ticks)
    /// let builder = MiniServer::builder().tick_ms(100);
    /// # drop(builder);
    /// ```
    pub fn tick_ms(mut self, ms: u64) -> Self {
        self.config.tick_ms = ms;
        self
    }

    /// Session timeout bounds in ms (default `2*tick`, `20*tick`).
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// // clients asking for less than 1 s or more than 60 s get the bound
    /// let builder = MiniServer::builder().session_timeouts(1_000, 60_000);
    /// # drop(builder);
    /// ```
    pub fn session_timeouts(mut self, min_ms: i32, max_ms: i32) -> Self {
        self.config.min_session_timeout_ms = Some(min_ms);
        self.config.max_session_timeout_ms = Some(max_ms);
        self
    }

    /// `maxClientCnxns` per client address (0 = unlimited; default 60).
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// let builder = MiniServer::builder().max_client_cnxns(0); // no per-address limit
    /// # drop(builder);
    /// ```
    pub fn max_client_cnxns(mut self, n: usize) -> Self {
        self.config.max_client_cnxns = n;
        self
    }

    /// Four-letter words to allow (`["*"]` for all; default `srvr` only).
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// let builder = MiniServer::builder().four_letter_words(&["srvr", "ruok", "mntr"]);
    /// let all = MiniServer::builder().four_letter_words(&["*"]);
    /// # drop((builder, all));
    /// ```
    pub fn four_letter_words(mut self, words: &[&str]) -> Self {
        self.config.four_letter_whitelist = words.iter().map(|w| w.to_string()).collect();
        self
    }

    /// Enables TTL nodes (`extendedTypesEnabled`).
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// let builder = MiniServer::builder().extended_types(true); // TTL nodes accepted
    /// # drop(builder);
    /// ```
    pub fn extended_types(mut self, on: bool) -> Self {
        self.config.extended_types = on;
        self
    }

    /// A super digest, `super:<base64 sha1("super:password")>`
    /// (see [`zk_proto::acl::digest_id`]).
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// let digest = zk_proto::acl::digest_id("super", "secret"); // "super:<base64 sha1>"
    /// let builder = MiniServer::builder().super_digest(digest);
    /// // a client that adds auth `digest` `super:secret` may then do anything
    /// # drop(builder);
    /// ```
    pub fn super_digest(mut self, digest: impl Into<String>) -> Self {
        self.config.super_digest = Some(digest.into());
        self
    }

    /// `reconfigEnabled`. A standalone server then answers `reconfig` with `Unimplemented`
    /// (-6) instead of `ReconfigDisabled` (-123), as ZooKeeper 3.8.0 does.
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// let builder = MiniServer::builder().reconfig_enabled(true);
    /// # drop(builder);
    /// ```
    pub fn reconfig_enabled(mut self, on: bool) -> Self {
        self.config.reconfig_enabled = on;
        self
    }

    /// Transactions between snapshots (default 100000).
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// let builder = MiniServer::builder().snap_count(1_000); // smaller log, more snapshots
    /// # drop(builder);
    /// ```
    pub fn snap_count(mut self, n: u64) -> Self {
        self.config.snap_count = n.max(1);
        self
    }

    /// How often container and TTL nodes are checked (default 60 s).
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// use std::time::Duration;
    /// // empty containers and expired TTL nodes go within about a second
    /// let builder = MiniServer::builder().container_check_interval(Duration::from_secs(1));
    /// # drop(builder);
    /// ```
    pub fn container_check_interval(mut self, every: Duration) -> Self {
        self.config.container_check_interval_ms = every.as_millis() as u64;
        self
    }

    /// Time a new connection has to send its whole handshake (default 30 s): a client that
    /// drips its ConnectRequest byte by byte is cut off when it runs out, however often it
    /// sends a byte.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), zk_server_mini::ServerError> {
    /// use std::time::Duration;
    /// use zk_server_mini::MiniServer;
    ///
    /// let server = MiniServer::builder()
    ///     .data_dir("/tmp/zk-mini-limits")
    ///     .handshake_timeout(Duration::from_secs(5))
    ///     .max_connection_bytes(4 << 20)
    ///     .max_server_bytes(64 << 20)
    ///     .start()
    ///     .await?;
    /// server.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout_ms = timeout.as_millis().max(1) as u64;
        self
    }

    /// Request and reply bytes one connection may hold inside the server (default 8 MiB, at
    /// least one largest frame): past it the connection's socket is not read until replies
    /// drain, so one client cannot grow the server's memory.
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// let builder = MiniServer::builder().max_connection_bytes(2 << 20);
    /// # drop(builder);
    /// ```
    pub fn max_connection_bytes(mut self, bytes: usize) -> Self {
        self.config.max_connection_bytes = bytes;
        self
    }

    /// Request and reply bytes all connections together may hold inside the server (default
    /// 256 MiB): past it no socket is read until replies drain.
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// let builder = MiniServer::builder().max_server_bytes(64 << 20);
    /// # drop(builder);
    /// ```
    pub fn max_server_bytes(mut self, bytes: usize) -> Self {
        self.config.max_server_bytes = bytes;
        self
    }

    /// Fault injection: makes every log write take at least this long, as on a slow disk
    /// (default none). Not kept across [`RunningServer::restart`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-slowlog-doc-{}", std::process::id()));
    /// use std::time::Duration;
    /// let server = MiniServer::builder()
    ///     .data_dir(&dir)
    ///     .log_sync_delay(Duration::from_millis(20)) // every write now waits for the "disk"
    ///     .start()
    ///     .await?;
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn log_sync_delay(mut self, delay: Duration) -> Self {
        self.log_sync_delay = delay;
        self
    }

    /// Fault injection: makes every snapshot write take at least this long (the pause falls
    /// after the temporary file is written, before it is renamed into place), as on a slow
    /// disk (default none). Requests keep being served meanwhile. Not kept across
    /// [`RunningServer::restart`].
    ///
    /// ```
    /// use zk_server_mini::MiniServer;
    /// use std::time::Duration;
    /// let builder = MiniServer::builder()
    ///     .snap_count(100)
    ///     .snapshot_write_delay(Duration::from_secs(1)); // requests are served meanwhile
    /// # drop(builder);
    /// ```
    pub fn snapshot_write_delay(mut self, delay: Duration) -> Self {
        self.snapshot_write_delay = delay;
        self
    }

    /// Locks the data directories, recovers the state from them, binds the port and starts
    /// serving. The directories stay locked until the server has stopped.
    ///
    /// # Errors
    /// No data directory, a data directory in use by another server
    /// ([`ServerError::DataDirInUse`]), a recovery failure, or a port that cannot be bound.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-start-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// use zk_server_mini::testing::RawClient;
    /// let client = RawClient::connect(server.addr(), 10_000).await?;
    /// assert_ne!(client.session.session_id, 0);
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn start(self) -> Result<RunningServer, ServerError> {
        if self.config.data_dir.as_os_str().is_empty() {
            return Err(ServerError::NoDataDir);
        }
        if self.config.servers.len() > 1 {
            return self.start_member().await;
        }
        let config = self.config;
        let snap_dir = config.data_dir.clone();
        let log_dir = config.log_dir();
        let log_sync_delay = self.log_sync_delay;
        // Before recovery, which may truncate a log another server is appending to.
        let locks = dir_lock::lock_data_dirs(&snap_dir, &log_dir).map_err(|e| match e {
            dir_lock::LockError::InUse { dir } => ServerError::DataDirInUse { dir },
            dir_lock::LockError::Io { dir, source } => ServerError::Recovery { dir, source },
        })?;
        let (tree, mut storage) = {
            let (s, l) = (snap_dir.clone(), log_dir.clone());
            tokio::task::spawn_blocking(move || Storage::recover(&s, &l))
                .await
                .map_err(|e| ServerError::Recovery {
                    dir: snap_dir.clone(),
                    source: std::io::Error::other(e),
                })?
                .map_err(|source| ServerError::Recovery {
                    dir: snap_dir.clone(),
                    source,
                })?
        };
        storage.set_sync_delay(log_sync_delay);
        let (listener, addr) = bind_clients(&config).await?;
        // The one random draw: the state machine itself is deterministic.
        let core_config = core_config(&config, 1, rand::random(), false);
        let sm = StateMachine::new(tree, core_config, 0, wall_ms());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (core_tx, core_rx) = mpsc::channel(8192);
        let facts = ServerFacts {
            client_port: addr.port(),
            client_address: addr.ip().to_string(),
            data_dir: snap_dir.display().to_string(),
            data_log_dir: log_dir.display().to_string(),
            max_client_cnxns: config.max_client_cnxns,
            ..ServerFacts::default()
        };
        let core_wake = Arc::new(tokio::sync::Notify::new());
        let global_budget = budget::ByteBudget::new(config.max_server_bytes.max(1));
        let core = CoreTask {
            sm,
            storage: Some(storage),
            rx: core_rx,
            shutdown: shutdown_rx.clone(),
            facts,
            snap_count: config.snap_count.max(1),
            snapshot_write_delay: self.snapshot_write_delay,
            _locks: locks,
            reap_every: Duration::from_millis(config.container_check_interval_ms.max(1)),
            core_wake: core_wake.clone(),
            global_budget: global_budget.clone(),
            // Notifications are the only replies not held back: room for the budget, two
            // largest replies, and then some.
            max_queued_bytes: config
                .max_connection_bytes
                .saturating_mul(4)
                .saturating_add(config.max_frame_len.saturating_mul(2)),
        };
        let core_handle = tokio::spawn(core.run());
        let settings = ConnSettings::from_config(&config, global_budget, core_wake);
        let admin = core_tx.clone();
        let accept_handle = tokio::spawn(accept_loop(
            listener,
            core_tx,
            settings,
            config.max_client_cnxns,
            shutdown_rx,
        ));
        tracing::info!(%addr, data_dir = %snap_dir.display(), "zk-server-mini serving");
        Ok(RunningServer {
            addr,
            config,
            admin,
            data_dir: snap_dir,
            shutdown: shutdown_tx,
            core: Some(core_handle),
            accept: Some(accept_handle),
            transport: None,
            member: None,
        })
    }
}

/// The client port's listener, bound as `config` says, and its address.
pub(crate) async fn bind_clients(
    config: &ServerConfig,
) -> Result<(TcpListener, SocketAddr), ServerError> {
    let bind = SocketAddr::new(config.bind, config.port);
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| ServerError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr: bind, source })?;
    Ok((listener, addr))
}

/// The tick, bounded: it is added to `Instant`s and multiplied in the expiry buckets, and an
/// absurd `tickTime` must not overflow either.
pub(crate) fn tick_ms(config: &ServerConfig) -> u64 {
    config.tick_ms.clamp(1, i32::MAX as u64)
}

/// The state machine's settings for a server of `config` (standalone, or an ensemble member).
pub(crate) fn core_config(
    config: &ServerConfig,
    server_id: u8,
    session_secret: [u8; 16],
    ensemble: bool,
) -> CoreConfig {
    let (min, max) = config.session_timeouts();
    CoreConfig {
        tick_ms: tick_ms(config),
        min_session_timeout_ms: min,
        max_session_timeout_ms: max,
        extended_types: config.extended_types,
        max_data_len: config.max_frame_len,
        super_digest: config.super_digest.clone(),
        server_id,
        max_reply_len: config.max_frame_len.saturating_add(state::REPLY_SLACK),
        max_unsent_per_connection: config.max_connection_bytes,
        max_watches_per_connection: config.max_watches_per_connection,
        max_watch_bytes_per_connection: config.max_watch_bytes_per_connection,
        session_secret,
        reconfig: crate::prep::ReconfigPolicy {
            enabled: config.reconfig_enabled,
            skip_acl: config.skip_acl,
            ensemble,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::RawClient;

    #[tokio::test]
    async fn absurd_tick_and_timeouts_do_not_bring_the_server_down() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let server = MiniServer::builder()
            .data_dir(dir.path())
            .tick_ms(u64::MAX)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for timeout in [i32::MIN, -1, 0, i32::MAX] {
            let c = RawClient::connect(server.addr(), timeout).await;
            assert!(c.is_ok(), "timeout {timeout}: {c:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(server.is_running());
        server.stop().await;
    }
}
