//! The partitioning recipe, checked from outside: member *processes* (the `partition` example)
//! are killed, paused past their session timeout, cut off through the proxy, drained, added, and
//! units are added and removed meanwhile. From the members' own output lines the checker
//! verifies that no unit ever had two members working on it at once and that the tokens of
//! successive grants of a unit increase; every unit is worked on again after each fault.
//! Minimal movement (4 → 5 → 3 members over 100 units) and bad input are checked in-process.
//! Real ZooKeeper 3.8.0 and zk-server-mini.

mod recipes_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use nix::sys::signal::Signal;
use recipes_common::*;
use tokio::time::Instant;
use zk_client::{Client, CreateOptions};
use zk_integration_tests::backend::Backend;
use zk_integration_tests::proxy::TcpProxy;
use zk_integration_tests::{RealZkEnsemble, require_real_zk};
use zk_recipes::RecipeError;
use zk_recipes::partition::{
    BalanceOptions, PartitionEvent, Partitioner, PartitionerOptions, UnitSpec, Units, moved,
};

const SESSION_MS: u64 = 2000;
const CLAIMS: &[&str] = &["ASSIGNED", "WORK"];

/// One partition line: the unit, and the line in the shape the shared checker reads.
fn partition_line(raw: &str) -> Option<(String, Line)> {
    let f: Vec<&str> = raw.split(' ').collect();
    match *f.first()? {
        "ASSIGNED" | "WORK" | "REVOKED" => Some((
            (*f.get(2)?).to_owned(),
            Line {
                kind: f[0].to_owned(),
                id: (*f.get(1)?).to_owned(),
                token: f.get(3)?.parse().ok()?,
                ns: f.get(4)?.parse().ok()?,
                rest: f.get(5..).map(|r| r.join(" ")).unwrap_or_default(),
                raw: raw.to_owned(),
            },
        )),
        _ => None,
    }
}

/// Every partition line of every worker, by unit.
fn by_unit(workers: &[&Worker]) -> BTreeMap<String, Vec<Line>> {
    let mut out: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    for w in workers {
        for raw in w.lines.lock().expect("lines").iter() {
            if let Some((unit, line)) = partition_line(raw) {
                out.entry(unit).or_default().push(line);
            }
        }
    }
    out
}

/// Waits (at most `limit`) for a partition line of `worker` that satisfies `pred`.
async fn wait_line(worker: &Worker, limit: Duration, pred: impl Fn(&Line) -> bool) -> Line {
    let until = Instant::now() + limit;
    loop {
        let found = worker
            .lines
            .lock()
            .expect("lines")
            .iter()
            .filter_map(|raw| partition_line(raw))
            .map(|(_, l)| l)
            .find(|l| pred(l));
        if let Some(line) = found {
            return line;
        }
        assert!(
            Instant::now() < until,
            "{}: no matching line within {limit:?}",
            worker.name
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn member(server: &str, path: &str, units_path: &str, id: &str) -> Worker {
    let mut c = example("partition");
    c.args(["--server", server, "--path", path, "--id", id])
        .args(["--units-path", units_path])
        .args(["--session-timeout-ms", &SESSION_MS.to_string()]);
    Worker::spawn(id, c)
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

/// Waits until every unit in `units` has a WORK line after `since` (from any member); returns
/// how long that took.
async fn all_worked_after(
    workers: &[&Worker],
    units: &BTreeSet<String>,
    since: u128,
    limit: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let lines = by_unit(workers);
        let missing: Vec<&String> = units
            .iter()
            .filter(|u| {
                !lines
                    .get(*u)
                    .is_some_and(|ls| ls.iter().any(|l| l.kind == "WORK" && l.ns > since))
            })
            .collect();
        if missing.is_empty() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "units {missing:?} not worked on within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn check_all(workers: &[&Worker]) -> usize {
    let mut grants = 0;
    for (unit, lines) in by_unit(workers) {
        let tenures = std::panic::catch_unwind(|| check_exclusive(&lines, CLAIMS))
            .unwrap_or_else(|_| panic!("unit {unit} broke exclusivity or token order"));
        grants += tenures.len();
    }
    grants
}

async fn set_units(client: &Client, units_path: &str, units: &BTreeSet<String>) {
    let existing: BTreeSet<String> = client
        .get_children(units_path)
        .await
        .unwrap_or_default()
        .into_iter()
        .collect();
    for unit in units.difference(&existing) {
        client
            .create(
                &format!("{units_path}/{unit}"),
                b"",
                &CreateOptions::persistent(),
            )
            .await
            .expect("create unit");
    }
    for unit in existing.difference(units) {
        client
            .delete(&format!("{units_path}/{unit}"), None)
            .await
            .expect("delete unit");
    }
}

/// The whole fault schedule against one backend.
async fn members_under_faults(backend: &Backend) {
    let path = "/recipes/partition/faults";
    let units_path = "/recipes/partition/faults-units";
    let admin = Client::connect(&backend.connect_string())
        .await
        .expect("connect");
    zk_recipes::paths::ensure_containers(&admin, "/recipes/partition")
        .await
        .expect("parent");
    admin
        .create(units_path, b"", &CreateOptions::persistent())
        .await
        .expect("units path");
    let mut units: BTreeSet<String> = (0..12).map(|i| format!("unit-{i:02}")).collect();
    set_units(&admin, units_path, &units).await;

    let proxy = TcpProxy::start(backend.addr()).await.expect("proxy");
    let server = backend.connect_string();
    let mut cut = member(&proxy.connect_string(), path, units_path, "cut");
    let mut killed = member(&server, path, units_path, "killed");
    let mut paused = member(&server, path, units_path, "paused");
    let start = now_ns();
    // Generous: three processes start and connect on a possibly loaded machine.
    all_worked_after(
        &[&cut, &killed, &paused],
        &units,
        start,
        Duration::from_secs(90),
    )
    .await;

    // kill -9: its units are worked on again within about one session timeout.
    let before = now_ns();
    killed.kill().await;
    let took = all_worked_after(&[&cut, &paused], &units, before, Duration::from_secs(30)).await;
    eprintln!("after kill -9: every unit worked on again after {took:?}");

    // SIGSTOP past the session timeout, then SIGCONT: it must have stopped (REVOKED) before
    // anyone else worked on its units; the checker sees any overlap.
    let stopped_at = now_ns();
    paused.signal(Signal::SIGSTOP);
    tokio::time::sleep(Duration::from_millis(SESSION_MS + 1500)).await;
    paused.signal(Signal::SIGCONT);
    let revoked = wait_line(&paused, Duration::from_secs(20), |l| {
        l.kind == "REVOKED" && l.ns >= stopped_at
    })
    .await;
    // On resume it did no more work under its old grants before saying they were gone.
    let before_revoke: Vec<String> = paused
        .lines
        .lock()
        .expect("lines")
        .iter()
        .filter_map(|raw| partition_line(raw))
        .filter(|(_, l)| l.kind == "WORK" && l.ns > stopped_at && l.ns < revoked.ns)
        .map(|(_, l)| l.raw)
        .collect();
    assert!(
        before_revoke.is_empty(),
        "worked after the pause before revoking: {before_revoke:?}"
    );

    // Cut the proxied member off for longer than its session.
    proxy.block_new();
    proxy.drop_connections().await;
    tokio::time::sleep(Duration::from_millis(SESSION_MS + 1500)).await;
    proxy.unblock();

    // A new member, and units added and removed meanwhile.
    let mut added = member(&server, path, units_path, "added");
    units.insert("unit-20".into());
    units.insert("unit-21".into());
    units.remove("unit-00");
    set_units(&admin, units_path, &units).await;
    let after = now_ns();
    all_worked_after(
        &[&cut, &paused, &added],
        &units,
        after,
        Duration::from_secs(40),
    )
    .await;
    wait_line(&added, Duration::from_secs(20), |l| l.kind == "ASSIGNED").await;

    // Graceful leave: drains and exits 0; its units move on within a few round trips.
    let left_at = now_ns();
    added.signal(Signal::SIGTERM);
    added.finish(Duration::from_secs(30)).await;
    added
        .wait_for(Duration::ZERO, |l| l.kind == "DRAINED")
        .await;
    all_worked_after(&[&cut, &paused], &units, left_at, Duration::from_secs(30)).await;

    // The removed unit is not worked on any more.
    let lines = by_unit(&[&cut, &paused]);
    let settled = now_ns();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = by_unit(&[&cut, &paused]);
    assert!(
        late.get("unit-00")
            .is_none_or(|ls| ls.iter().all(|l| l.ns < settled)),
        "removed unit still worked on"
    );
    drop(lines);

    let grants = check_all(&[&cut, &killed, &paused, &added]);
    assert!(
        grants >= 12 * 3,
        "only {grants} grants: the faults moved nothing"
    );
    for w in [&mut cut, &mut paused] {
        w.kill().await;
    }
    admin.close().await;
}

/// 100 units, 4 → 5 → 3 members (in-process partitioners, one session each): the number of
/// units that move equals the optimum at each change, and every unit ends up owned.
async fn movement_is_minimal(backend: &Backend) {
    let path = "/recipes/partition/movement";
    let units = Units::fixed((0..100).map(|i| format!("u{i:03}")));
    let mut members = BTreeMap::new();
    for i in 0..4 {
        members.insert(i, start_member(backend, path, i, &units).await);
    }
    let observer = Client::connect(&backend.connect_string())
        .await
        .expect("connect");
    let four = settled_assignment(&observer, path, 4).await;
    members.insert(4, start_member(backend, path, 4, &units).await);
    let five = settled_assignment(&observer, path, 5).await;
    assert_eq!(moved(&four, &five), 20, "4 -> 5 members");
    for i in [1, 3] {
        let (p, client) = members.remove(&i).expect("member");
        p.shutdown(Duration::from_secs(10)).await.expect("drain");
        client.close().await;
    }
    let three = settled_assignment(&observer, path, 3).await;
    assert_eq!(moved(&five, &three), 40, "5 -> 3 members");
    // Every unit is owned by its assigned member.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let owned: usize = members.values().map(|(p, _)| p.owned().len()).sum();
        if owned == 100 {
            break;
        }
        assert!(Instant::now() < deadline, "only {owned} of 100 units owned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Without faults nobody had to fence itself, and every move was a cooperative handoff.
    let fenced: u64 = members.values().map(|(p, _)| p.stats().self_fenced).sum();
    let grants: u64 = members.values().map(|(p, _)| p.stats().grants).sum();
    assert_eq!(fenced, 0, "self-fencing without a fault");
    assert!(grants >= 100, "only {grants} grants");
    for (_, (p, client)) in members {
        let _ = p.shutdown(Duration::from_secs(10)).await;
        client.close().await;
    }
    observer.close().await;
}

async fn start_member(
    backend: &Backend,
    path: &str,
    i: usize,
    units: &Units,
) -> (Partitioner, Client) {
    let client = Client::builder(&backend.connect_string())
        .session_timeout(Duration::from_millis(SESSION_MS))
        .connect()
        .await
        .expect("connect");
    let p = Partitioner::start(
        client.clone(),
        path,
        PartitionerOptions::new(format!("m{i}"), units.clone()),
    )
    .await
    .expect("start");
    spawn_acker(&p);
    (p, client)
}

/// Acknowledges every revoke at once, as an application that stops instantly would.
fn spawn_acker(p: &Partitioner) {
    let mut events = p.events();
    let acker = p.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let PartitionEvent::Revoking { unit, .. } = event {
                acker.ack_revoked(&unit);
            }
        }
    });
}

/// Waits until the assignment node assigns every unit to one of exactly `n` members and stays so.
async fn settled_assignment(client: &Client, path: &str, n: usize) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((data, _)) = client.get_data(&format!("{path}/assignment")).await {
            let value: serde_json::Value = serde_json::from_slice(&data).expect("json");
            let map: BTreeMap<String, String> = value["units"]
                .as_object()
                .expect("units")
                .iter()
                .filter_map(|(u, o)| o.as_str().map(|o| (u.clone(), o.to_owned())))
                .collect();
            let owners: BTreeSet<&String> = map.values().collect();
            if map.len() == 100 && owners.len() == n {
                return map;
            }
        }
        assert!(
            Instant::now() < deadline,
            "assignment never settled on {n} members"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A second process with a live member's id is refused, and an assignment node written by
/// something else is not trusted (the leader replaces it).
async fn bad_input_is_refused(backend: &Backend) {
    let path = "/recipes/partition/bad";
    let client = Client::connect(&backend.connect_string())
        .await
        .expect("connect");
    zk_recipes::paths::ensure_containers(&client, path)
        .await
        .expect("path");
    client
        .create(
            &format!("{path}/assignment"),
            b"\x00 not json",
            &CreateOptions::persistent(),
        )
        .await
        .expect("foreign assignment");
    let units = Units::fixed(["a", "b", "c"]);
    let first = Partitioner::start(
        client.clone(),
        path,
        PartitionerOptions::new("same", units.clone()),
    )
    .await
    .expect("first");
    spawn_acker(&first);
    let other = Client::connect(&backend.connect_string())
        .await
        .expect("connect");
    let second =
        Partitioner::start(other.clone(), path, PartitionerOptions::new("same", units)).await;
    assert!(
        matches!(second, Err(RecipeError::DuplicateMember { .. })),
        "{second:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while first.owned().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "units never owned: {:?}",
            first.assignment()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        Partitioner::start(
            client.clone(),
            "not/a/path",
            PartitionerOptions::new("x", Units::fixed(["a"]))
        )
        .await
        .is_err()
    );
    first.shutdown(Duration::from_secs(5)).await.expect("drain");
    other.close().await;
    client.close().await;
}

/// A pegged unit goes to its member; reported loads move heavy units apart at the next
/// rebalance, while no unit ever has two owners (checked on the owned sets after every change).
async fn pegging_and_load_aware_balance(backend: &Backend) {
    let path = "/recipes/partition/load";
    let mut specs: Vec<UnitSpec> = (0..6).map(|i| UnitSpec::new(format!("u{i}"))).collect();
    specs.push(UnitSpec::new("pinned").pegged_to("b"));
    let units = Units::Static(specs);
    let mut members = Vec::new();
    for id in ["a", "b"] {
        let client = Client::builder(&backend.connect_string())
            .session_timeout(Duration::from_millis(SESSION_MS))
            .connect()
            .await
            .expect("connect");
        let options = PartitionerOptions::new(id, units.clone())
            .rebalance_interval(Duration::from_millis(300))
            .balance(BalanceOptions::default().tolerance(0.1));
        let p = Partitioner::start(client.clone(), path, options)
            .await
            .expect("start");
        spawn_acker(&p);
        members.push((p, client));
    }
    let owned_by = |members: &Vec<(Partitioner, Client)>| -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (p, _) in members {
            for unit in p.owned().into_keys() {
                assert!(
                    out.insert(unit.clone(), p.member_id().to_owned()).is_none(),
                    "{unit} owned twice"
                );
            }
        }
        out
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while owned_by(&members).len() < 7 {
        assert!(Instant::now() < deadline, "not all units owned");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(owned_by(&members)["pinned"], "b");
    // Member a reports two of its units as very heavy: one of them must move to b.
    let (a, _) = &members[0];
    let heavy: Vec<String> = a
        .owned()
        .into_keys()
        .filter(|u| u != "pinned")
        .take(2)
        .collect();
    assert_eq!(heavy.len(), 2, "a owns at least two units: {:?}", a.owned());
    a.report_loads(heavy.iter().map(|u| (u.clone(), 50.0)).collect());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let owners = owned_by(&members);
        let split = owners
            .get(&heavy[0])
            .zip(owners.get(&heavy[1]))
            .is_some_and(|(x, y)| x != y);
        if split && owners.len() == 7 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "heavy units never split: {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (p, client) in members {
        let _ = p.shutdown(Duration::from_secs(10)).await;
        client.close().await;
    }
}

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(180);
    members_under_faults(zk_options()),
    movement_is_minimal(zk_options()),
    bad_input_is_refused(zk_options()),
    pegging_and_load_aware_balance(zk_options()),
}

/// On a real 3-node ensemble: the ZooKeeper leader is killed (members fail over with their
/// sessions), then a member process is killed; exclusivity and token order hold throughout and
/// every unit is worked on again after each fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_survive_ensemble_leader_loss() {
    require_real_zk!();
    zk_integration_tests::backend::bounded(Duration::from_secs(240), async {
        let mut ensemble = RealZkEnsemble::start(3, zk_options())
            .await
            .expect("start a 3-node ensemble");
        let server = ensemble.connect_string();
        let path = "/recipes/partition/ensemble";
        let units_path = "/recipes/partition/ensemble-units";
        let admin = Client::connect(&server).await.expect("connect");
        zk_recipes::paths::ensure_containers(&admin, "/recipes/partition")
            .await
            .expect("parent");
        admin
            .create(units_path, b"", &CreateOptions::persistent())
            .await
            .expect("units path");
        let units: BTreeSet<String> = (0..9).map(|i| format!("unit-{i}")).collect();
        set_units(&admin, units_path, &units).await;
        let mut a = member(&server, path, units_path, "a");
        let mut b = member(&server, path, units_path, "b");
        let mut c = member(&server, path, units_path, "c");
        all_worked_after(&[&a, &b, &c], &units, now_ns(), Duration::from_secs(60)).await;

        let leader = ensemble.leader().await.expect("a leader");
        let killed_at = now_ns();
        ensemble.kill(leader);
        let took =
            all_worked_after(&[&a, &b, &c], &units, killed_at, Duration::from_secs(90)).await;
        eprintln!("after killing the ZooKeeper leader: every unit worked on again after {took:?}");

        let before = now_ns();
        b.kill().await;
        all_worked_after(&[&a, &c], &units, before, Duration::from_secs(60)).await;

        check_all(&[&a, &b, &c]);
        a.kill().await;
        c.kill().await;
        admin.close().await;
    })
    .await;
}
