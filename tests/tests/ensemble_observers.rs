//! Observers, the same scenario on a real Apache ZooKeeper 3.8.0 ensemble and on the
//! `zk-server-mini` ensemble (child processes), each with three voters and one observer
//! (`server.4=...:observer`, `peerType=observer`):
//!
//! - `srvr` reports `Mode: observer`; `mntr` on the leader counts the observer apart from
//!   the followers (`zk_synced_followers 2`, `zk_synced_observers 1`, `zk_learners 3`), and
//!   on the observer names the leader (`zk_observer_master_id`);
//! - kazoo connected to the observer alone reads and writes;
//! - killing the observer never blocks writes, and it catches up after a restart;
//! - killing two of the three voters stops every member from serving, the observer
//!   included (observers are no part of a quorum), and no write gets through; restarting
//!   them restores writes, through the observer too;
//! - when the leader dies, the observer observes the new one and takes writes again.
//!
//! The observations of both runs must be equal.

use std::net::SocketAddr;
use std::time::Duration;

use zk_client::{Client, CreateOptions};
use zk_integration_tests::bounded;
use zk_integration_tests::ensemble::{Ensemble, EnsembleConfig, WAIT, session};
use zk_integration_tests::mini::mini_binary;
use zk_integration_tests::{ServerMode, ZkOptions, clients, require, require_real_zk};
/// server.4 observes; 1..=3 vote.
const OBSERVER: u64 = 4;

/// Starts three voters and an observer (server 4).
async fn start(real: bool) -> Ensemble {
    let config = EnsembleConfig::new(3)
        .observers(1)
        .real_options(ZkOptions::default().tick_time(500));
    let ensemble = Ensemble::start(real, &config).await;
    match &ensemble {
        Ensemble::Real(zk) => assert_eq!(zk.observers(), [OBSERVER as usize - 1]),
        Ensemble::Mini(c) => assert_eq!(c.observers(), [OBSERVER]),
    }
    ensemble
}

/// Waits until every member in `up` serves, one of them as leader and the observer as
/// observer; returns the leader.
async fn settled(ensemble: &Ensemble, up: &[u64]) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let leader = ensemble.settle(up).await;
        if !up.contains(&OBSERVER) || ensemble.mode(OBSERVER).await == ServerMode::Observer {
            return leader;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the observer does not observe"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `mntr` row's value.
fn row(mntr: &str, key: &str) -> String {
    mntr.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('\t'))
        .unwrap_or("absent")
        .to_owned()
}

/// kazoo connected to one member only: `argv[2]` picks what it does; prints what it saw.
const KAZOO: &str = r#"
import sys
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry
zk = KazooClient(hosts=sys.argv[1], timeout=10.0,
                 command_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5, deadline=30))
zk.start(timeout=30)
step = sys.argv[2]
if step == "rw":
    zk.ensure_path("/obs")
    zk.create("/obs/a", b"1")
    zk.set("/obs/a", b"2")
    data, stat = zk.get("/obs/a")
    print("kazoo get", data.decode(), "version", stat.version)
    zk.sync("/from-leader")
    data, _ = zk.get("/from-leader")
    print("kazoo sees the leader's write", data.decode())
    print("kazoo children", sorted(zk.get_children("/obs")))
    zk.delete("/obs/a")
    print("kazoo deleted", zk.exists("/obs/a") is None)
elif step == "caught-up":
    data, _ = zk.get("/without-observer")
    print("kazoo after restart", data.decode())
elif step == "after-failover":
    zk.set("/healed", b"f")
    print("kazoo after failover", zk.get("/healed")[0].decode())
else:
    zk.create("/healed", b"h")
    print("kazoo after healing", zk.get("/healed")[0].decode(),
          "no-quorum write", zk.exists("/no-quorum") is not None)
zk.stop()
zk.close()
"#;

async fn kazoo(addr: SocketAddr, step: &str) -> Vec<String> {
    clients::kazoo_script(KAZOO, &[&addr.to_string(), step])
        .await
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The whole scenario; returns what it observed.
async fn run(real: bool) -> Vec<String> {
    let mut seen = Vec::new();
    let mut ensemble = start(real).await;
    let all = [1, 2, 3, OBSERVER];
    let leader = settled(&ensemble, &all).await;
    assert_ne!(leader, OBSERVER, "an observer never leads");
    let mut modes = Vec::new();
    for id in all {
        modes.push(ensemble.mode(id).await);
    }
    seen.push(format!("observer mode {:?}", modes[3]));
    let mut sorted: Vec<String> = modes.iter().map(|m| format!("{m:?}")).collect();
    sorted.sort();
    seen.push(format!("modes {sorted:?}"));
    // The leader counts its learners once they are synced.
    let deadline = tokio::time::Instant::now() + WAIT;
    let leader_mntr = loop {
        let m = ensemble.four_letter(leader, "mntr").await;
        if row(&m, "zk_synced_followers") == "2" && row(&m, "zk_synced_observers") == "1" {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "leader mntr: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for key in [
        "zk_server_state",
        "zk_peer_state",
        "zk_synced_followers",
        "zk_synced_non_voting_followers",
        "zk_synced_observers",
        "zk_learners",
        "zk_pending_syncs",
        "zk_quorum_size",
    ] {
        seen.push(format!("leader {key} {}", row(&leader_mntr, key)));
    }
    let observer_mntr = ensemble.four_letter(OBSERVER, "mntr").await;
    seen.push(format!(
        "observer zk_server_state {}",
        row(&observer_mntr, "zk_server_state")
    ));
    seen.push(format!(
        "observer zk_observer_master_id is the leader {}",
        row(&observer_mntr, "zk_observer_master_id") == leader.to_string()
    ));
    for key in [
        "zk_peer_state",
        "zk_synced_observers",
        "zk_learners",
        "zk_quorum_size",
    ] {
        seen.push(format!("observer {key} {}", row(&observer_mntr, key)));
    }
    let follower = (1..=3).find(|id| *id != leader).unwrap_or(1);
    let follower_mntr = ensemble.four_letter(follower, "mntr").await;
    for key in [
        "zk_server_state",
        "zk_peer_state",
        "zk_synced_observers",
        "zk_quorum_size",
    ] {
        seen.push(format!("follower {key} {}", row(&follower_mntr, key)));
    }
    let srvr = ensemble.four_letter(OBSERVER, "srvr").await;
    seen.push(format!(
        "observer srvr {:?}",
        srvr.lines().find(|l| l.starts_with("Mode:"))
    ));
    // kazoo on the observer alone reads and writes.
    let at_leader = session(ensemble.addr(leader)).await;
    at_leader
        .create("/from-leader", b"L", &CreateOptions::persistent())
        .await
        .expect("write at the leader");
    seen.extend(kazoo(ensemble.addr(OBSERVER), "rw").await);
    // The observer dies: writes go on.
    ensemble.kill(OBSERVER).await;
    let wrote = at_leader
        .create("/without-observer", b"W", &CreateOptions::persistent())
        .await;
    seen.push(format!(
        "write with the observer down {:?}",
        wrote.map(|_| ())
    ));
    at_leader.close().await;
    // It comes back and has what it missed.
    ensemble.restart(OBSERVER).await;
    settled(&ensemble, &all).await;
    seen.extend(kazoo(ensemble.addr(OBSERVER), "caught-up").await);
    // Two voters down: the observer is up but is no vote, so nobody serves.
    let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    for f in &followers {
        ensemble.kill(*f).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (l, o) = (ensemble.mode(leader).await, ensemble.mode(OBSERVER).await);
        if !l.is_serving() && !o.is_serving() {
            seen.push(format!("without a quorum: leader {l:?}, observer {o:?}"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still serving without a quorum: leader {l:?}, observer {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lone = format!("{},{}", ensemble.addr(leader), ensemble.addr(OBSERVER));
    let attempt = Client::builder(&lone)
        .session_timeout(Duration::from_secs(10))
        .initial_connect_timeout(Duration::from_secs(3))
        .connect()
        .await;
    match attempt {
        Ok(c) => {
            let r = c
                .create("/no-quorum", b"", &CreateOptions::persistent())
                .await;
            panic!("a session without a quorum (the write gave {r:?})");
        }
        Err(_) => seen.push("no session without a quorum".into()),
    }
    // Healing restores writes, through the observer too.
    for f in &followers {
        ensemble.restart(*f).await;
    }
    settled(&ensemble, &all).await;
    seen.extend(kazoo(ensemble.addr(OBSERVER), "healed").await);
    // The leader dies: the observer observes the new one.
    let leader = settled(&ensemble, &all).await;
    ensemble.kill(leader).await;
    let rest: Vec<u64> = all.iter().copied().filter(|id| *id != leader).collect();
    let next = settled(&ensemble, &rest).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let m = ensemble.four_letter(OBSERVER, "mntr").await;
        if row(&m, "zk_observer_master_id") == next.to_string() {
            seen.push("the observer follows the new leader".into());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "observer mntr: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen.extend(kazoo(ensemble.addr(OBSERVER), "after-failover").await);
    ensemble.stop().await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_behave_alike_on_real_zookeeper_and_the_mini_ensemble() {
    require_real_zk!();
    require!("kazoo", clients::kazoo());
    let real = bounded(Duration::from_secs(600), run(true)).await;
    let mini = bounded(Duration::from_secs(600), run(false)).await;
    println!("real: {real:#?}");
    assert!(
        real.iter().any(|l| l == "observer mode Observer"),
        "{real:?}"
    );
    assert_eq!(mini, real, "the mini ensemble differs from ZooKeeper 3.8.0");
}

/// Runs `program` on a `zoo.cfg` holding `lines` (plus a data directory with `myid` 1);
/// returns its exit code and everything it printed.
async fn refuse(program: &str, lines: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::write(data.join("myid"), "1\n").expect("myid");
    let port = zk_integration_tests::reserve_port().expect("a port");
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\nadmin.enableServer=false\n{lines}",
            data.display(),
            port.port()
        ),
    )
    .expect("zoo.cfg");
    let mut cmd = if program == "real" {
        let install =
            zk_integration_tests::real_zk::Installation::locate().expect("ZooKeeper installed");
        let mut cmd = tokio::process::Command::new(install.java);
        cmd.args([
            "-Xmx64m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-cp",
        ])
        .arg(install.classpath)
        .arg(zk_integration_tests::real_zk::MAIN_CLASS);
        cmd
    } else {
        let mut cmd = tokio::process::Command::new(mini_binary());
        cmd.arg("--config");
        cmd
    };
    let out = bounded(
        Duration::from_secs(60),
        cmd.arg(&cfg).kill_on_drop(true).output(),
    )
    .await
    .expect("run the server");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// Observer configurations ZooKeeper refuses are refused alike, with its exit status (2) and
/// its message: an unknown `peerType`, an unknown role on a `server.N` line, and a list of
/// observers only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_observer_configurations_are_refused_alike() {
    require_real_zk!();
    let cases = [
        ("peerType=voter\n", "Unrecognised peertype: voter"),
        (
            "server.1=127.0.0.1:1:2:voter\nserver.2=127.0.0.1:3:4\n",
            "Unrecognised peertype: voter",
        ),
        (
            "server.1=127.0.0.1:1:2:observer\nserver.2=127.0.0.1:3:4:observer\n",
            "Observers w/o participants is an invalid configuration",
        ),
    ];
    for (lines, message) in cases {
        for program in ["real", "mini"] {
            let (code, text) = refuse(program, lines).await;
            assert_eq!(code, Some(2), "{program} on {lines:?}: {text}");
            assert!(text.contains(message), "{program} on {lines:?}: {text}");
        }
    }
}
