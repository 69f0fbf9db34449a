//! A node's data, compact: null, small data stored inline in the node (no allocation of
//! its own), or larger data in an exact-size shared allocation that replies borrow without
//! copying.

use bytes::Bytes;

/// Data up to this many bytes is stored inside the node.
const INLINE: usize = 38;

/// A node's data: ZooKeeper's null buffer, or bytes. Always an exact-size copy, so a node
/// never pins the request or log buffer its data arrived in.
///
/// ```
/// use bytes::Bytes;
/// use zk_server_mini::tree::NodeData;
/// let small = NodeData::copy_of(Some(b"hello"));
/// assert_eq!(small.as_slice(), Some(&b"hello"[..]));
/// assert_eq!(small.to_bytes(), Some(Bytes::from_static(b"hello")));
/// let big = NodeData::copy_of(Some(&[7u8; 1000][..]));
/// assert_eq!(big.len(), 1000);
/// assert!(NodeData::copy_of(None).is_null());
/// assert_eq!(NodeData::copy_of(None).len(), 0);
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct NodeData(Repr);

#[derive(Clone, PartialEq, Eq, Default)]
enum Repr {
    #[default]
    Null,
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    /// Reference-counted from the start (`Bytes::from_owner`), so handing it to a reply or
    /// to a snapshot is a counter increment, never an allocation on the serving task.
    Shared(Bytes),
}

impl NodeData {
    /// An exact-size copy of `data` (`None`: the null buffer).
    ///
    /// ```
    /// use zk_server_mini::tree::NodeData;
    /// assert_eq!(NodeData::copy_of(Some(b"")).as_slice(), Some(&b""[..])); // empty, not null
    /// ```
    pub fn copy_of(data: Option<&[u8]>) -> Self {
        Self(match data {
            None => Repr::Null,
            Some(d) if d.len() <= INLINE => {
                let mut bytes = [0u8; INLINE];
                bytes[..d.len()].copy_from_slice(d);
                Repr::Inline {
                    len: d.len() as u8,
                    bytes,
                }
            }
            Some(d) => Repr::Shared(Bytes::from_owner(Box::<[u8]>::from(d))),
        })
    }

    /// The bytes, or `None` for the null buffer.
    ///
    /// ```
    /// use zk_server_mini::tree::NodeData;
    /// assert_eq!(NodeData::copy_of(Some(b"v")).as_slice(), Some(&b"v"[..]));
    /// ```
    pub fn as_slice(&self) -> Option<&[u8]> {
        match &self.0 {
            Repr::Null => None,
            Repr::Inline { len, bytes } => Some(&bytes[..usize::from(*len)]),
            Repr::Shared(d) => Some(&d[..]),
        }
    }

    /// The data as a reply carries it: large data is shared, not copied (small data is
    /// copied: a few bytes).
    ///
    /// ```
    /// use zk_server_mini::tree::NodeData;
    /// let d = NodeData::copy_of(Some(&[1u8; 4096][..]));
    /// assert_eq!(d.to_bytes().map(|b| b.len()), Some(4096));
    /// ```
    pub fn to_bytes(&self) -> Option<Bytes> {
        match &self.0 {
            Repr::Null => None,
            Repr::Inline { len, bytes } => {
                Some(Bytes::copy_from_slice(&bytes[..usize::from(*len)]))
            }
            Repr::Shared(d) => Some(d.clone()),
        }
    }

    /// Length in bytes (0 for null).
    ///
    /// ```
    /// use zk_server_mini::tree::NodeData;
    /// assert_eq!(NodeData::copy_of(Some(b"abc")).len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.as_slice().map_or(0, <[u8]>::len)
    }

    /// Whether this is ZooKeeper's null buffer.
    ///
    /// ```
    /// use zk_server_mini::tree::NodeData;
    /// assert!(NodeData::default().is_null());
    /// ```
    pub fn is_null(&self) -> bool {
        matches!(self.0, Repr::Null)
    }

    /// Whether there are no bytes (null or empty).
    ///
    /// ```
    /// use zk_server_mini::tree::NodeData;
    /// assert!(NodeData::copy_of(Some(b"")).is_empty() && NodeData::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Option<Bytes>> for NodeData {
    fn from(data: Option<Bytes>) -> Self {
        Self::copy_of(data.as_deref())
    }
}

impl std::fmt::Debug for NodeData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_slice() {
            None => f.write_str("null"),
            Some(d) => write!(f, "{:?}", Bytes::copy_from_slice(d)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_with_small_data_holds_no_allocation_of_its_own() {
        assert!(std::mem::size_of::<NodeData>() <= 40);
        let at_limit = NodeData::copy_of(Some(&[1u8; INLINE][..]));
        assert!(matches!(at_limit.0, Repr::Inline { .. }));
        let over = NodeData::copy_of(Some(&[1u8; INLINE + 1][..]));
        assert!(matches!(over.0, Repr::Shared(_)));
        assert_eq!(over.as_slice(), Some(&[1u8; INLINE + 1][..]));
        assert_ne!(NodeData::copy_of(Some(b"")), NodeData::copy_of(None));
    }
}
