//! One client connection: the first four bytes decide between a four-letter word and the
//! protocol; then a reader forwards decoded frames to the state machine and a writer sends
//! what the state machine produces, in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::codec::Decoder;
use zk_proto::codec::{FrameCodec, four_letter_word};
use zk_proto::jute::{Decode, JuteReader};
use zk_proto::{ConnectRequest, Request, RequestHeader};

use crate::budget::{ByteBudget, ConnBudget};
use crate::four_letter;
use crate::state::Input;
use crate::watches::ConnId;

/// What the writer of a connection is told to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Write a frame.
    Frame(Bytes),
    /// Flush and close.
    Close,
}

/// Messages to the state-machine task.
#[derive(Debug)]
pub(crate) enum CoreMsg {
    /// A new connection's outbound queue.
    Register {
        conn: ConnId,
        tx: mpsc::UnboundedSender<Outbound>,
        budget: Arc<ConnBudget>,
    },
    /// An input for the state machine.
    Input(Input),
    /// A request, charged to its connection's budget at `cost` bytes until it is done.
    Request { input: Input, cost: usize },
    /// A four-letter word to answer.
    FourLetter {
        word: &'static str,
        reply: oneshot::Sender<String>,
    },
    /// An operator or test command from the embedded API.
    Admin(Admin),
}

/// Commands of the embedded API.
#[derive(Debug)]
pub(crate) enum Admin {
    ExpireSession {
        session: i64,
        reply: oneshot::Sender<bool>,
    },
    Sessions {
        reply: oneshot::Sender<Vec<i64>>,
    },
    DropConnections {
        session: Option<i64>,
        reply: oneshot::Sender<usize>,
    },
    LastZxid {
        reply: oneshot::Sender<i64>,
    },
}

/// Settings a connection needs.
#[derive(Debug, Clone)]
pub(crate) struct ConnSettings {
    pub(crate) max_frame_len: usize,
    pub(crate) whitelist: Arc<Vec<String>>,
    /// Bytes one connection may hold inside the server (requests not done, replies not
    /// written) before its socket is no longer read.
    pub(crate) max_connection_bytes: usize,
    /// The same for all connections together.
    pub(crate) global_budget: Arc<ByteBudget>,
    /// Wakes the core task when a connection's replies were written.
    pub(crate) core_wake: Arc<Notify>,
    pub(crate) handshake_timeout: Duration,
}

impl ConnSettings {
    /// The settings `config` asks for, sharing the server's byte budget and core wake-up.
    pub(crate) fn from_config(
        config: &crate::ServerConfig,
        global_budget: Arc<ByteBudget>,
        core_wake: Arc<Notify>,
    ) -> Self {
        Self {
            max_frame_len: config.max_frame_len,
            whitelist: Arc::new(config.four_letter_whitelist.clone()),
            max_connection_bytes: config.max_connection_bytes.max(1),
            global_budget,
            core_wake,
            handshake_timeout: Duration::from_millis(config.handshake_timeout_ms.max(1)),
        }
    }
}

/// What a request of `frame_len` bytes is charged: its decoded form (strings, vectors and
/// their allocations) takes more room than its wire bytes.
pub(crate) fn request_cost(frame_len: usize) -> usize {
    frame_len.saturating_mul(2).saturating_add(256)
}

/// Runs a connection to the end.
pub(crate) async fn run(
    mut stream: TcpStream,
    addr: SocketAddr,
    conn: ConnId,
    core: mpsc::Sender<CoreMsg>,
    settings: ConnSettings,
) {
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(4096);
    // One deadline for the whole handshake, not one per read: a client that drips its
    // ConnectRequest a byte at a time must not hold a connection slot for longer.
    let handshake_deadline = tokio::time::Instant::now() + settings.handshake_timeout;
    // The first four bytes: a four-letter word or the length of the ConnectRequest.
    let first = tokio::time::timeout_at(handshake_deadline, async {
        while buf.len() < 4 {
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
        }
        true
    })
    .await;
    if !matches!(first, Ok(true)) {
        return;
    }
    let head = [buf[0], buf[1], buf[2], buf[3]];
    if let Some(word) = four_letter_word(head) {
        let text = if four_letter::allowed(&settings.whitelist, word) {
            let (tx, rx) = oneshot::channel();
            if core
                .send(CoreMsg::FourLetter { word, reply: tx })
                .await
                .is_err()
            {
                return;
            }
            rx.await.unwrap_or_default()
        } else {
            four_letter::not_whitelisted(word)
        };
        let _ = stream.write_all(text.as_bytes()).await;
        let _ = stream.shutdown().await;
        // Drain what the client still sends (`echo ruok | nc` adds a newline): closing a socket
        // with unread bytes resets it, and the reset can destroy the reply in flight.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let mut scratch = [0u8; 256];
            while matches!(stream.read(&mut scratch).await, Ok(n) if n > 0) {}
        })
        .await;
        return;
    }

    // Unbounded in messages, bounded in bytes: every frame in it is charged to the budget.
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let budget = ConnBudget::new(
        settings.max_connection_bytes,
        settings.global_budget.clone(),
        settings.core_wake.clone(),
    );
    if core
        .send(CoreMsg::Register {
            conn,
            tx: out_tx,
            budget: budget.clone(),
        })
        .await
        .is_err()
        || core
            .send(CoreMsg::Input(Input::Open { conn, addr }))
            .await
            .is_err()
    {
        return;
    }
    let (mut rd, wr) = stream.into_split();
    let closed = Arc::new(Notify::new());
    let writer = tokio::spawn(write_loop(wr, out_rx, closed.clone(), budget.clone()));
    let mut codec = FrameCodec::new(settings.max_frame_len);
    let mut handshaken = false;
    'read: loop {
        loop {
            let frame = match codec.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::info!(conn, %addr, "closing connection: {e}");
                    break 'read;
                }
            };
            let msg = if handshaken {
                // Bytes, not counts: the request is charged until it is done, replies until
                // they are written. Over this connection's or the server's budget, the socket
                // is not read (this frame waits) until they drain.
                tokio::select! {
                    _ = budget.wait_for_room() => {}
                    _ = closed.notified() => break 'read,
                }
                let cost = request_cost(frame.len());
                budget.charge(cost);
                let mut r = JuteReader::new(frame);
                let Ok(header) = RequestHeader::decode(&mut r) else {
                    tracing::info!(conn, %addr, "closing connection: truncated request header");
                    break 'read;
                };
                let body = Request::decode(header.op, &mut r);
                let input = Input::Request {
                    conn,
                    xid: header.xid,
                    op: header.op,
                    body,
                };
                CoreMsg::Request { input, cost }
            } else {
                let mut r = JuteReader::new(frame);
                match ConnectRequest::decode(&mut r) {
                    Ok(request) if r.is_empty() => {
                        handshaken = true;
                        CoreMsg::Input(Input::Connect { conn, request })
                    }
                    _ => {
                        tracing::info!(conn, %addr, "closing connection: first frame is not a ConnectRequest");
                        break 'read;
                    }
                }
            };
            if core.send(msg).await.is_err() {
                break 'read;
            }
        }
        let read = if handshaken {
            tokio::select! {
                r = rd.read_buf(&mut buf) => r,
                _ = closed.notified() => break 'read,
            }
        } else {
            tokio::select! {
                r = tokio::time::timeout_at(handshake_deadline, rd.read_buf(&mut buf)) => match r {
                    Ok(r) => r,
                    Err(_) => break 'read,
                },
                _ = closed.notified() => break 'read,
            }
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    // Stop the writer (which owns the write half) so the socket closes now; a close the state
    // machine asked for has already been flushed by then.
    writer.abort();
    let _ = writer.await;
    drop(rd);
    // Whatever this connection still holds (replies never written, requests not done) goes
    // back to the server's budget now.
    budget.close();
    let _ = core.send(CoreMsg::Input(Input::Closed { conn })).await;
}

async fn write_loop(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    closed: Arc<Notify>,
    budget: Arc<ConnBudget>,
) {
    let mut out = BytesMut::new();
    'outer: while let Some(first) = rx.recv().await {
        let mut close = false;
        let mut frames = 0usize;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Outbound::Frame(b) => {
                    out.extend_from_slice(&b);
                    frames += 1;
                }
                Outbound::Close => {
                    close = true;
                    break;
                }
            }
            if out.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if !out.is_empty() {
            let written = tokio::select! {
                r = wr.write_all(&out) => r.is_ok(),
                _ = budget.closed() => false,
            };
            if !written {
                break 'outer;
            }
            budget.written(out.len(), frames);
            out.clear();
        }
        if close {
            break;
        }
    }
    let _ = wr.shutdown().await;
    closed.notify_one();
}
