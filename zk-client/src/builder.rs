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
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::builder("127.0.0.1:2181")
    ///     .session_timeout(Duration::from_secs(6))
    ///     .connect()
    ///     .await?;
    /// // What the server granted, within its min/max session timeout.
    /// println!("{:?}", client.session_timeout());
    /// # Ok(()) }
    /// ```
    pub fn session_timeout(self, timeout: Duration) -> Self {
        self.update(|c| c.session_timeout = timeout)
    }

    /// The timeout of one connection attempt to one host (default: session timeout / number of
    /// hosts).
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// # async fn demo() -> zk_client::Result<()> {
    /// // Give up on an unresponsive host after 2 s and try the next one.
    /// let client = zk_client::Client::builder("zk1:2181,zk2:2181,zk3:2181")
    ///     .connect_timeout(Duration::from_secs(2))
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.update(|c| c.connect_timeout = Some(timeout))
    }

    /// How long [`connect`](Self::connect) waits for the first session (default: the session
    /// timeout).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use zk_client::Error;
    ///
    /// # async fn demo() -> zk_client::Result<()> {
    /// match zk_client::Client::builder("127.0.0.1:2181")
    ///     .initial_connect_timeout(Duration::from_secs(5))
    ///     .connect()
    ///     .await
    /// {
    ///     Ok(client) => println!("session {:#x}", client.session_id()),
    ///     Err(Error::Connect(reason)) => eprintln!("no ZooKeeper within 5 s: {reason}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn initial_connect_timeout(self, timeout: Duration) -> Self {
        self.update(|c| c.initial_connect_timeout = Some(timeout))
    }

    /// Fail an operation with [`Error::Timeout`] when it has no answer after `timeout` (default:
    /// no limit; a lost connection fails it with [`Error::ConnectionLoss`] anyway).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use zk_client::Error;
    ///
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::builder("127.0.0.1:2181")
    ///     .request_timeout(Duration::from_secs(3))
    ///     .connect()
    ///     .await?;
    /// match client.get_data("/config").await {
    ///     Err(Error::Timeout) => println!("not sent within 3 s; it never will be"),
    ///     Err(e) if e.is_outcome_unknown() => println!("sent, but no answer within 3 s"),
    ///     other => println!("{other:?}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.update(|c| c.request_timeout = Some(timeout))
    }

    /// Accept read-only servers (partitioned from their quorum, with `readonlymode.enabled`)
    /// when no read-write server is reachable; keep looking for a read-write one meanwhile.
    ///
    /// ```no_run
    /// use zk_client::SessionState;
    ///
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::builder("zk1:2181,zk2:2181,zk3:2181")
    ///     .read_only(true)
    ///     .connect()
    ///     .await?;
    /// if client.state() == SessionState::ConnectedReadOnly {
    ///     println!("partitioned: reads only");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn read_only(self, allowed: bool) -> Self {
        self.update(|c| c.read_only = allowed)
    }

    /// What to do when the session expires (default [`ExpiryPolicy::Stay`]).
    ///
    /// ```no_run
    /// use zk_client::ExpiryPolicy;
    ///
    /// # async fn demo() -> zk_client::Result<()> {
    /// // Open a new session (and re-create persistent watches) after an expiry.
    /// let client = zk_client::Client::builder("127.0.0.1:2181")
    ///     .expiry_policy(ExpiryPolicy::NewSession)
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn expiry_policy(self, policy: ExpiryPolicy) -> Self {
        self.update(|c| c.expiry_policy = policy)
    }

    /// Authenticates with `scheme` and `auth` right after connecting, and after every reconnect.
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::builder("127.0.0.1:2181")
    ///     .auth("digest", b"alice:secret")
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn auth(self, scheme: &str, auth: &[u8]) -> Self {
        self.update(|c| c.auth.push((scheme.to_owned(), auth.to_vec())))
    }

    /// Shorthand for `auth("digest", "user:password")`.
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::builder("127.0.0.1:2181")
    ///     .digest_auth("alice", "secret")
    ///     .connect()
    ///     .await?;
    /// let me = client.who_am_i().await?;
    /// assert!(me.iter().any(|i| i.auth_scheme == "digest" && i.user == "alice"));
    /// # Ok(()) }
    /// ```
    pub fn digest_auth(self, user: &str, password: &str) -> Self {
        self.auth("digest", format!("{user}:{password}").as_bytes())
    }

    /// The largest request frame (default `0xfffff`, ZooKeeper's `jute.maxbuffer`). Larger
    /// requests fail with [`Error::RequestTooLarge`] without being sent.
    ///
    /// ```no_run
    /// use zk_client::{CreateOptions, Error};
    ///
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::builder("127.0.0.1:2181")
    ///     .max_frame_len(64 * 1024)
    ///     .connect()
    ///     .await?;
    /// let big = vec![0u8; 100 * 1024];
    /// assert!(matches!(
    ///     client.create("/big", &big, &CreateOptions::persistent()).await,
    ///     Err(Error::RequestTooLarge { .. })
    /// ));
    /// # Ok(()) }
    /// ```
    pub fn max_frame_len(self, len: usize) -> Self {
        self.update(|c| c.max_frame_len = len)
    }

    /// Bounds of the exponential backoff (with jitter) between full rounds of failed hosts
    /// (default 50 ms to 2 s).
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::builder("zk1:2181,zk2:2181")
    ///     .reconnect_backoff(Duration::from_millis(100), Duration::from_secs(5))
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// // Prefer the local server; fall back to the others in order.
    /// let client = zk_client::Client::builder("127.0.0.1:2181,zk2:2181,zk3:2181")
    ///     .no_shuffle()
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn no_shuffle(self) -> Self {
        self.update(|c| c.shuffle_hosts = false)
    }

    /// Connects with TLS, checking the server's certificate with `config`.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use zk_client::rustls;
    ///
    /// # async fn demo(roots: rustls::RootCertStore) -> zk_client::Result<()> {
    /// let config = rustls::ClientConfig::builder()
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let client = zk_client::Client::builder("zk1.example.com:2281")
    ///     .tls(Arc::new(config))
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
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
    /// ```no_run
    /// use zk_client::{Client, Error};
    ///
    /// # async fn demo() -> zk_client::Result<()> {
    /// match Client::builder("zk1:2181,zk2:2181").digest_auth("alice", "secret").connect().await {
    ///     Ok(client) => println!("session {:#x}", client.session_id()),
    ///     Err(Error::AuthFailed) => eprintln!("credentials rejected"),
    ///     Err(Error::Connect(reason)) => eprintln!("no server: {reason}"),
    ///     Err(e) => return Err(e),
    /// }
    /// // A malformed connect string fails before anything is sent.
    /// assert!(matches!(
    ///     Client::builder("zk1:not-a-port").connect().await,
    ///     Err(Error::Connect(_))
    /// ));
    /// # Ok(()) }
    /// ```
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
