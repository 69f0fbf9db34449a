//! Joins a leader election and reports every transition on stdout, one line each, so that
//! processes can be checked from outside. Run with `--help` for the format.

#[path = "support/args.rs"]
mod args;

use std::time::Duration;

use args::{Args, unix_ns};
use zk_recipes::{CloseMode, Flavor, LeaderLatch, LeaderLatchOptions};

const HELP: &str = "\
leader: join a ZooKeeper leader election (a leader latch) and print what happens.

USAGE:
  leader --server HOSTS --path PATH [--flavor curator|kazoo] [--id ID]
         [--session-timeout-ms N] [--lead-ms N]

  --server              connect string, e.g. 127.0.0.1:2181
  --path                election path
  --flavor              curator (Curator LeaderLatch layout, default) or kazoo (kazoo Election)
  --id                  this process's id (default: the pid); stored in its node
  --session-timeout-ms  session timeout (default 4000)
  --lead-ms             give leadership up after leading this long, then re-queue
                        (default: lead until leadership is lost)
Runs until killed.

OUTPUT (stdout, one line per event, fields separated by single spaces, times in
nanoseconds since the Unix epoch, token = czxid of the election node):
  READY <id> <unix_ns>                     connected, joining the election
  LEADER <id> <token> <unix_ns>            became leader (held at <unix_ns>)
  WORK <id> <token> <unix_ns>              every 10 ms while leading: the time is taken
                                           first, then leadership is checked, so the line
                                           asserts leadership at <unix_ns>
  NOT_LEADER <id> <token> <unix_ns> <reason>  leadership ended (suspended, expired, closed,
                                           node_deleted, owner_changed, lease_expired,
                                           released = given up after --lead-ms)
  ERROR <id> <unix_ns> <message...>        a failure; the process keeps going";

#[tokio::main]
async fn main() {
    let args = Args::parse(
        HELP,
        &[
            "server",
            "path",
            "flavor",
            "id",
            "session-timeout-ms",
            "lead-ms",
        ],
    );
    let server = args.required("server", HELP);
    let path = args.required("path", HELP);
    let flavor: Flavor = args.parsed("flavor", Flavor::Curator);
    let id = args
        .get("id")
        .unwrap_or_else(|| std::process::id().to_string());
    let timeout = Duration::from_millis(args.parsed("session-timeout-ms", 4000));
    let lead = args
        .get("lead-ms")
        .map(|_| Duration::from_millis(args.parsed("lead-ms", 0)));

    let client = args::connect(&server, timeout, &id).await;
    println!("READY {id} {}", unix_ns());
    let options = LeaderLatchOptions::default().flavor(flavor).id(id.clone());
    loop {
        let latch = match LeaderLatch::start(client.clone(), &path, options.clone()) {
            Ok(l) => l,
            Err(e) => {
                println!("ERROR {id} {} {e}", unix_ns());
                std::process::exit(2);
            }
        };
        loop {
            let leadership = match latch.await_leadership(None).await {
                Ok(l) => l,
                Err(e) => {
                    println!("ERROR {id} {} {e}", unix_ns());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let token = leadership.token();
            let started = tokio::time::Instant::now();
            let at = unix_ns();
            if leadership.is_held() {
                println!("LEADER {id} {token} {at}");
            }
            let gave_up = loop {
                let at = unix_ns();
                if !leadership.is_held() {
                    let reason = leadership.loss().map(|r| r.to_string()).unwrap_or_default();
                    println!("NOT_LEADER {id} {token} {} {reason}", unix_ns());
                    break false;
                }
                if lead.is_some_and(|l| started.elapsed() >= l) {
                    latch.close(CloseMode::Silent).await;
                    println!("NOT_LEADER {id} {token} {} released", unix_ns());
                    break true;
                }
                println!("WORK {id} {token} {at}");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(10)) => {}
                    _ = leadership.lost() => {}
                }
            };
            if gave_up {
                break;
            }
        }
    }
}
