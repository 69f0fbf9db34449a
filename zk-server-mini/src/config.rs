//! Server settings: command-line flags and ZooKeeper's `zoo.cfg` format.

use std::net::IpAddr;
use std::path::PathBuf;

/// Everything a server needs to start.
///
/// ```
/// use zk_server_mini::ServerConfig;
/// let cfg = ServerConfig { tick_ms: 500, max_client_cnxns: 0, ..ServerConfig::default() };
/// assert_eq!(cfg.port, 0); // a free port
/// assert_eq!(cfg.session_timeouts(), (1000, 10000));
/// assert_eq!(ServerConfig::default().four_letter_whitelist, ["srvr"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on (`clientPortAddress`, `--bind`).
    pub bind: IpAddr,
    /// Port (`clientPort`, `--port`); 0 picks a free one.
    pub port: u16,
    /// Snapshot directory (`dataDir`).
    pub data_dir: PathBuf,
    /// Log directory (`dataLogDir`); the data dir when unset.
    pub data_log_dir: Option<PathBuf>,
    /// `tickTime` in ms.
    pub tick_ms: u64,
    /// `minSessionTimeout`; `2 * tickTime` when unset.
    pub min_session_timeout_ms: Option<i32>,
    /// `maxSessionTimeout`; `20 * tickTime` when unset.
    pub max_session_timeout_ms: Option<i32>,
    /// `maxClientCnxns` per client address; 0 = unlimited.
    pub max_client_cnxns: usize,
    /// `4lw.commands.whitelist`.
    pub four_letter_whitelist: Vec<String>,
    /// `extendedTypesEnabled` (TTL nodes).
    pub extended_types: bool,
    /// `superDigest` (`super:<base64 sha1>`), the same as ZooKeeper's
    /// `zookeeper.DigestAuthenticationProvider.superDigest`.
    pub super_digest: Option<String>,
    /// Transactions between snapshots (`snapCount`).
    pub snap_count: u64,
    /// How often containers and TTL nodes are checked (`containerCheckIntervalMs`).
    pub container_check_interval_ms: u64,
    /// Largest request frame and node data (`jute.maxbuffer`).
    pub max_frame_len: usize,
    /// Time a new connection has to finish its handshake (the whole ConnectRequest, or a
    /// four-letter word), however its bytes are spread out.
    pub handshake_timeout_ms: u64,
    /// Request and reply bytes one connection may hold inside the server before its socket is
    /// no longer read (it is read again as replies drain).
    pub max_connection_bytes: usize,
    /// Request and reply bytes all connections together may hold inside the server before no
    /// socket is read.
    pub max_server_bytes: usize,
    /// Watched paths one connection may hold (a connection asking for more is closed).
    pub max_watches_per_connection: usize,
    /// Bytes of watched paths one connection may hold (likewise).
    pub max_watch_bytes_per_connection: usize,
    /// The ensemble's members (`server.N=host:quorumPort:electionPort[:participant|:observer]`);
    /// empty (or one member) runs standalone.
    pub servers: std::collections::BTreeMap<u64, PeerAddr>,
    /// `peerType` (`participant` or `observer`) as written. As in ZooKeeper, this member's own
    /// `server.N` line decides its role; a `peerType` that disagrees is logged and ignored.
    pub peer_type: Option<PeerType>,
    /// This member's id (the `myid` file in `dataDir` when unset).
    pub my_id: Option<u64>,
    /// `initLimit` in ticks.
    pub init_limit: u32,
    /// `syncLimit` in ticks.
    pub sync_limit: u32,
    /// Read-only mode: a member cut off from its quorum keeps serving reads to clients that
    /// allow read-only connections. ZooKeeper 3.8.0 reads it from the JVM system property
    /// `readonlymode.enabled` only (a `zoo.cfg` line of that name is ignored there); this
    /// server takes the `zoo.cfg` line `readonlymode.enabled=true` and the command-line flag
    /// `-Dreadonlymode.enabled=true`.
    pub read_only_mode: bool,
    /// `reconfigEnabled`: dynamic reconfiguration (the `reconfig` request, and a versioned
    /// `/zookeeper/config`); off by default, as in ZooKeeper 3.5+.
    pub reconfig_enabled: bool,
    /// `skipACL=yes`: no ACL is checked (ZooKeeper's `zookeeper.skipACL`); here it only
    /// lets a `reconfig` through without the super user.
    pub skip_acl: bool,
    /// `dynamicConfigFile`: the file with the `server.N` lines, as a ZooKeeper 3.5+ member
    /// with `reconfigEnabled` rewrites its `zoo.cfg` (`zoo.cfg.dynamic.<version>`). `--config`
    /// reads it when `zoo.cfg` itself lists no server.
    pub dynamic_config_file: Option<PathBuf>,
    /// The `zoo.cfg` this configuration was read from (`--config`): with `reconfigEnabled`
    /// an ensemble member rewrites it as ZooKeeper does (see [`crate::reconfig::files`]).
    pub config_file: Option<PathBuf>,
}

/// One `server.N` line.
///
/// ```
/// use zk_server_mini::ServerConfig;
/// let cfg = ServerConfig::from_zoo_cfg("dataDir=/x\nserver.1=10.0.0.1:2888:3888\nserver.2=10.0.0.2:2888:3888\n")?;
/// let one = &cfg.servers[&1];
/// assert_eq!((one.host.as_str(), one.quorum_port, one.election_port), ("10.0.0.1", 2888, 3888));
/// # Ok::<(), zk_server_mini::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    /// Host name or address.
    pub host: String,
    /// The port peers connect to (`quorumPort`).
    pub quorum_port: u16,
    /// `electionPort`: parsed and kept for `conf`, unused (elections travel on the quorum
    /// connections of our own protocol).
    pub election_port: u16,
    /// The line ends in `:observer`: a non-voting member.
    pub observer: bool,
    /// The client address after `;`, as ZooKeeper writes it back (`;2181` becomes
    /// `0.0.0.0:2181`); `None` when the line has none.
    pub client: Option<String>,
}

/// `peerType=participant|observer` (and the last field of a `server.N` line).
///
/// ```
/// use zk_server_mini::config::PeerType;
/// assert_eq!(PeerType::parse("Observer"), Ok(PeerType::Observer));
/// assert_eq!(PeerType::parse("voter").unwrap_err(), "Unrecognised peertype: voter");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerType {
    /// A voting member.
    Participant,
    /// A non-voting member that receives committed transactions and serves clients.
    Observer,
}

impl PeerType {
    /// Parses the value the way ZooKeeper does (case-insensitive); the error is ZooKeeper's
    /// message.
    ///
    /// ```
    /// use zk_server_mini::config::PeerType;
    /// assert_eq!(PeerType::parse("participant"), Ok(PeerType::Participant));
    /// assert!(PeerType::parse("leader").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "observer" => Ok(Self::Observer),
            "participant" => Ok(Self::Participant),
            _ => Err(format!("Unrecognised peertype: {}", value.trim())),
        }
    }
}

impl PeerAddr {
    /// Parses `host:quorumPort:electionPort[:participant|:observer][;clientAddr:clientPort]`.
    ///
    /// # Errors
    /// A sentence saying what is wrong (ZooKeeper's `Unrecognised peertype: ...` for an
    /// unknown role).
    ///
    /// ```
    /// use zk_server_mini::config::PeerAddr;
    /// let a = PeerAddr::parse("127.0.0.1:2888:3888:participant").unwrap();
    /// assert_eq!((a.host.as_str(), a.quorum_port, a.election_port), ("127.0.0.1", 2888, 3888));
    /// assert!(PeerAddr::parse("127.0.0.1:2888:3888:observer").unwrap().observer);
    /// assert!(PeerAddr::parse("127.0.0.1:2888:3888:voter").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Self, String> {
        let form =
            || format!("{value:?} is not host:quorumPort:electionPort[:participant|:observer]");
        let (server, client) = match value.split_once(';') {
            Some((s, c)) => (s.trim(), Some(client_addr(c.trim()).ok_or_else(form)?)),
            None => (value.trim(), None),
        };
        let parts: Vec<&str> = server.split(':').collect();
        let (host, q, e, role) = match parts.as_slice() {
            [h, q, e] => (h, q, e, PeerType::Participant),
            [h, q, e, r] => (h, q, e, PeerType::parse(r)?),
            _ => return Err(form()),
        };
        if host.is_empty() {
            return Err(form());
        }
        Ok(Self {
            host: (*host).to_owned(),
            quorum_port: q.parse().map_err(|_| form())?,
            election_port: e.parse().map_err(|_| form())?,
            observer: role == PeerType::Observer,
            client,
        })
    }
}

/// `port` or `host:port` after a server line's `;`, as ZooKeeper normalises it.
fn client_addr(c: &str) -> Option<String> {
    match c.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            port.parse::<u16>().ok()?;
            Some(format!("{host}:{port}"))
        }
        Some(_) => None,
        None => Some(format!("0.0.0.0:{}", c.parse::<u16>().ok()?)),
    }
}

fn kind(observer: bool) -> &'static str {
    if observer { "OBSERVER" } else { "PARTICIPANT" }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            data_dir: PathBuf::new(),
            data_log_dir: None,
            tick_ms: 2000,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            max_client_cnxns: 60,
            four_letter_whitelist: vec!["srvr".into()],
            extended_types: false,
            super_digest: None,
            snap_count: 100_000,
            container_check_interval_ms: 60_000,
            max_frame_len: zk_proto::codec::DEFAULT_MAX_FRAME_LEN,
            handshake_timeout_ms: 30_000,
            max_connection_bytes: 8 << 20,
            max_server_bytes: 256 << 20,
            max_watches_per_connection: crate::watches::DEFAULT_MAX_WATCHES,
            max_watch_bytes_per_connection: crate::watches::DEFAULT_MAX_WATCH_BYTES,
            servers: Default::default(),
            peer_type: None,
            my_id: None,
            init_limit: 10,
            sync_limit: 5,
            read_only_mode: false,
            reconfig_enabled: false,
            skip_acl: false,
            dynamic_config_file: None,
            config_file: None,
        }
    }
}

/// Why a configuration was refused.
///
/// ```
/// use zk_server_mini::config::{ConfigError, ServerConfig};
/// assert_eq!(ServerConfig::from_zoo_cfg("tickTime=2000\n"), Err(ConfigError::Missing("dataDir")));
/// assert!(matches!(
///     ServerConfig::from_zoo_cfg("dataDir=/x\ntickTime=soon\n"),
///     Err(ConfigError::Invalid { key, .. }) if key == "tickTime"
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value could not be parsed.
    #[error("{key}: invalid value {value:?}")]
    Invalid {
        /// The key or flag.
        key: String,
        /// The value.
        value: String,
    },
    /// A `server.N` line that is malformed, or lists a member or an address twice.
    #[error("{key}: {why}")]
    Ensemble {
        /// The key.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// A required setting is missing.
    #[error("missing setting: {0}")]
    Missing(&'static str),
    /// Bad command line.
    #[error(
        "{0}\n\nusage: zk-server-mini --port PORT --data-dir DIR [--bind ADDR] [--tick-ms MS]\n       zk-server-mini --config zoo.cfg"
    )]
    Usage(String),
    /// The config file could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        error: String,
    },
}

/// The JVM flag ZooKeeper enables read-only mode with, taken on this server's command line.
const READ_ONLY_PROPERTY: &str = "-Dreadonlymode.enabled=";

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
    })
}

impl ServerConfig {
    /// The effective session timeout bounds `(min, max)`.
    ///
    /// ```
    /// use zk_server_mini::ServerConfig;
    /// let mut cfg = ServerConfig { tick_ms: 1000, ..ServerConfig::default() };
    /// assert_eq!(cfg.session_timeouts(), (2000, 20000)); // 2 and 20 ticks
    /// cfg.min_session_timeout_ms = Some(4000);
    /// cfg.max_session_timeout_ms = Some(3000); // below the minimum: raised to it
    /// assert_eq!(cfg.session_timeouts(), (4000, 4000));
    /// ```
    pub fn session_timeouts(&self) -> (i32, i32) {
        let tick = i32::try_from(self.tick_ms).unwrap_or(i32::MAX);
        let min = self
            .min_session_timeout_ms
            .unwrap_or(tick.saturating_mul(2));
        let max = self
            .max_session_timeout_ms
            .unwrap_or(tick.saturating_mul(20));
        (min, max.max(min))
    }

    /// The log directory.
    ///
    /// ```
    /// use std::path::Path;
    /// use zk_server_mini::ServerConfig;
    /// let mut cfg = ServerConfig { data_dir: "/var/zk".into(), ..ServerConfig::default() };
    /// assert_eq!(cfg.log_dir(), Path::new("/var/zk"));
    /// cfg.data_log_dir = Some("/fast-disk/zk-log".into());
    /// assert_eq!(cfg.log_dir(), Path::new("/fast-disk/zk-log"));
    /// ```
    pub fn log_dir(&self) -> PathBuf {
        self.data_log_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.clone())
    }

    /// Parses a `zoo.cfg`. Unknown keys are logged and ignored; `server.N` lines make an
    /// ensemble (a member or an address listed twice is refused).
    ///
    /// ```
    /// use zk_server_mini::config::ServerConfig;
    ///
    /// let cfg = ServerConfig::from_zoo_cfg("tickTime=1000\ndataDir=/tmp/zk\nclientPort=2181\n4lw.commands.whitelist=*\n")?;
    /// assert_eq!((cfg.tick_ms, cfg.port), (1000, 2181));
    /// assert_eq!(cfg.session_timeouts(), (2000, 20000));
    /// let three = "dataDir=/x\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n";
    /// assert_eq!(ServerConfig::from_zoo_cfg(three)?.servers.len(), 2);
    /// let twice = "dataDir=/x\nserver.1=127.0.0.1:2888:3888\nserver.1=127.0.0.1:2889:3889\n";
    /// assert!(ServerConfig::from_zoo_cfg(twice).is_err());
    /// # Ok::<(), zk_server_mini::config::ConfigError>(())
    /// ```
    pub fn from_zoo_cfg(text: &str) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        let mut have_data_dir = false;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                tracing::warn!(line, "ignoring a zoo.cfg line without '='");
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "tickTime" => c.tick_ms = parse(key, value)?,
                "dataDir" => {
                    c.data_dir = PathBuf::from(value);
                    have_data_dir = true;
                }
                "dataLogDir" => c.data_log_dir = Some(PathBuf::from(value)),
                "clientPort" => c.port = parse(key, value)?,
                "clientPortAddress" => c.bind = parse(key, value)?,
                "minSessionTimeout" => c.min_session_timeout_ms = Some(parse(key, value)?),
                "maxSessionTimeout" => c.max_session_timeout_ms = Some(parse(key, value)?),
                "maxClientCnxns" => c.max_client_cnxns = parse(key, value)?,
                "4lw.commands.whitelist" => {
                    c.four_letter_whitelist = value
                        .split(',')
                        .map(|w| w.trim().to_owned())
                        .filter(|w| !w.is_empty())
                        .collect();
                }
                "extendedTypesEnabled" => c.extended_types = parse(key, value)?,
                "superDigest" | "zookeeper.DigestAuthenticationProvider.superDigest" => {
                    c.super_digest = Some(value.to_owned());
                }
                "snapCount" => c.snap_count = parse(key, value)?,
                "containerCheckIntervalMs" | "znode.container.checkIntervalMs" => {
                    c.container_check_interval_ms = parse(key, value)?;
                }
                "jute.maxbuffer" => c.max_frame_len = parse(key, value)?,
                // zk-server-mini's own keys (ZooKeeper ignores them).
                "mini.maxConnectionBytes" => c.max_connection_bytes = parse(key, value)?,
                "mini.maxServerBytes" => c.max_server_bytes = parse(key, value)?,
                "mini.handshakeTimeoutMs" => c.handshake_timeout_ms = parse(key, value)?,
                "mini.maxWatchesPerConnection" => c.max_watches_per_connection = parse(key, value)?,
                "mini.maxWatchBytesPerConnection" => {
                    c.max_watch_bytes_per_connection = parse(key, value)?
                }
                "initLimit" => c.init_limit = parse(key, value)?,
                "syncLimit" => c.sync_limit = parse(key, value)?,
                "mini.myid" => c.my_id = Some(parse(key, value)?),
                "peerType" => {
                    c.peer_type =
                        Some(PeerType::parse(value).map_err(|why| ConfigError::Ensemble {
                            key: key.into(),
                            why,
                        })?);
                }
                // ZooKeeper 3.8.0 takes it as a JVM property only; accepted here as a line.
                "readonlymode.enabled" => c.read_only_mode = parse(key, value)?,
                "reconfigEnabled" => c.reconfig_enabled = parse(key, value)?,
                "skipACL" | "zookeeper.skipACL" => c.skip_acl = value == "yes" || value == "true",
                // Accepted as ZooKeeper does; an ensemble of one still runs standalone here.
                "standaloneEnabled" => {
                    let _: bool = parse(key, value)?;
                }
                "dynamicConfigFile" => c.dynamic_config_file = Some(PathBuf::from(value)),
                k if k.starts_with("server.") => c.add_server(k, value)?,
                _ => tracing::info!(key, "ignoring unknown zoo.cfg key"),
            }
        }
        if !have_data_dir {
            return Err(ConfigError::Missing("dataDir"));
        }
        if !c.servers.is_empty() && c.servers.values().all(|a| a.observer) {
            return Err(ConfigError::Ensemble {
                key: "server.N".into(),
                why: "Observers w/o participants is an invalid configuration".into(),
            });
        }
        Ok(c)
    }

    /// Adds the `server.N` lines of a dynamic configuration file (`zoo.cfg.dynamic.<version>`
    /// as ZooKeeper 3.5+ writes it; its `version=` line is skipped).
    ///
    /// ```
    /// use zk_server_mini::ServerConfig;
    /// let mut cfg = ServerConfig::from_zoo_cfg("dataDir=/x\ndynamicConfigFile=/x/zoo.cfg.dynamic.100000000\n")?;
    /// cfg.add_dynamic_config("server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:observer;2181\nversion=100000000")?;
    /// assert_eq!((cfg.participants(), cfg.observers()), (vec![1], vec![2]));
    /// # Ok::<(), zk_server_mini::config::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// A malformed or repeated `server.N` line, a list of observers only, or any other key.
    pub fn add_dynamic_config(&mut self, text: &str) -> Result<(), ConfigError> {
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with("version=") {
                continue;
            }
            match line.split_once('=') {
                Some((key, value)) if key.trim().starts_with("server.") => {
                    self.add_server(key.trim(), value.trim())?
                }
                _ => {
                    return Err(ConfigError::Ensemble {
                        key: "dynamicConfigFile".into(),
                        why: format!("{line:?} is not a server.N line"),
                    });
                }
            }
        }
        if !self.servers.is_empty() && self.servers.values().all(|a| a.observer) {
            return Err(ConfigError::Ensemble {
                key: "server.N".into(),
                why: "Observers w/o participants is an invalid configuration".into(),
            });
        }
        Ok(())
    }

    /// Whether member `id` is an observer. As in ZooKeeper, the `server.N` line decides: a
    /// `peerType` that disagrees with this member's own line is logged (ZooKeeper's warning)
    /// and the line wins.
    ///
    /// ```
    /// use zk_server_mini::ServerConfig;
    /// let cfg = ServerConfig::from_zoo_cfg(
    ///     "dataDir=/x\npeerType=observer\nserver.1=127.0.0.1:2888:3888\n\
    ///      server.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890:observer\n",
    /// )?;
    /// assert!(cfg.is_observer(3));
    /// assert!(!cfg.is_observer(1)); // its line says participant: peerType is ignored
    /// # Ok::<(), zk_server_mini::config::ConfigError>(())
    /// ```
    pub fn is_observer(&self, id: u64) -> bool {
        let by_list = self.servers.get(&id).is_some_and(|a| a.observer);
        let by_key = self.peer_type.map(|t| t == PeerType::Observer);
        if by_key.is_some_and(|o| o != by_list) {
            let (list, key) = (kind(by_list), kind(!by_list));
            tracing::warn!(
                "Peer type from servers list ({list}) doesn't match peerType ({key}). \
                 Defaulting to servers list."
            );
        }
        by_list
    }

    /// The ids of the voting members (participants).
    ///
    /// ```
    /// use zk_server_mini::ServerConfig;
    /// let cfg = ServerConfig::from_zoo_cfg(
    ///     "dataDir=/x\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889:observer\n",
    /// )?;
    /// assert_eq!(cfg.participants(), vec![1]);
    /// assert_eq!(cfg.observers(), vec![2]);
    /// # Ok::<(), zk_server_mini::config::ConfigError>(())
    /// ```
    pub fn participants(&self) -> Vec<u64> {
        self.servers
            .iter()
            .filter(|(_, a)| !a.observer)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The ids of the observers.
    ///
    /// ```
    /// use zk_server_mini::ServerConfig;
    /// let cfg = ServerConfig::from_zoo_cfg("dataDir=/x\nserver.1=127.0.0.1:2888:3888\n")?;
    /// assert!(cfg.observers().is_empty());
    /// # Ok::<(), zk_server_mini::config::ConfigError>(())
    /// ```
    pub fn observers(&self) -> Vec<u64> {
        self.servers
            .iter()
            .filter(|(_, a)| a.observer)
            .map(|(id, _)| *id)
            .collect()
    }

    fn add_server(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let bad = |why: String| ConfigError::Ensemble {
            key: key.into(),
            why,
        };
        let id: u64 = key["server.".len()..]
            .parse()
            .map_err(|_| bad("the member id is not a number".into()))?;
        if id == 0 || id > 255 {
            return Err(bad("member ids run from 1 to 255".into()));
        }
        let addr = PeerAddr::parse(value).map_err(bad)?;
        if self.servers.contains_key(&id) {
            return Err(bad(format!("member {id} is listed twice")));
        }
        if let Some((other, _)) = self
            .servers
            .iter()
            .find(|(_, a)| a.host == addr.host && a.quorum_port == addr.quorum_port)
        {
            return Err(bad(format!(
                "{}:{} is already the address of server.{other}",
                addr.host, addr.quorum_port
            )));
        }
        self.servers.insert(id, addr);
        Ok(())
    }

    /// Parses command-line arguments (without the program name).
    ///
    /// ```
    /// use zk_server_mini::config::ServerConfig;
    ///
    /// let args = ["--port", "2181", "--data-dir", "/tmp/d", "--tick-ms", "500"];
    /// let cfg = ServerConfig::from_args(args.iter().map(|s| s.to_string()))?;
    /// assert_eq!((cfg.port, cfg.tick_ms, cfg.read_only_mode), (2181, 500, false));
    /// let ro = ["--port", "2181", "--data-dir", "/tmp/d", "-Dreadonlymode.enabled=true"];
    /// assert!(ServerConfig::from_args(ro.iter().map(|s| s.to_string()))?.read_only_mode);
    /// # Ok::<(), zk_server_mini::config::ConfigError>(())
    /// ```
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, ConfigError> {
        let mut args = args.into_iter();
        let mut c = Self::default();
        let mut have_data_dir = false;
        let mut have_port = false;
        let mut extra: Vec<(String, String)> = Vec::new();
        while let Some(flag) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| ConfigError::Usage(format!("{name} needs a value")))
            };
            match flag.as_str() {
                "--config" => {
                    let path = value("--config")?;
                    let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read {
                        path: path.clone(),
                        error: e.to_string(),
                    })?;
                    c = Self::from_zoo_cfg(&text)?;
                    c.config_file = Some(PathBuf::from(&path));
                    if let (Some(file), true) =
                        (c.dynamic_config_file.clone(), c.servers.is_empty())
                    {
                        let text =
                            std::fs::read_to_string(&file).map_err(|e| ConfigError::Read {
                                path: file.display().to_string(),
                                error: e.to_string(),
                            })?;
                        c.add_dynamic_config(&text)?;
                    }
                    have_data_dir = true;
                    have_port = true;
                }
                "--port" => {
                    c.port = parse("--port", &value("--port")?)?;
                    have_port = true;
                }
                "--data-dir" => {
                    c.data_dir = PathBuf::from(value("--data-dir")?);
                    have_data_dir = true;
                }
                "--bind" => c.bind = parse("--bind", &value("--bind")?)?,
                "--tick-ms" => c.tick_ms = parse("--tick-ms", &value("--tick-ms")?)?,
                "--4lw" => {
                    extra.push(("4lw".into(), value("--4lw")?));
                }
                "-h" | "--help" => return Err(ConfigError::Usage("help".into())),
                jvm if jvm.starts_with(READ_ONLY_PROPERTY) => {
                    extra.push(("ro".into(), jvm[READ_ONLY_PROPERTY.len()..].to_owned()));
                }
                other => return Err(ConfigError::Usage(format!("unknown argument {other:?}"))),
            }
        }
        for (k, v) in extra {
            if k == "4lw" {
                c.four_letter_whitelist = v.split(',').map(|w| w.trim().to_owned()).collect();
            } else if k == "ro" {
                c.read_only_mode = parse(READ_ONLY_PROPERTY, &v)?;
            }
        }
        if !have_data_dir {
            return Err(ConfigError::Usage("--data-dir is required".into()));
        }
        if !have_port {
            return Err(ConfigError::Usage("--port is required".into()));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observers_are_read_from_their_lines() {
        let cfg = ServerConfig::from_zoo_cfg(
            "dataDir=/d\npeerType=OBSERVER\nserver.1=a:1:2\nserver.2=a:3:4:participant\n\
             server.3=a:5:6\nserver.4=a:7:8:Observer;2181\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.peer_type, Some(PeerType::Observer));
        assert_eq!(cfg.participants(), vec![1, 2, 3]);
        assert_eq!(cfg.observers(), vec![4]);
        assert!(cfg.is_observer(4));
        assert!(!cfg.is_observer(2));
    }

    #[test]
    fn zoo_cfg_keys() {
        let cfg = ServerConfig::from_zoo_cfg(
            "# comment\ntickTime=2000\ndataDir=/d\ndataLogDir=/l\nclientPort=2181\nclientPortAddress=127.0.0.2\nminSessionTimeout=1000\nmaxSessionTimeout=9000\nmaxClientCnxns=5\n4lw.commands.whitelist=ruok, srvr\nextendedTypesEnabled=true\nadmin.enableServer=false\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.log_dir(), PathBuf::from("/l"));
        assert_eq!(cfg.bind, IpAddr::from([127, 0, 0, 2]));
        assert_eq!(cfg.session_timeouts(), (1000, 9000));
        assert_eq!(cfg.max_client_cnxns, 5);
        assert_eq!(cfg.four_letter_whitelist, vec!["ruok", "srvr"]);
        assert!(cfg.extended_types);
        assert!(!cfg.read_only_mode);
    }

    #[test]
    fn read_only_mode_from_zoo_cfg_and_the_jvm_flag() {
        let on = ServerConfig::from_zoo_cfg("dataDir=/d\nreadonlymode.enabled=true\n");
        assert!(on.is_ok_and(|c| c.read_only_mode));
        let bad = ServerConfig::from_zoo_cfg("dataDir=/d\nreadonlymode.enabled=yes\n");
        assert!(matches!(bad, Err(ConfigError::Invalid { .. })));
        let args = |flag: &str| {
            let args = ["--port", "1", "--data-dir", "/d", flag];
            ServerConfig::from_args(args.iter().map(|s| s.to_string()))
        };
        assert!(args("-Dreadonlymode.enabled=true").is_ok_and(|c| c.read_only_mode));
        assert!(args("-Dreadonlymode.enabled=false").is_ok_and(|c| !c.read_only_mode));
        assert!(args("-Dreadonlymode.enabled=1").is_err());
    }

    #[test]
    fn refusals() {
        for bad in [
            "dataDir=/d\nserver.1=a:1:2:3:4",
            "dataDir=/d\nserver.x=a:1:2",
            "dataDir=/d\nserver.1=a:1:2:voter",
            "dataDir=/d\nserver.1=a:1:2:observer\nserver.2=a:1:3:observer",
            "dataDir=/d\npeerType=leader",
            "dataDir=/d\nserver.1=a:1:2\nserver.1=b:1:2",
            "dataDir=/d\nserver.1=a:1:2\nserver.2=a:1:3",
        ] {
            assert!(
                matches!(
                    ServerConfig::from_zoo_cfg(bad),
                    Err(ConfigError::Ensemble { .. })
                ),
                "{bad}"
            );
        }
        let err = ServerConfig::from_zoo_cfg("dataDir=/d\nserver.1=a:1:2:Voter")
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.to_string(), "server.1: Unrecognised peertype: Voter");
        assert!(ServerConfig::from_zoo_cfg("tickTime=x\ndataDir=/d").is_err());
        assert!(ServerConfig::from_zoo_cfg("tickTime=1").is_err());
        assert!(ServerConfig::from_args(["--port".to_string()]).is_err());
    }

    #[test]
    fn a_rewritten_zoo_cfg_reads_its_dynamic_file() {
        // What a real 3.8.0 member with reconfigEnabled leaves behind: zoo.cfg without server
        // lines, pointing at zoo.cfg.dynamic.<version>.
        let dir = tempfile::tempdir().unwrap();
        let dynamic = dir.path().join("zoo.cfg.dynamic.10000000d");
        std::fs::write(
            &dynamic,
            "server.1=127.0.0.1:1:2:participant\nserver.2=127.0.0.1:3:4:participant\n\
             server.3=127.0.0.1:5:6:participant\nserver.4=127.0.0.1:7:8:observer;127.0.0.1:9\n\
             version=10000000d",
        )
        .unwrap();
        let cfg_path = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg_path,
            format!(
                "dataDir={}\nclientPort=2181\nreconfigEnabled=true\ndynamicConfigFile={}\n",
                dir.path().display(),
                dynamic.display()
            ),
        )
        .unwrap();
        let args = ["--config".to_owned(), cfg_path.display().to_string()];
        let cfg = ServerConfig::from_args(args).unwrap_or_else(|e| panic!("{e}"));
        assert!(cfg.reconfig_enabled);
        assert_eq!(
            (cfg.participants(), cfg.observers()),
            (vec![1, 2, 3], vec![4])
        );
        assert_eq!(cfg.servers[&4].client.as_deref(), Some("127.0.0.1:9"));
        let mut bad = cfg.clone();
        assert!(bad.add_dynamic_config("clientPort=1").is_err());
    }
}
