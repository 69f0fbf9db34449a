//! A member's logged history in memory: a base (the snapshot's zxid, or 0) and the entries
//! after it. Every append is checked for continuity, so a hole can never enter the log
//! (ZOOKEEPER-4925: a learner that applied around a hole later spread it as leader).

use std::collections::VecDeque;

use super::types::Entry;
use crate::zxid;

/// Whether `next` may directly follow `prev` in a history: the next counter of the same
/// epoch, or the first proposal (counter 1) of a later epoch.
///
/// ```
/// use zk_server_mini::zab::history::follows;
/// use zk_server_mini::zxid::make;
///
/// assert!(follows(make(1, 4), make(1, 5)));
/// assert!(follows(make(1, 4), make(3, 1)));
/// assert!(!follows(make(1, 4), make(1, 6))); // a hole
/// assert!(!follows(make(1, 4), make(1, 4))); // a duplicate
/// assert!(!follows(make(1, 4), make(2, 2))); // a new epoch starts at counter 1
/// ```
pub fn follows(prev: i64, next: i64) -> bool {
    zxid::next(prev) == Some(next)
        || (zxid::epoch(next) > zxid::epoch(prev) && zxid::counter(next) == 1)
}

/// The in-memory log (see the module docs).
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::zab::{Entry, history::History};
///
/// let mut h = History::new(0);
/// h.append(Entry { zxid: 1, payload: Bytes::new() }).unwrap();
/// assert!(h.append(Entry { zxid: 3, payload: Bytes::new() }).is_err());
/// assert_eq!(h.last(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    base: i64,
    entries: VecDeque<Entry>,
}

/// An entry that does not follow the last one.
///
/// ```
/// use zk_server_mini::zab::history::Gap;
///
/// let g = Gap { last: 1, zxid: 3 };
/// assert_eq!(g.to_string(), "zxid 0x3 does not follow 0x1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("zxid {zxid:#x} does not follow {last:#x}")]
pub struct Gap {
    /// The history's last zxid.
    pub last: i64,
    /// The entry refused.
    pub zxid: i64,
}

impl History {
    /// An empty history after `base`.
    ///
    /// ```
    /// use zk_server_mini::zab::history::History;
    /// let h = History::new(42); // continues a snapshot at zxid 42
    /// assert_eq!((h.base(), h.last(), h.len()), (42, 42, 0));
    /// ```
    pub fn new(base: i64) -> Self {
        Self {
            base,
            entries: VecDeque::new(),
        }
    }

    /// The snapshot zxid the entries continue.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// let mut h = History::new(make(1, 2));
    /// h.append(e(make(1, 3))).unwrap();
    /// assert_eq!(h.base(), make(1, 2));
    /// ```
    pub fn base(&self) -> i64 {
        self.base
    }

    /// The last zxid (the base when there are no entries).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// let mut h = History::new(make(1, 2));
    /// assert_eq!(h.last(), make(1, 2)); // the base while empty
    /// h.append(e(make(1, 3))).unwrap();
    /// assert_eq!(h.last(), make(1, 3));
    /// ```
    pub fn last(&self) -> i64 {
        self.entries.back().map_or(self.base, |e| e.zxid)
    }

    /// Number of entries held.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// let mut h = History::new(0);
    /// h.append(e(make(1, 1))).unwrap();
    /// h.append(e(make(1, 2))).unwrap();
    /// assert_eq!(h.len(), 2); // the base is not an entry
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entries are held.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// let mut h = History::new(0);
    /// assert!(h.is_empty());
    /// h.append(e(make(1, 1))).unwrap();
    /// assert!(!h.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends an entry that follows the last one.
    ///
    /// # Errors
    /// [`Gap`] when it does not.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// use zk_server_mini::zab::history::Gap;
    /// let mut h = History::new(make(1, 4));
    /// h.append(e(make(1, 5))).unwrap();
    /// h.append(e(make(2, 1))).unwrap(); // a new epoch starts at counter 1
    /// assert_eq!(h.append(e(make(2, 3))), Err(Gap { last: make(2, 1), zxid: make(2, 3) }));
    /// ```
    pub fn append(&mut self, entry: Entry) -> Result<(), Gap> {
        let last = self.last();
        if !follows(last, entry.zxid) {
            return Err(Gap {
                last,
                zxid: entry.zxid,
            });
        }
        self.entries.push_back(entry);
        Ok(())
    }

    fn index_of(&self, zxid: i64) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.zxid.cmp(&zxid))
    }

    /// Whether `zxid` is the base or one of the entries.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// let mut h = History::new(make(1, 4));
    /// h.append(e(make(1, 5))).unwrap();
    /// assert!(h.contains(make(1, 4)) && h.contains(make(1, 5)));
    /// assert!(!h.contains(make(1, 6)));
    /// ```
    pub fn contains(&self, zxid: i64) -> bool {
        zxid == self.base || self.index_of(zxid).is_ok()
    }

    /// The entry with `zxid`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// let mut h = History::new(0);
    /// h.append(Entry { zxid: make(1, 1), payload: Bytes::from_static(b"txn") }).unwrap();
    /// assert_eq!(h.get(make(1, 1)).map(|e| &e.payload[..]), Some(&b"txn"[..]));
    /// assert!(h.get(0).is_none()); // the base is not an entry
    /// ```
    pub fn get(&self, zxid: i64) -> Option<&Entry> {
        self.index_of(zxid).ok().map(|i| &self.entries[i])
    }

    /// The largest zxid of this history (base included) at or below `zxid`; `None` when
    /// `zxid` is below the base.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// let mut h = History::new(make(1, 2));
    /// h.append(e(make(1, 3))).unwrap();
    /// h.append(e(make(3, 1))).unwrap();
    /// assert_eq!(h.floor(make(2, 7)), Some(make(1, 3))); // where a diverged follower truncates to
    /// assert_eq!(h.floor(make(1, 2)), Some(make(1, 2)));
    /// assert_eq!(h.floor(make(1, 1)), None); // below the base
    /// ```
    pub fn floor(&self, zxid: i64) -> Option<i64> {
        if zxid < self.base {
            return None;
        }
        match self.index_of(zxid) {
            Ok(i) => Some(self.entries[i].zxid),
            Err(0) => Some(self.base),
            Err(i) => Some(self.entries[i - 1].zxid),
        }
    }

    /// The entries above `zxid`, oldest first.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// let mut h = History::new(0);
    /// for c in 1..=4 {
    ///     h.append(e(make(1, c))).unwrap();
    /// }
    /// let rest: Vec<i64> = h.after(make(1, 2)).map(|e| e.zxid).collect();
    /// assert_eq!(rest, [make(1, 3), make(1, 4)]); // what a follower at 1/2 needs (DIFF)
    /// ```
    pub fn after(&self, zxid: i64) -> impl Iterator<Item = &Entry> {
        let from = match self.index_of(zxid) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.entries.range(from..)
    }

    /// The first entry above `zxid`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// let mut h = History::new(0);
    /// h.append(e(make(1, 1))).unwrap();
    /// h.append(e(make(1, 2))).unwrap();
    /// assert_eq!(h.next_after(make(1, 1)).map(|e| e.zxid), Some(make(1, 2)));
    /// assert!(h.next_after(make(1, 2)).is_none());
    /// ```
    pub fn next_after(&self, zxid: i64) -> Option<&Entry> {
        self.after(zxid).next()
    }

    /// Removes the entries above `zxid`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// let mut h = History::new(0);
    /// for c in 1..=3 {
    ///     h.append(e(make(1, c))).unwrap();
    /// }
    /// h.truncate_after(make(1, 1)); // drop uncommitted proposals the new leader never saw
    /// assert_eq!(h.last(), make(1, 1));
    /// h.append(e(make(2, 1))).unwrap();
    /// ```
    pub fn truncate_after(&mut self, zxid: i64) {
        let keep = match self.index_of(zxid) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.entries.truncate(keep);
    }

    /// Drops the entries at or below `zxid` (covered by a snapshot at `zxid`), which must be
    /// in this history; returns whether it was.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let e = |zxid| Entry { zxid, payload: Bytes::new() };
    /// let mut h = History::new(0);
    /// for c in 1..=3 {
    ///     h.append(e(make(1, c))).unwrap();
    /// }
    /// assert!(h.compact(make(1, 2))); // a snapshot at 1/2 covers the first two
    /// assert_eq!((h.base(), h.len()), (make(1, 2), 1));
    /// assert!(!h.compact(make(7, 1))); // not in this history: nothing changes
    /// ```
    pub fn compact(&mut self, zxid: i64) -> bool {
        if zxid <= self.base {
            return zxid == self.base;
        }
        match self.index_of(zxid) {
            Ok(i) => {
                self.entries.drain(..=i);
                self.base = zxid;
                true
            }
            Err(_) => false,
        }
    }

    /// Keeps at most `window` entries at or below `applied` in memory (the DIFF window) and
    /// drops older ones: they are applied, so a snapshot of the applied state covers them, and
    /// a follower behind the window is brought up by SNAP. Entries above `applied` are never
    /// dropped. Returns how many entries were dropped.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zk_server_mini::zab::{Entry, history::History};
    /// use zk_server_mini::zxid::make;
    /// let mut h = History::new(0);
    /// for c in 1..=10 {
    ///     h.append(Entry { zxid: make(1, c), payload: Bytes::new() }).unwrap();
    /// }
    /// assert_eq!(h.trim_applied(make(1, 8), 3), 5); // keeps 1/6..1/8 and the unapplied 9, 10
    /// assert_eq!((h.base(), h.len()), (make(1, 5), 5));
    /// assert_eq!(h.floor(make(1, 2)), None); // behind the window: SNAP
    /// ```
    pub fn trim_applied(&mut self, applied: i64, window: usize) -> usize {
        let upto = match self.index_of(applied) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        let drop = upto.saturating_sub(window);
        if drop == 0 {
            return 0;
        }
        self.base = self.entries[drop - 1].zxid;
        self.entries.drain(..drop);
        // A burst (a recovered log, a long sync) must not pin its peak capacity.
        if self.entries.capacity() > 64 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
        }
        drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zxid::make;
    use bytes::Bytes;

    fn e(z: i64) -> Entry {
        Entry {
            zxid: z,
            payload: Bytes::new(),
        }
    }

    #[test]
    fn floor_after_truncate_and_compact() {
        let mut h = History::new(0);
        for z in [make(1, 1), make(1, 2), make(3, 1), make(3, 2)] {
            h.append(e(z)).unwrap_or_else(|g| panic!("{g}"));
        }
        assert_eq!(h.floor(make(2, 7)), Some(make(1, 2)));
        assert_eq!(h.floor(make(3, 9)), Some(make(3, 2)));
        assert_eq!(h.floor(0), Some(0));
        assert_eq!(
            h.after(make(1, 2)).map(|e| e.zxid).collect::<Vec<_>>(),
            vec![make(3, 1), make(3, 2)]
        );
        h.truncate_after(make(1, 2));
        assert_eq!(h.last(), make(1, 2));
        assert!(h.append(e(make(1, 4))).is_err());
        assert!(h.compact(make(1, 1)));
        assert_eq!(h.base(), make(1, 1));
        assert_eq!(h.floor(0), None);
        assert!(!h.compact(make(2, 1)));
    }
}
