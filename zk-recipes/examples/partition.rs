//! Joins a partitioned group and "works" on the units it is given, reporting every event on
//! stdout, one line each, so that processes can be checked from outside. Run with `--help` for
//! the format.

#[path = "support/args.rs"]
mod args;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use args::{Args, unix_ns};
use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use zk_recipes::partition::{PartitionEvent, Partitioner, PartitionerOptions, Units};

const HELP: &str = "\
partition: join a ZooKeeper partitioned group and work on the units it assigns.

USAGE:
  partition --server HOSTS --path PATH --id ID (--units N | --units-path PATH)
            [--weight W] [--session-timeout-ms N] [--grace-ms N]

  --server              connect string, e.g. 127.0.0.1:2181
  --path                the group's path
  --id                  this member's id (unique among live members)
  --units               N fixed units named u000 .. u<N-1>
  --units-path          the units are the children of this znode (added/removed at runtime)
  --weight              relative weight (default 1)
  --session-timeout-ms  session timeout (default 4000)
  --grace-ms            how long a departed member's units wait before moving (default 0)

OUTPUT (stdout, one line per event, fields separated by single spaces, times in
nanoseconds since the Unix epoch, token = czxid of the unit's claim node):
  ASSIGNED <id> <unit> <token> <unix_ns>          the unit was granted
  WORK <id> <unit> <token> <unix_ns>              every 10 ms per owned unit: the time is
                                                  taken first, then ownership is checked, so
                                                  the line asserts the unit was owned at
                                                  <unix_ns>
  REVOKED <id> <unit> <token> <unix_ns> <reason>  work on the unit stopped (moved, removed,
                                                  suspended, lease_expired, session_expired,
                                                  shutdown)
  ERROR <id> <unix_ns> <message...>               start-up failed; retried
  DRAINED <id> <unix_ns>                          after SIGTERM: every unit handed back
It runs until killed; on SIGTERM it drains (revokes every unit cooperatively) and exits 0.
It survives connection loss and session expiry (it opens a new session).";

#[tokio::main]
async fn main() {
    let args = Args::parse(
        HELP,
        &[
            "server",
            "path",
            "id",
            "units",
            "units-path",
            "weight",
            "session-timeout-ms",
            "grace-ms",
        ],
    );
    let server = args.required("server", HELP);
    let path = args.required("path", HELP);
    let id = args.required("id", HELP);
    let units = match (args.get("units"), args.get("units-path")) {
        (Some(n), None) => {
            let n: usize = n
                .parse()
                .unwrap_or_else(|_| usage("--units takes a number"));
            Units::fixed((0..n).map(|i| format!("u{i:03}")))
        }
        (None, Some(p)) => Units::children_of(p),
        _ => usage("give exactly one of --units and --units-path"),
    };
    let weight: u32 = args.parsed("weight", 1);
    let timeout = Duration::from_millis(args.parsed("session-timeout-ms", 4000));
    let grace = Duration::from_millis(args.parsed("grace-ms", 0));
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot watch SIGTERM: {e}");
            std::process::exit(2);
        }
    };

    let partitioner = loop {
        let client = args::connect(&server, timeout, &id).await;
        let options = PartitionerOptions::new(id.clone(), units.clone())
            .weight(weight)
            .grace(grace);
        match Partitioner::start(client.clone(), &path, options).await {
            Ok(p) => break Arc::new(p),
            Err(zk_recipes::RecipeError::InvalidPath { path, reason }) => {
                eprintln!("invalid path {path}: {reason}");
                std::process::exit(2);
            }
            Err(e) => {
                println!("ERROR {id} {} {e}", unix_ns());
                client.close().await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };

    let mut events = partitioner.events();
    let mut working: BTreeMap<String, i64> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut draining: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(PartitionEvent::Assigned { unit, token }) => {
                    println!("ASSIGNED {id} {unit} {token} {}", unix_ns());
                    working.insert(unit, token);
                }
                Some(PartitionEvent::Revoking { unit, .. }) => {
                    // Stop first, then acknowledge: the REVOKED line follows.
                    working.remove(&unit);
                    partitioner.ack_revoked(&unit);
                }
                Some(PartitionEvent::Revoked { unit, token, reason }) => {
                    working.remove(&unit);
                    println!("REVOKED {id} {unit} {token} {} {reason}", unix_ns());
                }
                None => break,
            },
            _ = tick.tick() => {
                for (unit, token) in &working {
                    let at = unix_ns();
                    if partitioner.owned_token(unit) == Some(*token) {
                        println!("WORK {id} {unit} {token} {at}");
                    }
                }
            }
            _ = terminate.recv(), if draining.is_none() => {
                let p = partitioner.clone();
                draining = Some(tokio::spawn(async move {
                    let _ = p.shutdown(Duration::from_secs(10)).await;
                }));
            }
        }
    }
    if let Some(drain) = draining {
        let _ = drain.await;
        println!("DRAINED {id} {}", unix_ns());
        std::process::exit(0);
    }
    if let Some(e) = partitioner.failure() {
        println!("ERROR {id} {} {e}", unix_ns());
        std::process::exit(1);
    }
}

fn usage(message: &str) -> ! {
    eprintln!("{message}\n\n{HELP}");
    std::process::exit(2);
}
