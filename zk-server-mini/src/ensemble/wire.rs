//! The peer protocol on the wire: a fixed-size hello ([`Hello`]), then
//! length-prefixed frames, each one [`Message`]. Decoding checks every length against the
//! bytes present, so garbage is an error, never a panic or an unbounded allocation.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::zab::{Entry, Message, PeerId, Snapshot, SyncMode, Vote};

mod hello;

pub use hello::{HELLO_LEN, Hello, MAGIC};

/// Largest frame accepted (a sync's entries; a SNAP's state goes in chunks of
/// [`SNAP_CHUNK`] bytes, never in one frame).
///
/// ```
/// use zk_server_mini::ensemble::wire::MAX_FRAME;
/// assert_eq!(MAX_FRAME, 512 << 20);
/// ```
pub const MAX_FRAME: usize = 512 << 20;

/// Bytes of a SNAP's state per frame: a larger state is sent as chunk frames, then the sync
/// message itself ([`encode_frames`]).
///
/// ```
/// use zk_server_mini::ensemble::wire::{MAX_FRAME, SNAP_CHUNK};
/// assert!(SNAP_CHUNK < MAX_FRAME);
/// ```
pub const SNAP_CHUNK: usize = 1 << 20;

/// Type byte of a SNAP chunk frame: zxid, total length, offset, then the bytes. Far from
/// the message type bytes (1, 2, ...), so a new message kind cannot take it.
const CHUNK_TYPE: u8 = 0xF0;
/// Sync mode byte of a SNAP whose state came in chunk frames just before it.
const CHUNKED_SNAP: u8 = 3;
/// Most state bytes reserved up front for a chunked SNAP (a larger one grows as it comes).
const MAX_RESERVE: u64 = 256 << 20;

/// Why bytes from a peer were refused.
///
/// ```
/// use zk_server_mini::ensemble::identity::EnsembleIdentity;
/// use zk_server_mini::ensemble::wire::{Hello, WireError};
/// let hello = Hello { ensemble: 0xabc, provisional: false, from: 2, client_port: 2181, quorum_port: 2888 };
/// let ours = EnsembleIdentity::Bound(0xdef);
/// assert_eq!(ours.accepts(&hello, 1), Err(WireError::OtherEnsemble { ours: 0xdef, theirs: 0xabc }));
/// assert_eq!(EnsembleIdentity::Bound(0xabc).accepts(&hello, 2), Err(WireError::NotAMember(2)));
/// assert_eq!(Hello::decode(&[0; 29]), Err(WireError::BadMagic));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not our protocol.
    #[error("bad magic: not a zk-server-mini peer")]
    BadMagic,
    /// A peer of another ensemble.
    #[error("peer belongs to ensemble {theirs:#x}, this is {ours:#x}")]
    OtherEnsemble {
        /// This ensemble's id.
        ours: u64,
        /// The peer's.
        theirs: u64,
    },
    /// A sender that is not a member (or claims to be this member).
    #[error("peer id {0} is not another member of this ensemble")]
    NotAMember(PeerId),
    /// A frame that does not decode.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
}

fn put_entries(out: &mut BytesMut, entries: &[Entry]) {
    out.put_u32(entries.len() as u32);
    for e in entries {
        out.put_i64(e.zxid);
        out.put_u32(e.payload.len() as u32);
        out.put_slice(&e.payload);
    }
}

/// Encodes a message as one frame body (without the length prefix).
///
/// ```
/// use zk_server_mini::ensemble::wire::{decode, encode};
/// use zk_server_mini::zab::Message;
/// let m = Message::Commit { epoch: 1, zxid: 5 };
/// assert_eq!(decode(encode(&m)), Ok(m));
/// ```
pub fn encode(m: &Message) -> Bytes {
    let mut o = BytesMut::with_capacity(64);
    match m {
        Message::Vote {
            round,
            vote,
            settled,
            applied_change,
        } => {
            o.put_u8(1);
            o.put_u64(*round);
            o.put_u32(vote.current_epoch);
            o.put_i64(vote.last_zxid);
            o.put_u64(vote.id);
            o.put_u8(u8::from(settled.is_some()));
            o.put_u64(settled.unwrap_or(0));
            o.put_i64(*applied_change);
        }
        Message::FollowerInfo { accepted_epoch } => {
            o.put_u8(2);
            o.put_u32(*accepted_epoch);
        }
        Message::LeaderInfo { epoch } => {
            o.put_u8(3);
            o.put_u32(*epoch);
        }
        Message::AckEpoch {
            epoch,
            fresh,
            current_epoch,
            last_zxid,
        } => {
            o.put_u8(4);
            o.put_u32(*epoch);
            o.put_u8(u8::from(*fresh));
            o.put_u32(*current_epoch);
            o.put_i64(*last_zxid);
        }
        Message::RejectEpoch {
            epoch,
            accepted_epoch,
        } => {
            o.put_u8(5);
            o.put_u32(*epoch);
            o.put_u32(*accepted_epoch);
        }
        Message::Sync {
            epoch,
            follower_last,
            mode,
            entries,
            committed,
        } => {
            o.put_u8(6);
            o.put_u32(*epoch);
            o.put_i64(*follower_last);
            match mode {
                SyncMode::Diff => o.put_u8(0),
                SyncMode::Trunc(z) => {
                    o.put_u8(1);
                    o.put_i64(*z);
                }
                SyncMode::Snap(s) if s.data.len() > SNAP_CHUNK => {
                    // Its state went ahead in chunk frames (see `encode_frames`).
                    o.put_u8(CHUNKED_SNAP);
                    o.put_i64(s.zxid);
                    o.put_u64(s.data.len() as u64);
                }
                SyncMode::Snap(s) => {
                    o.put_u8(2);
                    o.put_i64(s.zxid);
                    o.put_u32(s.data.len() as u32);
                    o.put_slice(&s.data);
                }
            }
            put_entries(&mut o, entries);
            o.put_i64(*committed);
        }
        Message::AckNewLeader { epoch, zxid } => {
            o.put_u8(7);
            o.put_u32(*epoch);
            o.put_i64(*zxid);
        }
        Message::UpToDate { epoch, committed } => {
            o.put_u8(8);
            o.put_u32(*epoch);
            o.put_i64(*committed);
        }
        Message::Proposal { epoch, entry } => {
            o.put_u8(9);
            o.put_u32(*epoch);
            put_entries(&mut o, std::slice::from_ref(entry));
        }
        Message::Ack { epoch, zxid } => {
            o.put_u8(10);
            o.put_u32(*epoch);
            o.put_i64(*zxid);
        }
        Message::Commit { epoch, zxid } => {
            o.put_u8(11);
            o.put_u32(*epoch);
            o.put_i64(*zxid);
        }
        Message::Ping {
            epoch,
            committed,
            last,
            round,
        } => {
            o.put_u8(12);
            o.put_u32(*epoch);
            o.put_i64(*committed);
            o.put_i64(*last);
            o.put_u64(*round);
        }
        Message::PingAck {
            epoch,
            round,
            acked,
            touches,
        } => {
            o.put_u8(13);
            o.put_u32(*epoch);
            o.put_u64(*round);
            o.put_i64(*acked);
            o.put_u32(touches.len() as u32);
            for t in touches {
                o.put_i64(*t);
            }
        }
        Message::Forward { payload } => {
            o.put_u8(14);
            o.put_u32(payload.len() as u32);
            o.put_slice(payload);
        }
        Message::ReadIndex { id } => {
            o.put_u8(15);
            o.put_u64(*id);
        }
        Message::ReadIndexReply { epoch, id, zxid } => {
            o.put_u8(16);
            o.put_u32(*epoch);
            o.put_u64(*id);
            o.put_i64(*zxid);
        }
        Message::Inform { epoch, entry } => {
            o.put_u8(17);
            o.put_u32(*epoch);
            put_entries(&mut o, std::slice::from_ref(entry));
        }
        Message::Membership { version, members } => {
            o.put_u8(18);
            o.put_i64(*version);
            for ids in [&members.voters, &members.observers] {
                o.put_u32(ids.len() as u32);
                for id in ids {
                    o.put_u64(*id);
                }
            }
        }
    }
    o.freeze()
}

/// A checked reader over a frame body.
struct Reader(Bytes);

impl Reader {
    fn need(&self, n: usize) -> Result<(), WireError> {
        if self.0.remaining() < n {
            Err(WireError::Malformed("truncated"))
        } else {
            Ok(())
        }
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        self.need(1)?;
        Ok(self.0.get_u8())
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        self.need(4)?;
        Ok(self.0.get_u32())
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        self.need(8)?;
        Ok(self.0.get_u64())
    }
    fn i64(&mut self) -> Result<i64, WireError> {
        self.need(8)?;
        Ok(self.0.get_i64())
    }
    fn bytes(&mut self) -> Result<Bytes, WireError> {
        let n = self.u32()? as usize;
        self.need(n)?;
        Ok(self.0.split_to(n))
    }
    fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Malformed("bad flag")),
        }
    }
    /// A count of items of at least `min` bytes each, checked against what is left.
    fn count(&mut self, min: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.0.remaining() {
            return Err(WireError::Malformed("count beyond the frame"));
        }
        Ok(n)
    }
    /// Member ids (a count, then that many u64s).
    fn ids(&mut self) -> Result<Vec<u64>, WireError> {
        let n = self.count(8)?;
        (0..n).map(|_| self.u64()).collect()
    }
    fn entries(&mut self) -> Result<Vec<Entry>, WireError> {
        let n = self.count(12)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let zxid = self.i64()?;
            let payload = self.bytes()?;
            out.push(Entry { zxid, payload });
        }
        Ok(out)
    }
}

/// Decodes one frame body.
///
/// # Errors
/// [`WireError::Malformed`] for anything that is not exactly one message.
///
/// ```
/// use zk_server_mini::ensemble::wire::decode;
/// assert!(decode(bytes::Bytes::from_static(b"\xff garbage")).is_err());
/// ```
pub fn decode(body: Bytes) -> Result<Message, WireError> {
    let mut r = Reader(body);
    let m = match r.u8()? {
        1 => {
            let round = r.u64()?;
            let vote = Vote {
                current_epoch: r.u32()?,
                last_zxid: r.i64()?,
                id: r.u64()?,
            };
            let has = r.bool()?;
            let leader = r.u64()?;
            Message::Vote {
                round,
                vote,
                settled: has.then_some(leader),
                applied_change: r.i64()?,
            }
        }
        2 => Message::FollowerInfo {
            accepted_epoch: r.u32()?,
        },
        3 => Message::LeaderInfo { epoch: r.u32()? },
        4 => Message::AckEpoch {
            epoch: r.u32()?,
            fresh: r.bool()?,
            current_epoch: r.u32()?,
            last_zxid: r.i64()?,
        },
        5 => Message::RejectEpoch {
            epoch: r.u32()?,
            accepted_epoch: r.u32()?,
        },
        6 => {
            let epoch = r.u32()?;
            let follower_last = r.i64()?;
            let mode = match r.u8()? {
                0 => SyncMode::Diff,
                1 => SyncMode::Trunc(r.i64()?),
                2 => SyncMode::Snap(Snapshot {
                    zxid: r.i64()?,
                    data: r.bytes()?,
                }),
                CHUNKED_SNAP => {
                    let zxid = r.i64()?;
                    let total = r.u64()?;
                    if total <= SNAP_CHUNK as u64 {
                        return Err(WireError::Malformed("a small SNAP sent in chunks"));
                    }
                    // The state is filled in from the chunks by `decode_frame`.
                    SyncMode::Snap(Snapshot::of_applied(zxid))
                }
                _ => return Err(WireError::Malformed("bad sync mode")),
            };
            let entries = r.entries()?;
            Message::Sync {
                epoch,
                follower_last,
                mode,
                entries,
                committed: r.i64()?,
            }
        }
        7 => Message::AckNewLeader {
            epoch: r.u32()?,
            zxid: r.i64()?,
        },
        8 => Message::UpToDate {
            epoch: r.u32()?,
            committed: r.i64()?,
        },
        9 => {
            let epoch = r.u32()?;
            let mut entries = r.entries()?;
            if entries.len() != 1 {
                return Err(WireError::Malformed("a proposal holds one entry"));
            }
            let Some(entry) = entries.pop() else {
                return Err(WireError::Malformed("a proposal holds one entry"));
            };
            Message::Proposal { epoch, entry }
        }
        10 => Message::Ack {
            epoch: r.u32()?,
            zxid: r.i64()?,
        },
        11 => Message::Commit {
            epoch: r.u32()?,
            zxid: r.i64()?,
        },
        12 => Message::Ping {
            epoch: r.u32()?,
            committed: r.i64()?,
            last: r.i64()?,
            round: r.u64()?,
        },
        13 => {
            let epoch = r.u32()?;
            let round = r.u64()?;
            let acked = r.i64()?;
            let n = r.count(8)?;
            let mut touches = Vec::with_capacity(n);
            for _ in 0..n {
                touches.push(r.i64()?);
            }
            Message::PingAck {
                epoch,
                round,
                acked,
                touches,
            }
        }
        14 => Message::Forward {
            payload: r.bytes()?,
        },
        15 => Message::ReadIndex { id: r.u64()? },
        16 => Message::ReadIndexReply {
            epoch: r.u32()?,
            id: r.u64()?,
            zxid: r.i64()?,
        },
        17 => {
            let epoch = r.u32()?;
            let mut entries = r.entries()?;
            let (Some(entry), true) = (entries.pop(), entries.is_empty()) else {
                return Err(WireError::Malformed("an inform holds one entry"));
            };
            Message::Inform { epoch, entry }
        }
        18 => {
            let version = r.i64()?;
            let voters = r.ids()?;
            let observers = r.ids()?;
            Message::Membership {
                version,
                members: crate::zab::Members {
                    voters: voters.into_iter().collect(),
                    observers: observers.into_iter().collect(),
                },
            }
        }
        _ => return Err(WireError::Malformed("unknown message type")),
    };
    if r.0.has_remaining() {
        return Err(WireError::Malformed("trailing bytes"));
    }
    Ok(m)
}

/// The frames that carry `m`, in order, each as (head, body) to be sent as one frame of
/// `head.len() + body.len()` bytes: one frame, except for a SNAP whose state is larger than
/// [`SNAP_CHUNK`], which goes as chunk frames whose bodies are slices of the state (no copy)
/// followed by the sync message. [`decode_frame`] puts them back together.
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::ensemble::wire::{SNAP_CHUNK, SnapAssembly, decode_frame, encode_frames};
/// use zk_server_mini::zab::{Message, Snapshot, SyncMode};
/// let state = Bytes::from(vec![7u8; 3 * SNAP_CHUNK + 5]);
/// let m = Message::Sync {
///     epoch: 2,
///     follower_last: 0,
///     mode: SyncMode::Snap(Snapshot { zxid: 9, data: state }),
///     entries: vec![],
///     committed: 9,
/// };
/// let frames = encode_frames(&m);
/// assert_eq!(frames.len(), 5); // four chunks, then the sync
/// assert!(frames.iter().all(|(h, b)| h.len() + b.len() <= SNAP_CHUNK + 64));
/// let mut asm = SnapAssembly::default();
/// let mut got = None;
/// for (h, b) in frames {
///     got = decode_frame([h, b].concat().into(), &mut asm)?;
/// }
/// assert_eq!(got, Some(m));
/// # Ok::<(), zk_server_mini::ensemble::wire::WireError>(())
/// ```
pub fn encode_frames(m: &Message) -> Vec<(Bytes, Bytes)> {
    let Message::Sync {
        mode: SyncMode::Snap(s),
        ..
    } = m
    else {
        return vec![(encode(m), Bytes::new())];
    };
    if s.data.len() <= SNAP_CHUNK {
        return vec![(encode(m), Bytes::new())];
    }
    let total = s.data.len();
    let mut out = Vec::with_capacity(total / SNAP_CHUNK + 2);
    let mut offset = 0;
    while offset < total {
        let end = (offset + SNAP_CHUNK).min(total);
        let mut head = BytesMut::with_capacity(25);
        head.put_u8(CHUNK_TYPE);
        head.put_i64(s.zxid);
        head.put_u64(total as u64);
        head.put_u64(offset as u64);
        out.push((head.freeze(), s.data.slice(offset..end)));
        offset = end;
    }
    out.push((encode(m), Bytes::new()));
    out
}

/// A SNAP's state being put back together from its chunk frames, per connection.
///
/// ```
/// use zk_server_mini::ensemble::wire::SnapAssembly;
/// let asm = SnapAssembly::default(); // one per peer connection, before its first frame
/// # let _ = asm;
/// ```
#[derive(Debug, Default)]
pub struct SnapAssembly {
    zxid: i64,
    total: u64,
    data: BytesMut,
}

/// Decodes one frame body received on a connection: a message, or `None` for a SNAP chunk
/// (kept in `asm` until the sync message that ends it).
///
/// # Errors
/// [`WireError::Malformed`] for a frame that does not decode, a chunk out of order, or a
/// chunked SNAP whose chunks did not all arrive.
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::ensemble::wire::{SnapAssembly, decode_frame, encode};
/// use zk_server_mini::zab::Message;
/// let m = Message::Commit { epoch: 1, zxid: 5 };
/// assert_eq!(decode_frame(encode(&m), &mut SnapAssembly::default()), Ok(Some(m)));
/// ```
pub fn decode_frame(body: Bytes, asm: &mut SnapAssembly) -> Result<Option<Message>, WireError> {
    if body.first() == Some(&CHUNK_TYPE) {
        let mut r = Reader(body.slice(1..));
        let zxid = r.i64()?;
        let total = r.u64()?;
        let offset = r.u64()?;
        let chunk = r.0;
        if offset == 0 {
            *asm = SnapAssembly {
                zxid,
                total,
                data: BytesMut::with_capacity(total.min(MAX_RESERVE) as usize),
            };
        }
        if asm.zxid != zxid
            || asm.total != total
            || asm.data.len() as u64 != offset
            || offset + chunk.len() as u64 > total
        {
            *asm = SnapAssembly::default();
            return Err(WireError::Malformed("SNAP chunk out of order"));
        }
        asm.data.extend_from_slice(&chunk);
        return Ok(None);
    }
    let mut m = decode(body)?;
    if let Message::Sync {
        mode: SyncMode::Snap(s),
        ..
    } = &mut m
        && s.needs_data()
    {
        let done = std::mem::take(asm);
        if done.zxid != s.zxid || done.total == 0 || done.data.len() as u64 != done.total {
            return Err(WireError::Malformed("chunked SNAP incomplete"));
        }
        s.data = done.data.freeze();
    }
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips_and_every_truncation_is_an_error() {
        let e = Entry {
            zxid: 0x1_0000_0001,
            payload: Bytes::from_static(b"payload"),
        };
        let all = vec![
            Message::Vote {
                round: 3,
                vote: Vote {
                    current_epoch: 1,
                    last_zxid: 9,
                    id: 2,
                },
                settled: Some(1),
                applied_change: 0x1_0000_0007,
            },
            Message::FollowerInfo { accepted_epoch: 4 },
            Message::LeaderInfo { epoch: 5 },
            Message::AckEpoch {
                epoch: 5,
                fresh: true,
                current_epoch: 4,
                last_zxid: 7,
            },
            Message::RejectEpoch {
                epoch: 5,
                accepted_epoch: 6,
            },
            Message::Sync {
                epoch: 5,
                follower_last: 4,
                mode: SyncMode::Snap(Snapshot {
                    zxid: 3,
                    data: Bytes::from_static(b"tree"),
                }),
                entries: vec![e.clone()],
                committed: 3,
            },
            Message::Sync {
                epoch: 5,
                follower_last: 6,
                mode: SyncMode::Trunc(2),
                entries: vec![],
                committed: 2,
            },
            Message::AckNewLeader { epoch: 5, zxid: 8 },
            Message::UpToDate {
                epoch: 5,
                committed: 8,
            },
            Message::Inform {
                epoch: 5,
                entry: e.clone(),
            },
            Message::Proposal { epoch: 5, entry: e },
            Message::Ack { epoch: 5, zxid: 9 },
            Message::Commit { epoch: 5, zxid: 9 },
            Message::Ping {
                epoch: 5,
                committed: 9,
                last: 10,
                round: 1,
            },
            Message::PingAck {
                epoch: 5,
                round: 1,
                acked: 9,
                touches: vec![1, 2],
            },
            Message::Forward {
                payload: Bytes::from_static(b"w"),
            },
            Message::ReadIndex { id: 4 },
            Message::ReadIndexReply {
                epoch: 5,
                id: 4,
                zxid: 9,
            },
            Message::Membership {
                version: 0x1_0000_0007,
                members: crate::zab::Members::new([1, 2, 4], [5]),
            },
        ];
        for m in all {
            let bytes = encode(&m);
            assert_eq!(decode(bytes.clone()), Ok(m.clone()));
            // As a frame on a connection, too: no message is taken for a SNAP chunk.
            assert_eq!(
                decode_frame(bytes.clone(), &mut SnapAssembly::default()),
                Ok(Some(m.clone()))
            );
            for cut in 0..bytes.len() {
                assert!(decode(bytes.slice(..cut)).is_err(), "{m:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn a_huge_count_is_refused_before_allocating() {
        let mut b = BytesMut::new();
        b.put_u8(13);
        b.put_u32(1);
        b.put_u64(1);
        b.put_u32(u32::MAX);
        assert!(decode(b.freeze()).is_err());
    }

    #[test]
    fn a_chunked_snap_with_a_missing_or_reordered_chunk_is_refused() {
        let state = Bytes::from(vec![3u8; 2 * SNAP_CHUNK + 1]);
        let m = Message::Sync {
            epoch: 1,
            follower_last: 0,
            mode: SyncMode::Snap(Snapshot {
                zxid: 7,
                data: state,
            }),
            entries: vec![],
            committed: 7,
        };
        let frames: Vec<Bytes> = encode_frames(&m)
            .into_iter()
            .map(|(h, b)| [h, b].concat().into())
            .collect();
        assert_eq!(frames.len(), 4);
        assert!(frames.iter().all(|f| f.len() <= SNAP_CHUNK + 64));
        // A chunk lost: the sync that ends it does not decode.
        let mut asm = SnapAssembly::default();
        assert_eq!(decode_frame(frames[0].clone(), &mut asm), Ok(None));
        assert_eq!(decode_frame(frames[1].clone(), &mut asm), Ok(None));
        assert!(decode_frame(frames[3].clone(), &mut asm).is_err());
        // Out of order.
        let mut asm = SnapAssembly::default();
        assert_eq!(decode_frame(frames[0].clone(), &mut asm), Ok(None));
        assert!(decode_frame(frames[2].clone(), &mut asm).is_err());
        // The sync alone, without its chunks.
        assert!(decode_frame(frames[3].clone(), &mut SnapAssembly::default()).is_err());
        // All of them, in order: the message back.
        let mut asm = SnapAssembly::default();
        let got: Vec<Option<Message>> = frames
            .iter()
            .map(|f| decode_frame(f.clone(), &mut asm).unwrap_or(None))
            .collect();
        assert_eq!(got.last(), Some(&Some(m)));
    }
}
