//! kazoo's `LockingQueue` layout: items at `entries/entry-PPP-<seq>`, an item being worked on is
//! marked by an ephemeral `taken/<name>` node, consumed by deleting both in one transaction.

use std::time::Duration;

use tokio::time::Instant;
use zk_client::{Bytes, Client, CreateOptions, Error, Transaction};

use super::item::Layout;
use super::{QueueError, children_or_empty, put_item, wait_for_children};
use crate::ensure::create_with_parents;
use crate::names::kazoo_protection_prefix;
use crate::paths::join;

/// A queue whose consumers take an item, then consume it or release it; a consumer that dies
/// releases its items with its session. Same nodes as kazoo's `LockingQueue`.
///
/// ```no_run
/// use std::time::Duration;
/// use zk_recipes::queue::LockingQueue;
///
/// # async fn demo(client: zk_client::Client) -> Result<(), zk_recipes::queue::QueueError> {
/// let queue = LockingQueue::new(&client, "/work");
/// queue.put(b"task".to_vec(), 100).await?;
/// if let Some(item) = queue.take(Duration::from_secs(5)).await? {
///     println!("working on {:?}", item.data());
///     item.consume().await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LockingQueue {
    client: Client,
    entries: String,
    taken: String,
    /// Stored in our `taken` nodes (kazoo stores its `uuid4().hex`).
    id: String,
}

impl LockingQueue {
    /// The queue at `path`.
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) {
    /// let q = zk_recipes::queue::LockingQueue::new(&client, "/work");
    /// # }
    /// ```
    pub fn new(client: &Client, path: &str) -> LockingQueue {
        LockingQueue {
            client: client.clone(),
            entries: join(path, "entries"),
            taken: join(path, "taken"),
            id: kazoo_protection_prefix(&uuid::Uuid::new_v4()),
        }
    }

    /// Adds an item with `priority` (0–999, lower first); returns its path.
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::LockingQueue) -> Result<(), zk_recipes::queue::QueueError> {
    /// q.put(b"x".to_vec(), 5).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`QueueError::InvalidPriority`], connection errors.
    pub async fn put(&self, data: impl AsRef<[u8]>, priority: u16) -> Result<String, QueueError> {
        put_item(
            &self.client,
            &self.entries,
            Layout::Priority,
            data.as_ref(),
            priority,
        )
        .await
    }

    /// Takes the first item nobody holds, waiting at most `timeout` for one.
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::LockingQueue) -> Result<(), zk_recipes::queue::QueueError> {
    /// if let Some(item) = q.take(std::time::Duration::from_secs(1)).await? {
    ///     item.release().await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors.
    pub async fn take(&self, timeout: Duration) -> Result<Option<TakenItem>, QueueError> {
        let deadline = Instant::now() + timeout;
        loop {
            let entries = children_or_empty(&self.client, &self.entries).await?;
            let taken = children_or_empty(&self.client, &self.taken).await?;
            for item in Layout::Priority.sorted(&self.entries, entries.clone()) {
                if taken.contains(&item.name) {
                    continue;
                }
                if let Some(found) = self.try_take(&item.name).await? {
                    return Ok(Some(found));
                }
            }
            let changed = tokio::select! {
                r = wait_for_children(&self.client, &self.entries, &entries, deadline) => r?,
                r = wait_for_children(&self.client, &self.taken, &taken, deadline) => r?,
            };
            if !changed {
                return Ok(None);
            }
        }
    }

    async fn try_take(&self, name: &str) -> Result<Option<TakenItem>, QueueError> {
        let lock = join(&self.taken, name);
        let session = self.client.session_id();
        match create_with_parents(
            &self.client,
            &lock,
            self.id.as_bytes(),
            &CreateOptions::ephemeral(),
        )
        .await
        {
            Ok(_) => {}
            Err(Error::NodeExists) => return Ok(None),
            Err(e) if e.is_outcome_unknown() => {
                // Maybe created: ours only if its owner is this session.
                self.client
                    .wait_for_state(|s| s.is_connected() || s.is_terminal())
                    .await;
                match self.client.exists(&lock).await? {
                    Some(stat) if stat.ephemeral_owner == session => {}
                    _ => return Ok(None),
                }
            }
            Err(e) => return Err(e.into()),
        }
        let entry = join(&self.entries, name);
        match self.client.get_data(&entry).await {
            Ok((data, _)) => Ok(Some(TakenItem {
                client: self.client.clone(),
                entry,
                lock,
                data,
                session,
                done: false,
            })),
            Err(Error::NoNode) => {
                // Consumed by someone who did not hold it; not ours to keep.
                let _ = self.client.delete(&lock, None).await;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Items in the queue (taken ones included).
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::LockingQueue) -> Result<(), zk_recipes::queue::QueueError> {
    /// println!("{}", q.len().await?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors.
    pub async fn len(&self) -> Result<usize, QueueError> {
        Ok(children_or_empty(&self.client, &self.entries)
            .await?
            .iter()
            .filter(|n| Layout::Priority.parse(&self.entries, n).is_ok())
            .count())
    }

    /// Whether the queue has no items.
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::LockingQueue) -> Result<(), zk_recipes::queue::QueueError> {
    /// let done = q.is_empty().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors.
    pub async fn is_empty(&self) -> Result<bool, QueueError> {
        Ok(self.len().await? == 0)
    }
}

/// An item taken from a [`LockingQueue`]: consume it or release it. Dropping it without either
/// releases it in the background.
///
/// ```no_run
/// use std::time::Duration;
/// use zk_recipes::queue::{LockingQueue, QueueError};
/// # async fn demo(client: zk_client::Client) -> Result<(), QueueError> {
/// let queue = LockingQueue::new(&client, "/work");
/// if let Some(item) = queue.take(Duration::from_secs(5)).await? {
///     match std::str::from_utf8(item.data()) {
///         Ok(job) => { println!("running {job}"); item.consume().await? }
///         Err(_) => item.release().await?, // let another worker try
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TakenItem {
    client: Client,
    entry: String,
    lock: String,
    data: Bytes,
    session: i64,
    done: bool,
}

impl TakenItem {
    /// The item's data.
    ///
    /// ```no_run
    /// # fn demo(item: zk_recipes::queue::TakenItem) {
    /// println!("{:?}", item.data());
    /// # }
    /// ```
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The item's node path (`…/entries/entry-PPP-<seq>`).
    ///
    /// ```no_run
    /// # fn demo(item: zk_recipes::queue::TakenItem) {
    /// println!("{}", item.path());
    /// # }
    /// ```
    pub fn path(&self) -> &str {
        &self.entry
    }

    /// Removes the item for good.
    ///
    /// ```no_run
    /// # async fn demo(item: zk_recipes::queue::TakenItem) -> Result<(), zk_recipes::queue::QueueError> {
    /// item.consume().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`QueueError::ItemLost`] when our session no longer holds it (it will be delivered
    /// again); connection errors (`ConnectionLoss`: outcome unknown).
    pub async fn consume(self) -> Result<(), QueueError> {
        self.consume_with(|tx| tx).await
    }

    /// Removes the item in one transaction with the operations `extra` adds (for example a
    /// record of the work done), so that both happen or neither.
    ///
    /// ```no_run
    /// use zk_client::CreateOptions;
    /// # async fn demo(item: zk_recipes::queue::TakenItem) -> Result<(), zk_recipes::queue::QueueError> {
    /// item.consume_with(|tx| tx.create("/done/job-1", b"ok", &CreateOptions::persistent())).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`consume`](Self::consume); a failed `extra` operation fails the whole transaction
    /// ([`Error::Transaction`] inside [`QueueError::Zk`]) and the item stays taken.
    pub async fn consume_with(
        mut self,
        extra: impl FnOnce(Transaction) -> Transaction,
    ) -> Result<(), QueueError> {
        let version = self.held_version().await?;
        let tx = self
            .client
            .transaction()
            .delete(&self.lock, Some(version))
            .delete(&self.entry, None);
        extra(tx).commit().await?;
        self.done = true;
        Ok(())
    }

    /// Gives the item back to the queue.
    ///
    /// ```no_run
    /// # async fn demo(item: zk_recipes::queue::TakenItem) -> Result<(), zk_recipes::queue::QueueError> {
    /// item.release().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors (a lost item is already released).
    pub async fn release(mut self) -> Result<(), QueueError> {
        self.done = true;
        match self.held_version().await {
            Ok(version) => match self.client.delete(&self.lock, Some(version)).await {
                Ok(()) | Err(Error::NoNode | Error::BadVersion) => Ok(()),
                Err(e) => Err(e.into()),
            },
            Err(QueueError::ItemLost(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The version of our `taken` node, proving that this session still holds the item.
    async fn held_version(&self) -> Result<i32, QueueError> {
        if self.client.session_id() != self.session {
            return Err(QueueError::ItemLost(self.entry.clone()));
        }
        match self.client.exists(&self.lock).await? {
            Some(stat) if stat.ephemeral_owner == self.session => Ok(stat.version),
            _ => Err(QueueError::ItemLost(self.entry.clone())),
        }
    }
}

impl Drop for TakenItem {
    fn drop(&mut self) {
        if self.done || self.client.session_id() != self.session {
            return;
        }
        let (client, lock, session) = (self.client.clone(), self.lock.clone(), self.session);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Ok(Some(stat)) = client.exists(&lock).await
                    && stat.ephemeral_owner == session
                {
                    let _ = client.delete(&lock, Some(stat.version)).await;
                }
            });
        }
    }
}
