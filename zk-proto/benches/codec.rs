//! Encode and decode throughput of typical frames: whole frames (length, header and body) through
//! `FrameCodec`, reported in bytes per second and in elements (frames, multi ops or children) per
//! second.
//!
//! ```text
//! cargo bench -p zk-proto -- --warm-up-time 1 --measurement-time 3
//! ```

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tokio_util::codec::{Decoder, Encoder};
use zk_proto::acl::Acl;
use zk_proto::codec::FrameCodec;
use zk_proto::jute::{Decode, JuteReader};
use zk_proto::multi::{MultiOp, MultiRequest};
use zk_proto::{
    CreateRequest, DeleteRequest, ErrorCode, EventType, GetChildren2Response, GetDataRequest,
    GetDataResponse, KeeperState, OpCode, ReplyHeader, Request, RequestHeader, Response,
    SetDataRequest, Stat, WatcherEvent,
};

/// One benchmarked frame.
enum Case {
    Request(Request),
    Reply(OpCode, Response),
    Event(WatcherEvent),
}

fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0005,
        mzxid: 0x1_0000_0009,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_500,
        version: 3,
        cversion: 100,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 100,
        num_children: 100,
        pzxid: 0x1_0000_0010,
    }
}

fn cases() -> Vec<(&'static str, u64, Case)> {
    let create = |i: usize| CreateRequest {
        path: format!("/app/locks/lock-{i:04}"),
        data: Some(Bytes::from_static(b"holder=client-17")),
        acl: Acl::open_unsafe(),
        flags: 3,
    };
    let multi = MultiRequest {
        ops: (0..10)
            .map(|i| match i % 4 {
                0 => MultiOp::Create(create(i)),
                1 => MultiOp::SetData(SetDataRequest {
                    path: format!("/app/config/key-{i}"),
                    data: Some(Bytes::from(vec![b'v'; 32])),
                    version: -1,
                }),
                2 => MultiOp::Check(zk_proto::CheckVersionRequest {
                    path: "/app/config".into(),
                    version: 7,
                }),
                _ => MultiOp::Delete(DeleteRequest {
                    path: format!("/app/tmp/{i}"),
                    version: -1,
                }),
            })
            .collect(),
    };
    let data = |n: usize| GetDataResponse {
        data: Some(Bytes::from(vec![0x5a; n])),
        stat: stat(),
    };
    vec![
        (
            "getData_request",
            1,
            Case::Request(Request::GetData(GetDataRequest {
                path: "/app/config/database".into(),
                watch: true,
            })),
        ),
        (
            "getData_reply_100B",
            1,
            Case::Reply(OpCode::GetData, Response::GetData(data(100))),
        ),
        (
            "getData_reply_10KB",
            1,
            Case::Reply(OpCode::GetData, Response::GetData(data(10 * 1024))),
        ),
        (
            "create_request",
            1,
            Case::Request(Request::Create(create(1))),
        ),
        (
            "multi_10_ops_request",
            10,
            Case::Request(Request::Multi(multi)),
        ),
        (
            "watcher_event",
            1,
            Case::Event(WatcherEvent {
                event_type: EventType::NodeDataChanged,
                state: KeeperState::SyncConnected,
                path: "/app/config/database".into(),
            }),
        ),
        (
            "getChildren2_reply_100_children",
            100,
            Case::Reply(
                OpCode::GetChildren2,
                Response::GetChildren2(GetChildren2Response {
                    children: (0..100).map(|i| format!("lock-{i:010}")).collect(),
                    stat: stat(),
                }),
            ),
        ),
    ]
}

fn encode(codec: &mut FrameCodec, case: &Case, out: &mut BytesMut) {
    match case {
        Case::Request(r) => codec.encode((RequestHeader::new(42, r.op_code()), r), out),
        Case::Reply(_, r) => codec.encode(
            (
                ReplyHeader {
                    xid: 42,
                    zxid: 0x1_0000_0042,
                    err: ErrorCode::Ok,
                },
                r,
            ),
            out,
        ),
        Case::Event(e) => codec.encode(
            (
                ReplyHeader {
                    xid: -1,
                    zxid: -1,
                    err: ErrorCode::Ok,
                },
                e,
            ),
            out,
        ),
    }
    .expect("encodes");
}

/// Decodes one frame of `case`'s kind from `wire`, down to the typed body.
fn decode(codec: &mut FrameCodec, case: &Case, wire: &mut BytesMut) {
    let payload = codec.decode(wire).expect("frame").expect("whole frame");
    let mut reader = JuteReader::new(payload);
    match case {
        Case::Request(_) => {
            let h = RequestHeader::decode(&mut reader).expect("header");
            black_box(Request::decode(h.op, &mut reader).expect("body"));
        }
        Case::Reply(op, _) => {
            black_box(ReplyHeader::decode(&mut reader).expect("header"));
            black_box(Response::decode(*op, &mut reader).expect("body"));
        }
        Case::Event(_) => {
            black_box(ReplyHeader::decode(&mut reader).expect("header"));
            black_box(WatcherEvent::decode(&mut reader).expect("body"));
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut codec = FrameCodec::default();
    for (name, elements, case) in cases() {
        let mut wire = BytesMut::new();
        encode(&mut codec, &case, &mut wire);
        let wire = wire.freeze();

        for (unit, throughput) in [
            ("bytes", Throughput::Bytes(wire.len() as u64)),
            ("elements", Throughput::Elements(elements)),
        ] {
            let mut group = c.benchmark_group(format!("{unit}/{name}"));
            group.throughput(throughput);
            group.bench_function("encode", |b| {
                let mut out = BytesMut::with_capacity(wire.len());
                b.iter(|| {
                    out.clear();
                    encode(&mut codec, black_box(&case), &mut out);
                    black_box(&out);
                })
            });
            group.bench_function("decode", |b| {
                b.iter_batched_ref(
                    || BytesMut::from(&wire[..]),
                    |buf| decode(&mut codec, &case, buf),
                    BatchSize::SmallInput,
                )
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
