//! [`Client`] operations that inspect the server and the session (ZooKeeper 3.6+ where
//! noted): ephemerals, child counts, identities, the ensemble configuration, and adding
//! authentication.

use bytes::Bytes;
use tokio::sync::oneshot;
use zk_proto::{
    ClientInfo, GetAllChildrenNumberRequest, GetDataRequest, GetEphemeralsRequest, ReconfigRequest,
    Request, Response, Stat,
};

use super::{CONFIG_NODE, Client};
use crate::core::{Command, Effect};
use crate::error::{Error, Result};

impl Client {
    /// The paths of this session's ephemeral nodes whose path starts with `prefix` (a string
    /// prefix; `/` for all).
    ///
    /// ```no_run
    /// use zk_client::CreateOptions;
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// client.create("/workers/w1", b"", &CreateOptions::ephemeral()).await?;
    /// let mine = client.get_ephemerals("/workers/").await?;
    /// assert!(mine.contains(&"/workers/w1".to_string()));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The connection errors.
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        if !prefix.starts_with('/') {
            return Err(Error::invalid_path(
                prefix,
                zk_proto::path::PathError::NotAbsolute,
            ));
        }
        let request = Request::GetEphemerals(GetEphemeralsRequest {
            prefix_path: zk_proto::path::join_chroot(self.chroot(), prefix),
        });
        match self.call(&request, None, Effect::None).await? {
            Response::GetEphemerals(r) => Ok(r
                .ephemerals
                .into_iter()
                .filter_map(|p| zk_proto::path::strip_chroot(self.chroot(), &p).map(str::to_owned))
                .collect()),
            other => Err(Self::unexpected("getEphemerals", &other)),
        }
    }

    /// The number of descendants of a node (children, grandchildren, ...).
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let total = client.get_all_children_number("/app").await?;
    /// println!("/app has {total} descendants");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::NoAuth`], and the connection errors.
    pub async fn get_all_children_number(&self, path: &str) -> Result<i32> {
        let request = Request::GetAllChildrenNumber(GetAllChildrenNumberRequest {
            path: self.server_path(path)?,
        });
        match self.call(&request, None, Effect::None).await? {
            Response::GetAllChildrenNumber(r) => Ok(r.total_number),
            other => Err(Self::unexpected("getAllChildrenNumber", &other)),
        }
    }

    /// The identities this connection is authenticated as (ZooKeeper 3.7+), e.g.
    /// `[(digest, alice), (ip, 127.0.0.1)]`.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// for info in client.who_am_i().await? {
    ///     println!("{}: {}", info.auth_scheme, info.user);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Unimplemented`] on older servers, and the connection errors.
    pub async fn who_am_i(&self) -> Result<Vec<ClientInfo>> {
        match self.call(&Request::WhoAmI, None, Effect::None).await? {
            Response::WhoAmI(r) => Ok(r.client_info),
            other => Err(Self::unexpected("whoAmI", &other)),
        }
    }

    /// The ensemble configuration (`/zookeeper/config`, read regardless of the chroot): its
    /// text and stat. Empty on a standalone server.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (config, stat) = client.get_config().await?;
    /// for line in String::from_utf8_lossy(&config).lines() {
    ///     println!("{line}"); // server.1=zk1:2888:3888:participant;0.0.0.0:2181 ...
    /// }
    /// println!("last changed at zxid {:#x}", stat.mzxid);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The connection errors.
    pub async fn get_config(&self) -> Result<(Bytes, Stat)> {
        let request = Request::GetData(GetDataRequest {
            path: CONFIG_NODE.to_owned(),
            watch: false,
        });
        match self.call(&request, None, Effect::None).await? {
            Response::GetData(r) => Ok((r.data.unwrap_or_default(), r.stat)),
            other => Err(Self::unexpected("getConfig", &other)),
        }
    }

    /// Changes the ensemble's membership incrementally (ZooKeeper 3.5+ `reconfig`): adds or
    /// updates the `joining` servers (`server.N=host:quorumPort:electionPort[:role][;client]`)
    /// and removes the `leaving` ids. With `from_config` the change applies only if the
    /// configuration's version is still that one. Returns the new configuration and stat.
    /// Needs `reconfigEnabled` and a super user (or `skipACL`).
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// // a fourth server, already started with the ensemble plus itself in its zoo.cfg
    /// let (config, stat) = client
    ///     .reconfig(&["server.4=10.0.0.4:2888:3888:observer;2181"], &[], None)
    ///     .await?;
    /// println!("now at version {:#x}:\n{}", stat.mzxid, String::from_utf8_lossy(&config));
    /// client.reconfig(&[], &[4], Some(stat.mzxid)).await?; // and out again
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::ReconfigDisabled`], [`Error::NoAuth`], [`Error::BadArguments`] (a malformed
    /// spec, no voter left), [`Error::BadVersion`] (`from_config` is stale),
    /// [`Error::Server`] with `ReconfigInProgress` or `NewConfigNoQuorum` (the new voters are
    /// not up and synced), and the connection errors (the change may or may not have happened: read the
    /// configuration).
    pub async fn reconfig(
        &self,
        joining: &[&str],
        leaving: &[u64],
        from_config: Option<i64>,
    ) -> Result<(Bytes, Stat)> {
        let list = |items: Vec<String>| (!items.is_empty()).then(|| items.join(","));
        let request = Request::Reconfig(ReconfigRequest {
            joining_servers: list(joining.iter().map(|s| (*s).to_owned()).collect()),
            leaving_servers: list(leaving.iter().map(u64::to_string).collect()),
            new_members: None,
            cur_config_id: from_config.unwrap_or(-1),
        });
        self.send_reconfig(request).await
    }

    /// Replaces the ensemble's whole membership (a non-incremental `reconfig`) with
    /// `members`, each `server.N=host:quorumPort:electionPort[:role][;client]`. See
    /// [`Client::reconfig`].
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// client
    ///     .reconfig_members(
    ///         &["server.1=10.0.0.1:2888:3888;2181", "server.2=10.0.0.2:2888:3888;2181"],
    ///         None,
    ///     )
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Client::reconfig`].
    pub async fn reconfig_members(
        &self,
        members: &[&str],
        from_config: Option<i64>,
    ) -> Result<(Bytes, Stat)> {
        let request = Request::Reconfig(ReconfigRequest {
            joining_servers: None,
            leaving_servers: None,
            new_members: Some(members.join(",")),
            cur_config_id: from_config.unwrap_or(-1),
        });
        self.send_reconfig(request).await
    }

    async fn send_reconfig(&self, request: Request) -> Result<(Bytes, Stat)> {
        match self.call(&request, None, Effect::None).await? {
            Response::GetData(r) => Ok((r.data.unwrap_or_default(), r.stat)),
            other => Err(Self::unexpected("reconfig", &other)),
        }
    }

    /// Authenticates this session with `scheme` and `auth`, now and after every reconnect.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// client.add_auth("digest", b"alice:secret").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::AuthFailed`] (the client is then unusable), and the connection errors.
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Auth {
            scheme: scheme.to_owned(),
            auth: Bytes::copy_from_slice(auth),
            reply,
        };
        if self.shared.commands.send(command).is_err() {
            return Err(self.gone());
        }
        answer.await.unwrap_or_else(|_| Err(self.gone()))
    }
}
