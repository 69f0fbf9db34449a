//! A queue whose items become available at a given time, named as Curator's
//! `DistributedDelayQueue` names them (`queue-|<HEX epoch ms>|<seq>`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use zk_client::{Bytes, Client, Error};

use super::item::Layout;
use super::{QueueError, children_or_empty, put_ranked, wait_for_children};
use crate::paths::join;

/// A delay queue: [`take`](Self::take) returns an item only once its time has come, earliest
/// first. The data is stored as given (Curator wraps its items in its own serializer, so the
/// two do not read each other's items). An item is handed to at most one consumer.
///
/// ```no_run
/// use std::time::{Duration, SystemTime};
/// use zk_recipes::queue::DelayQueue;
///
/// # async fn demo(client: zk_client::Client) -> Result<(), zk_recipes::queue::QueueError> {
/// let q = DelayQueue::new(&client, "/later");
/// q.put(b"ping".to_vec(), SystemTime::now() + Duration::from_secs(2)).await?;
/// let item = q.take(Duration::from_secs(10)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DelayQueue {
    client: Client,
    path: String,
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl DelayQueue {
    /// The delay queue at `path`.
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) {
    /// let q = zk_recipes::queue::DelayQueue::new(&client, "/later");
    /// # }
    /// ```
    pub fn new(client: &Client, path: &str) -> DelayQueue {
        DelayQueue {
            client: client.clone(),
            path: path.to_owned(),
        }
    }

    /// Adds an item available from `at` on; returns its path.
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::DelayQueue) -> Result<(), zk_recipes::queue::QueueError> {
    /// q.put(b"now".to_vec(), std::time::SystemTime::now()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors.
    pub async fn put(&self, data: impl AsRef<[u8]>, at: SystemTime) -> Result<String, QueueError> {
        put_ranked(
            &self.client,
            &self.path,
            Layout::Delay,
            data.as_ref(),
            epoch_ms(at),
        )
        .await
    }

    /// Takes the earliest item whose time has come, if any.
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::DelayQueue) -> Result<(), zk_recipes::queue::QueueError> {
    /// let ready = q.poll().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors (`ConnectionLoss` during the take: the item may be lost).
    pub async fn poll(&self) -> Result<Option<Bytes>, QueueError> {
        Ok(self.poll_next().await?.0)
    }

    /// The ready item (if one could be taken), the earliest future time, and the children seen.
    async fn poll_next(&self) -> Result<(Option<Bytes>, Option<i64>, Vec<String>), QueueError> {
        let children = children_or_empty(&self.client, &self.path).await?;
        let now = epoch_ms(SystemTime::now());
        let mut next = None;
        for item in Layout::Delay.sorted(&self.path, children.clone()) {
            if item.rank > now {
                next = Some(item.rank);
                break;
            }
            let path = join(&self.path, &item.name);
            let (data, stat) = match self.client.get_data(&path).await {
                Ok(found) => found,
                Err(Error::NoNode) => continue,
                Err(e) => return Err(e.into()),
            };
            match self.client.delete(&path, Some(stat.version)).await {
                Ok(()) => return Ok((Some(data), None, children)),
                Err(Error::NoNode | Error::BadVersion) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok((None, next, children))
    }

    /// Takes the earliest item whose time has come, waiting at most `timeout`.
    ///
    /// ```no_run
    /// # async fn demo(q: zk_recipes::queue::DelayQueue) -> Result<(), zk_recipes::queue::QueueError> {
    /// let item = q.take(std::time::Duration::from_secs(5)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`poll`](Self::poll).
    pub async fn take(&self, timeout: Duration) -> Result<Option<Bytes>, QueueError> {
        let deadline = Instant::now() + timeout;
        loop {
            let (item, next, seen) = self.poll_next().await?;
            if item.is_some() {
                return Ok(item);
            }
            // Wake at the earliest item's time, or when the children change.
            let wake = next.map_or(deadline, |at| {
                let wait = u64::try_from(at - epoch_ms(SystemTime::now())).unwrap_or(0);
                deadline.min(Instant::now() + Duration::from_millis(wait))
            });
            let changed = wait_for_children(&self.client, &self.path, &seen, wake).await?;
            if !changed && Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }
}
