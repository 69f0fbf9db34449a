//! The simulated member: its disk, store, core and replicated state machine.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use zk_server_mini::sim_disk::SimDisk;
use zk_server_mini::zab::store::ZabStore;
use zk_server_mini::zab::{Entry, Members, Peer, PeerId, PersistId, PersistOp};

/// The replicated state machine of the simulation: a digest chained over applied entries,
/// sessions and their ephemeral nodes, and (for the checker only) the zxids applied.
///
/// Payloads: `w<n>` (a write), `open:<session>:<timeout ms>`, `close:<session>` (deletes
/// its ephemerals), `eph:<session>:<n>` (an ephemeral node, created only while the session
/// is open), `cfg:v=<ids>;o=<ids>` (a membership change: see [`decode_members`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct App {
    /// Last applied zxid.
    pub zxid: i64,
    /// FNV-1a chained over (zxid, payload) of every applied entry.
    pub digest: u64,
    /// Every zxid applied, ascending (not part of the snapshot bytes: the simulation keeps
    /// it beside them, keyed by zxid and digest).
    pub applied: Arc<Vec<i64>>,
    /// Open sessions and their timeouts.
    pub sessions: BTreeMap<i64, u64>,
    /// Ephemeral nodes and their owners.
    pub ephemerals: BTreeMap<u64, i64>,
    /// The membership the last applied change set (`None`: the initial one). Part of the
    /// snapshot bytes, as ZooKeeper's snapshot holds `/zookeeper/config`.
    pub members: Option<Members>,
    /// The zxid of the change that set `members` (0: the initial membership).
    pub members_version: i64,
}

/// The simulation's membership-change payload: `cfg:v=1,2,3;o=4`.
pub fn encode_members(m: &Members) -> String {
    let list = |s: &std::collections::BTreeSet<PeerId>| {
        s.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!("cfg:v={};o={}", list(&m.voters), list(&m.observers))
}

/// Recognises [`encode_members`]' payloads (the core's [`zk_server_mini::zab::MembershipDecoder`]).
pub fn decode_members(payload: &Bytes) -> Option<Members> {
    let text = std::str::from_utf8(payload).ok()?.strip_prefix("cfg:")?;
    let (v, o) = text.split_once(';')?;
    let ids = |s: &str, prefix: &str| -> Option<Vec<PeerId>> {
        let s = s.strip_prefix(prefix)?;
        if s.is_empty() {
            return Some(Vec::new());
        }
        s.split(',').map(|x| x.parse().ok()).collect()
    };
    Some(Members::new(ids(v, "v=")?, ids(o, "o=")?))
}

/// What applying an entry did to sessions (the driver tells the core).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// A session was opened.
    Opened(i64, u64),
    /// A session was closed.
    Closed(i64),
}

impl App {
    pub(super) fn apply(&mut self, e: &Entry) -> Option<SessionEvent> {
        let mut h = self.digest ^ 0xcbf2_9ce4_8422_2325;
        for b in e.zxid.to_be_bytes().iter().chain(e.payload.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.digest = h;
        self.zxid = e.zxid;
        Arc::make_mut(&mut self.applied).push(e.zxid);
        if let Some(m) = decode_members(&e.payload) {
            self.members = Some(m);
            self.members_version = e.zxid;
            return None;
        }
        let text = std::str::from_utf8(&e.payload).unwrap_or("");
        let mut parts = text.split(':');
        let kind = parts.next().unwrap_or("");
        let a: Option<i64> = parts.next().and_then(|x| x.parse().ok());
        let b: Option<u64> = parts.next().and_then(|x| x.parse().ok());
        match (kind, a, b) {
            ("open", Some(s), Some(t)) => {
                self.sessions.insert(s, t);
                Some(SessionEvent::Opened(s, t))
            }
            ("close", Some(s), _) => {
                let was_open = self.sessions.remove(&s).is_some();
                self.ephemerals.retain(|_, owner| *owner != s);
                was_open.then_some(SessionEvent::Closed(s))
            }
            ("eph", Some(s), Some(n)) => {
                if self.sessions.contains_key(&s) {
                    self.ephemerals.insert(n, s);
                }
                None
            }
            _ => None,
        }
    }

    pub(super) fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i64(self.zxid);
        b.put_u64(self.digest);
        if let Some(m) = &self.members {
            b.put_i64(self.members_version);
            b.put_slice(encode_members(m).as_bytes());
        }
        b.freeze()
    }

    pub(super) fn decode(data: &[u8]) -> Option<Self> {
        if data.len() < 16 {
            return None;
        }
        let mut z = [0u8; 8];
        let mut d = [0u8; 8];
        z.copy_from_slice(&data[..8]);
        d.copy_from_slice(&data[8..16]);
        let (members, members_version) = if data.len() > 24 {
            let mut v = [0u8; 8];
            v.copy_from_slice(&data[16..24]);
            let m = decode_members(&Bytes::copy_from_slice(&data[24..]))?;
            (Some(m), i64::from_be_bytes(v))
        } else {
            (None, 0)
        };
        Some(Self {
            zxid: i64::from_be_bytes(z),
            digest: u64::from_be_bytes(d),
            applied: Arc::new(Vec::new()),
            sessions: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            members,
            members_version,
        })
    }
}

/// One simulated member.
pub struct Node {
    /// Its id.
    pub id: PeerId,
    /// Its disk (survives crashes, minus what was not fsynced).
    pub disk: SimDisk,
    pub(super) store: Option<ZabStore>,
    /// The core, while up.
    pub peer: Option<Peer>,
    pub(super) incarnation: u64,
    pub(super) queue: VecDeque<(PersistId, PersistOp)>,
    pub(super) disk_busy: bool,
    /// Whether its disk completions are held (a slow disk).
    pub disk_held: bool,
    /// The applied state.
    pub app: App,
    /// Applies since the last snapshot.
    pub(super) since_snapshot: u64,
    /// What is durable, as far as completed persist requests say.
    pub durable: BTreeMap<i64, Bytes>,
    /// zxid of the durable snapshot.
    pub durable_snapshot: i64,
    /// The zxids the durable snapshot holds.
    pub durable_snapshot_holds: Arc<Vec<i64>>,
    /// What its log holds, from the persist requests emitted (durable or not: what the core
    /// logged), kept by the harness itself.
    pub logged: BTreeMap<i64, Bytes>,
    /// currentEpoch as durable on its disk.
    pub durable_current_epoch: u32,
    /// Whether the core's last role change (in output order) made it the leader.
    pub leading: bool,
    /// The epoch it was in when it applied (since it started) a change that removed it.
    pub knows_removed: Option<u32>,
    /// The membership the operator first started it with (its configuration file): it
    /// restarts with its snapshot's membership, or this one without a snapshot (the
    /// recovered log's changes are the core's to replay).
    pub config_file: Option<Members>,
    /// The membership it runs with as far as its outputs say: the one it started with,
    /// then each change it applied or snapshot it restored.
    pub runs_with: Members,
}

impl Node {
    /// Whether it is running.
    pub fn is_up(&self) -> bool {
        self.peer.is_some()
    }
}
