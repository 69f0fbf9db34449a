//! Leader selection: run an async task while this process leads (Curator `LeaderSelector`,
//! kazoo `Election.run`), cancelled the moment leadership is lost.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use zk_client::Client;

use crate::error::{RecipeError, Result};
use crate::flavor::{ErrorPolicy, Flavor};
use crate::mutex::{Contender, Mutex, MutexOptions};
use crate::ownership::{LossReason, OwnershipWatch};

/// Options of a [`LeaderSelector`].
///
/// ```
/// use zk_recipes::LeaderSelectorOptions;
/// let opts = LeaderSelectorOptions::default().id("a").requeue(true);
/// assert!(opts.requeue);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LeaderSelectorOptions {
    /// Node layout: Curator `LeaderSelector` (an `InterProcessMutex`: `_c_<uuid>-lock-<seq>`)
    /// or kazoo `Election` (`<hex>__lock__<seq>`).
    pub flavor: Flavor,
    /// This participant's id, stored as its node's data.
    pub id: String,
    /// What counts as losing leadership.
    pub policy: ErrorPolicy,
    /// After the task ends (or leadership is lost), queue up again.
    pub requeue: bool,
}

impl LeaderSelectorOptions {
    /// Sets the flavour.
    ///
    /// ```
    /// use zk_recipes::{Flavor, LeaderSelectorOptions};
    /// let opts = LeaderSelectorOptions::default().flavor(Flavor::Kazoo);
    /// assert_eq!(opts.flavor, Flavor::Kazoo);
    /// ```
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// Sets the id.
    ///
    /// ```
    /// let opts = zk_recipes::LeaderSelectorOptions::default().id("node-a");
    /// assert_eq!(opts.id, "node-a");
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the error policy.
    ///
    /// ```
    /// use zk_recipes::{ErrorPolicy, LeaderSelectorOptions};
    /// let opts = LeaderSelectorOptions::default().policy(ErrorPolicy::Session);
    /// assert_eq!(opts.policy, ErrorPolicy::Session);
    /// ```
    pub fn policy(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Queue up again after each leadership.
    ///
    /// ```
    /// let opts = zk_recipes::LeaderSelectorOptions::default();
    /// assert!(!opts.requeue); // one leadership by default
    /// assert!(opts.requeue(true).requeue);
    /// ```
    pub fn requeue(mut self, requeue: bool) -> Self {
        self.requeue = requeue;
        self
    }
}

/// What the leader task gets: its fencing token, a token that fires when leadership is lost
/// (the task's future is also dropped right after), and an observer of the leadership.
///
/// ```no_run
/// use zk_recipes::Leadership;
/// async fn lead(leadership: Leadership) {
///     tokio::select! {
///         () = leadership.cancel.cancelled() => {}
///         () = async { /* leader work, fenced with leadership.token */ } => {}
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Leadership {
    /// The fencing token.
    pub token: i64,
    /// Fired when leadership ends (loss, interruption, close).
    pub cancel: CancellationToken,
    /// The leadership itself (`is_held`, `valid_until`, `lost`).
    pub watch: OwnershipWatch,
}

/// How one leadership ended.
///
/// ```no_run
/// # fn demo(selector: zk_recipes::LeaderSelector) {
/// if let Some((token, zk_recipes::LeadershipEnd::Lost(reason))) = selector.last_end() {
///     eprintln!("leadership {token} lost: {reason}");
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadershipEnd {
    /// The task returned; leadership was given up.
    Finished,
    /// Leadership was lost; the task was cancelled.
    Lost(LossReason),
    /// [`LeaderSelector::interrupt_leadership`] or close cancelled the task.
    Interrupted,
}

struct Inner {
    mutex: Mutex,
    current: watch::Sender<Option<OwnershipWatch>>,
    ends: watch::Sender<Option<(i64, LeadershipEnd)>>,
    interrupt: Notify,
    close: CancellationToken,
    done: watch::Sender<bool>,
}

/// Runs `task` whenever this process becomes leader. When leadership is lost the task's
/// cancellation token fires and its future is dropped at once: no leader code runs after the
/// loss was observed. With `requeue`, the selector queues up again after each leadership.
///
/// ```no_run
/// use zk_recipes::{LeaderSelector, LeaderSelectorOptions, Leadership};
/// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
/// let selector = LeaderSelector::start(
///     client,
///     "/app/scheduler",
///     LeaderSelectorOptions::default().id("node-a").requeue(true),
///     |leadership: Leadership| async move {
///         while !leadership.cancel.is_cancelled() {
///             // schedule jobs, fenced with leadership.token
///             tokio::time::sleep(std::time::Duration::from_secs(1)).await;
///         }
///     },
/// )?;
/// // ...
/// selector.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LeaderSelector {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LeaderSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderSelector")
            .field("path", &self.inner.mutex.path())
            .field("leading", &self.has_leadership())
            .finish()
    }
}

impl LeaderSelector {
    /// Joins the election at `path` and runs `task` while leading.
    ///
    /// # Errors
    /// [`RecipeError::InvalidPath`], [`RecipeError::Closed`].
    ///
    /// ```no_run
    /// use zk_recipes::{LeaderSelector, LeaderSelectorOptions, Leadership};
    /// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
    /// let selector = LeaderSelector::start(
    ///     client,
    ///     "/app/scheduler",
    ///     LeaderSelectorOptions::default().id("node-a").requeue(true),
    ///     |leadership: Leadership| async move {
    ///         tokio::select! {
    ///             () = leadership.cancel.cancelled() => {} // lost or interrupted
    ///             () = async { /* leader work, fenced with leadership.token */ } => {}
    ///         }
    ///     },
    /// )?;
    /// # drop(selector); Ok(()) }
    /// ```
    pub fn start<F, Fut>(
        client: Client,
        path: &str,
        options: LeaderSelectorOptions,
        task: F,
    ) -> Result<Self>
    where
        F: FnMut(Leadership) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        crate::contend::check_client(&client)?;
        let mutex = Mutex::new(
            client,
            path,
            MutexOptions::default()
                .flavor(options.flavor)
                .id(options.id.clone())
                .policy(options.policy),
        )?;
        let inner = Arc::new(Inner {
            mutex,
            current: watch::channel(None).0,
            ends: watch::channel(None).0,
            interrupt: Notify::new(),
            close: CancellationToken::new(),
            done: watch::channel(false).0,
        });
        tokio::spawn(run(inner.clone(), options.requeue, task));
        Ok(Self { inner })
    }

    /// Whether this process leads right now.
    ///
    /// ```no_run
    /// # fn demo(selector: zk_recipes::LeaderSelector) {
    /// println!("leading: {}", selector.has_leadership());
    /// # }
    /// ```
    pub fn has_leadership(&self) -> bool {
        self.inner
            .current
            .borrow()
            .as_ref()
            .is_some_and(OwnershipWatch::is_held)
    }

    /// The participants in queue order (the first leads).
    ///
    /// # Errors
    /// Foreign children, client errors.
    ///
    /// ```no_run
    /// # async fn demo(selector: zk_recipes::LeaderSelector) -> zk_recipes::Result<()> {
    /// let queue = selector.participants().await?;
    /// println!("{} participants, leader {:?}", queue.len(), queue.first().map(|c| &c.id));
    /// # Ok(()) }
    /// ```
    pub async fn participants(&self) -> Result<Vec<Contender>> {
        self.inner.mutex.contenders().await
    }

    /// The current leader's id, if any.
    ///
    /// # Errors
    /// As [`participants`](Self::participants).
    ///
    /// ```no_run
    /// # async fn demo(selector: zk_recipes::LeaderSelector) -> zk_recipes::Result<()> {
    /// if let Some(id) = selector.leader_id().await? {
    ///     println!("current leader: {id}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn leader_id(&self) -> Result<Option<String>> {
        Ok(self.participants().await?.into_iter().next().map(|c| c.id))
    }

    /// How the latest leadership ended (its token and why), once one has.
    ///
    /// ```no_run
    /// use zk_recipes::LeadershipEnd;
    /// # fn demo(selector: zk_recipes::LeaderSelector) {
    /// if let Some((token, LeadershipEnd::Lost(reason))) = selector.last_end() {
    ///     eprintln!("leadership {token} was lost: {reason}");
    /// }
    /// # }
    /// ```
    pub fn last_end(&self) -> Option<(i64, LeadershipEnd)> {
        *self.inner.ends.borrow()
    }

    /// A receiver of leadership ends, for waiting on them.
    ///
    /// ```no_run
    /// # async fn demo(selector: zk_recipes::LeaderSelector) {
    /// let mut ends = selector.ends();
    /// while ends.changed().await.is_ok() {
    ///     if let Some((token, end)) = ends.borrow_and_update().clone() {
    ///         println!("leadership {token} ended: {end:?}");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn ends(&self) -> watch::Receiver<Option<(i64, LeadershipEnd)>> {
        self.inner.ends.subscribe()
    }

    /// Cancels the running leader task (if any); with `requeue` the selector queues again.
    ///
    /// ```no_run
    /// # fn demo(selector: zk_recipes::LeaderSelector) {
    /// // the running task's `leadership.cancel` fires; with `requeue` the selector queues again
    /// selector.interrupt_leadership();
    /// # }
    /// ```
    pub fn interrupt_leadership(&self) {
        self.inner.interrupt.notify_one();
    }

    /// Cancels the task, gives leadership up and leaves the election.
    ///
    /// ```no_run
    /// # async fn demo(selector: zk_recipes::LeaderSelector) {
    /// selector.close().await;
    /// assert!(!selector.has_leadership());
    /// # }
    /// ```
    pub async fn close(&self) {
        self.inner.close.cancel();
        let mut done = self.inner.done.subscribe();
        let _ = done.wait_for(|d| *d).await;
    }
}

async fn run<F, Fut>(inner: Arc<Inner>, requeue: bool, mut task: F)
where
    F: FnMut(Leadership) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let guard = match inner.mutex.acquire_cancellable(inner.close.clone()).await {
            Ok(g) => g,
            Err(RecipeError::Cancelled | RecipeError::Closed) => break,
            Err(e) => {
                tracing::debug!(error = %e, "leader selector: acquire failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_millis(200)) => continue,
                    () = inner.close.cancelled() => break,
                }
            }
        };
        let leadership = Leadership {
            token: guard.token(),
            cancel: CancellationToken::new(),
            watch: guard.watch(),
        };
        inner.current.send_replace(Some(guard.watch()));
        let cancel = leadership.cancel.clone();
        let token = leadership.token;
        let mut work = Box::pin(task(leadership));
        let end = tokio::select! {
            () = &mut work => LeadershipEnd::Finished,
            reason = guard.lost() => LeadershipEnd::Lost(reason),
            () = inner.interrupt.notified() => LeadershipEnd::Interrupted,
            () = inner.close.cancelled() => LeadershipEnd::Interrupted,
        };
        // First the token (so that anything the task spawned learns it), then the future is
        // dropped: no leader code of this leadership runs after this point.
        cancel.cancel();
        drop(work);
        inner.current.send_replace(None);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), guard.release()).await;
        inner.ends.send_replace(Some((token, end)));
        if !requeue || inner.close.is_cancelled() {
            break;
        }
    }
    inner.current.send_replace(None);
    inner.done.send_replace(true);
}
