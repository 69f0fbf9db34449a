//! The mutex: Curator `InterProcessMutex` and kazoo `Lock` layouts.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zk_client::Client;

use crate::contend::{self, Spec, Wait};
use crate::error::Result;
use crate::flavor::{ErrorPolicy, Flavor};
use crate::names::NamePattern;
use crate::node;
use crate::ownership::OwnershipGuard;
use crate::paths;

/// The guard of a [`Mutex`] (an [`OwnershipGuard`]).
///
/// ```no_run
/// # async fn demo(mutex: zk_recipes::Mutex) -> zk_recipes::Result<()> {
/// let guard: zk_recipes::MutexGuard = mutex.acquire().await?;
/// guard.release().await?;
/// # Ok(()) }
/// ```
pub type MutexGuard = OwnershipGuard;

/// Options of a [`Mutex`].
///
/// ```
/// use zk_recipes::{ErrorPolicy, Flavor, MutexOptions};
/// let opts = MutexOptions::default().flavor(Flavor::Kazoo).id("worker-1").policy(ErrorPolicy::Session);
/// assert_eq!(opts.flavor, Flavor::Kazoo);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MutexOptions {
    /// Node layout (default Curator).
    pub flavor: Flavor,
    /// Stored as our node's data (Curator stores the client's IP by default, kazoo the
    /// identifier); shown by [`Mutex::contenders`].
    pub id: String,
    /// What counts as losing the lock.
    pub policy: ErrorPolicy,
}

impl MutexOptions {
    /// Sets the flavour.
    ///
    /// ```
    /// use zk_recipes::{Flavor, MutexOptions};
    /// assert_eq!(MutexOptions::default().flavor, Flavor::Curator);
    /// assert_eq!(MutexOptions::default().flavor(Flavor::Kazoo).flavor, Flavor::Kazoo);
    /// ```
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// Sets the id stored in our node.
    ///
    /// ```
    /// let opts = zk_recipes::MutexOptions::default().id("worker-1");
    /// assert_eq!(opts.id, "worker-1");
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the error policy.
    ///
    /// ```
    /// use zk_recipes::{ErrorPolicy, MutexOptions};
    /// let opts = MutexOptions::default().policy(ErrorPolicy::Session);
    /// assert_eq!(opts.policy, ErrorPolicy::Session);
    /// ```
    pub fn policy(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }
}

/// A fair, non-reentrant distributed mutex on one path.
///
/// Contenders are ordered by their sequence number; each waits on its predecessor only. The
/// guard proves ownership (see [`OwnershipGuard`]). Nodes: `P/_c_<uuid>-lock-<seq>`
/// ([`Flavor::Curator`], excluding Curator `InterProcessMutex` and `LeaderSelector` processes)
/// or `P/<hex>__lock__<seq>` ([`Flavor::Kazoo`], excluding kazoo `Lock` and `Election`).
///
/// ```no_run
/// use std::time::Duration;
/// use zk_recipes::{Mutex, MutexOptions};
/// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
/// let mutex = Mutex::new(client, "/app/locks/orders", MutexOptions::default())?;
/// if let Some(guard) = mutex.try_acquire().await? {
///     println!("token {}", guard.token());
///     guard.release().await?;
/// }
/// let guard = mutex.acquire_timeout(Duration::from_secs(5)).await?;
/// guard.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Mutex {
    client: Client,
    path: String,
    options: MutexOptions,
    pattern: NamePattern,
}

/// One contender of a lock, in queue order.
///
/// ```no_run
/// # async fn demo(mutex: zk_recipes::Mutex) -> zk_recipes::Result<()> {
/// for c in mutex.contenders().await? {
///     println!("{} {} {}", c.sequence, c.name, c.id);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contender {
    /// The node name.
    pub name: String,
    /// Its sequence number.
    pub sequence: i64,
    /// Its data (the id its owner stored).
    pub id: String,
}

impl Mutex {
    /// A mutex on `path` (nothing is sent until an acquire).
    ///
    /// # Errors
    /// [`RecipeError::InvalidPath`](crate::RecipeError::InvalidPath).
    ///
    /// ```no_run
    /// use zk_recipes::{Flavor, Mutex, MutexOptions};
    /// # fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
    /// let mutex = Mutex::new(client, "/app/locks/orders", MutexOptions::default().flavor(Flavor::Kazoo))?;
    /// assert_eq!(mutex.path(), "/app/locks/orders");
    /// # Ok(()) }
    /// ```
    pub fn new(client: Client, path: &str, options: MutexOptions) -> Result<Self> {
        paths::validate(path)?;
        let pattern = match options.flavor {
            Flavor::Curator => NamePattern::curator(&[CURATOR_MARKER]),
            Flavor::Kazoo => NamePattern::kazoo(&[KAZOO_MARKER]),
        };
        Ok(Self {
            client,
            path: path.to_owned(),
            options,
            pattern,
        })
    }

    /// The lock path.
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
    /// let mutex = zk_recipes::Mutex::new(client, "/app/locks/orders", Default::default())?;
    /// assert_eq!(mutex.path(), "/app/locks/orders");
    /// # Ok(()) }
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    fn spec<'a>(&'a self, decide: &'a contend::DecideFn) -> Spec<'a> {
        Spec {
            client: &self.client,
            path: &self.path,
            flavor: self.options.flavor,
            pattern: &self.pattern,
            ignore: &[],
            curator_marker: CURATOR_MARKER,
            kazoo_marker: KAZOO_MARKER,
            data: self.options.id.as_bytes(),
            policy: self.options.policy,
            decide,
        }
    }

    /// Waits until acquired (no deadline).
    ///
    /// # Errors
    /// [`RecipeError::ForeignChildren`](crate::RecipeError::ForeignChildren),
    /// [`RecipeError::Closed`](crate::RecipeError::Closed), session expiry, client errors.
    ///
    /// ```no_run
    /// # async fn demo(mutex: zk_recipes::Mutex) -> zk_recipes::Result<()> {
    /// let guard = mutex.acquire().await?;
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn acquire(&self) -> Result<MutexGuard> {
        self.acquire_with(Wait::default()).await
    }

    /// Waits at most `timeout`; [`RecipeError::Deadline`](crate::RecipeError::Deadline) after.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire), plus the deadline.
    ///
    /// ```no_run
    /// # async fn demo(mutex: zk_recipes::Mutex) -> zk_recipes::Result<()> {
    /// match mutex.acquire_timeout(std::time::Duration::from_secs(2)).await {
    ///     Ok(guard) => guard.release().await?,
    ///     Err(zk_recipes::RecipeError::Deadline(waited)) => eprintln!("busy for {waited:?}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<MutexGuard> {
        self.acquire_until(Instant::now() + timeout).await
    }

    /// Waits until `deadline`.
    ///
    /// # Errors
    /// As [`acquire_timeout`](Self::acquire_timeout).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// # async fn demo(mutex: zk_recipes::Mutex) -> zk_recipes::Result<()> {
    /// let deadline = Instant::now() + Duration::from_secs(10); // shared by several steps
    /// let guard = mutex.acquire_until(deadline).await?;
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn acquire_until(&self, deadline: Instant) -> Result<MutexGuard> {
        self.acquire_with(Wait::until(deadline)).await
    }

    /// Waits until acquired or `cancel` fires ([`RecipeError::Cancelled`](crate::RecipeError::Cancelled)).
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire), plus cancellation.
    ///
    /// ```no_run
    /// # async fn demo(mutex: zk_recipes::Mutex) -> zk_recipes::Result<()> {
    /// let cancel = tokio_util::sync::CancellationToken::new();
    /// let guard = mutex.acquire_cancellable(cancel.clone()).await?;
    /// # drop(guard); Ok(()) }
    /// ```
    pub async fn acquire_cancellable(&self, cancel: CancellationToken) -> Result<MutexGuard> {
        self.acquire_with(Wait::cancelled_by(cancel)).await
    }

    /// Acquires only if nobody holds or waits before us; `Ok(None)` otherwise (our node is
    /// removed).
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    ///
    /// ```no_run
    /// # async fn demo(mutex: zk_recipes::Mutex) -> zk_recipes::Result<()> {
    /// if let Some(guard) = mutex.try_acquire().await? {
    ///     guard.release().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn try_acquire(&self) -> Result<Option<MutexGuard>> {
        contend::none_if_busy(self.acquire_with(Wait::once()).await)
    }

    pub(crate) async fn acquire_with(&self, wait: Wait) -> Result<MutexGuard> {
        let decide = contend::first_n(1);
        contend::acquire(&self.spec(&decide), &wait).await
    }

    /// The contenders in queue order (the first holds the lock).
    ///
    /// # Errors
    /// Foreign children, client errors.
    ///
    /// ```no_run
    /// # async fn demo(mutex: zk_recipes::Mutex) -> zk_recipes::Result<()> {
    /// let queue = mutex.contenders().await?;
    /// if let Some(holder) = queue.first() {
    ///     println!("held by {} ({} waiting)", holder.id, queue.len() - 1);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn contenders(&self) -> Result<Vec<Contender>> {
        let decide = contend::first_n(1);
        list_contenders(&self.spec(&decide)).await
    }
}

/// The contenders of `spec`'s path with their data, in order.
pub(crate) async fn list_contenders(spec: &Spec<'_>) -> Result<Vec<Contender>> {
    let client = spec.client;
    contend::check_client(client)?;
    let children = match node::retry_read(client, None, || client.get_children(spec.path)).await {
        Ok(c) => c,
        Err(crate::RecipeError::Client(zk_client::Error::NoNode)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for child in contend::contenders(spec, &children)? {
        let path = paths::join(spec.path, &child.name);
        match node::retry_read(client, None, || client.get_data(&path)).await {
            Ok((data, _)) => out.push(Contender {
                id: String::from_utf8_lossy(&data).into_owned(),
                name: child.name,
                sequence: child.sequence,
            }),
            Err(crate::RecipeError::Client(zk_client::Error::NoNode)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Curator's mutex marker.
pub(crate) const CURATOR_MARKER: &str = "lock-";
/// kazoo's lock marker.
pub(crate) const KAZOO_MARKER: &str = "__lock__";
