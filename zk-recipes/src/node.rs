//! Node operations with the retry rules of the contract: reads retried across reconnects
//! within a deadline, protected creates (never a blind retry), guaranteed deletes.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use zk_client::{Client, CreateOptions, Error, SessionState, Stat};

use crate::error::{RecipeError, Result};
use crate::paths;

/// Waits until the client is connected again (or can never be). Errors when the session or
/// client is gone, or the deadline passes.
pub(crate) async fn wait_connected(client: &Client, deadline: Option<Instant>) -> Result<()> {
    let wait = client.wait_for_state(|s| s.is_connected() || s.is_terminal());
    let state = match deadline {
        Some(d) => tokio::time::timeout_at(d, wait)
            .await
            .map_err(|_| RecipeError::Deadline(Duration::ZERO))?,
        None => wait.await,
    };
    match state {
        SessionState::Closed | SessionState::AuthFailed => Err(RecipeError::Closed),
        SessionState::Expired => Err(RecipeError::SessionExpired),
        _ => Ok(()),
    }
}

/// True for the errors after which an idempotent request may simply be sent again.
pub(crate) fn is_retryable(e: &Error) -> bool {
    e.is_outcome_unknown() || matches!(e, Error::Timeout)
}

/// Runs an idempotent request, retrying after connection loss once reconnected.
pub(crate) async fn retry_read<T, F, Fut>(
    client: &Client,
    deadline: Option<Instant>,
    f: F,
) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = zk_client::Result<T>>,
{
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if is_retryable(&e) => {
                wait_connected(client, deadline).await?;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A node this process created under a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnNode {
    pub(crate) path: String,
    pub(crate) session_id: i64,
    /// The node's czxid (0 when unknown: a server without create2 stats).
    pub(crate) czxid: i64,
}

/// Creates `parent/<name_prefix><seq>` EPHEMERAL_SEQUENTIAL with protection: `search_prefix`
/// (unique to this attempt) identifies the node after a ConnectionLoss; a node found with it
/// that belongs to another session is deleted and the create retried under a new prefix
/// (the caller's `fresh` makes one).
pub(crate) async fn protected_create(
    client: &Client,
    parent: &str,
    fresh: impl Fn() -> (String, String),
    data: &[u8],
    deadline: Option<Instant>,
) -> Result<OwnNode> {
    let (mut search_prefix, mut name) = fresh();
    loop {
        let session_id = client.session_id();
        match client
            .create(
                &paths::join(parent, &name),
                data,
                &CreateOptions::ephemeral_sequential(),
            )
            .await
        {
            Ok((path, stat)) => {
                // A create stat of 0 means an old server without create2; trust the session.
                if stat.ephemeral_owner == 0 || stat.ephemeral_owner == session_id {
                    return Ok(OwnNode {
                        path,
                        session_id,
                        czxid: stat.czxid,
                    });
                }
                let owner = stat.ephemeral_owner;
                delete_in_background(client.clone(), path, owner);
                (search_prefix, name) = fresh();
            }
            Err(Error::NoNode) => {
                // The container parent was reaped between our check and the create.
                retry_read(client, deadline, || async {
                    match paths::ensure_containers(client, parent).await {
                        Ok(()) => Ok(()),
                        Err(RecipeError::Client(e)) => Err(e),
                        Err(_) => Err(Error::NoNode),
                    }
                })
                .await?;
            }
            Err(e) if is_retryable(&e) => {
                wait_connected(client, deadline).await?;
                if let Some(found) =
                    find_protected(client, parent, &search_prefix, deadline).await?
                {
                    return Ok(found);
                }
                (search_prefix, name) = fresh();
            }
            Err(e) => return Err(e.into()),
        }
        check_deadline(deadline)?;
    }
}

/// Looks for our protected node after a ConnectionLoss. A node of the current session is ours;
/// one of an earlier session is deleted (CURATOR-498) and not returned.
async fn find_protected(
    client: &Client,
    parent: &str,
    search_prefix: &str,
    deadline: Option<Instant>,
) -> Result<Option<OwnNode>> {
    let children = match retry_read(client, deadline, || client.get_children(parent)).await {
        Ok(c) => c,
        Err(RecipeError::Client(Error::NoNode)) => return Ok(None),
        Err(e) => return Err(e),
    };
    for child in children.iter().filter(|c| c.starts_with(search_prefix)) {
        let path = paths::join(parent, child);
        let stat: Option<Stat> = retry_read(client, deadline, || client.exists(&path)).await?;
        let Some(stat) = stat else { continue };
        if stat.ephemeral_owner == client.session_id() {
            return Ok(Some(OwnNode {
                path,
                session_id: stat.ephemeral_owner,
                czxid: stat.czxid,
            }));
        }
        delete_in_background(client.clone(), path, stat.ephemeral_owner);
    }
    Ok(None)
}

/// `Err(Deadline)` once `deadline` has passed.
pub(crate) fn check_deadline(deadline: Option<Instant>) -> Result<()> {
    match deadline {
        Some(d) if Instant::now() >= d => Err(RecipeError::Deadline(Duration::ZERO)),
        _ => Ok(()),
    }
}

/// Deletes `path`, retrying across reconnects while `session_id` is the client's session (once
/// that session has ended, the server deletes its ephemeral nodes itself). A node that already
/// belongs to another session is left alone unless `session_id` is not the client's.
pub(crate) async fn delete_guaranteed(client: &Client, path: &str, session_id: i64) -> Result<()> {
    loop {
        let event = *client.state_watcher().borrow();
        if event.state.is_terminal() && session_id == event.session_id {
            return Ok(());
        }
        if event.session_id != session_id {
            // Our session is gone: the node is deleted with it, or (a dead session's node we
            // found) we delete it only if it still belongs to that session.
            return match client.exists(path).await {
                Ok(Some(stat)) if stat.ephemeral_owner == session_id => {
                    match client.delete(path, Some(stat.version)).await {
                        Ok(()) | Err(Error::NoNode | Error::BadVersion) => Ok(()),
                        Err(e) => Err(e.into()),
                    }
                }
                Ok(_) => Ok(()),
                Err(e) if is_retryable(&e) => {
                    wait_connected(client, None).await?;
                    continue;
                }
                Err(e) => Err(e.into()),
            };
        }
        match client.delete(path, None).await {
            Ok(()) | Err(Error::NoNode) => return Ok(()),
            Err(e) if is_retryable(&e) => match wait_connected(client, None).await {
                Ok(()) => {}
                Err(RecipeError::SessionExpired | RecipeError::Closed) => return Ok(()),
                Err(e) => return Err(e),
            },
            Err(Error::Closed | Error::SessionExpired) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// [`delete_guaranteed`] on a background task (for `Drop`). Without a runtime there is nothing
/// to run it on; the server removes the ephemeral node when the session ends.
pub(crate) fn delete_in_background(client: Client, path: String, session_id: i64) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            if let Err(e) = delete_guaranteed(&client, &path, session_id).await {
                tracing::warn!(path, error = %e, "background delete failed");
            }
        });
    }
}

/// Deletes an own node when dropped while armed: an `acquire()` future that is dropped or
/// fails removes what it created.
#[derive(Debug)]
pub(crate) struct CleanupOnDrop {
    pub(crate) client: Client,
    pub(crate) node: Option<OwnNode>,
}

impl CleanupOnDrop {
    /// Hands the node over (no cleanup).
    pub(crate) fn disarm(&mut self) -> Option<OwnNode> {
        self.node.take()
    }

    /// Deletes the node now if one attempt can (so that a caller who got an error can contend
    /// again at once without meeting its own leftover node); otherwise as on drop, in the
    /// background.
    pub(crate) async fn delete_now(&mut self) {
        let Some(node) = self.node.take() else {
            return;
        };
        let connected = *self.client.state_watcher().borrow();
        if connected.session_id == node.session_id
            && connected.state == zk_client::SessionState::Connected
        {
            // Bounded: a connection that fails now leaves the node to the background task.
            let attempt = self.client.delete(&node.path, None);
            if let Ok(Ok(()) | Err(Error::NoNode)) =
                tokio::time::timeout(std::time::Duration::from_secs(2), attempt).await
            {
                return;
            }
        }
        delete_in_background(self.client.clone(), node.path, node.session_id);
    }
}

impl Drop for CleanupOnDrop {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            delete_in_background(self.client.clone(), node.path, node.session_id);
        }
    }
}
