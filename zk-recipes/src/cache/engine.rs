//! The cache task: one per cache, it owns the persistent watch, reads what each event names,
//! and re-walks the whole tree after every reconnect.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures::FutureExt;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast;
use zk_client::{AddWatchMode, Client, Error, EventType, PersistentEvent, PersistentWatch, Result};

use super::state::{is_within, reconcile, replace_all};
use super::walk::walk;
use super::{CacheEvent, CachedNode, Scope};

/// Paths read per round trip batch; bounds the memory of one batch.
const MAX_BATCH: usize = 1024;

/// What the handles and the task share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) root: String,
    pub(crate) nodes: RwLock<BTreeMap<String, CachedNode>>,
    pub(crate) events: broadcast::Sender<CacheEvent>,
    /// The receiver subscribed before `Initialized` was sent: the first `events()` call gets it.
    pub(crate) first: Mutex<Option<broadcast::Receiver<CacheEvent>>>,
}

impl Shared {
    pub(crate) fn read<T>(&self, f: impl FnOnce(&BTreeMap<String, CachedNode>) -> T) -> T {
        f(&self.nodes.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn update<T>(&self, f: impl FnOnce(&mut BTreeMap<String, CachedNode>) -> T) -> T {
        f(&mut self.nodes.write().unwrap_or_else(PoisonError::into_inner))
    }

    fn publish(&self, events: Vec<CacheEvent>) {
        for event in events {
            // No receiver is not an error: nobody listens right now.
            let _ = self.events.send(event);
        }
    }

    /// The event stream: the receiver made at start for the first caller (so it begins with
    /// `Initialized`), a fresh subscription for later callers.
    pub(crate) fn subscribe(&self) -> BoxStream<'static, CacheEvent> {
        let rx = self
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| self.events.subscribe());
        futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(event) => Some((event, rx)),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    Some((CacheEvent::Lagged { skipped }, rx))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
        .boxed()
    }
}

/// Registers the watch, walks the tree, publishes `Initialized` and spawns the task.
pub(crate) async fn start(
    client: &Client,
    root: &str,
    scope: Scope,
    capacity: usize,
) -> Result<(Arc<Shared>, tokio::task::JoinHandle<()>)> {
    let mode = match scope {
        Scope::Tree => AddWatchMode::PersistentRecursive,
        Scope::Node => AddWatchMode::Persistent,
    };
    // The watch comes first, so nothing that changes during the walk goes unreported.
    let watch = client.add_watch(root, mode).await?;
    let nodes = walk(client, root, scope).await?;
    let (tx, rx) = broadcast::channel(capacity.max(1));
    let count = nodes.len();
    let shared = Arc::new(Shared {
        root: root.to_owned(),
        nodes: RwLock::new(nodes),
        events: tx,
        first: Mutex::new(Some(rx)),
    });
    shared.publish(vec![CacheEvent::Initialized { count }]);
    let task = CacheTask {
        client: client.clone(),
        scope,
        watch,
        shared: Arc::clone(&shared),
        pending: Vec::new(),
        pending_set: HashSet::new(),
    };
    Ok((shared, tokio::spawn(task.run())))
}

/// The parent of an absolute path (`None` for the root).
fn parent_of(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => Some("/"),
        Some(0) | None => None,
        Some(i) => Some(&path[..i]),
    }
}

struct CacheTask {
    client: Client,
    scope: Scope,
    watch: PersistentWatch,
    shared: Arc<Shared>,
    /// Paths named by events and not read yet, in event order, without repeats.
    pending: Vec<String>,
    pending_set: HashSet<String>,
}

/// What the watch said.
enum Next {
    Continue,
    Resync,
    Ended,
}

impl CacheTask {
    async fn run(mut self) {
        loop {
            let mut next = match self.watch.next().await {
                Some(event) => self.take(event),
                None => Next::Ended,
            };
            // Take whatever else is already queued, so one round trip serves many events.
            while matches!(next, Next::Continue) && self.pending.len() < MAX_BATCH {
                match self.watch.next().now_or_never() {
                    Some(Some(event)) => next = self.take(event),
                    Some(None) => next = Next::Ended,
                    None => break,
                }
            }
            if self.read_pending().await.is_err() && matches!(next, Next::Continue) {
                next = Next::Resync;
            }
            match next {
                Next::Continue => {}
                Next::Resync => {
                    if !self.resync().await {
                        return self.stop();
                    }
                }
                Next::Ended => return self.stop(),
            }
        }
    }

    fn stop(&self) {
        self.shared.publish(vec![CacheEvent::Stopped {
            state: self.client.state(),
        }]);
    }

    fn take(&mut self, event: PersistentEvent) -> Next {
        match event {
            PersistentEvent::Node(e) => {
                let root = &self.shared.root;
                match (self.scope, e.event_type) {
                    (Scope::Tree, EventType::NodeCreated | EventType::NodeDeleted)
                        if is_within(root, &e.path) =>
                    {
                        // The parent's stat (pzxid, cversion, numChildren) changed too, and a
                        // recursive watch sends no event for it.
                        if let Some(parent) = parent_of(&e.path).filter(|p| is_within(root, p)) {
                            let parent = parent.to_owned();
                            self.want(parent);
                        }
                        self.want(e.path);
                    }
                    (Scope::Tree, EventType::NodeDataChanged) if is_within(root, &e.path) => {
                        self.want(e.path);
                    }
                    (
                        Scope::Node,
                        EventType::NodeCreated
                        | EventType::NodeDeleted
                        | EventType::NodeDataChanged
                        | EventType::NodeChildrenChanged,
                    ) if e.path == *root => self.want(e.path),
                    _ => {}
                }
                Next::Continue
            }
            // Events were lost (a disconnect, or this task fell behind the watch's buffer).
            PersistentEvent::Reconnected { .. } | PersistentEvent::Overflow { .. } => Next::Resync,
        }
    }

    fn want(&mut self, path: String) {
        if self.pending_set.insert(path.clone()) {
            self.pending.push(path);
        }
    }

    /// Reads every pending path (pipelined) and applies the answers in event order.
    async fn read_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let paths = std::mem::take(&mut self.pending);
        self.pending_set.clear();
        let reads = futures::future::join_all(paths.iter().map(|p| self.client.get_data(p))).await;
        let mut events = Vec::new();
        let mut failure = Ok(());
        self.shared.update(|nodes| {
            for (path, read) in paths.iter().zip(reads) {
                let found = match read {
                    Ok((data, stat)) => Some(CachedNode { data, stat }),
                    Err(Error::NoNode) => None,
                    // Unreadable: left out, as the walk leaves it out.
                    Err(Error::NoAuth) => continue,
                    Err(e) => {
                        // The resync that follows reads everything again.
                        failure = Err(e);
                        break;
                    }
                };
                events.extend(reconcile(nodes, path, found));
            }
        });
        self.shared.publish(events);
        failure
    }

    /// Walks the tree again and publishes the differences, then `Resynced`. Retries (with a
    /// backoff) until it succeeds; false when the watch ended or the client is closed.
    async fn resync(&mut self) -> bool {
        let mut backoff = Duration::from_millis(50);
        loop {
            match walk(&self.client, &self.shared.root, self.scope).await {
                Ok(fresh) => {
                    let count = fresh.len();
                    let mut events = self.shared.update(|nodes| replace_all(nodes, fresh));
                    events.push(CacheEvent::Resynced { count });
                    self.shared.publish(events);
                    return true;
                }
                Err(Error::Closed | Error::AuthFailed) => return false,
                Err(e) => {
                    tracing::debug!(root = %self.shared.root, error = %e, "cache resync failed; retrying");
                }
            }
            // Wait, but keep listening: the watch ends when the session is gone for good.
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                event = self.watch.next() => match event {
                    None => return false,
                    // A reconnect marker is covered by the walk still to come.
                    Some(event) => {
                        self.take(event);
                    }
                },
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}
