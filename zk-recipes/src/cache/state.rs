//! The cache's view and how a read result or a fresh walk changes it: pure functions over a map,
//! so the comparison rules (czxid for identity, mzxid for changes) are tested without a server.

use std::collections::BTreeMap;

use super::{CacheEvent, CachedNode};

/// Whether `path` is `root` or below it.
pub(crate) fn is_within(root: &str, path: &str) -> bool {
    root == "/"
        || path == root
        || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'/'))
}

/// Paths strictly below `path` present in `nodes`, deepest first.
fn descendants(nodes: &BTreeMap<String, CachedNode>, path: &str) -> Vec<String> {
    let prefix = if path == "/" {
        "/".to_owned()
    } else {
        format!("{path}/")
    };
    let mut found: Vec<String> = nodes
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .filter(|(p, _)| p.as_str() != "/")
        .map(|(p, _)| p.clone())
        .collect();
    // Reverse lexicographic order puts every child before its parent.
    found.reverse();
    found
}

/// Applies what a read of `path` returned (`None`: the node does not exist) and returns the
/// events it means:
/// - absent before, present now: `Created`;
/// - present with another `czxid`: the node was deleted and re-created: `Deleted` then `Created`;
/// - same `czxid`, higher `mzxid`: `Changed`;
/// - same `mzxid`, higher `pzxid` (children came or went): the stat is updated, no event;
/// - otherwise nothing (an event already reported by an earlier read);
/// - present before, absent now: `Deleted` for the node and anything cached below it.
pub(crate) fn reconcile(
    nodes: &mut BTreeMap<String, CachedNode>,
    path: &str,
    read: Option<CachedNode>,
) -> Vec<CacheEvent> {
    let mut events = Vec::new();
    match read {
        None => {
            if nodes.contains_key(path) {
                for below in descendants(nodes, path) {
                    if let Some(node) = nodes.remove(&below) {
                        events.push(CacheEvent::Deleted { path: below, node });
                    }
                }
                if let Some(node) = nodes.remove(path) {
                    events.push(CacheEvent::Deleted {
                        path: path.to_owned(),
                        node,
                    });
                }
            }
        }
        Some(new) => match nodes.get(path) {
            None => {
                nodes.insert(path.to_owned(), new.clone());
                events.push(CacheEvent::Created {
                    path: path.to_owned(),
                    node: new,
                });
            }
            Some(old) if old.stat.czxid != new.stat.czxid => {
                let old = old.clone();
                nodes.insert(path.to_owned(), new.clone());
                events.push(CacheEvent::Deleted {
                    path: path.to_owned(),
                    node: old,
                });
                events.push(CacheEvent::Created {
                    path: path.to_owned(),
                    node: new,
                });
            }
            Some(old) if new.stat.mzxid > old.stat.mzxid => {
                nodes.insert(path.to_owned(), new.clone());
                events.push(CacheEvent::Changed {
                    path: path.to_owned(),
                    node: new,
                });
            }
            // Same data, but children came or went: keep the newer stat, report nothing.
            Some(old) if new.stat.mzxid == old.stat.mzxid && new.stat.pzxid > old.stat.pzxid => {
                nodes.insert(path.to_owned(), new);
            }
            Some(_) => {}
        },
    }
    events
}

/// Replaces the whole view with a fresh walk and returns the differences: deletions first
/// (children before parents), then creations and changes (parents before children).
pub(crate) fn replace_all(
    nodes: &mut BTreeMap<String, CachedNode>,
    fresh: BTreeMap<String, CachedNode>,
) -> Vec<CacheEvent> {
    let mut events = Vec::new();
    let gone: Vec<String> = nodes
        .keys()
        .rev()
        .filter(|p| !fresh.contains_key(*p))
        .cloned()
        .collect();
    for path in gone {
        if let Some(node) = nodes.remove(&path) {
            events.push(CacheEvent::Deleted { path, node });
        }
    }
    for (path, node) in fresh {
        events.extend(reconcile(nodes, &path, Some(node)));
    }
    events
}

#[cfg(test)]
mod tests {
    use zk_client::{Bytes, Stat};

    use super::*;

    fn node(czxid: i64, mzxid: i64, data: &'static [u8]) -> CachedNode {
        CachedNode {
            data: Bytes::from_static(data),
            stat: Stat {
                czxid,
                mzxid,
                ..Stat::default()
            },
        }
    }

    fn kinds(events: &[CacheEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                CacheEvent::Created { path, .. } => format!("C {path}"),
                CacheEvent::Changed { path, .. } => format!("M {path}"),
                CacheEvent::Deleted { path, .. } => format!("D {path}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn within_a_root() {
        assert!(is_within("/", "/x"));
        assert!(is_within("/a", "/a"));
        assert!(is_within("/a", "/a/b"));
        assert!(!is_within("/a", "/ab"));
        assert!(!is_within("/a/b", "/a"));
    }

    #[test]
    fn create_change_stale_and_delete() {
        let mut nodes = BTreeMap::new();
        assert_eq!(
            kinds(&reconcile(&mut nodes, "/a", Some(node(5, 5, b"1")))),
            ["C /a"]
        );
        assert_eq!(
            kinds(&reconcile(&mut nodes, "/a", Some(node(5, 7, b"2")))),
            ["M /a"]
        );
        // A read no newer than what is cached reports nothing.
        assert!(reconcile(&mut nodes, "/a", Some(node(5, 7, b"2"))).is_empty());
        assert!(reconcile(&mut nodes, "/a", Some(node(5, 6, b"x"))).is_empty());
        assert_eq!(nodes["/a"].data.as_ref(), b"2");
        // A child's create moves the parent's pzxid: kept, not reported.
        let mut with_child = node(5, 7, b"2");
        with_child.stat.pzxid = 30;
        assert!(reconcile(&mut nodes, "/a", Some(with_child)).is_empty());
        assert_eq!(nodes["/a"].stat.pzxid, 30);
        reconcile(&mut nodes, "/a/b", Some(node(8, 8, b"")));
        reconcile(&mut nodes, "/a/b/c", Some(node(9, 9, b"")));
        reconcile(&mut nodes, "/ab", Some(node(10, 10, b"")));
        assert_eq!(
            kinds(&reconcile(&mut nodes, "/a", None)),
            ["D /a/b/c", "D /a/b", "D /a"]
        );
        assert_eq!(nodes.keys().collect::<Vec<_>>(), ["/ab"]);
        assert!(reconcile(&mut nodes, "/a", None).is_empty());
    }

    /// CURATOR-391: same version, other incarnation.
    #[test]
    fn a_recreated_node_is_a_delete_and_a_create_even_with_the_same_version() {
        let mut nodes = BTreeMap::new();
        reconcile(&mut nodes, "/a", Some(node(5, 5, b"same")));
        let events = reconcile(&mut nodes, "/a", Some(node(12, 12, b"same")));
        assert_eq!(kinds(&events), ["D /a", "C /a"]);
        match &events[0] {
            CacheEvent::Deleted { node, .. } => assert_eq!(node.stat.czxid, 5),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fresh_walk_yields_the_differences_in_a_safe_order() {
        let mut nodes = BTreeMap::new();
        for (p, z) in [
            ("/r", 1),
            ("/r/a", 2),
            ("/r/a/x", 3),
            ("/r/b", 4),
            ("/r/c", 5),
        ] {
            reconcile(&mut nodes, p, Some(node(z, z, b"")));
        }
        let fresh = BTreeMap::from([
            ("/r".to_owned(), node(1, 1, b"")),
            ("/r/b".to_owned(), node(4, 20, b"new")),
            ("/r/c".to_owned(), node(21, 21, b"")),
            ("/r/d".to_owned(), node(22, 22, b"")),
            ("/r/d/e".to_owned(), node(23, 23, b"")),
        ]);
        let events = replace_all(&mut nodes, fresh.clone());
        assert_eq!(
            kinds(&events),
            [
                "D /r/a/x", "D /r/a", "M /r/b", "D /r/c", "C /r/c", "C /r/d", "C /r/d/e"
            ]
        );
        assert_eq!(nodes, fresh);
        assert!(replace_all(&mut nodes, fresh).is_empty());
    }
}
