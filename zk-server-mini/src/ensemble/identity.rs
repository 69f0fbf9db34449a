//! Which ensemble a member belongs to, in a way that survives membership changes.
//!
//! A member whose zab directory holds an `ensemble` file is *bound* to the id written there,
//! for the life of that directory. A member without one (a fresh data directory) is
//! *provisional*: it proposes [`ensemble_id`] of its own `server.N` list and binds exactly
//! once, just before it first serves: a leader to the id it proposes, a follower or observer
//! to the id its leader announced in its hello. So the members of a new ensemble (same
//! `server.N` lists) all bind to the same id, and a joining member (started with the current
//! members plus itself, so proposing another id) or a rebuilt one (its data directory lost)
//! takes the id of the ensemble it joins.
//!
//! Peers accept each other's hello when their ids are equal or either side is provisional
//! ([`EnsembleIdentity::accepts`]); two bound members of different ensembles never talk. The
//! session-password secret derives from the bound id ([`session_secret`]), so a session
//! opened at any member is valid at every other, including one that bound later.
//!
//! ```
//! use zk_server_mini::ensemble::identity::{EnsembleIdentity, load, write_bound};
//! use std::collections::BTreeMap;
//!
//! let dir = std::env::temp_dir().join(format!("zk-mini-identity-doc-{}", std::process::id()));
//! let servers = BTreeMap::new();
//! let fresh = load(&dir, &servers)?;
//! assert!(!fresh.is_bound()); // provisional until it first serves
//! write_bound(&dir, 0xabc)?; // what binding does (durably)
//! assert_eq!(load(&dir, &servers)?, EnsembleIdentity::Bound(0xabc));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use tokio::sync::watch;

use super::transport::Greetings;
use super::wire::{Hello, WireError};
use crate::config::PeerAddr;
use crate::state::{CoreConfig, StateMachine};
use crate::zab::{PeerId, Role};

/// The name of the file in the zab directory that binds it to an ensemble.
const FILE: &str = "ensemble";

/// The id a fresh member proposes: a hash of its `server.N` list (ids and quorum addresses).
/// Roles are left out, since a member may change roles (`reconfig`) without changing
/// ensembles.
///
/// ```
/// use std::collections::BTreeMap;
/// use zk_server_mini::config::PeerAddr;
/// use zk_server_mini::ensemble::ensemble_id;
///
/// let addr = |p, observer| PeerAddr { host: "127.0.0.1".into(), quorum_port: p, election_port: 1, observer, client: None };
/// let a: BTreeMap<u64, PeerAddr> = [(1, addr(2888, false)), (2, addr(2889, false))].into();
/// let b: BTreeMap<u64, PeerAddr> = [(1, addr(2888, false)), (2, addr(2890, false))].into();
/// let c: BTreeMap<u64, PeerAddr> = [(1, addr(2888, false)), (2, addr(2889, true))].into();
/// assert_ne!(ensemble_id(&a), ensemble_id(&b));
/// assert_eq!(ensemble_id(&a), ensemble_id(&c)); // an observer is still the same member
/// ```
pub fn ensemble_id(servers: &BTreeMap<u64, PeerAddr>) -> u64 {
    // FNV-1a: stable across builds and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (id, a) in servers {
        for b in format!("{id}={}:{};", a.host, a.quorum_port).bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A member's ensemble: bound to one, or proposing one until it first serves.
///
/// ```
/// use zk_server_mini::ensemble::identity::EnsembleIdentity;
/// let fresh = EnsembleIdentity::Provisional(7);
/// assert_eq!((fresh.id(), fresh.is_bound()), (7, false));
/// assert!(EnsembleIdentity::Bound(7).is_bound());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsembleIdentity {
    /// Bound to this ensemble id (its zab directory says so).
    Bound(u64),
    /// Not yet bound; proposes this id (the hash of its `server.N` list).
    Provisional(u64),
}

impl EnsembleIdentity {
    /// The id: bound to or proposed.
    ///
    /// ```
    /// use zk_server_mini::ensemble::identity::EnsembleIdentity;
    /// assert_eq!(EnsembleIdentity::Bound(3).id(), 3);
    /// ```
    pub fn id(self) -> u64 {
        match self {
            Self::Bound(id) | Self::Provisional(id) => id,
        }
    }

    /// Whether this member is bound to its ensemble.
    ///
    /// ```
    /// use zk_server_mini::ensemble::identity::EnsembleIdentity;
    /// assert!(!EnsembleIdentity::Provisional(3).is_bound());
    /// ```
    pub fn is_bound(self) -> bool {
        matches!(self, Self::Bound(_))
    }

    /// The hello member `me` opens its peer connections with.
    ///
    /// ```
    /// use zk_server_mini::ensemble::identity::EnsembleIdentity;
    /// let hello = EnsembleIdentity::Provisional(9).hello(4, 2181, 2888);
    /// assert!(hello.provisional && hello.ensemble == 9 && hello.from == 4);
    /// ```
    pub fn hello(self, me: PeerId, client_port: u16, quorum_port: u16) -> Hello {
        Hello {
            ensemble: self.id(),
            provisional: !self.is_bound(),
            from: me,
            client_port,
            quorum_port,
        }
    }

    /// Whether member `me`, with this identity, talks to the sender of `hello`: the ids are
    /// equal or either side is provisional, and the sender is not `me`. Whether the sender
    /// is a member is not decided here (the Zab core ignores non-members).
    ///
    /// # Errors
    /// [`WireError::OtherEnsemble`] for a bound member of another ensemble,
    /// [`WireError::NotAMember`] for a hello claiming to be `me`.
    ///
    /// ```
    /// use zk_server_mini::ensemble::identity::EnsembleIdentity::{Bound, Provisional};
    /// use zk_server_mini::ensemble::wire::Hello;
    /// let hello = |ensemble, provisional| Hello { ensemble, provisional, from: 2, client_port: 1, quorum_port: 2 };
    /// assert!(Bound(7).accepts(&hello(7, false), 1).is_ok());
    /// assert!(Bound(7).accepts(&hello(8, false), 1).is_err()); // another ensemble
    /// assert!(Bound(7).accepts(&hello(8, true), 1).is_ok()); // a joiner, not yet bound
    /// assert!(Provisional(8).accepts(&hello(7, false), 1).is_ok()); // we join them
    /// assert!(Bound(7).accepts(&hello(7, false), 2).is_err()); // ourselves
    /// ```
    pub fn accepts(self, hello: &Hello, me: PeerId) -> Result<(), WireError> {
        if hello.from == me {
            return Err(WireError::NotAMember(hello.from));
        }
        if self.is_bound() && !hello.provisional && hello.ensemble != self.id() {
            return Err(WireError::OtherEnsemble {
                ours: self.id(),
                theirs: hello.ensemble,
            });
        }
        Ok(())
    }
}

/// The id a zab directory is bound to, if any.
///
/// # Errors
/// An `ensemble` file that cannot be read or does not hold an id.
///
/// ```
/// use zk_server_mini::ensemble::identity::{read_bound, write_bound};
/// let dir = std::env::temp_dir().join(format!("zk-mini-read-bound-doc-{}", std::process::id()));
/// assert_eq!(read_bound(&dir)?, None);
/// write_bound(&dir, 42)?;
/// assert_eq!(read_bound(&dir)?, Some(42));
/// std::fs::write(dir.join("ensemble"), "not hex")?;
/// assert!(read_bound(&dir).unwrap_err().contains("damaged"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_bound(dir: &Path) -> Result<Option<u64>, String> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => u64::from_str_radix(text.trim(), 16).map(Some).map_err(|_| {
            format!(
                "{} is damaged ({:?}): it should hold the ensemble id this data directory \
                 belongs to",
                path.display(),
                text.trim()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Binds a zab directory to ensemble `id`, durably (written to a temporary file, synced,
/// renamed into place, the directory synced): once this returns, a crash cannot leave the
/// directory unbound or half-bound.
///
/// # Errors
/// The directory or the file cannot be written or synced.
///
/// ```
/// use zk_server_mini::ensemble::identity::{read_bound, write_bound};
/// let dir = std::env::temp_dir().join(format!("zk-mini-write-bound-doc-{}", std::process::id()));
/// write_bound(&dir, 0xfeed)?;
/// assert_eq!(std::fs::read_to_string(dir.join("ensemble"))?, "000000000000feed\n");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_bound(dir: &Path, id: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join("ensemble.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(format!("{id:016x}\n").as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(FILE))?;
    crate::wal::sync_dir(dir)
}

/// A member's identity at startup: bound when its zab directory says so, else provisional,
/// proposing [`ensemble_id`] of `servers`.
///
/// # Errors
/// As [`read_bound`].
///
/// ```
/// use std::collections::BTreeMap;
/// use zk_server_mini::ensemble::identity::{EnsembleIdentity, load};
/// let dir = std::env::temp_dir().join(format!("zk-mini-load-doc-{}", std::process::id()));
/// let servers = BTreeMap::new();
/// assert_eq!(load(&dir, &servers)?, EnsembleIdentity::Provisional(zk_server_mini::ensemble::ensemble_id(&servers)));
/// # Ok::<(), String>(())
/// ```
pub fn load(dir: &Path, servers: &BTreeMap<u64, PeerAddr>) -> Result<EnsembleIdentity, String> {
    Ok(match read_bound(dir)? {
        Some(id) => EnsembleIdentity::Bound(id),
        None => EnsembleIdentity::Provisional(ensemble_id(servers)),
    })
}

/// The secret session passwords are derived from: the same on every member of an ensemble
/// and across restarts, so a session opened at one member is accepted, with its password,
/// at any other (ZooKeeper's is a constant for the same reason).
///
/// ```
/// use zk_server_mini::ensemble::identity::session_secret;
/// assert_eq!(session_secret(7), session_secret(7));
/// assert_ne!(session_secret(7), session_secret(8));
/// ```
pub fn session_secret(ensemble_id: u64) -> [u8; 16] {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(b"zk-server-mini session secret");
    h.update(ensemble_id.to_be_bytes());
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// The driver's side of binding: holds the identity the transport reads (its hellos and
/// whom it accepts), and binds it, once, when the member first serves.
#[derive(Debug)]
pub(crate) struct Binder {
    zab_dir: PathBuf,
    identity: watch::Sender<EnsembleIdentity>,
    greetings: Greetings,
}

impl Binder {
    pub(crate) fn new(
        zab_dir: PathBuf,
        identity: watch::Sender<EnsembleIdentity>,
        greetings: Greetings,
    ) -> Self {
        Self {
            zab_dir,
            identity,
            greetings,
        }
    }

    /// Whether this member is bound (a provisional one serves no one, not even read-only).
    pub(crate) fn is_bound(&self) -> bool {
        self.identity.borrow().is_bound()
    }

    /// Called before the member starts serving as `role`; returns whether it may. A bound
    /// member may. A provisional one binds first: as leader to the id it proposes, as
    /// follower or observer to the id in its leader's hello; the `ensemble` file is written
    /// durably, then the session secret of `config` and `sm` is set from the id. It may not
    /// serve when the binding fails (no hello from its leader yet, a disk error): it is
    /// asked again on its next attempt to serve.
    pub(crate) async fn bind_to_serve(
        &mut self,
        role: Role,
        config: &mut CoreConfig,
        sm: &mut StateMachine,
    ) -> bool {
        let current = *self.identity.borrow();
        if current.is_bound() {
            return true;
        }
        let id = match role {
            Role::Leading => current.id(),
            Role::Following { leader } | Role::Observing { leader } => {
                match self.greetings.hello_from(leader) {
                    Some(hello) => hello.ensemble,
                    None => {
                        tracing::debug!(leader, "no hello from the leader yet; not serving");
                        return false;
                    }
                }
            }
            Role::Looking => return false,
        };
        let dir = self.zab_dir.clone();
        let written = tokio::task::spawn_blocking(move || write_bound(&dir, id)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(dir = %self.zab_dir.display(), "cannot bind to ensemble {id:016x} ({e}); not serving");
                return false;
            }
            Err(e) => {
                tracing::error!("binding task failed ({e}); not serving");
                return false;
            }
        }
        let secret = session_secret(id);
        config.session_secret = secret;
        sm.set_session_secret(secret);
        self.identity.send_replace(EnsembleIdentity::Bound(id));
        tracing::info!(
            proposed = format!("{:016x}", current.id()),
            "bound to ensemble {id:016x}"
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16, observer: bool) -> PeerAddr {
        PeerAddr {
            host: "127.0.0.1".into(),
            quorum_port: port,
            election_port: 1,
            observer,
            client: None,
        }
    }

    #[test]
    fn the_proposed_id_is_todays_without_the_observer_marking() {
        // The value a fresh three-member ensemble had before roles were left out of the hash
        // (no observers, so nothing was marked): existing data directories keep matching.
        let servers: BTreeMap<u64, PeerAddr> = [
            (1, addr(2888, false)),
            (2, addr(2889, false)),
            (3, addr(2890, false)),
        ]
        .into();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in "1=127.0.0.1:2888;2=127.0.0.1:2889;3=127.0.0.1:2890;".bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        assert_eq!(ensemble_id(&servers), h);
        let mut observed = servers.clone();
        observed.insert(3, addr(2890, true));
        assert_eq!(ensemble_id(&observed), h);
    }

    #[test]
    fn bound_members_of_two_ensembles_refuse_each_other_and_anyone_unbound_is_heard() {
        use EnsembleIdentity::{Bound, Provisional};
        let hello = |ensemble, provisional| Hello {
            ensemble,
            provisional,
            from: 2,
            client_port: 9,
            quorum_port: 10,
        };
        for (ours, theirs, ok) in [
            (Bound(7), hello(7, false), true),
            (Bound(7), hello(8, false), false),
            (Bound(7), hello(8, true), true),
            (Provisional(7), hello(8, false), true),
            (Provisional(7), hello(8, true), true),
        ] {
            assert_eq!(ours.accepts(&theirs, 1).is_ok(), ok, "{ours:?} {theirs:?}");
            // Nobody talks to a peer claiming to be itself.
            assert_eq!(
                ours.accepts(&theirs, 2),
                Err(WireError::NotAMember(2)),
                "{ours:?}"
            );
        }
    }

    #[test]
    fn a_damaged_ensemble_file_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join(FILE), "zz\n").expect("written");
        assert!(load(dir.path(), &BTreeMap::new()).is_err());
        write_bound(dir.path(), 5).expect("bound");
        assert!(!dir.path().join("ensemble.tmp").exists());
        assert_eq!(
            load(dir.path(), &BTreeMap::new()),
            Ok(EnsembleIdentity::Bound(5))
        );
    }
}
