//! Creating a node whose parents may be missing: the parents are created as CONTAINER nodes
//! (the server removes them once empty), the way Curator's `creatingParentContainersIfNeeded`
//! does.

use zk_client::{Client, CreateOptions, Error, Result, Stat};

/// Creates the ancestors of `path` that are missing, as containers.
pub(crate) async fn create_parents(client: &Client, path: &str) -> Result<()> {
    let mut at = 0;
    while let Some(next) = path[at + 1..].find('/') {
        let end = at + 1 + next;
        let ancestor = &path[..end];
        match client
            .create(ancestor, b"", &CreateOptions::container())
            .await
        {
            Ok(_) | Err(Error::NodeExists) => {}
            Err(e) => return Err(e),
        }
        at = end;
    }
    Ok(())
}

/// Creates `path`, creating missing parents first when the server says there is no parent.
/// Returns the created path (with any sequence suffix) and its stat.
///
/// A `ConnectionLoss` is returned as is: the create may have happened.
pub(crate) async fn create_with_parents(
    client: &Client,
    path: &str,
    data: &[u8],
    options: &CreateOptions,
) -> Result<(String, Stat)> {
    match client.create(path, data, options).await {
        Err(Error::NoNode) => {
            create_parents(client, path).await?;
            client.create(path, data, options).await
        }
        other => other,
    }
}
