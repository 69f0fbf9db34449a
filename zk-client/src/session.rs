//! Session states, as observed by users of a [`Client`](crate::Client).

use std::time::Duration;

/// The state of the client's session.
///
/// Transitions: `Connecting` → `Connected` (or `ConnectedReadOnly`) → `Suspended` when the
/// connection drops → `Connected` again when it comes back in time, or `Expired` when the server
/// says the session is gone or no server was reachable for the whole session timeout.
/// `AuthFailed`, `Closed` and (without [`ExpiryPolicy::NewSession`](crate::ExpiryPolicy))
/// `Expired` are final.
///
/// ```
/// use zk_client::SessionState;
///
/// assert!(SessionState::Connected.is_connected());
/// assert!(SessionState::ConnectedReadOnly.is_connected());
/// assert!(!SessionState::Suspended.is_connected());
/// assert!(!SessionState::Suspended.is_terminal()); // may reconnect
/// assert!(SessionState::Closed.is_terminal());
/// assert_eq!(SessionState::Expired.to_string(), "Expired");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Looking for a server; no session yet.
    Connecting,
    /// Connected to a read-write server.
    Connected,
    /// Connected to a read-only server: reads work, writes fail with
    /// [`Error::NotReadOnly`](crate::Error::NotReadOnly).
    ConnectedReadOnly,
    /// Disconnected; the session may still be alive and the client is reconnecting. Anything
    /// that depends on the session (a lock, a leadership) must be treated as uncertain.
    Suspended,
    /// The session is gone: its ephemeral nodes were (or will be) deleted by the server.
    Expired,
    /// The server rejected the credentials.
    AuthFailed,
    /// The client was closed.
    Closed,
}

impl SessionState {
    /// Whether the client can send requests right now.
    ///
    /// ```
    /// use zk_client::SessionState;
    ///
    /// assert!(SessionState::Connected.is_connected());
    /// assert!(!SessionState::Connecting.is_connected());
    /// ```
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Connected | Self::ConnectedReadOnly)
    }

    /// Whether no further state change will happen (with the default expiry policy).
    ///
    /// ```
    /// use zk_client::SessionState;
    ///
    /// assert!(SessionState::AuthFailed.is_terminal());
    /// assert!(!SessionState::Suspended.is_terminal());
    /// ```
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Expired | Self::AuthFailed | Self::Closed)
    }
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// A change of session state, with the session it concerns.
///
/// ```
/// use std::time::Duration;
/// use zk_client::{SessionEvent, SessionState};
///
/// let before = SessionEvent {
///     state: SessionState::Connected,
///     session_id: 0x1000,
///     timeout: Duration::from_secs(10),
///     disconnects: 0,
/// };
/// let after = SessionEvent { disconnects: 1, ..before };
/// // Same state, but a disconnection happened in between.
/// assert_eq!(after.state, before.state);
/// assert!(after.disconnects > before.disconnects);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEvent {
    /// The new state.
    pub state: SessionState,
    /// The session id (0 while no session is established). After an expiry with
    /// [`ExpiryPolicy::NewSession`](crate::ExpiryPolicy::NewSession), `Connected` carries the new
    /// session's id.
    pub session_id: i64,
    /// The negotiated session timeout (zero until a session is established).
    pub timeout: Duration,
    /// How many times this client has left a connected state (`Connected` or
    /// `ConnectedReadOnly` to anything else) since it was created. It only grows.
    ///
    /// A consumer of [`Client::state_watcher`](crate::Client::state_watcher), which sees only
    /// the latest value, compares it with the value it saw before: a larger number means a
    /// `Suspended` (or worse) happened in between, even if the state is `Connected` again.
    pub disconnects: u64,
}

/// An item of [`Client::session_events`](crate::Client::session_events): a transition, or the
/// notice that some transitions were not delivered.
///
/// The stream is lossless in this sense: a subscriber sees every transition in order, or, if it
/// fell more than the buffer behind, a [`SessionUpdate::Missed`] that says so and carries the
/// latest state. A `match` on this enum cannot forget the second case.
///
/// ```
/// use zk_client::{SessionState, SessionUpdate};
///
/// fn still_owned(update: &SessionUpdate) -> bool {
///     match update {
///         SessionUpdate::Changed(event) => event.state == SessionState::Connected,
///         // Transitions were skipped: a Suspended may be among them. Treat as lost.
///         SessionUpdate::Missed { .. } => false,
///     }
/// }
/// # let _ = still_owned;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionUpdate {
    /// The next transition, in order.
    Changed(SessionEvent),
    /// The subscriber fell behind: `skipped` transitions were not delivered one by one (the
    /// last of them is `current`). Compare `current.disconnects` with the last value seen to
    /// learn how many disconnections were among them. The transitions after this one are again
    /// delivered in order.
    Missed {
        /// How many transitions were not delivered as [`SessionUpdate::Changed`].
        skipped: u64,
        /// The latest session event at the time of the notice.
        current: SessionEvent,
    },
}

impl SessionUpdate {
    /// The session event this update leaves the subscriber with (the transition itself, or the
    /// current state after a gap).
    ///
    /// ```
    /// use std::time::Duration;
    /// use zk_client::{SessionEvent, SessionState, SessionUpdate};
    ///
    /// let current = SessionEvent {
    ///     state: SessionState::Connected,
    ///     session_id: 7,
    ///     timeout: Duration::from_secs(10),
    ///     disconnects: 3,
    /// };
    /// let gap = SessionUpdate::Missed { skipped: 200, current };
    /// assert_eq!(gap.event(), current);
    /// assert!(gap.is_missed());
    /// assert!(!SessionUpdate::Changed(current).is_missed());
    /// ```
    pub fn event(&self) -> SessionEvent {
        match self {
            Self::Changed(event) | Self::Missed { current: event, .. } => *event,
        }
    }

    /// Whether transitions were skipped (see [`SessionUpdate::event`] for an example).
    ///
    /// ```
    /// use std::time::Duration;
    /// use zk_client::{SessionEvent, SessionState, SessionUpdate};
    ///
    /// let event = SessionEvent {
    ///     state: SessionState::Suspended,
    ///     session_id: 1,
    ///     timeout: Duration::from_secs(10),
    ///     disconnects: 1,
    /// };
    /// assert!(!SessionUpdate::Changed(event).is_missed());
    /// assert!(SessionUpdate::Missed { skipped: 3, current: event }.is_missed());
    /// ```
    pub fn is_missed(&self) -> bool {
        matches!(self, Self::Missed { .. })
    }
}
