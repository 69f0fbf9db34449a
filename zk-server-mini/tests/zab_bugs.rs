//! ZooKeeper's replication bugs (ZAB.md §2), one scripted simulation each. Every scenario
//! drives an ensemble to the crash point the bug needed and asserts the invariant the bug
//! broke; where a driver mistake reproduces the bug, the same schedule is run with that
//! mistake too and the invariants must catch it (so the scenario is known to be able to
//! fail).

mod zab_harness;

use bytes::Bytes;
use zab_harness::{Bug, CrashAt, MsgKind, OpKind, Sim, Violation};
use zk_server_mini::zab::{Entry, Message};
use zk_server_mini::zxid;

const SEED: u64 = 42;
const LIMIT: u64 = 20_000;

/// In a run with a deliberately broken driver, a setup step may not complete because the
/// invariants already caught the bug: that run ends there.
macro_rules! setup {
    ($sim:expr, $ok:expr, $what:expr) => {
        if !$ok {
            if $sim.bug != Bug::None && $sim.checker.failed() {
                return $sim;
            }
            fail(&$sim, $what);
        }
    };
}

/// Fails the test with the simulation's trace.
fn fail(sim: &Sim, what: &str) -> ! {
    panic!(
        "{what}: {:?}\n--- last events ---\n{}",
        sim.checker.violations(),
        sim.trace()
    )
}

fn clean(sim: &mut Sim, what: &str) {
    if sim.checker.failed() {
        fail(sim, what);
    }
    if let Err(e) = sim.settle(LIMIT) {
        fail(sim, &format!("{what}: {e}"));
    }
    if sim.checker.failed() {
        fail(sim, what);
    }
}

fn caught(sim: &mut Sim) -> bool {
    if !sim.checker.failed() {
        let _ = sim.settle(LIMIT);
    }
    if std::env::var("ZAB_TRACE").is_ok() {
        eprintln!("{:?}\n{}", sim.checker.violations(), sim.trace());
    }
    sim.checker.failed()
}

fn others(sim: &Sim, id: u64) -> Vec<u64> {
    sim.nodes.keys().copied().filter(|m| *m != id).collect()
}

/// Leader `l` logs one write nobody else receives, then crashes: returns its zxid.
fn uncommitted_tail_at_leader(sim: &mut Sim, l: u64) -> i64 {
    sim.filter = Some(Box::new(move |from, _, m| {
        from == l && matches!(m, Message::Proposal { .. })
    }));
    let before = sim.peer(l).map_or(0, |p| p.last_logged());
    sim.write_at(l);
    let logged = sim.run_until(LIMIT, |s| {
        s.nodes[&l]
            .durable
            .keys()
            .next_back()
            .is_some_and(|z| *z > before)
    });
    if !logged {
        fail(sim, "the leader never logged its write");
    }
    let x = sim.nodes[&l]
        .durable
        .keys()
        .next_back()
        .copied()
        .unwrap_or(0);
    sim.crash(l);
    sim.filter = None;
    x
}

/// ZOOKEEPER-1154: a server holding an uncommitted higher zxid rejoined and got a DIFF
/// instead of a TRUNC, keeping the uncommitted update. Here the old leader logs `x`, crashes,
/// the others move on to a new epoch, and it rejoins: `x` must be truncated from its log
/// (and never applied anywhere). With a driver that skips the truncation the invariants
/// fail (its log no longer recovers as one continuous history).
#[test]
fn zookeeper_1154_uncommitted_tail_is_truncated_on_rejoin() {
    fn run(bug: Bug) -> (Sim, i64, u64) {
        let mut sim = Sim::quiet(3, SEED, bug);
        // No snapshots: the rejoin must be a TRUNC, not a SNAP.
        sim.no_snapshots();
        let Some(l) = sim.await_leader(LIMIT) else {
            fail(&sim, "no leader")
        };
        sim.acked_writes(5);
        let x = uncommitted_tail_at_leader(&mut sim, l);
        if sim.acked_writes(3).len() != 3 {
            fail(&sim, "the survivors did not commit");
        }
        sim.start(l);
        let target = sim.checker.max_acked();
        sim.run_until(LIMIT, |s| {
            s.nodes[&l].app.zxid >= target && s.peer(l).is_some_and(|p| p.is_serving())
        });
        // Crash and recover again: the truncation must be on disk, not only in memory.
        sim.crash(l);
        sim.start(l);
        (sim, x, l)
    }
    /// Then the whole ensemble restarts; with equal histories the old leader (the highest
    /// id) leads again, and whatever its log holds becomes the history.
    fn lead_again(sim: &mut Sim) {
        for m in sim.nodes.keys().copied().collect::<Vec<_>>() {
            sim.crash(m);
        }
        for m in sim.nodes.keys().copied().collect::<Vec<_>>() {
            sim.start(m);
        }
    }
    let (mut sim, x, l) = run(Bug::None);
    if sim.nodes[&l].durable.contains_key(&x) {
        fail(&sim, &format!("the uncommitted {x:#x} is still logged"));
    }
    assert!(sim.peer(l).is_some_and(|p| p.history().get(x).is_none()));
    lead_again(&mut sim);
    clean(&mut sim, "ZOOKEEPER-1154");
    let (mut buggy, _, _) = run(Bug::SkipTruncate);
    lead_again(&mut buggy);
    assert!(caught(&mut buggy), "skipping TRUNC went unnoticed");
}

/// ZOOKEEPER-1549: a snapshot taken at startup held a txn that was never committed; TRUNC
/// cut it from the log but the snapshot brought it back. Here snapshots are taken after
/// every applied entry, and the old leader restarts with an uncommitted tail: its state and
/// snapshots must never hold it. A driver that loads the whole log into its state at
/// startup and snapshots that (what ZooKeeper did) is caught.
#[test]
fn zookeeper_1549_no_snapshot_holds_an_uncommitted_txn() {
    fn run(bug: Bug) -> (Sim, i64, u64) {
        let mut sim = Sim::quiet(3, SEED + 1, bug);
        sim.snapshot_every = 1;
        let Some(l) = sim.await_leader(LIMIT) else {
            fail(&sim, "no leader")
        };
        sim.acked_writes(4);
        let x = uncommitted_tail_at_leader(&mut sim, l);
        sim.acked_writes(2);
        sim.start(l);
        let target = sim.checker.max_acked();
        sim.run_until(LIMIT, |s| {
            s.nodes[&l].app.zxid >= target && s.peer(l).is_some_and(|p| p.is_serving())
        });
        sim.crash(l);
        sim.start(l);
        (sim, x, l)
    }
    let (mut sim, x, l) = run(Bug::None);
    assert!(sim.nodes[&l].durable_snapshot != x);
    clean(&mut sim, "ZOOKEEPER-1549");
    let (mut buggy, _, _) = run(Bug::ApplyLoggedOnRecovery);
    assert!(caught(&mut buggy), "a dirty snapshot went unnoticed");
}

/// ZOOKEEPER-2832: a follower with uncommitted txns in its log (and a snapshot labelled
/// below them) syncs with a leader whose last zxid is lower. Five members: the leader's
/// proposals reach one follower only and its acks are lost, both crash, the other three
/// elect a leader, and the follower rejoins before that leader has written anything. It
/// must be truncated back to the leader's history, durably. A driver that skips the
/// truncation is caught.
#[test]
fn zookeeper_2832_follower_ahead_of_new_leader_is_truncated() {
    fn run(bug: Bug) -> (Sim, Vec<i64>, u64) {
        let mut sim = Sim::quiet(5, SEED + 2, bug);
        sim.snapshot_every = 2;
        let Some(l) = sim.await_leader(LIMIT) else {
            fail(&sim, "no leader")
        };
        sim.acked_writes(5);
        let a = others(&sim, l).into_iter().max().unwrap_or(0);
        // Snapshots so far (labelled below the tail to come), none from here on: the
        // rejoin must be a TRUNC, not a SNAP.
        sim.snapshot_every = u64::MAX;
        sim.filter = Some(Box::new(move |from, to, m| {
            (from == l && to != a && matches!(m, Message::Proposal { .. }))
                || (from == a && matches!(m, Message::Ack { .. }))
        }));
        for _ in 0..3 {
            sim.write_at(l);
        }
        let acked = sim.checker.max_acked();
        let done = sim.run_until(LIMIT, |s| {
            s.nodes[&a].durable.keys().filter(|z| **z > acked).count() >= 3
        });
        if !done {
            fail(&sim, "the follower never logged the tail");
        }
        let tail: Vec<i64> = sim.nodes[&a]
            .durable
            .keys()
            .copied()
            .filter(|z| *z > sim.checker.max_acked())
            .collect();
        sim.crash(l);
        sim.crash(a);
        sim.filter = None;
        let Some(_) = sim.await_leader(LIMIT) else {
            fail(&sim, "the three did not elect")
        };
        sim.start(a);
        sim.run_until(LIMIT, |s| s.peer(a).is_some_and(|p| p.is_serving()));
        sim.acked_writes(3);
        sim.crash(a);
        sim.start(a);
        sim.run_until(LIMIT, |s| s.peer(a).is_some_and(|p| p.is_serving()));
        (sim, tail, a)
    }
    /// Then `a` and the two lowest members restart alone: with equal histories `a` (the
    /// highest id of them) leads, and whatever its log holds becomes the history.
    fn lead_again(sim: &mut Sim, a: u64) {
        for m in sim.nodes.keys().copied().collect::<Vec<_>>() {
            sim.crash(m);
        }
        for m in [1, 2, a] {
            sim.start(m);
        }
        sim.await_leader(LIMIT);
    }
    let (mut sim, tail, a) = run(Bug::None);
    assert!(!tail.is_empty());
    for z in &tail {
        assert!(
            sim.peer(a).is_some_and(|p| p.history().get(*z).is_none()),
            "uncommitted {z:#x} survived the sync"
        );
    }
    lead_again(&mut sim, a);
    clean(&mut sim, "ZOOKEEPER-2832");
    let (mut buggy, _, a) = run(Bug::SkipTruncate);
    lead_again(&mut buggy, a);
    assert!(caught(&mut buggy), "skipping TRUNC went unnoticed");
}

/// ZOOKEEPER-3642: a partial SNAP followed by a DIFF lost data (the learner took its
/// position from a snapshot it had not persisted). A follower falls behind the leader's
/// snapshot, gets a SNAP, and crashes right after the snapshot is installed (before the
/// entries after it and its epoch are persisted), then again while installing it; each
/// time it must rejoin from what is on disk, and when the other two crash in turn no
/// acknowledged write may be lost.
#[test]
fn zookeeper_3642_crash_inside_snap_sync_loses_nothing() {
    for crash in [
        CrashAt::AfterPersist(OpKind::InstallSnapshot),
        CrashAt::BeforePersist(OpKind::InstallSnapshot),
        CrashAt::BeforePersist(OpKind::CurrentEpoch),
    ] {
        let mut sim = Sim::quiet(3, SEED + 3, Bug::None);
        sim.snapshot_every = 2;
        let Some(l) = sim.await_leader(LIMIT) else {
            fail(&sim, "no leader")
        };
        let [f, g] = others(&sim, l)[..] else {
            fail(&sim, "three members")
        };
        sim.crash(f);
        sim.acked_writes(8);
        sim.crash_at(f, crash);
        sim.start(f);
        sim.run_until(LIMIT, |s| s.peer(f).is_none());
        if sim.peer(f).is_some() {
            fail(&sim, &format!("{crash:?} never reached"));
        }
        sim.start(f);
        let target = sim.checker.max_acked();
        if !sim.run_until(LIMIT, |s| s.nodes[&f].app.zxid >= target) {
            fail(&sim, "the follower did not catch up after its crash");
        }
        // Only the follower and one other remain: what the leader acknowledged must be
        // on both.
        sim.crash(l);
        sim.crash(g);
        sim.start(g);
        clean(&mut sim, &format!("ZOOKEEPER-3642 at {crash:?}"));
    }
}

/// ZOOKEEPER-3911: DIFF-syncing an uncommitted log. A new leader's history may end in
/// entries it logged but never committed; it sends them in the sync, and followers must
/// not apply them until a quorum has acknowledged NEWLEADER. Here every NEWLEADER ack is
/// dropped: the followers log the tail, and nobody applies it.
#[test]
fn zookeeper_3911_synced_uncommitted_tail_is_not_applied_before_newleader_quorum() {
    let mut sim = Sim::quiet(3, SEED + 4, Bug::None);
    let Some(l) = sim.await_leader(LIMIT) else {
        fail(&sim, "no leader")
    };
    sim.acked_writes(3);
    let x = uncommitted_tail_at_leader(&mut sim, l);
    for m in others(&sim, l) {
        sim.crash(m);
    }
    sim.filter = Some(Box::new(|_, _, m| {
        matches!(m, Message::AckNewLeader { .. })
    }));
    for m in sim.nodes.keys().copied().collect::<Vec<_>>() {
        sim.start(m);
    }
    // The old leader has the freshest history and leads again; its sync carries x.
    let synced = sim.run_until(LIMIT, |s| {
        others(s, l)
            .iter()
            .any(|m| s.nodes[m].durable.contains_key(&x))
    });
    if !synced {
        fail(&sim, "the tail was never synced");
    }
    sim.run_for(2_000);
    for m in others(&sim, l) {
        assert!(
            sim.nodes[&m].app.zxid < x,
            "member {m} applied {x:#x} before a quorum acknowledged NEWLEADER"
        );
    }
    clean(&mut sim, "ZOOKEEPER-3911");
}

/// Leader 3 and follower 2 commit writes while member 1 is cut off; 2 crashes, 3 leads a
/// new epoch with 1 and syncs it (DIFF); 1 crashes at `crash`; then 3 crashes, and 1 and 2
/// restart. 1 has the newer currentEpoch, so it wins — it must hold every write.
fn stale_epoch_scenario(bug: Bug, crash: CrashAt) -> Sim {
    let mut sim = Sim::quiet(3, SEED + 5, bug);
    // Only member 1's driver is broken: the others' durability is real.
    sim.bug_member = Some(1);
    sim.partition(&[&[2, 3], &[1]]);
    let leader = sim.await_leader(LIMIT);
    setup!(sim, leader.is_some(), "no leader");
    let l = leader.unwrap_or(0);
    let n = sim.acked_writes(4).len();
    setup!(sim, n == 4, "no writes");
    let f = if l == 3 { 2 } else { 3 };
    // The leader restarts too, so that it and 1 open a new epoch (1 would otherwise join
    // the old one).
    sim.crash(f);
    sim.crash(l);
    sim.heal();
    sim.crash_at(1, crash);
    sim.start(l);
    sim.run_until(LIMIT, |s| s.peer(1).is_none());
    setup!(
        sim,
        sim.peer(1).is_none(),
        &format!("{crash:?} never reached")
    );
    sim.crash(l);
    sim.start(1);
    sim.start(f);
    sim.await_leader(LIMIT);
    sim
}

/// ZOOKEEPER-4643: committed txns lost when a follower crashed after updating currentEpoch
/// but before the synced txns were on disk. The follower here crashes right after its
/// currentEpoch write; with the order prefix → epoch → ack, the entries are durable. A
/// driver that writes the epoch first is caught (the new epoch wins the election without
/// the writes).
#[test]
fn zookeeper_4643_epoch_is_persisted_after_the_synced_history() {
    let crash = CrashAt::AfterPersist(OpKind::CurrentEpoch);
    let mut sim = stale_epoch_scenario(Bug::None, crash);
    clean(&mut sim, "ZOOKEEPER-4643");
    let mut buggy = stale_epoch_scenario(Bug::EpochBeforeHistory, crash);
    assert!(caught(&mut buggy), "epoch-before-history went unnoticed");
    assert!(
        buggy.checker.violations().iter().any(|v| matches!(
            v,
            Violation::AckedLost { .. } | Violation::FinalMissing { .. }
        )),
        "{:?}",
        buggy.checker.violations()
    );
}

/// ZOOKEEPER-4646: committed txns lost when a follower crashed after acknowledging
/// NEWLEADER but before the synced txns were on disk. The follower crashes right after
/// sending the ack; everything the ack covers must be durable. If that member's driver
/// acknowledges appends without fsyncing them, it comes back with the new epoch and without
/// the writes, wins the election, and the acknowledged writes are gone: caught.
#[test]
fn zookeeper_4646_newleader_ack_only_after_the_history_is_durable() {
    let crash = CrashAt::AfterSend(MsgKind::AckNewLeader);
    let mut sim = stale_epoch_scenario(Bug::None, crash);
    clean(&mut sim, "ZOOKEEPER-4646");
    let mut buggy = stale_epoch_scenario(Bug::AckBeforeFsync, crash);
    assert!(caught(&mut buggy), "acks before fsync went unnoticed");
    assert!(
        buggy.checker.violations().iter().any(|v| matches!(
            v,
            Violation::AckedLost { .. } | Violation::FinalMissing { .. }
        )),
        "{:?}",
        buggy.checker.violations()
    );
}

/// ZOOKEEPER-4785: txns lost to a race in the follower's sync, when proposals arrive
/// between NEWLEADER and UPTODATE. A follower rejoins an established leader with a slow
/// disk, so proposals pile up behind its sync; then the other follower crashes, so the next
/// write commits only with this follower's ack; then the leader crashes and the follower
/// must bring every write into the next epoch. If that follower's driver acknowledges
/// without fsync, the write it alone made "durable" is committed: caught.
#[test]
fn zookeeper_4785_proposals_during_sync_are_logged_before_acked() {
    fn run(bug: Bug) -> Sim {
        let mut sim = Sim::quiet(3, SEED + 6, bug);
        let leader = sim.await_leader(LIMIT);
        setup!(sim, leader.is_some(), "no leader");
        let l = leader.unwrap_or(0);
        let [f, g] = others(&sim, l)[..] else {
            fail(&sim, "three members")
        };
        // Only the rejoining follower's driver is broken.
        sim.bug_member = Some(f);
        sim.crash(f);
        sim.acked_writes(3);
        sim.hold_disk(f, true);
        sim.start(f);
        // Its sync arrives; proposals follow while its disk is held.
        sim.run_until(LIMIT, |s| {
            !s.nodes[&f].durable.is_empty() || s.nodes[&f].disk_held
        });
        sim.run_for(200);
        sim.acked_writes(3);
        sim.hold_disk(f, false);
        sim.run_until(LIMIT, |s| s.peer(f).is_some_and(|p| p.is_serving()));
        sim.crash(g);
        let last = sim.acked_writes(2);
        setup!(
            sim,
            last.len() == 2,
            "no commits with the rejoined follower"
        );
        sim.crash_at(f, CrashAt::AfterSend(MsgKind::Ack));
        sim.write_at(l);
        sim.run_until(LIMIT, |s| s.peer(f).is_none());
        sim.crash(l);
        sim.crash(f);
        sim.start(f);
        sim.start(g);
        sim.await_leader(LIMIT);
        sim
    }
    let mut sim = run(Bug::None);
    clean(&mut sim, "ZOOKEEPER-4785");
    let mut buggy = run(Bug::AckBeforeFsync);
    assert!(caught(&mut buggy), "acks before fsync went unnoticed");
}

/// ZOOKEEPER-4925: learners applied txns around a hole, and the hole spread when such a
/// learner led. A follower here is sent a forged proposal two zxids ahead and loses one
/// real proposal: it must log neither around a gap, resynchronise, and later lead with a
/// complete history.
#[test]
fn zookeeper_4925_discontinuous_proposals_are_refused() {
    let mut sim = Sim::quiet(3, SEED + 7, Bug::None);
    let Some(l) = sim.await_leader(LIMIT) else {
        fail(&sim, "no leader")
    };
    sim.acked_writes(3);
    let f = others(&sim, l)[0];
    let epoch = sim.peer(l).and_then(|p| p.leading_epoch()).unwrap_or(0);
    let last = sim.peer(f).map_or(0, |p| p.last_logged());
    let forged = zxid::make(epoch, zxid::counter(last) + 2);
    sim.inject(
        l,
        f,
        Message::Proposal {
            epoch,
            entry: Entry {
                zxid: forged,
                payload: Bytes::from_static(b"hole"),
            },
        },
    );
    assert!(
        sim.peer(f).is_some_and(|p| p.last_logged() < forged),
        "a proposal after a gap was logged"
    );
    // One real proposal lost on the way to f.
    let mut dropped = false;
    sim.filter = Some(Box::new(move |from, to, m| {
        if !dropped && from == l && to == f && matches!(m, Message::Proposal { .. }) {
            dropped = true;
            return true;
        }
        false
    }));
    sim.acked_writes(4);
    sim.filter = None;
    let target = sim.checker.max_acked();
    if !sim.run_until(LIMIT, |s| s.nodes[&f].app.zxid >= target) {
        fail(&sim, "the follower never caught up after the gap");
    }
    // f leads next: its history must be whole.
    let g = others(&sim, l).into_iter().find(|m| *m != f).unwrap_or(0);
    sim.crash(l);
    sim.crash(g);
    sim.start(g);
    clean(&mut sim, "ZOOKEEPER-4925");
}
