//! Helpers shared by the integration tests: requests and calls over a [`RawClient`].

// Each test crate uses its own subset.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use zk_proto::acl::Acl;
use zk_proto::{CreateRequest, GetDataRequest, Request, Response};
use zk_server_mini::testing::RawClient;

/// Connects a new session with a 10 s timeout.
pub async fn connect(addr: SocketAddr) -> RawClient {
    RawClient::connect(addr, 10_000)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A create of a persistent, world-open node.
pub fn create(path: String, data: &[u8]) -> Request {
    Request::Create(CreateRequest {
        path,
        data: Some(bytes::Bytes::copy_from_slice(data)),
        acl: Acl::open_unsafe(),
        flags: 0,
    })
}

/// The node's data (empty for null data), or `None` if the read fails.
pub async fn get(c: &mut RawClient, path: &str) -> Option<Vec<u8>> {
    let req = Request::GetData(GetDataRequest {
        path: path.into(),
        watch: false,
    });
    match c.call(&req).await.unwrap_or_else(|e| panic!("{e}")) {
        (_, Some(Response::GetData(r))) => Some(r.data.map(|d| d.to_vec()).unwrap_or_default()),
        _ => None,
    }
}

/// Creates `path` with its own name as data; fails the test unless that succeeds.
pub async fn must_create(c: &mut RawClient, path: String) {
    let (h, _) = c
        .call(&create(path.clone(), path.as_bytes()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(h.err.is_ok(), "{path}: {:?}", h.err);
}

/// Fails the test if `test` takes longer than `limit`.
pub async fn bounded(limit: Duration, test: impl Future<Output = ()>) {
    tokio::time::timeout(limit, test)
        .await
        .unwrap_or_else(|_| panic!("test timed out"));
}

/// Creates `path` through `c`, as a client that survives connection loss does: when the
/// connection drops (a leader under load may give up its lease and drop its clients), it
/// reconnects to whichever member leads and tries again, and a `NodeExists` then means the
/// first try went through. Fails the test on any other error, or after 60 s.
pub async fn create_surviving(
    cluster: &zk_server_mini::cluster::TestCluster,
    c: &mut RawClient,
    path: String,
    data: &[u8],
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut retried = false;
    loop {
        match c.call(&create(path.clone(), data)).await {
            Ok((h, _)) if h.err.is_ok() => return,
            Ok((h, _)) if retried && h.err == zk_proto::ErrorCode::NodeExists => return,
            Ok((h, _)) => panic!("create {path}: {:?}", h.err),
            Err(e) => {
                eprintln!("create {path}: {e}; reconnecting to the leader");
                assert!(tokio::time::Instant::now() < deadline, "create {path}: {e}");
                retried = true;
                let leader = cluster
                    .leader(Duration::from_secs(30))
                    .await
                    .expect("a leader");
                *c = connect(cluster.client_addr(leader)).await;
            }
        }
    }
}
