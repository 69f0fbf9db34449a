//! Shared by the recipes_* tests: the example programs and peer workers as child processes,
//! their output lines, and the checker that verifies exclusivity and token order from outside.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use zk_integration_tests::clients::workspace_root;

/// The server options of the recipes tests: 200 ms ticks, so 2 s sessions are allowed.
pub fn zk_options() -> zk_integration_tests::ZkOptions {
    zk_integration_tests::ZkOptions::default()
        .tick_time(200)
        .session_timeouts(400, 20_000)
}

/// The directory of the example binaries, built once per test process.
pub fn examples_dir() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "-q", "-p", "zk-recipes", "--examples"])
                .current_dir(workspace_root())
                .stdin(Stdio::null())
                .status()
                .map_err(|e| format!("run cargo: {e}"))?;
            if !status.success() {
                return Err(format!("cargo build --examples: {status}"));
            }
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"));
            let target = if target.is_absolute() {
                target
            } else {
                workspace_root().join(target)
            };
            Ok(target.join("debug").join("examples"))
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A command for the example `name`.
pub fn example(name: &str) -> Command {
    let mut c = Command::new(examples_dir().join(name));
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    c
}

/// The kazoo worker script `name` under tests/python with `python`.
pub fn python_worker(python: &std::path::Path, name: &str) -> Command {
    let mut c = Command::new(python);
    c.arg(workspace_root().join("tests/python").join(name))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    c
}

/// One output line of a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The first field (`ACQUIRED`, `WORK`, ...).
    pub kind: String,
    /// The worker's id.
    pub id: String,
    /// The token (0 when the line has none).
    pub token: i64,
    /// Nanoseconds since the Unix epoch.
    pub ns: u128,
    /// The rest (a LOST reason).
    pub rest: String,
    /// The raw line.
    pub raw: String,
}

/// Parses one line; `None` for lines that are not events.
pub fn parse(raw: &str) -> Option<Line> {
    let f: Vec<&str> = raw.split(' ').collect();
    let kind = *f.first()?;
    let with_token = matches!(
        kind,
        "ACQUIRED" | "WORK" | "RELEASED" | "LOST" | "LEADER" | "NOT_LEADER"
    );
    if with_token {
        Some(Line {
            kind: kind.to_owned(),
            id: (*f.get(1)?).to_owned(),
            token: f.get(2)?.parse().ok()?,
            ns: f.get(3)?.parse().ok()?,
            rest: f.get(4..).map(|r| r.join(" ")).unwrap_or_default(),
            raw: raw.to_owned(),
        })
    } else {
        Some(Line {
            kind: kind.to_owned(),
            id: (*f.get(1)?).to_owned(),
            token: 0,
            ns: f.get(2)?.parse().ok()?,
            rest: f.get(3..).map(|r| r.join(" ")).unwrap_or_default(),
            raw: raw.to_owned(),
        })
    }
}

/// A running worker whose stdout lines are collected.
pub struct Worker {
    pub name: String,
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Worker {
    /// Spawns `command` and collects its lines.
    pub fn spawn(name: &str, mut command: Command) -> Worker {
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().expect("lines").push(line);
            }
        });
        Worker {
            name: name.to_owned(),
            child,
            lines,
        }
    }

    /// The parsed lines so far.
    pub fn events(&self) -> Vec<Line> {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .filter_map(|l| parse(l))
            .collect()
    }

    /// Waits (at most `limit`) until a line satisfies `pred`; returns it.
    pub async fn wait_for(&self, limit: Duration, pred: impl Fn(&Line) -> bool) -> Line {
        let until = Instant::now() + limit;
        loop {
            if let Some(l) = self.events().into_iter().find(|l| pred(l)) {
                return l;
            }
            if Instant::now() >= until {
                panic!(
                    "{}: no matching line within {limit:?}; got:\n{}",
                    self.name,
                    self.lines.lock().expect("lines").join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the process to exit (at most `limit`, else kills it and panics).
    pub async fn finish(&mut self, limit: Duration) {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(Ok(status)) => assert!(status.success(), "{} exited with {status}", self.name),
            Ok(Err(e)) => panic!("{}: wait: {e}", self.name),
            Err(_) => {
                let _ = self.child.start_kill();
                panic!(
                    "{} did not finish within {limit:?}; output:\n{}",
                    self.name,
                    self.lines.lock().expect("lines").join("\n")
                );
            }
        }
        // Let the reader drain the last lines.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = self.child.id().expect("running child");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid"));
        nix::sys::signal::kill(pid, signal).expect("kill");
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// One holder's claims: every instant at which it asserted it held (ACQUIRED and WORK lines,
/// or LEADER and WORK).
#[derive(Debug, Clone)]
pub struct Tenure {
    pub id: String,
    pub token: i64,
    pub first_ns: u128,
    pub last_ns: u128,
    pub claims: usize,
}

/// Groups claim lines into tenures (one per id and token).
pub fn tenures(lines: &[Line], claim_kinds: &[&str]) -> Vec<Tenure> {
    let mut out: Vec<Tenure> = Vec::new();
    for l in lines
        .iter()
        .filter(|l| claim_kinds.contains(&l.kind.as_str()))
    {
        match out.iter_mut().find(|t| t.id == l.id && t.token == l.token) {
            Some(t) => {
                t.first_ns = t.first_ns.min(l.ns);
                t.last_ns = t.last_ns.max(l.ns);
                t.claims += 1;
            }
            None => out.push(Tenure {
                id: l.id.clone(),
                token: l.token,
                first_ns: l.ns,
                last_ns: l.ns,
                claims: 1,
            }),
        }
    }
    out.sort_by_key(|t| t.first_ns);
    out
}

/// The checker: no two tenures overlap in time, and tokens strictly increase from one tenure
/// to the next. Returns the tenures in order. Panics with the evidence otherwise.
pub fn check_exclusive(lines: &[Line], claim_kinds: &[&str]) -> Vec<Tenure> {
    let ts = tenures(lines, claim_kinds);
    for pair in ts.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.last_ns < b.first_ns,
            "overlap: {} (token {}) claimed until {} but {} (token {}) claimed from {}",
            a.id,
            a.token,
            a.last_ns,
            b.id,
            b.token,
            b.first_ns
        );
        assert!(
            a.token < b.token,
            "tokens not increasing: {} had {} before {} had {}",
            a.id,
            a.token,
            b.id,
            b.token
        );
    }
    ts
}

/// All lines of all workers.
pub fn all_events(workers: &[&Worker]) -> Vec<Line> {
    workers.iter().flat_map(|w| w.events()).collect()
}

#[test]
fn checker_rejects_overlap_and_token_regressions() {
    let l = |kind: &str, id: &str, token: i64, ns: u128| Line {
        kind: kind.into(),
        id: id.into(),
        token,
        ns,
        rest: String::new(),
        raw: String::new(),
    };
    let ok = vec![
        l("ACQUIRED", "a", 1, 10),
        l("WORK", "a", 1, 20),
        l("ACQUIRED", "b", 2, 21),
    ];
    assert_eq!(check_exclusive(&ok, &["ACQUIRED", "WORK"]).len(), 2);
    let overlap = vec![
        l("ACQUIRED", "a", 1, 10),
        l("WORK", "a", 1, 30),
        l("ACQUIRED", "b", 2, 21),
    ];
    assert!(std::panic::catch_unwind(|| check_exclusive(&overlap, &["ACQUIRED", "WORK"])).is_err());
    let regress = vec![l("ACQUIRED", "a", 5, 10), l("ACQUIRED", "b", 2, 21)];
    assert!(std::panic::catch_unwind(|| check_exclusive(&regress, &["ACQUIRED", "WORK"])).is_err());
}
