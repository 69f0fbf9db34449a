//! Test harness shared by the integration tests.
//!
//! - [`real_zk`]: the reference server, Apache ZooKeeper 3.8.0 from Debian, as a child process
//!   ([`RealZk`] standalone, [`RealZkEnsemble`] replicated), stopped by pid on drop.
//! - [`proxy`]: [`TcpProxy`], a loopback TCP proxy for dropped connections, silence and refused
//!   reconnects.
//! - [`ports`]: free loopback ports that do not collide between parallel tests.
//! - [`skip`]: the skip policy ([`require_real_zk!`], [`require!`]): skip with a `SKIP:` line
//!   when the software is missing, fail instead under `CI=true` or `ZK_REQUIRE_REAL=1`.
//! - [`clients`]: paths of the reference clients (kazoo, `zkCli.sh`, `cli_mt`), and kazoo
//!   writing while membership changes ([`clients::kazoo_reconfig_under_load`]).
//! - [`ensemble`]: [`ensemble::Ensemble`], a real or a mini ensemble driven alike, for the
//!   differential `ensemble_*` tests.
//! - [`java`]: Java programs under `tests/java/` compiled at test time against Curator 5.4 and
//!   the ZooKeeper 3.8 client from Debian.
//!
//! Golden wire captures from these clients live in `zk-proto/tests/fixtures/`; the scripts that
//! made them are in `tools/`.

pub mod backend;
pub mod clients;
pub mod ensemble;
pub mod java;
pub mod linearizability;
pub mod mini;
pub use zk_server_mini::ports;
pub mod proxy;
pub mod real_zk;
pub mod skip;

pub use ports::{PortReservation, reserve_port, reserve_ports};

/// Runs `f`, failing the test if it takes longer than `limit` (so a hang fails instead of
/// blocking CI).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// let answer = zk_integration_tests::bounded(Duration::from_secs(5), async { 42 }).await;
/// assert_eq!(answer, 42);
/// # }
/// ```
pub async fn bounded<F: std::future::Future>(limit: std::time::Duration, f: F) -> F::Output {
    match tokio::time::timeout(limit, f).await {
        Ok(out) => out,
        Err(_) => panic!("test did not finish within {limit:?}"),
    }
}
pub use proxy::{Direction, FrameSplitter, TapEvent, TcpProxy};
pub use real_zk::{
    HarnessError, RealZk, RealZkEnsemble, ServerMode, ZkNode, ZkOptions, four_letter_word,
};
