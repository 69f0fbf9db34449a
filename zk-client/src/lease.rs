//! The session lease: the earliest instant at which the server may have expired the session.

use std::time::Duration;

use tokio::time::Instant;

/// What the client knows about its session's lifetime, from [`Client::lease`](crate::Client::lease).
///
/// # Why `last_answered_send + timeout` is a safe lower bound
///
/// A ZooKeeper server expires a session only after it heard nothing from the client for the
/// whole negotiated timeout `T` (it refreshes the session's deadline whenever a request or ping
/// of the session arrives; 3.8 rounds deadlines *up* to its tick). A request whose answer came
/// back was necessarily received by the server *after* the client sent it, so at that moment
/// the server's deadline was pushed to at least `send + T` (measured on the server's clock).
/// Hence the session cannot expire before `last_answered_send + T`: before that instant the
/// session's ephemeral nodes (locks, leaderships) still exist and nobody else can hold them.
///
/// The only gap is the drift between the two clocks' *rates* over `T` (not their offsets, since
/// only durations are compared). Subtract a margin for it: a few percent of `T` is plenty for
/// NTP-disciplined hosts (their rate error is in parts per million), plus whatever a virtual
/// machine's clock may jump. [`Lease::expires_no_earlier_than`] does not subtract anything.
///
/// The send time is taken *before* the request is handed to the socket, so it errs on the early
/// (safe) side. `tokio::time::Instant` is monotonic: a process paused by SIGSTOP or a stalled
/// host sees the pause as elapsed time, and learns on resume that the lease may be over.
///
/// ```no_run
/// # async fn demo(client: zk_client::Client) {
/// let lease = client.lease();
/// match lease.expires_no_earlier_than() {
///     Some(deadline) => {
///         let margin = lease.timeout / 20; // 5 % for clock-rate drift
///         let safe_until = deadline - margin;
///         println!("session {:#x} alive at least until {safe_until:?}", lease.session_id);
///     }
///     None => println!("no answer from the server on this session yet"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The current session id (0 while there is none).
    pub session_id: i64,
    /// The session timeout negotiated with the server (zero until a session is established).
    pub timeout: Duration,
    /// The monotonic send time of the most recent request (pings and the connect request
    /// included) that the server answered on the current session; `None` before any.
    pub last_answered_send: Option<Instant>,
    /// The largest zxid seen in any reply or connect response.
    pub last_zxid: i64,
}

impl Lease {
    /// `last_answered_send + timeout`: the session cannot have expired on the server before
    /// this instant (see the type's docs; subtract a margin for clock-rate drift). `None` while
    /// no request of the current session has been answered.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zk_client::Lease;
    ///
    /// let now = tokio::time::Instant::now();
    /// let lease = Lease {
    ///     session_id: 1,
    ///     timeout: Duration::from_secs(10),
    ///     last_answered_send: Some(now),
    ///     last_zxid: 7,
    /// };
    /// assert_eq!(lease.expires_no_earlier_than(), Some(now + Duration::from_secs(10)));
    /// ```
    pub fn expires_no_earlier_than(&self) -> Option<Instant> {
        self.last_answered_send.map(|sent| sent + self.timeout)
    }

    pub(crate) fn none() -> Self {
        Self {
            session_id: 0,
            timeout: Duration::ZERO,
            last_answered_send: None,
            last_zxid: 0,
        }
    }
}
