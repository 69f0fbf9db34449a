//! Read-only mode, the same scenario on a real 3-node Apache ZooKeeper 3.8.0 ensemble
//! (`-Dreadonlymode.enabled=true`, with `localSessionsEnabled=true`, which 3.8's read-only
//! server needs) and on a 3-node ensemble of the `zk-server-mini` binary
//! (`readonlymode.enabled=true`): two members are killed, the third, cut off from its quorum,
//! serves read-only sessions to a kazoo client and a `zk-client` client that allow them
//! (reads and watches answered, writes refused with NotReadOnly, `isro` says `ro`, `srvr`
//! says `read-only`) and refuses a client that does not. When the two members come back the
//! third rejoins the quorum, and both clients move to a read-write member with a new session
//! and write there. The observations of both runs must be equal.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use zk_client::{Client, CreateOptions, SessionState};
use zk_integration_tests::bounded;
use zk_integration_tests::ensemble::{Ensemble, EnsembleConfig};
use zk_integration_tests::real_zk::four_letter_word;
use zk_integration_tests::{ZkOptions, clients, require, require_real_zk};
use zk_proto::jute::{Decode, JuteReader};
use zk_proto::{ConnectRequest, ConnectResponse};

const WAIT: Duration = Duration::from_secs(90);

/// Starts three members with read-only mode on (and, real, `localSessionsEnabled`).
async fn start(real: bool) -> Ensemble {
    let opts = ZkOptions::default()
        .read_only_mode(true)
        .config("localSessionsEnabled", "true");
    let config = EnsembleConfig::new(3).real_options(opts);
    Ensemble::start(real, &config).await
}

/// Every member's client address, with its server id, in member order.
fn members(ensemble: &Ensemble) -> Vec<(SocketAddr, i64)> {
    ensemble
        .ids()
        .into_iter()
        .map(|id| (ensemble.addr(id), id as i64))
        .collect()
}

/// The server id of a follower, once a leader serves.
async fn a_follower(ensemble: &mut Ensemble) -> i64 {
    let leader = ensemble.wait_for_leader().await;
    if leader == 1 { 2 } else { 1 }
}

/// Kills (SIGKILL) every member but `keep`.
async fn isolate(ensemble: &mut Ensemble, keep: i64) {
    for id in ensemble.ids() {
        if id as i64 != keep {
            ensemble.kill(id).await;
        }
    }
}

/// Restarts every member but `kept`.
async fn heal(ensemble: &mut Ensemble, kept: i64) {
    for id in ensemble.ids() {
        if id as i64 != kept {
            ensemble.restart(id).await;
        }
    }
}

/// Polls `isro` at `addr` until it answers `want`.
async fn wait_isro(addr: SocketAddr, want: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if four_letter_word(addr, "isro")
            .await
            .is_ok_and(|r| r == want)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} never answered isro with {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A raw handshake for a new session; what the server answered.
async fn handshake(addr: SocketAddr, read_only: bool, member: i64) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = ConnectRequest {
        read_only: Some(read_only),
        ..ConnectRequest::new_session(10_000)
    };
    let mut frame = BytesMut::new();
    zk_proto::codec::encode_frame(&request, &mut frame, 1 << 20).expect("encode");
    s.write_all(&frame).await.expect("send the handshake");
    let answer = tokio::time::timeout(Duration::from_secs(20), async {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.ok()?;
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).await.ok()?;
        Some(body)
    })
    .await
    .expect("the server answers or closes within 20 s");
    let Some(body) = answer else {
        return format!("handshake read_only={read_only}: closed without an answer");
    };
    let r = ConnectResponse::decode(&mut JuteReader::new(bytes::Bytes::from(body)))
        .expect("a ConnectResponse");
    format!(
        "handshake read_only={read_only}: readOnly={:?} timeout={} session of the member={}",
        r.read_only,
        r.timeout_ms,
        r.session_id != 0 && r.session_id >> 56 == member
    )
}

fn outcome<T>(r: zk_client::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{e:?}"),
    }
}

const KAZOO: &str = r#"
import sys, time
from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError
from kazoo.retry import KazooRetry
states = []
zk = KazooClient(hosts=sys.argv[1], read_only=True, timeout=10.0,
                 connection_retry=KazooRetry(max_tries=-1, delay=0.2, max_delay=1))
zk.add_listener(lambda s: states.append(str(s)))
zk.start(timeout=60)
sid = zk.client_id[0]
print("kazoo state", zk.client_state)
print("kazoo get", zk.get("/ro")[0].decode())
print("kazoo children", sorted(zk.get_children("/")))
print("kazoo exists", zk.exists("/ro") is not None, zk.exists("/nope") is not None)
for name, op in (("create", lambda: zk.create("/kz", b"")),
                 ("set", lambda: zk.set("/ro", b"x")),
                 ("delete", lambda: zk.delete("/ro"))):
    try:
        op()
        print("kazoo", name, "ok")
    except Exception as e:
        print("kazoo", name, type(e).__name__)
print("READY", flush=True)
sys.stdin.readline()
deadline = time.time() + 120
while True:
    try:
        zk.create("/kz-after", b"1")
        break
    except NodeExistsError:
        break
    except Exception as e:
        if time.time() > deadline:
            print("kazoo write never worked", type(e).__name__)
            break
        time.sleep(0.5)
print("kazoo write after heal", zk.exists("/kz-after") is not None)
print("kazoo state", zk.client_state)
print("kazoo new session", zk.client_id[0] != sid)
print("kazoo lost the read-only session", "LOST" in states)
zk.stop()
zk.close()
print("DONE", flush=True)
"#;

/// The scenario; returns what was observed.
async fn scenario(ensemble: &mut Ensemble) -> Vec<String> {
    let all = members(ensemble);
    let hosts = all
        .iter()
        .map(|(a, _)| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let kept = a_follower(ensemble).await;
    let addr = all[kept as usize - 1].0;
    let setup = Client::builder(&hosts).connect().await.expect("connect");
    let persistent = CreateOptions::persistent();
    setup
        .create("/ro", b"v1", &persistent)
        .await
        .expect("create");
    setup.close().await;
    // The member about to be cut off has applied the write before the others go.
    let at_kept = Client::builder(&addr.to_string()).connect().await;
    let at_kept = at_kept.expect("connect to the member kept");
    at_kept.sync("/ro").await.expect("sync");
    at_kept.get_data("/ro").await.expect("the write reached it");
    at_kept.close().await;
    isolate(ensemble, kept).await;
    wait_isro(addr, "ro").await;
    let mut seen = vec!["isro ro".to_owned()];
    let srvr = four_letter_word(addr, "srvr").await.expect("srvr");
    let mode = srvr.lines().find_map(|l| l.strip_prefix("Mode: "));
    seen.push(format!("srvr mode {mode:?}"));
    seen.push(format!(
        "srvr says read-only {}",
        srvr.contains("READ-ONLY mode; serving only read-only clients")
    ));
    let mntr = four_letter_word(addr, "mntr").await.expect("mntr");
    let state = mntr
        .lines()
        .find_map(|l| l.strip_prefix("zk_server_state\t"));
    seen.push(format!("mntr state {state:?}"));
    seen.push(handshake(addr, false, kept).await);
    seen.push(handshake(addr, true, kept).await);

    // zk-client, read-only allowed, knowing every member (two are down).
    let ro = Client::builder(&hosts)
        .read_only(true)
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("a read-only session");
    let ro_session = ro.session_id();
    seen.push(format!("zk-client state {:?}", ro.state()));
    let data = ro.get_data("/ro").await.map(|(d, _)| d.to_vec());
    seen.push(format!("zk-client get {:?}", data.map(String::from_utf8)));
    let mut children = ro.get_children("/").await.expect("children");
    children.sort();
    seen.push(format!("zk-client children {children:?}"));
    let exists = (ro.exists("/ro").await, ro.exists("/nope").await);
    seen.push(format!(
        "zk-client exists {:?} {:?}",
        exists.0.map(|s| s.is_some()),
        exists.1.map(|s| s.is_some())
    ));
    // The watch is kept: dropping it sends removeWatches, and 3.8.0's read-only server
    // answers a write that follows it with NotReadOnly *before* the removeWatches (the
    // replies come out of order, and the client drops the connection).
    let (stat, watch) = ro.exists_watch("/ro").await.expect("exists_watch");
    seen.push(format!("zk-client exists_watch {}", stat.is_some()));
    seen.push(format!(
        "zk-client create {}",
        outcome(ro.create("/x", b"", &persistent).await)
    ));
    seen.push(format!(
        "zk-client set {}",
        outcome(ro.set_data("/ro", "x", None).await)
    ));
    seen.push(format!(
        "zk-client delete {}",
        outcome(ro.delete("/ro", None).await)
    ));
    seen.push(format!("zk-client sync {}", outcome(ro.sync("/ro").await)));

    // kazoo, read-only allowed, knowing every member.
    let mut kazoo = tokio::process::Command::new(clients::kazoo().expect("kazoo"))
        .arg("-c")
        .arg(KAZOO)
        .arg(&hosts)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start kazoo");
    let mut stdin = kazoo.stdin.take().expect("stdin");
    // Its log, shown if it fails.
    let mut stderr = kazoo.stderr.take().expect("stderr");
    let log = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(kazoo.stdout.take().expect("stdout")).lines();
    let mut ready = false;
    while let Some(line) = lines.next_line().await.expect("read kazoo") {
        if line == "READY" {
            ready = true;
            break;
        }
        seen.push(line);
    }
    if !ready {
        let log = log.await.unwrap_or_default();
        panic!("kazoo stopped before its writes: {seen:?}\n{log}");
    }

    // The quorum comes back: the member rejoins it, read-only sessions end.
    heal(ensemble, kept).await;
    wait_isro(addr, "rw").await;
    seen.push("isro after heal rw".to_owned());
    stdin.write_all(b"go\n").await.expect("write to kazoo");
    while let Some(line) = lines.next_line().await.expect("read kazoo") {
        if line == "DONE" {
            break;
        }
        seen.push(line);
    }
    let status = kazoo.wait().await.expect("kazoo exits");
    if !status.success() {
        let log = log.await.unwrap_or_default();
        panic!("kazoo failed: {seen:?}\n{log}");
    }

    // zk-client finds a read-write member (its isro probe) and opens a new session there.
    let mut state = ro.state_watcher();
    let moved = tokio::time::timeout(WAIT, async {
        loop {
            if state.borrow_and_update().state == SessionState::Connected {
                return;
            }
            if state.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    seen.push(format!("zk-client moved to r/w {}", moved.is_ok()));
    seen.push(format!(
        "zk-client new session {}",
        ro.session_id() != ro_session
    ));
    let mut wrote = String::new();
    for _ in 0..100 {
        wrote = outcome(ro.create("/zk-after", b"1", &persistent).await);
        if wrote == "ok" || wrote == "NodeExists" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    seen.push(format!("zk-client write after heal {wrote}"));
    ro.close().await;
    drop(watch);
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_member_serves_read_only_alike_on_real_zookeeper_and_the_mini_ensemble() {
    require_real_zk!();
    require!("kazoo", clients::kazoo());
    bounded(Duration::from_secs(600), async {
        let mut observed = Vec::new();
        for real in [false, true] {
            let mut ensemble = start(real).await;
            observed.push(scenario(&mut ensemble).await);
            ensemble.stop().await;
        }
        let (mini, real) = (&observed[0], &observed[1]);
        eprintln!("real: {real:#?}\nmini: {mini:#?}");
        assert!(
            real.contains(&"kazoo state CONNECTED_RO".to_owned()),
            "{real:?}"
        );
        assert!(
            real.contains(&"zk-client create NotReadOnly".to_owned()),
            "{real:?}"
        );
        assert_eq!(mini, real);
    })
    .await;
}
