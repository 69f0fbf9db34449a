//! Transactions (multi) and batched reads (multiRead).

use bytes::Bytes;
use zk_proto::multi::{MultiOp, MultiRequest, OpResult};
use zk_proto::{
    CheckVersionRequest, DeleteRequest, ErrorCode, GetChildrenRequest, GetDataRequest, Request,
    SetDataRequest, Stat,
};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::options::CreateOptions;

/// The result of one operation of a committed [`Transaction`].
///
/// ```no_run
/// use zk_client::{CreateOptions, MultiResult};
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// let results = client
///     .transaction()
///     .create("/queue/item-", b"job", &CreateOptions::persistent_sequential())
///     .set_data("/queue", b"1", None)
///     .delete("/queue/old", None)
///     .check("/queue", 1)
///     .commit()
///     .await?;
/// for result in results {
///     match result {
///         MultiResult::Created { path, .. } => println!("created {path}"),
///         MultiResult::DataSet { stat } => println!("now at version {}", stat.version),
///         MultiResult::Deleted | MultiResult::Checked => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// A create: the actual path, and the new node's stat when the server sends it.
    ///
    /// Every create is sent as create2/createContainer/createTTL, which ask for the stat.
    /// ZooKeeper 3.9 answers all of them with the stat; ZooKeeper 3.8 (and zk-server-mini, which
    /// follows it) answers only container and TTL creates with a stat, and plain creates with
    /// their path alone (`stat: None`). The created node's `czxid` is the transaction's zxid
    /// either way: use [`Transaction::commit_with_zxid`] to learn it on any server.
    Created {
        /// The created path, relative to the chroot.
        path: String,
        /// The new node's stat, when the server sent it.
        stat: Option<Stat>,
    },
    /// A delete.
    Deleted,
    /// A set-data: the node's new stat.
    DataSet {
        /// The new stat.
        stat: Stat,
    },
    /// A version check.
    Checked,
}

/// A transaction being built: a list of create, delete, set-data and check operations applied
/// atomically by [`commit`](Self::commit). Made by [`Client::transaction`].
///
/// An invalid argument (a bad path, a TTL without TTL mode) is reported by `commit`, before
/// anything is sent.
///
/// ```no_run
/// use zk_client::{CreateOptions, Error};
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// // Move a job from "pending" to "running" atomically.
/// let result = client
///     .transaction()
///     .delete("/pending/job-1", None)
///     .create("/running/job-1", b"", &CreateOptions::persistent())
///     .commit()
///     .await;
/// match result {
///     Ok(results) => assert_eq!(results.len(), 2),
///     // Nothing was applied; `index` is the operation that failed.
///     Err(Error::Transaction { index, source, .. }) => println!("op {index}: {source}"),
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[must_use = "a transaction does nothing until committed"]
#[derive(Debug)]
pub struct Transaction {
    client: Client,
    ops: Vec<MultiOp>,
    error: Option<Error>,
}

impl Transaction {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            ops: Vec::new(),
            error: None,
        }
    }

    fn push(mut self, op: Result<MultiOp>) -> Self {
        match op {
            Ok(op) => self.ops.push(op),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Adds a create.
    ///
    /// ```no_run
    /// use zk_client::{CreateOptions, MultiResult};
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let results = client
    ///     .transaction()
    ///     .create("/app", b"", &CreateOptions::persistent())
    ///     .create("/app/config", b"v1", &CreateOptions::persistent())
    ///     .commit()
    ///     .await?;
    /// assert!(matches!(&results[1], MultiResult::Created { path, .. } if path == "/app/config"));
    /// # Ok(()) }
    /// ```
    pub fn create(self, path: &str, data: impl AsRef<[u8]>, options: &CreateOptions) -> Self {
        let op = options.validate_path(path).and_then(|()| {
            let server_path = zk_proto::path::join_chroot(self.client.chroot(), path);
            options.multi_op(server_path, Bytes::copy_from_slice(data.as_ref()))
        });
        self.push(op)
    }

    /// Adds a delete (`version` `None`: any version).
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// // Delete a node and its only child together.
    /// client
    ///     .transaction()
    ///     .delete("/app/config", None)
    ///     .delete("/app", None)
    ///     .commit()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn delete(self, path: &str, version: Option<i32>) -> Self {
        let op = self.client.to_server_path(path).map(|path| {
            MultiOp::Delete(DeleteRequest {
                path,
                version: version.unwrap_or(-1),
            })
        });
        self.push(op)
    }

    /// Adds a set-data (`version` `None`: any version).
    ///
    /// ```no_run
    /// use zk_client::MultiResult;
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let results = client
    ///     .transaction()
    ///     .set_data("/a", b"1", None)
    ///     .set_data("/b", b"1", Some(4))
    ///     .commit()
    ///     .await?;
    /// if let MultiResult::DataSet { stat } = &results[1] {
    ///     assert_eq!(stat.version, 5);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn set_data(self, path: &str, data: impl AsRef<[u8]>, version: Option<i32>) -> Self {
        let op = self.client.to_server_path(path).map(|path| {
            MultiOp::SetData(SetDataRequest {
                path,
                data: Some(Bytes::copy_from_slice(data.as_ref())),
                version: version.unwrap_or(-1),
            })
        });
        self.push(op)
    }

    /// Adds a check that the node's data version is `version`.
    ///
    /// ```no_run
    /// use zk_client::Error;
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// // Write /data only if /config is still at the version this decision was based on.
    /// let (_, config) = client.get_data("/config").await?;
    /// let result = client
    ///     .transaction()
    ///     .check("/config", config.version)
    ///     .set_data("/data", b"derived", None)
    ///     .commit()
    ///     .await;
    /// if let Err(Error::Transaction { index: 0, .. }) = result {
    ///     println!("/config changed meanwhile");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn check(self, path: &str, version: i32) -> Self {
        let op = self
            .client
            .to_server_path(path)
            .map(|path| MultiOp::Check(CheckVersionRequest { path, version }));
        self.push(op)
    }

    /// The number of operations added so far.
    ///
    /// ```no_run
    /// use zk_client::CreateOptions;
    ///
    /// # async fn demo(client: zk_client::Client) {
    /// let tx = client
    ///     .transaction()
    ///     .create("/a", b"", &CreateOptions::persistent())
    ///     .delete("/b", None);
    /// assert_eq!(tx.len(), 2);
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether no operation was added.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) {
    /// let tx = client.transaction();
    /// assert!(tx.is_empty());
    /// assert!(!tx.check("/a", 0).is_empty());
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Applies every operation, or none; one result per operation, in order.
    ///
    /// ```no_run
    /// use zk_client::{CreateOptions, Error};
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let result = client
    ///     .transaction()
    ///     .create("/a", b"", &CreateOptions::persistent())
    ///     .create("/a", b"", &CreateOptions::persistent()) // fails: NodeExists
    ///     .commit()
    ///     .await;
    /// match result {
    ///     Err(Error::Transaction { index, source, .. }) => {
    ///         assert_eq!(index, 1);
    ///         assert_eq!(*source, Error::NodeExists);
    ///         // and /a was not created either
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Transaction`] with the index and cause of the first failing operation (and
    /// every operation's code) when the server refused it; argument and connection errors.
    pub async fn commit(self) -> Result<Vec<MultiResult>> {
        self.commit_with_zxid().await.map(|(results, _)| results)
    }

    /// Like [`commit`](Self::commit), and also returns the transaction's zxid: every operation
    /// of a transaction is applied at one zxid, so it is the `czxid` of every node the
    /// transaction created and the `mzxid` of every node it changed (checked against
    /// ZooKeeper 3.8.0, which reports plain creates inside a multi without their stat).
    ///
    /// ```no_run
    /// use zk_client::{CreateOptions, MultiResult};
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let (results, zxid) = client
    ///     .transaction()
    ///     .create("/locks/a/lock-", b"", &CreateOptions::ephemeral_sequential())
    ///     .commit_with_zxid()
    ///     .await?;
    /// if let MultiResult::Created { path, .. } = &results[0] {
    ///     let (_, stat) = client.get_data(path).await?;
    ///     assert_eq!(stat.czxid, zxid); // the fencing token
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    pub async fn commit_with_zxid(self) -> Result<(Vec<MultiResult>, i64)> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let client = &self.client;
        let (response, zxid) = client
            .multi(Request::Multi(MultiRequest { ops: self.ops }))
            .await?;
        if let Some((index, code)) = response.first_error() {
            let codes = response
                .results
                .iter()
                .map(|r| match r {
                    OpResult::Error(code) => *code,
                    _ => ErrorCode::Ok,
                })
                .collect();
            return Err(Error::Transaction {
                index,
                source: Box::new(Error::from(code)),
                codes,
            });
        }
        let results = response
            .results
            .into_iter()
            .map(|r| match r {
                OpResult::Create { path } => Ok(MultiResult::Created {
                    path: client.to_client_path(path),
                    stat: None,
                }),
                OpResult::Create2(r) => Ok(MultiResult::Created {
                    path: client.to_client_path(r.path),
                    stat: Some(r.stat),
                }),
                OpResult::Delete => Ok(MultiResult::Deleted),
                OpResult::SetData { stat } => Ok(MultiResult::DataSet { stat }),
                OpResult::Check => Ok(MultiResult::Checked),
                other => Err(Error::Protocol(format!(
                    "unexpected result in a multi reply: {other:?}"
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((results, zxid))
    }
}

/// One read of a [`Client::multi_read`].
///
/// ```no_run
/// use zk_client::{ReadOp, ReadResult};
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// let ops = vec![ReadOp::get_data("/config"), ReadOp::GetChildren("/workers".to_owned())];
/// for result in client.multi_read(ops).await? {
///     match result {
///         Ok(ReadResult::Data { data, .. }) => println!("config: {data:?}"),
///         Ok(ReadResult::Children(names)) => println!("{} workers", names.len()),
///         Err(e) => println!("failed: {e}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOp {
    /// Read a node's data and stat.
    GetData(String),
    /// List a node's children.
    GetChildren(String),
}

impl ReadOp {
    /// A data read of `path`.
    ///
    /// ```
    /// use zk_client::ReadOp;
    ///
    /// assert_eq!(ReadOp::get_data("/a"), ReadOp::GetData("/a".to_owned()));
    /// ```
    pub fn get_data(path: &str) -> Self {
        Self::GetData(path.to_owned())
    }

    /// A children listing of `path`.
    ///
    /// ```
    /// use zk_client::ReadOp;
    ///
    /// assert_eq!(ReadOp::get_children("/a"), ReadOp::GetChildren("/a".to_owned()));
    /// ```
    pub fn get_children(path: &str) -> Self {
        Self::GetChildren(path.to_owned())
    }
}

/// The result of one [`ReadOp`].
///
/// ```no_run
/// use zk_client::{Error, ReadOp, ReadResult};
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// let results = client
///     .multi_read([ReadOp::get_data("/exists"), ReadOp::get_children("/missing")])
///     .await?;
/// // One result per op: a missing node fails its own op only.
/// assert!(matches!(&results[0], Ok(ReadResult::Data { .. })));
/// assert_eq!(results[1], Err(Error::NoNode));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadResult {
    /// A node's data and stat.
    Data {
        /// The data.
        data: Bytes,
        /// The stat.
        stat: Stat,
    },
    /// A node's child names.
    Children(Vec<String>),
}

pub(crate) async fn multi_read(
    client: &Client,
    ops: impl IntoIterator<Item = ReadOp>,
) -> Result<Vec<Result<ReadResult>>> {
    let ops = ops
        .into_iter()
        .map(|op| match op {
            ReadOp::GetData(path) => client
                .to_server_path(&path)
                .map(|path| MultiOp::GetData(GetDataRequest { path, watch: false })),
            ReadOp::GetChildren(path) => client
                .to_server_path(&path)
                .map(|path| MultiOp::GetChildren(GetChildrenRequest { path, watch: false })),
        })
        .collect::<Result<Vec<_>>>()?;
    let (response, _) = client
        .multi(Request::MultiRead(MultiRequest { ops }))
        .await?;
    Ok(response
        .results
        .into_iter()
        .map(|r| match r {
            OpResult::GetData(r) => Ok(ReadResult::Data {
                data: r.data.unwrap_or_default(),
                stat: r.stat,
            }),
            OpResult::GetChildren(r) => Ok(ReadResult::Children(r.children)),
            OpResult::Error(code) => Err(Error::from(code)),
            other => Err(Error::Protocol(format!(
                "unexpected result in a multiRead reply: {other:?}"
            ))),
        })
        .collect())
}
