//! The read-write lock: Curator `InterProcessReadWriteLock` (`__READ__` / `__WRIT__`) and kazoo
//! `ReadLock` / `WriteLock` (`__rlock__` / `__lock__`) layouts, both on one path.

use std::time::Duration;

use zk_client::Client;

use crate::contend::{self, Decision, Spec, Wait};
use crate::error::Result;
use crate::flavor::{ErrorPolicy, Flavor};
use crate::mutex::{Contender, MutexOptions};
use crate::names::{NamePattern, SequencedChild};
use crate::ownership::OwnershipGuard;
use crate::paths;

const CURATOR_READ: &str = "__READ__";
const CURATOR_WRITE: &str = "__WRIT__";
const KAZOO_READ: &str = "__rlock__";
const KAZOO_WRITE: &str = "__lock__";

/// A fair distributed read-write lock: any number of readers, or one writer.
///
/// Readers wait only for the nearest writer queued before them; writers wait for their
/// immediate predecessor. A writer may also take the read lock
/// ([`read_while_writing`](Self::read_while_writing)); a reader can never upgrade (release the
/// read guard first). Non-reentrant. Guards are [`OwnershipGuard`]s.
///
/// ```no_run
/// use std::time::Duration;
/// use zk_recipes::{MutexOptions, ReadWriteLock};
/// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
/// let lock = ReadWriteLock::new(client, "/app/config-lock", MutexOptions::default())?;
/// let read = lock.read_timeout(Duration::from_secs(5)).await?;
/// read.release().await?;
/// let write = lock.write().await?;
/// let read_too = lock.read_while_writing(&write).await?;
/// read_too.release().await?;
/// write.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ReadWriteLock {
    client: Client,
    path: String,
    flavor: Flavor,
    id: String,
    policy: ErrorPolicy,
    pattern: NamePattern,
}

/// Marker index of readers in the pattern (writers are 1).
const READER: usize = 0;

impl ReadWriteLock {
    /// A read-write lock on `path` (nothing is sent yet).
    ///
    /// # Errors
    /// [`RecipeError::InvalidPath`](crate::RecipeError::InvalidPath).
    ///
    /// ```no_run
    /// use zk_recipes::{MutexOptions, ReadWriteLock};
    /// # fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
    /// let lock = ReadWriteLock::new(client, "/app/locks/config", MutexOptions::default().id("reader-1"))?;
    /// # drop(lock); Ok(()) }
    /// ```
    pub fn new(client: Client, path: &str, options: MutexOptions) -> Result<Self> {
        paths::validate(path)?;
        let pattern = match options.flavor {
            Flavor::Curator => NamePattern::curator(&[CURATOR_READ, CURATOR_WRITE]),
            Flavor::Kazoo => NamePattern::kazoo(&[KAZOO_READ, KAZOO_WRITE]),
        };
        Ok(Self {
            client,
            path: path.to_owned(),
            flavor: options.flavor,
            id: options.id,
            policy: options.policy,
            pattern,
        })
    }

    fn spec<'a>(&'a self, write: bool, decide: &'a contend::DecideFn) -> Spec<'a> {
        let (curator_marker, kazoo_marker) = if write {
            (CURATOR_WRITE, KAZOO_WRITE)
        } else {
            (CURATOR_READ, KAZOO_READ)
        };
        Spec {
            client: &self.client,
            path: &self.path,
            flavor: self.flavor,
            pattern: &self.pattern,
            ignore: &[],
            curator_marker,
            kazoo_marker,
            data: self.id.as_bytes(),
            policy: self.policy,
            decide,
        }
    }

    async fn lock(
        &self,
        write: bool,
        own_writer: Option<String>,
        wait: Wait,
    ) -> Result<OwnershipGuard> {
        let decide = move |sorted: &[SequencedChild], index: usize| {
            if write {
                return contend::first_n(1)(sorted, index);
            }
            let blocking = sorted[..index]
                .iter()
                .rev()
                .find(|c| c.marker != READER && Some(&c.name) != own_writer.as_ref());
            match blocking {
                None => Decision::Acquire,
                Some(w) => Decision::WaitFor(w.name.clone()),
            }
        };
        contend::acquire(&self.spec(write, &decide), &wait).await
    }

    /// Waits for the read lock.
    ///
    /// # Errors
    /// Foreign children, closed client, session expiry, client errors.
    ///
    /// ```no_run
    /// # async fn demo(lock: zk_recipes::ReadWriteLock) -> zk_recipes::Result<()> {
    /// let guard = lock.read().await?; // shared with other readers
    /// // read the protected data
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn read(&self) -> Result<OwnershipGuard> {
        self.lock(false, None, Wait::default()).await
    }

    /// Waits for the read lock at most `timeout`.
    ///
    /// # Errors
    /// As [`read`](Self::read), plus [`RecipeError::Deadline`](crate::RecipeError::Deadline).
    ///
    /// ```no_run
    /// # async fn demo(lock: zk_recipes::ReadWriteLock) -> zk_recipes::Result<()> {
    /// let guard = lock.read_timeout(std::time::Duration::from_secs(5)).await?;
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn read_timeout(&self, timeout: Duration) -> Result<OwnershipGuard> {
        self.lock(false, None, Wait::within(timeout)).await
    }

    /// Waits for the write lock.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    ///
    /// ```no_run
    /// # async fn demo(lock: zk_recipes::ReadWriteLock) -> zk_recipes::Result<()> {
    /// let guard = lock.write().await?; // exclusive: no reader or other writer holds
    /// println!("fencing token {}", guard.token());
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn write(&self) -> Result<OwnershipGuard> {
        self.lock(true, None, Wait::default()).await
    }

    /// Waits for the write lock at most `timeout`.
    ///
    /// # Errors
    /// As [`read_timeout`](Self::read_timeout).
    ///
    /// ```no_run
    /// use zk_recipes::RecipeError;
    /// # async fn demo(lock: zk_recipes::ReadWriteLock) -> zk_recipes::Result<()> {
    /// match lock.write_timeout(std::time::Duration::from_secs(5)).await {
    ///     Ok(guard) => guard.release().await?,
    ///     Err(RecipeError::Deadline(_)) => eprintln!("readers or a writer still hold it"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn write_timeout(&self, timeout: Duration) -> Result<OwnershipGuard> {
        self.lock(true, None, Wait::within(timeout)).await
    }

    /// The read lock if no writer holds or waits before us; `Ok(None)` otherwise.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    ///
    /// ```no_run
    /// # async fn demo(lock: zk_recipes::ReadWriteLock) -> zk_recipes::Result<()> {
    /// match lock.try_read().await? {
    ///     Some(guard) => guard.release().await?,
    ///     None => eprintln!("a writer holds or waits"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn try_read(&self) -> Result<Option<OwnershipGuard>> {
        contend::none_if_busy(self.lock(false, None, Wait::once()).await)
    }

    /// The write lock if nobody holds or waits before us; `Ok(None)` otherwise.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    ///
    /// ```no_run
    /// # async fn demo(lock: zk_recipes::ReadWriteLock) -> zk_recipes::Result<()> {
    /// if let Some(guard) = lock.try_write().await? {
    ///     guard.release().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn try_write(&self) -> Result<Option<OwnershipGuard>> {
        contend::none_if_busy(self.lock(true, None, Wait::once()).await)
    }

    /// Takes the read lock while holding `write` (a downgrade path: release the write guard
    /// afterwards and keep reading). Readers queued after the writer stay blocked by the
    /// writer, not by this read node.
    ///
    /// # Errors
    /// [`RecipeError::NotAllowed`](crate::RecipeError::NotAllowed) when `write` is not a
    /// held guard of this lock; otherwise as [`read`](Self::read).
    ///
    /// ```no_run
    /// # async fn demo(lock: zk_recipes::ReadWriteLock) -> zk_recipes::Result<()> {
    /// let write = lock.write().await?;
    /// // ... update ...
    /// let read = lock.read_while_writing(&write).await?; // downgrade
    /// write.release().await?;
    /// // ... keep reading ...
    /// read.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn read_while_writing(&self, write: &OwnershipGuard) -> Result<OwnershipGuard> {
        let own = write.node();
        if paths::parent_of(own) != self.path || !write.is_held() {
            return Err(crate::RecipeError::NotAllowed(
                "read_while_writing needs a held write guard of this lock".into(),
            ));
        }
        self.lock(false, Some(paths::name_of(own).to_owned()), Wait::default())
            .await
    }

    /// Readers and writers in queue order, with their ids.
    ///
    /// # Errors
    /// Foreign children, client errors.
    ///
    /// ```no_run
    /// # async fn demo(lock: zk_recipes::ReadWriteLock) -> zk_recipes::Result<()> {
    /// for c in lock.contenders().await? {
    ///     println!("{} {}", c.name, c.id); // the name says reader or writer
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn contenders(&self) -> Result<Vec<Contender>> {
        let decide = contend::first_n(1);
        crate::mutex::list_contenders(&self.spec(true, &decide)).await
    }
}
