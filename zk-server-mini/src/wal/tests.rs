use super::*;
use std::fs::OpenOptions;

fn h(zxid: i64) -> TxnHeader {
    TxnHeader {
        session_id: 1,
        cxid: 1,
        zxid,
        time: 0,
    }
}

fn write(dir: &Path, from: i64, to: i64) -> PathBuf {
    write_batches(dir, from, to, 1)
}

/// Writes records `from..=to` in batches (frames) of `per_batch`.
fn write_batches(dir: &Path, from: i64, to: i64, per_batch: i64) -> PathBuf {
    let mut wal = Wal::open(dir, from).unwrap_or_else(|e| panic!("{e}"));
    let mut z = from;
    while z <= to {
        let mut buf = BytesMut::new();
        for zz in z..=to.min(z + per_batch - 1) {
            encode_record(
                &h(zz),
                &Txn::Delete {
                    path: format!("/n{zz}"),
                },
                &mut buf,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        wal.append(&buf).unwrap_or_else(|e| panic!("{e}"));
        z += per_batch;
    }
    wal.path().to_owned()
}

fn zxids(dir: &Path, after: i64) -> (Vec<i64>, ReplayReport) {
    let mut seen = Vec::new();
    let r = replay(dir, after, |h, _| seen.push(h.zxid)).unwrap_or_else(|e| panic!("{e}"));
    (seen, r)
}

#[test]
fn replays_in_order_and_skips_what_the_snapshot_has() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), 1, 5);
    write(dir.path(), 6, 8);
    let (seen, r) = zxids(dir.path(), 3);
    assert_eq!(seen, vec![4, 5, 6, 7, 8]);
    assert_eq!(r.last_zxid, 8);
    assert!(!r.truncated);
}

#[test]
fn torn_tail_is_truncated_and_never_applied() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(dir.path(), 1, 4);
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    // Cut the last record in half.
    let f = OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{e}"));
    f.set_len(len - 5).unwrap_or_else(|e| panic!("{e}"));
    let (seen, r) = zxids(dir.path(), 0);
    assert_eq!(seen, vec![1, 2, 3]);
    assert!(r.truncated);
    // The file now ends at the last good record, so a second replay is clean.
    let (seen, r) = zxids(dir.path(), 0);
    assert_eq!(seen, vec![1, 2, 3]);
    assert!(!r.truncated);
}

#[test]
fn damage_before_later_files_is_an_error_not_a_silent_loss() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first = write(dir.path(), 1, 3);
    write(dir.path(), 4, 6);
    let mut data = std::fs::read(&first).unwrap_or_else(|e| panic!("{e}"));
    let n = data.len();
    data[n - 2] ^= 0xff; // flip a byte inside record 3
    std::fs::write(&first, &data).unwrap_or_else(|e| panic!("{e}"));
    // Records 4..6 were acknowledged: deleting their file would lose them.
    let err = replay(dir.path(), 0, |_, _| {}).err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
    assert_eq!(list_logs(dir.path()).map(|l| l.len()).unwrap_or(0), 2);
    // A snapshot that covers the damaged file makes it irrelevant.
    let (seen, r) = zxids(dir.path(), 3);
    assert_eq!(seen, vec![4, 5, 6]);
    assert!(!r.truncated);
}

#[test]
fn a_hole_in_the_last_batch_is_a_torn_write_but_in_an_earlier_one_is_corruption() {
    // Power loss while the last batch was being synced: its pages reach the disk in any
    // order, so a hole in its middle with whole records after it is still a torn write.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write_batches(dir.path(), 1, 6, 3);
    let original = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let frame = original.len() / 2;
    let mut bytes = original.clone();
    for b in &mut bytes[frame + 30..frame + 40] {
        *b = 0;
    }
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let (seen, r) = zxids(dir.path(), 0);
    assert_eq!(seen, vec![1, 2, 3]);
    assert!(r.truncated);
    // The same hole in the first batch, which was synced before the second was written:
    // the damage is in acknowledged history.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write_batches(dir.path(), 1, 6, 3);
    let mut bytes = original.clone();
    for b in &mut bytes[30..40] {
        *b = 0;
    }
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let err = replay(dir.path(), 0, |_, _| {}).err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
    assert_eq!(std::fs::read(&path).ok(), Some(bytes));
}

#[test]
fn a_large_batch_becomes_several_frames() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut wal = Wal::open(dir.path(), 1).unwrap_or_else(|e| panic!("{e}"));
    let mut buf = BytesMut::new();
    let big = Bytes::from(vec![7u8; FRAME_TARGET / 3]);
    for z in 1..=3 {
        let txn = Txn::SetData {
            path: "/big".into(),
            data: Some(big.clone()),
            version: 1,
        };
        encode_record(&h(z), &txn, &mut buf).unwrap_or_else(|e| panic!("{e}"));
    }
    wal.append(&buf).unwrap_or_else(|e| panic!("{e}"));
    let size = std::fs::metadata(wal.path()).map(|m| m.len()).unwrap_or(0);
    // Two frames (records 1 and 2 fit one, record 3 does not), each with its header.
    assert_eq!(size as usize, buf.len() + 2 * FRAME_HEAD);
    let (seen, r) = zxids(dir.path(), 0);
    assert_eq!(seen, vec![1, 2, 3]);
    assert!(!r.truncated);
}

#[test]
fn zxid_gaps_duplicates_and_missing_files_are_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), 1, 3);
    write(dir.path(), 5, 6); // 4 is missing
    let err = replay(dir.path(), 0, |_, _| {}).err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), 1, 3);
    write(dir.path(), 3, 4); // 3 twice
    let err = replay(dir.path(), 0, |_, _| {}).err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));

    // The snapshot is at 2 but the only log starts at 5.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), 5, 6);
    let err = replay(dir.path(), 2, |_, _| {}).err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
    // Nothing was applied or truncated on the way.
    let (seen, _) = zxids(dir.path(), 4);
    assert_eq!(seen, vec![5, 6]);
}

#[test]
fn a_torn_tail_followed_only_by_an_empty_file_is_truncated() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first = write(dir.path(), 1, 3);
    let len = std::fs::metadata(&first).map(|m| m.len()).unwrap_or(0);
    let f = OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap_or_else(|e| panic!("{e}"));
    f.set_len(len - 3).unwrap_or_else(|e| panic!("{e}"));
    Wal::open(dir.path(), 4).unwrap_or_else(|e| panic!("{e}"));
    let (seen, r) = zxids(dir.path(), 0);
    assert_eq!(seen, vec![1, 2]);
    assert!(r.truncated);
    assert_eq!(list_logs(dir.path()).map(|l| l.len()).unwrap_or(0), 1);
}

#[test]
fn every_truncation_and_every_bit_flip_yields_a_clean_prefix() {
    let src = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(src.path(), 1, 6);
    let original = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let record_len = original.len() / 6;
    for cut in 0..original.len() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join(log_name(1)), &original[..cut])
            .unwrap_or_else(|e| panic!("{e}"));
        let (seen, _) = zxids(dir.path(), 0);
        let whole = (cut / record_len) as i64;
        assert_eq!(seen, (1..=whole).collect::<Vec<_>>(), "cut at {cut}");
    }
    for pos in 0..original.len() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut bytes = original.clone();
        bytes[pos] ^= 0x10;
        std::fs::write(dir.path().join(log_name(1)), &bytes).unwrap_or_else(|e| panic!("{e}"));
        let damaged = (pos / record_len) as i64;
        let in_header = pos % record_len < FRAME_HEAD;
        let mut seen = Vec::new();
        match replay(dir.path(), 0, |h, _| seen.push(h.zxid)) {
            // Damage inside the last frame's body: indistinguishable from a write whose
            // pages did not all reach the disk, cut off.
            Ok(report) => {
                assert!(damaged == 5 && !in_header, "flip at {pos} was cut off");
                assert_eq!(seen, (1..=damaged).collect::<Vec<_>>(), "flip at {pos}");
                assert!(report.truncated);
            }
            // Damage with data after it, or in any header (a length field included):
            // refused, naming the file and the frame's offset; the file left as it was.
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::InvalidData, "flip at {pos}");
                assert!(damaged < 5 || in_header, "flip at {pos}");
                let frame_at = damaged as usize * record_len;
                let msg = e.to_string();
                assert!(
                    msg.contains(&log_name(1)) && msg.contains(&format!("offset {frame_at}:")),
                    "flip at {pos}: {msg}"
                );
                assert_eq!(
                    std::fs::read(dir.path().join(log_name(1))).ok(),
                    Some(bytes)
                );
            }
        }
    }
}

/// A corrupted length field of an acknowledged frame in the last log file: the old check
/// took it for a torn tail and cut off that frame and every later one. Now replay refuses
/// to start, naming the file and the offset, and leaves the file alone, whether the length
/// grew past the end of the file, shrank, or became implausible.
#[test]
fn a_corrupted_length_field_is_refused_not_taken_for_a_torn_tail() {
    let src = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write_batches(src.path(), 1, 9, 3);
    let original = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let frame_len = original.len() / 3;
    for frame in 0..3 {
        let at = frame * frame_len;
        let real = u32::from_be_bytes([
            original[at],
            original[at + 1],
            original[at + 2],
            original[at + 3],
        ]);
        for lie in [real + 1, real - 1, real * 1000, u32::MAX, 0] {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let mut bytes = original.clone();
            bytes[at..at + 4].copy_from_slice(&lie.to_be_bytes());
            let file = dir.path().join(log_name(1));
            std::fs::write(&file, &bytes).unwrap_or_else(|e| panic!("{e}"));
            let mut seen = Vec::new();
            let err = replay(dir.path(), 0, |h, _| seen.push(h.zxid))
                .err()
                .unwrap_or_else(|| panic!("frame {frame} length {lie}: accepted"));
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            let msg = err.to_string();
            assert!(
                msg.contains(&file.display().to_string()) && msg.contains(&format!("offset {at}:")),
                "{msg}"
            );
            assert_eq!(std::fs::read(&file).ok(), Some(bytes));
        }
    }
}

/// A final write that never reached the disk at all reads as zeros: that is a torn write
/// and is cut off. The same zeros with a whole frame after them are lost history.
#[test]
fn an_unwritten_last_frame_is_torn_but_a_zeroed_middle_frame_is_refused() {
    let src = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write_batches(src.path(), 1, 9, 3);
    let original = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let frame_len = original.len() / 3;

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut bytes = original.clone();
    for b in &mut bytes[2 * frame_len..] {
        *b = 0;
    }
    std::fs::write(dir.path().join(log_name(1)), &bytes).unwrap_or_else(|e| panic!("{e}"));
    let (seen, report) = zxids(dir.path(), 0);
    assert_eq!(seen, (1..=6).collect::<Vec<_>>());
    assert!(report.truncated);

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut bytes = original.clone();
    for b in &mut bytes[frame_len..frame_len + FRAME_HEAD] {
        *b = 0;
    }
    std::fs::write(dir.path().join(log_name(1)), &bytes).unwrap_or_else(|e| panic!("{e}"));
    let err = replay(dir.path(), 0, |_, _| {}).err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
}
