//! Deterministic tests of the [`Core`]: no sockets, no runtime, virtual time (instants made by
//! adding durations to one start instant). Each test plays the server by hand: it reads the
//! frames the core wants to send and feeds it reply frames.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::sync::oneshot;
use tokio::time::Instant;
use zk_proto::codec::encode_frame;
use zk_proto::jute::{Decode, Encode, JuteReader};
use zk_proto::{
    AddWatchMode, AddWatchRequest, ConnectResponse, ErrorCode, EventType, ExistsRequest,
    GetDataRequest, GetDataResponse, KeeperState, OpCode, ReplyHeader, Request, RequestHeader,
    Stat, WatcherEvent,
};

use super::requests::{SET_WATCHES_BATCH, batches};
use super::{Command, Core, Effect, MAX_IN_FLIGHT, MAX_UNSENT, Outgoing, Reply, Step};
use crate::config::{Config, ConnectString, ExpiryPolicy};
use crate::error::{Error, Result};
use crate::event_queue::{EventReceiver, event_queue};
use crate::lease::Lease;
use crate::session::SessionState;
use crate::ticket::Ticket;
use crate::watch::{OneshotKind, PersistentEvent, WatchLists, WatchRegistration, WatchedEvent};

const T: Duration = Duration::from_secs(3);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(policy: ExpiryPolicy) -> Config {
    let cs: ConnectString = "a:1,b:2".parse().unwrap_or_else(|e| panic!("{e}"));
    let mut config = Config::new(cs);
    config.shuffle_hosts = false;
    config.session_timeout = T;
    config.expiry_policy = policy;
    config
}

/// A core with its virtual clock and the frames it sent.
struct Sim {
    core: Core,
    t0: Instant,
    wire: BytesMut,
}

type Answer = oneshot::Receiver<Result<Reply>>;

impl Sim {
    fn new(policy: ExpiryPolicy) -> Self {
        let t0 = Instant::now();
        let cell = Arc::new(Mutex::new(Lease::none()));
        Self {
            core: Core::new(config(policy), t0, cell),
            t0,
            wire: BytesMut::new(),
        }
    }

    fn at(&self, offset: Duration) -> Instant {
        self.t0 + offset
    }

    /// Connects at `offset` with session `id` (the core must ask for a connection).
    fn connect(&mut self, offset: Duration, id: i64) {
        let now = self.at(offset);
        match self.core.next_step(now) {
            Step::Connect { .. } => {}
            other => panic!("expected a connection attempt, got {other:?}"),
        }
        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 3000,
            session_id: id,
            passwd: Bytes::from_static(&[1; 16]),
            read_only: Some(false),
        };
        assert!(self.core.handshake_done(&response, now, now));
        self.wire.clear();
    }

    /// The frames the core has to send, decoded.
    fn sent(&mut self) -> Vec<(RequestHeader, Option<Request>)> {
        self.core.transmit(&mut self.wire);
        let mut out = Vec::new();
        while self.wire.len() >= 4 {
            let len = usize::try_from(self.wire.get_i32()).unwrap_or(0);
            let frame = self.wire.split_to(len).freeze();
            let mut reader = JuteReader::new(frame);
            let header = RequestHeader::decode(&mut reader).unwrap_or_else(|e| panic!("{e}"));
            let body = if header.xid == zk_proto::xid::PING {
                None
            } else {
                Some(Request::decode(header.op, &mut reader).unwrap_or_else(|e| panic!("{e}")))
            };
            out.push((header, body));
        }
        out
    }

    fn feed<B: Encode>(&mut self, offset: Duration, xid: i32, zxid: i64, err: ErrorCode, body: &B) {
        let mut buf = BytesMut::new();
        encode_frame(
            &(ReplyHeader { xid, zxid, err }, body),
            &mut buf,
            usize::MAX,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let now = self.at(offset);
        self.core.handle_input(&mut buf, now);
    }

    fn request(&mut self, offset: Duration, request: Request) -> (Answer, Arc<Ticket>) {
        self.request_with(offset, request, None, Effect::None)
    }

    fn request_with(
        &mut self,
        offset: Duration,
        request: Request,
        watch: Option<WatchRegistration>,
        effect: Effect,
    ) -> (Answer, Arc<Ticket>) {
        let mut frame = BytesMut::new();
        let op = request.op_code();
        encode_frame(
            &(RequestHeader::new(0, op), &request),
            &mut frame,
            usize::MAX,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (reply, answer) = oneshot::channel();
        let ticket = Arc::new(Ticket::default());
        let out = Outgoing {
            op,
            frame,
            reply: Some(reply),
            watch,
            effect,
            ticket: Arc::clone(&ticket),
            permit: None,
        };
        let now = self.at(offset);
        self.core.handle_command(Command::Request(out), now);
        (answer, ticket)
    }

    fn states(&mut self) -> Vec<(SessionState, u64)> {
        std::iter::from_fn(|| self.core.poll_event())
            .map(|e| (e.state, e.disconnects))
            .collect()
    }
}

fn get_data(path: &str) -> Request {
    Request::GetData(GetDataRequest {
        path: path.into(),
        watch: false,
    })
}

fn data(bytes: &'static [u8]) -> GetDataResponse {
    GetDataResponse {
        data: Some(Bytes::from_static(bytes)),
        stat: Stat::default(),
    }
}

struct Empty;

impl Encode for Empty {
    fn encode(&self, _out: &mut BytesMut) {}
}

fn answer(rx: &mut Answer) -> Result<Reply> {
    rx.try_recv()
        .unwrap_or_else(|e| panic!("no answer delivered: {e}"))
}

#[test]
fn replies_out_of_order_fail_the_head_and_drop_the_connection() {
    let mut sim = Sim::new(ExpiryPolicy::Stay);
    sim.connect(ms(0), 0x55);
    let (mut first, _) = sim.request(ms(10), get_data("/a"));
    let (mut second, _) = sim.request(ms(10), get_data("/b"));
    let sent = sim.sent();
    assert_eq!(sent.len(), 2);
    let (x1, x2) = (sent[0].0.xid, sent[1].0.xid);
    assert!(x2 > x1, "xids in call order");
    sim.feed(ms(20), x2, 7, ErrorCode::Ok, &data(b"b"));
    assert!(matches!(answer(&mut first), Err(Error::Protocol(_))));
    assert_eq!(answer(&mut second).err(), Some(Error::ConnectionLoss));
    assert!(!sim.core.is_connected());
    assert_eq!(sim.core.state(), SessionState::Suspended);
    // The next attempt resumes the same session with the last zxid seen (none was accepted).
    match sim.core.next_step(sim.at(ms(30))) {
        Step::Connect { request, host, .. } => {
            assert_eq!(request.session_id, 0x55);
            assert_eq!(request.last_zxid_seen, 0);
            assert_eq!(host, "b", "the next host");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_reply_just_before_the_read_timeout_keeps_the_connection() {
    let mut sim = Sim::new(ExpiryPolicy::Stay);
    sim.connect(ms(0), 0x55);
    // T = 3 s: ping after 1 s of sending nothing, give up after 2 s of hearing nothing.
    assert_eq!(sim.core.poll_timeout(), Some(sim.at(ms(1000))));
    sim.core.handle_timeout(sim.at(ms(1000)));
    let sent = sim.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.xid, zk_proto::xid::PING);
    let (mut pending, _) = sim.request(ms(1500), get_data("/a"));
    let xid = sim.sent()[0].0.xid;
    // The reply wins the race by a millisecond.
    sim.feed(ms(1999), xid, 3, ErrorCode::Ok, &data(b"a"));
    sim.core.handle_timeout(sim.at(ms(2000)));
    assert!(sim.core.is_connected());
    assert_eq!(&answer(&mut pending).unwrap().zxid, &3);
    assert!(sim.core.poll_timeout() > Some(sim.at(ms(2000))));
    // The answered request's send time is the lease (the ping is still unanswered).
    assert_eq!(sim.core.lease().last_answered_send, Some(sim.at(ms(1500))));
}

#[test]
fn the_read_timeout_wins_against_a_reply_that_comes_later() {
    let mut sim = Sim::new(ExpiryPolicy::Stay);
    sim.connect(ms(0), 0x55);
    sim.core.handle_timeout(sim.at(ms(1000)));
    let (mut pending, ticket) = sim.request(ms(1500), get_data("/a"));
    let sent = sim.sent();
    let xid = sent[1].0.xid;
    // The timer fires first: 2 s of silence since the handshake.
    sim.core.handle_timeout(sim.at(ms(2000)));
    assert!(!sim.core.is_connected());
    assert_eq!(answer(&mut pending).err(), Some(Error::ConnectionLoss));
    assert!(
        !ticket.withdraw(),
        "it was written: the caller may not call it withdrawn"
    );
    // The reply that was on its way is ignored: no second answer, no panic.
    sim.feed(ms(2001), xid, 3, ErrorCode::Ok, &data(b"a"));
    assert_eq!(
        sim.states(),
        vec![(SessionState::Connected, 0), (SessionState::Suspended, 1)]
    );
    // The lease still only vouches for the handshake.
    assert_eq!(sim.core.lease().last_answered_send, Some(sim.at(ms(0))));
}

#[test]
fn expiry_while_requests_are_pending_and_queued() {
    let mut sim = Sim::new(ExpiryPolicy::Stay);
    sim.connect(ms(0), 0x55);
    let (mut written, _) = sim.request(ms(100), get_data("/a"));
    let xid = sim.sent()[0].0.xid;
    sim.feed(ms(200), 0, 0, ErrorCode::Ok, &Empty); // xid 0: out of order, drops the connection
    assert_eq!(
        answer(&mut written).err(),
        Some(Error::Protocol(format!(
            "reply xid 0 out of order (expected {xid})"
        )))
    );
    // Disconnected: a new request waits in the backlog.
    let (mut queued, _) = sim.request(ms(300), get_data("/b"));
    assert!(queued.try_recv().is_err(), "still waiting");
    // No server answers; the client-side deadline is the last contact + T.
    assert_eq!(sim.core.poll_timeout(), Some(sim.at(ms(200) + T)));
    for attempt in 0..4 {
        match sim.core.next_step(sim.at(ms(400 + attempt))) {
            Step::Connect { .. } => sim.core.connect_failed("refused"),
            Step::Sleep(_) => {}
            Step::Finished => panic!("not yet"),
        }
    }
    sim.core.handle_timeout(sim.at(ms(200) + T - ms(1)));
    assert!(!sim.core.is_finished(), "one millisecond early");
    sim.core.handle_timeout(sim.at(ms(200) + T));
    assert!(sim.core.is_finished());
    assert_eq!(answer(&mut queued).err(), Some(Error::SessionExpired));
    assert_eq!(
        sim.states(),
        vec![
            (SessionState::Connected, 0),
            (SessionState::Suspended, 1),
            (SessionState::Expired, 1)
        ]
    );
    assert_eq!(sim.core.lease().last_answered_send, None);
    assert!(matches!(sim.core.next_step(sim.at(T * 2)), Step::Finished));
}

#[test]
fn after_expiry_the_new_session_policy_starts_over_without_the_old_id() {
    let mut sim = Sim::new(ExpiryPolicy::NewSession);
    sim.connect(ms(0), 0x55);
    sim.core.connection_lost("reset");
    sim.core.handle_timeout(sim.at(T));
    assert!(!sim.core.is_finished());
    assert_eq!(sim.core.state(), SessionState::Expired);
    match sim.core.next_step(sim.at(T)) {
        Step::Connect { request, .. } => assert_eq!(request.session_id, 0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_request_withdrawn_while_queued_is_never_written() {
    let mut sim = Sim::new(ExpiryPolicy::Stay);
    sim.connect(ms(0), 0x55);
    sim.core.connection_lost("reset");
    let (_gone, ticket) = sim.request(ms(10), get_data("/withdrawn"));
    let (mut kept, _) = sim.request(ms(10), get_data("/kept"));
    assert!(ticket.withdraw(), "not written yet");
    sim.connect(ms(20), 0x55);
    let sent = sim.sent();
    let paths: Vec<_> = sent
        .iter()
        .filter_map(|(_, r)| r.as_ref().and_then(Request::path).map(str::to_owned))
        .collect();
    assert_eq!(paths, vec!["/kept".to_owned()]);
    sim.feed(ms(30), sent[0].0.xid, 1, ErrorCode::Ok, &data(b"k"));
    assert!(answer(&mut kept).is_ok());
}

#[test]
fn reconnect_in_the_middle_of_a_set_watches_batch_re_sends_every_watch() {
    let mut sim = Sim::new(ExpiryPolicy::Stay);
    sim.connect(ms(0), 0x55);
    // Enough exist watches for two SetWatches2 batches, and one persistent watch.
    let paths: Vec<String> = (0..3000).map(|i| format!("/w/{i:070}")).collect();
    let mut oneshots = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let (tx, rx) = oneshot::channel::<WatchedEvent>();
        let registration = WatchRegistration::Oneshot {
            id: u64::try_from(i).unwrap_or(0) + 1,
            path: path.clone(),
            kind: OneshotKind::Data,
            tx,
        };
        oneshots.push(rx);
        let request = Request::Exists(ExistsRequest {
            path: path.clone(),
            watch: true,
        });
        sim.request_with(ms(1), request, Some(registration), Effect::None);
    }
    let (ptx, mut persistent): (_, EventReceiver) = event_queue(16);
    let registration = WatchRegistration::Persistent {
        id: 100_000,
        path: "/p".into(),
        mode: AddWatchMode::Persistent,
        tx: ptx,
    };
    let add = Request::AddWatch(AddWatchRequest {
        path: "/p".into(),
        mode: AddWatchMode::Persistent.into(),
    });
    sim.request_with(ms(1), add, Some(registration), Effect::None);
    let sent = sim.sent();
    assert_eq!(sent.len(), 3001);
    for (header, _) in &sent[..3000] {
        sim.feed(ms(2), header.xid, 9, ErrorCode::NoNode, &Empty);
    }
    // addWatch is answered with an ErrorResponse body (its code again).
    sim.feed(ms(2), sent[3000].0.xid, 9, ErrorCode::Ok, &0i32);
    assert!(sim.core.is_connected());

    let set_watches = |sim: &mut Sim| -> Vec<(i32, WatchLists)> {
        sim.sent()
            .into_iter()
            .filter_map(|(h, r)| match r {
                Some(Request::SetWatches2(s)) => {
                    assert_eq!(h.op, OpCode::SetWatches2);
                    assert_eq!(s.relative_zxid, 9, "relative to the last zxid seen");
                    Some((
                        h.xid,
                        WatchLists {
                            exist: s.exist_watches,
                            persistent: s.persistent_watches,
                            ..WatchLists::default()
                        },
                    ))
                }
                _ => None,
            })
            .collect()
    };
    // First reconnect: the batches go out; only the first is answered before the next drop.
    sim.core.connection_lost("reset");
    sim.connect(ms(10), 0x55);
    let first = set_watches(&mut sim);
    assert!(first.len() >= 2, "{} batches", first.len());
    sim.feed(ms(11), first[0].0, 9, ErrorCode::Ok, &Empty);
    assert!(
        persistent.try_recv().is_err(),
        "not live again before the last batch"
    );
    sim.core.connection_lost("reset mid-batch");
    // Second reconnect: every watch again, not just the unanswered batches.
    sim.connect(ms(20), 0x55);
    let second = set_watches(&mut sim);
    let mut exist: Vec<String> = second.iter().flat_map(|(_, l)| l.exist.clone()).collect();
    exist.sort();
    assert_eq!(exist, paths);
    let persistent_paths: Vec<_> = second
        .iter()
        .flat_map(|(_, l)| l.persistent.clone())
        .collect();
    assert_eq!(persistent_paths, vec!["/p".to_owned()]);
    for (xid, _) in &second {
        sim.feed(ms(21), *xid, 9, ErrorCode::Ok, &Empty);
    }
    assert_eq!(
        persistent.try_recv(),
        Ok(PersistentEvent::Reconnected { new_session: false })
    );
    assert!(persistent.try_recv().is_err(), "announced once");
    // The watches are live: an event reaches its watcher.
    let event = WatcherEvent {
        event_type: EventType::NodeCreated,
        state: KeeperState::SyncConnected,
        path: paths[1234].clone(),
    };
    sim.feed(
        ms(22),
        zk_proto::xid::NOTIFICATION,
        -1,
        ErrorCode::Ok,
        &event,
    );
    let fired = oneshots[1234].try_recv().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fired.event_type, EventType::NodeCreated);
    assert!(oneshots[1233].try_recv().is_err());
}

#[test]
fn backpressure_limits_unsent_bytes_and_requests_in_flight() {
    let mut sim = Sim::new(ExpiryPolicy::Stay);
    assert!(
        sim.core.wants_commands(usize::MAX),
        "disconnected: the byte budget bounds it"
    );
    sim.connect(ms(0), 0x55);
    assert!(sim.core.wants_commands(0));
    assert!(!sim.core.wants_commands(MAX_UNSENT));
    let mut answers = Vec::new();
    for _ in 0..MAX_IN_FLIGHT {
        answers.push(sim.request(ms(1), get_data("/a")).0);
        let mut wire = BytesMut::new();
        sim.core.transmit(&mut wire);
    }
    assert!(
        !sim.core.wants_commands(0),
        "{MAX_IN_FLIGHT} replies outstanding"
    );
}

#[test]
fn set_watches_batches_stay_under_the_limit() {
    let lists = WatchLists {
        data: (0..10_000)
            .map(|i| format!("/a/very/long/path/{i:040}"))
            .collect(),
        recursive: vec!["/r".into()],
        ..WatchLists::default()
    };
    let out = batches(lists.clone(), false);
    assert!(out.len() > 1);
    let total: usize = out.iter().map(|b| b.data.len()).sum();
    assert_eq!(total, 10_000);
    for b in &out {
        let size: usize = b.data.iter().map(|p| p.len() + 4).sum();
        assert!(size <= SET_WATCHES_BATCH);
    }
    assert_eq!(out.iter().map(|b| b.recursive.len()).sum::<usize>(), 1);
    assert!(batches(lists, true).iter().all(|b| b.recursive.is_empty()));
}

#[test]
fn close_without_an_answer_ends_at_its_deadline_and_pending_writes_are_outcome_unknown() {
    let mut sim = Sim::new(ExpiryPolicy::Stay);
    sim.connect(ms(0), 0x55);
    let (mut pending, _) = sim.request(ms(10), get_data("/a"));
    let (done, mut closed) = oneshot::channel();
    sim.core
        .handle_command(Command::Close { done: Some(done) }, sim.at(ms(20)));
    let sent = sim.sent();
    assert_eq!(sent.last().map(|(h, _)| h.op), Some(OpCode::CloseSession));
    assert!(!sim.core.wants_commands(0), "closing: no more requests");
    // No answer at all: the read timeout (2T/3 after the last frame heard) comes before the
    // close deadline (min(T, 3 s) after the close) and ends the session as closed, not
    // suspended.
    sim.core.handle_timeout(sim.at(ms(1999)));
    assert!(!sim.core.is_finished());
    sim.core.handle_timeout(sim.at(ms(2000)));
    assert!(sim.core.is_finished());
    assert_eq!(answer(&mut pending).err(), Some(Error::OutcomeUnknown));
    assert!(
        closed.try_recv().is_err(),
        "answered only once Closed is published"
    );
    assert_eq!(sim.core.take_close_waiters().len(), 1);
    assert_eq!(
        sim.states(),
        vec![(SessionState::Connected, 0), (SessionState::Closed, 1)],
        "closed, never suspended; leaving Connected counts as a disconnection"
    );
}

#[test]
fn close_ends_at_its_deadline_when_the_server_keeps_answering_pings_only() {
    let mut sim = Sim::new(ExpiryPolicy::Stay);
    sim.connect(ms(0), 0x55);
    let (done, _closed) = oneshot::channel();
    sim.core
        .handle_command(Command::Close { done: Some(done) }, sim.at(ms(20)));
    // Frames keep arriving (the read timeout never fires), the close is never answered.
    sim.feed(ms(1500), zk_proto::xid::PING, 0, ErrorCode::Ok, &Empty);
    sim.core.handle_timeout(sim.at(ms(3019)));
    assert!(!sim.core.is_finished());
    sim.core.handle_timeout(sim.at(ms(3020)));
    assert!(sim.core.is_finished());
}

#[test]
fn an_event_is_delivered_before_the_reply_that_follows_it_in_one_read() {
    let mut sim = Sim::new(ExpiryPolicy::Stay);
    sim.connect(ms(0), 0x55);
    let (tx, mut fired) = oneshot::channel::<WatchedEvent>();
    let registration = WatchRegistration::Oneshot {
        id: 1,
        path: "/e".into(),
        kind: OneshotKind::Data,
        tx,
    };
    let request = Request::GetData(GetDataRequest {
        path: "/e".into(),
        watch: true,
    });
    let (mut registered, _) = sim.request_with(ms(1), request, Some(registration), Effect::None);
    let xid = sim.sent()[0].0.xid;
    sim.feed(ms(2), xid, 5, ErrorCode::Ok, &data(b"0"));
    assert!(answer(&mut registered).is_ok());
    let (mut later, _) = sim.request(ms(3), get_data("/e"));
    let xid = sim.sent()[0].0.xid;
    // Notification and reply arrive in one read.
    let mut buf = BytesMut::new();
    let event = WatcherEvent {
        event_type: EventType::NodeDataChanged,
        state: KeeperState::SyncConnected,
        path: "/e".into(),
    };
    let notification = ReplyHeader {
        xid: zk_proto::xid::NOTIFICATION,
        zxid: -1,
        err: ErrorCode::Ok,
    };
    encode_frame(&(notification, &event), &mut buf, usize::MAX).unwrap_or_else(|e| panic!("{e}"));
    let reply = ReplyHeader {
        xid,
        zxid: 6,
        err: ErrorCode::Ok,
    };
    encode_frame(&(reply, &data(b"1")), &mut buf, usize::MAX).unwrap_or_else(|e| panic!("{e}"));
    sim.core.handle_input(&mut buf, sim.at(ms(4)));
    assert_eq!(answer(&mut later).map(|r| r.zxid), Ok(6));
    let event = fired
        .try_recv()
        .unwrap_or_else(|e| panic!("event not queued: {e}"));
    assert_eq!(event.event_type, EventType::NodeDataChanged);
}
