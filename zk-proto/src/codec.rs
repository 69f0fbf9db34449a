//! Length-prefixed framing: a `tokio_util::codec` decoder and encoder.
//!
//! Every message is an `int32` length followed by that many bytes. The decoder yields the payload
//! of each frame; the length is checked against a limit *before* any room is reserved for it, so a
//! peer cannot make us allocate by claiming a huge frame.
//!
//! ```
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//! use zk_proto::codec::{FrameCodec, FrameError};
//! use zk_proto::RequestHeader;
//!
//! let mut codec = FrameCodec::default();
//! let mut wire = BytesMut::new();
//! codec.encode(RequestHeader::ping(), &mut wire)?;
//! assert_eq!(&wire[..], b"\x00\x00\x00\x08\xff\xff\xff\xfe\x00\x00\x00\x0b");
//!
//! let payload = codec.decode(&mut wire)?.expect("a whole frame");
//! assert_eq!(payload.len(), 8);
//!
//! let mut hostile = BytesMut::from(&b"\x7f\xff\xff\xff"[..]);
//! assert!(matches!(codec.decode(&mut hostile), Err(FrameError::TooLarge { .. })));
//! # Ok::<(), FrameError>(())
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::jute::Encode;

/// ZooKeeper's default `jute.maxbuffer`: 0xfffff bytes.
///
/// ```
/// use zk_proto::codec::{FrameCodec, DEFAULT_MAX_FRAME_LEN};
///
/// assert_eq!(DEFAULT_MAX_FRAME_LEN, 1_048_575);
/// assert_eq!(FrameCodec::default().max_frame_len(), DEFAULT_MAX_FRAME_LEN);
/// ```
pub const DEFAULT_MAX_FRAME_LEN: usize = 0xfffff;

/// Why a frame could not be read or written.
///
/// ```
/// use bytes::BytesMut;
/// use tokio_util::codec::Decoder;
/// use zk_proto::codec::{FrameCodec, FrameError};
///
/// let mut codec = FrameCodec::new(16);
/// let mut negative = BytesMut::from(&b"\xff\xff\xff\xfe"[..]);
/// assert!(matches!(codec.decode(&mut negative), Err(FrameError::NegativeLength(-2))));
/// let mut large = BytesMut::from(&b"\x00\x00\x01\x00"[..]);
/// let err = codec.decode(&mut large).unwrap_err();
/// assert_eq!(err.to_string(), "frame of 256 bytes exceeds the limit of 16 bytes");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length field was negative.
    #[error("negative frame length {0}")]
    NegativeLength(i32),
    /// The frame is longer than the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The underlying I/O failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Splits a byte stream into frame payloads and writes [`Encode`] values as frames.
///
/// ```
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
/// use zk_proto::codec::FrameCodec;
///
/// let mut codec = FrameCodec::default();
/// let mut wire = BytesMut::new();
/// codec.encode(7i32, &mut wire)?; // 4-byte length, then the payload
/// assert_eq!(&wire[..], &[0, 0, 0, 4, 0, 0, 0, 7]);
///
/// // Decoding waits for a whole frame.
/// let mut partial = BytesMut::from(&wire[..6]);
/// assert_eq!(codec.decode(&mut partial)?, None);
/// let frame = codec.decode(&mut wire)?.expect("a whole frame");
/// assert_eq!(&frame[..], &[0, 0, 0, 7]);
/// # Ok::<(), zk_proto::codec::FrameError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame_len: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameCodec {
    /// A codec that refuses frames longer than `max_frame_len` bytes in either direction.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Encoder;
    /// use zk_proto::codec::{FrameCodec, FrameError};
    ///
    /// let mut codec = FrameCodec::new(4);
    /// let mut out = BytesMut::new();
    /// assert!(codec.encode(1i32, &mut out).is_ok());
    /// assert!(matches!(codec.encode(1i64, &mut out), Err(FrameError::TooLarge { len: 8, max: 4 })));
    /// ```
    pub fn new(max_frame_len: usize) -> Self {
        Self { max_frame_len }
    }

    /// The configured limit.
    ///
    /// ```
    /// assert_eq!(zk_proto::codec::FrameCodec::new(1024).max_frame_len(), 1024);
    /// ```
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(header) = src.get(..4) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let len = usize::try_from(len).map_err(|_| FrameError::NegativeLength(len))?;
        if len > self.max_frame_len {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        if src.len() < 4 + len {
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(src.split_to(len).freeze()))
    }
}

impl<T: Encode> Encoder<T> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_frame(&item, dst, self.max_frame_len)
    }
}

/// Appends `item` to `dst` as one frame, or leaves `dst` as it was and fails if the payload would
/// be longer than `max_frame_len`.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// zk_proto::codec::encode_frame(&5i32, &mut out, 16)?;
/// assert_eq!(&out[..], &[0, 0, 0, 4, 0, 0, 0, 5]);
/// # Ok::<(), zk_proto::codec::FrameError>(())
/// ```
pub fn encode_frame<T: Encode + ?Sized>(
    item: &T,
    dst: &mut BytesMut,
    max_frame_len: usize,
) -> Result<(), FrameError> {
    let start = dst.len();
    dst.put_i32(0);
    item.encode(dst);
    let len = dst.len() - start - 4;
    match i32::try_from(len) {
        Ok(len32) if len <= max_frame_len => {
            dst[start..start + 4].copy_from_slice(&len32.to_be_bytes());
            Ok(())
        }
        _ => {
            dst.truncate(start);
            Err(FrameError::TooLarge {
                len,
                max: max_frame_len,
            })
        }
    }
}

/// The four-letter words ZooKeeper answers on its client port (PROTOCOL.md §9).
///
/// ```
/// use zk_proto::codec::FOUR_LETTER_WORDS;
///
/// assert!(FOUR_LETTER_WORDS.contains(&"ruok"));
/// assert!(FOUR_LETTER_WORDS.iter().all(|w| w.len() == 4));
/// ```
pub const FOUR_LETTER_WORDS: &[&str] = &[
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro", "mntr", "ruok", "srst",
    "srvr", "stat", "stmk", "wchc", "wchp", "wchs",
];

/// If the first four bytes of a new connection are a known four-letter word, that word.
///
/// ```
/// assert_eq!(zk_proto::codec::four_letter_word(*b"ruok"), Some("ruok"));
/// assert_eq!(zk_proto::codec::four_letter_word([0, 0, 0, 45]), None);
/// ```
pub fn four_letter_word(first: [u8; 4]) -> Option<&'static str> {
    let word = std::str::from_utf8(&first).ok()?;
    FOUR_LETTER_WORDS.iter().copied().find(|w| *w == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x03ab"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.put_u8(b'c');
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"abc");
        assert!(buf.is_empty());
    }

    #[test]
    fn negative_and_oversized_lengths_are_typed_errors() {
        let mut codec = FrameCodec::new(10);
        let mut neg = BytesMut::from(&b"\xff\xff\xff\xff"[..]);
        assert!(matches!(
            codec.decode(&mut neg),
            Err(FrameError::NegativeLength(-1))
        ));
        let mut big = BytesMut::from(&b"\x00\x00\x00\x0b"[..]);
        assert!(matches!(
            codec.decode(&mut big),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        ));
        // Nothing was reserved for the claimed length.
        assert!(big.capacity() < 11);
    }

    #[test]
    fn the_limit_is_inclusive_and_oversized_encodes_leave_the_buffer_untouched() {
        let mut out = BytesMut::from(&b"xy"[..]);
        encode_frame(&Bytes::from_static(&[0; 6]), &mut out, 10).unwrap();
        assert_eq!(out.len(), 2 + 4 + 10);
        let before = out.clone();
        assert!(encode_frame(&Bytes::from_static(&[0; 7]), &mut out, 10).is_err());
        assert_eq!(out, before);
    }
}
