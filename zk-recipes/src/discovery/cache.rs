//! One service's instances, kept up to date, and providers that pick one.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use futures::stream::BoxStream;

use super::ServiceInstance;
use crate::cache::{CacheEvent, TreeCache};
use crate::paths::parent_of;

/// The instances of one service, kept up to date by a [`TreeCache`] of `base/<service>`.
/// Nodes that are not valid instances are skipped with a warning.
///
/// ```no_run
/// use futures::StreamExt;
/// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) -> zk_client::Result<()> {
/// let cache = d.service_cache("web").await?;
/// let mut changes = cache.changes();
/// while let Some(instances) = changes.next().await {
///     println!("{} instances", instances.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ServiceCache {
    tree: Arc<TreeCache>,
    service: String,
    /// Invalid nodes already warned about, by path and mzxid (one warning per version).
    warned: Arc<Mutex<HashSet<(String, i64)>>>,
}

impl ServiceCache {
    pub(crate) fn new(tree: TreeCache, service: String) -> ServiceCache {
        ServiceCache {
            tree: Arc::new(tree),
            service,
            warned: Arc::default(),
        }
    }

    /// The valid instances now, by id order.
    ///
    /// ```no_run
    /// # fn demo(cache: zk_recipes::discovery::ServiceCache) {
    /// for i in cache.instances() {
    ///     println!("{} {:?}", i.id, i.port);
    /// }
    /// # }
    /// ```
    pub fn instances(&self) -> Vec<ServiceInstance> {
        instances_of(&self.tree, &self.service, &self.warned)
    }

    /// The instances after every change (the first item is the list at the time of the call).
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// # async fn demo(cache: zk_recipes::discovery::ServiceCache) {
    /// let first = cache.changes().next().await;
    /// # }
    /// ```
    pub fn changes(&self) -> BoxStream<'static, Vec<ServiceInstance>> {
        let tree = Arc::clone(&self.tree);
        let service = self.service.clone();
        let warned = Arc::clone(&self.warned);
        let first = futures::stream::iter([instances_of(&tree, &service, &warned)]);
        let later = self.tree.events().filter_map(move |event| {
            let relevant = match &event {
                CacheEvent::Created { path, .. }
                | CacheEvent::Changed { path, .. }
                | CacheEvent::Deleted { path, .. } => parent_of(path) == service,
                CacheEvent::Resynced { .. } | CacheEvent::Lagged { .. } => true,
                CacheEvent::Initialized { .. } | CacheEvent::Stopped { .. } => false,
            };
            futures::future::ready(relevant.then(|| instances_of(&tree, &service, &warned)))
        });
        first.chain(later).boxed()
    }
}

fn instances_of(
    tree: &TreeCache,
    service: &str,
    warned: &Mutex<HashSet<(String, i64)>>,
) -> Vec<ServiceInstance> {
    tree.children(service)
        .into_iter()
        .filter_map(|(id, node)| match ServiceInstance::from_json(&node.data) {
            Ok(instance) => Some(instance),
            Err(e) => {
                let path = format!("{service}/{id}");
                let first = {
                    let mut warned = warned.lock().unwrap_or_else(PoisonError::into_inner);
                    // Bounded: forget past warnings rather than grow without limit.
                    if warned.len() >= 10_000 {
                        warned.clear();
                    }
                    warned.insert((path.clone(), node.stat.mzxid))
                };
                if first {
                    tracing::warn!(%path, error = %e, "skipping a discovery node that is not a valid ServiceInstance");
                }
                None
            }
        })
        .collect()
}

/// How a [`ServiceProvider`] picks an instance.
///
/// ```no_run
/// use zk_recipes::discovery::ProviderStrategy;
/// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) -> zk_client::Result<()> {
/// let provider = d.provider("web", ProviderStrategy::RoundRobin).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderStrategy {
    /// Each call takes the next instance in id order.
    RoundRobin,
    /// Each call takes an instance at random.
    Random,
}

/// Picks an instance of a service (only `enabled` ones) from a [`ServiceCache`].
///
/// ```no_run
/// use zk_recipes::discovery::ProviderStrategy;
/// # async fn demo(d: zk_recipes::discovery::ServiceDiscovery) -> zk_client::Result<()> {
/// let provider = d.provider("web", ProviderStrategy::Random).await?;
/// let chosen = provider.get_instance();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ServiceProvider {
    cache: ServiceCache,
    strategy: ProviderStrategy,
    next: AtomicUsize,
}

impl ServiceProvider {
    pub(crate) fn new(cache: ServiceCache, strategy: ProviderStrategy) -> ServiceProvider {
        ServiceProvider {
            cache,
            strategy,
            next: AtomicUsize::new(0),
        }
    }

    /// An instance chosen by the strategy, or `None` when there is no enabled instance.
    ///
    /// ```no_run
    /// # fn demo(p: zk_recipes::discovery::ServiceProvider) {
    /// match p.get_instance() {
    ///     Some(i) => println!("{:?}:{:?}", i.address, i.port),
    ///     None => println!("nobody home"),
    /// }
    /// # }
    /// ```
    pub fn get_instance(&self) -> Option<ServiceInstance> {
        let mut all = self.get_all_instances();
        if all.is_empty() {
            return None;
        }
        let index = match self.strategy {
            ProviderStrategy::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % all.len(),
            ProviderStrategy::Random => rand::random_range(0..all.len()),
        };
        Some(all.swap_remove(index))
    }

    /// Every enabled instance, in id order.
    ///
    /// ```no_run
    /// # fn demo(p: zk_recipes::discovery::ServiceProvider) {
    /// println!("{}", p.get_all_instances().len());
    /// # }
    /// ```
    pub fn get_all_instances(&self) -> Vec<ServiceInstance> {
        self.cache
            .instances()
            .into_iter()
            .filter(|i| i.enabled)
            .collect()
    }

    /// The cache behind the provider.
    ///
    /// ```no_run
    /// # fn demo(p: zk_recipes::discovery::ServiceProvider) {
    /// let cache = p.cache();
    /// # }
    /// ```
    pub fn cache(&self) -> &ServiceCache {
        &self.cache
    }
}
