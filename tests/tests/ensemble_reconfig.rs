//! Dynamic reconfiguration, the client-visible contract: the same scenario on a real Apache
//! ZooKeeper 3.8.0 ensemble and on the `zk-server-mini` ensemble (child processes), each with
//! three voters, a super user, and `reconfigEnabled` on or off:
//!
//! - `/zookeeper/config` holds `server.N=host:q:e:participant` lines and `version=<hex>`
//!   (`100000000` for a fresh ensemble with reconfiguration on, `0` with it off), its stat
//!   has data version -1 and the version as `mzxid`, its ACL is `world:anyone` READ;
//! - kazoo's `reconfig` is refused with `ReconfigDisabledError` when off, `NoAuthError`
//!   without the super user, `BadArgumentsError` for removing every voter, a malformed
//!   server spec, or an incremental and a whole membership at once, `BadVersionError` for a
//!   stale `from_config`; a change that leaves the membership as it is (removing an id that
//!   is no member) commits a new version, equal to its zxid, and fires the getConfig watch;
//! - `conf` ends in the member's quorum rows, `membership: ` and the configuration;
//! - the Java `zkCli.sh` prints the configuration with `config`, refuses `reconfig` without
//!   the super user, and prints `Committed new configuration:` with it;
//! - ten reconfigurations committed while two kazoo clients on other members create nodes:
//!   the versions increase, and every acknowledged create (and nothing else) is there after;
//! - a member killed and restarted after them serves the newest configuration;
//! - a real member's rewritten `zoo.cfg` (`dynamicConfigFile=`) reads back, in the mini, to
//!   the membership its `/zookeeper/config` holds;
//! - a standalone server leaves `/zookeeper/config` empty and refuses every `reconfig`,
//!   with `ReconfigDisabled`, or `Unimplemented` (before any ACL check) when enabled.
//!
//! The observations of both runs must be equal. Member ports differ between the runs, so
//! every `host:quorumPort:electionPort` is written as `ADDR` before comparing.

use std::net::SocketAddr;
use std::time::Duration;

use zk_integration_tests::backend::{Backend, BackendKind};
use zk_integration_tests::bounded;
use zk_integration_tests::clients::{LoadPlan, LoadStep};
use zk_integration_tests::ensemble::{Ensemble, EnsembleConfig};
use zk_integration_tests::{RealZkEnsemble, ZkOptions, clients, require, require_real_zk};

/// Starts three voters with `reconfigEnabled` set to `reconfig` and a super user.
async fn start(real: bool, reconfig: bool) -> Ensemble {
    let config = EnsembleConfig::new(3)
        .real_options(ZkOptions::default().tick_time(500))
        .reconfig_enabled(reconfig)
        .super_user("super", "secret");
    Ensemble::start(real, &config).await
}

/// Kills member `id` and starts it again (it syncs with the others before it serves).
async fn restart(ensemble: &mut Ensemble, id: u64) {
    ensemble.kill(id).await;
    ensemble.restart(id).await;
}

/// `getConfig` on member `id` alone: the data, and the stat's version and mzxid.
async fn config(ensemble: &Ensemble, id: u64) -> (Vec<u8>, i32, i64) {
    let client = zk_client::Client::builder(&ensemble.addr(id).to_string())
        .session_timeout(Duration::from_secs(10))
        .initial_connect_timeout(Duration::from_secs(60))
        .connect()
        .await
        .expect("a session");
    client.sync("/").await.expect("sync");
    let (data, stat) = client.get_config().await.expect("getConfig");
    client.close().await;
    (data.to_vec(), stat.version, stat.mzxid)
}

/// Every `host:port:port` after a `server.N=` of a config text as `ADDR`.
fn normalise(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            let Some(at) = line.find("server.") else {
                return line.to_owned();
            };
            let Some(eq) = line[at..].find('=').map(|e| at + e + 1) else {
                return line.to_owned();
            };
            let rest: Vec<&str> = line[eq..].splitn(4, ':').collect();
            format!("{}ADDR:{}", &line[..eq], rest.get(3).unwrap_or(&""))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// kazoo on `argv[1]` (a member that is not server 1's client, for the super user) and
/// `argv[2]`: prints what it saw, one observation a line, config texts with `\n` escaped.
const KAZOO: &str = r#"
import sys, threading
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry
def client(host, auth=None):
    zk = KazooClient(hosts=host, timeout=10.0, auth_data=auth,
                     command_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5, deadline=30))
    zk.start(timeout=30)
    return zk
def show(label, data, stat):
    text = data.decode()
    version = text.rsplit("version=", 1)[1]
    print(label, repr(text), "dataVersion", stat.version, "version-is-mzxid",
          int(version, 16) == stat.mzxid)
    return stat.mzxid
def attempt(label, f):
    try:
        data, stat = f()
        show(label + " ok", data, stat)
    except Exception as e:
        print(label, "error", type(e).__name__)
plain = client(sys.argv[1])
root = client(sys.argv[2], [("digest", "super:secret")])
data, stat = plain.get("/zookeeper/config")
first = show("config", data, stat)
print("initial version", data.decode().rsplit("version=", 1)[1], "mzxid", hex(first))
acl, _ = plain.get_acls("/zookeeper/config")
print("acl", [(a.perms, a.id.scheme, a.id.id) for a in acl])
fired = threading.Event()
events = []
def watch(event):
    events.append((event.type, event.path))
    fired.set()
plain.get("/zookeeper/config", watch=watch)
attempt("reconfig without the super user", lambda: plain.reconfig(joining=None, leaving="9", new_members=None))
attempt("remove every voter", lambda: root.reconfig(joining=None, leaving="1,2,3", new_members=None))
attempt("malformed spec", lambda: root.reconfig(joining="server.5=garbage", leaving=None, new_members=None))
attempt("not a spec", lambda: root.reconfig(joining="blah", leaving=None, new_members=None))
attempt("incremental and whole", lambda: root.reconfig(
    joining="server.5=127.0.0.1:1:2:observer", leaving=None, new_members="server.1=127.0.0.1:3:4"))
attempt("stale from_config", lambda: root.reconfig(joining=None, leaving="9", new_members=None, from_config=12345))
try:
    data, stat = root.reconfig(joining=None, leaving="9", new_members=None)
    second = show("remove a non-member", data, stat)
    print("version grew", second > first)
    print("watch fired", fired.wait(30), events)
    data, stat = plain.get("/zookeeper/config")
    print("the other client reads the same", show("reread", data, stat) == second)
    data, stat = root.reconfig(joining=None, leaving=None, new_members=None, from_config=second)
    print("from the current version grew", show("from current", data, stat) > second)
except Exception as e:
    print("no-op reconfig error", type(e).__name__)
plain.stop(); root.stop()
"#;

/// Reconfigurations under client load: writers on `hosts[0]` and `hosts[1]` create nodes
/// while the super user on `hosts[2]` commits ten reconfigurations (each creates at least 20);
/// every acknowledged create must be read back from a fresh session on `hosts[1]` afterwards.
async fn kazoo_load(hosts: [SocketAddr; 3]) -> Vec<String> {
    let noop = LoadStep {
        label: "remove a non-member".to_owned(),
        joining: None,
        leaving: Some("9".to_owned()),
    };
    let plan = LoadPlan {
        writers: [hosts[0], hosts[1]],
        root: hosts[2],
        check: hosts[1],
        steps: vec![noop; 10],
        acks_between_steps: 0,
        min_acks_each: 20,
    };
    let report = clients::kazoo_reconfig_under_load(&plan).await;
    let versions: Vec<i64> = report
        .steps
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().copied())
        .collect();
    let py = |b: bool| if b { "True" } else { "False" };
    vec![
        format!("load: reconfigs committed {}", versions.len()),
        format!(
            "load: versions increase {}",
            py(versions.windows(2).all(|w| w[0] < w[1]))
        ),
        format!(
            "load: writes acknowledged at least 40 {}",
            py(report.acked[0] + report.acked[1] >= 40)
        ),
        format!(
            "load: every acknowledged write present {}",
            py(report.every_acked_present)
        ),
        format!(
            "load: nothing unacknowledged present {}",
            py(report.nothing_else_present)
        ),
    ]
}

async fn kazoo(plain: SocketAddr, root: SocketAddr) -> Vec<String> {
    clients::kazoo_script(KAZOO, &[&plain.to_string(), &root.to_string()])
        .await
        .lines()
        .map(|l| normalise(&l.replace("\\n", "\n")).replace('\n', "\\n"))
        .collect()
}

/// `zkCli.sh` fed `commands` on stdin; the lines it printed that are not log or banner.
async fn zkcli(addr: SocketAddr, commands: &str) -> Vec<String> {
    let text = clients::zkcli_session(addr, commands).await;
    text.lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("server.")
                || l.starts_with("version=")
                || l.starts_with("Committed")
                || l.starts_with("Insufficient")
                || l.starts_with("KeeperErrorCode")
        })
        .map(|l| match l.split_once("version=") {
            Some(("", _)) => "version=<hex>".to_owned(),
            _ => normalise(l),
        })
        .collect()
}

/// The whole scenario; returns what it observed.
async fn run(real: bool, reconfig: bool) -> Vec<String> {
    let mut ensemble = start(real, reconfig).await;
    let mut seen = kazoo(ensemble.addr(1), ensemble.addr(2)).await;
    seen.push("-- conf on server 1, from serverId on".to_owned());
    let conf = zk_integration_tests::four_letter_word(ensemble.addr(1), "conf")
        .await
        .expect("conf");
    seen.extend(
        conf.lines()
            .skip_while(|l| !l.starts_with("serverId="))
            .map(|l| match l.split_once('=') {
                Some(("electionPort" | "quorumPort" | "version", _)) => {
                    format!("{}=<n>", l.split('=').next().unwrap_or(""))
                }
                _ => normalise(l),
            }),
    );
    seen.push("-- zkCli.sh config, reconfig without and with the super user".to_owned());
    seen.extend(zkcli(ensemble.addr(3), "config\nreconfig -remove 9").await);
    seen.extend(
        zkcli(
            ensemble.addr(3),
            "addauth digest super:secret\nreconfig -remove 9",
        )
        .await,
    );
    if reconfig {
        let hosts = [ensemble.addr(1), ensemble.addr(2), ensemble.addr(3)];
        seen.extend(kazoo_load(hosts).await);
        // A restarted member comes back with the newest configuration, data and stat.
        let before = config(&ensemble, 1).await;
        restart(&mut ensemble, 3).await;
        let after = config(&ensemble, 3).await;
        assert_eq!(
            String::from_utf8_lossy(&after.0),
            String::from_utf8_lossy(&before.0),
            "real: {real}"
        );
        assert_eq!((after.1, after.2), (before.1, before.2), "real: {real}");
        seen.push("restarted member has the newest config".to_owned());
    }
    if let (Ensemble::Real(zk), true) = (&ensemble, reconfig) {
        the_rewritten_zoo_cfg_reads_back(zk).await;
    }
    ensemble.stop().await;
    seen
}

/// A real member with `reconfigEnabled` rewrites its `zoo.cfg` to point at
/// `zoo.cfg.dynamic.<version>`; the mini's `--config` reads it back to the membership that
/// the member's `/zookeeper/config` holds.
async fn the_rewritten_zoo_cfg_reads_back(zk: &RealZkEnsemble) {
    let client = zk_client::Client::builder(&zk.node(0).addr().to_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("a session");
    let (data, _) = client.get_config().await.expect("getConfig");
    let cfg_path = zk.node(0).dir().join("zoo.cfg");
    let args = ["--config".to_owned(), cfg_path.display().to_string()];
    let cfg = zk_server_mini::ServerConfig::from_args(args).expect("the mini reads it");
    let file = cfg.dynamic_config_file.clone().expect("dynamicConfigFile=");
    let version = file
        .extension()
        .and_then(|v| i64::from_str_radix(&v.to_string_lossy(), 16).ok())
        .expect("zoo.cfg.dynamic.<hex version>");
    let text = zk_server_mini::reconfig::Membership {
        servers: cfg.servers,
        version,
    }
    .text();
    assert_eq!(text.as_bytes(), &data[..], "{}", cfg_path.display());
    client.close().await;
}

async fn compare(reconfig: bool) {
    let real = bounded(Duration::from_secs(300), run(true, reconfig)).await;
    let mini = bounded(Duration::from_secs(300), run(false, reconfig)).await;
    assert_eq!(
        mini, real,
        "mini (left) and real (right) differ:\nmini: {mini:#?}\nreal: {real:#?}"
    );
}

/// kazoo on a standalone server: `/zookeeper/config` and `reconfig` with and without the
/// super user; prints what it saw.
const KAZOO_STANDALONE: &str = r#"
import sys
from kazoo.client import KazooClient
plain = KazooClient(hosts=sys.argv[1], timeout=10.0); plain.start(timeout=30)
root = KazooClient(hosts=sys.argv[1], timeout=10.0, auth_data=[("digest", "super:secret")])
root.start(timeout=30)
data, stat = plain.get("/zookeeper/config")
print("config", repr(data), "dataVersion", stat.version, "mzxid", stat.mzxid)
for label, zk in [("plain", plain), ("super", root)]:
    for leaving in ["1", "9"]:
        try:
            print(label, leaving, "ok", zk.reconfig(joining=None, leaving=leaving, new_members=None))
        except Exception as e:
            print(label, leaving, "error", type(e).__name__)
plain.stop(); root.stop()
"#;

async fn standalone(kind: BackendKind, reconfig: bool) -> Vec<String> {
    let opts = ZkOptions::default()
        .tick_time(500)
        .reconfig_enabled(reconfig)
        .super_user("super", "secret");
    let server = Backend::start(kind, opts).await.expect("start a server");
    let out = clients::kazoo_script(KAZOO_STANDALONE, &[&server.addr().to_string()]).await;
    server.stop().await;
    out.lines().map(str::to_owned).collect()
}

/// A standalone server: empty `/zookeeper/config`; `reconfig` refused with
/// `ReconfigDisabled`, or with reconfiguration on, as the real server refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_reconfig_matches_the_real_server() {
    require_real_zk!();
    require!("kazoo", clients::kazoo());
    for reconfig in [false, true] {
        let real = bounded(
            Duration::from_secs(120),
            standalone(BackendKind::Real, reconfig),
        )
        .await;
        let mini = bounded(
            Duration::from_secs(120),
            standalone(BackendKind::Mini, reconfig),
        )
        .await;
        assert_eq!(
            mini, real,
            "reconfigEnabled={reconfig}: mini (left), real (right)"
        );
    }
}

/// `reconfigEnabled=true`: the config node, kazoo's reconfig and its refusals, zkCli.sh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfig_enabled_matches_the_real_ensemble() {
    require_real_zk!();
    require!("kazoo", clients::kazoo());
    require!("zkCli.sh", clients::zkcli());
    compare(true).await;
}

/// `reconfigEnabled` off (the default): `version=0`, and every reconfig is refused with
/// `ReconfigDisabled` before any other check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfig_disabled_matches_the_real_ensemble() {
    require_real_zk!();
    require!("kazoo", clients::kazoo());
    require!("zkCli.sh", clients::zkcli());
    compare(false).await;
}
