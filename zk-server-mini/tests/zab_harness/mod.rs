//! A deterministic simulation of a Zab ensemble: every member's [`Peer`] and [`ZabStore`] on
//! its own [`SimDisk`], one seeded scheduler over virtual time, a network that loses, delays,
//! reorders, duplicates and partitions messages, crashes that keep only what was fsynced
//! (optionally tearing the write in progress), and invariants checked after every event.
//!
//! Nothing here reads the machine's clock: the same seed gives the same run.

#![allow(dead_code)]

pub mod check;
pub mod faults;
mod lifecycle;
pub mod membership;
pub mod node;
mod observers;
pub mod rng;
mod script;

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use zk_server_mini::sim_disk::SimDisk;
use zk_server_mini::zab::{
    Entry, Input, Members, Message, Output, PeerId, PersistOp, Snapshot, SyncMode,
};

pub use check::{Checker, Violation};
pub use faults::{Bug, CrashAt, Faults, MsgKind, OpKind};
pub use node::{App, Node, SessionEvent, decode_members, encode_members};
pub use rng::Rng;

/// Virtual milliseconds.
pub type Ms = u64;

/// One tick of every member's clock.
pub const TICK_MS: Ms = 50;

#[derive(Debug)]
enum Event {
    Tick(PeerId),
    Deliver {
        to: PeerId,
        from: PeerId,
        message: Message,
    },
    DiskDone(PeerId, u64),
}

#[derive(Debug)]
struct Scheduled {
    at: Ms,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Earliest first in a max-heap.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A message filter: `(from, to, message) -> drop?`.
pub type Filter = Box<dyn FnMut(PeerId, PeerId, &Message) -> bool>;

/// The simulated ensemble.
pub struct Sim {
    /// Members by id.
    pub nodes: BTreeMap<PeerId, Node>,
    /// Virtual now.
    pub now: Ms,
    heap: BinaryHeap<Scheduled>,
    seq: u64,
    /// The seeded randomness (network, faults, workload).
    pub rng: Rng,
    /// Network faults.
    pub faults: Faults,
    /// Directed links that drop everything.
    pub blocked: BTreeSet<(PeerId, PeerId)>,
    link_clock: BTreeMap<(PeerId, PeerId), Ms>,
    /// Drops messages it returns true for.
    pub filter: Option<Filter>,
    /// Crash points armed per member.
    pub crash_points: BTreeMap<PeerId, CrashAt>,
    /// The driver bug in effect.
    pub bug: Bug,
    /// The member whose driver has the bug (`None`: every member's).
    pub bug_member: Option<PeerId>,
    /// Snapshot after this many applies.
    pub snapshot_every: u64,
    /// The invariants.
    pub checker: Checker,
    /// The observers (non-voting members), after the voters in id order.
    pub observers: BTreeSet<PeerId>,
    next_write: u64,
    /// zxid → write number, at the leader that proposed it (to acknowledge on apply).
    proposed: BTreeMap<(PeerId, i64), u64>,
    /// Read-index requests in flight: (member, id) → the highest acknowledged zxid when
    /// the request was made.
    reads: BTreeMap<(PeerId, u64), i64>,
    next_read: u64,
    /// Read-index answers checked.
    pub reads_checked: u64,
    /// SNAPs of the applied state sent (their data filled in, as the driver does).
    pub snaps_sent: u64,
    /// Sessions the cores asked to expire: (member, session, when).
    pub expired: Vec<(PeerId, i64, Ms)>,
    /// What each snapshot ever taken holds, by (zxid, digest).
    snapshot_contents: BTreeMap<(i64, u64), App>,
    trace: VecDeque<String>,
    /// Whether the membership changes (the cores recognise `cfg:` entries).
    pub dynamic: bool,
    /// The membership the ensemble starts with (members not in it start as learners with a
    /// configuration that lists them as observers, as a server being added does).
    pub initial: Members,
    /// Members a committed (applied somewhere) change removed: they never come back.
    pub removed: BTreeSet<PeerId>,
    /// Membership changes proposed: (leader, zxid, payload).
    pub changes: Vec<(PeerId, i64, Bytes)>,
    /// Epochs established, and by whom.
    established: BTreeSet<(u32, PeerId)>,
    /// Whether the driver proposes any membership change, even one most of whose voters
    /// are not voters yet (see [`Sim::propose_change`]).
    pub any_change: bool,
}

impl Sim {
    /// An ensemble of `n` members (ids 1..=n) with fresh disks and a correct driver.
    pub fn new(n: u64, seed: u64) -> Self {
        Self::with_bug(n, seed, Bug::None)
    }

    /// [`Sim::new`] with a deliberately broken driver.
    pub fn with_bug(n: u64, seed: u64, bug: Bug) -> Self {
        Self::with_observers(n, 0, seed, bug)
    }

    /// `n` voting members (ids 1..=n) and `observers` observers (ids after them).
    pub fn with_observers(n: u64, observers: u64, seed: u64, bug: Bug) -> Self {
        let mut sim = Self::unstarted(n, observers, seed, bug);
        for id in 1..=n + observers {
            sim.start(id);
        }
        sim
    }

    /// [`Sim::with_observers`] with no member started yet.
    fn unstarted(n: u64, observers: u64, seed: u64, bug: Bug) -> Self {
        let observer_ids: BTreeSet<PeerId> = (n + 1..=n + observers).collect();
        let mut sim = Self {
            nodes: BTreeMap::new(),
            now: 0,
            heap: BinaryHeap::new(),
            seq: 0,
            rng: Rng::new(seed),
            faults: Faults::default(),
            blocked: BTreeSet::new(),
            link_clock: BTreeMap::new(),
            filter: None,
            crash_points: BTreeMap::new(),
            bug,
            bug_member: None,
            snapshot_every: 7,
            checker: Checker::new(n as usize, observer_ids.clone()),
            observers: observer_ids,
            next_write: 0,
            proposed: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_read: 0,
            reads_checked: 0,
            snaps_sent: 0,
            snapshot_contents: BTreeMap::new(),
            expired: Vec::new(),
            trace: VecDeque::new(),
            dynamic: false,
            initial: Members::new(1..=n, n + 1..=n + observers),
            removed: BTreeSet::new(),
            changes: Vec::new(),
            established: BTreeSet::new(),
            any_change: false,
        };
        for id in 1..=n + observers {
            sim.nodes.insert(
                id,
                Node {
                    id,
                    disk: SimDisk::default(),
                    store: None,
                    peer: None,
                    incarnation: 0,
                    queue: VecDeque::new(),
                    disk_busy: false,
                    disk_held: false,
                    app: App::default(),
                    since_snapshot: 0,
                    durable: BTreeMap::new(),
                    durable_snapshot: 0,
                    durable_snapshot_holds: Arc::new(Vec::new()),
                    logged: BTreeMap::new(),
                    durable_current_epoch: 0,
                    leading: false,
                    knows_removed: None,
                    config_file: None,
                    runs_with: Members::default(),
                },
            );
        }
        sim
    }

    /// No snapshots and no in-memory log window (the whole log stays in memory), so that no
    /// sync is a SNAP: every member is started again with that setting. Call it right after
    /// construction, before the simulation runs.
    pub fn no_snapshots(&mut self) {
        self.snapshot_every = u64::MAX;
        let ids: Vec<PeerId> = self.nodes.keys().copied().collect();
        for id in ids {
            if let Some(n) = self.nodes.get_mut(&id) {
                // Nothing ran yet: the peers' first outputs are simply not carried out.
                n.peer = None;
                n.store = None;
            }
            self.start(id);
        }
    }

    /// The bug member `id`'s driver has.
    fn bug_at(&self, id: PeerId) -> Bug {
        if self.bug_member.is_none_or(|m| m == id) {
            self.bug
        } else {
            Bug::None
        }
    }

    fn members(&self) -> Vec<PeerId> {
        self.nodes.keys().copied().collect()
    }

    fn note(&mut self, s: String) {
        if self.trace.len() >= 200 {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("[{:>7}ms] {s}", self.now));
    }

    /// The last events, for a failure report.
    pub fn trace(&self) -> String {
        self.trace.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn schedule(&mut self, at: Ms, event: Event) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
    }

    /// Cuts the network between the groups (members in no group are cut from all).
    pub fn partition(&mut self, groups: &[&[PeerId]]) {
        self.blocked.clear();
        let members = self.members();
        let group_of = |m: PeerId| groups.iter().position(|g| g.contains(&m));
        for a in &members {
            for b in &members {
                if a != b && (group_of(*a).is_none() || group_of(*a) != group_of(*b)) {
                    self.blocked.insert((*a, *b));
                }
            }
        }
        self.note(format!("partition {groups:?}"));
    }

    /// Restores the network.
    pub fn heal(&mut self) {
        self.blocked.clear();
        self.note("heal".into());
    }

    /// The serving leader with the highest epoch, if any.
    pub fn leader(&self) -> Option<PeerId> {
        self.nodes
            .values()
            .filter_map(|n| {
                let p = n.peer.as_ref()?;
                Some((p.leading_epoch()?, n.id))
            })
            .max()
            .map(|(_, id)| id)
    }

    /// Submits a client write to a serving member (a follower forwards it). Returns the
    /// write's number, or `None` when no member serves.
    pub fn write(&mut self) -> Option<u64> {
        let serving: Vec<PeerId> = self
            .nodes
            .values()
            .filter(|n| n.peer.as_ref().is_some_and(|p| p.is_serving()))
            .map(|n| n.id)
            .collect();
        if serving.is_empty() {
            return None;
        }
        let at = serving[self.rng.below(serving.len() as u64) as usize];
        self.write_at(at)
    }

    /// Submits a client write at member `at`.
    pub fn write_at(&mut self, at: PeerId) -> Option<u64> {
        self.next_write += 1;
        let n = self.next_write;
        let payload = Bytes::from(format!("w{n}"));
        let peer = self.nodes.get_mut(&at)?.peer.as_mut()?;
        peer.step(Input::Forward { payload });
        self.drain(at);
        Some(n)
    }

    /// The members serving clients now.
    pub fn serving(&self) -> Vec<PeerId> {
        self.nodes
            .values()
            .filter(|n| n.peer.as_ref().is_some_and(|p| p.is_serving()))
            .map(|n| n.id)
            .collect()
    }

    /// Submits a raw client request (see [`App`] for the payloads) at a random serving
    /// member; returns whether one was serving.
    pub fn submit(&mut self, payload: &str) -> bool {
        let serving = self.serving();
        if serving.is_empty() {
            return false;
        }
        let at = serving[self.rng.below(serving.len() as u64) as usize];
        let payload = Bytes::from(payload.to_owned());
        self.input(at, Input::Forward { payload });
        true
    }

    /// Starts a read-index (`sync()`) at a serving member.
    pub fn read_index(&mut self, at: PeerId) {
        self.next_read += 1;
        let id = self.next_read;
        let floor = self.checker.max_acked();
        let Some(peer) = self.nodes.get_mut(&at).and_then(|n| n.peer.as_mut()) else {
            return;
        };
        self.reads.insert((at, id), floor);
        peer.step(Input::ReadIndex { id });
        self.drain(at);
    }

    /// Carries out a member's outputs.
    fn drain(&mut self, id: PeerId) {
        loop {
            let outputs = match self.nodes.get_mut(&id).and_then(|n| n.peer.as_mut()) {
                Some(p) => p.take_outputs(),
                None => return,
            };
            if outputs.is_empty() {
                break;
            }
            for out in outputs {
                if self.nodes.get(&id).is_none_or(|n| n.peer.is_none()) {
                    return;
                }
                self.output(id, out);
            }
        }
        self.check_roles(id);
    }

    fn output(&mut self, id: PeerId, out: Output) {
        match out {
            Output::Send { to, mut message } => {
                // A SNAP the core asked for carries the applied state, filled in here as the
                // driver does.
                if let Message::Sync {
                    mode: SyncMode::Snap(s),
                    ..
                } = &mut message
                    && s.needs_data()
                    && let Some(n) = self.nodes.get(&id)
                {
                    if n.app.zxid != s.zxid {
                        // As the driver: a state that is not at the SNAP's zxid (only with
                        // an injected bug) is never sent.
                        self.note(format!("{id}: SNAP at {:#x} not sent", s.zxid));
                        return;
                    }
                    s.data = n.app.encode();
                    self.snaps_sent += 1;
                    self.snapshot_contents
                        .insert((n.app.zxid, n.app.digest), n.app.clone());
                }
                let kind = MsgKind::of(&message);
                self.send(id, to, message);
                if let Some(CrashAt::AfterSend(k)) = self.crash_points.get(&id).copied()
                    && Some(k) == kind
                {
                    self.crash_points.remove(&id);
                    self.crash(id);
                }
            }
            Output::Persist { id: pid, op } => {
                let node = self.nodes.get_mut(&id);
                if let Some(n) = node {
                    match &op {
                        PersistOp::Append(entries) => {
                            for e in entries {
                                n.logged.insert(e.zxid, e.payload.clone());
                            }
                        }
                        PersistOp::TruncateAfter(z) => n.logged.retain(|k, _| *k <= *z),
                        PersistOp::InstallSnapshot(_) => n.logged.clear(),
                        PersistOp::AcceptedEpoch(_) | PersistOp::CurrentEpoch(_) => {}
                    }
                    n.queue.push_back((pid, op));
                }
                let node = self.nodes.get_mut(&id);
                if let Some(n) = node
                    && !n.disk_busy
                    && !n.disk_held
                {
                    n.disk_busy = true;
                    let inc = n.incarnation;
                    let at = self.now + 1 + self.rng.below(5);
                    self.schedule(at, Event::DiskDone(id, inc));
                }
            }
            Output::RestoreSnapshot(s) => {
                let app = App::decode(&s.data)
                    .map(|a| with_contents(&self.snapshot_contents, a))
                    .unwrap_or_default();
                let mut before = BTreeMap::new();
                let members = app.members.clone().unwrap_or_else(|| self.initial.clone());
                let dynamic = self.dynamic;
                if let Some(n) = self.nodes.get_mut(&id) {
                    before = std::mem::replace(&mut n.app, app.clone()).sessions;
                    n.runs_with = members.clone();
                    // As the driver: the restored state's membership is the committed one.
                    if dynamic && let Some(p) = n.peer.as_mut() {
                        p.set_membership(members, app.members_version);
                    }
                }
                self.checker.on_apply(id, &app, None, &self.nodes);
                self.tell_sessions(id, &before);
            }
            Output::Apply(entry) => self.apply(id, entry),
            Output::Forwarded { payload, .. } => {
                // Numbered writes (`w<n>`) are tracked for acknowledgement; session
                // requests are acknowledged as write number 0.
                let n: u64 = std::str::from_utf8(&payload)
                    .ok()
                    .and_then(|s| s.strip_prefix('w'))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                if let Some(p) = self.nodes.get_mut(&id).and_then(|x| x.peer.as_mut())
                    && let Ok(zxid) = p.propose(payload)
                {
                    self.proposed.insert((id, zxid), n);
                }
            }
            Output::ReadIndexReady { id: rid, zxid } => {
                let floor = self.reads.remove(&(id, rid)).unwrap_or(0);
                let applied = self.nodes.get(&id).map_or(0, |n| n.app.zxid);
                self.reads_checked += 1;
                if zxid < floor || applied < floor {
                    self.checker.fail(Violation::StaleRead {
                        member: id,
                        read_point: zxid.min(applied),
                        acked: floor,
                    });
                }
            }
            Output::ReadIndexFailed { id: rid } => {
                self.reads.remove(&(id, rid));
            }
            Output::RoleChanged(r) => {
                if let Some(n) = self.nodes.get_mut(&id) {
                    n.leading = r == zk_server_mini::zab::Role::Leading;
                }
                let (e, last) = self
                    .nodes
                    .get(&id)
                    .and_then(|n| n.peer.as_ref())
                    .map_or((0, 0), |p| (p.accepted_epoch(), p.last_logged()));
                self.note(format!("{id} is {r:?} (accepted {e}, last {last:#x})"));
            }
            Output::Serving(s) => self.note(format!("{id} serving: {s}")),
            Output::ExpireSession { session } => {
                let now = self.now;
                self.expired.push((id, session, now));
                // The leader's driver proposes the close-session transaction.
                let proposed = self
                    .nodes
                    .get_mut(&id)
                    .and_then(|n| n.peer.as_mut())
                    .map(|p| p.propose(Bytes::from(format!("close:{session}"))));
                self.note(format!("{id} expires session {session}: {proposed:?}"));
            }
        }
    }

    fn apply(&mut self, id: PeerId, entry: Entry) {
        let snapshot_every = self.snapshot_every;
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        if entry.zxid <= node.app.zxid {
            // Already in the state (only possible with a driver that applied logged
            // entries on its own).
            return;
        }
        // Applied entries form one unbroken history: no hole (ZOOKEEPER-4925), even one
        // that every member would share (the digests could not tell).
        let hole =
            node.app.zxid != 0 && !zk_server_mini::zab::history::follows(node.app.zxid, entry.zxid);
        let previous = node.app.zxid;
        let members_before = node.app.members.clone();
        let event = node.app.apply(&entry);
        if let Some(p) = node.peer.as_mut() {
            match event {
                Some(SessionEvent::Opened(session, timeout_ms)) => p.step(Input::SessionOpened {
                    session,
                    timeout_ms,
                }),
                Some(SessionEvent::Closed(session)) => p.step(Input::SessionClosed { session }),
                None => {}
            }
        }
        node.since_snapshot += 1;
        let app = node.app.clone();
        if let Some(event) = event {
            let zxid = entry.zxid;
            self.note(format!("{id} applied {event:?} at {zxid:#x}"));
        }
        if hole {
            self.checker.fail(Violation::Hole {
                member: id,
                previous,
                zxid: entry.zxid,
            });
        }
        if let Some(n) = self.proposed.remove(&(id, entry.zxid)) {
            self.checker.acked(entry.zxid, entry.payload.clone(), n);
        }
        if self.dynamic {
            self.on_apply_membership(id, &entry, members_before);
        }
        self.checker.on_apply(id, &app, Some(&entry), &self.nodes);
        // Snapshots of the applied (committed) state, now and then.
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        if node.since_snapshot >= snapshot_every
            && let (Some(store), Some(peer)) = (node.store.as_mut(), node.peer.as_mut())
        {
            node.since_snapshot = 0;
            let s = Snapshot {
                zxid: app.zxid,
                data: app.encode(),
            };
            if store.save_snapshot(&s).is_ok() {
                node.durable_snapshot = s.zxid;
                node.durable_snapshot_holds = app.applied.clone();
                self.snapshot_contents
                    .insert((app.zxid, app.digest), app.clone());
                peer.step(Input::SnapshotTaken(s));
            }
        }
    }

    fn send(&mut self, from: PeerId, to: PeerId, message: Message) {
        if self.observers.contains(&from) {
            self.check_observer_message(from, &message);
        }
        if self.dynamic {
            self.check_removed_message(from, &message);
        }
        if let Some(f) = self.filter.as_mut()
            && f(from, to, &message)
        {
            return;
        }
        if self.rng.chance(self.faults.loss) {
            return;
        }
        let delay = 1 + self.rng.below(self.faults.max_delay.max(1));
        let link = (from, to);
        let mut at = self.now + delay;
        if !self.rng.chance(self.faults.reorder) {
            // FIFO per link, as over one TCP connection.
            let last = self.link_clock.get(&link).copied().unwrap_or(0);
            at = at.max(last);
            self.link_clock.insert(link, at);
        }
        if self.rng.chance(self.faults.duplicate) {
            let later = at + 1 + self.rng.below(self.faults.max_delay.max(1) * 4);
            self.schedule(
                later,
                Event::Deliver {
                    to,
                    from,
                    message: message.clone(),
                },
            );
        }
        self.schedule(at, Event::Deliver { to, from, message });
    }

    /// Runs one event; returns false when there is none.
    pub fn step(&mut self) -> bool {
        let Some(ev) = self.heap.pop() else {
            return false;
        };
        self.now = self.now.max(ev.at);
        match ev.event {
            Event::Tick(id) => {
                let Some(peer) = self.nodes.get_mut(&id).and_then(|n| n.peer.as_mut()) else {
                    return true;
                };
                peer.step(Input::Tick);
                let now = self.now;
                self.schedule(now + TICK_MS, Event::Tick(id));
                self.drain(id);
            }
            Event::Deliver { to, from, message } => {
                if self.blocked.contains(&(from, to)) {
                    return true;
                }
                let Some(peer) = self.nodes.get_mut(&to).and_then(|n| n.peer.as_mut()) else {
                    return true;
                };
                peer.step(Input::Message { from, message });
                self.drain(to);
            }
            Event::DiskDone(id, inc) => self.disk_done(id, inc),
        }
        true
    }

    fn disk_done(&mut self, id: PeerId, inc: u64) {
        let bug = self.bug_at(id);
        let crash_point = self.crash_points.get(&id).copied();
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        if node.incarnation != inc || node.peer.is_none() {
            return;
        }
        node.disk_busy = false;
        if node.disk_held {
            return;
        }
        // The buggy driver writes currentEpoch ahead of the history queued before it.
        if bug == Bug::EpochBeforeHistory
            && let Some(i) = node
                .queue
                .iter()
                .position(|(_, op)| matches!(op, PersistOp::CurrentEpoch(_)))
            && i > 0
            && let Some(item) = node.queue.remove(i)
        {
            node.queue.push_front(item);
        }
        let Some((pid, op)) = node.queue.front().cloned() else {
            return;
        };
        let kind = OpKind::of(&op);
        if crash_point == Some(CrashAt::BeforePersist(kind)) {
            self.crash_points.remove(&id);
            self.crash(id);
            return;
        }
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let skip = bug == Bug::SkipTruncate && kind == OpKind::Truncate;
        let result = match node.store.as_mut() {
            Some(store) if !skip => store.persist(&op),
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.checker.fail(Violation::Storage(id, e.to_string()));
            return;
        }
        node.queue.pop_front();
        if bug != Bug::AckBeforeFsync && !skip {
            record_durable(node, &op, &self.snapshot_contents);
        }
        if crash_point == Some(CrashAt::AfterPersist(kind)) {
            self.crash_points.remove(&id);
            self.crash(id);
            return;
        }
        if kind != OpKind::Append {
            self.note(format!("{id} persisted {kind:?}"));
        }
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        // Everything up to `pid` is durable (the buggy EpochBeforeHistory driver says so
        // too, with appends queued before it still unwritten).
        let max_reported = pid;
        if let Some(peer) = node.peer.as_mut() {
            peer.step(Input::Persisted { id: max_reported });
        }
        if !node.queue.is_empty() && !node.disk_held {
            node.disk_busy = true;
            let at = self.now + 1 + self.rng.below(5);
            self.schedule(at, Event::DiskDone(id, inc));
        }
        self.drain(id);
    }

    /// Holds (or releases) a member's disk: persist requests wait.
    pub fn hold_disk(&mut self, id: PeerId, held: bool) {
        let now = self.now;
        let delay = 1 + self.rng.below(5);
        if let Some(n) = self.nodes.get_mut(&id) {
            n.disk_held = held;
            if !held && !n.disk_busy && !n.queue.is_empty() && n.peer.is_some() {
                n.disk_busy = true;
                let inc = n.incarnation;
                self.schedule(now + delay, Event::DiskDone(id, inc));
            }
        }
    }

    fn check_roles(&mut self, id: PeerId) {
        let Some(p) = self.nodes.get(&id).and_then(|n| n.peer.as_ref()) else {
            return;
        };
        if self.observers.contains(&id) && p.role() == zk_server_mini::zab::Role::Leading {
            self.checker.fail(Violation::ObserverDecided {
                member: id,
                what: "took the leader's role".into(),
            });
            return;
        }
        if let Some(epoch) = p.leading_epoch() {
            let first = self.established.insert((epoch, id));
            self.checker.on_leader(id, epoch, p);
            if self.dynamic && first {
                self.on_established(id, epoch);
            }
        }
    }

    /// Runs until `done` holds or `limit` virtual ms pass; returns whether it held.
    pub fn run_until(&mut self, limit: Ms, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        while self.now <= end {
            if done(self) {
                return true;
            }
            if self.checker.failed() {
                return done(self);
            }
            let next_at = self.heap.peek().map(|e| e.at);
            if next_at.is_none_or(|at| at > end) {
                // Nothing happens before the deadline (every member may be down).
                self.now = end.max(self.now);
                return done(self);
            }
            self.step();
        }
        done(self)
    }

    /// Runs for `ms` virtual milliseconds.
    pub fn run_for(&mut self, ms: Ms) {
        let end = self.now + ms;
        self.run_until(ms, |s| s.now >= end);
    }
}

/// `app` with the zxids its snapshot holds, from the table of snapshots taken.
fn with_contents(table: &BTreeMap<(i64, u64), App>, app: App) -> App {
    table.get(&(app.zxid, app.digest)).cloned().unwrap_or(app)
}

fn record_durable(node: &mut Node, op: &PersistOp, table: &BTreeMap<(i64, u64), App>) {
    match op {
        PersistOp::Append(entries) => {
            for e in entries {
                node.durable.insert(e.zxid, e.payload.clone());
            }
        }
        PersistOp::TruncateAfter(z) => {
            node.durable.retain(|k, _| *k <= *z);
        }
        PersistOp::InstallSnapshot(s) => {
            node.durable.clear();
            node.durable_snapshot = s.zxid;
            node.durable_snapshot_holds = App::decode(&s.data)
                .map(|a| with_contents(table, a).applied)
                .unwrap_or_default();
        }
        PersistOp::CurrentEpoch(e) => node.durable_current_epoch = *e,
        PersistOp::AcceptedEpoch(_) => {}
    }
}
