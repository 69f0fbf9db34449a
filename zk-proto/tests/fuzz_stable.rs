//! A fuzzer that runs on the stable toolchain, as part of `cargo test`: random and mutated golden
//! inputs (fixed seed, a fixed amount of work that a time budget may extend) through the same oracle as the libFuzzer target
//! (`zk-proto/fuzz/src/check.rs`): every decoder, for every opcode, must return `Ok` or `Err`
//! without panicking, whatever decodes must survive an encode/decode round trip, and framing must
//! not depend on how the stream is split.
//!
//! `cargo test` runs it for a few seconds. A long run:
//!
//! ```text
//! ZK_FUZZ_SECS=300 cargo test --release -p zk-proto --test fuzz_stable -- --nocapture
//! ```
//!
//! `ZK_FUZZ_SEED` changes the seed (default 0x5eed).

#![allow(clippy::unwrap_used)]

#[path = "../fuzz/src/check.rs"]
mod check;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio_util::codec::Decoder;
use zk_proto::codec::FrameCodec;

/// SplitMix64: small, fast and good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

const INTERESTING_BYTES: &[u8] = &[0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_INTS: &[i32] = &[
    -1,
    -2,
    -3,
    0,
    1,
    2,
    4,
    8,
    16,
    68,
    0x7fff_ffff,
    i32::MIN,
    0xfffff,
    0x100000,
    14,
    22,
    101,
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..=rng.below(8) {
        let len = input.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.byte();
            }
            2 if len > 0 => {
                let i = rng.below(len);
                input[i] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            3 if len >= 4 => {
                let i = rng.below(len - 3);
                let v = INTERESTING_INTS[rng.below(INTERESTING_INTS.len())];
                input[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
            4 => {
                let i = rng.below(len + 1);
                let n = rng.below(8) + 1;
                let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                input.splice(i..i, bytes);
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i) + 1;
                input.drain(i..i + n.min(16));
            }
            6 => input.truncate(rng.below(len + 1)),
            7 if len > 0 => {
                let i = rng.below(len);
                let n = (rng.below(len - i) + 1).min(32);
                let copy = input[i..i + n].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, copy);
            }
            8 => {
                // Splice in part of another corpus entry (often a whole frame: a stream).
                let other = &corpus[rng.below(corpus.len())];
                let from = if rng.chance(2) {
                    0
                } else {
                    rng.below(other.len() + 1)
                };
                let at = if rng.chance(2) {
                    len
                } else {
                    rng.below(len + 1)
                };
                input.splice(at..at, other[from..].iter().copied());
            }
            _ => {
                // A length field (of a frame or a buffer) that tells a small lie.
                if len >= 4 {
                    let i = rng.below(len - 3);
                    let v = i32::from_be_bytes(input[i..i + 4].try_into().unwrap());
                    let delta = rng.below(9) as i32 - 4;
                    input[i..i + 4].copy_from_slice(&v.wrapping_add(delta).to_be_bytes());
                }
            }
        }
        if input.len() > 4096 {
            input.truncate(4096);
        }
    }
}

#[derive(Default)]
struct Totals {
    execs: u64,
    decodes: u64,
    ok: u64,
    frames: u64,
}

impl Totals {
    fn run(&mut self, input: &[u8]) {
        let o = check::check(input);
        self.execs += 1;
        self.decodes += o.decodes;
        self.ok += o.ok;
        self.frames += o.frames;
    }
}

#[test]
fn seeds_are_whole_frames() {
    for (i, seed) in check::seeds().iter().enumerate() {
        let mut buf = BytesMut::from(&seed[..]);
        let frame = FrameCodec::default().decode(&mut buf).unwrap();
        assert!(
            frame.is_some() && buf.is_empty(),
            "seed {i} is not one whole frame"
        );
    }
}

/// Random rounds (of 256 inputs each) that always run, whatever the time budget: the amount of
/// work the test checks must not depend on how fast the machine is. The budget only adds
/// rounds beyond these.
const MIN_RANDOM_ROUNDS: u64 = 48;

/// Inputs per random round.
const ROUND: u64 = 256;

/// Runs both phases: the exhaustive one, then at least [`MIN_RANDOM_ROUNDS`] random rounds,
/// and more while `budget` lasts. Returns the totals and the number of exhaustive executions.
fn fuzz(seed: u64, budget: Duration) -> (Totals, u64) {
    let start = Instant::now();
    let mut rng = Rng(seed);
    let mut totals = Totals::default();

    // The corpus: each golden frame, alone and with a control byte in front, and its payload.
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    for frame in check::seeds() {
        corpus.push(frame[4..].to_vec());
        for control in [0x00u8, 0x40, 0x80, 0xc0, 0x83] {
            let mut with = vec![control];
            with.extend_from_slice(&frame);
            corpus.push(with);
        }
        corpus.push(frame);
    }

    // Phase 1, exhaustive and deterministic: every prefix of every corpus entry, and every
    // byte of it set to each interesting value.
    for entry in &corpus {
        for cut in 0..entry.len() {
            totals.run(&entry[..cut]);
        }
        for i in 0..entry.len() {
            for &b in INTERESTING_BYTES {
                let mut m = entry.clone();
                m[i] = b;
                totals.run(&m);
            }
        }
    }
    let exhaustive = totals.execs;

    // Phase 2, random: a fixed number of rounds, then more until the time is up. Pure noise
    // and mutated corpus entries.
    let mut rounds = 0u64;
    while rounds < MIN_RANDOM_ROUNDS || start.elapsed() < budget {
        rounds += 1;
        for _ in 0..ROUND {
            let input = if rng.chance(4) {
                let len = if rng.chance(2) {
                    rng.below(32)
                } else {
                    rng.below(512)
                };
                (0..len).map(|_| rng.byte()).collect()
            } else {
                let mut m = corpus[rng.below(corpus.len())].clone();
                mutate(&mut rng, &mut m, &corpus);
                m
            };
            totals.run(&input);
        }
    }
    (totals, exhaustive)
}

#[test]
fn fuzz_every_decoder_with_random_and_mutated_golden_inputs() {
    let secs: f64 = std::env::var("ZK_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let seed: u64 = std::env::var("ZK_FUZZ_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x5eed);
    let start = Instant::now();
    let (totals, exhaustive) = fuzz(seed, Duration::from_secs_f64(secs));
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "fuzz_stable seed={seed:#x}: {} execs ({exhaustive} exhaustive + {} random) in {elapsed:.1}s \
         ({:.0}/s); {} decoder calls, {} returned Ok, {} frames",
        totals.execs,
        totals.execs - exhaustive,
        totals.execs as f64 / elapsed,
        totals.decodes,
        totals.ok,
        totals.frames,
    );
    // Not vacuous: the random phase ran its fixed share, and a large share of the inputs
    // reached the decoders and produced values.
    assert!(totals.execs >= exhaustive + MIN_RANDOM_ROUNDS * ROUND);
    assert!(totals.frames > 1000, "{} frames", totals.frames);
    assert!(totals.ok > totals.execs, "{} Ok decodes", totals.ok);
}

/// A budget already spent before the random phase starts (a slow, busy machine) still runs the
/// fixed amount of work, and that work is the same on every run: the outcome of the test does
/// not depend on the machine's speed.
#[test]
fn the_work_does_not_depend_on_the_time_budget() {
    let (first, exhaustive) = fuzz(0x5eed, Duration::ZERO);
    assert_eq!(first.execs, exhaustive + MIN_RANDOM_ROUNDS * ROUND);
    let (second, _) = fuzz(0x5eed, Duration::ZERO);
    assert_eq!(
        (first.execs, first.decodes, first.ok, first.frames),
        (second.execs, second.decodes, second.ok, second.frames)
    );
}
