//! The operations a benchmark drives, over any client.

use std::future::Future;

use zk_client::{Client, CreateOptions};

/// The four operations of the benchmarks, on one session.
///
/// Each call sends one request; errors are turned into text only on the error path, so a
/// successful call costs no more than the client's own call.
pub trait ZkOps {
    /// Creates a persistent node with `data` and the open ACL.
    fn create(&self, path: &str, data: &[u8]) -> impl Future<Output = Result<(), String>>;
    /// Reads a node's data; returns its length.
    fn get(&self, path: &str) -> impl Future<Output = Result<usize, String>>;
    /// Replaces a node's data, any version.
    fn set(&self, path: &str, data: &[u8]) -> impl Future<Output = Result<(), String>>;
    /// Deletes a node, any version.
    fn delete(&self, path: &str) -> impl Future<Output = Result<(), String>>;
}

/// [`zk_client::Client`], the client of this workspace.
#[derive(Debug, Clone)]
pub struct ZkClient {
    client: Client,
    persistent: CreateOptions,
}

impl ZkClient {
    /// Wraps a connected client.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            persistent: CreateOptions::persistent(),
        }
    }

    /// The wrapped client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl ZkOps for ZkClient {
    async fn create(&self, path: &str, data: &[u8]) -> Result<(), String> {
        self.client
            .create(path, data, &self.persistent)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn get(&self, path: &str) -> Result<usize, String> {
        self.client
            .get_data(path)
            .await
            .map(|(data, _)| data.len())
            .map_err(|e| e.to_string())
    }

    async fn set(&self, path: &str, data: &[u8]) -> Result<(), String> {
        self.client
            .set_data(path, data, None)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn delete(&self, path: &str) -> Result<(), String> {
        self.client
            .delete(path, None)
            .await
            .map_err(|e| e.to_string())
    }
}

impl ZkClient {
    /// Creates an empty persistent node (a parent for a phase's nodes).
    ///
    /// # Errors
    /// The client's error, as text with the path.
    pub async fn create_parent(&self, path: &str) -> Result<(), String> {
        ZkOps::create(self, path, b"")
            .await
            .map_err(|e| format!("create {path}: {e}"))
    }

    /// Deletes a node, any version.
    ///
    /// # Errors
    /// The client's error, as text with the path.
    pub async fn delete_node(&self, path: &str) -> Result<(), String> {
        ZkOps::delete(self, path)
            .await
            .map_err(|e| format!("delete {path}: {e}"))
    }
}
