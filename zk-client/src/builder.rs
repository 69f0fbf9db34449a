//! [`ClientBuilder`]: a client with non-default settings.

use std::time::Duration;

use crate::client::{Client, start};
use crate::config::{Config, ExpiryPolicy};
use crate::driver::{Connector, tcp_connector};
use crate::error::{Error, Result};
use crate::session::SessionState;

/// Builds a [`Client`] with non-default settings.
///
/// ```no_run
/// use std::time::Duration;
/// use zk_client::{Client, ExpiryPolicy};
///
/// # async fn demo() -> zk_client::Result<()> {
/// let client = Client::builder("zk1:2181,zk2:2181,zk3:2181/app")
///     .session_timeout(Duration::from_secs(10))
///     .digest_auth("alice", "secret")
///     .expiry_policy(ExpiryPolicy::NewSession)
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until `connect` is called"]
pub struct ClientBuilder {
    config: std::result::Result<Config, Error>,
    connector: Option<Connector>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new(config: Result<Config>) -> Self {
        Self {
            config,
            connector: None,
        }
    }

    fn update(mut self, f: impl FnOnce(&mut Config)) -> Self {
        if let Ok(config) = &mut self.config {
            f(config);
        }
        self
    }

    /// The session timeout to ask for (default 30 s). The server clamps it to its
    /// `[minSessionTimeout, maxSessionTimeout]`; see [`Client::session_timeout`].
    pub fn session_timeout(self, timeout: Duration) -> Self {
        self.update(|c| c.session_timeout = timeout)
    }

    /// The timeout of one connection attempt to one host (default: session timeout / number of
    /// hosts).
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.update(|c| c.connect_timeout = Some(timeout))
    }

    /// How long [`connect`](Self::connect) waits for the first session (default: the session
    /// timeout).
    pub fn initial_connect_timeout(self, timeout: Duration) -> Self {
        self.update(|c| c.initial_connect_timeout = Some(timeout))
    }

    /// Fail an operation with [`Error::Timeout`] when it has no answer after `timeout` (default:
    /// no limit; a lost connection fails it with [`Error::ConnectionLoss`] anyway).
    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.update(|c| c.request_timeout = Some(timeout))
    }

    /// Accept read-only servers (partitioned from their quorum, with `readonlymode.enabled`)
    /// when no read-write server is reachable; keep looking for a read-write one meanwhile.
    pub fn read_only(self, allowed: bool) -> Self {
        self.update(|c| c.read_only = allowed)
    }

    /// What to do when the session expires (default [`ExpiryPolicy::Stay`]).
    pub fn expiry_policy(self, policy: ExpiryPolicy) -> Self {
        self.update(|c| c.expiry_policy = policy)
    }

    /// Authenticates with `scheme` and `auth` right after connecting, and after every reconnect.
    pub fn auth(self, scheme: &str, auth: &[u8]) -> Self {
        self.update(|c| c.auth.push((scheme.to_owned(), auth.to_vec())))
    }

    /// Shorthand for `auth("digest", "user:password")`.
    pub fn digest_auth(self, user: &str, password: &str) -> Self {
        self.auth("digest", format!("{user}:{password}").as_bytes())
    }

    /// The largest request frame (default `0xfffff`, ZooKeeper's `jute.maxbuffer`). Larger
    /// requests fail with [`Error::RequestTooLarge`] without being sent.
    pub fn max_frame_len(self, len: usize) -> Self {
        self.update(|c| c.max_frame_len = len)
    }

    /// Bounds of the exponential backoff (with jitter) between full rounds of failed hosts
    /// (default 50 ms to 2 s).
    pub fn reconnect_backoff(self, min: Duration, max: Duration) -> Self {
        self.update(|c| {
            c.backoff_min = min;
            c.backoff_max = max.max(min);
        })
    }

    /// How many events a [`PersistentWatch`](crate::PersistentWatch) holds for a consumer that does not keep up
    /// (default 4096). Past that, events are dropped and the stream yields one
    /// [`PersistentEvent::Overflow`](crate::PersistentEvent::Overflow) with their count: memory
    /// stays bounded whatever the consumer does.
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::builder("127.0.0.1:2181")
    ///     .persistent_watch_buffer(100)
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn persistent_watch_buffer(self, events: usize) -> Self {
        self.update(|c| c.persistent_watch_buffer = events.max(1))
    }

    /// Try hosts in the order given instead of a random order.
    pub fn no_shuffle(self) -> Self {
        self.update(|c| c.shuffle_hosts = false)
    }

    /// Connects with TLS, checking the server's certificate with `config`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.connector = Some(crate::tls::tls_connector(config));
        self
    }

    #[cfg(test)]
    pub(crate) fn connector(mut self, connector: Connector) -> Self {
        self.connector = Some(connector);
        self
    }

    /// Starts the client and waits until it has a session.
    ///
    /// # Errors
    /// [`Error::Connect`] for a bad connect string or when no server could be reached within the
    /// initial connect timeout; [`Error::AuthFailed`] when the server rejects the credentials.
    pub async fn connect(self) -> Result<Client> {
        let config = self.config?;
        let wait = config
            .initial_connect_timeout
            .unwrap_or(config.session_timeout);
        let client = start(config, self.connector.unwrap_or_else(tcp_connector));
        let mut state = client.shared.state.clone();
        let reached = tokio::time::timeout(wait, async {
            loop {
                let current = state.borrow_and_update().state;
                match current {
                    SessionState::Connected | SessionState::ConnectedReadOnly => return Ok(()),
                    SessionState::AuthFailed => return Err(Error::AuthFailed),
                    SessionState::Closed | SessionState::Expired => return Err(Error::Closed),
                    SessionState::Connecting | SessionState::Suspended => {}
                }
                if state.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        })
        .await;
        match reached {
            Ok(Ok(())) => Ok(client),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Connect(format!(
                "no ZooKeeper server reachable within {wait:?}"
            ))),
        }
    }
}
