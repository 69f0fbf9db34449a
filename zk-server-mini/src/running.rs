//! [`RunningServer`]: the handle of a started server (standalone or ensemble member).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::connection::CoreMsg;
use crate::{AdminHandle, MiniServer, ServerConfig, ServerError, ensemble};

/// What a running ensemble member shares with its handle.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) status: watch::Receiver<ensemble::MemberStatus>,
    pub(crate) faults: Arc<ensemble::MemberFaults>,
}

/// A server started with [`Builder::start`](crate::Builder::start). Dropping it without [`RunningServer::stop`]
/// also shuts it down, but without waiting.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use zk_server_mini::MiniServer;
/// let dir = std::env::temp_dir().join(format!("zk-mini-running-doc-{}", std::process::id()));
/// let server = MiniServer::builder().data_dir(&dir).start().await?;
/// let addr = server.addr();
/// assert_eq!(server.connect_string(), addr.to_string());
/// let server = server.restart().await?; // same port, same data
/// assert_eq!(server.addr(), addr);
/// server.stop().await;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RunningServer {
    pub(crate) addr: SocketAddr,
    pub(crate) config: ServerConfig,
    pub(crate) admin: mpsc::Sender<CoreMsg>,
    pub(crate) data_dir: PathBuf,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) core: Option<JoinHandle<()>>,
    pub(crate) accept: Option<JoinHandle<()>>,
    /// An ensemble member's peer listener and dialers (the core stops them when it ends).
    pub(crate) transport: Option<ensemble::transport::SharedTransport>,
    pub(crate) member: Option<Member>,
}

impl RunningServer {
    /// An ensemble member's role and progress (`None` for a standalone server).
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::{MiniServer, ServerConfig};
    /// use zk_server_mini::zab::Role;
    ///
    /// let cfg = ServerConfig::from_zoo_cfg(
    ///     "dataDir=/var/zk1\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n\
    ///      server.3=127.0.0.1:2890:3890\n",
    /// )?;
    /// let member = MiniServer::builder().config(cfg).start().await?;
    /// if let Some(status) = member.member_status() {
    ///     println!("leading: {}", status.role == Role::Leading);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn member_status(&self) -> Option<ensemble::MemberStatus> {
        self.member.as_ref().map(|m| *m.status.borrow())
    }

    /// An ensemble member's fault knobs (`None` for a standalone server): partitions,
    /// pause, slow disk. [`crate::cluster::TestCluster`] turns them.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-faults-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// assert!(server.member_faults().is_none()); // standalone; see cluster::TestCluster
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn member_faults(&self) -> Option<Arc<ensemble::MemberFaults>> {
        self.member.as_ref().map(|m| m.faults.clone())
    }

    /// The address clients connect to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-addr-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// let addr = server.addr();
    /// assert!(addr.ip().is_loopback() && addr.port() != 0);
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port` for client connect strings.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-cs-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// let connect = server.connect_string(); // e.g. "127.0.0.1:41234"
    /// assert_eq!(connect, server.addr().to_string());
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// The data directory (to restart on it).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-dd-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// assert_eq!(server.data_dir(), dir.as_path());
    /// let dd = server.data_dir().to_owned();
    /// server.stop().await;
    /// let again = MiniServer::builder().data_dir(&dd).start().await?; // same data
    /// again.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A cloneable handle to this server's administrative operations, usable after the
    /// server was handed to [`run_until`](Self::run_until).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-ah-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// let handle = server.admin_handle();
    /// assert!(handle.sessions().await.is_empty());
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn admin_handle(&self) -> AdminHandle {
        AdminHandle::new(self.admin.clone())
    }

    /// Expires a live session now, exactly as a timeout would: its ephemerals are deleted
    /// (firing watches) and its connections closed. Returns false if it was not live.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// use zk_server_mini::testing::RawClient;
    ///
    /// let dir = std::env::temp_dir().join(format!("zk-mini-expire-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// let mut client = RawClient::connect(server.addr(), 30_000).await?;
    /// assert!(server.expire_session(client.session.session_id).await);
    /// assert!(client.closed_within(std::time::Duration::from_secs(5)).await);
    /// assert!(server.sessions().await.is_empty());
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn expire_session(&self, session_id: i64) -> bool {
        self.admin_handle().expire_session(session_id).await
    }

    /// Ids of the live sessions.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-sessions-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// use zk_server_mini::testing::RawClient;
    /// let client = RawClient::connect(server.addr(), 10_000).await?;
    /// assert_eq!(server.sessions().await, vec![client.session.session_id]);
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn sessions(&self) -> Vec<i64> {
        self.admin_handle().sessions().await
    }

    /// Closes the connections of one session (or all connections) without ending any
    /// session: clients see a dropped connection and reconnect. Returns how many were closed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-dropconn-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// use std::time::Duration;
    /// use zk_server_mini::testing::RawClient;
    /// let mut client = RawClient::connect(server.addr(), 10_000).await?;
    /// assert_eq!(server.drop_connections(None).await, 1);
    /// assert!(client.closed_within(Duration::from_secs(5)).await);
    /// assert_eq!(server.sessions().await, vec![client.session.session_id]); // the session lives on
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn drop_connections(&self, session_id: Option<i64>) -> usize {
        self.admin_handle().drop_connections(session_id).await
    }

    /// The zxid of the last applied transaction.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-zxid-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// use zk_proto::{CreateRequest, Request, acl::Acl};
    /// use zk_server_mini::testing::RawClient;
    /// let before = server.last_zxid().await;
    /// let mut c = RawClient::connect(server.addr(), 10_000).await?;
    /// let create = Request::Create(CreateRequest { path: "/a".into(), data: None, acl: Acl::open_unsafe(), flags: 0 });
    /// let (header, _) = c.call(&create).await?;
    /// assert!(header.err.is_ok());
    /// assert!(server.last_zxid().await > before);
    /// assert_eq!(server.last_zxid().await, header.zxid);
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn last_zxid(&self) -> i64 {
        self.admin_handle().last_zxid().await
    }

    /// Stops the server and starts it again on the same data directory and port; sessions
    /// survive if their clients come back within their timeout.
    ///
    /// # Errors
    /// As [`Builder::start`](crate::Builder::start) (for example when the port was taken in between).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-restart-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// let (port, sessions) = (server.addr().port(), server.sessions().await);
    /// let server = server.restart().await?;
    /// assert_eq!(server.addr().port(), port);
    /// assert_eq!(server.sessions().await, sessions);
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn restart(self) -> Result<RunningServer, ServerError> {
        let mut config = self.config.clone();
        config.port = self.addr.port();
        config.bind = self.addr.ip();
        self.stop().await;
        MiniServer::builder().config(config).start().await
    }

    /// Whether the server is still running (it stops by itself if its log cannot be written).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-isrun-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// assert!(server.is_running()); // false once its log could not be written
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub fn is_running(&self) -> bool {
        self.core.as_ref().is_some_and(|c| !c.is_finished())
    }

    /// Stops at once, as a crash would: its tasks are aborted mid-flight (nothing more is
    /// written, sent or answered; what is durable stays). Returns once they have ended, and
    /// so once its sockets are closed: a server may bind its ports again at once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    ///
    /// let dir = std::env::temp_dir().join(format!("zk-mini-abort-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// server.abort().await;
    /// // The data directory is free again: a new server starts on it.
    /// MiniServer::builder().data_dir(&dir).start().await?.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn abort(mut self) {
        for task in [self.accept.take(), self.core.take()].into_iter().flatten() {
            task.abort();
            let _ = task.await;
        }
        // The core, aborted, did not stop the transport: it is stopped here.
        if let Some(transport) = self.transport.take() {
            ensemble::transport::shut_down(&transport).await;
        }
    }

    /// Stops accepting, closes every connection, and waits until the state machine has
    /// stopped. Everything acknowledged is already on disk.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-stop-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// server.stop().await;
    /// // the data directory is unlocked: another server may start on it
    /// MiniServer::builder().data_dir(&dir).start().await?.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        if let Some(core) = self.core.take() {
            let _ = core.await;
        }
        tracing::info!(addr = %self.addr, "zk-server-mini stopped");
    }

    /// Waits until the server stops by itself (a fatal storage error) or `signal` completes,
    /// then stops it.
    ///
    /// # Errors
    /// [`ServerError::Stopped`] when the server stopped by itself.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-rununtil-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    /// let serving = tokio::spawn(server.run_until(async { let _ = stop_rx.await; }));
    /// // in a binary: `server.run_until(async { let _ = tokio::signal::ctrl_c().await; })`
    /// stop_tx.send(()).ok();
    /// serving.await??; // Ok: stopped by the signal, not by a storage failure
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServerError> {
        let core_done = tokio::select! {
            _ = signal => false,
            _ = async {
                if let Some(core) = self.core.as_mut() {
                    let _ = core.await;
                }
            } => true,
        };
        if core_done {
            self.core = None;
            tracing::error!("state machine stopped unexpectedly");
        }
        self.stop().await;
        if core_done {
            Err(ServerError::Stopped)
        } else {
            Ok(())
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
