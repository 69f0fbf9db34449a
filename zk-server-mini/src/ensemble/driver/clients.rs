//! Serving clients: the leader's state machine (its clients' writes and the followers'
//! forwarded ones proposed to Zab), a follower's (reads here, writes forwarded), and nobody's
//! while the member is looking or syncing.

use super::{Driver, Loop, wall_ms};
use crate::connection::Outbound;
use crate::state::{Input as SmInput, StateMachine};
use crate::zab::{Input, Role};
use std::time::Duration;

impl Driver {
    /// Not serving: connections are told nothing and closed at their handshake.
    pub(super) fn refuse_clients(&mut self, inputs: Vec<SmInput>, st: &mut Loop) {
        for input in inputs {
            match input {
                SmInput::Connect { conn, .. } | SmInput::Request { conn, .. } => {
                    if let Some(out) = st.outs.remove(&conn) {
                        out.budget.close();
                        let _ = out.tx.send(Outbound::Close);
                    }
                }
                SmInput::Closed { conn } => {
                    if let Some(out) = st.outs.remove(&conn) {
                        out.budget.close();
                    }
                }
                SmInput::Open { .. } => {}
            }
        }
    }

    /// Hands the writes the state machine prepared to Zab, in zxid order.
    pub(super) fn propose_sealed(&mut self, st: &mut Loop) {
        let payloads: Vec<(i64, bytes::Bytes)> = self
            .sm
            .seal_batch()
            .iter()
            .map(|p| (p.header.zxid, crate::txn::encode_entry(&p.header, &p.txn)))
            .collect();
        for (zxid, payload) in payloads {
            match self.peer.propose(payload) {
                Ok(z) if z == zxid => {}
                other => {
                    // The state machine's zxids no longer match the log's: its clients go
                    // (they reconnect), and it is rebuilt from what Zab applies.
                    tracing::warn!(?other, zxid, "proposal refused; dropping clients");
                    self.stop_serving(st);
                    st.want_serving = true;
                    return;
                }
            }
        }
    }

    /// At a follower: hands the writes its clients sent to Zab for the leader, and reports
    /// the sessions they kept busy.
    pub(super) fn forward_writes(&mut self) {
        for payload in self.sm.take_forwards() {
            self.peer.step(Input::Forward { payload });
        }
        for session in self.sm.take_touched() {
            self.peer.step(Input::Touch { session });
        }
    }

    /// At the serving leader: prepares a write a follower forwarded and proposes it.
    pub(super) fn prepare_forwarded(&mut self, payloads: Vec<bytes::Bytes>, st: &mut Loop) {
        let now = st.start.elapsed().as_millis() as u64;
        for payload in payloads {
            self.sm.forwarded(payload, now, wall_ms());
        }
        self.propose_sealed(st);
    }

    /// Starts a read-index round (a quorum confirms this leader) for each held `sync()`.
    pub(super) fn start_syncs(&mut self, st: &mut Loop) {
        for (conn, xid, path) in std::mem::take(&mut self.sm.held_syncs) {
            st.next_sync += 1;
            st.syncs.insert(st.next_sync, (conn, xid, path));
            self.peer.step(Input::ReadIndex { id: st.next_sync });
        }
    }

    pub(super) fn rebuild_sm(&mut self) {
        let tree = self.sm.take_tree();
        let now = 0;
        self.sm = StateMachine::new(tree, self.core_config.clone(), now, wall_ms());
    }

    pub(super) fn stop_serving(&mut self, st: &mut Loop) {
        for (_, out) in st.outs.drain() {
            out.budget.close();
            let _ = out.tx.send(Outbound::Close);
        }
        st.serving = false;
        st.read_only = false;
        st.syncs.clear();
        self.rebuild_sm();
        self.publish(st);
    }

    pub(super) fn start_serving(&mut self, st: &mut Loop) {
        let Some(epoch) = self.peer.leading_epoch() else {
            return;
        };
        for (_, out) in st.outs.drain() {
            out.budget.close();
            let _ = out.tx.send(Outbound::Close);
        }
        let tree = self.sm.take_tree();
        let now = st.start.elapsed().as_millis() as u64;
        self.sm = StateMachine::new(tree, self.core_config.clone(), now, wall_ms());
        let last = self.peer.last_logged();
        let after = if crate::zxid::epoch(last) == epoch {
            last
        } else {
            crate::zxid::make(epoch, 0)
        };
        self.sm.continue_after(after);
        self.sm.hold_syncs = true;
        st.syncs.clear();
        st.serving = true;
        st.want_serving = false;
        tracing::info!(
            id = self.peer.id(),
            epoch,
            zxid = format!("0x{after:x}"),
            "leading: serving clients"
        );
        self.publish(st);
        let waiting = std::mem::take(&mut st.forwarded);
        if !waiting.is_empty() {
            self.prepare_forwarded(waiting, st);
        }
    }

    /// Whether read-only mode is on and this member has looked for a leader long enough to
    /// serve read-only sessions (ZooKeeper waits 2 s, or a tick if longer).
    pub(super) fn read_only_due(&self, st: &Loop) -> bool {
        let wait = Duration::from_millis(2000).max(self.tick);
        self.read_only_mode
            && self.identity.is_bound()
            && !st.serving
            && st.role == Role::Looking
            && st.looking_since.is_some_and(|t| t.elapsed() >= wait)
    }

    /// Cut off from any quorum: serves read-only sessions over the tree it has applied (see
    /// the state machine's read-only mode); nothing it does is replicated.
    pub(super) fn start_read_only(&mut self, st: &mut Loop) {
        for (_, out) in st.outs.drain() {
            out.budget.close();
            let _ = out.tx.send(Outbound::Close);
        }
        let tree = self.sm.take_tree();
        let now = st.start.elapsed().as_millis() as u64;
        self.sm = StateMachine::new_read_only(tree, self.core_config.clone(), now, wall_ms());
        st.syncs.clear();
        st.serving = true;
        st.read_only = true;
        st.want_serving = false;
        tracing::info!(
            id = self.peer.id(),
            applied = format!("0x{:x}", self.sm.last_zxid()),
            "no quorum: serving read-only sessions"
        );
        self.publish(st);
    }

    /// A synced follower of a live leader: serves its own clients (reads here, writes
    /// forwarded), over the tree it has applied.
    pub(super) fn start_following(&mut self, st: &mut Loop) {
        for (_, out) in st.outs.drain() {
            out.budget.close();
            let _ = out.tx.send(Outbound::Close);
        }
        let tree = self.sm.take_tree();
        let now = st.start.elapsed().as_millis() as u64;
        self.sm = StateMachine::new_learner(tree, self.core_config.clone(), now, wall_ms());
        st.syncs.clear();
        st.serving = true;
        st.want_serving = false;
        tracing::info!(
            id = self.peer.id(),
            applied = format!("0x{:x}", self.sm.last_zxid()),
            "following: serving clients"
        );
        self.publish(st);
    }
}
