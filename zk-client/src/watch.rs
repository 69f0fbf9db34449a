//! Watches: one-shot watches are futures, persistent watches are streams.
//!
//! The session core owns a [`Registry`] of every local watcher, keyed by server path. It
//! delivers each notification synchronously into the watchers' channels before it looks at the
//! next frame, so a watch event is queued (ready for the watcher's next poll) before the reply to
//! any later request completes. The two sit on different channels: a task that awaits the reply
//! and then polls the watch sees the event first, but the wake-ups of two different tasks are in
//! no particular order.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use zk_proto::{AddWatchMode, EventType, KeeperState};

use crate::core::Command;
use crate::event_queue::{EventReceiver, EventSender};

/// A watch notification, or a session-level event delivered to a watcher.
///
/// ```
/// use zk_client::{EventType, KeeperState, WatchedEvent};
///
/// let event = WatchedEvent {
///     event_type: EventType::NodeDataChanged,
///     state: KeeperState::SyncConnected,
///     path: "/config".to_owned(),
/// };
/// assert!(event.is_node_event());
///
/// // A watch cut short by the end of the session.
/// let ended = WatchedEvent {
///     event_type: EventType::None,
///     state: KeeperState::Expired,
///     path: "/config".to_owned(),
/// };
/// assert!(!ended.is_node_event());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    /// What happened. `EventType::None` for session events (the watch was cut short by
    /// `state`), `DataWatchRemoved`/`ChildWatchRemoved`/`PersistentWatchRemoved` when the watch
    /// was removed with [`Client::remove_watches`](crate::Client::remove_watches).
    pub event_type: EventType,
    /// `SyncConnected` for node events; `Expired`, `Closed` or `AuthFailed` when the watch ended
    /// because of the session.
    pub state: KeeperState,
    /// The path of the node, relative to the client's chroot.
    pub path: String,
}

impl WatchedEvent {
    pub(crate) fn node(event_type: EventType, path: &str) -> Self {
        Self {
            event_type,
            state: KeeperState::SyncConnected,
            path: path.to_owned(),
        }
    }

    /// Whether this is a change of a node (not a session event or a removal).
    ///
    /// ```
    /// use zk_client::{EventType, KeeperState, WatchedEvent};
    ///
    /// let removed = WatchedEvent {
    ///     event_type: EventType::DataWatchRemoved,
    ///     state: KeeperState::SyncConnected,
    ///     path: "/a".to_owned(),
    /// };
    /// assert!(!removed.is_node_event());
    /// let created = WatchedEvent { event_type: EventType::NodeCreated, ..removed };
    /// assert!(created.is_node_event());
    /// ```
    pub fn is_node_event(&self) -> bool {
        matches!(
            self.event_type,
            EventType::NodeCreated
                | EventType::NodeDeleted
                | EventType::NodeDataChanged
                | EventType::NodeChildrenChanged
        )
    }
}

/// An item of a [`PersistentWatch`] stream.
///
/// ```no_run
/// use zk_client::{AddWatchMode, PersistentEvent};
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// let mut watch = client.add_watch("/services", AddWatchMode::PersistentRecursive).await?;
/// let mut services = client.get_children("/services").await?;
/// while let Some(event) = watch.next_event().await {
///     match event {
///         PersistentEvent::Node(e) => println!("{:?} {}", e.event_type, e.path),
///         // Events may have been lost: rebuild the view from the server.
///         PersistentEvent::Reconnected { new_session } => {
///             println!("reconnected (new session: {new_session})");
///             services = client.get_children("/services").await?;
///         }
///         PersistentEvent::Overflow { dropped } => {
///             println!("{dropped} events dropped");
///             services = client.get_children("/services").await?;
///         }
///     }
/// }
/// # let _ = services;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistentEvent {
    /// A node event.
    Node(WatchedEvent),
    /// The connection was re-established and the watch re-registered. Changes made while the
    /// client was disconnected produced no event: re-read whatever state you derive from the
    /// events. `new_session` is true when the old session expired and the watch now lives on a
    /// new session ([`ExpiryPolicy::NewSession`](crate::ExpiryPolicy::NewSession)).
    Reconnected {
        /// Whether the session changed.
        new_session: bool,
    },
    /// The consumer fell behind: the stream's buffer
    /// ([`ClientBuilder::persistent_watch_buffer`](crate::ClientBuilder::persistent_watch_buffer))
    /// was full and `dropped` events (node events, or reconnect markers) were discarded. Like
    /// after a reconnect, re-read whatever state you derive from the events. Events after this
    /// one are delivered again.
    Overflow {
        /// How many events were discarded.
        dropped: u64,
    },
}

/// The kind of a one-shot watch, as the server tables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OneshotKind {
    /// Left by getData or exists (an exist watch when the node is missing).
    Data,
    /// Left by getChildren.
    Child,
}

/// What a request asks the connection task to register when its reply arrives.
#[derive(Debug)]
pub(crate) enum WatchRegistration {
    /// A one-shot watch; `exists` requests turn `Data` into `Exist` on NoNode.
    Oneshot {
        id: u64,
        path: String,
        kind: OneshotKind,
        tx: oneshot::Sender<WatchedEvent>,
    },
    /// A persistent watch (addWatch).
    Persistent {
        id: u64,
        path: String,
        mode: AddWatchMode,
        tx: EventSender,
    },
}

impl WatchRegistration {
    pub(crate) fn path(&self) -> &str {
        match self {
            Self::Oneshot { path, .. } | Self::Persistent { path, .. } => path,
        }
    }
}

/// A one-shot watch: a future that resolves with the first event on its node.
///
/// Created by [`Client::get_data_watch`](crate::Client::get_data_watch),
/// [`Client::exists_watch`](crate::Client::exists_watch) and
/// [`Client::get_children_watch`](crate::Client::get_children_watch). The watch survives
/// reconnects. If the session ends first, it resolves with an `EventType::None` event whose
/// `state` says why. Dropping it removes the watch (on the server too, when no other local
/// watcher needs it).
///
/// ```no_run
/// use zk_client::{EventType, KeeperState};
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// let (_, _, watch) = client.get_data_watch("/config").await?;
/// assert_eq!(watch.path(), "/config");
/// let event = watch.await;
/// match (event.event_type, event.state) {
///     (EventType::NodeDataChanged, _) => println!("changed: re-read it"),
///     (EventType::NodeDeleted, _) => println!("deleted"),
///     (EventType::None, KeeperState::Expired) => println!("session expired"),
///     other => println!("{other:?}"),
/// }
/// # Ok(()) }
/// ```
#[must_use = "a watch does nothing unless awaited; dropping it removes the watch"]
#[derive(Debug)]
pub struct OneshotWatch {
    rx: oneshot::Receiver<WatchedEvent>,
    id: u64,
    server_path: String,
    client_path: String,
    commands: mpsc::WeakUnboundedSender<Command>,
    done: bool,
}

impl OneshotWatch {
    pub(crate) fn new(
        id: u64,
        server_path: String,
        client_path: String,
        rx: oneshot::Receiver<WatchedEvent>,
        commands: mpsc::WeakUnboundedSender<Command>,
    ) -> Self {
        Self {
            rx,
            id,
            server_path,
            client_path,
            commands,
            done: false,
        }
    }

    /// The watched path (relative to the chroot).
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::connect("127.0.0.1:2181/app").await?;
    /// let (_, watch) = client.exists_watch("/leader").await?;
    /// assert_eq!(watch.path(), "/leader"); // the server watches /app/leader
    /// # Ok(()) }
    /// ```
    pub fn path(&self) -> &str {
        &self.client_path
    }
}

impl Future for OneshotWatch {
    type Output = WatchedEvent;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WatchedEvent> {
        if self.done {
            return Poll::Pending;
        }
        let polled = Pin::new(&mut self.rx).poll(cx);
        match polled {
            Poll::Ready(result) => {
                self.done = true;
                Poll::Ready(result.unwrap_or_else(|_| WatchedEvent {
                    event_type: EventType::None,
                    state: KeeperState::Closed,
                    path: self.client_path.clone(),
                }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for OneshotWatch {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        request_removal(&self.commands, self.id, &mut self.server_path);
    }
}

/// A persistent (or persistent-recursive) watch: a stream of every event on its node (or
/// subtree), from [`Client::add_watch`](crate::Client::add_watch).
///
/// After every reconnect the watch is re-registered and the stream yields
/// [`PersistentEvent::Reconnected`]. The stream ends when the session expires (unless the
/// client re-creates it on a new session), when the client is closed, or when the watch is
/// removed. Dropping it removes the watch.
///
/// ```no_run
/// use futures::StreamExt;
/// use zk_client::{AddWatchMode, PersistentEvent};
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// let mut watch = client.add_watch("/config", AddWatchMode::Persistent).await?;
/// assert_eq!(watch.path(), "/config");
/// assert_eq!(watch.mode(), AddWatchMode::Persistent);
/// // A Stream: every change of /config until the watch is dropped.
/// while let Some(event) = watch.next().await {
///     if let PersistentEvent::Node(e) = event {
///         println!("{:?}", e.event_type);
///     }
/// }
/// # Ok(()) }
/// ```
#[must_use = "a watch does nothing unless polled; dropping it removes the watch"]
#[derive(Debug)]
pub struct PersistentWatch {
    rx: EventReceiver,
    id: u64,
    server_path: String,
    client_path: String,
    mode: AddWatchMode,
    commands: mpsc::WeakUnboundedSender<Command>,
}

impl PersistentWatch {
    pub(crate) fn new(
        id: u64,
        server_path: String,
        client_path: String,
        mode: AddWatchMode,
        rx: EventReceiver,
        commands: mpsc::WeakUnboundedSender<Command>,
    ) -> Self {
        Self {
            rx,
            id,
            server_path,
            client_path,
            mode,
            commands,
        }
    }

    /// The watched path (relative to the chroot).
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::connect("127.0.0.1:2181/app").await?;
    /// let watch = client.add_watch("/config", zk_client::AddWatchMode::Persistent).await?;
    /// assert_eq!(watch.path(), "/config"); // the server watches /app/config
    /// # Ok(()) }
    /// ```
    pub fn path(&self) -> &str {
        &self.client_path
    }

    /// Whether the watch covers only the node or its whole subtree.
    ///
    /// ```no_run
    /// use zk_client::AddWatchMode;
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let watch = client.add_watch("/app", AddWatchMode::PersistentRecursive).await?;
    /// assert_eq!(watch.mode(), AddWatchMode::PersistentRecursive);
    /// # Ok(()) }
    /// ```
    pub fn mode(&self) -> AddWatchMode {
        self.mode
    }

    /// The next event, or `None` once the watch is gone. Same as `StreamExt::next`.
    ///
    /// ```no_run
    /// use zk_client::{AddWatchMode, PersistentEvent};
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let mut watch = client.add_watch("/jobs", AddWatchMode::PersistentRecursive).await?;
    /// while let Some(event) = watch.next_event().await {
    ///     if let PersistentEvent::Node(e) = event {
    ///         println!("{:?} {}", e.event_type, e.path);
    ///     }
    /// }
    /// // None: the watch is gone (client closed, session expired, or watch removed).
    /// # Ok(()) }
    /// ```
    pub async fn next_event(&mut self) -> Option<PersistentEvent> {
        self.rx.recv().await
    }
}

impl Stream for PersistentWatch {
    type Item = PersistentEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<PersistentEvent>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for PersistentWatch {
    fn drop(&mut self) {
        request_removal(&self.commands, self.id, &mut self.server_path);
    }
}

/// Asks the client's task to remove watch `id` from `server_path`; a dropped watch handle's
/// last act. Nothing to do once the client is gone.
fn request_removal(
    commands: &mpsc::WeakUnboundedSender<Command>,
    id: u64,
    server_path: &mut String,
) {
    if let Some(commands) = commands.upgrade() {
        let _ = commands.send(Command::RemoveWatch {
            id,
            path: std::mem::take(server_path),
        });
    }
}

pub(crate) use crate::registry::{Registry, WatchLists};
