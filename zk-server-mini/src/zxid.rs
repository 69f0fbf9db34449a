//! Transaction ids as ZooKeeper builds them: the leader's epoch in the high 32 bits, a counter
//! in the low 32 bits. A new epoch (a new leader) starts its counter at 0, so every zxid of a
//! later epoch is larger than every zxid of an earlier one. A standalone server stays in epoch 0
//! (as ZooKeeper's does), so its zxids read 1, 2, 3 …
//!
//! ```
//! use zk_server_mini::zxid;
//!
//! let z = zxid::make(3, 7);
//! assert_eq!(z, 0x0000_0003_0000_0007);
//! assert_eq!((zxid::epoch(z), zxid::counter(z)), (3, 7));
//! assert_eq!(zxid::next(z), Some(zxid::make(3, 8)));
//! // The counter never spills into the epoch: the epoch must change instead.
//! assert_eq!(zxid::next(zxid::make(3, u32::MAX)), None);
//! ```

/// The zxid of `counter` in `epoch`.
///
/// ```
/// use zk_server_mini::zxid::make;
/// assert_eq!(make(0, 5), 5); // a standalone server's zxids
/// assert_eq!(make(2, 1), 0x2_0000_0001);
/// assert!(make(2, 0) > make(1, u32::MAX)); // a later epoch is always larger
/// ```
pub fn make(epoch: u32, counter: u32) -> i64 {
    ((u64::from(epoch) << 32) | u64::from(counter)) as i64
}

/// The epoch of a zxid (its high 32 bits).
///
/// ```
/// use zk_server_mini::zxid::{epoch, make};
/// assert_eq!(epoch(make(7, 123)), 7);
/// assert_eq!(epoch(42), 0);
/// ```
pub fn epoch(zxid: i64) -> u32 {
    ((zxid as u64) >> 32) as u32
}

/// The counter of a zxid (its low 32 bits).
///
/// ```
/// use zk_server_mini::zxid::{counter, make};
/// assert_eq!(counter(make(7, 123)), 123);
/// ```
pub fn counter(zxid: i64) -> u32 {
    (zxid as u64 & 0xffff_ffff) as u32
}

/// The zxid after `zxid` in the same epoch, or `None` when the counter is exhausted (the
/// leader must then start a new epoch, as ZooKeeper forces a re-election: ZOOKEEPER-1277).
///
/// ```
/// use zk_server_mini::zxid::{make, next};
/// assert_eq!(next(make(1, 9)), Some(make(1, 10)));
/// assert_eq!(next(make(1, u32::MAX)), None); // a new epoch is needed
/// ```
pub fn next(zxid: i64) -> Option<i64> {
    counter(zxid).checked_add(1).map(|c| make(epoch(zxid), c))
}

/// Formats a zxid as ZooKeeper's logs do: `0x<epoch><counter>` in hex.
///
/// ```
/// use zk_server_mini::zxid::{display, make};
/// assert_eq!(display(make(1, 0x2a)), "0x10000002a");
/// assert_eq!(display(5), "0x5");
/// ```
pub fn display(zxid: i64) -> String {
    format!("0x{zxid:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_order_before_counters() {
        assert!(make(1, 0) > make(0, u32::MAX));
        assert!(make(2, 5) > make(1, u32::MAX));
        assert_eq!(next(make(0, 0)), Some(1));
        assert_eq!(display(make(1, 2)), "0x100000002");
        // The largest epoch a signed zxid can hold.
        let last = make(0x7fff_ffff, 0);
        assert_eq!(epoch(last), 0x7fff_ffff);
        assert!(last > 0);
    }
}
