//! The acquisition loop shared by every sequential-node recipe (mutex, read-write lock,
//! semaphore leases, leader latch): protected create, strict child filtering, herd-free wait
//! on one predecessor, proof of ownership, deadline and cancellation.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zk_client::{Client, Error};

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
    fn elapsed_error(&self, started: Instant) -> RecipeError {
        RecipeError::Deadline(Instant::now().saturating_duration_since(started))
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
    let deadline = wait.deadline;
    with_cancel(wait, started, async {
        node::retry_read(client, deadline, || async {
            match paths::ensure_containers(client, spec.path).await {
                Ok(()) => Ok(()),
                Err(RecipeError::Client(e)) => Err(e),
                Err(RecipeError::Closed) => Err(Error::Closed),
                Err(RecipeError::SessionExpired) => Err(Error::SessionExpired),
                Err(_) => Err(Error::NoNode),
            }
        })
        .await?;
        let mut cleanup = CleanupOnDrop {
            client: client.clone(),
            node: None,
        };
        loop {
            check_client(client)?;
            node::check_deadline(deadline).map_err(|_| wait.elapsed_error(started))?;
            let own = match &cleanup.node {
                Some(n) if n.session_id == client.session_id() => n.clone(),
                _ => {
                    node::wait_connected(client, deadline).await?;
                    let fresh = || fresh_name(spec.flavor, spec.curator_marker, spec.kazoo_marker);
                    let created =
                        node::protected_create(client, spec.path, fresh, spec.data, deadline)
                            .await?;
                    cleanup.node = Some(created.clone());
                    created
                }
            };
            let children =
                node::retry_read(client, deadline, || client.get_children(spec.path)).await?;
            let sorted = contenders(spec, &children)?;
            let own_name = paths::name_of(&own.path);
            let Some(index) = sorted.iter().position(|c| c.name == own_name) else {
                // Our node is gone (session ended, or someone deleted it): start over.
                cleanup.node = None;
                continue;
            };
            match (spec.decide)(&sorted, index) {
                Decision::Acquire => {
                    if let Some(guard) = prove(spec, &own, deadline).await? {
                        cleanup.disarm();
                        return Ok(guard);
                    }
                    cleanup.node = None;
                }
                Decision::WaitFor(_) if wait.try_once => {
                    return Err(wait.elapsed_error(started));
                }
                Decision::WaitFor(name) => {
                    let pred = paths::join(spec.path, &name);
                    match client.get_data_watch(&pred).await {
                        Ok((_, _, watch)) => {
                            let woke = async {
                                let _ = watch.await;
                            };
                            match deadline {
                                Some(d) => {
                                    if tokio::time::timeout_at(d, woke).await.is_err() {
                                        return Err(wait.elapsed_error(started));
                                    }
                                }
                                None => woke.await,
                            }
                        }
                        Err(Error::NoNode) => {}
                        Err(e) if node::is_retryable(&e) => {
                            node::wait_connected(client, deadline).await?;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    })
    .await
}

/// Races `fut` against the wait's cancellation token.
async fn with_cancel<T>(
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

/// Proves the node ours (exists, `ephemeralOwner` is the current session) and builds the
/// guard; `None` when the proof fails (the caller starts over).
async fn prove(
    spec: &Spec<'_>,
    own: &OwnNode,
    deadline: Option<Instant>,
) -> Result<Option<OwnershipGuard>> {
    let client = spec.client;
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
    let timeout = client.session_timeout();
    let valid_until = sent + lease_len(timeout.max(Duration::from_millis(1)));
    let (tx, _) = tokio::sync::watch::channel(HoldState {
        lost: None,
        valid_until,
    });
    let shared = HoldShared {
        client: client.clone(),
        node: own.path.clone(),
        token: stat.czxid,
        session_id: own.session_id,
        policy: spec.policy,
        disconnects: event.disconnects,
        tx,
    };
    Ok(Some(OwnershipGuard::start(shared, events)))
}

/// The mutex rule: among the first `max` we hold; else wait for the one just before us.
pub(crate) fn first_n(max: usize) -> impl Fn(&[SequencedChild], usize) -> Decision + Send + Sync {
    move |sorted, index| {
        if index < max {
            Decision::Acquire
        } else {
            Decision::WaitFor(sorted[index - 1].name.clone())
        }
    }
}
