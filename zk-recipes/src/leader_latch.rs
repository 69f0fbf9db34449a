//! Leader election with a latch: Curator `LeaderLatch` and kazoo `Election` layouts.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zk_client::Client;

use crate::contend::{self, Spec, Wait};
use crate::error::{RecipeError, Result};
use crate::flavor::{ErrorPolicy, Flavor};
use crate::mutex::{self, Contender};
use crate::names::NamePattern;
use crate::node;
use crate::ownership::{LossReason, OwnershipWatch};
use crate::paths;

/// Curator's latch marker.
const CURATOR_MARKER: &str = "latch-";

/// Options of a [`LeaderLatch`].
///
/// ```
/// use zk_recipes::{Flavor, LeaderLatchOptions};
/// let opts = LeaderLatchOptions::default().id("node-a").flavor(Flavor::Kazoo);
/// assert_eq!(opts.id, "node-a");
/// ```
#[derive(Debug, Clone, Default)]
pub struct LeaderLatchOptions {
    /// Node layout: Curator `LeaderLatch` (`_c_<uuid>-latch-<seq>`) or kazoo `Election`
    /// (`<hex>__lock__<seq>`).
    pub flavor: Flavor,
    /// This participant's id, stored as its node's data.
    pub id: String,
    /// What counts as losing leadership.
    pub policy: ErrorPolicy,
}

impl LeaderLatchOptions {
    /// Sets the flavour.
    ///
    /// ```
    /// use zk_recipes::{Flavor, LeaderLatchOptions};
    /// let opts = LeaderLatchOptions::default().flavor(Flavor::Kazoo);
    /// assert_eq!(opts.flavor, Flavor::Kazoo);
    /// ```
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// Sets the id.
    ///
    /// ```
    /// let opts = zk_recipes::LeaderLatchOptions::default().id("node-a");
    /// assert_eq!(opts.id, "node-a");
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the error policy.
    ///
    /// ```
    /// use zk_recipes::{ErrorPolicy, LeaderLatchOptions};
    /// let opts = LeaderLatchOptions::default().policy(ErrorPolicy::Session);
    /// assert_eq!(opts.policy, ErrorPolicy::Session);
    /// ```
    pub fn policy(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }
}

/// A leadership transition, in order.
///
/// ```no_run
/// use futures::StreamExt;
/// use zk_recipes::LeadershipEvent;
/// # async fn demo(latch: zk_recipes::LeaderLatch) {
/// let mut events = latch.events();
/// if let Some(LeadershipEvent::Gained { token }) = events.next().await {
///     println!("leading with token {token}");
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadershipEvent {
    /// This participant became leader; `token` is its fencing token.
    Gained {
        /// The fencing token (czxid of our node).
        token: i64,
    },
    /// This participant stopped being leader.
    Lost {
        /// The token of the leadership that ended.
        token: i64,
        /// Why.
        reason: LossReason,
    },
}

/// What [`LeaderLatch::close`] tells the listeners.
///
/// ```no_run
/// # async fn demo(latch: zk_recipes::LeaderLatch) {
/// latch.close(zk_recipes::CloseMode::NotifyLeader).await;
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloseMode {
    /// Close without a `Lost` event.
    #[default]
    Silent,
    /// If leading, emit `Lost { reason: Released }`.
    NotifyLeader,
}

struct Inner {
    client: Client,
    path: String,
    options: LeaderLatchOptions,
    pattern: NamePattern,
    current: watch::Sender<Option<OwnershipWatch>>,
    events: broadcast::Sender<LeadershipEvent>,
    close: CancellationToken,
    close_mode: std::sync::Mutex<CloseMode>,
    last_error: std::sync::Mutex<Option<RecipeError>>,
    done: watch::Sender<bool>,
}

/// A leader latch: joins the election when started and stays in it until closed. One task per
/// latch does all the work; handles are cheap clones.
///
/// Leadership is an [`OwnershipWatch`] with a fencing token, a loss signal and a lease
/// deadline; [`has_leadership`](Self::has_leadership) is false the moment any of them says so.
/// After a loss the latch re-joins the queue (at the back) by itself.
///
/// ```no_run
/// use futures::StreamExt;
/// use zk_recipes::{LeaderLatch, LeaderLatchOptions, LeadershipEvent};
/// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
/// let latch = LeaderLatch::start(client, "/app/leader", LeaderLatchOptions::default().id("a"))?;
/// let mut events = latch.events();
/// while let Some(event) = events.next().await {
///     match event {
///         LeadershipEvent::Gained { token } => println!("leading with token {token}"),
///         LeadershipEvent::Lost { reason, .. } => println!("not leading: {reason}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LeaderLatch {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LeaderLatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderLatch")
            .field("path", &self.inner.path)
            .field("id", &self.inner.options.id)
            .field("leading", &self.has_leadership())
            .finish()
    }
}

impl LeaderLatch {
    /// Joins the election at `path` (spawns the latch's task).
    ///
    /// # Errors
    /// [`RecipeError::InvalidPath`], [`RecipeError::Closed`].
    ///
    /// ```no_run
    /// use zk_recipes::{LeaderLatch, LeaderLatchOptions};
    /// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
    /// let latch = LeaderLatch::start(client, "/app/leader", LeaderLatchOptions::default().id("node-a"))?;
    /// assert_eq!(latch.path(), "/app/leader");
    /// # Ok(()) }
    /// ```
    pub fn start(client: Client, path: &str, options: LeaderLatchOptions) -> Result<Self> {
        paths::validate(path)?;
        contend::check_client(&client)?;
        let pattern = match options.flavor {
            Flavor::Curator => NamePattern::curator(&[CURATOR_MARKER]),
            Flavor::Kazoo => NamePattern::kazoo(&[mutex::KAZOO_MARKER]),
        };
        let inner = Arc::new(Inner {
            client,
            path: path.to_owned(),
            options,
            pattern,
            current: watch::channel(None).0,
            events: broadcast::channel(256).0,
            close: CancellationToken::new(),
            close_mode: std::sync::Mutex::new(CloseMode::Silent),
            last_error: std::sync::Mutex::new(None),
            done: watch::channel(false).0,
        });
        tokio::spawn(run(inner.clone()));
        Ok(Self { inner })
    }

    /// The election path.
    ///
    /// ```no_run
    /// # fn demo(latch: zk_recipes::LeaderLatch) {
    /// assert_eq!(latch.path(), "/app/leader");
    /// # }
    /// ```
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// Whether this participant leads right now (proven, not lost, lease not expired).
    ///
    /// ```no_run
    /// # fn demo(latch: zk_recipes::LeaderLatch) {
    /// if latch.has_leadership() {
    ///     // leader-only housekeeping
    /// }
    /// # }
    /// ```
    pub fn has_leadership(&self) -> bool {
        self.leadership().is_some()
    }

    /// The current leadership (token, loss signal, lease), if leading.
    ///
    /// ```no_run
    /// # fn demo(latch: zk_recipes::LeaderLatch) {
    /// match latch.leadership() {
    ///     Some(l) => println!("leading with token {}", l.token()),
    ///     None => println!("following"),
    /// }
    /// # }
    /// ```
    pub fn leadership(&self) -> Option<OwnershipWatch> {
        self.inner
            .current
            .borrow()
            .as_ref()
            .filter(|w| w.is_held())
            .cloned()
    }

    /// Waits until this participant leads (or `timeout` passes:
    /// [`RecipeError::Deadline`]; or the latch closes: [`RecipeError::RecipeClosed`]).
    ///
    /// # Errors
    /// As above.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # async fn demo(latch: zk_recipes::LeaderLatch) -> zk_recipes::Result<()> {
    /// let leadership = latch.await_leadership(Some(Duration::from_secs(60))).await?;
    /// println!("leading, token {}", leadership.token());
    /// let reason = leadership.lost().await;
    /// eprintln!("no longer leader: {reason}");
    /// # Ok(()) }
    /// ```
    pub async fn await_leadership(&self, timeout: Option<Duration>) -> Result<OwnershipWatch> {
        let started = Instant::now();
        let mut rx = self.inner.current.subscribe();
        let wait = async {
            loop {
                if let Some(w) = rx.borrow_and_update().as_ref().filter(|w| w.is_held()) {
                    return Ok(w.clone());
                }
                if self.inner.close.is_cancelled() {
                    return Err(RecipeError::RecipeClosed);
                }
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() { return Err(RecipeError::RecipeClosed) },
                    () = self.inner.close.cancelled() => return Err(RecipeError::RecipeClosed),
                }
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, wait)
                .await
                .map_err(|_| RecipeError::Deadline(started.elapsed()))?,
            None => wait.await,
        }
    }

    /// Leadership transitions from now on (`Gained`, `Lost`), in order. If the leadership is
    /// already held when called, the stream starts with its `Gained`.
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use zk_recipes::LeadershipEvent;
    /// # async fn demo(latch: zk_recipes::LeaderLatch) {
    /// let mut events = latch.events();
    /// while let Some(event) = events.next().await {
    ///     match event {
    ///         LeadershipEvent::Gained { token } => println!("leader, token {token}"),
    ///         LeadershipEvent::Lost { .. } => println!("follower"),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn events(&self) -> BoxStream<'static, LeadershipEvent> {
        let rx = self.inner.events.subscribe();
        let first = self
            .leadership()
            .map(|w| LeadershipEvent::Gained { token: w.token() });
        // The task publishes the leadership before it broadcasts `Gained`, so the broadcast
        // may still carry the `Gained` reported above: skip that one duplicate.
        let rest = futures::stream::unfold((rx, first), |(mut rx, mut skip)| async move {
            loop {
                match rx.recv().await {
                    Ok(e) if Some(e) == skip.take() => continue,
                    Ok(e) => return Some((e, (rx, skip))),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        futures::StreamExt::boxed(futures::StreamExt::chain(
            futures::stream::iter(first),
            rest,
        ))
    }

    /// The participants in queue order (the first leads), with their ids.
    ///
    /// # Errors
    /// Foreign children, client errors.
    ///
    /// ```no_run
    /// # async fn demo(latch: zk_recipes::LeaderLatch) -> zk_recipes::Result<()> {
    /// for (i, p) in latch.participants().await?.iter().enumerate() {
    ///     println!("{i}: {} {}", p.id, if i == 0 { "(leader)" } else { "" });
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn participants(&self) -> Result<Vec<Contender>> {
        let decide = contend::first_n(1);
        mutex::list_contenders(&spec(&self.inner, &decide)).await
    }

    /// The id of the current leader, if any participant is there.
    ///
    /// # Errors
    /// As [`participants`](Self::participants).
    ///
    /// ```no_run
    /// # async fn demo(latch: zk_recipes::LeaderLatch) -> zk_recipes::Result<()> {
    /// if let Some(id) = latch.leader_id().await? {
    ///     println!("current leader: {id}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn leader_id(&self) -> Result<Option<String>> {
        Ok(self.participants().await?.into_iter().next().map(|c| c.id))
    }

    /// Why the latch's last attempt to join failed, if it did (it keeps retrying, with a
    /// back-off of up to 2 s): e.g. [`RecipeError::ForeignChildren`] on a path shared with
    /// another flavour. Cleared once it has joined.
    ///
    /// ```no_run
    /// # fn demo(latch: zk_recipes::LeaderLatch) {
    /// if let Some(e) = latch.last_error() {
    ///     eprintln!("latch cannot join yet (retrying): {e}");
    /// }
    /// # }
    /// ```
    pub fn last_error(&self) -> Option<RecipeError> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Leaves the election: gives leadership up (deleting our node) and stops the task.
    ///
    /// ```no_run
    /// use zk_recipes::CloseMode;
    /// # async fn demo(latch: zk_recipes::LeaderLatch) {
    /// latch.close(CloseMode::NotifyLeader).await; // a leader's `events()` sees `Lost`
    /// assert!(!latch.has_leadership());
    /// # }
    /// ```
    pub async fn close(&self, mode: CloseMode) {
        *self
            .inner
            .close_mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mode;
        self.inner.close.cancel();
        let mut done = self.inner.done.subscribe();
        let _ = done.wait_for(|d| *d).await;
    }
}

fn spec<'a>(inner: &'a Inner, decide: &'a contend::DecideFn) -> Spec<'a> {
    Spec {
        client: &inner.client,
        path: &inner.path,
        flavor: inner.options.flavor,
        pattern: &inner.pattern,
        ignore: &[],
        curator_marker: CURATOR_MARKER,
        kazoo_marker: mutex::KAZOO_MARKER,
        data: inner.options.id.as_bytes(),
        policy: inner.options.policy,
        decide,
    }
}

/// The latch's task: contend, lead until lost, re-contend; until closed.
async fn run(inner: Arc<Inner>) {
    let decide = contend::first_n(1);
    let mut backoff = Duration::from_millis(50);
    while !inner.close.is_cancelled() {
        let wait = Wait::cancelled_by(inner.close.clone());
        match contend::acquire(&spec(&inner, &decide), &wait).await {
            Ok(guard) => {
                backoff = Duration::from_millis(50);
                *inner
                    .last_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                let token = guard.token();
                inner.current.send_replace(Some(guard.watch()));
                let _ = inner.events.send(LeadershipEvent::Gained { token });
                let closed = tokio::select! {
                    reason = guard.lost() => {
                        inner.current.send_replace(None);
                        let _ = inner.events.send(LeadershipEvent::Lost { token, reason });
                        false
                    }
                    () = inner.close.cancelled() => {
                        inner.current.send_replace(None);
                        let mode = *inner.close_mode.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        if mode == CloseMode::NotifyLeader {
                            let _ = inner.events.send(LeadershipEvent::Lost { token, reason: LossReason::Released });
                        }
                        true
                    }
                };
                // Delete our node before re-queueing (bounded: a dead session's node goes
                // with the session).
                let _ = tokio::time::timeout(
                    inner.client.session_timeout().max(Duration::from_secs(1)),
                    guard.release(),
                )
                .await;
                if closed {
                    break;
                }
            }
            Err(RecipeError::Cancelled | RecipeError::Closed) => break,
            Err(e) => {
                *inner
                    .last_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.clone());
                tracing::debug!(path = inner.path, error = %e, "leader latch: contend failed; retrying");
                if matches!(
                    e,
                    RecipeError::ForeignChildren { .. } | RecipeError::InvalidPath { .. }
                ) {
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = inner.close.cancelled() => break,
                }
                let _ = node::wait_connected(
                    &inner.client,
                    Some(Instant::now() + Duration::from_secs(1)),
                )
                .await;
            }
        }
    }
    inner.current.send_replace(None);
    inner.done.send_replace(true);
}
