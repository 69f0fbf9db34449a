//! Golden tests: every hex frame of PROTOCOL.md §2.3, Appendix A and Appendix B (captured from a
//! real ZooKeeper 3.8.0 server and real Java/kazoo clients) decodes to the expected typed values,
//! leaves no byte unread, and re-encodes to exactly the same bytes.
//!
//! A few frames in PROTOCOL.md elide part of their bytes (`<68-byte stat>`, `…`). Those are
//! completed here with values consistent with the surrounding capture, and the test says so; every
//! byte that PROTOCOL.md does show is kept as it is.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{
    DecodedRequest, connect_request, connect_response, event, frame, known_request, reply,
    reply_body, request, stat, unhex,
};
use zk_proto::acl::{Acl, Id, Perms};
use zk_proto::multi::{MultiOp, MultiRequest, MultiResponse, OpResult};
use zk_proto::*;

fn stat_hex(s: &Stat) -> String {
    use zk_proto::jute::Encode;
    let mut out = bytes::BytesMut::new();
    s.encode(&mut out);
    assert_eq!(out.len(), Stat::ENCODED_LEN);
    common::hex(&out)
}

fn bytes(s: &'static str) -> Option<Bytes> {
    Some(Bytes::from_static(s.as_bytes()))
}

fn header(xid: i32, zxid: i64, err: ErrorCode) -> ReplyHeader {
    ReplyHeader { xid, zxid, err }
}

// ---------------------------------------------------------------------------------------------
// §2.3 and Appendix B: the handshake.

#[test]
fn connect_request_new_session() {
    let wire = unhex(
        "0000002d 00000000 0000000000000000 00007530 0000000000000000 00000010 \
         00000000000000000000000000000000 00",
    );
    let r = connect_request(&wire);
    assert_eq!(wire.len(), 4 + 45);
    assert_eq!(r.protocol_version, 0);
    assert_eq!(r.last_zxid_seen, 0);
    assert_eq!(r.timeout_ms, 30_000);
    assert_eq!(r.session_id, 0);
    assert_eq!(&r.passwd[..], &[0u8; 16]);
    assert_eq!(r.read_only, Some(false));
    // The constructor builds exactly this frame.
    assert_eq!(frame(ConnectRequest::new_session(30_000)), wire);
}

#[test]
fn connect_response_new_session() {
    let wire = unhex(
        "00000025 00000000 00007530 01000003ee470005 00000010 \
         4a165dabbce12a0c0b60cd4c67b311cf 00",
    );
    let r = connect_response(&wire);
    assert_eq!(r.protocol_version, 0);
    assert_eq!(r.timeout_ms, 30_000);
    assert_eq!(r.session_id, 0x0100_0003_ee47_0005);
    assert_eq!(r.session_id >> 56, 1, "server id in the top byte");
    assert_eq!(
        &r.passwd[..],
        &unhex("4a165dabbce12a0c0b60cd4c67b311cf")[..]
    );
    assert_eq!(r.read_only, Some(false));
    assert!(!r.is_expired());
}

#[test]
fn connect_request_reconnect() {
    let wire = unhex(
        "0000002d 00000000 0000000000000047 00004e20 01000003ee470009 00000010 \
         979a45ab3c10a81fe06b6afab6d66303 00",
    );
    let r = connect_request(&wire);
    assert_eq!(r.last_zxid_seen, 0x47);
    assert_eq!(r.timeout_ms, 20_000);
    assert_eq!(r.session_id, 0x0100_0003_ee47_0009);
    assert_eq!(
        &r.passwd[..],
        &unhex("979a45ab3c10a81fe06b6afab6d66303")[..]
    );
    assert_eq!(r.read_only, Some(false));
}

#[test]
fn connect_response_expired() {
    let wire = unhex(
        "00000025 00000000 00000000 0000000000000000 00000010 \
         00000000000000000000000000000000 00",
    );
    let r = connect_response(&wire);
    assert_eq!(r.timeout_ms, 0);
    assert_eq!(r.session_id, 0);
    assert_eq!(&r.passwd[..], &[0u8; 16]);
    assert_eq!(r.read_only, Some(false));
    assert!(r.is_expired());
    assert_eq!(r, ConnectResponse::expired(Some(false)));
    assert_eq!(frame(ConnectResponse::expired(Some(false))), wire);
}

#[test]
fn connect_response_to_an_old_client_has_no_read_only_byte() {
    let wire = unhex(
        "00000024 00000000 00002710 01000002eae8000a 00000010 1c67ad96af1bb69958ae0b90463a1add",
    );
    let r = connect_response(&wire);
    assert_eq!(wire.len(), 4 + 36);
    assert_eq!(r.timeout_ms, 10_000);
    assert_eq!(r.session_id, 0x0100_0002_eae8_000a);
    assert_eq!(
        &r.passwd[..],
        &unhex("1c67ad96af1bb69958ae0b90463a1add")[..]
    );
    assert_eq!(r.read_only, None, "absent byte is None, not false");
}

#[test]
fn connect_request_of_an_old_client_without_read_only_byte() {
    // §2.1: the 44-byte ConnectRequest of an "old" client (the new-session sample without its
    // trailing byte).
    let wire = unhex(
        "0000002c 00000000 0000000000000000 00007530 0000000000000000 00000010 \
         00000000000000000000000000000000",
    );
    let r = connect_request(&wire);
    assert_eq!(r.read_only, None);
    assert_eq!(r.timeout_ms, 30_000);
}

#[test]
fn java_client_connect_request_appendix_b() {
    // "00…00" in PROTOCOL.md is the 16-byte all-zero password of a new session.
    let wire = unhex(
        "0000002d 00000000 0000000000000000 00002328 0000000000000000 00000010 \
         00000000000000000000000000000000 00",
    );
    let r = connect_request(&wire);
    assert_eq!(r.timeout_ms, 9000);
    assert_eq!(r.session_id, 0);
    assert_eq!(r.read_only, Some(false));
}

#[test]
fn java_client_connect_response_appendix_b() {
    // PROTOCOL.md shows the password as "a63e…4d2f"; the 12 elided bytes are zeros here.
    let wire = unhex(
        "00000025 00000000 00002328 01000003ee470013 00000010 \
         a63e000000000000000000000000 4d2f 00",
    );
    let r = connect_response(&wire);
    assert_eq!(r.timeout_ms, 9000);
    assert_eq!(r.session_id, 0x0100_0003_ee47_0013);
    assert_eq!(r.passwd.len(), 16);
    assert_eq!(&r.passwd[..2], &[0xa6, 0x3e]);
    assert_eq!(&r.passwd[14..], &[0x4d, 0x2f]);
    assert_eq!(r.read_only, Some(false));
}

// ---------------------------------------------------------------------------------------------
// Appendix A: create, errors, create2, getData, getChildren2.

#[test]
fn create_request_and_response() {
    let wire = unhex(
        "00000033 00000001 00000001 000000022f74 000000026869 00000001 0000001f \
         00000005776f726c64 00000006616e796f6e65 00000000",
    );
    let (h, r) = known_request(&wire);
    assert_eq!(h, RequestHeader::new(1, OpCode::Create));
    assert_eq!(
        r,
        Request::Create(CreateRequest {
            path: "/t".into(),
            data: bytes("hi"),
            acl: vec![Acl::new(Perms::ALL, Id::anyone())],
            flags: 0,
        })
    );
    let Request::Create(c) = &r else {
        unreachable!()
    };
    assert_eq!(c.acl, Acl::open_unsafe());
    assert_eq!(
        CreateMode::try_from(c.flags).unwrap(),
        CreateMode::Persistent
    );

    let wire = unhex("00000016 00000001 0000000000000005 00000000 000000022f74");
    let (h, body) = reply_body(&wire, OpCode::Create);
    assert_eq!(h, header(1, 5, ErrorCode::Ok));
    assert_eq!(body, Response::Create(CreateResponse { path: "/t".into() }));
}

#[test]
fn node_exists_is_header_only_and_consumes_a_zxid() {
    let wire = unhex("00000010 00000002 0000000000000006 ffffff92");
    let (h, body) = reply(&wire, OpCode::Create);
    assert_eq!(h, header(2, 6, ErrorCode::NodeExists));
    assert_eq!(i32::from(h.err), -110);
    assert_eq!(body, None);
}

#[test]
fn create2_response_with_sequential_path_and_stat() {
    let wire = unhex(
        "00000067 00000003 0000000000000007 00000000 0000000f2f742f732d30303030303030303030 \
         0000000000000007 0000000000000007 000001a1fc6e3e57 000001a1fc6e3e57 00000000 00000000 \
         00000000 0000000000000000 00000000 00000000 0000000000000007",
    );
    let (h, body) = reply_body(&wire, OpCode::Create2);
    assert_eq!(h, header(3, 7, ErrorCode::Ok));
    let expected = Create2Response {
        path: "/t/s-0000000000".into(),
        stat: stat(7, 7, 0x1a1_fc6e_3e57, 0x1a1_fc6e_3e57, 0, 0, 0, 0, 0, 0, 7),
    };
    assert_eq!(body, Response::Create2(expected));
}

#[test]
fn get_data_with_watch() {
    let wire = unhex("0000000f 0000000b 00000004 000000022f74 01");
    let (h, r) = known_request(&wire);
    assert_eq!(h, RequestHeader::new(11, OpCode::GetData));
    assert_eq!(
        r,
        Request::GetData(GetDataRequest {
            path: "/t".into(),
            watch: true
        })
    );

    let wire = unhex(
        "0000005a 0000000b 000000000000000e 00000000 000000026869 0000000000000005 \
         0000000000000005 000001a1fc6e3e3e 000001a1fc6e3e3e 00000000 00000003 00000000 \
         0000000000000000 00000002 00000003 000000000000000d",
    );
    let (h, body) = reply_body(&wire, OpCode::GetData);
    assert_eq!(h, header(11, 0xe, ErrorCode::Ok));
    let Response::GetData(r) = body else {
        panic!("{body:?}")
    };
    assert_eq!(r.data, bytes("hi"));
    assert_eq!(
        r.stat,
        stat(
            5,
            5,
            0x1a1_fc6e_3e3e,
            0x1a1_fc6e_3e3e,
            0,
            3,
            0,
            0,
            2,
            3,
            0xd
        )
    );
    assert_eq!(r.stat.data_length as usize, r.data.unwrap().len());
}

#[test]
fn get_children2_response() {
    // "<68-byte stat>" in PROTOCOL.md: /t's stat from the getData reply above stands in for it.
    let t_stat = stat(
        5,
        5,
        0x1a1_fc6e_3e3e,
        0x1a1_fc6e_3e3e,
        0,
        3,
        0,
        0,
        2,
        3,
        0xd,
    );
    let wire = unhex(&format!(
        "0000007b 00000010 000000000000000e 00000000 00000003 0000000a30303030303030303031 \
         0000000c732d30303030303030303030 0000000165 {}",
        stat_hex(&t_stat)
    ));
    let (h, body) = reply_body(&wire, OpCode::GetChildren2);
    assert_eq!(h, header(0x10, 0xe, ErrorCode::Ok));
    assert_eq!(
        body,
        Response::GetChildren2(GetChildren2Response {
            children: vec!["0000000001".into(), "s-0000000000".into(), "e".into()],
            stat: t_stat,
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Appendix A: notifications, ping.

#[test]
fn watch_notification_node_data_changed() {
    let wire = unhex("0000001e ffffffff ffffffffffffffff 00000000 00000003 00000003 000000022f74");
    let (h, e) = event(&wire);
    assert_eq!(h, header(-1, -1, ErrorCode::Ok));
    assert_eq!(e.event_type, EventType::NodeDataChanged);
    assert_eq!(e.state, KeeperState::SyncConnected);
    assert_eq!(e.path, "/t");
}

#[test]
fn ping_request_and_reply() {
    let wire = unhex("00000008 fffffffe 0000000b");
    let (h, r) = known_request(&wire);
    assert_eq!(h, RequestHeader::ping());
    assert_eq!(h.xid, xid::PING);
    assert_eq!(r, Request::Ping);
    assert_eq!(frame(RequestHeader::ping()), wire);

    let wire = unhex("00000010 fffffffe 000000000000001a 00000000");
    let (h, body) = reply_body(&wire, OpCode::Ping);
    assert_eq!(h, header(-2, 0x1a, ErrorCode::Ok));
    assert_eq!(body, Response::Empty);
}

// ---------------------------------------------------------------------------------------------
// Appendix A: multi and multiRead.

#[test]
fn failed_multi_request_and_response() {
    let wire = unhex(
        "00000071 0000000b 0000000e \
         00000001 00 ffffffff 000000032f6d33 00000000 00000001 0000001f 00000005776f726c64 \
         00000006616e796f6e65 00000000 \
         0000000d 00 ffffffff 000000032f6d31 00000063 \
         00000005 00 ffffffff 000000032f6d31 0000000178 ffffffff \
         ffffffff 01 ffffffff",
    );
    let (h, r) = known_request(&wire);
    assert_eq!(h, RequestHeader::new(11, OpCode::Multi));
    assert_eq!(
        r,
        Request::Multi(MultiRequest {
            ops: vec![
                MultiOp::Create(CreateRequest {
                    path: "/m3".into(),
                    data: bytes(""),
                    acl: Acl::open_unsafe(),
                    flags: 0,
                }),
                MultiOp::Check(CheckVersionRequest {
                    path: "/m1".into(),
                    version: 99,
                }),
                MultiOp::SetData(SetDataRequest {
                    path: "/m1".into(),
                    data: bytes("x"),
                    version: -1,
                }),
            ],
        })
    );

    let wire = unhex(
        "00000040 0000000b 0000000000000026 00000000 \
         ffffffff 00 00000000 00000000 \
         ffffffff 00 ffffff99 ffffff99 \
         ffffffff 00 fffffffe fffffffe \
         ffffffff 01 ffffffff",
    );
    let (h, body) = reply_body(&wire, OpCode::Multi);
    assert_eq!(h, header(11, 0x26, ErrorCode::Ok), "header err is 0");
    let Response::Multi(m) = body else {
        panic!("{body:?}")
    };
    assert_eq!(
        m.results,
        vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::BadVersion),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
        ]
    );
    assert_eq!(m.first_error(), Some((1, ErrorCode::BadVersion)));
}

#[test]
fn successful_multi_response() {
    // "<68-byte stat>" of /m1 after the setData: created and modified by this multi (zxid 0x25).
    let m1 = stat(
        0x25,
        0x25,
        0x1a1_fc6e_4000,
        0x1a1_fc6e_4000,
        1,
        0,
        0,
        0,
        1,
        0,
        0x25,
    );
    let wire = unhex(&format!(
        "00000098 0000000a 0000000000000025 00000000 \
         00000001 00 00000000 000000032f6d31 \
         00000001 00 00000000 000000032f6d32 \
         00000005 00 00000000 {} \
         0000000d 00 00000000 \
         00000002 00 00000000 \
         ffffffff 01 ffffffff",
        stat_hex(&m1)
    ));
    let (h, body) = reply_body(&wire, OpCode::Multi);
    assert_eq!(h, header(10, 0x25, ErrorCode::Ok));
    let Response::Multi(m) = body else {
        panic!("{body:?}")
    };
    assert_eq!(
        m.results,
        vec![
            OpResult::Create { path: "/m1".into() },
            OpResult::Create { path: "/m2".into() },
            OpResult::SetData { stat: m1 },
            OpResult::Check,
            OpResult::Delete,
        ]
    );
    assert_eq!(m.first_error(), None);
}

#[test]
fn multi_read_response_with_per_op_error() {
    // "<68-byte stat>" of /m1 holding "new": made up, consistent with a 3-byte value.
    let m1 = stat(
        0x25,
        0x27,
        0x1a1_fc6e_4000,
        0x1a1_fc6e_4100,
        2,
        0,
        0,
        0,
        3,
        0,
        0x25,
    );
    let wire = unhex(&format!(
        "0000009b 0000000e 0000000000000027 00000000 \
         00000004 00 00000000 000000036e6577 {} \
         00000008 00 00000000 00000002 0000000179 0000000b7130303030303030303032 \
         ffffffff 00 ffffff9b ffffff9b \
         ffffffff 01 ffffffff",
        stat_hex(&m1)
    ));
    let (h, body) = reply_body(&wire, OpCode::MultiRead);
    assert_eq!(h, header(14, 0x27, ErrorCode::Ok));
    assert_eq!(
        body,
        Response::Multi(MultiResponse {
            results: vec![
                OpResult::GetData(GetDataResponse {
                    data: bytes("new"),
                    stat: m1,
                }),
                OpResult::GetChildren(GetChildrenResponse {
                    children: vec!["y".into(), "q0000000002".into()],
                }),
                OpResult::Error(ErrorCode::NoNode),
            ],
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Appendix A: watches.

#[test]
fn add_watch_persistent_recursive() {
    let wire = unhex("00000012 00000011 0000006a 000000022f72 00000001");
    let (h, r) = known_request(&wire);
    assert_eq!(h, RequestHeader::new(17, OpCode::AddWatch));
    assert_eq!(
        r,
        Request::AddWatch(AddWatchRequest {
            path: "/r".into(),
            mode: 1
        })
    );
    let Request::AddWatch(a) = r else {
        unreachable!()
    };
    assert_eq!(
        AddWatchMode::try_from(a.mode).unwrap(),
        AddWatchMode::PersistentRecursive
    );

    let wire = unhex("00000014 00000011 0000000000000029 00000000 00000000");
    let (h, body) = reply_body(&wire, OpCode::AddWatch);
    assert_eq!(h, header(17, 0x29, ErrorCode::Ok));
    assert_eq!(
        body,
        Response::AddWatch(ErrorResponse { err: ErrorCode::Ok })
    );
}

#[test]
fn set_watches_on_reconnect_with_events_before_reply() {
    let wire = unhex(
        "00000032 fffffff8 00000065 0000000000000047 00000001 000000022f73 00000001 \
         000000062f732f657068 00000001 000000022f73",
    );
    let (h, r) = known_request(&wire);
    assert_eq!(h, RequestHeader::new(xid::SET_WATCHES, OpCode::SetWatches));
    assert_eq!(
        r,
        Request::SetWatches(SetWatches {
            relative_zxid: 0x47,
            data_watches: vec!["/s".into()],
            exist_watches: vec!["/s/eph".into()],
            child_watches: vec!["/s".into()],
        })
    );

    let wire = unhex("0000001e ffffffff ffffffffffffffff 00000000 00000003 00000003 000000022f73");
    let (h, e) = event(&wire);
    assert_eq!(h.zxid, -1);
    assert_eq!(
        e,
        WatcherEvent {
            event_type: EventType::NodeDataChanged,
            state: KeeperState::SyncConnected,
            path: "/s".into(),
        }
    );

    let wire =
        unhex("00000022 ffffffff ffffffffffffffff 00000000 00000001 00000003 000000062f732f657068");
    let (_, e) = event(&wire);
    assert_eq!(
        e,
        WatcherEvent {
            event_type: EventType::NodeCreated,
            state: KeeperState::SyncConnected,
            path: "/s/eph".into(),
        }
    );

    let wire = unhex("00000010 fffffff8 0000000000000049 00000000");
    let (h, body) = reply_body(&wire, OpCode::SetWatches);
    assert_eq!(h, header(-8, 0x49, ErrorCode::Ok));
    assert_eq!(body, Response::Empty);
}

#[test]
fn java_set_watches2_appendix_b() {
    let wire = unhex(
        "0000003e 00000009 00000069 000000000000006d 00000001 000000032f6a76 00000001 \
         000000082f6a762f6e6f6e65 00000000 00000000 00000001 000000032f6a76",
    );
    let (h, r) = known_request(&wire);
    assert_eq!(h, RequestHeader::new(9, OpCode::SetWatches2));
    assert_eq!(
        r,
        Request::SetWatches2(SetWatches2 {
            relative_zxid: 0x6d,
            data_watches: vec!["/jv".into()],
            exist_watches: vec!["/jv/none".into()],
            child_watches: vec![],
            persistent_watches: vec![],
            persistent_recursive_watches: vec!["/jv".into()],
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Appendix A: auth, whoAmI, closeSession, error replies.

#[test]
fn auth_digest_and_auth_failed() {
    let wire = unhex(
        "00000026 fffffffc 00000064 00000000 00000006646967657374 0000000c616c6963653a736563726574",
    );
    let (h, r) = known_request(&wire);
    assert_eq!(h, RequestHeader::new(xid::AUTH, OpCode::Auth));
    let Request::Auth(a) = r else { panic!("{r:?}") };
    assert_eq!(a.auth_type, 0);
    assert_eq!(a.scheme, "digest");
    assert_eq!(&a.auth[..], b"alice:secret");
    assert_eq!(
        zk_proto::acl::digest_id_from_token(&a.auth).as_deref(),
        Some("alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=")
    );

    let wire = unhex("00000010 fffffffc 0000000000000000 00000000");
    let (h, body) = reply_body(&wire, OpCode::Auth);
    assert_eq!(h, header(-4, 0, ErrorCode::Ok));
    assert_eq!(body, Response::Empty);

    let wire = unhex("00000010 fffffffc 0000000000000000 ffffff8d");
    let (h, body) = reply(&wire, OpCode::Auth);
    assert_eq!(h, header(-4, 0, ErrorCode::AuthFailed));
    assert_eq!(body, None);
}

#[test]
fn who_am_i() {
    let wire = unhex("00000008 0000001f 0000006b");
    let (h, r) = known_request(&wire);
    assert_eq!(h, RequestHeader::new(31, OpCode::WhoAmI));
    assert_eq!(r, Request::WhoAmI);

    let wire = unhex(
        "0000003a 0000001f 0000000000000037 00000000 00000002 00000006646967657374 \
         00000005616c696365 000000026970 000000093132372e302e302e31",
    );
    let (h, body) = reply_body(&wire, OpCode::WhoAmI);
    assert_eq!(h, header(31, 0x37, ErrorCode::Ok));
    assert_eq!(
        body,
        Response::WhoAmI(WhoAmIResponse {
            client_info: vec![
                ClientInfo {
                    auth_scheme: "digest".into(),
                    user: "alice".into()
                },
                ClientInfo {
                    auth_scheme: "ip".into(),
                    user: "127.0.0.1".into()
                },
            ],
        })
    );
}

#[test]
fn close_session() {
    let wire = unhex("00000008 00000003 fffffff5");
    let (h, r) = known_request(&wire);
    assert_eq!(h, RequestHeader::new(3, OpCode::CloseSession));
    assert_eq!(i32::from(h.op), -11);
    assert_eq!(r, Request::CloseSession);

    let wire = unhex("00000010 00000003 000000000000005d 00000000");
    let (h, body) = reply_body(&wire, OpCode::CloseSession);
    assert_eq!(h, header(3, 0x5d, ErrorCode::Ok));
    assert_eq!(body, Response::Empty);
}

#[test]
fn unknown_opcode_is_unimplemented_with_zxid_minus_one() {
    // The request is not in PROTOCOL.md's hex; it is the 8-byte header of xid 0x20, op 50.
    let wire = unhex("00000008 00000020 00000032");
    match request(&wire) {
        DecodedRequest::NotARequest(h, rest) => {
            assert_eq!(h, RequestHeader::new(0x20, OpCode::Unknown(50)));
            assert!(rest.is_empty());
        }
        other => panic!("{other:?}"),
    }

    let wire = unhex("00000010 00000020 ffffffffffffffff fffffffa");
    let (h, body) = reply(&wire, OpCode::Unknown(50));
    assert_eq!(h, header(0x20, -1, ErrorCode::Unimplemented));
    assert_eq!(body, None);
}

#[test]
fn reconfig_disabled() {
    let wire = unhex("00000010 00000004 0000000000000055 ffffff85");
    let (h, body) = reply(&wire, OpCode::Reconfig);
    assert_eq!(h, header(4, 0x55, ErrorCode::ReconfigDisabled));
    assert_eq!(i32::from(h.err), -123);
    assert_eq!(body, None);
}

#[test]
fn remove_watches_marshalling_error() {
    // "S->C ... fffffffb": xid and zxid are elided in PROTOCOL.md; made-up values here.
    let wire = unhex("00000010 00000005 0000000000000056 fffffffb");
    let (h, body) = reply(&wire, OpCode::RemoveWatches);
    assert_eq!(h.err, ErrorCode::MarshallingError);
    assert_eq!(body, None);
}

#[test]
fn every_appendix_a_error_code_has_its_name() {
    for (raw, code) in [
        ("ffffff92", ErrorCode::NodeExists),
        ("ffffff99", ErrorCode::BadVersion),
        ("fffffffe", ErrorCode::RuntimeInconsistency),
        ("ffffff9b", ErrorCode::NoNode),
        ("ffffff8d", ErrorCode::AuthFailed),
        ("fffffffa", ErrorCode::Unimplemented),
        ("ffffff85", ErrorCode::ReconfigDisabled),
        ("fffffffb", ErrorCode::MarshallingError),
    ] {
        let v = i32::from_be_bytes(unhex(raw).try_into().unwrap());
        assert_eq!(ErrorCode::from(v), code, "{raw}");
        assert_eq!(i32::from(code), v);
    }
}
