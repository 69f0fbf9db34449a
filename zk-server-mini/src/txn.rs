//! Transactions: the unit the write path logs, replicates and applies, with a stable binary
//! encoding (jute primitives from `zk-proto`, one type tag per variant).

use bytes::{Bytes, BytesMut};
use zk_proto::ErrorCode;
use zk_proto::acl::Acl;
use zk_proto::jute::{Decode, DecodeError, Encode, JuteReader};

/// Who made a transaction, when, and its place in the total order.
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::txn::{Txn, TxnHeader, decode_entry, encode_entry};
/// let header = TxnHeader { session_id: 0x42, cxid: 3, zxid: 17, time: 1_700_000_000_000 };
/// let payload = encode_entry(&header, &Txn::Delete { path: "/a".into() });
/// assert_eq!(decode_entry(payload)?.0, header);
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnHeader {
    /// The session that issued the request (0 for server-internal transactions).
    pub session_id: i64,
    /// The request's xid.
    pub cxid: i32,
    /// The transaction's zxid.
    pub zxid: i64,
    /// Wall-clock time (ms) chosen when the transaction was built.
    pub time: i64,
}

/// A state change, fully decided: applying it never needs to check anything.
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::txn::{Txn, TxnHeader, decode_entry, encode_entry};
/// let header = TxnHeader { session_id: 0x42, cxid: 3, zxid: 17, time: 1_700_000_000_000 };
/// let txn = Txn::Multi(vec![
///     Txn::Check { path: "/a".into() },
///     Txn::SetData { path: "/a".into(), data: Some(Bytes::from_static(b"v")), version: 2 },
/// ]);
/// assert_eq!(decode_entry(encode_entry(&header, &txn))?.1, txn);
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txn {
    /// Open a session.
    CreateSession {
        /// Negotiated timeout (ms).
        timeout_ms: i32,
        /// The session password.
        passwd: Bytes,
    },
    /// Close the header's session and delete these ephemerals.
    CloseSession {
        /// Ephemeral paths to delete, in order.
        paths: Vec<String>,
    },
    /// Create a node.
    Create {
        /// Final path (sequence suffix included).
        path: String,
        /// Data.
        data: Option<Bytes>,
        /// ACL (already expanded).
        acl: Vec<Acl>,
        /// Stored owner (session, container or TTL marker, or 0).
        ephemeral_owner: i64,
        /// The parent's new create counter.
        parent_counter: i32,
    },
    /// Delete a node.
    Delete {
        /// Path.
        path: String,
    },
    /// Replace a node's data.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: Option<Bytes>,
        /// New version.
        version: i32,
    },
    /// Replace a node's ACL.
    SetAcl {
        /// Path.
        path: String,
        /// New ACL.
        acl: Vec<Acl>,
        /// New ACL version.
        aversion: i32,
    },
    /// A version check inside a multi (changes nothing).
    Check {
        /// Path.
        path: String,
    },
    /// Several transactions applied atomically.
    Multi(Vec<Txn>),
    /// A committed `reconfig`: `/zookeeper/config` gets this text (ZooKeeper's reconfig
    /// transaction type, 16). Its own type, so that the membership changes only through
    /// `reconfig` (see [`is_reconfig_entry`]).
    Reconfig {
        /// The new configuration text.
        data: Bytes,
    },
    /// A failed write: consumes a zxid, changes nothing.
    Error(ErrorCode),
}

const T_CREATE_SESSION: i32 = -10;
const T_CLOSE_SESSION: i32 = -11;
const T_CREATE: i32 = 1;
const T_DELETE: i32 = 2;
const T_SET_DATA: i32 = 5;
const T_SET_ACL: i32 = 7;
const T_CHECK: i32 = 13;
const T_MULTI: i32 = 14;
const T_RECONFIG: i32 = 16;
const T_ERROR: i32 = -1;

impl Encode for TxnHeader {
    fn encode(&self, out: &mut BytesMut) {
        self.session_id.encode(out);
        self.cxid.encode(out);
        self.zxid.encode(out);
        self.time.encode(out);
    }
}

impl Decode for TxnHeader {
    fn decode(r: &mut JuteReader) -> Result<Self, DecodeError> {
        Ok(Self {
            session_id: r.read_i64()?,
            cxid: r.read_i32()?,
            zxid: r.read_i64()?,
            time: r.read_i64()?,
        })
    }
}

impl Encode for Txn {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Txn::CreateSession { timeout_ms, passwd } => {
                T_CREATE_SESSION.encode(out);
                timeout_ms.encode(out);
                passwd.encode(out);
            }
            Txn::CloseSession { paths } => {
                T_CLOSE_SESSION.encode(out);
                paths.encode(out);
            }
            Txn::Create {
                path,
                data,
                acl,
                ephemeral_owner,
                parent_counter,
            } => {
                T_CREATE.encode(out);
                path.encode(out);
                data.encode(out);
                acl.encode(out);
                ephemeral_owner.encode(out);
                parent_counter.encode(out);
            }
            Txn::Delete { path } => {
                T_DELETE.encode(out);
                path.encode(out);
            }
            Txn::SetData {
                path,
                data,
                version,
            } => {
                T_SET_DATA.encode(out);
                path.encode(out);
                data.encode(out);
                version.encode(out);
            }
            Txn::Reconfig { data } => {
                T_RECONFIG.encode(out);
                data.encode(out);
            }
            Txn::SetAcl {
                path,
                acl,
                aversion,
            } => {
                T_SET_ACL.encode(out);
                path.encode(out);
                acl.encode(out);
                aversion.encode(out);
            }
            Txn::Check { path } => {
                T_CHECK.encode(out);
                path.encode(out);
            }
            Txn::Multi(txns) => {
                T_MULTI.encode(out);
                txns.encode(out);
            }
            Txn::Error(code) => {
                T_ERROR.encode(out);
                code.encode(out);
            }
        }
    }
}

impl Decode for Txn {
    fn decode(r: &mut JuteReader) -> Result<Self, DecodeError> {
        decode_txn(r, true)
    }
}

/// Decodes one transaction; a multi may not contain another multi, so a forged record of
/// nested multis cannot recurse deep enough to overflow the stack.
fn decode_txn(r: &mut JuteReader, allow_multi: bool) -> Result<Txn, DecodeError> {
    {
        let tag = r.read_i32()?;
        Ok(match tag {
            T_CREATE_SESSION => Txn::CreateSession {
                timeout_ms: r.read_i32()?,
                passwd: Bytes::decode(r)?,
            },
            T_CLOSE_SESSION => Txn::CloseSession {
                paths: r.read_vec()?,
            },
            T_CREATE => Txn::Create {
                path: r.read_string()?,
                data: r.read_buffer()?,
                acl: r.read_vec()?,
                ephemeral_owner: r.read_i64()?,
                parent_counter: r.read_i32()?,
            },
            T_DELETE => Txn::Delete {
                path: r.read_string()?,
            },
            T_SET_DATA => Txn::SetData {
                path: r.read_string()?,
                data: r.read_buffer()?,
                version: r.read_i32()?,
            },
            T_SET_ACL => Txn::SetAcl {
                path: r.read_string()?,
                acl: r.read_vec()?,
                aversion: r.read_i32()?,
            },
            T_CHECK => Txn::Check {
                path: r.read_string()?,
            },
            T_RECONFIG if allow_multi => Txn::Reconfig {
                data: Bytes::decode(r)?,
            },
            T_MULTI if allow_multi => {
                let len = r.read_vec_len()?.unwrap_or(0);
                let mut txns = Vec::with_capacity(len.min(1024));
                for _ in 0..len {
                    txns.push(decode_txn(r, false)?);
                }
                Txn::Multi(txns)
            }
            T_ERROR => Txn::Error(ErrorCode::decode(r)?),
            other => {
                return Err(DecodeError::InvalidValue {
                    field: "Txn type",
                    value: other.into(),
                });
            }
        })
    }
}

/// Encodes a header and a transaction as one log payload.
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::txn::{Txn, TxnHeader, decode_entry, encode_entry};
/// let header = TxnHeader { session_id: 0x42, cxid: 3, zxid: 17, time: 1_700_000_000_000 };
/// let payload = encode_entry(&header, &Txn::CloseSession { paths: vec!["/lock".into()] });
/// // the payload of one log record / one Zab proposal
/// assert!(!payload.is_empty());
/// ```
pub fn encode_entry(header: &TxnHeader, txn: &Txn) -> Bytes {
    let mut out = BytesMut::new();
    header.encode(&mut out);
    txn.encode(&mut out);
    out.freeze()
}

/// Whether a log payload is a committed `reconfig` ([`Txn::Reconfig`]), read from its type
/// field alone (the header is fixed-size).
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::txn::{Txn, TxnHeader, encode_entry, is_reconfig_entry};
/// let h = TxnHeader { session_id: 1, cxid: 1, zxid: 9, time: 0 };
/// let text = Bytes::from_static(b"server.1=h:1:2:participant\nversion=9");
/// assert!(is_reconfig_entry(&encode_entry(&h, &Txn::Reconfig { data: text })));
/// assert!(!is_reconfig_entry(&encode_entry(&h, &Txn::Delete { path: "/a".into() })));
/// ```
pub fn is_reconfig_entry(payload: &[u8]) -> bool {
    // session id, cxid, zxid, time: 8 + 4 + 8 + 8 bytes, then the type.
    payload.get(28..32) == Some(&T_RECONFIG.to_be_bytes()[..])
}

/// Decodes a log payload; trailing bytes are an error.
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::txn::{Txn, TxnHeader, decode_entry, encode_entry};
/// let header = TxnHeader { session_id: 0x42, cxid: 3, zxid: 17, time: 1_700_000_000_000 };
/// let mut payload = encode_entry(&header, &Txn::Delete { path: "/a".into() }).to_vec();
/// let (h, txn) = decode_entry(Bytes::from(payload.clone()))?;
/// assert_eq!((h, txn), (header, Txn::Delete { path: "/a".into() }));
/// payload.push(0); // trailing garbage
/// assert!(decode_entry(Bytes::from(payload)).is_err());
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
pub fn decode_entry(payload: Bytes) -> Result<(TxnHeader, Txn), DecodeError> {
    let mut r = JuteReader::new(payload);
    let header = TxnHeader::decode(&mut r)?;
    let txn = Txn::decode(&mut r)?;
    if !r.is_empty() {
        return Err(DecodeError::InvalidValue {
            field: "trailing bytes after Txn",
            value: r.remaining() as i64,
        });
    }
    Ok((header, txn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips() {
        let header = TxnHeader {
            session_id: 7,
            cxid: 3,
            zxid: 0x1_0000_0005,
            time: 1234,
        };
        let txns = vec![
            Txn::CreateSession {
                timeout_ms: 4000,
                passwd: Bytes::from_static(&[1; 16]),
            },
            Txn::CloseSession {
                paths: vec!["/a".into(), "/b".into()],
            },
            Txn::Create {
                path: "/x".into(),
                data: None,
                acl: Acl::open_unsafe(),
                ephemeral_owner: i64::MIN,
                parent_counter: 3,
            },
            Txn::Delete { path: "/x".into() },
            Txn::SetData {
                path: "/x".into(),
                data: Some(Bytes::from_static(b"hi")),
                version: 2,
            },
            Txn::SetAcl {
                path: "/x".into(),
                acl: vec![],
                aversion: 1,
            },
            Txn::Check { path: "/x".into() },
            Txn::Multi(vec![
                Txn::Delete { path: "/y".into() },
                Txn::Error(ErrorCode::Ok),
            ]),
            Txn::Error(ErrorCode::NodeExists),
        ];
        for txn in txns {
            let bytes = encode_entry(&header, &txn);
            assert_eq!(decode_entry(bytes), Ok((header, txn)));
        }
    }

    #[test]
    fn nested_multis_are_rejected_not_recursed() {
        let header = TxnHeader {
            session_id: 1,
            cxid: 1,
            zxid: 1,
            time: 0,
        };
        let nested = Txn::Multi(vec![Txn::Multi(vec![Txn::Check { path: "/a".into() }])]);
        assert!(decode_entry(encode_entry(&header, &nested)).is_err());
        // A forged record of a million nested multis is an error, not a stack overflow.
        let mut out = BytesMut::new();
        header.encode(&mut out);
        for _ in 0..1_000_000 {
            T_MULTI.encode(&mut out);
            1i32.encode(&mut out);
        }
        assert!(decode_entry(out.freeze()).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = decode_entry(Bytes::from(junk));
        }
    }
}
