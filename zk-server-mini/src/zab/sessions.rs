//! Session expiry as the leader decides it. Every member learns of sessions as their
//! create/close transactions are applied ([`crate::zab::Input::SessionOpened`] /
//! [`crate::zab::Input::SessionClosed`]); only the serving leader tracks deadlines. Followers
//! batch the sessions their clients touched into the next ping answer. A new leader gives
//! every known session a full timeout from the moment it starts leading (as ZooKeeper
//! does), so a leader change never expires a session whose client kept it alive. Expiry is
//! then an ordinary proposal: the driver proposes the close-session transaction on
//! [`crate::zab::Output::ExpireSession`], and the ephemerals go when it commits.

use std::collections::BTreeMap;

use crate::session::SessionTracker;

/// Known sessions and, at the leader, their deadlines.
///
/// ```
/// use zk_server_mini::zab::sessions::SessionExpiry;
///
/// let mut s = SessionExpiry::new(100);
/// s.opened(7, 1000, 0, false); // applied on a follower: known, not tracked
/// s.lead(0);                   // this member became the leader at t=0
/// assert!(s.expired(900).is_empty());
/// s.touch(7, 500);             // a follower forwarded a touch
/// assert!(s.expired(1400).is_empty());
/// assert_eq!(s.expired(1500), vec![7]);
/// ```
#[derive(Debug)]
pub struct SessionExpiry {
    tick_ms: u64,
    known: BTreeMap<i64, u64>,
    tracker: Option<SessionTracker>,
}

impl SessionExpiry {
    /// Nothing known yet; deadlines fall on `tick_ms` boundaries.
    ///
    /// ```
    /// use zk_server_mini::zab::sessions::SessionExpiry;
    /// let s = SessionExpiry::new(2000); // tickTime 2000
    /// assert_eq!(s.known().count(), 0);
    /// ```
    pub fn new(tick_ms: u64) -> Self {
        Self {
            tick_ms,
            known: BTreeMap::new(),
            tracker: None,
        }
    }

    /// A create-session transaction was applied.
    ///
    /// ```
    /// use zk_server_mini::zab::sessions::SessionExpiry;
    /// let mut s = SessionExpiry::new(100);
    /// s.lead(0);
    /// s.opened(7, 1000, 0, true); // applied at the leader: tracked from now
    /// assert!(s.expired(500).is_empty());
    /// assert_eq!(s.expired(2000), vec![7]);
    /// ```
    pub fn opened(&mut self, session: i64, timeout_ms: u64, now_ms: u64, leading: bool) {
        self.known.insert(session, timeout_ms);
        if leading && let Some(t) = &mut self.tracker {
            t.add(session, timeout_ms, now_ms);
        }
    }

    /// A close-session transaction was applied.
    ///
    /// ```
    /// use zk_server_mini::zab::sessions::SessionExpiry;
    /// let mut s = SessionExpiry::new(100);
    /// s.lead(0);
    /// s.opened(7, 1000, 0, true);
    /// s.closed(7); // closed by its client: never reported as expired
    /// assert!(s.expired(5000).is_empty());
    /// assert_eq!(s.known().count(), 0);
    /// ```
    pub fn closed(&mut self, session: i64) {
        self.known.remove(&session);
        if let Some(t) = &mut self.tracker {
            t.remove(session);
        }
    }

    /// This member became the serving leader at `now_ms`: every known session starts a
    /// fresh timeout.
    ///
    /// ```
    /// use zk_server_mini::zab::sessions::SessionExpiry;
    /// let mut s = SessionExpiry::new(100);
    /// s.opened(7, 1000, 0, false); // learned as a follower
    /// s.lead(10_000); // a new leader gives every known session a fresh timeout
    /// assert!(s.expired(10_500).is_empty());
    /// assert_eq!(s.expired(12_000), vec![7]);
    /// ```
    pub fn lead(&mut self, now_ms: u64) {
        let mut t = SessionTracker::new(self.tick_ms);
        for (s, timeout) in &self.known {
            t.add(*s, *timeout, now_ms);
        }
        self.tracker = Some(t);
    }

    /// This member stopped leading.
    ///
    /// ```
    /// use zk_server_mini::zab::sessions::SessionExpiry;
    /// let mut s = SessionExpiry::new(100);
    /// s.opened(7, 1000, 0, false);
    /// s.lead(0);
    /// s.follow(); // no longer leading: nothing expires here
    /// assert!(s.expired(60_000).is_empty());
    /// assert_eq!(s.known().collect::<Vec<_>>(), [7]);
    /// ```
    pub fn follow(&mut self) {
        self.tracker = None;
    }

    /// A client of `session` was active (here, or at a follower that forwarded it).
    ///
    /// ```
    /// use zk_server_mini::zab::sessions::SessionExpiry;
    /// let mut s = SessionExpiry::new(100);
    /// s.lead(0);
    /// s.opened(7, 1000, 0, true);
    /// s.touch(7, 800); // the client pinged: its deadline moves on
    /// assert!(s.expired(1200).is_empty());
    /// assert_eq!(s.expired(3000), vec![7]);
    /// ```
    pub fn touch(&mut self, session: i64, now_ms: u64) {
        if let Some(t) = &mut self.tracker {
            t.touch(session, now_ms);
        }
    }

    /// Sessions whose deadline passed (each reported once; its close transaction is the
    /// driver's to propose). Empty unless leading.
    ///
    /// ```
    /// use zk_server_mini::zab::sessions::SessionExpiry;
    /// let mut s = SessionExpiry::new(100);
    /// s.lead(0);
    /// s.opened(7, 1000, 0, true);
    /// assert_eq!(s.expired(2000), vec![7]);
    /// assert!(s.expired(3000).is_empty()); // reported once
    /// ```
    pub fn expired(&mut self, now_ms: u64) -> Vec<i64> {
        self.tracker
            .as_mut()
            .map(|t| t.expired(now_ms))
            .unwrap_or_default()
    }

    /// Sessions known to be open.
    ///
    /// ```
    /// use zk_server_mini::zab::sessions::SessionExpiry;
    /// let mut s = SessionExpiry::new(100);
    /// s.opened(9, 4000, 0, false);
    /// s.opened(7, 4000, 0, false);
    /// assert_eq!(s.known().collect::<Vec<_>>(), [7, 9]);
    /// ```
    pub fn known(&self) -> impl Iterator<Item = i64> + '_ {
        self.known.keys().copied()
    }
}
