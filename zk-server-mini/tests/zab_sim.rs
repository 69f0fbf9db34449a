//! Deterministic simulation of Zab ensembles (3 and 5 members, and 3 voters with 1 or 2
//! observers) under seeded faults: message
//! loss, delay, reordering, duplication, partitions, crashes that keep only fsynced data
//! (with torn writes), full-ensemble crashes. Invariants are checked after every event (see
//! `zab_harness/check.rs`); after the faults heal, a leader must be elected and a new write
//! committed within a bound of virtual time, and every member must hold every acknowledged
//! write.
//!
//! - `cargo test -p zk-server-mini --test zab_sim` runs a few dozen seeds (seconds).
//! - `ZAB_SIM_SEEDS=100000 cargo test --release -p zk-server-mini --test zab_sim -- --nocapture`
//!   is the long run (`ZAB_SIM_FIRST_SEED` picks where it starts; `ZAB_SIM_CHAOS=10` loses,
//!   duplicates and reorders 10% of messages instead of 2%).
//! - `ZAB_SIM_SEED=N cargo test -p zk-server-mini --test zab_sim <test name> -- --nocapture`
//!   reproduces one seed of that test (a failure prints this line, and the trace).
//! - `three_voters_with_membership_changes_under_random_faults` adds membership changes
//!   (`zab_harness/membership.rs`); by default the driver keeps ZooKeeper's rule that a
//!   quorum of the new voters is synced to the leader; `ZAB_SIM_ANY_CHANGE=1` lifts it (a
//!   change then commits once its new voters have synced). `ZAB_SIM_KEEP_GOING=1` runs
//!   every seed and lists those that failed, instead of stopping at the first.

mod zab_harness;

use zab_harness::{Bug, Ms, Sim, TICK_MS};

/// Virtual time under faults per seed.
const FAULT_MS: Ms = 5_000;
/// Bound on recovery after healing (elect + commit, then catch up).
const SETTLE_MS: Ms = 30_000;
/// Session timeout of the simulated clients.
const SESSION_TIMEOUT_MS: u64 = 1_000;

/// What one seed did.
#[derive(Debug, Default)]
struct Outcome {
    acked: usize,
    applies: u64,
    crashes: u64,
    reads: u64,
    sessions: u64,
    expiries: u64,
    snaps: u64,
    /// Membership changes proposed, and applied.
    changes: u64,
    changes_applied: u64,
}

impl Outcome {
    /// Adds what another seed did.
    fn add(&mut self, o: &Outcome) {
        self.acked += o.acked;
        self.applies += o.applies;
        self.crashes += o.crashes;
        self.reads += o.reads;
        self.sessions += o.sessions;
        self.expiries += o.expiries;
        self.snaps += o.snaps;
        self.changes += o.changes;
        self.changes_applied += o.changes_applied;
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs one seed; `Err` names the broken invariant, with the trace's tail.
fn run_seed(seed: u64, members: u64, bug: Bug) -> Result<Outcome, String> {
    // Without snapshots every rejoin of a diverged member is a TRUNC, not a SNAP.
    run_seed_with(seed, members, bug, bug != Bug::SkipTruncate)
}

/// [`run_seed`], with or without snapshots (without them no sync is a SNAP).
fn run_seed_with(seed: u64, members: u64, bug: Bug, snapshots: bool) -> Result<Outcome, String> {
    run_seed_observed(seed, members, 0, bug, snapshots)
}

/// [`run_seed_with`] with `observers` non-voting members beside the `members` voters;
/// faults, clients and writes pick among all of them.
fn run_seed_observed(
    seed: u64,
    voters: u64,
    observers: u64,
    bug: Bug,
    snapshots: bool,
) -> Result<Outcome, String> {
    let sim = Sim::with_observers(voters, observers, seed, bug);
    let label = format!("{voters} voters, {observers} observers, {bug:?}");
    run_sim(seed, sim, &label, snapshots, None)
}

/// A pool of six: three voters, one observer and two servers not yet members; now and
/// then the leader proposes a membership change (see `Sim::propose_change`).
fn run_seed_membership(seed: u64, bug: Bug) -> Result<Outcome, String> {
    let mut sim = Sim::with_membership(6, 3, 1, seed, bug);
    sim.any_change = env_u64("ZAB_SIM_ANY_CHANGE").is_some_and(|v| v != 0);
    run_sim(
        seed,
        sim,
        &format!("membership changes, {bug:?}"),
        true,
        Some(0.03),
    )
}

/// Runs the random workload and faults on `sim`, then settles and checks; with
/// `change_rate`, a membership change is proposed at that rate per step of the workload.
fn run_sim(
    seed: u64,
    mut sim: Sim,
    label: &str,
    snapshots: bool,
    change_rate: Option<f64>,
) -> Result<Outcome, String> {
    let members = sim.nodes.len() as u64;
    if let Some(percent) = env_u64("ZAB_SIM_CHAOS") {
        // A harsher network: this percentage of messages lost, duplicated and reordered.
        let p = percent.min(50) as f64 / 100.0;
        (sim.faults.loss, sim.faults.duplicate, sim.faults.reorder) = (p, p, p);
    }
    if !snapshots {
        sim.no_snapshots();
    }
    let mut out = Outcome::default();
    let end = sim.now + FAULT_MS;
    let ids: Vec<u64> = (1..=members).collect();
    let mut next_fault = sim.now + sim.rng.below(sim.faults.fault_every * 2);
    // Session clients: (session, still alive). A live client touches its session at a
    // random serving member; a dead one goes quiet and its session must be expired.
    let mut clients: Vec<(i64, bool)> = Vec::new();
    let mut ephemeral = 0u64;
    while sim.now < end && !sim.checker.failed() {
        let pause = 1 + sim.rng.below(30);
        sim.run_for(pause);
        if sim.rng.chance(0.5) {
            sim.write();
        }
        if clients.len() < 8 && sim.rng.chance(0.03) {
            let session = clients.len() as i64 + 1;
            if sim.submit(&format!("open:{session}:{SESSION_TIMEOUT_MS}")) {
                clients.push((session, true));
            }
        }
        for (session, alive) in clients.iter_mut() {
            if *alive && sim.rng.chance(0.01) {
                *alive = false;
            }
            let serving = sim.serving();
            if *alive && !serving.is_empty() && sim.rng.chance(0.5) {
                let at = serving[sim.rng.below(serving.len() as u64) as usize];
                sim.input(at, zk_server_mini::zab::Input::Touch { session: *session });
            }
        }
        if !clients.is_empty() && sim.rng.chance(0.05) {
            let (session, alive) = clients[sim.rng.below(clients.len() as u64) as usize];
            if alive {
                ephemeral += 1;
                sim.submit(&format!("eph:{session}:{ephemeral}"));
            }
        }
        if sim.rng.chance(0.05) {
            let at = ids[sim.rng.below(members) as usize];
            if sim.nodes[&at].peer.as_ref().is_some_and(|p| p.is_serving()) {
                sim.read_index(at);
            }
        }
        if sim.now >= next_fault {
            next_fault = sim.now + 1 + sim.rng.below(sim.faults.fault_every * 2);
            let pick = ids[sim.rng.below(members) as usize];
            match sim.rng.below(10) {
                0..=2 => {
                    sim.crash(pick);
                    out.crashes += 1;
                }
                3..=5 => sim.start(pick),
                6 => {
                    // Split the members in two at random.
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    for id in &ids {
                        if sim.rng.chance(0.5) {
                            a.push(*id)
                        } else {
                            b.push(*id)
                        }
                    }
                    sim.partition(&[&a, &b]);
                }
                7 => sim.heal(),
                8 => {
                    // The whole ensemble loses power.
                    for id in &ids {
                        sim.crash(*id);
                    }
                    out.crashes += members;
                }
                _ => {
                    for id in &ids {
                        sim.start(*id);
                    }
                }
            }
        }
        if let Some(rate) = change_rate
            && sim.rng.chance(rate)
        {
            sim.propose_change();
        }
    }
    let mut settled = if sim.checker.failed() {
        Ok(0)
    } else {
        sim.settle(SETTLE_MS)
    };
    // Every client is gone now: the leader must expire every session, and every member
    // must drop every session and ephemeral node, within a bound.
    if settled.is_ok() && !sim.checker.failed() {
        let expired = sim.run_until(SETTLE_MS, |s| {
            s.nodes.values().all(|n| {
                s.removed.contains(&n.id)
                    || (n.app.sessions.is_empty() && n.app.ephemerals.is_empty())
            })
        });
        if !expired {
            let left: Vec<_> = sim
                .nodes
                .values()
                .map(|n| (n.id, n.app.sessions.clone(), n.app.ephemerals.len()))
                .collect();
            settled = Err(format!("sessions never expired: {left:?}"));
        }
    }
    out.acked = sim.checker.acked_count();
    out.applies = sim.checker.applies;
    out.reads = sim.reads_checked;
    out.sessions = clients.len() as u64;
    out.expiries = sim.expired.len() as u64;
    out.snaps = sim.snaps_sent;
    out.changes = sim.changes.len() as u64;
    out.changes_applied = sim
        .changes
        .iter()
        .filter(|(_, z, p)| sim.checker.applied_payload(*z).as_ref() == Some(p))
        .count() as u64;
    if sim.checker.failed() {
        return Err(format!(
            "seed {seed} ({label}): {:?}\n--- last events ---\n{}",
            sim.checker.violations(),
            sim.trace()
        ));
    }
    if let Err(e) = settled {
        return Err(format!(
            "seed {seed} ({label}): liveness: {e}\n--- last events ---\n{}\n--- members ---\n{}",
            sim.trace(),
            sim.describe()
        ));
    }
    Ok(out)
}

/// Runs the seeds for the test named `test`.
fn run_many(test: &str, members: u64, default_seeds: u64, snapshots: bool) {
    run_many_observed(test, members, 0, default_seeds, snapshots);
}

/// [`run_many`] with observers.
fn run_many_observed(
    test: &str,
    members: u64,
    observers: u64,
    default_seeds: u64,
    snapshots: bool,
) {
    if let Some(seed) = env_u64("ZAB_SIM_SEED") {
        match run_seed_observed(seed, members, observers, Bug::None, snapshots) {
            Ok(o) => println!("seed {seed} ({members} members): ok {o:?}"),
            Err(e) => panic!("{e}"),
        }
        return;
    }
    let seeds = env_u64("ZAB_SIM_SEEDS").unwrap_or(default_seeds);
    let first = env_u64("ZAB_SIM_FIRST_SEED").unwrap_or(0);
    let mut total = Outcome::default();
    for seed in first..first + seeds {
        match run_seed_observed(seed, members, observers, Bug::None, snapshots) {
            Ok(o) => total.add(&o),
            Err(e) => panic!(
                "{e}\nreproduce: ZAB_SIM_SEED={seed} cargo test -p zk-server-mini --test zab_sim \
                 {test} -- --nocapture"
            ),
        }
    }
    println!(
        "{seeds} seeds from {first}, {members} members + {observers} observers, snapshots {snapshots}: {} writes acknowledged, {} applies checked, {} crashes, {} sync reads checked, {} sessions opened, {} expiries decided, {} SNAPs of the applied state sent",
        total.acked,
        total.applies,
        total.crashes,
        total.reads,
        total.sessions,
        total.expiries,
        total.snaps
    );
    assert!(total.acked > 0, "the workload never committed anything");
    // With snapshots the in-memory log window is small: members behind it come back by SNAP;
    // without, no sync is a SNAP.
    assert_eq!(total.snaps > 0, snapshots, "{} SNAPs", total.snaps);
}

#[test]
fn three_members_under_random_faults() {
    run_many("three_members_under_random_faults", 3, 300, true);
}

/// Without snapshots, every member that diverged rejoins through TRUNC (never SNAP).
#[test]
fn three_members_without_snapshots() {
    run_many("three_members_without_snapshots", 3, 150, false);
}

#[test]
fn five_members_under_random_faults() {
    run_many("five_members_under_random_faults", 5, 150, true);
}

/// Three voters and two observers: observers sync (DIFF / TRUNC / SNAP), apply the same
/// committed prefix as everyone, never lead, vote or acknowledge, and are never counted
/// for a quorum (an entry durable on observers only is not committed).
#[test]
fn three_members_and_two_observers_under_random_faults() {
    run_many_observed(
        "three_members_and_two_observers_under_random_faults",
        3,
        2,
        150,
        true,
    );
}

/// One observer, no snapshots: a diverged observer rejoins through TRUNC.
#[test]
fn three_members_and_an_observer_without_snapshots() {
    run_many_observed(
        "three_members_and_an_observer_without_snapshots",
        3,
        1,
        80,
        false,
    );
}

/// The same seed gives the same run, event for event.
#[test]
fn a_seed_replays_exactly() {
    let a = run_seed(7, 3, Bug::None).map(|o| (o.acked, o.applies, o.crashes));
    let b = run_seed(7, 3, Bug::None).map(|o| (o.acked, o.applies, o.crashes));
    assert_eq!(a, b);
}

/// Finds a seed on which the invariants catch `bug`.
fn caught(bug: Bug, seeds: u64) -> Option<(u64, String)> {
    (0..seeds).find_map(|seed| run_seed(seed, 3, bug).err().map(|e| (seed, e)))
}

/// The checker can fail: a driver that acknowledges appends it never fsynced loses
/// acknowledged writes on a crash, and the invariants say so.
#[test]
fn checker_catches_acks_before_fsync() {
    let found = caught(Bug::AckBeforeFsync, 50);
    assert!(found.is_some(), "no seed caught acks before fsync");
    if let Some((seed, e)) = found {
        println!("caught on seed {seed}: {}", e.lines().next().unwrap_or(""));
    }
}

/// The checker can fail: applying logged-but-uncommitted entries at startup makes them
/// visible.
#[test]
fn checker_catches_applying_uncommitted_entries() {
    let found = caught(Bug::ApplyLoggedOnRecovery, 50);
    assert!(
        found.is_some(),
        "no seed caught applying uncommitted entries"
    );
    if let Some((seed, e)) = found {
        println!("caught on seed {seed}: {}", e.lines().next().unwrap_or(""));
    }
}

/// The checker can fail: a driver that acknowledges TRUNC without cutting the log leaves
/// uncommitted entries that come back after a restart.
#[test]
fn checker_catches_skipped_truncation() {
    let found = caught(Bug::SkipTruncate, 300);
    assert!(found.is_some(), "no seed caught a skipped truncation");
    if let Some((seed, e)) = found {
        println!("caught on seed {seed}: {}", e.lines().next().unwrap_or(""));
    }
}

/// The checker can fail: a driver that writes currentEpoch before the synced history
/// queued ahead of it can lose acknowledged writes (ZOOKEEPER-4643's order).
#[test]
fn checker_catches_epoch_before_history() {
    let found = caught(Bug::EpochBeforeHistory, 300);
    assert!(found.is_some(), "no seed caught epoch-before-history");
    if let Some((seed, e)) = found {
        println!("caught on seed {seed}: {}", e.lines().next().unwrap_or(""));
    }
}

/// The checker can fail: cores that let observers vote (and count them for a quorum) are
/// caught.
#[test]
fn checker_catches_observers_that_vote() {
    let found = (0..20).find_map(|seed| {
        run_seed_observed(seed, 3, 2, Bug::ObserversVote, true)
            .err()
            .map(|e| (seed, e))
    });
    assert!(found.is_some(), "no seed caught voting observers");
    if let Some((seed, e)) = found {
        println!("caught on seed {seed}: {}", e.lines().next().unwrap_or(""));
    }
}

/// Sessions: expiry is decided by the leader alone, from touches its followers forward in
/// their ping answers; a session whose client keeps touching a follower lives on, across a
/// leader change too, and one that goes quiet is expired once, by the leader, within its
/// timeout plus a tick.
#[test]
fn sessions_expire_at_the_leader_from_touches_forwarded_by_followers() {
    use zk_server_mini::zab::Input;
    let mut sim = Sim::quiet(3, 5, Bug::None);
    let Some(l) = sim.await_leader(20_000) else {
        panic!("no leader: {}", sim.trace())
    };
    let f = (1..=3).find(|m| *m != l).unwrap_or(1);
    const SESSION: i64 = 0x77;
    const TIMEOUT: u64 = 1_000;
    // Every member applies the create-session transaction.
    for m in 1..=3 {
        sim.input(
            m,
            Input::SessionOpened {
                session: SESSION,
                timeout_ms: TIMEOUT,
            },
        );
    }
    // The client talks to a follower only, for four timeouts.
    let until = sim.now + 4 * TIMEOUT;
    while sim.now < until {
        sim.input(f, Input::Touch { session: SESSION });
        sim.run_for(TICK_MS * 2);
    }
    assert!(
        sim.expired.is_empty(),
        "expired while touched: {:?}",
        sim.expired
    );
    // The leader changes: the new one starts the session's clock afresh.
    sim.crash(l);
    sim.run_until(20_000, |s| s.leader().is_some_and(|x| x != l));
    let Some(l2) = sim.leader() else {
        panic!("no new leader: {}", sim.trace())
    };
    let touched_by = (1..=3).find(|m| *m != l && *m != l2).unwrap_or(f);
    let until = sim.now + 3 * TIMEOUT;
    while sim.now < until {
        sim.input(touched_by, Input::Touch { session: SESSION });
        sim.run_for(TICK_MS * 2);
    }
    assert!(
        sim.expired.is_empty(),
        "expired while touched: {:?}",
        sim.expired
    );
    // The client goes quiet.
    let quiet_from = sim.now;
    sim.run_for(3 * TIMEOUT);
    assert_eq!(sim.expired.len(), 1, "{:?}", sim.expired);
    let (by, session, at) = sim.expired[0];
    assert_eq!((by, session), (l2, SESSION));
    assert!(
        at >= quiet_from && at <= quiet_from + TIMEOUT + 2 * TICK_MS + 2 * TICK_MS,
        "expired at {at}, quiet from {quiet_from}"
    );
}

/// Observers never make a quorum: with two of three voters down, the last voter and an
/// observer commit nothing (the leader steps down, the observer stops serving); a voter back
/// makes progress again, and the observer, restarted meanwhile, catches up with every
/// acknowledged write without ever leading.
#[test]
fn observers_never_make_a_quorum() {
    use zk_server_mini::zab::Role;
    let mut sim = Sim::quiet_observed(3, 1, 11);
    let Some(l) = sim.await_leader(20_000) else {
        panic!("no leader: {}", sim.trace())
    };
    assert!(
        sim.run_until(10_000, |s| s.serving().contains(&4)),
        "the observer never served: {}",
        sim.trace()
    );
    assert!(
        matches!(sim.peer(4).map(|p| p.role()), Some(Role::Observing { leader }) if leader == l)
    );
    assert_eq!(sim.acked_writes(3).len(), 3);
    // A write submitted at the observer is forwarded and committed like a follower's.
    let Some(n) = sim.write_at(4) else {
        panic!("observer down")
    };
    assert!(
        sim.run_until(5_000, |s| s.checker.is_acked(n)),
        "observer's write never committed"
    );
    // Two voters down: the observer is up, yet nothing commits.
    let others: Vec<u64> = (1..=3).filter(|m| *m != l).collect();
    sim.crash(others[0]);
    sim.crash(others[1]);
    let before = sim.checker.acked_count();
    for _ in 0..5 {
        sim.write_at(l);
        sim.write_at(4);
        sim.run_for(TICK_MS);
    }
    sim.run_for(3_000);
    assert_eq!(
        sim.checker.acked_count(),
        before,
        "committed without a quorum of voters"
    );
    assert!(
        sim.leader().is_none(),
        "a leader kept leading without a quorum"
    );
    assert!(
        !sim.serving().contains(&4),
        "the observer serves without a quorum behind it"
    );
    // The observer restarts while the quorum is gone, then one voter comes back.
    sim.crash(4);
    sim.start(4);
    sim.start(others[0]);
    let Some(l2) = sim.await_leader(30_000) else {
        panic!("no leader after a voter came back: {}", sim.trace())
    };
    assert_ne!(l2, 4);
    assert_eq!(sim.acked_writes(2).len(), 2);
    let target = sim.checker.max_acked();
    assert!(
        sim.run_until(10_000, |s| s.nodes[&4].app.zxid >= target),
        "the observer did not catch up: {}",
        sim.trace()
    );
    assert!(!sim.checker.failed(), "{:?}", sim.checker.violations());
}

/// A session whose client talks to an observer only lives on: the observer forwards its
/// touches in ping answers as a follower does; once the client goes quiet the leader
/// expires it.
#[test]
fn sessions_touched_at_an_observer_live_on() {
    use zk_server_mini::zab::Input;
    let mut sim = Sim::quiet_observed(3, 1, 5);
    if sim.await_leader(20_000).is_none() {
        panic!("no leader: {}", sim.trace())
    }
    assert!(
        sim.run_until(10_000, |s| s.serving().contains(&4)),
        "the observer never served: {}",
        sim.trace()
    );
    const SESSION: i64 = 0x78;
    const TIMEOUT: u64 = 1_000;
    for m in 1..=4 {
        sim.input(
            m,
            Input::SessionOpened {
                session: SESSION,
                timeout_ms: TIMEOUT,
            },
        );
    }
    let until = sim.now + 4 * TIMEOUT;
    while sim.now < until {
        sim.input(4, Input::Touch { session: SESSION });
        sim.run_for(TICK_MS * 2);
    }
    assert!(
        sim.expired.is_empty(),
        "expired while touched at the observer: {:?}",
        sim.expired
    );
    sim.run_for(3 * TIMEOUT);
    assert_eq!(sim.expired.len(), 1, "{:?}", sim.expired);
    assert_eq!(sim.expired[0].1, SESSION);
}

/// Membership changes under the usual faults: a pool of six (three voters, an observer, two
/// servers not yet members that run as learners); the leader now and then proposes a change
/// (add or remove a voter, the leader itself included; add or remove an observer; a voter
/// made an observer and back; a whole new membership), one at a time. Every invariant holds
/// across changes, plus the membership ones (`zab_harness/membership.rs`): commits and
/// epochs need majorities of the committed voters and of a pending change's, removed
/// members never lead again nor speak as members, and every change proposed is applied or
/// truncated once the faults heal.
#[test]
fn three_voters_with_membership_changes_under_random_faults() {
    const TEST: &str = "three_voters_with_membership_changes_under_random_faults";
    if let Some(seed) = env_u64("ZAB_SIM_SEED") {
        match run_seed_membership(seed, Bug::None) {
            Ok(o) => println!("seed {seed}: ok {o:?}"),
            Err(e) => panic!("{e}"),
        }
        return;
    }
    let seeds = env_u64("ZAB_SIM_SEEDS").unwrap_or(300);
    let first = env_u64("ZAB_SIM_FIRST_SEED").unwrap_or(0);
    // `ZAB_SIM_KEEP_GOING=1`: run every seed, then report all that failed.
    let keep_going = env_u64("ZAB_SIM_KEEP_GOING").is_some_and(|v| v != 0);
    let mut failed = Vec::new();
    let mut total = Outcome::default();
    for seed in first..first + seeds {
        match run_seed_membership(seed, Bug::None) {
            Ok(o) => total.add(&o),
            Err(e) if keep_going => {
                eprintln!("{}", e.lines().next().unwrap_or_default());
                failed.push(seed);
            }
            Err(e) => panic!(
                "{e}\nreproduce: ZAB_SIM_SEED={seed} cargo test -p zk-server-mini --test zab_sim \
                 {TEST} -- --nocapture"
            ),
        }
    }
    assert!(
        failed.is_empty(),
        "{} seeds failed: {failed:?}",
        failed.len()
    );
    println!(
        "{seeds} seeds from {first}, membership changes: {} writes acknowledged, {} applies checked, {} crashes, {} SNAPs sent, {} changes proposed, {} applied",
        total.acked,
        total.applies,
        total.crashes,
        total.snaps,
        total.changes,
        total.changes_applied
    );
    assert!(total.acked > 0, "the workload never committed anything");
    assert!(
        total.changes_applied > 0,
        "no membership change was ever applied"
    );
}

/// A membership-change seed replays exactly.
#[test]
fn a_membership_seed_replays_exactly() {
    let run = || {
        run_seed_membership(3, Bug::None)
            .map(|o| (o.acked, o.applies, o.crashes, o.changes, o.changes_applied))
    };
    assert_eq!(run(), run());
}

/// The checker can fail: cores whose quorums ignore a pending change's voters (counting
/// the committed voters only) commit entries the new membership never logged.
#[test]
fn checker_catches_quorums_without_the_pending_change() {
    let found = (0..100).find_map(|seed| {
        run_seed_membership(seed, Bug::CommittedQuorumOnly)
            .err()
            .map(|e| (seed, e))
    });
    assert!(
        found.is_some(),
        "no seed caught quorums without the pending change"
    );
    if let Some((seed, e)) = found {
        println!("caught on seed {seed}: {}", e.lines().next().unwrap_or(""));
    }
}
