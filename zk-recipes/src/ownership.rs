//! The ownership contract of RECIPES.md Part 1: the guard every exclusive or counted recipe
//! hands out, its fencing token, its loss signal and its lease deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zk_client::{Client, SessionState};

use crate::flavor::ErrorPolicy;
use crate::monitor;
use crate::node::delete_guaranteed;

/// Why a guard stopped being held. Once lost, a guard is never held again.
///
/// ```
/// use zk_recipes::LossReason;
/// assert_eq!(LossReason::LeaseExpired.to_string(), "lease_expired");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossReason {
    /// The connection dropped ([`ErrorPolicy::Standard`]).
    Suspended,
    /// The session expired (or the client moved to a new session).
    Expired,
    /// The client was closed.
    Closed,
    /// Our node was deleted (by someone else, or with the recipe path).
    NodeDeleted,
    /// Our node exists but belongs to another session.
    OwnerChanged,
    /// No answer from the server proved the session alive in time (see
    /// [`OwnershipGuard::valid_until`]).
    LeaseExpired,
    /// This process released it.
    Released,
}

impl std::fmt::Display for LossReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Suspended => "suspended",
            Self::Expired => "expired",
            Self::Closed => "closed",
            Self::NodeDeleted => "node_deleted",
            Self::OwnerChanged => "owner_changed",
            Self::LeaseExpired => "lease_expired",
            Self::Released => "released",
        })
    }
}

/// The state a guard's monitor publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HoldState {
    pub(crate) lost: Option<LossReason>,
    pub(crate) valid_until: Instant,
}

/// How long an answer proves the session alive: the session timeout minus a margin for clock
/// rate drift and the server's expiry tick (a tenth, at least 20 ms).
pub(crate) fn lease_len(timeout: Duration) -> Duration {
    let margin = (timeout / 10).max(Duration::from_millis(20));
    timeout.saturating_sub(margin)
}

/// Everything about one proven hold, shared by the guard, its observers and its monitor.
#[derive(Debug)]
pub(crate) struct HoldShared {
    pub(crate) client: Client,
    pub(crate) node: String,
    pub(crate) token: i64,
    pub(crate) session_id: i64,
    pub(crate) policy: ErrorPolicy,
    /// The client's disconnect counter when the hold was proven: any later disconnect means
    /// Suspended happened, even if the state is Connected again by now.
    pub(crate) disconnects: u64,
    /// [`ErrorPolicy::Session`]: the disconnect count at the last proof of our node; after a
    /// reconnect the hold reads as not held until the monitor has proven the node again.
    pub(crate) verified_disconnects: std::sync::atomic::AtomicU64,
    pub(crate) tx: watch::Sender<HoldState>,
}

impl HoldShared {
    /// Marks the hold lost (first reason wins); returns the reason in force.
    pub(crate) fn mark_lost(&self, reason: LossReason) -> LossReason {
        let mut out = reason;
        self.tx.send_if_modified(|s| match s.lost {
            Some(r) => {
                out = r;
                false
            }
            None => {
                s.lost = Some(reason);
                true
            }
        });
        out
    }

    /// Extends the lease to `until` (never shortens it), unless already lost.
    pub(crate) fn extend(&self, until: Instant) {
        self.tx.send_if_modified(|s| {
            if s.lost.is_none() && until > s.valid_until {
                s.valid_until = until;
                true
            } else {
                false
            }
        });
    }

    /// The loss in force now, checking the clock and the client's state directly (so a paused
    /// process learns on resume, before its monitor task has run). Records what it finds.
    pub(crate) fn check(&self) -> Option<LossReason> {
        let state = *self.tx.borrow();
        if let Some(r) = state.lost {
            return Some(r);
        }
        let event = *self.client.state_watcher().borrow();
        let reason = match event.state {
            SessionState::Expired => Some(LossReason::Expired),
            SessionState::Closed | SessionState::AuthFailed => Some(LossReason::Closed),
            // A read-only server is cut off from the quorum: its answers prove nothing about the
            // session (the quorum may have expired it), so it is a loss under every policy.
            SessionState::ConnectedReadOnly => Some(LossReason::Suspended),
            _ if event.session_id != self.session_id => Some(LossReason::Expired),
            SessionState::Suspended | SessionState::Connecting
                if self.policy == ErrorPolicy::Standard =>
            {
                Some(LossReason::Suspended)
            }
            _ if self.policy == ErrorPolicy::Standard && event.disconnects != self.disconnects => {
                Some(LossReason::Suspended)
            }
            _ => None,
        };
        if let Some(r) = reason {
            return Some(self.mark_lost(r));
        }
        if Instant::now() >= self.valid_until_now(state.valid_until) {
            return Some(self.mark_lost(LossReason::LeaseExpired));
        }
        None
    }

    /// The lease deadline: the later of our own probes' and the client's (pings included),
    /// each with the margin of [`lease_len`].
    pub(crate) fn valid_until_now(&self, probed: Instant) -> Instant {
        let lease = self.client.lease();
        if lease.session_id != self.session_id {
            return probed;
        }
        match lease.last_answered_send {
            Some(sent) => probed.max(sent + lease_len(lease.timeout)),
            None => probed,
        }
    }

    /// Held right now: not lost, and (under [`ErrorPolicy::Session`]) proven again since the
    /// last reconnect.
    pub(crate) fn held(&self) -> bool {
        if self.check().is_some() {
            return false;
        }
        self.policy == ErrorPolicy::Standard
            || self.client.state_watcher().borrow().disconnects
                == self
                    .verified_disconnects
                    .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resolves at the first loss.
    pub(crate) async fn lost(&self) -> LossReason {
        let mut rx = self.tx.subscribe();
        let mut states = self.client.state_watcher();
        loop {
            if let Some(r) = self.check() {
                return r;
            }
            let until = self.valid_until_now(rx.borrow_and_update().valid_until);
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return self.mark_lost(LossReason::Closed) },
                changed = states.changed() => if changed.is_err() { return self.mark_lost(LossReason::Closed) },
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }
}

/// Proof that this process holds a lock, a lease or a leadership: returned by `acquire()`.
///
/// - [`token`](Self::token) is the fencing token: the czxid of our node. Successive holders of
///   one lock get strictly increasing tokens, whatever library they use.
/// - [`is_held`](Self::is_held) is false from the first loss on: disconnect (under
///   [`ErrorPolicy::Standard`]), expiry, close, deletion of our node, or the lease deadline
///   [`valid_until`](Self::valid_until) passing (a paused process finds it false on resume).
/// - [`lost`](Self::lost) resolves at that moment; [`watch`](Self::watch) observes it.
/// - [`release`](Self::release) deletes our node. Dropping the guard deletes it in the
///   background, retrying until it succeeds or the session ends.
///
/// ```no_run
/// use zk_recipes::{Mutex, MutexOptions};
/// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
/// let mutex = Mutex::new(client, "/app/locks/orders", MutexOptions::default())?;
/// let guard = mutex.acquire().await?;
/// tokio::select! {
///     reason = guard.lost() => eprintln!("lost the lock: {reason}"),
///     () = async { /* work, sending guard.token() to fenced systems */ } => {}
/// }
/// guard.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard releases it"]
pub struct OwnershipGuard {
    shared: Arc<HoldShared>,
    stop: CancellationToken,
    released: bool,
}

/// A cheap, cloneable observer of a guard's state (does not own it).
///
/// ```no_run
/// # async fn demo(guard: zk_recipes::OwnershipGuard) {
/// let watch = guard.watch();
/// tokio::spawn(async move {
///     let reason = watch.lost().await;
///     eprintln!("lost: {reason}");
/// });
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct OwnershipWatch {
    shared: Arc<HoldShared>,
}

impl OwnershipWatch {
    /// The fencing token (czxid of our node).
    ///
    /// ```no_run
    /// # fn demo(watch: zk_recipes::OwnershipWatch) {
    /// let token = watch.token(); // the same token as the guard's
    /// # }
    /// ```
    pub fn token(&self) -> i64 {
        self.shared.token
    }

    /// Whether the guard is held right now (see [`OwnershipGuard::is_held`]).
    ///
    /// ```no_run
    /// # fn demo(watch: zk_recipes::OwnershipWatch) {
    /// while watch.is_held() {
    ///     // one step of work
    /// #   break;
    /// }
    /// # }
    /// ```
    pub fn is_held(&self) -> bool {
        self.shared.held()
    }

    /// Resolves at the first loss.
    ///
    /// ```no_run
    /// # async fn demo(watch: zk_recipes::OwnershipWatch) {
    /// let reason = watch.lost().await;
    /// eprintln!("lost: {reason}");
    /// # }
    /// ```
    pub async fn lost(&self) -> LossReason {
        self.shared.lost().await
    }

    /// The loss, if it happened.
    ///
    /// ```no_run
    /// # fn demo(watch: zk_recipes::OwnershipWatch) {
    /// if let Some(reason) = watch.loss() {
    ///     eprintln!("already lost: {reason}");
    /// }
    /// # }
    /// ```
    pub fn loss(&self) -> Option<LossReason> {
        self.shared.check()
    }

    /// The lease deadline (see [`OwnershipGuard::valid_until`]); `None` once lost.
    ///
    /// ```no_run
    /// # fn demo(watch: zk_recipes::OwnershipWatch) {
    /// match watch.valid_until() {
    ///     Some(until) => println!("lease until {until:?}"),
    ///     None => println!("lost"),
    /// }
    /// # }
    /// ```
    pub fn valid_until(&self) -> Option<Instant> {
        match self.shared.check() {
            Some(_) => None,
            None => Some(
                self.shared
                    .valid_until_now(self.shared.tx.borrow().valid_until),
            ),
        }
    }

    /// The full path of the node.
    ///
    /// ```no_run
    /// # fn demo(watch: zk_recipes::OwnershipWatch) {
    /// println!("our node: {}", watch.node());
    /// # }
    /// ```
    pub fn node(&self) -> &str {
        &self.shared.node
    }
}

impl OwnershipGuard {
    pub(crate) fn start(
        shared: HoldShared,
        events: futures::stream::BoxStream<'static, zk_client::SessionUpdate>,
        own_watch: Option<zk_client::OneshotWatch>,
    ) -> Self {
        let shared = Arc::new(shared);
        let stop = CancellationToken::new();
        tokio::spawn(monitor::run(
            shared.clone(),
            events,
            own_watch,
            stop.clone(),
        ));
        Self {
            shared,
            stop,
            released: false,
        }
    }

    /// The fencing token: our node's czxid. Strictly greater than every earlier holder's.
    ///
    /// ```no_run
    /// # async fn demo(guard: zk_recipes::OwnershipGuard) -> zk_recipes::Result<()> {
    /// let token = guard.token(); // send it with every write to a fenced store
    /// # Ok(()) }
    /// ```
    pub fn token(&self) -> i64 {
        self.shared.token
    }

    /// The full path of our node.
    ///
    /// ```no_run
    /// # fn demo(guard: zk_recipes::OwnershipGuard) {
    /// assert!(guard.node().starts_with('/'));
    /// # }
    /// ```
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    /// The session that owns our node.
    ///
    /// ```no_run
    /// # fn demo(guard: zk_recipes::OwnershipGuard) {
    /// println!("owned by session {:#x}", guard.session_id());
    /// # }
    /// ```
    pub fn session_id(&self) -> i64 {
        self.shared.session_id
    }

    /// Whether we hold it at this instant. Checks the clock and the client's state itself, so
    /// the answer is right even if this task was paused and nothing else ran since. Under
    /// [`ErrorPolicy::Session`] it is also false between a reconnect and the re-verification
    /// of our node (which follows at once).
    ///
    /// ```no_run
    /// # async fn demo(guard: zk_recipes::OwnershipGuard) -> zk_recipes::Result<()> {
    /// while guard.is_held() {
    ///     // one step of work, then check again
    /// #   break;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn is_held(&self) -> bool {
        self.shared.held()
    }

    /// The loss, if it happened.
    ///
    /// ```no_run
    /// # fn demo(guard: zk_recipes::OwnershipGuard) {
    /// if guard.loss().is_none() {
    ///     // not lost yet (the lease may still run out: check `is_held`)
    /// }
    /// # }
    /// ```
    pub fn loss(&self) -> Option<LossReason> {
        self.shared.check()
    }

    /// The lease deadline: the send time of the last request that proved our node and session
    /// alive, plus the session timeout, minus a margin. `None` once lost.
    ///
    /// ```no_run
    /// # async fn demo(guard: zk_recipes::OwnershipGuard) -> zk_recipes::Result<()> {
    /// if let Some(until) = guard.valid_until() {
    ///     let left = until.saturating_duration_since(tokio::time::Instant::now());
    ///     println!("held for at least {left:?} more, unless lost earlier");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn valid_until(&self) -> Option<Instant> {
        match self.shared.check() {
            Some(_) => None,
            None => Some(
                self.shared
                    .valid_until_now(self.shared.tx.borrow().valid_until),
            ),
        }
    }

    /// Resolves at the first loss (immediately if already lost).
    ///
    /// ```no_run
    /// # async fn demo(guard: zk_recipes::OwnershipGuard) -> zk_recipes::Result<()> {
    /// let reason = guard.lost().await;
    /// eprintln!("lost: {reason}");
    /// # Ok(()) }
    /// ```
    pub async fn lost(&self) -> LossReason {
        self.shared.lost().await
    }

    /// An observer that can be moved to other tasks.
    ///
    /// ```no_run
    /// # async fn demo(guard: zk_recipes::OwnershipGuard) {
    /// let watch = guard.watch();
    /// let worker = tokio::spawn(async move {
    ///     while watch.is_held() {
    ///         // work
    /// #       break;
    ///     }
    /// });
    /// # let _ = worker.await; }
    /// ```
    pub fn watch(&self) -> OwnershipWatch {
        OwnershipWatch {
            shared: self.shared.clone(),
        }
    }

    /// Releases: deletes our node (retrying across reconnects while the session lives).
    ///
    /// Returns `Ok` as well when the session is already gone (closed client, expiry): the
    /// server removes an ephemeral node with its session.
    ///
    /// # Errors
    /// Server errors other than `NoNode` (for example `NoAuth`).
    ///
    /// ```no_run
    /// # async fn demo(guard: zk_recipes::OwnershipGuard) -> zk_recipes::Result<()> {
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn release(mut self) -> crate::Result<()> {
        self.released = true;
        self.shared.mark_lost(LossReason::Released);
        let result = delete_guaranteed(
            &self.shared.client,
            &self.shared.node,
            self.shared.session_id,
        )
        .await;
        // Stopped after the delete: by then the watch on our node has fired, so the monitor
        // drops it without asking the server to remove it.
        self.stop.cancel();
        result
    }
}

impl Drop for OwnershipGuard {
    fn drop(&mut self) {
        self.stop.cancel();
        if self.released {
            return;
        }
        self.shared.mark_lost(LossReason::Released);
        crate::node::delete_in_background(
            self.shared.client.clone(),
            self.shared.node.clone(),
            self.shared.session_id,
        );
    }
}
