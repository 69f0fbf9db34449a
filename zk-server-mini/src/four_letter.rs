//! Four-letter words (PROTOCOL.md §9): `ruok srvr stat mntr cons wchs wchc wchp dump conf envi
//! isro`, answered from the state machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::state::StateMachine;

/// Static facts about the server the words report.
///
/// ```
/// use zk_server_mini::four_letter::ServerFacts;
/// use zk_server_mini::state::{CoreConfig, StateMachine};
/// use zk_server_mini::tree::DataTree;
/// let sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
/// let facts = ServerFacts { client_port: 2181, mode: "leader".into(), ..ServerFacts::default() };
/// assert!(sm.four_letter("srvr", &facts).contains("Mode: leader"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    /// The client port.
    pub client_port: u16,
    /// The client bind address.
    pub client_address: String,
    /// The snapshot directory.
    pub data_dir: String,
    /// The log directory.
    pub data_log_dir: String,
    /// Max connections per client address.
    pub max_client_cnxns: usize,
    /// Log batches synced to disk so far (one fsync each: group commit).
    pub log_syncs: u64,
    /// Transactions logged so far.
    pub logged_txns: u64,
    /// The role `srvr` reports as `Mode` and `mntr` as `zk_server_state` (empty:
    /// `standalone`).
    pub mode: String,
    /// Extra `mntr` rows (`key\tvalue\n` each): an ensemble leader's follower counts.
    pub extra_mntr: String,
    /// An ensemble member's `conf` rows from `serverId=` to `peerType=` (empty: standalone,
    /// `serverId=0`); `membership: ` and the `/zookeeper/config` text follow them.
    pub quorum_conf: String,
}

impl ServerFacts {
    fn mode(&self) -> &str {
        if self.mode.is_empty() {
            "standalone"
        } else {
            &self.mode
        }
    }
}

/// The ensemble rows of `mntr`, as ZooKeeper 3.8.0 prints them: every member reports
/// `zk_peer_state` (`leading - broadcast`, `observing - synchronization`, `looking`, ...) and
/// `zk_quorum_size` (voting members); a serving leader adds the learners it heard from
/// within `syncLimit` (`zk_synced_followers` counts voters only, `zk_synced_observers`
/// observers, `zk_learners` both; `zk_followers` is kept from older releases); an observer
/// adds `zk_observer_master_id`, the leader it observes.
///
/// ```
/// use zk_server_mini::four_letter::learner_rows;
/// use zk_server_mini::zab::{Config, Role};
///
/// let config = Config::new(3, vec![1, 2, 3]).with_observers(vec![4]);
/// let rows = learner_rows(true, Role::Leading, &config, &[1, 2, 4]);
/// assert!(rows.contains("zk_synced_followers\t2\n"));
/// assert!(rows.contains("zk_synced_observers\t1\n"));
/// assert!(rows.contains("zk_learners\t3\n"));
/// let observer = Config::new(4, vec![1, 2, 3]).with_observers(vec![4]);
/// let rows = learner_rows(true, Role::Observing { leader: 3 }, &observer, &[]);
/// assert!(rows.contains("zk_observer_master_id\t3\n"));
/// assert!(rows.contains("zk_peer_state\tobserving - broadcast\n"));
/// ```
pub fn learner_rows(
    serving: bool,
    role: crate::zab::Role,
    config: &crate::zab::Config,
    heard: &[crate::zab::PeerId],
) -> String {
    let mut rows = String::new();
    let state = match role {
        crate::zab::Role::Looking => "looking",
        crate::zab::Role::Leading => "leading",
        crate::zab::Role::Following { .. } => "following",
        crate::zab::Role::Observing { .. } => "observing",
    };
    let phase = match (role, serving) {
        (crate::zab::Role::Looking, _) => "",
        (_, true) => " - broadcast",
        (_, false) => " - synchronization",
    };
    let _ = writeln!(rows, "zk_peer_state\t{state}{phase}");
    if let crate::zab::Role::Observing { leader } = role {
        let _ = writeln!(rows, "zk_observer_master_id\t{leader}");
    }
    let _ = writeln!(rows, "zk_quorum_size\t{}", config.members.len());
    if serving && role == crate::zab::Role::Leading {
        // Followers: every learner not listed as an observer, counting those not listed
        // as voters either (a server being added, or one removed): non-voting followers.
        let observers = heard.iter().filter(|id| config.is_observer(**id)).count();
        let followers = heard.len() - observers;
        let non_voting = heard.iter().filter(|id| !config.is_member(**id)).count();
        let _ = write!(
            rows,
            "zk_followers\t{followers}\nzk_synced_followers\t{followers}\n\
             zk_synced_non_voting_followers\t{non_voting}\nzk_synced_observers\t{observers}\n\
             zk_learners\t{}\nzk_pending_syncs\t0\n",
            heard.len()
        );
    }
    rows
}

/// The version string `srvr` and `envi` report.
///
/// ```
/// use zk_server_mini::four_letter::VERSION;
/// assert!(VERSION.starts_with("3.8.0-zk-server-mini-"));
/// ```
pub const VERSION: &str = concat!(
    "3.8.0-zk-server-mini-",
    env!("CARGO_PKG_VERSION"),
    ", built on unknown"
);

/// Whether `word` is allowed by a `4lw.commands.whitelist` value list (`*` allows all).
///
/// ```
/// use zk_server_mini::four_letter::allowed;
/// assert!(allowed(&["srvr".to_string()], "srvr"));
/// assert!(!allowed(&["srvr".to_string()], "ruok"));
/// assert!(allowed(&["*".to_string()], "mntr"));
/// ```
pub fn allowed(whitelist: &[String], word: &str) -> bool {
    whitelist.iter().any(|w| w == "*" || w == word)
}

/// The reply for a word that is not whitelisted.
///
/// ```
/// use zk_server_mini::four_letter::not_whitelisted;
/// assert_eq!(not_whitelisted("dump"), "dump is not executed because it is not in the whitelist.\n");
/// ```
pub fn not_whitelisted(word: &str) -> String {
    format!("{word} is not executed because it is not in the whitelist.\n")
}

/// What ZooKeeper 3.8.0 answers a word that needs a running server (see
/// [`needs_a_running_server`]) while it runs none: an ensemble member looking for a leader
/// or still syncing with one.
///
/// ```
/// use zk_server_mini::four_letter::NOT_SERVING;
/// assert!(NOT_SERVING.starts_with("This ZooKeeper instance is not currently serving"));
/// ```
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// Whether 3.8.0 answers `word` with [`NOT_SERVING`] while it runs no server (observed on
/// a looking member: every word but `ruok`, `envi` and `isro`, which says `null`).
///
/// ```
/// use zk_server_mini::four_letter::needs_a_running_server;
/// assert!(needs_a_running_server("srvr") && needs_a_running_server("mntr"));
/// assert!(!needs_a_running_server("ruok") && !needs_a_running_server("envi"));
/// ```
pub fn needs_a_running_server(word: &str) -> bool {
    matches!(
        word,
        "srvr"
            | "stat"
            | "cons"
            | "mntr"
            | "wchs"
            | "wchc"
            | "wchp"
            | "dump"
            | "conf"
            | "dirs"
            | "crst"
            | "srst"
    )
}

fn hex(v: i64) -> String {
    format!("0x{v:x}")
}

impl StateMachine {
    /// The text reply to a four-letter word.
    ///
    /// ```
    /// use zk_server_mini::four_letter::ServerFacts;
    /// use zk_server_mini::state::{CoreConfig, StateMachine};
    /// use zk_server_mini::tree::DataTree;
    /// let sm = StateMachine::new(DataTree::new(), CoreConfig::default(), 0, 0);
    /// let facts = ServerFacts::default();
    /// assert_eq!(sm.four_letter("ruok", &facts), "imok");
    /// assert!(sm.four_letter("srvr", &facts).contains("Mode: standalone"));
    /// ```
    pub fn four_letter(&self, word: &str, facts: &ServerFacts) -> String {
        match word {
            "ruok" => "imok".into(),
            "isro" if self.is_read_only() => "ro".into(),
            "isro" => "rw".into(),
            "srvr" => self.srvr(facts.mode()),
            "stat" => {
                let mut s = String::from("Zookeeper version: ");
                s.push_str(VERSION);
                s.push('\n');
                s.push_str(self.read_only_line());
                s.push_str("Clients:\n");
                s.push_str(&self.client_lines(false));
                s.push('\n');
                let srvr = self.srvr(facts.mode());
                let tail = srvr.split_once('\n').map_or("", |x| x.1);
                s.push_str(tail.strip_prefix(self.read_only_line()).unwrap_or(tail));
                s
            }
            "cons" => self.client_lines(true) + "\n",
            "mntr" => format!(
                "{}{}zk_log_sync_count\t{}\nzk_logged_txn_count\t{}\n",
                self.mntr(facts.mode()),
                facts.extra_mntr,
                facts.log_syncs,
                facts.logged_txns
            ),
            "wchs" => {
                let by_path = self.watches.by_path();
                let conns: std::collections::BTreeSet<_> = by_path.values().flatten().collect();
                format!(
                    "{} connections watching {} paths\nTotal watches:{}\n",
                    conns.len(),
                    by_path.len(),
                    self.watches.watch_count()
                )
            }
            "wchp" => {
                let mut s = String::new();
                for (path, conns) in self.watches.by_path() {
                    let _ = writeln!(s, "{path}");
                    for c in conns {
                        let sid = self.conns.get(&c).and_then(|c| c.session).unwrap_or(0);
                        let _ = writeln!(s, "\t{}", hex(sid));
                    }
                }
                s
            }
            "wchc" => {
                let mut by_session: BTreeMap<i64, Vec<String>> = BTreeMap::new();
                for (path, conns) in self.watches.by_path() {
                    for c in conns {
                        let sid = self.conns.get(&c).and_then(|c| c.session).unwrap_or(0);
                        by_session.entry(sid).or_default().push(path.clone());
                    }
                }
                let mut s = String::new();
                for (sid, paths) in by_session {
                    let _ = writeln!(s, "{}", hex(sid));
                    for p in paths {
                        let _ = writeln!(s, "\t{p}");
                    }
                }
                s
            }
            "dump" => {
                let mut s = String::from("SessionTracker dump:\nSession Sets (");
                let buckets = self.proposer.sessions.buckets();
                let _ = writeln!(s, "{})/({}):", buckets.len(), self.proposer.sessions.len());
                for (deadline, ids) in buckets {
                    let _ = writeln!(s, "{} expire at {deadline}:", ids.len());
                    for id in ids {
                        let _ = writeln!(s, "\t{}", hex(*id));
                    }
                }
                let eph = self.replica.tree.all_ephemerals();
                let _ = writeln!(
                    s,
                    "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
                    eph.len()
                );
                let mut sids: Vec<_> = eph.keys().collect();
                sids.sort();
                for sid in sids {
                    let _ = writeln!(s, "{}:", hex(*sid));
                    for p in &eph[sid] {
                        let _ = writeln!(s, "\t{p}");
                    }
                }
                s
            }
            "conf" => self.conf(facts),
            "envi" => format!(
                "Environment:\nzookeeper.version={VERSION}\nhost.name={}\njava.version=none (Rust)\nos.name={}\nos.arch={}\nuser.dir={}\n",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into()),
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            ),
            other => format!("{other} is not supported by zk-server-mini\n"),
        }
    }

    /// `conf`: the settings, then for an ensemble member its quorum rows and, as ZooKeeper
    /// 3.8.0 prints it, `membership: ` and the configuration `/zookeeper/config` holds.
    fn conf(&self, facts: &ServerFacts) -> String {
        let mut s = format!(
            "clientPort={}\nclientPortAddress={}\ndataDir={}\ndataDirSize=0\ndataLogDir={}\n\
             dataLogSize=0\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\n\
             maxSessionTimeout={}\nclientPortListenBacklog=-1\n",
            facts.client_port,
            facts.client_address,
            facts.data_dir,
            facts.data_log_dir,
            self.config.tick_ms,
            facts.max_client_cnxns,
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        if facts.quorum_conf.is_empty() {
            s.push_str("serverId=0\n");
        } else {
            s.push_str(&facts.quorum_conf);
            s.push_str("membership: \n");
            let text = self
                .replica
                .tree
                .get(crate::reconfig::CONFIG_PATH)
                .and_then(|n| n.data.as_slice().map(String::from_utf8_lossy))
                .unwrap_or_default();
            s.push_str(&text);
        }
        s
    }

    fn srvr(&self, mode: &str) -> String {
        let read_only = self.read_only_line();
        format!(
            "Zookeeper version: {VERSION}\n{read_only}Latency min/avg/max: 0/0.0/0\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: 0\nZxid: {}\nMode: {mode}\nNode count: {}\n",
            self.received,
            self.sent,
            self.conns.len(),
            hex(self.replica.tree.last_zxid),
            self.replica.tree.node_count(),
        )
    }

    /// As 3.8's read-only server, which says so right after its version.
    fn read_only_line(&self) -> &'static str {
        if self.is_read_only() {
            "READ-ONLY mode; serving only read-only clients\n"
        } else {
            ""
        }
    }

    fn client_lines(&self, detailed: bool) -> String {
        let mut ids: Vec<_> = self.conns.keys().copied().collect();
        ids.sort();
        let mut s = String::new();
        for id in ids {
            let Some(c) = self.conns.get(&id) else {
                continue;
            };
            let st = &c.stats;
            if detailed {
                let _ = writeln!(
                    s,
                    " /{}[1](queued=0,recved={},sent={},sid={},lop={},est={},to={},lcxid={},lzxid={},lresp=0,llat=0,minlat=0,avglat=0,maxlat=0)",
                    c.addr,
                    st.received,
                    st.sent,
                    hex(c.session.unwrap_or(0)),
                    st.last_op,
                    st.established_ms,
                    c.timeout_ms,
                    hex(i64::from(st.last_cxid)),
                    hex(st.last_zxid),
                );
            } else {
                let _ = writeln!(
                    s,
                    " /{}[1](queued=0,recved={},sent={})",
                    c.addr, st.received, st.sent
                );
            }
        }
        s
    }

    fn mntr(&self, mode: &str) -> String {
        let eph: usize = self
            .replica
            .tree
            .all_ephemerals()
            .values()
            .map(|s| s.len())
            .sum();
        let data_size: usize = self
            .replica
            .tree
            .iter()
            .map(|(p, n)| p.len() + n.data.len())
            .sum();
        let rows: Vec<(&str, String)> = vec![
            ("zk_version", VERSION.to_string()),
            ("zk_server_state", mode.into()),
            ("zk_avg_latency", "0.0".into()),
            ("zk_max_latency", "0".into()),
            ("zk_min_latency", "0".into()),
            ("zk_packets_received", self.received.to_string()),
            ("zk_packets_sent", self.sent.to_string()),
            ("zk_num_alive_connections", self.conns.len().to_string()),
            ("zk_outstanding_requests", "0".into()),
            ("zk_znode_count", self.replica.tree.node_count().to_string()),
            ("zk_watch_count", self.watches.watch_count().to_string()),
            ("zk_ephemerals_count", eph.to_string()),
            ("zk_approximate_data_size", data_size.to_string()),
            (
                "zk_global_sessions",
                self.proposer.sessions.len().to_string(),
            ),
            ("zk_local_sessions", "0".into()),
            ("zk_last_proposal_size", "-1".into()),
        ];
        let mut s = String::new();
        for (k, v) in rows {
            let _ = writeln!(s, "{k}\t{v}");
        }
        s
    }
}
