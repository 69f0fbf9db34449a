//! The tokio driver of one ensemble member: it feeds the Zab core ([`crate::zab::Peer`])
//! ticks, peer messages and persist completions, carries out its outputs (send, persist on
//! the [`ZabStore`], apply), and serves clients through the same [`StateMachine`] as a
//! standalone server while this member is the established leader or a synced follower of a
//! live leader. The leader's state machine prepares client writes into transactions, its
//! own clients' and those its followers forward; each is proposed to Zab and answered when
//! Zab applies it (a quorum has logged it). A follower's state machine answers reads from
//! its own tree, forwards writes, session opens and closes to the leader
//! ([`Input::Forward`]), `sync()` as a read-index round ([`Input::ReadIndex`]), and reports
//! its clients' activity ([`Input::Touch`]); it answers a forwarded write when its
//! transaction is applied here. Session expiry is the leader's state machine's alone (the
//! same tracker a standalone server uses): the sessions followers report touched, batched
//! into their ping answers, count as active there, and a session whose clients went silent
//! everywhere is closed by an ordinary proposal, which every member applies (its ephemerals
//! go; the member holding its connection closes it). Every member applies committed entries
//! to its replica in zxid order and fires the watches of its own clients, so any of them can
//! take over with the whole tree and every session.
//!
//! While a member serves no one (looking, or syncing) it answers four-letter words and
//! refuses client handshakes by closing the connection, and the client moves on to the next
//! member of its connect string (as a ZooKeeper client does on a member that is not
//! serving). In read-only mode (`readonlymode.enabled`), a member that has been looking for
//! as long as ZooKeeper waits (2 s, or a tick if longer) serves read-only sessions from its
//! own replica until it finds a quorum again; then they end, and their clients reconnect.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, watch};

use super::transport::Outboxes;
use crate::budget::ByteBudget;
use crate::connection::{Admin, CoreMsg, Outbound};
use crate::dir_lock::DirLock;
use crate::four_letter::ServerFacts;
use crate::server::{Out, Outs, deliver, shed_largest, wall_ms};
use crate::state::{CoreConfig, Input as SmInput, StateMachine};
use crate::watches::ConnId;
use crate::zab::store::ZabStore;
use crate::zab::{Input, Message, Output, Peer, PeerId, PersistId, PersistOp, Role, Snapshot};

mod clients;
mod membership;

pub(crate) use membership::DECODER;
pub use membership::{decode_membership, members_of};

/// What a member reports about itself (for tests and `srvr`).
///
/// ```no_run
/// # async fn demo(member: zk_server_mini::RunningServer) {
/// use zk_server_mini::ensemble::MemberStatus;
/// use zk_server_mini::zab::Role;
/// if let Some(MemberStatus { role, serving, applied, .. }) = member.member_status() {
///     if role == Role::Leading && serving {
///         println!("leader, applied through {applied:#x}");
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberStatus {
    /// The role.
    pub role: Role,
    /// Whether this member is the established leader, serving clients.
    pub serving: bool,
    /// The last applied zxid.
    pub applied: i64,
    /// Whether clients get sessions here: the serving leader, or a follower synced with a
    /// live leader (it serves reads itself and forwards writes).
    pub takes_clients: bool,
    /// Whether this member, cut off from any quorum, serves read-only sessions
    /// (`readonlymode.enabled`).
    pub read_only: bool,
}

/// Knobs a test turns on a running member.
///
/// ```
/// use std::sync::atomic::Ordering;
/// use zk_server_mini::ensemble::MemberFaults;
/// let faults = MemberFaults::default(); // a running member's: RunningServer::member_faults()
/// faults.peers.blocked.lock().unwrap().insert(2); // cut off from member 2
/// faults.disk_delay_ms.store(50, Ordering::Relaxed); // a slow disk
/// faults.paused.store(true, Ordering::Relaxed); // frozen...
/// faults.paused.store(false, Ordering::Relaxed);
/// faults.resume.notify_waiters(); // ...and going on
/// assert!(faults.peers.is_blocked(2));
/// ```
#[derive(Debug, Default)]
pub struct MemberFaults {
    /// The member's peer traffic faults (partitions).
    pub peers: Arc<super::transport::PeerFaults>,
    /// While set the member does nothing at all (as if stopped with SIGSTOP).
    pub paused: AtomicBool,
    /// Woken when `paused` is cleared.
    pub resume: Notify,
    /// Extra milliseconds every durable write takes (a slow disk).
    pub disk_delay_ms: AtomicU64,
}

/// Forwarded writes a leader keeps while it is not yet serving (more are dropped; their
/// clients time out and retry).
const MAX_WAITING: usize = 100_000;

pub(crate) struct Driver {
    pub(crate) peer: Peer,
    /// The ensemble this member is bound to; a provisional member binds as it first serves.
    pub(crate) identity: super::identity::Binder,
    pub(crate) store: Option<ZabStore>,
    pub(crate) sm: StateMachine,
    pub(crate) core_config: CoreConfig,
    pub(crate) rx: mpsc::Receiver<CoreMsg>,
    pub(crate) inbox: mpsc::Receiver<(PeerId, Message)>,
    /// Peers whose connection to this member ended.
    pub(crate) lost: mpsc::Receiver<PeerId>,
    pub(crate) out: Outboxes,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) facts: ServerFacts,
    pub(crate) snap_count: u64,
    pub(crate) tick: Duration,
    pub(crate) sync_limit: u32,
    pub(crate) _locks: Vec<DirLock>,
    pub(crate) core_wake: Arc<Notify>,
    pub(crate) global_budget: Arc<ByteBudget>,
    pub(crate) max_queued_bytes: usize,
    pub(crate) reap_every: Duration,
    pub(crate) status: watch::Sender<MemberStatus>,
    pub(crate) faults: Arc<MemberFaults>,
    /// `readonlymode.enabled`: serve read-only sessions while cut off from any quorum.
    pub(crate) read_only_mode: bool,
    /// `reconfigEnabled`.
    pub(crate) reconfig_enabled: bool,
    /// The `zoo.cfg` this member was started from, rewritten as the membership changes.
    pub(crate) config_file: Option<std::path::PathBuf>,
}

/// Mutable loop state beside the parts.
struct Loop {
    outs: Outs,
    dropped: Vec<ConnId>,
    /// Whether clients are served here (leading, following a live leader, or read-only).
    serving: bool,
    /// Whether the clients served here are read-only sessions (cut off from any quorum).
    read_only: bool,
    /// Since when this member has been looking for a leader.
    looking_since: Option<Instant>,
    want_serving: bool,
    role: Role,
    since_snapshot: u64,
    heard: BTreeMap<PeerId, Instant>,
    /// Per follower, when the leader sent each ping it has not yet seen answered, oldest
    /// first. Links are FIFO and every ping answer answers one ping, so the n-th answer
    /// answers the n-th ping or a later one (earlier ones may have been lost): taking the n-th
    /// send time can only make a lease shorter, never longer.
    ping_sent: BTreeMap<PeerId, std::collections::VecDeque<Instant>>,
    /// Per follower, when the leader sent its oldest sync (NEWLEADER) not yet acknowledged:
    /// an acknowledgement answers that one or a later one, so it starts a lease as a ping
    /// answer does (a new leader need not wait a ping round to serve).
    sync_sent: BTreeMap<PeerId, Instant>,
    /// Per follower: the send time of the newest ping it answered. A follower that answered
    /// a ping sent at `t` cannot have given up on this leader before `t + syncLimit` ticks.
    lease: BTreeMap<PeerId, Instant>,
    /// Syncs waiting for their quorum round: read-index id -> (connection, xid, path).
    syncs: BTreeMap<u64, (ConnId, i32, String)>,
    next_sync: u64,
    /// Writes followers forwarded while this leader was not yet serving: prepared once it is.
    forwarded: Vec<bytes::Bytes>,
    start: Instant,
    last_reap: Instant,
}

impl Driver {
    pub(crate) async fn run(mut self) {
        // The files of the membership this member starts with (a real member writes
        // `zoo.cfg.dynamic.100000000` at its first start).
        let files = self
            .applied_membership()
            .and_then(|m| self.membership_files(&m));
        if let Some(files) = files {
            files.write().await;
        }
        let mut st = Loop {
            outs: Outs::new(),
            dropped: Vec::new(),
            serving: false,
            read_only: false,
            looking_since: Some(Instant::now()),
            want_serving: false,
            role: Role::Looking,
            since_snapshot: 0,
            heard: BTreeMap::new(),
            ping_sent: BTreeMap::new(),
            sync_sent: BTreeMap::new(),
            lease: BTreeMap::new(),
            syncs: BTreeMap::new(),
            next_sync: 0,
            forwarded: Vec::new(),
            start: Instant::now(),
            last_reap: Instant::now(),
        };
        let mut next_tick = tokio::time::Instant::now() + self.tick;
        if self.handle_outputs(&mut st).await.is_err() {
            return;
        }
        loop {
            if self.faults.paused.load(Ordering::SeqCst) {
                tokio::select! {
                    _ = self.shutdown.changed() => break,
                    _ = self.faults.resume.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                next_tick = tokio::time::Instant::now() + self.tick;
                continue;
            }
            let mut inputs: Vec<SmInput> = std::mem::take(&mut st.dropped)
                .into_iter()
                .map(|conn| SmInput::Closed { conn })
                .collect();
            let congested = self.sm.is_congested() || self.global_budget.is_full();
            let mut ticked = false;
            if inputs.is_empty() && !self.sm.backlog_ready() {
                tokio::select! {
                    _ = self.shutdown.changed() => break,
                    _ = self.core_wake.notified(), if congested => {}
                    m = self.rx.recv() => match m {
                        Some(m) => self.take(m, &mut inputs, &mut st),
                        None => break,
                    },
                    m = self.inbox.recv() => if let Some((from, message)) = m {
                        self.on_peer_message(from, message, &mut st);
                    },
                    Some(peer) = self.lost.recv() => {
                        // Messages it sent before the connection ended come first.
                        while let Ok((from, message)) = self.inbox.try_recv() {
                            self.on_peer_message(from, message, &mut st);
                        }
                        self.peer.step(Input::PeerLost { peer });
                    }
                    _ = tokio::time::sleep_until(next_tick) => {}
                }
            }
            if *self.shutdown.borrow() {
                break;
            }
            if tokio::time::Instant::now() >= next_tick {
                next_tick = tokio::time::Instant::now() + self.tick;
                ticked = true;
                self.peer.step(Input::Tick);
                self.refresh_synced();
            }
            for _ in 0..4096 {
                match self.inbox.try_recv() {
                    Ok((from, message)) => self.on_peer_message(from, message, &mut st),
                    Err(_) => break,
                }
            }
            for _ in 0..4096 {
                match self.rx.try_recv() {
                    Ok(m) => self.take(m, &mut inputs, &mut st),
                    Err(_) => break,
                }
            }
            if self.read_only_due(&st) {
                self.start_read_only(&mut st);
            }
            if st.serving {
                let now = st.start.elapsed().as_millis() as u64;
                let actions = self.sm.step(inputs, now, wall_ms());
                deliver(
                    actions,
                    &mut st.outs,
                    &mut st.dropped,
                    self.max_queued_bytes,
                );
                for (conn, n) in self.sm.take_released() {
                    if let Some(out) = st.outs.get_mut(&conn) {
                        out.done(n);
                    }
                }
                if self.global_budget.is_full() {
                    shed_largest(&mut st.outs, &mut st.dropped);
                }
                if self.sm.is_congested() {
                    for (conn, out) in &st.outs {
                        let written = out.budget.take_written();
                        if written > 0 {
                            self.sm.sent(*conn, written);
                        }
                    }
                }
                if ticked {
                    let reap = st.last_reap.elapsed() >= self.reap_every;
                    if reap {
                        st.last_reap = Instant::now();
                    }
                    if st.role == Role::Leading {
                        self.sm.tick(now, wall_ms(), reap);
                    } else if st.read_only {
                        self.sm.expire_read_only_sessions(now);
                    }
                }
                if st.role == Role::Leading {
                    self.propose_sealed(&mut st);
                } else {
                    self.forward_writes();
                }
                self.start_syncs(&mut st);
            } else {
                self.refuse_clients(inputs, &mut st);
            }
            if self.handle_outputs(&mut st).await.is_err() {
                break;
            }
        }
        tracing::info!(id = self.peer.id(), "ensemble member stopped");
    }

    fn on_peer_message(&mut self, from: PeerId, message: Message, st: &mut Loop) {
        if matches!(
            message,
            Message::Ack { .. } | Message::PingAck { .. } | Message::AckNewLeader { .. }
        ) {
            st.heard.insert(from, Instant::now());
        }
        let answered = match &message {
            Message::PingAck { .. } => st.ping_sent.get_mut(&from).and_then(|q| q.pop_front()),
            Message::AckNewLeader { .. } => st.sync_sent.remove(&from),
            _ => None,
        };
        // Only voters' answers make a leader's lease (observers do not count for a quorum).
        if let Some(sent) = answered {
            let lease = st.lease.entry(from).or_insert(sent);
            *lease = (*lease).max(sent);
        }
        // Session expiry is decided by the leader's state machine: the sessions a
        // follower's clients kept busy count as touched here.
        if let Message::PingAck { touches, .. } = &message
            && st.serving
            && st.role == Role::Leading
        {
            let now = st.start.elapsed().as_millis() as u64;
            for session in touches {
                self.sm.touch_remote(*session, now);
            }
        }
        // Only a learner's introduction or NEWLEADER ack changes who is synced (a tick
        // catches the rest: role changes, learners gone).
        let learners_changed = matches!(
            message,
            Message::FollowerInfo { .. } | Message::AckNewLeader { .. }
        );
        self.peer.step(Input::Message { from, message });
        if learners_changed {
            self.refresh_synced();
        }
    }

    /// What a `reconfig` is checked against: the members synced with this leader.
    fn refresh_synced(&mut self) {
        self.sm.set_synced(self.peer.synced_members());
    }

    fn publish(&mut self, st: &Loop) {
        self.facts.mode = if st.read_only {
            "read-only".into()
        } else {
            st.role.mode().into()
        };
        let _ = self.status.send(MemberStatus {
            role: st.role,
            serving: st.serving && st.role == Role::Leading,
            applied: self.sm.last_zxid(),
            takes_clients: st.serving && !st.read_only,
            read_only: st.read_only,
        });
    }

    /// Carries out the core's outputs until it has none left.
    async fn handle_outputs(&mut self, st: &mut Loop) -> Result<(), ()> {
        loop {
            let outputs = self.peer.take_outputs();
            if outputs.is_empty() {
                break;
            }
            let mut persists: Vec<(PersistId, PersistOp)> = Vec::new();
            let mut forwarded = Vec::new();
            let mut membership_changed = false;
            for output in outputs {
                match output {
                    Output::Send { to, mut message } => {
                        if !self.fill_snap(&mut message) {
                            continue;
                        }
                        if let Message::Sync { .. } = &message {
                            st.sync_sent.entry(to).or_insert_with(Instant::now);
                        }
                        if let Message::Ping { .. } = &message {
                            let q = st.ping_sent.entry(to).or_default();
                            // Not recorded past the bound: answers then find no send time
                            // and extend nothing (safe), instead of a later one (unsafe).
                            if q.len() < 256 {
                                q.push_back(Instant::now());
                            }
                        }
                        self.out.send(to, &message);
                    }
                    Output::Persist { id, op } => persists.push((id, op)),
                    Output::RestoreSnapshot(s) => match self.replace_tree(s, st) {
                        Ok(tree) => {
                            self.sm =
                                StateMachine::new(tree, self.core_config.clone(), 0, wall_ms());
                            self.membership_restored();
                            membership_changed = true;
                        }
                        Err(e) => {
                            tracing::error!(
                                "the leader's snapshot does not decode ({e}); stopping"
                            );
                            return Err(());
                        }
                    },
                    Output::Apply(entry) => {
                        membership_changed |= crate::txn::is_reconfig_entry(&entry.payload);
                        self.apply(entry, st);
                    }
                    Output::RoleChanged(role) => {
                        st.role = role;
                        st.looking_since = (role == Role::Looking).then(Instant::now);
                        st.lease.clear();
                        st.ping_sent.clear();
                        st.sync_sent.clear();
                        st.forwarded.clear();
                        // Whatever this member served under its old role ends: its clients
                        // reconnect, here once it serves again or elsewhere.
                        if st.serving {
                            self.stop_serving(st);
                        }
                        st.want_serving = false;
                        self.publish(st);
                    }
                    Output::Serving(on) => {
                        if on && st.role != Role::Looking {
                            st.want_serving = true;
                        } else if !on {
                            st.want_serving = false;
                            // Read-only sessions end with the looking, not before.
                            if st.serving && !st.read_only {
                                self.stop_serving(st);
                            }
                        }
                    }
                    Output::Forwarded { payload, .. } => {
                        if st.role == Role::Leading && st.serving {
                            forwarded.push(payload);
                        } else if st.role == Role::Leading && st.forwarded.len() < MAX_WAITING {
                            st.forwarded.push(payload);
                        } else {
                            tracing::debug!("forwarded write dropped: not leading");
                        }
                    }
                    Output::ReadIndexReady { id, .. } => {
                        if let Some((conn, xid, path)) = st.syncs.remove(&id) {
                            self.sm.finish_sync(conn, xid, path, true);
                        }
                    }
                    Output::ReadIndexFailed { id } => {
                        if let Some((conn, xid, path)) = st.syncs.remove(&id) {
                            self.sm.finish_sync(conn, xid, path, false);
                        }
                    }
                    Output::ExpireSession { session } => {
                        if st.serving && st.role == Role::Leading {
                            self.sm.expire_session(session, wall_ms());
                            self.propose_sealed(st);
                        }
                    }
                }
            }
            if membership_changed {
                self.membership_changed().await;
                // A learner that became an observer, or a voter, without syncing again (the
                // leader sends it the same stream) reports its new role.
                let now = self.peer.role();
                if now != st.role && now.leader().is_some() && now.leader() == st.role.leader() {
                    st.role = now;
                    self.publish(st);
                }
            }
            if !forwarded.is_empty() {
                self.prepare_forwarded(forwarded, st);
            }
            if !persists.is_empty() {
                let last = persists.last().map_or(0, |p| p.0);
                self.persist(persists).await?;
                self.peer.step(Input::Persisted { id: last });
            }
            if st.since_snapshot >= self.snap_count {
                st.since_snapshot = 0;
                self.snapshot().await?;
            }
            if st.serving && st.role == Role::Leading && !self.lease_holds(st) {
                // A quorum may have given up on this leader: it stops answering anyone (a
                // new leader may already be taking writes), and serves again once a quorum
                // answers its pings.
                tracing::warn!(id = self.peer.id(), "leader lease lapsed; dropping clients");
                self.stop_serving(st);
                st.want_serving = true;
            }
            if st.want_serving
                && !st.serving
                && self.peer.is_serving()
                && self
                    .identity
                    .bind_to_serve(st.role, &mut self.core_config, &mut self.sm)
                    .await
            {
                match st.role {
                    Role::Leading
                        if self.lease_holds(st)
                            && self.peer.applied() == self.peer.last_logged() =>
                    {
                        self.start_serving(st)
                    }
                    Role::Following { .. } | Role::Observing { .. } => self.start_following(st),
                    _ => {}
                }
            }
        }
        let actions = self.sm.take_actions();
        deliver(
            actions,
            &mut st.outs,
            &mut st.dropped,
            self.max_queued_bytes,
        );
        if self.status.borrow().applied != self.sm.last_zxid() {
            self.publish(st);
        }
        Ok(())
    }

    fn apply(&mut self, entry: crate::zab::Entry, st: &mut Loop) {
        st.since_snapshot += 1;
        if st.serving && self.sm.first_in_flight() == Some(entry.zxid) {
            let actions = self.sm.commit_through(entry.zxid);
            deliver(
                actions,
                &mut st.outs,
                &mut st.dropped,
                self.max_queued_bytes,
            );
            return;
        }
        match crate::txn::decode_entry(entry.payload) {
            Ok((header, txn)) => {
                if header.zxid != entry.zxid {
                    tracing::error!(
                        zxid = entry.zxid,
                        header = header.zxid,
                        "entry's transaction names another zxid; not applied"
                    );
                    return;
                }
                self.sm.apply_replicated(&header, &txn);
            }
            Err(e) => tracing::error!(zxid = entry.zxid, "entry does not decode ({e})"),
        }
    }

    /// Drops the current tree, then loads the leader's snapshot in its place (read in place,
    /// no copy): never two trees in memory at once. A snapshot that does not decode stops the
    /// member either way.
    fn replace_tree(
        &mut self,
        snapshot: Snapshot,
        st: &mut Loop,
    ) -> Result<crate::tree::DataTree, zk_proto::DecodeError> {
        if st.serving {
            self.stop_serving(st);
        }
        drop(self.sm.take_tree());
        crate::snapshot::deserialize_shared(snapshot.data)
    }

    /// Fills a SNAP the core asked for ([`Snapshot::needs_data`]) with the applied state,
    /// serialized now (the outputs are carried out in order, so the tree is at the zxid the
    /// core named). Returns false, after logging, when it is not: the message is not sent and
    /// the follower retries its sync.
    fn fill_snap(&self, message: &mut Message) -> bool {
        let Message::Sync {
            mode: crate::zab::SyncMode::Snap(s),
            ..
        } = message
        else {
            return true;
        };
        if !s.needs_data() {
            return true;
        }
        if self.sm.last_zxid() != s.zxid {
            tracing::error!(
                snap = s.zxid,
                applied = self.sm.last_zxid(),
                "the state is not at the SNAP's zxid; SNAP not sent"
            );
            return false;
        }
        s.data = crate::snapshot::serialize(self.sm.tree());
        true
    }

    /// Persists in order on a blocking thread; consecutive appends become one write.
    async fn persist(&mut self, ops: Vec<(PersistId, PersistOp)>) -> Result<(), ()> {
        let mut merged: Vec<PersistOp> = Vec::new();
        for (_, op) in ops {
            match (merged.last_mut(), op) {
                (Some(PersistOp::Append(a)), PersistOp::Append(b)) => a.extend(b),
                (_, op) => merged.push(op),
            }
        }
        let Some(mut store) = self.store.take() else {
            return Err(());
        };
        let delay = Duration::from_millis(self.faults.disk_delay_ms.load(Ordering::Relaxed));
        let done = tokio::task::spawn_blocking(move || {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            let r = merged.iter().try_for_each(|op| store.persist(op));
            (store, r)
        })
        .await;
        match done {
            Ok((store, Ok(()))) => {
                self.store = Some(store);
                self.facts.log_syncs += 1;
                Ok(())
            }
            Ok((_, Err(e))) => {
                tracing::error!("cannot persist ({e}); stopping the member");
                Err(())
            }
            Err(e) => {
                tracing::error!("persist task failed ({e}); stopping the member");
                Err(())
            }
        }
    }

    async fn snapshot(&mut self) -> Result<(), ()> {
        let zxid = self.sm.last_zxid();
        if zxid != self.peer.applied() {
            return Ok(());
        }
        // Streamed from a copy-on-write view of the tree straight into the file: the
        // state is never serialized whole in memory.
        let copy = self.sm.tree().copy_for_snapshot();
        let Some(mut store) = self.store.take() else {
            return Err(());
        };
        let done = tokio::task::spawn_blocking(move || {
            let r = store.save_snapshot_with(zxid, &mut |w| {
                crate::snapshot::write_copy_to(&mut { w }, &copy)
            });
            (store, r)
        })
        .await;
        match done {
            Ok((store, r)) => {
                self.store = Some(store);
                match r {
                    Ok(()) => self
                        .peer
                        .step(Input::SnapshotTaken(Snapshot::of_applied(zxid))),
                    Err(e) => tracing::error!("cannot write a snapshot ({e}); will retry"),
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!("snapshot task failed ({e}); stopping the member");
                Err(())
            }
        }
    }

    /// Whether a quorum (this leader included) answered a ping sent less than
    /// `syncLimit - 1` ticks ago: no follower of those can have left this leader yet, so no
    /// other leader can have committed anything, and reads here are not stale.
    fn lease_holds(&self, st: &Loop) -> bool {
        let lease = self.tick * self.sync_limit.saturating_sub(1).max(1);
        let me = self.peer.id();
        self.peer
            .is_quorum(|m| m == me || st.lease.get(&m).is_some_and(|sent| sent.elapsed() < lease))
    }

    fn learners_heard(&self, st: &Loop) -> Vec<PeerId> {
        let window = self.tick * self.sync_limit.max(1);
        st.heard
            .iter()
            .filter(|(_, t)| t.elapsed() <= window)
            .map(|(id, _)| *id)
            .collect()
    }

    fn take(&mut self, m: CoreMsg, inputs: &mut Vec<SmInput>, st: &mut Loop) {
        match m {
            CoreMsg::Register { conn, tx, budget } => {
                st.outs.insert(
                    conn,
                    Out {
                        tx,
                        budget,
                        costs: Default::default(),
                    },
                );
            }
            CoreMsg::Input(i) => {
                if let SmInput::Closed { conn } = i
                    && let Some(out) = st.outs.remove(&conn)
                {
                    out.budget.close();
                }
                inputs.push(i);
            }
            CoreMsg::Request { input, cost } => {
                if let Some(out) = st.outs.get_mut(&input.conn()) {
                    out.costs.push_back(cost);
                }
                inputs.push(input);
            }
            CoreMsg::FourLetter { word, reply } => {
                self.facts.extra_mntr = crate::four_letter::learner_rows(
                    self.peer.is_serving(),
                    st.role,
                    self.peer.config(),
                    &self.learners_heard(st),
                );
                // As ZooKeeper: while no server runs here (looking, or syncing with a
                // leader), `isro` says `null` and most words only that it does not serve.
                let text = if word == "isro" && !st.serving {
                    "null".to_owned()
                } else if !st.serving && crate::four_letter::needs_a_running_server(word) {
                    crate::four_letter::NOT_SERVING.to_owned()
                } else {
                    self.sm.four_letter(word, &self.facts)
                };
                let _ = reply.send(text);
            }
            CoreMsg::Admin(Admin::ExpireSession { session, reply }) => {
                let done = st.serving
                    && st.role == Role::Leading
                    && self.sm.expire_session(session, wall_ms());
                let _ = reply.send(done);
            }
            CoreMsg::Admin(Admin::Sessions { reply }) => {
                let ids = if st.serving {
                    self.sm.session_ids()
                } else {
                    self.sm.tree().sessions.keys().copied().collect()
                };
                let _ = reply.send(ids);
            }
            CoreMsg::Admin(Admin::DropConnections { session, reply }) => {
                let n = if st.serving {
                    self.sm.drop_connections(session)
                } else {
                    let n = st.outs.len();
                    for (_, out) in st.outs.drain() {
                        out.budget.close();
                        let _ = out.tx.send(Outbound::Close);
                    }
                    n
                };
                let _ = reply.send(n);
            }
            CoreMsg::Admin(Admin::LastZxid { reply }) => {
                let _ = reply.send(self.sm.last_zxid());
            }
        }
    }
}

impl MemberFaults {
    /// Applies a fault-control text (what [`crate::cluster::TestCluster`] writes for a child
    /// process; the binary polls the file named by `ZK_MINI_FAULT_CONTROL`): a line
    /// `block 2 3` cuts peer traffic with members 2 and 3 (`block` alone heals), a line
    /// `disk_delay_ms 30` slows every durable write. Other lines and bad numbers are ignored.
    ///
    /// ```
    /// use zk_server_mini::ensemble::MemberFaults;
    ///
    /// let faults = MemberFaults::default();
    /// faults.apply_control("block 2 3\ndisk_delay_ms 30\n");
    /// assert!(faults.peers.is_blocked(2) && !faults.peers.is_blocked(1));
    /// faults.apply_control("block\n");
    /// assert!(!faults.peers.is_blocked(2));
    /// ```
    pub fn apply_control(&self, text: &str) {
        let mut blocked = std::collections::BTreeSet::new();
        let mut delay = 0;
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("block") => blocked.extend(words.filter_map(|w| w.parse::<PeerId>().ok())),
                Some("disk_delay_ms") => {
                    delay = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                }
                _ => {}
            }
        }
        *self.peers.blocked.lock().unwrap_or_else(|e| e.into_inner()) = blocked;
        self.disk_delay_ms.store(delay, Ordering::Relaxed);
    }
}
