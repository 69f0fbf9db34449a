//! [`Client`] operations on watches: persistent and recursive watches (ZooKeeper 3.6+), and
//! removing or checking watches on the server.

use tracing::Instrument;
use zk_proto::{
    AddWatchMode, AddWatchRequest, CheckWatchesRequest, RemoveWatchesRequest, Request, Response,
    WatcherType,
};

use super::Client;
use crate::core::Effect;
use crate::error::{Error, Result};
use crate::watch::{PersistentWatch, WatchRegistration};

impl Client {
    /// Adds a persistent watch (ZooKeeper 3.6+) on `path` (which need not exist): a stream of
    /// every change of the node (`Persistent`) or of its whole subtree (`PersistentRecursive`,
    /// which never reports `NodeChildrenChanged`).
    ///
    /// Any mix of watches on one path works: each gets the events it asked for, on ZooKeeper
    /// 3.6–3.8 (which keeps one watch mode per path and connection) as on newer servers. While a
    /// path has a persistent or recursive watch, one-shot watches on it are served from that
    /// watch's events; a persistent watch on a path that also has a recursive one gets its
    /// `NodeChildrenChanged` derived from the `NodeCreated`/`NodeDeleted` of direct children.
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use zk_client::PersistentEvent;
    /// use zk_proto::AddWatchMode;
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let mut watch = client.add_watch("/services", AddWatchMode::PersistentRecursive).await?;
    /// while let Some(event) = watch.next().await {
    ///     match event {
    ///         PersistentEvent::Node(e) => println!("{:?} {}", e.event_type, e.path),
    ///         // Events were missed (disconnected, or this loop fell behind): re-read.
    ///         PersistentEvent::Reconnected { .. } | PersistentEvent::Overflow { .. } => {
    ///             println!("resync")
    ///         }
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Unimplemented`] on servers older than 3.6, and the connection errors.
    pub async fn add_watch(&self, path: &str, mode: AddWatchMode) -> Result<PersistentWatch> {
        let server_path = self.server_path(path)?;
        let id = self.watch_id();
        let (tx, rx) = crate::event_queue::event_queue(self.shared.persistent_watch_buffer);
        let watch = PersistentWatch::new(
            id,
            server_path.clone(),
            path.to_owned(),
            mode,
            rx,
            self.shared.commands.downgrade(),
        );
        let registration = WatchRegistration::Persistent {
            id,
            path: server_path.clone(),
            mode,
            tx,
        };
        let request = Request::AddWatch(AddWatchRequest {
            path: server_path,
            mode: mode.into(),
        });
        match self
            .call(&request, Some(registration), Effect::None)
            .instrument(tracing::debug_span!("zk_add_watch", path))
            .await?
        {
            Response::AddWatch(r) if r.err.is_ok() => Ok(watch),
            Response::AddWatch(r) => Err(Error::from(r.err)),
            other => Err(Self::unexpected("addWatch", &other)),
        }
    }

    /// Removes this session's watches of `watcher_type` on `path`, on the server and locally
    /// (local watchers get a `DataWatchRemoved`/`ChildWatchRemoved`/`PersistentWatchRemoved`
    /// event). On ZooKeeper 3.8, persistent watches are removed with `WatcherType::Any`.
    ///
    /// On a path that also has a persistent or recursive watch, `Data` and `Children` remove
    /// only this client's one-shot watches of that kind (which are served by the persistent one,
    /// see [`add_watch`](Self::add_watch)) and leave the persistent watch alone.
    ///
    /// ```no_run
    /// use zk_client::WatcherType;
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (_, _, watch) = client.get_data_watch("/config").await?;
    /// client.remove_watches("/config", WatcherType::Data).await?;
    /// let event = watch.await; // DataWatchRemoved
    /// println!("{:?}", event.event_type);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoWatcher`] when there is no such watch.
    pub async fn remove_watches(&self, path: &str, watcher_type: WatcherType) -> Result<()> {
        let server_path = self.server_path(path)?;
        let request = Request::RemoveWatches(RemoveWatchesRequest {
            path: server_path.clone(),
            watcher_type,
        });
        let effect = Effect::RemoveWatches {
            path: server_path,
            watcher_type,
        };
        self.call(&request, None, effect).await.map(drop)
    }

    /// Checks that this session has a watch of `watcher_type` on `path` on the server.
    ///
    /// On a path that also has a persistent or recursive watch, `Data` and `Children` succeed
    /// when this client has a one-shot watch of that kind there, which the persistent watch
    /// serves (see [`remove_watches`](Self::remove_watches)); otherwise the server answers.
    ///
    /// ```no_run
    /// use zk_client::{Error, WatcherType};
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (_, _, _watch) = client.get_data_watch("/config").await?;
    /// client.check_watches("/config", WatcherType::Data).await?;
    /// assert!(matches!(
    ///     client.check_watches("/config", WatcherType::Children).await,
    ///     Err(Error::NoWatcher)
    /// ));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoWatcher`] when there is none.
    pub async fn check_watches(&self, path: &str, watcher_type: WatcherType) -> Result<()> {
        let server_path = self.server_path(path)?;
        let request = Request::CheckWatches(CheckWatchesRequest {
            path: server_path.clone(),
            watcher_type,
        });
        let effect = Effect::CheckWatches {
            path: server_path,
            watcher_type,
        };
        self.call(&request, None, effect).await.map(drop)
    }
}
