//! Dynamic reconfiguration (ZooKeeper 3.5+): the membership text `/zookeeper/config` holds,
//! and the membership a `reconfig` request asks for.
//!
//! `/zookeeper/config` holds one `server.N=host:quorumPort:electionPort:role[;client]` line
//! per member, in id order, then `version=<hex>`, with no final newline: byte for byte what a
//! real 3.8.0 ensemble writes. The version is 0 when `reconfigEnabled` is off; with it on, a
//! fresh ensemble starts at `0x100000000` and every committed `reconfig` sets it to its own
//! zxid (the node's `mzxid`).

pub mod files;

use std::collections::BTreeMap;

use zk_proto::{ErrorCode, ReconfigRequest};

use crate::config::PeerAddr;
use crate::tree::{DataTree, NodeData};

/// The path of the configuration node.
///
/// ```
/// assert_eq!(zk_server_mini::reconfig::CONFIG_PATH, "/zookeeper/config");
/// ```
pub const CONFIG_PATH: &str = "/zookeeper/config";

/// The version (and `mzxid`) of a fresh ensemble's configuration when `reconfigEnabled` is on:
/// the first zxid of epoch 1, as a real 3.8.0 ensemble writes it.
///
/// ```
/// assert_eq!(zk_server_mini::reconfig::INITIAL_VERSION, 0x1_0000_0000);
/// ```
pub const INITIAL_VERSION: i64 = 1 << 32;

/// A membership and its version: what `/zookeeper/config` holds.
///
/// ```
/// use std::collections::BTreeMap;
/// use zk_server_mini::config::PeerAddr;
/// use zk_server_mini::reconfig::Membership;
/// let mut servers = BTreeMap::new();
/// servers.insert(1, PeerAddr::parse("127.0.0.1:2888:3888").unwrap());
/// servers.insert(2, PeerAddr::parse("127.0.0.1:2889:3889:observer;2181").unwrap());
/// let m = Membership { servers, version: 0x1_0000_0000 };
/// assert_eq!(
///     m.text(),
///     "server.1=127.0.0.1:2888:3888:participant\n\
///      server.2=127.0.0.1:2889:3889:observer;0.0.0.0:2181\nversion=100000000"
/// );
/// assert_eq!(Membership::parse(&m.text()), Some(m));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The members by id.
    pub servers: BTreeMap<u64, PeerAddr>,
    /// The configuration version (a zxid; 0 when reconfiguration is disabled).
    pub version: i64,
}

impl Membership {
    /// The text of `/zookeeper/config` (see [`Membership`]).
    ///
    /// ```
    /// use zk_server_mini::reconfig::Membership;
    /// let m = Membership { servers: Default::default(), version: 0 };
    /// assert_eq!(m.text(), "version=0");
    /// ```
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (id, a) in &self.servers {
            s.push_str(&server_line(*id, a));
            s.push('\n');
        }
        s.push_str(&format!("version={:x}", self.version));
        s
    }

    /// Reads the text of `/zookeeper/config` back; `None` when it is not such a text.
    ///
    /// ```
    /// use zk_server_mini::reconfig::Membership;
    /// let m = Membership::parse("server.1=a:1:2:participant\nversion=1f").unwrap();
    /// assert_eq!((m.servers.len(), m.version), (1, 0x1f));
    /// assert_eq!(Membership::parse(""), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        let mut servers = BTreeMap::new();
        let mut version = None;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (key, value) = line.split_once('=')?;
            if key == "version" {
                version = Some(i64::from_str_radix(value, 16).ok()?);
            } else {
                let (id, addr) = server_spec(line).ok()?;
                servers.insert(id, addr);
            }
        }
        Some(Self {
            servers,
            version: version?,
        })
    }

    /// How many members vote.
    ///
    /// ```
    /// use zk_server_mini::reconfig::Membership;
    /// let m = Membership::parse("server.1=a:1:2\nserver.2=a:3:4:observer\nversion=0").unwrap();
    /// assert_eq!(m.voters(), 1);
    /// ```
    pub fn voters(&self) -> usize {
        self.servers.values().filter(|a| !a.observer).count()
    }
}

/// One member's line as ZooKeeper writes it: the role always spelled out, and the client
/// address (if any) after `;`.
///
/// ```
/// use zk_server_mini::config::PeerAddr;
/// use zk_server_mini::reconfig::server_line;
/// let a = PeerAddr::parse("h:1:2").unwrap();
/// assert_eq!(server_line(3, &a), "server.3=h:1:2:participant");
/// ```
pub fn server_line(id: u64, a: &PeerAddr) -> String {
    let role = if a.observer {
        "observer"
    } else {
        "participant"
    };
    let mut s = format!(
        "server.{id}={}:{}:{}:{role}",
        a.host, a.quorum_port, a.election_port
    );
    if let Some(client) = &a.client {
        s.push(';');
        s.push_str(client);
    }
    s
}

/// A request field that is present and not blank.
fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.trim().is_empty())
}

/// Parses `server.N=host:q:e[:role][;client]`.
fn server_spec(spec: &str) -> Result<(u64, PeerAddr), ErrorCode> {
    let (key, value) = spec.trim().split_once('=').ok_or(ErrorCode::BadArguments)?;
    let id = key
        .trim()
        .strip_prefix("server.")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or(ErrorCode::BadArguments)?;
    let addr = PeerAddr::parse(value.trim()).map_err(|_| ErrorCode::BadArguments)?;
    Ok((id, addr))
}

/// The membership a `reconfig` request asks for, given the current one, or the error a real
/// 3.8.0 leader answers: `BadArguments` for a request that is both incremental and not, a
/// malformed server spec or id, a joining spec without a client address, a result without a
/// voter or with one address twice;
/// `BadVersion` when `curConfigId` is neither -1 nor the current version. Removing an id that
/// is not a member changes nothing (and is no error).
///
/// ```
/// use zk_proto::{ErrorCode, ReconfigRequest};
/// use zk_server_mini::reconfig::{Membership, next_membership};
/// let now = Membership::parse("server.1=a:1:2\nserver.2=a:3:4\nversion=100000000").unwrap();
/// let req = |j: Option<&str>, l: Option<&str>| ReconfigRequest {
///     joining_servers: j.map(Into::into), leaving_servers: l.map(Into::into),
///     new_members: None, cur_config_id: -1,
/// };
/// let added = next_membership(&now, &req(Some("server.3=a:5:6:observer;2181"), None)).unwrap();
/// assert!(added[&3].observer);
/// assert_eq!(next_membership(&now, &req(None, Some("9"))).unwrap(), now.servers);
/// assert_eq!(next_membership(&now, &req(None, Some("1,2"))), Err(ErrorCode::BadArguments));
/// ```
///
/// # Errors
/// As above.
pub fn next_membership(
    current: &Membership,
    req: &ReconfigRequest,
) -> Result<BTreeMap<u64, PeerAddr>, ErrorCode> {
    let (joining, leaving, members) = (
        given(&req.joining_servers),
        given(&req.leaving_servers),
        given(&req.new_members),
    );
    let next = match members {
        Some(_) if joining.is_some() || leaving.is_some() => {
            return Err(ErrorCode::BadArguments);
        }
        Some(list) => {
            let mut next = BTreeMap::new();
            for spec in list.split(',').filter(|s| !s.trim().is_empty()) {
                let (id, addr) = server_spec(spec)?;
                next.insert(id, addr);
            }
            next
        }
        None => {
            let mut next = current.servers.clone();
            for id in leaving.into_iter().flat_map(|l| l.split(',')) {
                let id: u64 = id.trim().parse().map_err(|_| ErrorCode::BadArguments)?;
                next.remove(&id);
            }
            for spec in joining.into_iter().flat_map(|j| j.split(',')) {
                let (id, addr) = server_spec(spec)?;
                // A joining spec names where the server takes clients (3.8.0 refuses one
                // without, for a new server and for a change of a member alike).
                if addr.client.is_none() {
                    return Err(ErrorCode::BadArguments);
                }
                next.insert(id, addr);
            }
            next
        }
    };
    if !next.values().any(|a| !a.observer) {
        return Err(ErrorCode::BadArguments);
    }
    let mut seen = std::collections::BTreeSet::new();
    for a in next.values() {
        if !seen.insert((a.host.as_str(), a.quorum_port)) {
            return Err(ErrorCode::BadArguments);
        }
    }
    if req.cur_config_id != -1 && req.cur_config_id != current.version {
        return Err(ErrorCode::BadVersion);
    }
    Ok(next)
}

/// Writes an ensemble member's `/zookeeper/config` at startup from its `server.N` lines, as a
/// real 3.8.0 member does: `version=0` and `mzxid` 0 with reconfiguration disabled,
/// [`INITIAL_VERSION`] for both with it enabled; the stat's data version is -1 and `mtime`
/// the start time. A configuration some committed `reconfig` wrote (a newer `mzxid`, from the
/// snapshot or replayed log) is kept.
///
/// ```
/// use zk_server_mini::ServerConfig;
/// use zk_server_mini::reconfig::install_initial;
/// use zk_server_mini::tree::DataTree;
/// let cfg = ServerConfig::from_zoo_cfg("dataDir=/x\nserver.1=h:1:2\nserver.2=h:3:4\n").unwrap();
/// let mut tree = DataTree::new();
/// install_initial(&mut tree, &cfg.servers, false, 1_000);
/// let node = tree.get("/zookeeper/config").unwrap();
/// assert_eq!(node.data.as_slice(), Some(&b"server.1=h:1:2:participant\nserver.2=h:3:4:participant\nversion=0"[..]));
/// assert_eq!((node.stat().version, node.stat().mzxid), (-1, 0));
/// ```
pub fn install_initial(
    tree: &mut DataTree,
    servers: &BTreeMap<u64, PeerAddr>,
    enabled: bool,
    wall_ms: i64,
) {
    let Some(node) = tree.get_mut(CONFIG_PATH) else {
        return;
    };
    if node.mzxid > INITIAL_VERSION {
        return;
    }
    let version = if enabled { INITIAL_VERSION } else { 0 };
    let text = Membership {
        servers: servers.clone(),
        version,
    }
    .text();
    node.data = NodeData::copy_of(Some(text.as_bytes()));
    node.mzxid = version;
    node.version = -1;
    node.mtime = wall_ms;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(j: Option<&str>, l: Option<&str>, m: Option<&str>, from: i64) -> ReconfigRequest {
        ReconfigRequest {
            joining_servers: j.map(Into::into),
            leaving_servers: l.map(Into::into),
            new_members: m.map(Into::into),
            cur_config_id: from,
        }
    }

    fn three() -> Membership {
        Membership::parse(
            "server.1=127.0.0.1:1:2:participant\nserver.2=127.0.0.1:3:4:participant\n\
             server.3=127.0.0.1:5:6:participant\nversion=100000000",
        )
        .unwrap()
    }

    #[test]
    fn the_text_is_the_real_servers() {
        // As a real 3.8.0 ensemble answered getConfig after `add server.4=...:observer;...`
        // (a bare client port is written with the wildcard address).
        let mut m = three();
        let next = next_membership(
            &m,
            &req(
                Some("server.4=127.0.0.1:7:8:observer;21993"),
                None,
                None,
                -1,
            ),
        )
        .unwrap();
        m.servers = next;
        m.version = 0x1_0000_000d;
        assert_eq!(
            m.text(),
            "server.1=127.0.0.1:1:2:participant\nserver.2=127.0.0.1:3:4:participant\n\
             server.3=127.0.0.1:5:6:participant\nserver.4=127.0.0.1:7:8:observer;0.0.0.0:21993\n\
             version=10000000d"
        );
    }

    #[test]
    fn bad_requests_get_the_real_servers_codes() {
        let m = three();
        let bad = [
            req(None, Some("1,2,3"), None, -1),
            req(Some("server.5=garbage"), None, None, -1),
            req(Some("blah"), None, None, -1),
            req(None, Some("x"), None, -1),
            req(
                Some("server.5=127.0.0.1:7:8:observer"),
                None,
                Some("server.1=a:1:2"),
                -1,
            ),
            req(Some("server.5=127.0.0.1:1:9;2181"), None, None, -1),
        ];
        for r in bad {
            assert_eq!(
                next_membership(&m, &r),
                Err(ErrorCode::BadArguments),
                "{r:?}"
            );
        }
        let stale = req(None, Some("9"), None, 12345);
        assert_eq!(next_membership(&m, &stale), Err(ErrorCode::BadVersion));
        let current = req(None, Some("9"), None, 0x1_0000_0000);
        assert_eq!(next_membership(&m, &current), Ok(m.servers.clone()));
        assert_eq!(
            next_membership(&m, &req(None, None, None, -1)),
            Ok(m.servers.clone())
        );
    }

    #[test]
    fn incremental_and_whole_changes() {
        let m = three();
        let removed = next_membership(&m, &req(None, Some("3"), None, -1)).unwrap();
        assert_eq!(removed.keys().copied().collect::<Vec<_>>(), [1, 2]);
        let role = next_membership(
            &m,
            &req(Some("server.3=127.0.0.1:5:6:observer;2183"), None, None, -1),
        )
        .unwrap();
        assert!(role[&3].observer);
        let whole = next_membership(
            &m,
            &req(
                None,
                None,
                Some("server.1=127.0.0.1:1:2,server.2=127.0.0.1:3:4"),
                -1,
            ),
        )
        .unwrap();
        assert_eq!(whole.len(), 2);
    }

    #[test]
    fn a_committed_configuration_survives_a_restart() {
        let servers = three().servers;
        let mut tree = DataTree::new();
        install_initial(&mut tree, &servers, true, 1);
        let initial = tree.get(CONFIG_PATH).map(|n| (n.mzxid, n.version));
        assert_eq!(initial, Some((INITIAL_VERSION, -1)));
        // A reconfig at zxid 0x100000009 rewrote it; the restarted member must keep it.
        let committed = Membership {
            servers: servers.clone(),
            version: 0x1_0000_0009,
        };
        if let Some(n) = tree.get_mut(CONFIG_PATH) {
            n.data = NodeData::copy_of(Some(committed.text().as_bytes()));
            n.mzxid = committed.version;
        }
        install_initial(&mut tree, &servers, true, 2);
        let node = tree.get(CONFIG_PATH).unwrap();
        assert_eq!(node.mzxid, 0x1_0000_0009);
        assert_eq!(node.data.as_slice(), Some(committed.text().as_bytes()));
        // With reconfiguration off the initial text says version=0.
        let mut off = DataTree::new();
        install_initial(&mut off, &servers, false, 3);
        let text = off
            .get(CONFIG_PATH)
            .and_then(|n| n.data.as_slice().map(|d| d.to_vec()));
        assert!(text.is_some_and(|t| t.ends_with(b"\nversion=0")));
    }
}
