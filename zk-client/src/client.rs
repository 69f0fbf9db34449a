//! The [`Client`] handle and its operations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::Instrument;
use zk_proto::acl::Acl;
use zk_proto::codec::{FrameError, encode_frame};
use zk_proto::{
    DeleteRequest, ExistsRequest, GetAclRequest, GetChildrenRequest, GetDataRequest, OpCode,
    Request, RequestHeader, Response, SetAclRequest, SetDataRequest, Stat, SyncRequest,
};

use crate::budget::QueueBudget;
use crate::builder::ClientBuilder;
use crate::config::{Config, ConnectString};
use crate::core::{Command, Effect, Outgoing, Reply};
use crate::driver::{Connector, Outputs, SessionTask};
use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::options::CreateOptions;
use crate::session::{SessionEvent, SessionState};
use crate::ticket::Ticket;
use crate::transaction::{ReadOp, ReadResult, Transaction};
use crate::watch::{OneshotKind, OneshotWatch, WatchRegistration};

mod server_info;
mod watch_ops;

/// How many session transitions a [`Client::session_events`] subscriber may fall behind before
/// it gets a [`SessionUpdate::Missed`].
pub(crate) const SESSION_EVENT_BUFFER: usize = 128;

/// How many bytes of requests may wait in the client, not yet written to a connection (while
/// disconnected, or while the connection cannot keep up). A caller whose request does not fit
/// waits (backpressure); one larger than the whole budget waits for all of it.
const QUEUE_BUDGET: usize = 8 << 20;
/// What a queued request costs at least, whatever its size (its bookkeeping).
const QUEUE_MIN_COST: usize = 256;

/// The path of the ensemble configuration node (never under the chroot).
///
/// ```
/// assert_eq!(zk_client::CONFIG_NODE, "/zookeeper/config");
/// ```
pub const CONFIG_NODE: &str = "/zookeeper/config";

pub(crate) struct Shared {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) chroot: Option<String>,
    pub(crate) max_frame_len: usize,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) state: watch::Receiver<SessionEvent>,
    pub(crate) events: broadcast::Sender<SessionEvent>,
    pub(crate) next_watch_id: AtomicU64,
    pub(crate) server: Arc<std::sync::Mutex<Option<String>>>,
    pub(crate) lease: Arc<std::sync::Mutex<Lease>>,
    pub(crate) persistent_watch_buffer: usize,
    /// The budget of bytes of requests queued and not yet written (see [`QUEUE_BUDGET`]).
    pub(crate) queued: Arc<QueueBudget>,
}

/// An asynchronous ZooKeeper client: a cheap, cloneable handle to one session.
///
/// All clones share one connection task that owns the socket; requests go on the wire in call
/// order and are pipelined. The session survives reconnects (to the same or another server of the
/// ensemble) as long as the server keeps it; watches are re-registered automatically. When the
/// last handle is dropped, or [`Client::close`] is called, the session is closed on the server
/// (its ephemeral nodes disappear at once).
///
/// ```no_run
/// use zk_client::{Client, CreateOptions};
///
/// # async fn demo() -> zk_client::Result<()> {
/// let client = Client::connect("127.0.0.1:2181/app").await?;
/// let (path, stat) = client.create("/config", b"v1", &CreateOptions::persistent()).await?;
/// assert_eq!(path, "/config");
/// let (data, stat2) = client.get_data("/config").await?;
/// assert_eq!(&data[..], b"v1");
/// assert_eq!(stat.czxid, stat2.czxid);
/// client.set_data("/config", b"v2", Some(stat2.version)).await?;
/// client.delete("/config", None).await?;
/// client.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let event = *self.shared.state.borrow();
        f.debug_struct("Client")
            .field("state", &event.state)
            .field("session_id", &format_args!("{:#x}", event.session_id))
            .field("chroot", &self.shared.chroot)
            .finish()
    }
}

pub(crate) fn start(config: Config, connector: Connector) -> Client {
    let (commands, rx) = mpsc::unbounded_channel();
    let initial = SessionEvent {
        state: SessionState::Connecting,
        session_id: 0,
        timeout: Duration::ZERO,
        disconnects: 0,
    };
    let (state_tx, state_rx) = watch::channel(initial);
    let (events, _) = broadcast::channel(SESSION_EVENT_BUFFER);
    let shared = Shared {
        commands,
        chroot: config.chroot.clone(),
        max_frame_len: config.max_frame_len,
        request_timeout: config.request_timeout,
        state: state_rx,
        events: events.clone(),
        next_watch_id: AtomicU64::new(1),
        server: Arc::default(),
        lease: Arc::new(std::sync::Mutex::new(Lease::none())),
        queued: QueueBudget::new(QUEUE_BUDGET),
        persistent_watch_buffer: config.persistent_watch_buffer,
    };
    let outputs = Outputs {
        state: state_tx,
        events,
        server: Arc::clone(&shared.server),
        lease: Arc::clone(&shared.lease),
    };
    let task = SessionTask::new(config, connector, rx, outputs);
    tokio::spawn(task.run().instrument(tracing::info_span!("zk_session")));
    Client {
        shared: Arc::new(shared),
    }
}

/// Withdraws a request whose caller went away before it was written (see [`Ticket`]).
struct WithdrawOnDrop(Arc<Ticket>);

impl Drop for WithdrawOnDrop {
    fn drop(&mut self) {
        self.0.withdraw();
    }
}

/// Room for a request's frame, so that encoding it allocates once in the common cases.
fn size_hint(request: &Request) -> usize {
    let data = match request {
        Request::Create2(r) | Request::CreateContainer(r) => {
            r.data.as_ref().map_or(0, |d| d.len()) + 64 * r.acl.len()
        }
        Request::CreateTtl(r) => r.data.as_ref().map_or(0, |d| d.len()) + 64 * r.acl.len(),
        Request::SetData(r) => r.data.as_ref().map_or(0, |d| d.len()),
        Request::Multi(_) | Request::MultiRead(_) => 1024,
        _ => 0,
    };
    32 + request.path().map_or(0, str::len) + data
}

impl Client {
    /// Connects with default settings to `connect_string` (`host:port,host:port/chroot`) and
    /// waits for a session.
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::connect("127.0.0.1:2181").await?;
    /// println!("session {:#x}", client.session_id());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`ClientBuilder::connect`].
    pub async fn connect(connect_string: &str) -> Result<Client> {
        Self::builder(connect_string).connect().await
    }

    /// A builder for a client of `connect_string`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::builder("zk1:2181,zk2:2181/app")
    ///     .session_timeout(Duration::from_secs(10))
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(connect_string: &str) -> ClientBuilder {
        ClientBuilder::new(connect_string.parse::<ConnectString>().map(Config::new))
    }

    /// The error to report once the task is gone.
    fn gone(&self) -> Error {
        match self.state() {
            SessionState::Expired => Error::SessionExpired,
            SessionState::AuthFailed => Error::AuthFailed,
            _ => Error::Closed,
        }
    }

    fn server_path(&self, path: &str) -> Result<String> {
        zk_proto::path::validate_path(path).map_err(|e| Error::invalid_path(path, e))?;
        Ok(zk_proto::path::join_chroot(self.chroot(), path))
    }

    fn client_path(&self, server_path: String) -> String {
        match zk_proto::path::strip_chroot(self.chroot(), &server_path) {
            Some(p) if p.len() == server_path.len() => server_path,
            Some(p) => p.to_owned(),
            None => server_path,
        }
    }

    fn watch_id(&self) -> u64 {
        self.shared.next_watch_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Encodes and sends `request`, and waits for its answer.
    async fn call(
        &self,
        request: &Request,
        watch: Option<WatchRegistration>,
        effect: Effect,
    ) -> Result<Response> {
        self.call_with_zxid(request, watch, effect)
            .await
            .map(|reply| reply.response)
    }

    /// [`call`](Self::call), with the zxid of the reply header.
    async fn call_with_zxid(
        &self,
        request: &Request,
        watch: Option<WatchRegistration>,
        effect: Effect,
    ) -> Result<Reply> {
        let op = request.op_code();
        let mut frame = BytesMut::with_capacity(size_hint(request));
        encode_frame(
            &(RequestHeader::new(0, op), request),
            &mut frame,
            self.shared.max_frame_len,
        )
        .map_err(|e| match e {
            FrameError::TooLarge { len, max } => Error::RequestTooLarge { len, max },
            other => Error::Protocol(other.to_string()),
        })?;
        self.send(op, frame, watch, effect).await
    }

    async fn send(
        &self,
        op: OpCode,
        frame: BytesMut,
        watch: Option<WatchRegistration>,
        effect: Effect,
    ) -> Result<Reply> {
        let (reply, answer) = oneshot::channel();
        let ticket = Arc::new(Ticket::default());
        // Dropping this future before the request is written withdraws it.
        let withdraw = WithdrawOnDrop(Arc::clone(&ticket));
        let cost = frame.len().clamp(QUEUE_MIN_COST, QUEUE_BUDGET);
        let exchange = async {
            // Backpressure: wait for room in the queue budget.
            let permit = self.shared.queued.acquire(cost).await;
            let outgoing = Outgoing {
                op,
                frame,
                reply: Some(reply),
                watch,
                effect,
                ticket,
                permit: Some(permit),
            };
            if self
                .shared
                .commands
                .send(Command::Request(outgoing))
                .is_err()
            {
                return Err(self.gone());
            }
            answer.await.unwrap_or_else(|_| Err(self.gone()))
        };
        match self.shared.request_timeout {
            Some(limit) => match tokio::time::timeout(limit, exchange).await {
                Ok(answer) => answer,
                Err(_) if withdraw.0.withdraw() => Err(Error::Timeout),
                Err(_) => Err(Error::OutcomeUnknown),
            },
            None => exchange.await,
        }
    }

    fn unexpected(op: &str, response: &Response) -> Error {
        Error::Protocol(format!("unexpected answer to {op}: {response:?}"))
    }

    /// Creates a node; returns its actual path (with any sequence suffix, relative to the
    /// chroot) and its stat.
    ///
    /// ```no_run
    /// use zk_client::CreateOptions;
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (path, _) = client.create("/jobs/job-", b"", &CreateOptions::persistent_sequential()).await?;
    /// assert!(path.starts_with("/jobs/job-00000"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NodeExists`], [`Error::NoNode`] (no parent), [`Error::NoChildrenForEphemerals`],
    /// [`Error::NoAuth`], [`Error::InvalidAcl`], [`Error::Unimplemented`] (TTL disabled on the
    /// server), [`Error::InvalidPath`], and the connection errors.
    pub async fn create(
        &self,
        path: &str,
        data: impl AsRef<[u8]>,
        options: &CreateOptions,
    ) -> Result<(String, Stat)> {
        options.validate_path(path)?;
        let server_path = zk_proto::path::join_chroot(self.chroot(), path);
        let request = options.request(server_path, Bytes::copy_from_slice(data.as_ref()))?;
        let span = tracing::debug_span!("zk_create", path);
        match self
            .call(&request, None, Effect::None)
            .instrument(span)
            .await?
        {
            Response::Create2(r) => Ok((self.client_path(r.path), r.stat)),
            Response::Create(r) => Ok((self.client_path(r.path), Stat::default())),
            other => Err(Self::unexpected("create", &other)),
        }
    }

    /// Deletes a node, if its version is `version` (`None`: any version).
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (_, stat) = client.get_data("/jobs/job-0000000001").await?;
    /// // Only delete the version that was read; fails with Error::BadVersion otherwise.
    /// client.delete("/jobs/job-0000000001", Some(stat.version)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::BadVersion`], [`Error::NotEmpty`], [`Error::NoAuth`], ...
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        let request = Request::Delete(DeleteRequest {
            path: self.server_path(path)?,
            version: version.unwrap_or(-1),
        });
        self.call(&request, None, Effect::None)
            .instrument(tracing::debug_span!("zk_delete", path))
            .await
            .map(drop)
    }

    /// The stat of a node, or `None` if it does not exist.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// match client.exists("/app").await? {
    ///     Some(stat) => println!("/app has {} children", stat.num_children),
    ///     None => println!("/app does not exist"),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The connection errors.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        self.exists_inner(path, None).await
    }

    /// Like [`exists`](Self::exists), and leaves a watch that fires when the node is created,
    /// deleted or changed.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (stat, watch) = client.exists_watch("/leader").await?;
    /// if stat.is_none() {
    ///     let event = watch.await; // NodeCreated
    ///     println!("{:?} {}", event.event_type, event.path);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The connection errors.
    pub async fn exists_watch(&self, path: &str) -> Result<(Option<Stat>, OneshotWatch)> {
        let (registration, watch) = self.oneshot(path, OneshotKind::Data)?;
        let stat = self.exists_inner(path, Some(registration)).await?;
        Ok((stat, watch))
    }

    async fn exists_inner(
        &self,
        path: &str,
        watch: Option<WatchRegistration>,
    ) -> Result<Option<Stat>> {
        let request = Request::Exists(ExistsRequest {
            path: self.server_path(path)?,
            watch: watch.is_some(),
        });
        match self
            .call(&request, watch, Effect::None)
            .instrument(tracing::debug_span!("zk_exists", path))
            .await
        {
            Ok(Response::Stat(stat)) => Ok(Some(stat)),
            Ok(other) => Err(Self::unexpected("exists", &other)),
            Err(Error::NoNode) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn oneshot(&self, path: &str, kind: OneshotKind) -> Result<(WatchRegistration, OneshotWatch)> {
        let server_path = self.server_path(path)?;
        let id = self.watch_id();
        let (tx, rx) = oneshot::channel();
        let watch = OneshotWatch::new(
            id,
            server_path.clone(),
            path.to_owned(),
            rx,
            self.shared.commands.downgrade(),
        );
        let registration = WatchRegistration::Oneshot {
            id,
            path: server_path,
            kind,
            tx,
        };
        Ok((registration, watch))
    }

    /// A node's data and stat.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (data, stat) = client.get_data("/config").await?;
    /// println!("{} (version {})", String::from_utf8_lossy(&data), stat.version);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::NoAuth`], and the connection errors.
    pub async fn get_data(&self, path: &str) -> Result<(Bytes, Stat)> {
        self.get_data_inner(path, None).await
    }

    /// Like [`get_data`](Self::get_data), and leaves a watch that fires when the node changes or
    /// is deleted.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (data, _stat, watch) = client.get_data_watch("/config").await?;
    /// println!("config: {}", String::from_utf8_lossy(&data));
    /// let event = watch.await; // NodeDataChanged or NodeDeleted
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`get_data`](Self::get_data) (no watch is left on error).
    pub async fn get_data_watch(&self, path: &str) -> Result<(Bytes, Stat, OneshotWatch)> {
        let (registration, watch) = self.oneshot(path, OneshotKind::Data)?;
        let (data, stat) = self.get_data_inner(path, Some(registration)).await?;
        Ok((data, stat, watch))
    }

    async fn get_data_inner(
        &self,
        path: &str,
        watch: Option<WatchRegistration>,
    ) -> Result<(Bytes, Stat)> {
        let request = Request::GetData(GetDataRequest {
            path: self.server_path(path)?,
            watch: watch.is_some(),
        });
        match self
            .call(&request, watch, Effect::None)
            .instrument(tracing::debug_span!("zk_get_data", path))
            .await?
        {
            Response::GetData(r) => Ok((r.data.unwrap_or_default(), r.stat)),
            other => Err(Self::unexpected("getData", &other)),
        }
    }

    /// Replaces a node's data if its version is `version` (`None`: any); returns the new stat.
    ///
    /// ```no_run
    /// use zk_client::Error;
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (_, stat) = client.get_data("/config").await?;
    /// // Compare-and-set: fails with BadVersion if someone wrote in between.
    /// match client.set_data("/config", b"v2", Some(stat.version)).await {
    ///     Ok(new) => assert_eq!(new.version, stat.version + 1),
    ///     Err(Error::BadVersion) => println!("lost the race"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::BadVersion`], [`Error::NoAuth`], ...
    pub async fn set_data(
        &self,
        path: &str,
        data: impl AsRef<[u8]>,
        version: Option<i32>,
    ) -> Result<Stat> {
        let request = Request::SetData(SetDataRequest {
            path: self.server_path(path)?,
            data: Some(Bytes::copy_from_slice(data.as_ref())),
            version: version.unwrap_or(-1),
        });
        match self
            .call(&request, None, Effect::None)
            .instrument(tracing::debug_span!("zk_set_data", path))
            .await?
        {
            Response::SetStat(stat) => Ok(stat),
            other => Err(Self::unexpected("setData", &other)),
        }
    }

    /// The names (not paths) of a node's children, in no particular order.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let mut children = client.get_children("/jobs").await?;
    /// children.sort(); // the server gives no order
    /// for name in children {
    ///     println!("/jobs/{name}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::NoAuth`], and the connection errors.
    pub async fn get_children(&self, path: &str) -> Result<Vec<String>> {
        let request = Request::GetChildren(GetChildrenRequest {
            path: self.server_path(path)?,
            watch: false,
        });
        match self.call(&request, None, Effect::None).await? {
            Response::GetChildren(r) => Ok(r.children),
            other => Err(Self::unexpected("getChildren", &other)),
        }
    }

    /// The names of a node's children and the node's stat.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (children, stat) = client.get_children_with_stat("/jobs").await?;
    /// assert_eq!(children.len(), stat.num_children as usize);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`get_children`](Self::get_children).
    pub async fn get_children_with_stat(&self, path: &str) -> Result<(Vec<String>, Stat)> {
        self.get_children2(path, None).await
    }

    /// Like [`get_children_with_stat`](Self::get_children_with_stat), and leaves a watch that
    /// fires when a child is created or deleted, or the node is deleted.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (children, _stat, watch) = client.get_children_watch("/workers").await?;
    /// println!("{} workers", children.len());
    /// let event = watch.await; // NodeChildrenChanged or NodeDeleted
    /// println!("{:?}", event.event_type);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`get_children`](Self::get_children).
    pub async fn get_children_watch(
        &self,
        path: &str,
    ) -> Result<(Vec<String>, Stat, OneshotWatch)> {
        let (registration, watch) = self.oneshot(path, OneshotKind::Child)?;
        let (children, stat) = self.get_children2(path, Some(registration)).await?;
        Ok((children, stat, watch))
    }

    async fn get_children2(
        &self,
        path: &str,
        watch: Option<WatchRegistration>,
    ) -> Result<(Vec<String>, Stat)> {
        let request = Request::GetChildren2(GetChildrenRequest {
            path: self.server_path(path)?,
            watch: watch.is_some(),
        });
        match self
            .call(&request, watch, Effect::None)
            .instrument(tracing::debug_span!("zk_get_children", path))
            .await?
        {
            Response::GetChildren2(r) => Ok((r.children, r.stat)),
            other => Err(Self::unexpected("getChildren2", &other)),
        }
    }

    /// A node's ACL and stat.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (acl, stat) = client.get_acl("/app").await?;
    /// for entry in &acl {
    ///     println!("{} {:?}", entry.id, entry.perms);
    /// }
    /// println!("ACL version {}", stat.aversion);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::NoAuth`], and the connection errors.
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let request = Request::GetAcl(GetAclRequest {
            path: self.server_path(path)?,
        });
        match self.call(&request, None, Effect::None).await? {
            Response::GetAcl(r) => Ok((r.acl, r.stat)),
            other => Err(Self::unexpected("getACL", &other)),
        }
    }

    /// Replaces a node's ACL if its ACL version is `version` (`None`: any); returns the new stat.
    ///
    /// ```no_run
    /// use zk_client::{Acl, Id, Perms};
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let acl = [
    ///     Acl::new(Perms::ALL, Id::digest("alice", "secret")),
    ///     Acl::new(Perms::READ, Id::anyone()),
    /// ];
    /// let (_, stat) = client.get_acl("/app").await?;
    /// client.set_acl("/app", &acl, Some(stat.aversion)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::BadVersion`], [`Error::NoAuth`], [`Error::InvalidAcl`], ...
    pub async fn set_acl(&self, path: &str, acl: &[Acl], version: Option<i32>) -> Result<Stat> {
        let request = Request::SetAcl(SetAclRequest {
            path: self.server_path(path)?,
            acl: acl.to_vec(),
            version: version.unwrap_or(-1),
        });
        match self.call(&request, None, Effect::None).await? {
            Response::SetStat(stat) => Ok(stat),
            other => Err(Self::unexpected("setACL", &other)),
        }
    }

    /// Waits until the connected server has caught up with the leader (as of this call), so
    /// that following reads see every write committed before it.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// // Another process wrote /config through another server: make sure this read sees it.
    /// client.sync("/config").await?;
    /// let (data, _) = client.get_data("/config").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The connection errors.
    pub async fn sync(&self, path: &str) -> Result<()> {
        let request = Request::Sync(SyncRequest {
            path: self.server_path(path)?,
        });
        self.call(&request, None, Effect::None).await.map(drop)
    }

    /// Starts a transaction: every operation applies, or none.
    ///
    /// ```no_run
    /// use zk_client::CreateOptions;
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let results = client
    ///     .transaction()
    ///     .check("/config", 3)
    ///     .set_data("/config", b"v4", Some(3))
    ///     .create("/config/history-", b"v3", &CreateOptions::persistent_sequential())
    ///     .commit()
    ///     .await?;
    /// assert_eq!(results.len(), 3);
    /// # Ok(()) }
    /// ```
    pub fn transaction(&self) -> Transaction {
        Transaction::new(self.clone())
    }

    /// A multi or multiRead, with the zxid of its reply (for a successful multi, the zxid of
    /// its transaction).
    pub(crate) async fn multi(
        &self,
        request: Request,
    ) -> Result<(zk_proto::multi::MultiResponse, i64)> {
        let reply = self
            .call_with_zxid(&request, None, Effect::None)
            .instrument(tracing::debug_span!("zk_multi"))
            .await?;
        match reply.response {
            Response::Multi(r) => Ok((r, reply.zxid)),
            other => Err(Self::unexpected("multi", &other)),
        }
    }

    pub(crate) fn to_server_path(&self, path: &str) -> Result<String> {
        self.server_path(path)
    }

    pub(crate) fn to_client_path(&self, server_path: String) -> String {
        self.client_path(server_path)
    }

    /// Several reads in one round trip (not atomic); one result per op, in order.
    ///
    /// ```no_run
    /// use zk_client::{ReadOp, ReadResult};
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let results = client
    ///     .multi_read([ReadOp::get_data("/a"), ReadOp::get_children("/b")])
    ///     .await?;
    /// if let Ok(ReadResult::Data { data, .. }) = &results[0] {
    ///     println!("{}", String::from_utf8_lossy(data));
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors and invalid paths for the whole call; per-op errors in the results.
    pub async fn multi_read(
        &self,
        ops: impl IntoIterator<Item = ReadOp>,
    ) -> Result<Vec<Result<ReadResult>>> {
        crate::transaction::multi_read(self, ops).await
    }
}
