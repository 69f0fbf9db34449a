//! A replicated ensemble member: `zoo.cfg`'s `server.N` lines and `myid`, the ensemble it
//! belongs to ([`identity`]), the peer transport ([`transport`], [`wire`]) and the driver that runs the Zab core
//! ([`crate::zab`]) under the server's state machine.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use zk_server_mini::{MiniServer, ServerConfig};
//!
//! // The same zoo.cfg on every member; each has its own dataDir holding its myid.
//! let cfg = ServerConfig::from_zoo_cfg(
//!     "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir=/var/zk1\nclientPort=2181\n\
//!      server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n",
//! )?;
//! std::fs::write("/var/zk1/myid", "1\n")?;
//! let member = MiniServer::builder().config(cfg).start().await?;
//! println!("{:?}", member.member_status());
//! # Ok(()) }
//! ```

pub mod driver;
pub mod identity;
mod start;
pub mod transport;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::config::{PeerAddr, ServerConfig};
use crate::zab::PeerId;

pub use driver::{MemberFaults, MemberStatus};
pub use identity::ensemble_id;

/// This member's id: the configured one, or the `myid` file in the data directory.
///
/// ```
/// use zk_server_mini::ServerConfig;
/// use zk_server_mini::ensemble::my_id;
///
/// let dir = std::env::temp_dir().join(format!("zk-mini-myid-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("myid"), "2\n").unwrap();
/// let cfg = format!(
///     "dataDir={}\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n",
///     dir.display()
/// );
/// assert_eq!(my_id(&ServerConfig::from_zoo_cfg(&cfg).unwrap()), Ok(2));
/// std::fs::write(dir.join("myid"), "5\n").unwrap();
/// assert!(my_id(&ServerConfig::from_zoo_cfg(&cfg).unwrap()).is_err());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// A missing or malformed `myid`, or an id that is not among the `server.N` lines.
pub fn my_id(config: &ServerConfig) -> Result<PeerId, String> {
    let id = match config.my_id {
        Some(id) => id,
        None => {
            let path = config.data_dir.join("myid");
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "cannot read {} ({e}): an ensemble member needs its id there",
                    path.display()
                )
            })?;
            text.trim().parse().map_err(|_| {
                format!(
                    "{} holds {:?}, not a member id",
                    path.display(),
                    text.trim()
                )
            })?
        }
    };
    if !config.servers.contains_key(&id) {
        let listed: Vec<String> = config.servers.keys().map(u64::to_string).collect();
        return Err(format!(
            "myid {id} is not among the server.N lines ({})",
            listed.join(", ")
        ));
    }
    Ok(id)
}

/// Resolves every member's quorum address.
pub(crate) async fn resolve(
    servers: &BTreeMap<u64, PeerAddr>,
) -> Result<BTreeMap<PeerId, SocketAddr>, String> {
    let mut out = BTreeMap::new();
    for (id, a) in servers {
        let addr = tokio::net::lookup_host((a.host.as_str(), a.quorum_port))
            .await
            .map_err(|e| format!("server.{id}: cannot resolve {} ({e})", a.host))?
            .next()
            .ok_or_else(|| format!("server.{id}: {} has no address", a.host))?;
        out.insert(*id, addr);
    }
    Ok(out)
}
