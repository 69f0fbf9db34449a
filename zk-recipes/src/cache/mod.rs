//! Caches of one node ([`NodeCache`]) or of a whole subtree ([`TreeCache`]), kept up to date by a
//! persistent (recursive) watch, ZooKeeper 3.6+, as Curator's `CuratorCache` does.
//!
//! # How it works
//!
//! At start the cache registers its watch, then reads the whole subtree (many reads in flight at
//! once) and publishes [`CacheEvent::Initialized`]. Each watch event names a path; the cache reads
//! that path and compares the answer with what it holds: another `czxid` means the node was
//! deleted and created again (reported as `Deleted` then `Created`, even when the data and the
//! version are the same: CURATOR-391), a higher `mzxid` means it changed, anything else was
//! already reported. After every reconnect (the client's
//! [`PersistentEvent::Reconnected`](zk_client::PersistentEvent::Reconnected), on the same or a
//! new session) and after every watch overflow
//! ([`PersistentEvent::Overflow`](zk_client::PersistentEvent::Overflow): the cache fell behind
//! the client's bounded watch buffer) the cache reads the whole subtree again, publishes the
//! differences and then [`CacheEvent::Resynced`].
//!
//! # What is guaranteed
//!
//! - **Convergence**: once the server's state stops changing and the client is connected, the
//!   cache holds exactly the server's nodes, data and stats.
//! - **Order**: for one path, events follow the server's commit order (the `mzxid` of
//!   successive `Created`/`Changed` events only grows, and a `Deleted` of an incarnation comes
//!   before the `Created` of the next). Across paths, events follow the order of the
//!   notifications that caused them (ZooKeeper's commit order); an event may carry a state
//!   newer than its notification. Between two resyncs every change is reflected by an event
//!   (possibly one event for several quick changes, see below); a parent is created before its
//!   children and deleted after them.
//! - A node deleted and re-created is never mistaken for a change, whether it happened while
//!   connected or during a disconnect.
//!
//! # What is not
//!
//! - **Every intermediate value.** ZooKeeper's events carry no data; the cache reads the node
//!   after the event, so two quick writes may show up as one `Changed` with the later value, and
//!   a node created and deleted quickly may never show up.
//! - **Changes made while disconnected** are not replayed one by one: the resync reports only
//!   the difference between the cache and the server's state after the reconnect.
//! - A slow consumer of [`TreeCache::events`] that falls more than the event capacity behind
//!   gets [`CacheEvent::Lagged`] and should re-read [`TreeCache::snapshot`]. The view itself is
//!   never behind because of a slow consumer.
//! - With the client's default expiry policy the session's end stops the cache
//!   ([`CacheEvent::Stopped`]); build the client with
//!   [`ExpiryPolicy::NewSession`](zk_client::ExpiryPolicy::NewSession) to have it resync on the
//!   new session instead.

mod engine;
mod state;
mod walk;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use zk_client::{Bytes, Client, Result, SessionState, Stat};

/// Events kept for a consumer that is behind, by default.
///
/// ```
/// assert_eq!(zk_recipes::cache::DEFAULT_EVENT_CAPACITY, 4096);
/// ```
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;

/// One cached node: its data and its stat, as read from the server.
///
/// ```no_run
/// # fn demo(cache: zk_recipes::cache::TreeCache) {
/// if let Some(node) = cache.get("/config/a") {
///     println!("{} bytes, czxid {}", node.data.len(), node.stat.czxid);
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedNode {
    /// The node's data.
    pub data: Bytes,
    /// The node's stat (`czxid` identifies the incarnation, `mzxid` the last change).
    pub stat: Stat,
}

/// What a cache reports.
///
/// ```no_run
/// use futures::StreamExt;
/// use zk_recipes::cache::CacheEvent;
/// # async fn demo(cache: zk_recipes::cache::TreeCache) {
/// let mut events = cache.events();
/// while let Some(event) = events.next().await {
///     if let CacheEvent::Lagged { .. } = event {
///         let view = cache.snapshot(); // start over from the current view
///         # let _ = view;
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheEvent {
    /// The initial read finished; the view holds `count` nodes.
    Initialized {
        /// Nodes in the view.
        count: usize,
    },
    /// A node appeared (or appeared again, after a `Deleted` of its previous incarnation).
    Created {
        /// The node's path.
        path: String,
        /// Its data and stat.
        node: CachedNode,
    },
    /// A node's data changed (its `mzxid` grew).
    Changed {
        /// The node's path.
        path: String,
        /// Its new data and stat.
        node: CachedNode,
    },
    /// A node went away; `node` is the last state the cache had.
    Deleted {
        /// The node's path.
        path: String,
        /// Its last known data and stat.
        node: CachedNode,
    },
    /// A full re-read after a reconnect finished: the events before this one brought the view
    /// to the server's state; the view holds `count` nodes.
    Resynced {
        /// Nodes in the view.
        count: usize,
    },
    /// This consumer fell behind and `skipped` events were dropped for it: re-read the view.
    Lagged {
        /// How many events were dropped.
        skipped: u64,
    },
    /// The cache stopped following the server (the session ended for good or the client was
    /// closed); `state` is the client's state at that moment. The view is frozen.
    Stopped {
        /// The client's session state.
        state: SessionState,
    },
}

/// Whether a cache follows one node or a subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Node,
    Tree,
}

/// A cache of a node and every node below it.
///
/// Dropping the handle stops the cache and removes its watch. See the [module docs](self) for
/// what it guarantees.
///
/// ```no_run
/// use futures::StreamExt;
/// use zk_recipes::cache::{CacheEvent, TreeCache};
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// let cache = TreeCache::start(&client, "/config").await?;
/// let mut events = cache.events();
/// while let Some(event) = events.next().await {
///     match event {
///         CacheEvent::Created { path, node } | CacheEvent::Changed { path, node } => {
///             println!("{path} = {:?} (mzxid {})", node.data, node.stat.mzxid)
///         }
///         CacheEvent::Deleted { path, .. } => println!("{path} deleted"),
///         other => println!("{other:?}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TreeCache {
    shared: Arc<engine::Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl TreeCache {
    /// Starts a cache of `path` and its subtree (the node need not exist yet) and returns once
    /// the initial read is done. The first [`events`](Self::events) stream begins with
    /// [`CacheEvent::Initialized`].
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let cache = zk_recipes::cache::TreeCache::start(&client, "/services").await?;
    /// println!("{} nodes", cache.len());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Unimplemented`](zk_client::Error::Unimplemented) on servers older than 3.6, an
    /// invalid path, and the connection errors of the initial read.
    pub async fn start(client: &Client, path: &str) -> Result<TreeCache> {
        Self::with_capacity(client, path, DEFAULT_EVENT_CAPACITY).await
    }

    /// Like [`start`](Self::start), keeping up to `capacity` events for a consumer that is
    /// behind (see [`CacheEvent::Lagged`]).
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let cache = zk_recipes::cache::TreeCache::with_capacity(&client, "/big", 100_000).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub async fn with_capacity(client: &Client, path: &str, capacity: usize) -> Result<TreeCache> {
        let (shared, task) = engine::start(client, path, Scope::Tree, capacity).await?;
        Ok(TreeCache { shared, task })
    }

    /// The cached path.
    ///
    /// ```no_run
    /// # fn demo(cache: zk_recipes::cache::TreeCache) {
    /// assert_eq!(cache.root(), "/services");
    /// # }
    /// ```
    pub fn root(&self) -> &str {
        &self.shared.root
    }

    /// The cached node at `path`, if the cache has it.
    ///
    /// ```no_run
    /// # fn demo(cache: zk_recipes::cache::TreeCache) {
    /// if let Some(node) = cache.get("/services/web") {
    ///     println!("version {}", node.stat.version);
    /// }
    /// # }
    /// ```
    pub fn get(&self, path: &str) -> Option<CachedNode> {
        self.shared.read(|nodes| nodes.get(path).cloned())
    }

    /// The cached direct children of `path`, by name, in name order.
    ///
    /// ```no_run
    /// # fn demo(cache: zk_recipes::cache::TreeCache) {
    /// for (name, node) in cache.children("/services") {
    ///     println!("{name}: {} bytes", node.data.len());
    /// }
    /// # }
    /// ```
    pub fn children(&self, path: &str) -> Vec<(String, CachedNode)> {
        let prefix = if path == "/" {
            "/".to_owned()
        } else {
            format!("{path}/")
        };
        self.shared.read(|nodes| {
            nodes
                .range(prefix.clone()..)
                .take_while(|(p, _)| p.starts_with(&prefix))
                .filter_map(|(p, node)| {
                    let name = &p[prefix.len()..];
                    (!name.is_empty() && !name.contains('/'))
                        .then(|| (name.to_owned(), node.clone()))
                })
                .collect()
        })
    }

    /// A copy of the whole view, by path.
    ///
    /// ```no_run
    /// # fn demo(cache: zk_recipes::cache::TreeCache) {
    /// for (path, node) in cache.snapshot() {
    ///     println!("{path} {}", node.stat.mzxid);
    /// }
    /// # }
    /// ```
    pub fn snapshot(&self) -> BTreeMap<String, CachedNode> {
        self.shared.read(BTreeMap::clone)
    }

    /// How many nodes the view holds.
    ///
    /// ```no_run
    /// # fn demo(cache: zk_recipes::cache::TreeCache) {
    /// println!("{}", cache.len());
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.shared.read(BTreeMap::len)
    }

    /// Whether the view is empty (the root does not exist).
    ///
    /// ```no_run
    /// # fn demo(cache: zk_recipes::cache::TreeCache) {
    /// assert!(cache.is_empty() || cache.get(cache.root()).is_some());
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events from now on (the first call gets them from `Initialized` on).
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// # async fn demo(cache: zk_recipes::cache::TreeCache) {
    /// let mut events = cache.events();
    /// while let Some(event) = events.next().await {
    ///     println!("{event:?}");
    /// }
    /// # }
    /// ```
    pub fn events(&self) -> BoxStream<'static, CacheEvent> {
        self.shared.subscribe()
    }
}

impl Drop for TreeCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A cache of a single node, over a persistent (non-recursive) watch: its current data and stat,
/// and an event stream. Same guarantees as [`TreeCache`] (see the [module docs](self)).
///
/// ```no_run
/// use futures::StreamExt;
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// let cache = zk_recipes::cache::NodeCache::start(&client, "/config/flags").await?;
/// println!("now: {:?}", cache.get().map(|n| n.data));
/// let mut events = cache.events();
/// while let Some(event) = events.next().await {
///     println!("{event:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct NodeCache {
    shared: Arc<engine::Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl NodeCache {
    /// Starts a cache of the node at `path` (which need not exist) and returns once it has been
    /// read.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let cache = zk_recipes::cache::NodeCache::start(&client, "/config/flags").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`TreeCache::start`].
    pub async fn start(client: &Client, path: &str) -> Result<NodeCache> {
        let (shared, task) =
            engine::start(client, path, Scope::Node, DEFAULT_EVENT_CAPACITY).await?;
        Ok(NodeCache { shared, task })
    }

    /// The node's current data and stat, or `None` while it does not exist.
    ///
    /// ```no_run
    /// # fn demo(cache: zk_recipes::cache::NodeCache) {
    /// let exists = cache.get().is_some();
    /// # }
    /// ```
    pub fn get(&self) -> Option<CachedNode> {
        self.shared
            .read(|nodes| nodes.get(&self.shared.root).cloned())
    }

    /// The events from now on (the first call gets them from `Initialized` on).
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// # async fn demo(cache: zk_recipes::cache::NodeCache) {
    /// let mut events = cache.events();
    /// let first = events.next().await;
    /// # }
    /// ```
    pub fn events(&self) -> BoxStream<'static, CacheEvent> {
        self.shared.subscribe()
    }
}

impl Drop for NodeCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}
