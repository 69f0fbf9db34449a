//! The proposing side of the write path, what the leader of an ensemble runs (and a
//! standalone server, an ensemble of one): session liveness and expiry (decided here and
//! nowhere else; other members forward the pings), session ids, prep of requests into
//! transactions against the applied tree plus the pending ones, and zxid assignment with the
//! epoch in the high 32 bits.

use crate::prep::{Pending, Prep, PrepConfig};
use crate::session::SessionTracker;
use crate::tree::DataTree;
use crate::txn::{Txn, TxnHeader};
use crate::zxid;

use super::{Origin, Proposal};

#[derive(Debug)]
pub(crate) struct Proposer {
    /// Changes of prepared, not yet applied transactions.
    pub(crate) pending: Pending,
    /// The last zxid handed out.
    pub(crate) last_assigned: i64,
    /// Live sessions and their deadlines: the one place expiry is decided.
    pub(crate) sessions: SessionTracker,
    /// The next session id to try.
    pub(crate) next_session: i64,
    /// Transactions prepared since the last seal.
    pub(crate) proposals: Vec<Proposal>,
}

impl Proposer {
    /// A proposer over a recovered tree: every session in it starts a fresh timeout, and
    /// session ids start from the server id and the wall clock (as ZooKeeper's do).
    pub(crate) fn new(
        tree: &DataTree,
        tick_ms: u64,
        server_id: u8,
        now_ms: u64,
        wall_ms: i64,
    ) -> Self {
        let mut sessions = SessionTracker::new(tick_ms);
        for (id, info) in &tree.sessions {
            sessions.add(*id, info.timeout_ms.max(0) as u64, now_ms);
        }
        let base = ((wall_ms << 24) as u64 >> 8) as i64 | (i64::from(server_id) << 56);
        // Only ids of this server's range: in an ensemble every member hands out ids under
        // its own id byte, and continuing after another member's would collide with its.
        let mine = |id: &&i64| (**id >> 56) as u8 == server_id;
        let max_existing = tree
            .sessions
            .keys()
            .filter(mine)
            .max()
            .copied()
            .unwrap_or(0);
        Self {
            pending: Pending::default(),
            last_assigned: tree.last_zxid,
            sessions,
            next_session: base.max(max_existing.saturating_add(1)),
            proposals: Vec::new(),
        }
    }

    /// The zxid the next transaction gets. The counter never spills into the epoch: past
    /// its end a standalone server moves to the next epoch (an ensemble's leader would step
    /// down and let an election start one).
    fn next_zxid(&self) -> i64 {
        zxid::next(self.last_assigned).unwrap_or_else(|| {
            let epoch = zxid::epoch(self.last_assigned).saturating_add(1);
            tracing::warn!(epoch, "zxid counter exhausted; starting a new epoch");
            zxid::make(epoch, 1)
        })
    }

    /// Prep over `tree` and the pending changes, tagged with the zxid [`Proposer::propose`]
    /// will give the transaction it prepares.
    pub(crate) fn prep<'a>(&'a mut self, tree: &'a DataTree, cfg: PrepConfig) -> Prep<'a> {
        self.pending.set_next_zxid(self.next_zxid());
        Prep::new(tree, &mut self.pending, cfg)
    }

    /// Gives `txn` the next zxid and queues it.
    pub(crate) fn propose(
        &mut self,
        session_id: i64,
        cxid: i32,
        wall_ms: i64,
        txn: Txn,
        origin: Origin,
    ) -> i64 {
        self.last_assigned = self.next_zxid();
        let header = TxnHeader {
            session_id,
            cxid,
            zxid: self.last_assigned,
            time: wall_ms,
        };
        self.proposals.push(Proposal {
            header,
            txn,
            origin,
        });
        self.last_assigned
    }

    /// A fresh session id, skipping ids in use. Wrapping: recovered ids come from disk and
    /// may sit anywhere in the range. 0 means "new session" and `i64::MIN` marks containers.
    pub(crate) fn new_session_id(&mut self, tree: &DataTree) -> i64 {
        let mut sid = self.next_session;
        while sid == 0
            || sid == i64::MIN
            || tree.sessions.contains_key(&sid)
            || self.sessions.contains(sid)
        {
            sid = sid.wrapping_add(1);
        }
        self.next_session = sid.wrapping_add(1);
        sid
    }
}
