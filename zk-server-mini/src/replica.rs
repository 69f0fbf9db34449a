//! The replicated state machine: what every member of an ensemble holds identically. The
//! data tree, the sessions and their ephemerals, changed only by [`Replica::apply`] of
//! committed transactions in zxid order. Pure and deterministic: no clock (a transaction
//! carries its time), no randomness, no I/O, no knowledge of connections or watches. A
//! standalone server is an ensemble of one with one replica.

use crate::apply::{Change, TxnResult, apply};
use crate::tree::DataTree;
use crate::txn::{Txn, TxnHeader};

/// A transaction offered out of zxid order: never applied (a hole or a repeat in the committed
/// history would make replicas diverge, as ZOOKEEPER-4925 did).
///
/// ```
/// use zk_server_mini::replica::Replica;
/// use zk_server_mini::tree::DataTree;
/// use zk_server_mini::txn::{Txn, TxnHeader};
/// let mut replica = Replica::new(DataTree::new());
/// let open = |zxid| (TxnHeader { session_id: zxid, cxid: 0, zxid, time: 0 }, Txn::CreateSession { timeout_ms: 10_000, passwd: Default::default() });
/// use zk_server_mini::replica::OutOfOrder;
/// let (h, t) = open(1);
/// replica.apply(&h, &t).unwrap();
/// // the same zxid again (a repeat): refused, nothing changes
/// assert_eq!(replica.apply(&h, &t).unwrap_err(), OutOfOrder { zxid: 1, last: 1 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("transaction {zxid:#x} does not follow the last applied {last:#x}")]
pub struct OutOfOrder {
    /// The offered zxid.
    pub zxid: i64,
    /// The last applied zxid.
    pub last: i64,
}

/// The replicated state (see the module docs).
///
/// ```
/// use zk_server_mini::replica::Replica;
/// use zk_server_mini::tree::DataTree;
/// use zk_server_mini::txn::{Txn, TxnHeader};
///
/// let mut replica = Replica::new(DataTree::new());
/// let header = TxnHeader { session_id: 1, cxid: 0, zxid: 1, time: 0 };
/// let txn = Txn::CreateSession { timeout_ms: 10_000, passwd: Default::default() };
/// assert!(replica.apply(&header, &txn).is_ok());
/// assert!(replica.tree().sessions.contains_key(&1));
/// // The same zxid again is refused, not applied twice.
/// assert!(replica.apply(&header, &txn).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Replica {
    pub(crate) tree: DataTree,
}

impl Replica {
    /// The replica over a recovered tree.
    ///
    /// ```
    /// use zk_server_mini::replica::Replica;
    /// use zk_server_mini::tree::DataTree;
    /// let mut tree = DataTree::new();
    /// tree.last_zxid = 7; // as recovered from a snapshot and the log
    /// assert_eq!(Replica::new(tree).last_zxid(), 7);
    /// ```
    pub fn new(tree: DataTree) -> Self {
        Self { tree }
    }

    /// The applied state.
    ///
    /// ```
    /// use zk_server_mini::replica::Replica;
    /// use zk_server_mini::tree::DataTree;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// let mut replica = Replica::new(DataTree::new());
    /// let open = |zxid| (TxnHeader { session_id: zxid, cxid: 0, zxid, time: 0 }, Txn::CreateSession { timeout_ms: 10_000, passwd: Default::default() });
    /// let (h, t) = open(1);
    /// replica.apply(&h, &t).unwrap();
    /// assert!(replica.tree().sessions.contains_key(&1));
    /// ```
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// The zxid of the last applied transaction.
    ///
    /// ```
    /// use zk_server_mini::replica::Replica;
    /// use zk_server_mini::tree::DataTree;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// let mut replica = Replica::new(DataTree::new());
    /// let open = |zxid| (TxnHeader { session_id: zxid, cxid: 0, zxid, time: 0 }, Txn::CreateSession { timeout_ms: 10_000, passwd: Default::default() });
    /// assert_eq!(replica.last_zxid(), 0);
    /// let (h, t) = open(1);
    /// replica.apply(&h, &t).unwrap();
    /// assert_eq!(replica.last_zxid(), 1);
    /// ```
    pub fn last_zxid(&self) -> i64 {
        self.tree.last_zxid
    }

    /// Applies a committed transaction: its result and the changes it made (for watches).
    ///
    /// # Errors
    /// [`OutOfOrder`] when its zxid is not above the last applied one; nothing changes.
    ///
    /// ```
    /// use zk_server_mini::replica::Replica;
    /// use zk_server_mini::tree::DataTree;
    /// use zk_server_mini::txn::{Txn, TxnHeader};
    /// let mut replica = Replica::new(DataTree::new());
    /// let open = |zxid| (TxnHeader { session_id: zxid, cxid: 0, zxid, time: 0 }, Txn::CreateSession { timeout_ms: 10_000, passwd: Default::default() });
    /// let (h, t) = open(1);
    /// let (result, changes) = replica.apply(&h, &t).unwrap();
    /// assert_eq!(result, zk_server_mini::apply::TxnResult::SessionCreated);
    /// assert!(changes.is_empty());
    /// ```
    pub fn apply(
        &mut self,
        header: &TxnHeader,
        txn: &Txn,
    ) -> Result<(TxnResult, Vec<Change>), OutOfOrder> {
        if header.zxid <= self.tree.last_zxid {
            return Err(OutOfOrder {
                zxid: header.zxid,
                last: self.tree.last_zxid,
            });
        }
        Ok(apply(&mut self.tree, header, txn))
    }
}
