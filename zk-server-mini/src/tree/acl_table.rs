//! The interned ACL lists of a [`super::DataTree`].

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use zk_proto::acl::Acl;

/// Interned ACL lists, as ZooKeeper's reference-counted ACL cache: identical lists share one
/// allocation. Keyed by a hash of the list; entries no node uses any more are dropped when the
/// table has doubled since the last sweep, so it stays within twice the lists in use.
#[derive(Debug, Clone, Default)]
pub(super) struct AclTable {
    lists: HashMap<u64, Vec<Arc<[Acl]>>>,
    pub(super) len: usize,
    sweep_at: usize,
}

impl AclTable {
    fn key(acl: &[Acl]) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        acl.len().hash(&mut h);
        for a in acl {
            a.perms.bits().hash(&mut h);
            a.id.scheme.hash(&mut h);
            a.id.id.hash(&mut h);
        }
        h.finish()
    }

    pub(super) fn intern(&mut self, acl: &[Acl]) -> Arc<[Acl]> {
        let key = Self::key(acl);
        if let Some(found) = self
            .lists
            .get(&key)
            .and_then(|b| b.iter().find(|l| ***l == *acl))
        {
            return found.clone();
        }
        if self.len >= self.sweep_at {
            self.sweep();
        }
        let list: Arc<[Acl]> = Arc::from(acl);
        self.lists.entry(key).or_default().push(list.clone());
        self.len += 1;
        list
    }

    /// Drops the lists only this table holds.
    fn sweep(&mut self) {
        self.lists.retain(|_, bucket| {
            bucket.retain(|l| Arc::strong_count(l) > 1);
            !bucket.is_empty()
        });
        self.len = self.lists.values().map(Vec::len).sum();
        self.sweep_at = (self.len * 2).max(16);
    }
}
