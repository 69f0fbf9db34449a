//! Reading: frames from the server, matched to the FIFO of outstanding requests.

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;
use tokio_util::codec::Decoder;
use tracing::{trace, warn};
use zk_proto::jute::{Decode, JuteReader};
use zk_proto::{ErrorCode, OpCode, ReplyHeader, Response, WatcherEvent, WatcherType};

use super::requests::is_oneshot_type;
use super::{Core, Effect, Pending, Reply, Terminal};
use crate::error::Error;
use crate::watch::WatchRegistration;

/// What one frame did to the connection.
enum Flow {
    Continue,
    Lost(String),
    Closed,
    Terminal(Terminal),
}

impl Core {
    /// Bytes from the server arrived at `now`: decodes every whole frame in `rbuf` (leaving a
    /// partial one), answers callers, delivers watch events, and drops the connection on a
    /// protocol violation.
    pub(crate) fn handle_input(&mut self, rbuf: &mut BytesMut, now: Instant) {
        let Some(c) = &mut self.conn else {
            rbuf.clear();
            return;
        };
        c.last_recv = now;
        self.last_heard = now;
        loop {
            let Some(c) = &mut self.conn else {
                return;
            };
            let frame = match c.codec.decode(rbuf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    self.lose_connection(&format!("bad frame: {e}"));
                    return;
                }
            };
            match self.handle_frame(frame) {
                Flow::Continue => {}
                Flow::Lost(why) => {
                    self.lose_connection(&why);
                    return;
                }
                Flow::Closed => {
                    let done = self
                        .conn
                        .as_mut()
                        .and_then(|c| c.closing.take())
                        .and_then(|c| c.done);
                    self.finish(Terminal::Closed(done));
                    return;
                }
                Flow::Terminal(end) => {
                    self.finish(end);
                    return;
                }
            }
        }
        for path in self.registry.take_orphans() {
            self.remove_on_server(path, WatcherType::Any, now);
        }
    }

    fn handle_frame(&mut self, frame: Bytes) -> Flow {
        let mut reader = JuteReader::new(frame);
        let header = match ReplyHeader::decode(&mut reader) {
            Ok(h) => h,
            Err(e) => return Flow::Lost(format!("bad reply header: {e}")),
        };
        let Some(c) = &mut self.conn else {
            return Flow::Continue;
        };
        match header.xid {
            zk_proto::xid::NOTIFICATION => {
                let event = match WatcherEvent::decode(&mut reader) {
                    Ok(e) => e,
                    Err(e) => return Flow::Lost(format!("bad notification: {e}")),
                };
                trace!(event_type = ?event.event_type, path = %event.path, "notification");
                self.registry.dispatch(event.event_type, &event.path);
                Flow::Continue
            }
            zk_proto::xid::PING => {
                if let Some(sent) = c.pings.pop_front() {
                    self.answered(sent);
                }
                Flow::Continue
            }
            zk_proto::xid::AUTH => {
                let waiter = c.auth_waiters.pop_front().flatten();
                if header.err == ErrorCode::AuthFailed {
                    if let Some(w) = waiter {
                        let _ = w.send(Err(Error::AuthFailed));
                    }
                    return Flow::Terminal(Terminal::AuthFailed);
                }
                if let Some(w) = waiter {
                    let result = if header.err.is_ok() {
                        Ok(())
                    } else {
                        Err(Error::from(header.err))
                    };
                    let _ = w.send(result);
                }
                Flow::Continue
            }
            xid => {
                let Some(p) = c.pending.pop_front() else {
                    return Flow::Lost(format!("reply xid {xid} with no request outstanding"));
                };
                if matches!(p.watch, Some(WatchRegistration::Persistent { .. })) {
                    c.pending_persistent = c.pending_persistent.saturating_sub(1);
                }
                if p.xid != xid {
                    let why = format!("reply xid {xid} out of order (expected {})", p.xid);
                    if let Some(reply) = p.reply {
                        let _ = reply.send(Err(Error::Protocol(why.clone())));
                    }
                    return Flow::Lost(why);
                }
                if header.zxid > 0 && header.zxid < self.last_zxid {
                    // Every reply carries at least the server's last processed zxid, which the
                    // handshake guaranteed to be at or past ours: this server went back in time.
                    let why = format!(
                        "reply zxid {:#x} is behind the last seen zxid {:#x}",
                        header.zxid, self.last_zxid
                    );
                    if let Some(reply) = p.reply {
                        let _ = reply.send(Err(Error::Protocol(why.clone())));
                    }
                    return Flow::Lost(why);
                }
                self.last_zxid = self.last_zxid.max(header.zxid);
                self.answered(p.sent);
                trace!(xid, op = ?p.op, err = ?header.err, "reply");
                self.complete(p, header.err, header.zxid, reader)
            }
        }
    }

    fn complete(&mut self, p: Pending, err: ErrorCode, zxid: i64, mut reader: JuteReader) -> Flow {
        let mut result = if err.is_ok() {
            match Response::decode(p.op, &mut reader) {
                Ok(r) => Ok(r),
                Err(e) => {
                    let why = format!("bad {:?} reply body: {e}", p.op);
                    if let Some(reply) = p.reply {
                        let _ = reply.send(Err(Error::Protocol(why.clone())));
                    }
                    return Flow::Lost(why);
                }
            }
        } else {
            Err(Error::from(err))
        };
        if let Some(watch) = p.watch {
            match &result {
                Ok(_) => self.registry.add(watch, false),
                Err(Error::NoNode) if p.op == OpCode::Exists => self.registry.add(watch, true),
                Err(_) => {}
            }
        }
        match p.effect {
            Effect::None | Effect::DropWatch => {}
            Effect::RemoveWatches { path, watcher_type } => {
                if result.is_ok() {
                    self.registry.remove_type(&path, watcher_type);
                }
            }
            Effect::CheckWatches { path, watcher_type } => {
                // A local one-shot watch served by the path's persistent registration is a watch
                // of this session, whatever the server says of its own tables.
                if is_oneshot_type(watcher_type)
                    && self.registry.covered(&path)
                    && self.registry.has_oneshot(&path, watcher_type)
                {
                    result = Ok(Response::Empty);
                }
            }
            Effect::RemoveLocalWatches { path, watcher_type } => {
                result = if self.registry.remove_local_oneshots(&path, watcher_type) {
                    Ok(Response::Empty)
                } else {
                    Err(Error::NoWatcher)
                };
            }
            Effect::KeepsServerRecursive { path } => self.registry.mark_server_recursive(&path),
            Effect::SetWatches => {
                if let Some(c) = &mut self.conn
                    && let Some((xid, new_session)) = c.announce_after
                    && xid == p.xid
                {
                    c.announce_after = None;
                    self.registry.announce_reconnect(new_session);
                }
                if let Err(e) = &result {
                    if p.op == OpCode::SetWatches2 && !self.set_watches_v1 {
                        warn!(error = %e, "SetWatches2 refused; falling back to SetWatches");
                        self.set_watches_v1 = true;
                        return Flow::Lost("SetWatches2 refused".into());
                    }
                    warn!(error = %e, "SetWatches failed");
                }
            }
            Effect::Close => {
                if let Some(reply) = p.reply {
                    let _ = reply.send(result.map(|_| Reply {
                        response: Response::Empty,
                        zxid,
                    }));
                }
                return Flow::Closed;
            }
        }
        if let Some(reply) = p.reply {
            let _ = reply.send(result.map(|response| Reply { response, zxid }));
        }
        Flow::Continue
    }
}
