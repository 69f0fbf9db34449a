//! Group membership (Curator's `GroupMember`): this process's member node, an ephemeral
//! `group/<id>` kept by a [`PersistentNode`] (re-created after deletion and after session loss,
//! unlike kazoo's `Party`), and a view of the whole group from a [`TreeCache`].
//!
//! # What is guaranteed
//!
//! - The member node is re-created as long as the process runs and the client has a session
//!   (see [`PersistentNode`] for the session-loss rules).
//! - The view converges to the group's children on the server and is re-read after every
//!   reconnect ([`TreeCache`]'s guarantees).
//!
//! # What is not
//!
//! - Two processes using the same id: the second one waits for the first one's node to go
//!   and never takes it over.
//! - A member that left and came back between two reads of the view may show only as a data
//!   change.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use zk_client::{Bytes, Client, CreateOptions, Result};

use crate::cache::{CacheEvent, TreeCache};
use crate::paths::{join, parent_of};
use crate::persistent_node::PersistentNode;

/// A member of a group, with a view of every member.
///
/// ```no_run
/// use futures::StreamExt;
/// use zk_recipes::group::GroupMember;
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// let me = GroupMember::start(&client, "/groups/workers", "w1", b"10.0.0.1:80".to_vec()).await?;
/// let mut views = me.views();
/// while let Some(members) = views.next().await {
///     println!("{} members: {:?}", members.len(), members.keys().collect::<Vec<_>>());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GroupMember {
    group: String,
    id: String,
    node: PersistentNode,
    cache: Arc<TreeCache>,
}

impl GroupMember {
    /// Joins `group` as `id` with `data`, and starts the view (returns once the view has been
    /// read; the member node is created in the background, see
    /// [`wait_joined`](Self::wait_joined)).
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let me = zk_recipes::group::GroupMember::start(&client, "/g", "me", Vec::new()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// An invalid id (empty, or holding `/`), and the errors of [`TreeCache::start`].
    pub async fn start(
        client: &Client,
        group: &str,
        id: &str,
        data: impl Into<Bytes>,
    ) -> Result<GroupMember> {
        if id.is_empty() || id.contains('/') {
            return Err(zk_client::Error::InvalidArgument(format!(
                "group member id {id:?} must be one non-empty path component"
            )));
        }
        let cache = Arc::new(TreeCache::start(client, group).await?);
        let node =
            PersistentNode::start(client, &join(group, id), CreateOptions::ephemeral(), data);
        Ok(GroupMember {
            group: group.to_owned(),
            id: id.to_owned(),
            node,
            cache,
        })
    }

    /// This member's id.
    ///
    /// ```no_run
    /// # fn demo(me: zk_recipes::group::GroupMember) {
    /// println!("{}", me.id());
    /// # }
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits until our member node exists (at most `timeout`).
    ///
    /// ```no_run
    /// # async fn demo(me: zk_recipes::group::GroupMember) {
    /// assert!(me.wait_joined(std::time::Duration::from_secs(5)).await);
    /// # }
    /// ```
    pub async fn wait_joined(&self, timeout: std::time::Duration) -> bool {
        self.node.wait_for_initial_create(timeout).await.is_some()
    }

    /// The member node (its current path, its updates).
    ///
    /// ```no_run
    /// # fn demo(me: zk_recipes::group::GroupMember) {
    /// println!("{:?}", me.node().current_path());
    /// # }
    /// ```
    pub fn node(&self) -> &PersistentNode {
        &self.node
    }

    /// Every member now: id to data.
    ///
    /// ```no_run
    /// # fn demo(me: zk_recipes::group::GroupMember) {
    /// for (id, data) in me.members() {
    ///     println!("{id}: {data:?}");
    /// }
    /// # }
    /// ```
    pub fn members(&self) -> BTreeMap<String, Bytes> {
        members_of(&self.cache, &self.group)
    }

    /// The whole group after each change of its membership or of a member's data (the first
    /// item is the group at the time of the first call).
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// # async fn demo(me: zk_recipes::group::GroupMember) {
    /// let mut views = me.views();
    /// let now = views.next().await;
    /// # }
    /// ```
    pub fn views(&self) -> BoxStream<'static, BTreeMap<String, Bytes>> {
        let cache = Arc::clone(&self.cache);
        let group = self.group.clone();
        let first = futures::stream::iter([members_of(&cache, &group)]);
        let later = self.cache.events().filter_map(move |event| {
            let relevant = match &event {
                CacheEvent::Created { path, .. }
                | CacheEvent::Changed { path, .. }
                | CacheEvent::Deleted { path, .. } => parent_of(path) == group,
                CacheEvent::Resynced { .. } | CacheEvent::Lagged { .. } => true,
                CacheEvent::Initialized { .. } | CacheEvent::Stopped { .. } => false,
            };
            let view = relevant.then(|| members_of(&cache, &group));
            futures::future::ready(view)
        });
        first.chain(later).boxed()
    }

    /// Sets this member's data.
    ///
    /// ```no_run
    /// # async fn demo(me: zk_recipes::group::GroupMember) -> zk_client::Result<()> {
    /// me.set_data(b"busy".to_vec()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`PersistentNode::set_data`].
    pub async fn set_data(&self, data: impl Into<Bytes>) -> Result<()> {
        self.node.set_data(data).await
    }

    /// Leaves the group: deletes the member node and stops the view.
    ///
    /// ```no_run
    /// # async fn demo(me: zk_recipes::group::GroupMember) -> zk_client::Result<()> {
    /// me.leave().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`PersistentNode::close`].
    pub async fn leave(self) -> Result<()> {
        self.node.close().await
    }
}

fn members_of(cache: &TreeCache, group: &str) -> BTreeMap<String, Bytes> {
    cache
        .children(group)
        .into_iter()
        .map(|(id, node)| (id, node.data))
        .collect()
}
