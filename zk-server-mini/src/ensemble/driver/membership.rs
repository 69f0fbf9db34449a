//! The driver's side of membership changes: the core learns a change from the entry that
//! carries it ([`decode_membership`]); once one is applied, or a leader's snapshot replaced
//! the state, the driver reads the membership the state now holds (`/zookeeper/config`) and
//! points the transport at its members.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::Driver;
use crate::config::PeerAddr;
use crate::reconfig::{CONFIG_PATH, Membership};
use crate::txn::{Txn, decode_entry, is_reconfig_entry};
use crate::zab::{Members, MembershipDecoder};

/// The ids that vote and observe in a membership.
///
/// ```
/// use zk_server_mini::ensemble::driver::members_of;
/// use zk_server_mini::reconfig::Membership;
/// let m = Membership::parse("server.1=h:1:2\nserver.2=h:3:4:observer\nversion=0").unwrap();
/// let members = members_of(&m.servers);
/// assert!(members.voters.contains(&1) && members.observers.contains(&2));
/// ```
pub fn members_of(servers: &BTreeMap<u64, PeerAddr>) -> Members {
    Members::new(
        servers
            .iter()
            .filter(|(_, a)| !a.observer)
            .map(|(id, _)| *id),
        servers
            .iter()
            .filter(|(_, a)| a.observer)
            .map(|(id, _)| *id),
    )
}

/// Recognises a committed `reconfig` entry ([`Txn::Reconfig`]) and reads the membership its
/// configuration text lists; anything else (and a text that does not parse) is no change.
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::ensemble::driver::decode_membership;
/// use zk_server_mini::txn::{Txn, TxnHeader, encode_entry};
/// let h = TxnHeader { session_id: 1, cxid: 1, zxid: 9, time: 0 };
/// let text = Bytes::from_static(b"server.1=h:1:2:participant\nserver.2=h:3:4:observer\nversion=9");
/// let m = decode_membership(&encode_entry(&h, &Txn::Reconfig { data: text })).unwrap();
/// assert_eq!((m.voters.len(), m.observers.len()), (1, 1));
/// assert!(decode_membership(&encode_entry(&h, &Txn::Delete { path: "/a".into() })).is_none());
/// ```
pub fn decode_membership(payload: &Bytes) -> Option<Members> {
    if !is_reconfig_entry(payload) {
        return None;
    }
    let (_, Txn::Reconfig { data }) = decode_entry(payload.clone()).ok()? else {
        return None;
    };
    let text = std::str::from_utf8(&data).ok()?;
    let m = Membership::parse(text)?;
    Some(members_of(&m.servers))
}

/// The decoder an ensemble member's core runs with.
pub(crate) const DECODER: MembershipDecoder = MembershipDecoder(decode_membership);

impl Driver {
    /// The membership the applied state holds.
    pub(super) fn applied_membership(&self) -> Option<Membership> {
        let node = self.sm.tree().get(CONFIG_PATH)?;
        let text = std::str::from_utf8(node.data.as_slice()?).ok()?;
        Membership::parse(text)
    }

    /// A leader's snapshot replaced the state: the core takes the membership it holds.
    pub(super) fn membership_restored(&mut self) {
        if let Some(m) = self.applied_membership() {
            self.peer.set_membership(members_of(&m.servers), m.version);
        }
    }

    /// The membership the state holds changed (a `reconfig` applied, or a snapshot): the
    /// transport dials its members, and the four-letter words describe this member's role
    /// in it.
    pub(super) async fn membership_changed(&mut self) {
        let Some(m) = self.applied_membership() else {
            return;
        };
        let me = self.peer.id();
        let observer = m.servers.get(&me).is_some_and(|a| a.observer);
        self.facts.quorum_conf = self
            .facts
            .quorum_conf
            .lines()
            .map(|l| match l.strip_prefix("peerType=") {
                Some(_) => format!("peerType={}\n", u8::from(observer)),
                None => format!("{l}\n"),
            })
            .collect();
        if let Some(files) = self.membership_files(&m) {
            files.write().await;
        }
        let others: BTreeMap<u64, PeerAddr> =
            m.servers.into_iter().filter(|(id, _)| *id != me).collect();
        match super::super::resolve(&others).await {
            Ok(addrs) => self.out.set_peers(addrs),
            Err(e) => tracing::warn!("a member's address does not resolve ({e})"),
        }
    }

    /// With `reconfigEnabled`, a member started from a `zoo.cfg` keeps the files a real one
    /// keeps beside it (see [`crate::reconfig::files`]): the writing to do for `m`, if any.
    pub(super) fn membership_files(&self, m: &Membership) -> Option<FilesToWrite> {
        let (true, Some(file)) = (self.reconfig_enabled, self.config_file.clone()) else {
            return None;
        };
        Some(FilesToWrite {
            file,
            membership: m.clone(),
            me: self.peer.id(),
        })
    }
}

/// The membership files to write (off the driver's task: blocking file I/O).
pub(super) struct FilesToWrite {
    file: std::path::PathBuf,
    membership: Membership,
    me: u64,
}

impl FilesToWrite {
    /// Writes them. A failure is logged: the membership itself is in the replicated state,
    /// the files are for operators and restarts.
    pub(super) async fn write(self) {
        let written = tokio::task::spawn_blocking(move || {
            crate::reconfig::files::write_membership(&self.file, &self.membership, self.me)
        })
        .await;
        if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
            tracing::warn!("the dynamic configuration file was not written ({e})");
        }
    }
}
