//! The transport on loopback sockets: joiners greeted and dialed back, strangers refused,
//! the learned-peer bound, a peer set changed at run time, hellos after binding.

use std::path::Path;

use super::*;
use crate::ensemble::identity::EnsembleIdentity::{self, Bound, Provisional};
use crate::ensemble::identity::{Binder, read_bound, session_secret};
use crate::state::{CoreConfig, StateMachine};
use crate::tree::DataTree;
use crate::zab::Role;

/// Every wait in these tests is bounded by this (a budget, not a verdict).
const WAIT: Duration = Duration::from_secs(20);

struct Member {
    out: Outboxes,
    tasks: TransportTasks,
    inbox: mpsc::Receiver<(PeerId, Message)>,
    lost: mpsc::Receiver<PeerId>,
    identity: Option<watch::Sender<EnsembleIdentity>>,
    _shutdown: watch::Sender<bool>,
    addr: SocketAddr,
}

async fn member(me: PeerId, identity: EnsembleIdentity, peers: &[(PeerId, SocketAddr)]) -> Member {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let addr = listener.local_addr().expect("an address");
    let (identity_tx, identity_rx) = watch::channel(identity);
    let (lost_tx, lost) = mpsc::channel(1024);
    let (inbox_tx, inbox) = mpsc::channel(1024);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let net = Net {
        me,
        identity: identity_rx,
        peers: peers.iter().copied().collect(),
        client_port: 1,
        quorum_port: addr.port(),
        lost: lost_tx,
    };
    let faults = Arc::new(PeerFaults::default());
    let (out, tasks) = start(net, listener, inbox_tx, faults, shutdown_rx);
    Member {
        out,
        tasks,
        inbox,
        lost,
        identity: Some(identity_tx),
        _shutdown: shutdown_tx,
        addr,
    }
}

impl Member {
    fn bind_to(&self, identity: EnsembleIdentity) {
        if let Some(tx) = &self.identity {
            tx.send_replace(identity);
        }
    }
}

fn hello(from: PeerId, ensemble: u64, provisional: bool, quorum_port: u16) -> Hello {
    Hello {
        ensemble,
        provisional,
        from,
        client_port: 5,
        quorum_port,
    }
}

/// A peer's connection to `addr`, opened with `hello`.
async fn greet(addr: SocketAddr, hello: Hello) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connected");
    s.write_all(&hello.encode()).await.expect("hello sent");
    s
}

async fn send(s: &mut TcpStream, m: &Message) {
    let mut buf = BytesMut::new();
    for f in wire::encode_frames(m) {
        push_frame(&mut buf, &f);
    }
    s.write_all(&buf).await.expect("sent");
}

async fn accept(l: &TcpListener) -> TcpStream {
    let (s, _) = tokio::time::timeout(WAIT, l.accept())
        .await
        .expect("dialed in time")
        .expect("accepted");
    s
}

async fn read_hello(s: &mut TcpStream) -> Hello {
    let mut b = [0u8; HELLO_LEN];
    tokio::time::timeout(WAIT, s.read_exact(&mut b))
        .await
        .expect("a hello in time")
        .expect("a hello");
    Hello::decode(&b).expect("a hello that decodes")
}

async fn read_message(s: &mut TcpStream) -> Message {
    let read = async {
        let len = s.read_u32().await.expect("a frame") as usize;
        let mut body = BytesMut::zeroed(len);
        s.read_exact(&mut body).await.expect("its body");
        wire::decode_frame(body.freeze(), &mut wire::SnapAssembly::default())
            .expect("it decodes")
            .expect("a message")
    };
    tokio::time::timeout(WAIT, read).await.expect("in time")
}

/// Whether the other end hung up (EOF or reset), waiting for it.
async fn hung_up(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match tokio::time::timeout(WAIT, s.read(&mut b)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "waited for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let a = l.local_addr().expect("an address");
    (l, a)
}

fn ping(id: u64) -> Message {
    Message::ReadIndex { id }
}

#[tokio::test]
async fn a_joiners_hello_is_accepted_its_messages_delivered_and_it_is_dialed_back() {
    let mut a = member(1, Bound(7), &[]).await;
    let (joiner, joiner_addr) = listener().await;
    // A joiner proposes another id (its list has one more member) and is not bound yet.
    let said = hello(4, 99, true, joiner_addr.port());
    let mut conn = greet(a.addr, said).await;
    send(&mut conn, &ping(1)).await;
    let got = tokio::time::timeout(WAIT, a.inbox.recv())
        .await
        .expect("in time");
    assert_eq!(got, Some((4, ping(1))));
    // Dialed back at the address its hello came from, on the quorum port it named.
    let mut back = accept(&joiner).await;
    let announced = Hello {
        client_port: 1,
        ..hello(1, 7, false, a.addr.port())
    };
    assert_eq!(read_hello(&mut back).await, announced);
    assert_eq!(a.out.dialed().get(&4), Some(&joiner_addr));
    assert_eq!(a.out.greetings().hello_from(4), Some(said));
    a.out.send(4, &ping(2));
    assert_eq!(read_message(&mut back).await, ping(2));
    // Its connection ends: it is lost, no longer dialed, its hello forgotten.
    drop(conn);
    let lost = tokio::time::timeout(WAIT, a.lost.recv())
        .await
        .expect("in time");
    assert_eq!(lost, Some(4));
    until("the joiner's dialer stops", || {
        !a.out.dialed().contains_key(&4)
    })
    .await;
    assert!(
        hung_up(&mut back).await,
        "the dialer's connection ends with it"
    );
    assert_eq!(a.out.greetings().hello_from(4), None);
    a.tasks.shutdown().await;
}

#[tokio::test]
async fn strangers_are_refused_and_never_dialed() {
    let mut a = member(1, Bound(7), &[]).await;
    let (_l, addr) = listener().await;
    for stranger in [
        hello(4, 8, false, addr.port()), // a bound member of another ensemble
        hello(1, 7, false, addr.port()), // claims to be us
    ] {
        let mut conn = greet(a.addr, stranger).await;
        assert!(hung_up(&mut conn).await, "{stranger:?} refused");
    }
    let mut garbage = TcpStream::connect(a.addr).await.expect("connected");
    garbage.write_all(&[0xff; 64]).await.expect("sent");
    assert!(hung_up(&mut garbage).await);
    assert!(a.out.dialed().is_empty());
    assert!(a.inbox.try_recv().is_err());
    a.tasks.shutdown().await;
}

#[tokio::test]
async fn hellos_from_more_unknown_peers_than_the_bound_are_refused() {
    let mut a = member(1, Bound(7), &[]).await;
    // Where the learned peers say they listen: nothing answers there (dialers retry).
    let nowhere = listener().await.1.port();
    let mut conns = Vec::new();
    for id in 100..100 + MAX_LEARNED_PEERS as u64 {
        conns.push(greet(a.addr, hello(id, 9, true, nowhere)).await);
    }
    until("every learned peer dialed", || {
        a.out.dialed().len() == MAX_LEARNED_PEERS
    })
    .await;
    let mut one_more = greet(a.addr, hello(999, 9, true, nowhere)).await;
    assert!(hung_up(&mut one_more).await, "past the bound: refused");
    assert_eq!(a.out.dialed().len(), MAX_LEARNED_PEERS);
    // A known one reconnecting is not one more.
    let again = greet(a.addr, hello(100, 9, true, nowhere)).await;
    drop(conns.swap_remove(0));
    let lost = tokio::time::timeout(WAIT, a.lost.recv())
        .await
        .expect("in time");
    assert_eq!(lost, Some(100));
    assert!(a.out.dialed().contains_key(&100));
    drop(again);
    until("a slot frees", || {
        a.out.dialed().len() == MAX_LEARNED_PEERS - 1
    })
    .await;
    let _now = greet(a.addr, hello(999, 9, true, nowhere)).await;
    until("999 dialed", || a.out.dialed().contains_key(&999)).await;
    a.tasks.shutdown().await;
}

#[tokio::test]
async fn set_peers_starts_moves_and_stops_dialers_but_keeps_connected_learned_peers() {
    let (b, b_addr) = listener().await;
    let (c, c_addr) = listener().await;
    let (c2, c2_addr) = listener().await;
    let (j, j_addr) = listener().await;
    let mut a = member(1, Bound(7), &[(2, b_addr)]).await;
    let mut to_b = accept(&b).await;
    assert_eq!(read_hello(&mut to_b).await.from, 1);
    a.out.set_peers([(2, b_addr), (3, c_addr)].into());
    let mut to_c = accept(&c).await;
    assert_eq!(read_hello(&mut to_c).await.from, 1);
    let _joiner = greet(a.addr, hello(4, 7, false, j_addr.port())).await;
    let mut to_j = accept(&j).await;
    assert_eq!(read_hello(&mut to_j).await.from, 1);
    // 2 leaves, 3 moves, this member's own id is not dialed, 4 stays while connected.
    a.out.set_peers([(1, a.addr), (3, c2_addr)].into());
    assert!(hung_up(&mut to_b).await, "2's dialer stopped");
    assert!(hung_up(&mut to_c).await, "3's old dialer stopped");
    let mut to_c2 = accept(&c2).await;
    assert_eq!(read_hello(&mut to_c2).await.from, 1);
    let dialed: Vec<(PeerId, SocketAddr)> = a.out.dialed().into_iter().collect();
    assert_eq!(dialed, [(3, c2_addr), (4, j_addr)]);
    a.out.send(4, &ping(5));
    assert_eq!(read_message(&mut to_j).await, ping(5));
    a.out.send(2, &ping(6)); // not dialed: dropped, nothing grows
    a.tasks.shutdown().await;
}

#[tokio::test]
async fn a_member_redials_with_its_hello_only_when_its_bound_id_differs() {
    let (b, b_addr) = listener().await;
    let a = member(1, Provisional(5), &[(2, b_addr)]).await;
    let mut first = accept(&b).await;
    let h = read_hello(&mut first).await;
    assert!(h.provisional && h.ensemble == 5);
    // Bound to the id it proposed (as a leader does): the connection stays.
    a.bind_to(Bound(5));
    a.out.send(2, &ping(1));
    assert_eq!(read_message(&mut first).await, ping(1));
    // Bound to another (a joiner follows its leader's): peers must learn the new id.
    a.bind_to(Bound(9));
    assert!(hung_up(&mut first).await);
    let mut second = accept(&b).await;
    let h = read_hello(&mut second).await;
    assert!(!h.provisional && h.ensemble == 9, "{h:?}");
    a.tasks.shutdown().await;
}

#[tokio::test]
async fn a_provisional_member_drops_a_stranger_once_it_binds_elsewhere() {
    let mut a = member(1, Provisional(5), &[]).await;
    let (_l, addr) = listener().await;
    let mut conn = greet(a.addr, hello(2, 8, false, addr.port())).await;
    send(&mut conn, &ping(1)).await;
    let got = tokio::time::timeout(WAIT, a.inbox.recv())
        .await
        .expect("in time");
    assert_eq!(got, Some((2, ping(1))));
    a.bind_to(Bound(5));
    send(&mut conn, &ping(2)).await;
    assert!(
        hung_up(&mut conn).await,
        "a bound member of 8 is a stranger to 5"
    );
    assert_eq!(
        tokio::time::timeout(WAIT, a.lost.recv())
            .await
            .expect("in time"),
        Some(2)
    );
    assert!(
        a.inbox.try_recv().is_err(),
        "nothing delivered after binding"
    );
    a.tasks.shutdown().await;
}

fn state_machine() -> (CoreConfig, StateMachine) {
    let config = CoreConfig::default();
    let sm = StateMachine::new(DataTree::new(), config.clone(), 0, 0);
    (config, sm)
}

async fn binder(a: &mut Member, dir: &Path) -> Binder {
    let tx = a.identity.take().expect("not taken yet");
    Binder::new(dir.to_owned(), tx, a.out.greetings())
}

#[tokio::test]
async fn a_follower_binds_to_its_leaders_id_and_a_leader_to_its_own_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_l, addr) = listener().await;
    let mut a = member(1, Provisional(5), &[]).await;
    let mut b = binder(&mut a, dir.path()).await;
    let (mut config, mut sm) = state_machine();
    // No hello from its leader yet (or looking): not bound, not serving.
    for role in [Role::Following { leader: 2 }, Role::Looking] {
        assert!(!b.bind_to_serve(role, &mut config, &mut sm).await);
    }
    assert!(!b.is_bound());
    assert_eq!(read_bound(dir.path()), Ok(None));
    let _leader = greet(a.addr, hello(2, 9, false, addr.port())).await;
    until("the leader's hello", || {
        a.out.greetings().hello_from(2).is_some()
    })
    .await;
    assert!(
        b.bind_to_serve(Role::Following { leader: 2 }, &mut config, &mut sm)
            .await
    );
    assert!(b.is_bound());
    assert_eq!(read_bound(dir.path()), Ok(Some(9)));
    assert_eq!(config.session_secret, session_secret(9));
    assert_eq!(sm.session_secret(), session_secret(9));
    // Once: leading later keeps the id it is bound to.
    assert!(b.bind_to_serve(Role::Leading, &mut config, &mut sm).await);
    assert_eq!(read_bound(dir.path()), Ok(Some(9)));

    let dir = tempfile::tempdir().expect("a temp dir");
    let mut a = member(1, Provisional(5), &[]).await;
    let mut b = binder(&mut a, dir.path()).await;
    assert!(b.bind_to_serve(Role::Leading, &mut config, &mut sm).await);
    assert_eq!(read_bound(dir.path()), Ok(Some(5)));
    assert_eq!(sm.session_secret(), session_secret(5));
}
