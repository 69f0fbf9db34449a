//! A cloneable handle to a running server's administrative operations (expire a session,
//! drop connections, list sessions), still usable after the server itself was handed to
//! [`crate::RunningServer::run_until`].

use tokio::sync::{mpsc, oneshot};

use crate::connection::{Admin, CoreMsg};

/// Administrative operations on a running server; cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use zk_server_mini::MiniServer;
/// use zk_server_mini::testing::RawClient;
///
/// let dir = std::env::temp_dir().join(format!("zk-mini-handle-doc-{}", std::process::id()));
/// let server = MiniServer::builder().data_dir(&dir).start().await?;
/// let handle = server.admin_handle();
/// let client = RawClient::connect(server.addr(), 30_000).await?;
/// assert_eq!(handle.sessions().await, vec![client.session.session_id]);
/// assert!(handle.expire_session(client.session.session_id).await);
/// server.stop().await;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AdminHandle {
    admin: mpsc::Sender<CoreMsg>,
}

impl AdminHandle {
    pub(crate) fn new(admin: mpsc::Sender<CoreMsg>) -> Self {
        Self { admin }
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Admin) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.admin.send(CoreMsg::Admin(make(tx))).await.ok()?;
        rx.await.ok()
    }

    /// Expires a live session now, as [`crate::RunningServer::expire_session`] does; false if
    /// it was not live here (or the server stopped).
    ///
    /// ```no_run
    /// # async fn demo(handle: zk_server_mini::AdminHandle) {
    /// let expired = handle.expire_session(0x1234).await;
    /// # let _ = expired; }
    /// ```
    pub async fn expire_session(&self, session_id: i64) -> bool {
        self.call(|reply| Admin::ExpireSession {
            session: session_id,
            reply,
        })
        .await
        .unwrap_or(false)
    }

    /// Ids of the live sessions, as [`crate::RunningServer::sessions`].
    ///
    /// ```no_run
    /// # async fn demo(handle: zk_server_mini::AdminHandle) {
    /// println!("{:?}", handle.sessions().await);
    /// # }
    /// ```
    pub async fn sessions(&self) -> Vec<i64> {
        self.call(|reply| Admin::Sessions { reply })
            .await
            .unwrap_or_default()
    }

    /// The zxid of the last applied transaction (0 if the server stopped).
    ///
    /// ```no_run
    /// # async fn demo(handle: zk_server_mini::AdminHandle) {
    /// println!("{:#x}", handle.last_zxid().await);
    /// # }
    /// ```
    pub async fn last_zxid(&self) -> i64 {
        self.call(|reply| Admin::LastZxid { reply })
            .await
            .unwrap_or(0)
    }

    /// Closes the connections of one session (or all), as
    /// [`crate::RunningServer::drop_connections`]; how many were closed.
    ///
    /// ```no_run
    /// # async fn demo(handle: zk_server_mini::AdminHandle) {
    /// let closed = handle.drop_connections(None).await;
    /// # let _ = closed; }
    /// ```
    pub async fn drop_connections(&self, session_id: Option<i64>) -> usize {
        self.call(|reply| Admin::DropConnections {
            session: session_id,
            reply,
        })
        .await
        .unwrap_or(0)
    }
}
