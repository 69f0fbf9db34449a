//! The scaffolding of `ensemble_membership.rs`: the real-or-mini ensemble's start and
//! waits, the names a scenario gives members (`L`, `F1`, `F2`, `J4`, `A5`...), a run that
//! records what it saw, and the comparison of two runs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use zk_client::CreateOptions;
use zk_integration_tests::ensemble::EnsembleConfig;
pub use zk_integration_tests::ensemble::{Ensemble, WAIT, session};
use zk_integration_tests::{ServerMode, ZkOptions, bounded, clients, reserve_port};

/// The bound of one scenario on one ensemble.
pub const SCENARIO: Duration = Duration::from_secs(300);
/// The id of the server started as a joiner.
pub const JOINER: u64 = 4;

/// Starts three voters with `reconfigEnabled=true` and a super user.
pub async fn start(real: bool) -> Ensemble {
    let config = EnsembleConfig::new(3)
        .real_options(ZkOptions::default().tick_time(500))
        .reconfig_enabled(true)
        .super_user("super", "secret");
    Ensemble::start(real, &config).await
}

/// Starts joiner `id` (not in the configuration: its `zoo.cfg` lists the members plus
/// itself) and waits until it serves clients.
pub async fn start_joiner(ensemble: &mut Ensemble, id: u64, observer: bool) {
    match ensemble {
        Ensemble::Real(zk) => {
            let i = zk.add_joiner(observer).expect("add a joiner");
            assert_eq!(i as u64 + 1, id, "joiners get the next id");
            zk.restart(i).await.expect("the joiner serves");
        }
        Ensemble::Mini(c) => c
            .add_member(id, observer)
            .await
            .expect("start a joining member"),
    }
    let mode = wait_mode(ensemble, id, &["follower", "observer", "leader"]).await;
    assert_ne!(mode, "unreachable", "joiner {id} never answered");
}

/// Member `id`'s `srvr` mode: `leader`, `follower`, `observer`, `not serving` or
/// `unreachable`.
pub async fn mode(ensemble: &Ensemble, id: u64) -> String {
    match ensemble.mode(id).await {
        ServerMode::NotServing => "not serving".to_owned(),
        other => other.to_string().to_lowercase(),
    }
}

/// Waits until member `id`'s mode is one of `want`; returns the last mode seen (also when
/// the wait ends without it, so the comparison shows what it was).
pub async fn wait_mode(ensemble: &Ensemble, id: u64, want: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mode = mode(ensemble, id).await;
        if want.contains(&mode.as_str()) {
            return mode;
        }
        if tokio::time::Instant::now() >= deadline {
            eprintln!("member {id} never reached {want:?} in {WAIT:?}: {mode}");
            return mode;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until member `id`'s `mntr` has `key` at `value`; returns the `rows` then (or at
/// the end of the wait), as `key value`.
pub async fn wait_mntr(
    ensemble: &Ensemble,
    id: u64,
    key: &str,
    value: &str,
    rows: &[&str],
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mntr = ensemble.four_letter(id, "mntr").await;
        let reached = row(&mntr, key) == value;
        if !reached && tokio::time::Instant::now() >= deadline {
            eprintln!("member {id}'s mntr never had {key} {value} in {WAIT:?}");
        }
        if reached || tokio::time::Instant::now() >= deadline {
            return rows
                .iter()
                .map(|k| format!("mntr {k} {}", row(&mntr, k)))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `mntr` row's value, or `absent`.
pub fn row(mntr: &str, key: &str) -> String {
    mntr.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('\t'))
        .unwrap_or("absent")
        .to_owned()
}

/// What each server id stands for in a scenario, and the client address of each, for
/// normalising configuration texts.
pub struct Parts {
    pub names: BTreeMap<u64, String>,
    pub clients: BTreeMap<u64, SocketAddr>,
}

impl Parts {
    /// `L` for `leader`, `F1`, `F2` for the other voters by id; `J<id>` for joiners added
    /// with [`Parts::joiner`].
    pub fn new(ensemble: &Ensemble, leader: u64) -> Parts {
        let mut parts = Parts {
            names: BTreeMap::new(),
            clients: BTreeMap::new(),
        };
        let mut followers = 0;
        for id in 1..=3 {
            let name = if id == leader {
                "L".to_owned()
            } else {
                followers += 1;
                format!("F{followers}")
            };
            parts.names.insert(id, name);
            parts.clients.insert(id, ensemble.addr(id));
        }
        parts
    }

    pub fn joiner(&mut self, ensemble: &Ensemble, id: u64) {
        self.names.insert(id, format!("J{id}"));
        self.clients.insert(id, ensemble.addr(id));
    }

    /// The id of `name`.
    pub fn id(&self, name: &str) -> u64 {
        self.names
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| *id)
            .unwrap_or_else(|| panic!("no member {name}"))
    }

    /// A configuration text as one line: its `server.` lines renamed and sorted by name,
    /// `|`-separated, then `version=V`.
    pub fn config(&self, text: &str) -> String {
        let mut servers = Vec::new();
        let mut version = "";
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("version=") {
                version = if v.is_empty() { "" } else { "V" };
                continue;
            }
            servers.push(self.server_line(line.trim()));
        }
        servers.sort();
        servers.push(format!("version={version}"));
        servers.join(" | ")
    }

    /// `server.N=host:q:e:role;host:port` with `N`, the address and the client address
    /// normalised; anything else as it is.
    pub fn server_line(&self, line: &str) -> String {
        let Some((key, value)) = line.split_once('=') else {
            return line.to_owned();
        };
        let Some(id) = key
            .strip_prefix("server.")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return line.to_owned();
        };
        let name = self
            .names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string());
        let (quorum, client) = match value.split_once(';') {
            Some((q, c)) => (q, Some(c)),
            None => (value, None),
        };
        let role = quorum.splitn(4, ':').nth(3).map(|r| format!(":{r}"));
        let client = client.map(|c| {
            if self.clients.get(&id).is_some_and(|a| a.to_string() == c) {
                ";CLIENT".to_owned()
            } else {
                format!(";OTHER({c})")
            }
        });
        format!(
            "server.{name}=ADDR{}{}",
            role.unwrap_or_default(),
            client.unwrap_or_default()
        )
    }
}

/// The `version=` of a configuration text, as a number.
pub fn version_of(text: &str) -> i64 {
    text.lines()
        .find_map(|l| l.strip_prefix("version="))
        .and_then(|v| i64::from_str_radix(v, 16).ok())
        .unwrap_or(-1)
}

/// kazoo as the super user on `argv[1]`: `reconfig(joining=argv[2], leaving=argv[3],
/// new_members=argv[4])`, empty meaning `None`. Prints `ok` and the configuration it
/// answered, or `error <exception name>`.
pub const KAZOO_RECONFIG: &str = r#"
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=10.0, auth_data=[("digest", "super:secret")])
zk.start(timeout=30)
arg = lambda i: sys.argv[i] or None
try:
    data, stat = zk.reconfig(joining=arg(2), leaving=arg(3), new_members=arg(4))
    print("ok")
    print(data.decode())
except Exception as e:
    print("error", type(e).__name__)
zk.stop()
"#;

/// The outcome of one `reconfig`: `ok` or `error <name>`, and the configuration answered.
pub struct Outcome {
    pub result: String,
    pub text: String,
}

/// `reconfig` through member `via` as the super user.
pub async fn reconfig(
    ensemble: &Ensemble,
    via: u64,
    joining: &str,
    leaving: &str,
    members: &str,
) -> Outcome {
    let via = ensemble.addr(via).to_string();
    let stdout = clients::kazoo_script(KAZOO_RECONFIG, &[&via, joining, leaving, members]).await;
    let (result, text) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    Outcome {
        result: result.trim().to_owned(),
        text: text.trim().to_owned(),
    }
}

/// `/zookeeper/config` read on member `id` after a `sync`.
pub async fn config_on(ensemble: &Ensemble, id: u64) -> String {
    let client = session(ensemble.addr(id)).await;
    client.sync("/").await.expect("sync");
    let (data, _) = client.get_config().await.expect("getConfig");
    client.close().await;
    String::from_utf8_lossy(&data).into_owned()
}

/// Creates `path` through member `on` and reads it back through member `by` after a `sync`;
/// `true` when it is there.
pub async fn write_is_read(ensemble: &Ensemble, on: u64, by: u64, path: &str) -> bool {
    let writer = session(ensemble.addr(on)).await;
    writer
        .create(path, b"x", &CreateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("create {path} through {on}: {e}"));
    writer.close().await;
    let reader = session(ensemble.addr(by)).await;
    reader.sync(path).await.expect("sync");
    let seen = reader.exists(path).await.expect("exists").is_some();
    reader.close().await;
    seen
}

/// The observations of one scenario, its leader and the names of its members.
pub struct Run {
    pub ensemble: Ensemble,
    pub parts: Parts,
    pub seen: Vec<String>,
}

impl Run {
    pub async fn start(real: bool) -> Run {
        let ensemble = start(real).await;
        // Every member serves before a scenario starts (a member syncing with its leader
        // answers `srvr` with "not currently serving", on both servers).
        let leader = ensemble.settle(&[1, 2, 3]).await;
        let parts = Parts::new(&ensemble, leader);
        Run {
            ensemble,
            parts,
            seen: Vec::new(),
        }
    }

    pub fn id(&self, name: &str) -> u64 {
        self.parts.id(name)
    }

    pub fn see(&mut self, what: impl Into<String>) {
        self.seen.push(what.into());
    }

    /// A `reconfig` through member `via`; records its outcome and returns the version it
    /// answered (-1 on an error).
    pub async fn reconfig(
        &mut self,
        label: &str,
        via: &str,
        joining: &str,
        leaving: &str,
        members: &str,
    ) -> i64 {
        let via = self.id(via);
        let out = reconfig(&self.ensemble, via, joining, leaving, members).await;
        if out.text.is_empty() {
            self.see(format!("{label}: {}", out.result));
        } else {
            let text = self.parts.config(&out.text);
            self.see(format!("{label}: {} {text}", out.result));
        }
        if out.result == "ok" {
            version_of(&out.text)
        } else {
            -1
        }
    }

    pub async fn config(&mut self, label: &str, on: &str) -> i64 {
        let text = config_on(&self.ensemble, self.id(on)).await;
        let normalised = self.parts.config(&text);
        self.see(format!("{label}: config on {on} {normalised}"));
        version_of(&text)
    }

    pub async fn mode(&mut self, name: &str, want: &[&str]) {
        let mode = wait_mode(&self.ensemble, self.id(name), want).await;
        self.see(format!("{name} mode {mode}"));
    }

    /// Waits until the leader `on`'s `mntr` has `key` at `value`, then records its rows for
    /// the learners it counts.
    pub async fn leader_rows(&mut self, on: &str, key: &str, value: &str) {
        const ROWS: [&str; 4] = [
            "zk_synced_followers",
            "zk_synced_non_voting_followers",
            "zk_synced_observers",
            "zk_learners",
        ];
        let rows = wait_mntr(&self.ensemble, self.id(on), key, value, &ROWS).await;
        self.seen
            .extend(rows.into_iter().map(|r| format!("{on} {r}")));
    }

    /// Member `name`'s `mntr` rows for its state.
    pub async fn member_rows(&mut self, name: &str) {
        let mntr = self.ensemble.four_letter(self.id(name), "mntr").await;
        for key in ["zk_server_state", "zk_peer_state"] {
            self.see(format!("{name} mntr {key} {}", row(&mntr, key)));
        }
    }

    /// A participant's spec for server `id` on ports nobody listens on (a voter that is not
    /// running), named `A<id>`.
    pub fn absent_voter(&mut self, id: u64) -> String {
        let port = || reserve_port().expect("a free port").port();
        let client = SocketAddr::from(([127, 0, 0, 1], port()));
        self.parts.names.insert(id, format!("A{id}"));
        self.parts.clients.insert(id, client);
        format!(
            "server.{id}=127.0.0.1:{}:{}:participant;{client}",
            port(),
            port()
        )
    }

    pub async fn joiner(&mut self, observer: bool) {
        start_joiner(&mut self.ensemble, JOINER, observer).await;
        self.parts.joiner(&self.ensemble, JOINER);
    }

    pub async fn finish(self) -> Vec<String> {
        self.ensemble.stop().await;
        self.seen
    }
}

/// Runs `scenario` on the real ensemble, then (unless `MEMBERSHIP_REAL_ONLY` is set) on the
/// mini, and compares what they saw.
pub async fn compare<F, Fut>(scenario: F)
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let real = bounded(SCENARIO, scenario(true)).await;
    if std::env::var_os("MEMBERSHIP_REAL_ONLY").is_some() {
        eprintln!("real ZooKeeper saw:\n{}", real.join("\n"));
        // The scenario is only worth comparing if the reference repeats itself.
        let again = bounded(SCENARIO, scenario(true)).await;
        assert_eq!(again, real, "two runs on real ZooKeeper differ");
        return;
    }
    let mini = bounded(SCENARIO, scenario(false)).await;
    assert_eq!(
        mini, real,
        "mini (left) and real (right) differ:\nmini: {mini:#?}\nreal: {real:#?}"
    );
}
