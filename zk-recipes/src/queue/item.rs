//! Queue item names: how each layout encodes order (and priority or delay) in the node name,
//! parsed strictly so that a node that is not ours is never taken.

use crate::names::sequence_of;

/// A node name in a queue's directory that is not an item of the queue's layout.
///
/// ```no_run
/// # async fn demo(q: zk_recipes::queue::Queue) -> Result<(), zk_recipes::queue::QueueError> {
/// for foreign in q.foreign_items().await? {
///     eprintln!("{} is not ours ({:?} layout)", foreign.name, foreign.layout);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue {path}: child {name:?} is not an item of this queue ({layout:?} layout)")]
pub struct ForeignItem {
    /// The queue's path.
    pub path: String,
    /// The child's name.
    pub name: String,
    /// The layout the queue expected.
    pub layout: Layout,
}

/// How items are named.
///
/// ```no_run
/// # async fn demo(q: zk_recipes::queue::Queue) -> Result<(), zk_recipes::queue::QueueError> {
/// let simple = q.foreign_items().await?.iter().all(|f| f.layout == zk_recipes::queue::Layout::Simple);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `qn-<seq>`: ZooKeeper's queue recipe and Curator's `SimpleDistributedQueue`.
    Simple,
    /// `entry-<PPP>-<seq>` with a priority 0–999 (lower first): kazoo's `Queue` and
    /// `LockingQueue`.
    Priority,
    /// `queue-|<HEX delay-until epoch ms>|<seq>`: Curator's `DistributedDelayQueue`.
    Delay,
}

/// What orders an item: priority or delay first, then the sequence number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ItemKey {
    pub(crate) rank: i64,
    pub(crate) seq: i64,
    pub(crate) name: String,
}

impl Layout {
    /// The name prefix of a new item (ZooKeeper appends the sequence).
    pub(crate) fn prefix(self, rank: i64) -> String {
        match self {
            Self::Simple => "qn-".to_owned(),
            Self::Priority => format!("entry-{rank:03}-"),
            Self::Delay => format!("queue-|{rank:08X}|"),
        }
    }

    /// Parses a child's name.
    pub(crate) fn parse(self, path: &str, name: &str) -> Result<ItemKey, ForeignItem> {
        let foreign = || ForeignItem {
            path: path.to_owned(),
            name: name.to_owned(),
            layout: self,
        };
        let seq = sequence_of(name).filter(|s| *s >= 0).ok_or_else(foreign)?;
        let head = &name[..name.len() - 10];
        let rank = match self {
            Self::Simple => (head == "qn-").then_some(0),
            Self::Priority => head
                .strip_prefix("entry-")
                .and_then(|p| p.strip_suffix('-'))
                .filter(|p| p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse().ok()),
            Self::Delay => head
                .strip_prefix("queue-|")
                .and_then(|p| p.strip_suffix('|'))
                .filter(|p| !p.is_empty() && p.len() <= 16)
                .and_then(|p| i64::from_str_radix(p, 16).ok()),
        }
        .ok_or_else(foreign)?;
        Ok(ItemKey {
            rank,
            seq,
            name: name.to_owned(),
        })
    }

    /// The queue's items in order; foreign children are skipped with a warning.
    pub(crate) fn sorted(self, path: &str, children: Vec<String>) -> Vec<ItemKey> {
        let mut items: Vec<ItemKey> = children
            .iter()
            .filter_map(|name| match self.parse(path, name) {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a queue child that is not an item");
                    None
                }
            })
            .collect();
        items.sort();
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_each_layout() {
        let p = "/q";
        assert_eq!(Layout::Simple.parse(p, "qn-0000000007").unwrap().seq, 7);
        let k = Layout::Priority.parse(p, "entry-005-0000000012").unwrap();
        assert_eq!((k.rank, k.seq), (5, 12));
        let k = Layout::Delay
            .parse(p, "queue-|18C2A3B4F00|0000000001")
            .unwrap();
        assert_eq!(k.rank, 0x018C_2A3B_4F00);
        assert_eq!(Layout::Priority.prefix(7), "entry-007-");
        assert_eq!(Layout::Delay.prefix(255), "queue-|000000FF|");
        for (layout, name) in [
            (Layout::Simple, "qn-12"),
            (Layout::Simple, "x-0000000001"),
            (Layout::Simple, "qn-000000000a"),
            (Layout::Priority, "entry-5-0000000001"),
            (Layout::Priority, "entry-abc-0000000001"),
            (Layout::Priority, "qn-0000000001"),
            (Layout::Delay, "queue-||0000000001"),
            (Layout::Delay, "queue-|XYZ|0000000001"),
            (Layout::Simple, "qn--000000001"),
        ] {
            let e = layout.parse(p, name).unwrap_err();
            assert_eq!((e.name.as_str(), e.layout), (name, layout));
        }
    }

    #[test]
    fn order_is_rank_then_sequence_as_numbers() {
        let names = [
            "entry-100-0000000003",
            "entry-001-0000000009",
            "entry-100-0000000001",
            "junk",
        ];
        let sorted: Vec<String> = Layout::Priority
            .sorted("/q", names.iter().map(|s| (*s).to_owned()).collect())
            .into_iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(
            sorted,
            [
                "entry-001-0000000009",
                "entry-100-0000000001",
                "entry-100-0000000003"
            ]
        );
    }
}
