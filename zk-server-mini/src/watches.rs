//! The server's watch table (PROTOCOL.md §6): one-shot data and child watches, persistent and
//! persistent-recursive watches, per-connection deduplication, and the SetWatches rules.

use std::collections::{BTreeMap, HashMap};

use zk_proto::{EventType, WatcherType};

/// A connection's id inside the server.
pub type ConnId = u64;

const STANDARD: u8 = 1;
const PERSISTENT: u8 = 2;
const RECURSIVE: u8 = 4;

/// Which table a watch lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Data watches: getData, exists.
    Data,
    /// Child watches: getChildren.
    Child,
}

/// The watch table.
///
/// ```
/// use zk_proto::EventType;
/// use zk_server_mini::watches::{Table, WatchTable};
///
/// let mut w = WatchTable::default();
/// w.add_one_shot(Table::Data, "/a", 1);
/// assert_eq!(w.trigger_data("/a", EventType::NodeDataChanged), vec![1]);
/// // One-shot: it is gone now.
/// assert!(w.trigger_data("/a", EventType::NodeDataChanged).is_empty());
/// ```
#[derive(Debug, Default)]
pub struct WatchTable {
    data: HashMap<String, BTreeMap<ConnId, u8>>,
    child: HashMap<String, BTreeMap<ConnId, u8>>,
    recursive_count: usize,
}

impl WatchTable {
    fn table(&mut self, t: Table) -> &mut HashMap<String, BTreeMap<ConnId, u8>> {
        match t {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
        }
    }

    fn add(&mut self, t: Table, path: &str, conn: ConnId, flag: u8) {
        let entry = self
            .table(t)
            .entry(path.to_owned())
            .or_default()
            .entry(conn)
            .or_insert(0);
        let added_recursive = flag == RECURSIVE && *entry & RECURSIVE == 0;
        *entry |= flag;
        if added_recursive {
            self.recursive_count += 1;
        }
    }

    /// Registers a one-shot watch.
    pub fn add_one_shot(&mut self, t: Table, path: &str, conn: ConnId) {
        self.add(t, path, conn, STANDARD);
    }

    /// Registers a persistent (or persistent-recursive) watch: it goes in both tables.
    pub fn add_persistent(&mut self, path: &str, conn: ConnId, recursive: bool) {
        let flag = if recursive { RECURSIVE } else { PERSISTENT };
        self.add(Table::Data, path, conn, flag);
        self.add(Table::Child, path, conn, flag);
    }

    fn trigger(
        &mut self,
        t: Table,
        path: &str,
        event: EventType,
        suppress: &[ConnId],
    ) -> Vec<ConnId> {
        let mut fired: Vec<ConnId> = Vec::new();
        let push = |c: ConnId, fired: &mut Vec<ConnId>| {
            if !suppress.contains(&c) && !fired.contains(&c) {
                fired.push(c);
            }
        };
        let table = match t {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
        };
        if let Some(watchers) = table.get_mut(path) {
            watchers.retain(|conn, flags| {
                let hit = *flags & (STANDARD | PERSISTENT) != 0
                    || (*flags & RECURSIVE != 0 && event != EventType::NodeChildrenChanged);
                if hit {
                    push(*conn, &mut fired);
                }
                *flags &= !STANDARD;
                *flags != 0
            });
            if watchers.is_empty() {
                table.remove(path);
            }
        }
        if self.recursive_count > 0 && event != EventType::NodeChildrenChanged {
            let mut p = path;
            while let Some((parent, _)) = crate::tree::split_parent(p) {
                if let Some(watchers) = table.get(parent) {
                    for (conn, flags) in watchers {
                        if flags & RECURSIVE != 0 {
                            push(*conn, &mut fired);
                        }
                    }
                }
                p = parent;
            }
        }
        fired
    }

    /// Fires the data table for `path`; returns the connections to notify.
    pub fn trigger_data(&mut self, path: &str, event: EventType) -> Vec<ConnId> {
        self.trigger(Table::Data, path, event, &[])
    }

    /// Fires the child table for `path`, skipping `suppress` (connections already notified of
    /// the same change from the data table).
    pub fn trigger_child(
        &mut self,
        path: &str,
        event: EventType,
        suppress: &[ConnId],
    ) -> Vec<ConnId> {
        self.trigger(Table::Child, path, event, suppress)
    }

    /// Whether `conn` has a watch of `kind` on `path`; removes it when `remove`. 3.8 semantics:
    /// Children = child table, Data = data table, Any = both; types 4 and 5 are
    /// `MarshallingError`.
    pub fn check_or_remove(
        &mut self,
        path: &str,
        kind: WatcherType,
        conn: ConnId,
        remove: bool,
    ) -> Result<bool, zk_proto::ErrorCode> {
        let tables: &[Table] = match kind {
            WatcherType::Children => &[Table::Child],
            WatcherType::Data => &[Table::Data],
            WatcherType::Any => &[Table::Data, Table::Child],
            _ => return Err(zk_proto::ErrorCode::MarshallingError),
        };
        let mut found = false;
        for t in tables {
            let table = self.table(*t);
            if let Some(w) = table.get_mut(path)
                && let Some(flags) = w.get(&conn).copied()
            {
                found = true;
                if remove {
                    w.remove(&conn);
                    if flags & RECURSIVE != 0 {
                        self.recursive_count = self.recursive_count.saturating_sub(1);
                    }
                    let table = self.table(*t);
                    if table.get(path).is_some_and(BTreeMap::is_empty) {
                        table.remove(path);
                    }
                }
            }
        }
        Ok(found)
    }

    /// Drops every watch of a closed connection.
    pub fn remove_connection(&mut self, conn: ConnId) {
        let mut lost = 0;
        for table in [&mut self.data, &mut self.child] {
            table.retain(|_, w| {
                if let Some(flags) = w.remove(&conn)
                    && flags & RECURSIVE != 0
                {
                    lost += 1;
                }
                !w.is_empty()
            });
        }
        self.recursive_count = self.recursive_count.saturating_sub(lost);
    }

    /// Total number of (path, connection) watches in both tables.
    pub fn watch_count(&self) -> usize {
        self.data.values().map(BTreeMap::len).sum::<usize>()
            + self.child.values().map(BTreeMap::len).sum::<usize>()
    }

    /// Every watched path with the connections watching it (both tables merged).
    pub fn by_path(&self) -> BTreeMap<String, Vec<ConnId>> {
        let mut out: BTreeMap<String, Vec<ConnId>> = BTreeMap::new();
        for table in [&self.data, &self.child] {
            for (path, w) in table {
                let v = out.entry(path.clone()).or_default();
                for c in w.keys() {
                    if !v.contains(c) {
                        v.push(*c);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType::*;

    #[test]
    fn persistent_and_recursive_on_the_same_path_fire_once() {
        let mut w = WatchTable::default();
        w.add_persistent("/s", 1, false);
        w.add_persistent("/s", 1, true);
        assert_eq!(w.trigger_data("/s", NodeDataChanged), vec![1]);
        assert_eq!(w.trigger_data("/s", NodeDataChanged), vec![1]);
    }

    #[test]
    fn recursive_fires_for_descendants_but_never_children_changed() {
        let mut w = WatchTable::default();
        w.add_persistent("/r", 7, true);
        assert_eq!(w.trigger_data("/r/a/b", NodeCreated), vec![7]);
        assert!(w.trigger_child("/r", NodeChildrenChanged, &[]).is_empty());
        assert!(w.trigger_data("/rx", NodeCreated).is_empty());
    }

    #[test]
    fn persistent_fires_children_changed_not_grandchildren() {
        let mut w = WatchTable::default();
        w.add_persistent("/p", 2, false);
        assert_eq!(w.trigger_child("/p", NodeChildrenChanged, &[]), vec![2]);
        assert!(w.trigger_data("/p/a", NodeCreated).is_empty());
    }

    #[test]
    fn delete_dedups_between_tables() {
        let mut w = WatchTable::default();
        w.add_one_shot(Table::Data, "/d", 1);
        w.add_one_shot(Table::Child, "/d", 1);
        w.add_one_shot(Table::Child, "/d", 2);
        let first = w.trigger_data("/d", NodeDeleted);
        assert_eq!(first, vec![1]);
        assert_eq!(w.trigger_child("/d", NodeDeleted, &first), vec![2]);
        assert_eq!(w.watch_count(), 0);
    }

    #[test]
    fn remove_and_check() {
        let mut w = WatchTable::default();
        w.add_one_shot(Table::Data, "/a", 1);
        assert_eq!(
            w.check_or_remove("/a", WatcherType::Children, 1, false),
            Ok(false)
        );
        assert_eq!(w.check_or_remove("/a", WatcherType::Any, 1, true), Ok(true));
        assert_eq!(
            w.check_or_remove("/a", WatcherType::Data, 1, false),
            Ok(false)
        );
        assert!(
            w.check_or_remove("/a", WatcherType::Persistent, 1, false)
                .is_err()
        );
    }
}
