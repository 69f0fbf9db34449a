//! Creating a node whose parents may be missing, with the shared [`crate::paths`] helper
//! creating the parents as CONTAINER nodes (Curator's `creatingParentContainersIfNeeded`).

use zk_client::{Client, CreateOptions, Error, Result, Stat};

use crate::RecipeError;
use crate::paths::{ensure_containers, parent_of};

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
            let parent = parent_of(path);
            if parent != "/" {
                ensure_containers(client, parent)
                    .await
                    .map_err(client_error)?;
            }
            client.create(path, data, options).await
        }
        other => other,
    }
}

/// The client error inside a recipe error (other recipe errors cannot come from
/// `ensure_containers` on a valid path; they are reported as invalid arguments).
fn client_error(e: RecipeError) -> Error {
    match e {
        RecipeError::Client(e) => e,
        RecipeError::Closed => Error::Closed,
        RecipeError::SessionExpired => Error::SessionExpired,
        other => Error::InvalidArgument(other.to_string()),
    }
}
