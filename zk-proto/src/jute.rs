//! Jute, ZooKeeper's binary record encoding.
//!
//! Integers are big-endian. A `buffer` or `ustring` is an `int32` byte length followed by the bytes,
//! and a length of `-1` means *null*, which is a different value from empty. A `vector<T>` is an
//! `int32` element count followed by the elements, with `-1` again meaning null. Records are their
//! fields in declaration order with no tags or padding.
//!
//! [`JuteReader`] reads these primitives from a received frame without copying byte buffers, and
//! checks every length against the bytes that are really there before it allocates anything.
//! [`Encode`] and [`Decode`] are implemented by every record in this crate.
//!
//! ```
//! use bytes::BytesMut;
//! use zk_proto::jute::{Decode, Encode, JuteReader};
//! use zk_proto::GetDataRequest;
//!
//! let request = GetDataRequest { path: "/app".into(), watch: true };
//! let mut out = BytesMut::new();
//! request.encode(&mut out);
//! assert_eq!(&out[..], b"\x00\x00\x00\x04/app\x01");
//!
//! let mut reader = JuteReader::new(out.freeze());
//! assert_eq!(GetDataRequest::decode(&mut reader)?, request);
//! # Ok::<(), zk_proto::DecodeError>(())
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Why a sequence of bytes is not a valid record.
///
/// Every decoding function in this crate returns this instead of panicking, whatever the input.
///
/// ```
/// use zk_proto::jute::JuteReader;
/// use zk_proto::DecodeError;
///
/// let mut reader = JuteReader::new(bytes::Bytes::from_static(&[0, 0]));
/// assert!(matches!(reader.read_i32(), Err(DecodeError::UnexpectedEof { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before a field was complete.
    #[error("unexpected end of input: needed {needed} more bytes, {remaining} left")]
    UnexpectedEof {
        /// Bytes the field needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A buffer, string or vector length was below -1.
    #[error("invalid length {0}: lengths must be -1 (null) or non-negative")]
    InvalidLength(i32),
    /// A string that must not be null (a path, a scheme) was encoded as null (-1).
    #[error("a required string field was null")]
    NullString,
    /// A frame's opcode is not one this crate knows how to decode in that position.
    #[error("unknown or unexpected opcode {0}")]
    UnknownOpCode(i32),
    /// A field held a value outside the set the protocol allows.
    #[error("invalid value {value} for {field}")]
    InvalidValue {
        /// The field or type that was being decoded.
        field: &'static str,
        /// The value that was read.
        value: i64,
    },
}

/// A type that can be written in jute's binary encoding.
///
/// ```
/// use bytes::BytesMut;
/// use zk_proto::jute::Encode;
///
/// let mut out = BytesMut::new();
/// 7i32.encode(&mut out);
/// assert_eq!(&out[..], &[0, 0, 0, 7]);
/// ```
pub trait Encode {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut BytesMut);
}

/// A type that can be read from jute's binary encoding.
///
/// ```
/// use zk_proto::jute::{Decode, JuteReader};
///
/// let mut reader = JuteReader::new(bytes::Bytes::from_static(&[0, 0, 0, 7]));
/// assert_eq!(i32::decode(&mut reader)?, 7);
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
pub trait Decode: Sized {
    /// Reads one value from `reader`.
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError>;
}

/// A cursor over a received frame that reads jute primitives.
///
/// Byte buffers are returned as slices of the frame ([`Bytes`]), so reading data does not copy it.
///
/// ```
/// use zk_proto::jute::JuteReader;
///
/// let mut reader = JuteReader::new(bytes::Bytes::from_static(b"\xff\xff\xff\xff\x00\x00\x00\x00"));
/// assert_eq!(reader.read_buffer()?, None); // length -1: null
/// assert_eq!(reader.read_buffer()?.as_deref(), Some(&b""[..])); // length 0: empty
/// assert!(reader.is_empty());
/// # Ok::<(), zk_proto::DecodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct JuteReader {
    buf: Bytes,
}

impl JuteReader {
    /// Starts reading at the beginning of `buf`.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(&[0, 0, 0, 42]));
    /// assert_eq!(reader.read_i32()?, 42);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn new(buf: Bytes) -> Self {
        Self { buf }
    }

    /// Bytes not read yet.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(&[0, 0, 0, 1, 9, 9]));
    /// assert_eq!(reader.remaining(), 6);
    /// reader.read_i32()?;
    /// assert_eq!(reader.remaining(), 2);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn remaining(&self) -> usize {
        self.buf.remaining()
    }

    /// Whether every byte has been read.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(&[1]));
    /// assert!(!reader.is_empty());
    /// assert!(reader.read_bool()?);
    /// assert!(reader.is_empty());
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes the unread bytes, leaving the reader empty.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(&[0, 0, 0, 5, b'h', b'i']));
    /// assert_eq!(reader.read_i32()?, 5);
    /// assert_eq!(&reader.take_rest()[..], b"hi");
    /// assert!(reader.is_empty());
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn take_rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    fn need(&self, needed: usize) -> Result<(), DecodeError> {
        let remaining = self.buf.remaining();
        if remaining < needed {
            Err(DecodeError::UnexpectedEof { needed, remaining })
        } else {
            Ok(())
        }
    }

    /// Reads a big-endian `int`.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    /// use zk_proto::DecodeError;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe, 0]));
    /// assert_eq!(reader.read_i32()?, -2);
    /// assert_eq!(
    ///     reader.read_i32(),
    ///     Err(DecodeError::UnexpectedEof { needed: 4, remaining: 1 })
    /// );
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    /// Reads a big-endian `long`.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(&[0, 0, 0, 1, 0, 0, 0, 2]));
    /// assert_eq!(reader.read_i64()?, (1 << 32) + 2);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }

    /// Reads a `boolean`. Like the Java reader, any non-zero byte is `true`.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(&[0, 1, 7]));
    /// assert!(!reader.read_bool()?);
    /// assert!(reader.read_bool()?);
    /// assert!(reader.read_bool()?); // any non-zero byte
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_u8() != 0)
    }

    /// Reads an optional trailing `boolean`: `None` when the input has already ended.
    ///
    /// ZooKeeper's ConnectRequest and ConnectResponse end with a read-only flag that old peers omit.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(&[1]));
    /// assert_eq!(reader.read_trailing_bool()?, Some(true));
    /// assert_eq!(reader.read_trailing_bool()?, None); // an old peer omitted it
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn read_trailing_bool(&mut self) -> Result<Option<bool>, DecodeError> {
        if self.is_empty() {
            Ok(None)
        } else {
            self.read_bool().map(Some)
        }
    }

    /// Reads a length field: `None` for -1 (null), an error for anything lower or for a length that
    /// claims more than `unit_size * len` bytes than are left (so nothing is allocated for a lie).
    fn read_len(&mut self, unit_size: usize) -> Result<Option<usize>, DecodeError> {
        let len = self.read_i32()?;
        match len {
            -1 => Ok(None),
            l if l < -1 => Err(DecodeError::InvalidLength(l)),
            l => {
                let len = l as usize;
                self.need(len.saturating_mul(unit_size))?;
                Ok(Some(len))
            }
        }
    }

    /// Reads a `buffer`: `None` when it was encoded as null.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    /// use zk_proto::DecodeError;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(b"\x00\x00\x00\x03abc\xff\xff\xff\xff"));
    /// assert_eq!(reader.read_buffer()?.as_deref(), Some(&b"abc"[..]));
    /// assert_eq!(reader.read_buffer()?, None); // -1: null
    ///
    /// // A length that claims more bytes than there are is rejected before allocating.
    /// let mut lie = JuteReader::new(bytes::Bytes::from_static(b"\x7f\xff\xff\xffabc"));
    /// assert!(matches!(lie.read_buffer(), Err(DecodeError::UnexpectedEof { .. })));
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn read_buffer(&mut self) -> Result<Option<Bytes>, DecodeError> {
        Ok(self.read_len(1)?.map(|len| self.buf.split_to(len)))
    }

    /// Reads a `ustring`: `None` when it was encoded as null.
    ///
    /// Java encodes characters outside the Basic Multilingual Plane as CESU-8 (two 3-byte
    /// surrogates); those are decoded to the right characters. Other invalid UTF-8 is replaced with
    /// U+FFFD rather than rejected, as ZooKeeper's own clients do.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    ///
    /// // U+1F600 as Java writes it: two CESU-8 surrogates.
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(
    ///     b"\x00\x00\x00\x06\xed\xa0\xbd\xed\xb8\x80\xff\xff\xff\xff",
    /// ));
    /// assert_eq!(reader.read_ustring()?.as_deref(), Some("\u{1F600}"));
    /// assert_eq!(reader.read_ustring()?, None);
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn read_ustring(&mut self) -> Result<Option<String>, DecodeError> {
        Ok(self.read_buffer()?.map(|raw| decode_java_utf8(&raw)))
    }

    /// Reads a `ustring` that must not be null.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    /// use zk_proto::DecodeError;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(b"\x00\x00\x00\x02/a\xff\xff\xff\xff"));
    /// assert_eq!(reader.read_string()?, "/a");
    /// assert_eq!(reader.read_string(), Err(DecodeError::NullString));
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        self.read_ustring()?.ok_or(DecodeError::NullString)
    }

    /// Reads a `vector<T>` count: `None` when it was encoded as null.
    ///
    /// Every element takes at least one byte, so a count larger than the bytes left is rejected
    /// before the caller allocates room for it.
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    /// use zk_proto::DecodeError;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]));
    /// assert_eq!(reader.read_vec_len()?, None);
    ///
    /// // A count of 1000 elements with 0 bytes left is rejected.
    /// let mut lie = JuteReader::new(bytes::Bytes::from_static(&[0, 0, 0x03, 0xe8]));
    /// assert!(matches!(lie.read_vec_len(), Err(DecodeError::UnexpectedEof { .. })));
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn read_vec_len(&mut self) -> Result<Option<usize>, DecodeError> {
        self.read_len(1)
    }

    /// Reads a `vector<T>`, with null read as empty (ZooKeeper's own readers do the same).
    ///
    /// ```
    /// use zk_proto::jute::JuteReader;
    ///
    /// let mut reader = JuteReader::new(bytes::Bytes::from_static(
    ///     b"\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x01b\xff\xff\xff\xff",
    /// ));
    /// assert_eq!(reader.read_vec::<String>()?, ["a", "b"]);
    /// assert_eq!(reader.read_vec::<String>()?, Vec::<String>::new()); // null reads as empty
    /// # Ok::<(), zk_proto::DecodeError>(())
    /// ```
    pub fn read_vec<T: Decode>(&mut self) -> Result<Vec<T>, DecodeError> {
        let Some(len) = self.read_vec_len()? else {
            return Ok(Vec::new());
        };
        // `len` is bounded by the bytes left, but an element can be many times larger in memory
        // than its smallest encoding (an `Acl` is 56 bytes, at least 12 on the wire), so reserve
        // at most `MAX_PREALLOC_BYTES` up front; the vector grows as elements really decode.
        let cap = len.min(MAX_PREALLOC_BYTES / std::mem::size_of::<T>().max(1));
        let mut items = Vec::with_capacity(cap);
        for _ in 0..len {
            items.push(T::decode(self)?);
        }
        Ok(items)
    }
}

/// The most [`JuteReader::read_vec`] reserves before the elements have been read.
const MAX_PREALLOC_BYTES: usize = 64 * 1024;

/// Decodes Java's "modified" UTF-8 leniently; see [`JuteReader::read_ustring`].
fn decode_java_utf8(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => decode_cesu8(raw).unwrap_or_else(|| String::from_utf8_lossy(raw).into_owned()),
    }
}

/// Decodes CESU-8: UTF-8 in which supplementary characters are written as two 3-byte surrogates.
fn decode_cesu8(raw: &[u8]) -> Option<String> {
    let mut units: Vec<u16> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b0 = raw[i];
        let cont = |k: usize| {
            raw.get(i + k)
                .filter(|b| *b & 0xC0 == 0x80)
                .map(|b| (b & 0x3F) as u32)
        };
        let (code, width) = match b0 {
            0x00..=0x7F => (b0 as u32, 1),
            0xC0..=0xDF => (((b0 & 0x1F) as u32) << 6 | cont(1)?, 2),
            0xE0..=0xEF => (((b0 & 0x0F) as u32) << 12 | cont(1)? << 6 | cont(2)?, 3),
            _ => return None,
        };
        units.push(u16::try_from(code).ok()?);
        i += width;
    }
    String::from_utf16(&units).ok()
}

/// Writes a `buffer`, or null (-1) for `None`.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// zk_proto::jute::write_buffer(&mut out, None);
/// assert_eq!(&out[..], &[0xff, 0xff, 0xff, 0xff]);
/// ```
pub fn write_buffer(out: &mut BytesMut, value: Option<&[u8]>) {
    match value {
        None => out.put_i32(-1),
        Some(bytes) => {
            out.put_i32(len_i32(bytes.len()));
            out.put_slice(bytes);
        }
    }
}

/// Writes a `ustring`, or null (-1) for `None`.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// zk_proto::jute::write_ustring(&mut out, Some("/a"));
/// assert_eq!(&out[..], b"\x00\x00\x00\x02/a");
/// ```
pub fn write_ustring(out: &mut BytesMut, value: Option<&str>) {
    write_buffer(out, value.map(str::as_bytes));
}

/// Writes a `vector<T>`.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// zk_proto::jute::write_vec(&mut out, &[1i32, 2]);
/// assert_eq!(&out[..], &[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
/// ```
pub fn write_vec<T: Encode>(out: &mut BytesMut, items: &[T]) {
    out.put_i32(len_i32(items.len()));
    for item in items {
        item.encode(out);
    }
}

/// Lengths beyond `i32::MAX` cannot be framed at all; encoders never see them because frames are
/// limited far below that, so saturating keeps this total without a panic path.
fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

impl Encode for i32 {
    fn encode(&self, out: &mut BytesMut) {
        out.put_i32(*self);
    }
}
impl Decode for i32 {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        reader.read_i32()
    }
}
impl Encode for i64 {
    fn encode(&self, out: &mut BytesMut) {
        out.put_i64(*self);
    }
}
impl Decode for i64 {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        reader.read_i64()
    }
}
impl Encode for bool {
    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(u8::from(*self));
    }
}
impl Decode for bool {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        reader.read_bool()
    }
}
/// A non-null `ustring`.
impl Encode for String {
    fn encode(&self, out: &mut BytesMut) {
        write_ustring(out, Some(self));
    }
}
impl Decode for String {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        reader.read_string()
    }
}
/// A nullable `ustring`.
impl Encode for Option<String> {
    fn encode(&self, out: &mut BytesMut) {
        write_ustring(out, self.as_deref());
    }
}
impl Decode for Option<String> {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        reader.read_ustring()
    }
}
/// A nullable `buffer`.
impl Encode for Option<Bytes> {
    fn encode(&self, out: &mut BytesMut) {
        write_buffer(out, self.as_deref());
    }
}
impl Decode for Option<Bytes> {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        reader.read_buffer()
    }
}
/// A `buffer` whose null encoding is read as empty (passwords and auth tokens).
impl Encode for Bytes {
    fn encode(&self, out: &mut BytesMut) {
        write_buffer(out, Some(self));
    }
}
impl Decode for Bytes {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        Ok(reader.read_buffer()?.unwrap_or_default())
    }
}
impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, out: &mut BytesMut) {
        write_vec(out, self);
    }
}
impl<T: Decode> Decode for Vec<T> {
    fn decode(reader: &mut JuteReader) -> Result<Self, DecodeError> {
        reader.read_vec()
    }
}
impl<A: Encode, B: Encode> Encode for (A, B) {
    fn encode(&self, out: &mut BytesMut) {
        self.0.encode(out);
        self.1.encode(out);
    }
}
impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, out: &mut BytesMut) {
        (**self).encode(out);
    }
}

/// Declares a jute record: a struct whose fields are encoded in declaration order.
macro_rules! jute_record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty ),*
        }
        impl $crate::jute::Encode for $name {
            #[allow(unused_variables)]
            fn encode(&self, out: &mut bytes::BytesMut) {
                $( $crate::jute::Encode::encode(&self.$field, out); )*
            }
        }
        impl $crate::jute::Decode for $name {
            #[allow(unused_variables)]
            fn decode(reader: &mut $crate::jute::JuteReader) -> Result<Self, $crate::jute::DecodeError> {
                Ok(Self { $( $field: $crate::jute::Decode::decode(reader)? ),* })
            }
        }
    };
}
pub(crate) use jute_record;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_are_distinct_for_buffers_strings_and_vectors() {
        let mut reader = JuteReader::new(Bytes::from_static(
            b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00",
        ));
        assert_eq!(reader.read_buffer().unwrap(), None);
        assert_eq!(reader.read_buffer().unwrap(), Some(Bytes::new()));
        assert_eq!(reader.read_ustring().unwrap(), None);
        assert_eq!(reader.read_ustring().unwrap(), Some(String::new()));
        assert_eq!(reader.read_vec_len().unwrap(), None);
        assert_eq!(reader.read_vec_len().unwrap(), Some(0));
        assert!(reader.is_empty());
    }

    #[test]
    fn lengths_below_minus_one_are_rejected() {
        let mut reader = JuteReader::new(Bytes::from_static(b"\xff\xff\xff\xfe"));
        assert_eq!(reader.read_buffer(), Err(DecodeError::InvalidLength(-2)));
    }

    #[test]
    fn a_length_beyond_the_input_is_rejected_before_allocating() {
        // A vector claiming two billion elements in an 8-byte input.
        let mut reader = JuteReader::new(Bytes::from_static(b"\x7f\xff\xff\xff\x00\x00\x00\x01"));
        assert!(matches!(
            reader.read_vec::<i32>(),
            Err(DecodeError::UnexpectedEof { .. })
        ));
    }

    #[test]
    fn null_required_string_is_an_error() {
        let mut reader = JuteReader::new(Bytes::from_static(b"\xff\xff\xff\xff"));
        assert_eq!(reader.read_string(), Err(DecodeError::NullString));
    }

    #[test]
    fn cesu8_surrogate_pairs_decode_to_one_character() {
        // U+1F600 as Java writes it: two 3-byte surrogates.
        let cesu = [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80];
        assert_eq!(decode_java_utf8(&cesu), "\u{1F600}");
        assert_eq!(decode_java_utf8("été".as_bytes()), "été");
    }

    #[test]
    fn nonzero_boolean_bytes_are_true() {
        let mut reader = JuteReader::new(Bytes::from_static(&[0, 1, 7]));
        assert!(!reader.read_bool().unwrap());
        assert!(reader.read_bool().unwrap());
        assert!(reader.read_bool().unwrap());
    }
}
