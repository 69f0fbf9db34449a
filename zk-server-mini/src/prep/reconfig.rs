//! `reconfig` (opcode 16) in prep: the checks a real 3.8.0 leader makes, in its order.

use bytes::Bytes;
use zk_proto::ErrorCode;
use zk_proto::acl::Perms;

use super::{Caller, NodeView, Pending, Prep};
use crate::acl_check::allowed;
use crate::txn::Txn;

impl Prep<'_> {
    /// `reconfig`, in the real server's order of checks: enabled, standalone, the caller's
    /// WRITE permission on `/zookeeper/config` (only the super user has it) unless
    /// `skipACL`, one reconfiguration at a time, then the request itself, and a quorum of the
    /// new voters synced with this leader (`NewConfigNoQuorum`). The result is a
    /// [`Txn::Reconfig`] with the new configuration text (a change that leaves the membership
    /// as it is still commits a new version, as ZooKeeper does); the ensemble's membership
    /// changes when it is applied (see `crate::zab::membership`).
    pub(super) fn reconfig(
        &self,
        nodes: &mut Pending,
        caller: &Caller<'_>,
        r: &zk_proto::ReconfigRequest,
    ) -> Result<Txn, ErrorCode> {
        use crate::reconfig::{CONFIG_PATH, Membership, next_membership};
        let policy = self.config.reconfig;
        if !policy.enabled {
            return Err(ErrorCode::ReconfigDisabled);
        }
        if !policy.ensemble {
            return Err(ErrorCode::Unimplemented);
        }
        let node = self
            .view(nodes, CONFIG_PATH)
            .ok_or(ErrorCode::SystemError)?;
        if !policy.skip_acl && !allowed(&node.acl, caller.ids, Perms::WRITE) {
            return Err(ErrorCode::NoAuth);
        }
        if nodes.get(CONFIG_PATH).is_some() {
            return Err(ErrorCode::ReconfigInProgress);
        }
        let current = self
            .tree
            .get(CONFIG_PATH)
            .and_then(|n| n.data.as_slice())
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(Membership::parse)
            .ok_or(ErrorCode::SystemError)?;
        let next = next_membership(&current, r)?;
        if let Some(synced) = &self.config.synced {
            let voters: Vec<u64> = next
                .iter()
                .filter(|(_, a)| !a.observer)
                .map(|(id, _)| *id)
                .collect();
            let live = voters.iter().filter(|v| synced.contains(v)).count();
            if live <= voters.len() / 2 {
                return Err(ErrorCode::NewConfigNoQuorum);
            }
        }
        let text = Membership {
            servers: next,
            version: nodes.next_zxid,
        }
        .text();
        nodes.insert(
            CONFIG_PATH.to_owned(),
            Some(NodeView {
                version: -1,
                mtime: i64::MAX,
                ..node
            }),
        );
        Ok(Txn::Reconfig {
            data: Bytes::from(text),
        })
    }
}
