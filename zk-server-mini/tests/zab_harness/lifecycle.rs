//! Members starting (from what their disk kept) and crashing (losing what was not
//! fsynced, and perhaps tearing the write in progress).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use zk_server_mini::zab::store::ZabStore;
use zk_server_mini::zab::{Config, Input, MembershipDecoder, Peer, PeerId, Snapshot};

use super::{App, Bug, Event, Sim, TICK_MS, Violation, decode_members, with_contents};

impl Sim {
    /// Starts (or restarts) a member from its disk.
    pub fn start(&mut self, id: PeerId) {
        let bug = self.bug_at(id);
        let (members, observers): (Vec<PeerId>, Vec<PeerId>) = if self.dynamic {
            // Filled in below, from the recovered state.
            (Vec::new(), Vec::new())
        } else if bug == Bug::ObserversVote {
            (self.members(), Vec::new())
        } else {
            self.members()
                .into_iter()
                .partition(|m| !self.observers.contains(m))
        };
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        if node.peer.is_some() {
            return;
        }
        node.incarnation += 1;
        node.queue.clear();
        node.disk_busy = false;
        let opened = ZabStore::open(Arc::new(node.disk.clone()), Path::new("/zab"));
        let (mut store, recovered) = match opened {
            Ok(x) => x,
            Err(e) => {
                self.checker.fail(Violation::Recovery(id, e.to_string()));
                return;
            }
        };
        store.set_unsafe_no_fsync(bug == Bug::AckBeforeFsync);
        node.app = recovered
            .snapshot
            .as_ref()
            .and_then(|s| App::decode(&s.data))
            .map(|a| with_contents(&self.snapshot_contents, a))
            .unwrap_or_default();
        node.durable_snapshot = node.app.zxid;
        node.durable_snapshot_holds = node.app.applied.clone();
        node.durable = recovered
            .log
            .iter()
            .map(|e| (e.zxid, e.payload.clone()))
            .collect();
        node.logged = node.durable.clone();
        node.durable_current_epoch = recovered.current_epoch;
        node.leading = false;
        node.knows_removed = None;
        let logged = recovered.log.clone();
        let mut config = Config::new(id, members).with_observers(observers);
        if self.dynamic {
            // The membership of its recovered state (the snapshot's), else that of its
            // configuration file, written when the operator first started it: with the
            // current membership (the initial one at first). A server not in it is a learner
            // until a change adds it (it is not listed: a configuration listing it would make
            // the core take any change that does not list it yet for its removal).
            if node.config_file.is_none() {
                node.config_file = Some(self.checker.latest_members().clone());
            }
            let m = node
                .app
                .members
                .clone()
                .or_else(|| node.config_file.clone())
                .unwrap_or_default();
            node.runs_with = m.clone();
            config.membership_version = node.app.members_version;
            config.members = m.voters.iter().copied().collect();
            config.observers = m.observers.iter().copied().collect();
            config.membership = Some(MembershipDecoder(decode_members));
            config.bug_committed_quorum_only = bug == Bug::CommittedQuorumOnly;
        }
        config.tick_ms = TICK_MS;
        config.init_limit = 10;
        config.sync_limit = 5;
        // A small in-memory log window, so that SNAPs of the applied state are common; none
        // without snapshots (there every rejoin of a diverged member is a TRUNC).
        config.log_window = if self.snapshot_every == u64::MAX {
            usize::MAX
        } else {
            3
        };
        let node_config = (config.members.clone(), config.observers.clone());
        let peer = match Peer::new(config, recovered) {
            Ok(p) => p,
            Err(e) => {
                self.checker.fail(Violation::Recovery(id, e.to_string()));
                return;
            }
        };
        node.peer = Some(peer);
        node.store = Some(store);
        let incarnation = node.incarnation;
        let app_start = node.app.clone();
        if bug == Bug::ApplyLoggedOnRecovery {
            for e in &logged {
                if e.zxid > node.app.zxid {
                    let _ = node.app.apply(e);
                }
            }
            // ...and, as ZooKeeper did at startup, snapshots that state (a dirty snapshot
            // when the log's tail was never committed: ZOOKEEPER-1549).
            if node.app.zxid > node.durable_snapshot
                && let Some(store) = node.store.as_mut()
            {
                let s = Snapshot {
                    zxid: node.app.zxid,
                    data: node.app.encode(),
                };
                if store.save_snapshot(&s).is_ok() {
                    node.durable_snapshot = s.zxid;
                    node.durable_snapshot_holds = node.app.applied.clone();
                    self.snapshot_contents
                        .insert((node.app.zxid, node.app.digest), node.app.clone());
                }
            }
        }
        let app = node.app.clone();
        self.note(format!(
            "start {id} (incarnation {incarnation}, config {:?}+{:?})",
            node_config.0, node_config.1
        ));
        if app != app_start {
            self.checker.on_apply(id, &app, None, &self.nodes);
        }
        // The core learns the sessions of the recovered state from the driver.
        self.tell_sessions(id, &BTreeMap::new());
        // Clocks start out of phase, from the seed.
        let phase = self.rng.below(TICK_MS);
        let now = self.now;
        self.schedule(now + phase + 1, Event::Tick(id));
        self.drain(id);
    }

    /// Tells member `id`'s core how its sessions changed from `before` to its state now.
    pub(super) fn tell_sessions(&mut self, id: PeerId, before: &BTreeMap<i64, u64>) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let now = node.app.sessions.clone();
        let Some(p) = node.peer.as_mut() else { return };
        for s in before.keys().filter(|s| !now.contains_key(s)) {
            p.step(Input::SessionClosed { session: *s });
        }
        for (s, t) in now.iter().filter(|(s, _)| !before.contains_key(s)) {
            p.step(Input::SessionOpened {
                session: *s,
                timeout_ms: *t,
            });
        }
    }

    /// Crashes a member: memory is gone, the disk keeps what was fsynced.
    pub fn crash(&mut self, id: PeerId) {
        let tear = self.faults.tear;
        let seed = self.rng.next();
        let fail = self.rng.below(4);
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        if node.peer.is_none() {
            return;
        }
        // A write in progress may have reached the disk in part.
        if tear && let Some((_, op)) = node.queue.front().cloned() {
            node.disk.fail_after(fail);
            if let Some(store) = node.store.as_mut() {
                let _ = store.persist(&op);
            }
        }
        node.disk = node.disk.crash(tear.then_some(seed));
        node.peer = None;
        node.store = None;
        node.queue.clear();
        node.disk_busy = false;
        self.note(format!("crash {id}"));
    }
}
