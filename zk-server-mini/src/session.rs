//! Session expiry in tick buckets (PROTOCOL.md §7.1): each touch moves a session to the bucket
//! `ceil((now + timeout) / tick) * tick`; a tick expires every bucket at or before now.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Tracks when each live session expires. Time is in milliseconds on any monotonic clock.
///
/// ```
/// use zk_server_mini::session::SessionTracker;
///
/// let mut t = SessionTracker::new(2000);
/// t.add(1, 4000, 0);
/// assert!(t.expired(3999).is_empty());
/// t.touch(1, 1000); // bucket ceil(5000/2000)*2000 = 6000
/// assert!(t.expired(5999).is_empty());
/// assert_eq!(t.expired(6000), vec![1]);
/// ```
#[derive(Debug)]
pub struct SessionTracker {
    tick_ms: u64,
    sessions: HashMap<i64, (u64, u64)>,
    buckets: BTreeMap<u64, BTreeSet<i64>>,
}

impl SessionTracker {
    /// A tracker with buckets of `tick_ms`.
    ///
    /// ```
    /// use zk_server_mini::session::SessionTracker;
    /// let mut t = SessionTracker::new(2000);
    /// assert!(t.is_empty());
    /// ```
    pub fn new(tick_ms: u64) -> Self {
        Self {
            tick_ms: tick_ms.max(1),
            sessions: HashMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    fn bucket(&self, deadline: u64) -> u64 {
        deadline.div_ceil(self.tick_ms) * self.tick_ms
    }

    /// Starts tracking a session with `timeout_ms`.
    ///
    /// ```
    /// use zk_server_mini::session::SessionTracker;
    /// let mut t = SessionTracker::new(2000);
    /// t.add(7, 4000, 0); // expires at the first tick boundary at or after 4000
    /// assert!(t.contains(7));
    /// assert_eq!(t.expired(4000), vec![7]);
    /// ```
    pub fn add(&mut self, session: i64, timeout_ms: u64, now: u64) {
        self.sessions.insert(session, (timeout_ms, 0));
        self.touch(session, now);
    }

    /// Renews a session; returns false if it is not tracked (expired or closing).
    ///
    /// ```
    /// use zk_server_mini::session::SessionTracker;
    /// let mut t = SessionTracker::new(2000);
    /// t.add(7, 4000, 0);
    /// assert!(t.touch(7, 3000)); // now due at ceil(7000/2000)*2000 = 8000
    /// assert!(t.expired(7999).is_empty());
    /// assert!(!t.touch(8, 3000)); // not tracked
    /// ```
    pub fn touch(&mut self, session: i64, now: u64) -> bool {
        let Some(&(timeout, old)) = self.sessions.get(&session) else {
            return false;
        };
        let new = self.bucket(now + timeout);
        if new != old {
            if let Some(set) = self.buckets.get_mut(&old) {
                set.remove(&session);
                if set.is_empty() {
                    self.buckets.remove(&old);
                }
            }
            self.buckets.entry(new).or_default().insert(session);
            self.sessions.insert(session, (timeout, new));
        }
        true
    }

    /// Stops tracking (closed, or closing).
    ///
    /// ```
    /// use zk_server_mini::session::SessionTracker;
    /// let mut t = SessionTracker::new(2000);
    /// t.add(7, 4000, 0);
    /// t.remove(7); // closeSession
    /// assert!(!t.contains(7));
    /// assert!(t.expired(10_000).is_empty());
    /// ```
    pub fn remove(&mut self, session: i64) {
        if let Some((_, b)) = self.sessions.remove(&session)
            && let Some(set) = self.buckets.get_mut(&b)
        {
            set.remove(&session);
            if set.is_empty() {
                self.buckets.remove(&b);
            }
        }
    }

    /// Whether the session is tracked.
    ///
    /// ```
    /// use zk_server_mini::session::SessionTracker;
    /// let mut t = SessionTracker::new(2000);
    /// t.add(7, 4000, 0);
    /// assert!(t.contains(7) && !t.contains(8));
    /// ```
    pub fn contains(&self, session: i64) -> bool {
        self.sessions.contains_key(&session)
    }

    /// Removes and returns every session whose bucket is at or before `now`.
    ///
    /// ```
    /// use zk_server_mini::session::SessionTracker;
    /// let mut t = SessionTracker::new(2000);
    /// t.add(7, 4000, 0);
    /// t.add(8, 8000, 0);
    /// assert_eq!(t.expired(4000), vec![7]);
    /// assert!(!t.contains(7)); // removed as it is reported
    /// assert_eq!(t.expired(8000), vec![8]);
    /// ```
    pub fn expired(&mut self, now: u64) -> Vec<i64> {
        let later = self.buckets.split_off(&(now + 1));
        let due = std::mem::replace(&mut self.buckets, later);
        let mut out = Vec::new();
        for (_, set) in due {
            for s in set {
                self.sessions.remove(&s);
                out.push(s);
            }
        }
        out
    }

    /// Expiry buckets (for the `dump` four-letter word).
    ///
    /// ```
    /// use zk_server_mini::session::SessionTracker;
    /// let mut t = SessionTracker::new(2000);
    /// t.add(7, 4000, 0);
    /// t.add(8, 3000, 1000);
    /// let due: Vec<u64> = t.buckets().keys().copied().collect();
    /// assert_eq!(due, [4000]); // both fall in the same bucket
    /// ```
    pub fn buckets(&self) -> &BTreeMap<u64, BTreeSet<i64>> {
        &self.buckets
    }

    /// Number of tracked sessions.
    ///
    /// ```
    /// use zk_server_mini::session::SessionTracker;
    /// let mut t = SessionTracker::new(2000);
    /// t.add(7, 4000, 0);
    /// t.add(8, 4000, 0);
    /// assert_eq!(t.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is tracked.
    ///
    /// ```
    /// use zk_server_mini::session::SessionTracker;
    /// let mut t = SessionTracker::new(2000);
    /// assert!(t.is_empty());
    /// t.add(7, 4000, 0);
    /// assert!(!t.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_dies_between_t_and_t_plus_tick() {
        let mut t = SessionTracker::new(2000);
        t.add(9, 4000, 100);
        assert!(t.expired(4099).is_empty());
        assert_eq!(t.expired(6000), vec![9]);
        assert!(!t.contains(9));
        assert!(!t.touch(9, 7000));
    }

    #[test]
    fn touch_postpones() {
        let mut t = SessionTracker::new(1000);
        t.add(1, 3000, 0);
        t.touch(1, 2500);
        assert!(t.expired(5000).is_empty());
        assert_eq!(t.expired(6000), vec![1]);
    }
}
