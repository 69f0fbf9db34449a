//! A full read of a node or a subtree: many reads in flight at once (the client pipelines them),
//! parents read before their children.

use std::collections::{BTreeMap, VecDeque};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use zk_client::{Client, Error, Result};

use super::{CachedNode, Scope};

/// Reads in flight at once during a walk.
const IN_FLIGHT: usize = 256;

/// What one fetch found: the node (if it still exists) and its children's paths.
type Fetched = Option<(String, CachedNode, Vec<String>)>;

/// Reads `path` and, for a tree, its children's names (only when it has any).
async fn fetch(client: Client, path: String, scope: Scope) -> Result<Fetched> {
    let (data, stat) = match client.get_data(&path).await {
        Ok(found) => found,
        // Deleted since its parent was listed: the recursive watch reports it.
        Err(Error::NoNode) => return Ok(None),
        // Not readable by this client: not cached (and its subtree not walked).
        Err(Error::NoAuth) => {
            tracing::warn!(%path, "cache: no permission to read this node; it is not cached");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let children = if scope == Scope::Tree && stat.num_children > 0 {
        match client.get_children(&path).await {
            Ok(names) => names.iter().map(|n| child_path(&path, n)).collect(),
            Err(Error::NoNode | Error::NoAuth) => Vec::new(),
            Err(e) => return Err(e),
        }
    } else {
        Vec::new()
    };
    Ok(Some((path, CachedNode { data, stat }, children)))
}

/// `parent/name`, for the root too.
pub(crate) fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Reads the node at `root` and, for [`Scope::Tree`], every node below it. A node deleted
/// during the walk is simply absent; one created during it may or may not be present (the
/// watch registered before the walk reports it either way).
pub(crate) async fn walk(
    client: &Client,
    root: &str,
    scope: Scope,
) -> Result<BTreeMap<String, CachedNode>> {
    let mut nodes = BTreeMap::new();
    let mut queued = VecDeque::new();
    let mut running = FuturesUnordered::new();
    running.push(fetch(client.clone(), root.to_owned(), scope));
    while let Some(fetched) = running.next().await {
        if let Some((path, node, children)) = fetched? {
            nodes.insert(path, node);
            queued.extend(children);
        }
        while running.len() < IN_FLIGHT {
            let Some(path) = queued.pop_front() else {
                break;
            };
            running.push(fetch(client.clone(), path, scope));
        }
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::child_path;

    #[test]
    fn child_paths_of_the_root_and_of_others() {
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
    }
}
