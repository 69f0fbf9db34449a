//! A minimal protocol-level client for tests: it speaks raw frames through `zk-proto`, so a
//! test can send exactly what it wants (pipelined requests, bad frames, stolen sessions) and see
//! exactly what the server answers, notifications included.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use zk_proto::{CreateRequest, Request, Response, acl::Acl};
//! use zk_server_mini::MiniServer;
//! use zk_server_mini::testing::RawClient;
//!
//! let dir = std::env::temp_dir().join(format!("zk-mini-raw-doc-{}", std::process::id()));
//! let server = MiniServer::builder().data_dir(&dir).start().await?;
//! let mut c = RawClient::connect(server.addr(), 10_000).await?;
//! let create = Request::Create(CreateRequest {
//!     path: "/hello".into(), data: None, acl: Acl::open_unsafe(), flags: 0,
//! });
//! let (header, body) = c.call(&create).await?;
//! assert!(header.err.is_ok());
//! assert!(matches!(body, Some(Response::Create(r)) if r.path == "/hello"));
//! server.stop().await;
//! # let _ = std::fs::remove_dir_all(&dir);
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};
use zk_proto::codec::FrameCodec;
use zk_proto::jute::{Decode, JuteReader};
use zk_proto::{
    ConnectRequest, ConnectResponse, OpCode, ReplyHeader, Request, RequestHeader, Response,
    WatcherEvent,
};

/// How long a [`RawClient`] waits for a frame.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(zk_server_mini::testing::READ_TIMEOUT, Duration::from_secs(10));
/// ```
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A raw protocol client (see the module docs).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use zk_server_mini::MiniServer;
/// use zk_server_mini::testing::RawClient;
/// let dir = std::env::temp_dir().join(format!("zk-mini-raw-ty-doc-{}", std::process::id()));
/// let server = MiniServer::builder().data_dir(&dir).start().await?;
/// use zk_proto::{CreateRequest, EventType, GetDataRequest, Request, SetDataRequest, acl::Acl};
/// let mut c = RawClient::connect(server.addr(), 10_000).await?;
/// let create = CreateRequest { path: "/w".into(), data: None, acl: Acl::open_unsafe(), flags: 0 };
/// c.call(&Request::Create(create)).await?;
/// c.call(&Request::GetData(GetDataRequest { path: "/w".into(), watch: true })).await?;
/// let set = SetDataRequest { path: "/w".into(), data: Some("v".into()), version: -1 };
/// c.call(&Request::SetData(set)).await?;
/// // the notification arrived before the SetData reply and was kept aside
/// assert_eq!(c.events.len(), 1);
/// assert_eq!(c.events[0].event_type, EventType::NodeDataChanged);
/// server.stop().await;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    codec: FrameCodec,
    next_xid: i32,
    /// The ConnectResponse the server sent.
    pub session: ConnectResponse,
    /// Notifications received while waiting for replies, in order.
    pub events: Vec<WatcherEvent>,
}

fn io_err(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::other(msg.into())
}

impl RawClient {
    /// Opens a new session with `timeout_ms`.
    ///
    /// # Errors
    /// Connection failures, or a server that refused the session.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// use zk_server_mini::testing::RawClient;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-raw-connect-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// let c = RawClient::connect(server.addr(), 10_000).await?;
    /// assert_ne!(c.session.session_id, 0);
    /// assert_eq!(c.session.timeout_ms, 10_000); // within the server's bounds (4 s to 40 s here)
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn connect(addr: SocketAddr, timeout_ms: i32) -> std::io::Result<Self> {
        let (c, resp) = Self::connect_with(addr, ConnectRequest::new_session(timeout_ms)).await?;
        if resp.is_expired() {
            return Err(io_err("session refused"));
        }
        Ok(c)
    }

    /// Sends `request` as the ConnectRequest and returns the client with the response.
    ///
    /// # Errors
    /// Connection failures, or no response (the server closed the socket).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// use zk_server_mini::testing::RawClient;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-raw-connectwith-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// use zk_proto::ConnectRequest;
    /// let (first, _) = RawClient::connect_with(server.addr(), ConnectRequest::new_session(10_000)).await?;
    /// // resume the same session on a second connection, as a client does after a disconnect
    /// let resume = ConnectRequest {
    ///     session_id: first.session.session_id,
    ///     passwd: first.session.passwd.clone(),
    ///     ..ConnectRequest::new_session(10_000)
    /// };
    /// let (_second, resp) = RawClient::connect_with(server.addr(), resume).await?;
    /// assert_eq!(resp.session_id, first.session.session_id);
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(
        addr: SocketAddr,
        request: ConnectRequest,
    ) -> std::io::Result<(Self, ConnectResponse)> {
        let stream = TcpStream::connect(addr).await?;
        let mut c = Self {
            stream,
            buf: BytesMut::new(),
            codec: FrameCodec::new(64 << 20),
            next_xid: 1,
            session: ConnectResponse::expired(None),
            events: Vec::new(),
        };
        let mut out = BytesMut::new();
        c.codec
            .encode(&request, &mut out)
            .map_err(|e| io_err(e.to_string()))?;
        c.stream.write_all(&out).await?;
        let frame = c
            .read_frame()
            .await?
            .ok_or_else(|| io_err("closed before the ConnectResponse"))?;
        let resp = ConnectResponse::decode(&mut JuteReader::new(frame))
            .map_err(|e| io_err(e.to_string()))?;
        c.session = resp.clone();
        Ok((c, resp))
    }

    /// Writes raw bytes.
    ///
    /// # Errors
    /// Write failures.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// use zk_server_mini::testing::RawClient;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-raw-sendraw-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// use std::time::Duration;
    /// let mut c = RawClient::connect(server.addr(), 10_000).await?;
    /// c.send_raw(&[0xff, 0xff, 0xff, 0xff]).await?; // a negative frame length
    /// assert!(c.closed_within(Duration::from_secs(5)).await);
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends a request with an explicit xid, without waiting.
    ///
    /// # Errors
    /// Write failures.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// use zk_server_mini::testing::RawClient;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-raw-send-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// use zk_proto::{ExistsRequest, Request};
    /// let mut c = RawClient::connect(server.addr(), 10_000).await?;
    /// let exists = |p: &str| Request::Exists(ExistsRequest { path: p.into(), watch: false });
    /// c.send(10, &exists("/a")).await?; // pipelined: both are sent before any reply is read
    /// c.send(11, &exists("/b")).await?;
    /// assert_eq!(c.read_reply().await?.0.xid, 10);
    /// assert_eq!(c.read_reply().await?.0.xid, 11);
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn send(&mut self, xid: i32, request: &Request) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        self.codec
            .encode(
                (RequestHeader::new(xid, request.op_code()), request),
                &mut out,
            )
            .map_err(|e| io_err(e.to_string()))?;
        self.stream.write_all(&out).await
    }

    /// Reads one frame payload; `None` when the server closed the connection.
    ///
    /// # Errors
    /// Timeouts, bad frames.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// use zk_server_mini::testing::RawClient;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-raw-frame-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// use zk_proto::{ExistsRequest, Request};
    /// let mut c = RawClient::connect(server.addr(), 10_000).await?;
    /// c.send(5, &Request::Exists(ExistsRequest { path: "/".into(), watch: false })).await?;
    /// let frame = c.read_frame().await?.expect("a reply frame");
    /// assert!(frame.len() >= 16); // the reply header: xid, zxid, err
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn read_frame(&mut self) -> std::io::Result<Option<Bytes>> {
        loop {
            if let Some(frame) = self
                .codec
                .decode(&mut self.buf)
                .map_err(|e| io_err(e.to_string()))?
            {
                return Ok(Some(frame));
            }
            let n = tokio::time::timeout(READ_TIMEOUT, self.stream.read_buf(&mut self.buf))
                .await
                .map_err(|_| io_err("timed out waiting for a frame"))??;
            if n == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads the next reply (collecting notifications into [`RawClient::events`]); the body is
    /// returned undecoded.
    ///
    /// # Errors
    /// Timeouts, a closed connection, bad frames.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// use zk_server_mini::testing::RawClient;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-raw-reply-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// use zk_proto::{ErrorCode, ExistsRequest, Request};
    /// let mut c = RawClient::connect(server.addr(), 10_000).await?;
    /// c.send(5, &Request::Exists(ExistsRequest { path: "/missing".into(), watch: false })).await?;
    /// let (header, body) = c.read_reply().await?;
    /// assert_eq!((header.xid, header.err), (5, ErrorCode::NoNode));
    /// assert!(body.is_empty());
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn read_reply(&mut self) -> std::io::Result<(ReplyHeader, Bytes)> {
        loop {
            let frame = self
                .read_frame()
                .await?
                .ok_or_else(|| io_err("connection closed"))?;
            let mut r = JuteReader::new(frame);
            let header = ReplyHeader::decode(&mut r).map_err(|e| io_err(e.to_string()))?;
            if header.xid == zk_proto::xid::NOTIFICATION {
                let event = WatcherEvent::decode(&mut r).map_err(|e| io_err(e.to_string()))?;
                self.events.push(event);
                continue;
            }
            return Ok((header, r.take_rest()));
        }
    }

    /// Sends a request with the next xid and waits for its reply, decoding the body when the
    /// reply is a success (or a multi).
    ///
    /// # Errors
    /// Timeouts, a closed connection, an out-of-order reply, bad frames.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// use zk_server_mini::testing::RawClient;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-raw-call-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// use zk_proto::{ErrorCode, ExistsRequest, Request, Response};
    /// let mut c = RawClient::connect(server.addr(), 10_000).await?;
    /// let (header, body) = c.call(&Request::Exists(ExistsRequest { path: "/".into(), watch: false })).await?;
    /// assert!(header.err.is_ok());
    /// assert!(matches!(body, Some(Response::Stat(_)))); // exists: the stat
    /// let (header, body) = c.call(&Request::Exists(ExistsRequest { path: "/nope".into(), watch: false })).await?;
    /// assert_eq!(header.err, ErrorCode::NoNode);
    /// assert!(body.is_none());
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn call(
        &mut self,
        request: &Request,
    ) -> std::io::Result<(ReplyHeader, Option<Response>)> {
        let xid = match request {
            Request::Ping => zk_proto::xid::PING,
            Request::Auth(_) => zk_proto::xid::AUTH,
            _ => {
                self.next_xid += 1;
                self.next_xid
            }
        };
        self.send(xid, request).await?;
        let (header, body) = self.read_reply().await?;
        if header.xid != xid {
            return Err(io_err(format!(
                "reply xid {} for request {xid}",
                header.xid
            )));
        }
        let op = request.op_code();
        let decoded = if header.err.is_ok() || (op == OpCode::Multi && !body.is_empty()) {
            Some(
                Response::decode(op, &mut JuteReader::new(body))
                    .map_err(|e| io_err(e.to_string()))?,
            )
        } else {
            None
        };
        Ok((header, decoded))
    }

    /// Waits until the server closes the connection (true) or `wait` passes (false). Frames
    /// that arrive meanwhile are discarded.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use zk_server_mini::MiniServer;
    /// use zk_server_mini::testing::RawClient;
    /// let dir = std::env::temp_dir().join(format!("zk-mini-raw-closed-doc-{}", std::process::id()));
    /// let server = MiniServer::builder().data_dir(&dir).start().await?;
    /// use std::time::Duration;
    /// let mut c = RawClient::connect(server.addr(), 10_000).await?;
    /// assert!(!c.closed_within(Duration::from_millis(100)).await); // still open
    /// server.drop_connections(None).await;
    /// assert!(c.closed_within(Duration::from_secs(5)).await);
    /// server.stop().await;
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(()) }
    /// ```
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut scratch = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut scratch)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}
