//! Unit tests of the connection task against an in-memory fake server (`tokio::io::duplex`):
//! malformed and out-of-order frames, pipelining, ordering of events and replies, pings, read
//! timeouts, expiry and the handshake fields.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::time::timeout;
use zk_proto::jute::{Decode, Encode, JuteReader};
use zk_proto::{
    ConnectRequest, ConnectResponse, ErrorCode, EventType, GetDataResponse, KeeperState, OpCode,
    ReplyHeader, Request, RequestHeader, Stat, WatcherEvent,
};

use crate::driver::{BoxTransport, Connector};
use crate::{Client, Error, SessionState};

/// Hands each connection the client opens to the test.
fn fake_connector() -> (Connector, mpsc::UnboundedReceiver<DuplexStream>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let connector: Connector = Arc::new(move |_host: String, _port: u16| {
        let tx = tx.clone();
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(1 << 20);
            tx.send(server)
                .map_err(|_| std::io::Error::other("test is gone"))?;
            Ok(Box::new(client) as BoxTransport)
        })
    });
    (connector, rx)
}

struct FakeConn {
    io: DuplexStream,
    buf: BytesMut,
}

impl FakeConn {
    async fn read_frame(&mut self) -> Option<Bytes> {
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                let len = usize::try_from(len).ok()?;
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    return Some(self.buf.split_to(len).freeze());
                }
            }
            if self.io.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    async fn handshake(&mut self, session_id: i64, timeout_ms: i32) -> ConnectRequest {
        let frame = self.read_frame().await.expect("ConnectRequest");
        let request = ConnectRequest::decode(&mut JuteReader::new(frame)).expect("decodes");
        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms,
            session_id,
            passwd: Bytes::from_static(&[7; 16]),
            read_only: Some(false),
        };
        self.send(&response).await;
        request
    }

    /// Reads the next request, answering pings on the way.
    async fn request(&mut self) -> (RequestHeader, Request) {
        loop {
            let frame = self.read_frame().await.expect("a request");
            let mut reader = JuteReader::new(frame);
            let header = RequestHeader::decode(&mut reader).expect("header");
            if header.xid == zk_proto::xid::PING {
                self.reply(header.xid, 0, ErrorCode::Ok, &Empty).await;
                continue;
            }
            let request = Request::decode(header.op, &mut reader).expect("body");
            return (header, request);
        }
    }

    async fn send<T: Encode + ?Sized>(&mut self, item: &T) {
        let mut out = BytesMut::new();
        zk_proto::codec::encode_frame(item, &mut out, usize::MAX).expect("encodes");
        self.io.write_all(&out).await.expect("write");
    }

    async fn raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("write");
    }

    async fn reply<T: Encode>(&mut self, xid: i32, zxid: i64, err: ErrorCode, body: &T) {
        self.send(&(ReplyHeader { xid, zxid, err }, body)).await;
    }

    async fn data_reply(&mut self, xid: i32, zxid: i64, data: &'static [u8]) {
        let body = GetDataResponse {
            data: Some(Bytes::from_static(data)),
            stat: Stat::default(),
        };
        self.reply(xid, zxid, ErrorCode::Ok, &body).await;
    }
}

/// An empty reply body.
struct Empty;

impl Encode for Empty {
    fn encode(&self, _out: &mut BytesMut) {}
}

struct Harness {
    client: Client,
    conns: mpsc::UnboundedReceiver<DuplexStream>,
}

impl Harness {
    async fn start(session_timeout_ms: u64) -> (Harness, FakeConn) {
        let (connector, mut conns) = fake_connector();
        let builder = Client::builder("fake:2181")
            .session_timeout(Duration::from_millis(session_timeout_ms))
            .reconnect_backoff(Duration::from_millis(5), Duration::from_millis(20))
            .connector(connector);
        let connecting = tokio::spawn(builder.connect());
        let mut conn = FakeConn {
            io: conns.recv().await.expect("a connection"),
            buf: BytesMut::new(),
        };
        let session_timeout = i32::try_from(session_timeout_ms).unwrap_or(i32::MAX);
        conn.handshake(0x55, session_timeout).await;
        let client = connecting.await.expect("join").expect("connected");
        (Harness { client, conns }, conn)
    }

    async fn next_conn(&mut self) -> FakeConn {
        let io = timeout(Duration::from_secs(5), self.conns.recv())
            .await
            .expect("the client reconnects")
            .expect("a connection");
        FakeConn {
            io,
            buf: BytesMut::new(),
        }
    }
}

fn get_data(client: &Client, path: &'static str) -> tokio::task::JoinHandle<crate::Result<Bytes>> {
    let client = client.clone();
    tokio::spawn(async move { client.get_data(path).await.map(|(d, _)| d) })
}

#[tokio::test]
async fn requests_are_pipelined_in_order_and_answered_in_fifo_order() {
    let (h, mut conn) = Harness::start(30_000).await;
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let c = h.client.clone();
            tokio::spawn(async move { c.set_data("/a", format!("{i}"), None).await })
        })
        .collect();
    let mut xids = Vec::new();
    for _ in 0..100 {
        let (header, request) = conn.request().await;
        assert_eq!(header.op, OpCode::SetData);
        assert!(matches!(request, Request::SetData(_)));
        xids.push(header.xid);
    }
    let mut sorted = xids.clone();
    sorted.sort_unstable();
    assert_eq!(xids, sorted, "xids increase in wire order");
    for (i, xid) in xids.iter().enumerate() {
        let stat = Stat {
            version: i32::try_from(i).unwrap_or(0),
            ..Stat::default()
        };
        conn.reply(*xid, 10, ErrorCode::Ok, &stat).await;
    }
    for call in calls {
        call.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn an_out_of_order_reply_drops_the_connection_and_the_session_resumes() {
    let (mut h, mut conn) = Harness::start(30_000).await;
    let first = get_data(&h.client, "/a");
    let (h1, _) = conn.request().await;
    let second = get_data(&h.client, "/b");
    let (h2, _) = conn.request().await;
    conn.data_reply(h2.xid, 0x77, b"b").await;
    assert!(matches!(first.await.unwrap(), Err(Error::Protocol(_))));
    assert_eq!(second.await.unwrap(), Err(Error::ConnectionLoss));
    // Whoever hears ConnectionLoss already reads Suspended.
    assert_eq!(h.client.state(), SessionState::Suspended);
    assert_ne!(h1.xid, h2.xid);
    let mut conn = h.next_conn().await;
    let request = conn.handshake(0x55, 30_000).await;
    assert_eq!(request.session_id, 0x55, "the same session is resumed");
    assert_eq!(&request.passwd[..], &[7; 16]);
    h.client.wait_for_state(SessionState::is_connected).await;
    let again = get_data(&h.client, "/a");
    let (h3, _) = conn.request().await;
    assert!(h3.xid > h2.xid, "xids continue across reconnects");
    conn.data_reply(h3.xid, 0x78, b"a").await;
    assert_eq!(&again.await.unwrap().unwrap()[..], b"a");
}

#[tokio::test]
async fn malformed_frames_drop_the_connection_without_panicking() {
    let (mut h, mut conn) = Harness::start(30_000).await;
    let cases: [&[u8]; 4] = [
        // A frame too short for a reply header.
        &[0, 0, 0, 3, 1, 2, 3],
        // A negative length.
        &[0xff, 0xff, 0xff, 0xf0],
        // A length far over the limit.
        &[0x7f, 0xff, 0xff, 0xff],
        // A notification with a truncated body.
        &[
            0, 0, 0, 20, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3,
        ],
    ];
    for bytes in cases {
        let pending = get_data(&h.client, "/a");
        let _ = conn.request().await;
        conn.raw(bytes).await;
        assert_eq!(
            pending.await.unwrap(),
            Err(Error::ConnectionLoss),
            "{bytes:?}"
        );
        conn = h.next_conn().await;
        conn.handshake(0x55, 30_000).await;
        h.client.wait_for_state(SessionState::is_connected).await;
    }
    // A reply whose body does not decode fails that call and drops the connection.
    let pending = get_data(&h.client, "/a");
    let (header, _) = conn.request().await;
    conn.reply(header.xid, 1, ErrorCode::Ok, &7i32).await;
    assert!(matches!(pending.await.unwrap(), Err(Error::Protocol(_))));
    conn = h.next_conn().await;
    conn.handshake(0x55, 30_000).await;
    // A reply with nothing outstanding, too.
    h.client.wait_for_state(SessionState::is_connected).await;
    conn.data_reply(99, 1, b"x").await;
    let mut conn = h.next_conn().await;
    conn.handshake(0x55, 30_000).await;
    h.client.wait_for_state(SessionState::is_connected).await;
    assert_eq!(h.client.session_id(), 0x55);
}

#[tokio::test]
async fn a_watch_event_is_delivered_before_the_reply_that_follows_it() {
    let (h, mut conn) = Harness::start(30_000).await;
    let c = h.client.clone();
    let watched = tokio::spawn(async move { c.get_data_watch("/w").await });
    let (header, request) = conn.request().await;
    assert!(matches!(request, Request::GetData(r) if r.watch && r.path == "/w"));
    conn.data_reply(header.xid, 5, b"0").await;
    let (_, _, watch) = watched.await.unwrap().unwrap();
    let later = get_data(&h.client, "/w");
    let (header, _) = conn.request().await;
    let event = WatcherEvent {
        event_type: EventType::NodeDataChanged,
        state: KeeperState::SyncConnected,
        path: "/w".into(),
    };
    conn.reply(-1, -1, ErrorCode::Ok, &event).await;
    conn.data_reply(header.xid, 6, b"1").await;
    assert_eq!(&later.await.unwrap().unwrap()[..], b"1");
    let mut watch = std::pin::pin!(watch);
    match futures::poll!(watch.as_mut()) {
        std::task::Poll::Ready(e) => assert_eq!(e.event_type, EventType::NodeDataChanged),
        std::task::Poll::Pending => panic!("event not delivered before the later reply"),
    }
}

#[tokio::test]
async fn the_last_zxid_is_sent_on_reconnect_and_watches_are_re_registered() {
    let (mut h, mut conn) = Harness::start(30_000).await;
    let c = h.client.clone();
    let watched = tokio::spawn(async move { c.exists_watch("/x").await });
    let (header, _) = conn.request().await;
    conn.reply(header.xid, 0x99, ErrorCode::NoNode, &Empty)
        .await;
    let (stat, _watch) = watched.await.unwrap().unwrap();
    assert!(stat.is_none());
    drop(conn);
    let mut conn = h.next_conn().await;
    let request = conn.handshake(0x55, 30_000).await;
    assert_eq!(request.last_zxid_seen, 0x99);
    let (header, request) = conn.request().await;
    assert_eq!(header.op, OpCode::SetWatches2);
    match request {
        Request::SetWatches2(s) => {
            assert_eq!(s.relative_zxid, 0x99);
            assert_eq!(s.exist_watches, vec!["/x".to_owned()]);
        }
        other => panic!("expected SetWatches2, got {other:?}"),
    }
}

#[tokio::test]
async fn pings_after_a_third_of_the_timeout_and_silence_drops_the_connection() {
    let (mut h, mut conn) = Harness::start(3_000).await;
    // Idle: a ping within T/3 (+ slack).
    let frame = timeout(Duration::from_millis(1_500), conn.read_frame())
        .await
        .expect("a ping within 1.5 s")
        .expect("frame");
    assert_eq!(&frame[..], &[0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]);
    // Never answer: after 2T/3 of silence the client reconnects.
    let started = tokio::time::Instant::now();
    let _next = h.next_conn().await;
    assert!(started.elapsed() < Duration::from_millis(2_500));
    assert_eq!(h.client.state(), SessionState::Suspended);
}

#[tokio::test]
async fn an_expired_session_fails_requests_and_ends_watches() {
    let (mut h, mut conn) = Harness::start(30_000).await;
    let c = h.client.clone();
    let watched = tokio::spawn(async move { c.exists_watch("/x").await });
    let (header, _) = conn.request().await;
    conn.reply(header.xid, 1, ErrorCode::NoNode, &Empty).await;
    let (_, watch) = watched.await.unwrap().unwrap();
    drop(conn);
    let mut conn = h.next_conn().await;
    conn.handshake(0, 0).await;
    let event = timeout(Duration::from_secs(5), watch).await.unwrap();
    assert_eq!(event.state, KeeperState::Expired);
    assert_eq!(h.client.state(), SessionState::Expired);
    assert_eq!(h.client.get_data("/").await, Err(Error::SessionExpired));
}

#[tokio::test]
async fn oversized_and_invalid_requests_are_refused_before_sending() {
    let (h, mut conn) = Harness::start(30_000).await;
    let big = vec![0u8; 2 << 20];
    assert!(matches!(
        h.client.set_data("/a", &big, None).await,
        Err(Error::RequestTooLarge { .. })
    ));
    assert!(matches!(
        h.client.get_data("a").await,
        Err(Error::InvalidPath { .. })
    ));
    // Nothing reached the server: the next request is the first one it sees.
    let pending = get_data(&h.client, "/ok");
    let (_, request) = conn.request().await;
    assert!(matches!(request, Request::GetData(r) if r.path == "/ok"));
    drop(pending);
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_session() {
    let (h, mut conn) = Harness::start(30_000).await;
    drop(h.client);
    let (header, request) = conn.request().await;
    assert_eq!(header.op, OpCode::CloseSession);
    assert_eq!(request, Request::CloseSession);
    conn.reply(header.xid, 3, ErrorCode::Ok, &Empty).await;
}

#[tokio::test]
async fn a_server_without_set_watches2_gets_set_watches() {
    let (mut h, mut conn) = Harness::start(30_000).await;
    let c = h.client.clone();
    let watched = tokio::spawn(async move { c.get_data_watch("/x").await });
    let (header, _) = conn.request().await;
    conn.data_reply(header.xid, 0x10, b"x").await;
    let (_, _, _watch) = watched.await.unwrap().unwrap();
    drop(conn);
    let mut conn = h.next_conn().await;
    conn.handshake(0x55, 30_000).await;
    let (header, _) = conn.request().await;
    assert_eq!(header.op, OpCode::SetWatches2);
    // An old server does not know opcode 105.
    conn.reply(header.xid, -1, ErrorCode::Unimplemented, &Empty)
        .await;
    let mut conn = h.next_conn().await;
    conn.handshake(0x55, 30_000).await;
    let (header, request) = conn.request().await;
    assert_eq!(header.op, OpCode::SetWatches);
    match request {
        Request::SetWatches(s) => assert_eq!(s.data_watches, vec!["/x".to_owned()]),
        other => panic!("expected SetWatches, got {other:?}"),
    }
}

#[tokio::test]
async fn a_request_timeout_bounds_a_silent_server() {
    let (connector, mut conns) = fake_connector();
    let connecting = tokio::spawn(
        Client::builder("fake:2181")
            .request_timeout(Duration::from_millis(300))
            .connector(connector)
            .connect(),
    );
    let mut conn = FakeConn {
        io: conns.recv().await.expect("a connection"),
        buf: BytesMut::new(),
    };
    conn.handshake(0x55, 30_000).await;
    let client = connecting.await.unwrap().unwrap();
    let started = tokio::time::Instant::now();
    // Written, then no answer: the outcome is unknown (not a plain Timeout).
    assert_eq!(client.get_data("/a").await, Err(Error::OutcomeUnknown));
    assert!(started.elapsed() < Duration::from_secs(2));
    // The connection is still fine for later requests.
    let _ = conn.request().await;
    let later = get_data(&client, "/b");
    let (header, _) = conn.request().await;
    // The timed-out request's reply comes first, in FIFO order, and is dropped quietly.
    conn.data_reply(header.xid - 1, 1, b"a").await;
    conn.data_reply(header.xid, 2, b"b").await;
    assert_eq!(&later.await.unwrap().unwrap()[..], b"b");
}

#[tokio::test]
async fn a_server_behind_the_last_seen_zxid_is_left() {
    let (mut h, mut conn) = Harness::start(30_000).await;
    let first = get_data(&h.client, "/a");
    let (header, _) = conn.request().await;
    conn.data_reply(header.xid, 0x500, b"a").await;
    first.await.unwrap().unwrap();
    let stale = get_data(&h.client, "/a");
    let (header, _) = conn.request().await;
    conn.data_reply(header.xid, 0x400, b"old").await;
    assert!(matches!(stale.await.unwrap(), Err(Error::Protocol(_))));
    let mut conn = h.next_conn().await;
    let request = conn.handshake(0x55, 30_000).await;
    assert_eq!(request.last_zxid_seen, 0x500);
}

#[tokio::test]
async fn a_read_only_client_moves_to_a_read_write_server_when_one_answers_isro() {
    let (tx, mut conns) = mpsc::unbounded_channel::<(String, DuplexStream)>();
    let connector: Connector = Arc::new(move |host: String, _port: u16| {
        let tx = tx.clone();
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(1 << 16);
            tx.send((host, server))
                .map_err(|_| std::io::Error::other("test is gone"))?;
            Ok(Box::new(client) as BoxTransport)
        })
    });
    let connecting = tokio::spawn(
        Client::builder("ro:1,rw:2")
            .no_shuffle()
            .read_only(true)
            .connector(connector)
            .connect(),
    );
    let (host, io) = conns.recv().await.unwrap();
    assert_eq!(host, "ro");
    let mut ro = FakeConn {
        io,
        buf: BytesMut::new(),
    };
    let request = ro.read_frame().await.unwrap();
    let request = ConnectRequest::decode(&mut JuteReader::new(request)).unwrap();
    assert_eq!(request.read_only, Some(true));
    let response = ConnectResponse {
        protocol_version: 0,
        timeout_ms: 30_000,
        session_id: 0x77,
        passwd: Bytes::from_static(&[1; 16]),
        read_only: Some(true),
    };
    ro.send(&response).await;
    let client = connecting.await.unwrap().unwrap();
    assert_eq!(client.state(), SessionState::ConnectedReadOnly);
    // The client probes every host with `isro` and leaves for the read-write one.
    loop {
        let (host, mut io) = timeout(Duration::from_secs(10), conns.recv())
            .await
            .expect("a probe")
            .unwrap();
        let mut word = [0u8; 4];
        if io.read_exact(&mut word).await.is_err() {
            continue;
        }
        if &word == b"isro" {
            let answer: &[u8] = if host == "rw" { b"rw" } else { b"ro" };
            io.write_all(answer).await.unwrap();
            drop(io);
            if host == "rw" {
                break;
            }
        } else {
            panic!("unexpected first bytes {word:?} to {host}");
        }
    }
    let (host, io) = timeout(Duration::from_secs(10), conns.recv())
        .await
        .expect("a reconnect")
        .unwrap();
    assert_eq!(host, "rw");
    let mut rw = FakeConn {
        io,
        buf: BytesMut::new(),
    };
    let request = rw.handshake(0x88, 30_000).await;
    assert_eq!(
        request.session_id, 0,
        "a session opened on a read-only server is not resumed elsewhere"
    );
    client
        .wait_for_state(|s| s == SessionState::Connected)
        .await;
    assert_eq!(client.session_id(), 0x88);
    drop(ro);
}

#[tokio::test]
async fn close_does_not_wait_long_for_a_silent_server() {
    let (h, mut conn) = Harness::start(30_000).await;
    let started = tokio::time::Instant::now();
    let closing = tokio::spawn({
        let c = h.client.clone();
        async move { c.close().await }
    });
    let (header, _) = conn.request().await;
    assert_eq!(header.op, OpCode::CloseSession);
    timeout(Duration::from_secs(6), closing)
        .await
        .expect("close returns")
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(h.client.state(), SessionState::Closed);
    assert_eq!(h.client.get_data("/").await, Err(Error::Closed));
}

#[tokio::test]
async fn a_lagging_session_subscriber_gets_an_explicit_gap_marker_then_every_transition() {
    use futures::StreamExt;

    use crate::SessionUpdate;

    let (mut h, mut conn) = Harness::start(30_000).await;
    let mut in_order = h.client.session_events();
    let mut lagging = h.client.session_events();
    let mut watcher = h.client.state_watcher();
    let seen = watcher.borrow_and_update().disconnects;
    assert_eq!(seen, 0);
    // 80 reconnects: 160 transitions, more than the 128 a subscriber may fall behind.
    for round in 1..=80_u64 {
        drop(conn);
        conn = h.next_conn().await;
        conn.handshake(0x55, 30_000).await;
        h.client.wait_for_state(SessionState::is_connected).await;
        for state in [SessionState::Suspended, SessionState::Connected] {
            match timeout(Duration::from_secs(5), in_order.next()).await {
                Ok(Some(SessionUpdate::Changed(e))) => {
                    assert_eq!((e.state, e.disconnects), (state, round));
                }
                other => panic!("round {round}: expected {state:?}, got {other:?}"),
            }
        }
    }
    // The watcher sees only the latest state, Connected, but the counter says what happened.
    assert_eq!(watcher.borrow_and_update().state, SessionState::Connected);
    assert_eq!(watcher.borrow().disconnects, 80);
    match lagging.next().await {
        Some(SessionUpdate::Missed { skipped, current }) => {
            assert_eq!(skipped, 160);
            assert_eq!(current.state, SessionState::Connected);
            assert_eq!(current.disconnects, 80);
        }
        other => panic!("expected a gap marker, got {other:?}"),
    }
    // After the marker, transitions arrive one by one again.
    drop(conn);
    let mut conn = h.next_conn().await;
    conn.handshake(0x55, 30_000).await;
    for state in [SessionState::Suspended, SessionState::Connected] {
        match timeout(Duration::from_secs(5), lagging.next()).await {
            Ok(Some(SessionUpdate::Changed(e))) => {
                assert_eq!((e.state, e.disconnects), (state, 81));
            }
            other => panic!("expected {state:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_lease_is_the_send_time_of_the_latest_answered_request() {
    let (h, mut conn) = Harness::start(30_000).await;
    let lease = h.client.lease();
    assert_eq!(lease.session_id, 0x55);
    assert_eq!(lease.timeout, Duration::from_secs(30));
    let connected = lease.last_answered_send.expect("the connect was answered");
    // Two requests in flight; answering the first moves the lease to its send time.
    let first = get_data(&h.client, "/a");
    let (h1, _) = conn.request().await;
    let second = get_data(&h.client, "/b");
    let (h2, _) = conn.request().await;
    assert_eq!(h.client.lease().last_answered_send, Some(connected));
    conn.data_reply(h1.xid, 0x10, b"a").await;
    first.await.unwrap().unwrap();
    let after_first = h.client.lease();
    let t1 = after_first.last_answered_send.unwrap();
    assert!(t1 >= connected);
    assert_eq!(after_first.last_zxid, 0x10);
    conn.data_reply(h2.xid, 0x11, b"b").await;
    second.await.unwrap().unwrap();
    let after_second = h.client.lease();
    assert!(after_second.last_answered_send.unwrap() >= t1);
    assert_eq!(after_second.last_zxid, 0x11);
    assert_eq!(
        after_second.expires_no_earlier_than(),
        Some(after_second.last_answered_send.unwrap() + Duration::from_secs(30))
    );
}

#[tokio::test]
async fn a_request_withdrawn_while_disconnected_never_reaches_the_server() {
    let (connector, mut conns) = fake_connector();
    let connecting = tokio::spawn(
        Client::builder("fake:2181")
            .request_timeout(Duration::from_millis(200))
            .connect_timeout(Duration::from_secs(10))
            .connector(connector)
            .connect(),
    );
    let mut conn = FakeConn {
        io: conns.recv().await.expect("a connection"),
        buf: BytesMut::new(),
    };
    conn.handshake(0x55, 30_000).await;
    let client = connecting.await.unwrap().unwrap();
    drop(conn);
    // The client reconnects; the fake server holds the handshake until the callers gave up.
    let mut conn = FakeConn {
        io: timeout(Duration::from_secs(5), conns.recv())
            .await
            .unwrap()
            .unwrap(),
        buf: BytesMut::new(),
    };
    client
        .wait_for_state(|s| s == SessionState::Suspended)
        .await;
    let opts = crate::CreateOptions::persistent();
    assert_eq!(
        client.create("/timed-out", b"", &opts).await,
        Err(Error::Timeout)
    );
    let dropped = timeout(
        Duration::from_millis(50),
        client.create("/dropped", b"", &opts),
    )
    .await;
    assert!(dropped.is_err());
    conn.handshake(0x55, 30_000).await;
    client.wait_for_state(SessionState::is_connected).await;
    let marker = get_data(&client, "/marker");
    // The first request on the new connection is the marker: nothing withdrawn was written.
    let (header, request) = conn.request().await;
    assert!(
        matches!(&request, Request::GetData(r) if r.path == "/marker"),
        "{request:?}"
    );
    conn.data_reply(header.xid, 1, b"m").await;
    assert_eq!(&marker.await.unwrap().unwrap()[..], b"m");
}
