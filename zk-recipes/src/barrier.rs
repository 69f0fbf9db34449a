//! Barriers: Curator `DistributedBarrier` / kazoo `Barrier` (one node) and Curator
//! `DistributedDoubleBarrier` / kazoo `DoubleBarrier` (`P/<uuid>` ephemeral members plus
//! `P/ready`; kazoo names its members with the 32-digit form of the UUID).

use std::time::Duration;

use tokio::time::Instant;
use zk_client::{Client, CreateOptions, Error, EventType};

use crate::contend;
use crate::error::{RecipeError, Result};
use crate::node;
use crate::paths;

/// A barrier on one node: while the node exists, [`wait`](Self::wait) blocks.
///
/// ```no_run
/// use std::time::Duration;
/// use zk_recipes::Barrier;
/// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
/// let barrier = Barrier::new(client, "/app/deploy-gate")?;
/// barrier.set().await?;
/// // elsewhere: barrier.wait(Some(Duration::from_secs(30))).await?;
/// barrier.remove().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Barrier {
    client: Client,
    path: String,
}

impl Barrier {
    /// A barrier at `path`.
    ///
    /// # Errors
    /// [`RecipeError::InvalidPath`].
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
    /// let barrier = zk_recipes::Barrier::new(client.clone(), "/app/deploy-gate")?;
    /// assert!(matches!(
    ///     zk_recipes::Barrier::new(client, "no-leading-slash"),
    ///     Err(zk_recipes::RecipeError::InvalidPath { .. })
    /// ));
    /// # drop(barrier); Ok(()) }
    /// ```
    pub fn new(client: Client, path: &str) -> Result<Self> {
        paths::validate(path)?;
        Ok(Self {
            client,
            path: path.to_owned(),
        })
    }

    /// Raises the barrier (creates the node; parents as containers). Idempotent.
    ///
    /// # Errors
    /// Closed client, client errors.
    ///
    /// ```no_run
    /// # async fn demo(barrier: zk_recipes::Barrier) -> zk_recipes::Result<()> {
    /// barrier.set().await?;
    /// barrier.set().await?; // already up: still Ok
    /// # Ok(()) }
    /// ```
    pub async fn set(&self) -> Result<()> {
        contend::check_client(&self.client)?;
        let parent = paths::parent_of(&self.path);
        if parent != "/" {
            paths::ensure_containers(&self.client, parent).await?;
        }
        loop {
            match self
                .client
                .create(&self.path, b"", &CreateOptions::persistent())
                .await
            {
                Ok(_) | Err(Error::NodeExists) => return Ok(()),
                Err(e) if node::is_retryable(&e) => {
                    node::wait_connected(&self.client, None).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Lowers the barrier (deletes the node). Idempotent.
    ///
    /// # Errors
    /// Closed client, client errors.
    ///
    /// ```no_run
    /// # async fn demo(barrier: zk_recipes::Barrier) -> zk_recipes::Result<()> {
    /// barrier.remove().await?; // every `wait` returns
    /// barrier.remove().await?; // already down: still Ok
    /// # Ok(()) }
    /// ```
    pub async fn remove(&self) -> Result<()> {
        contend::check_client(&self.client)?;
        loop {
            match self.client.delete(&self.path, None).await {
                Ok(()) | Err(Error::NoNode) => return Ok(()),
                Err(e) if node::is_retryable(&e) => {
                    node::wait_connected(&self.client, None).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits until the barrier is down (at most `timeout`).
    ///
    /// # Errors
    /// [`RecipeError::Deadline`], closed client, session expiry.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use zk_recipes::RecipeError;
    /// # async fn demo(barrier: zk_recipes::Barrier) -> zk_recipes::Result<()> {
    /// match barrier.wait(Some(Duration::from_secs(30))).await {
    ///     Ok(()) => println!("gate open"),
    ///     Err(RecipeError::Deadline(waited)) => eprintln!("still closed after {waited:?}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        contend::check_client(&self.client)?;
        let started = Instant::now();
        let deadline = timeout.map(|t| started + t);
        loop {
            let (stat, watch) = node::retry_read(&self.client, deadline, || {
                self.client.exists_watch(&self.path)
            })
            .await?;
            if stat.is_none() {
                return Ok(());
            }
            contend::wait_until(watch, deadline)
                .await
                .map_err(|()| RecipeError::Deadline(started.elapsed()))?;
        }
    }
}

/// Curator's name for the node that opens a double barrier.
const READY: &str = "ready";

/// A double barrier: [`enter`](Self::enter) waits until `members` processes have entered;
/// [`leave`](Self::leave) waits until all of them have left. Members are ephemeral nodes, so a
/// member whose session ends leaves by itself; a waiter whose own session ends gets
/// [`RecipeError::SessionExpired`] instead of passing.
///
/// ```no_run
/// use std::time::Duration;
/// use zk_recipes::DoubleBarrier;
/// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
/// let barrier = DoubleBarrier::new(client, "/app/phase-1", 3)?;
/// barrier.enter(Some(Duration::from_secs(30))).await?;
/// // compute together
/// barrier.leave(Some(Duration::from_secs(30))).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DoubleBarrier {
    client: Client,
    path: String,
    members: usize,
    our_name: String,
    our_session: std::sync::atomic::AtomicI64,
}

impl DoubleBarrier {
    /// A double barrier at `path` for `members` processes.
    ///
    /// # Errors
    /// [`RecipeError::InvalidPath`]; [`RecipeError::NotAllowed`] for zero members.
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
    /// let barrier = zk_recipes::DoubleBarrier::new(client.clone(), "/app/phase-1", 3)?;
    /// assert!(matches!(
    ///     zk_recipes::DoubleBarrier::new(client, "/app/phase-1", 0),
    ///     Err(zk_recipes::RecipeError::NotAllowed(_))
    /// ));
    /// # drop(barrier); Ok(()) }
    /// ```
    pub fn new(client: Client, path: &str, members: usize) -> Result<Self> {
        paths::validate(path)?;
        if members == 0 {
            return Err(RecipeError::NotAllowed(
                "a double barrier needs members".into(),
            ));
        }
        Ok(Self {
            client,
            path: path.to_owned(),
            members,
            our_name: uuid::Uuid::new_v4().hyphenated().to_string(),
            our_session: std::sync::atomic::AtomicI64::new(0),
        })
    }

    fn our_path(&self) -> String {
        paths::join(&self.path, &self.our_name)
    }

    /// The member nodes (without `ready`); foreign children are an error.
    async fn members_now(&self, deadline: Option<Instant>) -> Result<Vec<String>> {
        let children = node::retry_read(&self.client, deadline, || {
            self.client.get_children(&self.path)
        })
        .await?;
        let mut members = Vec::new();
        let mut foreign = Vec::new();
        for c in children {
            if c == READY {
                continue;
            }
            // Curator's members are hyphenated UUIDs, kazoo's the 32-digit simple form.
            if uuid::Uuid::parse_str(&c).is_ok() && (c.len() == 36 || c.len() == 32) {
                members.push(c);
            } else {
                foreign.push(c);
            }
        }
        if !foreign.is_empty() {
            foreign.truncate(8);
            return Err(RecipeError::ForeignChildren {
                path: self.path.clone(),
                names: foreign,
            });
        }
        members.sort();
        Ok(members)
    }

    /// Fails when the session our member node belongs to is gone.
    fn check_session(&self) -> Result<()> {
        contend::check_client(&self.client)?;
        let ours = self.our_session.load(std::sync::atomic::Ordering::SeqCst);
        let event = *self.client.state_watcher().borrow();
        if ours != 0
            && (event.session_id != ours || event.state == zk_client::SessionState::Expired)
        {
            return Err(RecipeError::SessionExpired);
        }
        Ok(())
    }

    /// Enters and waits until `members` processes have entered.
    ///
    /// # Errors
    /// [`RecipeError::Deadline`] (our member node is removed again), session expiry, foreign
    /// children, closed client.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # async fn demo(barrier: zk_recipes::DoubleBarrier) -> zk_recipes::Result<()> {
    /// // returns once all `members` processes have entered
    /// barrier.enter(Some(Duration::from_secs(30))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn enter(&self, timeout: Option<Duration>) -> Result<()> {
        contend::check_client(&self.client)?;
        let started = Instant::now();
        let deadline = timeout.map(|t| started + t);
        paths::ensure_containers(&self.client, &self.path).await?;
        let session = self.client.session_id();
        match self
            .client
            .create(&self.our_path(), b"", &CreateOptions::ephemeral())
            .await
        {
            Ok(_) | Err(Error::NodeExists) => {}
            Err(e) if node::is_retryable(&e) => {
                node::wait_connected(&self.client, deadline).await?
            }
            Err(e) => return Err(e.into()),
        }
        self.our_session
            .store(session, std::sync::atomic::Ordering::SeqCst);
        let ready = paths::join(&self.path, READY);
        let result = async {
            loop {
                self.check_session()?;
                let (stat, watch) =
                    node::retry_read(&self.client, deadline, || self.client.exists_watch(&ready))
                        .await?;
                if stat.is_some() {
                    return Ok(());
                }
                let members = self.members_now(deadline).await?;
                if !members.contains(&self.our_name) {
                    return Err(RecipeError::SessionExpired);
                }
                if members.len() >= self.members {
                    match self
                        .client
                        .create(&ready, b"", &CreateOptions::persistent())
                        .await
                    {
                        Ok(_) | Err(Error::NodeExists) => return Ok(()),
                        Err(e) if node::is_retryable(&e) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                let event = match deadline {
                    Some(d) => tokio::time::timeout_at(d, watch)
                        .await
                        .map_err(|_| RecipeError::Deadline(started.elapsed()))?,
                    None => watch.await,
                };
                match event.event_type {
                    // Opened: pass, even if a quick member's leave (kazoo deletes `ready` as
                    // it starts leaving) took the node away again before we could look.
                    EventType::NodeCreated => return Ok(()),
                    EventType::None => self.check_session()?,
                    _ => {}
                }
            }
        }
        .await;
        if result.is_err() {
            let _ = self.client.delete(&self.our_path(), None).await;
        }
        result
    }

    /// Leaves and waits until every member has left.
    ///
    /// # Errors
    /// [`RecipeError::Deadline`], closed client, foreign children.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # async fn demo(barrier: zk_recipes::DoubleBarrier) -> zk_recipes::Result<()> {
    /// barrier.enter(None).await?;
    /// // ... work ...
    /// barrier.leave(Some(Duration::from_secs(30))).await?; // returns once every member has left
    /// # Ok(()) }
    /// ```
    pub async fn leave(&self, timeout: Option<Duration>) -> Result<()> {
        contend::check_client(&self.client)?;
        let started = Instant::now();
        let deadline = timeout.map(|t| started + t);
        match self.client.delete(&self.our_path(), None).await {
            Ok(()) | Err(Error::NoNode) => {}
            Err(e) if node::is_retryable(&e) => {
                node::wait_connected(&self.client, deadline).await?;
                let path = self.our_path();
                let _ = node::retry_read(&self.client, deadline, || async {
                    match self.client.delete(&path, None).await {
                        Err(Error::NoNode) => Ok(()),
                        other => other,
                    }
                })
                .await;
            }
            Err(e) => return Err(e.into()),
        }
        loop {
            let (children, _, watch) = node::retry_read(&self.client, deadline, || {
                self.client.get_children_watch(&self.path)
            })
            .await?;
            let members: Vec<&String> = children.iter().filter(|c| c.as_str() != READY).collect();
            if members.is_empty() {
                // The last one out takes the ready node away for the next round.
                match self
                    .client
                    .delete(&paths::join(&self.path, READY), None)
                    .await
                {
                    Ok(()) | Err(Error::NoNode) => {}
                    Err(e) if node::is_retryable(&e) => {}
                    Err(e) => return Err(e.into()),
                }
                return Ok(());
            }
            contend::wait_until(watch, deadline)
                .await
                .map_err(|()| RecipeError::Deadline(started.elapsed()))?;
        }
    }
}
