//! Writes of clients connected to a follower, as the leader receives them. A follower does
//! not prepare writes: it hands the leader what prep needs (the session, the request's xid
//! and body, the caller's authenticated ids; for a new session its id, timeout and password)
//! and the leader prepares it exactly as its own client's request, under that session.
//!
//! Every forwarded request becomes exactly one transaction whose header names the session
//! and the request's xid, even when it fails (an error transaction, as ZooKeeper proposes
//! one): the follower answers its clients as those transactions are applied, matching them
//! by session and xid, so a failed write is answered in order with the session's others.

use bytes::{Buf, BufMut};
use zk_proto::jute::{Decode, JuteReader, write_buffer};

use super::*;

/// What a follower forwards (the payload of [`crate::zab::Input::Forward`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Forward {
    /// A client asked for a new session; the follower chose its id and password.
    CreateSession {
        session: i64,
        timeout_ms: i32,
        passwd: Bytes,
    },
    /// A write (closeSession included) of `session`; `body` is `None` when it did not
    /// decode at the follower (it still gets a zxid, as in 3.8).
    Request {
        session: i64,
        xid: i32,
        op: OpCode,
        ids: Vec<Id>,
        body: Option<Request>,
    },
}

const CREATE_SESSION: u8 = 1;
const REQUEST: u8 = 2;

impl Forward {
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            Forward::CreateSession {
                session,
                timeout_ms,
                passwd,
            } => {
                out.put_u8(CREATE_SESSION);
                out.put_i64(*session);
                out.put_i32(*timeout_ms);
                write_buffer(&mut out, Some(passwd));
            }
            Forward::Request {
                session,
                xid,
                op,
                ids,
                body,
            } => {
                out.put_u8(REQUEST);
                out.put_i64(*session);
                out.put_i32(*xid);
                out.put_i32(i32::from(*op));
                ids.encode(&mut out);
                match body {
                    Some(r) => {
                        let mut b = BytesMut::new();
                        r.encode(&mut b);
                        write_buffer(&mut out, Some(&b));
                    }
                    None => write_buffer(&mut out, None),
                }
            }
        }
        out.freeze()
    }

    pub(crate) fn decode(mut payload: Bytes) -> Result<Self, DecodeError> {
        if payload.is_empty() {
            return Err(DecodeError::UnexpectedEof {
                needed: 1,
                remaining: 0,
            });
        }
        let tag = payload.get_u8();
        let mut r = JuteReader::new(payload);
        match tag {
            CREATE_SESSION => Ok(Forward::CreateSession {
                session: r.read_i64()?,
                timeout_ms: r.read_i32()?,
                passwd: r.read_buffer()?.unwrap_or_default(),
            }),
            REQUEST => {
                let session = r.read_i64()?;
                let xid = r.read_i32()?;
                let op = OpCode::from(r.read_i32()?);
                let ids = Vec::<Id>::decode(&mut r)?;
                let body = match r.read_buffer()? {
                    Some(b) => Request::decode(op, &mut JuteReader::new(b)).ok(),
                    None => None,
                };
                Ok(Forward::Request {
                    session,
                    xid,
                    op,
                    ids,
                    body,
                })
            }
            other => Err(DecodeError::UnknownOpCode(i32::from(other))),
        }
    }
}

impl StateMachine {
    /// At the leader: prepares and proposes a write a follower forwarded, exactly as its own
    /// client's (under the remote session and its ids). Returns false when the payload does
    /// not decode (nothing is proposed).
    pub(crate) fn forwarded(&mut self, payload: Bytes, now_ms: u64, wall_ms: i64) -> bool {
        let forward = match Forward::decode(payload) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("a forwarded write does not decode ({e}); dropped");
                return false;
            }
        };
        match forward {
            Forward::CreateSession {
                session,
                timeout_ms,
                passwd,
            } => {
                let taken = session == 0
                    || session == i64::MIN
                    || self.replica.tree.sessions.contains_key(&session)
                    || self.proposer.sessions.contains(session);
                let txn = if taken {
                    tracing::warn!(session, "a follower's new session id is in use");
                    Txn::Error(ErrorCode::SessionMoved)
                } else {
                    let timeout = self.clamp_timeout(timeout_ms);
                    self.proposer
                        .sessions
                        .add(session, timeout.max(0) as u64, now_ms);
                    Txn::CreateSession {
                        timeout_ms: timeout,
                        passwd,
                    }
                };
                self.propose(session, 0, wall_ms, txn, Origin::Forwarded);
            }
            Forward::Request {
                session,
                xid,
                op,
                ids,
                body,
            } => {
                let txn = if !self.proposer.sessions.touch(session, now_ms) {
                    Txn::Error(ErrorCode::SessionExpired)
                } else {
                    match body {
                        None => {
                            tracing::debug!(session, xid, ?op, "undecodable forwarded write");
                            Txn::Error(ErrorCode::MarshallingError)
                        }
                        Some(Request::CloseSession) => {
                            self.proposer.sessions.remove(session);
                            self.prep().close_session(session)
                        }
                        Some(request) => {
                            let caller = Caller {
                                session_id: session,
                                ids: &ids,
                            };
                            self.prep().write(&caller, &request)
                        }
                    }
                };
                self.propose(session, xid, wall_ms, txn, Origin::Forwarded);
            }
        }
        true
    }

    /// At the leader: a follower's client of `session` was active (a touch batched into a
    /// ping answer).
    pub(crate) fn touch_remote(&mut self, session: i64, now_ms: u64) {
        self.proposer.sessions.touch(session, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let create = Forward::CreateSession {
            session: 0x0200_0000_0000_0001,
            timeout_ms: 6000,
            passwd: Bytes::from_static(b"0123456789abcdef"),
        };
        assert_eq!(Forward::decode(create.encode()), Ok(create));
        let write = Forward::Request {
            session: 7,
            xid: 3,
            op: OpCode::Delete,
            ids: vec![Id::new("ip", "127.0.0.1"), Id::new("digest", "u:x")],
            body: Some(Request::Delete(DeleteRequest {
                path: "/a".into(),
                version: -1,
            })),
        };
        assert_eq!(Forward::decode(write.encode()), Ok(write));
        let bad = Forward::Request {
            session: 7,
            xid: 4,
            op: OpCode::SetData,
            ids: Vec::new(),
            body: None,
        };
        assert_eq!(Forward::decode(bad.encode()), Ok(bad));
        assert!(Forward::decode(Bytes::from_static(&[9, 1])).is_err());
        assert!(Forward::decode(Bytes::new()).is_err());
    }

    /// A session opened at a follower lives at the leader while the follower reports it
    /// touched, and expires there once it does not.
    #[test]
    fn the_leader_expires_a_followers_session_only_when_its_touches_stop() {
        let config = CoreConfig {
            tick_ms: 100,
            min_session_timeout_ms: 200,
            ..CoreConfig::default()
        };
        let mut leader = StateMachine::new(DataTree::new(), config, 0, 0);
        let session = 0x0200_0000_0000_0001;
        let open = Forward::CreateSession {
            session,
            timeout_ms: 1000,
            passwd: Bytes::from_static(b"0123456789abcdef"),
        };
        assert!(leader.forwarded(open.encode(), 0, 0));
        leader.commit();
        assert_eq!(leader.session_ids(), [session]);
        for now in (500..5000).step_by(500) {
            leader.touch_remote(session, now);
            leader.tick(now, 0, false);
            assert!(
                leader.proposals().is_empty(),
                "expired at {now} though touched"
            );
        }
        leader.tick(6500, 0, false);
        assert!(matches!(
            leader.proposals(),
            [Proposal {
                txn: Txn::CloseSession { .. },
                ..
            }]
        ));
        leader.commit();
        assert!(leader.session_ids().is_empty());
        // A write forwarded for it now is an error transaction, still answered in order.
        let late = Forward::Request {
            session,
            xid: 9,
            op: OpCode::Delete,
            ids: Vec::new(),
            body: Some(Request::Delete(DeleteRequest {
                path: "/x".into(),
                version: -1,
            })),
        };
        assert!(leader.forwarded(late.encode(), 7000, 0));
        let p = &leader.proposals()[0];
        assert_eq!((p.header.session_id, p.header.cxid), (session, 9));
        assert!(matches!(p.txn, Txn::Error(ErrorCode::SessionExpired)));
    }
}
