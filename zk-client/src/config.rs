//! Connect strings and client configuration.

use std::time::Duration;

use crate::error::{Error, Result};

/// A parsed connect string: `host1:port1,host2:port2/chroot`.
///
/// A host without a port uses 2181. The chroot, if any, is prefixed to every path the client
/// sends and removed from every path it receives.
///
/// ```
/// use zk_client::ConnectString;
///
/// let cs: ConnectString = "10.0.0.1:2181,zk2/app".parse()?;
/// assert_eq!(cs.hosts, vec![("10.0.0.1".to_owned(), 2181), ("zk2".to_owned(), 2181)]);
/// assert_eq!(cs.chroot.as_deref(), Some("/app"));
/// # Ok::<(), zk_client::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectString {
    /// The servers, as `(host, port)`, in the order given.
    pub hosts: Vec<(String, u16)>,
    /// The chroot, or `None` for the root.
    pub chroot: Option<String>,
}

impl std::str::FromStr for ConnectString {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let (hosts_part, chroot) = match s.find('/') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        };
        let chroot = zk_proto::path::parse_chroot(chroot)
            .map_err(|e| Error::Connect(format!("invalid chroot {chroot:?}: {e}")))?;
        let mut hosts = Vec::new();
        for entry in hosts_part
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            hosts.push(parse_host(entry)?);
        }
        if hosts.is_empty() {
            return Err(Error::Connect(format!("no host in connect string {s:?}")));
        }
        Ok(Self { hosts, chroot })
    }
}

fn parse_host(entry: &str) -> Result<(String, u16)> {
    // `[v6addr]:port`, `host:port`, or `host`.
    if let Some(rest) = entry.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| Error::Connect(format!("unclosed '[' in {entry:?}")))?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(entry, p)?,
            None if after.is_empty() => 2181,
            None => return Err(Error::Connect(format!("bad host {entry:?}"))),
        };
        return Ok((addr.to_owned(), port));
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            Ok((host.to_owned(), parse_port(entry, port)?))
        }
        Some(_) => Err(Error::Connect(format!(
            "bad host {entry:?} (write IPv6 addresses as [addr]:port)"
        ))),
        None => Ok((entry.to_owned(), 2181)),
    }
}

fn parse_port(entry: &str, port: &str) -> Result<u16> {
    port.parse()
        .map_err(|_| Error::Connect(format!("bad port in {entry:?}")))
}

/// What the client does when its session expires.
///
/// ```no_run
/// use futures::StreamExt;
/// use zk_client::{ExpiryPolicy, SessionState};
///
/// # async fn demo() -> zk_client::Result<()> {
/// assert_eq!(ExpiryPolicy::default(), ExpiryPolicy::Stay);
/// let client = zk_client::Client::builder("127.0.0.1:2181")
///     .expiry_policy(ExpiryPolicy::NewSession)
///     .connect()
///     .await?;
/// // After an expiry the client reports Expired, then Connected with a new session id.
/// let mut events = client.session_events();
/// while let Some(update) = events.next().await {
///     let event = update.event();
///     match event.state {
///         SessionState::Expired => println!("session {:#x} expired", event.session_id),
///         SessionState::Connected => println!("session {:#x}", event.session_id),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiryPolicy {
    /// Stay expired: every later operation fails with [`Error::SessionExpired`] (the Java
    /// client's behaviour). Open a new [`Client`](crate::Client) to continue.
    #[default]
    Stay,
    /// Open a new session on its own, re-register persistent watches on it, and announce it with
    /// [`SessionState::Expired`](crate::SessionState::Expired) followed by
    /// [`SessionState::Connected`](crate::SessionState::Connected) with the new session id.
    NewSession,
}

/// Everything a [`Client`](crate::Client) can be configured with. Built by
/// [`ClientBuilder`](crate::ClientBuilder).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) hosts: Vec<(String, u16)>,
    pub(crate) chroot: Option<String>,
    pub(crate) session_timeout: Duration,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) read_only: bool,
    pub(crate) expiry_policy: ExpiryPolicy,
    pub(crate) auth: Vec<(String, Vec<u8>)>,
    pub(crate) max_frame_len: usize,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) shuffle_hosts: bool,
    pub(crate) initial_connect_timeout: Option<Duration>,
    pub(crate) read_only_probe_interval: Duration,
    pub(crate) persistent_watch_buffer: usize,
}

impl Config {
    pub(crate) fn new(cs: ConnectString) -> Self {
        Self {
            hosts: cs.hosts,
            chroot: cs.chroot,
            session_timeout: Duration::from_secs(30),
            connect_timeout: None,
            request_timeout: None,
            read_only: false,
            expiry_policy: ExpiryPolicy::Stay,
            auth: Vec::new(),
            max_frame_len: zk_proto::codec::DEFAULT_MAX_FRAME_LEN,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            shuffle_hosts: true,
            initial_connect_timeout: None,
            read_only_probe_interval: Duration::from_secs(2),
            persistent_watch_buffer: 4096,
        }
    }

    /// Per-host connect timeout: configured, or session timeout / number of hosts (Java's rule),
    /// never below 250 ms.
    pub(crate) fn connect_timeout_for(&self, negotiated: Duration) -> Duration {
        self.connect_timeout.unwrap_or_else(|| {
            let n = u32::try_from(self.hosts.len().max(1)).unwrap_or(u32::MAX);
            (negotiated / n).max(Duration::from_millis(250))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_strings() {
        let cs: ConnectString = "127.0.0.1:2181".parse().unwrap();
        assert_eq!(cs.hosts, vec![("127.0.0.1".to_owned(), 2181)]);
        assert_eq!(cs.chroot, None);
        let cs: ConnectString = "a:1, b:2 ,[::1]:3,[::1]/x/y".parse().unwrap();
        assert_eq!(cs.hosts.len(), 4);
        assert_eq!(cs.hosts[2], ("::1".to_owned(), 3));
        assert_eq!(cs.hosts[3], ("::1".to_owned(), 2181));
        assert_eq!(cs.chroot.as_deref(), Some("/x/y"));
        assert!("a:1/".parse::<ConnectString>().unwrap().chroot.is_none());
        assert!("a:x".parse::<ConnectString>().is_err());
        assert!("/app".parse::<ConnectString>().is_err());
        assert!("a:1/app/".parse::<ConnectString>().is_err());
        assert!("::1:3".parse::<ConnectString>().is_err());
    }
}
