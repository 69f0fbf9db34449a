//! libFuzzer target: FrameCodec, RequestHeader/ReplyHeader, Request/Response for every opcode,
//! ConnectRequest/ConnectResponse and MultiRequest/MultiResponse (see `src/check.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/check.rs"]
mod check;

fuzz_target!(|data: &[u8]| {
    check::check(data);
});
