//! The server's watch table (PROTOCOL.md §6): one-shot data and child watches, persistent and
//! persistent-recursive watches, per-connection deduplication, and the SetWatches rules.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use zk_proto::{EventType, WatcherType};

/// A connection's id inside the server.
///
/// ```
/// use zk_proto::EventType;
/// use zk_server_mini::watches::{Table, WatchTable};
/// let mut w = WatchTable::default();
/// use zk_server_mini::watches::ConnId;
/// let conn: ConnId = 7; // assigned by the server per accepted connection
/// w.add_one_shot(Table::Data, "/a", conn)?;
/// assert_eq!(w.trigger_data("/a", EventType::NodeDeleted), vec![conn]);
/// # Ok::<(), zk_server_mini::watches::WatchLimit>(())
/// ```
pub type ConnId = u64;

const STANDARD: u8 = 1;
const PERSISTENT: u8 = 2;
const RECURSIVE: u8 = 4;

/// Watched paths one connection may hold by default (both tables, each path once).
///
/// ```
/// use zk_server_mini::watches::{DEFAULT_MAX_WATCHES, WatchTable};
/// assert_eq!(DEFAULT_MAX_WATCHES, 1 << 20);
/// let w = WatchTable::with_limits(DEFAULT_MAX_WATCHES, zk_server_mini::watches::DEFAULT_MAX_WATCH_BYTES);
/// # drop(w);
/// ```
pub const DEFAULT_MAX_WATCHES: usize = 1 << 20;

/// Bytes of watched paths one connection may hold by default.
///
/// ```
/// use zk_server_mini::watches::DEFAULT_MAX_WATCH_BYTES;
/// assert_eq!(DEFAULT_MAX_WATCH_BYTES, 16 << 20); // 16 MiB of watched path bytes per connection
/// ```
pub const DEFAULT_MAX_WATCH_BYTES: usize = 16 << 20;

/// Which table a watch lives in.
///
/// ```
/// use zk_proto::EventType;
/// use zk_server_mini::watches::{Table, WatchTable};
/// let mut w = WatchTable::default();
/// w.add_one_shot(Table::Data, "/a", 1)?;  // getData / exists with watch
/// w.add_one_shot(Table::Child, "/a", 2)?; // getChildren with watch
/// assert_eq!(w.trigger_data("/a", EventType::NodeDataChanged), vec![1]);
/// assert_eq!(w.trigger_child("/a", EventType::NodeChildrenChanged, &[]), vec![2]);
/// # Ok::<(), zk_server_mini::watches::WatchLimit>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Data watches: getData, exists.
    Data,
    /// Child watches: getChildren.
    Child,
}

impl Table {
    fn bit(self) -> u8 {
        match self {
            Table::Data => 1,
            Table::Child => 2,
        }
    }
}

/// A connection tried to hold more watches than its limit allows.
///
/// ```
/// use zk_server_mini::watches::{Table, WatchLimit, WatchTable};
/// let mut w = WatchTable::with_limits(1, 1024);
/// w.add_one_shot(Table::Data, "/a", 9).unwrap();
/// let err = w.add_one_shot(Table::Data, "/b", 9).unwrap_err();
/// assert_eq!(err, WatchLimit { conn: 9, count: 1, bytes: 2 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection {conn} holds {count} watched paths ({bytes} bytes): over its watch limit")]
pub struct WatchLimit {
    /// The connection.
    pub conn: ConnId,
    /// Paths it watches.
    pub count: usize,
    /// Bytes of those paths.
    pub bytes: usize,
}

/// One connection's watched paths: which tables each is in, and their total size. Lets a
/// closing connection drop its watches without scanning anyone else's, and bounds what one
/// connection can make the server keep.
#[derive(Debug, Default)]
struct ConnWatches {
    paths: HashMap<Arc<str>, u8>,
    bytes: usize,
}

/// The watch table.
///
/// ```
/// use zk_proto::EventType;
/// use zk_server_mini::watches::{Table, WatchTable};
///
/// let mut w = WatchTable::default();
/// w.add_one_shot(Table::Data, "/a", 1)?;
/// assert_eq!(w.trigger_data("/a", EventType::NodeDataChanged), vec![1]);
/// // One-shot: it is gone now.
/// assert!(w.trigger_data("/a", EventType::NodeDataChanged).is_empty());
/// # Ok::<(), zk_server_mini::watches::WatchLimit>(())
/// ```
#[derive(Debug)]
pub struct WatchTable {
    data: HashMap<Arc<str>, BTreeMap<ConnId, u8>>,
    child: HashMap<Arc<str>, BTreeMap<ConnId, u8>>,
    by_conn: HashMap<ConnId, ConnWatches>,
    recursive_count: usize,
    max_watches: usize,
    max_watch_bytes: usize,
}

impl Default for WatchTable {
    fn default() -> Self {
        Self::with_limits(DEFAULT_MAX_WATCHES, DEFAULT_MAX_WATCH_BYTES)
    }
}

impl WatchTable {
    /// An empty table where one connection may watch at most `max_watches` paths holding at
    /// most `max_watch_bytes` bytes of path.
    ///
    /// ```
    /// use zk_server_mini::watches::{Table, WatchTable};
    ///
    /// let mut w = WatchTable::with_limits(1, 1024);
    /// assert!(w.add_one_shot(Table::Data, "/a", 1).is_ok());
    /// assert!(w.add_one_shot(Table::Child, "/a", 1).is_ok()); // the same path
    /// assert!(w.add_one_shot(Table::Data, "/b", 1).is_err());
    /// assert!(w.add_one_shot(Table::Data, "/b", 2).is_ok()); // another connection
    /// ```
    pub fn with_limits(max_watches: usize, max_watch_bytes: usize) -> Self {
        Self {
            data: HashMap::new(),
            child: HashMap::new(),
            by_conn: HashMap::new(),
            recursive_count: 0,
            max_watches,
            max_watch_bytes,
        }
    }

    fn table(&mut self, t: Table) -> &mut HashMap<Arc<str>, BTreeMap<ConnId, u8>> {
        match t {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
        }
    }

    /// Records in `conn`'s index that it watches `path` in `t`; refuses a new path over the
    /// connection's limits. Returns the shared path.
    fn index(&mut self, t: Table, path: &str, conn: ConnId) -> Result<Arc<str>, WatchLimit> {
        let (max_watches, max_bytes) = (self.max_watches, self.max_watch_bytes);
        let mine = self.by_conn.entry(conn).or_default();
        if let Some((key, tables)) = mine.paths.get_key_value(path) {
            let key = key.clone();
            let bit = *tables | t.bit();
            mine.paths.insert(key.clone(), bit);
            return Ok(key);
        }
        if mine.paths.len() >= max_watches || mine.bytes + path.len() > max_bytes {
            let err = WatchLimit {
                conn,
                count: mine.paths.len(),
                bytes: mine.bytes,
            };
            if mine.paths.is_empty() {
                self.by_conn.remove(&conn);
            }
            return Err(err);
        }
        // Share the key the table already holds for this path, if any.
        let key = self
            .table(t)
            .get_key_value(path)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| Arc::from(path));
        let mine = self.by_conn.entry(conn).or_default();
        mine.bytes += key.len();
        mine.paths.insert(key.clone(), t.bit());
        Ok(key)
    }

    /// Removes `path` in `t` from `conn`'s index.
    fn unindex(by_conn: &mut HashMap<ConnId, ConnWatches>, t: Table, path: &str, conn: ConnId) {
        let Some(mine) = by_conn.get_mut(&conn) else {
            return;
        };
        if let Some(tables) = mine.paths.get_mut(path) {
            *tables &= !t.bit();
            if *tables == 0 {
                mine.paths.remove(path);
                mine.bytes = mine.bytes.saturating_sub(path.len());
            }
        }
        if mine.paths.is_empty() {
            by_conn.remove(&conn);
        }
    }

    fn add(&mut self, t: Table, path: &str, conn: ConnId, flag: u8) -> Result<(), WatchLimit> {
        let key = self.index(t, path, conn)?;
        let entry = self
            .table(t)
            .entry(key)
            .or_default()
            .entry(conn)
            .or_insert(0);
        let added_recursive = flag == RECURSIVE && *entry & RECURSIVE == 0;
        *entry |= flag;
        if added_recursive {
            self.recursive_count += 1;
        }
        Ok(())
    }

    /// Registers a one-shot watch.
    ///
    /// # Errors
    /// [`WatchLimit`] when `path` is new for `conn` and would take it over its limits.
    ///
    /// ```
    /// use zk_proto::EventType;
    /// use zk_server_mini::watches::{Table, WatchTable};
    /// let mut w = WatchTable::default();
    /// w.add_one_shot(Table::Data, "/a", 1)?;
    /// w.add_one_shot(Table::Data, "/a", 1)?; // twice: still one watch
    /// assert_eq!(w.watch_count(), 1);
    /// # Ok::<(), zk_server_mini::watches::WatchLimit>(())
    /// ```
    pub fn add_one_shot(&mut self, t: Table, path: &str, conn: ConnId) -> Result<(), WatchLimit> {
        self.add(t, path, conn, STANDARD)
    }

    /// Registers a persistent (or persistent-recursive) watch: it goes in both tables.
    ///
    /// # Errors
    /// [`WatchLimit`] as [`WatchTable::add_one_shot`].
    ///
    /// ```
    /// use zk_proto::EventType;
    /// use zk_server_mini::watches::{Table, WatchTable};
    /// let mut w = WatchTable::default();
    /// w.add_persistent("/app", 1, true)?; // addWatch PERSISTENT_RECURSIVE
    /// assert_eq!(w.trigger_data("/app/x/y", EventType::NodeDataChanged), vec![1]);
    /// assert_eq!(w.trigger_data("/app/x/y", EventType::NodeDataChanged), vec![1]); // stays
    /// # Ok::<(), zk_server_mini::watches::WatchLimit>(())
    /// ```
    pub fn add_persistent(
        &mut self,
        path: &str,
        conn: ConnId,
        recursive: bool,
    ) -> Result<(), WatchLimit> {
        let flag = if recursive { RECURSIVE } else { PERSISTENT };
        self.add(Table::Data, path, conn, flag)?;
        self.add(Table::Child, path, conn, flag)
    }

    /// The connections to notify, each once, in id order (a set, not a scan of a list: a path
    /// watched by many connections costs O(n log n), not O(n²)).
    fn trigger(
        &mut self,
        t: Table,
        path: &str,
        event: EventType,
        suppress: &[ConnId],
    ) -> Vec<ConnId> {
        let mut fired: BTreeSet<ConnId> = BTreeSet::new();
        let suppressed = |c: &ConnId| suppress.binary_search(c).is_ok();
        let (table, by_conn) = match t {
            Table::Data => (&mut self.data, &mut self.by_conn),
            Table::Child => (&mut self.child, &mut self.by_conn),
        };
        if let Some(watchers) = table.get_mut(path) {
            watchers.retain(|conn, flags| {
                let hit = *flags & (STANDARD | PERSISTENT) != 0
                    || (*flags & RECURSIVE != 0 && event != EventType::NodeChildrenChanged);
                if hit && !suppressed(conn) {
                    fired.insert(*conn);
                }
                *flags &= !STANDARD;
                if *flags == 0 {
                    Self::unindex(by_conn, t, path, *conn);
                }
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
                        if flags & RECURSIVE != 0 && !suppressed(conn) {
                            fired.insert(*conn);
                        }
                    }
                }
                p = parent;
            }
        }
        fired.into_iter().collect()
    }

    /// Fires the data table for `path`; returns the connections to notify, in id order.
    ///
    /// ```
    /// use zk_proto::EventType;
    /// use zk_server_mini::watches::{Table, WatchTable};
    /// let mut w = WatchTable::default();
    /// w.add_one_shot(Table::Data, "/a", 2)?;
    /// w.add_one_shot(Table::Data, "/a", 1)?;
    /// assert_eq!(w.trigger_data("/a", EventType::NodeDataChanged), vec![1, 2]);
    /// assert!(w.trigger_data("/a", EventType::NodeDataChanged).is_empty()); // one-shot
    /// # Ok::<(), zk_server_mini::watches::WatchLimit>(())
    /// ```
    pub fn trigger_data(&mut self, path: &str, event: EventType) -> Vec<ConnId> {
        self.trigger(Table::Data, path, event, &[])
    }

    /// Fires the child table for `path`, skipping `suppress` (connections already notified of
    /// the same change from the data table; sorted, as [`WatchTable::trigger_data`] returns
    /// them).
    ///
    /// ```
    /// use zk_proto::EventType;
    /// use zk_server_mini::watches::{Table, WatchTable};
    /// let mut w = WatchTable::default();
    /// w.add_one_shot(Table::Data, "/a", 1)?;
    /// w.add_one_shot(Table::Child, "/a", 1)?;
    /// w.add_one_shot(Table::Child, "/a", 2)?;
    /// let data = w.trigger_data("/a", EventType::NodeDeleted);
    /// // a delete fires both tables; connection 1 is told once
    /// assert_eq!(w.trigger_child("/a", EventType::NodeDeleted, &data), vec![2]);
    /// # Ok::<(), zk_server_mini::watches::WatchLimit>(())
    /// ```
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
    ///
    /// ```
    /// use zk_proto::{ErrorCode, WatcherType};
    /// use zk_server_mini::watches::{Table, WatchTable};
    /// let mut w = WatchTable::default();
    /// w.add_one_shot(Table::Child, "/a", 1).unwrap();
    /// assert_eq!(w.check_or_remove("/a", WatcherType::Data, 1, false), Ok(false));
    /// assert_eq!(w.check_or_remove("/a", WatcherType::Any, 1, true), Ok(true)); // removeWatches
    /// assert_eq!(w.watch_count(), 0);
    /// assert_eq!(w.check_or_remove("/a", WatcherType::Persistent, 1, false), Err(ErrorCode::MarshallingError));
    /// ```
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
                    if w.is_empty() {
                        table.remove(path);
                    }
                    if flags & RECURSIVE != 0 {
                        self.recursive_count = self.recursive_count.saturating_sub(1);
                    }
                    Self::unindex(&mut self.by_conn, *t, path, conn);
                }
            }
        }
        Ok(found)
    }

    /// Drops every watch of a closed connection: only its own watches are visited.
    ///
    /// ```
    /// use zk_proto::EventType;
    /// use zk_server_mini::watches::{Table, WatchTable};
    /// let mut w = WatchTable::default();
    /// w.add_one_shot(Table::Data, "/a", 1)?;
    /// w.add_one_shot(Table::Data, "/a", 2)?;
    /// w.remove_connection(1); // connection closed
    /// assert_eq!(w.trigger_data("/a", EventType::NodeDataChanged), vec![2]);
    /// # Ok::<(), zk_server_mini::watches::WatchLimit>(())
    /// ```
    pub fn remove_connection(&mut self, conn: ConnId) {
        let Some(mine) = self.by_conn.remove(&conn) else {
            return;
        };
        let mut lost = 0;
        for (path, tables) in mine.paths {
            for t in [Table::Data, Table::Child] {
                if tables & t.bit() == 0 {
                    continue;
                }
                let table = self.table(t);
                if let Some(w) = table.get_mut(&*path) {
                    if let Some(flags) = w.remove(&conn)
                        && flags & RECURSIVE != 0
                    {
                        lost += 1;
                    }
                    if w.is_empty() {
                        table.remove(&*path);
                    }
                }
            }
        }
        self.recursive_count = self.recursive_count.saturating_sub(lost);
    }

    /// Total number of (path, connection) watches in both tables.
    ///
    /// ```
    /// use zk_proto::EventType;
    /// use zk_server_mini::watches::{Table, WatchTable};
    /// let mut w = WatchTable::default();
    /// w.add_one_shot(Table::Data, "/a", 1)?;
    /// w.add_one_shot(Table::Child, "/a", 1)?;
    /// w.add_one_shot(Table::Data, "/a", 2)?;
    /// assert_eq!(w.watch_count(), 3); // (path, connection) pairs over both tables
    /// # Ok::<(), zk_server_mini::watches::WatchLimit>(())
    /// ```
    pub fn watch_count(&self) -> usize {
        self.data.values().map(BTreeMap::len).sum::<usize>()
            + self.child.values().map(BTreeMap::len).sum::<usize>()
    }

    /// Paths `conn` watches (in either table) and their total bytes.
    ///
    /// ```
    /// use zk_proto::EventType;
    /// use zk_server_mini::watches::{Table, WatchTable};
    /// let mut w = WatchTable::default();
    /// w.add_one_shot(Table::Data, "/ab", 1)?;
    /// w.add_one_shot(Table::Child, "/ab", 1)?; // the same path counts once
    /// assert_eq!(w.connection_usage(1), (1, 3));
    /// assert_eq!(w.connection_usage(2), (0, 0));
    /// # Ok::<(), zk_server_mini::watches::WatchLimit>(())
    /// ```
    pub fn connection_usage(&self, conn: ConnId) -> (usize, usize) {
        self.by_conn
            .get(&conn)
            .map_or((0, 0), |m| (m.paths.len(), m.bytes))
    }

    /// Every watched path with the connections watching it (both tables merged).
    ///
    /// ```
    /// use zk_proto::EventType;
    /// use zk_server_mini::watches::{Table, WatchTable};
    /// let mut w = WatchTable::default();
    /// w.add_one_shot(Table::Data, "/a", 2)?;
    /// w.add_one_shot(Table::Child, "/a", 1)?;
    /// assert_eq!(w.by_path()["/a"], vec![1, 2]); // what `wchp` prints
    /// # Ok::<(), zk_server_mini::watches::WatchLimit>(())
    /// ```
    pub fn by_path(&self) -> BTreeMap<String, Vec<ConnId>> {
        let mut out: BTreeMap<String, BTreeSet<ConnId>> = BTreeMap::new();
        for table in [&self.data, &self.child] {
            for (path, w) in table {
                out.entry(path.to_string())
                    .or_default()
                    .extend(w.keys().copied());
            }
        }
        out.into_iter()
            .map(|(p, set)| (p, set.into_iter().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType::*;

    #[test]
    fn persistent_and_recursive_on_the_same_path_fire_once() {
        let mut w = WatchTable::default();
        w.add_persistent("/s", 1, false)
            .unwrap_or_else(|e| panic!("{e}"));
        w.add_persistent("/s", 1, true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.trigger_data("/s", NodeDataChanged), vec![1]);
        assert_eq!(w.trigger_data("/s", NodeDataChanged), vec![1]);
    }

    #[test]
    fn recursive_fires_for_descendants_but_never_children_changed() {
        let mut w = WatchTable::default();
        w.add_persistent("/r", 7, true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.trigger_data("/r/a/b", NodeCreated), vec![7]);
        assert!(w.trigger_child("/r", NodeChildrenChanged, &[]).is_empty());
        assert!(w.trigger_data("/rx", NodeCreated).is_empty());
    }

    #[test]
    fn persistent_fires_children_changed_not_grandchildren() {
        let mut w = WatchTable::default();
        w.add_persistent("/p", 2, false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.trigger_child("/p", NodeChildrenChanged, &[]), vec![2]);
        assert!(w.trigger_data("/p/a", NodeCreated).is_empty());
    }

    #[test]
    fn delete_dedups_between_tables() {
        let mut w = WatchTable::default();
        w.add_one_shot(Table::Data, "/d", 1)
            .unwrap_or_else(|e| panic!("{e}"));
        w.add_one_shot(Table::Child, "/d", 1)
            .unwrap_or_else(|e| panic!("{e}"));
        w.add_one_shot(Table::Child, "/d", 2)
            .unwrap_or_else(|e| panic!("{e}"));
        let first = w.trigger_data("/d", NodeDeleted);
        assert_eq!(first, vec![1]);
        assert_eq!(w.trigger_child("/d", NodeDeleted, &first), vec![2]);
        assert_eq!(w.watch_count(), 0);
    }

    /// A connection's watches are bounded; closing it removes exactly its own, and a path
    /// watched by many connections fires each once.
    #[test]
    fn per_connection_limits_index_and_many_watchers() {
        let mut w = WatchTable::with_limits(3, 1 << 20);
        for p in ["/a", "/b", "/c"] {
            w.add_one_shot(Table::Data, p, 9)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let err = w.add_one_shot(Table::Child, "/d", 9).err();
        assert_eq!(err.map(|e| e.count), Some(3));
        // A path already watched is not new.
        assert!(w.add_persistent("/a", 9, true).is_ok());
        assert_eq!(w.connection_usage(9), (3, 6));
        // Bytes: a long path over the byte limit is refused even under the count limit.
        let mut small = WatchTable::with_limits(10, 8);
        assert!(small.add_one_shot(Table::Data, "/12345678", 1).is_err());
        // Many connections on one path: each fires once, in id order.
        for c in (100..3100).rev() {
            w.add_one_shot(Table::Data, "/hot", c)
                .unwrap_or_else(|e| panic!("{e}"));
            w.add_persistent("/", c, true)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let fired = w.trigger_data("/hot", EventType::NodeDataChanged);
        assert_eq!(fired, (100..3100).collect::<Vec<_>>());
        // Closing connection 9 leaves everyone else's watches.
        let before = w.watch_count();
        w.remove_connection(9);
        assert_eq!(w.watch_count(), before - 4);
        assert_eq!(w.connection_usage(9), (0, 0));
        assert_eq!(w.connection_usage(100), (1, 1));
        for c in 100..3100 {
            w.remove_connection(c);
        }
        assert_eq!(w.watch_count(), 0);
        assert_eq!(w.recursive_count, 0);
        assert!(w.by_conn.is_empty());
    }

    #[test]
    fn remove_and_check() {
        let mut w = WatchTable::default();
        w.add_one_shot(Table::Data, "/a", 1)
            .unwrap_or_else(|e| panic!("{e}"));
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
