//! The acquisition loop shared by every sequential-node recipe (mutex, read-write lock,
//! semaphore leases, leader latch): protected create sent with the listing that proves the
//! order, strict child filtering, herd-free waiting (the predecessor and the one before it;
//! the next in line holds on its predecessor's deletion), proof of ownership, deadline and
//! cancellation.

mod wait;

use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wait::{Waited, Watches};
use zk_client::{Client, Error, Stat};

use crate::error::{RecipeError, Result};
use crate::flavor::{ErrorPolicy, Flavor};
use crate::names::{self, NamePattern, SequencedChild};
use crate::node::{self, CleanupOnDrop, OwnNode};
use crate::ownership::{HoldShared, HoldState, OwnershipGuard, lease_len};
use crate::paths;

/// What the recipe decides from the sorted contenders and our index among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// We hold it.
    Acquire,
    /// Wait for this child (a name) to go away, then look again.
    WaitFor(String),
    /// Wait for this child to go away; then we hold it without looking again: every other
    /// contender that could come first was already gone at our look, and contenders created
    /// later sort after us (sequence numbers only grow). Saves the handoff a round trip.
    Next(String),
    /// Wait for `pred` to go away, then look again; if `earlier` (the contender just before
    /// `pred`) goes first, look again at once: we may be next now, and a [`Decision::Next`]
    /// made before `pred` goes spares the handoff a read. One extra watch per waiter: no herd.
    Queued {
        /// The contender just before us.
        pred: String,
        /// The contender just before `pred`.
        earlier: String,
    },
    /// Wait for any change of the children (only for recipes where a lock already keeps
    /// other waiters out, so there is no herd).
    WaitChildren,
}

/// The recipe-specific parts of one acquisition.
pub(crate) struct Spec<'a> {
    pub(crate) client: &'a Client,
    /// The recipe path (the parent of the contenders).
    pub(crate) path: &'a str,
    pub(crate) flavor: Flavor,
    /// Which children count (and which are foreign).
    pub(crate) pattern: &'a NamePattern,
    /// Children that are neither contenders nor foreign.
    pub(crate) ignore: &'a [&'a str],
    /// Curator marker (e.g. `lock-`) and kazoo marker (e.g. `__lock__`) of the node we create.
    pub(crate) curator_marker: &'a str,
    pub(crate) kazoo_marker: &'a str,
    pub(crate) data: &'a [u8],
    pub(crate) policy: ErrorPolicy,
    /// The decision rule.
    pub(crate) decide: &'a DecideFn,
}

/// A decision rule: sorted contenders and our index in, decision out.
pub(crate) type DecideFn = dyn Fn(&[SequencedChild], usize) -> Decision + Send + Sync;

/// When to give up waiting.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wait {
    pub(crate) deadline: Option<Instant>,
    pub(crate) cancel: Option<CancellationToken>,
    /// Try once: if not acquired at the first look, give up.
    pub(crate) try_once: bool,
}

impl Wait {
    /// Wait until `deadline`.
    pub(crate) fn until(deadline: Instant) -> Self {
        Wait {
            deadline: Some(deadline),
            ..Wait::default()
        }
    }

    /// Wait at most `timeout` from now.
    pub(crate) fn within(timeout: Duration) -> Self {
        Self::until(Instant::now() + timeout)
    }

    /// Wait until `cancel` fires.
    pub(crate) fn cancelled_by(cancel: CancellationToken) -> Self {
        Wait {
            cancel: Some(cancel),
            ..Wait::default()
        }
    }

    /// Look once; do not wait.
    pub(crate) fn once() -> Self {
        Wait {
            try_once: true,
            ..Wait::default()
        }
    }

    pub(crate) fn elapsed_error(&self, started: Instant) -> RecipeError {
        RecipeError::Deadline(Instant::now().saturating_duration_since(started))
    }
}

/// A try-acquire's answer: `None` when it would have had to wait.
pub(crate) fn none_if_busy<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(g) => Ok(Some(g)),
        Err(RecipeError::Deadline(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A fresh protected name for `flavor`: (search prefix, name to create).
pub(crate) fn fresh_name(
    flavor: Flavor,
    curator_marker: &str,
    kazoo_marker: &str,
) -> (String, String) {
    let id = uuid::Uuid::new_v4();
    match flavor {
        Flavor::Curator => {
            let prefix = names::curator_protection_prefix(&id);
            let name = format!("{prefix}{curator_marker}");
            (prefix, name)
        }
        Flavor::Kazoo => {
            let prefix = names::kazoo_protection_prefix(&id);
            let name = format!("{prefix}{kazoo_marker}");
            (prefix, name)
        }
    }
}

/// Fails fast on a client that is closed or whose session is gone for good.
pub(crate) fn check_client(client: &Client) -> Result<()> {
    match client.state() {
        zk_client::SessionState::Closed | zk_client::SessionState::AuthFailed => {
            Err(RecipeError::Closed)
        }
        _ => Ok(()),
    }
}

/// Sorts `path`'s children; foreign children are an error.
pub(crate) fn contenders(spec: &Spec<'_>, children: &[String]) -> Result<Vec<SequencedChild>> {
    let sorted = names::sort_children(spec.pattern, children, spec.ignore);
    if !sorted.foreign.is_empty() {
        let mut names = sorted.foreign;
        names.truncate(8);
        return Err(RecipeError::ForeignChildren {
            path: spec.path.to_owned(),
            names,
        });
    }
    Ok(sorted.contenders)
}

/// Acquires: returns a guard only once our node is proven ours and first by `spec.decide`.
/// Whatever happens before that (error, deadline, cancellation, the future dropped), the node
/// it created is removed.
pub(crate) async fn acquire(spec: &Spec<'_>, wait: &Wait) -> Result<OwnershipGuard> {
    let started = Instant::now();
    let client = spec.client;
    check_client(client)?;
    paths::validate(spec.path)?;
    with_cancel(wait, started, async {
        let mut cleanup = CleanupOnDrop {
            client: client.clone(),
            node: None,
        };
        let out = contend(spec, wait, started, &mut cleanup).await;
        if out.is_err() {
            cleanup.delete_now().await;
        }
        out
    })
    .await
}

/// The loop of [`acquire`]: `cleanup` holds the node created so far.
async fn contend(
    spec: &Spec<'_>,
    wait: &Wait,
    started: Instant,
    cleanup: &mut CleanupOnDrop,
) -> Result<OwnershipGuard> {
    let client = spec.client;
    let deadline = wait.deadline;
    // The watches of our node while it waits; the one on our own node is set once per node
    // and handed to the guard's monitor.
    let mut watches = Watches::default();
    loop {
        check_client(client)?;
        node::check_deadline(deadline).map_err(|_| wait.elapsed_error(started))?;
        let mut look = Look::start(client);
        let mut pipelined = None;
        let own = match &cleanup.node {
            Some(n) if n.session_id == client.session_id() => n.clone(),
            _ => {
                watches.reset();
                node::wait_connected(client, deadline).await?;
                look = Look::start(client);
                let fresh = || fresh_name(spec.flavor, spec.curator_marker, spec.kazoo_marker);
                // The create and the read that proves the order, sent back to back: a
                // session's requests are processed in order, so a listing that holds our
                // node was read after it was created (one round trip for both). A listing
                // without it (the create was retried) is read again below.
                let (created, listed) = create_and_list(client, spec, fresh, deadline).await;
                let created = created?;
                cleanup.node = Some(created.clone());
                if let Ok((children, _, watch)) = listed.await {
                    let own_name = paths::name_of(&created.path);
                    if children.iter().any(|c| c == own_name) {
                        pipelined = Some((children, Some(watch)));
                    }
                }
                created
            }
        };
        if pipelined.is_none() {
            // Snapshots before the read that proves the order: a session change or
            // disconnect after them is seen by the guard.
            look = Look::start(client);
        }
        let Look {
            events,
            before,
            sent,
        } = look;
        // Without a watch on our node yet, the read that proves the order also sets a
        // child watch on the recipe path: if we come first, it is the guard's deletion
        // signal until its task sets the data watch (Curator's count of requests: create,
        // getChildren, delete).
        let (children, child_watch) = if let Some(look) = pipelined {
            look
        } else if watches.own.is_none() {
            let (children, _, watch) =
                node::retry_read(client, deadline, || client.get_children_watch(spec.path)).await?;
            (children, Some(watch))
        } else {
            let children =
                node::retry_read(client, deadline, || client.get_children(spec.path)).await?;
            (children, None)
        };
        let sorted = contenders(spec, &children)?;
        let own_name = paths::name_of(&own.path);
        let Some(index) = sorted.iter().position(|c| c.name == own_name) else {
            // Our node is gone (session ended, or someone deleted it): start over.
            cleanup.node = None;
            continue;
        };
        let decision = (spec.decide)(&sorted, index);
        let next = matches!(decision, Decision::Next(_));
        let earlier = match &decision {
            Decision::Queued { earlier, .. } => Some(paths::join(spec.path, earlier)),
            _ => None,
        };
        match decision {
            Decision::Acquire => {
                let after = *client.state_watcher().borrow();
                let steady = before.session_id == own.session_id
                    && after.session_id == own.session_id
                    && after.disconnects == before.disconnects
                    && before.state == zk_client::SessionState::Connected;
                if !steady {
                    // Disconnected meanwhile: look again rather than hand out a guard
                    // that is already lost. (A read-only server counts as connected for
                    // the wait but cannot prove anything: do not spin on it.)
                    node::wait_connected(client, deadline).await?;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let token = match own.czxid {
                    0 => match prove_node(client, &own, spec.policy, deadline).await? {
                        Some(guard) => {
                            cleanup.disarm();
                            return Ok(guard);
                        }
                        None => {
                            cleanup.node = None;
                            continue;
                        }
                    },
                    czxid => czxid,
                };
                let guard = build_guard(
                    client,
                    &own,
                    token,
                    spec.policy,
                    before,
                    sent,
                    events,
                    watches.own.take().or(child_watch),
                );
                cleanup.disarm();
                return Ok(guard);
            }
            Decision::WaitFor(_)
            | Decision::Next(_)
            | Decision::Queued { .. }
            | Decision::WaitChildren
                if wait.try_once =>
            {
                return Err(wait.elapsed_error(started));
            }
            Decision::WaitChildren => match client.get_children_watch(spec.path).await {
                Ok((now, _, watch)) => {
                    if now != children {
                        continue;
                    }
                    if let Waited::OwnGone = watches.wait_children(watch, deadline).await? {
                        cleanup.node = None;
                    }
                }
                Err(e) if node::is_retryable(&e) => {
                    node::wait_connected(client, deadline).await?;
                }
                Err(e) => return Err(e.into()),
            },
            Decision::WaitFor(pred) | Decision::Next(pred) | Decision::Queued { pred, .. } => {
                let pred = paths::join(spec.path, &pred);
                match watches
                    .wait(client, &own, &pred, earlier.as_deref(), deadline)
                    .await?
                {
                    Waited::LookAgain => {}
                    Waited::OwnGone => cleanup.node = None,
                    Waited::PredecessorDeleted(watch_sent) if next && own.czxid != 0 => {
                        // Held without another read if nothing happened to the session
                        // since the look that made us next.
                        let now = *client.state_watcher().borrow();
                        let steady = before.session_id == own.session_id
                            && now.session_id == own.session_id
                            && now.disconnects == before.disconnects
                            && before.state == zk_client::SessionState::Connected
                            && now.state == zk_client::SessionState::Connected;
                        if steady {
                            let guard = build_guard(
                                client,
                                &own,
                                own.czxid,
                                spec.policy,
                                before,
                                watch_sent,
                                events,
                                watches.own.take(),
                            );
                            cleanup.disarm();
                            return Ok(guard);
                        }
                    }
                    Waited::PredecessorDeleted(_) => {}
                }
            }
        }
    }
}

/// The protected create and, sent right behind it, a watched listing of the recipe path.
/// Returns the create's outcome as soon as it is known (so the caller records its node before
/// anything else can be cancelled) and the listing, still running if not done yet.
async fn create_and_list<'a>(
    client: &'a Client,
    spec: &'a Spec<'_>,
    fresh: impl Fn() -> (String, String),
    deadline: Option<Instant>,
) -> (
    Result<OwnNode>,
    futures::future::BoxFuture<'a, zk_client::Result<(Vec<String>, Stat, zk_client::OneshotWatch)>>,
) {
    let mut listing = client.get_children_watch(spec.path).boxed();
    let mut listed = None;
    let create = node::protected_create(client, spec.path, fresh, spec.data, deadline);
    tokio::pin!(create);
    // The create is polled first, so it is queued first.
    let created = std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = create.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if listed.is_none()
            && let Poll::Ready(out) = listing.as_mut().poll(cx)
        {
            listed = Some(out);
        }
        Poll::Pending
    })
    .await;
    let rest = match listed {
        Some(out) => futures::future::ready(out).boxed(),
        None => listing,
    };
    (created, rest)
}

/// What is noted just before a read that proves the order: the session's event stream (for
/// the guard), its state, and the send time (the lease starts there).
struct Look {
    events: futures::stream::BoxStream<'static, zk_client::SessionUpdate>,
    before: zk_client::SessionEvent,
    sent: Instant,
}

impl Look {
    fn start(client: &Client) -> Self {
        // Subscribe first, so no session event after the snapshot can be missed.
        let events = client.session_events();
        Look {
            events,
            before: *client.state_watcher().borrow(),
            sent: Instant::now(),
        }
    }
}

/// The guard of a node proven first by a read sent at `sent`, with `before` the session state
/// just before that read.
#[allow(clippy::too_many_arguments)]
fn build_guard(
    client: &Client,
    own: &OwnNode,
    token: i64,
    policy: ErrorPolicy,
    before: zk_client::SessionEvent,
    sent: Instant,
    events: futures::stream::BoxStream<'static, zk_client::SessionUpdate>,
    own_watch: Option<zk_client::OneshotWatch>,
) -> OwnershipGuard {
    let timeout = client.session_timeout();
    let valid_until = sent + lease_len(timeout.max(Duration::from_millis(1)));
    let (tx, _) = tokio::sync::watch::channel(HoldState {
        lost: None,
        valid_until,
    });
    let shared = HoldShared {
        client: client.clone(),
        node: own.path.clone(),
        token,
        session_id: own.session_id,
        policy,
        disconnects: before.disconnects,
        verified_disconnects: std::sync::atomic::AtomicU64::new(before.disconnects),
        tx,
    };
    OwnershipGuard::start(shared, events, own_watch)
}

/// Waits for a watch to fire, or `Err` at the deadline.
pub(crate) async fn wait_until(
    watch: zk_client::OneshotWatch,
    deadline: Option<Instant>,
) -> Result<(), ()> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, watch)
            .await
            .map(|_| ())
            .map_err(|_| ()),
        None => {
            let _ = watch.await;
            Ok(())
        }
    }
}

/// Races `fut` against the wait's cancellation token.
pub(crate) async fn with_cancel<T>(
    wait: &Wait,
    started: Instant,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let out = match &wait.cancel {
        Some(token) => tokio::select! {
            out = fut => out,
            () = token.cancelled() => Err(RecipeError::Cancelled),
        },
        None => fut.await,
    };
    out.map_err(|e| match e {
        RecipeError::Deadline(_) => {
            RecipeError::Deadline(Instant::now().saturating_duration_since(started))
        }
        e => e,
    })
}

/// Proves `own` ours (exists, owned by the current session) and builds its guard.
pub(crate) async fn prove_node(
    client: &Client,
    own: &OwnNode,
    policy: ErrorPolicy,
    deadline: Option<Instant>,
) -> Result<Option<OwnershipGuard>> {
    // Subscribe before the proof, so no session event after it can be missed.
    let events = client.session_events();
    // Read before the proof: a disconnect during or after it counts as a loss.
    let event = *client.state_watcher().borrow();
    let sent = Instant::now();
    let stat = match node::retry_read(client, deadline, || client.get_data(&own.path)).await {
        Ok((_, stat)) => stat,
        Err(RecipeError::Client(Error::NoNode)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if stat.ephemeral_owner != own.session_id
        || event.session_id != own.session_id
        || client.session_id() != own.session_id
    {
        return Ok(None);
    }
    Ok(Some(build_guard(
        client, own, stat.czxid, policy, event, sent, events, None,
    )))
}

/// The mutex rule: among the first `max` we hold. Otherwise, with one holder (`max` 1), wait
/// for the contender just before us (next in line: its deletion makes us the holder); with
/// more, any deletion before us may let us in, so wait for any change of the children.
pub(crate) fn first_n(max: usize) -> impl Fn(&[SequencedChild], usize) -> Decision + Send + Sync {
    move |sorted, index| {
        if index < max {
            Decision::Acquire
        } else if max > 1 {
            Decision::WaitChildren
        } else if index == 1 {
            Decision::Next(sorted[0].name.clone())
        } else {
            Decision::Queued {
                pred: sorted[index - 1].name.clone(),
                earlier: sorted[index - 2].name.clone(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Decision, first_n};
    use crate::names::SequencedChild;

    fn line(n: usize) -> Vec<SequencedChild> {
        (0..n)
            .map(|i| SequencedChild {
                name: format!("lock-{i:010}"),
                sequence: i as i64,
                marker: 0,
            })
            .collect()
    }

    #[test]
    fn first_n_says_whom_to_wait_for_and_when_we_are_next() {
        let sorted = line(5);
        let mutex = first_n(1);
        assert_eq!(mutex(&sorted, 0), Decision::Acquire);
        // Second in line: the holder's deletion makes us the holder.
        assert_eq!(mutex(&sorted, 1), Decision::Next("lock-0000000000".into()));
        // Further back: wait for the one before, and watch the one before that.
        assert_eq!(
            mutex(&sorted, 3),
            Decision::Queued {
                pred: "lock-0000000002".into(),
                earlier: "lock-0000000001".into()
            }
        );
        // Two holders: any deletion before us may let us in.
        let two = first_n(2);
        assert_eq!(two(&sorted, 1), Decision::Acquire);
        assert_eq!(two(&sorted, 2), Decision::WaitChildren);
    }
}
