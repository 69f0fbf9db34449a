//! Node names of sequential recipes: the `%010d` sequence suffix, and strict matching of a
//! child name against one recipe's pattern.
//!
//! ZooKeeper appends the parent's cversion as `%010d` to a sequential node's name, so numbers
//! from one parent compare across prefixes. They are compared here as numbers, never as text.
//!
//! ```
//! use zk_recipes::names::{NamePattern, sequence_of};
//! assert_eq!(sequence_of("_c_x-lock-0000000042"), Some(42));
//! let kazoo = NamePattern::kazoo(&["__lock__"]);
//! assert!(kazoo.matches("0123456789abcdef0123456789abcdef__lock__0000000001").is_some());
//! assert!(kazoo.matches("foo__lock__0000000001").is_none());
//! ```

/// Length of ZooKeeper's sequence suffix.
///
/// ```
/// use zk_recipes::names::SEQUENCE_LEN;
/// let name = "_c_x-lock-0000000042";
/// assert_eq!(&name[name.len() - SEQUENCE_LEN..], "0000000042");
/// ```
pub const SEQUENCE_LEN: usize = 10;

/// The sequence number at the end of `name`: ten digits, or `-` and nine digits once the
/// parent's cversion overflowed. `None` when the name does not end that way.
///
/// ```
/// use zk_recipes::names::sequence_of;
/// assert_eq!(sequence_of("lock-0000000042"), Some(42));
/// assert_eq!(sequence_of("lock--000000001"), Some(-1)); // cversion overflowed
/// assert_eq!(sequence_of("lock-42"), None);
/// ```
pub fn sequence_of(name: &str) -> Option<i64> {
    let bytes = name.as_bytes();
    if bytes.len() < SEQUENCE_LEN {
        return None;
    }
    let tail = &name[name.len() - SEQUENCE_LEN..];
    let digits = tail.strip_prefix('-').unwrap_or(tail);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tail.parse().ok()
}

/// A child that matched a recipe's pattern.
///
/// ```
/// use zk_recipes::names::NamePattern;
/// let pattern = NamePattern::kazoo(&["__lock__", "__rlock__"]);
/// let child = pattern.matches("0123456789abcdef0123456789abcdef__rlock__0000000003").unwrap();
/// assert_eq!((child.sequence, child.marker), (3, 1)); // second marker: `__rlock__`
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencedChild {
    /// The child's name (not a path).
    pub name: String,
    /// Its sequence number.
    pub sequence: i64,
    /// Which marker of the pattern it carries (index into the pattern's markers).
    pub marker: usize,
}

/// Which prefixes a pattern accepts before the marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrefixRule {
    /// Curator: `_c_<36-char uuid>-`, or nothing (an unprotected Curator node).
    Curator,
    /// kazoo: 32 lowercase hex digits.
    Kazoo,
}

/// A strict pattern for one recipe's children: `<prefix><marker><sequence>`.
///
/// ```
/// use zk_recipes::names::NamePattern;
/// let p = NamePattern::curator(&["lock-"]);
/// let c = p.matches("_c_8fd4ed62-659f-4277-ac37-adbaa2701179-lock-0000000007").unwrap();
/// assert_eq!(c.sequence, 7);
/// assert!(p.matches("_c_8fd4ed62-659f-4277-ac37-adbaa2701179-latch-0000000007").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    prefix: PrefixRule,
    markers: Vec<String>,
}

impl NamePattern {
    /// Curator's protected names: `_c_<uuid>-` then one of `markers` then the sequence.
    ///
    /// ```
    /// use zk_recipes::names::NamePattern;
    /// let p = NamePattern::curator(&["lock-"]);
    /// assert!(p.matches("lock-0000000001").is_some()); // unprotected Curator node
    /// assert!(p.matches("_c_8fd4ed62-659f-4277-ac37-adbaa2701179-lock-0000000001").is_some());
    /// assert!(p.matches("_c_not-a-uuid-lock-0000000001").is_none());
    /// ```
    pub fn curator(markers: &[&str]) -> Self {
        Self {
            prefix: PrefixRule::Curator,
            markers: markers.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    /// kazoo's names: 32 hex digits then one of `markers` then the sequence.
    ///
    /// ```
    /// use zk_recipes::names::NamePattern;
    /// let p = NamePattern::kazoo(&["__lock__"]);
    /// assert!(p.matches("0123456789abcdef0123456789abcdef__lock__0000000001").is_some());
    /// assert!(p.matches("__lock__0000000001").is_none()); // no 32-hex prefix
    /// ```
    pub fn kazoo(markers: &[&str]) -> Self {
        Self {
            prefix: PrefixRule::Kazoo,
            markers: markers.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    /// The child, if `name` follows this pattern exactly.
    ///
    /// ```
    /// use zk_recipes::names::NamePattern;
    /// let p = NamePattern::curator(&["latch-"]);
    /// let c = p.matches("latch-0000000009").unwrap();
    /// assert_eq!((c.name.as_str(), c.sequence, c.marker), ("latch-0000000009", 9, 0));
    /// assert!(p.matches("lock-0000000009").is_none());
    /// ```
    pub fn matches(&self, name: &str) -> Option<SequencedChild> {
        let sequence = sequence_of(name)?;
        let head = &name[..name.len() - SEQUENCE_LEN];
        for (i, marker) in self.markers.iter().enumerate() {
            let Some(prefix) = head.strip_suffix(marker.as_str()) else {
                continue;
            };
            if self.prefix_ok(prefix) {
                return Some(SequencedChild {
                    name: name.to_owned(),
                    sequence,
                    marker: i,
                });
            }
        }
        None
    }

    fn prefix_ok(&self, prefix: &str) -> bool {
        match self.prefix {
            PrefixRule::Curator => {
                prefix.is_empty()
                    || prefix
                        .strip_prefix("_c_")
                        .and_then(|p| p.strip_suffix('-'))
                        .is_some_and(is_uuid)
            }
            PrefixRule::Kazoo => {
                prefix.len() == 32 && prefix.bytes().all(|b| b.is_ascii_hexdigit())
            }
        }
    }
}

/// True for a canonical 36-character UUID (8-4-4-4-12 hex digits).
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    groups.len() == lens.len()
        && groups
            .iter()
            .zip(lens)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The result of sorting a recipe path's children.
///
/// ```
/// use zk_recipes::names::{NamePattern, sort_children};
/// let sorted = sort_children(&NamePattern::curator(&["lock-"]), &["lock-0000000002".into(), "junk".into()], &[]);
/// assert_eq!(sorted.contenders.len(), 1);
/// assert_eq!(sorted.foreign, vec!["junk".to_string()]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortedChildren {
    /// Children that follow the pattern, by sequence number.
    pub contenders: Vec<SequencedChild>,
    /// Children that do not.
    pub foreign: Vec<String>,
}

/// Splits `children` into contenders (sorted numerically by sequence) and foreign names;
/// `ignore` names are neither (for example a semaphore's `locks`/`leases` sub-nodes).
///
/// ```
/// use zk_recipes::names::{NamePattern, sort_children};
/// let children: Vec<String> = ["lock-0000000010", "leases", "lock-0000000009", "stray"]
///     .iter()
///     .map(|s| s.to_string())
///     .collect();
/// let sorted = sort_children(&NamePattern::curator(&["lock-"]), &children, &["leases"]);
/// let seqs: Vec<i64> = sorted.contenders.iter().map(|c| c.sequence).collect();
/// assert_eq!(seqs, [9, 10]); // numeric order
/// assert_eq!(sorted.foreign, ["stray"]);
/// ```
pub fn sort_children(
    pattern: &NamePattern,
    children: &[String],
    ignore: &[&str],
) -> SortedChildren {
    let mut out = SortedChildren::default();
    for name in children {
        if ignore.contains(&name.as_str()) {
            continue;
        }
        match pattern.matches(name) {
            Some(child) => out.contenders.push(child),
            None => out.foreign.push(name.clone()),
        }
    }
    out.contenders.sort_by(|a, b| {
        a.sequence
            .cmp(&b.sequence)
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

/// The protection prefix that identifies one create attempt: `_c_<uuid>-` for Curator,
/// `<32 hex>` for kazoo. Recipes search for it after a ConnectionLoss.
///
/// ```
/// use zk_recipes::names::{NamePattern, curator_protection_prefix};
/// let id = uuid::Uuid::new_v4();
/// let prefix = curator_protection_prefix(&id);
/// assert!(prefix.starts_with("_c_") && prefix.ends_with('-'));
/// let name = format!("{prefix}lock-0000000001");
/// assert!(NamePattern::curator(&["lock-"]).matches(&name).is_some());
/// ```
pub fn curator_protection_prefix(id: &uuid::Uuid) -> String {
    format!("_c_{}-", id.hyphenated())
}

/// kazoo's prefix: the UUID as 32 hex digits.
///
/// ```
/// use zk_recipes::names::{NamePattern, kazoo_protection_prefix};
/// let prefix = kazoo_protection_prefix(&uuid::Uuid::new_v4());
/// assert_eq!(prefix.len(), 32);
/// let name = format!("{prefix}__lock__0000000001");
/// assert!(NamePattern::kazoo(&["__lock__"]).matches(&name).is_some());
/// ```
pub fn kazoo_protection_prefix(id: &uuid::Uuid) -> String {
    id.simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_are_numbers() {
        assert_eq!(sequence_of("lock-0000000010"), Some(10));
        assert_eq!(sequence_of("lock--000000001"), Some(-1));
        assert_eq!(sequence_of("lock-000000001x"), None);
        assert_eq!(sequence_of("short"), None);
        assert_eq!(sequence_of("x-000000000a"), None);
    }

    #[test]
    fn curator_pattern_is_strict() {
        let p = NamePattern::curator(&["__READ__", "__WRIT__"]);
        let id = uuid::Uuid::new_v4();
        let prefix = curator_protection_prefix(&id);
        assert_eq!(
            p.matches(&format!("{prefix}__READ__0000000003"))
                .map(|c| c.marker),
            Some(0)
        );
        assert_eq!(
            p.matches(&format!("{prefix}__WRIT__0000000003"))
                .map(|c| c.marker),
            Some(1)
        );
        assert!(p.matches("__WRIT__0000000003").is_some());
        assert!(p.matches("_c_nope-__WRIT__0000000003").is_none());
        assert!(p.matches(&format!("{prefix}__WRIT__")).is_none());
    }

    #[test]
    fn sorting_is_numeric_and_reports_foreign_names() {
        let p = NamePattern::kazoo(&["__lock__"]);
        let a = format!("{}__lock__0000000010", "a".repeat(32));
        let b = format!("{}__lock__0000000009", "b".repeat(32));
        let children = vec![a.clone(), "leases".into(), b.clone(), "junk".into()];
        let sorted = sort_children(&p, &children, &["leases"]);
        let names: Vec<_> = sorted.contenders.iter().map(|c| c.name.clone()).collect();
        assert_eq!(names, vec![b, a]);
        assert_eq!(sorted.foreign, vec!["junk".to_owned()]);
    }
}
