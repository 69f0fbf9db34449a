//! Takes a distributed mutex round after round and reports every event on stdout, one line
//! each, so that processes can be checked from outside. Run with `--help` for the format.

#[path = "support/args.rs"]
mod args;

use std::time::Duration;

use args::{Args, unix_ns};
use zk_recipes::{Flavor, Mutex, MutexOptions};

const HELP: &str = "\
lock: take a ZooKeeper mutex round after round and print what happens.

USAGE:
  lock --server HOSTS --path PATH [--flavor curator|kazoo] [--id ID] [--hold-ms N]
       [--rounds N] [--session-timeout-ms N]

  --server              connect string, e.g. 127.0.0.1:2181
  --path                lock path
  --flavor              node layout: curator (default) or kazoo
  --id                  this process's id (default: the pid); stored in the lock node
  --hold-ms             how long to hold per round (default 200)
  --rounds              number of rounds (default 3)
  --session-timeout-ms  session timeout (default 4000)

OUTPUT (stdout, one line per event, fields separated by single spaces, times in
nanoseconds since the Unix epoch, token = czxid of the lock node):
  ACQUIRED <id> <token> <unix_ns>         the lock was held at <unix_ns>
  WORK <id> <token> <unix_ns>             every 10 ms while holding: the time is taken
                                          first, then is_held() is checked, so the line
                                          asserts the lock was held at <unix_ns>
  LOST <id> <token> <unix_ns> <reason>    the lock was lost (suspended, expired, closed,
                                          node_deleted, owner_changed, lease_expired)
  RELEASED <id> <token> <unix_ns>         released after --hold-ms
  ERROR <id> <unix_ns> <message...>       an acquire failed; the round is retried
  DONE <id> <unix_ns>                     all rounds finished
The process survives connection loss and session expiry (it opens a new session).";

#[tokio::main]
async fn main() {
    let args = Args::parse(
        HELP,
        &[
            "server",
            "path",
            "flavor",
            "id",
            "hold-ms",
            "rounds",
            "session-timeout-ms",
        ],
    );
    let server = args.required("server", HELP);
    let path = args.required("path", HELP);
    let flavor: Flavor = args.parsed("flavor", Flavor::Curator);
    let id = args
        .get("id")
        .unwrap_or_else(|| std::process::id().to_string());
    let hold = Duration::from_millis(args.parsed("hold-ms", 200));
    let rounds: u32 = args.parsed("rounds", 3);
    let timeout = Duration::from_millis(args.parsed("session-timeout-ms", 4000));

    let client = args::connect(&server, timeout, &id).await;
    let options = MutexOptions::default().flavor(flavor).id(id.clone());
    let mutex = match Mutex::new(client.clone(), &path, options) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut round = 0;
    while round < rounds {
        let guard = match mutex.acquire().await {
            Ok(g) => g,
            Err(e) => {
                println!("ERROR {id} {} {e}", unix_ns());
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        round += 1;
        let token = guard.token();
        let started = tokio::time::Instant::now();
        let at = unix_ns();
        if !guard.is_held() {
            let reason = guard.loss().map(|r| r.to_string()).unwrap_or_default();
            println!("LOST {id} {token} {} {reason}", unix_ns());
            let _ = guard.release().await;
            continue;
        }
        println!("ACQUIRED {id} {token} {at}");
        loop {
            let at = unix_ns();
            if !guard.is_held() {
                let reason = guard.loss().map(|r| r.to_string()).unwrap_or_default();
                println!("LOST {id} {token} {} {reason}", unix_ns());
                let _ = guard.release().await;
                break;
            }
            if started.elapsed() >= hold {
                let _ = guard.release().await;
                println!("RELEASED {id} {token} {}", unix_ns());
                break;
            }
            println!("WORK {id} {token} {at}");
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
                _ = guard.lost() => {}
            }
        }
    }
    println!("DONE {id} {}", unix_ns());
    client.close().await;
}
