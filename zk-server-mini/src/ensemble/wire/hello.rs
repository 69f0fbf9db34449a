//! The hello that opens every peer connection: who is dialing, which ensemble it belongs to
//! (or proposes, while it is not yet bound to one: [`crate::ensemble::identity`]), and where
//! it serves clients and peers.

use bytes::Buf;

use super::WireError;
use crate::zab::PeerId;

/// The first bytes of every peer connection (the version digit changes with the hello's
/// layout, so a member of another version is refused as a stranger, never misread).
///
/// ```
/// use zk_server_mini::ensemble::wire::{Hello, MAGIC};
/// let hello = Hello { ensemble: 1, provisional: false, from: 2, client_port: 2181, quorum_port: 2888 };
/// assert_eq!(&hello.encode()[..8], &MAGIC);
/// ```
pub const MAGIC: [u8; 8] = *b"ZKMZAB02";

/// Size of the hello: magic, ensemble id, flags, sender id, client port, quorum port.
///
/// ```
/// use zk_server_mini::ensemble::wire::{HELLO_LEN, Hello};
/// let hello = Hello { ensemble: 1, provisional: true, from: 2, client_port: 2181, quorum_port: 2888 };
/// assert_eq!(hello.encode().len(), HELLO_LEN); // 8 + 8 + 1 + 8 + 2 + 2
/// ```
pub const HELLO_LEN: usize = 29;

/// Flag bit: the sender is not yet bound to an ensemble; `ensemble` is the id it proposes.
const PROVISIONAL: u8 = 1;

/// What a dialing member says first.
///
/// ```
/// use zk_server_mini::ensemble::wire::Hello;
/// let hello = Hello { ensemble: 0xabc, provisional: false, from: 2, client_port: 2181, quorum_port: 2888 };
/// assert_eq!(Hello::decode(&hello.encode()), Ok(hello));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The ensemble the sender is bound to, or proposes while `provisional`.
    pub ensemble: u64,
    /// The sender has not yet served, so it is bound to no ensemble yet.
    pub provisional: bool,
    /// The sender's member id.
    pub from: PeerId,
    /// Where the sender serves clients (on the address it dials from).
    pub client_port: u16,
    /// Where the sender listens for peers (on the address it dials from): a member that
    /// does not know the sender dials it back there.
    pub quorum_port: u16,
}

impl Hello {
    /// The hello's bytes.
    ///
    /// ```
    /// use zk_server_mini::ensemble::wire::{HELLO_LEN, Hello};
    /// let hello = Hello { ensemble: 7, provisional: true, from: 4, client_port: 1, quorum_port: 2 };
    /// let bytes: [u8; HELLO_LEN] = hello.encode();
    /// assert_eq!(bytes[16], 1); // the provisional flag
    /// ```
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut out = [0u8; HELLO_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..16].copy_from_slice(&self.ensemble.to_be_bytes());
        out[16] = if self.provisional { PROVISIONAL } else { 0 };
        out[17..25].copy_from_slice(&self.from.to_be_bytes());
        out[25..27].copy_from_slice(&self.client_port.to_be_bytes());
        out[27..].copy_from_slice(&self.quorum_port.to_be_bytes());
        out
    }

    /// Reads a hello. Whether it is accepted is the listener's call
    /// ([`crate::ensemble::identity::EnsembleIdentity::accepts`]).
    ///
    /// # Errors
    /// [`WireError::BadMagic`] for anything that is not our protocol (or another version of
    /// it), [`WireError::Malformed`] for unknown flags.
    ///
    /// ```
    /// use zk_server_mini::ensemble::wire::{Hello, WireError};
    /// assert_eq!(Hello::decode(&[0; 29]), Err(WireError::BadMagic));
    /// let mut bytes = Hello { ensemble: 7, provisional: false, from: 4, client_port: 1, quorum_port: 2 }.encode();
    /// bytes[16] = 0x80;
    /// assert!(matches!(Hello::decode(&bytes), Err(WireError::Malformed(_))));
    /// ```
    pub fn decode(bytes: &[u8; HELLO_LEN]) -> Result<Hello, WireError> {
        if bytes[..8] != MAGIC {
            return Err(WireError::BadMagic);
        }
        let mut rest = &bytes[8..];
        let ensemble = rest.get_u64();
        let flags = rest.get_u8();
        if flags & !PROVISIONAL != 0 {
            return Err(WireError::Malformed("unknown hello flags"));
        }
        Ok(Hello {
            ensemble,
            provisional: flags & PROVISIONAL != 0,
            from: rest.get_u64(),
            client_port: rest.get_u16(),
            quorum_port: rest.get_u16(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_round_trips_and_garbage_is_refused() {
        for provisional in [false, true] {
            let h = Hello {
                ensemble: u64::MAX - 3,
                provisional,
                from: u64::MAX,
                client_port: 65535,
                quorum_port: 1,
            };
            assert_eq!(Hello::decode(&h.encode()), Ok(h));
        }
        let mut old = [0u8; HELLO_LEN];
        old[..8].copy_from_slice(b"ZKMZAB01");
        assert_eq!(Hello::decode(&old), Err(WireError::BadMagic));
        let mut http = [b' '; HELLO_LEN];
        http[..4].copy_from_slice(b"GET ");
        assert_eq!(Hello::decode(&http), Err(WireError::BadMagic));
    }
}
