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

/// The repository root (the workspace directory), for finding `tools/` and fixtures.
pub fn workspace_root() -> &'static Path {
    // CARGO_MANIFEST_DIR is `<root>/tests`.
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}
