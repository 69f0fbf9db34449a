//! Writing requests: xids, the FIFO of outstanding requests, watch bookkeeping on the way out,
//! auth and SetWatches after a (re)connect.

use tokio::time::Instant;
use tracing::{trace, warn};
use zk_proto::codec::encode_frame;
use zk_proto::jute::Encode;
use zk_proto::{
    AddWatchMode, AuthPacket, OpCode, RequestHeader, SetWatches, SetWatches2, WatcherType,
};

use super::{Core, Effect, Outgoing, Pending};
use crate::watch::{WatchLists, WatchRegistration};

/// The ZooKeeper ping frame: length 8, xid -2, op 11.
pub(super) const PING_FRAME: [u8; 12] = [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11];
/// SetWatches batches stay under this many bytes of path text (Java's limit).
pub(super) const SET_WATCHES_BATCH: usize = 128 * 1024;

impl Core {
    /// Appends an encoded request with a fresh xid and queues it as outstanding, unless its
    /// caller withdrew it.
    pub(super) fn write_request(&mut self, mut out: Outgoing, now: Instant) {
        if self.conn.is_none() {
            self.backlog.push_back(out);
            return;
        }
        if !out.ticket.claim_for_write() {
            trace!(op = ?out.op, "withdrawn by its caller; not sent");
            return;
        }
        match &out.watch {
            Some(WatchRegistration::Oneshot { path, .. }) if self.oneshot_is_covered(path) => {
                // getData, exists and getChildren2 end with their `watch` flag: register
                // locally only.
                if let Some(flag) = out.frame.last_mut() {
                    *flag = 0;
                }
                if self.recursive_on_server(path) {
                    out.effect = Effect::KeepsServerRecursive { path: path.clone() };
                }
            }
            Some(WatchRegistration::Persistent {
                path,
                mode: AddWatchMode::Persistent,
                ..
            }) if self.recursive_on_server(path) => {
                // addWatch ends with its mode: keep the server's entry recursive.
                if let Some(mode) = out
                    .frame
                    .len()
                    .checked_sub(4)
                    .and_then(|at| out.frame.get_mut(at..))
                {
                    mode.copy_from_slice(
                        &i32::from(AddWatchMode::PersistentRecursive).to_be_bytes(),
                    );
                }
                out.effect = Effect::KeepsServerRecursive { path: path.clone() };
            }
            _ => {}
        }
        if let Effect::RemoveWatches { path, watcher_type } = &out.effect
            && is_oneshot_type(*watcher_type)
            && self.oneshot_is_covered(path)
        {
            // Same body, harmless opcode: the answer comes from the local registry in order.
            if let Some(op) = out.frame.get_mut(8..12) {
                op.copy_from_slice(&i32::from(OpCode::CheckWatches).to_be_bytes());
            }
            out.op = OpCode::CheckWatches;
            out.effect = Effect::RemoveLocalWatches {
                path: path.clone(),
                watcher_type: *watcher_type,
            };
        }
        let xid = self.next_xid();
        if let Some(slot) = out.frame.get_mut(4..8) {
            slot.copy_from_slice(&xid.to_be_bytes());
        }
        trace!(xid, op = ?out.op, "send");
        self.out.extend_from_slice(&out.frame);
        let Some(c) = &mut self.conn else {
            return;
        };
        c.last_send = now;
        if matches!(out.watch, Some(WatchRegistration::Persistent { .. })) {
            c.pending_persistent += 1;
        }
        c.pending.push_back(Pending {
            xid,
            op: out.op,
            sent: now,
            reply: out.reply,
            watch: out.watch,
            effect: out.effect,
        });
        // `out.permit` is dropped here: the bytes left the client's queue budget.
    }

    /// Whether a one-shot watch on `path` must stay local because a persistent or recursive
    /// registration on the same path (registered, or on its way) serves it; see
    /// [`Registry::covered`](crate::watch::Registry::covered).
    fn oneshot_is_covered(&self, path: &str) -> bool {
        self.registry.covered(path)
            || self.conn.as_ref().is_some_and(|c| {
                c.pending_persistent > 0
                    && c.pending.iter().any(|p| {
                        matches!(&p.watch, Some(WatchRegistration::Persistent { path: pp, .. }) if pp == path)
                    })
            })
    }

    /// Whether the server's registration on `path` is (or is about to be) recursive.
    fn recursive_on_server(&self, path: &str) -> bool {
        self.registry.server_recursive(path)
            || self.conn.as_ref().is_some_and(|c| {
                c.pending_persistent > 0
                    && c.pending.iter().any(|p| match &p.watch {
                        Some(WatchRegistration::Persistent { path: pp, mode, .. }) => {
                            pp == path
                                && (*mode == AddWatchMode::PersistentRecursive
                                    || matches!(p.effect, Effect::KeepsServerRecursive { .. }))
                        }
                        _ => false,
                    })
            })
    }

    /// Encodes an internal request (no caller waiting). Returns its xid if it was written.
    pub(super) fn write_internal<T: Encode>(
        &mut self,
        op: OpCode,
        body: &T,
        effect: Effect,
        now: Instant,
    ) -> Option<i32> {
        let xid = self.next_xid();
        let max = self.config.max_frame_len;
        let Some(c) = &mut self.conn else {
            return None;
        };
        match encode_frame(&(RequestHeader::new(xid, op), body), &mut self.out, max) {
            Ok(()) => {
                c.last_send = now;
                c.pending.push_back(Pending {
                    xid,
                    op,
                    sent: now,
                    reply: None,
                    watch: None,
                    effect,
                });
                Some(xid)
            }
            Err(e) => {
                warn!(?op, error = %e, "internal request too large; not sent");
                None
            }
        }
    }

    /// Removes a server registration no local watcher needs any more.
    pub(super) fn remove_on_server(
        &mut self,
        path: String,
        watcher_type: WatcherType,
        now: Instant,
    ) {
        // A registration for this path still in flight would be undone by the removal.
        let in_flight = self.conn.as_ref().is_some_and(|c| {
            c.pending
                .iter()
                .any(|p| p.watch.as_ref().is_some_and(|w| w.path() == path))
        });
        if !in_flight {
            let body = zk_proto::RemoveWatchesRequest { path, watcher_type };
            self.write_internal(OpCode::RemoveWatches, &body, Effect::DropWatch, now);
        }
    }

    /// After a handshake: every credential again, in the order given.
    pub(super) fn resend_auth(&mut self) {
        let max = self.config.max_frame_len;
        let Some(c) = &mut self.conn else {
            return;
        };
        for a in &mut self.auths {
            write_auth(&a.scheme, &a.auth, &mut self.out, max);
            c.auth_waiters.push_back(a.waiter.take());
        }
    }

    /// After a handshake: every watch again, in SetWatches2 (or SetWatches) batches. Returns
    /// the xid of the last batch.
    pub(super) fn register_watches(&mut self, now: Instant) -> Option<i32> {
        let lists = self.registry.lists();
        if lists.is_empty() {
            return None;
        }
        let mut last = None;
        for batch in batches(lists, self.set_watches_v1) {
            let relative_zxid = self.last_zxid;
            let xid = if self.set_watches_v1 {
                let body = SetWatches {
                    relative_zxid,
                    data_watches: batch.data,
                    exist_watches: batch.exist,
                    child_watches: batch.child,
                };
                self.write_internal(OpCode::SetWatches, &body, Effect::SetWatches, now)
            } else {
                let body = SetWatches2 {
                    relative_zxid,
                    data_watches: batch.data,
                    exist_watches: batch.exist,
                    child_watches: batch.child,
                    persistent_watches: batch.persistent,
                    persistent_recursive_watches: batch.recursive,
                };
                self.write_internal(OpCode::SetWatches2, &body, Effect::SetWatches, now)
            };
            last = xid.or(last);
        }
        last
    }
}

/// Encodes an auth packet (xid -4) into `out`.
pub(super) fn write_auth(scheme: &str, auth: &bytes::Bytes, out: &mut bytes::BytesMut, max: usize) {
    let packet = AuthPacket {
        auth_type: 0,
        scheme: scheme.to_owned(),
        auth: auth.clone(),
    };
    let header = RequestHeader::new(zk_proto::xid::AUTH, OpCode::Auth);
    if let Err(e) = encode_frame(&(header, &packet), out, max) {
        warn!(error = %e, "auth packet too large; not sent");
    }
}

/// The watcher types of one-shot watches (`Any` and the persistent types concern persistent
/// watches too).
pub(super) fn is_oneshot_type(watcher_type: WatcherType) -> bool {
    matches!(watcher_type, WatcherType::Data | WatcherType::Children)
}

/// Splits the watch lists into batches of at most [`SET_WATCHES_BATCH`] bytes of paths.
pub(super) fn batches(lists: WatchLists, v1: bool) -> Vec<WatchLists> {
    let mut out = vec![WatchLists::default()];
    let mut size = 0;
    let mut push = |kind: u8, path: String| {
        let len = path.len() + 4;
        if size + len > SET_WATCHES_BATCH && size > 0 {
            out.push(WatchLists::default());
            size = 0;
        }
        size += len;
        if let Some(batch) = out.last_mut() {
            match kind {
                0 => batch.data.push(path),
                1 => batch.exist.push(path),
                2 => batch.child.push(path),
                3 => batch.persistent.push(path),
                _ => batch.recursive.push(path),
            }
        }
    };
    for p in lists.data {
        push(0, p);
    }
    for p in lists.exist {
        push(1, p);
    }
    for p in lists.child {
        push(2, p);
    }
    if !v1 {
        for p in lists.persistent {
            push(3, p);
        }
        for p in lists.recursive {
            push(4, p);
        }
    }
    out.retain(|b| !b.is_empty());
    out
}
