//! `zk_recipes::cache::TreeCache` and `zk_recipes::group::GroupMember` on a real 3-node
//! ZooKeeper 3.8.0 ensemble: the member the cache's client is connected to is killed while
//! another client changes the tree; the client moves to another member (same session), the
//! cache resyncs and converges, and the group member is still there.
//!
//! Real server only: `zk-server-mini` has no ensemble.

#![allow(
    clippy::unwrap_used,
    reason = "test scenarios: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::timeout;
use zk_client::{Client, CreateOptions};
use zk_integration_tests::backend::bounded;
use zk_integration_tests::{RealZkEnsemble, ZkOptions, require_real_zk};
use zk_recipes::cache::{CacheEvent, CachedNode, TreeCache};
use zk_recipes::group::GroupMember;

async fn server_view(client: &Client, root: &str) -> BTreeMap<String, CachedNode> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_owned()];
    while let Some(path) = todo.pop() {
        let Ok((data, stat)) = client.get_data(&path).await else {
            continue;
        };
        for name in client.get_children(&path).await.unwrap_or_default() {
            todo.push(format!("{path}/{name}"));
        }
        out.insert(path, CachedNode { data, stat });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_converges_after_its_member_is_killed() {
    require_real_zk!();
    bounded(Duration::from_secs(240), async {
        let mut ensemble = RealZkEnsemble::start(3, ZkOptions::default())
            .await
            .expect("start a 3-node ensemble");
        let reader = Client::builder(&ensemble.connect_string())
            .session_timeout(Duration::from_secs(30))
            .connect()
            .await
            .unwrap();
        let session = reader.session_id();
        // (Right after `connect` returns, `connected_server` can still be `None`: one round
        // trip first.)
        reader.exists("/").await.unwrap();
        let connected = reader.connected_server().expect("connected");
        let victim = ensemble
            .addrs()
            .iter()
            .position(|a| a.to_string() == connected)
            .unwrap();
        let other = ensemble.addrs()[(victim + 1) % 3].to_string();
        let writer = Client::connect(&other).await.unwrap();
        writer
            .create("/e", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        for name in ["a", "b", "c"] {
            writer
                .create(&format!("/e/{name}"), b"1", &CreateOptions::persistent())
                .await
                .unwrap();
        }
        let cache = TreeCache::start(&reader, "/e").await.unwrap();
        let mut events = cache.events();
        let member = GroupMember::start(&reader, "/g", "reader", "r")
            .await
            .unwrap();
        assert!(member.wait_joined(Duration::from_secs(30)).await);

        ensemble.kill(victim);
        // If the victim led the ensemble, the writer's member loses its connection too while a
        // new leader is elected: retry each write until it is answered (each is idempotent
        // here: a delete that already happened gives NoNode, a create that did, NodeExists).
        retry(|| async {
            match writer.delete("/e/a", None).await {
                Err(zk_client::Error::NoNode) => Ok(()),
                other => other,
            }
        })
        .await;
        retry(|| async { writer.set_data("/e/b", b"2", None).await.map(|_| ()) }).await;
        retry(|| async {
            match writer
                .create("/e/d", b"", &CreateOptions::persistent())
                .await
            {
                Ok(_) | Err(zk_client::Error::NodeExists) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await;
        loop {
            let e = timeout(Duration::from_secs(60), events.next())
                .await
                .expect("a resync within 60 s of the member's death")
                .unwrap();
            if matches!(e, CacheEvent::Resynced { .. }) {
                break;
            }
        }
        assert_eq!(
            reader.session_id(),
            session,
            "the session moved, not renewed"
        );
        assert_ne!(reader.connected_server().unwrap(), connected);
        let expected = server_view(&writer, "/e").await;
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        while cache.snapshot() != expected {
            assert!(
                tokio::time::Instant::now() < until,
                "the cache never converged"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(cache.get("/e/a").is_none());
        assert_eq!(cache.get("/e/b").unwrap().data.as_ref(), b"2");
        let stat = writer.exists("/g/reader").await.unwrap().unwrap();
        assert_eq!(stat.ephemeral_owner, session);
        assert!(member.members().contains_key("reader"));
        member.leave().await.unwrap();
        reader.close().await;
        writer.close().await;
    })
    .await;
}

/// Runs `op` until it succeeds, while the ensemble recovers from a killed member (at most 60 s;
/// only errors after which the request may be retried are retried).
async fn retry<F, Fut>(op: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = zk_client::Result<()>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match op().await {
            Ok(()) => return,
            Err(e) if e.is_outcome_unknown() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
}
