//! Where the reference clients live on a Debian 12 machine, and whether they are usable.
//!
//! Use with [`crate::require!`]: `require!("kazoo", clients::kazoo())`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The Java CLI from the Debian `zookeeper` package (`zkCli.sh -server host:port [cmd]`; reads
/// commands from stdin when no command is given; JLine is disabled, so piping works).
pub const ZKCLI_SH: &str = "/usr/share/zookeeper/bin/zkCli.sh";

/// The multi-threaded C CLI from the Debian `zookeeper-bin` package (`cli_mt host:port`; reads
/// commands from stdin, `help` lists them). Not on `PATH`.
pub const CLI_MT: &str = "/usr/lib/zookeeper/bin/cli_mt";

fn existing(env: &str, default: &str, package: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing (install with `apt-get install {package}`, or set ${env})",
            path.display()
        ))
    }
}

/// `zkCli.sh` (`$ZKCLI` overrides the path).
///
/// # Errors
/// A sentence saying what is missing.
pub fn zkcli() -> Result<PathBuf, String> {
    existing("ZKCLI", ZKCLI_SH, "zookeeper")
}

/// Runs `zkCli.sh -server addr`, feeds it `commands` (one per line) and `quit` on stdin, and
/// returns everything it printed (stdout, then stderr). Killed if dropped.
///
/// ```no_run
/// # async fn demo(addr: std::net::SocketAddr) {
/// let printed = zk_integration_tests::clients::zkcli_session(addr, "config").await;
/// assert!(printed.contains("version="));
/// # }
/// ```
///
/// # Panics
/// When `zkCli.sh` is missing or cannot be run (check [`zkcli`] first).
pub async fn zkcli_session(addr: std::net::SocketAddr, commands: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(zkcli().expect("zkCli.sh"))
        .args(["-server", &addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run zkCli.sh");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{commands}\nquit\n").as_bytes())
        .await
        .expect("write commands");
    drop(stdin);
    let out = child.wait_with_output().await.expect("zkCli.sh output");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `cli_mt` (`$CLI_MT` overrides the path).
///
/// # Errors
/// A sentence saying what is missing.
pub fn cli_mt() -> Result<PathBuf, String> {
    existing("CLI_MT", CLI_MT, "zookeeper-bin")
}

/// The Python interpreter that can `import kazoo` (`$PYTHON`, else `python3`).
///
/// # Errors
/// A sentence saying what is missing.
pub fn kazoo() -> Result<PathBuf, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let python = std::env::var_os("PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("python3"));
            let ok = Command::new(&python)
                .args(["-c", "import kazoo"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                Ok(python)
            } else {
                Err(format!(
                    "`{} -c 'import kazoo'` failed (install with `pip install kazoo`, or set $PYTHON)",
                    python.display()
                ))
            }
        })
        .clone()
}

/// Runs the Python `script` under the interpreter that has kazoo ([`kazoo`]) with `args`,
/// and returns what it printed on stdout; fails the test (panics) if it cannot run or exits
/// with an error, with both of its outputs in the message. Killed if dropped.
///
/// ```no_run
/// # async fn demo() {
/// let out = zk_integration_tests::clients::kazoo_script("import sys; print(sys.argv[1])", &["hi"]).await;
/// assert_eq!(out.trim(), "hi");
/// # }
/// ```
pub async fn kazoo_script(script: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(kazoo().expect("kazoo"))
        .arg("-c")
        .arg(script)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run kazoo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kazoo script {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The repository root (the workspace directory), for finding `tools/` and fixtures.
pub fn workspace_root() -> &'static Path {
    // CARGO_MANIFEST_DIR is `<root>/tests`.
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// One `reconfig` of [`kazoo_reconfig_under_load`]: `joining` and `leaving` as kazoo's
/// `reconfig` takes them (`None` for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadStep {
    /// Printed with the step's outcome.
    pub label: String,
    /// A server spec to add (or change the role of).
    pub joining: Option<String>,
    /// Comma-separated server ids to remove.
    pub leaving: Option<String>,
}

/// Where the kazoo clients of [`kazoo_reconfig_under_load`] connect, and how they pace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadPlan {
    /// The two writers' hosts (writer `a`, writer `b`).
    pub writers: [std::net::SocketAddr; 2],
    /// Where the super user (`super:secret`) sends the reconfigurations.
    pub root: std::net::SocketAddr,
    /// Where the nodes are read back afterwards (after a `sync`).
    pub check: std::net::SocketAddr,
    /// The reconfigurations, in order.
    pub steps: Vec<LoadStep>,
    /// Before the first step and after each, wait until each writer had this many more
    /// creates acknowledged (0: no waiting).
    pub acks_between_steps: usize,
    /// Each writer goes on after the last step until it had this many creates acknowledged.
    pub min_acks_each: usize,
}

/// What [`kazoo_reconfig_under_load`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Each step's label and outcome: the `mzxid` of the configuration it answered, or the
    /// name of the exception kazoo raised.
    pub steps: Vec<(String, Result<i64, String>)>,
    /// Creates acknowledged to writer `a` and writer `b`.
    pub acked: [usize; 2],
    /// The names of the exceptions the writers got, sorted, without repeats.
    pub writer_errors: Vec<String>,
    /// Every acknowledged create was read back.
    pub every_acked_present: bool,
    /// Nothing was read back that was not acknowledged.
    pub nothing_else_present: bool,
}

/// Reconfigurations under client load: two kazoo writers create sequential nodes under
/// `/load` while the super user commits [`LoadPlan::steps`]; afterwards a fresh session
/// reads `/load` back.
const KAZOO_LOAD: &str = r#"
import sys, json, threading
from kazoo.client import KazooClient
plan = json.loads(sys.argv[1])
def client(host, auth=None):
    zk = KazooClient(hosts=host, timeout=10.0, auth_data=auth)
    zk.start(timeout=30)
    return zk
setup = client(plan["writers"][0])
setup.ensure_path("/load")
acked = {"a": [], "b": []}
errors = []
lock = threading.Lock()
stop = threading.Event()
def writer(host, name):
    zk = client(host)
    while not stop.is_set() or len(acked[name]) < plan["min_each"]:
        try:
            path = zk.create("/load/%s-" % name, b"x", sequence=True)
            with lock:
                acked[name].append(path)
        except Exception as e:
            with lock:
                errors.append(type(e).__name__)
    zk.stop()
def count(name):
    with lock:
        return len(acked[name])
def wait_for_more(n):
    marks = {k: count(k) for k in acked}
    while any(count(k) < marks[k] + n for k in acked) and not errors:
        stop.wait(0.05)
threads = [threading.Thread(target=writer, args=(h, n)) for h, n in
           zip(plan["writers"], ["a", "b"])]
for t in threads: t.start()
root = client(plan["root"], [("digest", "super:secret")])
steps = []
wait_for_more(plan["between"])
for label, joining, leaving in plan["steps"]:
    try:
        data, stat = root.reconfig(joining=joining, leaving=leaving, new_members=None)
        steps.append([label, stat.mzxid, None])
    except Exception as e:
        steps.append([label, None, type(e).__name__])
    wait_for_more(plan["between"])
stop.set()
for t in threads: t.join()
check = client(plan["check"])
check.sync("/load")
present = set("/load/" + c for c in check.get_children("/load"))
every = set(acked["a"]) | set(acked["b"])
print(json.dumps({"steps": steps, "acked": [len(acked["a"]), len(acked["b"])],
                  "errors": sorted(set(errors)), "every": every <= present,
                  "nothing_else": present <= every}))
for zk in (setup, root, check): zk.stop()
"#;

/// Runs [`LoadPlan`] with kazoo (check [`kazoo`] first) and returns what it saw.
///
/// ```no_run
/// # async fn demo(a: std::net::SocketAddr, b: std::net::SocketAddr) {
/// use zk_integration_tests::clients::{LoadPlan, LoadStep, kazoo_reconfig_under_load};
/// let noop = LoadStep { label: "remove 9".into(), joining: None, leaving: Some("9".into()) };
/// let plan = LoadPlan {
///     writers: [a, b],
///     root: b,
///     check: a,
///     steps: vec![noop; 3],
///     acks_between_steps: 0,
///     min_acks_each: 20,
/// };
/// let report = kazoo_reconfig_under_load(&plan).await;
/// assert!(report.every_acked_present && report.nothing_else_present);
/// # }
/// ```
///
/// # Panics
/// When kazoo cannot be run, or the script fails.
pub async fn kazoo_reconfig_under_load(plan: &LoadPlan) -> LoadReport {
    let steps: Vec<serde_json::Value> = plan
        .steps
        .iter()
        .map(|s| serde_json::json!([s.label, s.joining, s.leaving]))
        .collect();
    let json = serde_json::json!({
        "writers": plan.writers.map(|a| a.to_string()),
        "root": plan.root.to_string(),
        "check": plan.check.to_string(),
        "steps": steps,
        "between": plan.acks_between_steps,
        "min_each": plan.min_acks_each,
    });
    let stdout = kazoo_script(KAZOO_LOAD, &[&json.to_string()]).await;
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("the load report");
    let steps = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            let label = s[0].as_str().unwrap_or_default().to_owned();
            let outcome = match s[1].as_i64() {
                Some(mzxid) => Ok(mzxid),
                None => Err(s[2].as_str().unwrap_or_default().to_owned()),
            };
            (label, outcome)
        })
        .collect();
    let count = |i: usize| {
        v["acked"][i]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    };
    LoadReport {
        steps,
        acked: [count(0), count(1)],
        writer_errors: v["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        every_acked_present: v["every"].as_bool().unwrap_or(false),
        nothing_else_present: v["nothing_else"].as_bool().unwrap_or(false),
    }
}
