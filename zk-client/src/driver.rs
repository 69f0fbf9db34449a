//! The driver: the one tokio task that owns the socket and feeds the sans-IO [`Core`].
//!
//! It connects where the core says ([`Step`]), performs the handshake, then moves bytes: what
//! the socket reads goes to [`Core::handle_input`], what the core has to send
//! ([`Core::transmit`]) goes to the socket, commands from the handles go to
//! [`Core::handle_command`] (only while the core wants more: backpressure), and the timer
//! fires at [`Core::poll_timeout`]. After every step it publishes the core's session
//! transitions and lease. Every decision is the core's.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_util::codec::Decoder;
use tracing::{Instrument, info};
use zk_proto::codec::{FrameCodec, encode_frame};
use zk_proto::jute::{Decode, JuteReader};
use zk_proto::{ConnectRequest, ConnectResponse, ReplyHeader};

use crate::config::Config;
use crate::core::{Command, Core, Publisher, Step};
use crate::lease::Lease;
use crate::session::SessionEvent;

/// A byte stream to a server: TCP, TLS, or an in-memory pipe in tests.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for T {}

/// A boxed [`Transport`].
pub(crate) type BoxTransport = Box<dyn Transport>;

/// Opens a transport to `(host, port)`.
pub(crate) type Connector =
    Arc<dyn Fn(String, u16) -> BoxFuture<'static, io::Result<BoxTransport>> + Send + Sync>;

/// Plain TCP with Nagle off.
pub(crate) fn tcp_connector() -> Connector {
    Arc::new(|host: String, port: u16| {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxTransport)
        })
    })
}

/// Replies may be somewhat larger than requests (a getData of a full node).
const REPLY_SLACK: usize = 64 * 1024;

/// The task's shared outputs.
pub(crate) struct Outputs {
    /// The latest transition (handed to the core's [`Publisher`]).
    pub state: watch::Sender<SessionEvent>,
    pub events: broadcast::Sender<SessionEvent>,
    /// `host:port` of the server while connected.
    pub server: Arc<std::sync::Mutex<Option<String>>>,
    /// The lease, which the core updates before it delivers the reply that moves it.
    pub lease: Arc<std::sync::Mutex<Lease>>,
}

/// The connection task.
pub(crate) struct SessionTask {
    core: Core,
    connector: Connector,
    rx: mpsc::UnboundedReceiver<Command>,
    out: Outputs,
    config: Config,
}

/// Why [`SessionTask::drive`] returned before its future completed.
enum Interrupt {
    /// The core's timer fired (the session deadline) or the session ended.
    Core,
}

impl SessionTask {
    pub(crate) fn new(
        config: Config,
        connector: Connector,
        rx: mpsc::UnboundedReceiver<Command>,
        out: Outputs,
    ) -> Self {
        let mut core = Core::new(config.clone(), Instant::now(), Arc::clone(&out.lease));
        core.publish_to(Publisher {
            state: out.state.clone(),
            events: out.events.clone(),
            server: Arc::clone(&out.server),
        });
        Self {
            core,
            connector,
            rx,
            out,
            config,
        }
    }

    /// Runs the session until it ends.
    pub(crate) async fn run(mut self) {
        loop {
            self.publish();
            match self.core.next_step(Instant::now()) {
                Step::Finished => break,
                Step::Sleep(until) => {
                    let _ = self.drive(tokio::time::sleep_until(until)).await;
                }
                Step::Connect {
                    host,
                    port,
                    request,
                    timeout,
                } => {
                    let connect_sent = Instant::now();
                    let attempt = handshake(
                        self.connector.clone(),
                        host.clone(),
                        port,
                        timeout,
                        request,
                        self.config.max_frame_len,
                    );
                    let span = tracing::debug_span!("zk_connect", %host, port);
                    match self.drive(attempt.instrument(span)).await {
                        Err(Interrupt::Core) => {}
                        Ok(Err(e)) => self.core.connect_failed(&format!("{host}:{port}: {e}")),
                        Ok(Ok((io, response, rbuf))) => {
                            if self
                                .core
                                .handshake_done(&response, connect_sent, Instant::now())
                            {
                                let span = tracing::info_span!(
                                    "zk_conn",
                                    %host,
                                    port,
                                    session_id = format_args!("{:#x}", response.session_id)
                                );
                                self.serve(io, rbuf).instrument(span).await;
                            }
                        }
                    }
                }
            }
        }
        self.publish();
        // Answer whatever is still queued.
        self.rx.close();
        while let Ok(cmd) = self.rx.try_recv() {
            self.core.handle_command(cmd, Instant::now());
        }
    }

    /// Publishes the core's transitions (the core publishes the lease itself, see
    /// [`Outputs::lease`]).
    fn publish(&mut self) {
        while let Some(event) = self.core.poll_event() {
            self.out.state.send_replace(event);
            let _ = self.out.events.send(event);
        }
        for done in self.core.take_close_waiters() {
            let _ = done.send(());
        }
    }

    /// Runs `fut` while disconnected, feeding commands (queued in the core's backlog until
    /// connected) and the core's timer (the client-side session deadline) to the core.
    async fn drive<F: Future>(&mut self, fut: F) -> Result<F::Output, Interrupt> {
        let mut fut = std::pin::pin!(fut);
        loop {
            if self.core.is_finished() {
                return Err(Interrupt::Core);
            }
            let deadline = self.core.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                out = &mut fut => return Ok(out),
                () = sleep => {
                    self.core.handle_timeout(Instant::now());
                    self.publish();
                    return Err(Interrupt::Core);
                }
                cmd = self.rx.recv() => {
                    let cmd = cmd.unwrap_or(Command::Close { done: None });
                    self.core.handle_command(cmd, Instant::now());
                    self.publish();
                }
            }
        }
    }

    /// Serves one established connection until the core drops it or the session ends.
    async fn serve(&mut self, mut io: BoxTransport, mut rbuf: BytesMut) {
        let mut wbuf = BytesMut::with_capacity(64 * 1024);
        let mut flush_pending = false;
        let mut probe = self.read_only_probe();
        self.core.handle_input(&mut rbuf, Instant::now());
        self.core.transmit(&mut wbuf);
        self.publish();
        let mut timer = std::pin::pin!(tokio::time::sleep_until(
            self.core
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
        ));
        while self.core.is_connected() && !self.core.is_finished() {
            if let Some(next) = self.core.poll_timeout()
                && next != timer.deadline()
            {
                timer.as_mut().reset(next);
            }
            let wants = self.core.wants_commands(wbuf.len());
            let io_step = std::future::poll_fn(|cx| {
                poll_io(&mut io, &mut rbuf, &mut wbuf, &mut flush_pending, cx)
            });
            tokio::select! {
                step = io_step => match step {
                    Err(e) => self.core.connection_lost(&format!("i/o error: {e}")),
                    Ok(IoStep::Wrote) => {}
                    Ok(IoStep::Read(0)) => {
                        self.core.connection_lost("the server closed the connection");
                    }
                    Ok(IoStep::Read(_)) => self.core.handle_input(&mut rbuf, Instant::now()),
                },
                cmd = self.rx.recv(), if wants => {
                    let now = Instant::now();
                    let cmd = cmd.unwrap_or(Command::Close { done: None });
                    self.core.handle_command(cmd, now);
                    // Take what is already queued, up to the core's limits, in one write.
                    while self.core.is_connected() && self.core.wants_commands(wbuf.len()) {
                        match self.rx.try_recv() {
                            Ok(cmd) => self.core.handle_command(cmd, now),
                            Err(mpsc::error::TryRecvError::Empty) => break,
                            Err(mpsc::error::TryRecvError::Disconnected) => {
                                self.core.handle_command(Command::Close { done: None }, now);
                            }
                        }
                    }
                },
                () = &mut timer => self.core.handle_timeout(Instant::now()),
                found = &mut probe => {
                    if let Some(index) = found {
                        info!("a read-write server is reachable; leaving the read-only one");
                        self.core.prefer_host(index);
                        self.core.connection_lost("moving to a read-write server");
                    }
                    probe = self.read_only_probe();
                },
            }
            self.core.transmit(&mut wbuf);
            self.publish();
        }
    }

    /// While on a read-only server, periodically looks for a read-write one (`isro`).
    fn read_only_probe(&self) -> BoxFuture<'static, Option<usize>> {
        let hosts = self.core.hosts().to_vec();
        if !self.core.is_read_only() || hosts.len() < 2 {
            return Box::pin(std::future::pending());
        }
        let interval = self.config.read_only_probe_interval;
        let connector = self.connector.clone();
        Box::pin(async move {
            tokio::time::sleep(interval).await;
            for (i, (host, port)) in hosts.into_iter().enumerate() {
                let probe = async {
                    let mut io = connector(host, port).await?;
                    io.write_all(b"isro").await?;
                    let mut answer = Vec::new();
                    io.read_to_end(&mut answer).await?;
                    io::Result::Ok(answer)
                };
                if let Ok(Ok(answer)) = tokio::time::timeout(interval, probe).await
                    && answer.starts_with(b"rw")
                {
                    return Some(i);
                }
            }
            None
        })
    }
}

enum IoStep {
    Read(usize),
    Wrote,
}

/// One step of socket I/O: write what is buffered (then flush), else read what is there.
fn poll_io(
    io: &mut BoxTransport,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    flush_pending: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<io::Result<IoStep>> {
    if !wbuf.is_empty() {
        match Pin::new(&mut **io).poll_write(cx, wbuf) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => {
                wbuf.advance(n);
                if wbuf.is_empty() {
                    wbuf.clear();
                    *flush_pending = true;
                }
                return Poll::Ready(Ok(IoStep::Wrote));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
    } else if *flush_pending {
        match Pin::new(&mut **io).poll_flush(cx) {
            Poll::Ready(Ok(())) => *flush_pending = false,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
    }
    if rbuf.capacity() - rbuf.len() < 8 * 1024 {
        rbuf.reserve(64 * 1024);
    }
    match tokio_util::io::poll_read_buf(Pin::new(&mut **io), cx, rbuf) {
        Poll::Ready(Ok(n)) => Poll::Ready(Ok(IoStep::Read(n))),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// Connects and exchanges ConnectRequest/ConnectResponse, within `timeout`.
async fn handshake(
    connector: Connector,
    host: String,
    port: u16,
    timeout: Duration,
    request: ConnectRequest,
    max_frame_len: usize,
) -> io::Result<(BoxTransport, ConnectResponse, BytesMut)> {
    let attempt = async {
        let mut io = connector(host, port).await?;
        let mut out = BytesMut::with_capacity(64);
        encode_frame(&request, &mut out, max_frame_len).map_err(io::Error::other)?;
        io.write_all(&out).await?;
        io.flush().await?;
        let mut rbuf = BytesMut::with_capacity(64 * 1024);
        let mut codec = FrameCodec::new(max_frame_len + REPLY_SLACK);
        loop {
            if let Some(frame) = codec.decode(&mut rbuf).map_err(io::Error::other)? {
                let response = match ConnectResponse::decode(&mut JuteReader::new(frame.clone())) {
                    Ok(response) => response,
                    // A read-only server without local sessions answers a new session with a
                    // bare error header (NotReadOnly).
                    Err(e) => {
                        let why = match ReplyHeader::decode(&mut JuteReader::new(frame)) {
                            Ok(h) if !h.err.is_ok() => {
                                format!("the server refused the session: {}", h.err)
                            }
                            _ => format!("bad ConnectResponse: {e}"),
                        };
                        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
                    }
                };
                return Ok((io, response, rbuf));
            }
            if io.read_buf(&mut rbuf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection during the handshake \
                     (it may be behind our last zxid, or read-only)",
                ));
            }
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timeout"))?
}
