//! Follows a subtree with `zk_recipes::cache::TreeCache` and prints every event, one line each,
//! so that the cache can be checked from outside. Run with `--help` for the format.

use std::time::Duration;

use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use zk_client::{Client, ExpiryPolicy};
use zk_recipes::cache::{CacheEvent, TreeCache};

const HELP: &str = "\
tree_cache: follow a ZooKeeper subtree and print what changes.

USAGE:
  tree_cache --server HOSTS --path PATH [--session-timeout-ms N]

  --server              connect string, e.g. 127.0.0.1:2181
  --path                root of the cached subtree (need not exist)
  --session-timeout-ms  session timeout (default 10000); a new session is opened after expiry

OUTPUT (stdout, one line per event, fields separated by single spaces):
  INITIALIZED <count>            the initial read is done; <count> nodes cached
  CREATED <path> <mzxid>         a node appeared
  CHANGED <path> <mzxid>         a node's data changed
  DELETED <path> <mzxid>         a node went away (<mzxid> of its last known state)
  RESYNCED                       a full re-read after a reconnect finished
  LAGGED <skipped>               this printer fell behind and missed <skipped> events
  STOPPED <state>                the cache stopped (session closed or lost for good)
  NODE <path> <mzxid>            on SIGTERM: the whole view, root included, in path
                                 order; then the process exits with status 0";

fn parse_args() -> Result<(String, String, u64), String> {
    let mut server = None;
    let mut path = None;
    let mut timeout = 10_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            "--server" => server = Some(value()?),
            "--path" => path = Some(value()?),
            "--session-timeout-ms" => {
                timeout = value()?.parse().map_err(|e| format!("{e}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((
        server.ok_or("--server is required")?,
        path.ok_or("--path is required")?,
        timeout,
    ))
}

#[tokio::main]
async fn main() {
    let (server, path, timeout) = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}\n\n{HELP}");
        std::process::exit(2);
    });
    let mut term = signal(SignalKind::terminate()).unwrap_or_else(|e| {
        eprintln!("cannot handle SIGTERM: {e}");
        std::process::exit(1);
    });
    let client = Client::builder(&server)
        .session_timeout(Duration::from_millis(timeout))
        .expiry_policy(ExpiryPolicy::NewSession)
        .connect()
        .await
        .unwrap_or_else(|e| {
            eprintln!("connect {server}: {e}");
            std::process::exit(1);
        });
    let cache = TreeCache::start(&client, &path).await.unwrap_or_else(|e| {
        eprintln!("start the cache of {path}: {e}");
        std::process::exit(1);
    });
    let mut events = cache.events();
    loop {
        tokio::select! {
            _ = term.recv() => break,
            event = events.next() => match event {
                Some(event) => println!("{}", line(&event)),
                None => break,
            },
        }
    }
    for (path, node) in cache.snapshot() {
        println!("NODE {path} {}", node.stat.mzxid);
    }
    client.close().await;
}

fn line(event: &CacheEvent) -> String {
    match event {
        CacheEvent::Initialized { count } => format!("INITIALIZED {count}"),
        CacheEvent::Created { path, node } => format!("CREATED {path} {}", node.stat.mzxid),
        CacheEvent::Changed { path, node } => format!("CHANGED {path} {}", node.stat.mzxid),
        CacheEvent::Deleted { path, node } => format!("DELETED {path} {}", node.stat.mzxid),
        CacheEvent::Resynced { .. } => "RESYNCED".to_owned(),
        CacheEvent::Lagged { skipped } => format!("LAGGED {skipped}"),
        CacheEvent::Stopped { state } => format!("STOPPED {state}"),
    }
}
