//! Property tests: every record round-trips (value and bytes), whole `Request`/`Response` values
//! round-trip through decode-by-opcode, null and empty stay distinct, framing is independent of how
//! the stream is split, decoding arbitrary bytes never panics (and is idempotent), and the path
//! and chroot helpers keep their invariants.

#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};
use zk_proto::acl::{Acl, Id, Perms};
use zk_proto::codec::{FrameCodec, FrameError, encode_frame};
use zk_proto::jute::{Decode, Encode, JuteReader};
use zk_proto::multi::{MultiHeader, MultiOp, MultiRequest, MultiResponse, OpResult};
use zk_proto::path::{
    join_chroot, parent, parse_chroot, strip_chroot, validate_path, validate_sequential_path,
};
use zk_proto::*;

// ---------------------------------------------------------------------------------------------
// Helpers.

fn encode<T: Encode + ?Sized>(value: &T) -> Bytes {
    let mut out = BytesMut::new();
    value.encode(&mut out);
    out.freeze()
}

/// encode → decode gives the same value, consumes every byte, and re-encodes to the same bytes.
fn round_trip<T: Encode + Decode + PartialEq + Debug>(value: &T) -> Result<(), TestCaseError> {
    let bytes = encode(value);
    let mut reader = JuteReader::new(bytes.clone());
    let decoded = T::decode(&mut reader).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&decoded, value);
    prop_assert!(reader.is_empty(), "{} bytes left over", reader.remaining());
    prop_assert_eq!(encode(&decoded), bytes);
    Ok(())
}

/// Like [`round_trip`] for the opcode-typed decoders.
fn round_trip_by_op<T: Encode + PartialEq + Debug>(
    value: &T,
    op: OpCode,
    decode: fn(OpCode, &mut JuteReader) -> Result<T, DecodeError>,
) -> Result<(), TestCaseError> {
    let bytes = encode(value);
    let mut reader = JuteReader::new(bytes.clone());
    let decoded = decode(op, &mut reader).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&decoded, value);
    prop_assert!(reader.is_empty(), "{} bytes left over", reader.remaining());
    prop_assert_eq!(encode(&decoded), bytes);
    Ok(())
}

/// Every opcode the crate knows, plus values around and outside them.
fn all_opcodes() -> Vec<OpCode> {
    let mut ops: Vec<OpCode> = (-12..=24).chain(99..=108).map(OpCode::from).collect();
    ops.extend([
        OpCode::from(50),
        OpCode::from(i32::MIN),
        OpCode::from(i32::MAX),
    ]);
    ops
}

/// Bytes written as they are, with no length prefix.
struct Raw<'a>(&'a [u8]);

impl Encode for Raw<'_> {
    fn encode(&self, out: &mut BytesMut) {
        out.extend_from_slice(self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies.

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9/_.-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(string(), 0..5)
}

fn data() -> impl Strategy<Value = Option<Bytes>> {
    option::of(vec(any::<u8>(), 0..40).prop_map(Bytes::from))
}

fn raw_bytes() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..40).prop_map(Bytes::from)
}

fn stat() -> impl Strategy<Value = Stat> {
    (
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()),
        (any::<i32>(), any::<i32>(), any::<i32>()),
        (any::<i64>(), any::<i32>(), any::<i32>(), any::<i64>()),
    )
        .prop_map(
            |(
                (czxid, mzxid, ctime, mtime),
                (version, cversion, aversion),
                (ephemeral_owner, data_length, num_children, pzxid),
            )| {
                common::stat(
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
                )
            },
        )
}

fn id() -> impl Strategy<Value = Id> {
    (string(), string()).prop_map(|(scheme, id)| Id { scheme, id })
}

fn acl() -> impl Strategy<Value = Acl> {
    (any::<i32>(), id()).prop_map(|(bits, id)| Acl::new(Perms::from_bits(bits), id))
}

fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(acl(), 0..4)
}

/// Codes are built from raw integers, so `Unknown` only ever holds values no variant names (the
/// only values that can survive a decode).
fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![(-130..=0i32), any::<i32>()].prop_map(ErrorCode::from)
}

fn watcher_type() -> impl Strategy<Value = WatcherType> {
    prop_oneof![(0..=6i32), any::<i32>()].prop_map(WatcherType::from)
}

fn event_type() -> impl Strategy<Value = EventType> {
    prop_oneof![(-2..=8i32), any::<i32>()].prop_map(EventType::from)
}

fn keeper_state() -> impl Strategy<Value = KeeperState> {
    prop_oneof![(-113..=8i32), any::<i32>()].prop_map(KeeperState::from)
}

fn opcode() -> impl Strategy<Value = OpCode> {
    prop_oneof![(-12..=108i32), any::<i32>()].prop_map(OpCode::from)
}

fn connect_request() -> impl Strategy<Value = ConnectRequest> {
    (
        any::<i32>(),
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
        raw_bytes(),
        option::of(any::<bool>()),
    )
        .prop_map(
            |(protocol_version, last_zxid_seen, timeout_ms, session_id, passwd, read_only)| {
                ConnectRequest {
                    protocol_version,
                    last_zxid_seen,
                    timeout_ms,
                    session_id,
                    passwd,
                    read_only,
                }
            },
        )
}

fn connect_response() -> impl Strategy<Value = ConnectResponse> {
    (
        any::<i32>(),
        any::<i32>(),
        any::<i64>(),
        raw_bytes(),
        option::of(any::<bool>()),
    )
        .prop_map(
            |(protocol_version, timeout_ms, session_id, passwd, read_only)| ConnectResponse {
                protocol_version,
                timeout_ms,
                session_id,
                passwd,
                read_only,
            },
        )
}

fn request_header() -> impl Strategy<Value = RequestHeader> {
    (any::<i32>(), opcode()).prop_map(|(xid, op)| RequestHeader { xid, op })
}

fn reply_header() -> impl Strategy<Value = ReplyHeader> {
    (any::<i32>(), any::<i64>(), error_code()).prop_map(|(xid, zxid, err)| ReplyHeader {
        xid,
        zxid,
        err,
    })
}

fn create_request() -> impl Strategy<Value = CreateRequest> {
    (string(), data(), acls(), any::<i32>()).prop_map(|(path, data, acl, flags)| CreateRequest {
        path,
        data,
        acl,
        flags,
    })
}

fn create_ttl_request() -> impl Strategy<Value = CreateTtlRequest> {
    (string(), data(), acls(), any::<i32>(), any::<i64>()).prop_map(
        |(path, data, acl, flags, ttl)| CreateTtlRequest {
            path,
            data,
            acl,
            flags,
            ttl,
        },
    )
}

fn delete_request() -> impl Strategy<Value = DeleteRequest> {
    (string(), any::<i32>()).prop_map(|(path, version)| DeleteRequest { path, version })
}

fn set_data_request() -> impl Strategy<Value = SetDataRequest> {
    (string(), data(), any::<i32>()).prop_map(|(path, data, version)| SetDataRequest {
        path,
        data,
        version,
    })
}

fn check_request() -> impl Strategy<Value = CheckVersionRequest> {
    (string(), any::<i32>()).prop_map(|(path, version)| CheckVersionRequest { path, version })
}

fn get_data_request() -> impl Strategy<Value = GetDataRequest> {
    (string(), any::<bool>()).prop_map(|(path, watch)| GetDataRequest { path, watch })
}

fn get_children_request() -> impl Strategy<Value = GetChildrenRequest> {
    (string(), any::<bool>()).prop_map(|(path, watch)| GetChildrenRequest { path, watch })
}

fn multi_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        create_request().prop_map(MultiOp::Create),
        create_request().prop_map(MultiOp::Create2),
        create_request().prop_map(MultiOp::CreateContainer),
        create_ttl_request().prop_map(MultiOp::CreateTtl),
        delete_request().prop_map(MultiOp::Delete),
        set_data_request().prop_map(MultiOp::SetData),
        check_request().prop_map(MultiOp::Check),
        get_data_request().prop_map(MultiOp::GetData),
        get_children_request().prop_map(MultiOp::GetChildren),
    ]
}

fn multi_request() -> impl Strategy<Value = MultiRequest> {
    vec(multi_op(), 0..6).prop_map(|ops| MultiRequest { ops })
}

fn get_data_response() -> impl Strategy<Value = GetDataResponse> {
    (data(), stat()).prop_map(|(data, stat)| GetDataResponse { data, stat })
}

fn create2_response() -> impl Strategy<Value = Create2Response> {
    (string(), stat()).prop_map(|(path, stat)| Create2Response { path, stat })
}

fn op_result() -> impl Strategy<Value = OpResult> {
    prop_oneof![
        string().prop_map(|path| OpResult::Create { path }),
        create2_response().prop_map(OpResult::Create2),
        Just(OpResult::Delete),
        stat().prop_map(|stat| OpResult::SetData { stat }),
        Just(OpResult::Check),
        get_data_response().prop_map(OpResult::GetData),
        strings().prop_map(|children| OpResult::GetChildren(GetChildrenResponse { children })),
        error_code().prop_map(OpResult::Error),
    ]
}

fn multi_response() -> impl Strategy<Value = MultiResponse> {
    vec(op_result(), 0..6).prop_map(|results| MultiResponse { results })
}

fn set_watches() -> impl Strategy<Value = SetWatches> {
    (any::<i64>(), strings(), strings(), strings()).prop_map(
        |(relative_zxid, data_watches, exist_watches, child_watches)| SetWatches {
            relative_zxid,
            data_watches,
            exist_watches,
            child_watches,
        },
    )
}

fn set_watches2() -> impl Strategy<Value = SetWatches2> {
    (
        any::<i64>(),
        strings(),
        strings(),
        strings(),
        strings(),
        strings(),
    )
        .prop_map(|(relative_zxid, d, e, c, p, r)| SetWatches2 {
            relative_zxid,
            data_watches: d,
            exist_watches: e,
            child_watches: c,
            persistent_watches: p,
            persistent_recursive_watches: r,
        })
}

fn watcher_event() -> impl Strategy<Value = WatcherEvent> {
    (event_type(), keeper_state(), string()).prop_map(|(event_type, state, path)| WatcherEvent {
        event_type,
        state,
        path,
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        create_request().prop_map(Request::Create),
        delete_request().prop_map(Request::Delete),
        (string(), any::<bool>())
            .prop_map(|(path, watch)| Request::Exists(ExistsRequest { path, watch })),
        get_data_request().prop_map(Request::GetData),
        set_data_request().prop_map(Request::SetData),
        string().prop_map(|path| Request::GetAcl(GetAclRequest { path })),
        (string(), acls(), any::<i32>())
            .prop_map(|(path, acl, version)| Request::SetAcl(SetAclRequest { path, acl, version })),
        get_children_request().prop_map(Request::GetChildren),
        string().prop_map(|path| Request::Sync(SyncRequest { path })),
        Just(Request::Ping),
        get_children_request().prop_map(Request::GetChildren2),
        check_request().prop_map(Request::Check),
        multi_request().prop_map(Request::Multi),
        create_request().prop_map(Request::Create2),
        (
            option::of(string()),
            option::of(string()),
            option::of(string()),
            any::<i64>()
        )
            .prop_map(|(j, l, n, c)| Request::Reconfig(ReconfigRequest {
                joining_servers: j,
                leaving_servers: l,
                new_members: n,
                cur_config_id: c,
            })),
        (string(), watcher_type()).prop_map(|(path, watcher_type)| Request::CheckWatches(
            CheckWatchesRequest { path, watcher_type }
        )),
        (string(), watcher_type()).prop_map(|(path, watcher_type)| Request::RemoveWatches(
            RemoveWatchesRequest { path, watcher_type }
        )),
        create_request().prop_map(Request::CreateContainer),
        raw_bytes().prop_map(|path| Request::DeleteContainer(DeleteContainerRequest { path })),
        create_ttl_request().prop_map(Request::CreateTtl),
        multi_request().prop_map(Request::MultiRead),
        (any::<i32>(), string(), raw_bytes()).prop_map(|(auth_type, scheme, auth)| {
            Request::Auth(AuthPacket {
                auth_type,
                scheme,
                auth,
            })
        }),
        set_watches().prop_map(Request::SetWatches),
        data().prop_map(|token| Request::Sasl(GetSaslRequest { token })),
        string()
            .prop_map(|prefix_path| Request::GetEphemerals(GetEphemeralsRequest { prefix_path })),
        string()
            .prop_map(|path| Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path })),
        set_watches2().prop_map(Request::SetWatches2),
        (string(), any::<i32>())
            .prop_map(|(path, mode)| Request::AddWatch(AddWatchRequest { path, mode })),
        Just(Request::WhoAmI),
        Just(Request::CloseSession),
    ]
}

/// A response together with every opcode whose reply has that shape.
fn response() -> impl Strategy<Value = (Vec<OpCode>, Response)> {
    use OpCode as O;
    let with = |ops: &[OpCode]| ops.to_vec();
    prop_oneof![
        Just((
            with(&[
                O::Delete,
                O::Ping,
                O::Check,
                O::Auth,
                O::SetWatches,
                O::SetWatches2,
                O::CheckWatches,
                O::RemoveWatches,
                O::DeleteContainer,
                O::CloseSession,
            ]),
            Response::Empty
        )),
        string().prop_map(move |path| (
            with(&[O::Create]),
            Response::Create(CreateResponse { path })
        )),
        create2_response().prop_map(move |r| (
            with(&[O::Create2, O::CreateContainer, O::CreateTtl]),
            Response::Create2(r)
        )),
        stat().prop_map(move |s| (with(&[O::Exists]), Response::Stat(s))),
        get_data_response()
            .prop_map(move |r| (with(&[O::GetData, O::Reconfig]), Response::GetData(r))),
        stat().prop_map(move |s| (with(&[O::SetData, O::SetAcl]), Response::SetStat(s))),
        (acls(), stat()).prop_map(move |(acl, stat)| (
            with(&[O::GetAcl]),
            Response::GetAcl(GetAclResponse { acl, stat })
        )),
        strings().prop_map(move |children| (
            with(&[O::GetChildren]),
            Response::GetChildren(GetChildrenResponse { children })
        )),
        (strings(), stat()).prop_map(move |(children, stat)| (
            with(&[O::GetChildren2]),
            Response::GetChildren2(GetChildren2Response { children, stat })
        )),
        string().prop_map(move |path| (with(&[O::Sync]), Response::Sync(SyncResponse { path }))),
        multi_response().prop_map(move |m| (with(&[O::Multi, O::MultiRead]), Response::Multi(m))),
        data().prop_map(move |token| (with(&[O::Sasl]), Response::Sasl(SetSaslResponse { token }))),
        strings().prop_map(move |ephemerals| (
            with(&[O::GetEphemerals]),
            Response::GetEphemerals(GetEphemeralsResponse { ephemerals })
        )),
        any::<i32>().prop_map(move |total_number| (
            with(&[O::GetAllChildrenNumber]),
            Response::GetAllChildrenNumber(GetAllChildrenNumberResponse { total_number })
        )),
        error_code().prop_map(move |err| (
            with(&[O::AddWatch]),
            Response::AddWatch(ErrorResponse { err })
        )),
        vec((string(), string()), 0..4).prop_map(move |infos| (
            with(&[O::WhoAmI]),
            Response::WhoAmI(WhoAmIResponse {
                client_info: infos
                    .into_iter()
                    .map(|(auth_scheme, user)| ClientInfo { auth_scheme, user })
                    .collect(),
            })
        )),
    ]
}

// ---------------------------------------------------------------------------------------------
// Round trips of every record.

proptest! {
    #[test]
    fn connect_records_round_trip(req in connect_request(), resp in connect_response()) {
        round_trip(&req)?;
        round_trip(&resp)?;
        // The optional byte is the only difference between a "new" and an "old" peer.
        let with = encode(&ConnectRequest { read_only: Some(false), ..req.clone() });
        let without = encode(&ConnectRequest { read_only: None, ..req });
        prop_assert_eq!(with.len(), without.len() + 1);
        prop_assert_eq!(&with[..without.len()], &without[..]);
    }

    #[test]
    fn headers_round_trip(rh in request_header(), ph in reply_header(), mh in (any::<i32>(), any::<bool>(), any::<i32>())) {
        round_trip(&rh)?;
        round_trip(&ph)?;
        prop_assert_eq!(encode(&rh).len(), 8);
        prop_assert_eq!(encode(&ph).len(), 16);
        round_trip(&MultiHeader { op_type: mh.0, done: mh.1, err: mh.2 })?;
    }

    #[test]
    fn stat_and_acl_round_trip(s in stat(), a in acl(), list in acls(), i in id()) {
        round_trip(&s)?;
        prop_assert_eq!(encode(&s).len(), Stat::ENCODED_LEN);
        round_trip(&a)?;
        round_trip(&list)?;
        round_trip(&i)?;
    }

    #[test]
    fn request_records_round_trip(
        c in create_request(),
        t in create_ttl_request(),
        d in delete_request(),
        s in set_data_request(),
        k in check_request(),
        g in get_data_request(),
        ch in get_children_request(),
        path in string(),
        flag in any::<bool>(),
        int in any::<i32>(),
        acl_list in acls(),
        wt in watcher_type(),
        auth in (any::<i32>(), string(), raw_bytes()),
        token in data(),
        reconfig in (option::of(string()), option::of(string()), option::of(string()), any::<i64>()),
    ) {
        round_trip(&c)?;
        round_trip(&t)?;
        round_trip(&d)?;
        round_trip(&s)?;
        round_trip(&k)?;
        round_trip(&g)?;
        round_trip(&ch)?;
        round_trip(&ExistsRequest { path: path.clone(), watch: flag })?;
        round_trip(&GetAclRequest { path: path.clone() })?;
        round_trip(&SetAclRequest { path: path.clone(), acl: acl_list, version: int })?;
        round_trip(&SyncRequest { path: path.clone() })?;
        round_trip(&CheckWatchesRequest { path: path.clone(), watcher_type: wt })?;
        round_trip(&RemoveWatchesRequest { path: path.clone(), watcher_type: wt })?;
        round_trip(&AddWatchRequest { path: path.clone(), mode: int })?;
        round_trip(&GetEphemeralsRequest { prefix_path: path.clone() })?;
        round_trip(&GetAllChildrenNumberRequest { path: path.clone() })?;
        round_trip(&AuthPacket { auth_type: auth.0, scheme: auth.1, auth: auth.2 })?;
        round_trip(&GetSaslRequest { token })?;
        round_trip(&ReconfigRequest {
            joining_servers: reconfig.0,
            leaving_servers: reconfig.1,
            new_members: reconfig.2,
            cur_config_id: reconfig.3,
        })?;
        round_trip(&DeleteContainerRequest { path: Bytes::from(path) })?;
    }

    #[test]
    fn response_records_round_trip(
        path in string(),
        st in stat(),
        c2 in create2_response(),
        gd in get_data_response(),
        acl_list in acls(),
        children in strings(),
        err in error_code(),
        n in any::<i32>(),
        token in data(),
        infos in vec((string(), string()), 0..4),
    ) {
        round_trip(&CreateResponse { path: path.clone() })?;
        round_trip(&c2)?;
        round_trip(&ExistsResponse { stat: st.clone() })?;
        round_trip(&gd)?;
        round_trip(&SetDataResponse { stat: st.clone() })?;
        round_trip(&GetAclResponse { acl: acl_list, stat: st.clone() })?;
        round_trip(&SetAclResponse { stat: st.clone() })?;
        round_trip(&GetChildrenResponse { children: children.clone() })?;
        round_trip(&GetChildren2Response { children: children.clone(), stat: st })?;
        round_trip(&SyncResponse { path })?;
        round_trip(&ErrorResponse { err })?;
        prop_assert_eq!(encode(&ErrorResponse { err }).len(), 4);
        round_trip(&GetEphemeralsResponse { ephemerals: children })?;
        round_trip(&GetAllChildrenNumberResponse { total_number: n })?;
        round_trip(&SetSaslResponse { token })?;
        let client_info: Vec<ClientInfo> = infos
            .into_iter()
            .map(|(auth_scheme, user)| ClientInfo { auth_scheme, user })
            .collect();
        round_trip(&WhoAmIResponse { client_info })?;
    }

    #[test]
    fn multi_round_trips(req in multi_request(), resp in multi_response()) {
        round_trip(&req)?;
        round_trip(&resp)?;
        // Both end with the {-1, true, -1} marker.
        let end = encode(&MultiHeader::END);
        prop_assert!(encode(&req).ends_with(&end));
        prop_assert!(encode(&resp).ends_with(&end));
        // Error results repeat their code in the header and the body.
        for (i, r) in resp.results.iter().enumerate() {
            if let OpResult::Error(code) = r {
                let single = encode(&MultiResponse { results: vec![r.clone()] });
                let c = i32::from(*code).to_be_bytes();
                prop_assert_eq!(&single[..5], &[0xff, 0xff, 0xff, 0xff, 0][..], "result {}", i);
                prop_assert_eq!(&single[5..9], &c[..]);
                prop_assert_eq!(&single[9..13], &c[..]);
            }
        }
    }

    #[test]
    fn watch_records_round_trip(w in set_watches(), w2 in set_watches2(), e in watcher_event()) {
        round_trip(&w)?;
        round_trip(&w2)?;
        round_trip(&e)?;
    }

    #[test]
    fn whole_requests_round_trip_by_opcode(r in request()) {
        round_trip_by_op(&r, r.op_code(), Request::decode)?;
        // And as a frame, with its header.
        let mut codec = FrameCodec::default();
        let mut wire = BytesMut::new();
        codec.encode((RequestHeader::new(7, r.op_code()), &r), &mut wire).unwrap();
        let payload = codec.decode(&mut wire).unwrap().unwrap();
        prop_assert!(wire.is_empty());
        let mut reader = JuteReader::new(payload);
        let h = RequestHeader::decode(&mut reader).unwrap();
        prop_assert_eq!(h, RequestHeader::new(7, r.op_code()));
        prop_assert_eq!(Request::decode(h.op, &mut reader).unwrap(), r);
        prop_assert!(reader.is_empty());
    }

    #[test]
    fn whole_responses_round_trip_by_opcode((ops, r) in response()) {
        for op in ops {
            round_trip_by_op(&r, op, Response::decode)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Null versus empty.

proptest! {
    #[test]
    fn null_and_empty_buffers_stay_distinct(path in string(), st in stat(), version in any::<i32>()) {
        let null = GetDataResponse { data: None, stat: st.clone() };
        let empty = GetDataResponse { data: Some(Bytes::new()), stat: st };
        prop_assert_ne!(encode(&null), encode(&empty));
        prop_assert_eq!(&encode(&null)[..4], &[0xff; 4][..]);
        prop_assert_eq!(&encode(&empty)[..4], &[0; 4][..]);
        round_trip(&null)?;
        round_trip(&empty)?;

        for data in [None, Some(Bytes::new())] {
            round_trip(&SetDataRequest { path: path.clone(), data: data.clone(), version })?;
            round_trip(&CreateRequest { path: path.clone(), data: data.clone(), acl: vec![], flags: 0 })?;
            round_trip(&SetSaslResponse { token: data.clone() })?;
            round_trip(&GetSaslRequest { token: data })?;
        }
        for s in [None, Some(String::new())] {
            round_trip(&ReconfigRequest {
                joining_servers: s.clone(),
                leaving_servers: s.clone(),
                new_members: s,
                cur_config_id: -1,
            })?;
        }
    }
}

#[test]
fn null_vectors_read_as_empty_and_null_required_strings_are_errors() {
    // GetChildrenResponse with a null vector.
    let mut r = JuteReader::new(Bytes::from_static(&[0xff; 4]));
    assert_eq!(
        GetChildrenResponse::decode(&mut r).unwrap(),
        GetChildrenResponse { children: vec![] }
    );
    // A null path.
    let mut r = JuteReader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 1]));
    assert_eq!(GetDataRequest::decode(&mut r), Err(DecodeError::NullString));
    // A null password reads as empty (and a ConnectRequest re-encodes it as empty).
    let mut wire = BytesMut::new();
    0i32.encode(&mut wire);
    0i64.encode(&mut wire);
    30_000i32.encode(&mut wire);
    0i64.encode(&mut wire);
    (-1i32).encode(&mut wire);
    let c = ConnectRequest::decode(&mut JuteReader::new(wire.freeze())).unwrap();
    assert!(c.passwd.is_empty());
    assert_eq!(c.read_only, None);
}

// ---------------------------------------------------------------------------------------------
// Framing.

proptest! {
    #[test]
    fn frames_split_anywhere_decode_to_the_same_payloads(
        payloads in vec(vec(any::<u8>(), 0..64), 0..8),
        cuts in vec(1usize..40, 0..40),
    ) {
        let mut stream = BytesMut::new();
        for p in &payloads {
            encode_frame(&Raw(p), &mut stream, 1 << 20).unwrap();
        }
        let stream = stream.freeze();
        prop_assert_eq!(stream.len(), payloads.iter().map(|p| p.len() + 4).sum::<usize>());

        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut pos = 0;
        let mut cut = cuts.iter().cycle();
        while pos < stream.len() {
            let n = if cuts.is_empty() { stream.len() } else { *cut.next().unwrap() };
            let end = (pos + n).min(stream.len());
            buf.extend_from_slice(&stream[pos..end]);
            pos = end;
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                got.push(frame.to_vec());
            }
        }
        prop_assert_eq!(got, payloads);
        prop_assert!(buf.is_empty());
        prop_assert!(codec.decode_eof(&mut buf).unwrap().is_none());
    }

    #[test]
    fn frame_lengths_above_the_limit_or_negative_are_errors(len in any::<i32>(), max in 0usize..4096) {
        let mut codec = FrameCodec::new(max);
        let mut buf = BytesMut::from(&len.to_be_bytes()[..]);
        match codec.decode(&mut buf) {
            Err(FrameError::NegativeLength(l)) => prop_assert!(l < 0 && l == len),
            Err(FrameError::TooLarge { len: l, max: m }) => {
                prop_assert_eq!(m, max);
                prop_assert!(l > max && l as i64 == len as i64);
            }
            Ok(None) => prop_assert!(len > 0 && len as usize <= max),
            Ok(Some(f)) => prop_assert!(len == 0 && f.is_empty()),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding arbitrary bytes never panics, and what decodes is a fixed point.

/// If `bytes` decode to a value, that value's encoding decodes to the same value.
fn decode_is_idempotent<T: Encode + PartialEq + Debug>(
    bytes: &Bytes,
    decode: impl Fn(&mut JuteReader) -> Result<T, DecodeError>,
) -> Result<(), TestCaseError> {
    if let Ok(value) = decode(&mut JuteReader::new(bytes.clone())) {
        let again = decode(&mut JuteReader::new(encode(&value)));
        prop_assert_eq!(again.as_ref(), Ok(&value));
    }
    Ok(())
}

fn fuzzish_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..200),
        // Mostly small big-endian integers, so that lengths and opcodes are often plausible.
        vec(
            prop_oneof![
                (-3i32..40).prop_map(|v| v.to_be_bytes().to_vec()),
                any::<u8>().prop_map(|b| vec![b]),
                Just(b"/a".to_vec()),
            ],
            0..40
        )
        .prop_map(|chunks| chunks.concat()),
    ]
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(raw in fuzzish_bytes()) {
        let bytes = Bytes::from(raw);
        for op in all_opcodes() {
            decode_is_idempotent(&bytes, |r| Request::decode(op, r))?;
            decode_is_idempotent(&bytes, |r| Response::decode(op, r))?;
        }
        decode_is_idempotent(&bytes, ConnectRequest::decode)?;
        decode_is_idempotent(&bytes, ConnectResponse::decode)?;
        decode_is_idempotent(&bytes, RequestHeader::decode)?;
        decode_is_idempotent(&bytes, ReplyHeader::decode)?;
        decode_is_idempotent(&bytes, MultiRequest::decode)?;
        decode_is_idempotent(&bytes, MultiResponse::decode)?;
        decode_is_idempotent(&bytes, WatcherEvent::decode)?;
        decode_is_idempotent(&bytes, SetWatches2::decode)?;
        decode_is_idempotent(&bytes, GetAclResponse::decode)?;

        // A whole stream through the frame codec, then each frame through every header and body.
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            let mut r = JuteReader::new(frame.clone());
            if let Ok(h) = RequestHeader::decode(&mut r) {
                let _ = Request::decode(h.op, &mut r);
            }
            let mut r = JuteReader::new(frame);
            if let Ok(h) = ReplyHeader::decode(&mut r) {
                let _ = Response::decode(OpCode::from(h.xid), &mut r);
            }
        }
    }

    #[test]
    fn truncating_a_valid_encoding_is_an_error_not_a_panic(r in request(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&r);
        if bytes.is_empty() {
            return Ok(());
        }
        let cut = cut.index(bytes.len());
        let result = Request::decode(r.op_code(), &mut JuteReader::new(bytes.slice(..cut)));
        // Only a body that can legitimately be empty or variable-length at its end may decode.
        if let Ok(decoded) = result {
            prop_assert!(
                matches!(decoded, Request::DeleteContainer(_)),
                "truncated {:?} decoded as {:?}", r.op_code(), decoded
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Paths and chroots.

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.-]{1,8}",
        vec(any::<char>(), 1..6).prop_map(|cs| cs.into_iter().collect::<String>()),
    ]
    .prop_filter("a valid segment", |s| {
        s != "." && s != ".." && !s.contains('/') && validate_path(&format!("/{s}")).is_ok()
    })
}

fn valid_path() -> impl Strategy<Value = String> {
    vec(segment(), 0..5).prop_map(|segs| {
        if segs.is_empty() {
            "/".to_owned()
        } else {
            segs.iter().map(|s| format!("/{s}")).collect()
        }
    })
}

fn valid_chroot() -> impl Strategy<Value = String> {
    vec(segment(), 1..4).prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect())
}

proptest! {
    #[test]
    fn generated_paths_are_valid(p in valid_path()) {
        prop_assert_eq!(validate_path(&p), Ok(()));
    }

    #[test]
    fn a_valid_path_under_a_valid_chroot_stays_valid_and_strips_back(p in valid_path(), root in valid_chroot()) {
        let chroot = parse_chroot(&root).unwrap();
        prop_assert_eq!(chroot.as_deref(), Some(root.as_str()));
        let joined = join_chroot(chroot.as_deref(), &p);
        prop_assert_eq!(validate_path(&joined), Ok(()));
        prop_assert!(joined.starts_with(&root));
        prop_assert_eq!(strip_chroot(chroot.as_deref(), &joined), Some(p.as_str()));
        // Without a chroot both are the identity.
        prop_assert_eq!(join_chroot(None, &p), p.clone());
        prop_assert_eq!(strip_chroot(None, &p), Some(p.as_str()));
    }

    #[test]
    fn paths_outside_the_chroot_do_not_strip(p in valid_path(), root in valid_chroot(), suffix in "[a-z]{1,3}") {
        // A sibling that merely shares the chroot as a string prefix is outside it.
        let sibling = format!("{root}{suffix}{}", if p == "/" { "" } else { &p });
        prop_assert_eq!(strip_chroot(Some(&root), &sibling), None);
    }

    #[test]
    fn parents_of_valid_paths_are_valid_prefixes(p in valid_path()) {
        match parent(&p) {
            None => prop_assert_eq!(p.as_str(), "/"),
            Some(q) => {
                prop_assert_eq!(validate_path(q), Ok(()));
                prop_assert!(p.starts_with(q) && p.len() > q.len());
                let name = &p[q.len()..].trim_start_matches('/');
                prop_assert!(!name.is_empty() && !name.contains('/'));
            }
        }
    }

    #[test]
    fn validation_of_any_string_is_total_and_sound(s in any::<String>(), t in "[/a.]{0,8}") {
        for candidate in [s, t] {
            if validate_path(&candidate).is_ok() {
                prop_assert!(candidate.starts_with('/'));
                prop_assert!(candidate == "/" || !candidate.ends_with('/'));
                prop_assert!(!candidate.contains("//"));
                prop_assert!(candidate[1..].split('/').all(|seg| seg != "." && seg != ".."));
                prop_assert!(!candidate.chars().any(|c| (c as u32) < 0x20));
            }
        }
    }

    /// Java's rule: a sequential path is valid exactly when `path + "1"` is.
    #[test]
    fn sequential_validation_matches_java(t in prop_oneof!["[/a.\u{1}]{0,8}", any::<String>()]) {
        prop_assert_eq!(
            validate_sequential_path(&t).is_ok(),
            validate_path(&format!("{t}1")).is_ok(),
            "{:?}", t
        );
    }
}

#[test]
fn sequential_paths_take_the_suffix_on_their_last_segment() {
    // Java: validatePath(path + "1"). "/t/." becomes "/t/.0000000001", a valid name.
    for ok in ["/", "/t/", "/t/.", "/t/..", "/.", "/t/x-"] {
        assert_eq!(validate_sequential_path(ok), Ok(()), "{ok:?}");
    }
    for bad in ["", "t", "/t//", "/./", "/../x", "/t/./x", "//"] {
        assert!(validate_sequential_path(bad).is_err(), "{bad:?}");
    }
}

proptest! {
    /// kazoo sends `auth` ACL entries with a null id; it reads as empty (and only the id may be
    /// null: a null scheme is an error).
    #[test]
    fn a_null_acl_id_reads_as_empty(scheme in string(), perms in any::<i32>()) {
        let mut wire = BytesMut::new();
        perms.encode(&mut wire);
        scheme.encode(&mut wire);
        (-1i32).encode(&mut wire);
        let acl = Acl::decode(&mut JuteReader::new(wire.freeze())).unwrap();
        prop_assert_eq!(acl, Acl::new(Perms::from_bits(perms), Id { scheme, id: String::new() }));

        let mut wire = BytesMut::new();
        perms.encode(&mut wire);
        (-1i32).encode(&mut wire);
        (-1i32).encode(&mut wire);
        prop_assert_eq!(
            Acl::decode(&mut JuteReader::new(wire.freeze())),
            Err(DecodeError::NullString)
        );
    }
}
