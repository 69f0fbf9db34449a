//! The Zab log is truncated after snapshots, on disk and in memory:
//!
//! - an ensemble writing many transactions with a small `snapCount` keeps a bounded log on
//!   disk (segments the newest snapshot covers are deleted);
//! - a member that was down while far more transactions than the in-memory window were
//!   written comes back through a SNAP of the leader's state (large enough to be sent in
//!   chunk frames) and holds every write;
//! - a power loss at every point of a snapshot-and-truncate, of a TRUNC across segments and
//!   of a SNAP install, on the simulated disk that keeps only fsynced data, recovers a store
//!   that loses no acknowledged entry.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{bounded, connect, create_surviving};
use zk_server_mini::cluster::{TestCluster, four_letter};
use zk_server_mini::sim_disk::SimDisk;
use zk_server_mini::zab::store::ZabStore;
use zk_server_mini::zab::{Config, Entry, Peer, PersistOp, Snapshot};
use zk_server_mini::zxid::make;

const WAIT: Duration = Duration::from_secs(30);

/// The member's Zab directory (log segments, snapshot, epochs).
fn zab_dir(cluster: &TestCluster, id: u64) -> PathBuf {
    cluster.data_dir(id).join("zab")
}

/// Total bytes and number of the log segment files in `dir`.
fn log_on_disk(dir: &Path) -> (u64, usize) {
    let mut bytes = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        if entry.file_name().to_string_lossy().starts_with("zab.log") {
            bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
            files += 1;
        }
    }
    (bytes, files)
}

/// `(Zxid, Node count)` from the member's `srvr`.
async fn srvr(cluster: &TestCluster, id: u64) -> Option<(String, String)> {
    let out = four_letter(cluster.client_addr(id), "srvr").await?;
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    Some((field("Zxid:")?, field("Node count:")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_on_disk_stays_bounded_while_many_transactions_are_written() {
    bounded(Duration::from_secs(240), async {
        const SNAP_COUNT: u64 = 200;
        const WRITES: usize = 3_000;
        let data = vec![b'd'; 200];
        let cluster = TestCluster::builder(3)
            .tick_ms(50)
            .snap_count(SNAP_COUNT)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let leader = cluster.leader(WAIT).await.expect("a leader");
        let mut c = connect(cluster.client_addr(leader)).await;
        let mut peak = (0, 0);
        for i in 0..WRITES {
            create_surviving(&cluster, &mut c, format!("/n{i:05}"), &data).await;
            if i % 500 == 499 {
                let (bytes, files) = log_on_disk(&zab_dir(&cluster, leader));
                peak = (peak.0.max(bytes), peak.1.max(files));
            }
        }
        // Every entry is at least its data; the whole history would be WRITES of them.
        let whole = (WRITES * data.len()) as u64;
        for id in cluster.ids() {
            let (bytes, files) = log_on_disk(&zab_dir(&cluster, id));
            assert!(
                bytes < whole / 3,
                "member {id}: {bytes} bytes of log in {files} files (whole history: {whole})"
            );
            assert!(files <= 3, "member {id}: {files} segment files");
            assert!(
                zab_dir(&cluster, id).join("zab.snap").exists(),
                "member {id}"
            );
        }
        assert!(
            peak.0 < whole / 3,
            "leader's log peaked at {} bytes",
            peak.0
        );
        // Nothing acknowledged was lost to the truncation.
        for i in [0, WRITES / 2, WRITES - 1] {
            let got = common::get(&mut c, &format!("/n{i:05}")).await;
            assert_eq!(got.as_deref(), Some(&data[..]), "/n{i:05}");
        }
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_behind_the_log_window_comes_back_by_snap() {
    bounded(Duration::from_secs(240), async {
        // Far more than the 500 entries kept in memory, with a state larger than one SNAP
        // chunk (1 MiB): the returning member gets a chunked SNAP.
        const WRITES: usize = 1_500;
        let data = vec![b's'; 1_000];
        let mut cluster = TestCluster::builder(3)
            .tick_ms(50)
            .snap_count(300)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let leader = cluster.leader(WAIT).await.expect("a leader");
        let lagging = cluster
            .ids()
            .into_iter()
            .find(|i| *i != leader)
            .expect("a follower");
        cluster.kill(lagging).await;
        let mut c = connect(cluster.client_addr(leader)).await;
        for i in 0..WRITES {
            create_surviving(&cluster, &mut c, format!("/s{i:05}"), &data).await;
        }
        cluster
            .restart(lagging)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let want = srvr(&cluster, leader).await.expect("leader's srvr");
        let deadline = Instant::now() + WAIT;
        loop {
            if srvr(&cluster, lagging).await.as_ref() == Some(&want) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "member {lagging} did not catch up: {:?} vs {want:?}",
                srvr(&cluster, lagging).await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Durably: its store holds a snapshot with every write (a SNAP was installed; no
        // DIFF could have carried entries the leader no longer holds).
        cluster.kill(lagging).await;
        let dir = zab_dir(&cluster, lagging);
        let (_, recovered) = ZabStore::open(Arc::new(zk_server_mini::disk::RealDisk), &dir)
            .unwrap_or_else(|e| panic!("{e}"));
        let snap = recovered.snapshot.expect("a snapshot from the leader");
        let tree = zk_server_mini::snapshot::deserialize(&snap.data)
            .unwrap_or_else(|e| panic!("the SNAP does not decode: {e}"));
        for i in 0..WRITES {
            let node = tree.get(&format!("/s{i:05}"));
            assert_eq!(
                node.and_then(|n| n.data.as_slice()),
                Some(&data[..]),
                "/s{i:05}"
            );
        }
        cluster.stop().await;
    })
    .await;
}

fn entry(counter: u32) -> Entry {
    Entry {
        zxid: make(1, counter),
        payload: Bytes::from(vec![counter as u8; 64]),
    }
}

fn open(disk: &SimDisk) -> (ZabStore, zk_server_mini::zab::Recovered) {
    ZabStore::open(Arc::new(disk.clone()), Path::new("/zab")).unwrap_or_else(|e| panic!("{e}"))
}

/// Snapshot data standing for the state at `zxid`.
fn state(zxid: i64) -> Vec<u8> {
    format!("state at {zxid:#x}").repeat(50).into_bytes()
}

/// A store on `disk` with entries 1..=30 and snapshots at 5 and 15: the segment of 1..=10
/// was deleted by the second snapshot; 11..=20 and 21..=30 are two segments.
fn layered(disk: &SimDisk) -> ZabStore {
    let (mut store, _) = open(disk);
    for batch in [1..=10, 11..=20, 21..=30] {
        let entries: Vec<Entry> = batch.clone().map(entry).collect();
        store
            .persist(&PersistOp::Append(entries))
            .unwrap_or_else(|e| panic!("{e}"));
        let at = make(1, *batch.end() - 5);
        if *batch.end() < 30 {
            store
                .save_snapshot_with(at, &mut |w| w.write_all(&state(at)))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    store
}

/// What recovery must show after `op` was attempted on a layered store and the power went
/// out (`finished`: the op returned Ok).
fn check(disk: &SimDisk, what: &str, finished: bool, op: &PersistOp, snap_at: Option<i64>) {
    let (_, r) = open(disk);
    let peer = Peer::new(Config::new(1, vec![1]), r.clone());
    assert!(peer.is_ok(), "{what}: {peer:?}");
    let snap = r.snapshot.as_ref().map(|s| s.zxid).unwrap_or(0);
    if let Some(s) = &r.snapshot {
        match op {
            PersistOp::InstallSnapshot(i) if s.zxid == i.zxid => assert_eq!(s.data, i.data),
            _ => assert_eq!(&s.data[..], &state(s.zxid)[..], "{what}"),
        }
    }
    let logged: Vec<i64> = r.log.iter().map(|e| e.zxid).collect();
    // The log continues the snapshot with no hole.
    if let Some(first) = logged.first() {
        assert_eq!(
            *first,
            snap + 1,
            "{what}: snapshot {snap:#x}, log {logged:?}"
        );
    }
    match op {
        PersistOp::InstallSnapshot(s) if finished => {
            assert_eq!(snap, s.zxid, "{what}");
            assert!(logged.is_empty(), "{what}: {logged:?}");
        }
        PersistOp::InstallSnapshot(s) => {
            // The old log goes only once the new snapshot is durable.
            if snap != s.zxid {
                assert_eq!(logged.last(), Some(&make(1, 30)), "{what}: {logged:?}");
            }
        }
        PersistOp::TruncateAfter(z) => {
            // Acknowledged entries up to the TRUNC point all survive.
            let known = snap.max(*logged.last().unwrap_or(&snap));
            assert!(known >= *z, "{what}: through {known:#x}");
            if finished {
                assert!(known <= *z, "{what}: {logged:?}");
            }
        }
        _ => {
            // A snapshot: every acknowledged entry (1..=30) is in the snapshot or the log.
            let known = *logged.last().unwrap_or(&snap);
            assert_eq!(
                known,
                make(1, 30),
                "{what}: snapshot {snap:#x}, log {logged:?}"
            );
            if finished {
                assert_eq!(Some(snap), snap_at, "{what}");
            }
        }
    }
}

#[test]
fn a_crash_at_every_point_of_truncation_loses_no_acknowledged_entry() {
    let snap_at = make(1, 25);
    let install = Snapshot {
        zxid: make(2, 7),
        data: Bytes::from_static(b"the leader's state"),
    };
    let ops: [(&str, Option<PersistOp>); 3] = [
        ("snapshot and truncate", None),
        (
            "TRUNC across segments",
            Some(PersistOp::TruncateAfter(make(1, 17))),
        ),
        ("SNAP install", Some(PersistOp::InstallSnapshot(install))),
    ];
    for (name, op) in &ops {
        let mut completed_at = None;
        for fail_after in 0..40 {
            for tear in [None, Some(fail_after)] {
                let disk = SimDisk::default();
                let mut store = layered(&disk);
                let (_, r) = open(&disk.crash(None));
                assert_eq!(r.snapshot.map(|s| s.zxid), Some(make(1, 15)));
                assert_eq!(r.log.len(), 15);
                assert!(store.segment_count() >= 2, "the layout spans segments");
                disk.fail_after(fail_after);
                let finished = match op {
                    None => store
                        .save_snapshot_with(snap_at, &mut |w| w.write_all(&state(snap_at)))
                        .is_ok(),
                    Some(op) => store.persist(op).is_ok(),
                };
                if finished && completed_at.is_none() {
                    completed_at = Some(fail_after);
                }
                let what = format!("{name}, power lost after {fail_after} ops, tear {tear:?}");
                let snap_op = PersistOp::Append(Vec::new());
                check(
                    &disk.crash(tear),
                    &what,
                    finished,
                    op.as_ref().unwrap_or(&snap_op),
                    Some(snap_at),
                );
            }
        }
        assert!(completed_at.is_some(), "{name} never completed in 40 ops");
    }
}
