//! `zk-server-mini`: run the server from flags or a `zoo.cfg`.
//!
//! ```text
//! zk-server-mini --port 2181 --data-dir /var/lib/zk-mini [--bind 127.0.0.1] [--tick-ms 2000]
//! zk-server-mini --config /etc/zookeeper/zoo.cfg
//! ```

use std::io::IsTerminal as _;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use zk_server_mini::{MiniServer, ServerConfig};

/// Test-only: milliseconds every snapshot write pauses before its rename.
const SNAPSHOT_DELAY_ENV: &str = "ZK_MINI_FAULT_SNAPSHOT_DELAY_MS";

/// Test-only: milliseconds every log write takes at least (a slow disk).
const LOG_DELAY_ENV: &str = "ZK_MINI_FAULT_LOG_DELAY_MS";

/// Test-only: a file an ensemble member polls for faults (partitions, a slow disk, dropped
/// connections, expired sessions); see `zk_server_mini::fault_control`.
const FAULT_CONTROL_ENV: &str = "ZK_MINI_FAULT_CONTROL";

const HELP: &str = "\
zk-server-mini: a small ZooKeeper-compatible server (standalone or a replicated ensemble)

USAGE:
    zk-server-mini --config zoo.cfg
    zk-server-mini --port PORT --data-dir DIR [--bind ADDR] [--tick-ms MS] [--4lw WORDS]

  --config FILE     a ZooKeeper zoo.cfg (the keys below)
  --port PORT       clientPort
  --data-dir DIR    dataDir (snapshots, the transaction log, `myid` for an ensemble)
  --bind ADDR       clientPortAddress (default 127.0.0.1)
  --tick-ms MS      tickTime (default 2000)
  --4lw WORDS       4lw.commands.whitelist, e.g. `srvr,ruok,mntr` or `*`
  -Dreadonlymode.enabled=true
                    read-only mode, as ZooKeeper's JVM property (also a zoo.cfg key)

zoo.cfg keys read (others are logged and ignored):
    tickTime dataDir dataLogDir clientPort clientPortAddress initLimit syncLimit
    minSessionTimeout maxSessionTimeout maxClientCnxns snapCount 4lw.commands.whitelist
    extendedTypesEnabled jute.maxbuffer znode.container.checkIntervalMs
    zookeeper.DigestAuthenticationProvider.superDigest readonlymode.enabled
    server.N=host:quorumPort:electionPort[:participant]   (two or more: an ensemble; each
                                                          member's dataDir holds its `myid`)
    mini.maxConnectionBytes mini.maxServerBytes mini.maxWatchesPerConnection
    mini.maxWatchBytesPerConnection mini.handshakeTimeoutMs     (this server's own limits)

Four-letter words (as ZooKeeper's): ruok srvr stat mntr cons wchs wchc wchp dump conf envi isro.
Logs go to stderr (RUST_LOG=debug for more). SIGTERM or SIGINT stops it cleanly.

EXIT STATUS: 0 stopped by a signal, 1 could not start or failed, 2 bad usage or configuration.
";

/// glibc malloc arenas the server uses (unless `MALLOC_ARENA_MAX` says otherwise).
///
/// Measured (bench `ensemble_vs_ensemble`, 100k znodes, 3 members as processes): with
/// glibc's default (up to 8 arenas per core) a member's RSS was 34 to 54 MiB from run to run,
/// as the long-lived tree and the short-lived request and log buffers, allocated on
/// whichever runtime thread ran, fragmented several arenas; with 2 arenas (or 1) it was
/// 34 to 36 MiB in every run, at the same throughput.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: i32 = 2;

/// Caps glibc's malloc arenas ([`MALLOC_ARENAS`]) before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return; // glibc already took the operator's setting
    }
    // SAFETY: `mallopt` only changes a malloc tunable; it is called here, in `main` before
    // the runtime starts, while this process has a single thread.
    #[allow(unsafe_code)]
    let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS) };
    if ok == 0 {
        eprintln!("zk-server-mini: could not limit malloc arenas; continuing");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("zk-server-mini: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = match ServerConfig::from_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("run `zk-server-mini --help` for the usage");
            return ExitCode::from(2);
        }
    };
    let mut builder = MiniServer::builder().config(config);
    // Fault injection for the crash tests: a snapshot write that takes this long.
    if let Some(ms) = std::env::var(SNAPSHOT_DELAY_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        builder = builder.snapshot_write_delay(std::time::Duration::from_millis(ms));
    }
    // And for the memory tests: writes that pile up behind a slow log.
    if let Some(ms) = std::env::var(LOG_DELAY_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        builder = builder.log_sync_delay(std::time::Duration::from_millis(ms));
    }
    let server = match builder.start().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    if let (Some(path), Some(faults)) =
        (std::env::var_os(FAULT_CONTROL_ENV), server.member_faults())
    {
        let admin = server.admin_handle();
        tokio::spawn(zk_server_mini::fault_control::follow(
            path.into(),
            faults,
            admin,
        ));
    }
    match server.run_until(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                    _ = int.recv() => tracing::info!("SIGINT: shutting down"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
