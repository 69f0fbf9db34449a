//! A hostile peer cannot make a decoder allocate much more memory than the frame it sent.
//!
//! Every length in a frame is checked against the bytes that are left before anything is reserved
//! for it, but a vector element can be far bigger in memory than its smallest encoding (an `Acl`
//! is 56 bytes in memory and 12 on the wire; a `String` 24 and 4). This test decodes frames whose
//! vector counts claim as many elements as there are bytes left, with every opcode, and checks the
//! largest single allocation against the frame size, using a counting global allocator.
//!
//! It is the only test in this binary, so no other test's allocations are counted.

#![allow(unsafe_code)] // The counting allocator below; it only forwards to `System`.
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use zk_proto::jute::{Decode, JuteReader};
use zk_proto::multi::{MultiRequest, MultiResponse};
use zk_proto::{ConnectRequest, OpCode, Request, Response, WatcherEvent};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The largest single allocation made while running `f`.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::Relaxed);
    f();
    LARGEST.load(Ordering::Relaxed)
}

/// `prefix`, then a vector count equal to the bytes that follow, then `fill` bytes.
fn hostile(prefix: &[u8], size: usize, fill: u8) -> Bytes {
    let rest = size - prefix.len() - 4;
    let mut body = prefix.to_vec();
    body.extend_from_slice(&i32::try_from(rest).unwrap().to_be_bytes());
    body.resize(size, fill);
    Bytes::from(body)
}

#[test]
fn lying_vector_counts_do_not_amplify_allocations() {
    const SIZE: usize = 256 * 1024;
    const FACTOR: usize = 16;
    let path = b"\x00\x00\x00\x02/a";
    let prefixes: [&[u8]; 5] = [
        b"",
        path,
        b"\x00\x00\x00\x02/a\xff\xff\xff\xff", // path, null data (create)
        b"\x00\x00\x00\x00\x00\x00\x00\x47",   // relativeZxid (setWatches)
        b"\x00\x00\x00\x02/a\x00\x00\x00\x00\x00", // path, one-op multiRead header start
    ];
    let mut ops: Vec<OpCode> = (-12..=24).chain(100..=108).map(OpCode::from).collect();
    ops.push(OpCode::from(50));

    let mut worst = (0usize, String::new());
    for prefix in prefixes {
        // 0xff makes the first element fail at once (a null required string, or a negative
        // length), so only the up-front reservation is measured; 0x00 makes elements decode.
        for fill in [0xffu8, 0x00] {
            let input = hostile(prefix, SIZE, fill);
            let mut check = |what: String, f: &dyn Fn(&mut JuteReader)| {
                let input = input.clone();
                let n = largest_allocation(|| f(&mut JuteReader::new(input)));
                if n > worst.0 {
                    worst = (n, what);
                }
            };
            for &op in &ops {
                check(format!("Request {op:?} {fill:#x}"), &|r| {
                    let _ = Request::decode(op, r);
                });
                check(format!("Response {op:?} {fill:#x}"), &|r| {
                    let _ = Response::decode(op, r);
                });
            }
            check(format!("MultiRequest {fill:#x}"), &|r| {
                let _ = MultiRequest::decode(r);
            });
            check(format!("MultiResponse {fill:#x}"), &|r| {
                let _ = MultiResponse::decode(r);
            });
            check(format!("ConnectRequest {fill:#x}"), &|r| {
                let _ = ConnectRequest::decode(r);
            });
            check(format!("WatcherEvent {fill:#x}"), &|r| {
                let _ = WatcherEvent::decode(r);
            });
        }
    }
    println!("largest single allocation: {} bytes ({})", worst.0, worst.1);
    assert!(
        worst.0 <= FACTOR * SIZE,
        "{}: a {SIZE}-byte body made a {}-byte allocation ({}x)",
        worst.1,
        worst.0,
        worst.0 / SIZE
    );
}
