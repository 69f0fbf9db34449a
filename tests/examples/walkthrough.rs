//! A walkthrough of the client on the bundled server: starts `zk-server-mini` on a free loopback
//! port with a temporary data directory, connects `zk-client` to it, and walks through nodes,
//! watches, a transaction and a dropped connection that the client survives with the same session
//! and its watches intact. (The README's first command, `quickstart`, shows the whole mission.)
//!
//! ```sh
//! cargo run -p zk-integration-tests --example walkthrough
//! ```
//!
//! Point it at a real ZooKeeper instead with `ZK_SERVER=127.0.0.1:2181` (it then skips the
//! connection-drop step, which needs the embedded server's fault injection).

use std::time::Duration;

use futures::StreamExt;
use zk_client::{Client, CreateOptions, EventType, MultiResult, PersistentEvent};
use zk_proto::AddWatchMode;
use zk_server_mini::MiniServer;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Fails the run when a step does not behave as the walkthrough says.
fn check(ok: bool, what: &str) -> Result<(), AnyError> {
    if ok {
        println!("  ok: {what}");
        Ok(())
    } else {
        Err(format!("unexpected: {what}").into())
    }
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    tokio::time::timeout(Duration::from_secs(60), run())
        .await
        .map_err(|_| "the walkthrough did not finish within 60 s")?
}

async fn run() -> Result<(), AnyError> {
    let data_dir = tempfile::tempdir()?;
    let (server, connect_string) = match std::env::var("ZK_SERVER") {
        Ok(external) => (None, external),
        Err(_) => {
            let server = MiniServer::builder()
                .data_dir(data_dir.path())
                .tick_ms(500)
                .start()
                .await?;
            let connect = server.connect_string();
            println!(
                "started zk-server-mini on {connect} (data in {})",
                data_dir.path().display()
            );
            (Some(server), connect)
        }
    };

    let client = Client::builder(&connect_string)
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await?;
    let session = client.session_id();
    println!(
        "connected: session 0x{session:x}, timeout {:?}",
        client.session_timeout()
    );

    println!("\n1. nodes and stats");
    let root = format!("/quickstart-{}", std::process::id());
    let (path, stat) = client
        .create(&root, b"v1", &CreateOptions::persistent())
        .await?;
    check(stat.version == 0 && path == root, "created with version 0")?;
    let stat = client.set_data(&root, b"v2", Some(stat.version)).await?;
    let (data, _) = client.get_data(&root).await?;
    check(
        data.as_ref() == b"v2" && stat.version == 1,
        "set_data bumped the version",
    )?;
    let stale = client.set_data(&root, b"v3", Some(0)).await;
    check(
        matches!(stale, Err(zk_client::Error::BadVersion)),
        "a stale version is refused",
    )?;

    println!("\n2. ephemeral sequential members");
    for _ in 0..3 {
        let (member, _) = client
            .create(
                &format!("{root}/member-"),
                b"",
                &CreateOptions::ephemeral_sequential(),
            )
            .await?;
        println!("  created {member}");
    }
    let mut members = client.get_children(&root).await?;
    members.sort();
    check(
        members.len() == 3 && members[0].ends_with("0000000000"),
        "three numbered members",
    )?;

    println!("\n3. a one-shot data watch and a persistent recursive watch");
    let (_, _, data_watch) = client.get_data_watch(&root).await?;
    let mut tree_watch = client
        .add_watch(&root, AddWatchMode::PersistentRecursive)
        .await?;
    client.set_data(&root, b"v4", None).await?;
    let event = data_watch.await;
    check(
        event.event_type == EventType::NodeDataChanged,
        "the data watch fired",
    )?;
    match tree_watch.next().await {
        Some(PersistentEvent::Node(e)) => check(
            e.event_type == EventType::NodeDataChanged,
            "the recursive watch saw it too",
        )?,
        other => return Err(format!("recursive watch gave {other:?}").into()),
    }

    println!("\n4. an atomic transaction");
    let results = client
        .transaction()
        .check(&root, 2)
        .create(
            &format!("{root}/config"),
            b"x=1",
            &CreateOptions::persistent(),
        )
        .set_data(&root, b"v5", None)
        .commit()
        .await?;
    check(
        matches!(&results[1], MultiResult::Created { path, .. } if path.ends_with("/config")),
        "check + create + set applied together",
    )?;
    let failed = client
        .transaction()
        .check(&root, 0)
        .delete(&format!("{root}/config"), None)
        .commit()
        .await;
    check(
        failed.is_err() && client.exists(&format!("{root}/config")).await?.is_some(),
        "a failed check aborts the whole transaction",
    )?;
    // Drain the recursive watch's events for the transaction (NodeCreated, NodeDataChanged).
    for _ in 0..2 {
        tree_watch.next().await;
    }

    if let Some(server) = &server {
        println!("\n5. the server drops every connection; the session and its watches survive");
        let dropped = server.drop_connections(None).await;
        println!("  dropped {dropped} connection(s)");
        match tokio::time::timeout(Duration::from_secs(15), tree_watch.next()).await? {
            Some(PersistentEvent::Reconnected { new_session }) => {
                check(!new_session, "reconnected to the same session")?
            }
            other => return Err(format!("expected a reconnect marker, got {other:?}").into()),
        }
        check(client.session_id() == session, "same session id")?;
        client
            .create(
                &format!("{root}/after-reconnect"),
                b"",
                &CreateOptions::persistent(),
            )
            .await?;
        match tree_watch.next().await {
            Some(PersistentEvent::Node(e)) => check(
                e.event_type == EventType::NodeCreated && e.path.ends_with("/after-reconnect"),
                "the re-registered watch sees new changes",
            )?,
            other => return Err(format!("recursive watch gave {other:?}").into()),
        }
        let alive = client
            .get_children(&root)
            .await?
            .iter()
            .filter(|c| c.starts_with("member-"))
            .count();
        check(alive == 3, "ephemerals are still there")?;
    }

    println!("\n6. clean up");
    drop(tree_watch);
    for child in client.get_children(&root).await? {
        client.delete(&format!("{root}/{child}"), None).await?;
    }
    client.delete(&root, None).await?;
    client.close().await;
    if let Some(server) = server {
        server.stop().await;
    }
    println!("\nall steps passed");
    Ok(())
}
