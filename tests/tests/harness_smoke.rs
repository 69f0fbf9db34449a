//! Tests of the test harness itself: the reference server starts, answers, elects, restarts and is
//! cleaned up; the proxy forwards, drops, pauses and blocks.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use zk_integration_tests::bounded;
use zk_integration_tests::{
    Direction, FrameSplitter, RealZk, RealZkEnsemble, ServerMode, TcpProxy, ZkOptions,
    four_letter_word, require_real_zk,
};

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A ConnectRequest for a new session (PROTOCOL.md §2.1), 45-byte payload with the readOnly byte.
fn connect_request(timeout_ms: i32) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&45i32.to_be_bytes());
    f.extend_from_slice(&0i32.to_be_bytes()); // protocolVersion
    f.extend_from_slice(&0i64.to_be_bytes()); // lastZxidSeen
    f.extend_from_slice(&timeout_ms.to_be_bytes());
    f.extend_from_slice(&0i64.to_be_bytes()); // sessionId
    f.extend_from_slice(&16i32.to_be_bytes());
    f.extend_from_slice(&[0u8; 16]); // passwd
    f.push(0); // readOnly
    f
}

/// Reads one length-prefixed frame (payload only).
async fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = usize::try_from(i32::from_be_bytes(len)).map_err(std::io::Error::other)?;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Ok(payload)
}

struct ConnectResponse {
    timeout_ms: i32,
    session_id: i64,
}

fn parse_connect_response(p: &[u8]) -> ConnectResponse {
    assert_eq!(p.len(), 37, "ConnectResponse payload with readOnly byte");
    let i32_at = |o: usize| i32::from_be_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]]);
    let mut sid = [0u8; 8];
    sid.copy_from_slice(&p[8..16]);
    ConnectResponse {
        timeout_ms: i32_at(4),
        session_id: i64::from_be_bytes(sid),
    }
}

/// Opens a session; returns the stream and the ConnectResponse.
async fn handshake(addr: SocketAddr, timeout_ms: i32) -> (TcpStream, ConnectResponse) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&connect_request(timeout_ms))
        .await
        .expect("send");
    let reply = timeout(Duration::from_secs(10), read_frame(&mut s))
        .await
        .expect("ConnectResponse within 10 s")
        .expect("read ConnectResponse");
    (s, parse_connect_response(&reply))
}

/// True when the peer closed the connection (EOF or reset) within `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match timeout(limit, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn standalone_answers_four_letter_words_and_leaves_no_process() {
    require_real_zk!();
    bounded(Duration::from_secs(120), async {
        let zk = RealZk::start_standalone(ZkOptions::default())
            .await
            .expect("start");
        let pid = zk.pid().expect("running");
        assert!(process_exists(pid));
        assert_eq!(zk.four_letter("ruok").await.expect("ruok"), "imok");
        let srvr = zk.four_letter("srvr").await.expect("srvr");
        assert!(srvr.contains("Mode: standalone"), "{srvr}");
        assert!(srvr.starts_with("Zookeeper version: 3.8.0"), "{srvr}");
        // A whitelisted non-default word proves 4lw.commands.whitelist=* took effect.
        let mntr = zk.four_letter("mntr").await.expect("mntr");
        assert!(mntr.contains("zk_server_state\tstandalone"), "{mntr}");
        let addr = zk.addr();
        assert!(addr.ip().is_loopback());
        drop(zk);
        assert!(!process_exists(pid), "java pid {pid} survived drop");
        assert!(
            four_letter_word(addr, "ruok").await.is_err(),
            "port still answering"
        );
    })
    .await;
}

#[tokio::test]
async fn standalone_options_reach_the_server() {
    require_real_zk!();
    bounded(Duration::from_secs(120), async {
        let opts = ZkOptions::default()
            .tick_time(500)
            .session_timeouts(1000, 5000)
            .extended_types(true)
            .netty(true);
        let zk = RealZk::start_standalone(opts).await.expect("start");
        let conf = zk.four_letter("conf").await.expect("conf");
        for line in [
            "tickTime=500",
            "minSessionTimeout=1000",
            "maxSessionTimeout=5000",
        ] {
            assert!(
                conf.lines().any(|l| l == line),
                "{line} missing in:\n{conf}"
            );
        }
        let envi = zk.four_letter("envi").await.expect("envi");
        assert!(envi.contains("java.class.path="), "{envi}");
        // Over Netty (the jars the manifest misses are on the classpath) the handshake works and
        // the requested timeout is clamped to maxSessionTimeout.
        let (_s, resp) = handshake(zk.addr(), 100_000).await;
        assert_eq!(resp.timeout_ms, 5000);
        assert_ne!(resp.session_id, 0);
    })
    .await;
}

#[tokio::test]
async fn standalone_kill_and_restart_on_the_same_port() {
    require_real_zk!();
    bounded(Duration::from_secs(120), async {
        let mut zk = RealZk::start_standalone(ZkOptions::default())
            .await
            .expect("start");
        let addr = zk.addr();
        let first = zk.pid().expect("pid");
        zk.kill();
        assert!(zk.pid().is_none());
        assert!(!process_exists(first));
        assert!(four_letter_word(addr, "ruok").await.is_err());
        zk.restart().await.expect("restart");
        assert_eq!(zk.addr(), addr);
        assert_ne!(zk.pid(), Some(first));
        assert_eq!(zk.four_letter("ruok").await.expect("ruok"), "imok");
        let (_s, resp) = handshake(addr, 30_000).await;
        assert_eq!(resp.timeout_ms, 30_000);
        let second = zk.pid().expect("pid");
        drop(zk);
        assert!(!process_exists(second));
    })
    .await;
}

#[tokio::test]
async fn ensemble_elects_one_leader_and_reelects_after_leader_kill() {
    require_real_zk!();
    bounded(Duration::from_secs(300), async {
        let mut zk = RealZkEnsemble::start(3, ZkOptions::default())
            .await
            .expect("start ensemble");
        let pids: Vec<u32> = zk.nodes().iter().filter_map(|n| n.pid()).collect();
        assert_eq!(pids.len(), 3);
        let modes = zk.modes().await;
        let leaders = modes.iter().filter(|m| **m == ServerMode::Leader).count();
        let followers = modes.iter().filter(|m| **m == ServerMode::Follower).count();
        assert_eq!((leaders, followers), (1, 2), "{modes:?}");
        assert_eq!(zk.connect_string().split(',').count(), 3);

        let old_leader = zk.leader().await.expect("one leader");
        zk.kill(old_leader);
        let new_leader = zk
            .wait_for_quorum(Duration::from_secs(90))
            .await
            .expect("re-election");
        assert_ne!(new_leader, old_leader);
        assert_eq!(zk.node(old_leader).mode().await, ServerMode::Unreachable);

        zk.restart(old_leader).await.expect("restart old leader");
        assert_eq!(
            zk.node(old_leader).mode().await,
            ServerMode::Follower,
            "a restarted member joins the existing leader"
        );
        assert_eq!(
            zk.wait_for_quorum(Duration::from_secs(60))
                .await
                .expect("quorum"),
            new_leader
        );
        let all: Vec<u32> = zk.nodes().iter().filter_map(|n| n.pid()).collect();
        drop(zk);
        for pid in pids.iter().chain(&all) {
            assert!(!process_exists(*pid), "java pid {pid} survived drop");
        }
    })
    .await;
}

#[tokio::test]
async fn proxy_pause_pushes_a_real_session_past_its_timeout() {
    require_real_zk!();
    bounded(Duration::from_secs(120), async {
        let zk = RealZk::start_standalone(ZkOptions::default().tick_time(500))
            .await
            .expect("start");
        let proxy = TcpProxy::start(zk.addr()).await.expect("proxy");
        let (mut s, resp) = handshake(proxy.listen_addr(), 1000).await;
        assert_eq!(resp.timeout_ms, 1000);
        proxy.pause().await;
        // No pings get through: the server expires the session and closes its socket. We only
        // see that after resuming.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let cons = zk.four_letter("cons").await.expect("cons");
        assert!(
            !cons.contains(&format!("sid=0x{:x}", resp.session_id)),
            "session still connected:\n{cons}"
        );
        proxy.resume();
        assert!(closed_within(&mut s, Duration::from_secs(5)).await);
    })
    .await;
}

#[tokio::test]
async fn proxy_drop_connections_closes_a_real_client_connection() {
    require_real_zk!();
    bounded(Duration::from_secs(120), async {
        let zk = RealZk::start_standalone(ZkOptions::default())
            .await
            .expect("start");
        let proxy = TcpProxy::start(zk.addr()).await.expect("proxy");
        let mut tap = proxy.tap();
        let (mut s, resp) = handshake(proxy.listen_addr(), 30_000).await;
        assert_eq!(proxy.connection_count(), 1);
        assert_eq!(proxy.drop_connections().await, 1);
        assert!(closed_within(&mut s, Duration::from_secs(2)).await);
        assert_eq!(proxy.connection_count(), 0);
        // The tap saw exactly the two handshake frames.
        let mut c2s = FrameSplitter::default();
        let mut s2c = FrameSplitter::default();
        let (mut up, mut down) = (Vec::new(), Vec::new());
        while let Ok(ev) = tap.try_recv() {
            match ev.direction {
                Direction::ClientToServer => up.extend(c2s.push(&ev.data)),
                Direction::ServerToClient => down.extend(s2c.push(&ev.data)),
            }
        }
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].as_ref(), connect_request(30_000).as_slice());
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].len(), 41);
        assert_eq!(&down[0][12..20], &resp.session_id.to_be_bytes());
        // The session survives the dropped connection: reconnecting works through the proxy.
        let (_s2, again) = handshake(proxy.listen_addr(), 30_000).await;
        assert_ne!(again.session_id, 0);
    })
    .await;
}

/// An upstream for proxy tests that need no ZooKeeper: echoes everything, counts connections.
async fn echo_server() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let _ = tx.send(buf[..n].to_vec());
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

async fn read_exactly(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .expect("bytes within 5 s")
        .expect("read");
    buf
}

#[tokio::test]
async fn proxy_forwards_both_ways_and_taps() {
    bounded(Duration::from_secs(30), async {
        let (upstream, mut seen) = echo_server().await;
        let proxy = TcpProxy::start(upstream).await.expect("proxy");
        assert_eq!(proxy.upstream(), upstream);
        let mut tap = proxy.tap();
        let mut s = TcpStream::connect(proxy.listen_addr())
            .await
            .expect("connect");
        s.write_all(b"hello").await.expect("write");
        assert_eq!(read_exactly(&mut s, 5).await, b"hello");
        assert_eq!(seen.recv().await.expect("upstream got bytes"), b"hello");
        let first = tap.recv().await.expect("tap");
        assert_eq!(
            (first.conn, first.direction, first.data.as_ref()),
            (1, Direction::ClientToServer, b"hello".as_ref())
        );
        let second = tap.recv().await.expect("tap");
        assert_eq!(
            (second.direction, second.data.as_ref()),
            (Direction::ServerToClient, b"hello".as_ref())
        );
        assert_eq!(proxy.accepted_count(), 1);
    })
    .await;
}

#[tokio::test]
async fn proxy_drop_connections_closes_client_and_upstream() {
    bounded(Duration::from_secs(30), async {
        let (upstream, _seen) = echo_server().await;
        let proxy = TcpProxy::start(upstream).await.expect("proxy");
        let mut a = TcpStream::connect(proxy.listen_addr()).await.expect("a");
        let mut b = TcpStream::connect(proxy.listen_addr()).await.expect("b");
        a.write_all(b"x").await.expect("write");
        b.write_all(b"y").await.expect("write");
        read_exactly(&mut a, 1).await;
        read_exactly(&mut b, 1).await;
        assert_eq!(proxy.connection_count(), 2);
        assert_eq!(proxy.drop_connections().await, 2);
        assert!(closed_within(&mut a, Duration::from_secs(2)).await);
        assert!(closed_within(&mut b, Duration::from_secs(2)).await);
        assert_eq!(proxy.connection_count(), 0);
        // New connections still work afterwards.
        let mut c = TcpStream::connect(proxy.listen_addr()).await.expect("c");
        c.write_all(b"z").await.expect("write");
        assert_eq!(read_exactly(&mut c, 1).await, b"z");
    })
    .await;
}

#[tokio::test]
async fn proxy_pause_stops_bytes_until_resume() {
    bounded(Duration::from_secs(30), async {
        let (upstream, mut seen) = echo_server().await;
        let proxy = TcpProxy::start(upstream).await.expect("proxy");
        let mut s = TcpStream::connect(proxy.listen_addr())
            .await
            .expect("connect");
        s.write_all(b"1").await.expect("write");
        read_exactly(&mut s, 1).await;
        seen.recv().await.expect("seen");

        proxy.pause().await;
        s.write_all(b"2").await.expect("write while paused");
        let mut buf = [0u8; 8];
        assert!(
            timeout(Duration::from_millis(700), s.read(&mut buf))
                .await
                .is_err(),
            "bytes came back while paused"
        );
        assert!(seen.try_recv().is_err(), "upstream got bytes while paused");

        proxy.resume();
        assert_eq!(read_exactly(&mut s, 1).await, b"2");
        assert_eq!(seen.recv().await.expect("seen"), b"2");

        // One direction only: requests reach the upstream, replies are held.
        proxy.pause_direction(Direction::ServerToClient).await;
        s.write_all(b"3").await.expect("write");
        assert_eq!(
            timeout(Duration::from_secs(5), seen.recv())
                .await
                .expect("upstream got it"),
            Some(b"3".to_vec())
        );
        assert!(
            timeout(Duration::from_millis(500), s.read(&mut buf))
                .await
                .is_err()
        );
        proxy.resume_direction(Direction::ServerToClient);
        assert_eq!(read_exactly(&mut s, 1).await, b"3");
    })
    .await;
}

#[tokio::test]
async fn proxy_block_new_refuses_new_but_keeps_existing_connections() {
    bounded(Duration::from_secs(30), async {
        let (upstream, mut seen) = echo_server().await;
        let proxy = TcpProxy::start(upstream).await.expect("proxy");
        let mut old = TcpStream::connect(proxy.listen_addr())
            .await
            .expect("connect");
        // A round trip proves the proxy accepted `old` before blocking starts.
        old.write_all(b"o").await.expect("write");
        assert_eq!(read_exactly(&mut old, 1).await, b"o");
        assert_eq!(seen.recv().await.expect("seen"), b"o");
        proxy.block_new();
        let mut blocked = TcpStream::connect(proxy.listen_addr())
            .await
            .expect("tcp accept still happens");
        let _ = blocked.write_all(b"q").await;
        assert!(closed_within(&mut blocked, Duration::from_secs(2)).await);
        assert_eq!(proxy.accepted_count(), 2);
        assert_eq!(proxy.connection_count(), 1);

        old.write_all(b"p").await.expect("write");
        assert_eq!(read_exactly(&mut old, 1).await, b"p");
        assert_eq!(
            seen.recv().await.expect("seen"),
            b"p",
            "blocked bytes never reached upstream"
        );

        proxy.unblock();
        let mut fresh = TcpStream::connect(proxy.listen_addr())
            .await
            .expect("connect");
        fresh.write_all(b"f").await.expect("write");
        assert_eq!(read_exactly(&mut fresh, 1).await, b"f");
    })
    .await;
}

#[tokio::test]
async fn proxy_set_upstream_redirects_new_connections() {
    bounded(Duration::from_secs(30), async {
        let (first, mut first_seen) = echo_server().await;
        let (second, mut second_seen) = echo_server().await;
        let proxy = TcpProxy::start(first).await.expect("proxy");
        let mut a = TcpStream::connect(proxy.listen_addr()).await.expect("a");
        a.write_all(b"a").await.expect("write");
        read_exactly(&mut a, 1).await;
        proxy.set_upstream(second);
        let mut b = TcpStream::connect(proxy.listen_addr()).await.expect("b");
        b.write_all(b"b").await.expect("write");
        read_exactly(&mut b, 1).await;
        assert_eq!(first_seen.recv().await.expect("first"), b"a");
        assert_eq!(second_seen.recv().await.expect("second"), b"b");
    })
    .await;
}

/// The Curator harness compiles a program against Debian's Curator 5.4 jars and runs it: it
/// takes and releases an `InterProcessMutex` on zk-server-mini and reports one contender.
#[tokio::test]
async fn curator_program_compiles_and_takes_a_mutex() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    use zk_integration_tests::java::{JavaProgram, curator_classpath};
    zk_integration_tests::require!("Curator 5.4 and javac", curator_classpath());
    bounded(Duration::from_secs(120), async {
        let (_dir, server) =
            zk_integration_tests::mini::start_mini(zk_server_mini::MiniServer::builder()).await;
        let program = JavaProgram::compile_curator(&["CuratorSmoke.java"]).expect("compile");
        let mut child = program
            .command("CuratorSmoke")
            .arg(server.addr().to_string())
            .arg("/smoke/mutex")
            .spawn()
            .expect("start java");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next_line().await.expect("read").expect("a line");
        assert_eq!(line, "ACQUIRED 1");
        let status = child.wait().await.expect("wait java");
        assert!(status.success(), "java exited with {status}");
        server.stop().await;
    })
    .await;
}
