//! A replicated ensemble member: `zoo.cfg`'s `server.N` lines and `myid`, the peer
//! transport ([`transport`], [`wire`]) and the driver that runs the Zab core
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
mod start;
pub mod transport;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use crate::config::{PeerAddr, ServerConfig};
use crate::zab::PeerId;

pub use driver::{MemberFaults, MemberStatus};

/// The ensemble id: a hash of the membership (ids and quorum addresses), so members of two
/// ensembles never talk to each other, and a data directory written by one ensemble is
/// refused by another.
///
/// ```
/// use std::collections::BTreeMap;
/// use zk_server_mini::config::PeerAddr;
/// use zk_server_mini::ensemble::ensemble_id;
///
/// let addr = |p| PeerAddr { host: "127.0.0.1".into(), quorum_port: p, election_port: 1, observer: false, client: None };
/// let a: BTreeMap<u64, PeerAddr> = [(1, addr(2888)), (2, addr(2889))].into();
/// let b: BTreeMap<u64, PeerAddr> = [(1, addr(2888)), (2, addr(2890))].into();
/// assert_ne!(ensemble_id(&a), ensemble_id(&b));
/// ```
pub fn ensemble_id(servers: &BTreeMap<u64, PeerAddr>) -> u64 {
    // FNV-1a: stable across builds and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (id, a) in servers {
        // An observer's line is marked, so members that disagree on who votes never talk
        // (and an ensemble without observers keeps the id it always had).
        let role = if a.observer { ":observer" } else { "" };
        for b in format!("{id}={}:{}{role};", a.host, a.quorum_port).bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

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

/// Checks (or, on first start, records) which ensemble a data directory belongs to.
///
/// ```
/// use zk_server_mini::ensemble::check_data_dir;
///
/// let dir = std::env::temp_dir().join(format!("zk-mini-ens-doc-{}", std::process::id()));
/// assert!(check_data_dir(&dir, 7).is_ok()); // recorded
/// assert!(check_data_dir(&dir, 7).is_ok());
/// assert!(check_data_dir(&dir, 8).unwrap_err().contains("belongs to ensemble"));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// The directory belongs to another ensemble, or cannot be read or written.
pub fn check_data_dir(dir: &Path, id: u64) -> Result<(), String> {
    let path = dir.join("ensemble");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let theirs = u64::from_str_radix(text.trim(), 16)
                .map_err(|_| format!("{} is damaged ({:?})", path.display(), text.trim()))?;
            if theirs != id {
                return Err(format!(
                    "{} belongs to ensemble {theirs:016x}, not to this one ({id:016x}): its \
                     members are listed differently in zoo.cfg; use an empty data directory",
                    dir.display()
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            let tmp = dir.join("ensemble.tmp");
            std::fs::write(&tmp, format!("{id:016x}\n")).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}
