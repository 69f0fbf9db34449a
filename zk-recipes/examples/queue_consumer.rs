//! Consumes a kazoo-layout locking queue item by item, reporting every step on stdout, so that
//! tests can kill it mid-item and check from outside that nothing is lost or consumed twice.
//! Run with `--help` for the format.

#[path = "support/args.rs"]
mod args;

use std::time::Duration;

use args::Args;
use zk_client::CreateOptions;
use zk_recipes::queue::{LockingQueue, QueueError};

const HELP: &str = "\
queue_consumer: take items from a ZooKeeper locking queue and consume each one.

USAGE:
  queue_consumer --server HOSTS --path PATH [--session-timeout-ms N] [--work-ms N]

  --server              connect string, e.g. 127.0.0.1:2181
  --path                the queue (kazoo LockingQueue layout: PATH/entries, PATH/taken)
  --session-timeout-ms  session timeout (default 2000)
  --work-ms             time spent on each item before consuming it (default 30)

Each item is consumed in one transaction together with a persistent marker /qdone/<data>, so a
checker can count consumptions.

OUTPUT (stdout, one line per event):
  ERROR consumer <unix_ns> connect: <msg>   a connection attempt failed (retried)
  READY                 connected, taking items
  TAKEN <data>          an item was taken (held by this session)
  CONSUMED <data>       consumed, with its marker
  LOST <data>           the item was released before it could be consumed (session lost)
  ERROR <data> <msg>    consuming failed otherwise
It runs until killed.";

#[tokio::main]
async fn main() {
    let args = Args::parse(HELP, &["server", "path", "session-timeout-ms", "work-ms"]);
    let server = args.required("server", HELP);
    let path = args.required("path", HELP);
    let timeout = Duration::from_millis(args.parsed("session-timeout-ms", 2000));
    let work = Duration::from_millis(args.parsed("work-ms", 30));
    let client = args::connect(&server, timeout, "consumer").await;
    let queue = LockingQueue::new(&client, &path);
    println!("READY");
    loop {
        let item = match queue.take(Duration::from_secs(1)).await {
            Ok(Some(item)) => item,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("take: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let data = String::from_utf8_lossy(item.data()).into_owned();
        println!("TAKEN {data}");
        tokio::time::sleep(work).await;
        let marker = format!("/qdone/{data}");
        match item
            .consume_with(|tx| tx.create(&marker, b"", &CreateOptions::persistent()))
            .await
        {
            Ok(()) => println!("CONSUMED {data}"),
            Err(QueueError::ItemLost(_)) => println!("LOST {data}"),
            Err(e) => println!("ERROR {data} {e}"),
        }
    }
}
