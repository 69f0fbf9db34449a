//! `zk_recipes::persistent_node` and `zk_recipes::group` against the real ZooKeeper 3.8.0 and
//! `zk-server-mini`: nodes re-created after deletion by someone else and after session expiry
//! (a silent proxy past the session timeout), protected sequential names, TTL nodes, and the
//! group view as a stream.

#![allow(
    clippy::unwrap_used,
    reason = "test scenarios: a failed unwrap is a failed test"
)]

mod recipes_common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::timeout;
use zk_client::{Bytes, Client, CreateOptions, ExpiryPolicy, SessionState};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::{Direction, TcpProxy, ZkOptions};
use zk_recipes::group::GroupMember;
use zk_recipes::persistent_node::{PersistentNode, PersistentTtlNode};

const WAIT: Duration = Duration::from_secs(20);

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(120);
    a_persistent_node_comes_back_after_deletion(ZkOptions::default()),
    a_sequential_node_is_protected_and_comes_back(ZkOptions::default()),
    an_ephemeral_member_comes_back_after_session_expiry(ZkOptions::default().tick_time(500)),
    the_group_view_follows_joins_and_leaves(ZkOptions::default()),
    a_ttl_node_is_a_container_with_a_touched_ttl_child(ZkOptions::default().extended_types(true)),
    curator_group_members_and_ours_see_each_other(ZkOptions::default()),
    a_protected_create_whose_reply_is_lost_is_found_not_repeated(ZkOptions::default()),
    an_ephemeral_held_by_another_session_is_never_taken_over(ZkOptions::default()),
}

/// Waits until `path` holds `data` on the server (polling, bounded by `WAIT`).
async fn wait_for_data(client: &Client, path: &str, data: &[u8]) -> zk_client::Stat {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok((d, stat)) = client.get_data(path).await
            && d.as_ref() == data
        {
            return stat;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{path} never held {data:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_persistent_node_comes_back_after_deletion(zk: &Backend) {
    let other = Client::connect(&zk.connect_string()).await.unwrap();
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let node = PersistentNode::start(&client, "/pn/a/b", CreateOptions::persistent(), "v1");
    assert_eq!(
        node.wait_for_initial_create(WAIT).await.as_deref(),
        Some("/pn/a/b")
    );
    let first = wait_for_data(&other, "/pn/a/b", b"v1").await;
    other.delete("/pn/a/b", None).await.unwrap();
    let second = wait_for_data(&other, "/pn/a/b", b"v1").await;
    assert!(second.czxid > first.czxid, "re-created");
    node.set_data("v2").await.unwrap();
    wait_for_data(&other, "/pn/a/b", b"v2").await;
    other.delete("/pn/a/b", None).await.unwrap();
    wait_for_data(&other, "/pn/a/b", b"v2").await;
    node.close().await.unwrap();
    assert!(other.exists("/pn/a/b").await.unwrap().is_none());
    client.close().await;
    other.close().await;
}

async fn a_sequential_node_is_protected_and_comes_back(zk: &Backend) {
    let other = Client::connect(&zk.connect_string()).await.unwrap();
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let node = PersistentNode::start(
        &client,
        "/seq/job-",
        CreateOptions::ephemeral_sequential(),
        "x",
    );
    let first = node.wait_for_initial_create(WAIT).await.unwrap();
    let name = first.strip_prefix("/seq/").unwrap();
    // Curator's protected form: _c_<36-char uuid>-job-<10 digits>.
    assert!(
        name.starts_with("_c_") && name.len() == 3 + 36 + 1 + 4 + 10,
        "{name}"
    );
    assert_eq!(&name[39..44], "-job-");
    let stat = other.exists(&first).await.unwrap().unwrap();
    assert_eq!(stat.ephemeral_owner, client.session_id());
    other.delete(&first, None).await.unwrap();
    let mut paths = node.path_updates();
    let second = timeout(
        WAIT,
        paths.wait_for(|p| p.as_ref().is_some_and(|p| *p != first)),
    )
    .await
    .unwrap()
    .unwrap()
    .clone()
    .unwrap();
    assert_eq!(other.get_children("/seq").await.unwrap().len(), 1);
    assert!(other.exists(&second).await.unwrap().is_some());
    node.close().await.unwrap();
    assert!(
        other
            .get_children("/seq")
            .await
            .unwrap_or_default()
            .is_empty()
    );
    client.close().await;
    other.close().await;
}

async fn an_ephemeral_member_comes_back_after_session_expiry(zk: &Backend) {
    let watcher = Client::connect(&zk.connect_string()).await.unwrap();
    let observer = GroupMember::start(&watcher, "/grp", "observer", "o")
        .await
        .unwrap();
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let client = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(2))
        .expiry_policy(ExpiryPolicy::NewSession)
        .connect()
        .await
        .unwrap();
    let first_session = client.session_id();
    let member = GroupMember::start(&client, "/grp", "m1", "data-1")
        .await
        .unwrap();
    assert!(member.wait_joined(WAIT).await);
    let mut views = observer.views();
    let has_m1 = |v: &BTreeMap<String, Bytes>| v.contains_key("m1");
    next_view(&mut views, |v| has_m1(v) && v.contains_key("observer")).await;

    proxy.pause().await;
    client.wait_for_state(|s| s == SessionState::Expired).await;
    // The server expires the silent session too, and its ephemeral goes.
    next_view(&mut views, |v| !has_m1(v)).await;
    proxy.resume();
    let back = next_view(&mut views, has_m1).await;
    assert_eq!(back["m1"].as_ref(), b"data-1");
    assert_ne!(client.session_id(), first_session);
    let stat = watcher.exists("/grp/m1").await.unwrap().unwrap();
    assert_eq!(stat.ephemeral_owner, client.session_id());
    // The member's own task records the path when its create's reply arrives, which can come
    // after the observer already saw the node.
    let deadline = tokio::time::Instant::now() + WAIT;
    while member.node().current_path().is_none() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(member.node().current_path().as_deref(), Some("/grp/m1"));
    member.leave().await.unwrap();
    next_view(&mut views, |v| !has_m1(v)).await;
    client.close().await;
    observer.leave().await.unwrap();
    watcher.close().await;
}

async fn next_view(
    views: &mut BoxStream<'static, BTreeMap<String, Bytes>>,
    pred: impl Fn(&BTreeMap<String, Bytes>) -> bool,
) -> BTreeMap<String, Bytes> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let view = tokio::time::timeout_at(deadline, views.next())
            .await
            .expect("the expected group view within 20 s")
            .expect("views open");
        if pred(&view) {
            return view;
        }
    }
}

async fn the_group_view_follows_joins_and_leaves(zk: &Backend) {
    let a = Client::connect(&zk.connect_string()).await.unwrap();
    let b = Client::connect(&zk.connect_string()).await.unwrap();
    let ma = GroupMember::start(&a, "/team", "alice", "1").await.unwrap();
    let mut views = ma.views();
    next_view(&mut views, |v| v.keys().eq(["alice"])).await;
    let mb = GroupMember::start(&b, "/team", "bob", "2").await.unwrap();
    let both = next_view(&mut views, |v| v.len() == 2).await;
    assert_eq!(both["bob"].as_ref(), b"2");
    mb.set_data("3").await.unwrap();
    next_view(&mut views, |v| {
        v.get("bob").is_some_and(|d| d.as_ref() == b"3")
    })
    .await;
    assert_eq!(mb.members().len(), 2);
    // A member whose session closes disappears from the others' view.
    b.close().await;
    next_view(&mut views, |v| v.keys().eq(["alice"])).await;
    drop(mb);
    assert!(
        GroupMember::start(&a, "/team", "a/b", "").await.is_err(),
        "ids are one path component"
    );
    ma.leave().await.unwrap();
    a.close().await;
}

async fn a_ttl_node_is_a_container_with_a_touched_ttl_child(zk: &Backend) {
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let other = Client::connect(&zk.connect_string()).await.unwrap();
    let node = PersistentTtlNode::start(&client, "/ttl/me", Duration::from_millis(500), "d");
    assert!(node.node().wait_for_initial_create(WAIT).await.is_some());
    let first = wait_for_data(&other, "/ttl/me/touch", b"").await;
    // Touched again within a few periods: its version grows.
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let stat = other.exists("/ttl/me/touch").await.unwrap();
        if stat.is_some_and(|s| s.version > first.version) {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "touch never touched");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(other.get_data("/ttl/me").await.unwrap().0.as_ref(), b"d");
    node.close().await.unwrap();
    assert!(other.exists("/ttl/me").await.unwrap().is_none());
    client.close().await;
    other.close().await;
}

/// Curator's `GroupMember` and ours in one group (`group/<id>` ephemeral nodes): each sees the
/// other with its data.
async fn curator_group_members_and_ours_see_each_other(zk: &Backend) {
    use zk_integration_tests::java::{JavaProgram, curator_classpath};
    zk_integration_tests::require!("Curator 5.4 and javac", curator_classpath());
    let java = JavaProgram::compile_curator(&["GroupCurator.java"]).unwrap();
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    let ours = GroupMember::start(&client, "/cg", "rust", "r-data")
        .await
        .unwrap();
    assert!(ours.wait_joined(WAIT).await);
    let mut command = java.command("GroupCurator");
    command.args([
        zk.connect_string().as_str(),
        "/cg",
        "java",
        "j-data",
        "rust",
    ]);
    let mut curator = recipes_common::Worker::spawn("curator-group", command);
    let mut views = ours.views();
    let both = next_view(&mut views, |v| v.len() == 2).await;
    assert_eq!(both["java"].as_ref(), b"j-data");
    let until = tokio::time::Instant::now() + WAIT;
    let line = loop {
        let found = curator
            .lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.starts_with("MEMBERS"))
            .cloned();
        if let Some(line) = found {
            break line;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "Curator never listed the members"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(line, "MEMBERS java=j-data rust=r-data");
    curator.kill().await;
    ours.leave().await.unwrap();
    client.close().await;
}

/// The reply to the sequential create is held at the proxy and the connection dropped: the
/// create happened but the client cannot know. The node is found again by its protected
/// prefix (and its owner), not created a second time.
async fn a_protected_create_whose_reply_is_lost_is_found_not_repeated(zk: &Backend) {
    let direct = Client::connect(&zk.connect_string()).await.unwrap();
    direct
        .create("/lost", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let proxy = TcpProxy::start(zk.addr()).await.unwrap();
    let client = Client::builder(&proxy.connect_string())
        .session_timeout(Duration::from_secs(20))
        .connect()
        .await
        .unwrap();
    proxy.pause_direction(Direction::ServerToClient).await;
    let node = PersistentNode::start(
        &client,
        "/lost/item-",
        CreateOptions::ephemeral_sequential(),
        "x",
    );
    let until = tokio::time::Instant::now() + WAIT;
    let created = loop {
        let children = direct.get_children("/lost").await.unwrap();
        if let Some(c) = children.first() {
            break format!("/lost/{c}");
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the create never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    proxy.drop_connections().await;
    proxy.resume_direction(Direction::ServerToClient);
    assert_eq!(
        node.wait_for_initial_create(WAIT).await.as_deref(),
        Some(created.as_str())
    );
    assert_eq!(direct.get_children("/lost").await.unwrap().len(), 1);
    let stat = direct.exists(&created).await.unwrap().unwrap();
    assert_eq!(stat.ephemeral_owner, client.session_id());
    node.close().await.unwrap();
    assert!(direct.get_children("/lost").await.unwrap().is_empty());
    client.close().await;
    direct.close().await;
}

/// Two processes keep the same ephemeral path: the second never claims or deletes the first's
/// node, and takes the name once the first lets go.
async fn an_ephemeral_held_by_another_session_is_never_taken_over(zk: &Backend) {
    let a = Client::connect(&zk.connect_string()).await.unwrap();
    let b = Client::connect(&zk.connect_string()).await.unwrap();
    let first = PersistentNode::start(&a, "/one/name", CreateOptions::ephemeral(), "a");
    assert!(first.wait_for_initial_create(WAIT).await.is_some());
    let second = PersistentNode::start(&b, "/one/name", CreateOptions::ephemeral(), "b");
    // Give the second every chance to misbehave: it must not report the node as its own.
    assert_eq!(
        second
            .wait_for_initial_create(Duration::from_millis(500))
            .await,
        None
    );
    let (data, stat) = b.get_data("/one/name").await.unwrap();
    assert_eq!(
        (data.as_ref(), stat.ephemeral_owner),
        (&b"a"[..], a.session_id())
    );
    first.close().await.unwrap();
    assert_eq!(
        second.wait_for_initial_create(WAIT).await.as_deref(),
        Some("/one/name")
    );
    let (data, stat) = a.get_data("/one/name").await.unwrap();
    assert_eq!(
        (data.as_ref(), stat.ephemeral_owner),
        (&b"b"[..], b.session_id())
    );
    second.close().await.unwrap();
    a.close().await;
    b.close().await;
}
