//! The reference server: Apache ZooKeeper 3.8.0 from Debian, run as a child process on loopback.
//!
//! Each server gets its own temporary directory (data dir, `zoo.cfg`, logs) and ports from
//! [`crate::ports`]. The process is started in its own process group and killed with `SIGKILL` on
//! the whole group when its handle is dropped, so a failing test leaves no `java` behind.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zk_integration_tests::HarnessError> {
//! use zk_integration_tests::{RealZk, ZkOptions};
//! zk_integration_tests::require_real_zk!(ret: Ok(()));
//! let zk = RealZk::start_standalone(ZkOptions::default().extended_types(true)).await?;
//! let connect = zk.connect_string(); // "127.0.0.1:<port>"
//! assert_eq!(zk.four_letter("ruok").await?, "imok");
//! # let _ = connect; Ok(()) }
//! ```

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use sha1::{Digest, Sha1};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::ports::{PortReservation, reserve_port};

mod ensemble;
pub use ensemble::RealZkEnsemble;

/// Where Debian's `libzookeeper-java` puts the server jar.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// Jars added after [`ZOOKEEPER_JAR`] when they exist.
///
/// The jar's manifest `Class-Path` pulls in most of its dependencies but misses three Netty jars
/// (needed by `NettyServerCnxnFactory`; without them Netty-based listeners accept connections and
/// silently drop them). `slf4j-simple` gives the server a logging backend, so it writes a log file.
pub const EXTRA_JARS: [&str; 4] = [
    "/usr/share/java/netty-codec.jar",
    "/usr/share/java/netty-resolver.jar",
    "/usr/share/java/netty-transport-native-unix-common.jar",
    "/usr/share/java/slf4j-simple.jar",
];

/// The main class for both standalone servers and ensemble members.
pub const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// Errors from starting or controlling a reference server.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Java or the ZooKeeper jars are not installed.
    #[error("reference ZooKeeper server not available: {0}")]
    Unavailable(String),
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The server process exited while the harness waited for it to serve.
    #[error("ZooKeeper server {id} exited during startup ({status}); log tail:\n{log_tail}")]
    Exited {
        /// Server id (1 for a standalone server).
        id: u32,
        /// The exit status as text.
        status: String,
        /// The last lines of the server's log.
        log_tail: String,
    },
    /// The server (or ensemble) did not reach the wanted state in time.
    #[error(
        "ZooKeeper {what} not ready after {timeout:?}; last seen: {last}; log tail:\n{log_tail}"
    )]
    NotReady {
        /// What was waited for.
        what: String,
        /// How long the harness waited.
        timeout: Duration,
        /// The last observed state.
        last: String,
        /// The last lines of the log of the server concerned.
        log_tail: String,
    },
}

impl From<io::Error> for HarnessError {
    fn from(source: io::Error) -> Self {
        HarnessError::Io {
            context: "I/O with the reference server".to_owned(),
            source,
        }
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> HarnessError {
    let context = context.into();
    move |source| HarnessError::Io { context, source }
}

/// How a server describes itself in the `Mode:` line of `srvr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMode {
    /// A single server without quorum configuration.
    Standalone,
    /// The elected leader of an ensemble.
    Leader,
    /// A voting follower.
    Follower,
    /// A non-voting observer.
    Observer,
    /// Partitioned from its quorum and serving read-only sessions (`readonlymode.enabled`).
    ReadOnly,
    /// Answering four-letter words but not serving clients (election in progress).
    NotServing,
    /// Not answering on its client port at all.
    Unreachable,
}

impl ServerMode {
    /// True when clients can open sessions on the server.
    pub fn is_serving(self) -> bool {
        matches!(
            self,
            Self::Standalone | Self::Leader | Self::Follower | Self::Observer | Self::ReadOnly
        )
    }

    /// Reads the mode out of a `srvr` (or `stat`) reply.
    pub fn from_srvr(reply: &str) -> Self {
        let mode = reply
            .lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(str::trim);
        match mode {
            Some("standalone") => Self::Standalone,
            Some("leader") => Self::Leader,
            Some("follower") => Self::Follower,
            Some("observer") => Self::Observer,
            Some("read-only") => Self::ReadOnly,
            _ => Self::NotServing,
        }
    }
}

impl fmt::Display for ServerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Configuration of a reference server (or of every member of an ensemble).
///
/// Defaults: `tickTime=2000`, stock session-timeout bounds (`2*tick`..`20*tick`), no TTL nodes, no
/// superuser, NIO connection factory, `maxClientCnxns=0` (unlimited, so parallel tests from
/// 127.0.0.1 are not throttled), 256 MB heap, 60 s start timeout. `admin.enableServer=false` and
/// `4lw.commands.whitelist=*` are always set.
#[derive(Debug, Clone)]
pub struct ZkOptions {
    /// `tickTime` in milliseconds; sessions expire in buckets of this size.
    pub tick_time_ms: u32,
    /// `initLimit` in ticks (ensembles).
    pub init_limit: u32,
    /// `syncLimit` in ticks (ensembles).
    pub sync_limit: u32,
    /// `minSessionTimeout` in ms; `None` keeps the default `2*tickTime`.
    pub min_session_timeout_ms: Option<u32>,
    /// `maxSessionTimeout` in ms; `None` keeps the default `20*tickTime`.
    pub max_session_timeout_ms: Option<u32>,
    /// `zookeeper.extendedTypesEnabled`: allow TTL nodes (opcode 21).
    pub extended_types: bool,
    /// `zookeeper.DigestAuthenticationProvider.superDigest`, as `user:base64(sha1(user:password))`.
    pub super_digest: Option<String>,
    /// `readonlymode.enabled`: a member cut off from its quorum serves read-only sessions.
    pub read_only_mode: bool,
    /// Use `NettyServerCnxnFactory` instead of the default NIO factory.
    pub netty: bool,
    /// `reconfigEnabled`: allow dynamic reconfiguration (opcode 16).
    pub reconfig_enabled: bool,
    /// `maxClientCnxns` per client IP; 0 means unlimited.
    pub max_client_cnxns: u32,
    /// More `key=value` lines for `zoo.cfg`.
    pub extra_config: Vec<(String, String)>,
    /// More `-Dkey=value` JVM system properties.
    pub jvm_properties: Vec<(String, String)>,
    /// JVM maximum heap in MB.
    pub heap_mb: u32,
    /// How long a start or restart may take before it fails with [`HarnessError::NotReady`].
    pub start_timeout: Duration,
}

impl Default for ZkOptions {
    fn default() -> Self {
        Self {
            tick_time_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            extended_types: false,
            super_digest: None,
            read_only_mode: false,
            netty: false,
            reconfig_enabled: false,
            max_client_cnxns: 0,
            extra_config: Vec::new(),
            jvm_properties: Vec::new(),
            heap_mb: 256,
            start_timeout: Duration::from_secs(60),
        }
    }
}

impl ZkOptions {
    /// Sets `tickTime` (ms).
    pub fn tick_time(mut self, ms: u32) -> Self {
        self.tick_time_ms = ms;
        self
    }

    /// Sets `minSessionTimeout` and `maxSessionTimeout` (ms).
    pub fn session_timeouts(mut self, min_ms: u32, max_ms: u32) -> Self {
        self.min_session_timeout_ms = Some(min_ms);
        self.max_session_timeout_ms = Some(max_ms);
        self
    }

    /// Enables or disables TTL nodes (`extendedTypesEnabled`).
    pub fn extended_types(mut self, on: bool) -> Self {
        self.extended_types = on;
        self
    }

    /// Makes `user:password` a superuser (digest scheme), e.g. `super_user("super", "secret")`.
    pub fn super_user(mut self, user: &str, password: &str) -> Self {
        self.super_digest = Some(digest_credential(user, password));
        self
    }

    /// Enables or disables read-only mode (`readonlymode.enabled`).
    pub fn read_only_mode(mut self, on: bool) -> Self {
        self.read_only_mode = on;
        self
    }

    /// Uses the Netty connection factory.
    pub fn netty(mut self, on: bool) -> Self {
        self.netty = on;
        self
    }

    /// Enables or disables `reconfigEnabled`.
    pub fn reconfig_enabled(mut self, on: bool) -> Self {
        self.reconfig_enabled = on;
        self
    }

    /// Adds a `key=value` line to `zoo.cfg`.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.extra_config.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Adds a `-Dkey=value` JVM system property.
    pub fn jvm_property(mut self, key: &str, value: &str) -> Self {
        self.jvm_properties.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Sets how long a start or restart may take.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }
}

/// The identity ZooKeeper's digest provider derives from `user:password`:
/// `user:BASE64(SHA1("user:password"))`.
///
/// ```
/// assert_eq!(
///     zk_integration_tests::real_zk::digest_credential("alice", "secret"),
///     "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="
/// );
/// ```
pub fn digest_credential(user: &str, password: &str) -> String {
    let hash = Sha1::digest(format!("{user}:{password}").as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Sends a four-letter word (`ruok`, `srvr`, `mntr`, ...) and returns the whole reply.
///
/// Gives up after 5 s.
///
/// # Errors
/// Connection refused, reset, or the timeout.
pub async fn four_letter_word(addr: SocketAddr, word: &str) -> io::Result<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(word.as_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok(String::from_utf8_lossy(&reply).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("4lw {word} to {addr}: no reply in 5 s"),
            )
        })?
}

/// The Java binary and classpath that run the reference server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    /// The `java` executable.
    pub java: PathBuf,
    /// The `-cp` argument.
    pub classpath: String,
}

impl Installation {
    /// Finds Java (`$JAVA`, else `java` on `PATH`, else `/usr/bin/java`) and the classpath
    /// (`$ZK_CLASSPATH`, else [`ZOOKEEPER_JAR`] plus the existing [`EXTRA_JARS`]).
    ///
    /// The answer is computed once per process.
    ///
    /// # Errors
    /// A sentence saying what is missing and how to install it.
    pub fn locate() -> Result<Installation, String> {
        static FOUND: OnceLock<Result<Installation, String>> = OnceLock::new();
        FOUND.get_or_init(locate_uncached).clone()
    }
}

fn locate_uncached() -> Result<Installation, String> {
    let java = match std::env::var_os("JAVA") {
        Some(j) => PathBuf::from(j),
        None => find_in_path("java").unwrap_or_else(|| PathBuf::from("/usr/bin/java")),
    };
    if !java.is_file() {
        return Err(format!(
            "no Java runtime at {} (install with `apt-get install zookeeper`, which pulls in a JRE, or set $JAVA)",
            java.display()
        ));
    }
    let classpath = match std::env::var("ZK_CLASSPATH") {
        Ok(cp) if !cp.is_empty() => cp,
        _ => {
            if !Path::new(ZOOKEEPER_JAR).is_file() {
                return Err(format!(
                    "{ZOOKEEPER_JAR} is missing (install with `apt-get install zookeeper`, or set $ZK_CLASSPATH)"
                ));
            }
            std::iter::once(ZOOKEEPER_JAR)
                .chain(EXTRA_JARS.into_iter().filter(|j| Path::new(j).is_file()))
                .collect::<Vec<_>>()
                .join(":")
        }
    };
    Ok(Installation { java, classpath })
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Quorum ports of one ensemble member.
#[derive(Debug)]
struct QuorumPorts {
    peer: PortReservation,
    election: PortReservation,
}

/// One ZooKeeper server process (a standalone server or one ensemble member).
///
/// The process is killed (`SIGKILL` to its process group) and reaped when this is dropped; the
/// temporary directory is removed after that.
#[derive(Debug)]
pub struct ZkNode {
    id: u32,
    client_port: PortReservation,
    // Also keeps the ports reserved across restarts.
    quorum_ports: Option<QuorumPorts>,
    dir: TempDir,
    install: Installation,
    opts: Arc<ZkOptions>,
    child: Option<Child>,
}

impl ZkNode {
    fn create(
        id: u32,
        client_port: PortReservation,
        quorum_ports: Option<QuorumPorts>,
        servers: &str,
        install: Installation,
        opts: Arc<ZkOptions>,
    ) -> Result<ZkNode, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("zk-real-{id}-"))
            .tempdir()
            .map_err(io_err("creating the server's temporary directory"))?;
        let data_dir = dir.path().join("data");
        fs::create_dir_all(&data_dir).map_err(io_err("creating the data dir"))?;
        let mut cfg = format!(
            "tickTime={}\ninitLimit={}\nsyncLimit={}\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=*\n\
             maxClientCnxns={}\n",
            opts.tick_time_ms,
            opts.init_limit,
            opts.sync_limit,
            data_dir.display(),
            client_port.port(),
            opts.max_client_cnxns,
        );
        if let Some(ms) = opts.min_session_timeout_ms {
            cfg.push_str(&format!("minSessionTimeout={ms}\n"));
        }
        if let Some(ms) = opts.max_session_timeout_ms {
            cfg.push_str(&format!("maxSessionTimeout={ms}\n"));
        }
        if opts.extended_types {
            cfg.push_str("extendedTypesEnabled=true\n");
        }
        if opts.netty {
            cfg.push_str("serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n");
        }
        cfg.push_str(&format!("reconfigEnabled={}\n", opts.reconfig_enabled));
        for (k, v) in &opts.extra_config {
            cfg.push_str(&format!("{k}={v}\n"));
        }
        if quorum_ports.is_some() {
            fs::write(data_dir.join("myid"), format!("{id}\n")).map_err(io_err("writing myid"))?;
            cfg.push_str(servers);
        }
        fs::write(dir.path().join("zoo.cfg"), cfg).map_err(io_err("writing zoo.cfg"))?;
        Ok(ZkNode {
            id,
            client_port,
            quorum_ports,
            dir,
            install,
            opts,
            child: None,
        })
    }

    /// The server id (`myid`); 1 for a standalone server.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The client address, `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.client_port.addr()
    }

    /// The client port.
    pub fn client_port(&self) -> u16 {
        self.client_port.port()
    }

    /// The quorum (peer) and leader-election ports of an ensemble member; `None` when standalone.
    pub fn quorum_ports(&self) -> Option<(u16, u16)> {
        self.quorum_ports
            .as_ref()
            .map(|q| (q.peer.port(), q.election.port()))
    }

    /// The pid of the running process (also its process-group id), if one is running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's temporary directory (holds `zoo.cfg`, `data/`, `server.log`, `stdout.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The ZooKeeper data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server log (written through `slf4j-simple`, when installed).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The last `n` lines of the server log and of the JVM's stdout/stderr.
    pub fn log_tail(&self, n: usize) -> String {
        let mut out = tail_lines(&self.log_path(), n);
        let stdout = tail_lines(&self.dir.path().join("stdout.log"), n);
        if !stdout.trim().is_empty() {
            out.push_str("--- stdout/stderr ---\n");
            out.push_str(&stdout);
        }
        out
    }

    /// True while the process is alive (a frozen process counts as alive).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_)) | Err(_)) => {
                self.reap();
                false
            }
            None => false,
        }
    }

    /// Sends a four-letter word to this server.
    ///
    /// # Errors
    /// As [`four_letter_word`].
    pub async fn four_letter(&self, word: &str) -> io::Result<String> {
        four_letter_word(self.addr(), word).await
    }

    /// The server's current mode according to `srvr`; [`ServerMode::Unreachable`] if it does not
    /// answer.
    pub async fn mode(&self) -> ServerMode {
        match self.four_letter("srvr").await {
            Ok(reply) if !reply.is_empty() => ServerMode::from_srvr(&reply),
            _ => ServerMode::Unreachable,
        }
    }

    /// Kills the process group with `SIGKILL` and reaps it (a crash, not a clean shutdown).
    /// Does nothing when no process is running.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_ref() {
            signal_group(child.id(), Signal::SIGKILL);
        }
        self.reap();
    }

    /// Freezes the process with `SIGSTOP`: connections stay open but nothing is answered, so
    /// sessions time out and an ensemble sees the member vanish. Undo with [`ZkNode::thaw`].
    pub fn freeze(&self) {
        if let Some(child) = self.child.as_ref() {
            signal_group(child.id(), Signal::SIGSTOP);
        }
    }

    /// Resumes a process frozen with [`ZkNode::freeze`].
    pub fn thaw(&self) {
        if let Some(child) = self.child.as_ref() {
            signal_group(child.id(), Signal::SIGCONT);
        }
    }

    /// Starts the process again with the same configuration, ports and data (killing it first if
    /// it runs) and waits until it serves clients.
    ///
    /// # Errors
    /// [`HarnessError::Exited`] or [`HarnessError::NotReady`] (for an ensemble member whose
    /// quorum is gone, use [`ZkNode::respawn`]).
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        self.respawn()?;
        self.wait_until(ServerMode::is_serving, "to serve after restart")
            .await
            .map(|_| ())
    }

    /// Starts the process again (killing it first if it runs) without waiting for it to serve.
    ///
    /// # Errors
    /// The process could not be spawned.
    pub fn respawn(&mut self) -> Result<(), HarnessError> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), HarnessError> {
        let dir = self.dir.path();
        let stdout = File::create(dir.join("stdout.log")).map_err(io_err("creating stdout.log"))?;
        let stderr = stdout
            .try_clone()
            .map_err(io_err("duplicating stdout.log"))?;
        let mut cmd = Command::new(&self.install.java);
        cmd.arg(format!("-Xmx{}m", self.opts.heap_mb))
            // Serial GC and C1 only: the fastest start on a small machine, plenty for tests.
            .arg("-XX:+UseSerialGC")
            .arg("-XX:TieredStopAtLevel=1")
            .arg("-Djava.net.preferIPv4Stack=true")
            .arg("-Dzookeeper.admin.enableServer=false")
            .arg("-Dzookeeper.jmx.log4j.disable=true")
            .arg(format!(
                "-Dorg.slf4j.simpleLogger.logFile={}",
                dir.join("server.log").display()
            ))
            .arg("-Dorg.slf4j.simpleLogger.showDateTime=true")
            .arg("-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS");
        if self.opts.extended_types {
            cmd.arg("-Dzookeeper.extendedTypesEnabled=true");
        }
        if let Some(digest) = &self.opts.super_digest {
            cmd.arg(format!(
                "-Dzookeeper.DigestAuthenticationProvider.superDigest={digest}"
            ));
        }
        if self.opts.read_only_mode {
            cmd.arg("-Dreadonlymode.enabled=true");
        }
        for (k, v) in &self.opts.jvm_properties {
            cmd.arg(format!("-D{k}={v}"));
        }
        cmd.arg("-cp")
            .arg(&self.install.classpath)
            .arg(MAIN_CLASS)
            .arg(dir.join("zoo.cfg"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Own process group, so kill(-pgid) reaches anything the JVM might start.
            .process_group(0);
        let child = cmd.spawn().map_err(io_err(format!(
            "spawning {} for ZooKeeper server {}",
            self.install.java.display(),
            self.id
        )))?;
        pid_registry::record(child.id(), dir);
        self.child = Some(child);
        Ok(())
    }

    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            // Make sure it is dead before waiting, whatever the caller did before.
            if matches!(child.try_wait(), Ok(None)) {
                signal_group(pid, Signal::SIGKILL);
            }
            let _ = child.wait();
            pid_registry::forget(pid);
        }
    }

    /// Waits (up to the start timeout) until `accept(mode)` holds; fails early if the process dies.
    async fn wait_until(
        &mut self,
        accept: impl Fn(ServerMode) -> bool,
        what: &str,
    ) -> Result<ServerMode, HarnessError> {
        let timeout = self.opts.start_timeout;
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            let mode = self.mode().await;
            if accept(mode) {
                return Ok(mode);
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::NotReady {
                    what: format!("server {} {what}", self.id),
                    timeout,
                    last: mode.to_string(),
                    log_tail: self.log_tail(40),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn check_alive(&mut self) -> Result<(), HarnessError> {
        let status = match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => return Ok(()),
            Some(Ok(Some(status))) => status.to_string(),
            Some(Err(e)) => format!("wait failed: {e}"),
            None => "not started".to_owned(),
        };
        self.reap();
        Err(HarnessError::Exited {
            id: self.id,
            status,
            log_tail: self.log_tail(40),
        })
    }
}

impl Drop for ZkNode {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            // Shown with the failing test's output: usually the quickest clue.
            eprintln!(
                "--- ZooKeeper server {} ({}) log tail ---\n{}",
                self.id,
                self.addr(),
                self.log_tail(30)
            );
        }
        self.kill();
    }
}

fn signal_group(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

fn tail_lines(path: &Path, n: usize) -> String {
    let Ok(file) = File::open(path) else {
        return String::new();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    let start = lines.len().saturating_sub(n);
    let mut out = lines[start..].join("\n");
    out.push('\n');
    out
}

/// Optional record of live server pids, so CI can prove no server outlived the tests.
///
/// When `$ZK_HARNESS_PID_DIR` is set, every spawned server leaves a file named after its pid
/// (content: its directory) there until it is reaped. `.ci/run` kills and reports leftovers.
mod pid_registry {
    use std::path::{Path, PathBuf};

    fn dir() -> Option<PathBuf> {
        std::env::var_os("ZK_HARNESS_PID_DIR").map(PathBuf::from)
    }

    pub(super) fn record(pid: u32, server_dir: &Path) {
        if let Some(dir) = dir() {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(pid.to_string()), server_dir.display().to_string());
        }
    }

    pub(super) fn forget(pid: u32) {
        if let Some(dir) = dir() {
            let _ = std::fs::remove_file(dir.join(pid.to_string()));
        }
    }
}

/// A standalone reference server.
///
/// ```no_run
/// # async fn demo() -> Result<(), zk_integration_tests::HarnessError> {
/// use zk_integration_tests::{RealZk, ZkOptions};
/// let mut zk = RealZk::start_standalone(ZkOptions::default()).await?;
/// zk.kill();              // crash it
/// zk.restart().await?;    // same port, same data
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RealZk {
    node: ZkNode,
}

impl RealZk {
    /// True when Java and the ZooKeeper jars are installed.
    pub fn available() -> bool {
        Installation::locate().is_ok()
    }

    /// Why the server cannot be started, or `None` when it can.
    pub fn unavailable_reason() -> Option<String> {
        Installation::locate().err()
    }

    /// Starts a standalone server on a free loopback port and waits until it serves
    /// (`srvr` reports `Mode: standalone`).
    ///
    /// # Errors
    /// [`HarnessError::Unavailable`] when not installed; startup failures otherwise.
    pub async fn start_standalone(opts: ZkOptions) -> Result<RealZk, HarnessError> {
        let install = Installation::locate().map_err(HarnessError::Unavailable)?;
        let port = reserve_port().map_err(io_err("reserving a client port"))?;
        let mut node = ZkNode::create(1, port, None, "", install, Arc::new(opts))?;
        node.spawn()?;
        node.wait_until(|m| m == ServerMode::Standalone, "to start")
            .await?;
        Ok(RealZk { node })
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        self.node.addr()
    }

    /// The connect string, `127.0.0.1:<port>`.
    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    /// The pid of the server process, if running.
    pub fn pid(&self) -> Option<u32> {
        self.node.pid()
    }

    /// Sends a four-letter word.
    ///
    /// # Errors
    /// As [`four_letter_word`].
    pub async fn four_letter(&self, word: &str) -> io::Result<String> {
        self.node.four_letter(word).await
    }

    /// Kills the server with `SIGKILL`.
    pub fn kill(&mut self) {
        self.node.kill();
    }

    /// Restarts the server on the same port with the same data and waits until it serves.
    ///
    /// # Errors
    /// As [`ZkNode::restart`].
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        self.node.restart().await
    }

    /// The underlying process (freeze, thaw, logs, data dir, ...).
    pub fn node(&self) -> &ZkNode {
        &self.node
    }

    /// The underlying process, mutably.
    pub fn node_mut(&mut self) -> &mut ZkNode {
        &mut self.node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_is_read_from_srvr() {
        let srvr = "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\nNode count: 5\n";
        assert_eq!(ServerMode::from_srvr(srvr), ServerMode::Follower);
        assert_eq!(
            ServerMode::from_srvr("This ZooKeeper instance is not currently serving requests\n"),
            ServerMode::NotServing
        );
        assert!(!ServerMode::NotServing.is_serving());
        assert!(ServerMode::ReadOnly.is_serving());
    }

    #[test]
    fn digest_matches_zookeeper() {
        assert_eq!(
            digest_credential("alice", "secret"),
            "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="
        );
    }
}
