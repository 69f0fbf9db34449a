//! Coordination recipes built on the public API of `zk-client`: leader election and locks
//! that do not lie about ownership, sharing paths with Curator (Java) and kazoo (Python).
//!
//! # The ownership contract
//!
//! Every recipe that hands out exclusive or counted ownership returns an
//! [`OwnershipGuard`]:
//! - **held means proven**: handed out only once our node exists, its `ephemeralOwner` is our
//!   session, and it comes first;
//! - a **fencing token** ([`OwnershipGuard::token`], the node's czxid) that strictly increases
//!   across successive holders, whatever library they use;
//! - a **loss signal** ([`OwnershipGuard::lost`]) that fires at the first disconnect (under
//!   [`ErrorPolicy::Standard`]), expiry, close, deletion of our node, or lease deadline;
//! - a **lease deadline** ([`OwnershipGuard::valid_until`]): the send time of the last answered
//!   request plus the session timeout (minus a margin); [`OwnershipGuard::is_held`] is false
//!   past it, so a process paused longer than its session learns it on resume;
//! - **protected creates** (never a blind retry after ConnectionLoss), deadlines and
//!   cancellation on every wait, herd-free waiting (a waiter watches the contender before it and
//!   the one before that: a deletion wakes at most two waiters, and the next in line takes over
//!   on its predecessor's deletion without another read), CONTAINER parents and strict child
//!   filtering ([`RecipeError::ForeignChildren`]).
//!
//! # Recipes
//!
//! | recipe | Curator flavour (default) | kazoo flavour |
//! |---|---|---|
//! | [`Mutex`] | `InterProcessMutex`: `P/_c_<uuid>-lock-<seq>` | `Lock`: `P/<hex>__lock__<seq>` |
//! | [`ReadWriteLock`] | `InterProcessReadWriteLock`: `-__READ__` / `-__WRIT__` | `ReadLock` / `WriteLock`: `__rlock__` / `__lock__` |
//! | [`Semaphore`] | `InterProcessSemaphoreV2`: `P/locks/`, `P/leases/_c_<uuid>-lease-<seq>` | `Semaphore`: `P-__lock__`, `P/<hex>`, max leases stored in `P` |
//! | [`MultiLock`] | `InterProcessMultiLock` over [`Mutex`]es | (over kazoo-flavour [`Mutex`]es) |
//! | [`LeaderLatch`] | `LeaderLatch`: `P/_c_<uuid>-latch-<seq>` | `Election`: `P/<hex>__lock__<seq>` |
//! | [`LeaderSelector`] | `LeaderSelector` (a mutex): `-lock-` | `Election.run`: `__lock__` |
//! | [`Barrier`], [`DoubleBarrier`] | `DistributedBarrier`; `DistributedDoubleBarrier`: `P/<uuid>`, `P/ready` | – |
//!
//! Every wait takes a deadline or a cancellation token; dropping an `acquire()` future removes
//! the node it created. The `lock` and `leader` examples drive the recipes from a shell and
//! print one line per event (`--help` documents the format).
//!
//! # Leader election in 10 lines
//!
//! ```no_run
//! use zk_recipes::{LeaderLatch, LeaderLatchOptions};
//!
//! async fn run() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = zk_client::Client::connect("zk1:2181,zk2:2181,zk3:2181").await?;
//!     let latch = LeaderLatch::start(client, "/myapp/leader", LeaderLatchOptions::default().id("node-a"))?;
//!     loop {
//!         let leadership = latch.await_leadership(None).await?; // proven: our node, our session, first
//!         while leadership.is_held() {                            // false at once after a pause past the session
//!             do_leader_work(leadership.token()).await;           // pass the fencing token downstream
//!         }
//!     }
//! }
//! async fn do_leader_work(_token: i64) { /* yours */ }
//! ```
//!
//! # Flavours
//!
//! [`Flavor::Curator`] uses Curator 5's node names and excludes Curator processes on the same
//! path; [`Flavor::Kazoo`] uses kazoo's. Curator and kazoo never exclude each other, so do not
//! mix those two on one path.
//!
//! ```no_run
//! use zk_recipes::{Mutex, MutexOptions};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = zk_client::Client::connect("127.0.0.1:2181").await?;
//! let mutex = Mutex::new(client.clone(), "/app/locks/orders", MutexOptions::default())?;
//! let guard = mutex.acquire().await?;
//! while guard.is_held() {
//!     // work, passing guard.token() to every fenced system
//!     # break;
//! }
//! guard.release().await?;
//! # Ok(()) }
//! ```

mod barrier;
pub mod cache;
mod contend;
pub mod counter;
pub mod discovery;
mod ensure;
mod error;
mod flavor;
pub mod group;
mod leader_latch;
mod leader_selector;
mod monitor;
mod multi_lock;
mod mutex;
pub mod names;
mod node;
mod ownership;
pub mod partition;
pub mod paths;
pub mod persistent_node;
pub mod queue;
mod rwlock;
mod semaphore;

pub use barrier::{Barrier, DoubleBarrier};
pub use error::{RecipeError, Result};
pub use flavor::{ErrorPolicy, Flavor};
pub use leader_latch::{CloseMode, LeaderLatch, LeaderLatchOptions, LeadershipEvent};
pub use leader_selector::{LeaderSelector, LeaderSelectorOptions, Leadership, LeadershipEnd};
pub use multi_lock::{MultiGuard, MultiLock};
pub use mutex::{Contender, Mutex, MutexGuard, MutexOptions};
pub use ownership::{LossReason, OwnershipGuard, OwnershipWatch};
pub use rwlock::ReadWriteLock;
pub use semaphore::Semaphore;
