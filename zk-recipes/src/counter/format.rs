//! How a counter's value is stored in its node.

use super::CounterError;

/// The byte format of a counter node, fixed by the library that shares the path.
///
/// ```
/// use zk_recipes::counter::CounterFormat;
/// assert_eq!(CounterFormat::Int64.encode("/c", 1).unwrap().len(), 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterFormat {
    /// 4-byte big-endian two's complement: Curator's `SharedCount` and kazoo's
    /// `Counter(support_curator=True)`. Values outside the `i32` range are refused.
    Int32,
    /// 8-byte big-endian two's complement: Curator's `DistributedAtomicLong`.
    Int64,
    /// The decimal number as ASCII text (`b"42"`, `b"-7"`): kazoo's default `Counter`.
    Ascii,
}

impl CounterFormat {
    /// The bytes for `value`.
    ///
    /// ```
    /// use zk_recipes::counter::CounterFormat;
    /// assert_eq!(CounterFormat::Int32.encode("/c", 1).unwrap(), vec![0, 0, 0, 1]);
    /// assert_eq!(CounterFormat::Ascii.encode("/c", -5).unwrap(), b"-5".to_vec());
    /// assert!(CounterFormat::Int32.encode("/c", i64::MAX).is_err());
    /// ```
    ///
    /// # Errors
    /// [`CounterError::OutOfRange`] for a value the format cannot hold.
    pub fn encode(self, path: &str, value: i64) -> Result<Vec<u8>, CounterError> {
        match self {
            Self::Int32 => i32::try_from(value)
                .map(|v| v.to_be_bytes().to_vec())
                .map_err(|_| CounterError::OutOfRange {
                    path: path.to_owned(),
                    value,
                }),
            Self::Int64 => Ok(value.to_be_bytes().to_vec()),
            Self::Ascii => Ok(value.to_string().into_bytes()),
        }
    }

    /// The value stored in `data`. Empty data is 0 (a node made by `ensure_path` or a
    /// `create` without data), as kazoo and Curator read it.
    ///
    /// ```
    /// use zk_recipes::counter::CounterFormat;
    /// assert_eq!(CounterFormat::Int64.decode("/c", &7i64.to_be_bytes()).unwrap(), 7);
    /// assert_eq!(CounterFormat::Ascii.decode("/c", b"").unwrap(), 0);
    /// assert!(CounterFormat::Int32.decode("/c", &[1, 2, 3]).is_err());
    /// ```
    ///
    /// # Errors
    /// [`CounterError::BadFormat`] when the bytes are not a value of this format.
    pub fn decode(self, path: &str, data: &[u8]) -> Result<i64, CounterError> {
        if data.is_empty() {
            return Ok(0);
        }
        let bad = |detail: String| CounterError::BadFormat {
            path: path.to_owned(),
            format: self,
            detail,
        };
        match self {
            Self::Int32 => <[u8; 4]>::try_from(data)
                .map(|b| i64::from(i32::from_be_bytes(b)))
                .map_err(|_| bad(format!("{} bytes, expected 4", data.len()))),
            Self::Int64 => <[u8; 8]>::try_from(data)
                .map(i64::from_be_bytes)
                .map_err(|_| bad(format!("{} bytes, expected 8", data.len()))),
            Self::Ascii => std::str::from_utf8(data)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    bad(format!(
                        "{:?} is not a decimal integer",
                        String::from_utf8_lossy(&data[..data.len().min(32)])
                    ))
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for format in [
            CounterFormat::Int32,
            CounterFormat::Int64,
            CounterFormat::Ascii,
        ] {
            for v in [0, 1, -1, 1 << 20, i64::from(i32::MIN), i64::from(i32::MAX)] {
                let bytes = format.encode("/c", v).unwrap();
                assert_eq!(format.decode("/c", &bytes).unwrap(), v, "{format:?} {v}");
            }
        }
        assert_eq!(
            CounterFormat::Int64.encode("/c", 258).unwrap(),
            [0, 0, 0, 0, 0, 0, 1, 2]
        );
    }

    #[test]
    fn wrong_bytes_are_typed_errors() {
        for (format, data) in [
            (CounterFormat::Int32, &b"\x00\x00\x00\x00\x01"[..]),
            (CounterFormat::Int64, &b"\x00\x00\x00\x01"[..]),
            (CounterFormat::Ascii, &b"1.5"[..]),
            (CounterFormat::Ascii, &b"\xff\xfe"[..]),
        ] {
            match format.decode("/c", data) {
                Err(CounterError::BadFormat { path, .. }) => assert_eq!(path, "/c"),
                other => panic!("{format:?} {data:?}: {other:?}"),
            }
        }
        assert!(matches!(
            CounterFormat::Int32.encode("/c", 1 << 40),
            Err(CounterError::OutOfRange { .. })
        ));
    }
}
