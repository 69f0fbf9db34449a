//! Session states, as observed by users of a [`Client`](crate::Client).

use std::time::Duration;

/// The state of the client's session.
///
/// Transitions: `Connecting` → `Connected` (or `ConnectedReadOnly`) → `Suspended` when the
/// connection drops → `Connected` again when it comes back in time, or `Expired` when the server
/// says the session is gone or no server was reachable for the whole session timeout.
/// `AuthFailed`, `Closed` and (without [`ExpiryPolicy::NewSession`](crate::ExpiryPolicy))
/// `Expired` are final.
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
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Connected | Self::ConnectedReadOnly)
    }

    /// Whether no further state change will happen (with the default expiry policy).
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
}
