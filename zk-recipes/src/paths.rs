//! Recipe paths: validation, joining, and creating parent CONTAINER nodes when needed.
//!
//! ```no_run
//! # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
//! zk_recipes::paths::ensure_containers(&client, "/app/locks/orders").await?;
//! assert!(client.exists("/app/locks/orders").await?.is_some());
//! # Ok(()) }
//! ```

use zk_client::{Client, CreateOptions, Error};

use crate::error::{RecipeError, Result};

/// Checks that `path` is a valid ZooKeeper path usable as a recipe path (not `/`).
///
/// # Errors
/// [`RecipeError::InvalidPath`].
///
/// ```
/// use zk_recipes::paths::validate;
/// assert!(validate("/app/locks/orders").is_ok());
/// assert!(validate("/").is_err()); // the root is not a recipe path
/// assert!(validate("app").is_err());
/// ```
pub fn validate(path: &str) -> Result<()> {
    zk_client::zk_proto::path::validate_path(path).map_err(|e| RecipeError::InvalidPath {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if path == "/" {
        return Err(RecipeError::InvalidPath {
            path: path.to_owned(),
            reason: "the root cannot be a recipe path".into(),
        });
    }
    Ok(())
}

/// `parent/child`.
///
/// ```
/// use zk_recipes::paths::join;
/// assert_eq!(join("/app", "lock"), "/app/lock");
/// assert_eq!(join("/", "app"), "/app");
/// ```
pub fn join(parent: &str, child: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// The last component of `path`.
///
/// ```
/// assert_eq!(zk_recipes::paths::name_of("/app/locks/orders"), "orders");
/// ```
pub fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The parent of `path` (`/` for a top-level node).
///
/// ```
/// use zk_recipes::paths::parent_of;
/// assert_eq!(parent_of("/app/locks/orders"), "/app/locks");
/// assert_eq!(parent_of("/app"), "/");
/// ```
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Creates `path` and any missing ancestors as CONTAINER nodes (the server removes them once
/// they have had children and become empty). Existing nodes are left alone. Safe to repeat
/// after a ConnectionLoss: `NodeExists` counts as success.
///
/// # Errors
/// [`RecipeError::InvalidPath`], and client errors other than `NodeExists`.
///
/// ```no_run
/// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
/// zk_recipes::paths::ensure_containers(&client, "/app/locks/orders").await?;
/// zk_recipes::paths::ensure_containers(&client, "/app/locks/orders").await?; // no-op
/// # Ok(()) }
/// ```
pub async fn ensure_containers(client: &Client, path: &str) -> Result<()> {
    validate(path)?;
    if client.exists(path).await?.is_some() {
        return Ok(());
    }
    // Walk down from the root: at most one create per missing level.
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at.push('/');
        at.push_str(part);
        match client.create(&at, b"", &CreateOptions::container()).await {
            Ok(_) | Err(Error::NodeExists) => {}
            Err(e) if e.is_connection_loss() => {
                // Maybe created: the next level (or the final exists) tells.
                if client.exists(&at).await?.is_none() {
                    return Err(e.into());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_splits() {
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(join("/", "b"), "/b");
        assert_eq!(name_of("/a/b"), "b");
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
    }

    #[test]
    fn validates() {
        assert!(validate("/a/b").is_ok());
        assert!(matches!(
            validate("a"),
            Err(RecipeError::InvalidPath { .. })
        ));
        assert!(matches!(
            validate("/"),
            Err(RecipeError::InvalidPath { .. })
        ));
        assert!(matches!(
            validate("/a/"),
            Err(RecipeError::InvalidPath { .. })
        ));
    }
}
