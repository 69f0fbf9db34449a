//! Helpers shared by the golden and property tests: hex parsing, [`Stat`] from its fields, and
//! "decode every layer of a whole frame, check nothing is left over, re-encode and compare" for
//! each kind of frame.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};
use zk_proto::acl::Acl;
use zk_proto::codec::FrameCodec;
use zk_proto::jute::{Decode, Encode, JuteReader};
use zk_proto::multi::MultiOp;
use zk_proto::{
    ConnectRequest, ConnectResponse, DecodeError, OpCode, ReplyHeader, Request, RequestHeader,
    Response, Stat, WatcherEvent,
};

/// Parses hex, ignoring all whitespace.
pub fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {text:?}"
    );
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).unwrap();
            u8::from_str_radix(s, 16).unwrap_or_else(|_| panic!("bad hex {s:?} in {text:?}"))
        })
        .collect()
}

/// A [`Stat`] from its fields, in wire order.
#[allow(clippy::too_many_arguments)]
pub fn stat(
    czxid: i64,
    mzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
    ephemeral_owner: i64,
    data_length: i32,
    num_children: i32,
    pzxid: i64,
) -> Stat {
    Stat {
        czxid,
        mzxid,
        ctime,
        mtime,
        version,
        cversion,
        aversion,
        ephemeral_owner,
        data_length,
        num_children,
        pzxid,
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs a whole frame (length included) through [`FrameCodec`], asserting that it is exactly one
/// frame, and returns the payload.
pub fn frame_payload(wire: &[u8]) -> Bytes {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::from(wire);
    let payload = codec
        .decode(&mut buf)
        .expect("frame decodes")
        .expect("frame is complete");
    assert!(buf.is_empty(), "{} bytes after the frame", buf.len());
    assert_eq!(payload.len() + 4, wire.len());
    payload
}

/// Encodes `item` as one frame with [`FrameCodec`].
pub fn frame<T: Encode>(item: T) -> Vec<u8> {
    let mut out = BytesMut::new();
    FrameCodec::default().encode(item, &mut out).unwrap();
    out.to_vec()
}

/// Bytes written as they are, with no length prefix.
pub struct Raw<'a>(pub &'a [u8]);

impl Encode for Raw<'_> {
    fn encode(&self, out: &mut BytesMut) {
        out.extend_from_slice(self.0);
    }
}

fn assert_consumed(reader: &JuteReader, what: &str, wire: &[u8]) {
    assert!(
        reader.is_empty(),
        "{what}: {} bytes left over in {}",
        reader.remaining(),
        hex(wire)
    );
}

fn assert_same(reencoded: &[u8], wire: &[u8], what: &str) {
    assert_eq!(hex(reencoded), hex(wire), "{what}: re-encoding differs");
}

/// A client's first frame.
pub fn connect_request(wire: &[u8]) -> ConnectRequest {
    let mut reader = JuteReader::new(frame_payload(wire));
    let request = ConnectRequest::decode(&mut reader).unwrap();
    assert_consumed(&reader, "ConnectRequest", wire);
    assert_same(&frame(&request), wire, "ConnectRequest");
    request
}

/// A server's first frame.
pub fn connect_response(wire: &[u8]) -> ConnectResponse {
    let mut reader = JuteReader::new(frame_payload(wire));
    let response = ConnectResponse::decode(&mut reader).unwrap();
    assert_consumed(&reader, "ConnectResponse", wire);
    assert_same(&frame(&response), wire, "ConnectResponse");
    response
}

thread_local! {
    /// Frames that re-encoded only after the documented null-ACL-id normalization (per test:
    /// each test runs on its own thread).
    pub static NORMALIZED: Cell<usize> = const { Cell::new(0) };
}

const AUTH_NULL_ID: &[u8] = b"\x00\x00\x00\x04auth\xff\xff\xff\xff";
const AUTH_EMPTY_ID: &[u8] = b"\x00\x00\x00\x04auth\x00\x00\x00\x00";

fn has_auth_acl_with_empty_id(body: &Request) -> bool {
    let acls: Vec<&Acl> = match body {
        Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => {
            r.acl.iter().collect()
        }
        Request::CreateTtl(r) => r.acl.iter().collect(),
        Request::SetAcl(r) => r.acl.iter().collect(),
        Request::Multi(m) => m
            .ops
            .iter()
            .flat_map(|op| match op {
                MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => {
                    r.acl.iter().collect::<Vec<_>>()
                }
                MultiOp::CreateTtl(r) => r.acl.iter().collect(),
                _ => Vec::new(),
            })
            .collect(),
        _ => Vec::new(),
    };
    acls.iter()
        .any(|a| a.id.scheme == "auth" && a.id.id.is_empty())
}

/// `wire` with every `auth` id that is null (`ffffffff`) written as empty (`00000000`).
pub fn null_auth_ids_as_empty(wire: &[u8]) -> Vec<u8> {
    let mut out = wire.to_vec();
    let mut i = 0;
    while i + AUTH_NULL_ID.len() <= out.len() {
        if &out[i..i + AUTH_NULL_ID.len()] == AUTH_NULL_ID {
            out[i..i + AUTH_NULL_ID.len()].copy_from_slice(AUTH_EMPTY_ID);
            i += AUTH_NULL_ID.len();
        } else {
            i += 1;
        }
    }
    out
}

/// How a request frame decoded.
#[derive(Debug)]
pub enum DecodedRequest {
    /// A request this crate knows.
    Known(RequestHeader, Request),
    /// An opcode that is not a request (a server answers it with Unimplemented); the raw body.
    NotARequest(RequestHeader, Bytes),
    /// A known opcode whose body is malformed (a server answers it with MarshallingError).
    Rejected(RequestHeader, DecodeError),
}

/// A client frame after the handshake: header and body.
pub fn request(wire: &[u8]) -> DecodedRequest {
    let mut reader = JuteReader::new(frame_payload(wire));
    let header = RequestHeader::decode(&mut reader).unwrap();
    match Request::decode(header.op, &mut reader) {
        Ok(body) => {
            assert_consumed(&reader, "request", wire);
            assert_eq!(body.op_code(), header.op);
            let reencoded = frame((header, &body));
            if reencoded != wire && has_auth_acl_with_empty_id(&body) {
                // The one lossy normalization: a null ACL id (kazoo's `auth` entries) is read as
                // empty, so it comes back as an empty string.
                assert_same(
                    &reencoded,
                    &null_auth_ids_as_empty(wire),
                    "request (normalized)",
                );
                NORMALIZED.with(|n| n.set(n.get() + 1));
            } else {
                assert_same(&reencoded, wire, "request");
            }
            DecodedRequest::Known(header, body)
        }
        Err(DecodeError::UnknownOpCode(op)) => {
            assert_eq!(op, i32::from(header.op));
            let rest = reader.take_rest();
            assert_same(&frame((header, Raw(&rest))), wire, "unknown request");
            DecodedRequest::NotARequest(header, rest)
        }
        Err(e) => DecodedRequest::Rejected(header, e),
    }
}

/// A request frame of a known opcode.
pub fn known_request(wire: &[u8]) -> (RequestHeader, Request) {
    match request(wire) {
        DecodedRequest::Known(h, r) => (h, r),
        other => panic!("not a known request: {other:?}"),
    }
}

/// A reply to a request of type `op`: the body is read when `err` is 0, and for multi and
/// multiRead whenever there is one (their header says 0 even when the transaction failed).
pub fn reply(wire: &[u8], op: OpCode) -> (ReplyHeader, Option<Response>) {
    let mut reader = JuteReader::new(frame_payload(wire));
    let header = ReplyHeader::decode(&mut reader).unwrap();
    let is_multi = matches!(op, OpCode::Multi | OpCode::MultiRead);
    let body = if header.err.is_ok() || (is_multi && !reader.is_empty()) {
        Some(
            Response::decode(op, &mut reader)
                .unwrap_or_else(|e| panic!("reply to {op:?} {}: {e}", hex(wire))),
        )
    } else {
        None
    };
    assert_consumed(&reader, "reply", wire);
    let reencoded = match &body {
        Some(body) => frame((header, body)),
        None => frame(header),
    };
    assert_same(&reencoded, wire, "reply");
    (header, body)
}

/// A reply that must have a body.
pub fn reply_body(wire: &[u8], op: OpCode) -> (ReplyHeader, Response) {
    let (header, body) = reply(wire, op);
    (header, body.expect("a body"))
}

/// A watch notification (xid -1).
pub fn event(wire: &[u8]) -> (ReplyHeader, WatcherEvent) {
    let mut reader = JuteReader::new(frame_payload(wire));
    let header = ReplyHeader::decode(&mut reader).unwrap();
    assert_eq!(header.xid, zk_proto::xid::NOTIFICATION, "{}", hex(wire));
    let event = WatcherEvent::decode(&mut reader).unwrap();
    assert_consumed(&reader, "event", wire);
    assert_same(&frame((header, &event)), wire, "event");
    (header, event)
}
