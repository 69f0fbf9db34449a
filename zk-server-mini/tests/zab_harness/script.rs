//! Scripting helpers for scenarios: quiet networks, waiting for leaders and commits,
//! forged messages, crash points, and settling (heal, restart, check everything).

use zk_server_mini::zab::{Input, Message, Peer, PeerId};

use super::{Bug, CrashAt, Faults, Ms, Sim, TICK_MS};

impl Sim {
    /// Waits for a serving leader and a fresh write to commit; returns the write's zxid.
    pub fn await_progress(&mut self, limit: Ms) -> Option<i64> {
        let end = self.now + limit;
        while self.now < end && !self.checker.failed() {
            if !self.run_until(end - self.now, |s| {
                s.leader()
                    .is_some_and(|l| s.nodes[&l].peer.as_ref().is_some_and(|p| p.is_serving()))
            }) {
                return None;
            }
            let leader = self.leader()?;
            let n = self.write_at(leader)?;
            let acked = self.run_until((end.saturating_sub(self.now)).min(20 * TICK_MS), |s| {
                s.checker.is_acked(n)
            });
            if acked {
                return self.checker.zxid_of(n);
            }
        }
        None
    }

    /// An ensemble on a network that neither loses, duplicates nor reorders (delays stay
    /// random), and crashes that do not tear: for scripted scenarios.
    pub fn quiet(n: u64, seed: u64, bug: Bug) -> Self {
        let mut sim = Self::with_bug(n, seed, bug);
        sim.faults = Faults {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            max_delay: 5,
            fault_every: Ms::MAX / 4,
            tear: false,
        };
        sim
    }

    /// [`Sim::quiet`] with `observers` observers after the `n` voters.
    pub fn quiet_observed(n: u64, observers: u64, seed: u64) -> Self {
        let mut sim = Self::with_observers(n, observers, seed, Bug::None);
        sim.faults = Self::quiet(1, seed, Bug::None).faults;
        sim
    }

    /// The core of member `id`, if up.
    pub fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.nodes.get(&id).and_then(|n| n.peer.as_ref())
    }

    /// Waits for a serving leader; returns it.
    pub fn await_leader(&mut self, limit: Ms) -> Option<PeerId> {
        self.run_until(limit, |s| {
            s.leader()
                .is_some_and(|l| s.peer(l).is_some_and(|p| p.is_serving()))
        });
        self.leader()
    }

    /// Writes `count` times at the leader, each acknowledged before the next; returns
    /// their zxids (fewer if a write did not commit within a few seconds).
    pub fn acked_writes(&mut self, count: usize) -> Vec<i64> {
        let mut out = Vec::new();
        for _ in 0..count {
            let Some(l) = self.await_leader(10_000) else {
                break;
            };
            let Some(n) = self.write_at(l) else { break };
            if !self.run_until(5_000, |s| s.checker.is_acked(n)) {
                break;
            }
            if let Some(z) = self.checker.zxid_of(n) {
                out.push(z);
            }
        }
        out
    }

    /// Delivers a forged message to `to` as if `from` sent it.
    pub fn inject(&mut self, from: PeerId, to: PeerId, message: Message) {
        if let Some(p) = self.nodes.get_mut(&to).and_then(|n| n.peer.as_mut()) {
            p.step(Input::Message { from, message });
        }
        self.drain(to);
    }

    /// Feeds `input` to member `id` (if up) and carries out what follows.
    pub fn input(&mut self, id: PeerId, input: Input) {
        if let Some(p) = self.nodes.get_mut(&id).and_then(|n| n.peer.as_mut()) {
            p.step(input);
        }
        self.drain(id);
    }

    /// Arms a crash point on member `id`.
    pub fn crash_at(&mut self, id: PeerId, at: CrashAt) {
        self.crash_points.insert(id, at);
    }

    /// Heals everything, restarts every member, waits for progress, lets every member
    /// catch up, then checks that every acknowledged write is in every member's state.
    pub fn settle(&mut self, limit: Ms) -> Result<i64, String> {
        self.heal();
        self.filter = None;
        self.crash_points.clear();
        for id in self.members() {
            self.hold_disk(id, false);
            self.start(id);
        }
        let Some(zxid) = self.await_progress(limit) else {
            return Err(format!("no write committed within {limit}ms after healing"));
        };
        // Writes forwarded before the heal may still commit after this one: wait for
        // whatever was acknowledged last.
        let caught_up = self.run_until(limit, |s| {
            let target = zxid.max(s.checker.max_acked());
            s.nodes
                .values()
                .all(|n| s.removed.contains(&n.id) || n.app.zxid >= target)
        });
        if !caught_up {
            let states: Vec<(PeerId, i64)> =
                self.nodes.values().map(|n| (n.id, n.app.zxid)).collect();
            return Err(format!("members did not catch up to {zxid:#x}: {states:?}"));
        }
        let removed = self.removed.clone();
        self.checker.check_final(&self.nodes, &removed);
        if self.dynamic {
            // Every change proposed is applied or truncated (the leader commits its whole
            // history when it establishes, so nothing stays pending).
            let resolved = self.run_until(limit, |s| s.changes_resolved().is_ok());
            if !resolved {
                return Err(self.changes_resolved().err().unwrap_or_default());
            }
        }
        Ok(zxid)
    }
}
