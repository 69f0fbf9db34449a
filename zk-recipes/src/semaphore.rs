//! The counting semaphore: Curator `InterProcessSemaphoreV2` (`P/locks` + `P/leases/..-lease-`)
//! and kazoo `Semaphore` (`P-__lock__` + `P/<hex>`, max leases stored in `P`) layouts.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zk_client::{Client, CreateOptions, Error};

use crate::contend::{self, Decision, Spec, Wait};
use crate::error::{RecipeError, Result};
use crate::flavor::Flavor;
use crate::mutex::{Contender, Mutex, MutexOptions};
use crate::names::NamePattern;
use crate::node::{self, CleanupOnDrop, OwnNode};
use crate::ownership::OwnershipGuard;
use crate::paths;

const CURATOR_LEASE: &str = "lease-";

/// A distributed counting semaphore: at most `max_leases` holders at a time.
///
/// Acquiring takes the semaphore's lock first, so only one process at a time waits for a free
/// lease (no herd), then creates a lease node and proves it (exists, our session, within the
/// first `max_leases`). Leases are [`OwnershipGuard`]s. With [`Flavor::Kazoo`] the maximum is
/// stored in the semaphore node, as kazoo does; a process configured with another maximum gets
/// [`RecipeError::LeaseCountMismatch`].
///
/// ```no_run
/// use std::time::Duration;
/// use zk_recipes::{MutexOptions, Semaphore};
/// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
/// let pool = Semaphore::new(client, "/app/db-slots", 3, MutexOptions::default())?;
/// let lease = pool.acquire_timeout(Duration::from_secs(10)).await?;
/// // use one of the 3 slots
/// lease.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Semaphore {
    client: Client,
    path: String,
    leases_path: String,
    max_leases: u32,
    options: MutexOptions,
    lock: Mutex,
    pattern: NamePattern,
}

impl Semaphore {
    /// A semaphore on `path` with `max_leases` leases.
    ///
    /// # Errors
    /// [`RecipeError::InvalidPath`]; [`RecipeError::NotAllowed`] for `max_leases == 0`.
    ///
    /// ```no_run
    /// use zk_recipes::{MutexOptions, RecipeError, Semaphore};
    /// # fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
    /// let sem = Semaphore::new(client.clone(), "/app/semaphores/db", 4, MutexOptions::default())?;
    /// assert!(matches!(
    ///     Semaphore::new(client, "/app/semaphores/db", 0, MutexOptions::default()),
    ///     Err(RecipeError::NotAllowed(_))
    /// ));
    /// # drop(sem); Ok(()) }
    /// ```
    pub fn new(client: Client, path: &str, max_leases: u32, options: MutexOptions) -> Result<Self> {
        paths::validate(path)?;
        if max_leases == 0 {
            return Err(RecipeError::NotAllowed(
                "a semaphore needs at least one lease".into(),
            ));
        }
        let (lock_path, leases_path) = match options.flavor {
            Flavor::Curator => (paths::join(path, "locks"), paths::join(path, "leases")),
            Flavor::Kazoo => (format!("{path}-__lock__"), path.to_owned()),
        };
        let lock = Mutex::new(
            client.clone(),
            &lock_path,
            MutexOptions::default()
                .flavor(options.flavor)
                .id(options.id.clone())
                .policy(options.policy),
        )?;
        Ok(Self {
            client,
            path: path.to_owned(),
            leases_path,
            max_leases,
            options,
            lock,
            pattern: NamePattern::curator(&[CURATOR_LEASE]),
        })
    }

    /// Waits for a lease.
    ///
    /// # Errors
    /// [`RecipeError::LeaseCountMismatch`], foreign children, closed client, client errors.
    ///
    /// ```no_run
    /// # async fn demo(sem: zk_recipes::Semaphore) -> zk_recipes::Result<()> {
    /// let lease = sem.acquire().await?; // one of `max_leases`
    /// // use the rate-limited resource
    /// lease.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn acquire(&self) -> Result<OwnershipGuard> {
        self.acquire_with(Wait::default()).await
    }

    /// Waits for a lease at most `timeout`.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire), plus [`RecipeError::Deadline`].
    ///
    /// ```no_run
    /// use zk_recipes::RecipeError;
    /// # async fn demo(sem: zk_recipes::Semaphore) -> zk_recipes::Result<()> {
    /// match sem.acquire_timeout(std::time::Duration::from_secs(5)).await {
    ///     Ok(lease) => lease.release().await?,
    ///     Err(RecipeError::Deadline(_)) => eprintln!("all leases taken"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<OwnershipGuard> {
        self.acquire_with(Wait::within(timeout)).await
    }

    /// Waits for a lease until `cancel` fires.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire), plus [`RecipeError::Cancelled`].
    ///
    /// ```no_run
    /// use tokio_util::sync::CancellationToken;
    /// # async fn demo(sem: zk_recipes::Semaphore) -> zk_recipes::Result<()> {
    /// let cancel = CancellationToken::new();
    /// let stop = cancel.clone(); // e.g. cancelled by a shutdown handler
    /// let lease = sem.acquire_cancellable(cancel).await?; // Err(Cancelled) once `stop.cancel()`
    /// lease.release().await?;
    /// # drop(stop); Ok(()) }
    /// ```
    pub async fn acquire_cancellable(&self, cancel: CancellationToken) -> Result<OwnershipGuard> {
        self.acquire_with(Wait::cancelled_by(cancel)).await
    }

    /// A lease if one is free right now, else `None`.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    ///
    /// ```no_run
    /// # async fn demo(sem: zk_recipes::Semaphore) -> zk_recipes::Result<()> {
    /// match sem.try_acquire().await? {
    ///     Some(lease) => lease.release().await?,
    ///     None => eprintln!("no lease free right now"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn try_acquire(&self) -> Result<Option<OwnershipGuard>> {
        contend::none_if_busy(self.acquire_with(Wait::once()).await)
    }

    async fn acquire_with(&self, wait: Wait) -> Result<OwnershipGuard> {
        contend::check_client(&self.client)?;
        self.check_stored_count(wait.deadline).await?;
        let lock = self.lock.acquire_with(wait.clone()).await?;
        let out = match self.options.flavor {
            Flavor::Curator => self.curator_lease(&wait).await,
            Flavor::Kazoo => {
                let started = Instant::now();
                contend::with_cancel(&wait, started, self.kazoo_lease(&wait, started)).await
            }
        };
        let _ = lock.release().await;
        out
    }

    /// kazoo stores the maximum in the semaphore node; Curator stores nothing (a number found
    /// there is still checked).
    async fn check_stored_count(&self, deadline: Option<Instant>) -> Result<()> {
        let client = &self.client;
        let ours = self.max_leases.to_string();
        if self.options.flavor == Flavor::Kazoo {
            paths::ensure_containers(client, paths::parent_of(&self.path))
                .await
                .or_else(|e| {
                    if paths::parent_of(&self.path) == "/" {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })?;
            match client
                .create(&self.path, ours.as_bytes(), &CreateOptions::persistent())
                .await
            {
                Ok(_) => return Ok(()),
                Err(Error::NodeExists) => {}
                Err(e) if node::is_retryable(&e) => node::wait_connected(client, deadline).await?,
                Err(e) => return Err(e.into()),
            }
        }
        let data = match node::retry_read(client, deadline, || client.get_data(&self.path)).await {
            Ok((data, _)) => data,
            Err(RecipeError::Client(Error::NoNode)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let stored = String::from_utf8_lossy(&data).trim().to_owned();
        match stored.parse::<u32>() {
            Ok(n) if n != self.max_leases => Err(RecipeError::LeaseCountMismatch {
                path: self.path.clone(),
                stored,
                ours: self.max_leases,
            }),
            _ => Ok(()),
        }
    }

    async fn curator_lease(&self, wait: &Wait) -> Result<OwnershipGuard> {
        let max = self.max_leases as usize;
        let decide = move |_: &[crate::names::SequencedChild], index: usize| {
            if index < max {
                Decision::Acquire
            } else {
                Decision::WaitChildren
            }
        };
        contend::acquire(&self.lease_spec(&decide), wait).await
    }

    fn lease_spec<'a>(&'a self, decide: &'a contend::DecideFn) -> Spec<'a> {
        Spec {
            client: &self.client,
            path: &self.leases_path,
            flavor: Flavor::Curator,
            pattern: &self.pattern,
            ignore: &[],
            curator_marker: CURATOR_LEASE,
            kazoo_marker: CURATOR_LEASE,
            data: self.options.id.as_bytes(),
            policy: self.options.policy,
            decide,
        }
    }

    async fn kazoo_lease(&self, wait: &Wait, started: Instant) -> Result<OwnershipGuard> {
        let client = &self.client;
        let deadline = wait.deadline;
        let name = uuid::Uuid::new_v4().simple().to_string();
        let path = paths::join(&self.path, &name);
        let mut cleanup = CleanupOnDrop {
            client: client.clone(),
            node: None,
        };
        loop {
            node::check_deadline(deadline).map_err(|_| wait.elapsed_error(started))?;
            let (children, _, watch) =
                node::retry_read(client, deadline, || client.get_children_watch(&self.path))
                    .await?;
            let foreign: Vec<String> = children
                .iter()
                .filter(|c| c.len() != 32 || !c.bytes().all(|b| b.is_ascii_hexdigit()))
                .take(8)
                .cloned()
                .collect();
            if !foreign.is_empty() {
                return Err(RecipeError::ForeignChildren {
                    path: self.path.clone(),
                    names: foreign,
                });
            }
            if children.len() >= self.max_leases as usize {
                if wait.try_once {
                    return Err(wait.elapsed_error(started));
                }
                contend::wait_until(watch, deadline)
                    .await
                    .map_err(|()| wait.elapsed_error(started))?;
                continue;
            }
            let session_id = client.session_id();
            match client
                .create(
                    &path,
                    self.options.id.as_bytes(),
                    &CreateOptions::ephemeral(),
                )
                .await
            {
                Ok(_) => {}
                Err(Error::NodeExists) => {}
                Err(e) if node::is_retryable(&e) => {
                    node::wait_connected(client, deadline).await?;
                }
                Err(e) => return Err(e.into()),
            }
            let own = OwnNode {
                path: path.clone(),
                session_id,
                czxid: 0,
            };
            cleanup.node = Some(own.clone());
            if let Some(guard) =
                contend::prove_node(client, &own, self.options.policy, deadline).await?
            {
                cleanup.disarm();
                return Ok(guard);
            }
            cleanup.node = None;
        }
    }

    /// The current lease holders (ids and node names), oldest first for Curator.
    ///
    /// # Errors
    /// Foreign children, client errors.
    ///
    /// ```no_run
    /// # async fn demo(sem: zk_recipes::Semaphore) -> zk_recipes::Result<()> {
    /// let holders = sem.holders().await?;
    /// println!("{} leases in use: {:?}", holders.len(), holders.iter().map(|c| &c.id).collect::<Vec<_>>());
    /// # Ok(()) }
    /// ```
    pub async fn holders(&self) -> Result<Vec<Contender>> {
        match self.options.flavor {
            Flavor::Curator => {
                let decide = contend::first_n(1);
                crate::mutex::list_contenders(&self.lease_spec(&decide)).await
            }
            Flavor::Kazoo => {
                let client = &self.client;
                let children = match node::retry_read(client, None, || {
                    client.get_children(&self.path)
                })
                .await
                {
                    Ok(c) => c,
                    Err(RecipeError::Client(Error::NoNode)) => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                };
                let mut out = Vec::new();
                for name in children {
                    let p = paths::join(&self.path, &name);
                    if let Ok((data, _)) =
                        node::retry_read(client, None, || client.get_data(&p)).await
                    {
                        out.push(Contender {
                            id: String::from_utf8_lossy(&data).into_owned(),
                            name,
                            sequence: 0,
                        });
                    }
                }
                Ok(out)
            }
        }
    }
}
