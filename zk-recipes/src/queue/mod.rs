//! Queues over sequential nodes:
//!
//! | type | layout | shares the path with |
//! |---|---|---|
//! | [`Queue::simple`] | `qn-<seq>` | ZooKeeper's queue recipe, Curator `SimpleDistributedQueue` |
//! | [`Queue::priority`] | `entry-<PPP>-<seq>` | kazoo `Queue` |
//! | [`LockingQueue`] | `entries/entry-<PPP>-<seq>` + `taken/<name>` | kazoo `LockingQueue` |
//! | [`DelayQueue`] | `queue-\|<HEX epoch ms>\|<seq>` | (Curator `DistributedDelayQueue`'s names; raw data) |
//!
//! # What is guaranteed
//!
//! - Items come out in order: by priority (or delay), then by sequence number compared as a
//!   number. Children that are not items of the layout are never taken or deleted (see
//!   [`ForeignItem`] and [`Queue::foreign_items`]).
//! - [`Queue`] and [`DelayQueue`]: an item is handed to at most one consumer (its delete is
//!   conditioned on the version it read).
//! - [`LockingQueue`]: an item is taken (an ephemeral `taken/<name>` node) and then either
//!   consumed (both nodes deleted in one transaction) or released. A consumer that crashes or
//!   loses its session releases its items with its session, so nothing is lost; a consume
//!   succeeds only while the taker's session still owns the item, so nothing is consumed twice.
//!
//! # What is not
//!
//! - [`Queue::poll`] is at-most-once: if the connection drops during the delete, the item may
//!   be gone without having been returned (the error says the outcome is unknown). Use
//!   [`LockingQueue`] when items must not be lost.
//! - A [`LockingQueue`] item whose consumer crashed is delivered again (to another consumer):
//!   the work done for it before the crash must be idempotent, or recorded in the same
//!   transaction as the consume ([`TakenItem::consume_with`]).

mod delay;
mod item;
mod locking;

use std::time::Duration;

use tokio::time::Instant;
use zk_client::{Bytes, Client, CreateOptions, Error};

pub use delay::DelayQueue;
pub use item::{ForeignItem, Layout};
pub use locking::{LockingQueue, TakenItem};

use crate::ensure::create_with_parents;
use crate::paths::join;

/// Priority of [`Queue::put`] on a priority queue (kazoo's default).
///
/// ```
/// assert_eq!(zk_recipes::queue::DEFAULT_PRIORITY, 100);
/// ```
pub const DEFAULT_PRIORITY: u16 = 100;

/// What can go wrong with a queue.
///
/// ```no_run
/// use zk_recipes::queue::QueueError;
/// # async fn demo(item: zk_recipes::queue::TakenItem) {
/// match item.consume().await {
///     Ok(()) => {}
///     Err(QueueError::ItemLost(path)) => eprintln!("{path} will be delivered again"),
///     Err(e) => eprintln!("{e}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// A priority outside 0–999.
    #[error("priority {0} is outside 0-999")]
    InvalidPriority(u16),
    /// The item was taken by this process but its session ended (or another consumer holds it
    /// now): it was not consumed and will be delivered again.
    #[error("queue item {0} is no longer held by this session")]
    ItemLost(String),
    /// A ZooKeeper error (`ConnectionLoss`/`OutcomeUnknown` on a take or consume: outcome unknown).
    #[error(transparent)]
    Zk(#[from] Error),
}

/// A distributed queue without locking: the simple (`qn-`) or the kazoo priority
/// (`entry-PPP-`) layout. See the [module docs](self) for the guarantees.
///
/// ```no_run
/// use std::time::Duration;
/// use zk_recipes::queue::Queue;
///
/// # async fn demo(client: zk_client::Client) -> Result<(), zk_recipes::queue::QueueError> {
/// let jobs = Queue::simple(&client, "/jobs");
/// jobs.put(b"job-1".to_vec()).await?;
/// if let Some(job) = jobs.take(Duration::from_secs(5)).await? {
///     println!("got {job:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Queue {
    client: Client,
    path: String,
    layout: Layout,
}

impl Queue {
    /// A queue in ZooKeeper's recipe layout (`qn-<seq>`), as Curator's
    /// `SimpleDistributedQueue` uses.
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) {
    /// let q = zk_recipes::queue::Queue::simple(&client, "/q");
    /// # }
    /// ```
    pub fn simple(client: &Client, path: &str) -> Queue {
        Queue {
            client: client.clone(),
            path: path.to_owned(),
            layout: Layout::Simple,
        }
    }

    /// A priority queue in kazoo `Queue`'s layout (`entry-<PPP>-<seq>`, lower first).
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) {
    /// let q = zk_recipes::queue::Queue::priority(&client, "/q");
    /// # }
    /// ```
    pub fn priority(client: &Client, path: &str) -> Queue {
        Queue {
            client: client.clone(),
            path: path.to_owned(),
            layout: Layout::Priority,
        }
    }

    /// Adds an item (priority [`DEFAULT_PRIORITY`] in the priority layout); returns its path.
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::Queue) -> Result<(), zk_recipes::queue::QueueError> {
    /// let path = q.put(b"data".to_vec()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors (`ConnectionLoss`/`OutcomeUnknown`: the item may have been added).
    pub async fn put(&self, data: impl AsRef<[u8]>) -> Result<String, QueueError> {
        self.put_with_priority(data, DEFAULT_PRIORITY).await
    }

    /// Adds an item with `priority` (0–999, lower first; ignored by the simple layout).
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::Queue) -> Result<(), zk_recipes::queue::QueueError> {
    /// q.put_with_priority(b"urgent".to_vec(), 1).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`QueueError::InvalidPriority`], and as [`put`](Self::put).
    pub async fn put_with_priority(
        &self,
        data: impl AsRef<[u8]>,
        priority: u16,
    ) -> Result<String, QueueError> {
        put_item(
            &self.client,
            &self.path,
            self.layout,
            data.as_ref(),
            priority,
        )
        .await
    }

    /// Takes the first item, if there is one.
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::Queue) -> Result<(), zk_recipes::queue::QueueError> {
    /// while let Some(item) = q.poll().await? {
    ///     println!("{item:?}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors (`ConnectionLoss`/`OutcomeUnknown` during the take: the item may be lost).
    pub async fn poll(&self) -> Result<Option<Bytes>, QueueError> {
        Ok(self.poll_seen().await?.0)
    }

    /// Like `poll`, also returning the children it saw.
    async fn poll_seen(&self) -> Result<(Option<Bytes>, Vec<String>), QueueError> {
        let children = children_or_empty(&self.client, &self.path).await?;
        for item in self.layout.sorted(&self.path, children.clone()) {
            let path = join(&self.path, &item.name);
            let (data, stat) = match self.client.get_data(&path).await {
                Ok(found) => found,
                Err(Error::NoNode) => continue,
                Err(e) => return Err(e.into()),
            };
            match self.client.delete(&path, Some(stat.version)).await {
                Ok(()) => return Ok((Some(data), children)),
                // Another consumer took it first.
                Err(Error::NoNode | Error::BadVersion) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok((None, children))
    }

    /// Takes the first item, waiting for one at most `timeout`.
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::Queue) -> Result<(), zk_recipes::queue::QueueError> {
    /// let item = q.take(std::time::Duration::from_secs(1)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`poll`](Self::poll).
    pub async fn take(&self, timeout: Duration) -> Result<Option<Bytes>, QueueError> {
        let deadline = Instant::now() + timeout;
        loop {
            let (item, seen) = self.poll_seen().await?;
            if item.is_some() {
                return Ok(item);
            }
            if !wait_for_children(&self.client, &self.path, &seen, deadline).await? {
                return Ok(None);
            }
        }
    }

    /// The items in the queue now.
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::Queue) -> Result<(), zk_recipes::queue::QueueError> {
    /// println!("{} waiting", q.len().await?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors.
    pub async fn len(&self) -> Result<usize, QueueError> {
        Ok(children_or_empty(&self.client, &self.path)
            .await?
            .iter()
            .filter(|n| self.layout.parse(&self.path, n).is_ok())
            .count())
    }

    /// Whether the queue has no items now.
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::Queue) -> Result<(), zk_recipes::queue::QueueError> {
    /// assert!(q.is_empty().await?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors.
    pub async fn is_empty(&self) -> Result<bool, QueueError> {
        Ok(self.len().await? == 0)
    }

    /// The children of the queue's node that are not items of its layout (never taken).
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::Queue) -> Result<(), zk_recipes::queue::QueueError> {
    /// for foreign in q.foreign_items().await? {
    ///     eprintln!("{foreign}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors.
    pub async fn foreign_items(&self) -> Result<Vec<ForeignItem>, QueueError> {
        Ok(children_or_empty(&self.client, &self.path)
            .await?
            .iter()
            .filter_map(|n| self.layout.parse(&self.path, n).err())
            .collect())
    }
}

/// Creates an item node of `layout` under `dir` (parents as containers).
pub(crate) async fn put_item(
    client: &Client,
    dir: &str,
    layout: Layout,
    data: &[u8],
    rank: u16,
) -> Result<String, QueueError> {
    if layout == Layout::Priority && rank > 999 {
        return Err(QueueError::InvalidPriority(rank));
    }
    put_ranked(client, dir, layout, data, i64::from(rank)).await
}

pub(crate) async fn put_ranked(
    client: &Client,
    dir: &str,
    layout: Layout,
    data: &[u8],
    rank: i64,
) -> Result<String, QueueError> {
    let path = join(dir, &layout.prefix(rank));
    let (created, _) =
        create_with_parents(client, &path, data, &CreateOptions::persistent_sequential()).await?;
    Ok(created)
}

pub(crate) async fn children_or_empty(client: &Client, path: &str) -> Result<Vec<String>, Error> {
    match client.get_children(path).await {
        Ok(c) => Ok(c),
        Err(Error::NoNode) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Waits until the children of `path` differ from `seen` (or change), or `deadline`. False
/// when the deadline passed first.
pub(crate) async fn wait_for_children(
    client: &Client,
    path: &str,
    seen: &[String],
    deadline: Instant,
) -> Result<bool, Error> {
    let fired = match client.get_children_watch(path).await {
        Ok((children, _, watch)) => {
            if !same_names(&children, seen) {
                // Changed since the caller looked: look again now.
                return Ok(Instant::now() < deadline);
            }
            tokio::time::timeout_at(deadline, watch).await.is_ok()
        }
        Err(Error::NoNode) if seen.is_empty() => {
            let (stat, watch) = client.exists_watch(path).await?;
            if stat.is_some() {
                return Ok(Instant::now() < deadline);
            }
            tokio::time::timeout_at(deadline, watch).await.is_ok()
        }
        Err(Error::NoNode) => return Ok(Instant::now() < deadline),
        Err(e) => return Err(e),
    };
    Ok(fired)
}

fn same_names(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&String> = a.iter().collect();
    let mut b: Vec<&String> = b.iter().collect();
    a.sort();
    b.sort();
    a == b
}
