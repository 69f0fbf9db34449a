//! Durability on a simulated disk that keeps only what was synced: the log, snapshot and
//! recovery code the server runs is stopped at every one of its disk operations in turn (a
//! crash point), the power is cut (unsynced bytes and unsynced names are lost, and in a second
//! round the last unsynced write of each file is torn), and recovery must bring back every
//! acknowledged write, and nothing but whole batches in order.
//!
//! `kill -9` keeps the page cache, so a crash test with a real process passes even without an
//! fsync; this one does not (removing the `sync` in `Wal::write_frame` fails it).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use zk_proto::acl::Acl;
use zk_server_mini::apply::apply;
use zk_server_mini::disk::Disk;
use zk_server_mini::sim_disk::SimDisk;
use zk_server_mini::storage::Storage;
use zk_server_mini::tree::DataTree;
use zk_server_mini::txn::{Txn, TxnHeader};
use zk_server_mini::wal::{encode_record, list_logs_on};

const BATCHES: usize = 14;
const PER_BATCH: usize = 3;
const SNAPSHOT_EVERY: usize = 4;

/// A valid transaction for zxid `z` against `tree`: creates, updates and deletes.
fn next_txn(tree: &DataTree, z: i64) -> Txn {
    let path = format!("/k{}", z % 7);
    let data = Some(Bytes::from(z.to_be_bytes().to_vec()));
    match tree.get(&path) {
        None => Txn::Create {
            path,
            data,
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_counter: tree.get("/").map_or(0, |n| n.create_counter) + 1,
        },
        Some(_) if z % 5 == 0 => Txn::Delete { path },
        Some(n) => Txn::SetData {
            path,
            data,
            version: n.version + 1,
        },
    }
}

/// Runs the workload on `disk` until it ends or the disk fails: batches appended (each one
/// acknowledged when `append` returns Ok) with snapshots between them, as the server does.
/// Returns the tree after each acknowledged batch, the empty tree first.
fn workload(disk: &SimDisk, dir: &Path) -> Vec<DataTree> {
    let mut acked = vec![DataTree::new()];
    let Ok((mut live, mut storage)) = Storage::recover_on(Arc::new(disk.clone()), dir, dir) else {
        return acked;
    };
    for batch in 0..BATCHES {
        let mut buf = BytesMut::new();
        for _ in 0..PER_BATCH {
            let header = TxnHeader {
                session_id: 1,
                cxid: 1,
                zxid: live.last_zxid + 1,
                time: live.last_zxid * 10,
            };
            let txn = next_txn(&live, header.zxid);
            let _ = apply(&mut live, &header, &txn);
            if encode_record(&header, &txn, &mut buf).is_err() {
                return acked;
            }
        }
        if storage.append(&buf, PER_BATCH, live.last_zxid).is_err() {
            return acked;
        }
        // Standalone: logged is committed.
        storage.commit_through(live.last_zxid);
        acked.push(live.clone());
        if batch % SNAPSHOT_EVERY == SNAPSHOT_EVERY - 1 {
            let Ok(job) = storage.begin_snapshot(live.last_zxid, std::time::Duration::ZERO) else {
                return acked;
            };
            if job.write(&live).is_err() {
                return acked;
            }
        }
    }
    acked
}

/// Bytes in the log files.
fn log_bytes(disk: &SimDisk, dir: &Path) -> u64 {
    list_logs_on(disk, dir)
        .unwrap_or_default()
        .iter()
        .map(|(_, p)| disk.len(p).unwrap_or(0))
        .sum()
}

#[test]
fn an_acknowledged_write_survives_a_power_loss_at_every_disk_operation() {
    let dir = Path::new("/zk");
    // A run without a crash: every batch's tree, and how many disk operations it takes.
    let reference_disk = SimDisk::default();
    let all = workload(&reference_disk, dir);
    assert_eq!(all.len(), BATCHES + 1);
    let total_ops = reference_disk.ops();
    assert!(
        total_ops > 50,
        "the workload touches the disk {total_ops} times"
    );
    let mut torn_recoveries = 0;
    for point in 0..=total_ops {
        let disk = SimDisk::default();
        disk.fail_after(point);
        let acked = workload(&disk, dir);
        let last_acked = acked.last().map_or(0, |t| t.last_zxid);
        for tear in [None, Some(point)] {
            let after = disk.crash(tear);
            let logged = log_bytes(&after, dir);
            let (recovered, _storage) = Storage::recover_on(Arc::new(after.clone()), dir, dir)
                .unwrap_or_else(|e| {
                    panic!("crash point {point} (tear {tear:?}): recovery refused: {e}")
                });
            assert!(
                recovered.last_zxid >= last_acked,
                "crash point {point} (tear {tear:?}): acknowledged zxid {last_acked:#x} lost, \
                 recovered only {:#x}",
                recovered.last_zxid
            );
            // Exactly the state after some whole batch: nothing half-applied, nothing invented.
            let batch = all
                .iter()
                .find(|t| t.last_zxid == recovered.last_zxid)
                .unwrap_or_else(|| {
                    panic!(
                        "crash point {point}: recovered zxid {:#x} is not a batch boundary",
                        recovered.last_zxid
                    )
                });
            assert_eq!(&recovered, batch, "crash point {point} (tear {tear:?})");
            if log_bytes(&after, dir) < logged {
                torn_recoveries += 1;
            }
            // What recovery repaired is itself durable: another power loss changes nothing.
            let again = Storage::recover_on(Arc::new(after.crash(None)), dir, dir)
                .unwrap_or_else(|e| panic!("crash point {point}: second recovery: {e}"))
                .0;
            assert_eq!(again, recovered, "crash point {point}: second recovery");
        }
    }
    // Not vacuous: recovery really had torn tails to cut off at some crash points.
    eprintln!("{total_ops} crash points, {torn_recoveries} torn tails cut off");
    assert!(torn_recoveries > 0);
}

/// The simulated disk is a real check: with the names of a new log file never synced, or the
/// log never synced, acknowledged data is gone after a power loss.
#[test]
fn unsynced_data_and_names_are_lost_on_the_simulated_disk() {
    let disk = SimDisk::default();
    let dir = Path::new("/zk");
    disk.create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    let mut f = disk
        .open_append(&dir.join("log.0000000000000001"))
        .unwrap_or_else(|e| panic!("{e}"));
    f.write_all(b"not synced").unwrap_or_else(|e| panic!("{e}"));
    f.sync().unwrap_or_else(|e| panic!("{e}"));
    // Synced data, but the file's name never was.
    assert!(disk.crash(None).list(dir).unwrap_or_default().is_empty());
}
