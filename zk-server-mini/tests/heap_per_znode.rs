//! Heap bytes, counted by a global allocator (bytes, never time): what a znode costs in the
//! replicated state, that the in-memory Zab log stays within its window however many
//! transactions pass, and that writing a snapshot streams (its extra memory is a small
//! fraction of the state, not a second serialized copy).
//!
//! One test in this binary, so no other test's allocations are counted. The bounds are
//! generous (about 1.5x what was measured) and catch regressions of the representation, not
//! allocator noise.

#![allow(unsafe_code)] // The counting allocator below; it only forwards to `System`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use bytes::Bytes;
use zk_proto::acl::Acl;
use zk_server_mini::apply::apply;
use zk_server_mini::tree::DataTree;
use zk_server_mini::txn::{Txn, TxnHeader, encode_entry};
use zk_server_mini::zab::Entry;
use zk_server_mini::zab::history::History;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grow(n: usize) {
    let now = LIVE.fetch_add(n as isize, Ordering::Relaxed) + n as isize;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrink(n: usize) {
    LIVE.fetch_sub(n as isize, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(new_size);
        shrink(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Largest live heap while `f` runs, above what was live when it started.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let base = live();
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base)
}

const ZNODES: usize = 100_000;

fn header(zxid: i64) -> TxnHeader {
    TxnHeader {
        session_id: 0x100,
        cxid: 1,
        zxid,
        time: 1_700_000_000_000,
    }
}

/// The benchmark's znodes: `/ens/n0000000`.. with 32 bytes of data, open ACL.
fn create(i: usize) -> Txn {
    Txn::Create {
        path: format!("/ens/n{i:07}"),
        data: Some(Bytes::from(vec![b'x'; 32])),
        acl: Acl::open_unsafe(),
        ephemeral_owner: 0,
        parent_counter: i as i32 + 1,
    }
}

#[test]
fn heap_bytes_per_znode_log_window_and_snapshot_writing_are_bounded() {
    // The replicated state, built as the state machine builds it (apply in zxid order).
    let before = live();
    let mut tree = DataTree::new();
    let parent = Txn::Create {
        path: "/ens".into(),
        data: None,
        acl: Acl::open_unsafe(),
        ephemeral_owner: 0,
        parent_counter: 1,
    };
    apply(&mut tree, &header(1), &parent);
    for i in 0..ZNODES {
        apply(&mut tree, &header(i as i64 + 2), &create(i));
    }
    let per_znode = (live() - before) / ZNODES as isize;
    println!("tree: {per_znode} heap bytes per znode");
    assert_eq!(tree.node_count(), ZNODES + 5);
    assert!(per_znode <= 500, "{per_znode} heap bytes per znode");

    // Writing a snapshot streams: the extra heap is the sorted list of node references and
    // a 64 KiB buffer, far from the ~140 bytes per znode of the serialized state.
    let copy = tree.copy_for_snapshot();
    let (written, extra) = peak_during(|| {
        let mut counter = CountingSink(0);
        zk_server_mini::snapshot::write_copy_to(&mut counter, &copy).map(|()| counter.0)
    });
    let written = written.unwrap_or_else(|e| panic!("{e}"));
    println!(
        "snapshot: {written} bytes written with {extra} bytes of extra heap ({} per znode)",
        extra / ZNODES as isize
    );
    assert!(written > 100 * ZNODES, "{written}");
    assert!(
        extra < (written / 4) as isize,
        "{extra} bytes of heap to write {written}"
    );
    drop(copy);

    // The in-memory log keeps its window of applied entries, however many pass through it
    // (as the core trims after each apply).
    const WINDOW: usize = 500;
    let before = live();
    let mut history = History::new(0);
    let mut max_len = 0;
    for i in 0..ZNODES {
        let zxid = i as i64 + 1;
        let payload = encode_entry(&header(zxid), &create(i));
        history
            .append(Entry { zxid, payload })
            .unwrap_or_else(|g| panic!("{g}"));
        history.trim_applied(zxid, WINDOW);
        max_len = max_len.max(history.len());
    }
    let held = live() - before;
    println!(
        "log window: {held} heap bytes for {} entries",
        history.len()
    );
    assert_eq!(max_len, WINDOW);
    assert!(held < 1 << 20, "{held} heap bytes held by the log window");
    drop(tree);
}

/// Counts what is written and keeps nothing.
struct CountingSink(usize);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
