//! One scenario, two servers: a [`Backend`] is either the reference server ([`RealZk`]) or the
//! workspace's own `zk-server-mini`, started from the same [`ZkOptions`].
//!
//! Client tests write each scenario once, as `async fn scenario(backend: &Backend)`, and let
//! [`on_each_backend!`](crate::on_each_backend) generate one `#[tokio::test]` per backend. A
//! behaviour that passes on one and fails on the other is an incompatibility between the two
//! servers (or a client bug that only one of them exposes).
//!
//! ```no_run
//! # async fn demo() -> Result<(), zk_integration_tests::HarnessError> {
//! use zk_integration_tests::ZkOptions;
//! use zk_integration_tests::backend::{Backend, BackendKind};
//! let backend = Backend::start(BackendKind::Mini, ZkOptions::default().tick_time(500)).await?;
//! assert_eq!(backend.four_letter("ruok").await?, "imok");
//! let _connect = backend.connect_string();
//! backend.stop().await;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;

use tempfile::TempDir;
use zk_server_mini::{MiniServer, RunningServer};

use crate::real_zk::{HarnessError, RealZk, ZkOptions, four_letter_word};

/// Which server implementation a [`Backend`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Apache ZooKeeper 3.8.0 from Debian, as a child process ([`RealZk`]).
    Real,
    /// `zk-server-mini`, in-process on the test's runtime.
    Mini,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Real => "real ZooKeeper 3.8.0",
            Self::Mini => "zk-server-mini",
        })
    }
}

/// A `zk-server-mini` with its own temporary data directory.
///
/// Dropping it signals the server to shut down (without waiting) and removes the directory;
/// [`Backend::stop`] waits for the shutdown first.
#[derive(Debug)]
pub struct MiniZk {
    // Declared before `dir`, so the server is told to stop before its directory goes.
    server: RunningServer,
    dir: TempDir,
}

impl MiniZk {
    /// Starts a mini-server configured like a [`RealZk`] started with `opts`: `tickTime`,
    /// session-timeout bounds, TTL nodes, superuser, `maxClientCnxns`, `reconfigEnabled`, every
    /// four-letter word.
    ///
    /// # Errors
    /// [`HarnessError::Unavailable`] for options the mini-server does not have (read-only mode,
    /// Netty, extra `zoo.cfg` lines, JVM properties); [`HarnessError::Io`] when
    /// it cannot start.
    pub async fn start(opts: &ZkOptions) -> Result<MiniZk, HarnessError> {
        let unsupported = [
            (opts.read_only_mode, "read-only mode"),
            (opts.netty, "the Netty connection factory"),
            (!opts.extra_config.is_empty(), "extra zoo.cfg lines"),
            (!opts.jvm_properties.is_empty(), "JVM properties"),
        ];
        if let Some((_, what)) = unsupported.iter().find(|(set, _)| *set) {
            return Err(HarnessError::Unavailable(format!(
                "zk-server-mini has no {what}; run this test against the real server only"
            )));
        }
        let dir = tempfile::Builder::new()
            .prefix("zk-mini-")
            .tempdir()
            .map_err(|source| HarnessError::Io {
                context: "creating the mini-server's data directory".to_owned(),
                source,
            })?;
        let tick = opts.tick_time_ms;
        // The same defaults as ZooKeeper (and as `RealZk`): 2 and 20 ticks.
        let min = opts
            .min_session_timeout_ms
            .unwrap_or(tick.saturating_mul(2));
        let max = opts
            .max_session_timeout_ms
            .unwrap_or(tick.saturating_mul(20));
        let clamp = |ms: u32| i32::try_from(ms).unwrap_or(i32::MAX);
        let mut builder = MiniServer::builder()
            .data_dir(dir.path())
            .tick_ms(u64::from(tick))
            .session_timeouts(clamp(min), clamp(max))
            .extended_types(opts.extended_types)
            .max_client_cnxns(opts.max_client_cnxns as usize)
            .reconfig_enabled(opts.reconfig_enabled)
            .four_letter_words(&["*"]);
        if let Some(digest) = &opts.super_digest {
            builder = builder.super_digest(digest.clone());
        }
        let server = builder.start().await.map_err(|e| HarnessError::Io {
            context: "starting zk-server-mini".to_owned(),
            source: io::Error::other(e),
        })?;
        Ok(MiniZk { server, dir })
    }

    /// The running server (fault injection: `expire_session`, `drop_connections`, ...).
    pub fn server(&self) -> &RunningServer {
        &self.server
    }

    /// The data directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Stops the server, waits until it has stopped, then removes its directory.
    pub async fn stop(self) {
        let MiniZk { server, dir } = self;
        server.stop().await;
        drop(dir);
    }
}

/// A single server of either kind, for scenarios that must behave the same on both.
#[derive(Debug)]
pub enum Backend {
    /// The reference server.
    Real(RealZk),
    /// The workspace's server.
    Mini(Box<MiniZk>),
}

impl Backend {
    /// Starts a server of `kind` with `opts` (see [`MiniZk::start`] for what the mini-server
    /// takes from them) and waits until it serves.
    ///
    /// # Errors
    /// As [`RealZk::start_standalone`] or [`MiniZk::start`].
    pub async fn start(kind: BackendKind, opts: ZkOptions) -> Result<Backend, HarnessError> {
        match kind {
            BackendKind::Real => RealZk::start_standalone(opts).await.map(Backend::Real),
            BackendKind::Mini => MiniZk::start(&opts)
                .await
                .map(|m| Backend::Mini(Box::new(m))),
        }
    }

    /// Which kind of server this is.
    pub fn kind(&self) -> BackendKind {
        match self {
            Self::Real(_) => BackendKind::Real,
            Self::Mini(_) => BackendKind::Mini,
        }
    }

    /// True for the reference server.
    pub fn is_real(&self) -> bool {
        self.kind() == BackendKind::Real
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::Real(zk) => zk.addr(),
            Self::Mini(mini) => mini.server.addr(),
        }
    }

    /// The connect string, `127.0.0.1:<port>`.
    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    /// Sends a four-letter word (every word is enabled on both kinds).
    ///
    /// # Errors
    /// As [`four_letter_word`].
    pub async fn four_letter(&self, word: &str) -> io::Result<String> {
        match self {
            Self::Real(zk) => zk.four_letter(word).await,
            Self::Mini(mini) => four_letter_word(mini.server.addr(), word).await,
        }
    }

    /// The reference server, if this is one.
    pub fn as_real(&self) -> Option<&RealZk> {
        match self {
            Self::Real(zk) => Some(zk),
            Self::Mini(_) => None,
        }
    }

    /// The mini-server, if this is one.
    pub fn as_mini(&self) -> Option<&MiniZk> {
        match self {
            Self::Real(_) => None,
            Self::Mini(mini) => Some(&**mini),
        }
    }

    /// Stops the server and removes its files: the reference server is killed and reaped, the
    /// mini-server is shut down and awaited.
    pub async fn stop(self) {
        match self {
            Self::Real(zk) => drop(zk),
            Self::Mini(mini) => (*mini).stop().await,
        }
    }
}

/// Runs `fut`, panicking when it takes longer than `limit`, so that a hang fails the test
/// instead of blocking the run.
///
/// # Panics
/// When `limit` passes first.
pub async fn bounded<F: std::future::Future>(limit: std::time::Duration, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(out) => out,
        Err(_) => panic!("test did not finish within {limit:?}"),
    }
}

/// Generates, for each `scenario(options)`, a module named after the scenario with two tests,
/// `real` and `mini`, that start a [`Backend`] of that kind with `options` (a [`ZkOptions`]), run
/// `scenario(&backend)` and stop the server, all within `within` (a `Duration`).
///
/// The `real` test follows the skip policy of [`require_real_zk!`](crate::require_real_zk); the
/// `mini` test always runs. Test names read `client_ops::chroot::mini`, so `cargo test ::mini`
/// selects one backend. (The module and the function share the name: they live in different
/// namespaces.)
///
/// ```no_run
/// use std::time::Duration;
/// use zk_integration_tests::ZkOptions;
/// use zk_integration_tests::backend::Backend;
///
/// async fn root_exists(backend: &Backend) {
///     let client = zk_client::Client::connect(&backend.connect_string()).await.unwrap();
///     assert!(client.exists("/").await.unwrap().is_some());
///     client.close().await;
/// }
///
/// zk_integration_tests::on_each_backend! {
///     within: Duration::from_secs(60);
///     root_exists(ZkOptions::default()),
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! on_each_backend {
    (within: $limit:expr; $( $(#[$attr:meta])* $scenario:ident($opts:expr) ),+ $(,)?) => {
        $(
            $(#[$attr])*
            mod $scenario {
                #[allow(unused_imports)]
                use super::*;

                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn real() {
                    $crate::require_real_zk!();
                    $crate::backend::run_scenario($crate::backend::BackendKind::Real, $opts, $limit, super::$scenario).await;
                }

                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mini() {
                    $crate::backend::run_scenario($crate::backend::BackendKind::Mini, $opts, $limit, super::$scenario).await;
                }
            }
        )+
    };
}

/// The body of each test that [`on_each_backend!`](crate::on_each_backend) generates: start,
/// run, stop, all within `limit`.
///
/// # Panics
/// When the server cannot start, the scenario panics, or `limit` passes.
pub async fn run_scenario<S>(
    kind: BackendKind,
    opts: ZkOptions,
    limit: std::time::Duration,
    scenario: S,
) where
    S: for<'a> AsyncFnOnce(&'a Backend),
{
    bounded(limit, async {
        let backend = Backend::start(kind, opts)
            .await
            .unwrap_or_else(|e| panic!("start {kind}: {e}"));
        scenario(&backend).await;
        backend.stop().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use zk_client::{Acl, Client, CreateOptions, Error, Id, Perms};

    use super::*;

    fn conf_value<'a>(conf: &'a str, key: &str) -> Option<&'a str> {
        conf.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    }

    /// Both kinds take the same options from `ZkOptions`: tick, timeout bounds, TTL, superuser.
    async fn options_reach_the_server(kind: BackendKind) {
        let opts = ZkOptions::default()
            .tick_time(500)
            .session_timeouts(1500, 6000)
            .extended_types(true)
            .super_user("super", "pw");
        let backend = Backend::start(kind, opts).await.unwrap();
        assert_eq!(backend.kind(), kind);
        assert_eq!(backend.four_letter("ruok").await.unwrap(), "imok");
        let conf = backend.four_letter("conf").await.unwrap();
        for (key, value) in [
            ("tickTime", "500"),
            ("minSessionTimeout", "1500"),
            ("maxSessionTimeout", "6000"),
            ("maxClientCnxns", "0"),
        ] {
            assert_eq!(conf_value(&conf, key), Some(value), "{key} in {conf}");
        }
        let owner = Client::connect(&backend.connect_string()).await.unwrap();
        owner.add_auth("digest", b"alice:secret").await.unwrap();
        let private = vec![Acl::new(Perms::ALL, Id::digest("alice", "secret"))];
        owner
            .create(
                "/ttl",
                b"x",
                &CreateOptions::ttl(Duration::from_secs(60)).with_acl(private),
            )
            .await
            .unwrap();
        let sup = Client::builder(&backend.connect_string())
            .session_timeout(Duration::from_secs(60))
            .digest_auth("super", "pw")
            .connect()
            .await
            .unwrap();
        assert_eq!(sup.session_timeout(), Duration::from_secs(6), "clamped");
        assert_eq!(sup.get_data("/ttl").await.unwrap().0.as_ref(), b"x");
        let nobody = Client::connect(&backend.connect_string()).await.unwrap();
        assert_eq!(nobody.get_data("/ttl").await, Err(Error::NoAuth));
        for c in [owner, sup, nobody] {
            c.close().await;
        }
        backend.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn options_reach_the_real_server() {
        crate::require_real_zk!();
        bounded(
            Duration::from_secs(120),
            options_reach_the_server(BackendKind::Real),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn options_reach_the_mini_server() {
        bounded(
            Duration::from_secs(60),
            options_reach_the_server(BackendKind::Mini),
        )
        .await;
    }

    #[tokio::test]
    async fn the_mini_server_refuses_what_it_does_not_have() {
        for opts in [
            ZkOptions::default().read_only_mode(true),
            ZkOptions::default().netty(true),
            ZkOptions::default().config("secureClientPort", "2281"),
        ] {
            let err = Backend::start(BackendKind::Mini, opts).await.unwrap_err();
            assert!(matches!(err, HarnessError::Unavailable(_)), "{err}");
        }
    }
}
