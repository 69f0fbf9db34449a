//! The fuzzing oracle shared by the libFuzzer target (`fuzz_targets/frame_decode.rs`) and the
//! stable-toolchain runner (`zk-proto/tests/fuzz_stable.rs`).
//!
//! [`check`] feeds one input through every decoder of `zk-proto` and panics if any of them panics
//! or breaks one of these properties:
//! - whatever decodes is a fixed point: `decode(encode(decode(x))) == decode(x)`;
//! - framing does not depend on how the stream is split into reads;
//! - no decoded frame is longer than the codec's limit.

#![allow(dead_code)] // Each runner uses a different part.

use bytes::{Bytes, BytesMut};
use std::fmt::Debug;
use tokio_util::codec::Decoder;
use zk_proto::codec::FrameCodec;
use zk_proto::jute::{Decode, DecodeError, Encode, JuteReader};
use zk_proto::multi::{MultiRequest, MultiResponse};
use zk_proto::{
    ConnectRequest, ConnectResponse, OpCode, ReplyHeader, Request, RequestHeader, Response,
    SetWatches2, WatcherEvent,
};

/// Every opcode the crate knows, plus neighbours and values it does not know.
pub const OPCODES: &[i32] = &[
    -12, -11, -10, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
    20, 21, 22, 23, 50, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108,
];

/// What one input did, for the runners' statistics.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Decoder calls made.
    pub decodes: u64,
    /// Decoder calls that returned a value.
    pub ok: u64,
    /// Whole frames the codec produced.
    pub frames: u64,
}

fn encode<T: Encode>(value: &T) -> Bytes {
    let mut out = BytesMut::new();
    value.encode(&mut out);
    out.freeze()
}

/// Decodes `input`; if that works, checks the value survives an encode/decode round trip.
fn fixed_point<T: Encode + PartialEq + Debug>(
    out: &mut Outcome,
    input: &Bytes,
    decode: impl Fn(&mut JuteReader) -> Result<T, DecodeError>,
) {
    out.decodes += 1;
    if let Ok(value) = decode(&mut JuteReader::new(input.clone())) {
        out.ok += 1;
        let again = decode(&mut JuteReader::new(encode(&value)));
        assert_eq!(
            again.as_ref(),
            Ok(&value),
            "not a fixed point: {input:02x?}"
        );
    }
}

/// Splits `stream` into frames, feeding it `chunk` bytes at a time. Returns the frames and
/// whether the codec failed.
fn frames(stream: &[u8], chunk: usize, max: usize) -> (Vec<Bytes>, bool) {
    let mut codec = FrameCodec::new(max);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for piece in stream.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max, "frame of {} > {max}", frame.len());
                    got.push(frame);
                }
                Ok(None) => break,
                Err(_) => return (got, true),
            }
        }
    }
    (got, false)
}

/// Runs one fuzz input through every decoder. The first byte picks a read size and a frame
/// limit; the whole input is also decoded directly as a body of every kind.
pub fn check(data: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    let input = Bytes::copy_from_slice(data);

    // 1. The whole input as a body of every kind.
    for &op in OPCODES {
        let op = OpCode::from(op);
        fixed_point(&mut out, &input, |r| Request::decode(op, r));
        fixed_point(&mut out, &input, |r| Response::decode(op, r));
    }
    fixed_point(&mut out, &input, ConnectRequest::decode);
    fixed_point(&mut out, &input, ConnectResponse::decode);
    fixed_point(&mut out, &input, RequestHeader::decode);
    fixed_point(&mut out, &input, ReplyHeader::decode);
    fixed_point(&mut out, &input, MultiRequest::decode);
    fixed_point(&mut out, &input, MultiResponse::decode);
    fixed_point(&mut out, &input, WatcherEvent::decode);
    fixed_point(&mut out, &input, SetWatches2::decode);

    // 2. The input (after a control byte) as a stream of frames.
    let Some((&control, stream)) = data.split_first() else {
        return out;
    };
    let max = match control >> 6 {
        0 => 64,
        1 => 1024,
        2 => 0xfffff,
        _ => 16,
    };
    let chunk = usize::from(control & 0x3f) + 1;
    let whole = frames(stream, stream.len(), max);
    let split = frames(stream, chunk, max);
    assert_eq!(whole, split, "framing depends on read size {chunk}");

    let reply_op = OpCode::from(OPCODES[usize::from(control) % OPCODES.len()]);
    for (i, frame) in whole.0.iter().enumerate() {
        out.frames += 1;
        if i == 0 {
            fixed_point(&mut out, frame, ConnectRequest::decode);
            fixed_point(&mut out, frame, ConnectResponse::decode);
        }
        // As a client frame: header, then the body its opcode names.
        fixed_point(&mut out, frame, |r| {
            let h = RequestHeader::decode(r)?;
            Ok((h, Request::decode(h.op, r)?))
        });
        // As a server frame: header, then a notification or the body of `reply_op`.
        fixed_point(&mut out, frame, |r| {
            let h = ReplyHeader::decode(r)?;
            if h.xid == zk_proto::xid::NOTIFICATION {
                Ok((h, Reply::Event(WatcherEvent::decode(r)?)))
            } else if h.err.is_ok() || matches!(reply_op, OpCode::Multi | OpCode::MultiRead) {
                Ok((h, Reply::Body(Response::decode(reply_op, r)?)))
            } else {
                Ok((h, Reply::HeaderOnly))
            }
        });
    }
    out
}

/// A decoded server frame's body.
#[derive(Debug, PartialEq)]
enum Reply {
    Event(WatcherEvent),
    Body(Response),
    HeaderOnly,
}

impl Encode for Reply {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Reply::Event(e) => e.encode(out),
            Reply::Body(b) => b.encode(out),
            Reply::HeaderOnly => {}
        }
    }
}

/// Seeds: the frames of PROTOCOL.md §2.3 and Appendices A and B (hex, with length prefix), each
/// prefixed by a control byte when used as a fuzz input.
pub const SEEDS: &[&str] = &[
    "0000002d000000000000000000000000000075300000000000000000000000100000000000000000000000000000000000",
    "00000025000000000000753001000003ee470005000000104a165dabbce12a0c0b60cd4c67b311cf00",
    "0000002d00000000000000000000004700004e2001000003ee47000900000010979a45ab3c10a81fe06b6afab6d6630300",
    "00000024000000000000271001000002eae8000a000000101c67ad96af1bb69958ae0b90463a1add",
    "000000330000000100000001000000022f74000000026869000000010000001f00000005776f726c6400000006616e796f6e6500000000",
    "0000001600000001000000000000000500000000000000022f74",
    "00000010000000020000000000000006ffffff92",
    "0000000f0000000b00000004000000022f7401",
    "0000001effffffffffffffffffffffff000000000000000300000003000000022f74",
    "00000008fffffffe0000000b",
    "00000010fffffffe000000000000001a00000000",
    "000000710000000b0000000e0000000100ffffffff000000032f6d3300000000000000010000001f00000005776f726c6400000006616e796f6e65000000000000000d00ffffffff000000032f6d31000000630000000500ffffffff000000032f6d310000000178ffffffffffffffff01ffffffff",
    "000000400000000b000000000000002600000000ffffffff000000000000000000ffffffff00ffffff99ffffff99ffffffff00fffffffefffffffeffffffff01ffffffff",
    "00000012000000110000006a000000022f7200000001",
    "000000140000001100000000000000290000000000000000",
    "00000032fffffff800000065000000000000004700000001000000022f7300000001000000062f732f65706800000001000000022f73",
    "00000026fffffffc0000006400000000000000066469676573740000000c616c6963653a736563726574",
    "0000003a0000001f000000000000003700000000000000020000000664696765737400000005616c696365000000026970000000093132372e302e302e31",
    "0000003e0000000900000069000000000000006d00000001000000032f6a7600000001000000082f6a762f6e6f6e65000000000000000000000001000000032f6a76",
];

/// The seeds as bytes (whitespace in the hex above is ignored).
pub fn seeds() -> Vec<Vec<u8>> {
    SEEDS
        .iter()
        .map(|hex| {
            let digits: Vec<u8> = hex.bytes().filter(u8::is_ascii_hexdigit).collect();
            digits
                .chunks(2)
                .map(|pair| {
                    let nibble = |b: u8| match b {
                        b'0'..=b'9' => b - b'0',
                        b'a'..=b'f' => b - b'a' + 10,
                        _ => b - b'A' + 10,
                    };
                    (nibble(pair[0]) << 4) | nibble(pair.get(1).copied().unwrap_or(b'0'))
                })
                .collect()
        })
        .collect()
}
