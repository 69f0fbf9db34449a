//! A node that stays present: [`PersistentNode`] creates it, watches it, and creates it again
//! after it is deleted or after the session that owned it ends (Curator's `PersistentNode`), in
//! any create mode; [`PersistentTtlNode`] keeps a TTL node alive while the process lives.
//!
//! # What is guaranteed
//!
//! - While the client is connected, the task re-creates the node within one round trip of
//!   learning it is gone (a watch on the node, a reconnect, a new session).
//! - An ephemeral node is reported as ours ([`PersistentNode::current_path`]) only when its
//!   `ephemeralOwner` is the current session. A node of the same name owned by another session
//!   is never taken over or deleted: the task waits for the server to remove it.
//! - Sequential modes use Curator's protected names (`_c_<uuid>-<name>`), so a create that
//!   failed with `ConnectionLoss` is found again instead of leaving a second node behind.
//!
//! # What is not
//!
//! - Presence during a disconnect or after the session expired: an ephemeral node is gone
//!   until the client has a new session, which needs
//!   [`ExpiryPolicy::NewSession`](zk_client::ExpiryPolicy::NewSession) (with the default policy
//!   the client, and so the node, stays expired).
//! - Data written by others is left as they wrote it; the node's data is ours again only when
//!   the node is re-created or [`PersistentNode::set_data`] is called.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use zk_client::{Bytes, Client, CreateMode, CreateOptions, Error, OneshotWatch, Result};

use crate::ensure::create_with_parents;
use crate::names::curator_protection_prefix;
use crate::paths::{join, name_of, parent_of};

enum Command {
    SetData(Bytes, oneshot::Sender<Result<()>>),
    Close(oneshot::Sender<Result<()>>),
}

/// A node kept present by a background task. Dropping the handle stops the task without
/// deleting the node (an ephemeral node goes with the session); [`close`](Self::close) deletes it.
///
/// ```no_run
/// use std::time::Duration;
/// use zk_client::CreateOptions;
/// use zk_recipes::persistent_node::PersistentNode;
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// let node = PersistentNode::start(&client, "/workers/w1", CreateOptions::ephemeral(), "host-a:80");
/// let path = node.wait_for_initial_create(Duration::from_secs(10)).await;
/// println!("registered at {path:?}");
/// node.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PersistentNode {
    commands: mpsc::Sender<Command>,
    path: watch::Receiver<Option<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl PersistentNode {
    /// Starts keeping a node at `path` with `options` (any mode; for a sequential mode `path`
    /// is the prefix and the actual path comes with a sequence suffix) holding `data`. Parents
    /// are created as containers. Must be called inside a tokio runtime.
    ///
    /// ```no_run
    /// use zk_client::CreateOptions;
    /// # fn demo(client: zk_client::Client) {
    /// let node = zk_recipes::persistent_node::PersistentNode::start(
    ///     &client, "/jobs/job-", CreateOptions::ephemeral_sequential(), b"payload".to_vec());
    /// # }
    /// ```
    pub fn start(
        client: &Client,
        path: &str,
        options: CreateOptions,
        data: impl Into<Bytes>,
    ) -> PersistentNode {
        let (commands, rx) = mpsc::channel(8);
        let (path_tx, path_rx) = watch::channel(None);
        let task = NodeTask {
            client: client.clone(),
            requested: path.to_owned(),
            options,
            data: data.into(),
            actual: None,
            path: path_tx,
            commands: rx,
        };
        PersistentNode {
            commands,
            path: path_rx,
            task: tokio::spawn(task.run()),
        }
    }

    /// The node's actual path while it exists and is ours, else `None`.
    ///
    /// ```no_run
    /// # fn demo(node: zk_recipes::persistent_node::PersistentNode) {
    /// if let Some(path) = node.current_path() {
    ///     println!("present at {path}");
    /// }
    /// # }
    /// ```
    pub fn current_path(&self) -> Option<String> {
        self.path.borrow().clone()
    }

    /// A receiver of the node's actual path (`None` while it is missing or held by another
    /// session; unchanged during a disconnect until the session is known to be lost). It
    /// changes only when the path does.
    ///
    /// ```no_run
    /// # async fn demo(node: zk_recipes::persistent_node::PersistentNode) {
    /// let mut path = node.path_updates();
    /// while path.changed().await.is_ok() {
    ///     println!("now {:?}", *path.borrow());
    /// }
    /// # }
    /// ```
    pub fn path_updates(&self) -> watch::Receiver<Option<String>> {
        self.path.clone()
    }

    /// Waits until the node exists and is ours, at most `timeout`; returns its path.
    ///
    /// ```no_run
    /// # async fn demo(node: zk_recipes::persistent_node::PersistentNode) {
    /// let created = node.wait_for_initial_create(std::time::Duration::from_secs(5)).await;
    /// # }
    /// ```
    pub async fn wait_for_initial_create(&self, timeout: Duration) -> Option<String> {
        let mut rx = self.path.clone();
        let found = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        match found {
            Ok(Ok(path)) => path.clone(),
            _ => None,
        }
    }

    /// Sets the node's data now and for every later re-creation.
    ///
    /// ```no_run
    /// # async fn demo(node: zk_recipes::persistent_node::PersistentNode) -> zk_client::Result<()> {
    /// node.set_data(b"v2".to_vec()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The error of the write (the data is kept for the next re-creation either way);
    /// [`Error::Closed`] when the task has stopped.
    pub async fn set_data(&self, data: impl Into<Bytes>) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::SetData(data.into(), tx))
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Stops the task and deletes the node.
    ///
    /// ```no_run
    /// # async fn demo(node: zk_recipes::persistent_node::PersistentNode) -> zk_client::Result<()> {
    /// node.close().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The error of the delete (a missing node is not an error).
    pub async fn close(self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Close(tx)).await.is_err() {
            return Ok(());
        }
        rx.await.unwrap_or(Ok(()))
    }
}

impl Drop for PersistentNode {
    fn drop(&mut self) {
        // After `close` the task has already returned; aborting it then is harmless.
        self.task.abort();
    }
}

/// What `ensure` found.
enum Found {
    /// Our node exists; the watch fires when it changes or goes.
    Ours(String, OneshotWatch),
    /// A node of another session holds the name; wait for it to go.
    Blocked(OneshotWatch),
}

struct NodeTask {
    client: Client,
    requested: String,
    options: CreateOptions,
    data: Bytes,
    actual: Option<String>,
    path: watch::Sender<Option<String>>,
    commands: mpsc::Receiver<Command>,
}

impl NodeTask {
    async fn run(mut self) {
        let mut session = self.client.state_watcher();
        let mut backoff = Duration::from_millis(50);
        loop {
            let state = session.borrow_and_update().state;
            if matches!(
                state,
                zk_client::SessionState::Closed | zk_client::SessionState::AuthFailed
            ) {
                self.publish(None);
                return;
            }
            let found = if state.is_connected() {
                self.ensure().await
            } else {
                // Disconnected: the node is as it was until the session says otherwise (an
                // ephemeral node goes with an expired session).
                if state == zk_client::SessionState::Expired {
                    self.publish(None);
                }
                Err(Error::ConnectionLoss)
            };
            let watch = match found {
                Ok(Found::Ours(path, watch)) => {
                    self.publish(Some(path));
                    backoff = Duration::from_millis(50);
                    Some(watch)
                }
                Ok(Found::Blocked(watch)) => {
                    self.publish(None);
                    Some(watch)
                }
                Err(e) if !state.is_connected() => {
                    tracing::debug!(path = %self.requested, error = %e, "persistent node: waiting for a connection");
                    None
                }
                Err(e) => {
                    tracing::debug!(path = %self.requested, error = %e, "persistent node: not present yet");
                    self.publish(None);
                    None
                }
            };
            let retry_after = backoff;
            tokio::select! {
                deleted = async {
                    match watch {
                        Some(w) => w.await.event_type == zk_client::EventType::NodeDeleted,
                        None => {
                            tokio::time::sleep(retry_after).await;
                            false
                        }
                    }
                } => if deleted {
                    self.publish(None);
                },
                changed = session.changed() => if changed.is_err() {
                    return;
                },
                command = self.commands.recv() => match command {
                    Some(Command::SetData(data, done)) => {
                        self.data = data;
                        let result = match &self.actual {
                            Some(p) => self.client.set_data(p, &self.data, None).await.map(drop),
                            None => Ok(()),
                        };
                        let _ = done.send(result);
                    }
                    Some(Command::Close(done)) => {
                        let _ = done.send(self.delete().await);
                        return;
                    }
                    None => return,
                },
            }
            if self.path.borrow().is_none() {
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }

    /// Publishes the node's path, notifying receivers only when it changed.
    fn publish(&self, path: Option<String>) {
        self.path.send_if_modified(|current| {
            let changed = *current != path;
            *current = path;
            changed
        });
    }

    async fn delete(&mut self) -> Result<()> {
        self.publish(None);
        let Some(path) = self.actual.take() else {
            return Ok(());
        };
        match self.client.exists(&path).await? {
            Some(stat)
                if self.options.mode.is_ephemeral()
                    && stat.ephemeral_owner != self.client.session_id() =>
            {
                Ok(())
            }
            Some(stat) => match self.client.delete(&path, Some(stat.version)).await {
                Ok(()) | Err(Error::NoNode) => Ok(()),
                Err(e) => Err(e),
            },
            None => Ok(()),
        }
    }

    fn is_ours(&self, stat: &zk_client::Stat) -> bool {
        !self.options.mode.is_ephemeral() || stat.ephemeral_owner == self.client.session_id()
    }

    async fn ensure(&mut self) -> Result<Found> {
        if self.options.mode.is_sequential() {
            return self.ensure_sequential().await;
        }
        let path = self.requested.clone();
        match create_with_parents(&self.client, &path, &self.data, &self.options).await {
            // A ConnectionLoss may have created it: the check below tells.
            Ok(_) | Err(Error::NodeExists) => {}
            Err(e) if e.is_outcome_unknown() => {}
            Err(e) => return Err(e),
        }
        let (stat, watch) = self.client.exists_watch(&path).await?;
        match stat {
            Some(stat) if self.is_ours(&stat) => {
                self.actual = Some(path.clone());
                Ok(Found::Ours(path, watch))
            }
            Some(_) => Ok(Found::Blocked(watch)),
            // Deleted right after the create: go round again.
            None => Err(Error::NoNode),
        }
    }

    async fn ensure_sequential(&mut self) -> Result<Found> {
        if let Some(actual) = self.actual.clone() {
            let (stat, watch) = self.client.exists_watch(&actual).await?;
            match stat {
                Some(stat) if self.is_ours(&stat) => return Ok(Found::Ours(actual, watch)),
                Some(stat) => {
                    // Left by our previous session: the server removes it, help it along.
                    drop(watch);
                    let _ = self.client.delete(&actual, Some(stat.version)).await;
                }
                None => {}
            }
            self.actual = None;
        }
        let parent = parent_of(&self.requested).to_owned();
        let prefix = curator_protection_prefix(&uuid::Uuid::new_v4());
        let protected = join(&parent, &format!("{prefix}{}", name_of(&self.requested)));
        let created =
            match create_with_parents(&self.client, &protected, &self.data, &self.options).await {
                Ok((path, _)) => path,
                Err(e) if e.is_outcome_unknown() => {
                    self.client
                        .wait_for_state(|s| s.is_connected() || s.is_terminal())
                        .await;
                    self.find_protected(&parent, &prefix).await?
                }
                Err(e) => return Err(e),
            };
        self.actual = Some(created.clone());
        let (stat, watch) = self.client.exists_watch(&created).await?;
        match stat {
            Some(stat) if self.is_ours(&stat) => Ok(Found::Ours(created, watch)),
            _ => Err(Error::NoNode),
        }
    }

    /// After a ConnectionLoss on a protected create: our node, if the create happened.
    async fn find_protected(&self, parent: &str, prefix: &str) -> Result<String> {
        let children = self.client.get_children(parent).await?;
        let name = children
            .into_iter()
            .find(|c| c.starts_with(prefix))
            .ok_or(Error::ConnectionLoss)?;
        Ok(join(parent, &name))
    }
}

/// A node that lives while this process touches it, as Curator's `PersistentTtlNode` lays it
/// out: a CONTAINER node at `path` (kept by a [`PersistentNode`]) and a `touch` child created
/// with a TTL and written every `ttl / 2`. When the process stops, the server deletes `touch`
/// after the TTL and then the empty container. Needs a server with TTL nodes enabled
/// (`extendedTypesEnabled=true`).
///
/// ```no_run
/// use std::time::Duration;
/// # async fn demo(client: zk_client::Client) {
/// let node = zk_recipes::persistent_node::PersistentTtlNode::start(
///     &client, "/alive/me", Duration::from_secs(10), b"".to_vec());
/// # }
/// ```
#[derive(Debug)]
pub struct PersistentTtlNode {
    node: PersistentNode,
    client: Client,
    touch: String,
    toucher: AbortOnDrop,
}

impl PersistentTtlNode {
    /// Starts keeping the container at `path` (with `data`) and touching `path/touch`.
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) {
    /// let node = zk_recipes::persistent_node::PersistentTtlNode::start(
    ///     &client, "/alive/me", std::time::Duration::from_secs(5), Vec::new());
    /// # }
    /// ```
    pub fn start(
        client: &Client,
        path: &str,
        ttl: Duration,
        data: impl Into<Bytes>,
    ) -> PersistentTtlNode {
        let node = PersistentNode::start(client, path, CreateOptions::container(), data);
        let touch = join(path, "touch");
        let period = (ttl / 2).max(Duration::from_millis(10));
        let toucher = tokio::spawn({
            let client = client.clone();
            let touch = touch.clone();
            async move {
                let mut tick = tokio::time::interval(period);
                loop {
                    tick.tick().await;
                    if let Err(e) = touch_once(&client, &touch, ttl).await {
                        tracing::debug!(path = %touch, error = %e, "ttl node: touch failed");
                    }
                }
            }
        });
        let toucher = AbortOnDrop(toucher);
        PersistentTtlNode {
            node,
            client: client.clone(),
            touch,
            toucher,
        }
    }

    /// The container node (see [`PersistentNode`]).
    ///
    /// ```no_run
    /// # fn demo(n: zk_recipes::persistent_node::PersistentTtlNode) {
    /// println!("{:?}", n.node().current_path());
    /// # }
    /// ```
    pub fn node(&self) -> &PersistentNode {
        &self.node
    }

    /// Stops touching and deletes the `touch` child and the container.
    ///
    /// ```no_run
    /// # async fn demo(n: zk_recipes::persistent_node::PersistentTtlNode) -> zk_client::Result<()> {
    /// n.close().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The errors of the deletes.
    pub async fn close(self) -> Result<()> {
        self.toucher.0.abort();
        match self.client.delete(&self.touch, None).await {
            Ok(()) | Err(Error::NoNode) => {}
            Err(e) => return Err(e),
        }
        let PersistentTtlNode { node, .. } = self;
        node.close().await
    }
}

/// A task handle that aborts the task when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn touch_once(client: &Client, touch: &str, ttl: Duration) -> Result<()> {
    match client.set_data(touch, b"", None).await {
        Ok(_) => Ok(()),
        Err(Error::NoNode) => {
            let options = CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(ttl);
            match client.create(touch, b"", &options).await {
                Ok(_) | Err(Error::NodeExists) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
