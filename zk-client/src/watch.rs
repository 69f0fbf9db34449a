//! Watches: one-shot watches are futures, persistent watches are streams.
//!
//! The connection task owns a [`Registry`] of every local watcher, keyed by server path. It
//! delivers each notification synchronously into the watchers' channels before it looks at the
//! next frame, so a watch event is always queued before the reply to any later request completes.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use zk_proto::{AddWatchMode, EventType, KeeperState, WatcherType};

use crate::connection::Command;

/// A watch notification, or a session-level event delivered to a watcher.
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
        tx: mpsc::UnboundedSender<PersistentEvent>,
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
        if let Some(commands) = self.commands.upgrade() {
            let _ = commands.send(Command::RemoveWatch {
                id: self.id,
                path: std::mem::take(&mut self.server_path),
            });
        }
    }
}

/// A persistent (or persistent-recursive) watch: a stream of every event on its node (or
/// subtree), from [`Client::add_watch`](crate::Client::add_watch).
///
/// After every reconnect the watch is re-registered and the stream yields
/// [`PersistentEvent::Reconnected`]. The stream ends when the session expires (unless the
/// client re-creates it on a new session), when the client is closed, or when the watch is
/// removed. Dropping it removes the watch.
#[must_use = "a watch does nothing unless polled; dropping it removes the watch"]
#[derive(Debug)]
pub struct PersistentWatch {
    rx: mpsc::UnboundedReceiver<PersistentEvent>,
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
        rx: mpsc::UnboundedReceiver<PersistentEvent>,
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
    pub fn path(&self) -> &str {
        &self.client_path
    }

    /// Whether the watch covers only the node or its whole subtree.
    pub fn mode(&self) -> AddWatchMode {
        self.mode
    }

    /// The next event, or `None` once the watch is gone. Same as `StreamExt::next`.
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
        if let Some(commands) = self.commands.upgrade() {
            let _ = commands.send(Command::RemoveWatch {
                id: self.id,
                path: std::mem::take(&mut self.server_path),
            });
        }
    }
}

struct OneshotEntry {
    id: u64,
    tx: oneshot::Sender<WatchedEvent>,
}

struct PersistentEntry {
    id: u64,
    tx: mpsc::UnboundedSender<PersistentEvent>,
}

#[derive(Default)]
struct PathWatches {
    data: Vec<OneshotEntry>,
    exist: Vec<OneshotEntry>,
    child: Vec<OneshotEntry>,
    persistent: Vec<PersistentEntry>,
    recursive: Vec<PersistentEntry>,
}

impl PathWatches {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }
}

/// The watch lists to send in SetWatches/SetWatches2 (server paths).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct WatchLists {
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub recursive: Vec<String>,
}

impl WatchLists {
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }
}

/// Every local watcher, keyed by server path.
pub(crate) struct Registry {
    chroot: Option<String>,
    paths: HashMap<String, PathWatches>,
    recursive_count: usize,
}

impl Registry {
    pub(crate) fn new(chroot: Option<String>) -> Self {
        Self {
            chroot,
            paths: HashMap::new(),
            recursive_count: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Registers a watch whose request succeeded. `exists_missing` turns a data watch left by an
    /// exists on a missing node into an exist watch.
    pub(crate) fn add(&mut self, registration: WatchRegistration, exists_missing: bool) {
        match registration {
            WatchRegistration::Oneshot { id, path, kind, tx } => {
                let entry = self.paths.entry(path).or_default();
                let list = match (kind, exists_missing) {
                    (OneshotKind::Data, true) => &mut entry.exist,
                    (OneshotKind::Data, false) => &mut entry.data,
                    (OneshotKind::Child, _) => &mut entry.child,
                };
                list.push(OneshotEntry { id, tx });
            }
            WatchRegistration::Persistent { id, path, mode, tx } => {
                let entry = self.paths.entry(path).or_default();
                match mode {
                    AddWatchMode::Persistent => entry.persistent.push(PersistentEntry { id, tx }),
                    AddWatchMode::PersistentRecursive => {
                        entry.recursive.push(PersistentEntry { id, tx });
                        self.recursive_count += 1;
                    }
                }
            }
        }
    }

    fn client_path<'a>(&self, server_path: &'a str) -> Option<&'a str> {
        zk_proto::path::strip_chroot(self.chroot.as_deref(), server_path)
    }

    /// Delivers a server notification to every local watcher it concerns.
    pub(crate) fn dispatch(&mut self, event_type: EventType, server_path: &str) {
        let Some(client_path) = self.client_path(server_path) else {
            tracing::debug!(server_path, "notification outside the chroot ignored");
            return;
        };
        let event = WatchedEvent::node(event_type, client_path);
        let mut emptied = false;
        if let Some(entry) = self.paths.get_mut(server_path) {
            let fire = |list: &mut Vec<OneshotEntry>| {
                for w in list.drain(..) {
                    let _ = w.tx.send(event.clone());
                }
            };
            match event_type {
                EventType::NodeCreated | EventType::NodeDataChanged => {
                    fire(&mut entry.data);
                    fire(&mut entry.exist);
                }
                EventType::NodeDeleted => {
                    fire(&mut entry.data);
                    fire(&mut entry.exist);
                    fire(&mut entry.child);
                }
                EventType::NodeChildrenChanged => fire(&mut entry.child),
                _ => {}
            }
            entry
                .persistent
                .retain(|w| w.tx.send(PersistentEvent::Node(event.clone())).is_ok());
            emptied = entry.is_empty();
        }
        if emptied {
            self.paths.remove(server_path);
        }
        if self.recursive_count > 0 && event_type != EventType::NodeChildrenChanged {
            let mut ancestor = Some(server_path);
            while let Some(p) = ancestor {
                if let Some(entry) = self.paths.get_mut(p) {
                    let before = entry.recursive.len();
                    entry
                        .recursive
                        .retain(|w| w.tx.send(PersistentEvent::Node(event.clone())).is_ok());
                    self.recursive_count -= before - entry.recursive.len();
                }
                ancestor = zk_proto::path::parent(p);
            }
        }
    }

    /// Removes the watcher `id` at `path`. Returns the server watch type to remove on the server,
    /// when no local watcher needs that server-side watch any more.
    pub(crate) fn remove(&mut self, id: u64, path: &str) -> Option<WatcherType> {
        let entry = self.paths.get_mut(path)?;
        let mut removed_kind = None;
        for (list, kind) in [
            (&mut entry.data, 0u8),
            (&mut entry.exist, 0),
            (&mut entry.child, 1),
        ] {
            if let Some(i) = list.iter().position(|w| w.id == id) {
                list.swap_remove(i);
                removed_kind = Some(kind);
            }
        }
        for (list, kind) in [(&mut entry.persistent, 2u8), (&mut entry.recursive, 3)] {
            if let Some(i) = list.iter().position(|w| w.id == id) {
                list.swap_remove(i);
                removed_kind = Some(kind);
                if kind == 3 {
                    self.recursive_count -= 1;
                }
            }
        }
        let kind = removed_kind?;
        let has_persistent = !entry.persistent.is_empty() || !entry.recursive.is_empty();
        let server_type = if entry.is_empty() {
            Some(WatcherType::Any)
        } else if has_persistent {
            // A persistent watch sits in both server tables; removing either would break it.
            None
        } else {
            match kind {
                0 if entry.data.is_empty() && entry.exist.is_empty() => Some(WatcherType::Data),
                1 if entry.child.is_empty() => Some(WatcherType::Children),
                _ => None,
            }
        };
        if entry.is_empty() {
            self.paths.remove(path);
        }
        server_type
    }

    /// After a successful removeWatches: drops the local watchers of that type at `path`,
    /// telling each of them.
    pub(crate) fn remove_type(&mut self, path: &str, watcher_type: WatcherType) {
        let Some(client_path) = self.client_path(path).map(str::to_owned) else {
            return;
        };
        let Some(entry) = self.paths.get_mut(path) else {
            return;
        };
        let removed = |event_type| WatchedEvent {
            event_type,
            state: KeeperState::SyncConnected,
            path: client_path.clone(),
        };
        let (data, child, persistent) = match watcher_type {
            WatcherType::Data => (true, false, false),
            WatcherType::Children => (false, true, false),
            WatcherType::Persistent | WatcherType::PersistentRecursive => (false, false, true),
            _ => (true, true, true),
        };
        if data {
            for w in entry.data.drain(..).chain(entry.exist.drain(..)) {
                let _ = w.tx.send(removed(EventType::DataWatchRemoved));
            }
        }
        if child {
            for w in entry.child.drain(..) {
                let _ = w.tx.send(removed(EventType::ChildWatchRemoved));
            }
        }
        if persistent {
            let recursive = watcher_type != WatcherType::Persistent;
            let plain = watcher_type != WatcherType::PersistentRecursive;
            if plain {
                for w in entry.persistent.drain(..) {
                    let _ = w.tx.send(PersistentEvent::Node(removed(
                        EventType::PersistentWatchRemoved,
                    )));
                }
            }
            if recursive {
                self.recursive_count -= entry.recursive.len();
                for w in entry.recursive.drain(..) {
                    let _ = w.tx.send(PersistentEvent::Node(removed(
                        EventType::PersistentWatchRemoved,
                    )));
                }
            }
        }
        if entry.is_empty() {
            self.paths.remove(path);
        }
    }

    /// Whether a one-shot watch of `kind` at `path` is already served by a persistent watch at
    /// the same path, so that it must not be registered on the server.
    ///
    /// ZooKeeper 3.8 keeps a single mode per (connection, path): a one-shot registration on a
    /// path with a persistent watch turns the persistent watch into a one-shot one on the server,
    /// which then disappears after its first event. The persistent watch's events feed the local
    /// one-shot watcher instead.
    pub(crate) fn covered(&self, path: &str, kind: OneshotKind) -> bool {
        self.paths.get(path).is_some_and(|e| {
            !e.persistent.is_empty() || (kind == OneshotKind::Data && !e.recursive.is_empty())
        })
    }

    /// The lists to re-register after a reconnect (one-shot watches served by a persistent
    /// watch on the same path are left out, see [`Registry::covered`]).
    pub(crate) fn lists(&self) -> WatchLists {
        let mut lists = WatchLists::default();
        for (path, entry) in &self.paths {
            let data_covered = !entry.persistent.is_empty() || !entry.recursive.is_empty();
            let child_covered = !entry.persistent.is_empty();
            if !entry.data.is_empty() && !data_covered {
                lists.data.push(path.clone());
            }
            if !entry.exist.is_empty() && !data_covered {
                lists.exist.push(path.clone());
            }
            if !entry.child.is_empty() && !child_covered {
                lists.child.push(path.clone());
            }
            if !entry.persistent.is_empty() {
                lists.persistent.push(path.clone());
            }
            if !entry.recursive.is_empty() {
                lists.recursive.push(path.clone());
            }
        }
        lists
    }

    /// Tells every persistent watcher that the connection is back (their watch is re-registered).
    pub(crate) fn announce_reconnect(&mut self, new_session: bool) {
        let mut dead = 0;
        for entry in self.paths.values_mut() {
            entry.persistent.retain(|w| {
                w.tx.send(PersistentEvent::Reconnected { new_session })
                    .is_ok()
            });
            let before = entry.recursive.len();
            entry.recursive.retain(|w| {
                w.tx.send(PersistentEvent::Reconnected { new_session })
                    .is_ok()
            });
            dead += before - entry.recursive.len();
        }
        self.recursive_count -= dead;
        self.paths.retain(|_, e| !e.is_empty());
    }

    /// Ends every one-shot watch with a session event (`state`), keeping persistent watches
    /// when `keep_persistent` (a new session will carry them), else ending them too.
    pub(crate) fn end_session(&mut self, state: KeeperState, keep_persistent: bool) {
        let chroot = self.chroot.clone();
        for (path, entry) in &mut self.paths {
            let client_path = zk_proto::path::strip_chroot(chroot.as_deref(), path).unwrap_or(path);
            let event = WatchedEvent {
                event_type: EventType::None,
                state,
                path: client_path.to_owned(),
            };
            for w in entry
                .data
                .drain(..)
                .chain(entry.exist.drain(..))
                .chain(entry.child.drain(..))
            {
                let _ = w.tx.send(event.clone());
            }
            if !keep_persistent {
                entry.persistent.clear();
                entry.recursive.clear();
            }
        }
        if !keep_persistent {
            self.recursive_count = 0;
        }
        self.paths.retain(|_, e| !e.is_empty());
    }

    /// Whether a local watcher of any kind is registered at `path`.
    #[cfg(test)]
    pub(crate) fn watches(&self, path: &str) -> bool {
        self.paths.contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oneshot_reg(
        id: u64,
        path: &str,
        kind: OneshotKind,
    ) -> (WatchRegistration, oneshot::Receiver<WatchedEvent>) {
        let (tx, rx) = oneshot::channel();
        (
            WatchRegistration::Oneshot {
                id,
                path: path.to_owned(),
                kind,
                tx,
            },
            rx,
        )
    }

    #[test]
    fn oneshot_and_persistent_on_the_same_path_both_fire_and_chroot_is_stripped() {
        let mut reg = Registry::new(Some("/app".into()));
        let (r1, mut rx1) = oneshot_reg(1, "/app/a", OneshotKind::Data);
        reg.add(r1, false);
        let (tx, mut prx) = mpsc::unbounded_channel();
        reg.add(
            WatchRegistration::Persistent {
                id: 2,
                path: "/app".into(),
                mode: AddWatchMode::PersistentRecursive,
                tx,
            },
            false,
        );
        reg.dispatch(EventType::NodeDataChanged, "/app/a");
        let ev = rx1.try_recv().unwrap();
        assert_eq!(ev.path, "/a");
        assert_eq!(ev.event_type, EventType::NodeDataChanged);
        assert_eq!(
            prx.try_recv().unwrap(),
            PersistentEvent::Node(WatchedEvent::node(EventType::NodeDataChanged, "/a"))
        );
        // Recursive watches never see NodeChildrenChanged.
        reg.dispatch(EventType::NodeChildrenChanged, "/app");
        assert!(prx.try_recv().is_err());
        // The one-shot is gone, the persistent one stays.
        assert!(!reg.watches("/app/a"));
        assert!(reg.watches("/app"));
    }

    #[test]
    fn removal_asks_the_server_only_when_no_local_watcher_needs_it() {
        let mut reg = Registry::new(None);
        let (r1, _rx1) = oneshot_reg(1, "/a", OneshotKind::Data);
        let (r2, _rx2) = oneshot_reg(2, "/a", OneshotKind::Data);
        let (r3, _rx3) = oneshot_reg(3, "/a", OneshotKind::Child);
        reg.add(r1, false);
        reg.add(r2, false);
        reg.add(r3, false);
        assert_eq!(reg.remove(1, "/a"), None);
        assert_eq!(reg.remove(2, "/a"), Some(WatcherType::Data));
        assert_eq!(reg.remove(3, "/a"), Some(WatcherType::Any));
        assert!(reg.is_empty());
        assert_eq!(reg.remove(3, "/a"), None);
    }

    #[test]
    fn exists_on_a_missing_node_is_an_exist_watch() {
        let mut reg = Registry::new(None);
        let (r1, _rx1) = oneshot_reg(1, "/a", OneshotKind::Data);
        reg.add(r1, true);
        let lists = reg.lists();
        assert_eq!(lists.exist, vec!["/a".to_owned()]);
        assert!(lists.data.is_empty());
    }
}
