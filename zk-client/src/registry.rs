//! The registry of every local watcher, keyed by server path, owned by the session core.
//!
//! It delivers each notification synchronously into the watchers' channels, keeps one server
//! registration per path (see [`Registry::covered`]), and lists the watches to re-register
//! after a reconnect.

use std::collections::HashMap;

use tokio::sync::oneshot;
use zk_proto::{AddWatchMode, EventType, KeeperState, WatcherType};

use crate::event_queue::EventSender;
use crate::watch::{OneshotKind, PersistentEvent, WatchRegistration, WatchedEvent};

struct OneshotEntry {
    id: u64,
    tx: oneshot::Sender<WatchedEvent>,
}

struct PersistentEntry {
    id: u64,
    tx: EventSender,
}

#[derive(Default)]
struct PathWatches {
    data: Vec<OneshotEntry>,
    exist: Vec<OneshotEntry>,
    child: Vec<OneshotEntry>,
    persistent: Vec<PersistentEntry>,
    recursive: Vec<PersistentEntry>,
    /// The server holds a PERSISTENT_RECURSIVE registration on this path for this connection
    /// (set when an addWatch(recursive) succeeds; it outlives the local recursive watchers
    /// while other watchers at the path rely on it, see [`Registry::covered`]).
    server_recursive: bool,
}

impl PathWatches {
    /// Whether the server's entry for this path is a persistent one, which serves every
    /// one-shot watch on the path (see [`Registry::covered`]).
    fn served_by_persistent(&self) -> bool {
        !self.persistent.is_empty() || !self.recursive.is_empty() || self.server_recursive
    }

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
    /// Paths whose server registration outlived every local watcher (see `take_orphans`).
    orphans: Vec<String>,
}

impl Registry {
    pub(crate) fn new(chroot: Option<String>) -> Self {
        Self {
            chroot,
            paths: HashMap::new(),
            recursive_count: 0,
            orphans: Vec::new(),
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
                        entry.server_recursive = true;
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
    ///
    /// On a path whose server entry is recursive, `NodeChildrenChanged` for the path's own
    /// child and persistent watchers is derived from the `NodeCreated`/`NodeDeleted` of a
    /// direct child (which the recursive entry always reports, at the point in the stream where
    /// the server would have put `NodeChildrenChanged`); a `NodeChildrenChanged` the server
    /// sends for such a path (zk-server-mini ORs modes and still sends one) is ignored, so that
    /// each change is reported once on both kinds of server.
    pub(crate) fn dispatch(&mut self, event_type: EventType, server_path: &str) {
        let Some(client_path) = self.client_path(server_path) else {
            tracing::debug!(server_path, "notification outside the chroot ignored");
            return;
        };
        let event = WatchedEvent::node(event_type, client_path);
        let skip = event_type == EventType::NodeChildrenChanged
            && self
                .paths
                .get(server_path)
                .is_some_and(|e| e.server_recursive);
        if !skip {
            self.deliver(server_path, &event);
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
        if matches!(event_type, EventType::NodeCreated | EventType::NodeDeleted)
            && let Some(parent) = zk_proto::path::parent(server_path)
            && self.paths.get(parent).is_some_and(|e| e.server_recursive)
            && let Some(client_parent) = self.client_path(parent)
        {
            let derived = WatchedEvent::node(EventType::NodeChildrenChanged, client_parent);
            self.deliver(parent, &derived);
        }
    }

    /// Delivers `event` to the one-shot and (non-recursive) persistent watchers at `server_path`.
    fn deliver(&mut self, server_path: &str, event: &WatchedEvent) {
        let Some(entry) = self.paths.get_mut(server_path) else {
            return;
        };
        let fire = |list: &mut Vec<OneshotEntry>| {
            for w in list.drain(..) {
                let _ = w.tx.send(event.clone());
            }
        };
        match event.event_type {
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
        if entry.is_empty() {
            if entry.server_recursive {
                self.orphans.push(server_path.to_owned());
            }
            self.paths.remove(server_path);
        }
    }

    /// Paths whose recursive server registration was kept for one-shot watchers that have
    /// fired or been removed since, so that nothing at the path needs it: the connection removes
    /// it on the server (it would otherwise report every change below the path until the
    /// connection ends).
    pub(crate) fn take_orphans(&mut self) -> Vec<String> {
        std::mem::take(&mut self.orphans)
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
        let server_type = if entry.is_empty() {
            Some(WatcherType::Any)
        } else if entry.served_by_persistent() {
            // A persistent watch sits in both server tables; removing either would break it.
            // (A recursive registration stays when only its local watchers went: the watchers
            // left at the path rely on it, see `covered`.)
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

    /// Whether a one-shot watch at `path` is already served by a persistent watch at the same
    /// path, so that it must not be registered on the server.
    ///
    /// ZooKeeper 3.6–3.8 keeps a single mode per (connection, path) in each of its two watch
    /// tables, and the last registration wins: a one-shot registration on a path with a
    /// persistent watch would turn the persistent entry into a one-shot one, which disappears
    /// after its first event; an addWatch after a one-shot registration replaces it. So while a
    /// path has a persistent or recursive registration, every one-shot watch on it is local and
    /// fed by that registration's events:
    /// - a persistent entry reports everything a data, exist or child watch waits for;
    /// - a recursive entry reports `NodeCreated`/`NodeDataChanged`/`NodeDeleted` of the path,
    ///   and `NodeCreated`/`NodeDeleted` of every direct child, from which [`Registry::dispatch`]
    ///   derives the path's `NodeChildrenChanged` (a recursive entry never sends one).
    ///
    /// This holds in either order of registration (the server's last-wins or zk-server-mini's
    /// union of modes give the same events), and on reconnect ([`Registry::lists`]).
    pub(crate) fn covered(&self, path: &str) -> bool {
        self.paths
            .get(path)
            .is_some_and(PathWatches::served_by_persistent)
    }

    /// Whether an addWatch(persistent) on `path` must be sent as addWatch(recursive): the
    /// server already holds a recursive registration there (3.8 would replace it, ending the
    /// recursive watch's events below the path). The persistent watcher then gets its events
    /// from the recursive registration, `NodeChildrenChanged` derived as in `covered`.
    pub(crate) fn server_recursive(&self, path: &str) -> bool {
        self.paths.get(path).is_some_and(|e| e.server_recursive)
    }

    /// Records that the server's registration on `path` is recursive (see
    /// `Effect::KeepsServerRecursive`), when a local watcher is there.
    pub(crate) fn mark_server_recursive(&mut self, path: &str) {
        if let Some(entry) = self.paths.get_mut(path) {
            entry.server_recursive = true;
        }
    }

    /// After a successful local-only removeWatches (see `covered`): drops the local one-shot
    /// watchers of `watcher_type` (`Data` or `Children`) at `path`, telling each of them.
    /// Returns whether there was one.
    pub(crate) fn remove_local_oneshots(&mut self, path: &str, watcher_type: WatcherType) -> bool {
        let had = self.has_oneshot(path, watcher_type);
        if had {
            let server_recursive = self.server_recursive(path);
            self.remove_type(path, watcher_type);
            if server_recursive && !self.paths.contains_key(path) {
                self.orphans.push(path.to_owned());
            }
        }
        had
    }

    /// Whether a local one-shot watcher of `watcher_type` (`Data` or `Children`) is at `path`.
    pub(crate) fn has_oneshot(&self, path: &str, watcher_type: WatcherType) -> bool {
        self.paths.get(path).is_some_and(|e| match watcher_type {
            WatcherType::Data => !e.data.is_empty() || !e.exist.is_empty(),
            WatcherType::Children => !e.child.is_empty(),
            _ => false,
        })
    }

    /// The lists to re-register after a reconnect. Each path gets the one registration that
    /// serves all its watchers (see [`Registry::covered`]): recursive, else persistent, else
    /// its one-shot watches. (SetWatches2 applies the persistent and recursive lists after the
    /// one-shot ones, so sending both would replace a one-shot entry on ZooKeeper 3.8.)
    ///
    /// A recursive registration that no local recursive watcher needs any more is not re-sent;
    /// the new connection starts with empty tables, so the path is served as if it had never
    /// had one.
    pub(crate) fn lists(&mut self) -> WatchLists {
        self.orphans.clear();
        let mut lists = WatchLists::default();
        for (path, entry) in &mut self.paths {
            entry.server_recursive = !entry.recursive.is_empty();
            if entry.server_recursive {
                lists.recursive.push(path.clone());
            } else if !entry.persistent.is_empty() {
                lists.persistent.push(path.clone());
            } else {
                if !entry.data.is_empty() {
                    lists.data.push(path.clone());
                }
                if !entry.exist.is_empty() {
                    lists.exist.push(path.clone());
                }
                if !entry.child.is_empty() {
                    lists.child.push(path.clone());
                }
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
        let (tx, mut prx) = crate::event_queue::event_queue(64);
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

    fn persistent_reg(
        id: u64,
        path: &str,
        mode: AddWatchMode,
    ) -> (WatchRegistration, crate::event_queue::EventReceiver) {
        let (tx, rx) = crate::event_queue::event_queue(64);
        (
            WatchRegistration::Persistent {
                id,
                path: path.to_owned(),
                mode,
                tx,
            },
            rx,
        )
    }

    fn node(event_type: EventType, path: &str) -> PersistentEvent {
        PersistentEvent::Node(WatchedEvent::node(event_type, path))
    }

    #[test]
    fn a_recursive_registration_serves_child_watches_with_derived_children_changed() {
        let mut reg = Registry::new(None);
        // One-shot child watch first (on the server), then a recursive and a persistent watch.
        let (r1, mut child) = oneshot_reg(1, "/p", OneshotKind::Child);
        reg.add(r1, false);
        assert!(!reg.covered("/p"));
        let (r2, mut recursive) = persistent_reg(2, "/p", AddWatchMode::PersistentRecursive);
        reg.add(r2, false);
        let (r3, mut persistent) = persistent_reg(3, "/p", AddWatchMode::Persistent);
        reg.add(r3, false);
        assert!(reg.covered("/p"));
        // ZooKeeper 3.8 sends only NodeCreated of the child.
        reg.dispatch(EventType::NodeCreated, "/p/c");
        let e = child.try_recv().unwrap();
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeChildrenChanged, "/p")
        );
        assert_eq!(
            recursive.try_recv().unwrap(),
            node(EventType::NodeCreated, "/p/c")
        );
        assert_eq!(
            persistent.try_recv().unwrap(),
            node(EventType::NodeChildrenChanged, "/p")
        );
        // A server that also sends NodeChildrenChanged (zk-server-mini) gives no duplicate.
        reg.dispatch(EventType::NodeChildrenChanged, "/p");
        assert!(persistent.try_recv().is_err());
        // Grandchildren are not children.
        reg.dispatch(EventType::NodeDeleted, "/p/c/g");
        assert!(persistent.try_recv().is_err());
        assert_eq!(
            recursive.try_recv().unwrap(),
            node(EventType::NodeDeleted, "/p/c/g")
        );
        // Only the server's recursive registration re-registers on reconnect.
        let lists = reg.lists();
        assert_eq!(lists.recursive, vec!["/p".to_owned()]);
        assert!(lists.persistent.is_empty() && lists.child.is_empty());
    }

    #[test]
    fn the_recursive_registration_outlives_its_watcher_while_others_rely_on_it() {
        let mut reg = Registry::new(None);
        let (r1, _recursive) = persistent_reg(1, "/p", AddWatchMode::PersistentRecursive);
        reg.add(r1, false);
        let (r2, mut persistent) = persistent_reg(2, "/p", AddWatchMode::Persistent);
        reg.add(r2, false);
        let (r3, _child) = oneshot_reg(3, "/p", OneshotKind::Child);
        reg.add(r3, false);
        // Neither removal may touch the server's (recursive) registration.
        assert_eq!(reg.remove(1, "/p"), None);
        assert_eq!(reg.remove(3, "/p"), None);
        assert!(reg.server_recursive("/p"));
        reg.dispatch(EventType::NodeDeleted, "/p/c");
        assert_eq!(
            persistent.try_recv().unwrap(),
            node(EventType::NodeChildrenChanged, "/p")
        );
        // A new connection starts afresh: only the persistent watch is re-registered.
        let lists = reg.lists();
        assert_eq!(lists.persistent, vec!["/p".to_owned()]);
        assert!(lists.recursive.is_empty());
        assert!(!reg.server_recursive("/p"));
        assert_eq!(reg.remove(2, "/p"), Some(WatcherType::Any));
        assert!(reg.is_empty());
    }

    #[test]
    fn a_recursive_registration_nothing_needs_any_more_is_handed_back_for_removal() {
        let mut reg = Registry::new(None);
        let (r1, _recursive) = persistent_reg(1, "/p", AddWatchMode::PersistentRecursive);
        reg.add(r1, false);
        let (r2, mut child) = oneshot_reg(2, "/p", OneshotKind::Child);
        reg.add(r2, false);
        assert_eq!(reg.remove(1, "/p"), None);
        assert!(reg.take_orphans().is_empty());
        reg.dispatch(EventType::NodeCreated, "/p/c");
        assert_eq!(
            child.try_recv().unwrap().event_type,
            EventType::NodeChildrenChanged
        );
        assert!(reg.is_empty());
        assert_eq!(reg.take_orphans(), vec!["/p".to_owned()]);
    }

    #[test]
    fn covered_oneshots_are_removed_locally_only() {
        let mut reg = Registry::new(None);
        let (r1, _persistent) = persistent_reg(1, "/p", AddWatchMode::Persistent);
        reg.add(r1, false);
        let (r2, mut data) = oneshot_reg(2, "/p", OneshotKind::Data);
        reg.add(r2, true);
        assert!(reg.has_oneshot("/p", WatcherType::Data));
        assert!(!reg.has_oneshot("/p", WatcherType::Children));
        assert!(reg.remove_local_oneshots("/p", WatcherType::Data));
        assert_eq!(
            data.try_recv().unwrap().event_type,
            EventType::DataWatchRemoved
        );
        assert!(!reg.remove_local_oneshots("/p", WatcherType::Data));
        assert!(reg.watches("/p"));
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
