//! Service discovery compatible with Curator's `curator-x-discovery`: each instance is a JSON
//! [`ServiceInstance`] at `base/<service>/<id>`, so Java `ServiceDiscovery` processes and this
//! crate see each other's instances.
//!
//! - [`ServiceDiscovery`] registers (ephemeral for `DYNAMIC`, kept by a
//!   [`PersistentNode`]: re-registered after deletion and after session loss), unregisters and
//!   queries.
//! - [`ServiceCache`] keeps one service's instances up to date ([`TreeCache`]) and streams them.
//! - [`ServiceProvider`] picks an instance, round-robin or at random.
//!
//! # What is guaranteed
//!
//! - A node whose data is not a valid `ServiceInstance` (not JSON, or missing fields) is
//!   skipped with a warning (`tracing::warn!`), never a panic and never a failed query.
//! - A registered `DYNAMIC` instance is present whenever the client has a session (re-created
//!   on a new session with [`ExpiryPolicy::NewSession`](zk_client::ExpiryPolicy::NewSession)).
//!
//! # What is not
//!
//! - An instance that died a moment ago may still be listed until the server expires its
//!   session (Curator's `DownInstancePolicy` is not provided).

mod cache;
mod instance;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use zk_client::{Client, CreateOptions, Error, Result};

pub use cache::{ProviderStrategy, ServiceCache, ServiceProvider};
pub use instance::{ServiceInstance, ServiceType};

use crate::cache::TreeCache;
use crate::paths::join;
use crate::persistent_node::PersistentNode;

/// How long [`ServiceDiscovery::register`] waits for the first create.
///
/// ```
/// assert_eq!(zk_recipes::discovery::REGISTER_TIMEOUT, std::time::Duration::from_secs(30));
/// ```
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(30);

/// Registers and finds service instances under one base path.
///
/// ```no_run
/// use zk_recipes::discovery::{ServiceDiscovery, ServiceInstance};
///
/// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
/// let discovery = ServiceDiscovery::new(&client, "/services");
/// discovery.register(ServiceInstance::new("web", "i-1", "10.0.0.7", 8080)).await?;
/// for instance in discovery.query_for_instances("web").await? {
///     println!("{} {:?}:{:?}", instance.id, instance.address, instance.port);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ServiceDiscovery {
    client: Client,
    base: String,
    registered: Mutex<HashMap<(String, String), PersistentNode>>,
}

impl ServiceDiscovery {
    /// Discovery under `base` (for example `/services`).
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) {
    /// let discovery = zk_recipes::discovery::ServiceDiscovery::new(&client, "/services");
    /// # }
    /// ```
    pub fn new(client: &Client, base: &str) -> ServiceDiscovery {
        ServiceDiscovery {
            client: client.clone(),
            base: base.to_owned(),
            registered: Mutex::new(HashMap::new()),
        }
    }

    fn service_path(&self, name: &str) -> String {
        join(&self.base, name)
    }

    /// Registers `instance` at `base/<name>/<id>` and keeps it registered (re-created after
    /// deletion and session loss) until [`unregister`](Self::unregister) or until this
    /// `ServiceDiscovery` is dropped. Registering the same name and id again replaces the data.
    ///
    /// ```no_run
    /// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) -> zk_client::Result<()> {
    /// d.register(zk_recipes::discovery::ServiceInstance::new("db", "db-1", "10.0.0.9", 5432)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty name or id or one holding `/`;
    /// [`Error::Timeout`] when the node could not be created within [`REGISTER_TIMEOUT`].
    pub async fn register(&self, instance: ServiceInstance) -> Result<()> {
        for part in [&instance.name, &instance.id] {
            if part.is_empty() || part.contains('/') {
                return Err(Error::InvalidArgument(format!(
                    "service name and id must be one path component, got {part:?}"
                )));
            }
        }
        let key = (instance.name.clone(), instance.id.clone());
        let data = instance.to_json();
        let existing = self.lock().remove(&key);
        let node = match existing {
            Some(node) => {
                node.set_data(data).await?;
                node
            }
            None => {
                let mode = match instance.service_type {
                    ServiceType::Dynamic => CreateOptions::ephemeral(),
                    ServiceType::DynamicSequential => CreateOptions::ephemeral_sequential(),
                    ServiceType::Static | ServiceType::Permanent => CreateOptions::persistent(),
                };
                let path = join(&self.service_path(&instance.name), &instance.id);
                PersistentNode::start(&self.client, &path, mode, data)
            }
        };
        let created = node.wait_for_initial_create(REGISTER_TIMEOUT).await;
        self.lock().insert(key, node);
        created.map(drop).ok_or(Error::Timeout)
    }

    /// A receiver of the registered instance's node path (`None` while the node is missing,
    /// for example between a session loss and the re-registration), or `None` when this
    /// `ServiceDiscovery` did not register `name`/`id`.
    ///
    /// ```no_run
    /// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) {
    /// if let Some(mut path) = d.registration("web", "i-1") {
    ///     while path.changed().await.is_ok() {
    ///         println!("registered: {}", path.borrow().is_some());
    ///     }
    /// }
    /// # }
    /// ```
    pub fn registration(
        &self,
        name: &str,
        id: &str,
    ) -> Option<tokio::sync::watch::Receiver<Option<String>>> {
        self.lock()
            .get(&(name.to_owned(), id.to_owned()))
            .map(PersistentNode::path_updates)
    }

    /// Unregisters the instance `id` of `name` (deletes its node).
    ///
    /// ```no_run
    /// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) -> zk_client::Result<()> {
    /// d.unregister("db", "db-1").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The error of the delete.
    pub async fn unregister(&self, name: &str, id: &str) -> Result<()> {
        let node = self.lock().remove(&(name.to_owned(), id.to_owned()));
        match node {
            Some(node) => node.close().await,
            None => match self
                .client
                .delete(&join(&self.service_path(name), id), None)
                .await
            {
                Ok(()) | Err(Error::NoNode) => Ok(()),
                Err(e) => Err(e),
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), PersistentNode>> {
        self.registered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The names of every service under the base path.
    ///
    /// ```no_run
    /// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) -> zk_client::Result<()> {
    /// let names = d.query_for_names().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The connection errors (a missing base path is an empty list).
    pub async fn query_for_names(&self) -> Result<Vec<String>> {
        match self.client.get_children(&self.base).await {
            Ok(mut names) => {
                names.sort();
                Ok(names)
            }
            Err(Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Every instance of `name`, by id; nodes that are not valid instances are skipped with a
    /// warning.
    ///
    /// ```no_run
    /// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) -> zk_client::Result<()> {
    /// let web = d.query_for_instances("web").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The connection errors (a missing service is an empty list).
    pub async fn query_for_instances(&self, name: &str) -> Result<Vec<ServiceInstance>> {
        let service = self.service_path(name);
        let mut ids = match self.client.get_children(&service).await {
            Ok(ids) => ids,
            Err(Error::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        ids.sort();
        let reads = futures::future::join_all(ids.iter().map(|id| {
            let client = self.client.clone();
            let path = join(&service, id);
            async move { client.get_data(&path).await }
        }))
        .await;
        let mut out = Vec::new();
        for (id, read) in ids.iter().zip(reads) {
            match read {
                Ok((data, _)) => {
                    if let Some(instance) = parse_instance(&join(&service, id), &data) {
                        out.push(instance);
                    }
                }
                Err(Error::NoNode) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The instance `id` of `name`, if registered and valid.
    ///
    /// ```no_run
    /// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) -> zk_client::Result<()> {
    /// let one = d.query_for_instance("web", "i-1").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The connection errors.
    pub async fn query_for_instance(
        &self,
        name: &str,
        id: &str,
    ) -> Result<Option<ServiceInstance>> {
        let path = join(&self.service_path(name), id);
        match self.client.get_data(&path).await {
            Ok((data, _)) => Ok(parse_instance(&path, &data)),
            Err(Error::NoNode) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A cache of `name`'s instances.
    ///
    /// ```no_run
    /// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) -> zk_client::Result<()> {
    /// let cache = d.service_cache("web").await?;
    /// println!("{} instances", cache.instances().len());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`TreeCache::start`].
    pub async fn service_cache(&self, name: &str) -> Result<ServiceCache> {
        let path = self.service_path(name);
        let tree = TreeCache::start(&self.client, &path).await?;
        Ok(ServiceCache::new(tree, path))
    }

    /// A provider of `name`'s instances with `strategy`.
    ///
    /// ```no_run
    /// use zk_recipes::discovery::ProviderStrategy;
    /// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) -> zk_client::Result<()> {
    /// let provider = d.provider("web", ProviderStrategy::RoundRobin).await?;
    /// if let Some(instance) = provider.get_instance() {
    ///     println!("use {:?}", instance.address);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`service_cache`](Self::service_cache).
    pub async fn provider(
        &self,
        name: &str,
        strategy: ProviderStrategy,
    ) -> Result<ServiceProvider> {
        Ok(ServiceProvider::new(
            self.service_cache(name).await?,
            strategy,
        ))
    }

    /// Unregisters every instance this `ServiceDiscovery` registered.
    ///
    /// ```no_run
    /// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) -> zk_client::Result<()> {
    /// d.close().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The first delete error (every instance is attempted).
    pub async fn close(self) -> Result<()> {
        let nodes: Vec<PersistentNode> = self.lock().drain().map(|(_, n)| n).collect();
        let mut result = Ok(());
        for node in nodes {
            if let Err(e) = node.close().await {
                result = result.and(Err(e));
            }
        }
        result
    }
}

/// Parses an instance node, warning about (and skipping) one that is not valid.
pub(crate) fn parse_instance(path: &str, data: &[u8]) -> Option<ServiceInstance> {
    match ServiceInstance::from_json(data) {
        Ok(instance) => Some(instance),
        Err(e) => {
            tracing::warn!(%path, error = %e, "skipping a discovery node that is not a valid ServiceInstance");
            None
        }
    }
}
