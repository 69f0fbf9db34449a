//! Dynamic reconfiguration, membership changes: the same scenarios on a real Apache
//! ZooKeeper 3.8.0 ensemble and on the `zk-server-mini` ensemble (child processes), each
//! started with three voters, `reconfigEnabled=true` and a super user; `reconfig` is sent by
//! kazoo (or `zkCli.sh`) as the super user. What the real ensemble does (found by running
//! these scenarios against it):
//!
//! - **Adding an observer.** A joiner is started with a `zoo.cfg` listing the members plus
//!   itself, `server.4=host:q:e:observer;127.0.0.1:<client>`. Before the `reconfig` it syncs
//!   with the leader and reports `Mode: follower` (a non-voting follower), serving clients,
//!   while its `/zookeeper/config` is still the old membership. `reconfig(joining=<that
//!   spec>)` answers the new configuration, the spec line as given, client address included;
//!   the joiner then reports `Mode: observer`, the leader's `mntr` counts it in
//!   `zk_synced_observers`, and writes made on any member are read on it and the other way
//!   round. Removing it again (`leaving="4"`) turns it into a non-voting follower: within a
//!   fraction of a second (during which `srvr` may answer "not currently serving") it
//!   reports `Mode: follower` (`mntr`: `zk_peer_state following - broadcast`), the leader
//!   counts it in `zk_synced_non_voting_followers`, and it takes writes from its clients.
//! - **Files** (checked on both servers). Every member keeps its first `zoo.cfg` as
//!   `zoo.cfg.bak` and rewrites `zoo.cfg`
//!   without the `server.N` lines (and, where the member's own line carries a client
//!   address, without `clientPort`/`clientPortAddress`), ending in
//!   `dynamicConfigFile=<dir>/zoo.cfg.dynamic.<version, hex>`; that file holds the
//!   configuration's `server.N` lines without `version=`; the earlier ones stay
//!   (`zoo.cfg.dynamic.100000000` is written at the first start).
//! - **Removing a follower.** `reconfig(leaving=<id>)` of a follower commits the smaller
//!   membership, read the same on every member, the removed one included. The removed
//!   server keeps running as a non-voting follower: `srvr` says `Mode: follower`, `mntr`
//!   `zk_peer_state following - broadcast`, `ruok` answers `imok`, its sessions are never
//!   disconnected and keep writing, new sessions open on it and write; the leader's `mntr`
//!   counts it in `zk_synced_non_voting_followers` (and still in `zk_synced_followers`).
//!   The two remaining voters take writes; killing one of them stops the leader, and with it
//!   the removed server, from serving ("not currently serving").
//! - **Changing a role.** `joining=` with an existing member's spec in another role turns a
//!   follower into an observer (`Mode: observer`, the leader counts it in
//!   `zk_synced_observers`, it takes writes) and back (`Mode: follower`). The spec must carry
//!   the client address: without `;host:port` a change of an existing member, even one that
//!   keeps its role, is refused with `BadArgumentsError` (so is a new server without one).
//! - **Adding a voter.** A new voter need not run as long as the voters of the new
//!   configuration that are synced with the leader form a quorum of it: adding one voter
//!   that is not running to three succeeds (and removing it again too). Adding two voters
//!   that are not running while removing a follower fails with `NewConfigNoQuorumError`
//!   (code -13) and leaves the configuration and its version as they were. A joiner started
//!   as a participant reports `Mode: follower` before and after it is added, and the leader
//!   then counts three `zk_synced_followers`.
//! - **Removing the leader.** The reconfig commits; the lowest-numbered remaining voter
//!   (`F1`) leads within about half a second, the old leader continues as a non-voting
//!   follower, and sessions held on the old leader and on `F1` are disconnected once and
//!   reconnect in the same session. The client that sent the request through a follower
//!   gets `ConnectionLoss` or the answer (its server re-syncs with the new leader; both were
//!   seen), so the outcome is compared as "committed or connection loss".
//! - **A whole membership** (`new_members=`) replaces the configuration: the same members
//!   without client addresses commit a new version unchanged; with client addresses and a
//!   follower listed as `observer`, every line carries its client address and the follower
//!   observes. Listing the leader as `observer` hands leadership to `F1` (answered `ok` or
//!   `ConnectionLoss`, as above) and the old leader observes.
//! - **zkCli.sh** `reconfig -add <spec>` and `reconfig -remove 4` print
//!   `Committed new configuration:` and the configuration's lines; `config` prints them.
//! - **Under load**: two kazoo clients creating sequential nodes through the leader and a
//!   follower while an observer is added and the other follower removed: no client error,
//!   every acknowledged create is there afterwards, and nothing else.
//!
//! Observations are compared after normalising: member ports differ between runs, so every
//! `server.N=host:q:e:role;host:port` is written with `N` as the member's part in the
//! scenario (`L` the leader at the start, `F1`/`F2` the followers by id, `J4` the joiner,
//! `A5`, `A6` for voters that never run), `ADDR` for `host:q:e` and `CLIENT` for the
//! member's own client address; `version=` values are compared as "grew" or not.
//!
//! `MEMBERSHIP_REAL_ONLY=1` runs the real half alone, twice, prints its observations and
//! compares the two runs (to study the reference, and check it repeats itself, without the
//! mini).

use std::net::SocketAddr;
use std::time::Duration;

use zk_client::{Client, CreateOptions, SessionState};
use zk_integration_tests::clients::{LoadPlan, LoadStep};
use zk_integration_tests::{clients, four_letter_word, require, require_real_zk};

mod membership_harness;

use membership_harness::*;

/// (a) A joiner added as an observer, then removed.
async fn add_observer(real: bool) -> Vec<String> {
    let mut run = Run::start(real).await;
    let before = run.config("initially", "F1").await;
    run.joiner(true).await;
    run.mode("J4", &["follower", "observer"]).await;
    run.config("before the reconfig", "J4").await;
    let spec = run.ensemble.spec(JOINER, "observer");
    let bare = spec.split(';').next().unwrap_or_default().to_owned();
    run.reconfig("add J4 without client address", "F2", &bare, "", "")
        .await;
    let added = run
        .reconfig("add J4 as observer", "F2", &spec, "", "")
        .await;
    run.see(format!("version grew {}", added > before));
    run.mode("J4", &["observer"]).await;
    run.member_rows("J4").await;
    run.leader_rows("L", "zk_synced_observers", "1").await;
    let l = run.id("L");
    let j = run.id("J4");
    let f1 = run.id("F1");
    let seen = write_is_read(&run.ensemble, l, j, "/from-leader").await;
    run.see(format!("a write on L is read on J4 {seen}"));
    let seen = write_is_read(&run.ensemble, j, f1, "/from-observer").await;
    run.see(format!("a write on J4 is read on F1 {seen}"));
    let on_joiner = run.config("after", "J4").await;
    assert_eq!(
        on_joiner, added,
        "J4 holds the configuration it was added in"
    );
    let config = config_on(&run.ensemble, l).await;
    let dirs: Vec<(u64, std::path::PathBuf)> = match &run.ensemble {
        Ensemble::Real(zk) => zk
            .nodes()
            .iter()
            .map(|n| (u64::from(n.id()), n.dir().to_path_buf()))
            .collect(),
        Ensemble::Mini(c) => c.ids().into_iter().map(|id| (id, c.data_dir(id))).collect(),
    };
    dynamic_files_hold(&dirs, &config).await;
    run.reconfig("remove J4", "F2", "", "4", "").await;
    run.mode("J4", &["follower"]).await;
    run.member_rows("J4").await;
    run.leader_rows("L", "zk_synced_non_voting_followers", "1")
        .await;
    let seen = write_is_read(&run.ensemble, j, l, "/through-removed").await;
    run.see(format!("a write on the removed J4 is read on L {seen}"));
    run.config("after the removal", "J4").await;
    run.finish().await
}

/// A real member's `zoo.cfg` names `zoo.cfg.dynamic.<version>`, which holds `config`'s
/// `server.` lines; its first `zoo.cfg` is kept as `zoo.cfg.bak`.
async fn dynamic_files_hold(dirs: &[(u64, std::path::PathBuf)], config: &str) {
    let version = config
        .lines()
        .find_map(|l| l.strip_prefix("version="))
        .expect("a version line");
    // The lines without a newline after the last.
    let servers = config
        .lines()
        .filter(|l| l.starts_with("server."))
        .collect::<Vec<_>>()
        .join("\n");
    for (id, dir) in dirs {
        let dynamic = dir.join(format!("zoo.cfg.dynamic.{version}"));
        // A member writes its files once it applied the change: wait for them.
        let deadline = tokio::time::Instant::now() + WAIT;
        let cfg = loop {
            let cfg = std::fs::read_to_string(dir.join("zoo.cfg")).expect("zoo.cfg");
            let names = format!("dynamicConfigFile={}", dynamic.display());
            if cfg.lines().any(|l| l == names) {
                break cfg;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server {id}'s zoo.cfg never named {}:\n{cfg}",
                dynamic.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(!cfg.contains("server."), "server {id}: {cfg}");
        // The joiner's own line carries its client address, the first members' do not.
        assert_eq!(
            cfg.lines().any(|l| l.starts_with("clientPort=")),
            *id != JOINER,
            "server {id}'s zoo.cfg:\n{cfg}"
        );
        let text = std::fs::read_to_string(&dynamic).expect("the dynamic file");
        assert_eq!(text, servers, "{}", dynamic.display());
        assert!(dir.join("zoo.cfg.bak").is_file(), "server {id}");
    }
}

/// (b) A follower removed: it keeps serving as a non-voting follower; the other two vote.
async fn remove_follower(real: bool) -> Vec<String> {
    let mut run = Run::start(real).await;
    let victim = run.id("F1");
    let held = session(run.ensemble.addr(victim)).await;
    held.create("/before", b"x", &CreateOptions::default())
        .await
        .expect("create through F1");
    run.reconfig("remove F1", "F2", "", &victim.to_string(), "")
        .await;
    run.config("after", "F2").await;
    run.config("after", "F1").await;
    run.leader_rows("L", "zk_synced_non_voting_followers", "1")
        .await;
    let done = held
        .create("/after", b"x", &CreateOptions::default())
        .await
        .map(|_| "ok".to_owned())
        .unwrap_or_else(|e| format!("error {e}"));
    run.see(format!("F1's session from before writes: {done}"));
    let disconnects = held.state_watcher().borrow().disconnects;
    run.see(format!(
        "F1's session from before disconnected {disconnects} times"
    ));
    held.close().await;
    let (l, f1, f2) = (run.id("L"), run.id("F1"), run.id("F2"));
    let seen = write_is_read(&run.ensemble, f1, l, "/through-removed").await;
    run.see(format!("a new session on F1 writes, read on L {seen}"));
    let seen = write_is_read(&run.ensemble, f2, l, "/two-voters").await;
    run.see(format!("a write on F2 is read on L {seen}"));
    run.mode("F1", &["follower"]).await;
    run.member_rows("F1").await;
    let ruok = four_letter_word(run.ensemble.addr(f1), "ruok")
        .await
        .unwrap_or_default();
    run.see(format!("F1 ruok {ruok}"));
    run.ensemble.kill(f2).await;
    run.see("F2 killed");
    run.mode("L", &["not serving"]).await;
    run.mode("F1", &["not serving"]).await;
    run.finish().await
}

/// (c) A follower turned into an observer and back.
async fn change_role(real: bool) -> Vec<String> {
    let mut run = Run::start(real).await;
    let f1 = run.id("F1");
    let bare = run.ensemble.spec(f1, "observer");
    let bare = bare.split(';').next().unwrap_or_default().to_owned();
    run.reconfig("F1 to observer without client address", "F2", &bare, "", "")
        .await;
    let spec = run.ensemble.spec(f1, "participant");
    let bare = spec.split(';').next().unwrap_or_default().to_owned();
    run.reconfig("F1 unchanged without client address", "F2", &bare, "", "")
        .await;
    let spec = run.ensemble.spec(f1, "observer");
    run.reconfig("F1 to observer", "F2", &spec, "", "").await;
    run.mode("F1", &["observer"]).await;
    run.leader_rows("L", "zk_synced_observers", "1").await;
    let l = run.id("L");
    let seen = write_is_read(&run.ensemble, f1, l, "/from-observer").await;
    run.see(format!("a write on F1 is read on L {seen}"));
    let spec = run.ensemble.spec(f1, "participant");
    run.reconfig("F1 back to participant", "F2", &spec, "", "")
        .await;
    run.mode("F1", &["follower"]).await;
    run.leader_rows("L", "zk_synced_observers", "0").await;
    run.config("after", "F1").await;
    run.finish().await
}

/// (d) Adding voters: refused without a synced quorum of the new configuration; a voter not
/// running is accepted while the others are a quorum; a running joiner added votes.
async fn add_voter(real: bool) -> Vec<String> {
    let mut run = Run::start(real).await;
    let before = run.config("initially", "F1").await;
    let absent = format!("{},{}", run.absent_voter(5), run.absent_voter(6));
    let f1 = run.id("F1").to_string();
    run.reconfig(
        "add 5 and 6 (not running), remove F1",
        "F2",
        &absent,
        &f1,
        "",
    )
    .await;
    let after = run.config("after the refusal", "F2").await;
    run.see(format!("version unchanged {}", after == before));
    let one = run.absent_voter(5);
    run.reconfig("add 5 (not running)", "F2", &one, "", "")
        .await;
    run.reconfig("remove 5", "F2", "", "5", "").await;
    run.joiner(false).await;
    run.mode("J4", &["follower"]).await;
    let spec = run.ensemble.spec(JOINER, "participant");
    run.reconfig("add J4 as participant", "F2", &spec, "", "")
        .await;
    run.mode("J4", &["follower"]).await;
    run.leader_rows("L", "zk_synced_followers", "3").await;
    let (l, j) = (run.id("L"), run.id("J4"));
    let seen = write_is_read(&run.ensemble, j, l, "/from-voter").await;
    run.see(format!("a write on J4 is read on L {seen}"));
    run.config("after", "J4").await;
    run.finish().await
}

/// (e) The leader removed: a remaining voter takes over, the old leader follows without a
/// vote, writes go on.
async fn remove_leader(real: bool) -> Vec<String> {
    let mut run = Run::start(real).await;
    let (l, f1, f2) = (run.id("L"), run.id("F1"), run.id("F2"));
    let on_l = session(run.ensemble.addr(l)).await;
    let on_f1 = session(run.ensemble.addr(f1)).await;
    let started = tokio::time::Instant::now();
    let out = reconfig(&run.ensemble, f2, "", &l.to_string(), "").await;
    let committed = matches!(
        out.result.as_str(),
        "ok" | "error ConnectionLoss" | "error ConnectionLossException"
    );
    eprintln!("real {real}: removing the leader answered {}", out.result);
    run.see(format!(
        "remove L: committed or connection loss {committed}"
    ));
    let leader = run.ensemble.settle(&[f1, f2]).await;
    eprintln!(
        "real {real}: {} leads after {:?}",
        run.parts.names[&leader],
        started.elapsed()
    );
    run.see(format!("{} leads", run.parts.names[&leader]));
    let seen = write_is_read(&run.ensemble, leader, l, "/after").await;
    eprintln!("real {real}: writes again after {:?}", started.elapsed());
    run.see(format!("a write on the new leader is read on L {seen}"));
    for (name, held) in [("L", on_l), ("F1", on_f1)] {
        let outcome = back_after_a_disconnect(&held).await;
        run.see(format!("a session held on {name}: {outcome}"));
        held.close().await;
    }
    run.mode("L", &["follower"]).await;
    run.config("after", "F2").await;
    run.finish().await
}

/// Waits until `client` was disconnected and is connected again; says whether that
/// happened, and in the same session.
async fn back_after_a_disconnect(client: &Client) -> String {
    let mut states = client.state_watcher();
    let first = states.borrow().session_id;
    let back = tokio::time::timeout(
        WAIT,
        states.wait_for(|e| e.disconnects > 0 && e.state == SessionState::Connected),
    )
    .await
    .map(|r| r.is_ok());
    let now = *states.borrow();
    match back {
        Ok(true) => format!(
            "disconnected and connected again, same session {}",
            now.session_id == first
        ),
        _ => format!("{:?} after {} disconnects", now.state, now.disconnects),
    }
}

/// (f) Whole memberships (`new_members=`).
async fn whole_membership(real: bool) -> Vec<String> {
    let mut run = Run::start(real).await;
    let before = run.config("initially", "F1").await;
    let ids = [run.id("L"), run.id("F1"), run.id("F2")];
    let bare: Vec<String> = ids
        .iter()
        .map(|&id| {
            let spec = run.ensemble.spec(id, "participant");
            spec.split(';').next().unwrap_or_default().to_owned()
        })
        .collect();
    let same = run
        .reconfig(
            "the same, no client addresses",
            "F1",
            "",
            "",
            &bare.join(","),
        )
        .await;
    run.see(format!("version grew {}", same > before));
    let members = [
        run.ensemble.spec(ids[0], "participant"),
        run.ensemble.spec(ids[1], "participant"),
        run.ensemble.spec(ids[2], "observer"),
    ];
    run.reconfig("F2 as observer", "F1", "", "", &members.join(","))
        .await;
    run.mode("F2", &["observer"]).await;
    run.mode("F1", &["follower"]).await;
    run.leader_rows("L", "zk_synced_observers", "1").await;
    let seen = write_is_read(&run.ensemble, ids[2], ids[1], "/from-observer").await;
    run.see(format!("a write on F2 is read on F1 {seen}"));
    run.config("after", "F2").await;
    run.finish().await
}

/// (f) A whole membership that makes the leader an observer: a follower takes over.
async fn whole_membership_demoting_the_leader(real: bool) -> Vec<String> {
    let mut run = Run::start(real).await;
    let (l, f1, f2) = (run.id("L"), run.id("F1"), run.id("F2"));
    let members = [
        run.ensemble.spec(l, "observer"),
        run.ensemble.spec(f1, "participant"),
        run.ensemble.spec(f2, "participant"),
    ];
    let out = reconfig(&run.ensemble, f1, "", "", &members.join(",")).await;
    eprintln!("real {real}: demoting the leader answered {}", out.result);
    let committed = matches!(out.result.as_str(), "ok" | "error ConnectionLoss");
    run.see(format!(
        "L as observer: committed or connection loss {committed}"
    ));
    let leader = run.ensemble.settle(&[f1, f2]).await;
    let name = run.parts.names[&leader].clone();
    run.see(format!("{name} leads"));
    run.mode("L", &["observer"]).await;
    run.leader_rows(&name, "zk_synced_observers", "1").await;
    let seen = write_is_read(&run.ensemble, l, f2, "/from-old-leader").await;
    run.see(format!("a write on L is read on F2 {seen}"));
    run.config("after", "F2").await;
    run.finish().await
}

/// `zkCli.sh` on `addr` as the super user, fed `commands`: the configuration and result
/// lines it printed, normalised.
async fn zkcli(addr: SocketAddr, commands: &str, parts: &Parts) -> Vec<String> {
    let text =
        clients::zkcli_session(addr, &format!("addauth digest super:secret\n{commands}")).await;
    let mut printed: Vec<String> = Vec::new();
    // A configuration's server lines, sorted by their (normalised) names when complete.
    let mut servers: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("server.") {
            servers.push(parts.server_line(line));
            continue;
        }
        servers.sort();
        printed.append(&mut servers);
        if line.starts_with("version=") {
            printed.push("version=V".to_owned());
        } else if line.starts_with("Committed") || line.starts_with("KeeperErrorCode") {
            printed.push(line.to_owned());
        }
    }
    servers.sort();
    printed.append(&mut servers);
    printed
}

/// (g) `zkCli.sh` adds and removes an observer.
async fn zkcli_add_remove(real: bool) -> Vec<String> {
    let mut run = Run::start(real).await;
    run.joiner(true).await;
    let f1 = run.ensemble.addr(run.id("F1"));
    let spec = run.ensemble.spec(JOINER, "observer");
    let printed = zkcli(f1, &format!("reconfig -add {spec}\nconfig"), &run.parts).await;
    run.seen.extend(printed);
    run.mode("J4", &["observer"]).await;
    let printed = zkcli(f1, "reconfig -remove 4\nconfig", &run.parts).await;
    run.seen.extend(printed);
    run.mode("J4", &["follower"]).await;
    run.finish().await
}

/// (i) The same changes through `zk-client`'s own `reconfig` and `reconfig_members`, as the
/// super user on a follower: a stale `from_config` is `BadVersion`, a spec without a client
/// address `BadArguments`, two absent voters in place of F1 `NewConfigNoQuorum`; adding the
/// joiner as an
/// observer answers the new configuration (and its stat's mzxid is its version), and the
/// getConfig watch set before fires.
async fn zk_client_reconfig(real: bool) -> Vec<String> {
    let mut run = Run::start(real).await;
    run.joiner(true).await;
    let f1 = run.ensemble.addr(run.id("F1"));
    let client = session(f1).await;
    client
        .add_auth("digest", b"super:secret")
        .await
        .expect("super user");
    let (_, before) = client.get_config().await.expect("getConfig");
    // The answer: its lines (normalised) and whether the stat's mzxid is its version.
    let outcome = |parts: &Parts, r: zk_client::Result<(bytes::Bytes, zk_proto::Stat)>| match r {
        Ok((text, stat)) => {
            let text = String::from_utf8_lossy(&text).into_owned();
            let mzxid = version_of(&text) == stat.mzxid;
            format!("ok {} (mzxid is the version: {mzxid})", parts.config(&text))
        }
        Err(e) => format!(
            "error {}",
            e.code().map_or_else(|| e.to_string(), |c| format!("{c:?}"))
        ),
    };
    let stale = client.reconfig(&[], &[9], Some(before.mzxid - 1)).await;
    run.see(format!("stale from_config: {}", outcome(&run.parts, stale)));
    let bare = client
        .reconfig(&["server.4=127.0.0.1:1:2:observer"], &[], None)
        .await;
    run.see(format!("no client address: {}", outcome(&run.parts, bare)));
    let (a5, a6) = (run.absent_voter(5), run.absent_voter(6));
    let absent = client.reconfig(&[&a5, &a6], &[run.id("F1")], None).await;
    run.see(format!(
        "two absent voters for F1: {}",
        outcome(&run.parts, absent)
    ));
    let (_, _, watch) = client
        .get_data_watch(zk_client::CONFIG_NODE)
        .await
        .expect("a getConfig watch");
    let spec = run.ensemble.spec(JOINER, "observer");
    let added = client.reconfig(&[&spec], &[], Some(before.mzxid)).await;
    run.see(format!(
        "add J4 from the current version: {}",
        outcome(&run.parts, added)
    ));
    let fired = tokio::time::timeout(WAIT, watch).await;
    run.see(format!("the getConfig watch fired: {}", fired.is_ok()));
    run.mode("J4", &["observer"]).await;
    let whole: Vec<String> = ["L", "F1", "F2"]
        .iter()
        .map(|n| run.ensemble.spec(run.id(n), "participant"))
        .collect();
    let whole: Vec<&str> = whole.iter().map(String::as_str).collect();
    let back = client.reconfig_members(&whole, None).await;
    run.see(format!(
        "the three alone again: {}",
        outcome(&run.parts, back)
    ));
    run.mode("J4", &["follower"]).await;
    client.close().await;
    run.finish().await
}

/// (h) An observer added and a follower removed while two clients write.
async fn under_load(real: bool) -> Vec<String> {
    let mut run = Run::start(real).await;
    run.joiner(true).await;
    let (l, f1, f2, j) = (run.id("L"), run.id("F1"), run.id("F2"), run.id("J4"));
    // Writers through L and F2; the super user on F2 adds J4 as an observer and removes
    // F1, each step after both writers had ten more creates acknowledged; J4 reads back.
    let plan = LoadPlan {
        writers: [run.ensemble.addr(l), run.ensemble.addr(f2)],
        root: run.ensemble.addr(f2),
        check: run.ensemble.addr(j),
        steps: vec![
            LoadStep {
                label: "add the observer".to_owned(),
                joining: Some(run.ensemble.spec(JOINER, "observer")),
                leaving: None,
            },
            LoadStep {
                label: "remove the follower".to_owned(),
                joining: None,
                leaving: Some(f1.to_string()),
            },
        ],
        acks_between_steps: 10,
        min_acks_each: 0,
    };
    let report = clients::kazoo_reconfig_under_load(&plan).await;
    for (label, outcome) in &report.steps {
        match outcome {
            Ok(_) => run.see(format!("load: {label} ok")),
            Err(name) => run.see(format!("load: {label} error {name}")),
        }
    }
    let py = |b: bool| if b { "True" } else { "False" };
    let errors: Vec<String> = report
        .writer_errors
        .iter()
        .map(|e| format!("'{e}'"))
        .collect();
    run.see(format!("load: writer errors [{}]", errors.join(", ")));
    run.see(format!(
        "load: both writers acknowledged at least 20 {}",
        py(report.acked.iter().all(|n| *n >= 20))
    ));
    run.see(format!(
        "load: every acknowledged create present {}",
        py(report.every_acked_present)
    ));
    run.see(format!(
        "load: nothing else present {}",
        py(report.nothing_else_present)
    ));
    run.mode("J4", &["observer"]).await;
    run.config("after", "J4").await;
    run.finish().await
}

/// Skips (or fails under CI) when the reference server or kazoo is missing.
macro_rules! requirements {
    () => {
        require_real_zk!();
        require!("kazoo", clients::kazoo());
    };
}

/// (a) Adding an observer (a joiner started with the members plus itself), then removing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_an_observer_matches_the_real_ensemble() {
    requirements!();
    compare(add_observer).await;
}

/// (b) Removing a follower: it stays a non-voting follower; two voters need each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_follower_matches_the_real_ensemble() {
    requirements!();
    compare(remove_follower).await;
}

/// (c) A follower becomes an observer and a participant again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_a_role_matches_the_real_ensemble() {
    requirements!();
    compare(change_role).await;
}

/// (d) Adding voters: `NewConfigNoQuorum` without a synced quorum, success with one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_voter_matches_the_real_ensemble() {
    requirements!();
    compare(add_voter).await;
}

/// (e) Removing the leader hands leadership to a remaining voter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_leader_matches_the_real_ensemble() {
    requirements!();
    compare(remove_leader).await;
}

/// (f) Non-incremental reconfiguration (`new_members=`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_membership_matches_the_real_ensemble() {
    requirements!();
    compare(whole_membership).await;
}

/// (f) A whole membership in which the leader observes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_membership_demoting_the_leader_matches_the_real_ensemble() {
    requirements!();
    compare(whole_membership_demoting_the_leader).await;
}

/// (g) `zkCli.sh reconfig -add` and `-remove`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_membership_changes_match_the_real_ensemble() {
    requirements!();
    require!("zkCli.sh", clients::zkcli());
    compare(zkcli_add_remove).await;
}

/// (h) Membership changes under client load lose no acknowledged write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_under_load_match_the_real_ensemble() {
    requirements!();
    compare(under_load).await;
}

/// (i) `zk-client`'s `reconfig` and `reconfig_members`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_client_reconfig_matches_the_real_ensemble() {
    requirements!();
    compare(zk_client_reconfig).await;
}
