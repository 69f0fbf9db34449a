//! What a [`Client`] tells about its session: state, transitions, lease; and closing it.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{broadcast, oneshot, watch};

use crate::client::Client;
use crate::core::Command;
use crate::lease::Lease;
use crate::session::{SessionEvent, SessionState, SessionUpdate};

impl Client {
    /// The current session state.
    ///
    /// ```no_run
    /// use zk_client::SessionState;
    ///
    /// # async fn demo(client: zk_client::Client) {
    /// if client.state() == SessionState::Suspended {
    ///     println!("disconnected; a lock held by this session is uncertain");
    /// }
    /// # }
    /// ```
    pub fn state(&self) -> SessionState {
        self.shared.state.borrow().state
    }

    /// The current session id (0 before the first session).
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) {
    /// println!("session {:#x}", client.session_id());
    /// # }
    /// ```
    pub fn session_id(&self) -> i64 {
        self.shared.state.borrow().session_id
    }

    /// The session timeout negotiated with the server.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) {
    /// // The server clamps the requested timeout to its min/max session timeout.
    /// println!("negotiated {:?}", client.session_timeout());
    /// # }
    /// ```
    pub fn session_timeout(&self) -> Duration {
        self.shared.state.borrow().timeout
    }

    /// The server (`host:port` as given in the connect string) this client is connected to, if
    /// any.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) {
    /// match client.connected_server() {
    ///     Some(server) => println!("connected to {server}"),
    ///     None => println!("not connected"),
    /// }
    /// # }
    /// ```
    pub fn connected_server(&self) -> Option<String> {
        self.shared
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The chroot of this client, if any.
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::connect("127.0.0.1:2181/app").await?;
    /// assert_eq!(client.chroot(), Some("/app"));
    /// // Paths are relative to the chroot: this reads the server's /app/config.
    /// let (_data, _stat) = client.get_data("/config").await?;
    /// # Ok(()) }
    /// ```
    pub fn chroot(&self) -> Option<&str> {
        self.shared.chroot.as_deref()
    }

    /// Every session state change from now on, in order, with nothing lost: a subscriber that
    /// falls more than 128 transitions behind gets one [`SessionUpdate::Missed`] (how many it
    /// missed, and the current state) in place of the transitions it missed, then the following
    /// transitions in order again.
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use zk_client::SessionUpdate;
    ///
    /// # async fn demo(client: zk_client::Client) {
    /// let mut events = client.session_events();
    /// while let Some(update) = events.next().await {
    ///     match update {
    ///         SessionUpdate::Changed(event) => {
    ///             println!("STATE {} session {:#x}", event.state, event.session_id)
    ///         }
    ///         SessionUpdate::Missed { skipped, current } => {
    ///             println!("missed {skipped} transitions; now {}", current.state)
    ///         }
    ///     }
    /// }
    /// # }
    /// ```
    pub fn session_events(&self) -> BoxStream<'static, SessionUpdate> {
        let rx = self.shared.events.subscribe();
        let state = self.shared.state.clone();
        futures::stream::unfold((rx, state), |(mut rx, state)| async move {
            let update = match rx.recv().await {
                Ok(event) => SessionUpdate::Changed(event),
                Err(broadcast::error::RecvError::Lagged(lost)) => catch_up(&mut rx, lost, &state),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((update, (rx, state)))
        })
        .boxed()
    }

    /// What the client knows of its session's lifetime: session id, negotiated timeout, the send
    /// time of the latest answered request, the last zxid seen. See [`Lease`] for why
    /// [`Lease::expires_no_earlier_than`] is a safe lower bound on the server-side expiry.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) {
    /// let lease = client.lease();
    /// if let Some(deadline) = lease.expires_no_earlier_than() {
    ///     let safe_until = deadline - lease.timeout / 20;
    ///     assert!(safe_until > tokio::time::Instant::now() - lease.timeout);
    /// }
    /// # }
    /// ```
    pub fn lease(&self) -> Lease {
        *self
            .shared
            .lease
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A `tokio::sync::watch` receiver of the latest session event.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) {
    /// let mut watcher = client.state_watcher();
    /// let seen = watcher.borrow_and_update().disconnects;
    /// while watcher.changed().await.is_ok() {
    ///     let now = *watcher.borrow_and_update();
    ///     if now.disconnects > seen {
    ///         println!("was disconnected at least once; now {}", now.state);
    ///         break;
    ///     }
    /// }
    /// # }
    /// ```
    pub fn state_watcher(&self) -> watch::Receiver<SessionEvent> {
        self.shared.state.clone()
    }

    /// Waits until the state satisfies `f` (checked against the current state first), or the
    /// client task ends.
    ///
    /// ```no_run
    /// use zk_client::SessionState;
    ///
    /// # async fn demo(client: zk_client::Client) {
    /// // Wait until connected again, or until nothing will ever change.
    /// let state = client
    ///     .wait_for_state(|s| s.is_connected() || s.is_terminal())
    ///     .await;
    /// if state == SessionState::Expired {
    ///     println!("session lost");
    /// }
    /// # }
    /// ```
    pub async fn wait_for_state(&self, f: impl Fn(SessionState) -> bool) -> SessionState {
        let mut rx = self.shared.state.clone();
        loop {
            let state = rx.borrow_and_update().state;
            if f(state) {
                return state;
            }
            if rx.changed().await.is_err() {
                return rx.borrow().state;
            }
        }
    }

    /// Closes the session (the server deletes its ephemeral nodes) and waits until done. Every
    /// handle sharing this session becomes unusable ([`Error::Closed`](crate::Error::Closed)).
    ///
    /// The close request goes on the wire after the requests made before it, and waits at most
    /// min(session timeout, 3 s) for the server's answer. Requests written and still unanswered
    /// then fail with [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown). If the
    /// connection is stalled with its write queue full, the close waits its turn, at most until
    /// the connection is declared lost (2/3 of the session timeout without a frame). If the
    /// client is disconnected, nothing can be sent: the server expires the session after its
    /// timeout.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) {
    /// client.close().await;
    /// assert_eq!(client.state(), zk_client::SessionState::Closed);
    /// # }
    /// ```
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self
            .shared
            .commands
            .send(Command::Close { done: Some(done) })
            .is_ok()
        {
            let _ = wait.await;
        }
    }
}

/// After a subscriber lagged `lost` transitions: skips to the newest one and reports the gap.
fn catch_up(
    rx: &mut broadcast::Receiver<SessionEvent>,
    mut lost: u64,
    state: &watch::Receiver<SessionEvent>,
) -> SessionUpdate {
    let mut latest = None;
    loop {
        match rx.try_recv() {
            Ok(event) => {
                lost += 1;
                latest = Some(event);
            }
            Err(broadcast::error::TryRecvError::Lagged(n)) => lost += n,
            Err(_) => break,
        }
    }
    SessionUpdate::Missed {
        skipped: lost,
        current: latest.unwrap_or_else(|| *state.borrow()),
    }
}
