//! Flavours (whose node names a recipe uses) and error policies (what counts as a loss).

/// Which library's node layout a recipe instance uses on its path.
///
/// `Curator` instances exclude and are excluded by Curator 5 processes on the same path;
/// `Kazoo` instances by kazoo 2.x processes. **Curator and kazoo do not exclude each other**:
/// neither library counts the other's nodes, so a path shared by Curator and kazoo processes
/// is unsafe whatever this crate does. A recipe instance refuses to work on a path that holds
/// children of the other flavour ([`RecipeError::ForeignChildren`](crate::RecipeError)).
///
/// ```
/// use zk_recipes::Flavor;
/// assert_eq!(Flavor::default(), Flavor::Curator);
/// assert_eq!("kazoo".parse::<Flavor>(), Ok(Flavor::Kazoo));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Flavor {
    /// Curator 5: `_c_<uuid>-lock-<seq>`, `-latch-`, `-__READ__`, `-__WRIT__`, `-lease-`.
    #[default]
    Curator,
    /// kazoo 2.x: `<32 hex>__lock__<seq>`, `__rlock__`.
    Kazoo,
}

impl std::str::FromStr for Flavor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "curator" => Ok(Self::Curator),
            "kazoo" => Ok(Self::Kazoo),
            other => Err(format!("unknown flavor {other:?} (curator or kazoo)")),
        }
    }
}

impl std::fmt::Display for Flavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Curator => "curator",
            Self::Kazoo => "kazoo",
        })
    }
}

/// What a holder treats as losing what it holds (RECIPES.md Part 1, point 6).
///
/// ```
/// use zk_recipes::ErrorPolicy;
/// assert_eq!(ErrorPolicy::default(), ErrorPolicy::Standard);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ErrorPolicy {
    /// Like Curator's default: a disconnect (Suspended) already means lost.
    #[default]
    Standard,
    /// Only session expiry, deletion of our node or the lease deadline mean lost; after a
    /// reconnect the node and its owner are re-verified.
    Session,
}
